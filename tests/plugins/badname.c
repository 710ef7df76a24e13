/*
 * badname - a test-only plugin whose struct calls itself "other" while its
 * file and symbol say "badname" (a renamed or mis-copied .so): the loader
 * must refuse it, naming both, and never call into it.
 */
#include <stdlib.h>

#include <ember/plugin.h>

static int badname_init(void **state, const struct ember_host *host,
                        const struct ember_conf_block *global, struct ember_error *err)
{
    abort();    /* the loader must refuse us before this */
}

static int badname_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    abort();
}

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_badname = {
    EMBER_PLUGIN_HEADER,
    .name   = "other",
    .init   = badname_init,
    .handle = badname_handle,
};
