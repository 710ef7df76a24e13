/*
 * event.c - fuzz target: core/event.c's parser of the four event sources
 * (API Gateway v1 and v2, Function URL, ALB), then the response JSON for
 * the source it found, built from what it parsed (the request's headers
 * and cookies as response headers, its body echoed, text or binary).
 * Oracles: ASan/UBSan, and the response JSON must parse back.
 */
#include "config.h"

#include "event.h"
#include "fuzz.h"
#include "pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ember_pool *pool;
    struct ember_event        ev;
    struct ember_error        err;
    struct ember_response     res;
    struct ember_kv          *h;
    char                     *copy, *out;
    size_t                    i, n, outlen = 0;

    if (pool == NULL) {
        fz_quiet();
        pool = ember_pool_create();
    }
    /* the Runtime API reader hands the parser a NUL-terminated body */
    copy = malloc(size + 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    memset(&ev, 0, sizeof(ev));
    memset(&err, 0, sizeof(err));
    memset(&res, 0, sizeof(res));

    if (ember_event_parse(&ev, pool, copy, size, &err) == EMBER_OK) {
        /* a response that carries everything the request did */
        n = ev.req.nheaders + ev.req.ncookies + 1;
        h = ember_pool_calloc(pool, n * sizeof(*h));
        for (i = 0; i < ev.req.nheaders; i++)
            h[i] = ev.req.headers[i];
        for (i = 0; i < ev.req.ncookies; i++) {
            h[ev.req.nheaders + i].name = "set-cookie";
            h[ev.req.nheaders + i].value = ember_pool_sprintf(pool, "%s=%s",
                ev.req.cookies[i].name, ev.req.cookies[i].value);
        }
        h[n - 1].name = "content-type";
        h[n - 1].value = "application/json";
        res.status = 200 + (int) (ev.req.body_len % 400);
        res.headers = h;
        res.nheaders = n;
        res.body = ev.req.body;
        res.body_len = ev.req.body_len;
        res.binary = ev.req.body != NULL
                     && !ember_utf8_valid((const unsigned char *) ev.req.body, ev.req.body_len);
        out = ember_event_response(&ev, &res, pool, &outlen);
        fz_json_ok(out, outlen);
    } else if (ev.source != EMBER_SRC_NONE) {
        /* the 400 in the source's shape */
        res.status = err.status;
        res.body = "{\"message\":\"Bad Request\"}";
        res.body_len = strlen(res.body);
        out = ember_event_response(&ev, &res, pool, &outlen);
        fz_json_ok(out, outlen);
    }
    ember_pool_reset(pool);
    free(copy);
    return 0;
}
