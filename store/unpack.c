/* Layer unpacking: confined extraction of tar layers, verified copies of
 * raw layers, and the entry point that puts the result in place.  The
 * pipeline that reads, hashes and decompresses a blob (and why it has its
 * shape) is in unpack_pipe.c; the limits and the checks on a manifest
 * before unpacking are in unpack_plan.c.
 *
 * Confinement.  Every path is normalised first (no leading "/", no ".."
 * component, limits on length and depth).  Its parent directory is opened
 * beneath the layer root with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
 * or, where openat2 is missing, one component at a time with
 * openat(O_NOFOLLOW | O_DIRECTORY); the entry itself is created with
 * O_CREAT|O_EXCL, mkdirat, symlinkat or linkat, none of which follow a
 * symlink in the last component.  So no write ever goes through a symlink,
 * whatever the archive created before. */
#include "store/unpack.h"
#include "store/unpack_internal.h"
#include "store/layer_path.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"

/* copy_file_range chunk: large enough to amortise the syscall, small enough
 * that the hasher reading the copy behind it finds it in the page cache. */
#define COPY_CHUNK (64 * 1024 * 1024)

bool model_unpack_no_openat2;

const char *
model_unpack_copy_method_name (enum model_unpack_copy_method m)
{
  switch (m)
    {
    case MODEL_UNPACK_COPY_NONE:
      return "none";
    case MODEL_UNPACK_COPY_FICLONE:
      return "ficlone";
    case MODEL_UNPACK_COPY_FILE_RANGE:
      return "copy_file_range";
    case MODEL_UNPACK_COPY_READ_WRITE:
      return "read_write";
    }
  return "?";
}

/* ---- confined tree ---- */

struct dir_meta
{
  char *path;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  bool has_owner, has_mtime;
  struct timespec mtime;
};

struct tree
{
  int root;
  bool no_openat2;
  /* The parent directory of the last entry: consecutive entries are
   * usually siblings. */
  char *cached_path;
  int cached_fd;
  struct dir_meta *dirs;
  size_t ndirs, capdirs;
};

static void
tree_uncache (struct tree *t)
{
  if (t->cached_fd >= 0)
    close (t->cached_fd);
  t->cached_fd = -1;
  free (t->cached_path);
  t->cached_path = NULL;
}

static void
tree_free (struct tree *t)
{
  tree_uncache (t);
  for (size_t i = 0; i < t->ndirs; i++)
    free (t->dirs[i].path);
  free (t->dirs);
  t->dirs = NULL;
  t->ndirs = t->capdirs = 0;
}

/* Split normalised PATH in place into its parent ("" for the root) and
 * last component. */
static void
path_split (char *path, const char **dir, const char **name)
{
  char *slash = strrchr (path, '/');

  if (slash == NULL)
    {
      *dir = "";
      *name = path;
      return;
    }
  *slash = '\0';
  *dir = path;
  *name = slash + 1;
}

