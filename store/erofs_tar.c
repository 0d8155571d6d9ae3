/* Tar layers for the EROFS index: the headers of a plain tar blob, read
 * by seeking, turned into tree entries (erofs.c) whose data stays where it
 * is in the blob.
 *
 * Why our own header parser: libarchive, which the unpacker uses, hands
 * out entries and their bytes but not where those bytes sit in the
 * archive, and an index is nothing but those positions.  So this reads
 * the headers itself (pread of 512-byte blocks, file data skipped, never
 * read) and is fuzzed (tests/fuzz_erofs.c).
 *
 * It reads ustar (POSIX) and GNU headers, PAX extended headers (x) with
 * path, linkpath, size, mtime, uid, gid and SCHILY.xattr.*, GNU long names
 * and link names (L, K) and base-256 numbers, checks every checksum, and
 * stops at two zero blocks or at the end of the blob after zero or one.
 * What readers disagree on is refused rather than guessed, because the
 * index must show the tree the unpacker would make:
 *   - a zero block followed by more headers (libarchive stops there, others
 *     read on);
 *   - a size on a hard link, symlink or directory (libarchive skips no
 *     data after those; others skip the size);
 *   - global PAX headers (g) that would change entries (libarchive ignores
 *     them; POSIX applies them to every later entry); comments and the
 *     like are fine (git archive writes one);
 *   - two extended headers of one kind before an entry, or both a PAX path
 *     and a GNU long name;
 *   - old V7 headers without the ustar magic.
 * Entries are checked as the unpacker checks them (store/layer_path.c):
 * sparse files, devices, FIFOs and unknown types are refused; contiguous
 * files (7) are regular files, as libarchive and mkfs.erofs read them. */
#include "store/erofs.h"
#include "store/erofs_format.h"
#include "store/erofs_internal.h"
#include "store/layer_path.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/digest.h"
#include "util/cleanup.h"

#define TAR_BLOCK 512u
/* Extended header bodies are read whole: a bound against a header that
 * claims gigabytes.  Generous for paths and a few xattrs. */
#define PAX_MAX (1u << 20)

/* The ustar header block (POSIX.1-1988, with GNU's use of the same
 * fields). */
struct tar_header
{
  char name[100];
  char mode[8];
  char uid[8];
  char gid[8];
  char size[12];
  char mtime[12];
  char chksum[8];
  char typeflag;
  char linkname[100];
  char magic[6];
  char version[2];
  char uname[32];
  char gname[32];
  char devmajor[8];
  char devminor[8];
  char prefix[155]; /* POSIX ustar only: GNU keeps other things here */
  char pad[12];
};
static_assert (sizeof (struct tar_header) == TAR_BLOCK, "tar header");

/* What extended headers said about the next entry. */
struct pending
{
  bool seen_x, seen_g, seen_L, seen_K;
  char *path, *link; /* PAX path/linkpath */
  char *long_name, *long_link;
  bool has_size, has_mtime, has_uid, has_gid;
  uint64_t size;
  int64_t mtime;
  uint32_t mtime_nsec;
  int64_t uid, gid;
  struct ex_xattr *xattrs;
  size_t nxattrs, capxattrs;
  /* Bodies the xattrs point into. */
  unsigned char **bodies;
  size_t nbodies;
};

struct tar
{
  erofs_index *x;
  int fd;
  uint64_t size;
  uint64_t pos; /* the next header */
  uint64_t entries, max_entries;
  struct pending p;
  char path[MODEL_UNPACK_MAX_PATH + 1];
  char link[MODEL_UNPACK_MAX_PATH + 1];
};

static void
pending_clear (struct pending *p)
{
  free (p->path);
  free (p->link);
  free (p->long_name);
  free (p->long_link);
  free (p->xattrs);
  for (size_t i = 0; i < p->nbodies; i++)
    free (p->bodies[i]);
  free (p->bodies);
  memset (p, 0, sizeof *p);
}

