/* Tests for model/unpack: fixtures are built at run time with libarchive's
 * writer (pax tar, optionally gzip or zstd), unpacked, and the result is
 * compared exactly; every refused archive must leave nothing behind. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "store/unpack.h"
#include "tests/harness.h"
#include "util/fsutil.h"

/* ---- fixtures ---- */

struct ent
{
  char type; /* f file, d dir, l symlink, h hardlink, c char dev, p fifo */
  const char *path;
  const char *data; /* file content, or link target */
  mode_t mode;
  time_t mtime;
};

struct blob
{
  unsigned char *p;
  size_t len;
};

static void
blob_free (struct blob *b)
{
  free (b->p);
  b->p = NULL;
  b->len = 0;
}

/* A pax archive of ENTS with FILTER (ARCHIVE_FILTER_NONE, _GZIP, _ZSTD). */
static struct blob
build (const struct ent *ents, size_t n, int filter)
{
  struct blob b = { 0 };
  size_t cap = 16 * 1024 * 1024, used = 0;
  struct archive *a = archive_write_new ();

  b.p = malloc (cap);
  if (b.p == NULL || a == NULL)
    abort ();
  archive_write_set_format_pax_restricted (a);
  if (filter == ARCHIVE_FILTER_GZIP)
    archive_write_add_filter_gzip (a);
  else if (filter == ARCHIVE_FILTER_ZSTD)
    archive_write_add_filter_zstd (a);
  if (archive_write_open_memory (a, b.p, cap, &used) != ARCHIVE_OK)
    abort ();
  for (size_t i = 0; i < n; i++)
    {
      struct archive_entry *e = archive_entry_new ();
      const struct ent *x = &ents[i];
      size_t size = 0;

      archive_entry_set_pathname (e, x->path);
      archive_entry_set_mtime (e, x->mtime ? x->mtime : 1700000000, 0);
      archive_entry_set_uid (e, 1000);
      archive_entry_set_gid (e, 1000);
      switch (x->type)
        {
        case 'f':
          archive_entry_set_filetype (e, AE_IFREG);
          size = strlen (x->data);
          break;
        case 'd':
          archive_entry_set_filetype (e, AE_IFDIR);
          break;
        case 'l':
          archive_entry_set_filetype (e, AE_IFLNK);
          archive_entry_set_symlink (e, x->data);
          break;
        case 'h':
          archive_entry_set_filetype (e, AE_IFREG);
          archive_entry_set_hardlink (e, x->data);
          break;
        case 'c':
          archive_entry_set_filetype (e, AE_IFCHR);
          archive_entry_set_rdev (e, makedev (1, 3));
          break;
        case 'p':
          archive_entry_set_filetype (e, AE_IFIFO);
          break;
        case 's':
          /* A sparse file: 8 MiB apparent, data at 0 and in its last
           * 4 bytes. */
          archive_entry_set_filetype (e, AE_IFREG);
          break;
        }
      archive_entry_set_perm (e, x->mode ? x->mode : 0644);
      archive_entry_set_size (e, x->type == 's' ? (la_int64_t)8 << 20
                                                : (la_int64_t)size);
      if (x->type == 's')
        {
          /* After the size: regions past it are ignored. */
          archive_entry_sparse_add_entry (e, 0, (la_int64_t)strlen (x->data));
          archive_entry_sparse_add_entry (e, ((la_int64_t)8 << 20) - 4, 4);
        }
      if (archive_write_header (a, e) != ARCHIVE_OK)
        {
          fprintf (stderr, "build: %s\n", archive_error_string (a));
          abort ();
        }
      /* The writer takes the whole logical file and stores only the
       * data regions. */
      if (x->type == 's')
        {
          static char zero[1 << 16];
          if (archive_write_data (a, x->data, strlen (x->data)) < 0)
            abort ();
          for (size_t off = strlen (x->data); off < (8u << 20);)
            {
              size_t k = (8u << 20) - off < sizeof zero ? (8u << 20) - off
                                                        : sizeof zero;
              if (archive_write_data (a, zero, k) < 0)
                abort ();
              off += k;
            }
        }
      if (x->type != 's' && size > 0
          && archive_write_data (a, x->data, size) != (la_ssize_t)size)
        abort ();
      archive_entry_free (e);
    }
  if (archive_write_close (a) != ARCHIVE_OK)
    abort ();
  archive_write_free (a);
  b.len = used;
  return b;
}

static void
digest_of (const void *p, size_t len, char *out)
{
  unsigned char md[32];
  static const char hx[] = "0123456789abcdef";

  EVP_Digest (p, len, md, NULL, EVP_sha256 (), NULL);
  strcpy (out, "sha256:");
  for (int i = 0; i < 32; i++)
    {
      out[7 + 2 * i] = hx[md[i] >> 4];
      out[8 + 2 * i] = hx[md[i] & 15];
    }
  out[71] = '\0';
}

/* The uncompressed stream of a gzip or zstd blob, decoded with zlib/zstd
 * directly: an independent check of the diffId. */
static struct blob
decompress (const struct blob *in, int filter)
{
  struct blob out = { 0 };
  size_t cap = 64 * 1024 * 1024;

  out.p = malloc (cap);
  if (out.p == NULL)
    abort ();
  if (filter == ARCHIVE_FILTER_GZIP)
    {
      z_stream z = { 0 };
      if (inflateInit2 (&z, 16 + MAX_WBITS) != Z_OK)
        abort ();
      z.next_in = in->p;
      z.avail_in = (uInt)in->len;
      z.next_out = out.p;
      z.avail_out = (uInt)cap;
      if (inflate (&z, Z_FINISH) != Z_STREAM_END)
        abort ();
      out.len = z.total_out;
      inflateEnd (&z);
    }
  else
    {
      size_t r = ZSTD_decompress (out.p, cap, in->p, in->len);
      if (ZSTD_isError (r))
        abort ();
      out.len = r;
    }
  return out;
}

/* ---- per-test directories ---- */

static char base[64];
static char outside[128]; /* must stay empty whatever a layer does */
static int parent_fd = -1;

static void
setup (void)
{
  char cache[PATH_MAX + 16];

  strcpy (base, "/tmp/test_unpack.XXXXXX");
  if (mkdtemp (base) == NULL)
    abort ();
  snprintf (outside, sizeof outside, "%s/outside", base);
  snprintf (cache, sizeof cache, "%s/cache", base);
  if (mkdir (outside, 0755) < 0 || mkdir (cache, 0755) < 0)
    abort ();
  parent_fd = open (cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent_fd < 0)
    abort ();
}

static void
teardown (void)
{
  mp_error err;

  close (parent_fd);
  parent_fd = -1;
  mp_rmtree_at (AT_FDCWD, base, &err);
}

/* Number of entries in directory FD, or -1. */
static int
count_entries (int fd)
{
  int dup_fd = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fdopendir (dup_fd);
  struct dirent *de;
  int n = 0;

  if (d == NULL)
    return -1;
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      n++;
  closedir (d);
  return n;
}

