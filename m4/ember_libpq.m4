# EMBER_WITH_LIBPQ
# --with-libpq=static|system: which libpq plugins/db.so carries.
#   static  (the default of native builds) a minimal libpq (OpenSSL for sslmode and
#           SCRAM; no GSSAPI, LDAP, ICU, zlib) built by deps/libpq-static.sh
#           from the Debian source package of the installed libpq-dev, pinned
#           to its version and cached, linked into db.so with its symbols hidden.
#   system  Debian's libpq.so.5 (and its ~20 libraries), as pkg-config says;
#           the default when cross-compiling, and what a native build falls
#           back to, with a warning, when --with-libpq is not given and the
#           static one cannot be built (no network to the archive, say).
#           When only an older source of the same major can be fetched than
#           the installed libpq-dev's, that one is built, with a warning.
# --with-libpq-openssl=shared|static (with --with-libpq=static): OpenSSL as
#   libssl.so.3/libcrypto.so.3 (default) or Debian's libssl.a/libcrypto.a
#   linked into db.so too. Measured (dlopen of db.so from a fresh process,
#   median): system 4.0-4.6 ms, static + shared OpenSSL 1.4 ms, all static
#   0.57 ms; but all static puts a second OpenSSL in function.zip (libcurl's
#   libssh2 needs libcrypto.so.3 there anyway): 8.35 MB, over the 7 MB the ZIP
#   must stay under. Hence shared by default.
# PQ_CFLAGS/PQ_LIBS given by the user (or by EMBER_CROSS_MULTIARCH) win.
# Sets PQ_CFLAGS, PQ_LIBS and EMBER_LIBPQ ("static", "static+openssl" or "system").
AC_DEFUN([EMBER_WITH_LIBPQ], [
  AC_ARG_WITH([libpq],
    [AS_HELP_STRING([--with-libpq=static|system],
      [the db plugin's libpq: built from Debian's source and linked in (static;
       default unless cross-compiling), or the system's libpq.so.5])],
    [], [with_libpq=default])
  AS_CASE([$with_libpq],
    [default], [AS_IF([test "x$cross_compiling" = xyes], [with_libpq=system], [with_libpq=auto])],
    [static|system], [],
    [AC_MSG_ERROR([--with-libpq=$with_libpq: expected static or system])])
  AC_ARG_WITH([libpq-openssl],
    [AS_HELP_STRING([--with-libpq-openssl=shared|static],
      [with --with-libpq=static: OpenSSL's shared libraries (default) or its
       static ones linked into db.so too (faster to load; a bigger ZIP)])],
    [], [with_libpq_openssl=shared])
  AS_CASE([$with_libpq_openssl],
    [shared|static], [],
    [AC_MSG_ERROR([--with-libpq-openssl=$with_libpq_openssl: expected shared or static])])
  AS_IF([test -n "${PQ_CFLAGS+set}${PQ_LIBS+set}"], [with_libpq=system])
  EMBER_LIBPQ=$with_libpq
  AS_IF([test "x$with_libpq" = xauto], [EMBER_LIBPQ=static])
  AS_IF([test "x$with_libpq" = xstatic || test "x$with_libpq" = xauto], [
    AC_MSG_CHECKING([for a static libpq (deps/libpq-static.sh; the first build takes ~1 min)])
    ember_pq_prefix=`$SHELL "$srcdir/deps/libpq-static.sh" --cc "$CC" ${host_alias:+--host "$host_alias"} 2>config.libpq.log`
    AS_IF([test -z "$ember_pq_prefix" || test ! -f "$ember_pq_prefix/lib/libpq.a"], [
      AC_MSG_RESULT([no])
      tail -n 5 config.libpq.log >&2
      AS_IF([test "x$with_libpq" = xstatic],
        [AC_MSG_ERROR([the static libpq could not be built (config.libpq.log says why); configure --with-libpq=system uses the system's libpq.so.5 instead])])
      AC_MSG_WARN([the static libpq could not be built (config.libpq.log says why): db.so links the system's libpq.so.5 (--with-libpq=system); dlopen of db.so costs ~3 ms more])
      with_libpq=system
      EMBER_LIBPQ=system
    ], [
    AC_MSG_RESULT([$ember_pq_prefix])
    ember_pq_multiarch=`$CC -print-multiarch 2>/dev/null`
    dnl deps/libpq-static.sh builds the newest other source of the same major
    dnl when the installed version's is not served: say so, loudly
    AS_IF([grep -q '(installed: ' "$ember_pq_prefix/done" 2>/dev/null &&
           ! grep -q '^\([[^ ]]*\) \([[^ ]]*\) (installed: \2)' "$ember_pq_prefix/done"], [
      ember_pq_built=`sed 's/ for .*//' "$ember_pq_prefix/done"`
      AC_MSG_WARN([the static libpq is not the installed version: $ember_pq_built (the installed version's source is not served; it may lack that release's fixes); configure --with-libpq=system to ship the installed libpq.so.5])
    ])
    PQ_CFLAGS="-I$ember_pq_prefix/include"
    dnl -Wl, so that libtool passes the archives to the linker without its
    dnl "not portable" warning; --exclude-libs: none of their symbols leaves db.so
    dnl libnettle.a: the client's SCRAM PBKDF2 (deps/libpq-patches/)
    PQ_LIBS="-Wl,--exclude-libs,ALL -Wl,$ember_pq_prefix/lib/libpq.a,$ember_pq_prefix/lib/libpgcommon_shlib.a,$ember_pq_prefix/lib/libpgport_shlib.a,/usr/lib/$ember_pq_multiarch/libnettle.a"
    AS_IF([test "x$with_libpq_openssl" = xstatic], [
      PQ_LIBS="$PQ_LIBS,/usr/lib/$ember_pq_multiarch/libssl.a,/usr/lib/$ember_pq_multiarch/libcrypto.a -pthread"
      EMBER_LIBPQ="static+openssl"
    ], [
      PKG_CHECK_MODULES([PQ_OPENSSL], [libssl libcrypto], [],
        [AC_MSG_ERROR([--with-libpq=static needs OpenSSL: apt-get install libssl-dev])])
      dnl inside the -Wl, too: after the archives that need them
      PQ_LIBS="$PQ_LIBS,`echo $PQ_OPENSSL_LIBS | tr ' ' ','` -pthread"
    ])
    ])
  ])
  AS_IF([test "x$with_libpq" = xsystem], [
    PKG_CHECK_MODULES([PQ], [libpq], [],
      [AC_MSG_ERROR([plugin db needs libpq: apt-get install libpq-dev])])
  ])
  AC_SUBST([EMBER_LIBPQ])
])
