/*  policy.h - the conflict-policy grammar of the configuration: the policy
    names (sync/policy) and per-collective overrides
    (sync/collective_policies). What each policy does is storage's
    (services/storage/apply.h); a policy travels as its index in
    POLICY_NAMES, which is the order of storage's merge_policy_t.

    sync/collective_policies is "UUID=POLICY UUID=POLICY ..." separated by
    white space, at most POLICY_OVERRIDES_MAX, no collective twice:

        sync
            collective_policies = "0193a0b1-0000-7000-8000-000000000001=remote_wins"
*/
#ifndef PDB_POLICY_H
#define PDB_POLICY_H

#include "err.h"
#include "id.h"

#include <stddef.h>

#define POLICY_NAMES "lww remote_wins local_wins"  // space separated, index order
#define POLICY_NAME_MAX 16                         // bytes of a name with its NUL
#define POLICY_OVERRIDES_MAX 256                   // collectives in one override list
//  Room for POLICY_OVERRIDES_MAX "UUID=remote_wins " items (48 bytes) and spacing.
#define POLICY_OVERRIDES_TEXT_MAX (POLICY_OVERRIDES_MAX * 50)

//  One override: the collective and its policy's index in POLICY_NAMES.
typedef struct {
    pdb_id_t collective;
    unsigned policy;
} policy_override_t;

//  The index in POLICY_NAMES of the name's len bytes into *index. Returns 0
//  or PDB_EINVAL (not a policy name; *index untouched).
int policy_parse(const char *name, size_t len, unsigned *index);

//  Parses an override list (see above). On 0, *out (caller frees with
//  free(), also when *n is 0) holds *n overrides in text order. Returns 0,
//  PDB_EINVAL with `why` quoting the bad item (*out NULL, *n 0), or -ENOMEM.
int policy_overrides_parse(const char *text, policy_override_t **out, size_t *n,
                           char why[PDB_ERRMSG_MAX]);

#endif
