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
 *   bind SRC:NAME ...       $1, $2, ... from path:, query:, header:, body:,
 *                           claim: (route)
 *   result one|many|none    first row as an object (none: 404) | array of
 *                           rows | no body, 204.  Default: many when the
 *                           statement returns rows, else none.
 *   status N                the status on success (default 200; none: 204)
 *   readonly on|off         safe to retry after a lost connection (default:
 *                           on when sql starts with SELECT/VALUES/TABLE/SHOW)
 *
 * Bound values are text (SQL NULL when missing): body:/claim: strings as
 * they are, numbers as written, booleans true/false, objects and arrays
 * as JSON text; a body that is not a JSON object is 400.  Rows become
 * JSON by column type: int2/4/8, oid -> integers; float4/8 -> numbers;
 * numeric -> exact canonical numbers (1.50 -> 1.5); bool; json/jsonb
 * embedded; NULL -> null; NaN/Infinity and everything else -> strings.
 *
 * Failures (the client sees only the reason phrase; the log gets why):
 * SQLSTATE class 23 -> 409, class 22 -> 400, 57014 -> 504, class 08/53/57P
 * and connection failures -> 503, a missing row for `result one` -> 404,
 * anything else -> 500.
 *
 * Laziness: nothing touches the network before the first request of a
 * route; a connection opens then and is reused while the process lives.
 * Routes whose url_env/connect_timeout/statement_timeout agree share one.
 * Statements are prepared once per connection and forgotten when it is
 * replaced.  A statement never outlives the invocation: it runs
 * asynchronously and is cancelled DEADLINE_MARGIN_MS before Lambda's
 * deadline (504); with less than DEADLINE_MARGIN_MS + MIN_BUDGET_MS left
 * it is not started (504).  A connection found dead (the server said so,
 * or closed it) is replaced before the statement is sent; one that dies
 * during a read-only statement is replaced and the statement retried once.
 */
#define _GNU_SOURCE

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include <ember/plugin.h>

#include "../common/plugutil.h"

#define DEFAULT_URL_ENV          "DATABASE_URL"
#define DEFAULT_CONNECT_TIMEOUT  5        /* seconds */
#define DEADLINE_MARGIN_MS       200      /* answer this long before Lambda's deadline */
#define MIN_BUDGET_MS            50       /* less left than this: 504 at once */
#define CANCEL_GRACE_MS          150      /* wait this long for a cancelled statement */
#define UNKNOWN_DEADLINE_MS      900000   /* no deadline known: Lambda's maximum */
#define MAX_BINDS                99

/* Type OIDs (src/include/catalog/pg_type.dat); stable since forever. */
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

/* One connection, shared by the routes with the same settings. */
struct db_conn {
    struct db_conn  *next;
    const char      *url_env;            /* borrowed from the config */
    int              connect_timeout;    /* seconds */
    long             statement_timeout;  /* ms; 0: none */
    PGconn          *pg;                 /* NULL until the first query */
    unsigned         gen;                /* bumped on each connect */
    char             lost[256];          /* why the server closed it, if it said */
};

enum db_source { SRC_PATH, SRC_QUERY, SRC_HEADER, SRC_BODY, SRC_CLAIM };

struct db_bind {
    enum db_source  src;
    const char     *name;                /* borrowed from the config */
};

enum db_result { RESULT_AUTO, RESULT_ONE, RESULT_MANY, RESULT_NONE };

struct db_route {
    const char      *sql;                /* borrowed from the config */
    char             stmt[32];           /* prepared statement name */
    int              nbinds;
    struct db_bind   binds[MAX_BINDS];
    int              uses_body;
    enum db_result   result;
    int              status;             /* 0: default */
    int              readonly;
    struct db_conn  *conn;
    unsigned         prepared_gen;       /* conn->gen it was prepared on; 0: never */
};

struct db_settings {
    const char *url_env;
    int         connect_timeout;
    long        statement_timeout;
};

struct db {
    const struct ember_host *host;
    struct db_settings       global;
    struct db_conn          *conns;
    unsigned                 nroutes;
};

/* Why a round trip did not produce a usable result. */
enum db_wait { WAIT_OK, WAIT_TIMEOUT, WAIT_GONE };

