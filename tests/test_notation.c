/* Notation verification (model/notation.h, notation_policy.h,
 * notation_envelope.h).
 *
 * Two sources of envelopes:
 *  - tests/data/notation/: made by the real `notation` 1.3 against a local
 *    registry (tests/data/notation/make.sh regenerates them): JWS and COSE
 *    by a three-certificate chain (root.crt), and by notation's own
 *    generate-test certificate (testca.crt, valid one day: these are
 *    verified at their signing time, and a day later to see it expired);
 *  - forged here with OpenSSL: certificates and envelopes notation would
 *    not make (expired or misused certificates, foreign chains, other
 *    schemes, broken headers). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "model/digest.h"
#include "model/notation.h"
#include "util/base64.h"
#include "util/fsutil.h"

#define DATA "tests/data/notation/"
#define REPO "registry.example.com:5000/ml/model"
#define MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"

/* ---- files and configurations --------------------------------------- */

static uint8_t *
slurp (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  uint8_t *buf;
  long n;

  if (f == NULL)
    return NULL;
  fseek (f, 0, SEEK_END);
  n = ftell (f);
  rewind (f);
  buf = malloc ((size_t)n + 1);
  if (buf != NULL && fread (buf, 1, (size_t)n, f) != (size_t)n)
    {
      free (buf);
      buf = NULL;
    }
  fclose (f);
  if (buf != NULL)
    {
      buf[n] = '\0';
      *len = (size_t)n;
    }
  return buf;
}

static void
put_file (const char *dir, const char *rel, const void *data, size_t len)
{
  char path[512], *slash;
  FILE *f;
  mp_error err;

  snprintf (path, sizeof path, "%s/%s", dir, rel);
  slash = strrchr (path, '/');
  *slash = '\0';
  mp_mkdir_p (path, 0755, &err);
  *slash = '/';
  f = fopen (path, "wb");
  if (f == NULL)
    {
      fprintf (stderr, "cannot write %s\n", path);
      return;
    }
  fwrite (data, 1, len, f);
  fclose (f);
}

static void
put_text (const char *dir, const char *rel, const char *text)
{
  put_file (dir, rel, text, strlen (text));
}

static void
put_cert (const char *dir, const char *rel, X509 *x)
{
  BIO *b = BIO_new (BIO_s_mem ());
  char *data;
  long n;

  PEM_write_bio_X509 (b, x);
  n = BIO_get_mem_data (b, &data);
  put_file (dir, rel, data, (size_t)n);
  BIO_free (b);
}

static void
copy_data (const char *dir, const char *rel, const char *data_file)
{
  size_t n;
  uint8_t *b = slurp (data_file, &n);

  if (b != NULL)
    put_file (dir, rel, b, n);
  free (b);
}

/* A fresh configuration directory; removed by drop_dir. */
static char *
new_dir (void)
{
  char *d = strdup ("/tmp/mp-notation-XXXXXX");

  if (d != NULL && mkdtemp (d) == NULL)
    {
      free (d);
      return NULL;
    }
  return d;
}

static void
drop_dir (char *d)
{
  mp_error err;

  if (d != NULL)
    mp_rmtree_at (AT_FDCWD, d, &err);
  free (d);
}

/* trustpolicy.json with one statement for scope. */
static char *
policy_one (const char *scope, const char *level, const char *stores,
            const char *identities)
{
  char *s = NULL;

  if (asprintf (&s,
                "{\"version\": \"1.0\", \"trustPolicies\": [{\"name\": "
                "\"test\", \"registryScopes\": [\"%s\"], "
                "\"signatureVerification\": {%s}, \"trustStores\": [%s], "
                "\"trustedIdentities\": [%s]}]}",
                scope, level, stores, identities)
      < 0)
    return NULL;
  return s;
}

static notation_config *
load (const char *dir)
{
  notation_config *c = NULL;
  mp_error err;

  if (notation_config_load (dir, &c, &err) < 0)
    {
      fprintf (stderr, "unexpected load error: %s\n", err.msg);
      return NULL;
    }
  return c;
}

/* The real data's target. */
struct target
{
  model_digest digest;
  int64_t size;
};

static struct target
manifest_target (void)
{
  struct target t = { 0 };
  size_t n = 0;
  uint8_t *m = slurp (DATA "manifest.json", &n);
  mp_error err;

  if (m != NULL)
    model_digest_buffer (MODEL_DIGEST_SHA256, m, n, &t.digest, &err);
  t.size = (int64_t)n;
  free (m);
  return t;
}

static const char *
media_of (const char *path)
{
  return strstr (path, ".cose") ? NOTATION_MEDIA_TYPE_COSE
                                : NOTATION_MEDIA_TYPE_JWS;
}

/* The signing time inside an envelope, from the parser. */
static int64_t
signed_at (const char *media, const uint8_t *b, size_t n)
{
  notation_envelope *e = NULL;
  mp_error err;
  int64_t t;

  if (notation_envelope_parse (media, b, n, &e, &err) < 0)
    {
      fprintf (stderr, "parse: %s\n", err.msg);
      return 0;
    }
  t = e->signing_time.sec;
  notation_envelope_free (e);
  return t;
}

/* Verify bytes against the real target at time now. */
static notation_verdict
verify_bytes (const notation_config *c, const char *repo, const char *media,
              const uint8_t *b, size_t n, int64_t now)
{
  struct target t = manifest_target ();
  notation_verdict v;
  mp_error err;

  memset (&v, 0, sizeof v);
  if (notation_verify (c, repo, t.digest.str, t.size, MANIFEST_TYPE, media, b,
                       n, now, &v, &err)
      < 0)
    {
      fprintf (stderr, "notation_verify failed: %s\n", err.msg);
      strcpy (v.reason, "(call failed)");
    }
  return v;
}

/* Verify a data file at its signing time plus delta seconds. */
static notation_verdict
verify_file (const notation_config *c, const char *file, int64_t delta)
{
  size_t n = 0;
  uint8_t *b = slurp (file, &n);
  notation_verdict v;

  memset (&v, 0, sizeof v);
  if (b == NULL)
    {
      fprintf (stderr, "missing %s\n", file);
      strcpy (v.reason, "(missing file)");
      return v;
    }
  v = verify_bytes (c, REPO, media_of (file), b, n,
                    signed_at (media_of (file), b, n) + delta);
  free (b);
  return v;
}

