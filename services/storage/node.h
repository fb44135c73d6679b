/*  node.h - a data folder opened for writing: the exclusive lock that keeps
    a second storage process out, the LMDB environment, this instance's id
    and its clock. The id is made on first start and kept, except when the
    data file turns out to be a copy (a restored backup): then the node
    takes a new one, so it never reuses sequence numbers its original wrote.
*/
#ifndef PDB_NODE_H
#define PDB_NODE_H

#include "hlc.h"
#include "id.h"
#include "store.h"

typedef struct {
    char *data_dir;
    int lock_fd;
    store_t *store;
    pdb_id_t instance_id;
    hlc_t hlc;
} node_t;

//  Creates the folder if needed, takes its lock (PDB_ELOCKED when another
//  storage holds it), opens or initialises the store. Caller frees with
//  node_destroy.
int node_open(const char *data_dir, uint64_t map_size, node_t **out);
void node_destroy(node_t **self_p);

#endif
