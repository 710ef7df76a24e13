/*
 * event.c - a Lambda event -> struct ember_request (the answer's JSON is
 * event-response.c's).
 *
 * The source is read off the event itself (see event.h).  What each source
 * hands us, and so what we undo here:
 *   v1   REST API: path percent-encoded, never with the stage (that is in
 *        requestContext.path); an HTTP API's payload 1.0 ("version":"1.0"):
 *        path already percent-decoded, with a named stage in front.  Query
 *        maps decoded; headers and multiValueHeaders both present (or null
 *        when there are none).
 *   v2   rawPath already percent-decoded by API Gateway (a client's
 *        "/hell%256f" arrives as "/hell%6f", and must stay so: decoding it
 *        again is the double-decode bypass of whatever matched the first
 *        form) and prefixed with the stage unless it is $default (left as it
 *        is: the config's strip_stage decides, core/main.c); rawQueryString
 *        raw; one header entry per name, repeated headers joined with
 *        commas; cookies in their own array, without a cookie header.
 *   url  like v2, but rawPath percent-encoded and no stage.
 *   alb  path percent-encoded; query maps NOT decoded by the load
 *        balancer; multiValueHeaders instead of headers when the target
 *        group has multi-value headers on (then the answer must use them
 *        too); the client's address only in x-forwarded-for, as the last
 *        entry (the load balancer appends it to what the client sent).
 * The path is kept as delivered (ev->raw_path: the router splits it into
 * segments first, then decodes each one, so a "%2F" never makes a segment)
 * and decoded once for req.path where the source left it encoded; a path
 * that decodes to a NUL byte or to bytes that are not UTF-8 is a 400.
 * Everything the request points to is copied into the pool; the json-c
 * tree is released before ember_event_parse returns.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "base64.h"
#include "buf.h"
#include "error.h"
#include "event.h"
#include "json-strict.h"
#include "pct.h"
#include "pool.h"
#include "text.h"

#define KEY_SHOWN   64      /* how much of an event's key a message repeats */
#define WHAT_MAX    (KEY_SHOWN + 64)
#define METHOD_MAX  32

static const char *const source_names[] = {
    [EMBER_SRC_NONE] = NULL,
    [EMBER_SRC_V1] = "v1",
    [EMBER_SRC_V2] = "v2",
    [EMBER_SRC_URL] = "url",
    [EMBER_SRC_ALB] = "alb",
};

/* A growing array of name/value pairs in the pool. */
struct kvvec {
    struct ember_kv *v;
    size_t           n, cap;
};

struct parse {
    struct ember_pool  *pool;
    struct ember_error *err;
    struct ember_event *ev;
    struct kvvec        headers, query, cookies;
};

static void kv_push(struct ember_pool *pool, struct kvvec *vec, const char *name,
                    const char *value)
{
    if (vec->n == vec->cap) {
        size_t           cap = vec->cap ? vec->cap * 2 : 16;
        struct ember_kv *v = ember_pool_alloc(pool, cap * sizeof(*v));

        if (vec->n > 0)
            memcpy(v, vec->v, vec->n * sizeof(*v));
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n].name = name;
    vec->v[vec->n].value = value;
    vec->n++;
}

static __attribute__((format(printf, 2, 3)))
int bad(struct parse *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_vfail(p->err, 400, fmt, ap);
    va_end(ap);
    return EMBER_ERROR;
}

/* Member `key` of o, borrowed; NULL when o is no object, or the member is
   absent or JSON null (API Gateway sends null for an empty map). */
static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    if (o == NULL || !json_object_is_type(o, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

/* Upper/lower-case ASCII in place; no locale. */
static void ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char) (*s - 'A' + 'a');
}

static void ascii_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char) (*s - 'a' + 'A');
}

/*
 * The JSON string v copied into the pool (*out, NUL-terminated; *outlen
 * if not NULL).  Fails, naming `what`, if v is not a string or holds a NUL
 * byte (which would silently cut every C string made of it).
 */
