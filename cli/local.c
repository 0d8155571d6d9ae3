/* Models in the CLI's store: loading one by reference, and the commands
 * that only read or drop them (ls, inspect, rm). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/digest.h"
#include "model/manifest.h"
#include "model/mediatype.h"
#include "model/modelconfig.h"
#include "store/oci_layout.h"
#include "model/reference.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#define MAX_DOC (4 * 1024 * 1024)

/* The name a model has in the store: the normalized reference, or a
 * digest as given. */
static int
store_name (const char *ref, char *out, size_t outsize, mp_error *err)
{
  model_reference r;

  if (model_digest_is_valid (ref))
    {
      snprintf (out, outsize, "%s", ref);
      return 0;
    }
  if (model_reference_parse (ref, &r, err) < 0)
    return -1;
  model_reference_string (&r, out, outsize);
  return 0;
}

int
cli_model_load (oci_layout *l, const char *ref, struct cli_model *m,
                mp_error *err)
{
  char name[MODEL_REF_MAX + 512];
  oci_layout_ref r;
  cleanup_free char *text = NULL;
  size_t len = 0;

  memset (m, 0, sizeof *m);
  if (store_name (ref, name, sizeof name, err) < 0)
    return -1;
  if (oci_layout_resolve (l, name, &r, err) < 0)
    return -1;
  m->name = r.name ? strdup (r.name) : strdup (name);
  m->digest = strdup (r.digest);
  m->manifest_size = r.size;
  oci_layout_refs_free (&r, 1);
  if (oci_layout_read_blob (l, m->digest, MAX_DOC, &text, &len, err) < 0)
    goto fail;
  if (model_manifest_parse (text, len, &m->manifest, err) < 0)
    {
      mp_error_prefix (err, "manifest %s", m->digest);
      goto fail;
    }
  if (m->manifest->is_modelpack
      && model_media_type_is_model_config (m->manifest->config.media_type))
    {
      cleanup_free char *ctext = NULL;
      size_t clen = 0;

      if (oci_layout_read_blob (l, m->manifest->config.digest.str, MAX_DOC,
                                &ctext, &clen, err)
              < 0
          || model_config_parse (ctext, clen, &m->config, err) < 0)
        {
          mp_error_prefix (err, "model config %s",
                           m->manifest->config.digest.str);
          goto fail;
        }
    }
  return 0;

fail:
  cli_model_free (m);
  return -1;
}

void
cli_model_free (struct cli_model *m)
{
  free (m->name);
  free (m->digest);
  model_manifest_free (m->manifest);
  model_config_free (m->config);
  memset (m, 0, sizeof *m);
}

static const char *
kind_name (const model_layer *ly)
{
  return ly->type.is_modelpack ? model_layer_kind_name (ly->type.kind) : "file";
}

/* ---- ls --------------------------------------------------------------- */

int
cli_ls (const struct cli_globals *g, int argc, char **argv)
{
  oci_layout_ref *refs = NULL;
  size_t n = 0;
  mp_error err = { 0 };
  oci_layout *l;

  if (argc > 1)
    {
      fputs ("usage: modelpack [--json] ls\n\nLists the models in the store "
             "(name, digest, size); one JSON array with --json.\n",
             strcmp (argv[1], "--help") == 0 ? stdout : stderr);
      return strcmp (argv[1], "--help") == 0 ? CLI_OK : CLI_USAGE;
    }
  l = oci_layout_open (g->store, true, &err);
  if (l == NULL)
    return cli_fail ("ls", &err);
  if (oci_layout_list (l, &refs, &n, &err) < 0)
    {
      oci_layout_close (l);
      return cli_fail ("ls", &err);
    }
  if (g->json)
    fputs ("[", stdout);
  for (size_t i = 0; i < n; i++)
    {
      struct cli_model m;
      int64_t total = 0;
      mp_error e2 = { 0 };

      if (refs[i].name == NULL)
        continue;
      if (cli_model_load (l, refs[i].name, &m, &e2) == 0)
        {
          for (size_t k = 0; k < m.manifest->n_layers; k++)
            total += m.manifest->layers[k].desc.size;
          cli_model_free (&m);
        }
      if (g->json)
        printf ("%s{\"reference\":%s,\"digest\":%s,\"size\":%" PRId64 "}",
                i ? "," : "", cli_json (refs[i].name),
                cli_json (refs[i].digest), total);
      else
        printf ("%-60s %s %" PRId64 "\n", cli_text (refs[i].name),
                cli_text (refs[i].digest), total);
    }
  if (g->json)
    fputs ("]\n", stdout);
  oci_layout_refs_free (refs, n);
  free (refs);
  oci_layout_close (l);
  return CLI_OK;
}

