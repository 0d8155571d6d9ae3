/* The model cache, in use and bounded: holds (a tree a caller is about to
 * hand to a snapshot), the set of models snapshots use (the daemon's,
 * published under <root>/in-use for other processes), the bound on the
 * cache's size (max_bytes, min_free_percent) with least-recently-used
 * eviction of unused trees, and the listing behind `modelpack cache ls`.
 *
 * Why the in-use set is on disk: the CLI (`modelpack cache prune`) shares
 * the root with the daemon and must never remove a tree a pod mounts, but
 * only the daemon knows its snapshots.  The daemon rewrites <root>/in-use
 * whenever its set changes, holds included, and a hold is published before
 * the build it protects takes the shared lock; gc, eviction and prune read
 * the file under the exclusive lock, so whatever they see covers every
 * tree handed out (see model_cache_hold in cache.h).  The file outlives the
 * daemon on purpose: pods keep their mounts while it is down, and only it
 * removes snapshots. */
#include "store/cache_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "model/digest.h"
#include "util/cleanup.h"
#include "util/log.h"

#define IN_USE_FILE "in-use"

/* ---- counted sets ------------------------------------------------------ */

static ssize_t
countset_find (const struct countset *s, const char *x)
{
  for (size_t i = 0; i < s->n; i++)
    if (strcmp (s->v[i], x) == 0)
      return (ssize_t)i;
  return -1;
}

static int
countset_add (struct countset *s, const char *x, mp_error *err)
{
  ssize_t i = countset_find (s, x);
  char **v;
  int *count;

  if (i >= 0)
    {
      s->count[i]++;
      return 0;
    }
  v = realloc (s->v, (s->n + 1) * sizeof *v);
  if (v != NULL)
    s->v = v;
  count = realloc (s->count, (s->n + 1) * sizeof *count);
  if (count != NULL)
    s->count = count;
  if (v == NULL || count == NULL || (s->v[s->n] = strdup (x)) == NULL)
    return mp_error_sys (err, ENOMEM, "model cache");
  s->count[s->n++] = 1;
  return 0;
}

static void
countset_remove (struct countset *s, const char *x)
{
  ssize_t i = countset_find (s, x);

  if (i < 0 || --s->count[i] > 0)
    return;
  free (s->v[i]);
  s->v[i] = s->v[s->n - 1];
  s->count[i] = s->count[s->n - 1];
  s->n--;
}

void
countset_clear (struct countset *s)
{
  for (size_t i = 0; i < s->n; i++)
    free (s->v[i]);
  free (s->v);
  free (s->count);
  memset (s, 0, sizeof *s);
}

static bool
countset_equal (const struct countset *a, const struct countset *b)
{
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    {
      ssize_t j = countset_find (b, a->v[i]);
      if (j < 0 || b->count[j] != a->count[i])
        return false;
    }
  return true;
}

/* ---- the published set --------------------------------------------------- */

/* Rewrite <root>/in-use from this process's holds and snapshots.  Under
 * use_mu.  Synced: after a machine crash, pods come back on the same
 * snapshots and a prune before the daemon restarts must still see them. */
static int
publish_locked (model_cache *c, mp_error *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&text, &len);
  char tmp[32];
  cleanup_close int fd = -1;

  if (f == NULL)
    return mp_error_sys (err, ENOMEM, "model cache in-use record");
  fputs ("# the models snapshots use: written by modelpack-snapshotter, read "
         "by gc and prune\n",
         f);
  for (size_t i = 0; i < c->snapshots.n; i++)
    for (int k = 0; k < c->snapshots.count[i]; k++)
      fprintf (f, "snapshot %s\n", c->snapshots.v[i]);
  for (size_t i = 0; i < c->holds.n; i++)
    for (int k = 0; k < c->holds.count[i]; k++)
      fprintf (f, "held %s\n", c->holds.v[i]);
  if (fclose (f) != 0)
    return mp_error_sys (err, ENOMEM, "model cache in-use record");
  snprintf (tmp, sizeof tmp, "U%" PRIu64, cache_next_seq (c));
  if (cache_write_file_at (c->work_fd, tmp, text, err) < 0)
    return -1;
  fd = openat (c->work_fd, tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fdatasync (fd) < 0
      || renameat (c->work_fd, tmp, c->root_fd, IN_USE_FILE) < 0)
    {
      int e = errno;

      unlinkat (c->work_fd, tmp, 0);
      return mp_error_sys (err, e, "write %s/" IN_USE_FILE, c->root);
    }
  return 0;
}

