/*  peerspec.c - sync peer specs and peers database fields into peerspec_t. */
#include "peerspec.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PEER_SHOWN 40      // bytes of a spec quoted in an error

const char *
peerspec_dir_name(peerspec_dir_t direction)
{
    switch (direction) {
    case PEERSPEC_PUSH: return "push";
    case PEERSPEC_PULL: return "pull";
    default:            return "both";
    }
}

bool
peerspec_name_valid(const char *name, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

//  tcp://HOST:PORT where a connection can go: no wildcard host or port.
static const char *
s_peer_address_problem(const char *address, size_t len)
{
    char text[ENDPOINT_MAX];
    if (len == 0)
        return "has no address";
    if (len >= sizeof text)
        return "has an address that is too long";
    memcpy(text, address, len);
    text[len] = '\0';
    bool http = strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0;
    const char *problem = http ? NULL : endpoint_problem(text, "tcp://");
    if (http) {
        //  http(s)://HOST:PORT, checked as tcp://HOST:PORT would be: no path.
        char as_tcp[ENDPOINT_MAX];
        snprintf(as_tcp, sizeof as_tcp, "tcp://%s", strchr(text, ':') + 3);
        problem = strchr(as_tcp + 6, '/') ? "has a path after HOST:PORT"
                                          : endpoint_problem(as_tcp, "tcp://");
        memcpy(text, as_tcp, strlen(as_tcp) + 1);
    }
    if (problem)
        return problem;
    const char *colon = strrchr(text, ':');
    if (strcmp(colon, ":*") == 0)
        return "needs a port number, not *";
    char host[ENDPOINT_MAX];
    size_t host_len = (size_t) (colon - (text + 6));
    memcpy(host, text + 6, host_len);
    host[host_len] = '\0';
    //  [v6] literals keep their brackets in a ZeroMQ endpoint.
    if (host_len > 2 && host[0] == '[' && host[host_len - 1] == ']') {
        memmove(host, host + 1, host_len - 2);
        host[host_len - 2] = '\0';
    }
    if (strcmp(host, "*") == 0 || !endpoint_host_valid(host))
        return "has a host that is not a name or address";
    return NULL;
}

//  "UUID;UUID;..." into out. Returns NULL or the problem.
static const char *
s_peer_collectives(peerspec_t *out, const char *text, size_t len)
{
    out->collectives_n = 0;
    if (len == 0)
        return "has an empty collectives list";
    const char *p = text, *end = text + len;
    while (p <= end) {
        const char *semi = memchr(p, ';', (size_t) (end - p));
        size_t n = semi ? (size_t) (semi - p) : (size_t) (end - p);
        pdb_id_t id;
        if (n == 0 || pdb_id_parse(p, n, &id) != 0)
            return "has a collective that is not a UUID";
        for (size_t i = 0; i < out->collectives_n; i++)
            if (pdb_id_cmp(&out->collectives[i], &id) == 0)
                return "names a collective twice";
        if (out->collectives_n == PEERSPEC_COLLECTIVES_MAX)
            return "names more than 256 collectives";
        out->collectives[out->collectives_n++] = id;
        if (!semi)
            break;
        p = semi + 1;
    }
    return NULL;
}

static const char *
s_peer_direction(peerspec_t *out, const char *text, size_t len)
{
    static const struct { const char *name; peerspec_dir_t dir; } dirs[] = {
        { "both", PEERSPEC_BOTH }, { "push", PEERSPEC_PUSH }, { "pull", PEERSPEC_PULL },
    };
    for (size_t i = 0; i < 3; i++) {
        if (strlen(dirs[i].name) == len && memcmp(dirs[i].name, text, len) == 0) {
            out->direction = dirs[i].dir;
            return NULL;
        }
    }
    return "has a direction that is not push, pull or both";
}

static const char *
s_peer_key(peerspec_t *out, const char *text, size_t len)
{
    if (!nodekey_text_valid(text, len))
        return "has a key that is not 40 characters of Z85 (a CURVE public key)";
    memcpy(out->public_key, text, len);
    out->public_key[len] = '\0';
    return NULL;
}

int
peerspec_set_key(peerspec_t *peer, const char *key, size_t len, char why[PDB_ERRMSG_MAX])
{
    if (len == 0) {
        peer->public_key[0] = '\0';
        return 0;
    }
    const char *problem = s_peer_key(peer, key, len);
    if (!problem)
        return 0;
    snprintf(why, PDB_ERRMSG_MAX, "peer '%.40s' %s", peer->name, problem);
    return PDB_EINVAL;
}

//  One spec "NAME=ADDRESS[,OPTION]..." of len bytes. Returns NULL or the problem.
static const char *
s_peer_spec(peerspec_t *out, const char *spec, size_t len)
{
    memset(out, 0, sizeof *out);
    const char *eq = memchr(spec, '=', len);
    if (!eq)
        return "needs NAME=tcp://HOST:PORT";
    size_t name_len = (size_t) (eq - spec);
    if (name_len == 0 || name_len > PEERSPEC_LIST_NAME_MAX)
        return "needs a name of 1..64 characters before '='";
    if (!peerspec_name_valid(spec, name_len, PEERSPEC_LIST_NAME_MAX))
        return "has a name with characters other than A-Z a-z 0-9 . _ -";
    memcpy(out->name, spec, name_len);
    const char *p = eq + 1, *end = spec + len;
    bool seen_dir = false, seen_coll = false, seen_key = false;
    for (int item = 0; p <= end; item++) {
        const char *comma = memchr(p, ',', (size_t) (end - p));
        size_t n = comma ? (size_t) (comma - p) : (size_t) (end - p);
        const char *problem = NULL;
        if (item == 0) {
            problem = s_peer_address_problem(p, n);
            if (!problem)
                memcpy(out->address, p, n);
        }
        else if (n > 12 && memcmp(p, "collectives=", 12) == 0) {
            problem = seen_coll ? "gives collectives twice" : s_peer_collectives(out, p + 12, n - 12);
            seen_coll = true;
        }
        else if (n == 12 && memcmp(p, "collectives=", 12) == 0)
            problem = "has an empty collectives list";
        else if (n >= 4 && memcmp(p, "key=", 4) == 0) {
            problem = seen_key ? "gives a key twice" : s_peer_key(out, p + 4, n - 4);
            seen_key = true;
        }
        else if (seen_dir && !s_peer_direction(out, p, n))
            problem = "gives a direction twice";
        else {
            if (s_peer_direction(out, p, n))
                problem = "has an option that is not push, pull, both, collectives=... or key=...";
            seen_dir = true;
        }
        if (problem)
            return problem;
        if (!comma)
            break;
        p = comma + 1;
    }
    return NULL;
}

static bool
s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
peerspec_list_parse(const char *text, peerspec_t **peers, size_t *n, char why[PDB_ERRMSG_MAX])
{
    *peers = NULL;
    *n = 0;
    peerspec_t *list = NULL;
    size_t count = 0;
    const char *p = text;
    while (*p) {
        while (s_is_space(*p))
            p++;
        if (!*p)
            break;
        size_t len = 0;
        while (p[len] && !s_is_space(p[len]))
            len++;
        const char *problem = count == PEERSPEC_LIST_MAX ? "is one peer too many (at most 64)" : NULL;
        if (!problem && !list) {
            list = calloc(PEERSPEC_LIST_MAX, sizeof *list);
            if (!list)
                return -ENOMEM;
        }
        if (!problem)
            problem = s_peer_spec(&list[count], p, len);
        for (size_t i = 0; !problem && i < count; i++)
            if (strcmp(list[i].name, list[count].name) == 0)
                problem = "repeats a peer name";
        if (problem) {
            snprintf(why, PDB_ERRMSG_MAX, "peer spec '%.*s%s' %s", (int) (len < S_PEER_SHOWN
                     ? len : S_PEER_SHOWN), p, len > S_PEER_SHOWN ? "..." : "", problem);
            free(list);
            return PDB_EINVAL;
        }
        count++;
        p += len;
    }
    *peers = list;
    *n = count;
    return 0;
}

int
peerspec_from_fields(peerspec_t *out, const char *name, size_t name_len,
                     const char *address, size_t address_len,
                     const char *direction, size_t direction_len,
                     const char *collectives, size_t collectives_len,
                     char why[PDB_ERRMSG_MAX])
{
    memset(out, 0, sizeof *out);
    const char *problem = NULL;
    if (name_len == 0 || name_len > PEERSPEC_NAME_MAX || memchr(name, '\0', name_len))
        problem = "has a name that is empty, too long or holds a NUL";
    else if (store_peer_is_inbound(name, name_len))
        problem = "has a name starting with 'in:', which names inbound peers";
    if (!problem)
        problem = s_peer_address_problem(address, address_len);
    if (!problem && direction)
        problem = s_peer_direction(out, direction, direction_len);
    if (!problem && collectives && collectives_len > 0)
        problem = s_peer_collectives(out, collectives, collectives_len);
    if (problem) {
        snprintf(why, PDB_ERRMSG_MAX, "peer '%.*s' %s", (int) (name_len < S_PEER_SHOWN
                 ? name_len : S_PEER_SHOWN), name, problem);
        return PDB_EINVAL;
    }
    memcpy(out->name, name, name_len);
    memcpy(out->address, address, address_len);
    return 0;
}
