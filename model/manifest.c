#include "model/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include <jansson.h>

#include "util/cleanup.h"

/* Long enough for "layers[<n>] (sha512:<128 hex>)". */
#define WHERE_MAX 256

/* ---- paths ------------------------------------------------------------- */

static int
sanitize (const char *in, bool allow_root, char **out, mp_error *err)
{
  char q[MODEL_QUOTE_BUF];
  cleanup_free char *buf = NULL;
  size_t len, o = 0;
  const char *p;

  if (in == NULL || *in == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "empty path");
  len = strlen (in);
  if (len > 4095)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "path %s is longer than 4095 bytes",
                         model_quote (in, q, sizeof q));
  if (in[0] == '/')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "path %s is absolute; it must be relative to the "
                         "model root",
                         model_quote (in, q, sizeof q));
  for (p = in; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "path %s contains a control character",
                           model_quote (in, q, sizeof q));
  buf = malloc (len + 2);
  if (buf == NULL)
    return mp_error_sys (err, ENOMEM, "path");
  for (p = in; *p;)
    {
      const char *end = strchrnul (p, '/');
      size_t n = (size_t)(end - p);

      if (n == 2 && p[0] == '.' && p[1] == '.')
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "path %s contains a \"..\" component",
                             model_quote (in, q, sizeof q));
      if (n > 255)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "path %s has a component longer than 255 bytes",
                             model_quote (in, q, sizeof q));
      if (n > 0 && !(n == 1 && p[0] == '.'))
        {
          if (o > 0)
            buf[o++] = '/';
          memcpy (buf + o, p, n);
          o += n;
        }
      p = *end ? end + 1 : end;
    }
  if (o == 0)
    {
      if (!allow_root)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "path %s names the model root, not a file in it",
                             model_quote (in, q, sizeof q));
      buf[o++] = '.';
    }
  buf[o] = '\0';
  *out = steal_pointer (&buf);
  return 0;
}

int
model_path_sanitize (const char *in, char **out, mp_error *err)
{
  return sanitize (in, false, out, err);
}

/* ---- small JSON helpers ------------------------------------------------ */

static json_t *
load_json (const void *buf, size_t len, mp_error *err)
{
  json_error_t jerr;
  json_t *root;

  /* Duplicate keys are refused: Go keeps the last, others the first, and a
   * blob must not mean two different manifests. */
  root = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "not valid JSON: %s (line %d, column %d)",
                    model_scrub_text (jerr.text), jerr.line, jerr.column);
      return NULL;
    }
  if (!json_is_object (root))
    {
      json_decref (root);
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "not an OCI manifest or index: the top level must be a "
                    "JSON object");
      return NULL;
    }
  return root;
}

static int
dup_string (const char *s, char **out, mp_error *err)
{
  char *copy = strdup (s);

  if (copy == NULL)
    return mp_error_sys (err, ENOMEM, "manifest");
  free (*out);
  *out = copy;
  return 0;
}

/* Optional string member: absent leaves *out untouched. */
static int
get_string (const json_t *obj, const char *key, bool required,
            const char *where, char **out, mp_error *err)
{
  const json_t *v = json_object_get (obj, key);

  if (v == NULL)
    {
      if (required)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s%s%s: required field is missing", where,
                             *where ? "." : "", key);
      return 0;
    }
  if (!json_is_string (v))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s%s%s: must be a string", where, *where ? "." : "",
                         key);
  return dup_string (json_string_value (v), out, err);
}

static int
check_schema_version (const json_t *root, int *out, mp_error *err)
{
  const json_t *v = json_object_get (root, "schemaVersion");

  if (v == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "schemaVersion: required field is missing");
  if (!json_is_integer (v) || json_integer_value (v) != 2)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "schemaVersion: must be 2 (Docker schema 1 and "
                         "other versions are not supported)");
  *out = 2;
  return 0;
}

void
model_annotations_clear (model_annotations *a)
{
  for (size_t i = 0; i < a->n; i++)
    {
      free (a->v[i].key);
      free (a->v[i].value);
    }
  free (a->v);
  a->v = NULL;
  a->n = 0;
}

