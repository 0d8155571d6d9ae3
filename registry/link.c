/* Pagination links: see link.h. */
#include "registry/link.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Whether the parameter value VAL (LEN bytes, quotes removed) lists
 * "next" among its space-separated relation types. */
static bool
rel_has_next (const char *val, size_t len)
{
  size_t i = 0;

  while (i < len)
    {
      size_t start, n;

      while (i < len && val[i] == ' ')
        i++;
      start = i;
      while (i < len && val[i] != ' ')
        i++;
      n = i - start;
      if (n == 4 && strncasecmp (val + start, "next", 4) == 0)
        return true;
    }
  return false;
}

bool
registry_link_next (const char *header, char *out, size_t size)
{
  const char *p = header;

  while ((p = strchr (p, '<')) != NULL)
    {
      const char *uri = p + 1, *gt = strchr (uri, '>');
      const char *q;

      if (gt == NULL)
        return false;
      /* A URI holds no '<': the link starts at the last one. */
      if ((q = memchr (uri, '<', (size_t)(gt - uri))) != NULL)
        {
          p = q;
          continue;
        }
      /* The parameters: ";"-separated up to the next link's "," (outside
       * quotes) or the end. */
      q = gt + 1;
      while (*q != '\0' && *q != ',')
        {
          const char *name, *val;
          size_t nlen, vlen;

          while (*q == ' ' || *q == '\t' || *q == ';')
            q++;
          name = q;
          while (*q != '\0' && *q != '=' && *q != ';' && *q != ',' && *q != ' ')
            q++;
          nlen = (size_t)(q - name);
          while (*q == ' ')
            q++;
          if (*q != '=')
            continue;
          q++;
          while (*q == ' ')
            q++;
          if (*q == '"')
            {
              val = ++q;
              while (*q != '\0' && *q != '"')
                q++;
              vlen = (size_t)(q - val);
              if (*q == '"')
                q++;
            }
          else
            {
              val = q;
              while (*q != '\0' && *q != ';' && *q != ',' && *q != ' ')
                q++;
              vlen = (size_t)(q - val);
            }
          if (nlen == 3 && strncasecmp (name, "rel", 3) == 0
              && rel_has_next (val, vlen))
            {
              size_t n = (size_t)(gt - uri);

              if (n >= size)
                return false;
              memcpy (out, uri, n);
              out[n] = '\0';
              return true;
            }
        }
      p = *q == ',' ? q + 1 : q;
      if (*p == '\0')
        break;
    }
  return false;
}

const char *
registry_referrers_next_query (const char *link, const char *repo,
                               const char *digest)
{
  const char *path = link, *q;
  char want[2048];
  size_t n;

  if (strncmp (path, "http://", 7) == 0 || strncmp (path, "https://", 8) == 0)
    {
      path = strchr (strstr (path, "//") + 2, '/');
      if (path == NULL)
        return NULL;
    }
  q = strchr (path, '?');
  if (q == NULL || strlen (q) >= 500)
    return NULL;
  if (snprintf (want, sizeof want, "/%s/referrers/%s", repo, digest)
      >= (int)sizeof want)
    return NULL;
  n = strlen (want);
  if (strncmp (path, "/v2/", 4) != 0 || (size_t)(q - path) < n + 3
      || memcmp (q - n, want, n) != 0)
    return NULL;
  for (const char *c = q; *c != '\0'; c++)
    if ((unsigned char)*c <= ' ' || *c == '#' || *c == 0x7f)
      return NULL;
  return q;
}
