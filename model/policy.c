/* containers-policy.json reader (see policy.h). */
#include "model/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/digest.h"
#include "model/jsonfield.h"
#include "util/base64.h"
#include "util/cleanup.h"

/* JSON paths in messages: scopes are quoted by model_quote, so the path
 * stays well under mp_error's message size. */
static int
oom (mp_error *err)
{
  return mp_error_sys (err, ENOMEM, "policy");
}

static void
identity_clear (model_policy_identity *id)
{
  free (id->docker_reference);
  free (id->docker_repository);
  free (id->prefix);
  free (id->signed_prefix);
}

static void
requirement_clear (model_policy_requirement *r)
{
  for (size_t i = 0; i < r->n_key_paths; i++)
    free (r->key_paths[i]);
  free (r->key_paths);
  free (r->key_data.data);
  free (r->fulcio.ca_path);
  free (r->fulcio.ca_data.data);
  free (r->fulcio.oidc_issuer);
  free (r->fulcio.subject_email);
  free (r->rekor_key_path);
  free (r->rekor_key_data.data);
  identity_clear (&r->identity);
}

static void
requirements_clear (model_policy_requirements *rs)
{
  for (size_t i = 0; i < rs->n; i++)
    requirement_clear (&rs->v[i]);
  free (rs->v);
  rs->v = NULL;
  rs->n = 0;
}

void
model_policy_free (model_policy *p)
{
  if (p == NULL)
    return;
  requirements_clear (&p->default_reqs);
  for (size_t i = 0; i < p->n_docker; i++)
    {
      free (p->docker[i].scope);
      requirements_clear (&p->docker[i].reqs);
    }
  free (p->docker);
  free (p);
}

/* Optional string member; a present one must be a non-empty string. */
static int
get_string (const json_t *obj, const char *key, const char *where, char **out,
            mp_error *err)
{
  const json_t *v = json_object_get (obj, key);
  char w[MODEL_JSON_WHERE_MAX];

  if (v == NULL)
    return 0;
  model_json_path (w, "%s.%s", where, key);
  if (!json_is_string (v))
    return model_json_bad (err, w, "expected a string");
  if (json_string_length (v) == 0)
    return model_json_bad (err, w, "must not be empty");
  *out = strdup (json_string_value (v));
  return *out == NULL ? oom (err) : 0;
}

static int
get_base64 (const json_t *obj, const char *key, const char *where,
            model_policy_bytes *out, mp_error *err)
{
  const json_t *v = json_object_get (obj, key);
  char w[MODEL_JSON_WHERE_MAX];
  int r;

  if (v == NULL)
    return 0;
  model_json_path (w, "%s.%s", where, key);
  if (!json_is_string (v))
    return model_json_bad (err, w, "expected a string");
  if (json_string_length (v) == 0)
    return model_json_bad (err, w,
                           "expected non-empty, padded standard base64");
  r = mp_base64_decode_bytes (json_string_value (v), json_string_length (v),
                              &out->data, &out->len);
  if (r < 0 && errno == ENOMEM)
    return oom (err);
  if (r == 0 && out->len == 0)
    {
      free (out->data);
      out->data = NULL;
      r = -1;
    }
  if (r < 0)
    return model_json_bad (err, w,
                           "expected non-empty, padded standard base64");
  return 0;
}

/* A reference splits into name and its ":tag" or "@digest" (or neither). */
static size_t
ref_name_len (const char *ref)
{
  const char *at = strchr (ref, '@');
  const char *slash, *colon;
  size_t n = at ? (size_t)(at - ref) : strlen (ref);

  slash = memrchr (ref, '/', n);
  colon = memrchr (ref, ':', n);
  /* A colon before the first slash, or with no slash, is host:port. */
  if (colon != NULL && slash != NULL && colon > slash)
    n = (size_t)(colon - ref);
  return n;
}

