/* Tests for store/erofs: tars are made here header by header (so hostile
 * ones can say exactly what they want), indexed, written to a memfd, and
 * read back with erofs_index_walk, which also checks the image's structure
 * and that every chunk lies inside its blob.  What the kernel makes of
 * the images is integration/test_erofs_ref.sh's job. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/erofs.h"
#include "store/unpack.h"
#include "tests/harness.h"

/* ---- tars, block by block ---- */

struct tarbuf
{
  unsigned char *b;
  size_t len, cap;
};

static void
tb_append (struct tarbuf *t, const void *p, size_t n)
{
  size_t padded = (n + 511) & ~(size_t)511;

  if (t->len + padded > t->cap)
    {
      t->cap = (t->len + padded) * 2 + 4096;
      t->b = realloc (t->b, t->cap);
      if (t->b == NULL)
        abort ();
    }
  memset (t->b + t->len, 0, padded);
  if (p != NULL)
    memcpy (t->b + t->len, p, n);
  t->len += padded;
}

/* A numeric field: octal when it fits, else base-256. */
static void
put_num (char *f, size_t n, int64_t v)
{
  if (v >= 0 && (n >= 12 || v < (1ll << (3 * (n - 1)))))
    {
      char tmp[32];
      snprintf (tmp, sizeof tmp, "%0*llo", (int)n - 1, (unsigned long long)v);
      memcpy (f, tmp, n - 1);
      f[n - 1] = '\0';
      if (strlen (tmp) <= n - 1)
        return;
    }
  for (size_t i = n; i-- > 0;)
    {
      f[i] = (char)(v & 0xff);
      v >>= 8;
    }
  f[0] = (char)(f[0] | 0x80);
}

struct hdr
{
  const char *name;
  char type;
  uint64_t size;
  unsigned mode;
  int64_t uid, gid, mtime;
  const char *link;
  const char *prefix;
  bool gnu;      /* GNU magic instead of POSIX */
  bool bad_sum;  /* a wrong checksum */
  bool no_magic; /* an old V7 header */
};

static void
tb_header (struct tarbuf *t, const struct hdr *h)
{
  unsigned char b[512] = { 0 };
  unsigned sum = 0;

  strncpy ((char *)b, h->name, 100);
  put_num ((char *)b + 100, 8, h->mode ? h->mode : 0644);
  put_num ((char *)b + 108, 8, h->uid);
  put_num ((char *)b + 116, 8, h->gid);
  put_num ((char *)b + 124, 12, (int64_t)h->size);
  put_num ((char *)b + 136, 12, h->mtime ? h->mtime : 1700000000);
  b[156] = (unsigned char)h->type;
  if (h->link != NULL)
    strncpy ((char *)b + 157, h->link, 100);
  if (h->gnu)
    memcpy (b + 257, "ustar  \0", 8);
  else if (!h->no_magic)
    memcpy (b + 257,
            "ustar\0"
            "00",
            8);
  if (h->prefix != NULL)
    strncpy ((char *)b + 345, h->prefix, 155);
  memset (b + 148, ' ', 8);
  for (int i = 0; i < 512; i++)
    sum += b[i];
  if (h->bad_sum)
    sum++;
  snprintf ((char *)b + 148, 8, "%06o", sum);
  tb_append (t, b, 512);
}

static void
tb_file (struct tarbuf *t, const char *name, const char *data)
{
  struct hdr h = { .name = name, .type = '0', .size = strlen (data) };
  tb_header (t, &h);
  tb_append (t, data, strlen (data));
}

static void
tb_simple (struct tarbuf *t, const char *name, char type, const char *link)
{
  struct hdr h = { .name = name,
                   .type = type,
                   .link = link,
                   .mode = type == '5'   ? 0755
                           : type == '2' ? 0777
                                         : 0644 };
  tb_header (t, &h);
}

/* A PAX header of TYPE ('x' or 'g') with records "key=value" (N of them;
 * values given with lengths so they may hold NUL bytes). */
static void
tb_pax (struct tarbuf *t, char type, const char *const *kv, const size_t *kvlen,
        size_t n)
{
  char body[65536];
  size_t len = 0;

  for (size_t i = 0; i < n; i++)
    {
      size_t l = kvlen ? kvlen[i] : strlen (kv[i]);
      size_t rec = l + 3, d;
      char num[24];
      /* The length counts its own digits. */
      for (;;)
        {
          d = (size_t)snprintf (num, sizeof num, "%zu", rec);
          if (d + 1 + l + 1 == rec)
            break;
          rec = d + 1 + l + 1;
        }
      memcpy (body + len, num, d);
      body[len + d] = ' ';
      memcpy (body + len + d + 1, kv[i], l);
      body[len + d + 1 + l] = '\n';
      len += rec;
    }
  struct hdr h = { .name = "pax", .type = type, .size = len };
  tb_header (t, &h);
  tb_append (t, body, len);
}

static void
tb_gnu_long (struct tarbuf *t, char type, const char *name)
{
  struct hdr h = { .name = "././@LongLink",
                   .type = type,
                   .size = strlen (name) + 1,
                   .gnu = true };
  tb_header (t, &h);
  tb_append (t, name, strlen (name) + 1);
}

static void
tb_end (struct tarbuf *t)
{
  tb_append (t, NULL, 1024);
}

static int
memfd_of (const void *p, size_t n)
{
  int fd = memfd_create ("blob", MFD_CLOEXEC);
  if (fd < 0 || (n > 0 && write (fd, p, n) != (ssize_t)n))
    abort ();
  return fd;
}

/* A raw blob of SIZE bytes (sparse: zeros). */
static int
raw_blob (int64_t size)
{
  int fd = memfd_create ("raw", MFD_CLOEXEC);
  if (fd < 0 || ftruncate (fd, size) < 0)
    abort ();
  return fd;
}

