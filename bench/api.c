/*
 * api.c - the Runtime API side of ember-bench: a listening socket on
 * 127.0.0.1, requests read from the bootstraps (Content-Length or chunked
 * bodies), events and 202s written back.  The loop that serves one process
 * is sample.c's.
 */
#define _GNU_SOURCE     /* strcasestr */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bench.h"
#include "xalloc.h"

char *ember_bench_event(const char *path, const char *token)
{
    char *auth = token ? ember_xasprintf(",\"authorization\":\"Bearer %s\"", token) : ember_xstrdup("");
    char *ev = ember_xasprintf(
        "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":\"%s\","
        "\"rawQueryString\":\"\",\"headers\":{\"accept\":\"application/json\","
        "\"accept-encoding\":\"gzip, deflate, br\",\"content-length\":\"0\","
        "\"host\":\"r3pmxmplak.execute-api.us-east-1.amazonaws.com\","
        "\"user-agent\":\"ember-bench/1.0\",\"x-amzn-trace-id\":"
        "\"Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e\",\"x-forwarded-for\":\"127.0.0.1\","
        "\"x-forwarded-port\":\"443\",\"x-forwarded-proto\":\"https\"%s},"
        "\"requestContext\":{\"accountId\":\"123456789012\",\"apiId\":\"r3pmxmplak\","
        "\"domainName\":\"r3pmxmplak.execute-api.us-east-1.amazonaws.com\","
        "\"domainPrefix\":\"r3pmxmplak\",\"http\":{\"method\":\"GET\",\"path\":\"%s\","
        "\"protocol\":\"HTTP/1.1\",\"sourceIp\":\"127.0.0.1\",\"userAgent\":"
        "\"ember-bench/1.0\"},\"requestId\":\"JKJaXmPLvHcESHA=\",\"routeKey\":\"$default\","
        "\"stage\":\"$default\",\"time\":\"10/Mar/2020:05:16:23 +0000\","
        "\"timeEpoch\":1583817383220},\"isBase64Encoded\":false}",
        path, auth, path);

    free(auth);
    return ev;
}

/* The value of header name (with its colon) in head[0..end), or NULL. */
static const char *header(const char *head, const char *end, const char *name)
{
    const char *h = strcasestr(head, name);

    return h != NULL && h < end ? h + strlen(name) : NULL;
}

/* Chunks from p on: 1 with the body in rq when all are in, 0 if not yet, -1 if bad. */
static int dechunk(const char *p, const char *lim, struct ember_bench_request *rq,
                   const char *start)
{
    struct ember_buf body = EMBER_BUF_INIT;

    for (;;) {
        const char   *eol = memmem(p, (size_t) (lim - p), "\r\n", 2);
        char         *e;
        unsigned long size;

        if (eol == NULL)
            break;
        size = strtoul(p, &e, 16);
        if (e == p)
            goto bad;
        p = eol + 2;
        if (size == 0) {
            /* trailers, each ending in CRLF, then an empty line */
            const char *end = memmem(p - 2, (size_t) (lim - p + 2), "\r\n\r\n", 4);

            if (end == NULL)
                break;
            rq->total = (size_t) (end + 4 - start);
            rq->body_len = body.len;
            rq->body = body.data != NULL ? body.data : ember_xstrdup("");
            return 1;
        }
        if ((size_t) (lim - p) < size + 2)
            break;
        ember_buf_append(&body, p, size);
        p += size + 2;
    }
    ember_buf_free(&body);
    return 0;
bad:
    ember_buf_free(&body);
    return -1;
}

int ember_bench_parse_request(struct ember_bench_conn *c, struct ember_bench_request *rq)
{
    const char *in = c->in.data, *end, *cl, *te, *sp, *p, *e;
    size_t      head, blen = 0, n;

    if (c->in.len == 0)
        return 0;
    end = strstr(in, "\r\n\r\n");
    if (end == NULL)
        return c->in.len > 65536 ? -1 : 0;
    head = (size_t) (end - in) + 4;
    sp = strchr(in, ' ');
    if (sp == NULL || (size_t) (sp - in) >= sizeof(rq->method))
        return -1;
    memcpy(rq->method, in, (size_t) (sp - in));
    rq->method[sp - in] = '\0';
    p = sp + 1;
    e = strchr(p, ' ');
    if (e == NULL || e > end)
        return -1;
    n = (size_t) (e - p) < sizeof(rq->path) - 1 ? (size_t) (e - p) : sizeof(rq->path) - 1;
    memcpy(rq->path, p, n);
    rq->path[n] = '\0';
    te = header(in, end, "\r\nTransfer-Encoding:");
    if (te != NULL && strncasecmp(te + strspn(te, " "), "chunked", 7) == 0)
        return dechunk(in + head, in + c->in.len, rq, in);
    cl = header(in, end, "\r\nContent-Length:");
    if (cl != NULL)
        blen = strtoul(cl, NULL, 10);
    if (c->in.len < head + blen)
        return 0;
    rq->total = head + blen;
    rq->body = ember_xstrndup(in + head, blen);
    rq->body_len = blen;
    return 1;
}

static int send_all(int fd, const struct iovec *iov0, int n)
{
    struct iovec iov[4];
    struct msghdr msg;
    ssize_t w;

    memcpy(iov, iov0, (size_t) n * sizeof(*iov));
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t) n;
    while (msg.msg_iovlen > 0) {
        w = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        while (msg.msg_iovlen > 0 && (size_t) w >= msg.msg_iov->iov_len) {
            w -= (ssize_t) msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov->iov_base = (char *) msg.msg_iov->iov_base + w;
            msg.msg_iov->iov_len -= (size_t) w;
        }
    }
    return 0;
}

int ember_bench_send_event(int fd, const char *event, int run, int i)
{
    char         head[512];
    struct iovec iov[2];
    int          n;

    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-%06d%06d\r\n"
                 "Lambda-Runtime-Deadline-Ms: %lld\r\n"
                 "Lambda-Runtime-Invoked-Function-Arn: "
                 "arn:aws:lambda:us-east-1:123456789012:function:ember-bench\r\n"
                 "Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;"
                 "Parent=9a9197af755a6419;Sampled=1\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 run % 1000000, i % 1000000, (long long) (ember_bench_epoch_ms() + 30000), strlen(event));
    iov[0].iov_base = head;
    iov[0].iov_len = (size_t) n;
    iov[1].iov_base = (void *) event;
    iov[1].iov_len = strlen(event);
    return send_all(fd, iov, 2);
}

int ember_bench_send_accepted(int fd)
{
    static const char ok[] = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                             "Content-Length: 15\r\n\r\n{\"status\":\"OK\"}";
    struct iovec iov = { (void *) ok, sizeof(ok) - 1 };

    return send_all(fd, &iov, 1);
}

void ember_bench_listen(struct ember_bench *b)
{
    struct sockaddr_in sa;
    socklen_t          len = sizeof(sa);
    int                one = 1;

    b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (b->lfd < 0)
        ember_bench_die("socket: %s", strerror(errno));
    setsockopt(b->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(b->lfd, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(b->lfd, 64) != 0
        || getsockname(b->lfd, (struct sockaddr *) &sa, &len) != 0)
        ember_bench_die("listen on 127.0.0.1: %s", strerror(errno));
    b->port = ntohs(sa.sin_port);
}
