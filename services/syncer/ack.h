/*  ack.h - what a push reply says about a batch, from storage's per-change
    apply results: counts, and safe_through, the highest seq at or below
    which every change of the batch was applied or already known. A missing
    dependency stops it: that change and everything after it are sent again.
*/
#ifndef PDB_SYNCER_ACK_H
#define PDB_SYNCER_ACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t accepted;       // changed something here (SPROTO_APPLIED)
    uint64_t stale;          // already known or dominated (SPROTO_KNOWN)
    uint64_t missing;        // held back (PDB_EMISSINGDEP or any other refusal)
    uint64_t safe_through;
} ack_t;

//  seqs[i] is the sender's seq of change i (strictly increasing), results[i]
//  storage's result for it. With n == 0, or when the first change is held
//  back, safe_through is seqs[0] - 1 (0 for an empty batch): nothing of the
//  batch is safe, and the caller never moves backwards anyway.
void ack_summarize(const uint64_t *seqs, const int *results, size_t n, ack_t *out);

#endif
