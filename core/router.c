/*
 * router.c - the route table: each conf route's template compiled into
 * segments, matched against a request path without allocating (only the
 * params of the winning route go into the request's pool).
 *
 * Templates: "/" followed by segments separated by "/"; a segment is a
 * literal, {name} (one non-empty segment) or {name+} (greedy: the rest of
 * the path, one or more segments, slashes kept; only as the last segment).
 * Names are [A-Za-z0-9_]+, unique within a template.  A literal may not
 * contain "{" or "}", and may be empty only as the last segment (so "/"
 * and "/items/" are valid templates).  No control characters.
 *
 * Matching works on segments: the path is split on "/" as delivered, and
 * only then is each segment percent-decoded, if the source left the path
 * encoded (REST API, Function URL, ALB; an HTTP API decoded it already, and
 * it is never decoded twice).  A literal compares, byte for byte, with the
 * decoded segment; a param's value is the decoded segment, so "%2F" stays
 * inside its segment ("/items/a%2Fb" gives id "a/b", never "/items/a/b");
 * a greedy param is the rest of the path, decoded (its "/" and its "%2F"
 * then look alike).  "/items/" does not match "/items" nor the other way
 * round.  Among the routes whose template matches the path, the most
 * specific wins: at the first segment where two differ, a literal beats
 * {param}, which beats {rest+}; only between routes equally specific does
 * the method decide (the request's own method beats ANY).  HEAD is not GET.
 * A path no template matches is NONE (404); a path some template matches,
 * but never with the request's method nor ANY, is METHOD (405) and `allow`
 * lists those routes' methods once each, in the order GET, HEAD, POST, PUT,
 * PATCH, DELETE, OPTIONS.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cors.h"
#include "pct.h"
#include "router.h"
#include "schema.h"
#include "xalloc.h"

enum seg_kind {
    SEG_LIT = 0,        /* order matters: lower is more specific */
    SEG_PARAM = 1,
    SEG_REST = 2
};

struct seg {
    enum seg_kind  kind;
    const char    *s;       /* the literal, or the param's name; NUL-terminated */
    size_t         len;
};

struct compiled {
    size_t      nseg;       /* >= 1: "/" is one empty literal */
    struct seg *seg;
    size_t      nparams;
    int         method;     /* index in methods[] */
    const char *key;        /* "GET /items/{}" for duplicate checks */
};

struct ember_router {
    struct ember_pool  *mem;
    size_t              n;
    struct ember_route *routes;
};

/* The order of the Allow header; ANY last (it never appears there). */
static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY"
};
#define NMETHODS  (sizeof(methods) / sizeof(methods[0]))
#define METHOD_ANY (NMETHODS - 1)

/* ------------------------------------------------------------------ build */

static __attribute__((format(printf, 3, 4)))
void route_error(struct ember_buf *errs, const struct ember_conf_route *cr, const char *fmt, ...)
{
    va_list ap;

    ember_buf_printf(errs, "%s:%d: route \"", cr->file, cr->line);
    ember_schema_show(errs, cr->path);
    ember_buf_puts(errs, "\": ");
    va_start(ap, fmt);
    ember_buf_vprintf(errs, fmt, ap);
    va_end(ap);
    ember_buf_puts(errs, "\n");
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_';
}

/* Compile cr's template into c (router pool). -1: one error appended. */
static int compile(struct ember_pool *mem, struct compiled *c, const struct ember_conf_route *cr,
                   struct ember_buf *errs)
{
    const char      *t = cr->path;
    const char      *s;
    size_t           cap = 1, k, i;
    struct ember_buf key = EMBER_BUF_INIT;
    int              rc = -1;

