/*
 * test_local.c - ember-local's Runtime API module (emu/local/rtapi.c) against
 * the core's own Runtime API client (core/runtime.c), both ways: what `next`
 * hands out, responses, errors, init errors, faults, a runtime that skips an
 * answer, aborts, timeouts, reset; the same module over raw HTTP for what
 * that client never sends (chunked bodies, Expect: 100-continue, HTTP/1.0,
 * requests in one write) and for what the route-case runner watches
 * (every POST recorded, idle, the size limit, notes); and the HS256 tokens
 * of `ember-local token` (known answers, checked with openssl).
 */
#define _GNU_SOURCE 1   /* strcasestr */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <json-c/json.h>

#include "../tap.h"
#include "error.h"
#include "runtime.h"
#include "rtapi.h"
#include "token.h"

enum action { RESPOND, FAIL, INIT_FAIL, NEXT_ONLY, RESPOND_WRONG_ID };

/* One step of the function side, run in a thread on a kept client. */
struct job {
    struct ember_runtime   *rt;
    enum action             action;
    const char             *body;
    struct ember_invocation inv;
    int                     next_rc, post_rc;
    struct ember_error      err;
    pthread_t               thread;
};

static void *run_job(void *arg)
{
    struct job *j = arg;

    if (j->action == INIT_FAIL) {
        j->post_rc = ember_runtime_error(j->rt, NULL, "Fn.InitFailed", "no config", &j->err);
        return NULL;
    }
    j->next_rc = ember_runtime_next(j->rt, &j->inv, &j->err);
    if (j->next_rc != EMBER_OK || j->action == NEXT_ONLY)
        return NULL;
    if (j->action == RESPOND)
        j->post_rc = ember_runtime_respond(j->rt, j->inv.request_id, j->body, strlen(j->body),
                                           &j->err);
    else if (j->action == RESPOND_WRONG_ID)
        j->post_rc = ember_runtime_respond(j->rt, "not-the-id", j->body, strlen(j->body),
                                           &j->err);
    else
        j->post_rc = ember_runtime_error(j->rt, j->inv.request_id, "Handler.Failed", "boom",
                                         &j->err);
    return NULL;
}

static void start_job(struct job *j, struct ember_runtime *rt, enum action a, const char *body)
{
    memset(j, 0, sizeof(*j));
    j->rt = rt;
    j->action = a;
    j->body = body;
    pthread_create(&j->thread, NULL, run_job, j);
}

static void end_job(struct job *j)
{
    pthread_join(j->thread, NULL);
    ember_invocation_clear(&j->inv);
}

static int64_t in_ms(int ms)
{
    return ember_rtapi_now_ns() + (int64_t)ms * 1000000;
}

static void offer(struct ember_rtapi *api, const char *event, const char *id,
                  enum ember_rtapi_fault fault, int64_t deadline_ms)
{
    struct ember_rtapi_invocation inv;
    struct ember_error err = { 0 };

    memset(&inv, 0, sizeof(inv));
    inv.request_id = id;
    inv.event = event;
    inv.event_len = strlen(event);
    inv.deadline_ms = deadline_ms;
    inv.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:t";
    inv.trace_id = "Root=1-abc";
    inv.fault = fault;
    if (ember_rtapi_offer(api, &inv, NULL, &err) != EMBER_OK)
        diag("offer: %s", err.message);
}

