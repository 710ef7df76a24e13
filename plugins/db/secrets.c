/*
 * secrets.c - database credentials from the AWS Parameters and Secrets
 * Lambda Extension (see secrets.h).
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../common/httpget.h"
#include "../common/plugutil.h"
#include "json-strict.h"
#include "secrets.h"
#include "sigv4.h"

static int failf(char *why, size_t size, const char *fmt, const char *a)
{
    snprintf(why, size, fmt, a);
    return -1;
}

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* A JSON text parsed strictly (common/json-strict.c), or NULL. Caller puts. */
static struct json_object *parse(const char *s)
{
    struct json_object *o;
    const char         *why;
    size_t              at;

    return ember_json_parse(NULL, s, strlen(s), &o, &at, &why) == 0 ? o : NULL;
}

int ember_secret_fetch(const char *id, int64_t end, char **out, char *why, size_t why_size)
{
    const char             *token = getenv("AWS_SESSION_TOKEN");
    const char             *ps = getenv(EMBER_SECRETS_PORT_ENV);
    struct ember_pu_buf     target = {0};
    struct ember_http_reply r;
    struct json_object     *o, *v;
    const char             *hv[2];
    char                   *hdr, err[200];
    long                    port = EMBER_SECRETS_DEFAULT_PORT;
    int                     rc;

    *out = NULL;
    if (token == NULL || *token == '\0')
        return failf(why, why_size, "%sAWS_SESSION_TOKEN is not set (the Secrets extension "
                     "needs it)", "");
    if (ps != NULL && *ps != '\0' && ember_pu_parse_long(ps, 1, 65535, &port) != 0)
        return failf(why, why_size, "$" EMBER_SECRETS_PORT_ENV " \"%s\" is not a port", ps);

    ember_pu_buf_adds(&target, "/secretsmanager/get?secretId=");
    ember_sigv4_encode(&target, id, strlen(id));
    if (asprintf(&hdr, "X-Aws-Parameters-Secrets-Token: %s", token) < 0)
        abort();
    hv[0] = hdr;
    hv[1] = NULL;
    rc = ember_http_get((int) port, target.p, hv, end, &r, err, sizeof(err));
    wipe_free(hdr);
    free(target.p);
    if (rc != 0) {
        snprintf(why, why_size, "the Secrets extension at localhost:%ld: %s", port, err);
        return -1;
    }
    if (r.status != 200) {
        snprintf(why, why_size, "the Secrets extension at localhost:%ld answered %d "
                 "(is the secret's ARN right, and secretsmanager:GetSecretValue allowed?)",
                 port, r.status);
        wipe_free(r.body);
        return -1;
    }
    o = parse(r.body);
    wipe_free(r.body);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return failf(why, why_size, "%sthe Secrets extension's answer is not a JSON object", "");
    }
    if (!json_object_object_get_ex(o, "SecretString", &v) || !json_object_is_type(v, json_type_string)
        || json_object_get_string_len(v) == 0) {
        json_object_put(o);
        return failf(why, why_size, "%sthe secret has no SecretString (a binary secret?)", "");
    }
    *out = ember_pu_xstrdup(json_object_get_string(v));
    /* json-c keeps its copy until the put: wipe it too */
    explicit_bzero((char *) json_object_get_string(v), (size_t) json_object_get_string_len(v));
    json_object_put(o);
    return 0;
}

/* k='v' with ' and \ escaped, appended. */
static void kv(struct ember_pu_buf *b, const char *k, const char *v)
{
    const char *p;

    if (b->len > 0)
        ember_pu_buf_adds(b, " ");
    ember_pu_buf_adds(b, k);
    ember_pu_buf_adds(b, "='");
    for (p = v; *p != '\0'; p++) {
        if (*p == '\'' || *p == '\\')
            ember_pu_buf_add(b, "\\", 1);
        ember_pu_buf_add(b, p, 1);
    }
    ember_pu_buf_adds(b, "'");
}

/* The field as text (strings as they are, integers as digits), or NULL. */
static const char *field(struct json_object *o, const char *name, char *num, size_t size)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, name, &v))
        return NULL;
    if (json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    if (json_object_is_type(v, json_type_int)) {
        snprintf(num, size, "%lld", (long long) json_object_get_int64(v));
        return num;
    }
    return NULL;
}

int ember_secret_conninfo(const char *s, char **out, char *why, size_t why_size)
{
    static const char *const map[][2] = {
        {"host", "host"}, {"port", "port"}, {"username", "user"}, {"password", "password"},
        {"dbname", "dbname"},
    };
    struct ember_pu_buf b = {0};
    struct json_object *o;
    const char         *v;
    char                num[32];
    size_t              i;

    *out = NULL;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (*s != '{') {
        if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0
            || strchr(s, '=') != NULL) {
            *out = ember_pu_xstrdup(s);
            return 0;
        }
        return failf(why, why_size, "%sthe secret is neither a postgres:// URL, a key=value "
                     "string nor the RDS JSON", "");
    }
    o = parse(s);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return failf(why, why_size, "%sthe secret starts with { but is not a JSON object", "");
    }
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        v = field(o, map[i][0], num, sizeof(num));
        if (v != NULL && *v != '\0')
            kv(&b, map[i][1], v);
        else if (strcmp(map[i][0], "host") == 0 || strcmp(map[i][0], "username") == 0) {
            json_object_put(o);
            if (b.p != NULL)
                wipe_free(b.p);
            return failf(why, why_size, "the secret's JSON has no \"%s\" (RDS writes "
                         "username, password, host, port, dbname)", map[i][0]);
        }
    }
    json_object_put(o);
    *out = b.p;
    return 0;
}

int ember_secret_password(const char *s, char **out, char *why, size_t why_size)
{
    struct json_object *o;
    const char         *v;
    char                num[32];

    *out = NULL;
    if (*s != '{') {
        *out = ember_pu_xstrdup(s);
        return 0;
    }
    o = parse(s);
    v = o != NULL && json_object_is_type(o, json_type_object)
        ? field(o, "password", num, sizeof(num)) : NULL;
    if (v == NULL || *v == '\0') {
        json_object_put(o);
        return failf(why, why_size, "%sthe secret is JSON without a \"password\"", "");
    }
    *out = ember_pu_xstrdup(v);
    json_object_put(o);
    return 0;
}
