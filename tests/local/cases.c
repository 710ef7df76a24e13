/*
 * cases.c - tests/local-cases: run the route-level cases (tests/routes/SUITE/
 * NN-name.json, the format of notes/CASES.md, unchanged) through ember-local:
 * HTTP in, HTTP out.  tests/ember-test-api runs the same files through the
 * Runtime API alone.
 *
 *   local-cases --ember-local PATH --bootstrap PATH [--keep-going]
 *               [--timeout SECONDS] [--verbose] [--log FILE] CASE.json...
 *
 * One ember-local serves the cases in order with one sandbox, warm, as the
 * runner's one bootstrap (--max-concurrency 1; --inherit-env so the function
 * sees the driver's EMBER_CONF, secrets...; --test-headers so each request
 * picks its event format, stage and deadline).  A case that is "fresh" or
 * has "env" restarts them (a cold start).  Every ember-local writes its
 * stderr, with its sandbox's, to one log, which the "log" checks read.  What
 * only the Runtime API can show (invocation errors, exits, faults, raw events,
 * a made-up source IP) is a TAP SKIP here.
 * TAP on stdout; exit 1 if a test failed.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "buf.h"
#include "xalloc.h"

#define MAX_INST   8
#define TAIL_BYTES 3000

struct inst {
    char     key[32];          /* its --timeout in ms */
    pid_t    pid;              /* 0: not running */
    unsigned port;
};

struct runner {
    const char   *ember_local;
    const char   *bootstrap;
    int           keep_going;
    int           verbose;
    int           timeout_ms;
    char         *log_path;
    int           log_fd;
    int           log_is_temp;
    char          tmp[64];
    json_object  *env;         /* the env the ember-locals run with (a case's "env") */
    struct inst   inst[MAX_INST];
};

struct test {
    struct ember_buf diag;
    int              failed;
};

struct http_response {
    int              status;
    struct ember_buf head;     /* header lines, "name: value\n" */
    char            *body;
    size_t           body_len;
};

static void fail(struct test *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct test *t, const char *fmt, ...)
{
    va_list ap;

    t->failed = 1;
    va_start(ap, fmt);
    ember_buf_vprintf(&t->diag, fmt, ap);
    va_end(ap);
    ember_buf_puts(&t->diag, "\n");
}

static void note(struct test *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct test *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_buf_vprintf(&t->diag, fmt, ap);
    va_end(ap);
    ember_buf_puts(&t->diag, "\n");
}

/* text as diagnostic lines under prefix, at most max bytes (its tail) */
static void note_block(struct test *t, const char *prefix, const char *text, size_t len,
                       size_t max)
{
    const char *p = text, *end = text + len;

    if (len > max) {
        p = end - max;
        ember_buf_printf(&t->diag, "%s[... %zu bytes before]\n", prefix, (size_t)(p - text));
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p), i;

        ember_buf_puts(&t->diag, prefix);
        for (i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)p[i];

            if (ch < 0x20 && ch != '\t')
                ember_buf_printf(&t->diag, "\\x%02x", ch);
            else
                ember_buf_append(&t->diag, &ch, 1);
        }
        ember_buf_puts(&t->diag, "\n");
        p += n + (nl != NULL ? 1 : 0);
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ JSON helpers */

