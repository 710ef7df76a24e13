/*
 * event-response.c - struct ember_response -> the JSON the event's source
 * expects (see event.h): v1 headers and multiValueHeaders, v2/url headers
 * joined and cookies apart, alb statusDescription and the header style the
 * request had; a body that is not UTF-8 (or is binary) goes base64.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "base64.h"
#include "buf.h"
#include "error.h"
#include "event.h"
#include "pool.h"
#include "text.h"

#define BODY_MAX    ((size_t) 1 << 30)     /* a response body we refuse to encode */

static const char *hname(const struct ember_response *res, size_t i)
{
    return res->headers[i].name ? res->headers[i].name : "";
}

static const char *hvalue(const struct ember_response *res, size_t i)
{
    return res->headers[i].value ? res->headers[i].value : "";
}

/* Whether header i's name appeared before it (names compare without case). */
static int seen_before(const struct ember_response *res, size_t i)
{
    size_t j;

    for (j = 0; j < i; j++)
        if (strcasecmp(hname(res, j), hname(res, i)) == 0)
            return 1;
    return 0;
}

static int is_set_cookie(const char *name)
{
    return strcasecmp(name, "set-cookie") == 0;
}

/* {"Name": ["v1", "v2"]}: every value, in order.  Caller owns the result. */
static struct json_object *multi_headers(const struct ember_response *res)
{
    struct json_object *o = json_object_new_object();
    size_t              i, j;

    for (i = 0; i < res->nheaders; i++) {
        struct json_object *arr;

        if (seen_before(res, i))
            continue;
        arr = json_object_new_array();
        for (j = i; j < res->nheaders; j++)
            if (strcasecmp(hname(res, j), hname(res, i)) == 0)
                json_object_array_add(arr, json_object_new_string(hvalue(res, j)));
        json_object_object_add(o, hname(res, i), arr);
    }
    return o;
}

/*
 * {"Name": "value"}: one value per name, the last one (`join` 0), or all
 * joined with ", " (`join` 1; set-cookie still keeps the last, as cookies
 * cannot be joined).  With `skip_cookies`, set-cookie is left out.
 * Caller owns the result.
 */
static struct json_object *single_headers(const struct ember_response *res, int join,
                                          int skip_cookies)
{
    struct json_object *o = json_object_new_object();
    struct ember_buf    b = EMBER_BUF_INIT;
    size_t              i, j;

    for (i = 0; i < res->nheaders; i++) {
        int cookie = is_set_cookie(hname(res, i));

        if (seen_before(res, i) || (cookie && skip_cookies))
            continue;
        ember_buf_reset(&b);
        for (j = i; j < res->nheaders; j++) {
            if (strcasecmp(hname(res, j), hname(res, i)) != 0)
                continue;
            if (b.len > 0 && join && !cookie)
                ember_buf_append(&b, ", ", 2);
            else
                ember_buf_reset(&b);
            ember_buf_puts(&b, hvalue(res, j));
        }
        json_object_object_add(o, hname(res, i), json_object_new_string(ember_buf_str(&b)));
    }
    ember_buf_free(&b);
    return o;
}

/* Add body and isBase64Encoded to o, encoding a binary body. */
static void add_body(struct json_object *o, const struct ember_response *res,
                     struct ember_pool *pool)
{
    const char *body = res->body ? res->body : "";
    size_t      n = res->body ? res->body_len : 0;
    int         b64 = res->binary || !ember_utf8_valid((const unsigned char *) body, n);

    if (b64) {
        size_t enc_len;
        char  *enc = ember_base64_encode(pool, body, n, &enc_len);

        json_object_object_add(o, "body", json_object_new_string_len(enc, (int) enc_len));
    } else {
        json_object_object_add(o, "body", json_object_new_string_len(body, (int) n));
    }
    json_object_object_add(o, "isBase64Encoded", json_object_new_boolean(b64));
}

char *ember_event_response(const struct ember_event *ev, const struct ember_response *res,
                           struct ember_pool *pool, size_t *len)
{
    struct json_object *o;
    enum ember_source   src = ev ? ev->source : EMBER_SRC_NONE;
    int                 status = res->status;
    const char         *s;
    char               *out;
    size_t              n, i;

    if (res->body != NULL && res->body_len > BODY_MAX) {
        /* json-c strings are int-sized; Lambda takes 6 MB anyway */
        static const struct ember_kv json_type = { "content-type", "application/json" };
        static const char msg[] = "{\"message\":\"Internal Server Error\"}";
        struct ember_response too_big = {
            .status = 500, .headers = (struct ember_kv *) &json_type, .nheaders = 1,
            .body = msg, .body_len = sizeof(msg) - 1,
        };

        return ember_event_response(ev, &too_big, pool, len);
    }
    if (status < 100 || status > 599)
        status = 500;   /* nobody answered, or nonsense: never pass it on */
    o = json_object_new_object();
    json_object_object_add(o, "statusCode", json_object_new_int(status));
    switch (src) {
    case EMBER_SRC_V1:
        json_object_object_add(o, "headers", single_headers(res, 0, 0));
        json_object_object_add(o, "multiValueHeaders", multi_headers(res));
        break;
    case EMBER_SRC_ALB:
        json_object_object_add(o, "statusDescription",
                               json_object_new_string(ember_pool_sprintf(
                                   pool, "%d %s", status, ember_reason_phrase(status))));
        if (ev->multi_value)
            json_object_object_add(o, "multiValueHeaders", multi_headers(res));
        else
            json_object_object_add(o, "headers", single_headers(res, 1, 0));
        break;
    default:    /* v2, url; and the simplest shape for an unknown source */
        json_object_object_add(o, "headers", single_headers(res, 1, 1));
        for (i = 0; i < res->nheaders; i++) {
            struct json_object *cookies;

            if (!is_set_cookie(hname(res, i)))
                continue;
            if (!json_object_object_get_ex(o, "cookies", &cookies)) {
                cookies = json_object_new_array();
                json_object_object_add(o, "cookies", cookies);
            }
            json_object_array_add(cookies, json_object_new_string(hvalue(res, i)));
        }
        break;
    }
    add_body(o, res, pool);
    s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN
                                             | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    out = ember_pool_strndup(pool, s, n);
    json_object_put(o);
    if (len)
        *len = n;
    return out;
}
