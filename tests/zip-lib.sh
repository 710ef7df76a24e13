# zip-lib.sh - sourced by tests/zip*.test (POSIX sh): TAP helpers, and an empty
# root in which the unpacked function.zip runs as it would on provided.al2023.
#
#   zt_ok COND_STATUS DESCRIPTION     one TAP line from the status of the last command
#   zt_skip DESCRIPTION REASON        "ok N - DESCRIPTION # SKIP REASON"
#   zt_diag TEXT...                   "# TEXT" lines (stdin when no argument)
#   zt_tap_from FILE                  append a runner's TAP, renumbered; 0 if all passed
#   zt_done                           the plan; exit 1 if anything failed
#   zt_need_root_tools                skip all unless root with chroot, patchelf, zip, ...
#   zt_make_root DIR DEBARCH ELF      DIR/lib64 = glibc's own files (dpkg -L libc6:DEBARCH),
#                                     the ELF's interpreter path, DIR/tmp; nothing else
#   zt_make_decoys DIR CC NAME...     a decoy DIR/lib64/NAME for each NAME, which exits 86
#                                     if loaded
#   zt_wrapper FILE DIR [QEMU]        FILE: a script the runner starts as "bootstrap"; it
#                                     runs DIR/var/task/bootstrap in a chroot (under QEMU,
#                                     copied into DIR, for another architecture) with
#                                     Lambda's environment
#
# Lambda's environment for a provided.al2023 function (what the runtime sets):
ZT_LAMBDA_LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
ZT_LAMBDA_PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin

zt_n=0
zt_failed=0

zt_ok() {
    zt_n=$((zt_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $zt_n - $2"
    else
        echo "not ok $zt_n - $2"
        zt_failed=$((zt_failed + 1))
    fi
}

zt_skip() {
    zt_n=$((zt_n + 1))
    echo "ok $zt_n - $1 # SKIP $2"
}

zt_diag() {
    if [ $# -gt 0 ]; then
        printf '%s\n' "$*" | sed 's/^/# /'
    else
        sed 's/^/# /'
    fi
}

# zt_tap_from FILE: the runner's TAP lines renumbered into ours; plans and
# "Bail out!" become diagnostics (a bail-out counts as a failure).
zt_tap_from() {
    _bad=0
    while IFS= read -r _l; do
        case $_l in
        "ok "[0-9]*|"not ok "[0-9]*)
            zt_n=$((zt_n + 1))
            case $_l in
            "not ok "*)
                _bad=1
                zt_failed=$((zt_failed + 1))
                echo "not ok $zt_n$(echo "${_l#not ok }" | sed 's/^[0-9]*//')"
                ;;
            *) echo "ok $zt_n$(echo "${_l#ok }" | sed 's/^[0-9]*//')" ;;
            esac
            ;;
        1..*) ;;
        "Bail out!"*)
            _bad=1
            zt_n=$((zt_n + 1))
            zt_failed=$((zt_failed + 1))
            echo "not ok $zt_n - runner: ${_l#Bail out! }"
            ;;
        "#"*) echo "$_l" ;;
        *) echo "# $_l" ;;
        esac
    done <"$1"
    return $_bad
}

zt_done() {
    echo "1..$zt_n"
    [ "$zt_failed" -eq 0 ]
    exit $?
}

zt_need_root_tools() {
    [ "$(id -u)" -eq 0 ] || ember_skip_all "needs root (chroot into an empty root)"
    for _t in chroot patchelf zip unzip zipinfo readelf dpkg; do
        command -v "$_t" >/dev/null 2>&1 ||
            ember_skip_all "$_t not found (apt-get install patchelf zip unzip binutils)"
    done
}

zt_make_root() {
    _root=$1 _arch=$2 _elf=$3
    mkdir -p "$_root/lib64" "$_root/tmp" "$_root/var/task" || return 1
    chmod 1777 "$_root/tmp"
    _files=$(dpkg -L "libc6:$_arch" 2>/dev/null | grep -E '^(/usr)?/lib/[^/]+-linux-gnu[^/]*/[^/]*\.so[.0-9]*$')
    if [ -z "$_files" ]; then
        echo "zt_make_root: libc6:$_arch is not installed" >&2
        return 1
    fi
    for _f in $_files; do
        cp -L "$_f" "$_root/lib64/" || return 1
    done
    # the program interpreter at the path the ELF names (AL2023 keeps
    # glibc in /lib64; aarch64's /lib/ld-linux-aarch64.so.1 points there)
    _interp=$(readelf -lW "$_elf" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
    [ -n "$_interp" ] || { echo "zt_make_root: $_elf names no interpreter" >&2; return 1; }
    if [ ! -e "$_root$_interp" ]; then
        mkdir -p "$_root$(dirname "$_interp")"
        ln -s "/lib64/$(basename "$_interp")" "$_root$_interp"
    fi
    [ -f "$_root/lib64/$(basename "$_interp")" ] ||
        { echo "zt_make_root: no $(basename "$_interp") in libc6:$_arch" >&2; return 1; }
}

zt_make_decoys() {
    _root=$1 _cc=$2
    shift 2
    cat >"$_root/../decoy.c" <<'EOF'
#include <unistd.h>
__attribute__((constructor)) static void decoy(void)
{
    static const char msg[] = "ember-decoy: a same-named library from /lib64 was loaded instead of the ZIP's lib/\n";
    (void) !write(2, msg, sizeof msg - 1);
    _exit(86);
}
EOF
    $_cc -shared -fPIC -O1 -o "$_root/../decoy.so" "$_root/../decoy.c" || return 1
    for _n in "$@"; do
        cp "$_root/../decoy.so" "$_root/lib64/$_n" || return 1
    done
}

zt_wrapper() {
    _file=$1 _root=$2 _qemu=${3:-}
    _chroot=$(command -v chroot)
    _run=/var/task/bootstrap
    if [ -n "$_qemu" ]; then
        cp "$_qemu" "$_root/$(basename "$_qemu")" || return 1
        _run="/$(basename "$_qemu") /var/task/bootstrap"
    fi
    cat >"$_file" <<EOF
#!/bin/sh
# The ZIP's bootstrap in an empty root, as Lambda starts it (generated by tests/zip-lib.sh).
unset EMBER_CONF EMBER_PLUGIN_DIR EMBER_TEST_PLUGINS EMBER_TEST_TMP EMBER_PRELOAD HOME
LAMBDA_TASK_ROOT=/var/task
LD_LIBRARY_PATH=$ZT_LAMBDA_LD_LIBRARY_PATH
PATH=$ZT_LAMBDA_PATH
export LAMBDA_TASK_ROOT LD_LIBRARY_PATH PATH
exec $_chroot '$_root' $_run "\$@"
EOF
    chmod 0755 "$_file"
}