static bool
outside_empty (void)
{
  int fd = open (outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int n = count_entries (fd);

  close (fd);
  return n == 0;
}

/* The blob's bytes as a file (or a pipe) to read from. */
static int
blob_fd (const void *p, size_t len, bool pipe_it)
{
  if (pipe_it)
    {
      /* Small blobs only: they must fit the pipe buffer. */
      int fds[2];
      if (pipe2 (fds, O_CLOEXEC) < 0 || write (fds[1], p, len) != (ssize_t)len)
        abort ();
      close (fds[1]);
      return fds[0];
    }
  char path[PATH_MAX + 16];
  snprintf (path, sizeof path, "%s/blob", base);
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write (fd, p, len) != (ssize_t)len
      || lseek (fd, 0, SEEK_SET) != 0)
    abort ();
  return fd;
}

static int
unpack_opts (const void *p, size_t len, struct model_unpack_opts *o,
             bool pipe_it, struct model_unpack_stats *st, mp_error *err)
{
  int fd = blob_fd (p, len, pipe_it);
  int r;

  mp_error_clear (err);
  r = model_unpack_layer (fd, parent_fd, "layer", o, st, err);
  close (fd);
  return r;
}

/* Unpack a tar blob with its own digest (or DIGEST if given). */
static int
unpack (const struct blob *b, enum model_unpack_format fmt, const char *diff_id,
        struct model_unpack_stats *st, mp_error *err)
{
  char dg[80];
  struct model_unpack_opts o = { .format = fmt,
                                 .expected_digest = dg,
                                 .expected_diff_id = diff_id,
                                 .keep_owners = true };

  digest_of (b->p, b->len, dg);
  return unpack_opts (b->p, b->len, &o, false, st, err);
}

/* Refusal: the right code, nothing in the cache directory, nothing
 * outside. */
static void
check_refused (int r, const mp_error *err, const char *needle)
{
  CHECK (r < 0);
  /* Content that fails verification is data loss; the rest bad input. */
  CHECK (err->code
         == (needle != NULL && strstr (needle, "mismatch") != NULL
                 ? MP_ERR_DATA_LOSS
                 : MP_ERR_INVALID_ARGUMENT));
  if (needle != NULL && strstr (err->msg, needle) == NULL)
    {
      fprintf (stderr, "message \"%s\" lacks \"%s\"\n", err->msg, needle);
      CHECK (strstr (err->msg, needle) != NULL);
    }
  CHECK (count_entries (parent_fd) == 0);
  CHECK (outside_empty ());
}

static void
refuse_tar (const struct ent *ents, size_t n, const char *needle)
{
  static const int filters[]
      = { ARCHIVE_FILTER_NONE, ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD };
  static const enum model_unpack_format fmts[]
      = { MODEL_LAYER_TAR, MODEL_LAYER_TAR_GZIP, MODEL_LAYER_TAR_ZSTD };

  for (int i = 0; i < 3; i++)
    {
      struct blob b = build (ents, n, filters[i]);
      mp_error err;
      int r = unpack (&b, fmts[i], NULL, NULL, &err);
      check_refused (r, &err, needle);
      blob_free (&b);
    }
}

static char *
read_at (const char *rel)
{
  static char buf[65536];
  char path[PATH_MAX + 64];
  ssize_t n;
  int fd;

  snprintf (path, sizeof path, "%s/cache/layer/%s", base, rel);
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n < 0)
    return NULL;
  buf[n] = '\0';
  return buf;
}

static bool
lstat_at (const char *rel, struct stat *st)
{
  char path[PATH_MAX + 64];

  snprintf (path, sizeof path, "%s/cache/layer%s%s", base, *rel ? "/" : "",
            rel);
  return lstat (path, st) == 0;
}

static char *
readlink_at (const char *rel)
{
  static char buf[PATH_MAX];
  char path[PATH_MAX + 64];
  ssize_t n;

  snprintf (path, sizeof path, "%s/cache/layer/%s", base, rel);
  n = readlink (path, buf, sizeof buf - 1);
  if (n < 0)
    return NULL;
  buf[n] = '\0';
  return buf;
}

/* ---- the reference tree ---- */

static const struct ent tree_ents[] = {
  { 'd', "./", NULL, 0755, 1600000000 },
  { 'd', "model", NULL, 0750, 1600000001 },
  { 'f', "model/config.json", "{\"a\":1}\n", 0640, 1600000002 },
  { 'd', "model/weights/", NULL, 0755, 1600000003 },
  { 'f', "model/weights/part-1.bin", "weights one", 0600, 1600000004 },
  { 'f', "model/weights/part-2.bin", "weights two", 0444, 1600000005 },
  { 'l', "model/latest", "weights/part-2.bin", 0777, 1600000006 },
  { 'l', "model/up-link", "../exec.sh", 0777, 1600000007 },
  { 'h', "model/weights/copy.bin", "model/weights/part-1.bin", 0600,
    1600000008 },
  { 'f', "deep/er/and/deeper/file.txt", "implicit parents", 0644, 1600000009 },
  { 'f', "exec.sh", "#!/bin/sh\n", 0755, 1600000010 },
  { 'f', ".wh.ordinary", "whiteouts are plain names", 0644, 1600000011 },
  { 'f', "empty", "", 0644, 1600000012 },
};
#define NTREE (sizeof tree_ents / sizeof tree_ents[0])

static void
check_tree (const struct model_unpack_stats *st)
{
  struct stat s, s2;

  CHECK_STR (read_at ("model/config.json"), "{\"a\":1}\n");
  CHECK_STR (read_at ("model/weights/part-1.bin"), "weights one");
  CHECK_STR (read_at ("model/weights/part-2.bin"), "weights two");
  CHECK_STR (read_at ("model/weights/copy.bin"), "weights one");
  CHECK_STR (read_at ("deep/er/and/deeper/file.txt"), "implicit parents");
  CHECK_STR (read_at (".wh.ordinary"), "whiteouts are plain names");
  CHECK_STR (read_at ("empty"), "");
  CHECK_STR (readlink_at ("model/latest"), "weights/part-2.bin");
  CHECK_STR (readlink_at ("model/up-link"), "../exec.sh");

  REQUIRE (lstat_at ("", &s));
  CHECK ((s.st_mode & 07777) == 0755 && s.st_mtim.tv_sec == 1600000000);
  REQUIRE (lstat_at ("model", &s));
  CHECK (S_ISDIR (s.st_mode) && (s.st_mode & 07777) == 0750);
  CHECK (s.st_mtim.tv_sec == 1600000001); /* set after its contents */
  REQUIRE (lstat_at ("model/weights", &s));
  CHECK ((s.st_mode & 07777) == 0755 && s.st_mtim.tv_sec == 1600000003);
  REQUIRE (lstat_at ("model/config.json", &s));
  CHECK (S_ISREG (s.st_mode) && (s.st_mode & 07777) == 0640);
  CHECK (s.st_mtim.tv_sec == 1600000002 && s.st_mtim.tv_nsec == 0);
  CHECK (s.st_uid == 1000 && s.st_gid == 1000);
  REQUIRE (lstat_at ("model/weights/part-2.bin", &s));
  CHECK ((s.st_mode & 07777) == 0444 && s.st_mtim.tv_sec == 1600000005);
  REQUIRE (lstat_at ("exec.sh", &s));
  CHECK ((s.st_mode & 07777) == 0755);
  REQUIRE (lstat_at ("model/latest", &s));
  CHECK (S_ISLNK (s.st_mode) && s.st_mtim.tv_sec == 1600000006);
  REQUIRE (lstat_at ("model/weights/part-1.bin", &s));
  REQUIRE (lstat_at ("model/weights/copy.bin", &s2));
  CHECK (s.st_ino == s2.st_ino && s.st_nlink == 2);
  REQUIRE (lstat_at ("deep/er", &s));
  CHECK (S_ISDIR (s.st_mode) && (s.st_mode & 07777) == 0755);

  CHECK (st->files == 7);
  CHECK (st->dirs == 2); /* "./" is the root, not counted */
  CHECK (st->symlinks == 2);
  CHECK (st->hardlinks == 1);
  CHECK (st->bytes_written == 8 + 11 + 11 + 16 + 10 + 25);
  CHECK (st->copy_method == MODEL_UNPACK_COPY_NONE);
  CHECK (count_entries (parent_fd) == 1); /* no work directory left */
}

