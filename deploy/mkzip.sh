#!/bin/sh
# mkzip.sh - pack a Lambda deployment ZIP (provided.al2023) from a build tree.
# `make zip` calls it; run by hand:
#
#   deploy/mkzip.sh --out function.zip --bootstrap core/bootstrap \
#       --plugin-dir plugins/.libs --plugins "auth db response" --conf conf/ember.conf \
#       [--plugin path/to/NAME.so]... \
#       [--cc CC] [--strip STRIP] [--readelf READELF] [--libdirs DIR:DIR] [--floor 2.34]
#
# --plugin adds an out-of-tree plugin (built against the installed header,
# e.g. examples/greet), packed like the built-in ones (`make zip
# EMBER_ZIP_PLUGINS="greet.so ..."`).
#
# The ZIP:
#   bootstrap         the ELF itself (mode 0755; no shell wrapper, no bundled loader),
#                     DT_RPATH $ORIGIN/lib:/var/task/lib
#   ember.conf        the config (bootstrap finds it as $LAMBDA_TASK_ROOT/ember.conf)
#   plugins/NAME.so   exactly the plugins asked for, DT_RPATH $ORIGIN/../lib; with
#                     auth, plugins/auth-pk.so (libjwt, GnuTLS: RS*/ES* keys) and
#                     plugins/auth-jwks.so (the JWKS fetch: libcurl) too, which
#                     auth.so dlopen()s from its own directory when first needed;
#                     with db, plugins/db-creds.so (IAM tokens and secrets, which
#                     db.so dlopen()s at the first connect that uses them)
#   lib/              every shared library bootstrap and those plugins need, found
#                     by walking each file's own DT_NEEDED (ldd bootstrap cannot see
#                     what dlopen will load), except glibc's, which the runtime
#                     image provides; each with DT_RPATH $ORIGIN
#
# Why DT_RPATH and not DT_RUNPATH: Lambda sets LD_LIBRARY_PATH with /lib64 and
# /usr/lib64 ahead of /var/task/lib. The dynamic linker searches the DT_RPATH of
# the object that needs a library (and of the objects that loaded it, up to the
# executable) BEFORE LD_LIBRARY_PATH, but only when that object has no
# DT_RUNPATH; DT_RUNPATH is searched after LD_LIBRARY_PATH. So every ELF in the
# ZIP carries DT_RPATH and no DT_RUNPATH, and the ZIP's libraries win over
# same-named ones in the image.
#
# Every copy is stripped (--strip-unneeded; the executable --strip-all); each
# ELF passes deploy/glibc-floor.sh (nothing newer than the image's glibc 2.34),
# else the build fails naming the file and the symbol; every file in lib/ is
# needed by another file in the ZIP. The ZIP's size and biggest members are
# printed. advzip (Debian's advancecomp), when present, recompresses the
# deflate streams (~5% smaller, still plain deflate).
set -eu

me=mkzip
die() { echo "$me: $*" >&2; exit 1; }

