/* The daemon's config file: defaults, every setting, and the errors a
 * mistyped file gets. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/config.h"
#include "tests/harness.h"

static const char *
write_tmp (const char *content)
{
  static char path[64];
  FILE *f;

  strcpy (path, "/tmp/mpcfg-XXXXXX");
  close (mkstemp (path));
  f = fopen (path, "w");
  fputs (content, f);
  fclose (f);
  return path;
}

TEST (test_defaults_when_missing)
{
  mp_config c;
  mp_error err = { 0 };

  CHECK (mp_config_init (&c, &err) == 0);
  CHECK (mp_config_load (&c, "/nonexistent/config.toml", false, &err) == 0);
  CHECK_STR (c.root, MP_DEFAULT_ROOT);
  CHECK_STR (c.address, MP_DEFAULT_ADDRESS);
  CHECK (c.image_volumes);
  CHECK_STR (c.containerd_root, "/var/lib/containerd");
  CHECK (c.verify_blobs == MODEL_CACHE_VERIFY_ONCE);
  CHECK (c.max_bytes == 0 && c.min_free_percent == 0);
  CHECK (c.metrics_address == NULL);
  CHECK (mp_config_load (&c, "/nonexistent/config.toml", true, &err) < 0);
  mp_config_free (&c);
}

TEST (test_example_config_loads)
{
  mp_config c;
  mp_error err = { 0 };

  CHECK (mp_config_init (&c, &err) == 0);
  CHECK (mp_config_load (&c, "config/config.toml", true, &err) == 0);
  if (err.code)
    fprintf (stderr, "%s\n", err.msg);
  CHECK (c.workers == 8);
  CHECK (c.keep_unused_seconds == 86400);
  CHECK (c.verify_blobs == MODEL_CACHE_VERIFY_ONCE);
  CHECK (c.metrics_address == NULL); /* the example leaves metrics off */
  mp_config_free (&c);
}

TEST (test_every_setting)
{
  mp_config c;
  mp_error err = { 0 };
  const char *p = write_tmp ("root = \"/r\"\naddress = \"/a.sock\"\n"
                             "log_level = \"debug\"\nworkers = 3\n"
                             "[image_volumes]\nenabled = false\n"
                             "key_pattern = \"x/([0-9a-f]{64})$\"\n"
                             "containerd_root = \"/c\"\n"
                             "[model_cache]\nkeep_unused_seconds = 5\n"
                             "keep_unused_bytes = 1000\n"
                             "verify_blobs = \"always\"\n"
                             "max_bytes = 5000000\nmin_free_percent = 10\n"
                             "[crio_store]\ndir = \"/crio\"\n"
                             "source = \"/src\"\npoll_seconds = 9\n"
                             "[limits]\nmax_layer_bytes = 1000000\n"
                             "max_layer_ratio = 7\nratio_floor_bytes = 4096\n"
                             "max_layer_entries = 11\n"
                             "max_model_entries = 22\n"
                             "[metrics]\naddress = \"127.0.0.1:9121\"\n");

  CHECK (mp_config_init (&c, &err) == 0);
  CHECK (mp_config_load (&c, p, true, &err) == 0);
  CHECK_STR (c.root, "/r");
  CHECK_STR (c.address, "/a.sock");
  CHECK_STR (c.log_level, "debug");
  CHECK (c.workers == 3);
  CHECK (!c.image_volumes);
  CHECK_STR (c.key_pattern, "x/([0-9a-f]{64})$");
  CHECK_STR (c.containerd_root, "/c");
  CHECK (c.keep_unused_seconds == 5 && c.keep_unused_bytes == 1000);
  CHECK (c.verify_blobs == MODEL_CACHE_VERIFY_ALWAYS);
  CHECK (c.max_bytes == 5000000 && c.min_free_percent == 10);
  CHECK_STR (c.crio_store_dir, "/crio");
  CHECK_STR (c.crio_store_source, "/src");
  CHECK (c.crio_store_poll_seconds == 9);
  CHECK (c.limits.max_layer_bytes == 1000000 && c.limits.max_ratio == 7);
  CHECK (c.limits.ratio_floor == 4096 && c.limits.max_layer_entries == 11);
  CHECK (c.limits.max_model_entries == 22);
  CHECK_STR (c.metrics_address, "127.0.0.1:9121");
  mp_config_free (&c);
  unlink (p);
}

TEST (test_metrics_addresses)
{
  static const struct
  {
    const char *address;
    bool ok;
  } cases[] = {
    { "127.0.0.1:9121", true },
    { ":9121", true },
    { "localhost:9121", true },
    { "[::1]:9121", true },
    { "/run/mp/metrics.sock", true },
    { "127.0.0.1", false },
    { "127.0.0.1:", false },
    { "127.0.0.1:0", false },
    { "127.0.0.1:65536", false },
    { "127.0.0.1:91x", false },
    { "::1:9121", false },
    { "metrics.sock", false },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      mp_config c;
      mp_error err = { 0 };
      char text[128];
      const char *p;

      snprintf (text, sizeof text, "[metrics]\naddress = \"%s\"\n",
                cases[i].address);
      p = write_tmp (text);
      CHECK (mp_config_init (&c, &err) == 0);
      if ((mp_config_load (&c, p, true, &err) == 0) != cases[i].ok)
        {
          fprintf (stderr, "metrics.address \"%s\": want %s, got \"%s\"\n",
                   cases[i].address, cases[i].ok ? "ok" : "an error", err.msg);
          mp_test_failed_checks++;
        }
      if (!cases[i].ok)
        CHECK (strstr (err.msg, "metrics.address") != NULL);
      mp_config_free (&c);
      unlink (p);
    }
}

