/*
 * sample.c - one sample: a fresh process of a row, served by ember-bench's
 * Runtime API until its cold start, k warm invocations and its peak RSS are
 * measured:
 *   init   t0 -> the first GET .../invocation/next received
 *   cold   t0 -> the first POST .../response received whole
 *   warm   event sent -> response received, for k more invocations
 *   RSS    VmHWM of /proc/PID/status once idle in the (k+2)th `next`
 * t0 is taken just before the fork (proc.c), as an outside timer takes it.
 * For ember, its journey line (core/journey.c) adds the phases.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "xalloc.h"

#define RUN_TIMEOUT_NS   (15LL * 1000000000)    /* one process, all its invocations */
#define MAX_CONNS        8

static const char *const route_expect[] = { "ok", "water" };

void ember_bench_row_fail(struct ember_bench_row *row, const char *fmt, ...)
{
    va_list ap;

    row->fails++;
    if (row->first_error[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(row->first_error, sizeof(row->first_error), fmt, ap);
    va_end(ap);
}

static struct ember_bench_phase *row_phase(struct ember_bench_row *row, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < row->nphases; i++)
        if (strlen(row->phases[i].name) == len && strncmp(row->phases[i].name, name, len) == 0)
            return &row->phases[i];
    if (row->nphases == EMBER_BENCH_MAX_PHASES || len >= sizeof(row->phases[0].name))
        return NULL;
    memcpy(row->phases[row->nphases].name, name, len);
    row->phases[row->nphases].name[len] = '\0';
    return &row->phases[row->nphases++];
}

/*
 * The journey line of this run's log (JSON format):
 *   "journey":{"t0_us":N,"phases":{"exec":0.61,...},"total":1.12}
 * Phase durations go to the row; t0 is compared with our exec stamp.
 */
static void read_journey(struct ember_bench *b, struct ember_bench_row *row, int64_t t_exec)
{
    FILE       *f = fopen(b->logfile, "r");
    char       *line = NULL, *p, *q;
    size_t      cap = 0;
    int         found = 0;

    if (f == NULL)
        return;
    while (!found && getline(&line, &cap, f) > 0) {
        p = strstr(line, "\"journey\":{\"t0_us\":");
        if (p == NULL)
            continue;
        found = 1;
        p += 19;
        ember_bench_series_add(&row->t0_off, (double) (strtoll(p, &q, 10) * 1000 - t_exec) / 1e3);
        p = strstr(q, "\"phases\":{");
        if (p == NULL)
            break;
        p += 10;
        while (*p == '"') {
            struct ember_bench_phase *ph;
            char         *e = strchr(p + 1, '"');

            if (e == NULL || e[1] != ':')
                break;
            ph = row_phase(row, p + 1, (size_t) (e - p - 1));
            if (ph != NULL)
                ember_bench_series_add(&ph->ms, strtod(e + 2, &q));
            else
                strtod(e + 2, &q);
            p = q;
            if (*p == ',')
                p++;
        }
    }
    free(line);
    fclose(f);
    if (!found)
        ember_bench_row_fail(row, "no journey line in the log (%s)", b->logfile);
}

/*
 * One fresh process: its cold start, then k warm invocations, then its
 * peak RSS.  Samples go to row; a failure is counted with its first reason.
 */
void ember_bench_sample(struct ember_bench *b, struct ember_bench_block *blk,
                        struct ember_bench_row *row, int run)
{
    struct ember_bench_conn conns[MAX_CONNS];
    struct pollfd           pfd[MAX_CONNS + 2];
    int                     nconns = 0, polled, sent = 0, done = 0, failed = 0, i, pidfd;
    int                     total = 1 + blk->k;
    int64_t                 t_spawn = 0, t_next = 0, t_sent = 0, deadline;
    long                    rss = -1, faults = -1;
    pid_t                   pid;
    const char             *event = blk->event;

    pid = ember_bench_spawn(b, blk, row, &t_spawn);
    pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
    deadline = ember_bench_now_ns() + RUN_TIMEOUT_NS;

    while (!done && !failed) {
        int n = 0, timeout;

        pfd[n].fd = b->lfd;
        pfd[n++].events = POLLIN;
        pfd[n].fd = pidfd;
        pfd[n++].events = POLLIN;
        for (i = 0; i < nconns; i++) {
            pfd[n].fd = conns[i].fd;
            pfd[n++].events = POLLIN;
        }
        timeout = (int) ((deadline - ember_bench_now_ns()) / 1000000);
        if (timeout <= 0) {
            ember_bench_row_fail(row, "timed out after %lld s (%d of %d responses)",
                      RUN_TIMEOUT_NS / 1000000000, sent, total);
            failed = 1;
            break;
        }
        if (poll(pfd, (nfds_t) n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            ember_bench_die("poll: %s", strerror(errno));
        }
        polled = nconns;        /* pfd[2 + i] is about conns[i] for i < polled only */
        if (pfd[0].revents & POLLIN) {
            int fd = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);

            if (fd >= 0 && nconns < MAX_CONNS) {
                int one = 1;

                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                memset(&conns[nconns], 0, sizeof(conns[nconns]));
                conns[nconns++].fd = fd;
            } else if (fd >= 0) {
                close(fd);
            }
        }
        for (i = 0; i < polled && !done && !failed; i++) {
            struct ember_bench_conn   *cn = &conns[i];
            struct ember_bench_request rq;
            char           tmp[65536];
            ssize_t        r;
            int            pr;

            if (!(pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = recv(cn->fd, tmp, sizeof(tmp), 0);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                close(cn->fd);
                ember_buf_free(&cn->in);
                conns[i] = conns[--nconns];
                /* poll slots shift: handle the rest next round */
                break;
            }
            ember_buf_append(&cn->in, tmp, (size_t) r);
            while (!done && !failed && (pr = ember_bench_parse_request(cn, &rq)) != 0) {
                int64_t t = ember_bench_now_ns();

                if (pr < 0) {
                    ember_bench_row_fail(row, "a request the Runtime API cannot parse");
                    failed = 1;
                    break;
                }
                if (strcmp(rq.method, "GET") == 0 && strcmp(rq.path, EMBER_BENCH_API "/invocation/next") == 0) {
                    if (t_next == 0)
                        t_next = t;
                    if (sent < total) {
                        t_sent = ember_bench_now_ns();
                        if (ember_bench_send_event(cn->fd, event, run, sent) != 0) {
                            ember_bench_row_fail(row, "could not send the event");
                            failed = 1;
                        }
                        sent++;
                    } else {
                        rss = ember_bench_vm_hwm(pid);    /* idle in `next`: its peak is behind it */
                        faults = ember_bench_min_faults(pid);
                        if (b->o.smaps)
                            ember_bench_save_smaps(b, blk, row, pid);
                        done = 1;
                    }
                } else if (strcmp(rq.method, "POST") == 0 && strstr(rq.path, "/response") != NULL
                           && strstr(rq.path, "/invocation/") != NULL) {
                    if (memmem(rq.body, rq.body_len, "\"statusCode\":200", 16) == NULL
                        || memmem(rq.body, rq.body_len, route_expect[blk->route],
                                  strlen(route_expect[blk->route])) == NULL) {
                        ember_bench_row_fail(row, "unexpected response: %.*s", (int) (rq.body_len > 300
                                  ? 300 : rq.body_len), rq.body);
                        failed = 1;
                    } else if (sent == 1) {
                        ember_bench_series_add(&row->init, (double) (t_next - t_spawn) / 1e6);
                        ember_bench_series_add(&row->cold, (double) (t - t_spawn) / 1e6);
                        if (*b->exec_stamp != 0)
                            ember_bench_series_add(&row->spawn,
                                                   (double) (*b->exec_stamp - t_spawn) / 1e3);
                    } else {
                        ember_bench_series_add(&row->warm, (double) (t - t_sent) / 1e3);
                    }
                    if (ember_bench_send_accepted(cn->fd) != 0 && !failed) {
                        ember_bench_row_fail(row, "could not answer the response POST");
                        failed = 1;
                    }
                } else if (strcmp(rq.method, "POST") == 0) {
                    ember_bench_row_fail(row, "%s %s: %.*s", rq.method, rq.path,
                              (int) (rq.body_len > 300 ? 300 : rq.body_len), rq.body);
                    ember_bench_send_accepted(cn->fd);
                    failed = 1;
                } else {
                    ember_bench_row_fail(row, "unexpected request %s %s", rq.method, rq.path);
                    failed = 1;
                }
                ember_buf_consume(&cn->in, rq.total);
                free(rq.body);
            }
        }
        if (!done && !failed && pfd[1].revents & POLLIN) {
            int st;

            if (waitpid(pid, &st, WNOHANG) == pid) {
                ember_bench_row_fail(row, "the process exited (%s %d) after %d of %d events; see %s",
                          WIFEXITED(st) ? "status" : "signal",
                          WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), sent, total,
                          row->kind == EMBER_BENCH_EMBER ? b->logfile : "(not ember: no log)");
                failed = 1;
                pid = -1;
            }
        }
    }
    if (pid > 0)
        ember_bench_reap(pid);
    if (pidfd >= 0)
        close(pidfd);
    for (i = 0; i < nconns; i++) {
        close(conns[i].fd);
        ember_buf_free(&conns[i].in);
    }
    if (done && rss >= 0)
        ember_bench_series_add(&row->rss, (double) rss);
    if (done && faults >= 0)
        ember_bench_series_add(&row->faults, (double) faults);
    if (row->kind == EMBER_BENCH_EMBER && sent > 0)
        read_journey(b, row, *b->exec_stamp);
}
