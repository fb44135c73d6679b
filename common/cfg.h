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
      gateway/max_connections   PULSEDB_HTTP_MAX_CONNECTIONS --max-connections N 4096
      gateway/storage_timeout_ms PULSEDB_STORAGE_TIMEOUT_MS --storage-timeout-ms N 10000
      gateway/storage           PULSEDB_STORAGE_ENDPOINT  --storage EP      ipc://DATA/storage.sock
      sync/bind                 PULSEDB_SYNC_BIND         --sync-bind EP    tcp://127.0.0.1:7700
      sync/peers                PULSEDB_SYNC_PEERS        --sync-peers LIST "" (no peers)
      sync/retry_initial_ms     PULSEDB_SYNC_RETRY_INITIAL_MS --sync-retry-initial-ms N 100
      sync/retry_max_ms         PULSEDB_SYNC_RETRY_MAX_MS --sync-retry-max-ms N 30000
      sync/retry_multiplier     PULSEDB_SYNC_RETRY_MULTIPLIER --sync-retry-multiplier X 2.0
      sync/batch_max_changes    PULSEDB_SYNC_BATCH_MAX_CHANGES --sync-batch-max-changes N 1000
      sync/batch_max_kb         PULSEDB_SYNC_BATCH_MAX_KB --sync-batch-max-kb N 4096
      sync/pull_wait_ms         PULSEDB_SYNC_PULL_WAIT_MS --sync-pull-wait-ms N 5000
      sync/peer_expiry_s        PULSEDB_SYNC_PEER_EXPIRY_S --sync-peer-expiry-s N 604800 (7 days)
      sync/tombstone_ttl_s      PULSEDB_SYNC_TOMBSTONE_TTL_S --sync-tombstone-ttl-s N 1209600 (14 days)
      sync/compact_interval_s   PULSEDB_SYNC_COMPACT_INTERVAL_S --sync-compact-interval-s N 60
      sync/policy               PULSEDB_SYNC_POLICY       --sync-policy P   lww
      sync/collective_policies  PULSEDB_SYNC_COLLECTIVE_POLICIES --sync-collective-policies L  ""
      gateway/api_tokens        PULSEDB_API_TOKENS        --api-tokens FILE "" (no tokens)
      gateway/tls_cert          PULSEDB_TLS_CERT          --tls-cert FILE   "" (HTTP)
      gateway/tls_key           PULSEDB_TLS_KEY           --tls-key FILE    ""
      sync/ca_file              PULSEDB_SYNC_CA_FILE      --sync-ca-file FILE "" (system CAs)
      node/insecure             PULSEDB_INSECURE          --insecure        false

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
    gateway/storage with tcp:// or ipc://. sync/bind is tcp://HOST:PORT (PORT
    may be *), or "" to serve no peers. retry_initial_ms 1..3600000,
    retry_max_ms 1..86400000 and at least retry_initial_ms, retry_multiplier
    a decimal 1..10 with at most two decimals ("2", "1.5"), batch_max_changes
    1..10000, batch_max_kb 1..32768, pull_wait_ms 0..30000, peer_expiry_s
    60..315360000, tombstone_ttl_s greater than peer_expiry_s (a peer that
    could still send a change older than a purged tombstone must have
    expired first), compact_interval_s 1..86400, policy lww, remote_wins or
    local_wins.

    sync/peers is a list of peer specs separated by white space:

        NAME=tcp://HOST:PORT[,push|pull|both][,collectives=UUID[;UUID...]][,key=KEY]

    NAME is 1..64 characters of A-Z a-z 0-9 . _ - and names the peer's row
    in the peers database; the direction defaults to both; collectives
    limits the sync to those collectives (at most 256); key is the peer's
    CURVE public key (40 characters of Z85, from its `pulsedb keygen`),
    required when this node has a key pair. Example:

        sync
            peers = "beta=tcp://10.0.0.2:7700 edge-3=tcp://edge3:7700,pull,collectives=0190..."
*/
#ifndef PDB_CFG_H
#define PDB_CFG_H

