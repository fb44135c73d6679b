/*  pulsedb up - starts one node on a data folder and supervises it.

    The children come from the table s_children below, in stages: storage
    first; once it accepts connections on DATA/storage.sock (or after
    UP_STORAGE_WAIT_MS: gateways retry anyway) the syncer, when installed,
    and cfg.gateways gateways. Every child gets the configuration arguments
    `up` was given (--data, --config, --port, ...) and inherits its
    environment, so all of them read the same configuration. Programs are
    looked up next to the pulsedb executable, then where the build tree puts
    them (../services/NAME/), then on PATH.

    Exit-code convention for the services (storage, gateway, syncer), from
    common/service.h:
      3        fatal start-up error: the configuration is invalid, or the data
               folder is locked by another storage process. Restarting cannot
               help: `up` stops every child and exits 3 itself.
      4        storage's store failed (a write or fsync error, a full disk):
               restarted like any other exit, and the new storage opens the
               environment afresh.
      other    (or death by a signal) the child is restarted after a backoff:
               100 ms doubling to 10 s, back to 100 ms after 30 s of running.
    `up` exits 0 when SIGINT/SIGTERM/SIGHUP stopped the node (children get
    SIGTERM, highest stage first, and SIGKILL after 10 s), 1 when it cannot
    start (folder, program not found, fork), 2 on a usage or configuration
    error, 3 as above.
*/
#include "cli.h"
#include "nodekey.h"
#include "clock.h"
#include "cmd.h"
#include "log.h"
#include "progpath.h"
#include "super.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define UP_STORAGE_WAIT_MS 10000    // storage opening a large map is quick; gateways retry
#define UP_READY_POLL_MS 50
#define UP_STOP_GRACE_MS 10000
#define UP_STAGE_STORAGE 0
#define UP_STAGE_SERVING 1

typedef enum { UP_ONE, UP_PER_GATEWAY } up_count_t;

//  Every process of a node. A new kind of child is one more row.
static const struct {
    const char *name;         // in logs; "-1", "-2", ... appended per gateway
    const char *program;      // executable file name
    const char *build_dir;    // where the build tree puts it, from the build root
    int stage;                // started in stage order, stopped in reverse
    bool optional;            // skipped with a note when not installed
    up_count_t count;
} s_children[] = {
    { "storage", "pulsedb-storage", "services/storage", UP_STAGE_STORAGE, false, UP_ONE },
    { "syncer", "pulsedb-syncer", "services/syncer", UP_STAGE_SERVING, true, UP_ONE },
    { "gateway", "pulsedb-gateway", "services/gateway", UP_STAGE_SERVING, false,
      UP_PER_GATEWAY },
};

#define UP_CHILD_KINDS (sizeof s_children / sizeof s_children[0])

static const char s_help[] =
    "usage: pulsedb up [--data DIR] [--config FILE] [--gateways N] [configuration flags]\n"
    "Starts a node on DIR (created if missing): pulsedb-storage, then pulsedb-syncer\n"
    "(when installed) and N pulsedb-gateway processes, each given the same\n"
    "configuration flags. A child that dies is restarted with backoff (100 ms\n"
    "doubling to 10 s), storage exiting with code 4 (its store failed) too; a child\n"
    "exiting with code 3 (fatal: bad configuration, data folder locked by another\n"
    "storage) stops the node. Ctrl-C or SIGTERM stops all children (SIGKILL after\n"
    "10 s) and exits 0.\n"
    "Programs are found next to pulsedb, in the build tree, or on PATH.\n\n";

