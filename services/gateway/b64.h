/*  b64.h - standard base64 (RFC 4648 section 4: A-Z a-z 0-9 + /, padded
    with '=' to a multiple of 4 characters), decoding only: the compact
    form of embeddings in request bodies.
*/
#ifndef GW_B64_H
#define GW_B64_H

#include <stddef.h>
#include <stdint.h>

//  The most bytes text of len characters can decode to.
#define B64_DECODED_MAX(len) ((len) / 4 * 3)

//  Decodes text (len characters, no white space) into out, which has room
//  for B64_DECODED_MAX(len) bytes. Returns 0 with *out_len set, or -1 when
//  the text is not padded base64 (a character outside the alphabet, a length
//  that is not a multiple of 4, '=' anywhere but at the end, or nonzero bits
//  left over before the padding).
int b64_decode(const char *text, size_t len, uint8_t *out, size_t *out_len);

#endif
