/*
 * runtime.h - the Lambda Runtime API client: HTTP/1.1 over one kept-alive
 * TCP socket to AWS_LAMBDA_RUNTIME_API ("host:port"), no libcurl.
 *
 * Content-Length framing (chunked is accepted on input too).  A dropped
 * connection is re-established once per call.  `next` has no timeout: the
 * sandbox may be frozen while it waits.
 */
#ifndef EMBER_RUNTIME_H
#define EMBER_RUNTIME_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <ember/plugin.h>

#define EMBER_RUNTIME_MAX_RESPONSE  (6 * 1024 * 1024)   /* Lambda's sync payload cap */

struct ember_runtime;

/* One invocation, as `GET .../invocation/next` delivered it. All owned by it. */
struct ember_invocation {
    char    *request_id;        /* Lambda-Runtime-Aws-Request-Id */
    int64_t  deadline_ms;       /* Lambda-Runtime-Deadline-Ms, epoch ms; 0 if absent */
    char    *function_arn;      /* Lambda-Runtime-Invoked-Function-Arn, or NULL */
    char    *trace_id;          /* Lambda-Runtime-Trace-Id, or NULL */
    char    *client_context;    /* Lambda-Runtime-Client-Context, or NULL */
    char    *cognito_identity;  /* Lambda-Runtime-Cognito-Identity, or NULL */
    char    *event;             /* the body, NUL-terminated */
    size_t   event_len;
};

/* api: "host:port" (AWS_LAMBDA_RUNTIME_API). Does not connect yet. */
int  ember_runtime_create(struct ember_runtime **rt, const char *api, struct ember_error *err);
void ember_runtime_free(struct ember_runtime *rt);
/*
 * Stop on SIGTERM/SIGINT, whose handler sets *flag: blocks both signals
 * except while waiting for the Runtime API, so an invocation in progress
 * always completes, and a wait (also one the signal came just before)
 * fails with "interrupted by a signal: stopping".
 */
void ember_runtime_set_stop(struct ember_runtime *rt, const volatile sig_atomic_t *flag);

/*
 * Blocks for the next invocation; fills inv (clear it with
 * ember_invocation_clear). Sets _X_AMZN_TRACE_ID from the trace header.
 */
int  ember_runtime_next(struct ember_runtime *rt, struct ember_invocation *inv,
                        struct ember_error *err);
void ember_invocation_clear(struct ember_invocation *inv);

/*
 * POST .../invocation/{id}/response.  A body over 6 MB is not sent:
 * EMBER_ERROR with err->status 413, as is a 413 from the Runtime API; the
 * caller then reports an invocation error and goes on.
 */
int  ember_runtime_respond(struct ember_runtime *rt, const char *request_id,
                           const char *body, size_t len, struct ember_error *err);

/*
 * POST .../invocation/{id}/error (or /runtime/init/error when request_id
 * is NULL) with {"errorMessage","errorType","stackTrace":[]} and
 * Lambda-Runtime-Function-Error-Type: type.
 */
int  ember_runtime_error(struct ember_runtime *rt, const char *request_id,
                         const char *type, const char *message, struct ember_error *err);

#endif