out= bootstrap= plugin_dir= plugins= conf= libdirs= floor=2.34 extra_plugins=
cc=${CC:-cc} strip_cmd=${STRIP:-strip} readelf=${READELF:-readelf}
while [ $# -gt 0 ]; do
    case $1 in
    --out) out=$2 ;;
    --bootstrap) bootstrap=$2 ;;
    --plugin-dir) plugin_dir=$2 ;;
    --plugins) plugins=$2 ;;
    --plugin) extra_plugins="$extra_plugins $2" ;;
    --conf) conf=$2 ;;
    --cc) cc=$2 ;;
    --strip) strip_cmd=$2 ;;
    --readelf) readelf=$2 ;;
    --libdirs) libdirs=$2 ;;
    --floor) floor=$2 ;;
    *) die "unknown option $1 (see the comment at the top of $0)" ;;
    esac
    [ $# -ge 2 ] || die "$1 needs a value"
    shift 2
done
[ -n "$out" ] && [ -n "$bootstrap" ] && [ -n "$conf" ] ||
    die "--out, --bootstrap and --conf are required"
[ -z "$plugins" ] || [ -n "$plugin_dir" ] || die "--plugin-dir is required with --plugins"
here=$(cd "$(dirname "$0")" && pwd)
abs() { case $1 in /*|'') echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
out=$(abs "$out") bootstrap=$(abs "$bootstrap") conf=$(abs "$conf") plugin_dir=$(abs "$plugin_dir")

for t in patchelf zip unzip "$readelf"; do
    command -v "$t" >/dev/null 2>&1 ||
        die "$t not found (apt-get install patchelf zip unzip binutils)"
done
# $STRIP from configure may be "aarch64-linux-gnu-strip" or empty
set -- $strip_cmd
command -v "${1:-strip}" >/dev/null 2>&1 || strip_cmd=strip
[ -f "$bootstrap" ] || die "$bootstrap: no such file (run make first)"
[ -f "$conf" ] || die "$conf: no such file"
head -c 4 "$bootstrap" | grep -q 'ELF' || die "$bootstrap is not an ELF file (a libtool wrapper?)"

# The image's glibc (2.34 on AL2023): these sonames are never bundled.
glibc_sonames=" ld-linux-x86-64.so.2 ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libmvec.so.1
 libdl.so.2 libpthread.so.0 librt.so.1 libresolv.so.2 libutil.so.1 libanl.so.1
 libBrokenLocale.so.1 libthread_db.so.1 libc_malloc_debug.so.0 libnss_files.so.2
 libnss_dns.so.2 libnss_compat.so.2 libnss_db.so.2 libnss_hesiod.so.2 "
glibc_sonames=$(echo $glibc_sonames)

machine() { "$readelf" -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p'; }
elfclass() { "$readelf" -h "$1" 2>/dev/null | sed -n 's/^ *Class: *//p'; }
needed() { "$readelf" -dW "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
own_paths() {   # the build-time DT_RPATH/DT_RUNPATH of a file, colon-separated
    "$readelf" -dW "$1" | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]$/\1/p' | tr '\n' ':'
}

want_machine=$(machine "$bootstrap")
want_class=$(elfclass "$bootstrap")
[ -n "$want_machine" ] || die "$bootstrap: cannot read its ELF header"

# Where the host's libraries are: Debian multiarch dirs of the target
# (/usr/lib/aarch64-linux-gnu for a cross build), then the classic ones.
multiarch=$($cc -print-multiarch 2>/dev/null || true)
search="$libdirs"
if [ -n "$multiarch" ]; then
    search="$search:/lib/$multiarch:/usr/lib/$multiarch:/usr/$multiarch/lib"
fi
search="$search:/lib64:/usr/lib64:/lib:/usr/lib"

# resolve SONAME EXTRA_DIRS -> the path of a file of the right architecture
resolve() {
    for d in $(echo "$2:$search" | tr ':' ' '); do
        if [ -f "$d/$1" ] && [ "$(machine "$d/$1")" = "$want_machine" ] &&
           [ "$(elfclass "$d/$1")" = "$want_class" ]; then
            echo "$d/$1"
            return 0
        fi
    done
    return 1
}

stage=$(mktemp -d "${TMPDIR:-/tmp}/ember-zip.XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$stage/plugins" "$stage/lib"

# 1. bootstrap and the plugins: stripped copies, DT_RPATH into lib/
cp "$bootstrap" "$stage/bootstrap"
$strip_cmd --strip-all "$stage/bootstrap" || die "strip failed on bootstrap"
# $ORIGIN of the executable comes from /proc/self/exe; where /proc is missing
# (a bare chroot) the dynamic linker drops that entry, so Lambda's fixed task
# root follows it. Shared objects get $ORIGIN from their own path: no /proc needed.
patchelf --force-rpath --set-rpath '$ORIGIN/lib:/var/task/lib' "$stage/bootstrap"
queue="bootstrap"
for p in $plugins; do
    so="$plugin_dir/$p.so"
    [ -f "$so" ] || die "$so: no such file (is plugin $p built? see configure --with-plugins)"
    [ "$(machine "$so")" = "$want_machine" ] ||
        die "$so is for $(machine "$so"), bootstrap for $want_machine"
    # companions: not plugins, but loaded from next to their plugin (auth-pk.so,
    # auth-jwks.so, db-creds.so)
    case $p in auth) extra_so="auth-pk auth-jwks" ;; db) extra_so=db-creds ;; *) extra_so= ;; esac
    for n in $p $extra_so; do
        so="$plugin_dir/$n.so"
        [ -f "$so" ] || die "$so: no such file (plugin $p needs it; run make)"
        cp "$so" "$stage/plugins/$n.so"
        $strip_cmd --strip-unneeded "$stage/plugins/$n.so" || die "strip failed on $so"
        patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$stage/plugins/$n.so"
        queue="$queue plugins/$n.so"
    done