static int
read_at (struct tar *t, void *buf, size_t len, uint64_t off, mp_error *err)
{
  size_t done = 0;

  while (done < len)
    {
      ssize_t n
          = pread (t->fd, (char *)buf + done, len - done, (off_t)(off + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mp_error_sys (err, errno, "read the blob at %llu",
                             (unsigned long long)(off + done));
      if (n == 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "the blob ends at %llu, before its stated size",
                             (unsigned long long)(off + done));
      done += (size_t)n;
    }
  return 0;
}

/* ---- numbers ---- */

/* A numeric header field: octal digits (leading spaces, then space or NUL
 * to the end; all blank is 0), or GNU base-256 (high bit of the first byte
 * set; two's complement, big-endian).  -1 if malformed or past int64. */
static int
parse_num (const char *f, size_t n, int64_t *out)
{
  const unsigned char *u = (const unsigned char *)f;
  uint64_t v = 0;
  size_t i = 0;

  if (u[0] & 0x80)
    {
      bool neg = (u[0] & 0x40) != 0;
      for (i = 0; i < n; i++)
        {
          unsigned b = neg ? ~u[i] & 0xffu : u[i];
          if (i == 0)
            b &= 0x7f;
          if (v > (UINT64_MAX >> 8))
            return -1;
          v = (v << 8) | b;
        }
      if (v > INT64_MAX)
        return -1;
      *out = neg ? -(int64_t)v - 1 : (int64_t)v;
      return 0;
    }
  while (i < n && u[i] == ' ')
    i++;
  for (; i < n && u[i] >= '0' && u[i] <= '7'; i++)
    {
      if (v > (uint64_t)INT64_MAX >> 3)
        return -1;
      v = (v << 3) | (u[i] - '0');
    }
  for (; i < n; i++)
    if (u[i] != ' ' && u[i] != '\0')
      return -1;
  *out = (int64_t)v;
  return 0;
}

/* A PAX decimal: optional '-' (if SIGNED), digits, and for times an
 * optional fraction kept to nanoseconds.  Whole value, or -1. */
static int
parse_decimal (const char *s, size_t n, bool is_signed, bool fraction,
               int64_t *out, uint32_t *nsec)
{
  bool neg = false;
  uint64_t v = 0, ns = 0;
  size_t i = 0, digits = 0;

  if (is_signed && i < n && s[i] == '-')
    neg = true, i++;
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
    {
      if (v > (uint64_t)(INT64_MAX - 9) / 10)
        return -1;
      v = v * 10 + (uint64_t)(s[i] - '0');
    }
  if (digits == 0)
    return -1;
  if (fraction && i < n && s[i] == '.')
    {
      size_t f = 0;
      for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, f++)
        if (f < 9)
          ns = ns * 10 + (uint64_t)(s[i] - '0');
      for (; f < 9; f++)
        ns *= 10;
    }
  if (i != n)
    return -1;
  if (neg && ns > 0)
    {
      /* -1.25 is 1.75 seconds before -0: whole seconds round down. */
      v += 1;
      ns = 1000000000 - ns;
    }
  *out = neg ? -(int64_t)v : (int64_t)v;
  if (nsec != NULL)
    *nsec = (uint32_t)ns;
  return 0;
}

/* ---- extended headers ---- */

static int
read_body (struct tar *t, uint64_t off, uint64_t size, size_t max,
           unsigned char **out, mp_error *err)
{
  cleanup_free unsigned char *b = NULL;

  if (size > max)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "extended header of %llu bytes (at most %zu)",
                         (unsigned long long)size, max);
  b = malloc (size + 1);
  if (b == NULL)
    return mp_error_sys (err, ENOMEM, "extended header");
  if (read_at (t, b, size, off, err) < 0)
    return -1;
  b[size] = '\0';
  *out = steal_pointer (&b);
  return 0;
}

static bool
key_is (const char *k, size_t klen, const char *want)
{
  return klen == strlen (want) && memcmp (k, want, klen) == 0;
}

static bool
key_has_prefix (const char *k, size_t klen, const char *prefix)
{
  size_t n = strlen (prefix);
  return klen >= n && memcmp (k, prefix, n) == 0;
}