/* Another process's published set: SNAPSHOTS and HELD get its digests;
 * 0 if there is none (*FOUND false), -1 if it cannot be trusted. */
static int
read_published (model_cache *c, struct countset *snapshots,
                struct countset *held, bool *found, mp_error *err)
{
  cleanup_free char *text = cache_read_file_at (c->root_fd, IN_USE_FILE);

  *found = false;
  if (text == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return mp_error_sys (err, errno, "read %s/" IN_USE_FILE, c->root);
    }
  *found = true;
  for (char *p = text; *p;)
    {
      char *eol = strchrnul (p, '\n');
      bool more = *eol != '\0';
      struct countset *into = NULL;
      const char *d = NULL;

      *eol = '\0';
      if (strncmp (p, "snapshot ", 9) == 0)
        into = snapshots, d = p + 9;
      else if (strncmp (p, "held ", 5) == 0)
        into = held, d = p + 5;
      if (into != NULL)
        {
          /* A record we cannot read protects nothing we could name: stop
           * rather than remove what it may have listed. */
          if (!model_digest_is_valid (d))
            return mp_error_set (err, MP_ERR_INTERNAL,
                                 "%s/" IN_USE_FILE ": \"%s\" is not a "
                                 "digest; fix or remove the file",
                                 c->root, d);
          if (countset_add (into, d, err) < 0)
            return -1;
        }
      p = more ? eol + 1 : eol;
    }
  return 0;
}

static int
hold (model_cache *c, const char *digest, bool publish, mp_error *err)
{
  int r;

  if (!model_digest_is_valid (digest))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "model cache: \"%s\" is not a digest", digest);
  pthread_mutex_lock (&c->use_mu);
  r = countset_add (&c->holds, digest, err);
  if (r == 0 && publish && c->publish && publish_locked (c, err) < 0)
    {
      countset_remove (&c->holds, digest);
      r = -1;
    }
  pthread_mutex_unlock (&c->use_mu);
  return r;
}

static void
release (model_cache *c, const char *digest, bool publish)
{
  mp_error err = { 0 };

  pthread_mutex_lock (&c->use_mu);
  countset_remove (&c->holds, digest);
  /* A stale record only keeps a tree longer: a warning, not a failure. */
  if (publish && c->publish && publish_locked (c, &err) < 0)
    mp_log_warn ("model cache: %s", err.msg);
  pthread_mutex_unlock (&c->use_mu);
}

int
model_cache_hold (model_cache *c, const char *digest, mp_error *err)
{
  return hold (c, digest, true, err);
}

void
model_cache_release (model_cache *c, const char *digest)
{
  release (c, digest, true);
}

int
model_cache_set_in_use (model_cache *c, const char *const *digests, size_t n,
                        mp_error *err)
{
  struct countset next = { 0 };
  int r = 0;

  for (size_t i = 0; i < n; i++)
    {
      if (!model_digest_is_valid (digests[i]))
        {
          countset_clear (&next);
          return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                               "model cache: in-use list: \"%s\" is not a "
                               "digest",
                               digests[i]);
        }
      if (countset_add (&next, digests[i], err) < 0)
        {
          countset_clear (&next);
          return -1;
        }
    }
  pthread_mutex_lock (&c->use_mu);
  if (!countset_equal (&next, &c->snapshots) || (c->publish && !c->published))
    {
      struct countset old = c->snapshots;

      c->snapshots = next;
      next = old;
      if (c->publish)
        r = publish_locked (c, err);
      c->published = r == 0;
    }
  pthread_mutex_unlock (&c->use_mu);
  countset_clear (&next);
  return r;
}

