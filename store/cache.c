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
 * removes a layer a tree is being linked from.
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
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store/unpack.h"
#include "model/manifest.h"
#include "model/modelconfig.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log.h"

#define MAX_DOCUMENT MODEL_MAX_DOCUMENT
/* Records and layer info files are written by us; the bound only guards
 * against reading something else by mistake. */
#define MAX_RECORD (64 * 1024 * 1024)
/* "raw-" + 64 hex, or a sha512 hex. */
#define KEY_MAX 140

struct flight
{
  struct flight *next;
  char *key;
  bool done, ok;
  int waiters;
};

struct model_cache
{
  char *root;
  int root_fd, layers_fd, trees_fd, tmp_fd, pins_fd;
  int work_fd; /* tmp/<work_name>, flock'ed for the cache's lifetime */
  char work_name[64];
  int64_t keep_seconds, keep_bytes;
  struct model_unpack_limits limits; /* resolved: no zeros */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct flight *flights;
  struct model_cache_stats counters;
  uint64_t seq;
  /* Durability (see the top of the file). */
  char boot_id[64];
  pthread_t syncer;
  bool syncer_running, sync_stop;
  int64_t sync_wanted; /* boottime of the newest rename not yet synced */
  int64_t sync_done;   /* boottime at the start of the last syncfs */
  pthread_cond_t sync_cv;
};

/* ---- small helpers ----------------------------------------------------- */

static void
closep_quiet (int fd)
{
  if (fd >= 0)
    close (fd);
}

static uint64_t
next_seq (model_cache *c)
{
  return __atomic_add_fetch (&c->seq, 1, __ATOMIC_RELAXED);
}

