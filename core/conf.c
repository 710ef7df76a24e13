/*
 * conf.c - ember.conf: tokenised line by line, validated whole against the
 * core's own directives and each built plugin's schema (core/schema.h).
 *
 * Grammar (one statement per line; see core/conf.h for an example):
 *
 *   line      := [ word { word } ] [ "{" | "{}" | "{ }" ] [ comment ]
 *              | "}" [ comment ]
 *   word      := { bare | "double quoted" | 'single quoted' }+   (adjacent
 *                parts join into one argument, as in sh)
 *   comment   := "#" ... end of line   ('#' outside quotes, anywhere)
 *
 * A quoted part must end on its line.  In double quotes \" \\ \n \t are
 * escapes and any other backslash is an error; single quotes are verbatim.
 * A bare "{" ends the line that opens a block, a bare "}" stands alone on
 * the line that closes it; "{}" (or "{ }") opens and closes an empty one.
 *
 * Every error is reported (as "file:line: message\n"), and parsing goes on:
 * a bad line is skipped, the contents of a block that cannot be understood
 * (an unknown plugin, a directive that takes no block) are skipped up to its
 * matching "}".  A "route ... {" or "plugin ... {" line inside a block is
 * taken as the sign of a missing "}": the open blocks are reported and
 * closed, and the line starts a new top-level block.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "log.h"
#include "pool.h"
#include "schema.h"
#include "xalloc.h"

/* ------------------------------------------------------------------ parse-time state */

struct dnode {
    struct ember_conf_directive  d;
    struct dnode                *next;
};

/* A `plugin NAME {}` block or one step of a route, while being parsed. */
struct tblock {
    const char                        *name;
    int                                line;
    const struct ember_plugin_schema  *schema;
    struct dnode                      *head;
    struct dnode                     **tail;
    size_t                             n;
    struct tblock                     *next;
};

struct troute {
    const char     *method;
    const char     *path;
    int             line;
    struct tblock  *steps;
    struct tblock **tail;
    size_t          nsteps;
    int             lines;      /* step lines seen, good or bad */
    struct troute  *next;
};

enum frame_kind {
    F_PLUGIN,       /* inside `plugin NAME {` */
    F_ROUTE,        /* inside `route METHOD TEMPLATE {` */
    F_STEP,         /* inside a route's `NAME {` */
    F_SKIP          /* inside a block whose contents are ignored */
};

struct frame {
    enum frame_kind  kind;
    int              line;      /* of the opening */
    struct tblock   *block;     /* F_PLUGIN, F_STEP */
    struct troute   *route;     /* F_ROUTE, F_STEP */
};

struct token {
    char   *s;                  /* into p->tokbuf, set once the line is split */
    size_t  off;
    int     bare;               /* no quoted part: may be a brace */
};

#define NTOP 6

struct parser {
    const char         *file;   /* the conf's copy */
    struct ember_buf   *errs;
    int                 nerr;
    int                 line;
    struct ember_conf  *conf;
    struct ember_pool  *mem;    /* the conf's: everything that outlives the parse */
    struct ember_pool  *tmp;    /* lists and messages; freed after the parse */

    struct frame       *frames;
    size_t              depth, frames_cap;

    struct token       *tok;
    size_t              ntok, tok_cap;
    struct ember_buf    tokbuf;

    struct tblock      *plugins;
    struct tblock     **plugins_tail;
    size_t              nplugins;
    struct troute      *routes;
    struct troute     **routes_tail;
    size_t              nroutes;

    int                 top_seen[NTOP];
    struct ember_buf    reason;

    char              **msgs;   /* the errors, in order; NULL: a pending slot */
    size_t              nmsgs, msgs_cap;
    struct pending     *pending;
};

/*
 * A plugin name no built-in schema knows, at `line`: an out-of-tree plugin
 * if NAME.so is in the plugin directory (known only once the whole file,
 * plugin_dir included, is read), else an error in its slot of p->msgs.
 */
struct pending {
    const char      *name;
    const char      *pre;       /* "route ...: " or "" */
    int              line;
    size_t           slot;
    struct pending  *next;
};

