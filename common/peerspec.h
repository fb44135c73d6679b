/*  peerspec.h - the sync peer grammar: the peer specs of sync/peers, and
    the fields of a peer added at run time (`pulsedb peer add`, the HTTP
    API) as the peers database keeps them. Both become a peerspec_t.

    sync/peers is a list of peer specs separated by white space:

        NAME=ADDRESS[,push|pull|both][,collectives=UUID[;UUID...]][,key=KEY]

    NAME is 1..PEERSPEC_LIST_NAME_MAX characters of A-Z a-z 0-9 . _ - and
    names the peer's row in the peers database. ADDRESS is tcp://HOST:PORT
    (the peer's syncer, ZeroMQ) or http(s)://HOST:PORT (its gateway): no
    wildcard host or port, no path. The direction defaults to both;
    collectives limits the sync to those collectives (at most
    PEERSPEC_COLLECTIVES_MAX); key is the peer's CURVE public key (40
    characters of Z85, from its `pulsedb keygen`), required when this node
    has a key pair. At most PEERSPEC_LIST_MAX peers, no name twice. Example:

        sync
            peers = "beta=tcp://10.0.0.2:7700 edge-3=tcp://edge3:7700,pull,collectives=0190..."
*/
#ifndef PDB_PEERSPEC_H
#define PDB_PEERSPEC_H

#include "endpoint.h"
#include "err.h"
#include "id.h"
#include "nodekey.h"

#include <stdbool.h>
#include <stddef.h>

#define PEERSPEC_TEXT_MAX 16384          // a sync/peers list: 64 peers with long filters
#define PEERSPEC_LIST_MAX 64             // peers in one list
#define PEERSPEC_NAME_MAX 128            // bytes of a peer name (the peers db key)
#define PEERSPEC_LIST_NAME_MAX 64        // characters of a name written in a list
#define PEERSPEC_COLLECTIVES_MAX 256     // collectives in one peer's filter
#define PEERSPEC_KEY_LEN NODEKEY_TEXT_LEN  // Z85 text of a CURVE public key

typedef enum { PEERSPEC_BOTH = 0, PEERSPEC_PUSH, PEERSPEC_PULL } peerspec_dir_t;

//  One sync peer: from sync/peers, or from a peers database row.
typedef struct {
    char name[PEERSPEC_NAME_MAX + 1];
    char address[ENDPOINT_MAX];               // tcp:// or http(s)://HOST:PORT
    peerspec_dir_t direction;
    size_t collectives_n;                     // 0: every collective
    pdb_id_t collectives[PEERSPEC_COLLECTIVES_MAX];
    char public_key[PEERSPEC_KEY_LEN + 1];    // Z85 CURVE public key, "" for none
} peerspec_t;

//  Parses a sync/peers list (see above). On 0, *peers (caller frees with
//  free(); NULL when the list is empty) holds *n peers in list order.
//  Returns 0, PDB_EINVAL with `why` quoting the bad spec, or -ENOMEM.
int peerspec_list_parse(const char *text, peerspec_t **peers, size_t *n,
                        char why[PDB_ERRMSG_MAX]);

//  Fills out from the fields of a peers database row: name (1..128 bytes,
//  not starting with "in:", which names inbound peers), address, direction
//  (NULL: both) and collectives ("UUID;UUID", NULL or "": all). Strings are
//  not NUL-terminated. Returns 0 or PDB_EINVAL with `why`.
int peerspec_from_fields(peerspec_t *out, const char *name, size_t name_len,
                         const char *address, size_t address_len,
                         const char *direction, size_t direction_len,
                         const char *collectives, size_t collectives_len,
                         char why[PDB_ERRMSG_MAX]);

//  Sets the peer's CURVE public key from its Z85 text (len bytes; len 0
//  clears it). Returns 0 or PDB_EINVAL with `why`.
int peerspec_set_key(peerspec_t *peer, const char *key, size_t len, char why[PDB_ERRMSG_MAX]);

//  "both", "push" or "pull".
const char *peerspec_dir_name(peerspec_dir_t direction);

//  True for a peer name of 1..max bytes of A-Z a-z 0-9 . _ - (the same
//  characters in configuration, the HTTP API and the command line).
bool peerspec_name_valid(const char *name, size_t len, size_t max);

#endif