static int
pax_string (const char *v, size_t vlen, const char *key, char **out,
            mp_error *err)
{
  if (vlen == 0 || memchr (v, '\0', vlen) != NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "PAX %s is empty or holds a NUL byte", key);
  if (vlen > MODEL_UNPACK_MAX_PATH)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "PAX %s longer than %d bytes", key,
                         MODEL_UNPACK_MAX_PATH);
  free (*out);
  *out = strndup (v, vlen);
  if (*out == NULL)
    return mp_error_sys (err, ENOMEM, "extended header");
  return 0;
}

/* SCHILY.xattr.NAME=VALUE: NAME split into an EROFS prefix index and the
 * rest.  Names EROFS has no prefix for are refused (reference mode only:
 * what we serve has no xattrs). */
static int
pax_xattr (struct tar *t, const char *name, size_t nlen,
           const unsigned char *value, size_t vlen, mp_error *err)
{
  static const struct
  {
    const char *prefix;
    uint8_t index;
    bool whole; /* the name is the prefix itself */
  } prefixes[] = {
    { "user.", EROFS_FMT_XATTR_USER, false },
    { "trusted.", EROFS_FMT_XATTR_TRUSTED, false },
    { "security.", EROFS_FMT_XATTR_SECURITY, false },
    { "system.posix_acl_access", EROFS_FMT_XATTR_POSIX_ACL_ACCESS, true },
    { "system.posix_acl_default", EROFS_FMT_XATTR_POSIX_ACL_DEFAULT, true },
  };
  struct pending *p = &t->p;
  struct ex_xattr xa = { 0 };
  char q[MODEL_QUOTE_BUF], shown[256];
  size_t i;

  if (!t->x->o.as_tar_says)
    return 0;
  snprintf (shown, sizeof shown, "%.*s", (int)(nlen < 200 ? nlen : 200), name);
  for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    {
      size_t plen = strlen (prefixes[i].prefix);
      if (prefixes[i].whole ? nlen == plen : nlen > plen)
        if (memcmp (name, prefixes[i].prefix, plen) == 0)
          break;
    }
  if (i == sizeof prefixes / sizeof prefixes[0]
      || memchr (name, '\0', nlen) != NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "xattr %s has no EROFS name prefix",
                         model_quote (shown, q, sizeof q));
  xa.index = prefixes[i].index;
  xa.name = name + strlen (prefixes[i].prefix);
  if (nlen - strlen (prefixes[i].prefix) > EROFS_FMT_NAME_LEN
      || vlen > UINT16_MAX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "xattr %s: name or value too long",
                         model_quote (shown, q, sizeof q));
  xa.name_len = (uint8_t)(nlen - strlen (prefixes[i].prefix));
  xa.value = value;
  xa.value_len = (uint16_t)vlen;
  /* A name given twice: the later value. */
  for (i = 0; i < p->nxattrs; i++)
    if (p->xattrs[i].index == xa.index && p->xattrs[i].name_len == xa.name_len
        && memcmp (p->xattrs[i].name, xa.name, xa.name_len) == 0)
      {
        p->xattrs[i] = xa;
        return 0;
      }
  if (p->nxattrs == p->capxattrs)
    {
      size_t cap = p->capxattrs ? p->capxattrs * 2 : 4;
      struct ex_xattr *n = realloc (p->xattrs, cap * sizeof *n);
      if (n == NULL)
        return mp_error_sys (err, ENOMEM, "extended header");
      p->xattrs = n;
      p->capxattrs = cap;
    }
  p->xattrs[p->nxattrs++] = xa;
  return 0;
}

/* One "LEN KEY=VALUE\n" record of a PAX body at B (N bytes left): its
 * length in *LEN. */