static int
add_hex (model_cache *c, const char *digest, struct strset *out, mp_error *err)
{
  model_digest d, target;

  if (model_digest_parse (digest, &d, err) < 0)
    return -1;
  if (strset_add (out, model_digest_hex (&d), err) < 0)
    return -1;
  /* Index digests stand for the manifests they were resolved to. */
  if (cache_alias_get (c, model_digest_hex (&d), &target)
      && strset_add (out, model_digest_hex (&target), err) < 0)
    return -1;
  return 0;
}

int
cache_used_hexes (model_cache *c, const char *const *in_use, size_t n,
                  struct strset *out, mp_error *err)
{
  struct countset snaps = { 0 }, held = { 0 };
  bool found, ok = true;
  int ret = -1;

  for (size_t i = 0; i < n; i++)
    if (add_hex (c, in_use[i], out, err) < 0)
      return -1;
  pthread_mutex_lock (&c->use_mu);
  for (size_t i = 0; i < c->holds.n && ok; i++)
    ok = add_hex (c, c->holds.v[i], out, err) == 0;
  for (size_t i = 0; i < c->snapshots.n && ok; i++)
    ok = add_hex (c, c->snapshots.v[i], out, err) == 0;
  pthread_mutex_unlock (&c->use_mu);
  if (!ok)
    return -1;
  /* The daemon's own record is its memory; anyone else reads it. */
  if (!c->publish && read_published (c, &snaps, &held, &found, err) < 0)
    goto out;
  for (size_t i = 0; i < snaps.n; i++)
    if (add_hex (c, snaps.v[i], out, err) < 0)
      goto out;
  for (size_t i = 0; i < held.n; i++)
    if (add_hex (c, held.v[i], out, err) < 0)
      goto out;
  if (cache_pins_used (c, out, err) < 0)
    goto out;
  ret = 0;
out:
  countset_clear (&snaps);
  countset_clear (&held);
  return ret;
}

/* ---- the bound ----------------------------------------------------------- */

/* Every layer in layers/ with its size. */
struct layer_sizes
{
  struct strset keys;
  int64_t *size;
  int64_t total;
};

static int64_t
layer_sizes_get (const struct layer_sizes *ls, const char *key)
{
  for (size_t i = 0; i < ls->keys.n; i++)
    if (strcmp (ls->keys.v[i], key) == 0)
      return ls->size[i];
  return 0;
}

static void
layer_sizes_clear (struct layer_sizes *ls)
{
  strset_clear (&ls->keys);
  free (ls->size);
  memset (ls, 0, sizeof *ls);
}

static int
layer_sizes_read (model_cache *c, struct layer_sizes *ls, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  memset (ls, 0, sizeof *ls);
  d = cache_read_dir (c, c->layers_fd, "layers", err);
  if (d == NULL)
    return -1;
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      int64_t *size;

      if (de->d_name[0] == '.')
        continue;
      size = realloc (ls->size, (ls->keys.n + 1) * sizeof *size);
      if (size == NULL)
        return mp_error_sys (err, ENOMEM, "model cache");
      ls->size = size;
      if (strset_add (&ls->keys, de->d_name, err) < 0)
        return -1;
      ls->size[ls->keys.n - 1] = cache_layer_size (c, de->d_name);
      ls->total += ls->size[ls->keys.n - 1];
    }
  return 0;
}

struct room
{
  int64_t need;      /* bytes the model being built adds */
  int64_t avail;     /* free on the filesystem for us */
  int64_t keep_free; /* min_free_percent of the filesystem */
  int64_t total;     /* bytes of every layer in layers/ */
};

/* Whether the cache fits its bound holding KEPT bytes of layers (and the
 * model being built). */
static bool
room_fits (const model_cache *c, const struct room *r, int64_t kept)
{
  if (c->max_bytes > 0 && kept + r->need > c->max_bytes)
    return false;
  if (c->min_free_percent > 0
      && r->avail + (r->total - kept) - r->need < r->keep_free)
    return false;
  return true;
}

