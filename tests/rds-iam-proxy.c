/*
 * rds-iam-proxy.c - the tests' stand-in for RDS IAM authentication: a
 * PostgreSQL-protocol front on 127.0.0.1 that does what RDS does with a
 * user granted rds_iam, then hands the session to a real PostgreSQL.
 *
 * Why a proxy: PostgreSQL cannot call out to check a password, so nothing
 * inside the server can verify an IAM token.  RDS asks the client for a
 * cleartext password over TLS and checks it as a SigV4-presigned
 * `connect` request; this program does the same, with its own code (OpenSSL's
 * SHA-256 and HMAC, its own parsing and canonicalisation: nothing of
 * plugins/db/sigv4.c), against the credentials it is given:
 *
 *   1. TLS is required (SSLRequest -> 'S' -> handshake; plain startup: FATAL);
 *   2. StartupMessage -> AuthenticationCleartextPassword -> the token;
 *   3. the token must be HOST:PORT/? (this proxy's) + a query holding exactly
 *      Action=connect, DBUser (= the startup user), X-Amz-Algorithm
 *      AWS4-HMAC-SHA256, X-Amz-Credential AKID/DATE/REGION/rds-db/aws4_request,
 *      X-Amz-Date (DATE's day, not in the future, not older than X-Amz-Expires),
 *      X-Amz-Expires (<= 900), X-Amz-Security-Token (= the expected one),
 *      X-Amz-SignedHeaders=host, and X-Amz-Signature last, equal to the one
 *      recomputed over the canonical request (decoded, re-encoded, sorted);
 *   4. a bad token gets what RDS sends, FATAL 28P01 "PAM authentication failed
 *      for user", and the reason goes to the proxy's log (--log);
 *   5. a good one: the startup packet goes to the real server over its unix
 *      socket (trust), and bytes are relayed both ways until one side closes.
 *      CancelRequest packets are forwarded as they are.
 *
 * The expected credentials are read from files at each connection, so a test
 * can change them (an IAM policy being fixed) without restarting anything:
 *
 *   rds-iam-proxy --cert PEM --key PEM --pg-socket PATH --creds FILE --log FILE
 *                 --port-file FILE [--once FILE]
 *
 * FILE (--creds): four lines: access key id, secret key, session token (may be
 * empty), region.  --once FILE: refuse a token seen before (RDS accepts a token
 * for 15 minutes; refusing replays shows the client makes one per connection).
 */
#define _GNU_SOURCE
/* messages are cut to their buffers on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#define SSL_REQUEST     80877103
#define CANCEL_REQUEST  80877102
#define GSSENC_REQUEST  80877104

static const char *opt_cert, *opt_key, *opt_socket, *opt_creds, *opt_log, *opt_once;
static int         listen_port;

static void logf_(const char *fmt, ...)
{
    FILE   *f = fopen(opt_log, "a");
    va_list ap;

    if (f == NULL)
        return;
    fprintf(f, "[%d] ", (int) getpid());
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* ---------------------------------------------------------------- I/O */

struct peer {
    int  fd;
    SSL *ssl;    /* NULL: plain */
};

static int rd(struct peer *p, void *buf, size_t n)
{
    size_t got = 0;
    int    r;

    while (got < n) {
        if (p->ssl != NULL)
            r = SSL_read(p->ssl, (char *) buf + got, (int) (n - got));
        else
            r = (int) read(p->fd, (char *) buf + got, n - got);
        if (r <= 0) {
            if (r < 0 && p->ssl == NULL && errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t) r;
    }
    return 0;
}

static int wr(struct peer *p, const void *buf, size_t n)
{
    size_t done = 0;
    int    r;

    while (done < n) {
        if (p->ssl != NULL)
            r = SSL_write(p->ssl, (const char *) buf + done, (int) (n - done));
        else
            r = (int) write(p->fd, (const char *) buf + done, n - done);
        if (r <= 0) {
            if (r < 0 && p->ssl == NULL && errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t) r;
    }
    return 0;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16 | (uint32_t) b[2] << 8 | b[3];
}

static void put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char) (v >> 24);
    b[1] = (unsigned char) (v >> 16);
    b[2] = (unsigned char) (v >> 8);
    b[3] = (unsigned char) v;
}

