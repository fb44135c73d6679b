/*  body.h - JSON pieces the pulsedb command builds from its arguments and
    reads from the gateway's replies: embeddings, domain lists, tags, the
    collective a name stands for, the error a reply carries.
    Pure functions over jansson values, so tests need no server.
*/
#ifndef PDB_BODY_H
#define PDB_BODY_H

#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  Parses '[0.1, -2, 3e-1]': a JSON array of 1..PDB_DIM_MAX finite numbers.
//  Returns 0 with *out (caller frees with json_decref) or PDB_EINVAL.
int body_embedding(const char *text, json_t **out, char why[PDB_ERRMSG_MAX]);

//  Parses "a,b, c" into ["a","b","c"]: 1..PDB_DOMAIN_MAX non-empty items.
//  Returns 0 with *out (caller frees with json_decref) or PDB_EINVAL.
int body_domain(const char *text, json_t **out, char why[PDB_ERRMSG_MAX]);

//  Adds "key=value" (key non-empty; value may be empty or contain '=') to
//  the tags object, at most PDB_MAP_MAX keys. Returns 0 or PDB_EINVAL.
int body_tag_add(json_t *tags, const char *pair, char why[PDB_ERRMSG_MAX]);

//  A sync peer name: 1..BODY_PEER_NAME_MAX bytes of A-Z a-z 0-9 . _ -
//  (the gateway's rule; such a name is safe in a URL path as it is).
#define BODY_PEER_NAME_MAX 128
#define BODY_PEER_COLLECTIVES_MAX 256
bool body_peer_name_valid(const char *name);

//  The POST /v1/sync/peers body {name, address, direction, collectives?}
//  from `pulsedb peer add` arguments: direction NULL means both,
//  collectives (n of them) are UUIDs. The address is checked as the
//  syncer will read it (tcp://HOST:PORT). Returns 0 with *out (caller
//  frees with json_decref), PDB_EINVAL with `why` naming the argument, or
//  -ENOMEM.
int body_peer(const char *name, const char *address, const char *direction,
              const char *const *collectives, size_t n, json_t **out,
              char why[PDB_ERRMSG_MAX]);

//  True when text is a canonical UUID string (an id rather than a name).
int body_is_uuid(const char *text);

//  In a GET /v1/collectives reply, the id of the collective called name.
//  When sync left two with one name, the smaller id wins, as everywhere
//  else (DESIGN.md section 1). Returns the id (borrowed from reply) or NULL.
const char *body_collective_id(const json_t *reply, const char *name);

//  "code: message" from an error reply {"error":{"code","message"}}, or
//  "http_<status>: <first line of the body>" when the reply is not one.
void body_error_text(long status, const char *reply, size_t len, char *out, size_t out_len);

#endif
