#include "peer_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  In: a POST body

bool
peer_json_name_valid(const char *name, size_t len)
{
    return peerspec_name_valid(name, len, PEER_JSON_NAME_MAX);
}

static int
s_known_members(const json_t *body, char why[PDB_ERRMSG_MAX])
{
    static const char *const known[] = { "name", "address", "direction", "collectives",
                                         "public_key" };
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *) body, key, value) {
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            found = found || strcmp(key, known[i]) == 0;
        if (!found)
            return WHY(PDB_EINVAL, "unknown field '%.64s' (a peer has name, address, "
                       "direction, collectives, public_key)", key);
    }
    return 0;
}

//  A string member; absent or null leaves *text NULL when optional.
static int
s_string(const json_t *body, const char *member, bool required, const char **text,
         size_t *len, char why[PDB_ERRMSG_MAX])
{
    const json_t *value = json_object_get(body, member);
    *text = NULL;
    *len = 0;
    if (!value || json_is_null(value)) {
        if (required)
            return WHY(PDB_EINVAL, "field '%s' is required", member);
        return 0;
    }
    if (!json_is_string(value))
        return WHY(PDB_EINVAL, "field '%s' must be a string", member);
    *text = json_string_value(value);
    *len = json_string_length(value);
    if (memchr(*text, '\0', *len))
        return WHY(PDB_EINVAL, "field '%s' must not contain NUL characters", member);
    return 0;
}

static int
s_direction(const char *text, size_t len, char why[PDB_ERRMSG_MAX])
{
    static const char *const dirs[] = { "both", "push", "pull" };
    for (size_t i = 0; text && i < sizeof dirs / sizeof dirs[0]; i++)
        if (strlen(dirs[i]) == len && memcmp(dirs[i], text, len) == 0)
            return 0;
    return WHY(PDB_EINVAL, "field 'direction' must be push, pull or both");
}

//  "collectives": an array of distinct UUID strings, within both limits.
static int
s_collectives(const json_t *body, peerspec_t *out, char why[PDB_ERRMSG_MAX])
{
    const json_t *list = json_object_get(body, "collectives");
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return WHY(PDB_EINVAL, "field 'collectives' must be an array of collective ids");
    size_t n = json_array_size(list);
    if (n > PEER_JSON_COLLECTIVES_MAX)
        return WHY(PDB_ETOOBIG, "field 'collectives' has %zu ids, at most %u are allowed", n,
                   PEER_JSON_COLLECTIVES_MAX);
    if (n > PEER_JSON_COLLECTIVES_STORED_MAX)
        return WHY(PDB_ETOOBIG, "field 'collectives' has %zu ids, at most %zu fit in a "
                   "peer's row", n, (size_t) PEER_JSON_COLLECTIVES_STORED_MAX);
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(list, i);
        pdb_id_t id;
        if (!json_is_string(item)
            || pdb_id_parse(json_string_value(item), json_string_length(item), &id) != 0)
            return WHY(PDB_EINVAL, "field 'collectives' item %zu is not a collective id "
                       "(a UUID)", i);
        for (size_t j = 0; j < out->collectives_n; j++)
            if (pdb_id_cmp(&out->collectives[j], &id) == 0)
                return WHY(PDB_EINVAL, "field 'collectives' item %zu repeats an id", i);
        out->collectives[out->collectives_n++] = id;
    }
    return 0;
}

