/*
 * front.h - ember-local's public side: HTTP/1.1 on 127.0.0.1 (libmicrohttpd),
 * each request turned into an API Gateway / Function URL / ALB event, run in
 * a sandbox, and the function's answer turned back into HTTP as that
 * gateway would.  One REPORT line per request on stderr.
 */
#ifndef EMBER_LOCAL_FRONT_H
#define EMBER_LOCAL_FRONT_H

#include <ember/plugin.h>
#include "apigw.h"
#include "sandbox.h"

struct ember_front;

struct ember_front_conf {
    enum ember_apigw_format  format;
    int                      multi_value;          /* alb: multi-value headers on */
    const char              *stage;                /* NULL: the format's default */
    int                      integration_timeout_ms;  /* the gateway's own limit; 0 = none */
    int                      memory_mb;            /* for the REPORT line */
    const char              *function_version;     /* unused; kept for the START line */
    int                      test_headers;         /* honour X-Ember-Format / X-Ember-Stage */
};

/*
 * Serve on listen_fd (a bound, listening socket on 127.0.0.1; the front
 * owns it from now on).  conf and pool are borrowed until ember_front_stop.
 */
int  ember_front_start(struct ember_front **front, int listen_fd,
                       const struct ember_front_conf *conf, struct ember_sandbox_pool *pool,
                       struct ember_error *err);
/* Stops accepting, waits for requests in flight, frees. NULL ok. */
void ember_front_stop(struct ember_front *front);

#endif