static bool
starts (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

static void
show (const char *what, const notation_verdict *v)
{
  if (getenv ("MP_TEST_VERBOSE"))
    fprintf (stderr, "%s: ok=%d reason=[%s] logged=[%s]\n", what, v->ok,
             v->reason, v->logged);
}

/* A configuration trusting the real data's two roots under one statement
 * for REPO at level (a signatureVerification body). */
static char *
real_config (const char *level, const char *identities)
{
  char *d = new_dir ();
  char *p;

  if (d == NULL)
    return NULL;
  copy_data (d, "truststore/x509/ca/chain/root.crt", DATA "root.crt");
  copy_data (d, "truststore/x509/ca/testca/testca.crt", DATA "testca.crt");
  p = policy_one (REPO, level, "\"ca:chain\", \"ca:testca\"",
                  identities ? identities : "\"*\"");
  put_text (d, "trustpolicy.json", p);
  free (p);
  return d;
}

/* ---- real notation envelopes ---------------------------------------- */

TEST (real_envelopes_verify)
{
  char *d = real_config ("\"level\": \"strict\"", NULL);
  notation_config *c = load (d);
  static const char *const files[]
      = { DATA "chain.jws", DATA "chain.cose", DATA "testca.jws",
          DATA "testca.cose", DATA "chain-expiry.jws" };

  REQUIRE (c != NULL);
  CHECK (notation_config_warnings (c) == NULL);
  for (size_t i = 0; i < sizeof files / sizeof *files; i++)
    {
      notation_verdict v = verify_file (c, files[i], 60);

      show (files[i], &v);
      CHECK (v.applies && !v.skipped);
      CHECK (v.ok);
      CHECK_STR (v.reason, "");
      CHECK_STR (v.logged, "");
      CHECK_STR (v.policy, "test");
      CHECK (v.level == NOTATION_LEVEL_STRICT);
    }
  {
    notation_verdict v = verify_file (c, DATA "chain.jws", 60);

    CHECK_STR (v.signer,
               "CN=Model Signer,O=Modelpack Test,L=Seattle,ST=WA,C=US");
  }
  notation_config_free (c);
  drop_dir (d);
}

TEST (real_envelope_details)
{
  size_t n = 0;
  uint8_t *b = slurp (DATA "chain.cose", &n);
  notation_envelope *e = NULL;
  mp_error err;
  notation_target t;

  REQUIRE (b != NULL);
  REQUIRE (notation_envelope_parse (NOTATION_MEDIA_TYPE_COSE, b, n, &e, &err)
           == 0);
  CHECK (e->format == NOTATION_FORMAT_COSE);
  CHECK (e->alg == NOTATION_ALG_ES256);
  CHECK (e->scheme == NOTATION_SCHEME_X509);
  CHECK (e->n_certs == 3);
  CHECK (!e->has_expiry && !e->has_timestamp);
  CHECK (e->verification_plugin == NULL);
  CHECK (e->signing_agent != NULL && starts (e->signing_agent, "notation-go/"));
  CHECK_STR (e->content_type, NOTATION_PAYLOAD_TYPE);
  REQUIRE (notation_payload_target (&e->payload, &t, &err) == 0);
  CHECK_STR (t.digest, manifest_target ().digest.str);
  CHECK_STR (t.media_type, MANIFEST_TYPE);
  notation_target_clear (&t);
  notation_envelope_free (e);
  free (b);

  b = slurp (DATA "testca.jws", &n);
  REQUIRE (b != NULL);
  REQUIRE (notation_envelope_parse (NOTATION_MEDIA_TYPE_JWS, b, n, &e, &err)
           == 0);
  CHECK (e->alg == NOTATION_ALG_PS256 && e->n_certs == 1);
  notation_envelope_free (e);
  free (b);

  b = slurp (DATA "chain-expiry.jws", &n);
  REQUIRE (b != NULL);
  REQUIRE (notation_envelope_parse (NOTATION_MEDIA_TYPE_JWS, b, n, &e, &err)
           == 0);
  CHECK (e->has_expiry && e->expiry.sec == e->signing_time.sec + 3600);
  notation_envelope_free (e);
  free (b);
}

TEST (expired_certificate_real)
{
  char *strict = real_config ("\"level\": \"strict\"", NULL);
  char *perm = real_config ("\"level\": \"permissive\"", NULL);
  notation_config *cs = load (strict), *cp = load (perm);
  notation_verdict v;

  REQUIRE (cs != NULL && cp != NULL);
  /* generate-test's certificate lives one day. */
  v = verify_file (cs, DATA "testca.jws", 2 * 86400);
  show ("testca strict +2d", &v);
  CHECK (!v.ok);
  CHECK (starts (v.reason,
                 "authenticTimestamp: verification time is after "
                 "certificate \"CN=testca,O=Notary,L=Seattle,ST=WA,C=US\" "
                 "validity period, it was expired at "));
  v = verify_file (cs, DATA "testca.cose", 2 * 86400);
  CHECK (!v.ok && starts (v.reason, "authenticTimestamp:"));
  /* permissive only logs it. */
  v = verify_file (cp, DATA "testca.jws", 2 * 86400);
  show ("testca permissive +2d", &v);
  CHECK (v.ok);
  CHECK (starts (v.logged, "authenticTimestamp: verification time is after"));
  /* Before it was valid. */
  v = verify_file (cs, DATA "testca.jws", -86400);
  CHECK (!v.ok && strstr (v.reason, "is before certificate") != NULL);
  notation_config_free (cs);
  notation_config_free (cp);
  drop_dir (strict);
  drop_dir (perm);
}

TEST (signature_expiry_real)
{
  char *strict = real_config ("\"level\": \"strict\"", NULL);
  char *perm = real_config ("\"level\": \"permissive\"", NULL);
  char *over = real_config (
      "\"level\": \"strict\", \"override\": {\"expiry\": \"log\"}", NULL);
  notation_config *cs = load (strict), *cp = load (perm), *co = load (over);
  notation_verdict v;

  REQUIRE (cs != NULL && cp != NULL && co != NULL);
  /* --expiry 1h: fine for an hour, not a second longer. */
  v = verify_file (cs, DATA "chain-expiry.jws", 3599);
  CHECK (v.ok);
  v = verify_file (cs, DATA "chain-expiry.jws", 3600);
  show ("expiry strict", &v);
  CHECK (!v.ok);
  CHECK (starts (v.reason, "expiry: the signature expired at "));
  v = verify_file (cp, DATA "chain-expiry.jws", 7200);
  CHECK (v.ok && starts (v.logged, "expiry: the signature expired"));
  v = verify_file (co, DATA "chain-expiry.jws", 7200);
  CHECK (v.ok && starts (v.logged, "expiry:"));
  notation_config_free (cs);
  notation_config_free (cp);
  notation_config_free (co);
  drop_dir (strict);
  drop_dir (perm);
  drop_dir (over);
}

TEST (other_manifest)
{
  char *d = real_config ("\"level\": \"audit\"", NULL);
  notation_config *c = load (d);
  struct target t = manifest_target ();
  size_t n = 0;
  uint8_t *b = slurp (DATA "chain.jws", &n);
  int64_t now = signed_at (NOTATION_MEDIA_TYPE_JWS, b, n) + 60;
  notation_verdict v;
  mp_error err;
  static const char other[] = "sha256:"
                              "0000000000000000000000000000000000000000000000"
                              "000000000000000000";

  REQUIRE (c != NULL && b != NULL);
  /* Even audit, which logs nearly everything, enforces the target. */
  CHECK (notation_verify (c, REPO, other, t.size, MANIFEST_TYPE,
                          NOTATION_MEDIA_TYPE_JWS, b, n, now, &v, &err)
         == 0);
  show ("other digest", &v);
  CHECK (!v.ok);
  CHECK (starts (v.reason, "content descriptor mismatch: the signature is for "
                           "\"sha256:"));
  CHECK (notation_verify (c, REPO, t.digest.str, t.size + 1, MANIFEST_TYPE,
                          NOTATION_MEDIA_TYPE_JWS, b, n, now, &v, &err)
         == 0);
  CHECK (!v.ok && starts (v.reason, "content descriptor mismatch"));
  CHECK (notation_verify (c, REPO, t.digest.str, t.size,
                          "application/vnd.oci.image.index.v1+json",
                          NOTATION_MEDIA_TYPE_JWS, b, n, now, &v, &err)
         == 0);
  CHECK (!v.ok && starts (v.reason, "content descriptor mismatch"));
  CHECK (notation_verify (c, REPO, t.digest.str, t.size, MANIFEST_TYPE,
                          NOTATION_MEDIA_TYPE_JWS, b, n, now, &v, &err)
         == 0);
  CHECK (v.ok);
  free (b);
  notation_config_free (c);
  drop_dir (d);
}

/* JWS: replace the payload by a base64url of new text, keep the rest. */
static char *jws_with_payload (const char *jws, const char *payload_json);

TEST (tampered_real)
{
  char *d = real_config ("\"level\": \"audit\"", NULL);
  notation_config *c = load (d);
  size_t n = 0, m = 0;
  uint8_t *jws = slurp (DATA "chain.jws", &n);
  uint8_t *cose = slurp (DATA "chain.cose", &m);
  struct target t = manifest_target ();
  int64_t now;
  notation_verdict v;
  char *other, *payload;
  uint8_t *hit;

  REQUIRE (c != NULL && jws != NULL && cose != NULL);
  now = signed_at (NOTATION_MEDIA_TYPE_JWS, jws, n) + 60;

  /* A payload naming our manifest, but not the one that was signed:
   * integrity fails, at every level. */
  REQUIRE (asprintf (&payload,
                     "{\"targetArtifact\":{\"digest\":\"%s\",\"mediaType\":"
                     "\"%s\",\"size\":%lld}}",
                     t.digest.str, MANIFEST_TYPE, (long long)t.size + 1)
           > 0);
  other = jws_with_payload ((const char *)jws, payload);
  REQUIRE (other != NULL);
  v = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_JWS, (uint8_t *)other,
                    strlen (other), now);
  show ("tampered jws payload", &v);
  CHECK (!v.ok);
  CHECK_STR (v.reason,
             "integrity: the signature does not verify with the signing "
             "certificate's key (tampered payload or signature)");
  free (other);
  free (payload);

  /* A signature byte changed: the last base64url character before the
   * closing quote of "signature" moves a whole byte when it is not the
   * final one, so change one in the middle. */
  {
    char *s = strdup ((const char *)jws), *sig = strstr (s, "\"signature\":\"");

    REQUIRE (sig != NULL);
    sig += 13 + 10;
    *sig = *sig == 'A' ? 'B' : 'A';
    v = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_JWS, (uint8_t *)s,
                      strlen (s), now);
    CHECK (!v.ok
           && starts (v.reason, "integrity: the signature does not "
                                "verify"));
    free (s);
  }

  /* COSE: one character of the digest inside the payload, then one byte
   * of the signature (the message ends with it). */
  hit = memmem (cose, m, t.digest.str + 7, 64);
  REQUIRE (hit != NULL);
  hit[10] ^= 1;
  v = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_COSE, cose, m, now);
  show ("tampered cose payload", &v);
  CHECK (!v.ok && starts (v.reason, "integrity: the signature does not"));
  hit[10] ^= 1;
  v = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_COSE, cose, m, now);
  CHECK (v.ok);
  cose[m - 5] ^= 0x40;
  v = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_COSE, cose, m, now);
  CHECK (!v.ok && starts (v.reason, "integrity:"));
  /* The media type must match the bytes. */
  v = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_JWS, cose, m, now);
  CHECK (!v.ok
         && starts (v.reason, "integrity: unable to parse the signature"));
  v = verify_bytes (c, REPO, "application/octet-stream", jws, n, now);
  CHECK (!v.ok && strstr (v.reason, "is not supported") != NULL);
  free (jws);
  free (cose);
  notation_config_free (c);
  drop_dir (d);
}

TEST (store_does_not_hold_the_root)
{
  char *d = new_dir (), *p;
  notation_config *c;
  notation_verdict v;

  REQUIRE (d != NULL);
  /* Only generate-test's certificate is trusted: the chain's envelope is
   * refused, enforced at permissive, logged at audit. */
  copy_data (d, "truststore/x509/ca/testca/testca.crt", DATA "testca.crt");
  p = policy_one ("*", "\"level\": \"permissive\"", "\"ca:testca\"", "\"*\"");
  put_text (d, "trustpolicy.json", p);
  free (p);
  c = load (d);
  REQUIRE (c != NULL);
  v = verify_file (c, DATA "chain.cose", 60);
  show ("foreign chain", &v);
  CHECK (!v.ok);
  CHECK_STR (v.reason,
             "authenticity: the signing certificate chain does not lead to a "
             "certificate in the statement's ca trust stores (signature is "
             "not produced by a trusted signer)");
  CHECK (verify_file (c, DATA "testca.cose", 60).ok);
  notation_config_free (c);

  p = policy_one ("*", "\"level\": \"audit\"", "\"ca:testca\"", "\"*\"");
  put_text (d, "trustpolicy.json", p);
  free (p);
  c = load (d);
  REQUIRE (c != NULL);
  v = verify_file (c, DATA "chain.cose", 60);
  CHECK (v.ok);
  CHECK (starts (v.logged, "authenticity: the signing certificate chain"));
  notation_config_free (c);
  drop_dir (d);
}

TEST (trusted_identities)
{
  static const struct
  {
    const char *ids;
    bool ok;
  } cases[] = {
    { "\"x509.subject: C=US, ST=WA, O=Modelpack Test\"", true },
    { "\"x509.subject: CN=Model Signer,O=Modelpack Test,L=Seattle,ST=WA,"
      "C=US\"",
      true },
    { "\"x509.subject: C=US, S=WA, O=Modelpack Test, CN=Model Signer\"", true },
    { "\"x509.subject: C=US, ST=WA, O=Notary\", \"x509.subject: C=US, "
      "ST=WA, O=Modelpack Test, L=Seattle\"",
      true },
    { "\"x509.subject: C=US, ST=WA, O=Other\"", false },
    { "\"x509.subject: C=US, ST=WA, O=Modelpack Test, OU=Missing\"", false },
    { "\"x509.subject: C=US, ST=WA, O=modelpack test\"", false },
    /* Identities of other types are for plugins: none left is a failure. */
    { "\"kms.example: key-1\"", false },
  };

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      char *d = real_config ("\"level\": \"strict\"", cases[i].ids);
      notation_config *c = load (d);
      notation_verdict v;

      REQUIRE (c != NULL);
      v = verify_file (c, DATA "chain.jws", 60);
      show (cases[i].ids, &v);
      if (v.ok != cases[i].ok)
        fprintf (stderr, "case %zu: %s\n", i, v.reason);
      CHECK (v.ok == cases[i].ok);
      if (!cases[i].ok)
        CHECK (starts (v.reason, "authenticity: "));
      notation_config_free (c);
      drop_dir (d);
    }
  {
    char *d = real_config ("\"level\": \"strict\"",
                           "\"x509.subject: C=US, ST=WA, O=Other\"");
    notation_config *c = load (d);
    notation_verdict v;

    REQUIRE (c != NULL);
    v = verify_file (c, DATA "chain.jws", 60);
    CHECK_STR (v.reason,
               "authenticity: signing certificate subject \"CN=Model "
               "Signer,O=Modelpack Test,L=Seattle,ST=WA,C=US\" does not "
               "match the statement's x509.subject trusted identities");
    notation_config_free (c);
    drop_dir (d);
  }
}

