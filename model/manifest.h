/* model/: the ModelPack and OCI formats, and packing.  Pure functions over
 * bytes and files: digests, media types, references, manifests and
 * indexes (this header), model configs, Modelfiles, packing a directory into
 * blobs (handed to a model_blob_sink, model/blobsink.h).  No network, no
 * cache: nothing here includes registry/, store/, plugin/ or cli/ (checked
 * by scripts/check-layers.sh).
 *
 * OCI image manifests and image indexes, read from untrusted bytes.
 *
 * The parser keeps what the model cache needs: descriptors (media type,
 * validated digest, size), annotations, the artifact type, the subject, and
 * for every layer its classification, its target path and its file
 * metadata.  Docker schema 2 manifests and manifest lists read the same way;
 * fields it does not know are ignored, as OCI asks.  JSON with duplicate
 * keys, and documents whose mediaType disagrees with their shape, are
 * refused: two readers must never see two different manifests in one blob.
 *
 * Layer paths come from annotations and so from the network.  Every one goes
 * through model_path_sanitize(); a layer whose path is unsafe makes the
 * whole manifest invalid, with an error naming the layer and its digest. */
#ifndef MP_MODEL_MANIFEST_H
#define MP_MODEL_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/digest.h"
#include "model/mediatype.h"
#include "model/modelconfig.h"
#include "util/error.h"

/* The most a manifest, index or config may weigh, wherever one is read
 * whole: registries commonly refuse manifests over 4 MiB, and a ModelPack
 * config is a few kilobytes.  A document fetched without a declared size
 * (a manifest by tag) is cut off here. */
#define MODEL_MAX_DOCUMENT (4 * 1024 * 1024)

typedef struct model_annotation
{
  char *key;
  char *value;
} model_annotation;

typedef struct model_annotations
{
  size_t n;
  model_annotation *v;
} model_annotations;

/* The value for key, or NULL. */
const char *model_annotations_get (const model_annotations *a, const char *key);
/* Deep copy of annotations (for entries that outlive the manifest they
 * were read from); *DST is empty after a failure. */
int model_annotations_copy (model_annotations *dst,
                            const model_annotations *src, mp_error *err);
void model_annotations_clear (model_annotations *a);

typedef struct model_platform
{
  char *architecture;
  char *os;
  char *variant;    /* or NULL */
  char *os_version; /* or NULL */
} model_platform;

typedef struct model_descriptor
{
  char *media_type;
  model_digest digest;
  int64_t size;
  char *artifact_type; /* or NULL */
  model_annotations annotations;
  bool has_platform; /* index entries */
  model_platform platform;
} model_descriptor;

enum model_file_type
{
  MODEL_FILE_REGULAR,
  MODEL_FILE_DIR,
  MODEL_FILE_SYMLINK,
  MODEL_FILE_OTHER,
};

/* The org.cncf.model.file.metadata+json annotation.  Absent members are
 * zero, as in the spec's Go decoder. */
typedef struct model_file_metadata
{
  char *name;    /* informational only: paths come from model_layer.path */
  uint32_t mode; /* as written; callers keep only permission bits */
  uint32_t uid;
  uint32_t gid;
  int64_t size;
  bool has_mtime;
  int64_t mtime_sec;
  int32_t mtime_nsec;
  int typeflag; /* as written: 0/5/2 (modctl) or '0'/'5'/'2' (tar) */
  enum model_file_type type;
} model_file_metadata;

enum model_path_source
{
  MODEL_PATH_NONE,
  MODEL_PATH_FILEPATH,        /* org.cncf.model.filepath */
  MODEL_PATH_FILEPATH_LEGACY, /* org.cnai.model.filepath */
  MODEL_PATH_TITLE,           /* org.opencontainers.image.title */
  MODEL_PATH_DOCKER, /* the name Docker Model Runner gives its media type */
};

typedef struct model_layer
{
  model_descriptor desc;
  model_media_type_info type;
  /* Sanitized path relative to the model root, or NULL when no annotation
   * names one.  The model-spec key wins over the title.  For tar layers it
   * may be "." (the layer is the whole tree); raw layers never get ".". */
  char *path;
  enum model_path_source path_source;
  /* The blob is one file's bytes, to be written at `path` (which may be
   * NULL if no annotation names it: the consumer must refuse that), rather
   * than a tar stream.  True for raw ModelPack layers, and in a generic
   * artifact (neither ModelPack nor container image) for every titled layer
   * that oras would not unpack: oras gives plain files the OCI tar layer
   * media type by default, and only a layer annotated
   * io.deis.oras.content.unpack=true is a packed directory. */
  bool is_file;
  bool has_metadata;
  model_file_metadata metadata;
  enum model_opt_bool untested; /* org.cncf.model.file.mediatype.untested */
} model_layer;

