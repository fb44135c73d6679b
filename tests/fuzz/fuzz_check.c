#include "fuzz_check.h"
#include "change.h"
#include "entity.h"
#include "err.h"
#include "ingest.h"
#include "mpk.h"
#include "state.h"

#include <errno.h>
#include <string.h>

//  Embedding sizes the field checks run with: "not known" and a real one.
static const uint32_t s_dims[] = { 0, 3 };
#define S_DIMS_N (sizeof s_dims / sizeof s_dims[0])

static bool
s_same_change(const change_t *a, const change_t *b)
{
    return a->seq == b->seq && pdb_id_cmp(&a->origin, &b->origin) == 0
        && a->origin_seq == b->origin_seq && a->hlc == b->hlc && a->entity == b->entity
        && a->op == b->op && pdb_id_cmp(&a->collective_id, &b->collective_id) == 0
        && pdb_id_cmp(&a->entity_id, &b->entity_id) == 0 && a->fields_len == b->fields_len
        && memcmp(a->fields, b->fields, a->fields_len) == 0 && a->partial == b->partial
        && pdb_id_cmp(&a->source, &b->source) == 0;
}

//  What change_pack writes, change_decode reads back unchanged.
static void
s_check_repack(const change_t *c)
{
    mpk_out_t out;
    mpk_out_init(&out);
    change_pack(&out.pk, c);
    change_t again;
    int rc = mpk_out_status(&out);
    if (rc == 0 && change_decode(out.buf.data, out.buf.size, &again) != 0)
        FUZZ_FAIL("a decoded change packs to bytes change_decode refuses");
    if (rc == 0 && !s_same_change(c, &again))
        FUZZ_FAIL("a decoded change packs to bytes that decode to another change");
    mpk_out_release(&out);
}

//  A refusal always says why (the reason goes back to the writer).
static void
s_check_refusal(int rc, const char *why, const char *what)
{
    if ((rc == PDB_EINVAL || rc == PDB_ETOOBIG) && why[0] == '\0')
        FUZZ_FAIL("%s refused (rc=%d) without a reason", what, rc);
}

static void
s_check_state(const change_t *c, const msgpack_object *fields)
{
    char why[PDB_ERRMSG_MAX] = "";
    state_t st;
    int rc = state_read(c->entity, fields, &st, why);
    s_check_refusal(rc, why, "state_read");
    for (size_t i = 0; !rc && i < S_DIMS_N; i++) {
        why[0] = '\0';
        s_check_refusal(state_check(c->entity, &st, s_dims[i], why), why, "state_check");
    }
    uint64_t stamp;
    why[0] = '\0';
    s_check_refusal(ingest_stamp(c, &stamp, why), why, "ingest_stamp");
}

static void
s_check_fields(const change_t *c, const msgpack_object *fields)
{
    for (size_t i = 0; i < S_DIMS_N; i++) {
        for (int from_client = 0; from_client < 2; from_client++) {
            char why[PDB_ERRMSG_MAX] = "";
            int rc = entity_check(c->entity, c->op, fields, from_client, s_dims[i], why);
            s_check_refusal(rc, why, "entity_check");
        }
    }
}

void
fuzz_check_change(const uint8_t *data, size_t len)
{
    change_t c;
    if (change_decode(data, len, &c) != 0)
        return;
    s_check_repack(&c);
    msgpack_unpacked u;
    int rc = mpk_parse(c.fields, c.fields_len, &u);
    if (rc == -ENOMEM)
        return;
    if (rc != 0)
        FUZZ_FAIL("change_decode accepted fields that do not parse");
    if ((int) c.op == OP_STATE)
        s_check_state(&c, &u.data);
    else
        s_check_fields(&c, &u.data);
    msgpack_unpacked_destroy(&u);
}
