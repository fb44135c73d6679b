/*  authz.c - per-peer directions and collectives, enforced when serving.
*/
#include "authz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct authz {
    peerspec_t *peers;
    size_t n;
};

authz_t *
authz_new(void)
{
    return calloc(1, sizeof(authz_t));
}

void
authz_destroy(authz_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->peers);
    free(*self_p);
    *self_p = NULL;
}

int
authz_set_peers(authz_t *self, const peerspec_t *peers, size_t n)
{
    peerspec_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        return -ENOMEM;
    if (n)
        memcpy(copy, peers, n * sizeof *copy);
    free(self->peers);
    self->peers = copy;
    self->n = n;
    return 0;
}

static const peerspec_t *
s_find(const authz_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->peers[i].name, name) == 0)
            return &self->peers[i];
    return NULL;
}

static bool
s_allowed(const peerspec_t *p, const pdb_id_t *collective)
{
    if (p->collectives_n == 0)
        return true;
    for (size_t i = 0; i < p->collectives_n; i++)
        if (pdb_id_cmp(&p->collectives[i], collective) == 0)
            return true;
    return false;
}

//  The peer's entry, or NULL with the verdict for a peer that has none.
static const peerspec_t *
s_peer(const authz_t *self, const char *name, char *why)
{
    const peerspec_t *p = s_find(self, name);
    if (!p)
        snprintf(why, PDB_ERRMSG_MAX, "peer %.64s is not configured on this node", name);
    return p;
}

authz_verdict_t
authz_read(const authz_t *self, const char *peer, const pdb_id_t *filter, size_t n,
           char why[PDB_ERRMSG_MAX])
{
    const peerspec_t *p = s_peer(self, peer, why);
    if (!p)
        return AUTHZ_UNAUTHORIZED;
    if (p->direction == PEERSPEC_PULL) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %.64s may push to this node but not pull from it",
                 peer);
        return AUTHZ_FORBIDDEN;
    }
    if (p->collectives_n && n == 0) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %.64s may read %zu collectives only: ask with a "
                 "filter (collectives) inside them", peer, p->collectives_n);
        return AUTHZ_FORBIDDEN;
    }
    for (size_t i = 0; i < n; i++)
        if (!s_allowed(p, &filter[i])) {
            char id[PDB_ID_STR_LEN + 1];
            pdb_id_format(&filter[i], id);
            snprintf(why, PDB_ERRMSG_MAX, "peer %.64s may not read collective %s", peer, id);
            return AUTHZ_FORBIDDEN;
        }
    return AUTHZ_OK;
}

authz_verdict_t
authz_known(const authz_t *self, const char *peer, char why[PDB_ERRMSG_MAX])
{
    return s_peer(self, peer, why) ? AUTHZ_OK : AUTHZ_UNAUTHORIZED;
}

bool
authz_limited(const authz_t *self, const char *peer)
{
    const peerspec_t *p = s_find(self, peer);
    return p && p->collectives_n > 0;
}

authz_verdict_t
authz_push(const authz_t *self, const char *peer, char why[PDB_ERRMSG_MAX])
{
    const peerspec_t *p = s_peer(self, peer, why);
    if (!p)
        return AUTHZ_UNAUTHORIZED;
    if (p->direction == PEERSPEC_PUSH) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %.64s may pull from this node but not push to it",
                 peer);
        return AUTHZ_FORBIDDEN;
    }
    return AUTHZ_OK;
}

authz_verdict_t
authz_push_collective(const authz_t *self, const char *peer, const pdb_id_t *collective,
                      char why[PDB_ERRMSG_MAX])
{
    const peerspec_t *p = s_peer(self, peer, why);
    if (!p)
        return AUTHZ_UNAUTHORIZED;
    if (s_allowed(p, collective))
        return AUTHZ_OK;
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(collective, id);
    snprintf(why, PDB_ERRMSG_MAX, "peer %.64s may not write collective %s: the push is "
             "refused whole", peer, id);
    return AUTHZ_FORBIDDEN;
}
