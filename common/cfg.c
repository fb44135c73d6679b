/*  cfg.c - node configuration: defaults < config file < environment < flags.

    Every option is one row of s_options: its file key, environment variable,
    flag, kind, limits, default and help line. Loading, validation, the
    defaults, error messages, the --help text (cfg_usage) and the README's
    table (cfg_markdown) are all driven by that table, so an option is
    described in one place.
*/
#include "cfg.h"
#include "decimal.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFG_FILE_MAX (1u << 20)          // 1 MiB: a config file is a few hundred bytes
#define CFG_VALUE_SHOWN 64               // bytes of a bad value quoted in an error
#define CFG_SOURCE_MAX 128               // "config FILE: section/key" label

typedef enum {
    S_PATH,       // char[size], non-empty unless allow_empty
    S_LEVEL,      // log_level_t, "error|warn|info|debug"
    S_NUMBER,     // unsigned (size 4) or uint64_t (size 8) in min..max
    S_ENDPOINT,   // char[size]; "" when allow_empty; else one of `words` (schemes)
    S_HOST,       // char[size], a host name or address literal
    S_RATIO,      // unsigned percent from a decimal "2" / "1.5" / "1.25", in min..max percent
    S_CHOICE,     // char[size], one of the space-separated `words`
    S_PEERS,      // char[size], a sync/peers list (peerspec.h)
    S_POLICIES,   // char[size], per-collective policies (policy.h)
    S_SWITCH,     // bool: true/false/yes/no/1/0; a bare flag means true
} s_kind_t;

typedef struct {
    const char *key;        // file: section/name
    const char *env;        // environment variable
    const char *flag;       // command-line flag
    s_kind_t kind;
    size_t offset;          // field in cfg_t
    size_t size;            // field bytes
    uint64_t min, max;      // S_NUMBER range, inclusive; S_RATIO in percent; S_PATH: max bytes
    const char *words;      // S_ENDPOINT: accepted schemes; S_CHOICE: the words; space separated
    bool allow_empty;       // S_ENDPOINT, S_PATH: "" is a valid value
    const char *def;        // the default, as it would be written in the file; "" for none
    const char *unset;      // what an empty default means, for --help; NULL: "none"
    const char *arg;        // the value's name in --help ("N", "DIR"); NULL for a switch
    const char *help;       // what it is; --help adds the bounds and default from this row
} s_option_t;

#define S_FIELD(f) .offset = offsetof(cfg_t, f), .size = sizeof(((cfg_t *) 0)->f)