TEST (scopes)
{
  char *d = new_dir ();
  notation_config *c;
  notation_verdict v;
  size_t n = 0;
  uint8_t *b = slurp (DATA "chain.jws", &n);
  int64_t now = b ? signed_at (NOTATION_MEDIA_TYPE_JWS, b, n) + 60 : 0;

  REQUIRE (d != NULL && b != NULL);
  copy_data (d, "truststore/x509/ca/chain/root.crt", DATA "root.crt");
  put_text (d, "trustpolicy.json",
            "{\"version\": \"1.0\", \"trustPolicies\": ["
            " {\"name\": \"other\", \"registryScopes\": "
            "[\"registry.example.com:5000/ml/other\"],"
            "  \"signatureVerification\": {\"level\": \"strict\"},"
            "  \"trustStores\": [\"ca:chain\"], \"trustedIdentities\": "
            "[\"*\"]},"
            " {\"name\": \"unsigned\", \"registryScopes\": "
            "[\"registry.example.com:5000/ml/unsigned\"],"
            "  \"signatureVerification\": {\"level\": \"skip\"}}]}");
  c = load (d);
  REQUIRE (c != NULL);
  /* Nothing covers REPO: refused, as notation refuses it. */
  v = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_JWS, b, n, now);
  CHECK (!v.applies && !v.ok);
  CHECK_STR (v.reason,
             "no trust policy statement applies to "
             "\"registry.example.com:5000/ml/model\" (registryScopes name "
             "fully qualified repositories, or \"*\")");
  v = verify_bytes (c, "registry.example.com:5000/ml/other",
                    NOTATION_MEDIA_TYPE_JWS, b, n, now);
  CHECK (v.applies && v.ok);
  CHECK_STR (v.policy, "other");
  /* skip: accepted without looking, garbage or no envelope at all. */
  v = verify_bytes (c, "registry.example.com:5000/ml/unsigned",
                    NOTATION_MEDIA_TYPE_JWS, (const uint8_t *)"junk", 4, now);
  CHECK (v.applies && v.skipped && v.ok);
  notation_lookup (c, "registry.example.com:5000/ml/unsigned", &v);
  CHECK (v.applies && v.skipped && v.ok && v.level == NOTATION_LEVEL_SKIP);
  CHECK_STR (v.policy, "unsigned");
  notation_lookup (c, "registry.example.com:5000/ml/other", &v);
  CHECK (v.applies && !v.skipped && !v.ok);
  /* Not a fully qualified repository: nothing applies. */
  notation_lookup (c, "ml/other", &v);
  CHECK (!v.applies);
  notation_lookup (c, "registry.example.com:5000/ml/other:v1", &v);
  CHECK (!v.applies);
  notation_config_free (c);

  /* A global statement catches the rest; an exact scope beats it. */
  put_text (d, "trustpolicy.json",
            "{\"version\": \"1.0\", \"trustPolicies\": ["
            " {\"name\": \"global\", \"registryScopes\": [\"*\"],"
            "  \"signatureVerification\": {\"level\": \"audit\"},"
            "  \"trustStores\": [\"ca:chain\"], \"trustedIdentities\": "
            "[\"*\"]},"
            " {\"name\": \"exact\", \"registryScopes\": [\"" REPO "\"],"
            "  \"signatureVerification\": {\"level\": \"strict\"},"
            "  \"trustStores\": [\"ca:chain\"], \"trustedIdentities\": "
            "[\"*\"]}]}");
  c = load (d);
  REQUIRE (c != NULL);
  v = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_JWS, b, n, now);
  CHECK (v.ok);
  CHECK_STR (v.policy, "exact");
  v = verify_bytes (c, "ghcr.io/someone/else", NOTATION_MEDIA_TYPE_JWS, b, n,
                    now);
  CHECK (v.ok && v.level == NOTATION_LEVEL_AUDIT);
  CHECK_STR (v.policy, "global");
  notation_config_free (c);
  free (b);
  drop_dir (d);
}

/* ---- configuration loading -------------------------------------------- */

TEST (config_files)
{
  char *d = new_dir (), *p, path[512];
  notation_config *c = NULL;
  mp_error err;
  char rev[MODEL_DIGEST_MAX + 1];

  REQUIRE (d != NULL);
  /* No trustpolicy.json: NOT_FOUND, for the caller to decide. */
  CHECK (notation_config_load (d, &c, &err) == -1);
  CHECK (err.code == MP_ERR_NOT_FOUND);
  snprintf (path, sizeof path, "%s/trustpolicy.json: no trust policy", d);
  CHECK_STR (err.msg, path);
  CHECK (notation_config_load ("/nonexistent/notation", &c, &err) == -1
         && err.code == MP_ERR_NOT_FOUND);

  /* A symbolic link is refused, as notation refuses it. */
  p = policy_one ("*", "\"level\": \"strict\"", "\"ca:chain\"", "\"*\"");
  put_text (d, "real.json", p);
  snprintf (path, sizeof path, "%s/trustpolicy.json", d);
  REQUIRE (symlink ("real.json", path) == 0);
  CHECK (notation_config_load (d, &c, &err) == -1);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, "is a symbolic link") != NULL);
  unlink (path);

  /* Malformed: the file and the field are named. */
  put_text (d, "trustpolicy.json",
            "{\"version\": \"1.0\", \"trustPolicies\": [{\"name\": \"x\", "
            "\"registryScopes\": [\"*\"], \"signatureVerification\": "
            "{\"level\": \"strickt\"}, \"trustStores\": [\"ca:a\"], "
            "\"trustedIdentities\": [\"*\"]}]}");
  CHECK (notation_config_load (d, &c, &err) == -1);
  snprintf (path, sizeof path,
            "%s/trustpolicy.json: trustPolicies[0].signatureVerification."
            "level: unknown level \"strickt\" (strict, permissive, audit or "
            "skip)",
            d);
  CHECK_STR (err.msg, path);

  /* A missing store: the configuration loads, says so, and verifications
   * that need the store fail with the reason. */
  put_text (d, "trustpolicy.json", p);
  free (p);
  c = load (d);
  REQUIRE (c != NULL);
  CHECK_STR (notation_config_warnings (c),
             "the trust store \"chain\" of type \"ca\" does not exist");
  {
    notation_verdict v = verify_file (c, DATA "chain.jws", 60);

    CHECK (!v.ok);
    CHECK_STR (v.reason, "authenticity: the trust store \"chain\" of type "
                         "\"ca\" does not exist");
  }
  strcpy (rev, notation_config_revision (c));
  CHECK (starts (rev, "sha256:"));
  notation_config_free (c);

  /* The store appears: it works, and the revision moved. */
  copy_data (d, "truststore/x509/ca/chain/root.crt", DATA "root.crt");
  c = load (d);
  REQUIRE (c != NULL);
  CHECK (notation_config_warnings (c) == NULL);
  CHECK (strcmp (rev, notation_config_revision (c)) != 0);
  CHECK (verify_file (c, DATA "chain.jws", 60).ok);
  strcpy (rev, notation_config_revision (c));
  notation_config_free (c);
  /* Unchanged files, same revision; a new file, a new one. */
  c = load (d);
  REQUIRE (c != NULL);
  CHECK_STR (notation_config_revision (c), rev);
  notation_config_free (c);
  copy_data (d, "truststore/x509/ca/chain/testca.pem", DATA "testca.crt");
  c = load (d);
  REQUIRE (c != NULL);
  CHECK (strcmp (rev, notation_config_revision (c)) != 0);
  CHECK (verify_file (c, DATA "chain.jws", 60).ok);
  notation_config_free (c);

  /* A subdirectory or a symbolic link in a store spoils the store. */
  snprintf (path, sizeof path, "%s/truststore/x509/ca/chain/sub", d);
  REQUIRE (mkdir (path, 0755) == 0);
  c = load (d);
  REQUIRE (c != NULL);
  CHECK_STR (notation_config_warnings (c),
             "trusted certificate sub in trust store chain of type ca is not "
             "a regular file (directories or symlinks are not supported)");
  CHECK (!verify_file (c, DATA "chain.jws", 60).ok);
  notation_config_free (c);
  rmdir (path);
  REQUIRE (symlink ("root.crt", path) == 0);
  c = load (d);
  REQUIRE (c != NULL);
  CHECK (notation_config_warnings (c) != NULL);
  notation_config_free (c);
  unlink (path);
  /* A file that holds no certificate. */
  put_text (d, "truststore/x509/ca/chain/notes.txt", "hello\n");
  c = load (d);
  REQUIRE (c != NULL);
  CHECK_STR (notation_config_warnings (c),
             "failed to read the trusted certificate notes.txt in trust store "
             "chain of type ca: not PEM or DER certificates");
  notation_config_free (c);
  snprintf (path, sizeof path, "%s/truststore/x509/ca/chain/notes.txt", d);
  unlink (path);
  /* A name with a control character is not echoed raw. */
  put_text (d, "truststore/x509/ca/chain/bad\033name", "hello\n");
  c = load (d);
  REQUIRE (c != NULL);
  CHECK_STR (notation_config_warnings (c),
             "failed to read the trusted certificate bad?name in trust store "
             "chain of type ca: not PEM or DER certificates");
  notation_config_free (c);
  snprintf (path, sizeof path, "%s/truststore/x509/ca/chain/bad\033name", d);
  unlink (path);
  /* The store directory itself a link. */
  snprintf (path, sizeof path, "%s/truststore/x509/ca/chain", d);
  {
    char moved[600];

    snprintf (moved, sizeof moved, "%s/truststore/x509/ca/real", d);
    REQUIRE (rename (path, moved) == 0);
    REQUIRE (symlink ("real", path) == 0);
    c = load (d);
    REQUIRE (c != NULL);
    CHECK_STR (notation_config_warnings (c),
               "the trust store chain of type ca is not a regular directory "
               "(symlinks are not supported)");
    notation_config_free (c);
  }
  drop_dir (d);
}

/* ---- policy parsing -------------------------------------------------- */

static void
expect_policy_error (const char *json, const char *want)
{
  notation_policy *p = NULL;
  mp_error err;

  memset (&err, 0, sizeof err);
  CHECK (notation_policy_parse (json, strlen (json), &p, &err) == -1);
  CHECK (p == NULL);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK_STR (err.msg, want);
  notation_policy_free (p);
}

/* One statement with the given members (JSON text after "name"). */
static void
expect_statement_error (const char *members, const char *want)
{
  char *json = NULL;

  REQUIRE (asprintf (&json,
                     "{\"version\": \"1.0\", \"trustPolicies\": [{\"name\": "
                     "\"s\"%s}]}",
                     members)
           > 0);
  expect_policy_error (json, want);
  free (json);
}

