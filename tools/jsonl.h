/*  jsonl.h - one line of an import file: an experience JSON object, as
    POST /v1/collectives/{id}/experiences accepts it. Checked here so a bad
    line is reported with its number without a round trip.
*/
#ifndef PDB_JSONL_H
#define PDB_JSONL_H

#include "err.h"

#include <stddef.h>

#define JSONL_BLANK 1        // an empty or all-space line: skipped, not counted

//  Checks line (len bytes, with or without its newline). On 0 the object's
//  bytes are line[*start .. *start + *body_len) (surrounding space trimmed).
//  Returns 0, JSONL_BLANK, PDB_ETOOBIG (over PDB_HTTP_BODY_MAX) or
//  PDB_EINVAL (not JSON, not an object, no "content" string, or neither an
//  "embedding" array nor an "embedding_b64" string), with `why` filled on
//  errors.
int jsonl_check(const char *line, size_t len, size_t *start, size_t *body_len,
                char why[PDB_ERRMSG_MAX]);

#endif
