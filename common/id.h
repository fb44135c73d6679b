/*  id.h - 16-byte UUIDv7 ids: 48 bits of milliseconds, version, random tail.
    Time-ordered, so LMDB keys built from them stay append-mostly.
*/
#ifndef PDB_ID_H
#define PDB_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PDB_ID_LEN 16
#define PDB_ID_STR_LEN 36          // canonical form without the NUL

typedef struct {
    uint8_t b[PDB_ID_LEN];
} pdb_id_t;

//  Makes a new UUIDv7 for the given wall time; returns 0 or -errno.
int pdb_id_new(pdb_id_t *out, uint64_t wall_ms);

//  Writes the canonical lower-case form "xxxxxxxx-xxxx-..." into out (37 bytes).
void pdb_id_format(const pdb_id_t *id, char out[PDB_ID_STR_LEN + 1]);

//  Parses the canonical form (either case); returns 0 or PDB_EINVAL.
int pdb_id_parse(const char *text, size_t len, pdb_id_t *out);

bool pdb_id_is_nil(const pdb_id_t *id);
int  pdb_id_cmp(const pdb_id_t *a, const pdb_id_t *b);

#endif
