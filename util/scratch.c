#include "util/scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"

/* Everything inside the directory FD, removed through FD: never through a
 * name that someone could have replaced meanwhile. */
static int
remove_children (int fd, mp_error *err)
{
  int dfd = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *d = dfd >= 0 ? fdopendir (dfd) : NULL;
  struct dirent *e;

  if (d == NULL)
    {
      int saved = errno;
      if (dfd >= 0)
        close (dfd);
      return mp_error_sys (err, saved, "read scratch directory");
    }
  while ((e = readdir (d)) != NULL)
    {
      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      if (mp_rmtree_at (fd, e->d_name, err) < 0)
        return -1;
    }
  return 0;
}

/* Whether NAME under DIRFD is still the inode open as FD. */
static bool
still_at (int dirfd, const char *name, int fd)
{
  struct stat a, b;

  return fstat (fd, &a) == 0
         && fstatat (dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0
         && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int
mp_scratch_create (int dirfd, const char *prefix, char *name, size_t namesize,
                   int *fd_out, mp_error *err)
{
  *fd_out = -1;
  /* A retry only follows a sweeper (another extract into the same
   * directory) removing ours between mkdirat and flock. */
  for (int attempt = 0; attempt < 8; attempt++)
    {
      cleanup_close int fd = -1;
      uint64_t rnd;
      struct stat st;
      int n;

      if (getrandom (&rnd, sizeof rnd, 0) != sizeof rnd)
        return mp_error_sys (err, errno, "getrandom");
      n = snprintf (name, namesize, "%s%d.%016" PRIx64, prefix, (int)getpid (),
                    rnd);
      if (n < 0 || (size_t)n >= namesize)
        return mp_error_set (err, MP_ERR_INTERNAL, "scratch name too long");
      if (mkdirat (dirfd, name, 0700) < 0)
        {
          if (errno == EEXIST)
            continue;
          return mp_error_sys (err, errno, "create %s", name);
        }
      fd = openat (dirfd, name,
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        {
          if (errno == ENOENT)
            continue;
          return mp_error_sys (err, errno, "open %s", name);
        }
      if (flock (fd, LOCK_EX) < 0 || fstat (fd, &st) < 0)
        return mp_error_sys (err, errno, "lock %s", name);
      /* In a directory without the sticky bit anyone may rename our entry
       * and put theirs in its place: use only what we created. */
      if (!S_ISDIR (st.st_mode) || st.st_uid != geteuid ()
          || (st.st_mode & 077) != 0)
        return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                             "%s was replaced by another user's entry "
                             "(a directory anyone may write to?)",
                             name);
      if (!still_at (dirfd, name, fd))
        continue;
      *fd_out = mp_steal_fd (&fd);
      return 0;
    }
  return mp_error_set (err, MP_ERR_INTERNAL,
                       "could not create a scratch directory %s*", prefix);
}

int
mp_scratch_remove (int dirfd, const char *name, int fd, mp_error *err)
{
  if (remove_children (fd, err) < 0)
    return -1;
  if (still_at (dirfd, name, fd) && unlinkat (dirfd, name, AT_REMOVEDIR) < 0
      && errno != ENOENT)
    return mp_error_sys (err, errno, "remove %s", name);
  return 0;
}

int
mp_scratch_sweep (int dirfd, const char *prefix)
{
  int dfd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *d = dfd >= 0 ? fdopendir (dfd) : NULL;
  size_t plen = strlen (prefix);
  struct dirent *e;
  int removed = 0;

  if (d == NULL)
    {
      if (dfd >= 0)
        close (dfd);
      return 0;
    }
  while ((e = readdir (d)) != NULL)
    {
      cleanup_close int fd = -1;
      struct stat st;
      mp_error ignored = { 0 };

      if (strncmp (e->d_name, prefix, plen) != 0)
        continue;
      if (fstatat (dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
          || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ())
        continue;
      fd = openat (dirfd, e->d_name,
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 || fstat (fd, &st) < 0 || st.st_uid != geteuid ()
          || !still_at (dirfd, e->d_name, fd))
        continue;
      /* A live extract holds its lock; a dead one's lock went with it. */
      if (flock (fd, LOCK_EX | LOCK_NB) < 0)
        continue;
      if (mp_scratch_remove (dirfd, e->d_name, fd, &ignored) == 0)
        removed++;
    }
  return removed;
}
