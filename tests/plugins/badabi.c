/*
 * badabi - a test-only plugin built for ABI 1 (before plugins carried
 * their directive table), to prove the loader refuses it with a clear
 * message ("plugin ABI 1, runtime needs 2") and never calls into it.  Its
 * struct is ABI 1's layout, written by hand on purpose: real plugins use
 * struct ember_plugin and EMBER_PLUGIN_HEADER.
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

/* ABI 1: magic, abi, name, init, route_init, handle, route_fini, fini */
struct ember_plugin_v1 {
    uint32_t    magic;
    uint32_t    abi;
    const char *name;
    int  (*init)(void **state, const struct ember_host *host,
                 const struct ember_conf_block *global, struct ember_error *err);
    int  (*route_init)(void *state, const struct ember_conf_block *conf,
                       void **route_state, struct ember_error *err);
    int  (*handle)(void *state, void *route_state, struct ember_exchange *ex);
    void (*route_fini)(void *state, void *route_state);
    void (*fini)(void *state);
};

EMBER_PLUGIN_EXPORT const struct ember_plugin_v1 ember_plugin_badabi = {
    .magic  = EMBER_PLUGIN_MAGIC,
    .abi    = 1,
    .name   = "badabi",
    .init   = badabi_init,
    .handle = badabi_handle,
};
