/*  sync_fixture.h - shared helpers for the unit tests of services/storage
    (apply, ingest, local writes, batches, cascades, peers, handlers,
    snapshots, install, compaction): nodes in temporary folders, a populated
    store, local writes, hand-made remote changes, records read back,
    snapshots collected page by page, install, apply and handler requests,
    and store dumps to compare replicas. Every helper asserts (cmocka) on
    unexpected failures.
*/
#ifndef PDB_SYNC_FIXTURE_H
#define PDB_SYNC_FIXTURE_H

#include "change.h"
#include "ingest.h"
#include "mpk.h"
#include "node.h"
#include "stats.h"
#include "testkit.h"
#include "vv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_MAP_SIZE (64ull << 20)        // 64 MiB: plenty here, sparse on disk
#define FX_H(ms) ((uint64_t) (ms) << 16) // an HLC stamp at a wall millisecond
#define FX_DIM1 3u
#define FX_DIM2 2u
#define FX_WALL 1700000000000ull     // the wall clock of local writes made by fx_write_*

//  Hand-made changes name their origins (instances) and entities by fill
//  byte (testkit_id), so a failure shows which one it was.
enum { FX_ORG_A = 0xa1, FX_ORG_B = 0xb2, FX_ORG_C = 0xc3 };
enum { FX_COLL = 0x10, FX_COLL2 = 0x11, FX_E1 = 0x21, FX_E2 = 0x22, FX_E3 = 0x23,
       FX_R12 = 0x31, FX_R23 = 0x32, FX_R13 = 0x33, FX_INS = 0x41 };

typedef struct {
    char dir[TESTKIT_DIR_MAX];
    node_t *node;
    ingest_t ing;
} fx_node_t;

void fx_open(fx_node_t *n);
void fx_open_sized(fx_node_t *n, uint64_t map_size);
void fx_close(fx_node_t *n);
store_t *fx_store(fx_node_t *n);
MDB_txn *fx_write_begin(fx_node_t *n);
MDB_txn *fx_read_begin(fx_node_t *n);

//  --- writes ---------------------------------------------------------------

//  A local write (create: *id_out gets the new id). Returns its rc.
int fx_local(fx_node_t *n, uint64_t wall_ms, ent_type_t entity, change_op_t op,
             const pdb_id_t *coll, const pdb_id_t *id, const mpk_out_t *fields,
             pdb_id_t *id_out);
pdb_id_t fx_new_collective(fx_node_t *n, uint64_t wall_ms, const char *name, uint32_t dim);
pdb_id_t fx_new_experience(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll,
                           uint32_t dim, float base);
pdb_id_t fx_new_relation(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll,
                         const pdb_id_t *src, const pdb_id_t *dst);
pdb_id_t fx_new_insight(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll, uint32_t dim);
void fx_set_unit(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll, const pdb_id_t *exp,
                 const char *field, double value);
void fx_rename(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *coll, const char *name);
void fx_delete(fx_node_t *n, uint64_t wall_ms, ent_type_t entity, const pdb_id_t *coll,
               const pdb_id_t *id);
void fx_reinforce(fx_node_t *n, uint64_t wall_ms, const pdb_id_t *exp);

//  A local write whose outcome is under test: rc, the entity id, its WAL
//  seq and the reason. Runs in its own transaction, committed on success.
typedef struct {
    int rc;
    pdb_id_t id;
    uint64_t seq;
    char why[PDB_ERRMSG_MAX];
} fx_write_t;

//  local_write of the packed map in *fields (released here).
fx_write_t fx_write(fx_node_t *n, ent_type_t entity, change_op_t op, const pdb_id_t *coll,
                    const pdb_id_t *id, mpk_out_t *fields, uint64_t wall_ms);
//  Initialises f with a map header of n entries; returns f.
mpk_out_t *fx_fields_new(mpk_out_t *f, size_t n);
//  A collective {name, embedding_dim} at FX_WALL.
fx_write_t fx_write_collective(fx_node_t *n, const char *name, uint64_t dim);
//  An experience {content, embedding of dim floats 1, 2, 3...} at FX_WALL + 1.
fx_write_t fx_write_experience(fx_node_t *n, const pdb_id_t *coll, uint32_t dim);
//  An "elaborates" relation src -> dst at FX_WALL + 2.
fx_write_t fx_write_relation(fx_node_t *n, const pdb_id_t *coll, const pdb_id_t *src,
                             const pdb_id_t *dst);

//  A change built by hand (a remote origin's); c.fields points into f.
typedef struct {
    change_t c;
    mpk_out_t f;
} fx_change_t;

