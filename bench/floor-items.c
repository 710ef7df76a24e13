/*
 * floor-items.c - the floor of /items/{id}: the workload of the benchmark
 * with nothing but what it needs.  libc, one kept-alive socket to the
 * Runtime API (numeric IPv4 "a.b.c.d:port"), HS256 by nettle's HMAC
 * (linked statically), one PostgreSQL row by libpq (static and minimal when
 * configure found one; see bench/README.md).  No dlopen, no JSON parser, no
 * allocation of its own.
 *
 * GET /items/{id} with "authorization":"Bearer <JWT>" (HS256, JWT_SECRET,
 * exp required) else 401; SELECT id, name, price FROM items WHERE id = $1
 * on DATABASE_URL (connected at the first request, statement prepared once,
 * both kept); 404 without a row, else 200 {"id":1,"name":"water","price":1.5}.
 * Anything else: 404.
 */
#define _GNU_SOURCE     /* memmem, strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>

#define API "/2018-06-01/runtime/invocation/"

static char in[1 << 20];        /* what the Runtime API sent, not yet consumed */
static size_t inlen;
static char out[8192];          /* the request being written */

static PGconn *db;

static void die(const char *msg)
{
    ssize_t w = write(2, msg, strlen(msg));

    (void) w;
    _exit(1);
}

static void send_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("floor-items: send failed\n");
        p += w;
        n -= (size_t) w;
    }
}

/* Reads one HTTP response (head + Content-Length body) into in[]; returns the
   head's length (including the blank line) and sets *body, *blen. */
static size_t read_reply(int fd, const char **body, size_t *blen)
{
    char   *end, *cl;
    size_t  head = 0, need;
    ssize_t r;

    for (;;) {
        if (head == 0) {
            in[inlen] = '\0';
            end = strstr(in, "\r\n\r\n");
            if (end != NULL) {
                head = (size_t) (end - in) + 4;
                cl = strcasestr(in, "\r\nContent-Length:");
                *blen = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            }
        }
        if (head != 0) {
            need = head + *blen;
            if (need >= sizeof(in))
                die("floor-items: reply too large\n");
            if (inlen >= need)
                break;
        }
        if (inlen + 1 >= sizeof(in))
            die("floor-items: reply too large\n");
        r = recv(fd, in + inlen, sizeof(in) - 1 - inlen, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("floor-items: connection closed\n");
        inlen += (size_t) r;
    }
    *body = in + head;
    return head;
}

static void consume(size_t n)
{
    memmove(in, in + n, inlen - n);
    inlen -= n;
}

/* ---------------------------------------------------------------- HS256 */

static int b64url_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes base64url (no padding) of n chars into d (room for cap); length or -1. */
static long b64url_decode(const char *s, size_t n, unsigned char *d, size_t cap)
{
    unsigned int acc = 0;
    size_t       i, len = 0;
    int          bits = 0, v;

    for (i = 0; i < n; i++) {
        v = b64url_val((unsigned char) s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (unsigned int) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len == cap)
                return -1;
            d[len++] = (unsigned char) (acc >> bits);
        }
    }
    return (long) len;
}

/* 1 when tok[0..n) is an HS256 JWT signed with secret and not expired. */
static int token_ok(const char *tok, size_t n, const char *secret)
{
    struct hmac_sha256_ctx ctx;
    unsigned char          mac[SHA256_DIGEST_SIZE], sig[64], part[1024];
    const char            *d1 = memchr(tok, '.', n), *d2, *e;
    long                   len;

    if (d1 == NULL)
        return 0;
    d2 = memchr(d1 + 1, '.', (size_t) (tok + n - d1 - 1));
    if (d2 == NULL)
        return 0;
    len = b64url_decode(tok, (size_t) (d1 - tok), part, sizeof(part) - 1);
    if (len < 0)
        return 0;
    part[len] = '\0';
    if (strstr((char *) part, "\"alg\":\"HS256\"") == NULL)
        return 0;
    hmac_sha256_set_key(&ctx, strlen(secret), (const uint8_t *) secret);
    hmac_sha256_update(&ctx, (size_t) (d2 - tok), (const uint8_t *) tok);
    hmac_sha256_digest(&ctx, sizeof(mac), mac);
    len = b64url_decode(d2 + 1, (size_t) (tok + n - d2 - 1), sig, sizeof(sig));
    if (len != (long) sizeof(mac) || !memeql_sec(mac, sig, sizeof(mac)))
        return 0;
    len = b64url_decode(d1 + 1, (size_t) (d2 - d1 - 1), part, sizeof(part) - 1);
    if (len < 0)
        return 0;
    part[len] = '\0';
    e = strstr((char *) part, "\"exp\":");
    return e != NULL && strtoll(e + 6, NULL, 10) > (long long) time(NULL);
}

/* ---------------------------------------------------------------- the row */

static size_t put(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return n;
}

/* s as the inside of a JSON string inside a JSON string (\" -> \\\"). */
static size_t put_twice_escaped(char *p, const char *s, size_t room)
{
    size_t n = 0;

    for (; *s != '\0' && n + 4 < room; s++) {
        if (*s == '"' || *s == '\\') {
            p[n++] = '\\';
            p[n++] = '\\';
            p[n++] = '\\';
        }
        p[n++] = *s;
    }
    return n;
}

