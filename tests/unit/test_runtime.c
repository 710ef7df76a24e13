/*
 * test_runtime.c - the Runtime API client against a scripted fake Runtime
 * API: a thread listening on 127.0.0.1:0 that reads each request whole,
 * records it, and answers what the scenario says.  Assertions are made
 * after the server thread is joined.
 */
#define _GNU_SOURCE     /* memmem, strcasestr */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "runtime.h"
#include "xalloc.h"
#include "../tap.h"

#define ID      "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
#define UA      "User-Agent: ember/" PACKAGE_VERSION "\r\n"
#define NEXT    "/2018-06-01/runtime/invocation/next"
#define INV     "/2018-06-01/runtime/invocation/"
#define MB      (1024 * 1024)
#define ACCEPTED "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n" \
                 "Content-Length: 15\r\n\r\n{\"status\":\"OK\"}"
#define NEXT_MIN "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: min-1\r\n" \
                 "Content-Length: 2\r\n\r\n{}"
#define TIMEOUT_MS 5000

/* One scripted exchange: read one request, then answer. */
struct step {
    int         accept;     /* take a new connection first (closing the old one) */
    const char *reply;      /* NULL: close without answering */
    size_t      reply_len;  /* 0: strlen(reply) */
    int         close;      /* close the connection after answering */
    int         signal;     /* interrupt the client (SIGUSR1) while it waits */
};

struct seen {
    char   *head;           /* request line + headers + blank line */
    char   *body;
    size_t  body_len;
    int     conn;           /* index of the accepted connection it came on */
};

struct server {
    int                lfd;
    int                port;
    const struct step *steps;
    size_t             nsteps;
    struct seen        seen[32];
    size_t             nseen;
    int                naccepted;
    char               problem[256];    /* what went wrong server-side; "" if nothing */
    struct ember_buf   in;
    pthread_t          thread;
    pthread_t          client;
};

static volatile sig_atomic_t interrupted;

static void on_usr1(int sig)
{
    (void) sig;
    interrupted++;
}

static int wait_readable(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int           rc;

    do
        rc = poll(&pfd, 1, TIMEOUT_MS);
    while (rc < 0 && errno == EINTR);
    return rc > 0;
}

static ssize_t read_some(int fd, char *p, size_t n)
{
    ssize_t got;

    if (!wait_readable(fd))
        return -1;
    do
        got = recv(fd, p, n, 0);
    while (got < 0 && errno == EINTR);
    return got;
}

static int read_request(struct server *sv, int fd, struct seen *out)
{
    char        tmp[65536];
    const char *end, *cl;
    size_t      head_len, clen = 0;
    ssize_t     n;

    for (;;) {
        end = sv->in.len ? memmem(sv->in.data, sv->in.len, "\r\n\r\n", 4) : NULL;
        if (end != NULL)
            break;
        n = read_some(fd, tmp, sizeof(tmp));
        if (n <= 0)
            return -1;
        ember_buf_append(&sv->in, tmp, (size_t) n);
    }
    head_len = (size_t) (end - sv->in.data) + 4;
    out->head = ember_xstrndup(sv->in.data, head_len);
    cl = strcasestr(out->head, "\r\nContent-Length:");
    if (cl != NULL)
        clen = strtoul(cl + 17, NULL, 10);
    while (sv->in.len < head_len + clen) {
        n = read_some(fd, tmp, sizeof(tmp));
        if (n <= 0)
            return -1;
        ember_buf_append(&sv->in, tmp, (size_t) n);
    }
    out->body = ember_xstrndup(sv->in.data + head_len, clen);
    out->body_len = clen;
    ember_buf_consume(&sv->in, head_len + clen);
    return 0;
}

static void send_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;         /* the client may hang up on garbage; fine */
        p += w;
        n -= (size_t) w;
    }
}

