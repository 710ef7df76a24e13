/*
 * floor.c - the floor of the benchmark: a Lambda bootstrap that answers
 * every event with {"ok":true} (404 unless the event's path is /hello),
 * using libc alone.  One kept-alive socket to AWS_LAMBDA_RUNTIME_API
 * (numeric IPv4 "a.b.c.d:port"), no stdio, no allocation, no JSON parser:
 * what any runtime must at least do, so ember's times are quoted against it.
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
#include <unistd.h>

#define API "/2018-06-01/runtime/invocation/"

static char in[1 << 20];        /* what the Runtime API sent, not yet consumed */
static size_t inlen;

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
            die("floor: send failed\n");
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
                die("floor: reply too large\n");
            if (inlen >= need)
                break;
        }
        if (inlen + 1 >= sizeof(in))
            die("floor: reply too large\n");
        r = recv(fd, in + inlen, sizeof(in) - 1 - inlen, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("floor: connection closed\n");
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

static size_t put(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return n;
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
    static const char ok[] = "{\"statusCode\":200,\"headers\":{\"content-type\":"
                             "\"application/json\"},\"body\":\"{\\\"ok\\\":true}\"}";
    static const char nf[] = "{\"statusCode\":404,\"headers\":{\"content-type\":"
                             "\"application/json\"},\"body\":\"{\\\"message\\\":"
                             "\\\"Not Found\\\"}\"}";
    static const char next[] = "GET " API "next HTTP/1.1\r\nHost: api\r\n\r\n";
    const char        *api = getenv("AWS_LAMBDA_RUNTIME_API");
    const char        *colon, *body, *id, *idend, *res;
    struct sockaddr_in sa;
    char               host[64], req[1024];
    size_t             head, blen, n, rlen;
    int                fd, one = 1;

    if (api == NULL || (colon = strchr(api, ':')) == NULL || (size_t) (colon - api) >= sizeof(host))
        die("floor: AWS_LAMBDA_RUNTIME_API must be a.b.c.d:port\n");
    memcpy(host, api, (size_t) (colon - api));
    host[colon - api] = '\0';
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die("floor: AWS_LAMBDA_RUNTIME_API must be a.b.c.d:port\n");
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
        die("floor: cannot connect to the Runtime API\n");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    for (;;) {
        send_all(fd, next, sizeof(next) - 1);
        head = read_reply(fd, &body, &blen);
        id = strcasestr(in, "\r\nLambda-Runtime-Aws-Request-Id:");
        if (id == NULL || id > in + head)
            die("floor: no request id\n");
        id += 32;
        while (*id == ' ')
            id++;
        idend = strstr(id, "\r\n");
        if (idend == NULL || idend - id > 200)
            die("floor: bad request id\n");
        res = memmem(body, blen, "\"rawPath\":\"/hello\"", 18) != NULL ? ok : nf;
        rlen = strlen(res);

        n = put(req, "POST " API);
        memcpy(req + n, id, (size_t) (idend - id));
        n += (size_t) (idend - id);
        n += put(req + n, "/response HTTP/1.1\r\nHost: api\r\nContent-Length: ");
        n += put_num(req + n, rlen);
        n += put(req + n, "\r\n\r\n");
        n += put(req + n, res);
        consume(head + blen);
        send_all(fd, req, n);

        head = read_reply(fd, &body, &blen);
        consume(head + blen);
    }
}
