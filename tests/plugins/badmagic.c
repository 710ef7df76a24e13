/*
 * badmagic - a test-only object that exports the right symbol with the
 * wrong magic: the loader must say "not an ember plugin (bad magic)" and
 * never call into it.  The header is written by hand on purpose.
 */
#include <stdlib.h>

#include <ember/plugin.h>

static int badmagic_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    abort();    /* the loader must refuse us before this */
}

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_badmagic = {
    .magic  = 0x4d5a9000u,
    .abi    = EMBER_PLUGIN_ABI,
    .size   = sizeof(struct ember_plugin),
    .name   = "badmagic",
    .handle = badmagic_handle,
};
