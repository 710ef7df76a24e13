/*
 * ember-bench - cold and warm starts of a Lambda bootstrap, measured from
 * outside, the way Lambda sees them.
 *
 * The tool is its own Runtime API on 127.0.0.1.  For each sample it starts
 * a fresh bootstrap process (fork, then execve) and timestamps, with
 * CLOCK_MONOTONIC:
 *   init   execve -> the first GET .../invocation/next received
 *   cold   execve -> the first response received (the cold start a client sees,
 *          less the gateway)
 *   warm   event sent -> response received, for K more invocations
 *   RSS    VmHWM of /proc/PID/status, read while the process waits for the
 *          (K+2)th event, then SIGTERM (SIGKILL after a second)
 * Variants run interleaved (floor, lazy, eager, floor, lazy, ...) so that
 * the machine's drift falls on all of them alike:
 *   floor  bench/floor: a raw-socket libc-only bootstrap (the floor)
 *   lazy   ember as shipped (plugins loaded on first use)
 *   eager  ember with EMBER_PRELOAD=all (everything loaded before `next`)
 * Routes: /hello (no plugin but response) and /items/{id} (JWT HS256 +
 * one PostgreSQL row on a new connection; needs DATABASE_URL).
 *
 * Then, optionally, a burst through ember-local: every sandbox reaped, C
 * concurrent first requests, client latency split into cold and warm.
 *
 * Output: tables on stdout, --json FILE, an SVG chart, PASS/MISS per
 * target (exit 1 on a miss only with --strict).  libc only: the tokens are
 * minted with the SHA-256 below, so nothing here links what ember avoids.
 */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_TIMEOUT_NS   (15LL * 1000000000)    /* one process, all its invocations */
#define MAX_CONNS        8
#define MAX_PHASES       48
#define API              "/2018-06-01/runtime"

/* ---------------------------------------------------------------- small helpers */

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("ember-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        abort();
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);

    if (d == NULL)
        abort();
    return d;
}

/* Caller frees the result. */
static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char   *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

struct buf {
    char   *p;
    size_t  len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char   *s;
    int     n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    buf_add(b, s, (size_t) n);
    free(s);
}

static void buf_consume(struct buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

static off_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* ---------------------------------------------------------------- SHA-256, HMAC, tokens */

struct sha256 {
    uint32_t      h[8];
    uint64_t      len;
    unsigned char blk[64];
    size_t        n;
};

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
    int      i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 64; i++)
        w[i] = (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10)) + w[i - 7]
               + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
    a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
    e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
    s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

    memcpy(s->h, iv, sizeof(iv));
    s->len = 0;
    s->n = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
    const unsigned char *p = data;

    s->len += len;
    while (len > 0) {
        size_t take = 64 - s->n < len ? 64 - s->n : len;

        memcpy(s->blk + s->n, p, take);
        s->n += take;
        p += take;
        len -= take;
        if (s->n == 64) {
            sha256_block(s, s->blk);
            s->n = 0;
        }
    }
}

static void sha256_final(struct sha256 *s, unsigned char out[32])
{
    uint64_t bits = s->len * 8;
    unsigned char pad = 0x80, zero = 0, len[8];
    int      i;

    sha256_update(s, &pad, 1);
    while (s->n != 56)
        sha256_update(s, &zero, 1);
    for (i = 0; i < 8; i++)
        len[i] = (unsigned char) (bits >> (56 - 8 * i));
    sha256_update(s, len, 8);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char) (s->h[i] >> 24);
        out[4 * i + 1] = (unsigned char) (s->h[i] >> 16);
        out[4 * i + 2] = (unsigned char) (s->h[i] >> 8);
        out[4 * i + 3] = (unsigned char) s->h[i];
    }
}

static void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                        unsigned char out[32])
{
    unsigned char k[64] = { 0 }, pad[64], inner[32];
    struct sha256 s;
    int           i;

    if (klen > 64) {
        sha256_init(&s);
        sha256_update(&s, key, klen);
        sha256_final(&s, k);
    } else {
        memcpy(k, key, klen);
    }
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    sha256_init(&s);
    sha256_update(&s, pad, 64);
    sha256_update(&s, msg, mlen);
    sha256_final(&s, inner);
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    sha256_init(&s);
    sha256_update(&s, pad, 64);
    sha256_update(&s, inner, 32);
    sha256_final(&s, out);
}

static void b64url(struct buf *b, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i;
    char   q[4];

    for (i = 0; i + 2 < n; i += 3) {
        q[0] = a[p[i] >> 2];
        q[1] = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
        q[2] = a[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
        q[3] = a[p[i + 2] & 63];
        buf_add(b, q, 4);
    }
    if (n - i == 1) {
        q[0] = a[p[i] >> 2];
        q[1] = a[(p[i] & 3) << 4];
        buf_add(b, q, 2);
    } else if (n - i == 2) {
        q[0] = a[p[i] >> 2];
        q[1] = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
        q[2] = a[(p[i + 1] & 15) << 2];
        buf_add(b, q, 3);
    }
}

/* An HS256 JWT for sub, valid for an hour. Caller frees the result. */
static char *mint_token(const char *secret, const char *sub)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    struct buf    b = { 0 };
    char         *payload;
    unsigned char mac[32];

    payload = xasprintf("{\"sub\":\"%s\",\"iat\":%lld,\"exp\":%lld}", sub,
                        (long long) (epoch_ms() / 1000), (long long) (epoch_ms() / 1000 + 3600));
    b64url(&b, (const unsigned char *) header, strlen(header));
    buf_add(&b, ".", 1);
    b64url(&b, (const unsigned char *) payload, strlen(payload));
    hmac_sha256(secret, strlen(secret), b.p, b.len, mac);
    buf_add(&b, ".", 1);
    b64url(&b, mac, sizeof(mac));
    free(payload);
    return b.p;
}

/* ---------------------------------------------------------------- samples */

struct series {
    double *v;
    size_t  n, cap;
};

static void series_add(struct series *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof(double));
    }
    s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

/* The p-th percentile (nearest rank), NAN when empty. Sorts s. */
static double pct(struct series *s, double p)
{
    size_t rank;

    if (s->n == 0)
        return NAN;
    qsort(s->v, s->n, sizeof(double), cmp_double);
    rank = (size_t) ceil(p / 100.0 * (double) s->n);
    if (rank < 1)
        rank = 1;
    return s->v[rank - 1];
}

static double smax(const struct series *s)
{
    double m = NAN;
    size_t i;

    for (i = 0; i < s->n; i++)
        if (isnan(m) || s->v[i] > m)
            m = s->v[i];
    return m;
}

/* ---------------------------------------------------------------- the setup */

enum variant { V_FLOOR, V_LAZY, V_EAGER, V_ALT, NVARIANTS };
enum route { R_HELLO, R_ITEMS, NROUTES };

static const char *const variant_names[NVARIANTS] = { "floor", "lazy", "eager", "alt" };
static const char *const route_names[NROUTES] = { "/hello", "/items/{id}" };
static const char *const route_paths[NROUTES] = { "/hello", "/items/1" };
static const char *const route_expect[NROUTES] = { "ok", "water" };

struct phase {
    char          name[32];
    struct series ms;
};

struct cell {
    enum route     route;
    enum variant   var;
    int            on;
    struct series  init, cold, warm, rss, t0_off;    /* ms, ms, us, kB, us */
    struct series  faults;                           /* minor faults, whole life */
    size_t         fails;
    char           first_error[512];
    struct phase   phases[MAX_PHASES];
    size_t         nphases;
};

