#include "route.h"
#include "api_entities.h"
#include "api_query.h"
#include "api_relay.h"
#include "api_sync.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

#define ROUTE_SEGMENTS_MAX 8

typedef struct {
    http_method_t method;
    const char *pattern;
    api_handler_fn handler;
    token_role_t role;          // what a token must allow, when tokens are required
} s_route_t;

//  The bodies a create on the network thread parses there: the largest
//  takes about a millisecond, during which no other connection is served.
#define ROUTE_LOOP_BODY_MAX (128u * 1024u)

//  The handlers that never block (they defer their storage write: see
//  api_create_deferred), so a small request for them is served on the
//  network thread.
static bool
s_never_blocks(api_handler_fn handler)
{
    return handler == api_collective_create || handler == api_experience_create
        || handler == api_insight_create;
}

static const s_route_t s_routes[] = {
    //  /health needs no token: load balancers and supervisors probe it.
    { HTTP_GET,    "/health",                          api_health,                TOKEN_ROLE_NONE },
    //  The page asks for a token itself; its data calls need one.
    { HTTP_GET,    "/",                                api_page,                  TOKEN_ROLE_NONE },
    { HTTP_GET,    "/openapi.json",                    api_openapi,               TOKEN_ROLE_NONE },
    { HTTP_GET,    "/metrics",                         api_metrics,               TOKEN_ROLE_READ },
    { HTTP_GET,    "/v1/status",                       api_status,                TOKEN_ROLE_READ },
    { HTTP_GET,    "/v1/collectives",                  api_collectives_list,      TOKEN_ROLE_READ },
    { HTTP_POST,   "/v1/collectives",                  api_collective_create,     TOKEN_ROLE_WRITE },
    { HTTP_GET,    "/v1/collectives/{id}",             api_collective_get,        TOKEN_ROLE_READ },
    { HTTP_DELETE, "/v1/collectives/{id}",             api_collective_delete,     TOKEN_ROLE_ADMIN },
    { HTTP_GET,    "/v1/collectives/{id}/experiences", api_experiences_list,      TOKEN_ROLE_READ },
    { HTTP_POST,   "/v1/collectives/{id}/experiences", api_experience_create,     TOKEN_ROLE_WRITE },
    { HTTP_POST,   "/v1/collectives/{id}/experiences:batch", api_experiences_batch, TOKEN_ROLE_WRITE },
    { HTTP_POST,   "/v1/collectives/{id}/insights",    api_insight_create,        TOKEN_ROLE_WRITE },
    { HTTP_POST,   "/v1/collectives/{id}/search",      api_search,                TOKEN_ROLE_READ },
    { HTTP_GET,    "/v1/collectives/{id}/watch",       api_watch,                 TOKEN_ROLE_READ },
    { HTTP_GET,    "/v1/collectives/{id}/digest",      api_digest,                TOKEN_ROLE_READ },
    { HTTP_GET,    "/v1/experiences/{id}",             api_experience_get,        TOKEN_ROLE_READ },
    { HTTP_PATCH,  "/v1/experiences/{id}",             api_experience_patch,      TOKEN_ROLE_WRITE },
    { HTTP_DELETE, "/v1/experiences/{id}",             api_experience_delete,     TOKEN_ROLE_WRITE },
    { HTTP_POST,   "/v1/experiences/{id}/reinforce",   api_experience_reinforce,  TOKEN_ROLE_WRITE },
    { HTTP_GET,    "/v1/experiences/{id}/relations",   api_experience_relations,  TOKEN_ROLE_READ },
    { HTTP_POST,   "/v1/relations",                    api_relation_create,       TOKEN_ROLE_WRITE },
    { HTTP_GET,    "/v1/relations/{id}",               api_relation_get,          TOKEN_ROLE_READ },
    { HTTP_DELETE, "/v1/relations/{id}",               api_relation_delete,       TOKEN_ROLE_WRITE },
    { HTTP_GET,    "/v1/insights/{id}",                api_insight_get,           TOKEN_ROLE_READ },
    { HTTP_DELETE, "/v1/insights/{id}",                api_insight_delete,        TOKEN_ROLE_WRITE },
    { HTTP_GET,    "/v1/sync/status",                  api_sync_status,           TOKEN_ROLE_READ },
    { HTTP_GET,    "/v1/sync/peers",                   api_sync_peers_list,       TOKEN_ROLE_ADMIN },
    { HTTP_POST,   "/v1/sync/peers",                   api_sync_peer_add,         TOKEN_ROLE_ADMIN },
    { HTTP_DELETE, "/v1/sync/peers/{name}",            api_sync_peer_remove,      TOKEN_ROLE_ADMIN },
    //  After /v1/sync/peers, which it would otherwise shadow.
    { HTTP_POST,   "/v1/sync/{name}",                  api_relay,                 TOKEN_ROLE_PEER },
};
#define ROUTE_COUNT (sizeof s_routes / sizeof s_routes[0])

