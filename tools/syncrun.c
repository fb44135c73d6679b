#include "syncrun.h"
#include "cli.h"
#include "clock.h"
#include "progress.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_STR(x) #x
#define S_XSTR(x) S_STR(x)

bool
syncrun_parse(const char *line, syncrun_event_t *out)
{
    size_t prefix = strlen(SYNCRUN_PREFIX);
    if (strncmp(line, SYNCRUN_PREFIX, prefix) != 0)
        return false;
    syncrun_event_t ev;
    memset(&ev, 0, sizeof ev);
    int used = -1;
    //  The widths are the buffers' sizes minus one.
    int n = sscanf(line + prefix, "peer=%" S_XSTR(SYNCRUN_NAME_MAX) "s direction=%7s "
                   "stage=%15s done=%" SCNu64
                   " total=%" SCNu64 "%n", ev.peer, ev.direction, ev.stage, &ev.done,
                   &ev.total, &used);
    if (n != 5 || used < 0 || line[prefix + (size_t) used] != '\0')
        return false;
    *out = ev;
    return true;
}

//  --------------------------------------------------------------------------
//  Drawing

typedef struct {
    progress_t bar;
    bool tty;                    // stderr is a terminal: bars, else plain lines
    bool active;                 // bar holds a stage
    char key[PROGRESS_LABEL_MAX];
    uint64_t last_ms;            // when the previous stage ended (or the child started)
} s_view_t;

static void
s_event(s_view_t *self, const syncrun_event_t *ev)
{
    char key[PROGRESS_LABEL_MAX];
    const char *what = strcmp(ev->stage, "snapshot") == 0 ? "snapshot" : ev->direction;
    snprintf(key, sizeof key, "sync %s %s", ev->peer, what);
    uint64_t now = clock_mono_ms();
    if (!self->active || strcmp(key, self->key) != 0) {
        if (self->active)
            progress_end(&self->bar, now);
        progress_begin(&self->bar, stderr, self->tty, key, self->last_ms);
        snprintf(self->key, sizeof self->key, "%s", key);
        self->active = true;
    }
    progress_update(&self->bar, ev->done, ev->total, 0, now);
    self->last_ms = now;
}

static void
s_line(s_view_t *self, char *line, FILE *to)
{
    syncrun_event_t ev;
    if (to == stdout && syncrun_parse(line, &ev)) {
        s_event(self, &ev);
        return;
    }
    if (self->active)
        progress_print(&self->bar, to, line);
    else {
        fprintf(to, "%s\n", line);
        fflush(to);
    }
}

//  --------------------------------------------------------------------------
//  The child

typedef struct {
    int fd;
    FILE *to;                    // where its lines go
    char buf[SYNCRUN_LINE_MAX + 1];
    size_t len;
} s_pipe_t;

//  Reads what is there; passes on each whole line (and a full buffer).
//  Returns false at end of file.
static bool
s_read(s_view_t *view, s_pipe_t *p)
{
    ssize_t n = read(p->fd, p->buf + p->len, SYNCRUN_LINE_MAX - p->len);
    if (n < 0 && errno == EINTR)
        return true;
    if (n > 0)
        p->len += (size_t) n;
    char *nl;
    while ((nl = memchr(p->buf, '\n', p->len)) != NULL || p->len == SYNCRUN_LINE_MAX
           || (n <= 0 && p->len > 0)) {
        size_t line = nl ? (size_t) (nl - p->buf) : p->len;
        p->buf[line] = '\0';
        s_line(view, p->buf, p->to);
        size_t used = nl ? line + 1 : line;
        memmove(p->buf, p->buf + used, p->len - used);
        p->len -= used;
    }
    return n > 0;
}

static volatile sig_atomic_t s_child_pid = 0;

//  Passes a stop request on: the syncer finishes its step and exits.
static void
s_forward(int sig)
{
    if (s_child_pid > 0)
        kill((pid_t) s_child_pid, sig);
}

//  In the child, between fork and exec: only async-signal-safe calls.
static void
s_child(char *const argv[], const int out[2], const int err[2])
{
    //  Cannot fail for these signals; the syncer installs its own handlers.
    (void) signal(SIGINT, SIG_DFL);
    (void) signal(SIGTERM, SIG_DFL);
    if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
        _exit(CLI_EXIT_FAIL);
    //  Stops with us: nobody would read its output.
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM);    // best effort: only a cleanup
    execv(argv[0], argv);
    static const char msg[] = "error: cannot run the syncer\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void) w;
    _exit(CLI_EXIT_FAIL);
}

static int
s_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return CLI_EXIT_FAIL;
    return WIFEXITED(status) ? WEXITSTATUS(status) : CLI_EXIT_FAIL;
}

static void
s_pump(s_view_t *view, s_pipe_t pipes[2])
{
    bool open[2] = { true, true };
    while (open[0] || open[1]) {
        struct pollfd fds[2] = { { .fd = open[0] ? pipes[0].fd : -1, .events = POLLIN },
                                 { .fd = open[1] ? pipes[1].fd : -1, .events = POLLIN } };
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++)
            if (open[i] && fds[i].revents)
                open[i] = s_read(view, &pipes[i]);
    }
    if (view->active)
        progress_end(&view->bar, clock_mono_ms());
}

int
syncrun_exec(char *const argv[])
{
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        fprintf(stderr, "error: pipe: %s\n", strerror(errno));
        return CLI_EXIT_FAIL;
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
        fprintf(stderr, "error: pipe: %s\n", strerror(errno));
        close(out[0]);
        close(out[1]);
        return CLI_EXIT_FAIL;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        s_child(argv, out, err);
    close(out[1]);
    close(err[1]);
    int rc = CLI_EXIT_FAIL;
    if (pid < 0)
        fprintf(stderr, "error: cannot start %s: %s\n", argv[0], strerror(errno));
    else {
        s_child_pid = pid;
        struct sigaction sa, old_int, old_term;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = s_forward;
        sigemptyset(&sa.sa_mask);
        //  Cannot fail for these signals with a valid handler.
        (void) sigaction(SIGINT, &sa, &old_int);
        (void) sigaction(SIGTERM, &sa, &old_term);
        s_view_t view = { .tty = isatty(STDERR_FILENO), .last_ms = clock_mono_ms() };
        s_pipe_t pipes[2] = { { .fd = out[0], .to = stdout }, { .fd = err[0], .to = stderr } };
        s_pump(&view, pipes);
        rc = s_wait(pid);
        s_child_pid = 0;
        (void) sigaction(SIGINT, &old_int, NULL);
        (void) sigaction(SIGTERM, &old_term, NULL);
    }
    close(out[0]);
    close(err[0]);
    return rc;
}
