/* Mounting an EROFS index (store/erofs.h) over the blobs it points into.
 *
 * Two ways, chosen by the caller (store/cache_index.c picks by kernel):
 *   - EROFS_MOUNT_FILE: the index file is the mount's source and every blob
 *     an extra device, all plain files (file-backed mounts, Linux 6.12+);
 *   - EROFS_MOUNT_LOOP: each file attached to a read-only loop device first
 *     (Linux 6.4+, for 512-byte blocks), the loop devices released by the
 *     kernel when the mount goes (autoclear).
 * Devices are given one fsconfig(2) call each, so a model of thousands of
 * layers is not bounded by the page that classic mount options fit in.
 * Mounts are read-only, nodev and nosuid.  A mounted index keeps its blob
 * files open: removing a blob (containerd's garbage collection) does not
 * break a reader of the mount. */
#ifndef MP_STORE_EROFS_MOUNT_H
#define MP_STORE_EROFS_MOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

enum erofs_mount_mode
{
  EROFS_MOUNT_FILE,
  EROFS_MOUNT_LOOP,
};

const char *erofs_mount_mode_name (enum erofs_mount_mode m);

/* Mount the index at INDEX_PATH (a file of ours; shown as the mount's
 * source) with BLOB_FDS[i] as device i + 1, at TARGET (an existing
 * directory).  The fds stay the caller's.  Errors: MP_ERR_UNIMPLEMENTED
 * when the kernel lacks what MODE needs (no erofs, no file-backed mounts,
 * no 512-byte blocks, no loop devices) with a message naming it;
 * MP_ERR_INTERNAL otherwise. */
int erofs_mount_index (const char *index_path, const int *blob_fds, size_t n,
                       const char *target, enum erofs_mount_mode mode,
                       mp_error *err);

/* Detach whatever is mounted at TARGET, lazily: pods reading it keep it
 * until they let go.  0 when nothing was mounted there. */
int erofs_mount_detach (const char *target, mp_error *err);

/* Whether TARGET is the root of an EROFS mount. */
bool erofs_mount_is_erofs (const char *target);

#endif
