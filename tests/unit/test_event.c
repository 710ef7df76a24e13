/*
 * test_event.c - event parsing (every sample event, synthetic edge cases,
 * malformed input), response building against golden JSON, base64.
 *
 * Env: EMBER_EVENTS_DIR (sample events; default $top_srcdir/../shared/events),
 * top_srcdir (default "..", i.e. run from a build directory in the tree).
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../tap.h"
#include "buf.h"
#include "error.h"
#include "event.h"
#include "pool.h"
#include "xalloc.h"

static const char *top_srcdir(void)
{
    const char *t = getenv("top_srcdir");

    return t && *t ? t : "..";
}

/* The whole file, NUL-terminated, or NULL.  Caller frees. */
static char *slurp(const char *path, size_t *len)
{
    FILE  *f = fopen(path, "rb");
    char  *data;
    long   n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    data = ember_xmalloc((size_t) n + 1);
    if (fread(data, 1, (size_t) n, f) != (size_t) n) {
        free(data);
        fclose(f);
        return NULL;
    }
    fclose(f);
    data[n] = '\0';
    if (len)
        *len = (size_t) n;
    return data;
}

/* A sample event's path; caller frees. */
static char *event_path(const char *name)
{
    const char *dir = getenv("EMBER_EVENTS_DIR");

    if (dir && *dir)
        return ember_xasprintf("%s/%s", dir, name);
    return ember_xasprintf("%s/../shared/events/%s", top_srcdir(), name);
}

/* First header/query/cookie named `name`, or NULL. */
static const char *kv_get(const struct ember_kv *kv, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(kv[i].name, name) == 0)
            return kv[i].value;
    return NULL;
}

/* Every value of `name` joined with "|", in order: "a|b".  In the pool. */
static const char *kv_all(struct ember_pool *pool, const struct ember_kv *kv, size_t n,
                          const char *name)
{
    struct ember_buf b = EMBER_BUF_INIT;
    const char      *s;
    size_t           i;
    int              any = 0;

    for (i = 0; i < n; i++) {
        if (strcmp(kv[i].name, name) != 0)
            continue;
        if (any)
            ember_buf_puts(&b, "|");
        ember_buf_puts(&b, kv[i].value);
        any = 1;
    }
    s = any ? ember_pool_strdup(pool, ember_buf_str(&b)) : NULL;
    ember_buf_free(&b);
    return s;
}

/* All entries as "n=v|n=v", in order.  In the pool. */
static const char *kv_dump(struct ember_pool *pool, const struct ember_kv *kv, size_t n)
{
    struct ember_buf b = EMBER_BUF_INIT;
    const char      *s;
    size_t           i;

    for (i = 0; i < n; i++)
        ember_buf_printf(&b, "%s%s=%s", i ? "|" : "", kv[i].name, kv[i].value);
    s = ember_pool_strdup(pool, ember_buf_str(&b));
    ember_buf_free(&b);
    return s;
}

/* ------------------------------------------------------------ base64 */

static void test_base64(void)
{
    static const struct { const char *plain, *enc, *unpadded; } rfc[] = {
        { "", "", "" }, { "f", "Zg==", "Zg" }, { "fo", "Zm8=", "Zm8" },
        { "foo", "Zm9v", "Zm9v" }, { "foob", "Zm9vYg==", "Zm9vYg" },
        { "fooba", "Zm9vYmE=", "Zm9vYmE" }, { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
    };
    static const char *const invalid[] = {
        "Z", "Zg=", "Zg===", "Z===", "=", "==", "Zm9v=", "=Zm9", "Zm=v", "Zg==Zg==",
        "Zm9v!", "Zm 9v", "Zm9v\n", " Zm9v", "Zm9v\r\n", "-_-_", "Zm9vYg===", "Zm9\x80",
    };
    struct ember_pool *pool = ember_pool_create();
    unsigned char      all[256];
    size_t             i, n, len;
    char              *enc, *dec;
    int                good;

    for (i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
        enc = ember_base64_encode(pool, rfc[i].plain, strlen(rfc[i].plain), &n);
        is_str(enc, rfc[i].enc, "base64: encode \"%s\"", rfc[i].plain);
        is_int((long long) n, (long long) strlen(rfc[i].enc), "base64: encode \"%s\" length",
               rfc[i].plain);
        ok(ember_base64_decode(pool, rfc[i].enc, strlen(rfc[i].enc), &dec, &n) == 0
           && n == strlen(rfc[i].plain) && strcmp(dec, rfc[i].plain) == 0,
           "base64: decode \"%s\"", rfc[i].enc);
        ok(ember_base64_decode(pool, rfc[i].unpadded, strlen(rfc[i].unpadded), &dec, &n) == 0
           && n == strlen(rfc[i].plain) && strcmp(dec, rfc[i].plain) == 0,
           "base64: decode \"%s\" without padding", rfc[i].unpadded);
    }
    ok(ember_base64_encode(pool, NULL, 0, NULL) != NULL, "base64: encode of nothing is \"\"");

    /* every byte value, at every length (so every padding case) */
    for (i = 0; i < 256; i++)
        all[i] = (unsigned char) (255 - i);
    good = 1;
    for (len = 0; len <= 256; len++) {
        enc = ember_base64_encode(pool, all, len, &n);
        if (n != (len + 2) / 3 * 4 || strlen(enc) != n
            || ember_base64_decode(pool, enc, n, &dec, &n) != 0
            || n != len || memcmp(dec, all, len) != 0 || dec[len] != '\0') {
            good = 0;
            diag("round trip failed at length %zu", len);
            break;
        }
        /* and without its padding */
        n = strlen(enc);
        while (n > 0 && enc[n - 1] == '=')
            n--;
        if (ember_base64_decode(pool, enc, n, &dec, &n) != 0 || n != len
            || memcmp(dec, all, len) != 0) {
            good = 0;
            diag("unpadded round trip failed at length %zu", len);
            break;
        }
    }
    ok(good, "base64: all 256 byte values round-trip at lengths 0..256, padded or not");
    enc = ember_base64_encode(pool, all, 256, &n);
    ok(strncmp(enc, "//79/Pv6", 8) == 0 && strcmp(enc + n - 4, "AA==") == 0,
       "base64: 255..0 encodes with '/' and padding");

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        dec = (char *) "untouched";
        n = 99;
        is_int(ember_base64_decode(pool, invalid[i], strlen(invalid[i]), &dec, &n), -1,
               "base64: reject invalid input %zu", i);
        ok(dec == NULL && n == 0, "base64: reject invalid input %zu: no output", i);
    }
    is_int(ember_base64_decode(pool, "Zm\0v", 4, &dec, &n), -1, "base64: reject a NUL byte");
    ok(ember_base64_decode(pool, "", 0, &dec, &n) == 0 && n == 0 && dec && dec[0] == '\0',
       "base64: decode \"\" to an empty string");
    ok(ember_base64_decode(pool, "Zm9vYmFyZm9v", 4, &dec, &n) == 0 && n == 3
       && strcmp(dec, "foo") == 0, "base64: decode honours the length");
    ember_pool_destroy(pool);
}

/* ------------------------------------------------------------ sample events */

struct parsed {
    struct ember_pool  *pool;
    struct ember_event  ev;
    struct ember_error  err;
    int                 rc;
};

static void parse_str(struct parsed *p, const char *json, size_t len)
{
    p->pool = ember_pool_create();
    ember_error_clear(&p->err);
    p->rc = ember_event_parse(&p->ev, p->pool, json, len, &p->err);
    if (p->rc != 0)
        diag("parse: %s", p->err.message);
}

static int parse_file(struct parsed *p, const char *name)
{
    char  *path = event_path(name);
    size_t len;
    char  *json = slurp(path, &len);

    if (json == NULL) {
        ok(0, "%s: readable", path);
        free(path);
        p->pool = ember_pool_create();
        p->rc = -2;
        return -1;
    }
    parse_str(p, json, len);
    free(json);
    free(path);
    return 0;
}

