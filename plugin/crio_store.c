/* CRI-O additional artifact store export: see crio_store.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/digest.h"
#include "model/manifest.h"
#include "model/mediatype.h"
#include "model/modelconfig.h"
#include "model/modelfile.h"
#include "plugin/crio_store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log.h"

#define MAX_DOC (4 * 1024 * 1024)

void
crio_export_stats_clear (struct crio_export_stats *s)
{
  free (s->digest);
  free (s->source);
  memset (s, 0, sizeof *s);
}

/* ---- the store directory ------------------------------------------------ */

static oci_layout *
store_open (const char *store, bool create, mp_error *err)
{
  struct stat st;
  cleanup_free char *dir = NULL;

  if (store == NULL || store[0] == '\0')
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "no CRI-O store given");
      return NULL;
    }
  if (stat (store, &st) == 0)
    {
      if (!S_ISDIR (st.st_mode))
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "CRI-O store %s is not a directory", store);
          return NULL;
        }
    }
  else if (errno != ENOENT || !create)
    {
      if (errno == ENOENT)
        mp_error_set (err, MP_ERR_NOT_FOUND, "CRI-O store %s does not exist",
                      store);
      else
        mp_error_sys (err, errno, "CRI-O store %s", store);
      return NULL;
    }
  else if (mp_mkdir_p (store, 0755, err) < 0)
    return NULL;
  if (asprintf (&dir, "%s/artifacts", store) < 0)
    {
      mp_error_sys (err, ENOMEM, "CRI-O store");
      return NULL;
    }
  return oci_layout_open (dir, create, err);
}

/* The pin that keeps SOURCE's tree for STORE: one per store and source. */
static int
pin_name (const char *store, const char *source, char *out, size_t size,
          mp_error *err)
{
  cleanup_free char *real = realpath (store, NULL);
  model_digest s, h;

  if (real == NULL)
    return mp_error_sys (err, errno, "CRI-O store %s", store);
  if (model_digest_parse (source, &s, err) < 0
      || model_digest_buffer (MODEL_DIGEST_SHA256, real, strlen (real), &h, err)
             < 0)
    return -1;
  snprintf (out, size, "crio-%.16s-%s", model_digest_hex (&h),
            model_digest_hex (&s));
  return 0;
}

/* Annotation KEY of the exported manifest DIGEST, or NULL. */
static char *
entry_annotation (oci_layout *l, const char *digest, const char *key)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  model_manifest *m = NULL;
  const char *v;
  char *out = NULL;

  if (oci_layout_read_blob (l, digest, MAX_DOC, &buf, &len, NULL) < 0
      || model_manifest_parse (buf, len, &m, NULL) < 0)
    return NULL;
  v = model_annotations_get (&m->annotations, key);
  if (v != NULL)
    out = strdup (v);
  model_manifest_free (m);
  return out;
}

/* The source annotation of the exported manifest DIGEST, or NULL. */
static char *
entry_source (oci_layout *l, const char *digest)
{
  char *s = entry_annotation (l, digest, CRIO_STORE_ANNOTATION_SOURCE);

  if (s != NULL && !model_digest_is_valid (s))
    {
      free (s);
      s = NULL;
    }
  return s;
}

/* Whether any entry of L other than SKIP_NAME was exported from SOURCE. */
static bool
source_in_use (oci_layout *l, const char *source, const char *skip_name)
{
  oci_layout_ref *refs = NULL;
  size_t n = 0;
  bool used = false;

  if (oci_layout_list (l, &refs, &n, NULL) < 0)
    return true; /* unsure: keep the pin */
  for (size_t i = 0; i < n && !used; i++)
    {
      cleanup_free char *s = NULL;

      if (refs[i].name != NULL && skip_name != NULL
          && strcmp (refs[i].name, skip_name) == 0)
        continue;
      s = entry_source (l, refs[i].digest);
      used = s != NULL && strcmp (s, source) == 0;
    }
  oci_layout_refs_free (refs, n);
  return used;
}

/* ---- walking the tree --------------------------------------------------- */

struct walk
{
  size_t root_len;
  char **files;
  size_t n, cap;
  int symlinks;
  int error;
};

static __thread struct walk *walk_state;