struct opts {
    const char *bootstrap, *plugin_dir, *conf, *floor, *zip, *out, *json, *svg, *local;
    const char *alt, *alt_plugin_dir, *alt_env, *zip_size;
    int         n, k, strict, burst, burst_rounds, smaps, cpu;
    int         routes[NROUTES], variants[NVARIANTS];
    double      rust_items_cold_ms, rust_items_warm_us;
};

struct bench {
    struct opts  o;
    int          lfd;                /* the Runtime API's listening socket */
    int          port;
    char        *task_root;          /* an unpacked --zip, or NULL */
    char        *token;
    char        *secret;
    char        *events[NROUTES];
    struct cell  cells[NROUTES][NVARIANTS];
    int64_t      *exec_stamp;        /* shared with the child: its time of execve */
    char        *logfile;
};

/* ---------------------------------------------------------------- events */

/* An API Gateway HTTP API (payload 2.0) event, as the gateway sends it. */
static char *make_event(const char *path, const char *token)
{
    char *auth = token ? xasprintf(",\"authorization\":\"Bearer %s\"", token) : xstrdup("");
    char *ev = xasprintf(
        "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":\"%s\","
        "\"rawQueryString\":\"\",\"headers\":{\"accept\":\"application/json\","
        "\"accept-encoding\":\"gzip, deflate, br\",\"content-length\":\"0\","
        "\"host\":\"r3pmxmplak.execute-api.us-east-1.amazonaws.com\","
        "\"user-agent\":\"ember-bench/1.0\",\"x-amzn-trace-id\":"
        "\"Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e\",\"x-forwarded-for\":\"127.0.0.1\","
        "\"x-forwarded-port\":\"443\",\"x-forwarded-proto\":\"https\"%s},"
        "\"requestContext\":{\"accountId\":\"123456789012\",\"apiId\":\"r3pmxmplak\","
        "\"domainName\":\"r3pmxmplak.execute-api.us-east-1.amazonaws.com\","
        "\"domainPrefix\":\"r3pmxmplak\",\"http\":{\"method\":\"GET\",\"path\":\"%s\","
        "\"protocol\":\"HTTP/1.1\",\"sourceIp\":\"127.0.0.1\",\"userAgent\":"
        "\"ember-bench/1.0\"},\"requestId\":\"JKJaXmPLvHcESHA=\",\"routeKey\":\"$default\","
        "\"stage\":\"$default\",\"time\":\"10/Mar/2020:05:16:23 +0000\","
        "\"timeEpoch\":1583817383220},\"isBase64Encoded\":false}",
        path, auth, path);

    free(auth);
    return ev;
}

/* ---------------------------------------------------------------- the Runtime API */

struct conn {
    int        fd;
    struct buf in;
};

/* One HTTP request found complete at the head of c->in. */
struct request {
    char    method[8];
    char    path[512];
    size_t  total;           /* bytes of head + body */
    const char *body;
    size_t  body_len;
};

/* 1 when c->in holds a whole request (parsed into rq), 0 if not yet, -1 if bad. */
static int parse_request(struct conn *c, struct request *rq)
{
    char       *end, *cl, *sp;
    size_t      head, blen = 0;

    if (c->in.len == 0)
        return 0;
    end = strstr(c->in.p, "\r\n\r\n");
    if (end == NULL)
        return c->in.len > 65536 ? -1 : 0;
    head = (size_t) (end - c->in.p) + 4;
    cl = strcasestr(c->in.p, "\r\nContent-Length:");
    if (cl != NULL && cl < end)
        blen = strtoul(cl + 17, NULL, 10);
    if (c->in.len < head + blen)
        return 0;
    sp = strchr(c->in.p, ' ');
    if (sp == NULL || (size_t) (sp - c->in.p) >= sizeof(rq->method))
        return -1;
    memcpy(rq->method, c->in.p, (size_t) (sp - c->in.p));
    rq->method[sp - c->in.p] = '\0';
    {
        char  *p = sp + 1, *e = strchr(p, ' ');
        size_t n;

        if (e == NULL)
            return -1;
        n = (size_t) (e - p) < sizeof(rq->path) - 1 ? (size_t) (e - p) : sizeof(rq->path) - 1;
        memcpy(rq->path, p, n);
        rq->path[n] = '\0';
    }
    rq->total = head + blen;
    rq->body = c->in.p + head;
    rq->body_len = blen;
    return 1;
}

static int send_all(int fd, const struct iovec *iov0, int n)
{
    struct iovec iov[4];
    struct msghdr msg;
    ssize_t w;

    memcpy(iov, iov0, (size_t) n * sizeof(*iov));
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t) n;
    while (msg.msg_iovlen > 0) {
        w = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        while (msg.msg_iovlen > 0 && (size_t) w >= msg.msg_iov->iov_len) {
            w -= (ssize_t) msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov->iov_base = (char *) msg.msg_iov->iov_base + w;
            msg.msg_iov->iov_len -= (size_t) w;
        }
    }
    return 0;
}

static int send_event(int fd, const char *event, int run, int i)
{
    char         head[512];
    struct iovec iov[2];
    int          n;

    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-%06d%06d\r\n"
                 "Lambda-Runtime-Deadline-Ms: %lld\r\n"
                 "Lambda-Runtime-Invoked-Function-Arn: "
                 "arn:aws:lambda:us-east-1:123456789012:function:ember-bench\r\n"
                 "Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;"
                 "Parent=9a9197af755a6419;Sampled=1\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 run % 1000000, i % 1000000, (long long) (epoch_ms() + 30000), strlen(event));
    iov[0].iov_base = head;
    iov[0].iov_len = (size_t) n;
    iov[1].iov_base = (void *) event;
    iov[1].iov_len = strlen(event);
    return send_all(fd, iov, 2);
}

static int send_accepted(int fd)
{
    static const char ok[] = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                             "Content-Length: 15\r\n\r\n{\"status\":\"OK\"}";
    struct iovec iov = { (void *) ok, sizeof(ok) - 1 };

    return send_all(fd, &iov, 1);
}

static void listen_api(struct bench *b)
{
    struct sockaddr_in sa;
    socklen_t          len = sizeof(sa);
    int                one = 1;

    b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (b->lfd < 0)
        die("socket: %s", strerror(errno));
    setsockopt(b->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(b->lfd, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(b->lfd, 64) != 0
        || getsockname(b->lfd, (struct sockaddr *) &sa, &len) != 0)
        die("listen on 127.0.0.1: %s", strerror(errno));
    b->port = ntohs(sa.sin_port);
}

/* ---------------------------------------------------------------- one process */

/* VmHWM of pid in kB, -1 if unreadable. */
static long vm_hwm(pid_t pid)
{
    char  path[64], line[256];
    FILE *f;
    long  kb = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* Minor page faults of pid so far (/proc/PID/stat field 10), -1 if unreadable. */
static long min_faults(pid_t pid)
{
    char  path[64], buf[1024], *p;
    FILE *f;
    long  v = -1;
    int   i;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) != NULL) {
        p = strrchr(buf, ')');          /* the name may hold spaces */
        for (i = 2; p != NULL && i < 10; i++)
            p = strchr(p + 1, ' ');
        if (p != NULL)
            v = strtol(p + 1, NULL, 10);
    }
    fclose(f);
    return v;
}

/* Keep /proc/PID/smaps of the cell's last process: where its RSS is. */
static void save_smaps(struct bench *b, const struct cell *c, pid_t pid)
{
    char  src[64], *dst;
    char  tmp[8192];
    FILE *in, *out;
    size_t n;

    snprintf(src, sizeof(src), "/proc/%d/smaps", (int) pid);
    dst = xasprintf("%s/smaps-%s-%s.txt", b->o.out, c->route == R_HELLO ? "hello" : "items",
                    variant_names[c->var]);
    in = fopen(src, "r");
    out = fopen(dst, "w");
    while (in != NULL && out != NULL && (n = fread(tmp, 1, sizeof(tmp), in)) > 0)
        fwrite(tmp, 1, n, out);
    if (in != NULL)
        fclose(in);
    if (out != NULL)
        fclose(out);
    free(dst);
}

