/*  test_cfg.c - configuration: precedence, validation, file keys, rest[]. */
#include "cfg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARGS_MAX 16

static const char *s_env_names[] = {
    "PULSEDB_CONFIG", "PULSEDB_DATA", "PULSEDB_LOG_LEVEL", "PULSEDB_MAP_SIZE_MB",
    "PULSEDB_STORAGE_TCP", "PULSEDB_COMMIT_MAX_REQUESTS", "PULSEDB_COMMIT_MAX_KB",
    "PULSEDB_HTTP_HOST", "PULSEDB_HTTP_PORT", "PULSEDB_GATEWAYS",
    "PULSEDB_HTTP_MAX_CONNECTIONS", "PULSEDB_STORAGE_ENDPOINT",
    "PULSEDB_SYNC_BIND", "PULSEDB_SYNC_PEERS", "PULSEDB_SYNC_RETRY_INITIAL_MS",
    "PULSEDB_SYNC_RETRY_MAX_MS", "PULSEDB_SYNC_RETRY_MULTIPLIER", "PULSEDB_SYNC_BATCH_MAX_CHANGES",
    "PULSEDB_SYNC_BATCH_MAX_KB", "PULSEDB_SYNC_PULL_WAIT_MS", "PULSEDB_SYNC_PEER_EXPIRY_S",
    "PULSEDB_SYNC_TOMBSTONE_TTL_S", "PULSEDB_SYNC_COMPACT_INTERVAL_S", "PULSEDB_SYNC_POLICY",
    "PULSEDB_API_TOKENS", "PULSEDB_INSECURE", "PULSEDB_STORAGE_TIMEOUT_MS",
    "PULSEDB_SYNC_COLLECTIVE_POLICIES", "PULSEDB_TLS_CERT", "PULSEDB_TLS_KEY",
    "PULSEDB_SYNC_CA_FILE", "PULSEDB_SEARCH_ANN_THRESHOLD", "PULSEDB_SEARCH_ANN_EF",
};

static int
s_clear_env(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_env_names / sizeof s_env_names[0]; i++)
        unsetenv(s_env_names[i]);
    return 0;
}

//  Loads with a NULL-terminated argument list (argv[0] is added).
static int
s_load(cfg_t *cfg, char *why, int *rest, int *rest_n, ...)
{
    char *argv[ARGS_MAX] = { "prog" };
    int argc = 1;
    va_list ap;
    va_start(ap, rest_n);
    for (char *arg = va_arg(ap, char *); arg; arg = va_arg(ap, char *))
        argv[argc++] = arg;
    va_end(ap);
    return cfg_load(cfg, argc, argv, rest, rest ? ARGS_MAX : 0, rest_n, why);
}

//  Writes text to a new temporary file; caller unlinks path.
static void
s_write_file(char path[64], const char *text)
{
    snprintf(path, 64, "/tmp/test_cfg_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
}

static void
test_cfg_defaults_when_nothing_given(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), 0);
    assert_string_equal(cfg.data_dir, "./pulsedb-data");
    assert_int_equal(cfg.log_level, LOGL_INFO);
    assert_int_equal(cfg.map_size_mb, 65536);
    assert_string_equal(cfg.storage_tcp, "");
    assert_int_equal(cfg.commit_max_requests, 256);
    assert_int_equal(cfg.commit_max_kb, 4096);
    assert_string_equal(cfg.http_host, "127.0.0.1");
    assert_int_equal(cfg.http_port, 7070);
    assert_int_equal(cfg.gateways, 1);
    assert_int_equal(cfg.http_max_connections, 4096);
    assert_string_equal(cfg.config_path, "");
    char ep[CFG_ENDPOINT_MAX];
    cfg_storage_endpoint(&cfg, ep, sizeof ep);
    assert_string_equal(ep, "ipc://./pulsedb-data/storage.sock");
    assert_string_equal(cfg.sync_bind, "tcp://127.0.0.1:7700");
    assert_string_equal(cfg.sync_peers, "");
    assert_int_equal(cfg.sync_retry_initial_ms, 100);
    assert_int_equal(cfg.sync_retry_max_ms, 30000);
    assert_int_equal(cfg.sync_retry_multiplier_pct, 200);
    assert_int_equal(cfg.sync_batch_max_changes, 1000);
    assert_int_equal(cfg.sync_batch_max_kb, 4096);
    assert_int_equal(cfg.sync_pull_wait_ms, 5000);
    assert_int_equal(cfg.sync_peer_expiry_s, 604800);
    assert_int_equal(cfg.sync_tombstone_ttl_s, 1209600);
    assert_int_equal(cfg.sync_compact_interval_s, 60);
    assert_string_equal(cfg.sync_policy, "lww");
}