static int
add_raw (erofs_index *x, int64_t size, const char *path,
         const struct model_file_meta *m, const char *what, mp_error *err)
{
  int fd = raw_blob (size);
  int r = erofs_index_add_raw (x, fd, size, path, m, what, err);
  close (fd);
  return r;
}

/* ---- indexes, read back ---- */

struct seen
{
  char path[4200];
  struct erofs_walk_entry e;
  char target[4200];
  char xattrs[1024];
};

struct tree
{
  struct seen *v;
  size_t n, cap;
  int64_t blobs[8];
  size_t nblobs;
  int64_t image_size;
};

static int
collect (const struct erofs_walk_entry *e, void *arg, mp_error *err)
{
  struct tree *t = arg;
  struct seen *s;

  (void)err;
  if (t->n == t->cap)
    {
      t->cap = t->cap ? t->cap * 2 : 64;
      t->v = realloc (t->v, t->cap * sizeof *t->v);
      if (t->v == NULL)
        abort ();
    }
  s = &t->v[t->n++];
  memset (s, 0, sizeof *s);
  snprintf (s->path, sizeof s->path, "%s", e->path);
  s->e = *e;
  if (e->symlink != NULL)
    snprintf (s->target, sizeof s->target, "%s", e->symlink);
  if (e->xattrs != NULL)
    snprintf (s->xattrs, sizeof s->xattrs, "%s", e->xattrs);
  return 0;
}

static void
tree_free (struct tree *t)
{
  free (t->v);
  memset (t, 0, sizeof *t);
}

static const struct seen *
find (const struct tree *t, const char *path)
{
  for (size_t i = 0; i < t->n; i++)
    if (strcmp (t->v[i].path, path) == 0)
      return &t->v[i];
  return NULL;
}

static erofs_index *
new_index (bool ref)
{
  struct erofs_index_opts o
      = { .blkszbits = 9, .as_tar_says = ref, .mtime_default = 1600000000 };
  mp_error err = { 0 };
  erofs_index *x = erofs_index_new (&o, &err);

  if (x == NULL)
    fprintf (stderr, "erofs_index_new: %s\n", err.msg);
  return x;
}

static int
add_tar (erofs_index *x, struct tree *t, const struct tarbuf *tb,
         const char *what, mp_error *err)
{
  int fd = memfd_of (tb->b, tb->len);
  int r = erofs_index_add_tar (x, fd, (int64_t)tb->len, what, err);

  close (fd);
  t->blobs[t->nblobs++] = (int64_t)tb->len;
  return r;
}

/* Write X and walk the image into T; returns the image fd (or -1). */
static int
write_walk (erofs_index *x, struct tree *t)
{
  mp_error err = { 0 };
  int fd = memfd_create ("image", MFD_CLOEXEC);

  if (fd < 0)
    abort ();
  if (erofs_index_write (x, fd, &t->image_size, &err) < 0)
    {
      fprintf (stderr, "write: %s\n", err.msg);
      close (fd);
      return -1;
    }
  if (erofs_index_walk (fd, t->blobs, t->nblobs, collect, t, &err) < 0)
    {
      fprintf (stderr, "walk: %s\n", err.msg);
      close (fd);
      return -1;
    }
  return fd;
}

/* One tar, indexed in mode REF, read back into T. */
static bool
index_one (const struct tarbuf *tb, bool ref, struct tree *t)
{
  erofs_index *x = new_index (ref);
  mp_error err = { 0 };
  int fd;

  if (x == NULL)
    return false;
  if (add_tar (x, t, tb, "layers[0]", &err) < 0)
    {
      fprintf (stderr, "add_tar: %s\n", err.msg);
      erofs_index_free (x);
      return false;
    }
  fd = write_walk (x, t);
  erofs_index_free (x);
  if (fd < 0)
    return false;
  close (fd);
  return true;
}

/* The tar must be refused, naming the layer and NEEDLE. */
static void
expect_refused (const struct tarbuf *tb, const char *needle, int line)
{
  erofs_index *x = new_index (true);
  struct tree t = { 0 };
  mp_error err = { 0 };
  int r;

  if (x == NULL)
    abort ();
  r = add_tar (x, &t, tb, "layers[3] sha256:feed", &err);
  if (r == 0 || err.code != MP_ERR_INVALID_ARGUMENT
      || strstr (err.msg, "layers[3] sha256:feed") == NULL
      || strstr (err.msg, needle) == NULL)
    {
      fprintf (stderr, "%s:%d: want refusal with \"%s\", got %d: %s\n",
               __FILE__, line, needle, r, r == 0 ? "(accepted)" : err.msg);
      mp_test_failed_checks++;
    }
  erofs_index_free (x);
}
#define REFUSED(tb, needle) expect_refused (tb, needle, __LINE__)

/* ---- trees ---- */

TEST (test_basic_tree)
{
  struct tarbuf tb = { 0 };
  struct tree t = { 0 };
  const struct seen *s;

  tb_simple (&tb, "./", '5', NULL);
  tb_simple (&tb, "d/", '5', NULL);
  tb_file (&tb, "d/a", "hello\n");
  tb_file (&tb, "d/empty", "");
  tb_simple (&tb, "d/link", '2', "a");
  tb_simple (&tb, "d/hard", '1', "d/a");
  tb_simple (&tb, "e/", '5', NULL);
  {
    /* Contiguous files (7) are regular files. */
    struct hdr h = { .name = "e/contig", .type = '7', .size = 3 };
    tb_header (&tb, &h);
    tb_append (&tb, "abc", 3);
  }
  tb_end (&tb);
  REQUIRE (index_one (&tb, false, &t));
  CHECK (t.n == 8);
  CHECK (find (&t, "e/contig") != NULL
         && S_ISREG (find (&t, "e/contig")->e.mode)
         && find (&t, "e/contig")->e.size == 3);
  s = find (&t, "");
  REQUIRE (s != NULL);
  CHECK (s->e.mode == (S_IFDIR | 0755) && s->e.nlink == 4);
  s = find (&t, "d/a");
  REQUIRE (s != NULL);
  CHECK (s->e.mode == (S_IFREG | 0644) && s->e.size == 6);
  CHECK (s->e.nlink == 2 && s->e.device == 1 && s->e.contiguous);
  /* The data sits after the three headers before it. */
  CHECK (s->e.data_offset == 3 * 512);
  CHECK (find (&t, "d/hard")->e.nid == s->e.nid);
  s = find (&t, "d/empty");
  CHECK (s != NULL && s->e.size == 0 && s->e.chunks == 0 && s->e.nlink == 1);
  s = find (&t, "d/link");
  CHECK (s != NULL && S_ISLNK (s->e.mode) && strcmp (s->target, "a") == 0);
  s = find (&t, "e");
  CHECK (s != NULL && S_ISDIR (s->e.mode) && s->e.nlink == 2);
  CHECK (find (&t, "")->e.nlink == 4);
  /* Directory order: ".", then names in byte order. */
  CHECK (strcmp (t.v[1].path, "d") == 0 && strcmp (t.v[2].path, "d/a") == 0);
  free (tb.b);
  tree_free (&t);
}

