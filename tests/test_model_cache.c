/* Tests for model/cache: OCI layouts are built at run time in a temporary
 * directory (blobs under their sha256 names, tar layers written with
 * libarchive and compressed with zlib/zstd, ModelPack manifests and
 * configs with jansson) and served to the cache through a blob-open
 * callback that counts its calls, so "nothing was read" can be checked. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "store/cache.h"
#include "model/digest.h"
#include "tests/harness.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_EMPTY "application/vnd.oci.empty.v1+json"
#define AT_MODEL "application/vnd.cncf.model.manifest.v1+json"
#define AT_MODEL_LEGACY "application/vnd.cnai.model.manifest.v1+json"
#define MT_CONFIG "application/vnd.cncf.model.config.v1+json"
#define MT_CONFIG_LEGACY "application/vnd.cnai.model.config.v1+json"
#define MT_WEIGHT_RAW "application/vnd.cncf.model.weight.v1.raw"
#define MT_WEIGHT_TAR "application/vnd.cncf.model.weight.v1.tar"
#define MT_CONFIG_RAW "application/vnd.cncf.model.weight.config.v1.raw"
#define MT_DOC_TGZ "application/vnd.cncf.model.doc.v1.tar+gzip"
#define MT_CODE_TZST "application/vnd.cncf.model.code.v1.tar+zstd"
#define K_PATH "org.cncf.model.filepath"
#define K_META "org.cncf.model.file.metadata+json"
#define K_PATH_LEGACY "org.cnai.model.filepath"
#define K_META_LEGACY "org.cnai.model.file.metadata+json"
#define K_TITLE "org.opencontainers.image.title"

/* ---- fixtures ---------------------------------------------------------- */

struct blob
{
  unsigned char *p;
  size_t len;
};

static struct blob
blob_str (const char *s)
{
  struct blob b = { (unsigned char *)strdup (s), strlen (s) };
  return b;
}

static struct blob
blob_pattern (size_t len, unsigned seed)
{
  struct blob b = { malloc (len), len };
  for (size_t i = 0; i < len; i++)
    b.p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 8)) & 0xff);
  return b;
}

static void
blob_free (struct blob *b)
{
  free (b->p);
  b->p = NULL;
  b->len = 0;
}

struct ent
{
  char type; /* f file, d dir, l symlink */
  const char *path;
  const char *data; /* content or link target */
  mode_t mode;
  time_t mtime;
};

static struct blob
tarball (const struct ent *ents, size_t n)
{
  struct blob b = { 0 };
  size_t cap = 4 * 1024 * 1024, used = 0;
  struct archive *a = archive_write_new ();

  b.p = malloc (cap);
  if (b.p == NULL || a == NULL)
    abort ();
  archive_write_set_format_pax_restricted (a);
  if (archive_write_open_memory (a, b.p, cap, &used) != ARCHIVE_OK)
    abort ();
  for (size_t i = 0; i < n; i++)
    {
      struct archive_entry *e = archive_entry_new ();
      const struct ent *x = &ents[i];
      size_t size = x->type == 'f' ? strlen (x->data) : 0;

      archive_entry_set_pathname (e, x->path);
      archive_entry_set_mtime (e, x->mtime ? x->mtime : 1700000000, 0);
      archive_entry_set_uid (e, 1000);
      archive_entry_set_gid (e, 1000);
      archive_entry_set_filetype (e, x->type == 'd'   ? AE_IFDIR
                                     : x->type == 'l' ? AE_IFLNK
                                                      : AE_IFREG);
      archive_entry_set_perm (e, x->mode          ? x->mode
                                 : x->type == 'd' ? 0755
                                                  : 0644);
      if (x->type == 'l')
        archive_entry_set_symlink (e, x->data);
      archive_entry_set_size (e, (la_int64_t)size);
      if (archive_write_header (a, e) != ARCHIVE_OK)
        abort ();
      if (size > 0 && archive_write_data (a, x->data, size) != (ssize_t)size)
        abort ();
      archive_entry_free (e);
    }
  archive_write_close (a);
  archive_write_free (a);
  b.len = used;
  return b;
}

static struct blob
gzip_blob (const struct blob *in)
{
  struct blob b = { malloc (in->len + 1024), 0 };
  z_stream z = { 0 };

  if (deflateInit2 (&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort ();
  z.next_in = in->p;
  z.avail_in = (uInt)in->len;
  z.next_out = b.p;
  z.avail_out = (uInt)(in->len + 1024);
  if (deflate (&z, Z_FINISH) != Z_STREAM_END)
    abort ();
  b.len = z.total_out;
  deflateEnd (&z);
  return b;
}

static struct blob
zstd_blob (const struct blob *in)
{
  size_t cap = ZSTD_compressBound (in->len);
  struct blob b = { malloc (cap), 0 };

  b.len = ZSTD_compress (b.p, cap, in->p, in->len, 3);
  if (ZSTD_isError (b.len))
    abort ();
  return b;
}

static void
digest_of (const struct blob *b, char out[MODEL_DIGEST_MAX + 1])
{
  model_digest d;

  if (model_digest_buffer (MODEL_DIGEST_SHA256, b->p, b->len, &d, NULL) < 0)
    abort ();
  strcpy (out, d.str);
}

/* One test's world: an OCI layout and a cache root under one temp dir. */
static char base[256], layout[300], cache_root[300];
static int opens;

static void
world_new (void)
{
  char blobs[400];

  snprintf (base, sizeof base, "/tmp/mp-cache-test-XXXXXX");
  if (mkdtemp (base) == NULL)
    abort ();
  snprintf (layout, sizeof layout, "%s/layout", base);
  snprintf (cache_root, sizeof cache_root, "%s/cache", base);
  snprintf (blobs, sizeof blobs, "%s/blobs/sha256", layout);
  if (mp_mkdir_p (blobs, 0755, NULL) < 0)
    abort ();
  opens = 0;
  /* Unpack and reuse messages are for operators, not test logs. */
  mp_log_set_level (MP_LOG_WARN);
}

static void
world_free (void)
{
  mp_error e;
  if (getenv ("MP_TEST_KEEP") != NULL)
    return;
  mp_rmtree_at (AT_FDCWD, base, &e);
}

static void
put_bytes (const char *digest, const void *p, size_t len)
{
  char path[600];
  FILE *f;

  snprintf (path, sizeof path, "%s/blobs/sha256/%s", layout,
            strchr (digest, ':') + 1);
  f = fopen (path, "wb");
  if (f == NULL || fwrite (p, 1, len, f) != len || fclose (f) != 0)
    abort ();
}

static void
put_blob (const struct blob *b, char out[MODEL_DIGEST_MAX + 1])
{
  digest_of (b, out);
  put_bytes (out, b->p, b->len);
}

static int
open_blob (void *ctx, const char *digest, int64_t size, bool *verified,
           mp_error *err)
{
  char path[600];
  int fd;

  __atomic_add_fetch (&opens, 1, __ATOMIC_SEQ_CST);
  snprintf (path, sizeof path, "%s/blobs/sha256/%s", (const char *)ctx,
            strchr (digest, ':') + 1);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return mp_error_set (err, MP_ERR_NOT_FOUND, "blob %s not found", digest);
  if (fd < 0)
    return mp_error_sys (err, errno, "open %s", path);
  return fd;
}

/* A layer to put in a manifest. */
struct lay
{
  const char *mt;
  struct blob data;    /* the blob as stored (owned by the caller) */
  struct blob tar;     /* uncompressed tar for the diffId, if compressed */
  const char *diff_id; /* override of the computed diffId */
  const char *path_key, *path;
  const char *meta_key, *meta;
  const char *title;
  int64_t size_override; /* 0: the blob's size */
  bool no_blob;          /* do not store the blob */
};

enum cfg_kind
{
  CFG_MODEL,
  CFG_MODEL_LEGACY,
  CFG_EMPTY,
};

/* Store the layers and a config, write the manifest; its digest in OUT,
 * its size in *SIZE (may be NULL). */
static void
make_manifest (const char *artifact_type, enum cfg_kind ck, struct lay *ls,
               size_t n, char out[MODEL_DIGEST_MAX + 1], size_t *size)
{
  json_t *layers = json_array (), *diffs = json_array (), *m;
  char dg[MODEL_DIGEST_MAX + 1], cdg[MODEL_DIGEST_MAX + 1];
  struct blob cfg, mb;
  const char *cmt;
  char *text;

  for (size_t i = 0; i < n; i++)
    {
      struct lay *l = &ls[i];
      json_t *d, *ann = json_object ();
      char diff[MODEL_DIGEST_MAX + 1];

      digest_of (&l->data, dg);
      if (!l->no_blob)
        put_bytes (dg, l->data.p, l->data.len);
      if (l->diff_id != NULL)
        snprintf (diff, sizeof diff, "%s", l->diff_id);
      else if (l->tar.p != NULL)
        digest_of (&l->tar, diff);
      else
        snprintf (diff, sizeof diff, "%s", dg);
      json_array_append_new (diffs, json_string (diff));
      d = json_pack ("{s:s,s:s,s:I}", "mediaType", l->mt, "digest", dg, "size",
                     (json_int_t)(l->size_override ? l->size_override
                                                   : (int64_t)l->data.len));
      if (l->path_key != NULL)
        json_object_set_new (ann, l->path_key, json_string (l->path));
      if (l->meta_key != NULL)
        json_object_set_new (ann, l->meta_key, json_string (l->meta));
      if (l->title != NULL)
        json_object_set_new (ann, K_TITLE, json_string (l->title));
      json_object_set_new (d, "annotations", ann);
      json_array_append_new (layers, d);
    }
  if (ck == CFG_EMPTY)
    {
      cfg = blob_str ("{}");
      cmt = MT_EMPTY;
      json_decref (diffs);
    }
  else
    {
      json_t *c = json_pack ("{s:{},s:{},s:{s:s,s:o}}", "descriptor", "config",
                             "modelfs", "type", "layers",
                             ck == CFG_MODEL ? "diffIds" : "diff_ids", diffs);
      text = json_dumps (c, JSON_COMPACT);
      cfg = blob_str (text);
      free (text);
      json_decref (c);
      cmt = ck == CFG_MODEL ? MT_CONFIG : MT_CONFIG_LEGACY;
    }
  put_blob (&cfg, cdg);
  m = json_pack ("{s:i,s:s,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2,
                 "mediaType", MT_MANIFEST, "artifactType", artifact_type,
                 "config", "mediaType", cmt, "digest", cdg, "size",
                 (json_int_t)cfg.len, "layers", layers);
  text = json_dumps (m, JSON_COMPACT);
  mb = blob_str (text);
  put_blob (&mb, out);
  if (size != NULL)
    *size = mb.len;
  free (text);
  json_decref (m);
  blob_free (&cfg);
  blob_free (&mb);
}

static void
make_index (const char *manifest, size_t size, const char *artifact_type,
            char out[MODEL_DIGEST_MAX + 1])
{
  json_t *idx = json_pack ("{s:i,s:s,s:[{s:s,s:s,s:I,s:s}]}", "schemaVersion",
                           2, "mediaType", MT_INDEX, "manifests", "mediaType",
                           MT_MANIFEST, "digest", manifest, "size",
                           (json_int_t)size, "artifactType", artifact_type);
  char *text = json_dumps (idx, JSON_COMPACT);
  struct blob b = blob_str (text);

  put_blob (&b, out);
  blob_free (&b);
  free (text);
  json_decref (idx);
}

static model_cache *
cache_open (int64_t keep_seconds, int64_t keep_bytes)
{
  struct model_cache_options o = { .root = cache_root,
                                   .mount = MODEL_CACHE_MOUNT_EXTRACT,
                                   .keep_unused_seconds = keep_seconds,
                                   .keep_unused_bytes = keep_bytes };
  mp_error err = { 0 };
  model_cache *c = model_cache_open (&o, &err);

  if (c == NULL)
    fprintf (stderr, "model_cache_open: %s\n", err.msg);
  return c;
}

/* get_manifest_tree, printing the error for the test log. */
static int
get (model_cache *c, const char *digest, char **tree, char **resolved,
     struct model_cache_stats *st, mp_error *err)
{
  int r;

  mp_error_clear (err);
  *tree = *resolved = NULL;
  r = model_cache_get_manifest_tree (c, digest, open_blob, layout, tree,
                                     resolved, st, err);
  if (r < 0)
    fprintf (stderr, "  (get %s: %s: %s)\n", digest,
             mp_errcode_name (err->code), err->msg);
  return r;
}

static char *
slurp (const char *dir, const char *name)
{
  char path[1024];
  static char buf[1 << 17];
  FILE *f;
  size_t n;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  f = fopen (path, "rb");
  if (f == NULL)
    return NULL;
  n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  return buf;
}

static bool
lstat_at (const char *dir, const char *name, struct stat *st)
{
  char path[1024];

  snprintf (path, sizeof path, "%s/%s", dir, name);
  return lstat (path, st) == 0;
}

/* Entries in DIR (not . and ..), or -1 if it cannot be read. */
static int
count_entries (const char *dir)
{
  DIR *d = opendir (dir);
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

static int
count_sub (const char *sub)
{
  char path[600];

  snprintf (path, sizeof path, "%s/%s", cache_root, sub);
  return count_entries (path);
}

/* tmp/ holds only the open cache's own (empty) work directory. */
static bool
tmp_is_clean (void)
{
  char path[600];
  DIR *d;
  struct dirent *de;
  int dirs = 0, nonempty = 0;

  snprintf (path, sizeof path, "%s/tmp", cache_root);
  d = opendir (path);
  if (d == NULL)
    return false;
  while ((de = readdir (d)) != NULL)
    {
      char sub[1024];
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      dirs++;
      snprintf (sub, sizeof sub, "%s/%s", path, de->d_name);
      if (count_entries (sub) != 0)
        nonempty++;
    }
  closedir (d);
  return dirs <= 1 && nonempty == 0;
}

static const char *
hex_of (const char *digest)
{
  return strchr (digest, ':') + 1;
}

static void
set_last_use (const char *manifest, time_t when)
{
  char path[600];
  struct timespec ts[2] = { { when, 0 }, { when, 0 } };

  snprintf (path, sizeof path, "%s/trees/%s.layers", cache_root,
            hex_of (manifest));
  if (utimensat (AT_FDCWD, path, ts, 0) < 0)
    abort ();
}

static bool
tree_exists (const char *manifest)
{
  char path[600];
  struct stat st;

  snprintf (path, sizeof path, "%s/trees/%s", cache_root, hex_of (manifest));
  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

/* Two raw layers, one file each, as modctl writes them. */
static void
raw_model (const char *a, const char *b, const char *a_path, const char *b_path,
           char out[MODEL_DIGEST_MAX + 1])
{
  struct lay ls[2] = {
    { .mt = MT_WEIGHT_RAW,
      .data = blob_str (a),
      .path_key = K_PATH,
      .path = a_path,
      .meta_key = K_META,
      .meta = "{\"name\":\"w\",\"mode\":384,\"uid\":1234,\"gid\":5678,"
              "\"mtime\":\"2024-01-02T03:04:05Z\",\"typeflag\":0}" },
    { .mt = MT_CONFIG_RAW,
      .data = blob_str (b),
      .path_key = K_PATH,
      .path = b_path,
      .meta_key = K_META,
      .meta = "{\"name\":\"c\",\"mode\":438,"
              "\"mtime\":\"2023-05-06T07:08:09.5Z\",\"typeflag\":0}" },
  };

  make_manifest (AT_MODEL, CFG_MODEL, ls, 2, out, NULL);
  blob_free (&ls[0].data);
  blob_free (&ls[1].data);
}

/* ---- tests ------------------------------------------------------------- */

/* max_model_entries counts every layer's entries, reused ones too. */
TEST (model_entries_bounded)
{
  char m[MODEL_DIGEST_MAX + 1];
  cleanup_free char *tree = NULL, *resolved = NULL;
  struct model_cache_options o
      = { .root = cache_root, .mount = MODEL_CACHE_MOUNT_EXTRACT };
  mp_error err;
  model_cache *c;

  world_new ();
  raw_model ("weights!", "{\"k\":1}", "model.safetensors", "config.json", m);
  o.limits.max_model_entries = 1;
  c = model_cache_open (&o, &err);
  REQUIRE (c != NULL);
  CHECK (get (c, m, &tree, &resolved, NULL, &err) < 0);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, "max_model_entries") != NULL);
  CHECK (count_sub ("trees") == 0);
  model_cache_close (c);
  o.limits.max_model_entries = 2;
  c = model_cache_open (&o, &err);
  REQUIRE (c != NULL);
  CHECK (get (c, m, &tree, &resolved, NULL, &err) == 0);
  model_cache_close (c);
  world_free ();
}

TEST (raw_layers_get_path_and_metadata)
{
  char m[MODEL_DIGEST_MAX + 1], want[700];
  struct model_cache_stats st;
  cleanup_free char *tree = NULL, *resolved = NULL;
  mp_error err;
  struct stat s;
  model_cache *c;

  world_new ();
  raw_model ("weights!", "{\"k\":1}", "model.safetensors", "conf/config.json",
             m);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, m, &tree, &resolved, &st, &err) == 0);
  snprintf (want, sizeof want, "%s/trees/%s", cache_root, hex_of (m));
  CHECK_STR (tree, want);
  CHECK_STR (resolved, m);
  CHECK (st.layers_unpacked == 2 && st.trees_built == 1);
  CHECK (st.bytes_unpacked == 8 + 7);
  CHECK_STR (slurp (tree, "model.safetensors"), "weights!");
  CHECK_STR (slurp (tree, "conf/config.json"), "{\"k\":1}");
  REQUIRE (lstat_at (tree, "model.safetensors", &s));
  CHECK ((s.st_mode & 07777) == 0600);
  CHECK (s.st_mtim.tv_sec == 1704164645 && s.st_mtim.tv_nsec == 0);
  if (geteuid () == 0)
    CHECK (s.st_uid == 0 && s.st_gid == 0); /* the cache's, not the layer's */
  /* The layer says 0666: nobody but root may write what pods see. */
  REQUIRE (lstat_at (tree, "conf/config.json", &s));
  CHECK ((s.st_mode & 07777) == 0644);
  CHECK (s.st_mtim.tv_sec == 1683356889 && s.st_mtim.tv_nsec == 500000000);
  REQUIRE (lstat_at (tree, "", &s));
  CHECK ((s.st_mode & 07777) == 0755);
  /* Only the model's files are in the mounted tree: bookkeeping is
   * beside it. */
  CHECK (count_entries (tree) == 2);
  CHECK (tmp_is_clean ());
  model_cache_close (c);
  CHECK (count_sub ("tmp") == 0);
  world_free ();
}

