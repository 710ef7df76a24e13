/*
 * creds-conn.c - db-creds.so, the part of IAM authentication and secrets
 * that a connect needs: the RDS token (sigv4.c, nettle linked in
 * statically), the secrets fetch (secrets.c, plugins/common/httpget.c) and
 * the cache of fetched secrets.  db.so dlopen()s it from its own directory
 * at the first connect that uses iam_auth or a *_secret (creds.c), so a
 * config that uses neither never maps it.  Not a plugin: it exports one
 * symbol, ember_db_creds_ops.  Nothing here logs a secret, a token or a
 * connection string.
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "creds.h"
#include "secrets.h"
#include "sigv4.h"

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* ---------------------------------------------------------------- the cache */

/* One fetched secret, kept for the life of the process (wiped at fini). */
struct cached {
    struct cached *next;
    char          *arn;
    char          *value;
};

static struct cached *cache;

static struct cached *cache_find(const char *arn)
{
    struct cached *c;

    for (c = cache; c != NULL; c = c->next)
        if (strcmp(c->arn, arn) == 0)
            return c;
    return NULL;
}

/* Fetch arn (always) into the cache. 0, or -1 with why. *changed: differs from before. */
static int cache_fetch(const char *arn, int64_t end, int *changed, char *why, size_t wn)
{
    struct cached *c = cache_find(arn);
    char          *v;

    if (ember_secret_fetch(arn, end, &v, why, wn) != 0)
        return -1;
    if (c == NULL) {
        c = ember_pu_xcalloc(1, sizeof(*c));
        c->arn = ember_pu_xstrdup(arn);
        c->next = cache;
        cache = c;
    }
    *changed = c->value == NULL || strcmp(c->value, v) != 0;
    wipe_free(c->value);
    c->value = v;
    return 0;
}

/* The cached value of arn, fetched if not yet; NULL with why on failure. */
static const char *secret(const char *arn, int64_t end, int *fetched, char *why, size_t wn)
{
    struct cached *c = cache_find(arn);
    int            changed;

    if (c != NULL && c->value != NULL)
        return c->value;
    if (cache_fetch(arn, end, &changed, why, wn) != 0)
        return NULL;
    *fetched = 1;
    return cache_find(arn)->value;
}

/* A value that could not be used is not kept: the next connect asks again. */
static void cache_forget(const char *arn)
{
    struct cached *c = cache_find(arn);

    if (c != NULL) {
        wipe_free(c->value);
        c->value = NULL;
    }
}

static void conn_fini(void)
{
    struct cached *c, *next;

    for (c = cache; c != NULL; c = next) {
        next = c->next;
        wipe_free(c->value);
        free(c->arn);
        free(c);
    }
    cache = NULL;
}

/* ---------------------------------------------------------------- one connect */

static void conninfo_clear(struct ember_db_conninfo *ci)
{
    free(ci->host);
    free(ci->port);
    free(ci->user);
    free(ci->sslmode);
    memset(ci, 0, sizeof(*ci));
}

