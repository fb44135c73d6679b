#include "annsvc.h"
#include "annidx.h"
#include "annrebuild.h"
#include "annwal.h"
#include "bounds.h"
#include "clock.h"
#include "handlers.h"
#include "log.h"
#include "server.h"
#include "sproto.h"
#include "vecblock.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_SEARCH_K_MAX 1000
#define S_PROGRESS_EVERY_US 5000000     // a build's progress line at most this often

//  Saving a large index takes seconds (1.8 GB at a million vectors), so it
//  runs on a thread of its own while this one goes on answering searches
//  from it: the index is only read meanwhile (no catch-up, no build).
typedef struct {
    pthread_t thread;
    annidx_t *idx;                 // the index being saved, or NULL
    const char *dir;
    pdb_id_t instance;
    uint64_t started_us;
    int rc;
    atomic_bool done;
} s_saver_t;

typedef struct {
    node_t *node;
    size_t threshold;
    uint32_t ef_floor;
    s_saver_t saver;
    char dir[PATH_MAX];            // DATA/ann
    zsock_t *pipe;
    zsock_t *router;
    annidx_t **idx;
    size_t n, cap;
    uint64_t last_progress_us;
} s_svc_t;

//  --------------------------------------------------------------------------
//  The set of indexes

static annidx_t *
s_find(s_svc_t *self, const pdb_id_t *collective, size_t *at)
{
    for (size_t i = 0; i < self->n; i++)
        if (!memcmp(self->idx[i]->collective.b, collective->b, PDB_ID_LEN)) {
            if (at)
                *at = i;
            return self->idx[i];
        }
    return NULL;
}

static int
s_keep(s_svc_t *self, annidx_t *idx)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 8;
        annidx_t **list = realloc(self->idx, cap * sizeof *list);
        if (!list)
            return -ENOMEM;
        self->idx = list;
        self->cap = cap;
    }
    self->idx[self->n++] = idx;
    return 0;
}

//  Forgets an index and its files (its collective is gone, or it is to be
//  built again).
static void
s_drop(s_svc_t *self, size_t at)
{
    annidx_unlink(self->dir, &self->idx[at]->collective);
    annidx_destroy(&self->idx[at]);
    self->idx[at] = self->idx[--self->n];
}

//  A new index of the collective, to be built from its blocks; it will
//  follow the WAL from the head of txn.
static int
s_start_build(s_svc_t *self, MDB_txn *txn, const pdb_id_t *collective, uint32_t dim)
{
    annidx_t *idx = NULL;
    int rc = annidx_new_build(self->node->store, txn, collective, dim, &idx);
    if (!rc && (rc = s_keep(self, idx)) != 0)
        annidx_destroy(&idx);
    if (rc)
        return rc;
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(collective, id);
    log_i("search", "index build started collective=%s vectors=%llu", id,
          (unsigned long long) idx->build_total);
    return 0;
}

static void *
s_saver_run(void *arg)
{
    s_saver_t *saver = arg;
    saver->rc = annidx_save(saver->idx, saver->dir, &saver->instance);
    atomic_store(&saver->done, true);
    return NULL;
}

//  Waits for the save in progress, if any, and logs how it went.
static void
s_save_finish(s_svc_t *self)
{
    s_saver_t *saver = &self->saver;
    if (!saver->idx)
        return;
    (void) pthread_join(saver->thread, NULL);   // our own thread: cannot fail
    annidx_t *idx = saver->idx;
    saver->idx = NULL;
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&idx->collective, id);
    if (saver->rc) {
        idx->save_wanted = true;
        log_w("search", "index not saved collective=%s rc=%d (%s)", id, saver->rc,
              pdb_strerror(saver->rc));
        return;
    }
    idx->saved_us = clock_mono_us();
    log_i("search", "index saved collective=%s vectors=%zu covered=%llu ms=%llu", id,
          annidx_count(idx), (unsigned long long) idx->covered,
          (unsigned long long) ((idx->saved_us - saver->started_us) / 1000));
}

