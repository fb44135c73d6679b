/*  vecblock.h - the search layout: each collective's embeddings laid out
    in fixed-size blocks, so an exact search reads them contiguously from
    the memory map instead of stepping a B-tree cursor once per vector.

    The blocks are where embeddings are kept: the only copy, which search,
    GET, digests and snapshots read (store_embedding_get). Storage writes a
    slot in the same transaction as the experience it belongs to, so it is
    exactly as durable and as current as the record. Embeddings never
    change after create, so a slot is written once and cleared once.

    vec_blocks  collective id                        -> head (below)
                collective id + block number (u32 BE)  -> block
    vec_slots   collective id + experience id        -> block number, slot
    vec_free    collective id + block number (u32 BE)  -> empty: the block has a
                                                         cleared slot to reuse
    meta        "vec_layout"                         -> u32 layout (below), once
                                                         the blocks hold every
                                                         embedding
    Layouts: VECBLOCK_LAYOUT_BESIDE (schema 1): the blocks repeat the
    embeddings database, which was the source of truth; VECBLOCK_LAYOUT
    (schema 2): the blocks are the only copy and that database is empty.
    A folder without the marker was written before blocks existed: its
    embeddings are in the embeddings database until storage's next start
    moves them (vecstore_ensure).
    Head:   u32 dim, u32 slots per block, u32 next block number, u32 0, u64 live
    Block:  u32 count (slots used), u32 live, u32 dim, u32 0, then four arrays
            of `count` entries each, so a pass reads only what it needs:
              ids     16-byte experience id (all zeros: a cleared slot; no
                      experience id is zero)
              quant   f32 scale, f32 error bound (negative: a cleared slot)
              codes   dim bytes: the unit vector in 8 bits (below)
              vectors dim little-endian float32, as stored in embeddings
    Integers and the quant floats are in the host's byte order, as LMDB's
    own are.

    Codes: u = v / |v| (in double), scale a = max |u_i| / 127, c_i =
    round(u_i / a) in -127..127, stored as c_i + 128. The error bound is
    |u - a c| (rounded up), so for any query q, the cosine q.u / |q| lies
    within error of a (q . c) / |q|: a search scores the codes first (a
    quarter of the bytes) and reads the float32 vectors only of candidates
    those bounds cannot rule out (search.h), so its results stay exact.

    A block holds at most VECBLOCK_TARGET_BYTES of slots (at least
    VECBLOCK_MIN_SLOTS), which puts it in LMDB overflow pages: one run of
    contiguous pages. Only the last block grows; a write rewrites one block.
*/
#ifndef PDB_VECBLOCK_H
#define PDB_VECBLOCK_H

#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VECBLOCK_LAYOUT_BESIDE 1u
#define VECBLOCK_LAYOUT 2u
#define VECBLOCK_TARGET_BYTES (32u << 10)  // 32 KiB: a scan step per ~16 vectors of 384
                                           // dims, and a write copies no more than this
#define VECBLOCK_MIN_SLOTS 4u              // wide vectors (4096 dims) still share a block
#define VECBLOCK_HEAD_LEN 24
#define VECBLOCK_HDR_LEN 16
#define VECBLOCK_KEY_LEN (PDB_ID_LEN + 4)
#define VECBLOCK_QUANT_LEN 8
#define VECBLOCK_CODE_BIAS 128
#define VECBLOCK_CODE_MAX 127
#define VECBLOCK_META_KEY "vec_layout"

typedef struct {
    uint32_t dim;
    uint32_t slots_per_block;
    uint32_t next_block;       // blocks are numbered from 0, never reused
    uint64_t live;             // experiences with a slot
} vecblock_head_t;

//  One block as stored, borrowed from the transaction that read it.
typedef struct {
    uint32_t number;
    uint32_t count;            // slots in use or cleared
    uint32_t live;
    uint32_t dim;
    const uint8_t *ids;        // count * 16 bytes
    const uint8_t *quant;      // count * VECBLOCK_QUANT_LEN
    const uint8_t *codes;      // count * dim
    const uint8_t *vectors;    // count * dim * 4
} vecblock_t;

