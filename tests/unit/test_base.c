/*
 * test_base.c - the foundation: buf, pool, error, xalloc and log.
 */
#define _GNU_SOURCE     /* strptime, timegm */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "pool.h"
#include "xalloc.h"
#include "../tap.h"

/* ------------------------------------------------------------------ buf */

static void test_buf(void)
{
    struct ember_buf b = EMBER_BUF_INIT;
    char            *before;
    size_t           cap, i;

    is_str(ember_buf_str(&b), "", "buf: empty buffer reads as \"\"");
    ok(b.data == NULL && b.len == 0, "buf: nothing allocated before the first append");

    ember_buf_append(&b, "ab\0cd", 5);
    is_int((long long) b.len, 5, "buf: append counts embedded NULs");
    ok(memcmp(b.data, "ab\0cd", 6) == 0, "buf: bytes kept, NUL-terminated");

    ember_buf_reset(&b);
    ember_buf_puts(&b, "hello");
    ember_buf_printf(&b, ", %s %d", "world", 42);
    is_str(ember_buf_str(&b), "hello, world 42", "buf: puts + printf");
    is_int((long long) b.len, 15, "buf: len after printf");

    ember_buf_printf(&b, "%s", "");
    is_int((long long) b.len, 15, "buf: empty printf appends nothing");

    ember_buf_consume(&b, 7);
    is_str(ember_buf_str(&b), "world 42", "buf: consume drops the head");
    is_int((long long) b.len, 8, "buf: len after consume");
    ember_buf_consume(&b, 100);
    is_str(ember_buf_str(&b), "", "buf: consume more than len empties it");
    is_int((long long) b.len, 0, "buf: len 0 after over-consume");

    for (i = 0; i < 100000; i++)
        ember_buf_append(&b, "0123456789", 10);
    is_int((long long) b.len, 1000000, "buf: grows to 1 MB");
    ok(b.cap > b.len && b.data[b.len] == '\0', "buf: still NUL-terminated after growth");
    ok(memcmp(b.data + 999990, "0123456789", 10) == 0, "buf: content intact after growth");

    ember_buf_printf(&b, "%0*d", 70000, 7);
    is_int((long long) b.len, 1070000, "buf: a printf bigger than the first block");
    is_int(b.data[b.len - 1], '7', "buf: big printf ends where expected");

    before = b.data;
    cap = b.cap;
    ember_buf_reset(&b);
    ok(b.len == 0 && b.data == before && b.cap == cap && b.data[0] == '\0',
       "buf: reset keeps the memory");

    ember_buf_free(&b);
    ok(b.data == NULL && b.len == 0 && b.cap == 0, "buf: free clears it");
    ember_buf_free(&b);
    ok(1, "buf: double free of a cleared buffer is harmless");
}

/* ------------------------------------------------------------------ pool */

static char order[16];
static size_t norder;

static void record(void *data)
{
    order[norder++] = *(const char *) data;
    order[norder] = '\0';
}

