/*
 * test_apigw.c - emu/apigw.c on its own: the format names; which content
 * types travel as text; the event each gateway builds (its keys against
 * AWS's sample events in tests/events, then the values: raw and decoded
 * query, multi-value fields, header case, cookies, stage, body and
 * base64, X-Forwarded-*); detection; the function's answer turned back
 * into HTTP with every malformed case a gateway refuses; and both ways
 * round trips with the core's own event code (core/event.c), so the
 * emulator and the runtime agree.
 *
 * Env: EMBER_EVENTS_DIR (the AWS samples; default $top_srcdir/tests/events).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../emu/apigw.c"

#include "event.h"
#include "pool.h"
#include "../tap.h"

/* ------------------------------------------------------------ helpers */

static json_object *sample(const char *name)
{
    const char  *dir = getenv("EMBER_EVENTS_DIR");
    const char  *top = getenv("top_srcdir");
    char        *path;
    json_object *o;

    if (dir != NULL && *dir != '\0')
        path = ember_xasprintf("%s/%s", dir, name);
    else
        path = ember_xasprintf("%s/tests/events/%s", top != NULL && *top ? top : "..", name);
    o = json_object_from_file(path);
    if (o == NULL)
        diag("cannot read %s", path);
    free(path);
    return o;
}

/* The value at a dotted path ("requestContext.http.method"), or NULL; *found
   tells a JSON null (found, NULL) from an absent key. */
static json_object *at2(json_object *o, const char *path, int *found)
{
    char *copy = ember_xstrdup(path), *p = copy, *dot;

    *found = 1;
    while (p != NULL) {
        dot = strchr(p, '.');
        if (dot != NULL)
            *dot = '\0';
        if (o == NULL || !json_object_object_get_ex(o, p, &o)) {
            *found = 0;
            o = NULL;
            break;
        }
        p = dot != NULL ? dot + 1 : NULL;
    }
    free(copy);
    return o;
}

static json_object *at(json_object *o, const char *path)
{
    int found;

    return at2(o, path, &found);
}

static const char *str_at(json_object *o, const char *path)
{
    json_object *v = at(o, path);

    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                : NULL;
}

