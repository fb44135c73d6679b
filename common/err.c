#include "err.h"

#include <lmdb.h>
#include <string.h>

const char *
pdb_strerror(int rc)
{
    switch (rc) {
    case 0:               return "ok";
    case PDB_ENOTFOUND:   return "not found";
    case PDB_ECONFLICT:   return "conflict";
    case PDB_ECORRUPT:    return "corrupt record";
    case PDB_ETOOBIG:     return "too large";
    case PDB_EINVAL:      return "invalid input";
    case PDB_EDELETED:    return "deleted";
    case PDB_EMISSINGDEP: return "missing dependency";
    case PDB_EFULL:       return "store full";
    case PDB_EUNAVAIL:    return "storage unavailable";
    case PDB_ELOCKED:     return "data folder locked by another storage process";
    case PDB_EPROTO:      return "protocol error";
    case PDB_ESTORE:      return "store error";
    default:              break;
    }
    if (rc < 0 && rc > -5000)
        return strerror(-rc);
    return mdb_strerror(rc);
}

int
pdb_from_mdb(int mdb_rc)
{
    switch (mdb_rc) {
    case MDB_SUCCESS:   return 0;
    case MDB_NOTFOUND:  return PDB_ENOTFOUND;
    case MDB_MAP_FULL:  return PDB_EFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:   return PDB_ECORRUPT;
    default:            break;
    }
    if (mdb_rc > 0)
        return -mdb_rc;   // LMDB passes errno values through
    return PDB_ESTORE;
}
