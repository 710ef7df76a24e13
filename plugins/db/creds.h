/*
 * creds.h - where a connection's credentials come from when they are not
 * all in $url_env: IAM database authentication (a fresh RDS token as the
 * password of every new connection) and AWS Secrets Manager secrets (the
 * connection string or the password, fetched from the Parameters and
 * Secrets extension at the first connect, cached, fetched again when the
 * server refuses the cached one).  connect.c calls these at a few points;
 * a connection that uses none of it costs nothing: the signing and the
 * fetching are db-creds.so (creds-conn.c), which db.so maps only at the
 * first connect that needs them.
 *
 * Directives (global or route; db.def):
 *   iam_auth on|off     the password is an RDS IAM token (needs TLS)
 *   region R            the token's region (default $AWS_REGION)
 *   host H / port N / user U   override the connection string's (the token
 *                       is signed for these: the RDS or RDS Proxy endpoint)
 *   url_secret ARN      the connection string is this secret (a URL or the
 *                       RDS JSON); url_env is not read
 *   password_secret ARN the password is this secret (its "password" if JSON)
 */
#ifndef EMBER_DB_CREDS_H
#define EMBER_DB_CREDS_H

#include <stdint.h>

#include <libpq-fe.h>

#include <ember/plugin.h>

#define EMBER_DB_CREDS_MAX_KEYS 6    /* keys ember_db_creds_params may add */

struct ember_db;

/* The settings (strings borrowed from the config). */
struct ember_db_creds {
    int         iam;                /* iam_auth on */
    const char *region;
    const char *host;
    const char *port;
    const char *user;
    const char *url_secret;
    const char *password_secret;
    const char *sslmode;            /* as configured, for the TLS check (NULL: none) */
    const char *iam_file;           /* where iam_auth was set (for messages) */
    int         iam_line;
};

/* What one connect attempt adds; ember_db_creds_clear wipes and frees it. */
struct ember_db_creds_conn {
    char *conninfo;     /* from url_secret, else NULL (the url_env string is used) */
    char *password;     /* the IAM token or password_secret's, else NULL */
    int   fetched;      /* a secret was fetched for this attempt (not from the cache) */
    int   force_tls;    /* iam_auth and the string asks for no TLS: sslmode=require */
};

/* Overrides from block b on top of *cr (global, then route); config errors
   name file:line. */
int ember_db_creds_read(const struct ember_db *db, const struct ember_conf_block *b,
                        struct ember_db_creds *cr, struct ember_error *err);

int ember_db_creds_same(const struct ember_db_creds *a, const struct ember_db_creds *b);

/* Does cr change how the connection string is obtained (url_secret)? */
int ember_db_creds_has_url(const struct ember_db_creds *cr);

/*
 * Get what a connect needs, until `end` (monotonic ms): url_secret's
 * connection string (fetched once, then cached), then the password (an IAM
 * token signed now, for the host/port/user in effect, or password_secret's).
 * env_url: the url_env string when there is no url_secret.  503 on failure.
 */
int ember_db_creds_prepare(struct ember_db *db, const struct ember_db_creds *cr,
                           const char *env_url, int64_t end, struct ember_db_creds_conn *cc,
                           struct ember_error *err);

/* Append its keywords (host, port, user, sslmode, password) at keys[n..]; the new n. */
int ember_db_creds_params(const struct ember_db_creds *cr, const struct ember_db_creds_conn *cc,
                          const char **keys, const char **vals, int n);

/*
 * After a failed connect: was it the server refusing a cached secret?  Then
 * the secret is fetched again and 1 is returned if it changed (connect
 * again); else 0.  A line is logged either way (never the secret).
 */
int ember_db_creds_refused(struct ember_db *db, const struct ember_db_creds *cr,
                           const struct ember_db_creds_conn *cc, PGconn *pg, int64_t end);

/* A hint for the log line of a refused IAM login, or "". */
const char *ember_db_creds_hint(const struct ember_db_creds *cr, PGconn *pg);

void ember_db_creds_clear(struct ember_db_creds_conn *cc);

/* Wipe and free the cached secrets, unmap db-creds.so (db_fini). */
void ember_db_creds_fini(void);

/*
 * db-creds.so (creds-conn.c): the token signing (nettle), the secrets fetch
 * and their cache, dlopen()ed from db.so's directory by the first connect
 * that uses iam_auth or a *_secret.  Its one exported symbol:
 */
#define EMBER_DB_CREDS_FILE    "db-creds.so"
#define EMBER_DB_CREDS_SYMBOL  "ember_db_creds_ops"
#define EMBER_DB_CREDS_ABI     1

/* The fields of a connection string db-creds.so needs, parsed by db.so's
   libpq (db-creds.so links none); malloc'd or NULL. */
struct ember_db_conninfo {
    char *host, *port, *user, *sslmode;
};
/* 0 with *out filled (ember_db_conninfo_clear frees it), -1 if s does not parse. */
typedef int (*ember_db_conninfo_fn)(const char *s, struct ember_db_conninfo *out);

struct ember_db_creds_ops {
    unsigned abi;                 /* EMBER_DB_CREDS_ABI */
    /* ember_db_creds_prepare's work, for a cr that uses IAM or a secret */
    int  (*prepare)(struct ember_db *db, const struct ember_db_creds *cr, const char *env_url,
                    int64_t end, struct ember_db_creds_conn *cc, struct ember_error *err,
                    ember_db_conninfo_fn parse);
    /* the server refused a cached secret: fetch again; 1 if it changed (logs either way) */
    int  (*refetch)(struct ember_db *db, const struct ember_db_creds *cr, int64_t end);
    /* wipe and free the cache */
    void (*fini)(void);
};

#endif
