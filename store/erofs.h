/* EROFS metadata images ("indexes") over a model's layer blobs.
 *
 * Instead of unpacking a model, we write an EROFS image that holds only
 * metadata: every regular file is a chunk-based inode whose chunks point
 * at its bytes inside a blob, and each blob is given to the kernel as an
 * extra device, in the order the layers were added:
 *
 *   mount (index, dir, "erofs", MS_RDONLY, "device=BLOB1,device=BLOB2")
 *
 * (a file-backed mount on Linux 6.12+; 512-byte blocks need 6.4+).
 *
 * Layers: plain tar blobs (read by seeking: headers only, never file data)
 * and raw blobs (one file each).  Tar layers need 512-byte blocks (their
 * data sits at 512-byte offsets); a model of raw layers only may use 4 KiB
 * blocks.  Every tar entry is checked as the unpacker (store/unpack.h)
 * checks it, and the layers merge as the model cache merges unpacked
 * layers:
 *   - within a layer, a later entry replaces an earlier one of the same
 *     path, except that nothing replaces a directory holding entries of
 *     that layer (an error, as when unpacking); directories merge;
 *   - a later layer's entry replaces the same path of earlier layers,
 *     whole subtrees included when a file replaces a directory or the
 *     reverse; directories merge;
 *   - a directory no entry names (a parent implied by a path, the root
 *     unless a "./" entry names it) is 0755, owned by root, dated
 *     mtime_default; what a layer says of a directory beats these
 *     defaults whatever the layer order, and later layers beat earlier.
 * What we serve (the default) is what the unpacked cache serves: every
 * file owned by root, modes & 0755 (no setuid, setgid, sticky, group or
 * other write), no xattrs.  The reference mode (as_tar_says) keeps owners,
 * full modes and SCHILY.xattr.* as the tar says, like mkfs.erofs --tar=i,
 * for comparing the two.
 *
 * No chunk of the image ever points outside its blob: every range is
 * checked against the blob size when the layer is added and again when it
 * is written.  Errors naming a bad layer are MP_ERR_INVALID_ARGUMENT and
 * carry the layer's WHAT and the entry; I/O failures MP_ERR_INTERNAL. */
#ifndef MP_STORE_EROFS_H
#define MP_STORE_EROFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

struct model_file_meta;
struct model_unpack_limits;

typedef struct erofs_index erofs_index;

/* Layers (devices) one index may have. */
#define EROFS_INDEX_MAX_LAYERS 4096

struct erofs_index_opts
{
  /* 9 (512 B: required when any layer is a tar) or 12 (4 KiB). */
  unsigned blkszbits;
  /* Reference mode for tests: owners, modes (& 07777) and xattrs as the
   * layers say.  false: what we serve (see above). */
  bool as_tar_says;
  /* Entries per layer (max_layer_entries) and per model
   * (max_model_entries), blob sizes (max_layer_bytes); NULL = defaults. */
  const struct model_unpack_limits *limits;
  /* The time of what no layer dates: the root and implied directories,
   * raw files without an mtime (seconds since the epoch).  A fixed value
   * (say the model's creation time) makes the image reproducible. */
  int64_t mtime_default;
};

/* A new, empty index; NULL on bad options (MP_ERR_INVALID_ARGUMENT). */
erofs_index *erofs_index_new (const struct erofs_index_opts *o, mp_error *err);

/* Add the next layer: a plain tar read from FD (BLOB_SIZE bytes from
 * offset 0, by pread; FD's offset is not used).  Each add takes the next
 * device slot (1, 2, ...): the order the blobs go to mount as device=.
 * WHAT names the layer in errors (e.g. "layers[2] sha256:abcd..."). */
int erofs_index_add_tar (erofs_index *x, int fd, int64_t blob_size,
                         const char *what, mp_error *err);

/* Add the next layer: a raw blob of BLOB_SIZE bytes, read from FD, that
 * is the file PATH (relative, checked like tar names), with META's mode
 * and mtime (and owner in the reference mode); META may be NULL (0644,
 * mtime_default).
 *
 * FD is read only when BLOB_SIZE is not a multiple of the block size: the
 * kernel reads a file's last block whole and fails (EIO) where that runs
 * past the end of the blob, so the file's last chunk (at most a few
 * hundred KiB, chosen to keep it and the chunk index small) is copied into
 * the image.  Tar layers need nothing of the kind: tar pads file data to
 * 512 bytes. */
int erofs_index_add_raw (erofs_index *x, int fd, int64_t blob_size,
                         const char *path, const struct model_file_meta *meta,
                         const char *what, mp_error *err);

/* Lay out and write the whole image to OUTFD (a new, empty file) from
 * offset 0, and its size to *SIZE (may be NULL).  The index stays usable
 * (write again, or add more layers). */
int erofs_index_write (erofs_index *x, int outfd, int64_t *size, mp_error *err);

void erofs_index_free (erofs_index *x);

/* ---- reading an image back ---- */

/* One directory entry of an image, as erofs_index_walk sees it. */
struct erofs_walk_entry
{
  const char *path; /* "" for the root, else "a/b" */
  uint64_t nid;
  mode_t mode; /* type and permission bits */
  uint32_t uid, gid, nlink;
  int64_t mtime;
  uint32_t mtime_nsec;
  uint64_t size;
  const char *symlink; /* symlinks: the target */
  /* Regular files with data: where it starts (device 0 is the image,
   * 1.. the blobs), and whether all of it follows there (`contiguous`);
   * a raw file's copied last chunk is in the image. */
  unsigned device;
  uint64_t data_offset;
  bool contiguous;
  uint64_t chunks;
  /* Inline xattrs: nxattrs, and their names and values as
   * "name=value\n" text in xattrs (values with bytes below 0x20 or above
   * 0x7e hex-escaped), NULL when none. */
  size_t nxattrs;
  const char *xattrs;
};

typedef int (*erofs_walk_fn) (const struct erofs_walk_entry *e, void *arg,
                              mp_error *err);

/* Read the image in FD, check its structure (superblock, features this
 * writer uses, every inode, directory order, that each chunk lies inside
 * its device: BLOB_SIZES[i] is device i + 1's size; NBLOBS must match the
 * device table) and call FN (may be NULL) for each entry, parents before
 * children, in directory order; hard links are reported at each path.
 * MP_ERR_INVALID_ARGUMENT for a malformed image; FN's error is passed up. */
int erofs_index_walk (int fd, const int64_t *blob_sizes, size_t nblobs,
                      erofs_walk_fn fn, void *arg, mp_error *err);

#endif
