#!/bin/sh
# libpq-static.sh - a minimal static libpq for plugins/db.so, built from the
# Debian source package of the libpq installed here, and cached.
#
#   deps/libpq-static.sh [--cache DIR] [--host TRIPLET] [--cc CC]
#
# Prints the prefix holding include/ (libpq-fe.h, postgres_ext.h,
# pg_config_ext.h) and lib/ (libpq.a, libpgcommon_shlib.a, libpgport_shlib.a),
# all -fPIC; configure (m4/ember_libpq.m4, --with-libpq=static) links them
# into db.so with every symbol hidden, with OpenSSL's shared libraries (or,
# --with-libpq-openssl=static, Debian's libssl.a/libcrypto.a).
#
# Why: dlopen of Debian's libpq.so.5 maps ~20 libraries (OpenSSL, Kerberos,
# LDAP, SASL, ...) and resolves ~8000 symbols on every cold start of a db
# route; this libpq has only what a client of a PostgreSQL URL needs: OpenSSL
# for sslmode (kept: without it sslmode=prefer would silently mean plain
# text), no GSSAPI, LDAP, ICU, readline, zlib, NLS.
#
# Pinned: the version is the installed libpq-dev's (libpq5:ARCH's when
# cross-compiling), the source is that exact version of its source package,
# fetched by apt-get from the deb-src twin of this machine's Debian mirror
# lines, in a private apt state (the system's sources and lists are not
# touched; apt checks the files against the signed Release). Debian's patches
# are applied (e.g. the socket directory /var/run/postgresql), so it behaves
# like the system libpq.
#
# Cache: $EMBER_DEPS_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/ember, one
# directory per version, architecture and recipe; a second build (another
# build tree, another CI leg) reuses it. A lock serialises concurrent builds.
# The log of a build is in the cache directory (build.log).
set -eu

me=libpq-static
die() { echo "$me: $*" >&2; exit 1; }

