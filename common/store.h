/*  store.h - the LMDB schema shared by every process of a node (DESIGN.md
    section 3): database names, key layout, the versions record, and opening
    the environment. Only storage opens it writable; gateway, syncer and
    tools open it read-only over the same shared memory map.

    Keys:   collectives, versions, peers-by-id: 16-byte id
            experiences, embeddings, relations, insights: collective id + id (32 bytes)
            relations_by_exp: experience id + relation id (32 bytes)
            collective_names: the name's bytes
            wal: u64 big-endian sequence
            origins (version vector): 16-byte instance id -> u64 origin seq
            vec_blocks, vec_slots, vec_free: the search layout, vecblock.h
*/
#ifndef PDB_STORE_H
#define PDB_STORE_H

#include "entity.h"
#include "id.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 1u
#define STORE_MAP_SIZE_DEFAULT (64ull << 30)   // 64 GiB of address space, sparse on disk
#define STORE_MAX_READERS 1022u                // LMDB's reader slots: threads of every process
#define STORE_KEY_PAIR_LEN 32

typedef struct {
    MDB_env *env;
    bool readonly;
    MDB_dbi meta, collectives, collective_names, experiences, embeddings, relations,
            relations_by_exp, insights, versions, wal, peers, origins,
            own_changes;       // this node's origin_seq -> its WAL seq (services/storage/wal.h)
    MDB_dbi vec_blocks, vec_slots, vec_free;   // search layout (vecblock.h)
    bool vec_dbs;       // false: a reader opened a folder that has no search layout yet
} store_t;

//  Opens (read-write: creates) the environment in dir. A read-only open
//  fails with PDB_ENOTFOUND until storage has created the databases.
//  Caller frees with store_destroy.
int store_open(const char *dir, bool readonly, uint64_t map_size, store_t **out);
void store_destroy(store_t **self_p);

//  Begins a read-only transaction; follows a map that storage has grown.
int store_read_begin(store_t *self, MDB_txn **txn);

//  Key builders.
void store_key_pair(uint8_t out[STORE_KEY_PAIR_LEN], const pdb_id_t *a, const pdb_id_t *b);
void store_key_seq(uint8_t out[8], uint64_t seq);
uint64_t store_seq_from_key(const MDB_val *key);

//  The database holding records of an entity type (collectives keyed by id,
//  the others by collective id + id).
MDB_dbi store_records_dbi(const store_t *self, ent_type_t type);

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
//  for experiences its embedding (raw float32). Deleted entities are
//  PDB_ENOTFOUND. type_out/collective_out may be NULL.
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
