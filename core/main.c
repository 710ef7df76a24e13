/*
 * main.c - the bootstrap: read the environment and the config, then serve
 * invocations from the Lambda Runtime API until told to stop.
 *
 * Start-up does only what it cannot avoid (the laziness rule, README's "What it is"):
 * parse and validate the whole config, build the route table, and ask for
 * the first event.  No plugin is loaded and no connection opened here
 * unless EMBER_PRELOAD asks for it.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "conf.h"
#include "cors.h"
#include "error.h"
#include "event.h"
#include "exchange.h"
#include "journey.h"
#include "loader.h"
#include "log.h"
#include "pool.h"
#include "router.h"
#include "runtime.h"
#include "schema.h"
#include "xalloc.h"

struct ember_app {
    struct ember_conf     *conf;
    struct ember_router   *router;
    struct ember_plugins  *plugins;
    struct ember_runtime  *rt;
    struct ember_pool     *pool;
    int                    cold;
};

static volatile sig_atomic_t stopping;

static void on_sigterm(int sig)
{
    (void) sig;
    stopping = 1;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static const char *conf_path(const char *arg)
{
    static char  buf[4096];
    const char  *p, *root;

    if (arg)
        return arg;
    p = getenv("EMBER_CONF");
    if (p && *p)
        return p;
    root = getenv("LAMBDA_TASK_ROOT");
    if (root && *root) {
        snprintf(buf, sizeof(buf), "%s/ember.conf", root);
        return buf;
    }
    return "ember.conf";
}

/* The plugin directories: env, then config, then the task root, then the install. */
static const char *plugin_dir(const struct ember_conf *conf)
{
    static char buf[4096];

    return ember_conf_plugin_dir(conf->plugin_dir, buf, sizeof(buf));
}

/* Parse and validate the config and the routes; every error into errs. */
static int load_config(struct ember_app *app, const char *file, struct ember_buf *errs)
{
    if (ember_conf_load(&app->conf, file, errs) != EMBER_OK)
        return EMBER_ERROR;
    if (ember_router_build(&app->router, app->conf, errs) != EMBER_OK) {
        ember_conf_free(app->conf);
        app->conf = NULL;
        return EMBER_ERROR;
    }
    return EMBER_OK;
}

/* The line where the config first names plugin `name` (a route's step, else its block). */
static int first_line(const struct ember_conf *conf, const char *name)
{
    size_t i, j;

    for (i = 0; i < conf->nroutes; i++)
        for (j = 0; j < conf->routes[i].nsteps; j++)
            if (strcmp(conf->routes[i].steps[j].plugin, name) == 0)
                return conf->routes[i].steps[j].block.line;
    for (i = 0; i < conf->nplugins; i++)
        if (strcmp(conf->plugins[i].name, name) == 0)
            return conf->plugins[i].line;
    return 0;
}

/* If msg starts with "FILE:LINE: ", what follows; else NULL. */
static const char *located(const char *msg, const char *file)
{
    size_t      n = strlen(file);
    const char *p;

    if (strncmp(msg, file, n) != 0 || msg[n] != ':' || msg[n + 1] < '0' || msg[n + 1] > '9')
        return NULL;
    for (p = msg + n + 1; *p >= '0' && *p <= '9'; p++)
        ;
    return p[0] == ':' && p[1] == ' ' ? p + 2 : NULL;
}

/*
 * `bootstrap -t`: what the first requests would find, without serving one.
 * Every configured plugin is loaded (an out-of-tree one's settings checked
 * against its own table) and initialised, then every route's route_init
 * runs, then route_fini and fini: the laziness rule keeps these hooks free
 * of I/O, so a bad setting the plugin alone can judge fails here, with
 * file:line, instead of at the first request.  Each failure into errs.
 */
