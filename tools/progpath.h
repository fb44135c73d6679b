/*  progpath.h - where the `pulsedb` command finds the programs it starts
    (`up`'s children, `sync once`'s syncer): next to the pulsedb executable,
    then where the build tree puts them (../BUILD_DIR/ from pulsedb's
    folder, e.g. ../services/syncer/), then on PATH.
*/
#ifndef PDB_PROGPATH_H
#define PDB_PROGPATH_H

#include <stddef.h>

//  Finds `program` (a file name) as above. self_exe is the running
//  executable's path (NULL: read /proc/self/exe); path the search list
//  (NULL: $PATH). Returns 0 with out filled, PDB_ENOTFOUND when no
//  executable regular file is found.
int progpath_find(const char *program, const char *build_dir, const char *self_exe,
                  const char *path, char *out, size_t len);

#endif
