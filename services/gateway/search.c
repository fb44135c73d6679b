#include "search.h"
#include "ann.h"
#include "json_map.h"
#include "vec.h"
#include "bounds.h"
#include "entity.h"
#include "mpk.h"
#include "vecblock.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Bounded min-heap

int
search_heap_init(search_heap_t *self, size_t k)
{
    self->hits = calloc(k ? k : 1, sizeof *self->hits);
    self->k = k;
    self->n = 0;
    return self->hits ? 0 : -ENOMEM;
}

void
search_heap_release(search_heap_t *self)
{
    free(self->hits);
    self->hits = NULL;
    self->k = self->n = 0;
}

//  >0 when a is better than b.
static int
s_better(const search_hit_t *a, const search_hit_t *b)
{
    if (a->score != b->score)
        return a->score > b->score ? 1 : -1;
    int c = pdb_id_cmp(&b->id, &a->id);
    if (c)
        return c;
    return a->pos < b->pos ? 1 : a->pos > b->pos ? -1 : 0;
}

bool
search_heap_admits(const search_heap_t *self, const search_hit_t *hit)
{
    if (self->n < self->k)
        return true;
    return self->k > 0 && s_better(hit, &self->hits[0]) > 0;
}

static void
s_swap(search_hit_t *a, search_hit_t *b)
{
    search_hit_t t = *a;
    *a = *b;
    *b = t;
}

static void
s_sift_down(search_hit_t *h, size_t n, size_t i)
{
    while (true) {
        size_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && s_better(&h[worst], &h[l]) > 0)
            worst = l;
        if (r < n && s_better(&h[worst], &h[r]) > 0)
            worst = r;
        if (worst == i)
            return;
        s_swap(&h[i], &h[worst]);
        i = worst;
    }
}

void
search_heap_offer(search_heap_t *self, const search_hit_t *hit)
{
    if (!search_heap_admits(self, hit))
        return;
    if (self->n == self->k) {
        self->hits[0] = *hit;          // replace the worst, then restore order
        s_sift_down(self->hits, self->n, 0);
        return;
    }
    size_t i = self->n++;
    self->hits[i] = *hit;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s_better(&self->hits[parent], &self->hits[i]) <= 0)
            break;
        s_swap(&self->hits[parent], &self->hits[i]);
        i = parent;
    }
}

static int
s_hit_cmp_best_first(const void *a, const void *b)
{
    return -s_better(a, b);
}

void
search_heap_sort(search_heap_t *self)
{
    qsort(self->hits, self->n, sizeof *self->hits, s_hit_cmp_best_first);
}

//  --------------------------------------------------------------------------
//  Query

static int
s_parse_k(const json_t *body, search_query_t *q, char *why)
{
    const json_t *k = json_object_get(body, "k");
    q->k = SEARCH_K_DEFAULT;
    if (!k || json_is_null(k))
        return 0;
    if (!json_is_integer(k) || json_integer_value(k) < 1
        || json_integer_value(k) > (json_int_t) PDB_SEARCH_K_MAX)
        return WHY(PDB_EINVAL, "'k' must be an integer from 1 to %u", PDB_SEARCH_K_MAX);
    q->k = (size_t) json_integer_value(k);
    return 0;
}

static int
s_parse_domain(const json_t *body, search_query_t *q, char *why)
{
    const json_t *domain = json_object_get(body, "domain");
    if (!domain || json_is_null(domain))
        return 0;
    size_t n = json_is_array(domain) ? json_array_size(domain) : 1;
    if (!json_is_array(domain) && !json_is_string(domain))
        return WHY(PDB_EINVAL, "'domain' must be a string or an array of strings");
    if (n > PDB_DOMAIN_MAX)
        return snprintf(why, PDB_ERRMSG_MAX, "'domain' has %zu entries, over the limit of %u",
                        n, PDB_DOMAIN_MAX), PDB_ETOOBIG;
    q->domains = calloc(n ? n : 1, sizeof *q->domains);
    if (!q->domains)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_is_array(domain) ? json_array_get(domain, i) : domain;
        if (!json_is_string(item))
            return WHY(PDB_EINVAL, "'domain' must hold only strings");
        q->domains[q->domain_count++] = json_string_value(item);
    }
    return 0;
}

