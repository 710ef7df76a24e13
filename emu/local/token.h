/*
 * token.h - test JWTs for ember-local: HS256 over the claims given,
 * HMAC-SHA256 from GnuTLS (linked into ember-local only, never the core).
 */
#ifndef EMBER_LOCAL_TOKEN_H
#define EMBER_LOCAL_TOKEN_H

#include <stddef.h>
#include <ember/plugin.h>

struct json_object;

/* base64url without padding of len bytes. Caller frees. */
char *ember_base64url(const void *data, size_t len);

/*
 * header.payload.signature for claims (borrowed), signed HS256 with the
 * secret.  Caller frees the result.  EMBER_ERROR (err filled) only if
 * GnuTLS fails.
 */
int ember_token_hs256(const struct json_object *claims, const void *secret, size_t secret_len,
                      char **token, struct ember_error *err);

/* `ember-local token ...`: parse argv, print one token. Returns the exit status. */
int ember_token_main(int argc, char **argv);

#endif
