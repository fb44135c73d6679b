/*  json_text.h - compact JSON text from a jansson tree, with numbers written
    the way people and other parsers expect: every real in its shortest form
    that reads back to the same double (jansson prints 17 digits, so 0.1
    comes out as 0.10000000000000001), and always with a '.' or an exponent
    so a real stays a real. One line, no spaces: SSE data lines need that.
*/
#ifndef GW_JSON_TEXT_H
#define GW_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>

//  Serialises root. Returns a NUL-terminated string (length in *len when
//  len is not NULL) that the caller frees with free(), or NULL when out of
//  memory or root is NULL.
char *json_text_dump(const json_t *root, size_t *len);

//  The double nearest to the shortest decimal that reads back as f, so a
//  float32 (an embedding value) prints as "0.1" rather than
//  "0.10000000149011612". Used wherever float32 data becomes JSON.
double json_text_f32(float f);

#endif