typedef struct {
    const char *start;
    size_t len;
} s_seg_t;

//  Splits "/a/b/c" into segments; a single trailing slash is ignored.
//  Returns the count, or -1 when there are too many.
static int
s_split(const char *path, s_seg_t *segs)
{
    int n = 0;
    const char *p = path;
    while (*p == '/') {
        p++;
        size_t len = strcspn(p, "/");
        if (len == 0 && p[0] == '\0' && n > 0)
            break;
        if (n == ROUTE_SEGMENTS_MAX)
            return -1;
        segs[n].start = p;
        segs[n++].len = len;
        p += len;
    }
    return *p ? -1 : n;
}

static bool
s_seg_is(const s_seg_t *seg, const char *text)
{
    size_t len = strlen(text);
    return seg->len == len && memcmp(seg->start, text, len) == 0;
}

//  Whether the path fits the pattern; the "{id}" text goes to *id_text
//  (parsed as a UUID by the caller), the "{name}" text to *name_text
//  (passed on as is: the handler checks it).
static bool
s_match(const char *pattern, const s_seg_t *segs, int n, s_seg_t *id_text,
        s_seg_t *name_text)
{
    s_seg_t pat[ROUTE_SEGMENTS_MAX];
    if (s_split(pattern, pat) != n)
        return false;
    for (int i = 0; i < n; i++) {
        if (s_seg_is(&pat[i], "{id}")) {
            *id_text = segs[i];
            continue;
        }
        if (s_seg_is(&pat[i], "{name}")) {
            *name_text = segs[i];
            continue;
        }
        if (pat[i].len != segs[i].len || memcmp(pat[i].start, segs[i].start, segs[i].len))
            return false;
    }
    return true;
}

static const char *
s_method_name(http_method_t method)
{
    switch (method) {
    case HTTP_GET:    return "GET";
    case HTTP_POST:   return "POST";
    case HTTP_PATCH:  return "PATCH";
    case HTTP_DELETE: return "DELETE";
    case HTTP_PUT:    return "PUT";
    default:          return "";
    }
}

//  Whether `route` serves the path. A pattern with a "{name}" segment
//  takes only paths that no route listed before it has (path_known): POST
//  /v1/sync/status is a wrong method on the sync status, not a sync
//  operation named "status".
static bool
s_route_fits(const s_route_t *route, const s_seg_t *segs, int n, bool path_known,
             s_seg_t *id_text, s_seg_t *name_text)
{
    if (path_known && strstr(route->pattern, "{name}"))
        return false;
    return s_match(route->pattern, segs, n, id_text, name_text);
}

//  The Allow header of a path matched only for other methods.
static void
s_allow(const s_seg_t *segs, int n, char *allow, size_t size)
{
    allow[0] = '\0';
    bool path_known = false;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        s_seg_t id, name;
        if (!s_route_fits(&s_routes[i], segs, n, path_known, &id, &name))
            continue;
        path_known = true;
        size_t used = strlen(allow);
        snprintf(allow + used, size - used, "%s%s", used ? ", " : "",
                 s_method_name(s_routes[i].method));
    }
}

//  The role of the request's bearer token, TOKEN_ROLE_NONE for a missing or
//  unknown one, or when no tokens are required (s_role_allows lets all in).
static token_role_t
s_caller_role(const api_t *api, const http_req_t *req, const char **label)
{
    *label = "";
    if (!api->tokens)
        return TOKEN_ROLE_NONE;
    size_t len = 0;
    const char *token = http_bearer(req, &len);
    return token ? tokens_role(api->tokens, token, len, label) : TOKEN_ROLE_NONE;
}

//  Whether a caller with `role` may use a route that needs `needed`: peer
//  tokens open the sync routes only, and only peer tokens open them.
static bool
s_role_allows(const api_t *api, token_role_t role, token_role_t needed)
{
    //  A token file of peer tokens only secures sync, and leaves the API
    //  as open as its listening address (cfg_exposure_check).
    bool required = api->tokens
                 && (needed == TOKEN_ROLE_PEER || tokens_for_api(api->tokens));
    if (needed == TOKEN_ROLE_NONE || !required)
        return true;
    if (needed == TOKEN_ROLE_PEER || role == TOKEN_ROLE_PEER)
        return role == needed;
    return role >= needed;
}

