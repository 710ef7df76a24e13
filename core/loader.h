/*
 * loader.h - the lazy plugin loader (core/plugin.c).
 *
 * A slot per plugin the config names.  ember_plugin_load() maps the .so
 * (dlopen RTLD_NOW|RTLD_LOCAL), finds `ember_plugin_<name>`, checks magic
 * and ABI, runs init once; a failure is returned, and tried again after a
 * backoff (1 s, doubling up to 60 s) - a call within it returns the last
 * failure without mapping anything.  Nothing is loaded until asked, except by
 * ember_plugins_preload (EMBER_PRELOAD=all|a,b).
 */
#ifndef EMBER_LOADER_H
#define EMBER_LOADER_H

#include <stdint.h>
#include <ember/plugin.h>
#include "conf.h"

struct ember_plugin_slot {
    const char                    *name;
    char                          *path;     /* <dir>/<name>.so */
    const struct ember_conf_block *global;   /* `plugin NAME {}` or an empty block */
    void                          *dl;
    const struct ember_plugin     *plugin;   /* non-NULL once init succeeded */
    void                          *state;
};

struct ember_plugins;

/*
 * One slot for each plugin the config's routes name.  dir: the plugin
 * directories (colon-separated) as core/main.c's plugin_dir() picks them:
 * $EMBER_PLUGIN_DIR, else the config's plugin_dir, else
 * $LAMBDA_TASK_ROOT/plugins, else the install's pkglibdir.
 */
int  ember_plugins_create(struct ember_plugins **ps, const struct ember_conf *conf,
                          const char *dir, const struct ember_host *host);
struct ember_plugin_slot *ember_plugins_find(struct ember_plugins *ps, const char *name);
/* The slots, in the config's order (routes first), 0 <= i < count. */
size_t ember_plugins_count(const struct ember_plugins *ps);
struct ember_plugin_slot *ember_plugins_slot(struct ember_plugins *ps, size_t i);
/* Load and init the slot's plugin if not done yet. err->status 500 on failure.
   An out-of-tree plugin's settings (no table compiled into the core) are
   checked against the table its .so exports first. */
int  ember_plugin_load(struct ember_plugins *ps, struct ember_plugin_slot *slot,
                       struct ember_error *err);
/* The backoff after a load failure: first_ms, doubling up to max_ms
   (default 1000, 60000; 0, 0: every call tries again). */
void ember_plugins_set_retry(struct ember_plugins *ps, int64_t first_ms, int64_t max_ms);
/* list: "all" or "auth,db". Fails on the first plugin that does not load. */
int  ember_plugins_preload(struct ember_plugins *ps, const char *list, struct ember_error *err);
/* Calls fini of every loaded plugin, dlcloses, frees. */
void ember_plugins_free(struct ember_plugins *ps);

#endif
