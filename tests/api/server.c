/*
 * server.c - the Lambda Runtime API (2018-06-01) on 127.0.0.1, enough of it
 * to run a real bootstrap: invocation/next (held open), invocation/{id}/
 * response and /error, runtime/init/error.  Answers as Lambda does
 * (202 {"status":"OK"}, 413 for a response over 6 MB, 400 for an unknown
 * request id), and misbehaves on request (a case's runtime_fault).
 */
#define _GNU_SOURCE 1   /* memmem, strcasestr */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "server.h"
#include "xalloc.h"

#define PREFIX          "/2018-06-01/runtime/"
#define MAX_REQUEST     (64 * 1024 * 1024)
#define MAX_HEADER      (64 * 1024)

struct conn {
    int               fd;
    struct ember_buf  in;
    struct ember_buf  out;
    size_t            out_off;
    int               close_after;   /* close once out is written */
    int               waiting_next;  /* a GET next is held open */
    int               dead;
};

struct api_server {
    int                 lfd;
    int                 port;
    struct conn        *conns;
    size_t              nconns;

    /* the current invocation */
    int                 offered;
    int                 delivered;
    int                 fault_used;
    char               *request_id;
    char               *event;
    size_t              event_len;
    int64_t             deadline_ms;
    char               *function_arn;
    char               *trace_id;
    char               *fault;
    struct api_post    *posts;
    size_t              nposts;

    struct api_post    *init_error;
    char              **old_ids;       /* invocations handed out before */
    size_t              nold;
    struct ember_buf    notes;
};

/* A parsed request. Pointers into the connection's input buffer copy. */
struct request {
    char   *method;
    char   *target;
    int     keep_alive;
    char   *error_type;
    char   *body;
    size_t  body_len;
};

static void note(struct api_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct api_server *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_buf_vprintf(&s->notes, fmt, ap);
    va_end(ap);
    ember_buf_puts(&s->notes, "\n");
}

static void post_free(struct api_post *p)
{
    free(p->error_type);
    free(p->body);
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);

    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int api_server_create(struct api_server **out, struct ember_error *err)
{
    struct api_server  *s;
    struct sockaddr_in  sa;
    socklen_t           salen = sizeof(sa);
    int                 one = 1;
    int                 fd;

    *out = NULL;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return ember_fail(err, 500, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *) &sa, &salen) != 0) {
        int e = errno;

        close(fd);
        return ember_fail(err, 500, "listen on 127.0.0.1: %s", strerror(e));
    }
    set_nonblock(fd);
    s = ember_xcalloc(1, sizeof(*s));
    s->lfd = fd;
    s->port = ntohs(sa.sin_port);
    *out = s;
    return EMBER_OK;
}

int api_server_port(const struct api_server *s)
{
    return s->port;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->dead = 1;
    ember_buf_free(&c->in);
    ember_buf_free(&c->out);
}

static void reap(struct api_server *s)
{
    size_t i, j = 0;

    for (i = 0; i < s->nconns; i++) {
        if (s->conns[i].dead)
            continue;
        s->conns[j++] = s->conns[i];
    }
    s->nconns = j;
}

void api_server_drop_clients(struct api_server *s)
{
    size_t i;

    for (i = 0; i < s->nconns; i++)
        conn_close(&s->conns[i]);
    reap(s);
    api_server_clear_init_error(s);
}

static void clear_current(struct api_server *s)
{
    size_t i;

    if (s->request_id && s->delivered) {
        s->old_ids = ember_xrealloc(s->old_ids, (s->nold + 1) * sizeof(*s->old_ids));
        s->old_ids[s->nold++] = s->request_id;
    } else {
        free(s->request_id);
    }
    s->request_id = NULL;
    free(s->event);
    free(s->function_arn);
    free(s->trace_id);
    free(s->fault);
    s->event = s->function_arn = s->trace_id = s->fault = NULL;
    for (i = 0; i < s->nposts; i++)
        post_free(&s->posts[i]);
    free(s->posts);
    s->posts = NULL;
    s->nposts = 0;
    s->offered = s->delivered = s->fault_used = 0;
}

