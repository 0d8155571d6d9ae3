#include "model/modelconfig.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/digest.h"
#include "util/cleanup.h"

/* ---- RFC 3339 ---------------------------------------------------------- */

static int
parse_digits (const char *s, int n)
{
  int v = 0;

  for (int i = 0; i < n; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return -1;
      v = v * 10 + (s[i] - '0');
    }
  return v;
}

static int
days_in_month (int year, int month)
{
  static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

  return month == 2 && leap ? 29 : days[month - 1];
}

/* Days since 1970-01-01 in the proleptic Gregorian calendar; written out
 * because timegm() depends on the C library's time_t range and TZ state. */
static int64_t
days_from_civil (int64_t y, unsigned m, unsigned d)
{
  int64_t era;
  unsigned yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void
model_rfc3339_format (const struct timespec *t, bool nanos, char *buf,
                      size_t size)
{
  struct tm tm;
  size_t n;

  gmtime_r (&t->tv_sec, &tm);
  n = strftime (buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
  if (nanos && t->tv_nsec != 0 && n < size)
    n += (size_t)snprintf (buf + n, size - n, ".%09ld", t->tv_nsec);
  if (n < size)
    snprintf (buf + n, size - n, "Z");
}

bool
model_rfc3339_parse (const char *s, int64_t *sec, int32_t *nsec)
{
  int year, month, day, hour, min, second, offset = 0;
  int32_t frac = 0;
  const char *p;

  if (s == NULL || strnlen (s, 20) < 20)
    return false;
  year = parse_digits (s, 4);
  month = parse_digits (s + 5, 2);
  day = parse_digits (s + 8, 2);
  hour = parse_digits (s + 11, 2);
  min = parse_digits (s + 14, 2);
  second = parse_digits (s + 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || min < 0
      || second < 0)
    return false;
  if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':'
      || s[16] != ':')
    return false;
  /* Go's decoder refuses second 60, so the spec cannot use leap seconds. */
  if (day > days_in_month (year, month) || hour > 23 || min > 59 || second > 59)
    return false;
  p = s + 19;
  if (*p == '.')
    {
      int nd = 0;

      p++;
      if (*p < '0' || *p > '9')
        return false;
      for (; *p >= '0' && *p <= '9'; p++, nd++)
        if (nd < 9)
          frac = frac * 10 + (*p - '0');
      for (; nd < 9; nd++)
        frac *= 10;
    }
  if (*p == 'Z')
    p++;
  else if (*p == '+' || *p == '-')
    {
      int oh = parse_digits (p + 1, 2), om;

      if (oh < 0 || p[3] != ':')
        return false;
      om = parse_digits (p + 4, 2);
      if (om < 0 || oh > 23 || om > 59)
        return false;
      offset = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
      p += 6;
    }
  else
    return false;
  if (*p != '\0')
    return false;
  if (sec != NULL)
    *sec = days_from_civil (year, (unsigned)month, (unsigned)day) * 86400
           + hour * 3600 + min * 60 + second - offset;
  if (nsec != NULL)
    *nsec = frac;
  return true;
}

/* ---- schema tables ----------------------------------------------------- */

static const char *const modality_names[] = {
  [MODEL_MODALITY_TEXT] = "text",           [MODEL_MODALITY_IMAGE] = "image",
  [MODEL_MODALITY_AUDIO] = "audio",         [MODEL_MODALITY_VIDEO] = "video",
  [MODEL_MODALITY_EMBEDDING] = "embedding", [MODEL_MODALITY_OTHER] = "other",
};
#define NMODALITIES (sizeof modality_names / sizeof *modality_names)

const char *
model_modality_name (enum model_modality m)
{
  if ((unsigned)m < NMODALITIES)
    return modality_names[m];
  return "unknown";
}

enum ftype
{
  F_STRING,
  F_NAME,     /* string, minLength 1 */
  F_DATETIME, /* string, format date-time */
  F_STRINGS,  /* array of strings */
  F_MODALITIES,
  F_LANGUAGES, /* array of /^[a-z]{2}$/ */
  F_BOOL,
  F_OBJECT,
  F_LAYERS,  /* the constant "layers" */
  F_DIGESTS, /* array of digests, at least one */
};

#define NO_DEST SIZE_MAX

struct objspec;

struct field
{
  const char *key;
  enum ftype type;
  bool required;
  bool read_only; /* accepted when reading, never written */
  size_t off;     /* destination inside the parent struct, or NO_DEST */
  const struct objspec *sub;
};

struct objspec
{
  const struct field *fields;
  size_t n;
  size_t present_off; /* bool set when the object is present, or NO_DEST */
};

#define SPEC(fields, present)                                                  \
  {                                                                            \
    fields, sizeof fields / sizeof *fields, present                            \
  }

#define D(m) offsetof (model_config_descriptor, m)
static const struct field descriptor_fields[] = {
  { "createdAt", F_DATETIME, false, false, D (created_at), NULL },
  { "authors", F_STRINGS, false, false, D (authors), NULL },
  { "family", F_STRING, false, false, D (family), NULL },
  { "name", F_NAME, false, false, D (name), NULL },
  { "docURL", F_STRING, false, false, D (doc_url), NULL },
  { "sourceURL", F_STRING, false, false, D (source_url), NULL },
  { "datasetsURL", F_STRINGS, false, false, D (datasets_url), NULL },
  { "version", F_STRING, false, false, D (version), NULL },
  { "revision", F_STRING, false, false, D (revision), NULL },
  { "vendor", F_STRING, false, false, D (vendor), NULL },
  { "licenses", F_STRINGS, false, false, D (licenses), NULL },
  { "title", F_STRING, false, false, D (title), NULL },
  { "description", F_STRING, false, false, D (description), NULL },
};
#undef D
static const struct objspec descriptor_spec = SPEC (descriptor_fields, NO_DEST);

#define C(m) offsetof (model_capabilities, m)
static const struct field capability_fields[] = {
  { "inputTypes", F_MODALITIES, false, false, C (input_types), NULL },
  { "outputTypes", F_MODALITIES, false, false, C (output_types), NULL },
  { "knowledgeCutoff", F_DATETIME, false, false, C (knowledge_cutoff), NULL },
  { "reasoning", F_BOOL, false, false, C (reasoning), NULL },
  { "toolUsage", F_BOOL, false, false, C (tool_usage), NULL },
  { "reward", F_BOOL, false, false, C (reward), NULL },
  { "languages", F_LANGUAGES, false, false, C (languages), NULL },
  /* spec v0.0.7 had it; its schema did not close the object then. */
  { "embedding", F_BOOL, false, true, C (embedding), NULL },
};
/* Spec <= v0.0.6 spelled these in snake_case; the camelCase names are
 * accepted as well, as tools of that era wrote either. */
static const struct field capability_fields_legacy[] = {
  { "inputTypes", F_MODALITIES, false, false, C (input_types), NULL },
  { "input_types", F_MODALITIES, false, true, C (input_types), NULL },
  { "outputTypes", F_MODALITIES, false, false, C (output_types), NULL },
  { "output_types", F_MODALITIES, false, true, C (output_types), NULL },
  { "knowledgeCutoff", F_DATETIME, false, false, C (knowledge_cutoff), NULL },
  { "knowledge_cutoff", F_DATETIME, false, true, C (knowledge_cutoff), NULL },
  { "reasoning", F_BOOL, false, false, C (reasoning), NULL },
  { "toolUsage", F_BOOL, false, false, C (tool_usage), NULL },
  { "tool_usage", F_BOOL, false, true, C (tool_usage), NULL },
  { "reward", F_BOOL, false, false, C (reward), NULL },
  { "languages", F_LANGUAGES, false, false, C (languages), NULL },
  { "embedding", F_BOOL, false, true, C (embedding), NULL },
};
#undef C
static const struct objspec capability_spec
    = SPEC (capability_fields, offsetof (model_capabilities, present));
static const struct objspec capability_spec_legacy
    = SPEC (capability_fields_legacy, offsetof (model_capabilities, present));

#define P(m) offsetof (model_config_params, m)
static const struct field params_fields[] = {
  { "architecture", F_STRING, false, false, P (architecture), NULL },
  { "format", F_STRING, false, false, P (format), NULL },
  { "paramSize", F_STRING, false, false, P (param_size), NULL },
  { "precision", F_STRING, false, false, P (precision), NULL },
  { "quantization", F_STRING, false, false, P (quantization), NULL },
  { "capabilities", F_OBJECT, false, false, P (capabilities),
    &capability_spec },
};
static const struct field params_fields_legacy[] = {
  { "architecture", F_STRING, false, false, P (architecture), NULL },
  { "format", F_STRING, false, false, P (format), NULL },
  { "paramSize", F_STRING, false, false, P (param_size), NULL },
  { "precision", F_STRING, false, false, P (precision), NULL },
  { "quantization", F_STRING, false, false, P (quantization), NULL },
  { "capabilities", F_OBJECT, false, false, P (capabilities),
    &capability_spec_legacy },
};
#undef P
static const struct objspec params_spec = SPEC (params_fields, NO_DEST);
static const struct objspec params_spec_legacy
    = SPEC (params_fields_legacy, NO_DEST);

/* modelfs has no struct of its own: its diffIds live in model_config. */
static const struct field modelfs_fields[] = {
  { "type", F_LAYERS, true, false, NO_DEST, NULL },
  { "diffIds", F_DIGESTS, true, false, offsetof (model_config, diff_ids),
    NULL },
};
static const struct field modelfs_fields_legacy[] = {
  { "type", F_LAYERS, true, false, NO_DEST, NULL },
  { "diff_ids", F_DIGESTS, true, false, offsetof (model_config, diff_ids),
    NULL },
};
static const struct objspec modelfs_spec = SPEC (modelfs_fields, NO_DEST);
static const struct objspec modelfs_spec_legacy
    = SPEC (modelfs_fields_legacy, NO_DEST);

/* Top-level order is the Go struct's, which is also the order writers of
 * the spec's own tools produce. */
static const struct field top_fields[] = {
  { "descriptor", F_OBJECT, true, false, offsetof (model_config, descriptor),
    &descriptor_spec },
  { "modelfs", F_OBJECT, true, false, 0, &modelfs_spec },
  { "config", F_OBJECT, true, false, offsetof (model_config, config),
    &params_spec },
};
static const struct field top_fields_legacy[] = {
  { "descriptor", F_OBJECT, true, false, offsetof (model_config, descriptor),
    &descriptor_spec },
  { "modelfs", F_OBJECT, true, false, 0, &modelfs_spec_legacy },
  { "config", F_OBJECT, true, false, offsetof (model_config, config),
    &params_spec_legacy },
};
static const struct objspec top_spec = SPEC (top_fields, NO_DEST);
static const struct objspec top_spec_legacy = SPEC (top_fields_legacy, NO_DEST);

/* ---- validation and extraction ----------------------------------------- */

struct path
{
  char buf[192];
  size_t len;
};

static size_t
path_push_key (struct path *p, const char *key)
{
  size_t old = p->len;
  int n = snprintf (p->buf + p->len, sizeof p->buf - p->len, "%s%s",
                    p->len ? "." : "", key);

  if (n > 0)
    p->len = strnlen (p->buf, sizeof p->buf - 1);
  return old;
}

static size_t
path_push_index (struct path *p, size_t i)
{
  size_t old = p->len;
  int n = snprintf (p->buf + p->len, sizeof p->buf - p->len, "[%zu]", i);

  if (n > 0)
    p->len = strnlen (p->buf, sizeof p->buf - 1);
  return old;
}

static void
path_pop (struct path *p, size_t old)
{
  p->len = old;
  p->buf[old] = '\0';
}

static const char *
path_str (const struct path *p)
{
  return p->len ? p->buf : "(top level)";
}

static const char *
json_kind (const json_t *v)
{
  switch (json_typeof (v))
    {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "an array";
    case JSON_STRING:
      return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
      return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
      return "a boolean";
    case JSON_NULL:
      return "null";
    }
  return "unknown";
}

static int
type_error (const struct path *p, const char *want, const json_t *v,
            mp_error *err)
{
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: must be %s, got %s",
                       path_str (p), want, json_kind (v));
}