static int
parse_identity (const json_t *v, const char *where, model_policy_identity *id,
                mp_error *err)
{
  static const char *const plain[] = { "type", NULL };
  static const char *const ref[] = { "type", "dockerReference", NULL };
  static const char *const repo[] = { "type", "dockerRepository", NULL };
  static const char *const remap[] = { "type", "prefix", "signedPrefix", NULL };
  const json_t *t;
  const char *type;
  char w[MODEL_JSON_WHERE_MAX];

  if (!json_is_object (v))
    return model_json_bad (err, where, "expected an object");
  t = json_object_get (v, "type");
  model_json_path (w, "%s.type", where);
  if (t == NULL)
    return model_json_bad (err, w, "required field is missing");
  if (!json_is_string (t))
    return model_json_bad (err, w, "expected a string");
  type = json_string_value (t);
  if (strcmp (type, "matchRepoDigestOrExact") == 0
      || strcmp (type, "matchRepository") == 0
      || strcmp (type, "matchExact") == 0)
    {
      id->type = type[5] == 'R' && type[9] == 'D'
                     ? MODEL_POLICY_MATCH_REPO_DIGEST_OR_EXACT
                 : type[5] == 'R' ? MODEL_POLICY_MATCH_REPOSITORY
                                  : MODEL_POLICY_MATCH_EXACT;
      return model_json_check_fields (v, where, plain, err);
    }
  if (strcmp (type, "exactReference") == 0)
    {
      id->type = MODEL_POLICY_EXACT_REFERENCE;
      if (model_json_check_fields (v, where, ref, err) < 0
          || get_string (v, "dockerReference", where, &id->docker_reference,
                         err)
                 < 0)
        return -1;
      model_json_path (w, "%s.dockerReference", where);
      if (id->docker_reference == NULL)
        return model_json_bad (err, w, "required field is missing");
      if (ref_name_len (id->docker_reference) == strlen (id->docker_reference))
        return model_json_bad (err, w, "must carry a tag or a digest");
      return 0;
    }
  if (strcmp (type, "exactRepository") == 0)
    {
      id->type = MODEL_POLICY_EXACT_REPOSITORY;
      if (model_json_check_fields (v, where, repo, err) < 0
          || get_string (v, "dockerRepository", where, &id->docker_repository,
                         err)
                 < 0)
        return -1;
      model_json_path (w, "%s.dockerRepository", where);
      if (id->docker_repository == NULL)
        return model_json_bad (err, w, "required field is missing");
      if (ref_name_len (id->docker_repository)
          != strlen (id->docker_repository))
        return model_json_bad (err, w, "must not carry a tag or a digest");
      return 0;
    }
  if (strcmp (type, "remapIdentity") == 0)
    {
      id->type = MODEL_POLICY_REMAP_IDENTITY;
      if (model_json_check_fields (v, where, remap, err) < 0
          || get_string (v, "prefix", where, &id->prefix, err) < 0
          || get_string (v, "signedPrefix", where, &id->signed_prefix, err) < 0)
        return -1;
      const char *names[] = { "prefix", "signedPrefix" };
      char *vals[] = { id->prefix, id->signed_prefix };
      for (size_t i = 0; i < 2; i++)
        {
          model_json_path (w, "%s.%s", where, names[i]);
          if (vals[i] == NULL)
            return model_json_bad (err, w, "required field is missing");
          if (ref_name_len (vals[i]) != strlen (vals[i]))
            return model_json_bad (err, w, "must not carry a tag or a digest");
        }
      return 0;
    }
  {
    char q[MODEL_QUOTE_BUF];
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: unknown signedIdentity type %s", w,
                         model_quote (type, q, sizeof q));
  }
}

static int
parse_fulcio (const json_t *v, const char *where, model_policy_fulcio *f,
              mp_error *err)
{
  static const char *const fields[]
      = { "caPath", "caData", "oidcIssuer", "subjectEmail", NULL };
  char w[MODEL_JSON_WHERE_MAX];

  if (!json_is_object (v))
    return model_json_bad (err, where, "expected an object");
  if (model_json_check_fields (v, where, fields, err) < 0
      || get_string (v, "caPath", where, &f->ca_path, err) < 0
      || get_base64 (v, "caData", where, &f->ca_data, err) < 0
      || get_string (v, "oidcIssuer", where, &f->oidc_issuer, err) < 0
      || get_string (v, "subjectEmail", where, &f->subject_email, err) < 0)
    return -1;
  if ((f->ca_path != NULL) == (f->ca_data.data != NULL))
    return model_json_bad (err, where,
                           "exactly one of caPath and caData is required");
  model_json_path (w, "%s.oidcIssuer", where);
  if (f->oidc_issuer == NULL)
    return model_json_bad (err, w, "required field is missing");
  model_json_path (w, "%s.subjectEmail", where);
  if (f->subject_email == NULL)
    return model_json_bad (err, w, "required field is missing");
  return 0;
}