/* ------------------------------------------------------------------ messages */

static void msg_add(struct parser *p, char *m)
{
    if (p->nmsgs == p->msgs_cap) {
        p->msgs_cap = p->msgs_cap ? 2 * p->msgs_cap : 16;
        p->msgs = ember_xrealloc(p->msgs, p->msgs_cap * sizeof(*p->msgs));
    }
    p->msgs[p->nmsgs++] = m;
}

static __attribute__((format(printf, 3, 4)))
void error(struct parser *p, int line, const char *fmt, ...)
{
    struct ember_buf b = EMBER_BUF_INIT;
    va_list          ap;

    ember_buf_printf(&b, "%s:%d: ", p->file, line);
    va_start(ap, fmt);
    ember_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    ember_buf_puts(&b, "\n");
    msg_add(p, ember_pool_strdup(p->tmp, ember_buf_str(&b)));
    ember_buf_free(&b);
    p->nerr++;
}

/* A setter's reason: built in p->reason, borrowed until the next one. */
static __attribute__((format(printf, 2, 3)))
const char *reasonf(struct parser *p, const char *fmt, ...)
{
    va_list ap;

    ember_buf_reset(&p->reason);
    va_start(ap, fmt);
    ember_buf_vprintf(&p->reason, fmt, ap);
    va_end(ap);
    return ember_buf_str(&p->reason);
}

/*
 * A user's string as it may appear inside "..." in a one-line message:
 * control characters, quotes and backslashes escaped, cut after 200 bytes.
 * Allocated in the parse-time pool.
 */
static const char *show(struct parser *p, const char *s)
{
    struct ember_buf b = EMBER_BUF_INIT;
    const char      *out;

    ember_schema_show(&b, s);
    out = ember_pool_strdup(p->tmp, ember_buf_str(&b));
    ember_buf_free(&b);
    return out;
}

/* `route "/items/{id}": ` for messages about a route's contents. */
static const char *route_prefix(struct parser *p, const struct troute *r)
{
    return ember_pool_sprintf(p->tmp, "route \"%s\": ", show(p, r->path));
}

static const char *argc_reason(struct parser *p, const char *name, int min, int max, int got)
{
    ember_buf_reset(&p->reason);
    ember_schema_argc_reason(&p->reason, name, min, max, got);
    return ember_buf_str(&p->reason);
}

/* ------------------------------------------------------------------ frames */

static void push(struct parser *p, enum frame_kind kind, struct tblock *block,
                 struct troute *route)
{
    struct frame *f;

    if (p->depth == p->frames_cap) {
        p->frames_cap = p->frames_cap ? 2 * p->frames_cap : 8;
        p->frames = ember_xrealloc(p->frames, p->frames_cap * sizeof(*p->frames));
    }
    f = &p->frames[p->depth++];
    f->kind = kind;
    f->line = p->line;
    f->block = block;
    f->route = route;
}

static struct frame *top_frame(struct parser *p)
{
    return p->depth ? &p->frames[p->depth - 1] : NULL;
}

/* The `}` of the innermost block. */
static void pop(struct parser *p)
{
    struct frame *f = &p->frames[--p->depth];

    if (f->kind == F_ROUTE && f->route->lines == 0)
        error(p, f->line, "%sno plugins (a route needs at least one step)",
              route_prefix(p, f->route));
}

/* Every open block is missing its "}"; `where` says where that was noticed. */
static void unclosed(struct parser *p, const char *where)
{
    size_t i;

    for (i = 0; i < p->depth; i++)
        error(p, p->frames[i].line, "block opened here is not closed: missing \"}\" %s", where);
    p->depth = 0;
}

/* ------------------------------------------------------------------ storing */

static char *keep(struct parser *p, const char *s)
{
    return ember_pool_strdup(p->mem, s);
}

static struct tblock *block_new(struct parser *p, const char *name,
                                const struct ember_plugin_schema *schema)
{
    struct tblock *b = ember_pool_calloc(p->tmp, sizeof(*b));

    b->name = keep(p, name);
    b->line = p->line;
    b->schema = schema;
    b->tail = &b->head;
    return b;
}