static const s_option_t s_options[] = {
    //  The storage socket inside the folder must fit a Unix socket address.
    { .key = "node/data", .env = "PULSEDB_DATA", .flag = "--data", .kind = S_PATH,
      S_FIELD(data_dir), .max = CFG_DATA_DIR_IPC_MAX, .def = "./pulsedb-data", .arg = "DIR",
      .help = "data folder" },
    { .key = "node/log_level", .env = "PULSEDB_LOG_LEVEL", .flag = "--log-level",
      .kind = S_LEVEL, S_FIELD(log_level), .def = "info", .arg = "L", .help = "log level" },
    //  16 MiB: below that LMDB fills up after a few thousand experiences;
    //  64 TiB: beyond any disk we expect, and still far inside a 64-bit mmap.
    { .key = "storage/map_size_mb", .env = "PULSEDB_MAP_SIZE_MB", .flag = "--map-size-mb",
      .kind = S_NUMBER, S_FIELD(map_size_mb), .min = 16, .max = 1ull << 26, .def = "65536",
      .arg = "N", .help = "LMDB map size in MiB: address space, the file grows as needed" },
    { .key = "storage/tcp", .env = "PULSEDB_STORAGE_TCP", .flag = "--storage-tcp",
      .kind = S_ENDPOINT, S_FIELD(storage_tcp), .words = "tcp://", .allow_empty = true,
      .def = "", .unset = "none (ipc only)", .arg = "EP",
      .help = "extra storage endpoint tcp://HOST:PORT, for gateways on other hosts" },
    //  65536 requests / 1 GiB per group commit: past that one commit stalls
    //  every writer for too long; the defaults are far below.
    { .key = "storage/commit_max_requests", .env = "PULSEDB_COMMIT_MAX_REQUESTS",
      .flag = "--commit-max-requests", .kind = S_NUMBER, S_FIELD(commit_max_requests),
      .min = 1, .max = 65536, .def = "256", .arg = "N", .help = "requests per group commit (a message of several is taken whole)" },
    { .key = "storage/commit_max_kb", .env = "PULSEDB_COMMIT_MAX_KB", .flag = "--commit-max-kb",
      .kind = S_NUMBER, S_FIELD(commit_max_kb), .min = 1, .max = 1u << 20, .def = "4096",
      .arg = "N", .help = "KiB per group commit" },
    //  Below the threshold the exact two-pass scan answers in a few ms
    //  (docs/search.md); 0 turns the approximate index off.
    { .key = "search/ann_threshold", .env = "PULSEDB_SEARCH_ANN_THRESHOLD",
      .flag = "--ann-threshold", .kind = S_NUMBER, S_FIELD(ann_threshold), .min = 0,
      .max = 1u << 30, .def = "20000", .arg = "N",
      .help = "vectors from which a collective is searched by its approximate index (0: never)" },
    { .key = "search/ann_ef", .env = "PULSEDB_SEARCH_ANN_EF", .flag = "--ann-ef",
      .kind = S_NUMBER, S_FIELD(ann_ef), .min = 1, .max = 4096, .def = "16", .arg = "N",
      .help = "smallest ef (candidates kept) an index's recall measurement may choose" },
    { .key = "gateway/host", .env = "PULSEDB_HTTP_HOST", .flag = "--host", .kind = S_HOST,
      S_FIELD(http_host), .def = "127.0.0.1", .arg = "H", .help = "HTTP listen host" },
    { .key = "gateway/port", .env = "PULSEDB_HTTP_PORT", .flag = "--port", .kind = S_NUMBER,
      S_FIELD(http_port), .min = 1, .max = 65535, .def = "7070", .arg = "P",
      .help = "HTTP port" },
    //  64 gateways: more than any core count we run on; each holds a
    //  storage connection and a reader slot per thread.
    { .key = "gateway/count", .env = "PULSEDB_GATEWAYS", .flag = "--gateways",
      .kind = S_NUMBER, S_FIELD(gateways), .min = 1, .max = 64, .def = "1", .arg = "N",
      .help = "gateway processes for pulsedb up" },
    //  65536: the usual hard file-descriptor limit. The default is high
    //  because a connection costs memory, not a thread.
    { .key = "gateway/max_connections", .env = "PULSEDB_HTTP_MAX_CONNECTIONS",
      .flag = "--max-connections", .kind = S_NUMBER, S_FIELD(http_max_connections),
      .min = 1, .max = 65536, .def = "4096", .arg = "N",
      .help = "HTTP connections per gateway" },
    //  How long a write waits for storage's durable reply before 503.
    { .key = "gateway/storage_timeout_ms", .env = "PULSEDB_STORAGE_TIMEOUT_MS",
      .flag = "--storage-timeout-ms", .kind = S_NUMBER, S_FIELD(storage_timeout_ms),
      .min = 100, .max = 600000, .def = "10000", .arg = "N",
      .help = "wait for storage's reply before 503, in ms" },
    { .key = "gateway/storage", .env = "PULSEDB_STORAGE_ENDPOINT", .flag = "--storage",
      .kind = S_ENDPOINT, S_FIELD(storage_endpoint), .words = "tcp:// ipc://",
      .allow_empty = true, .def = "", .unset = "ipc://DATA/storage.sock", .arg = "EP",
      .help = "storage endpoint for gateways" },
    { .key = "sync/bind", .env = "PULSEDB_SYNC_BIND", .flag = "--sync-bind",
      .kind = S_ENDPOINT, S_FIELD(sync_bind), .words = "tcp://", .allow_empty = true,
      .def = "tcp://127.0.0.1:7700", .arg = "EP",
      .help = "sync endpoint tcp://HOST:PORT (PORT may be *), '' to serve no peers" },
    { .key = "sync/peers", .env = "PULSEDB_SYNC_PEERS", .flag = "--sync-peers",
      .kind = S_PEERS, S_FIELD(sync_peers), .allow_empty = true, .def = "", .arg = "LIST",
      .help = "sync peers, separated by spaces, each "
              "NAME=ADDRESS[,push|pull|both][,collectives=UUID;UUID...][,key=KEY], ADDRESS "
              "tcp://HOST:PORT (ZeroMQ) or http(s)://HOST:PORT (a gateway)" },
    //  1 h / 1 day: a first retry later than an hour, or a cap beyond a day,
    //  is a peer nobody is waiting for.
    { .key = "sync/retry_initial_ms", .env = "PULSEDB_SYNC_RETRY_INITIAL_MS",
      .flag = "--sync-retry-initial-ms", .kind = S_NUMBER, S_FIELD(sync_retry_initial_ms),
      .min = 1, .max = 3600000, .def = "100", .arg = "N",
      .help = "first retry delay in ms (full jitter)" },
    { .key = "sync/retry_max_ms", .env = "PULSEDB_SYNC_RETRY_MAX_MS",
      .flag = "--sync-retry-max-ms", .kind = S_NUMBER, S_FIELD(sync_retry_max_ms),
      .min = 1, .max = 86400000, .def = "30000", .arg = "N",
      .help = "longest retry delay in ms, at least the first" },
    //  x1 (constant delay) .. x10: beyond that the second retry is already the cap.
    { .key = "sync/retry_multiplier", .env = "PULSEDB_SYNC_RETRY_MULTIPLIER",
      .flag = "--sync-retry-multiplier", .kind = S_RATIO, S_FIELD(sync_retry_multiplier_pct),
      .min = 100, .max = 1000, .def = "2", .arg = "X", .help = "retry delay growth" },
    //  10000 / 32 MiB: the protocol's limits for one batch and one message.
    { .key = "sync/batch_max_changes", .env = "PULSEDB_SYNC_BATCH_MAX_CHANGES",
      .flag = "--sync-batch-max-changes", .kind = S_NUMBER, S_FIELD(sync_batch_max_changes),
      .min = 1, .max = 10000, .def = "1000", .arg = "N", .help = "changes per push or pull" },
    { .key = "sync/batch_max_kb", .env = "PULSEDB_SYNC_BATCH_MAX_KB",
      .flag = "--sync-batch-max-kb", .kind = S_NUMBER, S_FIELD(sync_batch_max_kb),
      .min = 1, .max = 32768, .def = "4096", .arg = "N", .help = "KiB per push or pull" },
    //  30 s: the longest long poll the protocol allows.
    { .key = "sync/pull_wait_ms", .env = "PULSEDB_SYNC_PULL_WAIT_MS",
      .flag = "--sync-pull-wait-ms", .kind = S_NUMBER, S_FIELD(sync_pull_wait_ms),
      .min = 0, .max = 30000, .def = "5000", .arg = "N", .help = "long poll of a pull in ms" },
    //  1 minute .. 10 years; the default: a week.
    { .key = "sync/peer_expiry_s", .env = "PULSEDB_SYNC_PEER_EXPIRY_S",
      .flag = "--sync-peer-expiry-s", .kind = S_NUMBER, S_FIELD(sync_peer_expiry_s),
      .min = 60, .max = 315360000, .def = "604800", .arg = "N",
      .help = "seconds a peer may stay unseen and still hold the WAL" },
    //  The default: two weeks, twice the peer expiry.
    { .key = "sync/tombstone_ttl_s", .env = "PULSEDB_SYNC_TOMBSTONE_TTL_S",
      .flag = "--sync-tombstone-ttl-s", .kind = S_NUMBER, S_FIELD(sync_tombstone_ttl_s),
      .min = 61, .max = 630720000, .def = "1209600", .arg = "N",
      .help = "seconds before a tombstone is purged, more than the peer expiry" },
    { .key = "sync/compact_interval_s", .env = "PULSEDB_SYNC_COMPACT_INTERVAL_S",
      .flag = "--sync-compact-interval-s", .kind = S_NUMBER, S_FIELD(sync_compact_interval_s),
      .min = 1, .max = 86400, .def = "60", .arg = "N", .help = "seconds between WAL compactions" },
    { .key = "sync/policy", .env = "PULSEDB_SYNC_POLICY", .flag = "--sync-policy",
      .kind = S_CHOICE, S_FIELD(sync_policy), .words = POLICY_NAMES, .def = "lww", .arg = "P",
      .help = "conflict policy for peers' changes: lww (the later write wins), or "
              "remote_wins / local_wins to settle a field this node wrote last against a "
              "peer's write whatever their clocks (star topologies: clients remote_wins, "
              "the hub local_wins)" },
    { .key = "sync/collective_policies", .env = "PULSEDB_SYNC_COLLECTIVE_POLICIES",
      .flag = "--sync-collective-policies", .kind = S_POLICIES,
      S_FIELD(sync_collective_policies), .allow_empty = true, .def = "", .arg = "L",
      .help = "per-collective overrides of sync/policy, \"UUID=POLICY UUID=POLICY ...\"" },
    { .key = "gateway/api_tokens", .env = "PULSEDB_API_TOKENS", .flag = "--api-tokens",
      .kind = S_PATH, S_FIELD(api_tokens), .max = CFG_PATH_MAX - 1, .allow_empty = true,
      .def = "", .arg = "FILE", .help = "HTTP API tokens, one 'ROLE TOKEN [LABEL]' a line, "
      "owner-only file; required beyond loopback" },
    { .key = "gateway/tls_cert", .env = "PULSEDB_TLS_CERT", .flag = "--tls-cert",
      .kind = S_PATH, S_FIELD(tls_cert), .max = CFG_PATH_MAX - 1, .allow_empty = true,
      .def = "", .unset = "none (HTTP)", .arg = "FILE",
      .help = "serve HTTPS with this PEM certificate (chain); needs --tls-key" },
    { .key = "gateway/tls_key", .env = "PULSEDB_TLS_KEY", .flag = "--tls-key",
      .kind = S_PATH, S_FIELD(tls_key), .max = CFG_PATH_MAX - 1, .allow_empty = true,
      .def = "", .arg = "FILE", .help = "the certificate's PEM private key, an owner-only file" },
    { .key = "sync/ca_file", .env = "PULSEDB_SYNC_CA_FILE", .flag = "--sync-ca-file",
      .kind = S_PATH, S_FIELD(sync_ca_file), .max = CFG_PATH_MAX - 1, .allow_empty = true,
      .def = "", .unset = "none (the system's CAs)", .arg = "FILE",
      .help = "CA certificates (PEM) that https:// peers' certificates are checked against" },
    { .key = "node/insecure", .env = "PULSEDB_INSECURE", .flag = "--insecure",
      .kind = S_SWITCH, S_FIELD(insecure), .def = "false",
      .help = "listen beyond loopback without credentials (logged as a warning at every "
              "start)" },
};

