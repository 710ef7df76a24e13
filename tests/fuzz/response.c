/*
 * response.c - fuzz target: the response plugin's templates
 * (plugins/response): a route's `template '...'` compiled by its real
 * route_init, then rendered by its real handle from request values, claims
 * and a db result, through the core's host table.
 *
 * Input: byte 0 flags (bit 0: a `content_type`, bit 3: a `status`); the
 * template up to 0x00; the values of {{param.id}}, {{query.q}} and
 * {{header.x-h}} up to 0x00 each; ex->vars "result" (JSON) up to 0x00;
 * "claims" (JSON), the rest.
 * Oracles: ASan/UBSan; a template route_init accepted either renders JSON
 * that parses back, whatever the values (inside a string a value is
 * escaped, outside one it must have the placeholder's type), or is refused
 * 400 (the client's value) or 500 (a plugin's); a refused template is 500.
 */
#include "config.h"

#include "plugin.h"

extern const struct ember_plugin ember_plugin_response;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_plugin   p;
    static struct ember_pool *pool;
    struct fz                 f = { data, size };
    unsigned                  flags;
    char                     *tpl, *pv, *qv, *hv, *rj, *cj;
    const char               *a_tpl[1], *a_ct[1] = { "application/problem+json" };
    const char               *a_status[1] = { "201" };
    struct ember_conf_directive d[4];
    struct ember_conf_block   block;
    struct ember_error        err = { 0 };
    struct ember_request      req;
    struct ember_kv           param, query, header;
    struct fz_exchange        x;
    struct json_object       *claims, *result;
    void                     *rs = NULL;
    size_t                    nd = 0, clen;

    if (pool == NULL) {
        fz_quiet();
        pool = ember_pool_create();
        fz_plugin_setup(&p, &ember_plugin_response,
                        "plugin response {\n    header x-served-by ember\n}\n");
    }
    flags = fz_byte(&f);
    tpl = fz_until(&f, 0x00, NULL);
    pv = fz_until(&f, 0x00, NULL);
    qv = fz_until(&f, 0x00, NULL);
    hv = fz_until(&f, 0x00, NULL);
    rj = fz_until(&f, 0x00, NULL);
    cj = fz_rest(&f, &clen);

    memset(d, 0, sizeof(d));
    a_tpl[0] = tpl;
    d[nd++] = (struct ember_conf_directive) { "template", 1, a_tpl, "fuzz.conf", 2 };
    if (flags & 1)
        d[nd++] = (struct ember_conf_directive) { "content_type", 1, a_ct, "fuzz.conf", 3 };
    if (flags & 8)
        d[nd++] = (struct ember_conf_directive) { "status", 1, a_status, "fuzz.conf", 5 };
    block = (struct ember_conf_block) { "response", "fuzz.conf", 1, nd, d };

    if (ember_plugin_response.route_init(p.state, &block, &rs, &err) == EMBER_OK) {
        memset(&req, 0, sizeof(req));
        param = (struct ember_kv) { "id", pv };
        query = (struct ember_kv) { "q", qv };
        header = (struct ember_kv) { "x-h", hv };
        req.method = "GET";
        req.path = "/fuzz";
        req.raw_query = "";
        req.params = &param;
        req.nparams = 1;
        req.query = &query;
        req.nquery = 1;
        req.headers = &header;
        req.nheaders = 1;
        req.body = "";
        req.source = "v2";
        fz_exchange_init(&x, pool, &req);
        claims = json_tokener_parse(cj);
        if (claims != NULL)
            json_object_object_add(x.ex.vars, "claims", claims);
        result = json_tokener_parse(rj);
        if (result != NULL)
            json_object_object_add(x.ex.vars, "result", result);
        switch (ember_plugin_response.handle(p.state, rs, &x.ex)) {
        case EMBER_DONE:
            if (x.res.status < 100 || x.res.status > 599 || x.res.body == NULL)
                abort();
            fz_json_ok(x.res.body, x.res.body_len);
            break;
        case EMBER_ERROR:
            if (x.err.status != 400 && x.err.status != 500)
                abort();
            break;
        default:
            abort();
        }
        fz_exchange_done(&x);
        ember_plugin_response.route_fini(p.state, rs);
    } else if (err.status != 500) {
        abort();
    }
    ember_pool_reset(pool);
    free(tpl);
    free(pv);
    free(qv);
    free(hv);
    free(rj);
    free(cj);
    return 0;
}
