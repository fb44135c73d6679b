/*  peers.h - per-peer sync state in the peers database: a MessagePack map
    (instance_id, pull_cursor, push_acked, last_seen_ms, conflicts, ...; the
    syncer keeps its volatile status in its own file, common/syncstat.h)
    under the peer's name. Cursors in it never move backwards.
*/
#ifndef PDB_PEERS_H
#define PDB_PEERS_H

#include "store.h"

#include <msgpack.h>

#define PEERS_NAME_MAX 128u
#define PEERS_FIELDS_MAX 32u   // fields in one peer row (and in one update), both cursors included

//  "peer_set" [name, map]: merges the map into the peer's state. Returns 0,
//  or PDB_EINVAL / PDB_ETOOBIG (row would exceed PEERS_FIELDS_MAX) with why.
int peers_set(store_t *store, MDB_txn *txn, const msgpack_object *args,
              char why[PDB_ERRMSG_MAX]);

//  "peer_del" [name]: forgets the peer's row, cursors included. Deleting a
//  peer that is not there is not an error. Returns 0 or PDB_EINVAL with why.
int peers_del(store_t *store, MDB_txn *txn, const msgpack_object *args,
              char why[PDB_ERRMSG_MAX]);

//  Raises the peer's pull_cursor to cursor (a lower value changes nothing).
int peers_raise_cursor(store_t *store, MDB_txn *txn, const char *name, size_t name_len,
                       uint64_t cursor);

//  Adds n to the peer's "conflicts" count (writes its peer discarded here).
int peers_add_conflicts(store_t *store, MDB_txn *txn, const char *name, size_t name_len,
                        uint64_t n);

//  Checks a peer name: 1..PEERS_NAME_MAX bytes of UTF-8.
bool peers_name_valid(const char *name, size_t len);

#endif
