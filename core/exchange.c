/*
 * exchange.c - one request through its route's plugin chain, and the host
 * table (include/ember/plugin.h) through which plugins call the core.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "conf.h"
#include "error.h"
#include "exchange.h"
#include "journey.h"
#include "log.h"

static struct ember_pool *pool_of(const struct ember_exchange *ex)
{
    return ((const struct ember_exchange_core *) ex->core)->pool;
}

/* ---------------------------------------------------------------- host: basics */

static void host_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void host_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_vlog(level, fmt, ap);
    va_end(ap);
}

static int host_fail(struct ember_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int host_fail(struct ember_error *err, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_vfail(err, status, fmt, ap);
    va_end(ap);
    return EMBER_ERROR;
}

static void *host_palloc(struct ember_exchange *ex, size_t n)
{
    return ember_pool_alloc(pool_of(ex), n);
}

/* Like strndup: stops at a NUL before n. */
static char *host_pstrndup(struct ember_exchange *ex, const char *s, size_t n)
{
    return ember_pool_strndup(pool_of(ex), s, strnlen(s, n));
}

static char *host_psprintf(struct ember_exchange *ex, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *host_psprintf(struct ember_exchange *ex, const char *fmt, ...)
{
    va_list ap;
    char   *s;

    va_start(ap, fmt);
    s = ember_pool_vsprintf(pool_of(ex), fmt, ap);
    va_end(ap);
    return s;
}

static void host_cleanup_add(struct ember_exchange *ex, void (*fn)(void *), void *data)
{
    ember_pool_cleanup_add(pool_of(ex), fn, data);
}

/* ---------------------------------------------------------------- host: lookups */

static const char *kv_find(const struct ember_kv *kv, size_t n, const char *name, int nocase)
{
    size_t i;

    if (kv == NULL || name == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (kv[i].name == NULL)
            continue;
        if (nocase ? strcasecmp(kv[i].name, name) == 0 : strcmp(kv[i].name, name) == 0)
            return kv[i].value;
    }
    return NULL;
}

static const char *host_header(const struct ember_exchange *ex, const char *name)
{
    return kv_find(ex->req->headers, ex->req->nheaders, name, 1);
}

static const char *host_query(const struct ember_exchange *ex, const char *name)
{
    return kv_find(ex->req->query, ex->req->nquery, name, 0);
}

static const char *host_param(const struct ember_exchange *ex, const char *name)
{
    return kv_find(ex->req->params, ex->req->nparams, name, 0);
}

static const char *host_cookie(const struct ember_exchange *ex, const char *name)
{
    return kv_find(ex->req->cookies, ex->req->ncookies, name, 0);
}

/* ---------------------------------------------------------------- host: response */

static void host_set_status(struct ember_exchange *ex, int status)
{
    ex->res->status = status;
}

static char *lower_dup(struct ember_pool *pool, const char *s)
{
    char  *d = ember_pool_strdup(pool, s);
    char  *c;

    for (c = d; *c != '\0'; c++)
        *c = (char) tolower((unsigned char) *c);
    return d;
}

/* The response's headers are a pool array without spare room: each add
   copies it (a response has a handful). */
static void host_add_header(struct ember_exchange *ex, const char *name, const char *value)
{
    struct ember_pool     *pool = pool_of(ex);
    struct ember_response *res = ex->res;
    struct ember_kv       *h;

    h = ember_pool_alloc(pool, (res->nheaders + 1) * sizeof(*h));
    if (res->nheaders > 0)
        memcpy(h, res->headers, res->nheaders * sizeof(*h));
    h[res->nheaders].name = lower_dup(pool, name);
    h[res->nheaders].value = ember_pool_strdup(pool, value != NULL ? value : "");
    res->headers = h;
    res->nheaders++;
}

static void host_set_header(struct ember_exchange *ex, const char *name, const char *value)
{
    struct ember_response *res = ex->res;
    size_t                 i, kept = 0;

    for (i = 0; i < res->nheaders; i++)
        if (res->headers[i].name == NULL || strcasecmp(res->headers[i].name, name) != 0)
            res->headers[kept++] = res->headers[i];
    res->nheaders = kept;
    host_add_header(ex, name, value);
}

static void host_set_body(struct ember_exchange *ex, const char *body, size_t len, int binary)
{
    struct ember_response *res = ex->res;

    if (body == NULL)
        len = 0;
    res->body = ember_pool_strndup(pool_of(ex), len ? body : "", len);
    res->body_len = len;
    res->binary = binary != 0;
}

/* ---------------------------------------------------------------- host: the rest */

static int64_t host_remaining_ms(const struct ember_exchange *ex)
{
    struct timespec ts;
    int64_t         now, left;

    if (ex->req == NULL || ex->req->deadline_ms == 0)
        return INT64_MAX;
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    left = ex->req->deadline_ms - now;
    return left > 0 ? left : 0;
}

/* A phase of the cold-start journey ended (journey.h); returns at once when warm. */
static void host_mark(struct ember_exchange *ex, const char *phase)
{
    ember_journey_mark(phase);
}

const struct ember_host ember_host = {
    .abi         = EMBER_PLUGIN_ABI,
    .log         = host_log,
    .fail        = host_fail,
    .palloc      = host_palloc,
    .pstrndup    = host_pstrndup,
    .psprintf    = host_psprintf,
    .cleanup_add = host_cleanup_add,
    .header      = host_header,
    .query       = host_query,
    .param       = host_param,
    .cookie      = host_cookie,
    .set_status  = host_set_status,
    .add_header  = host_add_header,
    .set_header  = host_set_header,
    .set_body    = host_set_body,
    .conf_find   = ember_conf_find,
    .remaining_ms = host_remaining_ms,
    .mark        = host_mark,
};

/* ---------------------------------------------------------------- the chain */

int ember_exchange_run(struct ember_exchange *ex, struct ember_route *route,
                       struct ember_plugins *ps)
{
    const struct ember_route_info *ri = &route->info;
    struct ember_error            *err = ex->err;
    size_t                         i;

    ember_error_clear(err);
    for (i = 0; i < route->nsteps; i++) {
        struct ember_step         *step = &route->steps[i];
        const struct ember_plugin *p;
        struct ember_plugin_slot  *slot;
        int                        rc;

        if (step->slot == NULL)
            step->slot = ember_plugins_find(ps, step->plugin);
        slot = step->slot;
        if (slot == NULL)
            return ember_fail(err, 500, "route %s %s: plugin \"%s\" has no slot",
                              ri->method, ri->path_template, step->plugin);
        if (ember_plugin_load(ps, slot, err) != EMBER_OK) {
            err->status = 500;
            err->public_message = NULL;
            return EMBER_ERROR;
        }
        p = slot->plugin;

        if (!step->ready) {
            if (p->route_init != NULL) {
                struct ember_error perr;
                void              *route_state = NULL;

                ember_error_clear(&perr);
                if (p->route_init(slot->state, step->conf, &route_state, &perr) != EMBER_OK)
                    return ember_fail(err, 500, "route %s %s: plugin \"%s\": route_init "
                                      "failed: %s", ri->method, ri->path_template,
                                      step->plugin,
                                      perr.message[0] ? perr.message : "(no message)");
                step->route_state = route_state;
            }
            step->ready = 1;
        }

        rc = p->handle(slot->state, step->route_state, ex);
        ember_journey_mark(step->plugin);
        if (rc == EMBER_CONTINUE)
            continue;
        if (rc == EMBER_DONE) {
            if (ex->res->status == 0)
                return ember_fail(err, 500, "route %s %s: plugin \"%s\" answered without "
                                  "a status", ri->method, ri->path_template, step->plugin);
            return EMBER_OK;
        }
        if (rc != EMBER_ERROR)
            return ember_fail(err, 500, "route %s %s: plugin \"%s\": handle returned %d",
                              ri->method, ri->path_template, step->plugin, rc);
        if (err->status == 0)
            err->status = 500;
        if (err->message[0] == '\0')
            ember_fail(err, err->status, "route %s %s: plugin \"%s\" failed without a message",
                       ri->method, ri->path_template, step->plugin);
        return EMBER_ERROR;
    }
    if (ex->res->status == 0)
        return ember_fail(err, 500, "route %s %s: no plugin answered",
                          ri->method, ri->path_template);
    return EMBER_OK;
}

void ember_exchange_route_fini(struct ember_route *route)
{
    size_t i;

    for (i = 0; i < route->nsteps; i++) {
        struct ember_step        *step = &route->steps[i];
        struct ember_plugin_slot *slot = step->slot;

        if (step->ready && slot != NULL && slot->plugin != NULL
            && slot->plugin->route_fini != NULL)
            slot->plugin->route_fini(slot->state, step->route_state);
        step->route_state = NULL;
        step->ready = 0;
    }
}

void ember_exchange_error_response(struct ember_exchange *ex, const struct ember_error *err)
{
    struct json_object *o = json_object_new_object();
    int                 status = err->status > 0 ? err->status : 500;
    const char         *msg = err->public_message != NULL ? err->public_message
                                                          : ember_reason_phrase(status);
    const char         *s;
    size_t              len;

    json_object_object_add(o, "message", json_object_new_string(msg));
    s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN
                                             | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    host_set_status(ex, status);
    host_set_header(ex, "content-type", "application/json");
    host_set_body(ex, s, len, 0);
    json_object_put(o);
}