static int
room_read (model_cache *c, struct room *r, int64_t need, int64_t total,
           mp_error *err)
{
  struct statvfs vfs;

  memset (r, 0, sizeof *r);
  r->need = need;
  r->total = total;
  if (c->min_free_percent == 0)
    return 0;
  if (statvfs (c->root, &vfs) < 0)
    return mp_error_sys (err, errno, "statvfs %s", c->root);
  r->avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
  r->keep_free = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize / 100
                 * c->min_free_percent;
  return 0;
}

/* Bytes of the layers of trees not EVICTED, and of KEEP. */
static int
kept_bytes (const struct gc_tree *trees, size_t n, const bool *evicted,
            const struct strset *keep, const struct layer_sizes *ls,
            int64_t *out, mp_error *err)
{
  struct strset seen = { 0 };
  int64_t sum = 0;

  for (size_t i = 0; i <= n; i++)
    {
      const struct strset *l = i < n ? &trees[i].layers : keep;

      if ((i < n && evicted[i]) || l == NULL)
        continue;
      for (size_t j = 0; j < l->n; j++)
        {
          if (strset_has (&seen, l->v[j]))
            continue;
          if (strset_add (&seen, l->v[j], err) < 0)
            {
              strset_clear (&seen);
              return -1;
            }
          sum += layer_sizes_get (ls, l->v[j]);
        }
    }
  strset_clear (&seen);
  *out = sum;
  return 0;
}

static int
tree_cmp_oldest (const void *a, const void *b)
{
  const struct gc_tree *x = a, *y = b;

  if (x->used.tv_sec != y->used.tv_sec)
    return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
  if (x->used.tv_nsec != y->used.tv_nsec)
    return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
  return strcmp (x->hex, y->hex);
}

static int
too_big (model_cache *c, const char *what, const struct room *r, int64_t in_use,
         mp_error *err)
{
  if (c->max_bytes > 0 && in_use + r->need > c->max_bytes)
    return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                         "model %s needs %" PRId64 " bytes; the model cache "
                         "holds %" PRId64 " of its max_bytes %" PRId64
                         " in models in use",
                         what, r->need, in_use, c->max_bytes);
  return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                       "model %s needs %" PRId64 " bytes; the model cache's "
                       "filesystem has %" PRId64 " free with unused models "
                       "gone, and min_free_percent %d keeps %" PRId64
                       " free (models in use hold %" PRId64 ")",
                       what, r->need, r->avail + (r->total - in_use),
                       c->min_free_percent, r->keep_free, in_use);
}

/* Under the exclusive lock: evict unused trees, least recently used first,
 * until the bound holds with NEED more bytes (KEEP: layers the model being
 * built will use).  When even evicting every unused tree is not enough:
 * with MUST_FIT, evict nothing and fail naming the sizes; without, evict
 * them all and warn (the model is unpacked already). */
static int
evict_locked (model_cache *c, const char *what, int64_t need,
              const struct strset *keep, bool must_fit,
              struct model_cache_stats *st, mp_error *err)
{
  struct strset used = { 0 }, needed = { 0 };
  struct layer_sizes ls = { 0 };
  struct gc_tree *trees = NULL;
  cleanup_free bool *evicted = NULL;
  size_t ntrees = 0;
  struct room room;
  int64_t kept, in_use, freed = 0;
  int evictions = 0, ret = -1;

