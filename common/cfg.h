/*  cfg.h - node configuration: built-in defaults, then a config file (CZMQ
    zconfig format), then PULSEDB_* environment variables, then command-line
    flags; each later source overrides the earlier. Every value is validated;
    a bad one is an error naming the option, never a silent default.

    Options (file path / environment variable / flag):
      node/data                 PULSEDB_DATA              --data DIR        ./pulsedb-data
      node/log_level            PULSEDB_LOG_LEVEL         --log-level L     info
      storage/map_size_mb       PULSEDB_MAP_SIZE_MB       --map-size-mb N   65536
      storage/tcp               PULSEDB_STORAGE_TCP       --storage-tcp EP  "" (ipc only)
      storage/commit_max_requests PULSEDB_COMMIT_MAX_REQUESTS            256
      storage/commit_max_kb     PULSEDB_COMMIT_MAX_KB                    4096
      gateway/host              PULSEDB_HTTP_HOST         --host H          127.0.0.1
      gateway/port              PULSEDB_HTTP_PORT         --port P          7070
      gateway/count             PULSEDB_GATEWAYS          --gateways N      1
      gateway/max_connections   PULSEDB_HTTP_MAX_CONNECTIONS             512
      gateway/storage           PULSEDB_STORAGE_ENDPOINT  --storage EP      ipc://DATA/storage.sock
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
} cfg_t;

void cfg_defaults(cfg_t *cfg);

//  Loads defaults, then the file named by --config FILE or PULSEDB_CONFIG
//  (if any), then the environment, then the flags in argv (argv[0] is
//  skipped). Flags this module does not know are left for the caller: their
//  indexes are written to rest[] (at most rest_max) and counted in *rest_n.
//  Returns 0, or PDB_EINVAL with `why` naming the bad option.
int cfg_load(cfg_t *cfg, int argc, char **argv, int *rest, int rest_max, int *rest_n,
             char why[PDB_ERRMSG_MAX]);

//  The storage endpoint to connect to (the explicit one, or the data
//  folder's ipc socket), written into out.
void cfg_storage_endpoint(const cfg_t *cfg, char *out, size_t out_len);

//  Usage text listing every option, for --help.
const char *cfg_usage(void);

#endif