TEST (test_tar_tree)
{
  struct blob b = build (tree_ents, NTREE, ARCHIVE_FILTER_NONE);
  struct model_unpack_stats st;
  char dg[80];
  mp_error err;

  setup ();
  digest_of (b.p, b.len, dg);
  CHECK (unpack (&b, MODEL_LAYER_TAR, dg, &st, &err) == 0);
  if (err.code != MP_OK)
    fprintf (stderr, "%s\n", err.msg);
  check_tree (&st);
  CHECK (st.bytes_read == b.len && st.bytes_uncompressed == b.len);
  blob_free (&b);
  teardown ();
}

static void
compressed_tree (int filter, enum model_unpack_format fmt)
{
  struct blob b = build (tree_ents, NTREE, filter);
  struct blob plain = decompress (&b, filter);
  struct model_unpack_stats st;
  char diff[80];
  mp_error err;

  setup ();
  digest_of (plain.p, plain.len, diff);
  CHECK (unpack (&b, fmt, diff, &st, &err) == 0);
  if (err.code != MP_OK)
    fprintf (stderr, "%s\n", err.msg);
  check_tree (&st);
  CHECK (st.bytes_read == b.len);
  CHECK (st.bytes_uncompressed == plain.len);
  blob_free (&b);
  blob_free (&plain);
  teardown ();
}

TEST (test_tar_gzip_tree)
{
  compressed_tree (ARCHIVE_FILTER_GZIP, MODEL_LAYER_TAR_GZIP);
}

TEST (test_tar_zstd_tree)
{
  compressed_tree (ARCHIVE_FILTER_ZSTD, MODEL_LAYER_TAR_ZSTD);
}

/* A tar read from a pipe, and large files that span many ring slots. */
TEST (test_large_files_and_pipe)
{
  size_t big = 5 * 1024 * 1024 + 123;
  char *data = malloc (big + 1);
  struct model_unpack_stats st;
  struct stat s;
  mp_error err;

  REQUIRE (data != NULL);
  for (size_t i = 0; i < big; i++)
    data[i] = (char)('a' + (i * 7919 % 26));
  data[big] = '\0';
  const struct ent ents[]
      = { { 'f', "big.bin", data, 0644, 0 }, { 'f', "small", "x", 0644, 0 } };
  struct blob z = build (ents, 2, ARCHIVE_FILTER_ZSTD);
  struct blob t = build (ents, 2, ARCHIVE_FILTER_NONE);
  setup ();
  CHECK (unpack (&z, MODEL_LAYER_TAR_ZSTD, NULL, &st, &err) == 0);
  REQUIRE (lstat_at ("big.bin", &s));
  CHECK ((size_t)s.st_size == big);
  CHECK (st.bytes_written == big + 1);
  teardown ();

  /* The zstd blob is small enough for a pipe; the tar is not, so it goes
   * through a file. */
  setup ();
  {
    char dg[80];
    struct model_unpack_opts o
        = { .format = MODEL_LAYER_TAR_ZSTD, .expected_digest = dg };
    digest_of (z.p, z.len, dg);
    REQUIRE (z.len < 65536);
    CHECK (unpack_opts (z.p, z.len, &o, true, &st, &err) == 0);
    CHECK_STR (read_at ("small"), "x");
  }
  teardown ();
  setup ();
  CHECK (unpack (&t, MODEL_LAYER_TAR, NULL, &st, &err) == 0);
  {
    char path[PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/cache/layer/big.bin", base);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    char *back = malloc (big);
    REQUIRE (fd >= 0 && back != NULL);
    CHECK (read (fd, back, big) == (ssize_t)big);
    CHECK (memcmp (back, data, big) == 0);
    close (fd);
    free (back);
  }
  teardown ();
  blob_free (&z);
  blob_free (&t);
  free (data);
}

TEST (test_digest_mismatch)
{
  struct blob b = build (tree_ents, NTREE, ARCHIVE_FILTER_GZIP);
  char dg[80];
  struct model_unpack_opts o
      = { .format = MODEL_LAYER_TAR_GZIP, .expected_digest = dg };
  mp_error err;

  setup ();
  digest_of (b.p, b.len, dg);
  dg[10] = dg[10] == '0' ? '1' : '0';
  check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                 "blob digest mismatch");
  /* Same for a plain tar and a raw layer. */
  blob_free (&b);
  b = build (tree_ents, NTREE, ARCHIVE_FILTER_NONE);
  o.format = MODEL_LAYER_TAR;
  check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                 "blob digest mismatch");
  o.format = MODEL_LAYER_RAW;
  o.raw_path = "f";
  check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                 "blob digest mismatch");
  /* Malformed digests are bad arguments too. */
  o.expected_digest = "sha256:abc";
  check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                 "hex digits");
  o.expected_digest = "md5:00";
  check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                 "algorithm");
  blob_free (&b);
  teardown ();
}