int
model_annotations_copy (model_annotations *dst, const model_annotations *src,
                        mp_error *err)
{
  memset (dst, 0, sizeof *dst);
  if (src->n == 0)
    return 0;
  dst->v = calloc (src->n, sizeof *dst->v);
  if (dst->v == NULL)
    return mp_error_sys (err, ENOMEM, "annotations");
  for (size_t i = 0; i < src->n; i++)
    {
      dst->v[i].key = strdup (src->v[i].key);
      dst->v[i].value = strdup (src->v[i].value);
      dst->n = i + 1;
      if (dst->v[i].key == NULL || dst->v[i].value == NULL)
        {
          model_annotations_clear (dst);
          return mp_error_sys (err, ENOMEM, "annotations");
        }
    }
  return 0;
}

const char *
model_annotations_get (const model_annotations *a, const char *key)
{
  for (size_t i = 0; i < a->n; i++)
    if (strcmp (a->v[i].key, key) == 0)
      return a->v[i].value;
  return NULL;
}

static int
parse_annotations (const json_t *v, const char *where, model_annotations *a,
                   mp_error *err)
{
  const char *key;
  json_t *val;
  size_t n;

  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s%sannotations: must be an object", where,
                         *where ? "." : "");
  n = json_object_size (v);
  if (n == 0)
    return 0;
  a->v = calloc (n, sizeof *a->v);
  if (a->v == NULL)
    return mp_error_sys (err, ENOMEM, "annotations");
  json_object_foreach ((json_t *)v, key, val)
  {
    if (!json_is_string (val))
      {
        char q[MODEL_QUOTE_BUF];
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s%sannotations: value of %s must be a string",
                             where, *where ? "." : "",
                             model_quote (key, q, sizeof q));
      }
    a->v[a->n].key = strdup (key);
    a->v[a->n].value = strdup (json_string_value (val));
    a->n++;
    if (a->v[a->n - 1].key == NULL || a->v[a->n - 1].value == NULL)
      return mp_error_sys (err, ENOMEM, "annotations");
  }
  return 0;
}

void
model_platform_clear (model_platform *p)
{
  free (p->architecture);
  free (p->os);
  free (p->variant);
  free (p->os_version);
  memset (p, 0, sizeof *p);
}

static int
parse_platform (const json_t *v, const char *where, model_platform *p,
                mp_error *err)
{
  char w[WHERE_MAX + 16];

  snprintf (w, sizeof w, "%s.platform", where);
  if (!json_is_object (v))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: must be an object",
                         w);
  if (get_string (v, "architecture", true, w, &p->architecture, err) < 0
      || get_string (v, "os", true, w, &p->os, err) < 0
      || get_string (v, "variant", false, w, &p->variant, err) < 0
      || get_string (v, "os.version", false, w, &p->os_version, err) < 0)
    return -1;
  return 0;
}

static void
descriptor_clear (model_descriptor *d)
{
  free (d->media_type);
  free (d->artifact_type);
  model_annotations_clear (&d->annotations);
  model_platform_clear (&d->platform);
  memset (d, 0, sizeof *d);
}

/* On success `where_out` (if not NULL) names the descriptor with its digest,
 * for the caller's own error messages. */
