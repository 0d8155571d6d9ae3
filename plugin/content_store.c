#include "plugin/content_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "content/content.pb-c.h"
#include "model/digest.h"
#include "plugin/grpc_client.h"
#include "util/cleanup.h"

#define CONTENT_READ "/containerd.services.content.v1.Content/Read"

struct spool
{
  int fd;
  int64_t written;
};

static int
spool_chunk (const ProtobufCMessage *msg, void *opaque, mp_error *err)
{
  const Containerd__Services__Content__V1__ReadContentResponse *r
      = (const void *)msg;
  struct spool *sp = opaque;
  size_t done = 0;

  if (r->offset != sp->written)
    return mp_error_set (err, MP_ERR_INTERNAL,
                         "content API sent offset %lld, expected %lld",
                         (long long)r->offset, (long long)sp->written);
  while (done < r->data.len)
    {
      ssize_t n = write (sp->fd, r->data.data + done, r->data.len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mp_error_sys (err, errno, "spool blob");
      done += (size_t)n;
    }
  sp->written += (int64_t)r->data.len;
  return 0;
}

/* Read DIGEST through containerd's Content API into an unnamed file. */
static int
open_through_api (content_source *src, const char *digest, mp_error *err)
{
  Containerd__Services__Content__V1__ReadContentRequest req
      = CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_REQUEST__INIT;
  struct spool sp = { -1, 0 };
  mp_grpc_client *client;
  int rc;

  sp.fd = open (src->cs->spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (sp.fd < 0)
    return mp_error_sys (err, errno, "spool directory %s", src->cs->spool);
  client = mp_grpc_client_new (src->cs->address, err);
  if (client == NULL || mp_grpc_client_set_namespace (client, src->ns, err) < 0)
    {
      mp_grpc_client_free (client);
      close (sp.fd);
      return -1;
    }
  mp_grpc_client_set_timeout_ms (client, 30 * 60 * 1000);
  req.digest = (char *)digest;
  rc = mp_grpc_client_server_stream (
      client, CONTENT_READ, &req.base,
      &containerd__services__content__v1__read_content_response__descriptor,
      spool_chunk, &sp, err);
  mp_grpc_client_free (client);
  if (rc != 0)
    {
      close (sp.fd);
      if (rc == 5 /* NotFound */)
        err->code = MP_ERR_NOT_FOUND;
      else if (err->code == MP_OK)
        err->code = MP_ERR_UNAVAILABLE;
      return mp_error_prefix (err, "read %s through containerd at %s", digest,
                              src->cs->address);
    }
  if (lseek (sp.fd, 0, SEEK_SET) < 0)
    {
      close (sp.fd);
      return mp_error_sys (err, errno, "spool blob");
    }
  return sp.fd;
}

int
content_store_open_blob (void *ctx, const char *digest, int64_t size,
                         bool *verified, mp_error *err)
{
  content_source *src = ctx;
  content_store *cs = src->cs;
  model_digest d;
  char path[4096];
  struct stat st;
  bool from_dir;
  int fd;

  if (model_digest_parse (digest, &d, err) < 0)
    return -1;
  snprintf (path, sizeof path,
            "%s/io.containerd.content.v1.content/blobs/%s/%s", cs->root,
            model_digest_algo_name (d.algo), model_digest_hex (&d));
  *verified = false;
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  from_dir = fd >= 0;
  if (fd < 0 && errno == ENOENT && cs->address != NULL)
    {
      fd = open_through_api (src, digest, err);
      if (fd < 0)
        return -1;
    }
  else if (fd < 0)
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
  *verified = from_dir && (st.st_uid == 0 || st.st_uid == geteuid ())
              && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
  return fd;
}

int
content_store_read_blob (content_source *src, const char *digest, size_t max,
                         char **buf, size_t *len, mp_error *err)
{
  bool verified; /* the caller verifies documents */
  cleanup_close int fd
      = content_store_open_blob (src, digest, -1, &verified, err);
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
