/*
 * front.c - ember-local's HTTP side (see front.h).
 *
 * libmicrohttpd, a thread per connection: the handler blocks in
 * ember_sandbox_pool_invoke() while the function runs, which is what a
 * thread-per-connection daemon is for.  The raw request-target (still
 * percent-encoded, with its query) comes from the URI log callback, so the
 * event's rawPath/rawQueryString are what the client sent.
 *
 * What the client gets when the function does not answer properly, per
 * gateway (statuses as AWS gives them; the bodies are theirs too):
 *
 *                     v1 (REST)   v2 (HTTP API)  url     alb
 *   function error,   502         500            502     502
 *   crash, timeout
 *   malformed answer  502         502            502     502   (apigw.c says what is wrong)
 *   gateway timeout   504         504            -       504   (--integration-timeout)
 *   event > 6 MB      413         413            413     413
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "buf.h"
#include "error.h"
#include "event.h"
#include "xalloc.h"
#include "rtapi.h"
#include "front.h"

#define MAX_REQUEST_BODY   (10 * 1024 * 1024)   /* API Gateway's payload limit */
#define MAX_EVENT          (6 * 1024 * 1024)    /* Lambda's synchronous invoke limit */

struct ember_front {
    struct MHD_Daemon              *daemon;
    const struct ember_front_conf  *conf;
    struct ember_sandbox_pool      *pool;
};

/* One HTTP request, from the URI callback to the completion callback. */
struct req {
    char              *uri;        /* request-target as sent */
    struct ember_buf   body;
    size_t             seen;
    int64_t            start_ns;
    int                started;    /* the handler's first call (headers only) is over */
};

struct kv_vec {
    struct ember_kv *v;
    size_t           n, cap;
    int              drop_test;   /* leave X-Ember-Format / X-Ember-Stage out */
};

#define TEST_FORMAT_HEADER "X-Ember-Format"
#define TEST_STAGE_HEADER  "X-Ember-Stage"
#define TEST_DEADLINE_HEADER "X-Ember-Deadline-Ms"

enum gw_failure {
    GW_FUNCTION_ERROR,     /* the invocation failed: error, crash, timeout, init */
    GW_MALFORMED,          /* the answer does not parse as the gateway's format */
    GW_TIMEOUT,            /* the gateway's own limit */
    GW_TOO_LARGE,
    GW_UNAVAILABLE,
    GW_THROTTLED           /* every sandbox busy at --max-concurrency: Lambda's 429 */
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct req *rq = ember_xcalloc(1, sizeof(*rq));

    rq->uri = ember_xstrdup(uri);
    rq->start_ns = ember_rtapi_now_ns();
    return rq;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *req_cls;

    if (rq == NULL)
        return;
    free(rq->uri);
    ember_buf_free(&rq->body);
    free(rq);
    *req_cls = NULL;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct kv_vec *h = cls;

    if (h->drop_test && (strcasecmp(key, TEST_FORMAT_HEADER) == 0
                         || strcasecmp(key, TEST_STAGE_HEADER) == 0
                         || strcasecmp(key, TEST_DEADLINE_HEADER) == 0))
        return MHD_YES;
    if (h->n == h->cap) {
        h->cap = h->cap != 0 ? h->cap * 2 : 16;
        h->v = ember_xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    h->v[h->n].name = key;
    h->v[h->n].value = value != NULL ? value : "";
    h->n++;
    return MHD_YES;
}

/* Hop-by-hop or framing headers: libmicrohttpd writes its own. */
static int skip_header(const char *name)
{
    static const char *const skip[] = {
        "content-length", "transfer-encoding", "connection", "keep-alive", "date", NULL
    };
    size_t i;

    for (i = 0; skip[i] != NULL; i++)
        if (strcasecmp(name, skip[i]) == 0)
            return 1;
    return 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, int status,
                                  const struct ember_apigw_header *h, size_t nh,
                                  const char *body, size_t len, const char *request_id,
                                  const struct ember_front_conf *conf)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    size_t i;

