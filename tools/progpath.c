#include "progpath.h"
#include "err.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
s_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

//  Writes dir/middle/program into out; true when it fits and is executable.
static bool
s_candidate(char *out, size_t len, const char *dir, size_t dir_len, const char *middle,
            const char *program)
{
    int n = snprintf(out, len, "%.*s%s/%s", (int) dir_len, dir, middle, program);
    return n > 0 && (size_t) n < len && s_executable(out);
}

//  Next to the executable, then in the build tree.
static bool
s_near(const char *program, const char *build_dir, const char *exe, char *out, size_t len)
{
    const char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    size_t dir_len = (size_t) (slash - exe);
    char middle[PATH_MAX];
    snprintf(middle, sizeof middle, "/../%s", build_dir);
    return s_candidate(out, len, exe, dir_len, "", program)
        || s_candidate(out, len, exe, dir_len, middle, program);
}

int
progpath_find(const char *program, const char *build_dir, const char *self_exe,
              const char *path, char *out, size_t len)
{
    char exe[PATH_MAX];
    if (!self_exe) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        self_exe = exe;
    }
    if (s_near(program, build_dir, self_exe, out, len))
        return 0;
    if (!path)
        path = getenv("PATH");
    while (path && *path) {
        size_t dir_len = strcspn(path, ":");
        //  An empty entry means the current folder, as for the shell.
        if (s_candidate(out, len, dir_len ? path : ".", dir_len ? dir_len : 1, "", program))
            return 0;
        path += dir_len + (path[dir_len] == ':');
    }
    return PDB_ENOTFOUND;
}
