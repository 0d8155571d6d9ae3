/* Mount what a snapshotter returns, the way containerd's runtime would.
 *
 * A snapshotter answers Prepare/View/Mounts with a list of mount(2)
 * descriptions (type, source, fstab-style options).  The integration
 * programs mount those lists as root to write into active snapshots and to
 * read committed ones back, so the options must mean here what they mean to
 * containerd: "bind"/"rbind" are MS_BIND / MS_BIND|MS_REC, "ro" on a bind is
 * applied with a second, remounting call (the kernel ignores MS_RDONLY on
 * the first), propagation options go through a call of their own, and every
 * option that is not a flag is filesystem data.
 *
 * An overlay with many layers has options longer than the one page the
 * kernel copies for mount data.  As containerd does, the lowerdir paths are
 * then made relative to the deepest directory they all live in, and the
 * mount is done by a child process that changes into that directory first,
 * so the caller's working directory (shared by all its threads) never
 * moves. */
#ifndef MP_INTEGRATION_MOUNTUTIL_H
#define MP_INTEGRATION_MOUNTUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct mountutil_mount
{
  char *type; /* "bind", "overlay", ... */
  char *source;
  char *target; /* relative to the mount point; "" or NULL for the root */
  char **options;
  size_t n_options;
} mountutil_mount;

/* Free the strings of N mounts and the array itself. */
void mountutil_mounts_free (mountutil_mount *mounts, size_t n);

/* Mount MOUNTS[0..N) in order onto TARGET (each one on top of the previous,
 * as containerd's mount.All does).  On failure the mounts already made are
 * undone. */
int mountutil_mount_all (const mountutil_mount *mounts, size_t n,
                         const char *target, mp_error *err);

/* Unmount everything stacked on TARGET, top first, until it is no mount
 * point any more.  DETACH unmounts lazily (MNT_DETACH), as containerd's
 * snapshotter suite does.  A TARGET that does not exist is not an error. */
int mountutil_unmount_all (const char *target, bool detach, mp_error *err);

/* The options of one mount split into mount(2) arguments.  Exposed so the
 * translation can be tested without mounting anything. */
typedef struct mountutil_parsed
{
  unsigned long flags;       /* MS_* for the first mount call */
  unsigned long propagation; /* MS_SHARED/PRIVATE/SLAVE/UNBINDABLE | MS_REC */
  char *data;                /* comma-joined filesystem options, malloc'd */
  char *chdir;               /* directory to mount from, or NULL */
} mountutil_parsed;

/* Translate the options of M.  When an overlay's options would not fit in a
 * page, DATA has relative lowerdirs and CHDIR says where they are relative
 * to.  Loop devices and FUSE helpers are not supported (MP_ERR_UNIMPLEMENTED)
 * since no snapshotter under test returns them. */
int mountutil_parse (const mountutil_mount *m, mountutil_parsed *out,
                     mp_error *err);

void mountutil_parsed_free (mountutil_parsed *p);

#endif
