#include "super.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUPER_GRACE_MS_DEFAULT 10000   // SIGTERM to SIGKILL: a storage commit is far shorter

typedef struct {
    char name[SUPER_NAME_MAX];
    char **argv;                 // owned, NULL-terminated
    int stage;
    pid_t pid;                   // 0 when not running
    uint64_t started_ms;
    uint64_t restart_at_ms;      // 0 when no restart is pending
    backoff_t backoff;
} s_child_t;

struct super {
    s_child_t children[SUPER_CHILDREN_MAX];
    size_t count;
    sigset_t mask;               // the signals we take with sigtimedwait
    sigset_t old_mask;           // restored in children and on destroy
    pid_t self_pid;
    bool stopping;
    int fatal;                   // index + 1 of the child that exited fatally
};

super_t *
super_new(void)
{
    super_t *self = calloc(1, sizeof *self);
    if (!self) {
        log_e("up", "out of memory");
        return NULL;
    }
    //  An inherited SIG_IGN for SIGCHLD would make the kernel reap children
    //  itself and waitpid would never see their status.
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&self->mask);
    sigaddset(&self->mask, SIGCHLD);
    sigaddset(&self->mask, SIGINT);
    sigaddset(&self->mask, SIGTERM);
    sigaddset(&self->mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &self->mask, &self->old_mask);
    self->self_pid = getpid();
    return self;
}

void
super_destroy(super_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    super_t *self = *self_p;
    super_stop(self, SUPER_GRACE_MS_DEFAULT);
    for (size_t i = 0; i < self->count; i++) {
        for (char **arg = self->children[i].argv; arg && *arg; arg++)
            free(*arg);
        free(self->children[i].argv);
    }
    sigprocmask(SIG_SETMASK, &self->old_mask, NULL);
    free(self);
    *self_p = NULL;
}

int
super_add(super_t *self, const char *name, char *const argv[], int stage)
{
    if (self->count >= SUPER_CHILDREN_MAX)
        return -E2BIG;
    size_t n = 0;
    while (argv[n])
        n++;
    char **copy = calloc(n + 1, sizeof *copy);
    for (size_t i = 0; copy && i < n; i++) {
        copy[i] = strdup(argv[i]);
        if (!copy[i]) {
            for (size_t j = 0; j < i; j++)
                free(copy[j]);
            free(copy);
            copy = NULL;
        }
    }
    if (!copy)
        return -ENOMEM;
    s_child_t *c = &self->children[self->count++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->argv = copy;
    c->stage = stage;
    super_backoff_init(&c->backoff);
    return 0;
}

//  In the child, between fork and exec: only async-signal-safe calls.
static void
s_child_exec(const super_t *self, const s_child_t *c)
{
    sigprocmask(SIG_SETMASK, &self->old_mask, NULL);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != self->self_pid)      // the supervisor died before prctl
        _exit(1);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        close(null_fd);
    }
    execv(c->argv[0], c->argv);
    static const char msg[] = "E up: exec failed for a child program\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void) ignored;
    _exit(127);
}

static int
s_spawn(super_t *self, s_child_t *c)
{
    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        log_e("up", "fork failed name=%s rc=%d (%s)", c->name, rc, strerror(-rc));
        return rc;
    }
    if (pid == 0)
        s_child_exec(self, c);
    c->pid = pid;
    c->started_ms = clock_mono_ms();
    c->restart_at_ms = 0;
    log_i("up", "child started name=%s pid=%d program=%s", c->name, (int) pid, c->argv[0]);
    return 0;
}

int
super_start(super_t *self, int stage)
{
    for (size_t i = 0; i < self->count; i++) {
        s_child_t *c = &self->children[i];
        if (c->stage != stage || c->pid)
            continue;
        int rc = s_spawn(self, c);
        if (rc)
            return rc;
    }
    return 0;
}

void
super_backoff_init(backoff_t *backoff)
{
    backoff_init(backoff, SUPER_RESTART_INITIAL_MS, SUPER_RESTART_MAX_MS, 200);
}

uint64_t
super_restart_delay(backoff_t *backoff, uint64_t ran_ms)
{
    if (ran_ms >= SUPER_HEALTHY_MS)
        backoff_reset(backoff);
    return backoff_failed(backoff);
}

