/*
 * needsgone - a test-only plugin that needs a library the dynamic linker
 * cannot find (libember-test-gone.so): dlopen() fails although the plugin's
 * own file is there, and the loader must say which library is missing and
 * what to check ("ldd", the ZIP's lib/), not that the plugin is missing.
 */
#include <ember/plugin.h>

int ember_test_gone(void);

static int needsgone_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    return ember_test_gone() == 42 ? EMBER_CONTINUE : EMBER_ERROR;
}

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_needsgone = {
    EMBER_PLUGIN_HEADER,
    .name   = "needsgone",
    .handle = needsgone_handle,
};
