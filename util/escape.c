#include "util/escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Output into a bounded buffer that counts what would not fit.  A piece is
 * written whole or not at all, and nothing after the first that did not fit,
 * so a cut output is always a prefix of whole escapes. */
struct sink
{
  char *out;
  size_t size;
  size_t used; /* bytes written */
  size_t len;  /* bytes the whole output needs */
  bool cut;
};

static void
put (struct sink *k, const char *piece, size_t n)
{
  if (!k->cut && k->used + n < k->size)
    {
      memcpy (k->out + k->used, piece, n);
      k->used += n;
    }
  else
    k->cut = true;
  k->len += n;
}

static void
finish (struct sink *k)
{
  if (k->size > 0)
    k->out[k->used] = '\0';
}

/* The length of the well-formed UTF-8 sequence at S (1 to 4, as RFC 3629
 * restricts it: no overlong forms, no surrogates, nothing above U+10FFFF),
 * or 0; *CP gets its code point. */
static size_t
utf8_seq (const uint8_t *s, size_t len, uint32_t *cp)
{
  uint8_t c = s[0], lo = 0x80, hi = 0xbf;
  size_t n, i;

  if (c < 0x80)
    {
      *cp = c;
      return 1;
    }
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, *cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    {
      n = 3, *cp = c & 0x0f;
      if (c == 0xe0)
        lo = 0xa0;
      else if (c == 0xed)
        hi = 0x9f;
    }
  else if (c >= 0xf0 && c <= 0xf4)
    {
      n = 4, *cp = c & 0x07;
      if (c == 0xf0)
        lo = 0x90;
      else if (c == 0xf4)
        hi = 0x8f;
    }
  else
    return 0;
  if (len < n)
    return 0;
  for (i = 1; i < n; i++)
    {
      if (s[i] < lo || s[i] > hi)
        return 0;
      lo = 0x80, hi = 0xbf;
      *cp = (*cp << 6) | (s[i] & 0x3f);
    }
  return n;
}

/* Characters a terminal or a log reader acts on rather than shows: C0, DEL,
 * C1, and those that reorder or break the text around them (the Unicode
 * bidirectional controls and the line and paragraph separators). */
static bool
is_control (uint32_t cp)
{
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e
         || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e)
         || (cp >= 0x2066 && cp <= 0x2069);
}

static const char hex[] = "0123456789abcdef";

size_t
mp_escape_mem (char *out, size_t size, const void *s, size_t len,
               unsigned flags)
{
  const uint8_t *p = s;
  struct sink k = { out, size, 0, 0, false };
  size_t i = 0, n, j;
  uint32_t cp;

  while (i < len)
    {
      n = utf8_seq (p + i, len - i, &cp);
      if (n == 1
          && ((cp == '\\' && !(flags & MP_ESCAPE_KEEP_BACKSLASH))
              || (cp == '"' && (flags & MP_ESCAPE_QUOTE))))
        put (&k, cp == '\\' ? "\\\\" : "\\\"", 2);
      else if (n == 1 && (cp == '\n' || cp == '\t' || cp == '\r'))
        put (&k, cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : "\\r", 2);
      else if (n > 0 && !is_control (cp))
        put (&k, (const char *)p + i, n);
      else
        {
          /* Each byte of a control character, or the first byte of an
           * ill-formed sequence (the next byte may start a good one). */
          if (n == 0)
            n = 1;
          for (j = 0; j < n; j++)
            {
              char e[4] = { '\\', 'x', hex[p[i + j] >> 4], hex[p[i + j] & 15] };
              put (&k, e, 4);
            }
        }
      i += n;
    }
  finish (&k);
  return k.len;
}

char *
mp_escape_str (const char *s, unsigned flags)
{
  size_t len, n;
  char *out;

  if (s == NULL)
    s = "(null)";
  len = strlen (s);
  n = mp_escape_mem (NULL, 0, s, len, flags);
  out = malloc (n + 1);
  if (out != NULL)
    mp_escape_mem (out, n + 1, s, len, flags);
  return out;
}

