//  ann.cpp - ann.h over hnswlib. The only C++ in the project: exceptions
//  stop here and become return codes.
extern "C" {
#include "ann.h"
#include "bounds.h"
#include "err.h"
#include "vecblock.h"
}

//  hnswlib's SSE paths prefetch each neighbour's node while it scores the
//  one before: searches take a fifth less time and builds a third less
//  (BENCHMARKS.md, "Prefetching in the graph"). To find the next address
//  they read the entry one past a link list, which for a full list of an
//  upper layer is 4 bytes past that layer's allocation: the value only
//  feeds a prefetch, which cannot fault, and the bytes are the heap's own,
//  but AddressSanitizer rightly reports the read, so sanitizer builds turn
//  the paths off. Their SIMD distances go unused either way: the distance
//  is ours (s_code_space).
#if defined(__SANITIZE_ADDRESS__)              // gcc
#define NO_MANUAL_VECTORIZATION
#elif defined(__has_feature)                   // clang (the fuzzers)
#if __has_feature(address_sanitizer)
#define NO_MANUAL_VECTORIZATION
#endif
#endif
#include <hnswlib/hnswlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <sys/mman.h>
#include <sys/stat.h>
#include <cstring>
#include <atomic>
#include <new>
#include <thread>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef hnswlib::HierarchicalNSW<float> s_hnsw_t;

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25                       // Linux 6.1; older headers lack it
#endif

//  A search visits a few hundred nodes scattered over the whole graph (721
//  MB for a million 384-dimension vectors): with 4 KiB pages nearly every
//  visit also misses the TLB. Asks the kernel to back the nodes with 2 MiB
//  pages: pages touched later are huge from their first fault, and with
//  `collapse` those already filled (a loaded index) are merged now. Only a
//  hint: a kernel without transparent huge pages, or that cannot find free
//  huge pages, leaves them small, and nothing else changes.
static void
s_huge_pages(const s_hnsw_t *h, bool collapse)
{
    const size_t page = 4096;
    uintptr_t start = ((uintptr_t) h->data_level0_memory_ + page - 1) & ~(uintptr_t) (page - 1);
    uintptr_t end = ((uintptr_t) h->data_level0_memory_
                     + h->max_elements_ * h->size_data_per_element_) & ~(uintptr_t) (page - 1);
    if (!h->data_level0_memory_ || end <= start)
        return;
    if (madvise((void *) start, end - start, MADV_HUGEPAGE) == 0 && collapse)
        (void) madvise((void *) start, end - start, MADV_COLLAPSE);
}

//  A node holds its unit vector u in 8 bits, as the search layout's codes
//  (vecblock.h): the scale a = max |u_i| / 127, codes c_i = round(u_i / a)
//  in -127..127, then a itself. That is dim + 4 bytes instead of 4 dim, so
//  the graph takes well under half the memory and a search moves a quarter
//  of the bytes. The cosine it ranks by, a_u a_v (c_u . c_v), is within
//  about 1e-3 of the exact one; it only chooses candidates, and callers
//  score the hits they keep exactly (annquery.h).
static size_t
s_code_len(uint32_t dim)
{
    return (size_t) dim + sizeof(float);
}

static float
s_code_scale(const void *code, size_t dim)
{
    float a;
    std::memcpy(&a, (const char *) code + dim, sizeof a);
    return a;
}

static int32_t
s_dot_codes_base(const int8_t *a, const int8_t *b, size_t dim)
{
    int32_t sum = 0;
    for (size_t i = 0; i < dim; i++)
        sum += (int32_t) a[i] * b[i];
    return sum;
}

#if defined(__x86_64__)
//  16 codes a step, widened to 16 bits and multiplied into 32-bit sums.
__attribute__((target("avx2"))) static int32_t
s_dot_codes_avx2(const int8_t *a, const int8_t *b, size_t dim)
{
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (a + i)));
        __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b + i)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
    }
    int32_t lanes[8];
    _mm256_storeu_si256((__m256i *) lanes, acc);
    int32_t sum = 0;
    for (int j = 0; j < 8; j++)
        sum += lanes[j];
    for (; i < dim; i++)
        sum += (int32_t) a[i] * b[i];
    return sum;
}
#endif

//  hnswlib's distance over two nodes, with one of the dot products above.
template <int32_t (*dot)(const int8_t *, const int8_t *, size_t)>
static float
s_distance(const void *a, const void *b, const void *param)
{
    size_t dim = *(const size_t *) param;
    return 1.0f - s_code_scale(a, dim) * s_code_scale(b, dim)
                  * (float) dot((const int8_t *) a, (const int8_t *) b, dim);
}

