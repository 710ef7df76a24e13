/*
 * ember/plugin.h - the one API between the ember core and its plugins.
 *
 * A plugin is a shared object that exports exactly one data symbol,
 * `ember_plugin_<name>`, a `const struct ember_plugin` whose header is
 * filled by EMBER_PLUGIN_HEADER.  The core dlopen()s it the first time a
 * matched route needs it, checks magic and ABI, then calls `init` once.
 *
 * Plugins reach the core only through the host table handed to `init`
 * (and repeated in every exchange); they never link against bootstrap.
 *
 * Ownership: everything a plugin gets from the core is borrowed for the
 * scope stated next to it.  Memory for one request comes from the
 * exchange's pool (host->palloc) and is freed after the response is
 * posted; foreign objects are released through host->cleanup_add.
 */
#ifndef EMBER_PLUGIN_H
#define EMBER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMBER_PLUGIN_MAGIC  0x454d4252u   /* "EMBR" */
/* 2: the plugin carries its directive table (struct ember_directive) and
   its struct's size, so hooks added at the end stay optional. */
#define EMBER_PLUGIN_ABI    2u

/* Fills the ABI fields of a struct ember_plugin; nobody writes them by hand. */
#define EMBER_PLUGIN_HEADER .magic = EMBER_PLUGIN_MAGIC, .abi = EMBER_PLUGIN_ABI, \
                            .size = sizeof(struct ember_plugin)

/* Return values of hooks and host calls. Zero is success. */
enum ember_rc {
    EMBER_OK       = 0,    /* init/route_init succeeded; handle: go on to the next plugin */
    EMBER_CONTINUE = 0,
    EMBER_DONE     = 1,    /* handle: the response is complete, stop the chain */
    EMBER_ERROR    = -1    /* failed; the caller-owned struct ember_error says why */
};

enum ember_log_level {
    EMBER_LOG_TRACE = 0,
    EMBER_LOG_DEBUG,
    EMBER_LOG_INFO,
    EMBER_LOG_WARN,
    EMBER_LOG_ERROR,
    EMBER_LOG_FATAL
};

/*
 * A failure, written once where it happens (host->fail), logged once by
 * whoever handles it (the core, for hook failures).  `status` is the HTTP
 * status the client gets; the client sees only the reason phrase for that
 * status (or `public_message` if set, a static string), never `message`.
 */
struct ember_error {
    int         status;
    const char *public_message;
    char        message[512];
};

/* A name/value pair. Names of headers are lower-case. */
struct ember_kv {
    const char *name;
    const char *value;
};

/* One directive of the config: `name argv[0] argv[1] ...` at file:line. */
struct ember_conf_directive {
    const char         *name;
    int                 argc;
    const char *const  *argv;
    const char         *file;
    int                 line;
};

/*
 * The settings of one plugin: its `plugin NAME { ... }` block (global) or
 * its entry in a route's chain (route).  Borrowed; lives as long as the
 * process.
 */
struct ember_conf_block {
    const char                         *name;    /* the plugin's name */
    const char                         *file;
    int                                 line;    /* line of the block's opening */
    size_t                              n;
    const struct ember_conf_directive  *d;
};

/*
 * The directives a plugin accepts: its table, ended by EMBER_DIRECTIVES_END
 * (nginx's ngx_command_t, lighttpd's T_CONFIG_*).  The core checks every
 * directive of the config against it - name, scope, argument count, the
 * type of each argument - before the plugin sees the block, so a plugin's
 * hooks only read values that passed.  A built-in plugin keeps its table in
 * plugins/NAME/NAME.def, compiled into the plugin and into the core (which
 * then checks at every start without loading it); an out-of-tree plugin's
 * table is read from its .so at `bootstrap -t` and at its first load.
 */
enum ember_scope {
    EMBER_SCOPE_GLOBAL = 1,     /* in `plugin NAME { }` */
    EMBER_SCOPE_ROUTE  = 2,     /* in a route's `NAME { }` */
    EMBER_SCOPE_BOTH   = 3
};

