/*
 * ember-local - API Gateway + Lambda on a laptop, with real cold starts.
 *
 *   ember-local [serve] --task-root DIR | --bootstrap PATH [options]
 *   ember-local token [--sub SUB] [--ttl SECONDS] ...
 *
 * An HTTP/1.1 server on 127.0.0.1 (libmicrohttpd) turns each request into
 * an API Gateway event and runs it in a pool of sandboxes, each a
 * `bootstrap` process with its own Runtime API endpoint and the environment
 * Lambda gives.  See front.c (HTTP), sandbox.c (the pool), rtapi.c (the
 * Runtime API), token.c (test JWTs).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "error.h"
#include "xalloc.h"
#include "apigw.h"
#include "front.h"
#include "sandbox.h"
#include "token.h"

#define EXIT_USAGE      2
#define EXIT_PORT_BUSY  3      /* run-local.sh tells this apart */

static void usage(FILE *f)
{
    fputs(
"usage: ember-local [serve] (--task-root DIR | --bootstrap PATH) [options]\n"
"       ember-local token [--sub SUB] [--ttl SECONDS] [--claim NAME=VALUE]...\n"
"\n"
"Serves HTTP on 127.0.0.1 as API Gateway would, running the function in\n"
"Lambda-like sandboxes: one invocation at a time each, a new one (a cold\n"
"start) when all are busy, idle ones shut down after --idle-timeout.\n"
"\n"
"The function:\n"
"  -d, --task-root DIR       an unpacked function.zip: DIR/bootstrap is run,\n"
"                            LAMBDA_TASK_ROOT=DIR (also the working directory)\n"
"  -b, --bootstrap PATH      the runtime to run (default DIR/bootstrap); without\n"
"                            --task-root, its directory is the task root\n"
"  -e, --env NAME[=VALUE]    set a variable of the function's environment (NAME\n"
"                            alone copies it from ours); repeatable\n"
"      --env-file FILE       NAME=VALUE lines (# comments)\n"
"      --inherit-env         start from ember-local's whole environment (default:\n"
"                            only what Lambda sets, plus --env)\n"
"  -n, --function-name NAME  AWS_LAMBDA_FUNCTION_NAME (default ember)\n"
"      --handler NAME        _HANDLER (default bootstrap)\n"
"  -m, --memory MB           AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128)\n"
"      --region REGION       AWS_REGION (default $AWS_REGION, else us-east-1)\n"
"  -t, --timeout SECONDS     the function's timeout (default 3); an overrun is\n"
"                            killed and the client gets the gateway's error\n"
"      --init-timeout SECONDS  limit of a cold start's init (default 10)\n"
"\n"
"The sandboxes:\n"
"  -c, --max-concurrency N   sandboxes at most (default 10); beyond, a request is\n"
"                            throttled at once, as Lambda does (429\n"
"                            TooManyRequestsException; the gateway's own answer)\n"
"  -i, --idle-timeout SECONDS  shut an idle sandbox down after this (default 300)\n"
"\n"
"The gateway:\n"
"  -p, --port N              127.0.0.1:N (default 3000; 0: any free port)\n"
"  -f, --event-format FMT    v2 (HTTP API, default), v1 (REST API), url\n"
"                            (Function URL), alb\n"
"      --alb-multi-value     alb: the target group's multi-value headers on\n"
"      --stage NAME          the API's stage (default $default; v1: prod)\n"
"      --integration-timeout SECONDS  the gateway's own limit (default 29 for\n"
"                            v1, 30 for v2, 60 for alb, none for url; 0: none)\n"
"      --ready-file FILE     write the port there once serving\n"
"      --test-headers        tests: a request may pick its format, stage and deadline\n"
"                            with X-Ember-Format (v1 v2 url alb alb-mv),\n"
"                            X-Ember-Stage, X-Ember-Deadline-Ms (its timeout)\n"
"\n"
"Each request logs a REPORT line on stderr: request id, route, status, cold or\n"
"warm, init duration, duration, peak memory (VmHWM) of the sandbox.\n", f);
}

struct opts {
    const char              *task_root;
    const char              *bootstrap;
    const char              *function_name;
    const char              *handler;
    const char              *region;
    const char              *stage;
    const char              *ready_file;
    enum ember_apigw_format  format;
    int                      multi_value;
    long                     port;
    int                      memory_mb;
    int                      timeout_ms;
    int                      init_timeout_ms;
    int                      idle_timeout_ms;
    int                      integration_timeout_ms;    /* -1: the format's default */
    int                      max_concurrency;
    int                      inherit_env;
    int                      test_headers;
    char                   **env;
    size_t                   nenv;
};

