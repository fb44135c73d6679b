/*  lhttp.c - sync requests over HTTP with libcurl's multi interface, so a
    wait can be sliced and cancelled like the ZeroMQ one.
*/
#include "lhttp.h"
#include "bounds.h"
#include "clock.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct lhttp {
    char *base;                   // "http://host:port", no trailing slash
    char *auth;                   // "Authorization: Bearer ...", or NULL
    char *ca_file;
    CURLM *multi;
    CURL *easy;                   // reused: keeps the connection alive
    struct curl_slist *headers;
    bool in_flight;
    uint8_t *body;                // reply being received
    size_t len, cap;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s_curl_init_rc = CURLE_FAILED_INIT;

//  curl_global_init is not thread-safe; peers start on several threads.
static void
s_curl_init(void)
{
    s_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool
lhttp_address(const char *address)
{
    return strncmp(address, "http://", 7) == 0 || strncmp(address, "https://", 8) == 0;
}

static size_t
s_on_data(char *data, size_t size, size_t nmemb, void *user)
{
    lhttp_t *self = user;
    size_t n = size * nmemb;
    if (self->len + n > PDB_MSG_MAX) {
        self->too_big = true;
        return 0;                       // aborts the transfer
    }
    if (self->len + n > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->len + n)
            cap *= 2;
        uint8_t *grown = realloc(self->body, cap);
        if (!grown)
            return 0;
        self->body = grown;
        self->cap = cap;
    }
    memcpy(self->body + self->len, data, n);
    self->len += n;
    return n;
}

static int
s_headers(lhttp_t *self, const lhttp_opts_t *opts)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/msgpack");
    h = h ? curl_slist_append(h, "Accept: application/msgpack") : NULL;
    //  No "Expect: 100-continue" round trip before each push body.
    h = h ? curl_slist_append(h, "Expect:") : NULL;
    if (h && opts && opts->token && *opts->token) {
        size_t len = strlen(opts->token) + 32;
        self->auth = malloc(len);
        if (self->auth)
            snprintf(self->auth, len, "Authorization: Bearer %s", opts->token);
        h = self->auth ? curl_slist_append(h, self->auth) : NULL;
    }
    if (!h)
        return -ENOMEM;
    self->headers = h;
    return 0;
}

lhttp_t *
lhttp_new(const char *address, const lhttp_opts_t *opts)
{
    pthread_once(&s_curl_once, s_curl_init);
    if (s_curl_init_rc != CURLE_OK || !lhttp_address(address))
        return NULL;
    lhttp_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t len = strlen(address);
    while (len > 0 && address[len - 1] == '/')
        len--;
    self->base = strndup(address, len);
    self->ca_file = opts && opts->ca_file && *opts->ca_file ? strdup(opts->ca_file) : NULL;
    self->multi = curl_multi_init();
    self->easy = curl_easy_init();
    if (!self->base || !self->multi || !self->easy || s_headers(self, opts) != 0
        || (opts && opts->ca_file && *opts->ca_file && !self->ca_file)) {
        log_e("syncer", "cannot set up an HTTP link address=%s", address);
        lhttp_destroy(&self);
    }
    return self;
}

void
lhttp_destroy(lhttp_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lhttp_t *self = *self_p;
    lhttp_abandon(self);
    if (self->easy)
        curl_easy_cleanup(self->easy);
    if (self->multi)
        curl_multi_cleanup(self->multi);
    curl_slist_free_all(self->headers);
    if (self->auth) {
        memset(self->auth, 0, strlen(self->auth));   // a secret: no copies left behind
        free(self->auth);
    }
    free(self->ca_file);
    free(self->base);
    free(self->body);
    free(self);
    *self_p = NULL;
}

void
lhttp_abandon(lhttp_t *self)
{
    if (self->in_flight)
        curl_multi_remove_handle(self->multi, self->easy);
    self->in_flight = false;
}

static void
s_setup(lhttp_t *self, const char *url, const void *body, size_t len)
{
    CURL *e = self->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, self->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) LHTTP_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    //  Only the peer's own address: a redirect could carry the token elsewhere.
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (self->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, self->ca_file);
}

int
lhttp_send(lhttp_t *self, const char *op, const void *body, size_t len,
           char why[PDB_ERRMSG_MAX])
{
    lhttp_abandon(self);
    char url[1024];
    int n = snprintf(url, sizeof url, "%s/v1/sync/%s", self->base, op);
    if (n < 0 || (size_t) n >= sizeof url) {
        snprintf(why, PDB_ERRMSG_MAX, "peer address too long");
        return PDB_EUNAVAIL;
    }
    self->len = 0;
    self->too_big = false;
    self->errbuf[0] = '\0';
    s_setup(self, url, body, len);
    if (curl_multi_add_handle(self->multi, self->easy) != CURLM_OK) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %.200s: cannot start the request", self->base);
        return -ENOMEM;
    }
    self->in_flight = true;
    return 0;
}

//  Drives the transfer until it ends, the deadline passes or a cancel.
//  Returns 1 done (*result set), 0 timed out, -ECANCELED.
static int
s_drive(lhttp_t *self, int64_t deadline, lhttp_cancelled_fn cancelled, void *arg,
        CURLcode *result)
{
    while (true) {
        int running = 0;
        curl_multi_perform(self->multi, &running);
        int queued = 0;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(self->multi, &queued)))
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == self->easy) {
                *result = msg->data.result;
                return 1;
            }
        if (cancelled && cancelled(arg))
            return -ECANCELED;
        int64_t left = deadline - (int64_t) clock_mono_ms();
        if (left <= 0)
            return 0;
        curl_multi_poll(self->multi, NULL, 0, left < LHTTP_SLICE_MS ? (int) left
                                                                    : LHTTP_SLICE_MS, NULL);
    }
}

int
lhttp_receive(lhttp_t *self, int timeout_ms, lhttp_cancelled_fn cancelled, void *arg,
              uint8_t **reply, size_t *reply_len, unsigned *status, char why[PDB_ERRMSG_MAX])
{
    *reply = NULL;
    *reply_len = 0;
    *status = 0;
    if (!self->in_flight) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %.200s: no request in flight", self->base);
        return PDB_EUNAVAIL;
    }
    CURLcode result = CURLE_OK;
    int rc = s_drive(self, (int64_t) clock_mono_ms() + timeout_ms, cancelled, arg, &result);
    lhttp_abandon(self);
    if (rc <= 0) {
        if (rc == 0)
            snprintf(why, PDB_ERRMSG_MAX, "peer %.180s did not answer within %d ms", self->base,
                     timeout_ms);
        return rc == 0 ? PDB_EUNAVAIL : rc;
    }
    if (self->too_big) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %.180s sent a reply over %u bytes", self->base,
                 (unsigned) PDB_MSG_MAX);
        return PDB_ETOOBIG;
    }
    long code = 0;
    curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &code);
    if (result != CURLE_OK || self->len == 0) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %.100s: %.140s", self->base, result != CURLE_OK
                 ? (self->errbuf[0] ? self->errbuf : curl_easy_strerror(result))
                 : "answered with an empty body");
        return PDB_EUNAVAIL;
    }
    *status = (unsigned) code;
    *reply = self->body;
    *reply_len = self->len;
    self->body = NULL;              // now the caller's
    self->len = self->cap = 0;
    return 0;
}