static void *serve(void *arg)
{
    struct server     *sv = arg;
    const struct step *st;
    size_t             i;
    int                fd = -1;

    for (i = 0; i < sv->nsteps; i++) {
        st = &sv->steps[i];
        if (st->accept) {
            if (fd >= 0)
                close(fd);
            fd = wait_readable(sv->lfd) ? accept(sv->lfd, NULL, NULL) : -1;
            if (fd < 0) {
                snprintf(sv->problem, sizeof(sv->problem), "step %zu: no connection", i);
                break;
            }
            sv->naccepted++;
            ember_buf_reset(&sv->in);
        }
        if (sv->nseen == sizeof(sv->seen) / sizeof(sv->seen[0])) {
            snprintf(sv->problem, sizeof(sv->problem), "step %zu: too many requests", i);
            break;
        }
        if (fd < 0 || read_request(sv, fd, &sv->seen[sv->nseen]) != 0) {
            snprintf(sv->problem, sizeof(sv->problem), "step %zu: no full request", i);
            break;
        }
        sv->seen[sv->nseen++].conn = sv->naccepted - 1;
        if (st->signal) {
            usleep(100 * 1000);
            pthread_kill(sv->client, SIGUSR1);
            usleep(100 * 1000);
        }
        if (st->reply != NULL)
            send_all(fd, st->reply, st->reply_len ? st->reply_len : strlen(st->reply));
        if (st->reply == NULL || st->close) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void server_start(struct server *sv, const struct step *steps, size_t nsteps)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t          len = sizeof(sin);

    memset(sv, 0, sizeof(*sv));
    sv->steps = steps;
    sv->nsteps = nsteps;
    sv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sv->lfd < 0 || bind(sv->lfd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || listen(sv->lfd, 8) != 0 || getsockname(sv->lfd, (struct sockaddr *) &sin, &len) != 0) {
        printf("Bail out! cannot listen on 127.0.0.1: %s\n", strerror(errno));
        exit(1);
    }
    sv->port = ntohs(sin.sin_port);
    sv->client = pthread_self();
    pthread_create(&sv->thread, NULL, serve, sv);
}

/* Joins the server, counts connections nobody expected, stops listening. */
static void server_finish(struct server *sv)
{
    struct pollfd pfd = { .fd = sv->lfd, .events = POLLIN };
    int           fd;

    pthread_join(sv->thread, NULL);
    while (poll(&pfd, 1, 0) > 0) {
        fd = accept(sv->lfd, NULL, NULL);
        if (fd < 0)
            break;
        sv->naccepted++;
        close(fd);
    }
    close(sv->lfd);
    is_str(sv->problem, "", "server: script ran to the end");
}

static void server_free(struct server *sv)
{
    size_t i;

    for (i = 0; i < sv->nseen; i++) {
        free(sv->seen[i].head);
        free(sv->seen[i].body);
    }
    ember_buf_free(&sv->in);
}

static struct ember_runtime *client(const struct server *sv)
{
    struct ember_runtime *rt = NULL;
    struct ember_error    err = { 0 };
    char                  api[64];

    snprintf(api, sizeof(api), "127.0.0.1:%d", sv->port);
    if (ember_runtime_create(&rt, api, &err) != EMBER_OK) {
        printf("Bail out! %s\n", err.message);
        exit(1);
    }
    return rt;
}

/* "HTTP/1.1 ...\r\n<headers>Content-Length: n\r\n\r\n<body>". Caller frees. */
static char *reply_with(const char *status_and_headers, const char *body, size_t len,
                        size_t *total)
{
    struct ember_buf b = EMBER_BUF_INIT;

    ember_buf_printf(&b, "%sContent-Length: %zu\r\n\r\n", status_and_headers, len);
    ember_buf_append(&b, body, len);
    *total = b.len;
    return b.data;
}

static void is_head(const struct server *sv, size_t i, const char *fmt_without_host,
                    const char *extra, const char *name)
{
    char *want = ember_xasprintf(fmt_without_host, sv->port, extra);

    is_str(i < sv->nseen ? sv->seen[i].head : NULL, want, "%s", name);
    free(want);
}

#define GET_NEXT_HEAD  "GET " NEXT " HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" UA "%s\r\n"
#define POST_HEAD(p)   "POST " p " HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" UA "%s\r\n"

static char *expect_msg(const struct server *sv, const char *fmt)
{
    return ember_xasprintf(fmt, sv->port);
}

static void is_msg(const struct server *sv, const struct ember_error *err, const char *fmt,
                   const char *name)
{
    char *want = expect_msg(sv, fmt);

    is_str(err->message, want, "%s", name);
    free(want);
}

/* ------------------------------------------------------------------ */

static void test_next_and_respond(void)
{
    static const char body[] = "{\"rawPath\":\"/items/1\",\"requestContext\":{\"http\":{}}}";
    static const char answer[] = "{\"statusCode\":200}\0tail";     /* 23 bytes, one NUL */
    struct step            steps[2] = { { .accept = 1 }, { .reply = ACCEPTED } };
    struct server          sv;
    struct ember_runtime  *rt;
    struct ember_invocation inv;
    struct ember_error     err = { 0 };
    char                  *reply;
    size_t                 reply_len;

    reply = reply_with("HTTP/1.1 200 OK\r\n"
                       "Content-Type: application/json\r\n"
                       "lambda-runtime-aws-request-id: " ID "\r\n"
                       "Lambda-Runtime-Deadline-Ms: 1542409706888\r\n"
                       "LAMBDA-RUNTIME-INVOKED-FUNCTION-ARN: "
                       "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime\r\n"
                       "Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;"
                       "Parent=9a9197af755a6419;Sampled=1\r\n"
                       "Lambda-Runtime-Client-Context:   {\"client\":{\"app_title\":\"ember\"}}  \r\n"
                       "Lambda-Runtime-Cognito-Identity: {\"cognitoIdentityId\":\"us-east-1:123\"}\r\n"
                       "Date: Tue, 01 Dec 2026 02:00:00 GMT\r\n",
                       body, strlen(body), &reply_len);
    steps[0].reply = reply;
    steps[0].reply_len = reply_len;
    unsetenv("_X_AMZN_TRACE_ID");

    server_start(&sv, steps, 2);
    rt = client(&sv);
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "next: succeeds");
    is_str(inv.request_id, ID, "next: request id (header name in lower case)");
    is_int(inv.deadline_ms, 1542409706888LL, "next: deadline");
    is_str(inv.function_arn, "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime",
           "next: function arn (header name in upper case)");
    is_str(inv.trace_id, "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;"
           "Sampled=1", "next: trace id");
    is_str(inv.client_context, "{\"client\":{\"app_title\":\"ember\"}}",
           "next: client context, surrounding blanks trimmed");
    is_str(inv.cognito_identity, "{\"cognitoIdentityId\":\"us-east-1:123\"}",
           "next: cognito identity");
    is_str(inv.event, body, "next: event body");
    is_int((long long) inv.event_len, (long long) strlen(body), "next: event length");
    is_str(getenv("_X_AMZN_TRACE_ID"), inv.trace_id, "next: _X_AMZN_TRACE_ID set");

    is_int(ember_runtime_respond(rt, inv.request_id, answer, sizeof(answer) - 1, &err),
           EMBER_OK, "respond: succeeds");
    ember_invocation_clear(&inv);
    ok(inv.request_id == NULL && inv.event == NULL, "invocation_clear empties it");
    server_finish(&sv);

    is_head(&sv, 0, GET_NEXT_HEAD, "", "next: exact request");
    is_head(&sv, 1, POST_HEAD(INV ID "/response"), "Content-Length: 23\r\n",
            "respond: exact request line and headers");
    ok(sv.nseen == 2 && sv.seen[1].body_len == 23
       && memcmp(sv.seen[1].body, answer, 23) == 0, "respond: exact body, NUL byte and all");
    is_int(sv.naccepted, 1, "keep-alive: one connection for both calls");
    ok(sv.nseen == 2 && sv.seen[0].conn == 0 && sv.seen[1].conn == 0,
       "keep-alive: both requests on the first connection");

    server_free(&sv);
    ember_runtime_free(rt);
    free(reply);
}

