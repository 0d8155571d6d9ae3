/* The blob sink's calls, dispatched to the store that provides it. */
#include "model/blobsink.h"

#include <errno.h>
#include <stdlib.h>

struct model_blob_writer
{
  const struct model_blob_sink_ops *ops;
  void *h;
};

bool
model_blob_sink_has (const model_blob_sink *s, const char *digest)
{
  return s->ops->has (s->ctx, digest);
}

model_blob_writer *
model_blob_begin (const model_blob_sink *s, const char *expected_digest,
                  int64_t expected_size, mp_error *err)
{
  model_blob_writer *w = malloc (sizeof *w);

  if (w == NULL)
    {
      mp_error_sys (err, ENOMEM, "blob writer");
      return NULL;
    }
  w->ops = s->ops;
  w->h = s->ops->begin (s->ctx, expected_digest, expected_size, err);
  if (w->h == NULL)
    {
      free (w);
      return NULL;
    }
  return w;
}

int
model_blob_write (model_blob_writer *w, const void *buf, size_t n,
                  mp_error *err)
{
  return w->ops->write (w->h, buf, n, err);
}

int
model_blob_writer_fd (model_blob_writer *w)
{
  return w->ops->fd (w->h);
}

void
model_blob_writer_mark_random (model_blob_writer *w)
{
  w->ops->mark_random (w->h);
}

int
model_blob_commit (model_blob_writer *w, char **digest_out, mp_error *err)
{
  int r = w->ops->commit (w->h, digest_out, err);

  free (w);
  return r;
}

void
model_blob_abort (model_blob_writer *w)
{
  if (w == NULL)
    return;
  w->ops->abort (w->h);
  free (w);
}

int
model_blob_put (const model_blob_sink *s, const void *buf, size_t n,
                char **digest_out, mp_error *err)
{
  model_blob_writer *w = model_blob_begin (s, NULL, (int64_t)n, err);

  if (w == NULL)
    return -1;
  if (model_blob_write (w, buf, n, err) < 0)
    {
      model_blob_abort (w);
      return -1;
    }
  return model_blob_commit (w, digest_out, err);
}
