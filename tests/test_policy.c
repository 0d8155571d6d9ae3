/* Signature policy reader: containers-policy.json parsing and scope
 * lookup (model/policy.h). */
#include <string.h>

#include "harness.h"
#include "model/policy.h"

static model_policy *
parse (const char *json)
{
  model_policy *p = NULL;
  mp_error err;

  if (model_policy_parse (json, strlen (json), &p, &err) < 0)
    {
      fprintf (stderr, "unexpected parse error: %s\n", err.msg);
      return NULL;
    }
  return p;
}

/* Parsing fails, and the message is exactly want. */
static void
expect_error (const char *json, const char *want)
{
  model_policy *p = NULL;
  mp_error err;

  memset (&err, 0, sizeof err);
  CHECK (model_policy_parse (json, strlen (json), &p, &err) == -1);
  CHECK (p == NULL);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK_STR (err.msg, want);
  model_policy_free (p);
}

TEST (default_only)
{
  model_policy *p = parse ("{\"default\": [{\"type\": \"reject\"}]}");
  const model_policy_requirements *rs;

  REQUIRE (p != NULL);
  CHECK (p->n_docker == 0);
  rs = model_policy_lookup (p, "reg.example.com:5000/ns/model:v1");
  CHECK (rs == &p->default_reqs);
  CHECK (rs->n == 1 && rs->v[0].type == MODEL_POLICY_REJECT);
  CHECK (model_policy_lookup (p, "") == &p->default_reqs);
  model_policy_free (p);
}

/* The scope name whose requirements lookup returns for ref, or "default". */
static const char *
winner (const model_policy *p, const char *ref)
{
  const model_policy_requirements *rs = model_policy_lookup (p, ref);

  for (size_t i = 0; i < p->n_docker; i++)
    if (rs == &p->docker[i].reqs)
      return p->docker[i].scope;
  return rs == &p->default_reqs ? "default" : "?";
}

static const char precedence_json[]
    = "{\"default\": [{\"type\": \"reject\"}],"
      " \"transports\": {\"docker\": {"
      "  \"reg.example.com:5000/ns/sub/repo:v1\": [{\"type\": \"reject\"}],"
      "  \"reg.example.com:5000/ns/sub/repo@sha256:aa\": [{\"type\": "
      "\"reject\"}],"
      "  \"reg.example.com:5000/ns/sub/repo\": [{\"type\": \"reject\"}],"
      "  \"reg.example.com:5000/ns\": [{\"type\": \"reject\"}],"
      "  \"reg.example.com:5000\": [{\"type\": \"reject\"}],"
      "  \"*.example.com\": [{\"type\": \"reject\"}],"
      "  \"*.b.example.com\": [{\"type\": \"reject\"}],"
      "  \"docker.io/library/busybox\": [{\"type\": \"reject\"}]"
      " },"
      " \"dir\": {\"\": [{\"type\": \"insecureAcceptAnything\"}]},"
      " \"futuretransport\": 42}}";

TEST (scope_precedence)
{
  model_policy *p = parse (precedence_json);

  REQUIRE (p != NULL);
  CHECK (p->n_docker == 8);
  CHECK_STR (winner (p, "reg.example.com:5000/ns/sub/repo:v1"),
             "reg.example.com:5000/ns/sub/repo:v1");
  CHECK_STR (winner (p, "reg.example.com:5000/ns/sub/repo@sha256:aa"),
             "reg.example.com:5000/ns/sub/repo@sha256:aa");
  CHECK_STR (winner (p, "reg.example.com:5000/ns/sub/repo:v2"),
             "reg.example.com:5000/ns/sub/repo");
  CHECK_STR (winner (p, "reg.example.com:5000/ns/sub/repo"),
             "reg.example.com:5000/ns/sub/repo");
  CHECK_STR (winner (p, "reg.example.com:5000/ns/sub/other:v1"),
             "reg.example.com:5000/ns");
  CHECK_STR (winner (p, "reg.example.com:5000/ns2/x:v1"),
             "reg.example.com:5000");
  /* Same host, another port: only the wildcard (ports are dropped). */
  CHECK_STR (winner (p, "reg.example.com:6000/ns/x:v1"), "*.example.com");
  CHECK_STR (winner (p, "reg.example.com/ns/x"), "*.example.com");
  /* The longest wildcard domain first. */
  CHECK_STR (winner (p, "a.b.example.com/x:1"), "*.b.example.com");
  /* A wildcard never matches the bare domain. */
  CHECK_STR (winner (p, "example.com/x:1"), "default");
  CHECK_STR (winner (p, "b.example.com/x:1"), "*.example.com");
  /* A prefix must end at a path component. */
  CHECK_STR (winner (p, "reg.example.com:5000/nsx/y"), "reg.example.com:5000");
  CHECK_STR (winner (p, "docker.io/library/busybox:latest"),
             "docker.io/library/busybox");
  CHECK_STR (winner (p, "quay.io/x/y:1"), "default");
  model_policy_free (p);
}