static int iam_token(struct ember_db *db, const struct ember_db_creds *cr, const char *base,
                     struct ember_db_creds_conn *cc, struct ember_error *err,
                     ember_db_conninfo_fn parse)
{
    const struct ember_host  *host = db->host;
    const char               *akid = getenv("AWS_ACCESS_KEY_ID");
    const char               *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char               *st = getenv("AWS_SESSION_TOKEN");
    const char               *region = cr->region != NULL ? cr->region : getenv("AWS_REGION");
    const char               *h, *p, *u, *m;
    struct ember_db_conninfo  ci = {0};
    long                      port;
    int                       rc = EMBER_OK;

    if (akid == NULL || *akid == '\0' || sk == NULL || *sk == '\0')
        return host->fail(err, 503, "db: iam_auth: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                          "are not set (Lambda sets them from the function's role)");
    if (region == NULL || *region == '\0')
        return host->fail(err, 503, "db: iam_auth: no region (set `region` or AWS_REGION)");
    if (base != NULL && parse(base, &ci) != 0)
        return host->fail(err, 503, "db: iam_auth: the connection string is not a valid "
                          "libpq connection string");
    h = cr->host != NULL ? cr->host : ci.host;
    p = cr->port != NULL ? cr->port : ci.port;
    u = cr->user != NULL ? cr->user : ci.user;
    if (p == NULL)
        p = "5432";
    if (h == NULL || strchr(h, ',') != NULL || h[0] == '/')
        rc = host->fail(err, 503, "db: iam_auth: the token is signed for one TCP host name "
                        "(the RDS or RDS Proxy endpoint): set `host`");
    else if (u == NULL)
        rc = host->fail(err, 503, "db: iam_auth: no database user (set `user`)");
    else if (ember_pu_parse_long(p, 1, 65535, &port) != 0)
        rc = host->fail(err, 503, "db: iam_auth: port \"%s\" is not a port", p);
    if (rc != EMBER_OK) {
        conninfo_clear(&ci);
        return rc;
    }
    /* TLS: the string's sslmode if it requires it, else require (IAM needs it) */
    m = ci.sslmode;
    cc->force_tls = m == NULL || (strcmp(m, "require") != 0 && strcmp(m, "verify-ca") != 0
                                  && strcmp(m, "verify-full") != 0);
    cc->password = ember_rds_token(h, (int) port, u, region, akid, sk, st, time(NULL));
    conninfo_clear(&ci);
    return EMBER_OK;
}

static int conn_prepare(struct ember_db *db, const struct ember_db_creds *cr,
                        const char *env_url, int64_t end, struct ember_db_creds_conn *cc,
                        struct ember_error *err, ember_db_conninfo_fn parse)
{
    const struct ember_host *host = db->host;
    const char              *v;
    char                     why[300];
    int                      fetched = 0;

    memset(cc, 0, sizeof(*cc));
    if (cr->url_secret != NULL) {
        v = secret(cr->url_secret, end, &fetched, why, sizeof(why));
        if (v == NULL)
            return host->fail(err, 503, "db: url_secret: %s", why);
        if (ember_secret_conninfo(v, &cc->conninfo, why, sizeof(why)) != 0) {
            cache_forget(cr->url_secret);
            return host->fail(err, 503, "db: url_secret: %s", why);
        }
    }
    if (cr->iam)
        return iam_token(db, cr, cc->conninfo != NULL ? cc->conninfo : env_url, cc, err, parse);
    if (cr->password_secret != NULL) {
        v = secret(cr->password_secret, end, &fetched, why, sizeof(why));
        if (v == NULL) {
            wipe_free(cc->password);
            cc->password = NULL;
            wipe_free(cc->conninfo);
            cc->conninfo = NULL;
            return host->fail(err, 503, "db: password_secret: %s", why);
        }
        if (ember_secret_password(v, &cc->password, why, sizeof(why)) != 0) {
            cache_forget(cr->password_secret);
            wipe_free(cc->password);
            cc->password = NULL;
            wipe_free(cc->conninfo);
            cc->conninfo = NULL;
            return host->fail(err, 503, "db: password_secret: %s", why);
        }
    }
    cc->fetched = fetched;
    return EMBER_OK;
}

/* After the server refused a cached secret: fetch each again; 1 if one changed. */
static int conn_refetch(struct ember_db *db, const struct ember_db_creds *cr, int64_t end)
{
    const char *arns[2] = {cr->url_secret, cr->iam ? NULL : cr->password_secret};
    char        why[300];
    int         i, changed = 0, ch;

    for (i = 0; i < 2; i++) {
        if (arns[i] == NULL)
            continue;
        if (cache_fetch(arns[i], end, &ch, why, sizeof(why)) != 0) {
            db->host->log(EMBER_LOG_WARN, "db: the server refused the cached %s; fetching it "
                          "again failed: %s", i == 0 ? "url_secret" : "password_secret", why);
            return 0;
        }
        changed |= ch;
    }
    db->host->log(EMBER_LOG_INFO, "db: the server refused the cached secret; fetched it again: "
                  "%s", changed ? "it changed (rotated), connecting again" : "unchanged");
    return changed;
}

/* The one symbol db-creds.so exports (creds.h). */
EMBER_PLUGIN_EXPORT const struct ember_db_creds_ops ember_db_creds_ops = {
    .abi     = EMBER_DB_CREDS_ABI,
    .prepare = conn_prepare,
    .refetch = conn_refetch,
    .fini    = conn_fini,
};
