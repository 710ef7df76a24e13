/*
 * conf.h - ember.conf: parsed and validated whole at start-up.
 *
 * Line-oriented; `#` starts a comment; arguments are words, "double
 * quoted" (with \" \\ \n \t escapes) or 'single quoted' (verbatim).
 *
 *   log_level     info                 # TRACE..FATAL; AWS_LAMBDA_LOG_LEVEL wins
 *   strip_stage   auto|off|NAME        # drop "/<stage>" where an HTTP API put it (auto, default)
 *   plugin_dir    /opt/ember/plugins   # $EMBER_PLUGIN_DIR wins; default $LAMBDA_TASK_ROOT/plugins
 *   server_timing on|off               # journey header on cold responses
 *
 *   plugin auth {                      # settings shared by every route
 *       secret_env JWT_SECRET
 *   }
 *
 *   route GET /items/{id} {            # METHOD (or ANY) and a template
 *       auth                           # a plugin with no route settings
 *       db {                           # a plugin with route settings
 *           sql 'SELECT ...'
 *       }
 *       response
 *   }
 *
 * Errors are "file:line: message", every one reported.
 */
#ifndef EMBER_CONF_H
#define EMBER_CONF_H

#include <stddef.h>
#include <ember/plugin.h>
#include "buf.h"

enum ember_strip_stage {
    EMBER_STRIP_OFF = 0,
    EMBER_STRIP_AUTO,       /* an HTTP API's named stage (ember_event_path_stage) */
    EMBER_STRIP_NAME        /* conf->strip_stage_name */
};

struct ember_conf_step {
    const char              *plugin;
    struct ember_conf_block  block;   /* the route's settings (n may be 0) */
};

struct ember_conf_route {
    const char              *method;  /* upper-case, or "ANY" */
    const char              *path;    /* the template as written */
    const char              *file;
    int                      line;
    size_t                   nsteps;
    struct ember_conf_step  *steps;
};

struct ember_conf {
    const char               *file;
    int                       log_level;        /* -1: not set */
    enum ember_strip_stage    strip_stage;
    const char               *strip_stage_name;
    const char               *plugin_dir;       /* NULL: default */
    int                       server_timing;
    size_t                    nplugins;
    struct ember_conf_block  *plugins;          /* `plugin NAME {}` blocks */
    size_t                    nroutes;
    struct ember_conf_route  *routes;
    void                     *mem;              /* the parser's; do not touch */
};

/*
 * Parse text (len bytes) read from `file`.  Returns EMBER_OK with *conf
 * set, or EMBER_ERROR with every error appended to errs, one
 * "file:line: message\n" each, and *conf NULL.
 */
int  ember_conf_parse(struct ember_conf **conf, const char *file,
                      const char *text, size_t len, struct ember_buf *errs);
/* Read and parse a file; an unreadable file is one error ("file: strerror"). */
int  ember_conf_load(struct ember_conf **conf, const char *file, struct ember_buf *errs);
void ember_conf_free(struct ember_conf *conf);

/*
 * The plugin directories (colon-separated): $EMBER_PLUGIN_DIR, else the
 * config's plugin_dir (conf_dir, may be NULL), else $LAMBDA_TASK_ROOT/plugins
 * (composed in buf), else the install's pkglibdir.  A name no built-in
 * plugin has is taken for an out-of-tree plugin when NAME.so is there.
 */
const char *ember_conf_plugin_dir(const char *conf_dir, char *buf, size_t size);

/* The `plugin NAME {}` block, or NULL. */
const struct ember_conf_block *ember_conf_plugin(const struct ember_conf *conf, const char *name);
/* The first directive `name` in b, or NULL (host->conf_find). */
const struct ember_conf_directive *ember_conf_find(const struct ember_conf_block *b,
                                                   const char *name);

#endif
