/*
 * main.c - tests/ember-test-api: run route-level cases against the real
 * bootstrap through a Lambda Runtime API on 127.0.0.1, and print TAP.
 * The Runtime API side is emu/local/rtapi.c, the one ember-local's
 * sandboxes serve through; this file keeps the cases, the bootstrap's
 * process and the checks.
 *
 *   ember-test-api --bootstrap PATH [--keep-going] [--timeout SECONDS]
 *                  [--verbose] [--log FILE] CASE.json...
 *
 * One TAP test per (case, format): "ok N - suite/NN-name.json [v2]", with
 * "#" diagnostics on a failure (expected vs got, the Runtime API's notes,
 * what the bootstrap wrote on stderr during the test).  Exit 1 if any
 * failed.  Without --keep-going the first failure ends the run ("Bail
 * out!").  --timeout: per test (default 10 s; a case's "timeout_ms" wins).
 * --log FILE keeps the bootstrap's stderr (default: a temporary file).
 *
 * All cases run in order against ONE bootstrap (warm).  It is restarted
 * (a cold start) before every test of a case with "fresh": true, "env" or
 * "expect_exit", and whenever the previous one died or hung (then it is
 * killed: SIGTERM, SIGKILL after 2 s, its whole process group).  It gets
 * the runner's environment plus AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT,
 * AWS_LAMBDA_FUNCTION_NAME=ember-test, AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512,
 * AWS_LAMBDA_FUNCTION_VERSION, AWS_REGION, then the case's "env" (a null
 * value removes a variable).  stdout and stderr go to the log file.
 *
 * A case is one JSON object.  "${NAME}" / "${NAME:-default}" in any string
 * (keys too) is replaced from the environment; an unset NAME without a
 * default fails the case.  Unknown keys fail the case.
 *
 *   description      text, shown on failure
 *   fresh, env       restart first (see above)
 *   shell            "sh -c" command run once before the case's first test
 *                    (in the runner's directory); non-zero exit fails it
 *   remove_files     [paths] deleted before each test
 *   request          {method (GET), path, query {name: "v" | ["v1","v2"]},
 *                     headers {same}, cookies ["a=b"], one of body "text" |
 *                     json {...} (content-type added if absent) |
 *                     body_base64 "..." (binary) | body_size N (N bytes "x"),
 *                     stage, source_ip}: one event per format, built by
 *                     emu/apigw.c exactly as AWS would
 *   formats          ["v1","v2","url","alb","alb-mv"] (alb-mv: ALB with
 *                    multi-value headers on); default v1 v2 url alb
 *   event            instead of request: a file ($EMBER_EVENTS_DIR, then
 *                    next to the case) or an inline object, sent verbatim;
 *                    the format is detected, or given by "source"
 *   raw_event        instead: these exact bytes
 *   source           "v1" ... "alb-mv" or "none": how to read the response
 *   deadline_ms      Lambda-Runtime-Deadline-Ms = now + this (30000)
 *   runtime_fault    "close" | "413" | "500": how the Runtime API answers
 *                    this invocation's first response POST
 *   timeout_ms       this case's timeout
 *   expect           {status, headers {name: "value" | "*" (present) |
 *                     null (absent) | ["v1","v2"] (all values, in order)}
 *                     (names case-insensitive), body (JSON, exact), body_includes
 *                     (JSON subset: objects by key, arrays as an ordered
 *                     subsequence), body_text (exact bytes), body_contains,
 *                     cookies [set-cookie values in order], is_base64,
 *                     status_description (alb)}; the posted response is
 *                     first read as the format's integration would (a
 *                     response it would answer 502 for fails the test)
 *   expect_error     {errorType (exact), errorMessage (substring)}: the
 *                    bootstrap must POST /invocation/{id}/error
 *   expect_exit      {code, init_error}: no event; the bootstrap must POST
 *                    /runtime/init/error (errorType init_error) and exit
 *                    with code (any non-zero if absent)
 *   log              {contains [...], absent [...]}: substrings of what the
 *                    bootstrap wrote during the test (start-up included
 *                    after a restart; the test waits for its next GET so
 *                    the per-event log line is in)
 *   mapped, not_mapped  [substrings] of /proc/PID/maps after the answer
 *   file_absent      [paths] that must not exist after the answer
 *   file_contains    {path: "text" | [...]}
 *   file_count       {path: {text: N}}: text occurs exactly N times
 */
#define _GNU_SOURCE 1   /* memmem, strsignal, environ */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "apigw.h"
#include "buf.h"
#include "error.h"
#include "rtapi.h"
#include "xalloc.h"

extern char **environ;

#define FUNCTION_ARN   "arn:aws:lambda:us-east-1:123456789012:function:ember-test"
#define MAX_FORMATS    5
#define SYNC_MS        2000      /* after the answer: wait this long for the next GET */
#define TAIL_BYTES     3000
#define MAX_RESPONSE   6291556   /* the size Lambda's 413 names */
#define PAUSE_MS       20        /* the waiting loops look again at least this often */

/* ------------------------------------------------------------ the run */

struct runner {
    const char         *bootstrap;
    const char         *events_dir;
    int                 keep_going;
    int                 verbose;
    int                 timeout_ms;
    struct ember_rtapi *api;
    const struct ember_rtapi_post *reported_ie;   /* the init error already reported */

    pid_t               pid;         /* 0: not running */
    int                 exited;      /* pid has exited; status in wstatus */
    int                 wstatus;
    char               *log_path;
    int                 log_fd;
    int                 log_is_temp;
    unsigned long       counter;
};

/* For on_signal: what an interrupted run must not leave behind. */
static volatile pid_t  running_pid;
static const char     *temp_log;

/* One test: one (case, format) pair. */
struct test {
    struct ember_buf    diag;
    int                 failed;
    int                 restart;     /* leave the bootstrap for a fresh one */
};

static void fail(struct test *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct test *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct test *t, const char *fmt, ...)
{
    va_list ap;

    t->failed = 1;
    va_start(ap, fmt);
    ember_buf_vprintf(&t->diag, fmt, ap);
    va_end(ap);
    ember_buf_puts(&t->diag, "\n");
}

static void note(struct test *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_buf_vprintf(&t->diag, fmt, ap);
    va_end(ap);
    ember_buf_puts(&t->diag, "\n");
}

/* Append text as diagnostic lines, each prefixed by `prefix`, at most max bytes (its tail). */
static void note_block(struct test *t, const char *prefix, const char *text, size_t len,
                       size_t max)
{
    const char *p = text, *end = text + len;

    if (len > max) {
        p = end - max;
        while (p < end && *p != '\n')
            p++;
        if (p < end)
            p++;
        ember_buf_printf(&t->diag, "%s[... %zu bytes before]\n", prefix, (size_t) (p - text));
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        size_t      n = nl ? (size_t) (nl - p) : (size_t) (end - p);

        size_t i;

        ember_buf_puts(&t->diag, prefix);
        for (i = 0; i < n; i++) {
            unsigned char ch = (unsigned char) p[i];

            if (ch < 0x20 && ch != '\t')
                ember_buf_printf(&t->diag, "\\x%02x", ch);
            else
                ember_buf_append(&t->diag, &ch, 1);
        }
        ember_buf_puts(&t->diag, "\n");
        p += n + (nl ? 1 : 0);
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ small helpers */

/* Read a whole file. Caller frees *out. -1 with errno on failure. */
static int read_file(const char *path, char **out, size_t *len)
{
    struct ember_buf b = EMBER_BUF_INIT;
    char             chunk[65536];
    int              fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    *len = 0;
    if (fd < 0)
        return -1;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            close(fd);
            ember_buf_free(&b);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        ember_buf_append(&b, chunk, (size_t) n);
    }
    close(fd);
    *len = b.len;
    *out = b.data ? b.data : ember_xstrdup("");
    return 0;
}

/* Bytes of a file from offset `from` on. Caller frees. */
static char *read_from(const char *path, off_t from, size_t *len)
{
    char   *all, *part;
    size_t  n;

    if (read_file(path, &all, &n) != 0) {
        *len = 0;
        return ember_xstrdup("");
    }
    if ((size_t) from > n)
        from = (off_t) n;
    *len = n - (size_t) from;
    part = ember_xstrndup(all + from, *len);
    free(all);
    return part;
}

static off_t file_size(int fd)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return 0;
    return st.st_size;
}