  if (cache_used_hexes (c, NULL, 0, &used, err) < 0
      || cache_trees_read (c, &used, &trees, &ntrees, err) < 0
      || layer_sizes_read (c, &ls, err) < 0
      || room_read (c, &room, need, ls.total, err) < 0)
    goto out;
  if (room_fits (c, &room, ls.total))
    {
      ret = 0;
      goto out;
    }
  evicted = calloc (ntrees + 1, sizeof *evicted);
  if (evicted == NULL)
    {
      mp_error_sys (err, ENOMEM, "model cache");
      goto out;
    }
  if (ntrees > 1)
    qsort (trees, ntrees, sizeof *trees, tree_cmp_oldest);
  for (size_t i = 0; i < ntrees; i++)
    evicted[i] = !trees[i].in_use;
  if (kept_bytes (trees, ntrees, evicted, keep, &ls, &in_use, err) < 0)
    goto out;
  if (!room_fits (c, &room, in_use))
    {
      if (must_fit)
        {
          too_big (c, what, &room, in_use, err);
          goto out;
        }
      mp_log_warn ("model cache: over its bound after unpacking %s, with "
                   "every unused model evicted: %" PRId64 " bytes in models "
                   "in use",
                   what, in_use);
    }
  else
    {
      /* Give back, oldest first, only as many as the bound needs. */
      memset (evicted, 0, ntrees * sizeof *evicted);
      if (kept_bytes (trees, ntrees, evicted, keep, &ls, &kept, err) < 0)
        goto out;
      for (size_t i = 0; i < ntrees && !room_fits (c, &room, kept); i++)
        {
          if (trees[i].in_use)
            continue;
          evicted[i] = true;
          if (kept_bytes (trees, ntrees, evicted, keep, &ls, &kept, err) < 0)
            goto out;
        }
    }
  for (size_t i = 0; i < ntrees; i++)
    {
      const struct strset *l = &trees[i].layers;

      if (!evicted[i])
        {
          for (size_t j = 0; j < l->n; j++)
            if (strset_add (&needed, l->v[j], err) < 0)
              goto out;
          continue;
        }
      if (cache_retire (c, c->trees_fd, trees[i].hex, &freed, err) < 0)
        goto out;
      evictions++;
      mp_log_info ("model cache: evicted unused model sha256:%s (last used "
                   "%lld) to make room for %s",
                   trees[i].hex, (long long)trees[i].used.tv_sec, what);
    }
  for (size_t j = 0; keep != NULL && j < keep->n; j++)
    if (strset_add (&needed, keep->v[j], err) < 0)
      goto out;
  if (cache_remove_unneeded (c, &needed, &freed, err) < 0)
    goto out;
  ret = 0;
out:
  if (evictions > 0)
    {
      if (st != NULL)
        st->evictions += evictions;
      pthread_mutex_lock (&c->mu);
      c->counters.evictions += evictions;
      pthread_mutex_unlock (&c->mu);
    }
  cache_trees_free (trees, ntrees);
  layer_sizes_clear (&ls);
  strset_clear (&used);
  strset_clear (&needed);
  return ret;
}

/* Before building WANT: if its layers not yet cached do not fit, evict.
 * The estimate is made under the shared lock (builds go on); only when
 * eviction is needed does it wait for the exclusive one. */
static int
make_room (model_cache *c, const model_digest *want, model_blob_open_fn open_fn,
           void *ctx, struct model_cache_stats *st, mp_error *err)
{
  struct strset keep = { 0 };
  struct layer_sizes ls = { 0 };
  model_digest mdig, target;
  struct room room;
  bool ready = false, fits;
  int64_t need = 0;
  cleanup_close int lock = cache_lock (c, LOCK_SH, err);
  int ret = -1;

  if (lock < 0)
    return -1;
  if (cache_tree_ready (c, model_digest_hex (want))
      || (cache_alias_get (c, model_digest_hex (want), &target)
          && cache_tree_ready (c, model_digest_hex (&target))))
    return 0;
  if (cache_plan_need (c, want, open_fn, ctx, &mdig, &ready, &need, &keep, err)
          < 0
      || layer_sizes_read (c, &ls, err) < 0
      || room_read (c, &room, need, ls.total, err) < 0)
    goto out;
  fits = ready || room_fits (c, &room, ls.total);
  close (mp_steal_fd (&lock));
  if (!fits)
    {
      lock = cache_lock (c, LOCK_EX, err);
      if (lock < 0
          || evict_locked (c, mdig.str, need, &keep, true, st, err) < 0)
        goto out;
    }
  ret = 0;
out:
  strset_clear (&keep);
  layer_sizes_clear (&ls);
  return ret;
}

/* After building: unpacked sizes may exceed the blob sizes the estimate
 * used (compressed layers), so evict again if over the bound. */
