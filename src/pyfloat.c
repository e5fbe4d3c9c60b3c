/* repr() of a Python float.
 *
 * Python prints the shortest string that reads back as the same double
 * (and of those, the nearest).  "%.17g" always reads back but is often
 * longer ("0.10000000000000001"); the correctly rounded value at the
 * fewest digits that reads back is Python's.  The layout is Python's
 * too: fixed notation with at least one digit after the point while
 * the decimal point falls within 16 digits left or 4 right of the
 * first digit, else the exponent form with at least two exponent
 * digits ("1e-05"). */
#include "pyfloat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The shortest digits of |@value| (> 0, finite) into @digits, no
 * trailing zeros, and the decimal exponent of the first one. */
static void
shortest_digits (double value, char digits[20], int *exponent)
{
  char text[G_ASCII_DTOSTR_BUF_SIZE];
  for (int precision = 1; precision <= 17; precision++)
    {
      char format[8];
      g_snprintf (format, sizeof format, "%%.%de", precision - 1);
      g_ascii_formatd (text, sizeof text, format, value);
      if (g_ascii_strtod (text, NULL) == value)
        break;
    }
  /* text: d[.ddd]e[+-]XX, locale-independent */
  gsize n = 0;
  const char *p = text;
  for (; *p != 'e'; p++)
    if (g_ascii_isdigit (*p))
      digits[n++] = *p;
  while (n > 1 && digits[n - 1] == '0')
    n--;
  digits[n] = '\0';
  *exponent = atoi (p + 1);
}

void
jq_py_float_repr (double value, char out[JQ_PY_FLOAT_MAX])
{
  if (isnan (value))
    {
      strcpy (out, "nan");
      return;
    }
  if (isinf (value))
    {
      strcpy (out, value < 0 ? "-inf" : "inf");
      return;
    }
  GString *s = g_string_sized_new (JQ_PY_FLOAT_MAX);
  if (signbit (value))
    g_string_append_c (s, '-');
  if (value == 0)
    g_string_append (s, "0.0");
  else
    {
      char digits[20];
      int exponent;
      shortest_digits (fabs (value), digits, &exponent);
      int n = (int) strlen (digits);
      int point = exponent + 1;   /* digits before the decimal point */
      if (point <= -4 || point > 16)
        {
          g_string_append_c (s, digits[0]);
          if (n > 1)
            g_string_append_printf (s, ".%s", digits + 1);
          g_string_append_printf (s, "e%c%02d", exponent < 0 ? '-' : '+',
                                  abs (exponent));
        }
      else if (point <= 0)
        {
          g_string_append (s, "0.");
          for (int i = point; i < 0; i++)
            g_string_append_c (s, '0');
          g_string_append (s, digits);
        }
      else if (point >= n)
        {
          g_string_append (s, digits);
          for (int i = n; i < point; i++)
            g_string_append_c (s, '0');
          g_string_append (s, ".0");
        }
      else
        g_string_append_printf (s, "%.*s.%s", point, digits, digits + point);
    }
  g_strlcpy (out, s->str, JQ_PY_FLOAT_MAX);
  g_string_free (s, TRUE);
}
