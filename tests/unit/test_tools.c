/*  test_tools.c - the pulsedb command's pure pieces: argument parsing,
    request bodies, JSONL lines, progress text and drawing, restart backoff,
    URLs, sync status cells, program lookup and the syncer's progress lines.
*/
#include "args.h"
#include "body.h"
#include "bounds.h"
#include "client.h"
#include "jsonl.h"
#include "progpath.h"
#include "progress.h"
#include "super.h"
#include "syncfmt.h"
#include "syncrun.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  --- args -------------------------------------------------------------------------

static const args_opt_t s_opts[] = {
    { "--k", true }, { "--json", false }, { "--tag", true }, { "-h", false }, { NULL, false }
};

static void
test_args_flags_values_and_positionals(void **state)
{
    (void) state;
    char *argv[] = { "search", "coll", "--k", "5", "--json", "--tag=a=b", "-", "--", "--k" };
    int idx[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    args_t args;
    args_init(&args, argv, idx, 8, s_opts);
    const char *flag, *value;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(args_next(&args, &flag, &value, why), 1);
    assert_null(flag);
    assert_string_equal(value, "coll");
    assert_int_equal(args_next(&args, &flag, &value, why), 1);
    assert_string_equal(flag, "--k");
    assert_string_equal(value, "5");
    assert_int_equal(args_next(&args, &flag, &value, why), 1);
    assert_string_equal(flag, "--json");
    assert_null(value);
    assert_int_equal(args_next(&args, &flag, &value, why), 1);
    assert_string_equal(flag, "--tag");
    assert_string_equal(value, "a=b");
    assert_int_equal(args_next(&args, &flag, &value, why), 1);
    assert_null(flag);
    assert_string_equal(value, "-");
    //  After "--" a flag-looking argument is positional.
    assert_int_equal(args_next(&args, &flag, &value, why), 1);
    assert_null(flag);
    assert_string_equal(value, "--k");
    assert_int_equal(args_next(&args, &flag, &value, why), 0);
}

static void
test_args_errors(void **state)
{
    (void) state;
    const char *flag, *value;
    char why[PDB_ERRMSG_MAX];
    args_t args;
    char *unknown[] = { "x", "--kk", "1" };
    int idx[] = { 1, 2 };
    args_init(&args, unknown, idx, 2, s_opts);
    assert_int_equal(args_next(&args, &flag, &value, why), PDB_EINVAL);
    assert_non_null(strstr(why, "unknown option '--kk'"));

    char *missing[] = { "x", "--k" };
    args_init(&args, missing, idx, 1, s_opts);
    assert_int_equal(args_next(&args, &flag, &value, why), PDB_EINVAL);
    assert_non_null(strstr(why, "--k needs a value"));

    char *extra[] = { "x", "--json=yes" };
    args_init(&args, extra, idx, 1, s_opts);
    assert_int_equal(args_next(&args, &flag, &value, why), PDB_EINVAL);
    assert_non_null(strstr(why, "--json takes no value"));
}

static void
test_args_numbers(void **state)
{
    (void) state;
    uint64_t n;
    double d;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(args_uint("--k", "10", 1, 1000, &n, why), 0);
    assert_int_equal(n, 10);
    assert_int_equal(args_uint("--k", "0", 1, 1000, &n, why), PDB_EINVAL);
    assert_non_null(strstr(why, "--k: '0' is not a whole number in 1..1000"));
    assert_int_equal(args_uint("--k", "-1", 1, 1000, &n, why), PDB_EINVAL);
    assert_int_equal(args_uint("--k", "5x", 1, 1000, &n, why), PDB_EINVAL);
    assert_int_equal(args_uint("--k", "", 1, 1000, &n, why), PDB_EINVAL);
    assert_int_equal(args_double("--importance", "0.25", 0, 1, &d, why), 0);
    assert_true(d == 0.25);
    assert_int_equal(args_double("--importance", "1.5", 0, 1, &d, why), PDB_EINVAL);
    assert_int_equal(args_double("--importance", "nan", 0, 1, &d, why), PDB_EINVAL);
    assert_int_equal(args_double("--importance", "", 0, 1, &d, why), PDB_EINVAL);
}

//  --- body -------------------------------------------------------------------------

static void
test_body_embedding(void **state)
{
    (void) state;
    json_t *vec = NULL;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(body_embedding("[0.1, -2, 3e-1]", &vec, why), 0);
    assert_int_equal(json_array_size(vec), 3);
    json_decref(vec);
    static const char *bad[] = { "", "[]", "[1,", "{\"a\":1}", "[1,\"x\"]", "[1,null]", "1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vec = NULL;
        if (body_embedding(bad[i], &vec, why) != PDB_EINVAL || vec)
            fail_msg("accepted '%s'", bad[i]);
        assert_non_null(strstr(why, "--embedding"));
    }
    //  Over PDB_DIM_MAX numbers.
    size_t len = PDB_DIM_MAX * 2 + 8;
    char *big = malloc(len);
    assert_non_null(big);
    char *p = big;
    *p++ = '[';
    for (unsigned i = 0; i <= PDB_DIM_MAX; i++) {
        *p++ = '1';
        *p++ = i < PDB_DIM_MAX ? ',' : ']';
    }
    *p = '\0';
    assert_int_equal(body_embedding(big, &vec, why), PDB_EINVAL);
    assert_non_null(strstr(why, "expected 1..4096"));
    free(big);
}

static void
test_body_domain(void **state)
{
    (void) state;
    json_t *list = NULL;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(body_domain("rust, c ,sync", &list, why), 0);
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_array_get(list, 1)), "c");
    json_decref(list);
    assert_int_equal(body_domain("a,,b", &list, why), PDB_EINVAL);
    assert_non_null(strstr(why, "empty item"));
    assert_int_equal(body_domain("", &list, why), PDB_EINVAL);
    char many[200] = "";
    for (int i = 0; i < 33; i++)
        strcat(many, i ? ",x" : "x");
    assert_int_equal(body_domain(many, &list, why), PDB_EINVAL);
    assert_non_null(strstr(why, "too many"));
}