//  Starts saving idx in the background (or marks it wanted while another
//  save runs).
static void
s_save(s_svc_t *self, annidx_t *idx)
{
    s_saver_t *saver = &self->saver;
    if (saver->idx && atomic_load(&saver->done))
        s_save_finish(self);
    if (saver->idx) {
        idx->save_wanted = true;
        return;
    }
    *saver = (s_saver_t) { .idx = idx, .dir = self->dir, .instance = self->node->instance_id,
                           .started_us = clock_mono_us() };
    atomic_init(&saver->done, false);
    idx->save_wanted = false;
    idx->changes_since_save = 0;
    if (pthread_create(&saver->thread, NULL, s_saver_run, saver) != 0) {
        saver->idx = NULL;
        idx->save_wanted = true;
    }
}

//  True while idx is being saved: it may be searched, not changed.
static bool
s_saving(const s_svc_t *self, const annidx_t *idx)
{
    return self->saver.idx == idx;
}

//  --------------------------------------------------------------------------
//  Background work

//  A build's progress line (at most every S_PROGRESS_EVERY_US), or its
//  end; `what` is "building" or "rebuilding".
static void
s_build_progress(s_svc_t *self, annidx_t *idx, const char *what, bool done)
{
    uint64_t now = clock_mono_us();
    if (!done && now - self->last_progress_us < S_PROGRESS_EVERY_US)
        return;
    self->last_progress_us = now;
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&idx->collective, id);
    size_t have = annidx_count(idx);
    if (done) {
        log_i("search", "index built collective=%s vectors=%zu", id, have);
        return;
    }
    uint64_t total = idx->build_total ? idx->build_total : 1;
    log_i("search", "index %s collective=%s vectors=%zu of %llu (%.0f%%)", what, id, have,
          (unsigned long long) idx->build_total,
          100.0 * (double) have / (double) total);
}

static void
s_measure_start(annidx_t *idx)
{
    idx->measuring = true;
    memset(&idx->measure, 0, sizeof idx->measure);
}

static void
s_measured(s_svc_t *self, annidx_t *idx)
{
    idx->measuring = false;
    idx->ef = annrecall_choose(&idx->measure, self->ef_floor, &idx->recall);
    idx->measured_at = annidx_count(idx) ? annidx_count(idx) : 1;
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&idx->collective, id);
    if (idx->ef)
        log_i("search", "index recall measured collective=%s vectors=%zu ef=%u recall10=%.3f "
              "samples=%u", id, annidx_count(idx), idx->ef, idx->recall, idx->measure.done);
    else
        log_w("search", "index recall too low collective=%s vectors=%zu recall10=%.3f at "
              "ef=%u (target %.2f): searches scan exactly", id, annidx_count(idx),
              idx->recall, annrecall_ef(ANNRECALL_STEPS - 1), ANNRECALL_TARGET);
    s_save(self, idx);
}

