/*
 * exec.c - running a route's statement on its connection: prepared once
 * per connection, sent asynchronously, waited for until the invocation's
 * deadline (then cancelled), the connection replaced when found dead and
 * the statement retried once when that is safe; a failed statement's
 * SQLSTATE becomes the HTTP status.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <stdio.h>
#include <string.h>

#include "db.h"

/*
 * Collect the results of what was sent, polling until `end`.  *out gets
 * the last result (the caller PQclears it).  EMBER_DB_WAIT_GONE: the connection
 * broke (*out may still hold the error); EMBER_DB_WAIT_TIMEOUT: nothing yet.
 */
static enum ember_db_wait wait_result(PGconn *pg, int64_t end, PGresult **out)
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
                    return EMBER_DB_WAIT_GONE;
                return EMBER_DB_WAIT_OK;
            }
            /* Keep the first error, else the latest result. */
            if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
                PQclear(r);
                continue;
            }
            PQclear(last);
            last = r;
        }
        rc = ember_pu_wait_fd(PQsocket(pg), POLLIN, end);
        if (rc == 0) {
            PQclear(last);
            return EMBER_DB_WAIT_TIMEOUT;
        }
        if (rc < 0 || !PQconsumeInput(pg)) {
            if (PQisBusy(pg)) {
                PQclear(last);
                return EMBER_DB_WAIT_GONE;
            }
        }
    }
}

/*
 * A cancel request is a new connection to the server: PQcancel() blocks in
 * connect() and then until the server closes it, for ever against a peer
 * that stopped answering.  It runs in a thread of its own, waited for
 * EMBER_DB_CANCEL_SEND_MS; after that the thread is left to finish (or
 * not) and frees the job itself.
 */
struct cancel_job {
    pthread_mutex_t  mu;
    pthread_cond_t   cv;
    PGcancel        *cn;
    int              done;
    int              abandoned;
    int              sent;
    char             why[256];
};

static void cancel_job_free(struct cancel_job *j)
{
    PQfreeCancel(j->cn);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static void *cancel_thread(void *arg)
{
    struct cancel_job *j = arg;
    char               why[256];
    int                sent, abandoned;

    why[0] = '\0';
    sent = PQcancel(j->cn, why, sizeof(why));
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    j->sent = sent;
    memcpy(j->why, why, sizeof(why));
    abandoned = j->abandoned;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (abandoned)
        cancel_job_free(j);
    return NULL;
}

/* Send a cancel request for c's statement, waiting at most `ms`.  1 if the
   server took it; else why[] says what happened. */
static int send_cancel(struct ember_db_conn *c, int64_t ms, char *why, size_t size)
{
    struct cancel_job *j;
    pthread_t          t;
    pthread_attr_t     attr;
    struct timespec    until;
    int                rc = 0, sent = 0;

    j = ember_pu_xcalloc(1, sizeof(*j));
    j->cn = PQgetCancel(c->pg);
    if (j->cn == NULL) {
        free(j);
        snprintf(why, size, "no cancel key");
        return 0;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, cancel_thread, j) != 0) {
        pthread_attr_destroy(&attr);
        cancel_job_free(j);
        snprintf(why, size, "could not start a thread for it");
        return 0;
    }
    pthread_attr_destroy(&attr);

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&j->cv, &j->mu, &until);
    if (j->done) {
        sent = j->sent;
        snprintf(why, size, "%s", j->why);
        pthread_mutex_unlock(&j->mu);
        cancel_job_free(j);
        return sent;
    }
    j->abandoned = 1;                 /* the thread frees it */
    pthread_mutex_unlock(&j->mu);
    snprintf(why, size, "no answer within %lld ms", (long long) ms);
    return 0;
}

/* Ask the server to stop the running statement and wait a little for it
   to say so; a connection that stays busy is closed. */
static void cancel_running(const struct ember_db *db, struct ember_db_conn *c)
{
    PGresult *r = NULL;
    char      why[256], line[300];

    if (!send_cancel(c, EMBER_DB_CANCEL_SEND_MS, why, sizeof(why))) {
        db->host->log(EMBER_LOG_WARN, "db: the cancel request did not get through (%s); "
                      "closing the connection", ember_db_one_line(line, sizeof(line), why));
        ember_db_conn_drop(c);
        return;
    }
    if (wait_result(c->pg, ember_pu_now_ms() + EMBER_DB_CANCEL_GRACE_MS, &r) != EMBER_DB_WAIT_OK)
        ember_db_conn_drop(c);
    PQclear(r);
}