static void test_next_minimal(void)
{
    struct step steps[3] = {
        { .accept = 1, .reply = "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r-2\r\n"
                                "Lambda-Runtime-Deadline-Ms: soon\r\nContent-Length: 0\r\n\r\n" },
        { .reply = "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r-3\r\n\r\n"
                   "{\"until\":\"close\"}", .close = 1 },
        { .accept = 1, .reply = "HTTP/1.0 200 OK\r\nLambda-Runtime-Aws-Request-Id: r-4\r\n"
                                "Content-Length: 2\r\n\r\n[]" },
    };
    struct server           sv;
    struct ember_runtime   *rt;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };

    setenv("_X_AMZN_TRACE_ID", "stale", 1);
    server_start(&sv, steps, 3);
    rt = client(&sv);
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "next minimal: succeeds");
    is_str(inv.request_id, "r-2", "next minimal: request id");
    is_int(inv.deadline_ms, 0, "next minimal: unparseable deadline is 0");
    ok(inv.function_arn == NULL && inv.trace_id == NULL && inv.client_context == NULL
       && inv.cognito_identity == NULL, "next minimal: absent headers are NULL");
    ok(inv.event != NULL && inv.event[0] == '\0' && inv.event_len == 0,
       "next minimal: empty body is \"\", not NULL");
    is_str(getenv("_X_AMZN_TRACE_ID"), NULL, "next minimal: _X_AMZN_TRACE_ID unset");
    ember_invocation_clear(&inv);

    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "next, body ends at close: succeeds");
    is_str(inv.event, "{\"until\":\"close\"}", "next, body ends at close: event");
    ember_invocation_clear(&inv);

    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "next, HTTP/1.0 answer: succeeds");
    is_str(inv.event, "[]", "next, HTTP/1.0 answer: event");
    ember_invocation_clear(&inv);
    server_finish(&sv);
    is_int(sv.naccepted, 2, "a body that ends at close means a new connection next time");
    server_free(&sv);
    ember_runtime_free(rt);
}

