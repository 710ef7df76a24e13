/*
 * test_loader - the real loader (core/plugin.c) and exchange
 * (core/exchange.c) with the test plugins probe, badabi, failinit,
 * badmagic, badname and needsgone from
 * $top_builddir/tests/plugins/.libs.  The config is built by hand, so the
 * test depends on nothing but the structs of conf.h.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "conf.h"
#include "error.h"
#include "exchange.h"
#include "loader.h"
#include "log.h"
#include "pool.h"
#include "router.h"
#include "../tap.h"

/* ---------------------------------------------------------------- helpers */

static char tmpdir[PATH_MAX];
static char plugdir[PATH_MAX];
static char record_path[PATH_MAX + 32];
static char failrecord_path[PATH_MAX + 32];

/* The whole file as a string (caller frees), or NULL if it does not exist. */
static char *slurp(const char *path)
{
    FILE  *f = fopen(path, "r");
    char  *s = NULL;
    size_t len = 0, n;
    char   buf[4096];

    if (f == NULL)
        return NULL;
    s = calloc(1, 1);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        s = realloc(s, len + n + 1);
        memcpy(s + len, buf, n);
        len += n;
        s[len] = '\0';
    }
    fclose(f);
    return s;
}

static int is_file(const char *path, const char *expected, const char *name)
{
    char *got = slurp(path);
    int   r = is_str(got, expected, "%s", name);

    free(got);
    return r;
}

/* Is needle in a mapped path of /proc/self/maps? */
static int maps_has(const char *needle)
{
    char *maps = slurp("/proc/self/maps");
    int   r = maps != NULL && strstr(maps, needle) != NULL;

    free(maps);
    return r;
}

/* ---------------------------------------------------------------- the config, by hand */

#define D(nm, ln, ...) { .name = nm, .argc = sizeof((const char *[]) { __VA_ARGS__ }) \
                          / sizeof(const char *), .argv = (const char *[]) { __VA_ARGS__ }, \
                          .file = "test.conf", .line = ln }
#define BLOCK(nm, ln, arr) { .name = nm, .file = "test.conf", .line = ln, \
                             .n = sizeof(arr) / sizeof(arr[0]), .d = arr }
#define EMPTY(nm, ln) { .name = nm, .file = "test.conf", .line = ln, .n = 0, .d = NULL }

static const char *record_argv[1], *failrecord_argv[1];
static struct ember_conf_directive probe_global_d[1], failinit_global_d[1];

static const struct ember_conf_directive d_answer[] = { D("answer", 10, "201", "{\"a\":1}") };
static const struct ember_conf_directive d_answer_default[] = { D("answer", 11, "200") };
static const struct ember_conf_directive d_answer_bad[] = { D("answer", 12, "abc") };
static const struct ember_conf_directive d_answer_202[] = { D("answer", 13, "202") };
static const struct ember_conf_directive d_echo[] = { D("echo", 14, "on") };
static const struct ember_conf_directive d_fail[] = { D("fail", 15, "401") };
static const struct ember_conf_directive d_maps[] = {
    D("maps", 16, "probe.so", "libjson-c", "no-such-lib-xyz")
};

static struct ember_conf_step s_answer[] = { { "probe", BLOCK("probe", 10, d_answer) } };
static struct ember_conf_step s_default[] = { { "probe", BLOCK("probe", 11, d_answer_default) } };
static struct ember_conf_step s_badstatus[] = { { "probe", BLOCK("probe", 12, d_answer_bad) } };
static struct ember_conf_step s_chain[] = {
    { "probe", EMPTY("probe", 20) },
    { "probe", BLOCK("probe", 13, d_answer_202) },
    { "failinit", EMPTY("failinit", 21) },
};
static struct ember_conf_step s_echo[] = { { "probe", BLOCK("probe", 14, d_echo) } };
static struct ember_conf_step s_fail[] = { { "probe", BLOCK("probe", 15, d_fail) } };
static struct ember_conf_step s_maps[] = { { "probe", BLOCK("probe", 16, d_maps) } };
static struct ember_conf_step s_none[] = { { "probe", EMPTY("probe", 22) } };
static struct ember_conf_step s_badabi[] = { { "badabi", EMPTY("badabi", 23) } };
static struct ember_conf_step s_failinit[] = { { "failinit", EMPTY("failinit", 24) } };
static struct ember_conf_step s_other[] = { { "other", EMPTY("other", 25) } };
static struct ember_conf_step s_missing[] = { { "nosuch", EMPTY("nosuch", 26) } };

#define ROUTE(m, p, ln, steps) { m, p, "test.conf", ln, sizeof(steps) / sizeof(steps[0]), steps }

enum {
    R_ANSWER, R_DEFAULT, R_BADSTATUS, R_CHAIN, R_ECHO, R_FAIL, R_MAPS, R_NONE,
    R_BADABI, R_FAILINIT, R_OTHER, R_MISSING, NROUTES
};