/*
 * A connection idle longer than max_idle may have been dropped silently
 * (a NAT or a proxy forgot the flow): an empty query, answered within
 * connect_timeout (and the budget), or it is not trusted.  1 if it answered.
 */
static int conn_check(struct ember_db_conn *c, int64_t end)
{
    int64_t   e = ember_pu_now_ms() + (int64_t) c->set.connect_timeout * 1000;
    PGresult *res = NULL;
    int       ok;

    if (e > end)
        e = end;
    if (!PQsendQuery(c->pg, ""))
        return 0;
    ok = wait_result(c->pg, e, &res) == EMBER_DB_WAIT_OK
         && PQresultStatus(res) == PGRES_EMPTY_QUERY;
    PQclear(res);
    if (ok)
        c->last_used = ember_pu_now_ms();
    return ok;
}

/* ---------------------------------------------------------------- statuses */

static const char *one_line_of(const PGresult *res, char *buf, size_t size)
{
    return ember_db_one_line(buf, size, PQresultErrorMessage(res));
}

/* The HTTP status for a failed statement's SQLSTATE. */
static int status_of(const char *sqlstate)
{
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return 500;
    if (strcmp(sqlstate, "57014") == 0)          /* query_canceled / statement_timeout */
        return 504;
    if (strcmp(sqlstate, "23502") == 0           /* not_null_violation: a field missing */
        || strcmp(sqlstate, "23514") == 0)       /* check_violation: a value refused */
        return 400;
    if (strncmp(sqlstate, "23", 2) == 0)         /* unique, foreign key, exclusion */
        return 409;
    if (strncmp(sqlstate, "22", 2) == 0)         /* data exception: bad input */
        return 400;
    if (strncmp(sqlstate, "08", 2) == 0          /* connection exception */
        || strncmp(sqlstate, "53", 2) == 0       /* insufficient resources */
        || strncmp(sqlstate, "57P", 3) == 0)     /* server shutting down / starting */
        return 503;
    return 500;
}

/*
 * The field a CHECK constraint guards, from PostgreSQL's default name
 * for a column's check, TABLE_COLUMN_check; else the constraint's name.
 * Pool memory.
 */
static const char *check_field(struct ember_db *db, struct ember_exchange *ex,
                               const char *table, const char *constraint)
{
    size_t tl = table != NULL ? strlen(table) : 0, cl = strlen(constraint);

    if (tl > 0 && cl > tl + 7 && strncmp(constraint, table, tl) == 0 && constraint[tl] == '_'
        && strcmp(constraint + cl - 6, "_check") == 0)
        return db->host->pstrndup(ex, constraint + tl + 1, cl - tl - 7);
    return constraint;
}

int ember_db_fail_result(struct ember_db *db, PGresult *res, struct ember_exchange *ex,
                         struct ember_error *err)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    const char *table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
    int         status = status_of(state);
    char        line[512];

    if (msg == NULL)
        msg = one_line_of(res, line, sizeof(line));
    db->host->fail(err, status, "db: %s (SQLSTATE %s)", msg, state ? state : "none");
    /* The client's own mistake: say which field (pool memory, alive until
       the response is built). */
    if (state != NULL && strcmp(state, "23502") == 0 && column != NULL)
        err->public_message = db->host->psprintf(ex, "%s: required", column);
    else if (state != NULL && strcmp(state, "23514") == 0 && constraint != NULL)
        err->public_message = db->host->psprintf(ex, "%s: value not allowed",
                                                 check_field(db, ex, table, constraint));
    return EMBER_ERROR;
}

/* ---------------------------------------------------------------- running */

/* Why c broke, in one line: the server's own word if it gave one. */
static const char *lost_cause(const struct ember_db_conn *c, const PGresult *res, char *buf,
                              size_t size)
{
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (msg != NULL)
        return msg;
    if (c->lost[0] != '\0')
        return c->lost;
    return ember_db_one_line(buf, size, c->pg != NULL ? PQerrorMessage(c->pg) : NULL);
}

