#include "ibatch.h"
#include "bounds.h"

#include <stdlib.h>
#include <string.h>

#define IBATCH_OPEN "{\"experiences\":["
#define IBATCH_CLOSE "]}"
#define IBATCH_FRAME (sizeof IBATCH_OPEN - 1 + sizeof IBATCH_CLOSE - 1)

ibatch_t *
ibatch_new(size_t max)
{
    ibatch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max ? max : 1;
    self->lines = malloc(self->max * sizeof *self->lines);
    self->starts = malloc(self->max * sizeof *self->starts);
    self->lens = malloc(self->max * sizeof *self->lens);
    self->cap = 4096;
    self->body = malloc(self->cap);
    if (!self->lines || !self->starts || !self->lens || !self->body) {
        ibatch_destroy(&self);
        return NULL;
    }
    memcpy(self->body, IBATCH_OPEN, sizeof IBATCH_OPEN - 1);
    self->len = sizeof IBATCH_OPEN - 1;
    return self;
}

void
ibatch_destroy(ibatch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ibatch_t *self = *self_p;
    free(self->body);
    free(self->lines);
    free(self->starts);
    free(self->lens);
    free(self);
    *self_p = NULL;
}

bool
ibatch_fits(size_t len)
{
    return len <= PDB_HTTP_BODY_MAX - IBATCH_FRAME;
}

static bool
s_reserve(ibatch_t *self, size_t more)
{
    if (self->len + more <= self->cap)
        return true;
    size_t cap = self->cap;
    while (cap < self->len + more)
        cap *= 2;
    char *grown = realloc(self->body, cap);
    if (!grown)
        return false;
    self->body = grown;
    self->cap = cap;
    return true;
}

bool
ibatch_add(ibatch_t *self, const char *text, size_t len, uint64_t line)
{
    size_t sep = self->n ? 1 : 0;
    if (self->n == self->max
        || self->len + sep + len + sizeof IBATCH_CLOSE - 1 > PDB_HTTP_BODY_MAX
        || !s_reserve(self, sep + len + sizeof IBATCH_CLOSE))
        return false;
    if (sep)
        self->body[self->len++] = ',';
    memcpy(self->body + self->len, text, len);
    self->lines[self->n] = line;
    self->starts[self->n] = self->len;
    self->lens[self->n++] = len;
    self->len += len;
    return true;
}

void
ibatch_close(ibatch_t *self)
{
    //  ibatch_add and ibatch_new kept room for the closing bytes and a NUL.
    memcpy(self->body + self->len, IBATCH_CLOSE, sizeof IBATCH_CLOSE);
    self->len += sizeof IBATCH_CLOSE - 1;
}

ibatch_t *
ibatch_without(const ibatch_t *self, size_t skip)
{
    ibatch_t *rest = ibatch_new(self->max);
    for (size_t i = 0; rest && i < self->n; i++)
        if (i != skip && !ibatch_add(rest, self->body + self->starts[i], self->lens[i],
                                     self->lines[i]))
            ibatch_destroy(&rest);
    return rest;
}
