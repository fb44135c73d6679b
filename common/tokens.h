/*  tokens.h - the node's token file (gateway/api_tokens): bearer tokens of
    HTTP API clients and their roles, and the shared tokens of HTTP sync
    peers.

    The file holds one token a line:

        ROLE TOKEN [LABEL]

    ROLE is read, write or admin (each includes the ones before it), or
    peer:NAME: the token this node and sync peer NAME share, sent by the
    syncer to that peer and accepted from it on /v1/sync/OP (it opens
    nothing else). TOKEN is TOKENS_LEN_MIN..TOKENS_LEN_MAX characters of
    A-Z a-z 0-9 - . _ ~ + / = (an RFC 6750 bearer token); LABEL (optional,
    at most TOKENS_LABEL_MAX bytes, no white space) names the holder in logs
    instead of the token. Blank lines and lines starting with '#' are
    skipped. The file must be readable by its owner only (secret.h).
    `pulsedb token new` writes one.
*/
#ifndef PDB_TOKENS_H
#define PDB_TOKENS_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>

#define TOKENS_LEN_MIN 16      // shorter is guessable
#define TOKENS_LEN_MAX 256     // longer is a mistake (a key pasted whole?)
#define TOKENS_LABEL_MAX 64
#define TOKENS_MAX 1024        // tokens in one file

typedef enum {
    TOKEN_ROLE_NONE = 0,       // no valid token
    TOKEN_ROLE_READ,           // GET, search, watch, status, metrics
    TOKEN_ROLE_WRITE,          // + create, patch, reinforce, delete entities
    TOKEN_ROLE_ADMIN,          // + delete collectives, manage peers
    TOKEN_ROLE_PEER,           // a sync peer: /v1/sync/{hello,push,pull,snapshot} only
} token_role_t;

#define TOKENS_PEER_PREFIX "peer:"
#define TOKENS_PEER_NAME_MAX 128

typedef struct tokens tokens_t;

//  Parses a token file's text. On 0, *out (caller frees with
//  tokens_destroy) holds every token. Returns PDB_EINVAL with `why` naming
//  the line and the problem (never quoting a token), or -ENOMEM.
int tokens_parse(const char *text, tokens_t **out, char why[PDB_ERRMSG_MAX]);

//  Reads and parses the owner-only file at path, as tokens_parse.
int tokens_load(const char *path, tokens_t **out, char why[PDB_ERRMSG_MAX]);

void tokens_destroy(tokens_t **self_p);

size_t tokens_count(const tokens_t *self);

//  True when the file holds a token for API clients (read, write or admin):
//  only then does the HTTP API require one. Sync routes need a peer token
//  whenever there is a token file at all.
bool tokens_for_api(const tokens_t *self);

//  The role of the bearer token `token` (len bytes), TOKEN_ROLE_NONE when it
//  is unknown. Compares against every token in constant time, so neither
//  the answer's timing nor which token matched leaks. *label (may be NULL)
//  gets the matching line's label ("" when none), borrowed from self; for a
//  peer token, the peer's name.
token_role_t tokens_role(const tokens_t *self, const char *token, size_t len,
                         const char **label);

//  The token shared with sync peer `name`, NUL-terminated and borrowed
//  from self, or NULL when the file has none.
const char *tokens_peer(const tokens_t *self, const char *name);

//  "read", "write", "admin", "peer" (or "none").
const char *tokens_role_name(token_role_t role);

#endif