static void *
dest (char *base, const struct field *f)
{
  return base != NULL && f->off != NO_DEST ? base + f->off : NULL;
}

static int
store_string (char **dst, const char *s, mp_error *err)
{
  char *copy;

  if (dst == NULL)
    return 0;
  copy = strdup (s);
  if (copy == NULL)
    return mp_error_sys (err, ENOMEM, "model config");
  free (*dst);
  *dst = copy;
  return 0;
}

static bool
is_language_code (const char *s)
{
  return s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z'
         && s[2] == '\0';
}

static int
check_string_item (const json_t *item, enum ftype type, struct path *p,
                   mp_error *err)
{
  char q[MODEL_QUOTE_BUF];
  const char *s;

  if (!json_is_string (item))
    return type_error (p, "a string", item, err);
  s = json_string_value (item);
  if (type == F_LANGUAGES && !is_language_code (s))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: %s is not a two-letter lowercase ISO 639-1 "
                         "language code",
                         path_str (p), model_quote (s, q, sizeof q));
  if (type == F_DIGESTS && model_digest_parse (s, NULL, err) < 0)
    return mp_error_prefix (err, "%s", path_str (p));
  return 0;
}

static int
check_array (const json_t *v, const struct field *f, void *dst, struct path *p,
             mp_error *err)
{
  size_t n = json_array_size (v), i;
  json_t *item;

  if (!json_is_array (v))
    return type_error (p, "an array", v, err);
  if (f->type == F_DIGESTS && n == 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: must list at least one digest", path_str (p));
  json_array_foreach (v, i, item)
  {
    size_t old = path_push_index (p, i);

    if (f->type == F_MODALITIES)
      {
        size_t m;

        if (!json_is_string (item))
          return type_error (p, "a string", item, err);
        for (m = 0; m < NMODALITIES; m++)
          if (strcmp (json_string_value (item), modality_names[m]) == 0)
            break;
        if (m == NMODALITIES)
          {
            char q[MODEL_QUOTE_BUF];
            return mp_error_set (
                err, MP_ERR_INVALID_ARGUMENT,
                "%s: %s is not one of text, image, audio, video, embedding, "
                "other",
                path_str (p),
                model_quote (json_string_value (item), q, sizeof q));
          }
      }
    else if (check_string_item (item, f->type, p, err) < 0)
      return -1;
    path_pop (p, old);
  }
  if (dst == NULL)
    return 0;
  if (f->type == F_MODALITIES)
    {
      model_modalities *mv = dst;
      enum model_modality *out = calloc (n ? n : 1, sizeof *out);

      if (out == NULL)
        return mp_error_sys (err, ENOMEM, "model config");
      json_array_foreach (v, i, item)
      {
        for (size_t m = 0; m < NMODALITIES; m++)
          if (strcmp (json_string_value (item), modality_names[m]) == 0)
            out[i] = (enum model_modality)m;
      }
      free (mv->v);
      mv->v = out;
      mv->n = n;
      return 0;
    }
  model_strv_clear (dst);
  json_array_foreach (v, i, item)
  {
    if (model_strv_push (dst, json_string_value (item), err) < 0)
      return -1;
  }
  return 0;
}

static int check_object (const json_t *obj, const struct objspec *spec,
                         char *base, struct path *p, mp_error *err);

static int
check_value (const json_t *v, const struct field *f, char *base, struct path *p,
             mp_error *err)
{
  char q[MODEL_QUOTE_BUF];
  void *dst = dest (base, f);
  const char *s;

  switch (f->type)
    {
    case F_STRING:
    case F_NAME:
    case F_DATETIME:
    case F_LAYERS:
      if (!json_is_string (v))
        return type_error (p, "a string", v, err);
      s = json_string_value (v);
      if (f->type == F_NAME && *s == '\0')
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s: must not be empty", path_str (p));
      if (f->type == F_DATETIME && !model_rfc3339_parse (s, NULL, NULL))
        return mp_error_set (
            err, MP_ERR_INVALID_ARGUMENT,
            "%s: %s is not an RFC 3339 date-time (like 2025-01-01T00:00:00Z)",
            path_str (p), model_quote (s, q, sizeof q));
      if (f->type == F_LAYERS && strcmp (s, "layers") != 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s: %s is not one of layers", path_str (p),
                             model_quote (s, q, sizeof q));
      return store_string (dst, s, err);
    case F_BOOL:
      if (!json_is_boolean (v))
        return type_error (p, "a boolean", v, err);
      if (dst != NULL)
        *(enum model_opt_bool *)dst
            = json_is_true (v) ? MODEL_BOOL_TRUE : MODEL_BOOL_FALSE;
      return 0;
    case F_STRINGS:
    case F_MODALITIES:
    case F_LANGUAGES:
    case F_DIGESTS:
      return check_array (v, f, dst, p, err);
    case F_OBJECT:
      if (!json_is_object (v))
        return type_error (p, "an object", v, err);
      /* Objects without a struct of their own (modelfs) keep the parent's
       * base; their fields' offsets are relative to it. */
      return check_object (v, f->sub, base ? base + f->off : NULL, p, err);
    }
  return mp_error_set (err, MP_ERR_INTERNAL, "%s: bad schema table",
                       path_str (p));
}

static const struct field *
find_field (const struct objspec *spec, const char *key)
{
  for (size_t i = 0; i < spec->n; i++)
    if (strcmp (spec->fields[i].key, key) == 0)
      return &spec->fields[i];
  return NULL;
}

static int
check_object (const json_t *obj, const struct objspec *spec, char *base,
              struct path *p, mp_error *err)
{
  const char *key;
  json_t *v;

  /* Unknown keys first: a misspelt required field is better reported as
   * the misspelling than as the field missing. */
  json_object_foreach ((json_t *)obj, key, v)
  {
    if (find_field (spec, key) == NULL)
      {
        char q[MODEL_QUOTE_BUF];
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s: unknown field %s (the ModelPack config "
                             "schema allows no other fields here)",
                             path_str (p), model_quote (key, q, sizeof q));
      }
  }
  if (base != NULL && spec->present_off != NO_DEST)
    *(bool *)(base + spec->present_off) = true;
  for (size_t i = 0; i < spec->n; i++)
    {
      const struct field *f = &spec->fields[i];
      size_t old = path_push_key (p, f->key);

      v = json_object_get (obj, f->key);
      if (v == NULL)
        {
          if (f->required)
            return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                 "%s: required field is missing", path_str (p));
        }
      else if (check_value (v, f, base, p, err) < 0)
        return -1;
      path_pop (p, old);
    }
  return 0;
}

