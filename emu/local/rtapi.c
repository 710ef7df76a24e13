/*
 * rtapi.c - the Lambda Runtime API, server side, for one runtime process
 * (see rtapi.h): a small HTTP/1.1 server and what each endpoint means.
 *
 * One thread per endpoint runs the event loop (serve): it accepts, reads
 * and parses requests, answers them, and holds `next` open until an
 * invocation is offered.  It holds mu whenever it is not inside poll(), so
 * every change of state happens under mu and is broadcast on cond, which
 * the callers' waits sleep on.  Callers never touch a socket: offer,
 * withdraw, abort, reset and stop change the state and wake the loop (an
 * eventfd), which does the I/O.  Connections belong to a generation; abort
 * and reset start a new one and the loop drops the old ones before it
 * hands anything out.
 */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "error.h"
#include "xalloc.h"
#include "rtapi.h"

#define PREFIX_INV   "/2018-06-01/runtime/invocation/"
#define PATH_NEXT    "/2018-06-01/runtime/invocation/next"
#define PATH_INITERR "/2018-06-01/runtime/init/error"
#define TOO_LARGE    "Exceeded maximum allowed payload size (6291556 bytes)."

#define MAX_HEAD     (64 * 1024)      /* a request line and its headers */
#define MAX_LINE     1024             /* a chunk-size or trailer line */
#define MAX_CONNS    64
#define MAX_NOTES    (16 * 1024)
#define PAST_IDS     64               /* ids handed out before, for late POSTs */
#define READS_PER_TURN 16             /* 64 KB each, per connection per loop turn */

enum inv_state {
    INV_NONE = 0,       /* nothing offered (or withdrawn, or the outcome was collected) */
    INV_OFFERED,        /* waiting for `next` */
    INV_DELIVERED,      /* handed out, no outcome yet */
    INV_DONE            /* outcome recorded, not collected yet */
};

/* Where a connection is in reading its current request. */
enum rd_state {
    RD_HEAD,            /* the request line and headers */
    RD_BODY,            /* Content-Length bytes */
    RD_CHUNK_SIZE,      /* chunked: a size line */
    RD_CHUNK_DATA,
    RD_CHUNK_END,       /* the CRLF after a chunk */
    RD_TRAILER          /* trailer lines up to an empty one */
};

struct conn {
    int               fd;
    unsigned          gen;            /* the endpoint's generation when accepted */
    struct ember_buf  in;             /* received, not parsed yet */
    struct ember_buf  out;            /* to send */
    size_t            out_off;
    int               close_after;    /* close once out is sent */
    int               waiting_next;   /* a GET next is held open */
    int               dead;

    /* the request being read */
    enum rd_state     rd;
    char             *head;           /* request line and headers, split in place */
    char             *method;
    char             *target;
    char            **hdrs;           /* name, value, ...: pointers into head */
    size_t            nhdrs;
    int               keep_alive;
    size_t            left;           /* body or chunk bytes still to come */
    struct ember_buf  body;           /* kept: at most keep bytes */
    size_t            seen;           /* body bytes received */
};

struct ember_rtapi {
    int                lfd;           /* the listener */
    int                wake;          /* eventfd: a caller changed something */
    unsigned           port;
    pthread_t          thread;
    pthread_mutex_t    mu;
    pthread_cond_t     cond;          /* any change of state below */
    int                closing;
    int                aborted;
    unsigned           generation;    /* bumped by abort/reset: older connections are dropped */
    int64_t            first_next_ns;
    size_t             max_response;
    struct conn      **conns;         /* the loop's alone */
    size_t             nconns;

    /* the current invocation */
    enum inv_state     state;
    char               id[37];
    char              *event;
    size_t             event_len;
    int64_t            deadline_ms;
    char              *arn, *trace, *client_context, *cognito;
    enum ember_rtapi_fault fault;
    int                fault_used;
    int                saw_413;       /* a response was refused as too large */
    struct ember_rtapi_post **posts;  /* every POST about it, in order */
    size_t             nposts;
    int                decider;       /* index of the POST that decided it, or -1 */
    struct ember_rtapi_result res;    /* valid in INV_DONE; its body stays in posts[decider] */

    char               past[PAST_IDS][37];   /* ring of ids handed out before */
    size_t             npast;
    struct ember_rtapi_post *init_post;      /* the first init/error (sticky until reset) */
    struct ember_buf   notes;
};

int64_t ember_rtapi_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ember_rtapi_epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ember_rtapi_uuid(char out[37])
{
    unsigned char b[16];
    size_t got = 0;

    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            abort();        /* no entropy source at all: nothing sensible to do */
        got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
             b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void ember_rtapi_result_clear(struct ember_rtapi_result *res)
{
    free(res->request_id);
    free(res->body);
    free(res->error_type);
    memset(res, 0, sizeof(*res));
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? ember_xstrdup(s) : NULL;
}

static void post_free(struct ember_rtapi_post *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < 2 * p->nheaders; i++)
        free(p->headers[i]);
    free(p->headers);
    free(p->request_id);
    free(p->error_type);
    free(p->body);
    free(p);
}