static struct ember_conf_route routes[NROUTES] = {
    [R_ANSWER]    = ROUTE("GET", "/answer", 10, s_answer),
    [R_DEFAULT]   = ROUTE("GET", "/default", 11, s_default),
    [R_BADSTATUS] = ROUTE("GET", "/badstatus", 12, s_badstatus),
    [R_CHAIN]     = ROUTE("POST", "/chain", 13, s_chain),
    [R_ECHO]      = ROUTE("ANY", "/echo/{id}", 14, s_echo),
    [R_FAIL]      = ROUTE("GET", "/fail", 15, s_fail),
    [R_MAPS]      = ROUTE("GET", "/maps", 16, s_maps),
    [R_NONE]      = ROUTE("GET", "/none", 22, s_none),
    [R_BADABI]    = ROUTE("GET", "/badabi", 23, s_badabi),
    [R_FAILINIT]  = ROUTE("GET", "/failinit", 24, s_failinit),
    [R_OTHER]     = ROUTE("GET", "/other", 25, s_other),
    [R_MISSING]   = ROUTE("GET", "/missing", 26, s_missing),
};

static struct ember_conf_block plugin_blocks[2];
static struct ember_conf conf;

/* The router's view of conf's routes, by hand (router.c is not needed). */
static struct ember_route eroutes[NROUTES];

static void build_conf(void)
{
    size_t i, j;

    record_argv[0] = record_path;
    failrecord_argv[0] = failrecord_path;
    probe_global_d[0] = (struct ember_conf_directive) {
        "record", 1, record_argv, "test.conf", 2 };
    failinit_global_d[0] = (struct ember_conf_directive) {
        "record", 1, failrecord_argv, "test.conf", 5 };
    plugin_blocks[0] = (struct ember_conf_block) BLOCK("probe", 1, probe_global_d);
    plugin_blocks[1] = (struct ember_conf_block) BLOCK("failinit", 4, failinit_global_d);

    conf.file = "test.conf";
    conf.log_level = -1;
    conf.nplugins = 2;
    conf.plugins = plugin_blocks;
    conf.nroutes = NROUTES;
    conf.routes = routes;

    for (i = 0; i < NROUTES; i++) {
        struct ember_route *r = &eroutes[i];

        r->info.method = routes[i].method;
        r->info.path_template = routes[i].path;
        r->info.file = routes[i].file;
        r->info.line = routes[i].line;
        r->conf = &routes[i];
        r->nsteps = routes[i].nsteps;
        r->steps = calloc(r->nsteps, sizeof(*r->steps));
        for (j = 0; j < r->nsteps; j++) {
            r->steps[j].plugin = routes[i].steps[j].plugin;
            r->steps[j].conf = &routes[i].steps[j].block;
        }
    }
    /* the chain's first step has no route settings: route_init gets NULL */
    eroutes[R_CHAIN].steps[0].conf = NULL;
}

/* ---------------------------------------------------------------- an exchange */

struct fixture {
    struct ember_pool          *pool;
    struct ember_exchange_core  core;
    struct ember_request        req;
    struct ember_response       res;
    struct ember_error          err;
    struct ember_exchange       ex;
};

static void fx_init(struct fixture *f, const char *method, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->pool = ember_pool_create();
    f->core.pool = f->pool;
    f->req.method = method;
    f->req.path = path;
    f->req.raw_query = "";
    f->req.source = "v2";
    f->req.request_id = "rid-1";
    f->ex.host = &ember_host;
    f->ex.req = &f->req;
    f->ex.res = &f->res;
    f->ex.vars = json_object_new_object();
    f->ex.err = &f->err;
    f->ex.core = &f->core;
}

static void fx_free(struct fixture *f)
{
    json_object_put(f->ex.vars);
    ember_pool_destroy(f->pool);
}

