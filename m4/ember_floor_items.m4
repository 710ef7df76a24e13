# EMBER_FLOOR_ITEMS
# bench/floor-items, the floor of /items/{id} for `make bench`: libc, nettle's
# HMAC linked statically (libnettle.a of Debian's nettle-dev), and libpq.
# libpq: FLOOR_PQ_CFLAGS / FLOOR_PQ_LIBS when given; else the static minimal
# libpq that --with-libpq=static builds for db.so (EMBER_LIBPQ, run before),
# with OpenSSL's archives, so that libc is the floor's only shared object;
# else pkg-config's libpq, shared.
# Optional: without nettle or libpq the bench runs without its own items floor
# and says so.
AC_DEFUN([EMBER_FLOOR_ITEMS], [
  AC_ARG_VAR([FLOOR_PQ_CFLAGS], [C flags for libpq in bench/floor-items])
  AC_ARG_VAR([FLOOR_PQ_LIBS], [how bench/floor-items links libpq (default: pkg-config libpq)])
  ember_floor_items=yes
  ember_floor_items_why=
  FLOOR_NETTLE_A=
  ember_nettle_libdir=`$PKG_CONFIG --variable=libdir nettle 2>/dev/null`
  for ember_d in "$ember_nettle_libdir" "/usr/lib/$ember_multiarch" /usr/lib /usr/local/lib; do
    AS_IF([test -n "$ember_d" && test -f "$ember_d/libnettle.a"],
          [FLOOR_NETTLE_A="$ember_d/libnettle.a"; break])
  done
  ember_save_CPPFLAGS=$CPPFLAGS
  AC_CHECK_HEADER([nettle/hmac.h], [], [ember_floor_items=no])
  AS_IF([test -z "$FLOOR_NETTLE_A"], [ember_floor_items=no])
  AS_IF([test "$ember_floor_items" = no],
        [ember_floor_items_why="no static nettle (apt-get install nettle-dev)"])
  ember_floor_ma=`$CC -print-multiarch 2>/dev/null`
  AS_IF([test "$ember_floor_items" = yes && test -n "$FLOOR_PQ_LIBS"],
    [ember_floor_pq_how="FLOOR_PQ_LIBS ($FLOOR_PQ_LIBS)"],
  [test "$ember_floor_items" = yes && test -n "$ember_pq_prefix" &&
   test -f "$ember_pq_prefix/lib/libpq.a" && test -f "/usr/lib/$ember_floor_ma/libssl.a"], [
    dnl the static minimal libpq of --with-libpq=static (deps/libpq-static.sh), with
    dnl OpenSSL's archives: libc is then the floor's only shared object
    FLOOR_PQ_CFLAGS="-I$ember_pq_prefix/include"
    FLOOR_PQ_LIBS="$ember_pq_prefix/lib/libpq.a $ember_pq_prefix/lib/libpgcommon_shlib.a $ember_pq_prefix/lib/libpgport_shlib.a $FLOOR_NETTLE_A /usr/lib/$ember_floor_ma/libssl.a /usr/lib/$ember_floor_ma/libcrypto.a -pthread"
    ember_floor_pq_how="the static minimal libpq of --with-libpq=static and OpenSSL's archives"
  ], [test "$ember_floor_items" = yes], [
    PKG_CHECK_MODULES([FLOOR_PQ], [libpq], [ember_floor_pq_how="libpq from pkg-config (shared: no --with-libpq=static)"],
      [ember_floor_items=no
       ember_floor_items_why="no libpq (apt-get install libpq-dev)"])
  ])
  CPPFLAGS=$ember_save_CPPFLAGS
  AC_SUBST([FLOOR_NETTLE_A])
  AM_CONDITIONAL([EMBER_FLOOR_ITEMS], [test "$ember_floor_items" = yes])
  AS_IF([test "$ember_floor_items" = yes],
    [AC_MSG_NOTICE([bench/floor-items: $FLOOR_NETTLE_A, $ember_floor_pq_how])],
    [AC_MSG_NOTICE([bench/floor-items not built: $ember_floor_items_why; make bench runs without its own items floor])])
])