#define S_OPTION_COUNT (sizeof s_options / sizeof s_options[0])
#define S_CONFIG_FLAG "--config"
#define S_CONFIG_ENV "PULSEDB_CONFIG"

//  Where each option's current value came from, to name it in errors that
//  involve more than one option (the data folder's socket path).
typedef struct {
    char source[S_OPTION_COUNT][CFG_SOURCE_MAX];
} s_origin_t;

static int
s_set(cfg_t *cfg, const s_option_t *opt, const char *value, const char *source, char *why);

//  Fills cfg with every option's default from the table.
static void
s_defaults(cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < S_OPTION_COUNT; i++) {
        char why[PDB_ERRMSG_MAX];
        //  Through the same checks as any value: a default outside its own
        //  bounds is a bug in the table, caught by every test in a debug build.
        int rc = s_set(cfg, &s_options[i], s_options[i].def, s_options[i].key, why);
        assert(rc == 0);
        (void) rc;
    }
}

//  --- value checks -------------------------------------------------------------

//  A printable excerpt of a bad value for an error message.
static void
s_shown(const char *value, char out[CFG_VALUE_SHOWN + 4])
{
    size_t len = strlen(value);
    if (len <= CFG_VALUE_SHOWN)
        snprintf(out, CFG_VALUE_SHOWN + 4, "%s", value);
    else
        snprintf(out, CFG_VALUE_SHOWN + 4, "%.*s...", CFG_VALUE_SHOWN, value);
}





//  True when value is one of the space-separated words.
static bool
s_word_in(const char *value, const char *words)
{
    size_t len = strlen(value);
    for (const char *p = words; *p;) {
        size_t n = strcspn(p, " ");
        if (n == len && strncmp(p, value, n) == 0)
            return true;
        p += n;
        p += *p == ' ';
    }
    return false;
}

static int
s_fail(char *why, const char *source, const char *value, const char *problem)
{
    char shown[CFG_VALUE_SHOWN + 4];
    s_shown(value, shown);
    //  Composed in full, then cut to PDB_ERRMSG_MAX: snprintf straight into
    //  `why` trips -Wformat-truncation in optimised builds.
    char line[CFG_SOURCE_MAX + sizeof shown + PDB_ERRMSG_MAX + 8];
    snprintf(line, sizeof line, "%s: '%s' %s", source, shown, problem);
    size_t len = strlen(line);
    if (len >= PDB_ERRMSG_MAX)
        len = PDB_ERRMSG_MAX - 1;
    memcpy(why, line, len);
    why[len] = '\0';
    return PDB_EINVAL;
}

