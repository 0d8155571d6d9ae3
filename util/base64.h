/* Base64 (RFC 4648).
 *
 * The standard alphabet with padding, as Go's encoding/base64 StdEncoding
 * writes and reads it: HTTP basic credentials, Docker config.json `auth`
 * fields, key material in containers-policy.json, signatures and payloads
 * in Sigstore and cosign documents (mp_base64_decode_bytes: strict, every
 * group of four complete, '=' only as padding at the very end, nothing but
 * the alphabet except CR and LF, which are skipped anywhere, as Go does).
 *
 * mp_base64_decode_bin decodes binary data (certificates, signatures) in
 * one of two alphabets: standard with padding, or URL-safe without padding
 * (Go's RawURLEncoding, as JWS carries its parts).  It is stricter still:
 * no whitespace, and the unused bits of the last character zero, so each
 * byte string has exactly one encoding.  Results are malloc'd. */
#ifndef MP_UTIL_BASE64_H
#define MP_UTIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The encoding of LEN bytes at BUF, NUL-terminated; NULL when out of
 * memory. */
char *mp_base64_encode_bytes (const void *buf, size_t len);
/* The encoding of the text S. */
char *mp_base64_encode (const char *s);

/* Decode the N characters at S into *OUT (*OUTLEN bytes, followed by a NUL
 * that is not counted, so text can be used as a string).  -1 with errno
 * EINVAL for malformed input, ENOMEM when out of memory. */
int mp_base64_decode_bytes (const char *s, size_t n, uint8_t **out,
                            size_t *outlen);
/* Decode the NUL-terminated S into text: NULL when malformed or when the
 * bytes hold a NUL. */
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