int
peer_json_parse(const json_t *body, peerspec_t *out, char why[PDB_ERRMSG_MAX])
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(body))
        return WHY(PDB_EINVAL, "the body must be a JSON object");
    const char *name, *address, *dir;
    size_t name_len, address_len, dir_len;
    int rc = s_known_members(body, why);
    if (!rc)
        rc = s_string(body, "name", true, &name, &name_len, why);
    if (!rc && !peer_json_name_valid(name, name_len))
        rc = WHY(PDB_EINVAL, "field 'name' must be 1..%u characters of A-Z a-z 0-9 . _ -",
                 PEER_JSON_NAME_MAX);
    if (!rc)
        rc = s_string(body, "address", true, &address, &address_len, why);
    if (!rc)
        rc = s_string(body, "direction", false, &dir, &dir_len, why);
    if (!rc && dir)
        rc = s_direction(dir, dir_len, why);
    char detail[PDB_ERRMSG_MAX];
    //  The syncer reads rows with peerspec_from_fields: the same check here
    //  means an accepted peer is always one the syncer can dial.
    if (!rc && peerspec_from_fields(out, name, name_len, address, address_len, dir, dir_len,
                                    NULL, 0, detail) != 0)
        rc = WHY(PDB_EINVAL, "field 'address' must be tcp://HOST:PORT or http(s)://HOST:PORT: "
                 "%.180s", detail);
    if (!rc)
        rc = s_collectives(body, out, why);
    const char *key;
    size_t key_len;
    if (!rc)
        rc = s_string(body, "public_key", false, &key, &key_len, why);
    if (!rc && key && peerspec_set_key(out, key, key_len, detail) != 0)
        rc = WHY(PDB_EINVAL, "field 'public_key' must be a CURVE public key (40 characters "
                 "of Z85, from the peer's pulsedb keygen)");
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

int
peer_json_pack_set(const peerspec_t *peer, mpk_out_t *out)
{
    char list[PEER_JSON_COLLECTIVES_MAX * (PDB_ID_STR_LEN + 1) + 1];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < peer->collectives_n; i++) {
        if (i)
            list[used++] = ';';
        pdb_id_format(&peer->collectives[i], list + used);
        used += PDB_ID_STR_LEN;
    }
    mpk_pack_array(&out->pk, 2);
    mpk_pack_str(&out->pk, peer->name);
    mpk_pack_map(&out->pk, 4);
    mpk_pack_str(&out->pk, "address");
    mpk_pack_str(&out->pk, peer->address);
    mpk_pack_str(&out->pk, "direction");
    mpk_pack_str(&out->pk, peerspec_dir_name(peer->direction));
    mpk_pack_str(&out->pk, "collectives");
    mpk_pack_strn(&out->pk, list, used);
    mpk_pack_str(&out->pk, "public_key");
    mpk_pack_str(&out->pk, peer->public_key);
    return mpk_out_status(out);
}

//  --------------------------------------------------------------------------
//  Out: rows as JSON

uint64_t
peer_json_held_back(uint64_t head, uint64_t floor, uint64_t pos)
{
    uint64_t keep_from = pos + 1 > floor ? pos + 1 : floor;
    return keep_from > head ? 0 : head - keep_from + 1;
}

bool
peer_json_u64(const msgpack_object *row, const char *key, uint64_t *out)
{
    const msgpack_object *value = mpk_map_get(row, key);
    return value && mpk_get_u64(value, out) == 0;
}

bool
peer_json_instance(const msgpack_object *row, pdb_id_t *out)
{
    const msgpack_object *value = mpk_map_get(row, "instance_id");
    return value && mpk_get_id(value, out) == 0;
}

static bool
s_row_str(const msgpack_object *row, const char *key, const char **text, size_t *len)
{
    const msgpack_object *value = mpk_map_get(row, key);
    return value && mpk_get_str(value, text, len) == 0;
}

static json_t *
s_int(uint64_t value)
{
    return json_integer((json_int_t) (value > INT64_MAX ? INT64_MAX : value));
}

static json_t *
s_opt_int(bool present, uint64_t value)
{
    return present ? s_int(value) : json_null();
}

static json_t *
s_row_int(const msgpack_object *row, const char *key)
{
    uint64_t value = 0;
    bool present = peer_json_u64(row, key, &value);
    return s_opt_int(present, value);
}

//  A string field as JSON; null when missing or not valid UTF-8.
static json_t *
s_row_string(const msgpack_object *row, const char *key)
{
    const char *text;
    size_t len;
    json_t *value = s_row_str(row, key, &text, &len) ? json_stringn(text, len) : NULL;
    return value ? value : json_null();
}

static json_t *
s_id_json(const pdb_id_t *id)
{
    char text[PDB_ID_STR_LEN + 1];
    pdb_id_format(id, text);
    return json_string(text);
}

