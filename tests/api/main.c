/*
 * main.c - tests/ember-test-api: run route-level cases against the real
 * bootstrap through a Lambda Runtime API on 127.0.0.1, and print TAP.
 * The cases, their checks and the TAP are tests/cases/ (the case format is
 * there, in cases.h); this file is the transport: the Runtime API side
 * (emu/local/rtapi.c, the one ember-local's sandboxes serve through), the
 * bootstrap's process, the events.
 *
 *   ember-test-api --bootstrap PATH [--keep-going] [--timeout SECONDS]
 *                  [--verbose] [--log FILE] CASE.json...
 *
 * The bootstrap gets the runner's environment plus
 * AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT, AWS_LAMBDA_FUNCTION_NAME=ember-test,
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512, AWS_LAMBDA_FUNCTION_VERSION,
 * AWS_REGION, then the case's "env" (a null value removes a variable);
 * its stdout and stderr go to the log.  It is stopped with SIGTERM,
 * SIGKILL after 2 s, its whole process group.  A "request" becomes one
 * event per format, built by emu/apigw.c exactly as AWS would; the posted
 * response is read as the format's integration would (a response it would
 * answer 502 for fails the test).  After the answer the test waits for
 * the bootstrap's next GET, so its per-event log line is in.
 */
#define _GNU_SOURCE 1   /* environ */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "apigw.h"
#include "cases.h"
#include "error.h"
#include "rtapi.h"
#include "xalloc.h"

extern char **environ;

#define FUNCTION_ARN   "arn:aws:lambda:us-east-1:123456789012:function:ember-test"
#define SYNC_MS        2000      /* after the answer: wait this long for the next GET */
#define MAX_RESPONSE   6291556   /* the size Lambda's 413 names */
#define PAUSE_MS       20        /* the waiting loops look again at least this often */

/* The transport's state: one Runtime API, one bootstrap at a time. */
static const struct ember_case_run   *run;
static struct ember_rtapi            *api;
static const struct ember_rtapi_post *reported_ie;   /* the init error already reported */
static volatile pid_t                 pid;           /* 0: not running */
static int                            exited;        /* pid has exited; status in wstatus */
static int                            wstatus;
static unsigned long                  counter;

static int64_t now_ms(void)
{
    return ember_case_now_ms();
}

/* ------------------------------------------------------------ the bootstrap */

static int child_alive(void)
{
    int st;

    if (pid <= 0 || exited)
        return 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
        exited = 1;
        wstatus = st;
        return 0;
    }
    return 1;
}

static void stop_bootstrap(const struct ember_case *c)
{
    int64_t until, again = 0;

    (void) c;       /* a case's env is given at the start */
    if (pid <= 0)
        return;
    /* again every 100 ms: a SIGTERM that lands between the bootstrap's
       GET and its recv() is not noticed until the next one */
    until = now_ms() + 2000;
    while (child_alive() && now_ms() < until) {
        if (now_ms() >= again) {
            kill(-pid, SIGTERM);
            again = now_ms() + 100;
        }
        ember_rtapi_pause(api, PAUSE_MS);
    }
    kill(-pid, SIGKILL);          /* the group: anything it left behind */
    if (!exited) {
        waitpid(pid, &wstatus, 0);
        exited = 1;
    }
    pid = 0;
    ember_rtapi_reset(api);     /* its connections, invocation and init error */
    reported_ie = NULL;
}

static void env_set(char ***envp, size_t *n, const char *name, const char *value)
{
    size_t i, j = 0, len = strlen(name);

    for (i = 0; i < *n; i++) {
        if (strncmp((*envp)[i], name, len) == 0 && (*envp)[i][len] == '=') {
            free((*envp)[i]);
            continue;
        }
        (*envp)[j++] = (*envp)[i];
    }
    *n = j;
    if (value == NULL)
        return;
    *envp = ember_xrealloc(*envp, (*n + 2) * sizeof(**envp));
    (*envp)[(*n)++] = ember_xasprintf("%s=%s", name, value);
    (*envp)[*n] = NULL;
}

