/*  fuzz_chead.c - the syncer's envelope reader (services/syncer/chead.c)
    against change_decode (common/change.c) on the same bytes: the syncer
    routes, counts and acknowledges by what chead_read says, storage applies
    by what change_decode says, so both must accept or both refuse, and
    agree on every envelope field when they accept.
*/
#include "chead.h"
#include "change.h"
#include "fuzz_check.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void
s_compare(const change_t *c, const chead_t *h)
{
    if (c->seq != h->seq)
        FUZZ_FAIL("seq: change_decode %llu, chead_read %llu", (unsigned long long) c->seq,
                  (unsigned long long) h->seq);
    if (c->origin_seq != h->origin_seq)
        FUZZ_FAIL("origin_seq: change_decode %llu, chead_read %llu",
                  (unsigned long long) c->origin_seq, (unsigned long long) h->origin_seq);
    if (pdb_id_cmp(&c->origin, &h->origin) != 0)
        FUZZ_FAIL("origin differs");
    if (pdb_id_cmp(&c->collective_id, &h->collective) != 0)
        FUZZ_FAIL("collective differs");
    if (c->partial != h->partial)
        FUZZ_FAIL("partial: change_decode %d, chead_read %d", c->partial, h->partial);
    if (pdb_id_cmp(&c->source, &h->source) != 0)
        FUZZ_FAIL("source differs");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    change_t c;
    chead_t h;
    int full = change_decode(data, len, &c);
    int head = chead_read(data, len, &h);
    if (full == -ENOMEM)
        return 0;
    if ((full == 0) != (head == 0))
        FUZZ_FAIL("change_decode rc=%d but chead_read rc=%d on %zu bytes", full, head, len);
    if (full == 0)
        s_compare(&c, &h);
    return 0;
}
