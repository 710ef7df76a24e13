/*
 * schema.h - the directives each built plugin accepts, known to the core
 * without loading the plugin, so the whole config is validated at start-up.
 * Each plugin lists them in plugins/<name>/<name>.def:
 *   EMBER_DIRECTIVE("secret_env", EMBER_SCOPE_GLOBAL, 1, 1, 0, NULL)
 *   (name, scope, min args, max args, may repeat, allowed values of arg 1
 *    as "a|b|c" or NULL)
 */
#ifndef EMBER_SCHEMA_H
#define EMBER_SCHEMA_H

#include <stddef.h>
#include "buf.h"

enum ember_scope {
    EMBER_SCOPE_GLOBAL = 1,     /* in `plugin NAME { }` */
    EMBER_SCOPE_ROUTE  = 2,     /* in a route's `NAME { }` */
    EMBER_SCOPE_BOTH   = 3
};

struct ember_directive_def {
    const char *name;
    int         scope;
    int         min_args;
    int         max_args;
    int         multi;
    const char *values;
};

struct ember_plugin_schema {
    const char                        *name;
    const struct ember_directive_def  *d;
    size_t                             n;
    int                                test_only;  /* accepted only with EMBER_TEST_PLUGINS=1 */
};

/* The schema of a plugin this build has, or NULL. */
const struct ember_plugin_schema *ember_schema_find(const char *name);
/* The directive `name` in schema s, or NULL. */
const struct ember_directive_def *ember_schema_directive(const struct ember_plugin_schema *s,
                                                         const char *name);
/* "auth db response" (the built, non-test plugins), or "none". Borrowed. */
const char *ember_schema_built(void);

#endif
