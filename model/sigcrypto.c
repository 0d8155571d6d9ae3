/* Public keys and signature checks (see sigcrypto.h). */
#include "model/sigcrypto.h"

#include <errno.h>
#include <openssl/bio.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"
#include "util/cleanup.h"

/* RSA below this is not a signing key anyone should trust today. */
#define RSA_MIN_BITS 2048

enum key_type
{
  KEY_P256,
  KEY_P384,
  KEY_P521,
  KEY_RSA,
  KEY_ED25519,
};

struct model_pubkey
{
  EVP_PKEY *pkey;
  enum key_type type;
  char kind[32];
  char *what;
};

static int
oom (mp_error *err)
{
  return mp_error_sys (err, ENOMEM, "public key");
}

void
model_pubkey_free (model_pubkey *k)
{
  if (k == NULL)
    return;
  EVP_PKEY_free (k->pkey);
  free (k->what);
  free (k);
}

void
model_pubkeys_free (model_pubkey **keys, size_t n)
{
  for (size_t i = 0; i < n; i++)
    model_pubkey_free (keys[i]);
  free (keys);
}

const char *
model_pubkey_kind (const model_pubkey *k)
{
  return k->kind;
}

const char *
model_pubkey_what (const model_pubkey *k)
{
  return k->what;
}

struct evp_pkey_st *
model_pubkey_evp (const model_pubkey *k)
{
  return k->pkey;
}

const char *
model_sig_hash_name (enum model_sig_hash h)
{
  switch (h)
    {
    case MODEL_SIG_HASH_SHA256:
      return "SHA-256";
    case MODEL_SIG_HASH_SHA384:
      return "SHA-384";
    case MODEL_SIG_HASH_SHA512:
      return "SHA-512";
    case MODEL_SIG_HASH_KEY:
      break;
    }
  return "the key's hash";
}

/* Take PKEY (owned on success and on failure) if it is a kind we verify
 * with. */
static int
wrap (EVP_PKEY *pkey, const char *what, model_pubkey **out, mp_error *err)
{
  model_pubkey *k;
  char curve[64] = "";
  size_t clen = 0;

  k = calloc (1, sizeof *k);
  if (k == NULL || (k->what = strdup (what)) == NULL)
    {
      free (k);
      EVP_PKEY_free (pkey);
      return oom (err);
    }
  k->pkey = pkey;
  switch (EVP_PKEY_get_base_id (pkey))
    {
    case EVP_PKEY_EC:
      if (!EVP_PKEY_get_utf8_string_param (pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                           curve, sizeof curve, &clen))
        break;
      if (strcmp (curve, "prime256v1") == 0 || strcmp (curve, "P-256") == 0)
        k->type = KEY_P256;
      else if (strcmp (curve, "secp384r1") == 0 || strcmp (curve, "P-384") == 0)
        k->type = KEY_P384;
      else if (strcmp (curve, "secp521r1") == 0 || strcmp (curve, "P-521") == 0)
        k->type = KEY_P521;
      else
        break;
      snprintf (k->kind, sizeof k->kind, "ECDSA P-%s",
                k->type == KEY_P256   ? "256"
                : k->type == KEY_P384 ? "384"
                                      : "521");
      *out = k;
      return 0;
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits (pkey) < RSA_MIN_BITS)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "%s: an RSA key of %d bits; at least %d are needed",
                        what, EVP_PKEY_get_bits (pkey), RSA_MIN_BITS);
          model_pubkey_free (k);
          return -1;
        }
      k->type = KEY_RSA;
      snprintf (k->kind, sizeof k->kind, "RSA %d", EVP_PKEY_get_bits (pkey));
      *out = k;
      return 0;
    case EVP_PKEY_ED25519:
      k->type = KEY_ED25519;
      snprintf (k->kind, sizeof k->kind, "Ed25519");
      *out = k;
      return 0;
    }
  mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                "%s: not a key signatures are made with here (ECDSA P-256, "
                "P-384, P-521, RSA, Ed25519)%s%s",
                what, curve[0] ? ": curve " : "", curve);
  model_pubkey_free (k);
  return -1;
}