/* The type of every argument of a directive. */
enum ember_value_type {
    EMBER_T_STRING = 0,  /* any text, "" too */
    EMBER_T_INT,         /* decimal digits (a '-' only if min < 0), min..max */
    EMBER_T_ENUM,        /* one of values "a|b|c", exactly */
    EMBER_T_ENUMI,       /* one of values "a|b|c", ignoring case */
    EMBER_T_ENV,         /* an environment variable's name: [A-Za-z_][A-Za-z0-9_]* */
    EMBER_T_PATH,        /* a file path: not empty */
    EMBER_T_URL          /* scheme://host...; values: the schemes allowed, "https|http" */
};

struct ember_directive {
    const char *name;
    int         scope;       /* enum ember_scope */
    int         min_args;
    int         max_args;
    int         multi;       /* may repeat in one block */
    int         type;        /* enum ember_value_type, of every argument */
    long        min, max;    /* EMBER_T_INT */
    const char *values;      /* EMBER_T_ENUM*, EMBER_T_URL; else NULL */
};

/* One entry of a table; plugins/NAME/NAME.def is a list of these. */
#define EMBER_DIRECTIVE(name, scope, min_args, max_args, multi, type, min, max, values) \
    { name, scope, min_args, max_args, multi, type, min, max, values },
#define EMBER_DIRECTIVES_END { NULL, 0, 0, 0, 0, 0, 0, 0, NULL }

/* The route a request matched. Borrowed for the request. */
struct ember_route_info {
    const char *method;          /* "GET", ..., or "ANY" */
    const char *path_template;   /* "/items/{id}" */
    const char *file;
    int         line;
};

/*
 * The request, as the core parsed it from the event, whatever its source.
 * Multi-value headers and query parameters are repeated entries, in order.
 * Everything is borrowed for the request.
 */
struct ember_request {
    const char             *method;       /* upper-case */
    const char             *path;         /* decoded once; stage prefix stripped */
    const char             *raw_query;    /* may be "" */
    const struct ember_kv  *headers;      size_t nheaders;   /* names lower-case */
    const struct ember_kv  *query;        size_t nquery;
    const struct ember_kv  *cookies;      size_t ncookies;
    const struct ember_kv  *params;       size_t nparams;    /* path params of the route */
    const char             *body;         size_t body_len;   /* base64 already decoded; NUL-terminated */
    const char             *source_ip;    /* the event's own (ALB: the last X-Forwarded-For
                                             entry); may be NULL */
    const char             *source;       /* "v1", "v2", "url" or "alb" */
    const char             *request_id;   /* Lambda's request id */
    const char             *function_arn;
    int64_t                 deadline_ms;  /* epoch ms; 0 = unknown */
};

/*
 * The response being built.  Use host->set_status/add_header/set_body;
 * read freely.  status 0 means "nobody answered yet".
 */
struct ember_response {
    int                     status;
    struct ember_kv        *headers;      size_t nheaders;   /* pool-owned */
    const char             *body;         size_t body_len;   /* pool-owned */
    int                     binary;       /* body is bytes, not UTF-8 text */
};

struct ember_host;
struct json_object;

/*
 * One request's exchange.  `vars` is a json-c object owned by the core,
 * where plugins leave values for later ones: "claims" (auth), "result"
 * (db). json-c ownership rules apply: json_object_object_add() transfers,
 * json_object_object_get_ex() borrows.
 */
struct ember_exchange {
    const struct ember_host        *host;
    const struct ember_request     *req;
    struct ember_response          *res;
    struct json_object             *vars;
    const struct ember_route_info  *route;
    struct ember_error             *err;     /* caller-owned; fill with host->fail */
    void                           *core;    /* the core's own; do not touch */
};

/* The host table: everything a plugin may call in the core. */
struct ember_host {
    uint32_t abi;

