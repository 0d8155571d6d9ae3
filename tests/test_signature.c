/* Signature checking: cosign simple signing, Sigstore bundles (message
 * signature and DSSE), keys of every kind, signedIdentity, the Rekor
 * signed entry timestamp and fulcio certificates -- with keys,
 * certificates and signatures made here with OpenSSL
 * (model/sigcrypto.h, model/sigstore.h, model/sigpolicy.h). */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "model/sigpolicy.h"
#include "model/sigstore.h"
#include "util/base64.h"

static char tmpdir_buf[] = "/tmp/mp-test-sig-XXXXXX";

static void
remove_tmpdir (void)
{
  char cmd[400];

  snprintf (cmd, sizeof cmd, "rm -rf '%s'", tmpdir_buf);
  if (system (cmd) != 0)
    fprintf (stderr, "could not remove %s\n", tmpdir_buf);
}

/* Key and CA files go here, made on first use and removed at exit. */
static const char *
tmpdir_get (void)
{
  static bool made;

  if (!made)
    {
      if (mkdtemp (tmpdir_buf) == NULL)
        abort ();
      atexit (remove_tmpdir);
      made = true;
    }
  return tmpdir_buf;
}
#define tmpdir (tmpdir_get ())

/* ---- making keys and signatures -------------------------------------- */

static EVP_PKEY *
keygen (const char *kind)
{
  if (strcmp (kind, "P-256") == 0)
    return EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");
  if (strcmp (kind, "P-384") == 0)
    return EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-384");
  if (strcmp (kind, "RSA") == 0)
    return EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t)2048);
  if (strcmp (kind, "RSA-1024") == 0)
    return EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t)1024);
  return EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
}

/* The public half as PEM text (malloc'd). */
static char *
pub_pem (EVP_PKEY *k)
{
  BIO *b = BIO_new (BIO_s_mem ());
  char *data, *out;
  long n;

  PEM_write_bio_PUBKEY (b, k);
  n = BIO_get_mem_data (b, &data);
  out = strndup (data, (size_t)n);
  BIO_free (b);
  return out;
}

/* Write K's public key to TMPDIR/NAME; returns the path (static slot). */
static const char *
write_pub (EVP_PKEY *k, const char *name)
{
  static char paths[8][300];
  static int slot;
  char *pem = pub_pem (k);
  char *p = paths[slot++ % 8];
  FILE *f;

  snprintf (p, 300, "%s/%s", tmpdir, name);
  f = fopen (p, "w");
  fputs (pem, f);
  fclose (f);
  free (pem);
  return p;
}

/* Sign MSG with K (hash MD, NULL for Ed25519); the signature base64. */
static char *
sign_b64 (EVP_PKEY *k, const char *md, const void *msg, size_t len)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  unsigned char sig[1024];
  size_t n = sizeof sig;

  if (EVP_PKEY_get_base_id (k) == EVP_PKEY_ED25519)
    md = NULL;
  EVP_DigestSignInit_ex (ctx, NULL, md, NULL, NULL, k, NULL);
  EVP_DigestSign (ctx, sig, &n, msg, len);
  EVP_MD_CTX_free (ctx);
  return mp_base64_encode_bytes (sig, n);
}

static char *
sha256_hex (const void *buf, size_t len)
{
  unsigned char md[32];
  char *out = malloc (65);

  EVP_Digest (buf, len, md, NULL, EVP_sha256 (), NULL);
  for (int i = 0; i < 32; i++)
    sprintf (out + 2 * i, "%02x", md[i]);
  return out;
}

static char *
fmt (const char *f, ...)
{
  va_list ap;
  char *s;

  va_start (ap, f);
  if (vasprintf (&s, f, ap) < 0)
    s = NULL;
  va_end (ap);
  return s;
}

/* A manifest and its digest, as the registry would serve them. */
static const char manifest_a[] = "{\"schemaVersion\":2,\"layers\":[\"a\"]}";
static const char manifest_b[] = "{\"schemaVersion\":2,\"layers\":[\"b\"]}";

static model_digest
digest_of (const char *m)
{
  model_digest d;
  model_digest_buffer (MODEL_DIGEST_SHA256, m, strlen (m), &d, NULL);
  return d;
}

static char *
cosign_payload (const char *digest, const char *ref)
{
  return fmt ("{\"critical\":{\"identity\":{\"docker-reference\":\"%s\"},"
              "\"image\":{\"docker-manifest-digest\":\"%s\"},\"type\":"
              "\"cosign container image signature\"},\"optional\":null}",
              ref, digest);
}

/* Add a found signature of FORMAT with BLOB (copied) and, when ANN is not
 * NULL, annotations ANN = VALUE pairs (NULL-terminated). */
static void
add_sig (model_sig_list *l, enum model_sig_format f, const char *blob, ...)
{
  model_signature *s = model_sig_list_add (l, NULL);
  va_list ap;
  const char *k;

  s->format = f;
  s->media_type
      = strdup (f == MODEL_SIG_COSIGN ? MODEL_SIG_MEDIA_TYPE_COSIGN
                                      : MODEL_SIG_MEDIA_TYPE_BUNDLE_V03);
  s->blob_len = strlen (blob);
  s->blob = (uint8_t *)strdup (blob);
  va_start (ap, blob);
  while ((k = va_arg (ap, const char *)) != NULL)
    {
      const char *v = va_arg (ap, const char *);
      model_annotations *a = &s->annotations;
      a->v = realloc (a->v, (a->n + 1) * sizeof *a->v);
      a->v[a->n].key = strdup (k);
      a->v[a->n].value = strdup (v);
      a->n++;
    }
  va_end (ap);
}

/* A cosign simple signing of DIGEST for REF by K. */
static void
add_cosign (model_sig_list *l, EVP_PKEY *k, const char *digest, const char *ref)
{
  char *payload = cosign_payload (digest, ref);
  char *sig = sign_b64 (k, "SHA256", payload, strlen (payload));

  add_sig (l, MODEL_SIG_COSIGN, payload, MODEL_SIG_ANNOTATION_COSIGN, sig,
           NULL);
  free (payload);
  free (sig);
}

