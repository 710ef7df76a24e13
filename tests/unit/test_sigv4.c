/*
 * test_sigv4.c - plugins/db/sigv4.c against published answers:
 *
 *  - AWS's signing-key derivation example (IAM User Guide, "Examples of how
 *    to derive a signing key": secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
 *    20120215, us-east-1, iam);
 *  - AWS's Signature Version 4 test suite (aws-sig-v4-test-suite, as carried
 *    by awslabs/aws-c-auth): for each case with a query string, the canonical
 *    query ember builds, then the canonical request, string to sign and
 *    signature the suite states;
 *  - AWS's presigned-URL example (S3 API Reference, "Authenticating Requests:
 *    Using Query Parameters": GET /test.txt from examplebucket, 86400 s);
 *  - RDS IAM tokens published by four independent implementations' tests
 *    (the .NET Carbon.Data signer, Kong's iam_token_handler spec twice, one
 *    with a session token that needs encoding, and the carepay MySQL JDBC
 *    plugin, whose token string is compared whole).
 */
#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tap.h"
#include "../../plugins/common/plugutil.h"
#include "../../plugins/db/sigv4.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE   "20150830T123600Z"
#define SUITE_SCOPE  "20150830/us-east-1/service/aws4_request"

static int is(const char *got, const char *want, const char *name)
{
    int r = ok(got != NULL && strcmp(got, want) == 0, "%s", name);

    if (!r) {
        diag("got:  %s", got ? got : "(null)");
        diag("want: %s", want);
    }
    return r;
}

/* "20150830T123600Z" as a time_t */
static time_t amz_time(const char *s)
{
    struct tm tm = {0};

    strptime(s, "%Y%m%dT%H%M%SZ", &tm);
    return timegm(&tm);
}

struct suite_case {
    const char                     *name;
    const char                     *method;
    const struct ember_sigv4_param  q[4];
    size_t                          nq;
    const char                     *token;       /* x-amz-security-token header */
    const char                     *cquery;      /* the canonical query the suite states */
    const char                     *creq_hash;   /* the last line of its string to sign */
    const char                     *signature;
};

