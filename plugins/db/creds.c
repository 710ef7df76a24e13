/*
 * creds.c - IAM database authentication and Secrets Manager secrets for
 * the db plugin's connections (see creds.h).  Nothing here logs a secret,
 * a token or a connection string.
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

/* ---------------------------------------------------------------- the cache */

/* One fetched secret, kept for the life of the process (wiped at fini). */
struct cached {
    struct cached *next;
    char          *arn;
    char          *value;
};

static struct cached *cache;

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

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

void ember_db_creds_fini(void)
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

/* ---------------------------------------------------------------- settings */

static int same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int ember_db_creds_same(const struct ember_db_creds *a, const struct ember_db_creds *b)
{
    return a->iam == b->iam && same(a->region, b->region) && same(a->host, b->host)
           && same(a->port, b->port) && same(a->user, b->user)
           && same(a->url_secret, b->url_secret) && same(a->password_secret, b->password_secret)
           && same(a->sslmode, b->sslmode);
}

int ember_db_creds_has_url(const struct ember_db_creds *cr)
{
    return cr->url_secret != NULL;
}

static const char *word(const struct ember_host *host, const struct ember_conf_block *b,
                        const char *name, const struct ember_conf_directive **at)
{
    const struct ember_conf_directive *d = host->conf_find(b, name);

    if (d != NULL && at != NULL)
        *at = d;
    return d != NULL ? d->argv[0] : NULL;
}

int ember_db_creds_read(const struct ember_db *db, const struct ember_conf_block *b,
                        struct ember_db_creds *cr, struct ember_error *err)
{
    const struct ember_host           *host = db->host;
    const struct ember_conf_directive *d = NULL, *ssl = NULL;
    const char                        *v;
    long                               port;

    if (b == NULL)
        return EMBER_OK;
    v = word(host, b, "iam_auth", &d);
    if (v != NULL) {
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
            return host->fail(err, 500, "%s:%d: db: iam_auth \"%s\": expected on or off",
                              d->file, d->line, v);
        cr->iam = strcmp(v, "on") == 0;
        cr->iam_file = d->file;
        cr->iam_line = d->line;
    }
    v = word(host, b, "region", &d);
    if (v != NULL) {
        if (*v == '\0' || strpbrk(v, "/ \t") != NULL)
            return host->fail(err, 500, "%s:%d: db: region \"%s\": expected an AWS region "
                              "such as eu-west-1", d->file, d->line, v);
        cr->region = v;
    }
    v = word(host, b, "host", &d);
    if (v != NULL) {
        if (*v == '\0' || strpbrk(v, ",/ \t") != NULL)
            return host->fail(err, 500, "%s:%d: db: host \"%s\": expected one host name "
                              "(the RDS or RDS Proxy endpoint)", d->file, d->line, v);
        cr->host = v;
    }
    v = word(host, b, "port", &d);
    if (v != NULL) {
        if (ember_pu_parse_long(v, 1, 65535, &port) != 0)
            return host->fail(err, 500, "%s:%d: db: port \"%s\": expected 1 to 65535",
                              d->file, d->line, v);
        cr->port = v;
    }
    v = word(host, b, "user", &d);
    if (v != NULL) {
        if (*v == '\0')
            return host->fail(err, 500, "%s:%d: db: user: expected a database user name",
                              d->file, d->line);
        cr->user = v;
    }
    v = word(host, b, "url_secret", &d);
    if (v != NULL) {
        if (!ember_secret_arn_ok(v))
            return host->fail(err, 500, "%s:%d: db: url_secret: expected a Secrets Manager "
                              "ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)",
                              d->file, d->line);
        cr->url_secret = v;
    }
    v = word(host, b, "password_secret", &d);
    if (v != NULL) {
        if (!ember_secret_arn_ok(v))
            return host->fail(err, 500, "%s:%d: db: password_secret: expected a Secrets "
                              "Manager ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)",
                              d->file, d->line);
        cr->password_secret = v;
    }
    v = word(host, b, "sslmode", &ssl);
    if (v != NULL)
        cr->sslmode = v;

    /* The combination in effect (block on top of what it inherits). */
    if (cr->iam && cr->password_secret != NULL) {
        d = host->conf_find(b, "password_secret");
        if (d == NULL)
            d = host->conf_find(b, "iam_auth");
        return host->fail(err, 500, "%s:%d: db: iam_auth on and password_secret: the password "
                          "is the IAM token; choose one", d != NULL ? d->file : cr->iam_file,
                          d != NULL ? d->line : cr->iam_line);
    }
    if (cr->iam && cr->sslmode != NULL
        && (strcmp(cr->sslmode, "disable") == 0 || strcmp(cr->sslmode, "allow") == 0
            || strcmp(cr->sslmode, "prefer") == 0)) {
        const struct ember_conf_directive *at = ssl != NULL ? ssl : host->conf_find(b, "iam_auth");

        return host->fail(err, 500, "%s:%d: db: iam_auth on needs TLS: sslmode %s would send "
                          "the token in clear or not at all (use require, verify-ca or "
                          "verify-full)", at != NULL ? at->file : cr->iam_file,
                          at != NULL ? at->line : cr->iam_line, cr->sslmode);
    }
    return EMBER_OK;
}

/* ---------------------------------------------------------------- one connect */

/* The value of keyword k in a parsed connection string, or NULL. */
static const char *opt(const PQconninfoOption *opts, const char *k)
{
    const PQconninfoOption *o;

    for (o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, k) == 0)
            return o->val != NULL && *o->val != '\0' ? o->val : NULL;
    return NULL;
}

