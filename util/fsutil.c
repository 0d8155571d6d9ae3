#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

static int
rmtree_contents (int dfd, mp_error *err, const char *what)
{
  DIR *d = fdopendir (dfd);
  struct dirent *de;
  int ret = 0;

  if (d == NULL)
    {
      close (dfd);
      return mp_error_sys (err, errno, "open %s", what);
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (unlinkat (dirfd (d), de->d_name, 0) == 0 || errno == ENOENT)
        continue;
      if (errno != EISDIR && errno != EPERM)
        {
          ret = mp_error_sys (err, errno, "remove %s/%s", what, de->d_name);
          break;
        }
      if (mp_rmtree_at (dirfd (d), de->d_name, err) < 0)
        {
          ret = -1;
          break;
        }
    }
  if (ret == 0 && errno != 0 && de == NULL)
    ret = mp_error_sys (err, errno, "read %s", what);
  closedir (d);
  return ret;
}

int
mp_rmtree_at (int dirfd, const char *name, mp_error *err)
{
  int fd;

  if (unlinkat (dirfd, name, AT_REMOVEDIR) == 0)
    return 0;
  if (errno == ENOENT)
    return 0;
  if (errno == ENOTDIR)
    {
      if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
      return mp_error_sys (err, errno, "remove %s", name);
    }
  if (errno != ENOTEMPTY && errno != EEXIST)
    return mp_error_sys (err, errno, "remove %s", name);
  fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return mp_error_sys (err, errno, "open %s", name);
    }
  /* Make the directory writable and searchable: snapshot contents can have
   * any mode, and we are removing them regardless. */
  fchmod (fd, 0700);
  if (rmtree_contents (fd, err, name) < 0)
    return -1;
  if (unlinkat (dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return mp_error_sys (err, errno, "remove %s", name);
  return 0;
}

int
mp_mkdir_p (const char *path, mode_t mode, mp_error *err)
{
  cleanup_free char *p = strdup (path);
  size_t len;

  if (p == NULL)
    return mp_error_sys (err, ENOMEM, "mkdir %s", path);
  len = strlen (p);
  for (size_t i = 1; i <= len; i++)
    {
      if (p[i] != '/' && p[i] != '\0')
        continue;
      p[i] = '\0';
      if (mkdir (p, mode) < 0 && errno != EEXIST)
        return mp_error_sys (err, errno, "mkdir %s", p);
      if (i < len)
        p[i] = '/';
    }
  return 0;
}

/* Inodes with more than one link are remembered so each counts once;
 * singly-linked ones cannot repeat and skip the set. */
struct inode_set
{
  struct
  {
    dev_t dev;
    ino_t ino;
    bool used;
  } * slots;
  size_t cap, n;
};

static bool
inode_set_add (struct inode_set *s, dev_t dev, ino_t ino)
{
  size_t i;

  if (s->n * 2 >= s->cap)
    {
      struct inode_set bigger = { 0 };

      bigger.cap = s->cap ? s->cap * 2 : 64;
      bigger.slots = calloc (bigger.cap, sizeof *bigger.slots);
      if (bigger.slots == NULL)
        return true; /* count it: overcounting beats failing */
      for (i = 0; i < s->cap; i++)
        if (s->slots[i].used)
          inode_set_add (&bigger, s->slots[i].dev, s->slots[i].ino);
      free (s->slots);
      *s = bigger;
    }
  i = (size_t)((ino * 0x9E3779B97F4A7C15ULL) ^ dev) & (s->cap - 1);
  while (s->slots[i].used)
    {
      if (s->slots[i].dev == dev && s->slots[i].ino == ino)
        return false;
      i = (i + 1) & (s->cap - 1);
    }
  s->slots[i].used = true;
  s->slots[i].dev = dev;
  s->slots[i].ino = ino;
  s->n++;
  return true;
}

static int
du_dir (int dfd, struct inode_set *seen, int64_t *size, int64_t *inodes,
        mp_error *err)
{
  DIR *d = fdopendir (dfd);
  struct dirent *de;
  int ret = 0;

  if (d == NULL)
    {
      close (dfd);
      return mp_error_sys (err, errno, "disk usage: open directory");
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      struct stat st;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno == ENOENT)
            continue;
          ret = mp_error_sys (err, errno, "disk usage: stat %s", de->d_name);
          break;
        }
      if (st.st_nlink <= 1 || S_ISDIR (st.st_mode)
          || inode_set_add (seen, st.st_dev, st.st_ino))
        {
          *size += (int64_t)st.st_blocks * 512;
          (*inodes)++;
        }
      if (S_ISDIR (st.st_mode))
        {
          int sub = openat (dirfd (d), de->d_name,
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub < 0)
            {
              ret = mp_error_sys (err, errno, "disk usage: open %s",
                                  de->d_name);
              break;
            }
          if (du_dir (sub, seen, size, inodes, err) < 0)
            {
              ret = -1;
              break;
            }
        }
    }
  if (ret == 0 && de == NULL && errno != 0)
    ret = mp_error_sys (err, errno, "disk usage: read directory");
  closedir (d);
  return ret;
}

int
mp_disk_usage (const char *path, int64_t *size, int64_t *inodes, mp_error *err)
{
  struct inode_set seen = { 0 };
  struct stat st;
  int fd, ret;

  *size = 0;
  *inodes = 0;
  fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return mp_error_sys (err, errno, "disk usage of %s", path);
  if (fstat (fd, &st) < 0)
    {
      close (fd);
      return mp_error_sys (err, errno, "disk usage of %s", path);
    }
  *size = (int64_t)st.st_blocks * 512;
  *inodes = 1;
  ret = du_dir (fd, &seen, size, inodes, err);
  free (seen.slots);
  if (ret < 0)
    return mp_error_prefix (err, "%s", path);
  return 0;
}