//  One slice of work on the index at `at` (build, or catch up and measure).
//  *worked when it did something. Returns false when the index was dropped
//  (its collective gone, or to be built again).
static bool
s_advance(s_svc_t *self, size_t at, uint64_t deadline_us, bool *worked_out)
{
    annidx_t *idx = self->idx[at];
    MDB_txn *txn;
    if (store_read_begin(self->node->store, &txn) != 0)
        return true;
    bool worked = false, gone = false, stale = false;
    int rc = 0;
    if (idx->building) {
        bool done = false;
        rc = annidx_build_step(idx, self->node->store, txn, deadline_us, &done);
        worked = true;
        if (!rc && done) {
            idx->building = false;
            s_build_progress(self, idx, "building", true);
            s_measure_start(idx);
        }
        else if (!rc)
            s_build_progress(self, idx, "building", false);
    }
    else {
        uint64_t before = idx->covered;
        rc = annwal_catch_up(idx, self->node->store, txn, ANNSVC_CATCHUP_SLICE, &gone, &stale);
        worked = idx->covered != before;
        //  Grown to twice what was measured: measure again (the ef in use
        //  stays until then).
        if (!rc && !gone && !stale && !idx->measuring
            && annidx_count(idx) >= 2 * idx->measured_at
            && annidx_count(idx) >= self->threshold)
            s_measure_start(idx);
        //  Measured against the store as txn sees it, which the index must
        //  then hold exactly: only once caught up.
        store_meta_t meta;
        if (!rc && !gone && !stale && idx->measuring
            && !(rc = store_meta_read(self->node->store, txn, &meta))
            && idx->covered == meta.wal_head) {
            bool done = false;
            while (!rc && !done && clock_mono_us() < deadline_us)
                rc = annrecall_step(&idx->measure, idx, self->node->store, txn, &done);
            worked = true;
            if (!rc && done)
                s_measured(self, idx);
        }
    }
    mdb_txn_abort(txn);
    *worked_out = worked;
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&idx->collective, id);
    if (rc) {
        log_w("search", "index dropped collective=%s rc=%d (%s)", id, rc, pdb_strerror(rc));
        s_drop(self, at);
        return false;
    }
    if (gone) {
        log_i("search", "index dropped collective=%s: the collective is gone", id);
        s_drop(self, at);
        return false;
    }
    if (stale) {
        uint32_t dim = idx->dim;
        pdb_id_t collective = idx->collective;
        s_drop(self, at);
        if (store_read_begin(self->node->store, &txn) == 0) {
            vecblock_head_t head = { 0 };
            if (vecblock_head_get(self->node->store, txn, &collective, &head) == 0)
                (void) s_start_build(self, txn, &collective, dim);
            mdb_txn_abort(txn);
        }
        return false;
    }
    return true;
}

//  Puts the ready rebuild of the index at `at` in its place, and saves it.
static void
s_rebuilt(s_svc_t *self, size_t at)
{
    annidx_t *old = self->idx[at];
    size_t removed = annidx_removed(old), nodes = annidx_count(old) + removed;
    uint64_t started_us = old->rebuild_started_us;
    annrebuild_swap(&self->idx[at]);
    annidx_t *idx = self->idx[at];
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&idx->collective, id);
    log_i("search", "index rebuilt collective=%s vectors=%zu nodes_before=%zu removed_before=%zu "
          "ef=%u recall10=%.3f ms=%llu", id, annidx_count(idx), nodes, removed, idx->ef,
          idx->recall, (unsigned long long) ((clock_mono_us() - started_us) / 1000));
    s_save(self, idx);
}

//  Starts, advances or completes the rebuild of the index at `at` when its
//  removed nodes call for one (annrebuild.h); the index goes on answering
//  meanwhile. Returns true when it did something.
static bool
s_rebuild(s_svc_t *self, size_t at, uint64_t deadline_us)
{
    annidx_t *idx = self->idx[at];
    uint64_t now = clock_mono_us();
    MDB_txn *txn;
    if ((!idx->rebuild && !annrebuild_due(idx, now))
        || store_read_begin(self->node->store, &txn) != 0)
        return false;
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&idx->collective, id);
    int rc = 0;
    if (!idx->rebuild) {
        rc = annrebuild_start(idx, self->node->store, txn, now);
        if (!rc)
            log_i("search", "index rebuild started collective=%s vectors=%zu removed=%zu "
                  "(%d%% of the graph or more)", id, annidx_count(idx), annidx_removed(idx),
                  ANNREBUILD_REMOVED_PCT);
    }
    bool ready = false;
    if (!rc)
        rc = annrebuild_step(idx, self->node->store, txn, deadline_us, self->ef_floor, &ready);
    mdb_txn_abort(txn);
    if (rc) {
        log_w("search", "index rebuild failed collective=%s rc=%d (%s): the index in use stays, "
              "next try in %d s", id, rc, pdb_strerror(rc), ANNREBUILD_RETRY_S);
        annrebuild_cancel(idx, clock_mono_us() + (uint64_t) ANNREBUILD_RETRY_S * 1000000u);
    }
    else if (idx->rebuild->building)
        s_build_progress(self, idx->rebuild, "rebuilding", false);
    else if (ready && !s_saving(self, idx))     // else swapped once the save is done
        s_rebuilt(self, at);
    return true;
}

