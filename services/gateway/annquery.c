#include "annquery.h"
#include "ann.h"
#include "clock.h"
#include "log.h"
#include "mpk.h"
#include "spool.h"
#include "sproto.h"
#include "vec.h"
#include "vecblock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  The search thread answers in about a millisecond; it is busy for longer
//  only while it saves a large index. Past the timeout the gateway scans,
//  and keeps scanning for S_PAUSE_MS before it asks again.
#define S_TIMEOUT_MS 1000
#define S_PAUSE_MS 2000
#define S_K_MAX 1000
//  Extra hits asked for (ANN_SPARE): the index ranks by codes, and a few
//  archived or just-deleted ones, or a filter most experiences pass, must
//  still leave k.
#define S_FILTER_FACTOR 4

struct annquery {
    spool_t *pool;
    size_t threshold;
    _Atomic uint64_t paused_until_ms;
};

annquery_t *
annquery_new(const char *data_dir, size_t threshold)
{
    annquery_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char endpoint[4096];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/%s", data_dir, SPROTO_SEARCH);
    self->pool = spool_new(endpoint, S_TIMEOUT_MS, NULL);
    self->threshold = threshold;
    if (!self->pool)
        annquery_destroy(&self);
    return self;
}

void
annquery_destroy(annquery_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    spool_destroy(&(*self_p)->pool);
    free(*self_p);
    *self_p = NULL;
}

static bool
s_filtered(const search_query_t *q)
{
    return q->domain_count || q->type_kind || q->min_importance > 0.0;
}

//  Asks the search thread; on "ready", *result holds the reply's result
//  (caller frees) parsed into u.
static bool
s_ask(annquery_t *self, const pdb_id_t *collective, const search_query_t *q, size_t k_ask,
      msgpack_unpacked *u, void **result)
{
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 4);
    mpk_pack_id(&args.pk, collective);
    mpk_pack_bin(&args.pk, q->vector, q->dim * sizeof(float));
    mpk_pack_u64(&args.pk, k_ask);
    mpk_pack_u64(&args.pk, q->ef);         // 0: the index's measured ef
    sclient_t *client = mpk_out_status(&args) ? NULL : spool_take(self->pool);
    char why[PDB_ERRMSG_MAX] = "";
    size_t len = 0;
    int rc = client ? sclient_call(client, "ann_search", args.buf.data, args.buf.size, result,
                                   &len, why) : PDB_EUNAVAIL;
    spool_give(self->pool, client);
    mpk_out_release(&args);
    if (rc) {
        if (rc == PDB_EUNAVAIL)
            atomic_store(&self->paused_until_ms, clock_mono_ms() + S_PAUSE_MS);
        log_d("gateway", "approximate search not answered rc=%d (%s): scanning", rc, why);
        return false;
    }
    const msgpack_object *o;
    if (!*result || mpk_parse(*result, len, u) != 0)
        goto refused;
    o = &u->data;
    if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 2
        && mpk_is_str(&o->via.array.ptr[0], "ready")
        && o->via.array.ptr[1].type == MSGPACK_OBJECT_ARRAY)
        return true;
    msgpack_unpacked_destroy(u);
refused:
    free(*result);
    *result = NULL;
    return false;
}