#define OKS                                                                    \
  ", \"registryScopes\": [\"*\"], \"signatureVerification\": {\"level\": "     \
  "\"strict\"}"

TEST (policy_errors)
{
  expect_policy_error ("[", "trust policy: not valid JSON: ']' expected "
                            "near end of file (line 1, column 1)");
  expect_policy_error ("[]", "trust policy: the top level must be a JSON "
                             "object");
  expect_policy_error ("{\"trustPolicies\": []}",
                       "version: required field is missing (\"1.0\")");
  expect_policy_error ("{\"version\": \"2.0\", \"trustPolicies\": []}",
                       "version: must be \"1.0\"");
  expect_policy_error ("{\"version\": \"1.0\", \"trustPolicies\": []}",
                       "trustPolicies: must not be empty");
  expect_policy_error ("{\"version\": \"1.0\", \"version\": \"1.0\"}",
                       "trust policy: not valid JSON: duplicate object key "
                       "near '\"version\"' (line 1, column 28)");
  expect_policy_error ("{\"version\": \"1.0\", \"trustPolicy\": []}",
                       "trust policy: unknown field \"trustPolicy\"");
  expect_policy_error (
      "{\"version\": \"1.0\", \"trustPolicies\": [{\"registryScopes\": []}]}",
      "trustPolicies[0].name: required field is missing");
  expect_statement_error (", \"trustStore\": [\"ca:a\"]",
                          "trustPolicies[0]: unknown field \"trustStore\"");
  expect_statement_error (", \"registryScopes\": [\"*\"]",
                          "trustPolicies[0].signatureVerification: required "
                          "field is missing");
  expect_statement_error (
      OKS ", \"trustedIdentities\": [\"*\"]",
      "trustPolicies[0].trustStores: required (and not empty) unless the "
      "level is skip");
  expect_statement_error (
      OKS ", \"trustStores\": [\"ca:a\"]",
      "trustPolicies[0].trustedIdentities: required (and not empty) unless "
      "the level is skip; [\"*\"] trusts any identity the stores issued");
  expect_statement_error (
      ", \"registryScopes\": [\"*\"], \"signatureVerification\": {\"level\": "
      "\"skip\"}, \"trustStores\": [\"ca:a\"]",
      "trustPolicies[0]: level skip takes no trustStores and no "
      "trustedIdentities; remove them");
  expect_statement_error (
      ", \"registryScopes\": [\"*\"], \"signatureVerification\": {\"level\": "
      "\"skip\", \"override\": {\"revocation\": \"log\"}}",
      "trustPolicies[0].signatureVerification.override: level skip cannot "
      "be customized");
  expect_statement_error (
      ", \"registryScopes\": [\"*\"], \"signatureVerification\": {\"level\": "
      "\"strict\", \"override\": {\"integrity\": \"log\"}}",
      "trustPolicies[0].signatureVerification.override.\"integrity\": "
      "integrity cannot be overridden");
  expect_statement_error (
      ", \"registryScopes\": [\"*\"], \"signatureVerification\": {\"level\": "
      "\"strict\", \"override\": {\"expiry\": \"skip\"}}",
      "trustPolicies[0].signatureVerification.override.\"expiry\": only "
      "revocation can be skipped");
  expect_statement_error (
      ", \"registryScopes\": [\"*\"], \"signatureVerification\": {\"level\": "
      "\"strict\", \"override\": {\"expiration\": \"log\"}}",
      "trustPolicies[0].signatureVerification.override.\"expiration\": "
      "unknown validation (authenticity, authenticTimestamp, expiry or "
      "revocation)");
  expect_statement_error (
      ", \"registryScopes\": [\"*\"], \"signatureVerification\": {\"level\": "
      "\"strict\", \"verifyTimestamp\": \"never\"}",
      "trustPolicies[0].signatureVerification.verifyTimestamp: must be "
      "\"always\" or \"afterCertExpiry\", not \"never\"");
  expect_statement_error (
      OKS ", \"trustStores\": [\"chain\"], \"trustedIdentities\": [\"*\"]",
      "trustPolicies[0].trustStores[0]: \"chain\" is not TYPE:NAME (as "
      "ca:my-store)");
  expect_statement_error (
      OKS ", \"trustStores\": [\"x509:chain\"], \"trustedIdentities\": [\"*\"]",
      "trustPolicies[0].trustStores[0]: unknown trust store type in "
      "\"x509:chain\" (ca, signingAuthority or tsa)");
  expect_statement_error (
      OKS ", \"trustStores\": [\"ca:../x\"], \"trustedIdentities\": [\"*\"]",
      "trustPolicies[0].trustStores[0]: store name in \"ca:../x\" must be "
      "made of [A-Za-z0-9_.-] (and not . or ..)");
  expect_statement_error (
      OKS ", \"trustStores\": [\"ca:..\"], \"trustedIdentities\": [\"*\"]",
      "trustPolicies[0].trustStores[0]: store name in \"ca:..\" must be "
      "made of [A-Za-z0-9_.-] (and not . or ..)");
  expect_statement_error (
      OKS ", \"trustStores\": [\"ca:a\"], \"trustedIdentities\": [\"*\", "
          "\"x509.subject: C=US, ST=WA, O=x\"]",
      "trustPolicies[0].trustedIdentities[0]: the wildcard \"*\" cannot be "
      "combined with other identities");
  expect_statement_error (
      OKS ", \"trustStores\": [\"ca:a\"], \"trustedIdentities\": [\"C=US\"]",
      "trustPolicies[0].trustedIdentities[0]: \"C=US\" is not TYPE:VALUE (as "
      "x509.subject: C=US, ST=WA, O=example)");
  expect_statement_error (
      OKS ", \"trustStores\": [\"ca:a\"], \"trustedIdentities\": "
          "[\"x509.subject: C=US, O=x\"]",
      "trustPolicies[0].trustedIdentities[0]: distinguished name \" C=US, "
      "O=x\": must contain C, ST (or S) and O attributes at a minimum");
  expect_statement_error (
      OKS ", \"trustStores\": [\"ca:a\"], \"trustedIdentities\": "
          "[\"x509.subject: C=US, ST=WA, O=x\", \"x509.subject: C=US, ST=WA, "
          "O=x, CN=y\"]",
      "trustPolicies[0].trustedIdentities: two x509.subject identities "
      "overlap (one is a subset of the other)");
  expect_statement_error (
      ", \"registryScopes\": [], \"signatureVerification\": {\"level\": "
      "\"skip\"}",
      "trustPolicies[0].registryScopes: required (and not empty)");
  expect_statement_error (
      ", \"registryScopes\": [\"*\", \"reg.example.com/x\"], "
      "\"signatureVerification\": {\"level\": \"skip\"}",
      "trustPolicies[0].registryScopes[0]: the global scope \"*\" cannot be "
      "combined with other scopes");
  expect_statement_error (
      ", \"registryScopes\": [\"reg.example.com/x:v1\"], "
      "\"signatureVerification\": {\"level\": \"skip\"}",
      "trustPolicies[0].registryScopes[0]: \"reg.example.com/x:v1\" is not a "
      "fully qualified repository (as registry.example.com/ns/model, without "
      "tag, digest or wildcard)");
  expect_statement_error (
      ", \"registryScopes\": [\"reg.example.com/x\", \"reg.example.com/x\"], "
      "\"signatureVerification\": {\"level\": \"skip\"}",
      "trustPolicies[0].registryScopes[1]: \"reg.example.com/x\" is also a "
      "scope of trustPolicies[0]; a scope belongs to one statement");
  expect_statement_error (", \"signatureVerification\": {\"level\": "
                          "\"skip\"}, \"registryScopes\": \"*\"",
                          "trustPolicies[0].registryScopes: expected an array "
                          "of strings");
  expect_policy_error (
      "{\"version\": \"1.0\", \"trustPolicies\": ["
      "{\"name\": \"a\", \"registryScopes\": [\"*\"], "
      "\"signatureVerification\": {\"level\": \"skip\"}},"
      "{\"name\": \"b\", \"registryScopes\": [\"*\"], "
      "\"signatureVerification\": {\"level\": \"skip\"}}]}",
      "trustPolicies[1].registryScopes[0]: \"*\" is also a scope of "
      "trustPolicies[0]; a scope belongs to one statement");
  expect_policy_error (
      "{\"version\": \"1.0\", \"trustPolicies\": ["
      "{\"name\": \"a\", \"registryScopes\": [\"r.io/a\"], "
      "\"signatureVerification\": {\"level\": \"skip\"}},"
      "{\"name\": \"a\", \"registryScopes\": [\"r.io/b\"], "
      "\"signatureVerification\": {\"level\": \"skip\"}}]}",
      "trustPolicies[1].name: \"a\" is already the name of trustPolicies[0]");
}

TEST (policy_parses)
{
  static const char json[]
      = "{\"version\": \"1.0\", \"trustPolicies\": [{\"name\": \"p\", "
        "\"registryScopes\": [\"r.example.com/a\", \"localhost:5000/b/c\"], "
        "\"signatureVerification\": {\"level\": \"permissive\", \"override\": "
        "{\"revocation\": \"skip\", \"authenticTimestamp\": \"enforce\"}, "
        "\"verifyTimestamp\": \"afterCertExpiry\"}, \"trustStores\": "
        "[\"ca:one\", \"signingAuthority:two\", \"tsa:three\"], "
        "\"trustedIdentities\": [\"x509.subject: C=US, S=WA, O=a\\\\, b, "
        "CN=\\\\ x\", \"x509.subject: C=DE, ST=BE, O=c\", \"other: z\"]}]}";
  notation_policy *p = NULL;
  mp_error err;
  const notation_statement *s;

  REQUIRE (notation_policy_parse (json, strlen (json), &p, &err) == 0);
  REQUIRE (p->n == 1);
  s = &p->v[0];
  CHECK_STR (s->name, "p");
  CHECK (!s->global && s->n_scopes == 2);
  CHECK (s->level == NOTATION_LEVEL_PERMISSIVE);
  CHECK (s->actions[NOTATION_CHECK_INTEGRITY] == NOTATION_ENFORCE);
  CHECK (s->actions[NOTATION_CHECK_AUTHENTICITY] == NOTATION_ENFORCE);
  CHECK (s->actions[NOTATION_CHECK_AUTHENTIC_TIMESTAMP] == NOTATION_ENFORCE);
  CHECK (s->actions[NOTATION_CHECK_EXPIRY] == NOTATION_LOG);
  CHECK (s->actions[NOTATION_CHECK_REVOCATION] == NOTATION_SKIP);
  CHECK (s->timestamp_after_expiry);
  REQUIRE (s->n_stores == 3);
  CHECK (s->stores[1].type == NOTATION_STORE_SIGNING_AUTHORITY);
  CHECK_STR (s->stores[2].name, "three");
  CHECK (s->n_identities == 3 && s->n_x509 == 2 && !s->any_identity);
  REQUIRE (s->x509[0].n == 4);
  CHECK_STR (s->x509[0].v[1].type, "ST");
  CHECK_STR (s->x509[0].v[2].value, "a, b");
  CHECK_STR (s->x509[0].v[3].value, " x");
  CHECK (notation_policy_lookup (p, "r.example.com/a") == s);
  CHECK (notation_policy_lookup (p, "localhost:5000/b/c") == s);
  CHECK (notation_policy_lookup (p, "localhost:5000/b") == NULL);
  CHECK (notation_policy_lookup (p, "r.example.com/a/b") == NULL);
  notation_policy_free (p);
}