static json_t *
s_row_instance(const msgpack_object *row)
{
    pdb_id_t id;
    return peer_json_instance(row, &id) ? s_id_json(&id) : json_null();
}

//  Adds key: value, noting a failure (out of memory) in *ok.
static void
s_put(json_t *object, const char *key, json_t *value, bool *ok)
{
    if (!value || json_object_set_new(object, key, value) != 0)
        *ok = false;
}

//  "UUID;UUID" from a row, as an array of its pieces.
static json_t *
s_split_collectives(const char *text, size_t len)
{
    json_t *list = json_array();
    const char *p = text, *end = text + len;
    while (list && p < end) {
        const char *semi = memchr(p, ';', (size_t) (end - p));
        size_t n = semi ? (size_t) (semi - p) : (size_t) (end - p);
        json_t *item = n ? json_stringn(p, n) : NULL;
        if (item && json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
        p += n + 1;
    }
    return list;
}

static json_t *
s_config_collectives(const peerspec_t *config)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < config->collectives_n; i++)
        if (json_array_append_new(list, s_id_json(&config->collectives[i])) != 0) {
            json_decref(list);
            return NULL;
        }
    return list;
}

//  name, defined_by, address, direction, collectives.
static void
s_put_config(json_t *object, const char *name, size_t name_len, const peerspec_t *config,
             const msgpack_object *row, bool *ok)
{
    const char *text;
    size_t len;
    bool api = row && s_row_str(row, "address", &text, &len);
    s_put(object, "name", config ? json_string(config->name) : json_stringn(name, name_len), ok);
    s_put(object, "defined_by", config ? json_string("config")
                                : api ? json_string("api") : json_null(), ok);
    if (!config && !api) {
        //  Status written for a peer this gateway's configuration does not
        //  name (the syncer may run with another one).
        s_put(object, "address", json_null(), ok);
        s_put(object, "direction", s_row_string(row, "direction"), ok);
        s_put(object, "collectives", json_null(), ok);
        s_put(object, "public_key", json_null(), ok);
        return;
    }
    if (config) {
        s_put(object, "address", json_string(config->address), ok);
        s_put(object, "direction", json_string(peerspec_dir_name(config->direction)), ok);
        s_put(object, "collectives", s_config_collectives(config), ok);
        s_put(object, "public_key", config->public_key[0] ? json_string(config->public_key)
                                                          : json_null(), ok);
        return;
    }
    s_put(object, "address", s_row_string(row, "address"), ok);
    bool has_dir = s_row_str(row, "direction", &text, &len);
    s_put(object, "direction", has_dir ? s_row_string(row, "direction") : json_string("both"),
          ok);
    bool has_coll = s_row_str(row, "collectives", &text, &len);
    s_put(object, "collectives", s_split_collectives(has_coll ? text : "", has_coll ? len : 0),
          ok);
    bool has_key = s_row_str(row, "public_key", &text, &len) && len > 0;
    s_put(object, "public_key", has_key ? json_stringn(text, len) : json_null(), ok);
}

//  Which ways the peer syncs, from its direction (or, when unknown, from
//  the cursors its row holds and the lag its status has).
static void
s_ways(const json_t *direction, const msgpack_object *row, const msgpack_object *status,
       bool *pushes, bool *pulls)
{
    const char *dir = json_string_value(direction);
    uint64_t unused;
    if (!dir) {
        *pushes = peer_json_u64(row, "push_acked", &unused);
        *pulls = peer_json_u64(row, "pull_cursor", &unused)
              || peer_json_u64(status, "lag_changes", &unused);
        return;
    }
    *pushes = strcmp(dir, "push") == 0 || strcmp(dir, "both") == 0;
    *pulls = strcmp(dir, "pull") == 0 || strcmp(dir, "both") == 0;
}

