#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
vset (mp_error *err, enum mp_errcode code, int errnum, const char *fmt,
      va_list ap)
{
  int n;

  err->code = code;
  err->sys_errno = errnum;
  n = vsnprintf (err->msg, sizeof err->msg, fmt, ap);
  if (errnum != 0 && n >= 0 && (size_t)n < sizeof err->msg)
    snprintf (err->msg + n, sizeof err->msg - n, ": %s", strerror (errnum));
}

int
mp_error_set (mp_error *err, enum mp_errcode code, const char *fmt, ...)
{
  va_list ap;

  if (err == NULL)
    return -1;
  va_start (ap, fmt);
  vset (err, code, 0, fmt, ap);
  va_end (ap);
  return -1;
}

int
mp_error_sys (mp_error *err, int errnum, const char *fmt, ...)
{
  va_list ap;

  if (err == NULL)
    return -1;
  va_start (ap, fmt);
  vset (err, MP_ERR_INTERNAL, errnum, fmt, ap);
  va_end (ap);
  return -1;
}

int
mp_error_prefix (mp_error *err, const char *fmt, ...)
{
  char prefix[512];
  size_t pl, ml;
  va_list ap;
  int n;

  if (err == NULL)
    return -1;
  va_start (ap, fmt);
  n = vsnprintf (prefix, sizeof prefix - 2, fmt, ap);
  va_end (ap);
  if (n < 0)
    return -1;
  pl = strlen (prefix);
  memcpy (prefix + pl, ": ", 3);
  pl += 2;
  /* Shift the message right to make room; its tail is what gets cut. */
  ml = strnlen (err->msg, sizeof err->msg - 1);
  if (pl + ml > sizeof err->msg - 1)
    ml = sizeof err->msg - 1 - pl;
  memmove (err->msg + pl, err->msg, ml);
  memcpy (err->msg, prefix, pl);
  err->msg[pl + ml] = '\0';
  return -1;
}

void
mp_error_clear (mp_error *err)
{
  if (err == NULL)
    return;
  err->code = MP_OK;
  err->sys_errno = 0;
  err->msg[0] = '\0';
}

const char *
mp_errcode_name (enum mp_errcode code)
{
  switch (code)
    {
    case MP_OK:
      return "ok";
    case MP_ERR_INTERNAL:
      return "internal";
    case MP_ERR_NOT_FOUND:
      return "not found";
    case MP_ERR_ALREADY_EXISTS:
      return "already exists";
    case MP_ERR_FAILED_PRECONDITION:
      return "failed precondition";
    case MP_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case MP_ERR_UNIMPLEMENTED:
      return "unimplemented";
    case MP_ERR_UNAVAILABLE:
      return "unavailable";
    case MP_ERR_UNAUTHENTICATED:
      return "unauthenticated";
    case MP_ERR_PERMISSION_DENIED:
      return "permission denied";
    case MP_ERR_DATA_LOSS:
      return "data loss";
    case MP_ERR_POLICY_REFUSED:
      return "refused by policy";
    }
  return "unknown";
}
