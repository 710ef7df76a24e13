/*
 * response - renders the reply at the end of a route's chain.
 * Directives (plugins/response/response.def):
 *
 *   body 'JSON'             a static body, checked and serialised once (route)
 *   template 'JSON'         a body with placeholders {{SOURCE.NAME[:TYPE]}}:
 *                           SOURCE param (or path), query, header (the
 *                           client's), claim (auth's), result (db's; alone,
 *                           {{result}}, the whole of it).  Inside a JSON
 *                           string the value is escaped (no quotes added;
 *                           missing: empty).  Outside a string a TYPE is
 *                           required: number, bool, or json (any JSON value,
 *                           from claim or result only), and the value is
 *                           rendered only when it has that type; else 400
 *                           (the client's value) or 500 (a plugin's), logged.
 *                           Checked at the route's first use, with file:line
 *                           (route)
 *   (neither)               ex->vars "result" (db) as compact JSON, else no
 *                           body
 *   status N                default: the status a previous plugin set, else 200
 *   header NAME VALUE       repeatable; plugin-wide and per route (a route's
 *                           header replaces a plugin-wide one of that name)
 *   content_type TYPE       default application/json; only sent with a body
 *   cors_origins, cors_methods, cors_headers, cors_max_age, cors_credentials
 *                           CORS: read and applied by the core (core/cors.c),
 *                           so that every answer of the route carries them,
 *                           errors of earlier plugins included, and a
 *                           preflight is answered before the chain runs
 */
#define _GNU_SOURCE

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include <ember/plugin.h>

#include "../common/plugutil.h"
#include "json-strict.h"
#include "text.h"

#define DEFAULT_CONTENT_TYPE  "application/json"

struct resp_header {
    const char *name;            /* borrowed from the config */
    const char *value;
};

/* Settings that exist both plugin-wide and per route. */
struct resp_common {
    const char          *content_type;   /* borrowed, or NULL */
    struct resp_header  *headers;        /* owned array */
    size_t               nheaders;
};

enum tpl_kind { TPL_TEXT, TPL_PARAM, TPL_QUERY, TPL_HEADER, TPL_CLAIM, TPL_RESULT };

/* A placeholder's type: TPL_ANY only inside a JSON string. */
enum tpl_type { TPL_ANY = 0, TPL_NUMBER, TPL_BOOL, TPL_JSON };

struct tpl_part {
    enum tpl_kind  kind;
    const char    *s;            /* TPL_TEXT: text; else the name (owned; "" for {{result}}) */
    size_t         len;
    enum tpl_type  type;
    int            in_string;    /* inside a JSON string: filled in escaped */
    char          *shown;        /* "{{query.n:number}}" for messages (owned) */
};

struct resp_route {
    int                  status;         /* 0: default */
    char                *body;           /* static, serialised (owned), or NULL */
    size_t               body_len;
    struct tpl_part     *tpl;            /* owned, or NULL */
    size_t               ntpl;
    struct resp_common   c;              /* merged with the plugin-wide one */
};

struct resp {
    const struct ember_host *host;
    struct resp_common       global;
};

/* ---------------------------------------------------------------- helpers */

/* s as the inside of a JSON string: quotes, backslashes and controls
   escaped, invalid UTF-8 replaced by U+FFFD. */
static void sb_json_escape(struct ember_pu_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *) s;
    char                 esc[8];
    size_t               i = 0, k;

    while (i < n) {
        if (u[i] == '"' || u[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char) u[i];
            ember_pu_buf_add(b, esc, 2);
            i++;
        } else if (u[i] < 0x20) {
            switch (u[i]) {
            case '\n': ember_pu_buf_add(b, "\\n", 2); break;
            case '\r': ember_pu_buf_add(b, "\\r", 2); break;
            case '\t': ember_pu_buf_add(b, "\\t", 2); break;
            case '\b': ember_pu_buf_add(b, "\\b", 2); break;
            case '\f': ember_pu_buf_add(b, "\\f", 2); break;
            default:
                snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
                ember_pu_buf_add(b, esc, 6);
            }
            i++;
        } else {
            k = ember_utf8_len(u + i, n - i);
            if (k == 0) {
                ember_pu_buf_add(b, "\\ufffd", 6);
                i++;
            } else {
                ember_pu_buf_add(b, s + i, k);
                i += k;
            }
        }
    }
}