TEST (test_diffid_mismatch)
{
  struct blob b = build (tree_ents, NTREE, ARCHIVE_FILTER_ZSTD);
  struct blob t = build (tree_ents, NTREE, ARCHIVE_FILTER_NONE);
  char wrong[80];
  mp_error err;

  setup ();
  /* The compressed blob's own digest is not its diffId. */
  digest_of (b.p, b.len, wrong);
  check_refused (unpack (&b, MODEL_LAYER_TAR_ZSTD, wrong, NULL, &err), &err,
                 "diffId mismatch");
  /* A plain tar's diffId is its digest; anything else is refused. */
  check_refused (unpack (&t, MODEL_LAYER_TAR, wrong, NULL, &err), &err,
                 "diffId mismatch");
  /* diffId in another algorithm: computed, not assumed. */
  {
    unsigned char md[64];
    char d512[140] = "sha512:";
    EVP_Digest (t.p, t.len, md, NULL, EVP_sha512 (), NULL);
    for (int i = 0; i < 64; i++)
      sprintf (d512 + 7 + 2 * i, "%02x", md[i]);
    CHECK (unpack (&t, MODEL_LAYER_TAR, d512, NULL, &err) == 0);
    CHECK (count_entries (parent_fd) == 1);
  }
  blob_free (&b);
  blob_free (&t);
  teardown ();
}

/* A blob the source vouches for is not hashed again; a tar layer's diffId
 * is checked all the same. */
TEST (test_blob_verified_by_source)
{
  struct blob z = build (tree_ents, NTREE, ARCHIVE_FILTER_ZSTD);
  struct blob t = build (tree_ents, NTREE, ARCHIVE_FILTER_NONE);
  char zd[80], td[80], wrong[80];
  struct model_unpack_opts o = { .blob_verified = true };
  struct model_unpack_stats st;
  mp_error err;

  setup ();
  digest_of (z.p, z.len, zd);
  digest_of (t.p, t.len, td);
  /* The blob digest is not checked: a wrong one passes when vouched for
   * (the source answers for it), ... */
  snprintf (wrong, sizeof wrong, "%s", zd);
  wrong[10] = wrong[10] == '0' ? '1' : '0';
  o.format = MODEL_LAYER_TAR_ZSTD;
  o.expected_digest = wrong;
  o.expected_diff_id = td;
  CHECK (unpack_opts (z.p, z.len, &o, false, &st, &err) == 0);
  CHECK (st.bytes_read == z.len && st.bytes_uncompressed == t.len);
  CHECK (count_entries (parent_fd) == 1);
  teardown ();
  /* ... but the diffId is: the config must match the content. */
  setup ();
  o.expected_digest = zd;
  o.expected_diff_id = zd;
  check_refused (unpack_opts (z.p, z.len, &o, false, NULL, &err), &err,
                 "diffId mismatch");
  o.format = MODEL_LAYER_TAR;
  o.expected_digest = td;
  o.expected_diff_id = wrong;
  check_refused (unpack_opts (t.p, t.len, &o, false, NULL, &err), &err,
                 "diffId mismatch");
  o.expected_diff_id = td;
  CHECK (unpack_opts (t.p, t.len, &o, false, NULL, &err) == 0);
  teardown ();
  /* A raw layer: its diffId must name its blob digest. */
  setup ();
  o.format = MODEL_LAYER_RAW;
  o.raw_path = "w.bin";
  o.expected_digest = td;
  o.expected_diff_id = wrong;
  check_refused (unpack_opts (t.p, t.len, &o, false, NULL, &err), &err,
                 "diffId mismatch");
  o.expected_diff_id = td;
  CHECK (unpack_opts (t.p, t.len, &o, false, &st, &err) == 0);
  CHECK (st.bytes_read == t.len && st.bytes_written == t.len);
  CHECK (memcmp (read_at ("w.bin"), t.p, 16) == 0);
  teardown ();
  blob_free (&z);
  blob_free (&t);
}

TEST (test_dotdot_entry)
{
  const struct ent a[] = { { 'f', "ok", "fine", 0644, 0 },
                           { 'f', "../escaped", "bad", 0644, 0 } };
  const struct ent b[] = { { 'f', "a/../../escaped", "bad", 0644, 0 } };
  const struct ent c[] = { { 'd', "a/..", NULL, 0755, 0 } };

  setup ();
  refuse_tar (a, 1 + 1, "\"..\" component");
  refuse_tar (b, 1, "\"..\" component");
  refuse_tar (c, 1, "\"..\" component");
  {
    struct stat s;
    char path[PATH_MAX + 16];
    snprintf (path, sizeof path, "%s/escaped", base);
    CHECK (lstat (path, &s) < 0);
  }
  teardown ();
}

TEST (test_absolute_entry)
{
  char abs[PATH_MAX + 16];

  setup ();
  snprintf (abs, sizeof abs, "%s/x", outside);
  {
    const struct ent a[] = { { 'f', abs, "bad", 0644, 0 } };
    const struct ent b[] = { { 'd', "/", NULL, 0755, 0 } };
    refuse_tar (a, 1, "absolute path");
    refuse_tar (b, 1, "absolute path");
  }
  teardown ();
}

TEST (test_symlink_escape)
{
  setup ();
  {
    /* Targets outside the model are refused outright: absolute, or
     * climbing above the root from where the link sits. */
    const struct ent o1[] = { { 'l', "a", outside, 0777, 0 } };
    refuse_tar (o1, 1, "outside the model");
    const struct ent o2[] = { { 'l', "a", "..", 0777, 0 } };
    refuse_tar (o2, 1, "outside the model");
    const struct ent o3[] = { { 'd', "d", NULL, 0755, 0 },
                              { 'l', "d/l", "../../outside", 0777, 0 } };
    refuse_tar (o3, 2, "outside the model");
    const struct ent o4[] = { { 'l', "d/l", "x/../../../etc", 0777, 0 } };
    refuse_tar (o4, 1, "outside the model");
    /* Inside the model, a symlink is still never a path component while
     * unpacking: a -> sub, then a/x. */
    const struct ent a[] = { { 'd', "sub", NULL, 0755, 0 },
                             { 'l', "a", "sub", 0777, 0 },
                             { 'f', "a/x", "through the link", 0644, 0 } };
    refuse_tar (a, 3, "crosses a symlink");
    /* a -> ., then a/a/x. */
    const struct ent b[] = { { 'l', "a", ".", 0777, 0 },
                             { 'f', "a/a/x", "round and round", 0644, 0 } };
    refuse_tar (b, 2, "crosses a symlink");
    /* Deeper: d/l -> .., then a directory entry d/l/sub. */
    const struct ent c[] = { { 'd', "d", NULL, 0755, 0 },
                             { 'l', "d/l", "..", 0777, 0 },
                             { 'd', "d/l/sub", NULL, 0755, 0 } };
    refuse_tar (c, 3, "crosses a symlink");
    /* A symlink as hard link path component. */
    const struct ent d[] = { { 'f', "t", "target", 0644, 0 },
                             { 'l', "a", ".", 0777, 0 },
                             { 'h', "a/x", "t", 0644, 0 } };
    refuse_tar (d, 3, "crosses a symlink");
    /* A symlink's own name can be replaced by a file: the file is written
     * in the layer, not through the link. */
    const struct ent e[] = { { 'f', "t", "target", 0644, 0 },
                             { 'l', "a", "t", 0777, 0 },
                             { 'f', "a", "replaced", 0644, 0 } };
    struct blob bl = build (e, 3, ARCHIVE_FILTER_NONE);
    mp_error err;
    struct stat s;
    CHECK (unpack (&bl, MODEL_LAYER_TAR, NULL, NULL, &err) == 0);
    CHECK_STR (read_at ("a"), "replaced");
    CHECK (lstat_at ("a", &s) && S_ISREG (s.st_mode));
    blob_free (&bl);
  }
  CHECK (outside_empty ());
  teardown ();
}