typedef struct model_manifest
{
  int schema_version;
  char *media_type;    /* or NULL: the field is optional */
  char *artifact_type; /* or NULL */
  model_descriptor config;
  size_t n_layers;
  model_layer *layers;
  bool has_subject;
  model_descriptor subject;
  model_annotations annotations;
  bool is_modelpack;    /* artifactType or config media type says so */
  bool legacy;          /* ... in the vnd.cnai namespace */
  bool is_image;        /* config is an OCI/Docker image config */
  bool is_docker_model; /* a Docker Model Runner artifact (see below) */
} model_manifest;

/* Docker Model Runner artifacts (config application/vnd.docker.ai.model.
 * config.v0.1+json or v0.2) name some files by media type, not annotation;
 * the parser gives their layers the names Docker's own unpacking gives
 * them (path_source MODEL_PATH_DOCKER), so they unpack like any artifact:
 *   - v0.1, whatever the annotations: the GGUF layers model.gguf (several:
 *     model-00001-of-0000N.gguf, in manifest order), the multimodal
 *     projector model.mmproj, the chat template template.jinja (at most one
 *     of each), a DDUF layer <digest hex>.dduf;
 *   - otherwise a layer's org.cncf.model.filepath wins; without one, a
 *     safetensors layer is model.safetensors (several:
 *     model-00001-of-0000N.safetensors), a license license.txt (several:
 *     license-00001-of-0000N.txt: Docker does not write them at all), the
 *     vLLM config and directory tar archives "." (extracted at the root),
 *     and any other layer has no name (refused when unpacked). */

typedef struct model_index
{
  int schema_version;
  char *media_type;
  char *artifact_type;
  size_t n_manifests;
  model_descriptor *manifests;
  bool has_subject;
  model_descriptor subject;
  model_annotations annotations;
} model_index;

enum model_doc_kind
{
  MODEL_DOC_MANIFEST,
  MODEL_DOC_INDEX,
};

/* Tell a manifest from an index: by mediaType, else by which fields are
 * present.  Contradictions (an index mediaType with layers, ...) fail. */
int model_oci_detect (const void *buf, size_t len, enum model_doc_kind *kind,
                      mp_error *err);

int model_manifest_parse (const void *buf, size_t len, model_manifest **out,
                          mp_error *err);
void model_manifest_free (model_manifest *m);

int model_index_parse (const void *buf, size_t len, model_index **out,
                       mp_error *err);
void model_index_free (model_index *idx);

static inline void
model_manifest_freep (model_manifest **m)
{
  model_manifest_free (*m);
}
static inline void
model_index_freep (model_index **i)
{
  model_index_free (*i);
}
#define cleanup_manifest __attribute__ ((cleanup (model_manifest_freep)))
#define cleanup_index __attribute__ ((cleanup (model_index_freep)))

/* This host's platform: os "linux", architecture and variant from uname(2)
 * in OCI/Go spelling (x86_64 -> amd64, aarch64 -> arm64, armv7l -> arm v7).
 * Free with model_platform_clear(). */
int model_platform_host (model_platform *out, mp_error *err);
void model_platform_clear (model_platform *p);

/* Choose the manifest to use from an index (nested indexes are not
 * followed).  In order of preference:
 *   1. an entry whose platform matches `want` (NULL: this host);
 *   2. the only entry whose artifactType is a ModelPack manifest;
 *   3. the only entry without a platform (artifacts carry none).
 * Returns the entry's position, or -1 with MP_ERR_NOT_FOUND (nothing fits)
 * or MP_ERR_INVALID_ARGUMENT (several artifacts and no way to choose). */
ssize_t model_index_select (const model_index *idx, const model_platform *want,
                            mp_error *err);

/* Make an annotation path safe to use below a directory we own: refuse
 * empty and absolute paths, any ".." component, control characters (and
 * DEL), components over 255 bytes and paths over 4095; drop "." components
 * and repeated or trailing slashes.  A path that names the root itself
 * (".", "./") is refused.  *out is malloc'd. */
int model_path_sanitize (const char *in, char **out, mp_error *err);

#endif
