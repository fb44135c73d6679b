#include "b64.h"

#include <stdbool.h>

//  The 6-bit value of a base64 character, or -1.
static int
s_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
b64_decode(const char *text, size_t len, uint8_t *out, size_t *out_len)
{
    if (len % 4 != 0)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int pad = last && text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) : 0;
        int v[4];
        for (int k = 0; k < 4 - pad; k++) {
            v[k] = s_value((unsigned char) text[i + k]);
            if (v[k] < 0)
                return -1;
        }
        uint32_t bits = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12
                      | (pad < 2 ? (uint32_t) v[2] << 6 : 0) | (pad < 1 ? (uint32_t) v[3] : 0);
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
