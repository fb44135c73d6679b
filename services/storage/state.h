/*  state.h - reading and checking the fields of an OP_STATE change (a
    whole entity, common/snapshot.h) before it is merged: every key present
    and typed, versions only for last-writer-wins fields and above the
    create's, a tombstone with nothing else, a record that passes the entity
    tables as a full create would.
*/
#ifndef PDB_STATE_H
#define PDB_STATE_H

#include "entity.h"
#include "err.h"
#include "id.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    bool tombstone;
    uint64_t hlc;                      // "created": the create's version
    pdb_id_t origin;                   //   (a tombstone's: the delete's)
    const msgpack_object *record;      // map; empty for a tombstone
    const msgpack_object *versions;    // map field -> [hlc, origin]; empty for a tombstone
    uint64_t max_hlc;                  // largest stamp inside (clock, drift bound)
} state_t;

//  Reads the decoded fields map of a STATE change of the given type into
//  out (pointers into fields). Checks the shape and the versions, not the
//  record's values. Returns 0 or PDB_EINVAL with why.
int state_read(ent_type_t type, const msgpack_object *fields, state_t *out,
               char why[PDB_ERRMSG_MAX]);

//  Checks a read state's record against the entity tables as a full create
//  (managed fields allowed), with the collective's embedding size (0: not
//  known). Tombstones pass. Returns 0 or PDB_EINVAL / PDB_ETOOBIG with why.
int state_check(ent_type_t type, const state_t *st, uint32_t dim, char why[PDB_ERRMSG_MAX]);

//  What install learnt checking a STATE change before writing anything, so
//  that applying the same bytes need not work it out again: the largest
//  stamp inside (from ingest_stamp, drift bound passed) and the embedding
//  size its record passed state_check with (0: any).
typedef struct {
    uint64_t stamp;
    uint32_t dim;
} state_checked_t;

#endif
