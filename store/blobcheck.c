/* Blob verdicts: hash a layer blob file once, remember it per file (see
 * blobcheck.h).
 *
 * Hashing reads with pread in large blocks after POSIX_FADV_SEQUENTIAL:
 * the kernel reads ahead further, and sha256 (about 1.5 GB/s with the
 * SHA extensions, far less without) is what bounds one blob, so blobs are
 * hashed in parallel, one thread per blob, up to the number of online
 * CPUs.  One blob's hash is inherently sequential. */
#include "store/blobcheck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/digest.h"
#include "util/cleanup.h"
#include "util/log.h"

/* 4 MiB reads: few system calls per GiB.  On the 2-CPU machine of
 * docs/benchmarks.md ("Blob verification") 256 KiB to 16 MiB measured
 * alike within its noise; overridable at build time for tuning. */
#ifndef HASH_BLOCK
#define HASH_BLOCK (4u << 20)
#endif
#define MAX_THREADS 64
/* A temporary memo file older than this belongs to a process that died
 * between creating and renaming it. */
#define STALE_TMP_SECONDS 3600
#define TMP_PREFIX ".tmp-"

void (*blobcheck_test_after_hash) (int fd);

struct blobcheck
{
  int dfd;
  char *display;
  uint64_t seq;
};

/* ---- the memo text ----------------------------------------------------- */

int
blobcheck_format (const struct blobcheck_stamp *s, char *buf, size_t size)
{
  int n;

  if (s->size < 0 || s->ctime_nsec < 0 || s->ctime_nsec > 999999999)
    return -1;
  n = snprintf (buf, size,
                "mp-blobcheck 1\ndev %" PRIu64 "\nino %" PRIu64
                "\nsize %" PRId64 "\nctime %" PRId64 ".%09" PRId64 "\n",
                s->dev, s->ino, s->size, s->ctime_sec, s->ctime_nsec);
  if (n < 0 || (size_t)n >= size)
    return -1;
  return n;
}

static bool
take_text (const char **p, const char *end, const char *word)
{
  size_t n = strlen (word);

  if ((size_t)(end - *p) < n || memcmp (*p, word, n) != 0)
    return false;
  *p += n;
  return true;
}

/* A decimal number as blobcheck_format writes it: digits only, no
 * leading zero (except "0" itself), at most MAX. */
static bool
take_number (const char **p, const char *end, uint64_t max, uint64_t *out)
{
  const char *s = *p;
  uint64_t v = 0;

  if (s == end || *s < '0' || *s > '9')
    return false;
  if (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9')
    return false;
  for (; s < end && *s >= '0' && *s <= '9'; s++)
    {
      unsigned d = (unsigned)(*s - '0');
      if (v > (max - d) / 10)
        return false;
      v = v * 10 + d;
    }
  *p = s;
  *out = v;
  return true;
}

bool
blobcheck_parse (const char *text, size_t len, struct blobcheck_stamp *out)
{
  const char *p = text, *end = text + len;
  struct blobcheck_stamp s = { 0 };
  uint64_t v, sec;
  bool negative = false;

  if (text == NULL || len >= BLOBCHECK_TEXT_MAX)
    return false;
  if (!take_text (&p, end, "mp-blobcheck 1\ndev ")
      || !take_number (&p, end, UINT64_MAX, &s.dev)
      || !take_text (&p, end, "\nino ")
      || !take_number (&p, end, UINT64_MAX, &s.ino)
      || !take_text (&p, end, "\nsize ")
      || !take_number (&p, end, INT64_MAX, &v)
      || !take_text (&p, end, "\nctime "))
    return false;
  s.size = (int64_t)v;
  if (p < end && *p == '-')
    {
      negative = true;
      p++;
    }
  /* -INT64_MAX at the lowest: the struct stat range we ever write. */
  if (!take_number (&p, end, INT64_MAX, &sec) || (negative && sec == 0)
      || !take_text (&p, end, "."))
    return false;
  s.ctime_sec = negative ? -(int64_t)sec : (int64_t)sec;
  for (int i = 0; i < 9; i++, p++)
    {
      if (p == end || *p < '0' || *p > '9')
        return false;
      s.ctime_nsec = s.ctime_nsec * 10 + (*p - '0');
    }
  if (!take_text (&p, end, "\n") || p != end)
    return false;
  *out = s;
  return true;
}

/* ---- stamps ------------------------------------------------------------ */

int
blobcheck_stamp_fd (int fd, struct blobcheck_stamp *out, bool *named,
                    mp_error *err)
{
  struct stat st;

  if (fstat (fd, &st) < 0)
    return mp_error_sys (err, errno, "stat");
  if (!S_ISREG (st.st_mode))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "not a regular file");
  out->dev = (uint64_t)st.st_dev;
  out->ino = (uint64_t)st.st_ino;
  out->size = (int64_t)st.st_size;
  out->ctime_sec = (int64_t)st.st_ctim.tv_sec;
  out->ctime_nsec = (int64_t)st.st_ctim.tv_nsec;
  if (named != NULL)
    *named = st.st_nlink > 0;
  return 0;
}

