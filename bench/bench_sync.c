/*  bench_sync - load generator and probes for the sync benchmarks
    (bench/run_sync.sh). Talks to storage directly on its ZeroMQ socket
    (common/sproto.h), so no HTTP cost is measured.

    bench_sync load DATA N CONTENT_BYTES DIM INFLIGHT
        Creates a collective, then writes N experiences (content of
        CONTENT_BYTES, a DIM-float embedding) with INFLIGHT requests in
        flight on one DEALER. One line: writes/s, MB/s of WAL, head.
    bench_sync head DATA
        Prints storage's "stats" wal_head.
    bench_sync vector DATA
        Prints DATA's instance id and version vector (origin -> seq), read
        from its LMDB file (storage may be stopped).
    bench_sync wait DATA HEAD TIMEOUT_S
        Polls storage "stats" every 2 ms until wal_head >= HEAD; prints the
        seconds it took (from this program's start). Exit 1 on timeout.
    bench_sync walbytes DATA FROM TO
        Count and bytes of the encoded changes FROM..TO in DATA's WAL.
    bench_sync lag A_DATA B_DATA RATE SECONDS CONTENT_BYTES DIM
        Writes RATE experiences/s to A (open loop: each write is sent at its
        scheduled time, whatever came back) for SECONDS, while a watcher
        thread follows B: on each of B's "wal" events (and every 1 ms) it
        reads B's version-vector entry for A (the highest A change applied
        on B; pushes and pulls apply in order) and stamps every newly
        covered change. Prints lag from A's durable reply to B's commit
        and from the send to B's commit, p50/p90/p99/max. Replies are
        read between sends, so an "A durable" stamp can be late by up to
        one send interval (0.2 ms at 5,000/s); the B stamps are not. Then
        the stalls: writes whose lag (A durable -> B durable) reached
        LAG_LATE_MS, grouped into clusters (late writes less than
        LAG_CLUSTER_GAP_MS apart), with the largest and the median gap
        between clusters.
    bench_sync lmdb SRC_DATA DST_DIR PER_TXN
        Raw LMDB bulk load: copies the experiences, embeddings and versions
        databases of SRC_DATA (read-only) into a fresh environment in
        DST_DIR with plain mdb_put, PER_TXN puts per durable commit.
*/
#include "benchkit.h"
#include "change.h"
#include "id.h"
#include "mpk.h"
#include "sclient.h"
#include "sproto.h"
#include "store.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

static int
s_endpoint(const char *dir, const char *name, char *out, size_t len)
{
    char *real = realpath(dir, NULL);
    if (!real) {
        fprintf(stderr, "bench_sync: no data folder %s\n", dir);
        return -1;
    }
    snprintf(out, len, "ipc://%s/%s", real, name);
    free(real);
    return 0;
}

//  --------------------------------------------------------------------------
//  Writing to storage with many requests in flight

typedef struct {
    zsock_t *sock;
    pdb_id_t collective;
    char *content;
    size_t content_len;
    float *embedding;
    uint32_t dim;
} s_writer_t;

static void
s_send_raw(s_writer_t *w, uint64_t request_id, const char *op, const mpk_out_t *args)
{
    mpk_out_t req;
    mpk_out_init(&req);
    sproto_pack_request(&req.pk, request_id, op, args->buf.data, args->buf.size);
    zframe_t *frame = zframe_new(req.buf.data, req.buf.size);
    mpk_out_release(&req);
    if (!frame || zframe_send(&frame, w->sock, 0) != 0) {
        fprintf(stderr, "bench_sync: send failed\n");
        exit(1);
    }
}

