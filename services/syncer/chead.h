/*  chead.h - the envelope of one encoded change (common/change.h):
    [seq, origin, origin_seq, hlc, entity, op, collective_id, entity_id, fields
     (, partial(, source))]
    read without decoding or checking the fields, so the syncer can route
    every op (snapshot STATE changes included) without knowing it. Storage
    checks the rest before applying anything.
*/
#ifndef PDB_SYNCER_CHEAD_H
#define PDB_SYNCER_CHEAD_H

#include "id.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t seq;              // position in the sender's WAL
    pdb_id_t origin;
    uint64_t origin_seq;
    uint64_t hlc;              // the version stamp (hlc.h): wall ms when written at its origin
    pdb_id_t collective;
    bool partial;              // the 10th item, the partial mark (change.h)
    pdb_id_t source;           // the 11th, a snapshot state's source (nil: none)
} chead_t;

//  Reads the envelope of data (len bytes). Returns 0, or PDB_EINVAL when it
//  is not a 9-item array starting with those types, a 10-item one whose
//  10th item is a boolean, or an 11-item one whose 10th is a boolean and
//  11th a non-nil id, or origin_seq is 0.
int chead_read(const void *data, size_t len, chead_t *out);

#endif