static int
parse_descriptor (const json_t *v, const char *where, bool with_platform,
                  model_descriptor *d, char *where_out, mp_error *err)
{
  char w[WHERE_MAX];
  const json_t *digest, *size, *platform;

  if (!json_is_object (v))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: must be an object (a descriptor)", where);
  digest = json_object_get (v, "digest");
  if (digest == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s.digest: required field is missing", where);
  if (!json_is_string (digest))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s.digest: must be a string", where);
  if (model_digest_parse (json_string_value (digest), &d->digest, err) < 0)
    return mp_error_prefix (err, "%s.digest", where);
  /* From here on errors say which blob they are about. */
  snprintf (w, sizeof w, "%s (%s)", where, d->digest.str);
  if (where_out != NULL)
    memcpy (where_out, w, sizeof w);
  if (get_string (v, "mediaType", true, w, &d->media_type, err) < 0
      || get_string (v, "artifactType", false, w, &d->artifact_type, err) < 0)
    return -1;
  size = json_object_get (v, "size");
  if (size == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s.size: required field is missing", w);
  if (!json_is_integer (size) || json_integer_value (size) < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s.size: must be a non-negative integer", w);
  d->size = json_integer_value (size);
  if (parse_annotations (json_object_get (v, "annotations"), w, &d->annotations,
                         err)
      < 0)
    return -1;
  platform = json_object_get (v, "platform");
  if (with_platform && platform != NULL && !json_is_null (platform))
    {
      if (parse_platform (platform, w, &d->platform, err) < 0)
        return -1;
      d->has_platform = true;
    }
  return 0;
}

/* A document must not claim to be one thing and be shaped like another:
 * that is how manifest/index confusion attacks work. */
static int
detect_root (const json_t *root, enum model_doc_kind *kind, mp_error *err)
{
  const json_t *mt = json_object_get (root, "mediaType");
  bool has_manifests = json_object_get (root, "manifests") != NULL;
  bool has_image = json_object_get (root, "config") != NULL
                   || json_object_get (root, "layers") != NULL;
  char q[MODEL_QUOTE_BUF];

  if (mt != NULL && !json_is_string (mt))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "mediaType: must be a string");
  if (mt != NULL)
    {
      const char *s = json_string_value (mt);

      if (model_media_type_is_index (s))
        {
          if (has_image)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "mediaType says image index but the "
                                 "document has config/layers");
          *kind = MODEL_DOC_INDEX;
          return 0;
        }
      if (model_media_type_is_manifest (s))
        {
          if (has_manifests)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "mediaType says image manifest but the "
                                 "document has manifests");
          *kind = MODEL_DOC_MANIFEST;
          return 0;
        }
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "mediaType %s is neither an OCI/Docker image "
                           "manifest nor an index",
                           model_quote (s, q, sizeof q));
    }
  if (has_manifests && has_image)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "document without mediaType has both manifests and "
                         "config/layers: cannot tell index from manifest");
  if (has_manifests)
    *kind = MODEL_DOC_INDEX;
  else if (has_image)
    *kind = MODEL_DOC_MANIFEST;
  else
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "not an OCI manifest or index: no mediaType, "
                         "config, layers or manifests");
  return 0;
}

int
model_oci_detect (const void *buf, size_t len, enum model_doc_kind *kind,
                  mp_error *err)
{
  json_t *root = load_json (buf, len, err);
  int r;

  if (root == NULL)
    return -1;
  r = detect_root (root, kind, err);
  json_decref (root);
  return r;
}

/* ---- layers ------------------------------------------------------------ */

static int
meta_uint (const json_t *o, const char *key, uint64_t max, uint64_t *out,
           mp_error *err)
{
  const json_t *v = json_object_get (o, key);

  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_integer (v) || json_integer_value (v) < 0
      || (uint64_t)json_integer_value (v) > max)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: must be an integer from 0 to %llu", key,
                         (unsigned long long)max);
  *out = (uint64_t)json_integer_value (v);
  return 0;
}

static enum model_file_type
file_type_of (int typeflag)
{
  switch (typeflag)
    {
    case 0:   /* modctl writes the digit's value ... */
    case '0': /* ... tar headers its character */
      return MODEL_FILE_REGULAR;
    case 5:
    case '5':
      return MODEL_FILE_DIR;
    case 2:
    case '2':
      return MODEL_FILE_SYMLINK;
    default:
      return MODEL_FILE_OTHER;
    }
}