//  Sends one experience create; request_id doubles as its index.
static void
s_send_write(s_writer_t *w, uint64_t request_id)
{
    //  A distinct prefix per write; the rest of the content is filler.
    int n = snprintf(w->content, w->content_len + 1, "experience %" PRIu64 " ", request_id);
    if (n > 0 && (size_t) n < w->content_len)
        w->content[n] = 'x';
    w->embedding[0] = (float) (request_id % 1000) / 1000.0f;
    mpk_out_t fields;
    mpk_out_init(&fields);
    mpk_pack_map(&fields.pk, 2);
    mpk_pack_str(&fields.pk, "content");
    mpk_pack_strn(&fields.pk, w->content, w->content_len);
    mpk_pack_str(&fields.pk, "embedding");
    mpk_pack_bin(&fields.pk, w->embedding, w->dim * sizeof(float));
    mpk_out_t args;
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 5);
    mpk_pack_u64(&args.pk, ENT_EXPERIENCE);
    mpk_pack_u64(&args.pk, OP_CREATE);
    mpk_pack_id(&args.pk, &w->collective);
    mpk_pack_nil(&args.pk);
    mpk_pack_bin(&args.pk, fields.buf.data, fields.buf.size);
    s_send_raw(w, request_id, "write", &args);
    mpk_out_release(&fields);
    mpk_out_release(&args);
}

//  Reads one reply: its request id and (on success) the WAL seq of the write.
static int
s_recv_reply(s_writer_t *w, uint64_t *request_id, uint64_t *seq, pdb_id_t *id)
{
    zframe_t *frame = zframe_recv(w->sock);
    if (!frame)
        return -1;
    msgpack_unpacked u;
    int rc = mpk_parse(zframe_data(frame), zframe_size(frame), &u);
    if (rc) {
        zframe_destroy(&frame);
        return -1;
    }
    const msgpack_object *a = u.data.via.array.ptr;
    int64_t code = -1;
    rc = u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 4
         && !mpk_get_u64(&a[0], request_id) && !mpk_get_i64(&a[1], &code) ? 0 : -1;
    if (!rc && code != 0) {
        const char *msg = "";
        size_t len = 0;
        (void) mpk_get_str(&a[2], &msg, &len);
        fprintf(stderr, "bench_sync: write %" PRIu64 " failed rc=%" PRId64 ": %.*s\n",
                *request_id, code, (int) len, msg);
        rc = -1;
    }
    if (!rc) {
        const msgpack_object *r = &a[3];
        pdb_id_t got;
        rc = r->type == MSGPACK_OBJECT_ARRAY && r->via.array.size == 2
             && !mpk_get_id(&r->via.array.ptr[0], &got)
             && !mpk_get_u64(&r->via.array.ptr[1], seq) ? 0 : -1;
        if (!rc && id)
            *id = got;
    }
    msgpack_unpacked_destroy(&u);
    zframe_destroy(&frame);
    return rc;
}

//  Connects and creates a collective of dim dimensions; returns its seq.
static int
s_writer_open(s_writer_t *w, const char *data, size_t content_len, uint32_t dim,
              uint64_t *seq)
{
    memset(w, 0, sizeof *w);
    char endpoint[4200];
    if (s_endpoint(data, SPROTO_SOCKET, endpoint, sizeof endpoint))
        return -1;
    w->sock = zsock_new(ZMQ_DEALER);
    if (!w->sock)
        return -1;
    zsock_set_sndhwm(w->sock, 0);
    zsock_set_rcvhwm(w->sock, 0);
    zsock_set_linger(w->sock, 0);
    zsock_set_rcvtimeo(w->sock, 30000);
    if (zsock_connect(w->sock, "%s", endpoint) != 0)
        return -1;
    w->content_len = content_len;
    w->content = malloc(content_len + 1);
    w->dim = dim;
    w->embedding = calloc(dim, sizeof(float));
    if (!w->content || !w->embedding)
        return -1;
    memset(w->content, 'x', content_len);
    for (uint32_t i = 0; i < dim; i++)
        w->embedding[i] = (float) ((i * 7919u) % 1000u) / 1000.0f - 0.5f;

    char name[64];
    snprintf(name, sizeof name, "bench-sync-%d-%" PRIu64, (int) getpid(), bench_now_ns());
    mpk_out_t fields, args;
    mpk_out_init(&fields);
    mpk_pack_map(&fields.pk, 2);
    mpk_pack_str(&fields.pk, "name");
    mpk_pack_str(&fields.pk, name);
    mpk_pack_str(&fields.pk, "embedding_dim");
    mpk_pack_u64(&fields.pk, dim);
    mpk_out_init(&args);
    mpk_pack_array(&args.pk, 5);
    mpk_pack_u64(&args.pk, ENT_COLLECTIVE);
    mpk_pack_u64(&args.pk, OP_CREATE);
    mpk_pack_nil(&args.pk);
    mpk_pack_nil(&args.pk);
    mpk_pack_bin(&args.pk, fields.buf.data, fields.buf.size);
    s_send_raw(w, 0, "write", &args);
    mpk_out_release(&fields);
    mpk_out_release(&args);
    uint64_t request_id;
    return s_recv_reply(w, &request_id, seq, &w->collective);
}