static int want_string(struct parse *p, struct json_object *v, const char *what,
                       const char **out, size_t *outlen)
{
    const char *s;
    size_t      n;

    if (v == NULL || !json_object_is_type(v, json_type_string))
        return bad(p, "event: %s: expected a string", what);
    s = json_object_get_string(v);
    n = (size_t) json_object_get_string_len(v);
    if (memchr(s, '\0', n) != NULL)
        return bad(p, "event: %s: contains a NUL byte", what);
    *out = ember_pool_strndup(p->pool, s, n);
    if (outlen)
        *outlen = n;
    return 0;
}

/*
 * The usual case of want_string, for loops over headers: 1 with *out set
 * when v is a string without NUL bytes; 0 otherwise, and then the caller
 * formats the place for want_string's message (not before: a snprintf per
 * header costs more than the rest of the header's work).
 */
static int plain_string(struct parse *p, struct json_object *v, const char **out)
{
    const char *s;
    size_t      n;

    if (v == NULL || !json_object_is_type(v, json_type_string))
        return 0;
    s = json_object_get_string(v);
    n = (size_t) json_object_get_string_len(v);
    if (memchr(s, '\0', n) != NULL)
        return 0;
    *out = ember_pool_strndup(p->pool, s, n);
    return 1;
}

/* The object at v, or a failure naming `what`. */
static int want_object(struct parse *p, struct json_object *v, const char *what)
{
    if (v == NULL || !json_object_is_type(v, json_type_object))
        return bad(p, "event: %s: expected an object", what);
    return 0;
}

/*
 * Percent-decode s[0..n) into a pool string; with `plus`, '+' is a space
 * (form encoding, for query strings).  A '%' without two hex digits stays
 * as it is, as browsers do.  Returns NULL if an escape decodes to NUL.
 */
static char *pct_decode(struct ember_pool *pool, const char *s, size_t n, int plus)
{
    char  *d = ember_pool_alloc(pool, n + 1);
    size_t o = ember_pct_decode(d, s, n, plus);

    return memchr(d, '\0', o) != NULL ? NULL : d;
}