static int
parse_file_metadata (const char *text, model_file_metadata *m, mp_error *err)
{
  json_error_t jerr;
  json_t *o = json_loads (text, JSON_REJECT_DUPLICATES, &jerr);
  const json_t *v;
  uint64_t u;
  int r = -1;

  if (o == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "not valid JSON: %s (column %d)",
                         model_scrub_text (jerr.text), jerr.column);
  if (!json_is_object (o))
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "must be a JSON object");
      goto out;
    }
  v = json_object_get (o, "name");
  if (v != NULL && !json_is_null (v))
    {
      if (!json_is_string (v))
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "name: must be a string");
          goto out;
        }
      if (dup_string (json_string_value (v), &m->name, err) < 0)
        goto out;
    }
  u = 0;
  if (meta_uint (o, "mode", UINT32_MAX, &u, err) < 0)
    goto out;
  m->mode = (uint32_t)u;
  u = 0;
  if (meta_uint (o, "uid", UINT32_MAX, &u, err) < 0)
    goto out;
  m->uid = (uint32_t)u;
  u = 0;
  if (meta_uint (o, "gid", UINT32_MAX, &u, err) < 0)
    goto out;
  m->gid = (uint32_t)u;
  u = 0;
  if (meta_uint (o, "size", INT64_MAX, &u, err) < 0)
    goto out;
  m->size = (int64_t)u;
  u = 0;
  if (meta_uint (o, "typeflag", 255, &u, err) < 0)
    goto out;
  m->typeflag = (int)u;
  m->type = file_type_of (m->typeflag);
  v = json_object_get (o, "mtime");
  if (v != NULL && !json_is_null (v))
    {
      if (!json_is_string (v)
          || !model_rfc3339_parse (json_string_value (v), &m->mtime_sec,
                                   &m->mtime_nsec))
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "mtime: must be an RFC 3339 date-time string");
          goto out;
        }
      m->has_mtime = true;
    }
  r = 0;
out:
  json_decref (o);
  return r;
}

static const char *
nonempty_annotation (const model_annotations *a, const char *key)
{
  const char *v = model_annotations_get (a, key);

  /* An empty value is what Go's map lookup returns for a missing key, and
   * modctl treats both alike. */
  return v != NULL && *v != '\0' ? v : NULL;
}

static int
layer_details (model_layer *l, const char *where, mp_error *err)
{
  const model_annotations *a = &l->desc.annotations;
  static const struct
  {
    const char *key;
    enum model_path_source source;
  } path_keys[] = {
    { MODEL_ANNOTATION_FILEPATH, MODEL_PATH_FILEPATH },
    { MODEL_ANNOTATION_FILEPATH_LEGACY, MODEL_PATH_FILEPATH_LEGACY },
    { MODEL_ANNOTATION_TITLE, MODEL_PATH_TITLE },
  };
  const char *s, *key;

  l->type = model_media_type_classify (l->desc.media_type);
  for (size_t i = 0; i < sizeof path_keys / sizeof *path_keys; i++)
    {
      s = nonempty_annotation (a, path_keys[i].key);
      if (s == NULL)
        continue;
      /* A tar layer may stand for the whole tree ("."); a raw layer is one
       * file and needs a name. */
      if (sanitize (s, l->type.format != MODEL_FORMAT_RAW, &l->path, err) < 0)
        return mp_error_prefix (err, "%s: annotation %s", where,
                                path_keys[i].key);
      l->path_source = path_keys[i].source;
      break;
    }

  key = MODEL_ANNOTATION_FILE_METADATA;
  s = nonempty_annotation (a, key);
  if (s == NULL)
    {
      key = MODEL_ANNOTATION_FILE_METADATA_LEGACY;
      s = nonempty_annotation (a, key);
    }
  if (s != NULL)
    {
      if (parse_file_metadata (s, &l->metadata, err) < 0)
        return mp_error_prefix (err, "%s: annotation %s", where, key);
      l->has_metadata = true;
    }

  s = model_annotations_get (a, MODEL_ANNOTATION_MEDIATYPE_UNTESTED);
  if (s == NULL)
    s = model_annotations_get (a, MODEL_ANNOTATION_MEDIATYPE_UNTESTED_LEGACY);
  /* Informational only, so a value other than the two the spec names is
   * ignored rather than fatal. */
  if (s != NULL && strcmp (s, "true") == 0)
    l->untested = MODEL_BOOL_TRUE;
  else if (s != NULL && strcmp (s, "false") == 0)
    l->untested = MODEL_BOOL_FALSE;
  return 0;
}

/* ---- manifest ---------------------------------------------------------- */

