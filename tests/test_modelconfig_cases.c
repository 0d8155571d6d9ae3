/* The model config validator against the model-spec's own 27 cases
 * (testdata/model-spec/config-cases.json, written by the spec authors, not
 * by us), plus the messages, legacy configs and the writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/modelconfig.h"
#include "tests/harness.h"

#define DIFF1                                                                  \
  "sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"

static json_t *
load_cases (char *where, size_t wsize)
{
  const char *dir = getenv ("MP_SHARED_DIR");
  json_error_t jerr;
  json_t *cases;

  if (dir != NULL && *dir != '\0')
    snprintf (where, wsize, "%s/testdata/model-spec/config-cases.json", dir);
  else
    snprintf (where, wsize, "../shared/testdata/model-spec/config-cases.json");
  cases = json_load_file (where, 0, &jerr);
  if (cases == NULL)
    fprintf (stderr, "cannot read %s: %s\n", where, jerr.text);
  return cases;
}

/* The field each failing case is about: the error must name it, or the
 * validator may be failing for a reason other than the one the spec
 * authors meant. */
static const struct
{
  const char *comment_part;
  const char *path;
} expected_paths[] = {
  { "config is missing", "config: required field is missing" },
  { "version is a number", "descriptor.version: must be a string" },
  { "revision is a number", "descriptor.revision: must be a string" },
  { "createdAt is not RFC3339", "descriptor.createdAt: " },
  { "authors is not an array", "descriptor.authors: must be an array" },
  { "licenses is not an array", "descriptor.licenses: must be an array" },
  { "docURL is an array", "descriptor.docURL: must be a string" },
  { "sourceURL is an array", "descriptor.sourceURL: must be a string" },
  { "datasetsURL is not an array", "descriptor.datasetsURL: must be an array" },
  { "paramSize is a number", "config.paramSize: must be a string" },
  { "precision is a number", "config.precision: must be a string" },
  { "type is not", "modelfs.type: \"layer\" is not one of layers" },
  { "diffIds is not an array", "modelfs.diffIds: must be an array" },
  { "diffIds is empty", "modelfs.diffIds: must list at least one" },
  { "inputTypes is not an array",
    "config.capabilities.inputTypes: must be an array" },
  { "outputTypes is not an array",
    "config.capabilities.outputTypes: must be an array" },
  { "not a valid type", "config.capabilities.inputTypes[0]: \"img\" is not "
                        "one of text, image, audio, video, embedding, other" },
  { "knowledgeCutoff is not RFC3339",
    "config.capabilities.knowledgeCutoff: \"2025-01-01\" is not an RFC 3339" },
  { "reasoning is not boolean",
    "config.capabilities.reasoning: must be a boolean" },
  { "toolUsage is not boolean",
    "config.capabilities.toolUsage: must be a boolean" },
  { "reward is not boolean", "config.capabilities.reward: must be a boolean" },
  { "languages is not an array",
    "config.capabilities.languages: must be an array" },
  { "two-letter ISO 639", "config.capabilities.languages[0]: \"fra\"" },
  { "unknown field in capabilities",
    "config.capabilities: unknown field \"unknownField\"" },
};

static const char *
expected_path_for (const char *comment)
{
  for (size_t i = 0; i < sizeof expected_paths / sizeof *expected_paths; i++)
    if (strstr (comment, expected_paths[i].comment_part) != NULL)
      return expected_paths[i].path;
  return NULL;
}

