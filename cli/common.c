/* What every subcommand shares: error output, exit codes, and untrusted
 * text made safe to print. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/escape.h"

/* The last CLI_TEXT_SLOTS results of cli_text and cli_json, freed as the
 * ring comes round: a printf can take several without freeing each. */
static __thread char *text_slots[CLI_TEXT_SLOTS];
static __thread unsigned text_next;

static const char *
text_keep (char *s)
{
  char **slot = &text_slots[text_next++ % CLI_TEXT_SLOTS];

  free (*slot);
  *slot = s;
  /* Out of memory: print nothing of it rather than the raw text. */
  return s != NULL ? s : "";
}

const char *
cli_text (const char *s)
{
  return text_keep (mp_escape (s));
}

const char *
cli_json (const char *s)
{
  return text_keep (mp_json_quote (s));
}

void
cli_print_json (const struct json_t *doc)
{
  char *text = json_dumps (doc, JSON_INDENT (2));
  char *safe = text != NULL ? mp_json_text_safe (text) : NULL;

  puts (safe != NULL ? safe : "{}");
  free (safe);
  free (text);
}

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
    case MP_ERR_POLICY_REFUSED:
      return CLI_REFUSED;
    case MP_ERR_UNIMPLEMENTED:
    case MP_ERR_INTERNAL:
      break;
    }
  return CLI_ERR;
}

int
cli_fail (const char *what, const mp_error *err)
{
  char *msg = mp_escape_str (err->msg, MP_ESCAPE_KEEP_BACKSLASH);

  /* WHAT may hold a name, and the message names and bytes from manifests,
   * archives and registries. */
  fprintf (stderr, "modelpack: %s%s%s\n", cli_text (what), what[0] ? ": " : "",
           msg != NULL ? msg : "");
  free (msg);
  return cli_exit_code (err->code);
}

int
cli_usage_error (const char *fmt, ...)
{
  va_list ap;
  char *msg = NULL;
  int n;

  va_start (ap, fmt);
  n = vasprintf (&msg, fmt, ap);
  va_end (ap);
  /* Arguments echoed back may come from a script's variables. */
  fprintf (stderr, "modelpack: %s\n", cli_text (n >= 0 ? msg : fmt));
  if (n >= 0)
    free (msg);
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
