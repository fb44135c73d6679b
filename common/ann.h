/*  ann.h - an approximate nearest-neighbour index (HNSW) over unit
    vectors, ranked by cosine: Debian's hnswlib (libhnswlib-dev, header-only
    C++) behind a small C interface, in ann.cpp alone, so no C++ reaches the
    rest of the code. Storage's index of a collective (annidx.h) is built
    on it; bench/bench_ann.c measures it alone.

    Labels are the caller's u64 (a slot number, say). Vectors are
    normalised and kept as 8-bit codes (ann.cpp), so a node takes dim + 4
    bytes of vector; a zero vector is refused. One writer at a time (add,
    remove, save); searches may run alongside each other and alongside one
    writer (hnswlib's locks), each with its own ef.
*/
#ifndef PDB_ANN_H
#define PDB_ANN_H

#include <stddef.h>
#include <stdint.h>

//  M=24, ef_construction=200 against hnswlib's usual 16 and 100: on 200,000
//  clustered vectors, recall@10 at ef 64 is 0.983 instead of 0.948, for 4%
//  more memory (BENCHMARKS.md, "Graph settings").
#define ANN_M_DEFAULT 24                // links per node (48 on the base layer)
#define ANN_EF_CONSTRUCTION_DEFAULT 200 // candidates kept while inserting
#define ANN_EF_MAX 4096                 // bound on a request's ef
//  Hits to ask for beyond the k a caller keeps. The index ranks by 8-bit
//  codes, so a true neighbour may come just behind the k-th; a caller that
//  scores the k + ANN_SPARE hits exactly and keeps the best k loses none
//  of those it was given (annquery.h, annrecall.h).
#define ANN_SPARE 16

typedef struct ann ann_t;

typedef struct {
    uint64_t label;
    float score;            // cosine similarity, -1..1, from the codes: within about
                            // 1e-3 of the exact one, for ranking candidates
} ann_hit_t;

//  A new empty index for dim (1..4096) dimensions with room for capacity
//  vectors (it grows when full). Returns 0, PDB_EINVAL or -ENOMEM.
//  Caller frees with ann_destroy.
int  ann_new(uint32_t dim, size_t capacity, uint32_t m, uint32_t ef_construction,
             ann_t **out);
void ann_destroy(ann_t **self_p);

//  Adds vector (dim float32, any alignment) under label. Returns 0,
//  PDB_EINVAL (a zero or non-finite vector, a label already present), or
//  -ENOMEM.
int  ann_add(ann_t *self, uint64_t label, const void *vector);

//  Adds n vectors at once on `threads` threads (1..16), for building an
//  index: labels must be new and distinct, vectors non-zero and finite (the
//  caller checks; ann_add refuses what this would not). Returns 0 or
//  -ENOMEM / PDB_EINVAL (then some may have been added: destroy the index).
int  ann_add_many(ann_t *self, const uint64_t *labels, const void *const *vectors, size_t n,
                  unsigned threads);

//  Leaves label out of every later result. Returns 0 or PDB_ENOTFOUND.
int  ann_remove(ann_t *self, uint64_t label);

//  The up to k best labels for query (dim float32), best first, searching
//  with max(ef, k) candidates (ef 1..ANN_EF_MAX). hits holds k entries;
//  *n gets how many were filled. Returns 0 or PDB_EINVAL / -ENOMEM.
int  ann_search(const ann_t *self, const float *query, size_t k, size_t ef, ann_hit_t *hits,
                size_t *n);

//  Live (added and not removed) vectors, and the bytes the index holds.
size_t ann_count(const ann_t *self);
size_t ann_memory_bytes(const ann_t *self);
//  Removed vectors the graph still holds: hnswlib only marks a removed
//  node, which keeps its memory, its place in the saved file and its
//  links (searches walk through it), until the index is built again.
size_t ann_removed(const ann_t *self);

//  Writes the index to path / reads one back (for dim dimensions).
//  Returns 0, -errno, PDB_ECORRUPT or PDB_EINVAL.
int  ann_save(const ann_t *self, const char *path);
int  ann_load(const char *path, uint32_t dim, ann_t **out);

#endif
