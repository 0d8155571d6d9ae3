/* containerd's filter language; see filter.h for the syntax.
 *
 * The grammar is small enough for a hand-written recursive descent parser
 * that works on bytes.  Acceptance follows what containerd's parser really
 * accepts (its scanner, not its doc comment), because a filter a client
 * writes against containerd must mean the same here. */
#include "util/filter.h"

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

/* Limits on regular expressions.  RE2, which containerd uses, refuses
 * repeat counts above 1000, nested repeats whose counts multiply beyond
 * 1000, and nesting deeper than 1000.  glibc needs more: it expands {n,m}
 * and x+ by copying the repeated expression, and its compile time grows
 * faster than linearly in the copies, so the expanded size is bounded too. */
#define REGEX_MAX_REPEAT 1000
#define REGEX_MAX_NODES 2000
#define REGEX_MAX_DEPTH 1000

/* How much of a filter string an error message quotes. */
#define ERR_SHOW_MAX 200
#define ERR_NEAR_MAX 16

enum op
{
  OP_PRESENT,
  OP_EQUAL,
  OP_NOT_EQUAL,
  OP_MATCHES,
};

struct selector
{
  char **path;
  size_t npath;
  enum op op;
  char *value; /* unquoted; may hold NUL bytes, hence value_len */
  size_t value_len;
  bool has_re;
  regex_t re;
};

/* One filter string: all selectors must match. */
struct conjunction
{
  struct selector *sel;
  size_t nsel;
};

struct mp_filter
{
  bool match_all;
  struct conjunction *alt;
  size_t nalt;
};

struct parser
{
  const char *in;
  size_t len;
  size_t pos;
  mp_error *err;
};

/* Go decides what is whitespace and what may continue a
 * bare value by Unicode category, so the same decisions are made here. */

/* Decode one UTF-8 sequence at s (n bytes available) the way Go does:
 * overlong forms, surrogates and values past U+10FFFF are invalid.  Returns
 * the length, or 0 when invalid. */
static size_t
utf8_decode (const unsigned char *s, size_t n, uint32_t *cp)
{
  uint32_t c;
  size_t len, i;

  if (n == 0)
    return 0;
  if (s[0] < 0x80)
    {
      *cp = s[0];
      return 1;
    }
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    len = 2, c = s[0] & 0x1f;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    len = 3, c = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    len = 4, c = s[0] & 0x07;
  else
    return 0;
  if (n < len)
    return 0;
  for (i = 1; i < len; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      c = (c << 6) | (s[i] & 0x3f);
    }
  if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff
      || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return len;
}

static size_t
utf8_encode (uint32_t c, char *out)
{
  if (c < 0x80)
    {
      out[0] = (char)c;
      return 1;
    }
  if (c < 0x800)
    {
      out[0] = (char)(0xc0 | (c >> 6));
      out[1] = (char)(0x80 | (c & 0x3f));
      return 2;
    }
  if (c < 0x10000)
    {
      out[0] = (char)(0xe0 | (c >> 12));
      out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
      out[2] = (char)(0x80 | (c & 0x3f));
      return 3;
    }
  out[0] = (char)(0xf0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
  out[3] = (char)(0x80 | (c & 0x3f));
  return 4;
}

/* Go's unicode.IsSpace. */
static bool
is_space (uint32_t c)
{
  switch (c)
    {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
      return true;
    }
  return c >= 0x2000 && c <= 0x200a;
}

/* Go's unicode.IsGraphic, approximated: control, format and private-use
 * characters and the permanent noncharacters are excluded exactly, but code
 * points merely unassigned in Go's Unicode tables are accepted, since those
 * tables change with every Go release anyway. */
static bool
is_graphic (uint32_t c)
{
  static const uint32_t not_graphic[][2] = {
    { 0x0000, 0x001f },   { 0x007f, 0x009f },    { 0x00ad, 0x00ad },
    { 0x0600, 0x0605 },   { 0x061c, 0x061c },    { 0x06dd, 0x06dd },
    { 0x070f, 0x070f },   { 0x0890, 0x0891 },    { 0x08e2, 0x08e2 },
    { 0x180e, 0x180e },   { 0x200b, 0x200f },    { 0x2028, 0x202e },
    { 0x2060, 0x2064 },   { 0x2066, 0x206f },    { 0xe000, 0xf8ff },
    { 0xfdd0, 0xfdef },   { 0xfeff, 0xfeff },    { 0xfff9, 0xfffb },
    { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },  { 0x13430, 0x1343f },
    { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a },  { 0xe0001, 0xe0001 },
    { 0xe0020, 0xe007f }, { 0xf0000, 0x10ffff },
  };
  size_t i;

  if ((c & 0xfffe) == 0xfffe)
    return false;
  for (i = 0; i < sizeof not_graphic / sizeof not_graphic[0]; i++)
    if (c >= not_graphic[i][0] && c <= not_graphic[i][1])
      return false;
  return true;
}

static bool
is_field_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '_';
}