static void test_apigw_v1(void)
{
    struct parsed              p;
    const struct ember_request *r = &p.ev.req;

    if (parse_file(&p, "apigw-request.json") == 0) {
        is_int(p.rc, 0, "v1 sample: parses");
        is_int(p.ev.source, EMBER_SRC_V1, "v1 sample: source");
        is_str(r->source, "v1", "v1 sample: source name");
        is_str(r->method, "POST", "v1 sample: method");
        is_str(r->path, "/hello/world", "v1 sample: path");
        is_str(p.ev.stage, "testStage", "v1 sample: stage");
        is_int(p.ev.multi_value, 1, "v1 sample: had multiValueHeaders");
        is_str(r->source_ip, "192.168.196.186", "v1 sample: source ip");
        is_int((long long) r->nheaders, 19, "v1 sample: 19 headers");
        is_str(r->headers[0].name, "accept", "v1 sample: names are lower-case");
        is_str(kv_get(r->headers, r->nheaders, "accept-encoding"), "gzip, deflate",
               "v1 sample: accept-encoding");
        is_str(kv_get(r->headers, r->nheaders, "cloudfront-viewer-country"), "US",
               "v1 sample: cloudfront-viewer-country");
        is_str(kv_get(r->headers, r->nheaders, "x-forwarded-for"),
               "54.240.196.186, 54.182.214.83", "v1 sample: x-forwarded-for kept whole");
        is_str(kv_get(r->headers, r->nheaders, "Accept"), NULL, "v1 sample: no mixed case");
        is_str(kv_dump(p.pool, r->query, r->nquery), "name=me", "v1 sample: query");
        is_str(r->raw_query, "name=me", "v1 sample: raw query rebuilt");
        is_int((long long) r->ncookies, 0, "v1 sample: no cookies");
        is_str(r->body, "{\r\n\t\"a\": 1\r\n}", "v1 sample: body");
        is_int((long long) r->body_len, 13, "v1 sample: body length");
        ok(r->request_id == NULL && r->function_arn == NULL && r->deadline_ms == 0
           && r->params == NULL && r->nparams == 0, "v1 sample: core's fields left empty");
    }
    ember_pool_destroy(p.pool);
}

static void test_apigw_v2(void)
{
    struct parsed              p;
    const struct ember_request *r = &p.ev.req;

    if (parse_file(&p, "apigw-v2-request-lambda-authorizer.json") == 0) {
        is_int(p.rc, 0, "v2 sample: parses");
        is_int(p.ev.source, EMBER_SRC_V2, "v2 sample: source");
        is_str(r->source, "v2", "v2 sample: source name");
        is_str(r->method, "GET", "v2 sample: method");
        is_str(r->path, "/my/path", "v2 sample: path");
        is_str(p.ev.stage, "$default", "v2 sample: stage");
        is_int(p.ev.multi_value, 0, "v2 sample: no multi-value");
        is_str(r->source_ip, "IP", "v2 sample: source ip");
        is_str(kv_dump(p.pool, r->headers, r->nheaders), "header1=value1|header2=value2",
               "v2 sample: headers, lower-case");
        is_str(r->raw_query, "parameter1=value1&parameter1=value2&parameter2=value",
               "v2 sample: raw query");
        is_str(kv_all(p.pool, r->query, r->nquery, "parameter1"), "value1|value2",
               "v2 sample: repeated query parameter, in order");
        is_str(kv_dump(p.pool, r->query, r->nquery),
               "parameter1=value1|parameter1=value2|parameter2=value", "v2 sample: query");
        is_str(kv_dump(p.pool, r->cookies, r->ncookies), "cookie1=|cookie2=",
               "v2 sample: cookies without '=' are names");
        is_str(r->body, "{\r\n\t\"a\": 1\r\n}", "v2 sample: body");
        is_int((long long) r->body_len, 13, "v2 sample: body length");
    }
    ember_pool_destroy(p.pool);

    if (parse_file(&p, "apigw-v2-request-no-authorizer.json") == 0) {
        is_int(p.rc, 0, "v2 no-auth sample: parses");
        is_int(p.ev.source, EMBER_SRC_V2, "v2 no-auth sample: source");
        is_str(r->method, "GET", "v2 no-auth sample: method");
        is_str(r->path, "/", "v2 no-auth sample: path");
        is_str(r->raw_query, "", "v2 no-auth sample: empty raw query");
        is_int((long long) r->nquery, 0, "v2 no-auth sample: no query");
        is_int((long long) r->nheaders, 8, "v2 no-auth sample: 8 headers");
        is_str(kv_get(r->headers, r->nheaders, "content-length"), "0",
               "v2 no-auth sample: content-length");
        is_str(kv_get(r->headers, r->nheaders, "user-agent"), "curl/7.58.0",
               "v2 no-auth sample: user-agent");
        is_int((long long) r->ncookies, 0, "v2 no-auth sample: no cookies");
        ok(r->body != NULL && r->body[0] == '\0' && r->body_len == 0,
           "v2 no-auth sample: no body is \"\"");
        is_str(r->source_ip, "1.2.3.4", "v2 no-auth sample: source ip");
        is_str(p.ev.stage, "$default", "v2 no-auth sample: stage");
    }
    ember_pool_destroy(p.pool);
}

static void test_url(void)
{
    struct parsed              p;
    const struct ember_request *r = &p.ev.req;

    if (parse_file(&p, "lambda-urls-request.json") == 0) {
        is_int(p.rc, 0, "url sample: parses");
        is_int(p.ev.source, EMBER_SRC_URL, "url sample: source");
        is_str(r->source, "url", "url sample: source name");
        is_str(r->method, "POST", "url sample: method");
        is_str(r->path, "/my/path", "url sample: path");
        is_str(p.ev.stage, NULL, "url sample: no stage");
        is_str(kv_all(p.pool, r->headers, r->nheaders, "header2"), "value1,value2",
               "url sample: comma-joined header stays one entry");
        is_int((long long) r->nheaders, 2, "url sample: 2 headers");
        is_str(kv_dump(p.pool, r->query, r->nquery),
               "parameter1=value1|parameter1=value2|parameter2=value", "url sample: query");
        is_str(kv_dump(p.pool, r->cookies, r->ncookies), "cookie1=|cookie2=",
               "url sample: cookies");
        is_str(r->body, "Hello from client!", "url sample: body");
        is_int((long long) r->body_len, 18, "url sample: body length");
        is_str(r->source_ip, "123.123.123.123", "url sample: source ip");
    }
    ember_pool_destroy(p.pool);
}

static void test_alb(void)
{
    struct parsed              p;
    const struct ember_request *r = &p.ev.req;

    if (parse_file(&p, "alb-lambda-target-request-headers-only.json") == 0) {
        is_int(p.rc, 0, "alb sample: parses");
        is_int(p.ev.source, EMBER_SRC_ALB, "alb sample: source");
        is_str(r->source, "alb", "alb sample: source name");
        is_str(r->method, "GET", "alb sample: method");
        is_str(r->path, "/", "alb sample: path");
        is_str(p.ev.stage, NULL, "alb sample: no stage");
        is_int(p.ev.multi_value, 0, "alb sample: single-value headers");
        is_int((long long) r->nheaders, 10, "alb sample: 10 headers");
        is_str(kv_get(r->headers, r->nheaders, "x-myheader"), "123", "alb sample: x-myheader");
        is_str(kv_dump(p.pool, r->query, r->nquery), "key=hello", "alb sample: query");
        is_str(r->raw_query, "key=hello", "alb sample: raw query");
        is_str(r->source_ip, "25.12.198.67", "alb sample: source ip from x-forwarded-for");
        ok(r->body && r->body[0] == '\0' && r->body_len == 0, "alb sample: empty body");
        is_int((long long) r->ncookies, 0, "alb sample: no cookies");
    }
    ember_pool_destroy(p.pool);
}

