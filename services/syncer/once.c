#include "once.h"
#include "syncer.h"
#include "link.h"
#include "log.h"
#include "peer.h"
#include "peers_cfg.h"
#include "puller.h"
#include "pusher.h"
#include "backoff.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (s_step_fn)(void *worker, uint64_t *wait_ms, char *why);

//  The counts of the last progress lines printed, per stage.
typedef struct {
    uint64_t done, total;
} s_shown_t;

static void
s_print_progress(const peer_t *peer, peer_dir_t dir, const char *stage, s_shown_t *shown,
                 uint64_t done, uint64_t total)
{
    if (done == shown->done && total == shown->total)
        return;
    shown->done = done;
    shown->total = total;
    printf("sync once progress peer=%s direction=%s stage=%s done=%" PRIu64 " total=%" PRIu64
           "\n", peer->spec.name, dir == PEER_PUSH ? "push" : "pull", stage, done, total);
    fflush(stdout);
}

//  After a good step: the snapshot's progress while one runs (and its last
//  page), then the changes moved and still lacking.
static void
s_progress(peer_t *peer, peer_dir_t dir, s_shown_t shown[2])
{
    peer_progress_t p;
    peer_progress(peer, dir, &p);
    if (p.snap_total > 0 || p.snap_done > 0)
        s_print_progress(peer, dir, "snapshot", &shown[1], p.snap_done, p.snap_total);
    if (p.moved > 0 || p.lag > 0)
        s_print_progress(peer, dir, "changes", &shown[0], p.moved, p.moved + p.lag);
}

static int
s_push_step(void *w, uint64_t *wait_ms, char *why)
{
    return pusher_step(w, wait_ms, why);
}

static int
s_pull_step(void *w, uint64_t *wait_ms, char *why)
{
    return puller_step(w, wait_ms, why);
}

//  Steps until a step says "idle" (nothing more moves). Returns 0 or the
//  last failure.
static int
s_drive(const synctx_t *ctx, peer_t *peer, peer_dir_t dir, void *worker, s_step_fn *step,
        link_cancel_t *cancel)
{
    backoff_t retry;
    backoff_init(&retry, ctx->retry_initial_ms, ctx->retry_max_ms, ctx->retry_multiplier_pct);
    s_shown_t shown[2] = { { 0, 0 }, { 0, 0 } };
    while (!link_cancelled(cancel)) {
        char why[PDB_ERRMSG_MAX] = "";
        uint64_t wait_ms = 0;
        int rc = step(worker, &wait_ms, why);
        if (rc == 0) {
            backoff_reset(&retry);
            s_progress(peer, dir, shown);
            if (wait_ms)
                return 0;
            continue;
        }
        if (rc == -ECANCELED)
            return rc;
        char error[PDB_ERRMSG_MAX];
        snprintf(error, sizeof error, "%s: %.240s", dir == PEER_PUSH ? "push" : "pull",
                 why[0] ? why : pdb_strerror(rc));
        unsigned failures = peer_note_failure(peer, dir, error, ctx->env->wall_ms(ctx->env->ctx));
        log_w("syncer", "%s failed peer=%s rc=%d (%s) attempt=%u/%d",
              dir == PEER_PUSH ? "push" : "pull", peer->spec.name, rc,
              why[0] ? why : pdb_strerror(rc), failures, ONCE_ATTEMPTS);
        if (failures >= ONCE_ATTEMPTS)
            return rc;
        uint64_t delay = backoff_failed_jitter(&retry, ctx->env->random_u64(ctx->env->ctx));
        if (link_cancel_wait(cancel, (int64_t) delay))
            return -ECANCELED;
    }
    return -ECANCELED;
}

static int
s_direction(const synctx_t *ctx, peer_t *peer, peer_dir_t dir, link_cancel_t *cancel)
{
    char why[PDB_ERRMSG_MAX];
    int rc;
    if (dir == PEER_PUSH) {
        pusher_t pusher;
        rc = pusher_init(&pusher, ctx, peer, cancel, why);
        if (!rc) {
            rc = s_drive(ctx, peer, dir, &pusher, s_push_step, cancel);
            //  push_acked is written lazily: record what was acknowledged.
            int frc = pusher_flush(&pusher, why);
            if (frc)
                log_w("syncer", "push_acked not written peer=%s rc=%d (%s)", peer->spec.name,
                      frc, why[0] ? why : pdb_strerror(frc));
            rc = rc ? rc : frc;
        }
        pusher_release(&pusher);
    }
    else {
        puller_t puller;
        rc = puller_init(&puller, ctx, peer, cancel, why);
        if (!rc)
            rc = s_drive(ctx, peer, dir, &puller, s_pull_step, cancel);
        puller_release(&puller);
    }
    return rc;
}

//  One peer, both directions. Returns true when it succeeded.
static bool
s_peer(const synctx_t *ctx, const peers_cfg_entry_t *entry, link_cancel_t *cancel)
{
    peer_t *peer = peer_new(&entry->spec, entry->from_db);
    if (!peer)
        return false;
    bool ok = true;
    for (int d = 0; d < 2; d++) {
        if (peer_runs(peer, (peer_dir_t) d) && !link_cancelled(cancel))
            ok = s_direction(ctx, peer, (peer_dir_t) d, cancel) == 0 && ok;
    }
    ok = ok && !link_cancelled(cancel);
    //  No status file: it is the daemon's, which may be running next to us;
    //  the summary below is this run's status.
    peer_counts_t c;
    peer_counts(peer, &c);
    printf("sync once peer=%s pushed=%" PRIu64 " push_accepted=%" PRIu64 " pulled=%" PRIu64
           " applied=%" PRIu64 " stale=%" PRIu64 " installed=%" PRIu64 " errors=%" PRIu64
           " result=%s\n", peer->spec.name, c.pushed, c.push_accepted, c.pulled, c.pull_applied,
           c.push_stale + c.pull_stale, c.installed, c.errors, ok ? "ok" : "failed");
    fflush(stdout);
    peer_destroy(&peer);
    return ok;
}

int
once_run(const cfg_t *cfg, volatile sig_atomic_t *stop)
{
    syncer_base_t base;
    int rc = syncer_base_open(cfg, stop, &base);
    if (rc)
        return rc;
    //  No long polls: "once" ends when a pull comes back with nothing.
    synctx_t ctx = base.ctx;
    ctx.pull_wait_ms = 0;
    peers_cfg_t peers;
    rc = peers_cfg_collect(base.store, base.peers, base.peers_n, &peers);
    link_cancel_t cancel = { .stop = stop };
    bool ok = rc == 0;
    if (rc)
        log_e("syncer", "cannot read the peers database rc=%d (%s)", rc, pdb_strerror(rc));
    for (size_t i = 0; i < peers.problems_n; i++)
        log_w("syncer", "peer row ignored peer=%s: %s", peers.problems[i].name,
              peers.problems[i].why);
    if (ok && peers.n == 0)
        printf("sync once: no peers (configure sync/peers or add one with pulsedb peer add)\n");
    //  Every peer runs, whatever happened to the previous ones.
    bool all = ok;
    for (size_t i = 0; ok && i < peers.n && !*stop; i++)
        all = s_peer(&ctx, &peers.items[i], &cancel) && all;
    ok = all;
    peers_cfg_release(&peers);
    syncer_base_close(&base);
    return ok && !*stop ? SYNCER_EXIT_OK : SYNCER_EXIT_FAIL;
}
