# EMBER_COMPILER_FLAGS
# Warnings always; -Werror with --enable-werror (CI); --enable-asan builds
# with AddressSanitizer and UndefinedBehaviorSanitizer.
AC_DEFUN([EMBER_COMPILER_FLAGS], [
  EMBER_CFLAGS="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter"
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--enable-werror], [treat warnings as errors (CI does)])],
    [], [enable_werror=no])
  AS_IF([test "x$enable_werror" = xyes], [EMBER_CFLAGS="$EMBER_CFLAGS -Werror"])

  AC_ARG_ENABLE([asan],
    [AS_HELP_STRING([--enable-asan], [build with AddressSanitizer and UndefinedBehaviorSanitizer])],
    [], [enable_asan=no])
  EMBER_SAN_FLAGS=""
  AS_IF([test "x$enable_asan" = xyes], [
    EMBER_SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    AC_DEFINE([EMBER_ASAN], [1], [Define when built with sanitizers.])
  ])
  AM_CONDITIONAL([EMBER_ASAN], [test "x$enable_asan" = xyes])
  EMBER_CFLAGS="$EMBER_CFLAGS $EMBER_SAN_FLAGS"
  AC_SUBST([EMBER_CFLAGS])
  AC_SUBST([EMBER_SAN_FLAGS])
])