/* ---------------------------------------------------------------- small helpers */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libpq's messages end with a newline and may span lines: one line. */
static const char *one_line(char *buf, size_t size, const char *msg)
{
    size_t i, j = 0;

    if (msg == NULL || *msg == '\0')
        msg = "unknown error";
    for (i = 0; msg[i] != '\0' && j + 3 < size; i++) {
        if (msg[i] == '\n') {
            if (msg[i + 1] == '\0')
                break;
            buf[j++] = ';';
            buf[j++] = ' ';
            while (msg[i + 1] == '\t' || msg[i + 1] == ' ')
                i++;
        } else {
            buf[j++] = msg[i];
        }
    }
    buf[j] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- settings */

/* Overrides from block b (global or route) on top of *s. */
static int read_settings(const struct db *db, const struct ember_conf_block *b,
                         struct db_settings *s, struct ember_error *err)
{
    const struct ember_host           *host = db->host;
    const struct ember_conf_directive *d;
    const char                        *c;
    long                               v;

    if (b == NULL)
        return EMBER_OK;
    d = host->conf_find(b, "url_env");
    if (d != NULL) {
        for (c = d->argv[0]; *c != '\0'; c++)
            if (!isalnum((unsigned char) *c) && *c != '_')
                break;
        if (*d->argv[0] == '\0' || *c != '\0')
            return host->fail(err, 500, "%s:%d: db: url_env \"%s\": not an environment "
                              "variable name", d->file, d->line, d->argv[0]);
        s->url_env = d->argv[0];
    }
    d = host->conf_find(b, "connect_timeout");
    if (d != NULL) {
        if (ember_pu_parse_long(d->argv[0], 1, 900, &v) != 0)
            return host->fail(err, 500, "%s:%d: db: connect_timeout \"%s\": expected "
                              "seconds, 1 to 900", d->file, d->line, d->argv[0]);
        s->connect_timeout = (int) v;
    }
    d = host->conf_find(b, "statement_timeout");
    if (d != NULL) {
        if (ember_pu_parse_long(d->argv[0], 0, INT_MAX, &v) != 0)
            return host->fail(err, 500, "%s:%d: db: statement_timeout \"%s\": expected "
                              "milliseconds (0: none)", d->file, d->line, d->argv[0]);
        s->statement_timeout = v;
    }
    return EMBER_OK;
}

/* The connection for these settings; created (unconnected) if new. */
static struct db_conn *conn_for(struct db *db, const struct db_settings *s)
{
    struct db_conn *c;

    for (c = db->conns; c != NULL; c = c->next)
        if (strcmp(c->url_env, s->url_env) == 0 && c->connect_timeout == s->connect_timeout
            && c->statement_timeout == s->statement_timeout)
            return c;
    c = ember_pu_xcalloc(1, sizeof(*c));
    c->url_env = s->url_env;
    c->connect_timeout = s->connect_timeout;
    c->statement_timeout = s->statement_timeout;
    c->next = db->conns;
    db->conns = c;
    return c;
}

/* ---------------------------------------------------------------- the connection */

/* Server messages outside a query: a FATAL one says why the connection is
   about to close (kept for the log line of the next request); others are
   logged. */
static void on_notice(void *arg, const PGresult *res)
{
    struct db_conn *c = arg;
    const char     *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char     *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    if (msg == NULL)
        return;
    if (sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        snprintf(c->lost, sizeof(c->lost), "%s", msg);
}

static void conn_drop(struct db_conn *c)
{
    if (c->pg != NULL)
        PQfinish(c->pg);
    c->pg = NULL;
}

/*
 * Is the idle connection still there?  A server that shut down or timed
 * us out has said so (FATAL) and closed the socket: read what is pending,
 * without blocking, before trusting it with a statement.
 */
static int conn_alive(struct db_conn *c)
{
    struct pollfd pfd;
    PGnotify     *nf;
    int           i;

    /* Each round reads what is there (a message, then the EOF) and parses
       it (PQnotifies does), which hands a FATAL message to on_notice. */
    for (i = 0; i < 4 && c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK; i++) {
        pfd.fd = PQsocket(c->pg);
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
            break;
        if (!PQconsumeInput(c->pg))
            break;
        for (nf = PQnotifies(c->pg); nf != NULL; nf = PQnotifies(c->pg))
            PQfreemem(nf);                   /* LISTEN is not ours: drop */
    }
    return c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK;
}

/* Wait until fd is ready for `events` or the monotonic time `end`;
   1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t end)
{
    struct pollfd pfd;
    int64_t       left;
    int           rc;

    for (;;) {
        left = end - now_ms();
        if (left <= 0)
            return 0;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int) left);
        if (rc > 0)
            return 1;
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/*
 * Open c->pg, polling until `end` (monotonic ms: the request's budget) or
 * connect_timeout, whichever comes first.  The connection string is never
 * logged: it may hold a password.
 */
static int conn_open(struct db *db, struct db_conn *c, struct ember_exchange *ex,
                     int64_t end, struct ember_error *err)
{
    const struct ember_host *host = db->host;
    const char              *url = getenv(c->url_env);
    const char              *keys[6], *vals[6];
    char                     timeout[16], line[512];
    char                    *options = NULL;
    int64_t                  conn_end;
    PostgresPollingStatusType st;
    int                      n = 0, rc;

    if (url == NULL)
        return host->fail(err, 500, "db: environment variable %s is not set (it holds the "
                          "connection string)", c->url_env);

    /* Parse it first: libpq's own complaint about a malformed string may
       quote it, password and all.  Our options go after the string's, so
       that statement_timeout adds to them. */
    {
        PQconninfoOption *opts, *o;
        char             *perr = NULL;
        const char       *theirs = NULL;

        opts = PQconninfoParse(url, &perr);
        if (opts == NULL) {
            PQfreemem(perr);
            return host->fail(err, 500, "db: $%s is not a valid libpq connection string",
                              c->url_env);
        }
        for (o = opts; o->keyword != NULL; o++)
            if (strcmp(o->keyword, "options") == 0 && o->val != NULL && *o->val != '\0')
                theirs = o->val;
        if (c->statement_timeout > 0
            && asprintf(&options, "%s%s-c statement_timeout=%ld", theirs ? theirs : "",
                        theirs ? " " : "", c->statement_timeout) < 0)
            abort();
        PQconninfoFree(opts);
    }
    snprintf(timeout, sizeof(timeout), "%d", c->connect_timeout);
    keys[n] = "dbname";                    vals[n++] = url;
    keys[n] = "connect_timeout";           vals[n++] = timeout;
    keys[n] = "fallback_application_name"; vals[n++] = "ember";
    if (options != NULL) {
        keys[n] = "options";               vals[n++] = options;
    }
    keys[n] = NULL;                        vals[n] = NULL;

    conn_end = now_ms() + (int64_t) c->connect_timeout * 1000;
    if (conn_end > end)
        conn_end = end;
    c->lost[0] = '\0';
    c->pg = PQconnectStartParams(keys, vals, 1);
    free(options);
    if (c->pg == NULL)
        abort();   /* libpq could not allocate */
    st = PGRES_POLLING_WRITING;
    while (PQstatus(c->pg) != CONNECTION_BAD && st != PGRES_POLLING_OK
           && st != PGRES_POLLING_FAILED) {
        rc = wait_fd(PQsocket(c->pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, conn_end);
        if (rc == 0) {
            conn_drop(c);
            if (conn_end == end)
                return host->fail(err, 504, "db: connecting: the invocation's deadline "
                                  "came first");
            return host->fail(err, 503, "db: cannot connect: no answer within %d s "
                              "(connect_timeout)", c->connect_timeout);
        }
        if (rc < 0)
            break;
        st = PQconnectPoll(c->pg);
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        rc = host->fail(err, 503, "db: cannot connect: %s",
                        one_line(line, sizeof(line), PQerrorMessage(c->pg)));
        conn_drop(c);
        return rc;
    }
    PQsetNoticeReceiver(c->pg, on_notice, c);
    c->gen++;
    if (c->gen == 0)
        c->gen = 1;
    host->mark(ex, "db.connect");
    host->log(EMBER_LOG_DEBUG, "db: connected (server %d)", PQserverVersion(c->pg));
    return EMBER_OK;
}

/*
 * Collect the results of what was sent, polling until `end`.  *out gets
 * the last result (the caller PQclears it).  WAIT_GONE: the connection
 * broke (*out may still hold the error); WAIT_TIMEOUT: nothing yet.
 */
static enum db_wait wait_result(PGconn *pg, int64_t end, PGresult **out)
{
    PGresult *last = NULL, *r;
    int       rc;

    *out = NULL;
    for (;;) {
        while (!PQisBusy(pg)) {
            r = PQgetResult(pg);
            if (r == NULL) {
                *out = last;
                if (last == NULL || PQstatus(pg) != CONNECTION_OK)
                    return WAIT_GONE;
                return WAIT_OK;
            }
            /* Keep the first error, else the latest result. */
            if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
                PQclear(r);
                continue;
            }
            PQclear(last);
            last = r;
        }
        rc = wait_fd(PQsocket(pg), POLLIN, end);
        if (rc == 0) {
            PQclear(last);
            return WAIT_TIMEOUT;
        }
        if (rc < 0 || !PQconsumeInput(pg)) {
            if (PQisBusy(pg)) {
                PQclear(last);
                return WAIT_GONE;
            }
        }
    }
}

/* Ask the server to stop the running statement and wait a little for it
   to say so; a connection that stays busy is closed. */
static void cancel_running(struct db_conn *c)
{
    PGcancel *cn = PQgetCancel(c->pg);
    PGresult *r = NULL;
    char      buf[256];

    if (cn != NULL) {
        PQcancel(cn, buf, sizeof(buf));
        PQfreeCancel(cn);
    }
    if (wait_result(c->pg, now_ms() + CANCEL_GRACE_MS, &r) != WAIT_OK)
        conn_drop(c);
    PQclear(r);
}

/* ---------------------------------------------------------------- statuses */

/* The HTTP status for a failed statement's SQLSTATE. */
static int status_of(const char *sqlstate)
{
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return 500;
    if (strcmp(sqlstate, "57014") == 0)          /* query_canceled / statement_timeout */
        return 504;
    if (strncmp(sqlstate, "23", 2) == 0)         /* integrity constraint violation */
        return 409;
    if (strncmp(sqlstate, "22", 2) == 0)         /* data exception: bad input */
        return 400;
    if (strncmp(sqlstate, "08", 2) == 0          /* connection exception */
        || strncmp(sqlstate, "53", 2) == 0       /* insufficient resources */
        || strncmp(sqlstate, "57P", 3) == 0)     /* server shutting down / starting */
        return 503;
    return 500;
}

static int fail_result(struct db *db, PGresult *res, struct ember_error *err)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    int         status = status_of(state);
    char        line[512];

    if (msg == NULL)
        msg = one_line(line, sizeof(line), PQresultErrorMessage(res));
    return db->host->fail(err, status, "db: %s (SQLSTATE %s)", msg, state ? state : "none");
}

/* ---------------------------------------------------------------- running */

/* Why c broke, in one line: the server's own word if it gave one. */
static const char *lost_cause(const struct db_conn *c, const PGresult *res, char *buf,
                              size_t size)
{
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (msg != NULL)
        return msg;
    if (c->lost[0] != '\0')
        return c->lost;
    return one_line(buf, size, c->pg != NULL ? PQerrorMessage(c->pg) : NULL);
}

/*
 * Prepare (once per connection) and run r's statement with vals, opening
 * or replacing the connection as needed, until `end`.  On success *out is
 * the result (caller PQclears).
 */
static int execute(struct db *db, struct db_route *r, struct ember_exchange *ex,
                   const char *const *vals, int64_t end, PGresult **out,
                   struct ember_error *err)
{
    const struct ember_host *host = db->host;
    struct db_conn          *c = r->conn;
    int                      fresh = 0, rc, sent;
    char                     lost[320], line[512];
    PGresult                *res = NULL;
    enum db_wait             w;

    *out = NULL;
    lost[0] = '\0';
    for (;;) {
        if (c->pg != NULL && !conn_alive(c)) {
            snprintf(lost, sizeof(lost), "connection lost (%s)",
                     lost_cause(c, NULL, line, sizeof(line)));
            conn_drop(c);
        }
        if (c->pg == NULL) {
            rc = conn_open(db, c, ex, end, err);
            if (rc != EMBER_OK) {
                if (lost[0] != '\0') {
                    char why[sizeof(err->message)];

                    snprintf(why, sizeof(why), "%s", err->message);
                    host->fail(err, err->status, "db: %s; then %s", lost,
                               strncmp(why, "db: ", 4) == 0 ? why + 4 : why);
                }
                return rc;
            }
            if (lost[0] != '\0')
                host->log(EMBER_LOG_INFO, "db: %s; reconnected", lost);
            lost[0] = '\0';
            fresh = 1;
        }

        if (r->prepared_gen != c->gen) {
            sent = PQsendPrepare(c->pg, r->stmt, r->sql, r->nbinds, NULL);
            w = sent ? wait_result(c->pg, end, &res) : WAIT_GONE;
            if (w == WAIT_TIMEOUT) {
                /* Whether it got prepared is unknown: start afresh next time. */
                cancel_running(c);
                conn_drop(c);
                return host->fail(err, 504, "db: preparing the statement: the invocation's "
                                  "deadline came first");
            }
            if (w == WAIT_GONE) {
                snprintf(lost, sizeof(lost), "connection lost while preparing (%s)",
                         lost_cause(c, res, line, sizeof(line)));
                PQclear(res);
                conn_drop(c);
                if (!fresh)
                    continue;           /* nothing ran: safe to retry */
                return host->fail(err, 503, "db: %s", lost);
            }
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                rc = fail_result(db, res, err);
                PQclear(res);
                return rc;
            }
            PQclear(res);
            r->prepared_gen = c->gen;
        }

        sent = PQsendQueryPrepared(c->pg, r->stmt, r->nbinds, vals, NULL, NULL, 0);
        w = sent ? wait_result(c->pg, end, &res) : WAIT_GONE;
        if (w == WAIT_TIMEOUT) {
            cancel_running(c);
            return host->fail(err, 504, "db: the statement was cancelled: the invocation's "
                              "deadline came first");
        }
        if (w == WAIT_GONE) {
            snprintf(lost, sizeof(lost), "connection lost during the statement (%s)",
                     lost_cause(c, res, line, sizeof(line)));
            PQclear(res);
            conn_drop(c);
            if (!fresh && r->readonly)
                continue;               /* read-only: retry once on a new connection */
            return host->fail(err, 503, "db: %s%s", lost,
                              r->readonly ? "" : "; not retried (not read-only)");
        }
        *out = res;
        return EMBER_OK;
    }
}