/* Parse exactly len bytes of JSON (whitespace around allowed). 0 ok (*out may be NULL: null). */
static int parse_json(const char *s, size_t len, json_object **out, char *why, size_t whylen)
{
    struct json_tokener     *tok;
    enum json_tokener_error  jerr;
    json_object             *o;
    char                    *copy;
    size_t                   end;

    *out = NULL;
    copy = ember_xmalloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, copy, (int) len + 1);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr != json_tokener_success) {
        snprintf(why, whylen, "%s at offset %zu", json_tokener_error_desc(jerr), end);
        free(copy);
        return -1;
    }
    while (end < len && isspace((unsigned char) copy[end]))
        end++;
    free(copy);
    if (end < len) {
        snprintf(why, whylen, "trailing bytes at offset %zu", end);
        json_object_put(o);
        return -1;
    }
    *out = o;
    return 0;
}

static int b64val(int c)
{
    static const char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p;

    if (c == '\0')
        return -1;
    p = strchr(chars, c);
    return p ? (int) (p - chars) : -1;
}

/* Decode base64 (padding optional). Caller frees *out. -1 if invalid. */
static int b64_decode(const char *s, char **out, size_t *outlen)
{
    size_t        n = strlen(s), i, j = 0;
    unsigned int  acc = 0;
    int           bits = 0;
    char         *d;

    while (n > 0 && s[n - 1] == '=')
        n--;
    d = ember_xmalloc(n + 1);
    for (i = 0; i < n; i++) {
        int v = b64val((unsigned char) s[i]);

        if (v < 0) {
            free(d);
            return -1;
        }
        acc = (acc << 6) | (unsigned int) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[j++] = (char) ((acc >> bits) & 0xff);
        }
    }
    d[j] = '\0';
    *out = d;
    *outlen = j;
    return 0;
}

/* o[key] if it is a string, else NULL. Borrowed from o. */
static const char *jstr(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* o[key] (NULL if absent or null). Borrowed from o. */
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

/* o as compact JSON; borrowed from o (valid until o changes or is put). */
static const char *jshow(json_object *o)
{
    return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE) : "null";
}

/* ------------------------------------------------------------ ${VAR} */

/*
 * Expand ${NAME} and ${NAME:-default} in s; an unset NAME without default
 * is appended to errs.  Caller frees the result.
 */
static char *expand(const char *s, struct ember_buf *errs)
{
    struct ember_buf b = EMBER_BUF_INIT;
    const char      *p = s;

    while (*p) {
        const char *close;

        if (p[0] != '$' || p[1] != '{') {
            ember_buf_append(&b, p, 1);
            p++;
            continue;
        }
        close = strchr(p + 2, '}');
        if (close == NULL) {
            ember_buf_puts(&b, p);
            break;
        }
        {
            char       *name = ember_xstrndup(p + 2, (size_t) (close - p - 2));
            char       *dflt = strstr(name, ":-");
            const char *v;

            if (dflt) {
                *dflt = '\0';
                dflt += 2;
            }
            v = getenv(name);
            if (v == NULL || (dflt && *v == '\0'))
                v = dflt;
            if (v == NULL)
                ember_buf_printf(errs, "${%s} is not set in the environment; ", name);
            else
                ember_buf_puts(&b, v);
            free(name);
        }
        p = close + 1;
    }
    {
        char *out = ember_xstrdup(ember_buf_str(&b));

        ember_buf_free(&b);
        return out;
    }
}

/* A copy of o with every string (values and keys) expanded. Returns a new object. */
static json_object *expand_tree(json_object *o, struct ember_buf *errs)
{
    switch (json_object_get_type(o)) {
    case json_type_string: {
        char        *s;
        json_object *r;

        if (strstr(json_object_get_string(o), "${") == NULL)
            return json_object_get(o);     /* as is: may hold NUL bytes */
        s = expand(json_object_get_string(o), errs);
        r = json_object_new_string(s);

        free(s);
        return r;
    }
    case json_type_array: {
        json_object *r = json_object_new_array();
        size_t       i;

        for (i = 0; i < json_object_array_length(o); i++)
            json_object_array_add(r, expand_tree(json_object_array_get_idx(o, i), errs));
        return r;
    }
    case json_type_object: {
        json_object *r = json_object_new_object();

        json_object_object_foreach(o, k, v) {
            char *key = expand(k, errs);

            json_object_object_add(r, key, v ? expand_tree(v, errs) : NULL);
            free(key);
        }
        return r;
    }
    case json_type_null:
        return NULL;
    default:
        return json_object_get(o);
    }
}

/* ------------------------------------------------------------ cases */

struct format {
    enum ember_apigw_format  f;
    int                      multi_value;
    char                     name[16];
};

struct tcase {
    char           *path;
    char           *name;        /* "suite/NN-name.json" */
    char           *dir;
    json_object    *j;           /* expanded; NULL if error */
    char           *error;
    struct format   fmts[MAX_FORMATS];
    size_t          nfmt;
    char           *event;       /* event/raw_event bytes (formats ignored) */
    size_t          event_len;
};

static const char *const case_keys[] = {
    "description", "fresh", "env", "request", "formats", "event", "source", "raw_event",
    "deadline_ms", "runtime_fault", "expect", "expect_error", "expect_exit", "log",
    "mapped", "not_mapped", "file_absent", "file_contains", "file_count", "remove_files",
    "timeout_ms", "shell", NULL
};
static const char *const request_keys[] = {
    "method", "path", "query", "headers", "cookies", "body", "json", "body_base64",
    "body_size", "stage", "source_ip", NULL
};
static const char *const expect_keys[] = {
    "status", "headers", "body", "body_includes", "body_text", "body_contains", "cookies",
    "is_base64", "status_description", NULL
};

static int check_keys(json_object *o, const char *const *known, const char *what,
                      struct ember_buf *errs)
{
    int bad = 0;

    if (!json_object_is_type(o, json_type_object)) {
        ember_buf_printf(errs, "%s must be an object; ", what);
        return -1;
    }
    {
        json_object_object_foreach(o, k, v) {
            size_t i;
            int    ok = 0;

            (void) v;
            for (i = 0; known[i]; i++)
                if (strcmp(k, known[i]) == 0)
                    ok = 1;
            if (!ok) {
                ember_buf_printf(errs, "unknown key \"%s\" in %s; ", k, what);
                bad = -1;
            }
        }
    }
    return bad;
}

/* o[key], if present, must be a list of strings (or one string, if one_ok). */
static void check_list(json_object *o, const char *key, int one_ok, struct ember_buf *errs)
{
    json_object *v = jget(o, key);
    size_t       i;

    if (!jhas(o, key))
        return;
    if (one_ok && json_object_is_type(v, json_type_string))
        return;
    if (!json_object_is_type(v, json_type_array)) {
        ember_buf_printf(errs, "%s must be a list of strings; ", key);
        return;
    }
    for (i = 0; i < json_object_array_length(v); i++) {
        if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string)) {
            ember_buf_printf(errs, "%s must be a list of strings; ", key);
            return;
        }
    }
}

/* "v1", "v2", "url", "alb", "alb-mv" */
static int parse_format(const char *name, struct format *f)
{
    memset(f, 0, sizeof(*f));
    if (strcmp(name, "alb-mv") == 0) {
        f->f = EMBER_APIGW_ALB;
        f->multi_value = 1;
    } else {
        f->f = ember_apigw_format_parse(name);
        if (f->f == EMBER_APIGW_NONE && strcmp(name, "none") != 0)
            return -1;
    }
    snprintf(f->name, sizeof(f->name), "%s", name);
    return 0;
}

