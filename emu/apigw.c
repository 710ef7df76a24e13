/*
 * apigw.c - HTTP request -> Lambda event, and the function's response ->
 * HTTP, as API Gateway (REST v1, HTTP API v2), Function URLs and ALB do.
 *
 * The shapes follow the sample events in tests/events (aws-lambda-go's
 * testdata) and AWS's documentation of each integration:
 *   - v1: single-value maps hold the LAST value of a repeated name; every
 *     empty map is null; headers keep the client's spelling.
 *   - v2/url: header names lower-case, repeated values joined with ",";
 *     the Cookie header becomes the "cookies" array; empty maps omitted;
 *     v2 (not url) decodes the path (once; "%00" is a NUL, bytes that are
 *     not UTF-8 become U+FFFD) and puts a named stage in front of it.
 *   - every format: Host, X-Amzn-Trace-Id and X-Forwarded-{For,Port,Proto}
 *     added when the client did not send them, as AWS does; a client's
 *     X-Forwarded-For gets the source address appended.
 *   - alb: header names lower-case; query values stay URL-encoded (ALB does
 *     not decode them); single-value mode keeps the LAST value.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "apigw.h"
#include "base64.h"
#include "json-strict.h"
#include "text.h"
#include "buf.h"
#include "error.h"
#include "pct.h"
#include "xalloc.h"

#define ACCOUNT_ID      "123456789012"
#define REGION          "us-east-1"
#define DEFAULT_API_ID  "emberapi01"
#define DEFAULT_URL_ID  "embertest0function0url0id0000000"
#define TARGET_GROUP    "arn:aws:elasticloadbalancing:" REGION ":" ACCOUNT_ID \
                        ":targetgroup/ember-test/0123456789abcdef"

/* ------------------------------------------------------------ names */

const char *ember_apigw_format_name(enum ember_apigw_format f)
{
    switch (f) {
    case EMBER_APIGW_V1:  return "v1";
    case EMBER_APIGW_V2:  return "v2";
    case EMBER_APIGW_URL: return "url";
    case EMBER_APIGW_ALB: return "alb";
    default:              return "none";
    }
}

enum ember_apigw_format ember_apigw_format_parse(const char *name)
{
    if (name == NULL)
        return EMBER_APIGW_NONE;
    if (strcmp(name, "v1") == 0)
        return EMBER_APIGW_V1;
    if (strcmp(name, "v2") == 0)
        return EMBER_APIGW_V2;
    if (strcmp(name, "url") == 0)
        return EMBER_APIGW_URL;
    if (strcmp(name, "alb") == 0)
        return EMBER_APIGW_ALB;
    return EMBER_APIGW_NONE;
}

/* ------------------------------------------------------------ strings */

/* Strings made while building one event, freed together. */
struct scratch {
    char   **p;
    size_t   n;
};

/* Takes ownership of s; returns it. */
static char *keep(struct scratch *s, char *str)
{
    s->p = ember_xrealloc(s->p, (s->n + 1) * sizeof(*s->p));
    s->p[s->n++] = str;
    return str;
}

static void scratch_free(struct scratch *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->p[i]);
    free(s->p);
    s->p = NULL;
    s->n = 0;
}

/* A lower-case copy of s. Caller frees. */
static char *lower_dup(const char *s)
{
    char   *d = ember_xstrdup(s);
    size_t  i;

    for (i = 0; d[i]; i++)
        d[i] = (char) tolower((unsigned char) d[i]);
    return d;
}

/* Percent-encode everything but RFC 3986's unreserved set. Caller frees. */
static char *pct_encode(const char *s)
{
    struct ember_buf b = EMBER_BUF_INIT;

    ember_pct_encode(&b, s);
    ember_buf_append(&b, "", 0);
    if (b.data == NULL)
        return ember_xstrdup("");
    return b.data;
}

/* Decode %XX (a bad escape stays as it is; "+" stays "+") into a string as
   AWS's gateways make one for the JSON event: bytes that are not UTF-8 each
   become U+FFFD, as a UTF-8 decoder makes them; a "%00" is a NUL inside.
   *len (if not NULL) the decoded length.  Caller frees. */