static void test_idle_close(void)
{
    struct step steps[2] = {
        { .accept = 1, .reply = NEXT_MIN, .close = 1 },
        { .accept = 1, .reply = ACCEPTED },
    };
    struct server           sv;
    struct ember_runtime   *rt;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };

    server_start(&sv, steps, 2);
    rt = client(&sv);
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "idle close: next succeeds");
    usleep(50 * 1000);      /* the server has closed the kept-alive connection by now */
    is_int(ember_runtime_respond(rt, inv.request_id, "ok", 2, &err), EMBER_OK,
           "idle close: respond reconnects and succeeds");
    ember_invocation_clear(&inv);
    server_finish(&sv);
    is_int((long long) sv.nseen, 2, "idle close: the response was sent once");
    is_int(sv.naccepted, 2, "idle close: a second connection");
    is_head(&sv, 1, POST_HEAD(INV "min-1/response"), "Content-Length: 2\r\n",
            "idle close: exact request on the new connection");
    ok(sv.nseen == 2 && sv.seen[1].conn == 1, "idle close: it came on the new connection");
    server_free(&sv);
    ember_runtime_free(rt);
}

static void test_resend(void)
{
    struct step steps[3] = {
        { .accept = 1, .reply = NEXT_MIN },
        { .reply = NULL },                      /* reads the request, hangs up */
        { .accept = 1, .reply = ACCEPTED },
    };
    struct server           sv;
    struct ember_runtime   *rt;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };

    server_start(&sv, steps, 3);
    rt = client(&sv);
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "resend: next succeeds");
    is_int(ember_runtime_respond(rt, inv.request_id, "{\"a\":1}", 7, &err), EMBER_OK,
           "resend: respond survives a dropped kept-alive connection");
    ember_invocation_clear(&inv);
    server_finish(&sv);
    is_int((long long) sv.nseen, 3, "resend: the response was sent twice");
    is_int(sv.naccepted, 2, "resend: on a second connection");
    ok(sv.nseen == 3 && strcmp(sv.seen[1].head, sv.seen[2].head) == 0
       && sv.seen[2].body_len == 7 && memcmp(sv.seen[2].body, "{\"a\":1}", 7) == 0
       && sv.seen[2].conn == 1, "resend: the same request again, on the new connection");
    server_free(&sv);
    ember_runtime_free(rt);
}

static void test_fresh_close_no_retry(void)
{
    struct step             steps[1] = { { .accept = 1, .reply = NULL } };
    struct server           sv;
    struct ember_runtime   *rt;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };

    server_start(&sv, steps, 1);
    rt = client(&sv);
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_ERROR, "fresh close: next fails");
    is_int(err.status, 500, "fresh close: status 500");
    is_msg(&sv, &err, "runtime API 127.0.0.1:%d: GET " NEXT ": connection closed before a "
           "full response", "fresh close: message");
    ok(inv.request_id == NULL && inv.event == NULL, "fresh close: invocation left empty");
    server_finish(&sv);
    is_int(sv.naccepted, 1, "fresh close: no retry on a fresh connection");
    server_free(&sv);
    ember_runtime_free(rt);
}