static json_object *jget(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (o == NULL || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static int jhas(json_object *o, const char *key)
{
    return o != NULL && json_object_object_get_ex(o, key, NULL);
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v = jget(o, key);

    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                  : NULL;
}

static const char *jshow(json_object *o)
{
    return o != NULL ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN
                                                         | JSON_C_TO_STRING_NOSLASHESCAPE)
                     : "null";
}

static int read_file(const char *path, char **out, size_t *len)
{
    struct ember_buf b = EMBER_BUF_INIT;
    char chunk[8192];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    *len = 0;
    if (fd < 0)
        return -1;
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        ember_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    *out = b.data != NULL ? b.data : ember_xstrdup("");
    *len = b.len;
    return 0;
}

/* Expand ${NAME} and ${NAME:-default}; an unset NAME without a default is an error. */
static char *expand(const char *s, struct ember_buf *errs)
{
    struct ember_buf b = EMBER_BUF_INIT;
    const char *p = s;

    while (*p != '\0') {
        const char *close;
        char *name, *dflt;
        const char *v;

        if (p[0] != '$' || p[1] != '{') {
            ember_buf_append(&b, p++, 1);
            continue;
        }
        close = strchr(p + 2, '}');
        if (close == NULL) {
            ember_buf_puts(&b, p);
            break;
        }
        name = ember_xstrndup(p + 2, (size_t)(close - p - 2));
        dflt = strstr(name, ":-");
        if (dflt != NULL) {
            *dflt = '\0';
            dflt += 2;
        }
        v = getenv(name);
        if (v == NULL || (dflt != NULL && *v == '\0'))
            v = dflt;
        if (v == NULL)
            ember_buf_printf(errs, "${%s} is not set in the environment; ", name);
        else
            ember_buf_puts(&b, v);
        free(name);
        p = close + 1;
    }
    if (b.data == NULL)
        return ember_xstrdup("");
    return b.data;      /* ownership moves to the caller */
}

/* A copy of o with every string (values and keys) expanded. */
static json_object *expand_tree(json_object *o, struct ember_buf *errs)
{
    json_object *r;
    size_t i;
    char *s;

    switch (json_object_get_type(o)) {
    case json_type_string:
        if (strstr(json_object_get_string(o), "${") == NULL)
            return json_object_get(o);
        s = expand(json_object_get_string(o), errs);
        r = json_object_new_string(s);
        free(s);
        return r;
    case json_type_array:
        r = json_object_new_array();
        for (i = 0; i < json_object_array_length(o); i++)
            json_object_array_add(r, expand_tree(json_object_array_get_idx(o, i), errs));
        return r;
    case json_type_object:
        r = json_object_new_object();
        {
            json_object_object_foreach(o, k, v) {
                char *key = expand(k, errs);

                json_object_object_add(r, key, v != NULL ? expand_tree(v, errs) : NULL);
                free(key);
            }
        }
        return r;
    case json_type_null:
        return NULL;
    default:
        return json_object_get(o);
    }
}

/* want is included in got: objects by key, arrays as an ordered subsequence, else equal. */
static int includes(json_object *want, json_object *got)
{
    size_t i, j;

    if (json_object_is_type(want, json_type_object)) {
        if (!json_object_is_type(got, json_type_object))
            return 0;
        {
            json_object_object_foreach(want, k, v) {
                json_object *g = NULL;

                if (!json_object_object_get_ex(got, k, &g) || !includes(v, g))
                    return 0;
            }
        }
        return 1;
    }
    if (json_object_is_type(want, json_type_array)) {
        if (!json_object_is_type(got, json_type_array))
            return 0;
        for (i = 0, j = 0; i < json_object_array_length(want); i++, j++) {
            json_object *w = json_object_array_get_idx(want, i);

            while (j < json_object_array_length(got)
                   && !includes(w, json_object_array_get_idx(got, j)))
                j++;
            if (j >= json_object_array_length(got))
                return 0;
        }
        return 1;
    }
    return json_object_equal(want, got);
}

static json_object *parse_json(const char *s, size_t len, int *ok)
{
    struct json_tokener *tok = json_tokener_new();
    json_object *o;

    o = json_tokener_parse_ex(tok, s, (int)len);
    *ok = json_tokener_get_error(tok) == json_tokener_success
          && json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    if (!*ok) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* ------------------------------------------------------------ ember-local instances */

static void inst_stop(struct inst *in)
{
    int64_t until;
    int st;

    if (in->pid <= 0)
        return;
    kill(in->pid, SIGTERM);
    until = now_ms() + 5000;
    while (waitpid(in->pid, &st, WNOHANG) == 0) {
        if (now_ms() > until) {
            kill(in->pid, SIGKILL);
            waitpid(in->pid, &st, 0);
            break;
        }
        sleep_ms(10);
    }
    in->pid = 0;
}

static void stop_all(struct runner *r)
{
    size_t i;

    for (i = 0; i < MAX_INST; i++)
        inst_stop(&r->inst[i]);
}

static int inst_alive(struct inst *in)
{
    int st;

    if (in->pid <= 0)
        return 0;
    if (waitpid(in->pid, &st, WNOHANG) == in->pid) {
        in->pid = 0;
        return 0;
    }
    return 1;
}

/* The ember-local whose --timeout is timeout_ms, started if need be. NULL with t failed. */
static struct inst *instance(struct runner *r, struct test *t, int64_t timeout_ms)
{
    char key[32], ready[128], buf[32], secs[32];
    struct inst *in = NULL;
    const char *argv[64];
    char *envargs[32];
    size_t i, argc = 0, nenv = 0;
    int64_t until;
    pid_t pid;

    snprintf(key, sizeof(key), "%lld", (long long)timeout_ms);
    snprintf(secs, sizeof(secs), "%.3f", (double)timeout_ms / 1000);
    for (i = 0; i < MAX_INST; i++)
        if (strcmp(r->inst[i].key, key) == 0)
            in = &r->inst[i];
    if (in == NULL) {
        for (i = 0; i < MAX_INST && in == NULL; i++)
            if (r->inst[i].key[0] == '\0')
                in = &r->inst[i];
        if (in == NULL) {
            fail(t, "more than %d different deadlines", MAX_INST);
            return NULL;
        }
        snprintf(in->key, sizeof(in->key), "%s", key);
    }
    if (inst_alive(in))
        return in;

    snprintf(ready, sizeof(ready), "%s/port.%d", r->tmp, (int)(in - r->inst));
    unlink(ready);
    argv[argc++] = r->ember_local;
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--ready-file";
    argv[argc++] = ready;
    argv[argc++] = "--bootstrap";
    argv[argc++] = r->bootstrap;
    argv[argc++] = "--task-root";      /* the sandbox's cwd: ours, as the runner's bootstrap */
    argv[argc++] = ".";
    argv[argc++] = "--inherit-env";
    argv[argc++] = "--function-name";
    argv[argc++] = "ember-test";
    argv[argc++] = "--memory";
    argv[argc++] = "512";
    argv[argc++] = "--max-concurrency";
    argv[argc++] = "1";
    argv[argc++] = "--timeout";
    argv[argc++] = secs;
    argv[argc++] = "--integration-timeout";
    argv[argc++] = "0";
    argv[argc++] = "--idle-timeout";
    argv[argc++] = "3600";
    argv[argc++] = "--test-headers";
    if (r->env != NULL) {
        json_object_object_foreach(r->env, k, v) {
            if (nenv + 1 >= sizeof(envargs) / sizeof(envargs[0]) || argc + 3 >= 64)
                break;
            envargs[nenv] = ember_xasprintf("%s=%s", k, v != NULL ? json_object_get_string(v)
                                                                    : "");
            argv[argc++] = "--env";
            argv[argc++] = envargs[nenv++];
        }
    }
    argv[argc] = NULL;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);

        signal(SIGPIPE, SIG_DFL);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        dup2(r->log_fd, 2);
        execv(r->ember_local, (char *const *)argv);
        dprintf(2, "local-cases: cannot run %s: %s\n", r->ember_local, strerror(errno));
        _exit(127);
    }
    for (i = 0; i < nenv; i++)
        free(envargs[i]);
    if (pid < 0) {
        fail(t, "fork: %s", strerror(errno));
        return NULL;
    }
    in->pid = pid;
    until = now_ms() + 10000;
    for (;;) {
        FILE *f = fopen(ready, "r");

        if (f != NULL) {
            int got = fgets(buf, sizeof(buf), f) != NULL;

            fclose(f);
            if (got) {
                in->port = (unsigned)atoi(buf);
                return in;
            }
        }
        if (!inst_alive(in)) {
            fail(t, "ember-local (%s) exited at start; see the log", key);
            return NULL;
        }
        if (now_ms() > until) {
            fail(t, "ember-local (%s) not ready within 10 s", key);
            inst_stop(in);
            return NULL;
        }
        sleep_ms(10);
    }
}

