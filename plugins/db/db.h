/*
 * db.h - what the db plugin's files share.  Private to the plugin:
 * everything here is hidden by -fvisibility=hidden.
 *
 *   db.c       the plugin glue: settings of a route, the hooks
 *   connect.c  connection settings, opening (connection string, timeouts,
 *              the password of a new connection), liveness
 *   exec.c     running a route's statement: prepare, send, wait, cancel,
 *              reconnect and retry, SQLSTATE -> HTTP status
 *   bind.c     the `bind` directive and the values of $1..$n per request
 *   result.c   rows -> typed JSON, the response's status
 */
#ifndef EMBER_DB_H
#define EMBER_DB_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include <ember/plugin.h>

#include "../common/plugutil.h"   /* ember_pu_xcalloc & co. */
#include "creds.h"                /* IAM auth, secrets (creds.c) */

/* Type OIDs of the results turned into JSON (result.c; tests/fuzz/db.c builds
   results of them), from src/include/catalog/pg_type.dat: stable since forever. */
#define OID_BOOL     16
#define OID_INT8     20
#define OID_INT2     21
#define OID_INT4     23
#define OID_OID      26
#define OID_JSON     114
#define OID_FLOAT4   700
#define OID_FLOAT8   701
#define OID_NUMERIC  1700
#define OID_JSONB    3802

#define EMBER_DB_DEFAULT_URL_ENV          "DATABASE_URL"
#define EMBER_DB_DEFAULT_CONNECT_TIMEOUT  5        /* seconds */
#define EMBER_DB_DEFAULT_MAX_IDLE         300      /* seconds idle before a check */
#define EMBER_DB_KEEPALIVE_IDLE           30       /* seconds idle before TCP probes */
#define EMBER_DB_KEEPALIVE_INTERVAL       10       /* seconds between probes */
#define EMBER_DB_KEEPALIVE_COUNT          3        /* unanswered probes: dead */
#define EMBER_DB_DEADLINE_MARGIN_MS       200      /* answer this long before Lambda's deadline */
#define EMBER_DB_MIN_BUDGET_MS            50       /* less left than this: 504 at once */
#define EMBER_DB_CANCEL_SEND_MS           80       /* at most this long to send a cancel */
#define EMBER_DB_CANCEL_GRACE_MS          100      /* then this long for the statement to stop
                                                      (both within DEADLINE_MARGIN_MS) */
#define EMBER_DB_UNKNOWN_DEADLINE_MS      900000   /* no deadline known: Lambda's maximum */
#define EMBER_DB_MAX_BINDS                99
#define EMBER_DB_RETRY_AFTER              "1"      /* seconds, with every 503 */

/* The settings that choose a connection (global, overridden per route). */
struct ember_db_settings {
    const char *url_env;
    const char *password_env;        /* NULL: the password is the connection string's */
    int         connect_timeout;     /* seconds */
    long        statement_timeout;   /* ms; 0: none */
    const char *sslmode;             /* NULL: the connection string's (libpq: prefer) */
    const char *sslrootcert;         /* as configured (relative: see connect.c); NULL: none */
    const char *sslrootcert_conf;    /* the config file that named it */
    int         max_idle;            /* seconds; an idle connection older is checked first */
    int         pooler;              /* behind PgBouncer (transaction mode) / RDS Proxy:
                                        no named statements, no startup options */
    struct ember_db_creds creds;     /* iam_auth, *_secret (creds.c) */
};

/* One connection, shared by the routes with the same settings. */
struct ember_db_conn {
    struct ember_db_conn     *next;
    struct ember_db_settings  set;              /* strings borrowed from the config */
    PGconn                   *pg;               /* NULL until the first query */
    unsigned                  gen;              /* bumped on each connect */
    int64_t                   last_used;        /* monotonic ms of the last answer */
    char                      lost[256];        /* why the server closed it, if it said */
};

enum ember_db_source {
    EMBER_DB_SRC_PATH, EMBER_DB_SRC_QUERY, EMBER_DB_SRC_HEADER, EMBER_DB_SRC_BODY,
    EMBER_DB_SRC_CLAIM
};