void api_server_free(struct api_server *s)
{
    size_t i;

    if (s == NULL)
        return;
    api_server_drop_clients(s);
    clear_current(s);
    for (i = 0; i < s->nold; i++)
        free(s->old_ids[i]);
    free(s->old_ids);
    free(s->conns);
    ember_buf_free(&s->notes);
    close(s->lfd);
    free(s);
}

void api_server_offer(struct api_server *s, const struct api_invocation *inv)
{
    clear_current(s);
    s->offered = 1;
    s->request_id = ember_xstrdup(inv->request_id);
    s->event = ember_xmalloc(inv->event_len + 1);
    memcpy(s->event, inv->event, inv->event_len);
    s->event[inv->event_len] = '\0';
    s->event_len = inv->event_len;
    s->deadline_ms = inv->deadline_ms;
    s->function_arn = ember_xstrdup(inv->function_arn ? inv->function_arn : "");
    s->trace_id = ember_xstrdup(inv->trace_id ? inv->trace_id : "");
    s->fault = inv->fault ? ember_xstrdup(inv->fault) : NULL;
}

void api_server_withdraw(struct api_server *s)
{
    clear_current(s);
}

int api_server_delivered(const struct api_server *s)
{
    return s->delivered;
}

int api_server_idle(const struct api_server *s)
{
    size_t i;

    if (s->offered && !s->delivered)
        return 0;
    for (i = 0; i < s->nconns; i++)
        if (!s->conns[i].dead && s->conns[i].waiting_next)
            return 1;
    return 0;
}

size_t api_server_nposts(const struct api_server *s)
{
    return s->nposts;
}

const struct api_post *api_server_post(const struct api_server *s, size_t i)
{
    return i < s->nposts ? &s->posts[i] : NULL;
}

const struct api_post *api_server_init_error(const struct api_server *s)
{
    return s->init_error;
}

void api_server_clear_init_error(struct api_server *s)
{
    if (s->init_error) {
        post_free(s->init_error);
        free(s->init_error);
        s->init_error = NULL;
    }
}

const char *api_server_notes(const struct api_server *s)
{
    return ember_buf_str(&s->notes);
}

void api_server_clear_notes(struct api_server *s)
{
    ember_buf_reset(&s->notes);
}

/* ------------------------------------------------------------ output */

static void conn_flush(struct conn *c)
{
    while (!c->dead && c->out_off < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_close(c);
            return;
        }
        c->out_off += (size_t) n;
    }
    if (!c->dead && c->out_off == c->out.len) {
        ember_buf_reset(&c->out);
        c->out_off = 0;
        if (c->close_after)
            conn_close(c);
    }
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 500: return "Internal Server Error";
    default:  return "Unknown";
    }
}

/* Queue a response with a JSON body; extra: more header lines ("X: y\r\n"). */
static void reply(struct conn *c, int status, const char *extra, const char *body, size_t len)
{
    ember_buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n", status, reason(status), len,
                     extra ? extra : "", c->close_after ? "Connection: close\r\n" : "");
    ember_buf_append(&c->out, body, len);
    conn_flush(c);
}

static void reply_json(struct conn *c, int status, const char *body)
{
    reply(c, status, NULL, body, strlen(body));
}

static void reply_error(struct conn *c, int status, const char *type, const char *msg)
{
    char *b = ember_xasprintf("{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", msg, type);

    reply_json(c, status, b);
    free(b);
}

/* ------------------------------------------------------------ requests */

static void deliver(struct api_server *s)
{
    struct ember_buf  h = EMBER_BUF_INIT;
    size_t            i;

    if (!s->offered || s->delivered)
        return;
    for (i = 0; i < s->nconns; i++) {
        struct conn *c = &s->conns[i];

        if (c->dead || !c->waiting_next)
            continue;
        ember_buf_printf(&h, "Lambda-Runtime-Aws-Request-Id: %s\r\n"
                         "Lambda-Runtime-Deadline-Ms: %lld\r\n"
                         "Lambda-Runtime-Invoked-Function-Arn: %s\r\n"
                         "Lambda-Runtime-Trace-Id: %s\r\n",
                         s->request_id, (long long) s->deadline_ms, s->function_arn,
                         s->trace_id);
        c->waiting_next = 0;
        reply(c, 200, ember_buf_str(&h), s->event, s->event_len);
        ember_buf_free(&h);
        s->delivered = 1;
        return;
    }
}