TEST (test_serve_mode_drops_owners_modes_xattrs)
{
  static const char *const kv[] = { "SCHILY.xattr.user.k=v", "uid=70000" };
  struct tarbuf tb = { 0 };
  struct tree t = { 0 }, r = { 0 };
  struct hdr h
      = { .name = "bin", .type = '0', .mode = 06775, .uid = 1000, .gid = 1001 };
  const struct seen *s;

  tb_pax (&tb, 'x', kv, NULL, 2);
  tb_header (&tb, &h);
  h = (struct hdr){ .name = "dir", .type = '5', .mode = 01777, .uid = 5 };
  tb_header (&tb, &h);
  tb_end (&tb);
  REQUIRE (index_one (&tb, false, &t));
  s = find (&t, "bin");
  REQUIRE (s != NULL);
  CHECK (s->e.mode == (S_IFREG | 0755) && s->e.uid == 0 && s->e.gid == 0);
  CHECK (s->e.nxattrs == 0);
  s = find (&t, "dir");
  CHECK (s != NULL && s->e.mode == (S_IFDIR | 0755) && s->e.uid == 0);

  REQUIRE (index_one (&tb, true, &r));
  s = find (&r, "bin");
  REQUIRE (s != NULL);
  CHECK (s->e.mode == (S_IFREG | 06775) && s->e.uid == 70000
         && s->e.gid == 1001);
  CHECK (s->e.nxattrs == 1 && strcmp (s->xattrs, "user.k=v\n") == 0);
  s = find (&r, "dir");
  CHECK (s != NULL && s->e.mode == (S_IFDIR | 01777) && s->e.uid == 5);
  free (tb.b);
  tree_free (&t);
  tree_free (&r);
}

TEST (test_long_names)
{
  char n150[160], n300[400], p[4000], deep[4200];
  struct tarbuf tb = { 0 };
  struct tree t = { 0 };
  const char *kv[1];
  struct hdr h = { 0 };

  memset (n150, 'a', 150);
  n150[150] = '\0';
  /* 300 bytes: two components, each under NAME_MAX. */
  memset (n300, 'b', 300);
  n300[150] = '/';
  n300[300] = '\0';
  tb_gnu_long (&tb, 'L', n150);
  tb_file (&tb, "ignored", "gnu");
  snprintf (p, sizeof p, "path=%s", n300);
  kv[0] = p;
  tb_pax (&tb, 'x', kv, NULL, 1);
  tb_file (&tb, "ignored2", "pax");
  h = (struct hdr){ .name = "file", .type = '0', .prefix = "pre/fix" };
  tb_header (&tb, &h);
  /* A long link name for a symlink. */
  memset (deep, 0, sizeof deep);
  for (int i = 0; i < 40; i++)
    strcat (deep, "x/");
  strcat (deep, "target");
  tb_gnu_long (&tb, 'K', deep);
  tb_simple (&tb, "longlink", '2', "short");
  tb_end (&tb);
  REQUIRE (index_one (&tb, true, &t));
  CHECK (find (&t, n150) != NULL && find (&t, n150)->e.size == 3);
  CHECK (find (&t, n300) != NULL && find (&t, n300)->e.size == 3);
  CHECK (find (&t, "pre/fix/file") != NULL);
  CHECK (find (&t, "longlink") != NULL
         && strcmp (find (&t, "longlink")->target, deep) == 0);
  free (tb.b);
  tree_free (&t);
}

TEST (test_numbers_and_times)
{
  static const char *const kv[] = { "mtime=1700000000.123456789" };
  static const char *const neg[] = { "mtime=-1.25" };
  struct tarbuf tb = { 0 };
  struct tree t = { 0 };
  struct hdr h = { .name = "big-owner",
                   .type = '0',
                   .uid = 3000000000ll,
                   .gid = 7,
                   .mtime = -86400 };
  const struct seen *s;

  /* uid past 8 octal digits: base-256; a negative mtime too. */
  tb_header (&tb, &h);
  tb_pax (&tb, 'x', kv, NULL, 1);
  tb_file (&tb, "nanos", "x");
  tb_pax (&tb, 'x', neg, NULL, 1);
  tb_file (&tb, "before-epoch", "y");
  tb_file (&tb, "plain", "z");
  tb_end (&tb);
  REQUIRE (index_one (&tb, true, &t));
  s = find (&t, "big-owner");
  REQUIRE (s != NULL);
  CHECK (s->e.uid == 3000000000u && s->e.mtime == -86400);
  s = find (&t, "nanos");
  CHECK (s != NULL && s->e.mtime == 1700000000 && s->e.mtime_nsec == 123456789);
  s = find (&t, "before-epoch");
  CHECK (s != NULL && s->e.mtime == -2 && s->e.mtime_nsec == 750000000);
  s = find (&t, "plain");
  CHECK (s != NULL && s->e.mtime == 1700000000 && s->e.mtime_nsec == 0);
  free (tb.b);
  tree_free (&t);
}