TEST (test_spec_cases)
{
  char where[512];
  json_t *cases = load_cases (where, sizeof where);
  size_t i, checked = 0, mismatched = 0, n_fail = 0;
  json_t *c;

  REQUIRE (cases != NULL);
  REQUIRE (json_is_array (cases));
  json_array_foreach (cases, i, c)
  {
    const char *comment = json_string_value (json_object_get (c, "comment"));
    bool fail = json_is_true (json_object_get (c, "fail"));
    char *text = json_dumps (json_object_get (c, "config"), JSON_COMPACT);
    model_config *cfg = NULL;
    mp_error err = { 0 };
    int r;

    if (text == NULL || comment == NULL)
      {
        fprintf (stderr, "case %zu: malformed test data\n", i);
        mp_test_failed_checks++;
        free (text);
        continue;
      }
    r = model_config_parse (text, strlen (text), &cfg, &err);
    checked++;
    if ((r < 0) != fail)
      {
        mismatched++;
        mp_test_failed_checks++;
        fprintf (stderr, "case %zu MISMATCH (%s): %s%s\n", i, comment,
                 r < 0 ? "rejected: " : "accepted", r < 0 ? err.msg : "");
      }
    else if (fail)
      {
        const char *want = expected_path_for (comment);

        n_fail++;
        if (want == NULL || strstr (err.msg, want) == NULL
            || err.code != MP_ERR_INVALID_ARGUMENT)
          {
            mismatched++;
            mp_test_failed_checks++;
            fprintf (stderr,
                     "case %zu (%s): rejected for the wrong reason: %s "
                     "(want \"%s\")\n",
                     i, comment, err.msg, want ? want : "?");
          }
      }
    /* Validation alone agrees with parsing. */
    CHECK ((model_config_validate (text, strlen (text), NULL) < 0) == fail);
    /* What is accepted can be written back and read again unchanged. */
    if (r == 0)
      {
        char *once = model_config_to_json (cfg, &err), *twice = NULL;
        model_config *again = NULL;

        CHECK (once != NULL);
        if (once != NULL
            && model_config_parse (once, strlen (once), &again, &err) == 0)
          twice = model_config_to_json (again, &err);
        CHECK (twice != NULL && strcmp (once, twice) == 0);
        free (once);
        free (twice);
        model_config_free (again);
      }
    model_config_free (cfg);
    free (text);
  }
  json_decref (cases);
  printf ("config-cases: %zu/%zu cases checked as the spec says (%zu "
          "rejections, each naming its field), %zu mismatches [%s]\n",
          checked - mismatched, checked, n_fail, mismatched, where);
  CHECK (checked == 27);
}

static void
expect_error (const char *json, const char *needle)
{
  mp_error err = { 0 };
  model_config *c = NULL;

  if (model_config_parse (json, strlen (json), &c, &err) == 0)
    {
      fprintf (stderr, "accepted: %s\n", json);
      mp_test_failed_checks++;
      model_config_free (c);
      return;
    }
  if (strstr (err.msg, needle) == NULL)
    {
      fprintf (stderr, "error \"%s\" lacks \"%s\"\n", err.msg, needle);
      mp_test_failed_checks++;
    }
}

static void
expect_ok (const char *json)
{
  mp_error err = { 0 };
  model_config *c = NULL;

  if (model_config_parse (json, strlen (json), &c, &err) < 0)
    {
      fprintf (stderr, "rejected: %s: %s\n", json, err.msg);
      mp_test_failed_checks++;
    }
  model_config_free (c);
}

#define FS "\"modelfs\":{\"type\":\"layers\",\"diffIds\":[\"" DIFF1 "\"]}"

TEST (test_more_schema_rules)
{
  expect_ok ("{\"descriptor\":{},\"config\":{}," FS "}");
  expect_error ("{\"descriptor\":{\"name\":\"\"},\"config\":{}," FS "}",
                "descriptor.name: must not be empty");
  expect_error ("{\"descriptor\":{\"name\":null},\"config\":{}," FS "}",
                "descriptor.name: must be a string, got null");
  expect_error ("{\"descriptor\":{},\"config\":{}," FS ",\"extra\":1}",
                "(top level): unknown field \"extra\"");
  expect_error ("{\"descriptor\":{\"Name\":\"x\"},\"config\":{}," FS "}",
                "descriptor: unknown field \"Name\"");
  expect_error ("{\"descriptor\":{},\"config\":{\"paramsize\":\"8b\"}," FS "}",
                "config: unknown field \"paramsize\"");
  expect_error ("{\"descriptor\":[],\"config\":{}," FS "}",
                "descriptor: must be an object, got an array");
  expect_error ("{\"config\":{}," FS "}", "descriptor: required field");
  expect_error ("{\"descriptor\":{},\"config\":{}}", "modelfs: required");
  expect_error ("{\"descriptor\":{},\"config\":{},\"modelfs\":{\"type\":"
                "\"layers\"}}",
                "modelfs.diffIds: required field is missing");
  expect_error (
      "{\"descriptor\":{},\"config\":{},\"modelfs\":{\"diffIds\":[\"" DIFF1
      "\"]}}",
      "modelfs.type: required field is missing");
  expect_error ("{\"descriptor\":{},\"config\":{},\"modelfs\":{\"type\":"
                "\"layers\",\"diffIds\":[\"sha256:abc\"]}}",
                "modelfs.diffIds[0]: invalid digest \"sha256:abc\"");
  expect_error ("{\"descriptor\":{},\"config\":{},\"modelfs\":{\"type\":"
                "\"layers\",\"diffIds\":[\"" DIFF1 "\",3]}}",
                "modelfs.diffIds[1]: must be a string, got a number");
  expect_error ("{\"descriptor\":{\"authors\":[\"a\",false]},\"config\":{}," FS
                "}",
                "descriptor.authors[1]: must be a string, got a boolean");
  expect_error ("{\"descriptor\":{},\"config\":{\"capabilities\":{"
                "\"inputTypes\":[\"text\",\"foo\"]}}," FS "}",
                "config.capabilities.inputTypes[1]: \"foo\" is not one of "
                "text, image, audio, video, embedding, other");
  expect_error ("{\"descriptor\":{},\"config\":{\"capabilities\":{"
                "\"languages\":[\"EN\"]}}," FS "}",
                "languages[0]: \"EN\"");
  expect_error ("{\"descriptor\":{},\"config\":{\"capabilities\":{"
                "\"languages\":[\"en\\n\"]}}," FS "}",
                "languages[0]: \"en\\x0a\"");
  expect_error ("{\"descriptor\":{\"createdAt\":\"2025-02-30T00:00:00Z\"},"
                "\"config\":{}," FS "}",
                "descriptor.createdAt: \"2025-02-30T00:00:00Z\" is not an RFC "
                "3339 date-time");
  expect_error ("{\"descriptor\":{},\"config\":{}," FS ",\"config\":{}}",
                "duplicate");
  expect_error ("[]", "(top level): must be an object");
  expect_error ("{", "not valid JSON");
  expect_ok ("{\"descriptor\":{\"createdAt\":\"2025-01-01T00:00:00.5+05:30\","
             "\"name\":\"x\"},\"config\":{\"capabilities\":{\"languages\":["
             "\"en\",\"zh\"],\"reward\":true,\"inputTypes\":[],"
             "\"outputTypes\":[\"audio\",\"video\",\"other\"]}}," FS "}");
}

