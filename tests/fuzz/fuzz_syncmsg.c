/*  fuzz_sync_msg.c - one sync protocol message (common/sync_msg.h), the
    bytes a peer sends over ZeroMQ or HTTP: sync_msg_decode, then every
    change it carries (push, pull_ok, snapshot_ok) through change_decode and
    the field checks (fuzz_check.h). A decoded message packs to bytes that
    decode to a message packing to the same bytes.
*/
#include "err.h"
#include "fuzz_check.h"
#include "mpk.h"
#include "sync_msg.h"

#include <errno.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

//  Packs msg into out (initialised here); aborts when packing failed.
static void
s_pack(const sync_msg_t *msg, mpk_out_t *out)
{
    mpk_out_init(out);
    sync_msg_pack(&out->pk, msg);
    if (mpk_out_status(out) != 0)
        FUZZ_FAIL("out of memory packing a message");
}

static void
s_check_repack(const sync_msg_t *msg)
{
    mpk_out_t first, second;
    s_pack(msg, &first);
    sync_msg_t again;
    char why[PDB_ERRMSG_MAX] = "";
    int rc = sync_msg_decode(first.buf.data, first.buf.size, &again, why);
    if (rc)
        FUZZ_FAIL("a decoded %s packs to bytes sync_msg_decode refuses: %s",
                  sync_msg_op_name(msg->op), why);
    s_pack(&again, &second);
    if (first.buf.size != second.buf.size
        || memcmp(first.buf.data, second.buf.data, first.buf.size) != 0)
        FUZZ_FAIL("a decoded %s does not pack the same way twice", sync_msg_op_name(msg->op));
    sync_msg_release(&again);
    mpk_out_release(&first);
    mpk_out_release(&second);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    sync_msg_t msg;
    char why[PDB_ERRMSG_MAX] = "";
    int rc = sync_msg_decode(data, len, &msg, why);
    if (rc) {
        if ((rc == PDB_EINVAL || rc == PDB_ETOOBIG || rc == PDB_EPROTO) && why[0] == '\0')
            FUZZ_FAIL("sync_msg_decode refused (rc=%d) without a reason", rc);
        return 0;
    }
    for (size_t i = 0; i < msg.changes_n; i++)
        fuzz_check_change(msg.changes[i].data, msg.changes[i].len);
    s_check_repack(&msg);
    sync_msg_release(&msg);
    return 0;
}