/*
 * Is text (len bytes) exactly one JSON value (common/json-strict.c's rules)?  0 with
 * *out set (a new object the caller puts; NULL for JSON null), or -1 with
 * *why set.
 */
static int parse_json(const char *text, size_t len, struct json_object **out,
                      const char **why)
{
    size_t at;

    return ember_json_parse(NULL, text, len, out, &at, why);
}

/* ---------------------------------------------------------------- settings */

static void common_free(struct resp_common *c)
{
    free(c->headers);
    memset(c, 0, sizeof(*c));
}

/* The settings of block b (plugin-wide or route), without fallbacks. */
static int read_common(const struct resp *rp, const struct ember_conf_block *b,
                       struct resp_common *c, struct ember_error *err)
{
    const struct ember_host           *host = rp->host;
    const struct ember_conf_directive *d;
    size_t                             i;

    memset(c, 0, sizeof(*c));
    if (b == NULL)
        return EMBER_OK;

    d = host->conf_find(b, "content_type");
    if (d != NULL) {
        if (*d->argv[0] == '\0' || strpbrk(d->argv[0], "\r\n") != NULL)
            return host->fail(err, 500, "%s:%d: response: content_type \"%s\": not a media "
                              "type", d->file, d->line, d->argv[0]);
        c->content_type = d->argv[0];
    }

    for (i = 0; i < b->n; i++) {
        d = &b->d[i];
        if (strcmp(d->name, "header") != 0)
            continue;
        if (d->argc != 2 || !ember_http_token(d->argv[0]))
            return host->fail(err, 500, "%s:%d: response: header \"%s\": not a header name",
                              d->file, d->line, d->argc > 0 ? d->argv[0] : "");
        if (strcasecmp(d->argv[0], "content-type") == 0)
            return host->fail(err, 500, "%s:%d: response: set the content type with "
                              "`content_type`, not `header`", d->file, d->line);
        if (strpbrk(d->argv[1], "\r\n") != NULL)
            return host->fail(err, 500, "%s:%d: response: header %s: the value has a line "
                              "break", d->file, d->line, d->argv[0]);
        c->headers = ember_pu_xrealloc(c->headers, (c->nheaders + 1) * sizeof(*c->headers));
        c->headers[c->nheaders].name = d->argv[0];
        c->headers[c->nheaders].value = d->argv[1];
        c->nheaders++;
    }

    return EMBER_OK;
}

/* route (read from the route's block) completed by the plugin-wide g. */
static void merge_common(struct resp_common *route, const struct resp_common *g)
{
    struct resp_header *h;
    size_t              i, j, n = 0;

    if (route->content_type == NULL)
        route->content_type = g->content_type;

    /* Plugin-wide headers first, unless the route names them too. */
    h = ember_pu_xcalloc(g->nheaders + route->nheaders + 1, sizeof(*h));
    for (i = 0; i < g->nheaders; i++) {
        for (j = 0; j < route->nheaders; j++)
            if (strcasecmp(g->headers[i].name, route->headers[j].name) == 0)
                break;
        if (j == route->nheaders)
            h[n++] = g->headers[i];
    }
    for (j = 0; j < route->nheaders; j++)
        h[n++] = route->headers[j];
    free(route->headers);
    route->headers = h;
    route->nheaders = n;
}

/* ---------------------------------------------------------------- templates */

static void tpl_free(struct tpl_part *t, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (t[i].kind != TPL_TEXT) {
            free((char *) t[i].s);
            free(t[i].shown);
        }
    free(t);
}

/* Walks text (n bytes) as JSON text, from string state *in (0/1, 2 = just
   after a backslash inside a string), leaving *in as the state at its end. */
static void json_string_state(const char *text, size_t n, int *in)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (*in == 2)
            *in = 1;
        else if (*in == 1 && text[i] == '\\')
            *in = 2;
        else if (text[i] == '"')
            *in = !*in;
    }
}

static const char *const tpl_type_names[] = { "", "number", "bool", "json" };