class s_code_space : public hnswlib::SpaceInterface<float> {
    size_t dim_;
    hnswlib::DISTFUNC<float> func_;
public:
    explicit s_code_space(size_t dim) : dim_(dim), func_(s_distance<s_dot_codes_base>)
    {
#if defined(__x86_64__)
        if (__builtin_cpu_supports("avx2"))
            func_ = s_distance<s_dot_codes_avx2>;
#endif
    }
    size_t get_data_size() override { return s_code_len((uint32_t) dim_); }
    hnswlib::DISTFUNC<float> get_dist_func() override { return func_; }
    void *get_dist_func_param() override { return &dim_; }
};

struct ann {
    uint32_t dim;
    s_code_space space;                 // must outlive index
    s_hnsw_t *index;
    size_t live;
    explicit ann(uint32_t d) : dim(d), space(d), index(nullptr), live(0) {}
};

//  The node of v (dim float32 at any alignment): the search layout's codes
//  of it (vecblock_quantize), unbiased, then its scale. False for a zero
//  or non-finite vector, which has no direction (its scale is 0).
static bool
s_encode(const void *v, uint32_t dim, std::vector<int8_t> &out)
{
    std::vector<uint8_t> codes(dim);
    float scale, error;
    vecblock_quantize(v, dim, codes.data(), &scale, &error);
    if (!(scale > 0.0f))
        return false;
    out.resize(s_code_len(dim));
    for (uint32_t i = 0; i < dim; i++)
        out[i] = (int8_t) ((int) codes[i] - VECBLOCK_CODE_BIAS);
    std::memcpy(out.data() + dim, &scale, sizeof scale);
    return true;
}

extern "C" int
ann_new(uint32_t dim, size_t capacity, uint32_t m, uint32_t ef_construction, ann_t **out)
{
    if (dim == 0 || dim > PDB_DIM_MAX || m < 2 || m > 128 || ef_construction == 0
        || ef_construction > ANN_EF_MAX)
        return PDB_EINVAL;
    ann_t *self = nullptr;
    try {
        self = new ann(dim);
        self->index = new s_hnsw_t(&self->space, capacity ? capacity : 1, m, ef_construction);
        s_huge_pages(self->index, false);
    }
    catch (...) {
        delete self;
        return -ENOMEM;
    }
    *out = self;
    return 0;
}

extern "C" void
ann_destroy(ann_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    delete (*self_p)->index;
    delete *self_p;
    *self_p = nullptr;
}

extern "C" int
ann_add(ann_t *self, uint64_t label, const void *vector)
{
    std::vector<int8_t> code;
    if (!s_encode(vector, self->dim, code))
        return PDB_EINVAL;
    s_hnsw_t *h = self->index;
    //  hnswlib would silently replace a vector under a label it holds.
    if (h->label_lookup_.count((hnswlib::labeltype) label))
        return PDB_EINVAL;
    try {
        if (h->cur_element_count >= h->max_elements_) {
            h->resizeIndex(h->max_elements_ * 2);
            s_huge_pages(h, false);
        }
        h->addPoint(code.data(), (hnswlib::labeltype) label);
    }
    catch (...) {
        return -ENOMEM;
    }
    self->live++;
    return 0;
}

extern "C" int
ann_add_many(ann_t *self, const uint64_t *labels, const void *const *vectors, size_t n,
             unsigned threads)
{
    if (threads < 1 || threads > 16)
        return PDB_EINVAL;
    s_hnsw_t *h = self->index;
    try {
        size_t want = h->cur_element_count + n;
        if (want > h->max_elements_) {
            h->resizeIndex(want > 2 * h->max_elements_ ? want : 2 * h->max_elements_);
            s_huge_pages(h, false);
        }
    }
    catch (...) {
        return -ENOMEM;
    }
    //  hnswlib's inserts lock what they touch, so threads may insert at once.
    std::atomic<int> rc(0);
    std::atomic<size_t> next(0), added(0);
    auto work = [&]() {
        std::vector<int8_t> code;
        for (size_t i; rc.load() == 0 && (i = next.fetch_add(1)) < n;) {
            if (!s_encode(vectors[i], self->dim, code)) {
                rc.store(PDB_EINVAL);
                break;
            }
            try {
                h->addPoint(code.data(), (hnswlib::labeltype) labels[i]);
                added.fetch_add(1);
            }
            catch (...) {
                rc.store(-ENOMEM);
            }
        }
    };
    std::vector<std::thread> pool;
    try {
        for (unsigned t = 1; t < threads; t++)
            pool.emplace_back(work);
    }
    catch (...) {
        //  Fewer threads than asked: the ones running, and this one, do it all.
    }
    work();
    for (auto &t : pool)
        t.join();
    self->live += added.load();
    return rc.load();
}

extern "C" int
ann_remove(ann_t *self, uint64_t label)
{
    try {
        self->index->markDelete((hnswlib::labeltype) label);
    }
    catch (...) {
        return PDB_ENOTFOUND;        // unknown, or removed already
    }
    self->live--;
    return 0;
}

