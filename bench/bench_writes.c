/*  bench_writes - durable write throughput.

    raw:  LMDB batch commits (one fsync per batch) into a fresh environment
          in DIR, the ceiling any LMDB-backed store on this disk can reach.
    http: POST /v1/collectives/{id}/experiences against a running node with
          C concurrent clients, each waiting for its durable 201.
    httpbatch: the same with POST .../experiences:batch of BATCH experiences
          per request (one durable commit each); writes/s counts experiences.
    lean: as http, the clients being keep-alive connections of one thread
          (lean_client.h), which leaves the cores to the node.
    leanb64: as lean, the embedding sent as embedding_b64 (little-endian
          float32 in base64) instead of a JSON array of numbers.
    disk: what one durable flush costs on the disk under DIR: PAGES pages of
          4 KiB written and fdatasync'ed, either scattered over a 256 MiB
          file or as one contiguous run, for 1 to 64 pages. LMDB's commit
          writes the pages a transaction changed, wherever its free list
          put them, then syncs: this is the cost model of every commit.

    bench_writes raw DIR SECONDS BATCH
    bench_writes http URL SECONDS CLIENTS DIM
    bench_writes httpbatch URL SECONDS CLIENTS DIM BATCH
    bench_writes lean URL SECONDS CLIENTS DIM      (URL: http://IPV4:PORT)
    bench_writes leanb64 URL SECONDS CLIENTS DIM
    bench_writes disk DIR
    Each case prints one line: name, writes/s, p50 and p99 latency in ms
    (per request), requests (n) and, for batches, experiences (items);
    disk prints a line per page count with the p50 and p99 of a flush.
*/
#include "benchkit.h"
#include "lean_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_RECORD_BYTES 256     // a small experience record without embedding
#define BENCH_MAX_SAMPLES (1u << 22)
#define BENCH_PAGE 4096u
#define BENCH_DISK_FILE_PAGES 65536u   // 256 MiB to scatter pages over
#define BENCH_DISK_ROUNDS 300u
#define BENCH_DISK_MAX_PAGES 64u

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

//  One experience of dim dimensions, its embedding a JSON array of numbers
//  or, with b64, embedding_b64.
static char *
s_experience_body(unsigned dim, bool b64)
{
    size_t cap = 256 + (size_t) dim * 12;
    char *body = malloc(cap);
    float *v = malloc((size_t) dim * sizeof *v);
    if (!body || !v) {
        free(body);
        free(v);
        return NULL;
    }
    for (unsigned i = 0; i < dim; i++)
        v[i] = (float) ((i * 7919u) % 1000u) / 1000.0f;
    size_t n;
    if (b64) {
        n = (size_t) snprintf(body, cap, "{\"content\":\"benchmark experience\",\"embedding_b64\":\"");
        bench_b64((const uint8_t *) v, (size_t) dim * sizeof *v, body + n);   // host is little-endian
        n += strlen(body + n);
        snprintf(body + n, cap - n, "\",\"importance\":0.5}");
    }
    else {
        n = (size_t) snprintf(body, cap, "{\"content\":\"benchmark experience\",\"embedding\":[");
        for (unsigned i = 0; i < dim; i++)
            n += (size_t) snprintf(body + n, cap - n, "%s%.4f", i ? "," : "", (double) v[i]);
        snprintf(body + n, cap - n, "],\"importance\":0.5}");
    }
    free(v);
    return body;
}

