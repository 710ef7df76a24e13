/*
 * bind.c - the values of $1..$n: the `bind SRC:NAME ...` directive, checked
 * against the $n the statement uses, and per request each value as text
 * (SQL NULL when missing) from the path, query, a header, the JSON body or
 * a claim.
 */
#define _GNU_SOURCE

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "json-strict.h"
#include "text.h"

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
static struct json_object *body_object(struct ember_db *db, struct ember_exchange *ex,
                                       struct ember_error *err)
{
    const struct ember_request *req = ex->req;
    struct json_object         *o;
    const char                 *why;
    size_t                      at;

    if (req->body == NULL || req->body_len == 0 || req->body_len > INT_MAX) {
        db->host->fail(err, 400, "db: the request has no JSON body");
        return NULL;
    }
    /* RFC 8259 only (common/json-strict.c): no trailing commas, comments, NaN,
       nothing that is not UTF-8 */
    o = NULL;
    if (!ember_utf8_valid((const unsigned char *) req->body, req->body_len)
        || ember_json_parse(NULL, req->body, req->body_len, &o, &at, &why) != 0
        || o == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        db->host->fail(err, 400, "db: the request body is not a JSON object");
        return NULL;
    }
    db->host->cleanup_add(ex, put_json, o);
    return o;
}

/* A JSON value as a text parameter (pool copy), or NULL for SQL NULL. */
static int json_param(struct ember_db *db, struct ember_exchange *ex, struct json_object *v,
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

static const char *source_name(enum ember_db_source s)
{
    switch (s) {
    case EMBER_DB_SRC_PATH:   return "path";
    case EMBER_DB_SRC_QUERY:  return "query";
    case EMBER_DB_SRC_HEADER: return "header";
    case EMBER_DB_SRC_BODY:   return "body";
    case EMBER_DB_SRC_CLAIM:  return "claim";
    }
    return "?";
}

static const struct {
    const char         *name;
    enum ember_db_type  type;
    const char         *expected;     /* for the client: "id: expected an integer" */
} types[] = {
    {"int",    EMBER_DB_T_INT,    "an integer"},
    {"bigint", EMBER_DB_T_BIGINT, "an integer"},
    {"number", EMBER_DB_T_NUMBER, "a number"},
    {"bool",   EMBER_DB_T_BOOL,   "true or false"},
    {"uuid",   EMBER_DB_T_UUID,   "a UUID"},
};

/* s is all decimal digits after an optional '-', at least one. */
static int is_integer(const char *s)
{
    if (*s == '-')
        s++;
    return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* Does v (not NULL) look like type t?  As PostgreSQL would take it, but
   stricter (no blanks, no hex, no "yes"/"on"). */
static int type_ok(enum ember_db_type t, const char *v)
{
    long long ll;
    char     *end;
    size_t    i;

    switch (t) {
    case EMBER_DB_T_ANY:
        return 1;
    case EMBER_DB_T_INT:
    case EMBER_DB_T_BIGINT:
        if (!is_integer(v))
            return 0;
        errno = 0;
        ll = strtoll(v, &end, 10);
        if (errno != 0)
            return 0;
        return t == EMBER_DB_T_BIGINT || (ll >= INT32_MIN && ll <= INT32_MAX);
    case EMBER_DB_T_NUMBER:
        /* -?digits(.digits)?([eE][+-]?digits)? */
        if (*v == '-')
            v++;
        i = strspn(v, "0123456789");
        if (i == 0)
            return 0;
        v += i;
        if (*v == '.') {
            i = strspn(++v, "0123456789");
            if (i == 0)
                return 0;
            v += i;
        }
        if (*v == 'e' || *v == 'E') {
            v++;
            if (*v == '+' || *v == '-')
                v++;
            i = strspn(v, "0123456789");
            if (i == 0)
                return 0;
            v += i;
        }
        return *v == '\0';
    case EMBER_DB_T_BOOL:
        return strcmp(v, "true") == 0 || strcmp(v, "false") == 0;
    case EMBER_DB_T_UUID:
        if (strlen(v) != 36)
            return 0;
        for (i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (v[i] != '-')
                    return 0;
            } else if (!isxdigit((unsigned char) v[i])) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

static const char *type_name(enum ember_db_type t)
{
    size_t i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].type == t)
            return types[i].name;
    return "?";
}

static const char *type_expected(enum ember_db_type t)
{
    size_t i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].type == t)
            return types[i].expected;
    return "another value";
}

/* vals[i] for $i+1, from the request; pool memory. */
int ember_db_bind_values(struct ember_db *db, struct ember_db_route *r,
                         struct ember_exchange *ex, const char **vals, struct ember_error *err)
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
        const struct ember_db_bind *b = &r->binds[i];

        vals[i] = NULL;
        switch (b->src) {
        case EMBER_DB_SRC_PATH:
            vals[i] = host->param(ex, b->name);
            break;
        case EMBER_DB_SRC_QUERY:
            vals[i] = host->query(ex, b->name);
            break;
        case EMBER_DB_SRC_HEADER:
            vals[i] = host->header(ex, b->name);
            break;
        case EMBER_DB_SRC_BODY:
        case EMBER_DB_SRC_CLAIM:
            v = NULL;
            if (!json_object_object_get_ex(b->src == EMBER_DB_SRC_BODY ? body : claims, b->name, &v))
                break;
            snprintf(what, sizeof(what), "%s:%s", source_name(b->src), b->name);
            if (json_param(db, ex, v, what, &vals[i], err) != EMBER_OK)
                return EMBER_ERROR;
            break;
        }
        /* A declared type is checked here, before any round trip; the
           value is not logged (a header may hold a credential). */
        if (vals[i] != NULL && !type_ok(b->type, vals[i])) {
            host->fail(err, 400, "db: %s:%s is not %s (bind ...:%s)", source_name(b->src),
                       b->name, type_expected(b->type), type_name(b->type));
            err->public_message = host->psprintf(ex, "%s: expected %s", b->name,
                                                 type_expected(b->type));
            return EMBER_ERROR;
        }
    }
    return EMBER_OK;
}


