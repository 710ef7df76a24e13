/*
 * cases.h - the route-level cases (tests/routes/SUITE/NN-name.json, in the
 * format described below), once: loading them, ${VAR}, the checks, the
 * run and its TAP.  What differs is how a case's request reaches the
 * function and how its answer comes back, a transport:
 *
 *   tests/api/main.c     tests/ember-test-api: the Runtime API alone
 *                        (emu/local/rtapi.c), the real bootstrap
 *   tests/local/cases.c  tests/local-cases: through ember-local, HTTP in
 *                        and HTTP out
 *
 * Each program fills a struct ember_case_transport and hands it, with its
 * argv, to ember_cases_main().  The options every runner takes:
 *
 *   --bootstrap PATH [--keep-going] [--timeout SECONDS] [--verbose]
 *   [--log FILE] CASE.json...
 *
 * One TAP test per (case, repetition, format): "ok N - suite/NN-name.json
 * [v2]", with "#" diagnostics on a failure (expected vs got, what the
 * function wrote on stderr during the test).  Exit 1 if any failed.
 * Without --keep-going the first failure ends the run ("Bail out!").
 * --timeout: per test (a case's "timeout_ms" wins).  --log FILE keeps the
 * function's stderr (default: a file in a temporary directory).
 *
 * All cases run in order against one function, warm.  It is stopped (so
 * the next test is a cold start) before every test of the first repetition
 * of a case with "fresh": true, "env" or "expect_exit", and after a test
 * that found it hung or dead.
 *
 * A case is one JSON object.  "${NAME}" / "${NAME:-default}" in any string
 * (keys too) is replaced from the environment; an unset NAME without a
 * default fails the case.  Unknown keys fail the case.
 *
 *   description      text, shown on failure
 *   fresh, env       a cold start first (see above); env: extra environment
 *                    for the function (a null value removes a variable)
 *   shell            "sh -c" command run once before the case's first test
 *                    (in the runner's directory); non-zero exit fails it
 *   repeat           N: the case's tests N times in a row (default 1)
 *   remove_files     [paths] deleted before each test
 *   request          {method (GET), path, query {name: "v" | ["v1","v2"]},
 *                     headers {same}, cookies ["a=b"], one of body "text" |
 *                     json {...} (content-type added if absent) |
 *                     body_base64 "..." (binary) | body_size N (N bytes "x"),
 *                     stage, source_ip}: one test per format
 *   formats          ["v1","v2","url","alb","alb-mv"] (alb-mv: ALB with
 *                    multi-value headers on); default v1 v2 url alb
 *   event            instead of request: a file ($EMBER_EVENTS_DIR, then
 *                    next to the case) or an inline object, sent verbatim;
 *                    the format is detected, or given by "source"
 *   raw_event        instead: these exact bytes
 *   source           "v1" ... "alb-mv" or "none": how to read the response
 *   deadline_ms      the invocation's deadline: now + this (30000)
 *   runtime_fault    "close" | "413" | "500": how the Runtime API answers
 *                    this invocation's first response POST
 *   timeout_ms       this case's timeout
 *   expect           {status, headers {name: "value" | "*" (present) |
 *                     null (absent) | ["v1","v2"] (all values, in order)}
 *                     (names case-insensitive), body (JSON, exact), body_includes
 *                     (JSON subset: objects by key, arrays as an ordered
 *                     subsequence), body_text (exact bytes), body_contains,
 *                     cookies [set-cookie values in order], is_base64,
 *                     status_description (alb)}: the response as the
 *                     client gets it
 *   expect_error     {errorType (exact), errorMessage (substring)}: the
 *                    bootstrap must POST /invocation/{id}/error
 *   expect_exit      {code, init_error}: no event; the bootstrap must POST
 *                    /runtime/init/error (errorType init_error) and exit
 *                    with code (any non-zero if absent)
 *   log              {contains [...], absent [...]}: substrings of what the
 *                    function wrote during the test (start-up included
 *                    after a cold start)
 *   mapped, not_mapped  [substrings] of /proc/PID/maps of the function's
 *                    process after the answer
 *   file_absent      [paths] that must not exist after the answer
 *   file_contains    {path: "text" | [...]}
 *   file_count       {path: {text: N}}: text occurs exactly N times
 *
 * A transport that cannot do what a case asks (ember-local: a prepared
 * event, an invocation error...) reports each of its tests as a TAP SKIP.
 */
#ifndef EMBER_CASES_H
#define EMBER_CASES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "apigw.h"
#include "buf.h"

struct ember_pool;

#define EMBER_CASE_MAX_FORMATS 5

/* How a test sends its event and reads the answer. */
struct ember_case_format {
    enum ember_apigw_format  f;            /* EMBER_APIGW_NONE: no HTTP source */
    int                      multi_value;  /* alb-mv */
    char                     name[16];     /* in the TAP line: "v2", "alb-mv", "raw", "exit" */
};

/* One case file, loaded. */
struct ember_case {
    char                     *path;
    char                     *name;        /* "suite/NN-name.json" */
    char                     *dir;         /* where the file is */
    json_object              *j;           /* the case, ${VAR}s expanded; NULL on error */
    char                     *error;       /* why it cannot run (then every test fails), or NULL */
    struct ember_case_format  fmts[EMBER_CASE_MAX_FORMATS];
    size_t                    nfmt;
    char                     *event;       /* "event" / "raw_event" bytes, or NULL */
    size_t                    event_len;
    int                       repeat;      /* 1 or more */
};