static void add_env(struct opts *o, const char *entry)
{
    o->env = ember_xrealloc(o->env, (o->nenv + 1) * sizeof(char *));
    o->env[o->nenv++] = ember_xstrdup(entry);
}

/* -e NAME=VALUE, or -e NAME (copied from our environment if set). */
static int opt_env(struct opts *o, const char *arg)
{
    const char *v;
    char *entry;

    if (arg[0] == '=' || arg[0] == '\0') {
        fprintf(stderr, "ember-local: --env %s: expected NAME=VALUE or NAME\n", arg);
        return -1;
    }
    if (strchr(arg, '=') != NULL) {
        add_env(o, arg);
        return 0;
    }
    v = getenv(arg);
    if (v == NULL) {
        fprintf(stderr, "ember-local: --env %s: not set in this environment; skipped\n", arg);
        return 0;
    }
    entry = ember_xasprintf("%s=%s", arg, v);
    add_env(o, entry);
    free(entry);
    return 0;
}

static int opt_env_file(struct opts *o, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int lineno = 0, rc = 0;

    if (f == NULL) {
        fprintf(stderr, "ember-local: --env-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = line, *e;

        lineno++;
        s[strcspn(s, "\r\n")] = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        if (strncmp(s, "export ", 7) == 0)
            s += 7;
        e = strchr(s, '=');
        if (e == NULL || e == s) {
            fprintf(stderr, "%s:%d: expected NAME=VALUE\n", path, lineno);
            rc = -1;
            continue;
        }
        add_env(o, s);
    }
    fclose(f);
    return rc;
}

/* Seconds (decimals allowed) -> ms. */
static int opt_seconds(const char *name, const char *arg, int min_ms, int *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(arg, &end);
    if (errno != 0 || end == arg || *end != '\0' || !isfinite(v) || v * 1000 < min_ms
        || v > 24 * 3600) {
        fprintf(stderr, "ember-local: --%s %s: expected a number of seconds%s\n", name, arg,
                min_ms > 0 ? " above zero" : "");
        return -1;
    }
    *out = (int)llround(v * 1000);
    if (*out < min_ms)
        *out = min_ms;
    return 0;
}

static int opt_int(const char *name, const char *arg, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "ember-local: --%s %s: expected an integer from %ld to %ld\n",
                name, arg, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse(struct opts *o, int argc, char **argv)
{
    enum { O_ENV_FILE = 256, O_INHERIT, O_HANDLER, O_REGION, O_INIT_TIMEOUT, O_ALB_MV, O_STAGE,
           O_INTEGRATION, O_READY, O_TEST_HEADERS };
    static const struct option longopts[] = {
        { "task-root", required_argument, NULL, 'd' },
        { "bootstrap", required_argument, NULL, 'b' },
        { "env", required_argument, NULL, 'e' },
        { "env-file", required_argument, NULL, O_ENV_FILE },
        { "inherit-env", no_argument, NULL, O_INHERIT },
        { "function-name", required_argument, NULL, 'n' },
        { "handler", required_argument, NULL, O_HANDLER },
        { "memory", required_argument, NULL, 'm' },
        { "region", required_argument, NULL, O_REGION },
        { "timeout", required_argument, NULL, 't' },
        { "init-timeout", required_argument, NULL, O_INIT_TIMEOUT },
        { "max-concurrency", required_argument, NULL, 'c' },
        { "idle-timeout", required_argument, NULL, 'i' },
        { "port", required_argument, NULL, 'p' },
        { "event-format", required_argument, NULL, 'f' },
        { "alb-multi-value", no_argument, NULL, O_ALB_MV },
        { "stage", required_argument, NULL, O_STAGE },
        { "integration-timeout", required_argument, NULL, O_INTEGRATION },
        { "ready-file", required_argument, NULL, O_READY },
        { "test-headers", no_argument, NULL, O_TEST_HEADERS },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    long v;
    int c, bad = 0;

    while ((c = getopt_long(argc, argv, "d:b:e:n:m:t:c:i:p:f:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->task_root = optarg; break;
        case 'b': o->bootstrap = optarg; break;
        case 'e': bad |= opt_env(o, optarg) != 0; break;
        case O_ENV_FILE: bad |= opt_env_file(o, optarg) != 0; break;
        case O_INHERIT: o->inherit_env = 1; break;
        case 'n': o->function_name = optarg; break;
        case O_HANDLER: o->handler = optarg; break;
        case O_REGION: o->region = optarg; break;
        case 'm':
            bad |= opt_int("memory", optarg, 128, 10240, &v) != 0;
            o->memory_mb = (int)v;
            break;
        case 't': bad |= opt_seconds("timeout", optarg, 1, &o->timeout_ms) != 0; break;
        case O_INIT_TIMEOUT:
            bad |= opt_seconds("init-timeout", optarg, 1, &o->init_timeout_ms) != 0;
            break;
        case 'c':
            bad |= opt_int("max-concurrency", optarg, 1, 1000, &v) != 0;
            o->max_concurrency = (int)v;
            break;
        case 'i': bad |= opt_seconds("idle-timeout", optarg, 1, &o->idle_timeout_ms) != 0; break;
        case 'p': bad |= opt_int("port", optarg, 0, 65535, &o->port) != 0; break;
        case 'f':
            o->format = ember_apigw_format_parse(optarg);
            if (o->format == EMBER_APIGW_NONE) {
                fprintf(stderr, "ember-local: --event-format %s: expected v1, v2, url or alb\n",
                        optarg);
                bad = 1;
            }
            break;
        case O_ALB_MV: o->multi_value = 1; break;
        case O_STAGE: o->stage = optarg; break;
        case O_INTEGRATION:
            bad |= opt_seconds("integration-timeout", optarg, 0,
                               &o->integration_timeout_ms) != 0;
            break;
        case O_READY: o->ready_file = optarg; break;
        case O_TEST_HEADERS: o->test_headers = 1; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("ember-local %s\n", PACKAGE_VERSION); exit(0);
        default: bad = 1; break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ember-local: unexpected argument \"%s\"\n", argv[optind]);
        bad = 1;
    }
    if (!bad && o->task_root == NULL && o->bootstrap == NULL) {
        fprintf(stderr, "ember-local: which function? --task-root DIR (an unpacked "
                "function.zip) or --bootstrap PATH (e.g. a build tree's core/bootstrap)\n");
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* Absolute paths for the function: its working directory is the task root. */
static int resolve_function(struct opts *o, char **root, char **boot)
{
    char *r;
    struct stat st;

    *root = *boot = NULL;
    if (o->task_root != NULL) {
        r = realpath(o->task_root, NULL);
        if (r == NULL || stat(r, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "ember-local: --task-root %s: %s\n", o->task_root,
                    r == NULL ? strerror(errno) : "not a directory (unzip function.zip into one)");
            free(r);
            return -1;
        }
        *root = r;
    }
    if (o->bootstrap != NULL) {
        r = realpath(o->bootstrap, NULL);
        if (r == NULL) {
            fprintf(stderr, "ember-local: --bootstrap %s: %s\n", o->bootstrap, strerror(errno));
            free(*root);
            return -1;
        }
        *boot = r;
        if (*root == NULL) {
            char *slash;

            *root = ember_xstrdup(r);
            slash = strrchr(*root, '/');
            if (slash == *root)
                slash[1] = '\0';
            else
                *slash = '\0';
        }
    } else {
        *boot = ember_xasprintf("%s/bootstrap", *root);
    }
    if (access(*boot, X_OK) != 0) {
        fprintf(stderr, "ember-local: %s: %s (the function's bootstrap must be an executable "
                "at the root of the task root)\n", *boot, strerror(errno));
        free(*root);
        free(*boot);
        return -1;
    }
    return 0;
}

/* Bind 127.0.0.1:port; -1 with errno on failure. */
static int listen_on(long port, unsigned *bound)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd, one = 1, saved;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0
        || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

static int write_ready_file(const char *path, unsigned port)
{
    char *tmp = ember_xasprintf("%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok;

    if (f == NULL) {
        fprintf(stderr, "ember-local: --ready-file %s: %s\n", path, strerror(errno));
        free(tmp);
        return -1;
    }
    fprintf(f, "%u\n", port);
    ok = fclose(f) == 0 && rename(tmp, path) == 0;
    if (!ok)
        fprintf(stderr, "ember-local: --ready-file %s: %s\n", path, strerror(errno));
    free(tmp);
    return ok ? 0 : -1;
}

static int serve_main(int argc, char **argv)
{
    struct opts o = {
        .function_name = "ember", .handler = "bootstrap", .format = EMBER_APIGW_V2,
        .port = 3000, .memory_mb = 128, .timeout_ms = 3000, .init_timeout_ms = 10000,
        .idle_timeout_ms = 300000, .integration_timeout_ms = -1, .max_concurrency = 10,
    };
    static const char *const passthrough[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                                               NULL };
    struct ember_sandbox_conf sc;
    struct ember_front_conf fc;
    struct ember_sandbox_pool *pool = NULL;
    struct ember_front *front = NULL;
    struct ember_error err = { 0 };
    char *root = NULL, *boot = NULL;
    sigset_t stop;
    unsigned port = 0;
    int fd, sig, rc = 1;
    size_t i;

    o.region = getenv("AWS_REGION") != NULL ? getenv("AWS_REGION") : "us-east-1";
    for (i = 0; passthrough[i] != NULL; i++)       /* sanitizer builds of the function */
        if (getenv(passthrough[i]) != NULL)
            opt_env(&o, passthrough[i]);
    if (parse(&o, argc, argv) != 0) {
        fputs("Try 'ember-local --help'.\n", stderr);
        rc = EXIT_USAGE;
        goto out;
    }
    if (resolve_function(&o, &root, &boot) != 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (o.integration_timeout_ms < 0)
        o.integration_timeout_ms = o.format == EMBER_APIGW_URL ? 0
                                 : o.format == EMBER_APIGW_ALB ? 60000
                                 : o.format == EMBER_APIGW_V2 ? 30000 : 29000;

    /* Signals: handled here by sigwait; every thread inherits the mask. */
    signal(SIGINT, SIG_DFL);      /* a shell's `cmd &` may have left them ignored */
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    fd = listen_on(o.port, &port);
    if (fd < 0) {
        if (errno == EADDRINUSE) {
            fprintf(stderr, "ember-local: 127.0.0.1:%ld is in use; stop what listens there or "
                    "choose another port: --port N (0 = any free port)\n", o.port);
            rc = EXIT_PORT_BUSY;
        } else {
            fprintf(stderr, "ember-local: cannot listen on 127.0.0.1:%ld: %s\n", o.port,
                    strerror(errno));
        }
        goto out;
    }

    memset(&sc, 0, sizeof(sc));
    sc.bootstrap = boot;
    sc.task_root = root;
    sc.function_name = o.function_name;
    sc.function_version = "$LATEST";
    sc.handler = o.handler;
    sc.region = o.region;
    sc.memory_mb = o.memory_mb;
    sc.timeout_ms = o.timeout_ms;
    sc.init_timeout_ms = o.init_timeout_ms;
    sc.idle_timeout_ms = o.idle_timeout_ms;
    sc.max_concurrency = o.max_concurrency;
    sc.env = (const char *const *)o.env;
    sc.nenv = o.nenv;
    sc.inherit_env = o.inherit_env;
    if (ember_sandbox_pool_create(&pool, &sc, &err) != EMBER_OK) {
        fprintf(stderr, "ember-local: %s\n", err.message);
        close(fd);
        goto out;
    }

    memset(&fc, 0, sizeof(fc));
    fc.format = o.format;
    fc.multi_value = o.multi_value;
    fc.stage = o.stage;
    fc.integration_timeout_ms = o.integration_timeout_ms;
    fc.memory_mb = o.memory_mb;
    fc.function_version = "$LATEST";
    fc.test_headers = o.test_headers;
    if (ember_front_start(&front, fd, &fc, pool, &err) != EMBER_OK) {
        fprintf(stderr, "ember-local: %s\n", err.message);
        goto out;
    }

    printf("ember-local: serving http://127.0.0.1:%u (%s events) -> %s\n"
           "ember-local: timeout %.3g s, max concurrency %d, idle timeout %.3g s, "
           "memory %d MB\n", port, ember_apigw_format_name(o.format), boot,
           o.timeout_ms / 1000.0, o.max_concurrency, o.idle_timeout_ms / 1000.0, o.memory_mb);
    fflush(stdout);
    if (o.ready_file != NULL && write_ready_file(o.ready_file, port) != 0)
        goto out;

    for (;;) {
        if (sigwait(&stop, &sig) == 0)
            break;
    }
    fprintf(stderr, "ember-local: %s: stopping %d sandbox(es)\n", sigabbrev_np(sig) != NULL
            ? sigabbrev_np(sig) : "signal", ember_sandbox_pool_size(pool));
    rc = 0;

out:
    if (pool != NULL)
        ember_sandbox_pool_shutdown(pool);
    ember_front_stop(front);
    ember_sandbox_pool_free(pool);
    for (i = 0; i < o.nenv; i++)
        free(o.env[i]);
    free(o.env);
    free(root);
    free(boot);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return ember_token_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    return serve_main(argc, argv);
}