    if (t[0] != '/') {
        route_error(errs, cr, "template must start with \"/\"");
        return -1;
    }
    for (s = t + 1; *s; s++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            route_error(errs, cr, "control character in the template");
            return -1;
        }
        cap += *s == '/';
    }
    c->seg = ember_pool_calloc(mem, cap * sizeof(*c->seg));
    c->nseg = 0;
    c->nparams = 0;
    for (i = 0; i < NMETHODS; i++) {
        if (strcmp(cr->method, methods[i]) == 0)
            break;
    }
    c->method = (int) (i < NMETHODS ? i : METHOD_ANY);
    ember_buf_printf(&key, "%s ", methods[c->method]);

    s = t + 1;
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t      len = slash ? (size_t) (slash - s) : strlen(s);
        int         last = slash == NULL;
        struct seg *g = &c->seg[c->nseg];

        if (len == 0 && !last) {
            route_error(errs, cr, "empty segment (\"//\")");
            goto out;
        }
        if (len > 0 && s[0] == '{') {
            const char *name = s + 1;
            size_t      nlen;

            if (len < 2 || s[len - 1] != '}') {
                route_error(errs, cr, "segment \"%.*s\": \"{\" without \"}\" at its end",
                            (int) len, s);
                goto out;
            }
            nlen = len - 2;
            g->kind = SEG_PARAM;
            if (nlen > 0 && name[nlen - 1] == '+') {
                g->kind = SEG_REST;
                nlen--;
            }
            if (nlen == 0) {
                route_error(errs, cr, "segment \"%.*s\": empty parameter name", (int) len, s);
                goto out;
            }
            for (i = 0; i < nlen; i++) {
                if (!name_char(name[i])) {
                    route_error(errs, cr, "parameter name \"%.*s\" may contain only letters, "
                                "digits and \"_\"", (int) nlen, name);
                    goto out;
                }
            }
            if (g->kind == SEG_REST && !last) {
                route_error(errs, cr, "greedy parameter \"{%.*s+}\" must be the last segment",
                            (int) nlen, name);
                goto out;
            }
            for (k = 0; k < c->nseg; k++) {
                if (c->seg[k].kind != SEG_LIT && c->seg[k].len == nlen
                    && memcmp(c->seg[k].s, name, nlen) == 0) {
                    route_error(errs, cr, "parameter \"%.*s\" appears twice", (int) nlen, name);
                    goto out;
                }
            }
            g->s = ember_pool_strndup(mem, name, nlen);
            g->len = nlen;
            c->nparams++;
            ember_buf_puts(&key, g->kind == SEG_REST ? "/{+}" : "/{}");
        } else {
            if (memchr(s, '{', len) || memchr(s, '}', len)) {
                route_error(errs, cr, "segment \"%.*s\": \"{\" and \"}\" may only surround a "
                            "whole segment ({name} or {name+})", (int) len, s);
                goto out;
            }
            g->kind = SEG_LIT;
            g->s = ember_pool_strndup(mem, s, len);
            g->len = len;
            ember_buf_printf(&key, "/%s", g->s);
        }
        c->nseg++;
        if (last)
            break;
        s = slash + 1;
    }
    c->key = ember_pool_strdup(mem, ember_buf_str(&key));
    rc = 0;
out:
    ember_buf_free(&key);
    return rc;
}

int ember_router_build(struct ember_router **rp, const struct ember_conf *conf,
                       struct ember_buf *errs)
{
    struct ember_router *r = ember_xcalloc(1, sizeof(*r));
    struct compiled     *c;
    int                  failed = 0;
    size_t               i, j;

    r->mem = ember_pool_create();
    r->n = conf->nroutes;
    r->routes = ember_pool_calloc(r->mem, (r->n ? r->n : 1) * sizeof(*r->routes));
    c = ember_pool_calloc(r->mem, (r->n ? r->n : 1) * sizeof(*c));
    for (i = 0; i < r->n; i++) {
        const struct ember_conf_route *cr = &conf->routes[i];
        struct ember_route            *route = &r->routes[i];

        route->info.method = cr->method;
        route->info.path_template = cr->path;
        route->info.file = cr->file;
        route->info.line = cr->line;
        route->conf = cr;
        route->nsteps = cr->nsteps;
        route->steps = ember_pool_calloc(r->mem, (cr->nsteps ? cr->nsteps : 1)
                                                 * sizeof(*route->steps));
        for (j = 0; j < cr->nsteps; j++) {
            route->steps[j].plugin = cr->steps[j].plugin;
            route->steps[j].conf = &cr->steps[j].block;
        }
        route->compiled = &c[i];
        if (ember_cors_build(&route->cors, conf, cr, r->mem, errs) != EMBER_OK)
            failed = 1;
        if (compile(r->mem, &c[i], cr, errs) < 0) {
            failed = 1;
            continue;
        }
        for (j = 0; j < i; j++) {
            if (c[j].key != NULL && strcmp(c[j].key, c[i].key) == 0) {
                struct ember_buf other = EMBER_BUF_INIT;

                ember_schema_show(&other, conf->routes[j].path);
                route_error(errs, cr, "duplicate of %s \"%s\" at line %d",
                            conf->routes[j].method, ember_buf_str(&other), conf->routes[j].line);
                ember_buf_free(&other);
                failed = 1;
                break;
            }
        }
    }
    if (failed) {
        ember_router_free(r);
        *rp = NULL;
        return EMBER_ERROR;
    }
    *rp = r;
    return EMBER_OK;
}

void ember_router_free(struct ember_router *r)
{
    if (r == NULL)
        return;
    ember_pool_destroy(r->mem);
    free(r);
}

