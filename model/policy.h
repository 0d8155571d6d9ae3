/* Signature policy: containers-policy.json(5), the file CRI-O, Podman and
 * skopeo read, parsed from untrusted bytes.  Pure parsing and lookup; no
 * files are opened and no signature is checked here.
 *
 * Only the `docker` transport is kept; other transports are skipped unread
 * (beyond being valid JSON without duplicate keys).  Everything else is read
 * strictly, as the man page asks: unknown or duplicated fields, unknown
 * requirement types, empty requirement lists and malformed values refuse the
 * whole file, with an error naming the JSON path
 * (`transports.docker["reg/x"][0].keyPath: expected a string`).
 *
 * Key material stays as it was written: paths as strings, inline data as
 * the decoded bytes of its base64. */
#ifndef MP_MODEL_POLICY_H
#define MP_MODEL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum model_policy_req_type
{
  MODEL_POLICY_REJECT,
  MODEL_POLICY_INSECURE_ACCEPT_ANYTHING,
  MODEL_POLICY_SIGSTORE_SIGNED,
};

/* signedIdentity; absent means MATCH_REPO_DIGEST_OR_EXACT. */
enum model_policy_identity_type
{
  MODEL_POLICY_MATCH_REPO_DIGEST_OR_EXACT,
  MODEL_POLICY_MATCH_REPOSITORY,
  MODEL_POLICY_MATCH_EXACT,
  MODEL_POLICY_EXACT_REFERENCE,  /* docker_reference */
  MODEL_POLICY_EXACT_REPOSITORY, /* docker_repository */
  MODEL_POLICY_REMAP_IDENTITY,   /* prefix, signed_prefix */
};

typedef struct model_policy_identity
{
  enum model_policy_identity_type type;
  char *docker_reference;
  char *docker_repository;
  char *prefix;
  char *signed_prefix;
} model_policy_identity;

typedef struct model_policy_bytes
{
  uint8_t *data; /* NULL when absent */
  size_t len;
} model_policy_bytes;

/* Where a sigstoreSigned requirement's trust comes from: exactly one. */
enum model_policy_key_source
{
  MODEL_POLICY_KEY_PATHS, /* keyPath (n == 1) or keyPaths (n >= 1) */
  MODEL_POLICY_KEY_DATA,  /* keyData */
  MODEL_POLICY_FULCIO,    /* fulcio, with a Rekor key */
};

typedef struct model_policy_fulcio
{
  char *ca_path;              /* caPath, or NULL */
  model_policy_bytes ca_data; /* caData, or absent */
  char *oidc_issuer;
  char *subject_email;
} model_policy_fulcio;

typedef struct model_policy_requirement
{
  enum model_policy_req_type type;
  /* The rest is for MODEL_POLICY_SIGSTORE_SIGNED only. */
  enum model_policy_key_source key_source;
  size_t n_key_paths;
  char **key_paths;
  model_policy_bytes key_data;
  model_policy_fulcio fulcio;
  char *rekor_key_path;              /* rekorPublicKeyPath, or NULL */
  model_policy_bytes rekor_key_data; /* rekorPublicKeyData, or absent */
  model_policy_identity identity;
} model_policy_requirement;

/* A non-empty list; an image must satisfy all of them. */
typedef struct model_policy_requirements
{
  size_t n;
  model_policy_requirement *v;
} model_policy_requirements;

typedef struct model_policy_scope
{
  char *scope; /* "" is the docker transport's default */
  model_policy_requirements reqs;
} model_policy_scope;

typedef struct model_policy
{
  model_policy_requirements default_reqs;
  size_t n_docker;
  model_policy_scope *docker; /* transports.docker, in file order */
} model_policy;

/* Parse len bytes of containers-policy.json.  On success *out is set and
 * must be freed with model_policy_free. */
int model_policy_parse (const void *buf, size_t len, model_policy **out,
                        mp_error *err);

void model_policy_free (model_policy *p);

/* The policy at PATH, read (at most MODEL_POLICY_MAX bytes) and parsed;
 * errors name the file.  A file that does not exist is MP_ERR_NOT_FOUND,
 * so a caller with a default path can tell "no policy" from a bad one. */
#define MODEL_POLICY_MAX (4 * 1024 * 1024)
int model_policy_read (const char *path, model_policy **out, mp_error *err);

/* The requirements for the docker image ref, in the fully expanded form
 * ("host[:port]/repo[:tag|@digest]", as docker.io/library/busybox, never
 * busybox).  The most specific scope wins, in this order: the exact
 * reference (repo:tag or repo@digest), the repository, each parent
 * namespace from the longest, the host[:port], then `*.domain` wildcards
 * from the longest domain (a.b.example.com matches *.b.example.com before
 * *.example.com, never example.com itself), then the transport default "",
 * then the global default.  Never NULL. */
const model_policy_requirements *model_policy_lookup (const model_policy *p,
                                                      const char *ref);

#endif