static void
trim (model_cache *c, const char *what, struct model_cache_stats *st)
{
  mp_error err = { 0 };
  cleanup_close int lock = cache_lock (c, LOCK_EX, &err);

  if (lock < 0 || evict_locked (c, what, 0, NULL, false, st, &err) < 0)
    mp_log_warn ("model cache: evicting after unpacking %s: %s", what, err.msg);
}

int
cache_get_bounded (model_cache *c, const model_digest *want,
                   model_blob_open_fn open_fn, void *ctx, char **tree,
                   char **resolved, struct model_cache_stats *st, mp_error *err)
{
  int r;

  if (c->max_bytes == 0 && c->min_free_percent == 0)
    return cache_get_tree (c, want, open_fn, ctx, tree, resolved, st, err);
  /* Our own evictions and other threads' leave the tree alone until the
   * caller records it (its hold) or returns. */
  if (hold (c, want->str, false, err) < 0)
    return -1;
  r = make_room (c, want, open_fn, ctx, st, err);
  if (r == 0)
    r = cache_get_tree (c, want, open_fn, ctx, tree, resolved, st, err);
  if (r == 0 && (st->layers_unpacked > 0 || st->trees_built > 0))
    trim (c, *resolved, st);
  release (c, want->str, false);
  return r;
}

/* ---- listing ----------------------------------------------------------- */

struct pin_rec
{
  char *name, *note, *hex;
};

static void
pins_free (struct pin_rec *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (p[i].name);
      free (p[i].note);
      free (p[i].hex);
    }
  free (p);
}

static int
pins_read (model_cache *c, struct pin_rec **out, size_t *nout, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  struct pin_rec *p = NULL;
  size_t n = 0;
  *out = NULL;
  *nout = 0;
  d = cache_read_dir (c, c->pins_fd, "pins", err);
  if (d == NULL)
    return -1;
  while ((de = readdir (d)) != NULL)
    {
      char *digest = NULL, *note = NULL;
      model_digest pd, target;
      struct pin_rec *bigger;

      if (de->d_name[0] == '.'
          || model_cache_pin_get (c, de->d_name, &digest, &note, NULL) < 0)
        continue;
      if (model_digest_parse (digest, &pd, NULL) < 0)
        {
          free (digest);
          free (note);
          continue;
        }
      free (digest);
      if (cache_alias_get (c, model_digest_hex (&pd), &target))
        pd = target;
      bigger = realloc (p, (n + 1) * sizeof *p);
      if (bigger == NULL)
        {
          free (note);
          pins_free (p, n);
          return mp_error_sys (err, ENOMEM, "model cache");
        }
      p = bigger;
      p[n].name = strdup (de->d_name);
      p[n].note = note;
      p[n].hex = strdup (model_digest_hex (&pd));
      n++;
      if (p[n - 1].name == NULL || p[n - 1].hex == NULL)
        {
          pins_free (p, n);
          return mp_error_sys (err, ENOMEM, "model cache");
        }
    }
  *out = p;
  *nout = n;
  return 0;
}

/* Index digests recorded as resolved to HEX. */
static int
aliases_of (model_cache *c, const char *hex, struct strset *out, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  d = cache_read_dir (c, c->trees_fd, "trees", err);
  if (d == NULL)
    return -1;
  while ((de = readdir (d)) != NULL)
    {
      char ihex[KEY_MAX + 1], digest[KEY_MAX + 16];
      const char *dot = strrchr (de->d_name, '.');
      size_t hlen = dot ? (size_t)(dot - de->d_name) : 0;
      model_digest target;

      if (dot == NULL || strcmp (dot, ".index") != 0 || hlen >= sizeof ihex)
        continue;
      memcpy (ihex, de->d_name, hlen);
      ihex[hlen] = '\0';
      if (!cache_alias_get (c, ihex, &target)
          || strcmp (model_digest_hex (&target), hex) != 0)
        continue;
      snprintf (digest, sizeof digest, "sha256:%s", ihex);
      if (strset_add (out, digest, err) < 0)
        return -1;
    }
  return 0;
}

