/*
 * runtime.c - the Lambda Runtime API client: HTTP/1.1 over one kept-alive
 * TCP socket to AWS_LAMBDA_RUNTIME_API, libc and json-c only.
 *
 * Requests carry Content-Length; answers may use Content-Length, chunked
 * transfer coding, or (HTTP/1.0 style) end at the close.  A kept-alive
 * connection that turns out to be closed is re-opened and the request
 * sent again, once per call.  Nothing here has a timeout: the sandbox may
 * be frozen for hours inside `next`.
 */
#define _GNU_SOURCE     /* memmem, strcasestr */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "error.h"
#include "runtime.h"
#include "xalloc.h"

#define API         "/2018-06-01/runtime"
#define MAX_HEAD    (64 * 1024)          /* header section of an answer */
#define MAX_EVENT   (7 * 1024 * 1024)    /* body of `next` */
#define MAX_REPLY   (64 * 1024)          /* body of any other answer */
#define MAX_LINE    4096                 /* a chunk-size or trailer line */
#define READ_CHUNK  (16 * 1024)          /* room made before each recv */
#define TRACE_ENV   "_X_AMZN_TRACE_ID"

/* Internal results: RT_CLOSED is a connection found closed (err filled). */
enum { RT_OK = 0, RT_ERROR = -1, RT_CLOSED = -2 };

struct ember_runtime {
    char             *api;      /* "host:port", for Host: and messages */
    char             *host;
    char             *port;
    int               fd;       /* -1: not connected */
    int               reused;   /* fd already carried a full exchange */
    struct ember_buf  in;       /* received, not yet consumed */
    const char       *method;   /* the request in flight, for messages */
    const char       *path;
    const volatile sig_atomic_t *stop;  /* set by a signal handler: give up a wait */
    sigset_t          waitmask; /* the signal mask while waiting: stop signals open */
};

struct header {
    const char *name;
    const char *value;
};

/* One answer. Everything owned; reply_free releases it. */
struct reply {
    int            status;
    char          *head;        /* header section; names and values point into it */
    struct header *h;
    size_t         nh;
    char          *body;        /* NUL-terminated, never NULL after a success */
    size_t         body_len;
    int            close;       /* the server closes the connection after it */
};

static void reply_free(struct reply *re)
{
    free(re->head);
    free(re->h);
    free(re->body);
    memset(re, 0, sizeof(*re));
}

static const char *reply_header(const struct reply *re, const char *name)
{
    size_t i;

    for (i = 0; i < re->nh; i++)
        if (strcasecmp(re->h[i].name, name) == 0)
            return re->h[i].value;
    return NULL;
}

