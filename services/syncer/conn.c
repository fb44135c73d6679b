#include "conn.h"
#include "log.h"
#include "mpk.h"
#include "peers_cfg.h"
#include "prow.h"
#include "sops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  Storage calls of a sync thread: a group commit plus fsync, with slack.
#define CONN_STORAGE_TIMEOUT_MS 30000

//  A ZeroMQ peer and this node must agree on CURVE: a CURVE server admits
//  only known keys, and a plain one cannot talk to a CURVE client.
static const char *
s_credentials_problem(const synctx_t *ctx, const peerspec_t *spec)
{
    if (strncmp(spec->address, "tcp://", 6) != 0)
        return NULL;
    if (ctx->cert && !spec->public_key[0])
        return "has no public key, and this node speaks CURVE only: add key=KEY to its "
               "spec (pulsedb peer add --key)";
    if (!ctx->cert && spec->public_key[0])
        return "has a public key, but this node has no key pair of its own: run "
               "pulsedb keygen";
    return NULL;
}

int
conn_init(conn_t *self, const synctx_t *ctx, peer_t *peer, peer_dir_t dir,
          link_cancel_t *cancel, char why[PDB_ERRMSG_MAX])
{
    memset(self, 0, sizeof *self);
    self->ctx = ctx;
    self->peer = peer;
    self->dir = dir;
    self->cancel = cancel;
    const char *problem = s_credentials_problem(ctx, &peer->spec);
    if (problem) {
        snprintf(why, PDB_ERRMSG_MAX, "peer %.64s %s", peer->spec.name, problem);
        return PDB_EINVAL;
    }
    link_opts_t opts = {
        .cert = ctx->cert, .server_key = peer->spec.public_key,
        .token = ctx->tokens ? tokens_peer(ctx->tokens, peer->spec.name) : NULL,
        .ca_file = ctx->ca_file,
    };
    self->link = link_new(peer->spec.address, &opts);
    self->storage = sclient_new(ctx->storage_endpoint, CONN_STORAGE_TIMEOUT_MS);
    if (!self->link || !self->storage) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot create sockets for %.100s / %.100s", peer->spec.address,
                 ctx->storage_endpoint);
        conn_release(self);
        return PDB_EUNAVAIL;
    }
    return 0;
}

void
conn_release(conn_t *self)
{
    link_destroy(&self->link);
    sclient_destroy(&self->storage);
    vv_release(&self->vector);
}

bool
conn_needs_hello(const conn_t *self)
{
    return !self->ready
        || __atomic_load_n(&self->peer->generation, __ATOMIC_ACQUIRE) != self->generation
        || self->ctx->env->mono_ms(self->ctx->env->ctx) >= self->hello_mono_ms + CONN_REHELLO_MS;
}

void
conn_exchange_ok(conn_t *self)
{
    self->ident_changes = 0;
    peer_note_ok(self->peer, self->dir, self->ctx->env->wall_ms(self->ctx->env->ctx));
}

int
conn_row_u64(conn_t *self, const char *field, uint64_t *out)
{
    *out = 0;
    prow_t row;
    int rc = prow_read(self->ctx->store, NULL, self->peer->spec.name, &row);
    if (rc == PDB_ENOTFOUND)
        return 0;
    if (rc == 0)
        (void) prow_u64(&row, field, out);
    prow_release(&row);
    return rc;
}

//  The instance the peer's row is bound to (bin(16); a UUID string is read
//  too); false when none or unreadable.
static bool
s_row_instance(const prow_t *row, pdb_id_t *out)
{
    const msgpack_object *v = row->map ? mpk_map_get(row->map, "instance_id") : NULL;
    const char *s;
    size_t len;
    if (v && mpk_get_id(v, out) == 0)
        return true;
    return v && mpk_get_str(v, &s, &len) == 0 && pdb_id_parse(s, len, out) == 0;
}

