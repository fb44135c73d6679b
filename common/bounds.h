/*  bounds.h - every size PulseDB-C accepts from outside, in one place.
    Anything over one of these is refused with PDB_ETOOBIG or PDB_EINVAL.
*/
#ifndef PDB_BOUNDS_H
#define PDB_BOUNDS_H

#define PDB_NAME_MAX          128u          // collective name, owner: bytes
#define PDB_DIM_MAX           4096u         // embedding dimensions
#define PDB_CONTENT_MAX       (64u << 10)   // experience/insight content: 64 KiB
#define PDB_STR_MAX           4096u         // any other string field: bytes
#define PDB_DOMAIN_MAX        32u           // strings in a domain list
#define PDB_LIST_MAX          256u          // related_files, source ids
#define PDB_MAP_MAX           64u           // entries in tags / metadata
#define PDB_COUNTER_MAX       1024u         // instances in an applications counter
#define PDB_CHANGE_MAX        (512u << 10)  // one encoded change's fields: 512 KiB
#define PDB_MSG_MAX           (32u << 20)   // one storage-socket frame: 32 MiB
#define PDB_BATCH_MAX         10000u        // changes in one apply batch
#define PDB_MPK_DEPTH_MAX     8u            // MessagePack nesting we ever produce
#define PDB_MPK_OBJECTS_MAX   (1u << 20)    // objects in one decoded message
#define PDB_HTTP_BODY_MAX     (1u << 20)    // one JSON request body: 1 MiB
#define PDB_PAGE_MAX          1000u         // items in one list page
#define PDB_WRITE_BATCH_MAX   1000u         // creates in one batch write (one commit)
#define PDB_SEARCH_K_MAX      1000u         // results of one search
#define PDB_HLC_DRIFT_MAX_MS  (24ull * 3600 * 1000)  // a remote clock this far ahead is refused:
                                                      // it would drag every stamp with it

#endif