static void
test_body_tags(void **state)
{
    (void) state;
    json_t *tags = json_object();
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(body_tag_add(tags, "lang=c", why), 0);
    assert_int_equal(body_tag_add(tags, "expr=a=b", why), 0);
    assert_int_equal(body_tag_add(tags, "empty=", why), 0);
    assert_string_equal(json_string_value(json_object_get(tags, "expr")), "a=b");
    assert_string_equal(json_string_value(json_object_get(tags, "empty")), "");
    assert_int_equal(body_tag_add(tags, "novalue", why), PDB_EINVAL);
    assert_int_equal(body_tag_add(tags, "=v", why), PDB_EINVAL);
    assert_non_null(strstr(why, "KEY=VALUE"));
    json_decref(tags);
}

static void
test_body_collective_by_name_picks_smaller_id(void **state)
{
    (void) state;
    json_t *reply = json_loads(
        "{\"collectives\":["
        "{\"id\":\"0190a000-0000-7000-8000-00000000000b\",\"name\":\"team\"},"
        "{\"id\":\"0190a000-0000-7000-8000-00000000000c\",\"name\":\"other\"},"
        "{\"id\":\"0190a000-0000-7000-8000-00000000000a\",\"name\":\"team\"}]}", 0, NULL);
    assert_non_null(reply);
    assert_string_equal(body_collective_id(reply, "team"),
                        "0190a000-0000-7000-8000-00000000000a");
    assert_string_equal(body_collective_id(reply, "other"),
                        "0190a000-0000-7000-8000-00000000000c");
    assert_null(body_collective_id(reply, "none"));
    json_decref(reply);
    assert_true(body_is_uuid("0190a000-0000-7000-8000-00000000000a"));
    assert_false(body_is_uuid("team"));
    assert_false(body_is_uuid("0190a000-0000-7000-8000-00000000000a/x"));
}

static void
test_body_error_text(void **state)
{
    (void) state;
    char out[PDB_ERRMSG_MAX];
    const char *err = "{\"error\":{\"code\":\"not_found\",\"message\":\"no such experience\"}}";
    body_error_text(404, err, strlen(err), out, sizeof out);
    assert_string_equal(out, "not_found: no such experience");
    const char *html = "<html>bad gateway</html>\nmore";
    body_error_text(502, html, strlen(html), out, sizeof out);
    assert_string_equal(out, "http_502: <html>bad gateway</html>");
    body_error_text(500, "", 0, out, sizeof out);
    assert_string_equal(out, "http_500: ");
}

