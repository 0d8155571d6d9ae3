/* Packing a model directory into a ModelPack artifact in an OCI layout.
 *
 * One layer per file, in path order: raw (the file's bytes) or a tar of
 * that one file (optionally gzip or zstd compressed), media type
 * application/vnd.cncf.model.<kind>.v1.<format>, annotated with
 * org.cncf.model.filepath, org.cncf.model.file.metadata+json and (for
 * generic OCI tools) org.opencontainers.image.title, all naming the path.  The
 * config carries the Modelfile's fields and modelfs.diffIds; the manifest
 * has artifactType application/vnd.cncf.model.manifest.v1+json.
 *
 * Reproducible: the same files (names, bytes, permission bits) and the
 * same Modelfile give the same manifest digest.  Tar headers are
 * normalized (owner 0:0 without names, mtime 0), gzip carries no name or
 * time, zstd is single-threaded at a fixed level, and nothing records a
 * time unless KEEP_TIMES (then file mtimes and createdAt are kept).  Every
 * file is read once: hashed as it is written into the store. */
#ifndef MP_MODEL_PACK_H
#define MP_MODEL_PACK_H

#include <stdbool.h>
#include <stdint.h>

#include "model/mediatype.h"
#include "model/modelfile.h"
#include "model/blobsink.h"
#include "util/error.h"

struct model_pack_opts
{
  const char *src;     /* the model directory */
  const modelfile *mf; /* which files, of what kind; NULL: classify by name */
  enum model_layer_format format;
  bool keep_times;
  /* Progress, per file packed (may be NULL). */
  void (*progress) (void *ctx, const char *path, int64_t size);
  void *progress_ctx;
};

struct model_pack_result
{
  char *manifest_digest; /* malloc'd */
  int64_t manifest_size;
  int64_t total_size; /* config and layer blobs */
  size_t n_layers;
};

/* Pack O->src into the sink L (blobs only: the caller tags the manifest).
 * Errors: MP_ERR_NOT_FOUND for a missing source directory,
 * MP_ERR_INVALID_ARGUMENT for a model with no files or a config that fails
 * model-spec's rules (naming the field), MP_ERR_INTERNAL for I/O. */
int model_pack (const model_blob_sink *l, const struct model_pack_opts *o,
                struct model_pack_result *out, mp_error *err);
void model_pack_result_free (struct model_pack_result *r);

#endif