TEST (scope_syntax)
{
  static const char *const good[] = { "r.io/a",
                                      "localhost:5000/a/b",
                                      "127.0.0.1:5000/ml/model",
                                      "r.io/a__b/c-d.e",
                                      "r.io/a---b",
                                      "my-registry.io/x/y/z",
                                      "R.IO/lower",
                                      "a/b" };
  static const char *const bad[]
      = { "r.io",      "r.io/",       "r.io/A",           "r.io/a_",
          "r.io/a//b", "r.io/a:t",    "r.io/a@sha256:00", "-r.io/a",
          "r-.io/a",   "r.io:/a",     "r.io:x/a",         "*",
          "r.io/*",    "r..io/a",     "r.io/a___b",       "/a",
          "r.io/.a",   "[::1]:5000/a" };

  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    if (!notation_scope_is_valid (good[i]))
      {
        fprintf (stderr, "should be valid: %s\n", good[i]);
        CHECK (0);
      }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (notation_scope_is_valid (bad[i]))
      {
        fprintf (stderr, "should be invalid: %s\n", bad[i]);
        CHECK (0);
      }
}

TEST (distinguished_names)
{
  notation_dn a, b;
  mp_error err;

  REQUIRE (notation_dn_parse ("C=US;ST=WA; O = a\\2c b ,CN=x\\ ", &a, &err)
           == 0);
  REQUIRE (a.n == 4);
  CHECK_STR (a.v[2].type, "O");
  CHECK_STR (a.v[2].value, "a, b");
  CHECK_STR (a.v[3].value, "x ");
  REQUIRE (notation_dn_parse ("C=US, ST=WA, O=a\\, b", &b, &err) == 0);
  CHECK (notation_dn_subset (&b, &a));
  CHECK (!notation_dn_subset (&a, &b));
  notation_dn_clear (&a);
  notation_dn_clear (&b);

  CHECK (notation_dn_parse ("C=US+ST=WA, O=x", &a, &err) == -1);
  CHECK_STR (err.msg, "distinguished name \"C=US+ST=WA, O=x\": multi-valued "
                      "RDNs (joined by +) are not supported");
  CHECK (notation_dn_parse ("C=US, ST=WA, O=x, O=y", &a, &err) == -1);
  CHECK_STR (err.msg, "distinguished name \"C=US, ST=WA, O=x, O=y\": "
                      "attribute O appears more than once");
  CHECK (notation_dn_parse ("C=US, ST=WA, O=#0403", &a, &err) == -1);
  CHECK (strstr (err.msg, "#hex") != NULL);
  CHECK (notation_dn_parse ("C=US, ST=WA, O=x\\", &a, &err) == -1);
  CHECK (strstr (err.msg, "broken backslash escape") != NULL);
  CHECK (notation_dn_parse ("C=US, ST=WA, O=x\\zz", &a, &err) == -1);
  CHECK (notation_dn_parse ("C=US, ST=WA, Ox", &a, &err) == -1);
  CHECK (strstr (err.msg, "incomplete type=value pair") != NULL);
  CHECK (notation_dn_parse ("  ", &a, &err) == -1);
  CHECK (strstr (err.msg, "at a minimum") != NULL);
  /* Types are case-sensitive, as notation compares them. */
  CHECK (notation_dn_parse ("c=US, st=WA, o=x", &a, &err) == -1);
}

TEST (base64_binary)
{
  uint8_t *out = NULL;
  size_t n = 0;

  CHECK (mp_base64_decode_bin ("AQID", 4, MP_BASE64_STD, &out, &n) == 0
         && n == 3 && out[2] == 3);
  free (out);
  CHECK (mp_base64_decode_bin ("AQ==", 4, MP_BASE64_STD, &out, &n) == 0
         && n == 1 && out[0] == 1);
  free (out);
  CHECK (mp_base64_decode_bin ("", 0, MP_BASE64_URL_RAW, &out, &n) == 0
         && n == 0);
  free (out);
  CHECK (mp_base64_decode_bin ("-_8", 3, MP_BASE64_URL_RAW, &out, &n) == 0
         && n == 2 && out[0] == 0xfb && out[1] == 0xff);
  free (out);
  /* Padding where it does not belong, the wrong alphabet, bits left over,
   * whitespace. */
  CHECK (mp_base64_decode_bin ("AQ", 2, MP_BASE64_STD, &out, &n) == -1);
  CHECK (mp_base64_decode_bin ("AQ==", 4, MP_BASE64_URL_RAW, &out, &n) == -1);
  CHECK (mp_base64_decode_bin ("-_8=", 4, MP_BASE64_STD, &out, &n) == -1);
  CHECK (mp_base64_decode_bin ("AR==", 4, MP_BASE64_STD, &out, &n) == -1);
  CHECK (mp_base64_decode_bin ("AQI", 3, MP_BASE64_URL_RAW, &out, &n) == 0);
  free (out);
  CHECK (mp_base64_decode_bin ("AQJ", 3, MP_BASE64_URL_RAW, &out, &n) == -1);
  CHECK (mp_base64_decode_bin ("A", 1, MP_BASE64_URL_RAW, &out, &n) == -1);
  CHECK (mp_base64_decode_bin ("AQ\nI", 4, MP_BASE64_URL_RAW, &out, &n) == -1);
  CHECK (mp_base64_decode_bin ("A===", 4, MP_BASE64_STD, &out, &n) == -1);
}

TEST (rfc3339)
{
  notation_time t;

  CHECK (notation_parse_rfc3339 ("1970-01-01T00:00:00Z", &t) && t.sec == 0);
  CHECK (notation_parse_rfc3339 ("2026-12-06T16:05:40Z", &t)
         && t.sec == 1796573140);
  CHECK (notation_parse_rfc3339 ("2026-12-06T18:05:40.25+02:00", &t)
         && t.sec == 1796573140 && t.nsec == 250000000);
  CHECK (notation_parse_rfc3339 ("2024-02-29T00:00:00-00:30", &t)
         && t.sec == 1709166600);
  CHECK (!notation_parse_rfc3339 ("2023-02-29T00:00:00Z", &t));
  CHECK (!notation_parse_rfc3339 ("2026-12-06 16:05:40Z", &t));
  CHECK (!notation_parse_rfc3339 ("2026-12-06T16:05:40", &t));
  CHECK (!notation_parse_rfc3339 ("2026-12-06T16:05:60Z", &t));
  CHECK (!notation_parse_rfc3339 ("2026-12-06T16:05:40.Z", &t));
  CHECK (!notation_parse_rfc3339 ("2026-12-06T16:05:40Zjunk", &t));
}

/* ---- forged with OpenSSL ---------------------------------------------- */

static EVP_PKEY *
ec_key (const char *curve)
{
  return EVP_PKEY_Q_keygen (NULL, NULL, "EC", curve);
}

struct certspec
{
  const char *subject; /* "C=US,ST=WA,O=x,CN=y" */
  EVP_PKEY *key;
  X509 *issuer;         /* NULL: self-signed */
  EVP_PKEY *issuer_key; /* NULL: key */
  int64_t not_before, not_after;
  const char *bc;  /* basicConstraints value, or NULL */
  const char *ku;  /* keyUsage value, or NULL */
  const char *eku; /* extendedKeyUsage value, or NULL */
  const char *crl; /* crlDistributionPoints value, or NULL */
};

static void
add_ext (X509 *x, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX ctx;
  X509_EXTENSION *e;

  if (value == NULL)
    return;
  X509V3_set_ctx (&ctx, issuer, x, NULL, NULL, 0);
  e = X509V3_EXT_conf_nid (NULL, &ctx, nid, value);
  if (e == NULL)
    {
      fprintf (stderr, "bad extension %s\n", value);
      return;
    }
  X509_add_ext (x, e, -1);
  X509_EXTENSION_free (e);
}

static X509 *
make_cert (const struct certspec *s)
{
  static long serial = 100;
  X509 *x = X509_new ();
  X509_NAME *name = X509_NAME_new ();
  char *subj = strdup (s->subject), *save = NULL;

  X509_set_version (x, 2);
  ASN1_INTEGER_set (X509_get_serialNumber (x), serial++);
  for (char *rdn = strtok_r (subj, ",", &save); rdn;
       rdn = strtok_r (NULL, ",", &save))
    {
      char *eq = strchr (rdn, '=');

      *eq = '\0';
      X509_NAME_add_entry_by_txt (name, rdn, MBSTRING_UTF8,
                                  (unsigned char *)eq + 1, -1, -1, 0);
    }
  free (subj);
  X509_set_subject_name (x, name);
  X509_set_issuer_name (x,
                        s->issuer ? X509_get_subject_name (s->issuer) : name);
  X509_NAME_free (name);
  ASN1_TIME_set (X509_getm_notBefore (x), (time_t)s->not_before);
  ASN1_TIME_set (X509_getm_notAfter (x), (time_t)s->not_after);
  X509_set_pubkey (x, s->key);
  add_ext (x, s->issuer ? s->issuer : x, NID_basic_constraints, s->bc);
  add_ext (x, s->issuer ? s->issuer : x, NID_key_usage, s->ku);
  add_ext (x, s->issuer ? s->issuer : x, NID_ext_key_usage, s->eku);
  add_ext (x, s->issuer ? s->issuer : x, NID_crl_distribution_points, s->crl);
  X509_sign (x, s->issuer_key ? s->issuer_key : s->key, EVP_sha256 ());
  return x;
}

#define T0 1800000000 /* 2027-01-15: the forged signatures' time */
#define YEAR (365 * 86400)

/* A root and a leaf under it, in the usual shape. */
struct pki
{
  EVP_PKEY *root_key, *leaf_key;
  X509 *root, *leaf;
};

