#include "model/mediatype.h"

#include <stddef.h>
#include <string.h>

#define NKINDS 5
#define NFORMATS 4

/* Longer names first so "weight.config" is not taken for "weight". */
static const struct
{
  const char *name;
  enum model_layer_kind kind;
} model_kinds[NKINDS] = {
  { "weight.config", MODEL_LAYER_WEIGHT_CONFIG },
  { "weight", MODEL_LAYER_WEIGHT },
  { "doc", MODEL_LAYER_DOC },
  { "code", MODEL_LAYER_CODE },
  { "dataset", MODEL_LAYER_DATASET },
};

static const char *const format_suffix[NFORMATS] = {
  [MODEL_FORMAT_RAW] = "raw",
  [MODEL_FORMAT_TAR] = "tar",
  [MODEL_FORMAT_TAR_GZIP] = "tar+gzip",
  [MODEL_FORMAT_TAR_ZSTD] = "tar+zstd",
};

/* Spelled out in full so model_media_type_for() can hand out constant
 * strings. */
static const char *const modelpack_types[NKINDS][NFORMATS] = {
#define ROW(k)                                                                 \
  {                                                                            \
    "application/vnd.cncf.model." k ".v1.raw",                                 \
        "application/vnd.cncf.model." k ".v1.tar",                             \
        "application/vnd.cncf.model." k ".v1.tar+gzip",                        \
        "application/vnd.cncf.model." k ".v1.tar+zstd",                        \
  }
  [MODEL_LAYER_WEIGHT] = ROW ("weight"),
  [MODEL_LAYER_WEIGHT_CONFIG] = ROW ("weight.config"),
  [MODEL_LAYER_DOC] = ROW ("doc"),
  [MODEL_LAYER_CODE] = ROW ("code"),
  [MODEL_LAYER_DATASET] = ROW ("dataset"),
#undef ROW
};