static int
s_parse_type(const json_t *body, search_query_t *q, char *why)
{
    const json_t *type = json_object_get(body, "type");
    if (!type || json_is_null(type))
        return 0;
    if (!json_is_string(type))
        return WHY(PDB_EINVAL, "'type' must be an experience type kind");
    for (size_t i = 0; i < entity_variant_count; i++)
        if (strcmp(entity_variants[i].kind, json_string_value(type)) == 0) {
            q->type_kind = entity_variants[i].kind;
            return 0;
        }
    return WHY(PDB_EINVAL, "'type' is not a known experience type kind");
}

static int
s_parse_scalars(const json_t *body, search_query_t *q, char *why)
{
    const json_t *min = json_object_get(body, "min_importance");
    if (min && !json_is_null(min)) {
        if (!json_is_number(min) || json_number_value(min) < 0.0 || json_number_value(min) > 1.0)
            return WHY(PDB_EINVAL, "'min_importance' must be a number from 0 to 1");
        q->min_importance = json_number_value(min);
    }
    const json_t *exact = json_object_get(body, "exact");
    if (exact && !json_is_null(exact)) {
        if (!json_is_boolean(exact))
            return WHY(PDB_EINVAL, "'exact' must be true or false");
        q->exact = json_is_true(exact);
    }
    const json_t *ef = json_object_get(body, "ef");
    if (ef && !json_is_null(ef)) {
        if (!json_is_integer(ef) || json_integer_value(ef) < 1
            || json_integer_value(ef) > ANN_EF_MAX)
            return WHY(PDB_EINVAL, "'ef' must be an integer from 1 to %d", ANN_EF_MAX);
        q->ef = (size_t) json_integer_value(ef);
    }
    const json_t *archived = json_object_get(body, "include_archived");
    if (archived && !json_is_null(archived)) {
        if (!json_is_boolean(archived))
            return WHY(PDB_EINVAL, "'include_archived' must be true or false");
        q->include_archived = json_is_true(archived);
    }
    return 0;
}

static int
s_check_members(const json_t *body, char *why)
{
    static const char *const known[] = {
        "embedding", "k", "domain", "type", "min_importance", "include_archived", "exact",
        "ef", NULL
    };
    const char *key;
    json_t *value;
    json_object_foreach((json_t *) body, key, value) {
        const char *const *name = known;
        while (*name && strcmp(*name, key) != 0)
            name++;
        if (!*name)
            return WHY(PDB_EINVAL, "unknown search option '%.64s'", key);
    }
    return 0;
}

static int
s_parse_vector(const json_t *body, uint32_t dim, const jvec_vec_t *taken, search_query_t *q,
               char *why)
{
    const json_t *embedding = json_object_get(body, "embedding");
    if (!embedding)
        return WHY(PDB_EINVAL, "field 'embedding' is required");
    q->vector = malloc(PDB_DIM_MAX * sizeof *q->vector);
    if (!q->vector)
        return -ENOMEM;
    int rc = 0;
    if (taken && taken->n <= PDB_DIM_MAX) {
        memcpy(q->vector, taken->values, taken->n * sizeof *q->vector);
        q->dim = taken->n;
    }
    else
        rc = json_map_vec_from_json(embedding, "embedding", q->vector, PDB_DIM_MAX, &q->dim,
                                    why);
    if (rc)
        return rc;
    if (q->dim != dim)
        return WHY(PDB_EINVAL, "'embedding' has %zu dimensions, the collective has %u", q->dim,
                   dim);
    q->norm2 = vec_norm2(q->vector, q->dim);
    if (!(q->norm2 > 0.0))
        return WHY(PDB_EINVAL, "'embedding' must not be all zeros: a zero vector has no "
                   "direction to compare");
    return 0;
}

int
search_query_parse(const json_t *body, uint32_t dim, search_query_t *q,
                   char why[PDB_ERRMSG_MAX])
{
    return search_query_parse_taken(body, dim, NULL, q, why);
}

int
search_query_parse_taken(const json_t *body, uint32_t dim, const jvec_vec_t *taken,
                         search_query_t *q, char why[PDB_ERRMSG_MAX])
{
    memset(q, 0, sizeof *q);
    why[0] = '\0';
    if (!json_is_object(body))
        return WHY(PDB_EINVAL, "the body must be a JSON object");
    int rc = s_check_members(body, why);
    if (!rc)
        rc = s_parse_vector(body, dim, taken, q, why);
    if (!rc)
        rc = s_parse_k(body, q, why);
    if (!rc)
        rc = s_parse_domain(body, q, why);
    if (!rc)
        rc = s_parse_type(body, q, why);
    if (!rc)
        rc = s_parse_scalars(body, q, why);
    return rc;
}