static int iam_token(struct ember_db *db, const struct ember_db_creds *cr, const char *base,
                     struct ember_db_creds_conn *cc, struct ember_error *err)
{
    const struct ember_host *host = db->host;
    const char              *akid = getenv("AWS_ACCESS_KEY_ID");
    const char              *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char              *st = getenv("AWS_SESSION_TOKEN");
    const char              *region = cr->region != NULL ? cr->region : getenv("AWS_REGION");
    const char              *h, *p, *u;
    PQconninfoOption        *opts = NULL;
    char                    *perr = NULL;
    long                     port;

    if (akid == NULL || *akid == '\0' || sk == NULL || *sk == '\0')
        return host->fail(err, 503, "db: iam_auth: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                          "are not set (Lambda sets them from the function's role)");
    if (region == NULL || *region == '\0')
        return host->fail(err, 503, "db: iam_auth: no region (set `region` or AWS_REGION)");
    if (base != NULL) {
        opts = PQconninfoParse(base, &perr);
        if (opts == NULL) {
            PQfreemem(perr);
            return host->fail(err, 503, "db: iam_auth: the connection string is not a valid "
                              "libpq connection string");
        }
    }
    h = cr->host != NULL ? cr->host : opt(opts, "host");
    p = cr->port != NULL ? cr->port : opt(opts, "port");
    u = cr->user != NULL ? cr->user : opt(opts, "user");
    if (h == NULL || strchr(h, ',') != NULL || h[0] == '/') {
        PQconninfoFree(opts);
        return host->fail(err, 503, "db: iam_auth: the token is signed for one TCP host "
                          "name (the RDS or RDS Proxy endpoint): set `host`");
    }
    if (u == NULL) {
        PQconninfoFree(opts);
        return host->fail(err, 503, "db: iam_auth: no database user (set `user`)");
    }
    if (p == NULL)
        p = "5432";
    /* TLS: the string's sslmode if it requires it, else require (IAM needs it) */
    {
        const char *m = opt(opts, "sslmode");

        cc->force_tls = m == NULL || (strcmp(m, "require") != 0 && strcmp(m, "verify-ca") != 0
                                      && strcmp(m, "verify-full") != 0);
    }
    if (ember_pu_parse_long(p, 1, 65535, &port) != 0) {
        PQconninfoFree(opts);
        return host->fail(err, 503, "db: iam_auth: port \"%s\" is not a port", p);
    }
    cc->password = ember_rds_token(h, (int) port, u, region, akid, sk, st, time(NULL));
    PQconninfoFree(opts);
    return EMBER_OK;
}

int ember_db_creds_prepare(struct ember_db *db, const struct ember_db_creds *cr,
                           const char *env_url, int64_t end, struct ember_db_creds_conn *cc,
                           struct ember_error *err)
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
        return iam_token(db, cr, cc->conninfo != NULL ? cc->conninfo : env_url, cc, err);
    if (cr->password_secret != NULL) {
        v = secret(cr->password_secret, end, &fetched, why, sizeof(why));
        if (v == NULL) {
            ember_db_creds_clear(cc);
            return host->fail(err, 503, "db: password_secret: %s", why);
        }
        if (ember_secret_password(v, &cc->password, why, sizeof(why)) != 0) {
            cache_forget(cr->password_secret);
            ember_db_creds_clear(cc);
            return host->fail(err, 503, "db: password_secret: %s", why);
        }
    }
    cc->fetched = fetched;
    return EMBER_OK;
}

int ember_db_creds_params(const struct ember_db_creds *cr, const struct ember_db_creds_conn *cc,
                          const char **keys, const char **vals, int n)
{
    if (cr->host != NULL) {
        keys[n] = "host";     vals[n++] = cr->host;
    }
    if (cr->port != NULL) {
        keys[n] = "port";     vals[n++] = cr->port;
    }
    if (cr->user != NULL) {
        keys[n] = "user";     vals[n++] = cr->user;
    }
    if (cr->iam && cr->sslmode == NULL && cc->force_tls) {
        keys[n] = "sslmode";  vals[n++] = "require";   /* IAM needs TLS */
    }
    if (cc->password != NULL) {
        keys[n] = "password"; vals[n++] = cc->password;
    }
    return n;
}

/* Did the server refuse the password (rather than be down or refuse TLS)? */
static int auth_refused(PGconn *pg)
{
    const char *m = pg != NULL ? PQerrorMessage(pg) : NULL;

    return pg != NULL && PQconnectionUsedPassword(pg) && m != NULL
           && strstr(m, "authentication failed") != NULL;
}

int ember_db_creds_refused(struct ember_db *db, const struct ember_db_creds *cr,
                           const struct ember_db_creds_conn *cc, PGconn *pg, int64_t end)
{
    const char *arns[2] = {cr->url_secret, cr->iam ? NULL : cr->password_secret};
    char        why[300];
    int         i, changed = 0, ch;

    if ((arns[0] == NULL && arns[1] == NULL) || cc->fetched || !auth_refused(pg))
        return 0;
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

const char *ember_db_creds_hint(const struct ember_db_creds *cr, PGconn *pg)
{
    if (cr->iam && auth_refused(pg))
        return " (iam_auth: is rds-db:connect allowed for this user, the user granted "
               "rds_iam, and the region and endpoint the token was signed for right?)";
    return "";
}

void ember_db_creds_clear(struct ember_db_creds_conn *cc)
{
    wipe_free(cc->conninfo);
    wipe_free(cc->password);
    memset(cc, 0, sizeof(*cc));
}
