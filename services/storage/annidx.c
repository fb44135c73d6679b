#include "annidx.h"
#include "clock.h"
#include "err.h"
#include "vecblock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Labels

static uint64_t
s_id_hash(const pdb_id_t *id)
{
    uint64_t a, b;
    memcpy(&a, id->b, 8);
    memcpy(&b, id->b + 8, 8);
    uint64_t h = a ^ (b * 0x9e3779b97f4a7c15ull);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

//  The table slot holding id, or the empty slot where it would go.
static size_t
s_slot(const annidx_t *self, const pdb_id_t *id)
{
    size_t mask = self->table_cap - 1, i = (size_t) s_id_hash(id) & mask;
    while (self->table[i] && memcmp(self->ids[self->table[i] - 1].b, id->b, PDB_ID_LEN))
        i = (i + 1) & mask;
    return i;
}

//  The live label of id, or -1.
static int64_t
s_label_of(const annidx_t *self, const pdb_id_t *id)
{
    uint64_t v = self->table[s_slot(self, id)];
    return v && self->removed[v - 1] != ANNIDX_REMOVED ? (int64_t) (v - 1) : -1;
}

//  Rebuilds the table at twice the labels (at least), latest label of an
//  id winning.
static int
s_table_grow(annidx_t *self, size_t want)
{
    size_t cap = 1024;
    while (cap < 2 * want)
        cap *= 2;
    uint64_t *table = calloc(cap, sizeof *table);
    if (!table)
        return -ENOMEM;
    free(self->table);
    self->table = table;
    self->table_cap = cap;
    for (size_t label = 0; label < self->labels; label++)
        self->table[s_slot(self, &self->ids[label])] = label + 1;
    return 0;
}

//  A new label for id, the id's table entry pointing at it.
static int
s_label_new(annidx_t *self, const pdb_id_t *id, uint64_t *label)
{
    if (self->labels == self->labels_cap) {
        size_t cap = self->labels_cap ? 2 * self->labels_cap : 1024;
        pdb_id_t *ids = realloc(self->ids, cap * sizeof *ids);
        if (!ids)
            return -ENOMEM;
        self->ids = ids;
        uint8_t *removed = realloc(self->removed, cap);
        if (!removed)
            return -ENOMEM;
        self->removed = removed;
        uint64_t *locs = realloc(self->locs, cap * sizeof *locs);
        if (!locs)
            return -ENOMEM;
        self->locs = locs;
        self->labels_cap = cap;
    }
    if (2 * (self->labels + 1) > self->table_cap) {
        int rc = s_table_grow(self, self->labels + 1);
        if (rc)
            return rc;
    }
    *label = self->labels++;
    self->ids[*label] = *id;
    self->removed[*label] = ANNIDX_LIVE;
    self->locs[*label] = ANNIDX_LOC_NONE;
    self->table[s_slot(self, id)] = *label + 1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Index

int
annidx_new(const pdb_id_t *collective, uint32_t dim, size_t capacity, annidx_t **out)
{
    annidx_t *self = calloc(1, sizeof *self);
    if (!self)
        return -ENOMEM;
    self->collective = *collective;
    self->dim = dim;
    int rc = ann_new(dim, capacity, ANN_M_DEFAULT, ANN_EF_CONSTRUCTION_DEFAULT, &self->ann);
    if (!rc)
        rc = s_table_grow(self, capacity);
    if (rc) {
        annidx_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void
annidx_destroy(annidx_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    annidx_t *self = *self_p;
    annidx_destroy(&self->rebuild);
    ann_destroy(&self->ann);
    free(self->ids);
    free(self->removed);
    free(self->locs);
    free(self->table);
    free(self);
    *self_p = NULL;
}

int
annidx_new_build(store_t *store, MDB_txn *txn, const pdb_id_t *collective, uint32_t dim,
                 annidx_t **out)
{
    store_meta_t meta;
    vecblock_head_t head = { 0 };
    int rc = store_meta_read(store, txn, &meta);
    if (!rc && (rc = vecblock_head_get(store, txn, collective, &head)) == PDB_ENOTFOUND)
        rc = 0;                         // no vector yet
    annidx_t *self = NULL;
    if (!rc)
        rc = annidx_new(collective, dim, (size_t) (head.live + head.live / 8 + 16), &self);
    if (rc)
        return rc;
    self->building = true;
    self->covered = meta.wal_head;
    self->build_total = head.live;
    *out = self;
    return 0;
}

//  A vector the graph can rank: non-zero and finite.
static bool
s_has_direction(const void *vector, uint32_t dim)
{
    double norm2 = 0.0;
    for (uint32_t i = 0; i < dim; i++) {
        float x;
        memcpy(&x, (const uint8_t *) vector + (size_t) i * sizeof x, sizeof x);
        norm2 += (double) x * x;
    }
    return norm2 > 0.0 && isfinite(norm2);
}

int
annidx_flush(annidx_t *self)
{
    if (self->pending_n == 0)
        return 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cores < 1 ? 1 : cores > ANNIDX_BUILD_THREADS_MAX
                       ? ANNIDX_BUILD_THREADS_MAX : (unsigned) cores;
    if (self->pending_n < ANNIDX_BUILD_BATCH_MIN)
        threads = 1;                    // not worth starting threads for
    int rc = ann_add_many(self->ann, self->pending_labels, self->pending_vectors,
                          self->pending_n, threads);
    self->changes_since_save += self->pending_n;
    self->pending_n = 0;
    return rc;
}

static uint64_t
s_loc(uint32_t number, uint32_t slot)
{
    return (uint64_t) number << 32 | slot;
}

//  Queues id's vector (borrowed from the caller's transaction), found in
//  slot `slot` of block `number`, for the graph, unless the index holds it
//  already; a full queue is inserted.
static int
s_queue(annidx_t *self, const pdb_id_t *id, const void *vector, uint32_t number, uint32_t slot)
{
    if (s_label_of(self, id) >= 0)
        return 0;
    uint64_t label;
    int rc = s_label_new(self, id, &label);
    if (rc)
        return rc;
    self->locs[label] = s_loc(number, slot);
    if (!s_has_direction(vector, self->dim)) {
        //  A zero vector has no direction: no cosine ranks it, and the
        //  exact scan scores it 0. Hold it unranked, so counts still agree.
        self->removed[label] = ANNIDX_UNRANKED;
        self->unranked++;
        self->changes_since_save++;
        return 0;
    }
    self->pending_labels[self->pending_n] = label;
    self->pending_vectors[self->pending_n++] = vector;
    return self->pending_n == ANNIDX_BUILD_BATCH_MAX ? annidx_flush(self) : 0;
}

int
annidx_follow(annidx_t *self, store_t *store, MDB_txn *txn, const pdb_id_t *id)
{
    MDB_val vector;
    uint32_t number, slot;
    int rc = vecblock_slot_find(store, txn, &self->collective, id, &number, &slot);
    if (rc == 0) {
        rc = vecblock_vector_at(store, txn, &self->collective, number, slot, id, &vector);
        return rc == 0 && vector.mv_size == (size_t) self->dim * sizeof(float)
               ? s_queue(self, id, vector.mv_data, number, slot) : PDB_ECORRUPT;
    }
    if (rc != PDB_ENOTFOUND)
        return rc;
    int64_t label = s_label_of(self, id);
    if (label < 0)
        return 0;
    if ((rc = annidx_flush(self)) != 0)     // the label may be queued still
        return rc;
    if (self->removed[label] == ANNIDX_UNRANKED)
        self->unranked--;
    else
        (void) ann_remove(self->ann, (uint64_t) label);   // held: cannot fail
    self->removed[label] = ANNIDX_REMOVED;
    self->changes_since_save++;
    return 0;
}

int
annidx_build_step(annidx_t *self, store_t *store, MDB_txn *txn, uint64_t deadline_us,
                  bool *done)
{
    *done = false;
    vecblock_iter_t it;
    int rc = vecblock_iter_open(store, txn, &self->collective, &it);
    if (!rc)
        vecblock_iter_from(&it, self->build_next_block);
    vecblock_t block;
    while (!rc && !(rc = vecblock_iter_next(&it, &block))) {
        if (block.dim != self->dim) {
            rc = PDB_ECORRUPT;
            break;
        }
        for (uint32_t i = 0; !rc && i < block.count; i++) {
            const uint8_t *raw = vecblock_slot_id(&block, i);
            if (!raw)
                continue;
            pdb_id_t id;
            memcpy(id.b, raw, PDB_ID_LEN);
            rc = s_queue(self, &id, vecblock_slot_vector(&block, i), block.number, i);
        }
        self->build_next_block = block.number + 1;
        if (!rc && self->pending_n >= ANNIDX_BUILD_BATCH_MIN) {
            rc = annidx_flush(self);
            if (!rc && clock_mono_us() >= deadline_us)
                break;
        }
    }
    if (rc == PDB_ENOTFOUND) {
        *done = true;
        rc = 0;
    }
    int frc = annidx_flush(self);           // the queue borrows txn: insert it now
    vecblock_iter_close(&it);
    return rc ? rc : frc;
}

int
annidx_search(const annidx_t *self, const float *query, size_t k, size_t ef, pdb_id_t *ids,
              float *scores, uint64_t *locs, size_t *n)
{
    *n = 0;
    ann_hit_t *hits = malloc((k ? k : 1) * sizeof *hits);
    if (!hits)
        return -ENOMEM;
    size_t got = 0;
    int rc = ann_search(self->ann, query, k, ef, hits, &got);
    for (size_t i = 0; !rc && i < got; i++) {
        if (hits[i].label >= self->labels)
            continue;                    // cannot happen: labels only grow
        ids[*n] = self->ids[hits[i].label];
        if (locs)
            locs[*n] = self->locs[hits[i].label];
        scores[(*n)++] = hits[i].score;
    }
    free(hits);
    return rc;
}

int
annidx_sample(const annidx_t *self, store_t *store, MDB_txn *txn, uint64_t from, pdb_id_t *id,
              MDB_val *vector)
{
    if (self->labels == 0)
        return PDB_ENOTFOUND;
    for (size_t i = 0, label = (size_t) (from % self->labels); i < self->labels;
         i++, label = (label + 1) % self->labels) {
        if (self->removed[label] != ANNIDX_LIVE)
            continue;
        *id = self->ids[label];
        int rc = store_embedding_get(store, txn, &self->collective, id, vector);
        if (rc == 0 && vector->mv_size == (size_t) self->dim * sizeof(float))
            return 0;
        if (rc && rc != PDB_ENOTFOUND)
            return rc;
    }
    return PDB_ENOTFOUND;
}

size_t
annidx_count(const annidx_t *self)
{
    return ann_count(self->ann);
}

size_t
annidx_removed(const annidx_t *self)
{
    return ann_removed(self->ann);
}

//  --------------------------------------------------------------------------
//  Files

#define S_MAGIC "PDBANN1\n"
#define S_VERSION 2u        // 2: the graph holds 8-bit codes (ann.cpp); a 1 is built again

//  The map file's header (host byte order, as LMDB's own integers).
typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t dim;
    uint64_t covered;
    uint64_t labels;
    uint64_t graph_size;
    uint64_t graph_sum;
    uint64_t map_sum;           // of this header (map_sum 0) and what follows
    uint32_t ef;                // measured recall (annrecall.h)
    uint32_t reserved;
    double recall;
    uint64_t measured_at;
    uint8_t instance[PDB_ID_LEN];
    uint8_t collective[PDB_ID_LEN];
} s_header_t;

//  A checksum for damage, not for attacks: 64-bit words mixed as in
//  MurmurHash's finaliser.
static uint64_t
s_sum(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (; len; ) {
        uint64_t w = 0;
        size_t take = len < 8 ? len : 8;
        memcpy(&w, p, take);
        h ^= w + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 29;
        p += take;
        len -= take;
    }
    return h;
}

//  The map file's checksum: its header (with map_sum 0) and what follows.
static uint64_t
s_map_sum(const s_header_t *h, const pdb_id_t *ids, const uint8_t *removed, size_t n)
{
    s_header_t copy = *h;
    copy.map_sum = 0;
    return s_sum(s_sum(s_sum(0, &copy, sizeof copy), ids, n * sizeof *ids), removed, n);
}

static int
s_file_sum(const char *path, uint64_t *size, uint64_t *sum)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    static const size_t chunk = 1u << 20;
    uint8_t *buf = malloc(chunk);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    *size = 0;
    *sum = 0;
    size_t got;
    while ((got = fread(buf, 1, chunk, f)) > 0) {
        *sum = s_sum(*sum, buf, got);
        *size += got;
    }
    int rc = ferror(f) ? -EIO : 0;
    free(buf);
    fclose(f);
    return rc;
}

static void
s_path(char *out, size_t len, const char *dir, const pdb_id_t *collective, const char *ext)
{
    char id[PDB_ID_STR_LEN + 1];
    pdb_id_format(collective, id);
    snprintf(out, len, "%s/%s%s", dir, id, ext);
}

static int
s_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static int
s_write_all(FILE *f, const void *data, size_t len)
{
    return len == 0 || fwrite(data, 1, len, f) == len ? 0 : -EIO;
}

static int
s_write_map(const annidx_t *self, const char *path, const s_header_t *header)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    int rc = s_write_all(f, header, sizeof *header);
    if (!rc)
        rc = s_write_all(f, self->ids, self->labels * sizeof *self->ids);
    if (!rc)
        rc = s_write_all(f, self->removed, self->labels);
    if (!rc && (fflush(f) || fsync(fileno(f))))
        rc = -errno;
    if (fclose(f) && !rc)
        rc = -errno;
    return rc;
}

int
annidx_save(const annidx_t *self, const char *dir, const pdb_id_t *instance)
{
    char graph[PATH_MAX], graph_tmp[PATH_MAX], map[PATH_MAX], map_tmp[PATH_MAX];
    s_path(graph, sizeof graph, dir, &self->collective, ".hnsw");
    s_path(graph_tmp, sizeof graph_tmp, dir, &self->collective, ".hnsw.tmp");
    s_path(map, sizeof map, dir, &self->collective, ".map");
    s_path(map_tmp, sizeof map_tmp, dir, &self->collective, ".map.tmp");
    if (mkdir(dir, 0700) && errno != EEXIST)
        return -errno;
    s_header_t h = { .version = S_VERSION, .dim = self->dim, .covered = self->covered,
                     .labels = self->labels, .ef = self->ef, .recall = self->recall,
                     .measured_at = self->measured_at };
    memcpy(h.magic, S_MAGIC, sizeof h.magic);
    memcpy(h.instance, instance->b, PDB_ID_LEN);
    memcpy(h.collective, self->collective.b, PDB_ID_LEN);
    int rc = ann_save(self->ann, graph_tmp);
    if (!rc)
        rc = s_file_sum(graph_tmp, &h.graph_size, &h.graph_sum);
    if (!rc)
        rc = s_fsync_path(graph_tmp);
    if (!rc && rename(graph_tmp, graph))
        rc = -errno;
    if (!rc) {
        h.map_sum = s_map_sum(&h, self->ids, self->removed, self->labels);
        rc = s_write_map(self, map_tmp, &h);
    }
    if (!rc && rename(map_tmp, map))
        rc = -errno;
    if (!rc)
        rc = s_fsync_path(dir);
    if (rc) {
        (void) unlink(graph_tmp);
        (void) unlink(map_tmp);
    }
    return rc;
}

//  Reads and checks the map file into a new index's labels.
static int
s_read_map(const char *path, const pdb_id_t *collective, uint32_t dim,
           const pdb_id_t *instance, s_header_t *h, pdb_id_t **ids, uint8_t **removed)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? PDB_ENOTFOUND : -errno;
    struct stat st;
    int rc = fstat(fileno(f), &st) ? -errno : 0;
    if (!rc && fread(h, sizeof *h, 1, f) != 1)
        rc = PDB_ECORRUPT;
    if (!rc && (memcmp(h->magic, S_MAGIC, sizeof h->magic) || h->version != S_VERSION
                || h->dim != dim || memcmp(h->collective, collective->b, PDB_ID_LEN)
                || memcmp(h->instance, instance->b, PDB_ID_LEN)
                || h->labels != ((uint64_t) st.st_size - sizeof *h) / (PDB_ID_LEN + 1)
                || sizeof *h + h->labels * (PDB_ID_LEN + 1) != (uint64_t) st.st_size))
        rc = PDB_ECORRUPT;
    size_t n = rc ? 0 : (size_t) h->labels;
    *ids = rc ? NULL : malloc((n ? n : 1) * sizeof **ids);
    *removed = rc ? NULL : malloc(n ? n : 1);
    if (!rc && (!*ids || !*removed))
        rc = -ENOMEM;
    if (!rc && n && (fread(*ids, sizeof **ids, n, f) != n || fread(*removed, 1, n, f) != n))
        rc = PDB_ECORRUPT;
    if (!rc && s_map_sum(h, *ids, *removed, n) != h->map_sum)
        rc = PDB_ECORRUPT;
    fclose(f);
    if (rc) {
        free(*ids);
        free(*removed);
        *ids = NULL;
        *removed = NULL;
    }
    return rc;
}

