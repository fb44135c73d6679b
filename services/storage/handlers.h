/*  handlers.h - the storage socket's operations (common/sproto.h): decodes
    a request, runs it inside the group's write transaction, packs the
    result. Every argument is validated before anything is written.
*/
#ifndef PDB_HANDLERS_H
#define PDB_HANDLERS_H

#include "ingest.h"
#include "mpk.h"
#include "stats.h"


typedef struct {
    ingest_t ingest;
    storage_stats_t *stats;
    uint64_t wall_ms;        // one clock reading per group
} handlers_ctx_t;

typedef struct {
    uint64_t request_id;
    const char *op;
    size_t op_len;
    const msgpack_object *args;
} handlers_request_t;

//  Decodes the envelope into req (pointing into u, which the caller
//  destroys when the return is 0). Returns 0 or PDB_EPROTO with why.
int handlers_parse(const void *data, size_t len, msgpack_unpacked *u, handlers_request_t *req,
                   char why[PDB_ERRMSG_MAX]);

//  True for operations that never write (answered without a transaction).
bool handlers_is_read(const handlers_request_t *req);

//  Runs req in txn (NULL for reads), packing its result into out.
//  Returns 0 or a PDB_* code with why filled; the caller aborts txn then.
int handlers_run(const handlers_ctx_t *ctx, MDB_txn *txn, const handlers_request_t *req,
                 mpk_out_t *out, char why[PDB_ERRMSG_MAX]);

#endif
