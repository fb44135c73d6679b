/*  args.h - the arguments a subcommand gets after cfg_load has taken the
    configuration flags (the rest[] indexes): its own flags, from a table,
    and positional arguments.

    Flags are "--name VALUE" or "--name=VALUE" (or just "--name" for flags
    without a value); after "--" everything is positional.
*/
#ifndef PDB_ARGS_H
#define PDB_ARGS_H

#include "err.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *name;        // "--k"
    bool has_value;
} args_opt_t;

typedef struct {
    char **argv;             // borrowed
    const int *idx;          // indexes into argv, in order
    int n;
    int pos;
    bool positional_only;    // seen "--"
    const args_opt_t *opts;  // NULL-name terminated
} args_t;

void args_init(args_t *self, char **argv, const int *idx, int n, const args_opt_t *opts);

//  The next argument. Returns 1 with *flag set to the option's table name
//  and *value to its value (NULL for flags without one), 1 with *flag NULL
//  and *value the text for a positional argument, 0 at the end, or
//  PDB_EINVAL with `why` filled (unknown flag, missing or unexpected value).
int args_next(args_t *self, const char **flag, const char **value, char why[PDB_ERRMSG_MAX]);

//  Whole decimal number in min..max; 0 or PDB_EINVAL with `why` naming `what`.
int args_uint(const char *what, const char *text, uint64_t min, uint64_t max, uint64_t *out,
              char why[PDB_ERRMSG_MAX]);

//  Finite number in min..max; 0 or PDB_EINVAL with `why` naming `what`.
int args_double(const char *what, const char *text, double min, double max, double *out,
                char why[PDB_ERRMSG_MAX]);

#endif
