/* Base64 (see base64.h).  A dozen lines; not worth a dependency. */
#include "util/base64.h"

#include <stdlib.h>
#include <string.h>

static const unsigned char b64[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
mp_base64_encode (const char *s)
{
  size_t n = strlen (s), o = 0;
  char *out = malloc (4 * ((n + 2) / 3) + 1);

  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; i += 3)
    {
      unsigned v = (unsigned char)s[i] << 16;
      if (i + 1 < n)
        v |= (unsigned char)s[i + 1] << 8;
      if (i + 2 < n)
        v |= (unsigned char)s[i + 2];
      out[o++] = (char)b64[(v >> 18) & 63];
      out[o++] = (char)b64[(v >> 12) & 63];
      out[o++] = i + 1 < n ? (char)b64[(v >> 6) & 63] : '=';
      out[o++] = i + 2 < n ? (char)b64[v & 63] : '=';
    }
  out[o] = '\0';
  return out;
}

char *
mp_base64_decode (const char *s)
{
  size_t n = strlen (s), o = 0;
  char *out = malloc (n + 1);
  unsigned v = 0;
  int bits = 0;

  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n && s[i] != '='; i++)
    {
      const unsigned char *p
          = (const unsigned char *)strchr ((const char *)b64, s[i]);
      if (p == NULL || s[i] == '\0')
        {
          free (out);
          return NULL;
        }
      v = (v << 6) | (unsigned)(p - b64);
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          out[o++] = (char)((v >> bits) & 0xff);
        }
    }
  out[o] = '\0';
  return out;
}