//  A sync/peers or sync/collective_policies value, parsed by its grammar's
//  module to check it; the parsed list is not kept (its users parse again).
static int
s_grammar_check(const s_option_t *opt, const char *value, const char *source, char *why)
{
    char detail[PDB_ERRMSG_MAX];
    int rc;
    if (opt->kind == S_PEERS) {
        peerspec_t *peers = NULL;
        size_t n = 0;
        rc = peerspec_list_parse(value, &peers, &n, detail);
        free(peers);
    }
    else {
        policy_override_t *list = NULL;
        size_t n = 0;
        rc = policy_overrides_parse(value, &list, &n, detail);
        free(list);
    }
    if (rc == -ENOMEM)
        return s_fail(why, source, value, "cannot be checked: out of memory");
    if (rc == 0)
        return 0;
    char problem[PDB_ERRMSG_MAX];
    snprintf(problem, sizeof problem, "is refused: %.160s", detail);
    return s_fail(why, source, value, problem);
}

static int
s_set_string(cfg_t *cfg, const s_option_t *opt, const char *value, const char *source,
             char *why)
{
    char *field = (char *) cfg + opt->offset;
    size_t len = strlen(value);
    if (len >= opt->size) {
        char problem[64];
        snprintf(problem, sizeof problem, "is too long (%zu bytes, at most %zu)", len,
                 opt->size - 1);
        return s_fail(why, source, value, problem);
    }
    if (opt->kind == S_PATH && len == 0 && !opt->allow_empty)
        return s_fail(why, source, value, "is empty; a path is required");
    if (opt->kind == S_HOST && !endpoint_host_valid(value))
        return s_fail(why, source, value, "is not a host name or address");
    if (opt->kind == S_ENDPOINT && !(len == 0 && opt->allow_empty)) {
        const char *problem = endpoint_problem(value, opt->words);
        if (problem)
            return s_fail(why, source, value, problem);
    }
    if (opt->kind == S_CHOICE && !s_word_in(value, opt->words)) {
        char problem[128];
        snprintf(problem, sizeof problem, "is not one of: %s", opt->words);
        return s_fail(why, source, value, problem);
    }
    if (opt->kind == S_PEERS || opt->kind == S_POLICIES) {
        int rc = s_grammar_check(opt, value, source, why);
        if (rc)
            return rc;
    }
    memcpy(field, value, len + 1);
    return 0;
}

//  "2", "1.5", "1.25" -> 200, 150, 125. Returns 0 or PDB_EINVAL.
static int
s_parse_percent(const char *text, uint64_t *out)
{
    const char *dot = strchr(text, '.');
    size_t int_len = dot ? (size_t) (dot - text) : strlen(text);
    size_t frac_len = dot ? strlen(dot + 1) : 0;
    if (int_len == 0 || int_len > 6 || (dot && (frac_len == 0 || frac_len > 2)))
        return PDB_EINVAL;
    char digits[16];
    snprintf(digits, sizeof digits, "%.*s%.*s%s", (int) int_len, text, (int) frac_len,
             dot ? dot + 1 : "", frac_len == 0 ? "00" : frac_len == 1 ? "0" : "");
    return decimal_parse_u64(digits, out);
}

static int
s_set_ratio(cfg_t *cfg, const s_option_t *opt, const char *value, const char *source,
            char *why)
{
    uint64_t pct;
    if (s_parse_percent(value, &pct) || pct < opt->min || pct > opt->max) {
        char problem[128];
        snprintf(problem, sizeof problem, "is not a number in %llu..%llu with at most two "
                 "decimals (like 2 or 1.5)", (unsigned long long) opt->min / 100,
                 (unsigned long long) opt->max / 100);
        return s_fail(why, source, value, problem);
    }
    unsigned narrow = (unsigned) pct;
    memcpy((char *) cfg + opt->offset, &narrow, sizeof narrow);
    return 0;
}

static int
s_set_number(cfg_t *cfg, const s_option_t *opt, const char *value, const char *source,
             char *why)
{
    uint64_t number;
    char problem[80];
    snprintf(problem, sizeof problem, "is not a whole number in %llu..%llu",
             (unsigned long long) opt->min, (unsigned long long) opt->max);
    if (decimal_parse_u64(value, &number))
        return s_fail(why, source, value, problem);
    if (number < opt->min || number > opt->max) {
        snprintf(problem, sizeof problem, "is out of range %llu..%llu",
                 (unsigned long long) opt->min, (unsigned long long) opt->max);
        return s_fail(why, source, value, problem);
    }
    void *field = (char *) cfg + opt->offset;
    if (opt->size == sizeof(uint64_t))
        memcpy(field, &number, sizeof number);
    else {
        unsigned narrow = (unsigned) number;   // every 4-byte field's max fits an unsigned
        memcpy(field, &narrow, sizeof narrow);
    }
    return 0;
}

static int
s_set_switch(cfg_t *cfg, const s_option_t *opt, const char *value, const char *source,
             char *why)
{
    bool on;
    if (s_word_in(value, "true yes 1"))
        on = true;
    else if (s_word_in(value, "false no 0"))
        on = false;
    else
        return s_fail(why, source, value, "is not true or false");
    memcpy((char *) cfg + opt->offset, &on, sizeof on);
    return 0;
}

//  Validates value for opt and stores it; `source` names where it came from.
static int
s_set(cfg_t *cfg, const s_option_t *opt, const char *value, const char *source, char *why)
{
    switch (opt->kind) {
    case S_LEVEL: {
        log_level_t level;
        if (log_parse_level(value, &level))
            return s_fail(why, source, value, "is not a log level (error, warn, info, debug)");
        cfg->log_level = level;
        return 0;
    }
    case S_NUMBER:
        return s_set_number(cfg, opt, value, source, why);
    case S_RATIO:
        return s_set_ratio(cfg, opt, value, source, why);
    case S_SWITCH:
        return s_set_switch(cfg, opt, value, source, why);
    default:
        return s_set_string(cfg, opt, value, source, why);
    }
}

//  --- the config file -------------------------------------------------------------

//  The message part of what zconfig printed: "26-11-25 16:50:12 E (zconfig):
//  (3) invalid syntax 'x'" -> "line 3: invalid syntax 'x'".
static void
s_zconfig_message(const char *printed, char *msg, size_t msg_len)
{
    const char *start = strstr(printed, "(zconfig): ");
    start = start ? start + strlen("(zconfig): ") : printed;
    int line = 0, used = 0;
    if (sscanf(start, "(%d) %n", &line, &used) == 1 && used > 0)
        snprintf(msg, msg_len, "line %d: %.*s", line, (int) strcspn(start + used, "\r\n"),
                 start + used);
    else
        snprintf(msg, msg_len, "%.*s", (int) strcspn(start, "\r\n"), start);
}