static bool
is_legacy (const json_t *root)
{
  const json_t *fs = json_object_get (root, "modelfs");

  return json_is_object (fs) && json_object_get (fs, "diff_ids") != NULL;
}

static int
check_root (const json_t *root, model_config *c, mp_error *err)
{
  struct path p = { .buf = "", .len = 0 };
  bool legacy;

  if (!json_is_object (root))
    return type_error (&p, "an object", root, err);
  legacy = is_legacy (root);
  if (c != NULL)
    c->legacy = legacy;
  return check_object (root, legacy ? &top_spec_legacy : &top_spec, (char *)c,
                       &p, err);
}

static json_t *
load_json (const void *buf, size_t len, mp_error *err)
{
  json_error_t jerr;
  json_t *root;

  /* Duplicate keys are refused: readers that keep the first and readers
   * that keep the last would otherwise see different configs. */
  root = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                  "not valid JSON: %s (line %d, column %d)",
                  model_scrub_text (jerr.text), jerr.line, jerr.column);
  return root;
}

int
model_config_validate (const void *buf, size_t len, mp_error *err)
{
  json_t *root = load_json (buf, len, err);
  int r;

  if (root == NULL)
    return -1;
  r = check_root (root, NULL, err);
  json_decref (root);
  return r;
}

int
model_config_parse (const void *buf, size_t len, model_config **out,
                    mp_error *err)
{
  cleanup_model_config model_config *c = NULL;
  json_t *root;
  int r;

  root = load_json (buf, len, err);
  if (root == NULL)
    return -1;
  c = calloc (1, sizeof *c);
  if (c == NULL)
    {
      json_decref (root);
      return mp_error_sys (err, ENOMEM, "model config");
    }
  r = check_root (root, c, err);
  json_decref (root);
  if (r < 0)
    return -1;
  *out = steal_pointer (&c);
  return 0;
}