static void test_pool(void)
{
    struct ember_pool *p = ember_pool_create();
    unsigned char     *ptrs[5000];
    unsigned char     *big, *z;
    size_t             i, j, misaligned = 0, corrupt = 0;
    static const char  a = 'a', b = 'b', c = 'c';
    char              *s;

    for (i = 0; i < 5000; i++) {
        size_t n = 1 + i % 97;

        ptrs[i] = ember_pool_alloc(p, n);
        if ((uintptr_t) ptrs[i] % 16 != 0)
            misaligned++;
        memset(ptrs[i], (int) (i & 0xff), n);
    }
    for (i = 0; i < 5000; i++)
        for (j = 0; j < 1 + i % 97; j++)
            if (ptrs[i][j] != (unsigned char) (i & 0xff))
                corrupt++;
    is_int((long long) misaligned, 0, "pool: 5000 allocations all 16-aligned");
    is_int((long long) corrupt, 0, "pool: no allocation overlaps another");

    big = ember_pool_alloc(p, 1 << 20);
    ok((uintptr_t) big % 16 == 0, "pool: big allocation aligned");
    memset(big, 0xab, 1 << 20);
    ok(big[0] == 0xab && big[(1 << 20) - 1] == 0xab, "pool: big allocation usable end to end");
    ok(ptrs[4999][0] == (4999 & 0xff), "pool: big allocation leaves earlier ones alone");

    z = ember_pool_calloc(p, 300);
    for (i = 0, j = 0; i < 300; i++)
        j |= z[i];
    is_int((long long) j, 0, "pool: calloc zeroes");
    ok(ember_pool_alloc(p, 0) != NULL, "pool: alloc(0) is not NULL");

    s = ember_pool_strndup(p, "hello world", 5);
    is_str(s, "hello", "pool: strndup");
    s = ember_pool_strndup(p, "a\0b", 3);
    ok(memcmp(s, "a\0b\0", 4) == 0, "pool: strndup copies n bytes and terminates");
    is_str(ember_pool_strdup(p, "dup"), "dup", "pool: strdup");
    is_str(ember_pool_sprintf(p, "%s-%05d", "id", 42), "id-00042", "pool: sprintf");
    s = ember_pool_sprintf(p, "%0*d", 40000, 1);
    is_int((long long) strlen(s), 40000, "pool: sprintf longer than a block");

    norder = 0;
    ember_pool_cleanup_add(p, record, (void *) &a);
    ember_pool_cleanup_add(p, record, (void *) &b);
    ember_pool_cleanup_add(p, record, (void *) &c);
    ember_pool_reset(p);
    is_str(order, "cba", "pool: reset runs cleanups, last registered first");

    s = ember_pool_strdup(p, "after reset");
    is_str(s, "after reset", "pool: usable after reset");
    ember_pool_reset(p);
    is_str(order, "cba", "pool: cleanups run only once");

    norder = 0;
    ember_pool_cleanup_add(p, record, (void *) &a);
    ember_pool_cleanup_add(p, record, (void *) &b);
    ember_pool_destroy(p);
    is_str(order, "ba", "pool: destroy runs cleanups, last registered first");
    ember_pool_destroy(NULL);
    ok(1, "pool: destroy(NULL) is harmless");
}

/* ------------------------------------------------------------------ error */

static void test_error(void)
{
    struct ember_error err = { 0 };
    char               longer[600];
    int                rc;

    err.public_message = "kept";
    rc = ember_fail(&err, 404, "no item %d in %s", 7, "items");
    is_int(rc, EMBER_ERROR, "error: ember_fail returns EMBER_ERROR");
    is_int(err.status, 404, "error: status filled");
    is_str(err.message, "no item 7 in items", "error: message formatted");
    is_str(err.public_message, "kept", "error: public_message untouched");

    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    ember_fail(&err, 500, "%s", longer);
    is_int((long long) strlen(err.message), 511, "error: long message truncated to fit");

    is_int(ember_fail(NULL, 500, "nobody listens"), EMBER_ERROR, "error: NULL err is allowed");

    ember_error_clear(&err);
    ok(err.status == 0 && err.public_message == NULL && err.message[0] == '\0',
       "error: clear empties everything");

    is_str(ember_reason_phrase(200), "OK", "reason: 200");
    is_str(ember_reason_phrase(401), "Unauthorized", "reason: 401");
    is_str(ember_reason_phrase(404), "Not Found", "reason: 404");
    is_str(ember_reason_phrase(405), "Method Not Allowed", "reason: 405");
    is_str(ember_reason_phrase(413), "Payload Too Large", "reason: 413");
    is_str(ember_reason_phrase(500), "Internal Server Error", "reason: 500");
    is_str(ember_reason_phrase(503), "Service Unavailable", "reason: 503");
    is_str(ember_reason_phrase(299), "Error", "reason: unknown status");
    is_str(ember_reason_phrase(-1), "Error", "reason: negative status");
}

/* ------------------------------------------------------------------ xalloc */

/*
 * Does ember_pool_alloc(n) - what a plugin's host->palloc calls with any n
 * it likes - abort with the out-of-memory line instead of returning?  (Its
 * rounding to 16 bytes used to wrap near SIZE_MAX and hand out 16 bytes.)
 * Run in a child; its stderr in msg.  1: it aborted; -1: it died otherwise;
 * 0: it returned.
 */