//  One slice of work on the index at `at`: its own (build, or catch up and
//  measure; not while it is being saved), its rebuild's, and its save when
//  due. Returns true when it did something, so the thread comes back at once.
static bool
s_work_one(s_svc_t *self, size_t at, uint64_t deadline_us)
{
    bool worked = false;
    if (!s_saving(self, self->idx[at]) && !s_advance(self, at, deadline_us, &worked))
        return true;
    worked |= s_rebuild(self, at, deadline_us);
    annidx_t *idx = self->idx[at];
    if (!s_saving(self, idx) && !idx->building && !worked && (idx->save_wanted
        || (idx->changes_since_save
            && clock_mono_us() - idx->saved_us >= (uint64_t) ANNSVC_SAVE_INTERVAL_S * 1000000u)))
        s_save(self, idx);
    return worked;
}

static bool
s_work(s_svc_t *self)
{
    if (self->saver.idx && atomic_load(&self->saver.done))
        s_save_finish(self);
    bool worked = self->saver.idx != NULL;     // come back to see it finish
    uint64_t deadline = clock_mono_us() + ANNSVC_SLICE_MS * 1000;
    for (size_t i = self->n; i-- > 0;) {
        worked |= s_work_one(self, i, deadline);
        if (clock_mono_us() >= deadline)
            break;
    }
    return worked;
}

//  --------------------------------------------------------------------------
//  Requests

typedef struct {
    pdb_id_t collective;
    const void *query;
    size_t query_len;
    uint64_t k, ef;
} s_search_args_t;

static int
s_search_args(const msgpack_object *args, s_search_args_t *a, char why[PDB_ERRMSG_MAX])
{
    if (args->via.array.size != 4 || mpk_get_id(&args->via.array.ptr[0], &a->collective)
        || mpk_get_bin(&args->via.array.ptr[1], &a->query, &a->query_len)
        || mpk_get_u64(&args->via.array.ptr[2], &a->k)
        || mpk_get_u64(&args->via.array.ptr[3], &a->ef))
        return WHY(PDB_EINVAL, "ann_search takes [collective_id, bin(query), k, ef]");
    if (a->k < 1 || a->k > S_SEARCH_K_MAX || a->ef > ANN_EF_MAX)
        return WHY(PDB_EINVAL, "k must be 1..%d and ef 0..%d", S_SEARCH_K_MAX, ANN_EF_MAX);
    return 0;
}

static void
s_pack_state(mpk_out_t *out, const char *state)
{
    mpk_pack_array(&out->pk, 2);
    mpk_pack_str(&out->pk, state);
    mpk_pack_array(&out->pk, 0);
}

