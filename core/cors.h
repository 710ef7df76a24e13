/*
 * cors.h - CORS for every answer of a route (core/cors.c).
 *
 * The settings are the response plugin's cors_* directives (its
 * `plugin response {}` block, overridden per route by the route's
 * `response { }` step), but the core applies them: so a 401 from auth, a
 * 404 or 409 from db, a 500 from a plugin that failed to load all carry the
 * route's Access-Control headers (a browser cannot read an answer without
 * them), and a preflight is answered 204 before the chain runs, without
 * loading any plugin of the route.
 */
#ifndef EMBER_CORS_H
#define EMBER_CORS_H

#include <ember/plugin.h>
#include "buf.h"
#include "conf.h"
#include "pool.h"

struct ember_cors;

/*
 * The CORS settings of route (NULL in *out when it has none: no
 * cors_origins in its response step nor in `plugin response {}`),
 * allocated from pool.  Bad values are appended to errs as
 * "file:line: message"; EMBER_ERROR then.
 */
int ember_cors_build(struct ember_cors **out, const struct ember_conf *conf,
                     const struct ember_conf_route *route, struct ember_pool *pool,
                     struct ember_buf *errs);

/* Is req a preflight: OPTIONS with Origin and Access-Control-Request-Method? */
int ember_cors_is_preflight(const struct ember_exchange *ex);

/*
 * Add the Access-Control headers cors allows for ex's request to ex's
 * response (and Vary: Origin unless the answer is always "*").  With
 * preflight, also Allow-Methods, Allow-Headers and Max-Age, and the
 * response becomes 204 without a body.  cors may be NULL (nothing added).
 */
void ember_cors_apply(const struct ember_cors *cors, struct ember_exchange *ex, int preflight);

#endif
