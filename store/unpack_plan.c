/* Layer unpacking, the plan: the limits on what a layer may expand to,
 * and what every command checks in a manifest before unpacking it. */
#include "store/unpack.h"
#include "store/unpack_internal.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "model/digest.h"
#include "model/manifest.h"
#include "model/mediatype.h"
#include "model/modelconfig.h"

/* ---- limits ---- */

const char *const model_unpack_limit_names[]
    = { "max_layer_bytes",   "max_layer_ratio",   "ratio_floor_bytes",
        "max_layer_entries", "max_model_entries", NULL };

int
model_unpack_limit_set (struct model_unpack_limits *l, const char *name,
                        uint64_t v)
{
  uint64_t *fields[] = { &l->max_layer_bytes, &l->max_ratio, &l->ratio_floor,
                         &l->max_layer_entries, &l->max_model_entries };

  for (size_t i = 0; model_unpack_limit_names[i] != NULL; i++)
    if (strcmp (name, model_unpack_limit_names[i]) == 0)
      {
        *fields[i] = v;
        return 0;
      }
  return -1;
}

struct model_unpack_limits
model_unpack_limits_resolve (const struct model_unpack_limits *l)
{
  struct model_unpack_limits r = { 0 };

  if (l != NULL)
    r = *l;
  if (r.max_layer_bytes == 0)
    r.max_layer_bytes = MODEL_UNPACK_DEFAULT_MAX_BYTES;
  if (r.max_ratio == 0)
    r.max_ratio = MODEL_UNPACK_DEFAULT_MAX_RATIO;
  if (r.ratio_floor == 0)
    r.ratio_floor = MODEL_UNPACK_DEFAULT_RATIO_FLOOR;
  if (r.max_layer_entries == 0)
    r.max_layer_entries = MODEL_UNPACK_DEFAULT_MAX_ENTRIES;
  if (r.max_model_entries == 0)
    r.max_model_entries = MODEL_UNPACK_DEFAULT_MAX_MODEL_ENTRIES;
  return r;
}

/* The bounds for this layer: explicit options win; otherwise a compressed
 * layer may expand to max_ratio times its blob (at least ratio_floor),
 * and nothing past max_layer_bytes. */
void
unpack_effective_limits (const struct model_unpack_opts *o, int src_fd,
                         uint64_t *max_bytes, uint64_t *max_entries)
{
  struct model_unpack_limits l = model_unpack_limits_resolve (o->limits);
  uint64_t bytes = l.max_layer_bytes;

  if (o->format == MODEL_LAYER_TAR_GZIP || o->format == MODEL_LAYER_TAR_ZSTD)
    {
      int64_t blob = o->blob_size;
      struct stat st;
      uint64_t rel;

      if (blob <= 0 && fstat (src_fd, &st) == 0 && S_ISREG (st.st_mode))
        blob = st.st_size;
      if (blob > 0)
        {
          rel = (uint64_t)blob > UINT64_MAX / l.max_ratio
                    ? UINT64_MAX
                    : (uint64_t)blob * l.max_ratio;
          if (rel < l.ratio_floor)
            rel = l.ratio_floor;
          if (rel < bytes)
            bytes = rel;
        }
      else if (l.ratio_floor < bytes)
        bytes = l.ratio_floor;
    }
  *max_bytes = o->max_total_bytes ? o->max_total_bytes : bytes;
  *max_entries = o->max_entries ? o->max_entries : l.max_layer_entries;
}

/* ---- what every command checks before unpacking a manifest ---- */

int
model_unpack_plan_layer (const model_manifest *m, const model_config *cfg,
                         size_t i, struct model_unpack_plan *p, mp_error *err)
{
  const model_layer *l = &m->layers[i];
  char q[MODEL_QUOTE_BUF];

  memset (p, 0, sizeof *p);
  if (m->is_modelpack && !l->type.is_modelpack
      && l->type.kind != MODEL_LAYER_IMAGE)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "layers[%zu] (%s): media type %s is not a ModelPack "
                         "layer type; cannot unpack it",
                         i, l->desc.digest.str,
                         model_quote (l->desc.media_type, q, sizeof q));
  if (!m->is_modelpack && l->path == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "layers[%zu] (%s, media type %s) has no "
                         "org.opencontainers.image.title annotation: no file "
                         "name to give it",
                         i, l->desc.digest.str,
                         model_quote (l->desc.media_type, q, sizeof q));
  if (l->is_file)
    p->format = MODEL_LAYER_RAW;
  else
    switch (l->type.format)
      {
      case MODEL_FORMAT_TAR:
        p->format = MODEL_LAYER_TAR;
        break;
      case MODEL_FORMAT_TAR_GZIP:
        p->format = MODEL_LAYER_TAR_GZIP;
        break;
      case MODEL_FORMAT_TAR_ZSTD:
        p->format = MODEL_LAYER_TAR_ZSTD;
        break;
      default:
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "layers[%zu] (%s): media type %s cannot be "
                             "unpacked",
                             i, l->desc.digest.str,
                             model_quote (l->desc.media_type, q, sizeof q));
      }
  if (cfg != NULL && i < cfg->diff_ids.n)
    p->diff_id = cfg->diff_ids.v[i];
  if (p->format != MODEL_LAYER_RAW)
    return 0;
  if (l->path == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "layers[%zu] (%s): a raw layer needs a %s "
                         "annotation to name its file",
                         i, l->desc.digest.str, MODEL_ANNOTATION_FILEPATH);
  p->raw_path = l->path;
  if (l->has_metadata)
    {
      const model_file_metadata *md = &l->metadata;

      if (md->type != MODEL_FILE_REGULAR)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "layers[%zu] (%s): file metadata typeflag %d: "
                             "a raw layer can only be a regular file",
                             i, l->desc.digest.str, md->typeflag);
      /* A size of 0 is what producers that omit it write. */
      if (md->size != 0 && md->size != l->desc.size)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "layers[%zu] (%s): file metadata says %lld "
                             "bytes, the descriptor %lld",
                             i, l->desc.digest.str, (long long)md->size,
                             (long long)l->desc.size);
      /* Absent members read as zero; no producer means mode 0. */
      p->meta.has_mode = (md->mode & 0777) != 0;
      p->meta.mode = (mode_t)(md->mode & 0755);
      p->meta.has_owner = true;
      p->meta.uid = (uid_t)md->uid;
      p->meta.gid = (gid_t)md->gid;
      p->meta.has_mtime = md->has_mtime;
      p->meta.mtime.tv_sec = (time_t)md->mtime_sec;
      p->meta.mtime.tv_nsec = md->mtime_nsec;
    }
  return 0;
}

int
model_unpack_check_manifest (const model_manifest *m, const model_config *cfg,
                             mp_error *err)
{
  struct model_unpack_plan p;

  if (m->is_image && !m->is_modelpack)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "a container image, not a model artifact");
  if (cfg != NULL && cfg->diff_ids.n != m->n_layers)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "model config %s lists %zu diffIds for %zu layers",
                         m->config.digest.str, cfg->diff_ids.n, m->n_layers);
  for (size_t i = 0; i < m->n_layers; i++)
    if (model_unpack_plan_layer (m, cfg, i, &p, err) < 0)
      return -1;
  return 0;
}
