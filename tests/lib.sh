# lib.sh - sourced by the route-level drivers (tests/*.test): POSIX sh.
#
#   ember_need_bootstrap        BOOTSTRAP=$top_builddir/core/bootstrap (and the runner)
#   ember_plugin_dirs           the build's plugin directories, colon-separated
#   ember_has_plugin NAME       true if this build includes plugin NAME
#   ember_run_cases CONF CASE...  run the cases with tests/ember-test-api; its
#                               TAP is the test's output, its status the result
#   ember_skip_all REASON       "1..0 # SKIP REASON", exit 0
#
# Env from make check (TESTS_ENVIRONMENT): top_srcdir, top_builddir,
# EMBER_EVENTS_DIR, EMBER_BUILT_PLUGINS.  Run by hand from a build
# directory, they default to the source tree and ".".
# EMBER_TEST_VERBOSE=1 makes the runner show every event and log.
# EMBER_VIA_LOCAL=PATH (tests/local-cases, with EMBER_LOCAL=emu/ember-local)
# runs the cases through ember-local instead of the Runtime API alone (the
# two runners share the case logic: tests/cases/).

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
: "${EMBER_EVENTS_DIR:=$top_srcdir/tests/events}"
export top_srcdir top_builddir EMBER_EVENTS_DIR

ember_skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

# An absolute path for $1 (make check runs us from the build directory,
# the runner from a temporary one).
ember_abspath() {
    case $1 in
    /*) echo "$1" ;;
    *) echo "$(pwd)/$1" ;;
    esac
}

ember_need_bootstrap() {
    BOOTSTRAP=$(ember_abspath "$top_builddir/core/bootstrap")
    EMBER_TEST_API=$(ember_abspath "$top_builddir/tests/ember-test-api")
    if [ ! -x "$BOOTSTRAP" ]; then
        echo "Bail out! $BOOTSTRAP is missing: run make first"
        exit 1
    fi
    if [ ! -x "$EMBER_TEST_API" ]; then
        echo "Bail out! $EMBER_TEST_API is missing: run make check (it builds the runner)"
        exit 1
    fi
    if [ -z "${EMBER_BUILT_PLUGINS+set}" ]; then
        # by hand: ask the bootstrap ("ember 0.1.0 (plugins: auth db response)")
        EMBER_BUILT_PLUGINS=$("$BOOTSTRAP" -V | sed -n 's/.*(plugins: \(.*\)).*/\1/p')
    fi
    export BOOTSTRAP EMBER_TEST_API EMBER_BUILT_PLUGINS
}

ember_plugin_dirs() {
    echo "$(ember_abspath "$top_builddir/plugins/.libs"):$(ember_abspath "$top_builddir/tests/plugins/.libs")"
}

ember_has_plugin() {
    case " ${EMBER_BUILT_PLUGINS-} " in
    *" $1 "*) return 0 ;;
    *) return 1 ;;
    esac
}

# ember_run_cases CONF CASE...: one runner, one warm bootstrap (restarted
# where a case asks), in a fresh temporary directory (the cases' relative
# paths, e.g. the probe's record file, land there; $EMBER_TEST_TMP names it,
# with an empty directory $EMBER_TEST_TMP/empty in it).
ember_run_cases() {
    _conf=$(ember_abspath "$1")
    shift
    if [ $# -eq 0 ]; then
        echo "Bail out! ember_run_cases: no cases"
        return 1
    fi
    for _c in "$@"; do
        if [ ! -f "$_c" ]; then
            echo "Bail out! no case file $_c"
            return 1
        fi
    done
    _tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-test.XXXXXX") || {
        echo "Bail out! mktemp failed"
        return 1
    }
    mkdir "$_tmp/empty"
    _dirs=$(ember_plugin_dirs)
    _here=$(pwd)
    (
        # absolute case paths, then leave the build tree
        _n=$#
        while [ "$_n" -gt 0 ]; do
            set -- "$@" "$(cd "$_here" && ember_abspath "$1")"
            shift
            _n=$((_n - 1))
        done
        cd "$_tmp" || exit 1
        unset LAMBDA_TASK_ROOT EMBER_PRELOAD AWS_LAMBDA_LOG_FORMAT AWS_LAMBDA_LOG_LEVEL
        EMBER_CONF=$_conf
        EMBER_PLUGIN_DIR=$_dirs
        EMBER_TEST_PLUGINS=1
        EMBER_TEST_TMP=$_tmp
        export EMBER_CONF EMBER_PLUGIN_DIR EMBER_TEST_PLUGINS EMBER_TEST_TMP
        # with EMBER_VIA_LOCAL, the same cases through ember-local, HTTP in
        # and out (tests/local-*.test): the other transport, same options
        [ -z "${EMBER_VIA_LOCAL-}" ] || set -- --ember-local "$EMBER_LOCAL" "$@"
        exec "${EMBER_VIA_LOCAL:-$EMBER_TEST_API}" --bootstrap "$BOOTSTRAP" --keep-going \
            ${EMBER_TEST_VERBOSE:+--verbose} "$@"
    )
    _rc=$?
    rm -rf "$_tmp"
    return $_rc
}
