/*  sync_fixture.h - shared helpers for the sync storage tests (snapshot,
    install, compaction): nodes in temporary folders, a populated store,
    writes, hand-made remote changes, snapshots collected page by page,
    install and apply requests, and store dumps to compare replicas.
    Every helper asserts (cmocka) on unexpected failures.
*/
#ifndef PDB_SYNC_FIXTURE_H
#define PDB_SYNC_FIXTURE_H

#include "change.h"
#include "ingest.h"
#include "node.h"
#include "testkit.h"
#include "vv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_MAP_SIZE (64ull << 20)        // 64 MiB: plenty here, sparse on disk
#define FX_H(ms) ((uint64_t) (ms) << 16) // an HLC stamp at a wall millisecond
#define FX_DIM1 3u
#define FX_DIM2 2u

typedef struct {
    char dir[TESTKIT_DIR_MAX];
    node_t *node;
    ingest_t ing;
} fx_node_t;

void fx_open(fx_node_t *n);
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

#endif
