/* Model trees served from an EROFS index over the layer blobs: nothing of
 * the model is copied.  The index (store/erofs.h) holds only metadata; each
 * regular file points at its bytes inside a blob, given to the kernel as an
 * extra device.  trees/<hex> is then the mount point of that index instead
 * of a directory of hard links, and everything else about trees (records,
 * holds, pins, gc, eviction) is unchanged.
 *
 *   trees/<hex>.erofs     the index, complete before it is renamed here
 *   trees/<hex>.layers    the record, as for unpacked trees, with
 *                         "index erofs" and one "blob <digest> <size>" line
 *                         per device, in device order
 *   trees/<hex>.mounted   which blob files the current mount uses (device,
 *                         inode, size, change time), written after mounting
 *   trees/<hex>/          the mount point
 *
 * Integrity: a blob is served only once its digest was checked (hashed by
 * us, or vouched for by the source when it says so); serving again checks
 * that every blob is still the file that was mounted (nothing to hash), and
 * a blob gone or changed detaches the mount (lazily: running pods keep it)
 * before anything is served again. */
#include "store/cache_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "model/manifest.h"
#include "store/erofs.h"
#include "store/erofs_mount.h"
#include "store/unpack.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log.h"

struct blob_use
{
  model_digest digest;
  int64_t size;
  /* A compressed layer's plain tar, decompressed once into
   * layers/<key>/tar: ours, verified when written.  "" for blobs of the
   * source. */
  char key[KEY_MAX + 1];
  int fd;
  bool verified; /* vouched for by the source, or hashed now */
  struct stat st;
};

static void
blobs_close (struct blob_use *b, size_t n)
{
  for (size_t i = 0; b != NULL && i < n; i++)
    if (b[i].fd >= 0)
      close (b[i].fd);
  free (b);
}

/* ---- the mount mode ---------------------------------------------------- */

const char *
model_cache_mount_name (enum model_cache_mount m)
{
  switch (m)
    {
    case MODEL_CACHE_MOUNT_AUTO:
      return "auto";
    case MODEL_CACHE_MOUNT_EROFS:
      return "erofs";
    case MODEL_CACHE_MOUNT_LOOP:
      return "loop";
    case MODEL_CACHE_MOUNT_EXTRACT:
      return "extract";
    }
  return "?";
}

int
model_cache_mount_parse (const char *s, enum model_cache_mount *out)
{
  for (int m = MODEL_CACHE_MOUNT_AUTO; m <= MODEL_CACHE_MOUNT_EXTRACT; m++)
    if (strcmp (s, model_cache_mount_name (m)) == 0)
      {
        *out = m;
        return 0;
      }
  return -1;
}

/* What "auto" means on this kernel: file-backed EROFS mounts from 6.12,
 * loop devices from 6.4 (512-byte blocks), extraction before. */
enum model_cache_mount
cache_index_auto_mode (void)
{
  struct utsname u;
  int major = 0, minor = 0;

  if (uname (&u) < 0 || sscanf (u.release, "%d.%d", &major, &minor) != 2)
    return MODEL_CACHE_MOUNT_EXTRACT;
  if (major > 6 || (major == 6 && minor >= 12))
    return MODEL_CACHE_MOUNT_EROFS;
  if (major == 6 && minor >= 4)
    return MODEL_CACHE_MOUNT_LOOP;
  return MODEL_CACHE_MOUNT_EXTRACT;
}

/* ---- verification ------------------------------------------------------ */

/* Make sure every blob holds its digest's bytes before an index points
 * into it, as verify_blobs says (store/cache.h): hashed once per blob file
 * and remembered (blobcheck), several at once; under "ingest" what the
 * source vouches for is taken as it is; under "always" hashed again.  The
 * decompressed tars are ours, checked when written. */
static int
verify_blobs (model_cache *c, struct blob_use *b, size_t n,
              struct model_cache_stats *st, mp_error *err)
{
  cleanup_free struct blobcheck_item *items = calloc (n ? n : 1, sizeof *items);
  size_t k = 0;
  int64_t bytes = 0;
  int r;