static int
pax_record (const unsigned char *b, size_t n, size_t *len, const char **key,
            size_t *klen, const unsigned char **value, size_t *vlen,
            mp_error *err)
{
  size_t i = 0, l = 0;
  const unsigned char *eq;

  for (; i < n && b[i] >= '0' && b[i] <= '9'; i++)
    {
      if (l > PAX_MAX)
        break;
      l = l * 10 + (size_t)(b[i] - '0');
    }
  if (i == 0 || i >= n || b[i] != ' ' || l > n || l < i + 3 || b[l - 1] != '\n')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "malformed PAX record");
  eq = memchr (b + i + 1, '=', l - i - 2);
  if (eq == NULL || eq == b + i + 1)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "malformed PAX record");
  *key = (const char *)b + i + 1;
  *klen = (size_t)(eq - (b + i + 1));
  *value = eq + 1;
  *vlen = (size_t)(b + l - 1 - (eq + 1));
  *len = l;
  return 0;
}

/* Keywords whose meaning depends on which reader reads them: refused in
 * global headers (see the top of the file). */
static bool
pax_key_changes_entries (const char *k, size_t klen)
{
  return key_is (k, klen, "path") || key_is (k, klen, "linkpath")
         || key_is (k, klen, "size") || key_is (k, klen, "mtime")
         || key_is (k, klen, "uid") || key_is (k, klen, "gid")
         || key_has_prefix (k, klen, "SCHILY.")
         || key_has_prefix (k, klen, "GNU.")
         || key_has_prefix (k, klen, "LIBARCHIVE.")
         || key_has_prefix (k, klen, "SUN.");
}

static int
parse_pax (struct tar *t, unsigned char *body, size_t n, bool global,
           mp_error *err)
{
  struct pending *p = &t->p;
  char q[MODEL_QUOTE_BUF], shown[128];

  for (size_t off = 0; off < n;)
    {
      const char *k = "";
      const unsigned char *v = NULL;
      size_t len = 0, klen = 0, vlen = 0;
      int64_t num;

      if (pax_record (body + off, n - off, &len, &k, &klen, &v, &vlen, err) < 0)
        return -1;
      off += len;
      snprintf (shown, sizeof shown, "%.*s", (int)(klen < 100 ? klen : 100), k);
      if (global)
        {
          if (pax_key_changes_entries (k, klen))
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "global PAX header sets %s: tar readers "
                                 "disagree on global headers (libarchive "
                                 "ignores them)",
                                 model_quote (shown, q, sizeof q));
          continue;
        }
      if (key_is (k, klen, "path"))
        {
          if (pax_string ((const char *)v, vlen, "path", &p->path, err) < 0)
            return -1;
        }
      else if (key_is (k, klen, "linkpath"))
        {
          if (pax_string ((const char *)v, vlen, "linkpath", &p->link, err) < 0)
            return -1;
        }
      else if (key_is (k, klen, "size"))
        {
          if (parse_decimal ((const char *)v, vlen, false, false, &num, NULL)
              < 0)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "bad PAX size");
          p->size = (uint64_t)num;
          p->has_size = true;
        }
      else if (key_is (k, klen, "mtime"))
        {
          if (parse_decimal ((const char *)v, vlen, true, true, &p->mtime,
                             &p->mtime_nsec)
              < 0)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "bad PAX mtime");
          p->has_mtime = true;
        }
      else if (key_is (k, klen, "uid") || key_is (k, klen, "gid"))
        {
          bool uid = k[0] == 'u';
          if (parse_decimal ((const char *)v, vlen, false, false,
                             uid ? &p->uid : &p->gid, NULL)
              < 0)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "bad PAX %s",
                                 uid ? "uid" : "gid");
          *(uid ? &p->has_uid : &p->has_gid) = true;
        }
      else if (key_has_prefix (k, klen, "SCHILY.xattr."))
        {
          size_t plen = strlen ("SCHILY.xattr.");
          if (pax_xattr (t, k + plen, klen - plen, v, vlen, err) < 0)
            return -1;
        }
      else if (key_has_prefix (k, klen, "GNU.sparse.")
               || key_is (k, klen, "SCHILY.realsize")
               || key_has_prefix (k, klen, "SUN.holes"))
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "sparse files are not allowed in a model layer");
      /* Anything else (uname, gname, atime, ctime, comment, charset,
       * LIBARCHIVE.xattr.* beside their SCHILY twins, ...) changes
       * nothing we keep. */
    }
  return 0;
}