static void
count (model_cache *c, struct model_cache_stats *st, int unpacked, int reused,
       int built, int tree_reused, int64_t bytes)
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
static int
open_dir_at (int dirfd, const char *name)
{
  return openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static bool
is_dir_at (int dirfd, const char *name)
{
  struct stat st;

  return fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
         && S_ISDIR (st.st_mode);
}

static int
write_file_at (int dirfd, const char *name, const char *text, mp_error *err)
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
static char *
read_file_at (int dirfd, const char *name)
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
static bool
record_get (const char *text, const char *key, char *out, size_t outsize)
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

static bool
is_hex_name (const char *s)
{
  size_t n = strspn (s, "0123456789abcdef");

  return (n == 64 || n == 128) && s[n] == '\0';
}

/* ---- locks ------------------------------------------------------------- */

/* A new open file description each time: flock conflicts between
 * descriptions even within one process, which is what lets threads of the
 * daemon and other processes exclude gc alike. */
static int
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

static int retire (model_cache *c, int dirfd, const char *name, int64_t *freed,
                   mp_error *err);

static int64_t
boottime_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_BOOTTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The "built" line for a layer info file or a tree record. */
static void
built_line (model_cache *c, char *out, size_t outsize)
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
  if (write_file_at (c->root_fd, tmp, text, &err) < 0
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
static void
want_sync (model_cache *c)
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

  if (!record_get (text, "built", built, sizeof built))
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
  cleanup_free char *dtext = read_file_at (c->root_fd, "durable");
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
          text = read_file_at (dirs[k], name);
          if (text == NULL || built_durable (c, text, dboot, dtime))
            continue;
          mp_log_warn ("model cache: discarding %s/%s: built before a machine "
                       "crash and maybe not on disk; it is rebuilt when "
                       "needed",
                       k == 0 ? "trees" : "layers", victim);
          if (retire (c, dirs[k], victim, &freed, err) < 0
              || (k == 0 && retire (c, dirs[k], name, &freed, err) < 0))
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

enum flight_role
{
  FLIGHT_LEADER,
  FLIGHT_WAITED,
};

static int
flight_join (model_cache *c, const char *key, struct flight **out,
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

static void
flight_end (model_cache *c, struct flight *f, bool ok)
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
  fd = open_dir_at (parent, name);
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
static int
retire (model_cache *c, int dirfd, const char *name, int64_t *freed,
        mp_error *err)
{
  char dead[64];
  struct stat st;

  if (fstat (c->work_fd, &st) < 0)
    return mp_error_sys (err, errno, "stat work directory");
  snprintf (dead, sizeof dead, "dead%" PRIu64, next_seq (c));
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
static int
clean_tmp (model_cache *c, int64_t *freed, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  struct stat st;
  int fd;

  if (fstat (c->tmp_fd, &st) < 0)
    return mp_error_sys (err, errno, "stat %s/tmp", c->root);
  fd = open_dir_at (c->tmp_fd, ".");
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      closep_quiet (fd);
      return mp_error_sys (err, errno, "read %s/tmp", c->root);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      cleanup_close int entry = -1;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
          || strcmp (de->d_name, c->work_name) == 0)
        continue;
      entry = open_dir_at (c->tmp_fd, de->d_name);
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
      fd = open_dir_at (c->tmp_fd, c->work_name);
      if (fd < 0)
        continue; /* another process's clean_tmp took it already */
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
  *out = open_dir_at (c->root_fd, name);
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
      || o->keep_unused_seconds < 0 || o->keep_unused_bytes < 0)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "model cache: a root directory and non-negative "
                    "retention values are required");
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
  c->keep_seconds = o->keep_unused_seconds;
  c->keep_bytes = o->keep_unused_bytes;

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
      || make_work_dir (c, err) < 0 || clean_tmp (c, &freed, err) < 0
      || read_boot_id (c, o->boot_id, err) < 0)
    goto fail;
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
  closep_quiet (c->work_fd);
  closep_quiet (c->tmp_fd);
  closep_quiet (c->pins_fd);
  closep_quiet (c->trees_fd);
  closep_quiet (c->layers_fd);
  closep_quiet (c->root_fd);
  pthread_mutex_destroy (&c->mu);
  pthread_cond_destroy (&c->cv);
  pthread_cond_destroy (&c->sync_cv);
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

/* ---- layer plans ------------------------------------------------------- */

struct layer_plan
{
  const model_layer *l;
  size_t index;
  enum model_unpack_format format;
  char key[KEY_MAX + 1];
  const char *diff_id; /* expected, or NULL */
  struct model_file_meta meta;
  int64_t size;     /* from the layer's info file once present */
  uint64_t entries; /* tar members (raw: 1); 0 if not recorded */
};

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

  if (!is_dir_at (c->layers_fd, p->key))
    return 0;
  snprintf (path, sizeof path, "%s/info", p->key);
  info = read_file_at (c->layers_fd, path);
  if (info == NULL || !record_get (info, "diffid", diff, sizeof diff)
      || !record_get (info, "size", size, sizeof size))
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
  p->entries = record_get (info, "entries", size, sizeof size)
                   ? strtoull (size, NULL, 10)
                   : 0;
  return 1;
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
  cleanup_close int dfd = -1, src = -1;
  char name[32], info[3 * MODEL_DIGEST_MAX + 128], built[128];
  bool lost = false;
  int r;

  snprintf (name, sizeof name, "L%" PRIu64, next_seq (c));
  if (mkdirat (c->work_fd, name, 0700) < 0
      || (dfd = open_dir_at (c->work_fd, name)) < 0)
    return mp_error_sys (err, errno, "create layer work directory");
  src = open_fn (ctx, l->desc.digest.str, l->desc.size, &o.blob_verified, err);
  if (src < 0)
    {
      mp_error_prefix (err, "layers[%zu] (%s)", p->index, l->desc.digest.str);
      goto fail;
    }
  if (model_unpack_layer (src, dfd, "fs", &o, &us, err) < 0)
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
  built_line (c, built, sizeof built);
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
  /* No sync here: the syncer makes it durable after the tree is built
   * (see "Durability" at the top). */
  if (write_file_at (dfd, "info", info, err) < 0)
    goto fail;
  r = renameat2 (c->work_fd, name, c->layers_fd, p->key, RENAME_NOREPLACE);
  if (r < 0 && errno != EEXIST && errno != ENOTEMPTY)
    {
      mp_error_sys (err, errno, "move layer %s into %s/layers", p->key,
                    c->root);
      goto fail;
    }
  if (r < 0)
    {
      /* Another process sharing the cache finished first: same content. */
      mp_error ignored;
      lost = true;
      mp_rmtree_at (c->work_fd, name, &ignored);
    }
  p->size = (int64_t)us.bytes_written;
  count (c, st, 1, 0, 0, 0, (int64_t)us.bytes_written);
  mp_log_info ("model cache: unpacked layer %s (%s, %" PRIu64
               " bytes in %" PRIu64 " files, blob digest %s) as %s%s",
               l->desc.digest.str, unpack_format_name (p->format),
               us.bytes_written, us.files,
               o.blob_verified ? "vouched for by the source" : "verified",
               p->key, lost ? " (another process stored it first)" : "");
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
          count (c, st, 0, 1, 0, 0, 0);
          mp_log_debug ("model cache: reusing layer %s (%s)",
                        p->l->desc.digest.str, p->key);
          return 0;
        }
      r = flight_join (c, fkey, &f, err);
      if (r < 0)
        return -1;
      if (r == FLIGHT_WAITED)
        continue; /* done, or failed and we try ourselves */
      r = layer_check (c, p, err);
      if (r == 0)
        r = layer_unpack (c, p, open_fn, ctx, st, err);
      else if (r > 0)
        count (c, st, 0, 1, 0, 0, 0);
      flight_end (c, f, r >= 0);
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
      sub_src = open_dir_at (src, name);
      if (sub_src < 0)
        return mp_error_sys (err, errno, "open");
      sub_dst = open_dir_at (dst, name);
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
  fd = open_dir_at (src, ".");
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      closep_quiet (fd);
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
      sub = open_dir_at (fd, comp);
      closep_quiet (fd);
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
static bool
tree_ready (model_cache *c, const char *hex)
{
  char rec[KEY_MAX + 16];
  struct stat st;

  snprintf (rec, sizeof rec, "%s.layers", hex);
  return is_dir_at (c->trees_fd, hex)
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

      if (is_dir_at (c->layers_fd, plans[i].key))
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
  /* Every layer is checked before any is unpacked: a manifest we cannot
   * serve leaves nothing behind. */
  for (size_t i = 0; i < m->n_layers; i++)
    if (plan_layer (c, m, cfg, i, &plans[i], err) < 0)
      return mp_error_prefix (err, "manifest %s", mdig->str);
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
  built_line (c, record + rlen, rcap - rlen);

  snprintf (tname, sizeof tname, "T%" PRIu64, next_seq (c));
  snprintf (rname, sizeof rname, "R%" PRIu64, next_seq (c));
  snprintf (recname, sizeof recname, "%s.layers", hex);
  if (mkdirat (c->work_fd, tname, 0700) < 0
      || (tfd = open_dir_at (c->work_fd, tname)) < 0)
    return mp_error_sys (err, errno, "create tree work directory");
  /* Readable by pods even when no layer says otherwise (no layers). */
  if (fchmod (tfd, 0755) < 0)
    {
      mp_error_sys (err, errno, "chmod tree work directory");
      goto fail;
    }
  if (merge_layers (c, plans, m->n_layers, tfd, err) < 0
      || write_file_at (c->work_fd, rname, record, err) < 0)
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
  want_sync (c);
  count (c, st, 0, 0, 1, 0, 0);
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

      if (tree_ready (c, hex))
        {
          count (c, st, 0, 0, 0, 1, 0);
          mp_log_debug ("model cache: reusing tree for manifest %s", mdig->str);
          return 0;
        }
      r = flight_join (c, fkey, &f, err);
      if (r < 0)
        return -1;
      if (r == FLIGHT_WAITED)
        continue;
      if (tree_ready (c, hex))
        {
          count (c, st, 0, 0, 0, 1, 0);
          r = 0;
        }
      else
        r = build_tree (c, mdig, mtext, mlen, open_fn, ctx, st, err);
      flight_end (c, f, r == 0);
      return r;
    }
}