//  Bytes of one slot (all four arrays), how many fit a block, and the size
//  of a block of `count` slots, for dim dimensions.
size_t vecblock_slot_len(uint32_t dim);
uint32_t vecblock_slots_per_block(uint32_t dim);
size_t vecblock_len(uint32_t dim, uint32_t count);

//  The codes, scale and error bound of a vector of dim float32 (any
//  alignment), as described above. A zero vector gets scale and error 0.
void vecblock_quantize(const void *vector, uint32_t dim, uint8_t *codes, float *scale,
                       float *error);

//  Keys: the head's is the collective id alone.
void vecblock_key(uint8_t out[VECBLOCK_KEY_LEN], const pdb_id_t *collective, uint32_t block);
uint32_t vecblock_key_number(const MDB_val *key);

//  True when the layout is complete in txn: storage wrote the marker, and
//  this process opened the databases. False means: read the embeddings
//  database (a folder storage has not laid out yet).
bool vecblock_ready(store_t *store, MDB_txn *txn);
//  The layout marker in txn: 0 when absent (or the databases are not
//  open), else VECBLOCK_LAYOUT_BESIDE or VECBLOCK_LAYOUT; PDB_ECORRUPT for
//  anything else.
int vecblock_layout(store_t *store, MDB_txn *txn, uint32_t *layout);

//  Where experience `id` of the collective has its slot. Returns 0,
//  PDB_ENOTFOUND (no slot, or no layout databases) or PDB_ECORRUPT.
int vecblock_slot_find(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                       const pdb_id_t *id, uint32_t *number, uint32_t *slot);
//  The experience's float32 embedding, read from its slot: *vector borrows
//  the block (valid for txn). Returns 0, PDB_ENOTFOUND or PDB_ECORRUPT (a
//  slot entry that points at another experience or past its block).
int vecblock_vector_get(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                        const pdb_id_t *id, MDB_val *vector);
//  The same from a known place (a slot never moves while its experience
//  lives): the vector in slot `slot` of block `number`, provided that slot
//  holds experience id. Returns 0, PDB_ENOTFOUND (no such block or slot,
//  or it holds another experience: id was deleted) or PDB_ECORRUPT.
int vecblock_vector_at(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                       uint32_t number, uint32_t slot, const pdb_id_t *id, MDB_val *vector);

//  The head of a collective's blocks. Returns 0, PDB_ENOTFOUND (no
//  embedding yet) or PDB_ECORRUPT.
int vecblock_head_get(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                      vecblock_head_t *out);
void vecblock_head_pack(const vecblock_head_t *head, uint8_t out[VECBLOCK_HEAD_LEN]);

//  Checks a stored block and describes it (pointers borrow val). Returns
//  0 or PDB_ECORRUPT.
int vecblock_decode(uint32_t number, const MDB_val *val, vecblock_t *out);

//  Slot i of a block: its experience id (NULL when the slot is cleared),
//  float32 vector, codes, and scale and error bound.
const uint8_t *vecblock_slot_id(const vecblock_t *block, uint32_t i);
const void *vecblock_slot_vector(const vecblock_t *block, uint32_t i);
const uint8_t *vecblock_slot_codes(const vecblock_t *block, uint32_t i);
void vecblock_slot_quant(const vecblock_t *block, uint32_t i, float *scale, float *error);

//  Walks a collective's blocks in number order. Open, then call next until
//  it returns PDB_ENOTFOUND; close in every case.
typedef struct {
    MDB_cursor *cur;
    pdb_id_t collective;
    uint32_t first;            // the walk starts at this block number
    bool started;
} vecblock_iter_t;

int vecblock_iter_open(store_t *store, MDB_txn *txn, const pdb_id_t *collective,
                       vecblock_iter_t *it);
//  Before the first next: start at block `number` instead (a walk resumed
//  in a later transaction).
void vecblock_iter_from(vecblock_iter_t *it, uint32_t number);
//  Returns 0 with the next block, PDB_ENOTFOUND after the last, or a code.
int vecblock_iter_next(vecblock_iter_t *it, vecblock_t *out);
//  The same, undecoded: the block's number and stored bytes, untouched, so
//  a scan can ask for them ahead (vecblock_decode when it gets there).
int vecblock_iter_next_raw(vecblock_iter_t *it, uint32_t *number, MDB_val *val);
void vecblock_iter_close(vecblock_iter_t *it);

#endif