const char *ember_rtapi_post_header(const struct ember_rtapi_post *p, const char *name)
{
    size_t i;

    for (i = 0; i < p->nheaders; i++)
        if (strcasecmp(p->headers[2 * i], name) == 0)
            return p->headers[2 * i + 1];
    return NULL;
}

/* Called with mu held. */
static void note(struct ember_rtapi *api, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct ember_rtapi *api, const char *fmt, ...)
{
    va_list ap;

    if (api->notes.len >= MAX_NOTES)
        return;
    va_start(ap, fmt);
    ember_buf_vprintf(&api->notes, fmt, ap);
    va_end(ap);
    ember_buf_puts(&api->notes, "\n");
    if (api->notes.len >= MAX_NOTES)
        ember_buf_puts(&api->notes, "(more notes dropped)\n");
}

/* Tell the loop that a caller changed something. */
static void wake_loop(struct ember_rtapi *api)
{
    uint64_t one = 1;
    ssize_t n;

    do
        n = write(api->wake, &one, sizeof(one));
    while (n < 0 && errno == EINTR);
}

/* Called with mu held: the current invocation's POSTs go. */
static void posts_free(struct ember_rtapi *api)
{
    size_t i;

    for (i = 0; i < api->nposts; i++)
        post_free(api->posts[i]);
    free(api->posts);
    api->posts = NULL;
    api->nposts = 0;
    api->decider = -1;
}

/* Called with mu held: forget the current invocation (a handed-out id is remembered). */
static void forget_current(struct ember_rtapi *api)
{
    if (api->state == INV_DELIVERED || api->state == INV_DONE) {
        memcpy(api->past[api->npast % PAST_IDS], api->id, sizeof(api->id));
        api->npast++;
    }
    free(api->event);
    free(api->arn);
    free(api->trace);
    free(api->client_context);
    free(api->cognito);
    api->event = api->arn = api->trace = api->client_context = api->cognito = NULL;
    api->event_len = 0;
    api->id[0] = '\0';
    posts_free(api);
    ember_rtapi_result_clear(&api->res);
    api->state = INV_NONE;
}

static int is_past(const struct ember_rtapi *api, const char *id)
{
    size_t i, n = api->npast < PAST_IDS ? api->npast : PAST_IDS;

    for (i = 0; i < n; i++)
        if (strcmp(api->past[i], id) == 0)
            return 1;
    return 0;
}

/* ---------------------------------------------------------------- connections */

static void conn_request_done(struct conn *c)
{
    free(c->head);
    free(c->hdrs);
    c->head = c->method = c->target = NULL;
    c->hdrs = NULL;
    c->nhdrs = 0;
    c->left = 0;
    c->seen = 0;
    ember_buf_free(&c->body);
    c->rd = RD_HEAD;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->dead = 1;
    c->waiting_next = 0;
}

static void conn_free(struct conn *c)
{
    conn_close(c);
    conn_request_done(c);
    ember_buf_free(&c->in);
    ember_buf_free(&c->out);
    free(c);
}

static void conn_flush(struct conn *c)
{
    while (!c->dead && c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                         MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    if (!c->dead && c->out_off == c->out.len) {
        ember_buf_reset(&c->out);
        c->out_off = 0;
        if (c->close_after)
            conn_close(c);
    }
}

static const char *reason(unsigned status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    default:  return "Unknown";
    }
}

/* Queue an answer with a JSON body; extra: more header lines ("Name: value\r\n"). */
static void reply(struct conn *c, unsigned status, const char *extra, const char *body,
                  size_t len)
{
    if (!c->keep_alive)
        c->close_after = 1;
    ember_buf_printf(&c->out, "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n", status, reason(status), len,
                     extra != NULL ? extra : "", c->close_after ? "Connection: close\r\n" : "");
    ember_buf_append(&c->out, body, len);
    conn_flush(c);
}

static void reply_error(struct conn *c, unsigned status, const char *type, const char *message)
{
    json_object *o = json_object_new_object();
    const char *s;

    json_object_object_add(o, "errorMessage", json_object_new_string(message));
    json_object_object_add(o, "errorType", json_object_new_string(type));
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    reply(c, status, NULL, s, strlen(s));
    json_object_put(o);
}

static void reply_accepted(struct conn *c)
{
    static const char ok[] = "{\"status\":\"OK\"}";

    reply(c, 202, NULL, ok, sizeof(ok) - 1);
}

/* ---------------------------------------------------------------- the endpoints */

/* Called with mu held: the open invocation ends (state INV_DONE). */
static void finish(struct ember_rtapi *api, enum ember_rtapi_outcome outcome)
{
    api->res.outcome = outcome;
    free(api->res.request_id);
    api->res.request_id = ember_xstrdup(api->id);
    api->res.done_ns = ember_rtapi_now_ns();
    api->state = INV_DONE;
    pthread_cond_broadcast(&api->cond);
}