static const char *res_header(const struct ember_response *res, const char *name)
{
    size_t i;

    for (i = 0; i < res->nheaders; i++)
        if (strcmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run route i on a fresh exchange; the caller inspects and frees f. */
static int run(struct fixture *f, struct ember_plugins *ps, int i, const char *method,
               const char *path)
{
    fx_init(f, method, path);
    f->ex.route = &eroutes[i].info;
    return ember_exchange_run(&f->ex, &eroutes[i], ps);
}

/* ---------------------------------------------------------------- tests: loader */

static void test_slots(struct ember_plugins *ps)
{
    struct ember_plugin_slot *s;

    s = ember_plugins_find(ps, "probe");
    ok(s != NULL, "slot for probe (named by routes)");
    if (s != NULL) {
        ok(s->global == &plugin_blocks[0], "probe's global block is its `plugin probe {}`");
        ok(s->plugin == NULL && s->dl == NULL, "probe not loaded at create");
    }
    s = ember_plugins_find(ps, "badabi");
    ok(s != NULL && s->global != NULL && s->global->n == 0
       && strcmp(s->global->name, "badabi") == 0,
       "badabi without a plugin block gets an empty block with its name");
    ok(ember_plugins_find(ps, "nosuch") != NULL, "slot for a plugin whose .so is missing");
    ok(ember_plugins_find(ps, "zzz") == NULL, "no slot for a plugin the config does not name");
    ok(!maps_has("/probe.so"), "probe.so is not mapped before first use");
}

static void test_preload_errors(struct ember_plugins *ps)
{
    struct ember_error err;
    int                rc;

    ember_error_clear(&err);
    rc = ember_plugins_preload(ps, "probe, zzz", &err);
    is_int(rc, EMBER_ERROR, "preload with an unknown name fails");
    is_str(err.message, "EMBER_PRELOAD: unknown plugin \"zzz\" (configured: probe failinit "
           "badabi other nosuch)", "preload names the unknown plugin and the configured ones");
    ok(ember_plugins_find(ps, "probe")->plugin == NULL && !maps_has("/probe.so"),
       "names are checked before anything is loaded");
    ember_error_clear(&err);
    is_int(ember_plugins_preload(ps, "", &err), EMBER_OK, "preload of nothing is a no-op");
    is_int(ember_plugins_preload(ps, NULL, &err), EMBER_OK, "preload NULL is a no-op");
}

static void test_load_probe(struct ember_plugins *ps)
{
    struct ember_plugin_slot *s = ember_plugins_find(ps, "probe");
    struct ember_error        err;
    char                      expect[PATH_MAX + 32];

    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_OK, "probe loads");
    is_str(err.message, "", "no error message");
    snprintf(expect, sizeof(expect), "%s/probe.so", plugdir);
    is_str(s->path, expect, "probe found in the second directory of the list");
    ok(s->plugin != NULL && s->dl != NULL, "slot holds plugin and handle");
    ok(s->plugin != NULL && strcmp(s->plugin->name, "probe") == 0, "plugin calls itself probe");
    is_file(record_path, "init\n", "init ran once, on load");
    ok(maps_has("/probe.so"), "probe.so is mapped after load");

    is_int(ember_plugin_load(ps, s, &err), EMBER_OK, "second load is OK");
    is_file(record_path, "init\n", "second load did not run init again");

    ember_error_clear(&err);
    is_int(ember_plugins_preload(ps, " probe ,", &err), EMBER_OK,
           "preload of a loaded plugin, with blanks and an empty item");
    is_file(record_path, "init\n", "preload did not run init again");
}

static void test_badabi(struct ember_plugins *ps)
{
    struct ember_plugin_slot *s = ember_plugins_find(ps, "badabi");
    struct ember_error        err;
    char                      expect[PATH_MAX + 128];

    ember_error_clear(&err);
    err.public_message = "stale";
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "badabi is refused");
    is_int(err.status, 500, "status 500");
    ok(err.public_message == NULL, "no public message");
    snprintf(expect, sizeof(expect), "plugin \"badabi\": %s/badabi.so: plugin ABI 1, "
             "runtime needs 2", plugdir);
    is_str(err.message, expect, "the ABI message names the file and both numbers");
    ok(s->plugin == NULL && s->dl == NULL && s->state == NULL, "slot stays unloaded");
    ok(!maps_has("/badabi.so"), "badabi.so is unmapped again");
}

static void test_missing(struct ember_plugins *ps)
{
    struct ember_plugin_slot *s = ember_plugins_find(ps, "nosuch");
    struct ember_error        err;
    char                      expect[PATH_MAX + 256];

    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "a missing .so fails");
    is_int(err.status, 500, "status 500");
    snprintf(expect, sizeof(expect), "plugin \"nosuch\": %s/nosuch.so: cannot open shared "
             "object file: No such file or directory; check --with-plugins and the ZIP's "
             "plugins/", tmpdir);
    is_str(err.message, expect, "dlerror names the first directory's candidate, with the hint");
    ok(s->plugin == NULL && s->dl == NULL, "slot stays unloaded");
}

static void test_failinit(struct ember_plugins *ps)
{
    struct ember_plugin_slot *s = ember_plugins_find(ps, "failinit");
    struct ember_error        err;
    char                      expect[PATH_MAX + 128];

    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "failinit fails");
    is_int(err.status, 500, "status 500");
    snprintf(expect, sizeof(expect), "plugin \"failinit\": %s/failinit.so: init failed: "
             "failinit: refusing to start", plugdir);
    is_str(err.message, expect, "message carries the plugin's own message");
    ok(s->plugin == NULL && s->dl == NULL && s->state == NULL, "slot stays unloaded");
    ok(!maps_has("/failinit.so"), "failinit.so is unmapped after the failure");
    is_file(failrecord_path, "init\n", "init ran once");

    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "the retry fails again");
    is_str(err.message, expect, "same message on the retry");
    is_file(failrecord_path, "init\ninit\n", "the retry really ran init again");
}

