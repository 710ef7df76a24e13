/*
 * db - PostgreSQL through libpq: each route runs one parameterised
 * statement and leaves its rows, as typed JSON, in ex->vars "result" for
 * the response plugin.  Directives (plugins/db/db.def):
 *
 *   url_env NAME            env var holding the libpq URI or key=value
 *                           string (default DATABASE_URL); global or route
 *   connect_timeout S       seconds to connect (default 5)
 *   statement_timeout MS    server-side limit, sent as a connection option
 *   sql 'SELECT ... $1'     the statement (route)
 *   bind SRC:NAME[:TYPE] .. $1, $2, ... from path:, query:, header:, body:,
 *                           claim: (route); TYPE int|bigint|number|bool|uuid
 *                           is checked before the query (400 naming NAME)
 *   (connection settings: sslmode, sslrootcert, password_env, pooler,
 *   max_idle and the IAM/secrets ones: connect.c and README.md)
 *   result one|many|none    first row as an object (none: 404) | array of
 *                           rows | no body, 204.  Default: many when the
 *                           statement returns rows, else none.
 *   status N                the status on success (default 200; none: 204)
 *   readonly on|off         safe to run twice: retried once after a lost
 *                           connection (default off: a SELECT may call
 *                           nextval() or another volatile function)
 *
 * Bound values are text (SQL NULL when missing): body:/claim: strings as
 * they are, numbers as written, booleans true/false, objects and arrays
 * as JSON text; a body that is not a JSON object is 400.  Rows become
 * JSON by column type: int2/4/8, oid -> integers; float4/8 -> numbers;
 * numeric -> exact canonical numbers (1.50 -> 1.5); bool; json/jsonb
 * embedded; NULL -> null; NaN/Infinity and everything else -> strings.
 *
 * Failures (the client sees only the reason phrase, or for its own
 * mistake which field; the log gets why): 23502/23514 and class 22 -> 400,
 * the rest of class 23 -> 409, 57014 -> 504, class 08/53/57P and connection
 * failures -> 503 with Retry-After, a missing row for `result one` -> 404,
 * anything else -> 500.
 *
 * Laziness: nothing touches the network before the first request of a
 * route; a connection opens then and is reused while the process lives.
 * Routes whose url_env/connect_timeout/statement_timeout agree share one.
 * Statements are prepared once per connection and forgotten when it is
 * replaced.  A statement never outlives the invocation: it runs
 * asynchronously and is cancelled EMBER_DB_DEADLINE_MARGIN_MS before Lambda's
 * deadline (504); with less than EMBER_DB_DEADLINE_MARGIN_MS + EMBER_DB_MIN_BUDGET_MS left
 * it is not started (504).  A connection found dead (the server said so,
 * or closed it) is replaced before the statement is sent; one that dies
 * during a statement marked `readonly on` is replaced and the statement
 * retried once.
 */
#define _GNU_SOURCE

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"

/* ---------------------------------------------------------------- hooks */

/* Allocates *state (freed by db_fini). Opens nothing: see the laziness rule. */
static int db_init(void **state, const struct ember_host *host,
                   const struct ember_conf_block *global, struct ember_error *err)
{
    struct ember_db *db = ember_pu_xcalloc(1, sizeof(*db));

    db->host = host;
    db->global.url_env = EMBER_DB_DEFAULT_URL_ENV;
    db->global.connect_timeout = EMBER_DB_DEFAULT_CONNECT_TIMEOUT;
    db->global.max_idle = EMBER_DB_DEFAULT_MAX_IDLE;
    db->global.statement_timeout = 0;
    if (ember_db_read_settings(db, global, &db->global, err) != EMBER_OK
        || ember_db_check_settings(db, global, &db->global, err) != EMBER_OK) {
        free(db);
        return EMBER_ERROR;
    }
    *state = db;
    return EMBER_OK;
}

