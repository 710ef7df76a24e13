/*
 * sigv4.h - AWS Signature Version 4, query-string (presigned) form, and
 * the RDS IAM authentication token built on it.  SHA-256 and HMAC-SHA256
 * come from nettle, linked statically into db.so (hidden): signing maps no
 * library of its own.  Nothing here logs: the inputs and the outputs are
 * credentials.
 *
 * The pieces are public so tests/unit/test_sigv4.c can check each one
 * against AWS's published test suite (canonical request, string to sign,
 * signing key, signature).
 */
#ifndef EMBER_DB_SIGV4_H
#define EMBER_DB_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define EMBER_SIGV4_HEX_LEN   64
#define EMBER_RDS_TOKEN_TTL   900     /* seconds: what RDS accepts */

struct ember_pu_buf;

/* One query parameter, raw (the signer encodes it). */
struct ember_sigv4_param {
    const char *name;
    const char *value;
};

/* Lower-case hex SHA-256 of data. */
void ember_sigv4_sha256_hex(const void *data, size_t len, char out[EMBER_SIGV4_HEX_LEN + 1]);

/* s[0..n) percent-encoded as SigV4 wants: A-Z a-z 0-9 - _ . ~ kept, every
   other byte %XX (upper case); appended to b. */
void ember_sigv4_encode(struct ember_pu_buf *b, const char *s, size_t n);

/* The canonical query string: each name and value encoded, sorted by
   encoded name, then value, joined with & and =.  Caller frees. */
char *ember_sigv4_canonical_query(const struct ember_sigv4_param *p, size_t n);

/* The signing key: HMAC chain over "AWS4" SECRET, date (YYYYMMDD), region,
   service, "aws4_request". */
void ember_sigv4_signing_key(const char *secret, const char *date, const char *region,
                             const char *service, uint8_t key[32]);

/* "AWS4-HMAC-SHA256\n" AMZDATE "\n" SCOPE "\n" hex(SHA-256(creq)).  Caller frees. */
char *ember_sigv4_string_to_sign(const char *amz_date, const char *scope, const char *creq);

/* Lower-case hex HMAC-SHA256(key, string to sign). */
void ember_sigv4_signature(const uint8_t key[32], const char *sts,
                           char out[EMBER_SIGV4_HEX_LEN + 1]);

/* A request to presign (the signature goes in the query string). */
struct ember_sigv4_presign {
    const char                     *method;        /* "GET" */
    const char                     *host;          /* the Host header: "host" or "host:port" */
    const char                     *path;          /* canonical (already encoded) path: "/" */
    const struct ember_sigv4_param *params;        /* besides the X-Amz-* ones */
    size_t                          nparams;
    const char                     *region;
    const char                     *service;
    const char                     *access_key;
    const char                     *secret_key;
    const char                     *session_token; /* NULL or "": none */
    time_t                          when;          /* the signing time (UTC) */
    unsigned                        expires;       /* X-Amz-Expires, seconds */
    const char                     *payload_hash;  /* NULL: SHA-256 of the empty body */
};

/*
 * The presigned query string, X-Amz-Signature last; *creq_out (if not NULL)
 * gets the canonical request.  Caller frees both.
 */
char *ember_sigv4_presign(const struct ember_sigv4_presign *ps, char **creq_out);

/*
 * The RDS IAM authentication token for USER at HOST:PORT: the presigned
 * `GET /?Action=connect&DBUser=USER` of service rds-db, valid
 * EMBER_RDS_TOKEN_TTL seconds from `when`, without a scheme:
 * "HOST:PORT/?Action=connect&DBUser=...&X-Amz-Signature=...".  Caller frees
 * (it is a password: wipe it).
 */
char *ember_rds_token(const char *host, int port, const char *user, const char *region,
                      const char *access_key, const char *secret_key,
                      const char *session_token, time_t when);

#endif
