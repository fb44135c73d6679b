/*  vec.h - the float32 kernels under exact vector search. Stored vectors
    come straight from the LMDB map, which only guarantees 2-byte
    alignment, so every stored vector is read with unaligned loads.

    vec.c is built with -O3 and carries an AVX2 variant next to the baseline
    (SSE2 / NEON), chosen per call from the CPU flags, so one binary runs
    fast on new machines and correctly on old ones. Both variants return
    bit-identical results.
*/
#ifndef GW_VEC_H
#define GW_VEC_H

#include <stddef.h>

//  One pass over v: *dot = q . v and *norm2 = v . v. q holds dim floats;
//  v holds dim little-endian float32 at any alignment.
void vec_dot_norm(const float *q, const void *v, size_t dim, float *dot, float *norm2);

//  q . q
float vec_norm2(const float *q, size_t dim);

//  Cosine similarity from the parts above; 0 when either vector is zero
//  (undefined otherwise, and such a vector matches nothing).
double vec_cosine(float dot, float q_norm2, float v_norm2);

//  The name of the clone the loader picked ("avx2" or "baseline"), for
//  benchmark lines and the startup log.
const char *vec_isa(void);

#endif
