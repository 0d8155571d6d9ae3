/* Fuzz the containers-policy.json reader: any bytes parse or fail with an
 * error, and a parsed policy's promises hold -- requirement lists are
 * non-empty, sigstore requirements have exactly one key source, and lookup
 * of any reference (fuzzed ones included) returns one of the policy's own
 * lists. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/policy.h"

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
check_reqs (const model_policy_requirements *rs)
{
  check (rs->n >= 1, "requirements non-empty");
  for (size_t i = 0; i < rs->n; i++)
    {
      const model_policy_requirement *r = &rs->v[i];

      if (r->type != MODEL_POLICY_SIGSTORE_SIGNED)
        continue;
      switch (r->key_source)
        {
        case MODEL_POLICY_KEY_PATHS:
          check (r->n_key_paths >= 1 && r->key_data.data == NULL,
                 "key paths only");
          for (size_t k = 0; k < r->n_key_paths; k++)
            check (r->key_paths[k][0] != '\0', "key path non-empty");
          break;
        case MODEL_POLICY_KEY_DATA:
          check (r->n_key_paths == 0 && r->key_data.data != NULL,
                 "key data only");
          break;
        case MODEL_POLICY_FULCIO:
          check (r->n_key_paths == 0 && r->key_data.data == NULL,
                 "fulcio only");
          check ((r->fulcio.ca_path == NULL)
                     != (r->fulcio.ca_data.data == NULL),
                 "one CA");
          check (r->fulcio.oidc_issuer && r->fulcio.subject_email,
                 "fulcio identity");
          check (r->rekor_key_path || r->rekor_key_data.data,
                 "fulcio with rekor");
          break;
        }
    }
}

static int
is_own (const model_policy *p, const model_policy_requirements *rs)
{
  if (rs == &p->default_reqs)
    return 1;
  for (size_t i = 0; i < p->n_docker; i++)
    if (rs == &p->docker[i].reqs)
      return 1;
  return 0;
}

static void
lookup (const model_policy *p, const char *ref)
{
  const model_policy_requirements *rs = model_policy_lookup (p, ref);

  check (rs != NULL && is_own (p, rs), "lookup returns the policy's own list");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const refs[] = { "",
                                      "docker.io/library/busybox:latest",
                                      "reg.example.com:5000/ns/repo@sha256:00",
                                      "a.b.example.com/x",
                                      "host:5000",
                                      ":/@.:" };
  model_policy *p = NULL;
  mp_error err;
  char *s;

  if (model_policy_parse (data, size, &p, &err) < 0)
    {
      check (err.code != MP_OK && err.msg[0] != '\0', "error has a message");
      return 0;
    }
  check_reqs (&p->default_reqs);
  for (size_t i = 0; i < p->n_docker; i++)
    {
      check_reqs (&p->docker[i].reqs);
      /* Every scope is looked up as a reference, and finds a list. */
      lookup (p, p->docker[i].scope);
    }
  for (size_t i = 0; i < sizeof refs / sizeof *refs; i++)
    lookup (p, refs[i]);
  /* The raw bytes as a reference too. */
  s = malloc (size + 1);
  if (s != NULL)
    {
      memcpy (s, data, size);
      s[size] = '\0';
      lookup (p, s);
      free (s);
    }
  model_policy_free (p);
  return 0;
}