//  --- jsonl ------------------------------------------------------------------------

static void
test_jsonl_lines(void **state)
{
    (void) state;
    size_t start, len;
    char why[PDB_ERRMSG_MAX];
    const char *good = "  {\"content\":\"x\",\"embedding\":[1,0]}\r\n";
    assert_int_equal(jsonl_check(good, strlen(good), &start, &len, why), 0);
    assert_int_equal(start, 2);
    assert_int_equal(len, strlen("{\"content\":\"x\",\"embedding\":[1,0]}"));
    const char *b64 = "{\"content\":\"x\",\"embedding_b64\":\"AACAPw==\"}";
    assert_int_equal(jsonl_check(b64, strlen(b64), &start, &len, why), 0);
    assert_int_equal(jsonl_check("   \n", 4, &start, &len, why), JSONL_BLANK);
    assert_int_equal(jsonl_check("", 0, &start, &len, why), JSONL_BLANK);
    static const struct { const char *line, *expect; } bad[] = {
        { "{\"content\":\"x\"", "invalid JSON" },
        { "[1,2]", "expected a JSON object" },
        { "{\"embedding\":[1]}", "no \"content\"" },
        { "{\"content\":\"x\"}", "no \"embedding\"" },
        { "{\"content\":\"x\",\"content\":\"y\",\"embedding\":[1]}", "invalid JSON" },
        //  After an embedding the fast path takes: the error is the line's own.
        { "{\"embedding\":[1, 2, 3],\"content\":\"x\",}", "invalid JSON at column 38" },
        { "{\"content\":\"x\",\"embedding_b64\":7}", "no \"embedding\"" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = jsonl_check(bad[i].line, strlen(bad[i].line), &start, &len, why);
        if (rc != PDB_EINVAL || !strstr(why, bad[i].expect))
            fail_msg("line %zu: rc=%d why=%s", i, rc, why);
    }
    //  Never reads past len: the closing brace is outside it.
    assert_int_equal(jsonl_check("{\"content\":\"x\",\"embedding\":[1]}", 10, &start, &len, why),
                     PDB_EINVAL);
}

static void
test_jsonl_oversized_line_refused(void **state)
{
    (void) state;
    size_t n = PDB_HTTP_BODY_MAX + 10;
    char *line = malloc(n);
    assert_non_null(line);
    memset(line, 'x', n);
    size_t start, len;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(jsonl_check(line, n, &start, &len, why), PDB_ETOOBIG);
    free(line);
}

//  --- progress ---------------------------------------------------------------------

static void
test_progress_line_and_tenths(void **state)
{
    (void) state;
    char out[256];
    progress_line(out, sizeof out, 300, 1000, 0, 2000);
    assert_string_equal(out, "[#########.....................]  300/1000   30%  150/s  ETA 5s");
    progress_line(out, sizeof out, 1000, 1000, 2, 1000);
    assert_non_null(strstr(out, "100%"));
    assert_non_null(strstr(out, "ETA 0s  failed 2"));
    progress_line(out, sizeof out, 10, 0, 0, 1000);
    assert_string_equal(out, "10 done  10/s");
    progress_line(out, sizeof out, 1, 100000, 0, 1000);
    assert_non_null(strstr(out, "ETA 27h46m"));
    progress_line(out, sizeof out, 0, 10, 0, 0);
    assert_non_null(strstr(out, "ETA ?"));
    assert_int_equal(progress_tenth(0, 100), 0);
    assert_int_equal(progress_tenth(9, 100), 0);
    assert_int_equal(progress_tenth(10, 100), 1);
    assert_int_equal(progress_tenth(99, 100), 9);
    assert_int_equal(progress_tenth(100, 100), 10);
    assert_int_equal(progress_tenth(5, 0), 0);
}

static void
test_progress_counts_for_plain_lines(void **state)
{
    (void) state;
    char out[256];
    progress_counts(out, sizeof out, 300, 1000, 0, 2000);
    assert_string_equal(out, "300/1000 (30%) 150/s ETA 5s");
    progress_counts(out, sizeof out, 1200, 1000, 3, 1000);
    assert_string_equal(out, "1000/1000 (100%) 1200/s ETA 0s failed 3");
    progress_counts(out, sizeof out, 10, 0, 0, 1000);
    assert_string_equal(out, "10 done 10/s");
}

//  What a progress_t wrote to its stream, from begin to end.
static char *
s_drawn(bool tty, const uint64_t *done, size_t n, uint64_t total, const uint64_t *at_ms)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    progress_t p;
    progress_begin(&p, out, tty, "job", 0);
    for (size_t i = 0; i < n; i++)
        progress_update(&p, done[i], total, 0, at_ms[i]);
    progress_print(&p, out, "a message");
    progress_end(&p, at_ms[n - 1]);
    fclose(out);
    return text;
}

