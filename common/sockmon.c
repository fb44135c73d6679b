#include "sockmon.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sockmon {
    zsock_t *watched;
    zsock_t *events;      // PAIR receiving libzmq's monitor events
};

sockmon_t *
sockmon_new(zsock_t *sock)
{
    static atomic_uint_fast64_t s_next = 0;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://sockmon-%llu",
             (unsigned long long) atomic_fetch_add(&s_next, 1));
    if (zmq_socket_monitor(zsock_resolve(sock), endpoint, ZMQ_EVENT_DISCONNECTED) != 0)
        return NULL;
    sockmon_t *self = calloc(1, sizeof *self);
    if (self) {
        self->watched = sock;
        self->events = zsock_new(ZMQ_PAIR);
    }
    if (!self || !self->events || zsock_connect(self->events, "%s", endpoint) != 0) {
        (void) zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
        if (self)
            zsock_destroy(&self->events);
        free(self);
        return NULL;
    }
    zsock_set_rcvtimeo(self->events, 0);
    return self;
}

void
sockmon_destroy(sockmon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sockmon_t *self = *self_p;
    (void) zmq_socket_monitor(zsock_resolve(self->watched), NULL, 0);
    zsock_destroy(&self->events);
    free(self);
    *self_p = NULL;
}

void *
sockmon_handle(sockmon_t *self)
{
    return zsock_resolve(self->events);
}

bool
sockmon_disconnected(sockmon_t *self)
{
    bool disconnected = false;
    zmsg_t *msg;
    //  Each event is two frames: 16-bit event id + 32-bit value, endpoint.
    while ((msg = zmsg_recv(self->events)) != NULL) {
        zframe_t *head = zmsg_first(msg);
        if (head && zframe_size(head) >= 2) {
            uint16_t event;
            memcpy(&event, zframe_data(head), sizeof event);
            if (event == ZMQ_EVENT_DISCONNECTED)
                disconnected = true;
        }
        zmsg_destroy(&msg);
    }
    return disconnected;
}
