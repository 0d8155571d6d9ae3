/* Packing a model directory (see pack.h). */
#include "model/pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "model/digest.h"
#include "model/manifest.h"
#include "model/modelconfig.h"
#include "util/cleanup.h"

#define CHUNK (1 << 20)
#define ZSTD_LEVEL 3
#define GZIP_LEVEL 6

struct pfile
{
  char *rel;
  enum modelfile_kind kind;
  mode_t mode;
  int64_t size;
  struct timespec mtime;
};

struct plist
{
  struct pfile *v;
  size_t n, cap;
};

static void
plist_free (struct plist *p)
{
  for (size_t i = 0; i < p->n; i++)
    free (p->v[i].rel);
  free (p->v);
}

static int
kind_of (const struct model_pack_opts *o, const char *rel)
{
  if (o->mf == NULL)
    return modelfile_classify (rel);
  for (size_t i = 0; i < o->mf->n_rules; i++)
    if (fnmatch (o->mf->rules[i].pattern, rel, FNM_PATHNAME) == 0)
      return (int)o->mf->rules[i].kind;
  return -1;
}

/* Collect the regular files under DIRFD (path PREFIX), recursively; hidden
 * entries and the Modelfile are not part of the model. */
static int
walk (const struct model_pack_opts *o, int dirfd, const char *prefix,
      struct plist *out, int depth, mp_error *err)
{
  DIR *d;
  struct dirent *e;
  int fd = dup (dirfd);

  if (depth > 64)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: directories nested too deep", prefix);
  d = fd >= 0 ? fdopendir (fd) : NULL;
  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return mp_error_sys (err, errno, "read %s/%s", o->src, prefix);
    }
  while ((e = readdir (d)) != NULL)
    {
      char rel[PATH_MAX];
      struct stat st;
      int k;

      if (e->d_name[0] == '.')
        continue;
      if (depth == 0 && strcmp (e->d_name, "Modelfile") == 0)
        continue;
      if (snprintf (rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "",
                    e->d_name)
          >= (int)sizeof rel)
        {
          closedir (d);
          return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                               "%s: path too long", prefix);
        }
      /* A name every reader of the artifact accepts (no control
       * characters, no "..", within the limits), or no artifact at all. */
      {
        char *clean = NULL;
        if (model_path_sanitize (rel, &clean, err) < 0)
          {
            closedir (d);
            return mp_error_prefix (err, "%s", o->src);
          }
        free (clean);
      }
      if (fstatat (dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          closedir (d);
          return mp_error_sys (err, errno, "stat %s/%s", o->src, rel);
        }
      if (S_ISDIR (st.st_mode))
        {
          int sub = openat (dirfd, e->d_name,
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          int r = sub < 0 ? mp_error_sys (err, errno, "open %s/%s", o->src, rel)
                          : walk (o, sub, rel, out, depth + 1, err);
          if (sub >= 0)
            close (sub);
          if (r < 0)
            {
              closedir (d);
              return -1;
            }
          continue;
        }
      if (!S_ISREG (st.st_mode))
        continue; /* symlinks and special files are not model content */
      k = kind_of (o, rel);
      if (k < 0)
        continue;
      if (out->n == out->cap)
        {
          size_t cap = out->cap ? out->cap * 2 : 32;
          struct pfile *v = realloc (out->v, cap * sizeof *v);
          if (v == NULL)
            {
              closedir (d);
              return mp_error_sys (err, ENOMEM, "pack");
            }
          out->v = v;
          out->cap = cap;
        }
      out->v[out->n] = (struct pfile){ .rel = strdup (rel),
                                       .kind = (enum modelfile_kind)k,
                                       .mode = st.st_mode & 0777,
                                       .size = st.st_size,
                                       .mtime = st.st_mtim };
      if (out->v[out->n].rel == NULL)
        {
          closedir (d);
          return mp_error_sys (err, ENOMEM, "pack");
        }
      out->n++;
    }
  closedir (d);
  return 0;
}

static int
pfile_cmp (const void *a, const void *b)
{
  return strcmp (((const struct pfile *)a)->rel,
                 ((const struct pfile *)b)->rel);
}

/* ---- one layer --------------------------------------------------------- */

/* Where a tar stream goes: hashed (diffId), then compressed (or not) into
 * the blob writer. */
struct sink
{
  model_blob_writer *w;
  model_hasher *diff;
  enum model_layer_format format;
  z_stream z;
  ZSTD_CCtx *zc;
  unsigned char *buf;
  mp_error *err;
  bool failed;
};