/* ---- inspect ------------------------------------------------------------ */

static void
set_opt (json_t *o, const char *k, const char *v)
{
  if (v != NULL)
    json_object_set_new (o, k, json_string (v));
}

/* What inspect shows of a model, the same whether it was read from the
 * store or from its registry. */
static void
print_model (const struct cli_model *m, bool json)
{
  json_t *o, *files;
  int64_t total = 0;

  o = json_object ();
  files = json_array ();
  set_opt (o, "reference", m->name);
  set_opt (o, "digest", m->digest);
  set_opt (o, "artifactType", m->manifest->artifact_type);
  if (m->config != NULL)
    {
      const model_config_descriptor *d = &m->config->descriptor;
      const model_config_params *p = &m->config->config;
      set_opt (o, "name", d->name);
      set_opt (o, "family", d->family);
      set_opt (o, "architecture", p->architecture);
      set_opt (o, "paramSize", p->param_size);
      set_opt (o, "precision", p->precision);
      set_opt (o, "quantization", p->quantization);
      set_opt (o, "format", p->format);
      set_opt (o, "createdAt", d->created_at);
    }
  for (size_t i = 0; i < m->manifest->n_layers; i++)
    {
      const model_layer *ly = &m->manifest->layers[i];
      int64_t fsize = ly->has_metadata && ly->metadata.size > 0
                          ? ly->metadata.size
                          : ly->desc.size;
      json_t *f = json_pack (
          "{s:s,s:I,s:I,s:s,s:s,s:s,s:s}", "path", ly->path ? ly->path : "",
          "size", (json_int_t)fsize, "blobSize", (json_int_t)ly->desc.size,
          "kind", kind_name (ly), "packing",
          model_layer_format_name (ly->type.format), "mediaType",
          ly->desc.media_type, "digest", ly->desc.digest.str);
      json_array_append_new (files, f);
      total += ly->desc.size;
    }
  json_object_set_new (o, "files", files);
  json_object_set_new (o, "totalSize", json_integer (total));
  if (json)
    cli_print_json (o);
  else
    {
      static const char *const keys[][2] = { { "reference", "Reference" },
                                             { "digest", "Digest" },
                                             { "name", "Name" },
                                             { "family", "Family" },
                                             { "architecture", "Architecture" },
                                             { "paramSize", "Parameters" },
                                             { "precision", "Precision" },
                                             { "quantization", "Quantization" },
                                             { "format", "Format" },
                                             { "createdAt", "Created" } };
      size_t i;
      json_t *f;

      for (i = 0; i < sizeof keys / sizeof *keys; i++)
        {
          const char *v = json_string_value (json_object_get (o, keys[i][0]));
          if (v != NULL)
            printf ("%-13s %s\n", keys[i][1], cli_text (v));
        }
      printf ("%-13s %" PRId64 " bytes in %zu layers\n", "Size", total,
              m->manifest->n_layers);
      printf ("\n%-14s %-10s %-14s %s\n", "KIND", "PACKING", "SIZE", "PATH");
      json_array_foreach (files, i, f)
      {
        printf ("%-14s %-10s %-14" PRId64 " %s\n",
                json_string_value (json_object_get (f, "kind")),
                json_string_value (json_object_get (f, "packing")),
                (int64_t)json_integer_value (json_object_get (f, "size")),
                cli_text (json_string_value (json_object_get (f, "path"))));
      }
    }
  json_decref (o);
}

/* Not in the store: the manifest and config from the registry, through a
 * layout in a private temporary directory that is removed afterwards; no
 * layer is downloaded. */
static bool
no_layers (const model_layer *ly, void *ctx)
{
  (void)ly;
  (void)ctx;
  return false;
}