  if (items == NULL)
    return mp_error_sys (err, ENOMEM, "verify blobs");
  for (size_t i = 0; i < n; i++)
    {
      if (b[i].key[0] != '\0')
        continue;
      if (c->verify == MODEL_CACHE_VERIFY_INGEST && b[i].verified)
        continue;
      if (c->verify == MODEL_CACHE_VERIFY_ALWAYS)
        blobcheck_forget (c->bc, b[i].digest.str);
      items[k].fd = b[i].fd;
      items[k].digest = b[i].digest.str;
      items[k].size = b[i].size;
      k++;
    }
  r = blobcheck_verify (c->bc, items, k, err);
  for (size_t i = 0; i < k; i++)
    if (items[i].hashed)
      bytes += items[i].size;
  if (st != NULL)
    cache_count_verified (c, st, bytes);
  return r;
}

/* ---- blobs ------------------------------------------------------------- */

/* Open the blobs a record or a plan names.  A blob that is not a file of
 * its own (read through containerd's API into an unlinked spool file) or
 * not of the descriptor's size cannot back an index: 1 then (*why set). */
static int
blobs_open (model_cache *c, model_blob_open_fn open_fn, void *ctx,
            struct blob_use *b, size_t n, const char **why, mp_error *err)
{
  for (size_t i = 0; i < n; i++)
    {
      if (b[i].key[0] != '\0')
        {
          char path[KEY_MAX + 8];

          snprintf (path, sizeof path, "%s/tar", b[i].key);
          b[i].fd
              = openat (c->layers_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
          b[i].verified = true;
          if (b[i].fd < 0)
            return mp_error_set (err, MP_ERR_NOT_FOUND,
                                 "layers[%zu]: %s/layers/%s: %s", i, c->root,
                                 path, strerror (errno));
        }
      else
        b[i].fd
            = open_fn (ctx, b[i].digest.str, b[i].size, &b[i].verified, err);
      if (b[i].fd < 0)
        return mp_error_prefix (err, "layers[%zu] (%s)", i, b[i].digest.str);
      if (fstat (b[i].fd, &b[i].st) < 0)
        return mp_error_sys (err, errno, "stat blob %s", b[i].digest.str);
      if (!S_ISREG (b[i].st.st_mode) || b[i].st.st_nlink == 0)
        {
          *why = "a blob is not a file of the content store (read through "
                 "containerd's API)";
          return 1;
        }
      /* Served in place, a blob must stay what was verified: only its
       * owner (root, or us) may write it. */
      if ((b[i].st.st_uid != 0 && b[i].st.st_uid != geteuid ())
          || (b[i].st.st_mode & 022) != 0)
        {
          *why = "a blob file is writable by others than root";
          return 1;
        }
      if (b[i].st.st_size != b[i].size)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "layers[%zu] (%s): the blob is %lld bytes, its "
                             "descriptor says %" PRId64,
                             i, b[i].digest.str, (long long)b[i].st.st_size,
                             b[i].size);
    }
  return 0;
}

static int
mounted_text (const struct blob_use *b, size_t n, enum model_cache_mount m,
              char **out, mp_error *err)
{
  size_t cap = 64 + n * (MODEL_DIGEST_MAX + 128), len;
  char *t = malloc (cap);

  if (t == NULL)
    return mp_error_sys (err, ENOMEM, "model cache");
  len = (size_t)snprintf (t, cap, "mode %s\n", model_cache_mount_name (m));
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf (
        t + len, cap - len, "blob %s %llu %llu %lld %lld.%09ld\n",
        b[i].digest.str, (unsigned long long)b[i].st.st_dev,
        (unsigned long long)b[i].st.st_ino, (long long)b[i].st.st_size,
        (long long)b[i].st.st_ctim.tv_sec, b[i].st.st_ctim.tv_nsec);
  *out = t;
  return 0;
}

/* ---- mounting ---------------------------------------------------------- */

static int
tree_path (model_cache *c, const char *hex, const char *suffix, char **out,
           mp_error *err)
{
  if (asprintf (out, "%s/trees/%s%s", c->root, hex, suffix) < 0)
    {
      *out = NULL;
      return mp_error_sys (err, ENOMEM, "model cache");
    }
  return 0;
}

/* Mount trees/<hex>.erofs at trees/<hex> over the blobs B (verified),
 * replacing any mount there, and record which files it uses. */