static void test_other(struct ember_plugins *ps)
{
    struct ember_plugin_slot *s = ember_plugins_find(ps, "other");
    struct ember_error        err;
    char                      expect[PATH_MAX + 128];

    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "a .so without the symbol fails");
    snprintf(expect, sizeof(expect), "plugin \"other\": %s/other.so does not export "
             "ember_plugin_other: not an ember plugin", tmpdir);
    is_str(err.message, expect, "message names the file and the symbol");
    ok(s->plugin == NULL && s->dl == NULL, "slot stays unloaded");
    is_file(failrecord_path, "init\ninit\n", "its init never ran");
    ok(!maps_has("/failinit.so") && !maps_has("/other.so"), "and it is unmapped");
}

static void test_preload_all(struct ember_plugins *ps)
{
    struct ember_error err;
    char               expect[PATH_MAX + 128];

    ember_error_clear(&err);
    is_int(ember_plugins_preload(ps, "all", &err), EMBER_ERROR,
           "preload all fails on the first plugin that does not load");
    snprintf(expect, sizeof(expect), "plugin \"failinit\": %s/failinit.so: init failed: "
             "failinit: refusing to start", plugdir);
    is_str(err.message, expect, "... failinit, the first after probe");
    is_file(record_path, "init\n", "probe (loaded already) was not initialised again");
}

/*
 * A plugin whose init fails is not mapped again on every request: within
 * the backoff a load returns the last failure at once (init does not run,
 * nothing is mapped), after it the plugin is tried again.
 */
static void test_backoff(void)
{
    static struct ember_conf_step  steps[] = { { "failinit", EMPTY("failinit", 1) } };
    static struct ember_conf_route r[] = { ROUTE("GET", "/", 1, steps) };
    static struct ember_conf_directive gd[1];
    static struct ember_conf_block g[1];
    static const char *argv[1];
    char                           rec[PATH_MAX + 32], first[sizeof(((struct ember_error *) 0)->message)];
    struct ember_conf              c = { .file = "b.conf", .log_level = -1, .nroutes = 1,
                                         .routes = r, .nplugins = 1, .plugins = g };
    struct ember_plugins          *ps = NULL;
    struct ember_plugin_slot      *s;
    struct ember_error             err;
    struct timespec                pause = { 0, 60 * 1000000 };

    snprintf(rec, sizeof(rec), "%s/record-backoff", tmpdir);
    argv[0] = rec;
    gd[0] = (struct ember_conf_directive) { "record", 1, argv, "b.conf", 2 };
    g[0] = (struct ember_conf_block) BLOCK("failinit", 1, gd);

    is_int(ember_plugins_create(&ps, &c, plugdir, &ember_host), EMBER_OK, "backoff: create");
    s = ember_plugins_find(ps, "failinit");
    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "backoff: the first load fails");
    is_file(rec, "init\n", "backoff: init ran");
    snprintf(first, sizeof(first), "%s", err.message);

    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "backoff: a load at once fails too");
    is_file(rec, "init\n", "backoff: ... without running init (nor mapping) again");
    is_int(err.status, 500, "backoff: ... 500");
    is_str(err.message, first, "backoff: ... with the first failure's message");
    ok(!maps_has("/failinit.so"), "backoff: failinit.so stays unmapped");
    ember_plugins_free(ps);
    unlink(rec);

    /* a short backoff: once it is over, the plugin is tried again */
    is_int(ember_plugins_create(&ps, &c, plugdir, &ember_host), EMBER_OK, "backoff: create");
    ember_plugins_set_retry(ps, 20, 40);
    s = ember_plugins_find(ps, "failinit");
    ember_plugin_load(ps, s, &err);
    is_file(rec, "init\n", "backoff: init ran");
    nanosleep(&pause, NULL);      /* past 20 ms, however slow the machine */
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "backoff: after it, tried again");
    is_file(rec, "init\ninit\n", "backoff: ... init ran again");
    ember_plugins_free(ps);
    unlink(rec);
}

/*
 * The loader's other refusals, each with its own message naming the file:
 * bad magic, a struct that names another plugin, a library the dynamic
 * linker cannot find.  None runs a hook; nothing stays mapped.
 */