/* ---- memory ------------------------------------------------------------ */

int
model_strv_push (model_strv *sv, const char *s, mp_error *err)
{
  char **v;
  char *copy = strdup (s);

  if (copy == NULL)
    return mp_error_sys (err, ENOMEM, "string list");
  v = realloc (sv->v, (sv->n + 1) * sizeof *v);
  if (v == NULL)
    {
      free (copy);
      return mp_error_sys (err, ENOMEM, "string list");
    }
  v[sv->n++] = copy;
  sv->v = v;
  return 0;
}

void
model_strv_clear (model_strv *sv)
{
  for (size_t i = 0; i < sv->n; i++)
    free (sv->v[i]);
  free (sv->v);
  sv->v = NULL;
  sv->n = 0;
}

/* Frees what the tables say an object holds, so a field added to a table
 * is never leaked. */
static void
free_object (const struct objspec *spec, char *base)
{
  for (size_t i = 0; i < spec->n; i++)
    {
      const struct field *f = &spec->fields[i];
      void *dst = dest (base, f);

      if (f->type == F_OBJECT)
        {
          free_object (f->sub, base + f->off);
          continue;
        }
      if (dst == NULL || f->read_only)
        continue;
      switch (f->type)
        {
        case F_STRING:
        case F_NAME:
        case F_DATETIME:
          free (*(char **)dst);
          *(char **)dst = NULL;
          break;
        case F_STRINGS:
        case F_LANGUAGES:
        case F_DIGESTS:
          model_strv_clear (dst);
          break;
        case F_MODALITIES:
          free (((model_modalities *)dst)->v);
          ((model_modalities *)dst)->v = NULL;
          ((model_modalities *)dst)->n = 0;
          break;
        default:
          break;
        }
    }
}