static int
parse_key_paths (const json_t *v, const char *where,
                 model_policy_requirement *r, mp_error *err)
{
  size_t i;
  json_t *e;
  char w[MODEL_JSON_WHERE_MAX];

  if (!json_is_array (v))
    return model_json_bad (err, where, "expected an array of strings");
  if (json_array_size (v) == 0)
    return model_json_bad (err, where, "must not be empty");
  r->key_paths = calloc (json_array_size (v), sizeof *r->key_paths);
  if (r->key_paths == NULL)
    return oom (err);
  json_array_foreach (v, i, e)
  {
    model_json_path (w, "%s[%zu]", where, i);
    if (!json_is_string (e))
      return model_json_bad (err, w, "expected a string");
    if (json_string_length (e) == 0)
      return model_json_bad (err, w, "must not be empty");
    r->key_paths[i] = strdup (json_string_value (e));
    if (r->key_paths[i] == NULL)
      return oom (err);
    r->n_key_paths = i + 1;
  }
  return 0;
}

static int
parse_sigstore (const json_t *v, const char *where, model_policy_requirement *r,
                mp_error *err)
{
  static const char *const fields[] = { "type",
                                        "keyPath",
                                        "keyPaths",
                                        "keyData",
                                        "fulcio",
                                        "rekorPublicKeyPath",
                                        "rekorPublicKeyData",
                                        "signedIdentity",
                                        NULL };
  const json_t *kp = json_object_get (v, "keyPath");
  const json_t *kps = json_object_get (v, "keyPaths");
  const json_t *kd = json_object_get (v, "keyData");
  const json_t *fu = json_object_get (v, "fulcio");
  const json_t *id = json_object_get (v, "signedIdentity");
  char w[MODEL_JSON_WHERE_MAX];
  char *one = NULL;

  if (model_json_check_fields (v, where, fields, err) < 0)
    return -1;
  if ((kp != NULL) + (kps != NULL) + (kd != NULL) + (fu != NULL) != 1)
    return model_json_bad (
        err, where,
        "exactly one of keyPath, keyPaths, keyData and fulcio is "
        "required");
  if (kp != NULL)
    {
      r->key_source = MODEL_POLICY_KEY_PATHS;
      if (get_string (v, "keyPath", where, &one, err) < 0)
        return -1;
      r->key_paths = malloc (sizeof *r->key_paths);
      if (r->key_paths == NULL)
        {
          free (one);
          return oom (err);
        }
      r->key_paths[0] = one;
      r->n_key_paths = 1;
    }
  else if (kps != NULL)
    {
      r->key_source = MODEL_POLICY_KEY_PATHS;
      model_json_path (w, "%s.keyPaths", where);
      if (parse_key_paths (kps, w, r, err) < 0)
        return -1;
    }
  else if (kd != NULL)
    {
      r->key_source = MODEL_POLICY_KEY_DATA;
      if (get_base64 (v, "keyData", where, &r->key_data, err) < 0)
        return -1;
    }
  else
    {
      r->key_source = MODEL_POLICY_FULCIO;
      model_json_path (w, "%s.fulcio", where);
      if (parse_fulcio (fu, w, &r->fulcio, err) < 0)
        return -1;
    }
  if (get_string (v, "rekorPublicKeyPath", where, &r->rekor_key_path, err) < 0
      || get_base64 (v, "rekorPublicKeyData", where, &r->rekor_key_data, err)
             < 0)
    return -1;
  if (r->rekor_key_path != NULL && r->rekor_key_data.data != NULL)
    return model_json_bad (
        err, where, "at most one of rekorPublicKeyPath and rekorPublicKeyData");
  /* A Fulcio certificate is short-lived; only a Rekor inclusion proof says
   * it was valid when the signature was made. */
  if (r->key_source == MODEL_POLICY_FULCIO && r->rekor_key_path == NULL
      && r->rekor_key_data.data == NULL)
    return model_json_bad (
        err, where, "fulcio needs rekorPublicKeyPath or rekorPublicKeyData");
  r->identity.type = MODEL_POLICY_MATCH_REPO_DIGEST_OR_EXACT;
  if (id != NULL)
    {
      model_json_path (w, "%s.signedIdentity", where);
      return parse_identity (id, w, &r->identity, err);
    }
  return 0;
}