static void test_refusals(void)
{
    static struct ember_conf_step  st_magic[] = { { "badmagic", EMPTY("badmagic", 1) } };
    static struct ember_conf_step  st_name[] = { { "badname", EMPTY("badname", 2) } };
    static struct ember_conf_step  st_gone[] = { { "needsgone", EMPTY("needsgone", 3) } };
    static struct ember_conf_route r[] = {
        ROUTE("GET", "/m", 1, st_magic), ROUTE("GET", "/n", 2, st_name),
        ROUTE("GET", "/g", 3, st_gone)
    };
    struct ember_conf              c = { .file = "r.conf", .log_level = -1, .nroutes = 3,
                                         .routes = r };
    struct ember_plugins          *ps = NULL;
    struct ember_plugin_slot      *s;
    struct ember_error             err;
    char                           expect[3 * PATH_MAX], path[PATH_MAX + 32];

    is_int(ember_plugins_create(&ps, &c, plugdir, &ember_host), EMBER_OK, "refusals: create");
    ember_plugins_set_retry(ps, 0, 0);

    s = ember_plugins_find(ps, "badmagic");
    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "bad magic: refused");
    snprintf(expect, sizeof(expect), "plugin \"badmagic\": %s/badmagic.so: not an ember plugin "
             "(bad magic)", plugdir);
    is_str(err.message, expect, "bad magic: says so, naming the file");
    ok(s->plugin == NULL && s->dl == NULL, "bad magic: slot stays unloaded");
    ok(!maps_has("/badmagic.so"), "bad magic: unmapped again");

    s = ember_plugins_find(ps, "badname");
    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "name mismatch: refused");
    snprintf(expect, sizeof(expect), "plugin \"badname\": %s/badname.so: calls itself "
             "\"other\", not \"badname\"", plugdir);
    is_str(err.message, expect, "name mismatch: names the file and both names");
    ok(s->plugin == NULL && s->dl == NULL, "name mismatch: slot stays unloaded");
    ok(!maps_has("/badname.so"), "name mismatch: unmapped again (its init never ran)");

    s = ember_plugins_find(ps, "needsgone");
    snprintf(path, sizeof(path), "%s/needsgone.so", plugdir);
    ok(access(path, F_OK) == 0, "missing library: the plugin's own file is there");
    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_ERROR, "missing library: refused");
    is_int(err.status, 500, "missing library: 500");
    snprintf(expect, sizeof(expect), "plugin \"needsgone\": %s: libember-test-gone.so: cannot "
             "open shared object file: No such file or directory; check the libraries it "
             "needs (ldd %s) and the ZIP's lib/", path, path);
    is_str(err.message, expect, "missing library: names the library, the plugin, ldd and lib/");
    ok(s->plugin == NULL && s->dl == NULL, "missing library: slot stays unloaded");
    ok(!maps_has("/needsgone.so"), "missing library: nothing mapped");
    ember_plugins_free(ps);
}

/* A config with only probe: preload all succeeds, free unmaps. */
static void test_preload_all_ok(void)
{
    static struct ember_conf_step  steps[] = { { "probe", EMPTY("probe", 1) } };
    static struct ember_conf_route r[] = { ROUTE("GET", "/", 1, steps) };
    struct ember_conf              c = { .file = "one.conf", .log_level = -1,
                                         .nroutes = 1, .routes = r };
    struct ember_plugins          *ps = NULL;
    struct ember_error             err;

    ember_error_clear(&err);
    is_int(ember_plugins_create(&ps, &c, plugdir, &ember_host), EMBER_OK, "create (one dir)");
    is_int(ember_plugins_preload(ps, "all", &err), EMBER_OK, "preload all");
    ok(ember_plugins_find(ps, "probe")->plugin != NULL, "probe loaded by preload");
    ember_plugins_free(ps);
}

/* The same through conf.c's parser: slots and global blocks from a file. */
static void test_parsed_conf(void)
{
    char                     text[PATH_MAX + 256], rec[PATH_MAX + 32];
    struct ember_buf         errs = EMBER_BUF_INIT;
    struct ember_conf       *c = NULL;
    struct ember_plugins    *ps = NULL;
    struct ember_plugin_slot *s;
    struct ember_error       err;

    snprintf(rec, sizeof(rec), "%s/record-parsed", tmpdir);
    snprintf(text, sizeof(text),
             "plugin probe {\n"
             "    record %s\n"
             "}\n"
             "route GET /p {\n"
             "    probe {\n"
             "        answer 203\n"
             "    }\n"
             "}\n", rec);
    setenv("EMBER_TEST_PLUGINS", "1", 1);
    if (!is_int(ember_conf_parse(&c, "parsed.conf", text, strlen(text), &errs), EMBER_OK,
                "parsed config")) {
        diag("%s", ember_buf_str(&errs));
        ember_buf_free(&errs);
        return;
    }
    ember_buf_free(&errs);
    is_int(ember_plugins_create(&ps, c, plugdir, &ember_host), EMBER_OK, "create from it");
    s = ember_plugins_find(ps, "probe");
    ok(s != NULL && s->global == ember_conf_plugin(c, "probe"),
       "the slot's global block is the parsed `plugin probe {}`");
    ok(s != NULL && s->global != NULL
       && ember_host.conf_find(s->global, "record") != NULL
       && s->global->line == 1, "host->conf_find sees its record directive");
    ember_error_clear(&err);
    is_int(ember_plugin_load(ps, s, &err), EMBER_OK, "probe loads with the parsed block");
    is_file(rec, "init\n", "its init read `record` from the parsed block");
    ember_plugins_free(ps);
    ember_conf_free(c);
    unlink(rec);
}