static void
s_writer_close(s_writer_t *w)
{
    zsock_destroy(&w->sock);
    free(w->content);
    free(w->embedding);
}

//  --------------------------------------------------------------------------
//  Storage probes

//  One counter of storage's "stats".
static int
s_stats_u64(sclient_t *client, const char *key, uint64_t *value)
{
    void *result = NULL;
    size_t len = 0;
    char why[PDB_ERRMSG_MAX];
    int rc = sclient_call(client, "stats", NULL, 0, &result, &len, why);
    if (rc)
        return rc;
    msgpack_unpacked u;
    rc = mpk_parse(result, len, &u);
    if (!rc) {
        const msgpack_object *v = mpk_map_get(&u.data, key);
        rc = v ? mpk_get_u64(v, value) : -1;
        msgpack_unpacked_destroy(&u);
    }
    free(result);
    return rc;
}

static int
s_stats_head(sclient_t *client, uint64_t *head)
{
    return s_stats_u64(client, "wal_head", head);
}

static sclient_t *
s_client(const char *data)
{
    char endpoint[4200];
    if (s_endpoint(data, SPROTO_SOCKET, endpoint, sizeof endpoint))
        return NULL;
    return sclient_new(endpoint, 5000);
}

static int
s_cmd_head(const char *data)
{
    sclient_t *client = s_client(data);
    uint64_t head = 0;
    int rc = client ? s_stats_head(client, &head) : -1;
    sclient_destroy(&client);
    if (rc)
        return 1;
    printf("%" PRIu64 "\n", head);
    return 0;
}

//  The store's instance id and version vector, read-only (storage may be
//  stopped): what a node holds of each origin, when a lag run fails.
static int
s_cmd_vector(const char *data)
{
    store_t *store;
    MDB_txn *txn = NULL;
    store_meta_t meta;
    if (store_open(data, true, 0, &store))
        return 1;
    int rc = store_read_begin(store, &txn);
    if (!rc)
        rc = store_meta_read(store, txn, &meta);
    store_iter_t it = { 0 };
    if (!rc)
        rc = store_origins(store, txn, &it);
    char id[PDB_ID_STR_LEN + 1];
    if (!rc) {
        pdb_id_format(&meta.instance_id, id);
        printf("instance %s\n", id);
    }
    pdb_id_t origin;
    uint64_t seq;
    while (!rc && store_origin_next(&it, &origin, &seq) == 0) {
        pdb_id_format(&origin, id);
        printf("origin %s seq=%" PRIu64 "\n", id, seq);
    }
    store_iter_close(&it);
    if (txn)
        mdb_txn_abort(txn);
    store_destroy(&store);
    return rc ? 1 : 0;
}

static int
s_cmd_wait(const char *data, uint64_t want, double timeout_s)
{
    uint64_t start = bench_now_ns();
    sclient_t *client = s_client(data);
    if (!client)
        return 1;
    uint64_t head = 0;
    while (true) {
        if (s_stats_head(client, &head) == 0 && head >= want)
            break;
        if ((double) (bench_now_ns() - start) / 1e9 > timeout_s) {
            fprintf(stderr, "bench_sync: wal_head %" PRIu64 " < %" PRIu64 " after %.0f s\n",
                    head, want, timeout_s);
            sclient_destroy(&client);
            return 1;
        }
        zclock_sleep(2);
    }
    sclient_destroy(&client);
    printf("%.3f\n", (double) (bench_now_ns() - start) / 1e9);
    return 0;
}