static const struct dnode *block_find(const struct tblock *b, const char *name)
{
    const struct dnode *d;

    for (d = b->head; d; d = d->next) {
        if (strcmp(d->d.name, name) == 0)
            return d;
    }
    return NULL;
}

static void block_add(struct parser *p, struct tblock *b, int argc, char **argv,
                      const char *name)
{
    struct dnode  *node = ember_pool_calloc(p->tmp, sizeof(*node));
    const char   **v = ember_pool_alloc(p->mem, ((size_t) argc + 1) * sizeof(*v));
    int            i;

    for (i = 0; i < argc; i++)
        v[i] = keep(p, argv[i]);
    v[argc] = NULL;
    node->d.name = keep(p, name);
    node->d.argc = argc;
    node->d.argv = v;
    node->d.file = p->file;
    node->d.line = p->line;
    *b->tail = node;
    b->tail = &node->next;
    b->n++;
}

/* ------------------------------------------------------------------ out-of-tree plugins */

/* A name that can be a plugin's (its symbol is ember_plugin_<name>). */
static int is_plugin_name(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    }
    return i > 0 && i <= 64;
}

/* name may be an out-of-tree plugin: decided at the end of the file. */
static void pending_add(struct parser *p, const char *name, const char *pre)
{
    struct pending *q = ember_pool_calloc(p->tmp, sizeof(*q));

    q->name = ember_pool_strdup(p->tmp, name);
    q->pre = pre;
    q->line = p->line;
    q->slot = p->nmsgs;
    q->next = p->pending;
    p->pending = q;
    msg_add(p, NULL);
}

/* Is there a <dir>/<name>.so in the colon-separated dirs? */
static int plugin_file_exists(const char *dirs, const char *name)
{
    const char *d = dirs;
    char        path[4096];

    while (*d != '\0') {
        size_t len = strcspn(d, ":");

        if (len > 0 && len < sizeof(path) - 80) {
            snprintf(path, sizeof(path), "%.*s/%s.so", (int) len, d, name);
            if (access(path, F_OK) == 0)
                return 1;
        }
        d += len + (d[len] == ':');
    }
    return 0;
}

/* Every pending name without a NAME.so becomes its error, in its place. */
static void resolve_pending(struct parser *p)
{
    char            buf[4096];
    const char     *dirs = ember_conf_plugin_dir(p->conf->plugin_dir, buf, sizeof(buf));
    struct pending *q;

    for (q = p->pending; q; q = q->next) {
        if (plugin_file_exists(dirs, q->name))
            continue;
        p->msgs[q->slot] = ember_pool_sprintf(p->tmp, "%s:%d: %sunknown plugin \"%s\" (built: "
                                              "%s; no %s.so in %s)\n", p->file, q->line, q->pre,
                                              q->name, ember_schema_built(), q->name,
                                              show(p, dirs));
        p->nerr++;
    }
}

const char *ember_conf_plugin_dir(const char *conf_dir, char *buf, size_t size)
{
    const char *p = getenv("EMBER_PLUGIN_DIR");
    const char *root;

    if (p != NULL && *p != '\0')
        return p;
    if (conf_dir != NULL)
        return conf_dir;
    root = getenv("LAMBDA_TASK_ROOT");
    if (root != NULL && *root != '\0' && strlen(root) + sizeof("/plugins") <= size) {
        snprintf(buf, size, "%s/plugins", root);
        return buf;
    }
    return EMBER_PKGLIBDIR;
}

/* ------------------------------------------------------------------ core directives */

static int is_secret_name(const char *name)
{
    size_t n = strlen(name);

    return strcmp(name, "secret") == 0 || strcmp(name, "password") == 0
           || (n >= 7 && strcmp(name + n - 7, "_secret") == 0);
}

static const char *secret_reason(struct parser *p, const char *name)
{
    return reasonf(p, "directive \"%s\": secrets must not be written in the config file; "
                   "pass them in the environment (e.g. secret_env NAME)", show(p, name));
}

