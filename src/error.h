/* The project's GError domain: one quark, one code per kind of failure. */
#pragma once

#include <glib.h>

#define JQ_ERROR (jq_error_quark ())
GQuark jq_error_quark (void);

typedef enum {
  JQ_ERROR_PARSE,        /* a file or request does not follow its syntax */
  JQ_ERROR_CONFIG,       /* a setting has a value we cannot use */
  JQ_ERROR_NOT_FOUND,    /* no such file, job or key */
  JQ_ERROR_IO,           /* a system call failed */
  JQ_ERROR_INVALID,      /* a caller passed something we refuse */
  JQ_ERROR_JOURNAL,      /* the durable journal cannot be used */
  JQ_ERROR_AGAIN,        /* a resource is short for now (descriptors,
                          * processes, memory): try again later */
  JQ_ERROR_UNANSWERED,   /* a call went out but no answer came back: the
                          * server may have carried it out, or not */
} JqErrorCode;