/* ---------------------------------------------------------------- parameters */

/* Releases a json_object at the end of the request (pool cleanup). */
static void put_json(void *o)
{
    json_object_put(o);
}

/*
 * The request body as a JSON object, parsed once per request; owned by the
 * request's pool (a cleanup puts it).  NULL (with err filled, 400) if the
 * body is not a JSON object.
 */
static struct json_object *body_object(struct db *db, struct ember_exchange *ex,
                                       struct ember_error *err)
{
    const struct ember_request *req = ex->req;
    struct json_tokener        *tok;
    struct json_object         *o;
    size_t                      end;

    if (req->body == NULL || req->body_len == 0 || req->body_len > INT_MAX) {
        db->host->fail(err, 400, "db: the request has no JSON body");
        return NULL;
    }
    tok = json_tokener_new();
    if (tok == NULL)
        abort();
    o = json_tokener_parse_ex(tok, req->body, (int) req->body_len);
    end = json_tokener_get_parse_end(tok);
    if (o != NULL && json_tokener_get_error(tok) == json_tokener_success) {
        while (end < req->body_len && isspace((unsigned char) req->body[end]))
            end++;
    }
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success
        || end != req->body_len || !json_object_is_type(o, json_type_object)) {
        json_tokener_free(tok);
        json_object_put(o);
        db->host->fail(err, 400, "db: the request body is not a JSON object");
        return NULL;
    }
    json_tokener_free(tok);
    db->host->cleanup_add(ex, put_json, o);
    return o;
}

