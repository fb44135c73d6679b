/*  endpoint.c - the shape of endpoints and host names from outside text. */
#include "endpoint.h"
#include "decimal.h"

#include <stdint.h>
#include <string.h>

static bool
s_has_space(const char *text)
{
    for (const char *p = text; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            return true;
    return false;
}

bool
endpoint_host_valid(const char *host)
{
    if (*host == '\0')
        return false;
    for (const char *p = host; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
               || c == '.' || c == '-' || c == ':' || c == '_' || c == '%';
        if (!ok)
            return false;
    }
    return true;
}

const char *
endpoint_problem(const char *value, const char *schemes)
{
    size_t plen = 0;
    for (const char *p = schemes; *p;) {
        size_t n = strcspn(p, " ");
        if (strncmp(value, p, n) == 0) {
            plen = n;
            break;
        }
        p += n;
        p += *p == ' ';
    }
    if (plen == 0)
        return strchr(schemes, ' ') ? "must start with tcp:// or ipc://" : "must start with tcp://";
    if (value[plen] == '\0')
        return "has no address after the scheme";
    if (s_has_space(value))
        return "contains white space";
    if (strncmp(value, "tcp://", 6) != 0)
        return NULL;
    const char *colon = strrchr(value + plen, ':');
    uint64_t port;
    if (!colon || colon == value + plen)
        return "needs HOST:PORT";
    if (strcmp(colon + 1, "*") == 0)
        return NULL;
    if (decimal_parse_u64(colon + 1, &port) || port < 1 || port > 65535)
        return "has a port outside 1..65535";
    return NULL;
}