static int
parse_requirement (const json_t *v, const char *where,
                   model_policy_requirement *r, mp_error *err)
{
  static const char *const plain[] = { "type", NULL };
  const json_t *t;
  const char *type;
  char w[MODEL_JSON_WHERE_MAX];
  char q[MODEL_QUOTE_BUF];

  if (!json_is_object (v))
    return model_json_bad (err, where, "expected an object");
  t = json_object_get (v, "type");
  model_json_path (w, "%s.type", where);
  if (t == NULL)
    return model_json_bad (err, w, "required field is missing");
  if (!json_is_string (t))
    return model_json_bad (err, w, "expected a string");
  type = json_string_value (t);
  if (strcmp (type, "reject") == 0)
    {
      r->type = MODEL_POLICY_REJECT;
      return model_json_check_fields (v, where, plain, err);
    }
  if (strcmp (type, "insecureAcceptAnything") == 0)
    {
      r->type = MODEL_POLICY_INSECURE_ACCEPT_ANYTHING;
      return model_json_check_fields (v, where, plain, err);
    }
  if (strcmp (type, "sigstoreSigned") == 0)
    {
      r->type = MODEL_POLICY_SIGSTORE_SIGNED;
      return parse_sigstore (v, where, r, err);
    }
  if (strcmp (type, "signedBy") == 0)
    return model_json_bad (
        err, w,
        "signedBy (GPG simple signing) is not supported; use "
        "sigstoreSigned");
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                       "%s: unknown requirement type %s", w,
                       model_quote (type, q, sizeof q));
}

static int
parse_requirements (const json_t *v, const char *where,
                    model_policy_requirements *rs, mp_error *err)
{
  size_t i;
  json_t *e;
  char w[MODEL_JSON_WHERE_MAX];

  if (!json_is_array (v))
    return model_json_bad (err, where, "expected an array of requirements");
  if (json_array_size (v) == 0)
    return model_json_bad (err, where,
                           "must not be empty (use [{\"type\": "
                           "\"insecureAcceptAnything\"}] to accept anything)");
  rs->v = calloc (json_array_size (v), sizeof *rs->v);
  if (rs->v == NULL)
    return oom (err);
  json_array_foreach (v, i, e)
  {
    model_json_path (w, "%s[%zu]", where, i);
    rs->n = i + 1;
    if (parse_requirement (e, w, &rs->v[i], err) < 0)
      return -1;
  }
  return 0;
}

/* Scopes are names, prefixes of names, or "*.domain"; a '*' anywhere else
 * never matches and is most likely a typo worth reporting. */
static bool
scope_is_valid (const char *s)
{
  if (strncmp (s, "*.", 2) == 0)
    return s[2] != '\0' && strpbrk (s + 2, "*/:@") == NULL;
  return strchr (s, '*') == NULL;
}

static int
parse_docker (const json_t *v, model_policy *p, mp_error *err)
{
  const char *scope;
  json_t *reqs;
  char w[MODEL_JSON_WHERE_MAX];
  char q[MODEL_QUOTE_BUF];

  if (!json_is_object (v))
    return model_json_bad (err, "transports.docker", "expected an object");
  p->docker = calloc (json_object_size (v) + 1, sizeof *p->docker);
  if (p->docker == NULL)
    return oom (err);
  json_object_foreach ((json_t *)v, scope, reqs)
  {
    model_policy_scope *s = &p->docker[p->n_docker];

    model_json_path (w, "transports.docker[%s]",
                     model_quote (scope, q, sizeof q));
    if (!scope_is_valid (scope))
      return model_json_bad (
          err, w, "a wildcard scope must be *.domain (as *.example.com)");
    s->scope = strdup (scope);
    if (s->scope == NULL)
      return oom (err);
    p->n_docker++;
    if (parse_requirements (reqs, w, &s->reqs, err) < 0)
      return -1;
  }
  return 0;
}

