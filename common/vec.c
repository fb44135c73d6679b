#include "vec.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>
#if defined(__x86_64__)
#  include <immintrin.h>
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vec.c reads stored float32 little-endian vectors with native loads"
#endif

//  Each step consumes 16 floats into 16 independent partial sums (lane j
//  sums elements j, j+16, j+32, ...). Every build below keeps exactly that
//  lane layout and folds the lanes in the same order, so the AVX2 and the
//  baseline kernels return bit-identical scores: nodes with different CPUs
//  rank equal vectors the same way.
#define VEC_LANES 16

//  GCC/clang vector extensions: plain C that the compiler maps to SSE,
//  AVX2 or NEON registers; memcpy is the portable unaligned load and
//  compiles to one movups.
#if defined(__GNUC__)
#  define VEC_HAVE_EXT 1
#endif

//  Scalar tail and lane fold shared by every variant.
static void
s_finish(const float *q, const unsigned char *p, size_t i, size_t dim,
         const float lanes_dot[VEC_LANES], const float lanes_norm[VEC_LANES],
         float *dot, float *norm2)
{
    float d = 0.0f, n = 0.0f;
    for (int j = 0; j < VEC_LANES; j++) {
        d += lanes_dot[j];
        n += lanes_norm[j];
    }
    for (; i < dim; i++) {
        float x;
        memcpy(&x, p + i * sizeof(float), sizeof x);
        d += q[i] * x;
        n += x * x;
    }
    *dot = d;
    *norm2 = n;
}

#ifdef VEC_HAVE_EXT
typedef float s_v4_t __attribute__((vector_size(16)));

//  Baseline (SSE2 on x86-64, NEON on arm64): four 4-float registers per sum.
static void
s_dot_norm_v4(const float *restrict q, const void *restrict v, size_t dim, float *dot,
              float *norm2)
{
    const unsigned char *p = v;
    s_v4_t d[4] = { { 0 } }, n[4] = { { 0 } };
    size_t i = 0;
    for (; i + VEC_LANES <= dim; i += VEC_LANES) {
        for (int r = 0; r < 4; r++) {
            s_v4_t x, y;
            memcpy(&x, p + (i + 4 * r) * sizeof(float), sizeof x);
            memcpy(&y, q + i + 4 * r, sizeof y);
            d[r] += y * x;
            n[r] += x * x;
        }
    }
    float lanes_dot[VEC_LANES], lanes_norm[VEC_LANES];
    memcpy(lanes_dot, d, sizeof lanes_dot);
    memcpy(lanes_norm, n, sizeof lanes_norm);
    s_finish(q, p, i, dim, lanes_dot, lanes_norm, dot, norm2);
}
#endif

#if defined(VEC_HAVE_EXT) && defined(__x86_64__)
#  define VEC_HAVE_AVX2 1
typedef float s_v8_t __attribute__((vector_size(32)));

//  AVX2: two 8-float registers per sum, same lanes as above.
__attribute__((target("avx2"))) static void
s_dot_norm_v8(const float *restrict q, const void *restrict v, size_t dim, float *dot,
              float *norm2)
{
    const unsigned char *p = v;
    s_v8_t d[2] = { { 0 } }, n[2] = { { 0 } };
    size_t i = 0;
    for (; i + VEC_LANES <= dim; i += VEC_LANES) {
        for (int r = 0; r < 2; r++) {
            s_v8_t x, y;
            memcpy(&x, p + (i + 8 * r) * sizeof(float), sizeof x);
            memcpy(&y, q + i + 8 * r, sizeof y);
            d[r] += y * x;
            n[r] += x * x;
        }
    }
    float lanes_dot[VEC_LANES], lanes_norm[VEC_LANES];
    memcpy(lanes_dot, d, sizeof lanes_dot);
    memcpy(lanes_norm, n, sizeof lanes_norm);
    s_finish(q, p, i, dim, lanes_dot, lanes_norm, dot, norm2);
}
#endif

//  Portable reference with the same lane layout, for compilers without
//  vector extensions.
static void __attribute__((unused))
s_dot_norm_scalar(const float *q, const void *v, size_t dim, float *dot, float *norm2)
{
    const unsigned char *p = v;
    float lanes_dot[VEC_LANES] = { 0 }, lanes_norm[VEC_LANES] = { 0 };
    size_t i = 0;
    for (; i + VEC_LANES <= dim; i += VEC_LANES)
        for (int j = 0; j < VEC_LANES; j++) {
            float x;
            memcpy(&x, p + (i + j) * sizeof(float), sizeof x);
            lanes_dot[j] += q[i + j] * x;
            lanes_norm[j] += x * x;
        }
    s_finish(q, p, i, dim, lanes_dot, lanes_norm, dot, norm2);
}

