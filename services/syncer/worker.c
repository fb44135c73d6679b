#include "worker.h"
#include "clock.h"
#include "link.h"
#include "log.h"
#include "puller.h"
#include "pusher.h"
#include "backoff.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const synctx_t *ctx;
    peer_t *peer;
    peer_dir_t dir;
} s_args_t;

typedef struct {
    const synctx_t *ctx;
    peer_t *peer;
    peer_dir_t dir;
    link_cancel_t cancel;
    zsock_t *events;          // push only: storage's "wal <seq>" events
    pusher_t pusher;
    puller_t puller;
    backoff_t retry;
} s_worker_t;

static const char *
s_dir_name(peer_dir_t dir)
{
    return dir == PEER_PUSH ? "push" : "pull";
}

//  Drains pending events; true when at least one arrived.
static bool
s_drain_events(s_worker_t *self)
{
    bool any = false;
    while (self->events && (zsock_events(self->events) & ZMQ_POLLIN)) {
        char *event = zstr_recv(self->events);
        any = any || event != NULL;
        zstr_free(&event);
        if (!event)
            break;
    }
    return any;
}

//  Idles up to ms, or until a "wal" event when wake_on_wal. Events are
//  drained before each step (s_loop), not here: one that arrived while the
//  step ran announces a commit the step may not have seen, and must end
//  the idle at once (dropping it left that change waiting for the next
//  commit, or up to PUSH_IDLE_MS). Returns false when the actor is told to
//  stop.
static bool
s_idle(s_worker_t *self, uint64_t ms, bool wake_on_wal)
{
    uint64_t deadline = clock_mono_ms() + ms;
    while (!link_cancelled(&self->cancel)) {
        uint64_t now = clock_mono_ms();
        if (now >= deadline)
            return true;
        zmq_pollitem_t items[2] = {
            { zsock_resolve(self->cancel.pipe), 0, ZMQ_POLLIN, 0 },
            { self->events ? zsock_resolve(self->events) : NULL, 0, ZMQ_POLLIN, 0 },
        };
        int n = self->events && wake_on_wal ? 2 : 1;
        int rc = zmq_poll(items, n, (long) (deadline - now));
        if (rc > 0 && n == 2 && (items[1].revents & ZMQ_POLLIN))
            return !link_cancelled(&self->cancel);
        if (rc < 0 && zmq_errno() != EINTR)
            return !link_cancelled(&self->cancel);
    }
    return false;
}

static int
s_step(s_worker_t *self, uint64_t *wait_ms, char *why)
{
    if (self->dir == PEER_PUSH)
        return pusher_step(&self->pusher, wait_ms, why);
    return puller_step(&self->puller, wait_ms, why);
}

static void
s_loop(s_worker_t *self)
{
    const char *name = self->peer->spec.name;
    while (!link_cancelled(&self->cancel)) {
        char why[PDB_ERRMSG_MAX] = "";
        uint64_t wait_ms = 0;
        s_drain_events(self);              // what the step reads, it need not be woken for
        int rc = s_step(self, &wait_ms, why);
        if (rc == -ECANCELED)
            break;
        if (rc == 0) {
            backoff_reset(&self->retry);
            if (wait_ms && !s_idle(self, wait_ms, self->dir == PEER_PUSH))
                break;
            continue;
        }
        const senv_t *env = self->ctx->env;
        uint64_t delay = backoff_failed_jitter(&self->retry, env->random_u64(env->ctx));
        char error[PDB_ERRMSG_MAX];
        snprintf(error, sizeof error, "%s: %.240s", s_dir_name(self->dir),
                 why[0] ? why : pdb_strerror(rc));
        unsigned failures = peer_note_failure(self->peer, self->dir, error,
                                              env->wall_ms(env->ctx));
        log_w("syncer", "%s failed peer=%s rc=%d (%s) failures=%u retry_in_ms=%" PRIu64 "%s",
              s_dir_name(self->dir), name, rc, why[0] ? why : pdb_strerror(rc), failures, delay,
              failures == PEER_DEGRADED_AFTER ? " state=degraded" : "");
        if (!s_idle(self, delay, false))
            break;
    }
}

static void
s_actor(zsock_t *pipe, void *arg)
{
    s_args_t args = *(s_args_t *) arg;
    free(arg);
    s_worker_t self = {
        .ctx = args.ctx, .peer = args.peer, .dir = args.dir,
        .cancel = { .pipe = pipe },
    };
    const synctx_t *ctx = args.ctx;
    backoff_init(&self.retry, ctx->retry_initial_ms, ctx->retry_max_ms,
                 ctx->retry_multiplier_pct);
    char why[PDB_ERRMSG_MAX] = "";
    int rc = 0;
    if (args.dir == PEER_PUSH) {
        self.events = zsock_new_sub(ctx->events_endpoint, "wal ");
        rc = pusher_init(&self.pusher, ctx, args.peer, &self.cancel, why);
    }
    else
        rc = puller_init(&self.puller, ctx, args.peer, &self.cancel, why);
    zsock_signal(pipe, 0);
    if (rc == 0) {
        log_d("syncer", "%s started peer=%s address=%s", s_dir_name(args.dir),
              args.peer->spec.name, args.peer->spec.address);
        s_loop(&self);
        if (args.dir == PEER_PUSH) {
            //  push_acked is written lazily: what the peer acknowledged
            //  last is recorded before the thread goes.
            int frc = pusher_flush(&self.pusher, why);
            if (frc)
                log_w("syncer", "push_acked not written at stop peer=%s rc=%d (%s): the peer "
                      "is sent those changes again and drops them", args.peer->spec.name, frc,
                      why[0] ? why : pdb_strerror(frc));
            pusher_release(&self.pusher);
        }
        else
            puller_release(&self.puller);
    }
    else {
        log_e("syncer", "%s cannot start peer=%s: %s", s_dir_name(args.dir),
              args.peer->spec.name, why);
        peer_note_failure(args.peer, args.dir, why, ctx->env->wall_ms(ctx->env->ctx));
        //  Sockets could not be made: wait to be stopped (the peer set
        //  restarts the peer when its spec changes).
        while (!link_cancel_wait(&self.cancel, 1000))
            ;
    }
    zsock_destroy(&self.events);
}

zactor_t *
worker_start(const synctx_t *ctx, peer_t *peer, peer_dir_t dir)
{
    s_args_t *args = malloc(sizeof *args);
    if (!args)
        return NULL;
    *args = (s_args_t) { ctx, peer, dir };
    //  The actor frees args once it has copied them.
    return zactor_new(s_actor, args);
}