/* ---------------------------------------------------------------- tests: exchange */

static void test_answer(struct ember_plugins *ps)
{
    struct fixture f;
    void          *route_state;

    is_int(run(&f, ps, R_ANSWER, "GET", "/answer"), EMBER_OK, "answer: run OK");
    is_int(f.res.status, 201, "answer: status from the route's settings");
    is_str(f.res.body, "{\"a\":1}", "answer: body");
    is_int((long long) f.res.body_len, 7, "answer: body_len");
    is_str(res_header(&f.res, "content-type"), "application/json", "answer: content-type");
    ok(eroutes[R_ANSWER].steps[0].ready, "answer: step marked ready");
    route_state = eroutes[R_ANSWER].steps[0].route_state;
    ok(route_state != NULL, "answer: route_state kept");
    fx_free(&f);

    is_int(run(&f, ps, R_ANSWER, "GET", "/answer"), EMBER_OK, "answer again");
    ok(eroutes[R_ANSWER].steps[0].route_state == route_state,
       "route_init ran once (same route state)");
    fx_free(&f);

    is_int(run(&f, ps, R_DEFAULT, "GET", "/default"), EMBER_OK, "default: run OK");
    is_int(f.res.status, 200, "default: status");
    is_str(f.res.body, "{\"probe\":true}", "default: probe's default body");
    fx_free(&f);
}

static void test_chain(struct ember_plugins *ps)
{
    struct fixture f;

    is_int(run(&f, ps, R_CHAIN, "POST", "/chain"), EMBER_OK, "chain: run OK");
    is_int(f.res.status, 202, "chain: the second step answered after the first continued");
    ok(eroutes[R_CHAIN].steps[0].ready && eroutes[R_CHAIN].steps[1].ready,
       "chain: both run steps ready");
    ok(!eroutes[R_CHAIN].steps[2].ready, "chain: the step after the answer never ran");
    is_file(failrecord_path, "init\ninit\ninit\n",
            "chain: the plugin after the answer was not loaded");
    fx_free(&f);
}

static void test_echo(struct ember_plugins *ps)
{
    static const struct ember_kv headers[] = {
        { "content-type", "text/plain" }, { "x-foo", "bar" }, { "x-foo", "baz" } };
    static const struct ember_kv query[] = { { "a", "1" }, { "b", "x/y" }, { "a", "2" } };
    static const struct ember_kv cookies[] = { { "sid", "s1" } };
    static const struct ember_kv params[] = { { "id", "42" } };
    struct fixture f;

    fx_init(&f, "PUT", "/echo/42");
    f.req.headers = headers;
    f.req.nheaders = 3;
    f.req.query = query;
    f.req.nquery = 3;
    f.req.cookies = cookies;
    f.req.ncookies = 1;
    f.req.params = params;
    f.req.nparams = 1;
    f.req.body = "hello";
    f.req.body_len = 5;
    f.req.deadline_ms = now_ms() + 30000;
    f.ex.route = &eroutes[R_ECHO].info;
    is_int(ember_exchange_run(&f.ex, &eroutes[R_ECHO], ps), EMBER_OK, "echo: run OK");
    is_int(f.res.status, 200, "echo: 200");
    is_str(f.res.body,
           "{\"method\":\"PUT\",\"path\":\"/echo/42\",\"params\":{\"id\":\"42\"},"
           "\"query\":[[\"a\",\"1\"],[\"b\",\"x/y\"],[\"a\",\"2\"]],"
           "\"headers\":[[\"content-type\",\"text/plain\"],[\"x-foo\",\"bar\"],"
           "[\"x-foo\",\"baz\"]],\"cookies\":[[\"sid\",\"s1\"]],\"body\":\"hello\","
           "\"source\":\"v2\",\"source_ip\":null,\"request_id\":\"rid-1\",\"remaining_ms\":true}",
           "echo: the request as probe saw it");

    /* the host lookups, on the same exchange */
    is_str(ember_host.header(&f.ex, "Content-Type"), "text/plain", "header: case-insensitive");
    is_str(ember_host.header(&f.ex, "X-FOO"), "bar", "header: first of repeated");
    ok(ember_host.header(&f.ex, "x-none") == NULL, "header: missing is NULL");
    is_str(ember_host.query(&f.ex, "a"), "1", "query: first of repeated");
    ok(ember_host.query(&f.ex, "A") == NULL, "query: exact name");
    is_str(ember_host.param(&f.ex, "id"), "42", "param");
    ok(ember_host.param(&f.ex, "ID") == NULL, "param: exact name");
    is_str(ember_host.cookie(&f.ex, "sid"), "s1", "cookie");
    ok(ember_host.cookie(&f.ex, "x") == NULL, "cookie: missing is NULL");
    {
        int64_t left = ember_host.remaining_ms(&f.ex);

        ok(left > 25000 && left <= 30000, "remaining_ms from the deadline (%lld)",
           (long long) left);
    }
    f.req.deadline_ms = 0;
    ok(ember_host.remaining_ms(&f.ex) == INT64_MAX, "remaining_ms INT64_MAX when unknown");
    f.req.deadline_ms = now_ms() - 1000;
    is_int(ember_host.remaining_ms(&f.ex), 0, "remaining_ms 0 past the deadline");
    fx_free(&f);
}