static struct pki
make_pki (const char *leaf_subject, const char *leaf_curve)
{
  struct pki p;
  struct certspec root = { "C=US,ST=WA,O=Forge,CN=Forge Root",
                           NULL,
                           NULL,
                           NULL,
                           T0 - YEAR,
                           T0 + 10 * YEAR,
                           "critical,CA:TRUE",
                           "critical,keyCertSign,cRLSign",
                           NULL,
                           NULL };
  struct certspec leaf = { leaf_subject,
                           NULL,
                           NULL,
                           NULL,
                           T0 - 86400,
                           T0 + YEAR,
                           "critical,CA:FALSE",
                           "critical,digitalSignature",
                           "codeSigning",
                           NULL };

  p.root_key = ec_key ("P-384");
  p.leaf_key = ec_key (leaf_curve);
  root.key = p.root_key;
  p.root = make_cert (&root);
  leaf.key = p.leaf_key;
  leaf.issuer = p.root;
  leaf.issuer_key = p.root_key;
  p.leaf = make_cert (&leaf);
  return p;
}

static void
free_pki (struct pki *p)
{
  X509_free (p->root);
  X509_free (p->leaf);
  EVP_PKEY_free (p->root_key);
  EVP_PKEY_free (p->leaf_key);
}

static char *
b64enc (const uint8_t *d, size_t n, bool url)
{
  static const char std[]
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static const char urla[]
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char *a = url ? urla : std;
  char *out = malloc (4 * (n / 3 + 1) + 1);
  size_t o = 0;

  for (size_t i = 0; i < n; i += 3)
    {
      uint32_t v = (uint32_t)d[i] << 16;

      if (i + 1 < n)
        v |= (uint32_t)d[i + 1] << 8;
      if (i + 2 < n)
        v |= d[i + 2];
      out[o++] = a[(v >> 18) & 63];
      out[o++] = a[(v >> 12) & 63];
      if (i + 1 < n)
        out[o++] = a[(v >> 6) & 63];
      else if (!url)
        out[o++] = '=';
      if (i + 2 < n)
        out[o++] = a[v & 63];
      else if (!url)
        out[o++] = '=';
    }
  out[o] = '\0';
  return out;
}

static char *
jws_with_payload (const char *jws, const char *payload_json)
{
  const char *p = strstr (jws, "\"payload\":\""), *end;
  char *enc, *out = NULL;

  if (p == NULL)
    return NULL;
  p += 11;
  end = strchr (p, '"');
  enc = b64enc ((const uint8_t *)payload_json, strlen (payload_json), true);
  if (asprintf (&out, "%.*s%s%s", (int)(p - jws), jws, enc, end) < 0)
    out = NULL;
  free (enc);
  return out;
}

/* Sign data with an EC key: r || s, as JWS and COSE carry it. */
static uint8_t *
ec_sign (EVP_PKEY *key, const EVP_MD *md, size_t half, const uint8_t *data,
         size_t len, size_t *siglen)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  unsigned char der[256];
  const unsigned char *p = der;
  size_t dl = sizeof der;
  ECDSA_SIG *es;
  const BIGNUM *r, *s;
  uint8_t *out = calloc (1, 2 * half);

  EVP_DigestSignInit (ctx, NULL, md, NULL, key);
  EVP_DigestSign (ctx, der, &dl, data, len);
  EVP_MD_CTX_free (ctx);
  es = d2i_ECDSA_SIG (NULL, &p, (long)dl);
  ECDSA_SIG_get0 (es, &r, &s);
  BN_bn2binpad (r, out, (int)half);
  BN_bn2binpad (s, out + half, (int)half);
  ECDSA_SIG_free (es);
  *siglen = 2 * half;
  return out;
}

/* What a forged envelope says. */
struct forge
{
  X509 *chain[4];
  size_t n;
  EVP_PKEY *key;
  const char *alg; /* "ES256" (JWS) */
  int cose_alg;    /* -7 */
  const char *scheme;
  int64_t signing_time;
  int64_t expiry; /* 0: none */
  const char *digest, *media_type;
  int64_t size;
  const char *extra;      /* JWS: more protected members ",\"k\":v" */
  const char *crit_extra; /* JWS: more crit entries ",\"k\"" */
};

static struct forge
forge_default (struct pki *p)
{
  static struct target t;
  struct forge f = { { p->leaf, p->root },
                     2,
                     p->leaf_key,
                     "ES256",
                     -7,
                     "notary.x509",
                     T0,
                     0,
                     NULL,
                     MANIFEST_TYPE,
                     0,
                     "",
                     "" };

  t = manifest_target ();
  f.digest = t.digest.str;
  f.size = t.size;
  return f;
}

static char *
payload_of (const struct forge *f)
{
  char *s = NULL;

  if (asprintf (&s,
                "{\"targetArtifact\":{\"digest\":\"%s\",\"mediaType\":\"%s\","
                "\"size\":%lld}}",
                f->digest, f->media_type, (long long)f->size)
      < 0)
    return NULL;
  return s;
}