static int check_plugins(struct ember_app *app, struct ember_buf *errs)
{
    struct ember_plugins *ps = NULL;
    const char           *file = app->conf->file;
    struct ember_error    err;
    size_t                i, j;
    int                   nbad = 0;

    if (ember_plugins_create(&ps, app->conf, plugin_dir(app->conf), &ember_host) != EMBER_OK) {
        ember_buf_printf(errs, "%s: could not set up the plugins\n", file);
        return EMBER_ERROR;
    }
    ember_plugins_set_retry(ps, 0, 0);
    for (i = 0; i < ember_plugins_count(ps); i++) {
        struct ember_plugin_slot *slot = ember_plugins_slot(ps, i);

        ember_error_clear(&err);
        if (ember_plugin_load(ps, slot, &err) != EMBER_OK) {
            ember_buf_printf(errs, "%s:%d: %s\n", file, first_line(app->conf, slot->name),
                             err.message);
            nbad++;
        }
    }
    for (i = 0; i < ember_router_count(app->router); i++) {
        struct ember_route *r = ember_router_route(app->router, i);

        for (j = 0; j < r->nsteps; j++) {
            struct ember_step        *step = &r->steps[j];
            struct ember_plugin_slot *slot = ember_plugins_find(ps, step->plugin);
            void                     *route_state = NULL;

            if (slot == NULL || slot->plugin == NULL || slot->plugin->route_init == NULL)
                continue;
            ember_error_clear(&err);
            if (slot->plugin->route_init(slot->state, step->conf, &route_state, &err)
                != EMBER_OK) {
                const char *at = located(err.message, file);

                if (at != NULL)     /* "FILE:LINE: db: ...": the directive's own line */
                    ember_buf_printf(errs, "%.*sroute \"%s\": %s\n", (int) (at - err.message),
                                     err.message, r->info.path_template, at);
                else
                    ember_buf_printf(errs, "%s:%d: route \"%s\": plugin \"%s\": %s\n", file,
                                     step->conf ? step->conf->line : r->info.line,
                                     r->info.path_template, step->plugin,
                                     err.message[0] ? err.message : "route_init failed");
                nbad++;
            } else if (slot->plugin->route_fini != NULL) {
                slot->plugin->route_fini(slot->state, route_state);
            }
        }
    }
    ember_plugins_free(ps);
    return nbad ? EMBER_ERROR : EMBER_OK;
}

static int check_config(const char *file)
{
    struct ember_app app = { 0 };
    struct ember_buf errs = EMBER_BUF_INIT;
    int              rc;

    rc = load_config(&app, file, &errs);
    if (rc == EMBER_OK) {
        rc = check_plugins(&app, &errs);
        if (rc == EMBER_OK)
            fprintf(stderr, "ember: %s: ok (%zu routes; plugins built: %s; every configured "
                    "plugin loaded and initialised from %s)\n", file,
                    ember_router_count(app.router), ember_schema_built(), plugin_dir(app.conf));
        ember_router_free(app.router);
        ember_conf_free(app.conf);
    }
    if (rc != EMBER_OK)
        fputs(ember_buf_str(&errs), stderr);
    ember_buf_free(&errs);
    return rc == EMBER_OK ? 0 : 1;
}

/* Report a failure before the loop to the Runtime API, if there is one. */
static void init_error(struct ember_app *app, const char *type, const char *message)
{
    struct ember_error err;

    ember_error_clear(&err);
    if (app->rt && ember_runtime_error(app->rt, NULL, type, message, &err) != EMBER_OK)
        ember_log(EMBER_LOG_ERROR, "could not report the init error: %s", err.message);
}

