/* Reading blobs from containerd's content store.
 *
 * containerd keeps every pulled blob at
 *   <containerd root>/io.containerd.content.v1.content/blobs/<algo>/<hex>
 * (the CRI leaves model layers there: they are not image layers, so nothing
 * unpacks or discards them).  Reading the file directly lets raw model
 * layers be reflinked instead of copied.  Digests are validated before they
 * become path components; the caller verifies content. */
#ifndef MP_PLUGIN_CONTENT_STORE_H
#define MP_PLUGIN_CONTENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct content_store
{
  char *root; /* containerd's root directory */
} content_store;

/* A model_blob_open_fn over CTX, a content_store: an fd open for reading at
 * offset 0, or -1 with MP_ERR_NOT_FOUND when containerd has no such blob. */
int content_store_open_blob (void *ctx, const char *digest, int64_t size,
                             mp_error *err);

/* Read a whole (small) blob: manifests, indexes, configs.  At most MAX
 * bytes; *buf is malloc'd. */
int content_store_read_blob (content_store *cs, const char *digest, size_t max,
                             char **buf, size_t *len, mp_error *err);

#endif
