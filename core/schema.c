/*
 * schema.c - the directive tables of every plugin this build includes,
 * compiled in from each plugin's .def file (the very file the plugin
 * compiles into its ABI-2 struct), and the typed check of one directive.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema.h"
#include "text.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#ifdef EMBER_WITH_AUTH
static const struct ember_directive auth_directives[] = {
#include "../plugins/auth/auth.def"
    EMBER_DIRECTIVES_END
};
#endif

#ifdef EMBER_WITH_DB
static const struct ember_directive db_directives[] = {
#include "../plugins/db/db.def"
    EMBER_DIRECTIVES_END
};
#endif

#ifdef EMBER_WITH_RESPONSE
static const struct ember_directive response_directives[] = {
#include "../plugins/response/response.def"
    EMBER_DIRECTIVES_END
};
#endif

/* The test plugin is always known, but accepted only with EMBER_TEST_PLUGINS=1. */
static const struct ember_directive probe_directives[] = {
#include "../tests/plugins/probe.def"
    EMBER_DIRECTIVES_END
};

static const struct ember_plugin_schema schemas[] = {
#ifdef EMBER_WITH_AUTH
    { "auth", auth_directives, 0 },
#endif
#ifdef EMBER_WITH_DB
    { "db", db_directives, 0 },
#endif
#ifdef EMBER_WITH_RESPONSE
    { "response", response_directives, 0 },
#endif
    { "probe", probe_directives, 1 },
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

int ember_schema_test_only(const char *name)
{
    size_t i;

    for (i = 0; i < NELEM(schemas); i++) {
        if (strcmp(schemas[i].name, name) == 0)
            return schemas[i].test_only;
    }
    return 0;
}

const struct ember_directive *ember_schema_directive(const struct ember_directive *table,
                                                     const char *name)
{
    for (; table != NULL && table->name != NULL; table++) {
        if (strcmp(table->name, name) == 0)
            return table;
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

/* ------------------------------------------------------------------ the check */

void ember_schema_show(struct ember_buf *b, const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char) s[i];

        if (i == 200) {
            ember_buf_puts(b, "...");
            break;
        }
        if (c == '\n')
            ember_buf_puts(b, "\\n");
        else if (c == '\t')
            ember_buf_puts(b, "\\t");
        else if (c == '"' || c == '\\')
            ember_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            ember_buf_printf(b, "\\x%02x", c);
        else
            ember_buf_append(b, &s[i], 1);
    }
}

void ember_schema_argc_reason(struct ember_buf *why, const char *name, int min, int max,
                              int got)
{
    ember_buf_puts(why, "directive \"");
    ember_schema_show(why, name);
    if (max == 0)
        ember_buf_printf(why, "\" takes no arguments, got %d", got);
    else if (min == max)
        ember_buf_printf(why, "\" takes %d argument%s, got %d", min, min == 1 ? "" : "s", got);
    else
        ember_buf_printf(why, "\" takes %d to %d arguments, got %d", min, max, got);
}

/* Is v one of "a|b|c"? */
static int one_of(const char *values, const char *v, int nocase)
{
    size_t n = strlen(v);

    while (values != NULL && *values != '\0') {
        const char *bar = strchr(values, '|');
        size_t      len = bar ? (size_t) (bar - values) : strlen(values);

        if (len == n && (nocase ? strncasecmp(values, v, n) : strncmp(values, v, n)) == 0)
            return 1;
        if (bar == NULL)
            break;
        values = bar + 1;
    }
    return 0;
}

static int is_int(const char *s, long min, long max)
{
    const char         *p = s;
    unsigned long long  v = 0;
    long                val;
    int                 neg = 0;

    if (*p == '-' && min < 0) {
        neg = 1;
        p++;
    }
    if (*p == '\0')
        return 0;
    for (; *p != '\0'; p++) {
        unsigned d = (unsigned) (*p - '0');

        if (d > 9 || v > ((unsigned long long) LONG_MAX + 1 - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (neg)
        val = v == 0 ? 0 : -(long) (v - 1) - 1;
    else if (v > (unsigned long long) LONG_MAX)
        return 0;
    else
        val = (long) v;
    return val >= min && val <= max;
}

/* scheme://rest, rest not empty, scheme one of `schemes` (any if NULL), any case. */
static int is_url(const char *s, const char *schemes)
{
    const char *sep = strstr(s, "://");
    char        scheme[16];
    size_t      n;

    if (sep == NULL || sep == s || sep[3] == '\0')
        return 0;
    n = (size_t) (sep - s);
    if (n >= sizeof(scheme))
        return 0;
    memcpy(scheme, s, n);
    scheme[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        char c = scheme[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
              || (i > 0 && (c == '+' || c == '-' || c == '.'))))
            return 0;
    }
    return schemes == NULL || one_of(schemes, scheme, 1);
}

/* Why v is not of d's type, appended to why; 0 if it is. */
static int type_check(const struct ember_directive *d, const char *v, struct ember_buf *why)
{
    const char *s;

    switch (d->type) {
    case EMBER_T_INT:
        if (is_int(v, d->min, d->max))
            return 0;
        ember_buf_printf(why, "directive \"%s\": expected an integer from %ld to %ld, got \"",
                         d->name, d->min, d->max);
        break;
    case EMBER_T_ENUM:
    case EMBER_T_ENUMI:
        if (one_of(d->values, v, d->type == EMBER_T_ENUMI))
            return 0;
        ember_buf_printf(why, "directive \"%s\": expected one of %s, got \"", d->name,
                         d->values ? d->values : "(nothing)");
        break;
    case EMBER_T_ENV:
        if (ember_env_name(v))
            return 0;
        ember_buf_printf(why, "directive \"%s\": expected the name of an environment variable "
                         "([A-Za-z_][A-Za-z0-9_]*), got \"", d->name);
        break;
    case EMBER_T_PATH:
        if (v[0] != '\0')
            return 0;
        ember_buf_printf(why, "directive \"%s\": expected a file path, got \"", d->name);
        break;
    case EMBER_T_URL:
        if (is_url(v, d->values))
            return 0;
        ember_buf_printf(why, "directive \"%s\": expected a URL (", d->name);
        for (s = d->values; s != NULL && *s != '\0';) {
            size_t len = strcspn(s, "|");

            ember_buf_printf(why, "%s%.*s://...", s == d->values ? "" : " or ", (int) len, s);
            s += len + (s[len] == '|');
        }
        if (d->values == NULL)
            ember_buf_puts(why, "scheme://...");
        ember_buf_puts(why, "), got \"");
        break;
    default:
        return 0;
    }
    ember_schema_show(why, v);
    ember_buf_puts(why, "\"");
    return -1;
}

int ember_schema_check(const struct ember_directive *table, const char *plugin, int route,
                       const char *name, int argc, const char *const *argv, int prev_line,
                       struct ember_buf *why)
{
    const struct ember_directive *d = ember_schema_directive(table, name);
    int                           i;

    if (d == NULL) {
        ember_buf_puts(why, "unknown directive \"");
        ember_schema_show(why, name);
        ember_buf_puts(why, "\" for plugin \"");
        ember_schema_show(why, plugin);
        ember_buf_puts(why, "\"");
        return -1;
    }
    if (!route && !(d->scope & EMBER_SCOPE_GLOBAL)) {
        ember_buf_printf(why, "directive \"%s\" of plugin \"%s\" is a route setting: put it in "
                         "a route's \"%s { ... }\" block", name, plugin, plugin);
        return -1;
    }
    if (route && !(d->scope & EMBER_SCOPE_ROUTE)) {
        ember_buf_printf(why, "directive \"%s\" of plugin \"%s\" is a global setting: put it "
                         "in \"plugin %s { ... }\"", name, plugin, plugin);
        return -1;
    }
    if (argc < d->min_args || argc > d->max_args) {
        ember_schema_argc_reason(why, name, d->min_args, d->max_args, argc);
        return -1;
    }
    for (i = 0; i < argc; i++) {
        if (type_check(d, argv[i], why) != 0)
            return -1;
    }
    if (!d->multi && prev_line > 0) {
        ember_buf_printf(why, "directive \"%s\" repeated (first at line %d)", name, prev_line);
        return -1;
    }
    return 0;
}
