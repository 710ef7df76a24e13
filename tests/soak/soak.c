/*
 * soak.c - one bootstrap, many invocations: `make soak` (tests/soak/soak.sh).
 *
 *   soak [-n N] [-w WINDOW] [--restart CMD] -- COMMAND...
 *
 * Starts the tests' Runtime API (emu/local/rtapi.c), runs COMMAND (the
 * bootstrap, or valgrind ... bootstrap) with AWS_LAMBDA_RUNTIME_API
 * pointing at it, and hands it N invocations (default 100 000) as fast as
 * it answers: a mix of the default service's requests (conf/ember.conf)
 * made by emu/apigw.c as API Gateway v2 events --
 *   GET /hello 200, GET /items/1 200, GET /items?limit=5 200, POST /items
 *   201, GET /items/1 without a token 401, GET /items/999999 404,
 *   GET /nowhere 404
 * -- each answer checked for its status.  Halfway, CMD (e.g. a PostgreSQL
 * restart) runs; db routes may answer 503 for a few invocations after it.
 *
 * Every WINDOW invocations (default 10 000) it prints the bootstrap's RSS
 * and the latency of the window (offer -> response posted): p50 and p99 of
 * all, p50 of GET /hello (the core alone) and of GET /items/1 (auth, db,
 * response).  The mix is bimodal (with and without a query), so the two
 * p50s are what is judged, not the p50 of all.
 * Fails (exit 1) on a wrong answer, on RSS grown more than 1 % since the
 * end of the first window, on the p50 of /hello or /items/1 drifting up
 * more than 20 % (the median of the windows' p50s in the second half of
 * the run against the first half: a trend, not one window that met a
 * neighbour's compile on a shared machine), and on COMMAND not
 * exiting 0 after SIGTERM (valgrind --error-exitcode).  With --no-limits
 * (under valgrind) RSS and latency are printed, not judged.
 *
 * Env: SOAK_TOKEN (a valid HS256 token for the config's JWT_SECRET); the
 * bootstrap's own (EMBER_CONF, EMBER_PLUGIN_DIR, DATABASE_URL, JWT_SECRET)
 * pass through.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "apigw.h"
#include "error.h"
#include "rtapi.h"

#define RSS_GROWTH_MAX   0.01    /* after the first window */
#define P50_DRIFT_MAX    0.20
#define WAIT_MS          60000   /* one invocation; valgrind is slow */
#define RESTART_GRACE    50      /* invocations after the restart that may see 503 */

enum kind { K_HELLO, K_ITEM, K_LIST, K_POST, K_NO_TOKEN, K_MISSING, K_NOWHERE, NKINDS };

static const struct {
    const char *method, *path, *query, *body;
    int         token, status, db;
} kinds[NKINDS] = {
    [K_HELLO]    = { "GET",  "/hello",        "",        NULL, 0, 200, 0 },
    [K_ITEM]     = { "GET",  "/items/1",      "",        NULL, 1, 200, 1 },
    [K_LIST]     = { "GET",  "/items",        "limit=5", NULL, 1, 200, 1 },
    [K_POST]     = { "POST", "/items",        "",
                     "{\"name\":\"soak\",\"price\":1.5}", 1, 201, 1 },
    [K_NO_TOKEN] = { "GET",  "/items/1",      "",        NULL, 0, 401, 0 },
    [K_MISSING]  = { "GET",  "/items/999999", "",        NULL, 1, 404, 1 },
    [K_NOWHERE]  = { "GET",  "/nowhere",      "",        NULL, 0, 404, 0 },
};

/* The mix, one cycle: hello and item reads most, every kind once at least. */
static const enum kind mix[] = {
    K_HELLO, K_ITEM, K_HELLO, K_LIST, K_NO_TOKEN, K_ITEM, K_POST, K_HELLO, K_MISSING, K_NOWHERE
};
#define NMIX (sizeof(mix) / sizeof(mix[0]))

static char *events[NKINDS];
static size_t event_lens[NKINDS];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("soak: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* The v2 event of kind k (body: NULL for the kind's own); malloc'd into events[k]. */
static void make_event(enum kind k, const char *token, const char *body)
{
    struct ember_apigw_request r;
    struct ember_kv            h[3];
    struct json_object        *ev;
    const char                *s;
    char                       auth[4096];
    size_t                     n = 0, len;

    h[n].name = "User-Agent";
    h[n++].value = "ember-soak";
    if (kinds[k].token) {
        snprintf(auth, sizeof(auth), "Bearer %s", token);
        h[n].name = "Authorization";
        h[n++].value = auth;
    }
    if (body == NULL)
        body = kinds[k].body;
    if (body != NULL) {
        h[n].name = "Content-Type";
        h[n++].value = "application/json";
    }
    memset(&r, 0, sizeof(r));
    r.method = kinds[k].method;
    r.path = kinds[k].path;
    r.raw_query = kinds[k].query;
    r.headers = h;
    r.nheaders = n;
    r.body = body;
    r.body_len = body ? strlen(body) : 0;
    r.time_ms = 1700000000000;
    ev = ember_apigw_event(EMBER_APIGW_V2, &r);
    s = json_object_to_json_string_length(ev, JSON_C_TO_STRING_PLAIN, &len);
    free(events[k]);
    events[k] = strdup(s);
    event_lens[k] = len;
    json_object_put(ev);
}

static long rss_kb(pid_t pid)
{
    char  path[64], line[256];
    long  kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

    return x < y ? -1 : x > y;
}

/* The q-quantile of v (n values; sorted in place); 0 if none. */
static int64_t quantile(int64_t *v, long n, double q)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t) n, sizeof(*v), cmp_i64);
    return v[(long) (q * (double) (n - 1) + 0.5)];
}