static int
sys_openat2 (int dirfd, const char *path, int flags, uint64_t resolve)
{
  struct open_how how = { .flags = (uint64_t)flags, .resolve = resolve };

  return (int)syscall (SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Open directory PATH (normalised, not "") beneath the root without
 * following any symlink, creating missing components (mode 0755) if
 * CREATE.  Returns an fd, or -1 with errno: ELOOP if a component is a
 * symlink, ENOTDIR if it is something else. */
static int
tree_open_dir (struct tree *t, const char *path, bool create)
{
  const int oflags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  char comp[NAME_MAX + 1];
  const char *p = path;
  int fd;

  if (!t->no_openat2)
    {
      fd = sys_openat2 (t->root, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
                            | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
      if (fd >= 0)
        return fd;
      if (errno == ENOSYS || errno == EPERM)
        t->no_openat2 = true; /* old kernel, or a seccomp filter */
      else if (errno != EAGAIN && !(errno == ENOENT && create))
        return -1;
    }
  fd = fcntl (t->root, F_DUPFD_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  while (*p != '\0')
    {
      const char *end = strchrnul (p, '/');
      size_t n = (size_t)(end - p);
      int sub;

      memcpy (comp, p, n);
      comp[n] = '\0';
      sub = openat (fd, comp, oflags);
      if (sub < 0 && errno == ENOENT && create)
        {
          if (mkdirat (fd, comp, 0755) < 0 && errno != EEXIST)
            goto fail;
          sub = openat (fd, comp, oflags);
          /* mkdirat applies the umask; implicit parents are 0755. */
          if (sub >= 0 && fchmod (sub, 0755) < 0)
            {
              close (sub);
              goto fail;
            }
        }
      if (sub < 0)
        {
          struct stat st;
          if ((errno == ELOOP || errno == ENOTDIR)
              && fstatat (fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0)
            errno = S_ISLNK (st.st_mode) ? ELOOP : ENOTDIR;
          goto fail;
        }
      close (fd);
      fd = sub;
      p = *end ? end + 1 : end;
    }
  return fd;
fail:
  {
    int saved = errno;
    close (fd);
    errno = saved;
  }
  return -1;
}

static int
dir_open_error (const char *entry, mp_error *err)
{
  if (errno == ELOOP)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": path crosses a symlink", entry);
  if (errno == EXDEV)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": path leaves the layer", entry);
  if (errno == ENOTDIR)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": a parent is not a directory", entry);
  if (errno == ENOENT)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": parent directory does not exist",
                         entry);
  return mp_error_sys (err, errno, "entry \"%s\": open parent", entry);
}

/* The parent directory DIR of ENTRY, created if missing; the fd stays
 * owned by the tree (valid until the next call or tree_uncache). */
static int
tree_parent (struct tree *t, const char *dir, const char *entry, mp_error *err)
{
  int fd;

  if (dir[0] == '\0')
    return t->root;
  if (t->cached_path != NULL && strcmp (t->cached_path, dir) == 0)
    return t->cached_fd;
  tree_uncache (t);
  fd = tree_open_dir (t, dir, true);
  if (fd < 0)
    return dir_open_error (entry, err);
  t->cached_path = strdup (dir);
  if (t->cached_path == NULL)
    {
      close (fd);
      return mp_error_sys (err, ENOMEM, "entry \"%s\"", entry);
    }
  t->cached_fd = fd;
  return fd;
}

/* NAME under D exists and must give way to a new entry of the same name:
 * later entries win, but never over a non-empty directory. */
static int
tree_make_room (struct tree *t, int d, const char *name, const char *entry,
                mp_error *err)
{
  struct stat st;

  if (fstatat (d, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return mp_error_sys (err, errno, "entry \"%s\": stat", entry);
  if (S_ISDIR (st.st_mode))
    {
      if (unlinkat (d, name, AT_REMOVEDIR) < 0)
        {
          if (errno == ENOTEMPTY || errno == EEXIST)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "entry \"%s\" would replace a non-empty "
                                 "directory",
                                 entry);
          return mp_error_sys (err, errno, "entry \"%s\": remove", entry);
        }
      /* The cached parent might be the directory just removed. */
      if (d != t->cached_fd)
        tree_uncache (t);
      return 0;
    }
  if (unlinkat (d, name, 0) < 0)
    return mp_error_sys (err, errno, "entry \"%s\": remove", entry);
  return 0;
}

static int
tree_note_dir (struct tree *t, const char *path, const struct dir_meta *m,
               mp_error *err)
{
  if (t->ndirs == t->capdirs)
    {
      size_t cap = t->capdirs ? t->capdirs * 2 : 64;
      struct dir_meta *n = realloc (t->dirs, cap * sizeof *n);
      if (n == NULL)
        return mp_error_sys (err, ENOMEM, "directory list");
      t->dirs = n;
      t->capdirs = cap;
    }
  t->dirs[t->ndirs] = *m;
  t->dirs[t->ndirs].path = strdup (path);
  if (t->dirs[t->ndirs].path == NULL)
    return mp_error_sys (err, ENOMEM, "directory list");
  t->ndirs++;
  return 0;
}

static int
apply_meta_fd (int fd, mode_t mode, bool owner, uid_t uid, gid_t gid,
               bool has_mtime, const struct timespec *mtime)
{
  /* chown first: it may clear mode bits we set.  No group or other write,
   * no setuid, setgid or sticky bit: what a model places is read-only to
   * everyone but its owner. */
  if (owner && fchown (fd, uid, gid) < 0)
    return -1;
  if (fchmod (fd, mode & 0755) < 0)
    return -1;
  if (has_mtime)
    {
      struct timespec ts[2] = { *mtime, *mtime };
      if (futimens (fd, ts) < 0)
        return -1;
    }
  return 0;
}

/* Directory modes and times are applied last, once nothing more is
 * written inside them, in archive order so a later duplicate wins.  A
 * directory since replaced by another kind of entry is skipped: opening it
 * without following symlinks fails with ENOTDIR or ELOOP. */
static int
tree_finish_dirs (struct tree *t, mp_error *err)
{
  tree_uncache (t);
  for (size_t i = 0; i < t->ndirs; i++)
    {
      const struct dir_meta *m = &t->dirs[i];
      int fd = m->path[0] == '\0' ? fcntl (t->root, F_DUPFD_CLOEXEC, 0)
                                  : tree_open_dir (t, m->path, false);
      if (fd < 0)
        {
          if (errno == ENOTDIR || errno == ELOOP || errno == ENOENT)
            continue;
          return mp_error_sys (err, errno, "directory \"%s\"", m->path);
        }
      if (apply_meta_fd (fd, m->mode, m->has_owner, m->uid, m->gid,
                         m->has_mtime, &m->mtime)
          < 0)
        {
          int saved = errno;
          close (fd);
          return mp_error_sys (err, saved, "directory \"%s\": set metadata",
                               m->path);
        }
      close (fd);
    }
  return 0;
}

/* ---- tar entries ---- */

struct extract
{
  struct tree tree;
  struct archive *a;
  const struct model_unpack_opts *o;
  uint64_t max_bytes, max_entries;
  uint64_t apparent; /* sum of file sizes so far */
  uint64_t entries;
  struct model_unpack_stats *st;
  char path[MODEL_UNPACK_MAX_PATH + 1];
  char link[MODEL_UNPACK_MAX_PATH + 1];
};

struct entry_meta
{
  mode_t mode;
  bool has_owner;
  uid_t uid;
  gid_t gid;
  bool has_mtime;
  struct timespec mtime;
};

static int
entry_meta_get (struct extract *x, struct archive_entry *e,
                struct entry_meta *m, mp_error *err)
{
  memset (m, 0, sizeof *m);
  m->mode = archive_entry_perm (e) & 0777;
  if (x->o->keep_owners)
    {
      la_int64_t uid = archive_entry_uid (e), gid = archive_entry_gid (e);
      /* (uid_t)-1 means "unchanged" to chown: not a real owner. */
      if (uid < 0 || uid >= (la_int64_t)UINT32_MAX || gid < 0
          || gid >= (la_int64_t)UINT32_MAX)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "entry \"%s\": owner %lld:%lld out of range",
                             x->path, (long long)uid, (long long)gid);
      m->has_owner = true;
      m->uid = (uid_t)uid;
      m->gid = (gid_t)gid;
    }
  if (archive_entry_mtime_is_set (e))
    {
      m->has_mtime = true;
      m->mtime.tv_sec = archive_entry_mtime (e);
      m->mtime.tv_nsec = archive_entry_mtime_nsec (e);
      if (m->mtime.tv_nsec < 0 || m->mtime.tv_nsec >= 1000000000)
        m->mtime.tv_nsec = 0;
    }
  return 0;
}

static int
extract_file (struct extract *x, int d, const char *name,
              const struct entry_meta *m, mp_error *err)
{
  const int oflags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  cleanup_close int fd = openat (d, name, oflags, 0600);
  uint64_t end = 0;

  if (fd < 0 && errno == EEXIST)
    {
      if (tree_make_room (&x->tree, d, name, x->path, err) < 0)
        return -1;
      fd = openat (d, name, oflags, 0600);
    }
  if (fd < 0)
    return mp_error_sys (err, errno, "entry \"%s\": create", x->path);
  /* Stream blocks until the entry ends; sizes in headers only bound what
   * libarchive hands us, and sparse entries arrive with offsets. */
  for (;;)
    {
      const void *buf;
      size_t size;
      la_int64_t off;
      int r = archive_read_data_block (x->a, &buf, &size, &off);

      if (r == ARCHIVE_EOF)
        {
          /* At EOF the offset is the file's full size: past the data
           * only a sparse file has a hole, and those are refused. */
          if (off > 0 && (uint64_t)off > end)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "entry \"%s\": sparse files are not allowed "
                                 "in a model layer",
                                 x->path);
          break;
        }
      if (r < ARCHIVE_WARN)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "entry \"%s\": %s",
                             x->path, archive_error_string (x->a));
      if (off < 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "entry \"%s\": negative data offset", x->path);
      if (size > x->max_bytes - x->apparent
          || (uint64_t)off > x->max_bytes - x->apparent - size)
        goto too_big;
      if ((uint64_t)off != end)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "entry \"%s\": sparse files are not allowed in "
                             "a model layer",
                             x->path);
      end = (uint64_t)off + size;
      for (size_t done = 0; done < size;)
        {
          ssize_t w = pwrite (fd, (const char *)buf + done, size - done,
                              off + (off_t)done);
          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            return mp_error_sys (err, errno, "entry \"%s\": write", x->path);
          done += (size_t)w;
        }
      x->st->bytes_written += size;
    }
  x->apparent += end;
  if (apply_meta_fd (fd, m->mode, m->has_owner, m->uid, m->gid, m->has_mtime,
                     &m->mtime)
      < 0)
    return mp_error_sys (err, errno, "entry \"%s\": set metadata", x->path);
  if (close (mp_steal_fd (&fd)) < 0)
    return mp_error_sys (err, errno, "entry \"%s\": close", x->path);
  x->st->files++;
  return 0;