TEST (tar_gzip_zstd_and_nested_dirs)
{
  const struct ent t1[] = {
    { 'd', "a", NULL, 0750, 1600000000 },
    { 'd', "a/b", NULL, 0700, 1600000001 },
    { 'f', "a/b/deep.txt", "deep", 0640, 1600000002 },
    { 'f', "top.txt", "top", 0644, 0 },
  };
  const struct ent t2[] = {
    { 'f', "gz/one.txt", "one", 0644, 0 },
    { 'l', "gz/link", "one.txt", 0777, 0 },
  };
  const struct ent t3[] = {
    { 'f', "zst/two.bin", "two", 0600, 0 },
  };
  struct lay ls[4] = {
    { .mt = MT_WEIGHT_TAR, .data = tarball (t1, 4) },
    { .mt = MT_DOC_TGZ, .tar = tarball (t2, 2) },
    { .mt = MT_CODE_TZST, .tar = tarball (t3, 1) },
    /* Its parent "a" is implied: the tar layer's mode and time for "a"
     * must survive it. */
    { .mt = MT_WEIGHT_RAW,
      .data = blob_str ("raw in a"),
      .path_key = K_PATH,
      .path = "a/raw.txt" },
  };
  char m[MODEL_DIGEST_MAX + 1], link[64];
  cleanup_free char *tree = NULL, *resolved = NULL;
  struct model_cache_stats st;
  mp_error err;
  struct stat s;
  model_cache *c;
  ssize_t n;

  world_new ();
  ls[1].data = gzip_blob (&ls[1].tar);
  ls[2].data = zstd_blob (&ls[2].tar);
  make_manifest (AT_MODEL, CFG_MODEL, ls, 4, m, NULL);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, m, &tree, &resolved, &st, &err) == 0);
  CHECK (st.layers_unpacked == 4);
  CHECK_STR (slurp (tree, "a/raw.txt"), "raw in a");
  CHECK_STR (slurp (tree, "a/b/deep.txt"), "deep");
  CHECK_STR (slurp (tree, "top.txt"), "top");
  CHECK_STR (slurp (tree, "gz/one.txt"), "one");
  CHECK_STR (slurp (tree, "zst/two.bin"), "two");
  REQUIRE (lstat_at (tree, "a", &s));
  CHECK (S_ISDIR (s.st_mode) && (s.st_mode & 07777) == 0750);
  CHECK (s.st_mtim.tv_sec == 1600000000);
  REQUIRE (lstat_at (tree, "a/b", &s));
  CHECK ((s.st_mode & 07777) == 0700 && s.st_mtim.tv_sec == 1600000001);
  REQUIRE (lstat_at (tree, "a/b/deep.txt", &s));
  CHECK ((s.st_mode & 07777) == 0640 && s.st_mtim.tv_sec == 1600000002);
  if (geteuid () == 0)
    CHECK (s.st_uid == 0); /* the cache's, not the tar's 1000 */
  REQUIRE (lstat_at (tree, "gz/link", &s));
  CHECK (S_ISLNK (s.st_mode));
  n = readlink (strcat (strcpy ((char[700]){ 0 }, tree), "/gz/link"), link,
                sizeof link - 1);
  REQUIRE (n > 0);
  link[n] = '\0';
  CHECK_STR (link, "one.txt");
  model_cache_close (c);
  for (int i = 0; i < 4; i++)
    {
      blob_free (&ls[i].data);
      blob_free (&ls[i].tar);
    }
  world_free ();
}

TEST (later_layer_wins)
{
  const struct ent t1[] = {
    { 'f', "x", "one", 0644, 0 },      { 'd', "d", NULL, 0755, 0 },
    { 'f', "d/f", "in dir", 0644, 0 }, { 'f', "keep", "k", 0644, 0 },
    { 'f', "y", "a file", 0644, 0 },
  };
  const struct ent t3[] = {
    { 'f', "d", "now a file", 0644, 0 },
    { 'd', "y", NULL, 0711, 1650000000 },
    { 'f', "y/z", "zz", 0644, 0 },
  };
  struct lay ls[3] = {
    { .mt = MT_WEIGHT_TAR, .data = tarball (t1, 5) },
    { .mt = MT_WEIGHT_RAW,
      .data = blob_str ("two"),
      .path_key = K_PATH,
      .path = "x" },
    { .mt = MT_WEIGHT_TAR, .data = tarball (t3, 3) },
  };
  char m[MODEL_DIGEST_MAX + 1];
  cleanup_free char *tree = NULL, *resolved = NULL;
  mp_error err;
  struct stat s;
  model_cache *c;

  world_new ();
  make_manifest (AT_MODEL, CFG_MODEL, ls, 3, m, NULL);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, m, &tree, &resolved, NULL, &err) == 0);
  CHECK_STR (slurp (tree, "x"), "two");
  CHECK_STR (slurp (tree, "d"), "now a file");
  CHECK_STR (slurp (tree, "keep"), "k");
  REQUIRE (lstat_at (tree, "d", &s));
  CHECK (S_ISREG (s.st_mode));
  REQUIRE (lstat_at (tree, "y", &s));
  CHECK (S_ISDIR (s.st_mode) && (s.st_mode & 07777) == 0711);
  CHECK (s.st_mtim.tv_sec == 1650000000);
  CHECK_STR (slurp (tree, "y/z"), "zz");
  /* The layers themselves are untouched by the merge. */
  {
    char path[700];
    snprintf (path, sizeof path, "%s/layers", cache_root);
    CHECK (count_entries (path) == 3);
  }
  model_cache_close (c);
  for (int i = 0; i < 3; i++)
    blob_free (&ls[i].data);
  world_free ();
}