static char *pct_decode_len(const char *s, size_t n, size_t *len)
{
    char   *d = ember_xmalloc(n + 1), *t = ember_xmalloc(3 * n + 1);
    size_t  dn = ember_pct_decode(d, s, n, 0), i, o = 0;

    for (i = 0; i < dn;) {
        size_t k = ember_utf8_len((const unsigned char *) d + i, dn - i);

        if (k == 0) {
            memcpy(t + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(t + o, d + i, k);
            o += k;
            i += k;
        }
    }
    t[o] = '\0';
    free(d);
    if (len)
        *len = o;
    return t;
}

static char *pct_decode(const char *s, size_t n)
{
    return pct_decode_len(s, n, NULL);
}

/* Standard base64 with padding (common/base64.c). Caller frees. */
static char *b64_encode(const void *data, size_t len)
{
    char *out = ember_xmalloc(ember_b64_encoded_len(EMBER_B64_STD, len) + 1);

    ember_b64_encode(EMBER_B64_STD, data, len, out);
    return out;
}

/*
 * Decode standard base64 (common/base64.c's rules: padding full or none, no
 * whitespace).  On success *out (caller frees, NUL-terminated) and *outlen
 * are set; -1 if invalid.
 */
static int b64_decode(const char *s, size_t len, char **out, size_t *outlen)
{
    unsigned char *d = ember_xmalloc(ember_b64_decoded_max(len));

    if (ember_b64_decode(EMBER_B64_STD, s, len, d, outlen) != 0) {
        free(d);
        return -1;
    }
    *out = (char *) d;
    return 0;
}

/* ------------------------------------------------------------ grouping */

/* Values of one name, in order; the name as first seen. */
struct group {
    const char   *name;
    const char  **values;
    size_t        n;
};

struct groups {
    struct group *g;
    size_t        n;
};

static void groups_add(struct groups *gs, const char *name, const char *value, int icase)
{
    struct group *g = NULL;
    size_t        i;

    for (i = 0; i < gs->n; i++) {
        if (icase ? strcasecmp(gs->g[i].name, name) == 0 : strcmp(gs->g[i].name, name) == 0) {
            g = &gs->g[i];
            break;
        }
    }
    if (g == NULL) {
        gs->g = ember_xrealloc(gs->g, (gs->n + 1) * sizeof(*gs->g));
        g = &gs->g[gs->n++];
        g->name = name;
        g->values = NULL;
        g->n = 0;
    }
    g->values = ember_xrealloc(g->values, (g->n + 1) * sizeof(*g->values));
    g->values[g->n++] = value;
}

static void groups_free(struct groups *gs)
{
    size_t i;

    for (i = 0; i < gs->n; i++)
        free(gs->g[i].values);
    free(gs->g);
    gs->g = NULL;
    gs->n = 0;
}

/* {name: last value}, or NULL when empty. Returns a new object. */
static json_object *single_map(const struct groups *gs)
{
    json_object *o;
    size_t       i;

    if (gs->n == 0)
        return NULL;
    o = json_object_new_object();
    for (i = 0; i < gs->n; i++)
        json_object_object_add(o, gs->g[i].name,
                               json_object_new_string(gs->g[i].values[gs->g[i].n - 1]));
    return o;
}

/* {name: [values]}, or NULL when empty. Returns a new object. */
static json_object *multi_map(const struct groups *gs)
{
    json_object *o;
    size_t       i, j;

    if (gs->n == 0)
        return NULL;
    o = json_object_new_object();
    for (i = 0; i < gs->n; i++) {
        json_object *a = json_object_new_array();

        for (j = 0; j < gs->g[i].n; j++)
            json_object_array_add(a, json_object_new_string(gs->g[i].values[j]));
        json_object_object_add(o, gs->g[i].name, a);
    }
    return o;
}

/* {name: "v1,v2"}, or NULL when empty. Returns a new object. */
static json_object *joined_map(const struct groups *gs)
{
    json_object *o;
    size_t       i, j;

    if (gs->n == 0)
        return NULL;
    o = json_object_new_object();
    for (i = 0; i < gs->n; i++) {
        struct ember_buf b = EMBER_BUF_INIT;

        for (j = 0; j < gs->g[i].n; j++) {
            if (j > 0)
                ember_buf_puts(&b, ",");
            ember_buf_puts(&b, gs->g[i].values[j]);
        }
        json_object_object_add(o, gs->g[i].name, json_object_new_string(ember_buf_str(&b)));
        ember_buf_free(&b);
    }
    return o;
}

/* ------------------------------------------------------------ the request */

/* One query pair, encoded (as on the wire) and decoded. */
struct qpair {
    const char *enc_name, *enc_value;
    const char *dec_name, *dec_value;
};

struct built {
    struct scratch  s;
    struct qpair   *q;
    size_t          nq;
    const char     *raw_query;     /* encoded, "" if none */
    const char     *path;
    const char     *stage;
    const char     *request_id;
    const char     *source_ip;
    const char     *user_agent;    /* NULL if none */
    const char     *cookie_header; /* Cookie header for v1/alb, NULL if none */
    const char     *api_id;
    const char     *host;          /* the domain the client called */
    struct ember_kv *hdr;          /* the client's headers + those AWS adds */
    size_t          nhdr;
    int64_t         time_ms;
    char            time_str[40];  /* 21/Apr/2020:15:08:21 +0000 */
};

static void add_qpair(struct built *b, char *enc_name, char *enc_value,
                      char *dec_name, char *dec_value)
{
    struct qpair *q;

    b->q = ember_xrealloc(b->q, (b->nq + 1) * sizeof(*b->q));
    q = &b->q[b->nq++];
    q->enc_name = keep(&b->s, enc_name);
    q->enc_value = keep(&b->s, enc_value);
    q->dec_name = keep(&b->s, dec_name);
    q->dec_value = keep(&b->s, dec_value);
}

static void build_query(struct built *b, const struct ember_apigw_request *r)
{
    size_t i;

    if (r->raw_query) {
        const char *p = r->raw_query;

        b->raw_query = r->raw_query;
        while (*p) {
            const char *amp = strchr(p, '&');
            size_t      n = amp ? (size_t) (amp - p) : strlen(p);
            const char *eq = memchr(p, '=', n);
            size_t      kn = eq ? (size_t) (eq - p) : n;
            const char *v = eq ? eq + 1 : p + n;
            size_t      vn = eq ? n - kn - 1 : 0;

            if (n > 0)
                add_qpair(b, ember_xstrndup(p, kn), ember_xstrndup(v, vn),
                          pct_decode(p, kn), pct_decode(v, vn));
            p += n;
            if (*p == '&')
                p++;
        }
        return;
    }
    {
        struct ember_buf raw = EMBER_BUF_INIT;

        for (i = 0; i < r->nquery; i++) {
            char *en = pct_encode(r->query[i].name);
            char *ev = pct_encode(r->query[i].value ? r->query[i].value : "");

            if (i > 0)
                ember_buf_puts(&raw, "&");
            ember_buf_printf(&raw, "%s=%s", en, ev);
            add_qpair(b, en, ev, ember_xstrdup(r->query[i].name),
                      ember_xstrdup(r->query[i].value ? r->query[i].value : ""));
        }
        b->raw_query = keep(&b->s, ember_xstrdup(ember_buf_str(&raw)));
        ember_buf_free(&raw);
    }
}

static int has_header(const struct ember_apigw_request *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return 1;
    return 0;
}

/* The client's headers, then what AWS adds in front of a function when absent. */
static void add_aws_headers(struct built *b, const struct ember_apigw_request *r,
                            enum ember_apigw_format f, time_t t)
{
    const char *add[5][2];
    size_t      i, n = 0, xff = (size_t) -1;
    int         alb = f == EMBER_APIGW_ALB;

    add[n][0] = "Host";
    add[n++][1] = b->host;
    add[n][0] = "X-Amzn-Trace-Id";
    add[n++][1] = keep(&b->s, ember_xasprintf("Root=1-%08lx-%024lx", (unsigned long) t,
                                              (unsigned long) b->time_ms * 2654435761UL));
    add[n][0] = "X-Forwarded-For";
    add[n++][1] = b->source_ip;
    add[n][0] = "X-Forwarded-Port";
    add[n++][1] = alb ? "80" : "443";
    add[n][0] = "X-Forwarded-Proto";
    add[n++][1] = alb ? "http" : "https";

    b->hdr = ember_xcalloc(r->nheaders + n, sizeof(*b->hdr));
    for (i = 0; i < r->nheaders; i++) {
        b->hdr[b->nhdr].name = r->headers[i].name;
        b->hdr[b->nhdr++].value = r->headers[i].value ? r->headers[i].value : "";
        if (strcasecmp(r->headers[i].name, "X-Forwarded-For") == 0)
            xff = b->nhdr - 1;
    }
    /* a client's X-Forwarded-For gets the address AWS saw appended (the
       last entry is the only one a client cannot write) */
    if (xff != (size_t) -1)
        b->hdr[xff].value = keep(&b->s, ember_xasprintf("%s, %s", b->hdr[xff].value,
                                                        b->source_ip));
    for (i = 0; i < n; i++) {
        if (has_header(r, add[i][0]))
            continue;
        b->hdr[b->nhdr].name = add[i][0];
        b->hdr[b->nhdr++].value = add[i][1];
    }
}

static void build_common(struct built *b, const struct ember_apigw_request *r,
                         enum ember_apigw_format f)
{
    static unsigned long counter;
    struct ember_buf     cookies = EMBER_BUF_INIT;
    struct timespec      ts;
    struct tm            tm;
    time_t               t;
    size_t               i;

    memset(b, 0, sizeof(*b));
    build_query(b, r);
    b->path = r->path && *r->path ? r->path : "/";
    b->stage = r->stage ? r->stage : (f == EMBER_APIGW_V1 ? "prod" : "$default");
    b->source_ip = r->source_ip ? r->source_ip : "127.0.0.1";
    if (r->time_ms > 0) {
        b->time_ms = r->time_ms;
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        b->time_ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    t = (time_t) (b->time_ms / 1000);
    gmtime_r(&t, &tm);
    strftime(b->time_str, sizeof(b->time_str), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    if (r->request_id) {
        b->request_id = r->request_id;
    } else {
        counter++;
        b->request_id = keep(&b->s, ember_xasprintf("%08lx-%04lx-4000-8000-%012llx",
                                                    (unsigned long) t & 0xffffffffUL,
                                                    counter & 0xffff,
                                                    (unsigned long long) b->time_ms));
    }
    if (f == EMBER_APIGW_URL) {
        b->api_id = r->api_id ? r->api_id : DEFAULT_URL_ID;
        b->host = keep(&b->s, ember_xasprintf("%s.lambda-url." REGION ".on.aws", b->api_id));
    } else if (f == EMBER_APIGW_ALB) {
        b->api_id = "";
        b->host = "ember-test-1234567890." REGION ".elb.amazonaws.com";
    } else {
        b->api_id = r->api_id ? r->api_id : DEFAULT_API_ID;
        b->host = keep(&b->s, ember_xasprintf("%s.execute-api." REGION ".amazonaws.com",
                                              b->api_id));
    }
    add_aws_headers(b, r, f, t);
    for (i = 0; i < b->nhdr; i++)
        if (strcasecmp(b->hdr[i].name, "user-agent") == 0)
            b->user_agent = b->hdr[i].value;

    /* v1/alb: the client's Cookie header, plus the extra cookies */
    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, "cookie") == 0) {
            ember_buf_puts(&cookies, r->headers[i].value);
            break;
        }
    }
    for (i = 0; i < r->ncookies; i++) {
        if (cookies.len > 0)
            ember_buf_puts(&cookies, "; ");
        ember_buf_puts(&cookies, r->cookies[i]);
    }
    if (cookies.len > 0)
        b->cookie_header = keep(&b->s, ember_xstrdup(ember_buf_str(&cookies)));
    ember_buf_free(&cookies);
}