/* Every file of the samples folder: requests parse, responses are not HTTP events. */
static void test_every_sample(void)
{
    const char    *env = getenv("EMBER_EVENTS_DIR");
    char          *dir = env && *env ? ember_xstrdup(env)
                                     : ember_xasprintf("%s/../shared/events", top_srcdir());
    DIR           *d = opendir(dir);
    struct dirent *e;
    int            requests = 0, responses = 0;

    ok(d != NULL, "sample events folder %s opens", dir);
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t        n = strlen(e->d_name);
        struct parsed p;

        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        if (parse_file(&p, e->d_name) != 0) {
            ember_pool_destroy(p.pool);
            continue;
        }
        if (strstr(e->d_name, "response") != NULL) {
            responses++;
            ok(p.rc == EMBER_ERROR && p.ev.source == EMBER_SRC_NONE && p.err.status == 400,
               "%s: not an HTTP request event", e->d_name);
        } else {
            requests++;
            ok(p.rc == 0 && p.ev.source != EMBER_SRC_NONE && p.ev.req.method
               && p.ev.req.path && p.ev.req.raw_query && p.ev.req.body
               && p.ev.req.body[p.ev.req.body_len] == '\0',
               "%s: parses as %s", e->d_name, p.ev.req.source ? p.ev.req.source : "?");
        }
        ember_pool_destroy(p.pool);
    }
    if (d != NULL)
        closedir(d);
    ok(requests >= 5 && responses >= 3, "found %d request and %d response samples",
       requests, responses);
    free(dir);
}

/* ------------------------------------------------------------ synthetic events */

#define PARSE(p, lit) parse_str(p, lit, sizeof(lit) - 1)

static void test_v1_multi(void)
{
    struct parsed              p;
    const struct ember_request *r = &p.ev.req;

    PARSE(&p, "{\"httpMethod\":\"get\",\"path\":\"/a%20b/%E2%9C%93\","
              "\"headers\":{\"Cookie\":\"ignored=1\",\"Accept\":\"b\"},"
              "\"multiValueHeaders\":{\"Accept\":[\"a\",\"b\"],"
              "\"Cookie\":[\"a=1; b=\\\"2\\\"\",\" c ;; d = 4 \"],\"X-Empty\":[],\"X-Null\":null},"
              "\"queryStringParameters\":{\"q\":\"2\"},"
              "\"multiValueQueryStringParameters\":{\"q\":[\"1\",\"2\"],\"sp ace\":[\"a&b=c/\\u00e9\"]},"
              "\"requestContext\":{\"stage\":\"prod\",\"identity\":{\"sourceIp\":\"10.0.0.1\","
              "\"user\":null}},"
              "\"body\":\"aGVsbG8Ad29ybGQ=\",\"isBase64Encoded\":true}");
    is_int(p.rc, 0, "v1 multi: parses");
    is_str(r->method, "GET", "v1 multi: method upper-cased");
    is_str(r->path, "/a b/\xe2\x9c\x93", "v1 multi: path percent-decoded");
    is_int(p.ev.multi_value, 1, "v1 multi: multi_value");
    is_str(kv_dump(p.pool, r->headers, r->nheaders),
           "accept=a|accept=b|cookie=a=1; b=\"2\"|cookie= c ;; d = 4 ",
           "v1 multi: multiValueHeaders win, repeated in order");
    is_str(kv_dump(p.pool, r->query, r->nquery), "q=1|q=2|sp ace=a&b=c/\xc3\xa9",
           "v1 multi: multiValueQueryStringParameters win");
    is_str(r->raw_query, "q=1&q=2&sp%20ace=a%26b%3Dc%2F%C3%A9", "v1 multi: raw query encoded");
    is_str(kv_dump(p.pool, r->cookies, r->ncookies), "a=1|b=2|c=|d=4",
           "v1 multi: cookies from every cookie header");
    is_int((long long) r->body_len, 11, "v1 multi: base64 body length");
    ok(memcmp(r->body, "hello\0world", 12) == 0, "v1 multi: base64 body with a NUL, terminated");
    is_str(p.ev.stage, "prod", "v1 multi: stage");
    is_str(r->source_ip, "10.0.0.1", "v1 multi: source ip");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"httpMethod\":\"DELETE\",\"path\":\"/x\",\"headers\":{\"Cookie\":\"s=1\","
              "\"X-A\":\"1\"},\"queryStringParameters\":{\"a\":\"x y\"},"
              "\"requestContext\":{}}");
    is_int(p.rc, 0, "v1 single: parses");
    is_int(p.ev.multi_value, 0, "v1 single: no multi_value");
    is_str(kv_dump(p.pool, r->headers, r->nheaders), "cookie=s=1|x-a=1",
           "v1 single: headers used when there are no multiValueHeaders");
    is_str(r->raw_query, "a=x%20y", "v1 single: raw query from queryStringParameters");
    is_str(kv_dump(p.pool, r->cookies, r->ncookies), "s=1", "v1 single: cookie");
    is_str(p.ev.stage, NULL, "v1 single: no stage");
    is_str(r->source_ip, NULL, "v1 single: no source ip");
    ok(r->body && r->body_len == 0, "v1 single: no body");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"httpMethod\":\"GET\",\"path\":\"/\",\"headers\":null,"
              "\"multiValueHeaders\":null,\"queryStringParameters\":null,"
              "\"multiValueQueryStringParameters\":null,\"pathParameters\":null,"
              "\"requestContext\":{\"identity\":{\"sourceIp\":\"::1\"}},\"body\":null,"
              "\"isBase64Encoded\":false}");
    is_int(p.rc, 0, "v1 nulls: parses (API Gateway sends null for empty maps)");
    ok(r->nheaders == 0 && r->nquery == 0 && r->ncookies == 0, "v1 nulls: nothing");
    is_str(r->raw_query, "", "v1 nulls: raw query \"\"");
    is_int(p.ev.multi_value, 0, "v1 nulls: no multi_value");
    is_str(r->source_ip, "::1", "v1 nulls: source ip");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"httpMethod\":\"GET\",\"path\":\"/\"}");
    is_int(p.rc, 0, "v1 bare: httpMethod and path are enough");
    ember_pool_destroy(p.pool);
}

