/*
 * schema.h - the directives each plugin accepts (struct ember_directive,
 * include/ember/plugin.h) and the one check of a config directive against
 * them.  The tables of the plugins this build includes are compiled in
 * from each plugin's plugins/NAME/NAME.def (the same file the plugin
 * compiles into its own ABI-2 struct), so the core validates the whole
 * config at every start without loading a single plugin.  An out-of-tree
 * plugin has no table here: the loader checks its blocks against the
 * table its .so exports (core/plugin.c), at `bootstrap -t` and first use.
 */
#ifndef EMBER_SCHEMA_H
#define EMBER_SCHEMA_H

#include <stddef.h>
#include <ember/plugin.h>
#include "buf.h"

struct ember_plugin_schema {
    const char                    *name;
    const struct ember_directive  *d;          /* ended by a NULL name */
    int                            test_only;  /* accepted only with EMBER_TEST_PLUGINS=1 */
};

/* The schema of a plugin this build has, or NULL. */
const struct ember_plugin_schema *ember_schema_find(const char *name);
/* Is name a test-only plugin (never taken for an out-of-tree one)? */
int ember_schema_test_only(const char *name);
/* The directive `name` of a table (ended by a NULL name; NULL: none), or NULL. */
const struct ember_directive *ember_schema_directive(const struct ember_directive *table,
                                                     const char *name);
/* "auth db response" (the built, non-test plugins), or "none". Borrowed. */
const char *ember_schema_built(void);

/*
 * Check one directive of plugin `plugin`'s block against its table: known,
 * in scope (route: 1 inside a route's block), argument count, the type of
 * every argument, and not repeated unless it may be (prev_line: the line of
 * an earlier directive of that name in the block, or 0).  Returns 0, or -1
 * with the reason appended to why, without file:line or route.
 */
int ember_schema_check(const struct ember_directive *table, const char *plugin, int route,
                       const char *name, int argc, const char *const *argv, int prev_line,
                       struct ember_buf *why);

/* Append s to b as it may stand inside "..." in a one-line message:
   controls, quotes and backslashes escaped, cut after 200 bytes. */
void ember_schema_show(struct ember_buf *b, const char *s);
/* "directive "x" takes 1 argument, got 2" and its kin, appended to why. */
void ember_schema_argc_reason(struct ember_buf *why, const char *name, int min, int max,
                              int got);

#endif
