/*  jvec.h - embeddings taken out of a JSON request body before the body is
    parsed as a whole. An embedding of 384 numbers is most of a write's
    bytes, and a general parser makes a value object (an allocation and a
    strtod) of each; here each number is read in one pass straight into a
    float, and a copy of the body with each such array written "[]" is what
    the general parser gets: only the small rest. (Should that copy not
    parse, the caller parses the original, so error messages and their
    positions are the general path's.)

    The compact form, "embedding_b64" (base64 of little-endian float32),
    is 2 KiB of one string at 384 dimensions, which a general parser copies
    and checks byte by byte: it is taken too, as the span of the body that
    holds it, and written "" in the copy. Only a string of base64 characters
    alone is taken (nothing to unescape); deciding whether it is valid base64
    of the right length is left to the caller, which gives the same answer
    for the span as for the JSON string.

    Only the "embedding" and "embedding_b64" members of the objects a mode
    names are taken: the body itself (JVEC_BODY), or each item of the body's
    "experiences" array (JVEC_ITEMS). An array is taken only when every value in it is a plain
    JSON number this reader converts exactly as the general path would
    (strtod, then float32) and that lies within float32 range; anything else
    (a string in it, 1e39, too many values, a body whose structure looks
    wrong) is left in the text for the general path, which gives its usual
    error. So the fast path never changes an answer, only its cost.
*/
#ifndef PDB_JVEC_H
#define PDB_JVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JVEC_BODY,     // the body's own "embedding"
    JVEC_ITEMS,    // "embedding" of each object in the body's "experiences" array
} jvec_mode_t;

//  One taken embedding.
typedef struct {
    const float *values;
    size_t n;
} jvec_vec_t;

//  One taken "embedding_b64": its characters, inside the text given to
//  jvec_extract (valid as long as that text is).
typedef struct {
    const char *text;
    size_t len;
} jvec_b64_t;

typedef struct {
    char *text;            // the body with taken arrays written "[]" and taken
                           // base64 strings ""; NULL when nothing was taken
    size_t text_len;
    float *values;         // every taken embedding, one after the other
    size_t used, cap;      // floats
    size_t *offset;        // per object index: where its embedding starts...
    size_t *count;         // ...and how many values, SIZE_MAX when none was taken
    jvec_b64_t *b64;       // per object index: its taken base64, text NULL when none
    size_t objects;        // entries in offset/count/b64
} jvec_t;

//  Scans text (len bytes) for the embeddings of `mode`, taking those it can
//  (at most `objects` object indexes: items past it are left to the general
//  path); out->text is then the body without them. Returns 0, or -ENOMEM
//  (nothing taken). Release *out with jvec_release in every case.
int jvec_extract(const char *text, size_t len, jvec_mode_t mode, size_t objects, jvec_t *out);

//  The embedding taken from object `index` (0 for JVEC_BODY), or NULL when
//  none was: the JSON value is then as the client sent it.
bool jvec_get(const jvec_t *self, size_t index, jvec_vec_t *vec);

//  The "embedding_b64" taken from object `index`, or false when none was.
bool jvec_get_b64(const jvec_t *self, size_t index, jvec_b64_t *b64);

void jvec_release(jvec_t *self);

#endif