static int
count_for (const struct countset *s, const char *hex,
           const struct strset *aliases)
{
  int n = 0;

  for (size_t i = 0; i < s->n; i++)
    {
      model_digest d;

      if (model_digest_parse (s->v[i], &d, NULL) < 0)
        continue;
      if (strcmp (model_digest_hex (&d), hex) == 0
          || strset_has (aliases, s->v[i]))
        n += s->count[i];
    }
  return n;
}

int
model_cache_list (model_cache *c, model_cache_list_fn fn, void *ctx,
                  mp_error *err)
{
  struct strset none = { 0 };
  struct countset snaps = { 0 }, held = { 0 };
  struct gc_tree *trees = NULL;
  struct pin_rec *pins = NULL;
  struct layer_sizes ls = { 0 };
  size_t ntrees = 0, npins = 0;
  bool found = false, ok = true;
  cleanup_close int lock = cache_lock (c, LOCK_SH, err);
  int ret = -1;

  if (lock < 0)
    return -1;
  if (cache_trees_read (c, &none, &trees, &ntrees, err) < 0
      || layer_sizes_read (c, &ls, err) < 0
      || pins_read (c, &pins, &npins, err) < 0)
    goto out;
  pthread_mutex_lock (&c->use_mu);
  for (size_t i = 0; i < c->snapshots.n && ok; i++)
    for (int k = 0; k < c->snapshots.count[i] && ok; k++)
      ok = countset_add (&snaps, c->snapshots.v[i], err) == 0;
  for (size_t i = 0; i < c->holds.n && ok; i++)
    for (int k = 0; k < c->holds.count[i] && ok; k++)
      ok = countset_add (&held, c->holds.v[i], err) == 0;
  found = c->publish;
  pthread_mutex_unlock (&c->use_mu);
  if (!ok)
    goto out;
  if (!c->publish && read_published (c, &snaps, &held, &found, err) < 0)
    goto out;
  if (ntrees > 1)
    qsort (trees, ntrees, sizeof *trees, tree_cmp_oldest);
  for (size_t i = 0; i < ntrees; i++)
    {
      struct gc_tree *t = &trees[i];
      struct strset aliases = { 0 };
      struct model_cache_entry e = { 0 };
      char manifest[KEY_MAX + 16];
      const char **pin_names = calloc (npins + 1, sizeof *pin_names);
      const char **pin_notes = calloc (npins + 1, sizeof *pin_notes);
      int r;

      if (pin_names == NULL || pin_notes == NULL)
        {
          free (pin_names);
          free (pin_notes);
          mp_error_sys (err, ENOMEM, "model cache");
          goto out;
        }
      snprintf (manifest, sizeof manifest, "sha256:%s", t->hex);
      e.manifest = manifest;
      e.last_used = t->used;
      for (size_t j = 0; j < t->layers.n; j++)
        {
          int64_t size = layer_sizes_get (&ls, t->layers.v[j]);
          bool shared = false;

          e.size += size;
          for (size_t k = 0; k < ntrees && !shared; k++)
            shared = k != i && strset_has (&trees[k].layers, t->layers.v[j]);
          if (shared)
            e.shared += size;
        }
      for (size_t j = 0; j < npins; j++)
        if (strcmp (pins[j].hex, t->hex) == 0)
          {
            pin_names[e.npins] = pins[j].name;
            pin_notes[e.npins++] = pins[j].note;
          }
      e.pins = pin_names;
      e.pin_notes = pin_notes;
      r = aliases_of (c, t->hex, &aliases, err);
      if (r == 0)
        {
          e.aliases = (const char *const *)aliases.v;
          e.naliases = aliases.n;
          e.snapshots = found ? count_for (&snaps, t->hex, &aliases) : -1;
          e.holds = count_for (&held, t->hex, &aliases);
          r = fn (ctx, &e, err);
        }
      strset_clear (&aliases);
      free (pin_names);
      free (pin_notes);
      if (r < 0)
        goto out;
    }
  ret = 0;
out:
  cache_trees_free (trees, ntrees);
  pins_free (pins, npins);
  layer_sizes_clear (&ls);
  countset_clear (&snaps);
  countset_clear (&held);
  return ret;
}
