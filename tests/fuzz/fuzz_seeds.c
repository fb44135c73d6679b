/*  fuzz_seeds.c - writes the seed corpus (tests/fuzz/corpus/<harness>/)
    from a populated store (tests/unit/sync_fixture.h): its WAL's changes,
    whole and marked, sync messages of every operation carrying them, the
    store's snapshot as snapshot_ok pages, and JSON bodies. Run once when a
    format changes; the seeds are committed.
        fuzz_seeds <corpus folder>
*/
#include "change.h"
#include "clock.h"
#include "mpk.h"
#include "sync_fixture.h"
#include "sync_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *s_root;

static void
s_write(const char *harness, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s_root, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", s_root, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void
s_write_msg(const char *harness, const char *name, const sync_msg_t *msg)
{
    mpk_out_t out;
    mpk_out_init(&out);
    sync_msg_pack(&out.pk, msg);
    assert_int_equal(mpk_out_status(&out), 0);
    s_write(harness, name, out.buf.data, out.buf.size);
    mpk_out_release(&out);
}

//  --------------------------------------------------------------------------
//  Changes: every WAL entry, and the first ones again marked partial and
//  sourced (the 10- and 11-item forms).

static void
s_changes(const fx_blob_t *wal, size_t n, const pdb_id_t *source)
{
    char name[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "wal-%02zu", i + 1);
        s_write("change", name, wal[i].data, wal[i].len);
        s_write("change_ref", name, wal[i].data, wal[i].len);
    }
    for (size_t i = 0; i < n && i < 4; i++) {
        change_t c;
        assert_int_equal(change_decode(wal[i].data, wal[i].len, &c), 0);
        for (int form = 0; form < 2; form++) {
            c.partial = form == 0;
            c.source = form == 1 ? *source : (pdb_id_t) { { 0 } };
            mpk_out_t out;
            mpk_out_init(&out);
            change_pack(&out.pk, &c);
            snprintf(name, sizeof name, "%s-%02zu", form == 0 ? "partial" : "sourced", i + 1);
            s_write("change", name, out.buf.data, out.buf.size);
            s_write("change_ref", name, out.buf.data, out.buf.size);
            mpk_out_release(&out);
        }
    }
}

//  --------------------------------------------------------------------------
//  Sync messages of every operation

static sync_blob_t *
s_blobs(const fx_blob_t *items, size_t n)
{
    sync_blob_t *blobs = calloc(n ? n : 1, sizeof *blobs);
    assert_non_null(blobs);
    for (size_t i = 0; i < n; i++)
        blobs[i] = (sync_blob_t) { items[i].data, items[i].len };
    return blobs;
}

static void
s_requests(const fx_node_t *n, const fx_world_t *w, const vv_t *vector)
{
    pdb_id_t peer = w->remote;
    sync_msg_t hello = { .op = SYNC_HELLO, .from = n->node->instance_id, .protocol = 1,
                         .vector = vector->entries, .vector_n = vector->n,
                         .token = "secret", .token_len = 6, .has_target = true,
                         .target = peer };
    s_write_msg("syncmsg", "hello", &hello);
    sync_msg_t pull = { .op = SYNC_PULL, .from = peer, .has_target = true,
                        .target = n->node->instance_id, .cursor = 3, .max_changes = 100,
                        .max_bytes = 1 << 20, .wait_ms = 1000, .collectives = (pdb_id_t *) &w->c1,
                        .collectives_n = 1, .vector = vector->entries, .vector_n = vector->n,
                        .has_vector = true };
    s_write_msg("syncmsg", "pull", &pull);
    sync_msg_t snap = { .op = SYNC_SNAPSHOT, .from = peer, .has_target = true,
                        .target = n->node->instance_id, .collectives = (pdb_id_t *) &w->c2,
                        .collectives_n = 1, .page_token = "0123456789abcdef",
                        .page_token_len = 16, .max_changes = 50 };
    s_write_msg("syncmsg", "snapshot", &snap);
}