static int
inspect_remote (const struct cli_globals *g, const char *text, bool plain,
                bool json)
{
  const char *tmp = getenv ("TMPDIR");
  char dir[4096], fetch[4200];
  cleanup_free char *fetched = NULL;
  struct cli_model m;
  mp_error err = { 0 };
  oci_layout *l = NULL;
  int rc;

  snprintf (dir, sizeof dir, "%s/modelpack-inspect.XXXXXX",
            tmp != NULL && *tmp == '/' ? tmp : "/tmp");
  if (mkdtemp (dir) == NULL)
    {
      mp_error_sys (&err, errno, "temporary directory in %s",
                    tmp != NULL && *tmp == '/' ? tmp : "/tmp");
      return cli_fail ("inspect", &err);
    }
  snprintf (fetch, sizeof fetch, "%s/layout", dir);
  /* Looking at a model uses nothing of it: the signature policy is for
   * what gets used (pull, extract, mount), and `verify` shows it. */
  {
    struct cli_globals gl = *g;
    gl.policy = NULL;
    rc = cli_pull_partial (&gl, "inspect", text, fetch, plain, no_layers, NULL,
                           &fetched);
  }
  if (rc == CLI_OK)
    {
      l = oci_layout_open (fetch, false, &err);
      if (l == NULL || cli_model_load (l, fetched, &m, &err) < 0)
        rc = cli_fail ("inspect", &err);
      else
        {
          print_model (&m, json);
          cli_model_free (&m);
        }
      if (l != NULL)
        oci_layout_close (l);
    }
  if (mp_rmtree_at (AT_FDCWD, dir, &err) < 0 && rc == CLI_OK)
    rc = cli_fail ("inspect", &err);
  return rc;
}

int
cli_inspect (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "json", no_argument, NULL, 'j' },
          { "plain-http", no_argument, NULL, 'p' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  bool json = g->json, plain = false;
  struct cli_model m;
  mp_error err = { 0 };
  oci_layout *l;
  int c;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'j':
        json = true;
        break;
      case 'p':
        plain = true;
        break;
      case 'h':
        fputs ("usage: modelpack inspect REF [--json] [--plain-http]\n\n"
               "Shows a model: its config, files and digest.  A model not in "
               "the store\nis read from its registry (manifest and config "
               "only).\n",
               stdout);
        return CLI_OK;
      default:
        return CLI_USAGE;
      }
  if (optind + 1 != argc)
    return cli_usage_error ("inspect: one reference expected");
  l = oci_layout_open (g->store, true, &err);
  if (l == NULL)
    return cli_fail ("inspect", &err);
  if (cli_model_load (l, argv[optind], &m, &err) < 0)
    {
      oci_layout_close (l);
      /* A digest names only what the store has; a reference names what a
       * registry has. */
      if (err.code != MP_ERR_NOT_FOUND || model_digest_is_valid (argv[optind]))
        return cli_fail ("inspect", &err);
      return inspect_remote (g, argv[optind], plain, json);
    }
  print_model (&m, json);
  cli_model_free (&m);
  oci_layout_close (l);
  return CLI_OK;
}

/* ---- rm -------------------------------------------------------------- */

int
cli_rm (const struct cli_globals *g, int argc, char **argv)
{
  mp_error err = { 0 };
  oci_layout *l;
  int rc = CLI_OK;

  if (argc < 2 || strcmp (argv[1], "--help") == 0)
    {
      fputs ("usage: modelpack rm REF...\n\nRemoves models from the store "
             "(and the blobs no other model uses).\n",
             argc < 2 ? stderr : stdout);
      return argc < 2 ? CLI_USAGE : CLI_OK;
    }
  l = oci_layout_open (g->store, true, &err);
  if (l == NULL)
    return cli_fail ("rm", &err);
  for (int i = 1; i < argc; i++)
    {
      char name[MODEL_REF_MAX + 512];

      if (store_name (argv[i], name, sizeof name, &err) < 0
          || oci_layout_untag (l, name, &err) < 0)
        {
          rc = cli_fail ("rm", &err);
          continue;
        }
      if (!g->quiet && !g->json)
        printf ("removed %s\n", cli_text (name));
    }
  if (oci_layout_gc (l, NULL, &err) < 0)
    rc = cli_fail ("rm: collecting blobs", &err);
  oci_layout_close (l);
  return rc;
}
