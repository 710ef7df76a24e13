#!/bin/sh
# run.sh - `make fuzz`: build the fuzz targets (build.sh) and run each for
# FUZZ_SECONDS (default 60), one after the other, from its seed corpus.
#
#   run.sh SRCDIR BUILDDIR [TARGET...]     (default: every target built)
#
# FUZZ_SECONDS   seconds per target            FUZZ_JOBS  unused: one at a time
# FUZZ_ARGS      more libFuzzer options        FUZZ_OUT   default BUILDDIR/fuzz
# The corpus of a target grows in FUZZ_OUT/corpus/TARGET (kept between
# runs); a crash is written to FUZZ_OUT/crash-TARGET-* and fails the run.
# Seeds: tests/fuzz/seeds/TARGET, plus the tests' events (tests/events,
# ../shared/events when present) and configs (tests/conf, conf/).
set -u

src=$(cd "$1" && pwd)
bld=$(cd "$2" && pwd)
shift 2
out=${FUZZ_OUT:-$bld/fuzz}
secs=${FUZZ_SECONDS:-60}

"$src/tests/fuzz/build.sh" "$src" "$bld" "$out" "$@" || exit $?
targets=$(cat "$out/targets")

seed() {   # seed TARGET: fill the corpus directory from the tests
    c=$out/corpus/$1
    mkdir -p "$c"
    [ -d "$src/tests/fuzz/seeds/$1" ] && cp -n "$src/tests/fuzz/seeds/$1"/* "$c"/ 2>/dev/null
    case $1 in
    event)
        for f in "$src"/tests/events/*.json "$src"/../shared/events/*.json; do
            [ -f "$f" ] && cp -n "$f" "$c/events-${f##*/}"
        done ;;
    conf)
        for f in "$src"/tests/conf/*.conf "$src"/conf/*.conf; do
            [ -f "$f" ] && cp -n "$f" "$c/conf-${f##*/}"
        done ;;
    esac
    true
}

rc=0 passed=0 failed=0
for t in $targets; do
    seed "$t"
    case $t in
    runtime|apigw) dict="-dict=$src/tests/fuzz/http.dict" ;;
    conf|router)   dict= ;;
    *)             dict="-dict=$src/tests/fuzz/json.dict" ;;
    esac
    echo "fuzz: $t for ${secs}s" >&2
    # shellcheck disable=SC2086
    (cd "$out" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "./fuzz-$t" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="crash-$t-" \
        -timeout=10 -rss_limit_mb=2048 $dict ${FUZZ_ARGS:-} "corpus/$t" \
        >"$out/$t.log" 2>&1)
    r=$?
    grep -aE '^stat::number_of_executed_units|^stat::peak_rss_mb|cov:' "$out/$t.log" | tail -n 3 >&2
    if [ $r -ne 0 ]; then
        echo "fuzz: $t FAILED (exit $r); log $out/$t.log:" >&2
        grep -aE 'ERROR|SUMMARY|runtime error|fuzz:|Test unit written' "$out/$t.log" | head -n 20 >&2
        rc=1 failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
done
# one line CI sums with the test legs' (.ci/run): each target a test
echo "$passed passed, $failed failed, 0 skipped"
exit $rc