TEST (test_multiblock_directory)
{
  struct tarbuf tb = { 0 };
  struct tree t = { 0 };
  char name[300];
  size_t files = 0;

  /* 400 names of 90 bytes: the directory spans ~80 blocks of 512. */
  for (int i = 399; i >= 0; i--)
    {
      snprintf (name, sizeof name, "dir/%03d-%086d", i, i);
      tb_file (&tb, name, "");
    }
  tb_end (&tb);
  REQUIRE (index_one (&tb, false, &t));
  for (size_t i = 0; i < t.n; i++)
    if (strncmp (t.v[i].path, "dir/", 4) == 0)
      {
        /* In name order, whatever the archive's order. */
        snprintf (name, sizeof name, "dir/%03zu-%086zu", files, files);
        if (strcmp (t.v[i].path, name) != 0)
          break;
        files++;
      }
  CHECK (files == 400);
  CHECK (find (&t, "dir")->e.size > 400 * 90);
  free (tb.b);
  tree_free (&t);
}

TEST (test_many_small_directories_and_symlinks)
{
  struct tarbuf tb = { 0 };
  struct tree t = { 0 };
  char name[600], target[600];

  /* Symlinks long enough to need a data block, and short ones inline;
   * directories of every size around a block.  ustar link names stop at
   * 100 bytes: the long ones come in PAX headers. */
  for (int i = 0; i < 60; i++)
    {
      static char kvbuf[700];
      const char *kv[1] = { kvbuf };
      snprintf (name, sizeof name, "d%02d/", i);
      tb_simple (&tb, name, '5', NULL);
      for (int k = 0; k < i; k++)
        {
          snprintf (name, sizeof name, "d%02d/f%02d", i, k);
          tb_file (&tb, name, "");
        }
      memset (target, 'x', sizeof target);
      target[i * 9 + 1] = '\0';
      snprintf (kvbuf, sizeof kvbuf, "linkpath=%s", target);
      tb_pax (&tb, 'x', kv, NULL, 1);
      snprintf (name, sizeof name, "d%02d/l", i);
      tb_simple (&tb, name, '2', "short");
    }
  tb_end (&tb);
  REQUIRE (index_one (&tb, false, &t));
  for (int i = 0; i < 60; i++)
    {
      const struct seen *s;
      snprintf (name, sizeof name, "d%02d/l", i);
      s = find (&t, name);
      REQUIRE (s != NULL);
      CHECK (strlen (s->target) == (size_t)i * 9 + 1);
      snprintf (name, sizeof name, "d%02d/f%02d", i, i - 1);
      CHECK (i == 0 || find (&t, name) != NULL);
    }
  free (tb.b);
  tree_free (&t);
}

/* A file past 4 GiB and one past the 1 TiB a single chunk can cover: the
 * data is never read, so a sparse memfd holds the blob. */
TEST (test_huge_files_chunks)
{
  struct model_unpack_limits lim = { .max_layer_bytes = 4ull << 40 };
  struct erofs_index_opts o = { .blkszbits = 9, .limits = &lim };
  uint64_t sizes[2] = { (5ull << 30) + 7, (3ull << 39) + 1 };
  struct tree t = { 0 };
  mp_error err = { 0 };
  erofs_index *x;
  int img;

  for (int k = 0; k < 2; k++)
    {
      struct tarbuf tb = { 0 };
      char kv0[64];
      const char *kv[1] = { kv0 };
      struct hdr h = { .name = "weights", .type = '0' };
      uint64_t total;
      int fd;

      snprintf (kv0, sizeof kv0, "size=%llu", (unsigned long long)sizes[k]);
      tb_pax (&tb, 'x', kv, NULL, 1);
      tb_header (&tb, &h);
      total = tb.len + ((sizes[k] + 511) & ~511ull) + 1024;
      fd = memfd_of (tb.b, tb.len);
      REQUIRE (ftruncate (fd, (off_t)total) == 0);
      x = erofs_index_new (&o, &err);
      REQUIRE (x != NULL);
      CHECK (erofs_index_add_tar (x, fd, (int64_t)total, "big", &err) == 0);
      close (fd);
      t.blobs[0] = (int64_t)total;
      t.nblobs = 1;
      img = write_walk (x, &t);
      REQUIRE (img >= 0);
      close (img);
      CHECK (t.n == 2 && t.v[1].e.size == sizes[k]);
      CHECK (t.v[1].e.contiguous && t.v[1].e.data_offset == 1536);
      CHECK (t.v[1].e.chunks == (k == 0 ? 1u : 2u));
      erofs_index_free (x);
      tree_free (&t);
      free (tb.b);
    }
}

TEST (test_blob_limits)
{
  struct model_unpack_limits lim = { .max_layer_bytes = 8ull << 40 };
  struct erofs_index_opts o = { .blkszbits = 9, .limits = &lim };
  mp_error err = { 0 };
  erofs_index *x = erofs_index_new (&o, &err);

  REQUIRE (x != NULL);
  /* 2 TiB of 512-byte blocks is one block more than 32 bits address. */
  CHECK (add_raw (x, 2ll << 40, "w", NULL, "layers[0]", &err) < 0);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT
         && strstr (err.msg, "layers[0]") != NULL);
  erofs_index_free (x);
  /* The default limit (1 TiB) applies. */
  o.limits = NULL;
  x = erofs_index_new (&o, &err);
  REQUIRE (x != NULL);
  CHECK (add_raw (x, (1ll << 40) + 1, "w", NULL, "l", &err) < 0);
  CHECK (strstr (err.msg, "max_layer_bytes") != NULL);
  erofs_index_free (x);
  /* A tar layer needs 512-byte blocks. */
  o.blkszbits = 12;
  x = erofs_index_new (&o, &err);
  REQUIRE (x != NULL);
  {
    int fd = memfd_of (NULL, 0);
    CHECK (erofs_index_add_tar (x, fd, 0, "l", &err) < 0);
    CHECK (strstr (err.msg, "512-byte blocks") != NULL);
    close (fd);
  }
  erofs_index_free (x);
  o.blkszbits = 10;
  CHECK (erofs_index_new (&o, &err) == NULL);
}

