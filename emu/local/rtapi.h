/*
 * rtapi.h - the Lambda Runtime API, server side, for one sandbox.
 *
 * One struct ember_rtapi is the endpoint one runtime process talks to
 * (AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT), as in Lambda, where every
 * execution environment has its own.  It is an HTTP/1.1 server
 * (libmicrohttpd, a thread per connection, 127.0.0.1 only) serving
 *
 *   GET  /2018-06-01/runtime/invocation/next            (blocks until offered)
 *   POST /2018-06-01/runtime/invocation/{id}/response   -> 202
 *   POST /2018-06-01/runtime/invocation/{id}/error      -> 202
 *   POST /2018-06-01/runtime/init/error                 -> 202
 *
 * It knows nothing about processes: whoever starts the runtime watches it
 * and calls ember_rtapi_abort() when it exits.  Used by ember-local's
 * sandbox pool and usable by any test that plays Lambda.
 *
 * One invocation at a time: offer it, then wait for its outcome.
 * Thread-safe: offer/wait/abort may be called from any thread.
 */
#ifndef EMBER_RTAPI_H
#define EMBER_RTAPI_H

#include <stddef.h>
#include <stdint.h>
#include <ember/plugin.h>

#define EMBER_RTAPI_MAX_RESPONSE  (6 * 1024 * 1024)   /* Lambda's synchronous payload cap */

struct ember_rtapi;

/* How the Runtime API misbehaves on an invocation's first response POST (tests). */
enum ember_rtapi_fault {
    EMBER_RTAPI_FAULT_NONE = 0,
    EMBER_RTAPI_FAULT_CLOSE,      /* drop the connection without answering */
    EMBER_RTAPI_FAULT_413,        /* answer 413 RequestEntityTooLarge */
    EMBER_RTAPI_FAULT_500         /* answer 500 */
};

/* What is handed out by `next`.  Borrowed by ember_rtapi_offer (copied). */
struct ember_rtapi_invocation {
    const char             *request_id;        /* NULL: a fresh UUID is made */
    const char             *event;
    size_t                  event_len;
    int64_t                 deadline_ms;       /* epoch ms, Lambda-Runtime-Deadline-Ms */
    const char             *function_arn;      /* NULL: header left out */
    const char             *trace_id;          /* NULL: header left out */
    const char             *client_context;    /* NULL: header left out */
    const char             *cognito_identity;  /* NULL: header left out */
    enum ember_rtapi_fault  fault;
};

enum ember_rtapi_outcome {
    EMBER_RTAPI_PENDING = 0,
    EMBER_RTAPI_RESPONSE,       /* POST .../response accepted */
    EMBER_RTAPI_ERROR,          /* POST .../error, or a response over 6 MB */
    EMBER_RTAPI_INIT_ERROR,     /* POST /runtime/init/error */
    EMBER_RTAPI_NO_RESPONSE,    /* the runtime asked for the next event without answering */
    EMBER_RTAPI_ABORTED,        /* ember_rtapi_abort(): the runtime is gone */
    EMBER_RTAPI_TIMEOUT         /* the wait's deadline passed */
};

/* The outcome of an invocation (or of init). Owned by the caller: ember_rtapi_result_clear. */
struct ember_rtapi_result {
    enum ember_rtapi_outcome outcome;
    char    *request_id;       /* the invocation's id; NULL for init errors */
    char    *body;             /* response payload or the error JSON, NUL-terminated; may be NULL */
    size_t   body_len;
    char    *error_type;       /* Lambda-Runtime-Function-Error-Type (or from the JSON), or NULL */
    int64_t  delivered_ns;     /* CLOCK_MONOTONIC when `next` handed the event out; 0 if never */
    int64_t  done_ns;          /* CLOCK_MONOTONIC when the outcome was recorded */
};

/* Listen on 127.0.0.1 (port 0 = any free port). */
int  ember_rtapi_start(struct ember_rtapi **api, unsigned port, struct ember_error *err);
/* Wakes every blocked `next`, closes the listener, joins the threads, frees. NULL ok. */
void ember_rtapi_stop(struct ember_rtapi *api);
unsigned ember_rtapi_port(const struct ember_rtapi *api);

/*
 * Hand out one invocation to the current or next `GET next`.  EMBER_ERROR
 * (status 409) if the previous one has no outcome yet.
 * On success the id used is copied into id_out (37 bytes) when not NULL.
 */
int  ember_rtapi_offer(struct ember_rtapi *api, const struct ember_rtapi_invocation *inv,
                       char id_out[37], struct ember_error *err);

/*
 * Wait until the runtime has called `next` once (its init is over) or
 * failed init.  Returns EMBER_RTAPI_PENDING when ready (first_next_ns
 * set), else EMBER_RTAPI_INIT_ERROR / ABORTED / TIMEOUT with res filled.
 * deadline_ns: CLOCK_MONOTONIC; 0 = no limit.
 */
enum ember_rtapi_outcome ember_rtapi_wait_ready(struct ember_rtapi *api, int64_t deadline_ns,
                                                int64_t *first_next_ns,
                                                struct ember_rtapi_result *res);

/*
 * Wait for the outcome of the offered invocation (or an init error).  Fills
 * res and returns its outcome; on EMBER_RTAPI_TIMEOUT the invocation stays
 * open (the caller normally kills the runtime and aborts).
 */
enum ember_rtapi_outcome ember_rtapi_wait(struct ember_rtapi *api, int64_t deadline_ns,
                                          struct ember_rtapi_result *res);

/* The runtime is gone: every wait returns EMBER_RTAPI_ABORTED from now on. */
void ember_rtapi_abort(struct ember_rtapi *api);

/*
 * Forget the runtime: the next process to call `next` starts a new init
 * (cold start on the same port).  Any `next` still blocked from the old one
 * is dropped, so it can never take an event meant for the new one.
 */
void ember_rtapi_reset(struct ember_rtapi *api);

/* Frees what res owns and zeroes it. */
void ember_rtapi_result_clear(struct ember_rtapi_result *res);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ns / ms. */
int64_t ember_rtapi_now_ns(void);
int64_t ember_rtapi_epoch_ms(void);

/* A random (v4) UUID, as Lambda's request ids: 36 chars + NUL. */
void ember_rtapi_uuid(char out[37]);

#endif