/* Fills err with "runtime API host:port: METHOD /path: why"; returns RT_ERROR. */
static __attribute__((format(printf, 4, 5)))
int rt_fail(struct ember_runtime *rt, struct ember_error *err, int status, const char *fmt, ...)
{
    char    why[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    ember_fail(err, status, "runtime API %s: %s %s: %s", rt->api, rt->method, rt->path, why);
    return RT_ERROR;
}

int ember_runtime_create(struct ember_runtime **rt, const char *api, struct ember_error *err)
{
    const char           *host, *host_end, *port;
    struct ember_runtime *r;

    *rt = NULL;
    if (api == NULL || *api == '\0')
        return ember_fail(err, 500, "AWS_LAMBDA_RUNTIME_API is not set; expected host:port");
    host = api;
    host_end = strrchr(api, ':');
    if (api[0] == '[') {                        /* [::1]:9001 */
        host = api + 1;
        host_end = strchr(host, ']');
        if (host_end != NULL && host_end[1] != ':')
            host_end = NULL;
    }
    port = host_end ? host_end + (*host_end == ']' ? 2 : 1) : NULL;
    if (host_end == NULL || host_end == host || *port == '\0'
        || strspn(port, "0123456789") != strlen(port))
        return ember_fail(err, 500, "AWS_LAMBDA_RUNTIME_API \"%s\": expected host:port", api);

    r = ember_xcalloc(1, sizeof(*r));
    r->api = ember_xstrdup(api);
    r->host = ember_xstrndup(host, (size_t) (host_end - host));
    r->port = ember_xstrdup(port);
    r->fd = -1;
    *rt = r;
    return EMBER_OK;
}

static void disconnect(struct ember_runtime *rt)
{
    if (rt->fd >= 0)
        close(rt->fd);
    rt->fd = -1;
    rt->reused = 0;
    ember_buf_reset(&rt->in);
}

void ember_runtime_free(struct ember_runtime *rt)
{
    if (rt == NULL)
        return;
    disconnect(rt);
    ember_buf_free(&rt->in);
    free(rt->api);
    free(rt->host);
    free(rt->port);
    free(rt);
}

void ember_runtime_set_stop(struct ember_runtime *rt, const volatile sig_atomic_t *flag)
{
    sigset_t stopsigs;

    sigemptyset(&stopsigs);
    sigaddset(&stopsigs, SIGTERM);
    sigaddset(&stopsigs, SIGINT);
    sigprocmask(SIG_BLOCK, &stopsigs, &rt->waitmask);
    sigdelset(&rt->waitmask, SIGTERM);
    sigdelset(&rt->waitmask, SIGINT);
    rt->stop = flag;
}

/*
 * Wait until fd is readable with the stop signals unblocked (ppoll swaps
 * the mask atomically, so a signal that came before the wait is not lost).
 */
static int wait_readable(struct ember_runtime *rt, struct ember_error *err)
{
    struct pollfd pfd = { .fd = rt->fd, .events = POLLIN };

    for (;;) {
        if (*rt->stop)
            return rt_fail(rt, err, 500, "interrupted by a signal: stopping");
        if (ppoll(&pfd, 1, NULL, &rt->waitmask) >= 0)
            return 0;
        if (errno != EINTR)
            return rt_fail(rt, err, 500, "poll: %s", strerror(errno));
    }
}

/* connect(2) that survives a signal: an interrupted connect goes on in the background. */
static int connect_fd(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int           soerr = 0;
    socklen_t     soerr_len = sizeof(soerr);

    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINTR)
        return -1;
    while (poll(&pfd, 1, -1) < 0)
        if (errno != EINTR)
            return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) < 0)
        return -1;
    if (soerr != 0) {
        errno = soerr;
        return -1;
    }
    return 0;
}