too_big:
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                       "entry \"%s\": the layer's files exceed the limit of "
                       "%llu bytes (max_layer_bytes, max_layer_ratio)",
                       x->path, (unsigned long long)x->max_bytes);
}

static int
extract_dir (struct extract *x, int d, const char *name,
             const struct entry_meta *m, mp_error *err)
{
  struct dir_meta dm = { .mode = m->mode,
                         .has_owner = m->has_owner,
                         .uid = m->uid,
                         .gid = m->gid,
                         .has_mtime = m->has_mtime,
                         .mtime = m->mtime };

  /* 0700 until tree_finish_dirs: a read-only mode must not stop us
   * filling it (relevant when not running as root). */
  if (mkdirat (d, name, 0700) < 0)
    {
      struct stat st;
      if (errno != EEXIST)
        return mp_error_sys (err, errno, "entry \"%s\": mkdir", x->path);
      if (fstatat (d, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return mp_error_sys (err, errno, "entry \"%s\": stat", x->path);
      if (!S_ISDIR (st.st_mode))
        {
          if (tree_make_room (&x->tree, d, name, x->path, err) < 0)
            return -1;
          if (mkdirat (d, name, 0700) < 0)
            return mp_error_sys (err, errno, "entry \"%s\": mkdir", x->path);
        }
    }
  x->st->dirs++;
  return tree_note_dir (&x->tree, x->path, &dm, err);
}

static int
extract_symlink (struct extract *x, int d, const char *name,
                 struct archive_entry *e, const struct entry_meta *m,
                 mp_error *err)
{
  const char *target = archive_entry_symlink (e);

  if (target == NULL)
    target = archive_entry_symlink_utf8 (e);
  /* The target is only text: it is never resolved while unpacking, and
   * readers of the layer see it through a read-only mount.  Still, a model
   * has no business pointing outside itself (an extracted copy would lead
   * whoever follows it elsewhere on the host). */
  if (target == NULL || target[0] == '\0'
      || strlen (target) > MODEL_UNPACK_MAX_PATH
      || layer_path_has_control (target))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": bad symlink target", x->path);
  if (!layer_symlink_stays_inside (x->path, target))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": symlink target \"%s\" is outside the "
                         "model (absolute, or climbs above its root)",
                         x->path, target);
  if (symlinkat (target, d, name) < 0)
    {
      if (errno != EEXIST)
        return mp_error_sys (err, errno, "entry \"%s\": symlink", x->path);
      if (tree_make_room (&x->tree, d, name, x->path, err) < 0)
        return -1;
      if (symlinkat (target, d, name) < 0)
        return mp_error_sys (err, errno, "entry \"%s\": symlink", x->path);
    }
  if (m->has_owner
      && fchownat (d, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
    return mp_error_sys (err, errno, "entry \"%s\": chown", x->path);
  if (m->has_mtime)
    {
      struct timespec ts[2] = { m->mtime, m->mtime };
      if (utimensat (d, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return mp_error_sys (err, errno, "entry \"%s\": set times", x->path);
    }
  x->st->symlinks++;
  return 0;
}

static int
extract_hardlink (struct extract *x, int d, const char *name,
                  const char *target_in, mp_error *err)
{
  cleanup_close int td = -1;
  const char *tdir, *tname;
  struct stat st;

  if (layer_path_normalize (target_in, x->link, "hard link target", err) < 0)
    return mp_error_prefix (err, "entry \"%s\"", x->path);
  if (x->link[0] == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": hard link to the layer root", x->path);
  if (strcmp (x->path, x->link) == 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": hard link to itself", x->path);
  path_split (x->link, &tdir, &tname);
  if (tdir[0] == '\0')
    td = fcntl (x->tree.root, F_DUPFD_CLOEXEC, 0);
  else
    td = tree_open_dir (&x->tree, tdir, false);
  if (td < 0)
    {
      if (errno == ENOENT)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "entry \"%s\": hard link target \"%s\" is not "
                             "in the layer",
                             x->path, target_in);
      return dir_open_error (x->path, err);
    }
  if (fstatat (td, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "entry \"%s\": hard link target \"%s\" is not "
                             "in the layer",
                             x->path, target_in);
      return mp_error_sys (err, errno, "entry \"%s\": stat link target",
                           x->path);
    }
  if (!S_ISREG (st.st_mode))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": hard link target \"%s\" is not a "
                         "regular file",
                         x->path, target_in);
  /* linkat without AT_SYMLINK_FOLLOW never dereferences anything. */
  if (linkat (td, tname, d, name, 0) < 0)
    {
      if (errno != EEXIST)
        return mp_error_sys (err, errno, "entry \"%s\": link", x->path);
      if (tree_make_room (&x->tree, d, name, x->path, err) < 0)
        return -1;
      if (linkat (td, tname, d, name, 0) < 0)
        return mp_error_sys (err, errno, "entry \"%s\": link", x->path);
    }
  x->st->hardlinks++;
  return 0;
}

static const char *
entry_name (struct archive_entry *e)
{
  const char *p = archive_entry_pathname (e);

  /* Names libarchive cannot convert to the locale's charset are still
   * available as UTF-8; Linux names are bytes either way. */
  return p != NULL ? p : archive_entry_pathname_utf8 (e);
}

static int
extract_entry (struct extract *x, struct archive_entry *e, mp_error *err)
{
  const char *raw = entry_name (e), *hardlink, *dir, *name;
  struct entry_meta m;
  mode_t type = archive_entry_filetype (e);
  int d;

  if (raw == NULL || raw[0] == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry %llu: no usable name",
                         (unsigned long long)x->entries);
  if (layer_path_normalize (raw, x->path, "entry", err) < 0)
    return -1;
  if (entry_meta_get (x, e, &m, err) < 0)
    return -1;
  hardlink = archive_entry_hardlink (e);
  if (hardlink == NULL)
    hardlink = archive_entry_hardlink_utf8 (e);
  if (hardlink == NULL
      && (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO
          || type == AE_IFSOCK))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": device nodes, FIFOs and sockets are "
                         "not allowed in a model layer",
                         x->path);
  if (x->path[0] == '\0')
    {
      struct dir_meta dm = { .mode = m.mode,
                             .has_owner = m.has_owner,
                             .uid = m.uid,
                             .gid = m.gid,
                             .has_mtime = m.has_mtime,
                             .mtime = m.mtime };
      if (hardlink != NULL || type != AE_IFDIR)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "entry \"%s\" would replace the layer root", raw);
      return tree_note_dir (&x->tree, "", &dm, err);
    }
  if (hardlink == NULL && type != AE_IFREG && type != AE_IFDIR
      && type != AE_IFLNK)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": unsupported entry type 0%o", x->path,
                         (unsigned)type);
  /* Holes would be hashed, copied and exported densely by whoever reads
   * the file next: a few kilobytes of tar could describe terabytes. */
  if (archive_entry_sparse_count (e) > 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry \"%s\": sparse files are not allowed in a "
                         "model layer",
                         x->path);

  /* Split a copy: messages keep using the whole x->path. */
  {
    char split[MODEL_UNPACK_MAX_PATH + 1];
    memcpy (split, x->path, strlen (x->path) + 1);
    path_split (split, &dir, &name);
    d = tree_parent (&x->tree, dir, x->path, err);
    if (d < 0)
      return -1;
    if (hardlink != NULL)
      return extract_hardlink (x, d, name, hardlink, err);
    switch (type)
      {
      case AE_IFDIR:
        return extract_dir (x, d, name, &m, err);
      case AE_IFLNK:
        return extract_symlink (x, d, name, e, &m, err);
      default:
        return extract_file (x, d, name, &m, err);
      }
  }
}