static void
test_cfg_precedence_file_then_env_then_flags(void **state)
{
    (void) state;
    char path[64];
    s_write_file(path, "node\n    data = \"/tmp/from file\"\n    log_level = debug\n"
                       "gateway\n    port = 8001\n    count = 3\n");
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--config", path, NULL), 0);
    assert_int_equal(cfg.http_port, 8001);
    assert_string_equal(cfg.data_dir, "/tmp/from file");
    assert_int_equal(cfg.log_level, LOGL_DEBUG);
    assert_int_equal(cfg.gateways, 3);
    assert_string_equal(cfg.config_path, path);

    setenv("PULSEDB_HTTP_PORT", "8002", 1);
    setenv("PULSEDB_GATEWAYS", "4", 1);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--config", path, NULL), 0);
    assert_int_equal(cfg.http_port, 8002);
    assert_int_equal(cfg.gateways, 4);
    assert_string_equal(cfg.data_dir, "/tmp/from file");

    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--port", "8003", "--config", path, NULL), 0);
    assert_int_equal(cfg.http_port, 8003);
    assert_int_equal(cfg.gateways, 4);

    //  The file can come from the environment too; --config overrides it.
    setenv("PULSEDB_CONFIG", path, 1);
    unsetenv("PULSEDB_HTTP_PORT");
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--port=8004", NULL), 0);
    assert_int_equal(cfg.http_port, 8004);
    assert_int_equal(cfg.log_level, LOGL_DEBUG);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), 0);
    assert_int_equal(cfg.http_port, 8001);
    unlink(path);
}

static void
test_cfg_repeated_flag_last_wins(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--port", "1", "--port=2", NULL), 0);
    assert_int_equal(cfg.http_port, 2);
}

//  Each row: arguments (flag, value) and words the error must contain.
static const struct {
    const char *flag, *value, *expect;
} s_bad_flags[] = {
    { "--port", "0", "out of range 1..65535" },
    { "--port", "65536", "out of range" },
    { "--port", "80x", "not a whole number" },
    { "--port", "-1", "not a whole number" },
    { "--port", "", "not a whole number" },
    { "--port", "99999999999999999999999", "not a whole number" },
    { "--gateways", "0", "out of range 1..64" },
    { "--gateways", "65", "out of range 1..64" },
    { "--map-size-mb", "15", "out of range 16.." },
    { "--commit-max-requests", "0", "out of range" },
    { "--commit-max-kb", "0", "out of range" },
    { "--max-connections", "70000", "out of range" },
    { "--log-level", "loud", "not a log level" },
    { "--data", "", "is empty" },
    { "--data", "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaa", "too long for the storage socket" },
    { "--host", "", "not a host" },
    { "--host", "a host", "not a host" },
    { "--host", "h/x", "not a host" },
    { "--storage-tcp", "ipc:///tmp/x", "must start with tcp://" },
    { "--storage-tcp", "tcp://", "no address" },
    { "--storage-tcp", "tcp://host", "HOST:PORT" },
    { "--storage-tcp", "tcp://host:0", "port outside" },
    { "--storage", "http://x:1", "tcp:// or ipc://" },
    { "--storage", "ipc://a b", "white space" },
    { "--sync-bind", "ipc:///tmp/s", "must start with tcp://" },
    { "--sync-bind", "tcp://h", "HOST:PORT" },
    { "--sync-retry-initial-ms", "0", "out of range 1..3600000" },
    { "--sync-retry-max-ms", "86400001", "out of range" },
    { "--sync-retry-multiplier", "0.5", "not a number in 1..10" },
    { "--sync-retry-multiplier", "11", "not a number in 1..10" },
    { "--sync-retry-multiplier", "1.005", "at most two decimals" },
    { "--sync-retry-multiplier", "2.", "not a number" },
    { "--sync-retry-multiplier", ".5", "not a number" },
    { "--sync-retry-multiplier", "x", "not a number" },
    { "--sync-batch-max-changes", "10001", "out of range 1..10000" },
    { "--sync-batch-max-kb", "0", "out of range" },
    { "--sync-pull-wait-ms", "30001", "out of range 0..30000" },
    { "--sync-peer-expiry-s", "59", "out of range" },
    { "--sync-compact-interval-s", "0", "out of range" },
    { "--sync-policy", "newest", "not one of: lww remote_wins local_wins" },
    { "--sync-policy", "", "not one of" },
    { "--sync-peers", "beta", "needs NAME=tcp://HOST:PORT" },
    { "--sync-peers", "b=tcp://h:1,sideways", "not push, pull, both" },
};