#include "err.h"
#include "id.h"
#include "log.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_PATH_MAX 1024
#define CFG_ENDPOINT_MAX 256
#define CFG_COLLECTIVE_POLICIES_MAX 256             // per-collective overrides
#define CFG_COLLECTIVE_POLICIES_TEXT_MAX (CFG_COLLECTIVE_POLICIES_MAX * 50)
//  sun_path holds 108 bytes with its NUL; the longest socket we put in the
//  data folder is "/storage-events.sock" (20 bytes), so the folder path
//  itself may be at most 87 bytes.
#define CFG_DATA_DIR_IPC_MAX 87
#define CFG_PEERS_TEXT_MAX 16384          // sync/peers: 64 peers with long filters
#define CFG_PEERS_MAX 64                  // peers in sync/peers
#define CFG_PEER_NAME_MAX 128             // bytes of a peer name (the peers db key)
#define CFG_PEER_SPEC_NAME_MAX 64         // characters of a name written in sync/peers
#define CFG_PEER_COLLECTIVES_MAX 256      // collectives in one peer's filter
#define CFG_POLICY_MAX 16
#define CFG_PEER_KEY_LEN 40               // Z85 text of a CURVE public key (nodekey.h)

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
    unsigned storage_timeout_ms;               // gateway: wait for a storage reply
    char storage_endpoint[CFG_ENDPOINT_MAX];   // "" means ipc://DATA/storage.sock
    char config_path[CFG_PATH_MAX];            // file that was loaded, "" when none
    char sync_bind[CFG_ENDPOINT_MAX];          // "" means: serve no peers
    char sync_peers[CFG_PEERS_TEXT_MAX];       // see cfg_peers_parse
    uint64_t sync_retry_initial_ms;
    uint64_t sync_retry_max_ms;
    unsigned sync_retry_multiplier_pct;        // 200 for "2.0"
    unsigned sync_batch_max_changes;
    unsigned sync_batch_max_kb;
    unsigned sync_pull_wait_ms;
    uint64_t sync_peer_expiry_s;
    uint64_t sync_tombstone_ttl_s;
    uint64_t sync_compact_interval_s;
    char sync_policy[CFG_POLICY_MAX];          // "lww", "remote_wins", "local_wins"
    char sync_collective_policies[CFG_COLLECTIVE_POLICIES_TEXT_MAX];  // cfg_policies_parse
    char api_tokens[CFG_PATH_MAX];             // token file of the HTTP API, "" for none
    char tls_cert[CFG_PATH_MAX];               // gateway HTTPS certificate (PEM), "" for HTTP
    char tls_key[CFG_PATH_MAX];                // its private key (PEM, owner-only)
    char sync_ca_file[CFG_PATH_MAX];           // CA bundle for https:// peers, "" for the system's
    bool insecure;                             // serve beyond loopback without credentials
} cfg_t;

typedef enum { CFG_PEER_BOTH = 0, CFG_PEER_PUSH, CFG_PEER_PULL } cfg_peer_dir_t;

//  One sync peer: from sync/peers, or from a peers database row written by
//  `pulsedb peer add` (fields address, direction, collectives).
typedef struct {
    char name[CFG_PEER_NAME_MAX + 1];
    char address[CFG_ENDPOINT_MAX];            // tcp://HOST:PORT
    cfg_peer_dir_t direction;
    size_t collectives_n;                      // 0: every collective
    pdb_id_t collectives[CFG_PEER_COLLECTIVES_MAX];
    char public_key[CFG_PEER_KEY_LEN + 1];     // Z85 CURVE public key, "" for none
} cfg_peer_t;

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

//  Usage text listing every option, for --help.
const char *cfg_usage(void);

//  Parses a sync/peers list (see above). On 0, *peers (caller frees with
//  free(); NULL when the list is empty) holds *n peers in list order.
//  Returns 0, PDB_EINVAL with `why` naming the bad spec, or -ENOMEM.
int cfg_peers_parse(const char *text, cfg_peer_t **peers, size_t *n, char why[PDB_ERRMSG_MAX]);

//  Fills out from the fields of a peers database row: name (1..128 bytes,
//  not starting with "in:", which names inbound peers), address, direction
//  (NULL: both) and collectives ("UUID;UUID", NULL or "": all). Strings are
//  not NUL-terminated. Returns 0 or PDB_EINVAL with `why`.
int cfg_peer_from_fields(cfg_peer_t *out, const char *name, size_t name_len,
                         const char *address, size_t address_len,
                         const char *direction, size_t direction_len,
                         const char *collectives, size_t collectives_len,
                         char why[PDB_ERRMSG_MAX]);

//  Sets the peer's CURVE public key from its Z85 text (len bytes; len 0
//  clears it). Returns 0 or PDB_EINVAL with `why`.
int cfg_peer_set_key(cfg_peer_t *peer, const char *key, size_t len, char why[PDB_ERRMSG_MAX]);

//  "both", "push" or "pull".
const char *cfg_peer_dir_name(cfg_peer_dir_t direction);

//  True for a peer name of 1..max bytes of A-Z a-z 0-9 . _ - (the same
//  characters in configuration, the HTTP API and the command line).
bool cfg_peer_name_valid(const char *name, size_t len, size_t max);

//  sync/collective_policies: per-collective overrides of sync/policy, as
//  "UUID=POLICY UUID=POLICY ..." (POLICY lww, remote_wins or local_wins; at
//  most CFG_COLLECTIVE_POLICIES_MAX, no collective twice). `policy` is the
//  word's index in "lww remote_wins local_wins". Caller frees *out with free().
typedef struct {
    pdb_id_t collective;
    unsigned policy;
} cfg_collective_policy_t;

int cfg_policies_parse(const char *text, cfg_collective_policy_t **out, size_t *n,
                       char why[PDB_ERRMSG_MAX]);

#endif
