#include "jsonl.h"
#include "bounds.h"
#include "jvec.h"

#include <jansson.h>
#include <stdio.h>

static int
s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
jsonl_check(const char *line, size_t len, size_t *start, size_t *body_len,
            char why[PDB_ERRMSG_MAX])
{
    size_t a = 0;
    while (a < len && s_is_space(line[a]))
        a++;
    while (len > a && s_is_space(line[len - 1]))
        len--;
    if (a == len)
        return JSONL_BLANK;
    if (len - a > PDB_HTTP_BODY_MAX) {
        snprintf(why, PDB_ERRMSG_MAX, "line is %zu bytes; at most %u", len - a,
                 PDB_HTTP_BODY_MAX);
        return PDB_ETOOBIG;
    }
    //  The embedding is read on the fast path (as the gateway reads it), so a
    //  line costs a scan rather than a value object per number; should the
    //  rest not parse, the line as it is gives the error and its column.
    json_error_t err;
    jvec_t vecs;
    json_t *obj = NULL;
    if (jvec_extract(line + a, len - a, JVEC_BODY, 1, &vecs) == 0 && vecs.text)
        obj = json_loadb(vecs.text, vecs.text_len, JSON_REJECT_DUPLICATES, &err);
    jvec_release(&vecs);
    if (!obj)
        obj = json_loadb(line + a, len - a, JSON_REJECT_DUPLICATES, &err);
    int rc = 0;
    if (!obj) {
        snprintf(why, PDB_ERRMSG_MAX, "invalid JSON at column %d: %.120s", err.column,
                 err.text);
        rc = PDB_EINVAL;
    }
    else if (!json_is_object(obj)) {
        snprintf(why, PDB_ERRMSG_MAX, "expected a JSON object (an experience)");
        rc = PDB_EINVAL;
    }
    else if (!json_is_string(json_object_get(obj, "content"))) {
        snprintf(why, PDB_ERRMSG_MAX, "no \"content\" string");
        rc = PDB_EINVAL;
    }
    else if (!json_is_array(json_object_get(obj, "embedding"))
             && !json_is_string(json_object_get(obj, "embedding_b64"))) {
        snprintf(why, PDB_ERRMSG_MAX, "no \"embedding\" array or \"embedding_b64\" string");
        rc = PDB_EINVAL;
    }
    json_decref(obj);
    if (rc == 0) {
        *start = a;
        *body_len = len - a;
    }
    return rc;
}
