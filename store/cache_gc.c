/* The model cache, keeping and collecting: pins, and gc of unused trees,
 * their records and the layers no kept tree needs (see model_cache_gc in
 * cache.h for the retention rules). */
#include "store/cache_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/digest.h"
#include "util/cleanup.h"
#include "util/log.h"

/* ---- pins -------------------------------------------------------------- */

/* Pin names become file names under pins/: a safe alphabet, no dot first. */
static int
check_pin_name (const char *name, mp_error *err)
{
  size_t n = name == NULL ? 0 : strlen (name);

  if (n == 0 || n > 200 || name[0] == '.'
      || strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789._-")
             != n)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "model cache: bad pin name \"%s\"",
                         name == NULL ? "" : name);
  return 0;
}

int
model_cache_pin (model_cache *c, const char *name, const char *digest,
                 const char *note, mp_error *err)
{
  model_digest d, target;
  char tmp[32];
  cleanup_free char *text = NULL;
  cleanup_close int lock = -1, fd = -1;

  if (check_pin_name (name, err) < 0
      || model_digest_parse (digest, &d, err) < 0)
    return -1;
  if (asprintf (&text, "%s\n%s\n", d.str, note == NULL ? "" : note) < 0)
    return mp_error_sys (err, ENOMEM, "pin");
  /* Under the shared lock gc cannot run, so the tree seen here is the tree
   * the pin keeps. */
  lock = cache_lock (c, LOCK_SH, err);
  if (lock < 0)
    return -1;
  if (!cache_is_dir_at (c->trees_fd, model_digest_hex (&d))
      && !(cache_alias_get (c, model_digest_hex (&d), &target)
           && cache_is_dir_at (c->trees_fd, model_digest_hex (&target))))
    return mp_error_set (err, MP_ERR_NOT_FOUND,
                         "no tree for %s in the model cache", d.str);
  snprintf (tmp, sizeof tmp, "P%" PRIu64, cache_next_seq (c));
  if (cache_write_file_at (c->work_fd, tmp, text, err) < 0)
    return -1;
  fd = openat (c->work_fd, tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fdatasync (fd) < 0
      || renameat (c->work_fd, tmp, c->pins_fd, name) < 0
      || fsync (c->pins_fd) < 0)
    {
      int e = errno;

      unlinkat (c->work_fd, tmp, 0);
      return mp_error_sys (err, e, "write pin %s/pins/%s", c->root, name);
    }
  return 0;
}

int
model_cache_unpin (model_cache *c, const char *name, mp_error *err)
{
  if (check_pin_name (name, err) < 0)
    return -1;
  if (unlinkat (c->pins_fd, name, 0) < 0)
    {
      if (errno == ENOENT)
        return mp_error_set (err, MP_ERR_NOT_FOUND, "no pin %s", name);
      return mp_error_sys (err, errno, "remove pin %s/pins/%s", c->root, name);
    }
  fsync (c->pins_fd);
  return 0;
}

int
model_cache_pin_get (model_cache *c, const char *name, char **digest,
                     char **note, mp_error *err)
{
  cleanup_free char *text = NULL;
  char *nl;

  if (check_pin_name (name, err) < 0)
    return -1;
  text = cache_read_file_at (c->pins_fd, name);
  if (text == NULL)
    return mp_error_set (err, MP_ERR_NOT_FOUND, "no pin %s", name);
  nl = strchr (text, '\n');
  if (nl == NULL)
    return mp_error_set (err, MP_ERR_INTERNAL, "pin %s is malformed", name);
  *nl = '\0';
  if (note != NULL)
    {
      char *end = strchr (nl + 1, '\n');

      if (end != NULL)
        *end = '\0';
      *note = strdup (nl + 1);
    }
  *digest = strdup (text);
  if (*digest == NULL || (note != NULL && *note == NULL))
    return mp_error_sys (err, ENOMEM, "pin %s", name);
  return 0;
}

/* ---- gc ---------------------------------------------------------------- */

bool
strset_has (const struct strset *s, const char *x)
{
  for (size_t i = 0; i < s->n; i++)
    if (strcmp (s->v[i], x) == 0)
      return true;
  return false;
}

int
strset_add (struct strset *s, const char *x, mp_error *err)
{
  if (strset_has (s, x))
    return 0;
  if (s->n == s->cap)
    {
      size_t cap = s->cap ? s->cap * 2 : 32;
      char **v = realloc (s->v, cap * sizeof *v);
      if (v == NULL)
        return mp_error_sys (err, ENOMEM, "gc");
      s->v = v;
      s->cap = cap;
    }
  s->v[s->n] = strdup (x);
  if (s->v[s->n] == NULL)
    return mp_error_sys (err, ENOMEM, "gc");
  s->n++;
  return 0;
}

