/*
 * test_router.c - the route table: specificity (literal > {param} >
 * {rest+}, exact method > ANY), param decoding, greedy params keeping
 * their slashes, 404 vs 405 with the exact Allow list, and the exact
 * messages for bad templates and duplicate routes.
 *
 * Routes use the test plugin `probe` (EMBER_TEST_PLUGINS=1), so this holds
 * whatever plugins the build includes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "pool.h"
#include "router.h"
#include "../tap.h"

/* One route per "METHOD TEMPLATE" (each on 3 lines: route, probe, }). */
static struct ember_conf *conf_of(const char *const *routes, struct ember_buf *errs)
{
    struct ember_buf   text = EMBER_BUF_INIT;
    struct ember_conf *conf = NULL;
    size_t             i;

    for (i = 0; routes[i]; i++)
        ember_buf_printf(&text, "route %s {\n  probe\n}\n", routes[i]);
    ember_buf_reset(errs);
    ember_conf_parse(&conf, "r.conf", ember_buf_str(&text), text.len, errs);
    ember_buf_free(&text);
    return conf;
}

static const char *const table[] = {
    "GET /items",                  /* line 1 */
    "GET /items/{id}",             /* 4 */
    "GET /items/new",              /* 7 */
    "POST /items",                 /* 10 */
    "ANY /items/{id}/tags",        /* 13 */
    "GET /files/{path+}",          /* 16 */
    "GET /files/{dir}/meta",       /* 19 */
    "ANY /any/{x}",                /* 22 */
    "GET /any/{x}",                /* 25 */
    "DELETE /items/{id}",          /* 28 */
    "GET /",                       /* 31 */
    "GET /a/{x}/c",                /* 34 */
    "GET /a/b/{y}",                /* 37 */
    "PUT /greedy/{rest+}",         /* 40 */
    "OPTIONS /items",              /* 43 */
    "GET /dir/",                   /* 46 */
    "GET /p/{a}/{b}/{c+}",         /* 49 */
    NULL
};

static struct ember_router *router;
static struct ember_pool   *pool;
static int                  encoded;    /* the paths below are still percent-encoded */

/* Expect FOUND on the route at `line`, with params "a=1&b=2" ("" for none). */
static void found(const char *method, const char *path, int line, const char *params)
{
    struct ember_route *route = NULL;
    struct ember_kv    *kv = NULL;
    size_t              n = 0, i;
    const char         *allow = "x";
    struct ember_buf    got = EMBER_BUF_INIT;
    enum ember_route_match m;

    m = ember_router_match(router, method, path, encoded, pool, &route, &kv, &n, &allow);
    is_int(m, EMBER_ROUTE_FOUND, "%s %s: found", method, path);
    is_int(route ? route->info.line : 0, line, "%s %s: the route at line %d", method, path, line);
    for (i = 0; i < n; i++)
        ember_buf_printf(&got, "%s%s=%s", i ? "&" : "", kv[i].name, kv[i].value);
    is_str(ember_buf_str(&got), params, "%s %s: params", method, path);
    ok(allow == NULL, "%s %s: no allow", method, path);
    ember_buf_free(&got);
}

static void none(const char *method, const char *path)
{
    struct ember_route *route = (struct ember_route *) 1;
    struct ember_kv    *kv = (struct ember_kv *) 1;
    size_t              n = 1;
    const char         *allow = "x";
    enum ember_route_match m;

    m = ember_router_match(router, method, path, encoded, pool, &route, &kv, &n, &allow);
    is_int(m, EMBER_ROUTE_NONE, "%s %s: 404", method, path ? path : "(null)");
    ok(route == NULL && kv == NULL && n == 0 && allow == NULL, "%s %s: nothing set", method,
       path ? path : "(null)");
}

static void not_allowed(const char *method, const char *path, const char *want)
{
    struct ember_route *route = (struct ember_route *) 1;
    struct ember_kv    *kv = NULL;
    size_t              n = 0;
    const char         *allow = NULL;
    enum ember_route_match m;

    m = ember_router_match(router, method, path, encoded, pool, &route, &kv, &n, &allow);
    is_int(m, EMBER_ROUTE_METHOD, "%s %s: 405", method, path);
    is_str(allow, want, "%s %s: allow", method, path);
    ok(route == NULL, "%s %s: no route", method, path);
}

