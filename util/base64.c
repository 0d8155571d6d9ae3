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

static int
b64_value (char c, enum mp_base64_alphabet a)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == (a == MP_BASE64_STD ? '+' : '-'))
    return 62;
  if (c == (a == MP_BASE64_STD ? '/' : '_'))
    return 63;
  return -1;
}

int
mp_base64_decode_bin (const char *s, size_t n, enum mp_base64_alphabet a,
                      uint8_t **out, size_t *outlen)
{
  size_t data = n, o = 0;
  uint8_t *buf;
  uint32_t v = 0;
  int bits = 0;

  if (a == MP_BASE64_STD)
    {
      if (n % 4 != 0)
        return -1;
      while (data > 0 && n - data < 2 && s[data - 1] == '=')
        data--;
    }
  /* One leftover character holds only 6 bits: never a whole byte. */
  if (data % 4 == 1)
    return -1;
  buf = malloc (data / 4 * 3 + 3);
  if (buf == NULL)
    return -2;
  for (size_t i = 0; i < data; i++)
    {
      int c = b64_value (s[i], a);

      if (c < 0)
        {
          free (buf);
          return -1;
        }
      v = (v << 6 | (uint32_t)c) & 0xffffff;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          buf[o++] = (uint8_t)(v >> bits);
        }
    }
  /* The bits the last character carries beyond the last byte must be 0. */
  if (bits > 0 && (v & ((1u << bits) - 1)) != 0)
    {
      free (buf);
      return -1;
    }
  *out = buf;
  *outlen = o;
  return 0;
}