/* "a=1&b=2" from the query entries, percent-encoded, in the pool. */
static const char *build_raw_query(struct ember_pool *pool, const struct kvvec *q)
{
    struct ember_buf b = EMBER_BUF_INIT;
    const char      *raw;
    size_t           i;

    for (i = 0; i < q->n; i++) {
        if (i > 0)
            ember_buf_append(&b, "&", 1);
        ember_pct_encode(&b, q->v[i].name);
        ember_buf_append(&b, "=", 1);
        ember_pct_encode(&b, q->v[i].value);
    }
    raw = ember_pool_strndup(pool, ember_buf_str(&b), b.len);
    ember_buf_free(&b);
    return raw;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Cookies "a=1; b=2" (a cookie header, or one entry of v2's array) appended
   to p->cookies.  A part without '=' is a name with an empty value. */
static void add_cookies(struct parse *p, const char *s)
{
    while (*s) {
        const char *end = strchr(s, ';'), *eq, *ne, *vs, *ve;

        if (end == NULL)
            end = s + strlen(s);
        while (s < end && is_ows(*s))
            s++;
        ve = end;
        while (ve > s && is_ows(ve[-1]))
            ve--;
        if (ve > s) {
            eq = memchr(s, '=', (size_t) (ve - s));
            if (eq == NULL) {
                ne = ve;
                vs = ve;
            } else {
                ne = eq;
                vs = eq + 1;
            }
            while (ne > s && is_ows(ne[-1]))
                ne--;
            while (vs < ve && is_ows(*vs))
                vs++;
            if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
                vs++;
                ve--;
            }
            kv_push(p->pool, &p->cookies, ember_pool_strndup(p->pool, s, (size_t) (ne - s)),
                    ember_pool_strndup(p->pool, vs, (size_t) (ve - vs)));
        }
        s = *end ? end + 1 : end;
    }
}

/* A header for p->headers: the name lower-cased, both copied into the pool. */
static void add_header(struct parse *p, const char *name, const char *value)
{
    char *n = ember_pool_strdup(p->pool, name);

    ascii_lower(n);
    kv_push(p->pool, &p->headers, n, value);
}

/* headers: {"Name": "value"} (one entry per name). */
static int headers_single(struct parse *p, struct json_object *h)
{
    char what[WHAT_MAX];

    if (h == NULL)
        return 0;
    if (want_object(p, h, "headers") != 0)
        return EMBER_ERROR;
    json_object_object_foreach(h, name, v) {
        const char *value;

        if (v == NULL)
            continue;
        if (!plain_string(p, v, &value)) {
            snprintf(what, sizeof(what), "headers.%.*s", KEY_SHOWN, name);
            if (want_string(p, v, what, &value, NULL) != 0)
                return EMBER_ERROR;
        }
        add_header(p, name, value);
    }
    return 0;
}

/* multiValueHeaders: {"Name": ["v1", "v2"]} (one entry per value). */
static int headers_multi(struct parse *p, struct json_object *h)
{
    char what[WHAT_MAX];

    if (want_object(p, h, "multiValueHeaders") != 0)
        return EMBER_ERROR;
    json_object_object_foreach(h, name, arr) {
        size_t i, n;

        if (arr == NULL)
            continue;
        if (!json_object_is_type(arr, json_type_array))
            return bad(p, "event: multiValueHeaders.%.*s: expected an array", KEY_SHOWN, name);
        n = json_object_array_length(arr);
        for (i = 0; i < n; i++) {
            struct json_object *v = json_object_array_get_idx(arr, i);
            const char         *value;

            if (!plain_string(p, v, &value)) {
                snprintf(what, sizeof(what), "multiValueHeaders.%.*s[%zu]", KEY_SHOWN, name, i);
                if (want_string(p, v, what, &value, NULL) != 0)
                    return EMBER_ERROR;
            }
            add_header(p, name, value);
        }
    }
    return 0;
}

/*
 * One query entry from a v1/alb map.  API Gateway decoded it already; the
 * load balancer passes what the client sent, so for alb we decode here.
 */
static int add_map_query(struct parse *p, const char *name, const char *value,
                         const char *what, int decode)
{
    const char *n = name, *v = value;

    if (decode) {
        n = pct_decode(p->pool, name, strlen(name), 1);
        v = pct_decode(p->pool, value, strlen(value), 1);
        if (n == NULL || v == NULL)
            return bad(p, "event: %s: contains an encoded NUL byte", what);
    } else {
        n = ember_pool_strdup(p->pool, name);   /* json-c keys hold no NUL */
    }
    kv_push(p->pool, &p->query, n, v);
    return 0;
}

static int query_single(struct parse *p, struct json_object *q, int decode)
{
    char what[WHAT_MAX];

    if (q == NULL)
        return 0;
    if (want_object(p, q, "queryStringParameters") != 0)
        return EMBER_ERROR;
    json_object_object_foreach(q, name, v) {
        const char *value;

        if (v == NULL)
            continue;
        snprintf(what, sizeof(what), "queryStringParameters.%.*s", KEY_SHOWN, name);
        if (want_string(p, v, what, &value, NULL) != 0
            || add_map_query(p, name, value, what, decode) != 0)
            return EMBER_ERROR;
    }
    return 0;
}

static int query_multi(struct parse *p, struct json_object *q, int decode)
{
    char what[WHAT_MAX];

    if (want_object(p, q, "multiValueQueryStringParameters") != 0)
        return EMBER_ERROR;
    json_object_object_foreach(q, name, arr) {
        size_t i, n;

        if (arr == NULL)
            continue;
        if (!json_object_is_type(arr, json_type_array))
            return bad(p, "event: multiValueQueryStringParameters.%.*s: expected an array",
                       KEY_SHOWN, name);
        n = json_object_array_length(arr);
        for (i = 0; i < n; i++) {
            const char *value;

            snprintf(what, sizeof(what), "multiValueQueryStringParameters.%.*s[%zu]",
                     KEY_SHOWN, name, i);
            if (want_string(p, json_object_array_get_idx(arr, i), what, &value, NULL) != 0
                || add_map_query(p, name, value, what, decode) != 0)
                return EMBER_ERROR;
        }
    }
    return 0;
}

/* v2's rawQueryString "a=1&a=2&b" split into entries, decoded. */
static int query_split(struct parse *p, const char *raw)
{
    const char *s = raw;

    while (*s) {
        const char *end = strchr(s, '&'), *eq;
        char       *n, *v;

        if (end == NULL)
            end = s + strlen(s);
        if (end > s) {
            eq = memchr(s, '=', (size_t) (end - s));
            if (eq == NULL) {
                n = pct_decode(p->pool, s, (size_t) (end - s), 1);
                v = ember_pool_strdup(p->pool, "");
            } else {
                n = pct_decode(p->pool, s, (size_t) (eq - s), 1);
                v = pct_decode(p->pool, eq + 1, (size_t) (end - eq - 1), 1);
            }
            if (n == NULL || v == NULL)
                return bad(p, "event: rawQueryString: contains an encoded NUL byte");
            kv_push(p->pool, &p->query, n, v);
        }
        s = *end ? end + 1 : end;
    }
    return 0;
}

/* method: a token, upper-cased. */
static int take_method(struct parse *p, struct json_object *o, const char *key,
                       const char *what)
{
    const char *m;
    size_t      n, i;

    if (!json_object_object_get_ex(o, key, NULL))
        return bad(p, "event: %s: missing", what);
    if (want_string(p, member(o, key), what, &m, &n) != 0)
        return EMBER_ERROR;
    if (n == 0 || n > METHOD_MAX)
        return bad(p, "event: %s: not an HTTP method", what);
    for (i = 0; i < n; i++)
        if (!ember_http_tchar((unsigned char) m[i]))
            return bad(p, "event: %s: not an HTTP method", what);
    ascii_upper((char *) m);
    p->ev->req.method = m;
    return 0;
}

/*
 * The path: starts with '/', kept as delivered (ev->raw_path, what the
 * router splits) and decoded once if the source left it `encoded`
 * (req.path); either way never a NUL byte and UTF-8 once decoded.
 */
static int take_path(struct parse *p, struct json_object *o, const char *key, int encoded)
{
    const char *path, *dec;
    size_t      n;

    if (!json_object_object_get_ex(o, key, NULL))
        return bad(p, "event: %s: missing", key);
    if (want_string(p, member(o, key), key, &path, &n) != 0)
        return EMBER_ERROR;
    if (path[0] != '/')
        return bad(p, "event: %s: must start with \"/\"", key);
    dec = path;
    if (encoded) {
        dec = pct_decode(p->pool, path, n, 0);
        if (dec == NULL)
            return bad(p, "event: %s: contains an encoded NUL byte", key);
        n = strlen(dec);
    }
    if (!ember_utf8_valid((const unsigned char *) dec, n))
        return bad(p, "event: %s: not UTF-8", key);
    p->ev->raw_path = path;
    p->ev->path_encoded = encoded;
    p->ev->req.path = dec;
    return 0;
}

/* body + isBase64Encoded: the exact bytes, always NUL-terminated. */
static int take_body(struct parse *p, struct json_object *root)
{
    struct json_object *b = member(root, "body"), *enc = member(root, "isBase64Encoded");
    const char         *s;
    size_t              n;

    if (enc != NULL && !json_object_is_type(enc, json_type_boolean))
        return bad(p, "event: isBase64Encoded: expected a boolean");
    if (b == NULL) {
        p->ev->req.body = "";
        p->ev->req.body_len = 0;
        return 0;
    }
    if (!json_object_is_type(b, json_type_string))
        return bad(p, "event: body: expected a string");
    s = json_object_get_string(b);
    n = (size_t) json_object_get_string_len(b);
    if (enc != NULL && json_object_get_boolean(enc)) {
        char *out;

        if (ember_base64_decode(p->pool, s, n, &out, &n) != 0)
            return bad(p, "event: body: invalid base64");
        s = out;
    } else {
        s = ember_pool_strndup(p->pool, s, n);
    }
    p->ev->req.body = s;
    p->ev->req.body_len = n;
    return 0;
}

/* An optional string member: *out stays NULL when absent. */
static int opt_string(struct parse *p, struct json_object *o, const char *key,
                      const char *what, const char **out)
{
    struct json_object *v = member(o, key);

    if (v == NULL)
        return 0;
    return want_string(p, v, what, out, NULL);
}

/*
 * The client's address behind an ALB: the last entry of the last
 * x-forwarded-for header, the one the load balancer appended (a client
 * writes whatever it likes before it).  NULL if there is none, or it is
 * empty.
 */
static const char *forwarded_for(struct parse *p)
{
    const char *s = NULL, *b, *e;
    size_t      i;

    for (i = 0; i < p->headers.n; i++)
        if (strcmp(p->headers.v[i].name, "x-forwarded-for") == 0)
            s = p->headers.v[i].value;
    if (s == NULL)
        return NULL;
    b = strrchr(s, ',');
    b = b ? b + 1 : s;
    while (is_ows(*b))
        b++;
    e = b + strlen(b);
    while (e > b && is_ows(e[-1]))
        e--;
    return e > b ? ember_pool_strndup(p->pool, b, (size_t) (e - b)) : NULL;
}

/* API Gateway REST (payload 1.0) and ALB: the same top-level shape. */
static int parse_v1_alb(struct parse *p, struct json_object *root, struct json_object *ctx)
{
    struct ember_event *ev = p->ev;
    int                 alb = ev->source == EMBER_SRC_ALB;
    struct json_object *mvh = member(root, "multiValueHeaders");
    struct json_object *mvq = member(root, "multiValueQueryStringParameters");
    size_t              i;

    if (ctx != NULL && want_object(p, ctx, "requestContext") != 0)
        return EMBER_ERROR;
    if (take_method(p, root, "httpMethod", "httpMethod") != 0
        || take_path(p, root, "path", !ev->http_api) != 0)
        return EMBER_ERROR;
    if (mvh != NULL) {
        ev->multi_value = 1;
        if (headers_multi(p, mvh) != 0)
            return EMBER_ERROR;
    } else if (headers_single(p, member(root, "headers")) != 0) {
        return EMBER_ERROR;
    }
    if (mvq != NULL) {
        if (query_multi(p, mvq, alb) != 0)
            return EMBER_ERROR;
    } else if (query_single(p, member(root, "queryStringParameters"), alb) != 0) {
        return EMBER_ERROR;
    }
    ev->req.raw_query = build_raw_query(p->pool, &p->query);
    for (i = 0; i < p->headers.n; i++)
        if (strcmp(p->headers.v[i].name, "cookie") == 0)
            add_cookies(p, p->headers.v[i].value);
    if (take_body(p, root) != 0)
        return EMBER_ERROR;
    if (alb) {
        ev->req.source_ip = forwarded_for(p);
        return 0;
    }
    if (opt_string(p, ctx, "stage", "requestContext.stage", &ev->stage) != 0)
        return EMBER_ERROR;
    if (member(ctx, "identity") != NULL) {
        struct json_object *id = member(ctx, "identity");

        if (want_object(p, id, "requestContext.identity") != 0
            || opt_string(p, id, "sourceIp", "requestContext.identity.sourceIp",
                          &ev->req.source_ip) != 0)
            return EMBER_ERROR;
    }
    return 0;
}

/* API Gateway HTTP API (payload 2.0) and Lambda function URLs. */
static int parse_v2(struct parse *p, struct json_object *root, struct json_object *ctx)
{
    struct ember_event *ev = p->ev;
    struct json_object *http = member(ctx, "http");
    struct json_object *raw = member(root, "rawQueryString");
    struct json_object *cookies = member(root, "cookies");
    char                what[WHAT_MAX];

    if (want_object(p, http, "requestContext.http") != 0
        || take_method(p, http, "method", "requestContext.http.method") != 0
        || take_path(p, root, "rawPath", !ev->http_api) != 0
        || opt_string(p, ctx, "stage", "requestContext.stage", &ev->stage) != 0)
        return EMBER_ERROR;
    if (raw != NULL) {
        if (want_string(p, raw, "rawQueryString", &ev->req.raw_query, NULL) != 0
            || query_split(p, ev->req.raw_query) != 0)
            return EMBER_ERROR;
    } else {
        if (query_single(p, member(root, "queryStringParameters"), 0) != 0)
            return EMBER_ERROR;
        ev->req.raw_query = build_raw_query(p->pool, &p->query);
    }
    if (headers_single(p, member(root, "headers")) != 0)
        return EMBER_ERROR;
    if (cookies != NULL) {
        size_t i, n;

        if (!json_object_is_type(cookies, json_type_array))
            return bad(p, "event: cookies: expected an array");
        n = json_object_array_length(cookies);
        for (i = 0; i < n; i++) {
            const char *c;

            snprintf(what, sizeof(what), "cookies[%zu]", i);
            if (want_string(p, json_object_array_get_idx(cookies, i), what, &c, NULL) != 0)
                return EMBER_ERROR;
            add_cookies(p, c);
        }
    }
    if (take_body(p, root) != 0
        || opt_string(p, http, "sourceIp", "requestContext.http.sourceIp",
                      &ev->req.source_ip) != 0)
        return EMBER_ERROR;
    return 0;
}

/*
 * The tokener of every event: made once, reused for each parse (a new one
 * per event costs its allocations on the warm path).  The bootstrap parses
 * one event at a time.  Never freed: it lives as long as the process.
 */
static struct json_tokener *event_tokener(void)
{
    static struct json_tokener *tok;

    if (tok == NULL) {
        tok = json_tokener_new();
        if (tok == NULL)
            abort();
    }
    return tok;
}

/*
 * The event's JSON tree (common/json-strict.c's rules: one value, strictly), or
 * NULL with err filled.  The caller owns the result (json_object_put).
 * JSON null parses to NULL too: *is_null says so.
 */
static struct json_object *parse_json(const char *json, size_t len, struct ember_error *err,
                                      int *is_null)
{
    struct json_object *root;
    const char         *why;
    size_t              at;

    *is_null = 0;
    if (len > INT32_MAX - 1) {
        ember_fail(err, 400, "event: too large (%zu bytes)", len);
        return NULL;
    }
    if (ember_json_parse(event_tokener(), json, len, &root, &at, &why) != 0) {
        ember_fail(err, 400, "event: invalid JSON at offset %zu: %s", at, why);
        return NULL;
    }
    *is_null = root == NULL;
    return root;
}

static enum ember_source detect(struct json_object *root)
{
    struct json_object *ctx = member(root, "requestContext");

    if (member(ctx, "elb") != NULL)
        return EMBER_SRC_ALB;
    if (member(ctx, "http") != NULL) {
        struct json_object *dn = member(ctx, "domainName");

        if (dn != NULL && json_object_is_type(dn, json_type_string)
            && strstr(json_object_get_string(dn), ".lambda-url.") != NULL)
            return EMBER_SRC_URL;
        return EMBER_SRC_V2;
    }
    if (json_object_object_get_ex(root, "httpMethod", NULL))
        return EMBER_SRC_V1;
    return EMBER_SRC_NONE;
}

/* An HTTP API's event (payload 2.0, or 1.0 with its top-level "version"),
   not a REST API's (no "version") nor a Function URL's. */
static int is_http_api(struct json_object *root, enum ember_source src)
{
    struct json_object *v = member(root, "version");

    if (src == EMBER_SRC_V2)
        return 1;
    return src == EMBER_SRC_V1 && v != NULL && json_object_is_type(v, json_type_string)
           && strcmp(json_object_get_string(v), "1.0") == 0;
}

int ember_event_parse(struct ember_event *ev, struct ember_pool *pool,
                      const char *json, size_t len, struct ember_error *err)
{
    struct parse        p = { .pool = pool, .err = err, .ev = ev };
    struct json_object *root, *ctx;
    int                 is_null, rc;

    memset(ev, 0, sizeof(*ev));
    root = parse_json(json, len, err, &is_null);
    if (root == NULL && !is_null)
        return EMBER_ERROR;
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        ember_fail(err, 400, "event: expected a JSON object, got %s",
                   root == NULL ? "null" : json_type_to_name(json_object_get_type(root)));
        json_object_put(root);
        return EMBER_ERROR;
    }
    ev->source = detect(root);
    if (ev->source == EMBER_SRC_NONE) {
        json_object_put(root);
        return ember_fail(err, 400, "event: not an HTTP event (no httpMethod, "
                          "requestContext.http or requestContext.elb)");
    }
    ev->req.source = source_names[ev->source];
    ev->http_api = is_http_api(root, ev->source);
    ctx = member(root, "requestContext");
    if (ev->source == EMBER_SRC_V2 || ev->source == EMBER_SRC_URL)
        rc = parse_v2(&p, root, ctx);
    else
        rc = parse_v1_alb(&p, root, ctx);
    json_object_put(root);
    if (rc != 0)
        return EMBER_ERROR;
    ev->req.headers = p.headers.v;
    ev->req.nheaders = p.headers.n;
    ev->req.query = p.query.v;
    ev->req.nquery = p.query.n;
    ev->req.cookies = p.cookies.v;
    ev->req.ncookies = p.cookies.n;
    return 0;
}

