/* Reading blobs from containerd's content store.
 *
 * containerd keeps every pulled blob at
 *   <containerd root>/io.containerd.content.v1.content/blobs/<algo>/<hex>
 * (the CRI leaves model layers there: they are not image layers, so nothing
 * unpacks or discards them).  Reading the file directly lets raw model
 * layers be reflinked instead of copied.  When the directory is not
 * reachable (containerd in another mount namespace, another root), blobs
 * come through containerd's Content gRPC API instead.  Digests are
 * validated before they become path components; the caller verifies
 * content. */
#ifndef MP_PLUGIN_CONTENT_STORE_H
#define MP_PLUGIN_CONTENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct content_store
{
  char *root;    /* containerd's root directory */
  char *address; /* containerd's socket, for the Content API; or NULL */
  char *spool;   /* directory for blobs read through the API */
} content_store;

/* Where one request's blobs come from: the store, and the containerd
 * namespace (from the snapshot key) the Content API is asked in. */
typedef struct content_source
{
  content_store *cs;
  const char *ns;
} content_source;

/* A model_blob_open_fn over CTX, a content_source: an fd open for reading at
 * offset 0.  The blob file under containerd's root when it is there; else,
 * when an address is set, the blob read through containerd's Content API
 * into an unnamed file in the spool directory.  -1 with MP_ERR_NOT_FOUND
 * when containerd has no such blob.
 *
 * *VERIFIED is set for a file from the content directory that is as
 * containerd leaves a committed blob: a regular file owned by root (or by
 * us), writable by nobody else.  containerd commits a blob under its
 * digest only after checking that digest; whether that is enough (nothing
 * changed the file since) is the model cache's verify_blobs policy.  Blobs
 * read through the API are never vouched for: they pass through our spool
 * file. */
int content_store_open_blob (void *ctx, const char *digest, int64_t size,
                             bool *verified, mp_error *err);

/* Read a whole (small) blob: manifests, indexes, configs.  At most MAX
 * bytes; *buf is malloc'd. */
int content_store_read_blob (content_source *src, const char *digest,
                             size_t max, char **buf, size_t *len,
                             mp_error *err);

#endif