/* The NUL-terminated text of an L or K body (its size counts the NUL). */
static int
gnu_long (struct tar *t, uint64_t off, uint64_t size, char **out, mp_error *err)
{
  unsigned char *b = NULL;
  size_t len;

  if (size == 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "empty GNU long name");
  if (size > MODEL_UNPACK_MAX_PATH + 1)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "path longer than %d bytes", MODEL_UNPACK_MAX_PATH);
  if (read_body (t, off, size, MODEL_UNPACK_MAX_PATH + 1, &b, err) < 0)
    return -1;
  len = strnlen ((char *)b, size);
  /* Only NULs may follow the name. */
  for (size_t i = len; i < size; i++)
    if (b[i] != '\0')
      {
        free (b);
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "GNU long name holds a NUL byte");
      }
  free (*out);
  *out = (char *)b;
  return 0;
}

/* ---- headers ---- */

static bool
all_zero (const unsigned char *b)
{
  for (size_t i = 0; i < TAR_BLOCK; i++)
    if (b[i] != 0)
      return false;
  return true;
}

/* POSIX sums unsigned bytes; some old tars summed signed ones: either. */
static bool
checksum_ok (const struct tar_header *h)
{
  const unsigned char *u = (const unsigned char *)h;
  const signed char *s = (const signed char *)h;
  int64_t want;
  long usum = 0, ssum = 0;

  if (parse_num (h->chksum, sizeof h->chksum, &want) < 0)
    return false;
  for (size_t i = 0; i < TAR_BLOCK; i++)
    {
      bool in_field = i >= 148 && i < 156;
      usum += in_field ? ' ' : u[i];
      ssum += in_field ? ' ' : s[i];
    }
  return want == usum || want == ssum;
}

static bool
ends_with_slash (const char *s)
{
  size_t n = strlen (s);
  return n > 0 && s[n - 1] == '/';
}

/* The entry's name and link target as the headers give them: PAX, then
 * GNU long names, then the ustar fields (with the POSIX prefix). */
static int
entry_names (struct tar *t, const struct tar_header *h, bool posix, char *name,
             char *link, mp_error *err)
{
  struct pending *p = &t->p;

  if (p->path != NULL && p->long_name != NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "both a PAX path and a GNU long name");
  if (p->link != NULL && p->long_link != NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "both a PAX linkpath and a GNU long link name");
  if (p->path != NULL || p->long_name != NULL)
    snprintf (name, MODEL_UNPACK_MAX_PATH + 2, "%s",
              p->path ? p->path : p->long_name);
  else if (posix && h->prefix[0] != '\0')
    snprintf (name, MODEL_UNPACK_MAX_PATH + 2, "%.*s/%.*s",
              (int)strnlen (h->prefix, sizeof h->prefix), h->prefix,
              (int)strnlen (h->name, sizeof h->name), h->name);
  else
    snprintf (name, MODEL_UNPACK_MAX_PATH + 2, "%.*s",
              (int)strnlen (h->name, sizeof h->name), h->name);
  if (p->link != NULL || p->long_link != NULL)
    snprintf (link, MODEL_UNPACK_MAX_PATH + 2, "%s",
              p->link ? p->link : p->long_link);
  else
    snprintf (link, MODEL_UNPACK_MAX_PATH + 2, "%.*s",
              (int)strnlen (h->linkname, sizeof h->linkname), h->linkname);
  return 0;
}