TEST (test_raw_layers)
{
  struct model_file_meta m = { .has_mode = true,
                               .mode = 04750,
                               .has_owner = true,
                               .uid = 9,
                               .gid = 9,
                               .has_mtime = true,
                               .mtime = { 1650000000, 42 } };
  struct tree t = { 0 };
  mp_error err = { 0 };

  for (int bits = 9; bits <= 12; bits += 3)
    for (int ref = 0; ref < 2; ref++)
      {
        struct erofs_index_opts o = { .blkszbits = (unsigned)bits,
                                      .as_tar_says = ref,
                                      .mtime_default = 5 };
        erofs_index *x = erofs_index_new (&o, &err);
        const struct seen *s;
        int img;

        REQUIRE (x != NULL);
        CHECK (add_raw (x, 10000, "models/w.bin", &m, "l0", &err) == 0);
        CHECK (add_raw (x, 3, "./cfg//c.json", NULL, "l1", &err) == 0);
        CHECK (add_raw (x, 8192, "aligned", NULL, "l2", &err) == 0);
        t.blobs[0] = 10000;
        t.blobs[1] = 3;
        t.blobs[2] = 8192;
        t.nblobs = 3;
        img = write_walk (x, &t);
        REQUIRE (img >= 0);
        close (img);
        s = find (&t, "models/w.bin");
        REQUIRE (s != NULL);
        /* Its last block is partial: the last chunk is in the image. */
        CHECK (s->e.size == 10000 && s->e.device == 1 && s->e.data_offset == 0
               && !s->e.contiguous && s->e.chunks > 1);
        CHECK (s->e.mtime == 1650000000 && s->e.mtime_nsec == 42);
        /* Only permission bits, then (serving) no setuid. */
        CHECK (s->e.mode == (S_IFREG | 0750));
        CHECK (s->e.uid == (ref ? 9u : 0u));
        s = find (&t, "cfg/c.json");
        CHECK (s != NULL && s->e.device == 0 && s->e.chunks == 1
               && s->e.mode == (S_IFREG | 0644) && s->e.mtime == 5);
        s = find (&t, "aligned");
        CHECK (s != NULL && s->e.device == 3 && s->e.contiguous
               && s->e.chunks == 1);
        /* Implied parents: 0755, root's, mtime_default. */
        s = find (&t, "models");
        CHECK (s != NULL && s->e.mode == (S_IFDIR | 0755) && s->e.mtime == 5);
        CHECK (t.image_size % (1 << bits) == 0);
        erofs_index_free (x);
        tree_free (&t);
      }
  {
    struct erofs_index_opts o = { .blkszbits = 12 };
    erofs_index *x = erofs_index_new (&o, &err);
    REQUIRE (x != NULL);
    CHECK (add_raw (x, 1, "../x", NULL, "l0", &err) < 0);
    CHECK (strstr (err.msg, "l0") && strstr (err.msg, "\"..\""));
    erofs_index_free (x);
    x = erofs_index_new (&o, &err);
    REQUIRE (x != NULL);
    CHECK (add_raw (x, 1, "./", NULL, "l0", &err) < 0);
    CHECK (strstr (err.msg, "layer root") != NULL);
    erofs_index_free (x);
  }
}

/* ---- merging ---- */

static bool
index_layers (struct tarbuf *layers, size_t n, bool ref, struct tree *t,
              mp_error *err)
{
  erofs_index *x = new_index (ref);
  bool ok = true;

  for (size_t i = 0; i < n && ok; i++)
    {
      char what[32];
      snprintf (what, sizeof what, "layers[%zu]", i);
      ok = add_tar (x, t, &layers[i], what, err) == 0;
    }
  if (ok)
    {
      int fd = write_walk (x, t);
      ok = fd >= 0;
      if (fd >= 0)
        close (fd);
    }
  erofs_index_free (x);
  return ok;
}

TEST (test_merge_layers)
{
  struct tarbuf l[2] = { 0 };
  struct tree t = { 0 };
  mp_error err = { 0 };
  struct hdr h;
  const struct seen *s;

  /* Layer 0: a/ (0700, named), a/x, b (file), c/ with c/deep/f, keep. */
  h = (struct hdr){ .name = "a/", .type = '5', .mode = 0700, .mtime = 111 };
  tb_header (&l[0], &h);
  tb_file (&l[0], "a/x", "x0");
  tb_file (&l[0], "b", "b0");
  tb_file (&l[0], "c/deep/f", "f0");
  tb_file (&l[0], "keep", "k");
  tb_file (&l[0], "f2d", "file");
  tb_end (&l[0]);
  /* Layer 1: a/y (implies a: its named attributes stay), a/x replaced,
   * b becomes a directory, c becomes a file (subtree gone), f2d/g. */
  tb_file (&l[1], "a/y", "y1");
  tb_file (&l[1], "a/x", "x1-new");
  tb_file (&l[1], "b/inner", "i1");
  tb_file (&l[1], "c", "c1");
  tb_file (&l[1], "f2d/g", "g1");
  tb_end (&l[1]);
  REQUIRE (index_layers (l, 2, true, &t, &err));
  s = find (&t, "a");
  CHECK (s != NULL && s->e.mode == (S_IFDIR | 0700) && s->e.mtime == 111);
  s = find (&t, "a/x");
  CHECK (s != NULL && s->e.size == 6 && s->e.device == 2);
  CHECK (find (&t, "a/y") != NULL && find (&t, "keep")->e.device == 1);
  s = find (&t, "b");
  CHECK (s != NULL && S_ISDIR (s->e.mode) && s->e.mode == (S_IFDIR | 0755));
  CHECK (find (&t, "b/inner") != NULL);
  s = find (&t, "c");
  CHECK (s != NULL && S_ISREG (s->e.mode) && s->e.size == 2);
  CHECK (find (&t, "c/deep") == NULL && find (&t, "c/deep/f") == NULL);
  CHECK (find (&t, "f2d/g") != NULL && S_ISDIR (find (&t, "f2d")->e.mode));
  CHECK (t.n == 10);
  tree_free (&t);
  free (l[0].b);
  free (l[1].b);

  /* A later layer naming the directory wins over an earlier one. */
  memset (l, 0, sizeof l);
  h = (struct hdr){ .name = "a/", .type = '5', .mode = 0700, .mtime = 111 };
  tb_header (&l[0], &h);
  tb_end (&l[0]);
  h = (struct hdr){ .name = "a", .type = '5', .mode = 0750, .mtime = 222 };
  tb_file (&l[1], "a/z", "");
  tb_header (&l[1], &h);
  tb_end (&l[1]);
  REQUIRE (index_layers (l, 2, true, &t, &err));
  s = find (&t, "a");
  CHECK (s != NULL && s->e.mode == (S_IFDIR | 0750) && s->e.mtime == 222);
  tree_free (&t);
  free (l[0].b);
  free (l[1].b);
}