void
strset_clear (struct strset *s)
{
  for (size_t i = 0; i < s->n; i++)
    free (s->v[i]);
  free (s->v);
  memset (s, 0, sizeof *s);
}

static int
gc_tree_cmp_newest (const void *a, const void *b)
{
  const struct gc_tree *x = a, *y = b;

  if (x->used.tv_sec != y->used.tv_sec)
    return x->used.tv_sec > y->used.tv_sec ? -1 : 1;
  if (x->used.tv_nsec != y->used.tv_nsec)
    return x->used.tv_nsec > y->used.tv_nsec ? -1 : 1;
  return strcmp (x->hex, y->hex);
}

static int
gc_read_tree (model_cache *c, struct gc_tree *t, mp_error *err)
{
  char rec[KEY_MAX + 16];
  cleanup_free char *text = NULL;
  struct stat st;

  snprintf (rec, sizeof rec, "%s.layers", t->hex);
  /* No record (a crash between the two renames): never used, as far as
   * anyone can tell. */
  if (fstatat (c->trees_fd, rec, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return 0;
  t->used = st.st_mtim;
  text = cache_read_file_at (c->trees_fd, rec);
  if (text == NULL)
    return mp_error_sys (err, errno, "read %s/trees/%s", c->root, rec);
  for (char *p = text; *p;)
    {
      char *eol = strchrnul (p, '\n');
      bool more = *eol != '\0';

      *eol = '\0';
      if (strncmp (p, "layer ", 6) == 0
          && strset_add (&t->layers, p + 6, err) < 0)
        return -1;
      p = more ? eol + 1 : eol;
    }
  return 0;
}

/* Size of a layer for the retention allowance and the bound: the bytes it
 * unpacked. */
int64_t
cache_layer_size (model_cache *c, const char *key)
{
  char path[KEY_MAX + 8], size[32];
  cleanup_free char *info = NULL;

  snprintf (path, sizeof path, "%s/info", key);
  info = cache_read_file_at (c->layers_fd, path);
  if (info == NULL || !cache_record_get (info, "size", size, sizeof size))
    return 0;
  return strtoll (size, NULL, 10);
}

/* Which unused trees stay: see model_cache_gc in cache.h.  A layer counts
 * against the size allowance once, and not at all if a tree in use needs
 * it anyway: the allowance is for bytes kept only for unused trees. */
static int
gc_decide (model_cache *c, struct gc_tree *trees, size_t n, mp_error *err)
{
  struct strset counted = { 0 };
  struct timespec now;
  int64_t used_bytes = 0;
  int ret = -1;

  clock_gettime (CLOCK_REALTIME, &now);
  if (n > 1)
    qsort (trees, n, sizeof *trees, gc_tree_cmp_newest);
  for (size_t i = 0; i < n; i++)
    {
      trees[i].keep = trees[i].in_use;
      for (size_t j = 0; trees[i].in_use && j < trees[i].layers.n; j++)
        if (strset_add (&counted, trees[i].layers.v[j], err) < 0)
          goto out;
    }
  for (size_t i = 0; i < n; i++)
    {
      struct gc_tree *t = &trees[i];
      int64_t size = 0;

      if (t->in_use)
        continue;
      t->keep = c->keep_seconds > 0 || c->keep_bytes > 0;
      if (t->keep && c->keep_seconds > 0
          && now.tv_sec - t->used.tv_sec > c->keep_seconds)
        t->keep = false;
      if (!t->keep || c->keep_bytes == 0)
        continue;
      for (size_t j = 0; j < t->layers.n; j++)
        if (!strset_has (&counted, t->layers.v[j]))
          size += cache_layer_size (c, t->layers.v[j]);
      if (used_bytes + size > c->keep_bytes)
        {
          t->keep = false;
          continue;
        }
      used_bytes += size;
      for (size_t j = 0; j < t->layers.n; j++)
        if (strset_add (&counted, t->layers.v[j], err) < 0)
          goto out;
    }
  ret = 0;
out:
  strset_clear (&counted);
  return ret;
}

void
cache_trees_free (struct gc_tree *trees, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (trees[i].hex);
      strset_clear (&trees[i].layers);
    }
  free (trees);
}

int
cache_trees_read (model_cache *c, const struct strset *in_use,
                  struct gc_tree **out, size_t *nout, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  struct gc_tree *trees = NULL;
  size_t n = 0, cap = 0;
  d = cache_read_dir (c, c->trees_fd, "trees", err);
  if (d == NULL)
    return -1;
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (!cache_is_hex_name (de->d_name)
          || !cache_is_dir_at (c->trees_fd, de->d_name))
        continue;
      if (n == cap)
        {
          size_t ncap = cap ? cap * 2 : 16;
          struct gc_tree *bigger = realloc (trees, ncap * sizeof *bigger);
          if (bigger == NULL)
            goto nomem;
          trees = bigger;
          cap = ncap;
        }
      memset (&trees[n], 0, sizeof trees[n]);
      trees[n].hex = strdup (de->d_name);
      if (trees[n].hex == NULL)
        goto nomem;
      trees[n].in_use = strset_has (in_use, de->d_name);
      n++;
      if (gc_read_tree (c, &trees[n - 1], err) < 0)
        goto fail;
    }
  *out = trees;
  *nout = n;
  return 0;
nomem:
  mp_error_sys (err, ENOMEM, "gc");
fail:
  cache_trees_free (trees, n);
  return -1;
}