static int
walk_cb (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  struct walk *w = walk_state;

  if (type == FTW_SL)
    {
      w->symlinks++;
      return 0;
    }
  if (type != FTW_F || !S_ISREG (st->st_mode))
    return 0;
  if (w->n == w->cap)
    {
      size_t cap = w->cap ? w->cap * 2 : 64;
      char **v = realloc (w->files, cap * sizeof *v);

      if (v == NULL)
        {
          w->error = ENOMEM;
          return 1;
        }
      w->files = v;
      w->cap = cap;
    }
  w->files[w->n] = strdup (path + w->root_len + 1);
  if (w->files[w->n] == NULL)
    {
      w->error = ENOMEM;
      return 1;
    }
  w->n++;
  return 0;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static void
walk_free (struct walk *w)
{
  for (size_t i = 0; i < w->n; i++)
    free (w->files[i]);
  free (w->files);
}

/* The source layer a file of the tree came from: the last layer whose path
 * is the file or a directory above it (later layers win, as in the tree). */
static const model_layer *
source_layer (const model_manifest *m, const char *rel)
{
  const model_layer *found = NULL;

  for (size_t i = 0; i < m->n_layers; i++)
    {
      const char *p = m->layers[i].path;
      size_t n;

      if (p == NULL)
        continue;
      n = strlen (p);
      if (strcmp (p, ".") == 0 || strcmp (p, rel) == 0
          || (strncmp (p, rel, n) == 0 && rel[n] == '/'))
        found = &m->layers[i];
    }
  return found;
}

static enum model_layer_kind
file_kind (const model_layer *src, const char *rel)
{
  int k;

  if (src != NULL && src->type.is_modelpack)
    return src->type.kind;
  k = modelfile_classify (rel);
  return k < 0 ? MODEL_LAYER_DOC : modelfile_kind_layer (k);
}

/* Put the tree's file PATH into the layout as blob DIGEST: a hard link,
 * or a copy across filesystems.  *LINKED says which. */
static int
place_blob (oci_layout *l, const char *path, const model_digest *d,
            int64_t size, bool *linked, mp_error *err)
{
  cleanup_free char *dst = oci_layout_blob_path (l, d->str);
  cleanup_close int fd = -1;
  oci_blob_writer *w;
  char buf[1 << 16];
  struct stat st;

  if (dst == NULL)
    return mp_error_set (err, MP_ERR_INTERNAL, "bad digest %s", d->str);
  if (link (path, dst) == 0)
    {
      *linked = true;
      return 0;
    }
  if (errno == EEXIST)
    {
      struct stat src;

      /* The same content is there already (this model exported before,
       * another file with the same bytes, or another export meanwhile). */
      if (lstat (dst, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size != size)
        return mp_error_set (err, MP_ERR_INTERNAL,
                             "%s exists but is not blob %s", dst, d->str);
      *linked = stat (path, &src) == 0 && src.st_ino == st.st_ino
                && src.st_dev == st.st_dev;
      return 0;
    }
  if (errno != EXDEV && errno != EPERM && errno != EMLINK)
    return mp_error_sys (err, errno, "link %s to %s", path, dst);
  /* Another filesystem (or links refused): copy through the verified
   * writer. */
  *linked = false;
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return mp_error_sys (err, errno, "open %s", path);
  w = oci_layout_blob_begin (l, d->str, size, err);
  if (w == NULL)
    return -1;
  for (;;)
    {
      ssize_t r = read (fd, buf, sizeof buf);

      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          mp_error_sys (err, errno, "read %s", path);
          oci_blob_abort (w);
          return -1;
        }
      if (r == 0)
        break;
      if (oci_blob_write (w, buf, (size_t)r, err) < 0)
        {
          oci_blob_abort (w);
          return -1;
        }
    }
  return oci_blob_commit (w, NULL, err);
}

/* One layer per regular file of TREE, appended to LAYERS; diffIds too. */
static int
export_files (oci_layout *l, const char *tree, const model_manifest *src,
              json_t *layers, json_t *diffs, struct crio_export_stats *st,
              mp_error *err)
{
  struct walk w = { .root_len = strlen (tree) };
  int rc = -1;

  walk_state = &w;
  if (nftw (tree, walk_cb, 32, FTW_PHYS) != 0)
    {
      int e = w.error ? w.error : errno;

      walk_state = NULL;
      walk_free (&w);
      return mp_error_sys (err, e, "walk %s", tree);
    }
  walk_state = NULL;
  st->skipped_symlinks = w.symlinks;
  if (w.n > 0)
    qsort (w.files, w.n, sizeof *w.files, cmp_str);
  for (size_t i = 0; i < w.n; i++)
    {
      const char *rel = w.files[i];
      const model_layer *sl = source_layer (src, rel);
      cleanup_free char *path = NULL, *metatext = NULL;
      model_digest d;
      struct stat fst;
      bool linked = false;
      const char *base = strrchr (rel, '/');
      char tbuf[64];
      json_t *meta, *ann, *desc;

      if (asprintf (&path, "%s/%s", tree, rel) < 0)
        {
          mp_error_sys (err, ENOMEM, "export");
          goto out;
        }
      if (lstat (path, &fst) < 0)
        {
          mp_error_sys (err, errno, "stat %s", path);
          goto out;
        }
      /* A raw layer's file is its blob, verified when the tree was built;
       * any other file is hashed here. */
      if (sl != NULL && sl->is_file && strcmp (sl->path, rel) == 0
          && sl->desc.digest.algo == MODEL_DIGEST_SHA256
          && sl->desc.size == fst.st_size)
        d = sl->desc.digest;
      else if (model_digest_file (path, MODEL_DIGEST_SHA256, &d, err) < 0)
        goto out;
      if (place_blob (l, path, &d, fst.st_size, &linked, err) < 0)
        goto out;
      st->files++;
      if (linked)
        st->linked++;
      else
        st->copied++;
      st->bytes += fst.st_size;

      model_rfc3339_format (&fst.st_mtim, true, tbuf, sizeof tbuf);
      meta = json_pack (
          "{s:s,s:I,s:I,s:I,s:I,s:s,s:i}", "name", base ? base + 1 : rel,
          "mode", (json_int_t)(fst.st_mode & 07777), "uid",
          (json_int_t)fst.st_uid, "gid", (json_int_t)fst.st_gid, "size",
          (json_int_t)fst.st_size, "mtime", tbuf, "typeflag", 0);
      metatext = meta ? json_dumps (meta, JSON_COMPACT) : NULL;
      json_decref (meta);
      ann = json_pack ("{s:s,s:s,s:s}", MODEL_ANNOTATION_TITLE, rel,
                       MODEL_ANNOTATION_FILEPATH, rel,
                       MODEL_ANNOTATION_FILE_METADATA,
                       metatext ? metatext : "{}");
      desc = ann == NULL
                 ? NULL
                 : json_pack ("{s:s,s:s,s:I,s:o}", "mediaType",
                              model_media_type_for (file_kind (sl, rel),
                                                    MODEL_FORMAT_RAW),
                              "digest", d.str, "size", (json_int_t)fst.st_size,
                              "annotations", ann);
      if (desc == NULL || json_array_append_new (layers, desc) < 0
          || json_array_append_new (diffs, json_string (d.str)) < 0)
        {
          mp_error_sys (err, ENOMEM, "export");
          goto out;
        }
    }
  rc = 0;
out:
  walk_free (&w);
  return rc;
}

/* The exported config: the source's with new diffIds, or (for a source
 * that is not a ModelPack model) a minimal one. */
static int
export_config (const char *src_text, size_t src_len, json_t *diffs, char **out,
               mp_error *err)
{
  json_t *cfg = NULL, *fs;
  cleanup_free char *text = NULL;

  if (src_text != NULL)
    cfg = json_loadb (src_text, src_len, 0, NULL);
  if (cfg == NULL || !json_is_object (cfg))
    {
      json_decref (cfg);
      cfg = json_pack ("{s:{},s:{}}", "descriptor", "config");
    }
  fs = json_pack ("{s:s,s:O}", "type", "layers", "diffIds", diffs);
  if (cfg == NULL || fs == NULL || json_object_set_new (cfg, "modelfs", fs) < 0)
    {
      json_decref (cfg);
      return mp_error_sys (err, ENOMEM, "export config");
    }
  text = json_dumps (cfg, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref (cfg);
  if (text == NULL)
    return mp_error_sys (err, ENOMEM, "export config");
  if (model_config_validate (text, strlen (text), err) < 0)
    return mp_error_prefix (err, "the exported model config would be invalid");
  *out = steal_pointer (&text);
  return 0;
}

int
crio_store_add (const char *store, model_cache *cache, const char *name,
                const char *digest, const char *origin,
                model_blob_open_fn open_fn, void *ctx,
                struct crio_export_stats *st, mp_error *err)
{
  oci_layout *l = NULL;
  cleanup_free char *tree = NULL, *resolved = NULL, *mbuf = NULL, *cbuf = NULL,
                    *cfgtext = NULL, *mantext = NULL, *old_source = NULL;
  size_t mlen = 0, clen = 0;
  model_manifest *m = NULL;
  json_t *layers = json_array (), *diffs = json_array (), *man = NULL,
         *ann = NULL;
  char pin[128] = "";
  bool pin_new = false, tagged = false;
  oci_layout_ref old = { 0 };
  bool had_old = false;
  int rc = -1;

  memset (st, 0, sizeof *st);
  if (layers == NULL || diffs == NULL)
    {
      mp_error_sys (err, ENOMEM, "export");
      goto out;
    }
  if (name == NULL || name[0] == '\0')
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "no name for the export");
      goto out;
    }
  l = store_open (store, true, err);
  if (l == NULL)
    goto out;

  /* The tree, pinned for this store before anything names it. */
  for (int attempt = 0;; attempt++)
    {
      free (tree);
      free (resolved);
      tree = resolved = NULL;
      if (model_cache_get_manifest_tree (cache, digest, open_fn, ctx, &tree,
                                         &resolved, NULL, err)
          < 0)
        goto out;
      if (pin_name (store, resolved, pin, sizeof pin, err) < 0)
        goto out;
      {
        cleanup_free char *have = NULL;

        pin_new = model_cache_pin_get (cache, pin, &have, NULL, NULL) < 0;
      }
      if (model_cache_pin (cache, pin, resolved, store, err) == 0)
        break;
      if (err->code != MP_ERR_NOT_FOUND || attempt == 2)
        goto out;
    }

  {
    model_digest rd;

    if (model_digest_parse (resolved, &rd, err) < 0
        || model_read_document (open_fn, ctx, &rd, -1, "manifest", &mbuf, &mlen,
                                err)
               < 0)
      goto out;
    if (model_manifest_parse (mbuf, mlen, &m, err) < 0)
      {
        mp_error_prefix (err, "manifest %s", resolved);
        goto out;
      }
  }
  if (model_media_type_is_model_config (m->config.media_type)
      && model_read_document (open_fn, ctx, &m->config.digest, m->config.size,
                              "config", &cbuf, &clen, err)
             < 0)
    goto out;

  if (export_files (l, tree, m, layers, diffs, st, err) < 0)
    goto out;
  if (st->files == 0)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "%s has no regular files to export", resolved);
      goto out;
    }
  if (export_config (cbuf, clen, diffs, &cfgtext, err) < 0)
    goto out;
  {
    cleanup_free char *cdig = NULL;

    if (oci_layout_put_blob (l, cfgtext, strlen (cfgtext), &cdig, err) < 0)
      goto out;
    ann = json_object ();
    for (size_t i = 0; ann != NULL && i < m->annotations.n; i++)
      json_object_set_new (ann, m->annotations.v[i].key,
                           json_string (m->annotations.v[i].value));
    if (ann != NULL)
      json_object_set_new (ann, CRIO_STORE_ANNOTATION_SOURCE,
                           json_string (resolved));
    if (ann != NULL && origin != NULL)
      json_object_set_new (ann, CRIO_STORE_ANNOTATION_ORIGIN,
                           json_string (origin));
    man = ann == NULL
              ? NULL
              : json_pack ("{s:i,s:s,s:s,s:{s:s,s:s,s:I},s:O,s:O}",
                           "schemaVersion", 2, "mediaType",
                           MODEL_OCI_MEDIA_TYPE_MANIFEST, "artifactType",
                           MODEL_ARTIFACT_TYPE_MANIFEST, "config", "mediaType",
                           MODEL_MEDIA_TYPE_CONFIG, "digest", cdig, "size",
                           (json_int_t)strlen (cfgtext), "layers", layers,
                           "annotations", ann);
    mantext = man ? json_dumps (man, JSON_COMPACT) : NULL;
    if (mantext == NULL)
      {
        mp_error_sys (err, ENOMEM, "export manifest");
        goto out;
      }
  }
  if (oci_layout_put_blob (l, mantext, strlen (mantext), &st->digest, err) < 0)
    goto out;

  /* What the name pointed at before, to release its pin afterwards. */
  if (oci_layout_resolve (l, name, &old, NULL) == 0)
    {
      had_old = true;
      old_source = entry_source (l, old.digest);
    }
  if (oci_layout_tag (l, name, MODEL_OCI_MEDIA_TYPE_MANIFEST, st->digest,
                      (int64_t)strlen (mantext), MODEL_ARTIFACT_TYPE_MANIFEST,
                      err)
      < 0)
    goto out;
  tagged = true;
  st->source = strdup (resolved);
  if (old_source != NULL && strcmp (old_source, resolved) != 0
      && !source_in_use (l, old_source, NULL))
    {
      char opin[128];

      if (pin_name (store, old_source, opin, sizeof opin, NULL) == 0)
        model_cache_unpin (cache, opin, NULL);
    }
  rc = 0;