/* The environment of one process: what Lambda gives, plus ember's. Caller frees. */
static char **child_env(struct bench *b, enum variant v)
{
    char      **env = xmalloc(24 * sizeof(char *));
    int         n = 0;
    const char *db = getenv("DATABASE_URL");

    env[n++] = xasprintf("AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", b->port);
    env[n++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
    env[n++] = xstrdup("AWS_LAMBDA_FUNCTION_NAME=ember-bench");
    env[n++] = xstrdup("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512");
    env[n++] = xstrdup("AWS_LAMBDA_FUNCTION_VERSION=$LATEST");
    env[n++] = xstrdup("AWS_REGION=us-east-1");
    env[n++] = xstrdup("TZ=:UTC");
    if (v != V_FLOOR) {
        env[n++] = xstrdup("AWS_LAMBDA_LOG_FORMAT=JSON");
        if (b->task_root != NULL) {
            env[n++] = xasprintf("LAMBDA_TASK_ROOT=%s", b->task_root);
            env[n++] = xasprintf("LD_LIBRARY_PATH=%s/lib", b->task_root);
        } else {
            env[n++] = xasprintf("EMBER_CONF=%s", b->o.conf);
            env[n++] = xasprintf("EMBER_PLUGIN_DIR=%s", v == V_ALT && b->o.alt_plugin_dir
                                                        ? b->o.alt_plugin_dir : b->o.plugin_dir);
        }
        if (v == V_ALT && b->o.alt_env != NULL)
            env[n++] = xstrdup(b->o.alt_env);
        env[n++] = xasprintf("JWT_SECRET=%s", b->secret);
        if (db != NULL)
            env[n++] = xasprintf("DATABASE_URL=%s", db);
        if (v == V_EAGER)
            env[n++] = xstrdup("EMBER_PRELOAD=all");
    }
    env[n] = NULL;
    return env;
}

static void free_env(char **env)
{
    char **e;

    for (e = env; *e != NULL; e++)
        free(*e);
    free(env);
}

static void cell_fail(struct cell *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cell_fail(struct cell *c, const char *fmt, ...)
{
    va_list ap;

    c->fails++;
    if (c->first_error[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
    va_end(ap);
}

static struct phase *cell_phase(struct cell *c, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < c->nphases; i++)
        if (strlen(c->phases[i].name) == len && strncmp(c->phases[i].name, name, len) == 0)
            return &c->phases[i];
    if (c->nphases == MAX_PHASES || len >= sizeof(c->phases[0].name))
        return NULL;
    memcpy(c->phases[c->nphases].name, name, len);
    c->phases[c->nphases].name[len] = '\0';
    return &c->phases[c->nphases++];
}

/*
 * The journey line of this run's log (JSON format):
 *   "journey":{"t0_us":N,"phases":{"exec":0.61,...},"total":1.12}
 * Phase durations go to the cell; t0 is compared with our exec stamp.
 */
static void read_journey(struct bench *b, struct cell *c, int64_t t_exec)
{
    FILE       *f = fopen(b->logfile, "r");
    char       *line = NULL, *p, *q;
    size_t      cap = 0;
    int         found = 0;

    if (f == NULL)
        return;
    while (!found && getline(&line, &cap, f) > 0) {
        p = strstr(line, "\"journey\":{\"t0_us\":");
        if (p == NULL)
            continue;
        found = 1;
        p += 19;
        series_add(&c->t0_off, (double) (strtoll(p, &q, 10) * 1000 - t_exec) / 1e3);
        p = strstr(q, "\"phases\":{");
        if (p == NULL)
            break;
        p += 10;
        while (*p == '"') {
            struct phase *ph;
            char         *e = strchr(p + 1, '"');

            if (e == NULL || e[1] != ':')
                break;
            ph = cell_phase(c, p + 1, (size_t) (e - p - 1));
            if (ph != NULL)
                series_add(&ph->ms, strtod(e + 2, &q));
            else
                strtod(e + 2, &q);
            p = q;
            if (*p == ',')
                p++;
        }
    }
    free(line);
    fclose(f);
    if (!found && c->var != V_FLOOR)
        cell_fail(c, "no journey line in the log (%s)", b->logfile);
}

static pid_t spawn(struct bench *b, enum variant v, int64_t *t_exec)
{
    const char *path = v == V_FLOOR ? b->o.floor : v == V_ALT ? b->o.alt : b->o.bootstrap;
    char      **env = child_env(b, v);
    char       *argv[2];
    char       *tr;
    pid_t       pid;
    int         logfd;

    tr = b->task_root;
    logfd = open(v == V_FLOOR ? "/dev/null" : b->logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                 0644);
    if (logfd < 0)
        die("%s: %s", b->logfile, strerror(errno));
    argv[0] = (char *) path;
    argv[1] = NULL;
    *b->exec_stamp = 0;
    pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);

        dup2(nul, 0);
        dup2(nul, 1);
        dup2(logfd, 2);
        if (tr != NULL && v != V_FLOOR && chdir(tr) != 0)
            _exit(126);
        *b->exec_stamp = now_ns();
        execve(path, argv, env);
        _exit(127);
    }
    close(logfd);
    free_env(env);
    *t_exec = 0;
    return pid;
}

/*
 * One fresh process: its cold start, then k warm invocations, then its
 * peak RSS.  Samples go to c; a failure is counted with its first reason.
 */
static void run_one(struct bench *b, struct cell *c, int run)
{
    struct conn   conns[MAX_CONNS];
    struct pollfd pfd[MAX_CONNS + 2];
    int           nconns = 0, sent = 0, done = 0, failed = 0, i, pidfd;
    int           total = 1 + b->o.k;
    int64_t       t_exec = 0, t_next = 0, t_sent = 0, deadline;
    long          rss = -1, faults = -1;
    pid_t         pid;
    const char   *event = b->events[c->route];

    pid = spawn(b, c->var, &t_exec);
    pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
    deadline = now_ns() + RUN_TIMEOUT_NS;

    while (!done && !failed) {
        int n = 0, timeout;

        pfd[n].fd = b->lfd;
        pfd[n++].events = POLLIN;
        pfd[n].fd = pidfd;
        pfd[n++].events = POLLIN;
        for (i = 0; i < nconns; i++) {
            pfd[n].fd = conns[i].fd;
            pfd[n++].events = POLLIN;
        }
        timeout = (int) ((deadline - now_ns()) / 1000000);
        if (timeout <= 0) {
            cell_fail(c, "timed out after %lld s (%d of %d responses)",
                      RUN_TIMEOUT_NS / 1000000000, sent, total);
            failed = 1;
            break;
        }
        if (poll(pfd, (nfds_t) n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        if (pfd[0].revents & POLLIN) {
            int fd = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);

            if (fd >= 0 && nconns < MAX_CONNS) {
                int one = 1;

                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                memset(&conns[nconns], 0, sizeof(conns[nconns]));
                conns[nconns++].fd = fd;
            } else if (fd >= 0) {
                close(fd);
            }
        }
        for (i = 0; i < nconns && !done && !failed; i++) {
            struct conn   *cn = &conns[i];
            struct request rq;
            char           tmp[65536];
            ssize_t        r;
            int            pr;

            if (!(pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = recv(cn->fd, tmp, sizeof(tmp), 0);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                close(cn->fd);
                free(cn->in.p);
                conns[i] = conns[--nconns];
                /* poll slots shift: handle the rest next round */
                break;
            }
            buf_add(&cn->in, tmp, (size_t) r);
            while (!done && !failed && (pr = parse_request(cn, &rq)) != 0) {
                int64_t t = now_ns();

                if (pr < 0) {
                    cell_fail(c, "a request the Runtime API cannot parse");
                    failed = 1;
                    break;
                }
                if (strcmp(rq.method, "GET") == 0 && strcmp(rq.path, API "/invocation/next") == 0) {
                    if (t_next == 0)
                        t_next = t;
                    if (sent < total) {
                        t_sent = now_ns();
                        if (send_event(cn->fd, event, run, sent) != 0) {
                            cell_fail(c, "could not send the event");
                            failed = 1;
                        }
                        sent++;
                    } else {
                        rss = vm_hwm(pid);    /* idle in `next`: its peak is behind it */
                        faults = min_faults(pid);
                        if (b->o.smaps)
                            save_smaps(b, c, pid);
                        done = 1;
                    }
                } else if (strcmp(rq.method, "POST") == 0 && strstr(rq.path, "/response") != NULL
                           && strstr(rq.path, "/invocation/") != NULL) {
                    if (memmem(rq.body, rq.body_len, "\"statusCode\":200", 16) == NULL
                        || memmem(rq.body, rq.body_len, route_expect[c->route],
                                  strlen(route_expect[c->route])) == NULL) {
                        cell_fail(c, "unexpected response: %.*s", (int) (rq.body_len > 300
                                  ? 300 : rq.body_len), rq.body);
                        failed = 1;
                    } else if (sent == 1) {
                        t_exec = *b->exec_stamp;
                        series_add(&c->init, (double) (t_next - t_exec) / 1e6);
                        series_add(&c->cold, (double) (t - t_exec) / 1e6);
                    } else {
                        series_add(&c->warm, (double) (t - t_sent) / 1e3);
                    }
                    if (send_accepted(cn->fd) != 0 && !failed) {
                        cell_fail(c, "could not answer the response POST");
                        failed = 1;
                    }
                } else if (strcmp(rq.method, "POST") == 0) {
                    cell_fail(c, "%s %s: %.*s", rq.method, rq.path,
                              (int) (rq.body_len > 300 ? 300 : rq.body_len), rq.body);
                    send_accepted(cn->fd);
                    failed = 1;
                } else {
                    cell_fail(c, "unexpected request %s %s", rq.method, rq.path);
                    failed = 1;
                }
                buf_consume(&cn->in, rq.total);
            }
        }
        if (!done && !failed && pfd[1].revents & POLLIN) {
            int st;

            if (waitpid(pid, &st, WNOHANG) == pid) {
                cell_fail(c, "the process exited (%s %d) after %d of %d events; see %s",
                          WIFEXITED(st) ? "status" : "signal",
                          WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), sent, total,
                          c->var == V_FLOOR ? "(floor: no log)" : b->logfile);
                failed = 1;
                pid = -1;
            }
        }
    }
    if (pid > 0) {
        /* SIGTERM (as Lambda does at shutdown), then SIGKILL if it lingers */
        int64_t until = now_ns() + 1000000000;

        kill(pid, SIGTERM);
        while (waitpid(pid, NULL, WNOHANG) == 0) {
            if (now_ns() > until) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                break;
            }
            usleep(200);
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    for (i = 0; i < nconns; i++) {
        close(conns[i].fd);
        free(conns[i].in.p);
    }
    if (done && rss >= 0)
        series_add(&c->rss, (double) rss);
    if (done && faults >= 0)
        series_add(&c->faults, (double) faults);
    if (c->var != V_FLOOR && sent > 0)
        read_journey(b, c, t_exec ? t_exec : *b->exec_stamp);
}

/* ---------------------------------------------------------------- the burst (ember-local) */

struct burst_result {
    int           ran;
    int           c, rounds;
    struct series cold, warm;        /* ms, client side */
    size_t        errors;
    char          error[256];
};

struct client {
    int        fd;
    int64_t    t0;
    struct buf in;
    int        done;
};

/* C concurrent GETs of path on 127.0.0.1:port; latencies and request ids. */
static int burst_once(int port, const char *path, const char *token, int c, double *ms,
                      char (*ids)[64], int *status)
{
    struct client *cl = calloc((size_t) c, sizeof(*cl));
    struct pollfd *pfd = calloc((size_t) c, sizeof(*pfd));
    struct sockaddr_in sa;
    char   req[2048];
    int    i, left = c, n;
    int64_t deadline = now_ns() + 30LL * 1000000000;

    if (cl == NULL || pfd == NULL)
        abort();
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Authorization: Bearer %s\r\nConnection: close\r\n\r\n", path, port, token);
    for (i = 0; i < c; i++) {
        cl[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cl[i].t0 = now_ns();
        if (cl[i].fd < 0 || connect(cl[i].fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
            || send(cl[i].fd, req, (size_t) n, MSG_NOSIGNAL) != n) {
            cl[i].done = 1;
            status[i] = -1;
            ms[i] = NAN;
            left--;
        }
    }
    while (left > 0 && now_ns() < deadline) {
        int np = 0;

        for (i = 0; i < c; i++) {
            pfd[i].fd = cl[i].done ? -1 : cl[i].fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
            np++;
        }
        if (poll(pfd, (nfds_t) np, 1000) < 0 && errno != EINTR)
            break;
        for (i = 0; i < c; i++) {
            char    tmp[16384];
            ssize_t r;

            if (cl[i].done || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = recv(cl[i].fd, tmp, sizeof(tmp), 0);
            if (r > 0) {
                buf_add(&cl[i].in, tmp, (size_t) r);
                continue;
            }
            /* closed: the whole answer is in */
            ms[i] = (double) (now_ns() - cl[i].t0) / 1e6;
            cl[i].done = 1;
            left--;
            status[i] = cl[i].in.p != NULL && strncmp(cl[i].in.p, "HTTP/1.", 7) == 0
                        ? atoi(cl[i].in.p + 9) : -1;
            ids[i][0] = '\0';
            if (cl[i].in.p != NULL) {
                char *h = strcasestr(cl[i].in.p, "\r\nx-amzn-RequestId:");

                if (h != NULL) {
                    h += 19;
                    while (*h == ' ')
                        h++;
                    snprintf(ids[i], 64, "%.*s", (int) strcspn(h, "\r\n"), h);
                }
            }
        }
    }
    for (i = 0; i < c; i++) {
        if (!cl[i].done) {
            ms[i] = NAN;
            status[i] = -1;
        }
        if (cl[i].fd >= 0)
            close(cl[i].fd);
        free(cl[i].in.p);
    }
    free(cl);
    free(pfd);
    return 0;
}

/* "cold" or "warm" for request id in ember-local's REPORT lines; -1 unknown. */
static int report_cold(const char *log, const char *id)
{
    FILE  *f = fopen(log, "r");
    char  *line = NULL;
    size_t cap = 0;
    int    cold = -1;
    char   key[96];

    if (f == NULL || id[0] == '\0') {
        if (f != NULL)
            fclose(f);
        return -1;
    }
    snprintf(key, sizeof(key), "RequestId: %s\t", id);
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "REPORT ", 7) == 0 && strstr(line, key) != NULL) {
            cold = strstr(line, "Start: cold") != NULL;
            break;
        }
    }
    free(line);
    fclose(f);
    return cold;
}

static void run_burst(struct bench *b, struct burst_result *br)
{
    char       *dir = xasprintf("%s/local", b->o.out);
    char       *ready = xasprintf("%s/ready", dir), *log = xasprintf("%s/ember-local.log", dir);
    char        cbuf[16], portbuf[32];
    const char *db = getenv("DATABASE_URL");
    const char *path = db != NULL && b->o.routes[R_ITEMS] ? "/items/1" : "/hello";
    double     *ms;
    char      (*ids)[64];
    int        *status, r, i, port = 0;
    pid_t       pid;
    int64_t     until;

    br->ran = 1;
    br->c = b->o.burst;
    br->rounds = b->o.burst_rounds;
    mkdir(dir, 0755);
    unlink(ready);
    snprintf(cbuf, sizeof(cbuf), "%d", b->o.burst);
    pid = fork();
    if (pid == 0) {
        int   fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char *envs[8];
        char *argv[40];
        int   n = 0, e = 0;

        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        if (b->task_root == NULL) {
            envs[e++] = xasprintf("EMBER_CONF=%s", b->o.conf);
            envs[e++] = xasprintf("EMBER_PLUGIN_DIR=%s", b->o.plugin_dir);
        }
        envs[e++] = xasprintf("JWT_SECRET=%s", b->secret);
        if (db != NULL)
            envs[e++] = xasprintf("DATABASE_URL=%s", db);
        argv[n++] = (char *) b->o.local;
        argv[n++] = (char *) "serve";
        if (b->task_root != NULL) {
            argv[n++] = (char *) "--task-root";
            argv[n++] = b->task_root;
        } else {
            argv[n++] = (char *) "--bootstrap";
            argv[n++] = (char *) b->o.bootstrap;
        }
        for (i = 0; i < e; i++) {
            argv[n++] = (char *) "--env";
            argv[n++] = envs[i];
        }
        argv[n++] = (char *) "--port";
        argv[n++] = (char *) "0";
        argv[n++] = (char *) "--ready-file";
        argv[n++] = ready;
        argv[n++] = (char *) "--max-concurrency";
        argv[n++] = cbuf;
        argv[n++] = (char *) "--idle-timeout";
        argv[n++] = (char *) "0.5";
        argv[n++] = (char *) "--memory";
        argv[n++] = (char *) "512";
        argv[n] = NULL;
        execv(b->o.local, argv);
        _exit(127);
    }
    until = now_ns() + 10LL * 1000000000;
    while (now_ns() < until) {
        FILE *f = fopen(ready, "r");

        if (f != NULL) {
            if (fgets(portbuf, sizeof(portbuf), f) != NULL)
                port = atoi(portbuf);
            fclose(f);
            if (port > 0)
                break;
        }
        usleep(20000);
    }
    if (port <= 0) {
        snprintf(br->error, sizeof(br->error), "ember-local did not start (see %s)", log);
        br->errors++;
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        goto out;
    }

    ms = xmalloc((size_t) b->o.burst * sizeof(double));
    ids = xmalloc((size_t) b->o.burst * 64);
    status = xmalloc((size_t) b->o.burst * sizeof(int));
    for (r = 0; r < b->o.burst_rounds; r++) {
        int k;

        /* every sandbox reaped (idle 0.5 s), then C at once, then C again (warm) */
        usleep(900000);
        for (k = 0; k < 2; k++) {
            burst_once(port, path, b->token, b->o.burst, ms, ids, status);
            usleep(50000);     /* the REPORT lines are written after the answers */
            for (i = 0; i < b->o.burst; i++) {
                int cold;

                if (status[i] != 200 || isnan(ms[i])) {
                    br->errors++;
                    if (br->error[0] == '\0')
                        snprintf(br->error, sizeof(br->error), "HTTP %d from ember-local "
                                 "(see %s)", status[i], log);
                    continue;
                }
                cold = report_cold(log, ids[i]);
                if (cold < 0)
                    cold = k == 0;     /* no REPORT line: by design of the round */
                series_add(cold ? &br->cold : &br->warm, ms[i]);
            }
        }
    }
    free(ms);
    free(ids);
    free(status);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
out:
    free(dir);
    free(ready);
    free(log);
}

/* ---------------------------------------------------------------- reporting */

struct target {
    const char *name;
    const char *what;
    double      value, limit;
    const char *unit;
    int         known;
};

static const char *fmt_ms(char *s, size_t n, double v)
{
    if (isnan(v))
        snprintf(s, n, "-");
    else
        snprintf(s, n, "%.2f", v);
    return s;
}

static void print_cells(struct bench *b)
{
    char   a[7][32];
    int    r, v;
    double floor_cold = NAN;

    printf("\ncold starts: %d fresh processes per row, interleaved; %d warm invocations each\n",
           b->o.n, b->o.k);
    printf("%-12s %-6s %8s %8s %8s %8s %8s %9s %9s %11s %7s %6s\n", "route", "variant",
           "init p50", "cold p50", "p95", "p99", "x floor", "warm p50", "warm p95", "peak RSS kB",
           "faults", "fails");
    printf("%-12s %-6s %8s %8s %8s %8s %8s %9s %9s %11s %7s\n", "", "", "ms", "ms", "ms", "ms",
           "", "us", "us", "p50 / max", "p50");
    if (b->cells[R_HELLO][V_FLOOR].on)
        floor_cold = pct(&b->cells[R_HELLO][V_FLOOR].cold, 50);
    for (r = 0; r < NROUTES; r++) {
        for (v = 0; v < NVARIANTS; v++) {
            struct cell *c = &b->cells[r][v];
            double       cold50;

            if (!c->on)
                continue;
            cold50 = pct(&c->cold, 50);
            printf("%-12s %-6s %8s %8s %8s %8s %8s %9s %9s %5.0f/%5.0f %7.0f %6zu\n", route_names[r],
                   variant_names[v], fmt_ms(a[0], 32, pct(&c->init, 50)),
                   fmt_ms(a[1], 32, cold50), fmt_ms(a[2], 32, pct(&c->cold, 95)),
                   fmt_ms(a[3], 32, pct(&c->cold, 99)),
                   fmt_ms(a[4], 32, r == R_HELLO && !isnan(floor_cold) ? cold50 / floor_cold
                                    : NAN),
                   fmt_ms(a[5], 32, pct(&c->warm, 50)), fmt_ms(a[6], 32, pct(&c->warm, 95)),
                   pct(&c->rss, 50), smax(&c->rss), pct(&c->faults, 50), c->fails);
            if (c->first_error[0] != '\0')
                printf("    first failure: %s\n", c->first_error);
        }
    }
}

static void print_journeys(struct bench *b)
{
    int    r, v;
    size_t i;

    printf("\nthe cold-start journey (median ms per phase, from the bootstrap's own log line)\n");
    for (r = 0; r < NROUTES; r++) {
        for (v = V_LAZY; v < NVARIANTS; v++) {
            struct cell *c = &b->cells[r][v];

            if (!c->on || c->nphases == 0)
                continue;
            printf("  %s %s:", route_names[r], variant_names[v]);
            for (i = 0; i < c->nphases; i++)
                printf(" %s %.2f%s", c->phases[i].name, pct(&c->phases[i].ms, 50),
                       c->phases[i].ms.n < c->cold.n ? "*" : "");
            printf("\n    (journey start estimate vs the real execve: median %+.0f us)\n",
                   pct(&c->t0_off, 50));
        }
    }
}

static void print_sizes(struct bench *b, struct buf *json)
{
    static const char *const plugins[] = { "response", "auth", "db" };
    size_t i;
    off_t  s;

    printf("\nsizes\n");
    buf_printf(json, "\"sizes\":{");
    {
        char *bs = b->task_root ? xasprintf("%s/bootstrap", b->task_root)
                                : xstrdup(b->o.bootstrap);

        s = file_size(bs);
        printf("  %-24s %8lld bytes%s\n", "bootstrap", (long long) s,
               b->task_root ? " (as packed in the ZIP)" : "");
        buf_printf(json, "\"bootstrap\":%lld", (long long) s);
        free(bs);
    }
    s = file_size(b->o.floor);
    printf("  %-24s %8lld bytes\n", "floor", (long long) s);
    buf_printf(json, ",\"floor\":%lld", (long long) s);
    for (i = 0; i < sizeof(plugins) / sizeof(plugins[0]); i++) {
        char *p = b->task_root ? xasprintf("%s/plugins/%s.so", b->task_root, plugins[i])
                               : xasprintf("%s/%s.so", b->o.plugin_dir, plugins[i]);

        s = file_size(p);
        if (s >= 0) {
            printf("  %-24s %8lld bytes\n", plugins[i], (long long) s);
            buf_printf(json, ",\"%s.so\":%lld", plugins[i], (long long) s);
        }
        free(p);
    }
    if (b->o.zip != NULL || b->o.zip_size != NULL) {
        s = file_size(b->o.zip != NULL ? b->o.zip : b->o.zip_size);
        printf("  %-24s %8lld bytes\n", "function.zip", (long long) s);
        buf_printf(json, ",\"function.zip\":%lld", (long long) s);
    }
    buf_printf(json, "}");
}

static void series_json(struct buf *j, const char *name, struct series *s, int last)
{
    if (s->n == 0)
        buf_printf(j, "\"%s\":null%s", name, last ? "" : ",");
    else
        buf_printf(j, "\"%s\":{\"n\":%zu,\"p50\":%.4f,\"p95\":%.4f,\"p99\":%.4f,\"max\":%.4f}%s",
                   name, s->n, pct(s, 50), pct(s, 95), pct(s, 99), smax(s), last ? "" : ",");
}

static int evaluate(struct bench *b, struct target *t, int max)
{
    struct cell *fh = &b->cells[R_HELLO][V_FLOOR], *lh = &b->cells[R_HELLO][V_LAZY];
    struct cell *li = &b->cells[R_ITEMS][V_LAZY];
    int          n = 0;

    (void) max;
    t[n] = (struct target) { "hello-cold", "/hello cold p50 <= 1.2 x floor",
                             pct(&lh->cold, 50), 1.2 * pct(&fh->cold, 50), "ms",
                             fh->on && lh->on && lh->cold.n && fh->cold.n };
    n++;
    t[n] = (struct target) { "hello-warm", "/hello warm p50 <= floor + 10 us",
                             pct(&lh->warm, 50), pct(&fh->warm, 50) + 10, "us",
                             fh->on && lh->on && lh->warm.n && fh->warm.n };
    n++;
    t[n] = (struct target) { "hello-rss", "/hello peak RSS (VmHWM, p50) <= 2 MB", pct(&lh->rss, 50),
                             2048, "kB", lh->on && lh->rss.n };
    n++;
    t[n] = (struct target) { "items-cold", "/items/{id} cold p50 <= 0.8 x Rust",
                             pct(&li->cold, 50), 0.8 * b->o.rust_items_cold_ms, "ms",
                             li->on && li->cold.n };
    n++;
    t[n] = (struct target) { "items-warm", "/items/{id} warm p50 <= 0.8 x Rust",
                             pct(&li->warm, 50), 0.8 * b->o.rust_items_warm_us, "us",
                             li->on && li->warm.n };
    n++;
    return n;
}

/* ---------------------------------------------------------------- the chart */

static void svg_text(FILE *f, double x, double y, const char *anchor, const char *style,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void svg_text(FILE *f, double x, double y, const char *anchor, const char *style,
                     const char *fmt, ...)
{
    va_list ap;

    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" %s>", x, y, anchor, style);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputs("</text>\n", f);
}

/* Horizontal bars, one panel per route: cold p95 (light) behind p50 (dark). */
static void write_svg(struct bench *b, const char *path, const struct target *t)
{
    static const char *const colors[NVARIANTS][2] = {
        { "#7f8c8d", "#d5dbdb" }, { "#c0392b", "#f5b7b1" }, { "#2471a3", "#a9cce3" },
        { "#7d3c98", "#d7bde2" }
    };
    const double left = 150, width = 520, rowh = 34, panel_gap = 56;
    FILE  *f = fopen(path, "w");
    double y = 70, height;
    int    r, v, rows = 0, panels = 0;

    if (f == NULL) {
        fprintf(stderr, "ember-bench: %s: %s\n", path, strerror(errno));
        return;
    }
    for (r = 0; r < NROUTES; r++) {
        int any = 0;

        for (v = 0; v < NVARIANTS; v++)
            if (b->cells[r][v].on && b->cells[r][v].cold.n) {
                rows++;
                any = 1;
            }
        panels += any;
    }
    height = 70 + rows * rowh + panels * panel_gap + 30;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"%.0f\" "
               "viewBox=\"0 0 760 %.0f\" font-family=\"Helvetica, Arial, sans-serif\" "
               "font-size=\"13\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            height, height);
    svg_text(f, 20, 28, "start", "font-size=\"17\" font-weight=\"bold\"",
             "ember cold start: execve to the first response (ms)");
    svg_text(f, 20, 48, "start", "fill=\"#555\"",
             "dark: p50, light: p95; %d fresh processes per bar, interleaved; "
             "dashed: the target", b->o.n);
    for (r = 0; r < NROUTES; r++) {
        double max = 0, scale, target = NAN, top;
        int    any = 0;

        for (v = 0; v < NVARIANTS; v++) {
            struct cell *c = &b->cells[r][v];

            if (c->on && c->cold.n) {
                any = 1;
                if (pct(&c->cold, 95) > max)
                    max = pct(&c->cold, 95);
            }
        }
        if (!any)
            continue;
        target = r == R_HELLO ? t[0].limit : t[3].limit;
        if (!isnan(target) && target > max)
            max = target;
        scale = width / (max * 1.08);
        svg_text(f, 20, y + 14, "start", "font-weight=\"bold\"", "GET %s", route_names[r]);
        y += 24;
        top = y - 4;
        for (v = 0; v < NVARIANTS; v++) {
            struct cell *c = &b->cells[r][v];
            double       p50, p95;

            if (!c->on || !c->cold.n)
                continue;
            p50 = pct(&c->cold, 50);
            p95 = pct(&c->cold, 95);
            svg_text(f, left - 10, y + 17, "end", "", "%s%s", variant_names[v],
                     v == V_EAGER ? " (preload)" : v == V_FLOOR ? " (libc)" : "");
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"24\" fill=\"%s\"/>\n",
                    left, y, p95 * scale, colors[v][1]);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"24\" fill=\"%s\"/>\n",
                    left, y + 4, p50 * scale, colors[v][0]);
            svg_text(f, left + p95 * scale + 6, y + 17, "start", "fill=\"#333\"",
                     "%.2f / %.2f", p50, p95);
            y += rowh;
        }
        if (!isnan(target)) {
            double x = left + target * scale;

            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#111\" "
                       "stroke-dasharray=\"4 3\"/>\n", x, top, x, y);
            svg_text(f, x, y + 13, "middle", "fill=\"#111\" font-size=\"11\"", "target %.2f",
                     target);
        }
        y += panel_gap - 24;
    }
    fputs("</svg>\n", f);
    fclose(f);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fputs("usage: ember-bench [options]\n"
          "  -n N                cold starts per variant and route (default 200)\n"
          "  -k K                warm invocations per process (default 200)\n"
          "  --routes LIST       hello,items (default both; items needs DATABASE_URL)\n"
          "  --variants LIST     floor,lazy,eager (default all)\n"
          "  --bootstrap PATH    ember's bootstrap (default core/bootstrap)\n"
          "  --plugin-dir DIR    EMBER_PLUGIN_DIR (default plugins/.libs)\n"
          "  --conf FILE         EMBER_CONF (default conf/ember.conf next to this build)\n"
          "  --floor PATH        the floor bootstrap (default bench/floor)\n"
          "  --zip FILE          run from this unpacked function.zip instead\n"
          "  --zip-size FILE     only report the size of this function.zip\n"
          "  --burst C           then C concurrent first requests through ember-local\n"
          "  --burst-rounds R    burst rounds (default 5)\n"
          "  --local PATH        ember-local (default emu/ember-local)\n"
          "  --out DIR           logs and the chart (default bench/out)\n"
          "  --json FILE         machine-readable results\n"
          "  --svg FILE          the chart (default OUT/cold-start.svg)\n"
          "  --rust-items-cold-ms MS, --rust-items-warm-us US\n"
          "                      reference points of the /items targets (33.4, 239)\n"
          "  --alt PATH          also run this bootstrap (lazy), as variant \"alt\":\n"
          "                      an idea measured against the build, interleaved\n"
          "  --alt-plugin-dir DIR, --alt-env NAME=VALUE  its plugins, one more variable\n"
          "  --smaps             keep OUT/smaps-ROUTE-VARIANT.txt of each row's last process\n"
          "  --cpu N             run this tool and the bootstraps on CPU N only\n"
          "  --strict            exit 1 when a target is missed\n", f);
}

