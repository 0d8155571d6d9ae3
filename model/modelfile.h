/* Modelfiles: how a model directory becomes an artifact.
 *
 * One directive per line, `#` starts a comment line, blank lines are
 * ignored, directive names are case-insensitive:
 *
 *   NAME llama3-8b          descriptor.name
 *   FAMILY llama3           descriptor.family
 *   ARCH transformer        config.architecture
 *   FORMAT safetensors      config.format
 *   PARAMSIZE 8b            config.paramSize
 *   PRECISION bf16          config.precision
 *   QUANTIZE awq            config.quantization
 *   CONFIG config.json      files: weight config      (weight.config layers)
 *   MODEL *.safetensors     files: weights            (weight layers)
 *   CODE *.py               files: code               (code layers)
 *   DOC README.md           files: documentation      (doc layers)
 *   DATASET *.parquet       files: datasets           (dataset layers)
 *
 * A file directive's argument is a shell pattern (fnmatch, `/` matched only
 * by `/`) over paths relative to the model directory; a file takes the kind
 * of the first directive that matches it, and files no directive matches
 * are left out.  The same directives as modctl's Modelfiles, so existing
 * Modelfiles work. */
#ifndef MP_MODEL_MODELFILE_H
#define MP_MODEL_MODELFILE_H

#include <stddef.h>

#include "model/mediatype.h"
#include "util/error.h"

enum modelfile_kind
{
  MODELFILE_CONFIG,
  MODELFILE_MODEL,
  MODELFILE_CODE,
  MODELFILE_DOC,
  MODELFILE_DATASET,
};

typedef struct modelfile_rule
{
  enum modelfile_kind kind;
  char *pattern;
} modelfile_rule;

typedef struct modelfile
{
  char *name, *family, *arch, *format, *paramsize, *precision, *quantize;
  modelfile_rule *rules;
  size_t n_rules;
} modelfile;

/* Parse TEXT.  Errors (MP_ERR_INVALID_ARGUMENT) name the line: "line 3:
 * unknown directive \"MODLE\"". */
int modelfile_parse (const char *text, size_t len, modelfile **out,
                     mp_error *err);
void modelfile_free (modelfile *mf);
/* The Modelfile text for MF (malloc'd). */
char *modelfile_format (const modelfile *mf);
/* Add a rule; -1 on ENOMEM. */
int modelfile_add_rule (modelfile *mf, enum modelfile_kind kind,
                        const char *pattern);
/* Put the rules in the order `modelpack init` writes them: MODEL, CONFIG,
 * CODE, DOC, DATASET, each group by pattern (strcmp).  Only for rules that
 * each name one file, where order does not change what a rule matches: the
 * same directory then gives the same Modelfile whatever its directory
 * order or nesting. */
void modelfile_sort_rules (modelfile *mf);

/* The kind a file of this relative path gets when no Modelfile says (what
 * `modelpack init` writes): weights *.safetensors *.gguf *.bin *.pt *.pth
 * *.onnx *.ckpt *.h5 *.msgpack *.tflite; weight config config.json,
 * generation_config.json, tokenizer*, *.tiktoken, vocab*, merges.txt,
 * special_tokens_map.json, preprocessor_config.json, *.model (sentencepiece);
 * docs *.md, LICENSE*, README*, NOTICE*, *.txt; code *.py *.sh *.ipynb *.js
 * *.ts *.go *.rs *.c *.cc *.cpp *.h
 * *.java *.rb *.jinja; datasets *.parquet *.csv *.jsonl *.arrow; anything else
 * -1 (left out). */
int modelfile_classify (const char *relpath);

/* The ModelPack layer kind of a directive's files. */
enum model_layer_kind modelfile_kind_layer (enum modelfile_kind k);
const char *modelfile_kind_directive (enum modelfile_kind k);

#endif
