/*
 * sandbox.h - a pool of Lambda execution environments ("sandboxes"), each a
 * runtime process (`bootstrap`) with its own Runtime API endpoint.
 *
 * As in Lambda: one invocation at a time per sandbox; when every sandbox
 * is busy a new one starts (a cold start) up to max_concurrency, beyond
 * that a request is throttled at once (EMBER_INVOKE_THROTTLED), as Lambda
 * throttles a function at its reserved concurrency; a sandbox idle for idle_timeout_ms
 * is shut down (the next request is cold again); a sandbox that exits or
 * overruns its timeout is killed and forgotten, and the next request gets
 * a new one.
 */
#ifndef EMBER_SANDBOX_H
#define EMBER_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ember/plugin.h>

struct ember_sandbox_pool;

struct ember_sandbox_conf {
    const char         *bootstrap;        /* the executable */
    const char         *task_root;        /* LAMBDA_TASK_ROOT and the working directory */
    const char         *function_name;    /* AWS_LAMBDA_FUNCTION_NAME */
    const char         *function_version; /* AWS_LAMBDA_FUNCTION_VERSION ("$LATEST") */
    const char         *handler;          /* _HANDLER */
    const char         *region;           /* AWS_REGION, AWS_DEFAULT_REGION */
    int                 memory_mb;        /* AWS_LAMBDA_FUNCTION_MEMORY_SIZE */
    int                 timeout_ms;       /* per invocation; the deadline */
    int                 init_timeout_ms;  /* until the first `next` (Lambda: 10 s) */
    int                 idle_timeout_ms;  /* idle sandboxes are shut down after this */
    int                 max_concurrency;  /* sandboxes at most */
    const char *const  *env;              /* extra "NAME=VALUE", the function's own */
    size_t              nenv;
    int                 inherit_env;      /* start from our environment, not an empty one */
};

enum ember_invoke_status {
    EMBER_INVOKE_OK = 0,        /* the function answered: payload is its response */
    EMBER_INVOKE_FUNCTION_ERROR,/* it reported an error (payload: the error JSON) */
    EMBER_INVOKE_INIT_ERROR,    /* init failed (init/error or exit before `next`) */
    EMBER_INVOKE_CRASH,         /* the runtime exited during the invocation */
    EMBER_INVOKE_TIMEOUT,       /* it overran the timeout and was killed */
    EMBER_INVOKE_GATEWAY_TIMEOUT,/* the caller's own limit passed first (killed too) */
    EMBER_INVOKE_UNAVAILABLE,   /* no sandbox could be started (or shutting down) */
    EMBER_INVOKE_THROTTLED      /* max_concurrency sandboxes busy: Lambda's 429
                                   TooManyRequestsException; nothing ran */
};

/* The result of one invocation.  Owned by the caller: ember_invoke_result_clear. */
struct ember_invoke_result {
    enum ember_invoke_status status;
    char        request_id[37];
    char       *payload;        /* the response or error JSON, NUL-terminated, or NULL */
    size_t      payload_len;
    char       *error_type;     /* "Runtime.ExitError", "Sandbox.Timedout", ... or NULL */
    char       *error_message;  /* as Lambda would word it, or NULL */
    int         cold;           /* this invocation started its sandbox */
    double      init_ms;        /* cold: spawn -> first `next` */
    double      duration_ms;    /* event handed out -> outcome */
    long        max_rss_kb;     /* VmHWM of the sandbox's process; -1 if unknown */
    int         sandbox_id;     /* 1, 2, ... in order of creation */
    pid_t       pid;
};

int  ember_sandbox_pool_create(struct ember_sandbox_pool **pool,
                               const struct ember_sandbox_conf *conf, struct ember_error *err);
/*
 * Refuse new invocations (EMBER_INVOKE_UNAVAILABLE) and signal every
 * sandbox (SIGTERM, SIGKILL after a grace): invocations in flight end as
 * crashes.  Returns at once; call before stopping whatever calls invoke.
 */
void ember_sandbox_pool_shutdown(struct ember_sandbox_pool *pool);
/* Shuts down (if not yet), waits until every process has exited, frees. NULL ok. */
void ember_sandbox_pool_free(struct ember_sandbox_pool *pool);

/*
 * Run one invocation: blocks until its outcome.  EMBER_OK whenever res
 * says what happened (even a crash); EMBER_ERROR only for misuse.
 * timeout_ms: this invocation's timeout (its deadline), 0 = the pool's.
 * gateway_deadline_ns (CLOCK_MONOTONIC, 0 = none) is the caller's limit,
 * e.g. API Gateway's 29 s: reached before the function's own timeout, the
 * result is EMBER_INVOKE_GATEWAY_TIMEOUT and the sandbox is killed (Lambda
 * would let it run on; one fewer thread to keep here).
 */
int  ember_sandbox_pool_invoke(struct ember_sandbox_pool *pool, const char *event, size_t len,
                               int timeout_ms, int64_t gateway_deadline_ns,
                               struct ember_invoke_result *res, struct ember_error *err);
void ember_invoke_result_clear(struct ember_invoke_result *res);

/* Live sandboxes right now (starting, idle or busy). */
int  ember_sandbox_pool_size(struct ember_sandbox_pool *pool);

/* VmHWM of a process in kB, from /proc/PID/status; -1 if unknown. */
long ember_proc_vmhwm_kb(pid_t pid);

#endif
