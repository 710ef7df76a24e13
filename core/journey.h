/*
 * journey.h - the cold-start journey: when each phase of a sandbox's first
 * invocation ended, from process start to the response posted.
 *
 * Marks are recorded only while the sandbox is cold: once the journey is
 * ended (ember_journey_end, after the first response), ember_journey_mark
 * is one load and one branch.  Phases, in the order they usually end:
 *
 *   exec          process start -> first user code (kernel exec, ld.so);
 *                 the start is estimated as now - CLOCK_PROCESS_CPUTIME_ID
 *                 in a constructor (exact when the process did not wait)
 *   conf          environment read, config parsed, routes built
 *   dlopen.NAME   a plugin's shared object and its libraries mapped
 *   init.NAME     its init hook run
 *   next          ready: the first GET next is about to be sent
 *   wait          the event received
 *   parse         the event parsed
 *   route         the route matched
 *   NAME.WHAT     what a plugin marks (host->mark): db.connect, auth.jwks...
 *   handler       the chain done, response built
 *   posted        the response posted to the Runtime API
 *
 * A phase's duration is its end minus the previous mark's.
 */
#ifndef EMBER_JOURNEY_H
#define EMBER_JOURNEY_H

#include <stddef.h>
#include <stdint.h>
#include "pool.h"

/* Non-zero while the journey records (the sandbox is cold). */
extern int ember_journey_recording;

void ember_journey_mark_slow(const char *prefix, const char *name);

/* Record that `phase` ended now (copied; at most 31 characters). */
static inline void ember_journey_mark(const char *phase)
{
    if (ember_journey_recording)
        ember_journey_mark_slow(phase, NULL);
}

/* The same for "PREFIX.NAME", e.g. ("dlopen", "db") -> "dlopen.db". */
static inline void ember_journey_mark2(const char *prefix, const char *name)
{
    if (ember_journey_recording)
        ember_journey_mark_slow(prefix, name);
}

/* Milliseconds from process start to the last mark (0 when none). */
double ember_journey_total_ms(void);

/*
 * The Server-Timing header value for the marks so far:
 * "exec;dur=1.12, conf;dur=0.41, ..., total;dur=9.80" (ms), from pool.
 */
char *ember_journey_server_timing(struct ember_pool *pool);

/*
 * Log the journey as one INFO line ("cold start 9.80 ms: exec 1.12,
 * conf 0.41, ..."); with AWS_LAMBDA_LOG_FORMAT=JSON the line also carries
 * "journey": {"t0_us": ..., "phases": {"exec": 1.12, ...}, "total": 9.80}.
 */
void ember_journey_log(void);

/* Stop recording: every later mark returns at once. */
void ember_journey_end(void);

#endif
