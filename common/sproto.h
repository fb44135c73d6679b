/*  sproto.h - the storage socket's requests and replies (MessagePack).

    request:  [version, request_id, op, args]     args is an array
    reply:    [request_id, rc, message, result]   rc 0 or a PDB_* code

    A message carries 1 to SPROTO_FRAMES_MAX requests, one per frame. They
    are served as if each had come alone (in order, each in its own nested
    transaction of the group commit), and their replies come back as one
    message, one frame per request, in the same order. A gateway sends the
    writes of its many workers this way: one message per burst instead of
    one per request on both sides of the socket.

    ops and their args -> result:
      "write"     [entity, op, collective_id|nil, entity_id|nil, bin(fields map), record?]
                  -> [entity_id, seq]     a create with entity_id nil gets a new id;
                                          an update/delete may leave collective_id nil;
                     record (bool, default false) on a create: the reply is
                     [entity_id, seq, bin(record)], the record as stored (a map of
                     every field but the embedding), so the caller can show the
                     new entity without reading it back
      "reinforce" [experience_id] -> [experience_id, seq]
      "write_batch" [entity, collective_id, [bin(fields map), ...]]
                  -> [[entity_id, ...], last_seq]   1..PDB_WRITE_BATCH_MAX creates of
                     experiences, relations or insights into one collective, each
                     as "write" would make it, in order, all or none: the first
                     item refused refuses the request, with a message that starts
                     "item N: " (N from 0)
      "apply"     [peer_name, peer_cursor, [bin(change), ...], partial?]
                  -> [[result per change], wal_head, held?]   result: 0 applied, 1
                     already known or dominated, <0 PDB_* code (PDB_EMISSINGDEP: retry
                     later); held (str): why the first held-back change was, when
                     storage knows (a whole copy skipping ahead in its origin's sequence);
                     the peer's pull cursor is set to peer_cursor in the same commit
                     (never lowered; "" peer name: no cursor). partial (bool,
                     default false): the batch came over a collective filter;
                     its changes, like any carrying the partial mark
                     (change.h), are applied and logged with the mark but
                     raise no version vector entry
      "peer_set"  [peer_name, map of peer state fields] -> nil
      "peer_del"  [peer_name] -> nil            forgets a peer and its cursors
                     (an unknown peer is not an error)
      "install"   [peer_name, [bin(state change), ...], done, snapshot_seq, vector]
                  -> [installed, wal_head]  merges snapshot entities (op OP_STATE,
                     see snapshot.h), in page order; installed counts those that
                     changed anything, which are appended to the WAL as this
                     node's own STATE changes so they relay. Every entity is
                     checked first: one malformed entity (or a non-STATE change)
                     refuses the request whole (PDB_EINVAL). An entity whose
                     collective (or relation endpoint) is neither here nor earlier
                     in the pages refuses it too (PDB_EMISSINGDEP): nothing is
                     written, the snapshot is not complete. When done: the peer's
                     pull cursor is raised to snapshot_seq ("" peer name: no
                     cursor) and this node's vector to `vector` ({bin origin:
                     seq}; this node's own entry is left alone), in the same commit.
      "compact"   [below_seq, max_entries] -> [deleted, floor]   deletes WAL
                     entries with seq < below_seq (never past the head, which
                     stays in meta), oldest first, at most max_entries per call
                     (and at most 100,000); floor: first seq still held (head + 1
                     when empty). Calling again once done deletes 0.
      "purge"     [older_than_ms, max_entries] -> [purged]   drops tombstones
                     whose hlc wall time is older than older_than_ms, at most
                     max_entries per call (and at most 100,000)
      "stats"     [] -> map of counters
      "ping"      [] -> nil

    The search socket (ipc://DATA/search.sock, storage's search thread,
    services/storage/annsvc.h) takes the same envelope:
      "ann_search" [collective_id, bin(query: dim little-endian float32), k, ef]
                  -> [state, [[experience_id, score, loc?], ...]]   state "ready":
                     the collective's approximate index, caught up with the WAL as
                     it was when the request arrived, gave its k best (k 1..1000, ef
                     0..ANN_EF_MAX, 0 for the ef its recall measurement chose;
                     score the cosine), best first, each with where its vector is
                     when known (loc: block number << 32 | slot, vecblock.h); else
                     no hits, scan exactly:
                     "small" (below the size threshold, or no such collective),
                     "building" (built or measured in the background now),
                     "behind" (too far behind the WAL to catch up at once) or
                     "scan" (its recall is below the target at every ef, and the
                     request named none)
      "ann_status" [] -> [[collective_id, state, vectors, covered_seq, build_total,
                     ef, recall, removed, rebuilds, rebuild], ...]   one per index
                     held; state "building", "measuring", "ready" or "scan";
                     removed: deleted vectors its graph still holds; rebuilds:
                     how many times a rebuild replaced it since storage started;
                     rebuild: nil, or the one being built to replace it
                     [state ("building", "measuring", "ready"), vectors,
                     build_total] (services/storage/annrebuild.h)
*/
#ifndef PDB_SPROTO_H
#define PDB_SPROTO_H

#include "mpk.h"

#include <stdint.h>

#define SPROTO_VERSION 1u
#define SPROTO_SOCKET "storage.sock"       // ipc endpoint inside the data folder
#define SPROTO_EVENTS "storage-events.sock" // PUB: "wal <seq>" after each commit
#define SPROTO_SEARCH "search.sock"         // the search thread's ROUTER
#define SPROTO_FRAMES_MAX 64             // requests in one message
#define SPROTO_APPLIED 0
#define SPROTO_KNOWN 1

//  Packs a whole request; args_packed is a MessagePack array (or NULL: []).
void sproto_pack_request(msgpack_packer *pk, uint64_t request_id, const char *op,
                         const void *args_packed, size_t args_len);

//  Packs a reply; result_packed NULL packs nil.
void sproto_pack_reply(msgpack_packer *pk, uint64_t request_id, int rc, const char *message,
                       const void *result_packed, size_t result_len);

#endif