static char *
statement (const char *hex, const char *predicate)
{
  return fmt ("{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":"
              "[{\"digest\":{\"sha256\":\"%s\"},\"annotations\":{}}],"
              "\"predicateType\":\"%s\",\"predicate\":{}}",
              hex, predicate);
}

/* A DSSE bundle over STMT signed by K; MATERIAL is the verification
 * material's JSON (a publicKey hint unless given). */
static char *
dsse_bundle (EVP_PKEY *k, const char *stmt, const char *material)
{
  model_sig_bytes pae;
  char *sig, *p64, *b;

  model_dsse_pae (MODEL_INTOTO_PAYLOAD_TYPE, (const uint8_t *)stmt,
                  strlen (stmt), &pae, NULL);
  sig = sign_b64 (k, "SHA256", pae.data, pae.len);
  p64 = mp_base64_encode (stmt);
  b = fmt ("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
           "\"verificationMaterial\":%s,"
           "\"dsseEnvelope\":{\"payload\":\"%s\",\"payloadType\":"
           "\"application/vnd.in-toto+json\",\"signatures\":[{\"sig\":"
           "\"%s\"}]}}",
           material ? material : "{\"publicKey\":{\"hint\":\"aGludA==\"}}", p64,
           sig);
  free (pae.data);
  free (sig);
  free (p64);
  return b;
}

static void
add_dsse (model_sig_list *l, EVP_PKEY *k, const char *digest_str,
          const char *predicate)
{
  char *st = statement (strchr (digest_str, ':') + 1, predicate);
  char *b = dsse_bundle (k, st, NULL);

  add_sig (l, MODEL_SIG_BUNDLE, b, NULL);
  free (st);
  free (b);
}

/* A message-signature bundle over MANIFEST (its digest in the bundle). */
static void
add_message_sig (model_sig_list *l, EVP_PKEY *k, const char *manifest)
{
  model_digest d = digest_of (manifest);
  unsigned char md[32];
  char *sig = sign_b64 (k, "SHA256", manifest, strlen (manifest));
  char *dg, *b;

  EVP_Digest (manifest, strlen (manifest), md, NULL, EVP_sha256 (), NULL);
  dg = mp_base64_encode_bytes (md, 32);
  b = fmt ("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
           "\"verificationMaterial\":{\"publicKey\":{}},"
           "\"messageSignature\":{\"messageDigest\":{\"algorithm\":"
           "\"SHA2_256\",\"digest\":\"%s\"},\"signature\":\"%s\"}}",
           dg, sig);
  add_sig (l, MODEL_SIG_BUNDLE, b, NULL);
  (void)d;
  free (sig);
  free (dg);
  free (b);
}

/* ---- evaluating -------------------------------------------------------- */

static model_policy *
policy (const char *json)
{
  model_policy *p = NULL;
  mp_error err = { 0 };

  if (model_policy_parse (json, strlen (json), &p, &err) < 0)
    fprintf (stderr, "policy: %s\n", err.msg);
  return p;
}

/* Evaluate POLICY_JSON for REF (resolved to D) over SIGS: the verdict. */
static model_verdict *
evaluate (const char *policy_json, const char *ref_text, const model_digest *d,
          const model_sig_list *sigs)
{
  model_policy *p = policy (policy_json);
  model_reference ref;
  model_verdict *v = NULL;
  mp_error err = { 0 };

  if (p == NULL || model_reference_parse (ref_text, &ref, &err) < 0)
    {
      model_policy_free (p);
      return NULL;
    }
  if (model_sigpolicy_evaluate (p, "policy.json", &ref, d, sigs, &v, &err) < 0)
    fprintf (stderr, "evaluate: %s\n", err.msg);
  model_policy_free (p);
  return v;
}

/* The verdict's first requirement's reason contains NEEDLE. */
static bool
says (const model_verdict *v, const char *needle)
{
  if (v == NULL || v->n_reqs == 0 || v->reqs[0].why == NULL
      || strstr (v->reqs[0].why, needle) == NULL)
    {
      fprintf (stderr, "verdict says \"%s\", not \"%s\"\n",
               v && v->n_reqs && v->reqs[0].why ? v->reqs[0].why : "(none)",
               needle);
      return false;
    }
  return true;
}

static char *
keyed_policy (const char *key_path, const char *identity)
{
  return fmt ("{\"default\":[{\"type\":\"reject\"}],\"transports\":{"
              "\"docker\":{\"reg.example:5000/ml\":[{\"type\":"
              "\"sigstoreSigned\",\"keyPath\":\"%s\"%s%s%s}]}}}",
              key_path, identity ? ",\"signedIdentity\":{\"type\":\"" : "",
              identity ? identity : "", identity ? "\"}" : "");
}

#define REF_A "reg.example:5000/ml/model-a"

/* ---- tests --------------------------------------------------------------- */

TEST (keys_of_every_kind)
{
  static const char *const kinds[] = { "P-256", "P-384", "RSA", "Ed25519" };
  model_digest d = digest_of (manifest_a);

  for (size_t i = 0; i < 4; i++)
    {
      EVP_PKEY *k = keygen (kinds[i]), *other = keygen (kinds[i]);
      char *pol = keyed_policy (write_pub (k, "k.pub"), "matchRepository");
      model_sig_list sigs = { 0 };
      model_verdict *v;

      add_cosign (&sigs, k, d.str, REF_A);
      v = evaluate (pol, REF_A ":v1", &d, &sigs);
      REQUIRE (v != NULL);
      if (!v->accepted)
        fprintf (stderr, "%s: %s\n", kinds[i], v->reqs[0].why);
      CHECK (v->accepted);
      CHECK (v->n_reqs == 1 && v->reqs[0].n_checks == 1
             && v->reqs[0].checks[0].accepted);
      model_verdict_free (v);
      model_sig_list_clear (&sigs);

      add_dsse (&sigs, k, d.str, MODEL_COSIGN_PREDICATE_SIGN);
      v = evaluate (pol, REF_A ":v1", &d, &sigs);
      CHECK (v != NULL && v->accepted);
      model_verdict_free (v);
      model_sig_list_clear (&sigs);

      /* The same signatures by another key of the same kind. */
      add_cosign (&sigs, other, d.str, REF_A);
      add_dsse (&sigs, other, d.str, MODEL_COSIGN_PREDICATE_SIGN);
      v = evaluate (pol, REF_A ":v1", &d, &sigs);
      CHECK (v != NULL && !v->accepted);
      CHECK (says (v, "2 signatures found, none accepted"));
      CHECK (says (v, "not signed by a key the policy trusts"));
      model_verdict_free (v);
      model_sig_list_clear (&sigs);
      free (pol);
      EVP_PKEY_free (k);
      EVP_PKEY_free (other);
    }
}

