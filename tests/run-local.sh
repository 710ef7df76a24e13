#!/bin/sh
# run-local.sh - the default service on a laptop: a throwaway PostgreSQL with
# the items table, and ember-local (API Gateway + Lambda) in front of the
# build's bootstrap.  `./dev run` ends here; Ctrl-C stops everything and
# removes what it made.
#
#   tests/run-local.sh BUILDDIR [--zip function.zip] [ember-local options]
#
# BUILDDIR      the build tree (core/bootstrap, plugins/.libs, emu/ember-local)
# --zip FILE    run the packaged function instead: unzipped into a temp dir,
#               whose bootstrap, ember.conf and plugins/ are used
# options       passed to ember-local (see `ember-local --help`), e.g.
#               --port 8080, --event-format v1, --idle-timeout 30, -c 4
#
# Env: PORT (default 3000; 0 = any free port), JWT_SECRET (default: a fresh
# random one), EMBER_CONF (default conf/ember.conf of the source tree).
# If the port is taken, a free one is used instead (and said so).

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
me="run-local"

say() { printf '%s: %s\n' "$me" "$*" >&2; }
die() { say "$*"; exit 1; }

[ $# -ge 1 ] || die "usage: tests/run-local.sh BUILDDIR [--zip function.zip] [ember-local options]"
builddir=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such build directory (run ./dev build)"
shift

local_bin=$builddir/emu/ember-local
bootstrap=$builddir/core/bootstrap
[ -x "$local_bin" ] || die "$local_bin is missing: build it (./dev build; configure without --disable-local)"

# Our own options; the rest goes to ember-local.
zip=""
user_port=""
user_root=no
n=$#
i=0
while [ $i -lt $n ]; do
    a=$1
    shift
    i=$((i + 1))
    case "$a" in
    --zip)
        [ $i -lt $n ] || die "--zip needs a file"
        zip=$1; shift; i=$((i + 1))
        continue ;;
    --zip=*) zip=${a#--zip=}; continue ;;
    -p|--port)
        [ $i -lt $n ] || die "$a needs a number"
        user_port=$1; shift; i=$((i + 1))
        continue ;;
    --port=*) user_port=${a#--port=}; continue ;;
    -d|--task-root|--task-root=*|-b|--bootstrap|--bootstrap=*) user_root=yes ;;
    esac
    set -- "$@" "$a"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-local.XXXXXX") || die "cannot make a temp dir"
local_pid=""
cleanup() {
    trap - EXIT INT TERM HUP
    if [ -n "$local_pid" ] && kill -0 "$local_pid" 2>/dev/null; then
        kill -TERM "$local_pid" 2>/dev/null
        # ember-local stops its sandboxes (SIGTERM, SIGKILL after 0.5 s), then exits
        t=0
        while kill -0 "$local_pid" 2>/dev/null && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
        kill -KILL "$local_pid" 2>/dev/null
        wait "$local_pid" 2>/dev/null
    fi
    pg_stop
    rm -rf "$tmp"
}

. "$top/tests/pg.sh"
# pg.sh installs its own traps; ours (set after pg_start) covers both.
say "starting a throwaway PostgreSQL (items table from conf/items.sql)..."
pg_start || { rm -rf "$tmp"; die "PostgreSQL did not start (apt-get install postgresql; see messages above)"; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

if [ -z "${JWT_SECRET:-}" ]; then
    JWT_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
fi
export JWT_SECRET DATABASE_URL

# The function: the build tree's bootstrap and plugins, or an unpacked ZIP.
if [ -n "$zip" ]; then
    command -v unzip >/dev/null 2>&1 || die "--zip needs unzip (apt-get install unzip)"
    [ -f "$zip" ] || die "--zip $zip: no such file (make zip builds function.zip)"
    mkdir "$tmp/task" && unzip -q "$zip" -d "$tmp/task" || die "cannot unzip $zip"
    [ -x "$tmp/task/bootstrap" ] || die "$zip has no executable bootstrap at its root"
    set -- --task-root "$tmp/task" "$@"
elif [ "$user_root" = no ]; then
    [ -x "$bootstrap" ] || die "$bootstrap is missing: build it (./dev build)"
    set -- --bootstrap "$bootstrap" \
        -e "EMBER_CONF=${EMBER_CONF:-$top/conf/ember.conf}" \
        -e "EMBER_PLUGIN_DIR=$builddir/plugins/.libs" "$@"
fi
# Secrets come from the environment, as in Lambda's function configuration.
set -- -e JWT_SECRET -e DATABASE_URL "$@"

# Start ember-local; its exit status 3 means the port is taken.
port=${user_port:-${PORT:-3000}}
"$local_bin" --port "$port" --ready-file "$tmp/port" "$@" &
local_pid=$!
t=0
while [ ! -s "$tmp/port" ]; do
    if ! kill -0 "$local_pid" 2>/dev/null; then
        wait "$local_pid"
        rc=$?
        local_pid=""
        if [ "$rc" -eq 3 ] && [ "$port" != 0 ]; then
            say "port $port is taken; using a free port instead (choose one: ./dev run --port N)"
            "$local_bin" --port 0 --ready-file "$tmp/port" "$@" &
            local_pid=$!
            port=0
            t=0
            continue
        fi
        die "ember-local did not start (exit status $rc; see above)"
    fi
    t=$((t + 1))
    [ $t -lt 100 ] || die "ember-local did not get ready within 10 s"
    sleep 0.1
done
port=$(cat "$tmp/port")

token=$("$local_bin" token --sub alice --ttl 3600) || die "could not mint a token"

cat <<EOF

ember is serving on http://127.0.0.1:$port (HTTP API events; PostgreSQL on 127.0.0.1:$PG_PORT)

  curl -H "Authorization: Bearer $token" localhost:$port/items/1

A token for alice, valid 1 h (mint another: $local_bin token --sub bob --ttl 3600;
JWT_SECRET=$JWT_SECRET). Also: /hello, /items?limit=2, /me/items,
  curl -H "Authorization: Bearer $token" -H 'content-type: application/json' -d '{"name":"tea","price":3}' localhost:$port/items
Each request logs a REPORT line: cold or warm start, init and run durations, peak memory.
Ctrl-C stops everything.

EOF

# Wait for ember-local (or a signal: the traps clean up).
wait "$local_pid"
rc=$?
local_pid=""
exit $rc