/* Where an "event" file is: absolute, $EMBER_EVENTS_DIR/NAME, or next to the case. Caller frees. */
static char *event_path(const struct runner *r, const struct tcase *c, const char *name)
{
    char *p;

    if (name[0] == '/')
        return ember_xstrdup(name);
    if (r->events_dir) {
        p = ember_xasprintf("%s/%s", r->events_dir, name);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    return ember_xasprintf("%s/%s", c->dir, name);
}

static void load_case(const struct runner *r, struct tcase *c, const char *path)
{
    struct ember_buf  errs = EMBER_BUF_INIT;
    json_object      *raw = NULL, *j, *req, *ev, *fm;
    char             *text, *copy, why[160];
    size_t            len;
    int               n;

    memset(c, 0, sizeof(*c));
    c->path = ember_xstrdup(path);
    copy = ember_xstrdup(path);
    c->dir = ember_xstrdup(dirname(copy));
    free(copy);
    {
        /* "suite/NN-name.json": the last two components */
        const char *p = path + strlen(path), *cut = path;
        int         slashes = 0;

        while (p > path) {
            p--;
            if (*p == '/' && ++slashes == 2) {
                cut = p + 1;
                break;
            }
        }
        c->name = ember_xstrdup(cut);
    }
    c->nfmt = 1;
    snprintf(c->fmts[0].name, sizeof(c->fmts[0].name), "case");

    if (read_file(path, &text, &len) != 0) {
        c->error = ember_xasprintf("%s: %s", path, strerror(errno));
        return;
    }
    if (parse_json(text, len, &raw, why, sizeof(why)) != 0 || raw == NULL) {
        c->error = ember_xasprintf("%s: not a JSON case (%s)", path, raw ? "" : why);
        free(text);
        json_object_put(raw);
        return;
    }
    free(text);
    if (check_keys(raw, case_keys, "the case", &errs) != 0)
        goto bad;
    j = expand_tree(raw, &errs);
    json_object_put(raw);
    raw = NULL;
    c->j = j;
    if (errs.len > 0)
        goto bad;

    req = jget(j, "request");
    ev = jget(j, "event");
    n = (req != NULL) + jhas(j, "event") + jhas(j, "raw_event");
    if (n > 1)
        ember_buf_puts(&errs, "give one of request, event, raw_event; ");
    if (n == 0 && !jhas(j, "expect_exit"))
        ember_buf_puts(&errs, "no request, event or raw_event; ");
    if (jhas(j, "expect") + jhas(j, "expect_error") + jhas(j, "expect_exit") > 1)
        ember_buf_puts(&errs, "give one of expect, expect_error, expect_exit; ");
    if (jhas(j, "expect"))
        check_keys(jget(j, "expect"), expect_keys, "expect", &errs);
    check_list(j, "mapped", 1, &errs);
    check_list(j, "not_mapped", 1, &errs);
    check_list(j, "file_absent", 0, &errs);
    check_list(j, "remove_files", 0, &errs);
    if (jhas(j, "log")) {
        static const char *const log_keys[] = { "contains", "absent", NULL };

        if (check_keys(jget(j, "log"), log_keys, "log", &errs) == 0) {
            check_list(jget(j, "log"), "contains", 1, &errs);
            check_list(jget(j, "log"), "absent", 1, &errs);
        }
    }
    if (jhas(j, "file_contains")) {
        json_object *fc = jget(j, "file_contains");

        if (!json_object_is_type(fc, json_type_object)) {
            ember_buf_puts(&errs, "file_contains must be {path: text or [texts]}; ");
        } else {
            json_object_object_foreach(fc, fk, fv) {
                (void) fv;
                check_list(fc, fk, 1, &errs);
            }
        }
    }
    if (jhas(j, "file_count")) {
        json_object *fc = jget(j, "file_count");

        if (!json_object_is_type(fc, json_type_object)) {
            ember_buf_puts(&errs, "file_count must be {path: {text: count}}; ");
        } else {
            json_object_object_foreach(fc, fk, fv) {
                (void) fk;
                if (!json_object_is_type(fv, json_type_object)) {
                    ember_buf_puts(&errs, "file_count must be {path: {text: count}}; ");
                    break;
                }
            }
        }
    }
    if (jhas(j, "expect") && jhas(jget(j, "expect"), "cookies"))
        check_list(jget(j, "expect"), "cookies", 0, &errs);
    if (jhas(j, "env") && !json_object_is_type(jget(j, "env"), json_type_object))
        ember_buf_puts(&errs, "env must be an object; ");
    if (req) {
        check_keys(req, request_keys, "request", &errs);
        if (jstr(req, "path") == NULL)
            ember_buf_puts(&errs, "request.path is missing; ");
        if (jhas(req, "body") + jhas(req, "json") + jhas(req, "body_base64") +
            jhas(req, "body_size") > 1)
            ember_buf_puts(&errs, "give one of body, json, body_base64, body_size; ");
        fm = jget(j, "formats");
        if (fm) {
            size_t i;

            if (!json_object_is_type(fm, json_type_array) ||
                json_object_array_length(fm) == 0 ||
                json_object_array_length(fm) > MAX_FORMATS) {
                ember_buf_puts(&errs, "formats must be a list of 1 to 5 names; ");
            } else {
                c->nfmt = json_object_array_length(fm);
                for (i = 0; i < c->nfmt; i++) {
                    const char *s = json_object_get_string(json_object_array_get_idx(fm, i));

                    if (s == NULL || parse_format(s, &c->fmts[i]) != 0 ||
                        c->fmts[i].f == EMBER_APIGW_NONE)
                        ember_buf_printf(&errs, "unknown format \"%s\" (v1 v2 url alb alb-mv); ",
                                         s ? s : "?");
                }
            }
        } else {
            static const char *const dflt[] = { "v1", "v2", "url", "alb" };
            size_t i;

            c->nfmt = 4;
            for (i = 0; i < 4; i++)
                parse_format(dflt[i], &c->fmts[i]);
        }
    } else if (jhas(j, "event") || jhas(j, "raw_event")) {
        json_object *parsed = NULL;
        const char  *src = jstr(j, "source");
        int          mv = 0;

        if (jhas(j, "raw_event")) {
            const char *s = jstr(j, "raw_event");

            if (s == NULL) {
                ember_buf_puts(&errs, "raw_event must be a string; ");
            } else {
                c->event = ember_xstrdup(s);
                c->event_len = strlen(s);
            }
        } else if (json_object_is_type(ev, json_type_string)) {
            char *p = event_path(r, c, json_object_get_string(ev));

            if (read_file(p, &c->event, &c->event_len) != 0)
                ember_buf_printf(&errs, "event %s: %s; ", p, strerror(errno));
            free(p);
        } else if (json_object_is_type(ev, json_type_object)) {
            const char *s = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);

            c->event = ember_xstrdup(s);
            c->event_len = strlen(s);
        } else {
            ember_buf_puts(&errs, "event must be a file name or an object; ");
        }
        c->nfmt = 1;
        if (src) {
            if (parse_format(src, &c->fmts[0]) != 0)
                ember_buf_printf(&errs, "unknown source \"%s\"; ", src);
        } else {
            if (c->event && parse_json(c->event, c->event_len, &parsed, why, sizeof(why)) == 0) {
                c->fmts[0].f = ember_apigw_detect(parsed, &mv);
                c->fmts[0].multi_value = mv;
            }
            json_object_put(parsed);
            snprintf(c->fmts[0].name, sizeof(c->fmts[0].name), "%s%s",
                     ember_apigw_format_name(c->fmts[0].f),
                     c->fmts[0].f == EMBER_APIGW_ALB && mv ? "-mv" : "");
        }
        if (jhas(j, "raw_event") && src == NULL)
            snprintf(c->fmts[0].name, sizeof(c->fmts[0].name), "raw");
    } else {
        snprintf(c->fmts[0].name, sizeof(c->fmts[0].name), "exit");
    }
    {
        const char *fault = jstr(j, "runtime_fault");

        if (jhas(j, "runtime_fault") && (fault == NULL ||
            (strcmp(fault, "close") != 0 && strcmp(fault, "413") != 0 &&
             strcmp(fault, "500") != 0)))
            ember_buf_puts(&errs, "runtime_fault must be \"close\", \"413\" or \"500\"; ");
    }
    if (errs.len == 0) {
        ember_buf_free(&errs);
        return;
    }
bad:
    json_object_put(raw);
    c->error = ember_xasprintf("%s: %s", path, ember_buf_str(&errs));
    ember_buf_free(&errs);
}