static void built_free(struct built *b)
{
    free(b->hdr);
    free(b->q);
    scratch_free(&b->s);
}

/* Headers for v1 (names as sent) or alb (lower-case), Cookie merged. */
static void header_groups(struct built *b, int lower, struct groups *gs)
{
    int    cookie_done = 0;
    size_t i;

    for (i = 0; i < b->nhdr; i++) {
        const char *name = b->hdr[i].name;
        const char *value = b->hdr[i].value;

        if (strcasecmp(name, "cookie") == 0) {
            if (cookie_done)
                continue;     /* the first Cookie header carries them all */
            cookie_done = 1;
            if (b->cookie_header != NULL)   /* NULL: an empty Cookie, nothing to merge */
                value = b->cookie_header;
        }
        if (lower)
            name = keep(&b->s, lower_dup(name));
        groups_add(gs, name, value, 1);
    }
    if (!cookie_done && b->cookie_header)
        groups_add(gs, lower ? "cookie" : "Cookie", b->cookie_header, 1);
}

static void add_body(json_object *o, const struct ember_apigw_request *r, int null_if_none)
{
    if (r->body == NULL) {
        json_object_object_add(o, "body", null_if_none ? NULL : json_object_new_string(""));
    } else if (r->binary) {
        char *e = b64_encode(r->body, r->body_len);

        json_object_object_add(o, "body", json_object_new_string(e));
        free(e);
    } else {
        json_object_object_add(o, "body", json_object_new_string_len(r->body, (int) r->body_len));
    }
    json_object_object_add(o, "isBase64Encoded",
                           json_object_new_boolean(r->body != NULL && r->binary));
}