static int connect_api(struct ember_runtime *rt, struct ember_error *err)
{
    struct addrinfo  hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                               .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res, *ai;
    int              rc, fd = -1, saved = ECONNREFUSED, one = 1;

    rc = getaddrinfo(rt->host, rt->port, &hints, &res);
    if (rc != 0)
        return ember_fail(err, 500, "runtime API %s: resolve: %s", rt->api,
                          rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (connect_fd(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return ember_fail(err, 500, "runtime API %s: connect: %s", rt->api, strerror(saved));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rt->fd = fd;
    rt->reused = 0;
    ember_buf_reset(&rt->in);
    return RT_OK;
}

/*
 * Unread bytes on a kept-alive connection would mean we are out of step:
 * not fit for the next request.  A connection the server closed while we
 * were away is not probed here (a poll(2) per request, on the warm path):
 * the request then meets EOF or a reset, RT_CLOSED, and roundtrip() sends
 * it again on a new connection, as it does for any reused one.
 */
static int still_open(const struct ember_runtime *rt)
{
    return rt->in.len == 0;
}

static int send_request(struct ember_runtime *rt, const struct ember_buf *head,
                        const char *body, size_t len, struct ember_error *err)
{
    struct iovec  iov[2] = { { head->data, head->len }, { (void *) body, len } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    ssize_t       n;
    int           saved;

    for (;;) {
        n = sendmsg(rt->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            saved = errno;
            rt_fail(rt, err, 500, "send: %s", strerror(saved));
            return saved == EPIPE || saved == ECONNRESET ? RT_CLOSED : RT_ERROR;
        }
        while (msg.msg_iovlen > 0 && (size_t) n >= msg.msg_iov->iov_len) {
            n -= (ssize_t) msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen == 0)
            return RT_OK;
        msg.msg_iov->iov_base = (char *) msg.msg_iov->iov_base + n;
        msg.msg_iov->iov_len -= (size_t) n;
    }
}

/* One recv(2): bytes read, 0 at EOF, or RT_CLOSED / RT_ERROR with err filled. */
static ssize_t recv_some(struct ember_runtime *rt, void *p, size_t n, struct ember_error *err)
{
    ssize_t got;

    if (rt->stop && wait_readable(rt, err) != 0)
        return RT_ERROR;
    do
        got = recv(rt->fd, p, n, 0);
    while (got < 0 && errno == EINTR);
    if (got >= 0)
        return got;
    if (errno == ECONNRESET) {
        rt_fail(rt, err, 500, "connection reset before a full response");
        return RT_CLOSED;
    }
    return rt_fail(rt, err, 500, "recv: %s", strerror(errno));
}

/* Reads more into rt->in (straight into its spare room: no copy, no big
   stack buffer); EOF is an error here (RT_CLOSED). */
static int fill(struct ember_runtime *rt, struct ember_error *err)
{
    ssize_t n;

    ember_buf_reserve(&rt->in, READ_CHUNK);
    n = recv_some(rt, rt->in.data + rt->in.len, rt->in.cap - rt->in.len - 1, err);
    if (n < 0)
        return (int) n;
    if (n == 0) {
        rt_fail(rt, err, 500, "connection closed before a full response");
        return RT_CLOSED;
    }
    rt->in.len += (size_t) n;
    rt->in.data[rt->in.len] = '\0';
    return RT_OK;
}

/* "HTTP/1.x NNN reason" -> NNN, or -1. */
static int parse_status_line(const char *s, int *http10)
{
    const unsigned char *u = (const unsigned char *) s;

    if (strncmp(s, "HTTP/1.", 7) != 0 || u[7] < '0' || u[7] > '9' || u[8] != ' '
        || u[9] < '1' || u[9] > '5' || u[10] < '0' || u[10] > '9'
        || u[11] < '0' || u[11] > '9' || (u[12] != ' ' && u[12] != '\0'))
        return -1;
    *http10 = u[7] == '0';
    return (u[9] - '0') * 100 + (u[10] - '0') * 10 + (u[11] - '0');
}

/* Decimal digits only; saturates at SIZE_MAX. -1 if not a number. */
static int parse_length(const char *s, size_t *out)
{
    size_t n = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        n = n > (SIZE_MAX - 9) / 10 ? SIZE_MAX : n * 10 + (size_t) (*s - '0');
    }
    *out = n;
    return 0;
}

/* Splits re->head (len bytes, every line ending in CRLF) into status and headers. */
static int parse_head(struct ember_runtime *rt, struct reply *re, size_t len,
                      int *has_length, size_t *length, int *chunked, struct ember_error *err)
{
    char   *line = re->head, *eol, *colon, *value, *end;
    size_t  cap = 0, n;
    int     http10 = 0, keep_alive = 0;

    *has_length = 0;
    *length = 0;
    *chunked = 0;
    if (memchr(re->head, '\0', len) != NULL)
        return rt_fail(rt, err, 500, "NUL byte in the response header");
    eol = strstr(line, "\r\n");
    *eol = '\0';
    re->status = parse_status_line(line, &http10);
    if (re->status < 0)
        return rt_fail(rt, err, 500, "malformed status line \"%.80s\"", line);

    for (line = eol + 2; *line != '\0'; line = eol + 2) {
        eol = strstr(line, "\r\n");
        *eol = '\0';
        colon = strchr(line, ':');
        if (strpbrk(line, "\r\n") != NULL || colon == NULL || colon == line
            || strcspn(line, " \t") < (size_t) (colon - line))
            return rt_fail(rt, err, 500, "malformed header line \"%.80s\"", line);
        *colon = '\0';
        for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
            ;
        for (end = value + strlen(value); end > value && (end[-1] == ' ' || end[-1] == '\t'); end--)
            ;
        *end = '\0';
        if (re->nh == cap) {
            cap = cap ? cap * 2 : 16;
            re->h = ember_xrealloc(re->h, cap * sizeof(*re->h));
        }
        re->h[re->nh].name = line;
        re->h[re->nh].value = value;
        re->nh++;

        if (strcasecmp(line, "Content-Length") == 0) {
            if (parse_length(value, &n) != 0 || (*has_length && *length != n))
                return rt_fail(rt, err, 500, "bad Content-Length \"%.40s\"", value);
            *has_length = 1;
            *length = n;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            if (strcasecmp(value, "chunked") != 0)
                return rt_fail(rt, err, 500, "unsupported Transfer-Encoding \"%.40s\"", value);
            *chunked = 1;
        } else if (strcasecmp(line, "Connection") == 0) {
            if (strcasestr(value, "close") != NULL)
                re->close = 1;
            if (strcasestr(value, "keep-alive") != NULL)
                keep_alive = 1;
        }
    }
    if (http10 && !keep_alive)
        re->close = 1;
    return RT_OK;
}

static int read_length(struct ember_runtime *rt, struct reply *re, size_t length,
                       struct ember_error *err)
{
    size_t  have = rt->in.len < length ? rt->in.len : length;
    ssize_t n;

    re->body = ember_xmalloc(length + 1);
    if (have > 0)
        memcpy(re->body, rt->in.data, have);
    ember_buf_consume(&rt->in, have);
    while (have < length) {
        n = recv_some(rt, re->body + have, length - have, err);
        if (n < 0)
            return (int) n;
        if (n == 0) {
            rt_fail(rt, err, 500, "connection closed before a full response");
            return RT_CLOSED;
        }
        have += (size_t) n;
    }
    re->body[length] = '\0';
    re->body_len = length;
    return RT_OK;
}

/* Waits for a CRLF-terminated line at the start of rt->in; *eol is its length. */
static int want_line(struct ember_runtime *rt, size_t *eol, struct ember_error *err)
{
    const char *p;
    int         rc;

    for (;;) {
        p = rt->in.len ? memmem(rt->in.data, rt->in.len, "\r\n", 2) : NULL;
        if (p != NULL) {
            *eol = (size_t) (p - rt->in.data);
            return RT_OK;
        }
        if (rt->in.len > MAX_LINE)
            return rt_fail(rt, err, 500, "chunked body: line over %d bytes", MAX_LINE);
        rc = fill(rt, err);
        if (rc != RT_OK)
            return rc;
    }
}

static int read_chunked(struct ember_runtime *rt, struct reply *re, size_t max,
                        struct ember_error *err)
{
    struct ember_buf body = EMBER_BUF_INIT;
    size_t           eol, size, i, trailers = 0;
    int              rc, digit;

    for (;;) {
        rc = want_line(rt, &eol, err);
        if (rc != RT_OK)
            goto out;
        size = 0;
        for (i = 0; i < eol; i++) {
            char c = rt->in.data[i];

            digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (digit < 0)
                break;
            size = size > max ? size : size * 16 + (size_t) digit;
        }
        if (i == 0 || (i < eol && rt->in.data[i] != ';' && rt->in.data[i] != ' '
                       && rt->in.data[i] != '\t')) {
            rc = rt_fail(rt, err, 500, "chunked body: bad chunk size line");
            goto out;
        }
        ember_buf_consume(&rt->in, eol + 2);
        if (size == 0)
            break;
        if (size > max - body.len) {
            rc = rt_fail(rt, err, 500, "body over %zu bytes", max);
            goto out;
        }
        while (rt->in.len < size + 2) {
            rc = fill(rt, err);
            if (rc != RT_OK)
                goto out;
        }
        if (rt->in.data[size] != '\r' || rt->in.data[size + 1] != '\n') {
            rc = rt_fail(rt, err, 500, "chunked body: chunk not followed by CRLF");
            goto out;
        }
        ember_buf_append(&body, rt->in.data, size);
        ember_buf_consume(&rt->in, size + 2);
    }
    /* trailer fields, up to an empty line; ignored */
    for (;;) {
        rc = want_line(rt, &eol, err);
        if (rc != RT_OK)
            goto out;
        ember_buf_consume(&rt->in, eol + 2);
        trailers += eol + 2;
        if (eol == 0)
            break;
        if (trailers > MAX_HEAD) {
            rc = rt_fail(rt, err, 500, "chunked body: trailer over 64 KB");
            goto out;
        }
    }
    re->body_len = body.len;
    re->body = body.data ? body.data : ember_xstrdup("");
    return RT_OK;
out:
    ember_buf_free(&body);
    return rc;
}

/* No length, not chunked: the body ends when the server closes. */
static int read_to_close(struct ember_runtime *rt, struct reply *re, size_t max,
                         struct ember_error *err)
{
    char    tmp[READ_CHUNK];
    ssize_t n;

    re->close = 1;
    for (;;) {
        n = recv_some(rt, tmp, sizeof(tmp), err);
        if (n < 0)
            return (int) n;
        if (n == 0)
            break;
        ember_buf_append(&rt->in, tmp, (size_t) n);
        if (rt->in.len > max)
            return rt_fail(rt, err, 500, "body over %zu bytes", max);
    }
    re->body_len = rt->in.len;
    re->body = ember_xstrndup(ember_buf_str(&rt->in), rt->in.len);
    ember_buf_reset(&rt->in);
    return RT_OK;
}

static int read_reply(struct ember_runtime *rt, struct reply *re, size_t max,
                      struct ember_error *err)
{
    const char *end;
    size_t      head_len, length;
    int         rc, chunked, has_length;

    for (;;) {
        end = rt->in.len ? memmem(rt->in.data, rt->in.len, "\r\n\r\n", 4) : NULL;
        if (end != NULL || rt->in.len > MAX_HEAD)
            break;
        rc = fill(rt, err);
        if (rc != RT_OK)
            return rc;
    }
    head_len = end ? (size_t) (end - rt->in.data) + 4 : SIZE_MAX;
    if (head_len > MAX_HEAD)
        return rt_fail(rt, err, 500, "response header section over 64 KB");
    /* keep the last header line's CRLF: every line ends in one */
    re->head = ember_xstrndup(rt->in.data, head_len - 2);
    ember_buf_consume(&rt->in, head_len);
    rc = parse_head(rt, re, head_len - 2, &has_length, &length, &chunked, err);
    if (rc != RT_OK)
        return rc;

    if (re->status == 204 || re->status == 304) {
        re->body = ember_xstrdup("");
        return RT_OK;
    }
    if (chunked)
        return read_chunked(rt, re, max, err);
    if (!has_length)
        return read_to_close(rt, re, max, err);
    if (length > max)
        return rt_fail(rt, err, 500, "body of %zu bytes is over the limit of %zu", length, max);
    return read_length(rt, re, length, err);
}

/*
 * Sends one request and reads its answer into re (the caller frees it
 * with reply_free, whatever the result).  A kept-alive connection found
 * closed is re-opened and the request sent again, once.  Any answer but
 * 2xx is an error with that status.
 */
static int roundtrip(struct ember_runtime *rt, const char *method, const char *path,
                     const char *headers, const char *body, size_t len, size_t max,
                     struct reply *re, struct ember_error *err)
{
    struct ember_buf req = EMBER_BUF_INIT;
    char             snippet[201];
    size_t           i;
    int              attempt, reused, rc = RT_ERROR;

    ember_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ember/%s\r\n%s",
                     method, path, rt->api, PACKAGE_VERSION, headers);
    if (strcmp(method, "GET") != 0)
        ember_buf_printf(&req, "Content-Length: %zu\r\n", len);
    ember_buf_puts(&req, "\r\n");
    rt->method = method;
    rt->path = path;

    for (attempt = 0; attempt < 2; attempt++) {
        if (rt->fd >= 0 && !still_open(rt))
            disconnect(rt);
        if (rt->fd < 0) {
            rc = connect_api(rt, err);
            if (rc != RT_OK)
                break;
        }
        reused = rt->reused;
        reply_free(re);
        rc = send_request(rt, &req, body, len, err);
        if (rc == RT_OK)
            rc = read_reply(rt, re, max, err);
        if (rc == RT_OK) {
            rt->reused = 1;
            if (re->close)
                disconnect(rt);
            break;
        }
        disconnect(rt);
        if (rc != RT_CLOSED || !reused)
            break;
    }
    ember_buf_free(&req);

    if (rc == RT_OK && (re->status < 200 || re->status > 299)) {
        for (i = 0; i < re->body_len && i < sizeof(snippet) - 1; i++)
            snippet[i] = (unsigned char) re->body[i] < 0x20 ? ' ' : re->body[i];
        snippet[i] = '\0';
        rt_fail(rt, err, re->status, "HTTP %d%s%s", re->status, i ? ": " : "", snippet);
        rc = RT_ERROR;
    }
    rt->method = rt->path = NULL;
    return rc == RT_OK ? EMBER_OK : EMBER_ERROR;
}

/* API "/invocation/<id>/<what>", the id percent-encoded. Caller frees. */
static char *invocation_path(const char *request_id, const char *what)
{
    struct ember_buf b = EMBER_BUF_INIT;
    const char      *s;

    ember_buf_puts(&b, API "/invocation/");
    for (s = request_id; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
            || *s == '-' || *s == '_' || *s == '.' || *s == '~')
            ember_buf_append(&b, s, 1);
        else
            ember_buf_printf(&b, "%%%02X", (unsigned char) *s);
    }
    ember_buf_printf(&b, "/%s", what);
    return b.data;
}

static char *dup_or_null(const char *s)
{
    return s ? ember_xstrdup(s) : NULL;
}

/*
 * _X_AMZN_TRACE_ID for this invocation.  setenv(3) would leak: glibc keeps
 * every value it ever set (a new trace id per invocation, for the life of
 * the sandbox), so the variable points into one buffer of ours, rewritten
 * in place; setenv only for an id too long for it.
 */
static void set_trace_id(const char *id)
{
    static char name_value[sizeof(TRACE_ENV) + 1024] = TRACE_ENV "=";
    char       *value = name_value + sizeof(TRACE_ENV);
    size_t      len;

    if (id == NULL) {
        unsetenv(TRACE_ENV);
        return;
    }
    len = strlen(id);
    if (len >= sizeof(name_value) - sizeof(TRACE_ENV)) {
        setenv(TRACE_ENV, id, 1);
        return;
    }
    memcpy(value, id, len + 1);
    if (getenv(TRACE_ENV) != value)
        putenv(name_value);     /* not ours yet (first time, or unset since) */
}

int ember_runtime_next(struct ember_runtime *rt, struct ember_invocation *inv,
                       struct ember_error *err)
{
    struct reply re = { 0 };
    const char  *id, *deadline;
    char        *end;
    long long    ms;
    int          rc;

    memset(inv, 0, sizeof(*inv));
    rc = roundtrip(rt, "GET", API "/invocation/next", "", NULL, 0, MAX_EVENT, &re, err);
    if (rc != EMBER_OK) {
        reply_free(&re);
        return EMBER_ERROR;
    }
    id = reply_header(&re, "Lambda-Runtime-Aws-Request-Id");
    if (id == NULL || *id == '\0') {
        ember_fail(err, 500, "runtime API %s: GET " API "/invocation/next: "
                   "no Lambda-Runtime-Aws-Request-Id header", rt->api);
        reply_free(&re);
        return EMBER_ERROR;
    }
    inv->request_id = ember_xstrdup(id);
    deadline = reply_header(&re, "Lambda-Runtime-Deadline-Ms");
    if (deadline != NULL) {
        errno = 0;
        ms = strtoll(deadline, &end, 10);
        if (errno == 0 && *end == '\0' && end != deadline && ms > 0)
            inv->deadline_ms = ms;
    }
    inv->function_arn = dup_or_null(reply_header(&re, "Lambda-Runtime-Invoked-Function-Arn"));
    inv->trace_id = dup_or_null(reply_header(&re, "Lambda-Runtime-Trace-Id"));
    inv->client_context = dup_or_null(reply_header(&re, "Lambda-Runtime-Client-Context"));
    inv->cognito_identity = dup_or_null(reply_header(&re, "Lambda-Runtime-Cognito-Identity"));
    inv->event = re.body;                       /* ownership moves to inv */
    inv->event_len = re.body_len;
    re.body = NULL;
    reply_free(&re);

    set_trace_id(inv->trace_id);
    return EMBER_OK;
}

void ember_invocation_clear(struct ember_invocation *inv)
{
    free(inv->request_id);
    free(inv->function_arn);
    free(inv->trace_id);
    free(inv->client_context);
    free(inv->cognito_identity);
    free(inv->event);
    memset(inv, 0, sizeof(*inv));
}

int ember_runtime_respond(struct ember_runtime *rt, const char *request_id,
                          const char *body, size_t len, struct ember_error *err)
{
    struct reply re = { 0 };
    char        *path;
    int          rc;

    if (len > EMBER_RUNTIME_MAX_RESPONSE)
        return ember_fail(err, 413, "response of %zu bytes is over Lambda's limit of %d bytes; "
                          "not sent", len, EMBER_RUNTIME_MAX_RESPONSE);
    if (request_id == NULL || *request_id == '\0')
        return ember_fail(err, 500, "runtime API %s: respond: no request id", rt->api);
    path = invocation_path(request_id, "response");
    rc = roundtrip(rt, "POST", path, "", body, len, MAX_REPLY, &re, err);
    reply_free(&re);
    free(path);
    return rc;
}

int ember_runtime_error(struct ember_runtime *rt, const char *request_id,
                        const char *type, const char *message, struct ember_error *err)
{
    struct reply        re = { 0 };
    struct json_object *o;
    const char         *json, *p;
    char               *path, *headers;
    size_t              len;
    int                 rc;

    if (type == NULL || *type == '\0')
        type = "Runtime.Error";
    for (p = type; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            return ember_fail(err, 500, "runtime API %s: error type contains a control "
                              "character", rt->api);

    o = json_object_new_object();
    json_object_object_add(o, "errorMessage", json_object_new_string(message ? message : ""));
    json_object_object_add(o, "errorType", json_object_new_string(type));
    json_object_object_add(o, "stackTrace", json_object_new_array());
    json = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN
                                             | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    headers = ember_xasprintf("Lambda-Runtime-Function-Error-Type: %s\r\n"
                              "Content-Type: application/json\r\n", type);
    path = request_id ? invocation_path(request_id, "error") : ember_xstrdup(API "/init/error");

    rc = roundtrip(rt, "POST", path, headers, json, len, MAX_REPLY, &re, err);

    reply_free(&re);
    free(path);
    free(headers);
    json_object_put(o);
    return rc;
}