static void parse_list(const char *arg, const char *const *names, int n, int *on, const char *what)
{
    char *copy = xstrdup(arg), *tok, *save = NULL;
    int   i;

    for (i = 0; i < n; i++)
        on[i] = 0;
    for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        for (i = 0; i < n; i++)
            if (strcmp(tok, names[i]) == 0 || (names[i][0] == '/' && strncmp(names[i] + 1, tok,
                                                                             strlen(tok)) == 0))
                break;
        if (i == n)
            die("--%s: unknown \"%s\"", what, tok);
        on[i] = 1;
    }
    free(copy);
}

/* path made absolute (as is if it does not exist). Never freed. */
static const char *absolute(const char *path)
{
    char *r = realpath(path, NULL);

    return r != NULL ? r : path;
}

static char *unpack_zip(struct bench *b)
{
    char  tmpl[] = "/tmp/ember-bench.XXXXXX";
    char *dir = mkdtemp(tmpl), *cmd;

    if (dir == NULL)
        die("mkdtemp: %s", strerror(errno));
    cmd = xasprintf("unzip -q -o '%s' -d '%s'", b->o.zip, dir);
    if (system(cmd) != 0)
        die("could not unpack %s", b->o.zip);
    free(cmd);
    return xstrdup(dir);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "routes", required_argument, NULL, 'r' },
        { "variants", required_argument, NULL, 'v' },
        { "bootstrap", required_argument, NULL, 'b' },
        { "plugin-dir", required_argument, NULL, 'p' },
        { "conf", required_argument, NULL, 'c' },
        { "floor", required_argument, NULL, 'f' },
        { "zip", required_argument, NULL, 'z' },
        { "burst", required_argument, NULL, 'B' },
        { "burst-rounds", required_argument, NULL, 'R' },
        { "local", required_argument, NULL, 'L' },
        { "out", required_argument, NULL, 'o' },
        { "json", required_argument, NULL, 'j' },
        { "svg", required_argument, NULL, 's' },
        { "rust-items-cold-ms", required_argument, NULL, 'C' },
        { "rust-items-warm-us", required_argument, NULL, 'W' },
        { "strict", no_argument, NULL, 'S' },
        { "smaps", no_argument, NULL, 'M' },
        { "alt", required_argument, NULL, 'A' },
        { "zip-size", required_argument, NULL, 'Z' },
        { "cpu", required_argument, NULL, 'U' },
        { "alt-plugin-dir", required_argument, NULL, 'P' },
        { "alt-env", required_argument, NULL, 'E' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct bench       *b = calloc(1, sizeof(*b));
    struct burst_result br;
    struct target       t[8];
    struct buf          json = { 0 };
    struct utsname      un;
    unsigned char       rnd[16];
    int                 ch, r, v, i, nt, missed = 0;
    int64_t             t_start = now_ns();
    char               *svg;

    if (b == NULL)
        abort();
    memset(&br, 0, sizeof(br));
    b->o.n = 200;
    b->o.k = 200;
    b->o.bootstrap = "core/bootstrap";
    b->o.plugin_dir = "plugins/.libs";
    b->o.floor = "bench/floor";
    b->o.local = "emu/ember-local";
    b->o.out = "bench/out";
    b->o.burst_rounds = 5;
    b->o.cpu = -1;
    b->o.rust_items_cold_ms = 33.4;
    b->o.rust_items_warm_us = 239;
    for (i = 0; i < NROUTES; i++)
        b->o.routes[i] = 1;
    for (i = 0; i < NVARIANTS; i++)
        b->o.variants[i] = i != V_ALT;
    while ((ch = getopt_long(argc, argv, "n:k:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'n': b->o.n = atoi(optarg); break;
        case 'k': b->o.k = atoi(optarg); break;
        case 'r': parse_list(optarg, route_names, NROUTES, b->o.routes, "routes"); break;
        case 'v': parse_list(optarg, variant_names, NVARIANTS, b->o.variants, "variants"); break;
        case 'b': b->o.bootstrap = optarg; break;
        case 'p': b->o.plugin_dir = optarg; break;
        case 'c': b->o.conf = optarg; break;
        case 'f': b->o.floor = optarg; break;
        case 'z': b->o.zip = optarg; break;
        case 'B': b->o.burst = atoi(optarg); break;
        case 'R': b->o.burst_rounds = atoi(optarg); break;
        case 'L': b->o.local = optarg; break;
        case 'o': b->o.out = optarg; break;
        case 'j': b->o.json = optarg; break;
        case 's': b->o.svg = optarg; break;
        case 'C': b->o.rust_items_cold_ms = atof(optarg); break;
        case 'W': b->o.rust_items_warm_us = atof(optarg); break;
        case 'S': b->o.strict = 1; break;
        case 'M': b->o.smaps = 1; break;
        case 'A': b->o.alt = optarg; break;
        case 'Z': b->o.zip_size = optarg; break;
        case 'U': b->o.cpu = atoi(optarg); break;
        case 'P': b->o.alt_plugin_dir = optarg; break;
        case 'E': b->o.alt_env = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || b->o.n < 1 || b->o.k < 0 || b->o.burst < 0 || b->o.burst_rounds < 1) {
        usage(stderr);
        return 2;
    }
    if (b->o.alt != NULL)
        b->o.variants[V_ALT] = 1;
    if (b->o.conf == NULL)
        die("--conf is required (make bench passes conf/ember.conf)");
    signal(SIGPIPE, SIG_IGN);
    /* absolute: ember-local runs the sandboxes in the task root */
    b->o.bootstrap = absolute(b->o.bootstrap);
    b->o.plugin_dir = absolute(b->o.plugin_dir);
    b->o.conf = absolute(b->o.conf);
    b->o.floor = absolute(b->o.floor);
    b->o.local = absolute(b->o.local);
    if (b->o.alt != NULL)
        b->o.alt = absolute(b->o.alt);
    mkdir(b->o.out, 0755);
    b->logfile = xasprintf("%s/bootstrap.log", b->o.out);
    if (b->o.zip != NULL)
        b->task_root = unpack_zip(b);
    if (getenv("DATABASE_URL") == NULL && b->o.routes[R_ITEMS]) {
        fprintf(stderr, "ember-bench: DATABASE_URL is not set: /items/{id} skipped\n");
        b->o.routes[R_ITEMS] = 0;
    }
    b->exec_stamp = mmap(NULL, sizeof(int64_t), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b->exec_stamp == MAP_FAILED)
        die("mmap: %s", strerror(errno));

    {
        struct buf s = { 0 };
        int        fd = open("/dev/urandom", O_RDONLY);

        if (fd < 0 || read(fd, rnd, sizeof(rnd)) != (ssize_t) sizeof(rnd))
            die("/dev/urandom: %s", strerror(errno));
        close(fd);
        for (i = 0; i < (int) sizeof(rnd); i++)
            buf_printf(&s, "%02x", rnd[i]);
        b->secret = s.p;
    }
    b->token = mint_token(b->secret, "alice");
    for (r = 0; r < NROUTES; r++)
        b->events[r] = make_event(route_paths[r], r == R_ITEMS ? b->token : NULL);
    listen_api(b);
    if (b->o.cpu >= 0) {
        /* this tool and (inherited) every bootstrap on one CPU: a warm round
           trip is two context switches, not two cross-CPU wake-ups whose
           cost depends on where the scheduler put them and how deeply the
           other CPU slept */
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(b->o.cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0)
            die("--cpu %d: %s", b->o.cpu, strerror(errno));
    }

    for (r = 0; r < NROUTES; r++)
        for (v = 0; v < NVARIANTS; v++) {
            b->cells[r][v].route = (enum route) r;
            b->cells[r][v].var = (enum variant) v;
            b->cells[r][v].on = b->o.routes[r] && b->o.variants[v]
                                && !(v == V_FLOOR && r != R_HELLO);
        }

    /* the interleaved runs: round i runs every cell once */
    for (i = 0; i < b->o.n; i++) {
        for (r = 0; r < NROUTES; r++)
            for (v = 0; v < NVARIANTS; v++)
                if (b->cells[r][v].on)
                    run_one(b, &b->cells[r][v], i);
        if (isatty(2) && (i + 1) % 10 == 0)
            fprintf(stderr, "\rember-bench: round %d of %d", i + 1, b->o.n);
    }
    if (isatty(2))
        fputc('\n', stderr);
    if (b->o.burst > 0)
        run_burst(b, &br);

    uname(&un);
    printf("ember-bench: %s %s, %ld CPUs; Runtime API on 127.0.0.1:%d%s%s\n", un.sysname,
           un.release, sysconf(_SC_NPROCESSORS_ONLN), b->port,
           b->task_root ? "; from " : "", b->task_root ? b->o.zip : "");
    print_cells(b);
    print_journeys(b);

    buf_printf(&json, "{\"machine\":{\"kernel\":\"%s\",\"cpus\":%ld},\"settings\":{\"n\":%d,"
               "\"k\":%d,\"zip\":%s%s%s},\"cells\":[", un.release,
               sysconf(_SC_NPROCESSORS_ONLN), b->o.n, b->o.k, b->o.zip ? "\"" : "",
               b->o.zip ? b->o.zip : "null", b->o.zip ? "\"" : "");
    {
        int first = 1;
        size_t p;

        for (r = 0; r < NROUTES; r++)
            for (v = 0; v < NVARIANTS; v++) {
                struct cell *c = &b->cells[r][v];

                if (!c->on)
                    continue;
                buf_printf(&json, "%s{\"route\":\"%s\",\"variant\":\"%s\",\"fails\":%zu,",
                           first ? "" : ",", route_names[r], variant_names[v], c->fails);
                first = 0;
                series_json(&json, "init_ms", &c->init, 0);
                series_json(&json, "cold_ms", &c->cold, 0);
                series_json(&json, "warm_us", &c->warm, 0);
                series_json(&json, "rss_kb", &c->rss, 0);
                series_json(&json, "minor_faults", &c->faults, 0);
                buf_printf(&json, "\"journey_ms\":{");
                for (p = 0; p < c->nphases; p++)
                    buf_printf(&json, "%s\"%s\":%.4f", p ? "," : "", c->phases[p].name,
                               pct(&c->phases[p].ms, 50));
                buf_printf(&json, "}}");
            }
    }
    buf_printf(&json, "],");
    print_sizes(b, &json);

    if (br.ran) {
        printf("\nburst through ember-local: %d rounds of %d concurrent requests after every "
               "sandbox was reaped, then %d more (warm)\n", br.rounds, br.c, br.c);
        printf("  %-5s %6s %9s %9s %9s (client latency, ms)\n", "", "n", "p50", "p95", "max");
        printf("  %-5s %6zu %9.2f %9.2f %9.2f\n", "cold", br.cold.n, pct(&br.cold, 50),
               pct(&br.cold, 95), smax(&br.cold));
        printf("  %-5s %6zu %9.2f %9.2f %9.2f\n", "warm", br.warm.n, pct(&br.warm, 50),
               pct(&br.warm, 95), smax(&br.warm));
        if (br.errors)
            printf("  %zu errors; first: %s\n", br.errors, br.error);
        buf_printf(&json, ",\"burst\":{\"concurrency\":%d,\"rounds\":%d,\"errors\":%zu,",
                   br.c, br.rounds, br.errors);
        series_json(&json, "cold_ms", &br.cold, 0);
        series_json(&json, "warm_ms", &br.warm, 1);
        buf_printf(&json, "}");
    }

    nt = evaluate(b, t, 8);
    printf("\ntargets\n");
    buf_printf(&json, ",\"targets\":[");
    for (i = 0; i < nt; i++) {
        const char *verdict = !t[i].known ? "n/a" : t[i].value <= t[i].limit ? "PASS" : "MISS";

        if (t[i].known && t[i].value > t[i].limit)
            missed++;
        printf("  %-4s  %-40s %10.2f %s (limit %.2f)\n", verdict, t[i].what, t[i].value,
               t[i].unit, t[i].limit);
        buf_printf(&json, "%s{\"name\":\"%s\",\"what\":\"%s\",\"value\":%s%.4f,\"limit\":%.4f,"
                   "\"unit\":\"%s\",\"verdict\":\"%s\"}", i ? "," : "", t[i].name, t[i].what,
                   "", isnan(t[i].value) ? 0 : t[i].value, isnan(t[i].limit) ? 0 : t[i].limit,
                   t[i].unit, verdict);
    }
    buf_printf(&json, "],\"seconds\":%.1f}\n", (double) (now_ns() - t_start) / 1e9);

    svg = b->o.svg ? xstrdup(b->o.svg) : xasprintf("%s/cold-start.svg", b->o.out);
    write_svg(b, svg, t);
    printf("\nchart: %s\n", svg);
    if (b->o.json != NULL) {
        FILE *f = strcmp(b->o.json, "-") == 0 ? stdout : fopen(b->o.json, "w");

        if (f == NULL)
            die("%s: %s", b->o.json, strerror(errno));
        fputs(json.p, f);
        if (f != stdout)
            fclose(f);
        printf("json: %s\n", b->o.json);
    }
    printf("%.0f s\n", (double) (now_ns() - t_start) / 1e9);

    if (b->task_root != NULL) {
        char *cmd = xasprintf("rm -rf '%s'", b->task_root);

        if (system(cmd) != 0)
            fprintf(stderr, "ember-bench: could not remove %s\n", b->task_root);
        free(cmd);
    }
    for (r = 0; r < NROUTES; r++)
        for (v = 0; v < NVARIANTS; v++)
            if (b->cells[r][v].on && b->cells[r][v].fails > 0)
                missed++;
    return b->o.strict && missed > 0 ? 1 : 0;
}
