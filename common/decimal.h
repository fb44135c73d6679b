/*  decimal.h - unsigned decimal numbers from outside text (configuration,
    endpoints, HTTP query values and headers, command-line flags): digits
    only, so " 7", "+7", "0x7" and "7 " are refused rather than read as
    something the writer did not mean.
*/
#ifndef PDB_DECIMAL_H
#define PDB_DECIMAL_H

#include <stdint.h>

//  Parses a NUL-terminated run of 1 or more ASCII digits that fits in 64
//  bits into *out. Returns 0, or PDB_EINVAL (empty, a non-digit, overflow)
//  with *out untouched.
int decimal_parse_u64(const char *text, uint64_t *out);

#endif