static int start_bootstrap(json_object *env, struct ember_case_test *t)
{
    char   **envp = ember_xcalloc(1, sizeof(*envp));
    size_t   n = 0, i;
    char     port[64];
    pid_t    p;

    for (i = 0; environ[i]; i++) {
        envp = ember_xrealloc(envp, (n + 2) * sizeof(*envp));
        envp[n++] = ember_xstrdup(environ[i]);
    }
    envp[n] = NULL;
    snprintf(port, sizeof(port), "127.0.0.1:%u", ember_rtapi_port(api));
    env_set(&envp, &n, "AWS_LAMBDA_RUNTIME_API", port);
    env_set(&envp, &n, "AWS_LAMBDA_FUNCTION_NAME", "ember-test");
    env_set(&envp, &n, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512");
    env_set(&envp, &n, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    env_set(&envp, &n, "AWS_REGION", "us-east-1");
    if (env) {
        json_object_object_foreach(env, k, v) {
            env_set(&envp, &n, k, v ? json_object_get_string(v) : NULL);
        }
    }
    exited = 0;
    wstatus = 0;
    fflush(stdout);
    p = fork();
    if (p == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        char *argv[] = { (char *) run->bootstrap, NULL };

        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);     /* never outlive a killed runner */
        signal(SIGPIPE, SIG_DFL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(run->log_fd, 1);
        dup2(run->log_fd, 2);
        execve(run->bootstrap, argv, envp);
        dprintf(2, "ember-test-api: cannot run %s: %s\n", run->bootstrap, strerror(errno));
        _exit(127);
    }
    for (i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
    if (p < 0) {
        ember_case_fail(t, "fork: %s", strerror(errno));
        return -1;
    }
    setpgid(p, p);
    pid = p;
    return 0;
}

/* ------------------------------------------------------------ checks */

/* The posted response, read as format f's integration would, against "expect". */
static void check_expect(struct ember_case_test *t, json_object *exp,
                         const struct ember_case_format *f, const struct ember_rtapi_post *p)
{
    struct ember_apigw_response  res;
    struct ember_error           err;

    if (f->f == EMBER_APIGW_NONE) {
        ember_case_fail(t, "cannot read the response as HTTP: the event has no HTTP source "
                        "(set \"source\")");
        ember_case_note_block(t, "  ", p->body, p->len, 2000);
        return;
    }
    ember_error_clear(&err);
    if (ember_apigw_response(f->f, f->multi_value, p->body, p->len, &res, &err) != EMBER_OK) {
        ember_case_fail(t, "%s would answer 502: %s", f->name, err.message);
        ember_case_note(t, "the response the bootstrap posted:");
        ember_case_note_block(t, "  ", p->body, p->len, 2000);
        return;
    }
    ember_case_check_response(t, exp, f->name, &res, 0);
    ember_apigw_response_clear(&res);
}

/* errorType exact, errorMessage substring: against the error POST. */
static void check_error(struct ember_case_test *t, json_object *exp,
                        const struct ember_rtapi_post *p)
{
    json_object *body = NULL;
    const char  *type, *msg, *want = jstr(exp, "errorType");
    char         why[160];

    if (ember_case_parse_json(p->body, p->len, &body, why, sizeof(why)) != 0 || body == NULL) {
        ember_case_fail(t, "the error POST is not JSON (%s):", body ? why : "null");
        ember_case_note_block(t, "  ", p->body, p->len, 1000);
        return;
    }
    type = jstr(body, "errorType");
    msg = jstr(body, "errorMessage");
    if (want && (type == NULL || strcmp(type, want) != 0))
        ember_case_fail(t, "errorType: expected %s, got %s", want, type ? type : "none");
    if (want && p->error_type && strcmp(p->error_type, want) != 0)
        ember_case_fail(t, "Lambda-Runtime-Function-Error-Type: expected %s, got %s", want,
                        p->error_type);
    if (jstr(exp, "errorMessage") &&
        (msg == NULL || strstr(msg, jstr(exp, "errorMessage")) == NULL))
        ember_case_fail(t, "errorMessage: expected to contain \"%s\", got \"%s\"",
                        jstr(exp, "errorMessage"), msg ? msg : "");
    if (t->failed)
        ember_case_note(t, "the error posted: %s", jshow(body));
    json_object_put(body);
}

/* ------------------------------------------------------------ one test */

/* The Runtime API now. */
static struct ember_rtapi_state api_state(void)
{
    struct ember_rtapi_state st;

    ember_rtapi_state(api, &st);
    return st;
}

/* What became of the invocation. */
enum outcome { OUT_NONE = 0, OUT_RESPONSE, OUT_ERROR, OUT_SKIPPED, OUT_DIED, OUT_TIMEOUT };

/* Decide from the POSTs so far; *which: the deciding POST's index (RESPONSE/ERROR). */
static enum outcome decide(int want_error, size_t *which)
{
    size_t i, n = api_state().nposts;

    for (i = 0; i < n; i++) {
        const struct ember_rtapi_post *p = ember_rtapi_post(api, i);

        if (p->kind == EMBER_RTAPI_POST_ERROR) {
            *which = i;
            return OUT_ERROR;
        }
        if (p->kind == EMBER_RTAPI_POST_RESPONSE && (p->status == 202 || !want_error)) {
            *which = i;
            return OUT_RESPONSE;
        }
        /* a response refused or dropped: the bootstrap should now post an error */
    }
    return OUT_NONE;
}

/* "expect_exit": no event; the bootstrap must post an init error and exit. */
static void run_exit_test(struct ember_case_test *t, json_object *exp, int64_t deadline,
                          int timeout)
{
    const struct ember_rtapi_post *ie;
    const char                    *want = jstr(exp, "init_error");
    char                           how[128];
    int64_t                        grace = 0;

    ember_rtapi_withdraw(api);
    for (;;) {
        ember_rtapi_pause(api, PAUSE_MS);
        if (api_state().idle) {
            ember_case_fail(t, "expected the bootstrap to exit, but it asked for an event");
            t->restart = 1;
            return;
        }
        if (!child_alive()) {
            /* let an init/error still in the socket be read */
            if (grace == 0)
                grace = now_ms() + 300;
            if (ember_rtapi_init_error(api) != NULL || now_ms() > grace)
                break;
        }
        if (now_ms() > deadline) {
            ember_case_fail(t, "the bootstrap did not exit within %d ms", timeout);
            t->restart = 1;
            return;
        }
    }
    ember_case_describe_exit(wstatus, how, sizeof(how));
    if (jhas(exp, "code")) {
        int code = json_object_get_int(jget(exp, "code"));

        if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != code)
            ember_case_fail(t, "exit: expected code %d, the bootstrap %s", code, how);
    } else if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) == 0) {
        ember_case_fail(t, "exit: expected a non-zero code, the bootstrap %s", how);
    }
    ie = ember_rtapi_init_error(api);
    reported_ie = ie;
    if (want && ie == NULL) {
        ember_case_fail(t, "no POST /runtime/init/error (expected %s)", want);
    } else if (want) {
        json_object *body = NULL;
        const char  *type = NULL;
        char         why[160];

        if (ember_case_parse_json(ie->body, ie->len, &body, why, sizeof(why)) == 0)
            type = jstr(body, "errorType");
        if (type == NULL || strcmp(type, want) != 0) {
            ember_case_fail(t, "init error: expected errorType %s, got:", want);
            ember_case_note_block(t, "  ", ie->body, ie->len, 1500);
        }
        if (ie->error_type && strcmp(ie->error_type, want) != 0)
            ember_case_fail(t, "Lambda-Runtime-Function-Error-Type: expected %s, got %s", want,
                            ie->error_type);
        json_object_put(body);
    }
}

