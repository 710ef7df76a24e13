/*
 * conf.c - fuzz target: what `bootstrap -t FILE` does past reading the
 * file: core/conf.c parses and validates the whole config (every plugin
 * directive against the built plugins' schemas), then core/router.c builds
 * the route table.  Oracles: ASan/UBSan; a failure reports at least one
 * "file:line: message" line, a success none.
 */
#include "config.h"

#include "buf.h"
#include "conf.h"
#include "fuzz.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ember_conf   *conf = NULL;
    struct ember_router *r = NULL;
    struct ember_buf     errs = EMBER_BUF_INIT;
    int                  rc;

    fz_quiet();
    rc = ember_conf_parse(&conf, "fuzz.conf", (const char *) data, size, &errs);
    if (rc == EMBER_OK) {
        if (conf == NULL || errs.len != 0)
            abort();
        if (ember_router_build(&r, conf, &errs) == EMBER_OK)
            ember_router_free(r);
        else if (errs.len == 0)
            abort();
        ember_conf_free(conf);
    } else if (conf != NULL || errs.len == 0 || strncmp(errs.data, "fuzz.conf", 9) != 0) {
        abort();
    }
    ember_buf_free(&errs);
    return 0;
}
