/* An OCI image layout as a local store (see oci_layout.h).
 *
 * Locks.  Every open layout holds a shared flock on DIR/.lock for its
 * lifetime, so that gc, which needs it exclusively, never removes a blob
 * another process has written but not yet tagged; gc that cannot get it
 * at once is skipped (it runs again next time).  index.json's
 * read-modify-write is serialized by an exclusive flock on
 * DIR/.index.lock.  An ingest file is flock'ed by its writer, so gc removes
 * only abandoned ones. */
#include "store/oci_layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/digest.h"
#include "model/mediatype.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#define LAYOUT_VERSION "1.0.0"
/* index.json, manifests and indexes are read whole; registries refuse
 * manifests over 4 MiB, and an index of many models stays far below. */
#define MAX_INDEX (64 * 1024 * 1024)
#define MAX_MANIFEST (4 * 1024 * 1024)
#define WRITEBACK_CHUNK (32 << 20)

struct oci_layout
{
  char *dir;
  int dfd;     /* DIR */
  int lock_fd; /* DIR/.lock, flock'ed shared while open */
};

struct oci_blob_writer
{
  oci_layout *l;
  int fd;
  char tmp[64]; /* name under .ingest/ */
  model_hasher *h;
  bool random;
  bool has_expected;
  model_digest expected;
  int64_t expected_size;
  int64_t written;
  int64_t flushed; /* bytes handed to write-back so far */
};

const char *
oci_layout_dir (const oci_layout *l)
{
  return l->dir;
}

