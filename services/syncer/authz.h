/*  authz.h - what an authenticated peer may ask of this node: the serving
    side's view of each peer's entry (sync/peers and the peers database).

    A peer's direction is this node's: `push` (we send it our changes) lets
    it pull and take snapshots but not push; `pull` (we take its changes)
    lets it push but not pull; `both` allows both. A peer limited to some
    collectives may push changes of those only, and must pull and take
    snapshots with a filter inside them, so nothing else ever leaves.
    Requests that are not authenticated (no keys or tokens) are not
    checked here at all.
*/
#ifndef PDB_SYNCER_AUTHZ_H
#define PDB_SYNCER_AUTHZ_H

#include "cfg.h"
#include "err.h"
#include "id.h"

#include <stddef.h>

typedef struct authz authz_t;

typedef enum { AUTHZ_OK = 0, AUTHZ_UNAUTHORIZED, AUTHZ_FORBIDDEN } authz_verdict_t;

authz_t *authz_new(void);
void authz_destroy(authz_t **self_p);

//  Replaces the peers (copied). Returns 0 or -ENOMEM (the old list stays).
int authz_set_peers(authz_t *self, const peerspec_t *peers, size_t n);

//  May `peer` pull from this node, or take a snapshot, with this filter (n
//  ids; 0: every collective)? `why` says why not.
authz_verdict_t authz_read(const authz_t *self, const char *peer, const pdb_id_t *filter,
                           size_t n, char why[PDB_ERRMSG_MAX]);

//  Is `peer` configured at all (hello)?
authz_verdict_t authz_known(const authz_t *self, const char *peer, char why[PDB_ERRMSG_MAX]);

//  Is `peer`'s entry limited to some collectives? What it pushes is then a
//  subset of each origin's changes: applied as partial copies, whatever
//  the push says (docs/sync-protocol.md, "Partial copies").
bool authz_limited(const authz_t *self, const char *peer);

//  May `peer` push to this node? Then each change's collective is asked of
//  authz_push_collective.
authz_verdict_t authz_push(const authz_t *self, const char *peer, char why[PDB_ERRMSG_MAX]);
authz_verdict_t authz_push_collective(const authz_t *self, const char *peer,
                                      const pdb_id_t *collective, char why[PDB_ERRMSG_MAX]);

#endif