TEST (test_hardlink_rules)
{
  char abs[PATH_MAX + 16];

  setup ();
  /* A file outside the layer that a link must not reach; "outside"
   * itself must stay empty. */
  snprintf (abs, sizeof abs, "%s/victim", base);
  {
    int fd = open (abs, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    CHECK (fd >= 0 && write (fd, "keep", 4) == 4);
    close (fd);
  }
  {
    const struct ent a[] = { { 'h', "l", abs, 0644, 0 } };
    refuse_tar (a, 1, "absolute path");
    const struct ent b[] = { { 'h', "l", "../victim", 0644, 0 } };
    refuse_tar (b, 1, "\"..\" component");
    const struct ent c[]
        = { { 'l', "s", "missing", 0777, 0 }, { 'h', "l", "s", 0644, 0 } };
    refuse_tar (c, 2, "not a regular file");
    const struct ent d[] = { { 'h', "l", "missing", 0644, 0 } };
    refuse_tar (d, 1, "not in the layer");
    const struct ent e[]
        = { { 'd', "dir", NULL, 0755, 0 }, { 'h', "l", "dir", 0644, 0 } };
    refuse_tar (e, 2, "not a regular file");
    const struct ent f[]
        = { { 'l', "s", ".", 0777, 0 }, { 'h', "l", "s/victim", 0644, 0 } };
    refuse_tar (f, 2, "crosses a symlink");
    const struct ent g[]
        = { { 'f', "self", "x", 0644, 0 }, { 'h', "self", "self", 0644, 0 } };
    refuse_tar (g, 2, "hard link to itself");
  }
  {
    /* The victim keeps its single link and content. */
    struct stat s;
    CHECK (lstat (abs, &s) == 0 && s.st_nlink == 1 && s.st_size == 4);
    unlink (abs);
  }
  teardown ();
}

TEST (test_special_files_refused)
{
  const struct ent c[] = { { 'c', "null", NULL, 0666, 0 } };
  const struct ent p[] = { { 'p', "fifo", NULL, 0644, 0 } };

  setup ();
  refuse_tar (c, 1, "device nodes");
  refuse_tar (p, 1, "device nodes");
  teardown ();
}

/* Nothing a model places is writable by group or other, nor setuid,
 * setgid or sticky: a 1777 directory must not become 0777. */
TEST (test_setuid_dropped)
{
  const struct ent ents[] = { { 'd', "sticky", NULL, 01777, 0 },
                              { 'f', "suid", "x", 04755, 0 },
                              { 'f', "sgid", "x", 02750, 0 },
                              { 'f', "shared", "x", 0666, 0 },
                              { 'd', "open", NULL, 0777, 0 } };
  struct blob b = build (ents, 5, ARCHIVE_FILTER_NONE);
  struct stat s;
  mp_error err;

  setup ();
  CHECK (unpack (&b, MODEL_LAYER_TAR, NULL, NULL, &err) == 0);
  CHECK (lstat_at ("sticky", &s) && (s.st_mode & 07777) == 0755);
  CHECK (lstat_at ("shared", &s) && (s.st_mode & 07777) == 0644);
  CHECK (lstat_at ("open", &s) && (s.st_mode & 07777) == 0755);
  CHECK (lstat_at ("suid", &s) && (s.st_mode & 07777) == 0755);
  CHECK (lstat_at ("sgid", &s) && (s.st_mode & 07777) == 0750);
  blob_free (&b);
  teardown ();
}

TEST (test_duplicates)
{
  mp_error err;
  struct stat s;

  setup ();
  {
    /* Later wins: file over file, file over empty dir, dir over file. */
    const struct ent ents[] = {
      { 'f', "f", "first", 0644, 0 },
      { 'f', "f", "second", 0600, 0 },
      { 'd', "e", NULL, 0755, 0 },
      { 'f', "e", "was a dir", 0644, 0 },
      { 'f', "g", "was a file", 0644, 0 },
      { 'd', "g", NULL, 0700, 0 },
      { 'f', "g/in", "inside", 0644, 0 },
      { 'h', "h", "f", 0644, 0 },
      { 'f', "h", "unlinked first", 0644, 0 },
    };
    struct blob b
        = build (ents, sizeof ents / sizeof ents[0], ARCHIVE_FILTER_NONE);
    CHECK (unpack (&b, MODEL_LAYER_TAR, NULL, NULL, &err) == 0);
    CHECK_STR (read_at ("f"), "second");
    CHECK (lstat_at ("f", &s) && (s.st_mode & 0777) == 0600);
    CHECK (s.st_nlink == 1); /* h was replaced, not written through */
    CHECK_STR (read_at ("e"), "was a dir");
    CHECK_STR (read_at ("g/in"), "inside");
    CHECK (lstat_at ("g", &s) && (s.st_mode & 0777) == 0700);
    CHECK_STR (read_at ("h"), "unlinked first");
    blob_free (&b);
  }
  teardown ();
  setup ();
  {
    const struct ent ents[] = { { 'd', "d", NULL, 0755, 0 },
                                { 'f', "d/x", "x", 0644, 0 },
                                { 'f', "d", "over a full dir", 0644, 0 } };
    refuse_tar (ents, 3, "non-empty directory");
    const struct ent e2[]
        = { { 'f', "d/x", "x", 0644, 0 }, { 'l', "d", "elsewhere", 0777, 0 } };
    refuse_tar (e2, 2, "non-empty directory");
    const struct ent e3[]
        = { { 'f', "file", "x", 0644, 0 }, { 'f', "file/x", "x", 0644, 0 } };
    refuse_tar (e3, 2, "not a directory");
    const struct ent e4[] = { { 'f', ".", "x", 0644, 0 } };
    refuse_tar (e4, 1, "layer root");
  }
  teardown ();
}

TEST (test_limits)
{
  static char longname[MODEL_UNPACK_MAX_PATH + 10];
  static char deep[2 * MODEL_UNPACK_MAX_DEPTH + 10];
  const struct ent two[] = { { 'f', "a", "0123456789", 0644, 0 },
                             { 'f', "b", "0123456789", 0644, 0 } };
  struct blob b = build (two, 2, ARCHIVE_FILTER_GZIP);
  char dg[80];
  struct model_unpack_opts o = { .format = MODEL_LAYER_TAR_GZIP,
                                 .expected_digest = dg,
                                 .max_total_bytes = 15 };
  mp_error err;

  setup ();
  digest_of (b.p, b.len, dg);
  /* The uncompressed stream alone is larger than 15 bytes. */
  check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                 "expands to more than 15 bytes");
  o.max_total_bytes = 0;
  o.max_entries = 1;
  check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                 "more than 1 entries");
  blob_free (&b);

  /* Files larger than the limit, within a stream that is not. */
  {
    static char big[100001];
    memset (big, 'z', sizeof big - 1);
    const struct ent one[] = { { 'f', "big", big, 0644, 0 } };
    b = build (one, 1, ARCHIVE_FILTER_ZSTD);
    digest_of (b.p, b.len, dg);
    o = (struct model_unpack_opts){ .format = MODEL_LAYER_TAR_ZSTD,
                                    .expected_digest = dg,
                                    .max_total_bytes = 50000 };
    check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                   "expands to more than 50000");
    o.format = MODEL_LAYER_RAW;
    o.raw_path = "raw";
    digest_of (big, sizeof big - 1, dg);
    check_refused (unpack_opts (big, sizeof big - 1, &o, false, NULL, &err),
                   &err, "exceeds the limit");
    blob_free (&b);
  }

  /* A compressed layer expands at most max_ratio times its blob, or to
   * ratio_floor bytes, whichever is more: 1 MiB of zeros compresses to a
   * few hundred bytes. */
  {
    static char zeros[1 << 20];
    struct model_unpack_limits lim = { .max_ratio = 4, .ratio_floor = 4096 };
    memset (zeros, '0', sizeof zeros - 1);
    const struct ent one[] = { { 'f', "zeros", zeros, 0644, 0 } };
    b = build (one, 1, ARCHIVE_FILTER_ZSTD);
    digest_of (b.p, b.len, dg);
    o = (struct model_unpack_opts){ .format = MODEL_LAYER_TAR_ZSTD,
                                    .expected_digest = dg,
                                    .limits = &lim };
    check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                   "max_layer_ratio");
    /* The same through a pipe, with the size from the descriptor. */
    o.blob_size = (int64_t)b.len;
    check_refused (unpack_opts (b.p, b.len, &o, true, NULL, &err), &err,
                   "max_layer_ratio");
    /* A floor above the expansion lets it through. */
    lim.ratio_floor = 2 << 20;
    CHECK (unpack_opts (b.p, b.len, &o, false, NULL, &err) == 0);
    mp_rmtree_at (parent_fd, "layer", &err);
    /* The absolute bound caps even a generous ratio. */
    lim = (struct model_unpack_limits){ .max_layer_bytes = 1000 };
    check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                   "max_layer_bytes");
    /* Entries per layer from the limits. */
    lim = (struct model_unpack_limits){ .max_layer_entries = 1 };
    blob_free (&b);
    b = build (two, 2, ARCHIVE_FILTER_NONE);
    digest_of (b.p, b.len, dg);
    o.format = MODEL_LAYER_TAR;
    o.blob_size = 0;
    check_refused (unpack_opts (b.p, b.len, &o, false, NULL, &err), &err,
                   "more than 1 entries");
    blob_free (&b);
  }
  /* Sparse members are refused, never written out densely. */
  {
    const struct ent sp[] = { { 's', "holes", "data", 0644, 0 } };
    refuse_tar (sp, 1, "sparse files");
  }
  /* Control characters in names and link targets. */
  {
    const struct ent c1[] = { { 'f', "title\033]0;pwned\007", "x", 0644, 0 } };
    refuse_tar (c1, 1, "control character");
    const struct ent c2[] = { { 'f', "new\nline", "x", 0644, 0 } };
    refuse_tar (c2, 1, "control character");
    const struct ent c3[] = { { 'l', "l", "a\033[2Jb", 0777, 0 } };
    refuse_tar (c3, 1, "bad symlink target");
  }

  memset (longname, 'n', sizeof longname - 1);
  for (size_t i = 100; i < sizeof longname - 1; i += 100)
    longname[i] = '/';
  const struct ent l[] = { { 'f', longname, "x", 0644, 0 } };
  refuse_tar (l, 1, "path longer than");
  for (size_t i = 0; i < sizeof deep - 1; i++)
    deep[i] = i % 2 ? '/' : 'd';
  const struct ent dp[] = { { 'f', deep, "x", 0644, 0 } };
  refuse_tar (dp, 1, "deeper than");
  char comp[300];
  memset (comp, 'c', sizeof comp - 1);
  comp[sizeof comp - 1] = '\0';
  const struct ent cp[] = { { 'f', comp, "x", 0644, 0 } };
  refuse_tar (cp, 1, "component longer than");
  teardown ();
}

