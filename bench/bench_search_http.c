/*  bench_search_http - one client's search latency through the HTTP API,
    from C (libcurl, one keep-alive connection), so that the client's own
    cost (a Python client spends ~0.3 ms building and reading each request)
    stays out of the server's figure.

    bench_search_http URL COLLECTIVE QUERIES COUNT [EF|0] [exact]
    QUERIES: one JSON array of numbers per line (gen_vectors --queries).
    Runs COUNT searches (k=10) cycling over the queries after 20 warm-up
    ones; prints p50/p99 and how many the approximate index answered.
*/
#include "benchkit.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *data;
    size_t len, cap;
} s_buf_t;

static size_t
s_collect(void *ptr, size_t size, size_t n, void *arg)
{
    s_buf_t *b = arg;
    size_t add = size * n;
    if (b->len + add + 1 > b->cap) {
        size_t cap = (b->len + add + 1) * 2;
        char *data = realloc(b->data, cap);
        if (!data)
            return 0;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static int
s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_search_http URL COLLECTIVE QUERIES COUNT [EF|0] [exact]\n");
        return 2;
    }
    long count = strtol(argv[4], NULL, 10), ef = argc > 5 ? strtol(argv[5], NULL, 10) : 0;
    int exact = argc > 6 && strcmp(argv[6], "exact") == 0;
    FILE *f = fopen(argv[3], "r");
    if (!f || count < 1)
        return 2;
    char **bodies = NULL, *line = NULL;
    size_t nq = 0, cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 1) {
        line[got - 1] = '\0';
        char **more = realloc(bodies, (nq + 1) * sizeof *more);
        size_t len = (size_t) got + 96;
        char *body = malloc(len);
        if (!more || !body)
            return 1;
        bodies = more;
        char extra[64] = "";
        if (ef > 0)
            snprintf(extra, sizeof extra, ",\"ef\":%ld", ef);
        snprintf(body, len, "{\"embedding\":%s,\"k\":10,\"exact\":%s%s}", line,
                 exact ? "true" : "false", extra);
        bodies[nq++] = body;
    }
    free(line);
    fclose(f);
    if (nq == 0)
        return 2;
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/collectives/%s/search", argv[1], argv[2]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    s_buf_t reply = { 0 };
    double *lat = malloc((size_t) count * sizeof *lat);
    if (!curl || !headers || !lat)
        return 1;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    long approximate = 0;
    for (long i = -20; i < count; i++) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, bodies[(size_t) (i + 20) % nq]);
        reply.len = 0;
        double t0 = bench_now_s();
        long status = 0;
        if (curl_easy_perform(curl) != CURLE_OK
            || curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK
            || status != 200) {
            fprintf(stderr, "search failed: status %ld %.200s\n", status,
                    reply.data ? reply.data : "");
            return 1;
        }
        if (i >= 0) {
            lat[i] = bench_now_s() - t0;
            approximate += strstr(reply.data, "\"method\": \"approximate\"")
                           || strstr(reply.data, "\"method\":\"approximate\"");
        }
    }
    qsort(lat, (size_t) count, sizeof *lat, s_cmp);
    printf("bench_search_http n=%ld ef=%ld exact=%d approximate=%ld p50_ms=%.3f p99_ms=%.3f\n",
           count, ef, exact, approximate, lat[count / 2] * 1e3,
           lat[(size_t) ((double) count * 0.99)] * 1e3);
    for (size_t i = 0; i < nq; i++)
        free(bodies[i]);
    free(bodies);
    free(lat);
    free(reply.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return 0;
}
