/* Laying out and writing an EROFS index (erofs.h).
 *
 * Pass one computes everything: which inodes are live and in what order,
 * their link counts, each directory's sorted entries and size, each
 * inode's form (compact or extended), data layout, position (hence nid)
 * and data blocks.  Pass two writes the image front to back from those
 * numbers: superblock, device table, inodes with their xattrs, chunk
 * indexes and inline tails, then the directory and symlink blocks that do
 * not fit inline.  Nothing is patched afterwards, and every position and
 * range is checked before its bytes go out.
 *
 * Layout:
 *   0         zeros (room for boot sectors, as EROFS wants)
 *   1024      superblock (128 bytes)
 *   1152      device table: one 128-byte slot per blob
 *   then      inodes at 32-byte slots (meta_blkaddr 0: nid = offset / 32),
 *             root first, then in breadth-first order, so a directory's
 *             children sit together
 *   then      whole blocks of directories and long symlinks
 * Regular files are chunk-based: one chunk index per chunk, naming the
 * blob (device id = layer number) and the block of the data in it.
 * Directories and symlinks keep their last partial block inline after the
 * inode when it fits in the inode's block. */
#include "store/erofs.h"
#include "store/erofs_format.h"
#include "store/erofs_internal.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#define DEVT_OFFSET (EROFS_FMT_SUPER_OFFSET + sizeof (struct erofs_fmt_super))
#define ISLOT (1u << EROFS_FMT_ISLOT_BITS)

/* "." and ".." among a directory's sorted entries. */
static struct ex_node dot = { .name = ".", .name_len = 1 };
static struct ex_node dotdot = { .name = "..", .name_len = 2 };

struct layout
{
  erofs_index *x;
  unsigned bs, bits;
  struct ex_inode *first, *last; /* placement order */
  uint64_t ninodes;
  struct ex_node **sorted; /* every directory's entries, one after another */
  uint64_t nsorted, capsorted;
  int64_t epoch;
  uint32_t epoch_nsec;
  uint64_t meta_end;
  uint64_t blocks; /* the image's size in blocks */
};

static uint64_t
round_up (uint64_t v, uint64_t to)
{
  return (v + to - 1) / to * to;
}

uint64_t
erofs_xattr_isize (const struct ex_xattr *xs, size_t n)
{
  uint64_t size = sizeof (struct erofs_fmt_xattr_ibody_header);

  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    size += round_up (sizeof (struct erofs_fmt_xattr_entry) + xs[i].name_len
                          + xs[i].value_len,
                      4);
  return size;
}

/* ---- pass one ---- */