    r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    for (i = 0; i < nh; i++)
        if (!skip_header(h[i].name))
            MHD_add_response_header(r, h[i].name, h[i].value);   /* an invalid one is dropped */
    if (request_id != NULL && conf->format == EMBER_APIGW_V2)
        MHD_add_response_header(r, "Apigw-Requestid", request_id);
    else if (request_id != NULL && conf->format == EMBER_APIGW_V1)
        MHD_add_response_header(r, "x-amzn-RequestId", request_id);
    ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/*
 * What the gateway answers itself when there is no usable response.
 * request_id: the gateway's (requestContext.requestId), or NULL.  Returns the status.
 */
static int send_gateway_error(struct MHD_Connection *conn, const struct ember_front_conf *conf,
                              enum gw_failure why, const char *request_id,
                              enum MHD_Result *ret)
{
    struct ember_apigw_header h[2] = {
        { (char *)"Content-Type", (char *)"application/json" },
        { (char *)"x-amzn-ErrorType", (char *)"TooManyRequestsException" },
    };
    struct ember_apigw_header *ct = &h[0];
    const char *body;
    char html[256];
    int status, throttled_500 = 0;

    if (why == GW_THROTTLED) {
        /* Lambda's TooManyRequestsException (HTTP 429).  A Function URL hands
           it to the client as is; API Gateway's Lambda proxy integration
           turns it into its 500; an ALB into a 503.  (emu/local/README.md) */
        switch (conf->format) {
        case EMBER_APIGW_URL:
            body = "{\"Reason\":\"ReservedFunctionConcurrentInvocationLimitExceeded\","
                   "\"Type\":\"User\",\"message\":\"Rate Exceeded.\"}";
            *ret = send_reply(conn, 429, h, 2, body, strlen(body), request_id, conf);
            return 429;
        case EMBER_APIGW_V1:
        case EMBER_APIGW_V2:
            why = GW_FUNCTION_ERROR;     /* 500, below */
            throttled_500 = 1;
            break;
        default:
            why = GW_UNAVAILABLE;        /* alb: 503 */
            break;
        }
    }
    switch (why) {
    case GW_FUNCTION_ERROR:
        status = 502;   /* AWS: "If the function runs but returns an error ... 502" */
        if (throttled_500)
            status = 500;
        break;
    case GW_MALFORMED:
        status = 502;
        break;
    case GW_TIMEOUT:
        /* REST API: 504; HTTP API: 503 {"message":"Service Unavailable"} */
        status = conf->format == EMBER_APIGW_V2 ? 503 : 504;
        break;
    case GW_TOO_LARGE:
        status = 413;
        break;
    default:
        status = 503;
        break;
    }
    switch (conf->format) {
    case EMBER_APIGW_V1:
        body = status == 504 ? "{\"message\": \"Endpoint request timed out\"}"
             : status == 413 ? "{\"message\":\"Request Too Long\"}"
             : status == 503 ? "{\"message\": \"Service Unavailable\"}"
             : "{\"message\": \"Internal server error\"}";
        break;
    case EMBER_APIGW_V2:
        body = status == 504 ? "{\"message\":\"Gateway Timeout\"}"
             : status == 413 ? "{\"message\":\"Request Entity Too Large\"}"
             : status == 503 ? "{\"message\":\"Service Unavailable\"}"
             : "{\"message\":\"Internal Server Error\"}";
        break;
    case EMBER_APIGW_URL:
        body = status == 413 ? "{\"Message\":\"Request Entity Too Large\"}"
             : status == 503 ? "{\"Message\":\"Service Unavailable\"}"
             : "Internal Server Error";
        if (status != 413 && status != 503)
            ct->value = (char *)"text/plain";
        break;
    default:   /* alb: its HTML error pages */
        snprintf(html, sizeof(html), "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
                 "<center><h1>%d %s</h1></center>\r\n</body>\r\n</html>\r\n", status,
                 ember_reason_phrase(status), status, ember_reason_phrase(status));
        body = html;
        ct->value = (char *)"text/html";
        break;
    }
    *ret = send_reply(conn, status, ct, 1, body, strlen(body), request_id, conf);
    return status;
}

static void report(const struct ember_front_conf *conf, const struct ember_invoke_result *res,
                   const char *method, const char *path, int status)
{
    char init[64] = "", mem[64] = "";
    double billed = ceil(res->duration_ms + (res->cold ? res->init_ms : 0));

    if (res->cold)
        snprintf(init, sizeof(init), "\tInit Duration: %.2f ms", res->init_ms);
    if (res->max_rss_kb >= 0)
        snprintf(mem, sizeof(mem), "%ld MB (%ld kB)", (res->max_rss_kb + 1023) / 1024,
                 res->max_rss_kb);
    else
        snprintf(mem, sizeof(mem), "-");
    fprintf(stderr, "REPORT RequestId: %s\tRoute: %s %s\tStatus: %d\tStart: %s%s"
            "\tDuration: %.2f ms\tBilled Duration: %.0f ms\tMemory Size: %d MB"
            "\tMax Memory Used: %s\tSandbox: %d\n",
            res->request_id, method, path, status, res->cold ? "cold" : "warm", init,
            res->duration_ms, billed, conf->memory_mb, mem, res->sandbox_id);
}

static enum MHD_Result serve(struct ember_front *f, struct MHD_Connection *conn,
                             const char *method, struct req *rq)
{
    struct ember_front_conf rconf = *f->conf;      /* this request's gateway */
    const struct ember_front_conf *conf = &rconf;
    struct ember_apigw_request ar;
    struct ember_apigw_response resp;
    struct ember_invoke_result res;
    struct ember_error err = { 0 };
    struct kv_vec headers = { NULL, 0, 0, 0 };
    const union MHD_ConnectionInfo *ci;
    char ip[INET6_ADDRSTRLEN] = "127.0.0.1";
    char *path, *q, *gw_id = NULL;
    json_object *event, *rc, *id;
    const char *event_json, *ctype;
    size_t event_len;
    enum MHD_Result ret;
    int status;
    int64_t gw_deadline = 0;
    int timeout_ms = 0;

    path = ember_xstrdup(rq->uri);
    q = strchr(path, '?');
    if (q != NULL)
        *q++ = '\0';
    if (rconf.test_headers) {
        /* tests: one ember-local (one sandbox) serves every format, as one bootstrap does */
        const char *fmt = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, TEST_FORMAT_HEADER);
        const char *stage = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, TEST_STAGE_HEADER);