TEST (transport_default_scope)
{
  model_policy *p
      = parse ("{\"default\": [{\"type\": \"reject\"}], \"transports\": "
               "{\"docker\": {\"\": [{\"type\": \"insecureAcceptAnything\"}],"
               " \"*.example.com\": [{\"type\": \"reject\"}]}}}");

  REQUIRE (p != NULL);
  CHECK_STR (winner (p, "quay.io/x/y:1"), "");
  CHECK_STR (winner (p, "r.example.com/y"), "*.example.com");
  CHECK (model_policy_lookup (p, "quay.io/x")->v[0].type
         == MODEL_POLICY_INSECURE_ACCEPT_ANYTHING);
  model_policy_free (p);
}

static const model_policy_requirement *
only_req (const model_policy *p)
{
  if (p == NULL || p->n_docker != 1 || p->docker[0].reqs.n != 1)
    return NULL;
  return &p->docker[0].reqs.v[0];
}

static model_policy *
parse_req (const char *req)
{
  char buf[4096];

  snprintf (buf, sizeof buf,
            "{\"default\": [{\"type\": \"reject\"}], \"transports\": "
            "{\"docker\": {\"reg/x\": [%s]}}}",
            req);
  return parse (buf);
}

TEST (requirement_types)
{
  model_policy *p
      = parse ("{\"default\": [{\"type\": \"insecureAcceptAnything\"}, "
               "{\"type\": \"reject\"}]}");

  REQUIRE (p != NULL);
  REQUIRE (p->default_reqs.n == 2);
  CHECK (p->default_reqs.v[0].type == MODEL_POLICY_INSECURE_ACCEPT_ANYTHING);
  CHECK (p->default_reqs.v[1].type == MODEL_POLICY_REJECT);
  model_policy_free (p);
}

TEST (sigstore_key_path)
{
  model_policy *p = parse_req (
      "{\"type\": \"sigstoreSigned\", \"keyPath\": \"/etc/k.pub\"}");
  const model_policy_requirement *r = only_req (p);

  REQUIRE (r != NULL);
  CHECK (r->type == MODEL_POLICY_SIGSTORE_SIGNED);
  CHECK (r->key_source == MODEL_POLICY_KEY_PATHS);
  REQUIRE (r->n_key_paths == 1);
  CHECK_STR (r->key_paths[0], "/etc/k.pub");
  CHECK (r->key_data.data == NULL && r->rekor_key_path == NULL);
  CHECK (r->identity.type == MODEL_POLICY_MATCH_REPO_DIGEST_OR_EXACT);
  model_policy_free (p);
}

TEST (sigstore_key_paths)
{
  model_policy *p = parse_req (
      "{\"type\": \"sigstoreSigned\", \"keyPaths\": [\"/a.pub\", \"/b.pub\"],"
      " \"rekorPublicKeyPath\": \"/rekor.pub\"}");
  const model_policy_requirement *r = only_req (p);

  REQUIRE (r != NULL);
  CHECK (r->key_source == MODEL_POLICY_KEY_PATHS);
  REQUIRE (r->n_key_paths == 2);
  CHECK_STR (r->key_paths[0], "/a.pub");
  CHECK_STR (r->key_paths[1], "/b.pub");
  CHECK_STR (r->rekor_key_path, "/rekor.pub");
  model_policy_free (p);
}