//  Finds or starts the collective's index and, when it is ready, catches it
//  up and searches it.
static int
s_search_in(s_svc_t *self, MDB_txn *txn, const s_search_args_t *a, mpk_out_t *out,
            char why[PDB_ERRMSG_MAX])
{
    store_t *store = self->node->store;
    uint32_t dim;
    int rc = store_collective_dim(store, txn, &a->collective, &dim);
    if (rc == PDB_ENOTFOUND || rc == PDB_EDELETED) {
        s_pack_state(out, "small");
        return 0;
    }
    if (rc)
        return rc;
    if (a->query_len != (size_t) dim * sizeof(float))
        return WHY(PDB_EINVAL, "the query has %zu bytes; the collective's vectors have %u",
                   a->query_len, (unsigned) (dim * sizeof(float)));
    size_t at;
    annidx_t *idx = s_find(self, &a->collective, &at);
    if (!idx) {
        vecblock_head_t head = { 0 };
        rc = vecblock_head_get(store, txn, &a->collective, &head);
        if (rc == PDB_ENOTFOUND || (!rc && (self->threshold == 0 || head.live < self->threshold))) {
            s_pack_state(out, "small");
            return 0;
        }
        if (!rc)
            rc = s_start_build(self, txn, &a->collective, dim);
        if (!rc)
            s_pack_state(out, "building");
        return rc;
    }
    if (idx->building || (idx->measuring && idx->measured_at == 0)) {
        s_pack_state(out, "building");
        return 0;
    }
    if (idx->ef == 0 && a->ef == 0) {
        s_pack_state(out, "scan");
        return 0;
    }
    bool gone = false, stale = false;
    if (!s_saving(self, idx))
        rc = annwal_catch_up(idx, store, txn, ANNSVC_CATCHUP_SYNC_MAX, &gone, &stale);
    store_meta_t meta;
    if (!rc)
        rc = store_meta_read(store, txn, &meta);
    if (rc && !s_saving(self, idx)) {
        //  A catch-up cut short may have left the index behind what it
        //  covers: never search it again.
        char id[PDB_ID_STR_LEN + 1];
        pdb_id_format(&idx->collective, id);
        log_w("search", "index dropped collective=%s rc=%d (%s)", id, rc, pdb_strerror(rc));
        s_drop(self, at);
        s_pack_state(out, "behind");
        return 0;
    }
    if (rc || gone || stale || idx->covered != meta.wal_head) {
        //  The background work drops, rebuilds or finishes catching up.
        s_pack_state(out, gone ? "small" : stale ? "building" : "behind");
        return 0;
    }
    float *query = malloc(a->query_len);
    pdb_id_t *ids = malloc(a->k * sizeof *ids);
    float *scores = malloc(a->k * sizeof *scores);
    uint64_t *locs = malloc(a->k * sizeof *locs);
    size_t n = 0;
    rc = query && ids && scores && locs ? 0 : -ENOMEM;
    if (!rc) {
        memcpy(query, a->query, a->query_len);
        rc = annidx_search(idx, query, a->k, a->ef ? a->ef : idx->ef, ids, scores, locs, &n);
        if (rc == PDB_EINVAL)
            snprintf(why, PDB_ERRMSG_MAX, "the query must be a non-zero, finite vector");
    }
    if (!rc) {
        mpk_pack_array(&out->pk, 2);
        mpk_pack_str(&out->pk, "ready");
        mpk_pack_array(&out->pk, n);
        //  Each hit: its id, score, and where its vector is (sproto.h).
        for (size_t i = 0; i < n; i++) {
            mpk_pack_array(&out->pk, locs[i] == ANNIDX_LOC_NONE ? 2 : 3);
            mpk_pack_id(&out->pk, &ids[i]);
            mpk_pack_double(&out->pk, scores[i]);
            if (locs[i] != ANNIDX_LOC_NONE)
                mpk_pack_u64(&out->pk, locs[i]);
        }
    }
    free(query);
    free(ids);
    free(scores);
    free(locs);
    return rc;
}

static int
s_status(s_svc_t *self, mpk_out_t *out)
{
    mpk_pack_array(&out->pk, self->n);
    for (size_t i = 0; i < self->n; i++) {
        const annidx_t *idx = self->idx[i];
        mpk_pack_array(&out->pk, 10);
        mpk_pack_id(&out->pk, &idx->collective);
        mpk_pack_str(&out->pk, idx->building ? "building" : idx->measuring ? "measuring"
                               : idx->ef ? "ready" : "scan");
        mpk_pack_u64(&out->pk, annidx_count(idx));
        mpk_pack_u64(&out->pk, idx->covered);
        mpk_pack_u64(&out->pk, idx->building ? idx->build_total : annidx_count(idx));
        mpk_pack_u64(&out->pk, idx->ef);
        mpk_pack_double(&out->pk, idx->recall);
        mpk_pack_u64(&out->pk, annidx_removed(idx));
        mpk_pack_u64(&out->pk, idx->rebuilds);
        const annidx_t *next = idx->rebuild;
        if (!next) {
            mpk_pack_nil(&out->pk);
            continue;
        }
        mpk_pack_array(&out->pk, 3);
        mpk_pack_str(&out->pk, next->building ? "building" : next->measuring ? "measuring"
                               : "ready");
        mpk_pack_u64(&out->pk, annidx_count(next));
        mpk_pack_u64(&out->pk, next->build_total);
    }
    return 0;
}