/* A JSON value as a text parameter (pool copy), or NULL for SQL NULL. */
static int json_param(struct db *db, struct ember_exchange *ex, struct json_object *v,
                      const char *what, const char **out, struct ember_error *err)
{
    const char *s;
    size_t      len;

    *out = NULL;
    switch (json_object_get_type(v)) {
    case json_type_null:
        return EMBER_OK;
    case json_type_string:
        s = json_object_get_string(v);
        len = (size_t) json_object_get_string_len(v);
        if (strlen(s) != len)
            return db->host->fail(err, 400, "db: %s contains a NUL character", what);
        break;
    case json_type_boolean:
        s = json_object_get_boolean(v) ? "true" : "false";
        len = strlen(s);
        break;
    default:   /* numbers as written; objects and arrays as JSON text */
        s = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN
                                                 | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        break;
    }
    *out = db->host->pstrndup(ex, s, len);
    return EMBER_OK;
}

static const char *source_name(enum db_source s)
{
    switch (s) {
    case SRC_PATH:   return "path";
    case SRC_QUERY:  return "query";
    case SRC_HEADER: return "header";
    case SRC_BODY:   return "body";
    case SRC_CLAIM:  return "claim";
    }
    return "?";
}

/* vals[i] for $i+1, from the request; pool memory. */
static int bind_values(struct db *db, struct db_route *r, struct ember_exchange *ex,
                       const char **vals, struct ember_error *err)
{
    const struct ember_host *host = db->host;
    struct json_object      *body = NULL, *claims = NULL, *v;
    char                     what[128];
    int                      i;

    if (r->uses_body) {
        body = body_object(db, ex, err);
        if (body == NULL)
            return EMBER_ERROR;
    }
    if (!json_object_object_get_ex(ex->vars, "claims", &claims)
        || !json_object_is_type(claims, json_type_object))
        claims = NULL;

    for (i = 0; i < r->nbinds; i++) {
        const struct db_bind *b = &r->binds[i];

        vals[i] = NULL;
        switch (b->src) {
        case SRC_PATH:
            vals[i] = host->param(ex, b->name);
            break;
        case SRC_QUERY:
            vals[i] = host->query(ex, b->name);
            break;
        case SRC_HEADER:
            vals[i] = host->header(ex, b->name);
            break;
        case SRC_BODY:
        case SRC_CLAIM:
            v = NULL;
            if (!json_object_object_get_ex(b->src == SRC_BODY ? body : claims, b->name, &v))
                break;
            snprintf(what, sizeof(what), "%s:%s", source_name(b->src), b->name);
            if (json_param(db, ex, v, what, &vals[i], err) != EMBER_OK)
                return EMBER_ERROR;
            break;
        }
    }
    return EMBER_OK;
}

