/*  api_relay.c - POST /v1/sync/{hello,push,pull,snapshot}: the sync
    protocol over HTTP. The body goes unchanged to the syncer (syncrelay.h),
    which answers exactly as it answers ZeroMQ peers; refusals made here
    are sync error messages too, so a peer reads every answer one way.
*/
#include "api_relay.h"

#include <string.h>
#include <strings.h>

static bool
s_known_op(const char *name, size_t len)
{
    static const char *const ops[] = { "hello", "push", "pull", "snapshot" };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strlen(ops[i]) == len && memcmp(ops[i], name, len) == 0)
            return true;
    return false;
}

void
api_relay(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) id;
    if (!s_known_op(req->path_name, req->path_name_len)) {
        http_reply_error(reply, 404, "no such endpoint: POST %.200s (sync operations are "
                         "hello, push, pull, snapshot)", req->path);
        return;
    }
    const char *type = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type || strncasecmp(type, HTTP_MSGPACK, strlen(HTTP_MSGPACK)) != 0) {
        syncrelay_reply_error(reply, SYNC_ERR_BAD_REQUEST, "sync messages are %s bodies",
                              HTTP_MSGPACK);
        reply->status = 415;
        return;
    }
    if (!req->body_len) {
        syncrelay_reply_error(reply, SYNC_ERR_BAD_REQUEST, "the request has no body");
        return;
    }
    syncrelay_submit(api->relay, req, req->caller, reply);
}