/* The response's JSON for id: status 200 with the row, 404, or 500. */
static size_t lookup(char *res, size_t room, const char *id, size_t idlen)
{
    static const char nf[] = "{\"statusCode\":404,\"headers\":{\"content-type\":"
                             "\"application/json\"},\"body\":\"{\\\"message\\\":"
                             "\\\"Not Found\\\"}\"}";
    static const char err[] = "{\"statusCode\":500,\"headers\":{\"content-type\":"
                              "\"application/json\"},\"body\":\"{\\\"message\\\":"
                              "\\\"Internal Server Error\\\"}\"}";
    char        idz[24];
    const char *params[1];
    PGresult   *r;
    size_t      n = 0;
    size_t      i;

    if (idlen == 0 || idlen >= sizeof(idz))
        return put(res, nf);
    for (i = 0; i < idlen; i++)
        if (id[i] < '0' || id[i] > '9')
            return put(res, nf);
    memcpy(idz, id, idlen);
    idz[idlen] = '\0';
    if (db == NULL || PQstatus(db) != CONNECTION_OK) {
        const char *url = getenv("DATABASE_URL");

        if (db != NULL)
            PQfinish(db);
        db = PQconnectdb(url != NULL ? url : "");
        if (PQstatus(db) != CONNECTION_OK)
            return put(res, err);
        r = PQprepare(db, "item", "SELECT id, name, price FROM items WHERE id = $1", 1, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            PQclear(r);
            return put(res, err);
        }
        PQclear(r);
    }
    params[0] = idz;
    r = PQexecPrepared(db, "item", 1, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return put(res, err);
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return put(res, nf);
    }
    n += put(res + n, "{\"statusCode\":200,\"headers\":{\"content-type\":\"application/json\"},"
                      "\"body\":\"{\\\"id\\\":");
    n += put(res + n, PQgetvalue(r, 0, 0));
    n += put(res + n, ",\\\"name\\\":\\\"");
    n += put_twice_escaped(res + n, PQgetvalue(r, 0, 1), room - n - 200);
    n += put(res + n, "\\\",\\\"price\\\":");
    n += put(res + n, PQgetvalue(r, 0, 2));
    n += put(res + n, "}\"}");
    PQclear(r);
    return n;
}

/* The response's JSON for one event (body[0..blen)). */
static size_t handle(char *res, size_t room, const char *body, size_t blen, const char *secret)
{
    static const char nf[] = "{\"statusCode\":404,\"headers\":{\"content-type\":"
                             "\"application/json\"},\"body\":\"{\\\"message\\\":"
                             "\\\"Not Found\\\"}\"}";
    static const char unauth[] = "{\"statusCode\":401,\"headers\":{\"content-type\":"
                                 "\"application/json\"},\"body\":\"{\\\"message\\\":"
                                 "\\\"Unauthorized\\\"}\"}";
    const char *lim = body + blen, *path, *pend, *auth, *aend;

    path = memmem(body, blen, "\"rawPath\":\"/items/", 18);
    if (path == NULL)
        return put(res, nf);
    path += 18;
    pend = memchr(path, '"', (size_t) (lim - path));
    if (pend == NULL)
        return put(res, nf);
    auth = memmem(body, blen, "\"authorization\":\"Bearer ", 24);
    if (auth == NULL || secret == NULL)
        return put(res, unauth);
    auth += 24;
    aend = memchr(auth, '"', (size_t) (lim - auth));
    if (aend == NULL || !token_ok(auth, (size_t) (aend - auth), secret))
        return put(res, unauth);
    return lookup(res, room, path, (size_t) (pend - path));
}

static size_t put_num(char *p, size_t v)
{
    char   tmp[24];
    size_t n = 0, i;

    do
        tmp[n++] = (char) ('0' + v % 10);
    while ((v /= 10) > 0);
    for (i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

int main(void)
{
    static const char  next[] = "GET " API "next HTTP/1.1\r\nHost: api\r\n\r\n";
    static char        res[4096];
    const char        *api = getenv("AWS_LAMBDA_RUNTIME_API"), *secret = getenv("JWT_SECRET");
    const char        *colon, *body, *id, *idend;
    struct sockaddr_in sa;
    char               host[64];
    size_t             head, blen, n, rlen;
    int                fd, one = 1;

    if (api == NULL || (colon = strchr(api, ':')) == NULL || (size_t) (colon - api) >= sizeof(host))
        die("floor-items: AWS_LAMBDA_RUNTIME_API must be a.b.c.d:port\n");
    memcpy(host, api, (size_t) (colon - api));
    host[colon - api] = '\0';
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die("floor-items: AWS_LAMBDA_RUNTIME_API must be a.b.c.d:port\n");
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
        die("floor-items: cannot connect to the Runtime API\n");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    for (;;) {
        send_all(fd, next, sizeof(next) - 1);
        head = read_reply(fd, &body, &blen);
        id = strcasestr(in, "\r\nLambda-Runtime-Aws-Request-Id:");
        if (id == NULL || id > in + head)
            die("floor-items: no request id\n");
        id += 32;
        while (*id == ' ')
            id++;
        idend = strstr(id, "\r\n");
        if (idend == NULL || idend - id > 200)
            die("floor-items: bad request id\n");
        rlen = handle(res, sizeof(res), body, blen, secret);

        n = put(out, "POST " API);
        memcpy(out + n, id, (size_t) (idend - id));
        n += (size_t) (idend - id);
        n += put(out + n, "/response HTTP/1.1\r\nHost: api\r\nContent-Length: ");
        n += put_num(out + n, rlen);
        n += put(out + n, "\r\n\r\n");
        memcpy(out + n, res, rlen);
        n += rlen;
        consume(head + blen);
        send_all(fd, out, n);

        head = read_reply(fd, &body, &blen);
        consume(head + blen);
    }
}
