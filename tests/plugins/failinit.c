/*
 * failinit - a test-only plugin whose init always fails, to prove the
 * loader reports the plugin's own message, leaves the slot unloaded (the
 * object unmapped) and tries again on the next request.  With a global
 * `record FILE` directive (a hand-built config in the unit test), each
 * attempt appends "init\n" to FILE first.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ember/plugin.h>

static int failinit_init(void **state, const struct ember_host *host,
                         const struct ember_conf_block *global, struct ember_error *err)
{
    const struct ember_conf_directive *d = host->conf_find(global, "record");

    if (d != NULL && d->argc >= 1) {
        FILE *f = fopen(d->argv[0], "a");

        if (f != NULL) {
            fputs("init\n", f);
            fclose(f);
        }
    }
    return host->fail(err, 500, "failinit: refusing to start");
}

static int failinit_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    abort();    /* never initialised, never called */
}

static const struct ember_directive failinit_directives[] = {
    EMBER_DIRECTIVE("record", EMBER_SCOPE_GLOBAL, 1, 1, 0, EMBER_T_PATH, 0, 0, NULL)
    EMBER_DIRECTIVES_END
};

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_failinit = {
    EMBER_PLUGIN_HEADER,
    .name   = "failinit",
    .directives = failinit_directives,
    .init   = failinit_init,
    .handle = failinit_handle,
};