/* Remove records without their tree, and index records whose manifest's
 * tree is gone. */
static int
gc_records (model_cache *c, int64_t *freed, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  d = cache_read_dir (c, c->trees_fd, "trees", err);
  if (d == NULL)
    return -1;
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      char hex[KEY_MAX + 1];
      const char *dot = strrchr (de->d_name, '.');
      size_t hlen = dot ? (size_t)(dot - de->d_name) : 0;
      bool orphan;

      if (dot == NULL || hlen >= sizeof hex)
        continue;
      memcpy (hex, de->d_name, hlen);
      hex[hlen] = '\0';
      if (!cache_is_hex_name (hex))
        continue;
      if (strcmp (dot, ".layers") == 0 || strcmp (dot, ".erofs") == 0
          || strcmp (dot, ".mounted") == 0)
        orphan = !cache_is_dir_at (c->trees_fd, hex);
      else if (strcmp (dot, ".index") == 0)
        {
          model_digest target;
          orphan = !cache_alias_get (c, hex, &target)
                   || !cache_tree_ready (c, model_digest_hex (&target));
        }
      else
        continue;
      if (orphan && cache_retire (c, c->trees_fd, de->d_name, freed, err) < 0)
        return -1;
    }
  return 0;
}

static int
gc_layers (model_cache *c, const struct strset *needed, int64_t *freed,
           mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  d = cache_read_dir (c, c->layers_fd, "layers", err);
  if (d == NULL)
    return -1;
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
          || strset_has (needed, de->d_name))
        continue;
      if (cache_retire (c, c->layers_fd, de->d_name, freed, err) < 0)
        return -1;
      mp_log_info ("model cache: removed unused layer %s", de->d_name);
    }
  return 0;
}

/* Every pinned digest (and the manifest an index pin resolved to) counts as
 * in use.  Called under the exclusive lock. */
int
cache_pins_used (model_cache *c, struct strset *used, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  d = cache_read_dir (c, c->pins_fd, "pins", err);
  if (d == NULL)
    return -1;
  while ((de = readdir (d)) != NULL)
    {
      cleanup_free char *text = NULL;
      model_digest p, target;
      char *nl;

      if (de->d_name[0] == '.')
        continue;
      text = cache_read_file_at (c->pins_fd, de->d_name);
      if (text == NULL || (nl = strchr (text, '\n')) == NULL)
        continue;
      *nl = '\0';
      if (model_digest_parse (text, &p, NULL) < 0)
        continue;
      if (strset_add (used, model_digest_hex (&p), err) < 0)
        return -1;
      if (cache_alias_get (c, model_digest_hex (&p), &target)
          && strset_add (used, model_digest_hex (&target), err) < 0)
        return -1;
    }
  return 0;
}

int
cache_remove_unneeded (model_cache *c, const struct strset *needed,
                       int64_t *freed, mp_error *err)
{
  if (gc_records (c, freed, err) < 0 || gc_layers (c, needed, freed, err) < 0
      || cache_clean_tmp (c, freed, err) < 0)
    return -1;
  return 0;
}

