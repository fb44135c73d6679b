/*  zap.c - the sync socket's ZAP handler: admits configured peers' keys.
*/
#include "zap.h"
#include "clock.h"
#include "log.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"   // fixed by RFC 27
#define ZAP_KEY_BYTES 32
#define ZAP_LOG_EVERY 100      // after the first refusal of a key, log every 100th

typedef struct {
    char name[PEERSPEC_NAME_MAX + 1];
    uint8_t key[ZAP_KEY_BYTES];
} s_admitted_t;

typedef struct {
    pthread_mutex_t lock;
    s_admitted_t *peers;
    size_t n;
    zap_refusals_t refusals;
    bool failed;                 // the actor could not bind (set before it signals)
} s_shared_t;

struct zap {
    zactor_t *actor;
    s_shared_t shared;
};

//  The peer whose key this is; copies its name. False when none.
static bool
s_lookup(s_shared_t *shared, const uint8_t *key, char name[PEERSPEC_NAME_MAX + 1])
{
    bool found = false;
    pthread_mutex_lock(&shared->lock);
    for (size_t i = 0; i < shared->n && !found; i++)
        if (memcmp(shared->peers[i].key, key, ZAP_KEY_BYTES) == 0) {
            memcpy(name, shared->peers[i].name, PEERSPEC_NAME_MAX + 1);
            found = true;
        }
    pthread_mutex_unlock(&shared->lock);
    return found;
}

static void
s_refused(s_shared_t *shared, const uint8_t *key, const char *address)
{
    char text[PEERSPEC_KEY_LEN + 1] = "";
    zmq_z85_encode(text, key, ZAP_KEY_BYTES);
    pthread_mutex_lock(&shared->lock);
    zap_refusals_t *r = &shared->refusals;
    bool same = strcmp(r->last_key, text) == 0;
    r->count++;
    r->last_ms = clock_wall_ms();
    snprintf(r->last_key, sizeof r->last_key, "%s", text);
    snprintf(r->last_address, sizeof r->last_address, "%s", address);
    uint64_t count = r->count;
    pthread_mutex_unlock(&shared->lock);
    //  A client that keeps reconnecting must not flood the log.
    if (!same || count % ZAP_LOG_EVERY == 0)
        log_w("syncer", "refused a sync connection: unknown key key=%s address=%s refused=%llu "
              "(add the key to the peer's configuration to admit it)", text, address,
              (unsigned long long) count);
}

//  Answers one request: 200 with the peer's name as User-Id, or 400.
static void
s_answer(zsock_t *handler, s_shared_t *shared)
{
    zmsg_t *request = zmsg_recv(handler);
    if (!request)
        return;
    char *version = zmsg_popstr(request), *sequence = zmsg_popstr(request);
    char *domain = zmsg_popstr(request), *address = zmsg_popstr(request);
    zframe_t *identity = zmsg_pop(request);
    char *mechanism = zmsg_popstr(request);
    zframe_t *key = zmsg_pop(request);
    char name[PEERSPEC_NAME_MAX + 1] = "";
    bool curve = version && streq(version, "1.0") && mechanism && streq(mechanism, "CURVE")
              && key && zframe_size(key) == ZAP_KEY_BYTES;
    bool admitted = curve && s_lookup(shared, zframe_data(key), name);
    if (curve && !admitted)
        s_refused(shared, zframe_data(key), address ? address : "?");
    zstr_sendx(handler, "1.0", sequence ? sequence : "", admitted ? "200" : "400",
               admitted ? "OK" : "unknown key", admitted ? name : "", "", NULL);
    zstr_free(&version);
    zstr_free(&sequence);
    zstr_free(&domain);
    zstr_free(&address);
    zstr_free(&mechanism);
    zframe_destroy(&identity);
    zframe_destroy(&key);
    zmsg_destroy(&request);
}

static void
s_actor(zsock_t *pipe, void *arg)
{
    s_shared_t *shared = arg;
    zsock_t *handler = zsock_new(ZMQ_REP);
    if (!handler || zsock_bind(handler, ZAP_ENDPOINT) != 0) {
        log_e("syncer", "cannot bind the ZAP handler endpoint=%s", ZAP_ENDPOINT);
        zsock_destroy(&handler);
        shared->failed = true;
        zsock_signal(pipe, 0);
        return;
    }
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, handler, NULL);
    while (poller) {
        void *which = zpoller_wait(poller, -1);
        if (which == handler)
            s_answer(handler, shared);
        else
            break;          // $TERM on the pipe, or interrupted
    }
    zpoller_destroy(&poller);
    zsock_destroy(&handler);
}

zap_t *
zap_new(void)
{
    zap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->shared.lock, NULL);
    self->actor = zactor_new(s_actor, &self->shared);
    //  zactor_new returns once the actor signalled, so `failed` is set by then.
    if (!self->actor || self->shared.failed) {
        zap_destroy(&self);
        return NULL;
    }
    return self;
}

void
zap_destroy(zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zap_t *self = *self_p;
    zactor_destroy(&self->actor);
    pthread_mutex_destroy(&self->shared.lock);
    free(self->shared.peers);
    free(self);
    *self_p = NULL;
}

int
zap_set_peers(zap_t *self, const peerspec_t *peers, size_t n)
{
    s_admitted_t *list = calloc(n ? n : 1, sizeof *list);
    if (!list)
        return -ENOMEM;
    size_t count = 0;
    for (size_t i = 0; i < n && count < ZAP_PEERS_MAX; i++) {
        if (!peers[i].public_key[0])
            continue;
        snprintf(list[count].name, sizeof list[count].name, "%s", peers[i].name);
        if (zmq_z85_decode(list[count].key, peers[i].public_key))
            count++;
    }
    pthread_mutex_lock(&self->shared.lock);
    s_admitted_t *old = self->shared.peers;
    self->shared.peers = list;
    self->shared.n = count;
    pthread_mutex_unlock(&self->shared.lock);
    free(old);
    return 0;
}

void
zap_refusals(zap_t *self, zap_refusals_t *out)
{
    pthread_mutex_lock(&self->shared.lock);
    *out = self->shared.refusals;
    pthread_mutex_unlock(&self->shared.lock);
}
