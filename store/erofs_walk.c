/* Reading an EROFS index back (erofs_index_walk in erofs.h): a strict
 * reader of what erofs_write.c writes, for tests, the fuzzer and anyone
 * who wants to check an index found on disk before mounting it.
 *
 * It reads the image as the kernel does (superblock, device table, inodes
 * by nid, directory blocks, chunk indexes, inline tails) and checks what
 * the kernel would trip on or, worse, silently follow: features beyond
 * ours, inodes or data outside the image, inline data across a block,
 * directory entries out of order or pointing at the wrong type, a
 * directory reached twice, and any chunk outside its blob. */
#include "store/erofs.h"
#include "store/erofs_format.h"
#include "store/unpack.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#define PATH_BUF (MODEL_UNPACK_MAX_PATH + EROFS_FMT_NAME_LEN + 2)

struct walker
{
  int fd;
  uint64_t img_size;
  unsigned bs, bits;
  uint64_t meta_base;
  uint64_t blocks;
  const int64_t *blobs;
  size_t nblobs;
  uint16_t devmask;
  int64_t epoch;
  uint32_t epoch_nsec;
  erofs_walk_fn fn;
  void *arg;
  uint64_t *dirs_seen; /* open addressing, 0 = empty (nid + 1 stored) */
  size_t ndirs_seen, capdirs_seen;
  char path[PATH_BUF];
  char *xtext;
  size_t xlen, xcap;
};

struct winode
{
  uint64_t nid, pos;
  bool extended;
  unsigned layout, isize, xattr_isize;
  uint16_t mode;
  uint32_t uid, gid, nlink, iu;
  uint64_t size;
  int64_t mtime;
  uint32_t mtime_nsec;
};

static int
bad (mp_error *err, const char *fmt, const char *path, unsigned long long v)
{
  char msg[256];

  snprintf (msg, sizeof msg, fmt, v);
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "EROFS image: %s%s%s",
                       path != NULL && path[0] ? path : "",
                       path != NULL && path[0] ? ": " : "", msg);
}

