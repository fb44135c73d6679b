/*  json_text.h - compact JSON text, with numbers written the way people and
    other parsers expect: every real in its shortest form that reads back to
    the same double (jansson prints 17 digits, so 0.1 comes out as
    0.10000000000000001), and always with a '.' or an exponent so a real
    stays a real. One line, no spaces: SSE data lines need that.

    Two ways in: json_text_dump serialises a jansson tree; the json_text_t
    writer appends pieces to a buffer, so a reply made of many stored
    records (a search, a list page) is written straight from them without
    building a tree of small allocations first.
*/
#ifndef GW_JSON_TEXT_H
#define GW_JSON_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Serialises root. Returns a NUL-terminated string (length in *len when
//  len is not NULL) that the caller frees with free(), or NULL when out of
//  memory or root is NULL.
char *json_text_dump(const json_t *root, size_t *len);

//  The double nearest to the shortest decimal that reads back as f, so a
//  float32 (an embedding value) prints as "0.1" rather than
//  "0.10000000149011612". Used wherever float32 data becomes JSON.
double json_text_f32(float f);

//  A growing buffer of JSON text. Start from JSON_TEXT_INIT; a failed
//  allocation is sticky (every later put does nothing), so a writer checks
//  once, at json_text_take.
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} json_text_t;

#define JSON_TEXT_INIT { NULL, 0, 0, false }

//  Bytes as they are (punctuation, or text already JSON).
void json_text_put(json_text_t *self, const char *bytes, size_t len);
void json_text_puts(json_text_t *self, const char *text);
//  A string, quoted and escaped; text must be valid UTF-8.
void json_text_put_string(json_text_t *self, const char *text, size_t len);
void json_text_put_real(json_text_t *self, double value);
void json_text_put_int(json_text_t *self, int64_t value);
//  An object member's name: a ',' first unless *first (then cleared).
void json_text_put_key(json_text_t *self, bool *first, const char *name);
//  Cuts the text back to len bytes (a part that failed to render).
void json_text_truncate(json_text_t *self, size_t len);

//  The NUL-terminated text (length in *len when not NULL), which the caller
//  frees with free(); NULL when an allocation failed. Either way the
//  buffer is left empty.
char *json_text_take(json_text_t *self, size_t *len);
void json_text_release(json_text_t *self);

#endif
