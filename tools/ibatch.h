/*  ibatch.h - the request bodies `pulsedb import` sends: lines of an import
    file (each an experience object, checked by jsonl.h) gathered into
    {"experiences": [line, line, ...]} for POST .../experiences:batch, up to
    a count and to PDB_HTTP_BODY_MAX bytes, each item's line number kept so
    a refusal that names an item reports its line.
*/
#ifndef PDB_IBATCH_H
#define PDB_IBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *body;            // the JSON text; closed ("]}") by ibatch_close
    size_t len, cap;
    size_t n, max;         // items in it, and at most
    uint64_t *lines;       // line number of each item
    size_t *starts;        // where each item's text starts in body...
    size_t *lens;          // ...and its length
} ibatch_t;

//  An empty batch of at most max items. NULL when out of memory. Caller
//  frees with ibatch_destroy.
ibatch_t *ibatch_new(size_t max);
void ibatch_destroy(ibatch_t **self_p);

//  Adds one object's text (len bytes) from line `line`. Returns false, with
//  the batch unchanged, when it is full or the text would take the body over
//  PDB_HTTP_BODY_MAX (or memory ran out: ibatch_fits tells which).
bool ibatch_add(ibatch_t *self, const char *text, size_t len, uint64_t line);
//  Whether a text of len bytes fits an empty batch's body at all.
bool ibatch_fits(size_t len);
//  Ends the body's JSON (room for it is kept by ibatch_add).
void ibatch_close(ibatch_t *self);
//  A new open batch with every item of self but item `skip`. NULL when out
//  of memory.
ibatch_t *ibatch_without(const ibatch_t *self, size_t skip);

#endif