static void
test_cfg_bad_flag_values_are_refused_with_name_and_value(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_bad_flags / sizeof s_bad_flags[0]; i++) {
        cfg_t cfg;
        char why[PDB_ERRMSG_MAX];
        int rc = s_load(&cfg, why, NULL, NULL, s_bad_flags[i].flag, s_bad_flags[i].value, NULL);
        if (rc != PDB_EINVAL || !strstr(why, s_bad_flags[i].flag)
            || !strstr(why, s_bad_flags[i].expect))
            fail_msg("%s '%s': rc=%d why='%s'", s_bad_flags[i].flag, s_bad_flags[i].value, rc,
                     why);
        //  The bad value is quoted (truncated when long).
        char head[16];
        snprintf(head, sizeof head, "'%.8s", s_bad_flags[i].value);
        assert_non_null(strstr(why, head));
    }
}

static void
test_cfg_sync_options_accepted(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-bind", "tcp://*:7800",
                            "--sync-retry-multiplier", "1.5", "--sync-pull-wait-ms", "0",
                            "--sync-policy", "remote_wins", "--sync-peers",
                            " a=tcp://h:1  b=tcp://[::1]:2,pull\n", NULL), 0);
    assert_string_equal(cfg.sync_bind, "tcp://*:7800");
    assert_int_equal(cfg.sync_retry_multiplier_pct, 150);
    assert_int_equal(cfg.sync_pull_wait_ms, 0);
    assert_string_equal(cfg.sync_policy, "remote_wins");
    assert_string_equal(cfg.sync_peers, " a=tcp://h:1  b=tcp://[::1]:2,pull\n");
    static const struct { const char *text; unsigned pct; } ratios[] = {
        { "1", 100 }, { "2.0", 200 }, { "1.25", 125 }, { "10", 1000 }, { "10.00", 1000 },
        { "3.1", 310 },
    };
    for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++) {
        assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-retry-multiplier",
                                ratios[i].text, NULL), 0);
        assert_int_equal(cfg.sync_retry_multiplier_pct, ratios[i].pct);
    }
    //  "" turns the sync server off.
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-bind", "", NULL), 0);
    assert_string_equal(cfg.sync_bind, "");
    char path[64];
    s_write_file(path, "sync\n    peers = \"beta=tcp://10.0.0.2:7700,push\"\n"
                       "    policy = local_wins\n    retry_multiplier = 3\n");
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--config", path, NULL), 0);
    assert_string_equal(cfg.sync_peers, "beta=tcp://10.0.0.2:7700,push");
    assert_string_equal(cfg.sync_policy, "local_wins");
    assert_int_equal(cfg.sync_retry_multiplier_pct, 300);
    unlink(path);
}

static void
test_cfg_sync_cross_checks_name_both_options(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-tombstone-ttl-s", "604800", NULL),
                     PDB_EINVAL);
    assert_non_null(strstr(why, "--sync-tombstone-ttl-s (604800) must exceed "
                                "sync/peer_expiry_s (default) (604800)"));
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-peer-expiry-s", "2000000", NULL),
                     PDB_EINVAL);
    assert_non_null(strstr(why, "must exceed --sync-peer-expiry-s (2000000)"));
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-peer-expiry-s", "2000000",
                            "--sync-tombstone-ttl-s", "2000001", NULL), 0);
    setenv("PULSEDB_SYNC_RETRY_MAX_MS", "50", 1);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "PULSEDB_SYNC_RETRY_MAX_MS (50) is below "
                                "sync/retry_initial_ms (default) (100)"));
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-retry-initial-ms", "50", NULL), 0);
}