static int
name_cmp (const void *a, const void *b)
{
  const struct ex_node *x = *(struct ex_node *const *)a,
                       *y = *(struct ex_node *const *)b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int r = memcmp (x->name, y->name, n);

  if (r != 0)
    return r;
  return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

static void
place_append (struct layout *l, struct ex_inode *ino)
{
  ino->next = NULL;
  ino->nlink = 0;
  ino->visit = l->x->visit;
  if (l->last != NULL)
    l->last->next = ino;
  else
    l->first = ino;
  l->last = ino;
  l->ninodes++;
}

static int
sorted_reserve (struct layout *l, uint64_t n, mp_error *err)
{
  if (l->capsorted - l->nsorted >= n)
    return 0;
  uint64_t cap = l->capsorted ? l->capsorted : 1024;
  while (cap - l->nsorted < n)
    cap *= 2;
  struct ex_node **s = realloc (l->sorted, cap * sizeof *s);
  if (s == NULL)
    return mp_error_sys (err, ENOMEM, "index layout");
  l->sorted = s;
  l->capsorted = cap;
  return 0;
}

/* Walk the live tree breadth-first from the root: placement order, link
 * counts, and each directory's sorted entries.  Dead children are dropped
 * from the tree on the way (nothing can bring them back). */
static int
collect (struct layout *l, mp_error *err)
{
  erofs_index *x = l->x;

  x->visit++;
  place_append (l, x->root->ino);
  for (struct ex_inode *d = l->first; d != NULL; d = d->next)
    {
      struct ex_node *dn = d->dir, **s;
      uint32_t live = 0, subdirs = 0;

      if (!S_ISDIR (d->mode))
        continue;
      for (uint32_t i = 0; i < dn->nkids; i++)
        if (!dn->kids[i]->dead)
          dn->kids[live++] = dn->kids[i];
      dn->nkids = live;
      if (sorted_reserve (l, (uint64_t)live + 2, err) < 0)
        return -1;
      d->sorted_at = l->nsorted;
      d->nsorted = live + 2;
      s = l->sorted + l->nsorted;
      s[0] = &dot;
      s[1] = &dotdot;
      if (live > 0)
        memcpy (s + 2, dn->kids, live * sizeof *s);
      qsort (s, live + 2, sizeof *s, name_cmp);
      l->nsorted += live + 2;
      for (uint32_t i = 0; i < live; i++)
        {
          struct ex_inode *k = dn->kids[i]->ino;
          if (S_ISDIR (k->mode))
            subdirs++;
          if (k->visit != x->visit)
            place_append (l, k);
          if (!S_ISDIR (k->mode))
            k->nlink++;
        }
      d->nlink = 2 + subdirs;
    }
  return 0;
}

/* Entries [START, return) fill one directory block; *USED its bytes. */
static uint32_t
dir_block_end (struct ex_node *const *s, uint32_t n, uint32_t start,
               unsigned bs, uint32_t *used)
{
  uint32_t i = start, bytes = 0;

  while (i < n
         && bytes + sizeof (struct erofs_fmt_dirent) + s[i]->name_len <= bs)
    bytes += sizeof (struct erofs_fmt_dirent) + s[i++]->name_len;
  *used = bytes;
  return i;
}

static void
dir_size (struct layout *l, struct ex_inode *d)
{
  struct ex_node *const *s = l->sorted + d->sorted_at;
  uint32_t i = 0, used = 0;
  uint64_t blocks = 0;

  while (i < d->nsorted)
    {
      d->last_block_at = i;
      i = dir_block_end (s, d->nsorted, i, l->bs, &used);
      blocks++;
    }
  d->size = (blocks - 1) * l->bs + used;
}

static int
mtime_cmp (const void *a, const void *b)
{
  const struct ex_inode *x = *(struct ex_inode *const *)a,
                        *y = *(struct ex_inode *const *)b;

  if (x->mtime != y->mtime)
    return x->mtime < y->mtime ? -1 : 1;
  return x->mtime_nsec < y->mtime_nsec   ? -1
         : x->mtime_nsec > y->mtime_nsec ? 1
                                         : 0;
}

/* Compact inodes carry no time of their own on kernels before 6.15: they
 * all get the superblock's.  The most common time among the inodes is the
 * one that lets most of them be compact. */
static int
choose_epoch (struct layout *l, mp_error *err)
{
  cleanup_free struct ex_inode **v = malloc (l->ninodes * sizeof *v);
  uint64_t n = 0, best = 0;

  if (v == NULL)
    return mp_error_sys (err, ENOMEM, "index layout");
  for (struct ex_inode *i = l->first; i != NULL; i = i->next)
    if (i->mtime >= 0)
      v[n++] = i;
  qsort (v, n, sizeof *v, mtime_cmp);
  l->epoch = 0;
  l->epoch_nsec = 0;
  for (uint64_t i = 0, run = 0; i < n; i++)
    {
      run = i > 0 && mtime_cmp (&v[i - 1], &v[i]) == 0 ? run + 1 : 1;
      if (run > best)
        {
          best = run;
          l->epoch = v[i]->mtime;
          l->epoch_nsec = v[i]->mtime_nsec;
        }
    }
  return 0;
}

static unsigned
ceil_log2 (uint64_t v)
{
  unsigned b = 0;

  while (b < 64 && (1ull << b) < v)
    b++;
  return b;
}

unsigned
erofs_raw_chunkbits (unsigned blkszbits, uint64_t size)
{
  uint64_t best = UINT64_MAX;
  unsigned bits = blkszbits;

  for (unsigned b = blkszbits; b <= blkszbits + EROFS_FMT_CHUNK_BLKBITS_MASK;
       b++)
    {
      uint64_t chunk = 1ull << b, n = (size + chunk - 1) >> b;
      uint64_t last = size - (n - 1) * chunk;
      uint64_t cost = n * sizeof (struct erofs_fmt_chunk_index)
                      + round_up (last, 1ull << blkszbits);
      if (cost <= best)
        {
          best = cost;
          bits = b;
        }
      if (n == 1)
        break;
    }
  return bits;
}

/* Form and data layout of INO (not yet its position). */
static int
inode_form (struct layout *l, struct ex_inode *ino, mp_error *err)
{
  ino->extended = ino->size > UINT32_MAX || ino->uid > UINT16_MAX
                  || ino->gid > UINT16_MAX || ino->nlink > UINT16_MAX
                  || ino->mtime != l->epoch || ino->mtime_nsec != l->epoch_nsec;
  ino->xattr_isize = (uint32_t)erofs_xattr_isize (ino->xattrs, ino->nxattrs);
  if (ino->xattr_isize > EROFS_XATTR_ISIZE_MAX)
    return mp_error_set (err, MP_ERR_INTERNAL, "xattrs too large");
  ino->tail = 0;
  ino->nchunks = 0;
  ino->data_blocks = 0;
  ino->startblk = EROFS_FMT_NULL_ADDR;
  if (S_ISREG (ino->mode))
    {
      unsigned bits = ceil_log2 (ino->size);
      if (ino->size == 0)
        {
          ino->layout = EROFS_FMT_FLAT_PLAIN;
          return 0;
        }
      /* One chunk for the whole file where the format allows (2^31
       * blocks: 1 TiB of 512-byte blocks). */
      if (bits < l->bits)
        bits = l->bits;
      if (bits > l->bits + EROFS_FMT_CHUNK_BLKBITS_MASK)
        bits = l->bits + EROFS_FMT_CHUNK_BLKBITS_MASK;
      if (ino->copy != NULL)
        {
          /* The last chunk lives in the image. */
          bits = ino->copy_chunkbits;
          ino->data_blocks = round_up (ino->ncopy, l->bs) / l->bs;
        }
      ino->layout = EROFS_FMT_CHUNK_BASED;
      ino->chunkbits = (uint8_t)bits;
      ino->nchunks = (ino->size + (1ull << bits) - 1) >> bits;
      if (ino->copy != NULL
          && ino->size - (ino->nchunks - 1) * (1ull << bits) != ino->ncopy)
        return mp_error_set (err, MP_ERR_INTERNAL, "raw tail mismatch");
      return 0;
    }
  /* Directories and symlinks: whole blocks, and the rest inline when it
   * fits in one block with the inode (placement may still say no). */
  ino->data_blocks = ino->size / l->bs;
  ino->tail = (uint32_t)(ino->size % l->bs);
  ino->layout = EROFS_FMT_FLAT_PLAIN;
  if (ino->tail > 0)
    {
      uint64_t need = (ino->extended ? 64 : 32) + ino->xattr_isize + ino->tail;
      if (need <= l->bs)
        ino->layout = EROFS_FMT_FLAT_INLINE;
      else
        {
          ino->data_blocks++;
          ino->tail = 0;
        }
    }
  return 0;
}

/* Positions (nids), then the data blocks after the inodes. */
static int
place (struct layout *l, mp_error *err)
{
  uint64_t pos
      = DEVT_OFFSET + l->x->nblobs * sizeof (struct erofs_fmt_device_slot);
  uint64_t blk, ino_no = 0;

  for (struct ex_inode *i = l->first; i != NULL; i = i->next)
    {
      uint64_t need = (i->extended ? 64 : 32) + i->xattr_isize;

      pos = round_up (pos, ISLOT);
      if (i->layout == EROFS_FMT_CHUNK_BASED)
        need = round_up (need, sizeof (struct erofs_fmt_chunk_index))
               + i->nchunks * sizeof (struct erofs_fmt_chunk_index);
      else if (i->layout == EROFS_FMT_FLAT_INLINE)
        {
          need += i->tail;
          /* The inline tail shares the inode's block: start a new block
           * if the rest of this one is too short. */
          if (pos % l->bs + need > l->bs)
            pos = round_up (pos, l->bs);
        }
      i->pos = pos;
      i->nid = pos >> EROFS_FMT_ISLOT_BITS;
      i->ino = (uint32_t)++ino_no;
      pos += need;
    }
  if (l->x->root->ino->nid > UINT16_MAX)
    return mp_error_set (err, MP_ERR_INTERNAL, "root nid out of range");
  l->meta_end = pos;
  blk = round_up (pos, l->bs) / l->bs;
  for (struct ex_inode *i = l->first; i != NULL; i = i->next)
    if (i->data_blocks > 0)
      {
        i->startblk = (uint32_t)blk;
        blk += i->data_blocks;
        if (blk > UINT32_MAX)
          return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                               "the index's metadata exceeds %llu blocks",
                               (unsigned long long)UINT32_MAX);
      }
  l->blocks = blk;
  if (l->blocks > UINT32_MAX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "the index's metadata exceeds %llu blocks",
                         (unsigned long long)UINT32_MAX);
  if (l->ninodes > UINT32_MAX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "too many inodes");
  return 0;
}

