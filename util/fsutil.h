/* Filesystem helpers that work relative to directory fds and never follow
 * symlinks inside the trees they walk. */
#ifndef MP_UTIL_FSUTIL_H
#define MP_UTIL_FSUTIL_H

#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

/* Remove NAME under DIRFD and everything below it; no error if absent.
 * Does not cross into other mounts' contents: a mount point inside the
 * tree makes the removal fail rather than delete what is mounted there. */
int mp_rmtree_at (int dirfd, const char *name, mp_error *err);

/* mkdir -p with MODE for each created component. */
int mp_mkdir_p (const char *path, mode_t mode, mp_error *err);

/* Walk the tree at PATH (not following symlinks), counting 512-byte blocks
 * and inodes, each distinct inode once. */
int mp_disk_usage (const char *path, int64_t *size, int64_t *inodes,
                   mp_error *err);

#endif
