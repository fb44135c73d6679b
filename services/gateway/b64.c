#include "b64.h"

#include <stdbool.h>

//  One more than the 6-bit value of each byte as a base64 character, 0
//  for none: a table, as an embedding of 384 dimensions is 2,048 characters.
static const uint8_t s_values[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
    ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
    ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29,
    ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
    ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
    ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
    ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

int
b64_decode(const char *text, size_t len, uint8_t *out, size_t *out_len)
{
    if (len % 4 != 0)
        return -1;
    const unsigned char *in = (const unsigned char *) text;
    size_t n = 0, whole = len == 0 ? 0 : len - 4;     // the last quad may be padded
    for (size_t i = 0; i < whole; i += 4) {
        uint32_t a = s_values[in[i]], b = s_values[in[i + 1]], c = s_values[in[i + 2]],
                 d = s_values[in[i + 3]];
        if (!a || !b || !c || !d)
            return -1;
        uint32_t bits = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
        out[n++] = (uint8_t) (bits >> 16);
        out[n++] = (uint8_t) (bits >> 8);
        out[n++] = (uint8_t) bits;
    }
    if (len > 0) {
        const unsigned char *q = in + whole;
        int pad = q[3] == '=' ? (q[2] == '=' ? 2 : 1) : 0;
        uint32_t v[4] = { 0, 0, 0, 0 };
        for (int k = 0; k < 4 - pad; k++) {
            v[k] = s_values[q[k]];
            if (!v[k]--)
                return -1;
        }
        uint32_t bits = v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3];
        //  Canonical form only: the bits the padding drops must be zero.
        if ((pad == 2 && (bits & 0xffff)) || (pad == 1 && (bits & 0xff)))
            return -1;
        out[n++] = (uint8_t) (bits >> 16);
        if (pad < 2)
            out[n++] = (uint8_t) (bits >> 8);
        if (pad < 1)
            out[n++] = (uint8_t) bits;
    }
    *out_len = n;
    return 0;
}