static const struct suite_case suite[] = {
    {"get-vanilla", "GET", {{0}}, 0, NULL, "",
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query-order-key-case", "GET", {{"Param2", "value2"}, {"Param1", "value1"}}, 2,
     NULL, "Param1=value1&Param2=value2",
     "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-order-encoded", "GET",
     {{"Param-3", "Value3"}, {"Param", "Value2"}, {"\xe1\x88\xb4", "Value1"}}, 3, NULL,
     "%E1%88%B4=Value1&Param=Value2&Param-3=Value3",
     "868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71",
     "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
    {"get-vanilla-query-unreserved", "GET",
     {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}}, 1, NULL,
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query", "GET", {{"\xe1\x88\xb4", "bar"}}, 1, NULL, "%E1%88%B4=bar",
     "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-vanilla-with-session-token", "GET", {{0}}, 0,
     "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267", "",
     "067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
     "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
    {"post-vanilla-query", "POST", {{"Param1", "value1"}}, 1, NULL, "Param1=value1",
     "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
};

static void test_suite(void)
{
    uint8_t key[32];
    size_t  i;

    ember_sigv4_signing_key(SUITE_SECRET, "20150830", "us-east-1", "service", key);
    for (i = 0; i < sizeof(suite) / sizeof(suite[0]); i++) {
        const struct suite_case *c = &suite[i];
        char                    *q = ember_sigv4_canonical_query(c->q, c->nq);
        char                    *creq, *sts, want_sts[512], h[EMBER_SIGV4_HEX_LEN + 1], name[128];
        char                     sig[EMBER_SIGV4_HEX_LEN + 1];

        snprintf(name, sizeof(name), "%s: canonical query", c->name);
        is(q, c->cquery, name);
        if (c->token != NULL) {
            if (asprintf(&creq, "%s\n/\n%s\nhost:example.amazonaws.com\nx-amz-date:" SUITE_DATE
                         "\nx-amz-security-token:%s\n\nhost;x-amz-date;x-amz-security-token\n"
                         EMPTY_SHA256, c->method, q, c->token) < 0)
                abort();
        } else if (asprintf(&creq, "%s\n/\n%s\nhost:example.amazonaws.com\nx-amz-date:"
                            SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY_SHA256, c->method, q) < 0) {
            abort();
        }
        ember_sigv4_sha256_hex(creq, strlen(creq), h);
        snprintf(name, sizeof(name), "%s: SHA-256 of the canonical request", c->name);
        is(h, c->creq_hash, name);
        sts = ember_sigv4_string_to_sign(SUITE_DATE, SUITE_SCOPE, creq);
        snprintf(want_sts, sizeof(want_sts), "AWS4-HMAC-SHA256\n" SUITE_DATE "\n" SUITE_SCOPE
                 "\n%s", c->creq_hash);
        snprintf(name, sizeof(name), "%s: string to sign", c->name);
        is(sts, want_sts, name);
        ember_sigv4_signature(key, sts, sig);
        snprintf(name, sizeof(name), "%s: signature", c->name);
        is(sig, c->signature, name);
        free(q);
        free(creq);
        free(sts);
    }
}

static void test_signing_key(void)
{
    uint8_t key[32];
    char    h[65];
    size_t  i;

    ember_sigv4_signing_key(SUITE_SECRET, "20120215", "us-east-1", "iam", key);
    for (i = 0; i < 32; i++)
        snprintf(h + 2 * i, 3, "%02x", key[i]);
    is(h, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d",
       "signing key: AWS's derivation example (20120215, us-east-1, iam)");
    ember_sigv4_sha256_hex("", 0, h);
    is(h, EMPTY_SHA256, "SHA-256 of nothing");
}

static void test_encode(void)
{
    struct ember_pu_buf b = {0};

    ember_sigv4_encode(&b, "a b/c~d._-*+=&\n", 15);
    is(b.p, "a%20b%2Fc~d._-%2A%2B%3D%26%0A", "encode: reserved bytes as %XX, unreserved kept");
    free(b.p);
}

/* AWS's S3 presigned-URL example. */
static void test_presign_s3(void)
{
    struct ember_sigv4_presign ps = {
        .method = "GET",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt",
        .region = "us-east-1",
        .service = "s3",
        .access_key = "AKIAIOSFODNN7EXAMPLE",
        .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        .when = amz_time("20130524T000000Z"),
        .expires = 86400,
        .payload_hash = "UNSIGNED-PAYLOAD",
    };
    char *creq = NULL;
    char *q = ember_sigv4_presign(&ps, &creq);

    is(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524"
          "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
          "&X-Amz-SignedHeaders=host&X-Amz-Signature="
          "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
       "presign: AWS's S3 example, query and signature");
    is(creq, "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
             "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
             "20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
             "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD",
       "presign: AWS's S3 example, canonical request");
    free(q);
    free(creq);
}

/* The signature of a token, NULL if none. */
static const char *signature_of(const char *token)
{
    const char *s = strstr(token, "X-Amz-Signature=");

    return s != NULL ? s + 16 : NULL;
}

static void test_rds(void)
{
    char *t;

    t = ember_rds_token("cp-ke-test-fake-db.cluster-c3u8jposmdov.eu-west-1.rds.amazonaws.com",
                        3306, "null", "eu-west-1", "ABC", "DEF", "GHI",
                        amz_time("20211012T121314Z"));
    is(t, "cp-ke-test-fake-db.cluster-c3u8jposmdov.eu-west-1.rds.amazonaws.com:3306/?Action="
          "connect&DBUser=null&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ABC%2F20211012"
          "%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20211012T121314Z&X-Amz-Expires=900"
          "&X-Amz-Security-Token=GHI&X-Amz-SignedHeaders=host&X-Amz-Signature="
          "c51622f22daffcfaa6707878fb009853f3764ec02246dd2d0a2c9e0c1c6bad37",
       "RDS token, whole: the JDBC plugin's (session token GHI)");
    free(t);

    t = ember_rds_token("carbon.db", 3010, "carbon", "us-east-1", "carbon", SUITE_SECRET, NULL,
                        amz_time("20160101T000000Z"));
    is(t, "carbon.db:3010/?Action=connect&DBUser=carbon&X-Amz-Algorithm=AWS4-HMAC-SHA256"
          "&X-Amz-Credential=carbon%2F20160101%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date="
          "20160101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature="
          "7c7f54b5f2ae7de227c96b59680f1a443562785addb8c62c0f674b052c3ebfae",
       "RDS token, whole: Carbon.Data's (no session token)");
    free(t);

    t = ember_rds_token("test_database.test_cluster.us-east-1.rds.amazonaws.com", 443,
                        "test_user", "us-east-1", "test_id", "test_key", NULL,
                        (time_t) 1667543171);
    is(signature_of(t), "ff72d46f1937c1f5917f69d694929ca814b781619b8d730451c7ffef050059b0",
       "RDS token signature: Kong's (environment credentials)");
    free(t);

    t = ember_rds_token("test_database.test_cluster.us-east-1.rds.amazonaws.com", 443,
                        "test_user", "us-east-1", "test_access_key", "test_secret_key",
                        "\n      test_session_token\n    ", amz_time("20321101T062621Z"));
    ok(strstr(t, "&X-Amz-Security-Token=%0A%20%20%20%20%20%20test_session_token%0A%20%20%20%20"
                 "&X-Amz-SignedHeaders=host&") != NULL,
       "RDS token: a session token with blanks is encoded");
    is(signature_of(t), "31aa805cd9c7e5929b4a0e25718d933d006ae130156f8b66b60861548fc771ce",
       "RDS token signature: Kong's (assumed role, session token)");
    free(t);

    /* The date in the scope follows the signing time, in UTC. */
    t = ember_rds_token("h", 5432, "u", "eu-west-1", "AK", "SK", NULL,
                        amz_time("20251231T235959Z"));
    ok(strstr(t, "AK%2F20251231%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20251231T235959Z")
       != NULL, "RDS token: scope date and X-Amz-Date from the signing time");
    ok(strncmp(t, "h:5432/?Action=connect&DBUser=u&", 32) == 0, "RDS token: HOST:PORT/?, no scheme");
    free(t);
}

int main(void)
{
    test_signing_key();
    test_encode();
    test_suite();
    test_presign_s3();
    test_rds();
    return done_testing();
}
