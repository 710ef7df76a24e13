/*
 * proxy.c - a database "a few hundred microseconds away" on one machine: a
 * TCP proxy on 127.0.0.1 that holds every chunk it reads for delay_us
 * before passing it on, in both directions (a round trip costs twice the
 * delay), for when `tc netem` in a network namespace is not allowed.
 *
 * It runs as a child process (one poll loop, ppoll for sub-millisecond
 * timeouts) until SIGTERM.
 */
#define _GNU_SOURCE     /* ppoll */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "xalloc.h"

#define MAX_PAIRS 64

struct chunk {
    int64_t       due;
    size_t        len;          /* 0: the end of the stream */
    size_t        off;
    struct chunk *next;
    char          data[];
};

/* One direction: read from `from`, held, written to `to`. */
struct pipe {
    int           from, to;
    int           eof;          /* `from` said end of stream */
    struct chunk *head, *tail;
};

struct pair {
    int         on;
    struct pipe up, down;       /* client -> server, server -> client */
};

static int connect_to(int port)
{
    struct sockaddr_in sa;
    int                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void queue(struct pipe *p, const char *data, size_t len, int64_t due)
{
    struct chunk *c = ember_xmalloc(sizeof(*c) + len);

    c->due = due;
    c->len = len;
    c->off = 0;
    c->next = NULL;
    memcpy(c->data, data, len);
    if (p->tail != NULL)
        p->tail->next = c;
    else
        p->head = c;
    p->tail = c;
}

static void close_pair(struct pair *pr)
{
    struct pipe  *dirs[2] = { &pr->up, &pr->down };
    struct chunk *c, *next;
    int           i;

    for (i = 0; i < 2; i++)
        for (c = dirs[i]->head; c != NULL; c = next) {
            next = c->next;
            free(c);
        }
    close(pr->up.from);
    close(pr->down.from);
    memset(pr, 0, sizeof(*pr));
}

/* Writes what is due on p; -1 when the pair is done for. */
static int flush(struct pipe *p, int64_t now)
{
    while (p->head != NULL && p->head->due <= now) {
        struct chunk *c = p->head;

        if (c->len == 0) {
            shutdown(p->to, SHUT_WR);
        } else {
            ssize_t w = send(p->to, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);

            if (w < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
            if (w < 0)
                return -1;
            c->off += (size_t) w;
            if (c->off < c->len)
                return 0;
        }
        p->head = c->next;
        if (p->head == NULL)
            p->tail = NULL;
        free(c);
    }
    return 0;
}

static void serve(int lfd, int to_port, int64_t delay_ns)
{
    struct pair   pairs[MAX_PAIRS];
    struct pollfd pfd[1 + 2 * MAX_PAIRS];
    char          tmp[65536];

    memset(pairs, 0, sizeof(pairs));
    for (;;) {
        int64_t         now = ember_bench_now_ns(), next = -1;
        struct timespec ts;
        int             n = 0, i;

        pfd[n].fd = lfd;
        pfd[n++].events = POLLIN;
        for (i = 0; i < MAX_PAIRS; i++) {
            struct pipe *dirs[2] = { &pairs[i].up, &pairs[i].down };
            int          d;

            for (d = 0; d < 2; d++) {
                pfd[n].fd = pairs[i].on && !dirs[d]->eof ? dirs[d]->from : -1;
                pfd[n++].events = POLLIN;
                if (pairs[i].on && dirs[d]->head != NULL
                    && (next < 0 || dirs[d]->head->due < next))
                    next = dirs[d]->head->due;
            }
        }
        if (next >= 0) {
            int64_t wait = next > now ? next - now : 0;

            ts.tv_sec = wait / 1000000000;
            ts.tv_nsec = wait % 1000000000;
        }
        if (ppoll(pfd, (nfds_t) n, next >= 0 ? &ts : NULL, NULL) < 0 && errno != EINTR)
            _exit(1);
        now = ember_bench_now_ns();
        if (pfd[0].revents & POLLIN) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), sfd, one = 1;

            for (i = 0; cfd >= 0 && i < MAX_PAIRS && pairs[i].on; i++)
                ;
            sfd = cfd >= 0 && i < MAX_PAIRS ? connect_to(to_port) : -1;
            if (sfd < 0) {
                if (cfd >= 0)
                    close(cfd);
            } else {
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                pairs[i].on = 1;
                pairs[i].up.from = cfd;
                pairs[i].up.to = sfd;
                pairs[i].down.from = sfd;
                pairs[i].down.to = cfd;
            }
        }
        for (i = 0; i < MAX_PAIRS; i++) {
            struct pipe *dirs[2] = { &pairs[i].up, &pairs[i].down };
            int          d, dead = 0;

            if (!pairs[i].on)
                continue;
            for (d = 0; d < 2; d++) {
                if (pfd[1 + 2 * i + d].revents & (POLLIN | POLLHUP | POLLERR)) {
                    ssize_t r = recv(dirs[d]->from, tmp, sizeof(tmp), 0);

                    if (r > 0) {
                        queue(dirs[d], tmp, (size_t) r, now + delay_ns);
                    } else if (r == 0 || errno != EINTR) {
                        dirs[d]->eof = 1;
                        queue(dirs[d], "", 0, now + delay_ns);
                    }
                }
                if (flush(dirs[d], now) < 0)
                    dead = 1;
            }
            if (dead || (pairs[i].up.eof && pairs[i].down.eof && pairs[i].up.head == NULL
                         && pairs[i].down.head == NULL))
                close_pair(&pairs[i]);
        }
    }
}

pid_t ember_bench_proxy_start(int to_port, int delay_us, int *port_out)
{
    struct sockaddr_in sa;
    socklen_t          len = sizeof(sa);
    int                lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    pid_t              pid;

    if (lfd < 0)
        ember_bench_die("proxy: socket: %s", strerror(errno));
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(lfd, 64) != 0
        || getsockname(lfd, (struct sockaddr *) &sa, &len) != 0)
        ember_bench_die("proxy: listen on 127.0.0.1: %s", strerror(errno));
    *port_out = ntohs(sa.sin_port);
    pid = fork();
    if (pid < 0)
        ember_bench_die("proxy: fork: %s", strerror(errno));
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        serve(lfd, to_port, (int64_t) delay_us * 1000);
        _exit(0);
    }
    close(lfd);
    return pid;
}
