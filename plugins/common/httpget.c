/*
 * httpget.c - one HTTP/1.1 GET over loopback TCP (see httpget.h).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpget.h"
#include "plugutil.h"

static int failf(char *why, size_t size, const char *msg, int err)
{
    if (err != 0)
        snprintf(why, size, "%s: %s", msg, strerror(err));
    else
        snprintf(why, size, "%s", msg);
    return -1;
}

static int send_all(int fd, const char *p, size_t n, int64_t end, char *why, size_t size)
{
    ssize_t w;
    int     rc;

    while (n > 0) {
        w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t) w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rc = ember_pu_wait_fd(fd, POLLOUT, end);
            if (rc == 0)
                return failf(why, size, "no answer within the time left", 0);
            if (rc < 0)
                return failf(why, size, "sending", errno);
            continue;
        }
        return failf(why, size, "sending", errno);
    }
    return 0;
}

/* The end of the header block in b[0..n), or NULL. */
static char *head_end(char *b, size_t n)
{
    return memmem(b, n, "\r\n\r\n", 4);
}

/* The value of header `name` in the head (NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name, size_t *vlen)
{
    size_t      nl = strlen(name);
    const char *l = strstr(head, "\r\n");

    while (l != NULL && l[2] != '\0') {
        const char *line = l + 2, *eol = strstr(line, "\r\n"), *v;

        if (eol == NULL)
            eol = line + strlen(line);
        if ((size_t) (eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            *vlen = (size_t) (eol - v);
            while (*vlen > 0 && (v[*vlen - 1] == ' ' || v[*vlen - 1] == '\t'))
                (*vlen)--;
            return v;
        }
        l = *eol != '\0' ? eol : NULL;
    }
    return NULL;
}

/* A chunked body in p[0..n): its decoded length if complete (decoded in
   place when `decode`), -1 if incomplete or malformed (p untouched). */
static long dechunk(char *p, size_t n, int decode)
{
    size_t in = 0, out = 0;

    for (;;) {
        char         *end;
        unsigned long sz;
        char         *eol = memmem(p + in, n - in, "\r\n", 2);

        if (eol == NULL)
            return -1;
        sz = strtoul(p + in, &end, 16);
        if (end == p + in)
            return -1;
        in = (size_t) (eol - p) + 2;
        if (sz == 0)
            return (long) out;
        if (sz > n - in || n - in - sz < 2)
            return -1;
        if (decode)
            memmove(p + out, p + in, sz);
        out += sz;
        in += sz + 2;
    }
}

int ember_http_get(int port, const char *target, const char *const *headers, int64_t end,
                   struct ember_http_reply *r, char *why, size_t why_size)
{
    struct sockaddr_in  sa;
    struct ember_pu_buf req = {0}, in = {0};
    char                buf[4096], line[64];
    char               *he = NULL;
    const char         *v;
    size_t              vlen, i, body_at = 0;
    long                clen = -1, dlen = -1;
    int                 fd, rc, chunked = 0, err, ret = -1;
    socklen_t           elen = sizeof(err);
    ssize_t             got;

    r->status = 0;
    r->body = NULL;
    r->len = 0;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return failf(why, why_size, "socket", errno);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        if (errno != EINPROGRESS) {
            failf(why, why_size, "connecting", errno);
            goto out;
        }
        rc = ember_pu_wait_fd(fd, POLLOUT, end);
        if (rc <= 0) {
            failf(why, why_size, rc == 0 ? "no answer within the time left" : "connecting",
                  rc == 0 ? 0 : errno);
            goto out;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
            failf(why, why_size, "connecting", err != 0 ? err : errno);
            goto out;
        }
    }

    snprintf(line, sizeof(line), "localhost:%d", port);
    ember_pu_buf_adds(&req, "GET ");
    ember_pu_buf_adds(&req, target);
    ember_pu_buf_adds(&req, " HTTP/1.1\r\nHost: ");
    ember_pu_buf_adds(&req, line);
    ember_pu_buf_adds(&req, "\r\nAccept: application/json\r\nConnection: close\r\n");
    for (i = 0; headers != NULL && headers[i] != NULL; i++) {
        ember_pu_buf_adds(&req, headers[i]);
        ember_pu_buf_adds(&req, "\r\n");
    }
    ember_pu_buf_adds(&req, "\r\n");
    if (send_all(fd, req.p, req.len, end, why, why_size) < 0)
        goto out;

    /* Read until the body is complete (or the server closes). */
    for (;;) {
        got = recv(fd, buf, sizeof(buf), 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rc = ember_pu_wait_fd(fd, POLLIN, end);
            if (rc == 0) {
                failf(why, why_size, "no answer within the time left", 0);
                goto out;
            }
            if (rc < 0) {
                failf(why, why_size, "reading", errno);
                goto out;
            }
            continue;
        }
        if (got < 0) {
            failf(why, why_size, "reading", errno);
            goto out;
        }
        if (got > 0)
            ember_pu_buf_add(&in, buf, (size_t) got);
        if (in.len > EMBER_HTTPGET_MAX_BODY + 16384) {
            failf(why, why_size, "the answer is too large", 0);
            goto out;
        }
        if (he == NULL && in.p != NULL) {
            he = head_end(in.p, in.len);
            if (he != NULL) {
                *he = '\0';                       /* the head as a string */
                body_at = (size_t) (he - in.p) + 4;
                if (sscanf(in.p, "HTTP/1.%*1[01] %3d", &r->status) != 1 || r->status < 100) {
                    failf(why, why_size, "not an HTTP answer", 0);
                    goto out;
                }
                v = header(in.p, "Transfer-Encoding", &vlen);
                chunked = v != NULL && vlen >= 7 && strncasecmp(v + vlen - 7, "chunked", 7) == 0;
                v = header(in.p, "Content-Length", &vlen);
                if (v != NULL && !chunked) {
                    char *e;

                    clen = strtol(v, &e, 10);
                    if (e == v || clen < 0 || clen > EMBER_HTTPGET_MAX_BODY) {
                        failf(why, why_size, "a bad or too large Content-Length", 0);
                        goto out;
                    }
                }
            }
        }
        if (he != NULL) {
            size_t have = in.len - body_at;

            if (clen >= 0 && have >= (size_t) clen)
                break;
            if (chunked && have >= 5 && memmem(in.p + body_at, have, "0\r\n\r\n", 5) != NULL) {
                dlen = dechunk(in.p + body_at, have, 0);
                if (dlen >= 0) {
                    dechunk(in.p + body_at, have, 1);
                    break;
                }
            }
        }
        if (got == 0) {
            if (he == NULL) {
                failf(why, why_size, "the connection closed before an answer", 0);
                goto out;
            }
            if (clen >= 0 || chunked) {
                failf(why, why_size, "the connection closed mid-answer", 0);
                goto out;
            }
            break;                                /* close-delimited */
        }
    }

    if (chunked) {
        r->len = (size_t) dlen;
    } else {
        r->len = clen >= 0 ? (size_t) clen : in.len - body_at;
    }
    r->body = ember_pu_xstrndup(in.p + body_at, r->len);
    ret = 0;
out:
    close(fd);
    if (req.p != NULL) {
        explicit_bzero(req.p, req.len);
        free(req.p);
    }
    if (in.p != NULL) {
        explicit_bzero(in.p, in.cap);
        free(in.p);
    }
    return ret;
}
