/* Fuzz util/escape: any bytes, escaped with and without MP_ESCAPE_QUOTE and
 * quoted for JSON.  Besides the sanitizers, it checks what must hold for
 * any input: the escape has no control byte, is valid UTF-8 (checked here
 * with a decoder of its own), has no bare '"' when asked, decodes back to
 * the input, and cut into a smaller buffer is a prefix that still decodes;
 * the JSON literal parses with jansson, to the input when that is valid
 * UTF-8, as does jansson's own dump of it made safe by mp_json_text_safe. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/escape.h"

/* Strict UTF-8 (RFC 3629) with no C0, DEL or C1 control. */
static bool
printable_utf8 (const uint8_t *s, size_t len)
{
  size_t i = 0, n, j;
  uint32_t cp, min;

  while (i < len)
    {
      uint8_t c = s[i];
      if (c < 0x20 || c == 0x7f)
        return false;
      if (c < 0x80)
        {
          i++;
          continue;
        }
      if ((c & 0xe0) == 0xc0)
        n = 2, cp = c & 0x1f, min = 0x80;
      else if ((c & 0xf0) == 0xe0)
        n = 3, cp = c & 0x0f, min = 0x800;
      else if ((c & 0xf8) == 0xf0)
        n = 4, cp = c & 0x07, min = 0x10000;
      else
        return false;
      if (i + n > len)
        return false;
      for (j = 1; j < n; j++)
        {
          if ((s[i + j] & 0xc0) != 0x80)
            return false;
          cp = (cp << 6) | (s[i + j] & 0x3f);
        }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)
          || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x202e)
        return false;
      i += n;
    }
  return true;
}

static void
check_escape (const uint8_t *data, size_t size, unsigned flags)
{
  size_t n = mp_escape_mem (NULL, 0, data, size, flags), cutsize, m, i;
  char *out = malloc (n + 1), *cut;
  uint8_t *back = malloc (n + 1);
  ssize_t b;

  if (out == NULL || back == NULL)
    abort ();
  if (mp_escape_mem (out, n + 1, data, size, flags) != n || strlen (out) != n)
    abort ();
  if (!printable_utf8 ((const uint8_t *)out, n))
    abort ();
  if (flags & MP_ESCAPE_QUOTE)
    for (i = 0; i < n; i++)
      {
        if (out[i] == '\\')
          i++;
        else if (out[i] == '"')
          abort ();
      }
  b = mp_unescape (back, out, n);
  if (b < 0 || (size_t)b != size || memcmp (back, data, size) != 0)
    abort ();

  /* A buffer too small by a size the input picks. */
  cutsize = size > 0 ? data[0] % (n + 1) : 0;
  cut = malloc (cutsize + 1);
  if (cut == NULL)
    abort ();
  if (mp_escape_mem (cut, cutsize, data, size, flags) != n)
    abort ();
  if (cutsize > 0)
    {
      m = strlen (cut);
      if (m >= cutsize || memcmp (cut, out, m) != 0
          || mp_unescape (back, cut, m) < 0)
        abort ();
    }
  free (cut);
  free (back);
  free (out);
}

static void
check_json (const uint8_t *data, size_t size)
{
  size_t n = mp_json_quote_mem (NULL, 0, data, size);
  char *out = malloc (n + 1);
  json_t *v, *orig;
  json_error_t jerr;

  if (out == NULL || mp_json_quote_mem (out, n + 1, data, size) != n
      || strlen (out) != n || !printable_utf8 ((const uint8_t *)out, n))
    abort ();
  v = json_loads (out, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
  if (v == NULL || !json_is_string (v))
    abort ();
  /* jansson takes only valid UTF-8: that input must come back unchanged. */
  orig = json_stringn (size > 0 ? (const char *)data : "", size);
  if (orig != NULL && !json_equal (orig, v))
    abort ();
  /* The same string as jansson writes it, made safe after the fact. */
  if (orig != NULL)
    {
      char *text = json_dumps (orig, JSON_ENCODE_ANY);
      char *safe = text != NULL ? mp_json_text_safe (text) : NULL;
      json_t *back;

      if (safe == NULL
          || !printable_utf8 ((const uint8_t *)safe, strlen (safe)))
        abort ();
      back = json_loads (safe, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
      if (back == NULL || !json_equal (back, orig))
        abort ();
      json_decref (back);
      free (safe);
      free (text);
    }
  json_decref (orig);
  json_decref (v);
  free (out);
}

/* Kept backslashes: not invertible, but still printable. */
static void
check_readable (const uint8_t *data, size_t size)
{
  size_t n = mp_escape_mem (NULL, 0, data, size, MP_ESCAPE_KEEP_BACKSLASH);
  char *out = malloc (n + 1);

  if (out == NULL
      || mp_escape_mem (out, n + 1, data, size, MP_ESCAPE_KEEP_BACKSLASH) != n
      || strlen (out) != n || !printable_utf8 ((const uint8_t *)out, n))
    abort ();
  free (out);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  check_readable (data, size);
  check_escape (data, size, 0);
  check_escape (data, size, MP_ESCAPE_QUOTE);
  check_json (data, size);
  return 0;
}