static int is_old_id(const struct api_server *s, const char *id)
{
    size_t i;

    for (i = 0; i < s->nold; i++)
        if (strcmp(s->old_ids[i], id) == 0)
            return 1;
    return 0;
}

/* Record a POST (copied) about the current invocation; borrowed until the next one. */
static struct api_post *add_post(struct api_server *s, enum api_post_kind kind,
                                 const struct request *r)
{
    struct api_post *p;

    s->posts = ember_xrealloc(s->posts, (s->nposts + 1) * sizeof(*s->posts));
    p = &s->posts[s->nposts++];
    p->kind = kind;
    p->error_type = r->error_type ? ember_xstrdup(r->error_type) : NULL;
    p->body = ember_xstrndup(r->body, r->body_len);
    p->len = r->body_len;
    p->answered = 202;
    return p;
}

static void handle_invocation_post(struct api_server *s, struct conn *c, struct request *r,
                                   const char *rest)
{
    const char *slash = strchr(rest, '/');
    char       *id;
    const char *what;
    int         is_response;

    if (slash == NULL) {
        reply_error(c, 404, "NotFound", "no such endpoint");
        note(s, "POST %s: no such endpoint", r->target);
        return;
    }
    id = ember_xstrndup(rest, (size_t) (slash - rest));
    what = slash + 1;
    if (strcmp(what, "response") != 0 && strcmp(what, "error") != 0) {
        reply_error(c, 404, "NotFound", "no such endpoint");
        note(s, "POST %s: no such endpoint", r->target);
        free(id);
        return;
    }
    is_response = strcmp(what, "response") == 0;
    if (s->request_id == NULL || !s->delivered || strcmp(id, s->request_id) != 0) {
        if (is_old_id(s, id)) {
            /* e.g. an error posted after a faulted response: accept, tell */
            note(s, "late POST %s for an earlier invocation (%zu bytes): %.200s",
                 r->target, r->body_len, r->body);
            reply_json(c, 202, "{\"status\":\"OK\"}");
        } else {
            note(s, "POST %s: unknown request id", r->target);
            reply_error(c, 400, "InvalidRequestID", "Invalid request ID");
        }
        free(id);
        return;
    }
    free(id);
    if (is_response) {
        struct api_post *p = add_post(s, API_POST_RESPONSE, r);

        if (r->body_len > API_MAX_RESPONSE) {
            p->answered = 413;
            reply_error(c, 413, "RequestEntityTooLarge",
                        "Exceeded maximum allowed payload size (6291556 bytes).");
            return;
        }
        if (s->fault && !s->fault_used) {
            s->fault_used = 1;
            if (strcmp(s->fault, "close") == 0) {
                p->answered = 0;
                conn_close(c);
                return;
            }
            if (strcmp(s->fault, "413") == 0) {
                p->answered = 413;
                reply_error(c, 413, "RequestEntityTooLarge",
                            "Exceeded maximum allowed payload size (6291556 bytes).");
                return;
            }
            if (strcmp(s->fault, "500") == 0) {
                p->answered = 500;
                reply_error(c, 500, "ServiceException", "Internal service error (fault injected)");
                return;
            }
        }
        reply_json(c, 202, "{\"status\":\"OK\"}");
        return;
    }
    add_post(s, API_POST_ERROR, r);
    reply_json(c, 202, "{\"status\":\"OK\"}");
}

