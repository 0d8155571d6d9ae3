/* The model cache: layers unpacked once into a content-addressed store, one
 * merged tree of hard links per manifest (see cache.h for the layout).
 *
 * Concurrency.  Within a process, a table of "flights" (mutex + condvar)
 * makes the first caller for a layer key or manifest do the work while the
 * others wait and then find the result in place; a waiter whose leader
 * failed tries itself, as its blob source may differ.  Across processes,
 * everything becomes visible by renameat2(RENAME_NOREPLACE), and whoever
 * loses the race discards its own copy and uses the winner's, which has the
 * same content because names are content digests.  A flock on `lock` keeps
 * gc (exclusive) away from builders (shared), in any process, so gc never
 * removes a layer a tree is being linked from.  Eviction for the bound
 * (cache_use.c) is gc by another rule and takes the exclusive lock too, but
 * only between a build's steps, never while its thread leads a flight
 * others wait for under the shared lock; what a caller was handed and has
 * not yet recorded stays through its hold.
 *
 * Crash safety.  Work happens in this cache's own directory under tmp/,
 * flock'ed while the cache is open, so any unlocked directory there belongs
 * to a dead process and is garbage.  Results are renamed into layers/ or
 * trees/ only when complete; removal renames into tmp/ first, so nothing
 * visible is ever half-removed either.
 *
 * Durability.  A process that dies keeps what it wrote in the page cache,
 * so a complete layer or tree stays valid across a daemon crash without
 * any sync.  Only a machine crash can lose written data behind a visible
 * name.  So nothing waits for the disk on the Prepare path: each layer
 * info file and tree record carries "built <boot id> <boottime ns>", a
 * background thread runs one syncfs after each build and then records in
 * `durable` "<boot id> <boottime ns at the syncfs's start>".  At open,
 * a layer or tree built during another boot and not covered by `durable`
 * may have lost data in that boot's crash: it is discarded, and rebuilt
 * when next asked for.  Entries without a "built" line predate this
 * scheme, which synced before renaming: they are durable. */
#include "store/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/cache_internal.h"
#include "store/unpack.h"
#include "model/manifest.h"
#include "store/erofs_mount.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log.h"

#define MAX_DOCUMENT MODEL_MAX_DOCUMENT
/* Records and layer info files are written by us; the bound only guards
 * against reading something else by mistake. */
#define MAX_RECORD (64 * 1024 * 1024)

/* ---- small helpers ----------------------------------------------------- */

void
cache_closep_quiet (int fd)
{
  if (fd >= 0)
    close (fd);
}

uint64_t
cache_next_seq (model_cache *c)
{
  return __atomic_add_fetch (&c->seq, 1, __ATOMIC_RELAXED);
}

void
cache_count (model_cache *c, struct model_cache_stats *st, int unpacked,
             int reused, int built, int tree_reused, int64_t bytes)
{
  st->layers_unpacked += unpacked;
  st->layers_reused += reused;
  st->trees_built += built;
  st->trees_reused += tree_reused;
  st->bytes_unpacked += bytes;
  pthread_mutex_lock (&c->mu);
  c->counters.layers_unpacked += unpacked;
  c->counters.layers_reused += reused;
  c->counters.trees_built += built;
  c->counters.trees_reused += tree_reused;
  c->counters.bytes_unpacked += bytes;
  pthread_mutex_unlock (&c->mu);
}

/* Directories are read through a new open of "." rather than a dup: a
 * dup shares the file offset, so a second readdir would start at the end. */
