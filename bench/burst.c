/*
 * burst.c - a burst through ember-local (emu/): every sandbox reaped, then C
 * concurrent first requests, then C more while warm; client latency, split
 * into cold and warm by ember-local's REPORT lines.
 */
#define _GNU_SOURCE
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "xalloc.h"

struct client {
    int        fd;
    int64_t    t0;
    struct ember_buf in;
    int        done;
};

/* C concurrent GETs of path on 127.0.0.1:port; latencies and request ids. */
static int burst_once(int port, const char *path, const char *token, int c, double *ms,
                      char (*ids)[64], int *status)
{
    struct client *cl = ember_xcalloc((size_t) c, sizeof(*cl));
    struct pollfd *pfd = ember_xcalloc((size_t) c, sizeof(*pfd));
    struct sockaddr_in sa;
    char   req[2048];
    int    i, left = c, n;
    int64_t deadline = ember_bench_now_ns() + 30LL * 1000000000;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Authorization: Bearer %s\r\nConnection: close\r\n\r\n", path, port, token);
    for (i = 0; i < c; i++) {
        cl[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cl[i].t0 = ember_bench_now_ns();
        if (cl[i].fd < 0 || connect(cl[i].fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
            || send(cl[i].fd, req, (size_t) n, MSG_NOSIGNAL) != n) {
            cl[i].done = 1;
            status[i] = -1;
            ms[i] = NAN;
            left--;
        }
    }
    while (left > 0 && ember_bench_now_ns() < deadline) {
        int np = 0;

        for (i = 0; i < c; i++) {
            pfd[i].fd = cl[i].done ? -1 : cl[i].fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
            np++;
        }
        if (poll(pfd, (nfds_t) np, 1000) < 0 && errno != EINTR)
            break;
        for (i = 0; i < c; i++) {
            char    tmp[16384];
            ssize_t r;

            if (cl[i].done || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = recv(cl[i].fd, tmp, sizeof(tmp), 0);
            if (r > 0) {
                ember_buf_append(&cl[i].in, tmp, (size_t) r);
                continue;
            }
            /* closed: the whole answer is in */
            ms[i] = (double) (ember_bench_now_ns() - cl[i].t0) / 1e6;
            cl[i].done = 1;
            left--;
            status[i] = cl[i].in.data != NULL && strncmp(cl[i].in.data, "HTTP/1.", 7) == 0
                        ? atoi(cl[i].in.data + 9) : -1;
            ids[i][0] = '\0';
            if (cl[i].in.data != NULL) {
                char *h = strcasestr(cl[i].in.data, "\r\nx-amzn-RequestId:");

                if (h != NULL) {
                    h += 19;
                    while (*h == ' ')
                        h++;
                    snprintf(ids[i], 64, "%.*s", (int) strcspn(h, "\r\n"), h);
                }
            }
        }
    }
    for (i = 0; i < c; i++) {
        if (!cl[i].done) {
            ms[i] = NAN;
            status[i] = -1;
        }
        if (cl[i].fd >= 0)
            close(cl[i].fd);
        ember_buf_free(&cl[i].in);
    }
    free(cl);
    free(pfd);
    return 0;
}

/* "cold" or "warm" for request id in ember-local's REPORT lines; -1 unknown. */
static int report_cold(const char *log, const char *id)
{
    FILE  *f = fopen(log, "r");
    char  *line = NULL;
    size_t cap = 0;
    int    cold = -1;
    char   key[96];

    if (f == NULL || id[0] == '\0') {
        if (f != NULL)
            fclose(f);
        return -1;
    }
    snprintf(key, sizeof(key), "RequestId: %s\t", id);
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "REPORT ", 7) == 0 && strstr(line, key) != NULL) {
            cold = strstr(line, "Start: cold") != NULL;
            break;
        }
    }
    free(line);
    fclose(f);
    return cold;
}

