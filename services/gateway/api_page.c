/*  api_page.c - what the gateway serves besides the API itself: the status
    page (GET /) and the API's description (GET /openapi.json), both built
    into the program (assets.h). Neither needs a token: the page is the
    same for everyone and asks for a token itself when the data calls it
    makes need one, and the description is the API's public shape.
*/
#include "api.h"
#include "assets.h"

//  The page is self-contained: it may run its own inline script and style
//  and talk to this gateway, nothing else (no outside assets, no form
//  posts, no framing), so even a peer's error text that got past the
//  page's escaping could load or send nothing.
#define API_PAGE_POLICY "default-src 'none'; script-src 'unsafe-inline'; " \
                        "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; " \
                        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

void
api_page(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) api;
    (void) req;
    (void) id;
    http_reply_text(reply, 200, "text/html; charset=utf-8", (const char *) assets_status_page,
                    assets_status_page_len);
    reply->security_policy = API_PAGE_POLICY;
}

void
api_openapi(api_t *api, http_req_t *req, const pdb_id_t *id, http_reply_t *reply)
{
    (void) api;
    (void) req;
    (void) id;
    http_reply_text(reply, 200, "application/json", (const char *) assets_openapi_json,
                    assets_openapi_json_len);
}
