/*
 * text.h - the rules for untrusted text that the core and the plugins
 * share: strict UTF-8, HTTP tokens, environment variable names.
 *
 * One source file (common/text.c) compiled into both core/libember.a and
 * plugins/common/libplugutil.la: plugins cannot link the core, and two
 * copies drift apart.  It includes nothing of the core.
 */
#ifndef EMBER_COMMON_TEXT_H
#define EMBER_COMMON_TEXT_H

#include <stddef.h>

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
   U+10FFFF.  1 if all n bytes of s are, 0 if not. */
int ember_utf8_valid(const unsigned char *s, size_t n);

/* The length (1-4) of the valid UTF-8 sequence at s (n > 0 bytes left), or
   0 if it is not one (then a writer puts U+FFFD and moves on one byte). */
size_t ember_utf8_len(const unsigned char *s, size_t n);

/* An RFC 9110 tchar: ALPHA, DIGIT or one of !#$%&'*+-.^_`|~ */
int ember_http_tchar(unsigned char c);

/* A token (method, header name, auth scheme): one or more tchars. */
int ember_http_token(const char *s);

/* An environment variable name as the shell takes it: [A-Za-z_][A-Za-z0-9_]*
   (not empty, no leading digit). */
int ember_env_name(const char *s);

#endif
