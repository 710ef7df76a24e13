/*
 * json-strict.h - strict parsing of exactly one JSON value, once for the core (the
 * event) and the plugins (configured bodies, request bodies, JWT segments,
 * JWKS documents, json columns).
 *
 * The rules: json-c's JSON_TOKENER_STRICT grammar; whitespace (space, tab,
 * LF, CR) before and after the value, nothing else after it; no NUL byte
 * anywhere (the tokener would take it as the end of the input).  UTF-8 is
 * not checked here: the event's strings are checked where they matter (a
 * path is refused with its source known), and a caller that needs RFC 8259
 * text (a request body, a JWT segment) calls ember_utf8_valid() (text.h)
 * first.  One source
 * file compiled into core/libember.a and plugins/common/libplugjson.la (not
 * libplugutil.la: auth-jwks.so does not link json-c).
 */
#ifndef EMBER_COMMON_JSON_H
#define EMBER_COMMON_JSON_H

#include <stddef.h>

struct json_object;
struct json_tokener;

/*
 * Parse s[0..n).  0 with *out set (a new object the caller puts; NULL for
 * JSON null), or -1 with *offset (where it went wrong) and *why (a static
 * description) set.  tok: a tokener to reuse (reset here), or NULL for one
 * made and freed in the call.
 */
int ember_json_parse(struct json_tokener *tok, const char *s, size_t n,
                     struct json_object **out, size_t *offset, const char **why);

#endif
