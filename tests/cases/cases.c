/*
 * cases.c - the route-level cases, once: load, expand ${VAR}, run each
 * test through a transport, check, print TAP (see cases.h).
 */
#define _GNU_SOURCE 1   /* memmem, strsignal */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cases.h"
#include "event.h"
#include "pool.h"
#include "xalloc.h"

#define TAIL_BYTES     3000      /* of the function's stderr, on a failure */
#define SHELL_MS       120000    /* a case's "shell" gets this long */

/* ------------------------------------------------------------ diagnostics */

void ember_case_fail(struct ember_case_test *t, const char *fmt, ...)
{
    va_list ap;

    t->failed = 1;
    va_start(ap, fmt);
    ember_buf_vprintf(&t->diag, fmt, ap);
    va_end(ap);
    ember_buf_puts(&t->diag, "\n");
}

void ember_case_note(struct ember_case_test *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_buf_vprintf(&t->diag, fmt, ap);
    va_end(ap);
    ember_buf_puts(&t->diag, "\n");
}

void ember_case_note_block(struct ember_case_test *t, const char *prefix, const char *text,
                           size_t len, size_t max)
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
        size_t      n = nl ? (size_t) (nl - p) : (size_t) (end - p), i;

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

/* ------------------------------------------------------------ small helpers */

int64_t ember_case_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ember_case_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

int ember_case_read_file(const char *path, char **out, size_t *len)
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

    if (ember_case_read_file(path, &all, &n) != 0) {
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

    return fstat(fd, &st) == 0 ? st.st_size : 0;
}

int ember_case_parse_json(const char *s, size_t len, json_object **out, char *why, size_t whylen)
{
    struct json_tokener     *tok;
    enum json_tokener_error  jerr;
    json_object             *o;
    char                    *copy;
    size_t                   end;

    *out = NULL;
    copy = ember_xstrndup(s, len);
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

void ember_case_describe_exit(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exited with code %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
                 WCOREDUMP(st) ? ", core dumped" : "");
    else
        snprintf(buf, len, "ended with wait status %d", st);
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
        const char *close, *v;
        char       *name, *dflt;

        if (p[0] != '$' || p[1] != '{') {
            ember_buf_append(&b, p++, 1);
            continue;
        }
        close = strchr(p + 2, '}');
        if (close == NULL) {
            ember_buf_puts(&b, p);
            break;
        }
        name = ember_xstrndup(p + 2, (size_t) (close - p - 2));
        dflt = strstr(name, ":-");
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
        p = close + 1;
    }
    return b.data ? b.data : ember_xstrdup("");      /* the buffer is the caller's now */
}