static void test_v2_more(void)
{
    struct parsed              p;
    const struct ember_request *r = &p.ev.req;
    char                       *big;
    size_t                      i, n;

    PARSE(&p, "{\"version\":\"2.0\",\"rawPath\":\"/prod/items/a%20b\",\"rawQueryString\":"
              "\"a=1+2&b=%41%zz%4&c&=d&&e=&f=%E2%9C%93\",\"headers\":{\"X-Multi\":\"a,b\"},"
              "\"cookies\":[\"s=1\",\"t=a=b\"],"
              "\"requestContext\":{\"stage\":\"prod\",\"http\":{\"method\":\"patch\","
              "\"sourceIp\":\"10.1.1.1\"}},\"body\":\"AAEC/w==\",\"isBase64Encoded\":true}");
    is_int(p.rc, 0, "v2 more: parses");
    is_str(r->method, "PATCH", "v2 more: method upper-cased");
    is_str(r->path, "/prod/items/a%20b",
           "v2 more: rawPath as API Gateway decoded it (never again), stage left for the config");
    is_str(kv_dump(p.pool, r->query, r->nquery), "a=1 2|b=A%zz%4|c=|=d|e=|f=\xe2\x9c\x93",
           "v2 more: rawQueryString split and decoded");
    is_str(r->raw_query, "a=1+2&b=%41%zz%4&c&=d&&e=&f=%E2%9C%93", "v2 more: raw query as is");
    is_str(kv_dump(p.pool, r->headers, r->nheaders), "x-multi=a,b",
           "v2 more: joined header stays one entry");
    is_str(kv_dump(p.pool, r->cookies, r->ncookies), "s=1|t=a=b", "v2 more: cookies");
    ok(r->body_len == 4 && memcmp(r->body, "\x00\x01\x02\xff", 5) == 0,
       "v2 more: binary body decoded, NUL-terminated");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"2.0\",\"rawPath\":\"/prod\",\"requestContext\":{\"stage\":\"prod\","
              "\"http\":{\"method\":\"GET\"}},\"queryStringParameters\":{\"a\":\"1,2\","
              "\"b c\":\"x\"}}");
    is_str(r->path, "/prod", "v2 stage only: path left as sent");
    is_str(kv_dump(p.pool, r->query, r->nquery), "a=1,2|b c=x",
           "v2 no rawQueryString: queryStringParameters, commas kept");
    is_str(r->raw_query, "a=1%2C2&b%20c=x", "v2 no rawQueryString: raw query rebuilt");
    is_str(r->source_ip, NULL, "v2 no sourceIp: NULL");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"2.0\",\"rawPath\":\"/production/x\",\"requestContext\":"
              "{\"stage\":\"prod\",\"http\":{\"method\":\"GET\"}}}");
    is_str(r->path, "/production/x", "v2: a longer first segment is not the stage");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"2.0\",\"rawPath\":\"/my%2Fpath%20x\",\"requestContext\":"
              "{\"domainName\":\"abc.lambda-url.eu-west-1.on.aws\",\"http\":{\"method\":\"GET\"}}}");
    is_int(p.ev.source, EMBER_SRC_URL, "url: detected from domainName");
    is_str(r->path, "/my/path x", "url: rawPath percent-decoded");
    ember_pool_destroy(p.pool);

    /* a body of 8 MB, and 5000 headers */
    n = 8 * 1024 * 1024;
    big = ember_xmalloc(n + 200000);
    i = (size_t) sprintf(big, "{\"version\":\"2.0\",\"rawPath\":\"/\",\"requestContext\":"
                              "{\"http\":{\"method\":\"PUT\"}},\"headers\":{");
    for (size_t h = 0; h < 5000; h++)
        i += (size_t) sprintf(big + i, "%s\"H%zu\":\"%zu\"", h ? "," : "", h, h);
    i += (size_t) sprintf(big + i, "},\"body\":\"");
    memset(big + i, 'x', n);
    i += n;
    i += (size_t) sprintf(big + i, "\"}");
    parse_str(&p, big, i);
    is_int(p.rc, 0, "big: 8 MB body, 5000 headers parse");
    is_int((long long) r->body_len, (long long) n, "big: body length exact");
    is_int((long long) r->nheaders, 5000, "big: 5000 headers");
    is_str(r->headers[4999].name, "h4999", "big: last header in order");
    ember_pool_destroy(p.pool);
    free(big);
}

static void test_alb_more(void)
{
    struct parsed              p;
    const struct ember_request *r = &p.ev.req;

    PARSE(&p, "{\"requestContext\":{\"elb\":{\"targetGroupArn\":\"arn\"}},\"httpMethod\":\"POST\","
              "\"path\":\"/p%2Fq\",\"multiValueQueryStringParameters\":{\"k\":[\"a%20b\",\"c+d\"],"
              "\"x%3D\":[\"1\"]},\"multiValueHeaders\":{\"X-Forwarded-For\":[\" 1.1.1.1 , 2.2.2.2\"],"
              "\"Cookie\":[\"s=1\"],\"Set-Thing\":[\"a\",\"b\"]},\"body\":\"hi\","
              "\"isBase64Encoded\":false}");
    is_int(p.rc, 0, "alb multi: parses");
    is_int(p.ev.source, EMBER_SRC_ALB, "alb multi: source");
    is_int(p.ev.multi_value, 1, "alb multi: multi_value");
    is_str(r->path, "/p/q", "alb multi: path decoded");
    is_str(kv_dump(p.pool, r->query, r->nquery), "k=a b|k=c d|x==1",
           "alb multi: query decoded here (the load balancer does not)");
    is_str(r->raw_query, "k=a%20b&k=c%20d&x%3D=1", "alb multi: raw query re-encoded");
    is_str(kv_all(p.pool, r->headers, r->nheaders, "set-thing"), "a|b",
           "alb multi: repeated header");
    is_str(r->source_ip, "2.2.2.2", "alb multi: the hop the load balancer appended (the last)");
    is_str(kv_dump(p.pool, r->cookies, r->ncookies), "s=1", "alb multi: cookies");
    is_str(r->body, "hi", "alb multi: body");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"/\","
              "\"queryStringParameters\":{\"a\":\"%zz+%2B\"},\"headers\":{\"x-forwarded-for\":\"\"}}");
    is_int(p.rc, 0, "alb single: parses");
    is_str(kv_dump(p.pool, r->query, r->nquery), "a=%zz +", "alb single: lenient decoding");
    is_str(r->raw_query, "a=%25zz%20%2B", "alb single: raw query re-encoded");
    is_str(r->source_ip, NULL, "alb single: empty x-forwarded-for: no source ip");
    ember_pool_destroy(p.pool);
}

/* ------------------------------------------------------------ paths per source */

/* Each source, the path spliced in as %s: what API Gateway, a Function URL
   and an ALB deliver, and whether the path is still percent-encoded. */
static const struct path_source {
    const char *name, *fmt, *key;
    int         encoded;
} path_sources[] = {
    { "rest", "{\"httpMethod\":\"GET\",\"path\":\"%s\",\"requestContext\":{\"stage\":\"prod\","
      "\"path\":\"/prod%s\"}}", "path", 1 },
    { "http1", "{\"version\":\"1.0\",\"httpMethod\":\"GET\",\"path\":\"%s\",\"requestContext\":"
      "{\"apiId\":\"a\",\"stage\":\"$default\"}}", "path", 0 },
    { "v2", "{\"version\":\"2.0\",\"rawPath\":\"%s\",\"requestContext\":{\"http\":"
      "{\"method\":\"GET\"}}}", "rawPath", 0 },
    { "url", "{\"version\":\"2.0\",\"rawPath\":\"%s\",\"requestContext\":{\"domainName\":"
      "\"x.lambda-url.us-east-1.on.aws\",\"http\":{\"method\":\"GET\"}}}", "rawPath", 1 },
    { "alb", "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"%s\"}",
      "path", 1 },
};

static void parse_path(struct parsed *p, const struct path_source *src, const char *path)
{
    char *json = ember_xasprintf(src->fmt, path, path);

    parse_str(p, json, strlen(json));
    free(json);
}

static void test_paths(void)
{
    /* the path as sent in the event; what an encoded source gives (decoded
       once), what a decoded one gives (as is); a message is an error */
    static const struct {
        const char *in, *enc, *dec;
    } cases[] = {
        { "/hell%256f", "/hell%6f", "/hell%256f" },     /* a client's /hell%25256f */
        { "/hell%6f", "/hello", "/hell%6f" },           /* API Gateway sends this for /hell%256f */
        { "/a%2Fb", "/a/b", "/a%2Fb" },
        { "/a%00b", "event: %s: contains an encoded NUL byte", "/a%00b" },
        { "/a+b", "/a+b", "/a+b" },
        { "/%FF", "event: %s: not UTF-8", "/%FF" },
        { "/%C0%AF", "event: %s: not UTF-8", "/%C0%AF" },
        { "/caf%C3%A9", "/caf\xc3\xa9", "/caf%C3%A9" },
        { "/caf\xc3\xa9", "/caf\xc3\xa9", "/caf\xc3\xa9" },
        { "/%zz%4", "/%zz%4", "/%zz%4" },
    };
    size_t i, k;

    for (k = 0; k < sizeof(path_sources) / sizeof(path_sources[0]); k++) {
        const struct path_source *src = &path_sources[k];

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const char   *want = src->encoded ? cases[i].enc : cases[i].dec;
            struct parsed p;

            parse_path(&p, src, cases[i].in);
            if (strncmp(want, "event: ", 7) == 0) {
                char *msg = ember_xasprintf(want, src->key);

                is_int(p.rc, EMBER_ERROR, "%s %s: refused", src->name, cases[i].in);
                is_str(p.err.message, msg, "%s %s: message", src->name, cases[i].in);
                is_int(p.err.status, 400, "%s %s: 400", src->name, cases[i].in);
                free(msg);
            } else {
                is_int(p.rc, 0, "%s %s: parses", src->name, cases[i].in);
                is_str(p.ev.req.path, want, "%s %s: path", src->name, cases[i].in);
                is_str(p.ev.raw_path, cases[i].in, "%s %s: raw path as delivered", src->name,
                       cases[i].in);
                is_int(p.ev.path_encoded, src->encoded, "%s %s: encoded %d", src->name,
                       cases[i].in, src->encoded);
            }
            ember_pool_destroy(p.pool);
        }
        /* a raw byte that is not UTF-8: refused, the source known */
        {
            struct parsed p;
            char         *msg = ember_xasprintf("event: %s: not UTF-8", src->key);

            parse_path(&p, src, "/\xff");
            ok(p.rc == EMBER_ERROR && p.err.status == 400 && strcmp(p.err.message, msg) == 0
               && p.ev.source != EMBER_SRC_NONE, "%s: a raw 0xff in the path: 400", src->name);
            free(msg);
            ember_pool_destroy(p.pool);
        }
    }
}