static int
index_mount (model_cache *c, const char *hex, struct blob_use *b, size_t n,
             mp_error *err)
{
  cleanup_free char *dir = NULL, *index = NULL, *text = NULL;
  cleanup_free int *fds = calloc (n ? n : 1, sizeof *fds);
  char tmp[KEY_MAX + 32], name[KEY_MAX + 16];
  enum model_cache_mount mode = c->mount_mode;

  if (fds == NULL)
    return mp_error_sys (err, ENOMEM, "model cache");
  for (size_t i = 0; i < n; i++)
    fds[i] = b[i].fd;
  if (tree_path (c, hex, "", &dir, err) < 0
      || tree_path (c, hex, ".erofs", &index, err) < 0)
    return -1;
  if (erofs_mount_detach (dir, err) < 0)
    return -1;
  if (erofs_mount_index (index, fds, n, dir,
                         mode == MODEL_CACHE_MOUNT_LOOP ? EROFS_MOUNT_LOOP
                                                        : EROFS_MOUNT_FILE,
                         err)
      < 0)
    return mp_error_prefix (err, "mount the index of sha256:%s", hex);
  if (mounted_text (b, n, mode, &text, err) < 0)
    return -1;
  snprintf (tmp, sizeof tmp, "%s.mounted.%" PRIu64, hex, cache_next_seq (c));
  snprintf (name, sizeof name, "%s.mounted", hex);
  if (cache_write_file_at (c->work_fd, tmp, text, err) < 0)
    return -1;
  if (renameat (c->work_fd, tmp, c->trees_fd, name) < 0)
    return mp_error_sys (err, errno, "record %s/trees/%s", c->root, name);
  mp_log_info ("model cache: mounted the index of sha256:%s over %zu blobs "
               "(%s)",
               hex, n, model_cache_mount_name (mode));
  return 0;
}

/* The blob lines of an index tree's record. */
static int
record_blobs (model_cache *c, const char *hex, struct blob_use **out,
              size_t *nout, mp_error *err)
{
  char name[KEY_MAX + 16];
  cleanup_free char *text = NULL;
  struct blob_use *b = NULL;
  size_t n = 0, cap = 0;

  snprintf (name, sizeof name, "%s.layers", hex);
  text = cache_read_file_at (c->trees_fd, name);
  if (text == NULL)
    return mp_error_sys (err, errno, "read %s/trees/%s", c->root, name);
  for (char *p = text; *p;)
    {
      char *eol = strchrnul (p, '\n'), *sp;
      bool more = *eol != '\0';

      *eol = '\0';
      if (strncmp (p, "blob ", 5) == 0 && (sp = strchr (p + 5, ' ')) != NULL)
        {
          *sp = '\0';
          if (n == cap)
            {
              size_t nc = cap ? cap * 2 : 16;
              struct blob_use *nb = realloc (b, nc * sizeof *nb);
              if (nb == NULL)
                {
                  blobs_close (b, n);
                  return mp_error_sys (err, ENOMEM, "model cache");
                }
              b = nb;
              cap = nc;
            }
          memset (&b[n], 0, sizeof b[n]);
          b[n].fd = -1;
          if (model_digest_parse (p + 5, &b[n].digest, err) < 0)
            {
              blobs_close (b, n);
              return mp_error_prefix (err, "%s/trees/%s", c->root, name);
            }
          b[n].size = strtoll (sp + 1, &sp, 10);
          if (*sp == ' ')
            snprintf (b[n].key, sizeof b[n].key, "%s", sp + 1);
          n++;
        }
      p = more ? eol + 1 : eol;
    }
  *out = b;
  *nout = n;
  return 0;
}