out:
  if (l != NULL)
    {
      if (!tagged && pin_new && pin[0] != '\0')
        model_cache_unpin (cache, pin, NULL);
      /* Blobs nothing names (a failed export, a replaced one) go; a new
       * name leaves none, so the walk over the whole store is spared. */
      if (!tagged || had_old)
        oci_layout_gc (l, NULL, NULL);
    }
  if (had_old)
    oci_layout_refs_free (&old, 1);
  if (rc < 0)
    crio_export_stats_clear (st);
  model_manifest_free (m);
  json_decref (layers);
  json_decref (diffs);
  json_decref (ann);
  json_decref (man);
  oci_layout_close (l);
  return rc;
}

int
crio_store_remove (const char *store, model_cache *cache, const char *name,
                   mp_error *err)
{
  oci_layout *l = store_open (store, false, err);
  oci_layout_ref ref = { 0 };
  cleanup_free char *source = NULL;
  int rc = -1;

  if (l == NULL)
    return -1;
  if (oci_layout_resolve (l, name, &ref, err) < 0)
    goto out;
  source = entry_source (l, ref.digest);
  if (oci_layout_untag (l, ref.name != NULL ? ref.name : name, err) < 0)
    goto out;
  if (source != NULL && !source_in_use (l, source, NULL))
    {
      char pin[128];

      if (pin_name (store, source, pin, sizeof pin, NULL) == 0)
        model_cache_unpin (cache, pin, NULL);
    }
  oci_layout_gc (l, NULL, NULL);
  rc = 0;
out:
  oci_layout_refs_free (&ref, 1);
  oci_layout_close (l);
  return rc;
}

