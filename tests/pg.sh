#!/bin/sh
# tests/pg.sh - a throwaway PostgreSQL for the tests and for local runs.
#
# Sourced (POSIX sh):
#     . "$top_srcdir/tests/pg.sh"
#     pg_start          # initdb in a temp dir, start, create db "ember", load
#                       # conf/items.sql, export DATABASE_URL (+ PG_* below);
#                       # installs an EXIT/INT/TERM trap that calls pg_stop
#       Options (environment, read by pg_start):
#       PG_SSL=on          ssl=on with a server certificate for localhost,
#                          signed by a CA made here ($PG_DIR/tls/ca.pem;
#                          another CA that signed nothing: other-ca.pem)
#       PG_HBA=METHOD      TCP password method: scram-sha-256 (default) or
#                          md5 (the password is then stored as md5 too)
#       PG_HBA_TYPE=hostssl  TCP only over TLS (default host: either)
#       PG_MAX_CONNECTIONS=N  max_connections (no superuser reserve)
#     pgb_start         # a PgBouncer (transaction pooling, SCRAM) in front of
#                       # it: exports PGB_PORT, PGB_PID (its pid file) and
#                       # PGB_URL (DATABASE_URL through it); pg_stop stops it
#     pg_down / pg_up   # stop the server (keep its data) / start it again on
#                       # the same port and socket (e.g. mid-run outages)
#     pg_restart        # pg_down + pg_up
#     pg_stop           # fast shutdown and remove the temp dir (idempotent)
#     pg_psql ARGS...   # psql as the database owner on the socket
#
# As a command (the server outlives it; `eval` what start prints):
#     eval "$(tests/pg.sh start)"     # prints export lines
#     tests/pg.sh down|up|restart|stop|psql ...   # use PG_DIR from the env
#     tests/pg.sh terminate DELAY PATTERN   # returns at once; DELAY seconds
#                       # later, ends the backends whose query is LIKE PATTERN
#                       # (in a session of its own: outlives its caller's group)
#     tests/pg.sh hold N     # N sessions that hold a slot each (application
#                       # holder), in the background; returns once they are
#                       # all in (N = max_connections: once a new one is refused)
#     tests/pg.sh release   # end the holders; returns once a session gets in
#     tests/pg.sh pgb-stop-when PATTERN   # returns at once; as soon as a
#                       # backend runs a query LIKE PATTERN, SIGSTOPs PgBouncer
#                       # (a peer that stops answering; pgb-ready CONTs it)
#     tests/pg.sh pgb-ready   # exit 0 once a query through $PGB_URL works (10 s)
#     tests/pg.sh connections N [APP]   # exit 0 once exactly N sessions have
#                       # application_name APP (default ember), within 3 s
#
# Exported: DATABASE_URL (libpq URI over TCP to 127.0.0.1, with a password),
# PG_SOCKET_URL (the same database over the unix socket), PG_DIR, PG_PORT,
# PG_PASSWORD, PG_BIN.  The server runs as the unprivileged `postgres` user
# when we are root (PostgreSQL refuses root), in a dir that user can enter.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg__top() {
    if [ -n "${top_srcdir:-}" ]; then
        echo "$top_srcdir"
    else
        # tests/pg.sh run as a command: its directory's parent
        (cd "$(dirname "$0")/.." && pwd)
    fi
}

# Run a server-side command as the unprivileged user when we are root.
pg__as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg__log() {
    echo "# pg.sh: $*" >&2
}

pg__random_port() {
    n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    echo $((20000 + n % 40000))
}

# Start the server in $PG_DIR/data on $PG_PORT; 0 when ready.
pg__server_start() {
    pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null 2>&1
}