msgpack_packer *fx_change_begin(fx_change_t *fc, const pdb_id_t *origin, uint64_t origin_seq,
                                uint64_t hlc, ent_type_t entity, int op,
                                const pdb_id_t *coll, const pdb_id_t *id);
void fx_change_end(fx_change_t *fc);
void fx_change_release(fx_change_t *fc);
//  Encodes the change (seq included) into out (initialised here).
void fx_change_encode(const change_t *c, mpk_out_t *out);
//  ingest_remote in its own transaction (committed unless it failed).
int fx_ingest(fx_node_t *n, const change_t *c);
//  fx_ingest of each change of set, each SPROTO_APPLIED.
void fx_ingest_all(fx_node_t *n, fx_change_t *set, size_t count);

//  --- changes by hand, ids by fill byte ---------------------------------------

//  The id whose bytes are all `fill`, as a pointer valid for the whole run.
const pdb_id_t *fx_id(uint8_t fill);

//  fx_change_begin with origin, collective and entity by fill byte and no
//  sender seq (0).
msgpack_packer *fx_hand_begin(fx_change_t *fc, uint8_t origin, uint64_t origin_seq,
                              uint64_t hlc, ent_type_t entity, change_op_t op, uint8_t coll,
                              uint8_t id);
void fx_changes_release(fx_change_t *set, size_t n);

//  Map entries: key and value.
void fx_kv_str(msgpack_packer *pk, const char *k, const char *v);
void fx_kv_u64(msgpack_packer *pk, const char *k, uint64_t v);
void fx_kv_dbl(msgpack_packer *pk, const char *k, double v);
void fx_kv_bool(msgpack_packer *pk, const char *k, bool v);
void fx_kv_id(msgpack_packer *pk, const char *k, uint8_t fill);
//  An FX_DIM1 embedding {base, base + 1, base + 2}.
void fx_kv_vec(msgpack_packer *pk, const char *k, float base);
//  "applications": {instance: count}.
void fx_kv_counter(msgpack_packer *pk, uint8_t instance, uint64_t count);

//  Creates as a peer's local_write would send them (every field present for
//  an experience), stamped FX_H(ms), and a delete and a one-field update.
void fx_coll_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
                    const char *name);
void fx_exp_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
                   uint8_t exp);
void fx_rel_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
                   uint8_t rel, uint8_t src, uint8_t dst);
void fx_ins_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
                   uint8_t ins);
void fx_del_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms,
                   ent_type_t entity, uint8_t coll, uint8_t id);
void fx_unit_change(fx_change_t *fc, uint8_t origin, uint64_t oseq, uint64_t ms, uint8_t coll,
                    uint8_t exp, const char *field, double value);

//  --- a populated node ------------------------------------------------------

//  c1 (dim 3): e1 (importance updated, confidence set by a remote origin),
//  e2 (reinforced), e3 (deleted: takes r23 with it), relation r12, insight
//  i1, insight i2 (deleted). c2 (dim 2, renamed): e4. c3 (deleted, with e5).
typedef struct {
    pdb_id_t c1, c2, c3;
    pdb_id_t e1, e2, e3, e4, e5;
    pdb_id_t r12, r23;
    pdb_id_t i1, i2;
    pdb_id_t remote;            // the remote origin that wrote e1's confidence
} fx_world_t;

void fx_populate(fx_node_t *n, uint64_t wall_ms, fx_world_t *w);

//  --- reading back --------------------------------------------------------

//  Every entity database as text, one line per entry, limited to one
//  collective (NULL: everything). Caller frees.
char *fx_dump(fx_node_t *n, const pdb_id_t *coll);
//  fx_dump of everything where, with tombstone_flags, a tombstone shows only
//  its type, collective and flag, not the version of the delete that made
//  it (concurrent deletes of one entity keep the first to arrive).
char *fx_dump_flags(fx_node_t *n, bool tombstone_flags);
uint64_t fx_head(fx_node_t *n);
store_meta_t fx_meta(fx_node_t *n);
uint64_t fx_vector(fx_node_t *n, const pdb_id_t *origin);
//  The peer's pull cursor, -1 when it has no row or no cursor.
int64_t fx_pull_cursor(fx_node_t *n, const char *peer);
//  1 live, 0 tombstone, -1 no version record.
int fx_alive(fx_node_t *n, const pdb_id_t *id);
size_t fx_entries(fx_node_t *n, MDB_dbi dbi);
//  A field of a live record as double / u64 (asserts it is there).
double fx_get_dbl(fx_node_t *n, const pdb_id_t *id, const char *field);
uint64_t fx_count_of(fx_node_t *n, const pdb_id_t *exp, const pdb_id_t *instance);
//  Whether dbi holds the key a + b (store_key_pair).
bool fx_has_pair(fx_node_t *n, MDB_dbi dbi, const pdb_id_t *a, const pdb_id_t *b);
//  Whether experience id of coll has an embedding (store_embedding_get).
bool fx_has_embedding(fx_node_t *n, const pdb_id_t *coll, const pdb_id_t *id);
//  A copy of the WAL entry at seq decoded into *out (caller frees the copy).
void *fx_wal_entry(fx_node_t *n, uint64_t seq, change_t *out);