int
model_policy_parse (const void *buf, size_t len, model_policy **out,
                    mp_error *err)
{
  static const char *const fields[] = { "default", "transports", NULL };
  json_error_t jerr;
  json_t *root, *def, *transports;
  model_policy *p;
  int r = -1;

  /* Duplicate keys are refused: Go's decoder keeps the last, jansson the
   * first, and a policy must not mean two things. */
  root = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "policy: not valid JSON: %s (line %d, column %d)",
                         model_scrub_text (jerr.text), jerr.line, jerr.column);
  p = calloc (1, sizeof *p);
  if (p == NULL)
    {
      oom (err);
      goto out;
    }
  if (!json_is_object (root))
    {
      model_json_bad (err, "policy", "the top level must be a JSON object");
      goto out;
    }
  if (model_json_check_fields (root, "policy", fields, err) < 0)
    goto out;
  def = json_object_get (root, "default");
  if (def == NULL)
    {
      model_json_bad (err, "default",
                      "required field is missing (a global default such as "
                      "[{\"type\": \"reject\"}])");
      goto out;
    }
  if (parse_requirements (def, "default", &p->default_reqs, err) < 0)
    goto out;
  transports = json_object_get (root, "transports");
  if (transports != NULL)
    {
      json_t *docker;

      if (!json_is_object (transports))
        {
          model_json_bad (err, "transports", "expected an object");
          goto out;
        }
      docker = json_object_get (transports, "docker");
      if (docker != NULL && parse_docker (docker, p, err) < 0)
        goto out;
    }
  *out = p;
  p = NULL;
  r = 0;
out:
  model_policy_free (p);
  json_decref (root);
  return r;
}

static const model_policy_requirements *
find_scope (const model_policy *p, const char *s, size_t n)
{
  for (size_t i = 0; i < p->n_docker; i++)
    if (strlen (p->docker[i].scope) == n
        && memcmp (p->docker[i].scope, s, n) == 0)
      return &p->docker[i].reqs;
  return NULL;
}

static const model_policy_requirements *
find_wildcard (const model_policy *p, const char *domain, size_t n)
{
  for (size_t i = 0; i < p->n_docker; i++)
    {
      const char *sc = p->docker[i].scope;
      if (strncmp (sc, "*.", 2) == 0 && strlen (sc + 2) == n
          && memcmp (sc + 2, domain, n) == 0)
        return &p->docker[i].reqs;
    }
  return NULL;
}

const model_policy_requirements *
model_policy_lookup (const model_policy *p, const char *ref)
{
  const model_policy_requirements *rs;
  size_t n = ref_name_len (ref), host_len;
  const char *colon;

  /* The exact reference, only when it names a tag or a digest: a bare
   * repository is matched next anyway. */
  if (ref[n] != '\0' && (rs = find_scope (p, ref, strlen (ref))) != NULL)
    return rs;
  /* The repository, then every parent namespace, then the host[:port]. */
  for (;;)
    {
      const char *slash;

      if (n > 0 && (rs = find_scope (p, ref, n)) != NULL)
        return rs;
      slash = memrchr (ref, '/', n);
      if (slash == NULL)
        break;
      n = (size_t)(slash - ref);
    }
  /* Wildcards look at the host without its port, dropping one label at a
   * time: a.b.example.com -> *.b.example.com -> *.example.com -> *.com. */
  colon = memchr (ref, ':', n);
  host_len = colon ? (size_t)(colon - ref) : n;
  for (const char *d = ref;
       (d = memchr (d, '.', host_len - (size_t)(d - ref))) != NULL;)
    {
      d++;
      if ((rs = find_wildcard (p, d, host_len - (size_t)(d - ref))) != NULL)
        return rs;
    }
  if ((rs = find_scope (p, "", 0)) != NULL)
    return rs;
  return &p->default_reqs;
}

int
model_policy_read (const char *path, model_policy **out, mp_error *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  cleanup_free char *buf = NULL;
  struct stat st;
  size_t got = 0;

  if (fd < 0 && errno == ENOENT)
    return mp_error_set (err, MP_ERR_NOT_FOUND, "policy %s: no such file",
                         path);
  if (fd < 0 || fstat (fd, &st) < 0)
    return mp_error_sys (err, errno, "policy %s", path);
  if (!S_ISREG (st.st_mode) || st.st_size > MODEL_POLICY_MAX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "policy %s: not a regular file of at most %d bytes",
                         path, MODEL_POLICY_MAX);
  buf = malloc ((size_t)st.st_size + 1);
  if (buf == NULL)
    return oom (err);
  while (got < (size_t)st.st_size)
    {
      ssize_t r = read (fd, buf + got, (size_t)st.st_size - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return mp_error_sys (err, errno, "policy %s", path);
      if (r == 0)
        break;
      got += (size_t)r;
    }
  if (model_policy_parse (buf, got, out, err) < 0)
    {
      /* The parser's own "policy: " would say it twice. */
      if (strncmp (err->msg, "policy: ", 8) == 0)
        memmove (err->msg, err->msg + 8, strlen (err->msg + 8) + 1);
      return mp_error_prefix (err, "policy %s", path);
    }
  return 0;
}
