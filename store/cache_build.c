/* The model cache, building: layers unpacked into layers/ (their keys,
 * single flight and info files), merged by hard links into one tree per
 * manifest in trees/, and the lookups that find a built tree again.  See
 * the top of cache.c for concurrency, crash safety and durability. */
#include "store/cache_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "model/manifest.h"
#include "model/modelconfig.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log.h"

/* ---- layer plans ------------------------------------------------------- */

static const char *
unpack_format_name (enum model_unpack_format f)
{
  switch (f)
    {
    case MODEL_LAYER_RAW:
      return "raw";
    case MODEL_LAYER_TAR:
      return "tar";
    case MODEL_LAYER_TAR_GZIP:
      return "tar+gzip";
    case MODEL_LAYER_TAR_ZSTD:
      return "tar+zstd";
    }
  return "?";
}

/* A raw layer's file depends on more than its blob: its path and metadata
 * come from annotations, so two manifests may place one blob differently.
 * The key hashes everything that ends up on disk. */
static int
raw_key (model_cache *c, struct layer_plan *p, mp_error *err)
{
  char text[MODEL_UNPACK_MAX_PATH + 512];
  model_digest d;
  const struct model_file_meta *m = &p->meta;
  int n;

  n = snprintf (text, sizeof text, "raw\n%s\n%s\nmode %o\nmtime %lld.%09ld\n",
                p->l->desc.digest.str, p->l->path,
                m->has_mode ? (unsigned)(m->mode & 0755) : 0644u,
                m->has_mtime ? (long long)m->mtime.tv_sec : -1LL,
                m->has_mtime ? (long)m->mtime.tv_nsec : 0L);
  if (n < 0 || (size_t)n >= sizeof text)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "path too long");
  if (model_digest_buffer (MODEL_DIGEST_SHA256, text, (size_t)n, &d, err) < 0)
    return -1;
  snprintf (p->key, sizeof p->key, "raw-%s", model_digest_hex (&d));
  return 0;
}

static int
plan_layer (model_cache *c, const model_manifest *m, const model_config *cfg,
            size_t i, struct layer_plan *p, mp_error *err)
{
  struct model_unpack_plan up;

  p->l = &m->layers[i];
  p->index = i;
  if (model_unpack_plan_layer (m, cfg, i, &up, err) < 0)
    return -1;
  p->format = up.format;
  p->diff_id = up.diff_id;
  p->meta = up.meta;
  if (p->format != MODEL_LAYER_RAW)
    {
      snprintf (p->key, sizeof p->key, "%s",
                model_digest_hex (&p->l->desc.digest));
      return 0;
    }
  return raw_key (c, p, err);
}

/* ---- layers ------------------------------------------------------------ */

/* 1 if the layer is in the store (filling p->size), 0 if not. */
static int
layer_check (model_cache *c, struct layer_plan *p, mp_error *err)
{
  char path[KEY_MAX + 8], diff[MODEL_DIGEST_MAX + 1], size[32];
  cleanup_free char *info = NULL;

  if (!cache_is_dir_at (c->layers_fd, p->key))
    return 0;
  snprintf (path, sizeof path, "%s/info", p->key);
  info = cache_read_file_at (c->layers_fd, path);
  if (info == NULL || !cache_record_get (info, "diffid", diff, sizeof diff)
      || !cache_record_get (info, "size", size, sizeof size))
    return mp_error_set (err, MP_ERR_INTERNAL,
                         "%s/layers/%s is not a complete layer; remove it",
                         c->root, p->key);
  /* Tar layers unpacked without a diffId to check (generic artifacts)
   * record "-": the blob digest, verified, pins their content anyway. */
  if (p->diff_id != NULL && strcmp (diff, "-") != 0
      && strcmp (diff, p->diff_id) != 0)
    return mp_error_set (err, MP_ERR_DATA_LOSS,
                         "layers[%zu] (%s): diffId mismatch: the config says "
                         "%s, the layer's content has %s",
                         p->index, p->l->desc.digest.str, p->diff_id, diff);
  p->size = strtoll (size, NULL, 10);
  /* Layers stored before entries were recorded count as 0. */
  p->entries = cache_record_get (info, "entries", size, sizeof size)
                   ? strtoull (size, NULL, 10)
                   : 0;
  return 1;
}

/* Layer blob bytes hashed against their digest (the metrics' "verified"). */
void
cache_count_verified (model_cache *c, struct model_cache_stats *st,
                      int64_t bytes)
{
  st->bytes_verified += bytes;
  pthread_mutex_lock (&c->mu);
  c->counters.bytes_verified += bytes;
  pthread_mutex_unlock (&c->mu);
}