TEST (sigstore_key_data)
{
  /* "key\0\xff" and "ab": binary bytes survive, padding of both sizes. */
  model_policy *p
      = parse_req ("{\"type\": \"sigstoreSigned\", \"keyData\": \"a2V5AP8=\","
                   " \"rekorPublicKeyData\": \"YWI=\"}");
  const model_policy_requirement *r = only_req (p);

  REQUIRE (r != NULL);
  CHECK (r->key_source == MODEL_POLICY_KEY_DATA);
  CHECK (r->n_key_paths == 0);
  CHECK (r->key_data.len == 5
         && memcmp (r->key_data.data, "key\0\xff", 5) == 0);
  CHECK (r->rekor_key_data.len == 2
         && memcmp (r->rekor_key_data.data, "ab", 2) == 0);
  model_policy_free (p);
}

TEST (sigstore_fulcio)
{
  model_policy *p = parse_req (
      "{\"type\": \"sigstoreSigned\", \"fulcio\": {\"caPath\": \"/ca.pem\","
      " \"oidcIssuer\": \"https://issuer\", \"subjectEmail\": \"a@b.c\"},"
      " \"rekorPublicKeyPath\": \"/rekor.pub\"}");
  const model_policy_requirement *r = only_req (p);

  REQUIRE (r != NULL);
  CHECK (r->key_source == MODEL_POLICY_FULCIO);
  CHECK_STR (r->fulcio.ca_path, "/ca.pem");
  CHECK (r->fulcio.ca_data.data == NULL);
  CHECK_STR (r->fulcio.oidc_issuer, "https://issuer");
  CHECK_STR (r->fulcio.subject_email, "a@b.c");
  model_policy_free (p);

  p = parse_req ("{\"type\": \"sigstoreSigned\", \"fulcio\": {\"caData\": "
                 "\"Y2E=\", \"oidcIssuer\": \"i\", \"subjectEmail\": \"e\"},"
                 " \"rekorPublicKeyData\": \"cms=\"}");
  r = only_req (p);
  REQUIRE (r != NULL);
  CHECK (r->fulcio.ca_path == NULL);
  CHECK (r->fulcio.ca_data.len == 2
         && memcmp (r->fulcio.ca_data.data, "ca", 2) == 0);
  CHECK (r->rekor_key_data.len == 2);
  model_policy_free (p);
}

TEST (signed_identities)
{
  static const struct
  {
    const char *json;
    enum model_policy_identity_type type;
  } cases[] = {
    { "{\"type\": \"matchRepoDigestOrExact\"}",
      MODEL_POLICY_MATCH_REPO_DIGEST_OR_EXACT },
    { "{\"type\": \"matchRepository\"}", MODEL_POLICY_MATCH_REPOSITORY },
    { "{\"type\": \"matchExact\"}", MODEL_POLICY_MATCH_EXACT },
    { "{\"type\": \"exactReference\", \"dockerReference\": \"r:5000/a/b:1\"}",
      MODEL_POLICY_EXACT_REFERENCE },
    { "{\"type\": \"exactRepository\", \"dockerRepository\": \"r:5000/a/b\"}",
      MODEL_POLICY_EXACT_REPOSITORY },
    { "{\"type\": \"remapIdentity\", \"prefix\": \"mirror:5000/v\", "
      "\"signedPrefix\": \"vendor.example.com\"}",
      MODEL_POLICY_REMAP_IDENTITY },
  };

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      char req[512];
      model_policy *p;
      const model_policy_requirement *r;

      snprintf (req, sizeof req,
                "{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", "
                "\"signedIdentity\": %s}",
                cases[i].json);
      p = parse_req (req);
      r = only_req (p);
      CHECK (r != NULL);
      if (r == NULL)
        continue;
      CHECK (r->identity.type == cases[i].type);
      if (cases[i].type == MODEL_POLICY_EXACT_REFERENCE)
        CHECK_STR (r->identity.docker_reference, "r:5000/a/b:1");
      if (cases[i].type == MODEL_POLICY_EXACT_REPOSITORY)
        CHECK_STR (r->identity.docker_repository, "r:5000/a/b");
      if (cases[i].type == MODEL_POLICY_REMAP_IDENTITY)
        {
          CHECK_STR (r->identity.prefix, "mirror:5000/v");
          CHECK_STR (r->identity.signed_prefix, "vendor.example.com");
        }
      model_policy_free (p);
    }
}

