# JQ_CHECK_XMLRPC_C([FEATURES])
# --------------------------------------------------------------------------
# xmlrpc-c ships no pkg-config file, only the xmlrpc-c-config script.  Find
# it, check that it knows each FEATURE (e.g. "abyss-server client"), and
# substitute XMLRPC_<FEATURE>_CFLAGS / XMLRPC_<FEATURE>_LIBS for each one
# (dashes become underscores, letters upper case).  Fails with the name of
# the Debian package to install.
AC_DEFUN([JQ_CHECK_XMLRPC_C], [
  AC_ARG_VAR([XMLRPC_C_CONFIG], [path to the xmlrpc-c-config script])
  AC_PATH_PROG([XMLRPC_C_CONFIG], [xmlrpc-c-config], [no])
  AS_IF([test "x$XMLRPC_C_CONFIG" = xno],
    [AC_MSG_ERROR([xmlrpc-c-config not found.
On Debian or Ubuntu install it with: apt-get install libxmlrpc-core-c3-dev])])
  AC_MSG_CHECKING([xmlrpc-c version])
  jq_xmlrpc_version=`$XMLRPC_C_CONFIG --version 2>/dev/null`
  AC_MSG_RESULT([$jq_xmlrpc_version])
  for jq_feature in $1; do
    AC_MSG_CHECKING([for xmlrpc-c feature $jq_feature])
    AS_IF([$XMLRPC_C_CONFIG $jq_feature --libs >/dev/null 2>&1],
      [AC_MSG_RESULT([yes])],
      [AC_MSG_RESULT([no])
       AC_MSG_ERROR([xmlrpc-c lacks the "$jq_feature" feature.
On Debian or Ubuntu install it with: apt-get install libxmlrpc-core-c3-dev])])
    jq_var=`echo "$jq_feature" | tr 'a-z-' 'A-Z_'`
    eval "XMLRPC_${jq_var}_CFLAGS=\"\`$XMLRPC_C_CONFIG $jq_feature --cflags\`\""
    eval "XMLRPC_${jq_var}_LIBS=\"\`$XMLRPC_C_CONFIG $jq_feature --libs\`\""
  done
  AC_SUBST([XMLRPC_ABYSS_SERVER_CFLAGS])
  AC_SUBST([XMLRPC_ABYSS_SERVER_LIBS])
  AC_SUBST([XMLRPC_CLIENT_CFLAGS])
  AC_SUBST([XMLRPC_CLIENT_LIBS])

  dnl Prove the flags link a program using the server, not just that the
  dnl script answered.
  jq_save_CFLAGS=$CFLAGS; jq_save_LIBS=$LIBS
  CFLAGS="$CFLAGS $XMLRPC_ABYSS_SERVER_CFLAGS"
  LIBS="$XMLRPC_ABYSS_SERVER_LIBS $LIBS"
  AC_MSG_CHECKING([whether an Abyss XML-RPC server links])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <xmlrpc-c/server_abyss.h>]],
      [[xmlrpc_env env; xmlrpc_env_init(&env);
        xmlrpc_server_abyss_global_init(&env);]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([cannot link against xmlrpc-c's Abyss server.
On Debian or Ubuntu install it with: apt-get install libxmlrpc-core-c3-dev])])
  CFLAGS="$jq_save_CFLAGS $XMLRPC_CLIENT_CFLAGS"
  LIBS="$XMLRPC_CLIENT_LIBS $jq_save_LIBS"
  AC_MSG_CHECKING([whether an XML-RPC client links])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <xmlrpc-c/client.h>]],
      [[xmlrpc_env env; xmlrpc_env_init(&env);
        xmlrpc_client_setup_global_const(&env);]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([cannot link against xmlrpc-c's client library (see config.log).
Its transport needs libcurl's development files, which the xmlrpc-c package
does not pull in.  On Debian or Ubuntu install them with:
  apt-get install libxmlrpc-core-c3-dev libcurl4-openssl-dev])])
  CFLAGS=$jq_save_CFLAGS; LIBS=$jq_save_LIBS
])