TEST (legacy_cnai_artifact)
{
  const struct ent t[] = { { 'f', "README.md", "# hi", 0644, 0 } };
  struct lay ls[2] = {
    { .mt = "application/vnd.cnai.model.weight.v1.raw",
      .data = blob_str ("old weights"),
      .path_key = K_PATH_LEGACY,
      .path = "w/old.bin",
      .meta_key = K_META_LEGACY,
      .meta = "{\"name\":\"old.bin\",\"mode\":416,"
              "\"mtime\":\"2022-01-01T00:00:00Z\",\"typeflag\":48}" },
    { .mt = "application/vnd.cnai.model.doc.v1.tar",
      .data = tarball (t, 1),
      .path_key = K_PATH_LEGACY,
      .path = "README.md" },
  };
  char m[MODEL_DIGEST_MAX + 1];
  cleanup_free char *tree = NULL, *resolved = NULL;
  mp_error err;
  struct stat s;
  model_cache *c;

  world_new ();
  make_manifest (AT_MODEL_LEGACY, CFG_MODEL_LEGACY, ls, 2, m, NULL);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, m, &tree, &resolved, NULL, &err) == 0);
  CHECK_STR (slurp (tree, "w/old.bin"), "old weights");
  CHECK_STR (slurp (tree, "README.md"), "# hi");
  REQUIRE (lstat_at (tree, "w/old.bin", &s));
  CHECK ((s.st_mode & 07777) == 0640 && s.st_mtim.tv_sec == 1640995200);
  model_cache_close (c);
  blob_free (&ls[0].data);
  blob_free (&ls[1].data);
  world_free ();
}

/* oras push --artifact-type ... hello.txt weights.bin: files with titles,
 * the OCI tar layer type by default or a type given on the command line. */
static void
oras_artifact (char m[MODEL_DIGEST_MAX + 1], size_t *size)
{
  struct lay ls[2] = {
    { .mt = "application/vnd.oci.image.layer.v1.tar",
      .data = blob_str ("hello\n"),
      .title = "hello.txt" },
    { .mt = "application/vnd.example.weights",
      .data = blob_str ("WEIGHTS"),
      .title = "w/weights.bin" },
  };

  make_manifest ("application/vnd.example.model", CFG_EMPTY, ls, 2, m, size);
  blob_free (&ls[0].data);
  blob_free (&ls[1].data);
}

TEST (oras_generic_artifact)
{
  char m[MODEL_DIGEST_MAX + 1], bad[MODEL_DIGEST_MAX + 1];
  cleanup_free char *tree = NULL, *resolved = NULL;
  mp_error err;
  struct stat s;
  model_cache *c;
  struct lay untitled[1] = {
    { .mt = "application/vnd.example.blob", .data = blob_str ("x") },
  };

  world_new ();
  oras_artifact (m, NULL);
  make_manifest ("application/vnd.example.model", CFG_EMPTY, untitled, 1, bad,
                 NULL);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, m, &tree, &resolved, NULL, &err) == 0);
  CHECK_STR (slurp (tree, "hello.txt"), "hello\n");
  CHECK_STR (slurp (tree, "w/weights.bin"), "WEIGHTS");
  REQUIRE (lstat_at (tree, "hello.txt", &s));
  CHECK ((s.st_mode & 07777) == 0644);
  free (tree);
  free (resolved);

  CHECK (get (c, bad, &tree, &resolved, NULL, &err) < 0);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, "layers[0]") != NULL);
  CHECK (strstr (err.msg, "application/vnd.example.blob") != NULL);
  CHECK (strstr (err.msg, "title") != NULL);
  CHECK (tree == NULL && !tree_exists (bad));
  model_cache_close (c);
  blob_free (&untitled[0].data);
  world_free ();
}

TEST (index_resolves_to_artifact)
{
  char m[MODEL_DIGEST_MAX + 1], idx[MODEL_DIGEST_MAX + 1], want[700];
  cleanup_free char *tree = NULL, *resolved = NULL, *tree2 = NULL,
                    *resolved2 = NULL;
  struct model_cache_stats st;
  const char *in_use[1];
  mp_error err;
  size_t size;
  model_cache *c;
  int before;

  world_new ();
  oras_artifact (m, &size);
  make_index (m, size, "application/vnd.example.model", idx);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, idx, &tree, &resolved, &st, &err) == 0);
  CHECK_STR (resolved, m);
  snprintf (want, sizeof want, "%s/trees/%s", cache_root, hex_of (m));
  CHECK_STR (tree, want);
  CHECK (st.trees_built == 1 && st.layers_unpacked == 2);
  CHECK_STR (slurp (tree, "hello.txt"), "hello\n");

  /* Again by the index: nothing read, the recorded resolution is used. */
  before = opens;
  REQUIRE (get (c, idx, &tree2, &resolved2, &st, &err) == 0);
  CHECK (opens == before);
  CHECK_STR (tree2, tree);
  CHECK_STR (resolved2, m);
  CHECK (st.trees_reused == 1 && st.layers_unpacked == 0);
  CHECK (model_cache_touch (c, idx, &err) == 0);

  /* A snapshot known by its index digest keeps the tree. */
  in_use[0] = idx;
  CHECK (model_cache_gc (c, in_use, 1, NULL, &err) == 0);
  CHECK (tree_exists (m));
  CHECK (model_cache_gc (c, NULL, 0, NULL, &err) == 0);
  CHECK (!tree_exists (m));
  CHECK (count_sub ("trees") == 0 && count_sub ("layers") == 0);
  model_cache_close (c);
  world_free ();
}

TEST (second_get_does_no_unpacking)
{
  char m[MODEL_DIGEST_MAX + 1];
  cleanup_free char *t1 = NULL, *r1 = NULL, *t2 = NULL, *r2 = NULL;
  struct model_cache_stats st, total;
  mp_error err;
  model_cache *c;
  int before;

  world_new ();
  raw_model ("w1", "c1", "w", "c", m);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, m, &t1, &r1, &st, &err) == 0);
  before = opens;
  REQUIRE (get (c, m, &t2, &r2, &st, &err) == 0);
  CHECK_STR (t1, t2);
  CHECK (opens == before);
  CHECK (st.layers_unpacked == 0 && st.trees_built == 0
         && st.trees_reused == 1);
  model_cache_get_counters (c, &total);
  CHECK (total.layers_unpacked == 2 && total.trees_built == 1
         && total.trees_reused == 1);
  model_cache_close (c);

  /* A new cache over the same root (daemon restart) reuses it too. */
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  free (t2);
  free (r2);
  REQUIRE (get (c, m, &t2, &r2, &st, &err) == 0);
  CHECK (st.trees_reused == 1 && st.layers_unpacked == 0);
  model_cache_close (c);
  world_free ();
}

TEST (shared_layer_is_one_inode)
{
  char a[MODEL_DIGEST_MAX + 1], b[MODEL_DIGEST_MAX + 1];
  cleanup_free char *ta = NULL, *ra = NULL, *tb = NULL, *rb = NULL;
  struct model_cache_stats st;
  struct stat sa, sb;
  mp_error err;
  model_cache *c;

  world_new ();
  raw_model ("shared weights", "config A", "shared.bin", "a.json", a);
  raw_model ("shared weights", "config B", "shared.bin", "b.json", b);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, a, &ta, &ra, &st, &err) == 0);
  REQUIRE (get (c, b, &tb, &rb, &st, &err) == 0);
  CHECK (st.layers_unpacked == 1 && st.layers_reused == 1
         && st.trees_built == 1);
  REQUIRE (lstat_at (ta, "shared.bin", &sa));
  REQUIRE (lstat_at (tb, "shared.bin", &sb));
  CHECK (sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev);
  CHECK (sa.st_nlink >= 3);
  CHECK_STR (slurp (tb, "b.json"), "config B");
  model_cache_close (c);
  world_free ();
}

TEST (corrupt_blob_leaves_nothing)
{
  char m[MODEL_DIGEST_MAX + 1], m2[MODEL_DIGEST_MAX + 1];
  char dg[MODEL_DIGEST_MAX + 1], path[700];
  const struct ent t[] = { { 'f', "f", "good", 0644, 0 } };
  struct lay ls[2] = {
    { .mt = MT_WEIGHT_TAR, .data = tarball (t, 1) },
    { .mt = MT_WEIGHT_RAW,
      .data = blob_str ("fine"),
      .path_key = K_PATH,
      .path = "fine" },
  };
  struct lay swapped[2];
  cleanup_free char *tree = NULL, *resolved = NULL;
  mp_error err;
  model_cache *c;
  FILE *f;

  world_new ();
  make_manifest (AT_MODEL, CFG_MODEL, ls, 2, m, NULL);
  swapped[0] = ls[1];
  swapped[1] = ls[0];
  make_manifest (AT_MODEL, CFG_MODEL, swapped, 2, m2, NULL);
  /* Same size, different bytes under the tar layer's name. */
  digest_of (&ls[0].data, dg);
  ls[0].data.p[600] ^= 1;
  put_bytes (dg, ls[0].data.p, ls[0].data.len);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  CHECK (get (c, m, &tree, &resolved, NULL, &err) < 0);
  CHECK (err.code == MP_ERR_DATA_LOSS);
  CHECK (strstr (err.msg, "digest mismatch") != NULL);
  CHECK (strstr (err.msg, dg) != NULL);
  CHECK (tree == NULL && !tree_exists (m));
  CHECK (count_sub ("trees") == 0 && count_sub ("layers") == 0);
  CHECK (tmp_is_clean ());

  /* After a good layer: that one stays, verified, for reuse; the corrupt
   * one left nothing; gc removes the unused one. */
  CHECK (get (c, m2, &tree, &resolved, NULL, &err) < 0);
  CHECK (strstr (err.msg, "digest mismatch") != NULL);
  CHECK (count_sub ("trees") == 0 && count_sub ("layers") == 1);
  snprintf (path, sizeof path, "%s/layers/%s", cache_root, hex_of (dg));
  CHECK (access (path, F_OK) != 0);
  CHECK (tmp_is_clean ());
  CHECK (model_cache_gc (c, NULL, 0, NULL, &err) == 0);
  CHECK (count_sub ("layers") == 0);

  /* A corrupt manifest is refused before anything is parsed. */
  snprintf (path, sizeof path, "%s/blobs/sha256/%s", layout, hex_of (m));
  f = fopen (path, "ab");
  REQUIRE (f != NULL);
  fputs (" ", f);
  fclose (f);
  CHECK (get (c, m, &tree, &resolved, NULL, &err) < 0);
  CHECK (strstr (err.msg, "digest mismatch") != NULL);
  CHECK (count_sub ("layers") == 0 && count_sub ("trees") == 0);
  model_cache_close (c);
  CHECK (count_sub ("tmp") == 0);
  blob_free (&ls[0].data);
  blob_free (&ls[1].data);
  world_free ();
}

TEST (diff_id_mismatch)
{
  const struct ent t[] = { { 'f', "f", "data", 0644, 0 } };
  struct lay ls[1] = {
    { .mt = MT_DOC_TGZ,
      .tar = tarball (t, 1),
      .diff_id = "sha256:"
                 "0000000000000000000000000000000000000000000000000000000000"
                 "000000" },
  };
  char m[MODEL_DIGEST_MAX + 1];
  cleanup_free char *tree = NULL, *resolved = NULL;
  mp_error err;
  model_cache *c;

  world_new ();
  ls[0].data = gzip_blob (&ls[0].tar);
  make_manifest (AT_MODEL, CFG_MODEL, ls, 1, m, NULL);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  CHECK (get (c, m, &tree, &resolved, NULL, &err) < 0);
  CHECK (err.code == MP_ERR_DATA_LOSS);
  CHECK (strstr (err.msg, "diffId") != NULL);
  CHECK (count_sub ("layers") == 0 && count_sub ("trees") == 0);
  CHECK (tmp_is_clean ());
  model_cache_close (c);
  blob_free (&ls[0].data);
  blob_free (&ls[0].tar);
  world_free ();
}

