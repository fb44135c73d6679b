/*  store_db.h - the store's layout: its LMDB handles, meta keys and key
    encodings. For the store module (common/store.c, the read side) and for
    storage, the only writer (services/storage); everything else reads
    through store.h, so the layout changes in one place. Unit tests of
    storage look inside too.

    Keys:   collectives, versions: 16-byte id
            experiences, embeddings, relations, insights: collective id + id (32 bytes)
            relations_by_exp: experience id + relation id (32 bytes)
            collective_names: the name's bytes
            wal: u64 big-endian sequence
            own_changes: u64 big-endian origin seq -> u64 big-endian WAL seq
            origins (version vector): 16-byte instance id -> u64 origin seq
            peers: the peer's name -> MessagePack map
            vec_blocks, vec_slots, vec_free: the search layout, vecblock.h, which
                holds the embeddings (schema 2); embeddings holds them only in a
                folder of schema 1 until storage's next start moves them
            meta: the names below
*/
#ifndef PDB_STORE_DB_H
#define PDB_STORE_DB_H

#include "mpk.h"
#include "store.h"

struct store {
    MDB_env *env;
    bool readonly;
    MDB_dbi meta, collectives, collective_names, experiences, embeddings, relations,
            relations_by_exp, insights, versions, wal, peers, origins,
            own_changes;       // this node's origin_seq -> its WAL seq (services/storage/wal.h)
    MDB_dbi vec_blocks, vec_slots, vec_free;   // search layout (vecblock.h)
    bool vec_dbs;       // false: a reader opened a folder that has no search layout yet
};

//  Meta keys. Names are part of the on-disk format: never rename one.
#define STORE_META_INSTANCE_ID "instance_id"     // 16 bytes
#define STORE_META_SCHEMA      "schema_version"  // u32
#define STORE_META_HLC         "hlc"             // u64: the clock's high-water mark
#define STORE_META_WAL_HEAD    "wal_head"        // u64: the last sequence ever appended
#define STORE_META_DATA_FILE   "data_file"       // what tells the data file from a copy (node.c)

#define STORE_KEY_PAIR_LEN 32

//  The meta value `name`, exactly len bytes, into out. Returns 0,
//  PDB_ENOTFOUND, PDB_ECORRUPT (another size) or a store error.
int store_meta_get(store_t *self, MDB_txn *txn, const char *name, void *out, size_t len);

//  Key builders.
void store_key_pair(uint8_t out[STORE_KEY_PAIR_LEN], const pdb_id_t *a, const pdb_id_t *b);
void store_key_seq(uint8_t out[8], uint64_t seq);
uint64_t store_seq_from_key(const MDB_val *key);

//  Packs a versions value (store.h: store_version_t), the bytes
//  store_version_decode and store_version_head read; field_versions NULL
//  packs an empty map.
void store_version_pack(msgpack_packer *pk, const store_version_t *v);

//  The database holding records of an entity type (collectives keyed by id,
//  the others by collective id + id).
MDB_dbi store_records_dbi(const store_t *self, ent_type_t type);

#endif