char *
mp_escape (const char *s)
{
  return mp_escape_str (s, 0);
}

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

ssize_t
mp_unescape (void *out, const char *s, size_t len)
{
  uint8_t *o = out;
  size_t i = 0, n = 0;
  int h, l;

  while (i < len)
    {
      if (s[i] != '\\')
        {
          o[n++] = (uint8_t)s[i++];
          continue;
        }
      if (i + 1 >= len)
        return -1;
      switch (s[i + 1])
        {
        case '\\':
        case '"':
          o[n++] = (uint8_t)s[i + 1];
          break;
        case 'n':
          o[n++] = '\n';
          break;
        case 't':
          o[n++] = '\t';
          break;
        case 'r':
          o[n++] = '\r';
          break;
        case 'x':
          if (i + 3 >= len || (h = hexval (s[i + 2])) < 0
              || (l = hexval (s[i + 3])) < 0)
            return -1;
          o[n++] = (uint8_t)(h << 4 | l);
          i += 2;
          break;
        default:
          return -1;
        }
      i += 2;
    }
  return (ssize_t)n;
}

size_t
mp_json_quote_mem (char *out, size_t size, const void *s, size_t len)
{
  const uint8_t *p = s;
  struct sink k = { out, size, 0, 0, false };
  size_t i = 0, n;
  uint32_t cp;

  put (&k, "\"", 1);
  while (i < len)
    {
      n = utf8_seq (p + i, len - i, &cp);
      if (n == 0)
        {
          put (&k, "\\ufffd", 6);
          n = 1;
        }
      else if (cp == '"' || cp == '\\')
        put (&k, cp == '"' ? "\\\"" : "\\\\", 2);
      else if (cp == '\n' || cp == '\t' || cp == '\r')
        put (&k, cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : "\\r", 2);
      else if (is_control (cp))
        {
          char e[6] = { '\\',
                        'u',
                        hex[cp >> 12],
                        hex[(cp >> 8) & 15],
                        hex[(cp >> 4) & 15],
                        hex[cp & 15] };
          put (&k, e, 6);
        }
      else
        put (&k, (const char *)p + i, n);
      i += n;
    }
  put (&k, "\"", 1);
  finish (&k);
  return k.len;
}

char *
mp_json_quote (const char *s)
{
  size_t len, n;
  char *out;

  if (s == NULL)
    return strdup ("null");
  len = strlen (s);
  n = mp_json_quote_mem (NULL, 0, s, len);
  out = malloc (n + 1);
  if (out != NULL)
    mp_json_quote_mem (out, n + 1, s, len);
  return out;
}

static size_t
json_text_safe_mem (char *out, size_t size, const uint8_t *p, size_t len)
{
  struct sink k = { out, size, 0, 0, false };
  size_t i = 0, n;
  uint32_t cp;

  while (i < len)
    {
      n = utf8_seq (p + i, len - i, &cp);
      if (n == 0)
        {
          put (&k, "\\ufffd", 6);
          n = 1;
        }
      else if (cp >= 0x7f && is_control (cp))
        {
          char e[6] = { '\\',
                        'u',
                        hex[cp >> 12],
                        hex[(cp >> 8) & 15],
                        hex[(cp >> 4) & 15],
                        hex[cp & 15] };
          put (&k, e, 6);
        }
      else
        put (&k, (const char *)p + i, n);
      i += n;
    }
  finish (&k);
  return k.len;
}

char *
mp_json_text_safe (const char *json)
{
  size_t len = strlen (json), n;
  char *out;

  n = json_text_safe_mem (NULL, 0, (const uint8_t *)json, len);
  out = malloc (n + 1);
  if (out != NULL)
    json_text_safe_mem (out, n + 1, (const uint8_t *)json, len);
  return out;
}