TEST (unknown_layer_type_is_named)
{
  struct lay ls[2] = {
    { .mt = MT_WEIGHT_RAW,
      .data = blob_str ("ok"),
      .path_key = K_PATH,
      .path = "ok" },
    { .mt = "application/vnd.cncf.model.weight.v1.tar+bzip2",
      .data = blob_str ("BZh"),
      .path_key = K_PATH,
      .path = "w" },
  };
  char m[MODEL_DIGEST_MAX + 1];
  cleanup_free char *tree = NULL, *resolved = NULL;
  mp_error err;
  model_cache *c;

  world_new ();
  make_manifest (AT_MODEL, CFG_MODEL, ls, 2, m, NULL);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  CHECK (get (c, m, &tree, &resolved, NULL, &err) < 0);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, "application/vnd.cncf.model.weight.v1.tar+bzip2")
         != NULL);
  CHECK (strstr (err.msg, "layers[1]") != NULL);
  /* Refused before any layer was unpacked. */
  CHECK (count_sub ("layers") == 0 && count_sub ("trees") == 0);
  model_cache_close (c);
  blob_free (&ls[0].data);
  blob_free (&ls[1].data);
  world_free ();
}

TEST (missing_blob_and_no_space)
{
  struct lay ls[1] = {
    { .mt = MT_WEIGHT_RAW,
      .data = blob_str ("absent"),
      .path_key = K_PATH,
      .path = "absent",
      .no_blob = true },
  };
  struct lay huge[1] = {
    { .mt = MT_WEIGHT_RAW,
      .data = blob_str ("huge"),
      .path_key = K_PATH,
      .path = "huge",
      .size_override = INT64_C (1) << 60 },
  };
  char m[MODEL_DIGEST_MAX + 1], h[MODEL_DIGEST_MAX + 1];
  cleanup_free char *tree = NULL, *resolved = NULL;
  mp_error err;
  model_cache *c;
  int before;

  world_new ();
  make_manifest (AT_MODEL, CFG_MODEL, ls, 1, m, NULL);
  make_manifest (AT_MODEL, CFG_MODEL, huge, 1, h, NULL);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  CHECK (get (c, m, &tree, &resolved, NULL, &err) < 0);
  CHECK (err.code == MP_ERR_NOT_FOUND);
  CHECK (strstr (err.msg, "layers[0]") != NULL);

  before = opens;
  CHECK (get (c, h, &tree, &resolved, NULL, &err) < 0);
  CHECK (err.code == MP_ERR_FAILED_PRECONDITION);
  CHECK (strstr (err.msg, "disk space") != NULL);
  /* Manifest and config were read; the layer blob never was. */
  CHECK (opens == before + 2);
  CHECK (count_sub ("layers") == 0 && count_sub ("trees") == 0);
  CHECK (tmp_is_clean ());

  CHECK (model_cache_touch (c, m, &err) < 0 && err.code == MP_ERR_NOT_FOUND);
  CHECK (get (c, "sha256:abc", &tree, &resolved, NULL, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  model_cache_close (c);
  blob_free (&ls[0].data);
  blob_free (&huge[0].data);
  world_free ();
}

struct worker
{
  model_cache *c;
  const char *digest;
  pthread_barrier_t *start;
  char *tree;
  int rc;
};

static void *
worker_main (void *p)
{
  struct worker *w = p;
  char *resolved = NULL;
  mp_error err;

  pthread_barrier_wait (w->start);
  w->rc = model_cache_get_manifest_tree (w->c, w->digest, open_blob, layout,
                                         &w->tree, &resolved, NULL, &err);
  free (resolved);
  return NULL;
}

TEST (concurrent_gets_unpack_once)
{
  const struct ent t[] = { { 'f', "big/t.bin", "tar content", 0644, 0 } };
  struct lay ls[3] = {
    { .mt = MT_WEIGHT_RAW,
      .data = blob_pattern (4 << 20, 1),
      .path_key = K_PATH,
      .path = "w1" },
    { .mt = MT_WEIGHT_RAW,
      .data = blob_pattern (2 << 20, 2),
      .path_key = K_PATH,
      .path = "w2" },
    { .mt = MT_CODE_TZST, .tar = tarball (t, 1) },
  };
  char m[MODEL_DIGEST_MAX + 1];
  struct worker w[4];
  pthread_t th[4];
  pthread_barrier_t start;
  struct model_cache_stats total;
  model_cache *c;

  world_new ();
  ls[2].data = zstd_blob (&ls[2].tar);
  make_manifest (AT_MODEL, CFG_MODEL, ls, 3, m, NULL);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  pthread_barrier_init (&start, NULL, 4);
  for (int i = 0; i < 4; i++)
    {
      w[i] = (struct worker){ .c = c, .digest = m, .start = &start };
      pthread_create (&th[i], NULL, worker_main, &w[i]);
    }
  for (int i = 0; i < 4; i++)
    pthread_join (th[i], NULL);
  pthread_barrier_destroy (&start);
  for (int i = 0; i < 4; i++)
    {
      CHECK (w[i].rc == 0);
      CHECK_STR (w[i].tree, w[0].tree);
    }
  model_cache_get_counters (c, &total);
  CHECK (total.layers_unpacked == 3);
  CHECK (total.trees_built == 1 && total.trees_reused == 3);
  CHECK_STR (slurp (w[0].tree, "big/t.bin"), "tar content");
  for (int i = 0; i < 4; i++)
    free (w[i].tree);
  model_cache_close (c);
  for (int i = 0; i < 3; i++)
    {
      blob_free (&ls[i].data);
      blob_free (&ls[i].tar);
    }
  world_free ();
}

/* Two caches on one root stand for two processes (daemon and CLI): no
 * shared flight table, so both build, and the loser of each rename uses
 * the winner's copy. */
TEST (two_caches_race_on_one_root)
{
  struct lay ls[2] = {
    { .mt = MT_WEIGHT_RAW,
      .data = blob_pattern (8 << 20, 5),
      .path_key = K_PATH,
      .path = "w" },
    { .mt = MT_WEIGHT_RAW,
      .data = blob_pattern (1 << 20, 6),
      .path_key = K_PATH,
      .path = "sub/v" },
  };
  char m[MODEL_DIGEST_MAX + 1];
  struct worker w[2];
  pthread_t th[2];
  pthread_barrier_t start;
  model_cache *c[2];

  world_new ();
  make_manifest (AT_MODEL, CFG_MODEL, ls, 2, m, NULL);
  c[0] = cache_open (0, 0);
  c[1] = cache_open (0, 0);
  REQUIRE (c[0] != NULL && c[1] != NULL);
  pthread_barrier_init (&start, NULL, 2);
  for (int i = 0; i < 2; i++)
    {
      w[i] = (struct worker){ .c = c[i], .digest = m, .start = &start };
      pthread_create (&th[i], NULL, worker_main, &w[i]);
    }
  for (int i = 0; i < 2; i++)
    pthread_join (th[i], NULL);
  pthread_barrier_destroy (&start);
  CHECK (w[0].rc == 0 && w[1].rc == 0);
  CHECK_STR (w[0].tree, w[1].tree);
  CHECK (count_sub ("layers") == 2);
  CHECK (count_sub ("trees") == 2);
  CHECK (count_entries (w[0].tree) == 2);
  for (int i = 0; i < 2; i++)
    {
      free (w[i].tree);
      model_cache_close (c[i]);
    }
  CHECK (count_sub ("tmp") == 0);
  blob_free (&ls[0].data);
  blob_free (&ls[1].data);
  world_free ();
}

/* Two models sharing their weights; B also has 64 KiB of its own. */
static void
two_models (char a[MODEL_DIGEST_MAX + 1], char b[MODEL_DIGEST_MAX + 1])
{
  struct lay la[1] = {
    { .mt = MT_WEIGHT_RAW,
      .data = blob_pattern (64 * 1024, 3),
      .path_key = K_PATH,
      .path = "shared.bin" },
  };
  struct lay lb[2] = {
    { .mt = MT_WEIGHT_RAW,
      .data = blob_pattern (64 * 1024, 3),
      .path_key = K_PATH,
      .path = "shared.bin" },
    { .mt = MT_WEIGHT_RAW,
      .data = blob_pattern (64 * 1024, 4),
      .path_key = K_PATH,
      .path = "only-b.bin" },
  };

  make_manifest (AT_MODEL, CFG_MODEL, la, 1, a, NULL);
  make_manifest (AT_MODEL, CFG_MODEL, lb, 2, b, NULL);
  blob_free (&la[0].data);
  blob_free (&lb[0].data);
  blob_free (&lb[1].data);
}

TEST (gc_removes_unused_keeps_in_use)
{
  char a[MODEL_DIGEST_MAX + 1], b[MODEL_DIGEST_MAX + 1];
  cleanup_free char *ta = NULL, *ra = NULL, *tb = NULL, *rb = NULL;
  const char *in_use[1];
  int64_t freed = -1;
  mp_error err;
  model_cache *c;

  world_new ();
  two_models (a, b);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, a, &ta, &ra, NULL, &err) == 0);
  REQUIRE (get (c, b, &tb, &rb, NULL, &err) == 0);
  CHECK (count_sub ("layers") == 2);
  in_use[0] = a;
  CHECK (model_cache_gc (c, in_use, 1, &freed, &err) == 0);
  CHECK (tree_exists (a) && !tree_exists (b));
  CHECK (count_sub ("layers") == 1);
  CHECK (count_sub ("trees") == 2); /* a's tree and its record */
  /* B's own 64 KiB went with its last link; the shared file stays. */
  CHECK (freed >= 64 * 1024);
  CHECK_STR (slurp (ta, "shared.bin") ? "ok" : NULL, "ok");
  CHECK (tmp_is_clean ());

  CHECK (model_cache_gc (c, NULL, 0, &freed, &err) == 0);
  CHECK (!tree_exists (a));
  CHECK (count_sub ("layers") == 0 && count_sub ("trees") == 0);
  CHECK (freed >= 64 * 1024);
  model_cache_close (c);
  world_free ();
}

TEST (gc_retention_by_time)
{
  char a[MODEL_DIGEST_MAX + 1], b[MODEL_DIGEST_MAX + 1];
  cleanup_free char *ta = NULL, *ra = NULL;
  mp_error err;
  model_cache *c;

  world_new ();
  two_models (a, b);
  c = cache_open (3600, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, a, &ta, &ra, NULL, &err) == 0);
  CHECK (model_cache_gc (c, NULL, 0, NULL, &err) == 0);
  CHECK (tree_exists (a));
  set_last_use (a, time (NULL) - 7200);
  /* A mount marks it used again. */
  CHECK (model_cache_touch (c, a, &err) == 0);
  CHECK (model_cache_gc (c, NULL, 0, NULL, &err) == 0);
  CHECK (tree_exists (a));
  set_last_use (a, time (NULL) - 7200);
  CHECK (model_cache_gc (c, NULL, 0, NULL, &err) == 0);
  CHECK (!tree_exists (a));
  CHECK (count_sub ("layers") == 0);
  model_cache_close (c);
  world_free ();
}

TEST (gc_retention_by_size)
{
  char a[MODEL_DIGEST_MAX + 1], b[MODEL_DIGEST_MAX + 1];
  char x[MODEL_DIGEST_MAX + 1];
  cleanup_free char *ta = NULL, *ra = NULL, *tb = NULL, *rb = NULL;
  cleanup_free char *tx = NULL, *rx = NULL;
  struct lay lx[1] = {
    { .mt = MT_WEIGHT_RAW,
      .data = blob_pattern (64 * 1024, 9),
      .path_key = K_PATH,
      .path = "x.bin" },
  };
  const char *in_use[1];
  mp_error err;
  model_cache *c;

  world_new ();
  two_models (a, b);
  make_manifest (AT_MODEL, CFG_MODEL, lx, 1, x, NULL);
  /* Room for 128 KiB of unused models. */
  c = cache_open (0, 128 * 1024);
  REQUIRE (c != NULL);
  REQUIRE (get (c, x, &tx, &rx, NULL, &err) == 0);
  REQUIRE (get (c, a, &ta, &ra, NULL, &err) == 0);
  REQUIRE (get (c, b, &tb, &rb, NULL, &err) == 0);
  set_last_use (x, time (NULL) - 300);
  set_last_use (a, time (NULL) - 200);
  set_last_use (b, time (NULL) - 100);
  /* Newest first: B needs 128 KiB (shared + its own), which fills the
   * allowance; A adds nothing new (its layer is B's), X would exceed it. */
  CHECK (model_cache_gc (c, NULL, 0, NULL, &err) == 0);
  CHECK (tree_exists (b) && tree_exists (a) && !tree_exists (x));
  CHECK (count_sub ("layers") == 2);
  /* With B in use, its layers do not count: X fits again, but it is gone;
   * A and B stay. */
  in_use[0] = b;
  CHECK (model_cache_gc (c, in_use, 1, NULL, &err) == 0);
  CHECK (tree_exists (b) && tree_exists (a));
  model_cache_close (c);
  blob_free (&lx[0].data);
  world_free ();
}

