/* Signatures found for a manifest, and the verdict a policy gives on them:
 * the vocabulary every signature format shares.
 *
 * registry/ (registry_find_signatures) fills a model_sig_list with what
 * the registry holds for a manifest digest, one entry per signature blob,
 * in whatever format: the blob's bytes (checked against its digest) and
 * the annotations of its descriptor and of the manifest that carries it.
 * Nothing in a list is trusted: it is what a verifier reads.  Each verifier
 * (model/sigstore.h for cosign and Sigstore, a Notation verifier beside
 * it) looks at the entries of the formats it knows and adds to one
 * model_verdict: per policy requirement, whether it is satisfied, and per
 * signature it tried, accepted by what or refused why.  Several
 * evaluators may add requirements to one verdict (containers-policy.json's
 * by model_sigpolicy_evaluate, a Notation trust policy's after it);
 * model_verdict_finish, after the last, decides.  The caller prints the
 * verdict (`modelpack verify`) or turns a refusal into an error
 * (model_verdict_error).
 *
 * Pure data; no network, no crypto. */
#ifndef MP_MODEL_SIGNATURE_H
#define MP_MODEL_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/manifest.h"
#include "util/error.h"

/* Sigstore bundles, any version cosign and sigstore-go read. */
#define MODEL_SIG_MEDIA_TYPE_BUNDLE_V03                                        \
  "application/vnd.dev.sigstore.bundle.v0.3+json"
#define MODEL_SIG_MEDIA_TYPE_BUNDLE_PREFIX "application/vnd.dev.sigstore.bundle"
/* cosign's simple-signing layer (the sha256-<hex>.sig tag), its signature
 * annotation and the annotations of its keyless and Rekor material. */
#define MODEL_SIG_MEDIA_TYPE_COSIGN                                            \
  "application/vnd.dev.cosign.simplesigning.v1+json"
#define MODEL_SIG_ANNOTATION_COSIGN "dev.cosignproject.cosign/signature"
#define MODEL_SIG_ANNOTATION_CERT "dev.sigstore.cosign/certificate"
#define MODEL_SIG_ANNOTATION_CHAIN "dev.sigstore.cosign/chain"
#define MODEL_SIG_ANNOTATION_REKOR "dev.sigstore.cosign/bundle"
/* Notation: the artifact type and its two envelope media types. */
#define MODEL_SIG_ARTIFACT_NOTATION "application/vnd.cncf.notary.signature"
#define MODEL_SIG_MEDIA_TYPE_JWS "application/jose+json"
#define MODEL_SIG_MEDIA_TYPE_COSE "application/cose"

/* A signature blob's format, told by media types alone. */
enum model_sig_format
{
  MODEL_SIG_OTHER = 0,     /* a referrer that is not a signature */
  MODEL_SIG_COSIGN,        /* simple-signing payload, annotation signature */
  MODEL_SIG_BUNDLE,        /* Sigstore bundle (message signature or DSSE) */
  MODEL_SIG_NOTATION_JWS,  /* Notation JWS envelope */
  MODEL_SIG_NOTATION_COSE, /* Notation COSE envelope */
  MODEL_SIG_FORMATS        /* count */
};

/* A set of formats (registry_find_signatures fetches only these). */
#define MODEL_SIG_WANT(f) (1u << (f))
#define MODEL_SIG_WANT_SIGSTORE                                                \
  (MODEL_SIG_WANT (MODEL_SIG_COSIGN) | MODEL_SIG_WANT (MODEL_SIG_BUNDLE))
#define MODEL_SIG_WANT_NOTATION                                                \
  (MODEL_SIG_WANT (MODEL_SIG_NOTATION_JWS)                                     \
   | MODEL_SIG_WANT (MODEL_SIG_NOTATION_COSE))

