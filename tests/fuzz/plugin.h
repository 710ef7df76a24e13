/*
 * plugin.h - for the fuzz targets of plugins: the plugin's real hooks,
 * driven by the core's real host table (core/exchange.c) with the settings
 * of a config the core's parser read, as bootstrap does.
 */
#ifndef EMBER_FUZZ_PLUGIN_H
#define EMBER_FUZZ_PLUGIN_H

#include <ember/plugin.h>

#include "buf.h"
#include "conf.h"
#include "exchange.h"
#include "fuzz.h"
#include "pool.h"

#define FZ_MAX_ROUTES 16

/* A plugin, initialised, with each route of the config that uses it. */
struct fz_plugin {
    const struct ember_plugin *pl;
    struct ember_conf         *conf;
    void                      *state;
    size_t                     nroutes;
    void                      *route_state[FZ_MAX_ROUTES];
};

/* Parse conf_text, init the plugin, route_init each route that names it; any failure aborts. */
static inline void fz_plugin_setup(struct fz_plugin *p, const struct ember_plugin *pl,
                                   const char *conf_text)
{
    static const struct ember_conf_block empty = { 0 };
    const struct ember_conf_block       *global;
    struct ember_buf                     errs = EMBER_BUF_INIT;
    struct ember_error                   err = { 0 };
    size_t                               i, j;

    memset(p, 0, sizeof(*p));
    p->pl = pl;
    if (ember_conf_parse(&p->conf, "fuzz.conf", conf_text, strlen(conf_text), &errs) != EMBER_OK) {
        fprintf(stderr, "fuzz: the target's config: %s", ember_buf_str(&errs));
        abort();
    }
    ember_buf_free(&errs);
    global = ember_conf_plugin(p->conf, pl->name);
    if (pl->init(&p->state, &ember_host, global ? global : &empty, &err) != EMBER_OK) {
        fprintf(stderr, "fuzz: %s init: %s\n", pl->name, err.message);
        abort();
    }
    for (i = 0; i < p->conf->nroutes && p->nroutes < FZ_MAX_ROUTES; i++)
        for (j = 0; j < p->conf->routes[i].nsteps; j++) {
            const struct ember_conf_step *s = &p->conf->routes[i].steps[j];

            if (strcmp(s->plugin, pl->name) != 0)
                continue;
            if (pl->route_init != NULL
                && pl->route_init(p->state, &s->block, &p->route_state[p->nroutes], &err)
                   != EMBER_OK) {
                fprintf(stderr, "fuzz: %s route_init (line %d): %s\n", pl->name,
                        s->block.line, err.message);
                abort();
            }
            p->nroutes++;
        }
}

/* One exchange over req, as core/main.c sets it up. */
struct fz_exchange {
    struct ember_exchange       ex;
    struct ember_exchange_core  core;
    struct ember_response       res;
    struct ember_error          err;
    struct ember_route_info     route;
};

static inline void fz_exchange_init(struct fz_exchange *x, struct ember_pool *pool,
                                    const struct ember_request *req)
{
    memset(x, 0, sizeof(*x));
    x->core.pool = pool;
    x->route.method = "ANY";
    x->route.path_template = "/fuzz";
    x->route.file = "fuzz.conf";
    x->ex.host = &ember_host;
    x->ex.req = req;
    x->ex.res = &x->res;
    x->ex.vars = json_object_new_object();
    x->ex.route = &x->route;
    x->ex.err = &x->err;
    x->ex.core = &x->core;
}

static inline void fz_exchange_done(struct fz_exchange *x)
{
    json_object_put(x->ex.vars);
}

#endif