/* Read the tar stream from RR and build the tree. */
static int
extract_tar (struct extract *x, struct ring_reader *rr, mp_error *err)
{
  struct archive_entry *e;
  int r;

  x->a = archive_read_new ();
  if (x->a == NULL)
    return mp_error_sys (err, ENOMEM, "tar reader");
  if (archive_read_support_format_tar (x->a) != ARCHIVE_OK
      || archive_read_open (x->a, rr, NULL, unpack_ring_reader_cb, NULL)
             != ARCHIVE_OK)
    goto archive_fail;
  while ((r = archive_read_next_header (x->a, &e)) != ARCHIVE_EOF)
    {
      if (r < ARCHIVE_WARN)
        goto archive_fail;
      if (++x->entries > x->max_entries)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "more than %llu entries (max_layer_entries)",
                             (unsigned long long)x->max_entries);
      if (extract_entry (x, e, err) < 0)
        return -1;
    }
  return 0;

archive_fail:
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "tar stream: %s",
                       archive_error_string (x->a) ? archive_error_string (x->a)
                                                   : "unreadable");
}

/* ---- tar layers: set up the pipeline, extract, verify ---- */

static int
unpack_tar (int src_fd, int root, int stream_fd,
            const struct model_unpack_opts *o, const struct digest *blob,
            const struct digest *diff, struct model_unpack_stats *st,
            mp_error *err)
{
  bool compressed = o->format != MODEL_LAYER_TAR;
  struct job job = { .failed = false };
  struct ring in = { 0 }, mid = { 0 };
  struct reader_task rt = { 0 };
  struct hash_task bh = { 0 }, dh = { 0 };
  struct decompress_task dt = { 0 };
  struct ring_reader tar_in = { 0 };
  struct extract x = { 0 };
  pthread_t th_reader, th_bh, th_dh, th_dec;
  bool started_reader = false, started_bh = false, started_dh = false,
       started_dec = false;
  mp_error e = { 0 };
  int ret = -1;
  /* A plain tar is its own uncompressed stream: when the source vouches
   * for the blob digest, a diffId in the same algorithm is checked by
   * comparing the two, and nothing needs hashing at all. */
  bool diff_implied
      = !compressed && o->blob_verified && diff != NULL && diff->md == blob->md;

  if (diff_implied && unpack_digest_check (diff, blob->want, "diffId", err) < 0)
    return -1;
  pthread_mutex_init (&job.mu, NULL);
  x.tree.root = root;
  x.tree.cached_fd = -1;
  x.tree.no_openat2 = model_unpack_no_openat2;
  x.o = o;
  x.st = st;
  unpack_effective_limits (o, src_fd, &x.max_bytes, &x.max_entries);

  unpack_ring_init (&in, 2);
  if (compressed)
    unpack_ring_init (&mid, 2);
  if (compressed && diff == NULL)
    mid.detached[0] = true; /* no diffId hasher */

  rt = (struct reader_task){
    .job = &job, .out = &in, .fd = src_fd, .limit = compressed ? 0 : x.max_bytes
  };
  /* The blob hasher: the blob digest, unless the source vouches for it
   * (then only a plain tar's diffId, if any, is hashed here).  A plain tar
   * is its own uncompressed stream: one hasher serves both digests (twice
   * only if the algorithms differ).  Index 0 of bh.out is the blob digest,
   * or the diffId when the blob is trusted. */
  bh = (struct hash_task){ .in = &in, .cons = 0 };
  if (!o->blob_verified)
    bh.md[bh.nmd++] = blob->md;
  if (!compressed && diff != NULL && !diff_implied
      && (o->blob_verified || diff->md != blob->md))
    bh.md[bh.nmd++] = diff->md;
  if (bh.nmd == 0)
    in.detached[0] = true;
  if (pthread_create (&th_reader, NULL, unpack_reader_main, &rt) != 0)
    goto thread_fail;
  started_reader = true;
  if (bh.nmd > 0)
    {
      if (pthread_create (&th_bh, NULL, unpack_hasher_main, &bh) != 0)
        goto thread_fail;
      started_bh = true;
    }
  if (compressed)
    {
      dt = (struct decompress_task){
        .job = &job,
        .in = { .ring = &in, .cons = 1 },
        .out = &mid,
        .filter = o->format == MODEL_LAYER_TAR_GZIP ? ARCHIVE_FILTER_GZIP
                                                    : ARCHIVE_FILTER_ZSTD,
        .limit = x.max_bytes,
      };
      if (pthread_create (&th_dec, NULL, unpack_decompressor_main, &dt) != 0)
        goto thread_fail;
      started_dec = true;
      if (diff != NULL)
        {
          dh = (struct hash_task){
            .in = &mid, .cons = 0, .md = { diff->md }, .nmd = 1
          };
          if (pthread_create (&th_dh, NULL, unpack_hasher_main, &dh) != 0)
            goto thread_fail;
          started_dh = true;
        }
    }
  tar_in = (struct ring_reader){ .ring = compressed ? &mid : &in, .cons = 1 };

  if ((stream_fd >= 0
           ? unpack_ring_write_fd (&tar_in, stream_fd, &st->bytes_written, &e)
           : extract_tar (&x, &tar_in, &e))
      < 0)
    {
      /* A failure the pipeline reported first explains ours. */
      mp_error first;
      if (unpack_job_error (&job, &first))
        e = first;
      else
        unpack_job_fail (&job, &e);
      if (e.code == MP_ERR_INVALID_ARGUMENT)
        {
          /* Bad data: keep reading and hashing the blob, so that a damaged
           * download is reported as a digest mismatch, not as whatever
           * the corruption looked like to the parser. */
          if (compressed)
            unpack_ring_cancel (&mid);
        }
      else
        {
          unpack_ring_cancel (&in);
          if (compressed)
            unpack_ring_cancel (&mid);
        }
    }
  unpack_ring_reader_detach (&tar_in);
  goto join;

thread_fail:
  mp_error_set (&e, MP_ERR_INTERNAL, "unpack: cannot start threads");
  unpack_job_fail (&job, &e);
  unpack_ring_cancel (&in);
  if (compressed)
    unpack_ring_cancel (&mid);

join:
  if (started_reader)
    pthread_join (th_reader, NULL);
  if (started_bh)
    pthread_join (th_bh, NULL);
  if (started_dec)
    pthread_join (th_dec, NULL);
  if (started_dh)
    pthread_join (th_dh, NULL);
  st->bytes_read = rt.bytes;
  st->bytes_uncompressed = compressed ? dt.bytes : rt.bytes;

  if (!o->blob_verified && bh.complete
      && unpack_digest_check (blob, bh.out[0], "blob digest", err) < 0)
    goto out; /* the root cause, whatever else went wrong */
  if (unpack_job_error (&job, err))
    goto out;
  if (bh.nmd > 0 && !bh.complete)
    {
      mp_error_set (err, MP_ERR_INTERNAL, "blob was not hashed completely");
      goto out;
    }
  if (diff != NULL && !diff_implied)
    {
      const unsigned char *got = NULL;
      if (!compressed && o->blob_verified)
        got = bh.out[0];
      else if (!compressed)
        got = diff->md == blob->md ? bh.out[0] : bh.out[1];
      else if (dh.complete)
        got = dh.out[0];
      if (got == NULL)
        {
          mp_error_set (err, MP_ERR_INTERNAL,
                        "tar stream was not hashed completely");
          goto out;
        }
      if (unpack_digest_check (diff, got, "diffId", err) < 0)
        goto out;
    }
  if (stream_fd < 0 && tree_finish_dirs (&x.tree, err) < 0)
    goto out;
  ret = 0;

out:
  if (x.a != NULL)
    archive_read_free (x.a);
  tree_free (&x.tree);
  unpack_ring_destroy (&in);
  unpack_ring_destroy (&mid);
  pthread_mutex_destroy (&job.mu);
  return ret;
}