int
cache_layer_commit (model_cache *c, int dfd, const char *name, const char *key,
                    const char *info, bool *lost, mp_error *err)
{
  int r;

  /* No sync here: the syncer makes it durable after the tree is built
   * (see "Durability" at the top of cache.c). */
  *lost = false;
  if (cache_write_file_at (dfd, "info", info, err) < 0)
    return -1;
  r = renameat2 (c->work_fd, name, c->layers_fd, key, RENAME_NOREPLACE);
  if (r < 0 && errno != EEXIST && errno != ENOTEMPTY)
    return mp_error_sys (err, errno, "move layer %s into %s/layers", key,
                         c->root);
  if (r < 0)
    {
      /* Another process sharing the cache finished first: same content. */
      mp_error ignored;
      *lost = true;
      mp_rmtree_at (c->work_fd, name, &ignored);
    }
  return 0;
}

static int
layer_unpack (model_cache *c, struct layer_plan *p, model_blob_open_fn open_fn,
              void *ctx, struct model_cache_stats *st, mp_error *err)
{
  const model_layer *l = p->l;
  struct model_unpack_opts o = {
    .format = p->format,
    .expected_digest = l->desc.digest.str,
    .expected_diff_id = p->diff_id,
    .raw_path = l->path,
    .raw_meta = &p->meta,
    .limits = &c->limits,
    .blob_size = l->desc.size,
  };
  struct model_unpack_stats us;
  struct cache_blob_trust trust;
  cleanup_close int dfd = -1, src = -1;
  char name[32], info[3 * MODEL_DIGEST_MAX + 128], built[128];
  bool lost = false, vouched = false;
  int r;

  snprintf (name, sizeof name, "L%" PRIu64, cache_next_seq (c));
  if (mkdirat (c->work_fd, name, 0700) < 0
      || (dfd = cache_open_dir_at (c->work_fd, name)) < 0)
    return mp_error_sys (err, errno, "create layer work directory");
  src = open_fn (ctx, l->desc.digest.str, l->desc.size, &vouched, err);
  if (src < 0)
    {
      mp_error_prefix (err, "layers[%zu] (%s)", p->index, l->desc.digest.str);
      goto fail;
    }
  /* Hashed while unpacking unless verify_blobs lets it be trusted. */
  cache_blob_trust_begin (c, src, l->desc.digest.str, vouched, &trust);
  o.blob_verified = trust.trusted;
  r = model_unpack_layer (src, dfd, "fs", &o, &us, err);
  if (cache_blob_trust_end (c, src, l->desc.digest.str, &trust, r == 0,
                            r == 0 ? err : NULL)
      < 0)
    r = -1;
  if (r < 0)
    {
      mp_error_prefix (err, "layers[%zu] (%s, %s)", p->index,
                       l->desc.digest.str, unpack_format_name (p->format));
      goto fail;
    }
  if ((int64_t)us.bytes_read != l->desc.size)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "layers[%zu] (%s): the blob is %" PRIu64 " bytes, its "
                    "descriptor says %" PRId64,
                    p->index, l->desc.digest.str, us.bytes_read, l->desc.size);
      goto fail;
    }
  cache_built_line (c, built, sizeof built);
  p->entries = p->format == MODEL_LAYER_RAW
                   ? 1
                   : us.files + us.dirs + us.symlinks + us.hardlinks;
  snprintf (info, sizeof info,
            "digest %s\ndiffid %s\nsize %" PRIu64 "\nentries %" PRIu64 "\n%s",
            l->desc.digest.str,
            p->format == MODEL_LAYER_RAW ? l->desc.digest.str
            : p->diff_id != NULL         ? p->diff_id
                                         : "-",
            us.bytes_written, p->entries, built);
  if (cache_layer_commit (c, dfd, name, p->key, info, &lost, err) < 0)
    goto fail;
  p->size = (int64_t)us.bytes_written;
  cache_count (c, st, 1, 0, 0, 0, (int64_t)us.bytes_written);
  if (!o.blob_verified)
    cache_count_verified (c, st, (int64_t)us.bytes_read);
  mp_log_info ("model cache: unpacked layer %s (%s, %" PRIu64
               " bytes in %" PRIu64 " files, blob digest %s) as %s%s",
               l->desc.digest.str, unpack_format_name (p->format),
               us.bytes_written, us.files, trust.how, p->key,
               lost ? " (another process stored it first)" : "");
  return 0;

fail:
  {
    mp_error ignored;
    mp_rmtree_at (c->work_fd, name, &ignored);
  }
  return -1;
}

/* Make sure the layer is in the store: reuse it, wait for the thread
 * unpacking it, or unpack it. */