static void
test_progress_plain_lines_one_per_tenth(void **state)
{
    (void) state;
    //  Steps of 5 of 100 over 20 s: ten tenths, one line each; none repeated
    //  by the end; the message on a line of its own.
    uint64_t done[20], at[20];
    for (size_t i = 0; i < 20; i++) {
        done[i] = (i + 1) * 5;
        at[i] = (i + 1) * 1000;
    }
    char *text = s_drawn(false, done, 20, 100, at);
    assert_string_equal(text,
        "job: 10/100 (10%) 5/s ETA 18s\n" "job: 20/100 (20%) 5/s ETA 16s\n"
        "job: 30/100 (30%) 5/s ETA 14s\n" "job: 40/100 (40%) 5/s ETA 12s\n"
        "job: 50/100 (50%) 5/s ETA 10s\n" "job: 60/100 (60%) 5/s ETA 8s\n"
        "job: 70/100 (70%) 5/s ETA 6s\n" "job: 80/100 (80%) 5/s ETA 4s\n"
        "job: 90/100 (90%) 5/s ETA 2s\n" "job: 100/100 (100%) 5/s ETA 0s\n"
        "a message\n");
    free(text);
    //  A jump over tenths prints once; an end short of the total prints
    //  the last counts; no escape codes.
    uint64_t jump[] = { 1, 35, 36 }, jump_at[] = { 1000, 2000, 3000 };
    text = s_drawn(false, jump, 3, 100, jump_at);
    assert_string_equal(text, "job: 35/100 (35%) 18/s ETA 4s\na message\n"
                              "job: 36/100 (36%) 12/s ETA 5s\n");
    free(text);
    //  Unknown total: a line per PROGRESS_PLAIN_MS at most, and the end.
    uint64_t open_ended[] = { 10, 20, 30 };
    uint64_t open_at[] = { 1000, PROGRESS_PLAIN_MS, PROGRESS_PLAIN_MS + 1000 };
    text = s_drawn(false, open_ended, 3, 0, open_at);
    assert_string_equal(text, "job: 20 done 2/s\na message\njob: 30 done 3/s\n");
    free(text);
}

static void
test_progress_bar_redrawn_in_place_on_a_terminal(void **state)
{
    (void) state;
    //  Updates closer than PROGRESS_REDRAW_MS are not drawn; the message
    //  clears the bar and redraws it; the end draws the last counts and
    //  ends the line.
    uint64_t done[] = { 10, 20, 50 }, at[] = { 1000, 1000 + PROGRESS_REDRAW_MS / 2, 2000 };
    char *text = s_drawn(true, done, 3, 100, at);
    assert_string_equal(text,
        "\rjob  [###...........................]  10/100   10%  10/s  ETA 9s\x1b[K"
        "\rjob  [###############...............]  50/100   50%  25/s  ETA 2s\x1b[K"
        "\r\x1b[Ka message\n"
        "\rjob  [###############...............]  50/100   50%  25/s  ETA 2s\x1b[K"
        "\rjob  [###############...............]  50/100   50%  25/s  ETA 2s\x1b[K\n");
    free(text);
}

//  --- syncrun ----------------------------------------------------------------------

