#include "spool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

//  Idle clients kept for reuse; past that a returned client is closed, so a
//  burst of writers does not pin sockets forever.
#define SPOOL_IDLE_MAX 64

struct spool {
    pthread_mutex_t lock;
    char *endpoint;
    int timeout_ms;
    zcert_t *cert;                  // CURVE to storage/tcp (borrowed), or NULL
    sclient_t *idle[SPOOL_IDLE_MAX];
    size_t idle_n;
};

spool_t *
spool_new(const char *endpoint, int timeout_ms, zcert_t *cert)
{
    spool_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = strdup(endpoint);
    if (!self->endpoint || pthread_mutex_init(&self->lock, NULL) != 0) {
        free(self->endpoint);
        free(self);
        return NULL;
    }
    self->timeout_ms = timeout_ms;
    self->cert = cert;
    return self;
}

void
spool_destroy(spool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    spool_t *self = *self_p;
    for (size_t i = 0; i < self->idle_n; i++)
        sclient_destroy(&self->idle[i]);
    pthread_mutex_destroy(&self->lock);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

sclient_t *
spool_take(spool_t *self)
{
    sclient_t *client = NULL;
    pthread_mutex_lock(&self->lock);
    if (self->idle_n > 0)
        client = self->idle[--self->idle_n];
    pthread_mutex_unlock(&self->lock);
    //  Connecting happens outside the lock: it must not hold up other takers.
    return client ? client : sclient_new_keyed(self->endpoint, self->timeout_ms, self->cert);
}

void
spool_give(spool_t *self, sclient_t *client)
{
    if (!client)
        return;
    pthread_mutex_lock(&self->lock);
    if (self->idle_n < SPOOL_IDLE_MAX) {
        self->idle[self->idle_n++] = client;
        client = NULL;   // now owned by the pool
    }
    pthread_mutex_unlock(&self->lock);
    sclient_destroy(&client);
}

zcert_t *
spool_cert(const spool_t *self)
{
    return self->cert;
}