//  Parses text with zconfig. zconfig reports syntax errors with printf on
//  stdout, where they would corrupt a tool's output: catch that text in a
//  temporary file and hand back its message. (zconfig_str_load, not
//  zconfig_load: the latter leaks its zfile when the text does not parse.)
static zconfig_t *
s_zconfig_parse(const char *text, char *msg, size_t msg_len)
{
    msg[0] = '\0';
    fflush(stdout);
    FILE *tmp = tmpfile();
    int saved = tmp ? dup(STDOUT_FILENO) : -1;
    if (saved >= 0 && dup2(fileno(tmp), STDOUT_FILENO) < 0) {
        close(saved);
        saved = -1;
    }
    zconfig_t *root = zconfig_str_load(text);
    if (saved >= 0) {
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        char printed[PDB_ERRMSG_MAX] = "";
        rewind(tmp);
        printed[fread(printed, 1, sizeof printed - 1, tmp)] = '\0';
        s_zconfig_message(printed, msg, msg_len);
    }
    if (tmp)
        fclose(tmp);
    return root;
}

//  Reads a whole regular file of at most CFG_FILE_MAX bytes, NUL-terminated.
//  Caller frees *text. Returns 0 or PDB_EINVAL with `why` filled.
static int
s_read_file(const char *path, const char *shown, char **text, char *why)
{
    FILE *f = fopen(path, "r");
    struct stat st;
    const char *problem = NULL;
    if (!f || fstat(fileno(f), &st) != 0)
        problem = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        problem = "not a regular file";
    else if (st.st_size > (off_t) CFG_FILE_MAX)
        problem = "larger than 1 MiB";
    char *buf = problem ? NULL : malloc((size_t) st.st_size + 1);
    if (!problem && !buf)
        problem = "out of memory";
    if (!problem && fread(buf, 1, (size_t) st.st_size, f) != (size_t) st.st_size)
        problem = "short read";
    if (f)
        fclose(f);
    if (problem) {
        free(buf);
        snprintf(why, PDB_ERRMSG_MAX, "config %s: cannot read: %s", shown, problem);
        return PDB_EINVAL;
    }
    buf[st.st_size] = '\0';
    *text = buf;
    return 0;
}

static const s_option_t *
s_option_by_key(const char *key)
{
    for (size_t i = 0; i < S_OPTION_COUNT; i++)
        if (strcmp(s_options[i].key, key) == 0)
            return &s_options[i];
    return NULL;
}

static bool
s_section_known(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < S_OPTION_COUNT; i++)
        if (strncmp(s_options[i].key, name, len) == 0 && s_options[i].key[len] == '/')
            return true;
    return false;
}

//  Applies one "key = value" item of the file.
static int
s_file_item(cfg_t *cfg, s_origin_t *origin, bool seen[S_OPTION_COUNT], const char *file,
            const char *key, zconfig_t *item, char *why)
{
    const s_option_t *opt = s_option_by_key(key);
    if (!opt) {
        snprintf(why, PDB_ERRMSG_MAX, "config %s: unknown key '%s'", file, key);
        return PDB_EINVAL;
    }
    size_t index = (size_t) (opt - s_options);
    if (zconfig_child(item)) {
        snprintf(why, PDB_ERRMSG_MAX, "config %s: key '%s' cannot have keys under it", file, key);
        return PDB_EINVAL;
    }
    if (seen[index]) {
        snprintf(why, PDB_ERRMSG_MAX, "config %s: key '%s' is given twice", file, key);
        return PDB_EINVAL;
    }
    seen[index] = true;
    const char *value = zconfig_value(item);
    snprintf(origin->source[index], CFG_SOURCE_MAX, "config %s: %s", file, key);
    return s_set(cfg, opt, value ? value : "", origin->source[index], why);
}

