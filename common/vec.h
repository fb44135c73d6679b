/*  vec.h - the float32 kernels under exact vector search (the gateway's
    scans, storage's recall measurement). Stored vectors
    come straight from the LMDB map, which only guarantees 2-byte
    alignment, so every stored vector is read with unaligned loads.

    vec.c is built with -O3 and carries an AVX2 variant next to the baseline
    (SSE2 / NEON), chosen per call from the CPU flags, so one binary runs
    fast on new machines and correctly on old ones. Both variants return
    bit-identical results.
*/
#ifndef PDB_VEC_H
#define PDB_VEC_H

#include <stddef.h>
#include <stdint.h>

//  The float32 kernel: one pass over v, *dot = q . v and *norm2 = v . v,
//  summed in float32. q holds dim floats; v holds dim little-endian
//  float32 at any alignment. Large values overflow (1e20 squared is past
//  FLT_MAX) and tiny ones underflow: scores go through vec_cosine.
void vec_dot_norm(const float *q, const void *v, size_t dim, float *dot, float *norm2);

//  q . q in double: every float32 product and any sum of 4096 of them fit,
//  so this never overflows, and no float32 square underflows to zero.
double vec_norm2(const float *q, size_t dim);

//  Cosine similarity of q (q_norm2 from vec_norm2) and v, as vec_dot_norm
//  reads them; 0 when either vector is all zeros (undefined otherwise: such
//  a vector matches nothing). Always finite, in [-1, 1], for any finite
//  float32 input: the float32 kernel's result is used only when it cannot
//  have overflowed or lost digits to underflow, else v is summed again in
//  double. The same on every CPU.
double vec_cosine(const float *q, double q_norm2, const void *v, size_t dim);

//  Query codes stay within +-VEC_QUERY_CODE_MAX so that the AVX2 kernel's
//  16-bit pair sums cannot saturate against stored codes up to 255.
#define VEC_QUERY_CODE_MAX 63

//  sum of codes[i] * query[i] over dim bytes: stored 8-bit codes
//  (vecblock.h, biased to 0..255) against a query in 8 bits (within
//  +-VEC_QUERY_CODE_MAX). Exact integer arithmetic: the same on every CPU.
int32_t vec_dot_codes(const uint8_t *codes, const int8_t *query, size_t dim);

//  The name of the clone the loader picked ("avx2" or "baseline"), for
//  benchmark lines and the startup log.
const char *vec_isa(void);

#endif
