/*
 * journey.c - the cold-start journey (see journey.h): a fixed array of
 * (phase, CLOCK_MONOTONIC ns), filled while the sandbox is cold, turned
 * into one log line and a Server-Timing header after the first response.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "journey.h"
#include "log.h"

#define MAX_MARKS  48
#define NAME_LEN   32

struct mark {
    char     name[NAME_LEN];
    int64_t  ns;        /* CLOCK_MONOTONIC */
};

int ember_journey_recording = 1;

static int64_t     t0;              /* process start, estimated */
static struct mark marks[MAX_MARKS];
static size_t      nmarks;

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void put_mark(const char *prefix, const char *name, int64_t ns)
{
    struct mark *m;
    size_t       i, len;
    int          dup = 1;

    if (nmarks == MAX_MARKS)
        return;
    m = &marks[nmarks];
    if (name != NULL)
        snprintf(m->name, sizeof(m->name), "%s.%s", prefix, name);
    else
        snprintf(m->name, sizeof(m->name), "%s", prefix);
    /* a phase seen before gets a suffix: "db.connect.2" (keys stay unique) */
    len = strlen(m->name);
    for (i = 0; i < nmarks; i++) {
        const char *o = marks[i].name;

        if (strncmp(o, m->name, len) == 0
            && (o[len] == '\0' || (o[len] == '.' && o[len + 1] >= '2' && o[len + 1] <= '9'
                                   && o[len + 2] == '\0')))
            dup++;
    }
    if (dup > 1) {
        if (len > NAME_LEN - 3)
            len = NAME_LEN - 3;
        snprintf(m->name + len, NAME_LEN - len, ".%d", dup > 9 ? 9 : dup);
    }
    m->ns = ns;
    nmarks++;
}

/*
 * The first user code of the process (before main, after ld.so mapped and
 * relocated the executable and its libraries).  The process started
 * (execve) about as long ago as it has run on a CPU: the CPU time of a
 * process that has not waited yet is its age.
 */
__attribute__((constructor(101)))
static void journey_start(void)
{
    int64_t now = clock_ns(CLOCK_MONOTONIC);
    int64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID);

    t0 = now - cpu;
    put_mark("exec", NULL, now);
}

void ember_journey_mark_slow(const char *prefix, const char *name)
{
    if (!ember_journey_recording)
        return;
    put_mark(prefix, name, clock_ns(CLOCK_MONOTONIC));
}

double ember_journey_total_ms(void)
{
    if (nmarks == 0)
        return 0;
    return (double) (marks[nmarks - 1].ns - t0) / 1e6;
}

char *ember_journey_server_timing(struct ember_pool *pool)
{
    struct ember_buf b = EMBER_BUF_INIT;
    int64_t          prev = t0;
    size_t           i;
    char            *s;

    for (i = 0; i < nmarks; i++) {
        ember_buf_printf(&b, "%s%s;dur=%.2f", i ? ", " : "", marks[i].name,
                         (double) (marks[i].ns - prev) / 1e6);
        prev = marks[i].ns;
    }
    ember_buf_printf(&b, "%stotal;dur=%.2f", nmarks ? ", " : "", ember_journey_total_ms());
    s = ember_pool_strdup(pool, ember_buf_str(&b));
    ember_buf_free(&b);
    return s;
}

void ember_journey_log(void)
{
    struct ember_buf text = EMBER_BUF_INIT, json = EMBER_BUF_INIT;
    int64_t          prev = t0;
    double           ms;
    size_t           i;

    ember_buf_printf(&json, "\"journey\":{\"t0_us\":%lld,\"phases\":{", (long long) (t0 / 1000));
    for (i = 0; i < nmarks; i++) {
        ms = (double) (marks[i].ns - prev) / 1e6;
        prev = marks[i].ns;
        ember_buf_printf(&text, "%s%s %.2f", i ? ", " : "", marks[i].name, ms);
        /* names are the core's and plugins' literals: no quoting needed,
           but a plugin may pass anything, so keep it to safe bytes */
        ember_buf_printf(&json, "%s\"", i ? "," : "");
        {
            const char *c;

            for (c = marks[i].name; *c != '\0'; c++)
                ember_buf_append(&json, (*c == '"' || *c == '\\' || (unsigned char) *c < 0x20)
                                        ? "_" : c, 1);
        }
        ember_buf_printf(&json, "\":%.3f", ms);
    }
    ember_buf_printf(&json, "},\"total\":%.3f}", ember_journey_total_ms());
    ember_log_fields(EMBER_LOG_INFO, ember_buf_str(&json), "cold start %.2f ms: %s",
                     ember_journey_total_ms(), ember_buf_str(&text));
    ember_buf_free(&text);
    ember_buf_free(&json);
}

void ember_journey_end(void)
{
    ember_journey_recording = 0;
}