static int
read_img (struct walker *w, void *buf, size_t len, uint64_t off, mp_error *err)
{
  size_t done = 0;

  if (off > w->img_size || len > w->img_size - off)
    return bad (err, "read past the end of the image at %llu", w->path,
                (unsigned long long)off);
  while (done < len)
    {
      ssize_t n
          = pread (w->fd, (char *)buf + done, len - done, (off_t)(off + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mp_error_sys (err, errno, "read the EROFS image");
      if (n == 0)
        return bad (err, "image shorter than it was at %llu", w->path,
                    (unsigned long long)(off + done));
      done += (size_t)n;
    }
  return 0;
}

/* ---- inodes ---- */

static int
read_inode (struct walker *w, uint64_t nid, struct winode *in, mp_error *err)
{
  unsigned char raw[64];
  uint16_t format;
  uint64_t avail;

  memset (in, 0, sizeof *in);
  in->nid = nid;
  if (nid > (UINT64_MAX - w->meta_base) >> EROFS_FMT_ISLOT_BITS)
    return bad (err, "nid %llu out of range", w->path, (unsigned long long)nid);
  in->pos = w->meta_base + (nid << EROFS_FMT_ISLOT_BITS);
  if (in->pos >= w->img_size)
    return bad (err, "nid %llu outside the image", w->path,
                (unsigned long long)nid);
  avail = w->img_size - in->pos;
  if (read_img (w, raw, avail < 64 ? (size_t)avail : 64, in->pos, err) < 0)
    return -1;
  memcpy (&format, raw, 2);
  format = le16toh (format);
  if (format & ~(uint16_t)0x0f)
    return bad (err, "inode format 0x%llx not written by us", w->path, format);
  in->extended = (format & 1) != 0;
  in->layout = (format >> EROFS_FMT_LAYOUT_SHIFT) & EROFS_FMT_LAYOUT_MASK;
  in->isize = in->extended ? 64 : 32;
  if (avail < in->isize)
    return bad (err, "inode at %llu runs past the image", w->path,
                (unsigned long long)in->pos);
  if (in->extended)
    {
      struct erofs_fmt_inode_extended e;
      memcpy (&e, raw, sizeof e);
      in->xattr_isize = le16toh (e.i_xattr_icount);
      in->mode = le16toh (e.i_mode);
      in->size = le64toh (e.i_size);
      in->iu = le32toh (e.i_u);
      in->uid = le32toh (e.i_uid);
      in->gid = le32toh (e.i_gid);
      in->mtime = (int64_t)le64toh (e.i_mtime);
      in->mtime_nsec = le32toh (e.i_mtime_nsec);
      in->nlink = le32toh (e.i_nlink);
      if (in->mtime_nsec >= 1000000000)
        return bad (err, "nanoseconds %llu out of range", w->path,
                    in->mtime_nsec);
    }
  else
    {
      struct erofs_fmt_inode_compact c;
      memcpy (&c, raw, sizeof c);
      in->xattr_isize = le16toh (c.i_xattr_icount);
      in->mode = le16toh (c.i_mode);
      in->size = le32toh (c.i_size);
      in->iu = le32toh (c.i_u);
      in->uid = le16toh (c.i_uid);
      in->gid = le16toh (c.i_gid);
      in->nlink = le16toh (c.i_nlink);
      /* Kernels before 6.15 ignore i_mtime: a non-zero one would read
       * differently on them. */
      if (le32toh (c.i_mtime) != 0)
        return bad (err, "compact inode with its own mtime %llu", w->path,
                    le32toh (c.i_mtime));
      in->mtime = w->epoch;
      in->mtime_nsec = w->epoch_nsec;
    }
  if (in->xattr_isize > 0)
    in->xattr_isize = 12 + 4 * (in->xattr_isize - 1);
  if (in->xattr_isize > avail - in->isize)
    return bad (err, "xattrs of the inode at %llu run past the image", w->path,
                (unsigned long long)in->pos);
  if (in->nlink == 0)
    return bad (err, "inode at %llu has no links", w->path,
                (unsigned long long)in->pos);
  switch (in->mode & S_IFMT)
    {
    case S_IFREG:
      if (!(in->layout == EROFS_FMT_CHUNK_BASED && in->size > 0)
          && !(in->layout == EROFS_FMT_FLAT_PLAIN && in->size == 0))
        return bad (err, "regular file with data layout %llu", w->path,
                    in->layout);
      break;
    case S_IFDIR:
    case S_IFLNK:
      if (in->layout != EROFS_FMT_FLAT_PLAIN
          && in->layout != EROFS_FMT_FLAT_INLINE)
        return bad (err, "directory or symlink with data layout %llu", w->path,
                    in->layout);
      if (in->size == 0
          || ((in->mode & S_IFMT) == S_IFLNK
              && in->size > MODEL_UNPACK_MAX_PATH))
        return bad (err, "directory or symlink of size %llu", w->path,
                    (unsigned long long)in->size);
      break;
    default:
      return bad (err, "inode type 0%llo not written by us", w->path,
                  in->mode & S_IFMT);
    }
  return 0;
}

static void
xtext_add (struct walker *w, const char *s, size_t n, bool escape)
{
  static const char hex[] = "0123456789abcdef";

  for (size_t i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char)s[i];
      if (w->xlen + 5 > w->xcap)
        {
          size_t cap = w->xcap ? w->xcap * 2 : 256;
          char *p = realloc (w->xtext, cap);
          if (p == NULL)
            return; /* reported by the caller */
          w->xtext = p;
          w->xcap = cap;
        }
      if (escape && (c < 0x20 || c > 0x7e || c == '\\'))
        {
          w->xtext[w->xlen++] = '\\';
          w->xtext[w->xlen++] = 'x';
          w->xtext[w->xlen++] = hex[c >> 4];
          w->xtext[w->xlen++] = hex[c & 15];
        }
      else
        w->xtext[w->xlen++] = (char)c;
    }
  w->xtext[w->xlen] = '\0';
}

/* The inline xattrs as text; their count in *N. */
static int
read_xattrs (struct walker *w, const struct winode *in, size_t *n,
             mp_error *err)
{
  cleanup_free unsigned char *b = NULL;
  struct erofs_fmt_xattr_ibody_header h;
  size_t off = sizeof h;

  *n = 0;
  w->xlen = 0;
  if (in->xattr_isize == 0)
    return 0;
  b = malloc (in->xattr_isize);
  if (b == NULL)
    return mp_error_sys (err, ENOMEM, "read xattrs");
  if (read_img (w, b, in->xattr_isize, in->pos + in->isize, err) < 0)
    return -1;
  memcpy (&h, b, sizeof h);
  if (h.h_shared_count != 0)
    return bad (err, "shared xattrs (%llu) not written by us", w->path,
                h.h_shared_count);
  while (off < in->xattr_isize)
    {
      struct erofs_fmt_xattr_entry e;
      const char *prefix;
      size_t len;

      if (in->xattr_isize - off < sizeof e)
        return bad (err, "truncated xattr entry at %llu", w->path, off);
      memcpy (&e, b + off, sizeof e);
      len = sizeof e + e.e_name_len + le16toh (e.e_value_size);
      if (len > in->xattr_isize - off)
        return bad (err, "xattr entry at %llu runs past the xattrs", w->path,
                    off);
      switch (e.e_name_index)
        {
        case EROFS_FMT_XATTR_USER:
          prefix = "user.";
          break;
        case EROFS_FMT_XATTR_TRUSTED:
          prefix = "trusted.";
          break;
        case EROFS_FMT_XATTR_SECURITY:
          prefix = "security.";
          break;
        case EROFS_FMT_XATTR_POSIX_ACL_ACCESS:
          prefix = "system.posix_acl_access";
          break;
        case EROFS_FMT_XATTR_POSIX_ACL_DEFAULT:
          prefix = "system.posix_acl_default";
          break;
        default:
          return bad (err, "xattr name index %llu", w->path, e.e_name_index);
        }
      xtext_add (w, prefix, strlen (prefix), false);
      xtext_add (w, (const char *)b + off + sizeof e, e.e_name_len, true);
      xtext_add (w, "=", 1, false);
      xtext_add (w, (const char *)b + off + sizeof e + e.e_name_len,
                 le16toh (e.e_value_size), true);
      xtext_add (w, "\n", 1, false);
      if (w->xtext == NULL)
        return mp_error_sys (err, ENOMEM, "read xattrs");
      off += (len + 3) & ~(size_t)3;
      (*n)++;
    }
  if (off != in->xattr_isize)
    return bad (err, "xattr padding runs past the xattrs (%llu)", w->path, off);
  return 0;
}

/* A regular file's chunks: each inside its blob. */
static int
read_chunks (struct walker *w, const struct winode *in,
             struct erofs_walk_entry *e, mp_error *err)
{
  unsigned fmt = in->iu & 0xffff, cbits;
  uint64_t chunk, at, n;

  if ((fmt
       & ~(unsigned)(EROFS_FMT_CHUNK_BLKBITS_MASK | EROFS_FMT_CHUNK_INDEXES))
      || !(fmt & EROFS_FMT_CHUNK_INDEXES) || (in->iu >> 16) != 0)
    return bad (err, "chunk format 0x%llx not written by us", w->path, in->iu);
  cbits = w->bits + (fmt & EROFS_FMT_CHUNK_BLKBITS_MASK);
  chunk = 1ull << cbits;
  n = (in->size + chunk - 1) >> cbits;
  at = (in->pos + in->isize + in->xattr_isize + 7) & ~(uint64_t)7;
  if (at > w->img_size || n > (w->img_size - at) / 8)
    return bad (err, "chunk indexes run past the image (%llu)", w->path,
                (unsigned long long)n);
  e->chunks = n;
  e->contiguous = true;
  for (uint64_t k = 0; k < n; k++)
    {
      struct erofs_fmt_chunk_index ci;
      uint64_t start, end,
          len = in->size - k * chunk < chunk ? in->size - k * chunk : chunk;
      unsigned dev;

      if (read_img (w, &ci, sizeof ci, at + k * sizeof ci, err) < 0)
        return -1;
      dev = le16toh (ci.device_id) & w->devmask;
      if (le16toh (ci.startblk_hi) != 0
          || le32toh (ci.startblk_lo) == EROFS_FMT_NULL_ADDR)
        return bad (err, "chunk %llu is a hole or a 48-bit address", w->path,
                    (unsigned long long)k);
      if (dev > w->nblobs)
        return bad (err, "chunk on device %llu, which is not there", w->path,
                    dev);
      start = (uint64_t)le32toh (ci.startblk_lo) << w->bits;
      /* The kernel reads whole blocks: the last one must be there too. */
      end = (len + w->bs - 1) / w->bs * w->bs;
      if (dev == 0
              ? start > w->blocks * w->bs || end > w->blocks * w->bs - start
              : start > (uint64_t)w->blobs[dev - 1]
                    || end > (uint64_t)w->blobs[dev - 1] - start)
        return bad (err, "chunk at byte %llu runs past the end of its device",
                    w->path, (unsigned long long)start);
      if (k == 0)
        {
          e->device = dev;
          e->data_offset = start;
        }
      else if (dev != e->device || start != e->data_offset + k * chunk)
        e->contiguous = false;
    }
  return 0;
}

/* LEN bytes of a directory's or symlink's data from OFF into BUF: whole
 * blocks from startblk, the inline tail after the inode. */
static int
read_flat (struct walker *w, const struct winode *in, uint64_t off, size_t len,
           void *buf, mp_error *err)
{
  bool inl = in->layout == EROFS_FMT_FLAT_INLINE;
  uint64_t nblocks = (in->size + w->bs - 1) / w->bs;
  uint64_t full = inl ? in->size / w->bs : nblocks;
  uint64_t split = full * w->bs;

  if (off > in->size || len > in->size - off)
    return bad (err, "read past the end of a file at %llu", w->path,
                (unsigned long long)off);
  if (off < split)
    {
      size_t n = split - off < len ? (size_t)(split - off) : len;
      if (in->iu == EROFS_FMT_NULL_ADDR || in->iu + full > w->blocks)
        return bad (err, "data blocks outside the image (block %llu)", w->path,
                    in->iu);
      if (read_img (w, buf, n, (uint64_t)in->iu * w->bs + off, err) < 0)
        return -1;
      buf = (char *)buf + n;
      off += n;
      len -= n;
    }
  if (len > 0)
    {
      uint64_t tail = in->pos + in->isize + in->xattr_isize;
      uint64_t tlen = in->size - split;
      /* The kernel maps the tail only inside the inode's block. */
      if ((tail % w->bs) + tlen > w->bs || tlen == 0)
        return bad (err, "inline data crosses a block at %llu", w->path,
                    (unsigned long long)tail);
      return read_img (w, buf, len, tail + (off - split), err);
    }
  return 0;
}

/* ---- directories ---- */

struct wdirent
{
  uint64_t nid;
  uint8_t type;
  uint8_t len;
  char name[EROFS_FMT_NAME_LEN + 1];
};

static int
name_order (const struct wdirent *a, const struct wdirent *b)
{
  size_t n = a->len < b->len ? a->len : b->len;
  int r = memcmp (a->name, b->name, n);
  return r != 0 ? r : (a->len > b->len) - (a->len < b->len);
}

static int
read_dir (struct walker *w, const struct winode *in, struct wdirent **out,
          size_t *nout, mp_error *err)
{
  cleanup_free unsigned char *blk = malloc (w->bs);
  struct wdirent *v = NULL;
  size_t n = 0, cap = 0;

  if (blk == NULL)
    return mp_error_sys (err, ENOMEM, "read a directory");
  for (uint64_t off = 0; off < in->size; off += w->bs)
    {
      size_t used = in->size - off < w->bs ? in->size - off : w->bs;
      uint16_t first;
      size_t cnt;

      if (read_flat (w, in, off, used, blk, err) < 0)
        goto fail;
      memcpy (&first, blk + 8, 2);
      first = le16toh (first);
      if (first < sizeof (struct erofs_fmt_dirent) || first >= used
          || first % sizeof (struct erofs_fmt_dirent) != 0)
        {
          bad (err, "directory block at %llu: bad first name offset", w->path,
               (unsigned long long)off);
          goto fail;
        }
      cnt = first / sizeof (struct erofs_fmt_dirent);
      for (size_t i = 0; i < cnt; i++)
        {
          struct erofs_fmt_dirent de, nx;
          size_t start, end;
          struct wdirent d = { 0 };

          memcpy (&de, blk + i * sizeof de, sizeof de);
          start = le16toh (de.nameoff);
          if (i + 1 < cnt)
            {
              memcpy (&nx, blk + (i + 1) * sizeof nx, sizeof nx);
              end = le16toh (nx.nameoff);
            }
          else
            end = start
                  + strnlen ((char *)blk + start,
                             start < used ? used - start : 0);
          if (start < first || end <= start || end > used
              || end - start > EROFS_FMT_NAME_LEN)
            {
              bad (err, "directory block at %llu: bad name bounds", w->path,
                   (unsigned long long)off);
              goto fail;
            }
          d.nid = le64toh (de.nid);
          d.type = de.file_type;
          d.len = (uint8_t)(end - start);
          memcpy (d.name, blk + start, d.len);
          if (memchr (d.name, '/', d.len) || memchr (d.name, '\0', d.len))
            {
              bad (err, "directory entry with a '/' or NUL in its name",
                   w->path, 0);
              goto fail;
            }
          if (n > 0 && name_order (&v[n - 1], &d) >= 0)
            {
              bad (err, "directory entries out of order at block %llu", w->path,
                   (unsigned long long)off);
              goto fail;
            }
          if (n == cap)
            {
              size_t c = cap ? cap * 2 : 16;
              struct wdirent *nv = realloc (v, c * sizeof *nv);
              if (nv == NULL)
                {
                  mp_error_sys (err, ENOMEM, "read a directory");
                  goto fail;
                }
              v = nv;
              cap = c;
            }
          v[n++] = d;
        }
    }
  *out = v;
  *nout = n;
  return 0;
fail:
  free (v);
  return -1;
}

/* Note directory NID as reached; false if it already was. */
static bool
dir_first_visit (struct walker *w, uint64_t nid)
{
  if (w->ndirs_seen * 2 >= w->capdirs_seen)
    {
      size_t cap = w->capdirs_seen ? w->capdirs_seen * 2 : 256;
      uint64_t *t = calloc (cap, sizeof *t);
      if (t == NULL)
        return false;
      for (size_t i = 0; i < w->capdirs_seen; i++)
        if (w->dirs_seen[i] != 0)
          {
            size_t j = (w->dirs_seen[i] * 0x9e3779b97f4a7c15ull) & (cap - 1);
            while (t[j] != 0)
              j = (j + 1) & (cap - 1);
            t[j] = w->dirs_seen[i];
          }
      free (w->dirs_seen);
      w->dirs_seen = t;
      w->capdirs_seen = cap;
    }
  for (size_t j = ((nid + 1) * 0x9e3779b97f4a7c15ull) & (w->capdirs_seen - 1);;
       j = (j + 1) & (w->capdirs_seen - 1))
    {
      if (w->dirs_seen[j] == nid + 1)
        return false;
      if (w->dirs_seen[j] == 0)
        {
          w->dirs_seen[j] = nid + 1;
          w->ndirs_seen++;
          return true;
        }
    }
}

static uint8_t
type_of (uint16_t mode)
{
  switch (mode & S_IFMT)
    {
    case S_IFDIR:
      return EROFS_FMT_FT_DIR;
    case S_IFLNK:
      return EROFS_FMT_FT_SYMLINK;
    default:
      return EROFS_FMT_FT_REG_FILE;
    }
}

static int walk_dir (struct walker *w, const struct winode *dir,
                     uint64_t parent, size_t plen, unsigned depth,
                     mp_error *err);

/* Report the inode NID at w->path (PLEN bytes), then its children. */
static int
visit (struct walker *w, uint64_t nid, uint64_t parent, size_t plen,
       unsigned depth, struct winode *in, mp_error *err)
{
  struct erofs_walk_entry e = { 0 };
  char target[MODEL_UNPACK_MAX_PATH + 1];

  if (S_ISDIR (in->mode) && !dir_first_visit (w, nid))
    return bad (err, "directory nid %llu reached twice", w->path,
                (unsigned long long)nid);
  e.path = w->path;
  e.nid = nid;
  e.mode = in->mode;
  e.uid = in->uid;
  e.gid = in->gid;
  e.nlink = in->nlink;
  e.mtime = in->mtime;
  e.mtime_nsec = in->mtime_nsec;
  e.size = in->size;
  if (read_xattrs (w, in, &e.nxattrs, err) < 0)
    return -1;
  e.xattrs = e.nxattrs > 0 ? w->xtext : NULL;
  if (S_ISREG (in->mode) && in->size > 0 && read_chunks (w, in, &e, err) < 0)
    return -1;
  if (S_ISLNK (in->mode))
    {
      if (read_flat (w, in, 0, in->size, target, err) < 0)
        return -1;
      target[in->size] = '\0';
      if (strlen (target) != in->size)
        return bad (err, "symlink target with a NUL byte", w->path, 0);
      e.symlink = target;
    }
  if (w->fn != NULL && w->fn (&e, w->arg, err) < 0)
    return -1;
  if (S_ISDIR (in->mode))
    return walk_dir (w, in, parent, plen, depth, err);
  return 0;
}

static int
walk_dir (struct walker *w, const struct winode *dir, uint64_t parent,
          size_t plen, unsigned depth, mp_error *err)
{
  struct wdirent *v = NULL;
  size_t n = 0, subdirs = 0;
  bool dot = false, dotdot = false;
  int r = -1;

  if (depth > MODEL_UNPACK_MAX_DEPTH + 1)
    return bad (err, "deeper than %llu levels", w->path,
                MODEL_UNPACK_MAX_DEPTH);
  if (read_dir (w, dir, &v, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      struct wdirent *d = &v[i];
      struct winode in;

      if (d->len == 1 && d->name[0] == '.')
        {
          if (d->nid != dir->nid || d->type != EROFS_FMT_FT_DIR)
            {
              bad (err, "\".\" is not the directory itself", w->path, 0);
              goto out;
            }
          dot = true;
          continue;
        }
      if (d->len == 2 && d->name[0] == '.' && d->name[1] == '.')
        {
          if (d->nid != parent || d->type != EROFS_FMT_FT_DIR)
            {
              bad (err, "\"..\" is not the parent", w->path, 0);
              goto out;
            }
          dotdot = true;
          continue;
        }
      if (plen + 1 + d->len >= PATH_BUF)
        {
          bad (err, "path too long", w->path, 0);
          goto out;
        }
      if (plen > 0)
        w->path[plen] = '/';
      memcpy (w->path + plen + (plen > 0), d->name, d->len);
      w->path[plen + (plen > 0) + d->len] = '\0';
      if (read_inode (w, d->nid, &in, err) < 0)
        goto out;
      if (type_of (in.mode) != d->type)
        {
          bad (err, "entry type %llu differs from its inode's", w->path,
               d->type);
          goto out;
        }
      if (S_ISDIR (in.mode))
        subdirs++;
      if (visit (w, d->nid, dir->nid, plen + (plen > 0) + d->len, depth + 1,
                 &in, err)
          < 0)
        goto out;
      w->path[plen] = '\0';
    }
  if (!dot || !dotdot)
    {
      bad (err, "directory without \".\" or \"..\"", w->path, 0);
      goto out;
    }
  if (dir->nlink != 2 + subdirs)
    {
      bad (err, "directory link count %llu, not 2 + its subdirectories",
           w->path, dir->nlink);
      goto out;
    }
  r = 0;
out:
  free (v);
  return r;
}

int
erofs_index_walk (int fd, const int64_t *blob_sizes, size_t nblobs,
                  erofs_walk_fn fn, void *arg, mp_error *err)
{
  struct walker w = {
    .fd = fd, .blobs = blob_sizes, .nblobs = nblobs, .fn = fn, .arg = arg
  };
  struct erofs_fmt_super sb;
  struct winode root;
  struct stat st;
  uint32_t incompat;
  uint64_t devt;
  int r;

  if (fstat (fd, &st) < 0)
    return mp_error_sys (err, errno, "stat the EROFS image");
  w.img_size = (uint64_t)st.st_size;
  if (read_img (&w, &sb, sizeof sb, EROFS_FMT_SUPER_OFFSET, err) < 0)
    return -1;
  if (le32toh (sb.magic) != EROFS_FMT_MAGIC)
    return bad (err, "no EROFS superblock (magic 0x%llx)", NULL,
                le32toh (sb.magic));
  if (sb.blkszbits < 9 || sb.blkszbits > 12)
    return bad (err, "block size bits %llu", NULL, sb.blkszbits);
  w.bits = sb.blkszbits;
  w.bs = 1u << w.bits;
  incompat = le32toh (sb.feature_incompat);
  if (incompat
      & ~(EROFS_FMT_INCOMPAT_CHUNKED_FILE | EROFS_FMT_INCOMPAT_DEVICE_TABLE))
    return bad (err, "incompatible features 0x%llx beyond ours", NULL,
                incompat);
  if (sb.dirblkbits != 0 || le16toh (sb.available_compr_algs) != 0)
    return bad (err, "directory block bits or compression set", NULL, 0);
  w.blocks = le32toh (sb.blocks);
  if (w.blocks > w.img_size / w.bs)
    return bad (err, "superblock claims %llu blocks, more than the image", NULL,
                (unsigned long long)w.blocks);
  w.meta_base = (uint64_t)le32toh (sb.meta_blkaddr) * w.bs;
  w.epoch = (int64_t)le64toh (sb.epoch);
  w.epoch_nsec = le32toh (sb.fixed_nsec);
  if (w.epoch_nsec >= 1000000000)
    return bad (err, "epoch nanoseconds %llu", NULL, w.epoch_nsec);
  if (((incompat & EROFS_FMT_INCOMPAT_DEVICE_TABLE) ? le16toh (sb.extra_devices)
                                                    : 0)
      != nblobs)
    return bad (err,
                "the image has %llu extra devices, not as many as the "
                "blobs given",
                NULL, le16toh (sb.extra_devices));
  devt = (uint64_t)le16toh (sb.devt_slotoff)
         * sizeof (struct erofs_fmt_device_slot);
  for (size_t i = 0; i < nblobs; i++)
    {
      struct erofs_fmt_device_slot d;
      if (read_img (&w, &d, sizeof d, devt + i * sizeof d, err) < 0)
        return -1;
      /* A device may claim less than its blob (mkfs.erofs counts what
       * it indexed), never more. */
      if (blob_sizes[i] < 0
          || le32toh (d.blocks) > ((uint64_t)blob_sizes[i] + w.bs - 1) / w.bs)
        return bad (err, "device %llu is larger than its blob", NULL,
                    (unsigned long long)i + 1);
    }
  /* The kernel masks device ids to the next power of two above the
   * count. */
  w.devmask = 1;
  while (w.devmask < nblobs + 1)
    w.devmask = (uint16_t)(w.devmask << 1);
  w.devmask--;
  w.path[0] = '\0';
  if (read_inode (&w, le16toh (sb.root_nid), &root, err) < 0)
    return -1;
  if (!S_ISDIR (root.mode))
    return bad (err, "the root is not a directory", NULL, 0);
  r = visit (&w, root.nid, root.nid, 0, 0, &root, err);
  free (w.dirs_seen);
  free (w.xtext);
  return r;
}
