/*  local.h - writes made on this node: client creates, updates, deletes and
    reinforcements become changes stamped with this node's origin and clock.
    Checks what only a local write can get wrong (unknown ids, name clashes,
    relation endpoints) with messages a client can act on, fills defaults and
    server-managed fields, then ingests the change.
*/
#ifndef PDB_LOCAL_H
#define PDB_LOCAL_H

#include "ingest.h"
#include "mpk.h"

#include <stdbool.h>

typedef struct {
    ent_type_t entity;
    change_op_t op;
    const pdb_id_t *collective_id;     // NULL: none given
    const pdb_id_t *entity_id;         // NULL: none given (creates)
    const void *fields;                // packed MessagePack map
    size_t fields_len;
} local_write_t;

//  Returns 0 with the entity id and WAL seq, or PDB_EINVAL / PDB_ETOOBIG /
//  PDB_ENOTFOUND / PDB_ECONFLICT with `why` filled, or a store error.
int local_write(const ingest_t *ingest, MDB_txn *txn, const local_write_t *w,
                uint64_t wall_ms, pdb_id_t *id_out, uint64_t *seq_out,
                char why[PDB_ERRMSG_MAX]);

//  local_write that, for a create, also packs into record (initialised by
//  the caller; NULL: none) the record as stored: every field, defaults and
//  managed ones filled in, but those kept outside it (the embedding).
int local_write_record(const ingest_t *ingest, MDB_txn *txn, const local_write_t *w,
                       uint64_t wall_ms, pdb_id_t *id_out, uint64_t *seq_out,
                       mpk_out_t *record, char why[PDB_ERRMSG_MAX]);

//  Raises this instance's applications count of an experience by one and
//  its last_reinforced time. Returns 0 or PDB_ENOTFOUND / store error.
int local_reinforce(const ingest_t *ingest, MDB_txn *txn, const pdb_id_t *experience,
                    uint64_t wall_ms, uint64_t *seq_out, char why[PDB_ERRMSG_MAX]);

#endif
