/*
 * sandbox.c - the pool of sandboxes (see sandbox.h).
 *
 * Threads: the caller's (one per HTTP request, in ember_sandbox_pool_invoke)
 * and one supervisor, which notices exits (a pidfd per process, in poll),
 * shuts idle sandboxes down and escalates SIGTERM to SIGKILL.
 *
 * Who frees a sandbox: it stays on the list while its process lives.  When
 * the process has exited, whoever sees it unheld frees it: the supervisor
 * (idle or stopping sandboxes) or the invoking thread (a sandbox it held).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "xalloc.h"
#include "rtapi.h"
#include "sandbox.h"

extern char **environ;

#define STOP_GRACE_NS   (500LL * 1000000)   /* SIGTERM -> SIGKILL, as Lambda's shutdown */
#define ACCOUNT_ID      "123456789012"

enum sb_state {
    SB_STARTING,    /* spawned; its invoker waits for the first `next` */
    SB_IDLE,
    SB_BUSY,
    SB_STOPPING     /* signalled; freed once the process has exited */
};

struct sandbox {
    struct sandbox     *next;
    int                 id;
    pid_t               pid;          /* 0 until spawned */
    int                 pidfd;        /* -1 if none */
    struct ember_rtapi *api;
    enum sb_state       state;
    int                 held;         /* an invoking thread owns it */
    int                 exited;
    int                 wstatus;
    long                maxrss_kb;    /* from wait4 once exited */
    int64_t             spawn_ns;
    int64_t             last_used_ns;
    int64_t             term_ns;      /* when SIGTERM was sent */
    long                invocations;
};

struct ember_sandbox_pool {
    struct ember_sandbox_conf conf;     /* strings borrowed from the caller */
    char              **envp;           /* the fixed part; the API address is added per sandbox */
    size_t              nenvp;
    char               *arn;
    pthread_mutex_t     mu;
    pthread_cond_t      freed;          /* a sandbox became idle or went away */
    struct sandbox     *list;
    int                 n;
    int                 next_id;
    int                 shutting;
    int                 wake[2];        /* wakes the supervisor */
    pthread_t           supervisor;
};

static void wake_supervisor(struct ember_sandbox_pool *p)
{
    char c = 1;
    ssize_t n;

    n = write(p->wake[1], &c, 1);      /* a full pipe already means "wake up" */
    (void)n;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    char line[512];

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ember-local: %s\n", line);
}

long ember_proc_vmhwm_kb(pid_t pid)
{
    char path[64], line[256];
    FILE *f;
    long kb = -1;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* "exit status 3" / "signal: killed", as Lambda words a runtime's end. */
static void describe_exit(int wstatus, char *out, size_t n)
{
    if (WIFEXITED(wstatus)) {
        snprintf(out, n, "exit status %d", WEXITSTATUS(wstatus));
    } else if (WIFSIGNALED(wstatus)) {
        const char *name = sigabbrev_np(WTERMSIG(wstatus));
        const char *desc = sigdescr_np(WTERMSIG(wstatus));
        char lower[64];
        size_t i;

        snprintf(lower, sizeof(lower), "%s", desc != NULL ? desc : (name != NULL ? name : "?"));
        for (i = 0; lower[i] != '\0'; i++)
            if (lower[i] >= 'A' && lower[i] <= 'Z')
                lower[i] = (char)(lower[i] - 'A' + 'a');
        snprintf(out, n, "signal: %s", lower);
    } else {
        snprintf(out, n, "status %d", wstatus);
    }
}

/* ---------------------------------------------------------------- environment */

static void env_set(char ***envp, size_t *n, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - entry) : strlen(entry);
    size_t i;

    for (i = 0; i < *n; i++) {
        if (strncmp((*envp)[i], entry, name_len) == 0 && (*envp)[i][name_len] == '=') {
            free((*envp)[i]);
            (*envp)[i] = ember_xstrdup(entry);
            return;
        }
    }
    *envp = ember_xrealloc(*envp, (*n + 2) * sizeof(char *));
    (*envp)[(*n)++] = ember_xstrdup(entry);
    (*envp)[*n] = NULL;
}

