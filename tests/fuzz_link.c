/* Fuzz registry/link: any bytes as a Link header (and, split at the first
 * NUL-free newline, as a next link for the referrers check).  Besides the
 * sanitizers: a next link found fits its buffer, is a substring of the
 * header between '<' and '>', and holds neither; a query accepted lies
 * inside the link, starts with '?' and has no space, control byte or '#'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/link.h"

#define D                                                                      \
  "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *h = malloc (size + 1), out[256];
  const char *q;

  if (h == NULL)
    return 0;
  memcpy (h, data, size);
  h[size] = '\0';
  if (registry_link_next (h, out, sizeof out))
    {
      size_t n = strlen (out);
      const char *at = strstr (h, out);

      if (n >= sizeof out || at == NULL || strchr (out, '<') != NULL
          || strchr (out, '>') != NULL)
        abort ();
    }
  q = registry_referrers_next_query (h, "ml/m", D);
  if (q != NULL)
    {
      if (q < h || q >= h + strlen (h) || q[0] != '?' || strlen (q) >= 500)
        abort ();
      for (const char *c = q; *c != '\0'; c++)
        if ((unsigned char)*c <= ' ' || *c == '#' || *c == 0x7f)
          abort ();
    }
  free (h);
  return 0;
}