/* The sandbox process of an ember-local run with --max-concurrency 1: its only child. */
static pid_t sandbox_of(pid_t parent)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char path[300], line[512], *rp;
        FILE *f;
        int ppid;

        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(line, sizeof(line), f) != NULL) {
            rp = strrchr(line, ')');      /* comm may hold spaces */
            if (rp != NULL && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == (int)parent) {
                char state = rp[2];

                if (state != 'Z')
                    found = (pid_t)atoi(e->d_name);
            }
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

/* ------------------------------------------------------------ HTTP */

static void put_encoded(struct ember_buf *b, const char *s, int in_path)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || strchr("-._~!$'()*,;:@", c) != NULL || c == '%'
            || (in_path && (c == '/' || c == '+' || c == '=' || c == '&'))) {
            ember_buf_append(b, s, 1);
        } else {
            char enc[3] = { '%', hex[c >> 4], hex[c & 15] };

            ember_buf_append(b, enc, 3);
        }
    }
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static int b64_decode(const char *s, char **out, size_t *len)
{
    size_t n = strlen(s), i, o = 0;
    unsigned acc = 0;
    int bits = 0;

    *out = ember_xmalloc(n + 1);
    for (i = 0; i < n; i++) {
        int v;

        if (s[i] == '=')
            break;
        v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(*out);
            *out = NULL;
            return -1;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            (*out)[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    (*out)[o] = '\0';
    *len = o;
    return 0;
}

/* Append "name: value\r\n" for each of a {name: string|[strings]} object. */
static int add_header_lines(struct ember_buf *b, json_object *o, const char *what,
                            struct test *t)
{
    if (o == NULL)
        return 0;
    if (!json_object_is_type(o, json_type_object)) {
        fail(t, "request.%s must be an object", what);
        return -1;
    }
    {
        json_object_object_foreach(o, k, v) {
            size_t i, n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;

            for (i = 0; i < n; i++) {
                json_object *e = json_object_is_type(v, json_type_array)
                                 ? json_object_array_get_idx(v, i) : v;

                ember_buf_printf(b, "%s: %s\r\n", k, e != NULL ? json_object_get_string(e) : "");
            }
        }
    }
    return 0;
}

/* The request of a case as HTTP/1.1 bytes, for format fmt. -1 with t failed. */
static int build_request(struct test *t, json_object *req, const char *fmt, int64_t deadline_ms,
                         unsigned port, struct ember_buf *out)
{
    struct ember_buf target = EMBER_BUF_INIT, hdrs = EMBER_BUF_INIT;
    const char *method = jstr(req, "method") != NULL ? jstr(req, "method") : "GET";
    json_object *q = jget(req, "query"), *cookies = jget(req, "cookies"), *h = jget(req, "headers");
    char *body = NULL;
    size_t body_len = 0, i;
    int first = 1, has_ct = 0, rc = -1;

    put_encoded(&target, jstr(req, "path") != NULL ? jstr(req, "path") : "/", 1);
    if (q != NULL) {
        json_object_object_foreach(q, k, v) {
            size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;

            for (i = 0; i < n; i++) {
                json_object *e = json_object_is_type(v, json_type_array)
                                 ? json_object_array_get_idx(v, i) : v;

                ember_buf_puts(&target, first ? "?" : "&");
                first = 0;
                put_encoded(&target, k, 0);
                ember_buf_puts(&target, "=");
                put_encoded(&target, e != NULL ? json_object_get_string(e) : "", 0);
            }
        }
    }
    ember_buf_printf(&hdrs, "X-Ember-Format: %s\r\n", fmt);
    if (jstr(req, "stage") != NULL)
        ember_buf_printf(&hdrs, "X-Ember-Stage: %s\r\n", jstr(req, "stage"));
    if (deadline_ms > 0)
        ember_buf_printf(&hdrs, "X-Ember-Deadline-Ms: %lld\r\n", (long long)deadline_ms);
    if (add_header_lines(&hdrs, h, "headers", t) != 0)
        goto out;
    if (h != NULL) {
        json_object_object_foreach(h, k, v) {
            (void)v;
            if (strcasecmp(k, "content-type") == 0)
                has_ct = 1;
        }
    }
    if (cookies != NULL && json_object_array_length(cookies) > 0) {
        ember_buf_puts(&hdrs, "Cookie: ");
        for (i = 0; i < json_object_array_length(cookies); i++)
            ember_buf_printf(&hdrs, "%s%s", i > 0 ? "; " : "",
                             json_object_get_string(json_object_array_get_idx(cookies, i)));
        ember_buf_puts(&hdrs, "\r\n");
    }
    if (jhas(req, "body")) {
        body = ember_xstrdup(jstr(req, "body") != NULL ? jstr(req, "body") : "");
        body_len = strlen(body);
    } else if (jhas(req, "json")) {
        body = ember_xstrdup(jshow(jget(req, "json")));
        body_len = strlen(body);
        if (!has_ct)
            ember_buf_puts(&hdrs, "Content-Type: application/json\r\n");
    } else if (jhas(req, "body_base64")) {
        if (jstr(req, "body_base64") == NULL
            || b64_decode(jstr(req, "body_base64"), &body, &body_len) != 0) {
            fail(t, "request.body_base64 is not base64");
            goto out;
        }
        if (!has_ct)
            ember_buf_puts(&hdrs, "Content-Type: application/octet-stream\r\n");
    } else if (jhas(req, "body_size")) {
        int64_t n = json_object_get_int64(jget(req, "body_size"));

        if (n < 0 || n > 64 * 1024 * 1024) {
            fail(t, "request.body_size must be 0..64 MiB");
            goto out;
        }
        body = ember_xmalloc((size_t)n + 1);
        memset(body, 'x', (size_t)n);
        body_len = (size_t)n;
    }
    ember_buf_printf(out, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n",
                     method, ember_buf_str(&target), port);
    ember_buf_append(out, hdrs.data != NULL ? hdrs.data : "", hdrs.len);
    if (body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0
        || strcmp(method, "PATCH") == 0)
        ember_buf_printf(out, "Content-Length: %zu\r\n", body_len);
    ember_buf_puts(out, "\r\n");
    if (body_len > 0)
        ember_buf_append(out, body, body_len);
    rc = 0;
out:
    free(body);
    ember_buf_free(&target);
    ember_buf_free(&hdrs);
    return rc;
}

/* Send req to 127.0.0.1:port, read the whole response (Connection: close). */
static int http_exchange(struct test *t, unsigned port, const struct ember_buf *req,
                         int timeout_ms, struct http_response *res)
{
    struct sockaddr_in sa;
    struct ember_buf in = EMBER_BUF_INIT;
    int64_t until = now_ms() + timeout_ms;
    size_t sent = 0;
    char *hend, *line, *cl;
    int fd, rc = -1;

    memset(res, 0, sizeof(*res));
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fail(t, "connect 127.0.0.1:%u: %s", port, strerror(errno));
        goto out;
    }
    while (sent < req->len) {
        ssize_t n = send(fd, req->data + sent, req->len - sent, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;      /* it may have answered early (413): read that */
        sent += (size_t)n;
    }
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int64_t left = until - now_ms();
        char chunk[16384];
        ssize_t n;

        if (left <= 0) {
            fail(t, "no complete HTTP response within %d ms", timeout_ms);
            goto out;
        }
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ember_buf_append(&in, chunk, (size_t)n);
    }
    hend = in.data != NULL ? strstr(in.data, "\r\n\r\n") : NULL;
    if (hend == NULL || sscanf(in.data, "HTTP/1.%*d %d", &res->status) != 1) {
        fail(t, "not an HTTP response (%zu bytes)", in.len);
        if (in.len > 0)
            note_block(t, "  ", in.data, in.len, 1000);
        goto out;
    }
    *hend = '\0';
    line = strstr(in.data, "\r\n");
    while (line != NULL && line < hend) {
        char *next = strstr(line + 2, "\r\n");
        size_t n = (next != NULL ? (size_t)(next - line) : strlen(line)) - 2;

        ember_buf_append(&res->head, line + 2, n);
        ember_buf_puts(&res->head, "\n");
        line = next;
    }
    res->body_len = in.len - (size_t)(hend + 4 - in.data);
    res->body = ember_xmalloc(res->body_len + 1);
    memcpy(res->body, hend + 4, res->body_len);
    res->body[res->body_len] = '\0';
    cl = strcasestr(ember_buf_str(&res->head), "content-length:");
    if (cl != NULL && (size_t)atol(cl + 15) != res->body_len) {
        fail(t, "short body: %zu of %ld bytes", res->body_len, atol(cl + 15));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    ember_buf_free(&in);
    return rc;
}

static void http_response_clear(struct http_response *res)
{
    ember_buf_free(&res->head);
    free(res->body);
    memset(res, 0, sizeof(*res));
}

/* All values of header name, " | "-joined; the count. */
static int values_of(const struct http_response *res, const char *name, struct ember_buf *all)
{
    const char *p = ember_buf_str(&res->head);
    size_t nl = strlen(name);
    int n = 0;

    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);

        if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;

            while (*v == ' ')
                v++;
            if (n++ > 0)
                ember_buf_puts(all, " | ");
            ember_buf_append(all, v, (size_t)(p + len - v));
        }
        p += len + (eol != NULL ? 1 : 0);
    }
    return n;
}

