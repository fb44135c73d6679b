#include "batch.h"
#include "bounds.h"
#include "log.h"
#include "peers.h"
#include "sproto.h"
#include "wal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  Sender sequences strictly increase; so does each origin's origin_seq
//  among whole copies. Partial copies are exempt: a node logs one when it
//  arrives, and may log the origin's earlier changes later, whole, from
//  another path.
static int
s_check_order(const change_t *changes, uint32_t n, uint64_t cursor, char *why)
{
    for (uint32_t i = 0; i < n; i++) {
        if (changes[i].seq == 0 || (i > 0 && changes[i].seq <= changes[i - 1].seq))
            return WHY(PDB_EINVAL, "change %u: sequences must strictly increase", i);
        for (uint32_t j = i; j-- > 0 && !changes[i].partial;) {
            if (!changes[j].partial && pdb_id_cmp(&changes[j].origin, &changes[i].origin) == 0) {
                if (changes[j].origin_seq >= changes[i].origin_seq)
                    return WHY(PDB_EINVAL, "change %u: origin sequences must increase", i);
                break;
            }
        }
    }
    if (n > 0 && cursor < changes[n - 1].seq)
        return WHY(PDB_EINVAL, "cursor %llu is behind the batch's last sequence %llu",
                   (unsigned long long) cursor, (unsigned long long) changes[n - 1].seq);
    return 0;
}

static int
s_decode_all(const msgpack_object *list, change_t *changes, char *why)
{
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const void *data;
        size_t len;
        if (mpk_get_bin(&list->via.array.ptr[i], &data, &len)
            || change_decode(data, len, &changes[i]))
            return WHY(PDB_EINVAL, "change %u is malformed", i);
    }
    return 0;
}

//  Ingests in order; returns the index of the first change held back on a
//  missing dependency (n when none; held gets its reason when it has one),
//  or a negative error.
static int64_t
s_ingest_all(const ingest_t *ingest, MDB_txn *txn, const change_t *changes, uint32_t n,
             int *results, storage_stats_t *stats, char held[PDB_ERRMSG_MAX], char *why)
{
    for (uint32_t i = 0; i < n; i++) {
        char detail[PDB_ERRMSG_MAX];
        int rc = ingest_remote(ingest, txn, &changes[i], detail);
        if (rc == PDB_EMISSINGDEP) {
            if (detail[0]) {
                snprintf(held, PDB_ERRMSG_MAX, "change seq %llu: %.200s",
                         (unsigned long long) changes[i].seq, detail);
                log_d("storage", "batch held back at %s", held);
            }
            for (uint32_t j = i; j < n; j++)
                results[j] = PDB_EMISSINGDEP;
            stats->missing += n - i;
            return i;
        }
        if (rc < 0)
            return WHY(rc, "change %u (seq %llu): %.180s", i,
                       (unsigned long long) changes[i].seq,
                       detail[0] ? detail : pdb_strerror(rc));
        results[i] = rc;
        if (rc == SPROTO_APPLIED)
            stats->applied++;
        else
            stats->known++;
    }
    return n;
}

static int
s_pack_result(store_t *store, MDB_txn *txn, const int *results, uint32_t n, const char *held,
              mpk_out_t *out)
{
    uint64_t head;
    int rc = wal_head(store, txn, &head);
    if (rc)
        return rc;
    mpk_pack_array(&out->pk, held[0] ? 3 : 2);
    mpk_pack_array(&out->pk, n);
    for (uint32_t i = 0; i < n; i++)
        mpk_pack_i64(&out->pk, results[i]);
    mpk_pack_u64(&out->pk, head);
    if (held[0])
        mpk_pack_str(&out->pk, held);
    return 0;
}

int
batch_apply(const ingest_t *ingest, MDB_txn *txn, const msgpack_object *args, mpk_out_t *out,
            storage_stats_t *stats, char why[PDB_ERRMSG_MAX])
{
    const char *peer;
    size_t peer_len;
    uint64_t cursor;
    const msgpack_object *a = args->via.array.ptr;
    uint32_t argc = args->via.array.size;
    if ((argc != 3 && argc != 4) || mpk_get_str(&a[0], &peer, &peer_len)
        || mpk_get_u64(&a[1], &cursor) || a[2].type != MSGPACK_OBJECT_ARRAY
        || (argc == 4 && a[3].type != MSGPACK_OBJECT_BOOLEAN))
        return WHY(PDB_EINVAL, "apply takes [peer name, cursor, [changes], partial?]");
    bool partial = argc == 4 && a[3].via.boolean;
    if (peer_len > 0 && !peers_name_valid(peer, peer_len))
        return WHY(PDB_EINVAL, "peer name must be 1..%u bytes of UTF-8", PEERS_NAME_MAX);
    uint32_t n = a[2].via.array.size;
    if (n > PDB_BATCH_MAX)
        return WHY(PDB_ETOOBIG, "batch of %u changes is over the limit of %u", n, PDB_BATCH_MAX);
    change_t *changes = calloc(n ? n : 1, sizeof *changes);
    int *results = calloc(n ? n : 1, sizeof *results);
    int rc = changes && results ? 0 : -ENOMEM;
    if (!rc)
        rc = s_decode_all(&a[2], changes, why);
    if (!rc)
        rc = s_check_order(changes, n, cursor, why);
    for (uint32_t i = 0; !rc && partial && i < n; i++)
        changes[i].partial = true;
    int64_t done = 0;
    uint64_t conflicts = 0;
    char held[PDB_ERRMSG_MAX] = "";
    ingest_t counted = *ingest;     // this batch's conflicts, for the peer's row
    counted.conflicts = &conflicts;
    if (!rc) {
        done = s_ingest_all(&counted, txn, changes, n, results, stats, held, why);
        rc = done < 0 ? (int) done : 0;
    }
    if (!rc && peer_len > 0)
        rc = peers_add_conflicts(ingest->store, txn, peer, peer_len, conflicts);
    if (!rc)
        stats->conflicts += conflicts;
    if (!rc && peer_len > 0) {
        //  Held back at change `done`: the cursor stops just before it.
        uint64_t reached = (uint64_t) done < n ? changes[done].seq - 1 : cursor;
        rc = peers_raise_cursor(ingest->store, txn, peer, peer_len, reached);
    }
    if (!rc)
        rc = s_pack_result(ingest->store, txn, results, n, held, out);
    free(changes);
    free(results);
    return rc;
}