/* Only an HTTP API puts its (named) stage in front of the path. */
static void test_stage(void)
{
    struct parsed p;

    PARSE(&p, "{\"httpMethod\":\"GET\",\"path\":\"/hello\",\"requestContext\":"
              "{\"stage\":\"hello\",\"path\":\"/hello/hello\"}}");
    is_int(p.ev.source, EMBER_SRC_V1, "rest: v1");
    is_int(p.ev.http_api, 0, "rest: not an HTTP API");
    is_str(p.ev.stage, "hello", "rest: stage");
    is_str(ember_event_path_stage(&p.ev), NULL, "rest: the stage is never in path");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"1.0\",\"httpMethod\":\"GET\",\"path\":\"/hello/hello\","
              "\"requestContext\":{\"stage\":\"hello\",\"path\":\"/hello/hello\"}}");
    is_int(p.ev.source, EMBER_SRC_V1, "http1: v1 shape");
    is_str(p.ev.req.source, "v1", "http1: source v1");
    is_int(p.ev.http_api, 1, "http1: an HTTP API");
    is_str(ember_event_path_stage(&p.ev), "hello", "http1: the named stage is in path");
    ember_event_strip(&p.ev, "hello");
    is_str(p.ev.req.path, "/hello", "http1: stage stripped once");
    is_str(p.ev.raw_path, "/hello", "http1: raw path stripped too");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"1.0\",\"httpMethod\":\"GET\",\"path\":\"/x\","
              "\"requestContext\":{\"stage\":\"$default\"}}");
    is_str(ember_event_path_stage(&p.ev), NULL, "http1 $default: no stage in path");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"2.0\",\"rawPath\":\"/hello\",\"requestContext\":{\"stage\":"
              "\"hello\",\"http\":{\"method\":\"GET\"}}}");
    is_int(p.ev.http_api, 1, "v2: an HTTP API");
    is_str(ember_event_path_stage(&p.ev), "hello", "v2: the named stage is in rawPath");
    ember_event_strip(&p.ev, "hello");
    is_str(p.ev.req.path, "/", "v2: the stage alone leaves /");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"2.0\",\"rawPath\":\"/hello\",\"requestContext\":{\"stage\":"
              "\"$default\",\"http\":{\"method\":\"GET\"}}}");
    is_str(ember_event_path_stage(&p.ev), NULL, "v2 $default: no stage in path");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"2.0\",\"rawPath\":\"/production/x\",\"requestContext\":{\"stage\":"
              "\"prod\",\"http\":{\"method\":\"GET\"}}}");
    ember_event_strip(&p.ev, "prod");
    is_str(p.ev.req.path, "/production/x", "v2: a longer first segment is not the stage");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"2.0\",\"rawPath\":\"/hello\",\"requestContext\":{\"stage\":"
              "\"$default\",\"domainName\":\"x.lambda-url.us-east-1.on.aws\",\"http\":"
              "{\"method\":\"GET\"}}}");
    is_int(p.ev.http_api, 0, "url: not an HTTP API");
    is_str(ember_event_path_stage(&p.ev), NULL, "url: no stage in path");
    ember_pool_destroy(p.pool);

    /* an explicit prefix on an encoded path: the first segment compares decoded */
    PARSE(&p, "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"/pr%6fd/x%2Fy\"}");
    is_str(ember_event_path_stage(&p.ev), NULL, "alb: no stage");
    ember_event_strip(&p.ev, "prod");
    is_str(p.ev.raw_path, "/x%2Fy", "alb strip: raw path");
    is_str(p.ev.req.path, "/x/y", "alb strip: path");
    ember_event_strip(&p.ev, "x");
    is_str(p.ev.raw_path, "/x%2Fy", "alb strip: x%%2Fy is one segment, not x");
    ember_pool_destroy(p.pool);
}

/* The client's address: the event's own, never a header the client sets. */
static void test_source_ip(void)
{
    struct parsed p;

    PARSE(&p, "{\"httpMethod\":\"GET\",\"path\":\"/\",\"headers\":{\"X-Forwarded-For\":"
              "\"6.6.6.6, 10.0.0.9\"},\"requestContext\":{\"identity\":{\"sourceIp\":\"10.0.0.9\"}}}");
    is_str(p.ev.req.source_ip, "10.0.0.9", "rest: identity.sourceIp");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"httpMethod\":\"GET\",\"path\":\"/\",\"headers\":{\"X-Forwarded-For\":"
              "\"6.6.6.6\"}}");
    is_str(p.ev.req.source_ip, NULL, "rest without identity: none, not the header");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"version\":\"2.0\",\"rawPath\":\"/\",\"headers\":{\"x-forwarded-for\":"
              "\"6.6.6.6, 10.0.0.8\"},\"requestContext\":{\"http\":{\"method\":\"GET\","
              "\"sourceIp\":\"10.0.0.8\"}}}");
    is_str(p.ev.req.source_ip, "10.0.0.8", "v2: http.sourceIp");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"/\","
              "\"headers\":{\"x-forwarded-for\":\"6.6.6.6, 10.0.0.7\"}}");
    is_str(p.ev.req.source_ip, "10.0.0.7", "alb: the entry the load balancer appended");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"/\","
              "\"multiValueHeaders\":{\"x-forwarded-for\":[\"6.6.6.6\",\"5.5.5.5 ,10.0.0.6 \"]}}");
    is_str(p.ev.req.source_ip, "10.0.0.6", "alb multi: last entry of the last header");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"/\","
              "\"headers\":{\"x-forwarded-for\":\"6.6.6.6,\"}}");
    is_str(p.ev.req.source_ip, NULL, "alb: an empty last entry is no address");
    ember_pool_destroy(p.pool);

    PARSE(&p, "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"/\"}");
    is_str(p.ev.req.source_ip, NULL, "alb without x-forwarded-for: none");
    ember_pool_destroy(p.pool);
}

/* ------------------------------------------------------------ malformed events */

struct bad_case {
    const char        *json;
    size_t             len;     /* 0: strlen */
    enum ember_source  source;
    const char        *message;
};