static void test_match(void)
{
    struct ember_buf   errs = EMBER_BUF_INIT;
    struct ember_conf *conf = conf_of(table, &errs);
    struct ember_route *r;
    int                rc;

    is_str(ember_buf_str(&errs), "", "table: conf parses");
    if (conf == NULL)
        return;
    rc = ember_router_build(&router, conf, &errs);
    is_int(rc, EMBER_OK, "table: router builds");
    is_str(ember_buf_str(&errs), "", "table: no errors");
    if (rc != EMBER_OK) {
        ember_conf_free(conf);
        ember_buf_free(&errs);
        return;
    }
    pool = ember_pool_create();

    is_int((long long) ember_router_count(router), 17, "table: 17 routes");
    r = ember_router_route(router, 1);
    ok(r && strcmp(r->info.method, "GET") == 0 && strcmp(r->info.path_template, "/items/{id}") == 0
       && strcmp(r->info.file, "r.conf") == 0 && r->info.line == 4 && r->conf == &conf->routes[1]
       && r->nsteps == 1 && strcmp(r->steps[0].plugin, "probe") == 0
       && r->steps[0].conf == &conf->routes[1].steps[0].block && r->steps[0].slot == NULL
       && r->steps[0].ready == 0, "route 2: info and steps from the conf");
    ok(ember_router_route(router, 17) == NULL, "route out of range: NULL");

    /* specificity */
    found("GET", "/items", 1, "");
    found("GET", "/items/42", 4, "id=42");
    found("GET", "/items/new", 7, "");                   /* literal beats {id} */
    found("DELETE", "/items/new", 28, "id=new");         /* ... unless its method differs */
    found("POST", "/items", 10, "");
    found("GET", "/items/42/tags", 13, "id=42");         /* ANY */
    found("PATCH", "/items/42/tags", 13, "id=42");
    found("GET", "/files/a", 16, "path=a");
    found("GET", "/files/a/b/c.txt", 16, "path=a/b/c.txt");   /* greedy keeps slashes */
    found("GET", "/files/x/meta", 19, "dir=x");          /* {dir} beats {path+} */
    found("GET", "/files/x/meta/y", 16, "path=x/meta/y");
    found("GET", "/files/x/", 16, "path=x/");
    found("GET", "/any/1", 25, "x=1");                   /* GET beats ANY */
    found("POST", "/any/1", 22, "x=1");
    found("GET", "/", 31, "");
    found("GET", "/a/b/c", 37, "y=c");                   /* first difference: b beats {x} */
    found("GET", "/a/z/c", 34, "x=z");
    found("GET", "/dir/", 46, "");
    found("GET", "/p/1/2/3/4", 49, "a=1&b=2&c=3/4");
    found("get", "/items", 1, "");                       /* methods compare case-blind */

    /* a path already decoded (HTTP API): never decoded again */
    found("GET", "/items/a%20b", 4, "id=a%20b");
    found("GET", "/items/a b", 4, "id=a b");
    found("GET", "/items/AB\xe2\x82\xac", 4, "id=AB\xe2\x82\xac");
    found("GET", "/items/%zz%4", 4, "id=%zz%4");
    found("GET", "/items/a+b", 4, "id=a+b");             /* "+" is not a space in a path */
    found("PUT", "/greedy/x%2Fy/z", 40, "rest=x%2Fy/z");
    found("GET", "/items/%6eew", 4, "id=%6eew");         /* literals compare as written */
    found("GET", "/items/a%2Fb", 4, "id=a%2Fb");
    found("GET", "/items/%2541", 4, "id=%2541");
    none("GET", "/it%65ms");

    /* a path still encoded (REST, Function URL, ALB): split on "/", then
       each segment decoded once: a literal compares decoded, a param is
       decoded after the split, so "%2F" never makes a new segment */
    encoded = 1;
    found("GET", "/items/a%2Fb", 4, "id=a/b");
    found("GET", "/items/a%2fb", 4, "id=a/b");
    found("GET", "/items/a%20b", 4, "id=a b");
    found("GET", "/items/%2541", 4, "id=%41");           /* once, not twice */
    found("GET", "/items/%6eew", 7, "");                 /* a literal, once decoded */
    found("GET", "/it%65ms", 1, "");
    found("GET", "/items/a+b", 4, "id=a+b");
    found("GET", "/items/%zz%4", 4, "id=%zz%4");
    found("GET", "/items/%E2%82%AC", 4, "id=\xe2\x82\xac");
    found("PUT", "/greedy/x%2Fy/z%20", 40, "rest=x/y/z ");
    found("GET", "/files/x%2Fmeta", 16, "path=x/meta");  /* not {dir}/meta */
    found("GET", "/a/%62/c", 37, "y=c");
    not_allowed("PUT", "/it%65ms", "GET, POST, OPTIONS");
    none("GET", "/items%2F42");                          /* one segment, no such literal */
    found("GET", "/items/42%2F", 4, "id=42/");           /* the slash stays in the param */
    none("GET", "/dir%2F");
    encoded = 0;

    /* 404 */
    none("GET", "/items/");                              /* trailing slash is exact */
    none("GET", "/items/42/");
    none("GET", "/dir");
    none("GET", "/files");
    none("GET", "/files/");                              /* {path+} needs a segment */
    none("GET", "/nope");
    none("GET", "//");
    none("GET", "");
    none("GET", "items");
    none("GET", NULL);
    none("GET", "/prod/items");                          /* no stage stripping here */
    none("GET", "/p/1/2");

    /* 405 */
    not_allowed("PUT", "/items", "GET, POST, OPTIONS");
    not_allowed("HEAD", "/items", "GET, POST, OPTIONS"); /* HEAD is not GET */
    not_allowed("POST", "/items/42", "GET, DELETE");
    not_allowed("POST", "/items/new", "GET, DELETE");    /* every route the path matches */
    not_allowed("DELETE", "/files/a/b", "GET");
    not_allowed("post", "/", "GET");

    ember_pool_destroy(pool);
    ember_router_free(router);
    ember_conf_free(conf);
    ember_buf_free(&errs);
}

