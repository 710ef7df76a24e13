/*
 * test_common.c - common/: the one set of rules the core and every plugin
 * share (they compile the same source files): strict UTF-8, HTTP tokens,
 * environment variable names, base64 and base64url, strict JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../tap.h"
#include "base64.h"
#include "json-strict.h"
#include "text.h"

#define LIT(s) (const unsigned char *) (s), sizeof(s) - 1

static void test_utf8(void)
{
    static const struct {
        const char *s;
        size_t      n;
        int         valid;
        const char *name;
    } cases[] = {
        { "", 0, 1, "empty" },
        { "plain ascii", 11, 1, "ascii" },
        { "\x00", 1, 1, "a NUL byte is UTF-8" },
        { "caf\xc3\xa9", 5, 1, "2 bytes" },
        { "\xe2\x82\xac", 3, 1, "3 bytes" },
        { "\xf0\x9f\x98\x80", 4, 1, "4 bytes" },
        { "\xf4\x8f\xbf\xbf", 4, 1, "U+10FFFF" },
        { "\xef\xbf\xbd", 3, 1, "U+FFFD" },
        { "\xff", 1, 0, "0xff" },
        { "\x80", 1, 0, "a lone continuation byte" },
        { "\xc0\xaf", 2, 0, "overlong 2 bytes (C0)" },
        { "\xc1\xbf", 2, 0, "overlong 2 bytes (C1)" },
        { "\xe0\x80\xaf", 3, 0, "overlong 3 bytes" },
        { "\xf0\x80\x80\xaf", 4, 0, "overlong 4 bytes" },
        { "\xed\xa0\x80", 3, 0, "a surrogate (U+D800)" },
        { "\xed\xbf\xbf", 3, 0, "a surrogate (U+DFFF)" },
        { "\xf4\x90\x80\x80", 4, 0, "past U+10FFFF" },
        { "\xf5\x80\x80\x80", 4, 0, "0xf5" },
        { "\xc3", 1, 0, "truncated 2 bytes" },
        { "\xe2\x82", 2, 0, "truncated 3 bytes" },
        { "\xe2\x28\xa1", 3, 0, "a bad continuation" },
        { "ok\xc3\xa9\xff", 5, 0, "valid, then not" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        is_int(ember_utf8_valid((const unsigned char *) cases[i].s, cases[i].n),
               cases[i].valid, "utf8: %s", cases[i].name);
    is_int((long long) ember_utf8_len(LIT("a")), 1, "utf8_len: ascii");
    is_int((long long) ember_utf8_len(LIT("\xc3\xa9x")), 2, "utf8_len: 2 bytes, then more");
    is_int((long long) ember_utf8_len(LIT("\xf0\x9f\x98\x80")), 4, "utf8_len: 4 bytes");
    is_int((long long) ember_utf8_len(LIT("\xed\xa0\x80")), 0, "utf8_len: surrogate");
    is_int((long long) ember_utf8_len(LIT("\xe2\x82")), 0, "utf8_len: truncated");
    is_int((long long) ember_utf8_len((const unsigned char *) "", 0), 0, "utf8_len: nothing");
}

static void test_tokens(void)
{
    static const char *const good[] = {
        "GET", "x-api-key", "Authorization", "Bearer", "a!#$%&'*+-.^_`|~9",
    };
    static const char *const bad[] = {
        "", "a b", "a:b", "a/b", "a\"b", "(x)", "a,b", "\xc3\xa9", "a\tb", "a@b", "{x}",
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        is_int(ember_http_token(good[i]), 1, "token: \"%s\"", good[i]);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        is_int(ember_http_token(bad[i]), 0, "not a token: \"%s\"", bad[i]);
    is_int(ember_http_tchar('\0'), 0, "tchar: NUL is not one");
}

static void test_env_names(void)
{
    static const char *const good[] = { "DATABASE_URL", "_x", "a1", "JWT_SECRET_2", "x" };
    static const char *const bad[] = { "", "1DB", "9", "A-B", "A B", "A=B", "$A", "A.B",
                                       "\xc3\xa9" };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        is_int(ember_env_name(good[i]), 1, "env name: \"%s\"", good[i]);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        is_int(ember_env_name(bad[i]), 0, "not an env name: \"%s\"", bad[i]);
}

/* Decode s with alphabet a: the bytes (hex) or "-1". */
static const char *decoded(enum ember_b64 a, const char *s, char *out, size_t cap)
{
    unsigned char buf[64];
    size_t        n, i, o = 0;

    if (ember_b64_decode(a, s, strlen(s), buf, &n) != 0)
        return "-1";
    for (i = 0; i < n && o + 3 < cap; i++)
        o += (size_t) snprintf(out + o, cap - o, "%02x", buf[i]);
    out[o] = '\0';
    return out;
}