/* ---- raw layers ---- */

/* Hashes a file as it is being filled, reading the copy itself rather
 * than the source: what is verified is exactly what becomes visible. */
struct tail_hash
{
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int fd;
  const EVP_MD *md;
  uint64_t ready; /* bytes of fd that are final */
  bool done, cancelled;
  uint64_t hashed;
  unsigned char out[EVP_MAX_MD_SIZE];
  bool complete;
  int sys_errno;
};

static void *
tail_hash_main (void *p)
{
  struct tail_hash *t = p;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  unsigned char *buf = malloc (SLOT_SIZE);

  if (ctx == NULL || buf == NULL || !EVP_DigestInit_ex (ctx, t->md, NULL))
    {
      t->sys_errno = ENOMEM;
      goto out;
    }
  for (;;)
    {
      uint64_t avail;
      ssize_t n;

      pthread_mutex_lock (&t->mu);
      while (!t->cancelled && !t->done && t->ready == t->hashed)
        pthread_cond_wait (&t->cv, &t->mu);
      avail = t->ready - t->hashed;
      if (t->cancelled || (avail == 0 && t->done))
        {
          pthread_mutex_unlock (&t->mu);
          break;
        }
      pthread_mutex_unlock (&t->mu);
      n = pread (t->fd, buf, avail < SLOT_SIZE ? avail : SLOT_SIZE,
                 (off_t)t->hashed);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          t->sys_errno = n < 0 ? errno : EIO;
          goto out;
        }
      EVP_DigestUpdate (ctx, buf, (size_t)n);
      t->hashed += (uint64_t)n;
    }
  if (!t->cancelled && EVP_DigestFinal_ex (ctx, t->out, NULL))
    t->complete = true;