int
model_cache_gc (model_cache *c, const char *const *in_use, size_t n,
                int64_t *freed_out, mp_error *err)
{
  struct strset used = { 0 }, needed = { 0 };
  struct gc_tree *trees = NULL;
  size_t ntrees = 0;
  int64_t freed = 0;
  cleanup_close int lock = -1;
  int ret = -1;

  if (freed_out != NULL)
    *freed_out = 0;
  for (size_t i = 0; i < n; i++)
    if (!model_digest_is_valid (in_use[i]))
      {
        mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                      "gc: in-use list: \"%s\" is not a digest", in_use[i]);
        goto out;
      }
  lock = cache_lock (c, LOCK_EX, err);
  if (lock < 0)
    goto out;
  /* Read under the lock: builds add index records, and other processes
   * publish what they use. */
  if (cache_used_hexes (c, in_use, n, &used, err) < 0)
    goto out;
  if (cache_trees_read (c, &used, &trees, &ntrees, err) < 0)
    goto out;
  if (gc_decide (c, trees, ntrees, err) < 0)
    goto out;
  for (size_t i = 0; i < ntrees; i++)
    {
      struct gc_tree *t = &trees[i];

      if (t->keep)
        {
          for (size_t j = 0; j < t->layers.n; j++)
            if (strset_add (&needed, t->layers.v[j], err) < 0)
              goto out;
          continue;
        }
      if (cache_retire (c, c->trees_fd, t->hex, &freed, err) < 0)
        goto out;
      mp_log_info ("model cache: removed unused tree %s", t->hex);
    }
  if (cache_remove_unneeded (c, &needed, &freed, err) < 0)
    goto out;
  ret = 0;
out:
  if (freed_out != NULL)
    *freed_out = freed;
  cache_trees_free (trees, ntrees);
  strset_clear (&used);
  strset_clear (&needed);
  return ret < 0 ? mp_error_prefix (err, "model cache gc") : 0;
}

/* ---- usage (metrics) ----------------------------------------------------- */

/* Sum the sizes of the layers under layers/: those in NEEDED into *in_use,
 * the others into *unused. */
static int
usage_layers (model_cache *c, const struct strset *needed, int64_t *in_use,
              int64_t *unused, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  d = cache_read_dir (c, c->layers_fd, "layers", err);
  if (d == NULL)
    return -1;
  while ((de = readdir (d)) != NULL)
    {
      if (de->d_name[0] == '.')
        continue;
      if (strset_has (needed, de->d_name))
        *in_use += cache_layer_size (c, de->d_name);
      else
        *unused += cache_layer_size (c, de->d_name);
    }
  return 0;
}

int
model_cache_usage (model_cache *c, const char *const *in_use, size_t n,
                   struct model_cache_usage *out, mp_error *err)
{
  struct strset used = { 0 }, needed = { 0 };
  struct gc_tree *trees = NULL;
  size_t ntrees = 0, nvalid = 0;
  cleanup_free const char **valid = NULL;
  cleanup_close int lock = -1;
  int ret = -1;

  memset (out, 0, sizeof *out);
  /* A malformed digest is nobody's tree: skipped, not an error. */
  valid = calloc (n ? n : 1, sizeof *valid);
  if (valid == NULL)
    {
      mp_error_sys (err, ENOMEM, "model cache usage");
      goto out;
    }
  for (size_t i = 0; i < n; i++)
    if (model_digest_is_valid (in_use[i]))
      valid[nvalid++] = in_use[i];
  /* Shared, as a build: the records do not move under the walk.  Not
   * waiting for a gc keeps a scrape from hanging on one. */
  lock = openat (c->root_fd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                 0600);
  if (lock < 0)
    {
      mp_error_sys (err, errno, "open %s/lock", c->root);
      goto out;
    }
  if (flock (lock, LOCK_SH | LOCK_NB) < 0)
    {
      if (errno == EWOULDBLOCK || errno == EINTR)
        mp_error_set (err, MP_ERR_UNAVAILABLE, "gc is running");
      else
        mp_error_sys (err, errno, "lock %s/lock", c->root);
      goto out;
    }
  /* What gc keeps whatever its retention: IN_USE, holds, the published
   * in-use sets, pins. */
  if (cache_used_hexes (c, (const char *const *)valid, nvalid, &used, err) < 0
      || cache_trees_read (c, &used, &trees, &ntrees, err) < 0)
    goto out;
  for (size_t i = 0; i < ntrees; i++)
    {
      if (!trees[i].in_use)
        {
          out->models_unused++;
          continue;
        }
      out->models_in_use++;
      for (size_t j = 0; j < trees[i].layers.n; j++)
        if (strset_add (&needed, trees[i].layers.v[j], err) < 0)
          goto out;
    }
  if (usage_layers (c, &needed, &out->bytes_in_use, &out->bytes_unused, err)
      < 0)
    goto out;
  ret = 0;
out:
  cache_trees_free (trees, ntrees);
  strset_clear (&used);
  strset_clear (&needed);
  return ret < 0 ? mp_error_prefix (err, "model cache usage") : 0;
}