/* Called with mu held: hand the offered invocation to the first `next` held open. */
static void deliver(struct ember_rtapi *api)
{
    struct ember_buf h = EMBER_BUF_INIT;
    struct conn *c = NULL;
    size_t i;

    if (api->state != INV_OFFERED)
        return;
    for (i = 0; i < api->nconns && c == NULL; i++)
        if (!api->conns[i]->dead && api->conns[i]->waiting_next
            && api->conns[i]->gen == api->generation)
            c = api->conns[i];
    if (c == NULL)
        return;
    ember_buf_printf(&h, "Lambda-Runtime-Aws-Request-Id: %s\r\n"
                     "Lambda-Runtime-Deadline-Ms: %" PRId64 "\r\n", api->id, api->deadline_ms);
    if (api->arn != NULL)
        ember_buf_printf(&h, "Lambda-Runtime-Invoked-Function-Arn: %s\r\n", api->arn);
    if (api->trace != NULL)
        ember_buf_printf(&h, "Lambda-Runtime-Trace-Id: %s\r\n", api->trace);
    if (api->client_context != NULL)
        ember_buf_printf(&h, "Lambda-Runtime-Client-Context: %s\r\n", api->client_context);
    if (api->cognito != NULL)
        ember_buf_printf(&h, "Lambda-Runtime-Cognito-Identity: %s\r\n", api->cognito);
    c->waiting_next = 0;
    api->state = INV_DELIVERED;
    api->res.delivered_ns = ember_rtapi_now_ns();
    reply(c, 200, ember_buf_str(&h), api->event, api->event_len);
    ember_buf_free(&h);
    pthread_cond_broadcast(&api->cond);
}

static void on_next(struct ember_rtapi *api, struct conn *c)
{
    if (api->aborted) {
        conn_close(c);
        return;
    }
    if (api->first_next_ns == 0)
        api->first_next_ns = ember_rtapi_now_ns();
    if (api->state == INV_DELIVERED) {
        /* asked for more without answering the last one */
        if (api->saw_413) {
            free(api->res.error_type);
            api->res.error_type = ember_xstrdup("Function.ResponseSizeTooLarge");
            finish(api, EMBER_RTAPI_ERROR);
        } else {
            finish(api, EMBER_RTAPI_NO_RESPONSE);
        }
    }
    c->waiting_next = 1;
    deliver(api);
}

/* The request as a recorded POST: the body moves out of c. Caller owns the result. */
static struct ember_rtapi_post *take_post(struct conn *c, enum ember_rtapi_post_kind kind,
                                          const char *id)
{
    struct ember_rtapi_post *p = ember_xcalloc(1, sizeof(*p));
    size_t i;

    p->kind = kind;
    p->request_id = dup_or_null(id);
    p->nheaders = c->nhdrs;
    p->headers = ember_xcalloc(2 * c->nhdrs + 1, sizeof(char *));
    for (i = 0; i < 2 * c->nhdrs; i++)
        p->headers[i] = ember_xstrdup(c->hdrs[i]);
    p->error_type = dup_or_null(ember_rtapi_post_header(p, "Lambda-Runtime-Function-Error-Type"));
    if (p->error_type != NULL && p->error_type[0] == '\0') {
        free(p->error_type);
        p->error_type = NULL;
    }
    p->len = c->body.len;
    p->body = c->body.data != NULL ? c->body.data : ember_xstrdup("");
    c->body.data = NULL;
    c->body.len = c->body.cap = 0;
    p->size = c->seen;
    p->at_ns = ember_rtapi_now_ns();
    return p;
}

/* The error type a runtime reported: the header, else errorType in the JSON. Caller frees. */
static char *error_type_of(const struct ember_rtapi_post *p)
{
    json_object *o, *t;
    char *type = NULL;

    if (p->error_type != NULL)
        return ember_xstrdup(p->error_type);
    o = json_tokener_parse(p->body);
    if (o != NULL && json_object_object_get_ex(o, "errorType", &t)
        && json_object_is_type(t, json_type_string))
        type = ember_xstrdup(json_object_get_string(t));
    json_object_put(o);
    return type;
}

