/* The EROFS on-disk structures our index writer (erofs.c) and reader
 * (erofs_walk.c) use: all of them here, each with its size asserted.
 *
 * Fields are little-endian on disk and declared as fixed-width integers;
 * code converts with htole*()/le*toh() only where a structure is filled
 * for writing or read back, never in between.  The layout is the kernel's
 * (fs/erofs/erofs_fs.h, Documentation/filesystems/erofs.rst); the subset
 * here is what an index over uncompressed blobs needs: no compression, no
 * shared xattrs, no 48-bit addresses, no metabox.
 *
 * An image is a sequence of blocks (512 B to 4 KiB).  Byte 1024 holds the
 * superblock; the device table (one slot per blob) follows it.  Inodes sit
 * at 32-byte slots counted from block meta_blkaddr: an inode's number
 * (nid) is its offset from there divided by 32. */
#ifndef MP_STORE_EROFS_FORMAT_H
#define MP_STORE_EROFS_FORMAT_H

#include <assert.h>
#include <stdint.h>

#define EROFS_FMT_SUPER_OFFSET 1024
#define EROFS_FMT_MAGIC 0xE0F5E1E2u
#define EROFS_FMT_ISLOT_BITS 5 /* inodes are 32-byte aligned */
#define EROFS_FMT_NAME_LEN 255

/* feature_incompat bits we may set (and the reader accepts). */
#define EROFS_FMT_INCOMPAT_CHUNKED_FILE 0x00000004u
#define EROFS_FMT_INCOMPAT_DEVICE_TABLE 0x00000008u

struct erofs_fmt_super
{
  uint32_t magic;
  uint32_t checksum; /* crc32c, only with the SB_CHKSUM feature (unused) */
  uint32_t feature_compat;
  uint8_t blkszbits;
  uint8_t sb_extslots;
  uint16_t root_nid; /* 16 bits without the 48-bit feature */
  uint64_t inos;
  /* Seconds and nanoseconds every compact inode's mtime is counted from
   * (kernels before 6.15 call these build_time and build_time_nsec, and
   * give every compact inode exactly this time). */
  uint64_t epoch;
  uint32_t fixed_nsec;
  uint32_t blocks; /* blocks of the image itself */
  uint32_t meta_blkaddr;
  uint32_t xattr_blkaddr;
  uint8_t uuid[16];
  uint8_t volume_name[16];
  uint32_t feature_incompat;
  uint16_t available_compr_algs;
  uint16_t extra_devices;
  uint16_t devt_slotoff; /* device table at devt_slotoff * 128 */
  uint8_t dirblkbits;    /* must be 0 */
  uint8_t xattr_prefix_count;
  uint32_t xattr_prefix_start;
  uint64_t packed_nid;
  uint8_t xattr_filter_reserved;
  uint8_t ishare_xattr_prefix_id;
  uint8_t reserved[2];
  uint32_t build_time; /* seconds after epoch (new kernels; we write 0) */
  uint64_t rootnid_8b; /* 48-bit layouts only */
  uint8_t reserved2[8];
} __attribute__ ((packed));
static_assert (sizeof (struct erofs_fmt_super) == 128, "superblock size");

struct erofs_fmt_device_slot
{
  uint8_t tag[64];
  uint32_t blocks;  /* the device's size in blocks */
  uint32_t uniaddr; /* where it appears in the flat address space; 0: not */
  uint16_t blocks_hi;
  uint16_t uniaddr_hi;
  uint8_t reserved[52];
} __attribute__ ((packed));
static_assert (sizeof (struct erofs_fmt_device_slot) == 128, "device slot");

/* i_format: bit 0 the inode version, bits 1-3 the data layout. */
#define EROFS_FMT_INODE_COMPACT 0
#define EROFS_FMT_INODE_EXTENDED 1
#define EROFS_FMT_LAYOUT_SHIFT 1
#define EROFS_FMT_LAYOUT_MASK 7
#define EROFS_FMT_FORMAT_ALL 0x1f /* bits 0-4 defined; bit 4 unused here */
enum
{
  EROFS_FMT_FLAT_PLAIN = 0,  /* data in whole blocks at startblk */
  EROFS_FMT_FLAT_INLINE = 2, /* whole blocks, then the tail after the inode */
  EROFS_FMT_CHUNK_BASED = 4, /* chunk index array after the inode */
};

