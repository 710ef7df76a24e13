/*
 * cors.c - the route's CORS settings, applied by the core to every answer
 * of the route and to its preflights (see cors.h).
 *
 *   cors_origins O... | *   allowed origins (exact, case-insensitive)
 *   cors_methods M...       preflight Allow-Methods (default GET, HEAD, POST,
 *                           PUT, PATCH, DELETE)
 *   cors_headers H...       preflight Allow-Headers (default: those requested)
 *   cors_max_age S          preflight Max-Age
 *   cors_credentials on|off Allow-Credentials (then the origin, never *)
 *
 * Each is read from the route's `response { }` step, else from `plugin
 * response {}`.  An allowed Origin gets Access-Control-Allow-Origin
 * (itself, or * when the list is * and credentials are off) and
 * Allow-Credentials when on; any other gets no Access-Control header.
 * Unless the answer is always *, every answer carries Vary: Origin.
 */
#define _GNU_SOURCE     /* strcasestr */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cors.h"
#include "text.h"

#define CORS_STEP             "response"
#define DEFAULT_CORS_METHODS  "GET, HEAD, POST, PUT, PATCH, DELETE"

struct ember_cors {
    const struct ember_conf_directive *origins;
    int         any;             /* "*" among the origins */
    const char *methods;         /* joined ", " (pool) */
    const char *headers;         /* joined (pool), or NULL: as requested */
    long        max_age;         /* -1: not sent */
    int         credentials;
};

/* argv joined with ", " (pool). */
static const char *join_args(struct ember_pool *pool, const struct ember_conf_directive *d)
{
    struct ember_buf b = EMBER_BUF_INIT;
    const char      *s;
    int              i;

    for (i = 0; i < d->argc; i++)
        ember_buf_printf(&b, "%s%s", i > 0 ? ", " : "", d->argv[i]);
    s = ember_pool_strdup(pool, ember_buf_str(&b));
    ember_buf_free(&b);
    return s;
}

/* The directive `name` of the route's block, else of the plugin-wide one. */
static const struct ember_conf_directive *find(const struct ember_conf_block *route,
                                               const struct ember_conf_block *global,
                                               const char *name)
{
    const struct ember_conf_directive *d = NULL;

    if (route != NULL)
        d = ember_conf_find(route, name);
    if (d == NULL && global != NULL)
        d = ember_conf_find(global, name);
    return d;
}

/* Once: a bad plugin-wide setting is met again by every route that uses it. */
static void cors_error(struct ember_buf *errs, const struct ember_conf_directive *d,
                       const char *what, const char *arg)
{
    struct ember_buf line = EMBER_BUF_INIT;

    ember_buf_printf(&line, "%s:%d: %s \"%s\": %s\n", d->file, d->line, d->name, arg, what);
    if (strstr(ember_buf_str(errs), ember_buf_str(&line)) == NULL)
        ember_buf_puts(errs, ember_buf_str(&line));
    ember_buf_free(&line);
}

int ember_cors_build(struct ember_cors **out, const struct ember_conf *conf,
                     const struct ember_conf_route *route, struct ember_pool *pool,
                     struct ember_buf *errs)
{
    const struct ember_conf_block     *rb = NULL, *gb;
    const struct ember_conf_directive *d;
    struct ember_cors                 *c;
    size_t                             i;
    int                                k, failed = 0;
    char                              *end;
    long                               v;

    *out = NULL;
    for (i = 0; i < route->nsteps; i++)
        if (strcmp(route->steps[i].plugin, CORS_STEP) == 0)
            rb = &route->steps[i].block;
    if (rb == NULL)
        return EMBER_OK;          /* CORS is the response step's setting */
    gb = ember_conf_plugin(conf, CORS_STEP);
    d = find(rb, gb, "cors_origins");
    if (d == NULL)
        return EMBER_OK;

    c = ember_pool_calloc(pool, sizeof(*c));
    c->origins = d;
    for (k = 0; k < d->argc; k++)
        if (strcmp(d->argv[k], "*") == 0)
            c->any = 1;
    c->methods = DEFAULT_CORS_METHODS;
    c->max_age = -1;

