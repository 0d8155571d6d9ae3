/* Fuzz the TOML reader: parse the input as it comes (not NUL-terminated),
 * then walk the whole tree through the public accessors.  Besides the
 * sanitizers, it checks what must hold for any input: a rejection is
 * InvalidArgument with a "line L, column C:" position, every key is found
 * again by lookup, and no table or array nests deeper than TOML_MAX_DEPTH
 * (a value inside the deepest one is a level below it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/toml.h"

static void
walk (const toml_value *v, unsigned depth)
{
  size_t i, n;

  /* The cap is on containers (util/toml.h): TOML_MAX_DEPTH nested arrays
   * hold their values one level deeper. */
  if ((toml_type_of (v) == TOML_TABLE || toml_type_of (v) == TOML_ARRAY)
      && depth > TOML_MAX_DEPTH)
    abort ();
  switch (toml_type_of (v))
    {
    case TOML_TABLE:
      n = toml_table_size (v);
      for (i = 0; i < n; i++)
        {
          const char *k = toml_table_key_at (v, i);
          size_t kl = toml_table_key_len_at (v, i);
          toml_value *c = toml_table_value_at (v, i);
          if (k == NULL || c == NULL || k[kl] != '\0'
              || toml_table_getn (v, k, kl) != c)
            abort ();
          /* Without a NUL inside, the C-string lookup must agree. */
          if (strlen (k) == kl && toml_table_get (v, k) != c)
            abort ();
          walk (c, depth + 1);
        }
      if (toml_table_value_at (v, n) != NULL)
        abort ();
      break;
    case TOML_ARRAY:
      n = toml_array_size (v);
      for (i = 0; i < n; i++)
        {
          if (toml_array_at (v, i) == NULL)
            abort ();
          walk (toml_array_at (v, i), depth + 1);
        }
      break;
    case TOML_STRING:
      if (toml_string (v) == NULL || toml_string (v)[toml_string_len (v)])
        abort ();
      break;
    case TOML_INTEGER:
      (void)toml_integer (v);
      break;
    case TOML_FLOAT:
      (void)toml_float (v);
      break;
    case TOML_BOOL:
      (void)toml_bool (v);
      break;
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
      if (toml_datetime (v) == NULL || strlen (toml_datetime (v)) < 8)
        abort ();
      break;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  mp_error err = { 0 };
  toml_value *root = toml_parse ((const char *)data, size, &err);
  const char *s;
  int64_t i;
  bool b;
  toml_value *t;

  if (root == NULL)
    {
      if (err.code != MP_ERR_INVALID_ARGUMENT
          || strncmp (err.msg, "line ", 5) != 0
          || strstr (err.msg, ", column ") == NULL)
        abort ();
      return 0;
    }
  if (toml_type_of (root) != TOML_TABLE)
    abort ();
  walk (root, 0);
  /* Of the typed lookups on the first key, exactly the one for its type
   * succeeds (floats and dates have none). */
  if (toml_table_size (root) > 0
      && strlen (toml_table_key_at (root, 0))
             == toml_table_key_len_at (root, 0))
    {
      const char *k = toml_table_key_at (root, 0);
      enum toml_type type = toml_type_of (toml_table_value_at (root, 0));
      int hits = (toml_get_string (root, k, &s, &err) == 1)
                 + (toml_get_integer (root, k, &i, &err) == 1)
                 + (toml_get_bool (root, k, &b, &err) == 1)
                 + (toml_get_table (root, k, &t, &err) == 1)
                 + (toml_get_array (root, k, &t, &err) == 1);
      if (hits != (type <= TOML_BOOL && type != TOML_FLOAT))
        abort ();
    }
  toml_free (root);
  return 0;
}