static bool
is_quote_char (char c)
{
  return c == '"' || c == '/' || c == '|';
}

static bool
is_operator_char (char c)
{
  return c == '=' || c == '!' || c == '~';
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Length of the longest prefix of s[0..n) no longer than max that does not
 * cut a UTF-8 sequence, so quoted excerpts stay valid text. */
static size_t
utf8_prefix (const char *s, size_t n, size_t max)
{
  if (n <= max)
    return n;
  while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
    max--;
  return max;
}

static int __attribute__ ((format (printf, 3, 4)))
parse_error (struct parser *p, size_t at, const char *fmt, ...)
{
  char msg[512], near[ERR_NEAR_MAX + 32];
  size_t show, nl;
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);

  if (at >= p->len)
    snprintf (near, sizeof near, "end of input");
  else
    {
      nl = utf8_prefix (p->in + at, p->len - at, ERR_NEAR_MAX);
      snprintf (near, sizeof near, "at \"%.*s%s\"", (int)nl, p->in + at,
                nl < p->len - at ? "..." : "");
    }
  show = utf8_prefix (p->in, p->len, ERR_SHOW_MAX);
  return mp_error_set (p->err, MP_ERR_INVALID_ARGUMENT,
                       "invalid filter \"%.*s%s\": offset %zu (%s): %s",
                       (int)show, p->in, show < p->len ? "..." : "", at, near,
                       msg);
}

static void
skip_space (struct parser *p)
{
  uint32_t c;
  size_t n;

  while ((n = utf8_decode ((const unsigned char *)p->in + p->pos,
                           p->len - p->pos, &c))
             > 0
         && is_space (c))
    p->pos += n;
}

static bool
at_end (const struct parser *p)
{
  return p->pos >= p->len;
}

/* One escape sequence at in[i] == '\\' inside a string quoted with q.  Appends
 * the bytes it stands for to out, advances *i past it. */
static int
parse_escape (struct parser *p, size_t *i, char q, char *out, size_t *outlen)
{
  const char *in = p->in;
  size_t start = *i, ndigits = 0, k;
  uint32_t v = 0;
  char e;

  e = in[start + 1];
  switch (e)
    {
    case 'a':
      v = '\a';
      break;
    case 'b':
      v = '\b';
      break;
    case 'f':
      v = '\f';
      break;
    case 'n':
      v = '\n';
      break;
    case 'r':
      v = '\r';
      break;
    case 't':
      v = '\t';
      break;
    case 'v':
      v = '\v';
      break;
    case '\\':
      v = '\\';
      break;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
      /* Exactly three octal digits, and a byte's worth at most. */
      for (k = 0; k < 3; k++)
        {
          char d = start + 1 + k < p->len ? in[start + 1 + k] : '\0';
          if (d < '0' || d > '7')
            return parse_error (p, start,
                                "octal escape needs three digits 0-7");
          v = (v << 3) | (uint32_t)(d - '0');
        }
      if (v > 0xff)
        return parse_error (p, start, "octal escape is larger than \\377");
      out[(*outlen)++] = (char)v;
      *i = start + 4;
      return 0;
    case 'x':
      ndigits = 2;
      break;
    case 'u':
      ndigits = 4;
      break;
    case 'U':
      ndigits = 8;
      break;
    default:
      if (e != q)
        return parse_error (p, start,
                            "invalid escape sequence; inside %c...%c use "
                            "\\%c, \\\\, \\n, \\t, \\xHH, \\uHHHH, ...",
                            q, q, q);
      v = (unsigned char)e;
      break;
    }

  if (ndigits == 0)
    {
      out[(*outlen)++] = (char)v;
      *i = start + 2;
      return 0;
    }

  for (k = 0; k < ndigits; k++)
    {
      size_t at = start + 2 + k;
      int h = at < p->len ? hex_value (in[at]) : -1;
      if (h < 0)
        return parse_error (p, start, "\\%c escape needs %zu hex digits", e,
                            ndigits);
      v = (v << 4) | (uint32_t)h;
    }
  *i = start + 2 + ndigits;
  if (e == 'x')
    {
      /* A raw byte, which need not be valid UTF-8, as in Go. */
      out[(*outlen)++] = (char)v;
      return 0;
    }
  if (v > 0x10ffff)
    return parse_error (p, start, "\\U escape is beyond U+10FFFF");
  /* Go encodes a lone surrogate as U+FFFD rather than refusing it. */
  if (v >= 0xd800 && v <= 0xdfff)
    v = 0xfffd;
  *outlen += utf8_encode (v, out + *outlen);
  return 0;
}

