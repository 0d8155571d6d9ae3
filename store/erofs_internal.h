/* What the EROFS index writer's files share: the tree the layers merge
 * into (erofs.c), the tar reader that feeds it (erofs_tar.c) and the
 * layout and writer (erofs_write.c).  Not a public interface. */
#ifndef MP_STORE_EROFS_INTERNAL_H
#define MP_STORE_EROFS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/erofs.h"
#include "store/unpack.h"

/* One inline xattr: the name after its EROFS prefix (index). */
struct ex_xattr
{
  uint8_t index;
  uint8_t name_len;
  uint16_t value_len;
  const char *name;
  const uint8_t *value;
};

/* A file object; hard links share one. */
struct ex_inode
{
  uint32_t mode; /* type and permission bits, as they go to disk */
  uint32_t uid, gid;
  int64_t mtime;
  uint32_t mtime_nsec;
  uint64_t size;        /* regular: data bytes; symlink: target length */
  uint64_t data_offset; /* regular: where the data starts in its blob */
  uint16_t device;      /* regular: the blob's device slot (1..) */
  const char *symlink;
  /* Raw files whose size is not a multiple of the block size: their last
   * chunk, copied into the image (ncopy bytes), and the chunk size. */
  const uint8_t *copy;
  uint32_t ncopy;
  uint8_t copy_chunkbits;
  const struct ex_xattr *xattrs;
  uint32_t nxattrs;
  struct ex_node *dir; /* directories: the node it belongs to */

  /* Pass one (erofs_write.c). */
  uint32_t visit; /* the layout run that counted it */
  uint32_t nlink;
  uint32_t ino;   /* i_ino: 1.. in placement order */
  bool extended;  /* 64-byte inode */
  uint8_t layout; /* EROFS_FMT_FLAT_PLAIN, _FLAT_INLINE, _CHUNK_BASED */
  uint32_t xattr_isize;
  uint32_t tail;     /* bytes stored right after the inode (inline) */
  uint64_t nchunks;  /* chunk-based: index entries */
  uint8_t chunkbits; /* chunk-based: log2 of the chunk size */
  uint64_t pos;      /* byte offset of the inode in the image */
  uint64_t nid;
  uint32_t startblk;     /* flat: first data block in the image */
  uint64_t data_blocks;  /* flat: whole blocks in the image */
  struct ex_inode *next; /* placement order */
  /* Directories: their entries, "." and ".." included, in name order
   * (from sorted_at in the layout's array), and the first one of the last
   * block. */
  uint64_t sorted_at;
  uint32_t nsorted, last_block_at;
};

/* The chunk size (log2) for a raw file of SIZE bytes whose last block
 * is partial: the one that makes the chunk index plus the copied last
 * chunk smallest. */
unsigned erofs_raw_chunkbits (unsigned blkszbits, uint64_t size);

/* Inline xattrs' size on disk (0 without any): the body header, then each
 * entry padded to 4 bytes.  i_xattr_icount holds (size - 12) / 4 + 1 in 16
 * bits, so at most EROFS_XATTR_ISIZE_MAX. */
#define EROFS_XATTR_ISIZE_MAX (12u + 4u * 65534u)
uint64_t erofs_xattr_isize (const struct ex_xattr *xs, size_t n);

/* A directory entry.  Replaced entries stay allocated, marked dead. */
struct ex_node
{
  const char *name;
  uint32_t name_len;
  bool dead;
  bool named; /* directories: a layer named it (not only implied) */
  struct ex_node *parent;
  struct ex_inode *ino;
  /* Directories: children in insertion order, dead ones included until
   * the layout drops them; then sorted with "." and ".." in place. */
  struct ex_node **kids;
  uint32_t nkids, capkids;
  /* The last layer whose tree holds this path, and (directories) how
   * many live children that layer put here: a layer may not replace a
   * directory it put something in. */
  uint32_t layer;
  uint32_t layer_kids;
};

struct erofs_index
{
  struct erofs_index_opts o;
  struct model_unpack_limits limits;
  unsigned blksz;
  bool broken; /* a layer failed half-way: only free is allowed */

  /* Memory for nodes, inodes, names and targets, freed at once. */
  struct ex_arena *arena;
  /* (parent, name) -> node; dead nodes linger until the table grows. */
  struct ex_node **slots;
  size_t nslots, nused;

  struct ex_node *root;
  uint64_t entries; /* layer entries, against max_model_entries */
  uint64_t nodes;   /* every node made, implied directories included */

  /* Blobs, one per layer: device slot i + 1. */
  int64_t *blob_sizes;
  size_t nblobs, capblobs;
  uint32_t layer;         /* the layer being added: 1.. */
  struct ex_inode *added; /* the inode the last entry made */
  uint32_t visit;
};

/* One tar member or raw file, as the tree takes it. */
enum ex_kind
{
  EX_FILE,
  EX_DIR,
  EX_SYMLINK,
  EX_HARDLINK,
};

struct ex_entry
{
  enum ex_kind kind;
  const char *path; /* normalised; "" is the root */
  const char *link; /* symlink target, or hard link target (normalised) */
  uint32_t mode;    /* permission bits as the layer says (& 07777) */
  int64_t uid, gid;
  bool has_mtime;
  int64_t mtime;
  uint32_t mtime_nsec;
  uint64_t size, data_offset; /* regular files */
  const struct ex_xattr *xattrs;
  size_t nxattrs;
};

/* Start layer X->layer + 1 over a blob of BLOB_SIZE bytes: checks the
 * size against the block size and the limits. */
int erofs_layer_begin (erofs_index *x, int64_t blob_size, mp_error *err);

/* Merge one entry of the current layer into the tree (the rules are in
 * erofs.h).  Errors name the entry, not the layer. */
int erofs_tree_add (erofs_index *x, const struct ex_entry *e, mp_error *err);

/* Memory that lives as long as the index (8-byte aligned, zeroed). */
void *erofs_arena_alloc (erofs_index *x, size_t n);
char *erofs_arena_strndup (erofs_index *x, const char *s, size_t n);

#endif