/* A case's "runtime_fault" (checked when the case was loaded). */
static enum ember_rtapi_fault fault_of(const char *name)
{
    if (name == NULL)
        return EMBER_RTAPI_FAULT_NONE;
    if (strcmp(name, "close") == 0)
        return EMBER_RTAPI_FAULT_CLOSE;
    if (strcmp(name, "413") == 0)
        return EMBER_RTAPI_FAULT_413;
    return EMBER_RTAPI_FAULT_500;
}

/* The event of test f of case c: the case's own bytes or its request. Caller frees. */
static char *make_event(struct ember_case_test *t, const struct ember_case *c,
                        const struct ember_case_format *f, const char *rid, size_t *len)
{
    struct ember_case_request  rq;
    struct ember_buf           errs = EMBER_BUF_INIT;
    json_object               *ev = NULL;
    char                      *event = NULL;

    if (c->event) {
        *len = c->event_len;
        return ember_xstrndup(c->event, c->event_len);
    }
    if (ember_case_request(jget(c->j, "request"), &rq, &errs) == 0) {
        rq.r.request_id = rid;
        rq.r.multi_value = f->multi_value;
        ev = ember_apigw_event(f->f, &rq.r);
        if (ev == NULL)
            ember_buf_printf(&errs, "cannot build a %s event", f->name);
    }
    if (ev) {
        event = ember_xstrdup(jshow(ev));
        *len = strlen(event);
    } else {
        ember_case_fail(t, "%s", ember_buf_str(&errs));
    }
    json_object_put(ev);
    ember_case_request_clear(&rq);
    ember_buf_free(&errs);
    return event;
}