static int pool_alloc_aborts(size_t n, char *msg, size_t msgsz)
{
    int     fds[2], st = 0;
    pid_t   pid;
    size_t  len = 0;
    ssize_t r;

    msg[0] = '\0';
    if (pipe(fds) != 0)
        return 0;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct ember_pool *p;
        unsigned char     *m;

        dup2(fds[1], 2);
        close(fds[0]);
        p = ember_pool_create();
        m = ember_pool_alloc(p, n);
        m[0] = 1;
        _exit(0);
    }
    close(fds[1]);
    while (len + 1 < msgsz && (r = read(fds[0], msg + len, msgsz - 1 - len)) > 0)
        len += (size_t) r;
    while (len > 0 && msg[len - 1] == '\n')
        len--;
    msg[len] = '\0';
    close(fds[0]);
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT)
        return 1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void test_pool_huge(void)
{
    char msg[512];

    ok(pool_alloc_aborts(SIZE_MAX - 3, msg, sizeof(msg)) == 1,
       "pool: alloc(SIZE_MAX - 3) aborts (its rounding would wrap to 16 bytes)");
    ok(strstr(msg, "out of memory allocating") != NULL, "pool: ... saying so (%s)", msg);
    ok(pool_alloc_aborts(SIZE_MAX - 20, msg, sizeof(msg)) == 1,
       "pool: alloc(SIZE_MAX - 20) aborts (block header + size would wrap)");
    /* an impossible size that does not wrap: malloc's no (or a sanitizer's) ends it */
    ok(pool_alloc_aborts(SIZE_MAX / 2 + 1, msg, sizeof(msg)) != 0,
       "pool: alloc(SIZE_MAX / 2 + 1) never returns");
}

static void test_xalloc(void)
{
    char  *p, *q;
    size_t i, nonzero = 0;
    int    status;
    pid_t  pid;

    p = ember_xmalloc(0);
    ok(p != NULL, "xalloc: xmalloc(0) is not NULL");
    free(p);

    p = ember_xcalloc(1000, 4);
    for (i = 0; i < 4000; i++)
        nonzero += p[i] != 0;
    is_int((long long) nonzero, 0, "xalloc: xcalloc zeroes");
    free(p);
    p = ember_xcalloc(0, 0);
    ok(p != NULL, "xalloc: xcalloc(0, 0) is not NULL");
    free(p);

    p = ember_xmalloc(4);
    memcpy(p, "abc", 4);
    p = ember_xrealloc(p, 1 << 20);
    is_str(p, "abc", "xalloc: xrealloc keeps the content");
    p[(1 << 20) - 1] = 'z';
    free(p);

    p = ember_xstrdup("hello");
    is_str(p, "hello", "xalloc: xstrdup");
    free(p);
    p = ember_xstrndup("hello", 3);
    is_str(p, "hel", "xalloc: xstrndup cuts at n");
    free(p);

    p = ember_xasprintf("%s=%d", "n", 12);
    is_str(p, "n=12", "xalloc: xasprintf");
    free(p);
    p = ember_xasprintf("%0*d", 100000, 3);
    q = p + 99999;
    ok(strlen(p) == 100000 && *q == '3', "xalloc: xasprintf of 100000 chars");
    free(p);

    /* out of memory aborts instead of returning NULL */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        p = ember_xmalloc(SIZE_MAX / 2);
        _exit(p == NULL ? 3 : 0);
    }
    waitpid(pid, &status, 0);
    ok(!(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3)),
       "xalloc: out of memory ends the process, never returns");
}

/* ------------------------------------------------------------------ log */

static int   saved_stderr = -1;
static FILE *capture_file;

static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(capture_file), STDERR_FILENO);
}

/* What was written to stderr since capture_begin(). Caller frees. */
static char *capture_end(void)
{
    struct stat st;
    char       *s;

    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    if (fstat(fileno(capture_file), &st) != 0)
        st.st_size = 0;
    s = ember_xcalloc(1, (size_t) st.st_size + 1);
    if (st.st_size > 0 && pread(fileno(capture_file), s, (size_t) st.st_size, 0) != st.st_size)
        s[0] = '\0';
    fclose(capture_file);
    return s;
}