static int
sink_compressed (struct sink *s, const void *data, size_t len, bool end)
{
  if (s->format == MODEL_FORMAT_TAR_GZIP)
    {
      s->z.next_in = (unsigned char *)data;
      s->z.avail_in = (uInt)len;
      for (;;)
        {
          int r;

          s->z.next_out = s->buf;
          s->z.avail_out = CHUNK;
          r = deflate (&s->z, end ? Z_FINISH : Z_NO_FLUSH);
          if (r == Z_STREAM_ERROR)
            return mp_error_set (s->err, MP_ERR_INTERNAL, "gzip failed");
          if (CHUNK - s->z.avail_out > 0
              && model_blob_write (s->w, s->buf, CHUNK - s->z.avail_out, s->err)
                     < 0)
            return -1;
          if (end ? r == Z_STREAM_END : s->z.avail_out != 0)
            return 0;
        }
    }
  {
    ZSTD_inBuffer in = { data, len, 0 };
    for (;;)
      {
        ZSTD_outBuffer outb = { s->buf, CHUNK, 0 };
        size_t left = ZSTD_compressStream2 (s->zc, &outb, &in,
                                            end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError (left))
          return mp_error_set (s->err, MP_ERR_INTERNAL, "zstd: %s",
                               ZSTD_getErrorName (left));
        if (outb.pos > 0
            && model_blob_write (s->w, s->buf, outb.pos, s->err) < 0)
          return -1;
        if (end ? left == 0 : in.pos == in.size)
          return 0;
      }
  }
}

static la_ssize_t
sink_write (struct archive *a, void *ctx, const void *data, size_t len)
{
  struct sink *s = ctx;

  if (s->failed)
    return -1;
  if (model_hasher_update (s->diff, data, len, s->err) < 0
      || (s->format == MODEL_FORMAT_TAR
              ? model_blob_write (s->w, data, len, s->err)
              : sink_compressed (s, data, len, false))
             < 0)
    {
      s->failed = true;
      return -1;
    }
  return (la_ssize_t)len;
}