/* POST .../invocation/{id}/response or /error. */
static void on_post(struct ember_rtapi *api, struct conn *c, const char *id, int is_error)
{
    struct ember_rtapi_post *p;

    if ((api->state != INV_DELIVERED && api->state != INV_DONE) || strcmp(id, api->id) != 0) {
        if (is_past(api, id)) {
            /* e.g. an error posted after the runner gave up on a response: tell */
            note(api, "late POST %s for an earlier invocation (%zu bytes): %.200s",
                 c->target, c->body.len, ember_buf_str(&c->body));
            reply_accepted(c);
        } else {
            note(api, "POST %s: unknown request id", c->target);
            reply_error(c, 400, "InvalidRequestID", "no open invocation has this request id");
        }
        return;
    }
    p = take_post(c, is_error ? EMBER_RTAPI_POST_ERROR : EMBER_RTAPI_POST_RESPONSE, id);
    api->posts = ember_xrealloc(api->posts, (api->nposts + 1) * sizeof(*api->posts));
    api->posts[api->nposts++] = p;
    pthread_cond_broadcast(&api->cond);
    if (api->state == INV_DONE) {
        /* recorded, but the outcome stands */
        p->status = 202;
        reply_accepted(c);
        return;
    }
    if (!is_error && p->size > api->max_response) {
        api->saw_413 = 1;
        p->status = 413;
        reply_error(c, 413, "RequestEntityTooLarge", TOO_LARGE);
        return;
    }
    if (!is_error && api->fault != EMBER_RTAPI_FAULT_NONE && !api->fault_used) {
        api->fault_used = 1;
        switch (api->fault) {
        case EMBER_RTAPI_FAULT_CLOSE:
            p->status = 0;
            conn_close(c);
            return;
        case EMBER_RTAPI_FAULT_413:
            p->status = 413;
            reply_error(c, 413, "RequestEntityTooLarge", TOO_LARGE);
            return;
        default:
            p->status = 500;
            reply_error(c, 500, "ServiceException", "Internal service error (fault injected)");
            return;
        }
    }
    p->status = 202;
    free(api->res.error_type);
    api->res.error_type = is_error ? error_type_of(p) : NULL;
    api->decider = (int)(api->nposts - 1);
    finish(api, is_error ? EMBER_RTAPI_ERROR : EMBER_RTAPI_RESPONSE);
    reply_accepted(c);
}

static void on_init_error(struct ember_rtapi *api, struct conn *c)
{
    struct ember_rtapi_post *p = take_post(c, EMBER_RTAPI_POST_INIT_ERROR, NULL);

    p->status = 202;
    if (api->init_post == NULL) {
        api->init_post = p;
        pthread_cond_broadcast(&api->cond);
    } else {
        note(api, "another POST %s (%zu bytes): %.200s", c->target, p->len, p->body);
        post_free(p);
    }
    reply_accepted(c);
}

/* "%41" -> "A" in place. */
static void percent_decode(char *s)
{
    char *w = s;

    for (; *s != '\0'; s++) {
        if (s[0] == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char hex[3] = { s[1], s[2], '\0' };

            *w++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
}

/* A whole request has been read: answer it. */
static void handle(struct ember_rtapi *api, struct conn *c)
{
    int get = strcmp(c->method, "GET") == 0, post = strcmp(c->method, "POST") == 0;
    char *path = c->target, *q = strchr(path, '?');

    if (q != NULL)
        *q = '\0';
    if (strcmp(path, PATH_NEXT) == 0) {
        if (!get) {
            note(api, "%s %s: use GET", c->method, path);
            reply_error(c, 405, "MethodNotAllowed", "use GET for invocation/next");
            return;
        }
        on_next(api, c);
        return;
    }
    if (strcmp(path, PATH_INITERR) == 0) {
        if (!post) {
            note(api, "%s %s: use POST", c->method, path);
            reply_error(c, 405, "MethodNotAllowed", "use POST for init/error");
            return;
        }
        on_init_error(api, c);
        return;
    }
    if (strncmp(path, PREFIX_INV, sizeof(PREFIX_INV) - 1) == 0) {
        const char *rest = path + sizeof(PREFIX_INV) - 1;
        const char *slash = strchr(rest, '/');

        if (slash != NULL && slash > rest
            && (strcmp(slash, "/response") == 0 || strcmp(slash, "/error") == 0)) {
            char *id;

            if (!post) {
                note(api, "%s %s: use POST", c->method, path);
                reply_error(c, 405, "MethodNotAllowed",
                            "use POST for an invocation's response or error");
                return;
            }
            id = ember_xstrndup(rest, (size_t)(slash - rest));
            percent_decode(id);
            on_post(api, c, id, strcmp(slash, "/error") == 0);
            free(id);
            return;
        }
    }
    note(api, "%s %s: no such endpoint", c->method, path);
    reply_error(c, 404, "NotFound", "no such Runtime API path");
}

/* ---------------------------------------------------------------- HTTP/1.1 requests */

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

/* A malformed request: say so, answer 400, close after. */
static void bad_request(struct ember_rtapi *api, struct conn *c, const char *why)
{
    note(api, "%s%s%s: %s", c->method != NULL ? c->method : "a request",
         c->target != NULL ? " " : "", c->target != NULL ? c->target : "", why);
    c->keep_alive = 0;
    reply_error(c, 400, "BadRequest", why);
}

/* Body bytes: keep up to the limit + 1 (to tell "over" from "at"), count them all. */
static void body_add(struct ember_rtapi *api, struct conn *c, const char *p, size_t n)
{
    size_t keep = api->max_response + 1;

    if (c->body.len < keep)
        ember_buf_append(&c->body, p, n < keep - c->body.len ? n : keep - c->body.len);
    c->seen += n;
}

/*
 * Parse the head in c->in (hlen bytes, up to and including the blank line).
 * 0 when a body or the request's end follows, -1 when it was answered 400.
 */
static int parse_head(struct ember_rtapi *api, struct conn *c, size_t hlen)
{
    char *line, *save = NULL, *sp1, *sp2;
    int http10, conn_close_hdr = 0, conn_keep = 0, chunked = 0, has_length = 0, expect = 0;
    unsigned long long length = 0;

    c->head = ember_xstrndup(c->in.data, hlen);
    ember_buf_consume(&c->in, hlen);
    line = strtok_r(c->head, "\n", &save);
    sp1 = line != NULL ? strchr(line, ' ') : NULL;
    sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    if (sp2 == NULL) {
        bad_request(api, c, "malformed request line");
        return -1;
    }
    *sp1 = *sp2 = '\0';
    c->method = line;
    c->target = sp1 + 1;
    http10 = strncmp(trim(sp2 + 1), "HTTP/1.0", 8) == 0;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        char *colon = strchr(line, ':');
        char *name, *value;

        if (colon == NULL)
            continue;
        *colon = '\0';
        name = trim(line);
        value = trim(colon + 1);
        c->hdrs = ember_xrealloc(c->hdrs, 2 * (c->nhdrs + 1) * sizeof(char *));
        c->hdrs[2 * c->nhdrs] = name;
        c->hdrs[2 * c->nhdrs + 1] = value;
        c->nhdrs++;
        if (strcasecmp(name, "Content-Length") == 0) {
            char *end;

            errno = 0;
            length = strtoull(value, &end, 10);
            if (errno != 0 || end == value || *end != '\0' || value[0] == '-') {
                bad_request(api, c, "bad Content-Length");
                return -1;
            }
            has_length = 1;
        } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
            if (strcasecmp(value, "chunked") != 0) {
                bad_request(api, c, "unsupported Transfer-Encoding");
                return -1;
            }
            chunked = 1;
        } else if (strcasecmp(name, "Connection") == 0) {
            conn_close_hdr = strcasestr(value, "close") != NULL;
            conn_keep = strcasestr(value, "keep-alive") != NULL;
        } else if (strcasecmp(name, "Expect") == 0) {
            expect = strcasecmp(value, "100-continue") == 0;
        }
    }
    c->keep_alive = http10 ? conn_keep : !conn_close_hdr;
    if (chunked) {
        c->rd = RD_CHUNK_SIZE;
    } else if (has_length && length > 0) {
        c->rd = RD_BODY;
        c->left = (size_t)length;
    } else {
        return 0;
    }
    if (expect && !http10) {
        ember_buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        conn_flush(c);
    }
    return 0;
}