void
model_manifest_free (model_manifest *m)
{
  if (m == NULL)
    return;
  free (m->media_type);
  free (m->artifact_type);
  descriptor_clear (&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    {
      descriptor_clear (&m->layers[i].desc);
      free (m->layers[i].path);
      free (m->layers[i].metadata.name);
    }
  free (m->layers);
  descriptor_clear (&m->subject);
  model_annotations_clear (&m->annotations);
  free (m);
}

static int
parse_subject (const json_t *root, model_descriptor *d, bool *has,
               mp_error *err)
{
  const json_t *v = json_object_get (root, "subject");

  if (v == NULL || json_is_null (v))
    return 0;
  if (parse_descriptor (v, "subject", false, d, NULL, err) < 0)
    return -1;
  *has = true;
  return 0;
}

/* The names Docker Model Runner's unpacking gives its layers (manifest.h). */
static int
docker_layer_names (model_manifest *m, mp_error *err)
{
  static const struct
  {
    const char *type, *stem, *ext;
    bool by_type_in_v01; /* v0.1 ignores the annotation */
    bool at_most_one;
  } rows[] = {
    { MODEL_DOCKER_AI_GGUF, "model", "gguf", true, false },
    { MODEL_DOCKER_AI_MMPROJ, "model", "mmproj", true, true },
    { MODEL_DOCKER_AI_CHAT_TEMPLATE, "template", "jinja", true, true },
    { MODEL_DOCKER_AI_SAFETENSORS, "model", "safetensors", false, false },
    { MODEL_DOCKER_AI_LICENSE, "license", "txt", false, false },
  };
  bool v01 = strcmp (m->config.media_type, MODEL_DOCKER_AI_CONFIG_V01) == 0;

  for (size_t i = 0; i < m->n_layers; i++)
    {
      model_layer *l = &m->layers[i];
      const char *mt = l->desc.media_type;
      char *name = NULL;
      size_t r, n = 0, pos = 0;

      if (strcmp (mt, MODEL_DOCKER_AI_DDUF) == 0)
        {
          const char *hex = strchr (l->desc.digest.str, ':') + 1;

          if (l->path != NULL && !v01)
            continue;
          if (asprintf (&name, "%s.dduf", hex) < 0)
            name = NULL;
        }
      else if (strcmp (mt, MODEL_DOCKER_AI_VLLM_CONFIG_TAR) == 0
               || strcmp (mt, MODEL_DOCKER_AI_DIR_TAR) == 0)
        {
          if (l->path != NULL)
            continue;
          name = strdup (".");
        }
      else
        {
          for (r = 0; r < sizeof rows / sizeof *rows; r++)
            if (strcmp (mt, rows[r].type) == 0)
              break;
          if (r == sizeof rows / sizeof *rows)
            continue;
          if (l->path != NULL && !(v01 && rows[r].by_type_in_v01))
            continue;
          for (size_t j = 0; j < m->n_layers; j++)
            if (strcmp (m->layers[j].desc.media_type, mt) == 0)
              {
                n++;
                if (j == i)
                  pos = n;
              }
          if (n > 1 && rows[r].at_most_one)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "layers[%zu] (%s): %zu layers of media type "
                                 "%s; a Docker model has at most one",
                                 i, l->desc.digest.str, n, mt);
          if ((n == 1 ? asprintf (&name, "%s.%s", rows[r].stem, rows[r].ext)
                      : asprintf (&name, "%s-%05zu-of-%05zu.%s", rows[r].stem,
                                  pos, n, rows[r].ext))
              < 0)
            name = NULL;
        }
      if (name == NULL)
        return mp_error_sys (err, ENOMEM, "manifest layers");
      free (l->path);
      l->path = name;
      l->path_source = MODEL_PATH_DOCKER;
    }
  return 0;
}