static int has_value(const struct http_response *res, const char *name, const char *want)
{
    struct ember_buf all = EMBER_BUF_INIT;
    const char *p;
    int found = 0;

    values_of(res, name, &all);
    p = ember_buf_str(&all);
    while (*p != '\0' && !found) {
        const char *sep = strstr(p, " | ");
        size_t len = sep != NULL ? (size_t)(sep - p) : strlen(p);

        found = strlen(want) == len && strncmp(p, want, len) == 0;
        p += len + (sep != NULL ? 3 : 0);
    }
    ember_buf_free(&all);
    return found;
}

/* ------------------------------------------------------------ checks (as ember-test-api) */

static void check_expect(struct test *t, json_object *exp, const struct http_response *res)
{
    json_object *v;

    v = jget(exp, "status");
    if (v != NULL && json_object_get_int(v) != res->status)
        fail(t, "status: expected %d, got %d", json_object_get_int(v), res->status);
    v = jget(exp, "headers");
    if (v != NULL) {
        json_object_object_foreach(v, name, want) {
            struct ember_buf all = EMBER_BUF_INIT;
            int n = values_of(res, name, &all);

            if (want == NULL) {
                if (n > 0)
                    fail(t, "header %s: expected absent, got \"%s\"", name, ember_buf_str(&all));
            } else if (json_object_is_type(want, json_type_array)) {
                struct ember_buf e = EMBER_BUF_INIT;
                size_t i;

                for (i = 0; i < json_object_array_length(want); i++)
                    ember_buf_printf(&e, "%s%s", i > 0 ? " | " : "",
                                     json_object_get_string(json_object_array_get_idx(want, i)));
                if (strcmp(ember_buf_str(&e), ember_buf_str(&all)) != 0)
                    fail(t, "header %s: expected \"%s\", got \"%s\"", name, ember_buf_str(&e),
                         ember_buf_str(&all));
                ember_buf_free(&e);
            } else {
                const char *s = json_object_get_string(want);

                if (strcmp(s, "*") == 0 ? n == 0 : !has_value(res, name, s))
                    fail(t, "header %s: expected \"%s\", got %s%s%s", name, s, n ? "\"" : "",
                         n ? ember_buf_str(&all) : "nothing", n ? "\"" : "");
            }
            ember_buf_free(&all);
        }
    }
    if (jhas(exp, "body") || jhas(exp, "body_includes")) {
        int ok;
        json_object *got = parse_json(res->body, res->body_len, &ok);

        if (!ok) {
            fail(t, "body: expected JSON, got non-JSON:");
            note_block(t, "  ", res->body, res->body_len, 1500);
        } else if (jhas(exp, "body") && !json_object_equal(jget(exp, "body"), got)) {
            fail(t, "body: expected %s", jshow(jget(exp, "body")));
            note(t, "        got      %.2000s", jshow(got));
        } else if (jhas(exp, "body_includes") && !includes(jget(exp, "body_includes"), got)) {
            fail(t, "body_includes: expected a body including %s", jshow(jget(exp, "body_includes")));
            note(t, "        got %.3000s", jshow(got));
        }
        json_object_put(got);
    }
    if (jhas(exp, "body_text")) {
        const char *want = jstr(exp, "body_text");
        size_t wlen = want != NULL ? (size_t)json_object_get_string_len(jget(exp, "body_text")) : 0;

        if (want == NULL || wlen != res->body_len || memcmp(want, res->body, wlen) != 0) {
            fail(t, "body_text: expected \"%s\", got (%zu bytes):", want != NULL ? want : "?",
                 res->body_len);
            note_block(t, "  ", res->body, res->body_len, 1500);
        }
    }
    if (jhas(exp, "body_contains")) {
        const char *want = jstr(exp, "body_contains");

        if (want == NULL || memmem(res->body, res->body_len, want, strlen(want)) == NULL) {
            fail(t, "body_contains: \"%s\" not in the body:", want != NULL ? want : "?");
            note_block(t, "  ", res->body, res->body_len, 1500);
        }
    }
    v = jget(exp, "cookies");
    if (v != NULL) {
        struct ember_buf got = EMBER_BUF_INIT, want = EMBER_BUF_INIT;
        size_t i;

        values_of(res, "set-cookie", &got);
        for (i = 0; i < json_object_array_length(v); i++)
            ember_buf_printf(&want, "%s%s", i > 0 ? " | " : "",
                             json_object_get_string(json_object_array_get_idx(v, i)));
        if (strcmp(ember_buf_str(&want), ember_buf_str(&got)) != 0)
            fail(t, "cookies: expected [%s], got [%s]", ember_buf_str(&want), ember_buf_str(&got));
        ember_buf_free(&got);
        ember_buf_free(&want);
    }
    if (t->failed) {
        note(t, "the HTTP response: %d, headers:", res->status);
        note_block(t, "  ", ember_buf_str(&res->head), res->head.len, 2000);
    }
}