//  The age of the oldest change one side lacks: null when the status does
//  not say (no syncer, or the direction is off), 0 when it lacks none.
static json_t *
s_lag_ms(bool runs, const msgpack_object *status, const char *key, const peer_json_ctx_t *ctx,
         bool *known, uint64_t *ms)
{
    uint64_t oldest = 0;
    const char *state;
    size_t len;
    *known = runs && s_row_str(status, "state", &state, &len);   // the syncer runs it
    *ms = 0;
    if (*known && peer_json_u64(status, key, &oldest) && oldest < ctx->now_ms)
        *ms = ctx->now_ms - oldest;
    return s_opt_int(*known, *ms);
}

//  lag_changes, pull_lag_changes, push_lag_changes, lag_ms, pull_lag_ms,
//  push_lag_ms and wal_held_back.
static void
s_put_lag(json_t *object, const msgpack_object *row, const msgpack_object *status,
          const peer_json_ctx_t *ctx, bool *ok)
{
    bool pushes, pulls;
    s_ways(json_object_get(object, "direction"), row, status, &pushes, &pulls);
    uint64_t acked = 0, live_acked = 0, pull_lag = 0;
    (void) peer_json_u64(row, "push_acked", &acked);
    //  The row's push_acked is written lazily; the status has the current one.
    (void) peer_json_u64(status, "push_acked", &live_acked);
    uint64_t sent = live_acked > acked ? live_acked : acked;
    bool has_pull_lag = pulls && peer_json_u64(status, "lag_changes", &pull_lag);
    uint64_t push_lag = pushes && ctx->wal_head > sent ? ctx->wal_head - sent : 0;
    bool has_lag = has_pull_lag || pushes;
    uint64_t lag = has_pull_lag && pull_lag > push_lag ? pull_lag : push_lag;
    s_put(object, "lag_changes", s_opt_int(has_lag, lag), ok);
    s_put(object, "pull_lag_changes", s_opt_int(has_pull_lag, pull_lag), ok);
    s_put(object, "push_lag_changes", s_opt_int(pushes, push_lag), ok);
    bool pull_known, push_known;
    uint64_t pull_ms, push_ms;
    json_t *pull_json = s_lag_ms(pulls, status, "pull_oldest_ms", ctx, &pull_known, &pull_ms);
    json_t *push_json = s_lag_ms(pushes, status, "push_oldest_ms", ctx, &push_known, &push_ms);
    s_put(object, "lag_ms", s_opt_int(pull_known || push_known,
                                      pull_ms > push_ms ? pull_ms : push_ms), ok);
    s_put(object, "pull_lag_ms", pull_json, ok);
    s_put(object, "push_lag_ms", push_json, ok);
    //  The WAL must keep what this peer has not taken yet: past push_acked
    //  (as written: compaction reads the row) when we push to it, past what
    //  it pulled when it pulls from us.
    bool holds = pushes || ctx->remote_pulls;
    uint64_t pos = pushes ? acked : ctx->pulled_through;
    if (pushes && ctx->remote_pulls && ctx->pulled_through < pos)
        pos = ctx->pulled_through;
    uint64_t held = holds ? peer_json_held_back(ctx->wal_head, ctx->wal_floor, pos) : 0;
    s_put(object, "wal_held_back", s_int(held), ok);
}

static json_t *
s_snapshot(const msgpack_object *status, const json_t *state)
{
    uint64_t done = 0, total = 0;
    bool has_done = peer_json_u64(status, "snapshot_done", &done);
    bool has_total = peer_json_u64(status, "snapshot_total", &total);
    const char *name = json_string_value(state);
    bool running = name && strcmp(name, "snapshot") == 0;
    if (!running && done == 0 && total == 0)
        return json_null();
    return json_pack("{s:o,s:o,s:o,s:o,s:o}", "done", s_opt_int(has_done, done),
                     "total", s_opt_int(has_total, total),
                     "bytes", s_row_int(status, "snapshot_bytes"),
                     "rate", s_row_int(status, "snapshot_rate"),
                     "eta_ms", s_row_int(status, "snapshot_eta_ms"));
}