static void handle(struct api_server *s, struct conn *c, struct request *r)
{
    const char *path = r->target;

    if (strcmp(r->method, "GET") == 0 && strcmp(path, PREFIX "invocation/next") == 0) {
        if (c->waiting_next)
            note(s, "a second GET next on one connection");
        c->waiting_next = 1;
        return;
    }
    if (strcmp(r->method, "POST") == 0 && strncmp(path, PREFIX "invocation/",
                                                  strlen(PREFIX "invocation/")) == 0) {
        handle_invocation_post(s, c, r, path + strlen(PREFIX "invocation/"));
        return;
    }
    if (strcmp(r->method, "POST") == 0 && strcmp(path, PREFIX "init/error") == 0) {
        api_server_clear_init_error(s);
        s->init_error = ember_xcalloc(1, sizeof(*s->init_error));
        s->init_error->kind = API_POST_INIT_ERROR;
        s->init_error->error_type = r->error_type ? ember_xstrdup(r->error_type) : NULL;
        s->init_error->body = ember_xstrndup(r->body, r->body_len);
        s->init_error->len = r->body_len;
        s->init_error->answered = 202;
        reply_json(c, 202, "{\"status\":\"OK\"}");
        return;
    }
    note(s, "%s %s: no such endpoint", r->method, r->target);
    reply_error(c, 404, "NotFound", "no such endpoint");
}

static char *trim(char *p)
{
    char *e;

    while (*p == ' ' || *p == '\t')
        p++;
    e = p + strlen(p);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return p;
}

/*
 * Decode a chunked body starting at p (n bytes available).  Returns the
 * bytes consumed and fills out, 0 if incomplete, -1 if malformed.
 */
static long dechunk(const char *p, size_t n, struct ember_buf *out)
{
    size_t off = 0;

    for (;;) {
        const char *eol = memmem(p + off, n - off, "\r\n", 2);
        char       *end;
        unsigned long size;

        if (eol == NULL)
            return n - off > 32 ? -1 : 0;
        size = strtoul(p + off, &end, 16);
        if (end == p + off)
            return -1;
        off = (size_t) (eol - p) + 2;
        if (size == 0) {
            /* trailers until an empty line */
            for (;;) {
                eol = memmem(p + off, n - off, "\r\n", 2);
                if (eol == NULL)
                    return 0;
                if (eol == p + off)
                    return (long) (off + 2);
                off = (size_t) (eol - p) + 2;
            }
        }
        if (n - off < size + 2)
            return 0;
        ember_buf_append(out, p + off, size);
        off += size + 2;
    }
}