done

# ... and the out-of-tree ones, each from its own path
for so in $extra_plugins; do
    n=$(basename "$so" .so)
    [ -f "$so" ] || die "$so: no such file (--plugin)"
    case $n in *[!A-Za-z0-9_]*|'') die "$so: a plugin's file is NAME.so, NAME of [A-Za-z0-9_]" ;; esac
    [ ! -e "$stage/plugins/$n.so" ] || die "$so: plugins/$n.so is packed already"
    [ "$(machine "$so")" = "$want_machine" ] ||
        die "$so is for $(machine "$so"), bootstrap for $want_machine"
    cp "$so" "$stage/plugins/$n.so"
    readlink -f "$so" >"$stage/.srcp-$n.so"
    $strip_cmd --strip-unneeded "$stage/plugins/$n.so" || die "strip failed on $so"
    patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$stage/plugins/$n.so"
    queue="$queue plugins/$n.so"
done

# 2. the closure: walk DT_NEEDED from each file, breadth first
bundled=" "
origin_of() {   # where a staged file came from, for its own build-time RPATH
    case $1 in
    bootstrap) echo "$bootstrap" ;;
    plugins/*)
        if [ -f "$stage/.srcp-${1#plugins/}" ]; then
            cat "$stage/.srcp-${1#plugins/}"
        else
            echo "$plugin_dir/${1#plugins/}"
        fi ;;
    lib/*) cat "$stage/.src-${1#lib/}" ;;
    esac
}
while [ -n "$queue" ]; do
    set -- $queue
    f=$1
    shift
    queue="$*"
    src=$(origin_of "$f")
    extra=$(own_paths "$src" | sed "s|\\\$ORIGIN|$(dirname "$src")|g; s|\\\${ORIGIN}|$(dirname "$src")|g")
    for n in $(needed "$stage/$f"); do
        case " $glibc_sonames " in *" $n "*) continue ;; esac
        case "$bundled" in *" $n "*) continue ;; esac
        path=$(resolve "$n" "$extra") ||
            die "$f needs $n, not found for $want_machine in ${search#:} (install its package, or --libdirs)"
        cp -L "$path" "$stage/lib/$n"
        readlink -f "$path" >"$stage/.src-$n"
        chmod 0755 "$stage/lib/$n"
        $strip_cmd --strip-unneeded "$stage/lib/$n" || die "strip failed on $path"
        patchelf --remove-rpath "$stage/lib/$n"
        patchelf --force-rpath --set-rpath '$ORIGIN' "$stage/lib/$n"
        bundled="$bundled$n "
        queue="$queue lib/$n"
    done
done
rm -f "$stage"/.src-* "$stage"/.srcp-*

# 3. checks: DT_RPATH only, glibc floor, nothing that nothing loads
cd "$stage"
elfs="bootstrap $(ls plugins/*.so lib/* 2>/dev/null | tr '\n' ' ')"
for f in $elfs; do
    if "$readelf" -dW "$f" | grep -q '(RUNPATH)'; then
        die "$f has a DT_RUNPATH (LD_LIBRARY_PATH would win over the ZIP's lib/)"
    fi
done
if ! READELF=$readelf sh "$here/glibc-floor.sh" --floor "$floor" $elfs >floor.txt 2>&1; then
    sed 's/^/  /' floor.txt >&2
    die "these files need a glibc newer than $floor (the provided.al2023 image): build them on an older system or drop them"
fi
rm -f floor.txt
all_needed=" $(for f in $elfs; do needed "$f"; done | sort -u | tr '\n' ' ') "
for f in lib/*; do
    [ -e "$f" ] || continue
    case "$all_needed" in
    *" ${f#lib/} "*) ;;
    *) die "$f is needed by nothing in the ZIP" ;;
    esac
done

# 4. the config: checked by this bootstrap where it can run here (natively, or
#    a cross build under qemu-user with the target's glibc installed), with the
#    plugins it packs
cp "$conf" ember.conf
run=
if LD_LIBRARY_PATH="$stage/lib" ./bootstrap -V >/dev/null 2>&1; then
    run=./bootstrap
else
    case $want_machine in
    AArch64) q=aarch64 ;;
    *X86-64*) q=x86_64 ;;
    *) q= ;;
    esac
    for e in "qemu-$q-static" "qemu-$q"; do
        [ -n "$q" ] && command -v "$e" >/dev/null 2>&1 || continue
        if LD_LIBRARY_PATH="$stage/lib" "$e" ./bootstrap -V >/dev/null 2>&1; then
            run="$e ./bootstrap"
            break
        fi
    done
fi
if [ -n "$run" ]; then
    # as in the sandbox: plugins from $LAMBDA_TASK_ROOT/plugins, each one loaded,
    # initialised and its routes' route_init run (what the first requests would do)
    env -u EMBER_PLUGIN_DIR -u EMBER_CONF LAMBDA_TASK_ROOT="$stage" LD_LIBRARY_PATH="$stage/lib" \
        $run -t ember.conf >conf.txt 2>&1 || {
        sed 's/^/  /' conf.txt >&2
        die "bootstrap -t rejects $conf (this build has plugins: ${plugins:-none}); fix it, or make zip EMBER_ZIP_CONF=FILE"
    }
    rm -f conf.txt
else
    echo "$me: ember.conf not checked (bootstrap for $want_machine does not run here)" >&2
fi

# 5. the ZIP: fixed order and times, unix modes (bootstrap 0755)
chmod 0755 bootstrap plugins lib plugins/* 2>/dev/null || true
chmod 0644 ember.conf
epoch=${SOURCE_DATE_EPOCH:-315964800}
find . -exec touch -h -d "@$epoch" {} +
rm -f "$out.tmp"
# shellcheck disable=SC2046
TZ=UTC zip -q -X -9 -D "$out.tmp" bootstrap ember.conf $(ls plugins/*.so) $(ls lib/* 2>/dev/null) ||
    die "zip failed"
if command -v advzip >/dev/null 2>&1; then
    advzip -q -z -3 "$out.tmp" || die "advzip failed"
fi
# what Lambda will see: bootstrap executable, made on unix
mode=$(zipinfo "$out.tmp" bootstrap | awk '{print $1}')
[ "$mode" = "-rwxr-xr-x" ] || die "bootstrap has mode $mode in the ZIP, not -rwxr-xr-x"
mv "$out.tmp" "$out"

# 6. the size, and what makes it
size=$(wc -c <"$out")
unpacked=$(zipinfo -t "$out" | awk '{print $3}')
files=$(zipinfo -t "$out" | awk '{print $1}')
echo "$me: $out: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f MiB", s / 1048576 }')), $files files, $unpacked bytes unpacked; biggest members (compressed, unpacked):"
zipinfo -l "$out" | awk '$1 ~ /^-/ { print $6, $4, $NF }' | sort -rn | head -n 8 |
    awk '{ printf "  %9d %9d  %s\n", $1, $2, $3 }'
if [ "$unpacked" -gt 262144000 ]; then
    die "unpacked size $unpacked is over Lambda's 250 MB limit"
fi