static void test_malformed(void)
{
    static const char not_http[] =
        "event: not an HTTP event (no httpMethod, requestContext.http or requestContext.elb)";
    static const struct bad_case cases[] = {
        { "<html>", 0, EMBER_SRC_NONE, "event: invalid JSON at offset 0: unexpected character" },
        { "not json", 0, EMBER_SRC_NONE, "event: invalid JSON at offset 1: null expected" },
        { "", 0, EMBER_SRC_NONE, "event: invalid JSON at offset 0: unexpected end of data" },
        { "   ", 0, EMBER_SRC_NONE, "event: invalid JSON at offset 3: unexpected end of data" },
        { "{\"httpMethod\":\"GET\",\"pa", 0, EMBER_SRC_NONE,
          "event: invalid JSON at offset 23: unexpected end of data" },
        { "{} x", 0, EMBER_SRC_NONE, "event: invalid JSON at offset 3: unexpected character" },
        { "{}{}", 0, EMBER_SRC_NONE, "event: invalid JSON at offset 2: unexpected character" },
        { "{\"a\":1,}", 0, EMBER_SRC_NONE, "event: invalid JSON at offset 7: unexpected character" },
        { "{\"a\"\0:1}", 8, EMBER_SRC_NONE, "event: invalid JSON at offset 4: NUL byte" },
        { "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
          0, EMBER_SRC_NONE, "event: invalid JSON at offset 36: nesting too deep" },
        { "[1,2]", 0, EMBER_SRC_NONE, "event: expected a JSON object, got array" },
        { "null", 0, EMBER_SRC_NONE, "event: expected a JSON object, got null" },
        { "42", 0, EMBER_SRC_NONE, "event: expected a JSON object, got int" },
        { "\"GET /\"", 0, EMBER_SRC_NONE, "event: expected a JSON object, got string" },
        { "{}", 0, EMBER_SRC_NONE, not_http },
        { "{\"Records\":[{\"messageId\":\"1\",\"eventSource\":\"aws:sqs\",\"body\":\"x\"}]}", 0,
          EMBER_SRC_NONE, not_http },
        { "{\"Records\":[{\"eventSource\":\"aws:s3\",\"s3\":{\"bucket\":{\"name\":\"b\"}}}]}", 0,
          EMBER_SRC_NONE, not_http },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"requestContext\":{}}", 0, EMBER_SRC_NONE,
          not_http },
        { "{\"requestContext\":\"x\"}", 0, EMBER_SRC_NONE, not_http },
        /* recognised shapes with bad fields */
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"requestContext\":\"x\"}", 0, EMBER_SRC_V1,
          "event: requestContext: expected an object" },
        { "{\"httpMethod\":1,\"path\":\"/\"}", 0, EMBER_SRC_V1,
          "event: httpMethod: expected a string" },
        { "{\"httpMethod\":null,\"path\":\"/\"}", 0, EMBER_SRC_V1,
          "event: httpMethod: expected a string" },
        { "{\"httpMethod\":\"\",\"path\":\"/\"}", 0, EMBER_SRC_V1,
          "event: httpMethod: not an HTTP method" },
        { "{\"httpMethod\":\"GE T\",\"path\":\"/\"}", 0, EMBER_SRC_V1,
          "event: httpMethod: not an HTTP method" },
        { "{\"httpMethod\":\"GET\"}", 0, EMBER_SRC_V1, "event: path: missing" },
        { "{\"httpMethod\":\"GET\",\"path\":[]}", 0, EMBER_SRC_V1,
          "event: path: expected a string" },
        { "{\"httpMethod\":\"GET\",\"path\":\"a/b\"}", 0, EMBER_SRC_V1,
          "event: path: must start with \"/\"" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/a%00b\"}", 0, EMBER_SRC_V1,
          "event: path: contains an encoded NUL byte" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/a\\u0000b\"}", 0, EMBER_SRC_V1,
          "event: path: contains a NUL byte" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"headers\":[]}", 0, EMBER_SRC_V1,
          "event: headers: expected an object" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"headers\":{\"Accept\":1}}", 0, EMBER_SRC_V1,
          "event: headers.Accept: expected a string" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"headers\":{\"X\":\"a\\u0000\"}}", 0,
          EMBER_SRC_V1, "event: headers.X: contains a NUL byte" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"multiValueHeaders\":{\"A\":\"x\"}}", 0,
          EMBER_SRC_V1, "event: multiValueHeaders.A: expected an array" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"multiValueHeaders\":{\"A\":[\"x\",2]}}", 0,
          EMBER_SRC_V1, "event: multiValueHeaders.A[1]: expected a string" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"multiValueHeaders\":\"x\"}", 0,
          EMBER_SRC_V1, "event: multiValueHeaders: expected an object" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"queryStringParameters\":{\"a\":true}}", 0,
          EMBER_SRC_V1, "event: queryStringParameters.a: expected a string" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"multiValueQueryStringParameters\":"
          "{\"a\":[{}]}}", 0, EMBER_SRC_V1,
          "event: multiValueQueryStringParameters.a[0]: expected a string" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"body\":5}", 0, EMBER_SRC_V1,
          "event: body: expected a string" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"body\":\"x\",\"isBase64Encoded\":\"yes\"}", 0,
          EMBER_SRC_V1, "event: isBase64Encoded: expected a boolean" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"body\":\"not base64!\","
          "\"isBase64Encoded\":true}", 0, EMBER_SRC_V1, "event: body: invalid base64" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"requestContext\":{\"stage\":1}}", 0,
          EMBER_SRC_V1, "event: requestContext.stage: expected a string" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"requestContext\":{\"identity\":"
          "{\"sourceIp\":[]}}}", 0, EMBER_SRC_V1,
          "event: requestContext.identity.sourceIp: expected a string" },
        { "{\"httpMethod\":\"GET\",\"path\":\"/\",\"headers\":{\"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
          "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\":0}}", 0,
          EMBER_SRC_V1, "event: headers.XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
          "XXXXXXXXXXXXX: expected a string" },
        { "{\"requestContext\":{\"http\":\"GET\"}}", 0, EMBER_SRC_V2,
          "event: requestContext.http: expected an object" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"requestContext\":{\"http\":{}}}", 0,
          EMBER_SRC_V2, "event: requestContext.http.method: missing" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"requestContext\":{\"http\":{\"method\":42}}}",
          0, EMBER_SRC_V2, "event: requestContext.http.method: expected a string" },
        { "{\"version\":\"2.0\",\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", 0,
          EMBER_SRC_V2, "event: rawPath: missing" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"rawQueryString\":\"a=%00\","
          "\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", 0, EMBER_SRC_V2,
          "event: rawQueryString: contains an encoded NUL byte" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"rawQueryString\":7,"
          "\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", 0, EMBER_SRC_V2,
          "event: rawQueryString: expected a string" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"cookies\":\"a=1\","
          "\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", 0, EMBER_SRC_V2,
          "event: cookies: expected an array" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"cookies\":[\"a=1\",null],"
          "\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", 0, EMBER_SRC_V2,
          "event: cookies[1]: expected a string" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"headers\":{\"a\":[\"x\"]},"
          "\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", 0, EMBER_SRC_V2,
          "event: headers.a: expected a string" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"body\":\"Zg=\",\"isBase64Encoded\":true,"
          "\"requestContext\":{\"http\":{\"method\":\"GET\"}}}", 0, EMBER_SRC_V2,
          "event: body: invalid base64" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/\",\"requestContext\":{\"http\":"
          "{\"method\":\"GET\",\"sourceIp\":1}}}", 0, EMBER_SRC_V2,
          "event: requestContext.http.sourceIp: expected a string" },
        { "{\"version\":\"2.0\",\"rawPath\":\"/%00\",\"requestContext\":{\"domainName\":"
          "\"x.lambda-url.us-east-1.on.aws\",\"http\":{\"method\":\"GET\"}}}", 0, EMBER_SRC_URL,
          "event: rawPath: contains an encoded NUL byte" },
        { "{\"requestContext\":{\"elb\":{}},\"path\":\"/\"}", 0, EMBER_SRC_ALB,
          "event: httpMethod: missing" },
        { "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"/\","
          "\"queryStringParameters\":{\"a\":\"%00\"}}", 0, EMBER_SRC_ALB,
          "event: queryStringParameters.a: contains an encoded NUL byte" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct parsed p;
        size_t        len = cases[i].len ? cases[i].len : strlen(cases[i].json);

        p.pool = ember_pool_create();
        ember_error_clear(&p.err);
        p.rc = ember_event_parse(&p.ev, p.pool, cases[i].json, len, &p.err);
        is_int(p.rc, EMBER_ERROR, "bad event %zu fails", i);
        is_int(p.err.status, 400, "bad event %zu: status 400", i);
        is_str(p.err.message, cases[i].message, "bad event %zu: message", i);
        is_int(p.ev.source, cases[i].source, "bad event %zu: source %d", i, cases[i].source);
        ember_pool_destroy(p.pool);
    }
}

