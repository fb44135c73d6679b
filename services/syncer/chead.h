/*  chead.h - the envelope of one encoded change (common/change.h):
    [seq, origin, origin_seq, hlc, entity, op, collective_id, entity_id, fields
     (, partial(, source))]
    read without unpacking it (nothing is allocated), so the syncer can
    route every op (snapshot STATE changes included) cheaply. It accepts
    exactly the bytes change_decode accepts, so what the syncer routes and
    acknowledges is what storage applies; the fields' contents are checked
    against the entity tables by storage, as for change_decode.
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

//  Reads the envelope of data (len bytes). Returns 0, or PDB_EINVAL when
//  change_decode would refuse the same bytes: not a 9-, 10- or 11-item
//  array of those types (10th a boolean, 11th a non-nil id), trailing
//  bytes, origin_seq or hlc 0, a nil id, an unknown entity or op, or
//  fields that are not one well-formed map within PDB_CHANGE_MAX.
int chead_read(const void *data, size_t len, chead_t *out);

#endif