int
crio_store_list (const char *store, oci_layout_ref **refs, size_t *n,
                 char ***sources, char ***origins, mp_error *err)
{
  oci_layout *l;
  mp_error e2 = { 0 };

  *refs = NULL;
  *n = 0;
  if (sources != NULL)
    *sources = NULL;
  if (origins != NULL)
    *origins = NULL;
  l = store_open (store, false, &e2);
  if (l == NULL)
    {
      if (e2.code == MP_ERR_NOT_FOUND)
        {
          struct stat st;
          /* A store that exists but holds no export yet is empty; a
           * missing store is an error. */
          if (stat (store, &st) == 0 && S_ISDIR (st.st_mode))
            return 0;
        }
      *err = e2;
      return -1;
    }
  if (oci_layout_list (l, refs, n, err) < 0)
    {
      oci_layout_close (l);
      return -1;
    }
  if (sources != NULL && *n > 0)
    {
      *sources = calloc (*n, sizeof **sources);
      for (size_t i = 0; *sources != NULL && i < *n; i++)
        (*sources)[i] = entry_source (l, (*refs)[i].digest);
    }
  if (origins != NULL && *n > 0)
    {
      *origins = calloc (*n, sizeof **origins);
      for (size_t i = 0; *origins != NULL && i < *n; i++)
        (*origins)[i] = entry_annotation (l, (*refs)[i].digest,
                                          CRIO_STORE_ANNOTATION_ORIGIN);
    }
  oci_layout_close (l);
  return 0;
}
