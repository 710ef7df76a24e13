/*
 * fetch-cost.c - what the first secrets fetch costs a cold process, two ways:
 * the db plugin's loopback GET (plugins/common/httpget.c, in db.so already)
 * and libcurl dlopen()ed for it (what auth-jwks.so does for JWKS).  Each
 * sample is a fresh fork timing one GET of the stand-in extension
 * (tests/secrets-ext), the two ways interleaved; medians printed.
 *
 *   cc -O2 -Iplugins/common -o /tmp/fetch-cost bench/fetch-cost.c \
 *      plugins/common/httpget.c plugins/common/plugutil.c -ldl
 *   mkdir /tmp/ext && echo x > /tmp/ext/secret.s && AWS_SESSION_TOKEN=t \
 *      _build/tests/secrets-ext --dir /tmp/ext &
 *   AWS_SESSION_TOKEN=t /tmp/fetch-cost $(cat /tmp/ext/port) 200
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "httpget.h"

#define TARGET "/secretsmanager/get?secretId=arn%3Aaws%3Asecretsmanager%3Aeu-west-1%3A1%3Asecret%3As"

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void) p;
    (void) u;
    return s * n;
}

/* One GET the way `how` says; its time in ms, or -1. */
static double one(int how, int port)
{
    char   hdr[512], url[512], why[128];
    double t0 = now_ms();

    snprintf(hdr, sizeof(hdr), "X-Aws-Parameters-Secrets-Token: %s", getenv("AWS_SESSION_TOKEN"));
    if (how == 0) {
        const char             *h[] = {hdr, NULL};
        struct ember_http_reply r;

        if (ember_http_get(port, TARGET, h, (int64_t) now_ms() + 5000, &r, why, sizeof(why)) != 0
            || r.status != 200)
            return -1;
        free(r.body);
    } else {
        void *lib = dlopen("libcurl-gnutls.so.4", RTLD_NOW | RTLD_LOCAL);
        void *(*init)(void), *(*append)(void *, const char *);
        int   (*setopt)(void *, int, ...), (*perform)(void *);
        void  (*cleanup)(void *);
        void *c, *list;

        if (lib == NULL)
            return -1;
        *(void **) &init = dlsym(lib, "curl_easy_init");
        *(void **) &setopt = dlsym(lib, "curl_easy_setopt");
        *(void **) &perform = dlsym(lib, "curl_easy_perform");
        *(void **) &cleanup = dlsym(lib, "curl_easy_cleanup");
        *(void **) &append = dlsym(lib, "curl_slist_append");
        c = init();
        snprintf(url, sizeof(url), "http://localhost:%d%s", port, TARGET);
        list = append(NULL, hdr);
        setopt(c, 10002 /* CURLOPT_URL */, url);
        setopt(c, 10023 /* CURLOPT_HTTPHEADER */, list);
        setopt(c, 20011 /* CURLOPT_WRITEFUNCTION */, sink);
        if (perform(c) != 0)
            return -1;
        cleanup(c);
    }
    return now_ms() - t0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int     port = argc > 1 ? atoi(argv[1]) : 2773, n = argc > 2 ? atoi(argv[2]) : 100, i, how;
    double *r[2];

    r[0] = calloc((size_t) n, sizeof(double));
    r[1] = calloc((size_t) n, sizeof(double));
    for (i = 0; i < n; i++) {
        for (how = 0; how < 2; how++) {
            int   p[2];
            pid_t pid;

            if (pipe(p) != 0)
                return 1;
            pid = fork();
            if (pid == 0) {
                double d = one(how, port);

                if (write(p[1], &d, sizeof(d)) < 0)
                    _exit(1);
                _exit(0);
            }
            close(p[1]);
            if (read(p[0], &r[how][i], sizeof(double)) != sizeof(double))
                r[how][i] = -1;
            close(p[0]);
            waitpid(pid, NULL, 0);
        }
    }
    for (how = 0; how < 2; how++) {
        qsort(r[how], (size_t) n, sizeof(double), cmp);
        printf("%-34s median %.3f ms  p10 %.3f  p90 %.3f  (n=%d)\n",
               how == 0 ? "loopback GET (httpget.c)" : "dlopen libcurl-gnutls + GET",
               r[how][n / 2], r[how][n / 10], r[how][n * 9 / 10], n);
    }
    return 0;
}