static void test_rtapi(void)
{
    struct ember_rtapi *api;
    struct ember_runtime *rt;
    struct ember_rtapi_result res;
    struct ember_error err = { 0 };
    struct job j;
    char addr[64], id[37];
    int64_t first = 0, dl = ember_rtapi_epoch_ms() + 3000;
    enum ember_rtapi_outcome o;

    ok(ember_rtapi_start(&api, 0, &err) == EMBER_OK, "rtapi: listens on 127.0.0.1");
    ok(ember_rtapi_port(api) > 0, "rtapi: on a free port (%u)", ember_rtapi_port(api));
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", ember_rtapi_port(api));
    ember_runtime_create(&rt, addr, &err);

    /* init: not ready until the runtime asks */
    o = ember_rtapi_wait_ready(api, in_ms(50), &first, &res);
    is_int(o, EMBER_RTAPI_TIMEOUT, "wait_ready: times out while nobody asked");
    ember_rtapi_result_clear(&res);

    /* a response */
    start_job(&j, rt, RESPOND, "{\"statusCode\":200}");
    o = ember_rtapi_wait_ready(api, in_ms(3000), &first, &res);
    is_int(o, EMBER_RTAPI_PENDING, "wait_ready: ready once the runtime asks for an event");
    ok(first > 0, "... with the time it asked (init end)");
    offer(api, "{\"n\":1}", "11111111-1111-4111-8111-111111111111", EMBER_RTAPI_FAULT_NONE, dl);
    o = ember_rtapi_wait(api, in_ms(3000), &res);
    pthread_join(j.thread, NULL);
    is_int(o, EMBER_RTAPI_RESPONSE, "a response POST ends the invocation");
    is_str(res.body, "{\"statusCode\":200}", "... with its body");
    is_str(res.request_id, "11111111-1111-4111-8111-111111111111", "... and its request id");
    ok(res.delivered_ns > 0 && res.done_ns >= res.delivered_ns, "... delivered, then done");
    is_str(j.inv.event, "{\"n\":1}", "next: the event, as offered");
    is_str(j.inv.request_id, "11111111-1111-4111-8111-111111111111",
           "next: Lambda-Runtime-Aws-Request-Id");
    is_int(j.inv.deadline_ms, dl, "next: Lambda-Runtime-Deadline-Ms");
    is_str(j.inv.function_arn, "arn:aws:lambda:us-east-1:123456789012:function:t",
           "next: Lambda-Runtime-Invoked-Function-Arn");
    is_str(j.inv.trace_id, "Root=1-abc", "next: Lambda-Runtime-Trace-Id");
    ember_invocation_clear(&j.inv);
    ember_rtapi_result_clear(&res);

    /* an invocation error */
    start_job(&j, rt, FAIL, NULL);
    offer(api, "{}", NULL, EMBER_RTAPI_FAULT_NONE, dl);
    o = ember_rtapi_wait(api, in_ms(3000), &res);
    end_job(&j);
    is_int(o, EMBER_RTAPI_ERROR, "an error POST ends the invocation as an error");
    is_str(res.error_type, "Handler.Failed", "... Lambda-Runtime-Function-Error-Type");
    ok(res.body != NULL && strstr(res.body, "\"errorMessage\":\"boom\"") != NULL,
       "... the error JSON");
    ok(strlen(res.request_id) == 36 && res.request_id[14] == '4', "a made-up id is a v4 UUID");
    ember_rtapi_result_clear(&res);

    /* one at a time */
    start_job(&j, rt, RESPOND, "{}");
    offer(api, "{}", NULL, EMBER_RTAPI_FAULT_NONE, dl);
    {
        struct ember_rtapi_invocation inv = { .event = "{}", .event_len = 2 };

        ok(ember_rtapi_offer(api, &inv, id, &err) == EMBER_ERROR && err.status == 409,
           "a second offer while one is open: 409");
    }
    o = ember_rtapi_wait(api, in_ms(3000), &res);
    end_job(&j);
    is_int(o, EMBER_RTAPI_RESPONSE, "... and the first one still completes");
    ember_rtapi_result_clear(&res);

    /* a POST for another id is refused; the invocation stays open */
    start_job(&j, rt, RESPOND_WRONG_ID, "{}");
    offer(api, "{}", NULL, EMBER_RTAPI_FAULT_NONE, dl);
    pthread_join(j.thread, NULL);
    ok(j.post_rc == EMBER_ERROR, "a response for an unknown request id is refused");
    o = ember_rtapi_wait(api, in_ms(100), &res);
    is_int(o, EMBER_RTAPI_TIMEOUT, "... the invocation stays open");
    ember_rtapi_result_clear(&res);
    ember_runtime_respond(rt, j.inv.request_id, "{\"late\":1}", 10, &err);
    o = ember_rtapi_wait(api, in_ms(3000), &res);
    is_int(o, EMBER_RTAPI_RESPONSE, "... until its own id answers");
    ember_rtapi_result_clear(&res);
    ember_invocation_clear(&j.inv);
    ember_runtime_free(rt);

    /* fault close: the client reconnects once and posts again */
    ember_rtapi_reset(api);
    ember_runtime_create(&rt, addr, &err);
    start_job(&j, rt, RESPOND, "{\"again\":true}");
    offer(api, "{}", NULL, EMBER_RTAPI_FAULT_CLOSE, dl);
    o = ember_rtapi_wait(api, in_ms(3000), &res);
    end_job(&j);
    is_int(o, EMBER_RTAPI_RESPONSE, "fault close: the response POST is dropped once, retried, taken");
    is_str(res.body, "{\"again\":true}", "... with its body");
    ember_rtapi_result_clear(&res);

    /* fault 413: the runtime reports an error instead */
    start_job(&j, rt, RESPOND, "{}");
    offer(api, "{}", NULL, EMBER_RTAPI_FAULT_413, dl);
    pthread_join(j.thread, NULL);
    ok(j.post_rc == EMBER_ERROR && j.err.status == 413, "fault 413: the client sees 413");
    ember_runtime_error(rt, j.inv.request_id, "Runtime.ResponseTooLarge", "too large", &err);
    ember_invocation_clear(&j.inv);
    o = ember_rtapi_wait(api, in_ms(3000), &res);
    is_int(o, EMBER_RTAPI_ERROR, "... then its error POST ends the invocation");
    is_str(res.error_type, "Runtime.ResponseTooLarge", "... with its type");
    ember_rtapi_result_clear(&res);

    /* skipping an answer */
    start_job(&j, rt, NEXT_ONLY, NULL);
    offer(api, "{}", NULL, EMBER_RTAPI_FAULT_NONE, dl);
    pthread_join(j.thread, NULL);
    ember_invocation_clear(&j.inv);
    start_job(&j, rt, NEXT_ONLY, NULL);      /* asks again without answering */
    o = ember_rtapi_wait(api, in_ms(3000), &res);
    is_int(o, EMBER_RTAPI_NO_RESPONSE, "next without answering the last one: NO_RESPONSE");
    ember_rtapi_result_clear(&res);

    /* abort wakes the waiter; reset drops the stale `next` */
    offer(api, "{}", NULL, EMBER_RTAPI_FAULT_NONE, dl);   /* the blocked next takes it */
    ember_rtapi_abort(api);
    o = ember_rtapi_wait(api, in_ms(3000), &res);
    is_int(o, EMBER_RTAPI_ABORTED, "abort: the wait returns ABORTED");
    ember_rtapi_result_clear(&res);
    end_job(&j);
    ember_runtime_free(rt);

    /* init error, after a reset */
    ember_rtapi_reset(api);
    ember_runtime_create(&rt, addr, &err);
    start_job(&j, rt, INIT_FAIL, NULL);
    o = ember_rtapi_wait_ready(api, in_ms(3000), &first, &res);
    end_job(&j);
    is_int(o, EMBER_RTAPI_INIT_ERROR, "init/error: wait_ready says INIT_ERROR");
    is_str(res.error_type, "Fn.InitFailed", "... with the runtime's errorType");
    ok(res.body != NULL && strstr(res.body, "no config") != NULL, "... and its message");
    ember_rtapi_result_clear(&res);
    ember_runtime_free(rt);
    ember_rtapi_stop(api);
}