void
search_query_release(search_query_t *q)
{
    free(q->vector);
    free(q->domains);
    memset(q, 0, sizeof *q);
}

//  --------------------------------------------------------------------------
//  Filters, read from the candidate's record

static bool
s_domain_matches(const msgpack_object *domain, const search_query_t *q)
{
    if (!domain || domain->type != MSGPACK_OBJECT_ARRAY)
        return false;
    for (uint32_t i = 0; i < domain->via.array.size; i++)
        for (size_t j = 0; j < q->domain_count; j++)
            if (mpk_is_str(&domain->via.array.ptr[i], q->domains[j]))
                return true;
    return false;
}

static bool
s_record_passes(const msgpack_object *record, const search_query_t *q)
{
    const msgpack_object *archived = mpk_map_get(record, "archived");
    if (!q->include_archived && archived && archived->type == MSGPACK_OBJECT_BOOLEAN
        && archived->via.boolean)
        return false;
    double importance = 0.0;
    const msgpack_object *imp = mpk_map_get(record, "importance");
    if (q->min_importance > 0.0 && (!imp || mpk_get_double(imp, &importance)
                                    || importance < q->min_importance))
        return false;
    if (q->domain_count && !s_domain_matches(mpk_map_get(record, "domain"), q))
        return false;
    if (q->type_kind) {
        const msgpack_object *kind = mpk_map_get(mpk_map_get(record, "type"), "kind");
        if (!kind || !mpk_is_str(kind, q->type_kind))
            return false;
    }
    return true;
}

static bool
s_needs_record(const search_query_t *q)
{
    return !q->include_archived || q->min_importance > 0.0 || q->domain_count || q->type_kind;
}

//  Whether the experience passes the query's filters, read from its
//  record. A missing or undecodable record means the experience is not
//  live: never a result.
bool
search_passes(store_t *store, MDB_txn *txn, const pdb_id_t *collective, const pdb_id_t *id,
              const search_query_t *q, MDB_val *record_out)
{
    MDB_val record;
    if (store_record_at(store, txn, ENT_EXPERIENCE, collective, id, &record) != 0)
        return false;
    if (record_out)
        *record_out = record;
    if (!s_needs_record(q))
        return true;
    msgpack_unpacked u;
    if (mpk_parse(record.mv_data, record.mv_size, &u) != 0)
        return false;
    bool passes = s_record_passes(&u.data, q);
    msgpack_unpacked_destroy(&u);
    return passes;
}

//  --------------------------------------------------------------------------
//  Scans

//  Exact search over the block layout (vecblock.h) in two passes.
//
//  1. Every live slot's 8-bit codes are scored against the query in 8 bits:
//     an estimate of its cosine with a bound on how far off it can be
//     (the slot's error bound, the query's own rounding, and
//     SEARCH_ROUNDING_SLACK for float32 rounding in the exact score). The
//     k best lower bounds among experiences that pass the filters give a
//     threshold; a slot whose upper bound is below it cannot be in the top
//     k. The rest are candidates.
//  2. Candidates, best upper bound first, are scored exactly from their
//     float32 vectors, as the one-pass scan would, until the next upper
//     bound falls below the k-th exact score.
//
//  Pass 1 reads a quarter of the bytes (dim codes + 8 bytes per vector
//  against 4 * dim) and pass 2 a few hundred vectors, so the scan runs at
//  about four times the speed memory could stream the float32 vectors;
//  the results are those of scoring every vector exactly.

//  Bounds the float32 kernel's rounding in the exact score (a few 1e-6 for
//  4096 dimensions; vec.h) and the estimate's own arithmetic, with room.
#define SEARCH_ROUNDING_SLACK 2e-4

//  Codes this many slots ahead are asked for before they are scored: the
//  hardware prefetcher stops at each 4 KiB page.
#define SEARCH_PREFETCH_BYTES 1024

typedef struct {
    int8_t codes[PDB_DIM_MAX];
    int32_t bias;           // VECBLOCK_CODE_BIAS * sum of codes: stored codes are biased
    double unit;            // query scale / |q|: turns a code product into a cosine
    double rounding;        // |q - scale * codes| / |q|
} s_qcodes_t;

