/*  log.h - one line per event on stderr: time, level, subsystem, facts.

    2026-11-25T16:42:03.123Z I storage: started data=./pulsedb-data
*/
#ifndef PDB_LOG_H
#define PDB_LOG_H

//  LOGL_*: syslog.h (pulled in by czmq.h) owns the LOG_* names.
typedef enum { LOGL_ERROR = 0, LOGL_WARN, LOGL_INFO, LOGL_DEBUG } log_level_t;

//  Lines above this level are dropped. Default LOGL_INFO.
void log_set_level(log_level_t level);

//  Parses "error|warn|info|debug"; returns 0 or PDB_EINVAL.
int log_parse_level(const char *text, log_level_t *level);

void log_emit(log_level_t level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_e(sub, ...) log_emit(LOGL_ERROR, sub, __VA_ARGS__)
#define log_w(sub, ...) log_emit(LOGL_WARN, sub, __VA_ARGS__)
#define log_i(sub, ...) log_emit(LOGL_INFO, sub, __VA_ARGS__)
#define log_d(sub, ...) log_emit(LOGL_DEBUG, sub, __VA_ARGS__)

#endif
