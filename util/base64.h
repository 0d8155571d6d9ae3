/* Base64 (RFC 4648, with padding) of NUL-terminated text: HTTP basic
 * credentials and Docker config.json `auth` fields.  Results are
 * malloc'd; decode returns NULL for malformed input.
 *
 * mp_base64_decode_bin decodes binary data (certificates, signatures) in
 * one of two alphabets: standard with padding (Go's StdEncoding, as JSON
 * carries []byte), or URL-safe without padding (Go's RawURLEncoding, as JWS
 * carries its parts).  It is strict: nothing outside the alphabet (no
 * whitespace), padding only where the standard alphabet needs it, and the
 * unused bits of the last character zero, so each byte string has exactly
 * one encoding. */
#ifndef MP_UTIL_BASE64_H
#define MP_UTIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

char *mp_base64_encode (const char *s);
char *mp_base64_decode (const char *s);

enum mp_base64_alphabet
{
  MP_BASE64_STD,     /* A-Z a-z 0-9 + /, padded with = */
  MP_BASE64_URL_RAW, /* A-Z a-z 0-9 - _, no padding */
};

/* Decode the n characters at s into a malloc'd *out (*outlen bytes; *out
 * is never NULL on success, even for empty input).  Returns 0, -1 for
 * malformed input, -2 when out of memory. */
int mp_base64_decode_bin (const char *s, size_t n, enum mp_base64_alphabet a,
                          uint8_t **out, size_t *outlen);

#endif
