#!/bin/sh
# bench/run.sh - `make bench`: a throwaway PostgreSQL (tests/pg.sh), then
# bench/ember-bench with the build's bootstrap, plugins and floor, the
# shipped config, and the burst through ember-local when it is built.
# Output: the tables on stdout, bench/out/cold-start.svg, bench/out/bench.json
# (in the build tree).  Arguments go to ember-bench (they win: given last).
#
#   top_srcdir=.. top_builddir=. sh ../bench/run.sh [-n 50] [--strict] ...

set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
: "${BENCH_FROM:=build}"
: "${EMBER_LOCAL_BUILT:=no}"
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

. "$top_srcdir/tests/pg.sh"
if pg_start; then
    bench/ember-bench "$@"
    rc=$?
    pg_stop
else
    echo "bench: no PostgreSQL (apt-get install postgresql): /items/{id} is skipped" >&2
    unset DATABASE_URL
    bench/ember-bench "$@"
    rc=$?
fi
exit $rc