static void
test_cfg_long_path_and_endpoint_refused(void **state)
{
    (void) state;
    char big[CFG_PATH_MAX + 10];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--data", big, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "too long"));
    assert_true(strlen(why) < PDB_ERRMSG_MAX);
    char ep[CFG_ENDPOINT_MAX + 10] = "tcp://";
    memset(ep + 6, 'h', sizeof ep - 7);
    ep[sizeof ep - 1] = '\0';
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--storage", ep, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "too long"));
}

static void
test_cfg_good_endpoints_accepted(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--storage-tcp", "tcp://*:5555", "--storage",
                            "tcp://10.0.0.1:5555", "--host", "::1", NULL), 0);
    assert_string_equal(cfg.storage_tcp, "tcp://*:5555");
    char ep[CFG_ENDPOINT_MAX];
    cfg_storage_endpoint(&cfg, ep, sizeof ep);
    assert_string_equal(ep, "tcp://10.0.0.1:5555");
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--storage", "ipc:///run/x.sock", NULL), 0);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--map-size-mb", "16", NULL), 0);
    assert_int_equal(cfg.map_size_mb, 16);
}

static void
test_cfg_flag_without_value_refused(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--port", NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "--port: needs a value"));
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--data", "--port", "1", NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "--data: needs a value"));
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--config", NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "--config"));
}

static void
test_cfg_bad_env_value_names_variable(void **state)
{
    (void) state;
    setenv("PULSEDB_HTTP_PORT", "0", 1);
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "PULSEDB_HTTP_PORT: '0'"));
    setenv("PULSEDB_HTTP_PORT", "7071", 1);
    setenv("PULSEDB_LOG_LEVEL", "verbose", 1);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "PULSEDB_LOG_LEVEL: 'verbose'"));
    //  A flag does not rescue a bad environment: the bad value is still refused.
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--log-level", "warn", NULL), PDB_EINVAL);
    setenv("PULSEDB_DATA", "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                           "aaaaaaaaaaaaaaaaaaaaaaaaaa", 1);
    unsetenv("PULSEDB_LOG_LEVEL");
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "PULSEDB_DATA"));
}

static void
test_cfg_bad_file_value_names_file_and_key(void **state)
{
    (void) state;
    char path[64];
    s_write_file(path, "gateway\n    port = 123456\n");
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--config", path, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, path));
    assert_non_null(strstr(why, "gateway/port: '123456' is out of range"));
    unlink(path);
}

static void
test_cfg_unknown_file_key_refused(void **state)
{
    (void) state;
    static const struct { const char *text, *expect; } cases[] = {
        { "storage\n    mapsize_mb = 100\n", "unknown key 'storage/mapsize_mb'" },
        { "stroage\n    map_size_mb = 100\n", "unknown section 'stroage'" },
        { "port = 1\n", "unknown key 'port'" },
        { "gateway\n    port = 1\n    port = 2\n", "'gateway/port' is given twice" },
        { "gateway\n    port\n        x = 1\n", "cannot have keys under it" },
        { "gateway\n  port = 1\n", "syntax error" },
        { "gateway\n    port = 1 2\n", "'1 2' is not a whole number" },
        { "gateway\n    port = \"1\n", "syntax error" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[64];
        s_write_file(path, cases[i].text);
        cfg_t cfg;
        char why[PDB_ERRMSG_MAX];
        int rc = s_load(&cfg, why, NULL, NULL, "--config", path, NULL);
        unlink(path);
        if (rc != PDB_EINVAL || !strstr(why, cases[i].expect) || !strstr(why, path))
            fail_msg("case %zu: rc=%d why='%s'", i, rc, why);
    }
}

static void
test_cfg_flat_file_key_and_comments_accepted(void **state)
{
    (void) state;
    char path[64];
    s_write_file(path, "# PulseDB\nnode/log_level = warn\nstorage\n    tcp = \"\"  # ipc only\n"
                       "    map_size_mb = 1024\n");
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--config", path, NULL), 0);
    assert_int_equal(cfg.log_level, LOGL_WARN);
    assert_int_equal(cfg.map_size_mb, 1024);
    assert_string_equal(cfg.storage_tcp, "");
    unlink(path);
}

static void
test_cfg_missing_config_file_is_error(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--config", "/nonexistent/x.cfg", NULL),
                     PDB_EINVAL);
    assert_non_null(strstr(why, "/nonexistent/x.cfg"));
    assert_non_null(strstr(why, "No such file"));
    setenv("PULSEDB_CONFIG", "/nonexistent/y.cfg", 1);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "/nonexistent/y.cfg"));
    setenv("PULSEDB_CONFIG", "", 1);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "PULSEDB_CONFIG"));
    unsetenv("PULSEDB_CONFIG");
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--config", "/tmp", NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "not a regular file"));
}