size_t ember_router_count(const struct ember_router *r)
{
    return r->n;
}

struct ember_route *ember_router_route(struct ember_router *r, size_t i)
{
    return i < r->n ? &r->routes[i] : NULL;
}

/* ------------------------------------------------------------------ match */


/* p[0..n) as a param's value in the pool: decoded once if `encoded`. */
static const char *param_value(struct ember_pool *pool, const char *p, size_t n, int encoded)
{
    char *v;

    if (!encoded)
        return ember_pool_strndup(pool, p, n);
    v = ember_pool_alloc(pool, n + 1);
    ember_pct_decode(v, p, n, 0);
    return v;
}

/*
 * Does c match p[0..plen) (the path after its leading "/", percent-encoded
 * if `encoded`)?  With kv, also fill kv[0..c->nparams) with each param's
 * name and value (pool).
 */
static int match(const struct compiled *c, const char *p, size_t plen, int encoded,
                 struct ember_pool *pool, struct ember_kv *kv)
{
    size_t pos = 0, k, np = 0;

    for (k = 0; k < c->nseg; k++) {
        const struct seg *g = &c->seg[k];
        const char       *slash;
        size_t            e;

        if (g->kind == SEG_REST) {
            if (pos >= plen)
                return 0;
            if (kv) {
                kv[np].name = g->s;
                kv[np].value = param_value(pool, p + pos, plen - pos, encoded);
            }
            return 1;
        }
        slash = memchr(p + pos, '/', plen - pos);
        e = slash ? (size_t) (slash - p) : plen;
        if (g->kind == SEG_LIT) {
            if (encoded ? !ember_pct_equal(p + pos, e - pos, g->s, g->len)
                        : (e - pos != g->len || memcmp(p + pos, g->s, g->len) != 0))
                return 0;
        } else {
            if (e == pos)
                return 0;
            if (kv) {
                kv[np].name = g->s;
                kv[np].value = param_value(pool, p + pos, e - pos, encoded);
            }
            np++;
        }
        if (k + 1 == c->nseg)
            return e == plen;
        if (e == plen)
            return 0;
        pos = e + 1;
    }
    return 0;
}

/* <0: a is more specific than b; >0: b is; 0: equal. */
static int specificity(const struct compiled *a, const struct compiled *b)
{
    size_t k, n = a->nseg < b->nseg ? a->nseg : b->nseg;

    for (k = 0; k < n; k++) {
        if (a->seg[k].kind != b->seg[k].kind)
            return (int) a->seg[k].kind - (int) b->seg[k].kind;
    }
    if (a->method != b->method)
        return a->method == (int) METHOD_ANY ? 1 : -1;
    return 0;
}

enum ember_route_match ember_router_match(struct ember_router *r, const char *method,
                                          const char *path, int encoded,
                                          struct ember_pool *pool,
                                          struct ember_route **route,
                                          struct ember_kv **params, size_t *nparams,
                                          const char **allow)
{
    const struct compiled *best = NULL;
    size_t                 i, ibest = 0, plen;
    unsigned               allowed = 0;

    *route = NULL;
    *params = NULL;
    *nparams = 0;
    *allow = NULL;
    if (path == NULL || path[0] != '/' || method == NULL)
        return EMBER_ROUTE_NONE;
    path++;
    plen = strlen(path);
    for (i = 0; i < r->n; i++) {
        const struct compiled *c = r->routes[i].compiled;

        if (!match(c, path, plen, encoded, NULL, NULL))
            continue;
        if (c->method != (int) METHOD_ANY && strcasecmp(method, methods[c->method]) != 0) {
            allowed |= 1u << c->method;
            continue;
        }
        if (best == NULL || specificity(c, best) < 0) {
            best = c;
            ibest = i;
        }
    }
    if (best != NULL) {
        *route = &r->routes[ibest];
        if (best->nparams > 0) {
            struct ember_kv *kv = ember_pool_alloc(pool, best->nparams * sizeof(*kv));

            match(best, path, plen, encoded, pool, kv);
            *params = kv;
            *nparams = best->nparams;
        }
        return EMBER_ROUTE_FOUND;
    }
    if (allowed) {
        char   list[64];     /* "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" fits */
        size_t len = 0;

        for (i = 0; i < METHOD_ANY; i++) {
            if (allowed & (1u << i))
                len += (size_t) snprintf(list + len, sizeof(list) - len, "%s%s",
                                         len ? ", " : "", methods[i]);
        }
        *allow = ember_pool_strdup(pool, list);
        return EMBER_ROUTE_METHOD;
    }
    return EMBER_ROUTE_NONE;
}