//  Forgets the row's cursors (storage never lowers them in place) and binds
//  it to `instance`, keeping the fields `pulsedb peer add` wrote. The fresh
//  cursors are built under the peer's current filter, which the row records.
static int
s_reset_row(conn_t *self, const prow_t *row, const pdb_id_t *instance, char *why)
{
    static const char *keep[] = { "address", "direction", "collectives", "public_key" };
    uint8_t filter[PEERS_CFG_FILTER_MAX];
    size_t filter_len;
    peers_cfg_filter_key(&self->peer->spec, filter, &filter_len);
    mpk_out_t map;
    mpk_out_init(&map);
    size_t n = 2;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        n += row->map && mpk_map_get(row->map, keep[i]) != NULL;
    mpk_pack_map(&map.pk, n);
    mpk_pack_str(&map.pk, "instance_id");
    mpk_pack_id(&map.pk, instance);
    mpk_pack_str(&map.pk, "cursor_filter");
    mpk_pack_bin(&map.pk, filter, filter_len);
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const msgpack_object *v = row->map ? mpk_map_get(row->map, keep[i]) : NULL;
        if (v) {
            mpk_pack_str(&map.pk, keep[i]);
            mpk_pack_canonical(&map.pk, v);
        }
    }
    int rc = mpk_out_status(&map);
    const char *name = self->peer->spec.name;
    if (!rc)
        rc = sops_peer_del(self->storage, name, why);
    if (!rc)
        rc = sops_peer_set_packed(self->storage, name, map.buf.data, map.buf.size, why);
    mpk_out_release(&map);
    return rc;
}

//  Records the filter the cursors advance under from now on.
static int
s_record_filter(conn_t *self, const uint8_t *filter, size_t len, char *why)
{
    mpk_out_t map;
    mpk_out_init(&map);
    mpk_pack_map(&map.pk, 1);
    mpk_pack_str(&map.pk, "cursor_filter");
    mpk_pack_bin(&map.pk, filter, len);
    int rc = mpk_out_status(&map);
    if (!rc)
        rc = sops_peer_set_packed(self->storage, self->peer->spec.name, map.buf.data,
                                  map.buf.size, why);
    mpk_out_release(&map);
    return rc;
}

//  The cursors cover only what the filter recorded with them let through.
//  A filter that is the same or narrower keeps them (recording the narrower
//  one); a wider one, or none, would never fetch what the old filter read
//  past, so the row starts over from zero, as for a replaced peer. A row
//  with no record (new, or from before the record existed) takes the
//  current filter. *reset tells whether the row was reset.
static int
s_check_filter(conn_t *self, const prow_t *row, const pdb_id_t *bound, bool *reset,
               char *why)
{
    const peerspec_t *spec = &self->peer->spec;
    uint8_t filter[PEERS_CFG_FILTER_MAX];
    size_t len;
    peers_cfg_filter_key(spec, filter, &len);
    *reset = false;
    const msgpack_object *v = row->map ? mpk_map_get(row->map, "cursor_filter") : NULL;
    const void *had;
    size_t had_len;
    if (!v)
        return s_record_filter(self, filter, len, why);
    bool readable = mpk_get_bin(v, &had, &had_len) == 0;
    if (readable && had_len == len && memcmp(had, filter, len) == 0)
        return 0;
    if (readable && peers_cfg_filter_within(spec, had, had_len))
        return s_record_filter(self, filter, len, why);
    char was[32];
    if (!readable || had_len % PDB_ID_LEN)
        snprintf(was, sizeof was, "unreadable");
    else if (had_len == 0)
        snprintf(was, sizeof was, "all");
    else
        snprintf(was, sizeof was, "%zu", had_len / PDB_ID_LEN);
    char now[32];
    if (spec->collectives_n)
        snprintf(now, sizeof now, "%zu", spec->collectives_n);
    else
        snprintf(now, sizeof now, "all");
    log_i("syncer", "peer filter widened peer=%s collectives_was=%s collectives_now=%s: its "
          "cursors start from zero to fetch what the old filter skipped", spec->name, was,
          now);
    *reset = true;
    return s_reset_row(self, row, bound, why);
}