void ember_bench_run_burst(struct ember_bench *b, struct ember_bench_burst *br)
{
    char       *dir = ember_xasprintf("%s/local", b->o.out);
    char       *ready = ember_xasprintf("%s/ready", dir), *log = ember_xasprintf("%s/ember-local.log", dir);
    char        cbuf[16], portbuf[32];
    const char *db = getenv("DATABASE_URL");
    const char *path = db != NULL && b->o.routes[EMBER_BENCH_ITEMS] ? "/items/1" : "/hello";
    double     *ms;
    char      (*ids)[64];
    int        *status, r, i, port = 0;
    pid_t       pid;
    int64_t     until;

    br->ran = 1;
    br->c = b->o.burst;
    br->rounds = b->o.burst_rounds;
    mkdir(dir, 0755);
    unlink(ready);
    snprintf(cbuf, sizeof(cbuf), "%d", b->o.burst);
    pid = fork();
    if (pid == 0) {
        int   fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char *envs[8];
        char *argv[40];
        int   n = 0, e = 0;

        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        if (b->task_root == NULL) {
            envs[e++] = ember_xasprintf("EMBER_CONF=%s", b->o.conf);
            envs[e++] = ember_xasprintf("EMBER_PLUGIN_DIR=%s", b->o.plugin_dir);
        }
        envs[e++] = ember_xasprintf("JWT_SECRET=%s", b->secret);
        if (db != NULL)
            envs[e++] = ember_xasprintf("DATABASE_URL=%s", db);
        argv[n++] = (char *) b->o.local;
        argv[n++] = (char *) "serve";
        if (b->task_root != NULL) {
            argv[n++] = (char *) "--task-root";
            argv[n++] = b->task_root;
        } else {
            argv[n++] = (char *) "--bootstrap";
            argv[n++] = (char *) b->o.bootstrap;
        }
        for (i = 0; i < e; i++) {
            argv[n++] = (char *) "--env";
            argv[n++] = envs[i];
        }
        argv[n++] = (char *) "--port";
        argv[n++] = (char *) "0";
        argv[n++] = (char *) "--ready-file";
        argv[n++] = ready;
        argv[n++] = (char *) "--max-concurrency";
        argv[n++] = cbuf;
        argv[n++] = (char *) "--idle-timeout";
        argv[n++] = (char *) "0.5";
        argv[n++] = (char *) "--memory";
        argv[n++] = (char *) "512";
        argv[n] = NULL;
        execv(b->o.local, argv);
        _exit(127);
    }
    until = ember_bench_now_ns() + 10LL * 1000000000;
    while (ember_bench_now_ns() < until) {
        FILE *f = fopen(ready, "r");

        if (f != NULL) {
            if (fgets(portbuf, sizeof(portbuf), f) != NULL)
                port = atoi(portbuf);
            fclose(f);
            if (port > 0)
                break;
        }
        usleep(20000);
    }
    if (port <= 0) {
        snprintf(br->error, sizeof(br->error), "ember-local did not start (see %s)", log);
        br->errors++;
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        goto out;
    }

    ms = ember_xmalloc((size_t) b->o.burst * sizeof(double));
    ids = ember_xmalloc((size_t) b->o.burst * 64);
    status = ember_xmalloc((size_t) b->o.burst * sizeof(int));
    for (r = 0; r < b->o.burst_rounds; r++) {
        int k;

        /* every sandbox reaped (idle 0.5 s), then C at once, then C again (warm) */
        usleep(900000);
        for (k = 0; k < 2; k++) {
            burst_once(port, path, b->token, b->o.burst, ms, ids, status);
            usleep(50000);     /* the REPORT lines are written after the answers */
            for (i = 0; i < b->o.burst; i++) {
                int cold;

                if (status[i] != 200 || isnan(ms[i])) {
                    br->errors++;
                    if (br->error[0] == '\0')
                        snprintf(br->error, sizeof(br->error), "HTTP %d from ember-local "
                                 "(see %s)", status[i], log);
                    continue;
                }
                cold = report_cold(log, ids[i]);
                if (cold < 0)
                    cold = k == 0;     /* no REPORT line: by design of the round */
                ember_bench_series_add(cold ? &br->cold : &br->warm, ms[i]);
            }
        }
    }
    free(ms);
    free(ids);
    free(status);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
out:
    free(dir);
    free(ready);
    free(log);
}