TEST (message_signature)
{
  EVP_PKEY *k = keygen ("P-256");
  char *pol = keyed_policy (write_pub (k, "m.pub"), NULL);
  model_digest a = digest_of (manifest_a), b = digest_of (manifest_b);
  model_sig_list sigs = { 0 };
  model_verdict *v;

  add_message_sig (&sigs, k, manifest_a);
  v = evaluate (pol, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && v->accepted);
  model_verdict_free (v);
  /* The signature over A's manifest is not one of B's. */
  v = evaluate (pol, REF_A ":v1", &b, &sigs);
  CHECK (v != NULL && !v->accepted);
  CHECK (says (v, "it signs a message with digest"));
  model_verdict_free (v);
  model_sig_list_clear (&sigs);
  free (pol);
  EVP_PKEY_free (k);
}

TEST (other_digest_and_tampering)
{
  EVP_PKEY *k = keygen ("P-256");
  char *pol = keyed_policy (write_pub (k, "t.pub"), "matchRepository");
  model_digest a = digest_of (manifest_a), b = digest_of (manifest_b);
  model_sig_list sigs = { 0 };
  model_verdict *v;
  char *payload, *sig, *tampered;

  /* Signatures of B's digest, presented for A (copied to A's tags). */
  add_cosign (&sigs, k, b.str, REF_A);
  v = evaluate (pol, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && !v->accepted);
  CHECK (says (v, "it signs sha256:"));
  model_verdict_free (v);
  model_sig_list_clear (&sigs);
  add_dsse (&sigs, k, b.str, MODEL_COSIGN_PREDICATE_SIGN);
  v = evaluate (pol, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && !v->accepted);
  CHECK (says (v, "it signs sha256:"));
  model_verdict_free (v);
  model_sig_list_clear (&sigs);

  /* A payload changed after signing: B's digest put in A's signed
   * payload.  The signature no longer verifies. */
  payload = cosign_payload (a.str, REF_A);
  sig = sign_b64 (k, "SHA256", payload, strlen (payload));
  tampered = cosign_payload (b.str, REF_A);
  add_sig (&sigs, MODEL_SIG_COSIGN, tampered, MODEL_SIG_ANNOTATION_COSIGN, sig,
           NULL);
  v = evaluate (pol, REF_A ":v1", &b, &sigs);
  CHECK (v != NULL && !v->accepted);
  CHECK (says (v, "not signed by a key the policy trusts"));
  model_verdict_free (v);
  model_sig_list_clear (&sigs);
  free (payload);
  free (sig);
  free (tampered);

  /* An attestation is not a signature, however well signed. */
  add_dsse (&sigs, k, a.str, "https://slsa.dev/provenance/v1");
  v = evaluate (pol, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && !v->accepted);
  CHECK (says (v, "it is an attestation"));
  model_verdict_free (v);
  model_sig_list_clear (&sigs);

  /* A bundle whose DSSE payload was changed (one byte of the statement). */
  {
    char *st = statement (model_digest_hex (&a), MODEL_COSIGN_PREDICATE_SIGN);
    char *bundle = dsse_bundle (k, st, NULL);
    char *p64 = mp_base64_encode (st), *at;
    /* Change one character of the base64 payload, keeping it valid. */
    at = strstr (bundle, p64);
    at[10] = at[10] == 'A' ? 'B' : 'A';
    add_sig (&sigs, MODEL_SIG_BUNDLE, bundle, NULL);
    v = evaluate (pol, REF_A ":v1", &a, &sigs);
    CHECK (v != NULL && !v->accepted);
    CHECK (says (v, "not signed by a key the policy trusts"));
    model_verdict_free (v);
    model_sig_list_clear (&sigs);
    free (st);
    free (bundle);
    free (p64);
  }
  free (pol);
  EVP_PKEY_free (k);
}