static int setup(struct ember_app *app)
{
    struct ember_buf    errs = EMBER_BUF_INIT;
    struct ember_error  err;
    const char         *api, *file, *preload;
    size_t              i, j;

    ember_error_clear(&err);
    api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (api == NULL || *api == '\0') {
        ember_log(EMBER_LOG_FATAL,
                  "AWS_LAMBDA_RUNTIME_API is not set: bootstrap runs under Lambda or ember-local");
        return EMBER_ERROR;
    }
    if (ember_runtime_create(&app->rt, api, &err) != EMBER_OK) {
        ember_log(EMBER_LOG_FATAL, "%s", err.message);
        return EMBER_ERROR;
    }
    ember_runtime_set_stop(app->rt, &stopping);

    file = conf_path(NULL);
    if (load_config(app, file, &errs) != EMBER_OK) {
        const char *e = ember_buf_str(&errs);

        /* every error on its own line, then one report to Lambda */
        fputs(e, stderr);
        ember_log(EMBER_LOG_FATAL, "%s: invalid config; check it with `bootstrap -t %s`",
                  file, file);
        init_error(app, "Runtime.ConfigError", e);
        ember_buf_free(&errs);
        return EMBER_ERROR;
    }
    ember_buf_free(&errs);
    if (app->conf->log_level >= 0)
        ember_log_set_level(app->conf->log_level);

    if (ember_plugins_create(&app->plugins, app->conf, plugin_dir(app->conf),
                             &ember_host) != EMBER_OK) {
        ember_log(EMBER_LOG_FATAL, "could not set up the plugins");
        init_error(app, "Runtime.InitError", "could not set up the plugins");
        return EMBER_ERROR;
    }
    for (i = 0; i < ember_router_count(app->router); i++) {
        struct ember_route *r = ember_router_route(app->router, i);

        for (j = 0; j < r->nsteps; j++)
            r->steps[j].slot = ember_plugins_find(app->plugins, r->steps[j].plugin);
    }
    ember_journey_mark("conf");

    preload = getenv("EMBER_PRELOAD");
    if (preload && *preload) {
        if (ember_plugins_preload(app->plugins, preload, &err) != EMBER_OK) {
            ember_log(EMBER_LOG_FATAL, "EMBER_PRELOAD=%s: %s", preload, err.message);
            init_error(app, "Runtime.InitError", err.message);
            return EMBER_ERROR;
        }
    }
    app->pool = ember_pool_create();
    app->cold = 1;
    return EMBER_OK;
}

/* Drop "/<stage>" from the front of the path, as configured: `auto` only
   where the source put it there (an HTTP API's named stage), NAME always. */
static void strip_stage(const struct ember_app *app, struct ember_event *ev)
{
    if (app->conf->strip_stage == EMBER_STRIP_NAME)
        ember_event_strip(ev, app->conf->strip_stage_name);
    else if (app->conf->strip_stage == EMBER_STRIP_AUTO)
        ember_event_strip(ev, ember_event_path_stage(ev));
}

/*
 * The route whose CORS settings answer a preflight for ev's path: the route of
 * the method the browser asks about, else an OPTIONS route, else the first
 * method the path allows.  NULL if none.
 */
static struct ember_route *preflight_route(struct ember_app *app, const struct ember_exchange *ex,
                                           const struct ember_event *ev)
{
    const char         *tries[2], *allow = NULL;
    struct ember_route *route = NULL;
    struct ember_kv    *params = NULL;
    size_t              nparams = 0, i;

    tries[0] = ex->host->header(ex, "access-control-request-method");
    tries[1] = "OPTIONS";
    for (i = 0; i < 2; i++) {
        enum ember_route_match m = ember_router_match(app->router, tries[i], ev->raw_path,
                                                      ev->path_encoded, app->pool, &route,
                                                      &params, &nparams, &allow);

        if (m == EMBER_ROUTE_FOUND)
            return route;
        if (m == EMBER_ROUTE_NONE)
            return NULL;
    }
    if (allow != NULL && *allow != '\0') {
        char *first = ember_pool_strndup(app->pool, allow, strcspn(allow, ", "));

        if (ember_router_match(app->router, first, ev->raw_path, ev->path_encoded, app->pool,
                               &route, &params, &nparams, &allow) == EMBER_ROUTE_FOUND)
            return route;
    }
    return NULL;
}