static void
write_raw_meta_case (bool pipe_it)
{
  static const char content[] = "raw weights \x01\x02\x03";
  char dg[80];
  struct model_file_meta meta = { .has_mode = true,
                                  .mode = 04640,
                                  .has_owner = true,
                                  .uid = 1234,
                                  .gid = 5678,
                                  .has_mtime = true,
                                  .mtime = { 1650000000, 123456789 } };
  struct model_unpack_opts o = { .format = MODEL_LAYER_RAW,
                                 .expected_digest = dg,
                                 .expected_diff_id = dg,
                                 .raw_path = "./models//sub/model.safetensors",
                                 .raw_meta = &meta,
                                 .keep_owners = true };
  struct model_unpack_stats st;
  struct stat s;
  mp_error err;

  setup ();
  digest_of (content, sizeof content - 1, dg);
  CHECK (unpack_opts (content, sizeof content - 1, &o, pipe_it, &st, &err)
         == 0);
  CHECK_STR (read_at ("models/sub/model.safetensors"), content);
  REQUIRE (lstat_at ("models/sub/model.safetensors", &s));
  CHECK ((s.st_mode & 07777) == 0640); /* setuid dropped */
  CHECK (s.st_uid == 1234 && s.st_gid == 5678);
  CHECK (s.st_mtim.tv_sec == 1650000000 && s.st_mtim.tv_nsec == 123456789);
  CHECK (lstat_at ("models", &s) && (s.st_mode & 07777) == 0755);
  CHECK (lstat_at ("models/sub", &s) && (s.st_mode & 07777) == 0755);
  CHECK (lstat_at ("", &s) && (s.st_mode & 07777) == 0755);
  CHECK (st.files == 1 && st.bytes_written == sizeof content - 1);
  CHECK (st.bytes_read == sizeof content - 1);
  if (pipe_it)
    CHECK (st.copy_method == MODEL_UNPACK_COPY_READ_WRITE);
  else
    CHECK (st.copy_method == MODEL_UNPACK_COPY_FICLONE
           || st.copy_method == MODEL_UNPACK_COPY_FILE_RANGE
           || st.copy_method == MODEL_UNPACK_COPY_READ_WRITE);
  teardown ();
}

TEST (test_raw_layer_meta)
{
  write_raw_meta_case (false);
  write_raw_meta_case (true);
}

