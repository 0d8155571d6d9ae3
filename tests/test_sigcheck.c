/* The daemon's signature policy holder (plugin/sigcheck.h): what it does
 * with absent, malformed and changing policy files.  The check of a model
 * itself needs containerd and a registry: integration/test_sign_volume.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/sigcheck.h"
#include "tests/harness.h"

static char dir[64];

/* The scratch directory, made at first use. */
static void
ensure_dir (void)
{
  if (dir[0] == '\0')
    {
      strcpy (dir, "/tmp/mpsig-XXXXXX");
      if (mkdtemp (dir) == NULL)
        abort ();
    }
}

static void
drop (const char *name)
{
  char path[128];

  snprintf (path, sizeof path, "%s/%s", dir, name);
  if (unlink (path) < 0)
    rmdir (path);
}

static void
put (const char *name, const char *text)
{
  char path[128], tmp[140];
  FILE *f;

  ensure_dir ();
  /* Written aside and renamed, as an operator's editor or config
   * management does: the inode changes. */
  snprintf (path, sizeof path, "%s/%s", dir, name);
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  f = fopen (tmp, "w");
  fputs (text, f);
  fclose (f);
  rename (tmp, path);
}

static mp_sigcheck *
open_in (const char *policy, mp_error *err)
{
  char p[128], n[128];
  struct mp_sigcheck_options o = { .policy = p, .notation = n };
  mp_sigcheck *sc = NULL;

  ensure_dir ();
  snprintf (p, sizeof p, "%s/%s", dir, policy);
  snprintf (n, sizeof n, "%s/notation", dir);
  mp_sigcheck_new (&o, &sc, err);
  return sc;
}

TEST (test_absent_files_require_nothing)
{
  mp_error err = { 0 };
  mp_sigcheck *sc = open_in ("absent.json", &err);
  char rev[160];

  CHECK (sc != NULL);
  CHECK (!mp_sigcheck_active (sc));
  mp_sigcheck_revision (sc, rev, sizeof rev);
  CHECK_STR (rev, "none+none");
  /* A policy appearing later is picked up at the next check. */
  put ("absent.json", "{\"default\": [{\"type\": \"reject\"}]}");
  CHECK (mp_sigcheck_active (sc));
  mp_sigcheck_revision (sc, rev, sizeof rev);
  CHECK (strncmp (rev, "none", 4) != 0);
  mp_sigcheck_free (sc);
  drop ("absent.json");
}

TEST (test_malformed_at_start_refuses)
{
  mp_error err = { 0 };
  mp_sigcheck *sc;

  put ("bad.json", "{\"default\": [{\"type\": \"rejekt\"}]}");
  sc = open_in ("bad.json", &err);
  CHECK (sc == NULL);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, "bad.json") != NULL);
  put ("bad.json", "{\"default\": [");
  sc = open_in ("bad.json", &err);
  CHECK (sc == NULL);
  /* A malformed Notation trust policy too. */
  put ("good.json", "{\"default\": [{\"type\": \"insecureAcceptAnything\"}]}");
  {
    char nd[128];

    snprintf (nd, sizeof nd, "%s/notation", dir);
    ensure_dir ();
    mkdir (nd, 0755);
    put ("notation/trustpolicy.json", "{\"version\": \"1.0\"");
    mp_error_clear (&err);
    sc = open_in ("good.json", &err);
    CHECK (sc == NULL);
    CHECK (strstr (err.msg, "Notation") != NULL);
    drop ("notation/trustpolicy.json");
  }
}

TEST (test_malformed_on_reload_keeps_the_last_good)
{
  mp_error err = { 0 };
  mp_sigcheck *sc;
  char r1[160], r2[160], r3[160];

  put ("p.json", "{\"default\": [{\"type\": \"reject\"}]}");
  sc = open_in ("p.json", &err);
  CHECK (sc != NULL);
  mp_sigcheck_revision (sc, r1, sizeof r1);
  put ("p.json", "{\"default\": [{\"type\": \"rejekt\"}]}");
  mp_sigcheck_revision (sc, r2, sizeof r2);
  CHECK_STR (r2, r1); /* kept */
  CHECK (mp_sigcheck_active (sc));
  put ("p.json", "{\"default\": [{\"type\": \"insecureAcceptAnything\"}]}");
  mp_sigcheck_revision (sc, r3, sizeof r3);
  CHECK (strcmp (r3, r1) != 0); /* a good one replaces it */
  /* The same content rewritten: re-read, same revision (cached verdicts
   * stay valid). */
  put ("p.json", "{\"default\": [{\"type\": \"insecureAcceptAnything\"}]}");
  mp_sigcheck_revision (sc, r2, sizeof r2);
  CHECK_STR (r2, r3);
  /* Removed: no policy any more. */
  drop ("p.json");
  CHECK (!mp_sigcheck_active (sc));
  mp_sigcheck_free (sc);
  drop ("bad.json");
  drop ("good.json");
  drop ("notation");
  rmdir (dir);
}

TEST_MAIN (T (test_absent_files_require_nothing),
           T (test_malformed_at_start_refuses),
           T (test_malformed_on_reload_keeps_the_last_good))