static int
layer_ensure (model_cache *c, struct layer_plan *p, model_blob_open_fn open_fn,
              void *ctx, struct model_cache_stats *st, mp_error *err)
{
  char fkey[KEY_MAX + 3];

  snprintf (fkey, sizeof fkey, "L:%s", p->key);
  for (;;)
    {
      struct flight *f = NULL;
      int r = layer_check (c, p, err);

      if (r < 0)
        return -1;
      if (r > 0)
        {
          cache_count (c, st, 0, 1, 0, 0, 0);
          mp_log_debug ("model cache: reusing layer %s (%s)",
                        p->l->desc.digest.str, p->key);
          return 0;
        }
      r = cache_flight_join (c, fkey, &f, err);
      if (r < 0)
        return -1;
      if (r == FLIGHT_WAITED)
        continue; /* done, or failed and we try ourselves */
      r = layer_check (c, p, err);
      if (r == 0)
        r = layer_unpack (c, p, open_fn, ctx, st, err);
      else if (r > 0)
        cache_count (c, st, 0, 1, 0, 0, 0);
      cache_flight_end (c, f, r >= 0);
      return r < 0 ? -1 : 0;
    }
}

/* ---- merging ----------------------------------------------------------- */

struct dir_rec
{
  char *path; /* relative to the tree root, "" for the root */
  mode_t mode;
  uid_t uid;
  gid_t gid;
  struct timespec mtime;
  bool implicit; /* made by the unpacker for a raw file, not by the artifact */
  size_t seq;
};

struct merge
{
  model_cache *c;
  const struct layer_plan *p;
  bool implicit;
  struct dir_rec *recs;
  size_t n, cap;
  char path[MODEL_UNPACK_MAX_PATH + NAME_MAX + 2];
};

static int
merge_note_dir (struct merge *mg, const struct stat *st, mp_error *err)
{
  struct dir_rec *r;

  if (mg->n == mg->cap)
    {
      size_t cap = mg->cap ? mg->cap * 2 : 64;
      struct dir_rec *n = realloc (mg->recs, cap * sizeof *n);
      if (n == NULL)
        return mp_error_sys (err, ENOMEM, "merge");
      mg->recs = n;
      mg->cap = cap;
    }
  r = &mg->recs[mg->n];
  r->path = strdup (mg->path);
  if (r->path == NULL)
    return mp_error_sys (err, ENOMEM, "merge");
  r->mode = st->st_mode & 07777;
  r->uid = st->st_uid;
  r->gid = st->st_gid;
  r->mtime = st->st_mtim;
  r->implicit = mg->implicit;
  r->seq = mg->n;
  mg->n++;
  return 0;
}

/* NAME in the tree gives way to a later layer's entry. */
static int
merge_clear (int dst, const char *name, const struct stat *t, mp_error *err)
{
  if (S_ISDIR (t->st_mode))
    return mp_rmtree_at (dst, name, err);
  if (unlinkat (dst, name, 0) < 0 && errno != ENOENT)
    return mp_error_sys (err, errno, "remove");
  return 0;
}

static int merge_dir (struct merge *mg, int src, int dst, size_t plen,
                      int depth, mp_error *err);

static int
merge_entry (struct merge *mg, int src, int dst, const char *name, int depth,
             mp_error *err)
{
  struct stat s, t;
  bool have;

  if (fstatat (src, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
    return mp_error_sys (err, errno, "stat");
  have = fstatat (dst, name, &t, AT_SYMLINK_NOFOLLOW) == 0;
  if (!have && errno != ENOENT)
    return mp_error_sys (err, errno, "stat in tree");

  if (S_ISDIR (s.st_mode))
    {
      cleanup_close int sub_src = -1, sub_dst = -1;

      if (have && !S_ISDIR (t.st_mode))
        {
          if (merge_clear (dst, name, &t, err) < 0)
            return -1;
          have = false;
        }
      /* 0700 while filling; the layer's mode comes at the end. */
      if (!have && mkdirat (dst, name, 0700) < 0)
        return mp_error_sys (err, errno, "mkdir");
      sub_src = cache_open_dir_at (src, name);
      if (sub_src < 0)
        return mp_error_sys (err, errno, "open");
      sub_dst = cache_open_dir_at (dst, name);
      if (sub_dst < 0)
        return mp_error_sys (err, errno, "open in tree");
      if (merge_note_dir (mg, &s, err) < 0)
        return -1;
      return merge_dir (mg, sub_src, sub_dst, strlen (mg->path), depth + 1,
                        err);
    }

  if (have && merge_clear (dst, name, &t, err) < 0)
    return -1;
  if (S_ISREG (s.st_mode))
    {
      if (linkat (src, name, dst, name, 0) < 0)
        {
          if (errno == EMLINK)
            return mp_error_sys (err, errno,
                                 "hard link (the file is linked into too many "
                                 "trees)");
          return mp_error_sys (err, errno, "hard link");
        }
      return 0;
    }
  if (S_ISLNK (s.st_mode))
    {
      char target[PATH_MAX + 1];
      struct timespec ts[2] = { s.st_mtim, s.st_mtim };
      ssize_t n = readlinkat (src, name, target, sizeof target - 1);

      if (n < 0)
        return mp_error_sys (err, errno, "read symlink");
      target[n] = '\0';
      if (symlinkat (target, dst, name) < 0)
        return mp_error_sys (err, errno, "symlink");
      if (utimensat (dst, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return mp_error_sys (err, errno, "set symlink time");
      return 0;
    }
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                       "unexpected file type %o in the layer",
                       (unsigned)(s.st_mode & S_IFMT));
}

static int
merge_dir (struct merge *mg, int src, int dst, size_t plen, int depth,
           mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd;

  if (depth > MODEL_UNPACK_MAX_DEPTH + 1)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "layer %s: deeper than %d levels",
                         mg->p->l->desc.digest.str, MODEL_UNPACK_MAX_DEPTH);
  fd = cache_open_dir_at (src, ".");
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      cache_closep_quiet (fd);
      return mp_error_sys (err, errno, "read layer %s directory \"%s\"",
                           mg->p->key, mg->path);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      size_t nlen = strlen (de->d_name);

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (plen + 1 + nlen >= sizeof mg->path)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "layer %s: path too long",
                             mg->p->l->desc.digest.str);
      if (plen > 0)
        mg->path[plen] = '/';
      memcpy (mg->path + plen + (plen > 0), de->d_name, nlen + 1);
      if (merge_entry (mg, src, dst, de->d_name, depth, err) < 0)
        {
          char q[MODEL_QUOTE_BUF];
          return mp_error_prefix (err, "merge layers[%zu] (%s) \"%s\"",
                                  mg->p->index, mg->p->l->desc.digest.str,
                                  model_quote (mg->path, q, sizeof q));
        }
      mg->path[plen] = '\0';
    }
  if (errno != 0)
    return mp_error_sys (err, errno, "read layer %s directory", mg->p->key);
  return 0;
}