static int
s_wal_bytes(const char *data, uint64_t from, uint64_t to, uint64_t *count, uint64_t *bytes)
{
    store_t *store;
    MDB_txn *txn;
    *count = *bytes = 0;
    if (store_open(data, true, 0, &store))
        return -1;
    int rc = store_read_begin(store, &txn);
    store_iter_t it = { 0 };
    if (!rc)
        rc = store_wal(store, txn, from, &it);
    uint64_t seq;
    MDB_val val;
    while (!rc && store_wal_next(&it, &seq, &val) == 0 && seq <= to) {
        (*count)++;
        *bytes += val.mv_size;
    }
    store_iter_close(&it);
    if (!rc)
        mdb_txn_abort(txn);
    store_destroy(&store);
    return rc;
}

static int
s_cmd_walbytes(const char *data, uint64_t from, uint64_t to)
{
    uint64_t count, bytes;
    if (s_wal_bytes(data, from, to, &count, &bytes))
        return 1;
    printf("changes=%" PRIu64 " bytes=%" PRIu64 " avg=%.0f\n", count, bytes,
           count ? (double) bytes / (double) count : 0.0);
    return 0;
}

//  --------------------------------------------------------------------------
//  load

static int
s_cmd_load(const char *data, uint64_t n, size_t content_len, uint32_t dim, unsigned inflight)
{
    s_writer_t w;
    uint64_t first_seq = 0;
    if (s_writer_open(&w, data, content_len, dim, &first_seq)) {
        fprintf(stderr, "bench_sync: cannot create the collective on %s\n", data);
        return 1;
    }
    uint64_t start = bench_now_ns(), sent = 0, done = 0, last_seq = first_seq;
    while (sent < n && sent < inflight)
        s_send_write(&w, ++sent);
    while (done < n) {
        uint64_t request_id, seq;
        if (s_recv_reply(&w, &request_id, &seq, NULL)) {
            s_writer_close(&w);
            return 1;
        }
        done++;
        if (seq > last_seq)
            last_seq = seq;
        if (sent < n)
            s_send_write(&w, ++sent);
    }
    double seconds = (double) (bench_now_ns() - start) / 1e9;
    s_writer_close(&w);
    uint64_t count, bytes;
    if (s_wal_bytes(data, first_seq + 1, last_seq, &count, &bytes))
        return 1;
    printf("%-28s n=%" PRIu64 " seconds=%.2f writes/s=%.0f MB/s=%.1f avg_change_bytes=%.0f "
           "first_seq=%" PRIu64 " wal_head=%" PRIu64 "\n", "load (storage socket)", n, seconds,
           (double) n / seconds, (double) bytes / seconds / 1e6,
           count ? (double) bytes / (double) count : 0.0, first_seq, last_seq);
    return 0;
}

//  --------------------------------------------------------------------------
//  lag

typedef struct {
    const char *b_data;
    pdb_id_t origin;               // A's instance id
    uint64_t base;                 // A's seq of the collective create
    uint64_t cap;                  // arrival slots after base
    uint64_t *arrival_ns;          // by A seq - base
    atomic_bool stop;
    atomic_uint_fast64_t reached;  // highest A seq seen on B
    int rc;
} s_watch_t;

