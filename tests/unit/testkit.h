/*  testkit.h - what every unit test needs: temporary folders for real LMDB
    stores, ids made of one repeated byte (readable in failures), and the
    WAL entry at a sequence.
*/
#ifndef PDB_TESTKIT_H
#define PDB_TESTKIT_H

#include "change.h"
#include "id.h"
#include "store_db.h"            // tests look inside the store

#include <stddef.h>

#include <stdint.h>

#define TESTKIT_DIR_MAX 64

//  Makes a fresh folder /tmp/pdb_test_TAG_XXXXXX in dir (asserts).
void testkit_mkdir(char dir[TESTKIT_DIR_MAX], const char *tag);

//  Removes a folder made by testkit_mkdir and the files in it.
void testkit_rmdir(const char *dir);

//  An id whose 16 bytes are all `fill`.
pdb_id_t testkit_id(uint8_t fill);

//  A copy of the store's WAL entry at seq (asserts it is there), decoded
//  into *out, whose fields point into the copy. Returns the copy (caller
//  frees); *len, when not NULL, gets its size.
void *testkit_wal_entry(store_t *store, uint64_t seq, change_t *out, size_t *len);

#endif