/* What a placeholder reads as in the probe the template is checked with.
   Outside a string it stands apart (spaces around it): a value must be a
   JSON value of its own, never glued to a neighbour ("1{{n:number}}" with
   -5 is "1-5", "{{a:number}}{{b:number}}" two numbers run together), which
   json-c's parser would not catch on a bare "0" ("00" reads as 0). */
static const char *tpl_probe(const struct tpl_part *p)
{
    if (p->in_string)
        return "0";
    return p->type == TPL_BOOL ? " true " : p->type == TPL_JSON ? " null " : " 0 ";
}

static int tpl_source(const char *a, size_t len, enum tpl_kind *kind)
{
    static const struct { const char *name; enum tpl_kind kind; } sources[] = {
        { "param", TPL_PARAM }, { "path", TPL_PARAM }, { "query", TPL_QUERY },
        { "header", TPL_HEADER }, { "claim", TPL_CLAIM }, { "result", TPL_RESULT },
    };
    size_t i;

    for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
        if (strlen(sources[i].name) == len && strncmp(a, sources[i].name, len) == 0) {
            *kind = sources[i].kind;
            return 0;
        }
    return -1;
}

/*
 * One placeholder, the text between "{{" and "}}": SOURCE.NAME[:TYPE]
 * (or result[:TYPE], the whole of db's result).  0 with p filled, or -1
 * with why set.
 */
static int tpl_placeholder(const char *a, const char *z, struct tpl_part *p, const char **why)
{
    const char *colon, *dot, *name_end;
    size_t      i;

    while (a < z && isspace((unsigned char) *a))
        a++;
    while (z > a && isspace((unsigned char) z[-1]))
        z--;
    p->type = TPL_ANY;
    name_end = z;
    colon = memrchr(a, ':', (size_t) (z - a));
    if (colon != NULL) {
        for (i = 1; i < sizeof(tpl_type_names) / sizeof(tpl_type_names[0]); i++)
            if (strlen(tpl_type_names[i]) == (size_t) (z - colon - 1)
                && strncmp(colon + 1, tpl_type_names[i], (size_t) (z - colon - 1)) == 0)
                p->type = (enum tpl_type) i;
        if (p->type == TPL_ANY) {
            *why = "unknown type (number, bool or json)";
            return -1;
        }
        name_end = colon;
    }
    dot = memchr(a, '.', (size_t) (name_end - a));
    if (tpl_source(a, (size_t) ((dot != NULL ? dot : name_end) - a), &p->kind) != 0) {
        *why = "expected {{param.NAME}}, {{query.NAME}}, {{header.NAME}}, {{claim.NAME}} or "
               "{{result.NAME}} (unknown source)";
        return -1;
    }
    if (dot == NULL || dot + 1 == name_end) {
        if (p->kind != TPL_RESULT || dot != NULL) {
            *why = "a name must follow the source ({{query.NAME}})";
            return -1;
        }
        p->s = ember_pu_xstrdup("");       /* {{result}}: the whole result */
        p->len = 0;
    } else {
        p->s = ember_pu_xstrndup(dot + 1, (size_t) (name_end - dot - 1));
        p->len = (size_t) (name_end - dot - 1);
    }
    if (p->type == TPL_JSON && p->kind != TPL_CLAIM && p->kind != TPL_RESULT) {
        free((char *) p->s);
        *why = "json only takes a plugin's value (claim or result), never the client's";
        return -1;
    }
    return 0;
}

/*
 * Splits text into parts; each {{source.name[:type]}} a placeholder.  A
 * placeholder inside a JSON string is filled in escaped; one outside a
 * string must have a type (number, bool, json), else it could render
 * nothing or let a client insert arrays and objects.  Checks that the
 * template is JSON once every placeholder reads as a value of its type.
 * On failure returns EMBER_ERROR with err filled (file:line).
 */
static int tpl_compile(const struct resp *rp, const struct ember_conf_directive *d,
                       struct tpl_part **out, size_t *nout, struct ember_error *err)
{
    const struct ember_host *host = rp->host;
    const char              *s = d->argv[0], *open, *close;
    struct tpl_part         *t = NULL;
    size_t                   n = 0, cap = 0;
    struct ember_pu_buf      probe = {0};
    struct json_object      *o;
    const char              *why = NULL;
    int                      rc, in = 0;

