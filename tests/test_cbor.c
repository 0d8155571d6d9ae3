/* The strict CBOR reader (util/cbor.h): what it accepts, what it refuses
 * and where a refusal points. */
#include <string.h>

#include "harness.h"
#include "util/cbor.h"

#define R(r, bytes) mp_cbor_init (&(r), bytes, sizeof bytes - 1)

TEST (integers_in_shortest_form)
{
  mp_cbor r;
  mp_error err;
  uint64_t u;
  int64_t i;

  R (r, "\x17");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == 0 && u == 23);
  CHECK (mp_cbor_at_end (&r));
  R (r, "\x18\x18");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == 0 && u == 24);
  R (r, "\x19\x01\x00");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == 0 && u == 256);
  R (r, "\x1b\x00\x00\x00\x01\x00\x00\x00\x00");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == 0 && u == 0x100000000);
  R (r, "\x38\x24"); /* -37, PS256 */
  CHECK (mp_cbor_read_int (&r, &i, &err) == 0 && i == -37);
  R (r, "\x26"); /* -7, ES256 */
  CHECK (mp_cbor_read_int (&r, &i, &err) == 0 && i == -7);

  /* 23 in two bytes, 255 in three, ... are refused. */
  R (r, "\x18\x17");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == -1);
  CHECK_STR (err.msg,
             "CBOR at byte 0: integer or length not in its shortest form");
  CHECK (r.p == r.start); /* the cursor did not move */
  R (r, "\x19\x00\xff");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == -1);
  R (r, "\x1a\x00\x00\xff\xff");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == -1);
  R (r, "\x1b\x00\x00\x00\x00\xff\xff\xff\xff");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == -1);
  /* Beyond int64. */
  R (r, "\x3b\x80\x00\x00\x00\x00\x00\x00\x00");
  CHECK (mp_cbor_read_int (&r, &i, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: integer out of range");
  R (r, "\x3b\x7f\xff\xff\xff\xff\xff\xff\xff");
  CHECK (mp_cbor_read_int (&r, &i, &err) == 0 && i == INT64_MIN);
  /* Truncated. */
  R (r, "\x19\x01");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: unexpected end of data");
  /* Wrong type. */
  R (r, "\x20");
  CHECK (mp_cbor_read_uint (&r, &u, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: expected an unsigned integer");
}

TEST (strings)
{
  mp_cbor r;
  mp_error err;
  const uint8_t *b;
  const char *t;
  size_t n;

  R (r, "\x43\x01\x02\x03\x62hi");
  CHECK (mp_cbor_read_bytes (&r, &b, &n, &err) == 0 && n == 3 && b[2] == 3);
  CHECK (mp_cbor_read_text (&r, &t, &n, &err) == 0 && n == 2
         && memcmp (t, "hi", 2) == 0);
  CHECK (mp_cbor_at_end (&r));
  /* Longer than the data. */
  R (r, "\x45\x01\x02");
  CHECK (mp_cbor_read_bytes (&r, &b, &n, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: string longer than the data left");
  /* Text must be UTF-8: overlong, surrogate, stray continuation. */
  R (r, "\x62\xc0\xaf");
  CHECK (mp_cbor_read_text (&r, &t, &n, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: text string is not valid UTF-8");
  R (r, "\x63\xed\xa0\x80");
  CHECK (mp_cbor_read_text (&r, &t, &n, &err) == -1);
  R (r, "\x61\x80");
  CHECK (mp_cbor_read_text (&r, &t, &n, &err) == -1);
  R (r, "\x64\xf0\x9f\x98\x80"); /* U+1F600 is fine */
  CHECK (mp_cbor_read_text (&r, &t, &n, &err) == 0 && n == 4);
  /* Bytes are not text, and the reverse. */
  R (r, "\x41x");
  CHECK (mp_cbor_read_text (&r, &t, &n, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: expected a text string");
  /* Indefinite-length strings are refused. */
  R (r, "\x5f\x41x\xff");
  CHECK (mp_cbor_read_bytes (&r, &b, &n, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: indefinite lengths are not accepted");
}

TEST (containers_and_tags)
{
  mp_cbor r;
  mp_error err;
  size_t n;
  uint64_t tag;

  R (r, "\xd2\x84\x40\xa0\xf6\x40");
  CHECK (mp_cbor_read_tag (&r, &tag, &err) == 0 && tag == 18);
  CHECK (mp_cbor_read_array (&r, &n, &err) == 0 && n == 4);
  CHECK (mp_cbor_skip (&r, &err) == 0); /* h'' */
  CHECK (mp_cbor_read_map (&r, &n, &err) == 0 && n == 0);
  CHECK (mp_cbor_peek (&r) == MP_CBOR_SIMPLE);
  CHECK (mp_cbor_skip (&r, &err) == 0); /* null */
  CHECK (mp_cbor_skip (&r, &err) == 0);
  CHECK (mp_cbor_at_end (&r));
  CHECK (mp_cbor_peek (&r) == -1);
  /* A count the remaining bytes cannot hold. */
  R (r, "\x9a\x7f\xff\xff\xff\x01");
  CHECK (mp_cbor_read_array (&r, &n, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: more items than the data left can hold");
  R (r, "\xa2\x01\x02\x03");
  CHECK (mp_cbor_read_map (&r, &n, &err) == -1);
  /* Indefinite arrays and maps. */
  R (r, "\x9f\xff");
  CHECK (mp_cbor_skip (&r, &err) == -1);
  R (r, "\xbf\xff");
  CHECK (mp_cbor_skip (&r, &err) == -1);
  /* Floats, undefined and other simple values are refused; false, true,
   * null are not. */
  R (r, "\xf4\xf5\xf6");
  CHECK (mp_cbor_skip (&r, &err) == 0 && mp_cbor_skip (&r, &err) == 0
         && mp_cbor_skip (&r, &err) == 0);
  R (r, "\xf7");
  CHECK (mp_cbor_skip (&r, &err) == -1);
  R (r, "\xf9\x3c\x00");
  CHECK (mp_cbor_skip (&r, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: only false, true and null are "
                      "accepted among simple values and floats");
  R (r, "\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00");
  CHECK (mp_cbor_skip (&r, &err) == -1);
  /* Reserved additional information. */
  R (r, "\x1c");
  CHECK (mp_cbor_skip (&r, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 0: reserved additional information");
}

TEST (depth_is_capped)
{
  uint8_t buf[64];
  mp_cbor r;
  mp_error err;

  /* MP_CBOR_MAX_DEPTH arrays around 0 skip; one more does not. */
  memset (buf, 0x81, MP_CBOR_MAX_DEPTH);
  buf[MP_CBOR_MAX_DEPTH] = 0;
  mp_cbor_init (&r, buf, MP_CBOR_MAX_DEPTH + 1);
  CHECK (mp_cbor_skip (&r, &err) == 0);
  CHECK (mp_cbor_at_end (&r));
  memset (buf, 0x81, MP_CBOR_MAX_DEPTH + 1);
  buf[MP_CBOR_MAX_DEPTH + 1] = 0;
  mp_cbor_init (&r, buf, MP_CBOR_MAX_DEPTH + 2);
  CHECK (mp_cbor_skip (&r, &err) == -1);
  CHECK (strstr (err.msg, "nested too deeply") != NULL);
  CHECK (r.p == r.start);
  /* Tags count as levels too: a chain of tags cannot recurse unbounded. */
  memset (buf, 0xc1, sizeof buf - 1);
  buf[sizeof buf - 1] = 0;
  mp_cbor_init (&r, buf, sizeof buf);
  CHECK (mp_cbor_skip (&r, &err) == -1);
}

TEST (duplicate_map_keys)
{
  mp_cbor r;
  mp_error err;
  size_t n;

  R (r, "\xa3\x01\x02\x61\x61\x03\x21\x04");
  REQUIRE (mp_cbor_read_map (&r, &n, &err) == 0 && n == 3);
  CHECK (mp_cbor_check_map (&r, n, &err) == 0);
  /* 1 twice. */
  R (r, "\xa2\x01\x02\x01\x03");
  REQUIRE (mp_cbor_read_map (&r, &n, &err) == 0);
  CHECK (mp_cbor_check_map (&r, n, &err) == -1);
  CHECK_STR (err.msg, "CBOR at byte 3: duplicate map key");
  /* "a" twice, values that differ. */
  R (r, "\xa2\x61\x61\x01\x61\x61\x82\x01\x02");
  REQUIRE (mp_cbor_read_map (&r, &n, &err) == 0);
  CHECK (mp_cbor_check_map (&r, n, &err) == -1);
  /* 1 and "1" and h'01' are different keys. */
  R (r, "\xa3\x01\x00\x61\x31\x00\x41\x01\x00");
  REQUIRE (mp_cbor_read_map (&r, &n, &err) == 0);
  CHECK (mp_cbor_check_map (&r, n, &err) == 0);
  /* A malformed value inside is found too. */
  R (r, "\xa1\x01\x18\x01");
  REQUIRE (mp_cbor_read_map (&r, &n, &err) == 0);
  CHECK (mp_cbor_check_map (&r, n, &err) == -1);
}

TEST_MAIN (T (integers_in_shortest_form), T (strings), T (containers_and_tags),
           T (depth_is_capped), T (duplicate_map_keys))