/* One test, while it runs. */
struct ember_case_test {
    struct ember_buf  diag;        /* "#" lines, printed on failure (and with --verbose) */
    int               failed;
    int               restart;     /* the function hung or died: stop it after the test */
};

/* The run, as the transport sees it. */
struct ember_case_run {
    const char  *bootstrap;
    const char  *events_dir;     /* $EMBER_EVENTS_DIR, or NULL */
    int          verbose;
    int          keep_going;
    int          timeout_ms;
    char        *tmp;            /* a directory of the run's own, removed at the end */
    char        *log_path;
    int          log_fd;         /* the function's stdout and stderr (O_APPEND) */
    int          log_is_temp;
};

/*
 * A transport: a table of hooks, filled by its program with designated
 * initialisers; its state is the program's own (one transport a program).
 */
struct ember_case_transport {
    const char *name;            /* the program, for messages: "ember-test-api" */
    const char *usage;           /* the usage text, every option */
    const char *tap_suffix;      /* after each test's name: "" or " (ember-local)" */
    const char *log_label;       /* whose stderr the log holds: "bootstrap stderr" */
    int         timeout_ms;      /* the default per test */
    int         log_lag_ms;      /* how long the function's log lines may come after the
                                    answer (0: the transport waits for them itself) */

    /* Its own option: returns how many of opt, arg it took (0: not its option). */
    int         (*option)(const char *opt, const char *arg);
    /* Once, before the first test: 0, or -1 with why filled (the run bails out). */
    int         (*start)(const struct ember_case_run *run, struct ember_buf *why);
    /* Why it cannot run case c (each of its tests is a SKIP), or NULL. */
    const char *(*cannot)(const struct ember_case *c);
    /* Stop the function so the next test starts it cold; c: the case that asked
       for the cold start (its "env" applies), or NULL. */
    void        (*stop)(const struct ember_case *c);
    /* Run test fi of case c: start the function if need be, deliver the event,
       check "expect"/"expect_error"/"expect_exit" (ember_case_check_response). */
    void        (*test)(struct ember_case_test *t, const struct ember_case *c, size_t fi,
                        int timeout_ms);
    /* The function's process now (for mapped/not_mapped), or 0. */
    pid_t       (*pid)(void);
    /* Add the transport's own diagnostics to a failed test, or NULL. */
    void        (*notes)(struct ember_case_test *t);
    /* After the last test: stop everything, release everything. */
    void        (*finish)(void);
    /* From a signal handler: kill what was started (async-signal-safe). */
    void        (*interrupt)(void);
};

/* Parse the options, load the cases, run them, print TAP. Returns main's status. */
int ember_cases_main(int argc, char **argv, const struct ember_case_transport *tp);

/* Diagnostics of a test: fail() marks it failed; note() only adds a line. */
void ember_case_fail(struct ember_case_test *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ember_case_note(struct ember_case_test *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* text as lines under prefix, control bytes escaped, at most max bytes (its tail). */
void ember_case_note_block(struct ember_case_test *t, const char *prefix, const char *text,
                           size_t len, size_t max);

/*
 * A case's "request" as the client sends it: r borrows from the case and
 * from pool (the decoded body, a content-type added for "json", the
 * pairs).  0, or -1 with errs filled.  Release with ember_case_request_clear.
 */
struct ember_case_request {
    struct ember_apigw_request  r;
    struct ember_pool          *pool;
};
int  ember_case_request(json_object *req, struct ember_case_request *out, struct ember_buf *errs);
void ember_case_request_clear(struct ember_case_request *rq);

/*
 * Check an "expect" against the response as the client got it; what names
 * it in the diagnostics ("v2", "HTTP").  over_http: the response came as
 * HTTP, which shows neither is_base64 nor statusDescription (not checked).
 */
void ember_case_check_response(struct ember_case_test *t, json_object *exp, const char *what,
                               const struct ember_apigw_response *res, int over_http);

/* Exactly len bytes of JSON (white space around allowed): 0 and *out (NULL for null,
   the caller's), or -1 with why. */
int ember_case_parse_json(const char *s, size_t len, json_object **out, char *why,
                          size_t whylen);
/* A whole file: 0 and *out (the caller's, NUL-terminated), or -1 with errno. */
int ember_case_read_file(const char *path, char **out, size_t *len);
/* "exited with code 3", "killed by signal 9 (Killed)" */
void ember_case_describe_exit(int wstatus, char *buf, size_t len);
int64_t ember_case_now_ms(void);
void ember_case_sleep_ms(int ms);

/* Small json-c accessors, borrowed from o; NULL-safe. */
static inline json_object *jget(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (o == NULL || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static inline int jhas(json_object *o, const char *key)
{
    return o != NULL && json_object_object_get_ex(o, key, NULL);
}

/* o[key] if it is a string, else NULL. */
static inline const char *jstr(json_object *o, const char *key)
{
    json_object *v = jget(o, key);

    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                  : NULL;
}

/* o as compact JSON, valid until o changes or is put. */
static inline const char *jshow(json_object *o)
{
    return o != NULL ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE)
                     : "null";
}

#endif