/* Route and run the chain; the response is in ex->res whatever happens. */
static void dispatch(struct ember_app *app, struct ember_event *ev, struct ember_exchange *ex)
{
    struct ember_request   *req = &ev->req;
    struct ember_route     *route = NULL;
    struct ember_kv        *params = NULL;
    size_t                  nparams = 0;
    const char             *allow = NULL;
    enum ember_route_match  m;

    strip_stage(app, ev);
    if (ember_cors_is_preflight(ex)) {
        /* answered from the route's CORS settings: no plugin runs or loads */
        route = preflight_route(app, ex, ev);
        if (route != NULL && route->cors != NULL) {
            ember_journey_mark("route");
            ex->route = &route->info;
            ember_cors_apply(route->cors, ex, 1);
            return;
        }
        route = NULL;
    }
    m = ember_router_match(app->router, req->method, ev->raw_path, ev->path_encoded, app->pool,
                           &route, &params, &nparams, &allow);
    ember_journey_mark("route");
    if (m == EMBER_ROUTE_NONE) {
        ember_fail(ex->err, 404, "no route for %s %s", req->method, req->path);
        ember_exchange_error_response(ex, ex->err);
        return;
    }
    if (m == EMBER_ROUTE_METHOD) {
        ember_fail(ex->err, 405, "%s %s: method not allowed (allow: %s)", req->method,
                   req->path, allow);
        ex->host->set_header(ex, "allow", allow);
        ember_exchange_error_response(ex, ex->err);
        return;
    }
    req->params = params;
    req->nparams = nparams;
    ex->route = &route->info;
    if (ember_exchange_run(ex, route, app->plugins) != EMBER_OK) {
        if (ex->err->status >= 500)
            ember_log(EMBER_LOG_ERROR, "%s %s: %s", req->method, req->path, ex->err->message);
        else
            ember_log(EMBER_LOG_WARN, "%s %s: %s", req->method, req->path, ex->err->message);
        ember_exchange_error_response(ex, ex->err);
    }
    /* every answer of the route, a plugin's error included, carries its CORS headers */
    ember_cors_apply(route->cors, ex, 0);
}

static void post_error(struct ember_app *app, const char *id, const char *type, const char *msg)
{
    struct ember_error err;

    ember_error_clear(&err);
    if (ember_runtime_error(app->rt, id, type, msg, &err) != EMBER_OK)
        ember_log(EMBER_LOG_ERROR, "could not report invocation error: %s", err.message);
}

/* One invocation: event in, response (or invocation error) out. */
static void invoke(struct ember_app *app, struct ember_invocation *inv)
{
    struct ember_event          ev;
    struct ember_response       res;
    struct ember_error          err;
    struct ember_exchange_core  core;
    struct ember_exchange       ex;
    const char                 *out;
    size_t                      outlen = 0;
    double                      t0 = now_ms();

    memset(&ev, 0, sizeof(ev));
    memset(&res, 0, sizeof(res));
    ember_error_clear(&err);
    core.pool = app->pool;
    core.cold = app->cold;
    ex.host = &ember_host;
    ex.req = &ev.req;
    ex.res = &res;
    ex.vars = NULL;
    ex.route = NULL;
    ex.err = &err;
    ex.core = &core;

    if (ember_event_parse(&ev, app->pool, inv->event, inv->event_len, &err) != EMBER_OK) {
        if (ev.source == EMBER_SRC_NONE) {
            ember_log(EMBER_LOG_ERROR, "%s", err.message);
            post_error(app, inv->request_id, "Runtime.InvalidEvent", err.message);
            ember_journey_mark("posted");
            return;
        }
        ember_log(EMBER_LOG_WARN, "%s", err.message);
        ember_exchange_error_response(&ex, &err);
    } else {
        ember_journey_mark("parse");
        ev.req.request_id = inv->request_id;
        ev.req.function_arn = inv->function_arn;
        ev.req.deadline_ms = inv->deadline_ms;
        ex.vars = json_object_new_object();
        dispatch(app, &ev, &ex);
    }
    ember_journey_mark("handler");
    if (app->cold && app->conf->server_timing)
        ex.host->add_header(&ex, "server-timing", ember_journey_server_timing(app->pool));

    out = ember_event_response(&ev, &res, app->pool, &outlen);
    ember_error_clear(&err);
    if (ember_runtime_respond(app->rt, inv->request_id, out, outlen, &err) != EMBER_OK) {
        if (err.status == 413) {
            ember_log(EMBER_LOG_ERROR, "response of %zu bytes refused: %s", outlen, err.message);
            post_error(app, inv->request_id, "Runtime.ResponseTooLarge", err.message);
        } else {
            ember_log(EMBER_LOG_ERROR, "could not post the response: %s", err.message);
        }
    }
    ember_journey_mark("posted");
    ember_log(EMBER_LOG_INFO, "%s %s -> %d (%.2f ms)%s",
              ev.req.method ? ev.req.method : "-", ev.req.path ? ev.req.path : "-",
              res.status, now_ms() - t0, app->cold ? " cold" : "");
    if (ex.vars)
        json_object_put(ex.vars);
}

