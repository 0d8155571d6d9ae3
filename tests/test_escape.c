/* Tests for util/escape: what is kept, what is escaped and how, cutting
 * into a small buffer, the inverse, and JSON string literals. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "tests/harness.h"
#include "util/escape.h"
#include "util/log.h"

static char *
esc (const char *s, size_t len, unsigned flags)
{
  static char buf[512];
  mp_escape_mem (buf, sizeof buf, s, len, flags);
  return buf;
}
#define ESC(lit) esc (lit, sizeof lit - 1, 0)

TEST (test_kept)
{
  CHECK_STR (ESC (""), "");
  CHECK_STR (ESC ("model.safetensors"), "model.safetensors");
  CHECK_STR (ESC ("café 模型 😀 \"q\" '"), "café 模型 😀 \"q\" '");
  /* U+00A0 and U+FFFD are printable; U+10FFFF is the last code point. */
  CHECK_STR (ESC ("\xc2\xa0\xef\xbf\xbd\xf4\x8f\xbf\xbf"),
             "\xc2\xa0\xef\xbf\xbd\xf4\x8f\xbf\xbf");
}

TEST (test_controls)
{
  CHECK_STR (ESC ("a\\b"), "a\\\\b");
  CHECK_STR (ESC ("l1\nl2\tx\ry"), "l1\\nl2\\tx\\ry");
  CHECK_STR (ESC ("\033]0;x\007"), "\\x1b]0;x\\x07");
  CHECK_STR (ESC ("\033[2J\x7f\x01"), "\\x1b[2J\\x7f\\x01");
  CHECK_STR (esc ("a\0b", 3, 0), "a\\x00b");
  /* C1 CSI (U+009B) and the bidi override U+202E, line separator U+2028. */
  CHECK_STR (ESC ("\xc2\x9b"
                  "31m"),
             "\\xc2\\x9b31m");
  CHECK_STR (ESC ("\xe2\x80\xae"
                  "txt.exe"),
             "\\xe2\\x80\\xaetxt.exe");
  CHECK_STR (ESC ("a\xe2\x80\xa8"
                  "b"),
             "a\\xe2\\x80\\xa8b");
  CHECK_STR (esc ("p \"a\\x1b\" \033\n", 12, MP_ESCAPE_KEEP_BACKSLASH),
             "p \"a\\x1b\" \\x1b\\n");
  /* A quote only with MP_ESCAPE_QUOTE. */
  CHECK_STR (esc ("say \"hi\"", 8, MP_ESCAPE_QUOTE), "say \\\"hi\\\"");
}

