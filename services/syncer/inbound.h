/*  inbound.h - what each inbound peer (an instance calling this node)
    last pulled, kept in the peers database under "in:<uuid>" with fields
    instance_id, pulled_through (the cursor its last pull or snapshot
    started from: it has applied everything up to there), last_seen_ms,
    pushed (1 once a push of it was taken) and, when requests of it were
    refused, refused (how many, since this syncer started), last_refused_ms
    and last_refusal (the error's detail). Compaction keeps the WAL above
    the lowest live pulled_through of those that pushed or are configured
    peers here (compact.h): an id made up for one pull holds nothing.

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
#define INBOUND_REFUSAL_MAX 200      // bytes of a refusal's detail kept
#define INBOUND_ROW_FIELDS 7

typedef struct inbound inbound_t;

inbound_t *inbound_new(void);
void inbound_destroy(inbound_t **self_p);

//  instance pulled from cursor (now: monotonic and wall milliseconds).
void inbound_note(inbound_t *self, const pdb_id_t *instance, uint64_t cursor,
                  uint64_t mono_ms, uint64_t wall_ms);

//  A push of instance was taken (applied or known): its cursor may hold
//  the WAL from now on.
void inbound_pushed(inbound_t *self, const pdb_id_t *instance, uint64_t mono_ms,
                    uint64_t wall_ms);

//  A request of instance was refused with detail: counted, shown in status.
//  Returns how many of its requests were refused so far.
uint64_t inbound_refused(inbound_t *self, const pdb_id_t *instance, const char *detail,
                     uint64_t mono_ms, uint64_t wall_ms);

//  Writes the rows that are due (all pending ones with force). With wait
//  false the writes are sent without waiting for storage (sops_peer_set_send:
//  the caller serves peers and drops the replies), and count as written
//  once sent: one lost with a storage restart only holds more WAL until the
//  next. Returns how many were written (or sent).
unsigned inbound_flush(inbound_t *self, sclient_t *storage, uint64_t mono_ms, bool force,
                       bool wait);

#endif