/* A copy of o with every string (values and keys) expanded. Returns a new object. */
static json_object *expand_tree(json_object *o, struct ember_buf *errs)
{
    json_object *r;
    size_t       i;
    char        *s;

    switch (json_object_get_type(o)) {
    case json_type_string:
        if (strstr(json_object_get_string(o), "${") == NULL)
            return json_object_get(o);     /* as is: may hold NUL bytes */
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

                json_object_object_add(r, key, v ? expand_tree(v, errs) : NULL);
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

/* ------------------------------------------------------------ loading a case */

static const char *const case_keys[] = {
    "description", "fresh", "env", "request", "formats", "event", "source", "raw_event",
    "deadline_ms", "runtime_fault", "expect", "expect_error", "expect_exit", "log",
    "mapped", "not_mapped", "file_absent", "file_contains", "file_count", "remove_files",
    "timeout_ms", "shell", "repeat", NULL
};
static const char *const request_keys[] = {
    "method", "path", "query", "headers", "cookies", "body", "json", "body_base64",
    "body_size", "stage", "source_ip", NULL
};
static const char *const expect_keys[] = {
    "status", "headers", "body", "body_includes", "body_text", "body_contains", "cookies",
    "is_base64", "status_description", NULL
};
static const char *const log_keys[] = { "contains", "absent", NULL };

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

/* "v1", "v2", "url", "alb", "alb-mv", "none" */
static int parse_format(const char *name, struct ember_case_format *f)
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
static char *event_path(const char *events_dir, const struct ember_case *c, const char *name)
{
    char *p;

    if (name[0] == '/')
        return ember_xstrdup(name);
    if (events_dir) {
        p = ember_xasprintf("%s/%s", events_dir, name);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    return ember_xasprintf("%s/%s", c->dir, name);
}

/* The shape of everything but the request and the event. */
static void check_case(json_object *j, struct ember_buf *errs)
{
    int n = jhas(j, "request") + jhas(j, "event") + jhas(j, "raw_event");

    if (n > 1)
        ember_buf_puts(errs, "give one of request, event, raw_event; ");
    if (n == 0 && !jhas(j, "expect_exit"))
        ember_buf_puts(errs, "no request, event or raw_event; ");
    if (jhas(j, "expect") + jhas(j, "expect_error") + jhas(j, "expect_exit") > 1)
        ember_buf_puts(errs, "give one of expect, expect_error, expect_exit; ");
    if (jhas(j, "expect")) {
        check_keys(jget(j, "expect"), expect_keys, "expect", errs);
        if (jhas(jget(j, "expect"), "cookies"))
            check_list(jget(j, "expect"), "cookies", 0, errs);
    }
    check_list(j, "mapped", 1, errs);
    check_list(j, "not_mapped", 1, errs);
    check_list(j, "file_absent", 0, errs);
    check_list(j, "remove_files", 0, errs);
    if (jhas(j, "log") && check_keys(jget(j, "log"), log_keys, "log", errs) == 0) {
        check_list(jget(j, "log"), "contains", 1, errs);
        check_list(jget(j, "log"), "absent", 1, errs);
    }
    if (jhas(j, "file_contains")) {
        json_object *fc = jget(j, "file_contains");

        if (!json_object_is_type(fc, json_type_object)) {
            ember_buf_puts(errs, "file_contains must be {path: text or [texts]}; ");
        } else {
            json_object_object_foreach(fc, fk, fv) {
                (void) fv;
                check_list(fc, fk, 1, errs);
            }
        }
    }
    if (jhas(j, "file_count")) {
        json_object *fc = jget(j, "file_count");
        int          ok = json_object_is_type(fc, json_type_object);

        if (ok) {
            json_object_object_foreach(fc, fk, fv) {
                (void) fk;
                if (!json_object_is_type(fv, json_type_object))
                    ok = 0;
            }
        }
        if (!ok)
            ember_buf_puts(errs, "file_count must be {path: {text: count}}; ");
    }
    if (jhas(j, "env") && !json_object_is_type(jget(j, "env"), json_type_object))
        ember_buf_puts(errs, "env must be an object; ");
    if (jhas(j, "repeat") && (!json_object_is_type(jget(j, "repeat"), json_type_int) ||
                              json_object_get_int(jget(j, "repeat")) < 1))
        ember_buf_puts(errs, "repeat must be a number from 1 on; ");
    if (jhas(j, "runtime_fault")) {
        const char *fault = jstr(j, "runtime_fault");

        if (fault == NULL || (strcmp(fault, "close") != 0 && strcmp(fault, "413") != 0 &&
                              strcmp(fault, "500") != 0))
            ember_buf_puts(errs, "runtime_fault must be \"close\", \"413\" or \"500\"; ");
    }
}

/* A "request" case: its formats. */
static void load_formats(struct ember_case *c, json_object *req, struct ember_buf *errs)
{
    static const char *const dflt[] = { "v1", "v2", "url", "alb" };
    json_object *fm = jget(c->j, "formats");
    size_t       i;

    check_keys(req, request_keys, "request", errs);
    if (jstr(req, "path") == NULL)
        ember_buf_puts(errs, "request.path is missing; ");
    if (jhas(req, "body") + jhas(req, "json") + jhas(req, "body_base64") +
        jhas(req, "body_size") > 1)
        ember_buf_puts(errs, "give one of body, json, body_base64, body_size; ");
    if (fm == NULL) {
        c->nfmt = 4;
        for (i = 0; i < 4; i++)
            parse_format(dflt[i], &c->fmts[i]);
        return;
    }
    if (!json_object_is_type(fm, json_type_array) || json_object_array_length(fm) == 0 ||
        json_object_array_length(fm) > EMBER_CASE_MAX_FORMATS) {
        ember_buf_puts(errs, "formats must be a list of 1 to 5 names; ");
        return;
    }
    c->nfmt = json_object_array_length(fm);
    for (i = 0; i < c->nfmt; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(fm, i));

        if (s == NULL || parse_format(s, &c->fmts[i]) != 0 || c->fmts[i].f == EMBER_APIGW_NONE)
            ember_buf_printf(errs, "unknown format \"%s\" (v1 v2 url alb alb-mv); ", s ? s : "?");
    }
}

/* An "event" or "raw_event" case: its bytes and the one format to read the answer in. */
static void load_event(struct ember_case *c, const char *events_dir, struct ember_buf *errs)
{
    json_object *ev = jget(c->j, "event"), *parsed = NULL;
    const char  *src = jstr(c->j, "source");
    char         why[160];
    int          mv = 0;

    if (jhas(c->j, "raw_event")) {
        const char *s = jstr(c->j, "raw_event");

        if (s == NULL) {
            ember_buf_puts(errs, "raw_event must be a string; ");
        } else {
            c->event = ember_xstrdup(s);
            c->event_len = strlen(s);
        }
    } else if (json_object_is_type(ev, json_type_string)) {
        char *p = event_path(events_dir, c, json_object_get_string(ev));

        if (ember_case_read_file(p, &c->event, &c->event_len) != 0)
            ember_buf_printf(errs, "event %s: %s; ", p, strerror(errno));
        free(p);
    } else if (json_object_is_type(ev, json_type_object)) {
        c->event = ember_xstrdup(jshow(ev));
        c->event_len = strlen(c->event);
    } else {
        ember_buf_puts(errs, "event must be a file name or an object; ");
    }
    if (src) {
        if (parse_format(src, &c->fmts[0]) != 0)
            ember_buf_printf(errs, "unknown source \"%s\"; ", src);
        return;
    }
    if (c->event && ember_case_parse_json(c->event, c->event_len, &parsed, why, sizeof(why)) == 0)
        c->fmts[0].f = ember_apigw_detect(parsed, &mv);
    json_object_put(parsed);
    c->fmts[0].multi_value = mv;
    if (jhas(c->j, "raw_event"))
        snprintf(c->fmts[0].name, sizeof(c->fmts[0].name), "raw");
    else
        snprintf(c->fmts[0].name, sizeof(c->fmts[0].name), "%s%s",
                 ember_apigw_format_name(c->fmts[0].f),
                 c->fmts[0].f == EMBER_APIGW_ALB && mv ? "-mv" : "");
}

/* Load the case at path into c; a broken case gets c->error (its tests fail). */
static void load_case(struct ember_case *c, const char *path, const char *events_dir)
{
    struct ember_buf  errs = EMBER_BUF_INIT;
    json_object      *raw = NULL;
    const char       *p, *cut = path;
    char             *text, *copy, why[160];
    size_t            len;
    int               slashes = 0;

    memset(c, 0, sizeof(*c));
    c->path = ember_xstrdup(path);
    copy = ember_xstrdup(path);
    c->dir = ember_xstrdup(dirname(copy));
    free(copy);
    for (p = path + strlen(path); p > path; ) {      /* "suite/NN-name.json" */
        p--;
        if (*p == '/' && ++slashes == 2) {
            cut = p + 1;
            break;
        }
    }
    c->name = ember_xstrdup(cut);
    c->nfmt = 1;
    c->repeat = 1;
    snprintf(c->fmts[0].name, sizeof(c->fmts[0].name), "case");

    if (ember_case_read_file(path, &text, &len) != 0) {
        c->error = ember_xasprintf("%s: %s", path, strerror(errno));
        return;
    }
    if (ember_case_parse_json(text, len, &raw, why, sizeof(why)) != 0 || raw == NULL) {
        c->error = ember_xasprintf("%s: not a JSON case (%s)", path, raw ? "" : why);
        free(text);
        json_object_put(raw);
        return;
    }
    free(text);
    if (check_keys(raw, case_keys, "the case", &errs) == 0) {
        c->j = expand_tree(raw, &errs);
        if (errs.len == 0)
            check_case(c->j, &errs);
        if (errs.len == 0 && jhas(c->j, "request"))
            load_formats(c, jget(c->j, "request"), &errs);
        else if (errs.len == 0 && (jhas(c->j, "event") || jhas(c->j, "raw_event")))
            load_event(c, events_dir, &errs);
        else if (errs.len == 0)
            snprintf(c->fmts[0].name, sizeof(c->fmts[0].name), "exit");
        if (jhas(c->j, "repeat"))
            c->repeat = json_object_get_int(jget(c->j, "repeat"));
    }
    json_object_put(raw);
    if (errs.len > 0)
        c->error = ember_xasprintf("%s: %s", path, ember_buf_str(&errs));
    ember_buf_free(&errs);
}

static void free_case(struct ember_case *c)
{
    free(c->path);
    free(c->name);
    free(c->dir);
    free(c->error);
    free(c->event);
    json_object_put(c->j);
}

/* ------------------------------------------------------------ the request */

/*
 * The pairs of a {name: string | number | [...]} object, in order, names
 * and values borrowed from o; the array from pool, with room for `extra`
 * more.  -1 with errs filled.
 */
static int pairs(struct ember_pool *pool, json_object *o, size_t extra, const char *what,
                 struct ember_kv **kv, size_t *n, struct ember_buf *errs)
{
    size_t cnt = 0;

    *n = 0;
    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        ember_buf_printf(errs, "request.%s must be an object; ", what);
        return -1;
    }
    if (o != NULL) {
        json_object_object_foreach(o, k, v) {
            int    arr = json_object_is_type(v, json_type_array);
            size_t m = arr ? json_object_array_length(v) : 1, i;

            for (i = 0; i < m; i++) {
                json_object *e = arr ? json_object_array_get_idx(v, i) : v;

                if (e == NULL || json_object_is_type(e, json_type_object) ||
                    json_object_is_type(e, json_type_array)) {
                    ember_buf_printf(errs, "request.%s.%s: a string or a list of strings; ",
                                     what, k);
                    return -1;
                }
            }
            cnt += m;
        }
    }
    *kv = ember_pool_calloc(pool, (cnt + extra + 1) * sizeof(**kv));
    if (o != NULL) {
        json_object_object_foreach(o, k, v) {
            int    arr = json_object_is_type(v, json_type_array);
            size_t m = arr ? json_object_array_length(v) : 1, i;

            for (i = 0; i < m; i++) {
                (*kv)[*n].name = k;
                (*kv)[(*n)++].value = json_object_get_string(arr ? json_object_array_get_idx(v, i)
                                                                 : v);
            }
        }
    }
    return 0;
}

int ember_case_request(json_object *req, struct ember_case_request *out, struct ember_buf *errs)
{
    struct ember_apigw_request *r = &out->r;
    struct ember_kv            *headers = NULL, *query = NULL;
    json_object                *v;
    const char                **cookies;
    char                       *method, *body;
    size_t                      i;

    memset(out, 0, sizeof(*out));
    out->pool = ember_pool_create();
    method = ember_pool_strdup(out->pool, jstr(req, "method") ? jstr(req, "method") : "GET");
    for (i = 0; method[i]; i++)
        method[i] = (char) toupper((unsigned char) method[i]);
    r->method = method;
    r->path = jstr(req, "path");
    r->stage = jstr(req, "stage");
    r->source_ip = jstr(req, "source_ip");
    if (pairs(out->pool, jget(req, "query"), 0, "query", &query, &r->nquery, errs) != 0 ||
        pairs(out->pool, jget(req, "headers"), 1, "headers", &headers, &r->nheaders, errs) != 0)
        return -1;
    r->query = query;
    r->headers = headers;
    v = jget(req, "cookies");
    if (v) {
        if (!json_object_is_type(v, json_type_array)) {
            ember_buf_puts(errs, "request.cookies must be a list; ");
            return -1;
        }
        r->ncookies = json_object_array_length(v);
        cookies = ember_pool_calloc(out->pool, (r->ncookies + 1) * sizeof(*cookies));
        for (i = 0; i < r->ncookies; i++)
            cookies[i] = json_object_get_string(json_object_array_get_idx(v, i));
        r->cookies = cookies;
    }
    if (jhas(req, "body")) {
        v = jget(req, "body");
        r->body = v ? json_object_get_string(v) : "";
        r->body_len = strlen(r->body);
    } else if (jhas(req, "json")) {
        r->body = ember_pool_strdup(out->pool, jshow(jget(req, "json")));
        r->body_len = strlen(r->body);
        for (i = 0; i < r->nheaders; i++)
            if (strcasecmp(headers[i].name, "content-type") == 0)
                break;
        if (i == r->nheaders) {
            headers[r->nheaders].name = "Content-Type";
            headers[r->nheaders++].value = "application/json";
        }
    } else if (jhas(req, "body_base64")) {
        const char *s = jstr(req, "body_base64");

        if (s == NULL || ember_base64_decode(out->pool, s, strlen(s), &body, &r->body_len) != 0) {
            ember_buf_puts(errs, "request.body_base64 is not base64; ");
            return -1;
        }
        r->body = body;
        r->binary = 1;
    } else if (jhas(req, "body_size")) {
        int64_t n = json_object_get_int64(jget(req, "body_size"));

        if (n < 0 || n > 64 * 1024 * 1024) {
            ember_buf_puts(errs, "request.body_size must be 0..64 MiB; ");
            return -1;
        }
        body = ember_pool_alloc(out->pool, (size_t) n + 1);
        memset(body, 'x', (size_t) n);
        body[n] = '\0';
        r->body = body;
        r->body_len = (size_t) n;
    }
    return 0;
}

void ember_case_request_clear(struct ember_case_request *rq)
{
    if (rq->pool)
        ember_pool_destroy(rq->pool);
    memset(rq, 0, sizeof(*rq));
}

/* ------------------------------------------------------------ checks */

/* All values of header name, " | "-joined into all; how many. */
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

/* A list of strings " | "-joined into b. */
static void join(json_object *list, struct ember_buf *b)
{
    size_t i;

    for (i = 0; list && i < json_object_array_length(list); i++) {
        if (i > 0)
            ember_buf_puts(b, " | ");
        ember_buf_puts(b, json_object_get_string(json_object_array_get_idx(list, i)));
    }
}

static void check_headers(struct ember_case_test *t, json_object *want,
                          const struct ember_apigw_response *res)
{
    if (want == NULL)
        return;
    if (!json_object_is_type(want, json_type_object)) {
        ember_case_fail(t, "expect.headers must be an object");
        return;
    }
    {
        json_object_object_foreach(want, name, v) {
            struct ember_buf all = EMBER_BUF_INIT;
            int              n = values_of(res, name, &all);

            if (v == NULL) {
                if (n > 0)
                    ember_case_fail(t, "header %s: expected absent, got \"%s\"", name,
                                    ember_buf_str(&all));
            } else if (json_object_is_type(v, json_type_array)) {
                struct ember_buf exp = EMBER_BUF_INIT;

                join(v, &exp);
                if (strcmp(ember_buf_str(&exp), ember_buf_str(&all)) != 0)
                    ember_case_fail(t, "header %s: expected \"%s\", got \"%s\"%s", name,
                                    ember_buf_str(&exp), ember_buf_str(&all), n ? "" : " (absent)");
                ember_buf_free(&exp);
            } else {
                const char *s = json_object_get_string(v);
                size_t      i;
                int         found = strcmp(s, "*") == 0 && n > 0;

                for (i = 0; i < res->nheaders && !found; i++)
                    found = strcasecmp(res->headers[i].name, name) == 0 &&
                            strcmp(res->headers[i].value, s) == 0;
                if (!found)
                    ember_case_fail(t, "header %s: expected \"%s\", got %s%s%s", name, s,
                                    n ? "\"" : "", n ? ember_buf_str(&all) : "nothing",
                                    n ? "\"" : "");
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

/* "body" (exact) or "body_includes" (a subset): the body parsed as JSON. */
static void check_json_body(struct ember_case_test *t, json_object *exp, const char *key,
                            const struct ember_apigw_response *res)
{
    json_object *want = jget(exp, key), *got = NULL;
    int          exact = strcmp(key, "body") == 0;
    char         why[160];

    if (ember_case_parse_json(res->body, res->body_len, &got, why, sizeof(why)) != 0) {
        ember_case_fail(t, "%s: expected JSON %s%s, got non-JSON (%s):", key,
                        exact ? "" : "including ", jshow(want), why);
        ember_case_note_block(t, "  ", res->body, res->body_len, 1500);
    } else if (exact ? !json_object_equal(want, got) : !includes(want, got)) {
        ember_case_fail(t, "%s: expected %s%s", key, exact ? "" : "a body including ",
                        jshow(want));
        ember_case_note(t, "        got      %.3000s", jshow(got));
    }
    json_object_put(got);
}

void ember_case_check_response(struct ember_case_test *t, json_object *exp, const char *what,
                               const struct ember_apigw_response *res, int over_http)
{
    json_object *v;
    int          before = t->failed;
    size_t       i;

    v = jget(exp, "status");
    if (v && json_object_get_int(v) != res->status)
        ember_case_fail(t, "status: expected %d, got %d", json_object_get_int(v), res->status);
    if (jhas(exp, "status_description") && !over_http) {
        const char *want = jstr(exp, "status_description");
        const char *got = res->status_description;

        if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
            ember_case_fail(t, "statusDescription: expected %s, got %s", want ? want : "none",
                            got ? got : "none");
    }
    check_headers(t, jget(exp, "headers"), res);
    if (jhas(exp, "body"))
        check_json_body(t, exp, "body", res);
    if (jhas(exp, "body_includes"))
        check_json_body(t, exp, "body_includes", res);
    if (jhas(exp, "body_text")) {
        const char *want = jstr(exp, "body_text");
        size_t      wlen = want ? (size_t) json_object_get_string_len(jget(exp, "body_text")) : 0;

        if (want == NULL || wlen != res->body_len || memcmp(want, res->body, wlen) != 0) {
            ember_case_fail(t, "body_text: expected \"%s\", got (%zu bytes):", want ? want : "?",
                            res->body_len);
            ember_case_note_block(t, "  ", res->body, res->body_len, 1500);
        }
    }
    if (jhas(exp, "body_contains")) {
        const char *want = jstr(exp, "body_contains");

        if (want == NULL || memmem(res->body, res->body_len, want, strlen(want)) == NULL) {
            ember_case_fail(t, "body_contains: \"%s\" not in the body:", want ? want : "?");
            ember_case_note_block(t, "  ", res->body, res->body_len, 1500);
        }
    }
    if (jhas(exp, "cookies")) {
        struct ember_buf got = EMBER_BUF_INIT, want = EMBER_BUF_INIT;

        values_of(res, "set-cookie", &got);
        join(jget(exp, "cookies"), &want);
        if (strcmp(ember_buf_str(&want), ember_buf_str(&got)) != 0)
            ember_case_fail(t, "cookies: expected [%s], got [%s]", ember_buf_str(&want),
                            ember_buf_str(&got));
        ember_buf_free(&got);
        ember_buf_free(&want);
    }
    v = jget(exp, "is_base64");
    if (jhas(exp, "is_base64") && !over_http && json_object_get_boolean(v) != res->base64)
        ember_case_fail(t, "is_base64: expected %s, got %s",
                        json_object_get_boolean(v) ? "true" : "false",
                        res->base64 ? "true" : "false");
    if (t->failed && !before) {
        ember_case_note(t, "the response (%s): %d, %zu headers:", what, res->status,
                        res->nheaders);
        for (i = 0; i < res->nheaders; i++)
            ember_case_note(t, "  %s: %s", res->headers[i].name, res->headers[i].value);
    }
}

/*
 * Each string of list (or the one string) must be (present) or not be in
 * text.  Fails t (if not NULL) for each that is wrong, showing the lines
 * of one that must not be there; 1 if all are right.
 */
static int strings_ok(struct ember_case_test *t, json_object *list, const char *text,
                      size_t len, int present, const char *what)
{
    int    arr = json_object_is_type(list, json_type_array), ok = 1;
    size_t n = list == NULL ? 0 : arr ? json_object_array_length(list) : 1, i;

    for (i = 0; i < n; i++) {
        const char *s = json_object_get_string(arr ? json_object_array_get_idx(list, i) : list);
        const char *p = text, *end = text + len;

        if (s == NULL || (memmem(text, len, s, strlen(s)) != NULL) == present)
            continue;
        ok = 0;
        if (t == NULL)
            continue;
        ember_case_fail(t, "%s: \"%s\" %s", what, s, present ? "not found" : "found");
        while (!present && p < end) {
            const char *nl = memchr(p, '\n', (size_t) (end - p));
            size_t      ln = nl ? (size_t) (nl - p) : (size_t) (end - p);

            if (memmem(p, ln, s, strlen(s)) != NULL)
                ember_case_note(t, "  %.*s", (int) ln, p);
            p += ln + 1;
        }
    }
    return ok;
}

/*
 * What the function wrote since log_off; with "log", the checks (its lines
 * may come up to log_lag_ms after the answer).  Caller frees.
 */
static char *check_log(struct ember_case_test *t, const struct ember_case_run *run,
                       const struct ember_case_transport *tp, json_object *l, off_t log_off,
                       size_t *len)
{
    int64_t until = ember_case_now_ms() + (l ? tp->log_lag_ms : 0);
    char   *log = read_from(run->log_path, log_off, len);

    if (l == NULL)
        return log;
    if (tp->log_lag_ms > 0) {
        while (!strings_ok(NULL, jget(l, "contains"), log, *len, 1, NULL) &&
               ember_case_now_ms() < until) {
            ember_case_sleep_ms(20);
            free(log);
            log = read_from(run->log_path, log_off, len);
        }
        ember_case_sleep_ms(50);     /* and what comes with it */
        free(log);
        log = read_from(run->log_path, log_off, len);
    }
    strings_ok(t, jget(l, "contains"), log, *len, 1, "log");
    strings_ok(t, jget(l, "absent"), log, *len, 0, "log");
    return log;
}

static void check_maps(struct ember_case_test *t, const struct ember_case_transport *tp,
                       json_object *c)
{
    char   path[64], *maps;
    size_t len;
    pid_t  pid;

    if (!jhas(c, "mapped") && !jhas(c, "not_mapped"))
        return;
    pid = tp->pid();
    if (pid <= 0) {
        ember_case_fail(t, "mapped/not_mapped: the function is not running");
        return;
    }
    snprintf(path, sizeof(path), "/proc/%d/maps", (int) pid);
    if (ember_case_read_file(path, &maps, &len) != 0) {
        ember_case_fail(t, "%s: %s", path, strerror(errno));
        return;
    }
    strings_ok(t, jget(c, "mapped"), maps, len, 1, "mapped");
    strings_ok(t, jget(c, "not_mapped"), maps, len, 0, "not_mapped");
    free(maps);
}

/* How often what occurs in text. */
static int count(const char *text, size_t len, const char *what)
{
    const char *at = text, *end = text + len, *hit;
    size_t      wl = strlen(what);
    int         n = 0;

    while (wl > 0 && at < end) {
        hit = memmem(at, (size_t) (end - at), what, wl);
        if (hit == NULL)
            break;
        n++;
        at = hit + wl;
    }
    return n;
}

/* file_absent; file_contains and file_count, which read each file they name. */
static void check_files(struct ember_case_test *t, json_object *c)
{
    static const char *const readers[] = { "file_contains", "file_count" };
    json_object *v = jget(c, "file_absent");
    size_t       i;

    for (i = 0; v && i < json_object_array_length(v); i++) {
        const char *p = json_object_get_string(json_object_array_get_idx(v, i));

        if (access(p, F_OK) == 0)
            ember_case_fail(t, "file_absent: %s exists", p);
    }
    for (i = 0; i < 2; i++) {
        v = jget(c, readers[i]);
        if (v == NULL)
            continue;
        json_object_object_foreach(v, p, want) {
            char   *text;
            size_t  len;

            if (ember_case_read_file(p, &text, &len) != 0) {
                ember_case_fail(t, "%s: %s: %s", readers[i], p, strerror(errno));
                continue;
            }
            if (i == 0) {
                strings_ok(t, want, text, len, 1, p);
            } else {
                json_object_object_foreach(want, what, n) {
                    int got = count(text, len, what);

                    if (got != json_object_get_int(n)) {
                        ember_case_fail(t, "file_count: \"%s\" appears %d times in %s, "
                                        "expected %d:", what, got, p, json_object_get_int(n));
                        ember_case_note_block(t, "  ", text, len, 1000);
                    }
                }
            }
            free(text);
        }
    }
}

/* ------------------------------------------------------------ "shell" */

/*
 * sh -c CMD in the runner's directory and environment, its output into the
 * test's diagnostics (a file in tmp meanwhile).  0 if it exited 0 within
 * SHELL_MS.
 */
static int run_shell(struct ember_case_test *t, const char *tmp, const char *cmd)
{
    char    *path = ember_xasprintf("%s/shell.XXXXXX", tmp), *out = NULL, how[128];
    size_t   len = 0;
    int      fd = mkstemp(path), st = 0, rc = -1;
    pid_t    pid;
    int64_t  until = ember_case_now_ms() + SHELL_MS;

    if (fd < 0) {
        ember_case_fail(t, "shell: mkstemp %s: %s", path, strerror(errno));
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
        ember_case_fail(t, "shell: fork: %s", strerror(errno));
        close(fd);
        return -1;
    }
    setpgid(pid, pid);
    for (;;) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rc = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
            break;
        }
        if (ember_case_now_ms() > until) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            ember_case_fail(t, "shell: `%s` still running after %d s; killed", cmd,
                            SHELL_MS / 1000);
            break;
        }
        ember_case_sleep_ms(20);
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
        ember_case_describe_exit(st, how, sizeof(how));
        ember_case_fail(t, "shell: `%s` %s", cmd, how);
    }
    if (out && len > 0) {
        ember_case_note(t, "shell output:");
        ember_case_note_block(t, "  > ", out, len, 2000);
    }
    free(out);
    return rc;
}

/* ------------------------------------------------------------ the run */

static const struct ember_case_transport *active;    /* for on_signal */
static const struct ember_case_run       *active_run;

/* Test fi of repetition rep of case c, number n; prints its TAP line. 1 if it passed. */
static int run_test(const struct ember_case_run *run, const struct ember_case_transport *tp,
                    const struct ember_case *c, size_t fi, int rep, int n)
{
    struct ember_case_test  t;
    json_object            *j = c->j;
    const char             *skip;
    off_t                   log_off = 0;
    int64_t                 t0 = ember_case_now_ms();
    int                     timeout = run->timeout_ms;
    char                   *log = NULL;
    size_t                  log_len = 0;

    memset(&t, 0, sizeof(t));
    if (c->error) {
        ember_case_fail(&t, "%s", c->error);
        goto report;
    }
    if (jhas(j, "timeout_ms"))
        timeout = json_object_get_int(jget(j, "timeout_ms"));
    if (fi == 0 && rep == 0 && jstr(j, "shell") && run_shell(&t, run->tmp, jstr(j, "shell")) != 0)
        goto report;
    if (rep == 0 && ((jhas(j, "fresh") && json_object_get_boolean(jget(j, "fresh"))) ||
                     jhas(j, "env") || jhas(j, "expect_exit")))
        tp->stop(c);
    skip = tp->cannot(c);
    if (skip) {
        printf("ok %d - %s [%s]%s # SKIP %s\n", n, c->name, c->fmts[fi].name, tp->tap_suffix,
               skip);
        fflush(stdout);
        ember_buf_free(&t.diag);
        return 1;
    }
    if (jhas(j, "remove_files")) {
        json_object *v = jget(j, "remove_files");
        size_t       i;

        for (i = 0; i < json_object_array_length(v); i++)
            unlink(json_object_get_string(json_object_array_get_idx(v, i)));
    }
    log_off = file_size(run->log_fd);
    tp->test(&t, c, fi, timeout);
    log = check_log(&t, run, tp, jget(j, "log"), log_off, &log_len);
    if (!t.restart)
        check_maps(&t, tp, j);
    check_files(&t, j);

report:
    printf("%s %d - %s [%s]%s\n", t.failed ? "not ok" : "ok", n, c->name, c->fmts[fi].name,
           tp->tap_suffix);
    if (t.failed || run->verbose) {
        const char *d;

        if (jstr(j, "description"))
            ember_case_note(&t, "case: %s", jstr(j, "description"));
        if (tp->notes)
            tp->notes(&t);
        if (log) {
            ember_case_note(&t, "%s during the test:%s", tp->log_label,
                            log_len ? "" : " (nothing)");
            ember_case_note_block(&t, "  | ", log, log_len, TAIL_BYTES);
        }
        ember_case_note(&t, "(%lld ms)", (long long) (ember_case_now_ms() - t0));
        for (d = ember_buf_str(&t.diag); *d; ) {
            const char *nl = strchr(d, '\n');
            size_t      ln = nl ? (size_t) (nl - d) : strlen(d);

            printf("# %.*s\n", (int) ln, d);
            d += ln + (nl ? 1 : 0);
        }
    }
    fflush(stdout);
    if (t.restart)
        tp->stop(NULL);
    free(log);
    ember_buf_free(&t.diag);
    return !t.failed;
}

static void on_signal(int sig)
{
    if (active)
        active->interrupt();
    if (active_run && active_run->log_is_temp)
        unlink(active_run->log_path);
    if (active_run)
        rmdir(active_run->tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The run's directory and log. -1 with a message on stdout. */
static int open_log(struct ember_case_run *run, const struct ember_case_transport *tp,
                    const char *log_arg)
{
    const char *tmpdir = getenv("TMPDIR");

    run->tmp = ember_xasprintf("%s/%s.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp", tp->name);
    if (mkdtemp(run->tmp) == NULL) {
        printf("Bail out! mkdtemp %s: %s\n", run->tmp, strerror(errno));
        return -1;
    }
    run->log_is_temp = log_arg == NULL;
    run->log_path = log_arg ? ember_xstrdup(log_arg) : ember_xasprintf("%s/log", run->tmp);
    run->log_fd = open(run->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (run->log_fd < 0) {
        printf("Bail out! cannot create the function's log %s: %s\n", run->log_path,
               strerror(errno));
        rmdir(run->tmp);
        return -1;
    }
    return 0;
}

/* The cases, in order: their tests, their TAP lines. Returns how many failed. */
static int run_all(const struct ember_case_run *run, const struct ember_case_transport *tp,
                   const struct ember_case *cases, size_t ncases)
{
    size_t i, k;
    int    failed = 0, n = 0, plan = 0, rep;

    for (i = 0; i < ncases; i++)
        plan += (int) cases[i].nfmt * cases[i].repeat;
    printf("1..%d\n", plan);
    fflush(stdout);
    for (i = 0; i < ncases; i++) {
        for (rep = 0; rep < cases[i].repeat; rep++) {
            for (k = 0; k < cases[i].nfmt; k++) {
                if (run_test(run, tp, &cases[i], k, rep, ++n))
                    continue;
                failed++;
                if (!run->keep_going) {
                    printf("Bail out! %s [%s] failed (--keep-going runs every case)\n",
                           cases[i].name, cases[i].fmts[k].name);
                    return failed;
                }
            }
        }
    }
    return failed;
}

int ember_cases_main(int argc, char **argv, const struct ember_case_transport *tp)
{
    struct ember_case_run  run;
    struct ember_buf       why = EMBER_BUF_INIT;
    struct ember_case     *cases;
    size_t                 ncases = 0, i;
    int                    rc = 2, took;
    const char            *log_arg = NULL;

    memset(&run, 0, sizeof(run));
    run.timeout_ms = tp->timeout_ms;
    run.events_dir = getenv("EMBER_EVENTS_DIR");
    cases = ember_xcalloc((size_t) argc, sizeof(*cases));
    for (i = 1; i < (size_t) argc; i++) {
        const char *a = argv[i], *arg = i + 1 < (size_t) argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--bootstrap") == 0 && arg) {
            run.bootstrap = argv[++i];
        } else if (strcmp(a, "--keep-going") == 0) {
            run.keep_going = 1;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            run.verbose = 1;
        } else if (strcmp(a, "--timeout") == 0 && arg) {
            run.timeout_ms = (int) (atof(argv[++i]) * 1000);
        } else if (strcmp(a, "--log") == 0 && arg) {
            log_arg = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(tp->usage, stdout);
            rc = 0;
            goto out;
        } else if (a[0] == '-' && a[1] != '\0') {
            took = tp->option(a, arg);
            if (took == 0) {
                fprintf(stderr, "%s: unknown option %s\n", tp->name, a);
                break;
            }
            i += (size_t) took - 1;
        } else {
            load_case(&cases[ncases++], a, run.events_dir);
        }
    }
    if (i < (size_t) argc || run.bootstrap == NULL || ncases == 0 || run.timeout_ms <= 0) {
        fputs(tp->usage, stderr);
        goto out;
    }
    rc = 1;
    if (open_log(&run, tp, log_arg) != 0)
        goto out;
    active = tp;
    active_run = &run;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGHUP, on_signal);
    if (tp->start(&run, &why) != 0)
        printf("Bail out! %s\n", ember_buf_str(&why));
    else if (run_all(&run, tp, cases, ncases) == 0)
        rc = 0;
    tp->finish();
    active = NULL;
    active_run = NULL;
    close(run.log_fd);
    if (run.log_is_temp)
        unlink(run.log_path);
    rmdir(run.tmp);
out:
    free(run.tmp);
    free(run.log_path);
    ember_buf_free(&why);
    for (i = 0; i < ncases; i++)
        free_case(&cases[i]);
    free(cases);
    fflush(stdout);
    return rc;
}