static void free_case(struct tcase *c)
{
    free(c->path);
    free(c->name);
    free(c->dir);
    free(c->error);
    free(c->event);
    json_object_put(c->j);
}

/* ------------------------------------------------------------ events */

/* Append pairs of a {name: string|number|[...]} object to kv (names/values borrowed from o). */
static int add_pairs(json_object *o, struct ember_kv **kv, size_t *n, const char *what,
                     struct ember_buf *errs)
{
    if (o == NULL)
        return 0;
    if (!json_object_is_type(o, json_type_object)) {
        ember_buf_printf(errs, "request.%s must be an object; ", what);
        return -1;
    }
    {
        json_object_object_foreach(o, k, v) {
            size_t i, cnt = 1;
            int    arr = json_object_is_type(v, json_type_array);

            if (arr)
                cnt = json_object_array_length(v);
            for (i = 0; i < cnt; i++) {
                json_object *e = arr ? json_object_array_get_idx(v, i) : v;

                if (e == NULL || json_object_is_type(e, json_type_object) ||
                    json_object_is_type(e, json_type_array)) {
                    ember_buf_printf(errs, "request.%s.%s: a string or a list of strings; ",
                                     what, k);
                    return -1;
                }
                *kv = ember_xrealloc(*kv, (*n + 1) * sizeof(**kv));
                (*kv)[*n].name = k;
                (*kv)[*n].value = json_object_get_string(e);
                (*n)++;
            }
        }
    }
    return 0;
}

/* The event for a "request" case in format f. Caller frees. NULL with errs filled. */
static char *request_event(json_object *req, const struct format *f, const char *request_id,
                           size_t *len, struct ember_buf *errs)
{
    struct ember_apigw_request  r;
    struct ember_kv            *query = NULL, *headers = NULL;
    size_t                      nquery = 0, nheaders = 0, i;
    const char                **cookies = NULL;
    char                       *body = NULL, *method, *out = NULL;
    json_object                *ev, *v;

    memset(&r, 0, sizeof(r));
    method = ember_xstrdup(jstr(req, "method") ? jstr(req, "method") : "GET");
    for (i = 0; method[i]; i++)
        method[i] = (char) toupper((unsigned char) method[i]);
    r.method = method;
    r.path = jstr(req, "path");
    if (add_pairs(jget(req, "query"), &query, &nquery, "query", errs) != 0 ||
        add_pairs(jget(req, "headers"), &headers, &nheaders, "headers", errs) != 0)
        goto out;
    v = jget(req, "cookies");
    if (v) {
        if (!json_object_is_type(v, json_type_array)) {
            ember_buf_puts(errs, "request.cookies must be a list; ");
            goto out;
        }
        r.ncookies = json_object_array_length(v);
        cookies = ember_xcalloc(r.ncookies + 1, sizeof(*cookies));
        for (i = 0; i < r.ncookies; i++)
            cookies[i] = json_object_get_string(json_object_array_get_idx(v, i));
        r.cookies = cookies;
    }
    if (jhas(req, "body")) {
        v = jget(req, "body");
        body = ember_xstrdup(v ? json_object_get_string(v) : "");
        r.body = body;
        r.body_len = strlen(body);
    } else if (jhas(req, "json")) {
        int has_ct = 0;

        body = ember_xstrdup(jshow(jget(req, "json")));
        r.body = body;
        r.body_len = strlen(body);
        for (i = 0; i < nheaders; i++)
            if (strcasecmp(headers[i].name, "content-type") == 0)
                has_ct = 1;
        if (!has_ct) {
            headers = ember_xrealloc(headers, (nheaders + 1) * sizeof(*headers));
            headers[nheaders].name = "Content-Type";
            headers[nheaders].value = "application/json";
            nheaders++;
        }
    } else if (jhas(req, "body_base64")) {
        const char *s = jstr(req, "body_base64");

        if (s == NULL || b64_decode(s, &body, &r.body_len) != 0) {
            ember_buf_puts(errs, "request.body_base64 is not base64; ");
            goto out;
        }
        r.body = body;
        r.binary = 1;
    } else if (jhas(req, "body_size")) {
        int64_t n = json_object_get_int64(jget(req, "body_size"));

        if (n < 0 || n > 64 * 1024 * 1024) {
            ember_buf_puts(errs, "request.body_size must be 0..64 MiB; ");
            goto out;
        }
        body = ember_xmalloc((size_t) n + 1);
        memset(body, 'x', (size_t) n);
        body[n] = '\0';
        r.body = body;
        r.body_len = (size_t) n;
    }
    r.query = query;
    r.nquery = nquery;
    r.headers = headers;
    r.nheaders = nheaders;
    r.stage = jstr(req, "stage");
    r.source_ip = jstr(req, "source_ip");
    r.request_id = request_id;
    r.multi_value = f->multi_value;
    ev = ember_apigw_event(f->f, &r);
    if (ev == NULL) {
        ember_buf_printf(errs, "cannot build a %s event; ", f->name);
        goto out;
    }
    out = ember_xstrdup(json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
    *len = strlen(out);
    json_object_put(ev);
out:
    free(method);
    free(query);
    free(headers);
    free(cookies);
    free(body);
    return out;
}

/* ------------------------------------------------------------ the bootstrap */

static int child_alive(struct runner *r)
{
    int   st;
    pid_t p;

    if (r->pid <= 0 || r->exited)
        return 0;
    p = waitpid(r->pid, &st, WNOHANG);
    if (p == r->pid) {
        r->exited = 1;
        r->wstatus = st;
        return 0;
    }
    return 1;
}

static void describe_exit(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exited with code %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
                 WCOREDUMP(st) ? ", core dumped" : "");
    else
        snprintf(buf, len, "ended with wait status %d", st);
}

static void stop_bootstrap(struct runner *r)
{
    int64_t until;

    if (r->pid <= 0)
        return;
    if (child_alive(r)) {
        int64_t again = 0;

        /* again every 100 ms: a SIGTERM that lands between the bootstrap's
           GET and its recv() is not noticed until the next one */
        until = now_ms() + 2000;
        while (child_alive(r) && now_ms() < until) {
            if (now_ms() >= again) {
                kill(-r->pid, SIGTERM);
                again = now_ms() + 100;
            }
            ember_rtapi_pause(r->api, PAUSE_MS);
        }
    }
    kill(-r->pid, SIGKILL);          /* the group: anything it left behind */
    running_pid = 0;
    if (!r->exited) {
        waitpid(r->pid, &r->wstatus, 0);
        r->exited = 1;
    }
    r->pid = 0;
    ember_rtapi_reset(r->api);     /* its connections, invocation and init error */
    r->reported_ie = NULL;
}

