/*  fuzz_jvec.c - the fast path for embeddings in request bodies
    (common/jvec.h). The first byte picks the mode; the rest is the body.
    Promises checked: the copy the general parser gets parses exactly when
    the body does (the fast path never turns a bad body into a good one, nor
    the reverse); and every embedding it took holds the very float32 values
    the general path reads from the body (json_map_vec_from_json), while the
    copy holds [] in its place; every "embedding_b64" it took is the very
    string the general parser reads, "" in the copy; and the copy is
    otherwise the same JSON.
*/
#include "bounds.h"
#include "err.h"
#include "fuzz_check.h"
#include "json_map.h"
#include "jvec.h"

#include <jansson.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

//  The object index i of the mode in a parsed body, or NULL.
static json_t *
s_object(json_t *body, jvec_mode_t mode, size_t i)
{
    if (mode == JVEC_BODY)
        return i == 0 ? body : NULL;
    json_t *item = json_array_get(json_object_get(body, "experiences"), i);
    return json_is_object(item) ? item : NULL;
}

//  The object without the members taken from it.
static json_t *
s_without(const json_t *object, bool vec, bool b64)
{
    json_t *rest = json_deep_copy(object);
    if (vec)
        json_object_del(rest, "embedding");
    if (b64)
        json_object_del(rest, "embedding_b64");
    return rest;
}

static void
s_check_b64(size_t i, json_t *object, json_t *object_copy, const jvec_b64_t *b64)
{
    json_t *string = json_object_get(object, "embedding_b64");
    if (!json_is_string(string) || json_string_length(string) != b64->len
        || memcmp(json_string_value(string), b64->text, b64->len) != 0)
        FUZZ_FAIL("object %zu: the taken base64 is not the string the body holds", i);
    json_t *placeholder = json_object_get(object_copy, "embedding_b64");
    if (!json_is_string(placeholder) || json_string_length(placeholder) != 0)
        FUZZ_FAIL("object %zu: the copy does not hold \"\"", i);
}

static void
s_check_taken(json_t *body, json_t *copy, const jvec_t *v, jvec_mode_t mode, size_t objects)
{
    float values[PDB_DIM_MAX];
    for (size_t i = 0; i < objects; i++) {
        jvec_vec_t vec;
        jvec_b64_t b64;
        json_t *object = s_object(body, mode, i);
        json_t *object_copy = s_object(copy, mode, i);
        bool have_vec = jvec_get(v, i, &vec), have_b64 = jvec_get_b64(v, i, &b64);
        if (!have_vec && !have_b64) {
            if (object && !json_equal(object, object_copy))
                FUZZ_FAIL("object %zu changed though nothing was taken", i);
            continue;
        }
        if (!object || !object_copy)
            FUZZ_FAIL("object %zu taken but not in the body", i);
        if (have_vec) {
            size_t n;
            char why[PDB_ERRMSG_MAX];
            if (json_map_vec_from_json(json_object_get(object, "embedding"), "embedding", values,
                                       PDB_DIM_MAX, &n, why) != 0)
                FUZZ_FAIL("object %zu taken, the general path refuses it: %s", i, why);
            if (n != vec.n || (n && memcmp(values, vec.values, n * sizeof(float)) != 0))
                FUZZ_FAIL("object %zu: the values differ from the general path's", i);
            json_t *placeholder = json_object_get(object_copy, "embedding");
            if (!json_is_array(placeholder) || json_array_size(placeholder) != 0)
                FUZZ_FAIL("object %zu: the copy does not hold []", i);
        }
        if (have_b64)
            s_check_b64(i, object, object_copy, &b64);
        json_t *a = s_without(object, have_vec, have_b64);
        json_t *b = s_without(object_copy, have_vec, have_b64);
        if (!json_equal(a, b))
            FUZZ_FAIL("object %zu: the copy differs beyond the embedding", i);
        json_decref(a);
        json_decref(b);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 1 || len > PDB_HTTP_BODY_MAX)
        return 0;
    jvec_mode_t mode = data[0] & 1 ? JVEC_ITEMS : JVEC_BODY;
    size_t objects = mode == JVEC_BODY ? 1 : 1 + (data[0] >> 1);
    const char *text = (const char *) data + 1;
    size_t text_len = len - 1;
    jvec_t v;
    if (jvec_extract(text, text_len, mode, objects, &v) != 0) {
        jvec_release(&v);
        return 0;
    }
    json_t *body = json_loadb(text, text_len, JSON_REJECT_DUPLICATES, NULL);
    if (!v.text) {
        for (size_t i = 0; i < objects; i++) {
            jvec_vec_t vec;
            jvec_b64_t b64;
            if (jvec_get(&v, i, &vec) || jvec_get_b64(&v, i, &b64))
                FUZZ_FAIL("object %zu taken without a copy", i);
        }
        json_decref(body);
        jvec_release(&v);
        return 0;
    }
    json_t *copy = json_loadb(v.text, v.text_len, JSON_REJECT_DUPLICATES, NULL);
    if (!body != !copy)
        FUZZ_FAIL("the body %s but its copy %s", body ? "parses" : "does not parse",
                  copy ? "parses" : "does not");
    if (body)
        s_check_taken(body, copy, &v, mode, objects);
    json_decref(body);
    json_decref(copy);
    jvec_release(&v);
    return 0;
}
