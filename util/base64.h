/* Base64 (RFC 4648, with padding) of NUL-terminated text: HTTP basic
 * credentials and Docker config.json `auth` fields.  Results are
 * malloc'd; decode returns NULL for malformed input. */
#ifndef MP_UTIL_BASE64_H
#define MP_UTIL_BASE64_H

char *mp_base64_encode (const char *s);
char *mp_base64_decode (const char *s);

#endif