static int env_name_is(const char *entry, const char *name)
{
    size_t n = strlen(name);

    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static void env_set(char ***envp, size_t *n, const char *name, const char *value)
{
    size_t i, j = 0;

    for (i = 0; i < *n; i++) {
        if (env_name_is((*envp)[i], name)) {
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

static int start_bootstrap(struct runner *r, json_object *env, struct test *t)
{
    char   **envp = NULL;
    size_t   n = 0, i;
    char     port[64];
    pid_t    pid;

    for (i = 0; environ[i]; i++) {
        envp = ember_xrealloc(envp, (n + 2) * sizeof(*envp));
        envp[n++] = ember_xstrdup(environ[i]);
    }
    if (envp == NULL)
        envp = ember_xcalloc(2, sizeof(*envp));
    envp[n] = NULL;
    snprintf(port, sizeof(port), "127.0.0.1:%u", ember_rtapi_port(r->api));
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
    r->exited = 0;
    r->wstatus = 0;
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        fail(t, "fork: %s", strerror(errno));
        for (i = 0; i < n; i++)
            free(envp[i]);
        free(envp);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        char *argv[] = { (char *) r->bootstrap, NULL };

        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);     /* never outlive a killed runner */
        signal(SIGPIPE, SIG_DFL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(r->log_fd, 1);
        dup2(r->log_fd, 2);
        execve(r->bootstrap, argv, envp);
        dprintf(2, "ember-test-api: cannot run %s: %s\n", r->bootstrap, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    r->pid = pid;
    running_pid = pid;
    for (i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
    return 0;
}

/* ------------------------------------------------------------ checks */

static int values_of(const struct ember_apigw_response *res, const char *name,
                     struct ember_buf *all)
{
    size_t i;
    int    n = 0;

    for (i = 0; i < res->nheaders; i++) {
        if (strcasecmp(res->headers[i].name, name) != 0)
            continue;
        if (n++ > 0)
            ember_buf_puts(all, " | ");
        ember_buf_puts(all, res->headers[i].value);
    }
    return n;
}

static void check_headers(struct test *t, json_object *want,
                          const struct ember_apigw_response *res)
{
    if (want == NULL)
        return;
    if (!json_object_is_type(want, json_type_object)) {
        fail(t, "expect.headers must be an object");
        return;
    }
    {
        json_object_object_foreach(want, name, v) {
            struct ember_buf all = EMBER_BUF_INIT;
            int              n = values_of(res, name, &all);

            if (v == NULL) {
                if (n > 0)
                    fail(t, "header %s: expected absent, got \"%s\"", name, ember_buf_str(&all));
            } else if (json_object_is_type(v, json_type_array)) {
                struct ember_buf exp = EMBER_BUF_INIT;
                size_t           i;

                for (i = 0; i < json_object_array_length(v); i++) {
                    if (i > 0)
                        ember_buf_puts(&exp, " | ");
                    ember_buf_puts(&exp, json_object_get_string(json_object_array_get_idx(v, i)));
                }
                if (strcmp(ember_buf_str(&exp), ember_buf_str(&all)) != 0)
                    fail(t, "header %s: expected \"%s\", got \"%s\"%s", name,
                         ember_buf_str(&exp), ember_buf_str(&all), n ? "" : " (absent)");
                ember_buf_free(&exp);
            } else {
                const char *s = json_object_get_string(v);
                size_t      i;
                int         found = 0;

                if (strcmp(s, "*") == 0) {
                    found = n > 0;
                } else {
                    for (i = 0; i < res->nheaders; i++)
                        if (strcasecmp(res->headers[i].name, name) == 0 &&
                            strcmp(res->headers[i].value, s) == 0)
                            found = 1;
                }
                if (!found)
                    fail(t, "header %s: expected \"%s\", got %s%s%s", name, s,
                         n ? "\"" : "", n ? ember_buf_str(&all) : "nothing", n ? "\"" : "");
            }
            ember_buf_free(&all);
        }
    }
}

/*
 * want is included in got: objects by key (got may have more), arrays as
 * a subsequence (in order, got may have more), anything else equal.
 */
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

            while (j < json_object_array_length(got) &&
                   !includes(w, json_object_array_get_idx(got, j)))
                j++;
            if (j >= json_object_array_length(got))
                return 0;
        }
        return 1;
    }
    return json_object_equal(want, got);
}

static void show_headers(struct test *t, const struct ember_apigw_response *res)
{
    size_t i;

    for (i = 0; i < res->nheaders; i++)
        note(t, "  %s: %s", res->headers[i].name, res->headers[i].value);
}

static void check_expect(struct test *t, json_object *exp, const struct format *f,
                         const struct ember_rtapi_post *p)
{
    struct ember_apigw_response  res;
    struct ember_error           err;
    json_object                 *v;
    int                          before = t->failed;

    if (f->f == EMBER_APIGW_NONE) {
        fail(t, "cannot read the response as HTTP: the event has no HTTP source "
                "(set \"source\")");
        note_block(t, "  ", p->body, p->len, 2000);
        return;
    }
    ember_error_clear(&err);
    if (ember_apigw_response(f->f, f->multi_value, p->body, p->len, &res, &err) != EMBER_OK) {
        fail(t, "%s would answer 502: %s", f->name, err.message);
        note(t, "the response the bootstrap posted:");
        note_block(t, "  ", p->body, p->len, 2000);
        return;
    }
    v = jget(exp, "status");
    if (v && json_object_get_int(v) != res.status)
        fail(t, "status: expected %d, got %d", json_object_get_int(v), res.status);
    if (jhas(exp, "status_description")) {
        const char *want = jstr(exp, "status_description");
        const char *got = res.status_description;

        if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
            fail(t, "statusDescription: expected %s, got %s", want ? want : "none",
                 got ? got : "none");
    }
    check_headers(t, jget(exp, "headers"), &res);
    if (jhas(exp, "body")) {
        json_object *want = jget(exp, "body"), *got = NULL;
        char         why[160];

        if (parse_json(res.body, res.body_len, &got, why, sizeof(why)) != 0) {
            fail(t, "body: expected JSON %s, got non-JSON (%s):", jshow(want), why);
            note_block(t, "  ", res.body, res.body_len, 1500);
        } else if (!json_object_equal(want, got)) {
            fail(t, "body: expected %s", jshow(want));
            note(t, "        got      %.2000s", jshow(got));
        }
        json_object_put(got);
    }
    if (jhas(exp, "body_includes")) {
        json_object *want = jget(exp, "body_includes"), *got = NULL;
        char         why[160];

        if (parse_json(res.body, res.body_len, &got, why, sizeof(why)) != 0) {
            fail(t, "body_includes: expected JSON including %s, got non-JSON (%s):", jshow(want),
                 why);
            note_block(t, "  ", res.body, res.body_len, 1500);
        } else if (!includes(want, got)) {
            fail(t, "body_includes: expected a body including %s", jshow(want));
            note(t, "        got %.3000s", jshow(got));
        }
        json_object_put(got);
    }
    if (jhas(exp, "body_text")) {
        const char *want = jstr(exp, "body_text");
        size_t      wlen = want ? (size_t) json_object_get_string_len(jget(exp, "body_text")) : 0;

        if (want == NULL || wlen != res.body_len || memcmp(want, res.body, wlen) != 0) {
            fail(t, "body_text: expected \"%s\", got (%zu bytes):", want ? want : "?",
                 res.body_len);
            note_block(t, "  ", res.body, res.body_len, 1500);
        }
    }
    if (jhas(exp, "body_contains")) {
        const char *want = jstr(exp, "body_contains");

        if (want == NULL || memmem(res.body, res.body_len, want, strlen(want)) == NULL) {
            fail(t, "body_contains: \"%s\" not in the body:", want ? want : "?");
            note_block(t, "  ", res.body, res.body_len, 1500);
        }
    }
    v = jget(exp, "cookies");
    if (jhas(exp, "cookies")) {
        struct ember_buf got = EMBER_BUF_INIT, want = EMBER_BUF_INIT;
        size_t           i;

        values_of(&res, "set-cookie", &got);
        for (i = 0; v && i < json_object_array_length(v); i++) {
            if (i > 0)
                ember_buf_puts(&want, " | ");
            ember_buf_puts(&want, json_object_get_string(json_object_array_get_idx(v, i)));
        }
        if (strcmp(ember_buf_str(&want), ember_buf_str(&got)) != 0)
            fail(t, "cookies: expected [%s], got [%s]", ember_buf_str(&want),
                 ember_buf_str(&got));
        ember_buf_free(&got);
        ember_buf_free(&want);
    }
    v = jget(exp, "is_base64");
    if (jhas(exp, "is_base64") && json_object_get_boolean(v) != res.base64)
        fail(t, "is_base64: expected %s, got %s", json_object_get_boolean(v) ? "true" : "false",
             res.base64 ? "true" : "false");
    if (t->failed && !before) {
        note(t, "the response (%s): %d, %zu headers:", f->name, res.status, res.nheaders);
        show_headers(t, &res);
    }
    ember_apigw_response_clear(&res);
}

/* errorType exact, errorMessage substring: against the error POST. */
static void check_error(struct test *t, json_object *exp, const struct ember_rtapi_post *p)
{
    json_object *body = NULL;
    const char  *type, *msg;
    char         why[160];

    if (parse_json(p->body, p->len, &body, why, sizeof(why)) != 0 || body == NULL) {
        fail(t, "the error POST is not JSON (%s):", why);
        note_block(t, "  ", p->body, p->len, 1000);
        return;
    }
    type = jstr(body, "errorType");
    msg = jstr(body, "errorMessage");
    if (jstr(exp, "errorType")) {
        if (type == NULL || strcmp(type, jstr(exp, "errorType")) != 0)
            fail(t, "errorType: expected %s, got %s", jstr(exp, "errorType"),
                 type ? type : "none");
        if (p->error_type && strcmp(p->error_type, jstr(exp, "errorType")) != 0)
            fail(t, "Lambda-Runtime-Function-Error-Type: expected %s, got %s",
                 jstr(exp, "errorType"), p->error_type);
    }
    if (jstr(exp, "errorMessage") && (msg == NULL || strstr(msg, jstr(exp, "errorMessage")) == NULL))
        fail(t, "errorMessage: expected to contain \"%s\", got \"%s\"", jstr(exp, "errorMessage"),
             msg ? msg : "");
    if (t->failed)
        note(t, "the error posted: %s", jshow(body));
    json_object_put(body);
}

static void check_strings(struct test *t, json_object *list, const char *text, size_t len,
                          int present, const char *what)
{
    size_t i, n;

    if (list == NULL)
        return;
    if (json_object_is_type(list, json_type_string)) {
        const char *s = json_object_get_string(list);

        if ((memmem(text, len, s, strlen(s)) != NULL) != present)
            fail(t, "%s: \"%s\" %s", what, s, present ? "not found" : "found");
        return;
    }
    n = json_object_array_length(list);
    for (i = 0; i < n; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(list, i));

        if (s == NULL)
            continue;
        if ((memmem(text, len, s, strlen(s)) != NULL) != present) {
            fail(t, "%s: \"%s\" %s", what, s, present ? "not found" : "found");
            if (!present) {
                /* show the offending lines */
                const char *p = text, *end = text + len;

                while (p < end) {
                    const char *nl = memchr(p, '\n', (size_t) (end - p));
                    size_t      ln = nl ? (size_t) (nl - p) : (size_t) (end - p);

                    if (memmem(p, ln, s, strlen(s)) != NULL)
                        note(t, "  %.*s", (int) ln, p);
                    p += ln + 1;
                }
            }
        }
    }
}

static void check_maps(struct test *t, struct runner *r, json_object *c)
{
    char   path[64], *maps;
    size_t len;

    if (!jhas(c, "mapped") && !jhas(c, "not_mapped"))
        return;
    if (!child_alive(r)) {
        fail(t, "mapped/not_mapped: the bootstrap is not running");
        return;
    }
    snprintf(path, sizeof(path), "/proc/%d/maps", (int) r->pid);
    if (read_file(path, &maps, &len) != 0) {
        fail(t, "%s: %s", path, strerror(errno));
        return;
    }
    check_strings(t, jget(c, "mapped"), maps, len, 1, "mapped");
    check_strings(t, jget(c, "not_mapped"), maps, len, 0, "not_mapped");
    free(maps);
}

static void check_files(struct test *t, json_object *c)
{
    json_object *v;
    size_t       i;

    v = jget(c, "file_absent");
    for (i = 0; v && i < json_object_array_length(v); i++) {
        const char *p = json_object_get_string(json_object_array_get_idx(v, i));

        if (access(p, F_OK) == 0)
            fail(t, "file_absent: %s exists", p);
    }
    v = jget(c, "file_contains");
    if (v && json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, p, want) {
            char   *text;
            size_t  len;

            if (read_file(p, &text, &len) != 0) {
                fail(t, "file_contains: %s: %s", p, strerror(errno));
                continue;
            }
            check_strings(t, want, text, len, 1, p);
            free(text);
        }
    }
    v = jget(c, "file_count");
    if (v) {
        json_object_object_foreach(v, p, counts) {
            char   *text;
            size_t  len;

            if (read_file(p, &text, &len) != 0) {
                fail(t, "file_count: %s: %s", p, strerror(errno));
                continue;
            }
            {
                json_object_object_foreach(counts, what, want) {
                    const char *at = text, *end = text + len;
                    size_t      wl = strlen(what);
                    int         got = 0;

                    while (wl > 0 && at < end) {
                        const char *hit = memmem(at, (size_t) (end - at), what, wl);

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

/*
 * "shell": sh -c CMD in the runner's directory and environment, before
 * the case's first test; its output goes to the diagnostics.  0 if it
 * exited 0 within 120 s.
 */
static int run_shell(struct test *t, const char *cmd)
{
    const char *tmp = getenv("TMPDIR");
    char       *path = ember_xasprintf("%s/ember-test-shell.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char       *out = NULL;
    size_t      len = 0;
    int         fd = mkstemp(path), st = 0, rc = -1;
    pid_t       pid;
    int64_t     until = now_ms() + 120000;

    if (fd < 0) {
        fail(t, "shell: mkstemp %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    unlink(path);
    free(path);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);

        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
        _exit(127);
    }
    if (pid < 0) {
        fail(t, "shell: fork: %s", strerror(errno));
        close(fd);
        return -1;
    }
    setpgid(pid, pid);
    for (;;) {
        pid_t p = waitpid(pid, &st, WNOHANG);

        if (p == pid) {
            rc = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
            break;
        }
        if (now_ms() > until) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail(t, "shell: `%s` still running after 120 s; killed", cmd);
            break;
        }
        usleep(20000);
    }
    kill(-pid, SIGKILL);     /* whatever it left running in its group */
    {
        struct ember_buf b = EMBER_BUF_INIT;
        char             chunk[4096];
        ssize_t          n;

        lseek(fd, 0, SEEK_SET);
        while ((n = read(fd, chunk, sizeof(chunk))) > 0)
            ember_buf_append(&b, chunk, (size_t) n);
        out = b.data;
        len = b.len;
    }
    close(fd);
    if (rc != 0 && !t->failed) {
        char how[128];

        describe_exit(st, how, sizeof(how));
        fail(t, "shell: `%s` %s", cmd, how);
    }
    if (out && len > 0) {
        note(t, "shell output:");
        note_block(t, "  > ", out, len, 2000);
    }
    free(out);
    return rc;
}

/* ------------------------------------------------------------ one test */

static void make_request_id(struct runner *r, char *buf, size_t len)
{
    r->counter++;
    snprintf(buf, len, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned) getpid(),
             (unsigned) (r->counter & 0xffff), (unsigned) ((r->counter >> 16) & 0xfff),
             (unsigned) (epoch_ms() & 0xfff), (unsigned long long) (epoch_ms() & 0xffffffffffffULL));
}

static void make_trace_id(struct runner *r, char *buf, size_t len)
{
    snprintf(buf, len, "Root=1-%08llx-%016lx%08x;Parent=%016lx;Sampled=0",
             (unsigned long long) (epoch_ms() / 1000), r->counter * 2654435761UL,
             (unsigned) getpid(), r->counter);
}

/* The Runtime API now. */
static struct ember_rtapi_state api_state(struct runner *r)
{
    struct ember_rtapi_state st;

    ember_rtapi_state(r->api, &st);
    return st;
}

/* What became of the invocation. */
enum outcome { OUT_NONE = 0, OUT_RESPONSE, OUT_ERROR, OUT_SKIPPED, OUT_DIED, OUT_TIMEOUT };

/* Decide from the POSTs so far; *which: the deciding POST's index (RESPONSE/ERROR). */
static enum outcome decide(struct runner *r, int want_error, size_t *which)
{
    size_t i, n = api_state(r).nposts;

    for (i = 0; i < n; i++) {
        const struct ember_rtapi_post *p = ember_rtapi_post(r->api, i);

        if (p->kind == EMBER_RTAPI_POST_ERROR) {
            *which = i;
            return OUT_ERROR;
        }
        if (p->kind == EMBER_RTAPI_POST_RESPONSE) {
            if (p->status == 202 || !want_error) {
                *which = i;
                return OUT_RESPONSE;
            }
            /* refused or dropped: the bootstrap should now post an error */
        }
    }
    return OUT_NONE;
}

static void run_exit_test(struct runner *r, struct test *t, json_object *c, int64_t deadline,
                          int timeout)
{
    json_object                   *exp = jget(c, "expect_exit");
    const struct ember_rtapi_post *ie;
    char                           how[128];
    int64_t                        grace = 0;

    for (;;) {
        ember_rtapi_pause(r->api, PAUSE_MS);
        if (api_state(r).idle) {
            fail(t, "expected the bootstrap to exit, but it asked for an event");
            t->restart = 1;
            return;
        }
        if (!child_alive(r)) {
            /* let an init/error still in the socket be read */
            if (grace == 0)
                grace = now_ms() + 300;
            if (ember_rtapi_init_error(r->api) != NULL || now_ms() > grace)
                break;
        }
        if (now_ms() > deadline) {
            fail(t, "the bootstrap did not exit within %d ms", timeout);
            t->restart = 1;
            return;
        }
    }
    describe_exit(r->wstatus, how, sizeof(how));
    if (jhas(exp, "code")) {
        int want = json_object_get_int(jget(exp, "code"));

        if (!WIFEXITED(r->wstatus) || WEXITSTATUS(r->wstatus) != want)
            fail(t, "exit: expected code %d, the bootstrap %s", want, how);
    } else if (!WIFEXITED(r->wstatus) || WEXITSTATUS(r->wstatus) == 0) {
        fail(t, "exit: expected a non-zero code, the bootstrap %s", how);
    }
    ie = ember_rtapi_init_error(r->api);
    r->reported_ie = ie;
    if (jstr(exp, "init_error")) {
        json_object *body = NULL;
        const char  *type = NULL;
        char         why[160];

        if (ie == NULL) {
            fail(t, "no POST /runtime/init/error (expected %s)", jstr(exp, "init_error"));
        } else {
            if (parse_json(ie->body, ie->len, &body, why, sizeof(why)) == 0)
                type = jstr(body, "errorType");
            if (type == NULL || strcmp(type, jstr(exp, "init_error")) != 0) {
                fail(t, "init error: expected errorType %s, got:", jstr(exp, "init_error"));
                note_block(t, "  ", ie->body, ie->len, 1500);
            }
            if (ie->error_type && strcmp(ie->error_type, jstr(exp, "init_error")) != 0)
                fail(t, "Lambda-Runtime-Function-Error-Type: expected %s, got %s",
                     jstr(exp, "init_error"), ie->error_type);
            json_object_put(body);
        }
    }
}

/* A case's "runtime_fault" (checked by load_case). */
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

static void run_invoke_test(struct runner *r, struct test *t, struct tcase *tc,
                            const struct format *f, int64_t deadline, int timeout)
{
    json_object                    *c = tc->j;
    struct ember_rtapi_invocation   inv;
    const struct ember_rtapi_post  *post = NULL;
    const struct ember_rtapi_post  *ie;
    struct ember_error              err;
    size_t                          which = 0, k, nposts;
    struct ember_buf                errs = EMBER_BUF_INIT;
    enum outcome                    out = OUT_NONE;
    char                            rid[64], trace[128], how[128];
    char                           *event = NULL;
    size_t                          event_len = 0;
    int                             want_error = jhas(c, "expect_error");
    int64_t                         dl = 30000;

    make_request_id(r, rid, sizeof(rid));
    make_trace_id(r, trace, sizeof(trace));
    if (tc->event) {
        event = ember_xmalloc(tc->event_len + 1);
        memcpy(event, tc->event, tc->event_len + 1);
        event_len = tc->event_len;
    } else {
        event = request_event(jget(c, "request"), f, rid, &event_len, &errs);
        if (event == NULL) {
            fail(t, "%s", ember_buf_str(&errs));
            ember_buf_free(&errs);
            return;
        }
    }
    ember_buf_free(&errs);
    if (jhas(c, "deadline_ms"))
        dl = json_object_get_int64(jget(c, "deadline_ms"));
    memset(&inv, 0, sizeof(inv));
    inv.request_id = rid;
    inv.event = event;
    inv.event_len = event_len;
    inv.deadline_ms = epoch_ms() + dl;
    inv.function_arn = FUNCTION_ARN;
    inv.trace_id = trace;
    inv.fault = fault_of(jstr(c, "runtime_fault"));
    ember_rtapi_withdraw(r->api);     /* the last one, answered or not */
    ember_error_clear(&err);
    if (ember_rtapi_offer(r->api, &inv, NULL, &err) != EMBER_OK) {
        fail(t, "%s", err.message);
        free(event);
        return;
    }
    if (r->verbose)
        note(t, "event (%zu bytes): %.3000s", event_len, event);

    for (;;) {
        struct ember_rtapi_state st;

        ember_rtapi_pause(r->api, PAUSE_MS);
        out = decide(r, want_error, &which);
        if (out != OUT_NONE)
            break;
        st = api_state(r);
        if (st.delivered && st.idle) {
            out = OUT_SKIPPED;
            break;
        }
        if (!child_alive(r)) {
            /* a POST may still be in the socket */
            int64_t grace = now_ms() + 200;

            while (now_ms() < grace && (out = decide(r, want_error, &which)) == OUT_NONE)
                ember_rtapi_pause(r->api, PAUSE_MS);
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

        while (now_ms() < until && child_alive(r) && !api_state(r).idle)
            ember_rtapi_pause(r->api, 10);
        if (!child_alive(r)) {
            describe_exit(r->wstatus, how, sizeof(how));
            fail(t, "the bootstrap %s after answering", how);
        }
    }

    if (out == OUT_RESPONSE || out == OUT_ERROR)
        post = ember_rtapi_post(r->api, which);
    switch (out) {
    case OUT_RESPONSE:
        if (post->status == 0)
            note(t, "(the Runtime API dropped the connection of the response POST)");
        else if (post->status != 202)
            note(t, "(the Runtime API answered the response POST with %u)", post->status);
        nposts = api_state(r).nposts;
        for (k = which + 1; k < nposts; k++) {
            const struct ember_rtapi_post *p = ember_rtapi_post(r->api, k);

            note(t, "then it posted %s: %.300s",
                 p->kind == EMBER_RTAPI_POST_ERROR ? "an invocation error" : "a response again",
                 p->body);
        }
        if (want_error) {
            fail(t, "expected an invocation error %s, got a response:",
                 jshow(jget(c, "expect_error")));
            note_block(t, "  ", post->body, post->len, 2000);
        } else if (jhas(c, "expect")) {
            check_expect(t, jget(c, "expect"), f, post);
        }
        break;
    case OUT_ERROR:
        if (want_error) {
            check_error(t, jget(c, "expect_error"), post);
        } else {
            fail(t, "expected a response, got an invocation error:");
            note_block(t, "  ", post->body, post->len, 2000);
        }
        break;
    case OUT_SKIPPED:
        fail(t, "the bootstrap asked for the next event without answering this one");
        break;
    case OUT_DIED:
        describe_exit(r->wstatus, how, sizeof(how));
        fail(t, "the bootstrap %s before answering%s", how,
             api_state(r).delivered ? "" : " (it never asked for the event)");
        t->restart = 1;
        break;
    case OUT_TIMEOUT:
        fail(t, "no answer within %d ms%s", timeout,
             api_state(r).delivered ? "" : " (the bootstrap never asked for the event)");
        t->restart = 1;
        break;
    default:
        break;
    }
    ie = ember_rtapi_init_error(r->api);
    if (ie != NULL && ie != r->reported_ie) {
        fail(t, "the bootstrap posted an init error:");
        note_block(t, "  ", ie->body, ie->len, 1500);
        r->reported_ie = ie;
    }
    free(event);
}

/* Run the test of case tc in format fi; prints its TAP line. Returns 1 if it passed. */
static int run_test(struct runner *r, struct tcase *tc, size_t fi, int n)
{
    struct test   t;
    json_object  *c = tc->j;
    off_t         log_off = file_size(r->log_fd);
    int64_t       t0 = now_ms(), deadline;
    int           timeout = r->timeout_ms;
    char         *log = NULL;
    size_t        log_len = 0;

    memset(&t, 0, sizeof(t));
    if (tc->error) {
        fail(&t, "%s", tc->error);
        goto report;
    }
    if (jhas(c, "timeout_ms"))
        timeout = json_object_get_int(jget(c, "timeout_ms"));
    deadline = t0 + timeout;

    if (fi == 0 && jstr(c, "shell") && run_shell(&t, jstr(c, "shell")) != 0)
        goto report;
    if (jhas(c, "remove_files")) {
        json_object *v = jget(c, "remove_files");
        size_t       i;

        for (i = 0; i < json_object_array_length(v); i++)
            unlink(json_object_get_string(json_object_array_get_idx(v, i)));
    }
    if ((jhas(c, "fresh") && json_object_get_boolean(jget(c, "fresh"))) || jhas(c, "env") ||
        jhas(c, "expect_exit") || !child_alive(r)) {
        stop_bootstrap(r);
        log_off = file_size(r->log_fd);
        if (start_bootstrap(r, jget(c, "env"), &t) != 0)
            goto report;
    }
    ember_rtapi_clear_notes(r->api);
    if (jhas(c, "expect_exit")) {
        ember_rtapi_withdraw(r->api);
        run_exit_test(r, &t, c, deadline, timeout);
    } else {
        run_invoke_test(r, &t, tc, &tc->fmts[fi], deadline, timeout);
    }

    log = read_from(r->log_path, log_off, &log_len);
    if (jhas(c, "log")) {
        json_object *l = jget(c, "log");

        check_strings(&t, jget(l, "contains"), log, log_len, 1, "log");
        check_strings(&t, jget(l, "absent"), log, log_len, 0, "log");
    }
    if (!t.restart)
        check_maps(&t, r, c);
    check_files(&t, c);

report:
    printf("%s %d - %s [%s]\n", t.failed ? "not ok" : "ok", n, tc->name, tc->fmts[fi].name);
    if (t.failed || r->verbose) {
        char *notes = ember_rtapi_notes(r->api);

        if (c && jstr(c, "description"))
            note(&t, "case: %s", jstr(c, "description"));
        if (*notes) {
            note(&t, "runtime API:");
            note_block(&t, "  ", notes, strlen(notes), 2000);
        }
        free(notes);
        if (log) {
            if (log_len == 0) {
                note(&t, "bootstrap stderr during the test: (nothing)");
            } else {
                note(&t, "bootstrap stderr during the test:");
                note_block(&t, "  | ", log, log_len, TAIL_BYTES);
            }
        }
        note(&t, "(%lld ms)", (long long) (now_ms() - t0));
        {
            const char *d = ember_buf_str(&t.diag);

            while (*d) {
                const char *nl = strchr(d, '\n');
                size_t      ln = nl ? (size_t) (nl - d) : strlen(d);

                printf("# %.*s\n", (int) ln, d);
                d += ln + (nl ? 1 : 0);
            }
        }
    }
    fflush(stdout);
    if (t.restart)
        stop_bootstrap(r);
    free(log);
    ember_buf_free(&t.diag);
    return !t.failed;
}

/* ------------------------------------------------------------ main */

static void on_signal(int sig)
{
    if (running_pid > 0)
        kill(-running_pid, SIGKILL);
    if (temp_log)
        unlink(temp_log);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ember-test-api --bootstrap PATH [--keep-going] [--timeout SECONDS]\n"
            "                      [--verbose] [--log FILE] CASE.json...\n"
            "Runs route-level cases against the bootstrap through a Runtime API on\n"
            "127.0.0.1 and prints TAP.  Without --keep-going it stops at the first failure\n"
            "(\"Bail out!\").  Events named by a case are looked up in $EMBER_EVENTS_DIR,\n"
            "then next to the case.  --log keeps the bootstrap's stderr in FILE.\n");
}

int main(int argc, char **argv)
{
    struct runner       r;
    struct ember_error  err;
    struct tcase       *cases;
    size_t              ncases = 0, i, j, plan = 0;
    int                 failed = 0, n = 0, stop = 0;
    const char         *log_arg = NULL;

    memset(&r, 0, sizeof(r));
    r.timeout_ms = 10000;
    r.events_dir = getenv("EMBER_EVENTS_DIR");
    cases = ember_xcalloc((size_t) argc, sizeof(*cases));
    for (i = 1; i < (size_t) argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--bootstrap") == 0 && i + 1 < (size_t) argc) {
            r.bootstrap = argv[++i];
        } else if (strcmp(a, "--keep-going") == 0) {
            r.keep_going = 1;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            r.verbose = 1;
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < (size_t) argc) {
            r.timeout_ms = (int) (atof(argv[++i]) * 1000);
            if (r.timeout_ms <= 0) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(a, "--log") == 0 && i + 1 < (size_t) argc) {
            log_arg = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ember-test-api: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else {
            load_case(&r, &cases[ncases++], a);
        }
    }
    if (r.bootstrap == NULL || ncases == 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGHUP, on_signal);

    if (log_arg) {
        r.log_path = ember_xstrdup(log_arg);
        r.log_fd = open(log_arg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    } else {
        const char *tmp = getenv("TMPDIR");

        r.log_path = ember_xasprintf("%s/ember-test-api.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        r.log_fd = mkstemp(r.log_path);
        r.log_is_temp = 1;
        temp_log = r.log_path;
        if (r.log_fd >= 0) {
            fcntl(r.log_fd, F_SETFD, FD_CLOEXEC);
            fcntl(r.log_fd, F_SETFL, O_APPEND);
        }
    }
    if (r.log_fd < 0) {
        printf("1..0 # SKIP cannot create the bootstrap's log %s: %s\n", r.log_path,
               strerror(errno));
        return 1;
    }
    ember_error_clear(&err);
    if (ember_rtapi_start(&r.api, 0, &err) != EMBER_OK) {
        printf("Bail out! %s\n", err.message);
        return 1;
    }
    ember_rtapi_set_max_response(r.api, MAX_RESPONSE);

    for (i = 0; i < ncases; i++)
        plan += cases[i].nfmt;
    printf("1..%zu\n", plan);
    fflush(stdout);
    for (i = 0; i < ncases && !stop; i++) {
        for (j = 0; j < cases[i].nfmt && !stop; j++) {
            if (!run_test(&r, &cases[i], j, ++n)) {
                failed++;
                if (!r.keep_going) {
                    printf("Bail out! %s [%s] failed (--keep-going runs every case)\n",
                           cases[i].name, cases[i].fmts[j].name);
                    stop = 1;
                }
            }
        }
    }
    stop_bootstrap(&r);
    ember_rtapi_stop(r.api);
    close(r.log_fd);
    if (r.log_is_temp)
        unlink(r.log_path);
    temp_log = NULL;
    free(r.log_path);
    for (i = 0; i < ncases; i++)
        free_case(&cases[i]);
    free(cases);
    fflush(stdout);
    return failed ? 1 : 0;
}