//  401 for no valid token (before anything about the path is revealed),
//  403 for a token whose role does not open the route. Never names or
//  echoes the token.
static bool
s_authorized(const api_t *api, const http_req_t *req, token_role_t role, token_role_t needed,
             const char *label, http_reply_t *reply)
{
    if (s_role_allows(api, role, needed))
        return true;
    if (needed == TOKEN_ROLE_PEER) {
        //  A sync caller reads every answer as a sync message.
        if (role == TOKEN_ROLE_NONE)
            syncrelay_reply_error(reply, SYNC_ERR_UNAUTHORIZED, "a valid peer token is "
                                  "required: send 'Authorization: Bearer TOKEN'");
        else
            syncrelay_reply_error(reply, SYNC_ERR_FORBIDDEN, "this token is no sync peer's");
        reply->bearer_challenge = role == TOKEN_ROLE_NONE;
    }
    else if (role == TOKEN_ROLE_NONE) {
        http_reply_error(reply, 401, "a valid API token is required: send "
                         "'Authorization: Bearer TOKEN'");
        reply->bearer_challenge = true;
    }
    else
        http_reply_error(reply, 403, "%s %.200s needs a token with the %s role; this one "
                         "has %s", req->method_name, req->path, tokens_role_name(needed),
                         tokens_role_name(role));
    log_d("gateway", "refused method=%s path=%.200s status=%u holder=%s", req->method_name,
          req->path, reply->status, *label ? label : "-");
    return false;
}

void
route_handle(void *arg, http_req_t *req, http_reply_t *reply)
{
    api_t *api = arg;
    const char *label;
    token_role_t role = s_caller_role(api, req, &label);
    req->caller = role == TOKEN_ROLE_PEER ? label : "";
    s_seg_t segs[ROUTE_SEGMENTS_MAX];
    int n = s_split(req->path, segs);
    http_method_t method = req->method == HTTP_HEAD ? HTTP_GET : req->method;
    bool path_known = false, path_public = false;
    for (size_t i = 0; n >= 0 && i < ROUTE_COUNT; i++) {
        s_seg_t id_text = { NULL, 0 }, name_text = { NULL, 0 };
        if (!s_route_fits(&s_routes[i], segs, n, path_known, &id_text, &name_text))
            continue;
        path_known = true;
        path_public = path_public || s_routes[i].role == TOKEN_ROLE_NONE;
        if (s_routes[i].method != method)
            continue;
        if (!s_authorized(api, req, role, s_routes[i].role, label, reply))
            return;
        pdb_id_t id;
        if (id_text.start && pdb_id_parse(id_text.start, id_text.len, &id) != 0) {
            http_reply_error(reply, 400, "'%.*s' is not a valid id (a UUID is expected)",
                             (int) (id_text.len > 64 ? 64 : id_text.len), id_text.start);
            return;
        }
        req->path_name = name_text.start;
        req->path_name_len = name_text.len;
        s_routes[i].handler(api, req, id_text.start ? &id : NULL, reply);
        return;
    }
    //  Unknown paths and methods are answered only to token holders; on a
    //  path anyone may GET (/, /health) a 405 tells nothing new.
    if (role == TOKEN_ROLE_NONE && !path_public
        && !s_authorized(api, req, role, TOKEN_ROLE_READ, label, reply))
        return;
    if (!path_known) {
        http_reply_error(reply, 404, "no such endpoint: %s %.200s", req->method_name, req->path);
        return;
    }
    http_reply_error(reply, 405, "method %s is not allowed on %.200s", req->method_name,
                     req->path);
    s_allow(segs, n, reply->allow, sizeof reply->allow);
}

bool
route_on_loop(void *arg, const http_req_t *req)
{
    (void) arg;
    if (req->body_len > ROUTE_LOOP_BODY_MAX)
        return false;
    s_seg_t segs[ROUTE_SEGMENTS_MAX];
    int n = s_split(req->path, segs);
    bool path_known = false;
    for (size_t i = 0; n >= 0 && i < ROUTE_COUNT; i++) {
        s_seg_t id_text, name_text;
        if (!s_route_fits(&s_routes[i], segs, n, path_known, &id_text, &name_text))
            continue;
        path_known = true;
        if (s_routes[i].method == req->method)
            return s_never_blocks(s_routes[i].handler);
    }
    return false;
}