/* The manifest an index digest was resolved to before, from its
 * trees/<hex>.index file; false if none is recorded. */
static bool
alias_get (model_cache *c, const char *hex, model_digest *out)
{
  char name[KEY_MAX + 16];
  cleanup_free char *text = NULL;
  char *nl;

  snprintf (name, sizeof name, "%s.index", hex);
  text = read_file_at (c->trees_fd, name);
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
  snprintf (tmp, sizeof tmp, "I%" PRIu64, next_seq (c));
  snprintf (text, sizeof text, "%s\n", target->str);
  if (write_file_at (c->work_fd, tmp, text, err) < 0)
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
  if (!tree_ready (c, model_digest_hex (mdig)))
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
model_cache_get_manifest_tree (model_cache *c, const char *digest,
                               model_blob_open_fn open_fn, void *ctx,
                               char **tree, char **resolved,
                               struct model_cache_stats *stats, mp_error *err)
{
  struct model_cache_stats local;
  model_digest want, mdig;
  cleanup_close int lock = -1;
  cleanup_free char *tree_path = NULL, *res = NULL;
  const char *hex;

  if (stats == NULL)
    stats = &local;
  memset (stats, 0, sizeof *stats);
  if (model_digest_parse (digest, &want, err) < 0)
    return -1;
  lock = cache_lock (c, LOCK_SH, err);
  if (lock < 0)
    return -1;

  /* A second pod for the same model reads nothing: the tree is there, under
   * the manifest digest or through a recorded index. */
  if (tree_ready (c, model_digest_hex (&want)))
    {
      mdig = want;
      count (c, stats, 0, 0, 0, 1, 0);
      mp_log_debug ("model cache: reusing tree for %s", want.str);
    }
  else if (alias_get (c, model_digest_hex (&want), &mdig)
           && tree_ready (c, model_digest_hex (&mdig)))
    {
      count (c, stats, 0, 0, 0, 1, 0);
      mp_log_debug ("model cache: reusing tree for %s (index %s)", mdig.str,
                    want.str);
    }
  else if (resolve_and_build (c, &want, open_fn, ctx, &mdig, stats, err) < 0)
    return -1;

  hex = model_digest_hex (&mdig);
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
  if (!is_dir_at (c->trees_fd, model_digest_hex (&d))
      && alias_get (c, model_digest_hex (&d), &target))
    d = target;
  if (!is_dir_at (c->trees_fd, model_digest_hex (&d)))
    return mp_error_set (err, MP_ERR_NOT_FOUND,
                         "no tree for %s in the model cache", d.str);
  return stamp_tree (c, &d, err);
}

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
  if (!is_dir_at (c->trees_fd, model_digest_hex (&d))
      && !(alias_get (c, model_digest_hex (&d), &target)
           && is_dir_at (c->trees_fd, model_digest_hex (&target))))
    return mp_error_set (err, MP_ERR_NOT_FOUND,
                         "no tree for %s in the model cache", d.str);
  snprintf (tmp, sizeof tmp, "P%" PRIu64, next_seq (c));
  if (write_file_at (c->work_fd, tmp, text, err) < 0)
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
  text = read_file_at (c->pins_fd, name);
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

struct strset
{
  char **v;
  size_t n, cap;
};

static bool
strset_has (const struct strset *s, const char *x)
{
  for (size_t i = 0; i < s->n; i++)
    if (strcmp (s->v[i], x) == 0)
      return true;
  return false;
}

static int
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

static void
strset_clear (struct strset *s)
{
  for (size_t i = 0; i < s->n; i++)
    free (s->v[i]);
  free (s->v);
  memset (s, 0, sizeof *s);
}

struct gc_tree
{
  char *hex;
  struct timespec used;
  struct strset layers;
  bool in_use, keep;
};

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
  text = read_file_at (c->trees_fd, rec);
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

/* Size of a layer for the retention allowance: the bytes it unpacked. */
static int64_t
gc_layer_size (model_cache *c, const char *key)
{
  char path[KEY_MAX + 8], size[32];
  cleanup_free char *info = NULL;

  snprintf (path, sizeof path, "%s/info", key);
  info = read_file_at (c->layers_fd, path);
  if (info == NULL || !record_get (info, "size", size, sizeof size))
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
          size += gc_layer_size (c, t->layers.v[j]);
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

static int
gc_collect (model_cache *c, const struct strset *in_use, struct gc_tree **out,
            size_t *nout, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  struct gc_tree *trees = NULL;
  size_t n = 0, cap = 0;
  int fd = open_dir_at (c->trees_fd, ".");

  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      closep_quiet (fd);
      return mp_error_sys (err, errno, "read %s/trees", c->root);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (!is_hex_name (de->d_name) || !is_dir_at (c->trees_fd, de->d_name))
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
  for (size_t i = 0; i < n; i++)
    {
      free (trees[i].hex);
      strset_clear (&trees[i].layers);
    }
  free (trees);
  return -1;
}

/* Remove records without their tree, and index records whose manifest's
 * tree is gone. */
static int
gc_records (model_cache *c, int64_t *freed, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd = open_dir_at (c->trees_fd, ".");

  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      closep_quiet (fd);
      return mp_error_sys (err, errno, "read %s/trees", c->root);
    }
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
      if (!is_hex_name (hex))
        continue;
      if (strcmp (dot, ".layers") == 0)
        orphan = !is_dir_at (c->trees_fd, hex);
      else if (strcmp (dot, ".index") == 0)
        {
          model_digest target;
          orphan = !alias_get (c, hex, &target)
                   || !tree_ready (c, model_digest_hex (&target));
        }
      else
        continue;
      if (orphan && retire (c, c->trees_fd, de->d_name, freed, err) < 0)
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
  int fd = open_dir_at (c->layers_fd, ".");

  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      closep_quiet (fd);
      return mp_error_sys (err, errno, "read %s/layers", c->root);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
          || strset_has (needed, de->d_name))
        continue;
      if (retire (c, c->layers_fd, de->d_name, freed, err) < 0)
        return -1;
      mp_log_info ("model cache: removed unused layer %s", de->d_name);
    }
  return 0;
}

