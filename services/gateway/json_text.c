#include "json_text.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TEXT_INITIAL 256   // bytes: most replies are small objects

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool failed;    // sticky: one check at the end instead of one per write
} s_out_t;

static void
s_put(s_out_t *out, const char *text, size_t len)
{
    if (out->failed)
        return;
    if (out->len + len + 1 > out->cap) {
        size_t cap = out->cap ? out->cap : JSON_TEXT_INITIAL;
        while (cap < out->len + len + 1)
            cap *= 2;
        char *grown = realloc(out->data, cap);
        if (!grown) {
            out->failed = true;
            return;
        }
        out->data = grown;
        out->cap = cap;
    }
    memcpy(out->data + out->len, text, len);
    out->len += len;
    out->data[out->len] = '\0';
}

static void
s_put_str(s_out_t *out, const char *text)
{
    s_put(out, text, strlen(text));
}

//  Strings are valid UTF-8 (jansson checks on input and on json_string);
//  only quotes, backslashes and control characters need escaping.
static void
s_put_string(s_out_t *out, const char *text, size_t len)
{
    s_put(out, "\"", 1);
    size_t run = 0;    // start of the pending run of bytes copied as is
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        s_put(out, text + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"':  s_put(out, "\\\"", 2); break;
        case '\\': s_put(out, "\\\\", 2); break;
        case '\n': s_put(out, "\\n", 2); break;
        case '\r': s_put(out, "\\r", 2); break;
        case '\t': s_put(out, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            s_put(out, esc, 6);
        }
    }
    s_put(out, text + run, len - run);
    s_put(out, "\"", 1);
}

//  Shortest of 15, 16, 17 significant digits that reads back exactly;
//  %g drops trailing zeros, so 15 already gives "0.1" for 0.1.
static void
s_put_real(s_out_t *out, double value)
{
    char buf[40];
    if (!isfinite(value)) {
        s_put(out, "null", 4);    // JSON has no NaN/Inf; never produced by us
        return;
    }
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(buf, sizeof buf, "%.*g", precision, value);
        if (strtod(buf, NULL) == value)
            break;
    }
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
    s_put_str(out, buf);
}

static void s_put_value(s_out_t *out, const json_t *value);

static void
s_put_object(s_out_t *out, const json_t *object)
{
    s_put(out, "{", 1);
    const char *key;
    size_t key_len;
    json_t *value;
    bool first = true;
    //  Insertion order, which is the order the handlers chose (spec order).
    json_object_keylen_foreach((json_t *) object, key, key_len, value) {
        if (!first)
            s_put(out, ",", 1);
        first = false;
        s_put_string(out, key, key_len);
        s_put(out, ":", 1);
        s_put_value(out, value);
    }
    s_put(out, "}", 1);
}

static void
s_put_array(s_out_t *out, const json_t *array)
{
    s_put(out, "[", 1);
    for (size_t i = 0; i < json_array_size(array); i++) {
        if (i)
            s_put(out, ",", 1);
        s_put_value(out, json_array_get(array, i));
    }
    s_put(out, "]", 1);
}

static void
s_put_value(s_out_t *out, const json_t *value)
{
    char buf[32];
    switch (json_typeof(value)) {
    case JSON_OBJECT:  s_put_object(out, value); break;
    case JSON_ARRAY:   s_put_array(out, value); break;
    case JSON_STRING:  s_put_string(out, json_string_value(value), json_string_length(value));
                       break;
    case JSON_REAL:    s_put_real(out, json_real_value(value)); break;
    case JSON_TRUE:    s_put(out, "true", 4); break;
    case JSON_FALSE:   s_put(out, "false", 5); break;
    case JSON_NULL:    s_put(out, "null", 4); break;
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        s_put_str(out, buf);
        break;
    }
}

char *
json_text_dump(const json_t *root, size_t *len)
{
    if (!root)
        return NULL;
    s_out_t out = { NULL, 0, 0, false };
    s_put_value(&out, root);
    if (out.failed) {
        free(out.data);
        return NULL;
    }
    if (len)
        *len = out.len;
    return out.data;
}

double
json_text_f32(float f)
{
    if (!isfinite(f))
        return 0.0;
    char buf[32];
    //  9 significant digits always identify a float32; %g drops trailing
    //  zeros, so trying from 6 up finds the shortest form in at most 4 tries.
    for (int precision = 6; precision <= 9; precision++) {
        snprintf(buf, sizeof buf, "%.*g", precision, (double) f);
        if ((float) strtod(buf, NULL) == f)
            break;
    }
    return strtod(buf, NULL);
}
