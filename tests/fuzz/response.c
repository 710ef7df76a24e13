/*
 * response.c - fuzz target: the response plugin's templates and CORS
 * (plugins/response): a route's `template '...'` compiled by its real
 * route_init, then rendered by its real handle from request values and
 * claims, through the core's host table.
 *
 * Input: byte 0 flags (bit 0: CORS on, bit 1: credentials, bit 2: a
 * preflight OPTIONS request, bit 3: a `status` directive); the template up
 * to 0x00; the values of {{param.id}}, {{query.q}}, {{header.x-h}} and the
 * Origin header up to 0x00 each; the claims JSON.
 * Oracles: ASan/UBSan; a template whose placeholders all stand inside JSON
 * strings renders to JSON that parses back, whatever the values.
 */
#include "config.h"

#include "plugin.h"

extern const struct ember_plugin ember_plugin_response;

/* 1 if every {{...}} of t stands inside a JSON string. */
static int placeholders_quoted(const char *t)
{
    int in_str = 0;

    while (*t) {
        if (t[0] == '{' && t[1] == '{') {
            const char *close = strstr(t + 2, "}}");

            if (!in_str)
                return 0;
            if (close == NULL)
                return 1;
            t = close + 2;
            continue;
        }
        if (in_str && *t == '\\' && t[1] != '\0') {
            t += 2;
            continue;
        }
        if (*t == '"')
            in_str = !in_str;
        t++;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_plugin   p;
    static struct ember_pool *pool;
    struct fz                 f = { data, size };
    unsigned                  flags;
    char                     *tpl, *pv, *qv, *hv, *origin, *cj;
    const char               *a_tpl[1], *a_origins[2] = { "https://a.example", "*" };
    const char               *a_on[1] = { "on" }, *a_status[1] = { "201" };
    struct ember_conf_directive d[4];
    struct ember_conf_block   block;
    struct ember_error        err = { 0 };
    struct ember_request      req;
    struct ember_kv           param, query, headers[3];
    struct fz_exchange        x;
    struct json_object       *claims;
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
    origin = fz_until(&f, 0x00, NULL);
    cj = fz_rest(&f, &clen);

    memset(d, 0, sizeof(d));
    a_tpl[0] = tpl;
    d[nd++] = (struct ember_conf_directive) { "template", 1, a_tpl, "fuzz.conf", 2 };
    if (flags & 1)
        d[nd++] = (struct ember_conf_directive) { "cors_origins", 2, a_origins, "fuzz.conf", 3 };
    if (flags & 2)
        d[nd++] = (struct ember_conf_directive) { "cors_credentials", 1, a_on, "fuzz.conf", 4 };
    if (flags & 8)
        d[nd++] = (struct ember_conf_directive) { "status", 1, a_status, "fuzz.conf", 5 };
    block = (struct ember_conf_block) { "response", "fuzz.conf", 1, nd, d };

    if (ember_plugin_response.route_init(p.state, &block, &rs, &err) == EMBER_OK) {
        memset(&req, 0, sizeof(req));
        param = (struct ember_kv) { "id", pv };
        query = (struct ember_kv) { "q", qv };
        headers[0] = (struct ember_kv) { "x-h", hv };
        headers[1] = (struct ember_kv) { "origin", origin };
        headers[2] = (struct ember_kv) { "access-control-request-method", "PUT" };
        req.method = flags & 4 ? "OPTIONS" : "GET";
        req.path = "/fuzz";
        req.raw_query = "";
        req.params = &param;
        req.nparams = 1;
        req.query = &query;
        req.nquery = 1;
        req.headers = headers;
        req.nheaders = flags & 4 ? 3 : 2;
        req.body = "";
        req.source = "v2";
        fz_exchange_init(&x, pool, &req);
        claims = json_tokener_parse(cj);
        if (claims != NULL)
            json_object_object_add(x.ex.vars, "claims", claims);
        if (ember_plugin_response.handle(p.state, rs, &x.ex) != EMBER_DONE)
            abort();
        if (x.res.status < 100 || x.res.status > 599)
            abort();
        if (x.res.body != NULL && x.res.body_len > 0 && placeholders_quoted(tpl))
            fz_json_ok(x.res.body, x.res.body_len);
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
    free(origin);
    free(cj);
    return 0;
}