/* i_u of a chunk-based inode: format = chunk size bits | INDEXES. */
#define EROFS_FMT_CHUNK_BLKBITS_MASK 0x001f
#define EROFS_FMT_CHUNK_INDEXES 0x0020
#define EROFS_FMT_NULL_ADDR 0xffffffffu

struct erofs_fmt_inode_compact
{
  uint16_t i_format;
  uint16_t i_xattr_icount;
  uint16_t i_mode;
  uint16_t i_nlink;
  uint32_t i_size;
  /* Seconds after the superblock's epoch on kernels 6.15+; older ones
   * ignore it.  We only make an inode compact when its time is the epoch,
   * and write 0, so every kernel reads the same time. */
  uint32_t i_mtime;
  uint32_t i_u; /* startblk, or chunk format in the low 16 bits */
  uint32_t i_ino;
  uint16_t i_uid;
  uint16_t i_gid;
  uint32_t i_reserved;
} __attribute__ ((packed));
static_assert (sizeof (struct erofs_fmt_inode_compact) == 32, "compact inode");

struct erofs_fmt_inode_extended
{
  uint16_t i_format;
  uint16_t i_xattr_icount;
  uint16_t i_mode;
  uint16_t i_nb; /* unused here (blocks/startblk MSB in 48-bit layouts) */
  uint64_t i_size;
  uint32_t i_u;
  uint32_t i_ino;
  uint32_t i_uid;
  uint32_t i_gid;
  uint64_t i_mtime;
  uint32_t i_mtime_nsec;
  uint32_t i_nlink;
  uint8_t i_reserved2[16];
} __attribute__ ((packed));
static_assert (sizeof (struct erofs_fmt_inode_extended) == 64,
               "extended inode");

/* Inline xattrs follow the inode: this header, then entries, each padded
 * to 4 bytes.  i_xattr_icount = (size - 12) / 4 + 1. */
struct erofs_fmt_xattr_ibody_header
{
  uint32_t h_name_filter; /* only with the xattr filter feature (unused) */
  uint8_t h_shared_count;
  uint8_t h_reserved2[7];
} __attribute__ ((packed));
static_assert (sizeof (struct erofs_fmt_xattr_ibody_header) == 12,
               "xattr body header");

struct erofs_fmt_xattr_entry
{
  uint8_t e_name_len; /* the name after its prefix */
  uint8_t e_name_index;
  uint16_t e_value_size;
  /* then the name, then the value */
} __attribute__ ((packed));
static_assert (sizeof (struct erofs_fmt_xattr_entry) == 4, "xattr entry");

/* e_name_index: which prefix the stored name goes after. */
enum
{
  EROFS_FMT_XATTR_USER = 1,
  EROFS_FMT_XATTR_POSIX_ACL_ACCESS = 2,
  EROFS_FMT_XATTR_POSIX_ACL_DEFAULT = 3,
  EROFS_FMT_XATTR_TRUSTED = 4,
  EROFS_FMT_XATTR_SECURITY = 6,
};

/* One chunk of a chunk-based file: on device_id (0 the image, 1.. the
 * extra devices in table order), at block startblk. */
struct erofs_fmt_chunk_index
{
  uint16_t startblk_hi; /* 48-bit layouts only */
  uint16_t device_id;
  uint32_t startblk_lo;
} __attribute__ ((packed));
static_assert (sizeof (struct erofs_fmt_chunk_index) == 8, "chunk index");

/* Directory blocks: dirents, then the names they point at (not
 * NUL-terminated; the last one runs to the end of the used bytes).  The
 * first dirent's nameoff / 12 is the number of dirents in the block.  All
 * names of a directory, "." and ".." included, are in byte order across
 * its blocks: lookups bisect. */
struct erofs_fmt_dirent
{
  uint64_t nid;
  uint16_t nameoff;
  uint8_t file_type;
  uint8_t reserved;
} __attribute__ ((packed));
static_assert (sizeof (struct erofs_fmt_dirent) == 12, "dirent");

enum
{
  EROFS_FMT_FT_REG_FILE = 1,
  EROFS_FMT_FT_DIR = 2,
  EROFS_FMT_FT_SYMLINK = 7,
};

#endif