/* ---------------------------------------------------------------- raw HTTP */

static int raw_connect(unsigned port)
{
    struct sockaddr_in sa;
    struct timeval tv = { 3, 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        diag("connect: %s", strerror(errno));
    return fd;
}

static void raw_send(int fd, const char *s)
{
    size_t len = strlen(s), off = 0;

    while (off < len) {
        ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);

        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

/*
 * One answer: its status, its head and body in head/body (the caller
 * frees; the body is Content-Length bytes).  -1 at EOF or after 3 s.
 */
static int raw_read(int fd, char **head, char **body)
{
    char h[8192], *cl;
    size_t n = 0, len = 0, got = 0;

    *head = *body = NULL;
    while (n < sizeof(h) - 1 && (n < 4 || memcmp(h + n - 4, "\r\n\r\n", 4) != 0)) {
        if (recv(fd, h + n, 1, 0) != 1)
            return -1;
        n++;
    }
    h[n] = '\0';
    cl = strcasestr(h, "\r\nContent-Length:");
    if (cl != NULL)
        len = strtoul(cl + 17, NULL, 10);
    *body = calloc(1, len + 1);
    while (got < len) {
        ssize_t k = recv(fd, *body + got, len - got, 0);

        if (k <= 0)
            break;
        got += (size_t)k;
    }
    *head = strdup(h);
    return atoi(h + 9);
}

/* Send req, read one answer, keep only its status (and the body, if body != NULL). */
static int raw_call(int fd, const char *req, char **body)
{
    char *h, *b;
    int status;

    raw_send(fd, req);
    status = raw_read(fd, &h, &b);
    free(h);
    if (body != NULL)
        *body = b;
    else
        free(b);
    return status;
}

/* The peer closed: the next read sees EOF (0 if nothing within 3 s). */
static int raw_eof(int fd)
{
    char c;

    return recv(fd, &c, 1, 0) == 0;
}

/* Until the endpoint's state matches (idle, nposts at least n). 0 after 3 s. */
static int wait_state(struct ember_rtapi *api, int idle, size_t nposts)
{
    int64_t until = in_ms(3000);
    struct ember_rtapi_state st;

    for (;;) {
        ember_rtapi_state(api, &st);
        if (st.idle == idle && st.nposts >= nposts)
            return 1;
        if (ember_rtapi_now_ns() > until)
            return 0;
        ember_rtapi_pause(api, 20);
    }
}

#define NEXT_REQ  "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"

static void test_rtapi_http(void)
{
    struct ember_rtapi *api;
    struct ember_rtapi_state st;
    struct ember_rtapi_result res;
    const struct ember_rtapi_post *p;
    struct ember_error err = { 0 };
    char *head = NULL, *body = NULL, *notes;
    int a, b, status;

    ok(ember_rtapi_start(&api, 0, &err) == EMBER_OK, "http: listens");
    ember_rtapi_set_max_response(api, 10);
    ember_rtapi_state(api, &st);
    ok(!st.offered && !st.idle && st.first_next_ns == 0, "state: nothing offered, nobody asking");

    /* next is held open: idle */
    a = raw_connect(ember_rtapi_port(api));
    raw_send(a, NEXT_REQ);
    ok(wait_state(api, 1, 0), "a GET next with nothing to hand out: idle");
    ember_rtapi_state(api, &st);
    ok(st.first_next_ns > 0 && !st.delivered, "... init is over, nothing delivered");

    offer(api, "{\"e\":1}", "id-1", EMBER_RTAPI_FAULT_NONE, 1234);
    status = raw_read(a, &head, &body);
    is_int(status, 200, "offer: the held next gets the event");
    is_str(body, "{\"e\":1}", "... its body");
    ok(head != NULL && strstr(head, "\r\nLambda-Runtime-Aws-Request-Id: id-1\r\n") != NULL
       && strstr(head, "\r\nLambda-Runtime-Deadline-Ms: 1234\r\n") != NULL,
       "... its request id and deadline");
    free(head);
    free(body);
    ember_rtapi_state(api, &st);
    ok(st.offered && st.delivered && !st.done && !st.idle, "state: delivered, not idle");

    /* a chunked response with Expect: 100-continue and a trailer; the id percent-encoded */
    raw_send(a, "POST /2018-06-01/runtime/invocation/id%2D1/response HTTP/1.1\r\n"
                "Host: x\r\nX-Test: yes\r\nTransfer-Encoding: chunked\r\n"
                "Expect: 100-continue\r\n\r\n");
    status = raw_read(a, &head, &body);
    is_int(status, 100, "Expect: 100-continue: 100 first");
    free(head);
    free(body);
    status = raw_call(a, "5\r\n{\"a\":\r\n2;ext=1\r\n1}\r\n0\r\nX-Trailer: t\r\n\r\n", NULL);
    is_int(status, 202, "a chunked response: 202");
    ok(wait_state(api, 0, 1), "... recorded");
    p = ember_rtapi_post(api, 0);
    ok(p != NULL && p->kind == EMBER_RTAPI_POST_RESPONSE, "post 0: a response");
    is_str(p ? p->request_id : NULL, "id-1", "... for id-1 (decoded)");
    is_str(p ? p->body : NULL, "{\"a\":1}", "... the chunks joined");
    ok(p != NULL && p->status == 202 && p->size == 7 && p->len == 7, "... 202, 7 bytes");
    is_str(p ? ember_rtapi_post_header(p, "x-test") : NULL, "yes", "... with its headers");
    ember_rtapi_state(api, &st);
    ok(st.done, "state: done");

    /* a second POST is recorded, the outcome stands */
    status = raw_call(a, "POST /2018-06-01/runtime/invocation/id-1/error HTTP/1.1\r\n"
                         "Lambda-Runtime-Function-Error-Type: Late.Error\r\n"
                         "Content-Length: 2\r\n\r\n{}", NULL);
    is_int(status, 202, "an error POST after the response: 202");
    ok(wait_state(api, 0, 2), "... recorded as post 1");
    p = ember_rtapi_post(api, 1);
    ok(p != NULL && p->kind == EMBER_RTAPI_POST_ERROR, "... an error");
    is_str(p ? p->error_type : NULL, "Late.Error", "... its Lambda-Runtime-Function-Error-Type");
    is_int(ember_rtapi_wait(api, in_ms(3000), &res), EMBER_RTAPI_RESPONSE,
           "wait: the first one decided");
    is_str(res.body, "{\"a\":1}", "... its body");
    ember_rtapi_result_clear(&res);

    /* strays */
    ember_rtapi_clear_notes(api);
    is_int(raw_call(a, "POST /2018-06-01/runtime/invocation/id-1/response HTTP/1.1\r\n"
                       "Content-Length: 1\r\n\r\nx", NULL), 202,
           "a late POST for an earlier invocation: 202");
    is_int(raw_call(a, "POST /2018-06-01/runtime/invocation/nope/response HTTP/1.1\r\n"
                       "Content-Length: 0\r\n\r\n", NULL), 400, "an unknown id: 400");
    is_int(raw_call(a, "GET /2018-06-01/runtime/nothing HTTP/1.1\r\n\r\n", NULL), 404,
           "an unknown path: 404");
    is_int(raw_call(a, "DELETE /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n", NULL),
           405, "next but not GET: 405");
    notes = ember_rtapi_notes(api);
    ok(strstr(notes, "late POST /2018-06-01/runtime/invocation/id-1/response") != NULL
       && strstr(notes, "invocation/nope/response: unknown request id") != NULL
       && strstr(notes, "GET /2018-06-01/runtime/nothing: no such endpoint") != NULL,
       "... each noted");
    free(notes);
    ember_rtapi_clear_notes(api);
    notes = ember_rtapi_notes(api);
    is_str(notes, "", "clear_notes");
    free(notes);

    /* over the limit: 413, then next without an answer is a size error; HTTP/1.0 closes */
    offer(api, "{}", "id-2", EMBER_RTAPI_FAULT_NONE, 1);
    b = raw_connect(ember_rtapi_port(api));
    is_int(raw_call(b, "GET /2018-06-01/runtime/invocation/next HTTP/1.0\r\n\r\n", NULL), 200,
           "HTTP/1.0: next");
    ok(raw_eof(b), "... then the connection closes");
    close(b);
    is_int(raw_call(a, "POST /2018-06-01/runtime/invocation/id-2/response HTTP/1.1\r\n"
                       "Content-Length: 11\r\n\r\n01234567890", &body), 413,
           "a response over the limit (11 > 10): 413");
    ok(body != NULL && strstr(body, "RequestEntityTooLarge") != NULL, "... RequestEntityTooLarge");
    free(body);
    p = ember_rtapi_post(api, 0);
    ok(p != NULL && p->status == 413 && p->size == 11 && p->len == 11,
       "... recorded: 413, 11 bytes, limit + 1 kept");
    raw_send(a, NEXT_REQ);
    is_int(ember_rtapi_wait(api, in_ms(3000), &res), EMBER_RTAPI_ERROR,
           "next without answering after a 413: an error");
    is_str(res.error_type, "Function.ResponseSizeTooLarge", "... Function.ResponseSizeTooLarge");
    ember_rtapi_result_clear(&res);
    ok(wait_state(api, 1, 0), "... and the next is held: idle");

    /* reset drops the held next; an init error and a next in one write */
    ember_rtapi_set_max_response(api, EMBER_RTAPI_MAX_RESPONSE);   /* bodies kept whole again */
    ember_rtapi_reset(api);
    ok(raw_eof(a), "reset: the held next is dropped");
    close(a);
    ember_rtapi_state(api, &st);
    ok(!st.offered && !st.idle && !st.init_error && st.first_next_ns == 0, "... all forgotten");
    a = raw_connect(ember_rtapi_port(api));
    raw_send(a, "POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"
                "Lambda-Runtime-Function-Error-Type: Runtime.ConfigError\r\n"
                "Content-Length: 17\r\n\r\n{\"errorType\":\"x\"}" NEXT_REQ);
    status = raw_read(a, &head, &body);
    is_int(status, 202, "init/error: 202");
    free(head);
    free(body);
    ok(wait_state(api, 1, 0), "... and the next behind it is held");
    p = ember_rtapi_init_error(api);
    ok(p != NULL && p->kind == EMBER_RTAPI_POST_INIT_ERROR && p->request_id == NULL,
       "init_error: recorded");
    is_str(p ? p->body : NULL, "{\"errorType\":\"x\"}", "... its body");
    is_str(p ? p->error_type : NULL, "Runtime.ConfigError", "... its header");
    is_int(ember_rtapi_wait_ready(api, in_ms(100), NULL, &res), EMBER_RTAPI_INIT_ERROR,
           "wait_ready: INIT_ERROR");
    is_str(res.error_type, "Runtime.ConfigError", "... the header wins over the JSON");
    ember_rtapi_result_clear(&res);

    /* withdraw: the current one is forgotten; offer works again */
    offer(api, "{}", "id-3", EMBER_RTAPI_FAULT_NONE, 1);
    status = raw_read(a, &head, &body);
    is_int(status, 200, "the held next takes id-3");
    free(head);
    free(body);
    ember_rtapi_withdraw(api);
    ember_rtapi_state(api, &st);
    ok(!st.offered && !st.delivered && st.nposts == 0, "withdraw: nothing current");
    is_int(raw_call(a, "POST /2018-06-01/runtime/invocation/id-3/error HTTP/1.1\r\n"
                       "Content-Length: 0\r\n\r\n", NULL), 202,
           "... a POST about it later: 202 (late)");
    ember_rtapi_state(api, &st);
    is_int((int)st.nposts, 0, "... not recorded as current");
    close(a);
    ember_rtapi_stop(api);
}

static void test_token(void)
{
    struct ember_error err = { 0 };
    json_object *claims = json_object_new_object();
    char *s, *tok = NULL;

    s = ember_base64url("", 0);
    is_str(s, "", "base64url: empty");
    free(s);
    s = ember_base64url("f", 1);
    is_str(s, "Zg", "base64url: 1 byte, no padding");
    free(s);
    s = ember_base64url("fo", 2);
    is_str(s, "Zm8", "base64url: 2 bytes");
    free(s);
    s = ember_base64url("foo", 3);
    is_str(s, "Zm9v", "base64url: 3 bytes");
    free(s);
    s = ember_base64url("\xff\xfe", 2);
    is_str(s, "__4", "base64url: the URL alphabet");
    free(s);

    json_object_object_add(claims, "sub", json_object_new_string("alice"));
    json_object_object_add(claims, "iat", json_object_new_int64(1700000000));
    json_object_object_add(claims, "exp", json_object_new_int64(1700003600));
    ok(ember_token_hs256(claims, "s3cret", 6, &tok, &err) == EMBER_OK, "HS256: signs");
    /* openssl dgst -sha256 -hmac s3cret over header.payload, base64url */
    is_str(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
                ".eyJzdWIiOiJhbGljZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwfQ"
                ".7Pquug-AyVGPZHeMUrqL2N3w8HmNX4tYltN4PEFI9gk",
           "HS256: the token openssl computes");
    free(tok);
    json_object_put(claims);
}

int main(void)
{
    test_token();
    test_rtapi();
    test_rtapi_http();
    return done_testing();
}
