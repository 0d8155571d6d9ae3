#include "model/jsonfield.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "model/digest.h"

int
model_json_check_fields (const json_t *obj, const char *where,
                         const char *const *names, mp_error *err)
{
  const char *key;
  json_t *v;

  json_object_foreach ((json_t *)obj, key, v)
  {
    bool known = false;
    char q[MODEL_QUOTE_BUF];

    for (const char *const *n = names; *n; n++)
      known = known || strcmp (key, *n) == 0;
    if (!known)
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: unknown field %s",
                           where, model_quote (key, q, sizeof q));
  }
  return 0;
}

void
model_json_path (char *w, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (w, MODEL_JSON_WHERE_MAX, fmt, ap);
  va_end (ap);
}

int
model_json_bad (mp_error *err, const char *where, const char *what)
{
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: %s", where, what);
}