/* The routes must be refused with exactly `want`. */
static void refused(const char *const *routes, const char *want, const char *name)
{
    struct ember_buf     errs = EMBER_BUF_INIT;
    struct ember_conf   *conf = conf_of(routes, &errs);
    struct ember_router *r = (struct ember_router *) 1;
    int                  rc;

    is_str(ember_buf_str(&errs), "", "%s: conf parses", name);
    if (conf == NULL) {
        ember_buf_free(&errs);
        return;
    }
    rc = ember_router_build(&r, conf, &errs);
    is_int(rc, EMBER_ERROR, "%s: refused", name);
    ok(r == NULL, "%s: no router", name);
    is_str(ember_buf_str(&errs), want, "%s: message", name);
    if (rc == EMBER_OK)
        ember_router_free(r);
    ember_conf_free(conf);
    ember_buf_free(&errs);
}

#define ROUTES(...) ((const char *const[]) { __VA_ARGS__, NULL })

static void test_templates(void)
{
    refused(ROUTES("GET items"),
            "r.conf:1: route \"items\": template must start with \"/\"\n", "no leading /");
    refused(ROUTES("GET ''"),
            "r.conf:1: route \"\": template must start with \"/\"\n", "empty template");
    refused(ROUTES("GET /a//b"),
            "r.conf:1: route \"/a//b\": empty segment (\"//\")\n", "empty segment");
    refused(ROUTES("GET /a/{"),
            "r.conf:1: route \"/a/{\": segment \"{\": \"{\" without \"}\" at its end\n",
            "unclosed {");
    refused(ROUTES("GET /{a}b"),
            "r.conf:1: route \"/{a}b\": segment \"{a}b\": \"{\" without \"}\" at its end\n",
            "text after }");
    refused(ROUTES("GET /a/{}"),
            "r.conf:1: route \"/a/{}\": segment \"{}\": empty parameter name\n", "empty name");
    refused(ROUTES("GET /a/{+}"),
            "r.conf:1: route \"/a/{+}\": segment \"{+}\": empty parameter name\n",
            "empty greedy name");
    refused(ROUTES("GET /a/{a-b}"),
            "r.conf:1: route \"/a/{a-b}\": parameter name \"a-b\" may contain only letters, "
            "digits and \"_\"\n", "bad name");
    refused(ROUTES("GET /a/{{x}}"),
            "r.conf:1: route \"/a/{{x}}\": parameter name \"{x}\" may contain only letters, "
            "digits and \"_\"\n", "nested braces");
    refused(ROUTES("GET /a/{p+}/b"),
            "r.conf:1: route \"/a/{p+}/b\": greedy parameter \"{p+}\" must be the last "
            "segment\n", "greedy not last");
    refused(ROUTES("GET /a/{id}/{id}"),
            "r.conf:1: route \"/a/{id}/{id}\": parameter \"id\" appears twice\n", "duplicate name");
    refused(ROUTES("GET /a/{id}/{id+}"),
            "r.conf:1: route \"/a/{id}/{id+}\": parameter \"id\" appears twice\n",
            "duplicate name, greedy");
    refused(ROUTES("GET /a{b}"),
            "r.conf:1: route \"/a{b}\": segment \"a{b}\": \"{\" and \"}\" may only surround a "
            "whole segment ({name} or {name+})\n", "{ in a literal");
    refused(ROUTES("GET /a}"),
            "r.conf:1: route \"/a}\": segment \"a}\": \"{\" and \"}\" may only surround a whole "
            "segment ({name} or {name+})\n", "} in a literal");
    refused(ROUTES("GET \"a\\tb\\\"\""),
            "r.conf:1: route \"a\\tb\\\"\": template must start with \"/\"\n",
            "template shown escaped on one line");
    refused(ROUTES("GET \"/a\\tb\""),
            "r.conf:1: route \"/a\\tb\": control character in the template\n",
            "control character");
}