static int
manifest_from_json (const json_t *root, model_manifest *m, mp_error *err)
{
  enum model_doc_kind kind;
  const json_t *layers, *config;
  json_t *v;
  size_t i;

  if (detect_root (root, &kind, err) < 0)
    return -1;
  if (kind != MODEL_DOC_MANIFEST)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "this is an image index, not a manifest");
  if (check_schema_version (root, &m->schema_version, err) < 0
      || get_string (root, "mediaType", false, "", &m->media_type, err) < 0
      || get_string (root, "artifactType", false, "", &m->artifact_type, err)
             < 0)
    return -1;
  config = json_object_get (root, "config");
  if (config == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "config: required field is missing");
  if (parse_descriptor (config, "config", false, &m->config, NULL, err) < 0)
    return -1;

  /* OCI requires layers, but artifacts without files exist in the wild
   * and an absent list means no layers to anyone reading it with Go. */
  layers = json_object_get (root, "layers");
  if (layers != NULL && !json_is_null (layers))
    {
      if (!json_is_array (layers))
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "layers: must be an array");
      if (json_array_size (layers) > 0)
        {
          m->layers = calloc (json_array_size (layers), sizeof *m->layers);
          if (m->layers == NULL)
            return mp_error_sys (err, ENOMEM, "manifest layers");
        }
      json_array_foreach (layers, i, v)
      {
        char where[WHERE_MAX], named[WHERE_MAX];
        model_layer *l = &m->layers[i];

        snprintf (where, sizeof where, "layers[%zu]", i);
        m->n_layers = i + 1;
        if (parse_descriptor (v, where, false, &l->desc, named, err) < 0
            || layer_details (l, named, err) < 0)
          return -1;
      }
    }
  if (parse_subject (root, &m->subject, &m->has_subject, err) < 0
      || parse_annotations (json_object_get (root, "annotations"), "",
                            &m->annotations, err)
             < 0)
    return -1;

  if (model_media_type_is_model_artifact (m->artifact_type))
    {
      m->is_modelpack = true;
      m->legacy
          = strcmp (m->artifact_type, MODEL_ARTIFACT_TYPE_MANIFEST_LEGACY) == 0;
    }
  else if (model_media_type_is_model_config (m->config.media_type))
    {
      m->is_modelpack = true;
      m->legacy
          = strcmp (m->config.media_type, MODEL_MEDIA_TYPE_CONFIG_LEGACY) == 0;
    }
  m->is_image = model_media_type_is_image_config (m->config.media_type);
  m->is_docker_model
      = model_media_type_is_docker_model_config (m->config.media_type);
  if (m->is_docker_model && docker_layer_names (m, err) < 0)
    return -1;
  for (i = 0; i < m->n_layers; i++)
    {
      model_layer *l = &m->layers[i];
      const char *unpack = model_annotations_get (&l->desc.annotations,
                                                  MODEL_ANNOTATION_ORAS_UNPACK);

      if (l->type.format == MODEL_FORMAT_RAW)
        l->is_file = true;
      else if (!m->is_modelpack && !m->is_image
               && l->path_source == MODEL_PATH_TITLE
               && !(unpack != NULL && strcmp (unpack, "true") == 0))
        l->is_file = true;
      if (l->is_file && l->path != NULL && strcmp (l->path, ".") == 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "layers[%zu] (%s): a file layer's path must name "
                             "a file, not the model root",
                             i, l->desc.digest.str);
    }
  return 0;
}

int
model_manifest_parse (const void *buf, size_t len, model_manifest **out,
                      mp_error *err)
{
  cleanup_manifest model_manifest *m = NULL;
  json_t *root = load_json (buf, len, err);
  int r;

  if (root == NULL)
    return -1;
  m = calloc (1, sizeof *m);
  if (m == NULL)
    {
      json_decref (root);
      return mp_error_sys (err, ENOMEM, "manifest");
    }
  r = manifest_from_json (root, m, err);
  json_decref (root);
  if (r < 0)
    return mp_error_prefix (err, "invalid manifest");
  *out = steal_pointer (&m);
  return 0;
}

/* ---- index ------------------------------------------------------------- */

void
model_index_free (model_index *idx)
{
  if (idx == NULL)
    return;
  free (idx->media_type);
  free (idx->artifact_type);
  for (size_t i = 0; i < idx->n_manifests; i++)
    descriptor_clear (&idx->manifests[i]);
  free (idx->manifests);
  descriptor_clear (&idx->subject);
  model_annotations_clear (&idx->annotations);
  free (idx);
}