static int
s_run(s_svc_t *self, const handlers_request_t *req, mpk_out_t *out, char why[PDB_ERRMSG_MAX])
{
    if (req->op_len == strlen("ann_status") && !memcmp(req->op, "ann_status", req->op_len))
        return s_status(self, out);
    if (req->op_len != strlen("ann_search") || memcmp(req->op, "ann_search", req->op_len))
        return WHY(PDB_EINVAL, "unknown operation '%.*s' on the search socket",
                   (int) (req->op_len < 64 ? req->op_len : 64), req->op);
    s_search_args_t a;
    int rc = s_search_args(req->args, &a, why);
    if (rc)
        return rc;
    MDB_txn *txn;
    rc = store_read_begin(self->node->store, &txn);
    if (rc)
        return rc;
    rc = s_search_in(self, txn, &a, out, why);
    mdb_txn_abort(txn);
    return rc;
}

static void
s_serve_one(s_svc_t *self)
{
    zmsg_t *msg = zmsg_recv(self->router);
    if (!msg)
        return;
    zframe_t *identity = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    char why[PDB_ERRMSG_MAX] = "";
    mpk_out_t result;
    mpk_out_init(&result);
    handlers_request_t req = { 0 };
    msgpack_unpacked u;
    int rc = !identity || !body || zmsg_size(msg) != 0
             ? WHY(PDB_EPROTO, "a request is one frame")
             : handlers_parse(zframe_data(body), zframe_size(body), &u, &req, why);
    if (!rc) {
        rc = s_run(self, &req, &result, why);
        msgpack_unpacked_destroy(&u);
    }
    if (!rc)
        rc = mpk_out_status(&result);
    if (rc && !why[0])
        snprintf(why, sizeof why, "%s", pdb_strerror(rc));
    mpk_out_t out;
    mpk_out_init(&out);
    sproto_pack_reply(&out.pk, req.request_id, rc, why, rc ? NULL : result.buf.data,
                      rc ? 0 : result.buf.size);
    if (identity && mpk_out_status(&out) == 0) {
        zmsg_t *reply = zmsg_new();
        zmsg_append(reply, &identity);
        zmsg_addmem(reply, out.buf.data, out.buf.size);
        if (zmsg_send(&reply, self->router) != 0)
            zmsg_destroy(&reply);
    }
    mpk_out_release(&out);
    mpk_out_release(&result);
    zframe_destroy(&identity);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
}

//  --------------------------------------------------------------------------
//  Start and stop

//  Reads back every saved index; one that does not read is dropped and
//  built again in the background.
static void
s_load_all(s_svc_t *self)
{
    DIR *d = opendir(self->dir);
    if (!d)
        return;
    struct dirent *e;
    MDB_txn *txn;
    if (store_read_begin(self->node->store, &txn) != 0) {
        closedir(d);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        pdb_id_t collective;
        if (len != PDB_ID_STR_LEN + 4 || strcmp(e->d_name + PDB_ID_STR_LEN, ".map")
            || pdb_id_parse(e->d_name, PDB_ID_STR_LEN, &collective) != 0)
            continue;
        uint32_t dim;
        if (store_collective_dim(self->node->store, txn, &collective, &dim) != 0) {
            annidx_unlink(self->dir, &collective);
            continue;
        }
        annidx_t *idx = NULL;
        int rc = annidx_load(self->dir, &collective, dim, &self->node->instance_id, &idx);
        if (!rc && (rc = annidx_locate(idx, self->node->store, txn)) != 0)
            annidx_destroy(&idx);
        if (!rc && (rc = s_keep(self, idx)) != 0)
            annidx_destroy(&idx);
        if (!rc) {
            //  As fresh as a save: the next is due an interval from now (the
            //  WAL holds what comes meanwhile), not at the first change.
            idx->saved_us = clock_mono_us();
            log_i("search", "index loaded collective=%.*s vectors=%zu removed=%zu covered=%llu "
                  "ef=%u", PDB_ID_STR_LEN, e->d_name, annidx_count(idx), annidx_removed(idx),
                  (unsigned long long) idx->covered, idx->ef);
            if (idx->measured_at == 0)
                s_measure_start(idx);
            continue;
        }
        log_w("search", "index not loaded collective=%.*s rc=%d (%s): building it again",
              PDB_ID_STR_LEN, e->d_name, rc, pdb_strerror(rc));
        annidx_unlink(self->dir, &collective);
        vecblock_head_t head = { 0 };
        if (vecblock_head_get(self->node->store, txn, &collective, &head) == 0)
            (void) s_start_build(self, txn, &collective, dim);
    }
    mdb_txn_abort(txn);
    closedir(d);
}