TEST (open_removes_crash_leftovers)
{
  char path[700], other_work[1024];
  char m[MODEL_DIGEST_MAX + 1];
  cleanup_free char *tree = NULL, *resolved = NULL;
  model_cache *c, *c2;
  mp_error err;
  FILE *f;

  world_new ();
  raw_model ("w", "c", "w", "c", m);
  snprintf (path, sizeof path, "%s/tmp/99999.deadbeef/L1/fs/sub", cache_root);
  REQUIRE (mp_mkdir_p (path, 0700, NULL) == 0);
  snprintf (path, sizeof path, "%s/tmp/99999.deadbeef/L1/fs/sub/half",
            cache_root);
  f = fopen (path, "w");
  REQUIRE (f != NULL);
  fputs ("half-written", f);
  fclose (f);
  snprintf (path, sizeof path, "%s/tmp/stray", cache_root);
  f = fopen (path, "w");
  REQUIRE (f != NULL);
  fclose (f);

  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  CHECK (count_sub ("tmp") == 1); /* only its own work directory */
  CHECK (tmp_is_clean ());

  /* A second cache on the same root (the CLI beside the daemon) leaves the
   * first one's work directory alone, and both work. */
  {
    DIR *d;
    struct dirent *de;
    snprintf (path, sizeof path, "%s/tmp", cache_root);
    d = opendir (path);
    REQUIRE (d != NULL);
    other_work[0] = '\0';
    while ((de = readdir (d)) != NULL)
      if (de->d_name[0] != '.')
        snprintf (other_work, sizeof other_work, "%s/%s", path, de->d_name);
    closedir (d);
  }
  c2 = cache_open (0, 0);
  REQUIRE (c2 != NULL);
  CHECK (access (other_work, F_OK) == 0);
  CHECK (count_sub ("tmp") == 2);
  REQUIRE (get (c2, m, &tree, &resolved, NULL, &err) == 0);
  free (tree);
  free (resolved);
  REQUIRE (get (c, m, &tree, &resolved, NULL, &err) == 0);
  CHECK (model_cache_gc (c2, NULL, 0, NULL, &err) == 0);
  CHECK (access (other_work, F_OK) == 0);
  model_cache_close (c2);
  model_cache_close (c);
  CHECK (count_sub ("tmp") == 0);
  world_free ();
}

static model_cache *
cache_open_boot (const char *boot)
{
  struct model_cache_options o = { .root = cache_root,
                                   .boot_id = boot,
                                   .mount = MODEL_CACHE_MOUNT_EXTRACT };
  mp_error err = { 0 };
  model_cache *c = model_cache_open (&o, &err);

  if (c == NULL)
    fprintf (stderr, "model_cache_open: %s\n", err.msg);
  return c;
}

static void
write_durable_file (const char *text)
{
  char path[600];
  FILE *f;

  snprintf (path, sizeof path, "%s/durable", cache_root);
  f = fopen (path, "w");
  REQUIRE (f != NULL);
  fputs (text, f);
  fclose (f);
}

/* Nothing is synced while building; the background sync is recorded in
 * `durable`, and after a machine crash (another boot id) whatever that
 * record does not cover is discarded and rebuilt.  A process crash (the
 * same boot) loses nothing. */
TEST (durability_across_boots)
{
  char m[MODEL_DIGEST_MAX + 1], t[MODEL_DIGEST_MAX + 1], path[700];
  cleanup_free char *tree = NULL, *resolved = NULL;
  struct model_cache_stats st;
  model_cache *c;
  mp_error err;
  struct stat sb;

  world_new ();
  raw_model ("w", "c", "w", "c", m);
  raw_model ("w-b", "c-b", "w", "c", t);
  c = cache_open_boot ("boot-a");
  REQUIRE (c != NULL);
  REQUIRE (get (c, m, &tree, &resolved, NULL, &err) == 0);
  model_cache_close (c); /* waits for the sync: `durable` covers it */
  {
    const char *d = slurp (cache_root, "durable");
    CHECK (d != NULL && strncmp (d, "boot-a ", 7) == 0);
  }

  /* A reboot after a clean close: everything stays. */
  c = cache_open_boot ("boot-b");
  REQUIRE (c != NULL);
  free (tree);
  free (resolved);
  REQUIRE (get (c, m, &tree, &resolved, &st, &err) == 0);
  CHECK (st.trees_reused == 1 && st.layers_unpacked == 0);
  free (tree);
  free (resolved);
  REQUIRE (get (c, t, &tree, &resolved, &st, &err) == 0);
  CHECK (st.trees_built == 1);
  model_cache_close (c);

  /* Pretend boot-b's syncs never reached the disk, then a process
   * restart in boot-b: nothing is discarded. */
  write_durable_file ("boot-b 0\n");
  c = cache_open_boot ("boot-b");
  REQUIRE (c != NULL);
  free (tree);
  free (resolved);
  REQUIRE (get (c, t, &tree, &resolved, &st, &err) == 0);
  CHECK (st.trees_reused == 1 && st.layers_unpacked == 0);
  model_cache_close (c);

  /* ... and a machine crash in boot-b: what boot-b built is not covered
   * by `durable`, so its tree and layers are discarded (and rebuilt on the
   * next get). */
  write_durable_file ("boot-b 0\n");
  c = cache_open_boot ("boot-c");
  REQUIRE (c != NULL);
  snprintf (path, sizeof path, "%s/trees/%s", cache_root, t + 7);
  CHECK (stat (path, &sb) < 0 && errno == ENOENT);
  snprintf (path, sizeof path, "%s/trees/%s.layers", cache_root, t + 7);
  CHECK (stat (path, &sb) < 0 && errno == ENOENT);
  CHECK (tmp_is_clean ());
  free (tree);
  free (resolved);
  REQUIRE (get (c, t, &tree, &resolved, &st, &err) == 0);
  CHECK (st.trees_built == 1 && st.layers_unpacked >= 1);
  model_cache_close (c);
  world_free ();
}