static int
index_from_json (const json_t *root, model_index *idx, mp_error *err)
{
  enum model_doc_kind kind;
  const json_t *manifests;
  json_t *v;
  size_t i;

  if (detect_root (root, &kind, err) < 0)
    return -1;
  if (kind != MODEL_DOC_INDEX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "this is an image manifest, not an index");
  if (check_schema_version (root, &idx->schema_version, err) < 0
      || get_string (root, "mediaType", false, "", &idx->media_type, err) < 0
      || get_string (root, "artifactType", false, "", &idx->artifact_type, err)
             < 0)
    return -1;
  manifests = json_object_get (root, "manifests");
  if (manifests == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "manifests: required field is missing");
  if (!json_is_array (manifests))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "manifests: must be an array");
  if (json_array_size (manifests) > 0)
    {
      idx->manifests
          = calloc (json_array_size (manifests), sizeof *idx->manifests);
      if (idx->manifests == NULL)
        return mp_error_sys (err, ENOMEM, "index");
    }
  json_array_foreach (manifests, i, v)
  {
    char where[WHERE_MAX];

    snprintf (where, sizeof where, "manifests[%zu]", i);
    idx->n_manifests = i + 1;
    if (parse_descriptor (v, where, true, &idx->manifests[i], NULL, err) < 0)
      return -1;
  }
  if (parse_subject (root, &idx->subject, &idx->has_subject, err) < 0
      || parse_annotations (json_object_get (root, "annotations"), "",
                            &idx->annotations, err)
             < 0)
    return -1;
  return 0;
}

int
model_index_parse (const void *buf, size_t len, model_index **out,
                   mp_error *err)
{
  cleanup_index model_index *idx = NULL;
  json_t *root = load_json (buf, len, err);
  int r;

  if (root == NULL)
    return -1;
  idx = calloc (1, sizeof *idx);
  if (idx == NULL)
    {
      json_decref (root);
      return mp_error_sys (err, ENOMEM, "index");
    }
  r = index_from_json (root, idx, err);
  json_decref (root);
  if (r < 0)
    return mp_error_prefix (err, "invalid image index");
  *out = steal_pointer (&idx);
  return 0;
}

/* ---- platforms --------------------------------------------------------- */

/* Architecture and variant in the spelling OCI uses (Go's GOARCH), as
 * containerd's platforms package normalizes them. */
struct norm_platform
{
  char arch[32];
  char variant[16];
};

static void
normalize (const char *arch, const char *variant, struct norm_platform *n)
{
  static const struct
  {
    const char *from, *arch, *variant;
  } aliases[] = {
    { "x86_64", "amd64", NULL },  { "x86-64", "amd64", NULL },
    { "aarch64", "arm64", NULL }, { "i386", "386", NULL },
    { "i486", "386", NULL },      { "i586", "386", NULL },
    { "i686", "386", NULL },      { "armhf", "arm", "v7" },
    { "armel", "arm", "v6" },
  };

  snprintf (n->arch, sizeof n->arch, "%s", arch ? arch : "");
  snprintf (n->variant, sizeof n->variant, "%s", variant ? variant : "");
  for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
    if (strcmp (n->arch, aliases[i].from) == 0)
      {
        snprintf (n->arch, sizeof n->arch, "%s", aliases[i].arch);
        if (aliases[i].variant != NULL && n->variant[0] == '\0')
          snprintf (n->variant, sizeof n->variant, "%s", aliases[i].variant);
      }
  /* Bare digits ("7") mean "v7". */
  if (n->variant[0] >= '0' && n->variant[0] <= '9')
    {
      size_t len = strlen (n->variant);

      if (len + 2 <= sizeof n->variant)
        {
          memmove (n->variant + 1, n->variant, len + 1);
          n->variant[0] = 'v';
        }
    }
  if (strcmp (n->arch, "arm64") == 0 && strcmp (n->variant, "v8") == 0)
    n->variant[0] = '\0';
  if (strcmp (n->arch, "arm") == 0 && n->variant[0] == '\0')
    snprintf (n->variant, sizeof n->variant, "v7");
}

