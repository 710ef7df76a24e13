/*
 * event.h - Lambda events <-> struct ember_request / ember_response
 * (core/event.c parses, core/event-response.c answers).
 *
 * Sources, detected from the event itself:
 *   v1  API Gateway REST API (payload 1.0): "httpMethod", "requestContext" without "elb";
 *       an HTTP API's payload 1.0 has the same shape plus a top-level "version":"1.0"
 *   v2  API Gateway HTTP API (payload 2.0): "version":"2.0"
 *   url Lambda Function URL: payload 2.0 with requestContext.domainName "*.lambda-url.*"
 *   alb Application Load Balancer: requestContext.elb
 */
#ifndef EMBER_EVENT_H
#define EMBER_EVENT_H

#include <stddef.h>
#include <ember/plugin.h>
#include "pool.h"
#include "text.h"          /* ember_utf8_valid, for the users of this header */

enum ember_source {
    EMBER_SRC_NONE = 0,     /* not an HTTP event we know */
    EMBER_SRC_V1,
    EMBER_SRC_V2,
    EMBER_SRC_URL,
    EMBER_SRC_ALB
};

struct ember_event {
    enum ember_source     source;
    int                   http_api;     /* an HTTP API (v2, or v1 with "version":"1.0") */
    int                   multi_value;  /* v1/alb: the request carried multiValue* fields */
    const char           *stage;        /* requestContext.stage, or NULL */
    const char           *raw_path;     /* the path as delivered: what the router splits */
    int                   path_encoded; /* raw_path is still percent-encoded (REST, url, alb);
                                           0: the HTTP API decoded it (never decode again) */
    struct ember_request  req;          /* every pointer into the pool; req.path is
                                           raw_path decoded once (if encoded) */
};

/*
 * Parse json (len bytes) into ev, allocating from pool.  On failure returns
 * EMBER_ERROR with err filled (status 400); ev->source says whether the
 * source was recognised (then a 400 can be answered in its shape) or not
 * (EMBER_SRC_NONE: report an invocation error instead).
 */
int ember_event_parse(struct ember_event *ev, struct ember_pool *pool,
                      const char *json, size_t len, struct ember_error *err);

/*
 * The stage the source put in front of the path: an HTTP API's named stage
 * (never "$default").  NULL for every other source: a REST API's path never
 * holds the stage (requestContext.path does), a Function URL or ALB has none.
 */
const char *ember_event_path_stage(const struct ember_event *ev);

/*
 * Drop the first segment of the path (raw_path and req.path) if it is
 * `prefix` (compared decoded when the path is encoded); NULL: nothing.
 */
void ember_event_strip(struct ember_event *ev, const char *prefix);

/*
 * The response JSON the event's source expects, allocated from pool;
 * *len set.  v1: statusCode, headers, multiValueHeaders, body,
 * isBase64Encoded.  v2/url: statusCode, headers, cookies (from set-cookie),
 * body, isBase64Encoded.  alb: statusCode, statusDescription ("200 OK"),
 * headers or multiValueHeaders (as the request had), body, isBase64Encoded.
 * A binary body is base64-encoded.
 */
char *ember_event_response(const struct ember_event *ev, const struct ember_response *res,
                           struct ember_pool *pool, size_t *len);

/* Base64 (standard alphabet, padding full or none on input; common/base64.c's
   rules) in the pool.  Decoding: -1 on invalid input (*out NULL). */
char *ember_base64_encode(struct ember_pool *pool, const void *data, size_t len, size_t *outlen);
int   ember_base64_decode(struct ember_pool *pool, const char *s, size_t len,
                          char **out, size_t *outlen);   /* -1 on invalid input */

#endif
