/*  testkit.h - what every unit test needs: temporary folders for real LMDB
    stores, and ids made of one repeated byte (readable in failures).
*/
#ifndef PDB_TESTKIT_H
#define PDB_TESTKIT_H

#include "id.h"

#include <stdint.h>

#define TESTKIT_DIR_MAX 64

//  Makes a fresh folder /tmp/pdb_test_TAG_XXXXXX in dir (asserts).
void testkit_mkdir(char dir[TESTKIT_DIR_MAX], const char *tag);

//  Removes a folder made by testkit_mkdir and the files in it.
void testkit_rmdir(const char *dir);

//  An id whose 16 bytes are all `fill`.
pdb_id_t testkit_id(uint8_t fill);

#endif