static const char *set_log_level(struct parser *p, int argc, char **argv)
{
    int level = ember_log_level_parse(argv[0]);

    if (level < 0)
        return reasonf(p, "directive \"log_level\": expected one of "
                       "trace|debug|info|warn|error|fatal, got \"%s\"", show(p, argv[0]));
    p->conf->log_level = level;
    return NULL;
}

static const char *set_strip_stage(struct parser *p, int argc, char **argv)
{
    if (strcmp(argv[0], "off") == 0) {
        p->conf->strip_stage = EMBER_STRIP_OFF;
        p->conf->strip_stage_name = NULL;
    } else if (strcmp(argv[0], "auto") == 0) {
        p->conf->strip_stage = EMBER_STRIP_AUTO;
        p->conf->strip_stage_name = NULL;
    } else if (argv[0][0] == '\0' || strchr(argv[0], '/') != NULL) {
        return reasonf(p, "directive \"strip_stage\": expected auto, off or a stage name "
                       "(without \"/\"), got \"%s\"", show(p, argv[0]));
    } else {
        p->conf->strip_stage = EMBER_STRIP_NAME;
        p->conf->strip_stage_name = keep(p, argv[0]);
    }
    return NULL;
}

static const char *set_plugin_dir(struct parser *p, int argc, char **argv)
{
    if (argv[0][0] == '\0')
        return reasonf(p, "directive \"plugin_dir\": empty path");
    p->conf->plugin_dir = keep(p, argv[0]);
    return NULL;
}

static const char *set_server_timing(struct parser *p, int argc, char **argv)
{
    if (strcmp(argv[0], "on") == 0)
        p->conf->server_timing = 1;
    else if (strcmp(argv[0], "off") == 0)
        p->conf->server_timing = 0;
    else
        return reasonf(p, "directive \"server_timing\": expected one of on|off, got \"%s\"",
                       show(p, argv[0]));
    return NULL;
}

/* `plugin NAME {`: always pushes a frame, so the block's "}" is matched. */
static const char *open_plugin(struct parser *p, int argc, char **argv)
{
    const struct ember_plugin_schema *schema = ember_schema_find(argv[0]);
    struct tblock                    *b;

    if (schema == NULL && (ember_schema_test_only(argv[0]) || !is_plugin_name(argv[0]))) {
        push(p, F_SKIP, NULL, NULL);
        return reasonf(p, "unknown plugin \"%s\" (built: %s)", show(p, argv[0]),
                       ember_schema_built());
    }
    if (schema == NULL)
        pending_add(p, argv[0], "");
    b = block_new(p, argv[0], schema);
    push(p, F_PLUGIN, b, NULL);
    for (const struct tblock *o = p->plugins; o; o = o->next) {
        if (strcmp(o->name, argv[0]) == 0)    /* validated, never stored */
            return reasonf(p, "plugin \"%s\" repeated (first at line %d)", show(p, argv[0]),
                           o->line);
    }
    *p->plugins_tail = b;
    p->plugins_tail = &b->next;
    p->nplugins++;
    return NULL;
}

static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY"
};

/* `route METHOD TEMPLATE {`: always pushes a frame; templates are the router's. */
static const char *open_route(struct parser *p, int argc, char **argv)
{
    struct troute *r = ember_pool_calloc(p->tmp, sizeof(*r));
    size_t         i;

    r->path = keep(p, argv[1]);
    r->line = p->line;
    r->tail = &r->steps;
    *p->routes_tail = r;
    p->routes_tail = &r->next;
    p->nroutes++;
    push(p, F_ROUTE, NULL, r);
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcasecmp(argv[0], methods[i]) == 0) {
            r->method = methods[i];
            return NULL;
        }
    }
    r->method = "ANY";
    return reasonf(p, "%sunknown method \"%s\" (expected GET, HEAD, POST, PUT, PATCH, "
                   "DELETE, OPTIONS or ANY)", route_prefix(p, r), show(p, argv[0]));
}

struct top_directive {
    const char  *name;
    int          min_args;
    int          max_args;
    const char *(*set)(struct parser *p, int argc, char **argv);
    const char  *block;     /* usage, when the directive opens a block */
};