static void
test_cfg_rest_passes_unknown_flags_through(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    int rest[ARGS_MAX];
    int rest_n = -1;
    //  argv: 0 prog, 1 put, 2 --k, 3 5, 4 --port, 5 9, 6 --json, 7 --data=/tmp/d,
    //        8 --, 9 --port, 10 x
    assert_int_equal(s_load(&cfg, why, rest, &rest_n, "put", "--k", "5", "--port", "9",
                            "--json", "--data=/tmp/d", "--", "--port", "x", NULL), 0);
    int expect[] = { 1, 2, 3, 6, 8, 9, 10 };
    assert_int_equal(rest_n, 7);
    for (int i = 0; i < rest_n; i++)
        assert_int_equal(rest[i], expect[i]);
    assert_int_equal(cfg.http_port, 9);
    assert_string_equal(cfg.data_dir, "/tmp/d");
}

static void
test_cfg_unknown_flag_without_rest_refused(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--prot", "1", NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "unknown argument '--prot'"));
}

static void
test_cfg_rest_overflow_refused(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    int rest[2];
    int rest_n = -1;
    char *argv[] = { "prog", "a", "b", "c" };
    assert_int_equal(cfg_load(&cfg, 4, argv, rest, 2, &rest_n, why), PDB_EINVAL);
    assert_non_null(strstr(why, "too many arguments"));
    assert_int_equal(rest_n, 0);
}

//  The help text of one option: from its flag to the next option's, each
//  run of white space (where the text wraps) made one space.
static void
s_usage_entry(const char *usage, const char *flag, char *out, size_t len)
{
    char start[128];
    snprintf(start, sizeof start, "\n  %s ", flag);
    const char *p = strstr(usage, start);
    assert_non_null(p);
    const char *end = strstr(p + 1, "\n  --");
    size_t n = end ? (size_t) (end - p) : strlen(p), used = 0;
    for (size_t i = 0; i < n && used + 1 < len; i++) {
        bool space = p[i] == ' ' || p[i] == '\n';
        if (!space || (used > 0 && out[used - 1] != ' '))
            out[used++] = space ? ' ' : p[i];
    }
    out[used] = '\0';
}

static void
test_cfg_usage_shows_bounds_and_defaults(void **state)
{
    (void) state;
    const char *usage = cfg_usage();
    char entry[1024];
    const struct { const char *flag, *bounds, *value; } cases[] = {
        { "--sync-peer-expiry-s", "60..315360000", "[604800]" },
        { "--map-size-mb", "16..67108864", "[65536]" },
        { "--port", "1..65535", "[7070]" },
        { "--sync-retry-multiplier", "1..10", "[2]" },
        { "--sync-policy", "lww, remote_wins or local_wins", "[lww]" },
        { "--log-level", "error, warn, info or debug", "[info]" },
        { "--data", "at most 87 bytes", "[./pulsedb-data]" },
        { "--sync-peers", "at most 64 peers", "[none]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_usage_entry(usage, cases[i].flag, entry, sizeof entry);
        assert_non_null(strstr(entry, cases[i].bounds));
        assert_non_null(strstr(entry, cases[i].value));
    }
    //  Every option from the table says what it accepts.
    for (const char *p = strstr(usage, "\n  --data "); p; p = strstr(p + 1, "\n  --")) {
        char flag[64];
        sscanf(p + 3, "%63s", flag);
        s_usage_entry(usage, flag, entry, sizeof entry);
        bool bounded = strstr(entry, "..") || strstr(entry, "at most") || strstr(entry, " or ");
        if (!bounded)
            fail_msg("no bounds in the help of %s", flag);
    }
}

static void
test_cfg_usage_lists_every_flag(void **state)
{
    (void) state;
    const char *flags[] = { "--config", "--data", "--log-level", "--map-size-mb",
                            "--storage-tcp", "--commit-max-requests", "--commit-max-kb",
                            "--host", "--port", "--gateways", "--max-connections",
                            "--storage", "--sync-bind", "--sync-peers", "--sync-retry-initial-ms",
                            "--sync-retry-max-ms", "--sync-retry-multiplier",
                            "--sync-batch-max-changes", "--sync-batch-max-kb",
                            "--sync-pull-wait-ms", "--sync-peer-expiry-s",
                            "--sync-tombstone-ttl-s", "--sync-compact-interval-s",
                            "--sync-policy" };
    const char *usage = cfg_usage();
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        assert_non_null(strstr(usage, flags[i]));
    for (size_t i = 0; i < sizeof s_env_names / sizeof s_env_names[0]; i++)
        assert_non_null(strstr(usage, s_env_names[i]));
}

static void
test_cfg_insecure_is_a_switch(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    int rest[ARGS_MAX], rest_n = 0;
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), 0);
    assert_false(cfg.insecure);
    //  A bare switch takes no value: the next argument stays the caller's.
    assert_int_equal(s_load(&cfg, why, rest, &rest_n, "--insecure", "--once", NULL), 0);
    assert_true(cfg.insecure);
    assert_int_equal(rest_n, 1);
    assert_int_equal(s_load(&cfg, why, rest, &rest_n, "--insecure", "positional", NULL), 0);
    assert_true(cfg.insecure);
    assert_int_equal(rest_n, 1);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--insecure=false", NULL), 0);
    assert_false(cfg.insecure);
    setenv("PULSEDB_INSECURE", "yes", 1);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), 0);
    assert_true(cfg.insecure);
    setenv("PULSEDB_INSECURE", "maybe", 1);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "PULSEDB_INSECURE"));
}