TEST (test_within_layer_replacement)
{
  struct tarbuf tb = { 0 };
  struct tree t = { 0 };
  struct hdr h;

  tb_file (&tb, "f", "first");
  tb_file (&tb, "f", "second!");
  tb_simple (&tb, "d/", '5', NULL);
  tb_file (&tb, "d", "file over an empty dir");
  tb_file (&tb, "g", "g");
  tb_simple (&tb, "g/", '5', NULL);
  /* Directories merge; the later one's attributes win. */
  h = (struct hdr){ .name = "m/", .type = '5', .mode = 0711 };
  tb_header (&tb, &h);
  tb_file (&tb, "m/in", "");
  h = (struct hdr){ .name = "m/", .type = '5', .mode = 0750 };
  tb_header (&tb, &h);
  /* A hard link keeps the old file when its name is replaced. */
  tb_file (&tb, "orig", "old");
  tb_simple (&tb, "link", '1', "orig");
  tb_file (&tb, "orig", "new data");
  tb_end (&tb);
  REQUIRE (index_one (&tb, true, &t));
  CHECK (find (&t, "f")->e.size == 7);
  CHECK (S_ISREG (find (&t, "d")->e.mode));
  CHECK (S_ISDIR (find (&t, "g")->e.mode));
  CHECK (find (&t, "m")->e.mode == (S_IFDIR | 0750)
         && find (&t, "m/in") != NULL);
  CHECK (find (&t, "link")->e.size == 3 && find (&t, "link")->e.nlink == 1);
  CHECK (find (&t, "orig")->e.size == 8 && find (&t, "orig")->e.nlink == 1);
  free (tb.b);
  tree_free (&t);
}

TEST (test_raw_and_tar_merge)
{
  struct tarbuf tb = { 0 };
  struct tree t = { 0 };
  mp_error err = { 0 };
  erofs_index *x = new_index (false);
  struct hdr h
      = { .name = "models/", .type = '5', .mode = 0750, .mtime = 1234 };
  int img;

  REQUIRE (x != NULL);
  /* The raw layer implies models/; the tar names it: the tar's wins even
   * though the raw layer comes later.  The raw file replaces the tar's. */
  tb_header (&tb, &h);
  tb_file (&tb, "models/w.bin", "tar version");
  tb_file (&tb, "README", "hi");
  tb_end (&tb);
  CHECK (add_tar (x, &t, &tb, "layers[0]", &err) == 0);
  CHECK (add_raw (x, 4096, "models/w.bin", NULL, "layers[1]", &err) == 0);
  t.blobs[t.nblobs++] = 4096;
  img = write_walk (x, &t);
  REQUIRE (img >= 0);
  close (img);
  CHECK (find (&t, "models")->e.mode == (S_IFDIR | 0750)
         && find (&t, "models")->e.mtime == 1234);
  CHECK (find (&t, "models/w.bin")->e.device == 2
         && find (&t, "models/w.bin")->e.size == 4096);
  CHECK (find (&t, "README")->e.device == 1);
  erofs_index_free (x);
  free (tb.b);
  tree_free (&t);
}

TEST (test_reproducible_and_reusable)
{
  struct tarbuf tb = { 0 };
  struct tree t = { 0 };
  mp_error err = { 0 };
  erofs_index *x = new_index (false);
  unsigned char *a, *b;
  int64_t sa, sb;
  int fa, fb;

  REQUIRE (x != NULL);
  for (int i = 0; i < 50; i++)
    {
      char name[32];
      snprintf (name, sizeof name, "d%d/f%d", i % 7, i);
      tb_file (&tb, name, "data");
    }
  tb_end (&tb);
  REQUIRE (add_tar (x, &t, &tb, "l0", &err) == 0);
  fa = memfd_create ("a", MFD_CLOEXEC);
  fb = memfd_create ("b", MFD_CLOEXEC);
  REQUIRE (erofs_index_write (x, fa, &sa, &err) == 0);
  REQUIRE (erofs_index_write (x, fb, &sb, &err) == 0);
  REQUIRE (sa == sb && sa > 0);
  a = malloc ((size_t)sa);
  b = malloc ((size_t)sb);
  REQUIRE (pread (fa, a, (size_t)sa, 0) == sa
           && pread (fb, b, (size_t)sb, 0) == sb);
  CHECK (memcmp (a, b, (size_t)sa) == 0);
  /* Still usable: one more layer, one more write. */
  CHECK (add_raw (x, 512, "d0/f0", NULL, "l1", &err) == 0);
  t.blobs[t.nblobs++] = 512;
  close (fa);
  fa = write_walk (x, &t);
  CHECK (fa >= 0 && find (&t, "d0/f0")->e.device == 2);
  close (fa);
  close (fb);
  free (a);
  free (b);
  free (tb.b);
  erofs_index_free (x);
  tree_free (&t);
}