/* Adds v (a new object, or NULL for JSON null) under key k; takes ownership. */
static void add_or_null(json_object *o, const char *k, json_object *v)
{
    json_object_object_add(o, k, v);
}

/* A new string object, or NULL (JSON null) for NULL. */
static json_object *str_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

/* The REST API (payload 1.0) event. Returns a new object. */
static json_object *event_v1(struct built *b, const struct ember_apigw_request *r)
{
    json_object   *o = json_object_new_object();
    json_object   *rc = json_object_new_object();
    json_object   *id = json_object_new_object();
    struct groups  hs = { 0 }, qs = { 0 };
    const char    *api = b->api_id;
    const char    *resource;
    size_t         i;

    header_groups(b, 0, &hs);
    for (i = 0; i < b->nq; i++)
        groups_add(&qs, b->q[i].dec_name, b->q[i].dec_value, 0);
    resource = strcmp(b->path, "/") == 0 ? "/" : "/{proxy+}";

    json_object_object_add(o, "resource", json_object_new_string(resource));
    json_object_object_add(o, "path", json_object_new_string(b->path));
    json_object_object_add(o, "httpMethod", json_object_new_string(r->method));
    add_or_null(o, "headers", single_map(&hs));
    add_or_null(o, "multiValueHeaders", multi_map(&hs));
    add_or_null(o, "queryStringParameters", single_map(&qs));
    add_or_null(o, "multiValueQueryStringParameters", multi_map(&qs));
    if (strcmp(resource, "/") == 0) {
        add_or_null(o, "pathParameters", NULL);
    } else {
        json_object *pp = json_object_new_object();
        char        *proxy = pct_decode(b->path + 1, strlen(b->path + 1));

        json_object_object_add(pp, "proxy", json_object_new_string(proxy));
        free(proxy);
        json_object_object_add(o, "pathParameters", pp);
    }
    add_or_null(o, "stageVariables", NULL);

    json_object_object_add(rc, "accountId", json_object_new_string(ACCOUNT_ID));
    json_object_object_add(rc, "apiId", json_object_new_string(api));
    json_object_object_add(rc, "domainName", json_object_new_string(b->host));
    json_object_object_add(rc, "domainPrefix", json_object_new_string(api));
    json_object_object_add(rc, "extendedRequestId", json_object_new_string("ember-test-ext="));
    json_object_object_add(rc, "httpMethod", json_object_new_string(r->method));
    json_object_object_add(id, "accessKey", NULL);
    json_object_object_add(id, "accountId", NULL);
    json_object_object_add(id, "apiKey", NULL);
    json_object_object_add(id, "apiKeyId", NULL);
    json_object_object_add(id, "caller", NULL);
    json_object_object_add(id, "clientCert", NULL);
    json_object_object_add(id, "cognitoAuthenticationProvider", NULL);
    json_object_object_add(id, "cognitoAuthenticationType", NULL);
    json_object_object_add(id, "cognitoIdentityId", NULL);
    json_object_object_add(id, "cognitoIdentityPoolId", NULL);
    json_object_object_add(id, "principalOrgId", NULL);
    json_object_object_add(id, "sourceIp", json_object_new_string(b->source_ip));
    json_object_object_add(id, "user", NULL);
    json_object_object_add(id, "userAgent", str_or_null(b->user_agent));
    json_object_object_add(id, "userArn", NULL);
    json_object_object_add(rc, "identity", id);
    {
        char *p = ember_xasprintf("/%s%s", b->stage, b->path);

        json_object_object_add(rc, "path", json_object_new_string(p));
        free(p);
    }
    json_object_object_add(rc, "protocol", json_object_new_string("HTTP/1.1"));
    json_object_object_add(rc, "requestId", json_object_new_string(b->request_id));
    json_object_object_add(rc, "requestTime", json_object_new_string(b->time_str));
    json_object_object_add(rc, "requestTimeEpoch", json_object_new_int64(b->time_ms));
    json_object_object_add(rc, "resourceId", json_object_new_string("abc123"));
    json_object_object_add(rc, "resourcePath", json_object_new_string(resource));
    json_object_object_add(rc, "stage", json_object_new_string(b->stage));
    json_object_object_add(o, "requestContext", rc);
    add_body(o, r, 1);

    groups_free(&hs);
    groups_free(&qs);
    return o;
}