/* An ErrorResponse (severity FATAL) with SQLSTATE code and message. */
static void fatal(struct peer *p, const char *code, const char *msg)
{
    unsigned char buf[1024];
    size_t        n = 5;

    n += (size_t) snprintf((char *) buf + n, sizeof(buf) - n, "SFATAL%cVFATAL%cC%s%cM%s%c%c",
                           0, 0, code, 0, msg, 0, 0);
    buf[0] = 'E';
    put32(buf + 1, (uint32_t) (n - 1));
    wr(p, buf, n);
}

/* ---------------------------------------------------------------- the token */

struct creds {
    char akid[256], secret[256], token[4096], region[64];
};

static int read_creds(struct creds *c)
{
    FILE *f = fopen(opt_creds, "r");
    char *fields[4] = {c->akid, c->secret, c->token, c->region};
    size_t sizes[4] = {sizeof(c->akid), sizeof(c->secret), sizeof(c->token), sizeof(c->region)};
    int   i;

    if (f == NULL)
        return -1;
    for (i = 0; i < 4; i++) {
        if (fgets(fields[i], (int) sizes[i], f) == NULL)
            fields[i][0] = '\0';
        fields[i][strcspn(fields[i], "\r\n")] = '\0';
    }
    fclose(f);
    return 0;
}

