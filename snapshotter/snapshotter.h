/* The snapshot engine: an overlay snapshotter with containerd's semantics.
 *
 * Layout under ROOT:
 *   metadata.lmdb            all snapshot records (one LMDB transaction per
 *                            operation)
 *   snapshots/<id>/fs        the snapshot's files (the overlay upperdir)
 *   snapshots/<id>/work      overlay workdir (active snapshots only)
 *   snapshots/new-*, rm-*    directories being created or removed; whatever
 *                            a crash leaves of them is removed by Cleanup
 *
 * A directory becomes a snapshot only when the transaction that records it
 * commits, and a record is only deleted before its directory, so a crash at
 * any point leaves either a complete snapshot or an unreferenced directory.
 *
 * All functions are thread-safe; they return 0 (or a pointer) on success and
 * -1 (or NULL) with *err filled on failure, err->code telling containerd's
 * error class (not found, already exists, failed precondition, ...). */
#ifndef MP_SNAPSHOTTER_SNAPSHOTTER_H
#define MP_SNAPSHOTTER_SNAPSHOTTER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/error.h"
#include "util/filter.h"

/* Values match the wire enum containerd.services.snapshots.v1.Kind. */
enum snapshot_kind
{
  SNAPSHOT_KIND_UNKNOWN = 0,
  SNAPSHOT_KIND_VIEW = 1,
  SNAPSHOT_KIND_ACTIVE = 2,
  SNAPSHOT_KIND_COMMITTED = 3,
};

typedef struct snapshot_label
{
  char *key;
  char *value;
} snapshot_label;

typedef struct snapshot_info
{
  char *name;
  char *parent; /* "" when none */
  enum snapshot_kind kind;
  struct timespec created;
  struct timespec updated;
  snapshot_label *labels;
  size_t nlabels;
} snapshot_info;

typedef struct snapshot_mount
{
  char *type;
  char *source;
  char **options;
  size_t noptions;
} snapshot_mount;

typedef struct snapshot_mounts
{
  snapshot_mount *items;
  size_t n;
} snapshot_mounts;

typedef struct snapshot_usage
{
  int64_t size;   /* bytes of disk blocks in use */
  int64_t inodes; /* distinct inodes */
} snapshot_usage;

typedef struct snapshotter snapshotter;

/* Open (creating if needed) the snapshotter rooted at ROOT. */
snapshotter *snapshotter_open (const char *root, mp_error *err);
void snapshotter_close (snapshotter *sn);
const char *snapshotter_root (const snapshotter *sn);

int snapshotter_prepare (snapshotter *sn, const char *key, const char *parent,
                         const snapshot_label *labels, size_t nlabels,
                         snapshot_mounts *out, mp_error *err);
int snapshotter_view (snapshotter *sn, const char *key, const char *parent,
                      const snapshot_label *labels, size_t nlabels,
                      snapshot_mounts *out, mp_error *err);
/* An active snapshot for a model's image volume: an overlay whose only
 * lowerdir is TREE (the model's merged read-only tree), holding a
 * reference on manifest MODEL until it is removed. */
int snapshotter_prepare_model (snapshotter *sn, const char *key,
                               const snapshot_label *labels, size_t nlabels,
                               const char *model, const char *tree,
                               snapshot_mounts *out, mp_error *err);

/* Call FN with the manifest digest of every model snapshot (a digest
 * appears once per snapshot holding it). */
typedef int (*snapshot_model_ref_fn) (void *ctx, const char *model,
                                      mp_error *err);
int snapshotter_model_refs (snapshotter *sn, snapshot_model_ref_fn fn,
                            void *ctx, mp_error *err);

int snapshotter_mounts (snapshotter *sn, const char *key, snapshot_mounts *out,
                        mp_error *err);

/* Commit the active snapshot KEY as NAME.  PARENT, when not NULL or "",
 * gives the committed snapshot that parent (containerd 2.2's "rebase":
 * layers are unpacked on an empty active snapshot, then committed on top of
 * their real parent). */
int snapshotter_commit (snapshotter *sn, const char *name, const char *key,
                        const char *parent, const snapshot_label *labels,
                        size_t nlabels, mp_error *err);
int snapshotter_remove (snapshotter *sn, const char *key, mp_error *err);
int snapshotter_stat (snapshotter *sn, const char *key, snapshot_info *out,
                      mp_error *err);

/* Update the labels of INFO->name.  PATHS are field paths ("labels",
 * "labels.<key>"); none means "replace all labels".  Any other path is
 * InvalidArgument.  The updated info is stored in *out. */
int snapshotter_update (snapshotter *sn, const snapshot_info *info,
                        const char *const *paths, size_t npaths,
                        snapshot_info *out, mp_error *err);

/* Call FN for every snapshot FILTER matches (NULL: all).  FN returns 0 to go
 * on, -1 (with *err set) to stop with that error. */
typedef int (*snapshot_walk_fn) (void *ctx, const snapshot_info *info,
                                 mp_error *err);
int snapshotter_walk (snapshotter *sn, const mp_filter *filter,
                      snapshot_walk_fn fn, void *ctx, mp_error *err);

int snapshotter_usage (snapshotter *sn, const char *key, snapshot_usage *out,
                       mp_error *err);

/* Remove every directory under snapshots/ that no record references:
 * leftovers of crashes and of removals. */
int snapshotter_cleanup (snapshotter *sn, mp_error *err);

void snapshot_info_free (snapshot_info *info);
void snapshot_mounts_free (snapshot_mounts *m);
const char *snapshot_kind_name (enum snapshot_kind kind);

/* Disk usage of the tree at PATH the way containerd counts it: 512-byte
 * blocks of every distinct inode, and the number of distinct inodes. */
int snapshot_disk_usage (const char *path, snapshot_usage *out, mp_error *err);

#endif