TEST (test_legacy_configs)
{
  static const char v006[]
      = "{\"descriptor\":{\"name\":\"old\",\"createdAt\":"
        "\"2024-12-01T10:00:00Z\"},"
        "\"config\":{\"paramSize\":\"1b\",\"capabilities\":{"
        "\"input_types\":[\"text\"],\"output_types\":[\"text\"],"
        "\"knowledge_cutoff\":\"2024-01-01T00:00:00Z\",\"tool_usage\":true,"
        "\"reasoning\":false}},"
        "\"modelfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DIFF1 "\"]}}";
  static const char v007[]
      = "{\"descriptor\":{\"name\":\"m\"},\"config\":{\"capabilities\":{"
        "\"embedding\":true}}," FS "}";
  mp_error err = { 0 };
  model_config *c = NULL;
  char *out;

  REQUIRE (model_config_parse (v006, strlen (v006), &c, &err) == 0);
  CHECK (c->legacy);
  REQUIRE (c->diff_ids.n == 1);
  CHECK_STR (c->diff_ids.v[0], DIFF1);
  CHECK (c->config.capabilities.present);
  CHECK (c->config.capabilities.input_types.n == 1);
  CHECK (c->config.capabilities.tool_usage == MODEL_BOOL_TRUE);
  CHECK (c->config.capabilities.reasoning == MODEL_BOOL_FALSE);
  CHECK_STR (c->config.capabilities.knowledge_cutoff, "2024-01-01T00:00:00Z");
  /* Written back in today's spelling. */
  out = model_config_to_json (c, &err);
  REQUIRE (out != NULL);
  CHECK_STR (out,
             "{\"descriptor\":{\"createdAt\":\"2024-12-01T10:00:00Z\","
             "\"name\":\"old\"},"
             "\"modelfs\":{\"type\":\"layers\",\"diffIds\":[\"" DIFF1 "\"]},"
             "\"config\":{\"paramSize\":\"1b\",\"capabilities\":{"
             "\"inputTypes\":[\"text\"],\"outputTypes\":[\"text\"],"
             "\"knowledgeCutoff\":\"2024-01-01T00:00:00Z\","
             "\"reasoning\":false,\"toolUsage\":true}}}");
  free (out);
  model_config_free (c);

  /* Snake case only belongs with diff_ids. */
  expect_error ("{\"descriptor\":{},\"config\":{\"capabilities\":{"
                "\"input_types\":[\"text\"]}}," FS "}",
                "unknown field \"input_types\"");
  expect_error ("{\"descriptor\":{},\"config\":{},\"modelfs\":{\"type\":"
                "\"layers\",\"diff_ids\":[]}}",
                "modelfs.diff_ids: must list at least one");
  expect_error ("{\"descriptor\":{},\"config\":{},\"modelfs\":{\"type\":"
                "\"layers\",\"diff_ids\":[\"" DIFF1 "\"],\"diffIds\":[]}}",
                "modelfs: unknown field \"diffIds\"");

  REQUIRE (model_config_parse (v007, strlen (v007), &c, &err) == 0);
  CHECK (!c->legacy);
  CHECK (c->config.capabilities.embedding == MODEL_BOOL_TRUE);
  model_config_free (c);
}

