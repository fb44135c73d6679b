/*  store.h - reading a node's store (DESIGN.md section 3): opening the
    environment, the meta values, an entity's version and record, and typed
    walks over the WAL, records, versions, peers and origins. Only storage
    opens it writable (its write side uses store_db.h); gateway, syncer and
    tools open it read-only over the same shared memory map.
*/
#ifndef PDB_STORE_H
#define PDB_STORE_H

#include "entity.h"
#include "id.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Schema 2: embeddings are kept in the search blocks only (vecblock.h).
//  Storage moves a schema 1 folder's at start; a build that knows only
//  schema 1 refuses a schema 2 folder rather than read it as empty.
#define STORE_SCHEMA_VERSION 2u
#define STORE_SCHEMA_EMBEDDINGS_DB 1u
#define STORE_MAP_SIZE_DEFAULT (64ull << 30)   // 64 GiB of address space, sparse on disk
#define STORE_MAX_READERS 1022u                // LMDB's reader slots: threads of every process

//  One open environment. Its layout (LMDB handles, keys) is private to the
//  store module and to storage, the only writer (store_db.h); every other
//  reader goes through the functions and walks below.
typedef struct store store_t;

//  Opens (read-write: creates) the environment in dir. A read-only open
//  fails with PDB_ENOTFOUND until storage has created the databases.
//  Caller frees with store_destroy.
int store_open(const char *dir, bool readonly, uint64_t map_size, store_t **out);
void store_destroy(store_t **self_p);

//  Begins a read-only transaction; follows a map that storage has grown.
int store_read_begin(store_t *self, MDB_txn **txn);

//  --- walks -----------------------------------------------------------------
//  A forward walk over one database in key order, opened by one of the
//  typed openers below and read with that database's next function. What a
//  next function hands out is borrowed from txn: copy it or finish with it
//  before the transaction ends. Next functions return 0, PDB_ENOTFOUND past
//  the last entry (and on every call after), PDB_ECORRUPT for a key of the
//  wrong shape, or a store error. Close with store_iter_close, whatever
//  happened (also safe on an iterator whose opener failed).
typedef struct {
    MDB_cursor *cur;
    MDB_val key, val;          // the entry the next call hands out, when `pending`
    int pending;               // 1: key/val are next; 0: step on; < 0: the code to return
    size_t key_len;            // every key of the database has this length
    bool within;               // only keys that start with `prefix`
    pdb_id_t prefix;
} store_iter_t;

void store_iter_close(store_iter_t *it);

//  The WAL from sequence `from` on (inclusive): each entry's sequence and
//  its encoded change (change.h).
int store_wal(store_t *self, MDB_txn *txn, uint64_t from, store_iter_t *it);
int store_wal_next(store_iter_t *it, uint64_t *seq, MDB_val *change);

//  Records of one entity type in key order: collectives by id, the others
//  by collective id, then id. `collective` non-NULL keeps the walk inside
//  that collective (not for ENT_COLLECTIVE); NULL walks every record.
int store_records(store_t *self, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
                  store_iter_t *it);

//  The index of relations by experience: one entry per relation that has
//  `experience` as source or target (the relation may be deleted since).
int store_relations_of(store_t *self, MDB_txn *txn, const pdb_id_t *experience,
                       store_iter_t *it);

//  Every entity's version record, alive or deleted, in id order.
int store_versions(store_t *self, MDB_txn *txn, store_iter_t *it);

//  Moves a walk of records or versions to the first entry after
//  (collective, id): collective's first when id is NULL, the entry
//  after id itself (exclusive) otherwise; back to the start when both are
//  NULL. Id-keyed databases (collectives, versions) take collective NULL
//  and an id. A walk kept inside a collective stays inside it. Returns 0 or
//  PDB_EINVAL for a position that does not fit the database.
int store_iter_seek(store_iter_t *it, const pdb_id_t *collective, const pdb_id_t *id);

//  The next entry of a records, relations or versions walk: its key as two
//  ids (collective and id; experience and relation for store_relations_of;
//  id-keyed databases give the id twice; either may be NULL) and its value
//  (the record, nothing, or a versions value for store_version_head /
//  store_version_decode).
int store_next(store_iter_t *it, pdb_id_t *collective, pdb_id_t *id, MDB_val *value);