/* One line (CRLF or LF) at the start of c->in, NUL-terminated in place; NULL if incomplete. */
static char *take_line(struct conn *c, size_t *used)
{
    char *nl = memchr(c->in.data, '\n', c->in.len);

    if (nl == NULL)
        return NULL;
    *nl = '\0';
    if (nl > c->in.data && nl[-1] == '\r')
        nl[-1] = '\0';
    *used = (size_t)(nl - c->in.data) + 1;
    return c->in.data;
}

/*
 * Read and answer every complete request in c->in (not past a `next` held
 * open).  Leaves an incomplete one for later; closes c on what cannot go on.
 */
static void process(struct ember_rtapi *api, struct conn *c)
{
    while (!c->dead && !c->waiting_next && !c->close_after && c->in.len > 0) {
        size_t n, used;
        char *line, *end;

        switch (c->rd) {
        case RD_HEAD: {
            char *hend;

            /* blank lines before a request are allowed */
            while (c->in.len > 0 && (c->in.data[0] == '\r' || c->in.data[0] == '\n'))
                ember_buf_consume(&c->in, 1);
            if (c->in.len == 0)
                return;
            hend = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
            if (hend == NULL) {
                if (c->in.len > MAX_HEAD) {
                    note(api, "a request head over %d bytes", MAX_HEAD);
                    conn_close(c);
                }
                return;
            }
            if (parse_head(api, c, (size_t)(hend - c->in.data) + 4) != 0) {
                conn_request_done(c);
                return;             /* answered 400, closing after */
            }
            if (c->rd != RD_HEAD)
                continue;
            break;                  /* no body */
        }
        case RD_BODY:
        case RD_CHUNK_DATA:
            n = c->in.len < c->left ? c->in.len : c->left;
            body_add(api, c, c->in.data, n);
            ember_buf_consume(&c->in, n);
            c->left -= n;
            if (c->left > 0)
                return;
            if (c->rd == RD_CHUNK_DATA) {
                c->rd = RD_CHUNK_END;
                continue;
            }
            break;
        case RD_CHUNK_SIZE:
            line = take_line(c, &used);
            if (line == NULL) {
                if (c->in.len > MAX_LINE) {
                    bad_request(api, c, "chunk size line too long");
                    conn_request_done(c);
                }
                return;
            }
            errno = 0;
            c->left = (size_t)strtoull(line, &end, 16);
            if (end == line || errno != 0 || (*end != '\0' && *end != ';' && *end != ' ')) {
                bad_request(api, c, "bad chunk size");
                conn_request_done(c);
                return;
            }
            ember_buf_consume(&c->in, used);
            c->rd = c->left == 0 ? RD_TRAILER : RD_CHUNK_DATA;
            continue;
        case RD_CHUNK_END:
            if (c->in.len < 2 && c->in.data[0] == '\r')
                return;
            if (c->in.data[0] == '\n') {
                ember_buf_consume(&c->in, 1);
            } else if (c->in.data[0] == '\r' && c->in.data[1] == '\n') {
                ember_buf_consume(&c->in, 2);
            } else {
                bad_request(api, c, "chunk not followed by CRLF");
                conn_request_done(c);
                return;
            }
            c->rd = RD_CHUNK_SIZE;
            continue;
        case RD_TRAILER:
            line = take_line(c, &used);
            if (line == NULL) {
                if (c->in.len > MAX_LINE) {
                    bad_request(api, c, "trailer line too long");
                    conn_request_done(c);
                }
                return;
            }
            end = line[0] != '\0' ? line : NULL;      /* a trailer: ignored */
            ember_buf_consume(&c->in, used);
            if (end != NULL)
                continue;
            break;
        }
        /* the request is complete */
        handle(api, c);
        conn_request_done(c);
    }
}

