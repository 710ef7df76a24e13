#!/bin/sh
# build.sh - build the libFuzzer targets of tests/fuzz/ with clang-14,
# ASan and UBSan, apart from the normal build (its own objects, its own
# flags): `make fuzz` runs it.
#
#   build.sh SRCDIR BUILDDIR OUTDIR [TARGET...]
#
# BUILDDIR is a configured build tree (its config.h says which plugins are
# built: the targets of plugins not built are skipped).  Objects and the
# fuzzers go in OUTDIR; the list of what was built is OUTDIR/targets.
set -eu

src=$(cd "$1" && pwd)
bld=$(cd "$2" && pwd)
out=$3
shift 3
mkdir -p "$out/obj"
out=$(cd "$out" && pwd)

CC=${FUZZ_CC:-clang-14}
command -v "$CC" >/dev/null 2>&1 || {
    echo "fuzz: $CC not found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
    exit 77
}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS="-g -O1 -fno-omit-frame-pointer $SAN -fsanitize=fuzzer-no-link -Wall -Wextra -Werror
        -Wno-unused-parameter -Wno-unused-function"
CPPFLAGS="-I$bld -I$src/include -I$src/core -I$src/common -I$src/emu -I$src/tests/fuzz
          -DEMBER_PKGLIBDIR=\"/nonexistent\" $(pkg-config --cflags json-c)"

has() { grep -q "^#define $1 1" "$bld/config.h"; }

# compile SRC -> OUTDIR/obj/<path>.o when the source (or any header) is newer
obj() {
    o="$out/obj/$(echo "$1" | tr / _).o"
    if [ ! -f "$o" ] || [ -n "$(find "$src/$1" "$src/core" "$src/common" "$src/include" "$src/tests/fuzz" \
            "$src/plugins" "$src/emu" -newer "$o" -name '*.[ch]' -print -quit 2>/dev/null)" ]; then
        # shellcheck disable=SC2086
        $CC $CFLAGS $CPPFLAGS ${2:-} -c "$src/$1" -o "$o"
    fi
    echo "$o"
}

# the core, everything but main(), and common/ (the rules core and plugins
# share): one archive, as core/libember.a
core_objs=
for f in "$src"/core/*.c; do
    case $f in */main.c) continue ;; esac
    core_objs="$core_objs $(obj "core/${f##*/}")"
done
for f in "$src"/common/*.c; do
    core_objs="$core_objs $(obj "common/${f##*/}")"
done
rm -f "$out/libember-fuzz.a"
# shellcheck disable=SC2086
ar rcs "$out/libember-fuzz.a" $core_objs
JSONC_LIBS=$(pkg-config --libs json-c)

link() {   # link NAME OBJ... -- LIBS...
    name=$1
    shift
    objs=
    while [ $# -gt 0 ] && [ "$1" != -- ]; do objs="$objs $1"; shift; done
    [ $# -gt 0 ] && shift
    # shellcheck disable=SC2086
    $CC -g $SAN -fsanitize=fuzzer $objs "$out/libember-fuzz.a" "$@" $JSONC_LIBS -ldl \
        -o "$out/fuzz-$name"
    echo "$name" >>"$out/targets.new"
}

want() {   # is target $1 asked for (no list: all)?
    [ -z "$targets" ] && return 0
    case " $targets " in *" $1 "*) return 0 ;; esac
    return 1
}
targets="$*"
: >"$out/targets.new"

want event  && link event  "$(obj tests/fuzz/event.c)"
want conf   && link conf   "$(obj tests/fuzz/conf.c)"
want router && link router "$(obj tests/fuzz/router.c)"
want runtime && link runtime "$(obj tests/fuzz/runtime.c)" -- \
    -Wl,--wrap=socket,--wrap=connect,--wrap=sendmsg,--wrap=recv,--wrap=close
want apigw  && link apigw  "$(obj tests/fuzz/apigw.c)" "$(obj emu/apigw.c)"

# plugins/common/*.c: the helpers plugins link in (plugutil, httpget, ...)
common() {
    for f in "$src"/plugins/common/*.c; do obj "plugins/common/${f##*/}" "-I$src/plugins/common"; done
}

if has EMBER_WITH_AUTH && want auth; then
    PLUG="-I$src/plugins/common $(pkg-config --cflags libjwt-gnutls gnutls nettle)"
    link auth "$(obj tests/fuzz/auth.c "$PLUG")" $(common) \
        $(for f in "$src"/plugins/auth/*.c; do
              case $f in */jwks-fetch.c) continue ;; esac
              obj "plugins/auth/${f##*/}" "$PLUG"; done) \
        -- $(pkg-config --libs libjwt-gnutls gnutls nettle)
fi
if has EMBER_WITH_DB && want db; then
    PLUG="-I$src/plugins/common -I$src/plugins/db -I$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)"
    PLUG="$PLUG $(pkg-config --cflags nettle)"
    link db "$(obj tests/fuzz/db.c "$PLUG")" $(common) \
        $(for f in "$src"/plugins/db/*.c; do obj "plugins/db/${f##*/}" "$PLUG"; done) \
        -- -lpq $(pkg-config --libs nettle)
fi
if has EMBER_WITH_RESPONSE && want response; then
    PLUG="-I$src/plugins/common"
    link response "$(obj tests/fuzz/response.c "$PLUG")" $(common) \
        $(for f in "$src"/plugins/response/*.c; do obj "plugins/response/${f##*/}" "$PLUG"; done)
fi
mv "$out/targets.new" "$out/targets"
