/*  bench_writes - durable write throughput.

    raw:  LMDB batch commits (one fsync per batch) into a fresh environment
          in DIR, the ceiling any LMDB-backed store on this disk can reach.
    http: POST /v1/collectives/{id}/experiences against a running node with
          C concurrent clients, each waiting for its durable 201.
    httpbatch: the same with POST .../experiences:batch of BATCH experiences
          per request (one durable commit each); writes/s counts experiences.
    lean: as http, the clients being keep-alive connections of one thread
          (lean_client.h), which leaves the cores to the node.

    bench_writes raw DIR SECONDS BATCH
    bench_writes http URL SECONDS CLIENTS DIM
    bench_writes httpbatch URL SECONDS CLIENTS DIM BATCH
    bench_writes lean URL SECONDS CLIENTS DIM      (URL: http://IPV4:PORT)
    Each case prints one line: name, writes/s, p50 and p99 latency in ms
    (per request), requests (n) and, for batches, experiences (items).
*/
#include "benchkit.h"
#include "lean_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_RECORD_BYTES 256     // a small experience record without embedding
#define BENCH_MAX_SAMPLES (1u << 22)

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void
s_report(const char *name, size_t n, double seconds, double *lat, size_t lat_n)
{
    qsort(lat, lat_n, sizeof *lat, s_cmp_double);
    double p50 = lat_n ? lat[lat_n / 2] * 1e3 : 0;
    double p99 = lat_n ? lat[(size_t) ((double) lat_n * 0.99)] * 1e3 : 0;
    printf("%-28s writes/s=%9.0f p50_ms=%7.2f p99_ms=%7.2f n=%zu\n", name,
           (double) n / seconds, p50, p99, n);
    fflush(stdout);
}

//  --------------------------------------------------------------------------

static int
s_raw(const char *dir, double seconds, unsigned batch)
{
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 8ull << 30)
        || mdb_env_open(env, dir, 0, 0640)) {
        fprintf(stderr, "bench_writes: cannot open %s\n", dir);
        return 1;
    }
    if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi)
        || mdb_txn_commit(txn)) {
        mdb_env_close(env);
        return 1;
    }
    char value[BENCH_RECORD_BYTES];
    memset(value, 'v', sizeof value);
    double *lat = malloc(BENCH_MAX_SAMPLES * sizeof *lat);
    size_t n = 0, commits = 0;
    uint64_t key = 0;
    double start = bench_now_s(), end = start + seconds;
    int rc = lat ? 0 : ENOMEM;
    while (!rc && bench_now_s() < end && commits < BENCH_MAX_SAMPLES) {
        double t0 = bench_now_s();
        rc = mdb_txn_begin(env, NULL, 0, &txn);
        for (unsigned i = 0; !rc && i < batch; i++) {
            key++;
            uint64_t be = __builtin_bswap64(key);
            MDB_val k = { sizeof be, &be }, v = { sizeof value, value };
            rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
        }
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
        lat[commits++] = bench_now_s() - t0;
        n += batch;
    }
    char name[64];
    snprintf(name, sizeof name, "raw_lmdb_batch_%u", batch);
    if (!rc)
        s_report(name, n, bench_now_s() - start, lat, commits);
    free(lat);
    mdb_env_close(env);
    return rc ? 1 : 0;
}

//  --------------------------------------------------------------------------

typedef struct {
    const char *url;
    char *body;
    double end;
    double *lat;
    size_t lat_n, lat_cap, errors;
} s_client_t;

static size_t
s_discard(char *ptr, size_t size, size_t nmemb, void *data)
{
    (void) ptr;
    (void) data;
    return size * nmemb;
}

static void *
s_client_run(void *arg)
{
    s_client_t *c = arg;
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!curl || !headers) {
        c->errors++;
        curl_slist_free_all(headers);
        if (curl)
            curl_easy_cleanup(curl);
        return NULL;
    }
    curl_easy_setopt(curl, CURLOPT_URL, c->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    while (bench_now_s() < c->end && c->lat_n < c->lat_cap) {
        double t0 = bench_now_s();
        long code = 0;
        if (curl_easy_perform(curl) != CURLE_OK
            || curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 201)
            c->errors++;
        else
            c->lat[c->lat_n++] = bench_now_s() - t0;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return NULL;
}

//  Creates a collective of dimension dim and returns its experiences URL.
static int
s_make_collective(const char *base, unsigned dim, char *out, size_t out_len)
{
    char url[512], body[256], reply[4096] = { 0 };
    snprintf(url, sizeof url, "%s/v1/collectives", base);
    snprintf(body, sizeof body, "{\"name\":\"bench-%ld-%d\",\"embedding_dim\":%u}",
             (long) time(NULL), rand(), dim);
    FILE *mem = fmemopen(reply, sizeof reply - 1, "w");
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    long code = 0;
    if (curl && mem && headers) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, mem);
        if (curl_easy_perform(curl) == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    }
    if (mem)
        fclose(mem);
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    const char *id = strstr(reply, "\"id\":\"");
    if (code != 201 || !id) {
        fprintf(stderr, "bench_writes: cannot create a collective at %s (HTTP %ld)\n", url, code);
        return 1;
    }
    snprintf(out, out_len, "%s/v1/collectives/%.36s/experiences", base, id + 6);
    return 0;
}

