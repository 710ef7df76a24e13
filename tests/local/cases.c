/*
 * cases.c - tests/local-cases: run the route-level cases through
 * ember-local, HTTP in and HTTP out.  The cases, their checks and the TAP
 * are tests/cases/ (shared with tests/ember-test-api, which runs the same
 * files through the Runtime API alone); this file is the transport.
 *
 *   local-cases --ember-local PATH --bootstrap PATH [--keep-going]
 *               [--timeout SECONDS] [--verbose] [--log FILE] CASE.json...
 *
 * One ember-local serves the cases in order with one sandbox, warm, as the
 * runner's one bootstrap (--max-concurrency 1; --inherit-env so the function
 * sees the driver's EMBER_CONF, secrets...; --test-headers so each request
 * picks its event format, stage and deadline).  A cold start stops it; the
 * next test starts another, with the "env" of the last case that asked for
 * the cold start.  It writes its stderr, with its sandbox's, to the log.
 * What only the Runtime API can show (invocation errors, exits, faults, raw
 * events, a made-up source IP) is a TAP SKIP here; so are is_base64 and an
 * ALB's statusDescription, which HTTP does not show (not checked).
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "apigw.h"
#include "cases.h"
#include "xalloc.h"

#define READY_MS   10000     /* ember-local must be listening within this */
#define FN_TIMEOUT "30"      /* the function's timeout, seconds */

/* The transport's state: one ember-local at a time. */
static const struct ember_case_run *run;
static const char                  *ember_local;
static json_object                 *env;        /* its --env: the last cold start's "env" */
static volatile pid_t               pid;        /* 0: not running */
static unsigned                     port;
static char                        *ready;      /* its --ready-file */

/* ------------------------------------------------------------ ember-local */

static int local_alive(void)
{
    int st;

    if (pid <= 0)
        return 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = 0;
        return 0;
    }
    return 1;
}

/* SIGTERM, SIGKILL after 5 s; the next test starts another (c's "env", if c). */
static void stop_local(const struct ember_case *c)
{
    int64_t until = ember_case_now_ms() + 5000;
    int     st;

    if (c) {
        json_object_put(env);
        env = json_object_get(jget(c->j, "env"));
    }
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (ember_case_now_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        ember_case_sleep_ms(10);
    }
    pid = 0;
}

/* ember-local, started if need be. 0, or -1 with t failed. */
static int start_local(struct ember_case_test *t)
{
    const char *argv[64];
    char       *envargs[32], buf[32];
    size_t      argc = 0, nenv = 0, i;
    int64_t     until;
    pid_t       p;

    if (local_alive())
        return 0;
    unlink(ready);
    argv[argc++] = ember_local;
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--ready-file";
    argv[argc++] = ready;
    argv[argc++] = "--bootstrap";
    argv[argc++] = run->bootstrap;
    argv[argc++] = "--task-root";      /* the sandbox's cwd: ours, as the runner's bootstrap */
    argv[argc++] = ".";
    argv[argc++] = "--inherit-env";
    argv[argc++] = "--function-name";
    argv[argc++] = "ember-test";
    argv[argc++] = "--memory";
    argv[argc++] = "512";
    argv[argc++] = "--max-concurrency";
    argv[argc++] = "1";
    argv[argc++] = "--timeout";
    argv[argc++] = FN_TIMEOUT;
    argv[argc++] = "--integration-timeout";
    argv[argc++] = "0";
    argv[argc++] = "--idle-timeout";
    argv[argc++] = "3600";
    argv[argc++] = "--test-headers";
    if (env != NULL) {
        json_object_object_foreach(env, k, v) {
            if (nenv + 1 >= sizeof(envargs) / sizeof(envargs[0]) || argc + 3 >= 64)
                break;
            envargs[nenv] = ember_xasprintf("%s=%s", k, v ? json_object_get_string(v) : "");
            argv[argc++] = "--env";
            argv[argc++] = envargs[nenv++];
        }
    }
    argv[argc] = NULL;

    fflush(stdout);
    p = fork();
    if (p == 0) {
        int devnull = open("/dev/null", O_RDWR);

        signal(SIGPIPE, SIG_DFL);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        dup2(run->log_fd, 2);
        execv(ember_local, (char *const *) argv);
        dprintf(2, "local-cases: cannot run %s: %s\n", ember_local, strerror(errno));
        _exit(127);
    }
    for (i = 0; i < nenv; i++)
        free(envargs[i]);
    if (p < 0) {
        ember_case_fail(t, "fork: %s", strerror(errno));
        return -1;
    }
    pid = p;
    for (until = ember_case_now_ms() + READY_MS; ; ember_case_sleep_ms(10)) {
        FILE *f = fopen(ready, "r");

        if (f != NULL) {
            int got = fgets(buf, sizeof(buf), f) != NULL;

            fclose(f);
            if (got) {
                port = (unsigned) atoi(buf);
                return 0;
            }
        }
        if (!local_alive()) {
            ember_case_fail(t, "ember-local exited at start; see the log");
            return -1;
        }
        if (ember_case_now_ms() > until) {
            ember_case_fail(t, "ember-local not ready within %d s", READY_MS / 1000);
            stop_local(NULL);
            return -1;
        }
    }
}

