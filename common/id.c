#include "id.h"
#include "clock.h"
#include "err.h"

#include <string.h>

int
pdb_id_new(pdb_id_t *out, uint64_t wall_ms)
{
    int rc = clock_random(out->b, sizeof out->b);
    if (rc)
        return rc;
    for (int i = 0; i < 6; i++)
        out->b[i] = (uint8_t) (wall_ms >> (40 - 8 * i));
    out->b[6] = (uint8_t) (0x70 | (out->b[6] & 0x0f));   // version 7
    out->b[8] = (uint8_t) (0x80 | (out->b[8] & 0x3f));   // RFC 4122 variant
    return 0;
}

void
pdb_id_format(const pdb_id_t *id, char out[PDB_ID_STR_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < PDB_ID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[id->b[i] >> 4];
        *p++ = hex[id->b[i] & 15];
    }
    *p = '\0';
}

static int
s_hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int
pdb_id_parse(const char *text, size_t len, pdb_id_t *out)
{
    if (len != PDB_ID_STR_LEN)
        return PDB_EINVAL;
    pdb_id_t id;
    size_t pos = 0;
    for (int i = 0; i < PDB_ID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            if (text[pos] != '-')
                return PDB_EINVAL;
            pos++;
        }
        int hi = s_hex_value(text[pos]);
        int lo = s_hex_value(text[pos + 1]);
        if (hi < 0 || lo < 0)
            return PDB_EINVAL;
        id.b[i] = (uint8_t) (hi << 4 | lo);
        pos += 2;
    }
    *out = id;
    return 0;
}

bool
pdb_id_is_nil(const pdb_id_t *id)
{
    static const pdb_id_t nil;
    return memcmp(id->b, nil.b, PDB_ID_LEN) == 0;
}

int
pdb_id_cmp(const pdb_id_t *a, const pdb_id_t *b)
{
    return memcmp(a->b, b->b, PDB_ID_LEN);
}
