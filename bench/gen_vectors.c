/*  gen_vectors - test data for the search benchmarks, as `pulsedb import`
    lines ({"content": "eN", "embedding_b64": ...}) or, with --queries, as
    one JSON array of floats per line.

    gen_vectors --n N [--start I] [--dim D] [--data clustered|uniform]
                [--centres C] [--seed S] [--queries]
    Clustered: C centres (default 1000) uniform in [-1,1]^D, drawn from the
    seed alone, so every run and every --start share them; each vector is
    a random centre plus uniform noise of +-0.25 per dimension. Uniform:
    every vector uniform in [-1,1]^D. Vector i depends only on (seed, i),
    so a collective grown in steps holds the same data as one made at once.
*/
#include "benchkit.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
s_next(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t x = *state;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    return x ^ (x >> 33);
}

static float
s_unit(uint64_t *state)
{
    return (float) ((double) (s_next(state) >> 40) / (double) (1ull << 24) * 2.0 - 1.0);
}

int
main(int argc, char **argv)
{
    size_t n = 0, start = 0, dim = 384, centres = 1000;
    uint64_t seed = 1;
    bool clustered = true, queries = false;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(argv[i], "--n")) n = strtoull(v, NULL, 10), i++;
        else if (!strcmp(argv[i], "--start")) start = strtoull(v, NULL, 10), i++;
        else if (!strcmp(argv[i], "--dim")) dim = strtoull(v, NULL, 10), i++;
        else if (!strcmp(argv[i], "--centres")) centres = strtoull(v, NULL, 10), i++;
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(argv[i], "--data")) clustered = strcmp(v, "uniform") != 0, i++;
        else if (!strcmp(argv[i], "--queries")) queries = true;
        else {
            fprintf(stderr, "usage: gen_vectors --n N [--start I] [--dim D] "
                    "[--data clustered|uniform] [--centres C] [--seed S] [--queries]\n");
            return 2;
        }
    }
    if (dim == 0 || dim > 4096 || centres == 0)
        return 2;
    float *centre = malloc(centres * dim * sizeof *centre);
    float *v = malloc(dim * sizeof *v);
    char *text = malloc((dim * sizeof *v + 2) / 3 * 4 + 1);
    if (!centre || !v || !text)
        return 1;
    uint64_t cs = seed * 7919;
    for (size_t i = 0; i < centres * dim; i++)
        centre[i] = s_unit(&cs);
    for (size_t i = start; i < start + n; i++) {
        //  Queries come from another stream than the stored vectors.
        uint64_t st = (seed + (queries ? 0x51ull << 40 : 0)) * 1000003ull + i * 2654435761ull;
        const float *c = centre + (size_t) (s_next(&st) % centres) * dim;
        for (size_t d = 0; d < dim; d++)
            v[d] = clustered ? c[d] + 0.25f * s_unit(&st) : s_unit(&st);
        if (queries) {
            for (size_t d = 0; d < dim; d++)
                printf("%s%.5f", d ? "," : "[", (double) v[d]);
            printf("]\n");
            continue;
        }
        bench_b64((const uint8_t *) v, dim * sizeof *v, text);
        printf("{\"content\":\"e%zu\",\"embedding_b64\":\"%s\"}\n", i, text);
    }
    free(centre);
    free(v);
    free(text);
    return 0;
}