static int
pass_one (struct layout *l, mp_error *err)
{
  if (collect (l, err) < 0)
    return -1;
  for (struct ex_inode *i = l->first; i != NULL; i = i->next)
    if (S_ISDIR (i->mode))
      dir_size (l, i);
  if (choose_epoch (l, err) < 0)
    return -1;
  for (struct ex_inode *i = l->first; i != NULL; i = i->next)
    if (inode_form (l, i, err) < 0)
      return -1;
  return place (l, err);
}

/* ---- pass two ---- */

struct writer
{
  int fd;
  uint64_t off; /* file offset of buf[0] */
  unsigned char *buf;
  size_t len, cap;
};

static int
w_flush (struct writer *w, mp_error *err)
{
  size_t done = 0;

  while (done < w->len)
    {
      ssize_t n = pwrite (w->fd, w->buf + done, w->len - done,
                          (off_t)(w->off + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mp_error_sys (err, errno, "write the index");
      done += (size_t)n;
    }
  w->off += w->len;
  w->len = 0;
  return 0;
}

static uint64_t
w_pos (const struct writer *w)
{
  return w->off + w->len;
}

static int
w_put (struct writer *w, const void *p, size_t n, mp_error *err)
{
  const unsigned char *b = p;

  while (n > 0)
    {
      size_t k = w->cap - w->len < n ? w->cap - w->len : n;
      if (b != NULL)
        memcpy (w->buf + w->len, b, k);
      else
        memset (w->buf + w->len, 0, k);
      w->len += k;
      n -= k;
      if (b != NULL)
        b += k;
      if (w->len == w->cap && w_flush (w, err) < 0)
        return -1;
    }
  return 0;
}

/* Zeros up to POS: the layout only ever moves forward. */
static int
w_seek (struct writer *w, uint64_t pos, mp_error *err)
{
  if (pos < w_pos (w))
    return mp_error_set (
        err, MP_ERR_INTERNAL, "index layout overlaps at %llu (written to %llu)",
        (unsigned long long)pos, (unsigned long long)w_pos (w));
  return w_put (w, NULL, pos - w_pos (w), err);
}

static uint8_t
file_type (const struct ex_inode *i)
{
  if (S_ISDIR (i->mode))
    return EROFS_FMT_FT_DIR;
  if (S_ISLNK (i->mode))
    return EROFS_FMT_FT_SYMLINK;
  return EROFS_FMT_FT_REG_FILE;
}

/* Directory block of D holding entries [START, ...) into BUF (bs bytes,
 * zeroed): its used bytes. */
static uint32_t
dir_block (struct layout *l, const struct ex_inode *d, uint32_t start,
           unsigned char *buf, uint32_t *next)
{
  struct ex_node *const *s = l->sorted + d->sorted_at;
  const struct ex_node *dn = d->dir;
  uint32_t used, end = dir_block_end (s, d->nsorted, start, l->bs, &used);
  uint32_t nameoff = (end - start) * sizeof (struct erofs_fmt_dirent);

  memset (buf, 0, l->bs);
  for (uint32_t i = start; i < end; i++)
    {
      struct erofs_fmt_dirent de = { 0 };
      const struct ex_inode *t;

      if (s[i] == &dot)
        t = d;
      else if (s[i] == &dotdot)
        t = dn->parent != NULL ? dn->parent->ino : d;
      else
        t = s[i]->ino;
      de.nid = htole64 (t->nid);
      de.nameoff = htole16 ((uint16_t)nameoff);
      de.file_type = file_type (t);
      memcpy (buf + (i - start) * sizeof de, &de, sizeof de);
      memcpy (buf + nameoff, s[i]->name, s[i]->name_len);
      nameoff += s[i]->name_len;
    }
  *next = end;
  return used;
}

static int
write_xattrs (struct writer *w, const struct ex_inode *i, mp_error *err)
{
  struct erofs_fmt_xattr_ibody_header h = { 0 };
  static const unsigned char pad[4];

  if (i->nxattrs == 0)
    return 0;
  if (w_put (w, &h, sizeof h, err) < 0)
    return -1;
  for (uint32_t k = 0; k < i->nxattrs; k++)
    {
      const struct ex_xattr *xa = &i->xattrs[k];
      struct erofs_fmt_xattr_entry e = {
        .e_name_len = xa->name_len,
        .e_name_index = xa->index,
        .e_value_size = htole16 (xa->value_len),
      };
      size_t n = sizeof e + xa->name_len + xa->value_len;
      if (w_put (w, &e, sizeof e, err) < 0
          || w_put (w, xa->name, xa->name_len, err) < 0
          || w_put (w, xa->value, xa->value_len, err) < 0
          || w_put (w, pad, round_up (n, 4) - n, err) < 0)
        return -1;
    }
  return 0;
}

/* The chunk indexes of regular file I, each range checked against its
 * blob: no index may point outside it. */
static int
write_chunks (struct layout *l, struct writer *w, const struct ex_inode *i,
              mp_error *err)
{
  uint64_t chunk = 1ull << i->chunkbits;
  int64_t blob;

  if (i->device == 0 || i->device > l->x->nblobs)
    return mp_error_set (err, MP_ERR_INTERNAL, "file on no device");
  blob = l->x->blob_sizes[i->device - 1];
  if (i->data_offset % l->bs != 0 || i->data_offset > (uint64_t)blob
      || i->size > (uint64_t)blob - i->data_offset)
    return mp_error_set (err, MP_ERR_INTERNAL,
                         "file data %llu+%llu outside its %lld-byte blob",
                         (unsigned long long)i->data_offset,
                         (unsigned long long)i->size, (long long)blob);
  if (w_seek (w, round_up (w_pos (w), sizeof (struct erofs_fmt_chunk_index)),
              err)
      < 0)
    return -1;
  for (uint64_t k = 0; k < i->nchunks; k++)
    {
      uint64_t start = i->data_offset + k * chunk;
      uint64_t len = i->size - k * chunk < chunk ? i->size - k * chunk : chunk;
      uint64_t blk = start >> l->bits;
      struct erofs_fmt_chunk_index ci = { 0 };

      if (i->copy != NULL && k == i->nchunks - 1)
        {
          /* The copied last chunk, in the image's own blocks. */
          if (len != i->ncopy || i->startblk == EROFS_FMT_NULL_ADDR)
            return mp_error_set (err, MP_ERR_INTERNAL, "raw tail misplaced");
          ci.startblk_lo = htole32 (i->startblk);
          if (w_put (w, &ci, sizeof ci, err) < 0)
            return -1;
          continue;
        }
      /* Whole blocks only: the kernel reads the last one whole. */
      if (start + round_up (len, l->bs) > (uint64_t)blob
          || blk > UINT32_MAX - 1)
        return mp_error_set (
            err, MP_ERR_INTERNAL, "chunk %llu+%llu outside its blob",
            (unsigned long long)start, (unsigned long long)len);
      ci.device_id = htole16 (i->device);
      ci.startblk_lo = htole32 ((uint32_t)blk);
      if (w_put (w, &ci, sizeof ci, err) < 0)
        return -1;
    }
  return 0;
}

static int
write_inode (struct layout *l, struct writer *w, struct ex_inode *i,
             unsigned char *blockbuf, mp_error *err)
{
  uint16_t icount
      = i->xattr_isize ? (uint16_t)((i->xattr_isize - 12) / 4 + 1) : 0;
  uint16_t format = (uint16_t)((i->extended ? EROFS_FMT_INODE_EXTENDED
                                            : EROFS_FMT_INODE_COMPACT)
                               | i->layout << EROFS_FMT_LAYOUT_SHIFT);
  uint32_t iu
      = i->layout == EROFS_FMT_CHUNK_BASED
            ? (uint32_t)((i->chunkbits - l->bits) | EROFS_FMT_CHUNK_INDEXES)
            : i->startblk;

  if (w_seek (w, i->pos, err) < 0)
    return -1;
  if (i->extended)
    {
      struct erofs_fmt_inode_extended e = {
        .i_format = htole16 (format),
        .i_xattr_icount = htole16 (icount),
        .i_mode = htole16 ((uint16_t)i->mode),
        .i_size = htole64 (i->size),
        .i_u = htole32 (iu),
        .i_ino = htole32 (i->ino),
        .i_uid = htole32 (i->uid),
        .i_gid = htole32 (i->gid),
        .i_mtime = htole64 ((uint64_t)i->mtime),
        .i_mtime_nsec = htole32 (i->mtime_nsec),
        .i_nlink = htole32 (i->nlink),
      };
      if (w_put (w, &e, sizeof e, err) < 0)
        return -1;
    }
  else
    {
      struct erofs_fmt_inode_compact c = {
        .i_format = htole16 (format),
        .i_xattr_icount = htole16 (icount),
        .i_mode = htole16 ((uint16_t)i->mode),
        .i_nlink = htole16 ((uint16_t)i->nlink),
        .i_size = htole32 ((uint32_t)i->size),
        .i_u = htole32 (iu),
        .i_ino = htole32 (i->ino),
        .i_uid = htole16 ((uint16_t)i->uid),
        .i_gid = htole16 ((uint16_t)i->gid),
      };
      if (w_put (w, &c, sizeof c, err) < 0)
        return -1;
    }
  if (write_xattrs (w, i, err) < 0)
    return -1;
  if (i->layout == EROFS_FMT_CHUNK_BASED)
    return write_chunks (l, w, i, err);
  if (i->layout != EROFS_FMT_FLAT_INLINE)
    return 0;
  /* The inline tail: it must end in the inode's block. */
  if (w_pos (w) / l->bs != (w_pos (w) + i->tail - 1) / l->bs
      || w_pos (w) / l->bs != i->pos / l->bs)
    return mp_error_set (err, MP_ERR_INTERNAL,
                         "inline data would cross a block at %llu",
                         (unsigned long long)w_pos (w));
  if (S_ISLNK (i->mode))
    return w_put (w, i->symlink + i->size - i->tail, i->tail, err);
  {
    uint32_t next, used = dir_block (l, i, i->last_block_at, blockbuf, &next);
    if (used != i->tail || next != i->nsorted)
      return mp_error_set (err, MP_ERR_INTERNAL, "directory tail mismatch");
    return w_put (w, blockbuf, used, err);
  }
}

/* The whole blocks of a directory or symlink, at its startblk. */
static int
write_blocks (struct layout *l, struct writer *w, const struct ex_inode *i,
              unsigned char *blockbuf, mp_error *err)
{
  uint32_t at = 0;

  if (w_seek (w, (uint64_t)i->startblk * l->bs, err) < 0)
    return -1;
  for (uint64_t b = 0; b < i->data_blocks; b++)
    {
      uint64_t off = b * l->bs;
      if (S_ISLNK (i->mode) || S_ISREG (i->mode))
        {
          const char *src
              = S_ISLNK (i->mode) ? i->symlink : (const char *)i->copy;
          uint64_t size = S_ISLNK (i->mode) ? i->size : i->ncopy;
          uint64_t n = size - off < l->bs ? size - off : l->bs;
          memset (blockbuf, 0, l->bs);
          memcpy (blockbuf, src + off, n);
        }
      else
        dir_block (l, i, at, blockbuf, &at);
      if (w_put (w, blockbuf, l->bs, err) < 0)
        return -1;
    }
  if (S_ISDIR (i->mode) && i->layout == EROFS_FMT_FLAT_PLAIN
      && at != i->nsorted)
    return mp_error_set (err, MP_ERR_INTERNAL, "directory blocks mismatch");
  return 0;
}

static int
write_super (struct layout *l, struct writer *w, mp_error *err)
{
  erofs_index *x = l->x;
  struct erofs_fmt_super sb = {
    .magic = htole32 (EROFS_FMT_MAGIC),
    .blkszbits = (uint8_t)l->bits,
    .root_nid = htole16 ((uint16_t)x->root->ino->nid),
    .inos = htole64 (l->ninodes),
    .epoch = htole64 ((uint64_t)l->epoch),
    .fixed_nsec = htole32 (l->epoch_nsec),
    .blocks = htole32 ((uint32_t)l->blocks),
    .extra_devices = htole16 ((uint16_t)x->nblobs),
    .devt_slotoff
    = htole16 (DEVT_OFFSET / sizeof (struct erofs_fmt_device_slot)),
  };

  if (x->nblobs > 0)
    sb.feature_incompat = htole32 (EROFS_FMT_INCOMPAT_CHUNKED_FILE
                                   | EROFS_FMT_INCOMPAT_DEVICE_TABLE);
  if (w_seek (w, EROFS_FMT_SUPER_OFFSET, err) < 0
      || w_put (w, &sb, sizeof sb, err) < 0)
    return -1;
  for (size_t i = 0; i < x->nblobs; i++)
    {
      /* Chunks name their device: the blobs need no place in the flat
       * address space (uniaddr 0). */
      struct erofs_fmt_device_slot d = { 0 };
      uint64_t blocks = round_up ((uint64_t)x->blob_sizes[i], l->bs) / l->bs;
      d.blocks = htole32 ((uint32_t)blocks);
      if (w_put (w, &d, sizeof d, err) < 0)
        return -1;
    }
  return 0;
}

static int
pass_two (struct layout *l, int fd, mp_error *err)
{
  struct writer w = { .fd = fd, .cap = 1u << 20 };
  cleanup_free unsigned char *wbuf = malloc (w.cap);
  cleanup_free unsigned char *blockbuf = malloc (l->bs);

  if (wbuf == NULL || blockbuf == NULL)
    return mp_error_sys (err, ENOMEM, "index writer");
  w.buf = wbuf;
  if (write_super (l, &w, err) < 0)
    return -1;
  for (struct ex_inode *i = l->first; i != NULL; i = i->next)
    if (write_inode (l, &w, i, blockbuf, err) < 0)
      return -1;
  if (w_pos (&w) != l->meta_end)
    return mp_error_set (err, MP_ERR_INTERNAL, "inodes end at %llu, not %llu",
                         (unsigned long long)w_pos (&w),
                         (unsigned long long)l->meta_end);
  for (struct ex_inode *i = l->first; i != NULL; i = i->next)
    if (i->data_blocks > 0 && write_blocks (l, &w, i, blockbuf, err) < 0)
      return -1;
  if (w_seek (&w, l->blocks * l->bs, err) < 0 || w_flush (&w, err) < 0)
    return -1;
  /* Nothing of an older file past the image. */
  if (ftruncate (fd, (off_t)(l->blocks * l->bs)) < 0)
    return mp_error_sys (err, errno, "truncate the index");
  return 0;
}

int
erofs_index_write (erofs_index *x, int outfd, int64_t *size, mp_error *err)
{
  struct layout l = { .x = x, .bs = x->blksz, .bits = x->o.blkszbits };
  int r;

  if (x->broken)
    return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                         "the index is unusable after a failed layer");
  r = pass_one (&l, err);
  if (r == 0)
    r = pass_two (&l, outfd, err);
  free (l.sorted);
  if (r < 0)
    return mp_error_prefix (err, "EROFS index");
  if (size != NULL)
    *size = (int64_t)(l.blocks * l.bs);
  return 0;
}
