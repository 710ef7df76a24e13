#!/bin/sh
# bench/db-options.sh - the cold-start cost of each db connection option:
# the journey's db.connect phase (TCP, TLS, authentication, backend start)
# of a fresh bootstrap answering GET /one (tests/conf/db-storm.conf, no
# auth), for each way of connecting, interleaved round by round so that a
# busy machine slows them all alike.  Medians, ms.
#
#   top_srcdir=.. top_builddir=. sh ../bench/db-options.sh [ROUNDS]  (default 15)
#
# One server (tests/pg.sh, PG_SSL=on) with a second role that authenticates
# with md5, and a PgBouncer in front (pgb_start).

set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
rounds=${1:-15}
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
. "$top_srcdir/tests/pg.sh"
PG_SSL=on
export PG_SSL
pg_start || exit 1
pgb_start || exit 1

# md5: a role of its own, its hba line first
pg_psql >/dev/null <<SQL || exit 1
SET password_encryption = 'md5';
CREATE ROLE ember_md5 LOGIN PASSWORD '$PG_PASSWORD';
SQL
{ echo "host all ember_md5 127.0.0.1/32 md5"; cat "$PG_DIR/data/pg_hba.conf"; } >"$PG_DIR/hba.new"
pg__as cp "$PG_DIR/hba.new" "$PG_DIR/data/pg_hba.conf"
pg_psql -c 'SELECT pg_reload_conf()' >/dev/null

base="postgresql://ember:$PG_PASSWORD@127.0.0.1:$PG_PORT/ember"
names="disable prefer require verify-full md5 pgbouncer"
url_of() {
    case $1 in
    disable) echo "$base?sslmode=disable" ;;
    prefer) echo "$base" ;;     # libpq's default: TLS whenever the server offers it
    require) echo "$base?sslmode=require" ;;
    verify-full) echo "postgresql://ember:$PG_PASSWORD@localhost:$PG_PORT/ember?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert=$PG_SSL_CA" ;;
    md5) echo "postgresql://ember_md5:$PG_PASSWORD@127.0.0.1:$PG_PORT/ember?sslmode=disable" ;;
    pgbouncer) echo "$PGB_URL?sslmode=disable" ;;
    esac
}

T=$(mktemp -d "${TMPDIR:-/tmp}/ember-dbopt.XXXXXX") || exit 1
cat >"$T/case.json" <<'JSON'
{"description": "one cold GET /one", "fresh": true, "formats": ["v2"],
 "request": {"method": "GET", "path": "/one"}, "expect": {"status": 200}}
JSON
# through PgBouncer the statements must be unnamed (pooler on): a server
# session outlives the process that prepared "ember_0" on it
sed 's/^plugin db {$/&\n    pooler on/' "$top_srcdir/tests/conf/db-storm.conf" >"$T/pooler.conf"
i=0
while [ "$i" -lt "$rounds" ]; do
    for n in $names; do
        rm -f "$T/log"
        conf=$top_srcdir/tests/conf/db-storm.conf
        [ "$n" = pgbouncer ] && conf=$T/pooler.conf
        DATABASE_URL=$(url_of "$n") EMBER_CONF=$conf \
        EMBER_PLUGIN_DIR="$top_builddir/plugins/.libs" \
            "$top_builddir/tests/ember-test-api" --bootstrap "$top_builddir/core/bootstrap" \
            --log "$T/log" "$T/case.json" >"$T/out" 2>&1 || { echo "# $n: failed" >&2; tail -n 5 "$T/out" >&2; }
        sed -n 's/.*db\.connect \([0-9.]*\).*/\1/p' "$T/log" >>"$T/$n"
    done
    i=$((i + 1))
done
printf '%-12s %8s %8s %8s  (ms, db.connect, %d cold starts each)\n' option median min max "$rounds"
for n in $names; do
    sort -n "$T/$n" | awk -v n="$n" '{ v[NR] = $1 } END {
        if (NR == 0) { printf "%-12s  no data\n", n; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%-12s %8.2f %8.2f %8.2f\n", n, m, v[1], v[NR] }'
done
rm -rf "$T"
pg_stop