TEST (test_invalid_utf8)
{
  /* Lone continuation, overlong '/', a surrogate, above U+10FFFF, a cut
   * sequence, and 0xff: byte by byte, and a good character after one is
   * kept. */
  CHECK_STR (ESC ("\x80"), "\\x80");
  CHECK_STR (ESC ("\xc0\xaf"), "\\xc0\\xaf");
  CHECK_STR (ESC ("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  CHECK_STR (ESC ("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  CHECK_STR (ESC ("\xe6\xa8"), "\\xe6\\xa8");
  CHECK_STR (ESC ("\xff"
                  "é"),
             "\\xffé");
  CHECK_STR (ESC ("\xe6é"), "\\xe6é");
}

TEST (test_cut)
{
  char small[8];
  size_t n;

  /* "ab" fits, the escape of ESC (4 bytes) does not: cut before it. */
  n = mp_escape_mem (small, 6, "ab\033cd", 5, 0);
  CHECK (n == 8);
  CHECK_STR (small, "ab");
  n = mp_escape_mem (small, 7, "ab\033cd", 5, 0);
  CHECK_STR (small, "ab\\x1b");
  /* A multi-byte character is not split either. */
  n = mp_escape_mem (small, 4, "aé", 3, 0);
  CHECK (n == 3);
  CHECK_STR (small, "aé");
  n = mp_escape_mem (small, 3, "aé", 3, 0);
  CHECK_STR (small, "a");
  n = mp_escape_mem (small, 1, "abc", 3, 0);
  CHECK_STR (small, "");
  CHECK (mp_escape_mem (NULL, 0, "a\nb", 3, 0) == 4);
}

TEST (test_alloc)
{
  char *s = mp_escape ("x\033y");
  CHECK_STR (s, "x\\x1by");
  free (s);
  s = mp_escape (NULL);
  CHECK_STR (s, "(null)");
  free (s);
}

TEST (test_unescape)
{
  static const char in[] = "a\\\"\n\t\r\033\0\x7f\xc2\x9b\xff\xe2\x80\xaeé";
  char out[128], back[128];
  size_t n
      = mp_escape_mem (out, sizeof out, in, sizeof in - 1, MP_ESCAPE_QUOTE);
  ssize_t b = mp_unescape (back, out, n);

  CHECK (b == (ssize_t)(sizeof in - 1));
  CHECK (b >= 0 && memcmp (back, in, (size_t)b) == 0);
  CHECK (mp_unescape (back, "a\\", 2) == -1);
  CHECK (mp_unescape (back, "\\q", 2) == -1);
  CHECK (mp_unescape (back, "\\x1", 3) == -1);
  CHECK (mp_unescape (back, "\\xzz", 4) == -1);
  CHECK (mp_unescape (back, "\\x4A", 4) == 1 && back[0] == 'J');
}

TEST (test_json)
{
  char *q;
  json_t *v;

  q = mp_json_quote ("a\"b\\c\nd\033e\x7f\xc2\x9b f é");
  CHECK_STR (q, "\"a\\\"b\\\\c\\nd\\u001be\\u007f\\u009b f é\"");
  v = json_loads (q, JSON_DECODE_ANY, NULL);
  CHECK (v != NULL && json_is_string (v)
         && strcmp (json_string_value (v), "a\"b\\c\nd\033e\x7f\xc2\x9b f é")
                == 0);
  json_decref (v);
  free (q);
  /* JSON cannot carry invalid UTF-8: U+FFFD stands for each bad byte. */
  q = mp_json_quote ("x\xff\xc0y");
  CHECK_STR (q, "\"x\\ufffd\\ufffdy\"");
  free (q);
  q = mp_json_quote (NULL);
  CHECK_STR (q, "null");
  free (q);
  q = mp_json_quote ("");
  CHECK_STR (q, "\"\"");
  free (q);
}

/* jansson escapes only C0: the rest is escaped after it, in strings. */
TEST (test_json_text_safe)
{
  json_t *o = json_pack ("{s:s,s:[s]}", "k\x7f", "v\xc2\x9b\xe2\x80\xae é\n",
                         "a", "\033");
  char *text = json_dumps (o, JSON_INDENT (2) | JSON_SORT_KEYS);
  char *safe = mp_json_text_safe (text);
  json_t *back = json_loads (safe, 0, NULL);

  CHECK_STR (safe, "{\n  \"a\": [\n    \"\\u001B\"\n  ],\n"
                   "  \"k\\u007f\": \"v\\u009b\\u202e é\\n\"\n}");
  CHECK (back != NULL && json_equal (back, o));
  json_decref (back);
  free (safe);
  free (text);
  json_decref (o);
}

/* mp_log writes one logfmt line however hostile the message. */
TEST (test_log_line)
{
  char path[] = "/tmp/test_escape.XXXXXX", buf[8192];
  int fd = mkstemp (path), saved = dup (2);
  ssize_t n;

  REQUIRE (fd >= 0 && saved >= 0);
  fflush (stderr);
  dup2 (fd, 2);
  mp_log_error ("layer %s: %s", "evil\033]0;pwned\007\nlevel=info msg=\"x\"",
                "bad \xff byte\r");
  fflush (stderr);
  dup2 (saved, 2);
  close (saved);
  n = pread (fd, buf, sizeof buf - 1, 0);
  close (fd);
  unlink (path);
  REQUIRE (n > 0);
  buf[n] = '\0';
  CHECK (memchr (buf, '\033', (size_t)n) == NULL);
  CHECK (strchr (buf, '\n') == buf + n - 1);
  CHECK (strstr (buf, " level=error msg=\"layer evil\\x1b]0;pwned\\x07\\n"
                      "level=info msg=\\\"x\\\": bad \\xff byte\\r\"\n")
         != NULL);
}

TEST_MAIN (T (test_kept), T (test_controls), T (test_invalid_utf8),
           T (test_cut), T (test_alloc), T (test_unescape), T (test_json),
           T (test_json_text_safe), T (test_log_line))
