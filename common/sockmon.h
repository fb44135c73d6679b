/*  sockmon.h - tells a request/reply client that its peer went away, so a
    request whose reply died with the connection fails at once and is
    retried, instead of waiting out its whole timeout.
*/
#ifndef PDB_SOCKMON_H
#define PDB_SOCKMON_H

#include <czmq.h>
#include <stdbool.h>

typedef struct sockmon sockmon_t;

//  Watches sock for disconnects. NULL on failure: callers then fall back on
//  their timeouts. Destroy it before sock.
sockmon_t *sockmon_new(zsock_t *sock);
void sockmon_destroy(sockmon_t **self_p);

//  The handle to poll (ZMQ_POLLIN) next to the watched socket.
void *sockmon_handle(sockmon_t *self);

//  Reads every pending event; true when a disconnect was among them.
bool sockmon_disconnected(sockmon_t *self);

#endif
