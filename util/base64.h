/* Base64, the standard alphabet with padding (RFC 4648 section 4), as Go's
 * encoding/base64 StdEncoding writes and reads it: the form of HTTP basic
 * credentials, Docker config.json `auth` fields, key material in
 * containers-policy.json, and signatures and payloads in Sigstore and
 * cosign documents.
 *
 * Decoding is strict: every group of four complete, '=' only as padding at
 * the very end, no other character than the alphabet -- except CR and LF,
 * which are skipped anywhere, as Go does.  Results are malloc'd. */
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

#endif
