#include "body.h"
#include "bounds.h"
#include "cfg.h"
#include "id.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int
body_embedding(const char *text, json_t **out, char why[PDB_ERRMSG_MAX])
{
    json_error_t err;
    json_t *vec = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!vec || !json_is_array(vec)) {
        snprintf(why, PDB_ERRMSG_MAX, "--embedding: expected a JSON array of numbers like "
                 "'[0.1,0.2]'%s%.80s", vec ? "" : ": ", vec ? "" : err.text);
        json_decref(vec);
        return PDB_EINVAL;
    }
    size_t n = json_array_size(vec);
    if (n == 0 || n > PDB_DIM_MAX) {
        snprintf(why, PDB_ERRMSG_MAX, "--embedding: %zu numbers; expected 1..%u", n,
                 PDB_DIM_MAX);
        json_decref(vec);
        return PDB_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(vec, i);
        if (!json_is_number(x) || !isfinite(json_number_value(x))) {
            snprintf(why, PDB_ERRMSG_MAX, "--embedding: item %zu is not a finite number", i);
            json_decref(vec);
            return PDB_EINVAL;
        }
    }
    *out = vec;
    return 0;
}

int
body_domain(const char *text, json_t **out, char why[PDB_ERRMSG_MAX])
{
    json_t *list = json_array();
    const char *p = text;
    while (list) {
        size_t len = strcspn(p, ",");
        const char *start = p;
        while (len > 0 && (*start == ' ' || *start == '\t')) {
            start++;
            len--;
        }
        while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
            len--;
        if (len == 0 || len > PDB_STR_MAX || json_array_size(list) >= PDB_DOMAIN_MAX) {
            snprintf(why, PDB_ERRMSG_MAX, "--domain: '%.64s': %s", text,
                     len == 0 ? "empty item" : len > PDB_STR_MAX ? "item too long"
                     : "too many items (at most 32)");
            json_decref(list);
            return PDB_EINVAL;
        }
        json_array_append_new(list, json_stringn(start, len));
        p += strcspn(p, ",");
        if (*p == '\0')
            break;
        p++;
    }
    if (!list)
        return -ENOMEM;
    *out = list;
    return 0;
}

int
body_tag_add(json_t *tags, const char *pair, char why[PDB_ERRMSG_MAX])
{
    const char *eq = strchr(pair, '=');
    if (!eq || eq == pair) {
        snprintf(why, PDB_ERRMSG_MAX, "--tag: '%.64s' is not KEY=VALUE", pair);
        return PDB_EINVAL;
    }
    size_t key_len = (size_t) (eq - pair);
    if (key_len > PDB_STR_MAX || strlen(eq + 1) > PDB_STR_MAX) {
        snprintf(why, PDB_ERRMSG_MAX, "--tag: '%.64s' is too long", pair);
        return PDB_EINVAL;
    }
    char key[PDB_STR_MAX + 1];
    memcpy(key, pair, key_len);
    key[key_len] = '\0';
    if (!json_object_get(tags, key) && json_object_size(tags) >= PDB_MAP_MAX) {
        snprintf(why, PDB_ERRMSG_MAX, "--tag: more than %u tags", PDB_MAP_MAX);
        return PDB_EINVAL;
    }
    json_t *value = json_string(eq + 1);
    if (!value || json_object_set_new(tags, key, value)) {
        snprintf(why, PDB_ERRMSG_MAX, "--tag: '%.64s' is not valid UTF-8", pair);
        return PDB_EINVAL;
    }
    return 0;
}

bool
body_peer_name_valid(const char *name)
{
    return peerspec_name_valid(name, strlen(name), BODY_PEER_NAME_MAX);
}

//  Checks every argument of `peer add`; returns 0 or PDB_EINVAL with why.
static int
s_peer_check(const char *name, const char *address, const char *direction,
             const char *const *collectives, size_t n, char why[PDB_ERRMSG_MAX])
{
    if (!body_peer_name_valid(name)) {
        snprintf(why, PDB_ERRMSG_MAX, "NAME '%.64s' must be 1..%d characters of A-Z a-z 0-9 "
                 ". _ -", name, BODY_PEER_NAME_MAX);
        return PDB_EINVAL;
    }
    if (direction && strcmp(direction, "push") != 0 && strcmp(direction, "pull") != 0
        && strcmp(direction, "both") != 0) {
        snprintf(why, PDB_ERRMSG_MAX, "--direction: '%.32s' is not push, pull or both",
                 direction);
        return PDB_EINVAL;
    }
    if (n > BODY_PEER_COLLECTIVES_MAX) {
        snprintf(why, PDB_ERRMSG_MAX, "--collective: %zu given, at most %d", n,
                 BODY_PEER_COLLECTIVES_MAX);
        return PDB_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (!body_is_uuid(collectives[i])) {
            snprintf(why, PDB_ERRMSG_MAX, "--collective: '%.64s' is not a collective id (a "
                     "UUID)", collectives[i]);
            return PDB_EINVAL;
        }
    peerspec_t peer;
    char detail[PDB_ERRMSG_MAX];
    if (peerspec_from_fields(&peer, name, strlen(name), address, strlen(address), NULL, 0,
                             NULL, 0, detail) != 0) {
        snprintf(why, PDB_ERRMSG_MAX, "ADDRESS '%.64s' must be tcp:// or http(s)://HOST:PORT "
                 "(%.100s)", address, detail);
        return PDB_EINVAL;
    }
    return 0;
}

int
body_peer(const char *name, const char *address, const char *direction,
          const char *const *collectives, size_t n, json_t **out, char why[PDB_ERRMSG_MAX])
{
    int rc = s_peer_check(name, address, direction, collectives, n, why);
    if (rc)
        return rc;
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        if (json_array_append_new(list, json_string(collectives[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    json_t *body = list ? json_pack("{s:s,s:s,s:s,s:o}", "name", name, "address", address,
                                    "direction", direction ? direction : "both",
                                    "collectives", list) : NULL;
    if (!body)
        return -ENOMEM;
    *out = body;
    return 0;
}

int
body_is_uuid(const char *text)
{
    pdb_id_t id;
    return strlen(text) == PDB_ID_STR_LEN && pdb_id_parse(text, PDB_ID_STR_LEN, &id) == 0;
}

const char *
body_collective_id(const json_t *reply, const char *name)
{
    const json_t *list = json_object_get(reply, "collectives");
    const char *best = NULL;
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item) {
        const char *item_name = json_string_value(json_object_get(item, "name"));
        const char *id = json_string_value(json_object_get(item, "id"));
        if (!item_name || !id || strcmp(item_name, name) != 0)
            continue;
        //  Canonical UUIDs are lower-case hex of equal length, so text order
        //  is byte order.
        if (!best || strcasecmp(id, best) < 0)
            best = id;
    }
    return best;
}

void
body_error_text(long status, const char *reply, size_t len, char *out, size_t out_len)
{
    json_t *root = reply ? json_loadb(reply, len, 0, NULL) : NULL;
    json_t *err = json_object_get(root, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *message = json_string_value(json_object_get(err, "message"));
    if (code)
        snprintf(out, out_len, "%s: %s", code, message ? message : "");
    else {
        //  Not our error shape (a proxy, a crash page): show its first line.
        size_t shown = 0;
        while (reply && shown < len && shown < 120 && reply[shown] != '\n'
               && reply[shown] != '\r')
            shown++;
        snprintf(out, out_len, "http_%ld: %.*s", status, (int) shown, reply ? reply : "");
    }
    json_decref(root);
}
