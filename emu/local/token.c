/*
 * token.c - `ember-local token`: mint an HS256 JWT for trying a service.
 *
 *   ember-local token --sub alice --ttl 3600            # secret from $JWT_SECRET
 *   ember-local token --sub bob --claim scope=admin --claim n=3 --secret-env MY_SECRET
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <json-c/json.h>

#include "base64.h"
#include "error.h"
#include "xalloc.h"
#include "token.h"

char *ember_base64url(const void *data, size_t len)
{
    char *out = ember_xmalloc(ember_b64_encoded_len(EMBER_B64_URL, len) + 1);

    ember_b64_encode(EMBER_B64_URL, data, len, out);
    return out;
}

int ember_token_hs256(const struct json_object *claims, const void *secret, size_t secret_len,
                      char **token, struct ember_error *err)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    unsigned char mac[32];
    char *h, *c, *s, *signing;
    const char *json;
    int rc;

    *token = NULL;
    json = json_object_to_json_string_ext((struct json_object *)claims, JSON_C_TO_STRING_PLAIN);
    h = ember_base64url(header, sizeof(header) - 1);
    c = ember_base64url(json, strlen(json));
    signing = ember_xasprintf("%s.%s", h, c);
    free(h);
    free(c);
    rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, secret_len, signing, strlen(signing), mac);
    if (rc < 0) {
        free(signing);
        return ember_fail(err, 500, "HMAC-SHA256: %s", gnutls_strerror(rc));
    }
    s = ember_base64url(mac, sizeof(mac));
    *token = ember_xasprintf("%s.%s", signing, s);
    free(signing);
    free(s);
    return EMBER_OK;
}

static void usage(FILE *f)
{
    fputs("usage: ember-local token [--sub SUB] [--ttl SECONDS] [--iss ISS] [--aud AUD]\n"
          "                         [--claim NAME=VALUE]... [--secret-env NAME]\n"
          "Prints an HS256 JWT signed with the secret in $JWT_SECRET (or --secret-env NAME):\n"
          "claims iat, exp = now + ttl (default 3600; negative: already expired), sub, iss,\n"
          "aud, and each --claim (VALUE is JSON if it parses as JSON, else a string).\n", f);
}

/* A --claim value: a JSON number/bool/array/object/null when it parses as one, else a string. */
static json_object *claim_value(const char *v)
{
    json_object *o;
    enum json_tokener_error e;

    if (*v == '\0')
        return json_object_new_string("");
    o = json_tokener_parse_verbose(v, &e);
    if (e == json_tokener_success && !json_object_is_type(o, json_type_string))
        return o;
    json_object_put(o);
    return json_object_new_string(v);
}

int ember_token_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "sub", required_argument, NULL, 's' },
        { "ttl", required_argument, NULL, 't' },
        { "iss", required_argument, NULL, 'i' },
        { "aud", required_argument, NULL, 'a' },
        { "claim", required_argument, NULL, 'c' },
        { "secret-env", required_argument, NULL, 'e' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *secret_env = "JWT_SECRET", *secret;
    json_object *claims = json_object_new_object(), *extra = json_object_new_object();
    long long ttl = 3600, now = (long long)time(NULL);
    struct ember_error err = { 0 };
    char *token, *end;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "s:t:i:a:c:e:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            json_object_object_add(extra, "sub", json_object_new_string(optarg));
            break;
        case 'i':
            json_object_object_add(extra, "iss", json_object_new_string(optarg));
            break;
        case 'a':
            json_object_object_add(extra, "aud", json_object_new_string(optarg));
            break;
        case 't':
            errno = 0;
            ttl = strtoll(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0') {
                fprintf(stderr, "ember-local token: --ttl %s: expected seconds (an integer)\n",
                        optarg);
                goto fail;
            }
            break;
        case 'c': {
            const char *eq = strchr(optarg, '=');
            char *name;

            if (eq == NULL || eq == optarg) {
                fprintf(stderr, "ember-local token: --claim %s: expected NAME=VALUE\n", optarg);
                goto fail;
            }
            name = ember_xstrndup(optarg, (size_t)(eq - optarg));
            json_object_object_add(extra, name, claim_value(eq + 1));
            free(name);
            break;
        }
        case 'e':
            secret_env = optarg;
            break;
        case 'h':
            usage(stdout);
            json_object_put(claims);
            json_object_put(extra);
            return 0;
        default:
            usage(stderr);
            goto fail;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ember-local token: unexpected argument \"%s\"\n", argv[optind]);
        goto fail;
    }
    secret = getenv(secret_env);
    if (secret == NULL || *secret == '\0') {
        fprintf(stderr, "ember-local token: $%s is not set: export the same secret the service "
                "reads (conf/ember.conf: secret_env), e.g. export %s=$(head -c 32 /dev/urandom "
                "| base64)\n", secret_env, secret_env);
        goto fail;
    }
    json_object_object_add(claims, "iat", json_object_new_int64(now));
    json_object_object_add(claims, "exp", json_object_new_int64(now + ttl));
    json_object_object_foreach(extra, k, v)
        json_object_object_add(claims, k, json_object_get(v));
    if (ember_token_hs256(claims, secret, strlen(secret), &token, &err) != EMBER_OK) {
        fprintf(stderr, "ember-local token: %s\n", err.message);
        goto fail;
    }
    printf("%s\n", token);
    free(token);
    json_object_put(claims);
    json_object_put(extra);
    return 0;

fail:
    json_object_put(claims);
    json_object_put(extra);
    return 2;
}