/*
 * Called with mu held.  At most READS_PER_TURN reads, so a long upload
 * lets the callers in between (poll says again that there is more).
 */
static void on_readable(struct ember_rtapi *api, struct conn *c)
{
    char buf[65536];
    int turns = 0;

    while (!c->dead && turns++ < READS_PER_TURN) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_close(c);
            return;
        }
        if (n == 0) {
            conn_close(c);          /* the client went away (a held `next` too) */
            return;
        }
        ember_buf_append(&c->in, buf, (size_t)n);
        process(api, c);
    }
}

/* Called with mu held. */
static void on_accept(struct ember_rtapi *api)
{
    while (api->nconns < MAX_CONNS) {
        int fd = accept4(api->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct conn *c;

        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                note(api, "accept: %s", strerror(errno));
            return;
        }
        c = ember_xcalloc(1, sizeof(*c));
        c->fd = fd;
        c->gen = api->generation;
        api->conns = ember_xrealloc(api->conns, (api->nconns + 1) * sizeof(*api->conns));
        api->conns[api->nconns++] = c;
    }
}

/* Called with mu held: free the closed connections and those of an older generation. */
static void reap(struct ember_rtapi *api)
{
    size_t i, j = 0;

    for (i = 0; i < api->nconns; i++) {
        struct conn *c = api->conns[i];

        if (c->gen != api->generation || c->dead) {
            conn_free(c);
            continue;
        }
        api->conns[j++] = c;
    }
    api->nconns = j;
}

/* The event loop (see the top of the file). */
static void *serve(void *arg)
{
    struct ember_rtapi *api = arg;
    struct pollfd *pfd = NULL;
    size_t i, n;

    pthread_mutex_lock(&api->mu);
    while (!api->closing) {
        reap(api);
        deliver(api);
        n = api->nconns;
        pfd = ember_xrealloc(pfd, (n + 2) * sizeof(*pfd));
        pfd[0].fd = api->wake;
        pfd[0].events = POLLIN;
        pfd[1].fd = n < MAX_CONNS ? api->lfd : -1;
        pfd[1].events = POLLIN;
        for (i = 0; i < n; i++) {
            pfd[i + 2].fd = api->conns[i]->fd;
            pfd[i + 2].events = POLLIN;
            if (api->conns[i]->out.len > api->conns[i]->out_off)
                pfd[i + 2].events |= POLLOUT;
        }
        pthread_mutex_unlock(&api->mu);
        while (poll(pfd, n + 2, -1) < 0 && errno == EINTR)
            ;
        pthread_mutex_lock(&api->mu);
        if (api->closing)
            break;
        if (pfd[0].revents & POLLIN) {
            uint64_t v;

            if (read(api->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
                note(api, "wake: %s", strerror(errno));
        }
        for (i = 0; i < n; i++) {
            struct conn *c = api->conns[i];

            if (c->dead || c->gen != api->generation)
                continue;           /* dropped by abort/reset while we polled */
            if (pfd[i + 2].revents & POLLOUT)
                conn_flush(c);
            if (!c->dead && (pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR)))
                on_readable(api, c);
            /* a request held back behind a `next` may go now */
            if (!c->dead && !c->waiting_next && !c->close_after && c->in.len > 0)
                process(api, c);
        }
        if (pfd[1].revents & POLLIN)
            on_accept(api);
        pthread_cond_broadcast(&api->cond);
    }
    for (i = 0; i < api->nconns; i++)
        conn_free(api->conns[i]);
    free(api->conns);
    api->conns = NULL;
    api->nconns = 0;
    pthread_mutex_unlock(&api->mu);
    free(pfd);
    return NULL;
}

/* ---------------------------------------------------------------- API */

int ember_rtapi_start(struct ember_rtapi **out, unsigned port, struct ember_error *err)
{
    struct ember_rtapi *api;
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    pthread_condattr_t ca;
    sigset_t all, old;
    int fd, one = 1, rc;

    *out = NULL;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ember_fail(err, 500, "Runtime API: socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0
        || getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
        int e = errno;

        close(fd);
        return ember_fail(err, 500, "Runtime API: cannot listen on 127.0.0.1:%u: %s", port,
                          strerror(e));
    }
    api = ember_xcalloc(1, sizeof(*api));
    api->lfd = fd;
    api->port = ntohs(sa.sin_port);
    api->max_response = EMBER_RTAPI_MAX_RESPONSE;
    api->decider = -1;
    api->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (api->wake < 0) {
        int e = errno;

        close(fd);
        free(api);
        return ember_fail(err, 500, "Runtime API: eventfd: %s", strerror(e));
    }
    pthread_mutex_init(&api->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&api->cond, &ca);
    pthread_condattr_destroy(&ca);

    /* the loop takes no signals: they stay with the caller's threads */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&api->thread, NULL, serve, api);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(api->wake);
        close(fd);
        pthread_cond_destroy(&api->cond);
        pthread_mutex_destroy(&api->mu);
        free(api);
        return ember_fail(err, 500, "Runtime API: cannot start its thread: %s", strerror(rc));
    }
    *out = api;
    return EMBER_OK;
}

