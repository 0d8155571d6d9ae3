/* Strict CBOR reader (see cbor.h). */
#include "util/cbor.h"

#include <string.h>

static int
bad (const mp_cbor *r, const uint8_t *at, mp_error *err, const char *what)
{
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "CBOR at byte %zu: %s",
                       (size_t)(at - r->start), what);
}

void
mp_cbor_init (mp_cbor *r, const void *buf, size_t len)
{
  r->start = buf;
  r->p = buf;
  r->end = r->start + len;
}

int
mp_cbor_peek (const mp_cbor *r)
{
  return r->p < r->end ? *r->p >> 5 : -1;
}

/* The head at r->p: major type and argument, in shortest form only.  Moves
 * *pp past it; r itself does not move. */
static int
read_head (const mp_cbor *r, const uint8_t **pp, int *major, uint64_t *arg,
           mp_error *err)
{
  const uint8_t *p = *pp;
  uint8_t b, ai;
  uint64_t v = 0;

  if (p >= r->end)
    return bad (r, p, err, "unexpected end of data");
  b = *p++;
  *major = b >> 5;
  ai = b & 31;
  if (*major == MP_CBOR_SIMPLE)
    {
      /* false, true, null; floats and other simple values are refused. */
      if (ai < 20 || ai > 22)
        return bad (r, *pp, err,
                    "only false, true and null are accepted among simple "
                    "values and floats");
      *arg = ai;
      *pp = p;
      return 0;
    }
  if (ai < 24)
    v = ai;
  else if (ai <= 27)
    {
      size_t n = (size_t)1 << (ai - 24);
      static const uint64_t min[] = { 24, 0x100, 0x10000, 0x100000000 };

      if ((size_t)(r->end - p) < n)
        return bad (r, *pp, err, "unexpected end of data");
      for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
      p += n;
      if (v < min[ai - 24])
        return bad (r, *pp, err, "integer or length not in its shortest form");
    }
  else if (ai == 31)
    return bad (r, *pp, err, "indefinite lengths are not accepted");
  else
    return bad (r, *pp, err, "reserved additional information");
  *arg = v;
  *pp = p;
  return 0;
}

/* The length of the well-formed UTF-8 sequence at s (at most n bytes), or
 * 0 if there is none. */
static size_t
utf8_len (const uint8_t *s, size_t n)
{
  uint8_t c = s[0];
  size_t len;
  uint32_t cp;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i] & 0x3f);
    }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
      || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

static bool
utf8_valid (const uint8_t *s, size_t n)
{
  size_t i = 0;

  while (i < n)
    {
      size_t l = utf8_len (s + i, n - i);

      if (l == 0)
        return false;
      i += l;
    }
  return true;
}

/* A string of the major type want: its bytes follow the head. */
static int
read_string (mp_cbor *r, int want, const uint8_t **out, size_t *n,
             mp_error *err)
{
  const uint8_t *p = r->p;
  int major;
  uint64_t len;

  if (read_head (r, &p, &major, &len, err) < 0)
    return -1;
  if (major != want)
    return bad (r, r->p, err,
                want == MP_CBOR_TEXT ? "expected a text string"
                                     : "expected a byte string");
  if (len > (uint64_t)(r->end - p))
    return bad (r, r->p, err, "string longer than the data left");
  if (want == MP_CBOR_TEXT && !utf8_valid (p, (size_t)len))
    return bad (r, r->p, err, "text string is not valid UTF-8");
  *out = p;
  *n = (size_t)len;
  r->p = p + len;
  return 0;
}

int
mp_cbor_read_bytes (mp_cbor *r, const uint8_t **p, size_t *n, mp_error *err)
{
  return read_string (r, MP_CBOR_BYTES, p, n, err);
}

int
mp_cbor_read_text (mp_cbor *r, const char **p, size_t *n, mp_error *err)
{
  const uint8_t *s;

  if (read_string (r, MP_CBOR_TEXT, &s, n, err) < 0)
    return -1;
  *p = (const char *)s;
  return 0;
}

/* A head of major type WANT (its argument into *V), else EXPECTED. */
static int
read_head_of (mp_cbor *r, int want, uint64_t *v, const char *expected,
              mp_error *err)
{
  const uint8_t *p = r->p;
  int major;

  if (read_head (r, &p, &major, v, err) < 0)
    return -1;
  if (major != want)
    return bad (r, r->p, err, expected);
  r->p = p;
  return 0;
}

int
mp_cbor_read_uint (mp_cbor *r, uint64_t *v, mp_error *err)
{
  return read_head_of (r, MP_CBOR_UINT, v, "expected an unsigned integer", err);
}

int
mp_cbor_read_int (mp_cbor *r, int64_t *v, mp_error *err)
{
  const uint8_t *p = r->p;
  int major;
  uint64_t a;

  if (read_head (r, &p, &major, &a, err) < 0)
    return -1;
  if (major != MP_CBOR_UINT && major != MP_CBOR_NINT)
    return bad (r, r->p, err, "expected an integer");
  if (a > INT64_MAX)
    return bad (r, r->p, err, "integer out of range");
  /* A negative integer encodes -1 - a. */
  *v = major == MP_CBOR_UINT ? (int64_t)a : -1 - (int64_t)a;
  r->p = p;
  return 0;
}

