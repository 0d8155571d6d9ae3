/* The ModelPack model config (media type
 * application/vnd.cncf.model.config.v1+json): parse, validate, write.
 *
 * Validation follows the model-spec JSON schema (schema/config-schema.json):
 * the three top-level objects are required, no object allows fields the
 * schema does not name, strings are strings, createdAt and knowledgeCutoff
 * are RFC 3339 date-times, modalities come from a fixed list, languages are
 * two lowercase letters, modelfs.type is "layers" and diffIds holds at least
 * one digest.  The spec's Go code also decodes the config into its structs,
 * so where the two differ the stricter one rules (see model_rfc3339_parse).
 *
 * Two deliberate additions: a config whose modelfs carries `diff_ids` is a
 * legacy (spec <= v0.0.6) config and may also use that era's snake_case
 * capability names; and the boolean `capabilities.embedding` of spec v0.0.7
 * is accepted (and dropped on writing).  diffIds must be valid digests,
 * which the schema leaves to the spec text.
 *
 * Errors are MP_ERR_INVALID_ARGUMENT, their message starting with the path
 * of the offending field, e.g.
 *   config.capabilities.inputTypes[1]: "foo" is not one of text, image, ... */
#ifndef MP_MODEL_MODELCONFIG_H
#define MP_MODEL_MODELCONFIG_H

#include <stdbool.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum model_opt_bool
{
  MODEL_BOOL_UNSET = 0,
  MODEL_BOOL_FALSE,
  MODEL_BOOL_TRUE,
};

enum model_modality
{
  MODEL_MODALITY_TEXT,
  MODEL_MODALITY_IMAGE,
  MODEL_MODALITY_AUDIO,
  MODEL_MODALITY_VIDEO,
  MODEL_MODALITY_EMBEDDING,
  MODEL_MODALITY_OTHER,
};

typedef struct model_strv
{
  size_t n;
  char **v;
} model_strv;

typedef struct model_modalities
{
  size_t n;
  enum model_modality *v;
} model_modalities;

/* All strings are heap-allocated and owned by the model_config; NULL (or an
 * empty list) means absent.  Date-times are kept as the text given. */
typedef struct model_config_descriptor
{
  char *created_at;
  model_strv authors;
  char *family;
  char *name;
  char *doc_url;
  char *source_url;
  model_strv datasets_url;
  char *version;
  char *revision;
  char *vendor;
  model_strv licenses;
  char *title;
  char *description;
} model_config_descriptor;

typedef struct model_capabilities
{
  bool present; /* the object was there, even if empty */
  model_modalities input_types;
  model_modalities output_types;
  char *knowledge_cutoff;
  enum model_opt_bool reasoning;
  enum model_opt_bool tool_usage;
  enum model_opt_bool reward;
  enum model_opt_bool embedding; /* spec v0.0.7 only; never written */
  model_strv languages;
} model_capabilities;

typedef struct model_config_params
{
  char *architecture;
  char *format;
  char *param_size;
  char *precision;
  char *quantization;
  model_capabilities capabilities;
} model_config_params;

typedef struct model_config
{
  model_config_descriptor descriptor;
  model_config_params config;
  model_strv diff_ids; /* modelfs.diffIds, validated digests */
  bool legacy;         /* read from `diff_ids` (spec <= v0.0.6) */
} model_config;

/* Parse and validate.  On success *out is a new config to free with
 * model_config_free(). */
int model_config_parse (const void *buf, size_t len, model_config **out,
                        mp_error *err);

/* Validate only. */
int model_config_validate (const void *buf, size_t len, mp_error *err);

void model_config_free (model_config *c);

static inline void
model_config_freep (model_config **c)
{
  model_config_free (*c);
}
#define cleanup_model_config __attribute__ ((cleanup (model_config_freep)))

/* Append a copy of s. */
int model_strv_push (model_strv *sv, const char *s, mp_error *err);
void model_strv_clear (model_strv *sv);

/* Canonical compact JSON (the current spec's field names, keys in the order
 * of the spec's Go structs: descriptor, modelfs, config; absent and empty
 * values left out).  The result is validated before it is returned, so an
 * invalid config is refused with the same errors the parser gives.  Returns
 * a malloc'd NUL-terminated string. */
char *model_config_to_json (const model_config *c, mp_error *err);

const char *model_modality_name (enum model_modality m);

/* RFC 3339 date-time as both the schema ("format": "date-time") and the
 * spec's Go decoder accept it: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM),
 * upper-case T and Z, real calendar dates, no leap second.  Fills seconds
 * since the epoch and nanoseconds (either may be NULL). */
bool model_rfc3339_parse (const char *s, int64_t *sec, int32_t *nsec);

/* T as an RFC 3339 date-time in UTC ("YYYY-MM-DDTHH:MM:SSZ"), with nine
 * fraction digits when NANOS and T has any.  BUF of 40 bytes is enough. */
void model_rfc3339_format (const struct timespec *t, bool nanos, char *buf,
                           size_t size);

#endif
