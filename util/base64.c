/* Base64 (see base64.h).  A few dozen lines; not worth a dependency. */
#include "util/base64.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
mp_base64_encode_bytes (const void *buf, size_t len)
{
  const unsigned char *s = buf;
  size_t o = 0;
  char *out;

  if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
    return NULL;
  out = malloc (4 * ((len + 2) / 3) + 1);
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < len; i += 3)
    {
      unsigned v = (unsigned)s[i] << 16;
      if (i + 1 < len)
        v |= (unsigned)s[i + 1] << 8;
      if (i + 2 < len)
        v |= (unsigned)s[i + 2];
      out[o++] = alphabet[(v >> 18) & 63];
      out[o++] = alphabet[(v >> 12) & 63];
      out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
      out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
    }
  out[o] = '\0';
  return out;
}

char *
mp_base64_encode (const char *s)
{
  return mp_base64_encode_bytes (s, strlen (s));
}

static int
value_of (char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int
mp_base64_decode_bytes (const char *s, size_t n, uint8_t **out, size_t *outlen)
{
  uint8_t *buf = malloc (n / 4 * 3 + 3);
  unsigned group = 0;
  size_t o = 0, filled = 0, pad = 0;

  if (buf == NULL)
    {
      errno = ENOMEM;
      return -1;
    }
  for (size_t i = 0; i < n; i++)
    {
      int v;

      if (s[i] == '\r' || s[i] == '\n')
        continue;
      if (s[i] == '=')
        {
          /* Padding completes the last group: "xx==" or "xxx=". */
          if (filled + pad < 2)
            goto bad;
          pad++;
          if (filled + pad > 4)
            goto bad;
          continue;
        }
      v = value_of (s[i]);
      if (v < 0 || pad > 0)
        goto bad;
      group = group << 6 | (unsigned)v;
      if (++filled == 4)
        {
          buf[o++] = (uint8_t)(group >> 16);
          buf[o++] = (uint8_t)(group >> 8);
          buf[o++] = (uint8_t)group;
          group = 0;
          filled = 0;
        }
    }
  if (pad > 0)
    {
      if (filled + pad != 4)
        goto bad;
      group <<= 6 * pad;
      buf[o++] = (uint8_t)(group >> 16);
      if (pad == 1)
        buf[o++] = (uint8_t)(group >> 8);
    }
  else if (filled != 0)
    goto bad;
  buf[o] = '\0';
  *out = buf;
  *outlen = o;
  return 0;
bad:
  free (buf);
  errno = EINVAL;
  return -1;
}

char *
mp_base64_decode (const char *s)
{
  uint8_t *b;
  size_t n;

  if (mp_base64_decode_bytes (s, strlen (s), &b, &n) < 0)
    return NULL;
  if (memchr (b, '\0', n) != NULL)
    {
      free (b);
      return NULL;
    }
  return (char *)b;
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