//  A hit's vector: read straight from the block the index says it is in
//  (a slot does not move while its experience lives), which saves the
//  slot's lookup, cold at a million vectors; else, or when that slot holds
//  another experience now, looked up.
static int
s_hit_vector(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
             const msgpack_object *hit, const pdb_id_t *id, MDB_val *vector)
{
    if (hit->via.array.size == 3
        && hit->via.array.ptr[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        uint64_t loc = hit->via.array.ptr[2].via.u64;
        if (vecblock_vector_at(store, txn, collective, (uint32_t) (loc >> 32), (uint32_t) loc, id,
                               vector) == 0)
            return 0;
    }
    return store_embedding_get(store, txn, collective, id, vector);
}

//  Scores the index's hits exactly, as the exact scan scores them, so both
//  paths agree; then reads records, best score first, only until k pass:
//  the spare hits are rarely needed, and a record costs a B-tree lookup.
//  False when the reply does not read or memory runs out.
static bool
s_score_hits(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
             const search_query_t *q, const msgpack_object *hits, search_heap_t *heap,
             size_t *passed)
{
    search_heap_t scored;
    if (search_heap_init(&scored, hits->via.array.size) != 0)
        return false;
    bool ok = true;
    for (uint32_t i = 0; ok && i < hits->via.array.size; i++) {
        const msgpack_object *h = &hits->via.array.ptr[i];
        search_hit_t hit = { .pos = i };
        MDB_val vector;
        ok = h->type == MSGPACK_OBJECT_ARRAY
             && (h->via.array.size == 2 || h->via.array.size == 3)
             && mpk_get_id(&h->via.array.ptr[0], &hit.id) == 0;
        if (!ok || s_hit_vector(store, txn, collective, h, &hit.id, &vector) != 0
            || vector.mv_size != q->dim * sizeof(float))
            continue;               // deleted since the index answered
        hit.score = vec_cosine(q->vector, q->norm2, vector.mv_data, q->dim);
        search_heap_offer(&scored, &hit);
    }
    search_heap_sort(&scored);
    for (size_t i = 0; ok && i < scored.n && *passed < q->k; i++) {
        search_hit_t *hit = &scored.hits[i];
        if (search_passes(store, txn, collective, &hit->id, q, &hit->record)) {
            search_heap_offer(heap, hit);
            (*passed)++;
        }
    }
    search_heap_release(&scored);
    return ok;
}

bool
annquery_search(annquery_t *self, store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                const search_query_t *q, search_heap_t *heap)
{
    vecblock_head_t head;
    if (!self || q->exact || self->threshold == 0
        || atomic_load(&self->paused_until_ms) > clock_mono_ms()
        || vecblock_head_get(store, txn, collective, &head) != 0 || head.live < self->threshold)
        return false;
    size_t k_ask = q->k + ANN_SPARE + (s_filtered(q) ? S_FILTER_FACTOR * q->k : 0);
    k_ask = k_ask > S_K_MAX ? S_K_MAX : k_ask;
    msgpack_unpacked u;
    void *result = NULL;
    if (!s_ask(self, collective, q, k_ask, &u, &result))
        return false;
    const msgpack_object *hits = &u.data.via.array.ptr[1];
    size_t passed = 0;
    bool ok = s_score_hits(store, txn, collective, q, hits, heap, &passed);
    //  Fewer than k passed although the index had more to give: the
    //  filters are selective, and only a scan finds every match.
    if (ok && passed < q->k && hits->via.array.size >= k_ask)
        ok = false;
    msgpack_unpacked_destroy(&u);
    free(result);
    if (!ok) {
        heap->n = 0;
        return false;
    }
    search_heap_sort(heap);
    return true;
}

//  An entry's rebuild ([state, vectors, build_total] or nil) as JSON null
//  or an object; NULL when it does not read.
static json_t *
s_status_rebuild(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return json_null();
    const char *state;
    size_t state_len;
    uint64_t vectors, total;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3
        || mpk_get_str(&o->via.array.ptr[0], &state, &state_len)
        || mpk_get_u64(&o->via.array.ptr[1], &vectors)
        || mpk_get_u64(&o->via.array.ptr[2], &total))
        return NULL;
    return json_pack("{s:s%,s:I,s:I}", "state", state, state_len, "vectors",
                     (json_int_t) vectors, "build_total", (json_int_t) total);
}

//  One ann_status entry as JSON; NULL when it does not read.
static json_t *
s_status_entry(const msgpack_object *o)
{
    pdb_id_t collective;
    const char *state;
    size_t state_len;
    uint64_t vectors, covered, total, ef, removed, rebuilds;
    double recall;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 10
        || mpk_get_id(&o->via.array.ptr[0], &collective)
        || mpk_get_str(&o->via.array.ptr[1], &state, &state_len)
        || mpk_get_u64(&o->via.array.ptr[2], &vectors)
        || mpk_get_u64(&o->via.array.ptr[3], &covered)
        || mpk_get_u64(&o->via.array.ptr[4], &total) || mpk_get_u64(&o->via.array.ptr[5], &ef)
        || mpk_get_double(&o->via.array.ptr[6], &recall)
        || mpk_get_u64(&o->via.array.ptr[7], &removed)
        || mpk_get_u64(&o->via.array.ptr[8], &rebuilds))
        return NULL;
    json_t *rebuild = s_status_rebuild(&o->via.array.ptr[9]);
    if (!rebuild)
        return NULL;
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(&collective, id);
    return json_pack("{s:s,s:s%,s:I,s:I,s:I,s:I,s:f,s:I,s:I,s:o}", "collective", id, "state",
                     state, state_len, "vectors", (json_int_t) vectors, "covered_seq",
                     (json_int_t) covered, "build_total", (json_int_t) total, "ef",
                     (json_int_t) ef, "recall", recall, "removed", (json_int_t) removed,
                     "rebuilds", (json_int_t) rebuilds, "rebuild", rebuild);
}

json_t *
annquery_status(annquery_t *self)
{
    json_t *out = json_array();
    if (!out || !self || atomic_load(&self->paused_until_ms) > clock_mono_ms())
        return out;
    sclient_t *client = spool_take(self->pool);
    char why[PDB_ERRMSG_MAX] = "";
    void *result = NULL;
    size_t len = 0;
    int rc = client ? sclient_call(client, "ann_status", NULL, 0, &result, &len, why)
                    : PDB_EUNAVAIL;
    spool_give(self->pool, client);
    msgpack_unpacked u;
    if (rc || !result || mpk_parse(result, len, &u) != 0) {
        free(result);
        return out;
    }
    if (u.data.type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < u.data.via.array.size; i++) {
            json_t *entry = s_status_entry(&u.data.via.array.ptr[i]);
            if (entry && json_array_append_new(out, entry) != 0) {
                json_decref(out);
                out = NULL;
                break;
            }
        }
    msgpack_unpacked_destroy(&u);
    free(result);
    return out;
}
