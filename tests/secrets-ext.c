/*
 * secrets-ext.c - a stand-in for the AWS Parameters and Secrets Lambda
 * Extension, for the tests: HTTP/1.1 on 127.0.0.1, one request per
 * connection, answering what the real one answers for
 *
 *   GET /secretsmanager/get?secretId=ARN
 *   X-Aws-Parameters-Secrets-Token: <the function's AWS_SESSION_TOKEN>
 *
 * with GetSecretValue's JSON ({"ARN","Name","SecretString","VersionId",
 * "VersionStages","CreatedDate"}).  Usage:
 *
 *   secrets-ext --dir DIR [--port N]
 *
 * It writes DIR/port and DIR/pid once listening, and reads, at each request:
 *   DIR/secret.NAME   the SecretString of the ARN ending in ":secret:NAME"
 *                     (missing: 400, as the extension answers for an unknown
 *                     secret)
 *   DIR/status        if present, answer this status (e.g. 500) instead
 *   DIR/chunked       if present, send the body chunked
 * and appends one line per request to DIR/requests ("NAME STATUS"), never
 * the value.  The token must equal $AWS_SESSION_TOKEN (else 401).  Stops on
 * SIGTERM/SIGINT.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *dir;

static char *slurp(const char *path)
{
    FILE  *f = fopen(path, "rb");
    char  *p = NULL;
    size_t n = 0, cap = 0, r;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            p = realloc(p, cap);
            if (p == NULL)
                abort();
        }
        r = fread(p + n, 1, 4096, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    p[n] = '\0';
    while (n > 0 && p[n - 1] == '\n')      /* files end with a newline; secrets do not */
        p[--n] = '\0';
    return p;
}

static void json_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char) *s;

        if (c == '"' || c == '\\')
            fprintf(o, "\\%c", c);
        else if (c < 0x20)
            fprintf(o, "\\u%04x", c);
        else
            fputc(c, o);
    }
    fputc('"', o);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void url_decode(char *s)
{
    char *o = s;

    for (; *s != '\0'; s++) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char) (hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
}

static void logreq(const char *name, int status)
{
    char  path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/requests", dir);
    f = fopen(path, "a");
    if (f != NULL) {
        fprintf(f, "%s %d\n", name, status);
        fclose(f);
    }
}

static void reply(int fd, int status, const char *body, int chunked)
{
    char   head[512];
    size_t n = strlen(body);
    int    hl;

    if (chunked)
        hl = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%zx\r\n", status,
                      n);
    else
        hl = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, n);
    if (write(fd, head, (size_t) hl) < 0 || write(fd, body, n) < 0)
        return;
    if (chunked && write(fd, "\r\n0\r\n\r\n", 7) < 0)
        return;
}

static void serve(int fd)
{
    char        req[16384], path[4096], name[512], *p, *e, *tok, *arn, *status_s, *secret;
    const char *want = getenv("AWS_SESSION_TOKEN");
    size_t      n = 0;
    ssize_t     r;
    int         status = 200, chunked;

    while (n < sizeof(req) - 1) {
        r = read(fd, req + n, sizeof(req) - 1 - n);
        if (r <= 0)
            return;
        n += (size_t) r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    snprintf(path, sizeof(path), "%s/chunked", dir);
    chunked = access(path, F_OK) == 0;
    if (strncmp(req, "GET /secretsmanager/get?secretId=", 33) != 0) {
        reply(fd, 400, "{\"message\":\"bad request\"}", chunked);
        logreq("-", 400);
        return;
    }
    arn = req + 33;
    e = arn + strcspn(arn, " &");
    *e = '\0';
    url_decode(arn);
    p = strstr(arn, ":secret:");
    snprintf(name, sizeof(name), "%s", p != NULL ? p + 8 : "-");
    tok = strcasestr(e + 1, "\r\nX-Aws-Parameters-Secrets-Token:");
    if (tok != NULL) {
        tok += 33;
        while (*tok == ' ')
            tok++;
        tok[strcspn(tok, "\r")] = '\0';
    }
    if (want == NULL || tok == NULL || strcmp(tok, want) != 0) {
        reply(fd, 401, "{\"message\":\"missing or bad X-Aws-Parameters-Secrets-Token\"}", chunked);
        logreq(name, 401);
        return;
    }
    snprintf(path, sizeof(path), "%s/status", dir);
    status_s = slurp(path);
    if (status_s != NULL) {
        status = atoi(status_s);
        free(status_s);
    }
    snprintf(path, sizeof(path), "%s/secret.%s", dir, name);
    secret = strchr(name, '/') == NULL ? slurp(path) : NULL;
    if (status == 200 && secret == NULL)
        status = 400;
    if (status != 200) {
        reply(fd, status, "{\"message\":\"Secrets Manager can't find the specified secret.\"}",
              chunked);
    } else {
        char  *body = NULL;
        size_t blen = 0;
        FILE  *o = open_memstream(&body, &blen);

        fputs("{\"ARN\":", o);
        json_str(o, arn);
        fputs(",\"CreatedDate\":\"2026-01-01T00:00:00Z\",\"Name\":", o);
        json_str(o, name);
        fputs(",\"SecretBinary\":null,\"SecretString\":", o);
        json_str(o, secret);
        fputs(",\"VersionId\":\"a1b2c3d4-5678-90ab-cdef-EXAMPLE11111\","
              "\"VersionStages\":[\"AWSCURRENT\"],\"ResultMetadata\":{}}", o);
        fclose(o);
        reply(fd, 200, body, chunked);
        free(body);
    }
    logreq(name, status);
    free(secret);
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void) sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    socklen_t          sl = sizeof(sa);
    struct sigaction   act;
    char               path[4096];
    FILE              *f;
    int                i, port = 0, lfd, one = 1;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
    }
    if (dir == NULL || i != argc) {
        fprintf(stderr, "usage: secrets-ext --dir DIR [--port N]\n");
        return 2;
    }
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    signal(SIGPIPE, SIG_IGN);

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0
        || getsockname(lfd, (struct sockaddr *) &sa, &sl) < 0) {
        fprintf(stderr, "secrets-ext: listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    snprintf(path, sizeof(path), "%s/pid", dir);
    f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%d\n", (int) getpid());
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/port.tmp", dir);
    f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%d\n", ntohs(sa.sin_port));
        fclose(f);
        snprintf(path + strlen(path) - 4, 5, "%s", "");
        {
            char tmp[4096];

            snprintf(tmp, sizeof(tmp), "%s/port.tmp", dir);
            rename(tmp, path);
        }
    }
    while (!stop) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        serve(cfd);
        close(cfd);
    }
    close(lfd);
    return 0;
}
