#include "jsonl.h"
#include "bounds.h"

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
    json_error_t err;
    json_t *obj = json_loadb(line + a, len - a, JSON_REJECT_DUPLICATES, &err);
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
    else if (!json_is_array(json_object_get(obj, "embedding"))) {
        snprintf(why, PDB_ERRMSG_MAX, "no \"embedding\" array");
        rc = PDB_EINVAL;
    }
    json_decref(obj);
    if (rc == 0) {
        *start = a;
        *body_len = len - a;
    }
    return rc;
}