/* The sandbox process of an ember-local run with --max-concurrency 1: its only child. */
static pid_t sandbox_pid(void)
{
    DIR           *d;
    struct dirent *e;
    pid_t          found = 0;

    if (!local_alive())
        return 0;
    d = opendir("/proc");
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char  path[300], line[512], *rp;
        FILE *f;
        int   ppid;

        if (!isdigit((unsigned char) e->d_name[0]))
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(line, sizeof(line), f) != NULL) {
            rp = strrchr(line, ')');      /* comm may hold spaces */
            if (rp != NULL && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == (int) pid &&
                rp[2] != 'Z')
                found = (pid_t) atoi(e->d_name);
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

/* ------------------------------------------------------------ HTTP */

static void put_encoded(struct ember_buf *b, const char *s, int in_path)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char) *s;

        if (isalnum(c) || strchr("-._~!$'()*,;:@", c) != NULL || c == '%' ||
            (in_path && (c == '/' || c == '+' || c == '=' || c == '&'))) {
            ember_buf_append(b, s, 1);
        } else {
            char enc[3] = { '%', hex[c >> 4], hex[c & 15] };

            ember_buf_append(b, enc, 3);
        }
    }
}

/* The request as HTTP/1.1 bytes, for format fmt (ember-local's --test-headers). */
static void http_request(const struct ember_apigw_request *r, const char *fmt,
                         json_object *deadline_ms, struct ember_buf *out)
{
    size_t i;
    int    has_ct = 0;

    ember_buf_printf(out, "%s ", r->method);
    put_encoded(out, r->path, 1);
    for (i = 0; i < r->nquery; i++) {
        ember_buf_puts(out, i == 0 ? "?" : "&");
        put_encoded(out, r->query[i].name, 0);
        ember_buf_puts(out, "=");
        put_encoded(out, r->query[i].value, 0);
    }
    ember_buf_printf(out, " HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n", port);
    ember_buf_printf(out, "X-Ember-Format: %s\r\n", fmt);
    if (r->stage)
        ember_buf_printf(out, "X-Ember-Stage: %s\r\n", r->stage);
    if (deadline_ms && json_object_get_int64(deadline_ms) > 0)
        ember_buf_printf(out, "X-Ember-Deadline-Ms: %lld\r\n",
                         (long long) json_object_get_int64(deadline_ms));
    for (i = 0; i < r->nheaders; i++) {
        ember_buf_printf(out, "%s: %s\r\n", r->headers[i].name, r->headers[i].value);
        has_ct |= strcasecmp(r->headers[i].name, "content-type") == 0;
    }
    for (i = 0; i < r->ncookies; i++)
        ember_buf_printf(out, "%s%s%s", i == 0 ? "Cookie: " : "; ", r->cookies[i],
                         i + 1 == r->ncookies ? "\r\n" : "");
    if (r->binary && !has_ct)
        ember_buf_puts(out, "Content-Type: application/octet-stream\r\n");
    if (r->body || strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
        strcmp(r->method, "PATCH") == 0)
        ember_buf_printf(out, "Content-Length: %zu\r\n", r->body_len);
    ember_buf_puts(out, "\r\n");
    if (r->body_len > 0)
        ember_buf_append(out, r->body, r->body_len);
}

/* What came back (Connection: close) as the client sees it: status, headers, body. */
static int parse_http(struct ember_case_test *t, struct ember_buf *in,
                      struct ember_apigw_response *res)
{
    char       *hend = in->data ? strstr(in->data, "\r\n\r\n") : NULL, *line;
    const char *cl;
    size_t      cap = 0;

    if (hend == NULL || sscanf(in->data, "HTTP/1.%*d %d", &res->status) != 1) {
        ember_case_fail(t, "not an HTTP response (%zu bytes)", in->len);
        if (in->len > 0)
            ember_case_note_block(t, "  ", in->data, in->len, 1000);
        return -1;
    }
    *hend = '\0';
    res->body_len = in->len - (size_t) (hend + 4 - in->data);
    res->body = ember_xstrndup(hend + 4, res->body_len);
    for (line = strstr(in->data, "\r\n"); line != NULL; ) {
        char *next = strstr(line + 2, "\r\n"), *colon, *v;

        if (next)
            *next = '\0';
        colon = strchr(line + 2, ':');
        if (colon) {
            for (v = colon + 1; *v == ' '; v++)
                ;
            if (res->nheaders == cap) {
                cap = cap ? cap * 2 : 16;
                res->headers = ember_xrealloc(res->headers, cap * sizeof(*res->headers));
            }
            res->headers[res->nheaders].name = ember_xstrndup(line + 2,
                                                              (size_t) (colon - line - 2));
            res->headers[res->nheaders++].value = ember_xstrdup(v);
        }
        line = next;
    }
    cl = ember_apigw_response_header(res, "content-length");
    if (cl != NULL && (size_t) atol(cl) != res->body_len) {
        ember_case_fail(t, "short body: %zu of %ld bytes", res->body_len, atol(cl));
        return -1;
    }
    return 0;
}