/* The requirement req inside scope "reg/x" must fail with
 * `transports.docker["reg/x"][0]<suffix>`. */
static void
expect_req_error (const char *req, const char *suffix)
{
  char json[4096], want[1024];

  snprintf (json, sizeof json,
            "{\"default\": [{\"type\": \"reject\"}], \"transports\": "
            "{\"docker\": {\"reg/x\": [%s]}}}",
            req);
  snprintf (want, sizeof want, "transports.docker[\"reg/x\"][0]%s", suffix);
  expect_error (json, want);
}

TEST (top_level_errors)
{
  expect_error ("", "policy: not valid JSON: '[' or '{' expected near end of "
                    "file (line 1, column 0)");
  expect_error ("[]", "policy: the top level must be a JSON object");
  expect_error ("{}", "default: required field is missing (a global default "
                      "such as [{\"type\": \"reject\"}])");
  expect_error ("{\"default\": {}}",
                "default: expected an array of requirements");
  expect_error ("{\"default\": []}",
                "default: must not be empty (use [{\"type\": "
                "\"insecureAcceptAnything\"}] to accept anything)");
  expect_error ("{\"default\": [{\"type\": \"reject\"}], \"extra\": 1}",
                "policy: unknown field \"extra\"");
  expect_error ("{\"default\": [{\"type\": \"reject\"}], \"transports\": []}",
                "transports: expected an object");
  expect_error ("{\"default\": [{\"type\": \"reject\"}], \"transports\": "
                "{\"docker\": []}}",
                "transports.docker: expected an object");
  expect_error ("{\"default\": [{\"type\": \"reject\"}], \"transports\": "
                "{\"docker\": {\"reg/x\": {}}}}",
                "transports.docker[\"reg/x\"]: expected an array of "
                "requirements");
  expect_error ("{\"default\": [{\"type\": \"reject\"}], \"transports\": "
                "{\"docker\": {\"example*.com\": [{\"type\": \"reject\"}]}}}",
                "transports.docker[\"example*.com\"]: a wildcard scope must "
                "be *.domain (as *.example.com)");
  expect_error ("{\"default\": [{\"type\": \"reject\"}], \"transports\": "
                "{\"docker\": {\"*.a.com:5000\": [{\"type\": \"reject\"}]}}}",
                "transports.docker[\"*.a.com:5000\"]: a wildcard scope must "
                "be *.domain (as *.example.com)");
}

