/*  decimal.c - unsigned decimal numbers from outside text. */
#include "decimal.h"
#include "err.h"

int
decimal_parse_u64(const char *text, uint64_t *out)
{
    if (*text == '\0')
        return PDB_EINVAL;
    uint64_t value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return PDB_EINVAL;
        unsigned digit = (unsigned) (*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return PDB_EINVAL;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}
