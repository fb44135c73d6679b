/*  page.h - one page of changes read from this node's WAL: what a pull
    reply carries (server side) and what a push sends (client side).

    The page starts after `cursor` and skips changes the receiver already
    has (its version vector covers them: no echo, no duplicate through a
    second path), snapshot states installed from the receiver itself (their
    source mark names it: it holds them already) and changes outside the
    collective filter. Over an unfiltered link, a whole copy that does not
    continue the receiver's sequence of its origin (the receiver's vector,
    followed through the page) is sent re-encoded as a partial copy: the
    receiver holds back whole copies with a gap, and this log may not hold
    what is in between (docs/sync-protocol.md, "Origin sequences"). It stops at
    max_changes, before max_bytes, after PAGE_EXAMINE_MAX entries, or at
    the end of the WAL. next_cursor is the last seq examined, skipped ones
    included, so a page whose changes were all filtered out still advances.
*/
#ifndef PDB_SYNCER_PAGE_H
#define PDB_SYNCER_PAGE_H

#include "store.h"
#include "sync_msg.h"
#include "vv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  WAL entries one page may examine: bounds the read transaction when a
//  filter or the vector skips nearly everything.
#define PAGE_EXAMINE_MAX 100000u
//  Bytes counted per change on top of its own: its bin header in the message.
#define PAGE_BLOB_OVERHEAD 5u

typedef struct {
    uint64_t cursor;             // the receiver has everything up to here
    size_t max_changes;          // >= 1
    size_t max_bytes;            // of changes, each counted with PAGE_BLOB_OVERHEAD
    const vv_t *vector;          // the receiver's vector (NULL: empty)
    const pdb_id_t *receiver;    // the receiver's instance (NULL: unknown)
    const pdb_id_t *filter;      // collectives to send (NULL / 0: all)
    size_t filter_n;
} page_req_t;

typedef struct {
    sync_blob_t *changes;        // owned array; bytes borrowed from the txn,
                                 // or from owned
    uint8_t **owned;             // changes re-encoded as partial copies
    size_t owned_n;
    size_t n;
    size_t bytes;                // counted as for max_bytes
    uint64_t next_cursor;        // last seq examined (cursor when none)
    bool has_more;               // entries after next_cursor exist
    uint64_t head, floor;        // this node's WAL, in the same txn
    uint64_t big_seq;            // PDB_ETOOBIG: the change that does not fit
    size_t big_len;
} page_t;

//  Builds a page in txn; the changes are valid until txn ends (and the
//  page is released). Returns 0,
//  PDB_ENOTFOUND when cursor + 1 < floor (those changes were compacted
//  away: the receiver needs a snapshot), PDB_ETOOBIG when the first change
//  to send is alone over max_bytes (big_seq/big_len name it; it is never
//  skipped), PDB_ECORRUPT for an undecodable entry, or a store error.
//  Release with page_release whatever it returns.
int page_build(store_t *store, MDB_txn *txn, const page_req_t *req, page_t *out);

void page_release(page_t *page);

#endif