/* Split "a=b; c=d" into cookies, appended to arr. */
static void split_cookies(json_object *arr, const char *header)
{
    const char *p = header;

    while (*p) {
        const char *semi;
        size_t      n;

        while (*p == ' ' || *p == '\t')
            p++;
        semi = strchr(p, ';');
        n = semi ? (size_t) (semi - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0)
            json_object_array_add(arr, json_object_new_string_len(p, (int) n));
        if (semi == NULL)
            break;
        p = semi + 1;
    }
}

/* The HTTP API / Function URL (payload 2.0) event. Returns a new object. */
static json_object *event_v2(struct built *b, const struct ember_apigw_request *r,
                             enum ember_apigw_format f)
{
    json_object   *o = json_object_new_object();
    json_object   *rc = json_object_new_object();
    json_object   *http = json_object_new_object();
    json_object   *cookies = json_object_new_array();
    json_object   *m;
    struct groups  hs = { 0 }, qs = { 0 };
    const char    *api, *raw_path;
    size_t         i, raw_len;

    api = b->api_id;
    /* HTTP APIs decode the path (Function URLs do not) into a string: a
       "%00" is a NUL, bytes that are not UTF-8 each become U+FFFD (as a
       UTF-8 decoder makes them); a named stage is its first segment */
    if (f == EMBER_APIGW_V2) {
        struct ember_buf path = EMBER_BUF_INIT;
        size_t           dlen;
        char            *dec = pct_decode_len(b->path, strlen(b->path), &dlen);

        if (strcmp(b->stage, "$default") != 0)
            ember_buf_printf(&path, "/%s", b->stage);
        ember_buf_append(&path, dec, dlen);
        free(dec);
        raw_len = path.len;
        raw_path = keep(&b->s, ember_xstrndup(path.data ? path.data : "", raw_len));
        ember_buf_free(&path);
    } else {
        raw_path = b->path;
        raw_len = strlen(raw_path);
    }

    for (i = 0; i < b->nhdr; i++) {
        if (strcasecmp(b->hdr[i].name, "cookie") == 0) {
            split_cookies(cookies, b->hdr[i].value);
            continue;
        }
        groups_add(&hs, keep(&b->s, lower_dup(b->hdr[i].name)), b->hdr[i].value, 1);
    }
    for (i = 0; i < r->ncookies; i++)
        json_object_array_add(cookies, json_object_new_string(r->cookies[i]));
    for (i = 0; i < b->nq; i++)
        groups_add(&qs, b->q[i].dec_name, b->q[i].dec_value, 0);

    json_object_object_add(o, "version", json_object_new_string("2.0"));
    json_object_object_add(o, "routeKey", json_object_new_string("$default"));
    json_object_object_add(o, "rawPath", json_object_new_string_len(raw_path, (int) raw_len));
    json_object_object_add(o, "rawQueryString", json_object_new_string(b->raw_query));
    if (json_object_array_length(cookies) > 0)
        json_object_object_add(o, "cookies", cookies);
    else
        json_object_put(cookies);
    m = joined_map(&hs);
    json_object_object_add(o, "headers", m ? m : json_object_new_object());
    m = joined_map(&qs);
    if (m)
        json_object_object_add(o, "queryStringParameters", m);