/* Copy the pending xattrs into the index's memory (reference mode). */
static int
keep_xattrs (struct tar *t, struct ex_entry *e, mp_error *err)
{
  struct pending *p = &t->p;
  struct ex_xattr *xs;

  if (p->nxattrs == 0)
    return 0;
  if (erofs_xattr_isize (p->xattrs, p->nxattrs) > EROFS_XATTR_ISIZE_MAX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "xattrs too large for an EROFS inode");
  xs = erofs_arena_alloc (t->x, p->nxattrs * sizeof *xs);
  if (xs == NULL)
    return mp_error_sys (err, ENOMEM, "xattrs");
  for (size_t i = 0; i < p->nxattrs; i++)
    {
      xs[i] = p->xattrs[i];
      xs[i].name = erofs_arena_strndup (t->x, p->xattrs[i].name,
                                        p->xattrs[i].name_len);
      xs[i].value = (const uint8_t *)erofs_arena_strndup (
          t->x, (const char *)p->xattrs[i].value, p->xattrs[i].value_len);
      if (xs[i].name == NULL || xs[i].value == NULL)
        return mp_error_sys (err, ENOMEM, "xattrs");
    }
  e->xattrs = xs;
  e->nxattrs = p->nxattrs;
  return 0;
}

/* One entry header at HOFF (its data, if any, right after). */
static int
tar_entry (struct tar *t, const struct tar_header *h, uint64_t hoff,
           uint64_t size, mp_error *err)
{
  char raw[MODEL_UNPACK_MAX_PATH + 2], rawlink[MODEL_UNPACK_MAX_PATH + 2];
  char q[MODEL_QUOTE_BUF], q2[MODEL_QUOTE_BUF];
  struct pending *p = &t->p;
  struct ex_entry e = { 0 };
  bool posix = memcmp (h->magic, "ustar\0", 6) == 0;
  int64_t v;

  if (entry_names (t, h, posix, raw, rawlink, err) < 0)
    return -1;
  switch (h->typeflag)
    {
    case '0':
    case '\0':
    case '7':
      /* Old tars mark directories with a trailing slash alone. */
      e.kind = ends_with_slash (raw) ? EX_DIR : EX_FILE;
      break;
    case '1':
      e.kind = EX_HARDLINK;
      break;
    case '2':
      e.kind = EX_SYMLINK;
      break;
    case '5':
      e.kind = EX_DIR;
      break;
    case '3':
    case '4':
    case '6':
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "entry %s: device nodes, FIFOs and sockets are "
                           "not allowed in a model layer",
                           model_quote (raw, q, sizeof q));
    case 'S':
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "entry %s: sparse files are not allowed in a "
                           "model layer",
                           model_quote (raw, q, sizeof q));
    default:
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "entry %s: unsupported entry type 0x%02x",
                           model_quote (raw, q, sizeof q),
                           (unsigned char)h->typeflag);
    }
  if (++t->entries > t->max_entries)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "more than %llu entries (max_layer_entries)",
                         (unsigned long long)t->max_entries);
  if (raw[0] == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry %llu: no usable name",
                         (unsigned long long)t->entries);
  if (strlen (raw) > MODEL_UNPACK_MAX_PATH)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry %s: path longer than %d bytes",
                         model_quote (raw, q, sizeof q), MODEL_UNPACK_MAX_PATH);
  if (layer_path_normalize (raw, t->path, "entry", err) < 0)
    {
      /* Some of the shared messages leave the name out. */
      if (strstr (err->msg, raw) == NULL)
        mp_error_prefix (err, "entry %s", model_quote (raw, q, sizeof q));
      return -1;
    }
  e.path = t->path;
  if (e.kind != EX_FILE && size != 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry %s: a %s with a size of %llu (tar readers "
                         "disagree on whether data follows)",
                         model_quote (raw, q, sizeof q),
                         e.kind == EX_DIR       ? "directory"
                         : e.kind == EX_SYMLINK ? "symlink"
                                                : "hard link",
                         (unsigned long long)size);

  if (parse_num (h->mode, sizeof h->mode, &v) < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry %s: bad mode field",
                         model_quote (raw, q, sizeof q));
  e.mode = (uint32_t)(v & 07777);
  if (p->has_uid)
    e.uid = p->uid;
  else if (parse_num (h->uid, sizeof h->uid, &e.uid) < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry %s: bad uid field",
                         model_quote (raw, q, sizeof q));
  if (p->has_gid)
    e.gid = p->gid;
  else if (parse_num (h->gid, sizeof h->gid, &e.gid) < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry %s: bad gid field",
                         model_quote (raw, q, sizeof q));
  e.has_mtime = true;
  if (p->has_mtime)
    {
      e.mtime = p->mtime;
      e.mtime_nsec = p->mtime_nsec;
    }
  else if (parse_num (h->mtime, sizeof h->mtime, &e.mtime) < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "entry %s: bad mtime field",
                         model_quote (raw, q, sizeof q));

  if (e.kind == EX_FILE)
    {
      e.size = size;
      e.data_offset = hoff + TAR_BLOCK;
    }
  else if (e.kind == EX_HARDLINK)
    {
      if (layer_path_normalize (rawlink, t->link, "hard link target", err) < 0)
        return mp_error_prefix (err, "entry %s",
                                model_quote (raw, q, sizeof q));
      if (t->link[0] == '\0')
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "entry %s: hard link to the layer root",
                             model_quote (raw, q, sizeof q));
      e.link = t->link;
    }
  else if (e.kind == EX_SYMLINK)
    {
      /* The target is only text, never resolved here; still, a model has
       * no business pointing outside itself (an extracted copy would lead
       * whoever follows it elsewhere on the host). */
      if (rawlink[0] == '\0' || strlen (rawlink) > MODEL_UNPACK_MAX_PATH
          || layer_path_has_control (rawlink))
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "entry %s: bad symlink target",
                             model_quote (raw, q, sizeof q));
      if (!layer_symlink_stays_inside (t->path, rawlink))
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "entry %s: symlink target %s is outside the "
                             "model (absolute, or climbs above its root)",
                             model_quote (raw, q, sizeof q),
                             model_quote (rawlink, q2, sizeof q2));
      e.link = rawlink;
    }
  if (keep_xattrs (t, &e, err) < 0)
    return mp_error_prefix (err, "entry %s", model_quote (raw, q, sizeof q));
  return erofs_tree_add (t->x, &e, err);
}

