/*
 * creds.c - IAM database authentication and Secrets Manager secrets for
 * the db plugin's connections (see creds.h): the settings, and what a
 * connect asks of db-creds.so (creds-conn.c), which is mapped only by the
 * first connect that needs it.  Nothing here logs a secret, a token or a
 * connection string.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "creds.h"

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* ---------------------------------------------------------------- settings */

/* Does id look like a Secrets Manager ARN (arn:PARTITION:secretsmanager:...:secret:NAME)? */
static int arn_ok(const char *id)
{
    /* arn:aws:secretsmanager:us-east-1:123456789012:secret:NAME (aws-cn, aws-us-gov too) */
    const char *p = id;
    int         i;

    if (strncmp(p, "arn:", 4) != 0)
        return 0;
    p = strchr(p + 4, ':');
    if (p == NULL || strncmp(p, ":secretsmanager:", 16) != 0)
        return 0;
    p += 16;
    for (i = 0; i < 2; i++) {             /* region, account */
        p = strchr(p, ':');
        if (p == NULL)
            return 0;
        p++;
    }
    return strncmp(p, "secret:", 7) == 0 && p[7] != '\0' && strpbrk(p, " \t\r\n") == NULL;
}


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
        if (!arn_ok(v))
            return host->fail(err, 500, "%s:%d: db: url_secret: expected a Secrets Manager "
                              "ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)",
                              d->file, d->line);
        cr->url_secret = v;
    }
    v = word(host, b, "password_secret", &d);
    if (v != NULL) {
        if (!arn_ok(v))
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

/* ---------------------------------------------------------------- db-creds.so */

static void                            *companion_dl;
static const struct ember_db_creds_ops *companion;

static int uses_any(const struct ember_db_creds *cr)
{
    return cr->iam || cr->url_secret != NULL || cr->password_secret != NULL;
}

/* "<directory of db.so>/db-creds.so", malloc'd. */
static char *companion_path(void)
{
    Dl_info     info;
    const char *slash;
    char       *path;
    size_t      dir;

    if (dladdr((const void *) (uintptr_t) &companion_path, &info) == 0
        || info.dli_fname == NULL)
        return ember_pu_xstrdup(EMBER_DB_CREDS_FILE);
    slash = strrchr(info.dli_fname, '/');
    dir = slash != NULL ? (size_t) (slash - info.dli_fname) + 1 : 0;
    path = ember_pu_xmalloc(dir + sizeof(EMBER_DB_CREDS_FILE));
    memcpy(path, info.dli_fname, dir);
    memcpy(path + dir, EMBER_DB_CREDS_FILE, sizeof(EMBER_DB_CREDS_FILE));
    return path;
}

/* Map db-creds.so once; 503 naming the file if it cannot be. */
static int companion_load(struct ember_db *db, struct ember_error *err)
{
    const struct ember_db_creds_ops *ops;
    const char                      *e;
    char                            *path;
    void                            *dl;
    int                              rc;

    if (companion != NULL)
        return EMBER_OK;
    path = companion_path();
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        e = dlerror();
        rc = db->host->fail(err, 503, "db: cannot load %s: %s; it signs IAM tokens and fetches "
                            "secrets, and belongs next to db.so (check the ZIP's plugins/)",
                            path, e != NULL ? e : "dlopen failed");
        free(path);
        return rc;
    }
    ops = dlsym(dl, EMBER_DB_CREDS_SYMBOL);
    if (ops == NULL || ops->abi != EMBER_DB_CREDS_ABI) {
        rc = db->host->fail(err, 503, "db: %s: %s (db.so and it must come from the same build)",
                            path, ops == NULL ? "no symbol " EMBER_DB_CREDS_SYMBOL
                                              : "another ABI");
        dlclose(dl);
        free(path);
        return rc;
    }
    free(path);
    companion_dl = dl;
    companion = ops;
    return EMBER_OK;
}

/* ember_db_conninfo_fn, for db-creds.so. */
static int conninfo_fields(const char *s, struct ember_db_conninfo *out)
{
    PQconninfoOption *opts, *o;
    char             *perr = NULL;

    memset(out, 0, sizeof(*out));
    opts = PQconninfoParse(s, &perr);
    if (opts == NULL) {
        PQfreemem(perr);
        return -1;
    }
    for (o = opts; o->keyword != NULL; o++) {
        char **to = strcmp(o->keyword, "host") == 0 ? &out->host
                    : strcmp(o->keyword, "port") == 0 ? &out->port
                    : strcmp(o->keyword, "user") == 0 ? &out->user
                    : strcmp(o->keyword, "sslmode") == 0 ? &out->sslmode : NULL;

        if (to != NULL && o->val != NULL && *o->val != '\0')
            *to = ember_pu_xstrdup(o->val);
    }
    PQconninfoFree(opts);
    return 0;
}

int ember_db_creds_prepare(struct ember_db *db, const struct ember_db_creds *cr,
                           const char *env_url, int64_t end, struct ember_db_creds_conn *cc,
                           struct ember_error *err)
{
    memset(cc, 0, sizeof(*cc));
    if (!uses_any(cr))
        return EMBER_OK;                /* nothing to sign or fetch: nothing mapped */
    if (companion_load(db, err) != EMBER_OK)
        return EMBER_ERROR;
    return companion->prepare(db, cr, env_url, end, cc, err, conninfo_fields);
}

void ember_db_creds_fini(void)
{
    if (companion != NULL)
        companion->fini();
    if (companion_dl != NULL)
        dlclose(companion_dl);
    companion = NULL;
    companion_dl = NULL;
}

/* ---------------------------------------------------------------- one connect */

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
    if ((cr->url_secret == NULL && (cr->iam || cr->password_secret == NULL))
        || cc->fetched || companion == NULL || !auth_refused(pg))
        return 0;
    return companion->refetch(db, cr, end);
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