unsigned ember_rtapi_port(const struct ember_rtapi *api)
{
    return api->port;
}

void ember_rtapi_set_max_response(struct ember_rtapi *api, size_t max)
{
    pthread_mutex_lock(&api->mu);
    api->max_response = max;
    pthread_mutex_unlock(&api->mu);
}

void ember_rtapi_stop(struct ember_rtapi *api)
{
    if (api == NULL)
        return;
    pthread_mutex_lock(&api->mu);
    api->closing = 1;
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->mu);
    wake_loop(api);
    pthread_join(api->thread, NULL);
    close(api->lfd);
    close(api->wake);
    forget_current(api);
    post_free(api->init_post);
    ember_buf_free(&api->notes);
    pthread_cond_destroy(&api->cond);
    pthread_mutex_destroy(&api->mu);
    free(api);
}

int ember_rtapi_offer(struct ember_rtapi *api, const struct ember_rtapi_invocation *inv,
                      char id_out[37], struct ember_error *err)
{
    pthread_mutex_lock(&api->mu);
    if (api->state == INV_OFFERED || api->state == INV_DELIVERED) {
        pthread_mutex_unlock(&api->mu);
        return ember_fail(err, 409, "Runtime API: invocation %s is still open", api->id);
    }
    forget_current(api);
    if (inv->request_id != NULL)
        snprintf(api->id, sizeof(api->id), "%s", inv->request_id);
    else
        ember_rtapi_uuid(api->id);
    api->event = ember_xmalloc(inv->event_len + 1);
    memcpy(api->event, inv->event, inv->event_len);
    api->event[inv->event_len] = '\0';
    api->event_len = inv->event_len;
    api->deadline_ms = inv->deadline_ms;
    api->arn = dup_or_null(inv->function_arn);
    api->trace = dup_or_null(inv->trace_id);
    api->client_context = dup_or_null(inv->client_context);
    api->cognito = dup_or_null(inv->cognito_identity);
    api->fault = inv->fault;
    api->fault_used = 0;
    api->saw_413 = 0;
    api->state = INV_OFFERED;
    if (id_out != NULL)
        memcpy(id_out, api->id, sizeof(api->id));
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->mu);
    wake_loop(api);
    return EMBER_OK;
}

void ember_rtapi_withdraw(struct ember_rtapi *api)
{
    pthread_mutex_lock(&api->mu);
    forget_current(api);
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->mu);
}

/* Called with mu held. 0 when the deadline passed. */
static int wait_until(struct ember_rtapi *api, int64_t deadline_ns)
{
    struct timespec ts;

    if (deadline_ns == 0) {
        pthread_cond_wait(&api->cond, &api->mu);
        return 1;
    }
    if (ember_rtapi_now_ns() >= deadline_ns)
        return 0;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000);
    ts.tv_nsec = (long)(deadline_ns % 1000000000);
    pthread_cond_timedwait(&api->cond, &api->mu, &ts);
    return 1;
}

/* Called with mu held: the init failure, copied into res. */
static enum ember_rtapi_outcome take_init_error(struct ember_rtapi *api,
                                                struct ember_rtapi_result *res)
{
    const struct ember_rtapi_post *p = api->init_post;

    memset(res, 0, sizeof(*res));
    res->outcome = EMBER_RTAPI_INIT_ERROR;
    res->body = ember_xmalloc(p->len + 1);
    memcpy(res->body, p->body, p->len + 1);
    res->body_len = p->len;
    res->error_type = error_type_of(p);
    res->done_ns = p->at_ns;
    return EMBER_RTAPI_INIT_ERROR;
}

enum ember_rtapi_outcome ember_rtapi_wait_ready(struct ember_rtapi *api, int64_t deadline_ns,
                                                int64_t *first_next_ns,
                                                struct ember_rtapi_result *res)
{
    enum ember_rtapi_outcome o = EMBER_RTAPI_PENDING;

