/* Fuzz the format layer's readers with untrusted bytes: the first byte
 * picks the parser (manifest, index, model config, path/digest/time
 * helpers), the rest is its input.  Beyond not crashing, results must keep
 * the promises the headers make -- sanitized paths stay below the root,
 * digests re-validate, a written config reads back to the same bytes --
 * and any broken promise aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/digest.h"
#include "model/manifest.h"
#include "model/mediatype.h"
#include "model/modelconfig.h"

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
check_safe_path (const char *p, int root_ok)
{
  char *again = NULL;
  mp_error err;

  check (p[0] != '\0' && p[0] != '/', "path empty or absolute");
  if (strcmp (p, ".") == 0)
    {
      check (root_ok, "root path where a file is needed");
      return;
    }
  /* Already clean: sanitizing again changes nothing. */
  check (model_path_sanitize (p, &again, &err) == 0, "path re-sanitizes");
  check (strcmp (again, p) == 0, "sanitized path is a fixed point");
  free (again);
  for (const char *c = p; *c; c++)
    check ((unsigned char)*c >= 0x20 && *c != 0x7f, "control char in path");
  check (strstr (p, "//") == NULL, "double slash in path");
  check (strcmp (p, "..") != 0 && strncmp (p, "../", 3) != 0
             && strstr (p, "/../") == NULL
             && (strlen (p) < 3 || strcmp (p + strlen (p) - 3, "/..") != 0),
         "dot-dot in path");
}

static void
check_descriptor (const model_descriptor *d)
{
  check (model_digest_is_valid (d->digest.str), "descriptor digest valid");
  check (strlen (model_digest_hex (&d->digest)) == 64
             || strlen (model_digest_hex (&d->digest)) == 128,
         "hex length");
  check (d->size >= 0, "size non-negative");
  check (d->media_type != NULL, "media type present");
  for (size_t i = 0; i < d->annotations.n; i++)
    check (model_annotations_get (&d->annotations, d->annotations.v[i].key)
               != NULL,
           "annotation lookup");
}

static void
fuzz_manifest (const uint8_t *buf, size_t len)
{
  model_manifest *m = NULL;
  mp_error err;

  if (model_manifest_parse (buf, len, &m, &err) < 0)
    {
      check (err.code != MP_OK, "error code set");
      return;
    }
  check (m->schema_version == 2, "schema version");
  check_descriptor (&m->config);
  if (m->has_subject)
    check_descriptor (&m->subject);
  for (size_t i = 0; i < m->n_layers; i++)
    {
      const model_layer *l = &m->layers[i];
      model_media_type_info t = model_media_type_classify (l->desc.media_type);

      check_descriptor (&l->desc);
      check (t.kind == l->type.kind && t.format == l->type.format,
             "classification stable");
      check ((l->path == NULL) == (l->path_source == MODEL_PATH_NONE),
             "path and its source agree");
      if (l->path != NULL)
        check_safe_path (l->path, !l->is_file);
      if (l->type.format == MODEL_FORMAT_RAW)
        check (l->is_file, "raw layers are files");
    }
  model_manifest_free (m);
}

static void
fuzz_index (const uint8_t *buf, size_t len)
{
  static const model_platform platforms[] = {
    { .os = "linux", .architecture = "amd64" },
    { .os = "linux", .architecture = "arm", .variant = "v7" },
    { .os = "linux", .architecture = "arm64", .variant = "v8" },
    { .os = "windows", .architecture = "386" },
  };
  model_index *idx = NULL;
  mp_error err;

  if (model_index_parse (buf, len, &idx, &err) < 0)
    return;
  for (size_t i = 0; i < idx->n_manifests; i++)
    check_descriptor (&idx->manifests[i]);
  for (size_t p = 0; p < sizeof platforms / sizeof *platforms; p++)
    {
      ssize_t r = model_index_select (idx, &platforms[p], &err);

      check (r >= -1 && r < (ssize_t)idx->n_manifests, "selection in range");
      if (r >= 0)
        check (model_media_type_is_manifest (idx->manifests[r].media_type),
               "selected entry is a manifest");
    }
  model_index_free (idx);
}

static void
fuzz_config (const uint8_t *buf, size_t len)
{
  model_config *c = NULL, *back = NULL;
  char *once, *twice;
  mp_error err;
  int valid = model_config_validate (buf, len, &err) == 0;

  if (model_config_parse (buf, len, &c, &err) < 0)
    {
      check (!valid, "validate and parse agree (reject)");
      return;
    }
  check (valid, "validate and parse agree (accept)");
  check (c->diff_ids.n >= 1, "at least one diffId");
  for (size_t i = 0; i < c->diff_ids.n; i++)
    check (model_digest_is_valid (c->diff_ids.v[i]), "diffId valid");
  once = model_config_to_json (c, &err);
  check (once != NULL, "accepted config can be written");
  check (model_config_parse (once, strlen (once), &back, &err) == 0,
         "written config reads back");
  twice = model_config_to_json (back, &err);
  check (twice != NULL && strcmp (once, twice) == 0, "writer is canonical");
  free (once);
  free (twice);
  model_config_free (back);
  model_config_free (c);
}

static void
fuzz_strings (const uint8_t *buf, size_t len)
{
  char *s = malloc (len + 1), *out = NULL;
  model_digest d;
  mp_error err;
  enum model_doc_kind kind;
  char q[MODEL_QUOTE_BUF];

  if (s == NULL)
    return;
  memcpy (s, buf, len);
  s[len] = '\0';
  if (model_path_sanitize (s, &out, &err) == 0)
    {
      check_safe_path (out, 0);
      free (out);
    }
  if (model_digest_parse (s, &d, &err) == 0)
    {
      check (strcmp (d.str, s) == 0, "digest copied verbatim");
      for (const char *h = model_digest_hex (&d); *h; h++)
        check ((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f'),
               "digest hex is a safe file name");
    }
  model_rfc3339_parse (s, NULL, NULL);
  (void)model_media_type_classify (s);
  model_quote (s, q, sizeof q);
  check (strlen (q) < sizeof q, "quote fits");
  model_oci_detect (buf, len, &kind, &err);
  free (s);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  switch (data[0] % 4)
    {
    case 0:
      fuzz_manifest (data + 1, size - 1);
      break;
    case 1:
      fuzz_index (data + 1, size - 1);
      break;
    case 2:
      fuzz_config (data + 1, size - 1);
      break;
    default:
      fuzz_strings (data + 1, size - 1);
      break;
    }
  return 0;
}
