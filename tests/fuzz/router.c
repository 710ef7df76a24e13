/*
 * router.c - fuzz target: core/router.c, templates x paths.  Routes are
 * built straight from a struct ember_conf (the config parser has its own
 * target), so templates may hold any byte but NUL.
 *
 * Input: byte 0 -> 1..8 routes; each route is a method byte and a template
 * up to '\n'; then requests, each a method byte (bit 7: the path is still
 * percent-encoded, as some sources leave it) and a path up to '\n' ("/" is
 * put in front of a path that lacks it: the router's contract).
 * Oracles: ASan/UBSan; a FOUND route carries as many params as its
 * template has, each one present and, unless {rest+} or decoded from an
 * encoded path (%2F), without '/'; a METHOD answer has a non-empty Allow
 * list.
 */
#include "config.h"

#include "buf.h"
#include "conf.h"
#include "fuzz.h"
#include "pool.h"
#include "router.h"

static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY", "get", "TRACE"
};
#define NM (sizeof(methods) / sizeof(methods[0]))

#define MAX_ROUTES 8

static size_t count_params(const char *t)
{
    size_t n = 0;

    for (; *t; t++)
        n += *t == '{';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ember_pool *pool;
    struct fz                 f = { data, size };
    struct ember_conf         conf;
    struct ember_conf_route   routes[MAX_ROUTES];
    char                     *tpl[MAX_ROUTES];
    struct ember_router      *r = NULL;
    struct ember_buf          errs = EMBER_BUF_INIT;
    size_t                    i, n, nparams, k;
    int                       requests = 0;

    if (pool == NULL) {
        fz_quiet();
        pool = ember_pool_create();
    }
    memset(&conf, 0, sizeof(conf));
    memset(routes, 0, sizeof(routes));
    n = fz_byte(&f) % MAX_ROUTES + 1;
    for (i = 0; i < n; i++) {
        routes[i].method = methods[fz_byte(&f) % 8];
        tpl[i] = fz_until(&f, '\n', NULL);
        routes[i].path = tpl[i];
        routes[i].file = "fuzz.conf";
        routes[i].line = (int) i + 1;
    }
    conf.file = "fuzz.conf";
    conf.nroutes = n;
    conf.routes = routes;

    if (ember_router_build(&r, &conf, &errs) == EMBER_OK) {
        while (f.n > 0 && requests++ < 64) {
            unsigned             mb = fz_byte(&f);
            const char          *m = methods[(mb & 0x7f) % NM], *allow = NULL;
            int                  encoded = (mb & 0x80) != 0;
            char                *raw = fz_until(&f, '\n', NULL);
            char                *path = raw[0] == '/' ? raw : ember_pool_sprintf(pool, "/%s", raw);
            struct ember_route  *route = NULL;
            struct ember_kv     *params = NULL;

            nparams = 0;
            switch (ember_router_match(r, m, path, encoded, pool, &route, &params, &nparams,
                                       &allow)) {
            case EMBER_ROUTE_FOUND:
                if (route == NULL || nparams != count_params(route->info.path_template))
                    abort();
                for (k = 0; k < nparams; k++) {
                    if (params[k].name == NULL || params[k].value == NULL)
                        abort();
                    if (!encoded && strchr(params[k].value, '/') != NULL
                        && strstr(route->info.path_template, "+}") == NULL)
                        abort();
                }
                break;
            case EMBER_ROUTE_METHOD:
                if (allow == NULL || allow[0] == '\0')
                    abort();
                break;
            case EMBER_ROUTE_NONE:
                break;
            }
            free(raw);
        }
        ember_router_free(r);
    } else if (errs.len == 0) {
        abort();                        /* a failure says why */
    }
    ember_buf_free(&errs);
    for (i = 0; i < n; i++)
        free(tpl[i]);
    ember_pool_reset(pool);
    return 0;
}