/* Allocates *route_state (freed by db_route_fini). */
static int db_route_init(void *state, const struct ember_conf_block *conf,
                         void **route_state, struct ember_error *err)
{
    struct ember_db                   *db = state;
    const struct ember_host           *host = db->host;
    const struct ember_conf_directive *sql, *d;
    struct ember_db_settings           s = db->global;
    struct ember_db_route             *r;
    long                               v;

    sql = conf != NULL ? host->conf_find(conf, "sql") : NULL;
    if (sql == NULL) {
        if (conf != NULL && conf->file != NULL)
            return host->fail(err, 500, "%s:%d: db: this route needs `sql '...'`",
                              conf->file, conf->line);
        return host->fail(err, 500, "db: this route has no settings; it needs "
                          "`db { sql '...' }`");
    }
    if (ember_db_read_settings(db, conf, &s, err) != EMBER_OK
        || ember_db_check_settings(db, conf, &s, err) != EMBER_OK)
        return EMBER_ERROR;

    r = ember_pu_xcalloc(1, sizeof(*r));
    r->sql = sql->argv[0];
    snprintf(r->stmt, sizeof(r->stmt), "ember_%u", db->nroutes);

    if (ember_db_bind_conf(db, conf, sql, r, err) != EMBER_OK) {
        ember_db_route_free(r);
        return EMBER_ERROR;
    }

    d = host->conf_find(conf, "result");
    r->result = EMBER_DB_RESULT_AUTO;
    if (d != NULL) {
        if (strcmp(d->argv[0], "one") == 0)
            r->result = EMBER_DB_RESULT_ONE;
        else if (strcmp(d->argv[0], "many") == 0)
            r->result = EMBER_DB_RESULT_MANY;
        else if (strcmp(d->argv[0], "none") == 0)
            r->result = EMBER_DB_RESULT_NONE;
        else {
            ember_db_route_free(r);
            return host->fail(err, 500, "%s:%d: db: result \"%s\": expected one, many or none",
                              d->file, d->line, d->argv[0]);
        }
    }
    d = host->conf_find(conf, "status");
    if (d != NULL) {
        if (ember_pu_parse_long(d->argv[0], 200, 599, &v) != 0) {
            ember_db_route_free(r);
            return host->fail(err, 500, "%s:%d: db: status \"%s\": expected an HTTP status, "
                              "200 to 599", d->file, d->line, d->argv[0]);
        }
        r->status = (int) v;
    }
    d = host->conf_find(conf, "readonly");
    if (d != NULL) {
        if (strcmp(d->argv[0], "on") != 0 && strcmp(d->argv[0], "off") != 0) {
            ember_db_route_free(r);
            return host->fail(err, 500, "%s:%d: db: readonly \"%s\": expected on or off",
                              d->file, d->line, d->argv[0]);
        }
        r->readonly = strcmp(d->argv[0], "on") == 0;
    }

    r->conn = ember_db_conn_for(db, &s);
    db->nroutes++;
    *route_state = r;
    return EMBER_OK;
}

static int db_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    struct ember_db         *db = state;
    struct ember_db_route   *r = route_state;
    const struct ember_host *host = db->host;
    const char              *vals[EMBER_DB_MAX_BINDS];
    int64_t                  left, end;
    PGresult                *res = NULL;
    int                      rc;

    if (ember_db_bind_values(db, r, ex, vals, ex->err) != EMBER_OK)
        return EMBER_ERROR;

    left = host->remaining_ms(ex);
    if (left > EMBER_DB_UNKNOWN_DEADLINE_MS)
        left = EMBER_DB_UNKNOWN_DEADLINE_MS;
    if (left - EMBER_DB_DEADLINE_MARGIN_MS < EMBER_DB_MIN_BUDGET_MS)
        return host->fail(ex->err, 504, "db: %lld ms left before the invocation's deadline; "
                          "not starting the statement", (long long) left);
    end = ember_pu_now_ms() + left - EMBER_DB_DEADLINE_MARGIN_MS;

    rc = ember_db_execute(db, r, ex, vals, end, &res, ex->err);
    if (rc == EMBER_OK && PQresultStatus(res) != PGRES_TUPLES_OK
        && PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = ember_db_fail_result(db, res, ex, ex->err);
    if (rc != EMBER_OK) {
        PQclear(res);
        /* The server is down, full (53300) or going away: nothing is kept
           from the failure, the next request tries again. */
        if (ex->err->status == 503)
            host->set_header(ex, "retry-after", EMBER_DB_RETRY_AFTER);
        return rc;
    }

    rc = ember_db_result(db, r, res, ex);
    PQclear(res);
    return rc;
}

static void db_route_fini(void *state, void *route_state)
{
    ember_db_route_free(route_state);
}

static void db_fini(void *state)
{
    struct ember_db      *db = state;
    struct ember_db_conn *c, *next;

    if (db == NULL)
        return;
    for (c = db->conns; c != NULL; c = next) {
        next = c->next;
        ember_db_conn_drop(c);
        free(c);
    }
    ember_db_creds_fini();                        /* wipes the cached secrets */
    free(db);
}

/* What the config may say to us: db.def, also compiled into the core. */
static const struct ember_directive db_directives[] = {
#include "db.def"
    EMBER_DIRECTIVES_END
};

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_db = {
    EMBER_PLUGIN_HEADER,
    .name       = "db",
    .directives = db_directives,
    .init       = db_init,
    .route_init = db_route_init,
    .handle     = db_handle,
    .route_fini = db_route_fini,
    .fini       = db_fini,
};