TEST (test_writer)
{
  model_config c = { 0 };
  mp_error err = { 0 };
  enum model_modality in[] = { MODEL_MODALITY_TEXT, MODEL_MODALITY_IMAGE };
  char *out;

  /* Nothing set: diffIds is required, so the writer refuses. */
  out = model_config_to_json (&c, &err);
  CHECK (out == NULL);
  CHECK (strstr (err.msg, "modelfs.diffIds: must list at least one") != NULL);

  REQUIRE (model_strv_push (&c.diff_ids, DIFF1, &err) == 0);
  out = model_config_to_json (&c, &err);
  CHECK_STR (out, "{\"descriptor\":{},\"modelfs\":{\"type\":\"layers\","
                  "\"diffIds\":[\"" DIFF1 "\"]},\"config\":{}}");
  free (out);

  c.descriptor.name = strdup ("qwen3-0.6b");
  c.descriptor.family = strdup ("qwen3");
  c.descriptor.title = strdup (""); /* empty is absent */
  REQUIRE (model_strv_push (&c.descriptor.licenses, "Apache-2.0", &err) == 0);
  c.config.format = strdup ("safetensors");
  c.config.param_size = strdup ("0.6b");
  c.config.capabilities.present = true;
  c.config.capabilities.input_types.v = in;
  c.config.capabilities.input_types.n = 2;
  c.config.capabilities.reasoning = MODEL_BOOL_TRUE;
  c.config.capabilities.embedding = MODEL_BOOL_TRUE; /* never written */
  out = model_config_to_json (&c, &err);
  CHECK_STR (out,
             "{\"descriptor\":{\"family\":\"qwen3\",\"name\":\"qwen3-0.6b\","
             "\"licenses\":[\"Apache-2.0\"]},"
             "\"modelfs\":{\"type\":\"layers\",\"diffIds\":[\"" DIFF1 "\"]},"
             "\"config\":{\"format\":\"safetensors\",\"paramSize\":\"0.6b\","
             "\"capabilities\":{\"inputTypes\":[\"text\",\"image\"],"
             "\"reasoning\":true}}}");
  free (out);

  /* The writer validates like the reader. */
  c.descriptor.created_at = strdup ("yesterday");
  out = model_config_to_json (&c, &err);
  CHECK (out == NULL);
  CHECK (strstr (err.msg, "descriptor.createdAt: \"yesterday\"") != NULL);
  free (c.descriptor.created_at);
  c.descriptor.created_at = strdup ("2025-06-01T12:00:00Z");
  REQUIRE (model_strv_push (&c.config.capabilities.languages, "english", &err)
           == 0);
  out = model_config_to_json (&c, &err);
  CHECK (out == NULL);
  CHECK (strstr (err.msg, "config.capabilities.languages[0]") != NULL);
  model_strv_clear (&c.config.capabilities.languages);
  free (c.descriptor.family);
  c.descriptor.family = strdup ("\xff\xfe");
  out = model_config_to_json (&c, &err);
  CHECK (out == NULL);
  CHECK (strstr (err.msg, "descriptor.family: not valid UTF-8") != NULL);

  /* Round trip through the parser is exact. */
  free (c.descriptor.family);
  c.descriptor.family = NULL;
  out = model_config_to_json (&c, &err);
  REQUIRE (out != NULL);
  {
    model_config *back = NULL;
    char *again;

    REQUIRE (model_config_parse (out, strlen (out), &back, &err) == 0);
    CHECK_STR (back->descriptor.created_at, "2025-06-01T12:00:00Z");
    CHECK (back->config.capabilities.input_types.n == 2);
    CHECK (back->config.capabilities.input_types.v[1] == MODEL_MODALITY_IMAGE);
    CHECK (back->config.capabilities.embedding == MODEL_BOOL_UNSET);
    again = model_config_to_json (back, &err);
    CHECK_STR (again, out);
    free (again);
    model_config_free (back);
  }
  free (out);

  c.config.capabilities.input_types.v = NULL;
  c.config.capabilities.input_types.n = 0;
  free (c.descriptor.name);
  free (c.descriptor.title);
  free (c.descriptor.created_at);
  free (c.config.format);
  free (c.config.param_size);
  model_strv_clear (&c.descriptor.licenses);
  model_strv_clear (&c.diff_ids);
}

TEST_MAIN (T (test_spec_cases), T (test_more_schema_rules),
           T (test_legacy_configs), T (test_writer))
