/* A CRI-O additional artifact store fed from the model cache.
 *
 * CRI-O (1.36+) mounts an artifact image volume by bind-mounting each
 * layer's blob as one file named by its title; it never unpacks.  We
 * re-express a model for it: the model's merged tree from the cache, one
 * raw layer per regular file, titled (and org.cncf.model.filepath'ed) by
 * the file's path, in an OCI image layout at STORE/artifacts/ that CRI-O
 * reads (`additional_artifact_stores = ["STORE"]`).  Each blob is a hard
 * link to the tree's file, so the export costs no second copy; a store on
 * another filesystem gets copies instead (counted in the stats).
 *
 *   STORE/artifacts/index.json   one entry per name (ref.name annotation)
 *   STORE/artifacts/blobs/...    the files, the config and the manifest
 *
 * The exported manifest is a ModelPack manifest: the source config with
 * modelfs.diffIds replaced by the new layers' digests, the source manifest's
 * annotations plus CRIO_STORE_ANNOTATION_SOURCE naming the source manifest.
 * The cache keeps every exported tree through gc with a pin per store and
 * source manifest.  The name appears in index.json last: a failure leaves
 * the store as it was (blobs not yet named are removed). */
#ifndef MP_PLUGIN_CRIO_STORE_H
#define MP_PLUGIN_CRIO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store/cache.h"
#include "store/oci_layout.h"
#include "util/error.h"

#define CRIO_STORE_ANNOTATION_SOURCE "io.modelpack.snapshotter.source"
/* On exports the daemon's sync made: the model store they mirror. */
#define CRIO_STORE_ANNOTATION_ORIGIN "io.modelpack.snapshotter.origin"

struct crio_export_stats
{
  int files;            /* layers written */
  int linked;           /* ... whose blob is a hard link into the cache */
  int copied;           /* ... copied (store on another filesystem) */
  int skipped_symlinks; /* symlinks in the tree (CRI-O mounts files only) */
  int64_t bytes;        /* file bytes exported */
  char *digest;         /* the exported manifest (malloc'd) */
  char *source;         /* the source manifest it came from (malloc'd) */
};
void crio_export_stats_clear (struct crio_export_stats *s);

/* Export DIGEST (a manifest or index, read through OPEN/CTX as the cache
 * does) under NAME into STORE (ORIGIN, may be NULL: see
 * CRIO_STORE_ANNOTATION_ORIGIN), building its tree in CACHE first.  STORE is
 * created if missing; anything other than a directory is
 * MP_ERR_INVALID_ARGUMENT.  Errors of the cache build (a blob that fails
 * verification, a bad artifact) come back as the cache gives them. */
int crio_store_add (const char *store, model_cache *cache, const char *name,
                    const char *digest, const char *origin,
                    model_blob_open_fn open, void *ctx,
                    struct crio_export_stats *stats, mp_error *err);

/* Remove NAME from STORE, its blobs no other entry uses, and its pin.
 * MP_ERR_NOT_FOUND if STORE has no such name. */
int crio_store_remove (const char *store, model_cache *cache, const char *name,
                       mp_error *err);

/* The entries of STORE (empty if STORE/artifacts does not exist yet); each
 * ref's digest is the exported manifest.  SOURCES (may be NULL) gets, per
 * entry, the source manifest digest or NULL (malloc'd array of malloc'd
 * strings); ORIGINS (may be NULL) likewise the origin annotation. */
int crio_store_list (const char *store, oci_layout_ref **refs, size_t *n,
                     char ***sources, char ***origins, mp_error *err);

#endif