int
model_pubkey_from_evp (struct evp_pkey_st *pkey, const char *what,
                       model_pubkey **out, mp_error *err)
{
  if (!EVP_PKEY_up_ref (pkey))
    return mp_error_set (err, MP_ERR_INTERNAL, "%s: EVP_PKEY_up_ref", what);
  return wrap (pkey, what, out, err);
}

int
model_pubkey_from_der (const uint8_t *der, size_t len, const char *what,
                       model_pubkey **out, mp_error *err)
{
  const unsigned char *p = der;
  EVP_PKEY *pkey;

  if (len > LONG_MAX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: too long", what);
  pkey = d2i_PUBKEY (NULL, &p, (long)len);
  if (pkey == NULL || p != der + len)
    {
      EVP_PKEY_free (pkey);
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "%s: not a DER SubjectPublicKeyInfo", what);
    }
  return wrap (pkey, what, out, err);
}

int
model_pubkeys_from_pem (const void *buf, size_t len, const char *what,
                        model_pubkey ***keys_out, size_t *n_out, mp_error *err)
{
  BIO *bio;
  model_pubkey **keys = NULL;
  size_t n = 0;
  int ret = -1;

  if (len > INT_MAX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: too large", what);
  bio = BIO_new_mem_buf (buf, (int)len);
  if (bio == NULL)
    return oom (err);
  for (;;)
    {
      char *name = NULL, *header = NULL;
      unsigned char *data = NULL;
      const unsigned char *p;
      long dlen = 0;
      EVP_PKEY *pkey = NULL;
      model_pubkey *k, **grown;

      if (!PEM_read_bio (bio, &name, &header, &data, &dlen))
        break;
      p = data;
      if (strcmp (name, "PUBLIC KEY") == 0)
        pkey = d2i_PUBKEY (NULL, &p, dlen);
      else if (strcmp (name, "RSA PUBLIC KEY") == 0)
        pkey = d2i_PublicKey (EVP_PKEY_RSA, NULL, &p, dlen);
      else
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "%s: holds a PEM \"%.40s\" block, not a public key%s",
                        what, name,
                        strstr (name, "PRIVATE") != NULL
                            ? " (this is a private key: give the .pub file)"
                            : "");
          OPENSSL_free (name);
          OPENSSL_free (header);
          OPENSSL_free (data);
          goto out;
        }
      if (pkey != NULL && p != data + dlen)
        {
          EVP_PKEY_free (pkey);
          pkey = NULL;
        }
      OPENSSL_free (name);
      OPENSSL_free (header);
      OPENSSL_free (data);
      if (pkey == NULL)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "%s: a PEM public key block that does not decode",
                        what);
          goto out;
        }
      if (wrap (pkey, what, &k, err) < 0)
        goto out;
      grown = realloc (keys, (n + 1) * sizeof *keys);
      if (grown == NULL)
        {
          model_pubkey_free (k);
          oom (err);
          goto out;
        }
      keys = grown;
      keys[n++] = k;
    }
  if (n == 0)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "%s: no PEM public key in it (expected a \"-----BEGIN "
                    "PUBLIC KEY-----\" block)",
                    what);
      goto out;
    }
  *keys_out = keys;
  *n_out = n;
  keys = NULL;
  n = 0;
  ret = 0;
out:
  /* PEM_read_bio's "no start line" at the end is not an error. */
  ERR_clear_error ();
  model_pubkeys_free (keys, n);
  BIO_free (bio);
  return ret;
}

int
model_pubkey_hint (const model_pubkey *k, char *out, size_t outsize,
                   mp_error *err)
{
  unsigned char *der = NULL;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int len = i2d_PUBKEY (k->pkey, &der);
  char *b64;

  if (len <= 0)
    return mp_error_set (err, MP_ERR_INTERNAL, "%s: cannot encode the key",
                         k->what);
  if (!EVP_Digest (der, (size_t)len, md, &mdlen, EVP_sha256 (), NULL))
    {
      OPENSSL_free (der);
      return mp_error_set (err, MP_ERR_INTERNAL, "sha256 failed");
    }
  OPENSSL_free (der);
  b64 = mp_base64_encode_bytes (md, mdlen);
  if (b64 == NULL)
    return oom (err);
  if (strlen (b64) >= outsize)
    {
      free (b64);
      return mp_error_set (err, MP_ERR_INTERNAL, "hint buffer too small");
    }
  memcpy (out, b64, strlen (b64) + 1);
  free (b64);
  return 0;
}