static const char *json_at(json_object *o, const char *path)
{
    int          found;
    json_object *v = at2(o, path, &found);

    if (!found)
        return "(absent)";
    return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN
                                             | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Every key of AWS's sample object (at path) is in ours: the names a
   function reads are where AWS puts them.  Not the keys an API gets only
   with an authorizer or mutual TLS, which these events do not model. */
static void same_keys(json_object *ours, json_object *aws, const char *path, const char *what)
{
    static const char *const optional[] = { "authorizer", "authentication", NULL };
    size_t k;

    json_object *a = *path ? at(aws, path) : aws, *o = *path ? at(ours, path) : ours;
    struct ember_buf missing = EMBER_BUF_INIT;

    if (a == NULL || o == NULL) {
        ok(0, "%s: %s present in both", what, path);
        return;
    }
    {
        json_object_object_foreach(a, key, v) {
            (void) v;
            for (k = 0; optional[k] != NULL && strcmp(optional[k], key) != 0; k++)
                ;
            if (optional[k] == NULL && !json_object_object_get_ex(o, key, NULL))
                ember_buf_printf(&missing, " %s", key);
        }
    }
    is_str(ember_buf_str(&missing), "", "%s: every key of AWS's %s is there",
           what, *path ? path : "event");
    ember_buf_free(&missing);
}

static const struct ember_kv hdrs[] = {
    { "User-Agent", "curl/8.0" }, { "X-Multi", "1" }, { "X-Multi", "2" },
    { "Cookie", "c1=v1; c2=v2" }, { "Content-Type", "application/json" },
    { "X-Forwarded-For", "203.0.113.9" },
};

static struct ember_apigw_request request(void)
{
    struct ember_apigw_request r;

    memset(&r, 0, sizeof(r));
    r.method = "POST";
    r.path = "/items/a%20b";
    r.raw_query = "x=1&x=2&y=a%20b";
    r.headers = hdrs;
    r.nheaders = sizeof(hdrs) / sizeof(hdrs[0]);
    r.body = "{\"a\":1}";
    r.body_len = 7;
    r.source_ip = "198.51.100.7";
    r.request_id = "req-1";
    r.time_ms = 1586531280000LL;      /* 2020-04-10T15:08:00Z */
    return r;
}

/* ------------------------------------------------------------ names, text */

static void test_names(void)
{
    static const char *const names[] = { "v1", "v2", "url", "alb" };
    size_t i;

    for (i = 0; i < 4; i++)
        is_str(ember_apigw_format_name(ember_apigw_format_parse(names[i])), names[i],
               "format %s: parse and name agree", names[i]);
    is_int(ember_apigw_format_parse("v3"), EMBER_APIGW_NONE, "an unknown format: NONE");
    is_int(ember_apigw_format_parse(NULL), EMBER_APIGW_NONE, "NULL: NONE");
    is_str(ember_apigw_format_name(EMBER_APIGW_NONE), "none", "NONE is \"none\"");

    ok(ember_apigw_is_text(NULL), "no content type: text");
    ok(ember_apigw_is_text("application/json; charset=utf-8"), "json with a charset: text");
    ok(ember_apigw_is_text("TEXT/HTML"), "text/* in capitals: text");
    ok(ember_apigw_is_text("application/vnd.api+json"), "+json: text");
    ok(ember_apigw_is_text("application/x-www-form-urlencoded"), "a form: text");
    ok(!ember_apigw_is_text("image/png"), "image/png: binary");
    ok(!ember_apigw_is_text("application/octet-stream"), "octet-stream: binary");
}

/* ------------------------------------------------------------ events */

static void test_v1(void)
{
    struct ember_apigw_request r = request();
    json_object *e = ember_apigw_event(EMBER_APIGW_V1, &r), *aws = sample("apigw-request.json");

    same_keys(e, aws, "", "v1");
    same_keys(e, aws, "requestContext", "v1");
    same_keys(e, aws, "requestContext.identity", "v1");
    is_str(str_at(e, "httpMethod"), "POST", "v1: httpMethod");
    is_str(str_at(e, "path"), "/items/a%20b", "v1: path as sent");
    is_str(str_at(e, "resource"), "/{proxy+}", "v1: the proxy resource");
    is_str(str_at(e, "pathParameters.proxy"), "items/a b", "v1: proxy decoded");
    is_str(str_at(e, "queryStringParameters.x"), "2", "v1: a repeated query parameter: the last");
    is_str(json_at(e, "multiValueQueryStringParameters.x"), "[\"1\",\"2\"]",
           "v1: ... all of them in multiValueQueryStringParameters");
    is_str(str_at(e, "queryStringParameters.y"), "a b", "v1: query values decoded");
    is_str(json_at(e, "multiValueHeaders.X-Multi"), "[\"1\",\"2\"]",
           "v1: header names as sent, every value");
    is_str(str_at(e, "headers.X-Forwarded-For"), "203.0.113.9, 198.51.100.7",
           "v1: the client's X-Forwarded-For gets the address AWS saw appended");
    is_str(str_at(e, "headers.X-Forwarded-Proto"), "https", "v1: X-Forwarded-Proto https");
    is_str(str_at(e, "headers.Cookie"), "c1=v1; c2=v2", "v1: Cookie as a header");
    is_str(str_at(e, "requestContext.path"), "/prod/items/a%20b", "v1: stage prod in the path");
    is_str(str_at(e, "requestContext.stage"), "prod", "v1: stage");
    is_str(str_at(e, "requestContext.identity.sourceIp"), "198.51.100.7", "v1: source IP");
    is_str(str_at(e, "requestContext.requestTime"), "10/Apr/2020:15:08:00 +0000",
           "v1: requestTime as AWS formats it");
    is_str(str_at(e, "body"), "{\"a\":1}", "v1: a JSON body as text");
    is_str(json_at(e, "isBase64Encoded"), "false", "v1: not base64");
    json_object_put(e);

    r.body = NULL;
    r.path = "/";
    e = ember_apigw_event(EMBER_APIGW_V1, &r);
    is_str(json_at(e, "body"), "null", "v1: no body is null");
    is_str(str_at(e, "resource"), "/", "v1: / is its own resource");
    is_str(json_at(e, "pathParameters"), "null", "v1: ... without path parameters");
    json_object_put(e);
    json_object_put(aws);
}

static void test_v2_url(void)
{
    struct ember_apigw_request r = request();
    static const char *const more[] = { "c3=v3" };
    json_object *e, *aws = sample("apigw-v2-request-no-authorizer.json");
    json_object *awsurl = sample("lambda-urls-request.json");

    r.cookies = more;
    r.ncookies = 1;
    e = ember_apigw_event(EMBER_APIGW_V2, &r);
    same_keys(e, aws, "", "v2");
    same_keys(e, aws, "requestContext", "v2");
    same_keys(e, aws, "requestContext.http", "v2");
    is_str(str_at(e, "version"), "2.0", "v2: version 2.0");
    is_str(str_at(e, "rawPath"), "/items/a b", "v2: an HTTP API decodes the path");
    is_str(str_at(e, "rawQueryString"), "x=1&x=2&y=a%20b", "v2: the raw query as sent");
    is_str(str_at(e, "queryStringParameters.x"), "1,2", "v2: repeated parameters joined");
    is_str(str_at(e, "headers.x-multi"), "1,2", "v2: header names lower-case, values joined");
    is_str(json_at(e, "headers.cookie"), "(absent)", "v2: no cookie header ...");
    is_str(json_at(e, "cookies"), "[\"c1=v1\",\"c2=v2\",\"c3=v3\"]",
           "v2: ... cookies split into an array, extra cookies after");
    is_str(str_at(e, "requestContext.http.method"), "POST", "v2: http.method");
    is_str(str_at(e, "requestContext.http.sourceIp"), "198.51.100.7", "v2: http.sourceIp");
    is_str(str_at(e, "requestContext.http.userAgent"), "curl/8.0", "v2: http.userAgent");
    is_str(str_at(e, "requestContext.stage"), "$default", "v2: stage $default");
    ok(strstr(str_at(e, "requestContext.domainName"), ".execute-api.") != NULL,
       "v2: an execute-api domain");
    json_object_put(e);

    r.stage = "dev";
    r.body = NULL;
    e = ember_apigw_event(EMBER_APIGW_V2, &r);
    is_str(str_at(e, "rawPath"), "/dev/items/a b", "v2: a named stage leads the path");
    is_str(json_at(e, "body"), "(absent)", "v2: no body, no body key");
    is_str(json_at(e, "isBase64Encoded"), "false", "v2: ... and isBase64Encoded false");
    json_object_put(e);

    r = request();
    e = ember_apigw_event(EMBER_APIGW_URL, &r);
    same_keys(e, awsurl, "", "url");
    same_keys(e, awsurl, "requestContext", "url");
    is_str(str_at(e, "rawPath"), "/items/a%20b", "url: a Function URL does not decode the path");
    ok(strstr(str_at(e, "requestContext.domainName"), ".lambda-url.") != NULL,
       "url: a lambda-url domain");
    is_str(str_at(e, "requestContext.accountId"), "anonymous", "url: accountId anonymous");
    json_object_put(e);
    json_object_put(aws);
    json_object_put(awsurl);
}

static void test_alb(void)
{
    struct ember_apigw_request r = request();
    json_object *e, *aws = sample("alb-lambda-target-request-headers-only.json");
    unsigned char bin[] = { 0xff, 0x00, 0xfe, 0x01 };

    r.body = (const char *) bin;
    r.body_len = sizeof(bin);
    r.binary = 1;
    e = ember_apigw_event(EMBER_APIGW_ALB, &r);
    same_keys(e, aws, "", "alb");
    ok(strncmp(str_at(e, "requestContext.elb.targetGroupArn"), "arn:aws:elasticloadbalancing:",
               29) == 0, "alb: the target group's ARN");
    is_str(str_at(e, "queryStringParameters.y"), "a%20b", "alb: query values stay encoded");
    is_str(str_at(e, "queryStringParameters.x"), "2", "alb: a repeated parameter: the last");
    is_str(str_at(e, "headers.x-multi"), "2", "alb: header names lower-case, the last value");
    is_str(str_at(e, "headers.x-forwarded-proto"), "http", "alb: X-Forwarded-Proto http");
    is_str(str_at(e, "headers.x-forwarded-port"), "80", "alb: X-Forwarded-Port 80");
    is_str(str_at(e, "body"), "/wD+AQ==", "alb: a binary body in base64 ...");
    is_str(json_at(e, "isBase64Encoded"), "true", "alb: ... isBase64Encoded true");
    json_object_put(e);

    r.multi_value = 1;
    e = ember_apigw_event(EMBER_APIGW_ALB, &r);
    is_str(json_at(e, "multiValueQueryStringParameters.x"), "[\"1\",\"2\"]",
           "alb multi-value: every query value");
    is_str(json_at(e, "multiValueHeaders.x-multi"), "[\"1\",\"2\"]",
           "alb multi-value: every header value");
    is_str(json_at(e, "headers"), "(absent)", "alb multi-value: no single-value headers");
    json_object_put(e);
    json_object_put(aws);
}

static void test_detect(void)
{
    static const enum ember_apigw_format fs[] = {
        EMBER_APIGW_V1, EMBER_APIGW_V2, EMBER_APIGW_URL, EMBER_APIGW_ALB
    };
    struct ember_apigw_request r = request();
    json_object *e, *o;
    size_t       i;
    int          mv;

    for (i = 0; i < 4; i++) {
        e = ember_apigw_event(fs[i], &r);
        is_int(ember_apigw_detect(e, &mv), fs[i], "detect: our %s event is %s",
               ember_apigw_format_name(fs[i]), ember_apigw_format_name(fs[i]));
        json_object_put(e);
    }
    r.multi_value = 1;
    e = ember_apigw_event(EMBER_APIGW_ALB, &r);
    mv = 0;
    ember_apigw_detect(e, &mv);
    ok(mv == 1, "detect: an ALB event with multiValueHeaders: multi-value on");
    json_object_put(e);
    o = json_tokener_parse("{\"Records\":[]}");
    is_int(ember_apigw_detect(o, NULL), EMBER_APIGW_NONE, "detect: an SQS-like event: NONE");
    json_object_put(o);
    o = json_object_new_string("x");
    is_int(ember_apigw_detect(o, NULL), EMBER_APIGW_NONE, "detect: not an object: NONE");
    json_object_put(o);
    o = sample("apigw-v2-request-lambda-authorizer.json");
    is_int(ember_apigw_detect(o, NULL), EMBER_APIGW_V2, "detect: AWS's v2 sample: v2");
    json_object_put(o);
    o = sample("lambda-urls-request.json");
    is_int(ember_apigw_detect(o, NULL), EMBER_APIGW_URL, "detect: AWS's Function URL sample: url");
    json_object_put(o);
}

/* ------------------------------------------------------------ responses */

/* The function's answer s through format f: the status (or -502 when refused). */
static int answer(enum ember_apigw_format f, int mv, const char *s,
                  struct ember_apigw_response *res, char *why, size_t whylen)
{
    struct ember_error err = { 0 };

    if (ember_apigw_response(f, mv, s, strlen(s), res, &err) != EMBER_OK) {
        snprintf(why, whylen, "%s", err.message);
        is_int(err.status, 502, "refused as a 502: %s", err.message);
        return -502;
    }
    return res->status;
}

static void refused(enum ember_apigw_format f, const char *s, const char *reason)
{
    struct ember_apigw_response res;
    char                        why[512] = "";

    is_int(answer(f, 0, s, &res, why, sizeof(why)), -502, "%s: %s is malformed",
           ember_apigw_format_name(f), s);
    ok(strstr(why, reason) != NULL, "... saying \"%s\" (%s)", reason, why);
    ok(res.nheaders == 0 && res.body == NULL, "... and leaving nothing behind");
}

static void test_responses(void)
{
    struct ember_apigw_response res;
    char                        why[512];

    is_int(answer(EMBER_APIGW_V1, 0, "{\"statusCode\":201,\"headers\":{\"X-A\":\"1\",\"X-N\":2},"
                  "\"multiValueHeaders\":{\"Set-Cookie\":[\"a=1\",\"b=2\"],\"X-A\":[\"1\"]},"
                  "\"body\":\"made\",\"isBase64Encoded\":false}", &res, why, sizeof(why)),
           201, "v1: statusCode");
    is_str(res.body, "made", "v1: body");
    is_int((long long) res.nheaders, 4, "v1: multiValueHeaders, then headers not already there");
    is_str(ember_apigw_response_header(&res, "x-n"), "2",
           "v1: a number header value stringified; lookup ignores case");
    ember_apigw_response_clear(&res);
    refused(EMBER_APIGW_V1, "{\"statusCode\":200,\"extra\":1}", "unexpected key \"extra\"");
    refused(EMBER_APIGW_V1, "{\"statusCode\":\"200\"}", "statusCode is not an integer");
    refused(EMBER_APIGW_V1, "{\"body\":\"x\"}", "no statusCode");
    refused(EMBER_APIGW_V1, "{\"statusCode\":700}", "is not an HTTP status");
    refused(EMBER_APIGW_V1, "{\"statusCode\":200,\"body\":{\"a\":1}}", "body is not a string");
    refused(EMBER_APIGW_V1, "{\"statusCode\":200,\"body\":\"@@\",\"isBase64Encoded\":true}",
            "not valid base64");
    refused(EMBER_APIGW_V1, "{\"statusCode\":200,\"headers\":{\"a\":[1]}}",
            "headers.a is not a string");
    refused(EMBER_APIGW_V1, "not json", "not JSON");
    refused(EMBER_APIGW_V1, "{\"statusCode\":200} x", "not JSON");
    refused(EMBER_APIGW_V1, "{\"statusCode\":200} {}", "not JSON");

    is_int(answer(EMBER_APIGW_V2, 0, "{\"statusCode\":200,\"cookies\":[\"a=1\",\"b=2\"],"
                  "\"body\":\"/wAB\",\"isBase64Encoded\":true}", &res, why, sizeof(why)),
           200, "v2: statusCode");
    is_int((long long) res.body_len, 3, "v2: a base64 body decoded");
    ok(memcmp(res.body, "\xff\x00\x01", 3) == 0, "... to its bytes");
    is_int((long long) res.nheaders, 2, "v2: each cookie a Set-Cookie header");
    ember_apigw_response_clear(&res);
    is_int(answer(EMBER_APIGW_V2, 0, "{\"hello\":\"world\"}", &res, why, sizeof(why)), 200,
           "v2: JSON without statusCode is a 200 ...");
    is_str(res.body, "{\"hello\":\"world\"}", "... whose body is the answer itself");
    is_str(ember_apigw_response_header(&res, "content-type"), "application/json",
           "... as application/json");
    ember_apigw_response_clear(&res);
    is_int(answer(EMBER_APIGW_URL, 0, "\"just a string\"", &res, why, sizeof(why)), 200,
           "url: a JSON string is a 200 too");
    ember_apigw_response_clear(&res);
    refused(EMBER_APIGW_V2, "{\"statusCode\":200,\"cookies\":\"a=1\"}", "cookies is not an array");
    refused(EMBER_APIGW_URL, "{\"statusCode\":200,\"cookies\":[1]}", "cookies[0] is not a string");

    is_int(answer(EMBER_APIGW_ALB, 0, "{\"statusCode\":404,\"statusDescription\":\"404 Not Found\","
                  "\"headers\":{\"x\":\"y\"}}", &res, why, sizeof(why)), 404, "alb: statusCode");
    is_str(res.status_description, "404 Not Found", "alb: statusDescription");
    is_str(res.body, "", "alb: no body is an empty one");
    ember_apigw_response_clear(&res);
    is_int(answer(EMBER_APIGW_ALB, 1, "{\"statusCode\":200,\"multiValueHeaders\":{\"x\":[\"1\","
                  "\"2\"]}}", &res, why, sizeof(why)), 200, "alb multi-value");
    is_int((long long) res.nheaders, 2, "alb multi-value: every header value");
    ember_apigw_response_clear(&res);
    refused(EMBER_APIGW_ALB, "[1]", "not a JSON object");
}

/* ------------------------------------------------------------ with the core */

/* Our events parse in the core as the same request. */
static void test_core_reads_our_events(void)
{
    static const enum ember_apigw_format fs[] = {
        EMBER_APIGW_V1, EMBER_APIGW_V2, EMBER_APIGW_URL, EMBER_APIGW_ALB
    };
    struct ember_apigw_request r = request();
    struct ember_pool         *pool = ember_pool_create();
    size_t                     i, j;

    for (i = 0; i < 4; i++) {
        const char *name = ember_apigw_format_name(fs[i]);
        json_object *e = ember_apigw_event(fs[i], &r);
        const char  *s = json_object_to_json_string(e);
        struct ember_event ev;
        struct ember_error err = { 0 };
        const char *q = NULL, *h = NULL, *c = NULL;

        memset(&ev, 0, sizeof(ev));
        if (!ok(ember_event_parse(&ev, pool, s, strlen(s), &err) == EMBER_OK,
                "core: our %s event parses (%s)", name, err.message)) {
            json_object_put(e);
            continue;
        }
        is_int(ev.source, (int) fs[i], "core: ... as a %s event", name);
        is_str(ev.req.method, "POST", "core: %s: method", name);
        is_str(ev.req.path, "/items/a b", "core: %s: the path, decoded once", name);
        for (j = 0; j < ev.req.nquery; j++)
            if (strcmp(ev.req.query[j].name, "y") == 0)
                q = ev.req.query[j].value;
        is_str(q, "a b", "core: %s: a query value, decoded", name);
        for (j = 0; j < ev.req.nheaders; j++)
            if (strcmp(ev.req.headers[j].name, "user-agent") == 0)
                h = ev.req.headers[j].value;
        is_str(h, "curl/8.0", "core: %s: a header", name);
        for (j = 0; j < ev.req.ncookies; j++)
            if (strcmp(ev.req.cookies[j].name, "c2") == 0)
                c = ev.req.cookies[j].value;
        is_str(c, "v2", "core: %s: a cookie", name);
        ok(ev.req.body_len == 7 && memcmp(ev.req.body, "{\"a\":1}", 7) == 0,
           "core: %s: the body", name);
        json_object_put(e);
        ember_pool_reset(pool);
    }
    ember_pool_destroy(pool);
}

/* The core's answers read back through us as the same HTTP response. */
static void test_core_answers_read_back(void)
{
    static const enum ember_apigw_format fs[] = {
        EMBER_APIGW_V1, EMBER_APIGW_V2, EMBER_APIGW_URL, EMBER_APIGW_ALB
    };
    struct ember_apigw_request r = request();
    struct ember_pool         *pool = ember_pool_create();
    struct ember_kv            h[] = {
        { "content-type", "application/octet-stream" }, { "set-cookie", "a=1" },
        { "set-cookie", "b=2" }, { "x-id", "7" },
    };
    size_t i;

    for (i = 0; i < 4; i++) {
        const char *name = ember_apigw_format_name(fs[i]);
        json_object *e = ember_apigw_event(fs[i], &r);
        const char  *s = json_object_to_json_string(e);
        struct ember_event          ev;
        struct ember_response       res = { 0 };
        struct ember_apigw_response back;
        struct ember_error          err = { 0 };
        char                       *out;
        size_t                      len, cookies = 0, j;

        memset(&ev, 0, sizeof(ev));
        ember_event_parse(&ev, pool, s, strlen(s), &err);
        res.status = 418;
        res.headers = h;
        res.nheaders = 4;
        res.body = "\xff\x00\x01";
        res.body_len = 3;
        res.binary = 1;
        out = ember_event_response(&ev, &res, pool, &len);
        if (!ok(ember_apigw_response(fs[i], ev.multi_value, out, len, &back, &err) == EMBER_OK,
                "%s: the core's answer is well-formed for the gateway (%s)", name, err.message)) {
            json_object_put(e);
            continue;
        }
        is_int(back.status, 418, "%s: status back", name);
        ok(back.body_len == 3 && memcmp(back.body, "\xff\x00\x01", 3) == 0,
           "%s: a binary body back, byte for byte", name);
        is_str(ember_apigw_response_header(&back, "x-id"), "7", "%s: a header back", name);
        for (j = 0; j < back.nheaders; j++)
            if (strcasecmp(back.headers[j].name, "set-cookie") == 0)
                cookies++;
        /* an ALB without multi-value headers keeps one value per name */
        is_int((long long) cookies, fs[i] == EMBER_APIGW_ALB ? 1 : 2,
               "%s: Set-Cookie headers back", name);
        ember_apigw_response_clear(&back);
        json_object_put(e);
        ember_pool_reset(pool);
    }
    ember_pool_destroy(pool);
}

int main(void)
{
    test_names();
    test_v1();
    test_v2_url();
    test_alb();
    test_detect();
    test_responses();
    test_core_reads_our_events();
    test_core_answers_read_back();
    return done_testing();
}
