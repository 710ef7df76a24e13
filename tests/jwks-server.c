/*
 * jwks-server - a tiny HTTPS server (GnuTLS) for the auth tests: serves a
 * JWKS file and counts how often it was fetched.  127.0.0.1 only.
 *
 *   jwks-server --cert CERT.pem --key KEY.pem --jwks FILE
 *               [--port N] [--fetch-log F] [--detach]
 *
 * Prints the port it listens on (ephemeral unless --port) on stdout once it
 * accepts connections.  GET /jwks.json (any query) answers FILE, read anew
 * each time (404 if it is missing) and counts one fetch; GET /count
 * answers the count; anything else 404.  A query holding max-age=N adds
 * "Cache-Control: public, max-age=N" to the JWKS.  --fetch-log F gets one line per
 * fetch (the request target), so a test can count fetches with the runner's
 * "file_lines".  One connection at a time; each response closes its
 * connection.  Runs until killed.  --detach puts it in a session of its
 * own, out of the process group of whoever started it (the runner kills a
 * "shell" step's group once the step is done).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#define USAGE "usage: jwks-server --cert CERT --key KEY --jwks FILE [--port N] [--fetch-log F] [--detach]"

static unsigned long fetches;

static void die(const char *what)
{
    fprintf(stderr, "jwks-server: %s\n", what);
    exit(1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE  *f = fopen(path, "rb");
    char  *buf;
    size_t n;

    if (f == NULL)
        return NULL;
    buf = malloc(1024 * 1024);
    if (buf == NULL)
        die("out of memory");
    n = fread(buf, 1, 1024 * 1024, f);
    fclose(f);
    *len = n;
    return buf;
}

static void respond(gnutls_session_t s, int status, const char *type, const char *body,
                    size_t len, long max_age)
{
    char    head[320], cc[64] = "";
    int     n;

    if (max_age >= 0)
        snprintf(cc, sizeof(cc), "Cache-Control: public, max-age=%ld\r\n", max_age);
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                 "Connection: close\r\n\r\n", status, status == 200 ? "OK" : "Not Found",
                 type, len, cc);
    ssize_t w;
    size_t  off = 0;

    if (n < 0 || (size_t)n >= sizeof(head))
        return;
    while (off < (size_t)n) {
        w = gnutls_record_send(s, head + off, (size_t)n - off);
        if (w < 0)
            return;
        off += (size_t)w;
    }
    off = 0;
    while (off < len) {
        w = gnutls_record_send(s, body + off, len - off);
        if (w < 0)
            return;
        off += (size_t)w;
    }
}

static void log_fetch(const char *path, const char *target)
{
    FILE *f;

    if (path == NULL)
        return;
    f = fopen(path, "a");
    if (f == NULL)
        return;
    fprintf(f, "GET %s\n", target);
    fclose(f);
}

static void serve(int fd, gnutls_certificate_credentials_t cred, const char *jwks,
                  const char *fetch_log)
{
    gnutls_session_t s;
    char             req[8192], target[512], *path, *sp, *ma;
    long             max_age;
    size_t           got = 0;
    ssize_t          r;
    int              rc;

    if (gnutls_init(&s, GNUTLS_SERVER) < 0)
        die("gnutls_init failed");
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    gnutls_transport_set_int(s, fd);
    gnutls_handshake_set_timeout(s, 5000);
    do {
        rc = gnutls_handshake(s);
    } while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    if (rc < 0) {
        fprintf(stderr, "jwks-server: handshake: %s\n", gnutls_strerror(rc));
        goto done;
    }
    while (got < sizeof(req) - 1) {
        r = gnutls_record_recv(s, req + got, sizeof(req) - 1 - got);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r <= 0)
            goto done;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    if (strncmp(req, "GET ", 4) != 0)
        goto done;
    path = req + 4;
    sp = strchr(path, ' ');
    if (sp == NULL)
        goto done;
    *sp = '\0';
    snprintf(target, sizeof(target), "%.500s", path);
    max_age = -1;
    ma = strstr(target, "max-age=");
    if (ma != NULL)
        max_age = strtol(ma + 8, NULL, 10);
    sp = strchr(path, '?');
    if (sp != NULL)
        *sp = '\0';
    if (strcmp(path, "/jwks.json") == 0) {
        size_t len = 0;
        char  *body = slurp(jwks, &len);

        fetches++;
        log_fetch(fetch_log, target);
        if (body == NULL)
            respond(s, 404, "text/plain", "no such file\n", 13, -1);
        else
            respond(s, 200, "application/json", body, len, max_age);
        free(body);
    } else if (strcmp(path, "/count") == 0) {
        char n[32];
        int  len = snprintf(n, sizeof(n), "%lu\n", fetches);

        respond(s, 200, "text/plain", n, (size_t)len, -1);
    } else {
        respond(s, 404, "text/plain", "not found\n", 10, -1);
    }
    gnutls_bye(s, GNUTLS_SHUT_WR);
done:
    gnutls_deinit(s);
}

int main(int argc, char **argv)
{
    gnutls_certificate_credentials_t cred;
    struct sockaddr_in               sa;
    socklen_t                        salen = sizeof(sa);
    const char                      *cert = NULL, *key = NULL, *jwks = NULL, *fetch_log = NULL;
    int                              port = 0, one = 1, detach = 0, lfd, i, rc;

    for (i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(argv[i], "--detach") == 0) {
            detach = 1;
            continue;
        }
        if (v == NULL)
            die(USAGE);
        if (strcmp(argv[i], "--cert") == 0)
            cert = v;
        else if (strcmp(argv[i], "--key") == 0)
            key = v;
        else if (strcmp(argv[i], "--jwks") == 0)
            jwks = v;
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(v);
        else if (strcmp(argv[i], "--fetch-log") == 0)
            fetch_log = v;
        else
            die(USAGE);
        i++;
    }
    if (cert == NULL || key == NULL || jwks == NULL)
        die(USAGE);
    signal(SIGPIPE, SIG_IGN);
    if (detach)
        setsid();

    if (gnutls_global_init() < 0 || gnutls_certificate_allocate_credentials(&cred) < 0)
        die("gnutls init failed");
    rc = gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        fprintf(stderr, "jwks-server: %s, %s: %s\n", cert, key, gnutls_strerror(rc));
        return 1;
    }

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        die("socket failed");
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((unsigned short)port);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "jwks-server: bind 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    if (listen(lfd, 16) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
        die("listen failed");
    printf("%d\n", ntohs(sa.sin_port));
    fflush(stdout);

    for (;;) {
        struct timeval tv = { 5, 0 };
        int            fd = accept(lfd, NULL, NULL);

        if (fd < 0) {
            if (errno == EINTR)
                continue;
            die("accept failed");
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        serve(fd, cred, jwks, fetch_log);
        close(fd);
    }
}