static void
s_status_text(int status, char *out, size_t len)
{
    if (WIFEXITED(status))
        snprintf(out, len, "exit_%d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, len, "signal_%d(%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, len, "status_%d", status);
}

//  A child exited: decide between a fatal stop and a restart with backoff.
static void
s_on_exit(super_t *self, s_child_t *c, int status)
{
    uint64_t now = clock_mono_ms();
    uint64_t ran_ms = now - c->started_ms;
    pid_t pid = c->pid;
    char text[64];
    s_status_text(status, text, sizeof text);
    c->pid = 0;
    if (self->stopping) {
        log_i("up", "child stopped name=%s pid=%d status=%s", c->name, (int) pid, text);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == SERVICE_EXIT_FATAL) {
        log_e("up", "child failed fatally name=%s pid=%d status=%s ran_ms=%llu: not restarting",
              c->name, (int) pid, text, (unsigned long long) ran_ms);
        if (!self->fatal)
            self->fatal = (int) (c - self->children) + 1;
        return;
    }
    uint64_t delay = super_restart_delay(&c->backoff, ran_ms);
    c->restart_at_ms = now + delay;
    bool store = WIFEXITED(status) && WEXITSTATUS(status) == SERVICE_EXIT_STORE;
    log_w("up", "child exited name=%s pid=%d status=%s%s ran_ms=%llu restart_in_ms=%llu",
          c->name, (int) pid, text, store ? " (its store failed)" : "", (unsigned long long) ran_ms,
          (unsigned long long) delay);
}

static void
s_reap(super_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < self->count; i++)
            if (self->children[i].pid == pid)
                s_on_exit(self, &self->children[i], status);
    }
}

//  Restarts children whose backoff has passed; returns ms until the next
//  pending restart (or `limit` when none is sooner).
static int
s_restart_due(super_t *self, int limit)
{
    uint64_t now = clock_mono_ms();
    for (size_t i = 0; i < self->count; i++) {
        s_child_t *c = &self->children[i];
        if (!c->restart_at_ms || self->stopping || self->fatal)
            continue;
        if (c->restart_at_ms <= now) {
            if (s_spawn(self, c) != 0)
                c->restart_at_ms = now + super_restart_delay(&c->backoff, 0);
            continue;
        }
        if (c->restart_at_ms - now < (uint64_t) limit)
            limit = (int) (c->restart_at_ms - now);
    }
    return limit;
}

//  Waits up to ms for one of our signals; returns it, or 0 on timeout.
static int
s_wait_signal(super_t *self, int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
    int sig = sigtimedwait(&self->mask, NULL, &ts);
    return sig > 0 ? sig : 0;
}

super_state_t
super_poll(super_t *self, int timeout_ms)
{
    int wait_ms = s_restart_due(self, timeout_ms);
    int sig = s_wait_signal(self, wait_ms);
    if (sig == SIGCHLD)
        s_reap(self);
    else if (sig) {
        log_i("up", "stopping signal=%s", strsignal(sig));
        self->stopping = true;
    }
    s_restart_due(self, timeout_ms);
    if (self->fatal)
        return SUPER_FATAL;
    return self->stopping ? SUPER_STOPPING : SUPER_RUNNING;
}

static bool
s_stage_alive(const super_t *self, int stage)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->children[i].stage == stage && self->children[i].pid)
            return true;
    return false;
}

static void
s_signal_stage(super_t *self, int stage, int sig)
{
    for (size_t i = 0; i < self->count; i++) {
        s_child_t *c = &self->children[i];
        if (c->stage == stage && c->pid) {
            if (sig == SIGKILL)
                log_w("up", "child did not stop in time name=%s pid=%d: killing", c->name,
                      (int) c->pid);
            kill(c->pid, sig);
        }
    }
}

//  SIGTERM to one stage, wait up to grace_ms, then SIGKILL. Returns false
//  when a further stop signal asked to skip waiting.
static bool
s_stop_stage(super_t *self, int stage, int grace_ms, bool patient)
{
    s_signal_stage(self, stage, SIGTERM);
    uint64_t deadline = clock_mono_ms() + (uint64_t) grace_ms;
    while (patient && s_stage_alive(self, stage)) {
        uint64_t now = clock_mono_ms();
        if (now >= deadline)
            break;
        int sig = s_wait_signal(self, (int) (deadline - now));
        if (sig == SIGCHLD)
            s_reap(self);
        else if (sig) {
            log_w("up", "second stop signal=%s: killing children now", strsignal(sig));
            patient = false;
        }
    }
    s_reap(self);
    if (!s_stage_alive(self, stage))
        return patient;
    s_signal_stage(self, stage, SIGKILL);
    for (size_t i = 0; i < self->count; i++) {
        s_child_t *c = &self->children[i];
        int status;
        if (c->stage == stage && c->pid && waitpid(c->pid, &status, 0) == c->pid)
            s_on_exit(self, c, status);
    }
    return patient;
}

void
super_stop(super_t *self, int grace_ms)
{
    self->stopping = true;
    int top = 0;
    for (size_t i = 0; i < self->count; i++) {
        self->children[i].restart_at_ms = 0;
        if (self->children[i].stage > top)
            top = self->children[i].stage;
    }
    bool patient = true;
    for (int stage = top; stage >= 0; stage--)
        patient = s_stop_stage(self, stage, grace_ms, patient);
}

size_t
super_count(const super_t *self)
{
    return self->count;
}

const char *
super_name(const super_t *self, size_t i)
{
    return self->children[i].name;
}

pid_t
super_pid(const super_t *self, size_t i)
{
    return self->children[i].pid;
}

const char *
super_fatal_child(const super_t *self)
{
    return self->fatal ? self->children[self->fatal - 1].name : NULL;
}