static int serve(struct ember_app *app)
{
    struct ember_invocation inv;
    struct ember_error      err;
    int                     failures = 0;

    memset(&inv, 0, sizeof(inv));
    while (!stopping) {
        ember_error_clear(&err);
        ember_journey_mark("next");
        if (ember_runtime_next(app->rt, &inv, &err) != EMBER_OK) {
            if (stopping)
                break;
            ember_log(EMBER_LOG_ERROR, "%s", err.message);
            if (++failures >= 5) {
                ember_log(EMBER_LOG_FATAL, "runtime API unreachable after %d tries; exiting",
                          failures);
                return EMBER_ERROR;
            }
            usleep(100000u * (unsigned) failures);
            continue;
        }
        failures = 0;
        ember_journey_mark("wait");
        ember_log_set_request_id(inv.request_id);
        invoke(app, &inv);
        if (app->cold) {
            /* the first invocation: where its time went, once per sandbox */
            ember_journey_log();
            ember_journey_end();
        }
        ember_log_set_request_id(NULL);
        ember_invocation_clear(&inv);
        ember_pool_reset(app->pool);
        app->cold = 0;
    }
    return EMBER_OK;
}

static void shutdown_app(struct ember_app *app)
{
    size_t i;

    if (app->router)
        for (i = 0; i < ember_router_count(app->router); i++)
            ember_exchange_route_fini(ember_router_route(app->router, i));
    if (app->plugins)
        ember_plugins_free(app->plugins);
    if (app->router)
        ember_router_free(app->router);
    if (app->conf)
        ember_conf_free(app->conf);
    if (app->pool)
        ember_pool_destroy(app->pool);
    if (app->rt)
        ember_runtime_free(app->rt);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bootstrap            serve the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API)\n"
               "       bootstrap -t [FILE]  check a config (default: $EMBER_CONF) and exit 0/1\n"
               "       bootstrap -V         print the version and the built plugins\n");
}

int main(int argc, char **argv)
{
    struct ember_app  app;
    struct sigaction  sa;
    int               rc;

    ember_log_init();
    if (argc > 1) {
        if (strcmp(argv[1], "-t") == 0 && argc <= 3)
            return check_config(conf_path(argc == 3 ? argv[2] : NULL));
        if (strcmp(argv[1], "-V") == 0 && argc == 2) {
            printf("ember %s (plugins: %s)\n", PACKAGE_VERSION, EMBER_BUILT_PLUGINS);
            return 0;
        }
        usage(strcmp(argv[1], "-h") == 0 ? stdout : stderr);
        return strcmp(argv[1], "-h") == 0 ? 0 : 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&app, 0, sizeof(app));
    rc = setup(&app);
    if (rc == EMBER_OK)
        rc = serve(&app);
    shutdown_app(&app);
    return rc == EMBER_OK ? 0 : 1;
}