out:
  EVP_MD_CTX_free (ctx);
  free (buf);
  return NULL;
}

static void
tail_hash_update (struct tail_hash *t, uint64_t ready, bool done,
                  bool cancelled)
{
  if (t == NULL)
    return; /* a trusted blob: nothing hashes behind the copy */
  pthread_mutex_lock (&t->mu);
  t->ready = ready;
  t->done = done;
  t->cancelled = cancelled;
  pthread_cond_broadcast (&t->cv);
  pthread_mutex_unlock (&t->mu);
}

/* Zero-copy where the filesystems allow, verified in every case:
 *   1. FICLONE shares the source's extents (reflink): btrfs, XFS with
 *      reflink=1, bcachefs, OCFS2, overlayfs on those, when source and
 *      target are on the same filesystem.  No data is copied.
 *   2. copy_file_range copies inside the kernel: NFS 4.2 and SMB do it on
 *      the server, btrfs/XFS may still reflink, ext4 and most others copy
 *      through the page cache without a trip to user space; across
 *      filesystems only since Linux 5.19.
 *   3. read/write otherwise, and when SRC_FD is not a regular file read
 *      from offset 0 (a pipe, a socket, a partly read file).
 * The hasher reads the new file behind the copy, from the page cache. */
static int
raw_copy (int src, int dst, uint64_t max_bytes, struct tail_hash *th,
          struct model_unpack_stats *st, mp_error *err)
{
  struct stat sst;
  uint64_t off = 0;
  bool regular = fstat (src, &sst) == 0 && S_ISREG (sst.st_mode)
                 && lseek (src, 0, SEEK_CUR) == 0;
  cleanup_free unsigned char *buf = NULL;

