/* Where new blobs go: a sink that the store provides, so that packing
 * (model/pack) and the registry client (registry/) hand over bytes without
 * knowing where or how they are kept (store/oci_layout makes one of its
 * layout: oci_layout_sink).
 *
 * A writer takes one blob: bytes appended with model_blob_write (or placed
 * with pwrite on model_blob_writer_fd, see below), then model_blob_commit
 * checks the digest and size the writer began with and publishes the blob,
 * or model_blob_abort drops it.  Either frees the writer.  Nothing a
 * writer holds is visible before its commit succeeds. */
#ifndef MP_MODEL_BLOBSINK_H
#define MP_MODEL_BLOBSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* What a store implements.  H is the handle its begin returned. */
struct model_blob_sink_ops
{
  /* The store already holds DIGEST. */
  bool (*has) (void *ctx, const char *digest);
  /* EXPECTED_DIGEST may be NULL (the digest is then whatever was written,
   * sha256), EXPECTED_SIZE -1 if unknown.  NULL with *ERR set on error. */
  void *(*begin) (void *ctx, const char *expected_digest, int64_t expected_size,
                  mp_error *err);
  int (*write) (void *h, const void *buf, size_t n, mp_error *err);
  int (*fd) (void *h);
  void (*mark_random) (void *h);
  int (*commit) (void *h, char **digest_out, mp_error *err);
  void (*abort) (void *h);
};

typedef struct model_blob_sink
{
  const struct model_blob_sink_ops *ops;
  void *ctx;
} model_blob_sink;

typedef struct model_blob_writer model_blob_writer;

bool model_blob_sink_has (const model_blob_sink *s, const char *digest);
model_blob_writer *model_blob_begin (const model_blob_sink *s,
                                     const char *expected_digest,
                                     int64_t expected_size, mp_error *err);
/* Append, hashing as it goes. */
int model_blob_write (model_blob_writer *w, const void *buf, size_t n,
                      mp_error *err);
/* The file under the writer, for writers that place data with pwrite
 * (parallel ranges): call model_blob_writer_mark_random before the first
 * pwrite, and commit then hashes the whole file instead of trusting the
 * running hash. */
int model_blob_writer_fd (model_blob_writer *w);
void model_blob_writer_mark_random (model_blob_writer *w);
/* Check and publish; *DIGEST_OUT (may be NULL) gets the digest.  A
 * mismatch is MP_ERR_DATA_LOSS.  The writer is freed whatever the
 * result. */
int model_blob_commit (model_blob_writer *w, char **digest_out, mp_error *err);
void model_blob_abort (model_blob_writer *w);

/* A whole blob from memory. */
int model_blob_put (const model_blob_sink *s, const void *buf, size_t n,
                    char **digest_out, mp_error *err);

#endif