/* ---------------------------------------------------------------- results */

/*
 * A numeric's text as a JSON number, exact but canonical: trailing zeros
 * of the fraction dropped ("1.50" -> 1.5, "7.00" -> 7), integers that fit
 * int64 as integers, others keeping their digits.  NaN and infinities are
 * not JSON numbers: strings.  Returns a new object (caller owns).
 */
static struct json_object *numeric_json(const char *v, int len)
{
    char               *s = ember_pu_xstrndup(v, (size_t) len);
    char               *dot, *e, *end;
    struct json_object *o;
    long long           ll;
    double              d;

    if (strspn(s + (s[0] == '-'), "0123456789.") != strlen(s + (s[0] == '-'))
        || s[s[0] == '-'] == '\0') {
        o = json_object_new_string(s);           /* NaN, Infinity, -Infinity */
        free(s);
        return o;
    }
    dot = strchr(s, '.');
    if (dot != NULL) {
        e = s + strlen(s);
        while (e > dot + 1 && e[-1] == '0')
            *--e = '\0';
        if (e == dot + 1)
            *dot = '\0';
    }
    if (strcmp(s, "-0") == 0)
        strcpy(s, "0");
    if (strchr(s, '.') == NULL) {
        errno = 0;
        ll = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0') {
            free(s);
            return json_object_new_int64(ll);
        }
    }
    d = strtod(s, NULL);
    o = json_object_new_double_s(d, s);
    free(s);
    return o;
}