static void test_duplicates(void)
{
    refused(ROUTES("GET /a/{x}", "GET /a/{y}"),
            "r.conf:4: route \"/a/{y}\": duplicate of GET \"/a/{x}\" at line 1\n",
            "same template after renaming params");
    refused(ROUTES("ANY /a", "GET /b", "any /a"),
            "r.conf:7: route \"/a\": duplicate of ANY \"/a\" at line 1\n", "same ANY route");
    refused(ROUTES("GET /f/{p+}", "GET /f/{q+}", "GET x", "GET /g/{a}/{b}", "GET /g/{c}/{d}"),
            "r.conf:4: route \"/f/{q+}\": duplicate of GET \"/f/{p+}\" at line 1\n"
            "r.conf:7: route \"x\": template must start with \"/\"\n"
            "r.conf:13: route \"/g/{c}/{d}\": duplicate of GET \"/g/{a}/{b}\" at line 10\n",
            "every error, in order");

    /* not duplicates */
    {
        struct ember_buf     errs = EMBER_BUF_INIT;
        struct ember_conf   *conf = conf_of(ROUTES("GET /a/{x}", "ANY /a/{x}", "POST /a/{x}",
                                                   "GET /a/{x+}", "GET /a/x", "GET /a/{x}/",
                                                   "HEAD /a/{x}"), &errs);
        struct ember_router *r = NULL;

        ok(conf && ember_router_build(&r, conf, &errs) == EMBER_OK,
           "GET/ANY/POST/HEAD, {x} vs {x+} vs x, trailing /: all distinct");
        is_str(ember_buf_str(&errs), "", "distinct: no errors");
        ember_router_free(r);
        ember_conf_free(conf);
        ember_buf_free(&errs);
    }
    /* an empty table: every path is 404 */
    {
        struct ember_buf     errs = EMBER_BUF_INIT;
        struct ember_conf   *conf = NULL;
        struct ember_route  *route;
        struct ember_kv     *kv;
        size_t               n;
        const char          *allow;

        ember_conf_parse(&conf, "r.conf", "", 0, &errs);
        ok(conf && ember_router_build(&router, conf, &errs) == EMBER_OK
           && ember_router_count(router) == 0, "empty table builds");
        pool = ember_pool_create();
        is_int(ember_router_match(router, "GET", "/", 0, pool, &route, &kv, &n, &allow),
               EMBER_ROUTE_NONE, "empty table: GET / is 404");
        ember_pool_destroy(pool);
        ember_router_free(router);
        ember_conf_free(conf);
        ember_buf_free(&errs);
    }
}

int main(void)
{
    setenv("EMBER_TEST_PLUGINS", "1", 1);
    test_match();
    test_templates();
    test_duplicates();
    return done_testing();
}
