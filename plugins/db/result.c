/*
 * result.c - a statement's rows as typed JSON for the response plugin:
 * int2/4/8, oid -> integers; float4/8 -> numbers; numeric -> exact
 * canonical numbers (1.50 -> 1.5); bool; json/jsonb embedded; NULL ->
 * null; NaN/Infinity and everything else -> strings.  `result one|many|none`
 * picks the shape and the status.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "json-strict.h"

/* ---------------------------------------------------------------- results */

/* Is s a JSON number (RFC 8259), fit to be sent as written?  PostgreSQL's
   own output always is; "08", "1.", ".5", "+1", " 1", "0x1p3" are not. */
static int is_json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        s += strspn(s, "0123456789");
    else
        return 0;
    if (*s == '.') {
        if (s[1] < '0' || s[1] > '9')
            return 0;
        s += 1 + strspn(s + 1, "0123456789");
    }
    if (*s == 'e' || *s == 'E') {
        s += 1 + (s[1] == '+' || s[1] == '-');
        if (*s < '0' || *s > '9')
            return 0;
        s += strspn(s, "0123456789");
    }
    return *s == '\0';
}

/*
 * A numeric's text as a JSON number, exact but canonical: trailing zeros
 * of the fraction dropped ("1.50" -> 1.5, "7.00" -> 7), integers that fit
 * int64 as integers, others keeping their digits.  NaN and infinities are
 * not JSON numbers: strings.  Returns a new object (caller owns).
 */
static struct json_object *numeric_json(const char *v, int len)
{
    char               *s = ember_pu_xstrndup(v, (size_t) len);
    char               *dot, *e, *end;
    struct json_object *o;
    long long           ll;
    double              d;

    if (strspn(s + (s[0] == '-'), "0123456789.") != strlen(s + (s[0] == '-'))
        || s[s[0] == '-'] == '\0') {
        o = json_object_new_string(s);           /* NaN, Infinity, -Infinity */
        free(s);
        return o;
    }
    dot = strchr(s, '.');
    if (dot != NULL) {
        e = s + strlen(s);
        while (e > dot + 1 && e[-1] == '0')
            *--e = '\0';
        if (e == dot + 1)
            *dot = '\0';
    }
    if (strcmp(s, "-0") == 0)
        strcpy(s, "0");
    if (!is_json_number(s)) {                   /* not PostgreSQL's: as it came */
        free(s);
        return json_object_new_string_len(v, len);
    }
    if (strchr(s, '.') == NULL) {
        errno = 0;
        ll = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0') {
            free(s);
            return json_object_new_int64(ll);
        }
    }
    d = strtod(s, NULL);
    o = json_object_new_double_s(d, s);
    free(s);
    return o;
}

/* One field as JSON by its column's type; NULL is JSON null. Caller owns. */
static struct json_object *field_json(const PGresult *res, int row, int col)
{
    const char         *v;
    int                 len;
    char               *end;
    long long           ll;
    double              d;
    struct json_object *o;

    if (PQgetisnull(res, row, col))
        return NULL;
    v = PQgetvalue(res, row, col);
    len = PQgetlength(res, row, col);
    switch (PQftype(res, col)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        errno = 0;
        ll = strtoll(v, &end, 10);
        if (errno == 0 && *end == '\0' && end != v)
            return json_object_new_int64(ll);
        break;
    case OID_FLOAT4:
    case OID_FLOAT8:
        d = strtod(v, &end);
        if (*end == '\0' && end != v && isfinite(d) && is_json_number(v))
            return json_object_new_double_s(d, v);
        break;                                   /* NaN, Infinity: strings */
    case OID_NUMERIC:
        return numeric_json(v, len);
    case OID_BOOL:
        return json_object_new_boolean(v[0] == 't');
    case OID_JSON:
    case OID_JSONB: {
        const char *why;
        size_t      at;

        if (ember_json_parse(NULL, v, len, &o, &at, &why) == 0)
            return o;                            /* NULL for a json null */
        break;
    }
    default:
        break;
    }
    return json_object_new_string_len(v, len);
}

/* Row `row` as an object keyed by column name. Caller owns. */
static struct json_object *row_json(const PGresult *res, int row)
{
    struct json_object *o = json_object_new_object();
    int                 col, ncols = PQnfields(res);

    for (col = 0; col < ncols; col++)
        json_object_object_add(o, PQfname(res, col), field_json(res, row, col));
    return o;
}

int ember_db_result(struct ember_db *db, struct ember_db_route *r, const PGresult *res,
                    struct ember_exchange *ex)
{
    const struct ember_host *host = db->host;
    struct json_object      *out;
    int                      rows, status;

    rows = PQntuples(res);
    switch (r->result) {
    case EMBER_DB_RESULT_ONE:
        if (rows == 0)
            return host->fail(ex->err, 404, "db: no row");
        out = row_json(res, 0);
        status = r->status ? r->status : 200;
        break;
    case EMBER_DB_RESULT_AUTO:
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            out = NULL;
            status = r->status ? r->status : 204;
            break;
        }
        /* fall through */
    case EMBER_DB_RESULT_MANY: {
        int i;

        out = json_object_new_array_ext(rows);
        for (i = 0; i < rows; i++)
            json_object_array_add(out, row_json(res, i));
        status = r->status ? r->status : 200;
        break;
    }
    case EMBER_DB_RESULT_NONE:
    default:
        out = NULL;
        status = r->status ? r->status : 204;
        break;
    }
    if (out != NULL)
        json_object_object_add(ex->vars, "result", out);   /* transfers out */
    host->set_status(ex, status);
    return EMBER_CONTINUE;
}