    memset(res, 0, sizeof(*res));
    pthread_mutex_lock(&api->mu);
    for (;;) {
        if (api->init_post != NULL) {
            o = take_init_error(api, res);
            break;
        }
        if (api->first_next_ns != 0) {
            if (first_next_ns != NULL)
                *first_next_ns = api->first_next_ns;
            break;
        }
        if (api->aborted || api->closing) {
            o = EMBER_RTAPI_ABORTED;
            break;
        }
        if (!wait_until(api, deadline_ns)) {
            o = EMBER_RTAPI_TIMEOUT;
            break;
        }
    }
    res->outcome = o;
    if (o != EMBER_RTAPI_PENDING && res->done_ns == 0)
        res->done_ns = ember_rtapi_now_ns();
    pthread_mutex_unlock(&api->mu);
    return o;
}

enum ember_rtapi_outcome ember_rtapi_wait(struct ember_rtapi *api, int64_t deadline_ns,
                                          struct ember_rtapi_result *res)
{
    enum ember_rtapi_outcome o;

    memset(res, 0, sizeof(*res));
    pthread_mutex_lock(&api->mu);
    for (;;) {
        if (api->state == INV_DONE) {
            *res = api->res;        /* ownership moves to the caller */
            memset(&api->res, 0, sizeof(api->res));
            if (api->decider >= 0) {
                struct ember_rtapi_post *p = api->posts[api->decider];

                res->body = p->body;
                res->body_len = p->len;
                p->body = NULL;
            }
            forget_current(api);
            o = res->outcome;
            break;
        }
        if (api->init_post != NULL) {
            o = take_init_error(api, res);
            break;
        }
        if (api->aborted || api->closing) {
            o = EMBER_RTAPI_ABORTED;
            break;
        }
        if (!wait_until(api, deadline_ns)) {
            o = EMBER_RTAPI_TIMEOUT;
            break;
        }
    }
    if (o == EMBER_RTAPI_ABORTED || o == EMBER_RTAPI_TIMEOUT) {
        res->outcome = o;
        res->request_id = api->state != INV_NONE ? ember_xstrdup(api->id) : NULL;
        res->delivered_ns = api->res.delivered_ns;
        res->done_ns = ember_rtapi_now_ns();
    }
    pthread_mutex_unlock(&api->mu);
    return o;
}

void ember_rtapi_abort(struct ember_rtapi *api)
{
    pthread_mutex_lock(&api->mu);
    api->aborted = 1;
    api->generation++;
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->mu);
    wake_loop(api);
}

void ember_rtapi_reset(struct ember_rtapi *api)
{
    pthread_mutex_lock(&api->mu);
    api->generation++;
    api->aborted = 0;
    api->first_next_ns = 0;
    post_free(api->init_post);
    api->init_post = NULL;
    forget_current(api);
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->mu);
    wake_loop(api);
}

void ember_rtapi_state(struct ember_rtapi *api, struct ember_rtapi_state *st)
{
    size_t i;

    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&api->mu);
    st->offered = api->state != INV_NONE;
    st->delivered = api->state == INV_DELIVERED || api->state == INV_DONE;
    st->done = api->state == INV_DONE;
    if (api->state != INV_OFFERED)
        for (i = 0; i < api->nconns && !st->idle; i++)
            st->idle = !api->conns[i]->dead && api->conns[i]->waiting_next
                       && api->conns[i]->gen == api->generation;
    st->nposts = api->nposts;
    st->init_error = api->init_post != NULL;
    st->first_next_ns = api->first_next_ns;
    pthread_mutex_unlock(&api->mu);
}

const struct ember_rtapi_post *ember_rtapi_post(struct ember_rtapi *api, size_t i)
{
    const struct ember_rtapi_post *p;

    pthread_mutex_lock(&api->mu);
    p = i < api->nposts ? api->posts[i] : NULL;
    pthread_mutex_unlock(&api->mu);
    return p;
}

const struct ember_rtapi_post *ember_rtapi_init_error(struct ember_rtapi *api)
{
    const struct ember_rtapi_post *p;

    pthread_mutex_lock(&api->mu);
    p = api->init_post;
    pthread_mutex_unlock(&api->mu);
    return p;
}

void ember_rtapi_pause(struct ember_rtapi *api, int timeout_ms)
{
    pthread_mutex_lock(&api->mu);
    wait_until(api, ember_rtapi_now_ns() + (int64_t)timeout_ms * 1000000);
    pthread_mutex_unlock(&api->mu);
}

char *ember_rtapi_notes(struct ember_rtapi *api)
{
    char *s;

    pthread_mutex_lock(&api->mu);
    s = ember_xstrdup(ember_buf_str(&api->notes));
    pthread_mutex_unlock(&api->mu);
    return s;
}

void ember_rtapi_clear_notes(struct ember_rtapi *api)
{
    pthread_mutex_lock(&api->mu);
    ember_buf_reset(&api->notes);
    pthread_mutex_unlock(&api->mu);
}