TEST (test_raw_layer_defaults_and_paths)
{
  static const char content[] = "doc";
  char dg[80];
  struct model_unpack_opts o = { .format = MODEL_LAYER_RAW,
                                 .expected_digest = dg,
                                 .raw_path = "README.md" };
  struct stat s;
  mp_error err;

  setup ();
  digest_of (content, 3, dg);
  CHECK (unpack_opts (content, 3, &o, false, NULL, &err) == 0);
  CHECK (lstat_at ("README.md", &s) && (s.st_mode & 07777) == 0644);
  CHECK (s.st_uid == getuid ());
  /* Second time: the layer exists. */
  CHECK (unpack_opts (content, 3, &o, false, NULL, &err) < 0);
  CHECK (err.code == MP_ERR_ALREADY_EXISTS);
  CHECK (count_entries (parent_fd) == 1);
  teardown ();

  setup ();
  o.raw_path = "../escape";
  check_refused (unpack_opts (content, 3, &o, false, NULL, &err), &err,
                 "\"..\" component");
  o.raw_path = "/abs";
  check_refused (unpack_opts (content, 3, &o, false, NULL, &err), &err,
                 "absolute");
  o.raw_path = "./";
  check_refused (unpack_opts (content, 3, &o, false, NULL, &err), &err,
                 "layer root");
  o.raw_path = NULL;
  check_refused (unpack_opts (content, 3, &o, false, NULL, &err), &err,
                 "without a file path");
  /* The diffId of a raw layer is its digest. */
  o.raw_path = "f";
  o.expected_diff_id
      = "sha256:"
        "0000000000000000000000000000000000000000000000000000000000000000";
  check_refused (unpack_opts (content, 3, &o, false, NULL, &err), &err,
                 "diffId mismatch");
  teardown ();
}

TEST (test_truncated_streams)
{
  static const int filters[]
      = { ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD, ARCHIVE_FILTER_NONE };
  static const enum model_unpack_format fmts[]
      = { MODEL_LAYER_TAR_GZIP, MODEL_LAYER_TAR_ZSTD, MODEL_LAYER_TAR };
  static char big[200000];

  for (size_t i = 0; i < sizeof big - 1; i++)
    big[i] = (char)(i * 2654435761u >> 13);
  big[sizeof big - 1] = '\0';
  const struct ent ents[]
      = { { 'f', "a", big, 0644, 0 }, { 'f', "b", "tail", 0644, 0 } };
  setup ();
  for (int i = 0; i < 3; i++)
    {
      struct blob b = build (ents, 2, filters[i]);
      char dg[80];
      struct model_unpack_opts o = { .format = fmts[i], .expected_digest = dg };
      mp_error err;
      /* Cut in the middle of the first file; digest of what remains, so
       * the stream itself must be found incomplete. */
      size_t cut = b.len / 2;
      digest_of (b.p, cut, dg);
      check_refused (unpack_opts (b.p, cut, &o, false, NULL, &err), &err, NULL);
      if (err.msg[0] == '\0' || strstr (err.msg, "digest") != NULL)
        fprintf (stderr, "truncated %d: %s\n", i, err.msg);
      CHECK (strstr (err.msg, "digest") == NULL);
      blob_free (&b);
    }
  teardown ();
}

TEST (test_garbage)
{
  unsigned char junk[4096];
  static const enum model_unpack_format fmts[]
      = { MODEL_LAYER_TAR, MODEL_LAYER_TAR_GZIP, MODEL_LAYER_TAR_ZSTD };
  char dg[80];
  mp_error err;

  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)(i * 131 + 7);
  setup ();
  digest_of (junk, sizeof junk, dg);
  for (int i = 0; i < 3; i++)
    {
      struct model_unpack_opts o = { .format = fmts[i], .expected_digest = dg };
      check_refused (unpack_opts (junk, sizeof junk, &o, false, NULL, &err),
                     &err, NULL);
    }
  /* An empty blob is no tar either. */
  digest_of (junk, 0, dg);
  for (int i = 0; i < 3; i++)
    {
      struct model_unpack_opts o = { .format = fmts[i], .expected_digest = dg };
      check_refused (unpack_opts (junk, 0, &o, false, NULL, &err), &err, NULL);
    }
  teardown ();
}

/* The media type is binding: a plain tar is not a tar+gzip layer, and a
 * gzip stream inside a gzip stream is not one either. */
TEST (test_wrong_compression)
{
  struct blob t = build (tree_ents, NTREE, ARCHIVE_FILTER_NONE);
  struct blob z = build (tree_ents, NTREE, ARCHIVE_FILTER_ZSTD);
  mp_error err;

  setup ();
  check_refused (unpack (&t, MODEL_LAYER_TAR_GZIP, NULL, NULL, &err), &err,
                 "not a single gzip stream");
  check_refused (unpack (&z, MODEL_LAYER_TAR_GZIP, NULL, NULL, &err), &err,
                 "not a single gzip stream");
  check_refused (unpack (&z, MODEL_LAYER_TAR, NULL, NULL, &err), &err,
                 "tar stream");
  {
    /* gzip(gzip(tar)) */
    unsigned char *out = malloc (t.len + 65536);
    struct blob g1 = { 0 }, g2 = { 0 };
    z_stream s = { 0 };
    REQUIRE (out != NULL);
    for (int round = 0; round < 2; round++)
      {
        const struct blob *in = round == 0 ? &t : &g1;
        struct blob *res = round == 0 ? &g1 : &g2;
        memset (&s, 0, sizeof s);
        REQUIRE (deflateInit2 (&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                               Z_DEFAULT_STRATEGY)
                 == Z_OK);
        s.next_in = in->p;
        s.avail_in = (uInt)in->len;
        s.next_out = out;
        s.avail_out = (uInt)(t.len + 65536);
        REQUIRE (deflate (&s, Z_FINISH) == Z_STREAM_END);
        res->len = s.total_out;
        res->p = malloc (res->len);
        memcpy (res->p, out, res->len);
        deflateEnd (&s);
      }
    CHECK (unpack (&g1, MODEL_LAYER_TAR_GZIP, NULL, NULL, &err) == 0);
    mp_rmtree_at (parent_fd, "layer", &err);
    check_refused (unpack (&g2, MODEL_LAYER_TAR_GZIP, NULL, NULL, &err), &err,
                   "not a single gzip stream");
    blob_free (&g1);
    blob_free (&g2);
    free (out);
  }
  blob_free (&t);
  blob_free (&z);
  teardown ();
}

/* Bytes after the end of the tar are part of the blob: hashed, and the
 * layer is accepted only with the digest that covers them. */
TEST (test_trailing_bytes_hashed)
{
  struct blob t = build (tree_ents, NTREE, ARCHIVE_FILTER_NONE);
  unsigned char *p = malloc (t.len + 3 * 1024 * 1024);
  size_t len = t.len + 3 * 1024 * 1024;
  char dg[80], short_dg[80];
  struct model_unpack_opts o
      = { .format = MODEL_LAYER_TAR, .expected_digest = dg };
  struct model_unpack_stats st;
  mp_error err;

  REQUIRE (p != NULL);
  memcpy (p, t.p, t.len);
  memset (p + t.len, 0, len - t.len);
  p[len - 1] = 'X';
  setup ();
  digest_of (p, t.len, short_dg);
  o.expected_digest = short_dg;
  check_refused (unpack_opts (p, len, &o, false, NULL, &err), &err,
                 "blob digest mismatch");
  digest_of (p, len, dg);
  o.expected_digest = dg;
  o.expected_diff_id = dg;
  CHECK (unpack_opts (p, len, &o, false, &st, &err) == 0);
  CHECK (st.bytes_read == len);
  teardown ();
  free (p);
  blob_free (&t);
}