bool
cache_index_is (model_cache *c, const char *hex)
{
  char name[KEY_MAX + 16];
  struct stat st;

  snprintf (name, sizeof name, "%s.erofs", hex);
  return fstatat (c->trees_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* One process at a time decides about a tree's mount: a flock on its index
 * (other processes sharing the root) under the cache's index mutex (this
 * process's threads). */
static int
index_lock (model_cache *c, const char *hex, mp_error *err)
{
  char name[KEY_MAX + 16];
  int fd;

  snprintf (name, sizeof name, "%s.erofs", hex);
  fd = openat (c->trees_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return mp_error_sys (err, errno, "open %s/trees/%s", c->root, name);
  while (flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      {
        mp_error_sys (err, errno, "lock %s/trees/%s", c->root, name);
        close (fd);
        return -1;
      }
  return fd;
}

int
cache_index_serve (model_cache *c, const model_digest *mdig,
                   model_blob_open_fn open_fn, void *ctx,
                   struct model_cache_stats *st, mp_error *err)
{
  const char *hex = model_digest_hex (mdig);
  struct blob_use *b = NULL;
  size_t n = 0;
  cleanup_free char *dir = NULL, *want = NULL, *have = NULL;
  cleanup_close int lk = -1;
  const char *why = NULL;
  char name[KEY_MAX + 16];
  int r, ret = -1;

  if (record_blobs (c, hex, &b, &n, err) < 0)
    return -1;
  pthread_mutex_lock (&c->index_mu);
  lk = index_lock (c, hex, err);
  if (lk < 0 || tree_path (c, hex, "", &dir, err) < 0)
    goto out;
  r = blobs_open (c, open_fn, ctx, b, n, &why, err);
  if (r != 0)
    {
      mp_error ignored;

      /* Gone or unusable: never serve a mount whose blobs containerd no
       * longer has; pods running on it keep it. */
      erofs_mount_detach (dir, &ignored);
      if (r > 0)
        mp_error_set (err, MP_ERR_FAILED_PRECONDITION, "%s", why);
      mp_error_prefix (err, "model %s (served from an index over its blobs)",
                       mdig->str);
      goto out;
    }
  snprintf (name, sizeof name, "%s.mounted", hex);
  have = cache_read_file_at (c->trees_fd, name);
  if (mounted_text (b, n, c->mount_mode, &want, err) < 0)
    goto out;
  if (have != NULL && strcmp (have, want) == 0 && erofs_mount_is_erofs (dir))
    {
      ret = 0; /* the second pod: same files, already mounted */
      goto out;
    }
  if (verify_blobs (c, b, n, st, err) < 0)
    {
      mp_error ignored;

      erofs_mount_detach (dir, &ignored);
      goto out;
    }
  ret = index_mount (c, hex, b, n, err);
out:
  pthread_mutex_unlock (&c->index_mu);
  blobs_close (b, n);
  return ret;
}

/* ---- compressed layers -------------------------------------------------- */

/* The plain tar of a compressed layer in layers/<key>/tar with its info
 * (digest, diffid, size): *B describes it once present. */
static int
tar_check (model_cache *c, const struct layer_plan *p, struct blob_use *b,
           mp_error *err)
{
  char path[KEY_MAX + 8], diff[MODEL_DIGEST_MAX + 1], size[32];
  cleanup_free char *info = NULL;

  snprintf (path, sizeof path, "%s/info", b->key);
  info = cache_read_file_at (c->layers_fd, path);
  if (info == NULL)
    return 0;
  if (!cache_record_get (info, "diffid", diff, sizeof diff)
      || !cache_record_get (info, "size", size, sizeof size))
    return mp_error_set (err, MP_ERR_INTERNAL,
                         "%s/layers/%s is not a complete layer; remove it",
                         c->root, b->key);
  if (strcmp (diff, p->diff_id) != 0)
    return mp_error_set (err, MP_ERR_DATA_LOSS,
                         "layers[%zu] (%s): diffId mismatch: the config says "
                         "%s, the layer's content has %s",
                         p->index, p->l->desc.digest.str, p->diff_id, diff);
  if (model_digest_parse (diff, &b->digest, err) < 0)
    return -1;
  b->size = strtoll (size, NULL, 10);
  return 1;
}

static int
tar_decompress (model_cache *c, const struct layer_plan *p,
                model_blob_open_fn open_fn, void *ctx,
                struct model_cache_stats *st, struct blob_use *b, mp_error *err)
{
  const model_layer *l = p->l;
  struct model_unpack_opts o = {
    .format = p->format,
    .expected_digest = l->desc.digest.str,
    .expected_diff_id = p->diff_id,
    .limits = &c->limits,
    .blob_size = l->desc.size,
  };
  struct model_unpack_stats us;
  struct cache_blob_trust trust;
  cleanup_close int src = -1, dfd = -1, out = -1;
  char name[32], info[3 * MODEL_DIGEST_MAX + 128], built[128];
  bool vouched = false, lost;
  mp_error ignored;
  int r;

  snprintf (name, sizeof name, "L%" PRIu64, cache_next_seq (c));
  if (mkdirat (c->work_fd, name, 0700) < 0
      || (dfd = cache_open_dir_at (c->work_fd, name)) < 0)
    return mp_error_sys (err, errno, "create layer work directory");
  out = openat (dfd, "tar", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0)
    {
      mp_error_sys (err, errno, "create layer work file");
      goto fail;
    }
  src = open_fn (ctx, l->desc.digest.str, l->desc.size, &vouched, err);
  if (src < 0)
    {
      mp_error_prefix (err, "layers[%zu] (%s)", p->index, l->desc.digest.str);
      goto fail;
    }
  cache_blob_trust_begin (c, src, l->desc.digest.str, vouched, &trust);
  o.blob_verified = trust.trusted;
  r = model_unpack_decompress (src, out, &o, &us, err);
  if (cache_blob_trust_end (c, src, l->desc.digest.str, &trust, r == 0,
                            r == 0 ? err : &ignored)
          < 0
      || r < 0)
    {
      mp_error_prefix (err, "layers[%zu] (%s)", p->index, l->desc.digest.str);
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
  if (fchmod (out, 0400) < 0 || close (mp_steal_fd (&out)) < 0)
    {
      mp_error_sys (err, errno, "write layer work file");
      goto fail;
    }
  cache_built_line (c, built, sizeof built);
  snprintf (info, sizeof info,
            "digest %s\ndiffid %s\nsize %" PRIu64 "\nentries 0\n%s",
            l->desc.digest.str, p->diff_id, us.bytes_written, built);
  if (cache_layer_commit (c, dfd, name, b->key, info, &lost, err) < 0)
    goto fail;
  cache_count (c, st, 1, 0, 0, 0, (int64_t)us.bytes_written);
  if (!o.blob_verified)
    cache_count_verified (c, st, (int64_t)us.bytes_read);
  mp_log_info ("model cache: decompressed layer %s (%" PRIu64 " bytes of "
               "tar, blob digest %s) as %s",
               l->desc.digest.str, us.bytes_written, trust.how, b->key);
  return 0;

fail:
  {
    mp_error ignored;
    mp_rmtree_at (c->work_fd, name, &ignored);
  }
  return -1;
}

/* A compressed layer's plain tar, decompressed once (the same layer in
 * several threads: once). */
static int
tar_ensure (model_cache *c, const struct layer_plan *p,
            model_blob_open_fn open_fn, void *ctx, struct model_cache_stats *st,
            struct blob_use *b, mp_error *err)
{
  char fkey[KEY_MAX + 3];

  snprintf (b->key, sizeof b->key, "tar-%s",
            model_digest_hex (&p->l->desc.digest));
  snprintf (fkey, sizeof fkey, "L:%s", b->key);
  for (;;)
    {
      struct flight *f = NULL;
      int r = tar_check (c, p, b, err);

      if (r < 0)
        return -1;
      if (r > 0)
        {
          cache_count (c, st, 0, 1, 0, 0, 0);
          return 0;
        }
      r = cache_flight_join (c, fkey, &f, err);
      if (r < 0)
        return -1;
      if (r == FLIGHT_WAITED)
        continue;
      r = tar_check (c, p, b, err);
      if (r == 0)
        r = tar_decompress (c, p, open_fn, ctx, st, b, err);
      if (r == 0)
        r = tar_check (c, p, b, err) > 0 ? 0 : -1;
      else if (r > 0)
        {
          cache_count (c, st, 0, 1, 0, 0, 0);
          r = 0;
        }
      cache_flight_end (c, f, r == 0);
      return r;
    }
}

/* ---- building ---------------------------------------------------------- */

int
cache_index_build (model_cache *c, const model_digest *mdig,
                   const struct model_manifest *m,
                   const struct layer_plan *plans, model_blob_open_fn open_fn,
                   void *ctx, struct model_cache_stats *st, mp_error *err)
{
  const char *hex = model_digest_hex (mdig);
  struct blob_use *b = calloc (m->n_layers ? m->n_layers : 1, sizeof *b);
  struct erofs_index_opts o = { .blkszbits = 12,
                                .limits = &c->limits,
                                .mtime_default = (int64_t)time (NULL) };
  erofs_index *x = NULL;
  cleanup_free char *record = NULL;
  cleanup_close int ifd = -1;
  const char *why = NULL;
  char iname[32], rname[32], tname[32], name[KEY_MAX + 16], built[128];
  size_t rlen, rcap;
  int64_t isize = 0;
  int r, ret = -1;

  if (b == NULL)
    return mp_error_sys (err, ENOMEM, "model cache");
  for (size_t i = 0; i < m->n_layers; i++)
    {
      b[i].fd = -1;
      b[i].digest = m->layers[i].desc.digest;
      b[i].size = m->layers[i].desc.size;
      if (plans[i].format != MODEL_LAYER_RAW
          && plans[i].format != MODEL_LAYER_TAR && plans[i].diff_id == NULL)
        why = "a compressed layer has no diffId to check its tar against";
      else if (plans[i].format == MODEL_LAYER_TAR && plans[i].diff_id != NULL
               && strcmp (plans[i].diff_id, b[i].digest.str) != 0)
        why = "a plain tar layer's diffId differs from its digest";
      if (plans[i].format != MODEL_LAYER_RAW)
        o.blkszbits = 9;
    }
  /* Compressed layers: decompressed once into the cache, and indexed like
   * a plain tar (one copy of the data, as unpacking would make, but the
   * model's raw and plain layers stay where they are).  A model of
   * compressed layers only gains nothing from that and is unpacked instead:
   * measured on a 2 GiB tar+zstd layer, unpacking took 3.7 s, decompressing
   * and indexing 4.6 s, for the same disk. */
  if (why == NULL && m->n_layers > 0)
    {
      size_t in_place = 0;

      for (size_t i = 0; i < m->n_layers; i++)
        in_place += plans[i].format == MODEL_LAYER_RAW
                    || plans[i].format == MODEL_LAYER_TAR;
      if (in_place == 0)
        why = "every layer is compressed (unpacking is as small and faster)";
    }
  for (size_t i = 0; why == NULL && i < m->n_layers; i++)
    if (plans[i].format == MODEL_LAYER_TAR_GZIP
        || plans[i].format == MODEL_LAYER_TAR_ZSTD)
      {
        if (tar_ensure (c, &plans[i], open_fn, ctx, st, &b[i], err) < 0)
          goto out;
      }
  if (why == NULL)
    {
      r = blobs_open (c, open_fn, ctx, b, m->n_layers, &why, err);
      if (r < 0)
        goto out;
    }
  if (why != NULL)
    {
      mp_log_info ("model cache: %s unpacked, not indexed: %s", mdig->str, why);
      ret = 1;
      goto out;
    }
  if (verify_blobs (c, b, m->n_layers, st, err) < 0)
    goto out;

  x = erofs_index_new (&o, err);
  if (x == NULL)
    goto out;
  for (size_t i = 0; i < m->n_layers; i++)
    {
      char what[MODEL_DIGEST_MAX + 32];

      snprintf (what, sizeof what, "layers[%zu] %s", i, b[i].digest.str);
      r = plans[i].format != MODEL_LAYER_RAW
              ? erofs_index_add_tar (x, b[i].fd, b[i].size, what, err)
              : erofs_index_add_raw (x, b[i].fd, b[i].size, m->layers[i].path,
                                     &plans[i].meta, what, err);
      if (r < 0)
        goto out;
    }
  snprintf (iname, sizeof iname, "I%" PRIu64, cache_next_seq (c));
  snprintf (rname, sizeof rname, "R%" PRIu64, cache_next_seq (c));
  snprintf (tname, sizeof tname, "T%" PRIu64, cache_next_seq (c));
  ifd = openat (c->work_fd, iname,
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (ifd < 0)
    {
      mp_error_sys (err, errno, "create index work file");
      goto out;
    }
  if (erofs_index_write (x, ifd, &isize, err) < 0)
    goto fail;
  /* The index copied the last chunk of some raw blobs: from the verified
   * bytes only if no blob changed since it was opened and verified. */
  for (size_t i = 0; i < m->n_layers; i++)
    {
      struct stat now;

      if (fstat (b[i].fd, &now) < 0 || now.st_ino != b[i].st.st_ino
          || now.st_size != b[i].st.st_size
          || now.st_ctim.tv_sec != b[i].st.st_ctim.tv_sec
          || now.st_ctim.tv_nsec != b[i].st.st_ctim.tv_nsec)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "layers[%zu] (%s): the blob changed while it was "
                        "indexed",
                        i, b[i].digest.str);
          goto fail;
        }
    }
  if (close (mp_steal_fd (&ifd)) < 0)
    {
      mp_error_sys (err, errno, "write index");
      goto fail;
    }

  rcap = 64 + m->n_layers * (MODEL_DIGEST_MAX + 3 * KEY_MAX) + sizeof built;
  record = malloc (rcap);
  if (record == NULL)
    {
      mp_error_sys (err, ENOMEM, "model cache");
      goto fail;
    }
  rlen = (size_t)snprintf (record, rcap, "manifest %s\nindex erofs\n",
                           mdig->str);
  for (size_t i = 0; i < m->n_layers; i++)
    rlen += (size_t)snprintf (record + rlen, rcap - rlen,
                              "blob %s %" PRId64 "%s%s\n", b[i].digest.str,
                              b[i].size, b[i].key[0] ? " " : "", b[i].key);
  /* gc keeps the decompressed tars the index points into. */
  for (size_t i = 0; i < m->n_layers; i++)
    if (b[i].key[0] != '\0')
      rlen += (size_t)snprintf (record + rlen, rcap - rlen, "layer %s\n",
                                b[i].key);
  cache_built_line (c, record + rlen, rcap - rlen);
  if (cache_write_file_at (c->work_fd, rname, record, err) < 0)
    goto fail;
  if (mkdirat (c->work_fd, tname, 0755) < 0)
    {
      mp_error_sys (err, errno, "create the mount point");
      goto fail;
    }
  /* Index, then record, then the mount point: a tree is only served with
   * its record, and an index tree only with its index, so a crash at any
   * step leaves nothing that is served half-made. */
  snprintf (name, sizeof name, "%s.erofs", hex);
  if (renameat2 (c->work_fd, iname, c->trees_fd, name, RENAME_NOREPLACE) < 0
      && errno != EEXIST)
    {
      mp_error_sys (err, errno, "move the index into %s/trees", c->root);
      goto fail;
    }
  snprintf (name, sizeof name, "%s.layers", hex);
  if (renameat2 (c->work_fd, rname, c->trees_fd, name, RENAME_NOREPLACE) < 0
      && errno != EEXIST)
    {
      mp_error_sys (err, errno, "move the record into %s/trees", c->root);
      goto fail;
    }
  if (renameat2 (c->work_fd, tname, c->trees_fd, hex, RENAME_NOREPLACE) < 0
      && errno != EEXIST && errno != ENOTEMPTY)
    {
      mp_error_sys (err, errno, "move the mount point into %s/trees", c->root);
      goto fail;
    }
  unlinkat (c->work_fd, iname, 0);
  unlinkat (c->work_fd, rname, 0);
  unlinkat (c->work_fd, tname, AT_REMOVEDIR);
  cache_want_sync (c);
  cache_count (c, st, 0, 0, 1, 0, 0);
  mp_log_info ("model cache: indexed manifest %s: %zu blobs, index %" PRId64
               " bytes",
               mdig->str, m->n_layers, isize);

  /* Mounted now, with the blobs just verified: serving it does not hash
   * them again. */
  pthread_mutex_lock (&c->index_mu);
  {
    cleanup_close int lk = index_lock (c, hex, err);
    r = lk < 0 ? -1 : index_mount (c, hex, b, m->n_layers, err);
  }
  pthread_mutex_unlock (&c->index_mu);
  if (r < 0 && err->code == MP_ERR_UNIMPLEMENTED && c->mount_auto)
    {
      mp_error ignored;
      int64_t freed = 0;

      mp_log_warn ("model cache: %s; serving models by unpacking them from "
                   "now on",
                   err->msg);
      c->mount_mode = MODEL_CACHE_MOUNT_EXTRACT;
      snprintf (name, sizeof name, "%s.layers", hex);
      if (cache_retire (c, c->trees_fd, hex, &freed, &ignored) == 0)
        {
          cache_retire (c, c->trees_fd, name, &freed, &ignored);
          snprintf (name, sizeof name, "%s.erofs", hex);
          cache_retire (c, c->trees_fd, name, &freed, &ignored);
        }
      ret = 1;
      goto out;
    }
  ret = r;
  goto out;

fail:
  unlinkat (c->work_fd, iname, 0);
  unlinkat (c->work_fd, rname, 0);
  unlinkat (c->work_fd, tname, AT_REMOVEDIR);
out:
  erofs_index_free (x);
  blobs_close (b, m->n_layers);
  if (ret < 0)
    mp_error_prefix (err, "manifest %s: index", mdig->str);
  return ret;
}