static void test_chunked(void)
{
    struct ember_buf        big = EMBER_BUF_INIT;
    struct step             steps[3] = {
        { .accept = 1, .reply = "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: chunky\r\n"
                                "Transfer-Encoding: Chunked\r\n\r\n"
                                "5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n" },
        { .reply = NULL },
        { .reply = NEXT_MIN },
    };
    struct server           sv;
    struct ember_runtime   *rt;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };
    size_t                  i, bad = 0;

    ember_buf_puts(&big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                   "Lambda-Runtime-Aws-Request-Id: big\r\n\r\n30d40\r\n");
    for (i = 0; i < 200000; i++)
        ember_buf_append(&big, "abcdefghij" + i % 10, 1);
    ember_buf_puts(&big, "\r\n3\r\nEND\r\n0\r\n\r\n");
    steps[1].reply = big.data;

    server_start(&sv, steps, 3);
    rt = client(&sv);
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "chunked: next succeeds");
    is_str(inv.event, "hello, world", "chunked: chunks joined, extensions and trailer ignored");
    is_int((long long) inv.event_len, 12, "chunked: length");
    is_str(inv.request_id, "chunky", "chunked: headers still read");
    ember_invocation_clear(&inv);

    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "chunked, 200000-byte chunk: succeeds");
    is_int((long long) inv.event_len, 200003, "chunked, big chunk: length");
    for (i = 0; i < 200000 && inv.event; i++)
        bad += inv.event[i] != "abcdefghij"[i % 10];
    ok(inv.event && bad == 0 && strcmp(inv.event + 200000, "END") == 0,
       "chunked, big chunk: content exact");
    ember_invocation_clear(&inv);

    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "after chunked: next succeeds");
    is_str(inv.request_id, "min-1", "after chunked: framing kept in step");
    ember_invocation_clear(&inv);
    server_finish(&sv);
    is_int(sv.naccepted, 1, "chunked: one kept-alive connection throughout");
    server_free(&sv);
    ember_runtime_free(rt);
    ember_buf_free(&big);
}

