#include "client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct client {
    char url[CLIENT_URL_MAX];
    char auth[CLIENT_TOKEN_MAX + 32];   // "Authorization: Bearer ...", "" for none
};

struct client_req {
    client_t *client;             // borrowed
    CURL *easy;
    struct curl_slist *headers;
    char *body;                   // reply being received
    size_t len, cap;
    bool too_big;
    unsigned long long tag;
    char errbuf[CURL_ERROR_SIZE];
};

//  A token goes into a header line: printable, no white space, bounded.
static bool
s_token_valid(const char *token)
{
    size_t len = strlen(token);
    if (len > CLIENT_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (token[i] <= ' ' || token[i] > '~')
            return false;
    return true;
}

client_t *
client_new(const char *base_url, const char *token)
{
    size_t len = strlen(base_url);
    while (len > 0 && base_url[len - 1] == '/')
        len--;
    if (len == 0 || len >= CLIENT_URL_MAX || (token && !s_token_valid(token)))
        return NULL;
    client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    memcpy(self->url, base_url, len);
    if (token && *token)
        snprintf(self->auth, sizeof self->auth, "Authorization: Bearer %s", token);
    return self;
}

void
client_destroy(client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    memset((*self_p)->auth, 0, sizeof (*self_p)->auth);
    free(*self_p);
    *self_p = NULL;
}

const char *
client_url(const client_t *self)
{
    return self->url;
}

static size_t
s_on_data(char *data, size_t size, size_t nmemb, void *user)
{
    client_req_t *self = user;
    size_t n = size * nmemb;
    if (self->len + n + 1 > CLIENT_REPLY_MAX) {
        self->too_big = true;
        return 0;                       // aborts the transfer
    }
    if (self->len + n + 1 > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->len + n + 1)
            cap *= 2;
        char *grown = realloc(self->body, cap);
        if (!grown)
            return 0;
        self->body = grown;
        self->cap = cap;
    }
    memcpy(self->body + self->len, data, n);
    self->len += n;
    self->body[self->len] = '\0';
    return n;
}

client_req_t *
client_req_new(client_t *client, const char *method, const char *path, const char *body,
               size_t body_len, unsigned long long tag)
{
    client_req_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->client = client;
    self->tag = tag;
    self->easy = curl_easy_init();
    char url[CLIENT_URL_MAX * 2];
    int n = snprintf(url, sizeof url, "%s%s", client->url, path);
    self->headers = curl_slist_append(NULL, "Accept: application/json");
    if (body)
        self->headers = curl_slist_append(self->headers, "Content-Type: application/json");
    if (client->auth[0] && self->headers)
        self->headers = curl_slist_append(self->headers, client->auth);
    if (!self->easy || !self->headers || n < 0 || (size_t) n >= sizeof url) {
        client_req_destroy(&self);
        return NULL;
    }
    CURL *e = self->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, self->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) CLIENT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) CLIENT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);      // threads-safe timeouts
    curl_easy_setopt(e, CURLOPT_PRIVATE, self);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
    }
    return self;
}

void
client_req_destroy(client_req_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_req_t *self = *self_p;
    if (self->easy)
        curl_easy_cleanup(self->easy);
    curl_slist_free_all(self->headers);
    free(self->body);
    free(self);
    *self_p = NULL;
}

CURL *
client_req_easy(client_req_t *self)
{
    return self->easy;
}

unsigned long long
client_req_tag(const client_req_t *self)
{
    return self->tag;
}

static int
s_transport_error(client_req_t *self, CURLcode code, char *why)
{
    const char *url = self->client->url;
    switch (code) {
    case CURLE_COULDNT_CONNECT:
        snprintf(why, PDB_ERRMSG_MAX, "cannot connect to %.120s: the node is not running "
                 "(start it with: pulsedb up --data DIR)", url);
        return PDB_EUNAVAIL;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(why, PDB_ERRMSG_MAX, "cannot resolve the host of %.160s", url);
        return PDB_EUNAVAIL;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(why, PDB_ERRMSG_MAX, "no reply from %.160s within %d s", url,
                 CLIENT_TIMEOUT_MS / 1000);
        return PDB_EUNAVAIL;
    case CURLE_WRITE_ERROR:
        snprintf(why, PDB_ERRMSG_MAX, self->too_big ? "reply larger than %u MiB"
                 : "out of memory reading a reply (%u MiB cap)", CLIENT_REPLY_MAX >> 20);
        return self->too_big ? PDB_ETOOBIG : -ENOMEM;
    default:
        snprintf(why, PDB_ERRMSG_MAX, "request to %.120s failed: %.100s", url,
                 self->errbuf[0] ? self->errbuf : curl_easy_strerror(code));
        return PDB_EUNAVAIL;
    }
}

int
client_req_result(client_req_t *self, CURLcode code, client_reply_t *reply,
                  char why[PDB_ERRMSG_MAX])
{
    memset(reply, 0, sizeof *reply);
    if (code != CURLE_OK)
        return s_transport_error(self, code, why);
    if (!self->body) {
        self->body = strdup("");
        if (!self->body)
            return -ENOMEM;
    }
    curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &reply->status);
    reply->body = self->body;           // ownership passes to the caller
    reply->len = self->len;
    self->body = NULL;
    self->len = self->cap = 0;
    return 0;
}

int
client_call(client_t *self, const char *method, const char *path, const char *body,
            size_t body_len, client_reply_t *reply, char why[PDB_ERRMSG_MAX])
{
    memset(reply, 0, sizeof *reply);
    client_req_t *req = client_req_new(self, method, path, body, body_len, 0);
    if (!req) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot set up a request to %.120s%.80s", self->url,
                 path);
        return -ENOMEM;
    }
    CURLcode code = curl_easy_perform(req->easy);
    int rc = client_req_result(req, code, reply, why);
    client_req_destroy(&req);
    return rc;
}

void
client_reply_release(client_reply_t *reply)
{
    free(reply->body);
    memset(reply, 0, sizeof *reply);
}

void
client_default_url(const char *host, unsigned port, char *out, size_t out_len)
{
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0 || host[0] == '\0')
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out, out_len, "http://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
}
