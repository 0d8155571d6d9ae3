/* Notation signature envelopes: the JWS (application/jose+json) and COSE
 * (application/cose) forms of the Notary Project signature, parsed from
 * untrusted bytes into one shape.  Parsing only: no signature or
 * certificate is checked here (model/notation.h does that, with OpenSSL).
 *
 * What is read, as notation-core-go 1.3 reads it:
 *  - JWS JSON serialization {payload, protected, header: {x5c, ...},
 *    signature}: base64url (unpadded) parts, x5c standard base64; the
 *    protected header's alg (PS256/384/512, ES256/384/512), cty, crit,
 *    io.cncf.notary.signingScheme, .signingTime or .authenticSigningTime,
 *    .expiry (RFC 3339); the payload must be a JSON object.  The signature
 *    covers "protected.payload" as written.
 *  - COSE_Sign1 (tag 18): a protected header map with alg (-37/-38/-39
 *    PS*, -7/-35/-36 ES*), crit, content type (3) and the same
 *    io.cncf.notary.* labels, times as tag 1 integers; x5chain (33) in the
 *    unprotected map as an array; an attached payload.  The signature
 *    covers the Sig_structure ["Signature1", protected, h'', payload].
 *  - Both: the signing scheme notary.x509 (signingTime) or
 *    notary.x509.signingAuthority (authenticSigningTime, critical); expiry
 *    critical when present and after the signing time; signingScheme
 *    critical; every critical label present.
 *
 * Stricter than notation where notation is lax or silent: duplicate JSON
 * members and CBOR map keys, JSON null for a header, and non-canonical
 * base64 or CBOR (see util/cbor.h) are refused; a critical header this
 * verifier does not understand refuses the envelope (notation ignores it
 * unless a verification plugin is named); COSE times must be integers.
 * Errors are MP_ERR_INVALID_ARGUMENT with a message fit for a verdict. */
#ifndef MP_MODEL_NOTATION_ENVELOPE_H
#define MP_MODEL_NOTATION_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define NOTATION_MEDIA_TYPE_JWS "application/jose+json"
#define NOTATION_MEDIA_TYPE_COSE "application/cose"
/* The artifactType of a Notation signature manifest. */
#define NOTATION_ARTIFACT_TYPE "application/vnd.cncf.notary.signature"
/* The only payload content type notation accepts. */
#define NOTATION_PAYLOAD_TYPE "application/vnd.cncf.notary.payload.v1+json"
/* notation refuses signature blobs larger than this. */
#define NOTATION_MAX_ENVELOPE (32u << 20)
/* Certificates in a chain we read. */
#define NOTATION_MAX_CHAIN 16

enum notation_format
{
  NOTATION_FORMAT_JWS,
  NOTATION_FORMAT_COSE,
};

enum notation_alg
{
  NOTATION_ALG_PS256 = 1,
  NOTATION_ALG_PS384,
  NOTATION_ALG_PS512,
  NOTATION_ALG_ES256,
  NOTATION_ALG_ES384,
  NOTATION_ALG_ES512,
};

enum notation_scheme
{
  NOTATION_SCHEME_X509 = 1,             /* notary.x509 */
  NOTATION_SCHEME_SIGNING_AUTHORITY = 2 /* notary.x509.signingAuthority */
};

/* A point in time: seconds since the epoch and a fraction. */
typedef struct notation_time
{
  int64_t sec;
  int32_t nsec;
} notation_time;

typedef struct notation_bytes
{
  uint8_t *data;
  size_t len;
} notation_bytes;

typedef struct notation_envelope
{
  enum notation_format format;
  enum notation_alg alg;
  char *content_type;
  enum notation_scheme scheme;
  notation_time signing_time; /* signingTime or authenticSigningTime */
  bool has_expiry;
  notation_time expiry;
  size_t n_certs; /* >= 1: leaf first */
  notation_bytes certs[NOTATION_MAX_CHAIN];
  notation_bytes payload;
  notation_bytes signature;
  notation_bytes signed_data; /* what the signature covers */
  bool has_timestamp;         /* an RFC 3161 countersignature is attached */
  char *verification_plugin;  /* io.cncf.notary.verificationPlugin, or NULL */
  char *signing_agent;        /* or NULL */
} notation_envelope;

/* Parse len bytes of an envelope of the given media type. */
int notation_envelope_parse (const char *media_type, const void *buf,
                             size_t len, notation_envelope **out,
                             mp_error *err);
void notation_envelope_free (notation_envelope *e);

const char *notation_alg_name (enum notation_alg a);
const char *notation_scheme_name (enum notation_scheme s);

/* RFC 3339 date-time ("2024-05-01T10:00:00Z", "...T12:00:00.5+02:00"). */
bool notation_parse_rfc3339 (const char *s, notation_time *out);

/* The payload's target descriptor, from untrusted JSON:
 * {"targetArtifact": {"mediaType", "digest", "size", ...}}. */
typedef struct notation_target
{
  char *media_type;
  char *digest;
  int64_t size;
} notation_target;

int notation_payload_target (const notation_bytes *payload,
                             notation_target *out, mp_error *err);
void notation_target_clear (notation_target *t);

#endif