/* A quoted string at the current position.  Only "..." is allowed unless
 * allow_alt, which admits /.../ and |...| for regular expressions. */
static int
parse_quoted (struct parser *p, bool allow_alt, char **out, size_t *outlen)
{
  size_t start = p->pos, i = p->pos + 1, n = 0;
  char q = p->in[start];
  cleanup_free char *buf = NULL;

  /* Unquoting never makes a string longer: every escape is at least as long
   * as the bytes it stands for. */
  buf = malloc (p->len - start + 1);
  if (buf == NULL)
    return mp_error_set (p->err, MP_ERR_INTERNAL, "out of memory");

  for (;;)
    {
      if (i >= p->len || p->in[i] == '\n'
          || (p->in[i] == '\\' && i + 1 >= p->len))
        return parse_error (p, start, "quoted string is not terminated");
      if (p->in[i] == q)
        break;
      if (p->in[i] == '\\')
        {
          if (parse_escape (p, &i, q, buf, &n) < 0)
            return -1;
        }
      else
        buf[n++] = p->in[i++];
    }

  if (q != '"' && !allow_alt)
    return parse_error (
        p, start, "%c...%c quoting is only for ~= values; use \"...\"", q, q);

  buf[n] = '\0';
  p->pos = i + 1;
  *outlen = n;
  *out = steal_pointer (&buf);
  return 0;
}

static int
parse_field (struct parser *p, char **out)
{
  size_t start, len;

  skip_space (p);
  start = p->pos;
  if (!at_end (p) && is_field_char (p->in[p->pos]))
    {
      while (!at_end (p) && is_field_char (p->in[p->pos]))
        p->pos++;
      *out = strndup (p->in + start, p->pos - start);
      if (*out == NULL)
        return mp_error_set (p->err, MP_ERR_INTERNAL, "out of memory");
      return 0;
    }
  if (!at_end (p) && is_quote_char (p->in[p->pos]))
    {
      if (parse_quoted (p, false, out, &len) < 0)
        return -1;
      /* The adaptors see C strings; a NUL would silently shorten the name
       * into a different field. */
      if (strlen (*out) != len)
        {
          free (*out);
          *out = NULL;
          return parse_error (p, start, "field name contains a NUL byte");
        }
      return 0;
    }
  return parse_error (p, start,
                      "expected a field name ([A-Za-z0-9_]+) or a quoted "
                      "string");
}

/* Bare values run to the next ',' or whitespace.  The first character is
 * taken whatever it is (once quotes, separators and operators are ruled
 * out), later ones must be graphic, as in containerd. */
static int
parse_bare_value (struct parser *p, char **out, size_t *outlen)
{
  size_t start = p->pos, n;
  uint32_t c;

  n = utf8_decode ((const unsigned char *)p->in + p->pos, p->len - p->pos, &c);
  p->pos += n;
  while ((n = utf8_decode ((const unsigned char *)p->in + p->pos,
                           p->len - p->pos, &c))
             > 0
         && c != ',' && !is_space (c) && is_graphic (c))
    p->pos += n;
  *outlen = p->pos - start;
  *out = strndup (p->in + start, *outlen);
  if (*out == NULL)
    return mp_error_set (p->err, MP_ERR_INTERNAL, "out of memory");
  return 0;
}

/* What check_regex knows about one group (or the whole pattern) while it
 * walks it. */