static void test_errors_posted(void)
{
    static const char inv_body[] =
        "{\"errorMessage\":\"event \\\"x\\\" at /items\\nis not HTTP\","
        "\"errorType\":\"Runtime.InvalidEvent\",\"stackTrace\":[]}";
    static const char init_body[] =
        "{\"errorMessage\":\"conf/ember.conf:3: unknown plugin \\\"dbx\\\"\","
        "\"errorType\":\"Runtime.ConfigError\",\"stackTrace\":[]}";
    struct step          steps[3] = {
        { .accept = 1, .reply = ACCEPTED }, { .reply = ACCEPTED }, { .reply = ACCEPTED },
    };
    struct server        sv;
    struct ember_runtime *rt;
    struct ember_error   err = { 0 };
    char                 hdr[200];

    server_start(&sv, steps, 3);
    rt = client(&sv);
    is_int(ember_runtime_error(rt, ID, "Runtime.InvalidEvent", "event \"x\" at /items\nis not HTTP",
                               &err), EMBER_OK, "invocation error: succeeds");
    is_int(ember_runtime_error(rt, NULL, "Runtime.ConfigError",
                               "conf/ember.conf:3: unknown plugin \"dbx\"", &err), EMBER_OK,
           "init error: succeeds");
    is_int(ember_runtime_respond(rt, "a/b c?", "x", 1, &err), EMBER_OK,
           "respond with an odd request id: succeeds");
    server_finish(&sv);

    snprintf(hdr, sizeof(hdr), "Lambda-Runtime-Function-Error-Type: Runtime.InvalidEvent\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(inv_body));
    is_head(&sv, 0, POST_HEAD(INV ID "/error"), hdr, "invocation error: exact path and headers");
    is_str(sv.nseen > 0 ? sv.seen[0].body : NULL, inv_body, "invocation error: exact body");
    snprintf(hdr, sizeof(hdr), "Lambda-Runtime-Function-Error-Type: Runtime.ConfigError\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(init_body));
    is_head(&sv, 1, POST_HEAD("/2018-06-01/runtime/init/error"), hdr,
            "init error: exact path and headers");
    is_str(sv.nseen > 1 ? sv.seen[1].body : NULL, init_body, "init error: exact body");
    is_head(&sv, 2, POST_HEAD(INV "a%%2Fb%%20c%%3F/response"), "Content-Length: 1\r\n",
            "request id percent-encoded in the path");
    server_free(&sv);
    ember_runtime_free(rt);
}

static void test_status_errors(void)
{
    static const char too_large[] =
        "{\"errorMessage\":\"Exceeded maximum allowed payload size (6291556 bytes).\","
        "\"errorType\":\"RequestEntityTooLarge\"}";
    struct step             steps[5] = {
        { .accept = 1 },
        { .reply = ACCEPTED },
        { .reply = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 8\r\n\r\noops\nnow" },
        { .reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" },
        { .reply = "HTTP/1.1 200 OK\r\nLambda-Runtime-Deadline-Ms: 1\r\n"
                   "Content-Length: 2\r\n\r\n{}" },
    };
    struct server           sv;
    struct ember_runtime   *rt;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };
    char                   *reply;
    size_t                  reply_len;

    reply = reply_with("HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n",
                       too_large, strlen(too_large), &reply_len);
    steps[0].reply = reply;
    server_start(&sv, steps, 5);
    rt = client(&sv);

    is_int(ember_runtime_respond(rt, ID, "{}", 2, &err), EMBER_ERROR, "413 from the API: error");
    is_int(err.status, 413, "413 from the API: status 413");
    is_msg(&sv, &err, "runtime API 127.0.0.1:%d: POST " INV ID "/response: HTTP 413: "
           "{\"errorMessage\":\"Exceeded maximum allowed payload size (6291556 bytes).\","
           "\"errorType\":\"RequestEntityTooLarge\"}", "413 from the API: message");
    is_int(ember_runtime_error(rt, ID, "Runtime.ResponseTooLarge", "too large", &err), EMBER_OK,
           "after a 413 the connection is still good");

    is_int(ember_runtime_next(rt, &inv, &err), EMBER_ERROR, "500 from the API: error");
    is_int(err.status, 500, "500 from the API: status 500");
    is_msg(&sv, &err, "runtime API 127.0.0.1:%d: GET " NEXT ": HTTP 500: oops now",
           "500 from the API: message names endpoint and status");

    is_int(ember_runtime_respond(rt, ID, "{}", 2, &err), EMBER_ERROR, "400 from the API: error");
    is_int(err.status, 400, "400 from the API: status 400");
    is_msg(&sv, &err, "runtime API 127.0.0.1:%d: POST " INV ID "/response: HTTP 400",
           "400 from the API: message");

    is_int(ember_runtime_next(rt, &inv, &err), EMBER_ERROR, "no request id: error");
    is_msg(&sv, &err, "runtime API 127.0.0.1:%d: GET " NEXT ": no Lambda-Runtime-Aws-Request-Id "
           "header", "no request id: message");
    ok(inv.request_id == NULL && inv.event == NULL, "no request id: invocation left empty");
    ember_invocation_clear(&inv);

    server_finish(&sv);
    is_int(sv.naccepted, 1, "status errors: all on one connection");
    server_free(&sv);
    ember_runtime_free(rt);
    free(reply);
}

static void test_too_large(void)
{
    struct step          steps[2] = { { .accept = 1, .reply = ACCEPTED }, { .reply = ACCEPTED } };
    struct server        sv;
    struct ember_runtime *rt;
    struct ember_error   err = { 0 };
    char                *body = ember_xmalloc(6 * MB + 1);

    memset(body, 'x', 6 * MB + 1);
    server_start(&sv, steps, 2);
    rt = client(&sv);
    is_int(ember_runtime_respond(rt, ID, body, 6 * MB, &err), EMBER_OK,
           "respond: exactly 6 MB is sent");
    is_int(ember_runtime_respond(rt, ID, body, 6 * MB + 1, &err), EMBER_ERROR,
           "respond: 6 MB + 1 is refused");
    is_int(err.status, 413, "respond: too large is status 413");
    is_str(err.message, "response of 6291457 bytes is over Lambda's limit of 6291456 bytes; "
           "not sent", "respond: too large message");
    is_int(ember_runtime_respond(rt, ID, "small", 5, &err), EMBER_OK,
           "respond: the next one goes through");
    server_finish(&sv);
    is_int((long long) sv.nseen, 2, "too large: never reached the server");
    is_head(&sv, 0, POST_HEAD(INV ID "/response"), "Content-Length: 6291456\r\n",
            "6 MB: exact Content-Length");
    ok(sv.nseen == 2 && sv.seen[0].body_len == 6 * MB && sv.seen[0].body[6 * MB - 1] == 'x',
       "6 MB: whole body arrived");
    ok(sv.nseen == 2 && sv.seen[1].body_len == 5 && memcmp(sv.seen[1].body, "small", 5) == 0,
       "too large: the next request on the wire is the small one");
    is_int(sv.naccepted, 1, "too large: connection kept");
    server_free(&sv);
    ember_runtime_free(rt);
    free(body);
}

static void test_big_event(void)
{
    struct ember_buf        head = EMBER_BUF_INIT;
    struct step             steps[1] = { { .accept = 1 } };
    struct server           sv;
    struct ember_runtime   *rt;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };
    char                   *event = ember_xmalloc(7 * MB), *reply;
    size_t                  i, reply_len;

    for (i = 0; i < 7 * MB; i++)
        event[i] = (char) ('a' + i % 26);
    ember_buf_puts(&head, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < 1500; i++)          /* ~45 KB of headers, under the 64 KB cap */
        ember_buf_printf(&head, "X-Filler-%04zu: %020zu\r\n", i, i);
    ember_buf_puts(&head, "Lambda-Runtime-Aws-Request-Id: big-event\r\n");
    reply = reply_with(ember_buf_str(&head), event, 7 * MB, &reply_len);
    steps[0].reply = reply;
    steps[0].reply_len = reply_len;

    server_start(&sv, steps, 1);
    rt = client(&sv);
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "7 MB event, 1500 headers: succeeds");
    is_str(inv.request_id, "big-event", "7 MB event: request id after 1500 headers");
    ok(inv.event_len == 7 * MB && inv.event && memcmp(inv.event, event, 7 * MB) == 0
       && inv.event[7 * MB] == '\0', "7 MB event: exact and NUL-terminated");
    ember_invocation_clear(&inv);
    server_finish(&sv);
    server_free(&sv);
    ember_runtime_free(rt);
    ember_buf_free(&head);
    free(reply);
    free(event);
}

struct garbage {
    const char *reply;
    size_t      len;
    const char *why;        /* the end of the expected message */
};

static void test_garbage(void)
{
    static char huge_head[70 * 1024];
    static const char nul_reply[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n";
    static const struct garbage cases[] = {
        { "garbage\r\n\r\n", 0, "malformed status line \"garbage\"" },
        { "\x01\x02\x03\xff binary, no blank line", 0, "connection closed before a full response" },
        { huge_head, sizeof(huge_head), "response header section over 64 KB" },
        { "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: x\r\nContent-Length: 7340033\r\n\r\n",
          0, "body of 7340033 bytes is over the limit of 7340032" },
        { "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0,
          "body of 18446744073709551615 bytes is over the limit of 7340032" },
        { "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n", 0, "bad Content-Length \"12abc\"" },
        { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 0,
          "bad Content-Length \"3\"" },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0,
          "chunked body: bad chunk size line" },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n", 0,
          "body over 7340032 bytes" },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 0,
          "chunked body: chunk not followed by CRLF" },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0,
          "unsupported Transfer-Encoding \"gzip\"" },
        { "HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n", 0, "malformed header line \"Bad Header Line\"" },
        { "HTTP/1.1 200 OK\r\nX-A: one\ntwo\r\n\r\n", 0, "malformed header line \"X-A: one\ntwo\"" },
        { nul_reply, sizeof(nul_reply) - 1, "NUL byte in the response header" },
        { "HTTP/1.1 099 OK\r\n\r\n", 0, "malformed status line \"HTTP/1.1 099 OK\"" },
        { "HTTP/2 200 OK\r\n\r\n", 0, "malformed status line \"HTTP/2 200 OK\"" },
        { "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0,
          "connection closed before a full response" },
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    struct step             steps[N + 1];
    struct server           sv;
    struct ember_runtime   *rt;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };
    char                   *want;
    size_t                  i;

    memset(huge_head, 'h', sizeof(huge_head));
    memcpy(huge_head, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
    memset(steps, 0, sizeof(steps));
    for (i = 0; i < N; i++) {
        steps[i].accept = 1;
        steps[i].reply = cases[i].reply;
        steps[i].reply_len = cases[i].len;
        steps[i].close = 1;
    }
    steps[N].accept = 1;
    steps[N].reply = NEXT_MIN;

    server_start(&sv, steps, N + 1);
    rt = client(&sv);
    for (i = 0; i < N; i++) {
        memset(&err, 0, sizeof(err));
        is_int(ember_runtime_next(rt, &inv, &err), EMBER_ERROR, "garbage %zu: error", i);
        want = ember_xasprintf("runtime API 127.0.0.1:%d: GET " NEXT ": %s", sv.port, cases[i].why);
        is_str(err.message, want, "garbage %zu: message", i);
        is_int(err.status, 500, "garbage %zu: status 500", i);
        ok(inv.request_id == NULL && inv.event == NULL, "garbage %zu: invocation empty", i);
        free(want);
    }
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "after garbage: a good answer works");
    is_str(inv.request_id, "min-1", "after garbage: request id");
    ember_invocation_clear(&inv);
    server_finish(&sv);
    is_int(sv.naccepted, N + 1, "garbage: one connection per answer, no retries");
    server_free(&sv);
    ember_runtime_free(rt);
}

