/*
 * connect.c - the db plugin's connections: which settings choose one, how
 * one opens (the connection string from the environment, connect_timeout
 * bounded by the invocation's deadline, our options after the string's),
 * and whether an idle one is still alive.  The connection string is never
 * logged: it may hold a password.
 */
#define _GNU_SOURCE

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "text.h"

/* ---------------------------------------------------------------- small helpers */

/* libpq's messages end with a newline and may span lines: one line. */
const char *ember_db_one_line(char *buf, size_t size, const char *msg)
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
int ember_db_read_settings(const struct ember_db *db, const struct ember_conf_block *b,
                         struct ember_db_settings *s, struct ember_error *err)
{
    const struct ember_host           *host = db->host;
    const struct ember_conf_directive *d;
    long                               v;

    if (b == NULL)
        return EMBER_OK;
    d = host->conf_find(b, "url_env");
    if (d != NULL) {
        if (!ember_env_name(d->argv[0]))
            return host->fail(err, 500, "%s:%d: db: url_env \"%s\": not an environment "
                              "variable name", d->file, d->line, d->argv[0]);
        s->url_env = d->argv[0];
    }
    d = host->conf_find(b, "password_env");
    if (d != NULL) {
        if (!ember_env_name(d->argv[0]))
            return host->fail(err, 500, "%s:%d: db: password_env \"%s\": not an environment "
                              "variable name", d->file, d->line, d->argv[0]);
        s->password_env = d->argv[0];
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
    d = host->conf_find(b, "sslmode");
    if (d != NULL) {
        static const char *const modes[] = {"disable", "allow", "prefer", "require",
                                            "verify-ca", "verify-full"};
        size_t i;

        for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
            if (strcmp(d->argv[0], modes[i]) == 0)
                break;
        if (i == sizeof(modes) / sizeof(modes[0]))
            return host->fail(err, 500, "%s:%d: db: sslmode \"%s\": expected disable, allow, "
                              "prefer, require, verify-ca or verify-full", d->file, d->line,
                              d->argv[0]);
        s->sslmode = d->argv[0];
    }
    d = host->conf_find(b, "sslrootcert");
    if (d != NULL) {
        if (*d->argv[0] == '\0')
            return host->fail(err, 500, "%s:%d: db: sslrootcert: expected a file (a CA "
                              "bundle in PEM)", d->file, d->line);
        s->sslrootcert = d->argv[0];
        s->sslrootcert_conf = d->file;
    }
    d = host->conf_find(b, "max_idle");
    if (d != NULL) {
        if (ember_pu_parse_long(d->argv[0], 0, 86400, &v) != 0)
            return host->fail(err, 500, "%s:%d: db: max_idle \"%s\": expected seconds, 0 "
                              "to 86400 (0: check before every statement)", d->file, d->line,
                              d->argv[0]);
        s->max_idle = (int) v;
    }
    d = host->conf_find(b, "pooler");
    if (d != NULL) {
        if (strcmp(d->argv[0], "on") != 0 && strcmp(d->argv[0], "off") != 0)
            return host->fail(err, 500, "%s:%d: db: pooler \"%s\": expected on or off",
                              d->file, d->line, d->argv[0]);
        s->pooler = strcmp(d->argv[0], "on") == 0;
    }
    return ember_db_creds_read(db, b, &s->creds, err);       /* iam_auth, *_secret */
}

int ember_db_check_settings(const struct ember_db *db, const struct ember_conf_block *b,
                            const struct ember_db_settings *s, struct ember_error *err)
{
    if (s->pooler && s->statement_timeout > 0) {
        if (b != NULL && b->file != NULL)
            return db->host->fail(err, 500, "%s:%d: db: statement_timeout is a startup option, "
                                  "which a pooler (pooler on) does not pass on; set it on the "
                                  "role instead (ALTER ROLE ... SET statement_timeout = ...)",
                                  b->file, b->line);
        return db->host->fail(err, 500, "db: statement_timeout is a startup option, which a "
                              "pooler (pooler on) does not pass on; set it on the role instead "
                              "(ALTER ROLE ... SET statement_timeout = ...)");
    }
    return EMBER_OK;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The connection for these settings; created (unconnected) if new. */
struct ember_db_conn *ember_db_conn_for(struct ember_db *db,
                                        const struct ember_db_settings *s)
{
    struct ember_db_conn *c;

    for (c = db->conns; c != NULL; c = c->next)
        if (strcmp(c->set.url_env, s->url_env) == 0
            && same_str(c->set.password_env, s->password_env)
            && c->set.connect_timeout == s->connect_timeout
            && c->set.statement_timeout == s->statement_timeout
            && same_str(c->set.sslmode, s->sslmode)
            && same_str(c->set.sslrootcert, s->sslrootcert)
            && same_str(c->set.sslrootcert_conf, s->sslrootcert_conf)
            && ember_db_creds_same(&c->set.creds, &s->creds)
            && c->set.max_idle == s->max_idle && c->set.pooler == s->pooler)
            return c;
    c = ember_pu_xcalloc(1, sizeof(*c));
    c->set = *s;
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
    struct ember_db_conn *c = arg;
    const char     *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char     *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    if (msg == NULL)
        return;
    if (sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        snprintf(c->lost, sizeof(c->lost), "%s", msg);
}

void ember_db_conn_drop(struct ember_db_conn *c)
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
int ember_db_conn_alive(struct ember_db_conn *c)
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


/*
 * A relative sslrootcert is in the unzipped function ($LAMBDA_TASK_ROOT,
 * where the ZIP can carry a CA bundle), else (a local run) next to the
 * config file that named it.  Caller frees.
 */
static char *rootcert_path(const struct ember_db_settings *s)
{
    const char *root = getenv("LAMBDA_TASK_ROOT");
    const char *slash;
    char       *p;

    if (s->sslrootcert[0] == '/')
        return ember_pu_xstrdup(s->sslrootcert);
    if (root != NULL && *root != '\0') {
        if (asprintf(&p, "%s/%s", root, s->sslrootcert) < 0)
            abort();
        return p;
    }
    slash = s->sslrootcert_conf != NULL ? strrchr(s->sslrootcert_conf, '/') : NULL;
    if (slash == NULL)
        return ember_pu_xstrdup(s->sslrootcert);
    if (asprintf(&p, "%.*s/%s", (int) (slash - s->sslrootcert_conf), s->sslrootcert_conf,
                 s->sslrootcert) < 0)
        abort();
    return p;
}

/*
 * The password of a new connection, when it is not the connection
 * string's own: made (or read) at each connect, never logged.  *out is
 * NULL (use the string's, or libpq's PGPASSWORD/.pgpass) or malloc'd (the
 * caller wipes and frees it once the connection has started).  `opts` is
 * the parsed connection string (host, port, user) for sources that need
 * them.  This is where credentials made at connect time plug in.
 */
static int conn_password(struct ember_db *db, const struct ember_db_conn *c,
                         const PQconninfoOption *opts, char **out, struct ember_error *err)
{
    const char *v;

    (void) opts;
    *out = NULL;
    if (c->set.password_env != NULL) {
        v = getenv(c->set.password_env);
        if (v == NULL)
            return db->host->fail(err, 500, "db: environment variable %s is not set (it "
                                  "holds the password: password_env)",
                                  c->set.password_env);
        *out = ember_pu_xstrdup(v);
    }
    return EMBER_OK;
}

/* Wipe and free a secret. */
static void free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/*
 * Open c->pg, polling until `end` (monotonic ms: the request's budget) or
 * connect_timeout, whichever comes first.  The connection string is never
 * logged: it may hold a password.  Our keywords follow the string's
 * (expand_dbname), so they win; `options` adds to the string's.
 */
int ember_db_conn_open(struct ember_db *db, struct ember_db_conn *c,
                       struct ember_exchange *ex, int64_t end, struct ember_error *err)
{
    const struct ember_host        *host = db->host;
    const struct ember_db_settings *set = &c->set;
    const char                     *url = getenv(set->url_env);
    const char                     *keys[24], *vals[24];
    struct ember_db_creds_conn      cc;           /* IAM token, secrets (creds.c) */
    int                             again = 1;
    char                            timeout[16], idle[16], intvl[16], count[16], line[512];
    char                           *options = NULL, *rootcert = NULL, *password = NULL;
    int64_t                         conn_end;
    PostgresPollingStatusType       st;
    PQconninfoOption               *opts, *o;
    char                           *perr = NULL;
    const char                     *theirs = NULL;
    int                             n = 0, rc;

    if (ember_db_creds_has_url(&set->creds))
        url = NULL;                               /* url_secret: $url_env is not read */
    else if (url == NULL)
        return host->fail(err, 500, "db: environment variable %s is not set (it holds the "
                          "connection string)", set->url_env);
retry:
    n = 0;
    theirs = NULL;
    rc = ember_db_creds_prepare(db, &set->creds, url, end, &cc, err);
    if (rc != EMBER_OK)
        return rc;
    if (cc.conninfo != NULL)
        url = cc.conninfo;

    /* Parse it first: libpq's own complaint about a malformed string may
       quote it, password and all. */
    opts = PQconninfoParse(url, &perr);
    if (opts == NULL) {
        PQfreemem(perr);
        ember_db_creds_clear(&cc);
        if (ember_db_creds_has_url(&set->creds))
            return host->fail(err, 503, "db: url_secret: the secret is not a valid libpq "
                              "connection string");
        return host->fail(err, 500, "db: $%s is not a valid libpq connection string",
                          set->url_env);
    }
    for (o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val != NULL && *o->val != '\0')
            theirs = o->val;
    if (set->statement_timeout > 0
        && asprintf(&options, "%s%s-c statement_timeout=%ld", theirs ? theirs : "",
                    theirs ? " " : "", set->statement_timeout) < 0)
        abort();
    rc = conn_password(db, c, opts, &password, err);
    PQconninfoFree(opts);
    if (rc != EMBER_OK) {
        free(options);
        ember_db_creds_clear(&cc);
        return rc;
    }

    snprintf(timeout, sizeof(timeout), "%d", set->connect_timeout);
    snprintf(idle, sizeof(idle), "%d", EMBER_DB_KEEPALIVE_IDLE);
    snprintf(intvl, sizeof(intvl), "%d", EMBER_DB_KEEPALIVE_INTERVAL);
    snprintf(count, sizeof(count), "%d", EMBER_DB_KEEPALIVE_COUNT);
    keys[n] = "dbname";                    vals[n++] = url;
    keys[n] = "connect_timeout";           vals[n++] = timeout;
    keys[n] = "fallback_application_name"; vals[n++] = "ember";
    /* A peer that vanished (a NAT or proxy dropped the flow) is found by
       TCP keepalives within idle + interval * count seconds. */
    keys[n] = "keepalives";                vals[n++] = "1";
    keys[n] = "keepalives_idle";           vals[n++] = idle;
    keys[n] = "keepalives_interval";       vals[n++] = intvl;
    keys[n] = "keepalives_count";          vals[n++] = count;
    if (set->sslmode != NULL) {
        keys[n] = "sslmode";               vals[n++] = set->sslmode;
    }
    if (set->sslrootcert != NULL) {
        rootcert = rootcert_path(set);
        keys[n] = "sslrootcert";           vals[n++] = rootcert;
    }
    if (options != NULL) {
        keys[n] = "options";               vals[n++] = options;
    }
    if (password != NULL) {
        keys[n] = "password";              vals[n++] = password;
    }
    n = ember_db_creds_params(&set->creds, &cc, keys, vals, n);   /* host, port, user, token */
    keys[n] = NULL;                        vals[n] = NULL;

    conn_end = ember_pu_now_ms() + (int64_t) set->connect_timeout * 1000;
    if (conn_end > end)
        conn_end = end;
    c->lost[0] = '\0';
    c->pg = PQconnectStartParams(keys, vals, 1);
    free(options);
    free(rootcert);
    free_secret(password);
    options = rootcert = password = NULL;
    if (c->pg == NULL)
        abort();   /* libpq could not allocate */
    st = PGRES_POLLING_WRITING;
    while (PQstatus(c->pg) != CONNECTION_BAD && st != PGRES_POLLING_OK
           && st != PGRES_POLLING_FAILED) {
        rc = ember_pu_wait_fd(PQsocket(c->pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                              conn_end);
        if (rc == 0) {
            ember_db_conn_drop(c);
            ember_db_creds_clear(&cc);
            if (conn_end == end)
                return host->fail(err, 504, "db: connecting: the invocation's deadline "
                                  "came first");
            return host->fail(err, 503, "db: cannot connect: no answer within %d s "
                              "(connect_timeout)", set->connect_timeout);
        }
        if (rc < 0)
            break;
        st = PQconnectPoll(c->pg);
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        /* a rotated secret: the cached one was refused; once per connect */
        if (again && ember_db_creds_refused(db, &set->creds, &cc, c->pg, end)) {
            again = 0;
            ember_db_conn_drop(c);
            ember_db_creds_clear(&cc);
            url = ember_db_creds_has_url(&set->creds) ? NULL : getenv(set->url_env);
            goto retry;
        }
        rc = host->fail(err, 503, "db: cannot connect: %s%s",
                        ember_db_one_line(line, sizeof(line), PQerrorMessage(c->pg)),
                        ember_db_creds_hint(&set->creds, c->pg));
        ember_db_conn_drop(c);
        ember_db_creds_clear(&cc);
        return rc;
    }
    ember_db_creds_clear(&cc);
    PQsetNoticeReceiver(c->pg, on_notice, c);
    c->last_used = ember_pu_now_ms();
    c->gen++;
    if (c->gen == 0)
        c->gen = 1;
    host->mark(ex, "db.connect");
    host->log(EMBER_LOG_DEBUG, "db: connected (server %d)", PQserverVersion(c->pg));
    return EMBER_OK;
}
