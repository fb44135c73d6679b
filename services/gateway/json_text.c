#include "json_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TEXT_INITIAL 256   // bytes: most replies are small objects

void
json_text_put(json_text_t *out, const char *text, size_t len)
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

void
json_text_puts(json_text_t *out, const char *text)
{
    json_text_put(out, text, strlen(text));
}

//  Strings are valid UTF-8 (jansson checks on input and on json_string,
//  json_map on stored records); only quotes, backslashes and control
//  characters need escaping.
void
json_text_put_string(json_text_t *out, const char *text, size_t len)
{
    json_text_put(out, "\"", 1);
    size_t run = 0;    // start of the pending run of bytes copied as is
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        json_text_put(out, text + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"':  json_text_put(out, "\\\"", 2); break;
        case '\\': json_text_put(out, "\\\\", 2); break;
        case '\n': json_text_put(out, "\\n", 2); break;
        case '\r': json_text_put(out, "\\r", 2); break;
        case '\t': json_text_put(out, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            json_text_put(out, esc, 6);
        }
    }
    json_text_put(out, text + run, len - run);
    json_text_put(out, "\"", 1);
}

//  A value that some integer m over 10^d (d <= 6) gives back exactly, with
//  1e-4 <= |value| < 1e9, written as m with the point put in: most stored
//  reals are such short decimals (0.5, 0.25, 0.7). The division is
//  correctly rounded, so the decimal reads back as value; it has at most 15
//  significant digits, so %.15g below would write the same decimal, and in
//  this range %g writes it without an exponent. False for any other value.
static bool
s_short_decimal(double value, char *buf, size_t size)
{
    static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6 };
    double mag = fabs(value);
    if (!(mag >= 1e-4 && mag < 1e9))
        return false;
    for (int d = 0; d <= 6; d++) {
        double m = nearbyint(mag * pow10[d]);
        if (m / pow10[d] != mag)
            continue;
        uint64_t digits = (uint64_t) m, unit = (uint64_t) pow10[d];
        uint64_t frac = digits % unit;
        int n = snprintf(buf, size, "%s%" PRIu64, value < 0 ? "-" : "", digits / unit);
        if (frac) {
            //  The smallest d that works leaves no trailing zero in frac.
            snprintf(buf + n, size - (size_t) n, ".%0*" PRIu64, d, frac);
        }
        return true;
    }
    return false;
}

//  Shortest of 15, 16, 17 significant digits that reads back exactly;
//  %g drops trailing zeros, so 15 already gives "0.1" for 0.1.
void
json_text_put_real(json_text_t *out, double value)
{
    char buf[40];
    if (!isfinite(value)) {
        json_text_put(out, "null", 4);    // JSON has no NaN/Inf; never produced by us
        return;
    }
    if (!s_short_decimal(value, buf, sizeof buf))
        for (int precision = 15; precision <= 17; precision++) {
            snprintf(buf, sizeof buf, "%.*g", precision, value);
            if (strtod(buf, NULL) == value)
                break;
        }
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
    json_text_puts(out, buf);
}

static void s_put_value(json_text_t *out, const json_t *value);

static void
s_put_object(json_text_t *out, const json_t *object)
{
    json_text_put(out, "{", 1);
    const char *key;
    size_t key_len;
    json_t *value;
    bool first = true;
    //  Insertion order, which is the order the handlers chose (spec order).
    json_object_keylen_foreach((json_t *) object, key, key_len, value) {
        if (!first)
            json_text_put(out, ",", 1);
        first = false;
        json_text_put_string(out, key, key_len);
        json_text_put(out, ":", 1);
        s_put_value(out, value);
    }
    json_text_put(out, "}", 1);
}

static void
s_put_array(json_text_t *out, const json_t *array)
{
    json_text_put(out, "[", 1);
    for (size_t i = 0; i < json_array_size(array); i++) {
        if (i)
            json_text_put(out, ",", 1);
        s_put_value(out, json_array_get(array, i));
    }
    json_text_put(out, "]", 1);
}

static void
s_put_value(json_text_t *out, const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:  s_put_object(out, value); break;
    case JSON_ARRAY:   s_put_array(out, value); break;
    case JSON_STRING:  json_text_put_string(out, json_string_value(value), json_string_length(value));
                       break;
    case JSON_REAL:    json_text_put_real(out, json_real_value(value)); break;
    case JSON_TRUE:    json_text_put(out, "true", 4); break;
    case JSON_FALSE:   json_text_put(out, "false", 5); break;
    case JSON_NULL:    json_text_put(out, "null", 4); break;
    case JSON_INTEGER: json_text_put_int(out, json_integer_value(value)); break;
    }
}

void
json_text_put_int(json_text_t *out, int64_t value)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRId64, value);
    json_text_put(out, buf, (size_t) n);
}

void
json_text_put_key(json_text_t *out, bool *first, const char *name)
{
    if (!*first)
        json_text_put(out, ",", 1);
    *first = false;
    json_text_put_string(out, name, strlen(name));
    json_text_put(out, ":", 1);
}

void
json_text_truncate(json_text_t *out, size_t len)
{
    if (len < out->len) {
        out->len = len;
        out->data[len] = '\0';
    }
}

char *
json_text_take(json_text_t *out, size_t *len)
{
    char *text = out->data;
    size_t n = out->len;
    if (out->failed) {
        free(text);
        text = NULL;
    }
    else if (!text)
        text = calloc(1, 1);           // nothing written: still a string to free
    if (text && len)
        *len = n;
    *out = (json_text_t) JSON_TEXT_INIT;
    return text;
}

void
json_text_release(json_text_t *out)
{
    free(out->data);
    *out = (json_text_t) JSON_TEXT_INIT;
}

char *
json_text_dump(const json_t *root, size_t *len)
{
    if (!root)
        return NULL;
    json_text_t out = JSON_TEXT_INIT;
    s_put_value(&out, root);
    return json_text_take(&out, len);
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