/* Every pinned digest (and the manifest an index pin resolved to) counts as
 * in use.  Called under the exclusive lock. */
static int
gc_pins (model_cache *c, struct strset *used, mp_error *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd = open_dir_at (c->pins_fd, ".");

  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      closep_quiet (fd);
      return mp_error_sys (err, errno, "read %s/pins", c->root);
    }
  while ((de = readdir (d)) != NULL)
    {
      cleanup_free char *text = NULL;
      model_digest p, target;
      char *nl;

      if (de->d_name[0] == '.')
        continue;
      text = read_file_at (c->pins_fd, de->d_name);
      if (text == NULL || (nl = strchr (text, '\n')) == NULL)
        continue;
      *nl = '\0';
      if (model_digest_parse (text, &p, NULL) < 0)
        continue;
      if (strset_add (used, model_digest_hex (&p), err) < 0)
        return -1;
      if (alias_get (c, model_digest_hex (&p), &target)
          && strset_add (used, model_digest_hex (&target), err) < 0)
        return -1;
    }
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
    {
      model_digest d;

      if (model_digest_parse (in_use[i], &d, err) < 0)
        {
          mp_error_prefix (err, "gc: in-use list");
          goto out;
        }
      if (strset_add (&used, model_digest_hex (&d), err) < 0)
        goto out;
    }
  lock = cache_lock (c, LOCK_EX, err);
  if (lock < 0)
    goto out;
  /* Index digests stand for the manifests they were resolved to; read
   * under the lock, as builds add these records. */
  for (size_t i = 0; i < n; i++)
    {
      model_digest d, target;

      if (model_digest_parse (in_use[i], &d, NULL) == 0
          && alias_get (c, model_digest_hex (&d), &target)
          && strset_add (&used, model_digest_hex (&target), err) < 0)
        goto out;
    }
  if (gc_pins (c, &used, err) < 0)
    goto out;
  if (gc_collect (c, &used, &trees, &ntrees, err) < 0)
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
      if (retire (c, c->trees_fd, t->hex, &freed, err) < 0)
        goto out;
      mp_log_info ("model cache: removed unused tree %s", t->hex);
    }
  if (gc_records (c, &freed, err) < 0 || gc_layers (c, &needed, &freed, err) < 0
      || clean_tmp (c, &freed, err) < 0)
    goto out;
  ret = 0;
out:
  if (freed_out != NULL)
    *freed_out = freed;
  for (size_t i = 0; i < ntrees; i++)
    {
      free (trees[i].hex);
      strset_clear (&trees[i].layers);
    }
  free (trees);
  strset_clear (&used);
  strset_clear (&needed);
  return ret < 0 ? mp_error_prefix (err, "model cache gc") : 0;
}