static const char *
fmt3339 (int64_t t, char *buf)
{
  time_t tt = (time_t)t;
  struct tm tm;

  gmtime_r (&tt, &tm);
  strftime (buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

static size_t
ec_half (EVP_PKEY *k)
{
  return (size_t)(EVP_PKEY_get_bits (k) + 7) / 8;
}

static const EVP_MD *
md_for_bits (int bits)
{
  return bits > 384   ? EVP_sha512 ()
         : bits > 256 ? EVP_sha384 ()
                      : EVP_sha256 ();
}

static char *
forge_jws (const struct forge *f)
{
  char *prot = NULL, *payload = payload_of (f), *pe, *ple, *se, *out = NULL;
  char *signing = NULL, *x5c = strdup (""), t1[32], t2[32], *exp = NULL;
  bool sa = strcmp (f->scheme, "notary.x509.signingAuthority") == 0;
  uint8_t *sig;
  size_t sl;

  if (f->expiry)
    asprintf (&exp, ",\"io.cncf.notary.expiry\":\"%s\"",
              fmt3339 (f->expiry, t2));
  asprintf (&prot,
            "{\"alg\":\"%s\",\"crit\":[\"io.cncf.notary.signingScheme\"%s%s%s]"
            ",\"cty\":\"" NOTATION_PAYLOAD_TYPE
            "\",\"io.cncf.notary.signingScheme\":\"%s\",\"io.cncf.notary.%s\":"
            "\"%s\"%s%s}",
            f->alg, sa ? ",\"io.cncf.notary.authenticSigningTime\"" : "",
            f->expiry ? ",\"io.cncf.notary.expiry\"" : "", f->crit_extra,
            f->scheme, sa ? "authenticSigningTime" : "signingTime",
            fmt3339 (f->signing_time, t1), exp ? exp : "", f->extra);
  pe = b64enc ((uint8_t *)prot, strlen (prot), true);
  ple = b64enc ((uint8_t *)payload, strlen (payload), true);
  asprintf (&signing, "%s.%s", pe, ple);
  sig = ec_sign (f->key, md_for_bits (EVP_PKEY_get_bits (f->key)),
                 ec_half (f->key), (uint8_t *)signing, strlen (signing), &sl);
  se = b64enc (sig, sl, true);
  for (size_t i = 0; i < f->n; i++)
    {
      unsigned char *der = NULL;
      int dl = i2d_X509 (f->chain[i], &der);
      char *c = b64enc (der, (size_t)dl, false), *grown = NULL;

      asprintf (&grown, "%s%s\"%s\"", x5c, i ? "," : "", c);
      free (x5c);
      free (c);
      OPENSSL_free (der);
      x5c = grown;
    }
  asprintf (&out,
            "{\"payload\":\"%s\",\"protected\":\"%s\",\"header\":{\"x5c\":[%s]"
            "},\"signature\":\"%s\"}",
            ple, pe, x5c, se);
  free (prot);
  free (payload);
  free (pe);
  free (ple);
  free (se);
  free (signing);
  free (sig);
  free (x5c);
  free (exp);
  return out;
}

/* A little CBOR writer for forged COSE. */
struct cbuf
{
  uint8_t b[16384];
  size_t n;
};

static void
c_head (struct cbuf *c, int major, uint64_t v)
{
  uint8_t m = (uint8_t)(major << 5);

  if (v < 24)
    c->b[c->n++] = m | (uint8_t)v;
  else if (v <= 0xff)
    {
      c->b[c->n++] = m | 24;
      c->b[c->n++] = (uint8_t)v;
    }
  else if (v <= 0xffff)
    {
      c->b[c->n++] = m | 25;
      c->b[c->n++] = (uint8_t)(v >> 8);
      c->b[c->n++] = (uint8_t)v;
    }
  else
    {
      c->b[c->n++] = m | 26;
      for (int i = 3; i >= 0; i--)
        c->b[c->n++] = (uint8_t)(v >> (8 * i));
    }
}

static void
c_int (struct cbuf *c, int64_t v)
{
  if (v >= 0)
    c_head (c, 0, (uint64_t)v);
  else
    c_head (c, 1, (uint64_t)(-1 - v));
}

static void
c_text (struct cbuf *c, const char *s)
{
  c_head (c, 3, strlen (s));
  memcpy (c->b + c->n, s, strlen (s));
  c->n += strlen (s);
}

static void
c_bytes (struct cbuf *c, const uint8_t *d, size_t n)
{
  c_head (c, 2, n);
  if (n > 0)
    memcpy (c->b + c->n, d, n);
  c->n += n;
}

/* COSE options beyond struct forge. */
struct cose_opts
{
  bool time_untagged; /* signing time as a bare integer */
  bool duplicate_key; /* content type twice */
  bool crit_unknown;  /* an extension label, marked critical */
  bool plugin;        /* io.cncf.notary.verificationPlugin, critical */
};

static uint8_t *
forge_cose (const struct forge *f, const struct cose_opts *o, size_t *len)
{
  struct cbuf prot = { .n = 0 }, *tbs = calloc (1, sizeof *tbs),
              *msg = calloc (1, sizeof *msg);
  char *payload = payload_of (f);
  bool sa = strcmp (f->scheme, "notary.x509.signingAuthority") == 0;
  size_t nentries = 5 + (f->expiry != 0) + (o->duplicate_key ? 1 : 0)
                    + (o->crit_unknown || o->plugin ? 1 : 0);
  size_t ncrit = 1 + sa + (f->expiry != 0) + (o->crit_unknown || o->plugin);
  uint8_t *sig, *out;
  size_t sl;

  c_head (&prot, 5, nentries);
  c_int (&prot, 1);
  c_int (&prot, f->cose_alg);
  c_int (&prot, 2);
  c_head (&prot, 4, ncrit);
  c_text (&prot, "io.cncf.notary.signingScheme");
  if (sa)
    c_text (&prot, "io.cncf.notary.authenticSigningTime");
  if (f->expiry)
    c_text (&prot, "io.cncf.notary.expiry");
  if (o->crit_unknown)
    c_text (&prot, "com.example.policy");
  if (o->plugin)
    c_text (&prot, "io.cncf.notary.verificationPlugin");
  c_int (&prot, 3);
  c_text (&prot, NOTATION_PAYLOAD_TYPE);
  if (o->duplicate_key)
    {
      c_int (&prot, 3);
      c_text (&prot, NOTATION_PAYLOAD_TYPE);
    }
  c_text (&prot, "io.cncf.notary.signingScheme");
  c_text (&prot, f->scheme);
  c_text (&prot, sa ? "io.cncf.notary.authenticSigningTime"
                    : "io.cncf.notary.signingTime");
  if (!o->time_untagged)
    c_head (&prot, 6, 1);
  c_int (&prot, f->signing_time);
  if (f->expiry)
    {
      c_text (&prot, "io.cncf.notary.expiry");
      c_head (&prot, 6, 1);
      c_int (&prot, f->expiry);
    }
  if (o->crit_unknown)
    {
      c_text (&prot, "com.example.policy");
      c_text (&prot, "x");
    }
  if (o->plugin)
    {
      c_text (&prot, "io.cncf.notary.verificationPlugin");
      c_text (&prot, "com.example.plugin");
    }

  c_head (tbs, 4, 4);
  c_text (tbs, "Signature1");
  c_bytes (tbs, prot.b, prot.n);
  c_bytes (tbs, NULL, 0);
  c_bytes (tbs, (uint8_t *)payload, strlen (payload));
  sig = ec_sign (f->key, md_for_bits (EVP_PKEY_get_bits (f->key)),
                 ec_half (f->key), tbs->b, tbs->n, &sl);

  c_head (msg, 6, 18);
  c_head (msg, 4, 4);
  c_bytes (msg, prot.b, prot.n);
  c_head (msg, 5, 1);
  c_int (msg, 33);
  c_head (msg, 4, f->n);
  for (size_t i = 0; i < f->n; i++)
    {
      unsigned char *der = NULL;
      int dl = i2d_X509 (f->chain[i], &der);

      c_bytes (msg, der, (size_t)dl);
      OPENSSL_free (der);
    }
  c_bytes (msg, (uint8_t *)payload, strlen (payload));
  c_bytes (msg, sig, sl);
  out = malloc (msg->n);
  memcpy (out, msg->b, msg->n);
  *len = msg->n;
  free (sig);
  free (payload);
  free (tbs);
  free (msg);
  return out;
}

/* A configuration with the root in store type:forge for every repository,
 * at the given signatureVerification body; more policy members (after
 * trustedIdentities) in extra. */
static char *
forge_config (X509 *root, const char *type, const char *level,
              const char *stores)
{
  char *d = new_dir (), rel[128], *p;

  if (d == NULL)
    return NULL;
  snprintf (rel, sizeof rel, "truststore/x509/%s/forge/root.pem", type);
  put_cert (d, rel, root);
  p = policy_one ("*", level, stores, "\"*\"");
  put_text (d, "trustpolicy.json", p);
  free (p);
  return d;
}

static notation_verdict
verify_jws (const notation_config *c, const struct forge *f, int64_t now)
{
  char *j = forge_jws (f);
  notation_verdict v = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_JWS,
                                     (uint8_t *)j, strlen (j), now);

  free (j);
  return v;
}

static notation_verdict
verify_cose (const notation_config *c, const struct forge *f,
             const struct cose_opts *o, int64_t now)
{
  static const struct cose_opts none = { 0 };
  size_t n;
  uint8_t *b = forge_cose (f, o ? o : &none, &n);
  notation_verdict v
      = verify_bytes (c, REPO, NOTATION_MEDIA_TYPE_COSE, b, n, now);

  free (b);
  return v;
}

TEST (forged_good)
{
  struct pki p = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  char *d
      = forge_config (p.root, "ca", "\"level\": \"strict\"", "\"ca:forge\"");
  notation_config *c = load (d);
  struct forge f = forge_default (&p);
  notation_verdict v;

  REQUIRE (c != NULL);
  v = verify_jws (c, &f, T0 + 60);
  show ("forged jws", &v);
  CHECK (v.ok);
  v = verify_cose (c, &f, NULL, T0 + 60);
  show ("forged cose", &v);
  CHECK (v.ok);
  /* P-384 with ES384. */
  {
    struct pki q = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-384");
    char *d2
        = forge_config (q.root, "ca", "\"level\": \"strict\"", "\"ca:forge\"");
    notation_config *c2 = load (d2);
    struct forge g = forge_default (&q);

    REQUIRE (c2 != NULL);
    g.alg = "ES384";
    g.cose_alg = -35;
    CHECK (verify_jws (c2, &g, T0 + 60).ok);
    CHECK (verify_cose (c2, &g, NULL, T0 + 60).ok);
    /* The header must name the key's algorithm. */
    g.alg = "ES256";
    v = verify_jws (c2, &g, T0 + 60);
    CHECK (!v.ok);
    CHECK_STR (v.reason, "integrity: the signing certificate's key calls for "
                         "ES384, the signature says ES256");
    notation_config_free (c2);
    drop_dir (d2);
    free_pki (&q);
  }
  notation_config_free (c);
  drop_dir (d);
  free_pki (&p);
}

TEST (forged_expired_certificate)
{
  struct pki p = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  char *d
      = forge_config (p.root, "ca", "\"level\": \"strict\"", "\"ca:forge\"");
  notation_config *c = load (d);
  struct forge f = forge_default (&p);
  notation_verdict v;

  REQUIRE (c != NULL);
  /* The leaf lives a year from T0 - 1 day: verified two years on. */
  v = verify_jws (c, &f, T0 + 2 * YEAR);
  show ("expired leaf", &v);
  CHECK (!v.ok);
  CHECK (starts (v.reason,
                 "authenticTimestamp: verification time is after certificate "
                 "\"CN=Signer,O=Forge,ST=WA,C=US\" validity period"));
  v = verify_cose (c, &f, NULL, T0 + 2 * YEAR);
  CHECK (!v.ok && starts (v.reason, "authenticTimestamp:"));
  notation_config_free (c);
  drop_dir (d);
  free_pki (&p);
}

TEST (forged_signing_authority)
{
  struct pki p = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  char *sa = forge_config (p.root, "signingAuthority", "\"level\": \"strict\"",
                           "\"signingAuthority:forge\"");
  char *ca
      = forge_config (p.root, "ca", "\"level\": \"strict\"", "\"ca:forge\"");
  notation_config *csa = load (sa), *cca = load (ca);
  struct forge f = forge_default (&p);
  notation_verdict v;

  REQUIRE (csa != NULL && cca != NULL);
  f.scheme = "notary.x509.signingAuthority";
  /* The authentic signing time is what counts, not now. */
  v = verify_jws (csa, &f, T0 + 5 * YEAR);
  show ("signing authority", &v);
  CHECK (v.ok);
  CHECK (verify_cose (csa, &f, NULL, T0 + 5 * YEAR).ok);
  /* Signed before the leaf was valid. */
  f.signing_time = T0 - 2 * 86400;
  v = verify_jws (csa, &f, T0);
  CHECK (!v.ok);
  CHECK (starts (v.reason,
                 "authenticTimestamp: certificate "
                 "\"CN=Signer,O=Forge,ST=WA,C=US\" was not valid when the "
                 "signature was produced"));
  /* A ca store does not vouch for a signingAuthority signature. */
  f.signing_time = T0;
  v = verify_jws (cca, &f, T0);
  CHECK (!v.ok);
  CHECK_STR (v.reason, "authenticity: no trusted certificates are found to "
                       "verify authenticity: the statement names no "
                       "signingAuthority trust store for a "
                       "notary.x509.signingAuthority signature");
  notation_config_free (csa);
  notation_config_free (cca);
  drop_dir (sa);
  drop_dir (ca);
  free_pki (&p);
}

/* A leaf made to order under the pki's root. */
static X509 *
leaf_with (struct pki *p, const char *bc, const char *ku, const char *eku,
           const char *crl)
{
  struct certspec s = { "C=US,ST=WA,O=Forge,CN=Odd",
                        p->leaf_key,
                        p->root,
                        p->root_key,
                        T0 - 86400,
                        T0 + YEAR,
                        bc,
                        ku,
                        eku,
                        crl };

  return make_cert (&s);
}

TEST (forged_certificate_rules)
{
  struct pki p = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  char *d = forge_config (p.root, "ca", "\"level\": \"audit\"", "\"ca:forge\"");
  notation_config *c = load (d);
  static const struct
  {
    const char *bc, *ku, *eku;
    const char *want; /* NULL: accepted */
  } cases[] = {
    { "critical,CA:FALSE", "critical,digitalSignature", "serverAuth",
      "integrity: certificate chain is invalid: certificate with subject "
      "\"CN=Odd,O=Forge,ST=WA,C=US\": extended key usage must not contain "
      "ServerAuth eku" },
    { "critical,CA:FALSE", "digitalSignature", "codeSigning",
      "integrity: certificate chain is invalid: certificate with subject "
      "\"CN=Odd,O=Forge,ST=WA,C=US\": key usage extension must be present "
      "and critical" },
    { "critical,CA:FALSE", "critical,digitalSignature,keyEncipherment", NULL,
      "integrity: certificate chain is invalid: the certificate with subject "
      "\"CN=Odd,O=Forge,ST=WA,C=US\" is invalid: the key usage must be "
      "\"Digital Signature\" only, but found \"KeyEncipherment\"" },
    { "critical,CA:TRUE", "critical,digitalSignature", NULL,
      "integrity: certificate chain is invalid: certificate with subject "
      "\"CN=Odd,O=Forge,ST=WA,C=US\": if the basic constraints extension is "
      "present, the ca field must be set to false" },
    /* No EKU at all, and nonRepudiation beside digitalSignature: fine for
     * notation. */
    { NULL, "critical,digitalSignature,nonRepudiation", NULL, NULL },
    { "critical,CA:FALSE", "critical,digitalSignature", "anyExtendedKeyUsage",
      NULL },
  };

  REQUIRE (c != NULL);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      X509 *leaf = leaf_with (&p, cases[i].bc, cases[i].ku, cases[i].eku, NULL);
      struct forge f = forge_default (&p);
      notation_verdict v;

      f.chain[0] = leaf;
      v = verify_jws (c, &f, T0 + 60);
      show ("certificate rule", &v);
      if (cases[i].want == NULL)
        CHECK (v.ok);
      else
        {
          CHECK (!v.ok);
          CHECK_STR (v.reason, cases[i].want);
        }
      X509_free (leaf);
    }

  /* The chain must end with its self-signed root... */
  {
    struct forge f = forge_default (&p);
    notation_verdict v;

    f.n = 1;
    v = verify_jws (c, &f, T0 + 60);
    CHECK (!v.ok);
    CHECK_STR (v.reason,
               "integrity: certificate chain is invalid: invalid self-signed "
               "certificate with subject \"CN=Signer,O=Forge,ST=WA,C=US\": its "
               "signature does not verify with its own key");
    /* ... in order. */
    f.n = 2;
    f.chain[0] = p.root;
    f.chain[1] = p.leaf;
    v = verify_jws (c, &f, T0 + 60);
    CHECK (!v.ok
           && starts (v.reason, "integrity: certificate chain is "
                                "invalid: leaf certificate"));
  }
  notation_config_free (c);
  drop_dir (d);
  free_pki (&p);
}