//  {"experiences": [body, body, ...]} of `batch` copies of one body.
static char *
s_batch_body(const char *one, unsigned batch)
{
    size_t len = strlen(one), cap = 32 + (size_t) batch * (len + 1);
    char *body = malloc(cap);
    if (!body)
        return NULL;
    size_t n = (size_t) snprintf(body, cap, "{\"experiences\":[");
    for (unsigned i = 0; i < batch; i++)
        n += (size_t) snprintf(body + n, cap - n, "%s%s", i ? "," : "", one);
    snprintf(body + n, cap - n, "]}");
    return body;
}

static char *
s_experience_body(unsigned dim)
{
    size_t cap = 256 + (size_t) dim * 12;
    char *body = malloc(cap);
    if (!body)
        return NULL;
    size_t n = (size_t) snprintf(body, cap, "{\"content\":\"benchmark experience\",\"embedding\":[");
    for (unsigned i = 0; i < dim; i++)
        n += (size_t) snprintf(body + n, cap - n, "%s%.4f", i ? "," : "",
                               (double) ((i * 7919u) % 1000u) / 1000.0);
    snprintf(body + n, cap - n, "],\"importance\":0.5}");
    return body;
}

//  batch 0: single creates; else batches of that many.
static int
s_http(const char *base, double seconds, unsigned clients, unsigned dim, unsigned batch)
{
    char url[512];
    if (s_make_collective(base, dim, url, sizeof url))
        return 1;
    char *body = s_experience_body(dim);
    if (body && batch) {
        char *many = s_batch_body(body, batch);
        free(body);
        body = many;
        strncat(url, ":batch", sizeof url - strlen(url) - 1);
    }
    s_client_t *c = calloc(clients, sizeof *c);
    pthread_t *threads = calloc(clients, sizeof *threads);
    double *all = malloc(BENCH_MAX_SAMPLES * sizeof *all);
    if (!body || !c || !threads || !all)
        return 1;
    double start = bench_now_s();
    for (unsigned i = 0; i < clients; i++) {
        c[i] = (s_client_t) { url, body, start + seconds, all + i * (BENCH_MAX_SAMPLES / clients),
                              0, BENCH_MAX_SAMPLES / clients, 0 };
        pthread_create(&threads[i], NULL, s_client_run, &c[i]);
    }
    size_t n = 0, errors = 0;
    for (unsigned i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        memmove(all + n, c[i].lat, c[i].lat_n * sizeof *all);
        n += c[i].lat_n;
        errors += c[i].errors;
    }
    double elapsed = bench_now_s() - start;
    char name[64];
    if (batch) {
        snprintf(name, sizeof name, "http_batch_%u_clients_%u", batch, clients);
        s_report(name, n * batch, elapsed, all, n);
        printf("%-28s items=%zu\n", name, n * batch);
    }
    else {
        snprintf(name, sizeof name, "http_writes_clients_%u", clients);
        s_report(name, n, elapsed, all, n);
    }
    if (errors)
        printf("%-28s errors=%zu\n", name, errors);
    free(all);
    free(threads);
    free(c);
    free(body);
    return errors ? 1 : 0;
}

//  The lean client's case: single creates from `clients` connections.
static int
s_lean(const char *base, double seconds, unsigned clients, unsigned dim)
{
    char url[512], host[64];
    unsigned port;
    if (sscanf(base, "http://%63[0-9.]:%u", host, &port) != 2) {
        fprintf(stderr, "bench_writes: lean needs a URL http://IPV4:PORT\n");
        return 1;
    }
    if (s_make_collective(base, dim, url, sizeof url))
        return 1;
    char *body = s_experience_body(dim);
    double *lat = malloc(BENCH_MAX_SAMPLES * sizeof *lat);
    size_t n = 0, errors = 0;
    double start = bench_now_s();
    int rc = body && lat ? lean_run(host, port, url + strlen(base), body, seconds, clients,
                                    201, lat, BENCH_MAX_SAMPLES, &n, &errors) : -1;
    if (!rc) {
        char name[64];
        snprintf(name, sizeof name, "lean_writes_clients_%u", clients);
        s_report(name, n, bench_now_s() - start, lat, n);
        if (errors)
            printf("%-28s errors=%zu\n", name, errors);
    }
    free(lat);
    free(body);
    return rc || errors ? 1 : 0;
}

int
main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "raw") == 0)
        return s_raw(argv[2], atof(argv[3]), (unsigned) atoi(argv[4]));
    if (argc == 6 && strcmp(argv[1], "http") == 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = s_http(argv[2], atof(argv[3]), (unsigned) atoi(argv[4]), (unsigned) atoi(argv[5]),
                        0);
        curl_global_cleanup();
        return rc;
    }
    if (argc == 7 && strcmp(argv[1], "httpbatch") == 0 && atoi(argv[6]) > 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = s_http(argv[2], atof(argv[3]), (unsigned) atoi(argv[4]), (unsigned) atoi(argv[5]),
                        (unsigned) atoi(argv[6]));
        curl_global_cleanup();
        return rc;
    }
    if (argc == 6 && strcmp(argv[1], "lean") == 0) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = s_lean(argv[2], atof(argv[3]), (unsigned) atoi(argv[4]),
                        (unsigned) atoi(argv[5]));
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "usage: bench_writes raw DIR SECONDS BATCH\n"
                    "       bench_writes http URL SECONDS CLIENTS DIM\n"
                    "       bench_writes httpbatch URL SECONDS CLIENTS DIM BATCH\n"
                    "       bench_writes lean URL SECONDS CLIENTS DIM\n");
    return 2;
}