/* Send req to ember-local, read the whole response into res. 0, or -1 with t failed. */
static int http_exchange(struct ember_case_test *t, const struct ember_buf *req, int timeout_ms,
                         struct ember_apigw_response *res)
{
    struct sockaddr_in sa;
    struct ember_buf   in = EMBER_BUF_INIT;
    int64_t            until = ember_case_now_ms() + timeout_ms;
    size_t             sent = 0;
    int                fd, rc = -1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        ember_case_fail(t, "connect 127.0.0.1:%u: %s", port, strerror(errno));
        goto out;
    }
    while (sent < req->len) {
        ssize_t n = send(fd, req->data + sent, req->len - sent, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;      /* it may have answered early (413): read that */
        sent += (size_t) n;
    }
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int64_t       left = until - ember_case_now_ms();
        char          chunk[16384];
        ssize_t       n;

        if (left <= 0) {
            ember_case_fail(t, "no complete HTTP response within %d ms", timeout_ms);
            goto out;
        }
        if (poll(&p, 1, (int) left) <= 0)
            continue;
        n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ember_buf_append(&in, chunk, (size_t) n);
    }
    rc = parse_http(t, &in, res);
out:
    if (fd >= 0)
        close(fd);
    ember_buf_free(&in);
    return rc;
}

/* ------------------------------------------------------------ the transport */

static int take_option(const char *opt, const char *arg)
{
    if (strcmp(opt, "--ember-local") != 0 || arg == NULL)
        return 0;
    ember_local = arg;
    return 2;
}

static int start(const struct ember_case_run *r, struct ember_buf *why)
{
    run = r;
    if (ember_local == NULL) {
        ember_buf_puts(why, "local-cases: --ember-local PATH is missing");
        return -1;
    }
    ready = ember_xasprintf("%s/port", r->tmp);
    return 0;
}

static const char *cannot(const struct ember_case *c)
{
    static const char *const rtapi_only[][2] = {
        { "event", "a prepared event: Runtime API only" },
        { "raw_event", "raw event bytes: Runtime API only" },
        { "expect_error", "an invocation error is not HTTP: Runtime API only" },
        { "expect_exit", "the bootstrap's exit: Runtime API only" },
        { "runtime_fault", "a Runtime API fault: Runtime API only" },
    };
    size_t i;

    for (i = 0; i < sizeof(rtapi_only) / sizeof(rtapi_only[0]); i++)
        if (jhas(c->j, rtapi_only[i][0]))
            return rtapi_only[i][1];
    if (jhas(jget(c->j, "request"), "source_ip"))
        return "a made-up source IP: Runtime API only";
    return NULL;
}

static void test(struct ember_case_test *t, const struct ember_case *c, size_t fi, int timeout)
{
    struct ember_case_request   rq;
    struct ember_apigw_response res;
    struct ember_buf            req = EMBER_BUF_INIT, errs = EMBER_BUF_INIT;

    memset(&res, 0, sizeof(res));
    if (start_local(t) != 0)
        return;
    if (ember_case_request(jget(c->j, "request"), &rq, &errs) != 0) {
        ember_case_fail(t, "%s", ember_buf_str(&errs));
    } else {
        http_request(&rq.r, c->fmts[fi].name, jget(c->j, "deadline_ms"), &req);
        if (run->verbose)
            ember_case_note(t, "request: %.2000s", ember_buf_str(&req));
        if (http_exchange(t, &req, timeout, &res) == 0 && jhas(c->j, "expect"))
            ember_case_check_response(t, jget(c->j, "expect"), "HTTP", &res, 1);
    }
    ember_apigw_response_clear(&res);
    ember_case_request_clear(&rq);
    ember_buf_free(&req);
    ember_buf_free(&errs);
}

static void finish(void)
{
    stop_local(NULL);
    if (ready)
        unlink(ready);
    free(ready);
    ready = NULL;
    json_object_put(env);
    env = NULL;
}

static void interrupt(void)
{
    if (pid > 0)
        kill(pid, SIGTERM);
    if (ready)
        unlink(ready);
}

static const struct ember_case_transport transport = {
    .name = "local-cases",
    .usage =
        "usage: local-cases --ember-local PATH --bootstrap PATH [--keep-going]\n"
        "                   [--timeout SECONDS] [--verbose] [--log FILE] CASE.json...\n"
        "Runs route-level cases through ember-local (HTTP in, HTTP out) and prints TAP.\n",
    .tap_suffix = " (ember-local)",
    .log_label = "ember-local and sandbox stderr",
    .timeout_ms = 20000,
    .log_lag_ms = 2000,          /* the function logs after answering */
    .option = take_option,
    .start = start,
    .cannot = cannot,
    .stop = stop_local,
    .test = test,
    .pid = sandbox_pid,
    .notes = NULL,
    .finish = finish,
    .interrupt = interrupt,
};

int main(int argc, char **argv)
{
    return ember_cases_main(argc, argv, &transport);
}