static const struct top_directive top_directives[] = {
    { "log_level",     1, 1, set_log_level,     NULL },
    { "strip_stage",   1, 1, set_strip_stage,   NULL },
    { "plugin_dir",    1, 1, set_plugin_dir,    NULL },
    { "server_timing", 1, 1, set_server_timing, NULL },
    { "plugin",        1, 1, open_plugin,       "plugin NAME { ... }" },
    { "route",         2, 2, open_route,        "route METHOD TEMPLATE { ... }" },
};
_Static_assert(sizeof(top_directives) / sizeof(top_directives[0]) == NTOP, "NTOP");

static void top_level(struct parser *p, int argc, char **argv, const char *name, int opens)
{
    const struct top_directive *t = NULL;
    const char                 *reason;
    size_t                      i;

    for (i = 0; i < NTOP; i++) {
        if (strcmp(top_directives[i].name, name) == 0) {
            t = &top_directives[i];
            break;
        }
    }
    if (t == NULL) {
        if (is_secret_name(name))
            error(p, p->line, "%s", secret_reason(p, name));
        else
            error(p, p->line, "unknown directive \"%s\" (expected log_level, strip_stage, "
                  "plugin_dir, server_timing, plugin or route)", show(p, name));
        if (opens)
            push(p, F_SKIP, NULL, NULL);
        return;
    }
    if (t->block && !opens) {
        error(p, p->line, "directive \"%s\" needs a block: %s", name, t->block);
        return;
    }
    if (!t->block && opens) {
        error(p, p->line, "directive \"%s\" takes no block", name);
        push(p, F_SKIP, NULL, NULL);
        return;
    }
    if (argc < t->min_args || argc > t->max_args) {
        error(p, p->line, "%s", argc_reason(p, name, t->min_args, t->max_args, argc));
        if (opens)
            push(p, F_SKIP, NULL, NULL);
        return;
    }
    if (!t->block && p->top_seen[i]) {
        error(p, p->line, "directive \"%s\" repeated (first at line %d)", name, p->top_seen[i]);
        return;
    }
    p->top_seen[i] = p->line;
    reason = t->set(p, argc, argv);
    if (reason)
        error(p, p->line, "%s", reason);
}

/* ------------------------------------------------------------------ plugin settings */

/* A line inside `plugin NAME {` (route == NULL) or a route's `NAME {`. */
static void setting(struct parser *p, struct tblock *b, const struct troute *route,
                    int argc, char **argv, const char *name, int opens)
{
    const char         *pre = route ? route_prefix(p, route) : "";
    const struct dnode *first;

    if (opens) {
        error(p, p->line, "%sdirective \"%s\" takes no block", pre, show(p, name));
        push(p, F_SKIP, NULL, NULL);
        return;
    }
    /* A *_secret the plugin declares names a secret held elsewhere (db's
       url_secret ARN): only undeclared ones are refused as secrets. */
    if (is_secret_name(name)
        && (b->schema == NULL || ember_schema_directive(b->schema->d, name) == NULL)) {
        error(p, p->line, "%s%s", pre, secret_reason(p, name));
        return;
    }
    first = block_find(b, name);
    /* an out-of-tree plugin (no schema): checked against its own table at
       `bootstrap -t` and at its first load (core/plugin.c) */
    if (b->schema != NULL) {
        ember_buf_reset(&p->reason);
        if (ember_schema_check(b->schema->d, b->name, route != NULL, name, argc,
                               (const char *const *) argv, first ? first->d.line : 0,
                               &p->reason) != 0) {
            error(p, p->line, "%s%s", pre, ember_buf_str(&p->reason));
            return;
        }
    }
    block_add(p, b, argc, argv, name);
}