TEST (requirements_and_absence)
{
  EVP_PKEY *k = keygen ("P-256");
  const char *kp = write_pub (k, "r.pub");
  model_digest a = digest_of (manifest_a);
  model_sig_list none = { 0 }, sigs = { 0 };
  model_verdict *v;
  char *pol;

  v = evaluate ("{\"default\":[{\"type\":\"reject\"}]}", REF_A ":v1", &a,
                &none);
  CHECK (v != NULL && !v->accepted);
  CHECK (says (v, "rejects every image"));
  CHECK_STR (v->scope, "default");
  model_verdict_free (v);
  v = evaluate ("{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}",
                REF_A ":v1", &a, &none);
  CHECK (v != NULL && v->accepted);
  model_verdict_free (v);

  pol = keyed_policy (kp, "matchRepository");
  v = evaluate (pol, REF_A ":v1", &a, &none);
  CHECK (v != NULL && !v->accepted);
  CHECK (says (v, "no cosign or Sigstore signature found for sha256:"));
  CHECK_STR (v->scope, "transports.docker[\"reg.example:5000/ml\"]");
  model_verdict_free (v);
  /* Out of the scope: the default rejects, signed or not. */
  add_cosign (&sigs, k, a.str, "other.example/ml/x");
  v = evaluate (pol, "other.example/ml/x:v1", &a, &sigs);
  CHECK (v != NULL && !v->accepted && says (v, "rejects every image"));
  model_verdict_free (v);
  model_sig_list_clear (&sigs);
  free (pol);

  /* Every requirement of a scope must hold: a signature and a second key
   * both, but not a signature and reject -- then no signature is looked
   * for (model_sigpolicy_wants), and the verdict says so. */
  add_cosign (&sigs, k, a.str, REF_A);
  {
    EVP_PKEY *k3 = keygen ("P-256");
    const char *k3p = write_pub (k3, "k3.pub");
    pol = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":"
               "\"%s\",\"signedIdentity\":{\"type\":\"matchRepository\"}},"
               "{\"type\":\"sigstoreSigned\",\"keyPath\":\"%s\","
               "\"signedIdentity\":{\"type\":\"matchRepository\"}}]}",
               kp, k3p);
    v = evaluate (pol, REF_A ":v1", &a, &sigs);
    CHECK (v != NULL && !v->accepted && v->n_reqs == 2 && v->reqs[0].satisfied
           && !v->reqs[1].satisfied);
    model_verdict_free (v);
    free (pol);
    add_cosign (&sigs, k3, a.str, REF_A);
    pol = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":"
               "\"%s\",\"signedIdentity\":{\"type\":\"matchRepository\"}},"
               "{\"type\":\"sigstoreSigned\",\"keyPath\":\"%s\","
               "\"signedIdentity\":{\"type\":\"matchRepository\"}}]}",
               kp, k3p);
    v = evaluate (pol, REF_A ":v1", &a, &sigs);
    CHECK (v != NULL && v->accepted);
    model_verdict_free (v);
    free (pol);
    EVP_PKEY_free (k3);
  }
  pol = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"%s\","
             "\"signedIdentity\":{\"type\":\"matchRepository\"}},{\"type\":"
             "\"reject\"}]}",
             kp);
  v = evaluate (pol, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && !v->accepted && v->n_reqs == 2 && !v->reqs[0].satisfied
         && !v->reqs[1].satisfied);
  CHECK (says (v, "not checked: the scope also rejects"));
  model_verdict_free (v);
  free (pol);

  /* A key file that is not there refuses (fail closed), naming it. */
  pol = keyed_policy ("/nonexistent/cosign.pub", "matchRepository");
  v = evaluate (pol, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && !v->accepted);
  CHECK (says (v, "/nonexistent/cosign.pub"));
  model_verdict_free (v);
  free (pol);

  /* keyPaths: any of the keys. */
  {
    EVP_PKEY *k2 = keygen ("P-384");
    pol = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPaths\":"
               "[\"%s\",\"%s\"],\"signedIdentity\":{\"type\":"
               "\"matchRepository\"}}]}",
               write_pub (k2, "k2.pub"), kp);
    v = evaluate (pol, REF_A ":v1", &a, &sigs);
    CHECK (v != NULL && v->accepted);
    model_verdict_free (v);
    free (pol);
    /* keyData: the PEM inline, base64. */
    char *pem = pub_pem (k), *b64 = mp_base64_encode (pem);
    pol = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\",\"keyData\":"
               "\"%s\",\"signedIdentity\":{\"type\":\"matchRepository\"}}]}",
               b64);
    v = evaluate (pol, REF_A ":v1", &a, &sigs);
    CHECK (v != NULL && v->accepted);
    model_verdict_free (v);
    free (pol);
    free (pem);
    free (b64);
    EVP_PKEY_free (k2);
  }
  model_sig_list_clear (&sigs);
  EVP_PKEY_free (k);
}

TEST (identities)
{
  EVP_PKEY *k = keygen ("P-256");
  const char *kp = write_pub (k, "i.pub");
  model_digest a = digest_of (manifest_a);
  struct
  {
    const char *identity; /* JSON */
    const char *image;
    const char *signed_ref;
    bool ok;
  } cases[] = {
    /* cosign signs the bare repository: only repository matches take it. */
    { "{\"type\":\"matchRepoDigestOrExact\"}", REF_A ":v1", REF_A, false },
    { "{\"type\":\"matchRepository\"}", REF_A ":v1", REF_A, true },
    { "{\"type\":\"matchRepository\"}", REF_A ":v1", "reg.example:5000/ml/b",
      false },
    { "{\"type\":\"matchRepoDigestOrExact\"}", REF_A ":v1", REF_A ":v1", true },
    { "{\"type\":\"matchRepoDigestOrExact\"}", REF_A ":v1", REF_A ":v2",
      false },
    { "{\"type\":\"matchExact\"}", REF_A ":v1", REF_A ":v1", true },
    { "{\"type\":\"matchExact\"}", REF_A ":v1", REF_A, false },
    { "{\"type\":\"exactRepository\",\"dockerRepository\":"
      "\"mirror.example/ml/a\"}",
      REF_A ":v1", "mirror.example/ml/a", true },
    { "{\"type\":\"exactReference\",\"dockerReference\":"
      "\"mirror.example/ml/a:v1\"}",
      REF_A ":v1", "mirror.example/ml/a:v1", true },
    { "{\"type\":\"exactReference\",\"dockerReference\":"
      "\"mirror.example/ml/a:v1\"}",
      REF_A ":v1", "mirror.example/ml/a:v2", false },
    { "{\"type\":\"remapIdentity\",\"prefix\":\"reg.example:5000/ml\","
      "\"signedPrefix\":\"upstream.example/models\"}",
      REF_A ":v1", "upstream.example/models/model-a:v1", true },
    { "{\"type\":\"remapIdentity\",\"prefix\":\"reg.example:5000/ml\","
      "\"signedPrefix\":\"upstream.example/models\"}",
      REF_A ":v1", "upstream.example/models/model-b:v1", false },
    /* Normalised as Docker does: busybox is docker.io/library/busybox. */
    { "{\"type\":\"matchRepository\"}", "docker.io/library/busybox:1",
      "busybox", true },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      model_sig_list sigs = { 0 };
      char *pol = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\","
                       "\"keyPath\":\"%s\",\"signedIdentity\":%s}]}",
                       kp, cases[i].identity);
      model_verdict *v;

      add_cosign (&sigs, k, a.str, cases[i].signed_ref);
      v = evaluate (pol, cases[i].image, &a, &sigs);
      if (v == NULL || v->accepted != cases[i].ok)
        {
          fprintf (stderr, "identity case %zu: %s signed for %s: %s\n", i,
                   cases[i].identity, cases[i].signed_ref,
                   v && v->reqs[0].why ? v->reqs[0].why : "?");
          mp_test_failed_checks++;
        }
      model_verdict_free (v);
      model_sig_list_clear (&sigs);
      free (pol);
    }
  EVP_PKEY_free (k);
}