static const struct
{
  const char *type;
  enum model_layer_format format;
} image_layer_types[] = {
  { "application/vnd.oci.image.layer.v1.tar", MODEL_FORMAT_TAR },
  { "application/vnd.oci.image.layer.v1.tar+gzip", MODEL_FORMAT_TAR_GZIP },
  { "application/vnd.oci.image.layer.v1.tar+zstd", MODEL_FORMAT_TAR_ZSTD },
  /* Deprecated by OCI but still valid in old images. */
  { "application/vnd.oci.image.layer.nondistributable.v1.tar",
    MODEL_FORMAT_TAR },
  { "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    MODEL_FORMAT_TAR_GZIP },
  { "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    MODEL_FORMAT_TAR_ZSTD },
  { "application/vnd.docker.image.rootfs.diff.tar", MODEL_FORMAT_TAR },
  { "application/vnd.docker.image.rootfs.diff.tar.gzip",
    MODEL_FORMAT_TAR_GZIP },
  { "application/vnd.docker.image.rootfs.diff.tar.zstd",
    MODEL_FORMAT_TAR_ZSTD },
  { "application/vnd.docker.image.rootfs.foreign.diff.tar", MODEL_FORMAT_TAR },
  { "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    MODEL_FORMAT_TAR_GZIP },
};

static bool
skip_prefix (const char **s, const char *prefix)
{
  size_t n = strlen (prefix);

  if (strncmp (*s, prefix, n) != 0)
    return false;
  *s += n;
  return true;
}

model_media_type_info
model_media_type_classify (const char *media_type)
{
  model_media_type_info info
      = { MODEL_LAYER_OTHER, MODEL_FORMAT_RAW, false, false };
  const char *p = media_type;
  bool legacy;

  if (media_type == NULL)
    return info;
  for (size_t i = 0; i < sizeof image_layer_types / sizeof *image_layer_types;
       i++)
    if (strcmp (media_type, image_layer_types[i].type) == 0)
      {
        info.kind = MODEL_LAYER_IMAGE;
        info.format = image_layer_types[i].format;
        return info;
      }

  if (strcmp (media_type, MODEL_DOCKER_AI_VLLM_CONFIG_TAR) == 0
      || strcmp (media_type, MODEL_DOCKER_AI_DIR_TAR) == 0)
    {
      info.format = MODEL_FORMAT_TAR;
      return info;
    }

  if (skip_prefix (&p, "application/vnd.cncf.model."))
    legacy = false;
  else if (skip_prefix (&p, "application/vnd.cnai.model."))
    legacy = true;
  else
    return info;
  for (int k = 0; k < NKINDS; k++)
    {
      const char *q = p;

      if (!skip_prefix (&q, model_kinds[k].name) || !skip_prefix (&q, ".v1."))
        continue;
      for (int f = 0; f < NFORMATS; f++)
        if (strcmp (q, format_suffix[f]) == 0)
          {
            info.kind = model_kinds[k].kind;
            info.format = (enum model_layer_format)f;
            info.legacy = legacy;
            info.is_modelpack = true;
            return info;
          }
    }
  /* A model-namespace type we do not know (a future format, a typo) stays
   * "other": callers must not guess how it is packed. */
  return info;
}

const char *
model_media_type_for (enum model_layer_kind kind,
                      enum model_layer_format format)
{
  if ((int)kind < 0 || kind > MODEL_LAYER_DATASET || (int)format < 0
      || format > MODEL_FORMAT_TAR_ZSTD)
    return NULL;
  return modelpack_types[kind][format];
}

const char *
model_layer_kind_name (enum model_layer_kind kind)
{
  switch (kind)
    {
    case MODEL_LAYER_WEIGHT:
      return "weight";
    case MODEL_LAYER_WEIGHT_CONFIG:
      return "weight.config";
    case MODEL_LAYER_DOC:
      return "doc";
    case MODEL_LAYER_CODE:
      return "code";
    case MODEL_LAYER_DATASET:
      return "dataset";
    case MODEL_LAYER_IMAGE:
      return "image-layer";
    case MODEL_LAYER_OTHER:
      return "other";
    }
  return "unknown";
}

const char *
model_layer_format_name (enum model_layer_format format)
{
  if ((int)format >= 0 && format < NFORMATS)
    return format_suffix[format];
  return "unknown";
}

bool
model_media_type_is_model_artifact (const char *artifact_type)
{
  return artifact_type != NULL
         && (strcmp (artifact_type, MODEL_ARTIFACT_TYPE_MANIFEST) == 0
             || strcmp (artifact_type, MODEL_ARTIFACT_TYPE_MANIFEST_LEGACY)
                    == 0);
}

bool
model_media_type_is_model_config (const char *media_type)
{
  return media_type != NULL
         && (strcmp (media_type, MODEL_MEDIA_TYPE_CONFIG) == 0
             || strcmp (media_type, MODEL_MEDIA_TYPE_CONFIG_LEGACY) == 0);
}

bool
model_media_type_is_image_config (const char *media_type)
{
  return media_type != NULL
         && (strcmp (media_type, MODEL_OCI_MEDIA_TYPE_IMAGE_CONFIG) == 0
             || strcmp (media_type, MODEL_DOCKER_MEDIA_TYPE_IMAGE_CONFIG) == 0);
}

bool
model_media_type_is_index (const char *media_type)
{
  return media_type != NULL
         && (strcmp (media_type, MODEL_OCI_MEDIA_TYPE_INDEX) == 0
             || strcmp (media_type, MODEL_DOCKER_MEDIA_TYPE_MANIFEST_LIST)
                    == 0);
}

bool
model_media_type_is_manifest (const char *media_type)
{
  return media_type != NULL
         && (strcmp (media_type, MODEL_OCI_MEDIA_TYPE_MANIFEST) == 0
             || strcmp (media_type, MODEL_DOCKER_MEDIA_TYPE_MANIFEST) == 0);
}

bool
model_media_type_is_docker_model_config (const char *media_type)
{
  return media_type != NULL
         && (strcmp (media_type, MODEL_DOCKER_AI_CONFIG_V01) == 0
             || strcmp (media_type, MODEL_DOCKER_AI_CONFIG_V02) == 0);
}