TEST (forged_foreign_root)
{
  struct pki p = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  struct pki other = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  char *d = forge_config (other.root, "ca", "\"level\": \"strict\"",
                          "\"ca:forge\"");
  notation_config *c = load (d);
  struct forge f = forge_default (&p);
  notation_verdict v;

  REQUIRE (c != NULL);
  /* Same names, other keys: byte-equal certificates are what count. */
  v = verify_cose (c, &f, NULL, T0 + 60);
  CHECK (!v.ok);
  CHECK (starts (v.reason,
                 "authenticity: the signing certificate chain does not lead"));
  notation_config_free (c);
  drop_dir (d);
  free_pki (&p);
  free_pki (&other);
}

TEST (forged_headers)
{
  struct pki p = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  char *d = forge_config (p.root, "ca", "\"level\": \"audit\"", "\"ca:forge\"");
  notation_config *c = load (d);
  struct forge f = forge_default (&p);
  notation_verdict v;
  struct cose_opts o;

  REQUIRE (c != NULL);
  /* An extension this verifier does not understand, marked critical. */
  f.extra = ",\"com.example.policy\":\"x\"";
  f.crit_extra = ",\"com.example.policy\"";
  v = verify_jws (c, &f, T0 + 60);
  CHECK (!v.ok);
  CHECK_STR (v.reason, "integrity: unable to parse the signature: critical "
                       "header \"com.example.policy\" is not understood by "
                       "this verifier (a verification plugin may be needed)");
  /* Not critical: ignored. */
  f.crit_extra = "";
  CHECK (verify_jws (c, &f, T0 + 60).ok);
  /* A critical entry for a header that is not there. */
  f.extra = "";
  f.crit_extra = ",\"io.cncf.notary.signingTime\"";
  v = verify_jws (c, &f, T0 + 60);
  CHECK (!v.ok && strstr (v.reason, "is marked critical but not present"));
  /* A verification plugin is asked for: refused even at audit. */
  f.extra = ",\"io.cncf.notary.verificationPlugin\":\"com.example.plugin\"";
  f.crit_extra = ",\"io.cncf.notary.verificationPlugin\"";
  v = verify_jws (c, &f, T0 + 60);
  CHECK (!v.ok);
  CHECK_STR (v.reason, "the signature requires verification plugin "
                       "\"com.example.plugin\", which this verifier does not "
                       "run");
  f.extra = f.crit_extra = "";
  /* Expiry not after the signing time. */
  f.expiry = T0;
  v = verify_jws (c, &f, T0 + 60);
  CHECK (!v.ok);
  CHECK_STR (v.reason, "integrity: unable to parse the signature: expiry "
                       "cannot be equal or before the signing time");
  f.expiry = 0;
  /* Unsupported algorithm names. */
  f.alg = "RS256";
  v = verify_jws (c, &f, T0 + 60);
  CHECK (!v.ok
         && strstr (v.reason, "unsupported signature algorithm "
                              "\"RS256\""));
  f.alg = "ES256";
  /* A duplicated member in the protected header. */
  f.extra = ",\"alg\":\"ES256\"";
  v = verify_jws (c, &f, T0 + 60);
  CHECK (!v.ok && strstr (v.reason, "protected header: not a JSON object"));
  f.extra = "";

  /* COSE: the same kinds of faults. */
  memset (&o, 0, sizeof o);
  o.time_untagged = true;
  v = verify_cose (c, &f, &o, T0 + 60);
  CHECK (!v.ok);
  CHECK_STR (v.reason, "integrity: unable to parse the signature: signing "
                       "time: only tag 1 (epoch) date-times are supported");
  memset (&o, 0, sizeof o);
  o.duplicate_key = true;
  v = verify_cose (c, &f, &o, T0 + 60);
  CHECK (!v.ok && strstr (v.reason, "duplicate map key"));
  memset (&o, 0, sizeof o);
  o.crit_unknown = true;
  v = verify_cose (c, &f, &o, T0 + 60);
  show ("crit unknown", &v);
  CHECK (!v.ok
         && strstr (v.reason, "critical header \"com.example.policy\" "
                              "is not understood"));
  memset (&o, 0, sizeof o);
  o.plugin = true;
  v = verify_cose (c, &f, &o, T0 + 60);
  CHECK (!v.ok && strstr (v.reason, "requires verification plugin"));
  f.cose_alg = -8; /* EdDSA */
  v = verify_cose (c, &f, NULL, T0 + 60);
  CHECK (!v.ok && strstr (v.reason, "unsupported signature algorithm -8"));
  f.cose_alg = -7;
  f.expiry = T0 + 10;
  CHECK (verify_cose (c, &f, NULL, T0 + 5).ok);
  v = verify_cose (c, &f, NULL, T0 + 10);
  CHECK (v.ok && starts (v.logged, "expiry: the signature expired"));
  notation_config_free (c);
  drop_dir (d);
  free_pki (&p);
}

TEST (forged_payload)
{
  struct pki p = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  char *d
      = forge_config (p.root, "ca", "\"level\": \"strict\"", "\"ca:forge\"");
  notation_config *c = load (d);
  struct forge f = forge_default (&p);
  notation_verdict v;

  REQUIRE (c != NULL);
  /* A good signature of another manifest. */
  f.digest = "sha256:1111111111111111111111111111111111111111111111111111111"
             "111111111";
  /* The size is the real manifest's: make.sh may change it. */
  f.size = 4242;
  v = verify_cose (c, &f, NULL, T0 + 60);
  CHECK (!v.ok);
  CHECK_STR (v.reason,
             "content descriptor mismatch: the signature is for "
             "\"sha256:1111111111111111111111111111111111111111111111111111111"
             "111111111\" (\"application/vnd.oci.image.manifest.v1+json\", "
             "4242 bytes), not this manifest");
  notation_config_free (c);
  drop_dir (d);
  free_pki (&p);
}

TEST (forged_revocation_and_timestamps)
{
  struct pki p = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  X509 *leaf = leaf_with (&p, "critical,CA:FALSE", "critical,digitalSignature",
                          "codeSigning", "URI:http://crl.example.com/ca.crl");
  char *strict
      = forge_config (p.root, "ca", "\"level\": \"strict\"", "\"ca:forge\"");
  char *skip = forge_config (
      p.root, "ca",
      "\"level\": \"strict\", \"override\": {\"revocation\": \"skip\"}",
      "\"ca:forge\"");
  char *perm = forge_config (p.root, "ca", "\"level\": \"permissive\"",
                             "\"ca:forge\"");
  char *tsa = forge_config (p.root, "ca", "\"level\": \"strict\"",
                            "\"ca:forge\", \"tsa:forge\"");
  notation_config *cs = load (strict), *ck = load (skip), *cp = load (perm),
                  *ct = load (tsa);
  struct forge f = forge_default (&p);
  notation_verdict v;

  REQUIRE (cs && ck && cp && ct);
  f.chain[0] = leaf;
  v = verify_jws (cs, &f, T0 + 60);
  show ("crl strict", &v);
  CHECK (!v.ok);
  CHECK_STR (v.reason,
             "revocation: revocation status of certificate "
             "\"CN=Odd,O=Forge,ST=WA,C=US\" is unknown: it names OCSP or CRL "
             "servers, which this verifier does not query (override "
             "\"revocation\" to \"log\" or \"skip\" to accept)");
  CHECK (verify_jws (ck, &f, T0 + 60).ok);
  v = verify_jws (cp, &f, T0 + 60);
  CHECK (v.ok && starts (v.logged, "revocation: "));

  /* A tsa store asks for an RFC 3161 timestamp the envelope lacks. */
  f.chain[0] = p.leaf;
  v = verify_jws (ct, &f, T0 + 60);
  CHECK (!v.ok);
  CHECK_STR (v.reason, "authenticTimestamp: no timestamp countersignature "
                       "was found in the signature envelope");
  X509_free (leaf);
  notation_config_free (cs);
  notation_config_free (ck);
  notation_config_free (cp);
  notation_config_free (ct);
  drop_dir (strict);
  drop_dir (skip);
  drop_dir (perm);
  drop_dir (tsa);
  free_pki (&p);
}

TEST (store_certificate_rules)
{
  struct pki p = make_pki ("C=US,ST=WA,O=Forge,CN=Signer", "P-256");
  char *d
      = forge_config (p.root, "ca", "\"level\": \"strict\"", "\"ca:forge\"");
  notation_config *c;

  REQUIRE (d != NULL);
  /* A leaf (not a CA, not self-signed) in a store spoils it. */
  put_cert (d, "truststore/x509/ca/forge/leaf.pem", p.leaf);
  c = load (d);
  REQUIRE (c != NULL);
  CHECK_STR (notation_config_warnings (c),
             "trusted certificate leaf.pem in trust store forge of type ca: "
             "certificate with subject \"CN=Signer,O=Forge,ST=WA,C=US\" is "
             "not a CA certificate or self-signed signing certificate");
  notation_config_free (c);
  /* DER files and PEM bundles both read. */
  {
    char path[512];
    unsigned char *der = NULL;
    int n = i2d_X509 (p.root, &der);

    snprintf (path, sizeof path, "%s/truststore/x509/ca/forge/leaf.pem", d);
    unlink (path);
    put_file (d, "truststore/x509/ca/forge/root.der", der, (size_t)n);
    OPENSSL_free (der);
    snprintf (path, sizeof path, "%s/truststore/x509/ca/forge/root.pem", d);
    unlink (path);
    c = load (d);
    REQUIRE (c != NULL);
    CHECK (notation_config_warnings (c) == NULL);
    {
      struct forge f = forge_default (&p);

      CHECK (verify_jws (c, &f, T0 + 60).ok);
    }
    notation_config_free (c);
  }
  drop_dir (d);
  free_pki (&p);
}

TEST_MAIN (T (real_envelopes_verify), T (real_envelope_details),
           T (expired_certificate_real), T (signature_expiry_real),
           T (other_manifest), T (tampered_real),
           T (store_does_not_hold_the_root), T (trusted_identities), T (scopes),
           T (config_files), T (policy_errors), T (policy_parses),
           T (scope_syntax), T (distinguished_names), T (base64_binary),
           T (rfc3339), T (forged_good), T (forged_expired_certificate),
           T (forged_signing_authority), T (forged_certificate_rules),
           T (forged_foreign_root), T (forged_headers), T (forged_payload),
           T (forged_revocation_and_timestamps), T (store_certificate_rules))