/* What a bound value must look like, checked before the statement runs
   (`bind path:id:int`); a value that is not is 400 naming the field. */
enum ember_db_type {
    EMBER_DB_T_ANY, EMBER_DB_T_INT, EMBER_DB_T_BIGINT, EMBER_DB_T_NUMBER, EMBER_DB_T_BOOL,
    EMBER_DB_T_UUID
};

struct ember_db_bind {
    enum ember_db_source  src;
    char                 *name;               /* owned */
    enum ember_db_type    type;
};

enum ember_db_result {
    EMBER_DB_RESULT_AUTO, EMBER_DB_RESULT_ONE, EMBER_DB_RESULT_MANY, EMBER_DB_RESULT_NONE
};

struct ember_db_route {
    const char           *sql;                /* borrowed from the config */
    char                  stmt[32];           /* prepared statement name */
    int                   nbinds;
    struct ember_db_bind  binds[EMBER_DB_MAX_BINDS];
    int                   uses_body;
    enum ember_db_result  result;
    int                   status;             /* 0: default */
    int                   readonly;
    struct ember_db_conn *conn;
    unsigned              prepared_gen;       /* conn->gen it was prepared on; 0: never */
};

/* The plugin's state: one per process. */
struct ember_db {
    const struct ember_host  *host;
    struct ember_db_settings  global;
    struct ember_db_conn     *conns;
    unsigned                  nroutes;
};

/* Why a round trip did not produce a usable result. */
enum ember_db_wait { EMBER_DB_WAIT_OK, EMBER_DB_WAIT_TIMEOUT, EMBER_DB_WAIT_GONE };

/* connect.c */
/* msg (a libpq message, maybe multi-line) as one line in buf. */
const char *ember_db_one_line(char *buf, size_t size, const char *msg);
/* Overrides from block b (global or route) on top of *s. */
int ember_db_read_settings(const struct ember_db *db, const struct ember_conf_block *b,
                           struct ember_db_settings *s, struct ember_error *err);
/* The combination of settings in *s makes sense (b: where to point). */
int ember_db_check_settings(const struct ember_db *db, const struct ember_conf_block *b,
                            const struct ember_db_settings *s, struct ember_error *err);
/* The connection for these settings; created (unconnected) if new. */
struct ember_db_conn *ember_db_conn_for(struct ember_db *db, const struct ember_db_settings *s);
void ember_db_conn_drop(struct ember_db_conn *c);
int ember_db_conn_alive(struct ember_db_conn *c);
/* Open c->pg by `end` (monotonic ms) or connect_timeout, whichever first. */
int ember_db_conn_open(struct ember_db *db, struct ember_db_conn *c, struct ember_exchange *ex,
                       int64_t end, struct ember_error *err);

/* exec.c */
/* Run r's statement with vals until `end`; on success *out is the result
   (the caller PQclears it). */
int ember_db_execute(struct ember_db *db, struct ember_db_route *r, struct ember_exchange *ex,
                     const char *const *vals, int64_t end, PGresult **out,
                     struct ember_error *err);
/* err from a failed statement's result (SQLSTATE -> status, and for a
   client's mistake a public message naming the field); EMBER_ERROR. */
int ember_db_fail_result(struct ember_db *db, PGresult *res, struct ember_exchange *ex,
                         struct ember_error *err);

/* bind.c */
/* Read the route's `bind` directive into r and check it against r->sql. */
int ember_db_bind_conf(struct ember_db *db, const struct ember_conf_block *conf,
                       const struct ember_conf_directive *sql, struct ember_db_route *r,
                       struct ember_error *err);
/* Free r and what its binds own. */
void ember_db_route_free(struct ember_db_route *r);
/* vals[i] for $i+1, from the request; pool memory. */
int ember_db_bind_values(struct ember_db *db, struct ember_db_route *r,
                         struct ember_exchange *ex, const char **vals,
                         struct ember_error *err);

/* result.c */
/* Leave res (a successful result) in ex->vars "result" as r's result says,
   and set the response's status.  Does not clear res. */
int ember_db_result(struct ember_db *db, struct ember_db_route *r, const PGresult *res,
                    struct ember_exchange *ex);

#endif