static void test_base64(void)
{
    static const unsigned char bytes[] = { 0xfb, 0xff, 0xbf, 0x00, 0x10 };
    char   out[64], hex[64];
    size_t k;

    ember_b64_encode(EMBER_B64_STD, bytes, 5, out);
    is_str(out, "+/+/ABA=", "std: + / and padding");
    is_int((long long) ember_b64_encoded_len(EMBER_B64_STD, 5), 8, "std: encoded length");
    ember_b64_encode(EMBER_B64_URL, bytes, 5, out);
    is_str(out, "-_-_ABA", "url: - _ and no padding");
    is_int((long long) ember_b64_encoded_len(EMBER_B64_URL, 5), 7, "url: encoded length");
    for (k = 0; k <= 5; k++) {
        size_t n;

        ember_b64_encode(EMBER_B64_URL, bytes, k, out);
        ok(ember_b64_decode(EMBER_B64_URL, out, strlen(out), (unsigned char *) hex, &n) == 0
           && n == k && memcmp(hex, bytes, k) == 0, "url: %zu bytes round-trip", k);
    }
    is_str(decoded(EMBER_B64_STD, "+/+/ABA=", hex, sizeof(hex)), "fbffbf0010", "std: decode");
    is_str(decoded(EMBER_B64_STD, "+/+/ABA", hex, sizeof(hex)), "fbffbf0010",
           "std: decode without padding");
    is_str(decoded(EMBER_B64_URL, "-_-_ABA", hex, sizeof(hex)), "fbffbf0010", "url: decode");
    is_str(decoded(EMBER_B64_URL, "-_-_ABA=", hex, sizeof(hex)), "fbffbf0010",
           "url: full padding taken");
    is_str(decoded(EMBER_B64_URL, "+/+/ABA", hex, sizeof(hex)), "-1", "url: + and / refused");
    is_str(decoded(EMBER_B64_STD, "-_-_ABA", hex, sizeof(hex)), "-1", "std: - and _ refused");
    is_str(decoded(EMBER_B64_URL, "Zg=", hex, sizeof(hex)), "-1", "url: partial padding");
    is_str(decoded(EMBER_B64_URL, "Zg===", hex, sizeof(hex)), "-1", "url: excess padding");
    is_str(decoded(EMBER_B64_URL, "Z", hex, sizeof(hex)), "-1", "url: 6 bits alone");
    is_str(decoded(EMBER_B64_URL, "Zg==Zg", hex, sizeof(hex)), "-1", "url: = in the middle");
    is_str(decoded(EMBER_B64_URL, "Zm 9v", hex, sizeof(hex)), "-1", "url: a space");
    is_str(decoded(EMBER_B64_URL, "", hex, sizeof(hex)), "", "url: empty");
    is_int(ember_b64_value(EMBER_B64_URL, '_'), 63, "url: value of _");
    is_int(ember_b64_value(EMBER_B64_URL, '/'), -1, "url: / has none");
    is_int(ember_b64_value(EMBER_B64_STD, '/'), 63, "std: value of /");
}

/* Parse s (n bytes): "ok:" and the value re-serialised, or "at N: why". */
static const char *parsed(const char *s, size_t n, char *out, size_t cap)
{
    struct json_object *o;
    const char         *why;
    size_t              at;

    if (ember_json_parse(NULL, s, n, &o, &at, &why) != 0) {
        snprintf(out, cap, "at %zu: %s", at, why);
        return out;
    }
    snprintf(out, cap, "ok:%s", o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)
                                  : "null");
    json_object_put(o);
    return out;
}

#define PARSED(lit) parsed(lit, sizeof(lit) - 1, buf, sizeof(buf))

static void test_json(void)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object  *o;
    const char          *why;
    char                 buf[200];
    size_t               at;

    is_str(PARSED("{\"a\":1}"), "ok:{\"a\":1}", "json: an object");
    is_str(PARSED(" \t\r\n[1,2] \n"), "ok:[1,2]", "json: whitespace around");
    is_str(PARSED("5"), "ok:5", "json: a bare number ends at the end of input");
    is_str(PARSED("true"), "ok:true", "json: a bare literal");
    is_str(PARSED("null"), "ok:null", "json: null is a value (NULL)");
    is_str(PARSED("\"s\""), "ok:\"s\"", "json: a string");
    is_str(PARSED(""), "at 0: unexpected end of data", "json: nothing");
    is_str(PARSED("{} x"), "at 3: unexpected character", "json: text after");
    is_str(PARSED("{}{}"), "at 2: unexpected character", "json: two values");
    is_str(PARSED("1 2"), "at 2: unexpected character", "json: two numbers");
    is_str(PARSED("{\"a\":1,}"), "at 7: unexpected character", "json: trailing comma (strict)");
    is_str(PARSED("[1,2,]"), "at 5: unexpected character", "json: trailing comma in an array");
    is_str(PARSED("{\"a\":01}"), "at 7: number expected", "json: a leading zero (strict)");
    is_str(PARSED("{\"a\"\0:1}"), "at 4: NUL byte", "json: a NUL byte");
    is_str(PARSED("[1]\v"), "at 3: unexpected character", "json: \\v is not JSON whitespace");
    is_str(PARSED("[\"\xff\"]"), "ok:[\"\xff\"]",
           "json: UTF-8 is not this rule's (callers that need text check ember_utf8_valid)");
    is_str(PARSED("[\"\xc3\xa9\"]"), "ok:[\"\xc3\xa9\"]", "json: UTF-8 in a string");
    ok(ember_json_parse(tok, "[1", 2, &o, &at, &why) == -1 && o == NULL,
       "json: a reused tokener: truncated fails");
    ok(ember_json_parse(tok, "[1]", 3, &o, &at, &why) == 0 && o != NULL,
       "json: the same tokener parses the next input afresh");
    json_object_put(o);
    json_tokener_free(tok);
}

int main(void)
{
    test_utf8();
    test_tokens();
    test_env_names();
    test_base64();
    test_json();
    return done_testing();
}