/* One field as JSON by its column's type; NULL is JSON null. Caller owns. */
static struct json_object *field_json(const PGresult *res, int row, int col)
{
    const char         *v;
    int                 len;
    char               *end;
    long long           ll;
    double              d;
    struct json_object *o;

    if (PQgetisnull(res, row, col))
        return NULL;
    v = PQgetvalue(res, row, col);
    len = PQgetlength(res, row, col);
    switch (PQftype(res, col)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        errno = 0;
        ll = strtoll(v, &end, 10);
        if (errno == 0 && *end == '\0' && end != v)
            return json_object_new_int64(ll);
        break;
    case OID_FLOAT4:
    case OID_FLOAT8:
        d = strtod(v, &end);
        if (*end == '\0' && end != v && isfinite(d))
            return json_object_new_double_s(d, v);
        break;                                   /* NaN, Infinity: strings */
    case OID_NUMERIC:
        return numeric_json(v, len);
    case OID_BOOL:
        return json_object_new_boolean(v[0] == 't');
    case OID_JSON:
    case OID_JSONB: {
        struct json_tokener *tok = json_tokener_new();

        if (tok == NULL)
            abort();
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, v, len + 1);   /* with the NUL: "5" ends */
        if (json_tokener_get_error(tok) != json_tokener_success) {
            json_object_put(o);
            o = NULL;
        }
        json_tokener_free(tok);
        if (o != NULL || (len == 4 && memcmp(v, "null", 4) == 0))
            return o;
        break;
    }
    default:
        break;
    }
    return json_object_new_string_len(v, len);
}

/* Row `row` as an object keyed by column name. Caller owns. */
static struct json_object *row_json(const PGresult *res, int row)
{
    struct json_object *o = json_object_new_object();
    int                 col, ncols = PQnfields(res);

    for (col = 0; col < ncols; col++)
        json_object_object_add(o, PQfname(res, col), field_json(res, row, col));
    return o;
}

/* ---------------------------------------------------------------- hooks */

/* Allocates *state (freed by db_fini). Opens nothing: see the laziness rule. */
static int db_init(void **state, const struct ember_host *host,
                   const struct ember_conf_block *global, struct ember_error *err)
{
    struct db *db = ember_pu_xcalloc(1, sizeof(*db));

    db->host = host;
    db->global.url_env = DEFAULT_URL_ENV;
    db->global.connect_timeout = DEFAULT_CONNECT_TIMEOUT;
    db->global.statement_timeout = 0;
    if (read_settings(db, global, &db->global, err) != EMBER_OK) {
        free(db);
        return EMBER_ERROR;
    }
    *state = db;
    return EMBER_OK;
}

/* Does the statement only read? SELECT/VALUES/TABLE/SHOW, after blanks and '('. */
static int looks_readonly(const char *sql)
{
    static const char *const words[] = {"SELECT", "VALUES", "TABLE", "SHOW"};
    size_t                   i, n;

    while (isspace((unsigned char) *sql) || *sql == '(')
        sql++;
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        n = strlen(words[i]);
        if (strncasecmp(sql, words[i], n) == 0
            && !isalnum((unsigned char) sql[n]) && sql[n] != '_')
            return 1;
    }
    return 0;
}

/*
 * The highest $n in sql outside string literals, quoted identifiers,
 * dollar-quoted strings and comments; -1 if a literal is not closed.
 * used[k] is set for each $k (k <= MAX_BINDS).
 */
