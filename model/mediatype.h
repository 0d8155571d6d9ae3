/* Media types and annotation keys of ModelPack (CNCF model-spec) artifacts,
 * and the classification of a layer's media type into what kind of content
 * it holds and how it is packed.
 *
 * ModelPack layers are application/vnd.cncf.model.<kind>.v1.<format>; spec
 * versions up to v0.0.6 used the vnd.cnai.model namespace, which is read the
 * same way with `legacy` set.  OCI and Docker image layers are tar streams.
 * Any other media type is "other": in a generic OCI artifact (oras) such a
 * layer is one file's raw bytes, named by its title annotation. */
#ifndef MP_MODEL_MEDIATYPE_H
#define MP_MODEL_MEDIATYPE_H

#include <stdbool.h>

#define MODEL_ARTIFACT_TYPE_MANIFEST                                           \
  "application/vnd.cncf.model.manifest.v1+json"
#define MODEL_ARTIFACT_TYPE_MANIFEST_LEGACY                                    \
  "application/vnd.cnai.model.manifest.v1+json"
#define MODEL_MEDIA_TYPE_CONFIG "application/vnd.cncf.model.config.v1+json"
#define MODEL_MEDIA_TYPE_CONFIG_LEGACY                                         \
  "application/vnd.cnai.model.config.v1+json"

#define MODEL_ANNOTATION_FILEPATH "org.cncf.model.filepath"
#define MODEL_ANNOTATION_FILE_METADATA "org.cncf.model.file.metadata+json"
#define MODEL_ANNOTATION_MEDIATYPE_UNTESTED                                    \
  "org.cncf.model.file.mediatype.untested"
#define MODEL_ANNOTATION_FILEPATH_LEGACY "org.cnai.model.filepath"
#define MODEL_ANNOTATION_FILE_METADATA_LEGACY                                  \
  "org.cnai.model.file.metadata+json"
#define MODEL_ANNOTATION_MEDIATYPE_UNTESTED_LEGACY                             \
  "org.cnai.model.file.mediatype.untested"
#define MODEL_ANNOTATION_TITLE "org.opencontainers.image.title"
/* oras marks a layer it packed from a directory (a tar+gzip to unpack). */
#define MODEL_ANNOTATION_ORAS_UNPACK "io.deis.oras.content.unpack"

#define MODEL_OCI_MEDIA_TYPE_MANIFEST                                          \
  "application/vnd.oci.image.manifest.v1+json"
#define MODEL_OCI_MEDIA_TYPE_INDEX "application/vnd.oci.image.index.v1+json"
#define MODEL_OCI_MEDIA_TYPE_EMPTY "application/vnd.oci.empty.v1+json"
#define MODEL_OCI_MEDIA_TYPE_IMAGE_CONFIG                                      \
  "application/vnd.oci.image.config.v1+json"
#define MODEL_DOCKER_MEDIA_TYPE_IMAGE_CONFIG                                   \
  "application/vnd.docker.container.image.v1+json"
#define MODEL_DOCKER_MEDIA_TYPE_MANIFEST                                       \
  "application/vnd.docker.distribution.manifest.v2+json"
#define MODEL_DOCKER_MEDIA_TYPE_MANIFEST_LIST                                  \
  "application/vnd.docker.distribution.manifest.list.v2+json"

/* Docker Model Runner artifacts (docker/model-runner,
 * pkg/distribution/types/config.go; docs/image-volumes.md).  Their layers
 * are raw files, except the two tar archives, which Docker extracts into
 * the model directory. */
#define MODEL_DOCKER_AI_CONFIG_V01                                             \
  "application/vnd.docker.ai.model.config.v0.1+json"
#define MODEL_DOCKER_AI_CONFIG_V02                                             \
  "application/vnd.docker.ai.model.config.v0.2+json"
#define MODEL_DOCKER_AI_GGUF "application/vnd.docker.ai.gguf.v3"
#define MODEL_DOCKER_AI_SAFETENSORS "application/vnd.docker.ai.safetensors"
#define MODEL_DOCKER_AI_DDUF "application/vnd.docker.ai.dduf"
#define MODEL_DOCKER_AI_LICENSE "application/vnd.docker.ai.license"
#define MODEL_DOCKER_AI_MMPROJ "application/vnd.docker.ai.mmproj"
#define MODEL_DOCKER_AI_CHAT_TEMPLATE                                          \
  "application/vnd.docker.ai.chat.template.jinja"
#define MODEL_DOCKER_AI_MODEL_FILE "application/vnd.docker.ai.model.file"
#define MODEL_DOCKER_AI_VLLM_CONFIG_TAR                                        \
  "application/vnd.docker.ai.vllm.config.tar"
#define MODEL_DOCKER_AI_DIR_TAR "application/vnd.docker.ai.dir.tar"

enum model_layer_kind
{
  MODEL_LAYER_WEIGHT,
  MODEL_LAYER_WEIGHT_CONFIG,
  MODEL_LAYER_DOC,
  MODEL_LAYER_CODE,
  MODEL_LAYER_DATASET,
  MODEL_LAYER_IMAGE, /* OCI/Docker image layer: a filesystem diff */
  MODEL_LAYER_OTHER, /* anything else: a raw file in a generic artifact */
};

enum model_layer_format
{
  MODEL_FORMAT_RAW,
  MODEL_FORMAT_TAR,
  MODEL_FORMAT_TAR_GZIP,
  MODEL_FORMAT_TAR_ZSTD,
};

typedef struct model_media_type_info
{
  enum model_layer_kind kind;
  enum model_layer_format format;
  bool legacy;       /* vnd.cnai.model namespace (spec <= v0.0.6) */
  bool is_modelpack; /* one of the 20 ModelPack layer types, either name */
} model_media_type_info;

/* Never fails: NULL or unknown types come back as MODEL_LAYER_OTHER, raw.
 * Matching is exact, as registries and containerd compare media types. */
model_media_type_info model_media_type_classify (const char *media_type);

/* The ModelPack layer media type for kind/format (kind must be one of the
 * five ModelPack kinds), or NULL.  Writers use only the current names. */
const char *model_media_type_for (enum model_layer_kind kind,
                                  enum model_layer_format format);

const char *model_layer_kind_name (enum model_layer_kind kind);
const char *model_layer_format_name (enum model_layer_format format);

bool model_media_type_is_model_artifact (const char *artifact_type);
bool model_media_type_is_model_config (const char *media_type);
/* A Docker Model Runner model config (v0.1 or v0.2). */
bool model_media_type_is_docker_model_config (const char *media_type);
bool model_media_type_is_image_config (const char *media_type);
bool model_media_type_is_index (const char *media_type);
bool model_media_type_is_manifest (const char *media_type);

#endif