  if (regular && (uint64_t)sst.st_size > max_bytes)
    goto too_big;
  if (regular && ioctl (dst, FICLONE, src) == 0)
    {
      struct stat dstst;
      if (fstat (dst, &dstst) < 0)
        return mp_error_sys (err, errno, "stat layer file");
      st->copy_method = MODEL_UNPACK_COPY_FICLONE;
      st->bytes_written = (uint64_t)dstst.st_size;
      tail_hash_update (th, (uint64_t)dstst.st_size, true, false);
      return 0;
    }
  if (regular)
    {
      st->copy_method = MODEL_UNPACK_COPY_FILE_RANGE;
      for (;;)
        {
          loff_t in_off = (loff_t)off, out_off = (loff_t)off;
          ssize_t n
              = copy_file_range (src, &in_off, dst, &out_off, COPY_CHUNK, 0);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            {
              /* Not supported here: the rest goes by read/write. */
              if (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS
                  || errno == EINVAL || errno == EBADF)
                break;
              return mp_error_sys (err, errno, "copy layer blob");
            }
          if (n == 0)
            goto done;
          off += (uint64_t)n;
          if (off > max_bytes)
            goto too_big;
          tail_hash_update (th, off, false, false);
        }
    }
  st->copy_method = MODEL_UNPACK_COPY_READ_WRITE;
  buf = malloc (SLOT_SIZE);
  if (buf == NULL)
    return mp_error_sys (err, ENOMEM, "copy layer blob");
  for (;;)
    {
      ssize_t n = regular ? pread (src, buf, SLOT_SIZE, (off_t)off)
                          : read (src, buf, SLOT_SIZE);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mp_error_sys (err, errno, "read layer blob");
      if (n == 0)
        break;
      if ((uint64_t)n > max_bytes - off)
        goto too_big;
      for (ssize_t done = 0; done < n;)
        {
          ssize_t w
              = pwrite (dst, buf + done, (size_t)(n - done), (off_t)off + done);
          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            return mp_error_sys (err, errno, "write layer file");
          done += w;
        }
      off += (uint64_t)n;
      tail_hash_update (th, off, false, false);
    }
done:
  st->bytes_written = off;
  tail_hash_update (th, off, true, false);
  return 0;

too_big:
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                       "raw layer exceeds the limit of %llu bytes "
                       "(max_layer_bytes)",
                       (unsigned long long)max_bytes);
}

/* Hash the first LEN bytes of the file FD with MD into OUT: a raw
 * layer's diffId given in another algorithm than its blob digest. */
static int
rehash_file (int fd, const EVP_MD *md, uint64_t len, const char *path,
             unsigned char out[EVP_MAX_MD_SIZE], mp_error *err)
{
  struct tail_hash t = { .fd = fd, .md = md };

  pthread_mutex_init (&t.mu, NULL);
  pthread_cond_init (&t.cv, NULL);
  t.ready = len;
  t.done = true;
  tail_hash_main (&t);
  pthread_mutex_destroy (&t.mu);
  pthread_cond_destroy (&t.cv);
  if (!t.complete)
    return mp_error_sys (err, t.sys_errno, "hash \"%s\"", path);
  memcpy (out, t.out, EVP_MAX_MD_SIZE);
  return 0;
}

static int
unpack_raw (int src_fd, int root, const struct model_unpack_opts *o,
            const struct digest *blob, const struct digest *diff,
            struct model_unpack_stats *st, mp_error *err)
{
  char path[MODEL_UNPACK_MAX_PATH + 1], split[MODEL_UNPACK_MAX_PATH + 1];
  const struct model_file_meta *m = o->raw_meta;
  uint64_t max_bytes, max_entries;
  struct tree t = { .root = root,
                    .cached_fd = -1,
                    .no_openat2 = model_unpack_no_openat2 };
  struct tail_hash th = { .md = blob->md };
  cleanup_close int fd = -1;
  const char *dir, *name;
  pthread_t thread;
  int d, ret = -1;

  unpack_effective_limits (o, src_fd, &max_bytes, &max_entries);
  (void)max_entries;
  if (o->raw_path == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "raw layer without a file path");
  if (layer_path_normalize (o->raw_path, path, "raw layer path", err) < 0)
    return -1;
  if (path[0] == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "raw layer path \"%s\" names the layer root",
                         o->raw_path);
  memcpy (split, path, sizeof path);
  path_split (split, &dir, &name);
  d = tree_parent (&t, dir, path, err);
  if (d < 0)
    goto out;
  /* Read-write: the hasher reads back what was written. */
  fd = openat (d, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
               0600);
  if (fd < 0)
    {
      mp_error_sys (err, errno, "create \"%s\"", path);
      goto out;
    }
  th.fd = fd;
  pthread_mutex_init (&th.mu, NULL);
  pthread_cond_init (&th.cv, NULL);
  if (o->blob_verified)
    {
      /* The source vouches for the bytes: copy (a clone where the
       * filesystem can) without reading them.  The diffId of a raw layer
       * is its blob digest, which then needs no hashing either. */
      if (raw_copy (src_fd, fd, max_bytes, NULL, st, err) < 0)
        goto out_th;
      st->bytes_read = st->bytes_uncompressed = st->bytes_written;
      if (diff != NULL && diff->md == blob->md
          && unpack_digest_check (diff, blob->want, "diffId", err) < 0)
        goto out_th;
      if (diff != NULL && diff->md != blob->md)
        {
          unsigned char md[EVP_MAX_MD_SIZE];
          if (rehash_file (fd, diff->md, st->bytes_written, path, md, err) < 0
              || unpack_digest_check (diff, md, "diffId", err) < 0)
            goto out_th;
        }
      goto meta;
    }
  if (pthread_create (&thread, NULL, tail_hash_main, &th) != 0)
    {
      mp_error_set (err, MP_ERR_INTERNAL, "unpack: cannot start a thread");
      goto out_th;
    }
  if (raw_copy (src_fd, fd, max_bytes, &th, st, err) < 0)
    {
      tail_hash_update (&th, th.ready, true, true);
      pthread_join (thread, NULL);
      goto out_th;
    }
  pthread_join (thread, NULL);
  if (!th.complete)
    {
      mp_error_sys (err, th.sys_errno, "hash \"%s\"", path);
      goto out_th;
    }
  st->bytes_read = st->bytes_uncompressed = th.hashed;
  if (unpack_digest_check (blob, th.out, "blob digest", err) < 0)
    goto out_th;
  /* A raw layer's diffId is its blob digest, possibly in another
   * algorithm: rehash in that case rather than trust it. */
  if (diff != NULL)
    {
      unsigned char md[EVP_MAX_MD_SIZE];
      if (diff->md == blob->md)
        memcpy (md, th.out, sizeof md);
      else
        {
          if (rehash_file (fd, diff->md, th.hashed, path, md, err) < 0)
            goto out_th;
        }
      if (unpack_digest_check (diff, md, "diffId", err) < 0)
        goto out_th;
    }
meta:
  if (apply_meta_fd (fd, m && m->has_mode ? m->mode : 0644,
                     o->keep_owners && m && m->has_owner, m ? m->uid : 0,
                     m ? m->gid : 0, m && m->has_mtime, m ? &m->mtime : NULL)
      < 0)
    {
      mp_error_sys (err, errno, "\"%s\": set metadata", path);
      goto out_th;
    }
  if (close (mp_steal_fd (&fd)) < 0)
    {
      mp_error_sys (err, errno, "close \"%s\"", path);
      goto out_th;
    }
  st->files = 1;
  ret = 0;
out_th:
  pthread_mutex_destroy (&th.mu);
  pthread_cond_destroy (&th.cv);
out:
  tree_free (&t);
  return ret;
}