//  hnswlib's searchKnn with the request's ef instead of the index-wide
//  one, so concurrent searches with different ef need no lock: a greedy
//  walk down the upper layers, then the base layer with ef candidates.
static void
s_search(const s_hnsw_t *h, const void *q, size_t k, size_t ef, ann_hit_t *hits, size_t *n)
{
    hnswlib::tableint cur = h->enterpoint_node_;
    float curdist = h->fstdistfunc_(q, h->getDataByInternalId(cur), h->dist_func_param_);
    for (int level = h->maxlevel_; level > 0; level--) {
        for (bool changed = true; changed;) {
            changed = false;
            unsigned int *data = (unsigned int *) h->get_linklist(cur, level);
            int size = h->getListCount(data);
            hnswlib::tableint *links = (hnswlib::tableint *) (data + 1);
            for (int i = 0; i < size; i++) {
                float d = h->fstdistfunc_(q, h->getDataByInternalId(links[i]), h->dist_func_param_);
                if (d < curdist) {
                    curdist = d;
                    cur = links[i];
                    changed = true;
                }
            }
        }
    }
    size_t width = ef > k ? ef : k;
    auto top = h->num_deleted_ ? h->searchBaseLayerST<true>(cur, q, width)
                               : h->searchBaseLayerST<false>(cur, q, width);
    while (top.size() > k)
        top.pop();
    *n = top.size();
    for (size_t i = *n; i-- > 0; top.pop()) {
        hits[i].label = (uint64_t) h->getExternalLabel(top.top().second);
        hits[i].score = 1.0f - top.top().first;          // distance is 1 - cosine
    }
}

extern "C" int
ann_search(const ann_t *self, const float *query, size_t k, size_t ef, ann_hit_t *hits,
           size_t *n)
{
    *n = 0;
    std::vector<int8_t> code;
    if (k == 0 || ef == 0 || ef > ANN_EF_MAX || !s_encode(query, self->dim, code))
        return PDB_EINVAL;
    if (self->index->cur_element_count == 0)
        return 0;
    try {
        s_search(self->index, code.data(), k, ef, hits, n);
    }
    catch (...) {
        return -ENOMEM;
    }
    return 0;
}

extern "C" size_t
ann_count(const ann_t *self)
{
    return self->live;
}

extern "C" size_t
ann_removed(const ann_t *self)
{
    return self->index->num_deleted_;
}

extern "C" size_t
ann_memory_bytes(const ann_t *self)
{
    const s_hnsw_t *h = self->index;
    size_t bytes = h->max_elements_ * (h->size_data_per_element_ + sizeof(void *)
                                       + sizeof(int) + sizeof(std::mutex));
    for (size_t i = 0; i < h->cur_element_count; i++)
        bytes += (size_t) h->element_levels_[i] * h->size_links_per_element_;
    //  The label map: a node and a bucket per entry, roughly.
    return bytes + h->label_lookup_.size() * 48;
}

extern "C" int
ann_save(const ann_t *self, const char *path)
{
    //  hnswlib's saveIndex checks no stream state: open and check here.
    FILE *f = std::fopen(path, "wb");
    if (!f)
        return -errno;
    std::fclose(f);
    try {
        self->index->saveIndex(path);
    }
    catch (...) {
        return -EIO;
    }
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size == 0)
        return -EIO;
    return 0;
}

extern "C" int
ann_load(const char *path, uint32_t dim, ann_t **out)
{
    if (dim == 0 || dim > PDB_DIM_MAX)
        return PDB_EINVAL;
    ann_t *self = nullptr;
    try {
        self = new ann(dim);
    }
    catch (...) {
        return -ENOMEM;
    }
    //  hnswlib 0.6.2's loading constructor leaves num_deleted_ unset before
    //  counting into it: construct empty, set what its destructor reads,
    //  then load.
    s_hnsw_t *h = nullptr;
    try {
        h = new s_hnsw_t(&self->space);
    }
    catch (...) {
        delete self;
        return -ENOMEM;
    }
    h->num_deleted_ = 0;
    h->cur_element_count = 0;
    h->data_level0_memory_ = nullptr;
    h->linkLists_ = nullptr;
    h->visited_list_pool_ = nullptr;
    try {
        h->loadIndex(path, &self->space);
    }
    catch (...) {
        h->cur_element_count = 0;          // its link lists were never read
        delete h;
        delete self;
        return PDB_ECORRUPT;
    }
    self->index = h;
    //  The header must describe nodes of this size, or every read is off.
    size_t links0 = h->maxM0_ * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
    if (h->data_size_ != s_code_len(dim) || h->offsetData_ != links0
        || h->size_links_level0_ != links0
        || h->size_data_per_element_ != links0 + h->data_size_ + sizeof(hnswlib::labeltype)
        || h->label_offset_ != links0 + h->data_size_ || h->num_deleted_ > h->cur_element_count
        || (h->cur_element_count && h->enterpoint_node_ >= h->cur_element_count)) {
        ann_destroy(&self);
        return PDB_EINVAL;
    }
    s_huge_pages(h, true);
    self->live = self->index->cur_element_count - self->index->num_deleted_;
    *out = self;
    return 0;
}