struct regex_frame
{
  size_t nodes;       /* expanded size so far */
  size_t maxprod;     /* largest product of nested repeat counts inside */
  bool any_nullable;  /* an earlier branch can match "" */
  bool prefix_null;   /* the atoms before the last in this branch can */
  bool have_last;     /* there is an atom a repeat would apply to */
  bool last_nullable; /* ... which can match "" */
  size_t last_nodes;  /* ... its expanded size */
  size_t last_prod;   /* ... and its product of repeat counts */
};

static void
regex_add_atom (struct regex_frame *f, size_t nodes, size_t prod, bool nullable)
{
  if (f->have_last)
    f->prefix_null = f->prefix_null && f->last_nullable;
  f->have_last = true;
  f->last_nullable = nullable;
  f->last_nodes = nodes;
  f->last_prod = prod;
  f->nodes += nodes;
  if (prod > f->maxprod)
    f->maxprod = prod;
}

static bool
regex_frame_nullable (const struct regex_frame *f)
{
  return f->any_nullable
         || (f->prefix_null && (!f->have_last || f->last_nullable));
}

/* Apply a repeat to the last atom of f: copies is how many times glibc
 * copies it, unbounded whether it loops, nullable whether the result can
 * match "". */
static int
regex_repeat (struct parser *p, size_t at, struct regex_frame *f, size_t copies,
              bool counted, bool unbounded, bool nullable)
{
  /* A loop around something that matches "" makes a cycle without input,
   * on which glibc's compiler takes exponential time; RE2 would simplify
   * it away. */
  if (unbounded && f->last_nullable)
    return parse_error (p, at,
                        "a repeated part of the regular expression can match "
                        "the empty string (as in (a*)+ or (a|)*); rewrite "
                        "it, e.g. as a*");
  if (copies == 0)
    copies = 1;
  if (counted)
    {
      if (f->last_prod * copies > REGEX_MAX_REPEAT)
        return parse_error (p, at,
                            "nested repeat counts in regular expression "
                            "multiply beyond %d",
                            REGEX_MAX_REPEAT);
      f->last_prod *= copies;
      if (f->last_prod > f->maxprod)
        f->maxprod = f->last_prod;
    }
  /* Each copy is wrapped in one more node, for the loop or the option. */
  f->nodes += f->last_nodes * (copies - 1) + copies;
  f->last_nodes = f->last_nodes * copies + copies;
  f->last_nullable = nullable;
  return 0;
}

/* Check a pattern against the limits above and for backreferences, which
 * RE2 lacks and which make glibc's matcher exponential.  The walk follows
 * glibc's POSIX extended syntax only as far as the limits need; whatever
 * it misreads, regcomp still judges.  Bracket expressions are skipped whole
 * since their contents are literal. */
