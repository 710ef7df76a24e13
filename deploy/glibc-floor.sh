#!/bin/sh
# glibc-floor.sh - fail if an ELF file needs a glibc newer than the runtime has.
#
#   deploy/glibc-floor.sh [--floor 2.34] FILE...
#
# Lambda's provided.al2023 image has glibc 2.34. A file built or packaged on a
# newer system (Debian 12 has 2.36) may reference a symbol version the image
# lacks (e.g. arc4random@GLIBC_2.36), and then fails to load there with
# "version `GLIBC_2.36' not found" - on the first request that loads it.
# This check reads what each file needs (readelf works for any architecture):
#   - every undefined dynamic symbol bound to a GLIBC_x.y version above the floor,
#   - every GLIBC_* version the file requires that the floor glibc does not
#     define (GLIBC_ABI_DT_RELR, from glibc 2.36's packed relocations;
#     GLIBC_PRIVATE, which no outside file may rely on),
# and prints one line per offence: "FILE: SYMBOL@GLIBC_x.y (newer than glibc 2.34)".
# Exit 0 when every file is within the floor, 1 otherwise, 2 on usage errors.
set -u

floor=2.34
if [ "${1:-}" = "--floor" ]; then
    floor=${2:?--floor needs a version}
    shift 2
fi
if [ $# -eq 0 ]; then
    echo "usage: $0 [--floor 2.34] FILE..." >&2
    exit 2
fi
READELF=${READELF:-readelf}
command -v "$READELF" >/dev/null 2>&1 || { echo "glibc-floor: $READELF not found (apt-get install binutils)" >&2; exit 2; }

bad=0
for f in "$@"; do
    if ! "$READELF" -h "$f" >/dev/null 2>&1; then
        echo "glibc-floor: $f: not an ELF file" >&2
        bad=1
        continue
    fi
    # Undefined dynamic symbols with a GLIBC_x.y[.z] version, and the version
    # names the file requires (section .gnu.version_r), compared in awk.
    out=$({
        "$READELF" -W --dyn-syms "$f" 2>/dev/null |
            awk '$7 == "UND" && $8 ~ /@GLIBC_/ { sub(/ \([0-9]+\)$/, "", $8); print "sym", $8 }'
        "$READELF" -W -V "$f" 2>/dev/null |
            awk '/^Version needs section/ { need = 1; next }
                 /^Version (definition|symbols) section/ { need = 0; next }
                 need && /Name: GLIBC_/ { for (i = 1; i <= NF; i++) if ($i == "Name:") print "ver", $(i + 1) }'
    } | awk -v floor="$floor" -v file="$f" '
        function newer(v,   a, b, n, m, i) {     # v = "2.36" or "2.3.4"
            n = split(v, a, ".")
            m = split(floor, b, ".")
            for (i = 1; i <= (n > m ? n : m); i++) {
                if ((a[i] + 0) > (b[i] + 0)) return 1
                if ((a[i] + 0) < (b[i] + 0)) return 0
            }
            return 0
        }
        $1 == "sym" {
            name = $2; ver = $2
            sub(/@.*/, "", name); sub(/.*@GLIBC_/, "", ver)
            if (ver ~ /^[0-9.]+$/ && newer(ver)) {
                printf "%s: %s@GLIBC_%s (newer than glibc %s)\n", file, name, ver, floor
                seen["GLIBC_" ver] = 1
            } else if (ver !~ /^[0-9.]+$/) {
                printf "%s: %s@GLIBC_%s (not a public glibc %s version)\n", file, name, ver, floor
                seen["GLIBC_" ver] = 1
            }
        }
        $1 == "ver" {
            v = $2
            if (v in seen) next
            seen[v] = 1
            num = v; sub(/^GLIBC_/, "", num)
            if (num ~ /^[0-9.]+$/) {
                if (newer(num))
                    printf "%s: requires version %s (newer than glibc %s)\n", file, v, floor
            } else if (v != "GLIBC_ABI_DT_RELR" || newer("2.36")) {
                # GLIBC_ABI_DT_RELR appeared in 2.36; GLIBC_PRIVATE never is public
                printf "%s: requires version %s (not in glibc %s)\n", file, v, floor
            }
        }')
    if [ -n "$out" ]; then
        printf '%s\n' "$out"
        bad=1
    fi
done
exit $bad
