/*
 * apigw.h - what API Gateway, a Lambda Function URL or an ALB do around a
 * function: turn an HTTP request into the event the function gets, and the
 * function's response JSON back into HTTP.
 *
 * Used by the route-case runner (tests/ember-test-api) and by the local
 * emulator: nothing here knows about the Runtime API or sockets.
 *
 * Formats:
 *   v1   API Gateway REST API, Lambda proxy integration (payload 1.0)
 *   v2   API Gateway HTTP API (payload 2.0)
 *   url  Lambda Function URL (payload 2.0, domain *.lambda-url.*)
 *   alb  Application Load Balancer target; `multi_value` is the target
 *        group's "multi-value headers" setting (on: multiValueHeaders and
 *        multiValueQueryStringParameters, both ways)
 */
#ifndef EMBER_APIGW_H
#define EMBER_APIGW_H

#include <stddef.h>
#include <stdint.h>
#include <ember/plugin.h>

struct json_object;

enum ember_apigw_format {
    EMBER_APIGW_NONE = 0,   /* not an HTTP event */
    EMBER_APIGW_V1,
    EMBER_APIGW_V2,
    EMBER_APIGW_URL,
    EMBER_APIGW_ALB
};

/* "v1", "v2", "url", "alb"; "none" for anything else. Static. */
const char *ember_apigw_format_name(enum ember_apigw_format f);
/* The inverse; EMBER_APIGW_NONE for an unknown name. */
enum ember_apigw_format ember_apigw_format_parse(const char *name);

/*
 * An HTTP request as a client sent it.  Everything is borrowed.
 * Repeated names (headers, query) are repeated entries, in order.
 */
struct ember_apigw_request {
    const char             *method;      /* "GET" */
    const char             *path;        /* as on the request line, without the query */
    const char             *raw_query;   /* encoded, without '?'; NULL: built from query */
    const struct ember_kv  *query;       /* decoded pairs; used when raw_query is NULL */
    size_t                  nquery;
    const struct ember_kv  *headers;     /* names as sent; "Cookie" headers allowed */
    size_t                  nheaders;
    const char *const      *cookies;     /* more "name=value" cookies, added to any Cookie header */
    size_t                  ncookies;
    const char             *body;        /* NULL: no body */
    size_t                  body_len;
    int                     binary;      /* body is bytes: sent base64, isBase64Encoded true */
    const char             *stage;       /* NULL: "prod" for v1, "$default" otherwise */
    const char             *source_ip;   /* NULL: "127.0.0.1" */
    const char             *request_id;  /* NULL: a made-up one */
    int64_t                 time_ms;     /* epoch ms; 0: now */
    const char             *api_id;      /* NULL: "emberapi01" (v1/v2), a 32-char id (url) */
    int                     multi_value; /* alb: multi-value headers on */
};

/*
 * The event `f` delivers for r, exactly as AWS shapes it (see the sample
 * events in tests/events).  Returns a new object: the caller owns it and
 * must json_object_put() it.  NULL only for EMBER_APIGW_NONE.
 */
struct json_object *ember_apigw_event(enum ember_apigw_format f,
                                      const struct ember_apigw_request *r);

/*
 * Guess a format from an event (as Lambda code must): requestContext.elb
 * -> alb (*multi_value set when the event carries multiValueHeaders);
 * version "2.0" -> url if requestContext.domainName contains
 * ".lambda-url.", else v2; httpMethod -> v1; otherwise NONE.
 * multi_value may be NULL.
 */
enum ember_apigw_format ember_apigw_detect(const struct json_object *event, int *multi_value);

/* 1 if a body of this content type travels as text (not base64) through
   a Function URL or HTTP API: text/...,  +json, +xml, json, xml, javascript,
   x-www-form-urlencoded, yaml.  NULL (no content type) is text. */
int ember_apigw_is_text(const char *content_type);

struct ember_apigw_header {
    char *name;       /* as the function wrote it */
    char *value;
};

/* An HTTP response as the client would receive it.  Owns everything. */
struct ember_apigw_response {
    int                         status;
    char                       *status_description;   /* alb's statusDescription, or NULL */
    struct ember_apigw_header  *headers;              /* in order, Set-Cookie included */
    size_t                      nheaders;
    char                       *body;                 /* decoded; NUL-terminated, never NULL */
    size_t                      body_len;
    int                         base64;               /* the body was base64 in the JSON */
};

/*
 * Turn a function's response (len bytes of JSON) into HTTP as `f` would:
 *   v1   object: statusCode (integer), headers and multiValueHeaders merged
 *        (a pair present in both is kept once), body (string), isBase64Encoded;
 *        any other key is malformed, as API Gateway says.
 *   v2, url  an object with statusCode: statusCode, headers, cookies (each a
 *        Set-Cookie header), body, isBase64Encoded; any other valid JSON is a
 *        200 application/json whose body is the response itself.
 *   alb  statusCode, statusDescription, headers (multi_value off) or
 *        multiValueHeaders (on), body, isBase64Encoded.
 * Fills res (release with ember_apigw_response_clear) and returns EMBER_OK,
 * or returns EMBER_ERROR with err->status 502 and a message saying what is
 * malformed (not JSON, statusCode not an integer, body not a string,
 * invalid base64, ...); res is then empty.
 */
int ember_apigw_response(enum ember_apigw_format f, int multi_value,
                         const char *json, size_t len,
                         struct ember_apigw_response *res, struct ember_error *err);
void ember_apigw_response_clear(struct ember_apigw_response *res);

/* The first value of header `name` (case-insensitive) in res, or NULL. Borrowed. */
const char *ember_apigw_response_header(const struct ember_apigw_response *res,
                                        const char *name);

#endif
