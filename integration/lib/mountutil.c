/* Mounting snapshotter mount lists.  See mountutil.h. */
#include "integration/lib/mountutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"

void
mountutil_mounts_free (mountutil_mount *mounts, size_t n)
{
  if (mounts == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    {
      free (mounts[i].type);
      free (mounts[i].source);
      free (mounts[i].target);
      for (size_t j = 0; j < mounts[i].n_options; j++)
        free (mounts[i].options[j]);
      free (mounts[i].options);
    }
  free (mounts);
}

void
mountutil_parsed_free (mountutil_parsed *p)
{
  free (p->data);
  free (p->chdir);
  p->data = p->chdir = NULL;
}

/* The fstab words that are mount flags rather than filesystem data, with
 * whether they set or clear their flag (the same vocabulary containerd
 * accepts). */
static const struct
{
  const char *name;
  bool clear;
  unsigned long flag;
} flag_words[] = {
  { "async", true, MS_SYNCHRONOUS },
  { "atime", true, MS_NOATIME },
  { "bind", false, MS_BIND },
  { "defaults", false, 0 },
  { "dev", true, MS_NODEV },
  { "diratime", true, MS_NODIRATIME },
  { "dirsync", false, MS_DIRSYNC },
  { "exec", true, MS_NOEXEC },
  { "mand", false, MS_MANDLOCK },
  { "noatime", false, MS_NOATIME },
  { "nodev", false, MS_NODEV },
  { "nodiratime", false, MS_NODIRATIME },
  { "noexec", false, MS_NOEXEC },
  { "nomand", true, MS_MANDLOCK },
  { "norelatime", true, MS_RELATIME },
  { "nostrictatime", true, MS_STRICTATIME },
  { "nosuid", false, MS_NOSUID },
  { "rbind", false, MS_BIND | MS_REC },
  { "relatime", false, MS_RELATIME },
  { "remount", false, MS_REMOUNT },
  { "ro", false, MS_RDONLY },
  { "rw", true, MS_RDONLY },
  { "strictatime", false, MS_STRICTATIME },
  { "suid", true, MS_NOSUID },
  { "sync", false, MS_SYNCHRONOUS },
};

static const struct
{
  const char *name;
  unsigned long flag;
} propagation_words[] = {
  { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
  { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
  { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
  { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

static bool
starts_with (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

/* Length of the deepest directory that contains every path of the
 * colon-separated list DIRS (a prefix of the first path, without its
 * trailing slash), or 0 when that is "/": the longest common prefix cut
 * back to its last slash, so that ".../snapshots/12/fs" and
 * ".../snapshots/13/fs" give ".../snapshots" and never ".../snapshots/1". */
static size_t
common_parent_len (const char *dirs)
{
  const char *first = dirs;
  size_t common = strcspn (first, ":");
  for (const char *p = dirs; *p != '\0';)
    {
      size_t len = strcspn (p, ":");
      size_t i = 0;
      while (i < common && i < len && p[i] == first[i])
        i++;
      common = i;
      p += len;
      if (*p == ':')
        p++;
    }
  while (common > 0 && first[common - 1] != '/')
    common--;
  return common > 0 ? common - 1 : 0;
}

/* When PATH (a lowerdir list entry or an upperdir/workdir value) lies under
 * BASE (BASE_LEN bytes, no trailing slash), append it relative to BASE,
 * otherwise as it is. */
static int
append_relative (FILE *out, const char *path, size_t len, const char *base,
                 size_t base_len)
{
  if (len > base_len + 1 && memcmp (path, base, base_len) == 0
      && path[base_len] == '/')
    return fwrite (path + base_len + 1, 1, len - base_len - 1, out)
                   == len - base_len - 1
               ? 0
               : -1;
  return fwrite (path, 1, len, out) == len ? 0 : -1;
}

/* Rewrite an overlay's DATA (comma-joined) with paths relative to the
 * lowerdirs' common parent.  Leaves *chdir NULL when there is nothing to
 * gain. */
static int
compact_overlay_data (char **data, char **chdir, mp_error *err)
{
  const char *lower = NULL;
  for (const char *p = *data; p != NULL && *p != '\0';)
    {
      if (starts_with (p, "lowerdir="))
        {
          lower = p + strlen ("lowerdir=");
          break;
        }
      p = strchr (p, ',');
      if (p != NULL)
        p++;
    }
  if (lower == NULL)
    return 0;

  size_t lower_len = strcspn (lower, ",");
  cleanup_free char *lowers = strndup (lower, lower_len);
  if (lowers == NULL)
    return mp_error_sys (err, ENOMEM, "overlay options");
  if (strchr (lowers, ':') == NULL)
    return 0; /* one layer: the options are long for another reason */
  size_t base_len = common_parent_len (lowers);
  if (base_len == 0)
    return 0;

  cleanup_free char *base = strndup (lowers, base_len);
  cleanup_free char *buf = NULL;
  size_t buf_len = 0;
  FILE *out = open_memstream (&buf, &buf_len);
  if (base == NULL || out == NULL)
    {
      if (out != NULL)
        fclose (out);
      return mp_error_sys (err, ENOMEM, "overlay options");
    }

  int rc = 0;
  bool first_opt = true;
  for (const char *p = *data; rc == 0 && *p != '\0';)
    {
      size_t len = strcspn (p, ",");
      if (!first_opt)
        rc = fputc (',', out) == EOF ? -1 : 0;
      first_opt = false;
      const char *key_end = memchr (p, '=', len);
      size_t key_len = key_end != NULL ? (size_t)(key_end - p) + 1 : 0;
      if (rc == 0 && key_len > 0
          && (starts_with (p, "lowerdir=") || starts_with (p, "upperdir=")
              || starts_with (p, "workdir=")))
        {
          rc = fwrite (p, 1, key_len, out) == key_len ? 0 : -1;
          /* lowerdir is a colon list; the others are single paths. */
          for (const char *q = p + key_len; rc == 0 && q < p + len;)
            {
              size_t qlen = starts_with (p, "lowerdir=")
                                ? strcspn (q, ":,")
                                : (size_t)(p + len - q);
              rc = append_relative (out, q, qlen, base, base_len);
              q += qlen;
              if (rc == 0 && q < p + len && *q == ':')
                {
                  rc = fputc (':', out) == EOF ? -1 : 0;
                  q++;
                }
            }
        }
      else if (rc == 0)
        rc = fwrite (p, 1, len, out) == len ? 0 : -1;
      p += len;
      if (*p == ',')
        p++;
    }
  if (fclose (out) != 0 || rc != 0)
    return mp_error_sys (err, ENOMEM, "overlay options");

  free (*data);
  *data = steal_pointer (&buf);
  *chdir = steal_pointer (&base);
  return 0;
}

int
mountutil_parse (const mountutil_mount *m, mountutil_parsed *out, mp_error *err)
{
  memset (out, 0, sizeof *out);
  const char *type = m->type != NULL ? m->type : "";
  if (starts_with (type, "fuse.") || starts_with (type, "fuse3."))
    return mp_error_set (err, MP_ERR_UNIMPLEMENTED,
                         "mount type %s needs a FUSE helper", type);

  cleanup_free char *data = NULL;
  size_t data_len = 0;
  FILE *out_data = open_memstream (&data, &data_len);
  if (out_data == NULL)
    return mp_error_sys (err, errno, "mount options");
  bool any = false;
  int rc = 0;
  for (size_t i = 0; i < m->n_options && rc == 0; i++)
    {
      const char *o = m->options[i];
      bool known = false;
      for (size_t k = 0; k < sizeof flag_words / sizeof flag_words[0]; k++)
        if (strcmp (o, flag_words[k].name) == 0)
          {
            if (flag_words[k].clear)
              out->flags &= ~flag_words[k].flag;
            else
              out->flags |= flag_words[k].flag;
            known = true;
            break;
          }
      for (size_t k = 0;
           !known && k < sizeof propagation_words / sizeof propagation_words[0];
           k++)
        if (strcmp (o, propagation_words[k].name) == 0)
          {
            out->propagation |= propagation_words[k].flag;
            known = true;
          }
      if (known)
        continue;
      if (strcmp (o, "loop") == 0)
        {
          rc = mp_error_set (err, MP_ERR_UNIMPLEMENTED,
                             "mount option \"loop\" is not supported here");
          break;
        }
      if ((any && fputc (',', out_data) == EOF) || fputs (o, out_data) == EOF)
        rc = mp_error_sys (err, ENOMEM, "mount options");
      any = true;
    }
  if (fclose (out_data) != 0 && rc == 0)
    rc = mp_error_sys (err, ENOMEM, "mount options");
  if (rc != 0)
    return rc;

  /* The kernel copies one page of mount data; containerd starts compacting
   * half a kilobyte before that. */
  long page = sysconf (_SC_PAGESIZE);
  if (strcmp (type, "overlay") == 0 && (long)data_len >= page - 512
      && compact_overlay_data (&data, &out->chdir, err) < 0)
    return -1;
  if ((long)strlen (data) >= page)
    {
      mountutil_parsed_free (out);
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "mount options of %s are %zu bytes, more than a "
                           "page even with relative paths",
                           m->source != NULL ? m->source : type, strlen (data));
    }
  out->data = steal_pointer (&data);
  return 0;
}

/* mount(2) from inside DIR, in a child so that the caller's working
 * directory never changes under its other threads.  The child only makes
 * system calls, which is all a forked copy of a threaded process may do. */
static int
mount_from (const char *dir, const char *source, const char *target,
            const char *type, unsigned long flags, const char *data)
{
  pid_t pid = fork ();
  if (pid < 0)
    return -1;
  if (pid == 0)
    {
      if (chdir (dir) < 0 || mount (source, target, type, flags, data) < 0)
        _exit (errno > 0 && errno < 256 ? errno : EIO);
      _exit (0);
    }
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  errno = WIFEXITED (status) ? WEXITSTATUS (status) : EIO;
  return -1;
}

static int
mount_one (const mountutil_mount *m, const char *target, mp_error *err)
{
  mountutil_parsed p;
  if (mountutil_parse (m, &p, err) < 0)
    return mp_error_prefix (err, "mount %s on %s", m->source, target);

  const unsigned long ptypes
      = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
  unsigned long flags = p.flags & ~ptypes;
  int rc = 0;
  if (!(flags & MS_REMOUNT) || *p.data != '\0')
    {
      int r = p.chdir != NULL
                  ? mount_from (p.chdir, m->source, target, m->type, flags,
                                p.data)
                  : mount (m->source, target, m->type, flags, p.data);
      if (r < 0)
        rc = mp_error_sys (err, errno, "mount -t %s %s %s -o %s%s%s", m->type,
                           m->source, target, p.data,
                           p.chdir != NULL ? " in " : "",
                           p.chdir != NULL ? p.chdir : "");
    }
  if (rc == 0 && p.propagation != 0
      && mount (NULL, target, NULL, p.propagation, NULL) < 0)
    rc = mp_error_sys (err, errno, "set propagation of %s", target);
  /* MS_RDONLY on a new bind mount is ignored; it takes a remount. */
  if (rc == 0 && (flags & (MS_BIND | MS_RDONLY)) == (MS_BIND | MS_RDONLY)
      && mount (NULL, target, NULL, flags | MS_REMOUNT, NULL) < 0)
    rc = mp_error_sys (err, errno, "remount %s read-only", target);
  mountutil_parsed_free (&p);
  return rc;
}

int
mountutil_mount_all (const mountutil_mount *mounts, size_t n,
                     const char *target, mp_error *err)
{
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *where = NULL;
      const char *sub = mounts[i].target;
      if (sub != NULL && *sub != '\0')
        {
          if (strstr (sub, "..") != NULL)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "mount target %s leaves %s", sub, target);
          if (asprintf (&where, "%s/%s", target, sub) < 0)
            return mp_error_sys (err, ENOMEM, "mount target");
        }
      if (mount_one (&mounts[i], where != NULL ? where : target, err) < 0)
        {
          if (i > 0)
            mountutil_unmount_all (target, true, NULL);
          return -1;
        }
    }
  return 0;
}

int
mountutil_unmount_all (const char *target, bool detach, mp_error *err)
{
  struct stat st;
  if (stat (target, &st) < 0 && errno == ENOENT)
    return 0;
  for (int busy = 0;;)
    {
      if (umount2 (target, detach ? MNT_DETACH : 0) == 0)
        continue;
      if (errno == EINVAL)
        return 0; /* not (any more) a mount point */
      if (errno == EBUSY && busy++ < 50)
        {
          usleep (50 * 1000);
          continue;
        }
      return mp_error_sys (err, errno, "unmount %s", target);
    }
}
