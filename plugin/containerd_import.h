/* Import a model into containerd's content and image stores, as a pull
 * would leave it, so that Kubernetes (pullPolicy IfNotPresent) finds it and
 * never reaches for the network.
 *
 * Through containerd's API on ADDRESS, in namespace NS: every blob the top
 * document reaches that containerd lacks (an index's manifests as far as the
 * source has them, each manifest's config and layers) is written with
 * Content.Write and checked by containerd against its digest; manifests
 * and indexes carry the containerd.io/gc.ref.content.* labels that keep
 * their children; then the image NAME points at the top document (created,
 * or updated if it exists) with the label CRI gives the images it manages.
 * Everything is written under a lease that expires by itself, so a failure
 * midway leaves nothing containerd keeps. */
#ifndef MP_PLUGIN_CONTAINERD_IMPORT_H
#define MP_PLUGIN_CONTAINERD_IMPORT_H

#include <stdint.h>

#include "store/cache.h"
#include "util/error.h"

struct containerd_import_stats
{
  int blobs_written; /* blobs containerd did not have */
  int blobs_present; /* blobs it had already */
  int64_t bytes_written;
};

/* DIGEST/MEDIA_TYPE/SIZE: the top document (manifest or index); blobs are
 * read through OPEN/CTX.  Errors name the blob or call that failed;
 * MP_ERR_UNAVAILABLE when containerd does not answer. */
int containerd_import (const char *address, const char *ns, const char *name,
                       const char *digest, const char *media_type, int64_t size,
                       model_blob_open_fn open, void *ctx,
                       struct containerd_import_stats *stats, mp_error *err);

#endif
