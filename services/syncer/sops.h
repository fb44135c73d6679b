/*  sops.h - the storage operations the syncer calls (common/sproto.h), each
    packing its arguments and reading its result. Every write of the syncer
    goes through these: storage is the only LMDB writer.
*/
#ifndef PDB_SYNCER_SOPS_H
#define PDB_SYNCER_SOPS_H

#include "err.h"
#include "mpk.h"
#include "sclient.h"
#include "sync_msg.h"
#include "vv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  One field of a peer_set map.
typedef enum { SOPS_U64, SOPS_STR, SOPS_ID } sops_kind_t;
typedef struct {
    const char *key;
    sops_kind_t kind;
    uint64_t u;
    const char *s;
    const pdb_id_t *id;          // SOPS_ID: packed as bin(16), like every id
} sops_kv_t;

#define SOPS_U(k, v) ((sops_kv_t) { (k), SOPS_U64, (v), NULL, NULL })
#define SOPS_S(k, v) ((sops_kv_t) { (k), SOPS_STR, 0, (v), NULL })
#define SOPS_ID(k, v) ((sops_kv_t) { (k), SOPS_ID, 0, NULL, (v) })

//  "apply" [peer, cursor, changes, partial?] (peer "" keeps no cursor).
//  partial: the changes came over a collective filter, so storage applies
//  them as partial copies (no version vector moves). results (n entries,
//  may be NULL when n == 0) get one code per change: SPROTO_APPLIED,
//  SPROTO_KNOWN or PDB_EMISSINGDEP; held (may be NULL) why the first held
//  back change was, when storage says ("" otherwise). Returns 0 or
//  storage's code with why (PDB_EUNAVAIL when storage did not answer).
int sops_apply(sclient_t *storage, const char *peer, uint64_t cursor,
               const sync_blob_t *changes, size_t n, bool partial, int *results,
               uint64_t *head, char held[PDB_ERRMSG_MAX], char why[PDB_ERRMSG_MAX]);

//  The halves of sops_apply, for a caller that sends the request itself
//  (sclient_send): packs the args into args (initialised here; release
//  it), and reads a result (the sclient_recv result) into results/head.
//  Returns 0, or -ENOMEM / PDB_EPROTO (why filled).
int sops_apply_pack(mpk_out_t *args, const char *peer, uint64_t cursor,
                    const sync_blob_t *changes, size_t n, bool partial);
int sops_apply_result(const void *result, size_t len, int *results, size_t n, uint64_t *head,
                      char held[PDB_ERRMSG_MAX], char why[PDB_ERRMSG_MAX]);

//  "peer_set" [peer, {fields}]: merges the fields into the peer's row.
int sops_peer_set(sclient_t *storage, const char *peer, const sops_kv_t *kv, size_t n,
                  char why[PDB_ERRMSG_MAX]);

//  "peer_set" sent without waiting (sclient_send): for a caller that must
//  not block on storage and can afford to lose the write (its reply, when
//  it comes, is the caller's to drop). Returns 0 once sent, or a code with why.
int sops_peer_set_send(sclient_t *storage, const char *peer, const sops_kv_t *kv, size_t n,
                       char why[PDB_ERRMSG_MAX]);

//  "peer_set" with an already packed map (n_fields entries in map bytes).
int sops_peer_set_packed(sclient_t *storage, const char *peer, const void *map, size_t len,
                         char why[PDB_ERRMSG_MAX]);

//  "peer_del" [peer]: forgets the row and its cursors.
int sops_peer_del(sclient_t *storage, const char *peer, char why[PDB_ERRMSG_MAX]);

//  "install" [peer, entities, done, snapshot_seq, vector, source] ->
//  installed. source: the snapshot's responder, whose instance the
//  installed states' WAL records name so they never go back to it.
int sops_install(sclient_t *storage, const char *peer, const sync_blob_t *entities, size_t n,
                 bool done, uint64_t snapshot_seq, const vv_entry_t *vector, size_t vector_n,
                 const pdb_id_t *source, uint64_t *installed, char why[PDB_ERRMSG_MAX]);

//  "compact" [below_seq, max_entries] -> deleted, floor.
int sops_compact(sclient_t *storage, uint64_t below_seq, uint64_t max_entries,
                 uint64_t *deleted, uint64_t *floor, char why[PDB_ERRMSG_MAX]);

//  "purge" [older_than_ms, max_entries] -> purged.
int sops_purge(sclient_t *storage, uint64_t older_than_ms, uint64_t max_entries,
               uint64_t *purged, char why[PDB_ERRMSG_MAX]);

#endif
