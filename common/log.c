#include "log.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

//  The one process-wide setting: how chatty logs are.
static log_level_t s_level = LOGL_INFO;

void
log_set_level(log_level_t level)
{
    s_level = level;
}

int
log_parse_level(const char *text, log_level_t *level)
{
    static const char *names[] = { "error", "warn", "info", "debug" };
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, names[i]) == 0) {
            *level = (log_level_t) i;
            return 0;
        }
    }
    return PDB_EINVAL;
}

void
log_emit(log_level_t level, const char *subsystem, const char *fmt, ...)
{
    if (level > s_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);

    //  Build the whole line first so concurrent writers never interleave.
    char line[2048];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %c %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, "EWID"[level], subsystem);
    va_list args;
    va_start(args, fmt);
    if (n > 0 && (size_t) n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t) n, fmt, args);
    va_end(args);
    //  One event is one line: fold any newline a value smuggled in.
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s\n", line);
}