static void
s_query_codes(const search_query_t *q, s_qcodes_t *out)
{
    double top = 0.0, norm = sqrt(q->norm2);
    for (size_t i = 0; i < q->dim; i++)
        top = fabs((double) q->vector[i]) > top ? fabs((double) q->vector[i]) : top;
    double scale = top / VEC_QUERY_CODE_MAX, err2 = 0.0;
    int32_t sum = 0;
    for (size_t i = 0; i < q->dim; i++) {
        double c = nearbyint((double) q->vector[i] / scale);
        c = c > VEC_QUERY_CODE_MAX ? VEC_QUERY_CODE_MAX : c < -VEC_QUERY_CODE_MAX ? -VEC_QUERY_CODE_MAX : c;
        out->codes[i] = (int8_t) c;
        sum += (int32_t) c;
        double r = (double) q->vector[i] - c * scale;
        err2 += r * r;
    }
    out->bias = VECBLOCK_CODE_BIAS * sum;
    out->unit = scale / norm;
    out->rounding = sqrt(err2) / norm * (1.0 + 1e-9);
}

typedef struct {
    const uint8_t *id;
    const void *vector;
    uint64_t pos;
    double upper;
    bool passes;            // the filters were read and passed
} s_cand_t;

typedef struct {
    s_cand_t *items;
    size_t n, cap;
} s_cands_t;

static int
s_cands_push(s_cands_t *c, const s_cand_t *item)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        s_cand_t *items = realloc(c->items, cap * sizeof *items);
        if (!items)
            return -ENOMEM;
        c->items = items;
        c->cap = cap;
    }
    c->items[c->n++] = *item;
    return 0;
}

static int
s_cand_cmp_upper_first(const void *a, const void *b)
{
    double x = ((const s_cand_t *) a)->upper, y = ((const s_cand_t *) b)->upper;
    return x < y ? 1 : x > y ? -1 : 0;
}

static bool
s_filter(store_t *store, MDB_txn *txn, const pdb_id_t *collective, const uint8_t *id,
         const search_query_t *q)
{
    pdb_id_t eid;
    memcpy(eid.b, id, PDB_ID_LEN);
    return search_passes(store, txn, collective, &eid, q, NULL);
}

typedef struct {
    store_t *store;
    MDB_txn *txn;
    const pdb_id_t *collective;
    const search_query_t *q;
    bool needs_record;
    s_qcodes_t qc;
    search_heap_t lower;    // the k best lower bounds that pass the filters
    s_cands_t cands;
} s_scan_t;

//  Pass 1 over one block.
static int
s_scan_codes(s_scan_t *s, const vecblock_t *block, uint64_t *pos)
{
    size_t dim = block->dim;
    for (uint32_t i = 0; i < block->count; i++, (*pos)++) {
        __builtin_prefetch(vecblock_slot_codes(block, i) + SEARCH_PREFETCH_BYTES);
        float scale, error;
        vecblock_slot_quant(block, i, &scale, &error);
        if (error < 0.0f)
            continue;                       // cleared
        int32_t dot = vec_dot_codes(vecblock_slot_codes(block, i), s->qc.codes, dim);
        double estimate = (double) (dot - s->qc.bias) * scale * s->qc.unit;
        double slack = error + s->qc.rounding * (1.0 + error) + SEARCH_ROUNDING_SLACK;
        s_cand_t cand = { vecblock_slot_id(block, i), vecblock_slot_vector(block, i), *pos,
                          estimate + slack, false };
        if (s->lower.n == s->lower.k && cand.upper < s->lower.hits[0].score)
            continue;
        search_hit_t low = { .score = estimate - slack, .pos = *pos };
        memcpy(low.id.b, cand.id, PDB_ID_LEN);
        if (search_heap_admits(&s->lower, &low)) {
            //  Only an experience that passes may raise the threshold.
            cand.passes = !s->needs_record
                          || s_filter(s->store, s->txn, s->collective, cand.id, s->q);
            if (!cand.passes)
                continue;
            search_heap_offer(&s->lower, &low);
        }
        int rc = s_cands_push(&s->cands, &cand);
        if (rc)
            return rc;
    }
    return 0;
}