/* Has x drifted up more than P50_DRIFT_MAX from ref?  (Faster is no
   symptom of a leak or of a growing structure: not judged.) */
static int drifted(int64_t x, int64_t ref)
{
    return x > ref * (1 + P50_DRIFT_MAX);
}

/* statusCode of a v2 response payload, or -1. */
static int status_of(const char *body)
{
    struct json_object *o = body ? json_tokener_parse(body) : NULL, *sc;
    int                 st = -1;

    if (o != NULL && json_object_object_get_ex(o, "statusCode", &sc))
        st = json_object_get_int(sc);
    json_object_put(o);
    return st;
}

static pid_t spawn(char **argv, unsigned port, const char *log)
{
    char  api[64];
    pid_t pid;

    snprintf(api, sizeof(api), "127.0.0.1:%u", port);
    pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        setenv("AWS_LAMBDA_RUNTIME_API", api, 1);
        if (log != NULL && freopen(log, "w", stderr) == NULL)
            _exit(126);
        execvp(argv[0], argv);
        fprintf(stderr, "soak: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv)
{
    struct ember_rtapi         *api;
    struct ember_error          err;
    struct ember_rtapi_result   res;
    const char                 *restart = NULL, *log = NULL, *token = getenv("SOAK_TOKEN");
    long                        n = 100000, window = 10000, i, restart_at;
    long                        rss0 = -1, rss, rss_max = 0, since_restart = -1, n503 = 0;
    int64_t                    *lat, *lat_hello, *lat_item, p50, p99, t0, started;
    int64_t                     hello, item, *w_hello, *w_item;
    long                        nw = 0;
    long                        nhello = 0, nitem = 0;
    int                         a, a2, limits = 1, failed = 0, st, wstatus, restart_window = -1;
    pid_t                       pid;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "-n") == 0 && a + 1 < argc)
            n = atol(argv[++a]);
        else if (strcmp(argv[a], "-w") == 0 && a + 1 < argc)
            window = atol(argv[++a]);
        else if (strcmp(argv[a], "--restart") == 0 && a + 1 < argc)
            restart = argv[++a];
        else if (strcmp(argv[a], "--log") == 0 && a + 1 < argc)
            log = argv[++a];
        else if (strcmp(argv[a], "--no-limits") == 0)
            limits = 0;
        else if (strcmp(argv[a], "--") == 0)
            break;
        else
            die("usage: soak [-n N] [-w WINDOW] [--restart CMD] [--log FILE] [--no-limits] "
                "-- COMMAND...");
    }
    if (a + 1 >= argc || n < 1 || window < 1 || token == NULL)
        die("usage: soak [-n N] [-w WINDOW] [--restart CMD] [--log FILE] [--no-limits] "
            "-- COMMAND...  (SOAK_TOKEN set)");
    for (a2 = 0; a2 < NKINDS; a2++)
        make_event((enum kind) a2, token, NULL);
    lat = calloc((size_t) window, sizeof(*lat));
    lat_hello = calloc((size_t) window, sizeof(*lat));
    lat_item = calloc((size_t) window, sizeof(*lat));
    w_hello = calloc((size_t) (n / window + 1), sizeof(*w_hello));
    w_item = calloc((size_t) (n / window + 1), sizeof(*w_item));
    if (lat == NULL || lat_hello == NULL || lat_item == NULL || w_hello == NULL || w_item == NULL)
        die("out of memory");

    ember_error_clear(&err);
    if (ember_rtapi_start(&api, 0, &err) != EMBER_OK)
        die("runtime API: %s", err.message);
    pid = spawn(argv + a + 1, ember_rtapi_port(api), log);
    if (ember_rtapi_wait_ready(api, ember_rtapi_now_ns() + (int64_t) WAIT_MS * 1000000, NULL, &res)
        != EMBER_RTAPI_PENDING)
        die("%s did not ask for an event (outcome %d): %s", argv[a + 1], (int) res.outcome,
            res.body ? res.body : "");
    restart_at = restart ? n / 2 : -1;
    printf("soak: %ld invocations, pid %d; RSS and latency (offer -> response) every %ld\n",
           n, (int) pid, window);
    printf("%10s %10s %10s %10s %12s %12s\n", "done", "RSS kB", "p50 ms", "p99 ms",
           "hello p50", "item p50");
    started = ember_rtapi_now_ns();

    for (i = 0; i < n; i++) {
        enum kind                     k = mix[i % NMIX];
        struct ember_rtapi_invocation inv;
        enum ember_rtapi_outcome      o;

        if (i == restart_at) {
            fflush(stdout);
            if (system(restart) != 0)
                die("restart command failed: %s", restart);
            since_restart = 0;
            restart_window = (int) (i / window);
        }
        if (k == K_POST) {          /* names are unique: a new one each time */
            char body[128];

            snprintf(body, sizeof(body), "{\"name\":\"soak-%d-%ld\",\"price\":1.5}",
                     (int) getpid(), i);
            make_event(k, token, body);
        }
        memset(&inv, 0, sizeof(inv));
        inv.event = events[k];
        inv.event_len = event_lens[k];
        inv.deadline_ms = ember_rtapi_epoch_ms() + 60000;
        inv.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:soak";
        ember_rtapi_withdraw(api);
        t0 = ember_rtapi_now_ns();
        if (ember_rtapi_offer(api, &inv, NULL, &err) != EMBER_OK)
            die("offer: %s", err.message);
        memset(&res, 0, sizeof(res));
        o = ember_rtapi_wait(api, t0 + (int64_t) WAIT_MS * 1000000, &res);
        lat[i % window] = res.done_ns - t0;
        if (k == K_HELLO)
            lat_hello[nhello++] = res.done_ns - t0;
        else if (k == K_ITEM)
            lat_item[nitem++] = res.done_ns - t0;
        if (o != EMBER_RTAPI_RESPONSE)
            die("invocation %ld (%s %s): no response (outcome %d)", i, kinds[k].method,
                kinds[k].path, (int) o);
        st = status_of(res.body);
        free(res.request_id);
        free(res.body);
        free(res.error_type);
        if (st != kinds[k].status) {
            if (st == 503 && kinds[k].db && since_restart >= 0 && since_restart < RESTART_GRACE)
                n503++;
            else
                die("invocation %ld (%s %s): status %d, expected %d", i, kinds[k].method,
                    kinds[k].path, st, kinds[k].status);
        }
        if (since_restart >= 0)
            since_restart++;

        if ((i + 1) % window == 0) {
            p50 = quantile(lat, window, 0.50);
            p99 = quantile(lat, window, 0.99);
            hello = quantile(lat_hello, nhello, 0.50);
            item = quantile(lat_item, nitem, 0.50);
            nhello = nitem = 0;
            rss = rss_kb(pid);
            printf("%10ld %10ld %10.3f %10.3f %12.3f %12.3f%s\n", i + 1, rss, p50 / 1e6,
                   p99 / 1e6, hello / 1e6, item / 1e6,
                   (i / window) == restart_window ? "   (PostgreSQL restarted)" : "");
            fflush(stdout);
            if (rss0 < 0)
                rss0 = rss;
            w_hello[nw] = hello;
            w_item[nw++] = item;
            if (rss > rss_max)
                rss_max = rss;
        }
    }
    printf("soak: %ld invocations in %.1f s; RSS %ld kB after the first window, %ld kB at "
           "most after (%+.2f %%); %ld db answers 503 right after the restart\n", n,
           (ember_rtapi_now_ns() - started) / 1e9, rss0, rss_max,
           rss0 > 0 ? 100.0 * (double) (rss_max - rss0) / (double) rss0 : 0.0, n503);
    if (nw >= 2) {
        long    h = nw / 2;
        int64_t h1 = quantile(w_hello, h, 0.5), h2 = quantile(w_hello + h, nw - h, 0.5);
        int64_t i1 = quantile(w_item, h, 0.5), i2 = quantile(w_item + h, nw - h, 0.5);

        printf("soak: p50 drift, median of the windows' p50s, second half against first: "
               "/hello %.3f -> %.3f ms (%+.1f %%), /items/1 %.3f -> %.3f ms (%+.1f %%)\n",
               h1 / 1e6, h2 / 1e6, 100.0 * (double) (h2 - h1) / (double) h1,
               i1 / 1e6, i2 / 1e6, 100.0 * (double) (i2 - i1) / (double) i1);
        if (limits && (drifted(h2, h1) || drifted(i2, i1))) {
            printf("soak: a p50 drifted up more than %.0f %%\n", P50_DRIFT_MAX * 100);
            failed = 1;
        }
    }
    if (limits && rss0 > 0 && rss_max > rss0 * (1 + RSS_GROWTH_MAX)) {
        printf("soak: RSS grew more than %.0f %% after the first window\n", RSS_GROWTH_MAX * 100);
        failed = 1;
    }

    kill(pid, SIGTERM);
    ember_rtapi_withdraw(api);
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    ember_rtapi_stop(api);
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        printf("soak: %s exited %s %d\n", argv[a + 1],
               WIFEXITED(wstatus) ? "with" : "on signal",
               WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));
        failed = 1;
    }
    printf("soak: %s\n", failed ? "FAILED" : "ok");
    free(lat);
    free(lat_hello);
    free(lat_item);
    free(w_hello);
    free(w_item);
    return failed;
}