/* Each string of list (or the one string) must be (in=1) or not be (in=0) in text. */
static int strings_ok(json_object *list, const char *text, size_t len, int in,
                      struct test *t, const char *what)
{
    size_t i, n;
    int ok = 1;

    if (list == NULL)
        return 1;
    n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 1;
    for (i = 0; i < n; i++) {
        json_object *e = json_object_is_type(list, json_type_array)
                         ? json_object_array_get_idx(list, i) : list;
        const char *s = json_object_get_string(e);
        int found = *s != '\0' && memmem(text, len, s, strlen(s)) != NULL;

        if (found != in) {
            ok = 0;
            if (t != NULL)
                fail(t, "%s: \"%s\" %s", what, s, in ? "not found" : "found, but must not be");
        }
    }
    return ok;
}

static off_t file_size(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 ? st.st_size : 0;
}

static char *read_from(const char *path, off_t from, size_t *len)
{
    char *all, *out;
    size_t n;

    if (read_file(path, &all, &n) != 0 || (size_t)from > n) {
        free(all);
        *len = 0;
        return ember_xstrdup("");
    }
    *len = n - (size_t)from;
    out = ember_xmalloc(*len + 1);
    memcpy(out, all + from, *len);
    out[*len] = '\0';
    free(all);
    return out;
}

