# EMBER_FLOOR_ITEMS
# bench/floor-items, the floor of /items/{id} for `make bench`: libc, nettle's
# HMAC linked statically (libnettle.a of Debian's nettle-dev), and libpq.
# FLOOR_PQ_CFLAGS / FLOOR_PQ_LIBS say how it links libpq: a static minimal
# libpq when one is given there (e.g. FLOOR_PQ_LIBS="/path/libpq.a
# /path/libpgcommon.a /path/libpgport.a -lssl -lcrypto" or a configure
# option that builds one), else pkg-config's libpq, shared, until then.
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
  AS_IF([test "$ember_floor_items" = yes && test -z "$FLOOR_PQ_LIBS"], [
    PKG_CHECK_MODULES([FLOOR_PQ], [libpq], [ember_floor_pq_how="libpq from pkg-config (shared)"],
      [ember_floor_items=no
       ember_floor_items_why="no libpq (apt-get install libpq-dev)"])
  ], [ember_floor_pq_how="FLOOR_PQ_LIBS ($FLOOR_PQ_LIBS)"])
  CPPFLAGS=$ember_save_CPPFLAGS
  AC_SUBST([FLOOR_NETTLE_A])
  AM_CONDITIONAL([EMBER_FLOOR_ITEMS], [test "$ember_floor_items" = yes])
  AS_IF([test "$ember_floor_items" = yes],
    [AC_MSG_NOTICE([bench/floor-items: $FLOOR_NETTLE_A, $ember_floor_pq_how])],
    [AC_MSG_NOTICE([bench/floor-items not built: $ember_floor_items_why; make bench runs without its own items floor])])
])
