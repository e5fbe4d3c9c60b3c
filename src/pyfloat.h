/* A float as Python 3 prints it (repr(), str()): the shortest decimal
 * that reads back as the same double, laid out by Python's rules.  Bots'
 * job queue servers log elapsed seconds that way. */
#pragma once

#include <glib.h>

/* Room for any result: sign, 17 digits, point, "e-308", NUL. */
#define JQ_PY_FLOAT_MAX 32

/* Writes repr(@value) into @out: "2.0034561157226562", "2.0", "0.0001",
 * "1e-05", "1e+16", "-0.0", "inf", "nan". */
void jq_py_float_repr (double value, char out[JQ_PY_FLOAT_MAX]);
