/*
 * test_local.c - ember-local's Runtime API module (emu/local/rtapi.c) against
 * the core's own Runtime API client (core/runtime.c), both ways: what `next`
 * hands out, responses, errors, init errors, faults, a runtime that skips an
 * answer, aborts, timeouts, reset; and the HS256 tokens of `ember-local token`
 * (known answers, checked with openssl).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    return done_testing();
}
