/* Private scratch directories inside a directory other users may write to
 * (an extract target can be /tmp or any 1777/0777 directory).
 *
 * A scratch directory is named PREFIX<pid>.<random>, so no other user can
 * plant a symlink or a directory at its name in advance; it is created
 * with mode 0700, opened without following symlinks and checked (a
 * directory, ours), and held under an exclusive flock for as long as its
 * fd is open.  All work inside it goes through that fd.  A scratch
 * directory whose process died (killed, crashed) is not flocked any more:
 * mp_scratch_sweep removes it. */
#ifndef MP_UTIL_SCRATCH_H
#define MP_UTIL_SCRATCH_H

#include <stddef.h>

#include "util/error.h"

/* Create a scratch directory PREFIX<pid>.<random> under DIRFD; its name
 * goes into NAME (NAMESIZE bytes) and a flocked O_DIRECTORY fd into *FD.
 * Returns 0 or -1. */
int mp_scratch_create (int dirfd, const char *prefix, char *name,
                       size_t namesize, int *fd, mp_error *err);

/* Remove the scratch directory NAME under DIRFD whose fd is FD: its
 * contents through FD, then the directory itself if it is still the one at
 * NAME.  FD stays open (the caller closes it).  Returns 0 or -1. */
int mp_scratch_remove (int dirfd, const char *name, int fd, mp_error *err);

/* Remove the stale scratch directories under DIRFD: entries named PREFIX*
 * that are directories (not symlinks) owned by our effective uid and that
 * no process holds a flock on.  Best effort: returns how many were removed;
 * anything it cannot remove stays. */
int mp_scratch_sweep (int dirfd, const char *prefix);

#endif