static void run_invoke_test(struct ember_case_test *t, const struct ember_case *c,
                            const struct ember_case_format *f, int64_t deadline, int timeout)
{
    json_object                    *j = c->j;
    struct ember_rtapi_invocation   inv;
    const struct ember_rtapi_post  *post = NULL;
    struct ember_error              err;
    size_t                          which = 0, k, nposts;
    enum outcome                    out = OUT_NONE;
    char                            rid[64], trace[128], how[128];
    char                           *event;
    size_t                          event_len = 0;
    int                             want_error = jhas(j, "expect_error");
    int64_t                         epoch = ember_rtapi_epoch_ms();

    counter++;
    snprintf(rid, sizeof(rid), "%08x-%04x-4%03x-8%03x-%012llx", (unsigned) getpid(),
             (unsigned) (counter & 0xffff), (unsigned) ((counter >> 16) & 0xfff),
             (unsigned) (epoch & 0xfff), (unsigned long long) (epoch & 0xffffffffffffULL));
    snprintf(trace, sizeof(trace), "Root=1-%08llx-%016lx%08x;Parent=%016lx;Sampled=0",
             (unsigned long long) (epoch / 1000), counter * 2654435761UL, (unsigned) getpid(),
             counter);
    event = make_event(t, c, f, rid, &event_len);
    if (event == NULL)
        return;
    memset(&inv, 0, sizeof(inv));
    inv.request_id = rid;
    inv.event = event;
    inv.event_len = event_len;
    inv.deadline_ms = epoch + (jhas(j, "deadline_ms") ? json_object_get_int64(jget(j, "deadline_ms"))
                                                      : 30000);
    inv.function_arn = FUNCTION_ARN;
    inv.trace_id = trace;
    inv.fault = fault_of(jstr(j, "runtime_fault"));
    ember_rtapi_withdraw(api);     /* the last one, answered or not */
    ember_error_clear(&err);
    if (ember_rtapi_offer(api, &inv, NULL, &err) != EMBER_OK) {
        ember_case_fail(t, "%s", err.message);
        free(event);
        return;
    }
    if (run->verbose)
        ember_case_note(t, "event (%zu bytes): %.3000s", event_len, event);
    free(event);

    for (;;) {
        struct ember_rtapi_state st;

        ember_rtapi_pause(api, PAUSE_MS);
        out = decide(want_error, &which);
        if (out != OUT_NONE)
            break;
        st = api_state();
        if (st.delivered && st.idle) {
            out = OUT_SKIPPED;
            break;
        }
        if (!child_alive()) {
            /* a POST may still be in the socket */
            int64_t grace = now_ms() + 200;

            while (now_ms() < grace && (out = decide(want_error, &which)) == OUT_NONE)
                ember_rtapi_pause(api, PAUSE_MS);
            if (out == OUT_NONE)
                out = OUT_DIED;
            break;
        }
        if (now_ms() > deadline) {
            out = OUT_TIMEOUT;
            break;
        }
    }

    /* sync: the bootstrap logs after posting; wait for its next GET */
    if (out == OUT_RESPONSE || out == OUT_ERROR) {
        int64_t until = now_ms() + SYNC_MS;

        while (now_ms() < until && child_alive() && !api_state().idle)
            ember_rtapi_pause(api, 10);
        if (!child_alive()) {
            ember_case_describe_exit(wstatus, how, sizeof(how));
            ember_case_fail(t, "the bootstrap %s after answering", how);
        }
        post = ember_rtapi_post(api, which);
    }
    switch (out) {
    case OUT_RESPONSE:
        if (post->status == 0)
            ember_case_note(t, "(the Runtime API dropped the connection of the response POST)");
        else if (post->status != 202)
            ember_case_note(t, "(the Runtime API answered the response POST with %u)",
                            post->status);
        nposts = api_state().nposts;
        for (k = which + 1; k < nposts; k++) {
            const struct ember_rtapi_post *p = ember_rtapi_post(api, k);

            ember_case_note(t, "then it posted %s: %.300s",
                            p->kind == EMBER_RTAPI_POST_ERROR ? "an invocation error"
                                                              : "a response again", p->body);
        }
        if (want_error) {
            ember_case_fail(t, "expected an invocation error %s, got a response:",
                            jshow(jget(j, "expect_error")));
            ember_case_note_block(t, "  ", post->body, post->len, 2000);
        } else if (jhas(j, "expect")) {
            check_expect(t, jget(j, "expect"), f, post);
        }
        break;
    case OUT_ERROR:
        if (want_error) {
            check_error(t, jget(j, "expect_error"), post);
        } else {
            ember_case_fail(t, "expected a response, got an invocation error:");
            ember_case_note_block(t, "  ", post->body, post->len, 2000);
        }
        break;
    case OUT_SKIPPED:
        ember_case_fail(t, "the bootstrap asked for the next event without answering this one");
        break;
    case OUT_DIED:
        ember_case_describe_exit(wstatus, how, sizeof(how));
        ember_case_fail(t, "the bootstrap %s before answering%s", how,
                        api_state().delivered ? "" : " (it never asked for the event)");
        t->restart = 1;
        break;
    case OUT_TIMEOUT:
        ember_case_fail(t, "no answer within %d ms%s", timeout,
                        api_state().delivered ? "" : " (the bootstrap never asked for the event)");
        t->restart = 1;
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------ the transport */

static int take_option(const char *opt, const char *arg)
{
    (void) opt;
    (void) arg;
    return 0;
}

static int start(const struct ember_case_run *r, struct ember_buf *why)
{
    struct ember_error err;

    run = r;
    ember_error_clear(&err);
    if (ember_rtapi_start(&api, 0, &err) != EMBER_OK) {
        ember_buf_puts(why, err.message);
        return -1;
    }
    ember_rtapi_set_max_response(api, MAX_RESPONSE);
    return 0;
}

static const char *cannot(const struct ember_case *c)
{
    (void) c;
    return NULL;
}

static void test(struct ember_case_test *t, const struct ember_case *c, size_t fi, int timeout)
{
    int64_t                        deadline = now_ms() + timeout;
    const struct ember_rtapi_post *ie;

    if (!child_alive()) {
        stop_bootstrap(NULL);
        if (start_bootstrap(jget(c->j, "env"), t) != 0)
            return;
    }
    ember_rtapi_clear_notes(api);
    if (jhas(c->j, "expect_exit")) {
        run_exit_test(t, jget(c->j, "expect_exit"), deadline, timeout);
        return;
    }
    run_invoke_test(t, c, &c->fmts[fi], deadline, timeout);
    ie = ember_rtapi_init_error(api);
    if (ie != NULL && ie != reported_ie) {
        ember_case_fail(t, "the bootstrap posted an init error:");
        ember_case_note_block(t, "  ", ie->body, ie->len, 1500);
        reported_ie = ie;
    }
}

static pid_t function_pid(void)
{
    return child_alive() ? pid : 0;
}

static void notes(struct ember_case_test *t)
{
    char *s;

    if (api == NULL)
        return;
    s = ember_rtapi_notes(api);
    if (*s) {
        ember_case_note(t, "runtime API:");
        ember_case_note_block(t, "  ", s, strlen(s), 2000);
    }
    free(s);
}

static void finish(void)
{
    if (api == NULL)
        return;
    stop_bootstrap(NULL);
    ember_rtapi_stop(api);
    api = NULL;
}

static void interrupt(void)
{
    if (pid > 0)
        kill(-pid, SIGKILL);
}

static const struct ember_case_transport transport = {
    .name = "ember-test-api",
    .usage =
        "usage: ember-test-api --bootstrap PATH [--keep-going] [--timeout SECONDS]\n"
        "                      [--verbose] [--log FILE] CASE.json...\n"
        "Runs route-level cases against the bootstrap through a Runtime API on\n"
        "127.0.0.1 and prints TAP.  Without --keep-going it stops at the first failure\n"
        "(\"Bail out!\").  Events named by a case are looked up in $EMBER_EVENTS_DIR,\n"
        "then next to the case.  --log keeps the bootstrap's stderr in FILE.\n",
    .tap_suffix = "",
    .log_label = "bootstrap stderr",
    .timeout_ms = 10000,
    .log_lag_ms = 0,
    .option = take_option,
    .start = start,
    .cannot = cannot,
    .stop = stop_bootstrap,
    .test = test,
    .pid = function_pid,
    .notes = notes,
    .finish = finish,
    .interrupt = interrupt,
};

int main(int argc, char **argv)
{
    return ember_cases_main(argc, argv, &transport);
}