    for (;;) {
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 8;
            t = ember_pu_xrealloc(t, cap * sizeof(*t));
        }
        open = strstr(s, "{{");
        if (open == NULL) {
            if (*s != '\0') {
                memset(&t[n], 0, sizeof(t[n]));
                t[n].kind = TPL_TEXT;
                t[n].s = s;
                t[n++].len = strlen(s);
                ember_pu_buf_adds(&probe, s);
            }
            break;
        }
        if (open > s) {
            memset(&t[n], 0, sizeof(t[n]));
            t[n].kind = TPL_TEXT;
            t[n].s = s;
            t[n++].len = (size_t) (open - s);
            ember_pu_buf_add(&probe, s, (size_t) (open - s));
            json_string_state(s, (size_t) (open - s), &in);
        }
        close = strstr(open + 2, "}}");
        if (close == NULL) {
            tpl_free(t, n);
            free(probe.p);
            return host->fail(err, 500, "%s:%d: response: template: \"{{\" without \"}}\"",
                              d->file, d->line);
        }
        memset(&t[n], 0, sizeof(t[n]));
        if (tpl_placeholder(open + 2, close, &t[n], &why) != 0) {
            tpl_free(t, n);
            free(probe.p);
            return host->fail(err, 500, "%s:%d: response: template: \"{{%.*s}}\": %s",
                              d->file, d->line, (int) (close - open - 2), open + 2, why);
        }
        t[n].in_string = in != 0;
        t[n].shown = ember_pu_xstrndup(open, (size_t) (close + 2 - open));
        if (!t[n].in_string && t[n].type == TPL_ANY) {
            rc = host->fail(err, 500, "%s:%d: response: template: %s is outside a JSON string: "
                            "give it a type (%.*s:number}} or :bool}}; :json}} for a claim or "
                            "a result) or put it in quotes", d->file, d->line, t[n].shown,
                            (int) (close - open), open);
            tpl_free(t, n + 1);
            free(probe.p);
            return rc;
        }
        ember_pu_buf_adds(&probe, tpl_probe(&t[n]));
        n++;
        s = close + 2;
    }

    rc = parse_json(probe.p != NULL ? probe.p : "", probe.len, &o, &why);
    free(probe.p);
    if (rc != 0) {
        tpl_free(t, n);
        return host->fail(err, 500, "%s:%d: response: template is not JSON (%s)", d->file,
                          d->line, why);
    }
    json_object_put(o);
    *out = t;
    *nout = n;
    return EMBER_OK;
}

/* Is s (NUL-terminated) exactly a JSON number (RFC 8259 section 6)? */
static int is_json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (isdigit((unsigned char) *s))
            s++;
    else
        return 0;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char) *s))
            return 0;
        while (isdigit((unsigned char) *s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char) *s))
            return 0;
        while (isdigit((unsigned char) *s))
            s++;
    }
    return *s == '\0';
}

/* The JSON text of a plugin's value (borrowed from v). */
static const char *json_text(struct json_object *v)
{
    return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN
                                             | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Does a plugin's value v fit type t?  NULL (JSON null) fits json only. */
static int value_fits(struct json_object *v, enum tpl_type t)
{
    switch (t) {
    case TPL_NUMBER:
        return (json_object_is_type(v, json_type_int)
                || json_object_is_type(v, json_type_double))
               && is_json_number(json_text(v));        /* no NaN, no Infinity */
    case TPL_BOOL:
        return json_object_is_type(v, json_type_boolean);
    default:
        return 1;
    }
}

/* Up to 40 printable bytes of a client's value, for the log (pool). */
static const char *shown_value(struct ember_exchange *ex, const char *v)
{
    char  *s = ex->host->pstrndup(ex, v, 40);
    char  *c;

    for (c = s; *c != '\0'; c++)
        if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f)
            *c = '?';
    return s;
}

/*
 * The template filled in from the request (malloc'd into b).  EMBER_OK, or
 * EMBER_ERROR with ex->err filled when a typed placeholder's value is
 * missing or not of its type: 400 for the client's value (param, query,
 * header), 500 for a plugin's (claim, result).
 */
