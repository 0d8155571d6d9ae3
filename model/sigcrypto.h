/* Public keys and signature checks, with OpenSSL: what every signature
 * format (model/sigstore.h, Notation) verifies with.
 *
 * Keys are ECDSA (P-256, P-384, P-521), RSA (2048 bits or more) and
 * Ed25519, read from PEM ("PUBLIC KEY", the SubjectPublicKeyInfo cosign
 * writes, or "RSA PUBLIC KEY"), from DER SubjectPublicKeyInfo, or from an
 * X.509 certificate.  Signatures are ECDSA in DER (ASN.1 r, s), RSA
 * PKCS #1 v1.5 or PSS, and pure Ed25519.  A key smaller than that, or of
 * another kind, is refused when it is read, not when it is used. */
#ifndef MP_MODEL_SIGCRYPTO_H
#define MP_MODEL_SIGCRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct model_pubkey model_pubkey;

enum model_sig_hash
{
  MODEL_SIG_HASH_KEY = 0, /* the key's own: SHA-256 for P-256 and RSA,
                             SHA-384 for P-384, SHA-512 for P-521, none
                             for Ed25519 */
  MODEL_SIG_HASH_SHA256,
  MODEL_SIG_HASH_SHA384,
  MODEL_SIG_HASH_SHA512,
};

/* Every key in the PEM text BUF (at least one), in order.  *KEYS is a
 * malloc'd array of *N keys; free with model_pubkeys_free.  WHAT names the
 * source in messages ("key /etc/keys/a.pub"). */
int model_pubkeys_from_pem (const void *buf, size_t len, const char *what,
                            model_pubkey ***keys, size_t *n, mp_error *err);
void model_pubkeys_free (model_pubkey **keys, size_t n);

int model_pubkey_from_der (const uint8_t *der, size_t len, const char *what,
                           model_pubkey **out, mp_error *err);
void model_pubkey_free (model_pubkey *k);

/* "ECDSA P-256", "RSA 3072", "Ed25519". */
const char *model_pubkey_kind (const model_pubkey *k);
/* Where the key came from, as given when it was read. */
const char *model_pubkey_what (const model_pubkey *k);
/* Base64 of the SHA-256 of its DER SubjectPublicKeyInfo: the `hint` a
 * Sigstore bundle names its key by.  OUT holds 45 bytes. */
int model_pubkey_hint (const model_pubkey *k, char *out, size_t outsize,
                       mp_error *err);
/* The key as EVP_PKEY, for other OpenSSL calls (X.509 checks). */
struct evp_pkey_st;
struct evp_pkey_st *model_pubkey_evp (const model_pubkey *k);
/* A key taken from an EVP_PKEY (a reference is kept). */
int model_pubkey_from_evp (struct evp_pkey_st *pkey, const char *what,
                           model_pubkey **out, mp_error *err);

/* 0 when SIG is KEY's signature over the LEN bytes at MSG hashed with H
 * (PSS: RSA-PSS, salt of the hash's length; otherwise PKCS #1 v1.5 for
 * RSA).  -1 otherwise: MP_ERR_DATA_LOSS "does not verify" for a signature
 * that is not, MP_ERR_INVALID_ARGUMENT for a combination that cannot be
 * (an Ed25519 key with a hash). */
int model_pubkey_verify (const model_pubkey *k, enum model_sig_hash h, bool pss,
                         const void *msg, size_t len, const uint8_t *sig,
                         size_t siglen, mp_error *err);
/* The same over a message known by its digest only (LEN bytes hashed with
 * H, which must be given).  Ed25519 signs messages, not digests: refused. */
int model_pubkey_verify_digest (const model_pubkey *k, enum model_sig_hash h,
                                bool pss, const uint8_t *digest, size_t len,
                                const uint8_t *sig, size_t siglen,
                                mp_error *err);

const char *model_sig_hash_name (enum model_sig_hash h);

#endif
