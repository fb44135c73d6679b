#include "args.h"
#include "decimal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
args_init(args_t *self, char **argv, const int *idx, int n, const args_opt_t *opts)
{
    *self = (args_t) { .argv = argv, .idx = idx, .n = n, .opts = opts };
}

static const args_opt_t *
s_lookup(const args_opt_t *opts, const char *arg, size_t name_len)
{
    for (const args_opt_t *opt = opts; opt && opt->name; opt++)
        if (strlen(opt->name) == name_len && strncmp(opt->name, arg, name_len) == 0)
            return opt;
    return NULL;
}

int
args_next(args_t *self, const char **flag, const char **value, char why[PDB_ERRMSG_MAX])
{
    *flag = NULL;
    *value = NULL;
    if (self->pos >= self->n)
        return 0;
    const char *arg = self->argv[self->idx[self->pos++]];
    if (!self->positional_only && strcmp(arg, "--") == 0) {
        self->positional_only = true;
        return args_next(self, flag, value, why);
    }
    //  "-" alone is a positional (stdin by convention); so is any non-flag.
    if (self->positional_only || arg[0] != '-' || arg[1] == '\0') {
        *value = arg;
        return 1;
    }
    const char *eq = strchr(arg, '=');
    size_t name_len = eq ? (size_t) (eq - arg) : strlen(arg);
    const args_opt_t *opt = s_lookup(self->opts, arg, name_len);
    if (!opt) {
        snprintf(why, PDB_ERRMSG_MAX, "unknown option '%.*s'", (int) (name_len > 64 ? 64
                 : name_len), arg);
        return PDB_EINVAL;
    }
    *flag = opt->name;
    if (!opt->has_value) {
        if (eq) {
            snprintf(why, PDB_ERRMSG_MAX, "%s takes no value", opt->name);
            return PDB_EINVAL;
        }
        return 1;
    }
    if (eq)
        *value = eq + 1;
    else if (self->pos < self->n)
        *value = self->argv[self->idx[self->pos++]];
    else {
        snprintf(why, PDB_ERRMSG_MAX, "%s needs a value", opt->name);
        return PDB_EINVAL;
    }
    return 1;
}

int
args_uint(const char *what, const char *text, uint64_t min, uint64_t max, uint64_t *out,
          char why[PDB_ERRMSG_MAX])
{
    uint64_t v;
    if (decimal_parse_u64(text, &v) != 0 || v < min || v > max) {
        snprintf(why, PDB_ERRMSG_MAX, "%s: '%.64s' is not a whole number in %llu..%llu", what,
                 text, (unsigned long long) min, (unsigned long long) max);
        return PDB_EINVAL;
    }
    *out = v;
    return 0;
}

int
args_double(const char *what, const char *text, double min, double max, double *out,
            char why[PDB_ERRMSG_MAX])
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v) || v < min || v > max) {
        snprintf(why, PDB_ERRMSG_MAX, "%s: '%.64s' is not a number in %g..%g", what, text,
                 min, max);
        return PDB_EINVAL;
    }
    *out = v;
    return 0;
}