        if (fmt != NULL && strcmp(fmt, "alb-mv") == 0) {
            rconf.format = EMBER_APIGW_ALB;
            rconf.multi_value = 1;
        } else if (fmt != NULL && ember_apigw_format_parse(fmt) != EMBER_APIGW_NONE) {
            rconf.format = ember_apigw_format_parse(fmt);
            rconf.multi_value = 0;
        }
        const char *dl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, TEST_DEADLINE_HEADER);

        if (stage != NULL)
            rconf.stage = stage;
        if (dl != NULL && atoi(dl) > 0)
            timeout_ms = atoi(dl);
        headers.drop_test = 1;
    }
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &headers);
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != NULL && ci->client_addr != NULL && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip,
                  sizeof(ip));

    if (rq->seen > MAX_REQUEST_BODY) {
        memset(&res, 0, sizeof(res));
        status = send_gateway_error(conn, conf, GW_TOO_LARGE, NULL, &ret);
        fprintf(stderr, "ember-local: %s %s -> %d: a body of %zu bytes is over API Gateway's "
                "10 MB\n", method, path, status, rq->seen);
        goto out;
    }

    memset(&ar, 0, sizeof(ar));
    ar.method = method;
    ar.path = path;
    ar.raw_query = q != NULL ? q : "";
    ar.headers = headers.v;
    ar.nheaders = headers.n;
    if (rq->body.len > 0) {
        ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        ar.body = rq->body.data;
        ar.body_len = rq->body.len;
        ar.binary = !ember_apigw_is_text(ctype)
                    || !ember_utf8_valid((const unsigned char *)rq->body.data, rq->body.len);
    }
    ar.stage = conf->stage;
    ar.source_ip = ip;
    ar.multi_value = conf->multi_value;
    event = ember_apigw_event(conf->format, &ar);
    if (json_object_object_get_ex(event, "requestContext", &rc)
        && json_object_object_get_ex(rc, "requestId", &id))
        gw_id = ember_xstrdup(json_object_get_string(id));   /* the gateway's own id */
    event_json = json_object_to_json_string_length(event, JSON_C_TO_STRING_PLAIN, &event_len);
    if (event_len > MAX_EVENT) {
        status = send_gateway_error(conn, conf, GW_TOO_LARGE, NULL, &ret);
        fprintf(stderr, "ember-local: %s %s -> %d: the event (%zu bytes) is over Lambda's "
                "6 MB invoke payload\n", method, path, status, event_len);
        json_object_put(event);
        goto out;
    }

    if (conf->integration_timeout_ms > 0)
        gw_deadline = rq->start_ns + (int64_t)conf->integration_timeout_ms * 1000000;
    if (ember_sandbox_pool_invoke(f->pool, event_json, event_len, timeout_ms, gw_deadline, &res,
                                  &err)
        != EMBER_OK) {
        json_object_put(event);
        fprintf(stderr, "ember-local: %s %s: %s\n", method, path, err.message);
        send_gateway_error(conn, conf, GW_UNAVAILABLE, NULL, &ret);
        goto out;
    }
    json_object_put(event);

    switch (res.status) {
    case EMBER_INVOKE_OK:
        if (ember_apigw_response(conf->format, conf->multi_value, res.payload, res.payload_len,
                                 &resp, &err) != EMBER_OK) {
            fprintf(stderr, "ember-local: RequestId: %s Execution failed: malformed %s response "
                    "from the function: %s\n", res.request_id,
                    ember_apigw_format_name(conf->format), err.message);
            status = send_gateway_error(conn, conf, GW_MALFORMED, gw_id, &ret);
            break;
        }
        status = resp.status;
        ret = send_reply(conn, resp.status, resp.headers, resp.nheaders, resp.body,
                         resp.body_len, gw_id, conf);
        ember_apigw_response_clear(&resp);
        break;
    case EMBER_INVOKE_GATEWAY_TIMEOUT:
        fprintf(stderr, "ember-local: RequestId: %s Execution failed: integration timeout "
                "(%d ms); the sandbox is killed\n", res.request_id, conf->integration_timeout_ms);
        status = send_gateway_error(conn, conf, GW_TIMEOUT, gw_id, &ret);
        break;
    case EMBER_INVOKE_THROTTLED:
        /* nothing ran: no REPORT line, as Lambda logs none for a throttle */
        status = send_gateway_error(conn, conf, GW_THROTTLED, gw_id, &ret);
        fprintf(stderr, "ember-local: %s %s -> %d: throttled: %s: %s\n", method, path, status,
                res.error_type, res.error_message);
        ember_invoke_result_clear(&res);
        goto out;
    case EMBER_INVOKE_UNAVAILABLE:
        fprintf(stderr, "ember-local: RequestId: %s %s: %s\n", res.request_id,
                res.error_type, res.error_message);
        status = send_gateway_error(conn, conf, GW_FUNCTION_ERROR, gw_id, &ret);
        break;
    default:
        /* Lambda's own words, then the error JSON the runtime posted, if any */
        fprintf(stderr, "ember-local: %s: %s%s%s\n", res.error_message, res.error_type,
                res.payload != NULL ? " " : "", res.payload != NULL ? res.payload : "");
        status = send_gateway_error(conn, conf, GW_FUNCTION_ERROR, gw_id, &ret);
        break;
    }
    report(conf, &res, method, path, status);
    ember_invoke_result_clear(&res);