static int
write_whole_at (int dfd, const char *name, const char *text, mp_error *err)
{
  char tmp[256];
  size_t len = strlen (text), off = 0;
  int fd;

  snprintf (tmp, sizeof tmp, ".%s.%d.tmp", name, (int)getpid ());
  fd = openat (dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return mp_error_sys (err, errno, "create %s", tmp);
  while (off < len)
    {
      ssize_t n = write (fd, text + off, len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          close (fd);
          unlinkat (dfd, tmp, 0);
          return mp_error_sys (err, e, "write %s", name);
        }
      off += (size_t)n;
    }
  if (fdatasync (fd) < 0 || close (fd) < 0)
    {
      int e = errno;
      unlinkat (dfd, tmp, 0);
      return mp_error_sys (err, e, "write %s", name);
    }
  if (renameat (dfd, tmp, dfd, name) < 0)
    {
      int e = errno;
      unlinkat (dfd, tmp, 0);
      return mp_error_sys (err, e, "rename %s", name);
    }
  return 0;
}

/* Read DIR-relative NAME whole (at most MAX bytes); NULL with errno. */
static char *
read_whole_at (int dfd, const char *name, size_t max, size_t *len)
{
  cleanup_close int fd = openat (dfd, name, O_RDONLY | O_CLOEXEC);
  cleanup_free char *buf = NULL;
  size_t cap = 0, n = 0;

  if (fd < 0)
    return NULL;
  for (;;)
    {
      ssize_t r;

      if (n == cap)
        {
          char *bigger;

          if (cap >= max + 1)
            {
              errno = EFBIG;
              return NULL;
            }
          cap = cap ? cap * 2 : 65536;
          if (cap > max + 1)
            cap = max + 1;
          bigger = realloc (buf, cap + 1);
          if (bigger == NULL)
            return NULL;
          buf = bigger;
        }
      r = read (fd, buf + n, cap - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return NULL;
      if (r == 0)
        break;
      n += (size_t)r;
    }
  if (n > max)
    {
      errno = EFBIG;
      return NULL;
    }
  buf[n] = '\0';
  *len = n;
  return steal_pointer (&buf);
}

/* Remove ingest files whose writer is gone (no flock on them) and that
 * were last written at least MIN_AGE seconds ago: gc passes 0 (it holds
 * the store exclusively), open a margin, as a writer flocks its file just
 * after creating it. */
static void
sweep_ingest (oci_layout *l, time_t min_age)
{
  int fd = openat (l->dfd, ".ingest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *e;
  time_t now = time (NULL);

  if (d == NULL && fd >= 0)
    close (fd);
  while (d != NULL && (e = readdir (d)) != NULL)
    {
      struct stat st;
      int f;

      if (e->d_name[0] == '.')
        continue;
      f = openat (dirfd (d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (f >= 0 && fstat (f, &st) == 0 && now - st.st_mtime >= min_age
          && flock (f, LOCK_EX | LOCK_NB) == 0)
        unlinkat (dirfd (d), e->d_name, 0);
      if (f >= 0)
        close (f);
    }
  if (d != NULL)
    closedir (d);
}

oci_layout *
oci_layout_open (const char *dir, bool create, mp_error *err)
{
  cleanup_free oci_layout *l = calloc (1, sizeof *l);
  struct stat st;

  if (l == NULL)
    {
      mp_error_sys (err, ENOMEM, "open layout");
      return NULL;
    }
  l->dfd = l->lock_fd = -1;
  if (stat (dir, &st) == 0 && !S_ISDIR (st.st_mode))
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "%s is not a directory: an OCI layout store must be one",
                    dir);
      return NULL;
    }
  if (create && mp_mkdir_p (dir, 0755, err) < 0)
    return NULL;
  l->dir = strdup (dir);
  l->dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (l->dir == NULL || l->dfd < 0)
    {
      if (errno == ENOENT)
        mp_error_set (err, MP_ERR_NOT_FOUND, "no OCI layout at %s", dir);
      else
        mp_error_sys (err, errno, "open %s", dir);
      goto fail;
    }
  if (faccessat (l->dfd, "oci-layout", F_OK, 0) < 0)
    {
      if (!create)
        {
          mp_error_set (err, MP_ERR_NOT_FOUND,
                        "%s is not an OCI layout (no oci-layout file)", dir);
          goto fail;
        }
      if ((mkdirat (l->dfd, "blobs", 0755) < 0 && errno != EEXIST)
          || (mkdirat (l->dfd, "blobs/sha256", 0755) < 0 && errno != EEXIST))
        {
          mp_error_sys (err, errno, "create %s/blobs", dir);
          goto fail;
        }
      if (faccessat (l->dfd, "index.json", F_OK, 0) < 0
          && write_whole_at (l->dfd, "index.json",
                             "{\"schemaVersion\":2,\"mediaType\":\""
                             "application/vnd.oci.image.index.v1+json\","
                             "\"manifests\":[]}\n",
                             err)
                 < 0)
        goto fail;
      if (write_whole_at (l->dfd, "oci-layout",
                          "{\"imageLayoutVersion\":\"" LAYOUT_VERSION "\"}\n",
                          err)
          < 0)
        goto fail;
    }
  if (mkdirat (l->dfd, ".ingest", 0700) < 0 && errno != EEXIST)
    {
      /* A read-only layout (an export someone else made) is readable. */
      if (errno != EROFS && errno != EACCES)
        {
          mp_error_sys (err, errno, "create %s/.ingest", dir);
          goto fail;
        }
    }
  /* What a killed pull left behind goes at the next open. */
  if (create)
    sweep_ingest (l, 60);
  l->lock_fd = openat (l->dfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (l->lock_fd >= 0)
    while (flock (l->lock_fd, LOCK_SH) < 0 && errno == EINTR)
      ;
  return steal_pointer (&l);

fail:
  if (l->dfd >= 0)
    close (l->dfd);
  free (l->dir);
  return NULL;
}

void
oci_layout_close (oci_layout *l)
{
  if (l == NULL)
    return;
  if (l->lock_fd >= 0)
    close (l->lock_fd);
  close (l->dfd);
  free (l->dir);
  free (l);
}

/* "blobs/<algo>/<hex>" for a valid digest, else false. */
static bool
blob_rel (const char *digest, char *out, size_t outsize)
{
  model_digest d;

  if (model_digest_parse (digest, &d, NULL) < 0)
    return false;
  snprintf (out, outsize, "blobs/%s/%s", model_digest_algo_name (d.algo),
            model_digest_hex (&d));
  return true;
}

bool
oci_layout_has_blob (oci_layout *l, const char *digest)
{
  char rel[200];
  struct stat st;

  return blob_rel (digest, rel, sizeof rel)
         && fstatat (l->dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0
         && S_ISREG (st.st_mode);
}

char *
oci_layout_blob_path (oci_layout *l, const char *digest)
{
  char rel[200], *p = NULL;

  if (!blob_rel (digest, rel, sizeof rel)
      || asprintf (&p, "%s/%s", l->dir, rel) < 0)
    return NULL;
  return p;
}

int
oci_layout_open_blob (void *ctx, const char *digest, int64_t size,
                      bool *verified, mp_error *err)
{
  oci_layout *l = ctx;
  char rel[200];
  struct stat st;
  int fd;

  *verified = false;
  if (!blob_rel (digest, rel, sizeof rel))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "invalid digest \"%s\"",
                         digest);
  fd = openat (l->dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return mp_error_set (err, MP_ERR_NOT_FOUND, "blob %s is not in %s", digest,
                         l->dir);
  if (fd < 0)
    return mp_error_sys (err, errno, "open blob %s in %s", digest, l->dir);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || (size >= 0 && st.st_size != size))
    {
      close (fd);
      return mp_error_set (err, MP_ERR_DATA_LOSS,
                           "blob %s in %s is not a file of %" PRId64 " bytes",
                           digest, l->dir, size);
    }
  return fd;
}

int
oci_layout_read_blob (oci_layout *l, const char *digest, size_t max, char **buf,
                      size_t *len, mp_error *err)
{
  char rel[200];
  model_digest want, got;
  cleanup_free char *data = NULL;

  if (model_digest_parse (digest, &want, err) < 0
      || !blob_rel (digest, rel, sizeof rel))
    return -1;
  data = read_whole_at (l->dfd, rel, max, len);
  if (data == NULL && errno == ENOENT)
    return mp_error_set (err, MP_ERR_NOT_FOUND, "blob %s is not in %s", digest,
                         l->dir);
  if (data == NULL)
    return mp_error_sys (err, errno, "read blob %s in %s", digest, l->dir);
  if (model_digest_buffer (want.algo, data, *len, &got, err) < 0)
    return -1;
  if (!model_digest_equal (&want, &got))
    return mp_error_set (err, MP_ERR_DATA_LOSS,
                         "blob %s in %s has digest %s: the store is corrupt",
                         digest, l->dir, got.str);
  *buf = steal_pointer (&data);
  return 0;
}

/* ---- writing blobs ----------------------------------------------------- */

oci_blob_writer *
oci_layout_blob_begin (oci_layout *l, const char *expected_digest,
                       int64_t expected_size, mp_error *err)
{
  cleanup_free oci_blob_writer *w = calloc (1, sizeof *w);
  unsigned rnd;

  if (w == NULL)
    {
      mp_error_sys (err, ENOMEM, "blob writer");
      return NULL;
    }
  w->l = l;
  w->fd = -1;
  w->expected_size = expected_size;
  if (expected_digest != NULL)
    {
      if (model_digest_parse (expected_digest, &w->expected, err) < 0)
        return NULL;
      w->has_expected = true;
    }
  w->h = model_hasher_new (
      w->has_expected ? w->expected.algo : MODEL_DIGEST_SHA256, err);
  if (w->h == NULL)
    return NULL;
  for (int i = 0; i < 16 && w->fd < 0; i++)
    {
      if (getentropy (&rnd, sizeof rnd) < 0)
        rnd = (unsigned)getpid () * 2654435761u + (unsigned)i;
      snprintf (w->tmp, sizeof w->tmp, ".ingest/%08x", rnd);
      w->fd = openat (l->dfd, w->tmp,
                      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (w->fd < 0 && errno != EEXIST)
        break;
    }
  if (w->fd < 0)
    {
      mp_error_sys (err, errno, "create a blob in %s/.ingest", l->dir);
      model_hasher_free (w->h);
      return NULL;
    }
  /* Marks the file as live for gc. */
  flock (w->fd, LOCK_EX | LOCK_NB);
  return steal_pointer (&w);
}

int
oci_blob_write (oci_blob_writer *w, const void *buf, size_t n, mp_error *err)
{
  const char *p = buf;
  size_t off = 0;

  if (model_hasher_update (w->h, buf, n, err) < 0)
    return -1;
  while (off < n)
    {
      ssize_t r = write (w->fd, p + off, n - off);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return mp_error_sys (err, errno, "write blob into %s", w->l->dir);
      off += (size_t)r;
    }
  w->written += (int64_t)n;
  /* Start write-back as the blob grows, so that the fdatasync at commit
   * waits only for the tail instead of the whole blob (a machine with
   * much memory would otherwise keep it all dirty until then). */
  if (w->written - w->flushed >= WRITEBACK_CHUNK)
    {
      sync_file_range (w->fd, w->flushed, w->written - w->flushed,
                       SYNC_FILE_RANGE_WRITE);
      w->flushed = w->written;
    }
  return 0;
}

int
oci_blob_writer_fd (oci_blob_writer *w)
{
  return w->fd;
}

void
oci_blob_writer_mark_random (oci_blob_writer *w)
{
  w->random = true;
}

static void
writer_free (oci_blob_writer *w)
{
  if (w->fd >= 0)
    close (w->fd);
  if (w->tmp[0] != '\0')
    unlinkat (w->l->dfd, w->tmp, 0);
  model_hasher_free (w->h);
  free (w);
}

void
oci_blob_abort (oci_blob_writer *w)
{
  if (w != NULL)
    writer_free (w);
}

int
oci_blob_commit (oci_blob_writer *w, char **digest_out, mp_error *err)
{
  model_digest got;
  struct stat st;
  char rel[200];
  int rc = -1;

  if (fstat (w->fd, &st) < 0)
    {
      mp_error_sys (err, errno, "stat blob in %s", w->l->dir);
      goto out;
    }
  if (w->random)
    {
      if (lseek (w->fd, 0, SEEK_SET) < 0
          || model_digest_fd (w->fd,
                              w->has_expected ? w->expected.algo
                                              : MODEL_DIGEST_SHA256,
                              &got, NULL, err)
                 < 0)
        goto out;
    }
  else if (model_hasher_final (w->h, &got, err) < 0)
    goto out;
  if (w->expected_size >= 0 && st.st_size != w->expected_size)
    {
      mp_error_set (err, MP_ERR_DATA_LOSS,
                    "blob %s: got %lld bytes, expected %" PRId64,
                    w->has_expected ? w->expected.str : got.str,
                    (long long)st.st_size, w->expected_size);
      goto out;
    }
  if (w->has_expected && !model_digest_equal (&w->expected, &got))
    {
      mp_error_set (err, MP_ERR_DATA_LOSS,
                    "blob %s: the bytes received have digest %s",
                    w->expected.str, got.str);
      goto out;
    }
  blob_rel (got.str, rel, sizeof rel);
  {
    char dir[200];
    snprintf (dir, sizeof dir, "blobs/%s", model_digest_algo_name (got.algo));
    if (mkdirat (w->l->dfd, dir, 0755) < 0 && errno != EEXIST)
      {
        mp_error_sys (err, errno, "create %s/%s", w->l->dir, dir);
        goto out;
      }
  }
  if (fdatasync (w->fd) < 0)
    {
      mp_error_sys (err, errno, "sync blob %s", got.str);
      goto out;
    }
  /* Same name, same content: an existing blob stays as it is. */
  if (renameat (w->l->dfd, w->tmp, w->l->dfd, rel) < 0)
    {
      mp_error_sys (err, errno, "store blob %s in %s", got.str, w->l->dir);
      goto out;
    }
  w->tmp[0] = '\0';
  if (digest_out != NULL && (*digest_out = strdup (got.str)) == NULL)
    {
      mp_error_sys (err, ENOMEM, "blob digest");
      goto out;
    }
  rc = 0;
out:
  writer_free (w);
  return rc;
}

/* ---- the layout as a blob sink (model/blobsink.h) ----------------------- */

static bool
sink_has (void *ctx, const char *digest)
{
  return oci_layout_has_blob (ctx, digest);
}

static void *
sink_begin (void *ctx, const char *digest, int64_t size, mp_error *err)
{
  return oci_layout_blob_begin (ctx, digest, size, err);
}

static int
sink_write (void *h, const void *buf, size_t n, mp_error *err)
{
  return oci_blob_write (h, buf, n, err);
}

static int
sink_fd (void *h)
{
  return oci_blob_writer_fd (h);
}

static void
sink_mark_random (void *h)
{
  oci_blob_writer_mark_random (h);
}

static int
sink_commit (void *h, char **digest_out, mp_error *err)
{
  return oci_blob_commit (h, digest_out, err);
}

static void
sink_abort (void *h)
{
  oci_blob_abort (h);
}

void
oci_layout_sink (oci_layout *l, model_blob_sink *out)
{
  static const struct model_blob_sink_ops ops = {
    .has = sink_has,
    .begin = sink_begin,
    .write = sink_write,
    .fd = sink_fd,
    .mark_random = sink_mark_random,
    .commit = sink_commit,
    .abort = sink_abort,
  };

  out->ops = &ops;
  out->ctx = l;
}

int
oci_layout_put_blob (oci_layout *l, const void *buf, size_t n,
                     char **digest_out, mp_error *err)
{
  model_blob_sink s;

  oci_layout_sink (l, &s);
  return model_blob_put (&s, buf, n, digest_out, err);
}

/* ---- index.json --------------------------------------------------------- */

static int
index_lock (oci_layout *l, mp_error *err)
{
  int fd = openat (l->dfd, ".index.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);

  if (fd < 0)
    return mp_error_sys (err, errno, "lock %s/index.json", l->dir);
  while (flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      {
        close (fd);
        return mp_error_sys (err, errno, "lock %s/index.json", l->dir);
      }
  return fd;
}

static json_t *
index_read (oci_layout *l, mp_error *err)
{
  size_t len;
  cleanup_free char *text
      = read_whole_at (l->dfd, "index.json", MAX_INDEX, &len);
  json_error_t je;
  json_t *idx, *m;

  if (text == NULL)
    {
      mp_error_sys (err, errno, "read %s/index.json", l->dir);
      return NULL;
    }
  idx = json_loadb (text, len, JSON_REJECT_DUPLICATES, &je);
  if (idx == NULL || !json_is_object (idx))
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "%s/index.json: not a JSON object (%s)", l->dir,
                    idx == NULL ? je.text : "wrong type");
      json_decref (idx);
      return NULL;
    }
  m = json_object_get (idx, "manifests");
  if (m == NULL)
    json_object_set_new (idx, "manifests", m = json_array ());
  if (!json_is_array (m))
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "%s/index.json: \"manifests\" is not an array", l->dir);
      json_decref (idx);
      return NULL;
    }
  return idx;
}

static int
index_write (oci_layout *l, json_t *idx, mp_error *err)
{
  cleanup_free char *text = json_dumps (idx, JSON_INDENT (2));
  cleanup_free char *line = NULL;

  if (text == NULL || asprintf (&line, "%s\n", text) < 0)
    return mp_error_sys (err, ENOMEM, "write index.json");
  return write_whole_at (l->dfd, "index.json", line, err);
}

static const char *
entry_name (json_t *e)
{
  return json_string_value (json_object_get (json_object_get (e, "annotations"),
                                             OCI_ANNOTATION_REF_NAME));
}

static bool
entry_matches (json_t *e, const char *name)
{
  const char *n = entry_name (e);

  if (n != NULL && strcmp (n, name) == 0)
    return true;
  if (n == NULL && model_digest_is_valid (name))
    {
      const char *d = json_string_value (json_object_get (e, "digest"));
      return d != NULL && strcmp (d, name) == 0;
    }
  return false;
}

static int
ref_from_entry (json_t *e, oci_layout_ref *r)
{
  const char *n = entry_name (e);
  const char *mt = json_string_value (json_object_get (e, "mediaType"));
  const char *d = json_string_value (json_object_get (e, "digest"));
  const char *at = json_string_value (json_object_get (e, "artifactType"));

  memset (r, 0, sizeof *r);
  r->size = json_integer_value (json_object_get (e, "size"));
  r->name = n ? strdup (n) : NULL;
  r->media_type = strdup (mt ? mt : "");
  r->digest = strdup (d ? d : "");
  r->artifact_type = at ? strdup (at) : NULL;
  if ((n && !r->name) || !r->media_type || !r->digest
      || (at && !r->artifact_type))
    return -1;
  return 0;
}

void
oci_layout_refs_free (oci_layout_ref *refs, size_t n)
{
  if (refs == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    {
      free (refs[i].name);
      free (refs[i].media_type);
      free (refs[i].digest);
      free (refs[i].artifact_type);
    }
}

int
oci_layout_tag (oci_layout *l, const char *name, const char *media_type,
                const char *digest, int64_t size, const char *artifact_type,
                mp_error *err)
{
  cleanup_close int lk = -1;
  json_t *idx, *arr, *e;
  size_t i;
  int rc;

  if (name == NULL || *name == '\0' || !model_digest_is_valid (digest))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "tag: a name and a valid digest are required");
  if (!oci_layout_has_blob (l, digest))
    return mp_error_set (err, MP_ERR_NOT_FOUND, "tag %s: blob %s is not in %s",
                         name, digest, l->dir);
  lk = index_lock (l, err);
  if (lk < 0)
    return -1;
  idx = index_read (l, err);
  if (idx == NULL)
    return -1;
  arr = json_object_get (idx, "manifests");
  for (i = 0; i < json_array_size (arr);)
    if (entry_matches (json_array_get (arr, i), name)
        && entry_name (json_array_get (arr, i)) != NULL)
      json_array_remove (arr, i);
    else
      i++;
  e = json_pack ("{s:s,s:s,s:I,s:{s:s}}", "mediaType", media_type, "digest",
                 digest, "size", (json_int_t)size, "annotations",
                 OCI_ANNOTATION_REF_NAME, name);
  if (e != NULL && artifact_type != NULL)
    json_object_set_new (e, "artifactType", json_string (artifact_type));
  if (e == NULL || json_array_append_new (arr, e) < 0)
    {
      json_decref (idx);
      return mp_error_sys (err, ENOMEM, "tag %s", name);
    }
  rc = index_write (l, idx, err);
  json_decref (idx);
  return rc;
}

int
oci_layout_resolve (oci_layout *l, const char *name, oci_layout_ref *out,
                    mp_error *err)
{
  json_t *idx = index_read (l, err), *arr;
  int rc = -1;

  if (idx == NULL)
    return -1;
  arr = json_object_get (idx, "manifests");
  for (size_t i = json_array_size (arr); i-- > 0;)
    if (entry_matches (json_array_get (arr, i), name))
      {
        rc = ref_from_entry (json_array_get (arr, i), out);
        if (rc < 0)
          {
            oci_layout_refs_free (out, 1);
            mp_error_sys (err, ENOMEM, "resolve %s", name);
          }
        json_decref (idx);
        return rc;
      }
  json_decref (idx);
  return mp_error_set (err, MP_ERR_NOT_FOUND, "%s is not in the store %s", name,
                       l->dir);
}

int
oci_layout_list (oci_layout *l, oci_layout_ref **refs, size_t *n, mp_error *err)
{
  json_t *idx = index_read (l, err), *arr;
  oci_layout_ref *v;
  size_t cnt;

  if (idx == NULL)
    return -1;
  arr = json_object_get (idx, "manifests");
  cnt = json_array_size (arr);
  v = calloc (cnt ? cnt : 1, sizeof *v);
  if (v == NULL)
    {
      json_decref (idx);
      return mp_error_sys (err, ENOMEM, "list %s", l->dir);
    }
  for (size_t i = 0; i < cnt; i++)
    if (ref_from_entry (json_array_get (arr, i), &v[i]) < 0)
      {
        oci_layout_refs_free (v, i + 1);
        free (v);
        json_decref (idx);
        return mp_error_sys (err, ENOMEM, "list %s", l->dir);
      }
  json_decref (idx);
  *refs = v;
  *n = cnt;
  return 0;
}

int
oci_layout_untag (oci_layout *l, const char *name, mp_error *err)
{
  cleanup_close int lk = index_lock (l, err);
  json_t *idx, *arr;
  bool found = false;
  int rc;

  if (lk < 0)
    return -1;
  idx = index_read (l, err);
  if (idx == NULL)
    return -1;
  arr = json_object_get (idx, "manifests");
  for (size_t i = 0; i < json_array_size (arr);)
    if (entry_matches (json_array_get (arr, i), name))
      {
        json_array_remove (arr, i);
        found = true;
      }
    else
      i++;
  if (!found)
    {
      json_decref (idx);
      return mp_error_set (err, MP_ERR_NOT_FOUND, "%s is not in the store %s",
                           name, l->dir);
    }
  rc = index_write (l, idx, err);
  json_decref (idx);
  return rc;
}

/* ---- gc --------------------------------------------------------------------
 */

struct marks
{
  char **v;
  size_t n, cap;
};

static bool
marked (const struct marks *m, const char *d)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp (m->v[i], d) == 0)
      return true;
  return false;
}

/* Mark DIGEST and, if it is a manifest or an index in the store, what it
 * refers to: every "digest" of a descriptor object anywhere in it. */
static int mark_json (oci_layout *l, struct marks *m, json_t *j, int depth);

static int
mark (oci_layout *l, struct marks *m, const char *digest, int depth)
{
  size_t len;
  char rel[200];
  cleanup_free char *text = NULL;
  json_t *j;
  int rc;

  if (!model_digest_is_valid (digest) || marked (m, digest))
    return 0;
  if (m->n == m->cap)
    {
      size_t cap = m->cap ? m->cap * 2 : 64;
      char **v = realloc (m->v, cap * sizeof *v);
      if (v == NULL)
        return -1;
      m->v = v;
      m->cap = cap;
    }
  if ((m->v[m->n] = strdup (digest)) == NULL)
    return -1;
  m->n++;
  if (depth > 8 || !blob_rel (digest, rel, sizeof rel))
    return 0;
  /* Only small blobs can be manifests, indexes or configs. */
  {
    struct stat st;
    if (fstatat (l->dfd, rel, &st, 0) < 0 || st.st_size > MAX_MANIFEST)
      return 0;
  }
  text = read_whole_at (l->dfd, rel, MAX_MANIFEST, &len);
  if (text == NULL)
    return 0;
  j = json_loadb (text, len, 0, NULL);
  if (j == NULL)
    return 0;
  rc = mark_json (l, m, j, depth + 1);
  json_decref (j);
  return rc;
}

static int
mark_json (oci_layout *l, struct marks *m, json_t *j, int depth)
{
  if (json_is_object (j))
    {
      const char *k;
      json_t *v;
      const char *d = json_string_value (json_object_get (j, "digest"));

      if (d != NULL && json_is_string (json_object_get (j, "mediaType"))
          && mark (l, m, d, depth) < 0)
        return -1;
      json_object_foreach (j, k, v)
      {
        if (mark_json (l, m, v, depth) < 0)
          return -1;
      }
    }
  else if (json_is_array (j))
    {
      size_t i;
      json_t *v;
      json_array_foreach (j, i, v)
      {
        if (mark_json (l, m, v, depth) < 0)
          return -1;
      }
    }
  return 0;
}

int
oci_layout_gc (oci_layout *l, int64_t *freed, mp_error *err)
{
  struct marks m = { 0 };
  json_t *idx;
  DIR *d;
  struct dirent *e;
  int64_t total = 0;
  int rc = -1;

  if (freed != NULL)
    *freed = 0;
  /* Exclusive: no other process has the layout open (it may have written
   * blobs it has not tagged yet).  Otherwise collect another time. */
  if (l->lock_fd < 0 || flock (l->lock_fd, LOCK_EX | LOCK_NB) < 0)
    return 0;
  idx = index_read (l, err);
  if (idx == NULL)
    goto out;
  if (mark_json (l, &m, json_object_get (idx, "manifests"), 0) < 0)
    {
      json_decref (idx);
      mp_error_sys (err, ENOMEM, "gc %s", l->dir);
      goto out;
    }
  json_decref (idx);
  {
    const char *sub[] = { "blobs/sha256", "blobs/sha512" };
    for (size_t s = 0; s < 2; s++)
      {
        int fd = openat (l->dfd, sub[s], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
          continue;
        d = fdopendir (fd);
        if (d == NULL)
          {
            close (fd);
            continue;
          }
        while ((e = readdir (d)) != NULL)
          {
            char dg[NAME_MAX + 16];
            struct stat st;

            if (e->d_name[0] == '.')
              continue;
            snprintf (dg, sizeof dg, "%s:%s", sub[s] + 6, e->d_name);
            if (marked (&m, dg))
              continue;
            if (fstatat (dirfd (d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
              total += st.st_size;
            unlinkat (dirfd (d), e->d_name, 0);
          }
        closedir (d);
      }
  }
  sweep_ingest (l, 0);
  if (freed != NULL)
    *freed = total;
  rc = 0;
out:
  for (size_t i = 0; i < m.n; i++)
    free (m.v[i]);
  free (m.v);
  flock (l->lock_fd, LOCK_SH);
  return rc;
}