static int
dir_rec_cmp (const void *a, const void *b)
{
  const struct dir_rec *x = a, *y = b;
  int r = strcmp (x->path, y->path);

  if (r != 0)
    return r;
  /* The winner sorts last: what the artifact says beats the unpacker's
   * defaults for parents of raw files, then later layers win. */
  if (x->implicit != y->implicit)
    return x->implicit ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Open PATH under ROOT one component at a time without following
 * symlinks; -1 with errno (ENOTDIR/ELOOP/ENOENT when it was replaced). */
static int
open_beneath (int root, const char *path)
{
  char comp[NAME_MAX + 1];
  const char *p = path;
  int fd = fcntl (root, F_DUPFD_CLOEXEC, 0);

  while (fd >= 0 && *p != '\0')
    {
      const char *end = strchrnul (p, '/');
      size_t n = (size_t)(end - p);
      int sub;

      memcpy (comp, p, n);
      comp[n] = '\0';
      sub = cache_open_dir_at (fd, comp);
      cache_closep_quiet (fd);
      fd = sub;
      p = *end ? end + 1 : end;
    }
  return fd;
}

/* Directory modes, owners and times, once nothing more is added inside
 * (an added entry would move the mtime).  Children before parents, so a
 * parent without write or search permission cannot get in the way. */
static int
merge_finish_dirs (struct merge *mg, int root, mp_error *err)
{
  if (mg->n > 1)
    qsort (mg->recs, mg->n, sizeof *mg->recs, dir_rec_cmp);
  for (size_t i = mg->n; i-- > 0;)
    {
      const struct dir_rec *r = &mg->recs[i];
      struct timespec ts[2] = { r->mtime, r->mtime };
      cleanup_close int fd = -1;

      if (i + 1 < mg->n && strcmp (r->path, mg->recs[i + 1].path) == 0)
        continue;
      fd = open_beneath (root, r->path);
      if (fd < 0)
        {
          if (errno == ENOTDIR || errno == ELOOP || errno == ENOENT)
            continue; /* replaced by a later layer */
          return mp_error_sys (err, errno, "tree directory \"%s\"", r->path);
        }
      if (fchmod (fd, r->mode & 0755) < 0 || futimens (fd, ts) < 0)
        return mp_error_sys (err, errno, "tree directory \"%s\": set metadata",
                             r->path);
    }
  return 0;
}

static void
merge_free (struct merge *mg)
{
  for (size_t i = 0; i < mg->n; i++)
    free (mg->recs[i].path);
  free (mg->recs);
}

/* Build the merged tree in the work directory as TNAME. */
static int
merge_layers (model_cache *c, struct layer_plan *plans, size_t n, int tfd,
              mp_error *err)
{
  struct merge mg = { .c = c };
  int ret = -1;

  for (size_t i = 0; i < n; i++)
    {
      char path[KEY_MAX + 8];
      cleanup_close int lfd = -1;
      struct stat st;

      snprintf (path, sizeof path, "%s/fs", plans[i].key);
      lfd = openat (c->layers_fd, path,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (lfd < 0 || fstat (lfd, &st) < 0)
        {
          mp_error_sys (err, errno, "open %s/layers/%s", c->root, path);
          goto out;
        }
      mg.p = &plans[i];
      mg.implicit = plans[i].format == MODEL_LAYER_RAW;
      mg.path[0] = '\0';
      if (merge_note_dir (&mg, &st, err) < 0
          || merge_dir (&mg, lfd, tfd, 0, 0, err) < 0)
        goto out;
    }
  ret = merge_finish_dirs (&mg, tfd, err);
out:
  merge_free (&mg);
  return ret;
}

/* ---- trees ------------------------------------------------------------- */

/* Complete trees have both the directory and the record: the record is
 * renamed into place first. */
bool
cache_tree_ready (model_cache *c, const char *hex)
{
  char rec[KEY_MAX + 16];
  struct stat st;

  snprintf (rec, sizeof rec, "%s.layers", hex);
  return cache_is_dir_at (c->trees_fd, hex)
         && fstatat (c->trees_fd, rec, &st, AT_SYMLINK_NOFOLLOW) == 0
         && S_ISREG (st.st_mode);
}

static int
stamp_tree (model_cache *c, const model_digest *d, mp_error *err)
{
  char rec[KEY_MAX + 16];

  snprintf (rec, sizeof rec, "%s.layers", model_digest_hex (d));
  if (utimensat (c->trees_fd, rec, NULL, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return mp_error_set (err, MP_ERR_NOT_FOUND,
                             "no tree for manifest %s in the model cache",
                             d->str);
      return mp_error_sys (err, errno, "mark tree %s used", d->str);
    }
  return 0;
}

static int
check_space (model_cache *c, const model_digest *mdig, struct layer_plan *plans,
             size_t n, mp_error *err)
{
  struct statvfs vfs;
  int64_t need = 0, avail;
  size_t missing = 0;

  for (size_t i = 0; i < n; i++)
    {
      bool dup = false;

      if (cache_is_dir_at (c->layers_fd, plans[i].key))
        continue;
      for (size_t j = 0; j < i && !dup; j++)
        dup = strcmp (plans[j].key, plans[i].key) == 0;
      if (dup)
        continue;
      missing++;
      if (plans[i].l->desc.size > INT64_MAX - need)
        need = INT64_MAX;
      else
        need += plans[i].l->desc.size;
    }
  if (missing == 0 || statvfs (c->root, &vfs) < 0)
    return 0; /* cheap check only: unpacking reports ENOSPC anyway */
  avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
  if (need > avail)
    return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                         "not enough disk space in %s for manifest %s: its "
                         "%zu layers not yet cached need at least %" PRId64
                         " bytes, %" PRId64 " are available",
                         c->root, mdig->str, missing, need, avail);
  return 0;
}

/* Parse the manifest MTEXT (and its model config) and plan every layer:
 * everything is checked before anything is unpacked, so a manifest we
 * cannot serve leaves nothing behind.  The plans point into *MOUT and
 * *CFGOUT. */
static int
plan_manifest (model_cache *c, const model_digest *mdig, const char *mtext,
               size_t mlen, model_blob_open_fn open_fn, void *ctx,
               model_manifest **mout, model_config **cfgout,
               struct layer_plan **plans_out, mp_error *err)
{
  cleanup_manifest model_manifest *m = NULL;
  cleanup_model_config model_config *cfg = NULL;
  cleanup_free struct layer_plan *plans = NULL;

  if (model_manifest_parse (mtext, mlen, &m, err) < 0)
    return mp_error_prefix (err, "manifest %s", mdig->str);
  if (m->is_modelpack && model_media_type_is_model_config (m->config.media_type)
      && m->n_layers > 0)
    {
      cleanup_free char *text = NULL;
      size_t len;

      if (model_read_document (open_fn, ctx, &m->config.digest, m->config.size,
                               "model config", &text, &len, err)
          < 0)
        return mp_error_prefix (err, "manifest %s", mdig->str);
      if (model_config_parse (text, len, &cfg, err) < 0)
        return mp_error_prefix (err, "manifest %s: model config %s", mdig->str,
                                m->config.digest.str);
    }

  if (model_unpack_check_manifest (m, cfg, err) < 0)
    return mp_error_prefix (err, "manifest %s", mdig->str);
  plans = calloc (m->n_layers ? m->n_layers : 1, sizeof *plans);
  if (plans == NULL)
    return mp_error_sys (err, ENOMEM, "manifest %s", mdig->str);
  for (size_t i = 0; i < m->n_layers; i++)
    if (plan_layer (c, m, cfg, i, &plans[i], err) < 0)
      return mp_error_prefix (err, "manifest %s", mdig->str);
  *mout = steal_pointer (&m);
  *cfgout = steal_pointer (&cfg);
  *plans_out = steal_pointer (&plans);
  return 0;
}

static int
build_tree (model_cache *c, const model_digest *mdig, const char *mtext,
            size_t mlen, model_blob_open_fn open_fn, void *ctx,
            struct model_cache_stats *st, mp_error *err)
{
  cleanup_manifest model_manifest *m = NULL;
  cleanup_model_config model_config *cfg = NULL;
  cleanup_free struct layer_plan *plans = NULL;
  cleanup_free char *record = NULL;
  cleanup_close int tfd = -1;
  const char *hex = model_digest_hex (mdig);
  char tname[32], rname[32], recname[KEY_MAX + 16];
  size_t rlen = 0, rcap;
  int r;

  if (plan_manifest (c, mdig, mtext, mlen, open_fn, ctx, &m, &cfg, &plans, err)
      < 0)
    return -1;
  if (c->mount_mode != MODEL_CACHE_MOUNT_EXTRACT)
    {
      r = cache_index_build (c, mdig, m, plans, open_fn, ctx, st, err);
      if (r <= 0)
        return r;
    }
  if (check_space (c, mdig, plans, m->n_layers, err) < 0)
    return -1;
  for (uint64_t i = 0, entries = 0; i < m->n_layers; i++)
    {
      if (layer_ensure (c, &plans[i], open_fn, ctx, st, err) < 0)
        return mp_error_prefix (err, "manifest %s", mdig->str);
      entries += plans[i].entries;
      if (entries > c->limits.max_model_entries)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "manifest %s: more than %" PRIu64 " entries in "
                             "the model's layers (max_model_entries)",
                             mdig->str, c->limits.max_model_entries);
    }

  /* The record says which layers the tree needs, for gc. */
  rcap = 32 + 160 + strlen (mdig->str) + m->n_layers * (KEY_MAX + 8);
  record = malloc (rcap);
  if (record == NULL)
    return mp_error_sys (err, ENOMEM, "manifest %s", mdig->str);
  rlen = (size_t)snprintf (record, rcap, "manifest %s\n", mdig->str);
  for (size_t i = 0; i < m->n_layers; i++)
    rlen += (size_t)snprintf (record + rlen, rcap - rlen, "layer %s\n",
                              plans[i].key);
  cache_built_line (c, record + rlen, rcap - rlen);

  snprintf (tname, sizeof tname, "T%" PRIu64, cache_next_seq (c));
  snprintf (rname, sizeof rname, "R%" PRIu64, cache_next_seq (c));
  snprintf (recname, sizeof recname, "%s.layers", hex);
  if (mkdirat (c->work_fd, tname, 0700) < 0
      || (tfd = cache_open_dir_at (c->work_fd, tname)) < 0)
    return mp_error_sys (err, errno, "create tree work directory");
  /* Readable by pods even when no layer says otherwise (no layers). */
  if (fchmod (tfd, 0755) < 0)
    {
      mp_error_sys (err, errno, "chmod tree work directory");
      goto fail;
    }
  if (merge_layers (c, plans, m->n_layers, tfd, err) < 0
      || cache_write_file_at (c->work_fd, rname, record, err) < 0)
    goto fail;
  /* Record first: a tree directory is only used with its record, and a
   * record without a tree is an orphan gc removes. */
  r = renameat2 (c->work_fd, rname, c->trees_fd, recname, RENAME_NOREPLACE);
  if (r < 0 && errno != EEXIST)
    {
      mp_error_sys (err, errno, "move record %s into %s/trees", recname,
                    c->root);
      goto fail;
    }
  if (r < 0)
    unlinkat (c->work_fd, rname, 0);
  r = renameat2 (c->work_fd, tname, c->trees_fd, hex, RENAME_NOREPLACE);
  if (r < 0 && errno != EEXIST && errno != ENOTEMPTY)
    {
      mp_error_sys (err, errno, "move tree %s into %s/trees", hex, c->root);
      goto fail;
    }
  if (r < 0)
    {
      mp_error ignored;
      mp_rmtree_at (c->work_fd, tname, &ignored);
      mp_log_debug ("model cache: tree %s was built by another process too",
                    mdig->str);
    }
  cache_want_sync (c);
  cache_count (c, st, 0, 0, 1, 0, 0);
  mp_log_info ("model cache: built tree for manifest %s from %zu layers",
               mdig->str, m->n_layers);
  return 0;

fail:
  {
    mp_error ignored;
    mp_rmtree_at (c->work_fd, tname, &ignored);
    unlinkat (c->work_fd, rname, 0);
  }
  return mp_error_prefix (err, "manifest %s: build tree", mdig->str);
}

static int
tree_ensure (model_cache *c, const model_digest *mdig, const char *mtext,
             size_t mlen, model_blob_open_fn open_fn, void *ctx,
             struct model_cache_stats *st, mp_error *err)
{
  const char *hex = model_digest_hex (mdig);
  char fkey[KEY_MAX + 3];

  snprintf (fkey, sizeof fkey, "T:%s", hex);
  for (;;)
    {
      struct flight *f = NULL;
      int r;

      if (cache_tree_ready (c, hex))
        {
          cache_count (c, st, 0, 0, 0, 1, 0);
          mp_log_debug ("model cache: reusing tree for manifest %s", mdig->str);
          return 0;
        }
      r = cache_flight_join (c, fkey, &f, err);
      if (r < 0)
        return -1;
      if (r == FLIGHT_WAITED)
        continue;
      if (cache_tree_ready (c, hex))
        {
          cache_count (c, st, 0, 0, 0, 1, 0);
          r = 0;
        }
      else
        r = build_tree (c, mdig, mtext, mlen, open_fn, ctx, st, err);
      cache_flight_end (c, f, r == 0);
      return r;
    }
}

/* The manifest an index digest was resolved to before, from its
 * trees/<hex>.index file; false if none is recorded. */
bool
cache_alias_get (model_cache *c, const char *hex, model_digest *out)
{
  char name[KEY_MAX + 16];
  cleanup_free char *text = NULL;
  char *nl;

  snprintf (name, sizeof name, "%s.index", hex);
  text = cache_read_file_at (c->trees_fd, name);
  if (text == NULL)
    return false;
  nl = strchr (text, '\n');
  if (nl != NULL)
    *nl = '\0';
  return model_digest_parse (text, out, NULL) == 0;
}

static int
alias_put (model_cache *c, const char *hex, const model_digest *target,
           mp_error *err)
{
  char name[KEY_MAX + 16], tmp[32], text[MODEL_DIGEST_MAX + 2];

  snprintf (name, sizeof name, "%s.index", hex);
  snprintf (tmp, sizeof tmp, "I%" PRIu64, cache_next_seq (c));
  snprintf (text, sizeof text, "%s\n", target->str);
  if (cache_write_file_at (c->work_fd, tmp, text, err) < 0)
    return -1;
  if (renameat (c->work_fd, tmp, c->trees_fd, name) < 0)
    {
      int e = errno;
      unlinkat (c->work_fd, tmp, 0);
      return mp_error_sys (err, e, "record index %s", hex);
    }
  return 0;
}

static int
resolve_and_build (model_cache *c, const model_digest *want,
                   model_blob_open_fn open_fn, void *ctx, model_digest *mdig,
                   struct model_cache_stats *st, mp_error *err)
{
  cleanup_free char *text = NULL;
  cleanup_index model_index *idx = NULL;
  enum model_doc_kind kind;
  size_t len;
  ssize_t sel;

  if (model_read_document (open_fn, ctx, want, -1, "manifest", &text, &len, err)
      < 0)
    return -1;
  if (model_oci_detect (text, len, &kind, err) < 0)
    return mp_error_prefix (err, "%s", want->str);
  if (kind == MODEL_DOC_MANIFEST)
    {
      *mdig = *want;
      return tree_ensure (c, mdig, text, len, open_fn, ctx, st, err);
    }

  if (model_index_parse (text, len, &idx, err) < 0)
    return mp_error_prefix (err, "%s", want->str);
  sel = model_index_select (idx, NULL, err);
  if (sel < 0)
    return mp_error_prefix (err, "image index %s", want->str);
  *mdig = idx->manifests[sel].digest;
  if (!cache_tree_ready (c, model_digest_hex (mdig)))
    {
      free (text);
      text = NULL;
      if (model_read_document (open_fn, ctx, mdig, idx->manifests[sel].size,
                               "manifest", &text, &len, err)
          < 0)
        return mp_error_prefix (err, "image index %s", want->str);
      if (model_oci_detect (text, len, &kind, err) < 0)
        return mp_error_prefix (err, "image index %s: %s", want->str,
                                mdig->str);
      if (kind != MODEL_DOC_MANIFEST)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "image index %s points to another index %s; "
                             "nested indexes are not followed",
                             want->str, mdig->str);
    }
  if (tree_ensure (c, mdig, text, len, open_fn, ctx, st, err) < 0)
    return -1;
  return alias_put (c, model_digest_hex (want), mdig, err);
}

