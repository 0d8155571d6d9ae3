/* Verified, confined unpacking of one ModelPack layer blob.
 *
 * model_unpack_layer() turns a layer blob (raw file, tar, tar+gzip or
 * tar+zstd) into a new directory.  The blob digest (and, if given, the
 * diffId of the uncompressed tar stream) is verified, every tar entry is
 * checked, and only then does the directory appear under its final name:
 * on any error nothing exists at DEST_NAME and the temporary work directory
 * is gone.
 *
 * What a tar layer may contain:
 *   - regular files, directories, symlinks (any target text: they are never
 *     followed while unpacking) that stay inside the layer when read
 *     from where the link sits, hard links to regular files already in the
 *     layer;
 *   - no absolute paths, no ".." components, no path that crosses a symlink,
 *     no control characters in names or link targets, no symlink whose
 *     target is absolute or climbs above the layer root, no sparse files,
 *     no device nodes, FIFOs or sockets: each is an error, because a layer
 *     that tries any of them is a bad artifact, not something to repair;
 *   - modes are kept except what would let anyone but the owner change
 *     the files: setuid, setgid, sticky and group/other write bits are
 *     dropped (mode & 0755);
 *   - ".wh." names are ordinary names: model layers are not image layers,
 *     no ModelPack producer writes whiteouts, and overlayfs only honours
 *     character-device whiteouts, which are refused anyway;
 *   - a later entry replaces an earlier one of the same name, except that
 *     nothing replaces a non-empty directory.
 *
 * Nothing is fsynced: the caller makes the result durable once (syncfs on
 * the cache filesystem) before it records the layer as present. */
#ifndef MP_STORE_UNPACK_H
#define MP_STORE_UNPACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "util/error.h"

enum model_unpack_format
{
  MODEL_LAYER_RAW,
  MODEL_LAYER_TAR,
  MODEL_LAYER_TAR_GZIP,
  MODEL_LAYER_TAR_ZSTD,
};

/* Metadata of a raw layer's file, from the file-metadata annotation. */
struct model_file_meta
{
  bool has_mode;
  mode_t mode; /* only the permission bits (& 0777) are applied */
  bool has_owner;
  uid_t uid;
  gid_t gid;
  bool has_mtime;
  struct timespec mtime;
};

/* Defaults used when the corresponding limit is 0. */
#define MODEL_UNPACK_DEFAULT_MAX_BYTES (UINT64_C (1) << 40) /* 1 TiB */
#define MODEL_UNPACK_DEFAULT_MAX_ENTRIES (UINT64_C (1) << 20)
#define MODEL_UNPACK_DEFAULT_MAX_MODEL_ENTRIES (UINT64_C (1) << 22)
#define MODEL_UNPACK_DEFAULT_MAX_RATIO 100
#define MODEL_UNPACK_DEFAULT_RATIO_FLOOR (UINT64_C (256) << 20) /* 256 MiB */

/* Bounds on what one layer, and one model, may expand to: against
 * decompression bombs and disk filling.  Each 0 means its default.  A
 * compressed layer may expand to max_ratio times its blob size, but always
 * to ratio_floor bytes (small text layers compress well), and never past
 * max_layer_bytes; a plain tar or raw layer is bounded by max_layer_bytes
 * (its size is its blob's).  Entries count every tar member. */
struct model_unpack_limits
{
  uint64_t max_layer_bytes;   /* MODEL_UNPACK_DEFAULT_MAX_BYTES */
  uint64_t max_ratio;         /* MODEL_UNPACK_DEFAULT_MAX_RATIO */
  uint64_t ratio_floor;       /* MODEL_UNPACK_DEFAULT_RATIO_FLOOR */
  uint64_t max_layer_entries; /* MODEL_UNPACK_DEFAULT_MAX_ENTRIES */
  uint64_t max_model_entries; /* MODEL_UNPACK_DEFAULT_MAX_MODEL_ENTRIES */
};

/* The limits' names as the daemon's [limits] and the CLI's --limit spell
 * them (max_layer_bytes, max_layer_ratio, ratio_floor_bytes,
 * max_layer_entries, max_model_entries), NULL-terminated. */
extern const char *const model_unpack_limit_names[];

/* Set the limit called NAME to V; -1 if there is no such limit. */
int model_unpack_limit_set (struct model_unpack_limits *l, const char *name,
                            uint64_t v);

/* The limits with every 0 replaced by its default. */
struct model_unpack_limits
model_unpack_limits_resolve (const struct model_unpack_limits *l);
/* Fixed limits on entry names (bytes without the NUL; path components). */
#define MODEL_UNPACK_MAX_PATH 4095
#define MODEL_UNPACK_MAX_DEPTH 128

/* Work directories are named MODEL_UNPACK_TMP_PREFIX<dest_name>.<random>;
 * whatever carries this prefix after a crash is garbage to remove. */
#define MODEL_UNPACK_TMP_PREFIX ".unpack-"