TEST (requirement_errors)
{
  expect_error ("{\"default\": [1]}", "default[0]: expected an object");
  expect_error ("{\"default\": [{}]}",
                "default[0].type: required field is missing");
  expect_error ("{\"default\": [{\"type\": 1}]}",
                "default[0].type: expected a string");
  expect_error ("{\"default\": [{\"type\": \"reject\"}, {\"type\": \"x\"}]}",
                "default[1].type: unknown requirement type \"x\"");
  expect_error ("{\"default\": [{\"type\": \"signedBy\", \"keyType\": "
                "\"GPGKeys\", \"keyPath\": \"/k\"}]}",
                "default[0].type: signedBy (GPG simple signing) is not "
                "supported; use sigstoreSigned");
  expect_error ("{\"default\": [{\"type\": \"reject\", \"keyPath\": \"/k\"}]}",
                "default[0]: unknown field \"keyPath\"");
  expect_req_error ("{\"type\": \"insecureAcceptAnything\", \"x\": 1}",
                    ": unknown field \"x\"");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyPath\": 1}",
                    ".keyPath: expected a string");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyPath\": \"\"}",
                    ".keyPath: must not be empty");
  expect_req_error ("{\"type\": \"sigstoreSigned\"}",
                    ": exactly one of keyPath, keyPaths, keyData and fulcio "
                    "is required");
  expect_req_error (
      "{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", \"keyData\": "
      "\"YQ==\"}",
      ": exactly one of keyPath, keyPaths, keyData and fulcio is required");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyPaths\": \"/k\"}",
                    ".keyPaths: expected an array of strings");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyPaths\": []}",
                    ".keyPaths: must not be empty");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyPaths\": [\"/a\", 2]}",
                    ".keyPaths[1]: expected a string");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyData\": 5}",
                    ".keyData: expected a string");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyData\": \"YQ\"}",
                    ".keyData: expected non-empty, padded standard base64");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyData\": \"Y=Q=\"}",
                    ".keyData: expected non-empty, padded standard base64");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyData\": \"\"}",
                    ".keyData: expected non-empty, padded standard base64");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", "
                    "\"rekorPublicKeyPath\": \"/r\", \"rekorPublicKeyData\": "
                    "\"YQ==\"}",
                    ": at most one of rekorPublicKeyPath and "
                    "rekorPublicKeyData");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", "
                    "\"rekorPublicKeyPath\": []}",
                    ".rekorPublicKeyPath: expected a string");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", "
                    "\"rekorPublicKeyData\": \"!!!!\"}",
                    ".rekorPublicKeyData: expected non-empty, padded standard "
                    "base64");
}

TEST (fulcio_errors)
{
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"fulcio\": \"x\"}",
                    ".fulcio: expected an object");
  expect_req_error (
      "{\"type\": \"sigstoreSigned\", \"fulcio\": {\"oidcIssuer\": \"i\", "
      "\"subjectEmail\": \"e\"}, \"rekorPublicKeyPath\": \"/r\"}",
      ".fulcio: exactly one of caPath and caData is required");
  expect_req_error (
      "{\"type\": \"sigstoreSigned\", \"fulcio\": {\"caPath\": \"/c\", "
      "\"caData\": \"YQ==\", \"oidcIssuer\": \"i\", \"subjectEmail\": \"e\"},"
      " \"rekorPublicKeyPath\": \"/r\"}",
      ".fulcio: exactly one of caPath and caData is required");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"fulcio\": {\"caPath\": "
                    "\"/c\", \"subjectEmail\": \"e\"}, "
                    "\"rekorPublicKeyPath\": \"/r\"}",
                    ".fulcio.oidcIssuer: required field is missing");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"fulcio\": {\"caPath\": "
                    "\"/c\", \"oidcIssuer\": \"i\"}, "
                    "\"rekorPublicKeyPath\": \"/r\"}",
                    ".fulcio.subjectEmail: required field is missing");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"fulcio\": {\"caPath\": "
                    "\"/c\", \"oidcIssuer\": 7, \"subjectEmail\": \"e\"}, "
                    "\"rekorPublicKeyPath\": \"/r\"}",
                    ".fulcio.oidcIssuer: expected a string");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"fulcio\": {\"caPath\": "
                    "\"/c\", \"oidcIssuer\": \"i\", \"subjectEmail\": \"e\", "
                    "\"x\": 1}, \"rekorPublicKeyPath\": \"/r\"}",
                    ".fulcio: unknown field \"x\"");
  expect_req_error ("{\"type\": \"sigstoreSigned\", \"fulcio\": {\"caPath\": "
                    "\"/c\", \"oidcIssuer\": \"i\", \"subjectEmail\": \"e\"}}",
                    ": fulcio needs rekorPublicKeyPath or rekorPublicKeyData");
}

