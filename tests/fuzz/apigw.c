/*
 * apigw.c - fuzz target: ember-local's HTTP -> event conversion
 * (emu/apigw.c, as emu/local/front.c calls it for each request), the
 * event then read back by core/event.c as bootstrap would; and the other
 * way, a function's response JSON -> HTTP.
 *
 * Input: byte 0: bit 7 picks the direction; the low bits the format (v1,
 * v2, url, alb, alb with multi-value headers).
 *   request:  METHOD\n PATH\n QUERY\n then "Name: value\n" header lines up
 *             to an empty line, then the body (binary unless a text
 *             Content-Type and valid UTF-8, as front.c decides).
 *   response: the function's response JSON.
 * Oracles: ASan/UBSan; the event is JSON of the format asked for, and when
 * bootstrap's parser accepts it, method and body arrive intact.
 */
#include "config.h"

#include <strings.h>

#include "apigw.h"
#include "event.h"
#include "fuzz.h"
#include "pool.h"

#define MAX_HEADERS 64

static const enum ember_apigw_format formats[] = {
    EMBER_APIGW_V1, EMBER_APIGW_V2, EMBER_APIGW_URL, EMBER_APIGW_ALB, EMBER_APIGW_ALB
};
static const enum ember_source sources[] = {
    EMBER_SRC_V1, EMBER_SRC_V2, EMBER_SRC_URL, EMBER_SRC_ALB, EMBER_SRC_ALB
};

static void request(struct fz *f, unsigned which, struct ember_pool *pool)
{
    struct ember_apigw_request ar;
    struct ember_kv            h[MAX_HEADERS];
    char                      *hl[MAX_HEADERS];
    char                      *method, *path, *query, *body, *colon;
    const char                *json, *ctype = NULL;
    size_t                     nh = 0, i, body_len, len;
    struct json_object        *event;
    struct ember_event         ev;
    struct ember_error         err;

    method = fz_until(f, '\n', NULL);
    path = fz_until(f, '\n', NULL);
    query = fz_until(f, '\n', NULL);
    while (nh < MAX_HEADERS) {
        hl[nh] = fz_until(f, '\n', &len);
        if (len == 0) {
            free(hl[nh]);
            break;
        }
        colon = strchr(hl[nh], ':');
        h[nh].name = hl[nh];
        h[nh].value = "";
        if (colon != NULL) {
            *colon = '\0';
            h[nh].value = colon + 1 + (colon[1] == ' ');
        }
        if (strcasecmp(h[nh].name, "content-type") == 0)
            ctype = h[nh].value;
        nh++;
    }
    body = fz_rest(f, &body_len);

    memset(&ar, 0, sizeof(ar));
    ar.method = method[0] ? method : "GET";
    ar.path = path;
    ar.raw_query = query;
    ar.headers = h;
    ar.nheaders = nh;
    if (body_len > 0) {
        ar.body = body;
        ar.body_len = body_len;
        ar.binary = !ember_apigw_is_text(ctype)
                    || !ember_utf8_valid((const unsigned char *) body, body_len);
    }
    ar.source_ip = "127.0.0.1";
    ar.time_ms = 1700000000000;
    ar.request_id = "fuzz-request";
    ar.multi_value = which == 4;
    event = ember_apigw_event(formats[which], &ar);
    if (event == NULL || ember_apigw_detect(event, NULL) != formats[which])
        abort();
    json = json_object_to_json_string_length(event, JSON_C_TO_STRING_PLAIN, &len);
    fz_json_ok(json, len);

    memset(&err, 0, sizeof(err));
    if (ember_event_parse(&ev, pool, json, len, &err) == EMBER_OK) {
        if (ev.source != sources[which] || ev.req.body_len != body_len
            || (body_len && memcmp(ev.req.body, body, body_len) != 0))
            abort();
    } else if (ev.source != sources[which]) {
        abort();        /* refused, but in the shape of its source */
    }
    json_object_put(event);
    for (i = 0; i < nh; i++)
        free(hl[i]);
    free(method);
    free(path);
    free(query);
    free(body);
}

static void response(struct fz *f, unsigned which)
{
    struct ember_apigw_response res;
    struct ember_error          err;
    char                       *json;
    size_t                      len;

    json = fz_rest(f, &len);
    memset(&res, 0, sizeof(res));
    memset(&err, 0, sizeof(err));
    if (ember_apigw_response(formats[which], which == 4, json, len, &res, &err) == EMBER_OK) {
        if (res.body == NULL || res.status < 100 || res.status > 999)
            abort();
        ember_apigw_response_header(&res, "content-type");
        ember_apigw_response_clear(&res);
    } else if (err.status != 502) {
        abort();
    }
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ember_pool *pool;
    struct fz                 f = { data, size };
    unsigned                  b;

    if (pool == NULL) {
        fz_quiet();
        pool = ember_pool_create();
    }
    b = fz_byte(&f);
    if (b & 0x80)
        response(&f, (b & 0x7f) % 5);
    else
        request(&f, b % 5, pool);
    ember_pool_reset(pool);
    return 0;
}