static int unhex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode into out (size n); -1 on a bad escape or overflow. */
static int pct_decode(const char *s, size_t len, char *out, size_t n)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        if (o + 1 >= n)
            return -1;
        if (s[i] == '%') {
            if (i + 2 >= len || unhex(s[i + 1]) < 0 || unhex(s[i + 2]) < 0)
                return -1;
            out[o++] = (char) (unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return 0;
}

/* RFC 3986 unreserved kept, the rest %XX upper-case. */
static void pct_encode(const char *s, char *out, size_t n)
{
    size_t o = 0;

    for (; *s != '\0' && o + 4 < n; s++) {
        unsigned char c = (unsigned char) *s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_' || c == '.' || c == '~')
            out[o++] = (char) c;
        else
            o += (size_t) snprintf(out + o, n - o, "%%%02X", c);
    }
    out[o] = '\0';
}

struct param {
    char key[64];
    char val[4096];       /* decoded */
    char enc[12288];      /* re-encoded, canonical */
};

static int by_key(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    char                ka[200], kb[200];

    pct_encode(x->key, ka, sizeof(ka));
    pct_encode(y->key, kb, sizeof(kb));
    return strcmp(ka, kb);
}

static void hexs(const unsigned char *d, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;

    HMAC(EVP_sha256(), key, (int) klen, (const unsigned char *) msg, strlen(msg), out, &len);
}

/* NULL if the token is good for user; else why not. */
static const char *verify(const char *tok, const char *user, char *why, size_t wn)
{
    static struct param p[12];
    struct creds        c;
    char                prefix[64], cq[32768], creq[40000], sts[512], scope[256], want[65];
    char                hx[65], kbuf[300], credential[600];
    unsigned char       d[32], k1[32], k2[32];
    const char         *q, *sig = NULL;
    size_t              np = 0, i, o;
    struct tm           tm = {0};
    time_t              t, now = time(NULL);
    long                expires;

    if (read_creds(&c) != 0)
        return "cannot read --creds";
    snprintf(prefix, sizeof(prefix), "127.0.0.1:%d/?", listen_port);
    if (strncmp(tok, prefix, strlen(prefix)) != 0) {
        snprintf(why, wn, "token is not for %s", prefix);
        return why;
    }
    q = tok + strlen(prefix);
    while (*q != '\0') {
        const char *amp = strchr(q, '&'), *eq;
        size_t      len = amp ? (size_t) (amp - q) : strlen(q);

        eq = memchr(q, '=', len);
        if (eq == NULL || np == sizeof(p) / sizeof(p[0]) || (size_t) (eq - q) >= sizeof(p[np].key))
            return "malformed query";
        if (strncmp(q, "X-Amz-Signature=", 16) == 0) {
            if (amp != NULL)
                return "X-Amz-Signature is not last";
            sig = eq + 1;
            break;
        }
        memcpy(p[np].key, q, (size_t) (eq - q));
        p[np].key[eq - q] = '\0';
        if (pct_decode(eq + 1, len - (size_t) (eq - q) - 1, p[np].val, sizeof(p[np].val)) != 0)
            return "bad percent-encoding";
        pct_encode(p[np].val, p[np].enc, sizeof(p[np].enc));
        np++;
        q += len + (amp != NULL);
    }
    if (sig == NULL || strlen(sig) != 64)
        return "no X-Amz-Signature";

    /* what must be there, and nothing else */
    {
        static const char *const need[] = {"Action", "DBUser", "X-Amz-Algorithm",
                                           "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                                           "X-Amz-SignedHeaders"};
        const char *v[8] = {0}, *tokv = NULL;

        for (i = 0; i < np; i++) {
            size_t j;
            int    known = 0;

            for (j = 0; j < 7; j++)
                if (strcmp(p[i].key, need[j]) == 0) {
                    if (v[j] != NULL)
                        return "a parameter is repeated";
                    v[j] = p[i].val;
                    known = 1;
                }
            if (strcmp(p[i].key, "X-Amz-Security-Token") == 0) {
                tokv = p[i].val;
                known = 1;
            }
            if (!known) {
                snprintf(why, wn, "unexpected parameter %s", p[i].key);
                return why;
            }
        }
        for (i = 0; i < 7; i++)
            if (v[i] == NULL) {
                snprintf(why, wn, "missing %s", need[i]);
                return why;
            }
        if (strcmp(v[0], "connect") != 0)
            return "Action is not connect";
        if (strcmp(v[1], user) != 0) {
            snprintf(why, wn, "DBUser \"%s\" is not the startup user \"%s\"", v[1], user);
            return why;
        }
        if (strcmp(v[2], "AWS4-HMAC-SHA256") != 0)
            return "X-Amz-Algorithm is not AWS4-HMAC-SHA256";
        if (strcmp(v[6], "host") != 0)
            return "X-Amz-SignedHeaders is not host";
        if (strptime(v[4], "%Y%m%dT%H%M%SZ", &tm) == NULL || strlen(v[4]) != 16)
            return "bad X-Amz-Date";
        t = timegm(&tm);
        expires = strtol(v[5], NULL, 10);
        if (expires <= 0 || expires > 900)
            return "X-Amz-Expires is not 1..900";
        if (t > now + 60)
            return "X-Amz-Date is in the future";
        if (now > t + expires) {
            snprintf(why, wn, "token expired %ld s ago", (long) (now - t - expires));
            return why;
        }
        snprintf(scope, sizeof(scope), "%.8s/%s/rds-db/aws4_request", v[4], c.region);
        snprintf(credential, sizeof(credential), "%s/%s", c.akid, scope);
        if (strcmp(v[3], credential) != 0) {
            snprintf(why, wn, "credential scope is not %s/<date>/%s/rds-db/aws4_request "
                     "(wrong access key, region or date)", c.akid, c.region);
            return why;
        }
        if ((c.token[0] != '\0') != (tokv != NULL)
            || (tokv != NULL && strcmp(tokv, c.token) != 0))
            return "X-Amz-Security-Token is not the session's";

        /* the canonical request, from the decoded values */
        qsort(p, np, sizeof(p[0]), by_key);
        o = 0;
        for (i = 0; i < np; i++) {
            char ek[200];

            pct_encode(p[i].key, ek, sizeof(ek));
            o += (size_t) snprintf(cq + o, sizeof(cq) - o, "%s%s=%s", i ? "&" : "", ek,
                                   p[i].enc);
        }
        SHA256((const unsigned char *) "", 0, d);
        hexs(d, 32, hx);
        snprintf(creq, sizeof(creq), "GET\n/\n%s\nhost:127.0.0.1:%d\n\nhost\n%s", cq,
                 listen_port, hx);
        SHA256((const unsigned char *) creq, strlen(creq), d);
        hexs(d, 32, hx);
        snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", v[4], scope, hx);
        snprintf(kbuf, sizeof(kbuf), "AWS4%s", c.secret);
        {
            char date[9];

            snprintf(date, sizeof(date), "%.8s", v[4]);
            hmac(kbuf, strlen(kbuf), date, k1);
        }
        hmac(k1, 32, c.region, k2);
        hmac(k2, 32, "rds-db", k1);
        hmac(k1, 32, "aws4_request", k2);
        hmac(k2, 32, sts, d);
        hexs(d, 32, want);
        if (CRYPTO_memcmp(want, sig, 64) != 0)
            return "signature mismatch (wrong secret key, or a canonicalisation bug)";
    }
    if (opt_once != NULL) {
        FILE *f = fopen(opt_once, "a+");
        char  line[128];

        if (f == NULL)
            return "cannot open --once file";
        rewind(f);
        while (fgets(line, sizeof(line), f) != NULL)
            if (strncmp(line, sig, 64) == 0) {
                fclose(f);
                return "token replayed (seen on an earlier connection)";
            }
        fprintf(f, "%.64s\n", sig);
        fclose(f);
    }
    return NULL;
}

/* ---------------------------------------------------------------- a session */

static int upstream(void)
{
    struct sockaddr_un sa;
    int                fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", opt_socket);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void relay(struct peer *cl, int up)
{
    char          buf[16384];
    struct pollfd pf[2];
    int           r;

    for (;;) {
        if (SSL_pending(cl->ssl) == 0) {
            pf[0].fd = cl->fd;
            pf[0].events = POLLIN;
            pf[1].fd = up;
            pf[1].events = POLLIN;
            pf[0].revents = pf[1].revents = 0;
            if (poll(pf, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return;
            }
        } else {
            pf[0].revents = POLLIN;
            pf[1].revents = 0;
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            r = SSL_read(cl->ssl, buf, sizeof(buf));
            if (r <= 0)
                return;
            if (write(up, buf, (size_t) r) != r)
                return;
        }
        if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            r = (int) read(up, buf, sizeof(buf));
            if (r <= 0 || SSL_write(cl->ssl, buf, r) <= 0)
                return;
        }
    }
}

static void session(SSL_CTX *ctx, int fd)
{
    struct peer   cl = {fd, NULL};
    unsigned char hdr[8], *pkt = NULL, auth[9], *pw = NULL;
    uint32_t      len, code;
    const char   *user = NULL, *why;
    char          whybuf[512], msg[600];
    size_t        off;
    int           up;

    for (;;) {
        if (rd(&cl, hdr, 8) != 0)
            return;
        len = be32(hdr);
        code = be32(hdr + 4);
        if (len < 8 || len > 10000)
            return;
        if (code == CANCEL_REQUEST && cl.ssl == NULL) {
            unsigned char rest[8];

            if (len != 16 || rd(&cl, rest, 8) != 0)
                return;
            up = upstream();
            if (up >= 0) {
                if (write(up, hdr, 8) != 8 || write(up, rest, 8) != 8)
                    logf_("cancel: could not forward");
                close(up);
            }
            logf_("cancel request forwarded");
            return;
        }
        if (code == GSSENC_REQUEST && cl.ssl == NULL) {
            wr(&cl, "N", 1);
            continue;
        }
        if (code == SSL_REQUEST && cl.ssl == NULL) {
            wr(&cl, "S", 1);
            cl.ssl = SSL_new(ctx);
            SSL_set_fd(cl.ssl, fd);
            if (SSL_accept(cl.ssl) != 1) {
                logf_("TLS handshake failed");
                return;
            }
            continue;
        }
        break;
    }
    if (cl.ssl == NULL) {
        logf_("refused: startup without TLS");
        fatal(&cl, "28000", "IAM authentication requires SSL");
        return;
    }
    pkt = malloc(len);
    memcpy(pkt, hdr, 8);
    if (rd(&cl, pkt + 8, len - 8) != 0)
        goto out;
    for (off = 8; off < len && pkt[off] != '\0';) {
        const char *k = (const char *) pkt + off, *v = k + strlen(k) + 1;

        if (strcmp(k, "user") == 0)
            user = v;
        off = (size_t) (v - (const char *) pkt) + strlen(v) + 1;
    }
    if (user == NULL)
        goto out;
    auth[0] = 'R';
    put32(auth + 1, 8);
    put32(auth + 5, 3);                           /* AuthenticationCleartextPassword */
    if (wr(&cl, auth, 9) != 0 || rd(&cl, hdr, 5) != 0 || hdr[0] != 'p')
        goto out;
    len = be32(hdr + 1);
    if (len < 5 || len > 20000)
        goto out;
    pw = malloc(len - 4 + 1);
    if (rd(&cl, pw, len - 4) != 0)
        goto out;
    pw[len - 4] = '\0';
    why = verify((const char *) pw, user, whybuf, sizeof(whybuf));
    if (why != NULL) {
        logf_("refused %s: %s", user, why);
        snprintf(msg, sizeof(msg), "PAM authentication failed for user \"%s\"", user);
        fatal(&cl, "28P01", msg);
        goto out;
    }
    logf_("accepted %s", user);
    up = upstream();
    if (up < 0) {
        fatal(&cl, "08006", "the proxy could not reach the server");
        goto out;
    }
    if (write(up, pkt, be32(pkt)) == (ssize_t) be32(pkt))
        relay(&cl, up);
    close(up);
out:
    free(pkt);
    free(pw);
    if (cl.ssl != NULL) {
        SSL_shutdown(cl.ssl);
        SSL_free(cl.ssl);
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    socklen_t          sl = sizeof(sa);
    const char        *port_file = NULL;
    SSL_CTX           *ctx;
    FILE              *f;
    int                i, lfd, one = 1;

    for (i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];

        if (strcmp(o, "--cert") == 0) opt_cert = v;
        else if (strcmp(o, "--key") == 0) opt_key = v;
        else if (strcmp(o, "--pg-socket") == 0) opt_socket = v;
        else if (strcmp(o, "--creds") == 0) opt_creds = v;
        else if (strcmp(o, "--log") == 0) opt_log = v;
        else if (strcmp(o, "--once") == 0) opt_once = v;
        else if (strcmp(o, "--port-file") == 0) port_file = v;
        else if (strcmp(o, "--port") == 0) listen_port = atoi(v);
        else break;
    }
    if (i != argc || !opt_cert || !opt_key || !opt_socket || !opt_creds || !opt_log || !port_file) {
        fprintf(stderr, "usage: rds-iam-proxy --cert PEM --key PEM --pg-socket PATH --creds FILE "
                "--log FILE --port-file FILE [--port N] [--once FILE]\n");
        return 2;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, opt_cert) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, opt_key, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "rds-iam-proxy: cannot load %s / %s\n", opt_cert, opt_key);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN);                     /* no zombies */
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) listen_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0
        || getsockname(lfd, (struct sockaddr *) &sa, &sl) < 0) {
        fprintf(stderr, "rds-iam-proxy: listen: %s\n", strerror(errno));
        return 1;
    }
    listen_port = ntohs(sa.sin_port);
    {
        char tmp[4096];

        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        f = fopen(tmp, "w");
        if (f == NULL)
            return 1;
        fprintf(f, "%d\n", listen_port);
        fclose(f);
        rename(tmp, port_file);
    }
    for (;;) {
        int   cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        pid_t pid;

        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            close(lfd);
            session(ctx, cfd);
            close(cfd);
            _exit(0);
        }
        close(cfd);
    }
}
