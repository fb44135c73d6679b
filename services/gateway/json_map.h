/*  json_map.h - the JSON form of entity fields, both ways, driven by the
    tables in entity.h so each field is described once:

      FK_ID        "0190c3e2-...-..." UUID string   <->  bin(16)
      FK_VEC       [0.1, -2.5, ...]                 <->  bin of float32 LE
      FK_UNIT      number 0..1                      <->  float64 (always, so
                                                         records stay canonical)
      FK_U64       non-negative integer             <->  uint
      FK_COUNTER   "applications": total (output only) plus
                   "applications_by_instance": {"uuid": n}  <->  map bin(16) -> uint
      FK_VARIANT   {"kind": "solution", "problem_ref": uuid|null, ...}
      strings, string lists and string maps as themselves.

    Input is converted, then checked with entity_check, so a JSON body and
    a peer's MessagePack change obey exactly the same rules and messages
    (json_map_convert leaves the check to storage, which runs the same one).
*/
#ifndef GW_JSON_MAP_H
#define GW_JSON_MAP_H

#include "entity.h"
#include "err.h"
#include "json_text.h"
#include "jvec.h"
#include "mpk.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Suffix of the JSON member that carries a counter's per-instance map.
#define JSON_MAP_BY_INSTANCE "_by_instance"
//  Suffix of the compact form of an embedding: "embedding_b64" is base64 of
//  little-endian float32 values, an alternative to the number array.
#define JSON_MAP_B64 "_b64"

//  Converts the JSON object of one change's fields (a create body, a PATCH
//  body) into a MessagePack map packed into out (initialised by the caller),
//  in spec order. from_client refuses managed fields (created_at, ...);
//  dim is the collective's embedding size (0: not checked here). Returns 0,
//  or PDB_EINVAL / PDB_ETOOBIG with `why` naming the field and the problem.
int json_map_from_json(ent_type_t type, change_op_t op, const json_t *object,
                       bool from_client, uint32_t dim, mpk_out_t *out,
                       char why[PDB_ERRMSG_MAX]);

//  The conversion of json_map_from_json without its entity_check, for a
//  write storage checks anyway (local writes trust nothing they are sent):
//  only the JSON shapes are judged here (a number where a string belongs, an
//  unknown member, a bad "embedding_b64" for dim). vecs (NULL: none) holds
//  what the fast path took from the body (jvec.h), the object being its
//  object `index`: an "embedding" already read (each value finite and
//  within float32 range), or "embedding_b64" text taken out unread (judged
//  here exactly as the JSON string would be). A taken member's JSON value
//  is a placeholder.
int json_map_convert(ent_type_t type, const json_t *object, bool from_client, uint32_t dim,
                     const jvec_t *vecs, size_t index, mpk_out_t *out,
                     char why[PDB_ERRMSG_MAX]);

//  Writes the members for a field map (a record, or a change's partial
//  fields) into an object being written to out, in spec order: each one
//  after a ',' unless *first (json_text_put_key). vec/vec_len is the
//  embedding kept outside the record (FIELD_SEPARATE), placed at its spec
//  position; NULL leaves it out. Returns 0, PDB_ECORRUPT when a stored
//  value does not have its field's kind (out is left as it was), or
//  -ENOMEM.
int json_map_write(ent_type_t type, const msgpack_object *fields, const void *vec,
                   size_t vec_len, json_text_t *out, bool *first);

//  An id as a JSON string (the API's UUID form).
void json_map_put_id(json_text_t *out, const pdb_id_t *id);

//  The same members added to the JSON object `into`.
int json_map_to_json(ent_type_t type, const msgpack_object *fields, const void *vec,
                     size_t vec_len, json_t *into);

//  Reads a JSON number array into float32 values (at most max of them; more
//  is PDB_ETOOBIG). Non-numbers and values outside float32 range are
//  PDB_EINVAL. `name` is the field named in `why`.
int json_map_vec_from_json(const json_t *array, const char *name, float *out, size_t max,
                           size_t *count, char why[PDB_ERRMSG_MAX]);

#endif