//  Pass 2: exact scores of the candidates that can still be in the top k.
static void
s_rescore(s_scan_t *s, search_heap_t *heap)
{
    if (s->cands.n == 0)
        return;                             // qsort must not see the NULL of an empty list
    qsort(s->cands.items, s->cands.n, sizeof *s->cands.items, s_cand_cmp_upper_first);
    for (size_t i = 0; i < s->cands.n; i++) {
        const s_cand_t *c = &s->cands.items[i];
        if (heap->n == heap->k && c->upper < heap->hits[0].score)
            break;                          // nothing after it can enter
        search_hit_t hit = { .pos = c->pos };
        hit.score = vec_cosine(s->q->vector, s->q->norm2, c->vector, s->q->dim);
        memcpy(hit.id.b, c->id, PDB_ID_LEN);
        if (search_heap_admits(heap, &hit)
            && (c->passes || !s->needs_record
                || s_filter(s->store, s->txn, s->collective, c->id, s->q)))
            search_heap_offer(heap, &hit);
    }
}

//  Pass 1 over every block, one block ahead: its first bytes are asked
//  for while the one before is scored, so the step to a new run of pages
//  does not stall. Returns PDB_ENOTFOUND at the end, as the iterator does.
static int
s_scan_all_codes(s_scan_t *s, vecblock_iter_t *it)
{
    uint32_t number = 0;
    MDB_val next = { 0, NULL };
    int rc = vecblock_iter_next_raw(it, &number, &next);
    uint64_t pos = 0;
    while (rc == 0) {
        MDB_val val = next;
        uint32_t this_number = number;
        rc = vecblock_iter_next_raw(it, &number, &next);
        for (size_t off = 0; rc == 0 && off < SEARCH_PREFETCH_BYTES; off += 64)
            __builtin_prefetch((const uint8_t *) next.mv_data + off);
        vecblock_t block;
        int drc = vecblock_decode(this_number, &val, &block);
        //  A block of another size cannot be from this collective's rules.
        if (!drc && block.dim == s->q->dim)
            drc = s_scan_codes(s, &block, &pos);
        if (drc)
            return drc;
    }
    return rc;
}

static int
s_scan_blocks(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
              const search_query_t *q, search_heap_t *heap)
{
    s_scan_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->store = store;
    s->txn = txn;
    s->collective = collective;
    s->q = q;
    s->needs_record = s_needs_record(q);
    s_query_codes(q, &s->qc);
    int rc = search_heap_init(&s->lower, q->k);
    vecblock_iter_t it = { 0 };
    if (!rc)
        rc = vecblock_iter_open(store, txn, collective, &it);
    if (!rc)
        rc = s_scan_all_codes(s, &it);
    vecblock_iter_close(&it);
    if (rc == PDB_ENOTFOUND)
        rc = 0;
    if (!rc)
        s_rescore(s, heap);
    search_heap_release(&s->lower);
    free(s->cands.items);
    free(s);
    return rc;
}

int
search_collective_each(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                       const search_query_t *q, search_heap_t *heap)
{
    store_iter_t it;
    int rc = store_records(store, txn, ENT_EXPERIENCE, collective, &it);
    uint64_t pos = 0;
    search_hit_t hit = { .pos = 0 };
    MDB_val record, val;
    for (; !rc && (rc = store_next(&it, NULL, &hit.id, &record)) == 0; pos++) {
        rc = store_embedding_get(store, txn, collective, &hit.id, &val);
        if (rc == PDB_ENOTFOUND) {
            rc = 0;
            continue;
        }
        //  A vector of another size cannot be from this collective's rules;
        //  skip it rather than read past its end.
        if (rc || val.mv_size != q->dim * sizeof(float))
            continue;
        hit.pos = pos;
        hit.score = vec_cosine(q->vector, q->norm2, val.mv_data, q->dim);
        if (search_heap_admits(heap, &hit) && search_passes(store, txn, collective, &hit.id, q, NULL))
            search_heap_offer(heap, &hit);
    }
    store_iter_close(&it);
    return rc == PDB_ENOTFOUND ? 0 : rc;
}

int
search_collective(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                  const search_query_t *q, search_heap_t *heap)
{
    int rc = vecblock_ready(store, txn) ? s_scan_blocks(store, txn, collective, q, heap)
                                        : search_collective_each(store, txn, collective, q, heap);
    if (!rc)
        search_heap_sort(heap);
    return rc;
}

void
search_buffer(const float *query, size_t dim, const void *base, size_t n, search_heap_t *heap)
{
    double norm2 = vec_norm2(query, dim);
    const uint8_t *p = base;
    for (size_t i = 0; i < n; i++) {
        search_hit_t hit = { .pos = i };
        hit.score = vec_cosine(query, norm2, p + i * dim * sizeof(float), dim);
        search_heap_offer(heap, &hit);
    }
    search_heap_sort(heap);
}