int
cache_plan_need (model_cache *c, const model_digest *want,
                 model_blob_open_fn open_fn, void *ctx, model_digest *mdig,
                 bool *ready, int64_t *need, struct strset *keep, mp_error *err)
{
  cleanup_free char *text = NULL;
  cleanup_manifest model_manifest *m = NULL;
  cleanup_model_config model_config *cfg = NULL;
  cleanup_free struct layer_plan *plans = NULL;
  enum model_doc_kind kind;
  size_t len;

  *ready = false;
  *need = 0;
  *mdig = *want;
  if (model_read_document (open_fn, ctx, want, -1, "manifest", &text, &len, err)
          < 0
      || model_oci_detect (text, len, &kind, err) < 0)
    return mp_error_prefix (err, "%s", want->str);
  if (kind != MODEL_DOC_MANIFEST)
    {
      cleanup_index model_index *idx = NULL;
      ssize_t sel;

      if (model_index_parse (text, len, &idx, err) < 0)
        return mp_error_prefix (err, "%s", want->str);
      sel = model_index_select (idx, NULL, err);
      if (sel < 0)
        return mp_error_prefix (err, "image index %s", want->str);
      *mdig = idx->manifests[sel].digest;
      if (cache_tree_ready (c, model_digest_hex (mdig)))
        {
          *ready = true;
          return 0;
        }
      free (text);
      text = NULL;
      if (model_read_document (open_fn, ctx, mdig, idx->manifests[sel].size,
                               "manifest", &text, &len, err)
              < 0
          || model_oci_detect (text, len, &kind, err) < 0)
        return mp_error_prefix (err, "image index %s", want->str);
      if (kind != MODEL_DOC_MANIFEST)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "image index %s points to another index %s; "
                             "nested indexes are not followed",
                             want->str, mdig->str);
    }
  if (cache_tree_ready (c, model_digest_hex (mdig)))
    {
      *ready = true;
      return 0;
    }
  if (plan_manifest (c, mdig, text, len, open_fn, ctx, &m, &cfg, &plans, err)
      < 0)
    return -1;
  for (size_t i = 0; i < m->n_layers; i++)
    {
      bool dup = false;

      /* Served from an index, raw and plain tar layers take no room: the
       * blobs are the files (a model that turns out not to be indexable
       * is bounded again after unpacking). */
      if (c->mount_mode != MODEL_CACHE_MOUNT_EXTRACT
          && (plans[i].format == MODEL_LAYER_RAW
              || plans[i].format == MODEL_LAYER_TAR))
        continue;
      if (cache_is_dir_at (c->layers_fd, plans[i].key))
        {
          if (strset_add (keep, plans[i].key, err) < 0)
            return -1;
          continue;
        }
      for (size_t j = 0; j < i && !dup; j++)
        dup = strcmp (plans[j].key, plans[i].key) == 0;
      if (dup)
        continue;
      if (plans[i].l->desc.size > INT64_MAX - *need)
        *need = INT64_MAX;
      else
        *need += plans[i].l->desc.size;
    }
  return 0;
}