/* A bundle names a digest only: repository-level identities take it,
 * name-level ones cannot. */
TEST (bundle_identities)
{
  EVP_PKEY *k = keygen ("P-256");
  const char *kp = write_pub (k, "bi.pub");
  model_digest a = digest_of (manifest_a);
  model_sig_list sigs = { 0 };
  static const char *const ok[]
      = { "matchRepoDigestOrExact", "matchRepository" };
  model_verdict *v;
  char *pol;

  add_dsse (&sigs, k, a.str, MODEL_COSIGN_PREDICATE_SIGN);
  for (size_t i = 0; i < 2; i++)
    {
      pol = keyed_policy (kp, ok[i]);
      v = evaluate (pol, REF_A ":v1", &a, &sigs);
      CHECK (v != NULL && v->accepted);
      model_verdict_free (v);
      free (pol);
    }
  pol = keyed_policy (kp, "matchExact");
  v = evaluate (pol, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && !v->accepted);
  CHECK (says (v, "needs a signed reference"));
  model_verdict_free (v);
  free (pol);
  model_sig_list_clear (&sigs);
  EVP_PKEY_free (k);
}

TEST (parsers_refuse)
{
  model_cosign_payload p;
  model_bundle *b = NULL;
  mp_error err = { 0 };
  const char *bad_payloads[] = {
    "[]",
    "{\"critical\":{}}",
    /* an extra field in critical */
    "{\"critical\":{\"identity\":{\"docker-reference\":\"r\"},\"image\":{"
    "\"docker-manifest-digest\":\"sha256:"
    "0000000000000000000000000000000000000000000000000000000000000000\"},"
    "\"type\":\"cosign container image signature\",\"x\":1},\"optional\":"
    "null}",
    /* another type */
    "{\"critical\":{\"identity\":{\"docker-reference\":\"r\"},\"image\":{"
    "\"docker-manifest-digest\":\"sha256:"
    "0000000000000000000000000000000000000000000000000000000000000000\"},"
    "\"type\":\"atomic container signature\"},\"optional\":null}",
    /* a bad digest */
    "{\"critical\":{\"identity\":{\"docker-reference\":\"r\"},\"image\":{"
    "\"docker-manifest-digest\":\"sha256:00\"},"
    "\"type\":\"cosign container image signature\"},\"optional\":null}",
  };

  for (size_t i = 0; i < sizeof bad_payloads / sizeof *bad_payloads; i++)
    CHECK (model_cosign_payload_parse (bad_payloads[i],
                                       strlen (bad_payloads[i]), &p, &err)
           < 0);
  {
    const char *good = "{\"critical\":{\"identity\":{\"docker-reference\":"
                       "\"r\"},\"image\":{\"docker-manifest-digest\":"
                       "\"sha256:00000000000000000000000000000000000000000"
                       "00000000000000000000000\"},\"type\":\"cosign "
                       "container image signature\"},\"optional\":{\"a\":1}}";
    CHECK (model_cosign_payload_parse (good, strlen (good), &p, &err) == 0);
    CHECK_STR (p.docker_reference, "r");
    model_cosign_payload_clear (&p);
  }
  const char *bad_bundles[] = {
    "{}",
    "{\"mediaType\":\"application/json\"}",
    /* no content */
    "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
    "\"verificationMaterial\":{\"publicKey\":{}}}",
    /* both contents */
    "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
    "\"verificationMaterial\":{\"publicKey\":{}},\"messageSignature\":{},"
    "\"dsseEnvelope\":{}}",
    /* a signature that is not base64 */
    "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
    "\"verificationMaterial\":{\"publicKey\":{}},\"dsseEnvelope\":{"
    "\"payload\":\"e30=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":"
    "\"!!\"}]}}",
    /* duplicate keys */
    "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
    "\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}",
  };
  for (size_t i = 0; i < sizeof bad_bundles / sizeof *bad_bundles; i++)
    {
      CHECK (
          model_bundle_parse (bad_bundles[i], strlen (bad_bundles[i]), &b, &err)
          < 0);
      CHECK (strncmp (err.msg, "Sigstore bundle", 15) == 0);
    }
}

TEST (pae)
{
  model_sig_bytes out;

  /* The example of the DSSE specification's protocol document. */
  REQUIRE (model_dsse_pae ("http://example.com/HelloWorld",
                           (const uint8_t *)"hello world", 11, &out, NULL)
           == 0);
  CHECK (out.len
         == strlen ("DSSEv1 29 http://example.com/HelloWorld 11 "
                    "hello world"));
  CHECK (memcmp (out.data,
                 "DSSEv1 29 http://example.com/HelloWorld 11 hello world",
                 out.len)
         == 0);
  free (out.data);
}

TEST (key_files)
{
  EVP_PKEY *small = keygen ("RSA-1024"), *k = keygen ("P-256");
  model_pubkey **keys = NULL;
  size_t n = 0;
  mp_error err = { 0 };
  char *pem = pub_pem (small), *two, *kp = pub_pem (k);
  char hint[64];

  CHECK (model_pubkeys_from_pem (pem, strlen (pem), "key x", &keys, &n, &err)
         < 0);
  CHECK (strstr (err.msg, "at least 2048") != NULL);
  CHECK (model_pubkeys_from_pem ("hello", 5, "key y", &keys, &n, &err) < 0);
  CHECK (strstr (err.msg, "no PEM public key") != NULL);
  {
    const char *priv = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
                       "KEY-----\n";
    CHECK (
        model_pubkeys_from_pem (priv, strlen (priv), "key z", &keys, &n, &err)
        < 0);
    CHECK (strstr (err.msg, "private key") != NULL);
  }
  two = fmt ("%s%s", kp, kp);
  CHECK (model_pubkeys_from_pem (two, strlen (two), "key w", &keys, &n, &err)
         == 0);
  CHECK (n == 2);
  /* The hint a bundle names a key by: base64 SHA-256 of its DER. */
  CHECK (model_pubkey_hint (keys[0], hint, sizeof hint, &err) == 0);
  {
    unsigned char *der = NULL, md[32];
    int len = i2d_PUBKEY (k, &der);
    char *want;
    EVP_Digest (der, (size_t)len, md, NULL, EVP_sha256 (), NULL);
    want = mp_base64_encode_bytes (md, 32);
    CHECK_STR (hint, want);
    free (want);
    OPENSSL_free (der);
  }
  CHECK_STR (model_pubkey_kind (keys[0]), "ECDSA P-256");
  model_pubkeys_free (keys, n);
  free (pem);
  free (two);
  free (kp);
  EVP_PKEY_free (small);
  EVP_PKEY_free (k);
}