//  A live record copied out of LMDB and decoded.
typedef struct {
    void *copy;
    msgpack_unpacked u;
    const msgpack_object *map;
} fx_record_t;

//  Reads id's live record into *out; returns the lookup's rc (0 or
//  PDB_ENOTFOUND, *out then empty). Free with fx_record_free.
int fx_record(fx_node_t *n, const pdb_id_t *id, fx_record_t *out);
//  fx_record of a record that must be there.
void fx_record_of(fx_node_t *n, const pdb_id_t *id, fx_record_t *out);
void fx_record_free(fx_record_t *r);
//  A field of the record (asserts it is there and typed so).
double fx_rec_dbl(const fx_record_t *r, const char *field);
uint64_t fx_rec_u64(const fx_record_t *r, const char *field);
bool fx_rec_str_is(const fx_record_t *r, const char *field, const char *want);
//  An instance's entry in the record's applications counter (0 when absent).
uint64_t fx_rec_count(const fx_record_t *r, const pdb_id_t *instance);

//  --- snapshots, installs, applies -------------------------------------------

typedef struct {
    uint8_t *data;
    size_t len;
} fx_blob_t;

typedef struct {
    fx_blob_t *items;       // encoded STATE changes, in stream order
    size_t n;
    size_t *page_end;       // items[page_end[p-1] .. page_end[p]) is page p
    size_t pages;
    uint64_t total;
    uint64_t head;          // the WAL head the snapshot's transaction saw
    vv_t vector;            // and the version vector
} fx_snap_t;

//  Collects a whole snapshot page by page from one read transaction,
//  checking each page's bounds. origin: the envelope's origin.
void fx_snapshot(fx_node_t *n, const pdb_id_t *filter, size_t filter_n, size_t max_entities,
                 size_t max_bytes, fx_snap_t *out);
void fx_snap_free(fx_snap_t *s);

typedef struct {
    int rc;
    uint64_t installed;
    uint64_t head;
    char why[PDB_ERRMSG_MAX];
    char held[PDB_ERRMSG_MAX];      // apply: why the first held-back change was ("": none said)
} fx_result_t;

//  "install" with the given entities (committed when it succeeds).
fx_result_t fx_install(fx_node_t *n, const char *peer, const fx_blob_t *items, size_t count,
                       bool done, uint64_t snapshot_seq, const vv_t *vector);
//  Same, naming the snapshot's source (the optional sixth argument; NULL
//  leaves it out, as fx_install does).
fx_result_t fx_install_from(fx_node_t *n, const char *peer, const fx_blob_t *items,
                            size_t count, bool done, uint64_t snapshot_seq, const vv_t *vector,
                            const pdb_id_t *source);
//  Installs a whole snapshot, one request per page, done on the last.
uint64_t fx_install_snap(fx_node_t *n, const char *peer, const fx_snap_t *s);

//  The WAL entries after seq `after`, copied.
void fx_wal(fx_node_t *n, uint64_t after, fx_blob_t **items, size_t *count);
void fx_blobs_free(fx_blob_t *items, size_t count);
//  "apply" of encoded changes from a peer, cursor = last seq (committed
//  when it succeeds); results copied to results[] when not NULL.
fx_result_t fx_apply(fx_node_t *n, const char *peer, const fx_blob_t *items, size_t count,
                     int *results);

//  The storage socket's operation op with the packed args array, through
//  handlers_parse and handlers_run in one write transaction (committed when it
//  succeeds). result, when not NULL, is initialised and gets the packed
//  result (caller releases); stats, when not NULL, the counters it moved.
//  Returns handlers_run's rc, its reason in why.
int fx_handle(fx_node_t *n, const char *op, const mpk_out_t *args, mpk_out_t *result,
              storage_stats_t *stats, char why[PDB_ERRMSG_MAX]);

#endif
