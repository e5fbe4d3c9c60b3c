/* The project's GError domain. */
#include "error.h"

G_DEFINE_QUARK (jq-error-quark, jq_error)