    json_object_object_add(rc, "accountId", json_object_new_string(f == EMBER_APIGW_URL ?
                                                                   "anonymous" : ACCOUNT_ID));
    json_object_object_add(rc, "apiId", json_object_new_string(api));
    json_object_object_add(rc, "domainName", json_object_new_string(b->host));
    json_object_object_add(rc, "domainPrefix", json_object_new_string(api));
    json_object_object_add(http, "method", json_object_new_string(r->method));
    json_object_object_add(http, "path", json_object_new_string_len(raw_path, (int) raw_len));
    json_object_object_add(http, "protocol", json_object_new_string("HTTP/1.1"));
    json_object_object_add(http, "sourceIp", json_object_new_string(b->source_ip));
    json_object_object_add(http, "userAgent",
                           json_object_new_string(b->user_agent ? b->user_agent : ""));
    json_object_object_add(rc, "http", http);
    json_object_object_add(rc, "requestId", json_object_new_string(b->request_id));
    json_object_object_add(rc, "routeKey", json_object_new_string("$default"));
    json_object_object_add(rc, "stage", json_object_new_string(f == EMBER_APIGW_URL ?
                                                               "$default" : b->stage));
    json_object_object_add(rc, "time", json_object_new_string(b->time_str));
    json_object_object_add(rc, "timeEpoch", json_object_new_int64(b->time_ms));
    json_object_object_add(o, "requestContext", rc);
    if (r->body != NULL) {
        add_body(o, r, 0);
    } else {
        json_object_object_add(o, "isBase64Encoded", json_object_new_boolean(0));
    }
    groups_free(&hs);
    groups_free(&qs);
    return o;
}

/* The ALB target event. Returns a new object. */
static json_object *event_alb(struct built *b, const struct ember_apigw_request *r)
{
    json_object   *o = json_object_new_object();
    json_object   *rc = json_object_new_object();
    json_object   *elb = json_object_new_object();
    json_object   *m;
    struct groups  hs = { 0 }, qs = { 0 };
    size_t         i;

    header_groups(b, 1, &hs);
    for (i = 0; i < b->nq; i++)
        groups_add(&qs, b->q[i].enc_name, b->q[i].enc_value, 0);

    json_object_object_add(elb, "targetGroupArn", json_object_new_string(TARGET_GROUP));
    json_object_object_add(rc, "elb", elb);
    json_object_object_add(o, "requestContext", rc);
    json_object_object_add(o, "httpMethod", json_object_new_string(r->method));
    json_object_object_add(o, "path", json_object_new_string(b->path));
    if (r->multi_value) {
        m = multi_map(&qs);
        json_object_object_add(o, "multiValueQueryStringParameters",
                               m ? m : json_object_new_object());
        m = multi_map(&hs);
        json_object_object_add(o, "multiValueHeaders", m ? m : json_object_new_object());
    } else {
        m = single_map(&qs);
        json_object_object_add(o, "queryStringParameters", m ? m : json_object_new_object());
        m = single_map(&hs);
        json_object_object_add(o, "headers", m ? m : json_object_new_object());
    }
    add_body(o, r, 0);
    groups_free(&hs);
    groups_free(&qs);
    return o;
}

json_object *ember_apigw_event(enum ember_apigw_format f, const struct ember_apigw_request *r)
{
    struct built  b;
    json_object  *o = NULL;

    if (f == EMBER_APIGW_NONE)
        return NULL;
    build_common(&b, r, f);
    switch (f) {
    case EMBER_APIGW_V1:
        o = event_v1(&b, r);
        break;
    case EMBER_APIGW_V2:
    case EMBER_APIGW_URL:
        o = event_v2(&b, r, f);
        break;
    case EMBER_APIGW_ALB:
        o = event_alb(&b, r);
        break;
    default:
        break;
    }
    built_free(&b);
    return o;
}

enum ember_apigw_format ember_apigw_detect(const json_object *event, int *multi_value)
{
    json_object *rc = NULL, *v = NULL;

    if (multi_value)
        *multi_value = 0;
    if (!json_object_is_type(event, json_type_object))
        return EMBER_APIGW_NONE;
    json_object_object_get_ex(event, "requestContext", &rc);
    if (rc && json_object_object_get_ex(rc, "elb", NULL)) {
        if (multi_value)
            *multi_value = json_object_object_get_ex(event, "multiValueHeaders", NULL);
        return EMBER_APIGW_ALB;
    }
    if (json_object_object_get_ex(event, "version", &v) &&
        json_object_is_type(v, json_type_string) &&
        strcmp(json_object_get_string(v), "2.0") == 0) {
        json_object *dn = NULL;

        if (rc && json_object_object_get_ex(rc, "domainName", &dn) &&
            json_object_is_type(dn, json_type_string) &&
            strstr(json_object_get_string(dn), ".lambda-url.") != NULL)
            return EMBER_APIGW_URL;
        return EMBER_APIGW_V2;
    }
    if (json_object_object_get_ex(event, "httpMethod", NULL))
        return EMBER_APIGW_V1;
    return EMBER_APIGW_NONE;
}

int ember_apigw_is_text(const char *content_type)
{
    static const char *const text[] = {
        "json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "csv", "graphql"
    };
    char   *ct;
    char   *semi;
    size_t  i;
    int     yes = 0;

    if (content_type == NULL || *content_type == '\0')
        return 1;
    ct = lower_dup(content_type);
    semi = strchr(ct, ';');
    if (semi)
        *semi = '\0';
    if (strncmp(ct, "text/", 5) == 0)
        yes = 1;
    for (i = 0; !yes && i < sizeof(text) / sizeof(text[0]); i++)
        if (strstr(ct, text[i]) != NULL)
            yes = 1;
    free(ct);
    return yes;
}

/* ------------------------------------------------------------ the response */

/* Append a copy of name: value to res. */
static void res_add(struct ember_apigw_response *res, const char *name, const char *value)
{
    res->headers = ember_xrealloc(res->headers, (res->nheaders + 1) * sizeof(*res->headers));
    res->headers[res->nheaders].name = ember_xstrdup(name);
    res->headers[res->nheaders].value = ember_xstrdup(value);
    res->nheaders++;
}