static void
s_replies(const fx_node_t *n, const vv_t *vector, const fx_blob_t *wal, size_t wal_n)
{
    pdb_id_t self = n->node->instance_id;
    sync_msg_t hello_ok = { .op = SYNC_HELLO_OK, .from = self, .accepted = true,
                            .max_batch_bytes = 4 << 20, .head = wal_n, .floor = 1,
                            .vector = vector->entries, .vector_n = vector->n };
    s_write_msg("syncmsg", "hello_ok", &hello_ok);
    sync_msg_t refused = { .op = SYNC_HELLO_OK, .from = self, .reason = "wrong token",
                           .reason_len = 11, .vector = vector->entries, .vector_n = 0 };
    s_write_msg("syncmsg", "hello_ok-refused", &refused);
    sync_msg_t push_ok = { .op = SYNC_PUSH_OK, .from = self, .accepted_n = 3, .stale_n = 1,
                           .missing_n = 1, .safe_through = 4 };
    s_write_msg("syncmsg", "push_ok", &push_ok);
    sync_blob_t *blobs = s_blobs(wal, wal_n);
    sync_msg_t pull_ok = { .op = SYNC_PULL_OK, .from = self, .changes = blobs,
                           .changes_n = wal_n, .next_cursor = wal_n, .head = wal_n };
    s_write_msg("syncmsg", "pull_ok", &pull_ok);
    sync_msg_t push = { .op = SYNC_PUSH, .from = self, .has_target = true,
                        .target = vector->entries[0].origin, .changes = blobs,
                        .changes_n = wal_n < 5 ? wal_n : 5, .filtered = true };
    s_write_msg("syncmsg", "push", &push);
    free(blobs);
    sync_msg_t error = { .op = SYNC_ERROR, .from = self, .error = SYNC_ERR_CURSOR_BELOW_FLOOR,
                         .detail = "cursor 2 is below the floor 5", .detail_len = 29 };
    s_write_msg("syncmsg", "error", &error);
}

//  --------------------------------------------------------------------------
//  Snapshots: the whole store in one page, in pages of 4, and filtered

static void
s_snapshot(fx_node_t *n, const pdb_id_t *filter, size_t filter_n, size_t per_page,
           const char *tag)
{
    fx_snap_t s;
    fx_snapshot(n, filter, filter_n, per_page, 1u << 20, &s);
    for (size_t p = 0; p < s.pages; p++) {
        size_t from = p ? s.page_end[p - 1] : 0;
        sync_blob_t *blobs = s_blobs(s.items + from, s.page_end[p] - from);
        bool last = p + 1 == s.pages;
        sync_msg_t msg = { .op = SYNC_SNAPSHOT_OK, .from = n->node->instance_id,
                           .changes = blobs, .changes_n = s.page_end[p] - from,
                           .page_token = last ? NULL : "0123456789abcdef",
                           .page_token_len = last ? 0 : 16, .total = s.total, .done = last,
                           .snapshot_seq = s.head, .vector = s.vector.entries,
                           .vector_n = s.vector.n };
        char name[64];
        snprintf(name, sizeof name, "%s-page-%zu", tag, p + 1);
        mpk_out_t out;
        mpk_out_init(&out);
        sync_msg_pack(&out.pk, &msg);
        s_write("snapshot", name, out.buf.data, out.buf.size);
        if (p == 0)
            s_write("syncmsg", tag, out.buf.data, out.buf.size);
        mpk_out_release(&out);
        free(blobs);
    }
    fx_snap_free(&s);
}

//  --------------------------------------------------------------------------
//  JSON bodies: a selector byte (fuzz_json_map.c: type - 1, operation
//  index << 2, from a client << 4, embedding size 3 << 5), then the body.

#define SEL(type, op, client, dim3) \
    ((char) (((type) - 1) | (((op) - 1) << 2) | ((client) << 4) | ((dim3) << 5)))

typedef struct {
    char selector;
    const char *name;
    const char *body;
} s_json_t;

#define ID1 "\"0190c3e2-6a1b-7c00-8000-000000000001\""
#define ID2 "\"0190c3e2-6a1b-7c00-8000-000000000002\""