/* "2026-12-01T02:00:00.123Z", within a minute of now. */
static int is_timestamp(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    struct tm tm;
    time_t    t;
    size_t    i;

    for (i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    memset(&tm, 0, sizeof(tm));
    if (strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return 0;
    t = timegm(&tm);
    return t - time(NULL) < 60 && time(NULL) - t < 60;
}

/* Checks one captured line: a timestamp, then exactly `rest`. */
static void is_line(const char *got, const char *rest, const char *name)
{
    ok(got != NULL && is_timestamp(got), "%s: timestamp shape", name);
    is_str(got && strlen(got) >= 24 ? got + 24 : got, rest, "%s: the rest of the line", name);
}

static void test_log(void)
{
    char               *out, *longmsg, *expect, *second;
    struct json_object *o, *v;

    unsetenv("AWS_LAMBDA_LOG_FORMAT");
    unsetenv("AWS_LAMBDA_LOG_LEVEL");
    ember_log_init();

    is_int(ember_log_level_parse("TRACE"), EMBER_LOG_TRACE, "log: parse TRACE");
    is_int(ember_log_level_parse("debug"), EMBER_LOG_DEBUG, "log: parse debug");
    is_int(ember_log_level_parse("Info"), EMBER_LOG_INFO, "log: parse Info");
    is_int(ember_log_level_parse("WARN"), EMBER_LOG_WARN, "log: parse WARN");
    is_int(ember_log_level_parse("error"), EMBER_LOG_ERROR, "log: parse error");
    is_int(ember_log_level_parse("FATAL"), EMBER_LOG_FATAL, "log: parse FATAL");
    is_int(ember_log_level_parse("WARNING"), -1, "log: parse WARNING is unknown");
    is_int(ember_log_level_parse(""), -1, "log: parse empty");
    is_int(ember_log_level_parse(NULL), -1, "log: parse NULL");

    /* plain */
    ember_log_set_request_id(NULL);
    capture_begin();
    ember_log(EMBER_LOG_INFO, "hello %d", 42);
    out = capture_end();
    is_line(out, "\tINFO\t-\thello 42\n", "log plain, no request id");
    free(out);

    ember_log_set_request_id("8476a536-e9f4-11e8-9739-2dfe598c3fcd");
    capture_begin();
    ember_log(EMBER_LOG_WARN, "GET /items/1 -> %d (%.2f ms)", 200, 1.234);
    out = capture_end();
    is_line(out, "\tWARN\t8476a536-e9f4-11e8-9739-2dfe598c3fcd\tGET /items/1 -> 200 (1.23 ms)\n",
            "log plain, with request id");
    free(out);

    capture_begin();
    ember_log(EMBER_LOG_ERROR, "first\nsecond\r\nthird\n\n\r\n");
    out = capture_end();
    is_line(out, "\tERROR\t8476a536-e9f4-11e8-9739-2dfe598c3fcd\tfirst second  third\n",
            "log plain: trailing newlines stripped, embedded ones become spaces");
    free(out);

    capture_begin();
    ember_log(EMBER_LOG_INFO, "%s", "");
    ember_log(EMBER_LOG_INFO, "\n");
    out = capture_end();
    second = strchr(out, '\n');
    ok(second != NULL, "log plain: two calls, two lines");
    second = second ? second + 1 : out;
    is_line(second, "\tINFO\t8476a536-e9f4-11e8-9739-2dfe598c3fcd\t\n",
            "log plain: a message of only a newline is empty");
    *second = '\0';
    is_line(out, "\tINFO\t8476a536-e9f4-11e8-9739-2dfe598c3fcd\t\n", "log plain: empty message");
    free(out);

    longmsg = ember_xmalloc(20001);
    memset(longmsg, 'm', 20000);
    longmsg[20000] = '\0';
    ember_log_set_request_id(NULL);
    capture_begin();
    ember_log(EMBER_LOG_INFO, "%s", longmsg);
    out = capture_end();
    expect = ember_xasprintf("\tINFO\t-\t%s\n", longmsg);
    is_line(out, expect, "log plain: a 20000-byte message in full");
    free(expect);
    free(out);
    free(longmsg);

    /* levels: default INFO */
    capture_begin();
    ember_log(EMBER_LOG_DEBUG, "hidden");
    ember_log(EMBER_LOG_TRACE, "hidden");
    out = capture_end();
    is_str(out, "", "log: DEBUG and TRACE filtered at the default INFO");
    free(out);
    ok(!ember_log_enabled(EMBER_LOG_DEBUG) && ember_log_enabled(EMBER_LOG_INFO)
       && ember_log_enabled(EMBER_LOG_FATAL), "log: enabled() at the default INFO");

    ember_log_set_level(EMBER_LOG_DEBUG);
    capture_begin();
    ember_log(EMBER_LOG_DEBUG, "shown");
    ember_log(EMBER_LOG_TRACE, "hidden");
    out = capture_end();
    is_line(out, "\tDEBUG\t-\tshown\n", "log: set_level(DEBUG) applies without env");
    free(out);

    ember_log_set_level(EMBER_LOG_ERROR);
    capture_begin();
    ember_log(EMBER_LOG_WARN, "hidden");
    ember_log(EMBER_LOG_FATAL, "fatal shown");
    out = capture_end();
    is_line(out, "\tFATAL\t-\tfatal shown\n", "log: set_level(ERROR) filters WARN");
    free(out);

    ember_log_set_level(42);
    ok(!ember_log_enabled(EMBER_LOG_WARN), "log: set_level with a bad level is ignored");

    /* env wins */
    setenv("AWS_LAMBDA_LOG_LEVEL", "warn", 1);
    ember_log_init();
    ember_log_set_level(EMBER_LOG_TRACE);
    ok(!ember_log_enabled(EMBER_LOG_INFO) && ember_log_enabled(EMBER_LOG_WARN),
       "log: AWS_LAMBDA_LOG_LEVEL=warn wins over set_level(TRACE)");
    capture_begin();
    ember_log(EMBER_LOG_INFO, "hidden");
    ember_log(EMBER_LOG_WARN, "shown");
    out = capture_end();
    is_line(out, "\tWARN\t-\tshown\n", "log: env level filters INFO");
    free(out);

    setenv("AWS_LAMBDA_LOG_LEVEL", "verbose", 1);
    capture_begin();
    ember_log_init();
    out = capture_end();
    is_line(out, "\tWARN\t-\tAWS_LAMBDA_LOG_LEVEL \"verbose\": unknown level "
            "(TRACE DEBUG INFO WARN ERROR FATAL); using INFO\n",
            "log: unknown env level is reported");
    free(out);
    ok(ember_log_enabled(EMBER_LOG_INFO) && !ember_log_enabled(EMBER_LOG_DEBUG),
       "log: unknown env level means INFO");
    ember_log_set_level(EMBER_LOG_DEBUG);
    ok(ember_log_enabled(EMBER_LOG_DEBUG), "log: unknown env level lets set_level apply");
    unsetenv("AWS_LAMBDA_LOG_LEVEL");

    /* JSON */
    setenv("AWS_LAMBDA_LOG_FORMAT", "json", 1);
    ember_log_init();
    ember_log_set_request_id("req-\"1\"");
    capture_begin();
    ember_log(EMBER_LOG_INFO, "say \"hi\"\\ /path\ttab\nline\x01 caf\xc3\xa9 bad\xff\n");
    out = capture_end();
    ok(strncmp(out, "{\"timestamp\":\"", 14) == 0 && is_timestamp(out + 14),
       "log json: timestamp first, shape");
    is_str(strlen(out) > 38 ? out + 38 : out,
           "\",\"level\":\"INFO\",\"requestId\":\"req-\\\"1\\\"\",\"message\":"
           "\"say \\\"hi\\\"\\\\ /path\\ttab\\nline\\u0001 caf\xc3\xa9 bad\xef\xbf\xbd\"}\n",
           "log json: escaped exactly, trailing newline stripped");
    o = json_tokener_parse(out);
    ok(o != NULL, "log json: the line parses as JSON");
    ok(o && json_object_object_get_ex(o, "message", &v)
       && strcmp(json_object_get_string(v),
                 "say \"hi\"\\ /path\ttab\nline\x01 caf\xc3\xa9 bad\xef\xbf\xbd") == 0,
       "log json: message round-trips");
    json_object_put(o);
    free(out);

    ember_log_set_request_id(NULL);
    capture_begin();
    ember_log(EMBER_LOG_ERROR, "no id");
    out = capture_end();
    is_str(strlen(out) > 38 ? out + 38 : out, "\",\"level\":\"ERROR\",\"message\":\"no id\"}\n",
           "log json: requestId omitted outside an invocation");
    free(out);

    capture_begin();
    ember_log(EMBER_LOG_DEBUG, "hidden");
    out = capture_end();
    is_str(out, "", "log json: level filter applies too");
    free(out);

    setenv("AWS_LAMBDA_LOG_FORMAT", "Text", 1);
    ember_log_init();
    capture_begin();
    ember_log(EMBER_LOG_INFO, "plain again");
    out = capture_end();
    is_line(out, "\tINFO\t-\tplain again\n", "log: AWS_LAMBDA_LOG_FORMAT=Text is plain");
    free(out);
    unsetenv("AWS_LAMBDA_LOG_FORMAT");
}

int main(void)
{
    test_buf();
    test_pool();
    test_error();
    test_xalloc();
    test_pool_huge();
    test_log();
    return done_testing();
}