int
cache_open_dir_at (int dirfd, const char *name)
{
  return openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

DIR *
cache_read_dir (model_cache *c, int dirfd, const char *sub, mp_error *err)
{
  int fd = cache_open_dir_at (dirfd, ".");
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;

  if (d == NULL)
    {
      int saved = errno;
      cache_closep_quiet (fd);
      mp_error_sys (err, saved, "read %s/%s", c->root, sub);
    }
  return d;
}

bool
cache_is_dir_at (int dirfd, const char *name)
{
  struct stat st;

  return fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
         && S_ISDIR (st.st_mode);
}

int
cache_write_file_at (int dirfd, const char *name, const char *text,
                     mp_error *err)
{
  cleanup_close int fd = -1;
  size_t len = strlen (text), off = 0;

  fd = openat (dirfd, name,
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return mp_error_sys (err, errno, "create %s", name);
  while (off < len)
    {
      ssize_t n = write (fd, text + off, len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mp_error_sys (err, errno, "write %s", name);
      off += (size_t)n;
    }
  if (close (mp_steal_fd (&fd)) < 0)
    return mp_error_sys (err, errno, "close %s", name);
  return 0;
}

/* Read a whole small file we wrote; NULL with errno set on failure. */
char *
cache_read_file_at (int dirfd, const char *name)
{
  cleanup_close int fd = -1;
  cleanup_free char *buf = NULL;
  struct stat st;
  size_t off = 0;

  fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) < 0)
    return NULL;
  if (!S_ISREG (st.st_mode) || st.st_size > MAX_RECORD)
    {
      errno = EINVAL;
      return NULL;
    }
  buf = malloc ((size_t)st.st_size + 1);
  if (buf == NULL)
    return NULL;
  while (off < (size_t)st.st_size)
    {
      ssize_t n = read (fd, buf + off, (size_t)st.st_size - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      off += (size_t)n;
    }
  buf[off] = '\0';
  return steal_pointer (&buf);
}

/* The value of the line "KEY value" in TEXT, copied into OUT; false if
 * absent or too long. */
bool
cache_record_get (const char *text, const char *key, char *out, size_t outsize)
{
  size_t klen = strlen (key);

  for (const char *p = text; p != NULL && *p;)
    {
      const char *eol = strchrnul (p, '\n');
      if ((size_t)(eol - p) > klen && strncmp (p, key, klen) == 0
          && p[klen] == ' ')
        {
          size_t n = (size_t)(eol - p) - klen - 1;
          if (n >= outsize)
            return false;
          memcpy (out, p + klen + 1, n);
          out[n] = '\0';
          return true;
        }
      p = *eol ? eol + 1 : eol;
    }
  return false;
}

bool
cache_is_hex_name (const char *s)
{
  size_t n = strspn (s, "0123456789abcdef");

  return (n == 64 || n == 128) && s[n] == '\0';
}

/* ---- locks ------------------------------------------------------------- */

/* A new open file description each time: flock conflicts between
 * descriptions even within one process, which is what lets threads of the
 * daemon and other processes exclude gc alike. */
int
cache_lock (model_cache *c, int op, mp_error *err)
{
  int fd = openat (c->root_fd, "lock",
                   O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

  if (fd < 0)
    return mp_error_sys (err, errno, "open %s/lock", c->root);
  while (flock (fd, op) < 0)
    {
      if (errno == EINTR)
        continue;
      mp_error_sys (err, errno, "lock %s/lock", c->root);
      close (fd);
      return -1;
    }
  return fd;
}

/* ---- durability ---------------------------------------------------------- */

static int64_t
boottime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_BOOTTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The "built" line for a layer info file or a tree record. */
void
cache_built_line (model_cache *c, char *out, size_t outsize)
{
  snprintf (out, outsize, "built %s %" PRId64 "\n", c->boot_id, boottime_ns ());
}

/* Write `durable`: everything renamed before boottime T is on disk. */
static void
write_durable (model_cache *c, int64_t t)
{
  char text[128], tmp[96];
  mp_error err;

  snprintf (text, sizeof text, "%s %" PRId64 "\n", c->boot_id, t);
  snprintf (tmp, sizeof tmp, "durable.%s", c->work_name);
  if (cache_write_file_at (c->root_fd, tmp, text, &err) < 0
      || renameat (c->root_fd, tmp, c->root_fd, "durable") < 0)
    {
      unlinkat (c->root_fd, tmp, 0);
      mp_log_warn ("model cache: cannot record durability in %s/durable",
                   c->root);
    }
}

static void *
syncer_main (void *arg)
{
  model_cache *c = arg;

  pthread_mutex_lock (&c->mu);
  for (;;)
    {
      int64_t start;

      while (!c->sync_stop && c->sync_wanted <= c->sync_done)
        pthread_cond_wait (&c->sync_cv, &c->mu);
      if (c->sync_wanted <= c->sync_done)
        break; /* stopping, nothing left to sync */
      start = boottime_ns ();
      pthread_mutex_unlock (&c->mu);
      if (syncfs (c->root_fd) < 0)
        mp_log_warn ("model cache: syncfs %s: %s", c->root, strerror (errno));
      else
        write_durable (c, start);
      pthread_mutex_lock (&c->mu);
      c->sync_done = start;
    }
  pthread_mutex_unlock (&c->mu);
  return NULL;
}

/* Ask the syncer to make what was renamed so far durable. */
void
cache_want_sync (model_cache *c)
{
  pthread_mutex_lock (&c->mu);
  c->sync_wanted = boottime_ns ();
  pthread_cond_signal (&c->sync_cv);
  pthread_mutex_unlock (&c->mu);
}

/* Whether the "built" line of TEXT (a layer info file or tree record) is
 * known durable: this boot (a process crash loses nothing), no line
 * (built before this scheme, synced first), or covered by `durable`. */
static bool
built_durable (model_cache *c, const char *text, const char *dboot,
               int64_t dtime)
{
  char built[160], boot[64];
  long long t;

  if (!cache_record_get (text, "built", built, sizeof built))
    return true;
  if (sscanf (built, "%63s %lld", boot, &t) != 2)
    return false;
  if (strcmp (boot, c->boot_id) == 0)
    return true;
  return strcmp (boot, dboot) == 0 && (int64_t)t <= dtime;
}

/* At open: discard layers and trees that a machine crash may have left
 * with lost data (see the top of the file). */
static int
discard_undurable (model_cache *c, mp_error *err)
{
  cleanup_free char *dtext = cache_read_file_at (c->root_fd, "durable");
  char dboot[64] = "";
  long long dtime = -1;
  int64_t freed = 0;
  int dirs[2] = { c->trees_fd, c->layers_fd };

  if (dtext != NULL && sscanf (dtext, "%63s %lld", dboot, &dtime) != 2)
    dboot[0] = '\0';
  for (int k = 0; k < 2; k++)
    {
      int fd = dup (dirs[k]);
      DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
      struct dirent *e;

      if (d == NULL)
        {
          if (fd >= 0)
            close (fd);
          return mp_error_sys (err, errno, "read %s", c->root);
        }
      while ((e = readdir (d)) != NULL)
        {
          char name[NAME_MAX + 16], victim[NAME_MAX + 1];
          cleanup_free char *text = NULL;
          size_t len = strlen (e->d_name);

          if (e->d_name[0] == '.')
            continue;
          if (k == 0)
            {
              /* trees/<hex>.layers: the record speaks for trees/<hex>. */
              if (len <= 7 || strcmp (e->d_name + len - 7, ".layers") != 0)
                continue;
              snprintf (name, sizeof name, "%s", e->d_name);
              snprintf (victim, sizeof victim, "%.*s", (int)(len - 7),
                        e->d_name);
            }
          else
            {
              snprintf (name, sizeof name, "%s/info", e->d_name);
              snprintf (victim, sizeof victim, "%s", e->d_name);
            }
          text = cache_read_file_at (dirs[k], name);
          if (text == NULL || built_durable (c, text, dboot, dtime))
            continue;
          mp_log_warn ("model cache: discarding %s/%s: built before a machine "
                       "crash and maybe not on disk; it is rebuilt when "
                       "needed",
                       k == 0 ? "trees" : "layers", victim);
          if (cache_retire (c, dirs[k], victim, &freed, err) < 0
              || (k == 0 && cache_retire (c, dirs[k], name, &freed, err) < 0))
            {
              closedir (d);
              return -1;
            }
        }
      closedir (d);
    }
  return 0;
}

static int
read_boot_id (model_cache *c, const char *override, mp_error *err)
{
  char text[64] = "";
  ssize_t n = -1;
  int fd;

  if (override != NULL)
    {
      snprintf (c->boot_id, sizeof c->boot_id, "%s", override);
      return 0;
    }
  /* procfs reports size 0: read, do not stat. */
  fd = open ("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      n = read (fd, text, sizeof text - 1);
      close (fd);
    }
  if (n <= 0 || sscanf (text, "%63s", c->boot_id) != 1)
    return mp_error_set (err, MP_ERR_INTERNAL,
                         "model cache: cannot read the boot id from "
                         "/proc/sys/kernel/random/boot_id");
  return 0;
}

/* ---- single flight ----------------------------------------------------- */
int
cache_flight_join (model_cache *c, const char *key, struct flight **out,
                   mp_error *err)
{
  struct flight *f;

  pthread_mutex_lock (&c->mu);
  for (f = c->flights; f != NULL; f = f->next)
    if (strcmp (f->key, key) == 0)
      break;
  if (f != NULL)
    {
      f->waiters++;
      while (!f->done)
        pthread_cond_wait (&c->cv, &c->mu);
      if (--f->waiters == 0)
        {
          free (f->key);
          free (f);
        }
      pthread_mutex_unlock (&c->mu);
      return FLIGHT_WAITED;
    }
  f = calloc (1, sizeof *f);
  if (f == NULL || (f->key = strdup (key)) == NULL)
    {
      pthread_mutex_unlock (&c->mu);
      free (f);
      return mp_error_sys (err, ENOMEM, "model cache");
    }
  f->next = c->flights;
  c->flights = f;
  pthread_mutex_unlock (&c->mu);
  *out = f;
  return FLIGHT_LEADER;
}

void
cache_flight_end (model_cache *c, struct flight *f, bool ok)
{
  pthread_mutex_lock (&c->mu);
  for (struct flight **pp = &c->flights; *pp != NULL; pp = &(*pp)->next)
    if (*pp == f)
      {
        *pp = f->next;
        break;
      }
  f->done = true;
  f->ok = ok;
  pthread_cond_broadcast (&c->cv);
  if (f->waiters == 0)
    {
      free (f->key);
      free (f);
    }
  pthread_mutex_unlock (&c->mu);
}

/* ---- removal ----------------------------------------------------------- */

/* Remove NAME under PARENT like mp_rmtree_at, adding to *FREED the blocks
 * of every inode whose last link goes (trees share inodes with layers, so
 * removing a tree frees little and the count must say so).  Refuses to
 * cross into another filesystem: a mount inside is an error. */
static int
remove_counting (int parent, const char *name, dev_t dev, int64_t *freed,
                 mp_error *err)
{
  struct stat st;
  DIR *d;
  struct dirent *de;
  int fd, ret = 0;

  if (fstatat (parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : mp_error_sys (err, errno, "stat %s", name);
  if (st.st_dev != dev)
    return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                         "%s is on another filesystem (a mount point?): not "
                         "removing it",
                         name);
  if (!S_ISDIR (st.st_mode))
    {
      if (unlinkat (parent, name, 0) < 0)
        return errno == ENOENT ? 0
                               : mp_error_sys (err, errno, "remove %s", name);
      if (st.st_nlink <= 1)
        *freed += (int64_t)st.st_blocks * 512;
      return 0;
    }
  fd = cache_open_dir_at (parent, name);
  if (fd < 0)
    return mp_error_sys (err, errno, "open %s", name);
  /* Layer directories can have any mode; we remove them regardless. */
  fchmod (fd, 0700);
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return mp_error_sys (err, errno, "open %s", name);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (remove_counting (dirfd (d), de->d_name, dev, freed, err) < 0)
        {
          ret = mp_error_prefix (err, "%s", name);
          break;
        }
    }
  if (ret == 0 && de == NULL && errno != 0)
    ret = mp_error_sys (err, errno, "read %s", name);
  closedir (d);
  if (ret < 0)
    return -1;
  if (unlinkat (parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return mp_error_sys (err, errno, "remove %s", name);
  *freed += (int64_t)st.st_blocks * 512;
  return 0;
}

/* Take NAME out of DIRFD atomically (into our work directory), then remove
 * it: a crash in between leaves only garbage in tmp/. */
int
cache_retire (model_cache *c, int dirfd, const char *name, int64_t *freed,
              mp_error *err)
{
  char dead[64];
  struct stat st;

  if (fstat (c->work_fd, &st) < 0)
    return mp_error_sys (err, errno, "stat work directory");
  /* A tree served from an index is a mount point: detached first (lazily,
   * so pods reading it keep it), as a mount point cannot be renamed. */
  if (dirfd == c->trees_fd && cache_is_hex_name (name))
    {
      cleanup_free char *path = NULL;

      if (asprintf (&path, "%s/trees/%s", c->root, name) < 0)
        return mp_error_sys (err, ENOMEM, "model cache");
      if (erofs_mount_detach (path, err) < 0)
        return -1;
    }
  snprintf (dead, sizeof dead, "dead%" PRIu64, cache_next_seq (c));
  if (renameat (dirfd, name, c->work_fd, dead) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return mp_error_sys (err, errno, "move %s out of the cache", name);
    }
  return remove_counting (c->work_fd, dead, st.st_dev, freed, err);
}

/* Remove what dead processes left in tmp/: their work directories are no
 * longer flock'ed.  A live process holds its lock from before its
 * directory can hold anything. */
int
cache_clean_tmp (model_cache *c, int64_t *freed, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  struct stat st;

  if (fstat (c->tmp_fd, &st) < 0)
    return mp_error_sys (err, errno, "stat %s/tmp", c->root);
  d = cache_read_dir (c, c->tmp_fd, "tmp", err);
  if (d == NULL)
    return -1;
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      cleanup_close int entry = -1;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
          || strcmp (de->d_name, c->work_name) == 0)
        continue;
      entry = cache_open_dir_at (c->tmp_fd, de->d_name);
      if (entry >= 0 && flock (entry, LOCK_EX | LOCK_NB) < 0)
        continue; /* a live cache's work directory */
      if (remove_counting (c->tmp_fd, de->d_name, st.st_dev, freed, err) < 0)
        return mp_error_prefix (err, "clean %s/tmp", c->root);
      mp_log_info ("model cache: removed leftover %s/tmp/%s", c->root,
                   de->d_name);
    }
  if (errno != 0)
    return mp_error_sys (err, errno, "read %s/tmp", c->root);
  return 0;
}

/* ---- open / close ------------------------------------------------------ */

static int
make_work_dir (model_cache *c, mp_error *err)
{
  for (int attempt = 0; attempt < 16; attempt++)
    {
      uint32_t rnd = 0;
      struct stat a, b;
      int fd;

      if (getrandom (&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint32_t)time (NULL) ^ (uint32_t)attempt;
      snprintf (c->work_name, sizeof c->work_name, "%ld.%08" PRIx32,
                (long)getpid (), rnd);
      if (mkdirat (c->tmp_fd, c->work_name, 0700) < 0)
        {
          if (errno == EEXIST)
            continue;
          return mp_error_sys (err, errno, "create %s/tmp/%s", c->root,
                               c->work_name);
        }
      fd = cache_open_dir_at (c->tmp_fd, c->work_name);
      if (fd < 0)
        continue; /* another process's cache_clean_tmp took it already */
      if (flock (fd, LOCK_EX | LOCK_NB) < 0)
        {
          close (fd);
          continue;
        }
      /* Between mkdir and flock another process may have removed the
       * empty directory as a dead one; make sure ours is still there. */
      if (fstat (fd, &a) < 0
          || fstatat (c->tmp_fd, c->work_name, &b, AT_SYMLINK_NOFOLLOW) < 0
          || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
        {
          close (fd);
          continue;
        }
      c->work_fd = fd;
      return 0;
    }
  return mp_error_set (err, MP_ERR_INTERNAL,
                       "cannot create a work directory in %s/tmp", c->root);
}

static int
open_subdir (model_cache *c, const char *name, int *out, mp_error *err)
{
  if (mkdirat (c->root_fd, name, 0700) < 0 && errno != EEXIST)
    return mp_error_sys (err, errno, "create %s/%s", c->root, name);
  *out = cache_open_dir_at (c->root_fd, name);
  if (*out < 0)
    return mp_error_sys (err, errno, "open %s/%s", c->root, name);
  return 0;
}

model_cache *
model_cache_open (const struct model_cache_options *o, mp_error *err)
{
  model_cache *c;
  int64_t freed = 0;

  if (o == NULL || o->root == NULL || o->root[0] == '\0'
      || o->keep_unused_seconds < 0 || o->keep_unused_bytes < 0
      || o->max_bytes < 0 || o->min_free_percent < 0 || o->min_free_percent > 99
      || (unsigned)o->verify_blobs > MODEL_CACHE_VERIFY_ALWAYS)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "model cache: a root directory, non-negative retention "
                    "values and bound, min_free_percent below 100 and a "
                    "verify_blobs mode are required");
      return NULL;
    }
  c = calloc (1, sizeof *c);
  if (c == NULL)
    {
      mp_error_sys (err, ENOMEM, "model cache");
      return NULL;
    }
  c->root_fd = c->layers_fd = c->trees_fd = c->tmp_fd = c->work_fd = -1;
  c->pins_fd = -1;
  pthread_mutex_init (&c->mu, NULL);
  pthread_cond_init (&c->cv, NULL);
  pthread_cond_init (&c->sync_cv, NULL);
  c->limits = model_unpack_limits_resolve (&o->limits);
  pthread_mutex_init (&c->index_mu, NULL);
  c->mount_auto = o->mount == MODEL_CACHE_MOUNT_AUTO;
  c->mount_mode = o->mount == MODEL_CACHE_MOUNT_AUTO ? cache_index_auto_mode ()
                                                     : o->mount;
  c->keep_seconds = o->keep_unused_seconds;
  c->keep_bytes = o->keep_unused_bytes;
  c->max_bytes = o->max_bytes;
  c->min_free_percent = o->min_free_percent;
  c->publish = o->publish_in_use;
  c->verify = o->verify_blobs;
  pthread_mutex_init (&c->use_mu, NULL);

  if (mp_mkdir_p (o->root, 0700, err) < 0)
    goto fail;
  c->root = realpath (o->root, NULL);
  if (c->root == NULL)
    {
      mp_error_sys (err, errno, "model cache root %s", o->root);
      goto fail;
    }
  c->root_fd = open (c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (c->root_fd < 0)
    {
      mp_error_sys (err, errno, "open model cache root %s", c->root);
      goto fail;
    }
  if (open_subdir (c, "layers", &c->layers_fd, err) < 0
      || open_subdir (c, "trees", &c->trees_fd, err) < 0
      || open_subdir (c, "tmp", &c->tmp_fd, err) < 0
      || open_subdir (c, "pins", &c->pins_fd, err) < 0
      || make_work_dir (c, err) < 0 || cache_clean_tmp (c, &freed, err) < 0
      || read_boot_id (c, o->boot_id, err) < 0)
    goto fail;
  {
    char display[PATH_MAX + 16];

    snprintf (display, sizeof display, "%s/verified", c->root);
    c->bc = blobcheck_open (c->root_fd, "verified", display, err);
    if (c->bc == NULL)
      goto fail;
  }
  {
    int lk = cache_lock (c, LOCK_EX, err);
    int r = lk < 0 ? -1 : discard_undurable (c, err);

    if (lk >= 0)
      close (lk);
    if (r < 0)
      goto fail;
  }
  if (pthread_create (&c->syncer, NULL, syncer_main, c) != 0)
    {
      mp_error_set (err, MP_ERR_INTERNAL, "model cache: cannot start a thread");
      goto fail;
    }
  c->syncer_running = true;
  return c;

fail:
  model_cache_close (c);
  return NULL;
}

void
model_cache_close (model_cache *c)
{
  if (c == NULL)
    return;
  if (c->syncer_running)
    {
      /* The syncer makes what is pending durable before it ends. */
      pthread_mutex_lock (&c->mu);
      c->sync_stop = true;
      pthread_cond_signal (&c->sync_cv);
      pthread_mutex_unlock (&c->mu);
      pthread_join (c->syncer, NULL);
    }
  if (c->work_fd >= 0)
    {
      mp_error ignored;
      mp_rmtree_at (c->tmp_fd, c->work_name, &ignored);
    }
  blobcheck_close (c->bc);
  cache_closep_quiet (c->work_fd);
  cache_closep_quiet (c->tmp_fd);
  cache_closep_quiet (c->pins_fd);
  cache_closep_quiet (c->trees_fd);
  cache_closep_quiet (c->layers_fd);
  cache_closep_quiet (c->root_fd);
  pthread_mutex_destroy (&c->mu);
  pthread_cond_destroy (&c->cv);
  pthread_cond_destroy (&c->sync_cv);
  pthread_mutex_destroy (&c->use_mu);
  pthread_mutex_destroy (&c->index_mu);
  countset_clear (&c->holds);
  countset_clear (&c->snapshots);
  free (c->root);
  free (c);
}

void
model_cache_get_counters (model_cache *c, struct model_cache_stats *out)
{
  pthread_mutex_lock (&c->mu);
  *out = c->counters;
  pthread_mutex_unlock (&c->mu);
}

/* ---- documents --------------------------------------------------------- */

/* Read a manifest, index or config blob whole and verify its digest (and
 * size, if known) before anyone parses it. */
int
model_read_document (model_blob_open_fn open_fn, void *ctx,
                     const model_digest *d, int64_t size, const char *what,
                     char **out, size_t *outlen, mp_error *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *buf = NULL;
  size_t len = 0, cap = 0;
  model_digest got;

  if (size > MAX_DOCUMENT)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s %s is %" PRId64 " bytes: over the %d byte limit",
                         what, d->str, size, MAX_DOCUMENT);
  {
    bool verified = false; /* documents are hashed regardless */
    fd = open_fn (ctx, d->str, size, &verified, err);
  }
  if (fd < 0)
    return mp_error_prefix (err, "%s %s", what, d->str);
  for (;;)
    {
      ssize_t n;

      if (len == cap)
        {
          char *bigger;
          if (cap > MAX_DOCUMENT)
            break; /* refused below */
          cap = cap ? cap * 2 : 16384;
          bigger = realloc (buf, cap + 1);
          if (bigger == NULL)
            return mp_error_sys (err, ENOMEM, "%s %s", what, d->str);
          buf = bigger;
        }
      n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mp_error_sys (err, errno, "read %s %s", what, d->str);
      if (n == 0)
        break;
      len += (size_t)n;
    }
  if (len > MAX_DOCUMENT)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s %s is over the %d byte limit", what, d->str,
                         MAX_DOCUMENT);
  if (size >= 0 && (int64_t)len != size)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s %s: the blob is %zu bytes, its descriptor says "
                         "%" PRId64,
                         what, d->str, len, size);
  if (buf == NULL && (buf = malloc (1)) == NULL)
    return mp_error_sys (err, ENOMEM, "%s %s", what, d->str);
  if (model_digest_buffer (d->algo, buf, len, &got, err) < 0
      || model_digest_verify (d, &got, err) < 0)
    return mp_error_prefix (err, "%s %s", what, d->str);
  buf[len] = '\0';
  *out = steal_pointer (&buf);
  *outlen = len;
  return 0;
}