/* Copy FD into the writer (raw) or through a tar of one entry. */
static int
pack_file (const model_blob_sink *l, const struct model_pack_opts *o, int srcfd,
           const struct pfile *f, model_digest *blob, model_digest *diff,
           int64_t *blob_size, mp_error *err)
{
  cleanup_free unsigned char *buf = malloc (CHUNK);
  cleanup_free unsigned char *zbuf = NULL;
  cleanup_close int fd = -1;
  model_blob_writer *w = NULL;
  struct archive *a = NULL;
  struct archive_entry *ae = NULL;
  struct sink s = { 0 };
  cleanup_free char *dg = NULL;
  bool zinit = false;
  int rc = -1;

  if (buf == NULL)
    return mp_error_sys (err, ENOMEM, "pack");
  fd = openat (srcfd, f->rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return mp_error_sys (err, errno, "open %s/%s", o->src, f->rel);
  w = model_blob_begin (l, NULL, -1, err);
  if (w == NULL)
    return -1;
  if (o->format != MODEL_FORMAT_RAW)
    {
      s.w = w;
      s.err = err;
      s.format = o->format;
      s.diff = model_hasher_new (MODEL_DIGEST_SHA256, err);
      if (s.diff == NULL)
        goto out;
      if (o->format == MODEL_FORMAT_TAR_GZIP)
        {
          /* windowBits 15 + 16: a gzip wrapper; with no deflateSetHeader
           * it carries no name and mtime 0. */
          if (deflateInit2 (&s.z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
                            Z_DEFAULT_STRATEGY)
              != Z_OK)
            {
              mp_error_set (err, MP_ERR_INTERNAL, "gzip init failed");
              goto out;
            }
          zinit = true;
        }
      else if (o->format == MODEL_FORMAT_TAR_ZSTD)
        {
          s.zc = ZSTD_createCCtx ();
          if (s.zc == NULL
              || ZSTD_isError (ZSTD_CCtx_setParameter (
                  s.zc, ZSTD_c_compressionLevel, ZSTD_LEVEL)))
            {
              mp_error_set (err, MP_ERR_INTERNAL, "zstd init failed");
              goto out;
            }
        }
      if (o->format != MODEL_FORMAT_TAR)
        {
          zbuf = malloc (CHUNK);
          if (zbuf == NULL)
            {
              mp_error_sys (err, ENOMEM, "pack");
              goto out;
            }
          s.buf = zbuf;
        }
      a = archive_write_new ();
      ae = archive_entry_new ();
      if (a == NULL || ae == NULL
          || archive_write_set_format_pax_restricted (a) != ARCHIVE_OK
          || archive_write_set_bytes_in_last_block (a, 1) != ARCHIVE_OK
          || archive_write_open2 (a, &s, NULL, sink_write, NULL, NULL)
                 != ARCHIVE_OK)
        {
          mp_error_set (err, MP_ERR_INTERNAL, "tar: %s",
                        a ? archive_error_string (a) : "out of memory");
          goto out;
        }
      archive_entry_set_pathname (ae, f->rel);
      archive_entry_set_filetype (ae, AE_IFREG);
      archive_entry_set_perm (ae, f->mode);
      archive_entry_set_size (ae, f->size);
      archive_entry_set_uid (ae, 0);
      archive_entry_set_gid (ae, 0);
      archive_entry_set_mtime (ae, o->keep_times ? f->mtime.tv_sec : 0, 0);
      if (archive_write_header (a, ae) != ARCHIVE_OK)
        {
          if (!s.failed)
            mp_error_set (err, MP_ERR_INTERNAL, "tar %s: %s", f->rel,
                          archive_error_string (a));
          goto out;
        }
    }
  {
    int64_t total = 0;
    for (;;)
      {
        ssize_t n = read (fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
          continue;
        if (n < 0)
          {
            mp_error_sys (err, errno, "read %s/%s", o->src, f->rel);
            goto out;
          }
        if (n == 0)
          break;
        total += n;
        if (total > f->size)
          {
            mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                          "%s/%s changed while it was packed", o->src, f->rel);
            goto out;
          }
        if (a != NULL)
          {
            if (archive_write_data (a, buf, (size_t)n) != n)
              {
                if (!s.failed)
                  mp_error_set (err, MP_ERR_INTERNAL, "tar %s: %s", f->rel,
                                archive_error_string (a));
                goto out;
              }
          }
        else if (model_blob_write (w, buf, (size_t)n, err) < 0)
          goto out;
      }
    if (total != f->size)
      {
        mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                      "%s/%s changed while it was packed", o->src, f->rel);
        goto out;
      }
  }
  if (a != NULL)
    {
      if (archive_write_close (a) != ARCHIVE_OK)
        {
          if (!s.failed)
            mp_error_set (err, MP_ERR_INTERNAL, "tar %s: %s", f->rel,
                          archive_error_string (a));
          goto out;
        }
      if (o->format != MODEL_FORMAT_TAR
          && sink_compressed (&s, NULL, 0, true) < 0)
        goto out;
      if (model_hasher_final (s.diff, diff, err) < 0)
        goto out;
    }
  {
    struct stat st;
    if (fstat (model_blob_writer_fd (w), &st) < 0)
      {
        mp_error_sys (err, errno, "stat blob");
        goto out;
      }
    *blob_size = st.st_size;
  }
  rc = model_blob_commit (w, &dg, err);
  w = NULL;
  if (rc < 0)
    goto out;
  rc = model_digest_parse (dg, blob, err);
  if (rc == 0 && a == NULL)
    *diff = *blob;

out:
  if (w != NULL)
    model_blob_abort (w);
  if (a != NULL)
    archive_write_free (a);
  if (ae != NULL)
    archive_entry_free (ae);
  if (zinit)
    deflateEnd (&s.z);
  ZSTD_freeCCtx (s.zc);
  model_hasher_free (s.diff);
  return rc;
}

/* ---- config and manifest ---------------------------------------------- */

static void
set_str (json_t *o, const char *k, const char *v)
{
  if (v != NULL)
    json_object_set_new (o, k, json_string (v));
}

static int
put_json (const model_blob_sink *l, json_t *j, char **digest, int64_t *size,
          mp_error *err)
{
  cleanup_free char *text = json_dumps (j, JSON_COMPACT);

  if (text == NULL)
    return mp_error_sys (err, ENOMEM, "pack");
  *size = (int64_t)strlen (text);
  return model_blob_put (l, text, strlen (text), digest, err);
}

int
model_pack (const model_blob_sink *l, const struct model_pack_opts *o,
            struct model_pack_result *out, mp_error *err)
{
  struct plist files = { 0 };
  cleanup_close int srcfd = -1;
  json_t *layers = NULL, *diffs = NULL, *cfg = NULL, *man = NULL;
  cleanup_free char *cfg_digest = NULL;
  int64_t cfg_size = 0;
  const modelfile *mf = o->mf;
  int rc = -1;