static void *
s_watch(void *arg)
{
    s_watch_t *w = arg;
    store_t *store = NULL;
    char endpoint[4200];
    zsock_t *sub = NULL;
    w->rc = -1;
    if (s_endpoint(w->b_data, SPROTO_EVENTS, endpoint, sizeof endpoint)
        || store_open(w->b_data, true, 0, &store))
        return NULL;
    sub = zsock_new_sub(endpoint, "wal ");
    if (!sub) {
        store_destroy(&store);
        return NULL;
    }
    uint64_t reached = 0;
    MDB_txn *txn;
    if (store_read_begin(store, &txn) == 0) {
        store_origin_seq(store, txn, &w->origin, &reached);
        mdb_txn_abort(txn);
    }
    //  B may hold the collective already (a quick pull or push): published
    //  here, as the loop below only publishes what moves.
    atomic_store(&w->reached, reached);
    while (!atomic_load(&w->stop)) {
        zmq_pollitem_t item = { zsock_resolve(sub), 0, ZMQ_POLLIN, 0 };
        zmq_poll(&item, 1, 1);
        while (zsock_events(sub) & ZMQ_POLLIN) {
            char *event = zstr_recv(sub);
            zstr_free(&event);
        }
        uint64_t now = bench_now_ns(), seq = 0;
        if (store_read_begin(store, &txn) != 0)
            continue;
        int rc = store_origin_seq(store, txn, &w->origin, &seq);
        mdb_txn_abort(txn);
        if (rc)
            continue;
        for (uint64_t s = reached + 1; s <= seq; s++)
            if (s > w->base && s - w->base < w->cap)
                w->arrival_ns[s - w->base] = now;
        if (seq > reached) {
            reached = seq;
            atomic_store(&w->reached, reached);
        }
    }
    zsock_destroy(&sub);
    store_destroy(&store);
    w->rc = 0;
    return NULL;
}

static void
s_percentiles(const char *name, int64_t *v, size_t n)
{
    if (n == 0) {
        printf("%-28s n=0\n", name);
        return;
    }
    qsort(v, n, sizeof *v, s_cmp_i64);
    printf("%-28s p50_ms=%7.2f p90_ms=%7.2f p99_ms=%7.2f max_ms=%8.2f n=%zu\n", name,
           (double) v[n / 2] / 1e6, (double) v[(size_t) ((double) n * 0.90)] / 1e6,
           (double) v[(size_t) ((double) n * 0.99)] / 1e6, (double) v[n - 1] / 1e6, n);
}

#define LAG_LATE_MS 50              // a write this late counts as stalled
#define LAG_CLUSTER_GAP_MS 100      // late writes closer than this: one stall

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

//  Stalls: late writes (by send order, send time send_ns) grouped into
//  clusters. lag: per write, ns (A durable -> B durable), 0 when missing.
static void
s_stalls(const uint64_t *send_ns, const int64_t *lag, size_t n)
{
    size_t late = 0, clusters = 0, biggest = 0, size = 0;
    uint64_t last = 0, *starts = calloc(n ? n : 1, sizeof *starts);
    int64_t worst = 0;
    for (size_t i = 0; starts && i < n; i++) {
        if (lag[i] < (int64_t) LAG_LATE_MS * 1000000)
            continue;
        late++;
        worst = lag[i] > worst ? lag[i] : worst;
        if (!clusters || send_ns[i] - last >= (uint64_t) LAG_CLUSTER_GAP_MS * 1000000) {
            starts[clusters++] = send_ns[i];
            size = 0;
        }
        biggest = ++size > biggest ? size : biggest;
        last = send_ns[i];
    }
    uint64_t gap_ms = 0;
    if (clusters > 1) {
        for (size_t i = 0; i + 1 < clusters; i++)
            starts[i] = (starts[i + 1] - starts[i]) / 1000000;
        qsort(starts, clusters - 1, sizeof *starts, s_cmp_u64);
        gap_ms = starts[(clusters - 1) / 2];
    }
    printf("stalls (lag >= %d ms)         late_writes=%zu clusters=%zu largest=%zu writes "
           "worst_ms=%.2f median_gap_ms=%" PRIu64 "\n", LAG_LATE_MS, late, clusters, biggest,
           (double) worst / 1e6, gap_ms);
    free(starts);
}