/* file_absent, file_contains, file_count: as ember-test-api (paths relative to our cwd,
   which is the sandbox's: --task-root .) */
static void check_files(struct test *t, json_object *c)
{
    json_object *v;
    size_t i;

    v = jget(c, "file_absent");
    for (i = 0; v != NULL && i < json_object_array_length(v); i++) {
        const char *p = json_object_get_string(json_object_array_get_idx(v, i));

        if (access(p, F_OK) == 0)
            fail(t, "file_absent: %s exists", p);
    }
    v = jget(c, "file_contains");
    if (v != NULL && json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, p, want) {
            char *text;
            size_t len;

            if (read_file(p, &text, &len) != 0) {
                fail(t, "file_contains: %s: %s", p, strerror(errno));
                continue;
            }
            strings_ok(want, text, len, 1, t, p);
            free(text);
        }
    }
    v = jget(c, "file_count");
    if (v != NULL && json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, p, counts) {
            char *text;
            size_t len;

            if (read_file(p, &text, &len) != 0) {
                fail(t, "file_count: %s: %s", p, strerror(errno));
                continue;
            }
            {
                json_object_object_foreach(counts, what, want) {
                    const char *at = text, *end = text + len, *hit;
                    size_t wl = strlen(what);
                    int got = 0;

                    while (wl > 0 && at < end) {
                        hit = memmem(at, (size_t)(end - at), what, wl);
                        if (hit == NULL)
                            break;
                        got++;
                        at = hit + wl;
                    }
                    if (got != json_object_get_int(want)) {
                        fail(t, "file_count: \"%s\" appears %d times in %s, expected %d:", what,
                             got, p, json_object_get_int(want));
                        note_block(t, "  ", text, len, 1000);
                    }
                }
            }
            free(text);
        }
    }
}

/* ------------------------------------------------------------ a case */

struct tcase {
    char        *path;
    char        *name;         /* "suite/NN-name.json" */
    json_object *j;            /* expanded; NULL on error */
    char        *error;
    char        *skip;         /* why it cannot run over HTTP, or NULL */
    const char  *fmts[5];
    size_t       nfmt;
};

static void load_case(struct tcase *c, const char *path)
{
    static const char *const http_only[][2] = {
        { "event", "a prepared event: Runtime API only" },
        { "raw_event", "raw event bytes: Runtime API only" },
        { "expect_error", "an invocation error is not HTTP: Runtime API only" },
        { "expect_exit", "the bootstrap's exit: Runtime API only" },
        { "runtime_fault", "a Runtime API fault: Runtime API only" },
    };
    struct ember_buf errs = EMBER_BUF_INIT;
    const char *p, *cut;
    json_object *raw, *fm;
    char *text;
    size_t len, i;
    int ok, slashes = 0;

    memset(c, 0, sizeof(*c));
    c->path = ember_xstrdup(path);
    for (p = path + strlen(path), cut = path; p > path; ) {
        p--;
        if (*p == '/' && ++slashes == 2) {
            cut = p + 1;
            break;
        }
    }
    c->name = ember_xstrdup(cut);
    c->fmts[0] = "v2";
    c->nfmt = 1;
    if (read_file(path, &text, &len) != 0) {
        c->error = ember_xasprintf("%s: %s", path, strerror(errno));
        return;
    }
    raw = parse_json(text, len, &ok);
    free(text);
    if (!ok || !json_object_is_type(raw, json_type_object)) {
        c->error = ember_xasprintf("%s: not a JSON case", path);
        json_object_put(raw);
        return;
    }
    c->j = expand_tree(raw, &errs);
    json_object_put(raw);
    if (errs.len > 0) {
        c->error = ember_xasprintf("%s: %s", path, ember_buf_str(&errs));
        ember_buf_free(&errs);
        return;
    }
    for (i = 0; i < sizeof(http_only) / sizeof(http_only[0]) && c->skip == NULL; i++)
        if (jhas(c->j, http_only[i][0]))
            c->skip = ember_xstrdup(http_only[i][1]);
    if (c->skip == NULL && jget(c->j, "request") == NULL)
        c->skip = ember_xstrdup("no request");
    if (c->skip == NULL && jhas(jget(c->j, "request"), "source_ip"))
        c->skip = ember_xstrdup("a made-up source IP: Runtime API only");
    fm = jget(c->j, "formats");
    if (fm != NULL && json_object_is_type(fm, json_type_array)) {
        c->nfmt = 0;
        for (i = 0; i < json_object_array_length(fm) && i < 5; i++)
            c->fmts[c->nfmt++] = json_object_get_string(json_object_array_get_idx(fm, i));
    } else if (!c->skip) {
        static const char *const dflt[] = { "v1", "v2", "url", "alb" };

        for (i = 0; i < 4; i++)
            c->fmts[i] = dflt[i];
        c->nfmt = 4;
    }
}

