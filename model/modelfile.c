/* Modelfiles (see modelfile.h).  Hand-written: a line-oriented format of a
 * dozen directives, no library for it; fuzzed by tests/fuzz_modelfile.c. */
#include "model/modelfile.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

/* A Modelfile is a short text; anything larger is a mistake. */
#define MAX_LINE 4096

static const struct
{
  const char *name;
  int kind;     /* enum modelfile_kind, or -1 for a field */
  size_t field; /* offsetof in struct modelfile */
} directives[] = {
  { "NAME", -1, offsetof (modelfile, name) },
  { "FAMILY", -1, offsetof (modelfile, family) },
  { "ARCH", -1, offsetof (modelfile, arch) },
  { "FORMAT", -1, offsetof (modelfile, format) },
  { "PARAMSIZE", -1, offsetof (modelfile, paramsize) },
  { "PRECISION", -1, offsetof (modelfile, precision) },
  { "QUANTIZE", -1, offsetof (modelfile, quantize) },
  { "CONFIG", MODELFILE_CONFIG, 0 },
  { "MODEL", MODELFILE_MODEL, 0 },
  { "CODE", MODELFILE_CODE, 0 },
  { "DOC", MODELFILE_DOC, 0 },
  { "DATASET", MODELFILE_DATASET, 0 },
};

enum model_layer_kind
modelfile_kind_layer (enum modelfile_kind k)
{
  switch (k)
    {
    case MODELFILE_CONFIG:
      return MODEL_LAYER_WEIGHT_CONFIG;
    case MODELFILE_MODEL:
      return MODEL_LAYER_WEIGHT;
    case MODELFILE_CODE:
      return MODEL_LAYER_CODE;
    case MODELFILE_DOC:
      return MODEL_LAYER_DOC;
    case MODELFILE_DATASET:
      return MODEL_LAYER_DATASET;
    }
  return MODEL_LAYER_DOC;
}

const char *
modelfile_kind_directive (enum modelfile_kind k)
{
  for (size_t i = 0; i < sizeof directives / sizeof *directives; i++)
    if (directives[i].kind == (int)k)
      return directives[i].name;
  return "DOC";
}

void
modelfile_free (modelfile *mf)
{
  if (mf == NULL)
    return;
  for (size_t i = 0; i < sizeof directives / sizeof *directives; i++)
    if (directives[i].kind < 0)
      free (*(char **)((char *)mf + directives[i].field));
  for (size_t i = 0; i < mf->n_rules; i++)
    free (mf->rules[i].pattern);
  free (mf->rules);
  free (mf);
}

int
modelfile_add_rule (modelfile *mf, enum modelfile_kind kind,
                    const char *pattern)
{
  modelfile_rule *v = realloc (mf->rules, (mf->n_rules + 1) * sizeof *v);
  char *p = strdup (pattern);

  if (v != NULL)
    mf->rules = v;
  if (v == NULL || p == NULL)
    {
      free (p);
      return -1;
    }
  mf->rules[mf->n_rules].kind = kind;
  mf->rules[mf->n_rules].pattern = p;
  mf->n_rules++;
  return 0;
}

static int
group_rank (enum modelfile_kind k)
{
  switch (k)
    {
    case MODELFILE_MODEL:
      return 0;
    case MODELFILE_CONFIG:
      return 1;
    case MODELFILE_CODE:
      return 2;
    case MODELFILE_DOC:
      return 3;
    case MODELFILE_DATASET:
      return 4;
    }
  return 5;
}

static int
rule_cmp (const void *a, const void *b)
{
  const modelfile_rule *x = a, *y = b;
  int rx = group_rank (x->kind), ry = group_rank (y->kind);

  if (rx != ry)
    return rx < ry ? -1 : 1;
  return strcmp (x->pattern, y->pattern);
}

void
modelfile_sort_rules (modelfile *mf)
{
  if (mf->n_rules > 1)
    qsort (mf->rules, mf->n_rules, sizeof *mf->rules, rule_cmp);
}

/* A pattern must stay inside the model directory. */
static bool
pattern_ok (const char *p)
{
  if (p[0] == '/')
    return false;
  for (const char *s = p; *s;)
    {
      const char *e = strchrnul (s, '/');
      if (e - s == 2 && s[0] == '.' && s[1] == '.')
        return false;
      s = *e ? e + 1 : e;
    }
  return true;
}

