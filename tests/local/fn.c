/*
 * fn.c - a Lambda function for ember-local's tests, speaking the Runtime API
 * with the core's own client (core/runtime.c).  What it does is chosen by
 * the request's path, whatever the event's format:
 *
 *   /echo, /echo/...  200, the body is the event it got (JSON text)
 *   /env           200, {"NAME": value} of the Lambda variables it sees
 *   /pid           200, {"pid": N, "count": invocations so far in this process}
 *   /sleep/MS      sleeps MS ms, then 200 {"slept": MS, "pid": N}
 *   /mem/KB        touches KB kB of fresh memory, then 200
 *   /crash         exits with status 3 mid-invocation
 *   /abort         dies of SIGABRT
 *   /hang          never answers
 *   /malformed     answers bytes that are not JSON
 *   /badstatus     answers {"statusCode": "teapot"}
 *   /error         posts an invocation error (errorType Handler.Failed)
 *   /binary        200, 4 bytes that are not UTF-8, isBase64Encoded
 *   /cookies       200 with Set-Cookie a=1 and b=2 (alb without multi-value: a only)
 *   anything else  200 {"method": M, "path": P}
 *
 * At start: FN_INIT=error posts init/error and exits 1, FN_INIT=crash exits
 * 4 before asking for an event, FN_INIT_MS=N sleeps N ms (a slow init).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "runtime.h"

static int64_t epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The path of an HTTP event of any format. Borrowed from ev. */
static const char *event_path(json_object *ev, const char **method)
{
    json_object *v, *rc, *http;

    *method = "?";
    if (json_object_object_get_ex(ev, "httpMethod", &v))
        *method = json_object_get_string(v);
    if (json_object_object_get_ex(ev, "requestContext", &rc)
        && json_object_object_get_ex(rc, "http", &http)
        && json_object_object_get_ex(http, "method", &v))
        *method = json_object_get_string(v);
    if (json_object_object_get_ex(ev, "rawPath", &v))
        return json_object_get_string(v);
    if (json_object_object_get_ex(ev, "path", &v))
        return json_object_get_string(v);
    return "";
}

