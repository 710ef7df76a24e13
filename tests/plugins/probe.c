/*
 * probe - a test-only plugin that proves when plugins are loaded and what
 * they see.  Directives (tests/plugins/probe.def):
 *
 *   plugin probe { record FILE }   init appends "init\n" to FILE, each
 *                                  request "handle METHOD PATH\n"
 *   answer STATUS [BODY]           answer STATUS with BODY (default
 *                                  {"probe":true}), application/json
 *   maps LIB...                    200 {"mapped":{"LIB":true|false,...}}:
 *                                  is LIB in a path of /proc/self/maps?
 *   echo on                        200 with the request it saw, as JSON
 *   fail STATUS                    sets x-probe: failed, then fails STATUS
 *
 * A route with none of these goes on to the next plugin.
 */
#define _GNU_SOURCE  /* memmem, open_memstream */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <ember/plugin.h>

#define DEFAULT_BODY "{\"probe\":true}"

struct probe {
    const struct ember_host *host;
    const char              *record;   /* borrowed from the config, or NULL */
};

struct probe_route {
    int                                 fail;      /* status, 0: no */
    int                                 echo;
    const struct ember_conf_directive  *maps;
    int                                 answer;    /* status, 0: no */
    const char                         *body;      /* borrowed from the config */
};

static int record(const struct probe *pr, struct ember_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int record(const struct probe *pr, struct ember_error *err, const char *fmt, ...)
{
    va_list ap;
    FILE   *f;
    int     bad;

    if (pr->record == NULL)
        return EMBER_OK;
    f = fopen(pr->record, "a");
    if (f == NULL)
        return pr->host->fail(err, 500, "probe: %s: %s", pr->record, strerror(errno));
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return pr->host->fail(err, 500, "probe: %s: write failed", pr->record);
    return EMBER_OK;
}

/* Allocates *state (freed by probe_fini). */
static int probe_init(void **state, const struct ember_host *host,
                      const struct ember_conf_block *global, struct ember_error *err)
{
    const struct ember_conf_directive *d = host->conf_find(global, "record");
    struct probe *pr = calloc(1, sizeof(*pr));

    if (pr == NULL)
        abort();
    pr->host = host;
    if (d != NULL && d->argc >= 1)
        pr->record = d->argv[0];
    if (record(pr, err, "init\n") != EMBER_OK) {
        free(pr);
        return EMBER_ERROR;
    }
    *state = pr;
    return EMBER_OK;
}

static int parse_status(const struct ember_host *host, const struct ember_conf_directive *d,
                        int *status, struct ember_error *err)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(d->argv[0], &end, 10);
    if (errno != 0 || *end != '\0' || v < 100 || v > 599)
        return host->fail(err, 500, "probe: %s:%d: %s: \"%s\" is not an HTTP status",
                          d->file ? d->file : "?", d->line, d->name, d->argv[0]);
    *status = (int) v;
    return EMBER_OK;
}

/* Allocates *route_state (freed by probe_route_fini). */
static int probe_route_init(void *state, const struct ember_conf_block *conf,
                            void **route_state, struct ember_error *err)
{
    const struct probe                *pr = state;
    const struct ember_host           *host = pr->host;
    const struct ember_conf_directive *d;
    struct probe_route                *r = calloc(1, sizeof(*r));

    if (r == NULL)
        abort();
    if (conf != NULL) {
        d = host->conf_find(conf, "fail");
        if (d != NULL && d->argc >= 1 && parse_status(host, d, &r->fail, err) != EMBER_OK)
            goto fail;
        d = host->conf_find(conf, "echo");
        r->echo = d != NULL && d->argc >= 1 && strcmp(d->argv[0], "on") == 0;
        d = host->conf_find(conf, "maps");
        if (d != NULL && d->argc >= 1)
            r->maps = d;
        d = host->conf_find(conf, "answer");
        if (d != NULL && d->argc >= 1) {
            if (parse_status(host, d, &r->answer, err) != EMBER_OK)
                goto fail;
            r->body = d->argc >= 2 ? d->argv[1] : DEFAULT_BODY;
        }
    }
    *route_state = r;
    return EMBER_OK;

fail:
    free(r);
    return EMBER_ERROR;
}

/* Serialises o into the response (200, application/json) and puts o. */
static int answer_json(struct ember_exchange *ex, struct json_object *o)
{
    const struct ember_host *host = ex->host;
    size_t                   len;
    const char              *s;

    s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN
                                             | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    host->set_status(ex, 200);
    host->set_header(ex, "content-type", "application/json");
    host->set_body(ex, s, len, 0);
    json_object_put(o);
    return EMBER_DONE;
}

