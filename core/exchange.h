/*
 * exchange.h - running one request through its route's plugin chain, and
 * the host table plugins call back into.
 */
#ifndef EMBER_EXCHANGE_H
#define EMBER_EXCHANGE_H

#include <ember/plugin.h>
#include "loader.h"
#include "pool.h"
#include "router.h"

extern const struct ember_host ember_host;

/* The core's side of an exchange (ex->core). */
struct ember_exchange_core {
    struct ember_pool *pool;
    int                cold;        /* first invocation of this sandbox */
};

/*
 * Run route's chain: each step's plugin loaded on first use (then its
 * route_init), then handle.  Returns EMBER_OK when a plugin answered or
 * the chain ended with a status set; EMBER_ERROR with ex->err filled
 * otherwise (the caller logs it once and answers status + JSON body).
 */
int ember_exchange_run(struct ember_exchange *ex, struct ember_route *route,
                       struct ember_plugins *ps);

/*
 * Shutdown: call route_fini for every step of route whose route_init ran
 * (then mark it not ready).  Call before ember_plugins_free, while the
 * plugins are still mapped.
 */
void ember_exchange_route_fini(struct ember_route *route);

/* Replace the response by {"message": reason} with err->status, keeping
   headers already set (e.g. WWW-Authenticate, Allow). */
void ember_exchange_error_response(struct ember_exchange *ex, const struct ember_error *err);

#endif
