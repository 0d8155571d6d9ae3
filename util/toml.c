/* TOML 1.0.0 reader: a single pass over the bytes, building the tree as it
 * goes.  The grammar is LL(1) apart from telling a number from a date, which
 * looks a few bytes ahead.  What makes TOML subtle is not the grammar but
 * which tables may be added to later; the flags on each table record how it
 * came to exist, and that alone decides it (see header_open and keyval). */
#include "util/toml.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

/* How a table came to exist decides what may add to it later. */
enum
{
  /* Named only as a prefix of a [header]: not defined yet, so one later
   * header, or dotted keys, may still define it. */
  TF_IMPLICIT = 1 << 0,
  /* Defined by a [header] or as an element of a [[header]] array. */
  TF_HEADER = 1 << 1,
  /* Created by a dotted key; more dotted keys in the same place may add to
   * it, and headers may add sub-tables, but no header may define it. */
  TF_DOTTED = 1 << 2,
  /* An inline table: complete once its closing brace is read. */
  TF_INLINE = 1 << 3,
  /* An array created by [[header]]; further [[header]]s append to it.
   * Every other array is static. */
  AF_TABLES = 1 << 4,
};

/* Below this many keys a linear scan beats hashing. */
#define TABLE_INDEX_MIN 8

struct toml_entry
{
  char *key;
  size_t keylen;
  toml_value *val;
};

struct toml_value
{
  enum toml_type type;
  unsigned flags;
  unsigned depth; /* containers between this value and the root */
  union
  {
    struct
    {
      struct toml_entry *e;
      size_t n, cap;
      /* Open addressing over e: slot holds entry index + 1, 0 is empty. */
      size_t *index;
      size_t index_cap; /* a power of two, or 0 while n is small */
      uint64_t seed;
    } t;
    struct
    {
      toml_value **v;
      size_t n, cap;
    } a;
    struct /* strings and the text of the date/time kinds */
    {
      char *s;
      size_t len;
    } s;
    int64_t i;
    double f;
    bool b;
  } u;
};

/* ---- Trees ----------------------------------------------------------- */

static toml_value *
value_new (enum toml_type type, unsigned depth)
{
  toml_value *v = calloc (1, sizeof *v);

  if (v != NULL)
    {
      v->type = type;
      v->depth = depth;
    }
  return v;
}

/* The depth cap bounds this recursion. */
void
toml_free (toml_value *v)
{
  size_t i;

  if (v == NULL)
    return;
  switch (v->type)
    {
    case TOML_TABLE:
      for (i = 0; i < v->u.t.n; i++)
        {
          free (v->u.t.e[i].key);
          toml_free (v->u.t.e[i].val);
        }
      free (v->u.t.e);
      free (v->u.t.index);
      break;
    case TOML_ARRAY:
      for (i = 0; i < v->u.a.n; i++)
        toml_free (v->u.a.v[i]);
      free (v->u.a.v);
      break;
    case TOML_STRING:
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
      free (v->u.s.s);
      break;
    case TOML_INTEGER:
    case TOML_FLOAT:
    case TOML_BOOL:
      break;
    }
  free (v);
}