/* The head of a container: n items of at least one byte each must fit. */
static int
read_container (mp_cbor *r, int want, size_t *n, mp_error *err)
{
  const uint8_t *p = r->p;
  int major;
  uint64_t count;

  if (read_head (r, &p, &major, &count, err) < 0)
    return -1;
  if (major != want)
    return bad (r, r->p, err,
                want == MP_CBOR_MAP ? "expected a map" : "expected an array");
  if (count > (uint64_t)(r->end - p)
      || (want == MP_CBOR_MAP && count > (uint64_t)(r->end - p) / 2))
    return bad (r, r->p, err, "more items than the data left can hold");
  *n = (size_t)count;
  r->p = p;
  return 0;
}

int
mp_cbor_read_array (mp_cbor *r, size_t *n, mp_error *err)
{
  return read_container (r, MP_CBOR_ARRAY, n, err);
}

int
mp_cbor_read_map (mp_cbor *r, size_t *n, mp_error *err)
{
  return read_container (r, MP_CBOR_MAP, n, err);
}

int
mp_cbor_read_tag (mp_cbor *r, uint64_t *tag, mp_error *err)
{
  return read_head_of (r, MP_CBOR_TAG, tag, "expected a tag", err);
}

/* Skip one item at depth (containers and tags around it). */
static int
skip_item (mp_cbor *r, unsigned depth, mp_error *err)
{
  const uint8_t *s;
  size_t n;
  uint64_t v;

  /* depth counts containers and tags; a scalar in the deepest is fine. */
  if (depth > MP_CBOR_MAX_DEPTH && mp_cbor_peek (r) >= MP_CBOR_ARRAY
      && mp_cbor_peek (r) <= MP_CBOR_TAG)
    return bad (r, r->p, err, "nested too deeply");
  switch (mp_cbor_peek (r))
    {
    case MP_CBOR_UINT:
      return mp_cbor_read_uint (r, &v, err);
    case MP_CBOR_NINT:
      {
        const uint8_t *p = r->p;
        int major;

        /* Any argument: -1 - 2^64 + 1 is well-formed, if not an int64. */
        if (read_head (r, &p, &major, &v, err) < 0)
          return -1;
        r->p = p;
        return 0;
      }
    case MP_CBOR_BYTES:
      return mp_cbor_read_bytes (r, &s, &n, err);
    case MP_CBOR_TEXT:
      return read_string (r, MP_CBOR_TEXT, &s, &n, err);
    case MP_CBOR_ARRAY:
    case MP_CBOR_MAP:
      {
        bool map = mp_cbor_peek (r) == MP_CBOR_MAP;
        const uint8_t *at = r->p;

        if (read_container (r, map ? MP_CBOR_MAP : MP_CBOR_ARRAY, &n, err) < 0)
          return -1;
        for (size_t i = 0; i < (map ? 2 * n : n); i++)
          if (skip_item (r, depth + 1, err) < 0)
            {
              r->p = at;
              return -1;
            }
        return 0;
      }
    case MP_CBOR_TAG:
      {
        const uint8_t *at = r->p;

        if (mp_cbor_read_tag (r, &v, err) < 0)
          return -1;
        if (skip_item (r, depth + 1, err) < 0)
          {
            r->p = at;
            return -1;
          }
        return 0;
      }
    case MP_CBOR_SIMPLE:
      {
        const uint8_t *p = r->p;
        int major;

        if (read_head (r, &p, &major, &v, err) < 0)
          return -1;
        r->p = p;
        return 0;
      }
    default:
      return bad (r, r->p, err, "unexpected end of data");
    }
}

int
mp_cbor_skip (mp_cbor *r, mp_error *err)
{
  return skip_item (r, 1, err);
}

int
mp_cbor_check_map (const mp_cbor *r, size_t n, mp_error *err)
{
  struct
  {
    const uint8_t *p;
    size_t len;
  } keys[MP_CBOR_MAX_MAP];
  mp_cbor c = *r;

  if (n > MP_CBOR_MAX_MAP)
    return bad (r, r->p, err, "map has too many entries");
  for (size_t i = 0; i < n; i++)
    {
      const uint8_t *k = c.p;

      /* The map itself is one level; keys and values sit below it. */
      if (skip_item (&c, 2, err) < 0)
        return -1;
      keys[i].p = k;
      keys[i].len = (size_t)(c.p - k);
      for (size_t j = 0; j < i; j++)
        if (keys[j].len == keys[i].len
            && memcmp (keys[j].p, keys[i].p, keys[i].len) == 0)
          return bad (r, k, err, "duplicate map key");
      if (skip_item (&c, 2, err) < 0)
        return -1;
    }
  return 0;
}
