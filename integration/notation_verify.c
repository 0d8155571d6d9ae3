/* Our Notation verifier on one envelope, for integration/test_sign_notation.sh
 * to hold against `notation verify` (the CLI's `modelpack verify` does
 * discovery as well; this is only model/notation.h).
 *
 * usage: notation_verify CONFIG_DIR REPOSITORY MANIFEST_FILE MANIFEST_TYPE
 *                        ENVELOPE_TYPE ENVELOPE_FILE
 *        notation_verify CONFIG_DIR REPOSITORY --lookup
 * CONFIG_DIR is a notation configuration directory (trustpolicy.json,
 * truststore/).  Prints "accepted <policy> <signer>" or "refused: <reason>",
 * and "logged: ..." when the level logged failures.  Exit status 0
 * accepted, 1 refused, 2 the configuration or a file could not be read
 * (the message on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/digest.h"
#include "model/notation.h"

static unsigned char *
slurp (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  unsigned char *buf = NULL;
  size_t cap = 0, n = 0, r;

  if (f == NULL)
    return NULL;
  do
    {
      if (n == cap)
        {
          unsigned char *g = realloc (buf, cap = cap ? 2 * cap : 65536);

          if (g == NULL)
            {
              free (buf);
              fclose (f);
              return NULL;
            }
          buf = g;
        }
      r = fread (buf + n, 1, cap - n, f);
      n += r;
    }
  while (r > 0);
  fclose (f);
  *len = n;
  return buf;
}

static int
report (const notation_verdict *v)
{
  if (v->ok)
    printf ("accepted %s %s%s\n", v->policy, v->skipped ? "(skip)" : "",
            v->signer);
  else
    printf ("refused: %s\n", v->reason);
  if (v->logged[0])
    printf ("logged: %s\n", v->logged);
  return v->ok ? 0 : 1;
}

int
main (int argc, char **argv)
{
  notation_config *c = NULL;
  notation_verdict v;
  mp_error err;
  unsigned char *manifest, *env;
  size_t mlen = 0, elen = 0;
  model_digest d;
  int rc;

  if (argc == 4 && strcmp (argv[3], "--lookup") == 0)
    {
      if (notation_config_load (argv[1], &c, &err) < 0)
        {
          fprintf (stderr, "notation_verify: %s\n", err.msg);
          return 2;
        }
      notation_lookup (c, argv[2], &v);
      rc = report (&v);
      notation_config_free (c);
      return rc;
    }
  if (argc != 7)
    {
      fprintf (stderr,
               "usage: notation_verify CONFIG_DIR REPOSITORY MANIFEST_FILE "
               "MANIFEST_TYPE ENVELOPE_TYPE ENVELOPE_FILE\n");
      return 2;
    }
  if (notation_config_load (argv[1], &c, &err) < 0)
    {
      fprintf (stderr, "notation_verify: %s\n", err.msg);
      return 2;
    }
  if (notation_config_warnings (c))
    fprintf (stderr, "notation_verify: warning: %s\n",
             notation_config_warnings (c));
  manifest = slurp (argv[3], &mlen);
  env = slurp (argv[6], &elen);
  if (manifest == NULL || env == NULL
      || model_digest_buffer (MODEL_DIGEST_SHA256, manifest, mlen, &d, &err)
             < 0)
    {
      fprintf (stderr, "notation_verify: cannot read %s or %s\n", argv[3],
               argv[6]);
      free (manifest);
      free (env);
      notation_config_free (c);
      return 2;
    }
  if (notation_verify (c, argv[2], d.str, (int64_t)mlen, argv[4], argv[5], env,
                       elen, (int64_t)time (NULL), &v, &err)
      < 0)
    {
      fprintf (stderr, "notation_verify: %s\n", err.msg);
      rc = 2;
    }
  else
    rc = report (&v);
  free (manifest);
  free (env);
  notation_config_free (c);
  return rc;
}
