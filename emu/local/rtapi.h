/*
 * rtapi.h - the Lambda Runtime API, server side, for one runtime process.
 *
 * One struct ember_rtapi is the endpoint one runtime process talks to
 * (AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT), as in Lambda, where every
 * execution environment has its own.  It is the one implementation of the
 * Runtime API side in ember: ember-local's sandboxes and the route-case
 * runner (tests/ember-test-api) both serve through it.  It serves
 *
 *   GET  /2018-06-01/runtime/invocation/next            (held open until offered)
 *   POST /2018-06-01/runtime/invocation/{id}/response   -> 202
 *   POST /2018-06-01/runtime/invocation/{id}/error      -> 202
 *   POST /2018-06-01/runtime/init/error                 -> 202
 *
 * over HTTP/1.1 on 127.0.0.1 (keep-alive, Content-Length or chunked
 * bodies, Expect: 100-continue), from its own thread; it needs nothing but
 * libc and json-c.  As Lambda does, it answers 413 to a response over the
 * limit, 400 to an unknown request id, and on request misbehaves on an
 * invocation's response POST (a fault).
 *
 * It knows nothing about processes: whoever starts the runtime watches it
 * and calls ember_rtapi_abort() when it exits (or ember_rtapi_reset()
 * before starting another on the same endpoint).
 *
 * One invocation at a time: offer it, then either wait for its outcome
 * (ember_rtapi_wait), or watch what happens (ember_rtapi_state,
 * ember_rtapi_post: every POST is recorded as received, with what the
 * endpoint answered).  Thread-safe: every function may be called from any
 * thread; a single-threaded caller lets ember_rtapi_pause() sleep until
 * something happens.
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
    EMBER_RTAPI_ERROR,          /* POST .../error, or a response over the limit */
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

/* Which endpoint a recorded POST went to. */
enum ember_rtapi_post_kind {
    EMBER_RTAPI_POST_RESPONSE = 1,    /* /invocation/{id}/response */
    EMBER_RTAPI_POST_ERROR,           /* /invocation/{id}/error */
    EMBER_RTAPI_POST_INIT_ERROR       /* /init/error */
};

/* One POST the runtime made, as received, and what the endpoint answered. */
struct ember_rtapi_post {
    enum ember_rtapi_post_kind kind;
    char      *request_id;     /* from the path, percent-decoded; NULL for init/error */
    char     **headers;        /* as sent: name headers[2i], value headers[2i+1] */
    size_t     nheaders;
    char      *error_type;     /* the Lambda-Runtime-Function-Error-Type header, or NULL */
    char      *body;           /* NUL-terminated; at most the response limit + 1 bytes kept */
    size_t     len;            /* bytes in body */
    size_t     size;           /* bytes received (> len when over the limit) */
    unsigned   status;         /* the answer: 202, 400, 413, 500; 0 = connection dropped */
    int64_t    at_ns;          /* CLOCK_MONOTONIC when it was complete */
};

/* The endpoint at one moment (ember_rtapi_state). */
struct ember_rtapi_state {
    int      offered;          /* there is a current invocation (offered, out, or answered) */
    int      delivered;        /* ... and `next` handed it out */
    int      done;             /* ... and it has an outcome */
    int      idle;             /* a `next` is held open with nothing to hand out */
    size_t   nposts;           /* POSTs about the current invocation so far */
    int      init_error;       /* an init/error was posted since the last reset */
    int64_t  first_next_ns;    /* CLOCK_MONOTONIC of the first `next` since reset; 0: none */
};

/* Listen on 127.0.0.1 (port 0 = any free port) and serve from a thread of its own. */
int  ember_rtapi_start(struct ember_rtapi **api, unsigned port, struct ember_error *err);
/* Wakes every waiter, closes the listener and every connection, joins the thread, frees. NULL ok. */
void ember_rtapi_stop(struct ember_rtapi *api);
unsigned ember_rtapi_port(const struct ember_rtapi *api);

/*
 * A response POST with a body over max bytes is answered 413 (default
 * EMBER_RTAPI_MAX_RESPONSE).  Bodies are kept up to max + 1 bytes.
 */
void ember_rtapi_set_max_response(struct ember_rtapi *api, size_t max);

/*
 * Hand out one invocation to the current or next `GET next`.  EMBER_ERROR
 * (status 409) if the previous one has no outcome yet (see withdraw).
 * On success the id used is copied into id_out (37 bytes) when not NULL.
 */
int  ember_rtapi_offer(struct ember_rtapi *api, const struct ember_rtapi_invocation *inv,
                       char id_out[37], struct ember_error *err);

/*
 * Forget the current invocation, answered or not, and what was posted about
 * it.  A POST about it that comes later is accepted (202) and noted.
 */
void ember_rtapi_withdraw(struct ember_rtapi *api);

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
 * open (the caller normally kills the runtime and aborts).  Collecting an
 * outcome ends the invocation: its recorded POSTs are freed (the deciding
 * one's body moves into res).
 */
enum ember_rtapi_outcome ember_rtapi_wait(struct ember_rtapi *api, int64_t deadline_ns,
                                          struct ember_rtapi_result *res);

/* The runtime is gone: every wait returns EMBER_RTAPI_ABORTED from now on. */
void ember_rtapi_abort(struct ember_rtapi *api);

/*
 * Forget the runtime: drop every connection (a `next` still held from the
 * old one can never take an event meant for the new one), the invocation,
 * the init error; the next process to call `next` starts a new init (a
 * cold start on the same port).
 */
void ember_rtapi_reset(struct ember_rtapi *api);

/* The state now (a consistent snapshot). */
void ember_rtapi_state(struct ember_rtapi *api, struct ember_rtapi_state *st);

/*
 * The i-th POST about the current invocation (in arrival order), or NULL.
 * Borrowed: valid until the caller's next offer, withdraw, wait, reset or stop.
 */
const struct ember_rtapi_post *ember_rtapi_post(struct ember_rtapi *api, size_t i);

/* The first init/error POST since the last reset, or NULL.  Borrowed until reset or stop. */
const struct ember_rtapi_post *ember_rtapi_init_error(struct ember_rtapi *api);

/* A header of a recorded POST (name case-insensitive), or NULL. Borrowed from p. */
const char *ember_rtapi_post_header(const struct ember_rtapi_post *p, const char *name);

/* Sleep until something happens on the endpoint, or timeout_ms passes. */
void ember_rtapi_pause(struct ember_rtapi *api, int timeout_ms);

/*
 * What the endpoint saw worth telling (stray or malformed requests, POSTs
 * for unknown or earlier invocations), one per line; "" if nothing.
 * Returns a copy the caller frees.  clear_notes forgets them.
 */
char *ember_rtapi_notes(struct ember_rtapi *api);
void  ember_rtapi_clear_notes(struct ember_rtapi *api);

/* Frees what res owns and zeroes it. */
void ember_rtapi_result_clear(struct ember_rtapi_result *res);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ns / ms. */
int64_t ember_rtapi_now_ns(void);
int64_t ember_rtapi_epoch_ms(void);

/* A random (v4) UUID, as Lambda's request ids: 36 chars + NUL. */
void ember_rtapi_uuid(char out[37]);

#endif