static int tpl_render(const struct resp_route *r, struct ember_exchange *ex,
                      struct ember_pu_buf *b)
{
    const struct ember_host *host = ex->host;
    struct json_object      *claims = NULL, *result = NULL, *v;
    const char              *val;
    size_t                   i;

    if (!json_object_object_get_ex(ex->vars, "claims", &claims)
        || !json_object_is_type(claims, json_type_object))
        claims = NULL;
    if (!json_object_object_get_ex(ex->vars, "result", &result))
        result = NULL;
    for (i = 0; i < r->ntpl; i++) {
        const struct tpl_part *p = &r->tpl[i];
        int                    found = 1;

        val = NULL;
        v = NULL;
        switch (p->kind) {
        case TPL_TEXT:
            ember_pu_buf_add(b, p->s, p->len);
            continue;
        case TPL_PARAM:
            val = host->param(ex, p->s);
            break;
        case TPL_QUERY:
            val = host->query(ex, p->s);
            break;
        case TPL_HEADER:
            val = host->header(ex, p->s);
            break;
        case TPL_CLAIM:
            found = claims != NULL && json_object_object_get_ex(claims, p->s, &v);
            break;
        case TPL_RESULT:
            if (p->len == 0)
                found = result != NULL;
            else
                found = result != NULL && json_object_is_type(result, json_type_object)
                        && json_object_object_get_ex(result, p->s, &v);
            if (p->len == 0)
                v = result;
            break;
        }

        if (p->kind == TPL_CLAIM || p->kind == TPL_RESULT) {
            /* a plugin's value: its JSON type decides */
            if (p->type != TPL_ANY && !found)
                return host->fail(ex->err, 500, "response: template %s: no such value",
                                  p->shown);
            if (p->type != TPL_ANY && !value_fits(v, p->type))
                return host->fail(ex->err, 500, "response: template %s: the value is %s, not "
                                  "a %s", p->shown, v == NULL ? "null"
                                  : json_type_to_name(json_object_get_type(v)),
                                  tpl_type_names[p->type]);
            if (!found || (v == NULL && p->type == TPL_ANY))
                continue;                    /* in a string: empty */
            if (json_object_is_type(v, json_type_string)
                && (p->in_string || p->type == TPL_ANY)) {
                sb_json_escape(b, json_object_get_string(v),
                               (size_t) json_object_get_string_len(v));
                continue;
            }
            val = json_text(v);
            if (p->in_string)
                sb_json_escape(b, val, strlen(val));
            else
                ember_pu_buf_adds(b, val);   /* json-c's own JSON text */
            continue;
        }

        /* the client's value: text, which must read as the type */
        if (p->type != TPL_ANY) {
            if (val == NULL)
                return host->fail(ex->err, 400, "response: template %s: no such value",
                                  p->shown);
            if ((p->type == TPL_NUMBER && !is_json_number(val))
                || (p->type == TPL_BOOL && strcmp(val, "true") != 0
                    && strcmp(val, "false") != 0))
                return host->fail(ex->err, 400, "response: template %s: \"%s\" is not a %s",
                                  p->shown, shown_value(ex, val), tpl_type_names[p->type]);
        }
        if (val == NULL)
            continue;
        if (p->in_string)
            sb_json_escape(b, val, strlen(val));
        else
            ember_pu_buf_adds(b, val);       /* checked above: a number or a literal */
    }
    return EMBER_OK;
}

/* ---------------------------------------------------------------- hooks */

/* Allocates *state (freed by response_fini). */
static int response_init(void **state, const struct ember_host *host,
                         const struct ember_conf_block *global, struct ember_error *err)
{
    struct resp *rp = ember_pu_xcalloc(1, sizeof(*rp));

    rp->host = host;
    if (read_common(rp, global, &rp->global, err) != EMBER_OK) {
        common_free(&rp->global);
        free(rp);
        return EMBER_ERROR;
    }
    *state = rp;
    return EMBER_OK;
}

static void route_free(struct resp_route *r)
{
    if (r == NULL)
        return;
    free(r->body);
    tpl_free(r->tpl, r->ntpl);
    common_free(&r->c);
    free(r);
}