int
annidx_load(const char *dir, const pdb_id_t *collective, uint32_t dim,
            const pdb_id_t *instance, annidx_t **out)
{
    char graph[PATH_MAX], map[PATH_MAX];
    s_path(graph, sizeof graph, dir, collective, ".hnsw");
    s_path(map, sizeof map, dir, collective, ".map");
    s_header_t h;
    pdb_id_t *ids = NULL;
    uint8_t *removed = NULL;
    int rc = s_read_map(map, collective, dim, instance, &h, &ids, &removed);
    if (rc)
        return rc;
    uint64_t size = 0, sum = 0;
    rc = s_file_sum(graph, &size, &sum);
    if (rc == -ENOENT || (!rc && (size != h.graph_size || sum != h.graph_sum)))
        rc = PDB_ECORRUPT;
    annidx_t *self = rc ? NULL : calloc(1, sizeof *self);
    if (!rc && !self)
        rc = -ENOMEM;
    if (!rc) {
        self->collective = *collective;
        self->dim = dim;
        self->covered = h.covered;
        self->ef = h.ef;
        self->recall = h.recall;
        self->measured_at = h.measured_at;
        self->ids = ids;
        self->removed = removed;
        self->labels = self->labels_cap = (size_t) h.labels;
        self->locs = malloc((self->labels_cap + 1) * sizeof *self->locs);
        if (!self->locs)
            rc = -ENOMEM;
        for (size_t i = 0; self->locs && i < self->labels; i++)
            self->locs[i] = ANNIDX_LOC_NONE;
        ids = NULL;
        removed = NULL;
        if (!rc)
            rc = ann_load(graph, dim, &self->ann);
    }
    if (!rc)
        rc = s_table_grow(self, self->labels);
    if (!rc) {
        size_t live = 0;
        for (size_t i = 0; i < self->labels; i++) {
            live += self->removed[i] == ANNIDX_LIVE;
            self->unranked += self->removed[i] == ANNIDX_UNRANKED;
            if (self->removed[i] > ANNIDX_UNRANKED)
                rc = PDB_ECORRUPT;
        }
        if (live != ann_count(self->ann))
            rc = PDB_ECORRUPT;
    }
    free(ids);
    free(removed);
    if (rc) {
        annidx_destroy(&self);
        return rc == -ENOMEM ? rc : PDB_ECORRUPT;
    }
    *out = self;
    return 0;
}

int
annidx_locate(annidx_t *self, store_t *store, MDB_txn *txn)
{
    for (size_t label = 0; label < self->labels; label++) {
        uint32_t number, slot;
        int rc = self->removed[label] == ANNIDX_REMOVED ? PDB_ENOTFOUND
               : vecblock_slot_find(store, txn, &self->collective, &self->ids[label], &number,
                                    &slot);
        if (rc && rc != PDB_ENOTFOUND)
            return rc;
        //  Not found: deleted after the save; the WAL's catch-up removes it.
        self->locs[label] = rc ? ANNIDX_LOC_NONE : s_loc(number, slot);
    }
    return 0;
}

void
annidx_unlink(const char *dir, const pdb_id_t *collective)
{
    char path[PATH_MAX];
    s_path(path, sizeof path, dir, collective, ".map");
    (void) unlink(path);
    s_path(path, sizeof path, dir, collective, ".hnsw");
    (void) unlink(path);
}