static int
check_regex (struct parser *p, size_t at, const char *re, size_t len)
{
  struct regex_frame frame[REGEX_MAX_DEPTH + 1], *f = frame;
  size_t i = 0;

  memset (f, 0, sizeof *f);
  f->maxprod = 1;
  f->prefix_null = true;

  while (i < len)
    {
      char c = re[i];

      if (c == '\\')
        {
          char e = i + 1 < len ? re[i + 1] : '\0';
          if (e >= '1' && e <= '9')
            return parse_error (p, at,
                                "backreferences (\\%c) are not supported in "
                                "regular expressions",
                                e);
          /* Word boundaries match without consuming input. */
          regex_add_atom (f, 1, 1, e != '\0' && strchr ("bB<>`'", e));
          i += 2;
        }
      else if (c == '[')
        {
          i++;
          if (i < len && re[i] == '^')
            i++;
          if (i < len && re[i] == ']')
            i++;
          while (i < len && re[i] != ']')
            {
              if (re[i] == '[' && i + 1 < len
                  && (re[i + 1] == ':' || re[i + 1] == '.' || re[i + 1] == '='))
                {
                  char kind = re[i + 1];
                  i += 2;
                  while (i + 1 < len && !(re[i] == kind && re[i + 1] == ']'))
                    i++;
                  i += 2;
                }
              else
                i++;
            }
          i++;
          regex_add_atom (f, 1, 1, false);
        }
      else if (c == '(')
        {
          if (f == frame + REGEX_MAX_DEPTH)
            return parse_error (p, at,
                                "regular expression nests deeper than %d",
                                REGEX_MAX_DEPTH);
          f++;
          memset (f, 0, sizeof *f);
          f->maxprod = 1;
          f->prefix_null = true;
          i++;
        }
      else if (c == ')' && f > frame)
        {
          size_t nodes = f->nodes + 1, prod = f->maxprod;
          bool nullable = regex_frame_nullable (f);
          f--;
          regex_add_atom (f, nodes, prod, nullable);
          i++;
        }
      else if (c == '|')
        {
          f->any_nullable = regex_frame_nullable (f);
          f->prefix_null = true;
          f->have_last = false;
          f->nodes++;
          i++;
        }
      else if (c == '^' || c == '$')
        {
          regex_add_atom (f, 1, 1, true);
          i++;
        }
      else if (c == '*' && f->have_last)
        {
          if (regex_repeat (p, at, f, 1, false, true, true) < 0)
            return -1;
          i++;
        }
      else if (c == '?' && f->have_last)
        {
          if (regex_repeat (p, at, f, 1, false, false, true) < 0)
            return -1;
          i++;
        }
      else if (c == '+' && f->have_last)
        {
          /* glibc rewrites x+ as xx*. */
          if (regex_repeat (p, at, f, 2, false, true, f->last_nullable) < 0)
            return -1;
          i++;
        }
      else if (c == '{' && f->have_last)
        {
          size_t min = 0, max = 0, j = i + 1;
          bool has_comma = false, has_max = false;

          /* Saturate rather than overflow; anything this big is refused
           * below anyway. */
          for (; j < len && re[j] >= '0' && re[j] <= '9'; j++)
            min = min > 100000 ? min : min * 10 + (size_t)(re[j] - '0');
          if (j < len && re[j] == ',')
            {
              has_comma = true;
              j++;
              for (; j < len && re[j] >= '0' && re[j] <= '9'; j++)
                {
                  has_max = true;
                  max = max > 100000 ? max : max * 10 + (size_t)(re[j] - '0');
                }
            }
          if (j >= len || re[j] != '}' || j == i + 1)
            {
              /* Not an interval; regcomp will judge it. */
              regex_add_atom (f, 1, 1, false);
              i++;
              continue;
            }
          if (re[i + 1] == ',')
            return parse_error (p, at,
                                "{,n} in a regular expression means {0,n} "
                                "here but literal text to containerd; write "
                                "{0,n}, or [{] for a literal brace");
          if (min > REGEX_MAX_REPEAT || max > REGEX_MAX_REPEAT)
            return parse_error (p, at,
                                "repeat count in regular expression is "
                                "larger than %d",
                                REGEX_MAX_REPEAT);
          /* {n} and {n,m} become n or m copies, {n,} n copies and a loop. */
          if (regex_repeat (p, at, f,
                            !has_comma ? min
                            : has_max  ? max
                                       : min + 1,
                            true, has_comma && !has_max,
                            min == 0 || f->last_nullable)
              < 0)
            return -1;
          i = j + 1;
        }
      else
        {
          regex_add_atom (f, 1, 1, false);
          i++;
        }

      if (f->nodes > REGEX_MAX_NODES)
        return parse_error (p, at,
                            "regular expression is too large once its "
                            "repeats are expanded (more than %d nodes)",
                            REGEX_MAX_NODES);
    }
  return 0;
}

static int
compile_regex (struct parser *p, size_t at, struct selector *s)
{
  int rc;

  if (strlen (s->value) != s->value_len)
    return parse_error (p, at, "regular expression contains a NUL byte");
  if (check_regex (p, at, s->value, s->value_len) < 0)
    return -1;
  /* POSIX extended syntax, not RE2: see filter.h.  REG_NOSUB because only
   * whether it matches counts, which also makes glibc take its faster
   * path. */
  rc = regcomp (&s->re, s->value, REG_EXTENDED | REG_NOSUB);
  if (rc != 0)
    {
      char why[256];
      regerror (rc, &s->re, why, sizeof why);
      return parse_error (p, at,
                          "invalid regular expression (POSIX extended "
                          "syntax): %s",
                          why);
    }
  s->has_re = true;
  return 0;
}