static void env_setf(char ***envp, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void env_setf(char ***envp, size_t *n, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = ember_xvasprintf(fmt, ap);
    va_end(ap);
    env_set(envp, n, s);
    free(s);
}

static void env_free(char **envp, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
}

/* What Lambda puts into a provided.al2023 function's environment, then the function's own. */
static void build_env(struct ember_sandbox_pool *p)
{
    const struct ember_sandbox_conf *c = &p->conf;
    const char *root = c->task_root;
    size_t i;

    if (c->inherit_env)
        for (i = 0; environ[i] != NULL; i++)
            env_set(&p->envp, &p->nenvp, environ[i]);
    env_setf(&p->envp, &p->nenvp, "LAMBDA_TASK_ROOT=%s", root);
    env_setf(&p->envp, &p->nenvp, "_HANDLER=%s", c->handler);
    env_setf(&p->envp, &p->nenvp, "AWS_LAMBDA_FUNCTION_NAME=%s", c->function_name);
    env_setf(&p->envp, &p->nenvp, "AWS_LAMBDA_FUNCTION_VERSION=%s", c->function_version);
    env_setf(&p->envp, &p->nenvp, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%d", c->memory_mb);
    env_setf(&p->envp, &p->nenvp, "AWS_REGION=%s", c->region);
    env_setf(&p->envp, &p->nenvp, "AWS_DEFAULT_REGION=%s", c->region);
    env_setf(&p->envp, &p->nenvp, "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/%s", c->function_name);
    env_setf(&p->envp, &p->nenvp, "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand");
    env_setf(&p->envp, &p->nenvp, "LANG=en_US.UTF-8");
    env_setf(&p->envp, &p->nenvp, "TZ=:UTC");
    env_setf(&p->envp, &p->nenvp, "PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin");
    env_setf(&p->envp, &p->nenvp, "LD_LIBRARY_PATH=%s:%s/lib:/opt/lib", root, root);
    for (i = 0; i < c->nenv; i++)
        env_set(&p->envp, &p->nenvp, c->env[i]);
}

/* ---------------------------------------------------------------- lifecycle */

/* Called with mu held. */
static void unlink_sandbox(struct ember_sandbox_pool *p, struct sandbox *sb)
{
    struct sandbox **pp;

    for (pp = &p->list; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == sb) {
            *pp = sb->next;
            p->n--;
            break;
        }
    }
    pthread_cond_broadcast(&p->freed);
}

/* Called without mu: the sandbox is off the list and its process reaped. */
static void destroy_sandbox(struct sandbox *sb)
{
    ember_rtapi_stop(sb->api);
    if (sb->pidfd >= 0)
        close(sb->pidfd);
    free(sb);
}

/* Called with mu held. */
static void signal_sandbox(struct sandbox *sb, int sig)
{
    if (sb->pid > 0 && !sb->exited)
        kill(sb->pid, sig);
}

/* Called with mu held: SIGTERM now, SIGKILL after the grace (supervisor). */
static void stop_sandbox(struct ember_sandbox_pool *p, struct sandbox *sb, int sig)
{
    sb->state = SB_STOPPING;
    sb->term_ns = ember_rtapi_now_ns();
    signal_sandbox(sb, sig);
    wake_supervisor(p);
}

/* Start the process of sb (no lock held; sb is held by the caller). */
static int spawn(struct ember_sandbox_pool *p, struct sandbox *sb, struct ember_error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    char **envp;
    size_t nenvp = 0, i;
    char *argv[2];
    pid_t pid;
    int rc;

    if (ember_rtapi_start(&sb->api, 0, err) != EMBER_OK)
        return EMBER_ERROR;

    envp = ember_xcalloc(p->nenvp + 1, sizeof(char *));
    for (i = 0; i < p->nenvp; i++)
        env_set(&envp, &nenvp, p->envp[i]);
    env_setf(&envp, &nenvp, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", ember_rtapi_port(sb->api));
    {
        /* 2024/05/01/[$LATEST]<32 hex>, like Lambda's log stream names */
        char uuid[37], hex[33], day[16];
        time_t now = time(NULL);
        struct tm tm;
        size_t j, k = 0;

        ember_rtapi_uuid(uuid);
        for (j = 0; uuid[j] != '\0'; j++)
            if (uuid[j] != '-')
                hex[k++] = uuid[j];
        hex[k] = '\0';
        gmtime_r(&now, &tm);
        strftime(day, sizeof(day), "%Y/%m/%d", &tm);
        env_setf(&envp, &nenvp, "AWS_LAMBDA_LOG_STREAM_NAME=%s/[%s]%s", day,
                 p->conf.function_version, hex);
    }

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addchdir_np(&fa, p->conf.task_root);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);   /* Ctrl-C reaches ember-local, which stops them */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP
                                    | POSIX_SPAWN_SETSIGDEF);
    {
        sigset_t all;

        sigfillset(&all);
        posix_spawnattr_setsigdefault(&attr, &all);
    }
    argv[0] = (char *)p->conf.bootstrap;
    argv[1] = NULL;
    sb->spawn_ns = ember_rtapi_now_ns();
    rc = posix_spawn(&pid, p->conf.bootstrap, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    env_free(envp, nenvp);
    if (rc != 0)
        return ember_fail(err, 502, "cannot start %s: %s", p->conf.bootstrap, strerror(rc));

    pthread_mutex_lock(&p->mu);
    sb->pid = pid;
    sb->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    pthread_mutex_unlock(&p->mu);
    wake_supervisor(p);
    return EMBER_OK;
}

/* ---------------------------------------------------------------- the supervisor */

static void *supervise(void *arg)
{
    struct ember_sandbox_pool *p = arg;
    struct pollfd *fds = NULL;
    size_t cap = 0;

    for (;;) {
        struct sandbox *sb, *doomed = NULL, *next;
        struct rusage ru;
        int64_t now = ember_rtapi_now_ns(), wait_ns = 1000LL * 1000000;
        size_t nfds = 1;
        char drain[64];

        pthread_mutex_lock(&p->mu);
        /* reap, reap idle ones, escalate */
        for (sb = p->list; sb != NULL; sb = next) {
            next = sb->next;
            if (sb->pid > 0 && !sb->exited
                && wait4(sb->pid, &sb->wstatus, WNOHANG, &ru) == sb->pid) {
                sb->exited = 1;
                sb->maxrss_kb = ru.ru_maxrss;
                if (sb->held) {
                    ember_rtapi_abort(sb->api);
                } else {
                    unlink_sandbox(p, sb);
                    sb->next = doomed;
                    doomed = sb;
                }
                continue;
            }
            if (sb->state == SB_IDLE && !p->shutting) {
                int64_t idle_ns = (int64_t)p->conf.idle_timeout_ms * 1000000;
                int64_t left = sb->last_used_ns + idle_ns - now;

                if (left <= 0) {
                    say("sandbox %d: idle for %d ms, shutting it down (the next request is cold)",
                        sb->id, p->conf.idle_timeout_ms);
                    stop_sandbox(p, sb, SIGTERM);
                } else if (left < wait_ns) {
                    wait_ns = left;
                }
            }
            if (sb->state == SB_STOPPING && !sb->exited) {
                int64_t left = sb->term_ns + STOP_GRACE_NS - now;

                if (left <= 0)
                    signal_sandbox(sb, SIGKILL);
                else if (left < wait_ns)
                    wait_ns = left;
            }
        }
        if (p->shutting && p->n == 0) {
            pthread_mutex_unlock(&p->mu);
            for (sb = doomed; sb != NULL; sb = next) {
                next = sb->next;
                destroy_sandbox(sb);
            }
            break;
        }
        if ((size_t)p->n + 1 > cap) {
            cap = (size_t)p->n + 8;
            fds = ember_xrealloc(fds, cap * sizeof(*fds));
        }
        fds[0].fd = p->wake[0];
        fds[0].events = POLLIN;
        for (sb = p->list; sb != NULL; sb = sb->next) {
            if (sb->pidfd >= 0 && !sb->exited) {
                fds[nfds].fd = sb->pidfd;
                fds[nfds].events = POLLIN;
                nfds++;
            } else if (sb->pid > 0 && !sb->exited) {
                wait_ns = wait_ns < 10000000 ? wait_ns : 10000000;  /* no pidfd: poll */
            }
        }
        pthread_mutex_unlock(&p->mu);

        for (sb = doomed; sb != NULL; sb = next) {
            next = sb->next;
            destroy_sandbox(sb);
        }
        poll(fds, nfds, (int)((wait_ns + 999999) / 1000000));
        if (fds[0].revents & POLLIN) {
            ssize_t r = read(p->wake[0], drain, sizeof(drain));

            (void)r;
        }
    }
    free(fds);
    return NULL;
}

/* ---------------------------------------------------------------- API */

int ember_sandbox_pool_create(struct ember_sandbox_pool **out,
                              const struct ember_sandbox_conf *conf, struct ember_error *err)
{
    struct ember_sandbox_pool *p;
    pthread_condattr_t ca;

    *out = NULL;
    if (access(conf->bootstrap, X_OK) != 0)
        return ember_fail(err, 500, "%s: %s (the function's bootstrap must be an executable)",
                          conf->bootstrap, strerror(errno));
    p = ember_xcalloc(1, sizeof(*p));
    p->conf = *conf;
    p->arn = ember_xasprintf("arn:aws:lambda:%s:%s:function:%s", conf->region, ACCOUNT_ID,
                             conf->function_name);
    build_env(p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    if (pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        ember_fail(err, 500, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&p->supervisor, NULL, supervise, p) != 0) {
        ember_fail(err, 500, "cannot start the supervisor thread");
        close(p->wake[0]);
        close(p->wake[1]);
        goto fail;
    }
    *out = p;
    return EMBER_OK;

fail:
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    env_free(p->envp, p->nenvp);
    free(p->arn);
    free(p);
    return EMBER_ERROR;
}

void ember_sandbox_pool_shutdown(struct ember_sandbox_pool *p)
{
    struct sandbox *sb;

    pthread_mutex_lock(&p->mu);
    p->shutting = 1;
    for (sb = p->list; sb != NULL; sb = sb->next)
        if (sb->state != SB_STOPPING)
            stop_sandbox(p, sb, SIGTERM);
    pthread_cond_broadcast(&p->freed);
    pthread_mutex_unlock(&p->mu);
    wake_supervisor(p);
}

void ember_sandbox_pool_free(struct ember_sandbox_pool *p)
{
    if (p == NULL)
        return;
    ember_sandbox_pool_shutdown(p);
    pthread_join(p->supervisor, NULL);   /* returns once every process has exited */
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    env_free(p->envp, p->nenvp);
    free(p->arn);
    free(p);
}

int ember_sandbox_pool_size(struct ember_sandbox_pool *p)
{
    int n;

    pthread_mutex_lock(&p->mu);
    n = p->n;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void ember_invoke_result_clear(struct ember_invoke_result *res)
{
    free(res->payload);
    free(res->error_type);
    free(res->error_message);
    memset(res, 0, sizeof(*res));
}

/*
 * Take a free sandbox, or make room for a new one; NULL when shutting down
 * or, with *throttled set, when max_concurrency sandboxes are all in use
 * (Lambda throttles then, it does not queue).  A slot held by a sandbox
 * that is stopping is waited for: it frees itself in a moment.
 */
static struct sandbox *acquire(struct ember_sandbox_pool *p, int *cold, int *throttled)
{
    struct sandbox *sb, *best;
    int             in_use;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->shutting) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        /* the most recently used idle one: the others may then go idle and be reaped */
        best = NULL;
        for (sb = p->list; sb != NULL; sb = sb->next)
            if (sb->state == SB_IDLE && !sb->exited
                && (best == NULL || sb->last_used_ns > best->last_used_ns))
                best = sb;
        if (best != NULL) {
            best->state = SB_BUSY;
            best->held = 1;
            *cold = 0;
            break;
        }
        if (p->n < p->conf.max_concurrency) {
            best = ember_xcalloc(1, sizeof(*best));
            best->id = ++p->next_id;
            best->pidfd = -1;
            best->state = SB_STARTING;
            best->held = 1;
            best->next = p->list;
            p->list = best;
            p->n++;
            *cold = 1;
            break;
        }
        in_use = 0;
        for (sb = p->list; sb != NULL; sb = sb->next)
            if ((sb->state == SB_BUSY || sb->state == SB_STARTING) && !sb->exited)
                in_use++;
        if (in_use >= p->conf.max_concurrency) {
            *throttled = 1;
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        pthread_cond_wait(&p->freed, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return best;
}

/* Give sb back after an invocation: idle again, stopped, or freed. */
static void release(struct ember_sandbox_pool *p, struct sandbox *sb, int keep)
{
    int dead;

    pthread_mutex_lock(&p->mu);
    sb->held = 0;
    dead = sb->exited || sb->pid == 0;
    if (dead) {
        unlink_sandbox(p, sb);
    } else if (!keep || p->shutting) {
        stop_sandbox(p, sb, keep ? SIGTERM : SIGKILL);
    } else {
        sb->state = SB_IDLE;
        sb->last_used_ns = ember_rtapi_now_ns();
        pthread_cond_broadcast(&p->freed);
        wake_supervisor(p);
    }
    pthread_mutex_unlock(&p->mu);
    if (dead)
        destroy_sandbox(sb);
}

static void set_error(struct ember_invoke_result *res, enum ember_invoke_status st,
                      const char *type, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void set_error(struct ember_invoke_result *res, enum ember_invoke_status st,
                      const char *type, const char *fmt, ...)
{
    va_list ap;

    res->status = st;
    free(res->error_type);
    res->error_type = ember_xstrdup(type);
    free(res->error_message);
    va_start(ap, fmt);
    res->error_message = ember_xvasprintf(fmt, ap);
    va_end(ap);
}

/*
 * The exit of a held sandbox, once the supervisor has recorded it (it
 * aborts after), and its peak memory from wait4 when /proc has gone.
 */
static void exit_text(struct ember_sandbox_pool *p, struct sandbox *sb, char *out, size_t n,
                      long *maxrss_kb)
{
    pthread_mutex_lock(&p->mu);
    if (sb->exited) {
        describe_exit(sb->wstatus, out, n);
        if (*maxrss_kb < 0)
            *maxrss_kb = sb->maxrss_kb;
    } else {
        snprintf(out, n, "unknown");
    }
    pthread_mutex_unlock(&p->mu);
}

/* The earlier of two deadlines, 0 meaning none. */
static int64_t earlier(int64_t a, int64_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

int ember_sandbox_pool_invoke(struct ember_sandbox_pool *p, const char *event, size_t len,
                              int timeout_ms, int64_t gw_deadline_ns,
                              struct ember_invoke_result *res, struct ember_error *err)
{
    struct ember_rtapi_invocation inv;
    struct ember_rtapi_result r;
    struct sandbox *sb;
    enum ember_rtapi_outcome o;
    int64_t deadline_ns, fn_deadline_ns;
    char why[96];
    int keep = 1, throttled = 0;

    memset(res, 0, sizeof(*res));
    res->max_rss_kb = -1;
    ember_rtapi_uuid(res->request_id);
    if (timeout_ms <= 0)
        timeout_ms = p->conf.timeout_ms;
    sb = acquire(p, &res->cold, &throttled);
    if (sb == NULL && throttled) {
        set_error(res, EMBER_INVOKE_THROTTLED, "TooManyRequestsException",
                  "Rate Exceeded. (%d of --max-concurrency %d sandboxes busy)",
                  p->conf.max_concurrency, p->conf.max_concurrency);
        return EMBER_OK;
    }
    if (sb == NULL) {
        set_error(res, EMBER_INVOKE_UNAVAILABLE, "ServiceException", "ember-local is shutting down");
        return EMBER_OK;
    }
    res->sandbox_id = sb->id;

    if (res->cold) {
        int64_t first_next = 0, init_deadline_ns;
        struct ember_error serr = { 0 };

        if (spawn(p, sb, &serr) != EMBER_OK) {
            say("sandbox %d: %s", sb->id, serr.message);
            set_error(res, EMBER_INVOKE_UNAVAILABLE, "Runtime.InvalidEntrypoint", "%s",
                      serr.message);
            release(p, sb, 0);
            return EMBER_OK;
        }
        res->pid = sb->pid;
        init_deadline_ns = sb->spawn_ns + (int64_t)p->conf.init_timeout_ms * 1000000;
        o = ember_rtapi_wait_ready(sb->api, earlier(init_deadline_ns, gw_deadline_ns),
                                   &first_next, &r);
        res->init_ms = (double)((o == EMBER_RTAPI_PENDING ? first_next : r.done_ns)
                                - sb->spawn_ns) / 1e6;
        if (o != EMBER_RTAPI_PENDING) {
            res->max_rss_kb = ember_proc_vmhwm_kb(sb->pid);
            if (o == EMBER_RTAPI_INIT_ERROR) {
                set_error(res, EMBER_INVOKE_INIT_ERROR,
                          r.error_type != NULL ? r.error_type : "Runtime.Unknown",
                          "init failed (the runtime posted init/error)");
                res->payload = r.body;
                res->payload_len = r.body_len;
                r.body = NULL;
            } else if (o == EMBER_RTAPI_ABORTED) {
                exit_text(p, sb, why, sizeof(why), &res->max_rss_kb);
                set_error(res, EMBER_INVOKE_INIT_ERROR, "Runtime.ExitError",
                          "RequestId: %s Error: Runtime exited with error: %s",
                          res->request_id, why);
            } else if (gw_deadline_ns != 0 && gw_deadline_ns < init_deadline_ns) {
                set_error(res, EMBER_INVOKE_GATEWAY_TIMEOUT, "GatewayTimeout",
                          "the gateway gave up while the sandbox was still in init");
            } else {
                set_error(res, EMBER_INVOKE_INIT_ERROR, "Sandbox.Timedout",
                          "init did not finish within %.2f seconds",
                          p->conf.init_timeout_ms / 1000.0);
            }
            ember_rtapi_result_clear(&r);
            release(p, sb, 0);
            return EMBER_OK;
        }
    } else {
        res->pid = sb->pid;
    }

    memset(&inv, 0, sizeof(inv));
    inv.request_id = res->request_id;
    inv.event = event;
    inv.event_len = len;
    inv.deadline_ms = ember_rtapi_epoch_ms() + timeout_ms;
    inv.function_arn = p->arn;
    if (ember_rtapi_offer(sb->api, &inv, NULL, err) != EMBER_OK) {
        release(p, sb, 0);
        return EMBER_ERROR;
    }
    fn_deadline_ns = ember_rtapi_now_ns() + (int64_t)timeout_ms * 1000000;
    deadline_ns = earlier(fn_deadline_ns, gw_deadline_ns);
    o = ember_rtapi_wait(sb->api, deadline_ns, &r);
    res->duration_ms = r.delivered_ns != 0 ? (double)(r.done_ns - r.delivered_ns) / 1e6 : 0;
    if (o != EMBER_RTAPI_ABORTED)
        res->max_rss_kb = ember_proc_vmhwm_kb(sb->pid);

    switch (o) {
    case EMBER_RTAPI_RESPONSE:
        res->status = EMBER_INVOKE_OK;
        res->payload = r.body;
        res->payload_len = r.body_len;
        r.body = NULL;
        break;
    case EMBER_RTAPI_ERROR:
        set_error(res, EMBER_INVOKE_FUNCTION_ERROR,
                  r.error_type != NULL ? r.error_type : "Unhandled",
                  "RequestId: %s the function reported an error", res->request_id);
        res->payload = r.body;
        res->payload_len = r.body_len;
        r.body = NULL;
        break;
    case EMBER_RTAPI_NO_RESPONSE:
        set_error(res, EMBER_INVOKE_FUNCTION_ERROR, "Runtime.NoResponse",
                  "the runtime asked for the next event without answering this one");
        break;
    case EMBER_RTAPI_INIT_ERROR:
        set_error(res, EMBER_INVOKE_INIT_ERROR,
                  r.error_type != NULL ? r.error_type : "Runtime.Unknown", "init failed");
        keep = 0;
        break;
    case EMBER_RTAPI_TIMEOUT:
        if (deadline_ns != fn_deadline_ns) {
            set_error(res, EMBER_INVOKE_GATEWAY_TIMEOUT, "GatewayTimeout",
                      "RequestId: %s: the gateway's integration timeout passed first",
                      res->request_id);
            keep = 0;
            break;
        }
        set_error(res, EMBER_INVOKE_TIMEOUT, "Sandbox.Timedout",
                  "RequestId: %s Error: Task timed out after %.2f seconds",
                  res->request_id, timeout_ms / 1000.0);
        res->duration_ms = timeout_ms;
        keep = 0;
        break;
    default:   /* ABORTED: the process exited */
        exit_text(p, sb, why, sizeof(why), &res->max_rss_kb);
        set_error(res, EMBER_INVOKE_CRASH, "Runtime.ExitError",
                  "RequestId: %s Error: Runtime exited with error: %s", res->request_id, why);
        keep = 0;
        break;
    }
    ember_rtapi_result_clear(&r);
    release(p, sb, keep);
    return EMBER_OK;
}
