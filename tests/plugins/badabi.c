/*
 * badabi - a test-only plugin built for a future ABI, to prove the loader
 * refuses it with a clear message ("plugin ABI 2, runtime needs 1") and
 * never calls into it.  The header is written by hand on purpose: real
 * plugins use EMBER_PLUGIN_HEADER.
 */
#include <stdlib.h>

#include <ember/plugin.h>

static int badabi_init(void **state, const struct ember_host *host,
                       const struct ember_conf_block *global, struct ember_error *err)
{
    abort();    /* the loader must refuse us before this */
}

static int badabi_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    abort();
}

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_badabi = {
    .magic  = EMBER_PLUGIN_MAGIC,
    .abi    = EMBER_PLUGIN_ABI + 1,
    .name   = "badabi",
    .init   = badabi_init,
    .handle = badabi_handle,
};