static int
parse_operator (struct parser *p, enum op *op)
{
  size_t start, n;

  skip_space (p);
  start = p->pos;
  while (!at_end (p) && is_operator_char (p->in[p->pos]))
    p->pos++;
  n = p->pos - start;
  if (n == 0 && at_end (p))
    return parse_error (p, start,
                        "expected an operator (==, != or ~=), ',' or the "
                        "end of the filter");
  if (n == 0)
    return parse_error (p, start,
                        "expected an operator (==, != or ~=), ',' or the "
                        "end of the filter; field names with characters "
                        "other than [A-Za-z0-9_] must be quoted, as in "
                        "labels.\"a/b\"");
  if (n == 2 && p->in[start + 1] == '=')
    switch (p->in[start])
      {
      case '=':
        *op = OP_EQUAL;
        return 0;
      case '!':
        *op = OP_NOT_EQUAL;
        return 0;
      case '~':
        *op = OP_MATCHES;
        return 0;
      }
  return parse_error (p, start,
                      "unsupported operator \"%.*s\"; use ==, != or ~=", (int)n,
                      p->in + start);
}

static void
selector_clear (struct selector *s)
{
  size_t i;

  for (i = 0; i < s->npath; i++)
    free (s->path[i]);
  free (s->path);
  free (s->value);
  if (s->has_re)
    regfree (&s->re);
  memset (s, 0, sizeof *s);
}

static int
parse_selector (struct parser *p, struct selector *s)
{
  size_t value_at;
  char c;

  for (;;)
    {
      char **grown = realloc (s->path, (s->npath + 1) * sizeof *grown);
      if (grown == NULL)
        return mp_error_set (p->err, MP_ERR_INTERNAL, "out of memory");
      s->path = grown;
      if (parse_field (p, &s->path[s->npath]) < 0)
        return -1;
      s->npath++;
      if (at_end (p) || p->in[p->pos] != '.')
        break;
      p->pos++;
    }

  if (at_end (p) || p->in[p->pos] == ',')
    {
      s->op = OP_PRESENT;
      return 0;
    }

  if (parse_operator (p, &s->op) < 0)
    return -1;

  skip_space (p);
  value_at = p->pos;
  c = at_end (p) ? '\0' : p->in[p->pos];
  if (at_end (p) || c == ',' || c == '.' || is_operator_char (c))
    return parse_error (p, value_at, "expected a value or a quoted string");
  if (is_quote_char (c))
    {
      if (parse_quoted (p, s->op == OP_MATCHES, &s->value, &s->value_len) < 0)
        return -1;
    }
  else if (parse_bare_value (p, &s->value, &s->value_len) < 0)
    return -1;

  if (s->op == OP_MATCHES)
    return compile_regex (p, value_at, s);
  return 0;
}

static void
conjunction_clear (struct conjunction *c)
{
  size_t i;

  for (i = 0; i < c->nsel; i++)
    selector_clear (&c->sel[i]);
  free (c->sel);
  c->sel = NULL;
  c->nsel = 0;
}

static int
parse_conjunction (struct parser *p, struct conjunction *c)
{
  uint32_t cp;

  for (;;)
    {
      struct selector *grown = realloc (c->sel, (c->nsel + 1) * sizeof *grown);
      if (grown == NULL)
        return mp_error_set (p->err, MP_ERR_INTERNAL, "out of memory");
      c->sel = grown;
      memset (&c->sel[c->nsel], 0, sizeof c->sel[c->nsel]);
      /* Counted before parsing so a half-built selector is freed too. */
      c->nsel++;
      if (parse_selector (p, &c->sel[c->nsel - 1]) < 0)
        return -1;
      if (at_end (p))
        return 0;
      if (p->in[p->pos] != ',')
        {
          if (utf8_decode ((const unsigned char *)p->in + p->pos,
                           p->len - p->pos, &cp)
                  > 0
              && is_space (cp))
            return parse_error (p, p->pos,
                                "unexpected whitespace; expected ',' or the "
                                "end of the filter");
          return parse_error (p, p->pos,
                              "expected ',' or the end of the filter");
        }
      p->pos++;
    }
}

/* containerd refuses input that is not UTF-8, and U+FFFD as well since its
 * decoder cannot tell that from a decoding error.  Checking it all up
 * front lets the parser assume valid text. */
static int
check_utf8 (struct parser *p)
{
  size_t i = 0, n;
  uint32_t c;

  while (i < p->len)
    {
      n = utf8_decode ((const unsigned char *)p->in + i, p->len - i, &c);
      if (n == 0)
        return parse_error (p, i, "not valid UTF-8");
      if (c == 0xfffd)
        return parse_error (p, i, "U+FFFD is not accepted");
      i += n;
    }
  return 0;
}

