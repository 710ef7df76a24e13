/*
 * sigv4.c - AWS Signature Version 4 in the presigned (query string) form,
 * and the RDS IAM token (see sigv4.h).  Spec: AWS's "Create a signed AWS
 * API request" and "Authenticating Requests: Using Query Parameters";
 * checked against AWS's published test suite in tests/unit/test_sigv4.c.
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "../common/plugutil.h"
#include "sigv4.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

static void hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t            i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void ember_sigv4_sha256_hex(const void *data, size_t len, char out[EMBER_SIGV4_HEX_LEN + 1])
{
    struct sha256_ctx c;
    uint8_t           d[SHA256_DIGEST_SIZE];

    sha256_init(&c);
    sha256_update(&c, len, data);
    sha256_digest(&c, sizeof(d), d);
    hex(d, sizeof(d), out);
}

static void hmac(const uint8_t *key, size_t klen, const char *msg, size_t mlen,
                 uint8_t out[SHA256_DIGEST_SIZE])
{
    struct hmac_sha256_ctx c;

    hmac_sha256_set_key(&c, klen, key);
    hmac_sha256_update(&c, mlen, (const uint8_t *) msg);
    hmac_sha256_digest(&c, SHA256_DIGEST_SIZE, out);
    explicit_bzero(&c, sizeof(c));
}

void ember_sigv4_encode(struct ember_pu_buf *b, const char *s, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    char              e[3];
    size_t            i, run = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_' || c == '.' || c == '~') {
            run++;
            continue;
        }
        if (run > 0)
            ember_pu_buf_add(b, s + i - run, run);
        run = 0;
        e[0] = '%';
        e[1] = digits[c >> 4];
        e[2] = digits[c & 15];
        ember_pu_buf_add(b, e, 3);
    }
    if (run > 0)
        ember_pu_buf_add(b, s + n - run, run);
}

struct pair {
    char *name;
    char *value;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int                r = strcmp(x->name, y->name);

    return r != 0 ? r : strcmp(x->value, y->value);
}

static char *encoded(const char *s)
{
    struct ember_pu_buf b = {0};

    ember_sigv4_encode(&b, s, strlen(s));
    if (b.p == NULL)
        return ember_pu_xstrdup("");
    return b.p;
}

char *ember_sigv4_canonical_query(const struct ember_sigv4_param *p, size_t n)
{
    struct pair        *v = ember_pu_xcalloc(n, sizeof(*v));
    struct ember_pu_buf b = {0};
    size_t              i;

    for (i = 0; i < n; i++) {
        v[i].name = encoded(p[i].name);
        v[i].value = encoded(p[i].value);
    }
    qsort(v, n, sizeof(*v), pair_cmp);
    ember_pu_buf_adds(&b, "");
    for (i = 0; i < n; i++) {
        if (i > 0)
            ember_pu_buf_adds(&b, "&");
        ember_pu_buf_adds(&b, v[i].name);
        ember_pu_buf_adds(&b, "=");
        ember_pu_buf_adds(&b, v[i].value);
        explicit_bzero(v[i].value, strlen(v[i].value));
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
    return b.p;
}

void ember_sigv4_signing_key(const char *secret, const char *date, const char *region,
                             const char *service, uint8_t key[32])
{
    size_t  n = strlen(secret);
    uint8_t *k = ember_pu_xmalloc(n + 4);
    uint8_t a[SHA256_DIGEST_SIZE], b[SHA256_DIGEST_SIZE];

    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, n);
    hmac(k, n + 4, date, strlen(date), a);
    hmac(a, sizeof(a), region, strlen(region), b);
    hmac(b, sizeof(b), service, strlen(service), a);
    hmac(a, sizeof(a), "aws4_request", 12, key);
    explicit_bzero(k, n + 4);
    explicit_bzero(a, sizeof(a));
    explicit_bzero(b, sizeof(b));
    free(k);
}

char *ember_sigv4_string_to_sign(const char *amz_date, const char *scope, const char *creq)
{
    char  h[EMBER_SIGV4_HEX_LEN + 1];
    char *s;

    ember_sigv4_sha256_hex(creq, strlen(creq), h);
    if (asprintf(&s, ALGORITHM "\n%s\n%s\n%s", amz_date, scope, h) < 0)
        abort();
    return s;
}

void ember_sigv4_signature(const uint8_t key[32], const char *sts,
                           char out[EMBER_SIGV4_HEX_LEN + 1])
{
    uint8_t d[SHA256_DIGEST_SIZE];

    hmac(key, 32, sts, strlen(sts), d);
    hex(d, sizeof(d), out);
}

char *ember_sigv4_presign(const struct ember_sigv4_presign *ps, char **creq_out)
{
    struct ember_sigv4_param *p = ember_pu_xcalloc(ps->nparams + 6, sizeof(*p));
    char                      amz_date[17], date[9], expires[16], empty[EMBER_SIGV4_HEX_LEN + 1];
    char                      sig[EMBER_SIGV4_HEX_LEN + 1];
    char                     *scope, *credential, *query, *creq, *sts, *out;
    uint8_t                   key[32];
    struct tm                 tm;
    size_t                    n = 0, i;

    gmtime_r(&ps->when, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    snprintf(expires, sizeof(expires), "%u", ps->expires);
    if (asprintf(&scope, "%s/%s/%s/aws4_request", date, ps->region, ps->service) < 0
        || asprintf(&credential, "%s/%s", ps->access_key, scope) < 0)
        abort();

    for (i = 0; i < ps->nparams; i++)
        p[n++] = ps->params[i];
    p[n++] = (struct ember_sigv4_param) {"X-Amz-Algorithm", ALGORITHM};
    p[n++] = (struct ember_sigv4_param) {"X-Amz-Credential", credential};
    p[n++] = (struct ember_sigv4_param) {"X-Amz-Date", amz_date};
    p[n++] = (struct ember_sigv4_param) {"X-Amz-Expires", expires};
    if (ps->session_token != NULL && *ps->session_token != '\0')
        p[n++] = (struct ember_sigv4_param) {"X-Amz-Security-Token", ps->session_token};
    p[n++] = (struct ember_sigv4_param) {"X-Amz-SignedHeaders", "host"};
    query = ember_sigv4_canonical_query(p, n);
    free(p);

    if (ps->payload_hash == NULL)
        ember_sigv4_sha256_hex("", 0, empty);
    if (asprintf(&creq, "%s\n%s\n%s\nhost:%s\n\nhost\n%s", ps->method, ps->path, query,
                 ps->host, ps->payload_hash != NULL ? ps->payload_hash : empty) < 0)
        abort();
    sts = ember_sigv4_string_to_sign(amz_date, scope, creq);
    ember_sigv4_signing_key(ps->secret_key, date, ps->region, ps->service, key);
    ember_sigv4_signature(key, sts, sig);
    explicit_bzero(key, sizeof(key));

    if (asprintf(&out, "%s&X-Amz-Signature=%s", query, sig) < 0)
        abort();
    explicit_bzero(query, strlen(query));
    free(query);
    free(sts);
    free(scope);
    free(credential);
    if (creq_out != NULL)
        *creq_out = creq;
    else
        free(creq);
    return out;
}

char *ember_rds_token(const char *host, int port, const char *user, const char *region,
                      const char *access_key, const char *secret_key,
                      const char *session_token, time_t when)
{
    const struct ember_sigv4_param params[] = {
        {"Action", "connect"},
        {"DBUser", user},
    };
    struct ember_sigv4_presign ps = {
        .method = "GET",
        .path = "/",
        .params = params,
        .nparams = 2,
        .region = region,
        .service = "rds-db",
        .access_key = access_key,
        .secret_key = secret_key,
        .session_token = session_token,
        .when = when,
        .expires = EMBER_RDS_TOKEN_TTL,
    };
    char *hostport, *query, *token;

    if (asprintf(&hostport, "%s:%d", host, port) < 0)
        abort();
    ps.host = hostport;
    query = ember_sigv4_presign(&ps, NULL);
    if (asprintf(&token, "%s/?%s", hostport, query) < 0)
        abort();
    explicit_bzero(query, strlen(query));
    free(query);
    free(hostport);
    return token;
}
