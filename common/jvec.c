#include "jvec.h"
#include "bounds.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

//  Numbers below this round to a finite float32 (as in json_map.c).
#define JVEC_F32_LIMIT ((double) FLT_MAX + 0x1p103)
//  Nesting the scanner follows; deeper bodies are left to the general path.
#define JVEC_DEPTH_MAX 32
//  A number's text handed to strtod, when the exact shortcut cannot be used.
#define JVEC_NUMBER_TEXT_MAX 64
//  Integers the general path keeps as a signed 64-bit value: 18 digits fit.
#define JVEC_INT_DIGITS_MAX 18
//  Significant digits of a decimal kept exactly in a uint64_t.
#define JVEC_DIGITS_MAX 19

//  10^0 .. 10^22: exact as doubles, so m * 10^e or m / 10^e with m <= 2^53
//  is rounded once, exactly as strtod rounds (Clinger's fast path).
static const double s_pow10[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#if LDBL_MANT_DIG == 64
//  10^0 .. 10^27: exact in x87 extended precision (5^27 < 2^64), as is any
//  m < 2^64, so m * 10^e or m / 10^e is rounded once, to 64 bits.
static const long double s_pow10l[] = {
    1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L, 1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L,
    1e26L, 1e27L,
};

//  Decimals with more digits than a double holds exactly (the 17 of a
//  shortest double, what most clients print): the value rounded once to 64
//  bits, then to a double. The second rounding equals strtod's single one
//  unless the 64-bit value sits exactly halfway between two doubles (its
//  low 11 bits 10000000000), which may be a rounding of a value just beside
//  it: then false, and strtod decides.
static bool
s_extended(uint64_t m, int exp10, double *value)
{
    if (exp10 < -27 || exp10 > 27)
        return false;
    long double x = (long double) m;
    x = exp10 < 0 ? x / s_pow10l[-exp10] : x * s_pow10l[exp10];
    uint64_t significand;
    memcpy(&significand, &x, sizeof significand);     // x87: the low 8 bytes
    if ((significand & 0x7ff) == 0x400)
        return false;
    *value = (double) x;
    return true;
}
#else
static bool
s_extended(uint64_t m, int exp10, double *value)
{
    (void) m;
    (void) exp10;
    (void) value;
    return false;
}
#endif

//  A taken value in the body: an array, written "[]" in the copy, or a
//  base64 string, written "".
typedef struct {
    size_t start, len;
    bool string;
} s_span_t;

typedef struct {
    const char *text;
    const char *p, *end;
    jvec_mode_t mode;
    jvec_t *out;
    bool broken;          // the structure is not what JSON allows: touch nothing
    //  Values taken, left out of the copy once the whole scan has passed.
    s_span_t *spans;
    size_t taken, taken_cap;
} s_scan_t;

static bool
s_digit(char c)
{
    return c >= '0' && c <= '9';
}

static void
s_ws(s_scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

//  The value strtod gives for the number text [start, end), or false when
//  it is too long to copy.
static bool
s_strtod(const char *start, const char *end, double *value)
{
    char buf[JVEC_NUMBER_TEXT_MAX];
    size_t len = (size_t) (end - start);
    if (len >= sizeof buf)
        return false;
    memcpy(buf, start, len);
    buf[len] = '\0';
    *value = strtod(buf, NULL);
    return true;
}

//  Reads the digits of an exponent; false when there are none or too many.
static bool
s_exponent(const char **pp, const char *end, int *exp10)
{
    const char *p = *pp;
    int sign = 1, value = 0, digits = 0;
    if (p < end && (*p == '+' || *p == '-'))
        sign = *p++ == '-' ? -1 : 1;
    while (p < end && s_digit(*p)) {
        if (++digits > 5)
            return false;
        value = value * 10 + (*p++ - '0');
    }
    *exp10 += sign * value;
    *pp = p;
    return digits > 0;
}

//  One JSON number at p, converted as the general path converts it: an
//  integer (no fraction or exponent) through int64, anything else with
//  strtod's rounding. Returns its end, or NULL when it is not a number this
//  reader handles (the general path then decides).
static const char *
s_number(const char *p, const char *end, double *value)
{
    const char *start = p;
    bool neg = p < end && *p == '-';
    p += neg;
    if (p == end || !s_digit(*p))
        return NULL;
    uint64_t m = 0;
    int digits = 0, exp10 = 0;
    bool real = false;
    if (*p == '0')
        p++;
    else
        for (; p < end && s_digit(*p); p++) {
            if (++digits > JVEC_DIGITS_MAX)
                return NULL;
            m = m * 10 + (uint64_t) (*p - '0');
        }
    if (p < end && *p == '.') {
        real = true;
        if (++p == end || !s_digit(*p))
            return NULL;
        for (; p < end && s_digit(*p); p++, exp10--) {
            if (m == 0 && *p == '0')
                continue;              // leading zeros are no significant digits
            if (++digits > JVEC_DIGITS_MAX)
                return NULL;
            m = m * 10 + (uint64_t) (*p - '0');
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (!s_exponent(&p, end, &exp10))
            return NULL;
    }
    if (!real) {
        if (digits > JVEC_INT_DIGITS_MAX)
            return NULL;
        int64_t i = neg ? -(int64_t) m : (int64_t) m;   // "-0" is the integer 0
        *value = (double) i;
        return p;
    }
    double d;
    if (m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        d = (double) m;
        d = exp10 < 0 ? d / s_pow10[-exp10] : d * s_pow10[exp10];
        *value = neg ? -d : d;
        return p;
    }
    if (s_extended(m, exp10, &d)) {
        *value = neg ? -d : d;
        return p;
    }
    return s_strtod(start, p, value) ? p : NULL;
}

static bool
s_reserve(jvec_t *out, size_t more)
{
    if (out->used + more <= out->cap)
        return true;
    size_t cap = out->cap ? out->cap : 4096;
    while (cap < out->used + more)
        cap *= 2;
    float *grown = realloc(out->values, cap * sizeof *grown);
    if (!grown)
        return false;
    out->values = grown;
    out->cap = cap;
    return true;
}

//  An array of numbers at s->p ('['), for object `index`. Taken when every
//  value qualifies; otherwise skipped as any value (s->p past it either way).
static void s_value(s_scan_t *s, int depth);

//  The value from start to s->p is taken.
static bool
s_remember(s_scan_t *s, const char *start, bool string)
{
    if (s->taken == s->taken_cap) {
        size_t cap = s->taken_cap ? s->taken_cap * 2 : 16;
        s_span_t *spans = realloc(s->spans, cap * sizeof *spans);
        if (!spans)
            return false;
        s->spans = spans;
        s->taken_cap = cap;
    }
    s->spans[s->taken++] = (s_span_t) { (size_t) (start - s->text), (size_t) (s->p - start),
                                        string };
    return true;
}

static void
s_embedding(s_scan_t *s, size_t index, int depth)
{
    const char *start = s->p;
    jvec_t *out = s->out;
    size_t first = out->used;
    //  Room for one value even when the array is empty, so a taken
    //  embedding always has a buffer (values is never NULL for the caller).
    bool ok = index < out->objects && out->count[index] == SIZE_MAX && s_reserve(out, 1);
    s->p++;
    s_ws(s);
    if (ok && s->p < s->end && *s->p == ']')
        s->p++;
    else
        while (ok) {
            double d;
            const char *next = s_number(s->p, s->end, &d);
            ok = next && isfinite(d) && fabs(d) < JVEC_F32_LIMIT
              && out->used - first < PDB_DIM_MAX && s_reserve(out, 1);
            if (!ok)
                break;
            out->values[out->used++] = (float) d;
            s->p = next;
            s_ws(s);
            if (s->p < s->end && *s->p == ']') {
                s->p++;
                break;
            }
            ok = s->p < s->end && *s->p == ',';
            s->p++;
            s_ws(s);
        }
    if (ok && s_remember(s, start, false)) {
        out->offset[index] = first;
        out->count[index] = out->used - first;
        return;
    }
    out->used = first;                 // left to the general path
    s->p = start;
    s_value(s, depth);
}

static void
s_string(s_scan_t *s, const char **start, size_t *len)
{
    s->p++;                            // the opening quote
    *start = s->p;
    while (s->p < s->end && *s->p != '"')
        s->p += *s->p == '\\' ? 2 : 1;
    if (s->p >= s->end) {
        s->broken = true;
        s->p = s->end;
        return;
    }
    *len = (size_t) (s->p - *start);
    s->p++;
}

//  The characters of base64 and its padding: what a taken string may hold.
static const bool s_b64_chars[256] = {
    ['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true, ['E'] = true, ['F'] = true,
    ['G'] = true, ['H'] = true, ['I'] = true, ['J'] = true, ['K'] = true, ['L'] = true,
    ['M'] = true, ['N'] = true, ['O'] = true, ['P'] = true, ['Q'] = true, ['R'] = true,
    ['S'] = true, ['T'] = true, ['U'] = true, ['V'] = true, ['W'] = true, ['X'] = true,
    ['Y'] = true, ['Z'] = true, ['a'] = true, ['b'] = true, ['c'] = true, ['d'] = true,
    ['e'] = true, ['f'] = true, ['g'] = true, ['h'] = true, ['i'] = true, ['j'] = true,
    ['k'] = true, ['l'] = true, ['m'] = true, ['n'] = true, ['o'] = true, ['p'] = true,
    ['q'] = true, ['r'] = true, ['s'] = true, ['t'] = true, ['u'] = true, ['v'] = true,
    ['w'] = true, ['x'] = true, ['y'] = true, ['z'] = true, ['0'] = true, ['1'] = true,
    ['2'] = true, ['3'] = true, ['4'] = true, ['5'] = true, ['6'] = true, ['7'] = true,
    ['8'] = true, ['9'] = true, ['+'] = true, ['/'] = true, ['='] = true,
};

//  A string at s->p ('"') for object `index`: taken when it holds base64
//  characters alone (nothing a JSON parser would unescape or refuse);
//  otherwise skipped as any string. s->p is past it either way.
static void
s_embedding_b64(s_scan_t *s, size_t index)
{
    const char *start = s->p, *chars = s->p + 1, *p = chars;
    while (p < s->end && s_b64_chars[(unsigned char) *p])
        p++;
    bool ok = p < s->end && *p == '"' && index < s->out->objects
           && s->out->b64[index].text == NULL;
    if (!ok) {
        const char *key;
        size_t len;
        s_string(s, &key, &len);
        return;
    }
    s->p = p + 1;
    if (s_remember(s, start, true))
        s->out->b64[index] = (jvec_b64_t) { chars, (size_t) (p - chars) };
}

static bool
s_key_is(const char *key, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(key, want, len) == 0;
}

//  What to do with the members of an object: take its "embedding" (as
//  object `index`), look into its "experiences" array, or nothing.
typedef enum { S_PLAIN, S_TARGET, S_TOP_OF_ITEMS } s_role_t;

static void s_items(s_scan_t *s, int depth);

//  After a member or an element: true when a ',' leads to the next one;
//  false when `close` ended the container, or the text is broken there.
static bool
s_more(s_scan_t *s, char close)
{
    s_ws(s);
    if (s->p < s->end && *s->p == ',') {
        s->p++;
        s_ws(s);
        return true;
    }
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return false;
    }
    s->broken = true;
    return false;
}

static void
s_object(s_scan_t *s, int depth, s_role_t role, size_t index)
{
    s->p++;
    s_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return;
    }
    while (!s->broken) {
        const char *key = NULL;
        size_t key_len = 0;
        if (s->p >= s->end || *s->p != '"') {
            s->broken = true;
            return;
        }
        s_string(s, &key, &key_len);
        s_ws(s);
        if (s->broken || s->p >= s->end || *s->p != ':') {
            s->broken = true;
            return;
        }
        s->p++;
        s_ws(s);
        bool array = s->p < s->end && *s->p == '[';
        bool string = s->p < s->end && *s->p == '"';
        if (array && role == S_TARGET && s_key_is(key, key_len, "embedding"))
            s_embedding(s, index, depth + 1);
        else if (string && role == S_TARGET && s_key_is(key, key_len, "embedding_b64"))
            s_embedding_b64(s, index);
        else if (array && role == S_TOP_OF_ITEMS && s_key_is(key, key_len, "experiences"))
            s_items(s, depth + 1);
        else
            s_value(s, depth + 1);
        if (!s_more(s, '}'))
            return;
    }
}

//  The elements of an array; in s_items each element is object `i`.
static void
s_array(s_scan_t *s, int depth, bool items)
{
    s->p++;
    s_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return;
    }
    for (size_t i = 0; !s->broken; i++) {
        if (items && s->p < s->end && *s->p == '{')
            s_object(s, depth + 1, S_TARGET, i);
        else
            s_value(s, depth + 1);
        if (!s_more(s, ']'))
            return;
    }
}

static void
s_items(s_scan_t *s, int depth)
{
    s_array(s, depth, true);
}

static void
s_value(s_scan_t *s, int depth)
{
    const char *key;
    size_t len;
    double d;
    if (depth > JVEC_DEPTH_MAX || s->p >= s->end) {
        s->broken = true;
        return;
    }
    switch (*s->p) {
    case '{': s_object(s, depth, S_PLAIN, 0); return;
    case '[': s_array(s, depth, false); return;
    case '"': s_string(s, &key, &len); return;
    default:  break;
    }
    if (*s->p == '-' || s_digit(*s->p)) {
        //  Any number shape: the general parser judges it.
        const char *next = s_number(s->p, s->end, &d);
        if (next) {
            s->p = next;
            return;
        }
        while (s->p < s->end && (s_digit(*s->p) || strchr("+-.eE", *s->p)))
            s->p++;
        return;
    }
    while (s->p < s->end && *s->p >= 'a' && *s->p <= 'z')    // true, false, null
        s->p++;
}

//  The body with each taken array written "[]" and each taken string "".
static int
s_compact(const s_scan_t *s, size_t len, jvec_t *out)
{
    size_t removed = 0;
    for (size_t i = 0; i < s->taken; i++)
        removed += s->spans[i].len - 2;
    out->text = malloc(len - removed + 1);
    if (!out->text)
        return -ENOMEM;
    size_t from = 0, n = 0;
    for (size_t i = 0; i < s->taken; i++) {
        const s_span_t *span = &s->spans[i];
        memcpy(out->text + n, s->text + from, span->start - from);
        n += span->start - from;
        memcpy(out->text + n, span->string ? "\"\"" : "[]", 2);
        n += 2;
        from = span->start + span->len;
    }
    memcpy(out->text + n, s->text + from, len - from);
    n += len - from;
    out->text[n] = '\0';
    out->text_len = n;
    return 0;
}

//  Forgets every taken embedding: the general path reads them all.
static void
s_forget(jvec_t *out)
{
    for (size_t i = 0; i < out->objects; i++) {
        out->count[i] = SIZE_MAX;
        out->b64[i] = (jvec_b64_t) { NULL, 0 };
    }
    out->used = 0;
}

int
jvec_extract(const char *text, size_t len, jvec_mode_t mode, size_t objects, jvec_t *out)
{
    memset(out, 0, sizeof *out);
    out->objects = objects;
    out->offset = malloc((objects ? objects : 1) * sizeof *out->offset);
    out->count = malloc((objects ? objects : 1) * sizeof *out->count);
    out->b64 = calloc(objects ? objects : 1, sizeof *out->b64);
    if (!out->offset || !out->count || !out->b64)
        return -ENOMEM;
    for (size_t i = 0; i < objects; i++)
        out->count[i] = SIZE_MAX;
    s_scan_t s = { .text = text, .p = text, .end = text + len, .mode = mode, .out = out };
    s_ws(&s);
    if (s.p < s.end && *s.p == '{')
        s_object(&s, 1, mode == JVEC_BODY ? S_TARGET : S_TOP_OF_ITEMS, 0);
    else
        s.broken = true;
    s_ws(&s);
    if (s.p != s.end)
        s.broken = true;
    //  A body that does not scan as JSON is left whole to the general path,
    //  which reports where it is wrong.
    int rc = 0;
    if (s.broken || s.taken == 0)
        s_forget(out);
    else
        rc = s_compact(&s, len, out);
    if (rc)
        s_forget(out);
    free(s.spans);
    return rc;
}

bool
jvec_get(const jvec_t *self, size_t index, jvec_vec_t *vec)
{
    if (!self || index >= self->objects || !self->count || self->count[index] == SIZE_MAX)
        return false;
    //  An empty array taken alone leaves no buffer: its values are none.
    vec->values = self->values ? self->values + self->offset[index] : NULL;
    vec->n = self->count[index];
    return true;
}

bool
jvec_get_b64(const jvec_t *self, size_t index, jvec_b64_t *b64)
{
    if (!self || index >= self->objects || !self->b64 || !self->b64[index].text)
        return false;
    *b64 = self->b64[index];
    return true;
}

void
jvec_release(jvec_t *self)
{
    free(self->text);
    free(self->values);
    free(self->offset);
    free(self->count);
    free(self->b64);
    memset(self, 0, sizeof *self);
}
