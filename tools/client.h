/*  client.h - HTTP JSON calls to a gateway (libcurl): one call at a time
    with client_call, or request objects (client_req_*) that the caller runs
    concurrently on a curl multi handle (import).

    Call curl_global_init once in main before client_new.
*/
#ifndef PDB_CLIENT_H
#define PDB_CLIENT_H

#include "err.h"

#include <curl/curl.h>
#include <stddef.h>

#define CLIENT_URL_MAX 512
#define CLIENT_TIMEOUT_MS 30000          // whole request: a group commit is milliseconds
#define CLIENT_CONNECT_TIMEOUT_MS 5000
#define CLIENT_TOKEN_MAX 256             // an API token (the gateway's limit)
#define CLIENT_REPLY_MAX (64u << 20)     // 64 MiB: search with k=1000 and large embeddings

typedef struct client client_t;
typedef struct client_req client_req_t;

typedef struct {
    long status;          // HTTP status
    char *body;           // NUL-terminated reply bytes (never NULL after success)
    size_t len;
} client_reply_t;

//  base_url like "http://127.0.0.1:7070" (trailing slashes dropped); token
//  (NULL or "" for none) is sent as "Authorization: Bearer TOKEN" with every
//  request. NULL on failure (a bad URL, or a token that is longer than
//  CLIENT_TOKEN_MAX or holds white space or control characters). Caller
//  frees with client_destroy.
client_t *client_new(const char *base_url, const char *token);
void client_destroy(client_t **self_p);
const char *client_url(const client_t *self);

//  Sends method path (e.g. "/v1/status") with an optional JSON body and
//  waits for the reply. Returns 0 when any HTTP reply arrived (look at
//  reply->status), PDB_EUNAVAIL when the gateway cannot be reached or does
//  not answer in time, PDB_ETOOBIG for a reply over CLIENT_REPLY_MAX, or
//  -ENOMEM; `why` says what happened and, when nothing listens, how to
//  start the node. Caller frees the reply with client_reply_release.
int client_call(client_t *self, const char *method, const char *path, const char *body,
                size_t body_len, client_reply_t *reply, char why[PDB_ERRMSG_MAX]);
void client_reply_release(client_reply_t *reply);

//  A request ready to run; the body is copied. `tag` is the caller's (a
//  line number). NULL on failure. Caller frees with client_req_destroy.
client_req_t *client_req_new(client_t *self, const char *method, const char *path,
                             const char *body, size_t body_len, unsigned long long tag);
void client_req_destroy(client_req_t **self_p);
CURL *client_req_easy(client_req_t *self);
unsigned long long client_req_tag(const client_req_t *self);
//  After the transfer ended with code: the same results as client_call;
//  the reply's body moves to the caller.
int client_req_result(client_req_t *self, CURLcode code, client_reply_t *reply,
                      char why[PDB_ERRMSG_MAX]);

//  The URL clients use for a gateway listening on host:port: a wildcard
//  host becomes loopback, IPv6 literals get brackets.
void client_default_url(const char *host, unsigned port, char *out, size_t out_len);

#endif