  memset (out, 0, sizeof *out);
  srcfd = open (o->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (srcfd < 0)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return mp_error_set (err, MP_ERR_NOT_FOUND, "%s is not a directory",
                             o->src);
      return mp_error_sys (err, errno, "open %s", o->src);
    }
  if (walk (o, srcfd, "", &files, 0, err) < 0)
    goto out;
  if (files.n == 0)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s has no files to pack%s",
                    o->src,
                    mf ? " (no file matches the Modelfile's directives)"
                       : " (no file looks like model content; write a "
                         "Modelfile, see modelpack init)");
      goto out;
    }
  qsort (files.v, files.n, sizeof *files.v, pfile_cmp);

  layers = json_array ();
  diffs = json_array ();
  for (size_t i = 0; i < files.n; i++)
    {
      const struct pfile *f = &files.v[i];
      model_digest blob, diff;
      int64_t bsize = 0;
      const char *mt;
      char tbuf[64];
      json_t *meta, *ann, *desc;
      cleanup_free char *metatext = NULL;
      const char *base = strrchr (f->rel, '/');

      if (pack_file (l, o, srcfd, f, &blob, &diff, &bsize, err) < 0)
        {
          mp_error_prefix (err, "%s", f->rel);
          goto out;
        }
      if (o->progress != NULL)
        o->progress (o->progress_ctx, f->rel, f->size);
      mt = model_media_type_for (modelfile_kind_layer (f->kind), o->format);
      meta = json_pack ("{s:s,s:I,s:I,s:I,s:I,s:i}", "name",
                        base ? base + 1 : f->rel, "mode", (json_int_t)f->mode,
                        "uid", (json_int_t)0, "gid", (json_int_t)0, "size",
                        (json_int_t)f->size, "typeflag", 0);
      if (o->keep_times)
        {
          model_rfc3339_format (&f->mtime, false, tbuf, sizeof tbuf);
          json_object_set_new (meta, "mtime", json_string (tbuf));
        }
      metatext = json_dumps (meta, JSON_COMPACT);
      json_decref (meta);
      /* The title too: generic OCI tools (oras) name files by it. */
      ann = json_pack ("{s:s,s:s,s:s}", MODEL_ANNOTATION_FILEPATH, f->rel,
                       MODEL_ANNOTATION_FILE_METADATA,
                       metatext ? metatext : "{}", MODEL_ANNOTATION_TITLE,
                       f->rel);
      desc
          = json_pack ("{s:s,s:s,s:I,s:o}", "mediaType", mt, "digest", blob.str,
                       "size", (json_int_t)bsize, "annotations", ann);
      json_array_append_new (layers, desc);
      json_array_append_new (diffs, json_string (diff.str));
      out->total_size += bsize;
    }

  /* The config: the Modelfile's fields, checked against model-spec. */
  {
    json_t *descr = json_object (), *conf = json_object ();
    cleanup_free char *text = NULL;

    if (mf != NULL)
      {
        set_str (descr, "name", mf->name);
        set_str (descr, "family", mf->family);
        set_str (conf, "architecture", mf->arch);
        set_str (conf, "format", mf->format);
        set_str (conf, "paramSize", mf->paramsize);
        set_str (conf, "precision", mf->precision);
        set_str (conf, "quantization", mf->quantize);
      }
    if (o->keep_times)
      {
        struct timespec now;
        char tbuf[64];
        clock_gettime (CLOCK_REALTIME, &now);
        model_rfc3339_format (&now, false, tbuf, sizeof tbuf);
        set_str (descr, "createdAt", tbuf);
      }
    cfg = json_pack ("{s:o,s:o,s:{s:s,s:O}}", "descriptor", descr, "config",
                     conf, "modelfs", "type", "layers", "diffIds", diffs);
    text = cfg ? json_dumps (cfg, JSON_COMPACT) : NULL;
    if (text == NULL)
      {
        mp_error_sys (err, ENOMEM, "pack");
        goto out;
      }
    if (model_config_validate (text, strlen (text), err) < 0)
      {
        mp_error_prefix (err, "the model config would be invalid");
        goto out;
      }
    if (put_json (l, cfg, &cfg_digest, &cfg_size, err) < 0)
      goto out;
    out->total_size += cfg_size;
  }

  man = json_pack ("{s:i,s:s,s:s,s:{s:s,s:s,s:I},s:O}", "schemaVersion", 2,
                   "mediaType", MODEL_OCI_MEDIA_TYPE_MANIFEST, "artifactType",
                   MODEL_ARTIFACT_TYPE_MANIFEST, "config", "mediaType",
                   MODEL_MEDIA_TYPE_CONFIG, "digest", cfg_digest, "size",
                   (json_int_t)cfg_size, "layers", layers);
  if (man == NULL
      || put_json (l, man, &out->manifest_digest, &out->manifest_size, err) < 0)
    {
      if (man == NULL)
        mp_error_sys (err, ENOMEM, "pack");
      goto out;
    }
  out->n_layers = files.n;
  rc = 0;

out:
  json_decref (layers);
  json_decref (diffs);
  json_decref (cfg);
  json_decref (man);
  plist_free (&files);
  return rc;
}

void
model_pack_result_free (struct model_pack_result *r)
{
  free (r->manifest_digest);
  r->manifest_digest = NULL;
}