    /* Logging: one line on stderr, with level and the current request id. */
    void (*log)(int level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

    /* Fill err (status + message for the log) and return EMBER_ERROR. */
    int (*fail)(struct ember_error *err, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Per-request memory, freed after the response is posted. Never NULL. */
    void *(*palloc)(struct ember_exchange *ex, size_t n);
    char *(*pstrndup)(struct ember_exchange *ex, const char *s, size_t n);
    char *(*psprintf)(struct ember_exchange *ex, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
    /* Run fn(data) when the request's memory is freed (e.g. PQclear). */
    void (*cleanup_add)(struct ember_exchange *ex, void (*fn)(void *), void *data);

    /* Lookups on the request, first match or NULL; header names are
       case-insensitive, everything else exact. */
    const char *(*header)(const struct ember_exchange *ex, const char *name);
    const char *(*query)(const struct ember_exchange *ex, const char *name);
    const char *(*param)(const struct ember_exchange *ex, const char *name);
    const char *(*cookie)(const struct ember_exchange *ex, const char *name);

    /* Building the response; values are copied into the pool. */
    void (*set_status)(struct ember_exchange *ex, int status);
    void (*add_header)(struct ember_exchange *ex, const char *name, const char *value);
    void (*set_header)(struct ember_exchange *ex, const char *name, const char *value);
    void (*set_body)(struct ember_exchange *ex, const char *body, size_t len, int binary);

    /* Config: the first directive called `name` in block b, or NULL. */
    const struct ember_conf_directive *(*conf_find)(const struct ember_conf_block *b,
                                                    const char *name);

    /* Milliseconds left before Lambda's deadline; INT64_MAX if unknown. */
    int64_t (*remaining_ms)(const struct ember_exchange *ex);

    /* Record that a cold-start phase ended ("db.connect"); cheap when warm. */
    void (*mark)(struct ember_exchange *ex, const char *phase);
};

/*
 * A plugin.  Hooks get their error struct from the caller; they fill it
 * with host->fail and return EMBER_ERROR.
 *
 * directives: the table of what the plugin accepts (see above); NULL
 *             accepts no directive at all.

 * init:       once, on first use.  `global` is the `plugin NAME {}` block
 *             (an empty block if the config has none).  Allocate state here.
 *             Do nothing here that can wait for a request (laziness rule).
 * route_init: once per route, on the route's first use; `conf` is the
 *             route's settings for this plugin.  May be NULL.
 * handle:     each request. EMBER_CONTINUE, EMBER_DONE or EMBER_ERROR.
 * route_fini, fini: on shutdown; free what init/route_init allocated.
 */
struct ember_plugin {
    uint32_t    magic;
    uint32_t    abi;
    size_t      size;       /* sizeof(struct ember_plugin) as the plugin saw it */
    const char *name;
    const struct ember_directive *directives;

    int  (*init)(void **state, const struct ember_host *host,
                 const struct ember_conf_block *global, struct ember_error *err);
    int  (*route_init)(void *state, const struct ember_conf_block *conf,
                       void **route_state, struct ember_error *err);
    int  (*handle)(void *state, void *route_state, struct ember_exchange *ex);
    void (*route_fini)(void *state, void *route_state);
    void (*fini)(void *state);

    /* New optional hooks go here, at the end, without a new ABI number:
       the core calls one only if the plugin's size covers it
       (EMBER_PLUGIN_HAS) and it is not NULL. */
};

/* Does plugin p (a const struct ember_plugin *) have optional hook `member`? */
#define EMBER_PLUGIN_HAS(p, member) \
    ((p)->size >= offsetof(struct ember_plugin, member) + sizeof((p)->member) \
     && (p)->member != NULL)

/* Plugins define their one symbol with this: visible, everything else hidden. */
#define EMBER_PLUGIN_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif

#endif /* EMBER_PLUGIN_H */
