#!/bin/sh
# bench/run.sh - `make bench`: throwaway PostgreSQL servers (tests/pg.sh), the
# peers of ../shared/anchors unpacked into the build tree when that folder
# exists, then bench/ember-bench with the build's bootstrap (or the ZIP's),
# plugins and floors, the shipped config, and the burst through ember-local
# when it is built.
#   - /items/{id} runs against a server without TLS (sslmode=disable in the
#     URL, which every peer honours: Go's lib/pq would otherwise insist on TLS);
#   - and again, with fewer processes, against a second server that asks
#     SCRAM-SHA-256 over TLS (sslmode=require), and through a proxy on
#     loopback that delays every chunk to and from the database
#     (BENCH_DB_DELAY_US each way, default 150; 0: no such block).
# Output: the tables on stdout, bench/out/cold-start.svg, bench/out/bench.json
# (in the build tree).  Arguments go to ember-bench (they win: given last).
#
#   top_srcdir=.. top_builddir=. sh ../bench/run.sh [-n 50] [--strict] ...
#   BENCH_ANCHORS=DIR   where the peers' anchors.tar.xz is (default
#                       $top_srcdir/../shared/anchors)

set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
: "${BENCH_FROM:=build}"
: "${EMBER_LOCAL_BUILT:=no}"
: "${BENCH_ANCHORS:=$top_srcdir/../shared/anchors}"
: "${BENCH_DB_DELAY_US:=150}"
cd "$top_builddir" || exit 2
out=bench/out
mkdir -p "$out"

set -- --conf "$top_srcdir/conf/ember.conf" --out "$out" --json "$out/bench.json" "$@"
if [ "$BENCH_FROM" = zip ]; then
    set -- --zip function.zip "$@"
elif [ -f function.zip ]; then
    set -- --zip-size function.zip "$@"
fi
if [ "$EMBER_LOCAL_BUILT" = yes ] && [ -x emu/ember-local ]; then
    set -- --burst 8 "$@"
fi

# The peers: never committed, unpacked afresh into the build tree.
rm -rf bench/anchors
if [ -f "$BENCH_ANCHORS/anchors.tar.xz" ] && [ -f "$BENCH_ANCHORS/unpack.sh" ]; then
    if ! sh "$BENCH_ANCHORS/unpack.sh" bench/anchors >/dev/null; then
        echo "bench: could not unpack $BENCH_ANCHORS/anchors.tar.xz: the peers are not measured" >&2
        rm -rf bench/anchors
    fi
else
    echo "bench: no $BENCH_ANCHORS/anchors.tar.xz: the peers (Rust, Go, the reference items floor) are not measured" >&2
fi

. "$top_srcdir/tests/pg.sh"

# A server that asks SCRAM over TLS: pg.sh's, with a self-signed certificate.
tls_dir=
tls_start() {
    command -v openssl >/dev/null 2>&1 || { echo "bench: no openssl: no TLS block" >&2; return 1; }
    pg_start || return 1
    if ! openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 2 \
            -keyout "$PG_DIR/data/server.key" -out "$PG_DIR/data/server.crt" >/dev/null 2>&1; then
        echo "bench: openssl could not make a certificate: no TLS block" >&2
        pg_stop
        return 1
    fi
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$PG_DIR/data/server.key" "$PG_DIR/data/server.crt"
    fi
    chmod 0600 "$PG_DIR/data/server.key"
    if ! pg_psql -c "ALTER SYSTEM SET ssl = on" || ! pg_restart; then
        echo "bench: PostgreSQL would not turn TLS on: no TLS block" >&2
        pg_stop
        return 1
    fi
    tls_dir=$PG_DIR
    tls_url="$DATABASE_URL?sslmode=require"
    trap - EXIT INT TERM
    unset PG_DIR PG_PORT PG_PASSWORD DATABASE_URL PG_SOCKET_URL
    return 0
}
tls_stop() {
    [ -n "$tls_dir" ] || return 0
    (PG_DIR=$tls_dir; pg_stop)
    tls_dir=
}

if tls_start; then
    set -- --tls-url "$tls_url" "$@"
fi
if pg_start; then
    trap 'pg_stop; tls_stop' EXIT
    trap 'pg_stop; tls_stop; exit 130' INT
    trap 'pg_stop; tls_stop; exit 143' TERM
    DATABASE_URL="$DATABASE_URL?sslmode=disable"
    export DATABASE_URL
    if [ "$BENCH_DB_DELAY_US" -gt 0 ]; then
        set -- --db-delay-us "$BENCH_DB_DELAY_US" "$@"
    fi
    bench/ember-bench "$@"
    rc=$?
    pg_stop
else
    echo "bench: no PostgreSQL (apt-get install postgresql): /items/{id} is skipped" >&2
    unset DATABASE_URL
    bench/ember-bench "$@"
    rc=$?
fi
tls_stop
trap - EXIT INT TERM
exit $rc
