/*
 * db.c - fuzz target: the db plugin's parameter binding (request -> the
 * text values of $1..$n) and its result -> JSON conversion, without a
 * server: a PGresult is what libpq hands over, and PQmakeEmptyPGresult,
 * PQsetResultAttrs and PQsetvalue build one of any shape (columns with
 * any type OID, rows of text values or NULLs), as a server's answer would
 * arrive.
 *
 * The plugin's sources are linked in: its hooks through ember_plugin_db,
 * binding and results through its own entry points (plugins/db/db.h:
 * ember_db_bind_values, ember_db_result).
 *
 * Input: byte 0 even: a result -- byte: `result many` or `one`;
 *   byte: columns (1..8); per column a byte picking the type OID (the
 *   types the plugin converts, and others) and its name up to 0x00; then
 *   per row (up to 8) per column a byte (0: NULL) and the text up to 0x01.
 * byte 0 odd: a request for the route with binds (see CONF) --
 *   path param, query value, header value up to 0x00 each, byte 0x01
 *   separated body (JSON), then the claims (JSON).
 * Oracles: ASan/UBSan; the rows' JSON (ex->vars "result") parses back, an
 * array of every row or the first row's object; every bound value is a C
 * string.
 */
#include "config.h"

#include "db.h"
#include "plugin.h"

extern const struct ember_plugin ember_plugin_db;

static const char CONF[] =
    "route POST /items/{id} {\n"
    "    db {\n"
    "        sql 'SELECT $1, $2, $3, $4, $5, $6, $7'\n"
    "        bind path:id query:q header:x-h body:name body:tags claim:sub claim:n\n"
    "    }\n"
    "}\n"
    "route GET /plain {\n"
    "    db {\n"
    "        sql 'SELECT $1::int, $2'\n"
    "        bind query:q claim:sub\n"
    "    }\n"
    "}\n"
    "route GET /rows {\n"
    "    db {\n"
    "        sql 'SELECT * FROM t'\n"
    "        result many\n"
    "    }\n"
    "}\n"
    "route GET /row {\n"
    "    db {\n"
    "        sql 'SELECT * FROM t LIMIT 1'\n"
    "        result one\n"
    "    }\n"
    "}\n";

enum { R_BIND, R_PLAIN, R_ROWS, R_ROW, NROUTES };

static const Oid oids[] = {
    OID_BOOL, OID_INT8, OID_INT2, OID_INT4, OID_OID, OID_JSON, OID_FLOAT4, OID_FLOAT8,
    OID_NUMERIC, OID_JSONB, 25 /* text */, 1043 /* varchar */, 17 /* bytea */,
    1114 /* timestamp */, 2950 /* uuid */, 0
};
#define NOIDS (sizeof(oids) / sizeof(oids[0]))

static void result(struct fz *f, struct fz_plugin *p, struct ember_pool *pool)
{
    struct ember_db      *db = p->state;
    struct ember_request  req;
    struct fz_exchange    x;
    struct json_object   *out;
    unsigned              which = fz_byte(f) % 2;
    PGresAttDesc        att[8];
    char               *names[8], *v;
    PGresult           *res;
    const char         *json;
    size_t              len;
    int                 ncols, nrows, row, col;

    ncols = (int) (fz_byte(f) % 8) + 1;
    memset(att, 0, sizeof(att));
    for (col = 0; col < ncols; col++) {
        att[col].typid = oids[fz_byte(f) % NOIDS];
        names[col] = fz_until(f, 0x00, NULL);
        att[col].name = names[col];
        att[col].format = 0;
        att[col].typlen = -1;
        att[col].atttypmod = -1;
    }
    res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    if (res == NULL || !PQsetResultAttrs(res, ncols, att))
        abort();
    for (row = 0; row < 8 && f->n > 0; row++)
        for (col = 0; col < ncols; col++) {
            if (fz_byte(f) == 0) {
                if (!PQsetvalue(res, row, col, NULL, -1))
                    abort();
                continue;
            }
            v = fz_until(f, 0x01, &len);
            if (!PQsetvalue(res, row, col, v, (int) len))
                abort();
            free(v);
        }
    nrows = PQntuples(res);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = "/rows";
    req.raw_query = "";
    req.source = "v2";
    fz_exchange_init(&x, pool, &req);
    if (ember_db_result(db, p->route_state[which ? R_ROW : R_ROWS], res, &x.ex) == EMBER_OK) {
        if (!json_object_object_get_ex(x.ex.vars, "result", &out) || out == NULL)
            abort();
        if (json_object_is_type(out, json_type_array) != !which
            || (!which && (int) json_object_array_length(out) != nrows))
            abort();
        json = json_object_to_json_string_length(out, JSON_C_TO_STRING_PLAIN
                                                      | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        fz_json_ok(json, len);
    } else if (!(which && nrows == 0 && x.err.status == 404)) {
        abort();                    /* only `result one` of no row fails */
    }
    fz_exchange_done(&x);
    PQclear(res);
    for (col = 0; col < ncols; col++)
        free(names[col]);
}

static void binding(struct fz *f, struct fz_plugin *p, struct ember_pool *pool)
{
    struct ember_db       *db = p->state;
    unsigned               which = fz_byte(f) % 2;
    struct ember_db_route *r = p->route_state[which];
    struct ember_request req;
    struct ember_kv      param, query, header;
    struct fz_exchange   x;
    struct json_object  *claims;
    const char          *vals[EMBER_DB_MAX_BINDS];
    char                *pv, *qv, *hv, *body, *cj;
    size_t               blen, clen;
    int                  i;

    pv = fz_until(f, 0x00, NULL);
    qv = fz_until(f, 0x00, NULL);
    hv = fz_until(f, 0x00, NULL);
    body = fz_until(f, 0x01, &blen);
    cj = fz_rest(f, &clen);

    memset(&req, 0, sizeof(req));
    param.name = "id";
    param.value = pv;
    query.name = "q";
    query.value = qv;
    header.name = "x-h";
    header.value = hv;
    req.method = which ? "GET" : "POST";
    req.path = "/items/x";
    req.raw_query = "";
    req.params = &param;
    req.nparams = 1;
    req.query = &query;
    req.nquery = 1;
    req.headers = &header;
    req.nheaders = 1;
    req.body = body;
    req.body_len = blen;
    req.source = "v2";
    fz_exchange_init(&x, pool, &req);
    claims = json_tokener_parse(cj);
    if (claims != NULL)
        json_object_object_add(x.ex.vars, "claims", claims);
    if (ember_db_bind_values(db, r, &x.ex, vals, &x.err) == EMBER_OK) {
        for (i = 0; i < r->nbinds; i++)
            if (vals[i] != NULL)
                (void) strlen(vals[i]);         /* ASan: a C string in the pool */
    } else if (x.err.status != 400) {
        abort();
    }
    fz_exchange_done(&x);
    free(pv);
    free(qv);
    free(hv);
    free(body);
    free(cj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_plugin   p;
    static struct ember_pool *pool;
    struct fz                 f = { data, size };

    if (pool == NULL) {
        fz_quiet();
        pool = ember_pool_create();
        fz_plugin_setup(&p, &ember_plugin_db, CONF);
        if (p.nroutes != NROUTES)
            abort();
    }
    if (fz_byte(&f) % 2 == 0)
        result(&f, &p, pool);
    else
        binding(&f, &p, pool);
    ember_pool_reset(pool);        /* runs the plugin's cleanups (the body's JSON) */
    return 0;
}