/*
 * Prepare (once per connection) and run r's statement with vals, opening
 * or replacing the connection as needed, until `end`.  On success *out is
 * the result (caller PQclears).
 */
int ember_db_execute(struct ember_db *db, struct ember_db_route *r,
                     struct ember_exchange *ex, const char *const *vals, int64_t end,
                     PGresult **out, struct ember_error *err)
{
    const struct ember_host *host = db->host;
    struct ember_db_conn          *c = r->conn;
    int                      fresh = 0, rc, sent;
    char                     lost[640], line[512];
    PGresult                *res = NULL;
    enum ember_db_wait             w;

    *out = NULL;
    lost[0] = '\0';
    for (;;) {
        if (c->pg != NULL && !ember_db_conn_alive(c)) {
            snprintf(lost, sizeof(lost), "connection lost (%s)",
                     lost_cause(c, NULL, line, sizeof(line)));
            ember_db_conn_drop(c);
        } else if (c->pg != NULL && !fresh
                   && ember_pu_now_ms() - c->last_used >= (int64_t) c->set.max_idle * 1000
                   && !conn_check(c, end)) {
            snprintf(lost, sizeof(lost), "the connection idle for %lld s did not answer a "
                     "check (%s)", (long long) (ember_pu_now_ms() - c->last_used) / 1000,
                     lost_cause(c, NULL, line, sizeof(line)));
            ember_db_conn_drop(c);
        }
        if (c->pg == NULL) {
            rc = ember_db_conn_open(db, c, ex, end, err);
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

        if (!c->set.pooler && r->prepared_gen != c->gen) {
            sent = PQsendPrepare(c->pg, r->stmt, r->sql, r->nbinds, NULL);
            w = sent ? wait_result(c->pg, end, &res) : EMBER_DB_WAIT_GONE;
            if (w == EMBER_DB_WAIT_TIMEOUT) {
                /* Whether it got prepared is unknown: start afresh next time. */
                cancel_running(db, c);
                ember_db_conn_drop(c);
                return host->fail(err, 504, "db: preparing the statement: the invocation's "
                                  "deadline came first");
            }
            if (w == EMBER_DB_WAIT_GONE) {
                snprintf(lost, sizeof(lost), "connection lost while preparing (%s)",
                         lost_cause(c, res, line, sizeof(line)));
                PQclear(res);
                ember_db_conn_drop(c);
                if (!fresh)
                    continue;           /* nothing ran: safe to retry */
                return host->fail(err, 503, "db: %s", lost);
            }
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                rc = ember_db_fail_result(db, res, ex, err);
                PQclear(res);
                return rc;
            }
            PQclear(res);
            r->prepared_gen = c->gen;
        }

        /* Behind a pooler the next transaction may run on another server
           session: an unnamed statement, parsed with each execution. */
        if (c->set.pooler)
            sent = PQsendQueryParams(c->pg, r->sql, r->nbinds, NULL, vals, NULL, NULL, 0);
        else
            sent = PQsendQueryPrepared(c->pg, r->stmt, r->nbinds, vals, NULL, NULL, 0);
        w = sent ? wait_result(c->pg, end, &res) : EMBER_DB_WAIT_GONE;
        if (w == EMBER_DB_WAIT_TIMEOUT) {
            cancel_running(db, c);
            return host->fail(err, 504, "db: the statement was cancelled: the invocation's "
                              "deadline came first");
        }
        if (w == EMBER_DB_WAIT_GONE) {
            snprintf(lost, sizeof(lost), "connection lost during the statement (%s)",
                     lost_cause(c, res, line, sizeof(line)));
            PQclear(res);
            ember_db_conn_drop(c);
            if (!fresh && r->readonly)
                continue;               /* read-only: retry once on a new connection */
            return host->fail(err, 503, "db: %s%s", lost,
                              r->readonly ? "" : "; not retried (not marked readonly on)");
        }
        c->last_used = ember_pu_now_ms();
        *out = res;
        return EMBER_OK;
    }
}