/* Is lib a substring of a mapped file's path in /proc/self/maps? */
static int mapped(const char *maps, const char *lib)
{
    const char *line = maps;

    while (line != NULL && *line != '\0') {
        const char *nl = strchr(line, '\n');
        const char *path = memchr(line, '/', nl ? (size_t) (nl - line) : strlen(line));
        size_t      len;

        if (path != NULL) {
            len = nl ? (size_t) (nl - path) : strlen(path);
            if (len >= strlen(lib) && memmem(path, len, lib, strlen(lib)) != NULL)
                return 1;
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

static int answer_maps(struct ember_exchange *ex, const struct ember_conf_directive *d)
{
    struct json_object *o, *m;
    char               *maps = NULL;
    size_t              size = 0;
    FILE               *f, *mem;
    char                buf[4096];
    size_t              n;
    int                 i;

    mem = open_memstream(&maps, &size);
    f = fopen("/proc/self/maps", "r");
    if (mem == NULL || f == NULL) {
        if (mem != NULL)
            fclose(mem);
        free(maps);
        if (f != NULL)
            fclose(f);
        return ex->host->fail(ex->err, 500, "probe: /proc/self/maps: %s", strerror(errno));
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(f);
    fclose(mem);

    o = json_object_new_object();
    m = json_object_new_object();
    for (i = 0; i < d->argc; i++)
        json_object_object_add(m, d->argv[i], json_object_new_boolean(mapped(maps, d->argv[i])));
    free(maps);
    json_object_object_add(o, "mapped", m);
    return answer_json(ex, o);
}

/* A new array of [name, value] pairs; the caller owns it. */
static struct json_object *pairs(const struct ember_kv *kv, size_t n)
{
    struct json_object *a = json_object_new_array();
    size_t              i;

    for (i = 0; i < n; i++) {
        struct json_object *p = json_object_new_array();

        json_object_array_add(p, json_object_new_string(kv[i].name ? kv[i].name : ""));
        json_object_array_add(p, kv[i].value ? json_object_new_string(kv[i].value) : NULL);
        json_object_array_add(a, p);
    }
    return a;
}

/* A new string, or NULL (JSON null) for a NULL s; the caller owns it. */
static struct json_object *str_or_null(const char *s)
{
    return s != NULL ? json_object_new_string(s) : NULL;
}

static int answer_echo(struct ember_exchange *ex)
{
    const struct ember_request *req = ex->req;
    struct json_object         *o = json_object_new_object();
    struct json_object         *params = json_object_new_object();
    size_t                      i;

    for (i = 0; i < req->nparams; i++)
        json_object_object_add(params, req->params[i].name,
                               str_or_null(req->params[i].value));
    json_object_object_add(o, "method", str_or_null(req->method));
    json_object_object_add(o, "path", str_or_null(req->path));
    json_object_object_add(o, "params", params);
    json_object_object_add(o, "query", pairs(req->query, req->nquery));
    json_object_object_add(o, "headers", pairs(req->headers, req->nheaders));
    json_object_object_add(o, "cookies", pairs(req->cookies, req->ncookies));
    json_object_object_add(o, "body", req->body != NULL
                           ? json_object_new_string_len(req->body, (int) req->body_len)
                           : NULL);
    json_object_object_add(o, "source", str_or_null(req->source));
    json_object_object_add(o, "source_ip", str_or_null(req->source_ip));
    json_object_object_add(o, "request_id", str_or_null(req->request_id));
    json_object_object_add(o, "remaining_ms",
                           json_object_new_boolean(ex->host->remaining_ms(ex) > 0));
    return answer_json(ex, o);
}

static int probe_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    const struct probe       *pr = state;
    const struct probe_route *r = route_state;
    const struct ember_host  *host = ex->host;

    if (record(pr, ex->err, "handle %s %s\n", ex->req->method, ex->req->path) != EMBER_OK)
        return EMBER_ERROR;
    if (r == NULL)
        return EMBER_CONTINUE;
    if (r->fail != 0) {
        host->set_header(ex, "x-probe", "failed");
        return host->fail(ex->err, r->fail, "probe: failing with %d as configured", r->fail);
    }
    if (r->echo)
        return answer_echo(ex);
    if (r->maps != NULL)
        return answer_maps(ex, r->maps);
    if (r->answer != 0) {
        host->set_status(ex, r->answer);
        host->set_header(ex, "content-type", "application/json");
        host->set_body(ex, r->body, strlen(r->body), 0);
        return EMBER_DONE;
    }
    return EMBER_CONTINUE;
}

static void probe_route_fini(void *state, void *route_state)
{
    free(route_state);
}

static void probe_fini(void *state)
{
    free(state);
}

/* What the config may say to us: probe.def, also compiled into the core. */
static const struct ember_directive probe_directives[] = {
#include "probe.def"
    EMBER_DIRECTIVES_END
};

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_probe = {
    EMBER_PLUGIN_HEADER,
    .name       = "probe",
    .directives = probe_directives,
    .init       = probe_init,
    .route_init = probe_route_init,
    .handle     = probe_handle,
    .route_fini = probe_route_fini,
    .fini       = probe_fini,
};