TEST (pins_keep_trees_through_gc)
{
  char a[MODEL_DIGEST_MAX + 1], b[MODEL_DIGEST_MAX + 1];
  cleanup_free char *ta = NULL, *ra = NULL, *tb = NULL, *rb = NULL, *got = NULL,
                    *note = NULL;
  mp_error err;
  model_cache *c;

  world_new ();
  two_models (a, b);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  REQUIRE (get (c, a, &ta, &ra, NULL, &err) == 0);
  REQUIRE (get (c, b, &tb, &rb, NULL, &err) == 0);
  CHECK (model_cache_pin (c, "mount-x", a, "/mnt/x ref", &err) == 0);
  CHECK (model_cache_pin_get (c, "mount-x", &got, &note, &err) == 0);
  CHECK_STR (got, a);
  CHECK_STR (note, "/mnt/x ref");
  /* Bad names never become files outside pins/. */
  CHECK (model_cache_pin (c, "../x", a, NULL, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (model_cache_pin (c, ".hidden", a, NULL, &err) < 0);
  CHECK (model_cache_pin (c, "", a, NULL, &err) < 0);
  /* No retention, nothing in use: only the pin keeps A. */
  CHECK (model_cache_gc (c, NULL, 0, NULL, &err) == 0);
  CHECK (tree_exists (a) && !tree_exists (b));
  CHECK_STR (slurp (ta, "shared.bin") ? "ok" : NULL, "ok");
  /* A pin needs the tree to exist now. */
  CHECK (model_cache_pin (c, "crio-y", b, NULL, &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  CHECK (model_cache_unpin (c, "mount-x", &err) == 0);
  CHECK (model_cache_unpin (c, "mount-x", &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  CHECK (model_cache_gc (c, NULL, 0, NULL, &err) == 0);
  CHECK (!tree_exists (a));
  model_cache_close (c);
  world_free ();
}

/* ---- the bound ----------------------------------------------------------- */

#define KIB 1024

static model_cache *
cache_open_bounded (int64_t max_bytes, bool publish)
{
  struct model_cache_options o = { .root = cache_root,
                                   .mount = MODEL_CACHE_MOUNT_EXTRACT,
                                   .max_bytes = max_bytes,
                                   .publish_in_use = publish };
  mp_error err = { 0 };
  model_cache *c = model_cache_open (&o, &err);

  if (c == NULL)
    fprintf (stderr, "model_cache_open: %s\n", err.msg);
  return c;
}

/* A model of one raw file PATH: LEN bytes of pattern SEED. */
static void
one_raw (size_t len, unsigned seed, const char *path,
         char out[MODEL_DIGEST_MAX + 1])
{
  struct lay l[1] = { { .mt = MT_WEIGHT_RAW,
                        .data = blob_pattern (len, seed),
                        .path_key = K_PATH,
                        .path = path } };

  make_manifest (AT_MODEL, CFG_MODEL, l, 1, out, NULL);
  blob_free (&l[0].data);
}

/* TREE/PATH holds exactly LEN bytes of pattern SEED. */
static bool
file_is_pattern (const char *tree, const char *path, size_t len, unsigned seed)
{
  char full[1024];
  struct blob want = blob_pattern (len, seed);
  unsigned char *got = malloc (len + 1);
  FILE *f;
  size_t n = 0;
  bool ok;

  snprintf (full, sizeof full, "%s/%s", tree, path);
  f = fopen (full, "rb");
  if (f != NULL)
    {
      n = fread (got, 1, len + 1, f);
      fclose (f);
    }
  ok = f != NULL && n == len && memcmp (got, want.p, len) == 0;
  free (got);
  blob_free (&want);
  return ok;
}

static int
get_free (model_cache *c, const char *digest, struct model_cache_stats *st,
          mp_error *err)
{
  cleanup_free char *tree = NULL, *resolved = NULL;

  return get (c, digest, &tree, &resolved, st, err);
}

TEST (bound_evicts_least_recently_used)
{
  char x[MODEL_DIGEST_MAX + 1], y[MODEL_DIGEST_MAX + 1],
      z[MODEL_DIGEST_MAX + 1];
  struct model_cache_stats st, total;
  mp_error err;
  model_cache *c;

  world_new ();
  one_raw (64 * KIB, 1, "x.bin", x);
  one_raw (64 * KIB, 2, "y.bin", y);
  one_raw (64 * KIB, 3, "z.bin", z);
  /* Room for two. */
  c = cache_open_bounded (150 * KIB, false);
  REQUIRE (c != NULL);
  REQUIRE (get_free (c, x, &st, &err) == 0);
  REQUIRE (get_free (c, y, &st, &err) == 0);
  CHECK (st.evictions == 0);
  set_last_use (y, time (NULL) - 200);
  set_last_use (x, time (NULL) - 100);
  /* Y is the least recently used: it goes, X stays. */
  REQUIRE (get_free (c, z, &st, &err) == 0);
  CHECK (st.evictions == 1);
  CHECK (!tree_exists (y) && tree_exists (x) && tree_exists (z));
  CHECK (count_sub ("layers") == 2);
  /* Using X makes Z the oldest. */
  set_last_use (z, time (NULL) - 50);
  CHECK (model_cache_touch (c, x, &err) == 0);
  REQUIRE (get_free (c, y, &st, &err) == 0);
  CHECK (st.evictions == 1);
  CHECK (tree_exists (x) && tree_exists (y) && !tree_exists (z));
  model_cache_get_counters (c, &total);
  CHECK (total.evictions == 2);
  /* A model already there needs nothing and evicts nothing. */
  REQUIRE (get_free (c, x, &st, &err) == 0);
  CHECK (st.evictions == 0 && tree_exists (y));
  CHECK (tmp_is_clean ());
  model_cache_close (c);
  world_free ();
}

TEST (bound_never_evicts_what_is_in_use)
{
  char x[MODEL_DIGEST_MAX + 1], y[MODEL_DIGEST_MAX + 1],
      z[MODEL_DIGEST_MAX + 1];
  struct model_cache_stats st;
  const char *snaps[1];
  mp_error err;
  model_cache *c;

  world_new ();
  one_raw (64 * KIB, 1, "x.bin", x);
  one_raw (64 * KIB, 2, "y.bin", y);
  one_raw (64 * KIB, 3, "z.bin", z);
  c = cache_open_bounded (150 * KIB, false);
  REQUIRE (c != NULL);
  REQUIRE (get_free (c, x, &st, &err) == 0);
  REQUIRE (get_free (c, y, &st, &err) == 0);
  set_last_use (x, time (NULL) - 200);
  set_last_use (y, time (NULL) - 100);
  /* X, the oldest, is in use: Y goes instead. */
  snaps[0] = x;
  CHECK (model_cache_set_in_use (c, snaps, 1, &err) == 0);
  REQUIRE (get_free (c, z, &st, &err) == 0);
  CHECK (tree_exists (x) && !tree_exists (y) && tree_exists (z));
  /* Now X in use and Z held: nothing can go, and Y does not fit. */
  CHECK (model_cache_hold (c, z, &err) == 0);
  CHECK (get_free (c, y, &st, &err) < 0);
  CHECK (err.code == MP_ERR_FAILED_PRECONDITION);
  CHECK (strstr (err.msg, y) != NULL);
  CHECK (strstr (err.msg, "needs 65536 bytes") != NULL);
  CHECK (strstr (err.msg, "holds 131072 of its max_bytes 153600") != NULL);
  CHECK (tree_exists (x) && tree_exists (z) && st.evictions == 0);
  /* A pin protects as well as a hold. */
  CHECK (model_cache_pin (c, "mount-z", z, "/mnt/z", &err) == 0);
  model_cache_release (c, z);
  CHECK (get_free (c, y, &st, &err) < 0
         && err.code == MP_ERR_FAILED_PRECONDITION);
  CHECK (model_cache_unpin (c, "mount-z", &err) == 0);
  REQUIRE (get_free (c, y, &st, &err) == 0);
  CHECK (tree_exists (x) && tree_exists (y) && !tree_exists (z));
  model_cache_close (c);
  world_free ();
}

TEST (bound_too_big_fails_naming_sizes)
{
  char x[MODEL_DIGEST_MAX + 1], big[MODEL_DIGEST_MAX + 1];
  struct model_cache_stats st;
  cleanup_free char *tree = NULL, *resolved = NULL;
  mp_error err;
  model_cache *c;

  world_new ();
  one_raw (64 * KIB, 1, "x.bin", x);
  one_raw (200 * KIB, 4, "big.bin", big);
  c = cache_open_bounded (150 * KIB, false);
  REQUIRE (c != NULL);
  REQUIRE (get_free (c, x, &st, &err) == 0);
  /* Evicting X would not make room: X stays and nothing is unpacked. */
  mp_error_clear (&err);
  CHECK (model_cache_get_manifest_tree (c, big, open_blob, layout, &tree,
                                        &resolved, &st, &err)
         < 0);
  CHECK (err.code == MP_ERR_FAILED_PRECONDITION);
  CHECK (strstr (err.msg, "needs 204800 bytes") != NULL);
  CHECK (strstr (err.msg, "max_bytes 153600") != NULL);
  CHECK (tree_exists (x) && !tree_exists (big) && st.evictions == 0);
  CHECK (count_sub ("layers") == 1);
  model_cache_close (c);
  world_free ();
}

/* min_free_percent: a bound relative to the filesystem's free space, set
 * just above and just below what this filesystem has free now. */
TEST (bound_min_free_percent)
{
  char x[MODEL_DIGEST_MAX + 1];
  struct model_cache_options o
      = { .root = cache_root, .mount = MODEL_CACHE_MOUNT_EXTRACT };
  struct model_cache_stats st;
  struct statvfs vfs;
  mp_error err = { 0 };
  model_cache *c;
  int free_pct;

  world_new ();
  one_raw (64 * KIB, 1, "x.bin", x);
  REQUIRE (mp_mkdir_p (cache_root, 0700, NULL) == 0);
  REQUIRE (statvfs (cache_root, &vfs) == 0);
  free_pct = (int)((double)vfs.f_bavail * 100 / (double)vfs.f_blocks);
  if (free_pct >= 98 || free_pct < 2)
    {
      fprintf (stderr, "  (skipped: %d%% free here)\n", free_pct);
      world_free ();
      return;
    }
  o.min_free_percent = free_pct + 1;
  c = model_cache_open (&o, &err);
  REQUIRE (c != NULL);
  CHECK (get_free (c, x, &st, &err) < 0);
  CHECK (err.code == MP_ERR_FAILED_PRECONDITION);
  CHECK (strstr (err.msg, "needs 65536 bytes") != NULL);
  CHECK (strstr (err.msg, "min_free_percent") != NULL);
  CHECK (!tree_exists (x) && count_sub ("layers") == 0);
  model_cache_close (c);
  o.min_free_percent = free_pct - 1;
  c = model_cache_open (&o, &err);
  REQUIRE (c != NULL);
  CHECK (get_free (c, x, &st, &err) == 0 && tree_exists (x));
  model_cache_close (c);
  world_free ();
}

/* A compressed layer's blob understates what it unpacks to: the cache
 * evicts again once the real size is known. */
TEST (bound_evicts_again_after_unpacking)
{
  static char zeros[100 * KIB + 1];
  char x[MODEL_DIGEST_MAX + 1], y[MODEL_DIGEST_MAX + 1],
      z[MODEL_DIGEST_MAX + 1];
  struct ent t[1] = { { 'f', "z/zeros", zeros, 0644, 0 } };
  struct lay lz[1] = { { .mt = MT_DOC_TGZ } };
  struct model_cache_stats st;
  mp_error err;
  model_cache *c;

  world_new ();
  memset (zeros, 'z', 100 * KIB);
  lz[0].tar = tarball (t, 1);
  lz[0].data = gzip_blob (&lz[0].tar);
  REQUIRE (lz[0].data.len < 8 * KIB);
  make_manifest (AT_MODEL, CFG_MODEL, lz, 1, z, NULL);
  one_raw (64 * KIB, 1, "x.bin", x);
  one_raw (64 * KIB, 2, "y.bin", y);
  c = cache_open_bounded (200 * KIB, false);
  REQUIRE (c != NULL);
  REQUIRE (get_free (c, x, &st, &err) == 0);
  REQUIRE (get_free (c, y, &st, &err) == 0);
  set_last_use (x, time (NULL) - 200);
  set_last_use (y, time (NULL) - 100);
  /* The blob fits beside X and Y; its 100 KiB do not. */
  REQUIRE (get_free (c, z, &st, &err) == 0);
  CHECK (st.evictions == 1);
  CHECK (!tree_exists (x) && tree_exists (y) && tree_exists (z));
  model_cache_close (c);
  blob_free (&lz[0].data);
  blob_free (&lz[0].tar);
  world_free ();
}

/* Two caches on one root stand for the daemon (publishing its in-use set
 * and holds) and the CLI (pruning): the CLI never removes what the daemon
 * uses or holds. */
TEST (published_in_use_protects_across_processes)
{
  char x[MODEL_DIGEST_MAX + 1], y[MODEL_DIGEST_MAX + 1],
      z[MODEL_DIGEST_MAX + 1];
  struct model_cache_stats st;
  const char *snaps[2];
  mp_error err;
  model_cache *daemon, *cli;
  char path[600];
  struct stat sb;

  world_new ();
  one_raw (16 * KIB, 1, "x.bin", x);
  one_raw (16 * KIB, 2, "y.bin", y);
  one_raw (16 * KIB, 3, "z.bin", z);
  daemon = cache_open_bounded (0, true);
  cli = cache_open (0, 0);
  REQUIRE (daemon != NULL && cli != NULL);
  REQUIRE (get_free (daemon, x, &st, &err) == 0);
  REQUIRE (get_free (daemon, y, &st, &err) == 0);
  REQUIRE (get_free (daemon, z, &st, &err) == 0);
  snprintf (path, sizeof path, "%s/in-use", cache_root);
  CHECK (stat (path, &sb) < 0); /* nothing published yet */
  snaps[0] = x;
  snaps[1] = x;
  CHECK (model_cache_set_in_use (daemon, snaps, 2, &err) == 0);
  CHECK (model_cache_hold (daemon, y, &err) == 0);
  CHECK (strstr (slurp (cache_root, "in-use"), "held ") != NULL);
  /* The CLI's gc (prune --all) keeps X (two snapshots) and Y (held). */
  CHECK (model_cache_gc (cli, NULL, 0, NULL, &err) == 0);
  CHECK (tree_exists (x) && tree_exists (y) && !tree_exists (z));
  model_cache_release (daemon, y);
  CHECK (model_cache_gc (cli, NULL, 0, NULL, &err) == 0);
  CHECK (tree_exists (x) && !tree_exists (y));
  /* The record outlives the daemon: pods keep their mounts. */
  model_cache_close (daemon);
  CHECK (model_cache_gc (cli, NULL, 0, NULL, &err) == 0);
  CHECK (tree_exists (x));
  /* A record that cannot be read stops prune rather than guessing. */
  {
    FILE *f = fopen (path, "w");
    fputs ("snapshot sha256:zz\n", f);
    fclose (f);
  }
  CHECK (model_cache_gc (cli, NULL, 0, NULL, &err) < 0);
  CHECK (tree_exists (x));
  model_cache_close (cli);
  world_free ();
}

struct entry_seen
{
  int n;
  char first[MODEL_DIGEST_MAX + 1];
  int64_t size, shared;
  int snapshots, npins;
  char note[64];
};

static int
entry_seen_one (void *ctx, const struct model_cache_entry *e, mp_error *err)
{
  struct entry_seen *s = ctx;

  (void)err;
  if (s->n++ == 0)
    {
      snprintf (s->first, sizeof s->first, "%s", e->manifest);
      s->size = e->size;
      s->shared = e->shared;
      s->snapshots = e->snapshots;
      s->npins = (int)e->npins;
      snprintf (s->note, sizeof s->note, "%s", e->npins ? e->pin_notes[0] : "");
    }
  return 0;
}

TEST (list_shows_sizes_use_and_pins)
{
  char a[MODEL_DIGEST_MAX + 1], b[MODEL_DIGEST_MAX + 1];
  struct entry_seen seen = { 0 };
  struct model_cache_stats st;
  const char *snaps[1];
  mp_error err;
  model_cache *daemon, *cli;

  world_new ();
  two_models (a, b);
  daemon = cache_open_bounded (0, true);
  cli = cache_open (0, 0);
  REQUIRE (daemon != NULL && cli != NULL);
  REQUIRE (get_free (daemon, a, &st, &err) == 0);
  REQUIRE (get_free (daemon, b, &st, &err) == 0);
  set_last_use (b, time (NULL) - 100);
  /* Without a published set, the CLI cannot know the snapshots. */
  CHECK (model_cache_list (cli, entry_seen_one, &seen, &err) == 0);
  CHECK (seen.n == 2 && seen.snapshots == -1);
  snaps[0] = b;
  CHECK (model_cache_set_in_use (daemon, snaps, 1, &err) == 0);
  CHECK (model_cache_pin (cli, "preload-b", b, "example.com/m:b", &err) == 0);
  memset (&seen, 0, sizeof seen);
  CHECK (model_cache_list (cli, entry_seen_one, &seen, &err) == 0);
  /* Oldest first: B, 128 KiB of which 64 KiB are A's too. */
  CHECK_STR (seen.first, b);
  CHECK (seen.size == 128 * KIB && seen.shared == 64 * KIB);
  CHECK (seen.snapshots == 1 && seen.npins == 1);
  CHECK_STR (seen.note, "example.com/m:b");
  model_cache_close (daemon);
  model_cache_close (cli);
  world_free ();
}

/* Threads get three models under a bound that fits two, holding each while
 * they check it, while another thread prunes everything unused: every tree
 * handed out is whole, and a get either succeeds or says it does not fit. */
#define STRESS_THREADS 4
#define STRESS_ROUNDS 40

struct stress
{
  model_cache *c;
  const char (*models)[MODEL_DIGEST_MAX + 1];
  unsigned seed;
  int ok, no_room, bad;
  int64_t pruned;
  bool *stop;
};

static void *
stress_getter (void *p)
{
  struct stress *s = p;

  for (int i = 0; i < STRESS_ROUNDS; i++)
    {
      int m = (int)((s->seed + (unsigned)i * 7) % 3);
      char *tree = NULL, *resolved = NULL;
      char name[16];
      mp_error err = { 0 };

      if (model_cache_hold (s->c, s->models[m], &err) < 0)
        {
          s->bad++;
          continue;
        }
      if (model_cache_get_manifest_tree (s->c, s->models[m], open_blob, layout,
                                         &tree, &resolved, NULL, &err)
          == 0)
        {
          bool whole = true;

          for (int f = 0; f < 2; f++)
            {
              snprintf (name, sizeof name, "m%d/f%d", m, f);
              whole = whole
                      && file_is_pattern (tree, name, 48 * KIB,
                                          (unsigned)(m * 2 + f + 10));
            }
          if (whole)
            s->ok++;
          else
            s->bad++;
        }
      else if (err.code == MP_ERR_FAILED_PRECONDITION)
        s->no_room++;
      else
        {
          fprintf (stderr, "  (stress get: %s)\n", err.msg);
          s->bad++;
        }
      model_cache_release (s->c, s->models[m]);
      free (tree);
      free (resolved);
    }
  return NULL;
}

static void *
stress_pruner (void *p)
{
  struct stress *s = p;

  while (!__atomic_load_n (s->stop, __ATOMIC_SEQ_CST))
    {
      mp_error err = { 0 };
      int64_t freed = 0;

      if (model_cache_gc (s->c, NULL, 0, &freed, &err) < 0)
        s->bad++;
      s->pruned += freed;
      usleep (500);
    }
  return NULL;
}

TEST (bound_and_evictions_never_serve_half_trees)
{
  char models[3][MODEL_DIGEST_MAX + 1];
  struct stress st[STRESS_THREADS + 1];
  pthread_t th[STRESS_THREADS + 1];
  struct model_cache_stats total;
  bool stop = false;
  int ok = 0, bad = 0, no_room = 0;
  model_cache *c;

  world_new ();
  for (int m = 0; m < 3; m++)
    {
      char p0[16], p1[16];
      struct lay ls[2];

      snprintf (p0, sizeof p0, "m%d/f0", m);
      snprintf (p1, sizeof p1, "m%d/f1", m);
      for (int f = 0; f < 2; f++)
        ls[f] = (struct lay){ .mt = MT_WEIGHT_RAW,
                              .data = blob_pattern (48 * KIB,
                                                    (unsigned)(m * 2 + f + 10)),
                              .path_key = K_PATH,
                              .path = f == 0 ? p0 : p1 };
      make_manifest (AT_MODEL, CFG_MODEL, ls, 2, models[m], NULL);
      blob_free (&ls[0].data);
      blob_free (&ls[1].data);
    }
  /* Two models are 192 KiB. */
  c = cache_open_bounded (200 * KIB, false);
  REQUIRE (c != NULL);
  for (int i = 0; i <= STRESS_THREADS; i++)
    {
      st[i] = (struct stress){ .c = c,
                               .models
                               = (const char (*)[MODEL_DIGEST_MAX + 1]) models,
                               .seed = (unsigned)i,
                               .stop = &stop };
      pthread_create (&th[i], NULL,
                      i < STRESS_THREADS ? stress_getter : stress_pruner,
                      &st[i]);
    }
  for (int i = 0; i < STRESS_THREADS; i++)
    pthread_join (th[i], NULL);
  __atomic_store_n (&stop, true, __ATOMIC_SEQ_CST);
  pthread_join (th[STRESS_THREADS], NULL);
  for (int i = 0; i <= STRESS_THREADS; i++)
    {
      ok += st[i].ok;
      bad += st[i].bad;
      no_room += st[i].no_room;
    }
  model_cache_get_counters (c, &total);
  fprintf (stderr,
           "  (stress: %d whole trees, %d did not fit, %" PRId64
           " evictions)\n",
           ok, no_room, total.evictions);
  CHECK (bad == 0);
  CHECK (ok + no_room == STRESS_THREADS * STRESS_ROUNDS);
  CHECK (ok > STRESS_THREADS * STRESS_ROUNDS / 2);
  CHECK (total.trees_built > 3);
  /* Trees did go while others were read: by the bound or by the pruner. */
  CHECK (total.evictions > 0 || st[STRESS_THREADS].pruned > 0);
  model_cache_close (c);
  world_free ();
}

/* model_cache_usage (the metrics' gauges) splits as gc would: trees in use
 * or pinned against the rest, each layer counted once. */
TEST (usage_splits_in_use_and_unused)
{
  char a[MODEL_DIGEST_MAX + 1], b[MODEL_DIGEST_MAX + 1];
  cleanup_free char *ta = NULL, *ra = NULL, *tb = NULL, *rb = NULL;
  const char *in_use[2];
  struct model_cache_usage u;
  struct model_cache_stats total;
  mp_error err;
  model_cache *c;
  int64_t all;

  world_new ();
  two_models (a, b);
  c = cache_open (0, 0);
  REQUIRE (c != NULL);
  CHECK (model_cache_usage (c, NULL, 0, &u, &err) == 0);
  CHECK (u.models_in_use == 0 && u.models_unused == 0);
  CHECK (u.bytes_in_use == 0 && u.bytes_unused == 0);
  REQUIRE (get (c, a, &ta, &ra, NULL, &err) == 0);
  REQUIRE (get (c, b, &tb, &rb, NULL, &err) == 0);

  CHECK (model_cache_usage (c, NULL, 0, &u, &err) == 0);
  CHECK (u.models_in_use == 0 && u.models_unused == 2);
  all = u.bytes_unused;
  CHECK (u.bytes_in_use == 0 && all == 2 * 64 * 1024);

  /* A needs the shared layer only; B's own layer is unused.  A malformed
   * digest in the list is skipped, as gc's caller never sends one. */
  in_use[0] = a;
  in_use[1] = "sha256:nothex";
  CHECK (model_cache_usage (c, in_use, 2, &u, &err) == 0);
  CHECK (u.models_in_use == 1 && u.models_unused == 1);
  CHECK (u.bytes_in_use == 64 * 1024 && u.bytes_unused == 64 * 1024);

  /* A pin is in use too. */
  CHECK (model_cache_pin (c, "metrics-test", b, NULL, &err) == 0);
  CHECK (model_cache_usage (c, in_use, 1, &u, &err) == 0);
  CHECK (u.models_in_use == 2 && u.models_unused == 0);
  CHECK (u.bytes_in_use == all && u.bytes_unused == 0);

  /* While gc holds the cache (another process here), a scrape does not
   * wait for it. */
  {
    char lock[400];
    int fd;

    snprintf (lock, sizeof lock, "%s/lock", cache_root);
    fd = open (lock, O_RDWR | O_CLOEXEC);
    REQUIRE (fd >= 0 && flock (fd, LOCK_EX) == 0);
    CHECK (model_cache_usage (c, in_use, 1, &u, &err) < 0);
    CHECK (err.code == MP_ERR_UNAVAILABLE);
    close (fd);
  }

  /* open_blob vouches for nothing: every layer blob was hashed. */
  model_cache_get_counters (c, &total);
  CHECK (total.bytes_verified == 2 * 64 * 1024);
  CHECK (total.bytes_unpacked == 2 * 64 * 1024);
  CHECK (total.evictions == 0);
  model_cache_close (c);
  world_free ();
}

/* ---- verify_blobs ------------------------------------------------------- */

/* A source that vouches for every blob, as containerd's content directory
 * does for the files it committed. */
static int
open_blob_vouching (void *ctx, const char *digest, int64_t size, bool *verified,
                    mp_error *err)
{
  int fd = open_blob (ctx, digest, size, verified, err);

  if (fd >= 0)
    *verified = true;
  return fd;
}

static model_cache *
cache_open_verify (enum model_cache_verify v)
{
  struct model_cache_options o = { .root = cache_root,
                                   .verify_blobs = v,
                                   .mount = MODEL_CACHE_MOUNT_EXTRACT };
  mp_error err = { 0 };
  model_cache *c = model_cache_open (&o, &err);

  if (c == NULL)
    fprintf (stderr, "model_cache_open: %s\n", err.msg);
  return c;
}

static int
get_vouched (model_cache *c, const char *digest, char **tree, char **resolved,
             struct model_cache_stats *st, mp_error *err)
{
  int r;

  mp_error_clear (err);
  *tree = *resolved = NULL;
  r = model_cache_get_manifest_tree (c, digest, open_blob_vouching, layout,
                                     tree, resolved, st, err);
  if (r < 0)
    fprintf (stderr, "  (get %s: %s: %s)\n", digest,
             mp_errcode_name (err->code), err->msg);
  return r;
}

static bool
memo_exists (const char *digest)
{
  char path[700];

  snprintf (path, sizeof path, "%s/verified/sha256-%s", cache_root,
            hex_of (digest));
  return access (path, F_OK) == 0;
}

/* Alter the byte at OFF of the stored blob DIGEST in place (size kept),
 * as a write inside containerd's content store would. */
static void
alter_blob_byte (const char *digest, size_t off)
{
  char path[700];
  unsigned char b;
  struct timespec pause = { 0, 20 * 1000 * 1000 };
  int fd;

  /* Coarse timestamps: let the ctime move. */
  nanosleep (&pause, NULL);
  snprintf (path, sizeof path, "%s/blobs/sha256/%s", layout, hex_of (digest));
  fd = open (path, O_RDWR | O_CLOEXEC);
  if (fd < 0 || pread (fd, &b, 1, (off_t)off) != 1)
    abort ();
  b ^= 0x20;
  if (pwrite (fd, &b, 1, (off_t)off) != 1)
    abort ();
  close (fd);
}

static void
touch_blob (const char *digest)
{
  char path[700];
  struct timespec pause = { 0, 20 * 1000 * 1000 };

  nanosleep (&pause, NULL);
  snprintf (path, sizeof path, "%s/blobs/sha256/%s", layout, hex_of (digest));
  if (chmod (path, 0644) < 0)
    abort ();
}

/* The default ("once") does not take a source's word: a plain tar whose
 * file data was altered in the content store after the download (the
 * source still vouches for it) is refused, naming the blob.  "always"
 * refuses it too; "ingest" takes the source's word and serves the
 * altered bytes: the documented weaker choice. */
TEST (verify_once_refuses_altered_tar_data)
{
  char m[MODEL_DIGEST_MAX + 1], dg[MODEL_DIGEST_MAX + 1], path[700];
  const struct ent t[] = {
    { 'd', "weights", NULL, 0755, 0 },
    { 'f', "weights/model.bin", "WEIGHTS-0123456789-abcdefghij", 0644, 0 },
  };
  struct lay ls[1] = { { .mt = MT_WEIGHT_TAR, .data = tarball (t, 2) } };
  const unsigned char *at;
  struct model_cache_stats st;
  mp_error err;
  model_cache *c;
  size_t off;

  world_new ();
  make_manifest (AT_MODEL, CFG_MODEL, ls, 1, m, NULL);
  digest_of (&ls[0].data, dg);
  /* A byte of the file's data, not of a header: the tar still parses. */
  at = memmem (ls[0].data.p, ls[0].data.len, "0123456789", 10);
  REQUIRE (at != NULL);
  off = (size_t)(at - ls[0].data.p) + 4;
  alter_blob_byte (dg, off);

  for (int mode = 0; mode < 2; mode++)
    {
      cleanup_free char *tree = NULL, *resolved = NULL;

      c = cache_open_verify (mode == 0 ? MODEL_CACHE_VERIFY_ONCE
                                       : MODEL_CACHE_VERIFY_ALWAYS);
      REQUIRE (c != NULL);
      CHECK (get_vouched (c, m, &tree, &resolved, NULL, &err) < 0);
      CHECK (err.code == MP_ERR_DATA_LOSS);
      CHECK (strstr (err.msg, "blob digest mismatch") != NULL);
      CHECK (strstr (err.msg, dg) != NULL);
      CHECK (!tree_exists (m));
      CHECK (count_sub ("trees") == 0 && count_sub ("layers") == 0);
      CHECK (!memo_exists (dg));
      CHECK (tmp_is_clean ());
      model_cache_close (c);
    }

  {
    cleanup_free char *tree = NULL, *resolved = NULL;
    char *text;

    c = cache_open_verify (MODEL_CACHE_VERIFY_INGEST);
    REQUIRE (c != NULL);
    CHECK (get_vouched (c, m, &tree, &resolved, &st, &err) == 0);
    CHECK (st.bytes_verified == 0);
    snprintf (path, sizeof path, "%s/weights", tree ? tree : "/nonexistent");
    text = slurp (path, "model.bin");
    CHECK (text != NULL
           && strcmp (text, "WEIGHTS-0123"
                            "\x14"
                            "56789-abcdefghij")
                  == 0);
    CHECK (!memo_exists (dg));
    model_cache_close (c);
  }
  blob_free (&ls[0].data);
  world_free ();
}

/* "once": a layer blob is hashed the first time it is unpacked, whatever
 * the source says, and remembered; unpacking it again (after gc) reads it
 * without hashing, until the file changes.  "always" hashes regardless;
 * "ingest" trusts a vouching source and otherwise uses the memo. */
TEST (verify_once_remembers_per_file)
{
  char m[MODEL_DIGEST_MAX + 1], dtar[MODEL_DIGEST_MAX + 1],
      draw[MODEL_DIGEST_MAX + 1];
  const struct ent t[] = { { 'f', "doc.txt", "documentation", 0644, 0 } };
  struct lay ls[2] = {
    { .mt = MT_WEIGHT_TAR, .data = tarball (t, 1) },
    { .mt = MT_WEIGHT_RAW,
      .data = blob_pattern (300000, 7),
      .path_key = K_PATH,
      .path = "w.bin" },
  };
  int64_t total = (int64_t)(ls[0].data.len + ls[1].data.len);
  struct model_cache_stats st, counters;
  mp_error err;
  model_cache *c;

  world_new ();
  make_manifest (AT_MODEL, CFG_MODEL, ls, 2, m, NULL);
  digest_of (&ls[0].data, dtar);
  digest_of (&ls[1].data, draw);

#define GET_AND_COLLECT(getter, want_verified)                                 \
  do                                                                           \
    {                                                                          \
      cleanup_free char *tree_ = NULL, *res_ = NULL;                           \
      CHECK (getter (c, m, &tree_, &res_, &st, &err) == 0);                    \
      CHECK (st.layers_unpacked == 2);                                         \
      CHECK (st.bytes_verified == (want_verified));                            \
      if (st.bytes_verified != (want_verified))                                \
        fprintf (stderr, "  bytes_verified %lld, want %lld\n",                 \
                 (long long)st.bytes_verified, (long long)(want_verified));    \
      CHECK (model_cache_gc (c, NULL, 0, NULL, &err) == 0);                    \
      CHECK (count_sub ("layers") == 0);                                       \
    }                                                                          \
  while (0)

  c = cache_open_verify (MODEL_CACHE_VERIFY_ONCE);
  REQUIRE (c != NULL);
  /* The first time: hashed although the source vouches; remembered. */
  GET_AND_COLLECT (get_vouched, total);
  CHECK (memo_exists (dtar) && memo_exists (draw));
  /* Again (gc took the layers): nothing hashed. */
  GET_AND_COLLECT (get_vouched, 0);
  GET_AND_COLLECT (get, 0);
  /* The raw blob's file changed (ctime): only it is hashed again. */
  touch_blob (draw);
  GET_AND_COLLECT (get, (int64_t)ls[1].data.len);
  GET_AND_COLLECT (get, 0);
  model_cache_get_counters (c, &counters);
  CHECK (counters.bytes_verified == total + (int64_t)ls[1].data.len);
  model_cache_close (c);

  /* "always": every time, memo or not. */
  c = cache_open_verify (MODEL_CACHE_VERIFY_ALWAYS);
  REQUIRE (c != NULL);
  GET_AND_COLLECT (get_vouched, total);
  GET_AND_COLLECT (get_vouched, total);
  model_cache_close (c);

  /* "ingest": a vouching source is believed; otherwise the memo counts. */
  c = cache_open_verify (MODEL_CACHE_VERIFY_INGEST);
  REQUIRE (c != NULL);
  touch_blob (dtar);
  GET_AND_COLLECT (get_vouched, 0);
  GET_AND_COLLECT (get, (int64_t)ls[0].data.len);
  GET_AND_COLLECT (get, 0);
  model_cache_close (c);
#undef GET_AND_COLLECT

  /* A layer blob altered after it was remembered is caught again. */
  c = cache_open_verify (MODEL_CACHE_VERIFY_ONCE);
  REQUIRE (c != NULL);
  alter_blob_byte (draw, 1000);
  {
    cleanup_free char *tree = NULL, *resolved = NULL;
    CHECK (get_vouched (c, m, &tree, &resolved, NULL, &err) < 0);
    CHECK (err.code == MP_ERR_DATA_LOSS && strstr (err.msg, draw) != NULL);
    CHECK (!memo_exists (draw) && memo_exists (dtar));
  }
  model_cache_close (c);
  blob_free (&ls[0].data);
  blob_free (&ls[1].data);
  world_free ();
}

/* mount = EROFS: the same model served from an index over the blobs: the
 * same files, modes and times; raw and plain tar layers are not copied,
 * compressed ones are decompressed once (layers/tar-*); a second get reuses
 * the mount; a blob gone detaches the mount and fails naming the blob; the
 * blob back (a new file) mounts again; gc detaches and removes it all. */
TEST (index_serves_the_model_from_the_blobs)
{
  const struct ent t1[] = {
    { 'd', "a", NULL, 0750, 1600000000 },
    { 'f', "a/deep.txt", "deep", 0640, 1600000002 },
    { 'f', "top.txt", "top", 0644, 0 },
  };
  const struct ent t2[] = {
    { 'f', "gz/one.txt", "one", 0644, 0 },
    { 'l', "gz/link", "one.txt", 0777, 0 },
  };
  struct lay ls[3] = {
    { .mt = MT_WEIGHT_TAR, .data = tarball (t1, 3) },
    { .mt = MT_DOC_TGZ, .tar = tarball (t2, 2) },
    { .mt = MT_WEIGHT_RAW,
      .data = blob_str ("raw in a, not a multiple of any block size"),
      .path_key = K_PATH,
      .path = "a/raw.txt" },
  };
  struct model_cache_options o
      = { .root = cache_root, .mount = MODEL_CACHE_MOUNT_EROFS };
  char m[MODEL_DIGEST_MAX + 1], rawd[MODEL_DIGEST_MAX + 1], path[700];
  cleanup_free char *tree = NULL, *resolved = NULL;
  struct model_cache_stats st;
  struct statfs fs;
  mp_error err = { 0 };
  struct stat s;
  model_cache *c;

  if (geteuid () != 0)
    {
      fprintf (stderr, "  index test needs root (mounts)\n");
      CHECK (geteuid () == 0);
      return;
    }
  world_new ();
  ls[1].data = gzip_blob (&ls[1].tar);
  make_manifest (AT_MODEL, CFG_MODEL, ls, 3, m, NULL);
  digest_of (&ls[2].data, rawd);
  c = model_cache_open (&o, &err);
  REQUIRE (c != NULL);
  REQUIRE (get (c, m, &tree, &resolved, &st, &err) == 0);
  CHECK (statfs (tree, &fs) == 0 && (unsigned)fs.f_type == 0xE0F5E1E2u);
  CHECK (st.layers_unpacked == 1); /* the tar+gzip layer, decompressed */
  CHECK (st.bytes_verified > 0);
  CHECK_STR (slurp (tree, "a/raw.txt"),
             "raw in a, not a multiple of any block size");
  CHECK_STR (slurp (tree, "a/deep.txt"), "deep");
  CHECK_STR (slurp (tree, "top.txt"), "top");
  CHECK_STR (slurp (tree, "gz/one.txt"), "one");
  REQUIRE (lstat_at (tree, "a", &s));
  CHECK (S_ISDIR (s.st_mode) && (s.st_mode & 07777) == 0750);
  CHECK (s.st_mtim.tv_sec == 1600000000);
  REQUIRE (lstat_at (tree, "a/deep.txt", &s));
  CHECK ((s.st_mode & 07777) == 0640 && s.st_uid == 0);
  REQUIRE (lstat_at (tree, "gz/link", &s));
  CHECK (S_ISLNK (s.st_mode));
  /* Only the decompressed tar is in the cache's layers. */
  snprintf (path, sizeof path, "%s/layers", cache_root);
  CHECK (count_entries (path) == 1);

  /* A second get: the same mount, nothing hashed or built. */
  free (tree);
  free (resolved);
  REQUIRE (get (c, m, &tree, &resolved, &st, &err) == 0);
  CHECK (st.trees_reused == 1 && st.trees_built == 0);
  CHECK (st.bytes_verified == 0 && st.layers_unpacked == 0);

  /* The raw blob gone: no dangling index is served. */
  snprintf (path, sizeof path, "%s/blobs/sha256/%s", layout,
            strchr (rawd, ':') + 1);
  REQUIRE (unlink (path) == 0);
  free (tree);
  free (resolved);
  CHECK (get (c, m, &tree, &resolved, &st, &err) < 0);
  CHECK (err.code == MP_ERR_NOT_FOUND && strstr (err.msg, rawd) != NULL);
  snprintf (path, sizeof path, "%s/trees/%s", cache_root, strchr (m, ':') + 1);
  CHECK (statfs (path, &fs) == 0 && (unsigned)fs.f_type != 0xE0F5E1E2u);
  /* Back as a new file: verified and mounted again. */
  put_bytes (rawd, ls[2].data.p, ls[2].data.len);
  REQUIRE (get (c, m, &tree, &resolved, &st, &err) == 0);
  CHECK (st.bytes_verified == (int64_t)ls[2].data.len);
  CHECK_STR (slurp (tree, "a/raw.txt"),
             "raw in a, not a multiple of any block size");

  /* gc with nothing in use: unmounted, removed, the tar gone too. */
  REQUIRE (model_cache_gc (c, NULL, 0, NULL, &err) == 0);
  CHECK (statfs (tree, &fs) < 0 && errno == ENOENT);
  snprintf (path, sizeof path, "%s/trees", cache_root);
  CHECK (count_entries (path) == 0);
  snprintf (path, sizeof path, "%s/layers", cache_root);
  CHECK (count_entries (path) == 0);
  model_cache_close (c);
  for (int i = 0; i < 3; i++)
    {
      blob_free (&ls[i].data);
      blob_free (&ls[i].tar);
    }
  world_free ();
}

TEST_MAIN (T (raw_layers_get_path_and_metadata),
           T (tar_gzip_zstd_and_nested_dirs), T (later_layer_wins),
           T (legacy_cnai_artifact), T (oras_generic_artifact),
           T (index_resolves_to_artifact), T (second_get_does_no_unpacking),
           T (shared_layer_is_one_inode), T (corrupt_blob_leaves_nothing),
           T (diff_id_mismatch), T (unknown_layer_type_is_named),
           T (missing_blob_and_no_space), T (concurrent_gets_unpack_once),
           T (two_caches_race_on_one_root), T (gc_removes_unused_keeps_in_use),
           T (gc_retention_by_time), T (gc_retention_by_size),
           T (open_removes_crash_leftovers), T (durability_across_boots),
           T (pins_keep_trees_through_gc), T (model_entries_bounded),
           T (bound_evicts_least_recently_used),
           T (bound_never_evicts_what_is_in_use),
           T (bound_too_big_fails_naming_sizes), T (bound_min_free_percent),
           T (bound_evicts_again_after_unpacking),
           T (published_in_use_protects_across_processes),
           T (list_shows_sizes_use_and_pins),
           T (bound_and_evictions_never_serve_half_trees),
           T (usage_splits_in_use_and_unused),
           T (verify_once_refuses_altered_tar_data),
           T (verify_once_remembers_per_file),
           T (index_serves_the_model_from_the_blobs))