static int
s_cmd_lag(const char *a_data, const char *b_data, double rate, double seconds,
          size_t content_len, uint32_t dim)
{
    store_t *a_store;
    MDB_txn *txn;
    store_meta_t meta;
    if (store_open(a_data, true, 0, &a_store) || store_read_begin(a_store, &txn)) {
        fprintf(stderr, "bench_sync: cannot read %s\n", a_data);
        return 1;
    }
    int rc = store_meta_read(a_store, txn, &meta);
    mdb_txn_abort(txn);
    store_destroy(&a_store);
    if (rc)
        return 1;
    uint64_t n = (uint64_t) (rate * seconds);
    s_writer_t w;
    uint64_t base = 0;
    if (s_writer_open(&w, a_data, content_len, dim, &base)) {
        fprintf(stderr, "bench_sync: cannot create the collective on %s\n", a_data);
        return 1;
    }
    uint64_t *send_ns = calloc(n + 1, sizeof *send_ns);
    uint64_t *ack_ns = calloc(n + 1, sizeof *ack_ns);
    uint64_t *seq_of = calloc(n + 1, sizeof *seq_of);
    s_watch_t watch = { .b_data = b_data, .origin = meta.instance_id, .base = base,
                        .cap = n + 1024 };
    watch.arrival_ns = calloc(watch.cap, sizeof *watch.arrival_ns);
    if (!send_ns || !ack_ns || !seq_of || !watch.arrival_ns)
        return 1;
    //  The collective must be on B before the clock starts.
    pthread_t thread;
    if (pthread_create(&thread, NULL, s_watch, &watch))
        return 1;
    uint64_t t0 = bench_now_ns();
    while (atomic_load(&watch.reached) < base) {
        if (bench_now_ns() - t0 > 30000000000ull) {
            atomic_store(&watch.stop, true);
            pthread_join(thread, NULL);
            fprintf(stderr, "bench_sync: B did not get the collective (seq %" PRIu64 ") in 30 s "
                    "(B's entry for A: %" PRIu64 ", watcher rc=%d)\n", base,
                    (uint64_t) atomic_load(&watch.reached), watch.rc);
            s_writer_close(&w);
            return 1;
        }
        zclock_sleep(5);
    }
    printf("lag setup: B had the collective %.1f ms after A's reply\n",
           (double) (bench_now_ns() - t0) / 1e6);
    zclock_sleep(200);
    sclient_t *a_client = s_client(a_data), *b_client = s_client(b_data);
    uint64_t a_commits0 = 0, b_commits0 = 0, b_applied0 = 0;
    if (!a_client || !b_client || s_stats_u64(a_client, "commits", &a_commits0)
        || s_stats_u64(b_client, "commits", &b_commits0)
        || s_stats_u64(b_client, "applied", &b_applied0))
        return 1;
    uint64_t interval = (uint64_t) (1e9 / rate), sent = 0, acked = 0;
    uint64_t start = bench_now_ns(), end_wait = 0;
    while (acked < n) {
        uint64_t now = bench_now_ns();
        while (sent < n && start + sent * interval <= now) {
            sent++;
            send_ns[sent] = bench_now_ns();
            s_send_write(&w, sent);
        }
        uint64_t next = sent < n ? start + sent * interval : now + 100000000ull;
        long timeout_ms = next > now ? (long) ((next - now) / 1000000) : 0;
        zmq_pollitem_t item = { zsock_resolve(w.sock), 0, ZMQ_POLLIN, 0 };
        //  Sub-millisecond gaps: poll without waiting, then spin briefly.
        if (zmq_poll(&item, 1, timeout_ms) > 0 || (zsock_events(w.sock) & ZMQ_POLLIN)) {
            while (zsock_events(w.sock) & ZMQ_POLLIN) {
                uint64_t request_id, seq;
                if (s_recv_reply(&w, &request_id, &seq, NULL) || request_id == 0
                    || request_id > n)
                    return 1;
                ack_ns[request_id] = bench_now_ns();
                seq_of[request_id] = seq;
                acked++;
            }
        }
        else if (timeout_ms == 0 && next > bench_now_ns()) {
            struct timespec ts = { 0, (long) (next - bench_now_ns()) };
            if (ts.tv_nsec > 0)
                nanosleep(&ts, NULL);
        }
    }
    uint64_t write_end = bench_now_ns();
    uint64_t last_seq = 0;
    for (uint64_t i = 1; i <= n; i++)
        if (seq_of[i] > last_seq)
            last_seq = seq_of[i];
    end_wait = bench_now_ns() + 10000000000ull;
    while (atomic_load(&watch.reached) < last_seq && bench_now_ns() < end_wait)
        zclock_sleep(5);
    atomic_store(&watch.stop, true);
    pthread_join(thread, NULL);
    s_writer_close(&w);
    uint64_t a_commits = 0, b_commits = 0, b_applied = 0;
    (void) s_stats_u64(a_client, "commits", &a_commits);
    (void) s_stats_u64(b_client, "commits", &b_commits);
    (void) s_stats_u64(b_client, "applied", &b_applied);
    sclient_destroy(&a_client);
    sclient_destroy(&b_client);

    int64_t *lag_commit = calloc(n, sizeof *lag_commit);
    int64_t *lag_send = calloc(n, sizeof *lag_send);
    int64_t *write_lat = calloc(n, sizeof *write_lat);
    if (!lag_commit || !lag_send || !write_lat)
        return 1;
    int64_t *lag_by_write = calloc(n, sizeof *lag_by_write);
    if (!lag_by_write)
        return 1;
    size_t m = 0, missing = 0;
    for (uint64_t i = 1; i <= n; i++) {
        write_lat[i - 1] = (int64_t) (ack_ns[i] - send_ns[i]);
        uint64_t s = seq_of[i];
        uint64_t arrived = s > base && s - base < watch.cap ? watch.arrival_ns[s - base] : 0;
        if (!arrived) {
            missing++;
            continue;
        }
        lag_by_write[i - 1] = (int64_t) arrived - (int64_t) ack_ns[i];
        lag_commit[m] = (int64_t) arrived - (int64_t) ack_ns[i];
        lag_send[m] = (int64_t) arrived - (int64_t) send_ns[i];
        m++;
    }
    double wrote = (double) (write_end - start) / 1e9;
    printf("lag writer rate_target=%.0f/s achieved=%.0f/s n=%" PRIu64 " seconds=%.2f "
           "content=%zu dim=%u not_arrived=%zu\n", rate, (double) n / wrote, n, wrote,
           content_len, dim, missing);
    printf("  commits (syncer bookkeeping included): A %" PRIu64 " (%.1f writes per commit), "
           "B %" PRIu64 " (%.1f changes applied per commit)\n", a_commits - a_commits0,
           (double) n / (double) (a_commits - a_commits0 ? a_commits - a_commits0 : 1),
           b_commits - b_commits0, (double) (b_applied - b_applied0)
           / (double) (b_commits - b_commits0 ? b_commits - b_commits0 : 1));
    s_percentiles("A write (send -> A durable)", write_lat, n);
    s_percentiles("lag A durable -> B durable", lag_commit, m);
    s_percentiles("lag send -> B durable", lag_send, m);
    s_stalls(send_ns + 1, lag_by_write, n);
    free(lag_by_write);
    free(lag_commit);
    free(lag_send);
    free(write_lat);
    free(send_ns);
    free(ack_ns);
    free(seq_of);
    free(watch.arrival_ns);
    return missing ? 1 : 0;
}