void
mp_filter_free (mp_filter *f)
{
  size_t i;

  if (f == NULL)
    return;
  for (i = 0; i < f->nalt; i++)
    conjunction_clear (&f->alt[i]);
  free (f->alt);
  free (f);
}

mp_filter *
mp_filter_parse (const char *const *filters, size_t n, mp_error *err)
{
  mp_filter *f;
  size_t i;

  f = calloc (1, sizeof *f);
  if (f == NULL)
    {
      mp_error_set (err, MP_ERR_INTERNAL, "out of memory");
      return NULL;
    }
  f->match_all = n == 0;
  if (n > 0)
    {
      f->alt = calloc (n, sizeof *f->alt);
      if (f->alt == NULL)
        {
          mp_error_set (err, MP_ERR_INTERNAL, "out of memory");
          mp_filter_free (f);
          return NULL;
        }
    }

  /* Every string is parsed even once one matches everything, so a bad one
   * is still reported, as containerd does. */
  for (i = 0; i < n; i++)
    {
      struct parser p = { .in = filters[i] ? filters[i] : "",
                          .len = filters[i] ? strlen (filters[i]) : 0,
                          .err = err };

      f->nalt++;
      if (p.len == 0)
        {
          f->match_all = true;
          continue;
        }
      if (check_utf8 (&p) < 0 || parse_conjunction (&p, &f->alt[i]) < 0)
        {
          if (n > 1)
            mp_error_prefix (err, "filter %zu of %zu", i + 1, n);
          mp_filter_free (f);
          return NULL;
        }
    }
  return f;
}

static bool
selector_match (const struct selector *s, mp_filter_field_fn field, void *ctx)
{
  int present = 0;
  const char *value;
  bool equal;

  value = field (ctx, (const char *const *)s->path, s->npath, &present);
  if (value == NULL)
    value = "";

  switch (s->op)
    {
    case OP_PRESENT:
      return present != 0;
    case OP_EQUAL:
    case OP_NOT_EQUAL:
      equal = strlen (value) == s->value_len
              && memcmp (value, s->value, s->value_len) == 0;
      return s->op == OP_EQUAL ? present && equal : !equal;
    case OP_MATCHES:
      /* Like containerd, presence is not required: an absent field is
       * matched as "". */
      return regexec (&s->re, value, 0, NULL, 0) == 0;
    }
  return false;
}

int
mp_filter_match (const mp_filter *f, mp_filter_field_fn field, void *ctx)
{
  size_t i, j;

  if (f->match_all)
    return 1;
  for (i = 0; i < f->nalt; i++)
    {
      const struct conjunction *c = &f->alt[i];

      for (j = 0; j < c->nsel; j++)
        if (!selector_match (&c->sel[j], field, ctx))
          break;
      if (j == c->nsel)
        return 1;
    }
  return 0;
}

/* Whether key equals comps[0..n) joined with ".", without building it. */
static bool
key_is_joined (const char *key, const char *const *comps, size_t n)
{
  size_t i, l;

  for (i = 0; i < n; i++)
    {
      if (i > 0 && *key++ != '.')
        return false;
      l = strlen (comps[i]);
      if (strncmp (key, comps[i], l) != 0)
        return false;
      key += l;
    }
  return *key == '\0';
}

const char *
mp_filter_snapshot_field (void *ctx, const char *const *path, size_t npath,
                          int *present)
{
  const struct mp_filter_snapshot_fields *s = ctx;
  size_t i;

  *present = 0;
  if (npath == 0)
    return "";
  /* containerd looks only at the first component for these and ignores the
   * rest of the path. */
  if (strcmp (path[0], "name") == 0)
    {
      *present = 1;
      return s->name ? s->name : "";
    }
  if (strcmp (path[0], "parent") == 0)
    {
      *present = 1;
      return s->parent ? s->parent : "";
    }
  if (strcmp (path[0], "kind") == 0)
    {
      *present = s->kind != NULL;
      return s->kind ? s->kind : "";
    }
  if (strcmp (path[0], "labels") == 0)
    for (i = 0; i < s->nlabels; i++)
      if (key_is_joined (s->label_keys[i], path + 1, npath - 1))
        {
          *present = 1;
          return s->label_values[i] ? s->label_values[i] : "";
        }
  return "";
}
