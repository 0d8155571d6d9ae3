/* The model config validator against our table of model-spec's rules
 * (tests/data/model-config-cases.json: one document per rule of the spec's
 * schema, each to be accepted, or rejected with an error naming the field),
 * plus the messages, legacy configs and the writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model/modelconfig.h"
#include "tests/harness.h"

#define DIFF1                                                                  \
  "sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"

/* In the repository; unit tests run from its root (scripts/run-unit.sh). */
#define CASES_FILE "tests/data/model-config-cases.json"

TEST (test_spec_cases)
{
  json_error_t jerr;
  json_t *cases = json_load_file (CASES_FILE, 0, &jerr), *c;
  size_t i, checked = 0, mismatched = 0, n_reject = 0;

  if (cases == NULL)
    fprintf (stderr, "cannot read %s (run from the repository root): %s\n",
             CASES_FILE, jerr.text);
  REQUIRE (cases != NULL);
  REQUIRE (json_is_array (cases));
  json_array_foreach (cases, i, c)
  {
    const char *about = json_string_value (json_object_get (c, "about"));
    const char *expect = json_string_value (json_object_get (c, "expect"));
    const char *want = json_string_value (json_object_get (c, "error"));
    bool reject = expect != NULL && strcmp (expect, "reject") == 0;
    char *text = json_dumps (json_object_get (c, "document"), JSON_COMPACT);
    model_config *cfg = NULL;
    mp_error err = { 0 };
    int r;

    /* A rejection must say what it is about, or the validator may be
     * failing for a reason other than the one the case is there for. */
    if (text == NULL || about == NULL || expect == NULL
        || (!reject && strcmp (expect, "accept") != 0)
        || reject != (want != NULL))
      {
        fprintf (stderr, "case %zu: malformed test data\n", i);
        mp_test_failed_checks++;
        free (text);
        continue;
      }
    r = model_config_parse (text, strlen (text), &cfg, &err);
    checked++;
    if ((r < 0) != reject)
      {
        mismatched++;
        mp_test_failed_checks++;
        fprintf (stderr, "case %zu MISMATCH (%s): %s%s\n", i, about,
                 r < 0 ? "rejected: " : "accepted", r < 0 ? err.msg : "");
      }
    else if (reject)
      {
        n_reject++;
        if (strstr (err.msg, want) == NULL
            || err.code != MP_ERR_INVALID_ARGUMENT)
          {
            mismatched++;
            mp_test_failed_checks++;
            fprintf (stderr,
                     "case %zu (%s): rejected for the wrong reason: %s "
                     "(want \"%s\")\n",
                     i, about, err.msg, want);
          }
      }
    /* Validation alone agrees with parsing. */
    CHECK ((model_config_validate (text, strlen (text), NULL) < 0) == reject);
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
  printf ("model-config-cases: %zu/%zu cases as expected (%zu rejections, "
          "each naming its field), %zu mismatches\n",
          checked - mismatched, checked, n_reject, mismatched);
  /* The file is ours: fewer cases than it holds means it was cut short. */
  CHECK (checked == 27 && n_reject == 24);
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
