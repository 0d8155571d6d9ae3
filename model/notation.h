/* Notation (Notary Project) signature verification, as notation 1.3 does
 * it, with OpenSSL and without the network.
 *
 * Configuration is a notation configuration directory DIR (what notation
 * finds under $XDG_CONFIG_HOME/notation):
 *   DIR/trustpolicy.json                         the OCI trust policy
 *   DIR/truststore/x509/{ca,signingAuthority}/NAME/<files>
 * notation 1.3 reads trustpolicy.json only (trustpolicy.oci.json is read by
 * later versions); so do we.  As notation, the policy file, a named store
 * and its files must not be symbolic links, a store holds only regular files
 * (PEM or DER, one or more certificates each; a subdirectory is an error),
 * and every certificate in it is a CA or self-signed.  Stores are read when
 * the configuration loads; a store that cannot be read fails (only) the
 * verifications that need it, with its reason.  tsa stores are not read:
 * timestamp countersignatures are not verified (below).
 *
 * One envelope, notation's steps in notation's order, each enforced or
 * logged by the statement's level (strict: all enforced; permissive:
 * authentic timestamp, expiry and revocation logged; audit: only integrity
 * enforced; skip: nothing checked, accepted; override changes one):
 *  1 integrity (always enforced): the envelope parses
 *    (model/notation_envelope.h); the chain is ordered leaf to a self-signed
 *    root, each certificate signed by the next (CA basic constraints, path
 *    lengths, critical key usage with keyCertSign for CAs); the leaf has
 *    critical key usage digitalSignature and no other of keyEncipherment,
 *    dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly,
 *    decipherOnly, is not a CA, and has no serverAuth, clientAuth,
 *    emailProtection, timeStamping or OCSPSigning extended key usage (a
 *    lone self-signed leaf is allowed, as notation allows it); the leaf key
 *    is RSA 2048/3072/4096 (PS256/384/512) or EC P-256/384/521
 *    (ES256/384/512) and matches alg; the signature verifies with it
 *    (RSA-PSS: any salt length for JWS, the hash length for COSE); cty is
 *    the Notary payload type.
 *  2 a signature that names a verification plugin fails: we run none.
 *  3 authenticity: some certificate of the chain is byte for byte a
 *    certificate of the statement's stores of the scheme's type (ca for
 *    notary.x509, signingAuthority for notary.x509.signingAuthority); then
 *    trustedIdentities: "*" or an x509.subject whose attributes all equal
 *    the leaf subject's (the leaf subject must have C, ST and O and only
 *    the attributes notation can name).
 *  4 expiry: the signature's expiry, if any, is after now.
 *  5 authentic timestamp: notary.x509 without a tsa store (or with
 *    verifyTimestamp afterCertExpiry and an unexpired chain): every chain
 *    certificate valid now; with a tsa store the envelope must carry an RFC
 *    3161 countersignature, and verifying one is NOT implemented here: it
 *    fails this step (logged only below strict).  signingAuthority: every
 *    certificate valid at the authentic signing time.
 *  6 revocation: no OCSP or CRL is fetched here.  A chain certificate (the
 *    root aside) that names OCSP or CRL servers has an unknown status, which
 *    fails this step as it fails notation offline; "revocation": "skip" or
 *    "log" in override accepts it.
 *  7 the payload's target descriptor equals the manifest's (media type,
 *    digest, size): always enforced, even at audit.
 * A repository no statement covers has no Notation policy: notation refuses
 * it, and so does notation_verify (applies = false).  notation accepts an
 * artifact when one of its signatures (it tries at most 50) verifies; that
 * loop, and fetching, are the caller's. */
#ifndef MP_MODEL_NOTATION_H
#define MP_MODEL_NOTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/notation_envelope.h"
#include "model/notation_policy.h"
#include "util/error.h"

typedef struct notation_config notation_config;

/* Load DIR/trustpolicy.json and the stores it names.  No trustpolicy.json:
 * MP_ERR_NOT_FOUND (the caller decides what no policy means); malformed:
 * MP_ERR_INVALID_ARGUMENT naming the file and the JSON path. */
int notation_config_load (const char *dir, notation_config **out,
                          mp_error *err);
void notation_config_free (notation_config *c);

/* "sha256:..." of everything the configuration was read from (the policy
 * and every store file), to key cached verdicts. */
const char *notation_config_revision (const notation_config *c);
/* Problems with stores, "; "-joined, or NULL: for a log line at load. */
const char *notation_config_warnings (const notation_config *c);
const notation_policy *notation_config_policy (const notation_config *c);

typedef struct notation_verdict
{
  bool applies; /* a trust policy statement covers the repository */
  bool skipped; /* its level is skip: accepted, nothing verified */
  bool ok;      /* accepted: verified (or skipped) */
  enum notation_level level;
  char policy[128]; /* the statement's name */
  char signer[256]; /* the leaf certificate's subject, when known */
  char reason[512]; /* !ok: "<validation>: why" */
  char logged[512]; /* failures the level only logs, "; "-joined */
} notation_verdict;

/* The statement for repository ("host[:port]/path", as registryScopes name
 * it), without a signature: fills applies, skipped, ok (= skipped), level
 * and policy, and reason when nothing applies.  A caller that finds no
 * signature for an artifact refuses it unless this says skipped. */
void notation_lookup (const notation_config *c, const char *repository,
                      notation_verdict *v);

/* Verify one envelope (envelope_media_type: the signature manifest's layer
 * media type) for the manifest (digest, size, media type) of repository,
 * at time now (seconds since the epoch).  Returns 0 with *v filled, ok or
 * not; -1 only when the verification itself could not run (out of memory,
 * bad arguments). */
int notation_verify (const notation_config *c, const char *repository,
                     const char *manifest_digest, int64_t manifest_size,
                     const char *manifest_media_type,
                     const char *envelope_media_type, const void *env,
                     size_t envlen, int64_t now, notation_verdict *v,
                     mp_error *err);

#endif
