# EMBER_CROSS_MULTIARCH
# Cross builds against Debian's multiarch packages (e.g. --host=aarch64-linux-gnu
# with libcurl4-gnutls-dev:arm64 installed beside the amd64 one).
#
# 1. Debian 12 ships no <triplet>-pkg-config for foreign architectures, so
#    PKG_PROG_PKG_CONFIG falls back to the build machine's pkg-config, which
#    would hand out the *build* architecture's flags.  When cross-compiling with
#    an unprefixed pkg-config and neither PKG_CONFIG_LIBDIR nor
#    PKG_CONFIG_SYSROOT_DIR set, read the host architecture's .pc files
#    (/usr/lib/<multiarch>/pkgconfig) and the architecture-independent ones.
# 2. libpq-dev is not "Multi-Arch: same" in Debian 12 (it ships pg_config), so
#    libpq-dev:arm64 cannot be installed beside libpq-dev:amd64 (apt removes
#    the other).  libpq5:<arch> can, and the native libpq-dev's headers are
#    architecture-independent for LP64 targets (pg_config_ext.h only defines
#    PG_INT64_TYPE as "long int").  So, when cross-compiling, PQ_CFLAGS/PQ_LIBS
#    are unset, the host has no libpq.pc, and /usr/lib/<multiarch>/libpq.so.5
#    exists, link that file by name.  An explicit PQ_CFLAGS/PQ_LIBS wins.
# Must run after PKG_PROG_PKG_CONFIG and before EMBER_WITH_PLUGINS.
AC_DEFUN([EMBER_CROSS_MULTIARCH], [
  AC_REQUIRE([AC_CANONICAL_HOST])
  AS_IF([test "x$cross_compiling" = xyes], [
    ember_multiarch=`$CC -print-multiarch 2>/dev/null`
    AS_CASE([$PKG_CONFIG],
      [*/"$host_alias"-pkg-config|*/"$host"-pkg-config], [],
      [AS_IF([test -z "${PKG_CONFIG_LIBDIR+set}${PKG_CONFIG_SYSROOT_DIR+set}" &&
              test -n "$ember_multiarch" &&
              test -d "/usr/lib/$ember_multiarch/pkgconfig"], [
        PKG_CONFIG_LIBDIR="/usr/lib/$ember_multiarch/pkgconfig:/usr/share/pkgconfig"
        export PKG_CONFIG_LIBDIR
        AC_MSG_NOTICE([cross build: pkg-config reads $PKG_CONFIG_LIBDIR])
      ])])
    AS_IF([test -z "${PQ_CFLAGS+set}${PQ_LIBS+set}" && test -n "$ember_multiarch" &&
           test -n "$PKG_CONFIG" && ! $PKG_CONFIG --exists libpq &&
           test -f "/usr/lib/$ember_multiarch/libpq.so.5" &&
           test -f /usr/include/postgresql/libpq-fe.h], [
      PQ_CFLAGS="-I/usr/include/postgresql"
      PQ_LIBS="-l:libpq.so.5"
      AC_MSG_NOTICE([cross build: no libpq.pc for $ember_multiarch (libpq-dev is not co-installable);
  using /usr/lib/$ember_multiarch/libpq.so.5 (libpq5:<arch>) and the headers in /usr/include/postgresql])
    ])
  ])
])