/* 2: exact, 1: runs there (older 32-bit ARM variant), 0: no. */
static int
platform_score (const model_platform *want, const model_platform *have)
{
  struct norm_platform w, h;

  if (have->os == NULL || want->os == NULL
      || strcasecmp (have->os, want->os) != 0)
    return 0;
  normalize (want->architecture, want->variant, &w);
  normalize (have->architecture, have->variant, &h);
  if (strcmp (w.arch, h.arch) != 0)
    return 0;
  if (strcmp (w.variant, h.variant) == 0)
    return 2;
  if (strcmp (w.arch, "arm") == 0 && w.variant[0] == 'v' && h.variant[0] == 'v'
      && atoi (h.variant + 1) > 0
      && atoi (h.variant + 1) < atoi (w.variant + 1))
    return 1;
  return 0;
}

int
model_platform_host (model_platform *out, mp_error *err)
{
  struct utsname u;
  struct norm_platform n;
  const char *m;
  char variant[8] = "";

  memset (out, 0, sizeof *out);
  if (uname (&u) < 0)
    return mp_error_sys (err, errno, "uname");
  m = u.machine;
  if (strncmp (m, "armv", 4) == 0 && m[4] >= '5' && m[4] <= '8')
    {
      /* armv7l: 32-bit ARM, variant from the version digit. */
      snprintf (variant, sizeof variant, "v%c", m[4]);
      m = "arm";
    }
  normalize (m, variant, &n);
  out->os = strdup ("linux");
  out->architecture = strdup (n.arch);
  out->variant = n.variant[0] ? strdup (n.variant) : NULL;
  if (out->os == NULL || out->architecture == NULL
      || (n.variant[0] && out->variant == NULL))
    {
      model_platform_clear (out);
      return mp_error_sys (err, ENOMEM, "platform");
    }
  return 0;
}

static const char *
or_unset (const char *s)
{
  return s != NULL ? s : "?";
}

ssize_t
model_index_select (const model_index *idx, const model_platform *want,
                    mp_error *err)
{
  model_platform host = { 0 };
  ssize_t best = -1, artifact = -1, bare = -1;
  size_t n_artifacts = 0, n_bare = 0;
  int best_score = 0;
  char avail[512] = "";
  size_t alen = 0;

  if (want == NULL)
    {
      if (model_platform_host (&host, err) < 0)
        return -1;
      want = &host;
    }
  for (size_t i = 0; i < idx->n_manifests; i++)
    {
      const model_descriptor *d = &idx->manifests[i];

      if (!model_media_type_is_manifest (d->media_type))
        continue;
      if (d->has_platform)
        {
          int s = platform_score (want, &d->platform);
          if (s > best_score)
            {
              best_score = s;
              best = (ssize_t)i;
            }
          if (alen < sizeof avail - 1)
            {
              int k = snprintf (avail + alen, sizeof avail - alen,
                                "%s%s/%s%s%s", alen ? ", " : "", d->platform.os,
                                d->platform.architecture,
                                d->platform.variant ? "/" : "",
                                d->platform.variant ? d->platform.variant : "");
              if (k > 0)
                alen += (size_t)k;
              if (alen > sizeof avail - 1)
                alen = sizeof avail - 1;
            }
        }
      else
        {
          n_bare++;
          bare = (ssize_t)i;
        }
      if (model_media_type_is_model_artifact (d->artifact_type))
        {
          n_artifacts++;
          artifact = (ssize_t)i;
        }
    }
  if (best >= 0)
    {
      model_platform_clear (&host);
      return best;
    }
  if (n_artifacts == 1)
    best = artifact;
  else if (n_artifacts > 1)
    mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                  "image index lists %zu ModelPack manifests and none for "
                  "%s/%s: cannot choose",
                  n_artifacts, or_unset (want->os),
                  or_unset (want->architecture));
  else if (n_bare == 1)
    best = bare;
  else if (n_bare > 1)
    mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                  "image index lists %zu manifests without a platform and "
                  "none for %s/%s: cannot choose",
                  n_bare, or_unset (want->os), or_unset (want->architecture));
  else
    {
      char q[MODEL_QUOTE_BUF];
      mp_error_set (err, MP_ERR_NOT_FOUND,
                    "image index has no manifest for platform %s/%s%s%s "
                    "(available: %s)",
                    or_unset (want->os), or_unset (want->architecture),
                    want->variant ? "/" : "",
                    want->variant ? want->variant : "",
                    alen ? model_quote (avail, q, sizeof q) : "none");
    }
  model_platform_clear (&host);
  return best;
}