static void test_connection_close_header(void)
{
    struct step steps[2] = {
        { .accept = 1, .reply = "HTTP/1.1 202 Accepted\r\nConnection: close\r\n"
                                "Content-Length: 15\r\n\r\n{\"status\":\"OK\"}" },
        { .accept = 1, .reply = ACCEPTED },
    };
    struct server        sv;
    struct ember_runtime *rt;
    struct ember_error   err = { 0 };

    server_start(&sv, steps, 2);
    rt = client(&sv);
    is_int(ember_runtime_respond(rt, ID, "1", 1, &err), EMBER_OK, "Connection: close: respond");
    is_int(ember_runtime_respond(rt, ID, "2", 1, &err), EMBER_OK,
           "Connection: close: the next call opens a new connection");
    server_finish(&sv);
    is_int(sv.naccepted, 2, "Connection: close: honoured");
    server_free(&sv);
    ember_runtime_free(rt);
}

static void test_eintr(void)
{
    struct step             steps[1] = { { .accept = 1, .reply = NEXT_MIN, .signal = 1 } };
    struct sigaction        sa, old;
    struct server           sv;
    struct ember_runtime   *rt;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;            /* no SA_RESTART: recv returns EINTR */
    sigaction(SIGUSR1, &sa, &old);
    interrupted = 0;
    server_start(&sv, steps, 1);
    rt = client(&sv);
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_OK, "EINTR: next goes on waiting");
    is_int(interrupted, 1, "EINTR: a signal arrived while waiting");
    is_str(inv.request_id, "min-1", "EINTR: the event arrives");
    ember_invocation_clear(&inv);
    server_finish(&sv);
    server_free(&sv);
    ember_runtime_free(rt);
    sigaction(SIGUSR1, &old, NULL);
}