void
model_config_free (model_config *c)
{
  if (c == NULL)
    return;
  free_object (&top_spec, (char *)c);
  free (c);
}

/* ---- writer ------------------------------------------------------------ */

static int
set_new (json_t *obj, const char *key, json_t *v, const struct path *p,
         mp_error *err)
{
  if (v == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s.%s: not valid UTF-8",
                         path_str (p), key);
  if (json_object_set_new (obj, key, v) < 0)
    return mp_error_sys (err, ENOMEM, "model config JSON");
  return 0;
}

static json_t *
build_strings (const model_strv *sv)
{
  json_t *a = json_array ();

  for (size_t i = 0; a != NULL && i < sv->n; i++)
    {
      json_t *s = json_string (sv->v[i]);
      if (s == NULL || json_array_append_new (a, s) < 0)
        {
          json_decref (a);
          return NULL;
        }
    }
  return a;
}

static int build_object (json_t *obj, const struct objspec *spec,
                         const char *base, struct path *p, mp_error *err);

static int
build_field (json_t *obj, const struct field *f, const char *base,
             struct path *p, mp_error *err)
{
  const void *src = f->off != NO_DEST ? base + f->off : NULL;

  switch (f->type)
    {
    case F_STRING:
    case F_NAME:
    case F_DATETIME:
      {
        const char *s = *(char *const *)src;
        /* Empty means absent, as with the spec's Go omitempty fields. */
        if (s == NULL || *s == '\0')
          return 0;
        return set_new (obj, f->key, json_string (s), p, err);
      }
    case F_LAYERS:
      return set_new (obj, f->key, json_string ("layers"), p, err);
    case F_BOOL:
      {
        enum model_opt_bool b = *(const enum model_opt_bool *)src;
        if (b == MODEL_BOOL_UNSET)
          return 0;
        return set_new (obj, f->key, json_boolean (b == MODEL_BOOL_TRUE), p,
                        err);
      }
    case F_STRINGS:
    case F_LANGUAGES:
    case F_DIGESTS:
      {
        const model_strv *sv = src;
        /* diffIds is required: write it even when empty so that the
         * validation below reports it. */
        if (sv->n == 0 && f->type != F_DIGESTS)
          return 0;
        return set_new (obj, f->key, build_strings (sv), p, err);
      }
    case F_MODALITIES:
      {
        const model_modalities *mv = src;
        json_t *a;

        if (mv->n == 0)
          return 0;
        a = json_array ();
        for (size_t i = 0; a != NULL && i < mv->n; i++)
          {
            if ((unsigned)mv->v[i] >= NMODALITIES)
              {
                json_decref (a);
                return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                     "%s.%s[%zu]: unknown modality %d",
                                     path_str (p), f->key, i, (int)mv->v[i]);
              }
            if (json_array_append_new (a,
                                       json_string (modality_names[mv->v[i]]))
                < 0)
              {
                json_decref (a);
                a = NULL;
              }
          }
        return set_new (obj, f->key, a, p, err);
      }
    case F_OBJECT:
      {
        const char *sub_base = base + f->off;
        json_t *o;
        size_t old;
        int r;

        if (f->sub->present_off != NO_DEST
            && !*(const bool *)(sub_base + f->sub->present_off))
          return 0;
        o = json_object ();
        if (o == NULL)
          return mp_error_sys (err, ENOMEM, "model config JSON");
        old = path_push_key (p, f->key);
        r = build_object (o, f->sub, sub_base, p, err);
        path_pop (p, old);
        if (r < 0)
          {
            json_decref (o);
            return -1;
          }
        return set_new (obj, f->key, o, p, err);
      }
    }
  return mp_error_set (err, MP_ERR_INTERNAL, "bad schema table");
}

static int
build_object (json_t *obj, const struct objspec *spec, const char *base,
              struct path *p, mp_error *err)
{
  for (size_t i = 0; i < spec->n; i++)
    {
      if (spec->fields[i].read_only)
        continue;
      if (build_field (obj, &spec->fields[i], base, p, err) < 0)
        return -1;
    }
  return 0;
}

char *
model_config_to_json (const model_config *c, mp_error *err)
{
  struct path p = { .buf = "", .len = 0 };
  json_t *root = json_object ();
  char *out = NULL;

  if (c == NULL)
    {
      json_decref (root);
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "no model config to write");
      return NULL;
    }
  if (root == NULL)
    {
      mp_error_sys (err, ENOMEM, "model config JSON");
      return NULL;
    }
  if (build_object (root, &top_spec, (const char *)c, &p, err) == 0
      && check_root (root, NULL, err) == 0)
    {
      /* jansson keeps insertion order, which is the tables' order. */
      out = json_dumps (root, JSON_COMPACT);
      if (out == NULL)
        mp_error_sys (err, ENOMEM, "model config JSON");
    }
  json_decref (root);
  return out;
}