/* The digest name for H with key K, or NULL for none (Ed25519). */
static const char *
md_name (const model_pubkey *k, enum model_sig_hash h)
{
  if (k->type == KEY_ED25519)
    return NULL;
  switch (h)
    {
    case MODEL_SIG_HASH_SHA256:
      return "SHA256";
    case MODEL_SIG_HASH_SHA384:
      return "SHA384";
    case MODEL_SIG_HASH_SHA512:
      return "SHA512";
    case MODEL_SIG_HASH_KEY:
      break;
    }
  return k->type == KEY_P384   ? "SHA384"
         : k->type == KEY_P521 ? "SHA512"
                               : "SHA256";
}

static int
set_padding (const model_pubkey *k, EVP_PKEY_CTX *pctx, bool pss)
{
  if (k->type != KEY_RSA)
    return 1;
  if (!pss)
    return EVP_PKEY_CTX_set_rsa_padding (pctx, RSA_PKCS1_PADDING);
  return EVP_PKEY_CTX_set_rsa_padding (pctx, RSA_PKCS1_PSS_PADDING)
         && EVP_PKEY_CTX_set_rsa_pss_saltlen (pctx, RSA_PSS_SALTLEN_DIGEST);
}

static int
not_verified (const model_pubkey *k, mp_error *err)
{
  ERR_clear_error ();
  return mp_error_set (err, MP_ERR_DATA_LOSS,
                       "the signature does not verify with %s (%s)", k->what,
                       k->kind);
}

int
model_pubkey_verify (const model_pubkey *k, enum model_sig_hash h, bool pss,
                     const void *msg, size_t len, const uint8_t *sig,
                     size_t siglen, mp_error *err)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  EVP_PKEY_CTX *pctx = NULL;
  int ok;

  if (ctx == NULL)
    return oom (err);
  if (pss && k->type != KEY_RSA)
    {
      EVP_MD_CTX_free (ctx);
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "%s: PSS needs an RSA key, not %s", k->what,
                           k->kind);
    }
  ok = EVP_DigestVerifyInit_ex (ctx, &pctx, md_name (k, h), NULL, NULL, k->pkey,
                                NULL)
           == 1
       && set_padding (k, pctx, pss) > 0
       && EVP_DigestVerify (ctx, sig, siglen, msg, len) == 1;
  EVP_MD_CTX_free (ctx);
  if (!ok)
    return not_verified (k, err);
  return 0;
}

int
model_pubkey_verify_digest (const model_pubkey *k, enum model_sig_hash h,
                            bool pss, const uint8_t *digest, size_t len,
                            const uint8_t *sig, size_t siglen, mp_error *err)
{
  EVP_PKEY_CTX *pctx;
  EVP_MD *md;
  int ok;

  if (k->type == KEY_ED25519)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: an Ed25519 signature is over the message, "
                         "not over its digest",
                         k->what);
  if (h == MODEL_SIG_HASH_KEY || (pss && k->type != KEY_RSA))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: a digest needs its hash named (and PSS an RSA "
                         "key)",
                         k->what);
  md = EVP_MD_fetch (NULL, md_name (k, h), NULL);
  if (md == NULL)
    return mp_error_set (err, MP_ERR_INTERNAL, "no %s in OpenSSL",
                         md_name (k, h));
  if ((size_t)EVP_MD_get_size (md) != len)
    {
      EVP_MD_free (md);
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "a %s digest has %d bytes, not %zu",
                           model_sig_hash_name (h), EVP_MD_get_size (md), len);
    }
  pctx = EVP_PKEY_CTX_new_from_pkey (NULL, k->pkey, NULL);
  ok = pctx != NULL && EVP_PKEY_verify_init (pctx) == 1
       && EVP_PKEY_CTX_set_signature_md (pctx, md) > 0
       && set_padding (k, pctx, pss) > 0
       && EVP_PKEY_verify (pctx, sig, siglen, digest, len) == 1;
  EVP_PKEY_CTX_free (pctx);
  EVP_MD_free (md);
  if (!ok)
    return not_verified (k, err);
  return 0;
}
