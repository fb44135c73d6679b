/*  pulsedb sync status [--json]
    pulsedb sync once [configuration flags]

    status asks the gateway (GET /v1/sync/status) and prints one line per
    peer; once runs the syncer for one round (pulsedb-syncer --once, found
    the way `pulsedb up` finds its children) and shows its progress
    (syncrun.h).
*/
#include "cli.h"
#include "clock.h"
#include "cmd.h"
#include "progpath.h"
#include "syncfmt.h"
#include "syncrun.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNC_SYNCER "pulsedb-syncer"
#define SYNC_SYNCER_BUILD_DIR "services/syncer"

static const char s_help[] =
    "usage: pulsedb sync status [--url URL] [--json]\n"
    "       pulsedb sync once [configuration flags]\n"
    "  status   the sync state of every peer (see: pulsedb sync status --help)\n"
    "  once     one push and one pull with every peer, then exit\n"
    "           (see: pulsedb sync once --help)\n"
    "Peers are added with 'pulsedb peer add' or configured in sync/peers.\n";

static const char s_help_status[] =
    "usage: pulsedb sync status [--url URL] [--json]\n"
    "Shows this node's WAL (head, floor, and the peer that holds the floor back) and,\n"
    "per peer: state (connecting, syncing, idle, snapshot, degraded), lag in changes\n"
    "and in ms (the age of the oldest change not synced yet), WAL entries held back\n"
    "for it, last success, initial-sync progress (done/total (percent) rate ETA) and\n"
    "the error with consecutive failures while it fails (once it works again: the\n"
    "last error and how long ago); then the instances pulling from this node.\n"
    CLI_COMMON_HELP;

static const char s_help_once[] =
    "usage: pulsedb sync once [--data DIR] [--config FILE] [configuration flags]\n"
    "Runs pulsedb-syncer --once: one push and one pull with every peer (configured in\n"
    "sync/peers or added with 'pulsedb peer add'), each to completion, then exits\n"
    "with the syncer's exit code. The configuration flags are passed on unchanged;\n"
    "storage must be running on the data folder. pulsedb-syncer is looked up next to\n"
    "pulsedb, in the build tree (services/syncer/), then on PATH.\n"
    "Progress goes to standard error: per peer, direction and snapshot a bar with\n"
    "rate and ETA on a terminal (the syncer then logs at warn unless a level is\n"
    "given), else a line per 10%; one summary line per peer on standard output.\n"
    "Configuration flags: see 'pulsedb up --help'.\n";

//  --------------------------------------------------------------------------
//  status

static void
s_print_wal(const json_t *status)
{
    const json_t *wal = json_object_get(status, "wal");
    const char *held_by = json_string_value(json_object_get(wal, "held_back_by"));
    char head[SYNCFMT_CELL_MAX], floor[SYNCFMT_CELL_MAX];
    syncfmt_count(head, sizeof head, json_object_get(wal, "head"));
    syncfmt_count(floor, sizeof floor, json_object_get(wal, "floor"));
    printf("%-10s %s\n%-10s head %s, floor %s, held back by %s\n\n", "instance",
           json_string_value(json_object_get(status, "instance_id")), "wal", head, floor,
           held_by ? held_by : "no peer");
}

//  One peer's cells, in column order.
typedef struct {
    char lag[SYNCFMT_CELL_MAX], lag_ms[SYNCFMT_CELL_MAX], held[SYNCFMT_CELL_MAX];
    char success[SYNCFMT_CELL_MAX], snapshot[SYNCFMT_CELL_MAX], error[2 * SYNCFMT_CELL_MAX];
} s_cells_t;

static void
s_cells(const json_t *p, uint64_t now_ms, s_cells_t *c)
{
    syncfmt_count(c->lag, sizeof c->lag, json_object_get(p, "lag_changes"));
    syncfmt_count(c->lag_ms, sizeof c->lag_ms, json_object_get(p, "lag_ms"));
    syncfmt_count(c->held, sizeof c->held, json_object_get(p, "wal_held_back"));
    syncfmt_age(c->success, sizeof c->success, json_object_get(p, "last_success_ms"), now_ms);
    syncfmt_snapshot(c->snapshot, sizeof c->snapshot, json_object_get(p, "snapshot"));
    //  The error while the peer fails; once it works again, the last one
    //  as history.
    const json_t *error = json_object_get(p, "error");
    if (json_string_length(error) > 0)
        syncfmt_error(c->error, sizeof c->error, error, json_object_get(p, "failures"));
    else
        syncfmt_past_error(c->error, sizeof c->error, json_object_get(p, "last_error"),
                           json_object_get(p, "last_error_ms"), now_ms);
}

static void
s_print_peers(const json_t *peers, uint64_t now_ms)
{
    if (json_array_size(peers) == 0) {
        printf("no sync peers (add one with: pulsedb peer add NAME tcp://HOST:PORT)\n");
        return;
    }
    int width = syncfmt_name_width(peers, "name", 4, 40);
    int snap_width = 8;
    size_t i;
    const json_t *p;
    json_array_foreach(peers, i, p) {
        s_cells_t c;
        s_cells(p, now_ms, &c);
        if ((int) strlen(c.snapshot) > snap_width)
            snap_width = (int) strlen(c.snapshot);
    }
    printf("%-*s  %-10s  %-9s  %8s  %8s  %9s  %-14s  %-*s  %s\n", width, "NAME", "STATE",
           "DIRECTION", "LAG", "LAG MS", "HELD BACK", "LAST SUCCESS", snap_width, "SNAPSHOT",
           "ERROR");
    json_array_foreach(peers, i, p) {
        s_cells_t c;
        s_cells(p, now_ms, &c);
        const char *state = json_string_value(json_object_get(p, "state"));
        const char *dir = json_string_value(json_object_get(p, "direction"));
        printf("%-*s  %-10s  %-9s  %8s  %8s  %9s  %-14s  %-*s  %s\n", width,
               json_string_value(json_object_get(p, "name")), state ? state : "-",
               dir ? dir : "-", c.lag, c.lag_ms, c.held, c.success, snap_width, c.snapshot,
               c.error);
    }
}

