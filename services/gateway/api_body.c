/*  Request bodies whose embeddings are read on the fast path (jvec.h): the
    creates of experiences and insights, single and batched.
*/
#include "api.h"

#include <string.h>

bool
api_body_vecs(const http_req_t *req, http_reply_t *reply, jvec_mode_t mode, size_t objects,
              json_t **out, jvec_t *vecs)
{
    memset(vecs, 0, sizeof *vecs);
    if (req->body_len > 0 && http_is_json(req)
        && jvec_extract(req->body, req->body_len, mode, objects, vecs) == 0 && vecs->text) {
        json_t *body = json_loadb(vecs->text, vecs->text_len, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(body)) {
            *out = body;
            return true;
        }
        json_decref(body);
    }
    //  Nothing taken, or the rest did not parse: the general path, whose
    //  errors name the places in the body as sent.
    jvec_release(vecs);
    return api_body(req, reply, out);
}