out:
    free(gw_id);
    free(headers.v);
    free(path);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct ember_front *f = cls;
    struct req *rq = *req_cls;

    if (rq == NULL)        /* the URI callback always sets it; be safe */
        return MHD_NO;
    if (!rq->started) {
        rq->started = 1;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        if (rq->seen + *upload_data_size <= MAX_REQUEST_BODY)
            ember_buf_append(&rq->body, upload_data, *upload_data_size);
        rq->seen += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return serve(f, conn, method, rq);
}

int ember_front_start(struct ember_front **out, int listen_fd,
                      const struct ember_front_conf *conf, struct ember_sandbox_pool *pool,
                      struct ember_error *err)
{
    struct ember_front *f = ember_xcalloc(1, sizeof(*f));

    *out = NULL;
    f->conf = conf;
    f->pool = pool;
    f->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD
                                 | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, on_request, f,
                                 MHD_OPTION_LISTEN_SOCKET, listen_fd,
                                 MHD_OPTION_URI_LOG_CALLBACK, on_uri, f,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                 MHD_OPTION_END);
    if (f->daemon == NULL) {
        free(f);
        close(listen_fd);
        return ember_fail(err, 500, "libmicrohttpd would not start on the listening socket");
    }
    *out = f;
    return EMBER_OK;
}

void ember_front_stop(struct ember_front *f)
{
    if (f == NULL)
        return;
    MHD_stop_daemon(f->daemon);
    free(f);
}
