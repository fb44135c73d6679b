/*  policy.c - conflict-policy names and per-collective overrides. */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ITEM_SHOWN 80      // bytes of a bad item quoted in an error

int
policy_parse(const char *name, size_t len, unsigned *index)
{
    unsigned i = 0;
    for (const char *p = POLICY_NAMES; *p; i++) {
        size_t n = strcspn(p, " ");
        if (n == len && memcmp(p, name, len) == 0) {
            *index = i;
            return 0;
        }
        p += n;
        p += *p == ' ';
    }
    return PDB_EINVAL;
}

//  Why item (len bytes, the policy after its '=') is refused given the
//  overrides so far, or NULL with *out filled.
static const char *
s_item_problem(const char *item, size_t len, const policy_override_t *list, size_t count,
               policy_override_t *out)
{
    const char *eq = memchr(item, '=', len);
    if (!eq || pdb_id_parse(item, (size_t) (eq - item), &out->collective) != 0
        || policy_parse(eq + 1, len - (size_t) (eq + 1 - item), &out->policy) != 0)
        return "is not COLLECTIVE_UUID=lww|remote_wins|local_wins";
    for (size_t i = 0; i < count; i++)
        if (pdb_id_cmp(&list[i].collective, &out->collective) == 0)
            return "names a collective twice";
    if (count == POLICY_OVERRIDES_MAX)
        return "is one override too many";
    return NULL;
}

int
policy_overrides_parse(const char *text, policy_override_t **out, size_t *n,
                       char why[PDB_ERRMSG_MAX])
{
    *out = NULL;
    *n = 0;
    policy_override_t *list = calloc(POLICY_OVERRIDES_MAX, sizeof *list);
    if (!list)
        return -ENOMEM;
    size_t count = 0;
    const char *p = text;
    while (*p) {
        p += strspn(p, " \t\n");
        if (!*p)
            break;
        size_t len = strcspn(p, " \t\n");
        policy_override_t item;
        const char *problem = s_item_problem(p, len, list, count, &item);
        if (problem) {
            snprintf(why, PDB_ERRMSG_MAX, "'%.*s' %s",
                     (int) (len > S_ITEM_SHOWN ? S_ITEM_SHOWN : len), p, problem);
            free(list);
            return PDB_EINVAL;
        }
        list[count++] = item;
        p += len;
    }
    *out = list;
    *n = count;
    return 0;
}