bool
blobcheck_stamp_equal (const struct blobcheck_stamp *a,
                       const struct blobcheck_stamp *b)
{
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size
         && a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

/* ---- the memo directory ------------------------------------------------ */

static void
memo_name (const model_digest *d, char *out, size_t size)
{
  snprintf (out, size, "%s-%s", model_digest_algo_name (d->algo),
            model_digest_hex (d));
}

/* What is remembered for D, if it reads as a memo. */
static bool
memo_read (blobcheck *bc, const model_digest *d, struct blobcheck_stamp *out)
{
  char name[MODEL_DIGEST_MAX + 8], text[BLOBCHECK_TEXT_MAX];
  cleanup_close int fd = -1;
  struct stat st;
  size_t got = 0;

  memo_name (d, name, sizeof name);
  /* O_NONBLOCK: a FIFO put there must not hang the caller. */
  fd = openat (bc->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || st.st_size >= BLOBCHECK_TEXT_MAX)
    return false;
  while (got < sizeof text)
    {
      ssize_t n = read (fd, text + got, sizeof text - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return false;
      if (n == 0)
        break;
      got += (size_t)n;
    }
  return blobcheck_parse (text, got, out);
}

static bool
memo_matches (blobcheck *bc, const model_digest *d,
              const struct blobcheck_stamp *s)
{
  struct blobcheck_stamp m;

  return memo_read (bc, d, &m) && blobcheck_stamp_equal (&m, s);
}

static int
memo_write (blobcheck *bc, const model_digest *d,
            const struct blobcheck_stamp *s, mp_error *err)
{
  char name[MODEL_DIGEST_MAX + 8], tmp[64], text[BLOBCHECK_TEXT_MAX];
  int len = blobcheck_format (s, text, sizeof text);
  cleanup_close int fd = -1;
  size_t done = 0;

  if (len < 0)
    return mp_error_set (err, MP_ERR_INTERNAL, "blob %s: bad stamp", d->str);
  memo_name (d, name, sizeof name);
  snprintf (tmp, sizeof tmp, TMP_PREFIX "%ld-%" PRIu64, (long)getpid (),
            __atomic_add_fetch (&bc->seq, 1, __ATOMIC_RELAXED));
  fd = openat (bc->dfd, tmp,
               O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return mp_error_sys (err, errno, "create %s/%s", bc->display, tmp);
  while (done < (size_t)len)
    {
      ssize_t n = write (fd, text + done, (size_t)len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          unlinkat (bc->dfd, tmp, 0);
          return mp_error_sys (err, e, "write %s/%s", bc->display, tmp);
        }
      done += (size_t)n;
    }
  if (close (mp_steal_fd (&fd)) < 0
      || renameat (bc->dfd, tmp, bc->dfd, name) < 0)
    {
      int e = errno;
      unlinkat (bc->dfd, tmp, 0);
      return mp_error_sys (err, e, "record %s/%s", bc->display, name);
    }
  return 0;
}

static void
memo_remove (blobcheck *bc, const model_digest *d)
{
  char name[MODEL_DIGEST_MAX + 8];

  memo_name (d, name, sizeof name);
  unlinkat (bc->dfd, name, 0);
}

/* Temporary files of processes that died between create and rename. */
static void
remove_stale_tmp (blobcheck *bc)
{
  int fd = openat (bc->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;
  time_t now = time (NULL);

  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  while ((de = readdir (d)) != NULL)
    {
      struct stat st;

      if (strncmp (de->d_name, TMP_PREFIX, strlen (TMP_PREFIX)) == 0
          && fstatat (bc->dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
          && !S_ISDIR (st.st_mode) && now - st.st_mtime > STALE_TMP_SECONDS)
        unlinkat (bc->dfd, de->d_name, 0);
    }
}

blobcheck *
blobcheck_open (int parent_fd, const char *name, const char *display,
                mp_error *err)
{
  cleanup_close int dfd = -1;
  blobcheck *bc;
  struct stat st;

  if (mkdirat (parent_fd, name, 0700) < 0 && errno != EEXIST)
    {
      mp_error_sys (err, errno, "create %s", display);
      return NULL;
    }
  dfd = openat (parent_fd, name,
                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0 || fstat (dfd, &st) < 0)
    {
      mp_error_sys (err, errno, "open %s", display);
      return NULL;
    }
  /* Verdicts are trusted as written: only ours count. */
  if (st.st_uid != geteuid ())
    {
      mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                    "%s belongs to uid %u, not to this process's %u; remove "
                    "it (it only remembers which blobs were hashed)",
                    display, (unsigned)st.st_uid, (unsigned)geteuid ());
      return NULL;
    }
  if ((st.st_mode & 077) != 0 && fchmod (dfd, 0700) < 0)
    {
      mp_error_sys (err, errno, "chmod %s", display);
      return NULL;
    }
  bc = calloc (1, sizeof *bc);
  if (bc == NULL || (bc->display = strdup (display)) == NULL)
    {
      free (bc);
      mp_error_sys (err, ENOMEM, "%s", display);
      return NULL;
    }
  bc->dfd = mp_steal_fd (&dfd);
  remove_stale_tmp (bc);
  return bc;
}

void
blobcheck_close (blobcheck *bc)
{
  if (bc == NULL)
    return;
  close (bc->dfd);
  free (bc->display);
  free (bc);
}

/* ---- queries ----------------------------------------------------------- */

bool
blobcheck_known (blobcheck *bc, int fd, const char *digest)
{
  model_digest d;
  struct blobcheck_stamp s;
  bool named;

  return model_digest_parse (digest, &d, NULL) == 0
         && blobcheck_stamp_fd (fd, &s, &named, NULL) == 0 && named
         && memo_matches (bc, &d, &s);
}

int
blobcheck_record (blobcheck *bc, int fd, const char *digest,
                  const struct blobcheck_stamp *before, mp_error *err)
{
  model_digest d;
  struct blobcheck_stamp now;
  bool named;

  if (model_digest_parse (digest, &d, err) < 0)
    return -1;
  if (blobcheck_stamp_fd (fd, &now, &named, NULL) < 0 || !named
      || !blobcheck_stamp_equal (before, &now))
    return 0;
  if (memo_write (bc, &d, &now, err) < 0)
    return -1;
  return 1;
}

void
blobcheck_forget (blobcheck *bc, const char *digest)
{
  model_digest d;

  if (model_digest_parse (digest, &d, NULL) == 0)
    memo_remove (bc, &d);
}

/* ---- hashing ----------------------------------------------------------- */

struct run
{
  blobcheck *bc;
  struct blobcheck_item *items;
  size_t n;
  size_t next; /* the next item to take, atomically */
  bool stop;   /* set atomically on the first failure */
  pthread_mutex_t mu;
  bool failed;
  mp_error err;
};

static int
check_item (struct run *r, struct blobcheck_item *it, unsigned char *buf,
            mp_error *err)
{
  blobcheck *bc = r->bc;
  struct blobcheck_stamp before, after;
  cleanup_hasher model_hasher *h = NULL;
  model_digest want, got;
  uint64_t off = 0;
  bool named;

  it->hashed = false;
  if (model_digest_parse (it->digest, &want, err) < 0)
    return -1;
  if (blobcheck_stamp_fd (it->fd, &before, &named, err) < 0)
    return mp_error_prefix (err, "blob %s", want.str);
  if (it->size >= 0 && before.size != it->size)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "blob %s has %" PRId64 " bytes, its descriptor says "
                         "%" PRId64,
                         want.str, before.size, it->size);
  if (named && memo_matches (bc, &want, &before))
    return 0;

  it->hashed = true;
  h = model_hasher_new (want.algo, err);
  if (h == NULL)
    return -1;
  (void)posix_fadvise (it->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  for (;;)
    {
      ssize_t n;

      if (__atomic_load_n (&r->stop, __ATOMIC_RELAXED))
        return mp_error_set (err, MP_ERR_INTERNAL, "cancelled");
      n = pread (it->fd, buf, HASH_BLOCK, (off_t)off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mp_error_sys (err, errno, "read blob %s", want.str);
      if (n == 0)
        break;
      if (model_hasher_update (h, buf, (size_t)n, err) < 0)
        return -1;
      off += (uint64_t)n;
    }
  if (model_hasher_final (h, &got, err) < 0)
    return -1;
  if (!model_digest_equal (&got, &want))
    {
      memo_remove (bc, &want);
      return mp_error_set (err, MP_ERR_DATA_LOSS,
                           "blob %s does not match its digest (content "
                           "changed after download?): digest mismatch, its "
                           "bytes hash to %s",
                           want.str, got.str);
    }
  if (blobcheck_test_after_hash != NULL)
    blobcheck_test_after_hash (it->fd);
  if (blobcheck_stamp_fd (it->fd, &after, &named, err) < 0)
    return mp_error_prefix (err, "blob %s", want.str);
  if (!blobcheck_stamp_equal (&before, &after) || off != (uint64_t)after.size)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "blob %s changed while it was hashed; it is not "
                         "trusted",
                         want.str);
  if (named)
    {
      mp_error e = { 0 };
      /* Not remembering costs a hash next time, nothing more. */
      if (memo_write (bc, &want, &after, &e) < 0)
        mp_log_warn ("blob %s verified, but not remembered: %s", want.str,
                     e.msg);
    }
  return 0;
}

static void *
worker (void *p)
{
  struct run *r = p;
  unsigned char *buf = malloc (HASH_BLOCK);

  for (;;)
    {
      size_t i = __atomic_fetch_add (&r->next, 1, __ATOMIC_RELAXED);
      mp_error e = { 0 };

      if (i >= r->n || __atomic_load_n (&r->stop, __ATOMIC_RELAXED))
        break;
      if (buf == NULL)
        mp_error_sys (&e, ENOMEM, "blob %s", r->items[i].digest);
      if (buf == NULL || check_item (r, &r->items[i], buf, &e) < 0)
        {
          pthread_mutex_lock (&r->mu);
          if (!r->failed)
            {
              r->failed = true;
              r->err = e;
            }
          pthread_mutex_unlock (&r->mu);
          __atomic_store_n (&r->stop, true, __ATOMIC_RELAXED);
          break;
        }
    }
  free (buf);
  return NULL;
}

int
blobcheck_verify (blobcheck *bc, struct blobcheck_item *items, size_t n,
                  mp_error *err)
{
  struct run r = { .bc = bc, .items = items, .n = n };
  pthread_t threads[MAX_THREADS];
  long cpus = sysconf (_SC_NPROCESSORS_ONLN);
  size_t want, started = 0;

  for (size_t i = 0; i < n; i++)
    items[i].hashed = false;
  if (n == 0)
    return 0;
  want = cpus > 0 ? (size_t)cpus : 1;
  if (want > n)
    want = n;
  if (want > MAX_THREADS)
    want = MAX_THREADS;
  pthread_mutex_init (&r.mu, NULL);
  /* This thread is one of the workers. */
  for (; started + 1 < want; started++)
    if (pthread_create (&threads[started], NULL, worker, &r) != 0)
      break;
  worker (&r);
  for (size_t i = 0; i < started; i++)
    pthread_join (threads[i], NULL);
  pthread_mutex_destroy (&r.mu);
  if (r.failed)
    {
      if (err != NULL)
        *err = r.err;
      return -1;
    }
  return 0;
}
