/* Fuzz the filter parser and matcher: the input is split on '\n' into
 * filter strings, which are parsed together and matched against a fixed
 * pair of snapshots.  Besides the sanitizers, it checks what must hold for
 * any input: a failure is InvalidArgument with a message, and the filters
 * together match exactly when one of them alone does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/filter.h"

#define MAX_FILTERS 64

static const char *const keys[]
    = { "containerd.io/gc.root", "l", "a.b", "", "é" };
static const char *const values[] = { "check-walk", "2", "dot", "empty", "" };

static const struct mp_filter_snapshot_fields snaps[] = {
  { "a-wl", "p-wl", "active", keys, values, 5 },
  { "p", NULL, "committed", NULL, NULL, 0 },
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *copy, *filters[MAX_FILTERS];
  size_t n = 0, i, s;
  mp_error err;
  mp_filter *all, *one[MAX_FILTERS];

  copy = malloc (size + 1);
  if (copy == NULL)
    return 0;
  memcpy (copy, data, size);
  copy[size] = '\0';
  filters[n++] = copy;
  for (i = 0; i < size && n < MAX_FILTERS; i++)
    if (copy[i] == '\n')
      {
        copy[i] = '\0';
        filters[n++] = copy + i + 1;
      }

  memset (&err, 0, sizeof err);
  all = mp_filter_parse ((const char *const *)filters, n, &err);
  if (all == NULL)
    {
      if (err.code != MP_ERR_INVALID_ARGUMENT || err.msg[0] == '\0')
        abort ();
      free (copy);
      return 0;
    }

  /* Parse each string alone once; all of them parsed together above. */
  for (i = 0; i < n; i++)
    {
      one[i] = mp_filter_parse ((const char *const *)&filters[i], 1, &err);
      if (one[i] == NULL)
        abort ();
    }
  for (s = 0; s < sizeof snaps / sizeof snaps[0]; s++)
    {
      void *snap = (void *)&snaps[s];
      int want = 0, got = mp_filter_match (all, mp_filter_snapshot_field, snap);

      if (got != 0 && got != 1)
        abort ();
      for (i = 0; i < n; i++)
        want |= mp_filter_match (one[i], mp_filter_snapshot_field, snap);
      if (got != want)
        abort ();
    }
  for (i = 0; i < n; i++)
    mp_filter_free (one[i]);
  mp_filter_free (all);
  free (copy);
  return 0;
}