static void test_fail(struct ember_plugins *ps)
{
    struct fixture f;

    is_int(run(&f, ps, R_FAIL, "GET", "/fail"), EMBER_ERROR, "fail: run returns the error");
    is_int(f.err.status, 401, "fail: the plugin's status");
    is_str(f.err.message, "probe: failing with 401 as configured", "fail: the plugin's message");
    ember_exchange_error_response(&f.ex, &f.err);
    is_int(f.res.status, 401, "fail: response status");
    is_str(f.res.body, "{\"message\":\"Unauthorized\"}", "fail: reason phrase as message");
    is_str(res_header(&f.res, "x-probe"), "failed", "fail: header set before the error kept");
    is_str(res_header(&f.res, "content-type"), "application/json", "fail: JSON");
    is_int((long long) f.res.nheaders, 2, "fail: nothing else");

    f.err.public_message = "token expired";
    ember_exchange_error_response(&f.ex, &f.err);
    is_str(f.res.body, "{\"message\":\"token expired\"}", "public_message wins");
    is_int((long long) f.res.nheaders, 2, "a second error response replaces content-type");
    fx_free(&f);
}

static void test_no_answer(struct ember_plugins *ps)
{
    struct fixture f;

    is_int(run(&f, ps, R_NONE, "GET", "/none"), EMBER_ERROR, "none: error");
    is_int(f.err.status, 500, "none: 500");
    is_str(f.err.message, "route GET /none: no plugin answered", "none: message");
    ember_exchange_error_response(&f.ex, &f.err);
    is_str(f.res.body, "{\"message\":\"Internal Server Error\"}", "none: response body");
    fx_free(&f);
}

static void test_route_errors(struct ember_plugins *ps)
{
    struct fixture f;
    char           expect[PATH_MAX + 128];

    is_int(run(&f, ps, R_BADSTATUS, "GET", "/badstatus"), EMBER_ERROR, "route_init fails");
    is_int(f.err.status, 500, "route_init failure: 500");
    is_str(f.err.message, "route GET /badstatus: plugin \"probe\": route_init failed: "
           "probe: test.conf:12: answer: \"abc\" is not an HTTP status",
           "route_init failure: message");
    ok(!eroutes[R_BADSTATUS].steps[0].ready, "route_init failure: step not ready");
    fx_free(&f);
    is_int(run(&f, ps, R_BADSTATUS, "GET", "/badstatus"), EMBER_ERROR, "retried, fails again");
    fx_free(&f);

    is_int(run(&f, ps, R_BADABI, "GET", "/badabi"), EMBER_ERROR, "badabi route: error");
    is_int(f.err.status, 500, "badabi route: 500");
    ok(f.err.public_message == NULL, "badabi route: no public message");
    snprintf(expect, sizeof(expect), "plugin \"badabi\": %s/badabi.so: plugin ABI 1, "
             "runtime needs 2", plugdir);
    is_str(f.err.message, expect, "badabi route: the loader's message");
    ember_exchange_error_response(&f.ex, &f.err);
    is_str(f.res.body, "{\"message\":\"Internal Server Error\"}", "badabi route: body");
    fx_free(&f);

    is_int(run(&f, ps, R_FAILINIT, "GET", "/failinit"), EMBER_ERROR, "failinit route: error");
    is_file(failrecord_path, "init\ninit\ninit\ninit\n", "failinit route: init tried again");
    fx_free(&f);
}

static void test_maps(struct ember_plugins *ps)
{
    struct fixture f;

    is_int(run(&f, ps, R_MAPS, "GET", "/maps"), EMBER_OK, "maps: run OK");
    is_str(f.res.body, "{\"mapped\":{\"probe.so\":true,\"libjson-c\":true,"
           "\"no-such-lib-xyz\":false}}", "maps: what is mapped");
    fx_free(&f);
}

static int cleaned;

static void count_cleanup(void *data)
{
    cleaned += *(int *) data;
}