/* ---------------------------------------------------------------- the directive */

/* NAME or NAME:TYPE (a known type; else the colon is the name's, as in a
   claim called "cognito:groups") into b; -1 if NAME is empty. */
static int bind_name_type(const char *s, struct ember_db_bind *b)
{
    const char *c = strrchr(s, ':');
    size_t      i;

    b->type = EMBER_DB_T_ANY;
    if (c != NULL) {
        for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
            if (strcmp(c + 1, types[i].name) == 0) {
                if (c == s)
                    return -1;
                b->type = types[i].type;
                b->name = ember_pu_xstrndup(s, (size_t) (c - s));
                return 0;
            }
        }
    }
    if (*s == '\0')
        return -1;
    b->name = ember_pu_xstrdup(s);
    return 0;
}

void ember_db_route_free(struct ember_db_route *r)
{
    int i;

    if (r == NULL)
        return;
    for (i = 0; i < EMBER_DB_MAX_BINDS; i++)
        free(r->binds[i].name);
    free(r);
}

/*
 * The highest $n in sql outside string literals, quoted identifiers,
 * dollar-quoted strings and comments; -1 if a literal is not closed.
 * used[k] is set for each $k (k <= EMBER_DB_MAX_BINDS).
 */
static int highest_param(const char *s, unsigned char used[EMBER_DB_MAX_BINDS + 1])
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
            if (n <= EMBER_DB_MAX_BINDS)
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

int ember_db_bind_conf(struct ember_db *db, const struct ember_conf_block *conf,
                       const struct ember_conf_directive *sql, struct ember_db_route *r,
                       struct ember_error *err)
{
    const struct ember_host           *host = db->host;
    const struct ember_conf_directive *bind;
    unsigned char                      used[EMBER_DB_MAX_BINDS + 1] = {0};
    int                                i, maxn;

    bind = host->conf_find(conf, "bind");
    if (bind != NULL) {
        if (bind->argc > EMBER_DB_MAX_BINDS) {
            return host->fail(err, 500, "%s:%d: db: bind: at most %d values", bind->file,
                              bind->line, EMBER_DB_MAX_BINDS);
        }
        for (i = 0; i < bind->argc; i++) {
            const char           *a = bind->argv[i];
            const char           *colon = strchr(a, ':');
            size_t                kl = colon != NULL ? (size_t) (colon - a) : 0;
            enum ember_db_source  src;

            if (colon == NULL || colon[1] == '\0') {
                return host->fail(err, 500, "%s:%d: db: bind \"%s\": expected SOURCE:NAME "
                                  "(path, query, header, body, claim)", bind->file,
                                  bind->line, a);
            }
            if (kl == 4 && strncmp(a, "path", 4) == 0)
                src = EMBER_DB_SRC_PATH;
            else if (kl == 5 && strncmp(a, "query", 5) == 0)
                src = EMBER_DB_SRC_QUERY;
            else if (kl == 6 && strncmp(a, "header", 6) == 0)
                src = EMBER_DB_SRC_HEADER;
            else if (kl == 4 && strncmp(a, "body", 4) == 0)
                src = EMBER_DB_SRC_BODY;
            else if (kl == 5 && strncmp(a, "claim", 5) == 0)
                src = EMBER_DB_SRC_CLAIM;
            else {
                return host->fail(err, 500, "%s:%d: db: bind \"%s\": unknown source \"%.*s\" "
                                  "(path, query, header, body, claim)", bind->file,
                                  bind->line, a, (int) kl, a);
            }
            r->binds[i].src = src;
            if (bind_name_type(colon + 1, &r->binds[i]) != 0)
                return host->fail(err, 500, "%s:%d: db: bind \"%s\": expected SOURCE:NAME or "
                                  "SOURCE:NAME:TYPE (int, bigint, number, bool, uuid)",
                                  bind->file, bind->line, a);
            if (src == EMBER_DB_SRC_BODY)
                r->uses_body = 1;
        }
        r->nbinds = bind->argc;
    }
    maxn = highest_param(r->sql, used);
    if (maxn < 0) {
        return host->fail(err, 500, "%s:%d: db: sql: a quoted string or comment is not "
                          "closed", sql->file, sql->line);
    }
    if (maxn != r->nbinds) {
        const struct ember_conf_directive *at = bind != NULL ? bind : sql;

        if (maxn == 0)
            return host->fail(err, 500, "%s:%d: db: bind gives %d value(s) but sql uses no "
                              "$n", at->file, at->line, bind->argc);
        return host->fail(err, 500, "%s:%d: db: sql uses $1..$%d but bind gives %d value(s)",
                          at->file, at->line, maxn, bind != NULL ? bind->argc : 0);
    }
    for (i = 1; i <= maxn; i++) {
        if (!used[i]) {
            return host->fail(err, 500, "%s:%d: db: sql uses $%d but not $%d: every bound "
                              "value must appear", sql->file, sql->line, maxn, i);
        }
    }
    return EMBER_OK;
}
