# EMBER_WITH_PLUGINS
# --with-plugins=LIST (comma-separated; default all). An unknown name, or a
# requested plugin whose library is missing, fails configure naming the
# Debian package to install. Every AM_CONDITIONAL runs unconditionally.
AC_DEFUN([EMBER_WITH_PLUGINS], [
  ember_known_plugins="auth db response"
  AC_ARG_WITH([plugins],
    [AS_HELP_STRING([--with-plugins=LIST],
      [comma-separated plugins to build and pack: auth,db,response (default: all)])],
    [], [with_plugins=all])
  AS_CASE([$with_plugins],
    [all|yes], [with_plugins="auth,db,response"],
    [no|none], [with_plugins=""])

  EMBER_PLUGINS=""
  ember_want_auth=no
  ember_want_db=no
  ember_want_response=no
  for ember_p in `echo "$with_plugins" | tr ',' ' '`; do
    AS_CASE([" $ember_known_plugins "],
      [*" $ember_p "*], [],
      [AC_MSG_ERROR([--with-plugins: unknown plugin "$ember_p" (known: $ember_known_plugins)])])
    AS_CASE([" $EMBER_PLUGINS "], [*" $ember_p "*], [continue])
    EMBER_PLUGINS="${EMBER_PLUGINS:+$EMBER_PLUGINS }$ember_p"
    eval "ember_want_$ember_p=yes"
  done

  AS_IF([test "x$ember_want_auth" = xyes], [
    PKG_CHECK_MODULES([JWT], [libjwt-gnutls], [],
      [AC_MSG_ERROR([plugin auth needs libjwt (GnuTLS flavour): apt-get install libjwt-gnutls-dev])])
    PKG_CHECK_MODULES([GNUTLS], [gnutls], [],
      [AC_MSG_ERROR([plugin auth needs GnuTLS: apt-get install libgnutls28-dev])])
    PKG_CHECK_MODULES([CURL], [libcurl], [],
      [AC_MSG_ERROR([plugin auth needs libcurl: apt-get install libcurl4-gnutls-dev])])
    AC_DEFINE([EMBER_WITH_AUTH], [1], [Define if the auth plugin is built.])
  ])
  AS_IF([test "x$ember_want_db" = xyes], [
    EMBER_WITH_LIBPQ
    AC_DEFINE([EMBER_WITH_DB], [1], [Define if the db plugin is built.])
  ])
  AS_IF([test "x$ember_want_db" = xyes || test "x$ember_want_auth" = xyes], [
    # nettle, linked statically (its symbols hidden): db's IAM database
    # authentication signs with its SHA-256/HMAC, auth verifies HS* tokens
    # with its HMAC; no library is mapped for either.
    PKG_CHECK_MODULES([NETTLE], [nettle], [],
      [AC_MSG_ERROR([plugins auth and db need nettle (HMAC): apt-get install nettle-dev])])
    AC_MSG_CHECKING([for nettle's static library])
    ember_nettle_a=`$CC -print-file-name=libnettle.a 2>/dev/null`
    AS_CASE([$ember_nettle_a], [/*], [], [ember_nettle_a=""])
    AS_IF([test -z "$ember_nettle_a" || test ! -f "$ember_nettle_a"], [
      ember_nettle_a=""
      for ember_d in `$PKG_CONFIG --variable=libdir nettle 2>/dev/null` \
          "/usr/lib/${ember_multiarch:-`$CC -print-multiarch 2>/dev/null`}"; do
        AS_IF([test -f "$ember_d/libnettle.a"], [ember_nettle_a="$ember_d/libnettle.a"; break])
      done
    ])
    AS_IF([test -z "$ember_nettle_a"],
      [AC_MSG_ERROR([plugins auth and db need nettle's static library libnettle.a: apt-get install nettle-dev])])
    AC_MSG_RESULT([$ember_nettle_a])
    NETTLE_STATIC="-Wl,--exclude-libs,libnettle.a -Wl,$ember_nettle_a"
    AC_SUBST([NETTLE_STATIC])
  ])
  AS_IF([test "x$ember_want_response" = xyes], [
    AC_DEFINE([EMBER_WITH_RESPONSE], [1], [Define if the response plugin is built.])
  ])

  AM_CONDITIONAL([EMBER_AUTH], [test "x$ember_want_auth" = xyes])
  AM_CONDITIONAL([EMBER_DB], [test "x$ember_want_db" = xyes])
  AM_CONDITIONAL([EMBER_RESPONSE], [test "x$ember_want_response" = xyes])
  AC_SUBST([EMBER_PLUGINS])
  AC_DEFINE_UNQUOTED([EMBER_BUILT_PLUGINS], ["${EMBER_PLUGINS:-none}"],
    [The plugins this build includes, space-separated.])
])