static void test_host_response(void)
{
    struct fixture f;
    char          *s;
    int           *n;
    static const char bytes[] = "abcdef";

    fx_init(&f, "GET", "/");
    is_int(ember_host.abi, EMBER_PLUGIN_ABI, "host abi");
    ember_host.add_header(&f.ex, "Set-Cookie", "a=1");
    ember_host.add_header(&f.ex, "X-Other", "o");
    ember_host.add_header(&f.ex, "set-cookie", "b=2");
    is_int((long long) f.res.nheaders, 3, "add_header adds");
    is_str(f.res.headers[0].name, "set-cookie", "add_header stores names lower-case");
    ember_host.set_header(&f.ex, "SET-COOKIE", "c=3");
    is_int((long long) f.res.nheaders, 2, "set_header replaces every header of that name");
    is_str(f.res.headers[0].name, "x-other", "the others stay, in order");
    is_str(f.res.headers[1].name, "set-cookie", "set_header stores lower-case");
    is_str(f.res.headers[1].value, "c=3", "set_header value");

    ember_host.set_status(&f.ex, 204);
    is_int(f.res.status, 204, "set_status");
    ember_host.set_body(&f.ex, bytes, 3, 0);
    ok(f.res.body != bytes, "set_body copies");
    is_str(f.res.body, "abc", "set_body NUL-terminates");
    is_int((long long) f.res.body_len, 3, "set_body length");
    ember_host.set_body(&f.ex, bytes, 6, 1);
    ok(f.res.binary == 1, "set_body binary flag");
    ember_host.set_body(&f.ex, NULL, 0, 0);
    is_str(f.res.body, "", "set_body NULL: empty");

    s = ember_host.pstrndup(&f.ex, "hello", 3);
    is_str(s, "hel", "pstrndup");
    s = ember_host.pstrndup(&f.ex, "hi", 10);
    is_str(s, "hi", "pstrndup stops at the NUL");
    s = ember_host.psprintf(&f.ex, "%s-%d", "x", 7);
    is_str(s, "x-7", "psprintf");
    n = ember_host.palloc(&f.ex, sizeof(*n));
    *n = 5;
    ember_host.cleanup_add(&f.ex, count_cleanup, n);
    ember_host.mark(&f.ex, "test.phase");
    is_int(ember_host.fail(f.ex.err, 418, "x %d", 1), EMBER_ERROR, "fail returns EMBER_ERROR");
    is_int(f.err.status, 418, "fail sets status");
    is_str(f.err.message, "x 1", "fail formats the message");
    is_int(cleaned, 0, "cleanup not yet run");
    fx_free(&f);
    is_int(cleaned, 5, "cleanup ran when the pool was freed");
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    const char           *top = getenv("top_builddir");
    struct ember_plugins *ps = NULL;
    char                  dirs[2 * PATH_MAX + 2], src[PATH_MAX + 32], dst[PATH_MAX + 32];
    size_t                i;

    snprintf(plugdir, sizeof(plugdir), "%s/tests/plugins/.libs", top ? top : ".");
    snprintf(tmpdir, sizeof(tmpdir), "%s/ember-loader-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(record_path, sizeof(record_path), "%s/record", tmpdir);
    snprintf(failrecord_path, sizeof(failrecord_path), "%s/failrecord", tmpdir);
    snprintf(src, sizeof(src), "%s/failinit.so", plugdir);
    snprintf(dst, sizeof(dst), "%s/other.so", tmpdir);
    if (access(src, R_OK) != 0 || symlink(src, dst) != 0) {
        printf("Bail out! %s: %s (build the test plugins first)\n", src, strerror(errno));
        return 1;
    }
    build_conf();

    /* the temp dir first: other.so is there, the real plugins in the second */
    snprintf(dirs, sizeof(dirs), "%s:%s", tmpdir, plugdir);
    is_int(ember_plugins_create(&ps, &conf, dirs, &ember_host), EMBER_OK, "create");
    ember_plugins_set_retry(ps, 0, 0);     /* the tests below retry at once */

    test_slots(ps);
    test_preload_errors(ps);
    test_load_probe(ps);
    test_badabi(ps);
    test_missing(ps);
    test_failinit(ps);
    test_other(ps);
    test_preload_all(ps);

    test_answer(ps);
    test_chain(ps);
    test_echo(ps);
    test_fail(ps);
    test_no_answer(ps);
    test_route_errors(ps);
    test_maps(ps);
    test_host_response();
    test_preload_all_ok();
    test_backoff();
    test_refusals();
    test_parsed_conf();

    is_file(record_path, "init\nhandle GET /answer\nhandle GET /answer\nhandle GET /default\n"
            "handle POST /chain\nhandle POST /chain\nhandle PUT /echo/42\nhandle GET /fail\n"
            "handle GET /none\nhandle GET /maps\n",
            "probe: one init, then one line per handle");

    for (i = 0; i < NROUTES; i++) {
        ember_exchange_route_fini(&eroutes[i]);
        free(eroutes[i].steps);
    }
    ember_plugins_free(ps);
#ifndef EMBER_ASAN
    ok(!maps_has("/probe.so"), "probe.so unmapped after ember_plugins_free");
#endif

    unlink(dst);
    unlink(record_path);
    unlink(failrecord_path);
    rmdir(tmpdir);
    return done_testing();
}
