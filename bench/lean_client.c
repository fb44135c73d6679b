#include "lean_client.h"
#include "benchkit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LEAN_REPLY_MAX 65536         // bytes of one reply we hold

typedef struct {
    int fd;
    size_t sent;                     // bytes of the request written so far
    char reply[LEAN_REPLY_MAX];
    size_t got;                      // bytes of the reply read so far
    double t0;                       // when the request started
} s_conn_t;

static int
s_connect(const char *host, unsigned port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0
        || connect(fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

//  Length of a whole reply at the start of c->reply (headers and the body
//  Content-Length gives), 0 while incomplete, -1 for one we cannot read.
static long
s_reply_len(const s_conn_t *c, unsigned *status)
{
    const char *end = memmem(c->reply, c->got, "\r\n\r\n", 4);
    if (!end)
        return c->got >= sizeof c->reply ? -1 : 0;
    if (sscanf(c->reply, "HTTP/1.1 %u", status) != 1)
        return -1;
    size_t head = (size_t) (end - c->reply) + 4;
    size_t body = 0;
    for (const char *p = c->reply; p < end; p = strstr(p, "\r\n") + 2)
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            body = strtoul(p + 15, NULL, 10);
    if (head + body > sizeof c->reply)
        return -1;
    return c->got >= head + body ? (long) (head + body) : 0;
}

//  Writes what is left of the request; -1 on a failed connection.
static int
s_send(s_conn_t *c, const char *request, size_t len)
{
    while (c->sent < len) {
        ssize_t n = write(c->fd, request + c->sent, len - c->sent);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->sent += (size_t) n;
    }
    return 0;
}

int
lean_run(const char *host, unsigned port, const char *path, const char *body, double seconds,
         unsigned clients, unsigned expect, double *lat, size_t lat_cap, size_t *n_out,
         size_t *errors_out)
{
    size_t body_len = strlen(body);
    size_t cap = strlen(path) + body_len + 256;
    char *request = malloc(cap);
    s_conn_t *conns = calloc(clients, sizeof *conns);
    int ep = epoll_create1(0);
    if (!request || !conns || ep < 0) {
        free(request);
        free(conns);
        if (ep >= 0)
            close(ep);
        return -1;
    }
    size_t len = (size_t) snprintf(request, cap,
        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        "Content-Length: %zu\r\n\r\n%s", path, host, body_len, body);
    size_t n = 0, errors = 0;
    int rc = 0;
    double start = bench_now_s();
    for (unsigned i = 0; i < clients && !rc; i++) {
        s_conn_t *c = &conns[i];
        c->fd = s_connect(host, port);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (c->fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
            rc = -1;
            break;
        }
        c->t0 = bench_now_s();
        if (s_send(c, request, len) != 0)
            rc = -1;
    }
    double end = start + seconds;
    unsigned open = rc ? 0 : clients;
    while (open > 0) {
        struct epoll_event events[64];
        int k = epoll_wait(ep, events, 64, 1000);
        if (k < 0 && errno != EINTR) {
            rc = -1;
            break;
        }
        for (int e = 0; e < k; e++) {
            s_conn_t *c = events[e].data.ptr;
            ssize_t got = read(c->fd, c->reply + c->got, sizeof c->reply - c->got);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN)
                    continue;
                errors++;
                close(c->fd);
                c->fd = -1;
                open--;
                continue;
            }
            c->got += (size_t) got;
            unsigned status = 0;
            long whole = s_reply_len(c, &status);
            if (whole == 0)
                continue;
            double now = bench_now_s();
            if (whole < 0 || status != expect)
                errors++;
            else if (n < lat_cap)
                lat[n++] = now - c->t0;
            //  Keep-alive: the next request on the same connection.
            c->got = 0;
            c->sent = 0;
            if (whole < 0 || now >= end || n >= lat_cap || s_send(c, request, len) != 0) {
                close(c->fd);
                c->fd = -1;
                open--;
                continue;
            }
            c->t0 = now;
        }
    }
    for (unsigned i = 0; i < clients; i++)
        if (conns[i].fd > 0)
            close(conns[i].fd);
    close(ep);
    free(conns);
    free(request);
    *n_out = n;
    *errors_out = errors;
    return rc;
}