//  Everything the syncer reports, in the documented order: identity and
//  cursors from the row, the rest from the status file.
static void
s_put_status(json_t *object, const msgpack_object *row, const peer_json_ctx_t *ctx, bool *ok)
{
    static const msgpack_object empty = { .type = MSGPACK_OBJECT_MAP };
    const msgpack_object *status = ctx->status && ctx->status->type == MSGPACK_OBJECT_MAP
                                   ? ctx->status : &empty;
    s_put(object, "state", s_row_string(status, "state"), ok);
    s_put(object, "instance_id", s_row_instance(row), ok);
    s_put(object, "pull_cursor", s_row_int(row, "pull_cursor"), ok);
    s_put(object, "push_acked", s_row_int(row, "push_acked"), ok);
    s_put(object, "peer_head", s_row_int(status, "peer_head"), ok);
    s_put_lag(object, row, status, ctx, ok);
    //  last_seen_ms outlives the syncer in the row (compaction's copy).
    uint64_t seen;
    bool has_seen = peer_json_u64(status, "last_seen_ms", &seen)
                 || peer_json_u64(row, "last_seen_ms", &seen);
    s_put(object, "last_seen_ms", s_opt_int(has_seen, seen), ok);
    s_put(object, "last_success_ms", s_row_int(status, "last_success_ms"), ok);
    static const char *const errors[] = { "error", "last_error" };
    for (size_t i = 0; i < 2; i++) {
        char at[32];
        snprintf(at, sizeof at, "%s_ms", errors[i]);
        s_put(object, errors[i], s_row_string(status, errors[i]), ok);
        s_put(object, at, s_row_int(status, at), ok);
    }
    s_put(object, "failures", s_row_int(status, "failures"), ok);
    s_put(object, "retries", s_row_int(status, "retries"), ok);
    s_put(object, "conflicts", s_row_int(row, "conflicts"), ok);
    s_put(object, "snapshot", s_snapshot(status, json_object_get(object, "state")), ok);
}

json_t *
peer_json_outbound(const char *name, size_t name_len, const peerspec_t *config,
                   const msgpack_object *row, const peer_json_ctx_t *ctx, unsigned flags)
{
    //  A missing row reads as an empty map: every status field is null.
    static const msgpack_object empty = { .type = MSGPACK_OBJECT_MAP };
    if (!row || row->type != MSGPACK_OBJECT_MAP)
        row = &empty;
    json_t *object = json_object();
    bool ok = object != NULL;
    if (ok)
        s_put_config(object, name, name_len, config, row, &ok);
    if (ok && !(flags & PEER_JSON_CONFIG))
        s_put_status(object, row, ctx, &ok);
    if (!ok) {
        json_decref(object);
        return NULL;
    }
    return object;
}

bool
peer_json_inbound_holds(const msgpack_object *row, const char *peer)
{
    uint64_t pulled, pushed = 0;
    return peer_json_u64(row, "pulled_through", &pulled)
        && (peer || (peer_json_u64(row, "pushed", &pushed) && pushed));
}

json_t *
peer_json_inbound(const msgpack_object *row, const char *peer, const peer_json_ctx_t *ctx)
{
    uint64_t pulled = 0;
    (void) peer_json_u64(row, "pulled_through", &pulled);
    bool holds = peer_json_inbound_holds(row, peer);
    json_t *object = json_object();
    bool ok = object != NULL;
    if (ok) {
        s_put(object, "instance_id", s_row_instance(row), &ok);
        s_put(object, "pulled_through", s_row_int(row, "pulled_through"), &ok);
        s_put(object, "last_seen_ms", s_row_int(row, "last_seen_ms"), &ok);
        s_put(object, "peer", peer ? json_string(peer) : json_null(), &ok);
        s_put(object, "holds_wal", json_boolean(holds), &ok);
        s_put(object, "wal_held_back", s_int(holds ? peer_json_held_back(ctx->wal_head,
                                             ctx->wal_floor, pulled) : 0), &ok);
        s_put(object, "refused", s_row_int(row, "refused"), &ok);
        s_put(object, "last_refused_ms", s_row_int(row, "last_refused_ms"), &ok);
        s_put(object, "last_refusal", s_row_string(row, "last_refusal"), &ok);
    }
    if (!ok) {
        json_decref(object);
        return NULL;
    }
    return object;
}
