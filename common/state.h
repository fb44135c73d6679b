/*  state.h - the fields of an OP_STATE change: one whole entity as a
    snapshot carries it (initial sync, its relay), written by the syncer's
    snapshot pages and read by storage's install. The map is

      {"record": {field: value, ...},     full record, embedding included
       "created": [hlc, bin origin],       the create's version
       "versions": {field: [hlc, origin]}, fields whose version differs
       "tombstone": bool}                  true: a delete (record empty)

    so the receiver merges it under the same rules as any change: per-field
    last writer wins, counters and maxima merge, tombstones are final. A
    tombstone's "created" is the delete's version and its "versions" is
    empty; "versions" only ever names last-writer-wins fields, each with a
    version above "created". An experience's "embedding" is a bin of
    float32, as in a create change.

    Reading checks every key present and typed, versions only for
    last-writer-wins fields and above the create's, a tombstone with nothing
    else, and (state_check) a record that passes the entity tables as a full
    create would.
*/
#ifndef PDB_STATE_H
#define PDB_STATE_H

#include "entity.h"
#include "err.h"
#include "id.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  What one entity's state is made of, as the store holds it.
typedef struct {
    bool tombstone;
    uint64_t hlc;                      // the create's version
    pdb_id_t origin;                   //   (a tombstone's: the delete's)
    const uint8_t *record;             // the stored record map (unused for a tombstone)
    size_t record_len;
    const void *embedding;             // an experience's raw float32 vector
    size_t embedding_len;
    const uint8_t *versions;           // the stored map field -> [hlc, origin]
    size_t versions_len;               //   (unused for a tombstone)
} state_src_t;

//  Packs the fields map of a STATE change for an entity of `type` (record
//  and versions re-packed canonically, so equal states are equal bytes).
//  Returns 0, or PDB_ECORRUPT when the stored record or versions do not
//  decode as maps (nothing useful was packed then).
int state_pack(msgpack_packer *pk, ent_type_t type, const state_src_t *src);

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

#endif