/* Every prefix of a real event is an error, never a crash. */
static void test_truncated(void)
{
    char          *path = event_path("apigw-request.json");
    size_t         len, cut;
    char          *json = slurp(path, &len);
    int            all = 1;
    struct parsed  p;

    ok(json != NULL, "truncation: sample readable");
    for (cut = 0; json != NULL && cut < len - 1; cut++) {
        char *copy = ember_xmalloc(cut ? cut : 1);   /* exact size: ASan sees overreads */

        memcpy(copy, json, cut);
        p.pool = ember_pool_create();
        ember_error_clear(&p.err);
        p.rc = ember_event_parse(&p.ev, p.pool, copy, cut, &p.err);
        if (p.rc != EMBER_ERROR || p.err.status != 400
            || strncmp(p.err.message, "event: invalid JSON at offset ", 30) != 0) {
            all = 0;
            diag("cut at %zu: rc %d, %s", cut, p.rc, p.err.message);
        }
        ember_pool_destroy(p.pool);
        free(copy);
    }
    ok(all, "truncation: every prefix is an invalid-JSON error");
    free(json);
    free(path);
}

/*
 * Mutated real events (fixed seed): flipped, deleted and duplicated bytes.
 * Each parse either succeeds with a whole request or fails with a 400;
 * the sanitizer build watches for the rest.
 */
static void test_mutations(void)
{
    static const char *const names[] = {
        "apigw-request.json", "apigw-v2-request-lambda-authorizer.json",
        "lambda-urls-request.json", "alb-lambda-target-request-headers-only.json",
    };
    static const char        noise[] = "{}[]\",:\\%=&;+ \x00\xff\x80" "aZ0";
    uint32_t                 seed = 12345;
    size_t                   f, i, k;
    int                      sane = 1, parsed = 0, failed = 0;

    for (f = 0; f < sizeof(names) / sizeof(names[0]); f++) {
        char  *path = event_path(names[f]);
        size_t len;
        char  *json = slurp(path, &len);

        free(path);
        if (json == NULL) {
            sane = 0;
            continue;
        }
        for (i = 0; i < 1500; i++) {
            char         *m = ember_xmalloc(len + 8);
            size_t        mlen = len;
            struct parsed p;

            memcpy(m, json, len);
            for (k = 0; k < 1 + i % 4; k++) {
                size_t at;

                seed = seed * 1103515245u + 12345u;
                at = (seed >> 8) % mlen;
                switch ((seed >> 4) % 3) {
                case 0:
                    m[at] = noise[(seed >> 16) % (sizeof(noise) - 1)];
                    break;
                case 1:
                    memmove(m + at, m + at + 1, mlen - at - 1);
                    mlen--;
                    break;
                default:
                    if (mlen < len + 8) {
                        memmove(m + at + 1, m + at, mlen - at);
                        mlen++;
                    }
                    break;
                }
            }
            p.pool = ember_pool_create();
            ember_error_clear(&p.err);
            p.rc = ember_event_parse(&p.ev, p.pool, m, mlen, &p.err);
            if (p.rc == 0) {
                const struct ember_request *r = &p.ev.req;

                parsed++;
                if (!r->method || !r->path || r->path[0] != '/' || !r->raw_query || !r->body
                    || r->body[r->body_len] != '\0' || !r->source || p.ev.source == EMBER_SRC_NONE
                    || (r->nheaders && !r->headers) || (r->nquery && !r->query))
                    sane = 0;
            } else {
                failed++;
                if (p.rc != EMBER_ERROR || p.err.status != 400
                    || strncmp(p.err.message, "event: ", 7) != 0)
                    sane = 0;
            }
            ember_pool_destroy(p.pool);
            free(m);
        }
        free(json);
    }
    ok(sane, "mutations: every parse is a whole request or a 400 (%d parsed, %d refused)",
       parsed, failed);
    ok(parsed > 0 && failed > 0, "mutations: both outcomes were exercised");
}

/* ------------------------------------------------------------ responses */

static struct json_object *golden(const char *name)
{
    char               *path = ember_xasprintf("%s/tests/unit/golden/%s", top_srcdir(), name);
    char               *text = slurp(path, NULL);
    struct json_object *o = text ? json_tokener_parse(text) : NULL;

    if (o == NULL)
        diag("cannot read golden file %s", path);
    free(text);
    free(path);
    return o;
}

/* Compare the response JSON with a golden file, ignoring key order. */
static void check_golden(const struct ember_event *ev, const struct ember_response *res,
                         const char *name)
{
    struct ember_pool  *pool = ember_pool_create();
    size_t              len = 0;
    char               *out = ember_event_response(ev, res, pool, &len);
    struct json_object *got = json_tokener_parse(out);
    struct json_object *want = golden(name);

    ok(out != NULL && len == strlen(out), "%s: length", name);
    ok(got != NULL && want != NULL && json_object_equal(got, want), "%s: matches", name);
    if (got == NULL || want == NULL || !json_object_equal(got, want)) {
        diag("got:  %s", out);
        diag("want: %s", want ? json_object_to_json_string_ext(want, JSON_C_TO_STRING_PLAIN
                                                             | JSON_C_TO_STRING_NOSLASHESCAPE)
                              : "(none)");
    }
    json_object_put(got);
    json_object_put(want);
    ember_pool_destroy(pool);
}

static void test_responses(void)
{
    static struct ember_kv multi[] = {
        { "content-type", "application/json" }, { "Set-Cookie", "a=1; HttpOnly" },
        { "X-Multi", "x" }, { "set-cookie", "b=2; Path=/" }, { "x-multi", "y" },
    };
    static struct ember_kv png[] = { { "content-type", "image/png" } };
    static struct ember_kv text[] = { { "content-type", "text/plain" } };
    static struct ember_kv json[] = { { "content-type", "application/json" } };
    static const char      png_body[] = "\x89PNG\r\n\x1a\n\x00\xff";
    static const char      ok_body[] = "{\"ok\":true,\"path\":\"/a/b\"}";
    static const char      nf_body[] = "{\"message\":\"Not Found\"}";
    struct ember_event     ev_v1 = { .source = EMBER_SRC_V1, .multi_value = 1 };
    struct ember_event     ev_v2 = { .source = EMBER_SRC_V2 };
    struct ember_event     ev_url = { .source = EMBER_SRC_URL };
    struct ember_event     ev_alb = { .source = EMBER_SRC_ALB };
    struct ember_event     ev_albm = { .source = EMBER_SRC_ALB, .multi_value = 1 };
    struct ember_response  r_multi = { 200, multi, 5, ok_body, sizeof(ok_body) - 1, 0 };
    struct ember_response  r_png = { 200, png, 1, png_body, sizeof(png_body) - 1, 1 };
    struct ember_response  r_empty = { 204, NULL, 0, NULL, 0, 0 };
    struct ember_response  r_404 = { 404, json, 1, nf_body, sizeof(nf_body) - 1, 0 };
    struct ember_response  r_latin1 = { 200, text, 1, "caf\xe9 \xff", 6, 0 };
    struct ember_response  r_zero = { 0, NULL, 0, "", 0, 0 };

    check_golden(&ev_v1, &r_multi, "v1-multi.json");
    check_golden(&ev_v2, &r_multi, "v2-multi.json");
    check_golden(&ev_url, &r_multi, "url-multi.json");
    check_golden(&ev_alb, &r_multi, "alb-single.json");
    check_golden(&ev_albm, &r_multi, "alb-multi.json");
    check_golden(&ev_alb, &r_404, "alb-single-404.json");
    check_golden(&ev_albm, &r_404, "alb-multi-404.json");
    check_golden(&ev_v1, &r_png, "v1-binary.json");
    check_golden(&ev_v2, &r_png, "v2-binary.json");
    check_golden(&ev_url, &r_png, "url-binary.json");
    check_golden(&ev_alb, &r_png, "alb-binary.json");
    check_golden(&ev_v1, &r_empty, "v1-empty.json");
    check_golden(&ev_v2, &r_empty, "v2-empty.json");
    check_golden(&ev_url, &r_empty, "url-empty.json");
    check_golden(&ev_alb, &r_empty, "alb-empty.json");
    check_golden(&ev_v2, &r_latin1, "v2-not-utf8.json");
    check_golden(&ev_alb, &r_zero, "alb-unanswered.json");
}

