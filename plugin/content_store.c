#include "plugin/content_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/digest.h"
#include "util/cleanup.h"

int
content_store_open_blob (void *ctx, const char *digest, int64_t size,
                         mp_error *err)
{
  content_store *cs = ctx;
  model_digest d;
  char path[4096];
  struct stat st;
  int fd;

  if (model_digest_parse (digest, &d, err) < 0)
    return -1;
  snprintf (path, sizeof path,
            "%s/io.containerd.content.v1.content/blobs/%s/%s", cs->root,
            model_digest_algo_name (d.algo), model_digest_hex (&d));
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return mp_error_set (err, MP_ERR_NOT_FOUND,
                             "blob %s is not in containerd's content store "
                             "(%s)",
                             digest, path);
      return mp_error_sys (err, errno, "open blob %s", path);
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return mp_error_set (err, MP_ERR_INTERNAL, "blob %s is not a file", path);
    }
  if (size >= 0 && st.st_size != size)
    {
      close (fd);
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "blob %s has %lld bytes, its descriptor says %lld",
                           digest, (long long)st.st_size, (long long)size);
    }
  return fd;
}

int
content_store_read_blob (content_store *cs, const char *digest, size_t max,
                         char **buf, size_t *len, mp_error *err)
{
  cleanup_close int fd = content_store_open_blob (cs, digest, -1, err);
  cleanup_free char *data = NULL;
  struct stat st;
  size_t got = 0;

  if (fd < 0)
    return -1;
  if (fstat (fd, &st) < 0)
    return mp_error_sys (err, errno, "stat blob %s", digest);
  if ((size_t)st.st_size > max)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "blob %s is %lld bytes, more than the %zu a "
                         "manifest or config may have",
                         digest, (long long)st.st_size, max);
  data = malloc ((size_t)st.st_size + 1);
  if (data == NULL)
    return mp_error_sys (err, ENOMEM, "read blob %s", digest);
  while (got < (size_t)st.st_size)
    {
      ssize_t n = read (fd, data + got, (size_t)st.st_size - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return mp_error_sys (err, n < 0 ? errno : EIO, "read blob %s", digest);
      got += (size_t)n;
    }
  data[got] = '\0';
  *buf = steal_pointer (&data);
  *len = got;
  return 0;
}
