#include "ack.h"
#include "sproto.h"

#include <stdbool.h>
#include <string.h>

void
ack_summarize(const uint64_t *seqs, const int *results, size_t n, ack_t *out)
{
    memset(out, 0, sizeof *out);
    out->safe_through = n > 0 ? seqs[0] - 1 : 0;
    bool held = false;
    for (size_t i = 0; i < n; i++) {
        if (results[i] == SPROTO_APPLIED)
            out->accepted++;
        else if (results[i] == SPROTO_KNOWN)
            out->stale++;
        else {
            out->missing++;
            held = true;
        }
        //  Storage stops a batch at its first missing dependency, so nothing
        //  after it counts as safe even if a result says otherwise.
        if (!held)
            out->safe_through = seqs[i];
    }
}
