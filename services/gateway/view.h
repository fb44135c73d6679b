/*  view.h - entities as API JSON, read from a read transaction:

      collective  {id, name, owner, embedding_dim, created_at, updated_at}
      experience  {id, collective_id, content, embedding, type, importance, ...}
      relation    {id, collective_id, source, target, type, strength, metadata, created_at}
      insight     {id, collective_id, content, embedding, source_ids, type, ...}

    Field members come from json_map in spec order; view adds the ids and,
    for experiences, the embedding kept in its own database.
*/
#ifndef GW_VIEW_H
#define GW_VIEW_H

#include "entity.h"
#include "id.h"
#include "json_text.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

#define VIEW_EMBEDDING 1u    // include an experience's embedding

//  Each writes JSON text to out and returns 0, or a code with out as it
//  was (a list may be left part written: the caller then sends an error).

//  The live entity `id` of type `want` as an object. Returns 0,
//  PDB_ENOTFOUND (unknown, deleted, or another type), PDB_ECORRUPT or
//  -ENOMEM.
int view_entity(store_t *store, MDB_txn *txn, ent_type_t want, const pdb_id_t *id,
                unsigned flags, json_text_t *out);

//  Renders a record already in hand (list pages, search results, the record
//  storage returns for a create). txn is read only for VIEW_EMBEDDING (it may
//  be NULL without it).
int view_record(store_t *store, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
                const pdb_id_t *id, const MDB_val *record, unsigned flags, json_text_t *out);

//  Every live collective, in id order, as an array.
int view_collectives(store_t *store, MDB_txn *txn, json_text_t *out);

//  One page of a collective's experiences in id order, as an array,
//  starting after `after` (NULL: from the start). *more tells whether a
//  later page exists, after *last, the page's last experience.
int view_experiences(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                     const pdb_id_t *after, size_t limit, unsigned flags, json_text_t *out,
                     bool *more, pdb_id_t *last);

//  The live relations touching an experience (as source or target), as an
//  array.
int view_relations_of(store_t *store, MDB_txn *txn, const pdb_id_t *experience,
                      json_text_t *out);

//  Live entities per type, from LMDB's own counts (no scan).
typedef struct {
    uint64_t collectives, experiences, relations, insights;
} view_counts_t;

int view_counts(store_t *store, MDB_txn *txn, view_counts_t *out);

//  Whether `id` is a live entity of type `want`; on 0, *collective gets the
//  collective it belongs to. Returns 0 or PDB_ENOTFOUND (or a store code).
int view_locate(store_t *store, MDB_txn *txn, ent_type_t want, const pdb_id_t *id,
                pdb_id_t *collective);

#endif