static int highest_param(const char *s, unsigned char used[MAX_BINDS + 1])
{
    const char *start = s;
    int         max = 0;

    while (*s != '\0') {
        if (*s == '\'' || *s == '"') {
            char q = *s;
            /* E'...' strings take backslash escapes */
            int  esc = q == '\'' && s > start && (s[-1] == 'E' || s[-1] == 'e')
                       && (s - 1 == start || (!isalnum((unsigned char) s[-2]) && s[-2] != '_'));

            s++;
            for (;;) {
                if (*s == '\0')
                    return -1;
                if (esc && *s == '\\' && s[1] != '\0') {
                    s += 2;
                    continue;
                }
                if (*s == q && s[1] == q) {
                    s += 2;
                    continue;
                }
                if (*s++ == q)
                    break;
            }
        } else if (s[0] == '-' && s[1] == '-') {
            while (*s != '\0' && *s != '\n')
                s++;
        } else if (s[0] == '/' && s[1] == '*') {
            const char *e = strstr(s + 2, "*/");

            if (e == NULL)
                return -1;
            s = e + 2;
        } else if (s[0] == '$' && isdigit((unsigned char) s[1])) {
            long n = strtol(s + 1, (char **) &s, 10);

            if (n > max)
                max = n > INT_MAX ? INT_MAX : (int) n;
            if (n <= MAX_BINDS)
                used[n] = 1;
        } else if (s[0] == '$') {
            /* $tag$ ... $tag$ (tag: letters, digits, _; not starting with a digit) */
            const char *t = s + 1, *e;
            char        tag[64];
            size_t      tl;

            while (isalnum((unsigned char) *t) || *t == '_')
                t++;
            if (*t != '$' || (size_t) (t - s + 1) >= sizeof(tag)) {
                s++;
                continue;
            }
            tl = (size_t) (t - s + 1);
            memcpy(tag, s, tl);
            tag[tl] = '\0';
            e = strstr(t + 1, tag);
            if (e == NULL)
                return -1;
            s = e + tl;
        } else {
            s++;
        }
    }
    return max;
}

/* Allocates *route_state (freed by db_route_fini). */
static int db_route_init(void *state, const struct ember_conf_block *conf,
                         void **route_state, struct ember_error *err)
{
    struct db                         *db = state;
    const struct ember_host           *host = db->host;
    const struct ember_conf_directive *sql, *bind, *d;
    struct db_settings                 s = db->global;
    struct db_route                   *r;
    unsigned char                      used[MAX_BINDS + 1] = {0};
    int                                i, maxn;
    long                               v;

    sql = conf != NULL ? host->conf_find(conf, "sql") : NULL;
    if (sql == NULL) {
        if (conf != NULL && conf->file != NULL)
            return host->fail(err, 500, "%s:%d: db: this route needs `sql '...'`",
                              conf->file, conf->line);
        return host->fail(err, 500, "db: this route has no settings; it needs "
                          "`db { sql '...' }`");
    }
    if (read_settings(db, conf, &s, err) != EMBER_OK)
        return EMBER_ERROR;

    r = ember_pu_xcalloc(1, sizeof(*r));
    r->sql = sql->argv[0];
    snprintf(r->stmt, sizeof(r->stmt), "ember_%u", db->nroutes);

    bind = host->conf_find(conf, "bind");
    if (bind != NULL) {
        if (bind->argc > MAX_BINDS) {
            free(r);
            return host->fail(err, 500, "%s:%d: db: bind: at most %d values", bind->file,
                              bind->line, MAX_BINDS);
        }
        for (i = 0; i < bind->argc; i++) {
            const char     *a = bind->argv[i];
            const char     *colon = strchr(a, ':');
            size_t          kl = colon != NULL ? (size_t) (colon - a) : 0;
            enum db_source  src;

            if (colon == NULL || colon[1] == '\0') {
                free(r);
                return host->fail(err, 500, "%s:%d: db: bind \"%s\": expected SOURCE:NAME "
                                  "(path, query, header, body, claim)", bind->file,
                                  bind->line, a);
            }
            if (kl == 4 && strncmp(a, "path", 4) == 0)
                src = SRC_PATH;
            else if (kl == 5 && strncmp(a, "query", 5) == 0)
                src = SRC_QUERY;
            else if (kl == 6 && strncmp(a, "header", 6) == 0)
                src = SRC_HEADER;
            else if (kl == 4 && strncmp(a, "body", 4) == 0)
                src = SRC_BODY;
            else if (kl == 5 && strncmp(a, "claim", 5) == 0)
                src = SRC_CLAIM;
            else {
                free(r);
                return host->fail(err, 500, "%s:%d: db: bind \"%s\": unknown source \"%.*s\" "
                                  "(path, query, header, body, claim)", bind->file,
                                  bind->line, a, (int) kl, a);
            }
            r->binds[i].src = src;
            r->binds[i].name = colon + 1;
            if (src == SRC_BODY)
                r->uses_body = 1;
        }
        r->nbinds = bind->argc;
    }
    maxn = highest_param(r->sql, used);
    if (maxn < 0) {
        free(r);
        return host->fail(err, 500, "%s:%d: db: sql: a quoted string or comment is not "
                          "closed", sql->file, sql->line);
    }
    if (maxn != r->nbinds) {
        const struct ember_conf_directive *at = bind != NULL ? bind : sql;

        free(r);
        if (maxn == 0)
            return host->fail(err, 500, "%s:%d: db: bind gives %d value(s) but sql uses no "
                              "$n", at->file, at->line, bind->argc);
        return host->fail(err, 500, "%s:%d: db: sql uses $1..$%d but bind gives %d value(s)",
                          at->file, at->line, maxn, bind != NULL ? bind->argc : 0);
    }
    for (i = 1; i <= maxn; i++) {
        if (!used[i]) {
            free(r);
            return host->fail(err, 500, "%s:%d: db: sql uses $%d but not $%d: every bound "
                              "value must appear", sql->file, sql->line, maxn, i);
        }
    }

    d = host->conf_find(conf, "result");
    r->result = RESULT_AUTO;
    if (d != NULL) {
        if (strcmp(d->argv[0], "one") == 0)
            r->result = RESULT_ONE;
        else if (strcmp(d->argv[0], "many") == 0)
            r->result = RESULT_MANY;
        else if (strcmp(d->argv[0], "none") == 0)
            r->result = RESULT_NONE;
        else {
            free(r);
            return host->fail(err, 500, "%s:%d: db: result \"%s\": expected one, many or none",
                              d->file, d->line, d->argv[0]);
        }
    }
    d = host->conf_find(conf, "status");
    if (d != NULL) {
        if (ember_pu_parse_long(d->argv[0], 200, 599, &v) != 0) {
            free(r);
            return host->fail(err, 500, "%s:%d: db: status \"%s\": expected an HTTP status, "
                              "200 to 599", d->file, d->line, d->argv[0]);
        }
        r->status = (int) v;
    }
    d = host->conf_find(conf, "readonly");
    if (d != NULL) {
        if (strcmp(d->argv[0], "on") != 0 && strcmp(d->argv[0], "off") != 0) {
            free(r);
            return host->fail(err, 500, "%s:%d: db: readonly \"%s\": expected on or off",
                              d->file, d->line, d->argv[0]);
        }
        r->readonly = strcmp(d->argv[0], "on") == 0;
    } else {
        r->readonly = looks_readonly(r->sql);
    }

    r->conn = conn_for(db, &s);
    db->nroutes++;
    *route_state = r;
    return EMBER_OK;
}

