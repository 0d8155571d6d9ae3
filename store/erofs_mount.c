#include "store/erofs_mount.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "util/cleanup.h"

#define EROFS_MAGIC 0xE0F5E1E2u

const char *
erofs_mount_mode_name (enum erofs_mount_mode m)
{
  return m == EROFS_MOUNT_LOOP ? "loop" : "erofs";
}

/* A loop device is a number the kernel hands out and someone else may take
 * before we configure it: retry on EBUSY. */
static int
loop_attach (int file_fd, char *dev, size_t devlen, mp_error *err)
{
  cleanup_close int ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC);

  if (ctl < 0)
    return mp_error_set (
        err, errno == ENOENT ? MP_ERR_UNIMPLEMENTED : MP_ERR_INTERNAL,
        "loop devices: open /dev/loop-control: %s", strerror (errno));
  for (int attempt = 0; attempt < 64; attempt++)
    {
      struct loop_config cfg = { 0 };
      int nr = ioctl (ctl, LOOP_CTL_GET_FREE);
      int fd, r, e;

      if (nr < 0)
        return mp_error_sys (err, errno, "loop devices: find a free one");
      snprintf (dev, devlen, "/dev/loop%d", nr);
      fd = open (dev, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        {
          if (errno == ENOENT)
            continue; /* udev has not made the node yet */
          return mp_error_sys (err, errno, "open %s", dev);
        }
      cfg.fd = (unsigned)file_fd;
      cfg.block_size = 512;
      /* Autoclear: the device goes when its last user (our mount, or this
       * fd if mounting fails) lets go.  Direct I/O keeps the blob's pages
       * from being cached twice (loop device and file). */
      cfg.info.lo_flags
          = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
      r = ioctl (fd, LOOP_CONFIGURE, &cfg);
      if (r < 0 && errno == EINVAL)
        {
          cfg.info.lo_flags &= ~(unsigned)LO_FLAGS_DIRECT_IO;
          r = ioctl (fd, LOOP_CONFIGURE, &cfg);
        }
      if (r == 0)
        return fd;
      e = errno;
      close (fd);
      if (e != EBUSY)
        return mp_error_sys (err, e, "attach %s", dev);
    }
  return mp_error_set (err, MP_ERR_UNAVAILABLE,
                       "loop devices: every free one was taken before we "
                       "could attach it (64 tries)");
}

static int
fs_error (const char *what, int e, mp_error *err)
{
  if (e == ENODEV)
    return mp_error_set (err, MP_ERR_UNIMPLEMENTED,
                         "the kernel has no erofs filesystem (load the erofs "
                         "module, or set [model_cache] mount = \"extract\")");
  return mp_error_sys (err, e, "%s", what);
}

int
erofs_mount_index (const char *index_path, const int *blob_fds, size_t n,
                   const char *target, enum erofs_mount_mode mode,
                   mp_error *err)
{
  cleanup_close int fsfd = -1, mfd = -1, index_loop = -1;
  int *loops = NULL;
  int ret = -1;
  char path[64];

  if (mode == EROFS_MOUNT_LOOP)
    {
      cleanup_close int ifd
          = open (index_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

      if (ifd < 0)
        return mp_error_sys (err, errno, "open %s", index_path);
      loops = calloc (n ? n : 1, sizeof *loops);
      if (loops == NULL)
        return mp_error_sys (err, ENOMEM, "mount index");
      for (size_t i = 0; i < n; i++)
        loops[i] = -1;
      index_loop = loop_attach (ifd, path, sizeof path, err);
      if (index_loop < 0)
        goto out;
      for (size_t i = 0; i < n; i++)
        {
          char dev[32];
          loops[i] = loop_attach (blob_fds[i], dev, sizeof dev, err);
          if (loops[i] < 0)
            goto out;
        }
    }

  fsfd = fsopen ("erofs", FSOPEN_CLOEXEC);
  if (fsfd < 0)
    {
      fs_error ("fsopen erofs", errno, err);
      goto out;
    }
  /* A read-only superblock, not only a read-only mount: the loop devices
   * are read-only and would be refused for writing. */
  if (fsconfig (fsfd, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0)
    {
      fs_error ("erofs: read-only", errno, err);
      goto out;
    }
  if (fsconfig (fsfd, FSCONFIG_SET_STRING, "source",
                mode == EROFS_MOUNT_LOOP ? path : index_path, 0)
      < 0)
    {
      fs_error ("erofs: set the index as source", errno, err);
      goto out;
    }
  for (size_t i = 0; i < n; i++)
    {
      snprintf (path, sizeof path, "/proc/self/fd/%d",
                mode == EROFS_MOUNT_LOOP ? loops[i] : blob_fds[i]);
      if (fsconfig (fsfd, FSCONFIG_SET_STRING, "device", path, 0) < 0)
        {
          fs_error ("erofs: add a blob device", errno, err);
          goto out;
        }
    }
  if (fsconfig (fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    {
      int e = errno;

      /* A file as source needs file-backed mounts (6.12); 512-byte blocks
       * need 6.4: the kernel says EINVAL or ENOTBLK for both. */
      if (e == ENOTBLK || (e == EINVAL && mode == EROFS_MOUNT_FILE))
        mp_error_set (err, MP_ERR_UNIMPLEMENTED,
                      "the kernel cannot mount the index %s (file-backed "
                      "EROFS mounts need Linux 6.12: try [model_cache] "
                      "mount = \"loop\"): %s",
                      erofs_mount_mode_name (mode), strerror (e));
      else if (e == EINVAL)
        mp_error_set (err, MP_ERR_UNIMPLEMENTED,
                      "the kernel refused the index (512-byte EROFS blocks "
                      "need Linux 6.4: set [model_cache] mount = "
                      "\"extract\"): %s",
                      strerror (e));
      else
        fs_error ("erofs: create the mount", e, err);
      goto out;
    }
  mfd = fsmount (fsfd, FSMOUNT_CLOEXEC,
                 MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
  if (mfd < 0)
    {
      fs_error ("erofs: make the mount", errno, err);
      goto out;
    }
  if (move_mount (mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    {
      mp_error_sys (err, errno, "erofs: mount at %s", target);
      goto out;
    }
  ret = 0;
out:
  /* The mount holds the loop devices now; ours go (autoclear detaches them
   * if the mount did not happen). */
  if (loops != NULL)
    for (size_t i = 0; i < n; i++)
      if (loops[i] >= 0)
        close (loops[i]);
  free (loops);
  return ret;
}

int
erofs_mount_detach (const char *target, mp_error *err)
{
  if (umount2 (target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
    {
      if (errno == EINVAL || errno == ENOENT)
        return 0; /* not a mount point */
      return mp_error_sys (err, errno, "unmount %s", target);
    }
  return 0;
}

bool
erofs_mount_is_erofs (const char *target)
{
  struct statfs fs;

  return statfs (target, &fs) == 0 && (unsigned)fs.f_type == EROFS_MAGIC;
}
