/*  endpoint.h - the shape of a ZeroMQ endpoint or host name from outside
    text, checked before it reaches zmq_bind/zmq_connect so a typo is an
    error naming the value rather than a socket failure later.
*/
#ifndef PDB_ENDPOINT_H
#define PDB_ENDPOINT_H

#include <stdbool.h>

#define ENDPOINT_MAX 256          // bytes of an endpoint with its NUL

//  NULL when value starts with one of `schemes` (space separated, e.g.
//  "tcp:// ipc://") and has an address after it without white space; a
//  tcp:// address must be HOST:PORT with PORT 1..65535 or * (an ephemeral
//  bind). Otherwise a short static phrase saying what is wrong ("needs
//  HOST:PORT"), to follow the quoted value in an error.
const char *endpoint_problem(const char *value, const char *schemes);

//  True for a non-empty host name, IPv4 or IPv6 literal (without brackets,
//  a %zone allowed): A-Z a-z 0-9 . - : _ % only.
bool endpoint_host_valid(const char *host);

#endif
