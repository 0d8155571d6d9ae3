/* containerd's image verifier protocol (plugin/image_verifier.h): the
 * arguments containerd 2.1 passes, the descriptor on stdin, and the
 * verdicts that need no registry (no policy; a policy and an unreachable
 * registry: refused).  A model's check against a registry:
 * integration/test_image_verifier.sh. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/image_verifier.h"
#include "tests/harness.h"

#define DA                                                                     \
  "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB                                                                     \
  "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char dir[64];

static const char *
path (const char *name)
{
  static char p[4][160];
  static int slot;

  if (dir[0] == '\0')
    {
      strcpy (dir, "/tmp/mpiv-XXXXXX");
      if (mkdtemp (dir) == NULL)
        abort ();
    }
  slot = (slot + 1) % 4;
  snprintf (p[slot], sizeof p[slot], "%s/%s", dir, name);
  return p[slot];
}

static void
put (const char *name, const char *text)
{
  FILE *f = fopen (path (name), "w");

  if (f == NULL)
    abort ();
  fputs (text, f);
  fclose (f);
}

/* A pipe holding TEXT, as containerd's stdin. */
static int
stdin_with (const char *text)
{
  int p[2];

  if (pipe (p) < 0 || write (p[1], text, strlen (text)) < 0)
    abort ();
  close (p[1]);
  return p[0];
}

static int
parse (struct mp_iv_args *a, char **reason, int n, ...)
{
  char *argv[16] = { "modelpack-image-verifier" };
  va_list ap;

  va_start (ap, n);
  for (int i = 0; i < n; i++)
    argv[i + 1] = va_arg (ap, char *);
  va_end (ap);
  free (*reason);
  *reason = NULL;
  return mp_iv_parse_args (n + 1, argv, a, reason);
}

TEST (test_containerd_arguments)
{
  struct mp_iv_args a;
  char *reason = NULL;

  /* As containerd 2.1's bindir verifier passes them. */
  CHECK (parse (&a, &reason, 6, "-name", "reg:5000/ml/m:1", "-digest", DA,
                "-stdin-media-type", MP_IV_DESCRIPTOR_MEDIA_TYPE)
         == MP_IV_ACCEPT);
  CHECK_STR (a.name, "reg:5000/ml/m:1");
  CHECK_STR (a.digest, DA);
  CHECK_STR (a.stdin_media_type, MP_IV_DESCRIPTOR_MEDIA_TYPE);
  CHECK (a.config == NULL);
  /* Go's other spellings. */
  CHECK (parse (&a, &reason, 4, "--name=r/m:1", "-digest=" DA, "--config",
                "/c.toml")
         == MP_IV_ACCEPT);
  CHECK_STR (a.name, "r/m:1");
  CHECK_STR (a.digest, DA);
  CHECK_STR (a.config, "/c.toml");
  CHECK (parse (&a, &reason, 1, "-help") == MP_IV_ACCEPT && a.help);
  free (reason);
}

TEST (test_bad_arguments_refuse)
{
  struct mp_iv_args a;
  char *reason = NULL;

  CHECK (parse (&a, &reason, 2, "-name", "r/m:1") == MP_IV_USAGE);
  CHECK_STR (reason, "-name and -digest are required");
  CHECK (parse (&a, &reason, 5, "-name", "r/m:1", "-digest", DA, "-verbose")
         == MP_IV_USAGE);
  CHECK_STR (reason, "unknown flag \"-verbose\"");
  CHECK (parse (&a, &reason, 3, "-name", "r/m:1", "-digest") == MP_IV_USAGE);
  CHECK_STR (reason, "flag \"-digest\" needs a value");
  CHECK (parse (&a, &reason, 1, "r/m:1") == MP_IV_USAGE);
  CHECK_STR (reason, "unexpected argument \"r/m:1\"");
  free (reason);
}

static int
judge (const char *config, const char *name, const char *stdin_text,
       char **reason)
{
  struct mp_iv_args a
      = { .name = name, .digest = DA, .config = config ? path (config) : NULL };
  int fd = -1, code;

  if (stdin_text != NULL)
    {
      a.stdin_media_type = MP_IV_DESCRIPTOR_MEDIA_TYPE;
      fd = stdin_with (stdin_text);
    }
  free (*reason);
  code = mp_iv_judge (&a, fd, reason);
  if (fd >= 0)
    close (fd);
  return code;
}

TEST (test_descriptor_on_stdin)
{
  char *reason = NULL;
  char cfg[512];

  snprintf (cfg, sizeof cfg, "[signatures]\npolicy = \"%s\"\nnotation = \"\"\n",
            path ("absent.json"));
  put ("none.toml", cfg);
  CHECK (judge ("none.toml", "r/m:1",
                "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                "\"digest\":\"" DA "\",\"size\":406}\n",
                &reason)
         == MP_IV_ACCEPT);
  CHECK (strstr (reason, "no signature policy in force") != NULL);
  CHECK (strchr (reason, '\n') == NULL);
  CHECK (judge ("none.toml", "r/m:1", "{\"digest\":\"" DB "\"}", &reason)
         == MP_IV_USAGE);
  CHECK_STR (reason, "the descriptor on stdin is of " DB ", -digest names " DA);
  CHECK (judge ("none.toml", "r/m:1", "not json", &reason) == MP_IV_USAGE);
  CHECK (strncmp (reason, "the descriptor on stdin: ", 25) == 0);
  free (reason);
}

TEST (test_config_and_policy_errors)
{
  char *reason = NULL;
  char cfg[512];

  CHECK (judge ("missing.toml", "r/m:1", NULL, &reason) == MP_IV_INVALID);
  CHECK (strstr (reason, "missing.toml") != NULL);
  put ("bad-policy.json", "{\"default\": [{\"type\": \"rejekt\"}]}");
  snprintf (cfg, sizeof cfg, "[signatures]\npolicy = \"%s\"\nnotation = \"\"\n",
            path ("bad-policy.json"));
  put ("bad.toml", cfg);
  CHECK (judge ("bad.toml", "r/m:1", NULL, &reason) == MP_IV_INVALID);
  CHECK (strstr (reason, "default[0].type") != NULL);
  free (reason);
}

TEST (test_unreachable_registry_refuses)
{
  char *reason = NULL;
  char cfg[512];

  put ("reject.json", "{\"default\": [{\"type\": \"reject\"}]}");
  snprintf (cfg, sizeof cfg, "[signatures]\npolicy = \"%s\"\nnotation = \"\"\n",
            path ("reject.json"));
  put ("reject.toml", cfg);
  /* Port 1 on loopback: nothing listens; whether it is a model cannot be
   * known, so it is refused. */
  CHECK (judge ("reject.toml", "127.0.0.1:1/ml/m:1", NULL, &reason)
         == MP_IV_NETWORK);
  CHECK (strncmp (reason,
                  "127.0.0.1:1/ml/m:1 (" DA
                  "): signatures could not be checked: ",
                  strlen ("127.0.0.1:1/ml/m:1 (" DA
                          "): signatures could not be checked: "))
         == 0);
  /* A digest in the name that is not the one resolved. */
  CHECK (judge ("reject.toml", "127.0.0.1:1/ml/m@" DB, NULL, &reason)
         == MP_IV_INVALID);
  CHECK (strstr (reason, "not the digest it names") != NULL);
  free (reason);
}

TEST_MAIN (T (test_containerd_arguments), T (test_bad_arguments_refuse),
           T (test_descriptor_on_stdin), T (test_config_and_policy_errors),
           T (test_unreachable_registry_refuses))