void ember_apigw_response_clear(struct ember_apigw_response *res)
{
    size_t i;

    for (i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->headers);
    free(res->status_description);
    free(res->body);
    memset(res, 0, sizeof(*res));
}

const char *ember_apigw_response_header(const struct ember_apigw_response *res,
                                        const char *name)
{
    size_t i;

    for (i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

/*
 * Parse exactly len bytes as one JSON value (common/json-strict.c's rules).
 * 0 with *out set (a new object; NULL for `null`), or -1 with why.
 */
static int parse_json(const char *s, size_t len, json_object **out, char *why, size_t whylen)
{
    const char *bad;
    size_t      at;

    if (ember_json_parse(NULL, s, len, out, &at, &bad) != 0) {
        snprintf(why, whylen, "%s at offset %zu", bad, at);
        return -1;
    }
    return 0;
}

/* A header value as API Gateway would stringify it; NULL if it cannot. */
static const char *scalar_string(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_string:
    case json_type_int:
    case json_type_double:
    case json_type_boolean:
        return json_object_get_string(v);
    default:
        return NULL;
    }
}

static int take_status(json_object *o, int required, int *status, struct ember_error *err)
{
    json_object *v = NULL;
    int64_t      n;

    if (!json_object_object_get_ex(o, "statusCode", &v) || v == NULL) {
        if (required)
            return ember_fail(err, 502, "malformed response: no statusCode");
        *status = 200;
        return EMBER_OK;
    }
    if (!json_object_is_type(v, json_type_int))
        return ember_fail(err, 502, "malformed response: statusCode is not an integer (%s)",
                          json_object_to_json_string(v));
    n = json_object_get_int64(v);
    if (n < 100 || n > 599)
        return ember_fail(err, 502, "malformed response: statusCode %lld is not an HTTP status",
                          (long long) n);
    *status = (int) n;
    return EMBER_OK;
}

static int take_body(json_object *o, struct ember_apigw_response *res, struct ember_error *err)
{
    json_object *v = NULL, *b64 = NULL;
    const char  *s = "";
    size_t       n = 0;

    if (json_object_object_get_ex(o, "isBase64Encoded", &b64) && b64 != NULL) {
        if (!json_object_is_type(b64, json_type_boolean))
            return ember_fail(err, 502, "malformed response: isBase64Encoded is not a boolean");
        res->base64 = json_object_get_boolean(b64);
    }
    if (json_object_object_get_ex(o, "body", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_string))
            return ember_fail(err, 502, "malformed response: body is not a string (%s)",
                              json_type_to_name(json_object_get_type(v)));
        s = json_object_get_string(v);
        n = (size_t) json_object_get_string_len(v);
    }
    if (res->base64) {
        if (b64_decode(s, n, &res->body, &res->body_len) != 0)
            return ember_fail(err, 502, "malformed response: body is not valid base64");
    } else {
        res->body = ember_xmalloc(n + 1);
        memcpy(res->body, s, n);
        res->body[n] = '\0';
        res->body_len = n;
    }
    return EMBER_OK;
}

/* headers: {name: scalar} */
static int take_headers(json_object *o, const char *key, struct ember_apigw_response *res,
                        struct ember_error *err)
{
    json_object *h = NULL;

    if (!json_object_object_get_ex(o, key, &h) || h == NULL)
        return EMBER_OK;
    if (!json_object_is_type(h, json_type_object))
        return ember_fail(err, 502, "malformed response: %s is not an object", key);
    {
        json_object_object_foreach(h, name, v) {
            const char *s;

            if (v == NULL)
                continue;
            s = scalar_string(v);
            if (s == NULL)
                return ember_fail(err, 502, "malformed response: %s.%s is not a string",
                                  key, name);
            res_add(res, name, s);
        }
    }
    return EMBER_OK;
}

/* multiValueHeaders: {name: [scalar...]}; skip pairs already present (v1 merge). */
static int take_multi_headers(json_object *o, struct ember_apigw_response *res,
                              int merge_with_headers, struct ember_error *err)
{
    json_object *h = NULL, *single = NULL;
    size_t       i;

    if (!json_object_object_get_ex(o, "multiValueHeaders", &h) || h == NULL)
        return EMBER_OK;
    if (!json_object_is_type(h, json_type_object))
        return ember_fail(err, 502, "malformed response: multiValueHeaders is not an object");
    {
        json_object_object_foreach(h, name, arr) {
            if (arr == NULL)
                continue;
            if (!json_object_is_type(arr, json_type_array))
                return ember_fail(err, 502,
                                  "malformed response: multiValueHeaders.%s is not an array",
                                  name);
            for (i = 0; i < json_object_array_length(arr); i++) {
                const char *s = scalar_string(json_object_array_get_idx(arr, i));

                if (s == NULL)
                    return ember_fail(err, 502, "malformed response: multiValueHeaders.%s[%zu]"
                                      " is not a string", name, i);
                res_add(res, name, s);
            }
        }
    }
    if (!merge_with_headers)
        return EMBER_OK;
    /* v1: headers join the list, except a pair multiValueHeaders already has */
    if (!json_object_object_get_ex(o, "headers", &single) || single == NULL)
        return EMBER_OK;
    if (!json_object_is_type(single, json_type_object))
        return ember_fail(err, 502, "malformed response: headers is not an object");
    {
        size_t nmulti = res->nheaders;

        json_object_object_foreach(single, name, v) {
            const char *s;
            int         dup = 0;

            if (v == NULL)
                continue;
            s = scalar_string(v);
            if (s == NULL)
                return ember_fail(err, 502, "malformed response: headers.%s is not a string",
                                  name);
            for (i = 0; i < nmulti; i++)
                if (strcasecmp(res->headers[i].name, name) == 0 &&
                    strcmp(res->headers[i].value, s) == 0)
                    dup = 1;
            if (!dup)
                res_add(res, name, s);
        }
    }
    return EMBER_OK;
}

