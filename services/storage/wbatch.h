/*  wbatch.h - "write_batch": many creates of one collective in one request,
    one transaction and so one durable commit. Each item is a local write
    (local.h) with every check a single write gets; the first item refused
    refuses the request, and the caller's (nested) transaction is aborted,
    so a batch is written whole or not at all.
*/
#ifndef PDB_WBATCH_H
#define PDB_WBATCH_H

#include "ingest.h"
#include "mpk.h"

#include <stdint.h>

//  Message prefix naming the refused item: "item 3: field 'content' ...".
#define WBATCH_ITEM_PREFIX "item "

//  args: [entity, collective_id, [bin(fields map), ...]] with 1 to
//  PDB_WRITE_BATCH_MAX items; entity an experience, relation or insight.
//  Packs [[entity_id, ...], last_seq] into out. Returns 0, PDB_EINVAL /
//  PDB_ETOOBIG for malformed arguments, or the first refused item's code
//  (PDB_EINVAL, PDB_ENOTFOUND, ...) with why "item N: ..." (N from 0); on
//  any error the caller aborts txn.
int wbatch_run(const ingest_t *ingest, MDB_txn *txn, const msgpack_object *args,
               uint64_t wall_ms, mpk_out_t *out, char why[PDB_ERRMSG_MAX]);

#endif