typedef struct {
    node_t *node;
    size_t threshold;
    uint32_t ef_floor;
    int rc;                 // the actor's start: 0, or why it could not bind
} s_args_t;

struct annsvc {
    zactor_t *actor;
    s_args_t args;
};

static void
s_actor(zsock_t *pipe, void *arg)
{
    s_args_t *args = arg;
    s_svc_t self = { .node = args->node, .threshold = args->threshold,
                     .ef_floor = args->ef_floor, .pipe = pipe };
    snprintf(self.dir, sizeof self.dir, "%s/%s", args->node->data_dir, ANNIDX_DIR);
    char endpoint[PATH_MAX + 16];
    self.router = zsock_new(ZMQ_ROUTER);
    int rc = self.router ? server_ipc_endpoint(args->node->data_dir, SPROTO_SEARCH, endpoint,
                                               sizeof endpoint) : -ENOMEM;
    if (!rc) {
        zsock_set_maxmsgsize(self.router, (int) PDB_MSG_MAX);
        zsock_set_linger(self.router, 0);
        zsock_set_sndtimeo(self.router, 0);
        rc = zsock_bind(self.router, "%s", endpoint) < 0 || chmod(endpoint + 6, 0600) != 0
             ? PDB_EUNAVAIL : 0;
    }
    if (rc) {
        log_e("search", "cannot bind the search socket rc=%d", rc);
        zsock_destroy(&self.router);
        args->rc = rc;
        zsock_signal(pipe, 0);
        return;
    }
    zsock_signal(pipe, 0);
    s_load_all(&self);
    zpoller_t *poller = zpoller_new(pipe, self.router, NULL);
    bool busy = self.n > 0;
    while (poller) {
        void *which = zpoller_wait(poller, busy ? 0 : 100);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool term = !command || streq(command, "$TERM");
            zstr_free(&command);
            if (term)
                break;
        }
        else if (which == self.router)
            s_serve_one(&self);
        else if (zpoller_terminated(poller))
            break;
        busy = s_work(&self);
    }
    zpoller_destroy(&poller);
    for (size_t i = 0; i < self.n; i++) {
        s_save_finish(&self);
        if (!self.idx[i]->building && (self.idx[i]->changes_since_save
                                       || self.idx[i]->save_wanted))
            s_save(&self, self.idx[i]);
        s_save_finish(&self);
        annidx_destroy(&self.idx[i]);
    }
    free(self.idx);
    zsock_destroy(&self.router);
}

annsvc_t *
annsvc_new(node_t *node, size_t threshold, uint32_t ef_floor)
{
    annsvc_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->args = (s_args_t) { node, threshold, ef_floor, 0 };
    //  zactor_new returns once the actor has signalled: bound, or not.
    self->actor = zactor_new(s_actor, &self->args);
    if (!self->actor || self->args.rc) {
        zactor_destroy(&self->actor);
        free(self);
        return NULL;
    }
    return self;
}

void
annsvc_destroy(annsvc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zactor_destroy(&(*self_p)->actor);
    free(*self_p);
    *self_p = NULL;
}