    d = find(rb, gb, "cors_methods");
    if (d != NULL) {
        for (k = 0; k < d->argc; k++)
            if (!ember_http_token(d->argv[k])) {
                cors_error(errs, d, "not a method", d->argv[k]);
                failed = 1;
            }
        c->methods = join_args(pool, d);
    }
    d = find(rb, gb, "cors_headers");
    if (d != NULL) {
        for (k = 0; k < d->argc; k++)
            if (!ember_http_token(d->argv[k]) && strcmp(d->argv[k], "*") != 0) {
                cors_error(errs, d, "not a header name", d->argv[k]);
                failed = 1;
            }
        c->headers = join_args(pool, d);
    }
    d = find(rb, gb, "cors_max_age");
    if (d != NULL) {
        v = strtol(d->argv[0], &end, 10);
        if (!isdigit((unsigned char) d->argv[0][0]) || *end != '\0' || v < 0 || v > INT_MAX) {
            cors_error(errs, d, "expected seconds", d->argv[0]);
            failed = 1;
        }
        c->max_age = v;
    }
    d = find(rb, gb, "cors_credentials");
    if (d != NULL)
        c->credentials = strcmp(d->argv[0], "on") == 0;   /* the schema allows on|off */
    if (failed)
        return EMBER_ERROR;
    *out = c;
    return EMBER_OK;
}

static const char *req_header(const struct ember_exchange *ex, const char *name)
{
    return ex->host->header(ex, name);
}

int ember_cors_is_preflight(const struct ember_exchange *ex)
{
    return ex->req->method != NULL && strcmp(ex->req->method, "OPTIONS") == 0
           && req_header(ex, "origin") != NULL
           && req_header(ex, "access-control-request-method") != NULL;
}

static int origin_allowed(const struct ember_cors *c, const char *origin)
{
    int i;

    if (c->any)
        return 1;
    for (i = 0; i < c->origins->argc; i++)
        if (strcasecmp(c->origins->argv[i], origin) == 0)
            return 1;
    return 0;
}

/* Vary: Origin, merged into a Vary the chain set. */
static void add_vary(struct ember_exchange *ex)
{
    const struct ember_response *res = ex->res;
    const char                  *old = NULL;
    size_t                       i;

    for (i = 0; i < res->nheaders; i++)
        if (res->headers[i].name != NULL && strcasecmp(res->headers[i].name, "vary") == 0)
            old = res->headers[i].value;
    if (old == NULL) {
        ex->host->add_header(ex, "vary", "Origin");
    } else if (strcasestr(old, "origin") == NULL && strcmp(old, "*") != 0) {
        char *merged = ex->host->psprintf(ex, "%s, Origin", old);

        ex->host->set_header(ex, "vary", merged);
    }
}

void ember_cors_apply(const struct ember_cors *c, struct ember_exchange *ex, int preflight)
{
    const struct ember_host *host = ex->host;
    const char              *origin, *asked;
    int                      star;

    if (c == NULL)
        return;
    if (preflight) {
        host->set_status(ex, 204);
        host->set_body(ex, NULL, 0, 0);
    }
    origin = req_header(ex, "origin");
    star = c->any && !c->credentials;
    /* The answer depends on Origin unless it is always "*": tell caches. */
    if (!star)
        add_vary(ex);
    if (origin == NULL || !origin_allowed(c, origin))
        return;

    host->set_header(ex, "access-control-allow-origin", star ? "*" : origin);
    if (c->credentials)
        host->set_header(ex, "access-control-allow-credentials", "true");
    if (!preflight)
        return;

    host->set_header(ex, "access-control-allow-methods", c->methods);
    asked = req_header(ex, "access-control-request-headers");
    if (c->headers != NULL)
        host->set_header(ex, "access-control-allow-headers", c->headers);
    else if (asked != NULL && *asked != '\0')
        host->set_header(ex, "access-control-allow-headers", asked);
    if (c->max_age >= 0) {
        char age[24];

        snprintf(age, sizeof(age), "%ld", c->max_age);
        host->set_header(ex, "access-control-max-age", age);
    }
}