//  --------------------------------------------------------------------------
//  lmdb

static int
s_cmd_lmdb(const char *src_data, const char *dst_dir, unsigned per_txn)
{
    store_t *src;
    if (store_open(src_data, true, 0, &src)) {
        fprintf(stderr, "bench_sync: cannot open %s\n", src_data);
        return 1;
    }
    MDB_env *env;
    if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 64ull << 30)
        || mdb_env_set_maxdbs(env, 4) || mdb_env_open(env, dst_dir, 0, 0640)) {
        fprintf(stderr, "bench_sync: cannot open %s\n", dst_dir);
        return 1;
    }
    const char *names[] = { "experiences", "embeddings", "versions" };
    MDB_dbi dst_dbi[3];
    MDB_txn *txn, *rtxn;
    if (mdb_txn_begin(env, NULL, 0, &txn))
        return 1;
    for (int i = 0; i < 3; i++)
        if (mdb_dbi_open(txn, names[i], MDB_CREATE, &dst_dbi[i]))
            return 1;
    if (mdb_txn_commit(txn) || store_read_begin(src, &rtxn))
        return 1;
    uint64_t start = bench_now_ns(), puts = 0, bytes = 0, commits = 0;
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    unsigned in_txn = 0;
    for (int i = 0; !rc && i < 3; i++) {
        store_iter_t it;
        rc = i < 2 ? store_records(src, rtxn, ENT_EXPERIENCE, NULL, &it)
                   : store_versions(src, rtxn, &it);
        //  The same keys as the store's: collective + id, or the id alone.
        uint8_t kbuf[2 * PDB_ID_LEN];
        pdb_id_t coll, id;
        MDB_val key = { i == 2 ? PDB_ID_LEN : sizeof kbuf, kbuf }, val;
        while (!rc && store_next(&it, &coll, &id, &val) == 0) {
            //  The second pass copies each experience's embedding.
            if (i == 1 && (rc = store_embedding_get(src, rtxn, &coll, &id, &val)) != 0)
                break;
            memcpy(kbuf, i == 2 ? id.b : coll.b, PDB_ID_LEN);
            memcpy(kbuf + PDB_ID_LEN, id.b, PDB_ID_LEN);
            rc = mdb_put(txn, dst_dbi[i], &key, &val, 0);
            puts++;
            bytes += key.mv_size + val.mv_size;
            if (!rc && ++in_txn == per_txn) {
                rc = mdb_txn_commit(txn);
                commits++;
                in_txn = 0;
                if (!rc)
                    rc = mdb_txn_begin(env, NULL, 0, &txn);
            }
        }
        store_iter_close(&it);
    }
    if (!rc) {
        rc = mdb_txn_commit(txn);
        commits++;
    }
    double seconds = (double) (bench_now_ns() - start) / 1e9;
    mdb_txn_abort(rtxn);
    mdb_env_close(env);
    store_destroy(&src);
    if (rc) {
        fprintf(stderr, "bench_sync: lmdb load failed: %s\n", mdb_strerror(rc));
        return 1;
    }
    printf("%-28s puts=%" PRIu64 " MB=%.1f seconds=%.2f puts/s=%.0f MB/s=%.1f commits=%" PRIu64
           "\n", "raw LMDB bulk load", puts, (double) bytes / 1e6, seconds,
           (double) puts / seconds, (double) bytes / seconds / 1e6, commits);
    return 0;
}