static void free_case(struct tcase *c)
{
    free(c->path);
    free(c->name);
    free(c->error);
    free(c->skip);
    json_object_put(c->j);
}

static int run_shell(struct test *t, const char *cmd)
{
    int st;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);

        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fail(t, "shell: `%s` failed", cmd);
        return -1;
    }
    return 0;
}

/* One test: case c in format fmt (repetition rep). Prints its TAP line; 1 if it passed. */
static int run_test(struct runner *r, struct tcase *c, size_t fi, int rep, int n)
{
    struct test t;
    struct http_response res;
    struct ember_buf req = EMBER_BUF_INIT;
    json_object *j = c->j, *l;
    const char *fmt = c->fmts[fi];
    struct inst *in;
    off_t log_off = file_size(r->log_fd);
    char *log = NULL;
    size_t log_len = 0;
    int timeout = r->timeout_ms;

    memset(&t, 0, sizeof(t));
    memset(&res, 0, sizeof(res));
    if (c->error != NULL) {
        fail(&t, "%s", c->error);
        goto report;
    }
    if (fi == 0 && rep == 0 && jstr(j, "shell") != NULL && run_shell(&t, jstr(j, "shell")) != 0)
        goto report;
    if (rep == 0 && (jhas(j, "env") || (jhas(j, "fresh") && json_object_get_boolean(jget(j, "fresh"))))) {
        if (fi == 0) {
            json_object_put(r->env);
            r->env = json_object_get(jget(j, "env"));   /* kept for the cases after, as a bootstrap's */
        }
        stop_all(r);     /* the next request starts a new sandbox: a cold start */
        log_off = file_size(r->log_fd);
    }
    if (c->skip != NULL) {
        printf("ok %d - %s [%s] # SKIP %s\n", n, c->name, fmt, c->skip);
        fflush(stdout);
        return 1;
    }
    if (jhas(j, "timeout_ms"))
        timeout = json_object_get_int(jget(j, "timeout_ms"));
    if (jhas(j, "remove_files")) {
        json_object *v = jget(j, "remove_files");
        size_t i;

        for (i = 0; i < json_object_array_length(v); i++)
            unlink(json_object_get_string(json_object_array_get_idx(v, i)));
    }
    in = instance(r, &t, 30000);
    if (in == NULL)
        goto report;
    if (build_request(&t, jget(j, "request"), fmt,
                      jhas(j, "deadline_ms") ? json_object_get_int64(jget(j, "deadline_ms")) : 0,
                      in->port, &req) != 0)
        goto report;
    if (r->verbose)
        note(&t, "request: %.2000s", ember_buf_str(&req));
    if (http_exchange(&t, in->port, &req, timeout, &res) != 0)
        goto report;
    if (jhas(j, "expect"))
        check_expect(&t, jget(j, "expect"), &res);

    /* the function logs after answering: give its lines up to 2 s to arrive */
    l = jget(j, "log");
    {
        int64_t until = now_ms() + (l != NULL ? 2000 : 0);

        for (;;) {
            free(log);
            log = read_from(r->log_path, log_off, &log_len);
            if (l == NULL || strings_ok(jget(l, "contains"), log, log_len, 1, NULL, NULL)
                || now_ms() > until)
                break;
            sleep_ms(20);
        }
        if (l != NULL) {
            sleep_ms(50);
            free(log);
            log = read_from(r->log_path, log_off, &log_len);
            strings_ok(jget(l, "contains"), log, log_len, 1, &t, "log");
            strings_ok(jget(l, "absent"), log, log_len, 0, &t, "log");
        }
    }
    if (jhas(j, "mapped") || jhas(j, "not_mapped")) {
        pid_t sb = sandbox_of(in->pid);
        char path[64], *maps;
        size_t len;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)sb);
        if (sb <= 0 || read_file(path, &maps, &len) != 0) {
            fail(&t, "mapped/not_mapped: no sandbox process under ember-local %d", (int)in->pid);
        } else {
            strings_ok(jget(j, "mapped"), maps, len, 1, &t, "mapped");
            strings_ok(jget(j, "not_mapped"), maps, len, 0, &t, "not_mapped");
            free(maps);
        }
    }
    check_files(&t, j);