static void
test_syncrun_parses_the_syncers_progress_lines(void **state)
{
    (void) state;
    syncrun_event_t ev;
    assert_true(syncrun_parse("sync once progress peer=edge-3 direction=pull stage=snapshot "
                              "done=50 total=301", &ev));
    assert_string_equal(ev.peer, "edge-3");
    assert_string_equal(ev.direction, "pull");
    assert_string_equal(ev.stage, "snapshot");
    assert_int_equal(ev.done, 50);
    assert_int_equal(ev.total, 301);
    char name[SYNCRUN_NAME_MAX + 2], line[SYNCRUN_NAME_MAX + 100];
    memset(name, 'n', SYNCRUN_NAME_MAX);
    name[SYNCRUN_NAME_MAX] = '\0';
    snprintf(line, sizeof line, "sync once progress peer=%s direction=push stage=changes "
             "done=1 total=2", name);
    assert_true(syncrun_parse(line, &ev));
    assert_string_equal(ev.peer, name);
    //  Anything else is passed on as is.
    const char *others[] = {
        "sync once peer=a pushed=0 pulled=0 result=ok",
        "sync once progress peer=a direction=pull stage=changes done=1",
        "sync once progress peer=a direction=pull stage=changes done=1 total=2 extra",
        "sync once progress peer=a direction=pull stage=changes done=x total=2",
        "", "2026-01-01T00:00:00.000Z I syncer: started",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        assert_false(syncrun_parse(others[i], &ev));
    name[SYNCRUN_NAME_MAX] = 'n';
    name[SYNCRUN_NAME_MAX + 1] = '\0';        // one byte over the longest name
    snprintf(line, sizeof line, "sync once progress peer=%s direction=push stage=changes "
             "done=1 total=2", name);
    assert_false(syncrun_parse(line, &ev));
}

//  --- backoff ----------------------------------------------------------------------

static void
test_backoff_doubles_caps_and_resets(void **state)
{
    (void) state;
    backoff_t b;
    super_backoff_init(&b);
    uint32_t expect[] = { 100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000 };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        assert_int_equal(super_restart_delay(&b, 50), expect[i]);
    //  Just under healthy: keeps the cap.
    assert_int_equal(super_restart_delay(&b, SUPER_HEALTHY_MS - 1), 10000);
    //  30 s of healthy running: back to the start.
    assert_int_equal(super_restart_delay(&b, SUPER_HEALTHY_MS), 100);
    assert_int_equal(super_restart_delay(&b, 10), 200);
}

//  --- client -----------------------------------------------------------------------

static void
test_client_default_url(void **state)
{
    (void) state;
    char url[CLIENT_URL_MAX];
    client_default_url("127.0.0.1", 7070, url, sizeof url);
    assert_string_equal(url, "http://127.0.0.1:7070");
    client_default_url("0.0.0.0", 80, url, sizeof url);
    assert_string_equal(url, "http://127.0.0.1:80");
    client_default_url("::", 8080, url, sizeof url);
    assert_string_equal(url, "http://[::1]:8080");
    client_default_url("fe80::1", 1, url, sizeof url);
    assert_string_equal(url, "http://[fe80::1]:1");
    client_default_url("db.example", 7070, url, sizeof url);
    assert_string_equal(url, "http://db.example:7070");
}

static void
test_client_unreachable_gateway_says_node_not_running(void **state)
{
    (void) state;
    //  Port 1 on loopback: nothing listens, the connection is refused.
    client_t *c = client_new("http://127.0.0.1:1/", NULL);
    assert_non_null(c);
    assert_string_equal(client_url(c), "http://127.0.0.1:1");
    client_reply_t reply;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(client_call(c, "GET", "/v1/status", NULL, 0, &reply, why), PDB_EUNAVAIL);
    assert_non_null(strstr(why, "not running"));
    assert_non_null(strstr(why, "pulsedb up"));
    assert_null(reply.body);
    client_destroy(&c);
    client_destroy(&c);
    assert_null(client_new("", NULL));
    assert_null(client_new("http://127.0.0.1:1", "two words"));
    assert_null(client_new("http://127.0.0.1:1", "line\nbreak"));
}

//  --- sync peers: bodies ------------------------------------------------------------

#define S_COLL_A "0190c3e2-0000-7000-8000-000000000001"
#define S_COLL_B "0190c3e2-0000-7000-8000-000000000002"

static void
test_body_peer_builds_the_post_body(void **state)
{
    (void) state;
    const char *colls[] = { S_COLL_A, S_COLL_B };
    json_t *body = NULL;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(body_peer("edge-3.eu_1", "tcp://10.0.0.2:7700", "pull", colls, 2, &body,
                               why), 0);
    json_t *want = json_pack("{s:s,s:s,s:s,s:[s,s]}", "name", "edge-3.eu_1", "address",
                             "tcp://10.0.0.2:7700", "direction", "pull", "collectives",
                             S_COLL_A, S_COLL_B);
    assert_true(json_equal(body, want));
    json_decref(want);
    json_decref(body);
    //  No direction: both; no collectives: an empty filter (every collective).
    assert_int_equal(body_peer("beta", "tcp://beta:7700", NULL, NULL, 0, &body, why), 0);
    assert_string_equal(json_string_value(json_object_get(body, "direction")), "both");
    assert_int_equal(json_array_size(json_object_get(body, "collectives")), 0);
    json_decref(body);
}

static void
test_body_peer_refuses_bad_arguments(void **state)
{
    (void) state;
    json_t *body = NULL;
    char why[PDB_ERRMSG_MAX];
    const char *bad_coll[] = { "not-a-uuid" };
    char long_name[BODY_PEER_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    struct {
        const char *name, *address, *direction;
        const char *const *colls;
        size_t n;
        const char *says;
    } cases[] = {
        { "", "tcp://h:1", NULL, NULL, 0, "NAME" },
        { "b c", "tcp://h:1", NULL, NULL, 0, "NAME" },
        { "in:x", "tcp://h:1", NULL, NULL, 0, "NAME" },
        { "b/c", "tcp://h:1", NULL, NULL, 0, "NAME" },
        { long_name, "tcp://h:1", NULL, NULL, 0, "NAME" },
        { "b", "tcp://h:1", "sideways", NULL, 0, "--direction" },
        { "b", "tcp://h:1", NULL, bad_coll, 1, "--collective" },
        { "b", "h:1", NULL, NULL, 0, "ADDRESS" },
        { "b", "tcp://h:0", NULL, NULL, 0, "ADDRESS" },
        { "b", "tcp://h:*", NULL, NULL, 0, "ADDRESS" },
        { "b", "tcp://*:7700", NULL, NULL, 0, "ADDRESS" },
        { "b", "http://h:7070/v1", NULL, NULL, 0, "ADDRESS" },
        { "b", "tcp://", NULL, NULL, 0, "ADDRESS" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        why[0] = '\0';
        assert_int_equal(body_peer(cases[i].name, cases[i].address, cases[i].direction,
                                   cases[i].colls, cases[i].n, &body, why), PDB_EINVAL);
        if (!strstr(why, cases[i].says))
            fail_msg("case %zu: '%s' does not name %s", i, why, cases[i].says);
    }
    long_name[BODY_PEER_NAME_MAX] = '\0';
    assert_true(body_peer_name_valid(long_name));
    assert_int_equal(body_peer(long_name, "tcp://[::1]:7700", "both", NULL, 0, &body, why), 0);
    json_decref(body);
}

//  --- sync status cells --------------------------------------------------------------

static void
test_syncfmt_counts_and_ages(void **state)
{
    (void) state;
    char out[SYNCFMT_CELL_MAX];
    json_t *n = json_integer(42);
    syncfmt_count(out, sizeof out, n);
    assert_string_equal(out, "42");
    syncfmt_count(out, sizeof out, NULL);
    assert_string_equal(out, "-");
    syncfmt_count(out, sizeof out, json_null());
    assert_string_equal(out, "-");
    json_decref(n);

    json_t *then = json_integer(1000000);
    syncfmt_age(out, sizeof out, then, 1000000 + 12500);
    assert_string_equal(out, "12s ago");
    syncfmt_age(out, sizeof out, then, 1000000 + 185000);
    assert_string_equal(out, "3m05s ago");
    syncfmt_age(out, sizeof out, then, 1000000 + 300);
    assert_string_equal(out, "just now");
    syncfmt_age(out, sizeof out, then, 999000);       // a clock behind the peer's
    assert_string_equal(out, "just now");
    syncfmt_age(out, sizeof out, NULL, 5);
    assert_string_equal(out, "-");
    json_decref(then);
}

static void
test_syncfmt_snapshot_progress(void **state)
{
    (void) state;
    char out[SYNCFMT_CELL_MAX];
    json_t *s = json_pack("{s:i,s:i,s:i,s:i,s:i}", "done", 50, "total", 200, "bytes", 9000,
                          "rate", 25, "eta_ms", 6000);
    syncfmt_snapshot(out, sizeof out, s);
    assert_string_equal(out, "50/200 (25%) 25/s ETA 6s");
    json_object_set_new(s, "eta_ms", json_integer(125000));
    syncfmt_snapshot(out, sizeof out, s);
    assert_string_equal(out, "50/200 (25%) 25/s ETA 2m05s");
    json_object_set_new(s, "done", json_integer(200));
    syncfmt_snapshot(out, sizeof out, s);
    assert_string_equal(out, "200/200 (100%) 25/s ETA done");
    //  Nothing moving yet: no ETA can be given.
    json_decref(s);
    s = json_pack("{s:i,s:i,s:i,s:i}", "done", 0, "total", 10, "rate", 0, "eta_ms", 0);
    syncfmt_snapshot(out, sizeof out, s);
    assert_string_equal(out, "0/10 (0%) 0/s ETA ?");
    json_decref(s);
    //  Total not known yet; fields missing.
    s = json_pack("{s:i,s:n}", "done", 7, "total");
    syncfmt_snapshot(out, sizeof out, s);
    assert_string_equal(out, "7 done");
    json_decref(s);
    syncfmt_snapshot(out, sizeof out, json_null());
    assert_string_equal(out, "-");
}

static void
test_syncfmt_errors_collectives_and_widths(void **state)
{
    (void) state;
    char out[SYNCFMT_CELL_MAX];
    json_t *err = json_string("connection refused");
    json_t *four = json_integer(4), *one = json_integer(1);
    syncfmt_error(out, sizeof out, err, four);
    assert_string_equal(out, "connection refused (4 failures)");
    syncfmt_error(out, sizeof out, err, one);
    assert_string_equal(out, "connection refused (1 failure)");
    syncfmt_error(out, sizeof out, err, NULL);
    assert_string_equal(out, "connection refused");
    json_decref(err);
    err = json_string("");
    syncfmt_error(out, sizeof out, err, four);       // the syncer's "never failed"
    assert_string_equal(out, "-");
    json_decref(err);
    char longer[200];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    err = json_string(longer);
    syncfmt_error(out, sizeof out, err, NULL);
    assert_int_equal(strlen(out), SYNCFMT_ERROR_SHOWN);
    assert_non_null(strstr(out, "..."));
    json_decref(err);
    json_decref(four);
    json_decref(one);
    //  A peer that works again shows its last error as history, with its age.
    char past[2 * SYNCFMT_CELL_MAX];
    err = json_string("push: peer went away");
    json_t *at = json_integer(1700000000000);
    syncfmt_past_error(past, sizeof past, err, at, 1700000185000ull);
    assert_string_equal(past, "none (last 3m05s ago: push: peer went away)");
    json_decref(err);
    err = json_null();
    syncfmt_past_error(past, sizeof past, err, at, 1700000185000ull);
    assert_string_equal(past, "-");
    json_decref(err);
    json_decref(at);

    json_t *list = json_array();
    syncfmt_collectives(out, sizeof out, list);
    assert_string_equal(out, "all");
    json_array_append_new(list, json_string(S_COLL_A));
    syncfmt_collectives(out, sizeof out, list);
    assert_string_equal(out, S_COLL_A);
    json_array_append_new(list, json_string(S_COLL_B));
    syncfmt_collectives(out, sizeof out, list);
    assert_string_equal(out, "2 collectives");
    json_decref(list);
    syncfmt_collectives(out, sizeof out, json_null());
    assert_string_equal(out, "-");

    json_t *peers = json_pack("[{s:s},{s:s},{s:n}]", "name", "ab", "name",
                              "a-rather-long-peer-name", "name");
    assert_int_equal(syncfmt_name_width(peers, "name", 4, 40), 23);
    assert_int_equal(syncfmt_name_width(peers, "name", 4, 10), 10);
    json_decref(peers);
}

//  --- program lookup -----------------------------------------------------------------

static void
s_touch_exec(const char *path, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n", f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void
test_progpath_next_to_exe_then_build_tree_then_path(void **state)
{
    (void) state;
    char root[] = "/tmp/pdb-progpath-XXXXXX";
    assert_non_null(mkdtemp(root));
    char bin[128], tree[128], tool[160], other[128], found[512], path[600];
    snprintf(bin, sizeof bin, "%s/tools", root);
    snprintf(tree, sizeof tree, "%s/services", root);
    assert_int_equal(mkdir(bin, 0755), 0);
    assert_int_equal(mkdir(tree, 0755), 0);
    snprintf(tree, sizeof tree, "%s/services/syncer", root);
    assert_int_equal(mkdir(tree, 0755), 0);
    snprintf(other, sizeof other, "%s/elsewhere", root);
    assert_int_equal(mkdir(other, 0755), 0);
    snprintf(tool, sizeof tool, "%s/pulsedb", bin);

    //  Nowhere: not found (an empty PATH list searches nothing here).
    snprintf(path, sizeof path, "%s", other);
    assert_int_equal(progpath_find("pulsedb-syncer", "services/syncer", tool, path, found,
                                   sizeof found), PDB_ENOTFOUND);
    //  On PATH only.
    char file[600];
    snprintf(file, sizeof file, "%s/pulsedb-syncer", other);
    s_touch_exec(file, 0755);
    assert_int_equal(progpath_find("pulsedb-syncer", "services/syncer", tool, path, found,
                                   sizeof found), 0);
    assert_string_equal(found, file);
    //  The build tree wins over PATH.
    snprintf(file, sizeof file, "%s/pulsedb-syncer", tree);
    s_touch_exec(file, 0755);
    assert_int_equal(progpath_find("pulsedb-syncer", "services/syncer", tool, path, found,
                                   sizeof found), 0);
    assert_non_null(strstr(found, "/tools/../services/syncer/pulsedb-syncer"));
    //  Next to pulsedb wins over both; a file that is not executable is skipped.
    snprintf(file, sizeof file, "%s/pulsedb-syncer", bin);
    s_touch_exec(file, 0644);
    assert_int_equal(progpath_find("pulsedb-syncer", "services/syncer", tool, path, found,
                                   sizeof found), 0);
    assert_non_null(strstr(found, "/services/syncer/"));
    assert_int_equal(chmod(file, 0755), 0);
    assert_int_equal(progpath_find("pulsedb-syncer", "services/syncer", tool, path, found,
                                   sizeof found), 0);
    assert_string_equal(found, file);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_flags_values_and_positionals),
        cmocka_unit_test(test_args_errors),
        cmocka_unit_test(test_args_numbers),
        cmocka_unit_test(test_body_embedding),
        cmocka_unit_test(test_body_domain),
        cmocka_unit_test(test_body_tags),
        cmocka_unit_test(test_body_collective_by_name_picks_smaller_id),
        cmocka_unit_test(test_body_error_text),
        cmocka_unit_test(test_jsonl_lines),
        cmocka_unit_test(test_jsonl_oversized_line_refused),
        cmocka_unit_test(test_progress_line_and_tenths),
        cmocka_unit_test(test_progress_counts_for_plain_lines),
        cmocka_unit_test(test_progress_plain_lines_one_per_tenth),
        cmocka_unit_test(test_progress_bar_redrawn_in_place_on_a_terminal),
        cmocka_unit_test(test_syncrun_parses_the_syncers_progress_lines),
        cmocka_unit_test(test_backoff_doubles_caps_and_resets),
        cmocka_unit_test(test_client_default_url),
        cmocka_unit_test(test_client_unreachable_gateway_says_node_not_running),
        cmocka_unit_test(test_body_peer_builds_the_post_body),
        cmocka_unit_test(test_body_peer_refuses_bad_arguments),
        cmocka_unit_test(test_syncfmt_counts_and_ages),
        cmocka_unit_test(test_syncfmt_snapshot_progress),
        cmocka_unit_test(test_syncfmt_errors_collectives_and_widths),
        cmocka_unit_test(test_progpath_next_to_exe_then_build_tree_then_path),
    };
    int rc = cmocka_run_group_tests_name("tools", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
