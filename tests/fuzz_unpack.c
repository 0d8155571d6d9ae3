/* libFuzzer target for model/unpack.
 *
 * Input: one selector byte, then the payload.  Selector bits 0-1 pick the
 * layer format (tar, tar+gzip, tar+zstd, raw); bit 2 ("wrap") compresses
 * the payload here first, so the fuzzer's tar reaches the tar reader
 * through the decompressor; bit 3 also asks for the diffId; bit 4 keeps
 * owners; bit 5 resolves paths without openat2 (the fallback).  For raw layers
 * the payload is "<raw path>\n<content>".  The expected digests are computed
 * from the blob, so verification passes and the tar reader and the extraction
 * rules are what gets exercised.
 *
 * Properties checked after every input: the sentinel directory beside the
 * cache directory stays empty (nothing escaped), the cache directory holds
 * exactly the layer on success and nothing on failure (no leftover work
 * directory), and the unpacked tree holds no device, FIFO or socket and no
 * setuid/setgid/sticky bit. */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "store/unpack.h"
#include "util/fsutil.h"

static char base[64];
static int parent_fd = -1, sentinel_fd = -1;

static void
setup_once (void)
{
  char path[128];

  if (parent_fd >= 0)
    return;
  /* tmpfs when there is one: directory removal on a disk filesystem
   * dominates the run time otherwise. */
  snprintf (base, sizeof base, "%s/fuzz_unpack.XXXXXX",
            access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  if (mkdtemp (base) == NULL)
    abort ();
  snprintf (path, sizeof path, "%s/cache", base);
  if (mkdir (path, 0755) < 0)
    abort ();
  parent_fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  snprintf (path, sizeof path, "%s/sentinel", base);
  if (mkdir (path, 0755) < 0)
    abort ();
  sentinel_fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent_fd < 0 || sentinel_fd < 0)
    abort ();
}

static void
digest_of (const void *p, size_t len, char *out)
{
  static const char hx[] = "0123456789abcdef";
  unsigned char md[32];

  EVP_Digest (p, len, md, NULL, EVP_sha256 (), NULL);
  strcpy (out, "sha256:");
  for (int i = 0; i < 32; i++)
    {
      out[7 + 2 * i] = hx[md[i] >> 4];
      out[8 + 2 * i] = hx[md[i] & 15];
    }
  out[71] = '\0';
}