static void
s_print_inbound(const json_t *inbound, uint64_t now_ms)
{
    if (json_array_size(inbound) == 0)
        return;
    printf("\ninstances pulling from this node:\n%-36s  %14s  %9s  %-14s  %s\n", "INSTANCE",
           "PULLED THROUGH", "HELD BACK", "LAST SEEN", "PEER");
    size_t i;
    const json_t *in;
    json_array_foreach(inbound, i, in) {
        char pulled[SYNCFMT_CELL_MAX], held[SYNCFMT_CELL_MAX], seen[SYNCFMT_CELL_MAX];
        syncfmt_count(pulled, sizeof pulled, json_object_get(in, "pulled_through"));
        syncfmt_count(held, sizeof held, json_object_get(in, "wal_held_back"));
        syncfmt_age(seen, sizeof seen, json_object_get(in, "last_seen_ms"), now_ms);
        const char *id = json_string_value(json_object_get(in, "instance_id"));
        const char *peer = json_string_value(json_object_get(in, "peer"));
        printf("%-36s  %14s  %9s  %-14s  %s\n", id ? id : "-", pulled, held, seen,
               peer ? peer : "-");
    }
}

static int
s_status(int argc, char **argv)
{
    static const args_opt_t opts[] = { CLI_COMMON_OPTS };
    cli_t cli;
    int rc = cli_begin(&cli, "sync status", argc, argv, opts);
    client_reply_t reply;
    json_t *status = NULL;
    if (rc == 0)
        rc = cli_get_bare(&cli, "status", "/v1/sync/status", &reply, &status);
    if (rc == 0) {
        if (cli.json)
            cli_print_raw(&reply);
        else {
            uint64_t now_ms = clock_wall_ms();
            s_print_wal(status);
            s_print_peers(json_object_get(status, "peers"), now_ms);
            s_print_inbound(json_object_get(status, "inbound"), now_ms);
        }
        json_decref(status);
        client_reply_release(&reply);
    }
    cli_end(&cli);
    return rc;
}

//  --------------------------------------------------------------------------
//  once

//  On a terminal the bars say what the syncer's info lines would (one per
//  snapshot page), so it runs at warn unless a log level was chosen.
static bool
s_quiet_child(const cfg_t *cfg, int argc, char **argv)
{
    if (!isatty(STDERR_FILENO) || cfg->log_level != LOGL_INFO || getenv("PULSEDB_LOG_LEVEL"))
        return false;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--log-level", strlen("--log-level")) == 0)
            return false;
    return true;
}

//  argv[0] is "once"; the rest are configuration flags, checked here so a
//  typo is a usage error rather than a syncer failure.
static int
s_once(int argc, char **argv)
{
    if (argc > CLI_ARGS_MAX) {
        fprintf(stderr, "error: too many arguments\n");
        return CLI_EXIT_USAGE;
    }
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    if (cfg_load(&cfg, argc, argv, NULL, 0, NULL, why)) {
        fprintf(stderr, "error: %s\n(see: pulsedb sync once --help)\n", why);
        return CLI_EXIT_USAGE;
    }
    char program[PATH_MAX];
    if (progpath_find(SYNC_SYNCER, SYNC_SYNCER_BUILD_DIR, NULL, NULL, program,
                      sizeof program)) {
        fprintf(stderr, "error: cannot find %s next to pulsedb, in the build tree (%s/) or "
                "on PATH; build or install the syncer first\n", SYNC_SYNCER,
                SYNC_SYNCER_BUILD_DIR);
        return CLI_EXIT_FAIL;
    }
    char *child[CLI_ARGS_MAX + 4];
    int n = 0;
    child[n++] = program;
    child[n++] = "--once";
    for (int i = 1; i < argc; i++)
        child[n++] = argv[i];
    if (s_quiet_child(&cfg, argc, argv)) {
        child[n++] = "--log-level";
        child[n++] = "warn";
    }
    child[n] = NULL;
    return syncrun_exec(child);
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} s_actions[] = {
    { "status", s_status, s_help_status },
    { "once", s_once, s_help_once },
};

int
cmd_sync(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        if (cli_wants_help(argc, argv))
            return cli_help(s_help);
        fprintf(stderr, "error: expected 'status' or 'once'\n(see: pulsedb sync --help)\n");
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof s_actions / sizeof s_actions[0]; i++) {
        if (strcmp(argv[1], s_actions[i].name) != 0)
            continue;
        if (cli_wants_help(argc - 1, argv + 1))
            return cli_help(s_actions[i].help);
        return s_actions[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "error: unknown sync action '%.32s': expected status or once\n"
            "(see: pulsedb sync --help)\n", argv[1]);
    return CLI_EXIT_USAGE;
}
