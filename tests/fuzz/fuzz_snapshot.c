/*  fuzz_snapshot.c - the snapshot page reader: a peer's snapshot_ok message
    (common/sync_msg.h) installed into a real store the way the syncer hands
    it to storage ("install", services/storage/install.h): every entity
    decoded (change_decode), read and checked as a whole-entity state
    (common/state.c), then merged, in a write transaction that is
    aborted after each input so every input meets the same empty store.
*/
#include "clock.h"
#include "err.h"
#include "fuzz_check.h"
#include "ingest.h"
#include "install.h"
#include "mpk.h"
#include "node.h"
#include "sync_msg.h"
#include "testkit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAP_SIZE (64ull << 20)   // 64 MiB: every transaction is aborted

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static char s_dir[256];
static node_t *s_node;
static ingest_t s_ingest;

static void
s_close(void)
{
    node_destroy(&s_node);
    testkit_rmdir(s_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    //  Under $TMPDIR: scripts/fuzz.sh gives each run a folder it removes,
    //  so a store left by a crashed run does not stay behind.
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(s_dir, sizeof s_dir, "%s/pdb_fuzz_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (n <= 0 || (size_t) n >= sizeof s_dir || !mkdtemp(s_dir))
        FUZZ_FAIL("cannot make a folder for the store under %s", tmp ? tmp : "/tmp");
    if (node_open(s_dir, FUZZ_MAP_SIZE, &s_node) != 0
        || mdb_env_set_flags(s_node->store->env, MDB_NOSYNC, 1) != 0)
        FUZZ_FAIL("cannot open a store in %s", s_dir);
    s_ingest = (ingest_t) { .store = s_node->store, .self = s_node->instance_id,
                            .hlc = &s_node->hlc };
    atexit(s_close);
    return 0;
}

//  The install arguments the syncer sends for this page (sops_install).
static void
s_pack_install(const sync_msg_t *msg, mpk_out_t *args)
{
    mpk_out_init(args);
    mpk_pack_array(&args->pk, 6);
    mpk_pack_str(&args->pk, "fuzz-peer");
    mpk_pack_array(&args->pk, msg->changes_n);
    for (size_t i = 0; i < msg->changes_n; i++)
        mpk_pack_bin(&args->pk, msg->changes[i].data, msg->changes[i].len);
    mpk_pack_bool(&args->pk, msg->done);
    mpk_pack_u64(&args->pk, msg->snapshot_seq);
    mpk_pack_map(&args->pk, msg->vector_n);
    for (size_t i = 0; i < msg->vector_n; i++) {
        mpk_pack_id(&args->pk, &msg->vector[i].origin);
        mpk_pack_u64(&args->pk, msg->vector[i].seq);
    }
    mpk_pack_id(&args->pk, &msg->from);
    if (mpk_out_status(args) != 0)
        FUZZ_FAIL("out of memory packing install arguments");
}

static void
s_install(const mpk_out_t *args)
{
    msgpack_unpacked u;
    if (mpk_parse(args->buf.data, args->buf.size, &u) != 0)
        return;                 // over a bound: storage refuses it before install
    MDB_txn *txn;
    if (mdb_txn_begin(s_node->store->env, NULL, 0, &txn) != 0)
        FUZZ_FAIL("cannot begin a write transaction");
    mpk_out_t out;
    mpk_out_init(&out);
    storage_stats_t stats = { 0 };
    char why[PDB_ERRMSG_MAX] = "";
    int rc = install_run(&s_ingest, txn, &u.data, clock_wall_ms(), &out, &stats, why);
    bool refused = rc == PDB_EINVAL || rc == PDB_ETOOBIG || rc == PDB_EMISSINGDEP;
    if (refused && why[0] == '\0')
        FUZZ_FAIL("install refused (rc=%d) without a reason", rc);
    mdb_txn_abort(txn);
    mpk_out_release(&out);
    msgpack_unpacked_destroy(&u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    sync_msg_t msg;
    char why[PDB_ERRMSG_MAX];
    if (sync_msg_decode(data, len, &msg, why) != 0)
        return 0;
    if (msg.op == SYNC_SNAPSHOT_OK) {
        mpk_out_t args;
        s_pack_install(&msg, &args);
        s_install(&args);
        mpk_out_release(&args);
    }
    sync_msg_release(&msg);
    return 0;
}