static uint64_t
key_hash (uint64_t seed, const char *k, size_t len)
{
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  size_t i;

  for (i = 0; i < len; i++)
    h = (h ^ (unsigned char)k[i]) * 0x100000001b3ULL;
  /* FNV leaves the low bits, which pick the slot, poorly mixed. */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

static void
index_put (toml_value *t, size_t entry)
{
  const struct toml_entry *e = &t->u.t.e[entry];
  size_t mask = t->u.t.index_cap - 1;
  size_t slot = key_hash (t->u.t.seed, e->key, e->keylen) & mask;

  while (t->u.t.index[slot] != 0)
    slot = (slot + 1) & mask;
  t->u.t.index[slot] = entry + 1;
}

static int
index_rebuild (toml_value *t, size_t cap)
{
  size_t *index = calloc (cap, sizeof *index);
  size_t i;

  if (index == NULL)
    return -1;
  free (t->u.t.index);
  t->u.t.index = index;
  t->u.t.index_cap = cap;
  for (i = 0; i < t->u.t.n; i++)
    index_put (t, i);
  return 0;
}

static toml_value *
table_find (const toml_value *t, const char *key, size_t len)
{
  size_t i, mask, slot;

  if (t->u.t.index_cap == 0)
    {
      for (i = 0; i < t->u.t.n; i++)
        if (t->u.t.e[i].keylen == len
            && memcmp (t->u.t.e[i].key, key, len) == 0)
          return t->u.t.e[i].val;
      return NULL;
    }
  mask = t->u.t.index_cap - 1;
  for (slot = key_hash (t->u.t.seed, key, len) & mask; t->u.t.index[slot] != 0;
       slot = (slot + 1) & mask)
    {
      const struct toml_entry *e = &t->u.t.e[t->u.t.index[slot] - 1];
      if (e->keylen == len && memcmp (e->key, key, len) == 0)
        return e->val;
    }
  return NULL;
}

/* Adds key = val to t, which must not hold key yet.  Takes val only on
 * success. */
static int
table_add (toml_value *t, const char *key, size_t len, toml_value *val)
{
  struct toml_entry *e;
  char *k;

  if (t->u.t.n == t->u.t.cap)
    {
      size_t cap = t->u.t.cap ? t->u.t.cap * 2 : 4;
      e = reallocarray (t->u.t.e, cap, sizeof *e);
      if (e == NULL)
        return -1;
      t->u.t.e = e;
      t->u.t.cap = cap;
    }
  k = malloc (len + 1);
  if (k == NULL)
    return -1;
  memcpy (k, key, len);
  k[len] = '\0';
  e = &t->u.t.e[t->u.t.n++];
  e->key = k;
  e->keylen = len;
  e->val = val;
  /* Keep the index at most half full. */
  if (t->u.t.n >= TABLE_INDEX_MIN && t->u.t.n * 2 > t->u.t.index_cap)
    {
      size_t cap = t->u.t.index_cap ? t->u.t.index_cap * 2 : 32;
      if (index_rebuild (t, cap) < 0)
        {
          t->u.t.n--;
          free (k);
          return -1;
        }
    }
  else if (t->u.t.index_cap != 0)
    index_put (t, t->u.t.n - 1);
  return 0;
}

static int
array_add (toml_value *a, toml_value *val)
{
  if (a->u.a.n == a->u.a.cap)
    {
      size_t cap = a->u.a.cap ? a->u.a.cap * 2 : 4;
      toml_value **v = reallocarray (a->u.a.v, cap, sizeof *v);
      if (v == NULL)
        return -1;
      a->u.a.v = v;
      a->u.a.cap = cap;
    }
  a->u.a.v[a->u.a.n++] = val;
  return 0;
}

/* ---- Parser state, errors ------------------------------------------- */

/* A growing byte buffer, always NUL-terminated. */
struct sbuf
{
  char *d;
  size_t n, cap;
};

struct parser
{
  const char *buf, *p, *end;
  mp_error *err;
  uint64_t seed;
  locale_t c_locale; /* for strtod, whatever the program's locale is */
  struct sbuf tmp;   /* the string or key being read */
};

/* Sets the error for position at; the first error wins, since the parser
 * gives up after it. */
static int __attribute__ ((format (printf, 3, 4)))
fail_at (struct parser *ps, const char *at, const char *fmt, ...)
{
  char what[768];
  size_t line = 1, col = 1;
  const char *q;
  va_list ap;

  if (at > ps->end)
    at = ps->end;
  for (q = ps->buf; q < at; q++)
    {
      if (*q == '\n')
        {
          line++;
          col = 1;
        }
      else if (((unsigned char)*q & 0xc0) != 0x80)
        col++;
    }
  va_start (ap, fmt);
  vsnprintf (what, sizeof what, fmt, ap);
  va_end (ap);
  return mp_error_set (ps->err, MP_ERR_INVALID_ARGUMENT,
                       "line %zu, column %zu: %s", line, col, what);
}

static int
fail_oom (struct parser *ps)
{
  return mp_error_set (ps->err, MP_ERR_INTERNAL, "out of memory");
}

/* Describes the byte at p for "expected X, found Y" messages. */
static const char *
found (struct parser *ps, const char *p, char *buf, size_t cap)
{
  unsigned char c;

  if (p >= ps->end)
    return "end of input";
  c = (unsigned char)*p;
  if (c == '\n' || c == '\r')
    return "end of line";
  if (c > 0x20 && c < 0x7f)
    snprintf (buf, cap, "'%c'", c);
  else if (c >= 0x80)
    {
      /* The input is valid UTF-8 by now; many such characters look like
       * blanks, so the code point says more than the glyph. */
      uint32_t cp = c & (c >= 0xf0 ? 0x07 : c >= 0xe0 ? 0x0f : 0x1f);
      while (++p < ps->end && ((unsigned char)*p & 0xc0) == 0x80)
        cp = cp << 6 | ((unsigned char)*p & 0x3f);
      snprintf (buf, cap, "U+%04X", cp);
    }
  else
    snprintf (buf, cap, "byte 0x%02x", c);
  return buf;
}

static int
fail_expected (struct parser *ps, const char *what)
{
  char b[16];
  return fail_at (ps, ps->p, "expected %s, found %s", what,
                  found (ps, ps->p, b, sizeof b));
}

/* Length of the valid UTF-8 sequence at p, or 0.  Rejects overlong forms,
 * surrogates and code points above U+10FFFF. */
static size_t
utf8_len (const unsigned char *p, const unsigned char *end)
{
  unsigned char c = p[0];
  size_t n, i;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if ((size_t)(end - p) < n)
    return 0;
  for (i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f)
      || (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
    return 0;
  return n;
}

static int
check_utf8 (struct parser *ps)
{
  const unsigned char *p = (const unsigned char *)ps->buf;
  const unsigned char *end = (const unsigned char *)ps->end;

  while (p < end)
    {
      size_t n;
      if (*p < 0x80)
        {
          p++;
          continue;
        }
      n = utf8_len (p, end);
      if (n == 0)
        return fail_at (ps, (const char *)p, "invalid UTF-8 (byte 0x%02x)", *p);
      p += n;
    }
  return 0;
}

/* ---- Lexical helpers ------------------------------------------------- */

static int
peek (struct parser *ps)
{
  return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

static bool
at_str (struct parser *ps, const char *s)
{
  size_t n = strlen (s);
  return (size_t)(ps->end - ps->p) >= n && memcmp (ps->p, s, n) == 0;
}

static bool
is_digit (int c)
{
  return c >= '0' && c <= '9';
}

static bool
is_bare (int c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit (c)
         || c == '_' || c == '-';
}

/* Control characters TOML forbids in strings and comments: all but tab. */
static bool
is_control (int c)
{
  return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f;
}

static void
skip_ws (struct parser *ps)
{
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
    ps->p++;
}

static bool
at_newline (struct parser *ps)
{
  return peek (ps) == '\n' || at_str (ps, "\r\n");
}

/* Consumes a newline; a carriage return must be part of CRLF. */
static int
eat_newline (struct parser *ps)
{
  if (peek (ps) == '\n')
    ps->p++;
  else if (at_str (ps, "\r\n"))
    ps->p += 2;
  else if (peek (ps) == '\r')
    return fail_at (ps, ps->p, "carriage return not followed by newline");
  else
    return fail_expected (ps, "a newline");
  return 0;
}

/* Skips a comment up to (not including) its newline. */
static int
skip_comment (struct parser *ps)
{
  ps->p++;
  while (ps->p < ps->end && *ps->p != '\n')
    {
      if (at_str (ps, "\r\n"))
        return 0;
      if (is_control ((unsigned char)*ps->p))
        return fail_at (ps, ps->p, "control character U+%04X in comment",
                        (unsigned char)*ps->p);
      ps->p++;
    }
  return 0;
}

/* Whitespace, newlines and comments, as allowed inside arrays. */
static int
skip_ws_nl (struct parser *ps)
{
  for (;;)
    {
      skip_ws (ps);
      if (peek (ps) == '#')
        {
          if (skip_comment (ps) < 0)
            return -1;
        }
      else if (peek (ps) == '\n' || peek (ps) == '\r')
        {
          if (eat_newline (ps) < 0)
            return -1;
        }
      else
        return 0;
    }
}

/* After a key/value pair or header only a comment may follow on the line. */
static int
end_of_line (struct parser *ps, const char *after)
{
  char b[16];

  skip_ws (ps);
  if (peek (ps) == '#' && skip_comment (ps) < 0)
    return -1;
  if (ps->p == ps->end)
    return 0;
  if (peek (ps) == '\n' || peek (ps) == '\r')
    return eat_newline (ps);
  return fail_at (ps, ps->p, "expected a newline after %s, found %s", after,
                  found (ps, ps->p, b, sizeof b));
}

/* ---- Strings --------------------------------------------------------- */

static int
put (struct parser *ps, struct sbuf *b, const char *s, size_t n)
{
  if (b->cap - b->n < n + 1)
    {
      size_t cap = b->cap ? b->cap : 64;
      char *d;
      while (cap - b->n < n + 1)
        cap *= 2;
      d = realloc (b->d, cap);
      if (d == NULL)
        return fail_oom (ps);
      b->d = d;
      b->cap = cap;
    }
  memcpy (b->d + b->n, s, n);
  b->n += n;
  b->d[b->n] = '\0';
  return 0;
}

static int
put_char (struct parser *ps, struct sbuf *b, char c)
{
  return put (ps, b, &c, 1);
}

static int
put_utf8 (struct parser *ps, struct sbuf *b, uint32_t cp)
{
  char u[4];
  size_t n;

  if (cp < 0x80)
    {
      u[0] = (char)cp;
      n = 1;
    }
  else if (cp < 0x800)
    {
      u[0] = (char)(0xc0 | (cp >> 6));
      u[1] = (char)(0x80 | (cp & 0x3f));
      n = 2;
    }
  else if (cp < 0x10000)
    {
      u[0] = (char)(0xe0 | (cp >> 12));
      u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
      u[2] = (char)(0x80 | (cp & 0x3f));
      n = 3;
    }
  else
    {
      u[0] = (char)(0xf0 | (cp >> 18));
      u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
      u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
      u[3] = (char)(0x80 | (cp & 0x3f));
      n = 4;
    }
  return put (ps, b, u, n);
}

static int
hex_value (int c)
{
  if (is_digit (c))
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* An escape sequence at ps->p (the backslash) in a basic string. */
static int
parse_escape (struct parser *ps, struct sbuf *out)
{
  static const char simple[] = "b\bt\tn\nf\fr\r\"\"\\\\";
  const char *start = ps->p;
  uint32_t cp = 0;
  int c, digits, i;
  char b[16];

  ps->p++;
  c = peek (ps);
  for (i = 0; simple[i] != '\0'; i += 2)
    if (c == simple[i])
      {
        ps->p++;
        return put_char (ps, out, simple[i + 1]);
      }
  if (c != 'u' && c != 'U')
    return fail_at (ps, start, "invalid escape sequence: backslash then %s",
                    found (ps, ps->p, b, sizeof b));
  digits = c == 'u' ? 4 : 8;
  ps->p++;
  for (i = 0; i < digits; i++)
    {
      int h = hex_value (peek (ps));
      if (h < 0)
        return fail_at (ps, start, "\\%c escape needs %d hexadecimal digits", c,
                        digits);
      cp = cp << 4 | (uint32_t)h;
      ps->p++;
    }
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return fail_at (ps, start, "\\%c%.*s is not a Unicode scalar value", c,
                    digits, start + 2);
  return put_utf8 (ps, out, cp);
}

/* A string at ps->p into out: basic ("), literal ('), or their multi-line
 * forms, which keys may not use. */
static int
parse_string (struct parser *ps, struct sbuf *out, bool is_key)
{
  const char *start = ps->p;
  char q = *ps->p;
  bool basic = q == '"';
  bool ml = at_str (ps, basic ? "\"\"\"" : "'''");

  out->n = 0;
  if (put (ps, out, "", 0) < 0)
    return -1;
  if (ml && is_key)
    return fail_at (ps, start, "a multi-line string cannot be a key");
  if (ml)
    {
      ps->p += 3;
      /* A newline right after the opening delimiter is not content. */
      if (at_newline (ps) && eat_newline (ps) < 0)
        return -1;
    }
  else
    ps->p++;

  for (;;)
    {
      int c = peek (ps);
      if (c < 0)
        return fail_at (ps, start, "unterminated string");
      if (c == q && !ml)
        {
          ps->p++;
          return 0;
        }
      if (c == q)
        {
          size_t run = 0;
          while (ps->p + run < ps->end && ps->p[run] == q)
            run++;
          /* Up to two quotes may sit right before the delimiter. */
          if (run > 5)
            return fail_at (ps, ps->p + 5,
                            "too many quotes at the end of a "
                            "multi-line string");
          if (put (ps, out, ps->p, run >= 3 ? run - 3 : run) < 0)
            return -1;
          ps->p += run;
          if (run >= 3)
            return 0;
          continue;
        }
      if (c == '\\' && basic)
        {
          const char *t = ps->p + 1;
          while (ml && t < ps->end && (*t == ' ' || *t == '\t'))
            t++;
          if (ml && t < ps->end && (*t == '\n' || *t == '\r'))
            {
              /* A backslash ending a line swallows the line break and
               * all blank space after it. */
              ps->p = t;
              while (ps->p < ps->end)
                {
                  skip_ws (ps);
                  if (peek (ps) != '\n' && peek (ps) != '\r')
                    break;
                  if (eat_newline (ps) < 0)
                    return -1;
                }
              continue;
            }
          if (parse_escape (ps, out) < 0)
            return -1;
          continue;
        }
      if (c == '\n' || c == '\r')
        {
          if (!ml)
            return fail_at (ps, ps->p, "newline in a single-line string");
          if (eat_newline (ps) < 0)
            return -1;
          /* Normalised, so a CRLF file reads like an LF one. */
          if (put_char (ps, out, '\n') < 0)
            return -1;
          continue;
        }
      if (is_control (c))
        return fail_at (ps, ps->p, "control character U+%04X in a string", c);
      if (put_char (ps, out, (char)c) < 0)
        return -1;
      ps->p++;
    }
}

/* ---- Keys ------------------------------------------------------------ */

struct key_part
{
  char *s;
  size_t len;
  const char *at; /* where it starts in the input, for messages */
};

struct key
{
  struct key_part *parts;
  size_t n, cap;
};

static void
key_release (struct key *k)
{
  size_t i;

  for (i = 0; i < k->n; i++)
    free (k->parts[i].s);
  free (k->parts);
}

#define cleanup_key __attribute__ ((cleanup (key_release)))

static bool
is_bare_key (const char *s, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++)
    if (!is_bare ((unsigned char)s[i]))
      return false;
  return len > 0;
}

/* Writes the first n parts of k as TOML would spell them, cut short with
 * "..." if they do not fit. */
static const char *
key_text (char *buf, size_t cap, const struct key *k, size_t n)
{
  size_t o = 0, i, j;

#define EMIT(c)                                                                \
  do                                                                           \
    {                                                                          \
      if (o + 4 >= cap)                                                        \
        goto full;                                                             \
      buf[o++] = (c);                                                          \
    }                                                                          \
  while (0)
  for (i = 0; i < n; i++)
    {
      const struct key_part *p = &k->parts[i];
      char quote = is_bare_key (p->s, p->len)            ? 0
                   : memchr (p->s, '\'', p->len) == NULL ? '\''
                                                         : '"';
      if (i > 0)
        EMIT ('.');
      if (quote)
        EMIT (quote);
      for (j = 0; j < p->len; j++)
        {
          unsigned char c = (unsigned char)p->s[j];
          if (c < 0x20 || c == 0x7f)
            {
              if (o + 10 >= cap)
                goto full;
              o += snprintf (buf + o, cap - o, "\\u%04X", c);
              continue;
            }
          if (quote == '"' && (c == '"' || c == '\\'))
            EMIT ('\\');
          EMIT ((char)c);
        }
      if (quote)
        EMIT (quote);
    }
#undef EMIT
  buf[o] = '\0';
  return buf;
full:
  memcpy (buf + o, "...", 4);
  return buf;
}

/* A dotted key at ps->p, leading and trailing blanks included. */
static int
parse_key (struct parser *ps, struct key *k)
{
  for (;;)
    {
      struct key_part part;
      const char *s;
      size_t len;
      int c;

      skip_ws (ps);
      part.at = ps->p;
      c = peek (ps);
      if (c == '"' || c == '\'')
        {
          if (parse_string (ps, &ps->tmp, true) < 0)
            return -1;
          s = ps->tmp.d;
          len = ps->tmp.n;
        }
      else if (is_bare (c))
        {
          s = ps->p;
          while (is_bare (peek (ps)))
            ps->p++;
          len = ps->p - s;
        }
      else
        return fail_expected (ps, "a key");
      /* Every part but the last names a table one level deeper. */
      if (k->n >= TOML_MAX_DEPTH)
        return fail_at (ps, part.at, "key nests deeper than %d levels",
                        TOML_MAX_DEPTH);
      if (k->n == k->cap)
        {
          size_t cap = k->cap ? k->cap * 2 : 4;
          struct key_part *p = reallocarray (k->parts, cap, sizeof *p);
          if (p == NULL)
            return fail_oom (ps);
          k->parts = p;
          k->cap = cap;
        }
      part.s = malloc (len + 1);
      if (part.s == NULL)
        return fail_oom (ps);
      memcpy (part.s, s, len);
      part.s[len] = '\0';
      part.len = len;
      k->parts[k->n++] = part;
      skip_ws (ps);
      if (peek (ps) != '.')
        return 0;
      ps->p++;
    }
}

/* ---- Values ---------------------------------------------------------- */

static void
toml_freep (toml_value **v)
{
  toml_free (*v);
}

#define cleanup_toml __attribute__ ((cleanup (toml_freep)))

static toml_value *
container_new (struct parser *ps, enum toml_type type, unsigned depth,
               const char *at)
{
  toml_value *v;

  if (depth > TOML_MAX_DEPTH)
    {
      fail_at (ps, at, "tables and arrays nest deeper than %d levels",
               TOML_MAX_DEPTH);
      return NULL;
    }
  v = value_new (type, depth);
  if (v == NULL)
    fail_oom (ps);
  else if (type == TOML_TABLE)
    v->u.t.seed = ps->seed;
  return v;
}

static const char *
type_article (enum toml_type type)
{
  switch (type)
    {
    case TOML_TABLE:
      return "a table";
    case TOML_ARRAY:
      return "an array";
    case TOML_STRING:
      return "a string";
    case TOML_INTEGER:
      return "an integer";
    case TOML_FLOAT:
      return "a float";
    case TOML_BOOL:
      return "a boolean";
    case TOML_DATETIME:
      return "a datetime";
    case TOML_DATETIME_LOCAL:
      return "a local datetime";
    case TOML_DATE_LOCAL:
      return "a local date";
    case TOML_TIME_LOCAL:
      return "a local time";
    }
  return "a value";
}

/* What v is, in the terms of the redefinition rules. */
static const char *
what_is (const toml_value *v)
{
  if (v->type == TOML_TABLE && (v->flags & TF_INLINE))
    return "an inline table";
  if (v->type == TOML_TABLE && (v->flags & TF_DOTTED))
    return "a table defined by dotted keys";
  if (v->type == TOML_TABLE)
    return "a table defined by a [header]";
  if (v->type == TOML_ARRAY && (v->flags & AF_TABLES))
    return "an array of tables";
  if (v->type == TOML_ARRAY)
    return "a static array";
  return type_article (v->type);
}

static int parse_value (struct parser *ps, unsigned depth, toml_value **out);

static toml_value *
text_value (struct parser *ps, enum toml_type type, const char *s, size_t len)
{
  toml_value *v = value_new (type, 0);

  if (v == NULL || (v->u.s.s = malloc (len + 1)) == NULL)
    {
      free (v);
      fail_oom (ps);
      return NULL;
    }
  memcpy (v->u.s.s, s, len);
  v->u.s.s[len] = '\0';
  v->u.s.len = len;
  return v;
}

static bool
digits_at (const char *p, const char *end, size_t n)
{
  size_t i;

  if ((size_t)(end - p) < n)
    return false;
  for (i = 0; i < n; i++)
    if (!is_digit ((unsigned char)p[i]))
      return false;
  return true;
}

static int
two_digits (const char *p)
{
  return (p[0] - '0') * 10 + (p[1] - '0');
}

static bool
is_leap (int y)
{
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* HH:MM:SS[.frac] at ps->p, appended to out. */
static int
parse_time (struct parser *ps, struct sbuf *out)
{
  const char *s = ps->p;

  if (!digits_at (s, ps->end, 2) || ps->end - s < 8 || s[2] != ':'
      || !digits_at (s + 3, ps->end, 2) || s[5] != ':'
      || !digits_at (s + 6, ps->end, 2))
    return fail_at (ps, s, "invalid time: expected HH:MM:SS");
  if (two_digits (s) > 23 || two_digits (s + 3) > 59 || two_digits (s + 6) > 60)
    return fail_at (ps, s, "invalid time \"%.8s\"", s);
  ps->p += 8;
  if (peek (ps) == '.')
    {
      ps->p++;
      if (!is_digit (peek (ps)))
        return fail_at (ps, ps->p,
                        "expected digits after the decimal point "
                        "of the seconds");
      while (is_digit (peek (ps)))
        ps->p++;
    }
  return put (ps, out, s, ps->p - s);
}

/* Any of the four date/time kinds; ps->p is at a digit and the caller saw
 * "DDDD-" or "DD:". */
static int
parse_datetime (struct parser *ps, toml_value **out)
{
  struct sbuf *text = &ps->tmp;
  const char *s = ps->p;
  enum toml_type type;
  int y, m, d;
  static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

  text->n = 0;
  if (put (ps, text, "", 0) < 0)
    return -1;
  if (!(digits_at (s, ps->end, 2) && s[2] == ':'))
    {
      if (ps->end - s < 10 || !digits_at (s, ps->end, 4) || s[4] != '-'
          || !digits_at (s + 5, ps->end, 2) || s[7] != '-'
          || !digits_at (s + 8, ps->end, 2))
        return fail_at (ps, s, "invalid date: expected YYYY-MM-DD");
      y = atoi (s);
      m = two_digits (s + 5);
      d = two_digits (s + 8);
      if (m < 1 || m > 12 || d < 1
          || d > mdays[m - 1] + (m == 2 && is_leap (y)))
        return fail_at (ps, s, "invalid date \"%.10s\"", s);
      if (put (ps, text, s, 10) < 0)
        return -1;
      ps->p += 10;
      /* A space separates date and time only if a time follows. */
      if (peek (ps) == 'T' || peek (ps) == 't'
          || (peek (ps) == ' ' && digits_at (ps->p + 1, ps->end, 2)
              && ps->end - ps->p > 3 && ps->p[3] == ':'))
        {
          ps->p++;
          if (put_char (ps, text, 'T') < 0 || parse_time (ps, text) < 0)
            return -1;
          type = TOML_DATETIME_LOCAL;
          if (peek (ps) == 'Z' || peek (ps) == 'z')
            {
              ps->p++;
              if (put_char (ps, text, 'Z') < 0)
                return -1;
              type = TOML_DATETIME;
            }
          else if (peek (ps) == '+' || peek (ps) == '-')
            {
              const char *o = ps->p;
              if (!digits_at (o + 1, ps->end, 2) || ps->end - o < 6
                  || o[3] != ':' || !digits_at (o + 4, ps->end, 2))
                return fail_at (ps, o,
                                "invalid time offset: expected "
                                "+HH:MM or -HH:MM");
              if (two_digits (o + 1) > 23 || two_digits (o + 4) > 59)
                return fail_at (ps, o, "invalid time offset \"%.6s\"", o);
              if (put (ps, text, o, 6) < 0)
                return -1;
              ps->p += 6;
              type = TOML_DATETIME;
            }
        }
      else
        type = TOML_DATE_LOCAL;
    }
  else
    {
      if (parse_time (ps, text) < 0)
        return -1;
      type = TOML_TIME_LOCAL;
    }
  *out = text_value (ps, type, text->d, text->n);
  return *out ? 0 : -1;
}

static bool
is_digit_in (int c, int base)
{
  int v = hex_value (c);
  return v >= 0 && v < base;
}

/* End of a run of digits at p, underscores allowed only between two of
 * them; p itself when no digit is there. */
static const char *
scan_digits (const char *p, const char *end, int base)
{
  const char *start = p;

  while (p < end)
    {
      if (is_digit_in ((unsigned char)*p, base))
        p++;
      else if (*p == '_' && p > start
               && is_digit_in ((unsigned char)p[-1], base) && p + 1 < end
               && is_digit_in ((unsigned char)p[1], base))
        p++;
      else
        break;
    }
  return p;
}

/* Integers and floats, including inf and nan. */
static int
parse_number (struct parser *ps, toml_value **out)
{
  const char *s = ps->p, *e = s, *q, *r;
  bool neg = false, is_float = false;
  uint64_t limit, acc = 0;
  int base = 10;
  toml_value *v;

  while (e < ps->end && (is_bare ((unsigned char)*e) || *e == '+' || *e == '.'))
    e++;
  ps->p = e;
  q = s;
  if (*q == '+' || *q == '-')
    neg = *q++ == '-';
#define BAD(why)                                                               \
  fail_at (ps, s, "invalid number \"%.*s%s\"%s",                               \
           e - s > 40 ? 40 : (int)(e - s), s, e - s > 40 ? "..." : "", why)
  if (e - q == 3 && (memcmp (q, "inf", 3) == 0 || memcmp (q, "nan", 3) == 0))
    {
      if ((v = value_new (TOML_FLOAT, 0)) == NULL)
        return fail_oom (ps);
      v->u.f = q[0] == 'i' ? INFINITY : NAN;
      v->u.f = neg ? -v->u.f : v->u.f;
      *out = v;
      return 0;
    }
  if (e - q > 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'o' || q[1] == 'b'))
    {
      if (q != s)
        return BAD (": a sign is not allowed with 0x, 0o or 0b");
      base = q[1] == 'x' ? 16 : q[1] == 'o' ? 8 : 2;
      q += 2;
      if (scan_digits (q, e, base) != e)
        return BAD ("");
    }
  else
    {
      r = scan_digits (q, e, 10);
      if (r == q)
        return BAD ("");
      if (*q == '0' && r - q > 1)
        return BAD (": leading zeros are not allowed");
      if (r < e && *r == '.')
        {
          const char *f = scan_digits (r + 1, e, 10);
          if (f == r + 1)
            return BAD (": digits must follow the decimal point");
          r = f;
          is_float = true;
        }
      if (r < e && (*r == 'e' || *r == 'E'))
        {
          const char *x = r + 1;
          if (x < e && (*x == '+' || *x == '-'))
            x++;
          r = scan_digits (x, e, 10);
          if (r == x)
            return BAD (": digits must follow the exponent mark");
          is_float = true;
        }
      if (r != e)
        return BAD ("");
    }
#undef BAD

  if (is_float)
    {
      cleanup_free char *clean = malloc (e - s + 1);
      size_t n = 0;
      double f;

      if (clean == NULL)
        return fail_oom (ps);
      for (q = s; q < e; q++)
        if (*q != '_')
          clean[n++] = *q;
      clean[n] = '\0';
      if (ps->c_locale == (locale_t)0)
        {
          ps->c_locale = newlocale (LC_NUMERIC_MASK, "C", (locale_t)0);
          if (ps->c_locale == (locale_t)0)
            return fail_oom (ps);
        }
      f = strtod_l (clean, NULL, ps->c_locale);
      if (isinf (f))
        return fail_at (ps, s, "float \"%.40s\" is out of range", clean);
      if ((v = value_new (TOML_FLOAT, 0)) == NULL)
        return fail_oom (ps);
      v->u.f = f;
      *out = v;
      return 0;
    }

  limit = (base == 10 && neg) ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; q < e; q++)
    {
      unsigned dv;
      if (*q == '_')
        continue;
      dv = (unsigned)hex_value ((unsigned char)*q);
      if (acc > (limit - dv) / (unsigned)base)
        return fail_at (ps, s, "integer \"%.*s%s\" does not fit in 64 bits",
                        e - s > 40 ? 40 : (int)(e - s), s,
                        e - s > 40 ? "..." : "");
      acc = acc * base + dv;
    }
  if ((v = value_new (TOML_INTEGER, 0)) == NULL)
    return fail_oom (ps);
  /* Negate in unsigned arithmetic: -(INT64_MIN) does not exist. */
  v->u.i = neg ? (int64_t)(0 - acc) : (int64_t)acc;
  *out = v;
  return 0;
}

static int
parse_array (struct parser *ps, unsigned depth, toml_value **out)
{
  cleanup_toml toml_value *a = container_new (ps, TOML_ARRAY, depth, ps->p);

  if (a == NULL)
    return -1;
  ps->p++;
  for (;;)
    {
      toml_value *v;
      if (skip_ws_nl (ps) < 0)
        return -1;
      if (peek (ps) == ']')
        break;
      if (parse_value (ps, depth + 1, &v) < 0)
        return -1;
      if (array_add (a, v) < 0)
        {
          toml_free (v);
          return fail_oom (ps);
        }
      if (skip_ws_nl (ps) < 0)
        return -1;
      if (peek (ps) == ']')
        break;
      if (peek (ps) != ',')
        return fail_expected (ps, "',' or ']' in an array");
      ps->p++;
    }
  ps->p++;
  *out = steal_pointer (&a);
  return 0;
}

static int keyval (struct parser *ps, toml_value *t);

static int
parse_inline_table (struct parser *ps, unsigned depth, toml_value **out)
{
  cleanup_toml toml_value *t = container_new (ps, TOML_TABLE, depth, ps->p);

  if (t == NULL)
    return -1;
  ps->p++;
  skip_ws (ps);
  if (peek (ps) != '}')
    for (;;)
      {
        if (keyval (ps, t) < 0)
          return -1;
        skip_ws (ps);
        if (peek (ps) == '}')
          break;
        if (peek (ps) != ',')
          return fail_expected (ps, at_newline (ps) || peek (ps) == '#'
                                        ? "',' or '}' (an inline table must "
                                          "fit on one line)"
                                        : "',' or '}' in an inline table");
        ps->p++;
        skip_ws (ps);
        if (peek (ps) == '}')
          return fail_at (ps, ps->p - 1, "trailing comma in an inline table");
      }
  ps->p++;
  /* Sealed only now: until the brace closes, its own dotted keys may still
   * add to it. */
  t->flags |= TF_INLINE;
  *out = steal_pointer (&t);
  return 0;
}

static int
parse_value (struct parser *ps, unsigned depth, toml_value **out)
{
  const char *s = ps->p;
  int c = peek (ps);

  if (c == '"' || c == '\'')
    {
      if (parse_string (ps, &ps->tmp, false) < 0)
        return -1;
      *out = text_value (ps, TOML_STRING, ps->tmp.d, ps->tmp.n);
      return *out ? 0 : -1;
    }
  if (c == '[')
    return parse_array (ps, depth, out);
  if (c == '{')
    return parse_inline_table (ps, depth, out);
  if (at_str (ps, "true") || at_str (ps, "false"))
    {
      if ((*out = value_new (TOML_BOOL, 0)) == NULL)
        return fail_oom (ps);
      (*out)->u.b = c == 't';
      ps->p += c == 't' ? 4 : 5;
      return 0;
    }
  if (is_digit (c)
      && ((digits_at (s, ps->end, 4) && ps->end - s > 4 && s[4] == '-')
          || (digits_at (s, ps->end, 2) && ps->end - s > 2 && s[2] == ':')))
    return parse_datetime (ps, out);
  if (is_digit (c) || c == '+' || c == '-' || c == 'i' || c == 'n')
    return parse_number (ps, out);
  return fail_expected (ps, "a value");
}

/* ---- Redefinition rules ---------------------------------------------- */

/* key = value into table t: the prefix of a dotted key may create tables,
 * walk into tables created the same way or not defined yet, never into
 * anything else. */
static int
keyval (struct parser *ps, toml_value *t)
{
  cleanup_key struct key k = { 0 };
  char name[256];
  toml_value *v;
  size_t i;

  if (parse_key (ps, &k) < 0)
    return -1;
  if (peek (ps) != '=')
    return fail_expected (ps, "'=' after a key");
  ps->p++;
  skip_ws (ps);
  for (i = 0; i + 1 < k.n; i++)
    {
      struct key_part *p = &k.parts[i];
      toml_value *child = table_find (t, p->s, p->len);
      if (child == NULL)
        {
          child = container_new (ps, TOML_TABLE, t->depth + 1, p->at);
          if (child == NULL)
            return -1;
          child->flags = TF_DOTTED;
          if (table_add (t, p->s, p->len, child) < 0)
            {
              toml_free (child);
              return fail_oom (ps);
            }
        }
      else if (child->type == TOML_TABLE && child->flags == TF_IMPLICIT)
        /* Not yet defined, so the dotted keys define it, as a header
         * could have. */
        child->flags = TF_DOTTED;
      else if (child->type != TOML_TABLE || child->flags != TF_DOTTED)
        return fail_at (ps, p->at, "cannot add keys to \"%s\": it is %s",
                        key_text (name, sizeof name, &k, i + 1),
                        what_is (child));
      t = child;
    }
  if (table_find (t, k.parts[k.n - 1].s, k.parts[k.n - 1].len) != NULL)
    return fail_at (ps, k.parts[k.n - 1].at, "duplicate key \"%s\"",
                    key_text (name, sizeof name, &k, k.n));
  if (parse_value (ps, t->depth + 1, &v) < 0)
    return -1;
  if (table_add (t, k.parts[k.n - 1].s, k.parts[k.n - 1].len, v) < 0)
    {
      toml_free (v);
      return fail_oom (ps);
    }
  return 0;
}

/* [a.b.c] or [[a.b.c]] at ps->p; *cur becomes the table that the following
 * key/value pairs go into. */
static int
header_open (struct parser *ps, toml_value *root, toml_value **cur)
{
  cleanup_key struct key k = { 0 };
  bool aot = at_str (ps, "[[");
  toml_value *t = root, *child;
  struct key_part *last;
  char name[256];
  size_t i;

  ps->p += aot ? 2 : 1;
  if (parse_key (ps, &k) < 0)
    return -1;
  if (!at_str (ps, aot ? "]]" : "]"))
    return fail_expected (ps, aot ? "']]' closing the [[header]]"
                                  : "']' closing the [header]");
  ps->p += aot ? 2 : 1;

  /* The prefix may go through any table but an inline one, and through an
   * array of tables into its latest element. */
  for (i = 0; i + 1 < k.n; i++)
    {
      struct key_part *p = &k.parts[i];
      child = table_find (t, p->s, p->len);
      if (child == NULL)
        {
          child = container_new (ps, TOML_TABLE, t->depth + 1, p->at);
          if (child == NULL)
            return -1;
          child->flags = TF_IMPLICIT;
          if (table_add (t, p->s, p->len, child) < 0)
            {
              toml_free (child);
              return fail_oom (ps);
            }
        }
      else if (child->type == TOML_ARRAY && (child->flags & AF_TABLES))
        child = child->u.a.v[child->u.a.n - 1];
      else if (child->type != TOML_TABLE || (child->flags & TF_INLINE))
        return fail_at (ps, p->at, "cannot add tables to \"%s\": it is %s",
                        key_text (name, sizeof name, &k, i + 1),
                        what_is (child));
      t = child;
    }

  last = &k.parts[k.n - 1];
  child = table_find (t, last->s, last->len);
  if (aot)
    {
      toml_value *elem;
      if (child == NULL)
        {
          child = container_new (ps, TOML_ARRAY, t->depth + 1, last->at);
          if (child == NULL)
            return -1;
          child->flags = AF_TABLES;
          if (table_add (t, last->s, last->len, child) < 0)
            {
              toml_free (child);
              return fail_oom (ps);
            }
        }
      else if (child->type != TOML_ARRAY || !(child->flags & AF_TABLES))
        return fail_at (ps, last->at,
                        "cannot define array of tables \"%s\": it is "
                        "already %s",
                        key_text (name, sizeof name, &k, k.n), what_is (child));
      elem = container_new (ps, TOML_TABLE, child->depth + 1, last->at);
      if (elem == NULL)
        return -1;
      elem->flags = TF_HEADER;
      if (array_add (child, elem) < 0)
        {
          toml_free (elem);
          return fail_oom (ps);
        }
      *cur = elem;
      return 0;
    }
  if (child == NULL)
    {
      child = container_new (ps, TOML_TABLE, t->depth + 1, last->at);
      if (child == NULL)
        return -1;
      if (table_add (t, last->s, last->len, child) < 0)
        {
          toml_free (child);
          return fail_oom (ps);
        }
    }
  else if (child->type == TOML_TABLE && child->flags == TF_IMPLICIT)
    ;
  else if (child->type == TOML_TABLE && (child->flags & TF_HEADER))
    return fail_at (ps, last->at, "table \"%s\" is already defined",
                    key_text (name, sizeof name, &k, k.n));
  else
    return fail_at (ps, last->at,
                    "cannot define table \"%s\": it is already %s",
                    key_text (name, sizeof name, &k, k.n), what_is (child));
  child->flags = TF_HEADER;
  *cur = child;
  return 0;
}

/* ---- Documents ------------------------------------------------------- */

static uint64_t
hash_seed (void)
{
  /* The kernel's per-process random bytes: crafted keys cannot all land in
   * one slot without knowing them. */
  const unsigned char *r = (const unsigned char *)getauxval (AT_RANDOM);
  uint64_t seed = 0x9e3779b97f4a7c15ULL;

  if (r != NULL)
    memcpy (&seed, r, sizeof seed);
  return seed;
}

toml_value *
toml_parse (const char *buf, size_t len, mp_error *err)
{
  struct parser ps = { 0 };
  cleanup_toml toml_value *root = NULL;
  toml_value *cur;
  int rc = 0;

  if (buf == NULL)
    buf = "";
  ps.buf = ps.p = buf;
  ps.end = buf + len;
  ps.err = err;
  ps.seed = hash_seed ();
  if (check_utf8 (&ps) < 0)
    return NULL;
  if (at_str (&ps, "\xef\xbb\xbf"))
    ps.p += 3;
  cur = root = container_new (&ps, TOML_TABLE, 0, ps.p);
  if (root == NULL)
    return NULL;
  while (rc == 0)
    {
      skip_ws (&ps);
      if (ps.p == ps.end)
        break;
      if (peek (&ps) == '[')
        rc = header_open (&ps, root, &cur) < 0
                 ? -1
                 : end_of_line (&ps, "a table header");
      else if (peek (&ps) == '#' || peek (&ps) == '\n' || peek (&ps) == '\r')
        rc = end_of_line (&ps, "a comment");
      else
        rc = keyval (&ps, cur) < 0 ? -1 : end_of_line (&ps, "a value");
    }
  free (ps.tmp.d);
  if (ps.c_locale != (locale_t)0)
    freelocale (ps.c_locale);
  if (rc < 0)
    return NULL;
  return steal_pointer (&root);
}

toml_value *
toml_parse_file (const char *path, mp_error *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *buf = NULL;
  size_t n = 0, cap = 0;
  toml_value *v;

  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      mp_error_sys (err, saved, "open %s", path);
      if (saved == ENOENT && err != NULL)
        err->code = MP_ERR_NOT_FOUND;
      return NULL;
    }
  for (;;)
    {
      ssize_t r;
      if (n == cap)
        {
          size_t ncap = cap ? cap * 2 : 16384;
          char *nbuf = realloc (buf, ncap);
          if (nbuf == NULL)
            {
              mp_error_set (err, MP_ERR_INTERNAL, "read %s: out of memory",
                            path);
              return NULL;
            }
          buf = nbuf;
          cap = ncap;
        }
      r = read (fd, buf + n, cap - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          mp_error_sys (err, errno, "read %s", path);
          return NULL;
        }
      if (r == 0)
        break;
      n += r;
    }
  v = toml_parse (buf, n, err);
  if (v == NULL)
    mp_error_prefix (err, "%s", path);
  return v;
}

/* ---- Access ---------------------------------------------------------- */

enum toml_type
toml_type_of (const toml_value *v)
{
  return v->type;
}

const char *
toml_type_name (enum toml_type type)
{
  /* The noun without its article. */
  const char *s = type_article (type);
  return strchr (s, ' ') + 1;
}

size_t
toml_table_size (const toml_value *t)
{
  return t != NULL && t->type == TOML_TABLE ? t->u.t.n : 0;
}

const char *
toml_table_key_at (const toml_value *t, size_t i)
{
  return i < toml_table_size (t) ? t->u.t.e[i].key : NULL;
}

size_t
toml_table_key_len_at (const toml_value *t, size_t i)
{
  return i < toml_table_size (t) ? t->u.t.e[i].keylen : 0;
}

toml_value *
toml_table_value_at (const toml_value *t, size_t i)
{
  return i < toml_table_size (t) ? t->u.t.e[i].val : NULL;
}

toml_value *
toml_table_getn (const toml_value *t, const char *key, size_t len)
{
  if (t == NULL || t->type != TOML_TABLE || key == NULL)
    return NULL;
  return table_find (t, key, len);
}

toml_value *
toml_table_get (const toml_value *t, const char *key)
{
  return key ? toml_table_getn (t, key, strlen (key)) : NULL;
}

toml_value *
toml_get_path (const toml_value *root, const char *const *keys, size_t n)
{
  const toml_value *v = root;
  size_t i;

  for (i = 0; i < n && v != NULL; i++)
    v = toml_table_get (v, keys[i]);
  return (toml_value *)v;
}

size_t
toml_array_size (const toml_value *a)
{
  return a != NULL && a->type == TOML_ARRAY ? a->u.a.n : 0;
}

toml_value *
toml_array_at (const toml_value *a, size_t i)
{
  return i < toml_array_size (a) ? a->u.a.v[i] : NULL;
}

const char *
toml_string (const toml_value *v)
{
  return v != NULL && v->type == TOML_STRING ? v->u.s.s : NULL;
}

size_t
toml_string_len (const toml_value *v)
{
  return v != NULL && v->type == TOML_STRING ? v->u.s.len : 0;
}

int64_t
toml_integer (const toml_value *v)
{
  return v != NULL && v->type == TOML_INTEGER ? v->u.i : 0;
}

double
toml_float (const toml_value *v)
{
  return v != NULL && v->type == TOML_FLOAT ? v->u.f : 0.0;
}

bool
toml_bool (const toml_value *v)
{
  return v != NULL && v->type == TOML_BOOL ? v->u.b : false;
}

const char *
toml_datetime (const toml_value *v)
{
  if (v == NULL)
    return NULL;
  switch (v->type)
    {
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
      return v->u.s.s;
    default:
      return NULL;
    }
}

/* table[key] if it has type want: 1, 0 if absent, -1 if of another type. */
static int
get_typed (const toml_value *table, const char *key, enum toml_type want,
           toml_value **out, mp_error *err)
{
  toml_value *v;

  if (table == NULL || table->type != TOML_TABLE)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "cannot look up \"%s\": not in a table", key);
  v = toml_table_get (table, key);
  if (v == NULL)
    return 0;
  if (v->type != want)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "\"%s\" must be %s, not %s", key, type_article (want),
                         type_article (v->type));
  *out = v;
  return 1;
}

int
toml_get_string (const toml_value *table, const char *key, const char **out,
                 mp_error *err)
{
  toml_value *v;
  int rc = get_typed (table, key, TOML_STRING, &v, err);

  if (rc == 1)
    *out = v->u.s.s;
  return rc;
}

int
toml_get_integer (const toml_value *table, const char *key, int64_t *out,
                  mp_error *err)
{
  toml_value *v;
  int rc = get_typed (table, key, TOML_INTEGER, &v, err);

  if (rc == 1)
    *out = v->u.i;
  return rc;
}

int
toml_get_bool (const toml_value *table, const char *key, bool *out,
               mp_error *err)
{
  toml_value *v;
  int rc = get_typed (table, key, TOML_BOOL, &v, err);

  if (rc == 1)
    *out = v->u.b;
  return rc;
}

int
toml_get_table (const toml_value *table, const char *key, toml_value **out,
                mp_error *err)
{
  return get_typed (table, key, TOML_TABLE, out, err);
}

int
toml_get_array (const toml_value *table, const char *key, toml_value **out,
                mp_error *err)
{
  return get_typed (table, key, TOML_ARRAY, out, err);
}
