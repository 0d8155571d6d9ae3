/* cosign and Sigstore signatures: their formats, read from untrusted
 * bytes, and their verification against a containers-policy.json
 * sigstoreSigned requirement.
 *
 * Two formats sign an OCI manifest:
 *  - cosign's simple signing (the sha256-<hex>.sig tag, cosign 2's default
 *    and cosign 3's --new-bundle-format=false): a layer whose blob is the
 *    payload {"critical": {"identity": {"docker-reference": R}, "image":
 *    {"docker-manifest-digest": D}, "type": "cosign container image
 *    signature"}, "optional": {...}}, and whose annotation
 *    dev.cosignproject.cosign/signature is the base64 signature over the
 *    payload's bytes, SHA-256 hashed.  Read as strictly as containers/image
 *    does: exactly those fields in `critical`, anything in `optional`.
 *  - the Sigstore bundle (cosign 3's default, found through referrers):
 *    JSON with verificationMaterial (a public key hint, a certificate or a
 *    chain, transparency log entries) and either a messageSignature (a
 *    signature over the message whose digest it gives: for an OCI
 *    manifest, the manifest itself) or a dsseEnvelope, whose signatures
 *    are over the DSSE pre-authentication encoding (PAE) of an in-toto
 *    statement.  A statement is a signature of the manifest when its
 *    predicateType is https://sigstore.dev/cosign/sign/v1 and a subject's
 *    digest is the manifest's; attestations (other predicate types) are
 *    not signatures.
 *
 * Verification, given the manifest digest D the image resolved to:
 * the signature verifies with a trusted key (or certificate, for
 * fulcio), and the signed content names D.  It then gives a claim: the
 * signed docker-reference, if the format has one (a bundle's statement
 * names a digest only), for the signedIdentity check (model/sigpolicy.h).
 *
 * Transparency log: a requirement with rekorPublicKeyPath/Data asks that
 * the signature was logged.  Offline, that is the log's signed entry
 * timestamp (SET): the Rekor key's signature over the entry's canonical
 * JSON {body, integratedTime, logID, logIndex}, where the body names this
 * signature.  A signature without one is refused under such a
 * requirement; without the requirement the log is not consulted. */
#ifndef MP_MODEL_SIGSTORE_H
#define MP_MODEL_SIGSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/digest.h"
#include "model/policy.h"
#include "model/sigcrypto.h"
#include "model/signature.h"
#include "util/error.h"

#define MODEL_COSIGN_SIGNATURE_TYPE "cosign container image signature"
#define MODEL_INTOTO_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define MODEL_INTOTO_STATEMENT_V1 "https://in-toto.io/Statement/v1"
#define MODEL_INTOTO_STATEMENT_V01 "https://in-toto.io/Statement/v0.1"
#define MODEL_COSIGN_PREDICATE_SIGN "https://sigstore.dev/cosign/sign/v1"

typedef struct model_sig_bytes
{
  uint8_t *data;
  size_t len;
} model_sig_bytes;

/* ---- cosign simple signing ---------------------------------------------- */

typedef struct model_cosign_payload
{
  model_digest digest;    /* critical.image.docker-manifest-digest */
  char *docker_reference; /* critical.identity.docker-reference */
} model_cosign_payload;

int model_cosign_payload_parse (const void *buf, size_t len,
                                model_cosign_payload *out, mp_error *err);
void model_cosign_payload_clear (model_cosign_payload *p);

/* ---- Sigstore bundle -------------------------------------------------- */

typedef struct model_tlog_entry
{
  int64_t log_index;
  model_sig_bytes log_id; /* logId.keyId: SHA-256 of the log's key */
  char *kind, *version;   /* kindVersion */
  int64_t integrated_time;
  model_sig_bytes set;  /* inclusionPromise.signedEntryTimestamp */
  model_sig_bytes body; /* canonicalizedBody */
} model_tlog_entry;

typedef struct model_bundle
{
  char *media_type;
  char *key_hint;         /* verificationMaterial.publicKey.hint, or NULL */
  size_t n_certs;         /* certificate, or x509CertificateChain leaf first */
  model_sig_bytes *certs; /* DER */
  size_t n_tlog;
  model_tlog_entry *tlog;
  bool dsse;
  /* messageSignature */
  enum model_sig_hash digest_hash; /* messageDigest.algorithm */
  model_sig_bytes message_digest;
  model_sig_bytes signature;
  /* dsseEnvelope */
  char *payload_type;
  model_sig_bytes payload;
  size_t n_dsse_sigs;
  model_sig_bytes *dsse_sigs;
} model_bundle;

int model_bundle_parse (const void *buf, size_t len, model_bundle **out,
                        mp_error *err);
void model_bundle_free (model_bundle *b);

/* DSSE's pre-authentication encoding: "DSSEv1 <len> <type> <len> <body>"
 * (lengths in ASCII decimal), what DSSE signatures are over. */
int model_dsse_pae (const char *type, const uint8_t *body, size_t len,
                    model_sig_bytes *out, mp_error *err);

typedef struct model_intoto_subject
{
  char *name;   /* or NULL */
  char *sha256; /* hex, or NULL */
  char *sha512;
} model_intoto_subject;

typedef struct model_intoto
{
  char *type; /* _type */
  char *predicate_type;
  size_t n_subjects;
  model_intoto_subject *subjects;
} model_intoto;

int model_intoto_parse (const void *buf, size_t len, model_intoto **out,
                        mp_error *err);
void model_intoto_free (model_intoto *s);

/* ---- verification -------------------------------------------------------- */

/* What a sigstoreSigned requirement trusts, its files read. */
typedef struct model_sigstore_trust model_sigstore_trust;

/* Read R's keys (keyPath, keyPaths, keyData), Fulcio CA and Rekor keys.
 * A file that is missing or holds no usable key is an error naming it. */
int model_sigstore_trust_load (const model_policy_requirement *r,
                               model_sigstore_trust **out, mp_error *err);
void model_sigstore_trust_free (model_sigstore_trust *t);
/* Build trust from keys directly (tests, callers with keys in hand): the
 * keys are borrowed and must outlive T. */
int model_sigstore_trust_keys (model_pubkey *const *keys, size_t n,
                               model_sigstore_trust **out, mp_error *err);

/* What an accepted signature says. */
typedef struct model_sigstore_claim
{
  char *docker_reference; /* signed identity, or NULL when none is signed */
  char *by;               /* the key or certificate subject that signed */
} model_sigstore_claim;

void model_sigstore_claim_clear (model_sigstore_claim *c);

/* Check signature S (MODEL_SIG_COSIGN or MODEL_SIG_BUNDLE) for the
 * manifest DIGEST under T.  0: accepted, *CLAIM filled.  -1: refused, ERR
 * says why in one clause ("signed by a key the policy does not trust",
 * "names sha256:… not sha256:…", ...), with MP_ERR_POLICY_REFUSED; or
 * another code for an internal failure. */
int model_sigstore_verify (const model_sigstore_trust *t,
                           const model_signature *s, const model_digest *digest,
                           model_sigstore_claim *claim, mp_error *err);

#endif
