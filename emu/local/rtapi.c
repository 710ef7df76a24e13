/*
 * rtapi.c - the Lambda Runtime API, server side, for one sandbox
 * (libmicrohttpd, a thread per connection; see rtapi.h).
 *
 * `next` blocks inside the access handler on the endpoint's condition
 * variable, which a thread-per-connection daemon allows; stop wakes it
 * (the handler then drops the connection) before stopping the daemon.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "buf.h"
#include "error.h"
#include "xalloc.h"
#include "rtapi.h"

#define PREFIX_INV   "/2018-06-01/runtime/invocation/"
#define PATH_NEXT    "/2018-06-01/runtime/invocation/next"
#define PATH_INITERR "/2018-06-01/runtime/init/error"

enum inv_state {
    INV_NONE = 0,       /* nothing offered (or the outcome was collected) */
    INV_OFFERED,        /* waiting for `next` */
    INV_DELIVERED,      /* handed out, no outcome yet */
    INV_DONE            /* outcome recorded, not collected yet */
};

struct ember_rtapi {
    struct MHD_Daemon *daemon;
    unsigned           port;
    pthread_mutex_t    mu;
    pthread_cond_t     cond;        /* any change of state below */
    int                closing;
    int                aborted;
    unsigned           generation;  /* bumped by abort/reset: stale `next` calls give up */
    int64_t            first_next_ns;

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
    struct ember_rtapi_result res;    /* valid in INV_DONE */

    /* init failure (sticky until reset) */
    int                init_failed;
    struct ember_rtapi_result init_res;
};

/* One HTTP request on a connection: its body, gathered over several calls. */
struct rq {
    struct ember_buf body;
    size_t           seen;          /* bytes received, kept or not */
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

static void inv_free(struct ember_rtapi *api)
{
    free(api->event);
    free(api->arn);
    free(api->trace);
    free(api->client_context);
    free(api->cognito);
    api->event = api->arn = api->trace = api->client_context = api->cognito = NULL;
    api->event_len = 0;
    ember_rtapi_result_clear(&api->res);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? ember_xstrdup(s) : NULL;
}

/* ---------------------------------------------------------------- replies */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *body, size_t len)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
                                   const char *type, const char *message)
{
    char *body;
    enum MHD_Result ret;
    json_object *o = json_object_new_object();

    json_object_object_add(o, "errorMessage", json_object_new_string(message));
    json_object_object_add(o, "errorType", json_object_new_string(type));
    body = ember_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    ret = reply(conn, status, body, strlen(body));
    free(body);
    return ret;
}

static enum MHD_Result reply_accepted(struct MHD_Connection *conn)
{
    static const char ok[] = "{\"status\":\"OK\"}";

    return reply(conn, MHD_HTTP_ACCEPTED, ok, sizeof(ok) - 1);
}

/* ---------------------------------------------------------------- handlers */

/* The error type a runtime reported: the header, else errorType in the JSON. Caller frees. */
static char *error_type_of(struct MHD_Connection *conn, const char *body, size_t len)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                "Lambda-Runtime-Function-Error-Type");
    json_object *o, *t;
    char *type = NULL;

    if (h != NULL && *h != '\0')
        return ember_xstrdup(h);
    if (body == NULL)
        return NULL;
    o = json_tokener_parse(body);
    (void)len;
    if (o != NULL && json_object_object_get_ex(o, "errorType", &t)
        && json_object_is_type(t, json_type_string))
        type = ember_xstrdup(json_object_get_string(t));
    json_object_put(o);
    return type;
}

/* Move the request body into a result. */
static void take_body(struct ember_rtapi_result *res, struct rq *rq)
{
    res->body = rq->body.data != NULL ? rq->body.data : ember_xstrdup("");
    res->body_len = rq->body.len;
    rq->body.data = NULL;
    rq->body.len = rq->body.cap = 0;
}

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

