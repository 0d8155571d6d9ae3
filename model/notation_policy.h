/* Notation trust policy: trustpolicy.json version 1.0 (the Notary Project's
 * OCI trust policy), parsed from untrusted bytes, and the choice of the
 * statement that applies to a repository.  Pure parsing; no file is read and
 * no signature is checked here (model/notation.h does both).
 *
 * Validation follows notation 1.3 (notation-go's trust policy Validate):
 * version "1.0"; at least one statement; unique non-empty names; levels
 * strict, permissive, audit or skip with their override rules; trustStores
 * "ca:NAME", "signingAuthority:NAME" or "tsa:NAME"; trustedIdentities "*"
 * alone or "x509.subject: DN" entries (C, ST or S, and O required; no
 * multi-valued RDN; no two that one certificate could both match); skip
 * statements carry neither stores nor identities, others need both;
 * registryScopes "*" alone or fully qualified repositories, each scope in one
 * statement only (so at most one global statement).  Stricter than notation
 * where notation's Go decoder is lax: unknown or duplicated fields and wrong
 * JSON types refuse the file instead of being ignored, and store names "."
 * and ".." are refused.  Every error names the JSON path
 * (`trustPolicies[1].trustStores[0]: ...`). */
#ifndef MP_MODEL_NOTATION_POLICY_H
#define MP_MODEL_NOTATION_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

enum notation_level
{
  NOTATION_LEVEL_STRICT,
  NOTATION_LEVEL_PERMISSIVE,
  NOTATION_LEVEL_AUDIT,
  NOTATION_LEVEL_SKIP,
};

/* The validations of a signature, in notation's terms. */
enum notation_check
{
  NOTATION_CHECK_INTEGRITY,
  NOTATION_CHECK_AUTHENTICITY,
  NOTATION_CHECK_AUTHENTIC_TIMESTAMP,
  NOTATION_CHECK_EXPIRY,
  NOTATION_CHECK_REVOCATION,
  NOTATION_N_CHECKS,
};

/* What a failed validation does: fail the signature, be logged, or not be
 * run at all. */
enum notation_action
{
  NOTATION_ENFORCE,
  NOTATION_LOG,
  NOTATION_SKIP,
};

enum notation_store_type
{
  NOTATION_STORE_CA,
  NOTATION_STORE_SIGNING_AUTHORITY,
  NOTATION_STORE_TSA,
};

typedef struct notation_store_ref
{
  enum notation_store_type type;
  char *name; /* [A-Za-z0-9_.-]+, not "." or "..": a safe path component */
} notation_store_ref;

/* A distinguished name as notation compares them: attribute types as
 * written ("S" read as "ST"), values unescaped, each type at most once. */
typedef struct notation_dn_attr
{
  char *type;
  char *value;
} notation_dn_attr;

typedef struct notation_dn
{
  size_t n;
  notation_dn_attr *v;
} notation_dn;

typedef struct notation_statement
{
  char *name;
  bool global; /* registryScopes ["*"] */
  size_t n_scopes;
  char **scopes; /* fully qualified repositories, when not global */
  enum notation_level level;
  enum notation_action actions[NOTATION_N_CHECKS]; /* level plus override */
  bool timestamp_after_expiry; /* verifyTimestamp "afterCertExpiry" */
  size_t n_stores;
  notation_store_ref *stores;
  bool any_identity; /* trustedIdentities ["*"] */
  size_t n_identities;
  char **identities; /* as written */
  size_t n_x509;
  notation_dn *x509; /* the x509.subject identities, parsed */
} notation_statement;

typedef struct notation_policy
{
  size_t n;
  notation_statement *v;
} notation_policy;

int notation_policy_parse (const void *buf, size_t len, notation_policy **out,
                           mp_error *err);
void notation_policy_free (notation_policy *p);

/* The statement for a repository ("host[:port]/path", no tag or digest):
 * the one naming it in registryScopes, else the global one, else NULL (also
 * for a repository that is not fully qualified). */
const notation_statement *notation_policy_lookup (const notation_policy *p,
                                                  const char *repository);

/* A registry scope as notation accepts it: a host (DNS labels, optional
 * :port) then "/" and a repository path of lowercase components. */
bool notation_scope_is_valid (const char *scope);

const char *notation_level_name (enum notation_level l);
const char *notation_check_name (enum notation_check c);
const char *notation_store_type_name (enum notation_store_type t);

/* Parse an RFC 4514 distinguished name as notation does for x509.subject
 * identities and certificate subjects.  Errors are INVALID_ARGUMENT. */
int notation_dn_parse (const char *s, notation_dn *out, mp_error *err);
/* Every attribute of a has the same value in b. */
bool notation_dn_subset (const notation_dn *a, const notation_dn *b);
void notation_dn_clear (notation_dn *d);

#endif