/* Exact bytes: plain (no spaces), slashes not escaped, NUL and UTF-8 kept. */
static void test_response_bytes(void)
{
    static struct ember_kv h[] = { { "location", "/a/b" } };
    struct ember_pool     *pool = ember_pool_create();
    struct ember_event     ev = { .source = EMBER_SRC_V2 };
    struct ember_response  res = { 302, h, 1, "caf\xc3\xa9\x00/", 7, 0 };
    struct ember_response  big = { 200, h, 1, "x", ((size_t) 1 << 30) + 1, 0 };
    size_t                 len;
    char                  *out = ember_event_response(&ev, &res, pool, &len);

    is_str(out, "{\"statusCode\":302,\"headers\":{\"location\":\"/a/b\"},"
                "\"body\":\"caf\xc3\xa9\\u0000/\",\"isBase64Encoded\":false}",
           "response bytes: plain, no slash escapes, UTF-8 as is, NUL escaped");
    is_int((long long) len, (long long) strlen(out), "response bytes: length");
    out = ember_event_response(&ev, &big, pool, &len);
    is_str(out, "{\"statusCode\":500,\"headers\":{\"content-type\":\"application/json\"},"
                "\"body\":\"{\\\"message\\\":\\\"Internal Server Error\\\"}\","
                "\"isBase64Encoded\":false}",
           "response bytes: a body over 1 GiB becomes a 500");
    res.status = 1000;
    ev.source = EMBER_SRC_ALB;
    out = ember_event_response(&ev, &res, pool, &len);
    ok(strncmp(out, "{\"statusCode\":500,\"statusDescription\":\"500 Internal Server Error\",",
               sizeof("{\"statusCode\":500,\"statusDescription\":\"500 Internal Server Error\",")
               - 1) == 0, "response bytes: status 1000 becomes 500");
    res.status = -1;
    out = ember_event_response(&ev, &res, pool, &len);
    ok(strncmp(out, "{\"statusCode\":500,", 18) == 0, "response bytes: status -1 becomes 500");
    ember_pool_destroy(pool);
}

/* Build responses like AWS's own samples and compare with them. */
static void test_aws_samples(void)
{
    static struct ember_kv url_h[] = {
        { "Content-Type", "application/json" }, { "My-Custom-Header", "Custom Value" },
        { "Set-Cookie", "Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT" },
        { "Set-Cookie", "Cookie_2=Value2; Max-Age=78000" },
    };
    static const char   url_body[] = "{ \"message\": \"Hello, world!\" }";
    struct ember_event  ev_url = { .source = EMBER_SRC_URL };
    struct ember_event  ev_v1 = { .source = EMBER_SRC_V1 };
    struct ember_response r_url = { 201, url_h, 4, url_body, sizeof(url_body) - 1, 0 };
    struct ember_pool  *pool = ember_pool_create();
    char               *path, *text, *out;
    struct json_object *want, *got, *hdrs;
    struct ember_kv    *v1_h;
    struct ember_response r_v1 = { 200, NULL, 0, "Hello World", 11, 0 };
    size_t              n = 0;

    path = event_path("lambda-urls-response.json");
    text = slurp(path, NULL);
    want = text ? json_tokener_parse(text) : NULL;
    got = json_tokener_parse(ember_event_response(&ev_url, &r_url, pool, NULL));
    ok(want && got && json_object_equal(got, want), "AWS sample lambda-urls-response.json rebuilt");
    json_object_put(want);
    json_object_put(got);
    free(text);
    free(path);

    /* apigw-response.json: one value per header; the sample omits isBase64Encoded */
    path = event_path("apigw-response.json");
    text = slurp(path, NULL);
    want = text ? json_tokener_parse(text) : NULL;
    v1_h = ember_pool_calloc(pool, 64 * sizeof(*v1_h));
    if (want && json_object_object_get_ex(want, "headers", &hdrs)) {
        json_object_object_foreach(hdrs, k, v) {
            if (n < 64) {
                v1_h[n].name = k;
                v1_h[n].value = json_object_get_string(v);
                n++;
            }
        }
    }
    r_v1.headers = v1_h;
    r_v1.nheaders = n;
    out = ember_event_response(&ev_v1, &r_v1, pool, NULL);
    got = json_tokener_parse(out);
    if (want)
        json_object_object_add(want, "isBase64Encoded", json_object_new_boolean(0));
    ok(n == 17 && want && got && json_object_equal(got, want),
       "AWS sample apigw-response.json rebuilt");
    json_object_put(want);
    json_object_put(got);
    free(text);
    free(path);
    ember_pool_destroy(pool);
}

/* Parse the answer's shape back: a v1 request's response round-trips the body. */
static void test_round_trip(void)
{
    struct parsed         p;
    struct ember_response res = { 200, NULL, 0, NULL, 0, 1 };
    unsigned char         bytes[256];
    struct json_object   *o, *b;
    char                 *out, *dec;
    size_t                i, n;

    for (i = 0; i < 256; i++)
        bytes[i] = (unsigned char) i;
    res.body = (const char *) bytes;
    res.body_len = sizeof(bytes);
    PARSE(&p, "{\"httpMethod\":\"GET\",\"path\":\"/\"}");
    out = ember_event_response(&p.ev, &res, p.pool, NULL);
    o = json_tokener_parse(out);
    ok(o && json_object_object_get_ex(o, "body", &b)
       && ember_base64_decode(p.pool, json_object_get_string(b),
                              (size_t) json_object_get_string_len(b), &dec, &n) == 0
       && n == 256 && memcmp(dec, bytes, 256) == 0,
       "round trip: a binary body of every byte value comes back");
    json_object_put(o);
    ember_pool_destroy(p.pool);

    /* an ALB request in multi-value mode gets its answer in the same mode */
    PARSE(&p, "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"/\","
              "\"multiValueHeaders\":{\"accept\":[\"*/*\"]}}");
    res.body = "{}";
    res.body_len = 2;
    res.binary = 0;
    res.status = 200;
    o = json_tokener_parse(ember_event_response(&p.ev, &res, p.pool, NULL));
    ok(o && json_object_object_get_ex(o, "multiValueHeaders", NULL)
       && !json_object_object_get_ex(o, "headers", NULL),
       "round trip: ALB multi-value request, multiValueHeaders answer");
    json_object_put(o);
    ember_pool_destroy(p.pool);
    PARSE(&p, "{\"requestContext\":{\"elb\":{}},\"httpMethod\":\"GET\",\"path\":\"/\","
              "\"headers\":{\"accept\":\"*/*\"}}");
    o = json_tokener_parse(ember_event_response(&p.ev, &res, p.pool, NULL));
    ok(o && json_object_object_get_ex(o, "headers", NULL)
       && !json_object_object_get_ex(o, "multiValueHeaders", NULL),
       "round trip: ALB single-value request, headers answer");
    json_object_put(o);
    ember_pool_destroy(p.pool);
}

int main(void)
{
    test_base64();
    test_apigw_v1();
    test_apigw_v2();
    test_url();
    test_alb();
    test_every_sample();
    test_v1_multi();
    test_v2_more();
    test_alb_more();
    test_paths();
    test_stage();
    test_source_ip();
    test_malformed();
    test_truncated();
    test_mutations();
    test_responses();
    test_response_bytes();
    test_aws_samples();
    test_round_trip();
    return done_testing();
}