/* ---- entry point ---- */

static int
make_tmpdir (int parent, const char *dest_name, char *out, size_t outsz,
             mp_error *err)
{
  for (int attempt = 0; attempt < 16; attempt++)
    {
      uint32_t rnd;
      if (getrandom (&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint32_t)getpid () ^ (uint32_t)time (NULL) ^ (uint32_t)attempt;
      snprintf (out, outsz, "%s%.200s.%08x", MODEL_UNPACK_TMP_PREFIX, dest_name,
                rnd);
      if (mkdirat (parent, out, 0700) == 0)
        return 0;
      if (errno != EEXIST)
        return mp_error_sys (err, errno, "create work directory %s", out);
    }
  return mp_error_set (err, MP_ERR_INTERNAL,
                       "cannot find a free work directory name");
}

int
model_unpack_layer (int src_fd, int dest_parent_fd, const char *dest_name,
                    const struct model_unpack_opts *o,
                    struct model_unpack_stats *stats, mp_error *err)
{
  struct model_unpack_stats dummy;
  struct digest blob, diff;
  char tmp[NAME_MAX + 1];
  cleanup_close int root = -1;
  struct stat st;
  int r;

  if (stats == NULL)
    stats = &dummy;
  memset (stats, 0, sizeof *stats);
  if (o == NULL || dest_name == NULL || dest_name[0] == '\0'
      || strchr (dest_name, '/') != NULL || strcmp (dest_name, ".") == 0
      || strcmp (dest_name, "..") == 0 || strlen (dest_name) > NAME_MAX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "unpack: bad destination name");
  if (o->format != MODEL_LAYER_RAW && o->format != MODEL_LAYER_TAR
      && o->format != MODEL_LAYER_TAR_GZIP && o->format != MODEL_LAYER_TAR_ZSTD)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "unpack: unknown layer format %d", (int)o->format);
  if (o->expected_digest == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "unpack: the blob digest is required");
  if (unpack_digest_parse (o->expected_digest, "layer digest", &blob, err) < 0)
    return -1;
  if (o->expected_diff_id != NULL
      && unpack_digest_parse (o->expected_diff_id, "layer diffId", &diff, err)
             < 0)
    return -1;
  if (fstatat (dest_parent_fd, dest_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return mp_error_set (err, MP_ERR_ALREADY_EXISTS, "unpack: %s exists",
                         dest_name);

  if (make_tmpdir (dest_parent_fd, dest_name, tmp, sizeof tmp, err) < 0)
    return -1;
  root = openat (dest_parent_fd, tmp,
                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0)
    {
      mp_error_sys (err, errno, "open work directory %s", tmp);
      goto fail;
    }
  /* The layer root is 0755 unless the archive says otherwise (a "./"
   * entry, applied later). */
  if (fchmod (root, 0755) < 0)
    {
      mp_error_sys (err, errno, "chmod work directory %s", tmp);
      goto fail;
    }
  if (o->format == MODEL_LAYER_RAW)
    r = unpack_raw (src_fd, root, o, &blob, o->expected_diff_id ? &diff : NULL,
                    stats, err);
  else
    r = unpack_tar (src_fd, root, -1, o, &blob,
                    o->expected_diff_id ? &diff : NULL, stats, err);
  if (r < 0)
    goto fail;
  if (renameat2 (dest_parent_fd, tmp, dest_parent_fd, dest_name,
                 RENAME_NOREPLACE)
      < 0)
    {
      if (errno == EEXIST || errno == ENOTEMPTY)
        mp_error_set (err, MP_ERR_ALREADY_EXISTS, "unpack: %s exists",
                      dest_name);
      else
        mp_error_sys (err, errno, "unpack: rename to %s", dest_name);
      goto fail;
    }
  return 0;

fail:
  {
    mp_error ignored;
    mp_rmtree_at (dest_parent_fd, tmp, &ignored);
  }
  return -1;
}

int
model_unpack_decompress (int src_fd, int out_fd,
                         const struct model_unpack_opts *o,
                         struct model_unpack_stats *stats, mp_error *err)
{
  struct model_unpack_stats dummy;
  struct digest blob, diff;

  if (stats == NULL)
    stats = &dummy;
  memset (stats, 0, sizeof *stats);
  if (o == NULL
      || (o->format != MODEL_LAYER_TAR_GZIP
          && o->format != MODEL_LAYER_TAR_ZSTD)
      || o->expected_digest == NULL || o->expected_diff_id == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "decompress: a compressed tar layer, its digest and "
                         "its diffId are required");
  if (unpack_digest_parse (o->expected_digest, "layer digest", &blob, err) < 0
      || unpack_digest_parse (o->expected_diff_id, "layer diffId", &diff, err)
             < 0)
    return -1;
  return unpack_tar (src_fd, -1, out_fd, o, &blob, &diff, stats, err);
}