/* A line inside `route METHOD TEMPLATE {`: one step of the chain. */
static void step(struct parser *p, struct troute *r, int argc, const char *name, int opens)
{
    const struct ember_plugin_schema *schema = ember_schema_find(name);
    struct tblock                    *b;
    const struct tblock              *o;

    r->lines++;
    if (schema == NULL && (ember_schema_test_only(name) || !is_plugin_name(name))) {
        error(p, p->line, "%sunknown plugin \"%s\" (built: %s)", route_prefix(p, r),
              show(p, name), ember_schema_built());
        if (opens)
            push(p, F_SKIP, NULL, NULL);
        return;
    }
    if (argc > 0) {
        error(p, p->line, "%splugin \"%s\" takes no arguments here; put its settings in a "
              "block: %s { ... }", route_prefix(p, r), name, name);
        if (opens)
            push(p, F_SKIP, NULL, NULL);
        return;
    }
    if (schema == NULL)
        pending_add(p, name, route_prefix(p, r));
    b = block_new(p, name, schema);
    if (opens)
        push(p, F_STEP, b, r);
    for (o = r->steps; o; o = o->next) {
        if (strcmp(o->name, name) == 0) {     /* validated, never stored */
            error(p, p->line, "%splugin \"%s\" repeated in the chain (first at line %d)",
                  route_prefix(p, r), name, o->line);
            return;
        }
    }
    *r->tail = b;
    r->tail = &b->next;
    r->nsteps++;
}

/* ------------------------------------------------------------------ lines */

