/* Errors as values.
 *
 * A failing function fills an mp_error and returns -1 (or NULL).  Callers may
 * add context with mp_error_prefix() and pass it up.  Only the program edge
 * (cmd/ or the gRPC layer in plugin/) turns an mp_error into output: a status
 * code or a one-line message.  The code says what kind of failure it is, so
 * the edge can map it onto gRPC codes that containerd turns into errdefs. */
#ifndef MP_UTIL_ERROR_H
#define MP_UTIL_ERROR_H

#include <stddef.h>

enum mp_errcode
{
  MP_OK = 0,
  MP_ERR_INTERNAL, /* anything unexpected: I/O failure, bug */
  MP_ERR_NOT_FOUND,
  MP_ERR_ALREADY_EXISTS,
  MP_ERR_FAILED_PRECONDITION, /* e.g. removing a snapshot that has children */
  MP_ERR_INVALID_ARGUMENT,
  MP_ERR_UNIMPLEMENTED,
  MP_ERR_UNAVAILABLE,       /* a peer (registry, containerd) unreachable */
  MP_ERR_UNAUTHENTICATED,   /* missing or rejected credentials */
  MP_ERR_PERMISSION_DENIED, /* credentials accepted, access refused */
  MP_ERR_DATA_LOSS,         /* content does not match its digest */
  MP_ERR_POLICY_REFUSED,    /* the signature policy refuses the content */
};

typedef struct mp_error
{
  enum mp_errcode code;
  int sys_errno; /* errno that caused it, or 0 */
  char msg[1024];
} mp_error;

/* Set *err (if not NULL) and return -1. */
int mp_error_set (mp_error *err, enum mp_errcode code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Like mp_error_set with code MP_ERR_INTERNAL and ": strerror(errnum)"
 * appended; sys_errno is kept so callers can still branch on it. */
int mp_error_sys (mp_error *err, int errnum, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Prepend "context: " to the message, keeping code and errno.  Returns -1. */
int mp_error_prefix (mp_error *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

void mp_error_clear (mp_error *err);

const char *mp_errcode_name (enum mp_errcode code);

#endif