int
modelfile_parse (const char *text, size_t len, modelfile **out, mp_error *err)
{
  cleanup_free modelfile *mf = calloc (1, sizeof *mf);
  const char *p = text, *end = text + len;
  int lineno = 0;

  if (mf == NULL)
    return mp_error_set (err, MP_ERR_INTERNAL, "out of memory");
  while (p < end)
    {
      const char *eol = memchr (p, '\n', (size_t)(end - p));
      size_t n;
      char line[MAX_LINE + 1], *s, *word, *arg;
      size_t i;

      if (eol == NULL)
        eol = end;
      n = (size_t)(eol - p);
      lineno++;
      if (n > MAX_LINE)
        goto too_long;
      memcpy (line, p, n);
      line[n] = '\0';
      p = eol < end ? eol + 1 : end;
      if (memchr (line, '\0', n) != NULL)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "Modelfile line %d: a NUL byte", lineno);
          goto fail;
        }
      /* Trim, skip blanks and comments. */
      s = line;
      while (*s && isspace ((unsigned char)*s))
        s++;
      for (char *t = s + strlen (s); t > s && isspace ((unsigned char)t[-1]);)
        *--t = '\0';
      if (*s == '\0' || *s == '#')
        continue;
      word = s;
      while (*s && !isspace ((unsigned char)*s))
        s++;
      if (*s)
        *s++ = '\0';
      while (*s && isspace ((unsigned char)*s))
        s++;
      arg = s;
      for (i = 0; i < sizeof directives / sizeof *directives; i++)
        if (strcasecmp (word, directives[i].name) == 0)
          break;
      if (i == sizeof directives / sizeof *directives)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "Modelfile line %d: unknown directive \"%.64s\"",
                        lineno, word);
          goto fail;
        }
      if (*arg == '\0')
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "Modelfile line %d: %s needs a value", lineno,
                        directives[i].name);
          goto fail;
        }
      for (const char *c = arg; *c; c++)
        if ((unsigned char)*c < 0x20)
          {
            mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                          "Modelfile line %d: a control character in the "
                          "value",
                          lineno);
            goto fail;
          }
      if (directives[i].kind < 0)
        {
          char **f = (char **)((char *)mf + directives[i].field);
          if (*f != NULL)
            {
              mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                            "Modelfile line %d: %s given twice", lineno,
                            directives[i].name);
              goto fail;
            }
          if ((*f = strdup (arg)) == NULL)
            goto nomem;
        }
      else
        {
          if (!pattern_ok (arg))
            {
              mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                            "Modelfile line %d: %s \"%.200s\" reaches "
                            "outside the model directory",
                            lineno, directives[i].name, arg);
              goto fail;
            }
          if (modelfile_add_rule (mf, (enum modelfile_kind)directives[i].kind,
                                  arg)
              < 0)
            goto nomem;
        }
    }
  *out = steal_pointer (&mf);
  return 0;

too_long:
  mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                "Modelfile line %d: longer than %d bytes", lineno, MAX_LINE);
  goto fail;
nomem:
  mp_error_set (err, MP_ERR_INTERNAL, "out of memory");
fail:
  {
    modelfile *m = steal_pointer (&mf);
    modelfile_free (m);
  }
  return -1;
}

char *
modelfile_format (const modelfile *mf)
{
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream (&buf, &size);

  if (f == NULL)
    return NULL;
  fputs ("# Modelfile: how `modelpack pack` turns this directory into a "
         "model artifact.\n",
         f);
  for (size_t i = 0; i < sizeof directives / sizeof *directives; i++)
    if (directives[i].kind < 0)
      {
        const char *v
            = *(char *const *)((const char *)mf + directives[i].field);
        if (v != NULL)
          fprintf (f, "%s %s\n", directives[i].name, v);
      }
  for (size_t i = 0; i < mf->n_rules; i++)
    fprintf (f, "%s%s %s\n", i == 0 ? "\n" : "",
             modelfile_kind_directive (mf->rules[i].kind),
             mf->rules[i].pattern);
  if (fclose (f) != 0)
    {
      free (buf);
      return NULL;
    }
  return buf;
}

static bool
match_any (const char *name, const char *const *pats)
{
  for (; *pats != NULL; pats++)
    if (fnmatch (*pats, name, FNM_CASEFOLD) == 0)
      return true;
  return false;
}

int
modelfile_classify (const char *relpath)
{
  static const char *const weights[]
      = { "*.safetensors", "*.gguf",   "*.bin",      "*.pt",
          "*.pth",         "*.onnx",   "*.ckpt",     "*.h5",
          "*.msgpack",     "*.tflite", "*.pdparams", NULL };
  static const char *const configs[] = { "config.json",
                                         "generation_config.json",
                                         "tokenizer*",
                                         "*.tiktoken",
                                         "vocab*",
                                         "merges.txt",
                                         "special_tokens_map.json",
                                         "preprocessor_config.json",
                                         "added_tokens.json",
                                         "*.model",
                                         "*.safetensors.index.json",
                                         "*.bin.index.json",
                                         "chat_template*",
                                         NULL };
  static const char *const docs[]
      = { "*.md",  "LICENSE*", "README*",     "NOTICE*",
          "*.txt", "*.pdf",    "USE_POLICY*", NULL };
  static const char *const code[]
      = { "*.py", "*.sh",   "*.ipynb", "*.js",    "*.ts",
          "*.go", "*.rs",   "*.c",     "*.cc",    "*.cpp",
          "*.h",  "*.java", "*.rb",    "*.jinja", NULL };
  static const char *const data[]
      = { "*.parquet", "*.csv", "*.jsonl", "*.arrow", NULL };
  const char *base = strrchr (relpath, '/');

  base = base != NULL ? base + 1 : relpath;
  if (match_any (base, weights))
    return MODELFILE_MODEL;
  if (match_any (base, configs))
    return MODELFILE_CONFIG;
  if (match_any (base, docs))
    return MODELFILE_DOC;
  if (match_any (base, code))
    return MODELFILE_CODE;
  if (match_any (base, data))
    return MODELFILE_DATASET;
  return -1;
}
