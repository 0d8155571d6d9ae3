/* Shared by fuzz_notation_jws.c and fuzz_notation_cose.c: parse an
 * envelope and check what notation_envelope.h promises of a parsed one,
 * then run the whole verification (certificates, chain, OpenSSL
 * signature checks) against a configuration trusting the roots of
 * tests/data/notation/ (when the fuzzer runs from the repository root, as
 * scripts/run-fuzz.sh does). */
#ifndef MP_TESTS_FUZZ_NOTATION_H
#define MP_TESTS_FUZZ_NOTATION_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/notation.h"

static notation_config *fuzz_cfg;

static void
check (int cond, const char *what)
{
  if (!cond)
    {
      fprintf (stderr, "broken promise: %s\n", what);
      abort ();
    }
}

static void
copy_file (const char *from, const char *to)
{
  char buf[8192];
  FILE *in = fopen (from, "rb"), *out;
  size_t n;

  if (in == NULL)
    return;
  out = fopen (to, "wb");
  if (out != NULL)
    {
      while ((n = fread (buf, 1, sizeof buf, in)) > 0)
        fwrite (buf, 1, n, out);
      fclose (out);
    }
  fclose (in);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  char dir[] = "/tmp/mp-fuzz-notation-XXXXXX", p[256];
  mp_error err;
  FILE *f;

  if (mkdtemp (dir) == NULL)
    return 0;
  snprintf (p, sizeof p, "%s/truststore", dir);
  mkdir (p, 0755);
  snprintf (p, sizeof p, "%s/truststore/x509", dir);
  mkdir (p, 0755);
  snprintf (p, sizeof p, "%s/truststore/x509/ca", dir);
  mkdir (p, 0755);
  snprintf (p, sizeof p, "%s/truststore/x509/ca/chain", dir);
  mkdir (p, 0755);
  snprintf (p, sizeof p, "%s/truststore/x509/ca/chain/root.crt", dir);
  copy_file ("tests/data/notation/root.crt", p);
  snprintf (p, sizeof p, "%s/truststore/x509/ca/chain/testca.crt", dir);
  copy_file ("tests/data/notation/testca.crt", p);
  snprintf (p, sizeof p, "%s/trustpolicy.json", dir);
  f = fopen (p, "w");
  if (f != NULL)
    {
      fputs ("{\"version\": \"1.0\", \"trustPolicies\": [{\"name\": \"f\", "
             "\"registryScopes\": [\"*\"], \"signatureVerification\": "
             "{\"level\": \"strict\"}, \"trustStores\": [\"ca:chain\"], "
             "\"trustedIdentities\": [\"x509.subject: C=US, ST=WA\\\\, x, "
             "O=Notary\", \"x509.subject: C=US, ST=WA, O=Modelpack "
             "Test\"]}]}",
             f);
      fclose (f);
    }
  if (notation_config_load (dir, &fuzz_cfg, &err) < 0)
    fuzz_cfg = NULL;
  /* Everything is read: the directory can go. */
  snprintf (p, sizeof p, "rm -rf '%s'", dir);
  if (system (p) != 0)
    fprintf (stderr, "could not remove %s\n", dir);
  return 0;
}

static void
fuzz_envelope (const char *media_type, const uint8_t *data, size_t size)
{
  notation_envelope *e = NULL;
  notation_verdict v;
  mp_error err;

  if (notation_envelope_parse (media_type, data, size, &e, &err) == 0)
    {
      check (e->n_certs >= 1 && e->n_certs <= NOTATION_MAX_CHAIN,
             "a chain of 1 to NOTATION_MAX_CHAIN certificates");
      for (size_t i = 0; i < e->n_certs; i++)
        check (e->certs[i].data != NULL, "certificate bytes");
      check (e->payload.len > 0 && e->signature.len > 0,
             "payload and signature present");
      check (e->alg >= NOTATION_ALG_PS256 && e->alg <= NOTATION_ALG_ES512,
             "known algorithm");
      check (e->scheme == NOTATION_SCHEME_X509
                 || e->scheme == NOTATION_SCHEME_SIGNING_AUTHORITY,
             "known scheme");
      check (e->content_type != NULL, "content type");
      check (!e->has_expiry || e->expiry.sec > e->signing_time.sec
                 || (e->expiry.sec == e->signing_time.sec
                     && e->expiry.nsec > e->signing_time.nsec),
             "expiry after signing time");
      check (e->signed_data.len > 0, "signed data");
      if (e->format == NOTATION_FORMAT_COSE)
        check (e->signed_data.len > 12
                   && memcmp (e->signed_data.data, "\x84\x6aSignature1", 12)
                          == 0,
               "COSE signs a Sig_structure");
      notation_envelope_free (e);
    }
  else
    check (err.code == MP_ERR_INVALID_ARGUMENT && err.msg[0] != '\0',
           "parse error has a message");
  if (fuzz_cfg == NULL)
    return;
  /* At the time the data was signed, and now. */
  for (int k = 0; k < 2; k++)
    {
      check (notation_verify (fuzz_cfg, "registry.example.com/ml/model",
                              "sha256:0000000000000000000000000000000000000000"
                              "000000000000000000000000",
                              597, "application/vnd.oci.image.manifest.v1+json",
                              media_type, data, size,
                              k ? 4102444800 : 1796573260, &v, &err)
                 == 0,
             "verify runs");
      check (v.applies && !v.skipped, "the global statement applies");
      check (v.ok ? v.reason[0] == '\0' : v.reason[0] != '\0',
             "a refusal says why");
      check (!v.ok, "the zero digest was never signed");
    }
}

#endif