static void tok_add(struct parser *p, size_t off, int bare)
{
    if (p->ntok == p->tok_cap) {
        p->tok_cap = p->tok_cap ? 2 * p->tok_cap : 16;
        p->tok = ember_xrealloc(p->tok, p->tok_cap * sizeof(*p->tok));
    }
    p->tok[p->ntok].s = NULL;     /* tokbuf may still move */
    p->tok[p->ntok].off = off;
    p->tok[p->ntok].bare = bare;
    p->ntok++;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Split text[0..len) (one line, no '\n') into p->tok. -1: reported. */
static int tokenize(struct parser *p, const char *s, size_t len)
{
    size_t i = 0, k;

    p->ntok = 0;
    ember_buf_reset(&p->tokbuf);
    while (i < len) {
        size_t off;
        int    bare = 1;

        if (is_blank(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '#')
            break;
        off = p->tokbuf.len;
        while (i < len && !is_blank(s[i]) && s[i] != '#') {
            char q = s[i];

            if (q == '\0') {
                error(p, p->line, "unexpected NUL byte");
                return -1;
            }
            if (q != '"' && q != '\'') {
                ember_buf_append(&p->tokbuf, &s[i], 1);
                i++;
                continue;
            }
            bare = 0;
            for (i++; i < len && s[i] != q; i++) {
                char c = s[i];

                if (c == '\0') {
                    error(p, p->line, "unexpected NUL byte");
                    return -1;
                }
                if (q == '"' && c == '\\' && i + 1 < len) {
                    c = s[++i];
                    if (c == 'n')
                        c = '\n';
                    else if (c == 't')
                        c = '\t';
                    else if (c != '"' && c != '\\') {
                        char esc[2] = { c, '\0' };

                        error(p, p->line, "unknown escape \"\\%s\" in a double-quoted "
                              "argument (use \\\\ for a backslash)", show(p, esc));
                        return -1;
                    }
                }
                ember_buf_append(&p->tokbuf, &c, 1);
            }
            if (i >= len) {
                error(p, p->line, "unterminated quote (a quoted argument must end on "
                      "its line)");
                return -1;
            }
            i++;    /* the closing quote */
        }
        ember_buf_append(&p->tokbuf, "", 1);
        tok_add(p, off, bare);
    }
    for (k = 0; k < p->ntok; k++)
        p->tok[k].s = p->tokbuf.data + p->tok[k].off;
    return 0;
}

static int is_bare(const struct token *t, const char *s)
{
    return t->bare && strcmp(t->s, s) == 0;
}

/* The last non-blank byte of a line before any '#' we can trust: for recovery only. */
static int ends_with_brace(const char *s, size_t len)
{
    while (len > 0 && is_blank(s[len - 1]))
        len--;
    return len > 0 && s[len - 1] == '{';
}

static void line(struct parser *p, const char *s, size_t len)
{
    struct frame *f;
    size_t        n, i;
    int           opens = 0, closes_now = 0, nopen = 0, nclose = 0;
    char        **argv;

    if (tokenize(p, s, len) < 0) {
        /* a broken line that opened a block: skip the block, not its lines */
        if (ends_with_brace(s, len))
            push(p, F_SKIP, NULL, NULL);
        return;
    }
    n = p->ntok;
    if (n == 0)
        return;

    /* braces: "{" / "{}" / "{ }" end an opening line, "}" stands alone */
    if (n == 1 && is_bare(&p->tok[0], "}")) {
        if (p->depth == 0)
            error(p, p->line, "unexpected \"}\" (no block is open)");
        else
            pop(p);
        return;
    }
    if (n >= 2 && is_bare(&p->tok[n - 1], "{")) {
        opens = 1;
        n -= 1;
    } else if (n >= 2 && is_bare(&p->tok[n - 1], "{}")) {
        opens = closes_now = 1;
        n -= 1;
    } else if (n >= 3 && is_bare(&p->tok[n - 2], "{") && is_bare(&p->tok[n - 1], "}")) {
        opens = closes_now = 1;
        n -= 2;
    }
    for (i = 0; i < n; i++) {
        if (is_bare(&p->tok[i], "{"))
            nopen++;
        else if (is_bare(&p->tok[i], "}"))
            nclose++;
    }
    if (nopen || nclose) {
        f = top_frame(p);
        if (f && f->kind == F_ROUTE)
            f->route->lines++;      /* a step, if a broken one */
        if (nclose)
            error(p, p->line, "\"}\" must be on a line of its own");
        else
            error(p, p->line, "\"{\" must end the line that opens a block");
        /* keep the braces balanced: the contents of what it opened are skipped */
        nopen += opens - closes_now;
        for (; nopen > nclose; nopen--)
            push(p, F_SKIP, NULL, NULL);
        for (; nclose > nopen && p->depth > 0; nclose--)
            pop(p);
        return;
    }

    /* plain strings: argv[0] is the directive's name */
    argv = ember_pool_alloc(p->tmp, (n + 1) * sizeof(*argv));
    for (i = 0; i < n; i++)
        argv[i] = p->tok[i].s;
    argv[n] = NULL;

    /* a new top-level block inside another: the other lacks its "}" */
    if (p->depth > 0 && opens && p->tok[0].bare
        && (strcmp(argv[0], "route") == 0 || strcmp(argv[0], "plugin") == 0)) {
        const char *where = ember_pool_sprintf(p->tmp, "before line %d", p->line);

        unclosed(p, where);
    }

    f = top_frame(p);
    if (f == NULL)
        top_level(p, (int) n - 1, argv + 1, argv[0], opens);
    else if (f->kind == F_SKIP) {
        if (opens)
            push(p, F_SKIP, NULL, NULL);
    } else if (f->kind == F_ROUTE)
        step(p, f->route, (int) n - 1, argv[0], opens);
    else
        setting(p, f->block, f->kind == F_STEP ? f->route : NULL, (int) n - 1, argv + 1,
                argv[0], opens);

    if (closes_now && p->depth > 0)
        pop(p);
}

/* ------------------------------------------------------------------ the result */

static void freeze_block(struct parser *p, struct ember_conf_block *out, const struct tblock *b)
{
    struct ember_conf_directive *d = ember_pool_alloc(p->mem, (b->n ? b->n : 1) * sizeof(*d));
    const struct dnode          *node;
    size_t                       i = 0;

    for (node = b->head; node; node = node->next)
        d[i++] = node->d;
    out->name = b->name;
    out->file = p->file;
    out->line = b->line;
    out->n = b->n;
    out->d = d;
}

static void freeze(struct parser *p)
{
    struct ember_conf   *c = p->conf;
    const struct tblock *b;
    const struct troute *r;
    size_t               i = 0, j;

    c->nplugins = p->nplugins;
    c->plugins = ember_pool_calloc(p->mem, (p->nplugins ? p->nplugins : 1) * sizeof(*c->plugins));
    for (b = p->plugins; b; b = b->next)
        freeze_block(p, &c->plugins[i++], b);

    c->nroutes = p->nroutes;
    c->routes = ember_pool_calloc(p->mem, (p->nroutes ? p->nroutes : 1) * sizeof(*c->routes));
    for (i = 0, r = p->routes; r; r = r->next, i++) {
        struct ember_conf_route *cr = &c->routes[i];

        cr->method = keep(p, r->method);
        cr->path = r->path;
        cr->file = p->file;
        cr->line = r->line;
        cr->nsteps = r->nsteps;
        cr->steps = ember_pool_calloc(p->mem, (r->nsteps ? r->nsteps : 1) * sizeof(*cr->steps));
        for (j = 0, b = r->steps; b; b = b->next, j++) {
            cr->steps[j].plugin = b->name;
            freeze_block(p, &cr->steps[j].block, b);
        }
    }
}

int ember_conf_parse(struct ember_conf **conf, const char *file,
                     const char *text, size_t len, struct ember_buf *errs)
{
    struct parser      p;
    struct ember_pool *mem = ember_pool_create();
    size_t             pos = 0;

    memset(&p, 0, sizeof(p));
    p.mem = mem;
    p.tmp = ember_pool_create();
    p.errs = errs;
    p.file = ember_pool_strdup(mem, file);
    p.conf = ember_pool_calloc(mem, sizeof(*p.conf));
    p.conf->file = p.file;
    p.conf->log_level = -1;
    p.conf->strip_stage = EMBER_STRIP_AUTO;     /* conf.h: default auto */
    p.conf->mem = mem;
    p.plugins_tail = &p.plugins;
    p.routes_tail = &p.routes;

    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)     /* a UTF-8 BOM */
        pos = 3;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t      end = nl ? (size_t) (nl - text) : len;

        p.line++;
        line(&p, text + pos, end - pos);
        pos = end + 1;
    }
    if (p.depth > 0)
        unclosed(&p, "at end of file");
    resolve_pending(&p);
    for (size_t i = 0; i < p.nmsgs; i++) {
        if (p.msgs[i] != NULL)
            ember_buf_puts(errs, p.msgs[i]);
    }

    if (p.nerr == 0)
        freeze(&p);
    ember_pool_destroy(p.tmp);
    free(p.frames);
    free(p.msgs);
    free(p.tok);
    ember_buf_free(&p.tokbuf);
    ember_buf_free(&p.reason);
    if (p.nerr > 0) {
        ember_pool_destroy(mem);
        *conf = NULL;
        return EMBER_ERROR;
    }
    *conf = p.conf;
    return EMBER_OK;
}