//  The identity rules, under the peer's identity lock so the push and pull
//  threads never both reset the row.
static int
s_bind(conn_t *self, const pdb_id_t *responder, char *why)
{
    peer_t *peer = self->peer;
    char now_id[PDB_ID_STR_LEN + 1], was_id[PDB_ID_STR_LEN + 1];
    pdb_id_format(responder, now_id);
    pthread_mutex_lock(&peer->ident_lock);
    prow_t row;
    int rc = prow_read(self->ctx->store, NULL, peer->spec.name, &row);
    pdb_id_t bound;
    bool has = rc == 0 && s_row_instance(&row, &bound);
    bool reset = false;
    if (rc == PDB_ENOTFOUND)
        rc = 0;
    if (!rc && !has) {
        sops_kv_t kv[] = { SOPS_ID("instance_id", responder) };
        rc = sops_peer_set(self->storage, peer->spec.name, kv, 1, why);
        if (!rc)
            log_i("syncer", "peer bound peer=%s instance=%s", peer->spec.name, now_id);
    }
    else if (!rc && pdb_id_cmp(&bound, responder) != 0) {
        pdb_id_format(&bound, was_id);
        if (++self->ident_changes > 1) {
            snprintf(why, PDB_ERRMSG_MAX, "identity changed twice in one cycle (now %s, row "
                     "bound to %s): refusing to follow", now_id, was_id);
            rc = PDB_ECONFLICT;
        }
        else {
            log_w("syncer", "peer identity changed peer=%s was=%s now=%s: replaced (restored "
                  "backup or wiped folder?); its cursors start from zero", peer->spec.name,
                  was_id, now_id);
            rc = s_reset_row(self, &row, responder, why);
            if (!rc)
                __atomic_add_fetch(&peer->generation, 1, __ATOMIC_ACQ_REL);
            reset = true;
        }
    }
    if (!rc && !reset) {
        rc = s_check_filter(self, &row, responder, &reset, why);
        if (!rc && reset)
            __atomic_add_fetch(&peer->generation, 1, __ATOMIC_ACQ_REL);
    }
    self->generation = __atomic_load_n(&peer->generation, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(&peer->ident_lock);
    prow_release(&row);
    return rc;
}

static int
s_copy_vector(vv_t *out, const vv_entry_t *entries, size_t n)
{
    vv_release(out);
    if (n == 0)
        return 0;
    out->entries = malloc(n * sizeof *entries);
    if (!out->entries)
        return -ENOMEM;
    memcpy(out->entries, entries, n * sizeof *entries);
    out->n = n;
    return 0;
}

static int
s_read_vector(conn_t *self, vv_t *out)
{
    vv_release(out);
    MDB_txn *txn;
    int rc = store_read_begin(self->ctx->store, &txn);
    if (rc)
        return rc;
    rc = vv_read(self->ctx->store, txn, out);
    mdb_txn_abort(txn);
    return rc;
}

//  Reads the bound instance (for "target") and our vector.
static int
s_hello_request(conn_t *self, sync_msg_t *req, vv_t *ours)
{
    memset(req, 0, sizeof *req);
    req->op = SYNC_HELLO;
    req->from = self->ctx->self;
    req->protocol = SYNC_PROTOCOL_VERSION;
    prow_t row;
    int rc = prow_read(self->ctx->store, NULL, self->peer->spec.name, &row);
    if (rc == 0)
        req->has_target = s_row_instance(&row, &req->target);
    prow_release(&row);
    rc = s_read_vector(self, ours);
    req->vector = ours->entries;
    req->vector_n = ours->n;
    req->has_vector = true;
    return rc;
}

//  Checks a hello reply and takes what it says. Returns 0 or a code.
static int
s_hello_reply(conn_t *self, const sync_msg_t *msg, char *why)
{
    char id[PDB_ID_STR_LEN + 1];
    if (msg->op == SYNC_ERROR) {
        snprintf(why, PDB_ERRMSG_MAX, "hello refused: %s: %.*s", sync_msg_err_name(msg->error),
                 (int) msg->detail_len, msg->detail);
        return PDB_EPROTO;
    }
    if (msg->op != SYNC_HELLO_OK) {
        snprintf(why, PDB_ERRMSG_MAX, "hello answered with %s", sync_msg_op_name(msg->op));
        return PDB_EPROTO;
    }
    if (!msg->accepted) {
        snprintf(why, PDB_ERRMSG_MAX, "hello not accepted: %.*s", (int) msg->reason_len,
                 msg->reason ? msg->reason : "");
        return PDB_EPROTO;
    }
    if (pdb_id_cmp(&msg->from, &self->ctx->self) == 0) {
        pdb_id_format(&msg->from, id);
        snprintf(why, PDB_ERRMSG_MAX, "peer is this node itself (instance %s): its address "
                 "points back here", id);
        return PDB_EINVAL;
    }
    if (msg->max_batch_bytes <= CONN_ENVELOPE_BYTES + 1024) {
        snprintf(why, PDB_ERRMSG_MAX, "peer's max_batch_bytes %llu is too small to send "
                 "anything", (unsigned long long) msg->max_batch_bytes);
        return PDB_EPROTO;
    }
    int rc = s_bind(self, &msg->from, why);
    if (rc)
        return rc;
    rc = s_copy_vector(&self->vector, msg->vector, msg->vector_n);
    if (rc)
        return rc;
    self->responder = msg->from;
    self->head = msg->head;
    self->floor = msg->floor;
    self->max_batch_bytes = msg->max_batch_bytes;
    return 0;
}

//  True when the peer holds changes this node lacks. This node's own
//  changes never count: it wrote them, and a peer holding more of them
//  than it does is a rollback (s_check_rollback), never a reason to take
//  its own data back by snapshot.
static bool
s_peer_has_news(const conn_t *self, const vv_t *ours)
{
    for (size_t i = 0; i < self->vector.n; i++) {
        const vv_entry_t *e = &self->vector.entries[i];
        if (pdb_id_cmp(&e->origin, &self->ctx->self) != 0
            && !vv_covers(ours, &e->origin, e->seq))
            return true;
    }
    return false;
}

//  A peer that holds more of this instance's changes than this node does
//  has seen a future this node lost: its folder was rolled back in place (a
//  file-system or VM snapshot keeps the file, so storage could not tell it
//  from a restart; a copied folder takes a new identity by itself). ours
//  is read after the reply: a write made here while the hello travelled
//  may already have reached the peer.
static void
s_check_rollback(conn_t *self, const vv_t *ours)
{
    uint64_t mine = vv_get(ours, &self->ctx->self);
    uint64_t seen = vv_get(&self->vector, &self->ctx->self);
    if (seen > mine && !self->rollback_warned)
        log_w("syncer", "peer=%s holds this instance's changes through %llu but this node only "
              "through %llu: the data folder was rolled back in place; new writes can be taken "
              "for old ones. Restore from a copy of the folder instead (a copy takes a new "
              "instance id)", self->peer->spec.name, (unsigned long long) seen,
              (unsigned long long) mine);
    self->rollback_warned = seen > mine;
}

int
conn_hello(conn_t *self, char why[PDB_ERRMSG_MAX])
{
    why[0] = '\0';
    self->ready = false;
    sync_msg_t req;
    vv_t ours = { 0 };
    int rc = s_hello_request(self, &req, &ours);
    if (rc) {
        vv_release(&ours);
        snprintf(why, PDB_ERRMSG_MAX, "cannot read this node's vector: %s", pdb_strerror(rc));
        return rc;
    }
    link_reply_t reply;
    rc = link_request(self->link, &req, CONN_HELLO_TIMEOUT_MS, self->cancel, &reply, why);
    if (rc) {
        vv_release(&ours);
        return rc;
    }
    rc = s_hello_reply(self, &reply.msg, why);
    link_reply_release(&reply);
    //  Our vector as of now: it only grows, so whatever of ours the peer
    //  holds that we wrote is here by the time its reply is.
    int vrc = s_read_vector(self, &ours);
    if (!rc && vrc) {
        snprintf(why, PDB_ERRMSG_MAX, "cannot read this node's vector: %s", pdb_strerror(vrc));
        rc = vrc;
    }
    self->peer_has_news = s_peer_has_news(self, &ours);
    self->self_empty = ours.n == 0;
    if (!rc)
        s_check_rollback(self, &ours);
    vv_release(&ours);
    if (rc)
        return rc;
    self->ready = true;
    self->hello_mono_ms = self->ctx->env->mono_ms(self->ctx->env->ctx);
    peer_note_ok(self->peer, self->dir, self->ctx->env->wall_ms(self->ctx->env->ctx));
    peer_note_head(self->peer, self->head);
    return 0;
}

//  Checks a reply to a request of operation op (see conn_request).
static int
s_check_reply(conn_t *self, sync_op_t op, sync_op_t expect, link_reply_t *reply,
              sync_err_t *remote, char *why)
{
    int rc = 0;
    peer_note_seen(self->peer, self->ctx->env->wall_ms(self->ctx->env->ctx));
    const sync_msg_t *msg = &reply->msg;
    char got[PDB_ID_STR_LEN + 1], want[PDB_ID_STR_LEN + 1];
    pdb_id_format(&msg->from, got);
    pdb_id_format(&self->responder, want);
    bool other = pdb_id_cmp(&msg->from, &self->responder) != 0;
    if (msg->op == SYNC_ERROR) {
        *remote = msg->error;
        snprintf(why, PDB_ERRMSG_MAX, "peer answered %s: %s: %.*s", sync_msg_op_name(op),
                 sync_msg_err_name(msg->error), (int) msg->detail_len, msg->detail);
        //  An error naming another responder is a replaced peer too.
        if (other && !pdb_id_is_nil(&msg->from))
            self->ready = false;
        rc = PDB_EPROTO;
    }
    else if (msg->op != expect) {
        snprintf(why, PDB_ERRMSG_MAX, "peer answered %s with %s", sync_msg_op_name(op),
                 sync_msg_op_name(msg->op));
        rc = PDB_EPROTO;
    }
    else if (other) {
        snprintf(why, PDB_ERRMSG_MAX, "reply came from %s, not the bound %s: peer replaced; "
                 "nothing applied, saying hello again", got, want);
        self->ready = false;
        rc = PDB_ECONFLICT;
    }
    if (rc)
        link_reply_release(reply);
    return rc;
}

int
conn_request(conn_t *self, const sync_msg_t *req, int timeout_ms, sync_op_t expect,
             link_reply_t *reply, sync_err_t *remote, char why[PDB_ERRMSG_MAX])
{
    *remote = 0;
    int rc = link_request(self->link, req, timeout_ms, self->cancel, reply, why);
    return rc ? rc : s_check_reply(self, req->op, expect, reply, remote, why);
}

int
conn_send(conn_t *self, const sync_msg_t *req, char why[PDB_ERRMSG_MAX])
{
    return link_send(self->link, req, self->cancel, why);
}

int
conn_receive(conn_t *self, sync_op_t op, int timeout_ms, sync_op_t expect, link_reply_t *reply,
             sync_err_t *remote, char why[PDB_ERRMSG_MAX])
{
    *remote = 0;
    int rc = link_receive(self->link, op, timeout_ms, self->cancel, reply, why);
    return rc ? rc : s_check_reply(self, op, expect, reply, remote, why);
}

void
conn_abandon(conn_t *self)
{
    link_abandon(self->link);
}
