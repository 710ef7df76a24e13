/*
 * router.h - the route table: METHOD /path/{param}/{rest+} templates.
 *
 * Most specific match first: at each segment a literal beats {param},
 * which beats {rest+}; a route with the request's method beats ANY.
 * No path match -> EMBER_ROUTE_NONE (404); a path match whose methods
 * differ -> EMBER_ROUTE_METHOD (405, with the Allow list).
 */
#ifndef EMBER_ROUTER_H
#define EMBER_ROUTER_H

#include <stddef.h>
#include <ember/plugin.h>
#include "buf.h"
#include "conf.h"
#include "pool.h"

struct ember_plugin_slot;
struct ember_cors;

/* One plugin of a route's chain, with its per-route state. */
struct ember_step {
    const char                      *plugin;
    const struct ember_conf_block   *conf;        /* route settings */
    struct ember_plugin_slot        *slot;        /* set by the caller after build */
    void                            *route_state; /* from the plugin's route_init */
    int                              ready;       /* route_init has run */
};

struct ember_route {
    struct ember_route_info          info;
    const struct ember_conf_route   *conf;
    size_t                           nsteps;
    struct ember_step               *steps;
    void                            *compiled;    /* the router's */
    struct ember_cors               *cors;        /* cors.h; NULL: no CORS */
};

struct ember_router;

enum ember_route_match {
    EMBER_ROUTE_FOUND = 0,
    EMBER_ROUTE_NONE,
    EMBER_ROUTE_METHOD
};

/*
 * Build from conf.  Bad templates ("file:line: route \"/a/{\": ...") and
 * duplicate METHOD+template pairs are appended to errs; EMBER_ERROR then.
 */
int  ember_router_build(struct ember_router **r, const struct ember_conf *conf,
                        struct ember_buf *errs);
void ember_router_free(struct ember_router *r);

size_t              ember_router_count(const struct ember_router *r);
struct ember_route *ember_router_route(struct ember_router *r, size_t i);

/*
 * Match method+path.  path is split on "/" first; with `encoded` (the
 * source left it percent-encoded) each segment is then decoded once, so a
 * "%2F" never makes a segment.  FOUND: *route and params (pool-allocated,
 * names as in the template, values decoded after the split; {rest+} keeps
 * its slashes) set.
 * METHOD: *allow set to "GET, POST" (pool).  path must start with '/'.
 */
enum ember_route_match ember_router_match(struct ember_router *r, const char *method,
                                          const char *path, int encoded,
                                          struct ember_pool *pool,
                                          struct ember_route **route,
                                          struct ember_kv **params, size_t *nparams,
                                          const char **allow);

#endif
