/* error.c - filling a struct ember_error; HTTP reason phrases. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

int ember_vfail(struct ember_error *err, int status, const char *fmt, va_list ap)
{
    if (err == NULL)
        return EMBER_ERROR;
    err->status = status;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    return EMBER_ERROR;
}

int ember_fail(struct ember_error *err, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_vfail(err, status, fmt, ap);
    va_end(ap);
    return EMBER_ERROR;
}

void ember_error_clear(struct ember_error *err)
{
    err->status = 0;
    err->public_message = NULL;
    err->message[0] = '\0';
}

const char *ember_reason_phrase(int status)
{
    static const struct { int status; const char *phrase; } phrases[] = {
        { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
        { 301, "Moved Permanently" }, { 302, "Found" }, { 304, "Not Modified" },
        { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
        { 404, "Not Found" }, { 405, "Method Not Allowed" }, { 409, "Conflict" },
        { 413, "Payload Too Large" }, { 415, "Unsupported Media Type" },
        { 422, "Unprocessable Entity" }, { 429, "Too Many Requests" },
        { 500, "Internal Server Error" }, { 501, "Not Implemented" },
        { 502, "Bad Gateway" }, { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
    };
    size_t i;

    for (i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
        if (phrases[i].status == status)
            return phrases[i].phrase;
    return "Error";
}