static enum MHD_Result on_next(struct ember_rtapi *api, struct MHD_Connection *conn)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    char deadline[32];
    char *event;
    size_t len;
    unsigned gen;

    pthread_mutex_lock(&api->mu);
    gen = api->generation;
    if (api->aborted) {
        pthread_mutex_unlock(&api->mu);
        return MHD_NO;
    }
    if (api->first_next_ns == 0) {
        api->first_next_ns = ember_rtapi_now_ns();
        pthread_cond_broadcast(&api->cond);
    }
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
    while (api->state != INV_OFFERED && !api->closing && gen == api->generation)
        pthread_cond_wait(&api->cond, &api->mu);
    if (api->closing || gen != api->generation) {
        pthread_mutex_unlock(&api->mu);
        return MHD_NO;          /* drop the connection: we are going away */
    }
    api->state = INV_DELIVERED;
    api->res.delivered_ns = ember_rtapi_now_ns();
    len = api->event_len;
    event = ember_xmalloc(len + 1);
    memcpy(event, api->event, len + 1);
    r = MHD_create_response_from_buffer(len, event, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(event);
        pthread_mutex_unlock(&api->mu);
        return MHD_NO;
    }
    snprintf(deadline, sizeof(deadline), "%" PRId64, api->deadline_ms);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Lambda-Runtime-Aws-Request-Id", api->id);
    MHD_add_response_header(r, "Lambda-Runtime-Deadline-Ms", deadline);
    if (api->arn != NULL)
        MHD_add_response_header(r, "Lambda-Runtime-Invoked-Function-Arn", api->arn);
    if (api->trace != NULL)
        MHD_add_response_header(r, "Lambda-Runtime-Trace-Id", api->trace);
    if (api->client_context != NULL)
        MHD_add_response_header(r, "Lambda-Runtime-Client-Context", api->client_context);
    if (api->cognito != NULL)
        MHD_add_response_header(r, "Lambda-Runtime-Cognito-Identity", api->cognito);
    pthread_mutex_unlock(&api->mu);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* POST .../invocation/{id}/response or /error. */
static enum MHD_Result on_result(struct ember_rtapi *api, struct MHD_Connection *conn,
                                 const char *id, size_t idlen, int is_error, struct rq *rq)
{
    pthread_mutex_lock(&api->mu);
    if (api->state != INV_DELIVERED || idlen != strlen(api->id)
        || strncmp(id, api->id, idlen) != 0) {
        pthread_mutex_unlock(&api->mu);
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "InvalidRequestID",
                           "no open invocation has this request id");
    }
    if (!is_error && api->fault != EMBER_RTAPI_FAULT_NONE && !api->fault_used) {
        enum ember_rtapi_fault fault = api->fault;

        api->fault_used = 1;
        pthread_mutex_unlock(&api->mu);
        if (fault == EMBER_RTAPI_FAULT_CLOSE)
            return MHD_NO;
        if (fault == EMBER_RTAPI_FAULT_413)
            return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "RequestEntityTooLarge",
                               "Exceeded maximum allowed payload size (6291556 bytes).");
        return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "ServiceException",
                           "injected Runtime API failure");
    }
    if (!is_error && rq->seen > EMBER_RTAPI_MAX_RESPONSE) {
        api->saw_413 = 1;
        pthread_mutex_unlock(&api->mu);
        return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "RequestEntityTooLarge",
                           "Exceeded maximum allowed payload size (6291556 bytes).");
    }
    free(api->res.body);
    free(api->res.error_type);
    api->res.error_type = NULL;
    take_body(&api->res, rq);
    if (is_error)
        api->res.error_type = error_type_of(conn, api->res.body, api->res.body_len);
    finish(api, is_error ? EMBER_RTAPI_ERROR : EMBER_RTAPI_RESPONSE);
    pthread_mutex_unlock(&api->mu);
    return reply_accepted(conn);
}

static enum MHD_Result on_init_error(struct ember_rtapi *api, struct MHD_Connection *conn,
                                     struct rq *rq)
{
    pthread_mutex_lock(&api->mu);
    if (!api->init_failed) {
        api->init_failed = 1;
        take_body(&api->init_res, rq);
        api->init_res.error_type = error_type_of(conn, api->init_res.body,
                                                 api->init_res.body_len);
        api->init_res.outcome = EMBER_RTAPI_INIT_ERROR;
        api->init_res.done_ns = ember_rtapi_now_ns();
        pthread_cond_broadcast(&api->cond);
    }
    pthread_mutex_unlock(&api->mu);
    return reply_accepted(conn);
}

