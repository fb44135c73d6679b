/*  cfg.h - node configuration: built-in defaults, then a config file (CZMQ
    zconfig format), then PULSEDB_* environment variables, then command-line
    flags; each later source overrides the earlier. Every value is validated;
    a bad one is an error naming the option, never a silent default.

    Each option is one row of the table in cfg.c: its file key, environment
    variable, flag, default, bounds and help line. `pulsedb --help` prints
    them (cfg_usage), and so does README.md's configuration table
    (cfg_markdown, written by scripts/gen-config-table.sh). Checks across
    options: retry_max_ms at least retry_initial_ms, tombstone_ttl_s above
    peer_expiry_s, tls_cert and tls_key together, and the data folder short
    enough for its ipc socket.

    The file is named by --config FILE (or PULSEDB_CONFIG); a named file that
    cannot be read is an error, and so is any key in it that is not in the
    table (a typo must not be silently ignored). Example:

        node
            data = "/var/lib/pulsedb"
        gateway
            port = 8080

    The grammars of sync/peers and sync/collective_policies live in
    peerspec.h and policy.h.
*/
#ifndef PDB_CFG_H
#define PDB_CFG_H

#include "endpoint.h"
#include "err.h"
#include "id.h"
#include "log.h"
#include "peerspec.h"
#include "policy.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_PATH_MAX 1024
#define CFG_ENDPOINT_MAX ENDPOINT_MAX
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
    unsigned ann_threshold;                    // search: vectors for the approximate index
    unsigned ann_ef;                           // search: default ef of an approximate search
    char http_host[CFG_ENDPOINT_MAX];
    unsigned http_port;
    unsigned gateways;
    unsigned http_max_connections;
    unsigned storage_timeout_ms;               // gateway: wait for a storage reply
    char storage_endpoint[CFG_ENDPOINT_MAX];   // "" means ipc://DATA/storage.sock
    char config_path[CFG_PATH_MAX];            // file that was loaded, "" when none
    char sync_bind[CFG_ENDPOINT_MAX];          // "" means: serve no peers
    char sync_peers[PEERSPEC_TEXT_MAX];        // peerspec_list_parse
    uint64_t sync_retry_initial_ms;
    uint64_t sync_retry_max_ms;
    unsigned sync_retry_multiplier_pct;        // 200 for "2.0"
    unsigned sync_batch_max_changes;
    unsigned sync_batch_max_kb;
    unsigned sync_pull_wait_ms;
    uint64_t sync_peer_expiry_s;
    uint64_t sync_tombstone_ttl_s;
    uint64_t sync_compact_interval_s;
    char sync_policy[POLICY_NAME_MAX];         // one of POLICY_NAMES
    char sync_collective_policies[POLICY_OVERRIDES_TEXT_MAX];  // policy_overrides_parse
    char api_tokens[CFG_PATH_MAX];             // token file of the HTTP API, "" for none
    char tls_cert[CFG_PATH_MAX];               // gateway HTTPS certificate (PEM), "" for HTTP
    char tls_key[CFG_PATH_MAX];                // its private key (PEM, owner-only)
    char sync_ca_file[CFG_PATH_MAX];           // CA bundle for https:// peers, "" for the system's
    bool insecure;                             // serve beyond loopback without credentials
} cfg_t;

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

//  Secure by default: a node listens beyond loopback only with credentials.
//  `sockets` says which of the caller's sockets to check (CFG_EXPOSE_*).
//  Refuses (PDB_EINVAL, `why` says which option and what to do) when the
//  HTTP API listens beyond loopback while gateway/api_tokens is empty, or
//  sync/bind does (callers leave CFG_EXPOSE_SYNC out when the node has a
//  CURVE key pair), or storage/tcp does (it takes no credentials),
//  unless node/insecure is set: then it logs the exposure as a warning and
//  returns 0. Loopback means 127.0.0.0/8, ::1 or "localhost"; any
//  other name or a wildcard counts as exposed.
#define CFG_EXPOSE_HTTP 1u        // gateway/host
#define CFG_EXPOSE_SYNC 2u        // sync/bind
#define CFG_EXPOSE_STORAGE 4u     // storage/tcp
#define CFG_EXPOSE_ALL 7u
int cfg_exposure_check(const cfg_t *cfg, unsigned sockets, char why[PDB_ERRMSG_MAX]);

//  True when host (a name or an address literal) is loopback, as above.
bool cfg_host_is_loopback(const char *host);

//  Usage text listing every option, for --help: flag, what it is, accepted
//  values, default, file key and environment variable. Static storage.
const char *cfg_usage(void);

//  The same as a Markdown table, the one in README.md. Static storage.
const char *cfg_markdown(void);

#endif