report:
    printf("%s %d - %s [%s] (ember-local)\n", t.failed ? "not ok" : "ok", n, c->name, fmt);
    if (t.failed || r->verbose) {
        const char *d;

        if (j != NULL && jstr(j, "description") != NULL)
            note(&t, "case: %s", jstr(j, "description"));
        if (log == NULL)
            log = read_from(r->log_path, log_off, &log_len);
        note(&t, "ember-local and sandbox stderr during the test:%s", log_len ? "" : " (nothing)");
        note_block(&t, "  | ", log, log_len, TAIL_BYTES);
        for (d = ember_buf_str(&t.diag); *d != '\0'; ) {
            const char *nl = strchr(d, '\n');
            size_t ln = nl != NULL ? (size_t)(nl - d) : strlen(d);

            printf("# %.*s\n", (int)ln, d);
            d += ln + (nl != NULL ? 1 : 0);
        }
    }
    fflush(stdout);
    http_response_clear(&res);
    ember_buf_free(&req);
    free(log);
    ember_buf_free(&t.diag);
    return !t.failed;
}

/* ------------------------------------------------------------ main */

static struct runner *the_runner;

static void on_signal(int sig)
{
    size_t i;

    for (i = 0; the_runner != NULL && i < MAX_INST; i++)
        if (the_runner->inst[i].pid > 0)
            kill(the_runner->inst[i].pid, SIGTERM);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void usage(FILE *f)
{
    fputs("usage: local-cases --ember-local PATH --bootstrap PATH [--keep-going]\n"
          "                   [--timeout SECONDS] [--verbose] [--log FILE] CASE.json...\n"
          "Runs route-level cases through ember-local (HTTP in, HTTP out) and prints TAP.\n", f);
}

int main(int argc, char **argv)
{
    struct runner r;
    struct tcase *cases;
    size_t ncases = 0, i, k;
    int failed = 0, n = 0, plan = 0, rep, reps, stop = 0;
    const char *log_arg = NULL;
    char *tmp;

    memset(&r, 0, sizeof(r));
    r.timeout_ms = 20000;
    cases = ember_xcalloc((size_t)argc, sizeof(*cases));
    for (i = 1; i < (size_t)argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--ember-local") == 0 && i + 1 < (size_t)argc) {
            r.ember_local = argv[++i];
        } else if (strcmp(a, "--bootstrap") == 0 && i + 1 < (size_t)argc) {
            r.bootstrap = argv[++i];
        } else if (strcmp(a, "--keep-going") == 0) {
            r.keep_going = 1;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            r.verbose = 1;
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < (size_t)argc) {
            r.timeout_ms = (int)(atof(argv[++i]) * 1000);
        } else if (strcmp(a, "--log") == 0 && i + 1 < (size_t)argc) {
            log_arg = argv[++i];
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            usage(stderr);
            return 2;
        } else {
            load_case(&cases[ncases++], a);
        }
    }
    if (r.ember_local == NULL || r.bootstrap == NULL || ncases == 0 || r.timeout_ms <= 0) {
        usage(stderr);
        return 2;
    }
    snprintf(r.tmp, sizeof(r.tmp), "/tmp/local-cases.XXXXXX");
    tmp = mkdtemp(r.tmp);
    if (tmp == NULL) {
        perror("local-cases: mkdtemp");
        return 1;
    }
    if (log_arg != NULL) {
        r.log_path = ember_xstrdup(log_arg);
    } else {
        r.log_path = ember_xasprintf("%s/stderr.log", r.tmp);
        r.log_is_temp = 1;
    }
    r.log_fd = open(r.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (r.log_fd < 0) {
        fprintf(stderr, "local-cases: %s: %s\n", r.log_path, strerror(errno));
        return 1;
    }
    the_runner = &r;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    for (i = 0; i < ncases; i++) {
        reps = jhas(cases[i].j, "repeat") ? json_object_get_int(jget(cases[i].j, "repeat")) : 1;
        plan += (int)cases[i].nfmt * (reps > 0 ? reps : 1);
    }
    printf("1..%d\n", plan);
    for (i = 0; i < ncases && !stop; i++) {
        reps = jhas(cases[i].j, "repeat") ? json_object_get_int(jget(cases[i].j, "repeat")) : 1;
        for (rep = 0; rep < (reps > 0 ? reps : 1) && !stop; rep++) {
            for (k = 0; k < cases[i].nfmt && !stop; k++) {
                if (!run_test(&r, &cases[i], k, rep, ++n)) {
                    failed++;
                    if (!r.keep_going) {
                        printf("Bail out! %s [%s] failed (--keep-going runs every case)\n",
                               cases[i].name, cases[i].fmts[k]);
                        stop = 1;
                    }
                }
            }
        }
    }
    stop_all(&r);
    close(r.log_fd);
    if (r.log_is_temp)
        unlink(r.log_path);
    for (i = 0; i < MAX_INST; i++) {
        char p[128];

        snprintf(p, sizeof(p), "%s/port.%zu", r.tmp, i);
        unlink(p);
    }
    rmdir(r.tmp);
    free(r.log_path);
    json_object_put(r.env);
    for (i = 0; i < ncases; i++)
        free_case(&cases[i]);
    free(cases);
    return failed > 0 ? 1 : 0;
}