/* Where a signature was found. */
enum model_sig_where
{
  MODEL_SIG_REFERRERS_API, /* GET /v2/<name>/referrers/<digest> */
  MODEL_SIG_REFERRERS_TAG, /* the referrers tag schema: sha256-<hex> index */
  MODEL_SIG_COSIGN_TAG,    /* cosign's sha256-<hex>.sig manifest */
};

typedef struct model_signature
{
  enum model_sig_format format;
  enum model_sig_where where;
  char *manifest_digest; /* the signature artifact's manifest */
  char *artifact_type;   /* that manifest's, or NULL */
  model_annotations manifest_annotations;
  size_t layer; /* which of its layers this is */
  char *media_type;
  model_digest blob_digest;
  int64_t blob_size;
  model_annotations annotations; /* the layer descriptor's */
  uint8_t *blob;                 /* NUL-terminated past blob_len; NULL when
                                    it could not be fetched (then error) */
  size_t blob_len;
  char *error;
} model_signature;

typedef struct model_sig_list
{
  size_t n;
  model_signature *v;
} model_sig_list;

enum model_sig_format model_sig_format_of (const char *artifact_type,
                                           const char *layer_media_type);
const char *model_sig_format_name (enum model_sig_format f);
const char *model_sig_where_name (enum model_sig_where w);

/* Append a zeroed entry; NULL when out of memory. */
model_signature *model_sig_list_add (model_sig_list *l, mp_error *err);
void model_sig_list_clear (model_sig_list *l);

/* One signature a requirement looked at. */
typedef struct model_sig_check
{
  size_t signature; /* index into the model_sig_list */
  bool accepted;
  char *why; /* accepted: by what (key, certificate); refused: why */
} model_sig_check;

typedef struct model_verdict_req
{
  char *what; /* the requirement, with where the policy says it */
  bool satisfied;
  char *why; /* how it was satisfied, or why not, in one sentence */
  size_t n_checks;
  model_sig_check *checks;
} model_verdict_req;

typedef struct model_verdict
{
  bool accepted;   /* every requirement satisfied */
  char *reference; /* the image as evaluated: host/path:tag or @digest */
  char *digest;    /* the manifest (or index) digest signatures must name */
  char *policy;    /* the policy's file, or NULL */
  char *scope;     /* the scope that applied, as the policy writes it */
  size_t n_reqs;
  model_verdict_req *reqs;
} model_verdict;

model_verdict *model_verdict_new (const char *reference, const char *digest,
                                  const char *policy, const char *scope,
                                  mp_error *err);
void model_verdict_free (model_verdict *v);
static inline void
model_verdict_freep (model_verdict **v)
{
  model_verdict_free (*v);
}
#define cleanup_verdict __attribute__ ((cleanup (model_verdict_freep)))

/* Add a requirement (not yet satisfied); NULL when out of memory. */
model_verdict_req *model_verdict_add_req (model_verdict *v, const char *what,
                                          mp_error *err);
/* Record what one signature gave; the message is printf-formatted. */
int model_verdict_check (model_verdict_req *r, size_t signature, bool accepted,
                         mp_error *err, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));
/* Close a requirement: satisfied or not, and why. */
int model_verdict_settle (model_verdict_req *r, bool satisfied, mp_error *err,
                          const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/* R's refused signatures as "#N: why; #M: why" (N the signature's index
 * + 1) into BUF, cut short when it does not fit (the verdict keeps every
 * reason whole): the finding of a requirement none satisfied.  Returns how
 * many were refused. */
size_t model_verdict_reasons (const model_verdict_req *r, char *buf,
                              size_t size);
/* accepted = every requirement satisfied (and there is at least one). */
void model_verdict_finish (model_verdict *v);

/* A refused verdict as one error (MP_ERR_POLICY_REFUSED) a user can act
 * on: the reference, the scope, and for the first unsatisfied requirement
 * what it asks and why nothing satisfied it.  Returns -1. */
int model_verdict_error (const model_verdict *v, mp_error *err);

#endif