//  Entries per database, from LMDB's own counts (no scan).
int store_records_count(store_t *self, MDB_txn *txn, ent_type_t type, uint64_t *n);
int store_versions_count(store_t *self, MDB_txn *txn, uint64_t *n);

//  The record of (collective, id) of a type, without looking at its version
//  (a record present is live). Returns 0, PDB_ENOTFOUND or a store error.
int store_record_at(store_t *self, MDB_txn *txn, ent_type_t type, const pdb_id_t *collective,
                    const pdb_id_t *id, MDB_val *record);

//  --- peers: rows of peer state under the peer's name (MessagePack maps,
//  written by storage on the syncer's behalf) -----------------------------
//  Inbound peers (instances that pull from this node) have rows named
//  "in:<instance uuid>"; a configured peer can never take such a name.
#define STORE_PEER_INBOUND_PREFIX "in:"
#define STORE_PEER_INBOUND_PREFIX_LEN 3

bool store_peer_is_inbound(const char *name, size_t len);
int store_peer_get(store_t *self, MDB_txn *txn, const char *name, size_t len, MDB_val *row);
int store_peers(store_t *self, MDB_txn *txn, store_iter_t *it);
int store_peer_next(store_iter_t *it, const char **name, size_t *len, MDB_val *row);
int store_peers_count(store_t *self, MDB_txn *txn, uint64_t *n);

//  --- origins: the version vector, instance id -> highest origin seq -----
int store_origins(store_t *self, MDB_txn *txn, store_iter_t *it);
int store_origin_next(store_iter_t *it, pdb_id_t *origin, uint64_t *seq);

//  --- meta ----------------------------------------------------------------
typedef struct {
    pdb_id_t instance_id;
    uint32_t schema_version;
    uint64_t wal_head;       // last sequence appended (0: none)
    uint64_t wal_floor;      // first sequence still held (head + 1 when empty)
    uint64_t hlc;            // clock high-water mark
} store_meta_t;

int store_meta_read(store_t *self, MDB_txn *txn, store_meta_t *out);

//  --- versions: one per entity, alive or deleted ---------------------------
//  Value: [entity type, tombstone, collective id, hlc, origin, bin(map field -> [hlc, origin])]
//  hlc/origin is the create's version (or the delete's, for a tombstone).
typedef struct {
    ent_type_t entity;
    bool tombstone;
    pdb_id_t collective_id;
    uint64_t hlc;
    pdb_id_t origin;
    const uint8_t *field_versions;    // MessagePack map, borrowed from LMDB
    size_t field_versions_len;
} store_version_t;

//  Looks up the version record of any entity id. Borrowed pointers live as
//  long as txn. Returns 0, PDB_ENOTFOUND or PDB_ECORRUPT.
int store_version_get(store_t *self, MDB_txn *txn, const pdb_id_t *id, store_version_t *out);
int store_version_decode(const MDB_val *val, store_version_t *out);

//  The leading fields of a versions value (type, tombstone, collective)
//  without decoding the rest, for scans over every entity (snapshot,
//  tombstone purge). Returns 0 or PDB_ECORRUPT.
int store_version_head(const MDB_val *val, ent_type_t *type, bool *tombstone,
                       pdb_id_t *collective);

//  The live record of an entity (MessagePack map, borrowed from txn), and
//  for experiences its embedding (raw float32, any alignment: read from
//  its search block, vecblock.h). Deleted entities are PDB_ENOTFOUND.
//  type_out/collective_out may be NULL.
int store_record_get(store_t *self, MDB_txn *txn, const pdb_id_t *id, ent_type_t *type_out,
                     pdb_id_t *collective_out, MDB_val *record);
int store_embedding_get(store_t *self, MDB_txn *txn, const pdb_id_t *collective,
                        const pdb_id_t *id, MDB_val *vector);

//  The collective a name resolves to; PDB_ENOTFOUND when none.
int store_collective_by_name(store_t *self, MDB_txn *txn, const char *name, size_t len,
                             pdb_id_t *out);

//  The embedding size of a live collective (PDB_ENOTFOUND / PDB_EDELETED).
int store_collective_dim(store_t *self, MDB_txn *txn, const pdb_id_t *collective,
                         uint32_t *dim);

//  The highest origin seq applied here from an origin (0 when none).
int store_origin_seq(store_t *self, MDB_txn *txn, const pdb_id_t *origin, uint64_t *seq);

#endif