struct model_unpack_opts
{
  enum model_unpack_format format;
  /* "sha256:<hex>" or "sha512:<hex>" of the blob as stored; required. */
  const char *expected_digest;
  /* Digest of the uncompressed tar stream, or NULL not to check it.  For
   * raw and plain tar layers it must equal the blob digest. */
  const char *expected_diff_id;
  /* The source vouches that the blob's bytes match expected_digest (e.g.
   * containerd checked them when it stored the blob): the blob digest is
   * not computed again.  A tar layer's diffId is still checked, as it ties
   * the content to the config. */
  bool blob_verified;
  /* Raw layers: relative path of the file inside the layer directory. */
  const char *raw_path;
  const struct model_file_meta *raw_meta; /* raw layers; NULL = defaults */
  bool keep_owners; /* apply uid/gid from the layer (needs root) */
  /* Upper bound on the uncompressed tar stream and on the sum of file
   * sizes, against decompression bombs and disk filling; 0 = the bound
   * LIMITS gives (max_layer_bytes, and for a compressed layer the ratio to
   * the blob's size: blob_size, or the source's size if it is a regular
   * file). */
  uint64_t max_total_bytes;
  uint64_t max_entries;                     /* 0 = limits->max_layer_entries */
  const struct model_unpack_limits *limits; /* NULL = the defaults */
  int64_t blob_size;                        /* -1 or 0 = unknown */
};

/* How a raw layer's bytes reached the file (see unpack.c). */
enum model_unpack_copy_method
{
  MODEL_UNPACK_COPY_NONE, /* tar layers */
  MODEL_UNPACK_COPY_FICLONE,
  MODEL_UNPACK_COPY_FILE_RANGE,
  MODEL_UNPACK_COPY_READ_WRITE,
};

struct model_unpack_stats
{
  uint64_t bytes_read;         /* blob bytes hashed */
  uint64_t bytes_uncompressed; /* tar stream bytes (raw: the file size) */
  uint64_t bytes_written;      /* file data placed, clones included */
  /* Entries of each kind; dirs counts directory entries other than the
   * root, not parents created implicitly. */
  uint64_t files, dirs, symlinks, hardlinks;
  enum model_unpack_copy_method copy_method;
};

/* Unpack the blob read from SRC_FD (from its current offset to EOF) into a
 * new directory DEST_NAME (one path component) under DEST_PARENT_FD.
 * Errors: MP_ERR_INVALID_ARGUMENT for bad options or a bad blob (digest
 * mismatch, corrupt stream, forbidden entry, limit exceeded),
 * MP_ERR_ALREADY_EXISTS if DEST_NAME exists, MP_ERR_INTERNAL for I/O.
 * STATS may be NULL.  Returns 0 or -1. */
int model_unpack_layer (int src_fd, int dest_parent_fd, const char *dest_name,
                        const struct model_unpack_opts *o,
                        struct model_unpack_stats *stats, mp_error *err);

/* Decompress a tar+gzip or tar+zstd layer blob read from SRC_FD into
 * OUT_FD (an empty file): the layer's plain tar stream, for an index over
 * it (store/erofs.h) instead of an unpacked tree.  The blob digest (unless
 * blob_verified) and the diffId (required: it is the digest of what is
 * written) are verified, and the stream is bounded as unpacking bounds it
 * (max_layer_bytes, max_layer_ratio); entries are not examined here: the
 * reader of the tar checks them.  On error OUT_FD holds garbage: the
 * caller discards it.  STATS: bytes_read, bytes_uncompressed and
 * bytes_written. */
int model_unpack_decompress (int src_fd, int out_fd,
                             const struct model_unpack_opts *o,
                             struct model_unpack_stats *stats, mp_error *err);

/* The layer of a manifest as the unpacker needs it: the one check every
 * command (pull, extract, the model cache's mount, export and preload)
 * applies to a manifest before anything is unpacked, so none accepts what
 * another refuses. */
struct model_manifest;
struct model_config;
struct model_unpack_plan
{
  enum model_unpack_format format;
  const char *raw_path;        /* raw layers: the file's path */
  struct model_file_meta meta; /* raw layers: from the annotation */
  const char *diff_id;         /* the config's diffId, or NULL */
};

/* Check that M (with its config CFG, NULL for a generic artifact) can be
 * unpacked: not a container image, one diffId per layer, and every layer
 * as model_unpack_plan_layer wants it.  MP_ERR_INVALID_ARGUMENT naming the
 * first problem. */
int model_unpack_check_manifest (const struct model_manifest *m,
                                 const struct model_config *cfg, mp_error *err);

/* Plan layer I of M: its format (ModelPack and OCI image tar layers, raw
 * files; a generic artifact's titled layer is a raw file), a raw layer's
 * path (required) and metadata (regular files only, size matching the
 * descriptor), and its diffId.  Does not check the whole manifest: call
 * model_unpack_check_manifest first. */
int model_unpack_plan_layer (const struct model_manifest *m,
                             const struct model_config *cfg, size_t i,
                             struct model_unpack_plan *p, mp_error *err);

/* Tests set this to exercise the component-by-component fallback used
 * where openat2 is missing (Linux < 5.6, or blocked by seccomp). */
extern bool model_unpack_no_openat2;

const char *model_unpack_copy_method_name (enum model_unpack_copy_method m);

#endif