int
model_cache_get_manifest_tree (model_cache *c, const char *digest,
                               model_blob_open_fn open_fn, void *ctx,
                               char **tree, char **resolved,
                               struct model_cache_stats *stats, mp_error *err)
{
  struct model_cache_stats local;
  model_digest want;

  if (stats == NULL)
    stats = &local;
  memset (stats, 0, sizeof *stats);
  if (model_digest_parse (digest, &want, err) < 0)
    return -1;
  return cache_get_bounded (c, &want, open_fn, ctx, tree, resolved, stats, err);
}

int
cache_get_tree (model_cache *c, const model_digest *wantp,
                model_blob_open_fn open_fn, void *ctx, char **tree,
                char **resolved, struct model_cache_stats *stats, mp_error *err)
{
  model_digest want = *wantp, mdig;
  cleanup_close int lock = -1;
  cleanup_free char *tree_path = NULL, *res = NULL;
  const char *hex;

  lock = cache_lock (c, LOCK_SH, err);
  if (lock < 0)
    return -1;

  /* A second pod for the same model reads nothing: the tree is there, under
   * the manifest digest or through a recorded index. */
  if (cache_tree_ready (c, model_digest_hex (&want)))
    {
      mdig = want;
      cache_count (c, stats, 0, 0, 0, 1, 0);
      mp_log_debug ("model cache: reusing tree for %s", want.str);
    }
  else if (cache_alias_get (c, model_digest_hex (&want), &mdig)
           && cache_tree_ready (c, model_digest_hex (&mdig)))
    {
      cache_count (c, stats, 0, 0, 0, 1, 0);
      mp_log_debug ("model cache: reusing tree for %s (index %s)", mdig.str,
                    want.str);
    }
  else if (resolve_and_build (c, &want, open_fn, ctx, &mdig, stats, err) < 0)
    return -1;

  hex = model_digest_hex (&mdig);
  if (cache_index_is (c, hex)
      && cache_index_serve (c, &mdig, open_fn, ctx, stats, err) < 0)
    return -1;
  if (stamp_tree (c, &mdig, err) < 0)
    return -1;
  if (asprintf (&tree_path, "%s/trees/%s", c->root, hex) < 0)
    {
      tree_path = NULL;
      return mp_error_sys (err, ENOMEM, "model cache");
    }
  res = strdup (mdig.str);
  if (res == NULL)
    return mp_error_sys (err, ENOMEM, "model cache");
  *tree = steal_pointer (&tree_path);
  *resolved = steal_pointer (&res);
  return 0;
}

int
model_cache_touch (model_cache *c, const char *manifest_digest, mp_error *err)
{
  model_digest d, target;

  if (model_digest_parse (manifest_digest, &d, err) < 0)
    return -1;
  if (!cache_is_dir_at (c->trees_fd, model_digest_hex (&d))
      && cache_alias_get (c, model_digest_hex (&d), &target))
    d = target;
  if (!cache_is_dir_at (c->trees_fd, model_digest_hex (&d)))
    return mp_error_set (err, MP_ERR_NOT_FOUND,
                         "no tree for %s in the model cache", d.str);
  return stamp_tree (c, &d, err);
}