static void test_refused(void)
{
    struct sockaddr_in      sin = { .sin_family = AF_INET,
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t               len = sizeof(sin);
    struct ember_runtime   *rt = NULL;
    struct ember_invocation inv;
    struct ember_error      err = { 0 };
    char                    api[64], *want;
    int                     fd;

    /* a port that was free a moment ago and has no listener */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *) &sin, sizeof(sin));
    getsockname(fd, (struct sockaddr *) &sin, &len);
    close(fd);
    snprintf(api, sizeof(api), "127.0.0.1:%d", ntohs(sin.sin_port));

    is_int(ember_runtime_create(&rt, api, &err), EMBER_OK, "refused: create does not connect");
    is_int(ember_runtime_next(rt, &inv, &err), EMBER_ERROR, "refused: next fails");
    want = ember_xasprintf("runtime API %s: connect: Connection refused", api);
    is_str(err.message, want, "refused: message names the address");
    is_int(err.status, 500, "refused: status 500");
    memset(&err, 0, sizeof(err));
    is_int(ember_runtime_respond(rt, ID, "{}", 2, &err), EMBER_ERROR, "refused: respond fails");
    is_str(err.message, want, "refused: respond message");
    free(want);
    ember_runtime_free(rt);
}

static void test_create(void)
{
    static const char *bad[] = { "localhost", ":9001", "localhost:", "localhost:90x1",
                                 "[::1]", "[::1]9001", "[]:9001" };
    struct ember_runtime *rt = NULL;
    struct ember_error    err = { 0 };
    char                 *want;
    size_t                i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rt = (struct ember_runtime *) &err;
        is_int(ember_runtime_create(&rt, bad[i], &err), EMBER_ERROR, "create \"%s\": error", bad[i]);
        want = ember_xasprintf("AWS_LAMBDA_RUNTIME_API \"%s\": expected host:port", bad[i]);
        is_str(err.message, want, "create \"%s\": message", bad[i]);
        ok(rt == NULL, "create \"%s\": no runtime", bad[i]);
        free(want);
    }
    is_int(ember_runtime_create(&rt, NULL, &err), EMBER_ERROR, "create NULL: error");
    is_str(err.message, "AWS_LAMBDA_RUNTIME_API is not set; expected host:port",
           "create NULL: message");
    is_int(ember_runtime_create(&rt, "[::1]:9001", &err), EMBER_OK, "create \"[::1]:9001\"");
    ember_runtime_free(rt);
    is_int(ember_runtime_create(&rt, "localhost:9001", &err), EMBER_OK, "create \"localhost:9001\"");
    ember_runtime_free(rt);
    ember_runtime_free(NULL);
    ok(1, "free(NULL) is harmless");
}

int main(void)
{
    alarm(120);         /* a hang is a failure */
    test_create();
    test_next_and_respond();
    test_next_minimal();
    test_idle_close();
    test_resend();
    test_fresh_close_no_retry();
    test_chunked();
    test_errors_posted();
    test_status_errors();
    test_too_large();
    test_big_event();
    test_garbage();
    test_connection_close_header();
    test_eintr();
    test_refused();
    return done_testing();
}