/* ---- Rekor and fulcio -----------------------------------------------------
 */

/* A log entry promise for SIG_B64 over a payload with SHA-256 SUM, signed
 * by REKOR at TIME: the legacy annotation's JSON, and (through *ENTRY)
 * a bundle tlogEntries element. */
static char *
promise (EVP_PKEY *rekor, const char *sig_b64, const char *sum, long time,
         char **entry)
{
  char *body = fmt ("{\"apiVersion\":\"0.0.1\",\"kind\":\"hashedrekord\","
                    "\"spec\":{\"data\":{\"hash\":{\"algorithm\":\"sha256\","
                    "\"value\":\"%s\"}},\"signature\":{\"content\":\"%s\"}}}",
                    sum, sig_b64);
  char *body64 = mp_base64_encode (body);
  const char *log_id_hex
      = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";
  char *msg = fmt ("{\"body\":\"%s\",\"integratedTime\":%ld,\"logID\":\"%s\","
                   "\"logIndex\":7}",
                   body64, time, log_id_hex);
  char *set = sign_b64 (rekor, "SHA256", msg, strlen (msg));
  unsigned char id[32];
  char *id64, *legacy;

  for (int i = 0; i < 32; i++)
    sscanf (log_id_hex + 2 * i, "%2hhx", &id[i]);
  id64 = mp_base64_encode_bytes (id, 32);
  legacy = fmt ("{\"SignedEntryTimestamp\":\"%s\",\"Payload\":{\"body\":"
                "\"%s\",\"integratedTime\":%ld,\"logIndex\":7,\"logID\":"
                "\"%s\"}}",
                set, body64, time, log_id_hex);
  if (entry)
    *entry = fmt ("{\"logIndex\":\"7\",\"logId\":{\"keyId\":\"%s\"},"
                  "\"kindVersion\":{\"kind\":\"hashedrekord\",\"version\":"
                  "\"0.0.1\"},\"integratedTime\":\"%ld\",\"inclusionPromise\":"
                  "{\"signedEntryTimestamp\":\"%s\"},\"canonicalizedBody\":"
                  "\"%s\"}",
                  id64, time, set, body64);
  free (body);
  free (body64);
  free (msg);
  free (set);
  free (id64);
  return legacy;
}

TEST (rekor_promise)
{
  EVP_PKEY *k = keygen ("P-256"), *rekor = keygen ("P-256"),
           *other = keygen ("P-256");
  const char *kp = write_pub (k, "rk.pub");
  const char *rp = write_pub (rekor, "rekor.pub");
  const char *op = write_pub (other, "other-rekor.pub");
  model_digest a = digest_of (manifest_a);
  char *payload = cosign_payload (a.str, REF_A);
  char *sig = sign_b64 (k, "SHA256", payload, strlen (payload));
  char *sum = sha256_hex (payload, strlen (payload));
  char *legacy = promise (rekor, sig, sum, 1700000000L, NULL);
  char *pol, *pol_other;
  model_sig_list sigs = { 0 };
  model_verdict *v;

  pol = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"%s\","
             "\"rekorPublicKeyPath\":\"%s\",\"signedIdentity\":{\"type\":"
             "\"matchRepository\"}}]}",
             kp, rp);
  pol_other = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":"
                   "\"%s\",\"rekorPublicKeyPath\":\"%s\",\"signedIdentity\":"
                   "{\"type\":\"matchRepository\"}}]}",
                   kp, op);
  /* Logged: accepted; the promise under another log's key: refused. */
  add_sig (&sigs, MODEL_SIG_COSIGN, payload, MODEL_SIG_ANNOTATION_COSIGN, sig,
           MODEL_SIG_ANNOTATION_REKOR, legacy, NULL);
  v = evaluate (pol, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && v->accepted);
  model_verdict_free (v);
  v = evaluate (pol_other, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && !v->accepted
         && says (v, "does not verify with the "
                     "policy's Rekor key"));
  model_verdict_free (v);
  model_sig_list_clear (&sigs);
  /* Not logged (cosign sign --tlog-upload=false): refused. */
  add_cosign (&sigs, k, a.str, REF_A);
  v = evaluate (pol, REF_A ":v1", &a, &sigs);
  CHECK (v != NULL && !v->accepted && says (v, "requires a Rekor log entry"));
  model_verdict_free (v);
  model_sig_list_clear (&sigs);
  /* A promise about another signature. */
  {
    char *sig2 = sign_b64 (k, "SHA256", payload, strlen (payload));
    add_sig (&sigs, MODEL_SIG_COSIGN, payload, MODEL_SIG_ANNOTATION_COSIGN,
             sig2, MODEL_SIG_ANNOTATION_REKOR, legacy, NULL);
    v = evaluate (pol, REF_A ":v1", &a, &sigs);
    CHECK (v != NULL && !v->accepted && says (v, "about another signature"));
    model_verdict_free (v);
    model_sig_list_clear (&sigs);
    free (sig2);
  }
  free (pol);
  free (pol_other);
  free (payload);
  free (sig);
  free (sum);
  free (legacy);
  EVP_PKEY_free (k);
  EVP_PKEY_free (rekor);
  EVP_PKEY_free (other);
}

