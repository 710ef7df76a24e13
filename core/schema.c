/*
 * schema.c - the directives of every plugin this build includes, compiled
 * in from each plugin's .def file, so the core validates the whole config
 * at start-up without loading a single plugin.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "schema.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#ifdef EMBER_WITH_AUTH
static const struct ember_directive_def auth_directives[] = {
#define EMBER_DIRECTIVE(n, s, mn, mx, m, v) { n, s, mn, mx, m, v },
#include "../plugins/auth/auth.def"
#undef EMBER_DIRECTIVE
};
#endif

#ifdef EMBER_WITH_DB
static const struct ember_directive_def db_directives[] = {
#define EMBER_DIRECTIVE(n, s, mn, mx, m, v) { n, s, mn, mx, m, v },
#include "../plugins/db/db.def"
#undef EMBER_DIRECTIVE
};
#endif

#ifdef EMBER_WITH_RESPONSE
static const struct ember_directive_def response_directives[] = {
#define EMBER_DIRECTIVE(n, s, mn, mx, m, v) { n, s, mn, mx, m, v },
#include "../plugins/response/response.def"
#undef EMBER_DIRECTIVE
};
#endif

/* The test plugin is always known, but accepted only with EMBER_TEST_PLUGINS=1. */
static const struct ember_directive_def probe_directives[] = {
#define EMBER_DIRECTIVE(n, s, mn, mx, m, v) { n, s, mn, mx, m, v },
#include "../tests/plugins/probe.def"
#undef EMBER_DIRECTIVE
};

static const struct ember_plugin_schema schemas[] = {
#ifdef EMBER_WITH_AUTH
    { "auth", auth_directives, NELEM(auth_directives), 0 },
#endif
#ifdef EMBER_WITH_DB
    { "db", db_directives, NELEM(db_directives), 0 },
#endif
#ifdef EMBER_WITH_RESPONSE
    { "response", response_directives, NELEM(response_directives), 0 },
#endif
    { "probe", probe_directives, NELEM(probe_directives), 1 },
};

static int test_plugins_allowed(void)
{
    const char *v = getenv("EMBER_TEST_PLUGINS");

    return v != NULL && strcmp(v, "1") == 0;
}

const struct ember_plugin_schema *ember_schema_find(const char *name)
{
    size_t i;

    for (i = 0; i < NELEM(schemas); i++) {
        if (strcmp(schemas[i].name, name) != 0)
            continue;
        if (schemas[i].test_only && !test_plugins_allowed())
            return NULL;
        return &schemas[i];
    }
    return NULL;
}

const struct ember_directive_def *ember_schema_directive(const struct ember_plugin_schema *s,
                                                         const char *name)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (strcmp(s->d[i].name, name) == 0)
            return &s->d[i];
    }
    return NULL;
}

const char *ember_schema_built(void)
{
    /* Long enough for every plugin name in the table, space-separated. */
    static char built[64];
    size_t      i, len = 0;

    if (built[0] != '\0')
        return built;
    for (i = 0; i < NELEM(schemas); i++) {
        size_t n = strlen(schemas[i].name);

        if (schemas[i].test_only || len + n + 2 > sizeof(built))
            continue;
        if (len > 0)
            built[len++] = ' ';
        memcpy(built + len, schemas[i].name, n);
        len += n;
    }
    if (len == 0)
        memcpy(built, "none", 5);
    else
        built[len] = '\0';
    return built;
}