//  mkdir -p.
static int
s_make_dirs(const char *dir)
{
    char path[CFG_PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    //  The data folder itself is the node user's only: its sockets and files.
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

//  True when something accepts connections on the storage socket. A file
//  left by a crashed storage refuses them, so it does not count.
static bool
s_storage_answers(const cfg_t *cfg)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/storage.sock", cfg->data_dir);
    if (n < 0 || (size_t) n >= sizeof addr.sun_path)
        return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

//  Registers every child with the arguments `up` was given. Returns 0 or
//  an exit code, having said why.
static int
s_add_children(super_t *sup, const cfg_t *cfg, int argc, char **argv)
{
    char *child_argv[CLI_ARGS_MAX + 2];
    for (int i = 1; i < argc; i++)
        child_argv[i] = argv[i];
    child_argv[argc] = NULL;
    for (size_t k = 0; k < UP_CHILD_KINDS; k++) {
        char program[PATH_MAX];
        if (progpath_find(s_children[k].program, s_children[k].build_dir, NULL, NULL, program,
                          sizeof program)) {
            if (s_children[k].optional) {
                log_i("up", "not installed, skipping name=%s program=%s", s_children[k].name,
                      s_children[k].program);
                continue;
            }
            fprintf(stderr, "error: cannot find %s next to pulsedb, in the build tree or on "
                    "PATH\n", s_children[k].program);
            return CLI_EXIT_FAIL;
        }
        child_argv[0] = program;
        unsigned n = s_children[k].count == UP_PER_GATEWAY ? cfg->gateways : 1;
        for (unsigned i = 1; i <= n; i++) {
            char name[SUPER_NAME_MAX];
            if (s_children[k].count == UP_PER_GATEWAY)
                snprintf(name, sizeof name, "%s-%u", s_children[k].name, i);
            else
                snprintf(name, sizeof name, "%s", s_children[k].name);
            if (super_add(sup, name, child_argv, s_children[k].stage)) {
                fprintf(stderr, "error: out of memory\n");
                return CLI_EXIT_FAIL;
            }
        }
    }
    return 0;
}

//  Starts storage and waits until it answers (or dies fatally, or a stop
//  signal arrives, or UP_STORAGE_WAIT_MS passes).
static super_state_t
s_start_storage(super_t *sup, const cfg_t *cfg)
{
    if (super_start(sup, UP_STAGE_STORAGE))
        return SUPER_FATAL;
    uint64_t deadline = clock_mono_ms() + UP_STORAGE_WAIT_MS;
    while (true) {
        super_state_t state = super_poll(sup, UP_READY_POLL_MS);
        if (state != SUPER_RUNNING)
            return state;
        //  Storage is child 0: the first row of s_children, never optional.
        if (super_pid(sup, 0) && s_storage_answers(cfg)) {
            log_i("up", "storage ready socket=%s/storage.sock", cfg->data_dir);
            return SUPER_RUNNING;
        }
        if (clock_mono_ms() >= deadline) {
            log_w("up", "storage not answering after %d ms; starting the others anyway "
                  "(they retry)", UP_STORAGE_WAIT_MS);
            return SUPER_RUNNING;
        }
    }
}

static void
s_print_started(const super_t *sup, const cfg_t *cfg)
{
    char dir[PATH_MAX], url[CLIENT_URL_MAX];
    client_default_url(cfg->http_host, cfg->http_port, url, sizeof url);
    printf("pulsedb up: node running\n  %-12s %s\n", "data",
           realpath(cfg->data_dir, dir) ? dir : cfg->data_dir);
    if (cfg->config_path[0])
        printf("  %-12s %s\n", "config", cfg->config_path);
    printf("  %-12s %s\n", "url", url);
    for (size_t i = 0; i < super_count(sup); i++)
        printf("  %-12s pid %d\n", super_name(sup, i), (int) super_pid(sup, i));
    printf("Stop with Ctrl-C or SIGTERM.\n");
    fflush(stdout);
}

static int
s_run(super_t *sup, const cfg_t *cfg)
{
    super_state_t state = s_start_storage(sup, cfg);
    if (state == SUPER_RUNNING && super_start(sup, UP_STAGE_SERVING))
        state = SUPER_FATAL;
    if (state == SUPER_RUNNING)
        s_print_started(sup, cfg);
    while (state == SUPER_RUNNING)
        state = super_poll(sup, 1000);
    super_stop(sup, UP_STOP_GRACE_MS);
    const char *fatal = super_fatal_child(sup);
    if (fatal) {
        bool storage = strcmp(fatal, "storage") == 0;
        fprintf(stderr, "error: %s exited with code %d: a fatal start-up error (%s; see its "
                "log above). Node stopped.\n", fatal, SERVICE_EXIT_FATAL,
                storage ? "the data folder is locked by another storage process, or it "
                          "cannot be opened" : "its configuration is refused");
        return CLI_EXIT_FATAL;
    }
    if (state == SUPER_FATAL)
        return CLI_EXIT_FAIL;          // fork failed; logged
    log_i("up", "stopped data=%s", cfg->data_dir);
    return CLI_EXIT_OK;
}

int
cmd_up(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(s_help, stdout);
        return cli_help(cfg_usage());
    }
    cfg_t cfg;
    char why[PDB_ERRMSG_MAX];
    if (argc > CLI_ARGS_MAX) {
        fprintf(stderr, "error: too many arguments\n");
        return CLI_EXIT_USAGE;
    }
    //  No arguments of its own: whatever cfg does not know is a mistake.
    if (cfg_load(&cfg, argc, argv, NULL, 0, NULL, why)) {
        fprintf(stderr, "error: %s\n(see: pulsedb up --help)\n", why);
        return CLI_EXIT_USAGE;
    }
    log_set_level(cfg.log_level);
    //  Refused here, before any child starts; with --insecure each child
    //  logs its own exposure.
    if (!cfg.insecure && cfg_exposure_check(&cfg, nodekey_exists(cfg.data_dir) ? CFG_EXPOSE_ALL & ~CFG_EXPOSE_SYNC
                                                                    : CFG_EXPOSE_ALL, why)) {
        fprintf(stderr, "error: %s\n", why);
        return CLI_EXIT_USAGE;
    }
    int rc = s_make_dirs(cfg.data_dir);
    if (rc) {
        fprintf(stderr, "error: cannot create the data folder %s: %s\n", cfg.data_dir,
                strerror(-rc));
        return CLI_EXIT_FAIL;
    }
    super_t *sup = super_new();
    if (!sup)
        return CLI_EXIT_FAIL;
    rc = s_add_children(sup, &cfg, argc, argv);
    if (rc == 0)
        rc = s_run(sup, &cfg);
    super_destroy(&sup);
    return rc;
}