/* A certificate for SUBJECT_KEY signed by ISSUER_KEY (self-signed when
 * ISSUER is NULL), valid from NOT_BEFORE for SECONDS, with an email SAN
 * and the Fulcio issuer extension when given. */
static X509 *
cert (EVP_PKEY *subject_key, EVP_PKEY *issuer_key, X509 *issuer,
      long not_before, long seconds, const char *email, const char *oidc,
      bool ca)
{
  X509 *x = X509_new ();
  X509V3_CTX ctx;
  X509_EXTENSION *ext;
  X509_NAME *name = X509_NAME_new ();

  X509_set_version (x, 2);
  ASN1_INTEGER_set (X509_get_serialNumber (x), ca ? 1 : 2);
  X509_time_adj_ex (X509_getm_notBefore (x), 0, 0, (time_t *)&not_before);
  {
    time_t end = not_before + seconds;
    X509_time_adj_ex (X509_getm_notAfter (x), 0, 0, &end);
  }
  X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_ASC,
                              (const unsigned char *)(ca ? "test CA" : ""), -1,
                              -1, 0);
  X509_set_subject_name (x, name);
  X509_set_issuer_name (x, issuer ? X509_get_subject_name (issuer) : name);
  X509_NAME_free (name);
  X509_set_pubkey (x, subject_key);
  X509V3_set_ctx (&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
  if (ca)
    {
      ext = X509V3_EXT_conf_nid (NULL, &ctx, NID_basic_constraints,
                                 "critical,CA:TRUE");
      X509_add_ext (x, ext, -1);
      X509_EXTENSION_free (ext);
      ext = X509V3_EXT_conf_nid (NULL, &ctx, NID_key_usage,
                                 "critical,keyCertSign");
      X509_add_ext (x, ext, -1);
      X509_EXTENSION_free (ext);
    }
  if (email)
    {
      char *san = fmt ("email:%s", email);
      ext = X509V3_EXT_conf_nid (NULL, &ctx, NID_subject_alt_name, san);
      X509_add_ext (x, ext, -1);
      X509_EXTENSION_free (ext);
      free (san);
    }
  if (oidc)
    {
      /* 1.3.6.1.4.1.57264.1.8: a DER UTF8String. */
      ASN1_OBJECT *obj = OBJ_txt2obj ("1.3.6.1.4.1.57264.1.8", 1);
      ASN1_UTF8STRING *u = ASN1_UTF8STRING_new ();
      ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new ();
      unsigned char *der = NULL;
      int len;

      ASN1_STRING_set (u, oidc, -1);
      len = i2d_ASN1_UTF8STRING (u, &der);
      ASN1_OCTET_STRING_set (os, der, len);
      ext = X509_EXTENSION_create_by_OBJ (NULL, obj, 0, os);
      X509_add_ext (x, ext, -1);
      X509_EXTENSION_free (ext);
      ASN1_OBJECT_free (obj);
      ASN1_UTF8STRING_free (u);
      ASN1_OCTET_STRING_free (os);
      OPENSSL_free (der);
    }
  X509_sign (x, issuer_key, EVP_sha256 ());
  return x;
}

static char *
cert_pem (X509 *x)
{
  BIO *b = BIO_new (BIO_s_mem ());
  char *data, *out;
  long n;

  PEM_write_bio_X509 (b, x);
  n = BIO_get_mem_data (b, &data);
  out = strndup (data, (size_t)n);
  BIO_free (b);
  return out;
}

static char *
cert_der_b64 (X509 *x)
{
  unsigned char *der = NULL;
  int n = i2d_X509 (x, &der);
  char *out = mp_base64_encode_bytes (der, (size_t)n);

  OPENSSL_free (der);
  return out;
}