TEST (test_verify_blobs_modes)
{
  static const struct
  {
    const char *text;
    enum model_cache_verify want;
  } cases[] = {
    { "once", MODEL_CACHE_VERIFY_ONCE },
    { "ingest", MODEL_CACHE_VERIFY_INGEST },
    /* The former name of "ingest", accepted for existing configs. */
    { "untrusted", MODEL_CACHE_VERIFY_INGEST },
    { "always", MODEL_CACHE_VERIFY_ALWAYS },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      mp_config c;
      mp_error err = { 0 };
      char text[128];
      const char *p;

      snprintf (text, sizeof text, "[model_cache]\nverify_blobs = \"%s\"\n",
                cases[i].text);
      p = write_tmp (text);
      CHECK (mp_config_init (&c, &err) == 0);
      /* A non-default start, so that "once" must be set, not left. */
      c.verify_blobs = MODEL_CACHE_VERIFY_ALWAYS;
      CHECK (mp_config_load (&c, p, true, &err) == 0);
      CHECK (c.verify_blobs == cases[i].want);
      mp_config_free (&c);
      unlink (p);
    }
  CHECK_STR (model_cache_verify_name (MODEL_CACHE_VERIFY_ONCE), "once");
  CHECK_STR (model_cache_verify_name (MODEL_CACHE_VERIFY_INGEST), "ingest");
  CHECK_STR (model_cache_verify_name (MODEL_CACHE_VERIFY_ALWAYS), "always");
}

TEST (test_errors_name_the_problem)
{
  static const struct
  {
    const char *text, *want;
  } cases[] = {
    { "rooot = \"/x\"\n", "rooot" },
    { "workers = \"many\"\n", "workers" },
    { "workers = 0\n", "workers" },
    { "log_level = \"loud\"\n", "loud" },
    { "[image_volumes]\nenable = true\n", "image_volumes.enable" },
    { "[model_cache]\nkeep_unused_seconds = -1\n", "negative" },
    { "[model_cache]\nverify_blobs = \"never\"\n",
      "\"once\", \"ingest\" and \"always\"" },
    { "[model_cache]\nmax_bytes = -1\n", "max_bytes" },
    { "[model_cache]\nmin_free_percent = 100\n", "min_free_percent" },
    { "[model_cache]\nmax_byte = 5\n", "model_cache.max_byte" },
    { "[crio_store]\npoll_seconds = 0\n", "poll_seconds" },
    { "[crio_store]\nstore = \"/x\"\n", "crio_store.store" },
    { "[limits]\nmax_layer_ratio = 0\n", "max_layer_ratio" },
    { "[limits]\nmax_bytes = 5\n", "limits.max_bytes" },
    { "[metrics]\nport = 9121\n", "metrics.port" },
    { "[signatures]\npolicies = \"/x\"\n", "signatures.policies" },
    { "[signatures]\nverdict_cache = \"none\"\n", "verdict_cache" },
    { "[metrics]\naddress = \"\"\n", "address" },
    { "root = \n", "line 1" },
  };

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      mp_config c;
      mp_error err = { 0 };
      const char *p = write_tmp (cases[i].text);

      CHECK (mp_config_init (&c, &err) == 0);
      CHECK (mp_config_load (&c, p, true, &err) < 0);
      if (strstr (err.msg, cases[i].want) == NULL)
        {
          fprintf (stderr, "case %zu: \"%s\" lacks \"%s\"\n", i, err.msg,
                   cases[i].want);
          mp_test_failed_checks++;
        }
      mp_config_free (&c);
      unlink (p);
    }
}

TEST (test_signatures_section)
{
  mp_config c;
  mp_error err = { 0 };
  const char *p;

  CHECK (mp_config_init (&c, &err) == 0);
  CHECK_STR (c.sig_policy, "/etc/modelpack-snapshotter/policy.json");
  CHECK_STR (c.sig_notation, "/etc/modelpack-snapshotter/notation");
  CHECK_STR (c.sig_hosts_dir, "/etc/containerd/certs.d");
  CHECK_STR (c.sig_auth_file, "/etc/modelpack-snapshotter/auth.json");
  CHECK (c.sig_cache_by_digest);
  p = write_tmp ("[signatures]\npolicy = \"/p.json\"\nnotation = \"\"\n"
                 "hosts_dir = \"/h\"\nverdict_cache = \"names\"\n"
                 "auth_file = \"/a.json\"\n");
  CHECK (mp_config_load (&c, p, true, &err) == 0);
  CHECK_STR (c.sig_policy, "/p.json");
  CHECK (c.sig_notation == NULL); /* "" turns it off */
  CHECK_STR (c.sig_hosts_dir, "/h");
  CHECK_STR (c.sig_auth_file, "/a.json");
  CHECK (!c.sig_cache_by_digest);
  unlink (p);
  mp_config_free (&c);
}

TEST_MAIN (T (test_signatures_section), T (test_defaults_when_missing),
           T (test_example_config_loads), T (test_verify_blobs_modes),
           T (test_every_setting), T (test_metrics_addresses),
           T (test_errors_name_the_problem))