int ember_conf_load(struct ember_conf **conf, const char *file, struct ember_buf *errs)
{
    struct ember_buf text = EMBER_BUF_INIT;
    int              fd = open(file, O_RDONLY | O_CLOEXEC);
    char             chunk[8192];
    ssize_t          n;
    int              rc;

    *conf = NULL;
    if (fd < 0) {
        ember_buf_printf(errs, "%s: %s\n", file, strerror(errno));
        return EMBER_ERROR;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ember_buf_printf(errs, "%s: %s\n", file, strerror(errno));
            close(fd);
            ember_buf_free(&text);
            return EMBER_ERROR;
        }
        ember_buf_append(&text, chunk, (size_t) n);
    }
    close(fd);
    rc = ember_conf_parse(conf, file, text.data ? text.data : "", text.len, errs);
    ember_buf_free(&text);
    return rc;
}

void ember_conf_free(struct ember_conf *conf)
{
    if (conf)
        ember_pool_destroy(conf->mem);    /* conf itself lives there */
}

const struct ember_conf_block *ember_conf_plugin(const struct ember_conf *conf, const char *name)
{
    size_t i;

    for (i = 0; i < conf->nplugins; i++) {
        if (strcmp(conf->plugins[i].name, name) == 0)
            return &conf->plugins[i];
    }
    return NULL;
}

const struct ember_conf_directive *ember_conf_find(const struct ember_conf_block *b,
                                                   const char *name)
{
    size_t i;

    if (b == NULL)
        return NULL;
    for (i = 0; i < b->n; i++) {
        if (strcmp(b->d[i].name, name) == 0)
            return &b->d[i];
    }
    return NULL;
}