static void
test_cfg_exposure_needs_credentials_or_insecure(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    assert_int_equal(s_load(&cfg, why, NULL, NULL, NULL), 0);
    assert_int_equal(cfg_exposure_check(&cfg, CFG_EXPOSE_ALL, why), 0);   // loopback defaults
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--host", "0.0.0.0", NULL), 0);
    assert_int_equal(cfg_exposure_check(&cfg, CFG_EXPOSE_HTTP, why), PDB_EINVAL);
    assert_non_null(strstr(why, "gateway/host"));
    assert_int_equal(cfg_exposure_check(&cfg, CFG_EXPOSE_SYNC, why), 0);  // not its socket
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--host", "0.0.0.0", "--api-tokens",
                            "/etc/pulsedb/tokens", NULL), 0);
    assert_int_equal(cfg_exposure_check(&cfg, CFG_EXPOSE_ALL, why), 0);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-bind", "tcp://[::]:7700", NULL), 0);
    assert_int_equal(cfg_exposure_check(&cfg, CFG_EXPOSE_SYNC, why), PDB_EINVAL);
    assert_non_null(strstr(why, "sync/bind"));
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-bind", "tcp://[::1]:7700",
                            "--storage-tcp", "tcp://127.0.0.2:7800", NULL), 0);
    assert_int_equal(cfg_exposure_check(&cfg, CFG_EXPOSE_ALL, why), 0);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--storage-tcp", "tcp://db.example:7800",
                            NULL), 0);
    assert_int_equal(cfg_exposure_check(&cfg, CFG_EXPOSE_STORAGE, why), PDB_EINVAL);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--storage-tcp", "tcp://db.example:7800",
                            "--insecure", NULL), 0);
    assert_int_equal(cfg_exposure_check(&cfg, CFG_EXPOSE_ALL, why), 0);
    assert_true(cfg_host_is_loopback("127.1.2.3"));
    assert_true(cfg_host_is_loopback("localhost"));
    assert_false(cfg_host_is_loopback("127.0.0.256"));
    assert_false(cfg_host_is_loopback("127.0.0.1.evil.example"));
    assert_false(cfg_host_is_loopback("128.0.0.1"));
    assert_false(cfg_host_is_loopback(""));
}

static void
test_cfg_collective_policies_checked_by_their_grammar(void **state)
{
    (void) state;
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    const char *good = "0193a0b1-0000-7000-8000-000000000001=remote_wins";
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-collective-policies", good, NULL), 0);
    assert_string_equal(cfg.sync_collective_policies, good);
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-collective-policies", "nonsense",
                            NULL), PDB_EINVAL);
    assert_non_null(strstr(why, "--sync-collective-policies: 'nonsense' is refused: "
                                "'nonsense' is not COLLECTIVE_UUID="));
    //  sync/policy takes the same names, from policy.h.
    assert_int_equal(s_load(&cfg, why, NULL, NULL, "--sync-policy", "local_wins", NULL), 0);
    unsigned index = 99;
    assert_int_equal(policy_parse(cfg.sync_policy, strlen(cfg.sync_policy), &index), 0);
    assert_int_equal(index, 2);
}