static int response_v1(json_object *o, struct ember_apigw_response *res,
                       struct ember_error *err)
{
    static const char *const known[] = {
        "statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"
    };
    size_t i;

    if (!json_object_is_type(o, json_type_object))
        return ember_fail(err, 502, "malformed response: not a JSON object");
    {
        json_object_object_foreach(o, key, v) {
            int ok = 0;

            (void) v;
            for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                if (strcmp(key, known[i]) == 0)
                    ok = 1;
            if (!ok)
                return ember_fail(err, 502, "malformed response: unexpected key \"%s\"", key);
        }
    }
    if (take_status(o, 1, &res->status, err) != EMBER_OK)
        return EMBER_ERROR;
    if (json_object_object_get_ex(o, "multiValueHeaders", NULL)) {
        if (take_multi_headers(o, res, 1, err) != EMBER_OK)
            return EMBER_ERROR;
    } else if (take_headers(o, "headers", res, err) != EMBER_OK) {
        return EMBER_ERROR;
    }
    return take_body(o, res, err);
}

static int response_v2(json_object *o, const char *json, size_t len,
                       struct ember_apigw_response *res, struct ember_error *err)
{
    json_object *c = NULL;
    size_t       i;

    if (!json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "statusCode", NULL)) {
        /* AWS: valid JSON without statusCode is the body of a 200 */
        res->status = 200;
        res_add(res, "content-type", "application/json");
        res->body = ember_xmalloc(len + 1);
        memcpy(res->body, json, len);
        res->body[len] = '\0';
        res->body_len = len;
        return EMBER_OK;
    }
    if (take_status(o, 1, &res->status, err) != EMBER_OK)
        return EMBER_ERROR;
    if (take_headers(o, "headers", res, err) != EMBER_OK)
        return EMBER_ERROR;
    if (json_object_object_get_ex(o, "cookies", &c) && c != NULL) {
        if (!json_object_is_type(c, json_type_array))
            return ember_fail(err, 502, "malformed response: cookies is not an array");
        for (i = 0; i < json_object_array_length(c); i++) {
            json_object *v = json_object_array_get_idx(c, i);

            if (!json_object_is_type(v, json_type_string))
                return ember_fail(err, 502, "malformed response: cookies[%zu] is not a string",
                                  i);
            res_add(res, "set-cookie", json_object_get_string(v));
        }
    }
    return take_body(o, res, err);
}

static int response_alb(json_object *o, int multi_value, struct ember_apigw_response *res,
                        struct ember_error *err)
{
    json_object *d = NULL;

    if (!json_object_is_type(o, json_type_object))
        return ember_fail(err, 502, "malformed response: not a JSON object");
    if (take_status(o, 1, &res->status, err) != EMBER_OK)
        return EMBER_ERROR;
    if (json_object_object_get_ex(o, "statusDescription", &d) && d != NULL) {
        if (!json_object_is_type(d, json_type_string))
            return ember_fail(err, 502, "malformed response: statusDescription is not a string");
        res->status_description = ember_xstrdup(json_object_get_string(d));
    }
    if (multi_value) {
        if (take_multi_headers(o, res, 0, err) != EMBER_OK)
            return EMBER_ERROR;
    } else if (take_headers(o, "headers", res, err) != EMBER_OK) {
        return EMBER_ERROR;
    }
    return take_body(o, res, err);
}

int ember_apigw_response(enum ember_apigw_format f, int multi_value,
                         const char *json, size_t len,
                         struct ember_apigw_response *res, struct ember_error *err)
{
    json_object *o = NULL;
    char         why[128];
    int          rc;

    memset(res, 0, sizeof(*res));
    if (parse_json(json, len, &o, why, sizeof(why)) != 0)
        return ember_fail(err, 502, "malformed response: not JSON (%s)", why);
    switch (f) {
    case EMBER_APIGW_V1:
        rc = response_v1(o, res, err);
        break;
    case EMBER_APIGW_V2:
    case EMBER_APIGW_URL:
        rc = response_v2(o, json, len, res, err);
        break;
    case EMBER_APIGW_ALB:
        rc = response_alb(o, multi_value, res, err);
        break;
    default:
        rc = ember_fail(err, 502, "no HTTP integration for this event");
        break;
    }
    json_object_put(o);
    if (rc != EMBER_OK)
        ember_apigw_response_clear(res);
    else if (res->body == NULL)
        res->body = ember_xstrdup("");
    return rc;
}
