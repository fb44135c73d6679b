/*  route.h - maps method + path to an api handler.

    Paths are matched segment by segment; a "{id}" segment must be a UUID
    (else 400 with the offending text), a "{name}" segment takes only paths
    no route before it has. A path that matches no pattern is 404; one
    whose pattern exists for other methods is 405 with Allow. Both are said
    only to token holders when tokens are required, but a 405 on a path
    that needs no token (/, /health, /openapi.json). HEAD is served as GET
    (MHD drops the body).
*/
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include "api.h"
#include "http.h"

//  An http_handler_fn: arg is the api_t.
void route_handle(void *arg, http_req_t *req, http_reply_t *reply);
//  An http_loop_t.on_loop: true for a create whose body is small enough to
//  parse on the network thread (its handler then defers: api_create_deferred).
bool route_on_loop(void *arg, const http_req_t *req);

#endif
