#!/bin/sh
# soak.sh - `make soak`: one bootstrap serves SOAK_N (default 100 000) mixed
# invocations of the default service (conf/ember.conf, a throwaway
# PostgreSQL restarted halfway) through the tests' Runtime API, printing RSS
# and latency every 10 000 (tests/soak/soak.c judges them); then a shorter
# run (SOAK_VALGRIND_N, default 2 000; 0 skips it) of a bootstrap under
# valgrind memcheck, every plugin loaded, that must show no error and no leak.
#
#   soak.sh SRCDIR BUILDDIR
set -u
src=$(cd "$1" && pwd)
bld=$(cd "$2" && pwd)
n=${SOAK_N:-100000}
vn=${SOAK_VALGRIND_N:-2000}
top_srcdir=$src
export top_srcdir

for p in auth db response; do
    [ -f "$bld/plugins/.libs/$p.so" ] || { echo "soak: plugin $p is not built" >&2; exit 77; }
done
. "$src/tests/pg.sh"
pg_start || { echo "soak: could not start PostgreSQL" >&2; exit 1; }
tmp=$bld/soak-out           # logs kept for a look afterwards
rm -rf "$tmp" && mkdir -p "$tmp"

JWT_SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
SOAK_TOKEN=$(MINT_SECRET=$JWT_SECRET "$bld/tests/mint-token" --alg HS256 \
    --secret-env MINT_SECRET --claims '{"sub":"soak"}' --exp +86400) ||
    { echo "soak: could not mint a token" >&2; exit 1; }
EMBER_CONF=$src/conf/ember.conf
EMBER_PLUGIN_DIR=$bld/plugins/.libs
AWS_LAMBDA_LOG_LEVEL=WARN       # 100 000 INFO lines would measure the log file
export JWT_SECRET SOAK_TOKEN EMBER_CONF EMBER_PLUGIN_DIR AWS_LAMBDA_LOG_LEVEL
restart="sh '$src/tests/pg.sh' restart"

rc=0
echo "== soak: $n invocations, one bootstrap, PostgreSQL restarted halfway"
"$bld/tests/soak/soak" -n "$n" --restart "$restart" --log "$tmp/bootstrap.log" \
    -- "$bld/core/bootstrap" || rc=1
[ $rc -ne 0 ] && tail -n 20 "$tmp/bootstrap.log" | sed 's/^/# /'

if [ "$vn" -gt 0 ]; then
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "soak: valgrind not found (apt-get install valgrind)" >&2
        rc=1
    else
        echo "== soak under valgrind memcheck: $vn invocations, every plugin loaded"
        # over the unix socket (trust): SCRAM under valgrind takes seconds
        DATABASE_URL=$PG_SOCKET_URL "$bld/tests/soak/soak" -n "$vn" -w "$((vn / 4 > 0 ? vn / 4 : 1))" --no-limits \
            --restart "$restart" --log "$tmp/bootstrap-vg.log" -- \
            valgrind --error-exitcode=99 --leak-check=full \
            --show-leak-kinds=definite,indirect,possible \
            --errors-for-leak-kinds=definite,indirect,possible \
            --log-file="$tmp/valgrind.log" "$bld/core/bootstrap" || rc=1
        grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|All heap blocks' \
            "$tmp/valgrind.log" | sed 's/^==[0-9]*== /valgrind: /'
        if [ $rc -ne 0 ]; then
            grep -A 30 -E 'Invalid|uninitialised|are definitely lost|are possibly lost' \
                "$tmp/valgrind.log" | head -n 80
        fi
    fi
fi
pg_stop
exit $rc
