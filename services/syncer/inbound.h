/*  inbound.h - what each inbound peer (an instance pulling from this node)
    last pulled, kept in the peers database under "in:<uuid>" with fields
    instance_id, pulled_through (the cursor its last pull or snapshot
    started from: it has applied everything up to there) and last_seen_ms.
    Compaction keeps the WAL above the lowest live pulled_through.

    Writes are throttled (each is a storage commit): a moved cursor is
    written at most every INBOUND_WRITE_MS, an unchanged one refreshed every
    INBOUND_REFRESH_MS. A stale row only holds more WAL, never less.
*/
#ifndef PDB_SYNCER_INBOUND_H
#define PDB_SYNCER_INBOUND_H

#include "id.h"
#include "sclient.h"

#include <stdbool.h>
#include <stdint.h>

#define INBOUND_MAX 4096
#define INBOUND_WRITE_MS 1000
#define INBOUND_REFRESH_MS 60000

typedef struct inbound inbound_t;

inbound_t *inbound_new(void);
void inbound_destroy(inbound_t **self_p);

//  instance pulled from cursor (now: monotonic and wall milliseconds).
void inbound_note(inbound_t *self, const pdb_id_t *instance, uint64_t cursor,
                  uint64_t mono_ms, uint64_t wall_ms);

//  Writes the rows that are due (all pending ones with force). With wait
//  false the writes are sent without waiting for storage (sops_peer_set_send:
//  the caller serves peers and drops the replies), and count as written
//  once sent: one lost with a storage restart only holds more WAL until the
//  next. Returns how many were written (or sent).
unsigned inbound_flush(inbound_t *self, sclient_t *storage, uint64_t mono_ms, bool force,
                       bool wait);

#endif