/* Allocates *route_state (freed by response_route_fini). */
static int response_route_init(void *state, const struct ember_conf_block *conf,
                               void **route_state, struct ember_error *err)
{
    struct resp                       *rp = state;
    const struct ember_host           *host = rp->host;
    const struct ember_conf_directive *body = NULL, *tpl = NULL, *d;
    struct resp_route                 *r = ember_pu_xcalloc(1, sizeof(*r));
    long                               v;

    if (read_common(rp, conf, &r->c, err) != EMBER_OK) {
        route_free(r);
        return EMBER_ERROR;
    }
    merge_common(&r->c, &rp->global);

    if (conf != NULL) {
        body = host->conf_find(conf, "body");
        tpl = host->conf_find(conf, "template");
        d = host->conf_find(conf, "status");
        if (d != NULL) {
            if (ember_pu_parse_long(d->argv[0], 100, 599, &v) != 0) {
                route_free(r);
                return host->fail(err, 500, "%s:%d: response: status \"%s\": expected an "
                                  "HTTP status, 100 to 599", d->file, d->line, d->argv[0]);
            }
            r->status = (int) v;
        }
    }
    if (body != NULL && tpl != NULL) {
        route_free(r);
        return host->fail(err, 500, "%s:%d: response: both body and template; keep one",
                          tpl->file, tpl->line);
    }
    if (body != NULL) {
        const char         *why = NULL, *s;
        struct json_object *o = NULL;
        size_t              len;

        if (parse_json(body->argv[0], strlen(body->argv[0]), &o, &why) != 0) {
            route_free(r);
            return host->fail(err, 500, "%s:%d: response: body is not JSON (%s)",
                              body->file, body->line, why);
        }
        s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN
                                                 | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        r->body = ember_pu_xstrndup(s, len);
        r->body_len = len;
        json_object_put(o);
    }
    if (tpl != NULL && tpl_compile(rp, tpl, &r->tpl, &r->ntpl, err) != EMBER_OK) {
        route_free(r);
        return EMBER_ERROR;
    }
    *route_state = r;
    return EMBER_OK;
}

static void add_headers(const struct resp_route *r, struct ember_exchange *ex)
{
    size_t i;

    for (i = 0; i < r->c.nheaders; i++)
        ex->host->add_header(ex, r->c.headers[i].name, r->c.headers[i].value);
}

static int response_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    const struct resp_route *r = route_state;
    const struct ember_host *host = ex->host;
    struct json_object      *result = NULL;
    struct ember_pu_buf      b = {0};
    const char              *body = NULL;
    size_t                   len = 0;
    int                      status;

    status = r->status ? r->status : ex->res->status ? ex->res->status : 200;
    if (status != 204 && status != 304) {
        if (r->body != NULL) {
            body = r->body;
            len = r->body_len;
        } else if (r->tpl != NULL) {
            if (tpl_render(r, ex, &b) != EMBER_OK) {
                free(b.p);
                return EMBER_ERROR;
            }
            body = b.p != NULL ? b.p : "";
            len = b.len;
        } else if (json_object_object_get_ex(ex->vars, "result", &result) && result != NULL) {
            body = json_object_to_json_string_length(result, JSON_C_TO_STRING_PLAIN
                                                             | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                     &len);
        }
    }
    if (body != NULL) {
        host->set_header(ex, "content-type",
                         r->c.content_type != NULL ? r->c.content_type : DEFAULT_CONTENT_TYPE);
        host->set_body(ex, body, len, 0);          /* copied into the pool */
    }
    free(b.p);
    add_headers(r, ex);
    host->set_status(ex, status);
    return EMBER_DONE;
}

static void response_route_fini(void *state, void *route_state)
{
    route_free(route_state);
}

static void response_fini(void *state)
{
    struct resp *rp = state;

    if (rp == NULL)
        return;
    common_free(&rp->global);
    free(rp);
}

/* What the config may say to us: response.def, also compiled into the core. */
static const struct ember_directive response_directives[] = {
#include "response.def"
    EMBER_DIRECTIVES_END
};

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_response = {
    EMBER_PLUGIN_HEADER,
    .name       = "response",
    .directives = response_directives,
    .init       = response_init,
    .route_init = response_route_init,
    .handle     = response_handle,
    .route_fini = response_route_fini,
    .fini       = response_fini,
};