static const s_json_t s_json[] = {
    { SEL(1, 1, 1, 0), "collective-create", "{\"name\":\"team-notes\",\"owner\":\"ada\","
      "\"embedding_dim\":3}" },
    { SEL(1, 1, 0, 0), "collective-stored", "{\"name\":\"\\u00fc-\\u540d\",\"owner\":\"ada\","
      "\"embedding_dim\":4096,\"created_at\":1700000000000,\"updated_at\":1700000000001}" },
    { SEL(1, 2, 1, 0), "collective-rename", "{\"name\":\"renamed\"}" },
    { SEL(1, 3, 1, 0), "collective-delete", "{}" },
    { SEL(2, 1, 1, 1), "experience-minimal", "{\"content\":\"x\",\"embedding\":[1.0,0.0,-2.5]}" },
    { SEL(2, 1, 1, 1), "experience-full", "{\"content\":\"retry with backoff\","
      "\"embedding\":[0.1,-2.5,1e-07],\"type\":{\"kind\":\"solution\",\"problem_ref\":" ID1 ","
      "\"approach\":\"backoff\",\"worked\":true},\"importance\":0.75,\"confidence\":0.3,"
      "\"domain\":[\"ops\",\"net\"],\"tags\":{\"team\":\"core\",\"lang\":\"c\"},"
      "\"related_files\":[\"a.c\"],\"source_agent\":\"agent-1\",\"source_task\":\"t-9\","
      "\"archived\":false}" },
    { SEL(2, 1, 0, 1), "experience-stored", "{\"content\":\"c\","
      "\"embedding\":[3.4028234663852886e38,-1.17549435e-38,1.4e-45],"
      "\"type\":{\"kind\":\"success_pattern\",\"task_type\":\"t\",\"quality\":1},"
      "\"applications\":5,\"applications_by_instance\":{" ID1 ":2," ID2 ":3},"
      "\"created_at\":1,\"last_reinforced\":2}" },
    { SEL(2, 1, 1, 1), "experience-variant", "{\"content\":\"c\",\"embedding\":[1,2,3],"
      "\"type\":{\"kind\":\"error_pattern\",\"signature\":\"s\",\"fix\":\"f\"}}" },
    { SEL(2, 2, 1, 0), "experience-update", "{\"importance\":0.9,\"tags\":{},\"archived\":true}" },
    { SEL(3, 1, 1, 0), "relation-create", "{\"source\":" ID1 ",\"target\":" ID2 ","
      "\"type\":\"supersedes\",\"strength\":0.5,\"metadata\":{\"why\":\"newer\"}}" },
    { SEL(4, 1, 1, 1), "insight-create", "{\"content\":\"pattern\",\"embedding\":[0.5,0.25,-0.125],"
      "\"source_ids\":[" ID1 "," ID2 "],\"type\":\"synthesis\",\"confidence\":0.6,"
      "\"domain\":[\"ops\"]}" },
    { SEL(4, 1, 0, 0), "insight-stored", "{\"content\":\"p\",\"embedding\":[1.5],"
      "\"type\":\"pattern\",\"created_at\":5,\"updated_at\":6}" },
};

static void
s_json_bodies(void)
{
    for (size_t i = 0; i < sizeof s_json / sizeof s_json[0]; i++) {
        size_t len = strlen(s_json[i].body);
        char *data = malloc(len + 1);
        assert_non_null(data);
        data[0] = s_json[i].selector;
        memcpy(data + 1, s_json[i].body, len);
        s_write("json_map", s_json[i].name, data, len + 1);
        free(data);
    }
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds <corpus folder>\n");
        return 2;
    }
    s_root = argv[1];
    fx_node_t n;
    fx_open(&n);
    fx_world_t w;
    fx_populate(&n, clock_wall_ms(), &w);
    fx_blob_t *wal;
    size_t wal_n;
    fx_wal(&n, 0, &wal, &wal_n);
    s_changes(wal, wal_n, &w.remote);
    fx_snap_t s;
    fx_snapshot(&n, NULL, 0, 1000, 1u << 20, &s);
    s_requests(&n, &w, &s.vector);
    s_replies(&n, &s.vector, wal, wal_n);
    fx_snap_free(&s);
    s_snapshot(&n, NULL, 0, 1000, "snapshot_ok-whole");
    s_snapshot(&n, NULL, 0, 4, "snapshot_ok-paged");
    s_snapshot(&n, &w.c1, 1, 1000, "snapshot_ok-filtered");
    s_json_bodies();
    fx_blobs_free(wal, wal_n);
    fx_close(&n);
    return 0;
}
