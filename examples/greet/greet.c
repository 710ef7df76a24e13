/*
 * greet - an ember plugin built out of tree, against the installed header
 * alone (the Makefile next to this file: `pkg-config --cflags ember-plugin`).
 *
 *   plugin greet {               # optional
 *       greeting Hello           # the default greeting (default "Hello")
 *   }
 *   route GET /hello/{name} {
 *       greet {                  # or just `greet`
 *           greeting Hi          # this route's greeting
 *           status 200           # 200..299 (default 200)
 *       }
 *   }
 *
 * Answers {"greeting":"Hello, NAME!"}: NAME is the route's {name} parameter,
 * else the query's name=, else "world".  Its directive table travels in the
 * .so (ABI 2): the core checks this plugin's settings against it at
 * `bootstrap -t` and when the plugin is first loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/plugin.h>

static const struct ember_directive greet_directives[] = {
    EMBER_DIRECTIVE("greeting", EMBER_SCOPE_BOTH,  1, 1, 0, EMBER_T_STRING, 0, 0, NULL)
    EMBER_DIRECTIVE("status",   EMBER_SCOPE_ROUTE, 1, 1, 0, EMBER_T_INT, 200, 299, NULL)
    EMBER_DIRECTIVES_END
};

struct greet {
    const struct ember_host *host;
    const char              *greeting;     /* borrowed from the config */
};

struct greet_route {
    const char *greeting;
    int         status;
};

/* Allocates *state (freed by greet_fini). */
static int greet_init(void **state, const struct ember_host *host,
                      const struct ember_conf_block *global, struct ember_error *err)
{
    const struct ember_conf_directive *d = host->conf_find(global, "greeting");
    struct greet                      *g = calloc(1, sizeof(*g));

    if (g == NULL)
        return host->fail(err, 500, "greet: out of memory");
    g->host = host;
    g->greeting = d != NULL ? d->argv[0] : "Hello";
    *state = g;
    return EMBER_OK;
}

/* Allocates *route_state (freed by greet_route_fini).  The core checked the
   values' types already: status is digits within 200..299. */
static int greet_route_init(void *state, const struct ember_conf_block *conf,
                            void **route_state, struct ember_error *err)
{
    const struct greet                *g = state;
    const struct ember_conf_directive *d;
    struct greet_route                *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return g->host->fail(err, 500, "greet: out of memory");
    r->greeting = g->greeting;
    r->status = 200;
    d = conf != NULL ? g->host->conf_find(conf, "greeting") : NULL;
    if (d != NULL)
        r->greeting = d->argv[0];
    d = conf != NULL ? g->host->conf_find(conf, "status") : NULL;
    if (d != NULL)
        r->status = atoi(d->argv[0]);
    *route_state = r;
    return EMBER_OK;
}

/* s as the inside of a JSON string, appended at out (room for 6 bytes a byte). */
static char *json_escape(char *out, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char) *s;

        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char) c;
        } else if (c < 0x20) {
            out += sprintf(out, "\\u%04x", c);
        } else {
            *out++ = (char) c;
        }
    }
    return out;
}

static int greet_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    const struct ember_host  *host = ex->host;
    const struct greet_route *r = route_state;
    const char               *name = host->param(ex, "name");
    char                     *body, *p;

    if (name == NULL)
        name = host->query(ex, "name");
    if (name == NULL || *name == '\0')
        name = "world";
    body = host->palloc(ex, 32 + 6 * (strlen(r->greeting) + strlen(name)));
    p = body + sprintf(body, "{\"greeting\":\"");
    p = json_escape(p, r->greeting);
    p = stpcpy(p, ", ");
    p = json_escape(p, name);
    p = stpcpy(p, "!\"}");
    host->set_status(ex, r->status);
    host->set_header(ex, "content-type", "application/json");
    host->set_body(ex, body, (size_t) (p - body), 0);
    return EMBER_DONE;
}

static void greet_route_fini(void *state, void *route_state)
{
    free(route_state);
}

static void greet_fini(void *state)
{
    free(state);
}

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_greet = {
    EMBER_PLUGIN_HEADER,
    .name       = "greet",
    .directives = greet_directives,
    .init       = greet_init,
    .route_init = greet_route_init,
    .handle     = greet_handle,
    .route_fini = greet_route_fini,
    .fini       = greet_fini,
};
