/*  change.h - one entry of the change log (DESIGN.md section 4), and its
    MessagePack form, which is both what the WAL stores and what peers send:

    [seq, origin, origin_seq, hlc, entity, op, collective_id, entity_id, fields]
    [seq, origin, origin_seq, hlc, entity, op, collective_id, entity_id, fields, true]
    [seq, origin, origin_seq, hlc, entity, op, collective_id, entity_id, fields,
     partial, bin(source)]

    `fields` is itself a MessagePack map, carried as a bin so a change can be
    stored and forwarded without re-encoding it. The optional tenth element
    marks a partial copy (docs/sync-protocol.md, "Partial copies"): one that
    came over a collective-filtered link, so it says nothing about the other
    changes of its origin and must not raise a version vector. Records
    without it (all written before the mark existed) are whole copies.
    The optional eleventh names the source of a snapshot state this node
    installed ("Snapshot source"): that instance holds the state already, so
    it is never sent back there. It needs the tenth (a boolean) before it.
*/
#ifndef PDB_CHANGE_H
#define PDB_CHANGE_H

#include "entity.h"
#include "id.h"
#include "mpk.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t seq;              // position in the sender's WAL (0 before append)
    pdb_id_t origin;           // instance that made the change
    uint64_t origin_seq;       // the origin's own changes counted 1, 2, 3, ... (never 0)
    uint64_t hlc;              // hybrid logical clock stamp of the write
    ent_type_t entity;
    change_op_t op;            // or OP_STATE (entity.h)
    pdb_id_t collective_id;    // the collective itself for ENT_COLLECTIVE
    pdb_id_t entity_id;
    const uint8_t *fields;     // MessagePack map, borrowed
    size_t fields_len;
    bool partial;              // a partial copy: applied, but raises no vector
    pdb_id_t source;           // a snapshot state installed from this instance (nil: none)
} change_t;

//  Packs the change as one MessagePack array: 9 items, 10 when partial,
//  11 when it names a source.
void change_pack(msgpack_packer *pk, const change_t *change);

//  Reads an encoded change in place (data must outlive *out: `fields`
//  points into it), allocating nothing, so routing and acknowledging by it
//  is as cheap as applying by it. Checks shape and types (9 items, 10 with
//  the partial mark, a boolean, 11 with that and a source, a non-nil id),
//  enums (op is create, update, delete or OP_STATE), non-nil ids,
//  origin_seq != 0, hlc != 0, a collective's change naming it twice, and
//  that fields is one MessagePack map within PDB_CHANGE_MAX; it does not
//  check the fields against the entity tables (entity_check, or the state's
//  own checks). Returns 0 or PDB_EINVAL.
int change_decode(const void *data, size_t len, change_t *out);

//  The wall time (ms) of an encoded change's stamp; 0 when it does not read.
uint64_t change_wall_ms(const void *data, size_t len);

//  (hlc, origin) ordering: <0, 0, >0. The convergence rule's comparison.
int change_version_cmp(uint64_t hlc_a, const pdb_id_t *origin_a,
                       uint64_t hlc_b, const pdb_id_t *origin_b);

#endif
