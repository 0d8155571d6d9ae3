/* What the signature fuzz targets share: a trust that asks for a key and a
 * Rekor log entry (both keys made once, at random: no fuzzed signature
 * verifies with them, so every path up to the signature check is walked
 * and each must end in a refusal, never a crash or a leak). */
#ifndef MP_TESTS_FUZZ_SIG_COMMON_H
#define MP_TESTS_FUZZ_SIG_COMMON_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/sigstore.h"

static inline void
fuzz_check (int cond, const char *what)
{
  if (!cond)
    {
      fprintf (stderr, "broken promise: %s\n", what);
      abort ();
    }
}

/* PEM of a fresh P-256 public key, as policy key data. */
static inline model_policy_bytes
fuzz_key_pem (void)
{
  EVP_PKEY *k = EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");
  BIO *b = BIO_new (BIO_s_mem ());
  model_policy_bytes out;
  char *data;
  long n;

  PEM_write_bio_PUBKEY (b, k);
  n = BIO_get_mem_data (b, &data);
  out.data = malloc ((size_t)n);
  memcpy (out.data, data, (size_t)n);
  out.len = (size_t)n;
  BIO_free (b);
  EVP_PKEY_free (k);
  return out;
}

static inline model_sigstore_trust *
fuzz_trust (void)
{
  static model_sigstore_trust *t;

  if (t == NULL)
    {
      model_policy_requirement r = { .type = MODEL_POLICY_SIGSTORE_SIGNED,
                                     .key_source = MODEL_POLICY_KEY_DATA };
      mp_error err;

      r.key_data = fuzz_key_pem ();
      r.rekor_key_data = fuzz_key_pem ();
      fuzz_check (model_sigstore_trust_load (&r, &t, &err) == 0,
                  "the fuzz trust loads");
      free (r.key_data.data);
      free (r.rekor_key_data.data);
    }
  return t;
}

/* Verify DATA as a found signature of FORMAT for a fixed digest, with
 * ANNOTATION (NUL-terminated text) as every annotation it may carry: it
 * must be refused, with a message. */
static inline void
fuzz_verify (enum model_sig_format format, const uint8_t *data, size_t size,
             const char *annotation)
{
  static const char *const keys[]
      = { MODEL_SIG_ANNOTATION_COSIGN, MODEL_SIG_ANNOTATION_REKOR,
          MODEL_SIG_ANNOTATION_CERT, MODEL_SIG_ANNOTATION_CHAIN };
  model_annotation ann[4];
  model_signature s = { .format = format };
  model_sigstore_claim claim;
  model_digest d;
  mp_error err = { 0 };

  model_digest_parse ("sha256:39a4e816c0ee9090d4791d9956601d4d35c23c0ef95e0"
                      "928fa0f4f3c94d37c7a",
                      &d, NULL);
  for (size_t i = 0; i < 4; i++)
    ann[i] = (model_annotation){ .key = (char *)keys[i],
                                 .value = (char *)annotation };
  s.annotations.n = 4;
  s.annotations.v = ann;
  s.blob = (uint8_t *)data;
  s.blob_len = size;
  fuzz_check (model_sigstore_verify (fuzz_trust (), &s, &d, &claim, &err) < 0,
              "a fuzzed signature is refused");
  fuzz_check (err.msg[0] != '\0', "a refusal says why");
}

/* DATA as a NUL-terminated string (malloc'd). */
static inline char *
fuzz_text (const uint8_t *data, size_t size)
{
  char *s = malloc (size + 1);

  memcpy (s, data, size);
  s[size] = '\0';
  return s;
}

#endif
