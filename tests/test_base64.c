/* util/base64: the strict decoder shared by credentials, policy key data
 * and signature documents, and the encoder. */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "util/base64.h"

static void
expect_bytes (const char *in, const void *want, size_t wantlen)
{
  uint8_t *out = NULL;
  size_t n = 0;

  CHECK (mp_base64_decode_bytes (in, strlen (in), &out, &n) == 0);
  CHECK (n == wantlen && out != NULL && memcmp (out, want, n) == 0);
  CHECK (out == NULL || out[n] == '\0');
  free (out);
}

static void
expect_bad (const char *in)
{
  uint8_t *out = NULL;
  size_t n = 0;

  errno = 0;
  if (mp_base64_decode_bytes (in, strlen (in), &out, &n) != -1
      || errno != EINVAL)
    {
      fprintf (stderr, "accepted malformed \"%s\"\n", in);
      mp_test_failed_checks++;
    }
  free (out);
}

TEST (decode_binary)
{
  expect_bytes ("", "", 0);
  expect_bytes ("AA==", "\0", 1);
  expect_bytes ("a2V5AP8=", "key\0\xff", 5);
  expect_bytes ("AAEC", "\0\1\2", 3);
  /* CR and LF are skipped anywhere, as Go's decoder does (PEM-style
   * wrapped data). */
  expect_bytes ("YW\r\nJj\nZA==\n", "abcd", 4);
}

TEST (decode_refuses)
{
  expect_bad ("YQ");       /* padding missing */
  expect_bad ("YQ=");      /* half the padding */
  expect_bad ("Y===");     /* too much padding */
  expect_bad ("Y=Q=");     /* padding inside */
  expect_bad ("YQ==YQ=="); /* data after padding */
  expect_bad ("====");
  expect_bad ("YW Jj"); /* spaces are not skipped */
  expect_bad ("YW-j");  /* the URL alphabet is another encoding */
  expect_bad ("YWJjZA==\t");
  expect_bad ("AAAAA");
}

TEST (text)
{
  char *s = mp_base64_decode ("dXNlcjpwYXNz");

  CHECK_STR (s, "user:pass");
  free (s);
  /* Text with a NUL in it is not text. */
  CHECK (mp_base64_decode ("dQB2") == NULL);
  CHECK (mp_base64_decode ("dXNlcjpwYXNz=") == NULL);
}

TEST (encode_round_trip)
{
  uint8_t in[256];
  char *enc;
  uint8_t *dec = NULL;
  size_t n;

  for (size_t i = 0; i < sizeof in; i++)
    in[i] = (uint8_t)(i * 7 + 3);
  for (size_t len = 0; len <= sizeof in; len += 1 + len / 3)
    {
      enc = mp_base64_encode_bytes (in, len);
      REQUIRE (enc != NULL);
      CHECK (strlen (enc) == (len + 2) / 3 * 4);
      CHECK (mp_base64_decode_bytes (enc, strlen (enc), &dec, &n) == 0);
      CHECK (n == len && memcmp (dec, in, len) == 0);
      free (dec);
      free (enc);
    }
  enc = mp_base64_encode ("user:pass");
  CHECK_STR (enc, "dXNlcjpwYXNz");
  free (enc);
}

TEST_MAIN (T (decode_binary), T (decode_refuses), T (text),
           T (encode_round_trip))