# A CA, a server certificate for localhost/127.0.0.1 it signed, and a
# second CA that signed nothing, in $PG_DIR/tls (openssl).
pg__make_tls() {
    t=$PG_DIR/tls
    mkdir -p "$t" || return 1
    (
        cd "$t" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ember test CA" \
            -keyout ca.key -out ca.pem &&
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ember other CA" \
            -keyout other-ca.key -out other-ca.pem &&
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout server.key -out server.csr &&
        printf 'subjectAltName=DNS:localhost\n' >san.ext &&
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 2 -extfile san.ext -out server.crt
    ) >"$PG_DIR/tls.log" 2>&1 || { pg__log "making certificates failed:"; sed 's/^/#   /' "$PG_DIR/tls.log" >&2; return 1; }
    chmod 0755 "$t"
    chmod 0644 "$t"/*.pem "$t/server.crt"
    chmod 0600 "$t/server.key"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$t/server.key" "$t/server.crt"
    fi
    {
        echo "ssl = on"
        echo "ssl_cert_file = '$t/server.crt'"
        echo "ssl_key_file = '$t/server.key'"
    } >>"$PG_DIR/data/postgresql.conf"
    PG_SSL_CA=$t/ca.pem
    PG_SSL_OTHER_CA=$t/other-ca.pem
    export PG_SSL_CA PG_SSL_OTHER_CA
}

# The options (see the top): postgresql.conf and pg_hba.conf before the start.
pg__configure() {
    if [ "${PG_SSL:-off}" = on ]; then
        pg__make_tls || return 1
    fi
    if [ -n "${PG_MAX_CONNECTIONS:-}" ]; then
        {
            echo "max_connections = $PG_MAX_CONNECTIONS"
            echo "superuser_reserved_connections = 0"
            # a backend whose client went away (pg.sh release) frees its
            # slot at once, even in the middle of a pg_sleep
            echo "client_connection_check_interval = 100"
        } >>"$PG_DIR/data/postgresql.conf"
    fi
    method=${PG_HBA:-scram-sha-256}
    if [ "$method" = md5 ]; then
        echo "password_encryption = md5" >>"$PG_DIR/data/postgresql.conf"
    fi
    {
        echo "local all all trust"
        echo "${PG_HBA_TYPE:-host} all all 127.0.0.1/32 $method"
    } >"$PG_DIR/data/pg_hba.conf"
}

pg_start() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        pg__log "already started in $PG_DIR"
        return 0
    fi
    if [ ! -x "$PG_BIN/initdb" ]; then
        pg__log "no PostgreSQL in $PG_BIN (apt-get install postgresql)"
        return 1
    fi
    # /tmp, not $TMPDIR: the postgres user must be able to reach the dir.
    PG_DIR=$(mktemp -d /tmp/ember-pg.XXXXXX) || return 1
    export PG_DIR
    chmod 0755 "$PG_DIR"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$PG_DIR" || return 1
    fi
    trap 'pg_stop' EXIT
    trap 'pg_stop; exit 130' INT
    trap 'pg_stop; exit 143' TERM

    PG_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile"
    chmod 0644 "$PG_DIR/pwfile"
    # Local (socket) connections are trusted, TCP needs the password.
    if ! pg__as "$PG_BIN/initdb" -D "$PG_DIR/data" -U ember --pwfile="$PG_DIR/pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale \
            >"$PG_DIR/initdb.log" 2>&1; then
        pg__log "initdb failed:"
        sed 's/^/#   /' "$PG_DIR/initdb.log" >&2
        pg_stop
        return 1
    fi
    rm -f "$PG_DIR/pwfile"
    if ! pg__configure; then
        pg_stop
        return 1
    fi

    tries=0
    while :; do
        PG_PORT=$(pg__random_port)
        export PG_PORT
        if pg__server_start; then
            break
        fi
        tries=$((tries + 1))
        if [ "$tries" -ge 10 ]; then
            pg__log "postgres did not start:"
            tail -n 20 "$PG_DIR/server.log" 2>/dev/null | sed 's/^/#   /' >&2
            pg_stop
            return 1
        fi
    done

    if ! "$PG_BIN/createdb" -h "$PG_DIR" -p "$PG_PORT" -U ember ember >/dev/null 2>&1; then
        pg__log "createdb failed"
        pg_stop
        return 1
    fi
    if ! pg_psql -f "$(pg__top)/conf/items.sql" >"$PG_DIR/load.log" 2>&1; then
        pg__log "loading conf/items.sql failed:"
        sed 's/^/#   /' "$PG_DIR/load.log" >&2
        pg_stop
        return 1
    fi

    if [ "${PG_HBA:-}" = md5 ]; then
        # initdb stored it as SCRAM: store it again, as md5
        printf "ALTER ROLE ember PASSWORD :'pw';\n" | pg_psql -v pw="$PG_PASSWORD" || {
            pg__log "storing the md5 password failed"
            pg_stop
            return 1
        }
    fi

    DATABASE_URL="postgresql://ember:$PG_PASSWORD@127.0.0.1:$PG_PORT/ember"
    PG_SOCKET_URL="postgresql://ember@/ember?host=$PG_DIR&port=$PG_PORT"
    export DATABASE_URL PG_SOCKET_URL PG_PASSWORD PG_BIN
    return 0
}

# psql as the owner over the socket; quiet, stops on the first error.
pg_psql() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U ember -d ember "$@"
}

pg_down() {
    [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
    pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1
}

pg_up() {
    [ -n "${PG_DIR:-}" ] && [ -n "${PG_PORT:-}" ] || { pg__log "pg_up: PG_DIR/PG_PORT not set"; return 1; }
    [ -f "$PG_DIR/data/postmaster.pid" ] && return 0
    if ! pg__server_start; then
        pg__log "postgres did not start again on port $PG_PORT:"
        tail -n 20 "$PG_DIR/server.log" 2>/dev/null | sed 's/^/#   /' >&2
        return 1
    fi
}

pg_restart() {
    pg_down && pg_up
}

# A PgBouncer in transaction pooling mode on 127.0.0.1:$PGB_PORT, in
# front of the server, as the unprivileged user; its files in $PG_DIR/pgb.
pgb_start() {
    [ -n "${PG_DIR:-}" ] || { pg__log "pgb_start: start the server first"; return 1; }
    pgb=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    [ -x "$pgb" ] || { pg__log "no pgbouncer (apt-get install pgbouncer)"; return 1; }
    d=$PG_DIR/pgb
    mkdir -p "$d" || return 1
    printf '"ember" "%s"\n' "$PG_PASSWORD" >"$d/userlist.txt"
    tries=0
    while :; do
        PGB_PORT=$(pg__random_port)
        cat >"$d/pgbouncer.ini" <<EOF2
[databases]
ember = host=127.0.0.1 port=$PG_PORT dbname=ember
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $d/userlist.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
server_login_retry = 1
query_wait_timeout = 3
logfile = $d/pgbouncer.log
pidfile = $d/pgbouncer.pid
EOF2
        if [ "$(id -u)" = 0 ]; then
            chown -R postgres:postgres "$d"
        fi
        chmod 0700 "$d"
        rm -f "$d/pgbouncer.pid"
        if pg__as "$pgb" -d "$d/pgbouncer.ini" >>"$d/start.log" 2>&1; then
            n=0
            while [ "$n" -lt 50 ] && ! pg__as test -s "$d/pgbouncer.pid"; do
                sleep 0.1
                n=$((n + 1))
            done
            # listening once a client gets an answer (any) from it
            n=0
            while [ "$n" -lt 50 ]; do
                if PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" -X -q -At \
                        -h 127.0.0.1 -p "$PGB_PORT" -U ember -d ember -c 'SELECT 1' >/dev/null 2>&1; then
                    PGB_PID=$d/pgbouncer.pid
                    PGB_URL="postgresql://ember:$PG_PASSWORD@127.0.0.1:$PGB_PORT/ember"
                    export PGB_PORT PGB_PID PGB_URL
                    return 0
                fi
                sleep 0.1
                n=$((n + 1))
            done
            pgb__stop
        fi
        tries=$((tries + 1))
        if [ "$tries" -ge 5 ]; then
            pg__log "pgbouncer did not start:"
            pg__as cat "$d/pgbouncer.log" "$d/start.log" 2>/dev/null | tail -n 20 | sed 's/^/#   /' >&2
            return 1
        fi
    done
}

pgb__stop() {
    [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/pgb" ] || return 0
    p=$(pg__as cat "$PG_DIR/pgb/pgbouncer.pid" 2>/dev/null) || return 0
    [ -n "$p" ] || return 0
    kill -CONT "$p" 2>/dev/null
    kill -INT "$p" 2>/dev/null
    n=0
    while kill -0 "$p" 2>/dev/null && [ "$n" -lt 50 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    kill -KILL "$p" 2>/dev/null
    pg__as rm -f "$PG_DIR/pgb/pgbouncer.pid"
}

pg_stop() {
    trap - EXIT INT TERM
    [ -n "${PG_DIR:-}" ] || return 0
    pgb__stop
    if [ -f "$PG_DIR/holders.pid" ]; then
        for p in $(cat "$PG_DIR/holders.pid"); do
            kill -TERM "-$p" 2>/dev/null
        done
    fi
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
        pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 10 stop >/dev/null 2>&1
    fi
    case "$PG_DIR" in
    /tmp/ember-pg.*) rm -rf "$PG_DIR" ;;
    esac
    unset PG_DIR PG_PORT PG_PASSWORD DATABASE_URL PG_SOCKET_URL PG_SSL_CA PG_SSL_OTHER_CA \
        PGB_PORT PGB_PID PGB_URL
    return 0
}

# Run as a command (not sourced): tests/pg.sh start|stop|down|up|restart|psql
case "$0" in
*pg.sh)
    cmd=${1:-}
    [ $# -gt 0 ] && shift
    case "$cmd" in
    start)
        pg_start || exit 1
        trap - EXIT INT TERM    # the server outlives this command
        printf "export PG_DIR='%s' PG_PORT='%s' PG_PASSWORD='%s' PG_BIN='%s'\n" \
            "$PG_DIR" "$PG_PORT" "$PG_PASSWORD" "$PG_BIN"
        printf "export DATABASE_URL='%s' PG_SOCKET_URL='%s'\n" "$DATABASE_URL" "$PG_SOCKET_URL"
        [ -z "${PG_SSL_CA:-}" ] || printf "export PG_SSL_CA='%s' PG_SSL_OTHER_CA='%s'\n" "$PG_SSL_CA" "$PG_SSL_OTHER_CA"
        ;;
    stop) pg_stop ;;
    down) pg_down ;;
    up) pg_up ;;
    restart) pg_restart ;;
    psql) pg_psql "$@" ;;
    terminate)
        [ $# -eq 2 ] || { echo "usage: $0 terminate DELAY PATTERN" >&2; exit 2; }
        setsid -f sh "$0" terminate-now "$1" "$2" </dev/null >/dev/null 2>&1
        ;;
    terminate-now)
        sleep "$1"
        printf '%s\n' "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE :'pat' AND pid <> pg_backend_pid();" |
            pg_psql -At -v pat="$2"
        ;;
    hold)
        # each holder retries until it is in (a probe below may take its slot
        # for a moment), then sleeps there; one process group each
        want=${1:?usage: $0 hold N}
        i=0
        while [ "$i" -lt "$want" ]; do
            PGAPPNAME=holder setsid sh -c 'n=0; until "$0" -X -q -h "$1" -p "$2" -U ember \
                    -d ember -c "SELECT pg_sleep(120)"; do n=$((n + 1)); [ $n -lt 200 ] || exit 1;
                    sleep 0.05; done' \
                "$PG_BIN/psql" "$PG_DIR" "$PG_PORT" </dev/null >/dev/null 2>&1 &
            echo $! >>"$PG_DIR/holders.pid"
            i=$((i + 1))
        done
        # in: all of them counted, or (want = every slot) this probe refused:
        # only holders and this one probe connect
        n=0
        while [ "$n" -lt 200 ]; do
            out=$(pg_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder'" 2>&1)
            case "$out" in
            "$want" | *"too many clients"*) exit 0 ;;
            esac
            sleep 0.05
            n=$((n + 1))
        done
        echo "pg.sh: the holders did not get in ($out)" >&2
        exit 1
        ;;
    release)
        if [ -f "$PG_DIR/holders.pid" ]; then
            for p in $(cat "$PG_DIR/holders.pid"); do
                kill -TERM "-$p" 2>/dev/null
            done
        fi
        rm -f "$PG_DIR/holders.pid"
        n=0
        while [ "$n" -lt 200 ]; do
            out=$(pg_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder'" 2>&1)
            [ "$out" = 0 ] && exit 0
            sleep 0.05
            n=$((n + 1))
        done
        echo "pg.sh: the holders are still in ($out)" >&2
        exit 1
        ;;
    pgb-stop-when)
        [ $# -eq 1 ] || { echo "usage: $0 pgb-stop-when PATTERN" >&2; exit 2; }
        setsid -f sh "$0" pgb-stop-now "$1" </dev/null >/dev/null 2>&1
        ;;
    pgb-stop-now)
        n=0
        while [ "$n" -lt 200 ]; do
            c=$(printf '%s\n' "SELECT count(*) FROM pg_stat_activity WHERE query LIKE :'pat' AND state = 'active' AND pid <> pg_backend_pid();" |
                pg_psql -At -v pat="$1")
            if [ "${c:-0}" -gt 0 ]; then
                kill -STOP "$(pg__as cat "$PGB_PID")"
                exit 0
            fi
            sleep 0.02
            n=$((n + 1))
        done
        exit 1
        ;;
    pgb-ready)
        # PgBouncer is running (SIGCONT) and reaches the server again (after an outage it waits
        # server_login_retry before trying): within 10 s
        kill -CONT "$(pg__as cat "$PGB_PID")" 2>/dev/null
        n=0
        while [ "$n" -lt 100 ]; do
            "$PG_BIN/psql" -X -q -At -d "${PGB_URL:?}" -c 'SELECT 1' >/dev/null 2>&1 && exit 0
            sleep 0.1
            n=$((n + 1))
        done
        echo "pg.sh: PgBouncer does not reach the server" >&2
        exit 1
        ;;
    connections)
        want=${1:?usage: $0 connections N [APP]}
        app=${2:-ember}
        n=
        tries=0
        while [ "$tries" -lt 30 ]; do
            n=$(printf '%s\n' "SELECT count(*) FROM pg_stat_activity WHERE application_name = :'app';" |
                pg_psql -At -v app="$app")
            [ "$n" = "$want" ] && exit 0
            tries=$((tries + 1))
            sleep 0.1
        done
        echo "pg.sh: $n sessions of $app, expected $want" >&2
        exit 1
        ;;
    *)
        echo "usage: $0 start|stop|down|up|restart|psql [ARGS]|terminate DELAY PATTERN|connections N [APP]" >&2
        exit 2
        ;;
    esac
    ;;
esac