static enum MHD_Result dispatch(struct ember_rtapi *api, struct MHD_Connection *conn,
                                const char *url, const char *method, struct rq *rq)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

    if (strcmp(url, PATH_NEXT) == 0) {
        if (!get)
            return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                               "use GET for invocation/next");
        return on_next(api, conn);
    }
    if (strcmp(url, PATH_INITERR) == 0) {
        if (!post)
            return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                               "use POST for init/error");
        return on_init_error(api, conn, rq);
    }
    if (strncmp(url, PREFIX_INV, sizeof(PREFIX_INV) - 1) == 0) {
        const char *id = url + sizeof(PREFIX_INV) - 1;
        const char *slash = strchr(id, '/');

        if (slash != NULL && slash > id
            && (strcmp(slash, "/response") == 0 || strcmp(slash, "/error") == 0)) {
            if (!post)
                return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                                   "use POST for an invocation's response or error");
            return on_result(api, conn, id, (size_t)(slash - id),
                             strcmp(slash, "/error") == 0, rq);
        }
    }
    return reply_error(conn, MHD_HTTP_NOT_FOUND, "NotFound", "no such Runtime API path");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct ember_rtapi *api = cls;
    struct rq *rq = *req_cls;

    if (rq == NULL) {
        rq = ember_xcalloc(1, sizeof(*rq));
        *req_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        /* keep up to the cap (plus one byte, to tell "over" from "at") */
        if (rq->seen <= EMBER_RTAPI_MAX_RESPONSE) {
            size_t room = EMBER_RTAPI_MAX_RESPONSE + 1 - rq->seen;
            size_t n = *upload_data_size < room ? *upload_data_size : room;

            ember_buf_append(&rq->body, upload_data, n);
        }
        rq->seen += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(api, conn, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct rq *rq = *req_cls;

    if (rq == NULL)
        return;
    ember_buf_free(&rq->body);
    free(rq);
    *req_cls = NULL;
}

/* libmicrohttpd's complaints, minus the one we cause on purpose (dropping a connection). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    vsnprintf(line, sizeof(line), fmt, ap);
    if (strstr(line, "Application reported internal error") != NULL)
        return;
    fprintf(stderr, "ember-local: Runtime API: %s%s", line,
            line[0] != '\0' && line[strlen(line) - 1] == '\n' ? "" : "\n");
}

/* ---------------------------------------------------------------- API */

int ember_rtapi_start(struct ember_rtapi **out, unsigned port, struct ember_error *err)
{
    struct ember_rtapi *api;
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    pthread_condattr_t ca;

    *out = NULL;
    api = ember_xcalloc(1, sizeof(*api));
    pthread_mutex_init(&api->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&api->cond, &ca);
    pthread_condattr_destroy(&ca);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    api->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD
                                   | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
                                   (uint16_t)port, NULL, NULL, on_request, api,
                                   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, api,
                                   MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
                                   MHD_OPTION_END);
    if (api->daemon == NULL) {
        pthread_cond_destroy(&api->cond);
        pthread_mutex_destroy(&api->mu);
        free(api);
        return ember_fail(err, 500, "Runtime API: cannot listen on 127.0.0.1:%u", port);
    }
    info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info != NULL ? info->port : port;
    *out = api;
    return EMBER_OK;
}

unsigned ember_rtapi_port(const struct ember_rtapi *api)
{
    return api->port;
}

void ember_rtapi_stop(struct ember_rtapi *api)
{
    if (api == NULL)
        return;
    pthread_mutex_lock(&api->mu);
    api->closing = 1;
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->mu);
    MHD_stop_daemon(api->daemon);
    inv_free(api);
    ember_rtapi_result_clear(&api->init_res);
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
    inv_free(api);
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
    return EMBER_OK;
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

/* Called with mu held: move the init failure into res. */
static enum ember_rtapi_outcome take_init_error(struct ember_rtapi *api,
                                                struct ember_rtapi_result *res)
{
    *res = api->init_res;
    res->body = dup_or_null(api->init_res.body);
    res->error_type = dup_or_null(api->init_res.error_type);
    res->request_id = NULL;
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
        if (api->init_failed) {
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
            api->state = INV_NONE;
            o = res->outcome;
            break;
        }
        if (api->init_failed) {
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
}

void ember_rtapi_reset(struct ember_rtapi *api)
{
    pthread_mutex_lock(&api->mu);
    api->generation++;
    api->aborted = 0;
    api->first_next_ns = 0;
    api->init_failed = 0;
    ember_rtapi_result_clear(&api->init_res);
    inv_free(api);
    api->state = INV_NONE;
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->mu);
}
