/*
 * log.c - one line per call on stderr, written with a single write(2) so
 * lines of concurrent writers do not interleave.
 *
 * Plain: "2026-12-01T02:00:00.123Z\tINFO\t<request id or ->\t<message>\n"
 * JSON (AWS_LAMBDA_LOG_FORMAT=JSON):
 *   {"timestamp":"...","level":"INFO","requestId":"...","message":"..."}
 * (no requestId outside an invocation).  AWS_LAMBDA_LOG_LEVEL sets the
 * floor and then ember_log_set_level() is ignored: the environment wins.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "text.h"
#include "xalloc.h"

static const char *const level_names[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL" };
#define NLEVELS ((int) (sizeof(level_names) / sizeof(level_names[0])))

static int   floor_level = EMBER_LOG_INFO;
static int   env_level;         /* AWS_LAMBDA_LOG_LEVEL set the floor */
static int   json;
static char *request_id;        /* owned */

int ember_log_level_parse(const char *s)
{
    int i;

    if (s == NULL)
        return -1;
    for (i = 0; i < NLEVELS; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

/* Resets to the defaults, then applies the environment. */
void ember_log_init(void)
{
    const char *format = getenv("AWS_LAMBDA_LOG_FORMAT");
    const char *level = getenv("AWS_LAMBDA_LOG_LEVEL");
    int         n = ember_log_level_parse(level);

    json = format != NULL && strcasecmp(format, "JSON") == 0;
    floor_level = n >= 0 ? n : EMBER_LOG_INFO;
    env_level = n >= 0;
    if (n < 0 && level != NULL && *level != '\0')
        ember_log(EMBER_LOG_WARN, "AWS_LAMBDA_LOG_LEVEL \"%s\": unknown level "
                  "(TRACE DEBUG INFO WARN ERROR FATAL); using INFO", level);
}

void ember_log_set_level(int level)
{
    if (env_level || level < 0 || level >= NLEVELS)
        return;
    floor_level = level;
}

int ember_log_enabled(int level)
{
    return level >= floor_level;
}

void ember_log_set_request_id(const char *id)
{
    free(request_id);
    request_id = id ? ember_xstrdup(id) : NULL;
}

/* Plain text: newlines (and CRs) become spaces, so one call is one line. */
static void put_plain(struct ember_buf *b, const char *s, size_t n)
{
    size_t i, start = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '\n' || s[i] == '\r') {
            ember_buf_append(b, s + start, i - start);
            ember_buf_append(b, " ", 1);
            start = i + 1;
        }
    }
    ember_buf_append(b, s + start, n - start);
}

/* A JSON string: escapes, and U+FFFD for bytes that are not UTF-8. */
static void put_json(struct ember_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *) s;
    size_t               i = 0, len;

    ember_buf_append(b, "\"", 1);
    while (i < n) {
        switch (u[i]) {
        case '"':  ember_buf_append(b, "\\\"", 2); i++; continue;
        case '\\': ember_buf_append(b, "\\\\", 2); i++; continue;
        case '\n': ember_buf_append(b, "\\n", 2); i++; continue;
        case '\r': ember_buf_append(b, "\\r", 2); i++; continue;
        case '\t': ember_buf_append(b, "\\t", 2); i++; continue;
        default:   break;
        }
        if (u[i] < 0x20) {
            ember_buf_printf(b, "\\u%04x", u[i]);
            i++;
            continue;
        }
        len = ember_utf8_len(u + i, n - i);
        if (len == 0) {
            ember_buf_append(b, "\xef\xbf\xbd", 3);
            i++;
        } else {
            ember_buf_append(b, s + i, len);
            i += len;
        }
    }
    ember_buf_append(b, "\"", 1);
}

static void write_all(const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t) w;
    }
}

/* One line; `fields` (JSON object members, or NULL) go after "message" in
   JSON mode and are left out of plain lines. */
static void vlog_fields(int level, const char *fields, const char *fmt, va_list ap)
{
    struct ember_buf msg = EMBER_BUF_INIT, line = EMBER_BUF_INIT;
    struct timespec  ts;
    struct tm        tm;
    char             stamp[96];      /* "2026-12-01T02:00:00.123Z"; room for any int */
    const char      *name;
    size_t           n;

    if (!ember_log_enabled(level))
        return;
    name = level >= 0 && level < NLEVELS ? level_names[level] : "FATAL";
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int) (ts.tv_nsec / 1000000));

    ember_buf_vprintf(&msg, fmt, ap);
    n = msg.len;
    while (n > 0 && (msg.data[n - 1] == '\n' || msg.data[n - 1] == '\r'))
        n--;

    if (json) {
        ember_buf_printf(&line, "{\"timestamp\":\"%s\",\"level\":\"%s\",", stamp, name);
        if (request_id != NULL) {
            ember_buf_puts(&line, "\"requestId\":");
            put_json(&line, request_id, strlen(request_id));
            ember_buf_puts(&line, ",");
        }
        ember_buf_puts(&line, "\"message\":");
        put_json(&line, ember_buf_str(&msg), n);
        if (fields != NULL && *fields != '\0') {
            ember_buf_puts(&line, ",");
            ember_buf_puts(&line, fields);
        }
        ember_buf_puts(&line, "}\n");
    } else {
        ember_buf_printf(&line, "%s\t%s\t", stamp, name);
        if (request_id != NULL)
            put_plain(&line, request_id, strlen(request_id));
        else
            ember_buf_puts(&line, "-");
        ember_buf_puts(&line, "\t");
        put_plain(&line, ember_buf_str(&msg), n);
        ember_buf_puts(&line, "\n");
    }
    write_all(line.data, line.len);
    ember_buf_free(&msg);
    ember_buf_free(&line);
}

void ember_vlog(int level, const char *fmt, va_list ap)
{
    vlog_fields(level, NULL, fmt, ap);
}

void ember_log_fields(int level, const char *fields, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog_fields(level, fields, fmt, ap);
    va_end(ap);
}

void ember_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_vlog(level, fmt, ap);
    va_end(ap);
}
