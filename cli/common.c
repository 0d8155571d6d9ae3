/* What every subcommand shares: error output and exit codes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/cleanup.h"

int
cli_exit_code (enum mp_errcode code)
{
  switch (code)
    {
    case MP_OK:
      return CLI_OK;
    case MP_ERR_NOT_FOUND:
      return CLI_NOT_FOUND;
    case MP_ERR_ALREADY_EXISTS:
      return CLI_EXISTS;
    case MP_ERR_INVALID_ARGUMENT:
    case MP_ERR_FAILED_PRECONDITION:
      return CLI_INVALID;
    case MP_ERR_UNAVAILABLE:
      return CLI_NETWORK;
    case MP_ERR_UNAUTHENTICATED:
    case MP_ERR_PERMISSION_DENIED:
      return CLI_AUTH;
    case MP_ERR_DATA_LOSS:
      return CLI_VERIFY;
    case MP_ERR_UNIMPLEMENTED:
    case MP_ERR_INTERNAL:
      break;
    }
  return CLI_ERR;
}

int
cli_fail (const char *what, const mp_error *err)
{
  fprintf (stderr, "modelpack: %s%s%s\n", what, what[0] ? ": " : "", err->msg);
  return cli_exit_code (err->code);
}

int
cli_usage_error (const char *fmt, ...)
{
  va_list ap;

  fputs ("modelpack: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputs ("\n", stderr);
  return CLI_USAGE;
}

int
cli_limit_set (struct model_unpack_limits *l, const char *kv)
{
  const char *eq = strchr (kv, '=');
  cleanup_free char *name = NULL;
  unsigned long long v;
  char *end;

  if (eq == NULL || eq[1] < '0' || eq[1] > '9')
    return -1;
  errno = 0;
  v = strtoull (eq + 1, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0)
    return -1;
  name = strndup (kv, (size_t)(eq - kv));
  return name != NULL ? model_unpack_limit_set (l, name, (uint64_t)v) : -1;
}