//  Walks sections and their keys; anything not in s_options is refused.
static int
s_file_apply(cfg_t *cfg, s_origin_t *origin, zconfig_t *root, const char *file, char *why)
{
    bool seen[S_OPTION_COUNT] = { false };
    for (zconfig_t *node = zconfig_child(root); node; node = zconfig_next(node)) {
        const char *name = zconfig_name(node);
        zconfig_t *item = zconfig_child(node);
        //  "node/data = x" at the top level is the same key written flat.
        if (!item && s_option_by_key(name)) {
            int rc = s_file_item(cfg, origin, seen, file, name, node, why);
            if (rc)
                return rc;
            continue;
        }
        const char *value = zconfig_value(node);
        if (!s_section_known(name) || (value && *value)) {
            snprintf(why, PDB_ERRMSG_MAX, "config %s: unknown %s '%s'", file,
                     value && *value ? "key" : "section", name);
            return PDB_EINVAL;
        }
        for (; item; item = zconfig_next(item)) {
            char key[CFG_SOURCE_MAX];
            snprintf(key, sizeof key, "%s/%s", name, zconfig_name(item));
            int rc = s_file_item(cfg, origin, seen, file, key, item, why);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int
s_file_load(cfg_t *cfg, s_origin_t *origin, const char *path, char *why)
{
    char file[CFG_VALUE_SHOWN + 4];
    s_shown(path, file);
    char *text = NULL;
    int rc = s_read_file(path, file, &text, why);
    if (rc)
        return rc;
    char msg[PDB_ERRMSG_MAX];
    zconfig_t *root = s_zconfig_parse(text, msg, sizeof msg);
    free(text);
    if (!root) {
        snprintf(why, PDB_ERRMSG_MAX, "config %s: syntax error: %.100s (keys go under a "
                 "section, indented 4 spaces)", file, *msg ? msg : "unreadable");
        return PDB_EINVAL;
    }
    rc = s_file_apply(cfg, origin, root, file, why);
    zconfig_destroy(&root);
    if (rc == 0)
        snprintf(cfg->config_path, sizeof cfg->config_path, "%s", path);
    return rc;
}

//  --- environment and flags -------------------------------------------------------

static int
s_env_apply(cfg_t *cfg, s_origin_t *origin, char *why)
{
    for (size_t i = 0; i < S_OPTION_COUNT; i++) {
        const char *value = getenv(s_options[i].env);
        if (!value)
            continue;
        snprintf(origin->source[i], CFG_SOURCE_MAX, "%s", s_options[i].env);
        int rc = s_set(cfg, &s_options[i], value, origin->source[i], why);
        if (rc)
            return rc;
    }
    return 0;
}

//  Matches "--flag" or "--flag=..." against a known flag name.
static bool
s_flag_is(const char *arg, const char *flag)
{
    size_t n = strlen(flag);
    return strncmp(arg, flag, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

//  The option argv[i] names: an index into s_options, S_OPTION_COUNT for
//  --config, or -1 when unknown.
static int
s_flag_lookup(const char *arg)
{
    if (s_flag_is(arg, S_CONFIG_FLAG))
        return (int) S_OPTION_COUNT;
    for (size_t i = 0; i < S_OPTION_COUNT; i++)
        if (s_flag_is(arg, s_options[i].flag))
            return (int) i;
    return -1;
}

typedef struct {
    int *rest;
    int rest_max;
    int rest_n;
    const char *config;    // last --config value, NULL when none
} s_scan_t;

static int
s_rest_push(s_scan_t *scan, int index, const char *arg, char *why)
{
    if (!scan->rest) {
        char shown[CFG_VALUE_SHOWN + 4];
        s_shown(arg, shown);
        snprintf(why, PDB_ERRMSG_MAX, "unknown argument '%s'", shown);
        return PDB_EINVAL;
    }
    if (scan->rest_n >= scan->rest_max) {
        snprintf(why, PDB_ERRMSG_MAX, "too many arguments (at most %d besides options)",
                 scan->rest_max);
        return PDB_EINVAL;
    }
    scan->rest[scan->rest_n++] = index;
    return 0;
}

//  One pass over argv. With cfg NULL it only finds --config and checks the
//  shape of every known flag; with cfg it applies the values and fills rest.
static int
s_flags_scan(cfg_t *cfg, s_origin_t *origin, int argc, char **argv, s_scan_t *scan, char *why)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int opt = strcmp(arg, "--") == 0 ? -2 : s_flag_lookup(arg);
        if (opt == -2) {            // "--": the rest is the caller's, verbatim
            for (; i < argc && cfg; i++)
                if (s_rest_push(scan, i, argv[i], why))
                    return PDB_EINVAL;
            return 0;
        }
        if (opt < 0) {
            if (cfg && s_rest_push(scan, i, arg, why))
                return PDB_EINVAL;
            continue;
        }
        const char *name = opt == (int) S_OPTION_COUNT ? S_CONFIG_FLAG : s_options[opt].flag;
        const char *value = strchr(arg, '=');
        if (value)
            value++;
        else if (opt < (int) S_OPTION_COUNT && s_options[opt].kind == S_SWITCH)
            value = "true";         // a bare switch never takes the next argument
        else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            value = argv[++i];
        else {
            snprintf(why, PDB_ERRMSG_MAX, "%s: needs a value", name);
            return PDB_EINVAL;
        }
        if (opt == (int) S_OPTION_COUNT)
            scan->config = value;
        else if (cfg) {
            snprintf(origin->source[opt], CFG_SOURCE_MAX, "%s", name);
            if (s_set(cfg, &s_options[opt], value, name, why))
                return PDB_EINVAL;
        }
    }
    return 0;
}

//  Where the named option's value came from.
static const char *
s_source(const s_origin_t *origin, const char *key)
{
    const s_option_t *opt = s_option_by_key(key);
    assert(opt);
    return origin->source[opt - s_options];
}

//  Checks that involve the final values of several options.
static int
s_cross_check(const cfg_t *cfg, const s_origin_t *origin, char *why)
{
    size_t len = strlen(cfg->data_dir);
    uint64_t data_max = s_option_by_key("node/data")->max;     // CFG_DATA_DIR_IPC_MAX
    if (len > data_max) {
        char problem[120];
        snprintf(problem, sizeof problem, "is too long for the storage socket inside it "
                 "(%zu bytes, at most %llu)", len, (unsigned long long) data_max);
        return s_fail(why, origin->source[0], cfg->data_dir, problem);
    }
    if (cfg->sync_retry_max_ms < cfg->sync_retry_initial_ms) {
        snprintf(why, PDB_ERRMSG_MAX, "%s (%llu) is below %s (%llu)",
                 s_source(origin, "sync/retry_max_ms"),
                 (unsigned long long) cfg->sync_retry_max_ms,
                 s_source(origin, "sync/retry_initial_ms"),
                 (unsigned long long) cfg->sync_retry_initial_ms);
        return PDB_EINVAL;
    }
    if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
        snprintf(why, PDB_ERRMSG_MAX, "%s and %s go together: HTTPS needs a certificate and "
                 "its key", s_source(origin, "gateway/tls_cert"),
                 s_source(origin, "gateway/tls_key"));
        return PDB_EINVAL;
    }
    if (cfg->sync_tombstone_ttl_s <= cfg->sync_peer_expiry_s) {
        snprintf(why, PDB_ERRMSG_MAX, "%s (%llu) must exceed %s (%llu): a peer that could "
                 "still send a change older than a purged tombstone must have expired first",
                 s_source(origin, "sync/tombstone_ttl_s"),
                 (unsigned long long) cfg->sync_tombstone_ttl_s,
                 s_source(origin, "sync/peer_expiry_s"),
                 (unsigned long long) cfg->sync_peer_expiry_s);
        return PDB_EINVAL;
    }
    return 0;
}

int
cfg_load(cfg_t *cfg, int argc, char **argv, int *rest, int rest_max, int *rest_n,
         char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    if (rest_n)
        *rest_n = 0;
    s_defaults(cfg);
    s_origin_t origin;
    for (size_t i = 0; i < S_OPTION_COUNT; i++)
        snprintf(origin.source[i], CFG_SOURCE_MAX, "%s (default)", s_options[i].key);

    s_scan_t scan = { .rest = rest, .rest_max = rest_max };
    int rc = s_flags_scan(NULL, &origin, argc, argv, &scan, why);
    const char *config = scan.config ? scan.config : getenv(S_CONFIG_ENV);
    if (rc == 0 && config && *config == '\0') {
        snprintf(why, PDB_ERRMSG_MAX, "%s: '' is empty; a path is required",
                 scan.config ? S_CONFIG_FLAG : S_CONFIG_ENV);
        rc = PDB_EINVAL;
    }
    if (rc == 0 && config)
        rc = s_file_load(cfg, &origin, config, why);
    if (rc == 0)
        rc = s_env_apply(cfg, &origin, why);
    if (rc == 0)
        rc = s_flags_scan(cfg, &origin, argc, argv, &scan, why);
    if (rc == 0)
        rc = s_cross_check(cfg, &origin, why);
    if (rest_n)
        *rest_n = rc == 0 ? scan.rest_n : 0;
    return rc;
}

void
cfg_storage_endpoint(const cfg_t *cfg, char *out, size_t out_len)
{
    if (cfg->storage_endpoint[0])
        snprintf(out, out_len, "%s", cfg->storage_endpoint);
    else
        snprintf(out, out_len, "ipc://%s/storage.sock", cfg->data_dir);
}

//  --- usage and the README's table -------------------------------------------------

#define S_TEXT_MAX (16u << 10)      // the whole --help text, or the Markdown table
#define S_USAGE_WIDTH 79            // columns of a terminal line
#define S_USAGE_INDENT 27           // where descriptions start

typedef struct {
    char *buf;
    size_t len;
} s_text_t;

static void
s_put(s_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_put(s_text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, S_TEXT_MAX - t->len, fmt, ap);
    va_end(ap);
    //  The buffer holds every option with room to spare: a cut is a bug here.
    assert(n >= 0 && t->len + (size_t) n < S_TEXT_MAX);
    t->len += (size_t) n;
}

//  Space-separated words as "a, b or c".
static void
s_words(const char *words, char *out, size_t len)
{
    size_t used = 0;
    for (const char *p = words; *p && used < len;) {
        size_t n = strcspn(p, " ");
        const char *rest = p + n + strspn(p + n, " ");
        const char *sep = p == words ? "" : *rest ? ", " : " or ";
        int w = snprintf(out + used, len - used, "%s%.*s", sep, (int) n, p);
        used += w > 0 ? (size_t) w : 0;
        p = rest;
    }
}

//  What values opt accepts, from its row: the same bounds s_set enforces.
static void
s_bounds(const s_option_t *opt, char *out, size_t len)
{
    unsigned long long min = opt->min, max = opt->max;
    char words[128] = "";
    if (opt->words)
        s_words(opt->words, words, sizeof words);
    switch (opt->kind) {
    case S_NUMBER:   snprintf(out, len, "%llu..%llu", min, max); break;
    case S_RATIO:    snprintf(out, len, "%llu..%llu, two decimals at most", min / 100,
                              max / 100); break;
    case S_LEVEL:    snprintf(out, len, "error, warn, info or debug"); break;
    case S_CHOICE:   snprintf(out, len, "%s", words); break;
    case S_PATH:     snprintf(out, len, "at most %llu bytes", max ? max
                              : (unsigned long long) opt->size - 1); break;
    case S_ENDPOINT: snprintf(out, len, "starts with %s, at most %zu bytes", words,
                              opt->size - 1); break;
    case S_PEERS:    snprintf(out, len, "at most %d peers, %zu bytes", PEERSPEC_LIST_MAX,
                              opt->size - 1); break;
    case S_POLICIES: snprintf(out, len, "at most %d collectives", POLICY_OVERRIDES_MAX);
                     break;
    case S_SWITCH:   snprintf(out, len, "a bare flag, or true or false"); break;
    default:         snprintf(out, len, "at most %zu bytes", opt->size - 1); break;
    }
}

//  The default as a person reads it: the row's value, or what "" means.
static const char *
s_default(const s_option_t *opt)
{
    if (*opt->def)
        return opt->def;
    return opt->unset ? opt->unset : "none";
}

//  Words of text from column `col`, wrapped at S_USAGE_WIDTH onto lines
//  indented S_USAGE_INDENT; ends the line.
static void
s_wrap(s_text_t *t, size_t col, const char *text)
{
    for (const char *p = text; *p;) {
        size_t word = strcspn(p, " ");
        if (col > S_USAGE_INDENT && col + 1 + word > S_USAGE_WIDTH) {
            s_put(t, "\n%*s", S_USAGE_INDENT, "");
            col = S_USAGE_INDENT;
        }
        else if (col > S_USAGE_INDENT) {
            s_put(t, " ");
            col++;
        }
        s_put(t, "%.*s", (int) word, p);
        col += word;
        p += word;
        p += strspn(p, " ");
    }
    s_put(t, "\n");
}

static void
s_usage_option(s_text_t *t, const s_option_t *opt)
{
    char bounds[160], line[1024], name[64];
    s_bounds(opt, bounds, sizeof bounds);
    snprintf(name, sizeof name, "%s%s%s", opt->flag, opt->arg ? " " : "",
             opt->arg ? opt->arg : "");
    snprintf(line, sizeof line, "%s; %s [%s]", opt->help, bounds, s_default(opt));
    size_t width = S_USAGE_INDENT - 3;
    s_put(t, "  %-*s ", (int) width, name);
    s_wrap(t, strlen(name) > width ? 3 + strlen(name) + 1 : S_USAGE_INDENT, line);
    s_put(t, "%*s%s, %s\n", S_USAGE_INDENT, "", opt->key, opt->env);
}

const char *
cfg_usage(void)
{
    static char buf[S_TEXT_MAX];
    if (buf[0])
        return buf;
    s_text_t t = { buf, 0 };
    s_put(&t, "Configuration: defaults < config file < PULSEDB_* environment < flags.\n"
          "Each option: flag, what; accepted values [default], then its config file key\n"
          "and environment variable.\n"
          "  %-*s ", S_USAGE_INDENT - 3, S_CONFIG_FLAG " FILE");
    char line[128];
    snprintf(line, sizeof line, "config file, zconfig format; a regular file of at most "
             "%u MiB [none]", CFG_FILE_MAX >> 20);
    s_wrap(&t, S_USAGE_INDENT, line);
    s_put(&t, "%*s%s\n", S_USAGE_INDENT, "", S_CONFIG_ENV);
    for (size_t i = 0; i < S_OPTION_COUNT; i++)
        s_usage_option(&t, &s_options[i]);
    s_put(&t, "Flags take '--flag VALUE' or '--flag=VALUE'. Unknown keys in the config file\n"
          "are errors. Example file (sections at column 0, keys indented 4 spaces):\n"
          "    node\n"
          "        data = /var/lib/pulsedb\n"
          "    gateway\n"
          "        port = 8080\n");
    return buf;
}

//  One Markdown table cell: text with the characters that would end the
//  cell or start markup escaped; `code` puts it in a code span.
static void
s_md_cell(s_text_t *t, const char *text, bool code)
{
    s_put(t, " %s", code ? "`" : "");
    for (const char *p = text; *p; p++) {
        bool special = *p == '|' || (!code && strchr("\\`*<>", *p));
        s_put(t, "%s%c", special ? "\\" : "", *p);
    }
    s_put(t, "%s |", code ? "`" : "");
}

static void
s_md_option(s_text_t *t, const s_option_t *opt)
{
    char bounds[160], flag[64];
    s_bounds(opt, bounds, sizeof bounds);
    snprintf(flag, sizeof flag, "%s%s%s", opt->flag, opt->arg ? " " : "",
             opt->arg ? opt->arg : "");
    s_put(t, "|");
    s_md_cell(t, opt->key, true);
    s_md_cell(t, opt->env, true);
    s_md_cell(t, flag, true);
    s_md_cell(t, s_default(opt), *opt->def != '\0');
    s_md_cell(t, bounds, false);
    s_md_cell(t, opt->help, false);
    s_put(t, "\n");
}

const char *
cfg_markdown(void)
{
    static char buf[S_TEXT_MAX];
    if (buf[0])
        return buf;
    s_text_t t = { buf, 0 };
    s_put(&t, "| file key | environment | flag | default | accepted | what |\n"
              "|---|---|---|---|---|---|\n"
              "| | `%s` | `%s FILE` | none | a regular file of at most %u MiB "
              "| config file, zconfig format |\n", S_CONFIG_ENV, S_CONFIG_FLAG,
              CFG_FILE_MAX >> 20);
    for (size_t i = 0; i < S_OPTION_COUNT; i++)
        s_md_option(&t, &s_options[i]);
    return buf;
}

//  --- exposure ------------------------------------------------------------------

bool
cfg_host_is_loopback(const char *host)
{
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return true;
    unsigned a, b, c, d;
    char tail;
    return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256
        && c < 256 && d < 256;
}

//  The host of "tcp://HOST:PORT" (brackets of an IPv6 literal removed).
static void
s_endpoint_host(const char *endpoint, char *host, size_t size)
{
    const char *start = strncmp(endpoint, "tcp://", 6) == 0 ? endpoint + 6 : endpoint;
    const char *colon = strrchr(start, ':');
    size_t len = colon ? (size_t) (colon - start) : strlen(start);
    if (len >= 2 && start[0] == '[' && start[len - 1] == ']') {
        start++;
        len -= 2;
    }
    snprintf(host, size, "%.*s", (int) len, start);
}

static bool
s_endpoint_exposed(const char *endpoint)
{
    char host[CFG_ENDPOINT_MAX];
    if (!*endpoint)
        return false;
    s_endpoint_host(endpoint, host, sizeof host);
    return !cfg_host_is_loopback(host);
}

//  The first socket in `sockets` that listens beyond loopback without
//  credentials: its option name and value, or false when there is none.
static bool
s_exposed(const cfg_t *cfg, unsigned sockets, const char **option, const char **value)
{
    if ((sockets & CFG_EXPOSE_HTTP) && !cfg->api_tokens[0]
        && !cfg_host_is_loopback(cfg->http_host)) {
        *option = "gateway/host";
        *value = cfg->http_host;
    }
    else if ((sockets & CFG_EXPOSE_SYNC) && s_endpoint_exposed(cfg->sync_bind)) {
        *option = "sync/bind";
        *value = cfg->sync_bind;
    }
    else if ((sockets & CFG_EXPOSE_STORAGE) && s_endpoint_exposed(cfg->storage_tcp)) {
        *option = "storage/tcp";
        *value = cfg->storage_tcp;
    }
    else
        return false;
    return true;
}

int
cfg_exposure_check(const cfg_t *cfg, unsigned sockets, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    const char *option, *value;
    if (!s_exposed(cfg, sockets, &option, &value))
        return 0;
    bool http = strcmp(option, "gateway/host") == 0;
    char line[2 * PDB_ERRMSG_MAX];      // composed whole, then cut (see s_fail)
    snprintf(line, sizeof line, "%s %.64s is beyond loopback %s: anyone who reaches it "
             "could write and delete; %s, or pass --insecure to accept the risk", option, value,
             http ? "and gateway/api_tokens is empty" : "and that socket takes no credentials",
             http ? "give a token file (--api-tokens) or listen on loopback"
                  : strcmp(option, "sync/bind") == 0
                  ? "make a key pair (pulsedb keygen: CURVE) or listen on loopback"
                  : "listen on loopback");
    snprintf(why, PDB_ERRMSG_MAX, "%.*s", PDB_ERRMSG_MAX - 1, line);
    if (!cfg->insecure)
        return PDB_EINVAL;
    log_w("security", "INSECURE (--insecure): %s", why);
    return 0;
}