//  --------------------------------------------------------------------------

static void
s_usage(void)
{
    fprintf(stderr,
            "usage: bench_sync load DATA N CONTENT_BYTES DIM INFLIGHT\n"
            "       bench_sync head DATA\n"
            "       bench_sync vector DATA\n"
            "       bench_sync wait DATA HEAD TIMEOUT_S\n"
            "       bench_sync walbytes DATA FROM TO\n"
            "       bench_sync lag A_DATA B_DATA RATE SECONDS CONTENT_BYTES DIM\n"
            "       bench_sync lmdb SRC_DATA DST_DIR PER_TXN\n");
}

int
main(int argc, char *argv[])
{
    zsys_init();
    zsys_set_linger(0);
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "load") == 0 && argc == 7)
        return s_cmd_load(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
                          (uint32_t) atoi(argv[5]), (unsigned) atoi(argv[6]));
    if (strcmp(cmd, "head") == 0 && argc == 3)
        return s_cmd_head(argv[2]);
    if (strcmp(cmd, "vector") == 0 && argc == 3)
        return s_cmd_vector(argv[2]);
    if (strcmp(cmd, "wait") == 0 && argc == 5)
        return s_cmd_wait(argv[2], strtoull(argv[3], NULL, 10), atof(argv[4]));
    if (strcmp(cmd, "walbytes") == 0 && argc == 5)
        return s_cmd_walbytes(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    if (strcmp(cmd, "lag") == 0 && argc == 8)
        return s_cmd_lag(argv[2], argv[3], atof(argv[4]), atof(argv[5]),
                         strtoull(argv[6], NULL, 10), (uint32_t) atoi(argv[7]));
    if (strcmp(cmd, "lmdb") == 0 && argc == 5)
        return s_cmd_lmdb(argv[2], argv[3], (unsigned) atoi(argv[4]));
    s_usage();
    return 2;
}
