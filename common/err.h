/*  err.h - project return codes.

    Functions return 0 on success, -errno for system failures, or one of the
    codes below. Project codes live below -5000 so they never collide with errno.
*/
#ifndef PDB_ERR_H
#define PDB_ERR_H

#include <stdio.h>

enum {
    PDB_ENOTFOUND   = -5001,   // no such entity / key
    PDB_ECONFLICT   = -5002,   // duplicate (e.g. collective name taken)
    PDB_ECORRUPT    = -5003,   // stored bytes do not decode
    PDB_ETOOBIG     = -5004,   // over a named size limit
    PDB_EINVAL      = -5005,   // input failed validation
    PDB_EDELETED    = -5006,   // entity was deleted (tombstone)
    PDB_EMISSINGDEP = -5007,   // change refers to an entity not here yet
    PDB_EFULL       = -5008,   // LMDB map is full
    PDB_EUNAVAIL    = -5009,   // storage unreachable or timed out
    PDB_ELOCKED     = -5010,   // data folder used by another storage
    PDB_EPROTO      = -5011,   // unknown protocol version or operation
    PDB_ESTORE      = -5012,   // any other LMDB failure
};

//  Longest human-readable detail carried with an error (logs, replies).
#define PDB_ERRMSG_MAX 256

//  Writes the detail of a failure into the reason buffer of the function it
//  is used in (a char[PDB_ERRMSG_MAX] named `why`) and evaluates to code:
//      return WHY(PDB_EINVAL, "limit is %zu", max);
#define WHY(code, ...) (snprintf(why, PDB_ERRMSG_MAX, __VA_ARGS__), (code))

//  One short static string for any code: errno, PDB_* or LMDB's.
const char *pdb_strerror(int rc);

//  Translates an LMDB return code to ours (0 stays 0).
int pdb_from_mdb(int mdb_rc);

#endif
