#!/bin/sh
# local-via.sh DRIVER - run tests/DRIVER.test (a route-level driver) with its
# cases going through ember-local, HTTP in and HTTP out, instead of the
# Runtime API alone: lib.sh's ember_run_cases then runs tests/local-cases.
# Used by tests/local-{routes,items,response,auth,lazy}.test.

set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
export top_srcdir top_builddir

abs() {
    case $1 in
    /*) echo "$1" ;;
    *) echo "$(pwd)/$1" ;;
    esac
}
top_srcdir=$(cd "$top_srcdir" && pwd)        # the cases' shell commands run elsewhere
top_builddir=$(cd "$top_builddir" && pwd)
EMBER_LOCAL=$(abs "$top_builddir/emu/ember-local")
EMBER_VIA_LOCAL=$(abs "$top_builddir/tests/local-cases")
if [ ! -x "$EMBER_LOCAL" ] || [ ! -x "$EMBER_VIA_LOCAL" ]; then
    echo "1..0 # SKIP ember-local is not built (configure --disable-local?)"
    exit 0
fi
export EMBER_LOCAL EMBER_VIA_LOCAL
exec sh "$top_srcdir/tests/$1.test"
