/*  cfg.h - node configuration: built-in defaults, then a config file (CZMQ
    zconfig format), then PULSEDB_* environment variables, then command-line
    flags; each later source overrides the earlier. Every value is validated;
    a bad one is an error naming the option, never a silent default.

    Options (file path / environment variable / flag):
      node/data                 PULSEDB_DATA              --data DIR        ./pulsedb-data
      node/log_level            PULSEDB_LOG_LEVEL         --log-level L     info
      storage/map_size_mb       PULSEDB_MAP_SIZE_MB       --map-size-mb N   65536
      storage/tcp               PULSEDB_STORAGE_TCP       --storage-tcp EP  "" (ipc only)
      storage/commit_max_requests PULSEDB_COMMIT_MAX_REQUESTS --commit-max-requests N 256
      storage/commit_max_kb     PULSEDB_COMMIT_MAX_KB     --commit-max-kb N 4096
      gateway/host              PULSEDB_HTTP_HOST         --host H          127.0.0.1
      gateway/port              PULSEDB_HTTP_PORT         --port P          7070
      gateway/count             PULSEDB_GATEWAYS          --gateways N      1
      gateway/max_connections   PULSEDB_HTTP_MAX_CONNECTIONS --max-connections N 512
      gateway/storage           PULSEDB_STORAGE_ENDPOINT  --storage EP      ipc://DATA/storage.sock

    The file is named by --config FILE (or PULSEDB_CONFIG); a named file that
    cannot be read is an error, and so is any key in it that is not listed
    above (a typo must not be silently ignored). Example:

        node
            data = "/var/lib/pulsedb"
        gateway
            port = 8080

    Limits (inclusive): map_size_mb 16..67108864, commit_max_requests
    1..65536, commit_max_kb 1..1048576, port 1..65535, gateways 1..64,
    max_connections 1..65536; paths are non-empty and shorter than
    CFG_PATH_MAX, and the data folder's ipc socket path must fit a Unix socket
    address (CFG_DATA_DIR_IPC_MAX bytes); storage/tcp starts with tcp://,
    gateway/storage with tcp:// or ipc://.
*/
#ifndef PDB_CFG_H
#define PDB_CFG_H

#include "err.h"
#include "log.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_PATH_MAX 1024
#define CFG_ENDPOINT_MAX 256
//  sun_path holds 108 bytes with its NUL; the longest socket we put in the
//  data folder is "/storage-events.sock" (20 bytes), so the folder path
//  itself may be at most 87 bytes.
#define CFG_DATA_DIR_IPC_MAX 87

typedef struct {
    char data_dir[CFG_PATH_MAX];
    log_level_t log_level;
    uint64_t map_size_mb;
    char storage_tcp[CFG_ENDPOINT_MAX];
    unsigned commit_max_requests;
    unsigned commit_max_kb;
    char http_host[CFG_ENDPOINT_MAX];
    unsigned http_port;
    unsigned gateways;
    unsigned http_max_connections;
    char storage_endpoint[CFG_ENDPOINT_MAX];   // "" means ipc://DATA/storage.sock
    char config_path[CFG_PATH_MAX];            // file that was loaded, "" when none
} cfg_t;

void cfg_defaults(cfg_t *cfg);

//  Loads defaults, then the file named by --config FILE or PULSEDB_CONFIG
//  (if any), then the environment, then the flags in argv (argv[0] is
//  skipped). Flags this module does not know are left for the caller: their
//  indexes are written to rest[] (at most rest_max) and counted in *rest_n.
//  Flags take "--flag VALUE" or "--flag=VALUE"; a repeated flag's last value
//  wins. Positional arguments and the values of unknown flags go to rest[]
//  too, in argv order; so does "--" and everything after it. With rest NULL
//  any argument this module does not know is an error. rest_n may be NULL.
//  Returns 0, or PDB_EINVAL with `why` naming the bad option, where it came
//  from (flag, environment variable or file key) and the bad value.
//  Not thread-safe: call it at start-up, before starting threads.
int cfg_load(cfg_t *cfg, int argc, char **argv, int *rest, int rest_max, int *rest_n,
             char why[PDB_ERRMSG_MAX]);

//  The storage endpoint to connect to (the explicit one, or the data
//  folder's ipc socket), written into out.
void cfg_storage_endpoint(const cfg_t *cfg, char *out, size_t out_len);

//  Usage text listing every option, for --help.
const char *cfg_usage(void);

#endif
