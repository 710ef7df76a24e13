/* error.h - filling a struct ember_error (see include/ember/plugin.h). */
#ifndef EMBER_ERROR_H
#define EMBER_ERROR_H

#include <stdarg.h>
#include <ember/plugin.h>

/* Fill err and return EMBER_ERROR. Also host->fail. */
int ember_fail(struct ember_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ember_vfail(struct ember_error *err, int status, const char *fmt, va_list ap);
void ember_error_clear(struct ember_error *err);
/* "Not Found" for 404 ...; "Error" for an unknown status. */
const char *ember_reason_phrase(int status);

#endif
