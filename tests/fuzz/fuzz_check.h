/*  fuzz_check.h - what the harnesses share: a loud failure for a broken
    promise (libFuzzer keeps the input that caused it), and the checks of
    one encoded change, which reaches us inside sync messages and alone.
*/
#ifndef PDB_FUZZ_CHECK_H
#define PDB_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

//  A decoder broke one of its promises: print what and stop the run.
#define FUZZ_FAIL(...) \
    (fprintf(stderr, "fuzz: "), fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), abort())

//  Decodes data as one change (change_decode). When it reads: packing it
//  again gives bytes that decode to the same change, its fields parse, and
//  the checks its fields get before they are applied (entity_check, or for
//  a STATE change state_read, state_check and ingest_stamp) answer, with a
//  reason when they refuse. Aborts on a broken promise.
void fuzz_check_change(const uint8_t *data, size_t len);

#endif