static int db_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    struct db               *db = state;
    struct db_route         *r = route_state;
    const struct ember_host *host = db->host;
    const char              *vals[MAX_BINDS];
    int64_t                  left, end;
    PGresult                *res = NULL;
    struct json_object      *out;
    int                      rows, rc, status;

    if (bind_values(db, r, ex, vals, ex->err) != EMBER_OK)
        return EMBER_ERROR;

    left = host->remaining_ms(ex);
    if (left > UNKNOWN_DEADLINE_MS)
        left = UNKNOWN_DEADLINE_MS;
    if (left - DEADLINE_MARGIN_MS < MIN_BUDGET_MS)
        return host->fail(ex->err, 504, "db: %lld ms left before the invocation's deadline; "
                          "not starting the statement", (long long) left);
    end = now_ms() + left - DEADLINE_MARGIN_MS;

    rc = execute(db, r, ex, vals, end, &res, ex->err);
    if (rc != EMBER_OK)
        return rc;
    if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail_result(db, res, ex->err);
        PQclear(res);
        return rc;
    }

    rows = PQntuples(res);
    switch (r->result) {
    case RESULT_ONE:
        if (rows == 0) {
            PQclear(res);
            return host->fail(ex->err, 404, "db: no row");
        }
        out = row_json(res, 0);
        status = r->status ? r->status : 200;
        break;
    case RESULT_AUTO:
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            out = NULL;
            status = r->status ? r->status : 204;
            break;
        }
        /* fall through */
    case RESULT_MANY: {
        int i;

        out = json_object_new_array_ext(rows);
        for (i = 0; i < rows; i++)
            json_object_array_add(out, row_json(res, i));
        status = r->status ? r->status : 200;
        break;
    }
    case RESULT_NONE:
    default:
        out = NULL;
        status = r->status ? r->status : 204;
        break;
    }
    PQclear(res);
    if (out != NULL)
        json_object_object_add(ex->vars, "result", out);   /* transfers out */
    host->set_status(ex, status);
    return EMBER_CONTINUE;
}

static void db_route_fini(void *state, void *route_state)
{
    free(route_state);
}

static void db_fini(void *state)
{
    struct db      *db = state;
    struct db_conn *c, *next;

    if (db == NULL)
        return;
    for (c = db->conns; c != NULL; c = next) {
        next = c->next;
        conn_drop(c);
        free(c);
    }
    free(db);
}

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_db = {
    EMBER_PLUGIN_HEADER,
    .name       = "db",
    .init       = db_init,
    .route_init = db_route_init,
    .handle     = db_handle,
    .route_fini = db_route_fini,
    .fini       = db_fini,
};
