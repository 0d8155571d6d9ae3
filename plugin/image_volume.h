/* Kubernetes image volumes of ModelPack models.
 *
 * containerd (2.1+) prepares an image volume by calling Prepare on the pod
 * runtime's snapshotter with key
 *   <ns>/<seq>/<CRI state dir>/image-volumes/<sandbox id>/<manifest hex>
 * and, for an artifact with no image layers, an empty parent.  Direct users
 * (ctr, scripts) may instead set the label
 *   containerd.io/snapshot/modelpack.manifest=<digest>.
 * Such a Prepare is answered with an overlay whose only lowerdir is the
 * model's merged, verified tree from the model cache.  Everything else
 * (ordinary image volumes among it) goes down the ordinary snapshot path. */
#ifndef MP_PLUGIN_IMAGE_VOLUME_H
#define MP_PLUGIN_IMAGE_VOLUME_H

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>

#include "store/cache.h"
#include "plugin/content_store.h"
#include "plugin/metrics.h"
#include "plugin/sigcheck.h"
#include "snapshotter/snapshotter.h"

#define IMAGE_VOLUME_LABEL_MANIFEST "containerd.io/snapshot/modelpack.manifest"

typedef struct image_volumes
{
  regex_t key_re; /* group 1: the manifest digest's hex */
  content_store content;
  model_cache *cache;
  /* Prepares hold it shared from fetching a tree until their snapshot is
   * recorded; retention gc holds it exclusively, so it never removes a
   * tree in that gap. */
  pthread_rwlock_t gc_lock;
  /* Serializes publishing the in-use set: each publication reads the
   * snapshots after the previous one, so the last written is never older
   * than a snapshot recorded before it (see image_volumes_publish). */
  pthread_mutex_t publish_mu;
  mp_metrics *metrics; /* NULL: off; set after image_volumes_init */
  /* The signature policy checked before a model is built or mounted
   * (NULL: none); set after image_volumes_init. */
  mp_sigcheck *sig;
} image_volumes;

/* KEY_PATTERN: POSIX extended regex whose first group captures the sha256
 * hex of the manifest (or index) in a Prepare key. */
/* CONTAINERD_ADDRESS (may be NULL) is the fallback for blobs not found
 * under CONTAINERD_ROOT; SPOOL holds what is read through it. */
int image_volumes_init (image_volumes *iv, const char *key_pattern,
                        const char *containerd_root,
                        const char *containerd_address, const char *spool,
                        model_cache *cache, mp_error *err);
void image_volumes_fini (image_volumes *iv);

/* The manifest digest a Prepare asks for as a model, or NULL (malloc'd). */
char *image_volume_match (const image_volumes *iv, const char *key,
                          const char *parent, const snapshot_label *labels,
                          size_t nlabels);

/* Prepare KEY as the image volume of DIGEST.  Returns 1 with *out filled
 * when it did, 0 when DIGEST names an ordinary image (the caller goes on
 * with an ordinary Prepare), -1 on error (a bad or missing artifact: the
 * message says which blob and why, and nothing is left behind). */
int image_volume_prepare (image_volumes *iv, snapshotter *sn, const char *key,
                          const char *ns, const char *digest,
                          const snapshot_label *labels, size_t nlabels,
                          snapshot_mounts *out, mp_error *err);

/* Tell the model cache which models snapshots use now (it publishes them
 * in <cache>/in-use for `modelpack cache prune` and eviction): at start,
 * after a model Prepare recorded its snapshot, after a Remove. */
int image_volumes_publish (image_volumes *iv, snapshotter *sn, mp_error *err);

/* Model-cache retention after snapshot Cleanup: keep what snapshots use. */
int image_volumes_gc (image_volumes *iv, snapshotter *sn, mp_error *err);

#endif
