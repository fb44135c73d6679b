/*  syncfmt.h - the cells of `pulsedb sync status` and `pulsedb peer list`,
    from the gateway's JSON (GET /v1/sync/status, /v1/sync/peers). Pure
    functions: the caller passes the clock, so tests need no server. A
    missing or null value prints as "-".
*/
#ifndef PDB_SYNCFMT_H
#define PDB_SYNCFMT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SYNCFMT_CELL_MAX 96       // bytes of one cell, NUL included
#define SYNCFMT_ERROR_SHOWN 48    // characters of an error shown in the table

//  A whole number, or "-".
void syncfmt_count(char *out, size_t len, const json_t *value);

//  How long ago a wall-clock time in ms was: "12s ago", "3m05s ago";
//  "just now" for times at or after now_ms; "-" when missing.
void syncfmt_age(char *out, size_t len, const json_t *ms, uint64_t now_ms);

//  Snapshot progress {done, total, bytes, rate, eta_ms}:
//  "50/200 (25%) 25/s ETA 6s"; without a total "50 done 25/s"; "-" for null.
void syncfmt_snapshot(char *out, size_t len, const json_t *snapshot);

//  The current error with the consecutive failures: "connection refused
//  (4 failures)", cut to SYNCFMT_ERROR_SHOWN characters; "-" when there is
//  none.
void syncfmt_error(char *out, size_t len, const json_t *error, const json_t *failures);

//  A past error (the peer works again) as history: "none (last 3m05s ago:
//  connection refused)", the error cut to SYNCFMT_ERROR_SHOWN characters;
//  "-" when it never failed.
void syncfmt_past_error(char *out, size_t len, const json_t *error, const json_t *at_ms,
                        uint64_t now_ms);

//  A peer's collective filter: "all" for none (or an empty list), the id
//  for one, "N collectives" for more.
void syncfmt_collectives(char *out, size_t len, const json_t *list);

//  The longest "name" member of the objects in list, at least min_width.
int syncfmt_name_width(const json_t *list, const char *member, int min_width, int max_width);

#endif