cache=${EMBER_DEPS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ember}
host= cc=${CC:-cc}
while [ $# -gt 0 ]; do
    case $1 in
    --cache) cache=$2 ;;
    --host) host=$2 ;;
    --cc) cc=$2 ;;
    *) die "unknown option $1 (see the comment at the top of $0)" ;;
    esac
    [ $# -ge 2 ] || die "$1 needs a value"
    shift 2
done

# The recipe: changing anything below that alters the result bumps this.
recipe=2     # 2: deps/libpq-patches/ (fast client SCRAM)
pg_configure="--with-openssl --without-gssapi --without-ldap --without-icu
 --without-readline --without-zlib --without-llvm --without-perl --without-python
 --without-tcl --without-pam --without-bonjour --without-selinux --without-systemd
 --without-lz4 --without-zstd --without-libxml --without-libxslt
 --disable-nls --disable-rpath"
pg_cflags="-O2 -g0 -fPIC -fvisibility=hidden"

arch=$($cc -print-multiarch 2>/dev/null || true)
[ -n "$arch" ] || die "$cc -print-multiarch says nothing: not a Debian toolchain?"
dpkg_arch=$(dpkg-architecture -qDEB_HOST_ARCH -t "$arch" 2>/dev/null || true)
[ -n "$dpkg_arch" ] || dpkg_arch=$(dpkg --print-architecture)
if [ "$dpkg_arch" = "$(dpkg --print-architecture)" ]; then
    pkg=libpq-dev
else
    pkg=libpq5:$dpkg_arch
fi
ver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
src=$(dpkg-query -W -f='${source:Package}' "$pkg" 2>/dev/null || true)
[ -n "$ver" ] && [ -n "$src" ] ||
    die "$pkg is not installed (apt-get install $pkg): its version is the one built"
for f in libssl.a libcrypto.a; do
    [ -f "/usr/lib/$arch/$f" ] ||
        die "/usr/lib/$arch/$f: no such file (apt-get install libssl-dev${host:+:$dpkg_arch})"
done

key=libpq-$ver-$arch-r$recipe
out=$cache/$key
if [ -f "$out/lib/libpq.a" ] && [ -f "$out/done" ]; then
    echo "$out"
    exit 0
fi
mkdir -p "$cache" || die "cannot create $cache (set EMBER_DEPS_CACHE)"

# One build at a time per key; the loser of the race finds it done.
exec 9>"$cache/$key.lock"
flock 9 || die "cannot lock $cache/$key.lock"
if [ -f "$out/lib/libpq.a" ] && [ -f "$out/done" ]; then
    echo "$out"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-libpq.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log=$work/build.log
: >"$log"
t0=$(date +%s)

# 1. the source: a private apt state whose sources are the deb-src twins of
#    the machine's Debian "deb" lines (one-line and deb822 formats)
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/parts"
{
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\(.*debian.*\)$/deb-src \1\2/p' "$f"
    done
} | sort -u >"$work/apt/sources.list"
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: each stanza whose Types has "deb" and whose URIs are Debian's
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         /(^|\n)Types:[^\n]*deb([ \t\n]|$)/ && /(^|\n)URIs:[^\n]*debian/ {
             sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' \
        "$f" >>"$work/apt/src.sources"
done
[ -s "$work/apt/sources.list" ] || [ -s "$work/apt/src.sources" ] ||
    die "no Debian 'deb' line in /etc/apt/sources.list{,.d}: cannot fetch $src's source"
if [ -s "$work/apt/src.sources" ]; then
    mv "$work/apt/src.sources" "$work/apt/parts/ember-src.sources"
fi
set -- -o "Dir::Etc::SourceList=$work/apt/sources.list" \
    -o "Dir::Etc::SourceParts=$work/apt/parts" \
    -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" \
    -o "APT::Sandbox::User=$(id -un)"
apt-get -q "$@" update >>"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; die "apt-get update (deb-src) failed: see above"; }
mkdir "$work/dl"
# The installed version first.  Debian's security archive publishes binaries
# whose source is not always served beside them (404 for 15.20 from
# bookworm-security on the day this was written): then the newest other
# source version of the same major (the wire protocol and the client API are
# those of the major), and say so.
built=$ver
if ! (cd "$work/dl" && apt-get -q "$@" source --download-only "$src=$ver") >>"$log" 2>&1; then
    major=${ver%%.*}
    alts=$(apt-cache "$@" showsrc "$src" 2>/dev/null | sed -n 's/^Version: //p' |
           grep "^$major\." | grep -vxF "$ver" | sort -urV)
    built=
    for alt in $alts; do
        rm -f "$work"/dl/*
        if (cd "$work/dl" && apt-get -q "$@" source --download-only "$src=$alt") >>"$log" 2>&1; then
            built=$alt
            break
        fi
    done
    [ -n "$built" ] ||
        { tail -n 20 "$log" >&2; die "apt-get source $src=$ver failed, and no other $src $major.x source could be fetched"; }
    echo "$me: the source of $src $ver is not served; building $src $built (same major) instead" >&2
fi
dsc=$(ls "$work"/dl/*.dsc)
dpkg-source -x "$dsc" "$work/src" >>"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; die "dpkg-source -x $dsc failed"; }
# ember's own patches (deps/libpq-patches/, each says why): the client side of
# SCRAM only, nothing the server or the wire sees changes
here=$(cd "$(dirname "$0")" && pwd)
for p in "$here"/libpq-patches/*.patch; do
    [ -f "$p" ] || continue
    patch -d "$work/src" -p1 --no-backup-if-mismatch <"$p" >>"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; die "patch $p does not apply to $src $built"; }
done
t1=$(date +%s)

# 2. configure and build src/interfaces/libpq (and the src/common, src/port
#    archives it needs), position-independent, symbols hidden
mkdir "$work/b"
(cd "$work/b" && "$work/src/configure" ${host:+--host=$host} CC="$cc" \
    CFLAGS="$pg_cflags" $pg_configure) >>"$log" 2>&1 ||
    { tail -n 30 "$log" >&2; die "configure of $src $built failed"; }
jobs=$(nproc 2>/dev/null || echo 2)
make -C "$work/b/src/interfaces/libpq" -j"$jobs" libpq.a >>"$log" 2>&1 ||
    { tail -n 30 "$log" >&2; die "make of libpq.a failed"; }
t2=$(date +%s)

# 3. into the cache, atomically
rm -rf "$out.tmp"
mkdir -p "$out.tmp/lib" "$out.tmp/include"
cp "$work/b/src/interfaces/libpq/libpq.a" "$work/b/src/common/libpgcommon_shlib.a" \
    "$work/b/src/port/libpgport_shlib.a" "$out.tmp/lib/"
cp "$work/src/src/interfaces/libpq/libpq-fe.h" "$work/src/src/include/postgres_ext.h" \
    "$work/b/src/include/pg_config_ext.h" "$out.tmp/include/"
echo "$src $built (installed: $ver) for $arch: fetch $((t1 - t0)) s, build $((t2 - t1)) s" >"$out.tmp/done"
cp "$log" "$out.tmp/build.log"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$me: $(cat "$out/done")" >&2
echo "$out"