/* Read the archive header by header. */
static int
tar_read (struct tar *t, mp_error *err)
{
  union
  {
    struct tar_header h;
    unsigned char b[TAR_BLOCK];
  } u;

  for (;;)
    {
      uint64_t hoff = t->pos, size, span;
      struct pending *p = &t->p;
      /* A global header may be the last thing: it applies to nothing. */
      bool extended = p->seen_x || p->seen_L || p->seen_K;
      int64_t v;

      if (t->size - hoff < TAR_BLOCK)
        {
          if (hoff == t->size && !extended)
            return 0; /* the end, without end-of-archive blocks */
          return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                               "truncated: the blob ends at %llu inside or "
                               "before a header",
                               (unsigned long long)t->size);
        }
      if (read_at (t, u.b, TAR_BLOCK, hoff, err) < 0)
        return -1;
      if (all_zero (u.b))
        {
          if (extended)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "end of archive at %llu right after an "
                                 "extended header",
                                 (unsigned long long)hoff);
          if (t->size - hoff < 2 * TAR_BLOCK)
            return 0;
          if (read_at (t, u.b, TAR_BLOCK, hoff + TAR_BLOCK, err) < 0)
            return -1;
          if (all_zero (u.b))
            return 0;
          return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                               "a lone zero block at %llu before more "
                               "headers (tar readers disagree on where the "
                               "archive ends)",
                               (unsigned long long)hoff);
        }
      if (!checksum_ok (&u.h))
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "header at %llu: bad checksum",
                             (unsigned long long)hoff);
      if (memcmp (u.h.magic, "ustar\0", 6) != 0
          && memcmp (u.h.magic, "ustar  \0", 8) != 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "header at %llu: not a ustar, GNU or PAX tar "
                             "header (old V7 archives are not read)",
                             (unsigned long long)hoff);
      if (parse_num (u.h.size, sizeof u.h.size, &v) < 0 || v < 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "header at %llu: bad size field",
                             (unsigned long long)hoff);
      size = (uint64_t)v;
      if (p->has_size && u.h.typeflag != 'x' && u.h.typeflag != 'g'
          && u.h.typeflag != 'L' && u.h.typeflag != 'K')
        size = p->size;
      /* The data and its padding must be in the blob. */
      if (size > t->size - hoff - TAR_BLOCK
          || ((size + TAR_BLOCK - 1) & ~(uint64_t)(TAR_BLOCK - 1))
                 > t->size - hoff - TAR_BLOCK)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "header at %llu: %llu bytes of data run past "
                             "the end of the %llu-byte blob",
                             (unsigned long long)hoff, (unsigned long long)size,
                             (unsigned long long)t->size);
      span = TAR_BLOCK + ((size + TAR_BLOCK - 1) & ~(uint64_t)(TAR_BLOCK - 1));
      switch (u.h.typeflag)
        {
        case 'x':
        case 'g':
          {
            bool global = u.h.typeflag == 'g';
            bool *seen = global ? &p->seen_g : &p->seen_x;
            unsigned char *body = NULL, **bodies;
            if (*seen)
              return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                   "header at %llu: a second PAX %s header "
                                   "for one entry",
                                   (unsigned long long)hoff,
                                   global ? "global" : "extended");
            *seen = true;
            if (read_body (t, hoff + TAR_BLOCK, size, PAX_MAX, &body, err) < 0)
              return -1;
            /* Xattr values point into the body: it lives as long as
             * they are pending. */
            bodies = realloc (p->bodies, (p->nbodies + 1) * sizeof *bodies);
            if (bodies == NULL)
              {
                free (body);
                return mp_error_sys (err, ENOMEM, "extended header");
              }
            p->bodies = bodies;
            p->bodies[p->nbodies++] = body;
            if (parse_pax (t, body, size, global, err) < 0)
              return mp_error_prefix (err, "header at %llu",
                                      (unsigned long long)hoff);
            break;
          }
        case 'L':
        case 'K':
          {
            bool name = u.h.typeflag == 'L';
            if (name ? p->seen_L : p->seen_K)
              return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                   "header at %llu: a second GNU long %s for "
                                   "one entry",
                                   (unsigned long long)hoff,
                                   name ? "name" : "link name");
            *(name ? &p->seen_L : &p->seen_K) = true;
            if (gnu_long (t, hoff + TAR_BLOCK, size,
                          name ? &p->long_name : &p->long_link, err)
                < 0)
              return mp_error_prefix (err, "header at %llu",
                                      (unsigned long long)hoff);
            break;
          }
        default:
          if (tar_entry (t, &u.h, hoff, size, err) < 0)
            return -1;
          pending_clear (p);
          break;
        }
      t->pos = hoff + span;
    }
}

int
erofs_index_add_tar (erofs_index *x, int fd, int64_t blob_size,
                     const char *what, mp_error *err)
{
  struct tar t = { .x = x, .fd = fd };
  struct stat st;
  int r;

  if (what == NULL)
    what = "tar layer";
  if (x->blksz != TAR_BLOCK)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: a tar layer needs 512-byte blocks (blkszbits "
                         "9): its files start at 512-byte offsets",
                         what);
  if (fstat (fd, &st) < 0)
    return mp_error_sys (err, errno, "%s: stat the blob", what);
  if (S_ISREG (st.st_mode) && st.st_size != blob_size)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: the blob file holds %lld bytes, not %lld", what,
                         (long long)st.st_size, (long long)blob_size);
  if (erofs_layer_begin (x, blob_size, err) < 0)
    return mp_error_prefix (err, "%s", what);
  t.size = (uint64_t)blob_size;
  t.max_entries = x->limits.max_layer_entries;
  r = tar_read (&t, err);
  pending_clear (&t.p);
  if (r < 0)
    {
      x->broken = true;
      return mp_error_prefix (err, "%s", what);
    }
  return 0;
}
