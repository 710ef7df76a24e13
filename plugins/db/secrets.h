/*
 * secrets.h - database credentials from AWS Secrets Manager, through the
 * AWS Parameters and Secrets Lambda Extension: a loopback HTTP GET of
 * localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT (2773)
 * /secretsmanager/get?secretId=ARN with the header
 * X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN.  Its answer is
 * GetSecretValue's JSON; the SecretString is a libpq URL / key=value string,
 * or the JSON RDS writes ({"username","password","host","port","dbname",
 * "engine"}).  Nothing here logs, and no message quotes a secret.
 */
#ifndef EMBER_DB_SECRETS_H
#define EMBER_DB_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#define EMBER_SECRETS_DEFAULT_PORT  2773
#define EMBER_SECRETS_PORT_ENV      "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"

/*
 * The SecretString of secret `id` (an ARN), asked of the extension until
 * `end` (CLOCK_MONOTONIC ms).  0 with *out malloc'd (the caller wipes and
 * frees it), or -1 with why filled (no secret in it).
 */
int ember_secret_fetch(const char *id, int64_t end, char **out, char *why, size_t why_size);

/*
 * A SecretString as a libpq connection string: a postgres[ql]:// URL or a
 * key=value string as it is, the RDS JSON as key='value' pairs (host, port,
 * user, password, dbname).  0 with *out malloc'd, or -1 with why filled.
 */
int ember_secret_conninfo(const char *s, char **out, char *why, size_t why_size);

/*
 * A SecretString as a password: the RDS JSON's "password", else the whole
 * string.  0 with *out malloc'd, or -1 with why filled.
 */
int ember_secret_password(const char *s, char **out, char *why, size_t why_size);

#endif
