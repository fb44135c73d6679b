/*  progress.h - progress of a long job (an import): a bar redrawn in place
    on a terminal, and the tenths reached, for one log line per 10% when the
    output is not a terminal. Pure formatting: the caller passes the clock.
*/
#ifndef PDB_PROGRESS_H
#define PDB_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#define PROGRESS_BAR_WIDTH 30        // characters of the [####....] part

//  "[#########.....................]  3000/10000  30%  1500/s  ETA 5s  failed 2"
//  total 0 means unknown: no bar, percentage or ETA. "failed" only when > 0.
void progress_line(char *out, size_t out_len, uint64_t done, uint64_t total, uint64_t failed,
                   uint64_t elapsed_ms);

//  How many tenths of total are done (0..10); 0 when total is 0.
unsigned progress_tenth(uint64_t done, uint64_t total);

//  A duration for people: "42s", "3m05s", "2h10m".
void progress_duration(char *out, size_t out_len, uint64_t seconds);

//  Items per second so far (0 before any time has passed).
double progress_rate(uint64_t done, uint64_t elapsed_ms);

#endif