TEST (test_end_of_archive)
{
  struct tarbuf tb = { 0 };
  struct tree t = { 0 };

  /* No end blocks at all, or one: both read to the end of the blob. */
  tb_file (&tb, "a", "1");
  REQUIRE (index_one (&tb, false, &t));
  CHECK (t.n == 2);
  tree_free (&t);
  tb_append (&tb, NULL, 512);
  REQUIRE (index_one (&tb, false, &t));
  CHECK (t.n == 2);
  tree_free (&t);
  /* After two, anything (tar pads to records). */
  tb_append (&tb, NULL, 512);
  tb_append (&tb, "garbage", 7);
  REQUIRE (index_one (&tb, false, &t));
  CHECK (t.n == 2);
  tree_free (&t);
  free (tb.b);
  /* An empty blob is an empty layer. */
  memset (&tb, 0, sizeof tb);
  REQUIRE (index_one (&tb, false, &t));
  CHECK (t.n == 1);
  tree_free (&t);
  /* git archive's global comment is harmless. */
  {
    static const char *const kv[] = { "comment=0123abcd" };
    tb_pax (&tb, 'g', kv, NULL, 1);
    tb_file (&tb, "x", "1");
    tb_end (&tb);
    REQUIRE (index_one (&tb, false, &t));
    CHECK (t.n == 2);
    tree_free (&t);
    free (tb.b);
  }
}

TEST (test_limits)
{
  struct model_unpack_limits lim
      = { .max_layer_entries = 3, .max_model_entries = 5 };
  struct erofs_index_opts o = { .blkszbits = 9, .limits = &lim };
  struct tarbuf tb = { 0 }, tb2 = { 0 };
  mp_error err = { 0 };
  erofs_index *x;
  int fd;

  for (int i = 0; i < 4; i++)
    {
      char n[16];
      snprintf (n, sizeof n, "f%d", i);
      tb_file (&tb, n, "");
    }
  tb_end (&tb);
  x = erofs_index_new (&o, &err);
  fd = memfd_of (tb.b, tb.len);
  CHECK (erofs_index_add_tar (x, fd, (int64_t)tb.len, "L", &err) < 0);
  CHECK (strstr (err.msg, "max_layer_entries") != NULL);
  /* Broken after a failed layer. */
  CHECK (add_raw (x, 1, "z", NULL, "L2", &err) < 0);
  CHECK (err.code == MP_ERR_FAILED_PRECONDITION);
  close (fd);
  erofs_index_free (x);

  for (int i = 0; i < 3; i++)
    {
      char n[16];
      snprintf (n, sizeof n, "g%d", i);
      tb_file (&tb2, n, "");
    }
  tb_end (&tb2);
  x = erofs_index_new (&o, &err);
  fd = memfd_of (tb2.b, tb2.len);
  CHECK (erofs_index_add_tar (x, fd, (int64_t)tb2.len, "L0", &err) == 0);
  CHECK (erofs_index_add_tar (x, fd, (int64_t)tb2.len, "L1", &err) < 0);
  CHECK (strstr (err.msg, "max_model_entries") && strstr (err.msg, "L1"));
  close (fd);
  erofs_index_free (x);
  free (tb.b);
  free (tb2.b);

  /* Implied directories count too, at twice the entries. */
  memset (&tb, 0, sizeof tb);
  tb_file (&tb, "a/b/c/d/e/f/g/h/i/j/k", "");
  tb_end (&tb);
  lim.max_model_entries = 4;
  x = erofs_index_new (&o, &err);
  fd = memfd_of (tb.b, tb.len);
  CHECK (erofs_index_add_tar (x, fd, (int64_t)tb.len, "L", &err) < 0);
  CHECK (strstr (err.msg, "implied directories") != NULL);
  close (fd);
  erofs_index_free (x);
  free (tb.b);
}

/* ---- hostile tars ---- */

TEST (test_hostile_names)
{
  static const struct
  {
    char type;
    const char *name, *link, *needle;
  } cases[] = {
    { '0', "/etc/passwd", NULL, "absolute path" },
    { '0', "a/../../x", NULL, "\"..\" component" },
    { '0', "bad\001name", NULL, "control character" },
    { '2', "l", "/etc/passwd", "outside the model" },
    { '2', "d/l", "../../x", "outside the model" },
    { '2', "l", "tab\there", "bad symlink target" },
    { '1', "h", "missing", "not in the layer" },
    { '1', "h", "../x", "\"..\" component" },
    { '1', "h", "./", "hard link to the layer root" },
    { '3', "tty", NULL, "device nodes" },
    { '4', "sda", NULL, "device nodes" },
    { '6', "fifo", NULL, "FIFOs" },
    { 'S', "sparse", NULL, "sparse files" },
    { 'V', "volume", NULL, "unsupported entry type" },
    { 'Z', "vendor", NULL, "unsupported entry type" },
    { '2', "sym", "", "bad symlink target" },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      struct tarbuf tb = { 0 };
      tb_simple (&tb, cases[i].name, cases[i].type, cases[i].link);
      tb_end (&tb);
      REFUSED (&tb, cases[i].needle);
      free (tb.b);
    }
}

