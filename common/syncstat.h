/*  syncstat.h - the syncer's volatile status file: DATA/sync-status.mpk.

    What the syncer knows about its peers right now (state, errors, lag,
    snapshot progress) changes many times a second and is worthless after
    a restart, so it stays out of storage's durable path: a storage commit
    costs an fsync that every writer of the node waits behind. The syncer
    writes the whole document to a temporary file and renames it over this
    one, without fsync: readers (gateways, tools) always see one complete
    document, old or new. After a power loss the file may be empty or
    garbage; readers treat a document that does not decode as absent and
    the syncer writes a fresh one within a second of starting.

    Durable peer facts (cursors, instance_id, cursor_filter, last_seen_ms
    for compaction) stay in the peers database, written through storage.

    Document (MessagePack):
      { "written_ms": wall ms of this write, "pid": syncer pid,
        "peers": { NAME: { field: scalar, ... }, ... } }
    Peer fields: see services/syncer/peer.h.
*/
#ifndef PDB_SYNCSTAT_H
#define PDB_SYNCSTAT_H

#include <stddef.h>

#define SYNCSTAT_FILE "sync-status.mpk"
#define SYNCSTAT_MAX_BYTES (4u << 20)   // 4 MiB: 256 peers of ~1 KiB each, with room to spare

//  Replaces DATA/sync-status.mpk with data (len bytes) atomically (rename),
//  without fsync. Returns 0, PDB_ETOOBIG or -errno.
int syncstat_write(const char *data_dir, const void *data, size_t len);

//  Reads the whole file into *data (caller frees with free()). Returns 0,
//  PDB_ENOTFOUND when there is none, PDB_ETOOBIG or -errno.
int syncstat_read(const char *data_dir, void **data, size_t *len);

//  Removes the file (the syncer stopped: nothing in it is current any
//  more). A missing file is not an error. Returns 0 or -errno.
int syncstat_remove(const char *data_dir);

#endif