/* Names in directory FD (not . and ..), up to MAX copied into NAMES. */
static int
list_dir (int fd, char names[][256], int max)
{
  int d = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir = d >= 0 ? fdopendir (d) : NULL;
  struct dirent *de;
  int n = 0;

  if (dir == NULL)
    abort ();
  while ((de = readdir (dir)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (n < max)
        snprintf (names[n], 256, "%s", de->d_name);
      n++;
    }
  closedir (dir);
  return n;
}

/* Every entry below FD: only files, directories and symlinks, no special
 * mode bits. */
static void
check_tree (int fd)
{
  int d = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir = d >= 0 ? fdopendir (d) : NULL;
  struct dirent *de;

  if (dir == NULL)
    abort ();
  while ((de = readdir (dir)) != NULL)
    {
      struct stat st;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        abort ();
      if (!S_ISREG (st.st_mode) && !S_ISDIR (st.st_mode)
          && !S_ISLNK (st.st_mode))
        {
          fprintf (stderr, "special file %s\n", de->d_name);
          abort ();
        }
      if (!S_ISLNK (st.st_mode) && (st.st_mode & 07000) != 0)
        {
          fprintf (stderr, "mode %o on %s\n", st.st_mode, de->d_name);
          abort ();
        }
      if (S_ISDIR (st.st_mode))
        {
          int sub = openat (dirfd (dir), de->d_name,
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub < 0)
            abort ();
          check_tree (sub);
          close (sub);
        }
    }
  closedir (dir);
}

static size_t
compress_gzip (const uint8_t *in, size_t len, uint8_t **out)
{
  z_stream s = { 0 };
  size_t cap = len + len / 100 + 1024;

  *out = malloc (cap);
  if (*out == NULL
      || deflateInit2 (&s, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY)
             != Z_OK)
    abort ();
  s.next_in = (uint8_t *)in;
  s.avail_in = (uInt)len;
  s.next_out = *out;
  s.avail_out = (uInt)cap;
  if (deflate (&s, Z_FINISH) != Z_STREAM_END)
    abort ();
  deflateEnd (&s);
  return s.total_out;
}

static size_t
compress_zstd (const uint8_t *in, size_t len, uint8_t **out)
{
  size_t cap = ZSTD_compressBound (len), r;

  *out = malloc (cap);
  if (*out == NULL)
    abort ();
  r = ZSTD_compress (*out, cap, in, len, 1);
  if (ZSTD_isError (r))
    abort ();
  return r;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const enum model_unpack_format fmts[]
      = { MODEL_LAYER_TAR, MODEL_LAYER_TAR_GZIP, MODEL_LAYER_TAR_ZSTD,
          MODEL_LAYER_RAW };
  char digest[80], diff_id[80], raw_path[512], names[4][256];
  struct model_unpack_opts o = { 0 };
  struct model_unpack_stats st;
  const uint8_t *blob;
  uint8_t *owned = NULL;
  size_t blob_len;
  mp_error err;
  uint8_t sel;
  int fd, r, n;

  if (size < 1)
    return 0;
  setup_once ();
  sel = data[0];
  data++;
  size--;
  o.format = fmts[sel & 3];
  blob = data;
  blob_len = size;
  if (o.format == MODEL_LAYER_RAW)
    {
      const uint8_t *nl = memchr (data, '\n', size < 400 ? size : 400);
      size_t plen = nl ? (size_t)(nl - data) : 0;
      memcpy (raw_path, data, plen);
      raw_path[plen] = '\0';
      if (memchr (raw_path, '\0', plen) != NULL || plen == 0)
        snprintf (raw_path, sizeof raw_path, "file");
      o.raw_path = raw_path;
      blob = nl ? nl + 1 : data;
      blob_len = size - (size_t)(blob - data);
    }
  else if ((sel & 4) && o.format == MODEL_LAYER_TAR_GZIP)
    blob_len = compress_gzip (data, size, &owned), blob = owned;
  else if ((sel & 4) && o.format == MODEL_LAYER_TAR_ZSTD)
    blob_len = compress_zstd (data, size, &owned), blob = owned;
  digest_of (blob, blob_len, digest);
  o.expected_digest = digest;
  if (sel & 8)
    {
      /* Known only when the uncompressed stream is in hand. */
      if (o.format == MODEL_LAYER_TAR || o.format == MODEL_LAYER_RAW)
        o.expected_diff_id = digest;
      else if (sel & 4)
        {
          digest_of (data, size, diff_id);
          o.expected_diff_id = diff_id;
        }
    }
  o.keep_owners = (sel & 16) != 0;
  model_unpack_no_openat2 = (sel & 32) != 0;
  o.max_total_bytes = 64 << 20;
  o.max_entries = 4096;

  fd = memfd_create ("blob", MFD_CLOEXEC);
  if (fd < 0 || write (fd, blob, blob_len) != (ssize_t)blob_len
      || lseek (fd, 0, SEEK_SET) != 0)
    abort ();
  mp_error_clear (&err);
  r = model_unpack_layer (fd, parent_fd, "layer", &o, &st, &err);
  close (fd);
  free (owned);

  if (list_dir (sentinel_fd, names, 4) != 0)
    {
      fprintf (stderr, "escaped into the sentinel: %s\n", names[0]);
      abort ();
    }
  n = list_dir (parent_fd, names, 4);
  if (r == 0)
    {
      int layer;
      if (n != 1 || strcmp (names[0], "layer") != 0)
        abort ();
      layer = openat (parent_fd, "layer",
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (layer < 0)
        abort ();
      check_tree (layer);
      close (layer);
      if (mp_rmtree_at (parent_fd, "layer", &err) < 0)
        abort ();
    }
  else
    {
      if (n != 0)
        {
          fprintf (stderr, "left behind after \"%s\": %s\n", err.msg, names[0]);
          abort ();
        }
      /* Whatever a blob contains is a bad blob, never an internal error. */
      if (err.code != MP_ERR_INVALID_ARGUMENT)
        {
          fprintf (stderr, "unexpected error class: %s\n", err.msg);
          abort ();
        }
    }
  return 0;
}
