/*  sstats.h - storage's own counters for /metrics: asks storage ("stats")
    at scrape time and reads the answer into a metrics_storage_t.
*/
#ifndef GW_SSTATS_H
#define GW_SSTATS_H

#include "metrics.h"
#include "smux.h"

//  Fills *out; out->up is false (and the rest zero) when storage did not
//  answer or answered something unreadable, which is logged.
void sstats_fetch(smux_t *mux, metrics_storage_t *out);

#endif