/* {"statusCode":200,"headers":{"content-type":ctype},"body":body}. Caller frees. */
static char *ok_response(const char *ctype, const char *body)
{
    json_object *r = json_object_new_object(), *h = json_object_new_object();
    char *s;

    json_object_object_add(h, "content-type", json_object_new_string(ctype));
    json_object_object_add(r, "statusCode", json_object_new_int(200));
    json_object_object_add(r, "headers", h);
    json_object_object_add(r, "body", json_object_new_string(body));
    s = strdup(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
    json_object_put(r);
    return s;
}

static char *json_body(json_object *o)
{
    char *s = ok_response("application/json",
                          json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

    json_object_put(o);
    return s;
}

static char *handle(const struct ember_invocation *inv, long count, int *error)
{
    static const char *const vars[] = {
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "LD_LIBRARY_PATH", "TZ", "FN_EXTRA", "HOME", NULL
    };
    json_object *ev = json_tokener_parse(inv->event), *o;
    const char *method, *path;
    char *out = NULL, cwd[4096];
    size_t i;

    *error = 0;
    path = ev != NULL ? event_path(ev, &method) : (method = "?", "");
    if (strcmp(path, "/echo") == 0 || strncmp(path, "/echo/", 6) == 0) {
        out = ok_response("application/json", inv->event);
    } else if (strcmp(path, "/env") == 0) {
        o = json_object_new_object();
        for (i = 0; vars[i] != NULL; i++)
            if (getenv(vars[i]) != NULL)
                json_object_object_add(o, vars[i], json_object_new_string(getenv(vars[i])));
        if (getcwd(cwd, sizeof(cwd)) != NULL)
            json_object_object_add(o, "cwd", json_object_new_string(cwd));
        json_object_object_add(o, "deadline_in_ms",
                               json_object_new_int64(inv->deadline_ms - (int64_t)time(NULL) * 1000));
        json_object_object_add(o, "function_arn", json_object_new_string(
                                   inv->function_arn != NULL ? inv->function_arn : ""));
        out = json_body(o);
    } else if (strcmp(path, "/pid") == 0) {
        o = json_object_new_object();
        json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
        json_object_object_add(o, "count", json_object_new_int64(count));
        out = json_body(o);
    } else if (strncmp(path, "/sleep/", 7) == 0) {
        long ms = atol(path + 7);
        int64_t from = epoch_ms();

        sleep_ms(ms);
        o = json_object_new_object();
        json_object_object_add(o, "slept", json_object_new_int64(ms));
        /* when the sleep began and ended: overlapping intervals prove
           requests ran in parallel, whatever the machine's speed */
        json_object_object_add(o, "from", json_object_new_int64(from));
        json_object_object_add(o, "to", json_object_new_int64(epoch_ms()));
        json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
        out = json_body(o);
    } else if (strncmp(path, "/mem/", 5) == 0) {
        static volatile char *keep;     /* so the compiler cannot drop the writes */
        size_t kb = (size_t)atol(path + 5), off;

        keep = malloc(kb * 1024);
        if (keep != NULL) {
            for (off = 0; off < kb * 1024; off += 4096)
                keep[off] = 1;
            free((void *)keep);
        }
        out = ok_response("text/plain", "touched");
    } else if (strcmp(path, "/crash") == 0) {
        fprintf(stderr, "fn: crashing as asked\n");
        _exit(3);           /* as a crash: no cleanup, no leak report */
    } else if (strcmp(path, "/abort") == 0) {
        abort();
    } else if (strcmp(path, "/hang") == 0) {
        for (;;)
            pause();
    } else if (strcmp(path, "/malformed") == 0) {
        out = strdup("this is not JSON {");
    } else if (strcmp(path, "/badstatus") == 0) {
        out = strdup("{\"statusCode\":\"teapot\",\"body\":\"x\"}");
    } else if (strcmp(path, "/error") == 0) {
        *error = 1;
    } else if (strcmp(path, "/binary") == 0) {
        out = strdup("{\"statusCode\":200,\"headers\":{\"content-type\":\"application/octet-stream\"},"
                     "\"body\":\"/wD+AQ==\",\"isBase64Encoded\":true}");
    } else if (strcmp(path, "/cookies") == 0) {
        /* two cookies, in the shape this event's gateway takes them */
        if (json_object_object_get_ex(ev, "version", &o))
            out = strdup("{\"statusCode\":200,\"cookies\":[\"a=1; Path=/\",\"b=2\"],\"body\":\"\"}");
        else if (json_object_object_get_ex(ev, "multiValueHeaders", &o))
            out = strdup("{\"statusCode\":200,\"multiValueHeaders\":{\"Set-Cookie\":"
                         "[\"a=1; Path=/\",\"b=2\"]},\"body\":\"\"}");
        else
            out = strdup("{\"statusCode\":200,\"headers\":{\"Set-Cookie\":\"a=1; Path=/\"},"
                         "\"body\":\"\"}");
    } else {
        o = json_object_new_object();
        json_object_object_add(o, "method", json_object_new_string(method));
        json_object_object_add(o, "path", json_object_new_string(path));
        out = json_body(o);
    }
    json_object_put(ev);
    return out;
}

int main(void)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API"), *init = getenv("FN_INIT");
    struct ember_runtime *rt;
    struct ember_error err = { 0 };
    long count = 0;

    if (api == NULL) {
        fprintf(stderr, "fn: AWS_LAMBDA_RUNTIME_API is not set\n");
        return 1;
    }
    if (ember_runtime_create(&rt, api, &err) != EMBER_OK) {
        fprintf(stderr, "fn: %s\n", err.message);
        return 1;
    }
    if (getenv("FN_INIT_MS") != NULL)
        sleep_ms(atol(getenv("FN_INIT_MS")));
    if (init != NULL && strcmp(init, "crash") == 0) {
        fprintf(stderr, "fn: crashing in init as asked\n");
        ember_runtime_free(rt);
        return 4;
    }
    if (init != NULL && strcmp(init, "error") == 0) {
        ember_runtime_error(rt, NULL, "Fn.InitFailed", "asked to fail init", &err);
        ember_runtime_free(rt);
        return 1;
    }
    for (;;) {
        struct ember_invocation inv;
        char *out;
        int error;

        memset(&inv, 0, sizeof(inv));
        if (ember_runtime_next(rt, &inv, &err) != EMBER_OK) {
            fprintf(stderr, "fn: next: %s\n", err.message);
            break;
        }
        count++;
        out = handle(&inv, count, &error);
        if (error)
            ember_runtime_error(rt, inv.request_id, "Handler.Failed", "asked to fail", &err);
        else
            ember_runtime_respond(rt, inv.request_id, out, strlen(out), &err);
        free(out);
        ember_invocation_clear(&inv);
    }
    ember_runtime_free(rt);
    return 1;
}