//  Cells of one Markdown table line: the '|' not escaped with a backslash.
static size_t
s_md_bars(const char *line, size_t len)
{
    size_t bars = 0;
    for (size_t i = 0; i < len; i++)
        bars += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    return bars;
}

static void
test_cfg_markdown_has_one_row_per_option(void **state)
{
    (void) state;
    const char *md = cfg_markdown();
    size_t rows = 0;
    for (const char *p = md; *p;) {
        size_t len = strcspn(p, "\n");
        if (s_md_bars(p, len) != 7)
            fail_msg("not 6 cells: '%.*s'", (int) len, p);
        rows++;
        p += len + (p[len] == '\n');
    }
    //  Header, rule, --config, then one row per environment variable.
    assert_int_equal(rows, 2 + sizeof s_env_names / sizeof s_env_names[0]);
    for (size_t i = 0; i < sizeof s_env_names / sizeof s_env_names[0]; i++) {
        char cell[64];
        snprintf(cell, sizeof cell, "| `%s` |", s_env_names[i]);
        if (!strstr(md, cell))
            fail_msg("no row for %s", s_env_names[i]);
    }
    //  The same defaults and bounds as --help; a '|' in a help line is escaped.
    assert_non_null(strstr(md, "| `gateway/port` | `PULSEDB_HTTP_PORT` | `--port P` | `7070` "
                               "| 1..65535 | HTTP port |"));
    assert_non_null(strstr(md, "| `storage/tcp` | `PULSEDB_STORAGE_TCP` | `--storage-tcp EP` "
                               "| none (ipc only) |"));
    assert_non_null(strstr(md, "[,push\\|pull\\|both]"));
    assert_null(strstr(md, "push|pull"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_cfg_defaults_when_nothing_given, s_clear_env),
        cmocka_unit_test_setup(test_cfg_precedence_file_then_env_then_flags, s_clear_env),
        cmocka_unit_test_setup(test_cfg_repeated_flag_last_wins, s_clear_env),
        cmocka_unit_test_setup(test_cfg_bad_flag_values_are_refused_with_name_and_value,
                               s_clear_env),
        cmocka_unit_test_setup(test_cfg_sync_options_accepted, s_clear_env),
        cmocka_unit_test_setup(test_cfg_sync_cross_checks_name_both_options, s_clear_env),
        cmocka_unit_test_setup(test_cfg_long_path_and_endpoint_refused, s_clear_env),
        cmocka_unit_test_setup(test_cfg_good_endpoints_accepted, s_clear_env),
        cmocka_unit_test_setup(test_cfg_flag_without_value_refused, s_clear_env),
        cmocka_unit_test_setup(test_cfg_bad_env_value_names_variable, s_clear_env),
        cmocka_unit_test_setup(test_cfg_bad_file_value_names_file_and_key, s_clear_env),
        cmocka_unit_test_setup(test_cfg_unknown_file_key_refused, s_clear_env),
        cmocka_unit_test_setup(test_cfg_flat_file_key_and_comments_accepted, s_clear_env),
        cmocka_unit_test_setup(test_cfg_missing_config_file_is_error, s_clear_env),
        cmocka_unit_test_setup(test_cfg_rest_passes_unknown_flags_through, s_clear_env),
        cmocka_unit_test_setup(test_cfg_unknown_flag_without_rest_refused, s_clear_env),
        cmocka_unit_test_setup(test_cfg_rest_overflow_refused, s_clear_env),
        cmocka_unit_test_setup(test_cfg_usage_lists_every_flag, s_clear_env),
        cmocka_unit_test(test_cfg_usage_shows_bounds_and_defaults),
        cmocka_unit_test_setup(test_cfg_collective_policies_checked_by_their_grammar,
                               s_clear_env),
        cmocka_unit_test(test_cfg_markdown_has_one_row_per_option),
        cmocka_unit_test_setup(test_cfg_insecure_is_a_switch, s_clear_env),
        cmocka_unit_test_setup(test_cfg_exposure_needs_credentials_or_insecure, s_clear_env),
    };
    return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
