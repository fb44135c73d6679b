/*  bench_jvec - reading a create body's embedding: the general path
    (jansson parses the whole body, a value per number, then each becomes a
    float32) against the fast path (common/jvec.h reads the numbers, jansson
    parses the rest), for a 384-dimension body of short decimals (0.1234)
    and one of 17-digit shortest doubles (what most clients print).

    bench_jvec [ITERATIONS]
    One line per case: microseconds per body and nanoseconds per number.
*/
#include "bounds.h"
#include "json_map.h"
#include "jvec.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_DIM 384

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static size_t
s_body(char *body, size_t cap, bool long_digits)
{
    size_t n = (size_t) snprintf(body, cap, "{\"content\":\"benchmark experience\",\"embedding\":[");
    srand(1);
    for (int i = 0; i < BENCH_DIM; i++) {
        double x = (double) (rand() % 20000 - 10000) / 10000.0;
        if (long_digits)
            n += (size_t) snprintf(body + n, cap - n, "%s%.17g", i ? "," : "", (double) (float) x);
        else
            n += (size_t) snprintf(body + n, cap - n, "%s%.4f", i ? "," : "", x);
    }
    n += (size_t) snprintf(body + n, cap - n, "],\"importance\":0.5}");
    return n;
}

//  The general path: returns the number of values read (0 on failure).
static size_t
s_general(const char *body, size_t len, float *out)
{
    json_t *object = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    size_t n = 0;
    char why[PDB_ERRMSG_MAX];
    if (!object || json_map_vec_from_json(json_object_get(object, "embedding"), "embedding", out,
                                          PDB_DIM_MAX, &n, why) != 0)
        n = 0;
    json_decref(object);
    return n;
}

static size_t
s_fast(const char *body, size_t len, float *out)
{
    jvec_t v;
    jvec_vec_t vec = { NULL, 0 };
    size_t n = 0;
    if (jvec_extract(body, len, JVEC_BODY, 1, &v) == 0 && v.text && jvec_get(&v, 0, &vec)) {
        json_t *object = json_loadb(v.text, v.text_len, JSON_REJECT_DUPLICATES, NULL);
        if (object) {
            memcpy(out, vec.values, vec.n * sizeof(float));
            n = vec.n;
        }
        json_decref(object);
    }
    jvec_release(&v);
    return n;
}

int
main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 20000;
    char *body = malloc(1 << 20);
    float *a = malloc(PDB_DIM_MAX * sizeof *a), *b = malloc(PDB_DIM_MAX * sizeof *b);
    if (!body || !a || !b || iterations < 1)
        return 1;
    for (int digits = 0; digits < 2; digits++) {
        size_t len = s_body(body, 1 << 20, digits == 1);
        if (s_general(body, len, a) != BENCH_DIM || s_fast(body, len, b) != BENCH_DIM
            || memcmp(a, b, BENCH_DIM * sizeof(float)) != 0) {
            fprintf(stderr, "bench_jvec: the two paths disagree\n");
            return 1;
        }
        const char *name = digits ? "17-digit" : "4-decimal";
        size_t (*paths[2])(const char *, size_t, float *) = { s_general, s_fast };
        const char *path_names[2] = { "general", "fast" };
        for (int p = 0; p < 2; p++) {
            double t0 = s_now();
            for (int i = 0; i < iterations; i++)
                paths[p](body, len, a);
            double us = (s_now() - t0) * 1e6 / iterations;
            printf("jvec_%-9s %-8s body_bytes=%5zu us_per_body=%8.2f ns_per_number=%7.1f\n", name,
                   path_names[p], len, us, us * 1000 / BENCH_DIM);
        }
    }
    free(body);
    free(a);
    free(b);
    return 0;
}