static bool
s_have_avx2(void)
{
#ifdef VEC_HAVE_AVX2
    //  Reads a flag libgcc filled in at startup: cheap enough per vector.
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

void
vec_dot_norm(const float *q, const void *v, size_t dim, float *dot, float *norm2)
{
#ifdef VEC_HAVE_AVX2
    if (s_have_avx2()) {
        s_dot_norm_v8(q, v, dim, dot, norm2);
        return;
    }
#endif
#ifdef VEC_HAVE_EXT
    s_dot_norm_v4(q, v, dim, dot, norm2);
#else
    s_dot_norm_scalar(q, v, dim, dot, norm2);
#endif
}

//  Below this a float32 sum of squares may hold squares that underflowed
//  (under 2^-126) and lost digits; at or above it, what they lost is at
//  most dim * 2^-150, a relative 2^-38 for dim 4096. Also the smallest
//  query norm whose products with v the float32 kernel may sum.
#define VEC_F32_NORM2_MIN 0x1p-100f

//  q . v and v . v in double, one term at a time in index order, so every
//  CPU gets the same bits. float32 products are exact in double, and the
//  largest sum (4096 * FLT_MAX^2, about 5e80) is far from DBL_MAX.
static void
s_dot_norm_f64(const float *q, const void *v, size_t dim, double *dot, double *norm2)
{
    const unsigned char *p = v;
    double d = 0.0, n = 0.0;
    for (size_t i = 0; i < dim; i++) {
        float x;
        memcpy(&x, p + i * sizeof(float), sizeof x);
        d += (double) q[i] * (double) x;
        n += (double) x * (double) x;
    }
    *dot = d;
    *norm2 = n;
}

double
vec_norm2(const float *q, size_t dim)
{
    double dot, norm2;
    s_dot_norm_f64(q, q, dim, &dot, &norm2);
    return norm2;
}

static double
s_cosine(double dot, double q_norm2, double v_norm2)
{
    if (!(q_norm2 > 0.0) || !(v_norm2 > 0.0))
        return 0.0;
    double cosine = dot / (sqrt(q_norm2) * sqrt(v_norm2));
    //  Rounding can push a parallel pair a hair past 1.
    return cosine > 1.0 ? 1.0 : cosine < -1.0 ? -1.0 : cosine;
}

double
vec_cosine(const float *q, double q_norm2, const void *v, size_t dim)
{
    if (!(q_norm2 > 0.0))
        return 0.0;
    //  The fast path: float32 sums, as fast as memory streams. An overflow
    //  anywhere leaves an Inf or NaN in the folded sum (a lane that
    //  overflowed never comes back), so a finite dot and norm mean none
    //  happened; a norm at or above VEC_F32_NORM2_MIN means underflow cost
    //  nothing that shows. Only extreme vectors take the double pass.
    if (q_norm2 >= (double) VEC_F32_NORM2_MIN) {
        float dot, norm2;
        vec_dot_norm(q, v, dim, &dot, &norm2);
        if (isfinite(dot) && isfinite(norm2) && norm2 >= VEC_F32_NORM2_MIN)
            return s_cosine(dot, q_norm2, norm2);
    }
    double dot, norm2;
    s_dot_norm_f64(q, v, dim, &dot, &norm2);
    return s_cosine(dot, q_norm2, norm2);
}

//  --------------------------------------------------------------------------
//  8-bit codes (vecblock.h) against an 8-bit query: an integer sum, so
//  every variant returns the same value.

static int32_t
s_dot_codes_scalar(const uint8_t *c, const int8_t *q, size_t dim)
{
    int32_t sum = 0;
    for (size_t i = 0; i < dim; i++)
        sum += (int32_t) c[i] * q[i];
    return sum;
}

#ifdef VEC_HAVE_AVX2
//  vpmaddubsw multiplies unsigned by signed bytes and adds pairs into 16
//  bits, saturating: |255 * 63 * 2| = 32130 stays below 32767 because
//  query codes are kept within +-VEC_QUERY_CODE_MAX.
__attribute__((target("avx2"))) static int32_t
s_dot_codes_avx2(const uint8_t *c, const int8_t *q, size_t dim)
{
    __m256i acc = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *) (const void *) (c + i));
        __m256i y = _mm256_loadu_si256((const __m256i *) (const void *) (q + i));
        __m256i pairs = _mm256_maddubs_epi16(x, y);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
    }
    int32_t lanes[8];
    _mm256_storeu_si256((__m256i *) (void *) lanes, acc);
    int32_t sum = 0;
    for (int j = 0; j < 8; j++)
        sum += lanes[j];
    return sum + s_dot_codes_scalar(c + i, q + i, dim - i);
}
#endif

int32_t
vec_dot_codes(const uint8_t *codes, const int8_t *query, size_t dim)
{
#ifdef VEC_HAVE_AVX2
    if (s_have_avx2())
        return s_dot_codes_avx2(codes, query, dim);
#endif
    return s_dot_codes_scalar(codes, query, dim);
}

const char *
vec_isa(void)
{
    return s_have_avx2() ? "avx2" : "baseline";
}