TEST (test_hostile_structure)
{
  struct tarbuf tb = { 0 };
  struct hdr h;

  /* A path through a symlink of the same layer. */
  tb_simple (&tb, "d", '2', "real");
  tb_file (&tb, "d/x", "escape");
  tb_end (&tb);
  REFUSED (&tb, "crosses a symlink");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_file (&tb, "f", "");
  tb_file (&tb, "f/x", "");
  tb_end (&tb);
  REFUSED (&tb, "a parent is not a directory");
  free (tb.b);
  /* Hard links: to a directory, to a later entry, to a symlink. */
  memset (&tb, 0, sizeof tb);
  tb_simple (&tb, "dir/", '5', NULL);
  tb_simple (&tb, "h", '1', "dir");
  tb_end (&tb);
  REFUSED (&tb, "not a regular file");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_simple (&tb, "h", '1', "later");
  tb_file (&tb, "later", "");
  tb_end (&tb);
  REFUSED (&tb, "not in the layer");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_file (&tb, "h", "");
  tb_simple (&tb, "h", '1', "h");
  tb_end (&tb);
  REFUSED (&tb, "hard link to itself");
  free (tb.b);
  /* Nothing replaces a directory holding entries of the same layer. */
  memset (&tb, 0, sizeof tb);
  tb_file (&tb, "d/inner", "");
  tb_file (&tb, "d", "");
  tb_end (&tb);
  REFUSED (&tb, "non-empty directory");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_file (&tb, "x", "");
  tb_file (&tb, ".", "");
  tb_end (&tb);
  REFUSED (&tb, "layer root");
  free (tb.b);
  /* Data past the end, truncated headers, bad checksums. */
  memset (&tb, 0, sizeof tb);
  h = (struct hdr){ .name = "big", .type = '0', .size = 1 << 20 };
  tb_header (&tb, &h);
  tb_append (&tb, "x", 1);
  REFUSED (&tb, "past the end");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_file (&tb, "a", "1");
  tb.len += 100; /* a partial header */
  REFUSED (&tb, "truncated");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  h = (struct hdr){ .name = "bad", .type = '0', .bad_sum = true };
  tb_header (&tb, &h);
  tb_end (&tb);
  REFUSED (&tb, "bad checksum");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  h = (struct hdr){ .name = "v7", .type = '0', .no_magic = true };
  tb_header (&tb, &h);
  tb_end (&tb);
  REFUSED (&tb, "not a ustar");
  free (tb.b);
  /* A lone zero block, then more. */
  memset (&tb, 0, sizeof tb);
  tb_file (&tb, "a", "1");
  tb_append (&tb, NULL, 512);
  tb_file (&tb, "hidden", "2");
  tb_end (&tb);
  REFUSED (&tb, "lone zero block");
  free (tb.b);
  /* Sizes on entries that have no data. */
  memset (&tb, 0, sizeof tb);
  h = (struct hdr){ .name = "s", .type = '2', .link = "t", .size = 512 };
  tb_header (&tb, &h);
  tb_append (&tb, NULL, 512);
  tb_end (&tb);
  REFUSED (&tb, "symlink with a size");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  h = (struct hdr){ .name = "d/", .type = '5', .size = 512 };
  tb_header (&tb, &h);
  tb_append (&tb, NULL, 512);
  tb_end (&tb);
  REFUSED (&tb, "directory with a size");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  h = (struct hdr){ .name = "old-dir/", .type = '0', .size = 3 };
  tb_header (&tb, &h);
  tb_append (&tb, "abc", 3);
  tb_end (&tb);
  REFUSED (&tb, "directory with a size");
  free (tb.b);
}

TEST (test_hostile_extended_headers)
{
  static const char *const sparse[] = { "GNU.sparse.major=1" };
  static const char *const gpath[] = { "path=everything" };
  static const char *const badsize[] = { "size=12x" };
  static const char *const nulpath[] = { "path=a\0b" };
  static const size_t nullen[] = { 8 };
  static const char *const path[] = { "path=p" };
  static const char *const badx[] = { "user.noprefix" };
  static const char *const xattr_np[] = { "SCHILY.xattr.weird.name=v" };
  struct tarbuf tb = { 0 };

  tb_pax (&tb, 'x', sparse, NULL, 1);
  tb_file (&tb, "f", "x");
  tb_end (&tb);
  REFUSED (&tb, "sparse");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_pax (&tb, 'g', gpath, NULL, 1);
  tb_file (&tb, "f", "x");
  tb_end (&tb);
  REFUSED (&tb, "global PAX header sets \"path\"");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_pax (&tb, 'x', badsize, NULL, 1);
  tb_file (&tb, "f", "x");
  tb_end (&tb);
  REFUSED (&tb, "bad PAX size");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_pax (&tb, 'x', nulpath, nullen, 1);
  tb_file (&tb, "f", "x");
  tb_end (&tb);
  REFUSED (&tb, "NUL");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_pax (&tb, 'x', path, NULL, 1);
  tb_pax (&tb, 'x', path, NULL, 1);
  tb_file (&tb, "f", "x");
  tb_end (&tb);
  REFUSED (&tb, "second PAX extended header");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_pax (&tb, 'x', path, NULL, 1);
  tb_gnu_long (&tb, 'L', "other");
  tb_file (&tb, "f", "x");
  tb_end (&tb);
  REFUSED (&tb, "both a PAX path and a GNU long name");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_pax (&tb, 'x', badx, NULL, 1);
  tb_file (&tb, "f", "x");
  tb_end (&tb);
  REFUSED (&tb, "malformed PAX record");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_pax (&tb, 'x', xattr_np, NULL, 1);
  tb_file (&tb, "f", "x");
  tb_end (&tb);
  REFUSED (&tb, "no EROFS name prefix");
  free (tb.b);
  memset (&tb, 0, sizeof tb);
  tb_pax (&tb, 'x', path, NULL, 1);
  tb_end (&tb);
  REFUSED (&tb, "right after an extended header");
  free (tb.b);
}

TEST_MAIN (T (test_basic_tree), T (test_serve_mode_drops_owners_modes_xattrs),
           T (test_long_names), T (test_numbers_and_times),
           T (test_multiblock_directory),
           T (test_many_small_directories_and_symlinks),
           T (test_huge_files_chunks), T (test_blob_limits),
           T (test_raw_layers), T (test_merge_layers),
           T (test_within_layer_replacement), T (test_raw_and_tar_merge),
           T (test_reproducible_and_reusable), T (test_end_of_archive),
           T (test_limits), T (test_hostile_names), T (test_hostile_structure),
           T (test_hostile_extended_headers))