const char *ember_event_path_stage(const struct ember_event *ev)
{
    if (!ev->http_api || ev->stage == NULL || ev->stage[0] == '\0'
        || strcmp(ev->stage, "$default") == 0)
        return NULL;
    return ev->stage;
}

void ember_event_strip(struct ember_event *ev, const char *prefix)
{
    const char *raw = ev->raw_path, *end;
    size_t      n, plen;

    if (prefix == NULL || prefix[0] == '\0' || raw == NULL || raw[0] != '/')
        return;
    end = strchr(raw + 1, '/');
    n = end ? (size_t) (end - raw - 1) : strlen(raw + 1);
    plen = strlen(prefix);
    if (ev->path_encoded ? !ember_pct_equal(raw + 1, n, prefix, plen)
                         : (n != plen || memcmp(raw + 1, prefix, n) != 0))
        return;
    /* req.path is raw decoded (or raw itself): its first segment is prefix */
    ev->raw_path = end ? end : "/";
    ev->req.path = end ? ev->req.path + 1 + plen : "/";
}

/* ------------------------------------------------------------ base64 in the pool */

char *ember_base64_encode(struct ember_pool *pool, const void *data, size_t len, size_t *outlen)
{
    size_t n = ember_b64_encoded_len(EMBER_B64_STD, len);
    char  *out;

    if (n == SIZE_MAX)
        abort();    /* larger than any object in memory can be */
    out = ember_pool_alloc(pool, n + 1);
    ember_b64_encode(EMBER_B64_STD, data, len, out);
    if (outlen)
        *outlen = n;
    return out;
}

int ember_base64_decode(struct ember_pool *pool, const char *s, size_t len,
                        char **out, size_t *outlen)
{
    unsigned char *dst = ember_pool_alloc(pool, ember_b64_decoded_max(len));

    *out = NULL;
    if (ember_b64_decode(EMBER_B64_STD, s, len, dst, outlen) != 0)
        return -1;
    *out = (char *) dst;
    return 0;
}