TEST (identity_errors)
{
  static const struct
  {
    const char *id, *suffix;
  } cases[] = {
    { "[]", ".signedIdentity: expected an object" },
    { "{}", ".signedIdentity.type: required field is missing" },
    { "{\"type\": true}", ".signedIdentity.type: expected a string" },
    { "{\"type\": \"matchAnything\"}",
      ".signedIdentity.type: unknown signedIdentity type \"matchAnything\"" },
    { "{\"type\": \"matchExact\", \"dockerReference\": \"a/b:1\"}",
      ".signedIdentity: unknown field \"dockerReference\"" },
    { "{\"type\": \"exactReference\"}",
      ".signedIdentity.dockerReference: required field is missing" },
    { "{\"type\": \"exactReference\", \"dockerReference\": \"r:5000/a/b\"}",
      ".signedIdentity.dockerReference: must carry a tag or a digest" },
    { "{\"type\": \"exactRepository\", \"dockerRepository\": 3}",
      ".signedIdentity.dockerRepository: expected a string" },
    { "{\"type\": \"exactRepository\"}",
      ".signedIdentity.dockerRepository: required field is missing" },
    { "{\"type\": \"exactRepository\", \"dockerRepository\": \"a/b@sha256:x\"}",
      ".signedIdentity.dockerRepository: must not carry a tag or a digest" },
    { "{\"type\": \"remapIdentity\", \"signedPrefix\": \"v.com\"}",
      ".signedIdentity.prefix: required field is missing" },
    { "{\"type\": \"remapIdentity\", \"prefix\": \"m/v\"}",
      ".signedIdentity.signedPrefix: required field is missing" },
    { "{\"type\": \"remapIdentity\", \"prefix\": \"m/v:1\", \"signedPrefix\": "
      "\"v.com\"}",
      ".signedIdentity.prefix: must not carry a tag or a digest" },
  };

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      char req[512];

      snprintf (req, sizeof req,
                "{\"type\": \"sigstoreSigned\", \"keyPath\": \"/k\", "
                "\"signedIdentity\": %s}",
                cases[i].id);
      expect_req_error (req, cases[i].suffix);
    }
}

TEST (duplicate_keys)
{
  model_policy *p = NULL;
  mp_error err;
  static const char *const docs[] = {
    "{\"default\": [{\"type\": \"reject\"}], \"default\": [{\"type\": "
    "\"insecureAcceptAnything\"}]}",
    "{\"default\": [{\"type\": \"reject\", \"type\": "
    "\"insecureAcceptAnything\"}]}",
    "{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"docker\": "
    "{\"r/x\": [{\"type\": \"reject\"}], \"r/x\": [{\"type\": "
    "\"insecureAcceptAnything\"}]}}}",
    /* Even in a transport we otherwise skip. */
    "{\"default\": [{\"type\": \"reject\"}], \"transports\": {\"dir\": "
    "{\"\": [], \"\": []}}}",
  };

  for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
    {
      CHECK (model_policy_parse (docs[i], strlen (docs[i]), &p, &err) == -1);
      CHECK (strstr (err.msg, "duplicate object key") != NULL);
    }
}

TEST (unknown_transports_ignored)
{
  model_policy *p
      = parse ("{\"default\": [{\"type\": \"reject\"}], \"transports\": {"
               "\"atomic\": {\"h/x\": [{\"type\": \"signedBy\"}]},"
               "\"oci\": \"not even an object\"}}");

  REQUIRE (p != NULL);
  CHECK (p->n_docker == 0);
  model_policy_free (p);
}

TEST_MAIN ({ "default_only", default_only },
           { "scope_precedence", scope_precedence },
           { "transport_default_scope", transport_default_scope },
           { "requirement_types", requirement_types },
           { "sigstore_key_path", sigstore_key_path },
           { "sigstore_key_paths", sigstore_key_paths },
           { "sigstore_key_data", sigstore_key_data },
           { "sigstore_fulcio", sigstore_fulcio },
           { "signed_identities", signed_identities },
           { "top_level_errors", top_level_errors },
           { "requirement_errors", requirement_errors },
           { "fulcio_errors", fulcio_errors },
           { "identity_errors", identity_errors },
           { "duplicate_keys", duplicate_keys },
           { "unknown_transports_ignored", unknown_transports_ignored }, )