/* Parse and handle every complete request in c->in. -1: close the connection. */
static int process(struct api_server *s, struct conn *c)
{
    while (!c->dead && c->in.len > 0 && !c->waiting_next) {
        char            *hend = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
        size_t           hlen, blen = 0, total;
        char            *head, *line, *save = NULL;
        struct request   r;
        struct ember_buf chunked = EMBER_BUF_INIT;
        int              is_chunked = 0, http10 = 0, conn_close_hdr = 0, conn_keep = 0;
        long             clen = 0;

        if (hend == NULL) {
            if (c->in.len > MAX_HEADER) {
                note(s, "a request header over %d bytes", MAX_HEADER);
                return -1;
            }
            return 0;
        }
        hlen = (size_t) (hend - c->in.data) + 4;
        head = ember_xstrndup(c->in.data, hlen - 4);
        memset(&r, 0, sizeof(r));
        line = strtok_r(head, "\n", &save);
        if (line == NULL) {
            free(head);
            return -1;
        }
        {
            char *sp1 = strchr(line, ' ');
            char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

            if (sp1 == NULL || sp2 == NULL) {
                note(s, "malformed request line: %.100s", line);
                free(head);
                return -1;
            }
            *sp1 = *sp2 = '\0';
            r.method = line;
            r.target = sp1 + 1;
            http10 = strncmp(trim(sp2 + 1), "HTTP/1.0", 8) == 0;
        }
        while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
            char *colon = strchr(line, ':');
            char *name, *value;

            if (colon == NULL)
                continue;
            *colon = '\0';
            name = trim(line);
            value = trim(colon + 1);
            if (strcasecmp(name, "content-length") == 0) {
                clen = strtol(value, NULL, 10);
            } else if (strcasecmp(name, "transfer-encoding") == 0) {
                is_chunked = strcasestr(value, "chunked") != NULL;
            } else if (strcasecmp(name, "connection") == 0) {
                conn_close_hdr = strcasestr(value, "close") != NULL;
                conn_keep = strcasestr(value, "keep-alive") != NULL;
            } else if (strcasecmp(name, "lambda-runtime-function-error-type") == 0) {
                r.error_type = value;
            }
        }
        if (clen < 0 || clen > MAX_REQUEST) {
            note(s, "%s %s: Content-Length %ld refused", r.method, r.target, clen);
            free(head);
            c->close_after = 1;
            reply_error(c, 413, "RequestEntityTooLarge", "request too large");
            return -1;
        }
        if (is_chunked) {
            long used = dechunk(c->in.data + hlen, c->in.len - hlen, &chunked);

            if (used < 0) {
                note(s, "%s %s: malformed chunked body", r.method, r.target);
                free(head);
                ember_buf_free(&chunked);
                return -1;
            }
            if (used == 0) {
                free(head);
                ember_buf_free(&chunked);
                return 0;
            }
            total = hlen + (size_t) used;
            r.body = chunked.data ? chunked.data : (char *) "";
            r.body_len = chunked.len;
        } else {
            blen = (size_t) clen;
            if (c->in.len - hlen < blen) {
                free(head);
                return 0;
            }
            total = hlen + blen;
            r.body = c->in.data + hlen;
            r.body_len = blen;
        }
        r.keep_alive = http10 ? conn_keep : !conn_close_hdr;
        if (!r.keep_alive)
            c->close_after = 1;
        /* copy the body: handling may close the connection and free c->in */
        {
            char *body = ember_xstrndup(r.body, r.body_len);

            r.body = body;
            ember_buf_consume(&c->in, total);
            handle(s, c, &r);
            free(body);
        }
        ember_buf_free(&chunked);
        free(head);
    }
    return 0;
}

static void on_readable(struct api_server *s, struct conn *c)
{
    char buf[65536];

    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_close(c);
            break;
        }
        if (n == 0) {
            conn_close(c);
            return;
        }
        ember_buf_append(&c->in, buf, (size_t) n);
        if ((size_t) n < sizeof(buf))
            break;
    }
    if (!c->dead && process(s, c) < 0)
        conn_close(c);
}

static void on_accept(struct api_server *s)
{
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);

        if (fd < 0)
            return;
        set_nonblock(fd);
        s->conns = ember_xrealloc(s->conns, (s->nconns + 1) * sizeof(*s->conns));
        memset(&s->conns[s->nconns], 0, sizeof(s->conns[0]));
        s->conns[s->nconns].fd = fd;
        s->nconns++;
    }
}

void api_server_poll(struct api_server *s, int timeout_ms)
{
    struct pollfd *pfd;
    size_t         i, n = s->nconns;
    int            rc;

    deliver(s);
    pfd = ember_xcalloc(n + 1, sizeof(*pfd));
    pfd[0].fd = s->lfd;
    pfd[0].events = POLLIN;
    for (i = 0; i < n; i++) {
        pfd[i + 1].fd = s->conns[i].fd;
        pfd[i + 1].events = POLLIN;
        if (s->conns[i].out.len > s->conns[i].out_off)
            pfd[i + 1].events |= POLLOUT;
    }
    rc = poll(pfd, n + 1, timeout_ms);
    if (rc > 0) {
        for (i = 0; i < n; i++) {
            struct conn *c = &s->conns[i];

            if (c->dead)
                continue;
            if (pfd[i + 1].revents & POLLOUT)
                conn_flush(c);
            if (!c->dead && (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                on_readable(s, c);
            /* a request held back while a GET next was pending may now go */
            if (!c->dead && !c->waiting_next && c->in.len > 0 && process(s, c) < 0)
                conn_close(c);
        }
        if (pfd[0].revents & POLLIN)
            on_accept(s);
    }
    free(pfd);
    reap(s);
    deliver(s);
}