TEST (fulcio)
{
  const long t0 = 1700000000L;
  EVP_PKEY *ca_key = keygen ("P-256"), *leaf_key = keygen ("P-256"),
           *rekor = keygen ("P-256");
  X509 *ca
      = cert (ca_key, ca_key, NULL, t0 - 86400, 10 * 86400, NULL, NULL, true);
  X509 *leaf = cert (leaf_key, ca_key, ca, t0, 600, "dev@example.com",
                     "https://issuer.example", false);
  char *ca_pem = cert_pem (ca), *leaf_pem = cert_pem (leaf);
  char ca_path[300];
  const char *rp = write_pub (rekor, "f-rekor.pub");
  model_digest a = digest_of (manifest_a);
  char *payload = cosign_payload (a.str, REF_A);
  char *sig = sign_b64 (leaf_key, "SHA256", payload, strlen (payload));
  char *sum = sha256_hex (payload, strlen (payload));
  model_sig_list sigs = { 0 };
  model_verdict *v;
  FILE *f;

  snprintf (ca_path, sizeof ca_path, "%s/ca.pem", tmpdir);
  f = fopen (ca_path, "w");
  fputs (ca_pem, f);
  fclose (f);
  struct
  {
    long when;
    const char *email, *issuer;
    const char *needle; /* NULL: accepted */
  } cases[] = {
    { t0 + 60, "dev@example.com", "https://issuer.example", NULL },
    /* Logged after the ten minutes the certificate lived. */
    { t0 + 3600, "dev@example.com", "https://issuer.example",
      "does not chain to the fulcio CA" },
    { t0 + 60, "other@example.com", "https://issuer.example",
      "does not name the email" },
    { t0 + 60, "dev@example.com", "https://other.example",
      "OIDC issuer is \"https://issuer.example\"" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      char *legacy = promise (rekor, sig, sum, cases[i].when, NULL);
      char *pol = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\","
                       "\"fulcio\":{\"caPath\":\"%s\",\"oidcIssuer\":\"%s\","
                       "\"subjectEmail\":\"%s\"},\"rekorPublicKeyPath\":"
                       "\"%s\",\"signedIdentity\":{\"type\":"
                       "\"matchRepository\"}}]}",
                       ca_path, cases[i].issuer, cases[i].email, rp);

      add_sig (&sigs, MODEL_SIG_COSIGN, payload, MODEL_SIG_ANNOTATION_COSIGN,
               sig, MODEL_SIG_ANNOTATION_REKOR, legacy,
               MODEL_SIG_ANNOTATION_CERT, leaf_pem, NULL);
      v = evaluate (pol, REF_A ":v1", &a, &sigs);
      REQUIRE (v != NULL);
      if (cases[i].needle == NULL)
        {
          if (!v->accepted)
            fprintf (stderr, "fulcio case %zu: %s\n", i, v->reqs[0].why);
          CHECK (v->accepted);
        }
      else
        CHECK (!v->accepted && says (v, cases[i].needle));
      model_verdict_free (v);
      model_sig_list_clear (&sigs);
      free (legacy);
      free (pol);
    }
  /* The same through a DSSE bundle with the certificate as material. */
  {
    char *st = statement (model_digest_hex (&a), MODEL_COSIGN_PREDICATE_SIGN);
    model_sig_bytes pae;
    char *dsig, *entry = NULL, *legacy, *material, *bundle, *p64;
    char *pol = fmt ("{\"default\":[{\"type\":\"sigstoreSigned\",\"fulcio\":"
                     "{\"caPath\":\"%s\",\"oidcIssuer\":"
                     "\"https://issuer.example\",\"subjectEmail\":"
                     "\"dev@example.com\"},\"rekorPublicKeyPath\":\"%s\"}]}",
                     ca_path, rp);
    char *c64 = cert_der_b64 (leaf), *psum;

    model_dsse_pae (MODEL_INTOTO_PAYLOAD_TYPE, (const uint8_t *)st, strlen (st),
                    &pae, NULL);
    dsig = sign_b64 (leaf_key, "SHA256", pae.data, pae.len);
    psum = sha256_hex (st, strlen (st));
    legacy = promise (rekor, dsig, psum, t0 + 30, &entry);
    material = fmt ("{\"certificate\":{\"rawBytes\":\"%s\"},\"tlogEntries\":"
                    "[%s]}",
                    c64, entry);
    p64 = mp_base64_encode (st);
    bundle = fmt ("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3"
                  "+json\",\"verificationMaterial\":%s,\"dsseEnvelope\":{"
                  "\"payload\":\"%s\",\"payloadType\":\"application/"
                  "vnd.in-toto+json\",\"signatures\":[{\"sig\":\"%s\"}]}}",
                  material, p64, dsig);
    add_sig (&sigs, MODEL_SIG_BUNDLE, bundle, NULL);
    v = evaluate (pol, REF_A ":v1", &a, &sigs);
    REQUIRE (v != NULL);
    if (!v->accepted)
      fprintf (stderr, "fulcio bundle: %s\n", v->reqs[0].why);
    CHECK (v->accepted);
    CHECK (v->accepted && strstr (v->reqs[0].why, "dev@example.com") != NULL);
    model_verdict_free (v);
    model_sig_list_clear (&sigs);
    free (st);
    free (pae.data);
    free (dsig);
    free (entry);
    free (legacy);
    free (material);
    free (bundle);
    free (p64);
    free (pol);
    free (c64);
    free (psum);
  }
  free (ca_pem);
  free (leaf_pem);
  free (payload);
  free (sig);
  free (sum);
  X509_free (ca);
  X509_free (leaf);
  EVP_PKEY_free (ca_key);
  EVP_PKEY_free (leaf_key);
  EVP_PKEY_free (rekor);
}

TEST (verdict_error)
{
  model_digest a = digest_of (manifest_a);
  model_sig_list none = { 0 };
  model_verdict *v
      = evaluate ("{\"default\":[{\"type\":\"insecureAcceptAnything\"}],"
                  "\"transports\":{\"docker\":{\"reg.example:5000\":[{"
                  "\"type\":\"reject\"}]}}}",
                  REF_A ":v1", &a, &none);
  mp_error err = { 0 };

  REQUIRE (v != NULL && !v->accepted);
  CHECK (model_verdict_error (v, &err) == -1);
  CHECK (err.code == MP_ERR_POLICY_REFUSED);
  CHECK (strstr (err.msg, REF_A ":v1") != NULL);
  CHECK (strstr (err.msg, "scope transports.docker[\"reg.example:5000\"]")
         != NULL);
  CHECK (strstr (err.msg, "rejects every image") != NULL);
  CHECK (strstr (err.msg, a.str) != NULL);
  model_verdict_free (v);
}

/* A requirement's refused signatures in one line, the accepted left out
 * (what a Notation refusal says: expired, not chaining, ...). */
TEST (verdict_reasons)
{
  mp_error err = { 0 };
  model_verdict *v
      = model_verdict_new ("reg/m:1", "sha256:ab", NULL, "default", &err);
  model_verdict_req *r;
  char buf[256], small[20];

  REQUIRE (v != NULL);
  r = model_verdict_add_req (v, "a Notation signature", &err);
  REQUIRE (r != NULL);
  CHECK (model_verdict_reasons (r, buf, sizeof buf) == 0);
  CHECK (strcmp (buf, "") == 0);
  REQUIRE (model_verdict_check (r, 0, false, &err, "authenticity: %s",
                                "no trusted root")
           == 0);
  REQUIRE (model_verdict_check (r, 1, true, &err, "signed by x") == 0);
  REQUIRE (model_verdict_check (r, 2, false, &err, "expired") == 0);
  CHECK (model_verdict_reasons (r, buf, sizeof buf) == 2);
  CHECK (strcmp (buf, "#1: authenticity: no trusted root; #3: expired") == 0);
  /* Cut short, still terminated, still counting every refusal. */
  CHECK (model_verdict_reasons (r, small, sizeof small) == 2);
  CHECK (strcmp (small, "#1: authenticity: n") == 0);
  CHECK (model_verdict_reasons (r, small, 1) == 2);
  CHECK (small[0] == '\0');
  model_verdict_free (v);
}

TEST_MAIN (T (keys_of_every_kind), T (message_signature),
           T (other_digest_and_tampering), T (requirements_and_absence),
           T (identities), T (bundle_identities), T (parsers_refuse), T (pae),
           T (key_files), T (rekor_promise), T (fulcio), T (verdict_error),
           T (verdict_reasons))
