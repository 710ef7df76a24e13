/*
 * log.h - one line per event on stderr.
 *
 * Plain text: "<ISO8601 UTC ms>\t<LEVEL>\t<request id or ->\t<message>"
 * JSON (AWS_LAMBDA_LOG_FORMAT=JSON):
 *   {"timestamp":"...","level":"INFO","requestId":"...","message":"..."}
 * AWS_LAMBDA_LOG_LEVEL (TRACE DEBUG INFO WARN ERROR FATAL) sets the floor;
 * default INFO.
 */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdarg.h>
#include <ember/plugin.h>

void ember_log_init(void);                 /* reads the environment */
void ember_log_set_level(int level);       /* config may lower/raise; env wins */
int  ember_log_enabled(int level);
void ember_log_set_request_id(const char *id);  /* copied; NULL clears */
void ember_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ember_vlog(int level, const char *fmt, va_list ap);
/* Like ember_log; with AWS_LAMBDA_LOG_FORMAT=JSON the line also carries
   `fields`, JSON object members ("\"journey\":{...}"), after "message". */
void ember_log_fields(int level, const char *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "INFO" -> EMBER_LOG_INFO, case-insensitive; -1 if unknown. */
int  ember_log_level_parse(const char *s);

#endif