//  batch 0: single creates; else batches of that many.
static int
s_http(const char *base, double seconds, unsigned clients, unsigned dim, unsigned batch)
{
    char url[512];
    if (s_make_collective(base, dim, url, sizeof url))
        return 1;
    char *body = s_experience_body(dim, false);
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
s_lean(const char *base, double seconds, unsigned clients, unsigned dim, bool b64)
{
    char url[512], host[64];
    unsigned port;
    if (sscanf(base, "http://%63[0-9.]:%u", host, &port) != 2) {
        fprintf(stderr, "bench_writes: lean needs a URL http://IPV4:PORT\n");
        return 1;
    }
    if (s_make_collective(base, dim, url, sizeof url))
        return 1;
    char *body = s_experience_body(dim, b64);
    double *lat = malloc(BENCH_MAX_SAMPLES * sizeof *lat);
    size_t n = 0, errors = 0;
    double start = bench_now_s();
    int rc = body && lat ? lean_run(host, port, url + strlen(base), body, seconds, clients,
                                    201, lat, BENCH_MAX_SAMPLES, &n, &errors) : -1;
    if (!rc) {
        char name[64];
        snprintf(name, sizeof name, "%s_writes_clients_%u", b64 ? "lean_b64" : "lean", clients);
        s_report(name, n, bench_now_s() - start, lat, n);
        if (errors)
            printf("%-28s errors=%zu\n", name, errors);
    }
    free(lat);
    free(body);
    return rc || errors ? 1 : 0;
}

//  --------------------------------------------------------------------------

//  p50 and p99 of `rounds` flushes of `pages` pages each, scattered or
//  contiguous, in microseconds.
static int
s_disk_case(int fd, const uint8_t *buf, unsigned pages, bool scattered, uint64_t *rng,
            double *lat, double out[2])
{
    for (unsigned r = 0; r < BENCH_DISK_ROUNDS; r++) {
        double t0 = bench_now_s();
        if (scattered)
            for (unsigned i = 0; i < pages; i++) {
                *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
                off_t at = (off_t) ((*rng >> 33) % BENCH_DISK_FILE_PAGES) * BENCH_PAGE;
                if (pwrite(fd, buf, BENCH_PAGE, at) != (ssize_t) BENCH_PAGE)
                    return -1;
            }
        else {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            off_t at = (off_t) ((*rng >> 33) % (BENCH_DISK_FILE_PAGES - pages)) * BENCH_PAGE;
            size_t len = (size_t) pages * BENCH_PAGE;
            if (pwrite(fd, buf, len, at) != (ssize_t) len)
                return -1;
        }
        if (fdatasync(fd))
            return -1;
        lat[r] = (bench_now_s() - t0) * 1e6;
    }
    qsort(lat, BENCH_DISK_ROUNDS, sizeof *lat, s_cmp_double);
    out[0] = lat[BENCH_DISK_ROUNDS / 2];
    out[1] = lat[BENCH_DISK_ROUNDS * 99 / 100];
    return 0;
}

static int
s_disk(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-disk.dat", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "bench_writes: %s: %s\n", path, strerror(errno));
        return 1;
    }
    static uint8_t buf[BENCH_DISK_MAX_PAGES * BENCH_PAGE];
    memset(buf, 0x5a, sizeof buf);
    double lat[BENCH_DISK_ROUNDS];
    int rc = 0;
    //  Written out and synced first, so the flushes below rewrite allocated
    //  blocks as LMDB's commits do, rather than allocate.
    for (unsigned p = 0; !rc && p < BENCH_DISK_FILE_PAGES; p += BENCH_DISK_MAX_PAGES)
        rc = pwrite(fd, buf, sizeof buf, (off_t) p * BENCH_PAGE) == (ssize_t) sizeof buf ? 0 : -1;
    rc = rc ? rc : fsync(fd);
    uint64_t rng = 1;
    for (unsigned pages = 1; !rc && pages <= BENCH_DISK_MAX_PAGES; pages *= 2) {
        double scattered[2], contiguous[2];
        rc = s_disk_case(fd, buf, pages, true, &rng, lat, scattered);
        rc = rc ? rc : s_disk_case(fd, buf, pages, false, &rng, lat, contiguous);
        if (!rc)
            printf("disk_flush_pages_%-11u scattered_p50_us=%6.0f p99_us=%6.0f "
                   "contiguous_p50_us=%6.0f p99_us=%6.0f\n", pages, scattered[0], scattered[1],
                   contiguous[0], contiguous[1]);
    }
    if (rc)
        fprintf(stderr, "bench_writes: %s: %s\n", path, strerror(errno));
    close(fd);
    unlink(path);
    return rc ? 1 : 0;
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
    if (argc == 3 && strcmp(argv[1], "disk") == 0)
        return s_disk(argv[2]);
    bool b64 = argc == 6 && strcmp(argv[1], "leanb64") == 0;
    if (argc == 6 && (b64 || strcmp(argv[1], "lean") == 0)) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = s_lean(argv[2], atof(argv[3]), (unsigned) atoi(argv[4]),
                        (unsigned) atoi(argv[5]), b64);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "usage: bench_writes raw DIR SECONDS BATCH\n"
                    "       bench_writes http URL SECONDS CLIENTS DIM\n"
                    "       bench_writes httpbatch URL SECONDS CLIENTS DIM BATCH\n"
                    "       bench_writes lean URL SECONDS CLIENTS DIM\n"
                    "       bench_writes leanb64 URL SECONDS CLIENTS DIM\n"
                    "       bench_writes disk DIR\n");
    return 2;
}
