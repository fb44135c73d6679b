/*  lean_client.h - a load generator that costs little CPU: one thread, one
    epoll set, `clients` keep-alive connections each with one POST in
    flight, replies read by Content-Length. Benchmarks run the node and
    their clients on the same cores, and a libcurl thread per client takes
    a large share of them; this one leaves them to the node, as clients on
    other machines would.
*/
#ifndef BENCH_LEAN_CLIENT_H
#define BENCH_LEAN_CLIENT_H

#include <stddef.h>

//  POSTs body (JSON) to path on host:port (IPv4, numeric) from `clients`
//  connections for `seconds`. Each reply with status `expect` adds its
//  latency (seconds) to lat (up to lat_cap); *errors_out counts the others
//  and the connections lost. Returns 0, or -1 when it could not start.
int lean_run(const char *host, unsigned port, const char *path, const char *body,
             double seconds, unsigned clients, unsigned expect, double *lat, size_t lat_cap,
             size_t *n_out, size_t *errors_out);

#endif
