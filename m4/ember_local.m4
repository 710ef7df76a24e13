# EMBER_LOCAL
# ember-local, the API Gateway + Lambda emulator: libmicrohttpd for HTTP, and
# GnuTLS (HMAC-SHA256) for minting test tokens -- both linked into ember-local
# only, never into bootstrap.  --disable-local builds without it.
AC_DEFUN([EMBER_LOCAL], [
  AC_ARG_ENABLE([local],
    [AS_HELP_STRING([--disable-local],
      [do not build ember-local, the API Gateway + Lambda emulator (needs libmicrohttpd)])],
    [], [enable_local=yes])
  AS_IF([test "x$enable_local" != xno], [
    PKG_CHECK_MODULES([MHD], [libmicrohttpd], [],
      [AC_MSG_ERROR([ember-local needs libmicrohttpd: apt-get install libmicrohttpd-dev (or configure --disable-local)])])
    PKG_CHECK_MODULES([LOCAL_GNUTLS], [gnutls], [],
      [AC_MSG_ERROR([ember-local mints test tokens with GnuTLS: apt-get install libgnutls28-dev (or configure --disable-local)])])
  ])
  AM_CONDITIONAL([EMBER_LOCAL], [test "x$enable_local" != xno])
  AS_IF([test "x$enable_local" != xno], [EMBER_LOCAL_BUILT=yes], [EMBER_LOCAL_BUILT=no])
  AC_SUBST([EMBER_LOCAL_BUILT])
])