TEST (test_bad_arguments)
{
  char dg[80];
  struct model_unpack_opts o
      = { .format = MODEL_LAYER_TAR, .expected_digest = dg };
  mp_error err;
  int fd;

  setup ();
  digest_of ("", 0, dg);
  fd = blob_fd ("", 0, false);
  CHECK (model_unpack_layer (fd, parent_fd, "a/b", &o, NULL, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (model_unpack_layer (fd, parent_fd, "..", &o, NULL, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  o.expected_digest = NULL;
  CHECK (model_unpack_layer (fd, parent_fd, "x", &o, NULL, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (count_entries (parent_fd) == 0);
  close (fd);
  teardown ();
}

/* Names as pax stores them (UTF-8) come out byte for byte. */
TEST (test_utf8_names)
{
  const struct ent ents[]
      = { { 'f', "mod\xc3\xa8le/\xe6\xa8\xa1\xe5\x9e\x8b.bin", "w", 0644, 0 } };
  struct blob b;
  mp_error err;

  /* The writer needs a UTF-8 locale to store these names in pax; the
   * unpacker runs in the C locale, like the daemon. */
  REQUIRE (setlocale (LC_CTYPE, "C.UTF-8") != NULL);
  b = build (ents, 1, ARCHIVE_FILTER_NONE);
  setlocale (LC_CTYPE, "C");
  setup ();
  CHECK (unpack (&b, MODEL_LAYER_TAR, NULL, NULL, &err) == 0);
  if (err.code != MP_OK)
    fprintf (stderr, "%s\n", err.msg);
  CHECK_STR (read_at ("mod\xc3\xa8le/\xe6\xa8\xa1\xe5\x9e\x8b.bin"), "w");
  blob_free (&b);
  teardown ();
}

/* The confinement tests again, resolving paths one component at a time
 * with O_NOFOLLOW as on kernels without openat2. */
TEST (test_without_openat2)
{
  model_unpack_no_openat2 = true;
  test_tar_tree ();
  test_symlink_escape ();
  test_hardlink_rules ();
  test_duplicates ();
  test_raw_layer_meta ();
  model_unpack_no_openat2 = false;
}

/* model_unpack_decompress writes exactly the layer's plain tar (what zlib
 * and zstd decode on their own), verified against digest and diffId, and
 * bounded like unpacking. */
static int
decompress_to (const struct blob *b, struct model_unpack_opts *o, int *out,
               struct model_unpack_stats *st, mp_error *err)
{
  char path[PATH_MAX + 16];
  int fd = blob_fd (b->p, b->len, false), r;

  snprintf (path, sizeof path, "%s/out.tar", base);
  unlink (path);
  *out = open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (*out < 0)
    abort ();
  mp_error_clear (err);
  r = model_unpack_decompress (fd, *out, o, st, err);
  close (fd);
  return r;
}

TEST (test_decompress_to_tar)
{
  static const int filters[] = { ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD };
  static const enum model_unpack_format fmts[]
      = { MODEL_LAYER_TAR_GZIP, MODEL_LAYER_TAR_ZSTD };

  setup ();
  for (int k = 0; k < 2; k++)
    {
      struct blob b = build (tree_ents, NTREE, filters[k]);
      struct blob plain = decompress (&b, filters[k]);
      char dg[80], diff[80];
      struct model_unpack_opts o = { .format = fmts[k],
                                     .expected_digest = dg,
                                     .expected_diff_id = diff };
      struct model_unpack_stats st;
      struct model_unpack_limits lim = { .max_layer_bytes = 1024 };
      mp_error err;
      unsigned char *got;
      struct stat sb;
      int out;

      digest_of (b.p, b.len, dg);
      digest_of (plain.p, plain.len, diff);
      CHECK (decompress_to (&b, &o, &out, &st, &err) == 0);
      CHECK (fstat (out, &sb) == 0 && (size_t)sb.st_size == plain.len);
      CHECK (st.bytes_written == plain.len && st.bytes_read == b.len);
      got = malloc (plain.len);
      CHECK (got != NULL && pread (out, got, plain.len, 0) == (ssize_t)plain.len
             && memcmp (got, plain.p, plain.len) == 0);
      free (got);
      close (out);
      /* A wrong diffId, a wrong digest, a plain tar, no diffId. */
      diff[12] = diff[12] == '0' ? '1' : '0';
      CHECK (decompress_to (&b, &o, &out, NULL, &err) < 0);
      CHECK (strstr (err.msg, "diffId mismatch") != NULL);
      close (out);
      digest_of (plain.p, plain.len, diff);
      dg[12] = dg[12] == '0' ? '1' : '0';
      CHECK (decompress_to (&b, &o, &out, NULL, &err) < 0);
      CHECK (strstr (err.msg, "blob digest mismatch") != NULL);
      close (out);
      digest_of (b.p, b.len, dg);
      /* Bounded like unpacking: max_layer_bytes cuts the stream. */
      o.limits = &lim;
      CHECK (decompress_to (&b, &o, &out, NULL, &err) < 0);
      CHECK (strstr (err.msg, "max_layer_bytes") != NULL);
      close (out);
      o.limits = NULL;
      o.expected_diff_id = NULL;
      CHECK (decompress_to (&b, &o, &out, NULL, &err) < 0
             && err.code == MP_ERR_INVALID_ARGUMENT);
      close (out);
      o.expected_diff_id = diff;
      o.format = MODEL_LAYER_TAR;
      CHECK (decompress_to (&b, &o, &out, NULL, &err) < 0
             && err.code == MP_ERR_INVALID_ARGUMENT);
      close (out);
      blob_free (&b);
      blob_free (&plain);
    }
  teardown ();
}

TEST_MAIN (T (test_decompress_to_tar), T (test_blob_verified_by_source),
           T (test_tar_tree), T (test_tar_gzip_tree), T (test_tar_zstd_tree),
           T (test_large_files_and_pipe), T (test_digest_mismatch),
           T (test_diffid_mismatch), T (test_dotdot_entry),
           T (test_absolute_entry), T (test_symlink_escape),
           T (test_hardlink_rules), T (test_special_files_refused),
           T (test_setuid_dropped), T (test_duplicates), T (test_limits),
           T (test_raw_layer_meta), T (test_raw_layer_defaults_and_paths),
           T (test_truncated_streams), T (test_garbage),
           T (test_wrong_compression), T (test_trailing_bytes_hashed),
           T (test_bad_arguments), T (test_utf8_names),
           T (test_without_openat2))
