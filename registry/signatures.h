/* Finding a manifest's signatures in its registry, and the policy check
 * built on it: the call `modelpack verify`, `modelpack pull` and the
 * daemon make.
 *
 * Where signatures are (all looked at, as signers use any of them):
 *  - the OCI 1.1 referrers API, GET /v2/<name>/referrers/<digest>;
 *  - its fallback for registries without it, the referrers tag schema: an
 *    image index under the tag sha256-<hex> (cosign 3 and notation write
 *    there on docker-registry 2.8);
 *  - cosign's own tag sha256-<hex>.sig, a manifest whose layers are
 *    simple-signing payloads.
 * Referrers whose artifactType is another kind (SBOMs, attestations of
 * other types are still fetched: a Sigstore bundle's kind is inside) are
 * skipped unread; an index entry without a telling artifactType (cosign
 * writes the empty config's type there) is read to find out.
 *
 * Cost, in round trips after the manifest digest is known: the three
 * lookups go out at once (one round trip), then each signature manifest
 * found through an index and its blobs, signatures in parallel (two more):
 * three for referrers and the tag schema, two for a .sig tag (the lookup
 * is the manifest).  Nothing is fetched when the policy's scope needs no
 * signature.  The same client as the pull: credentials, TLS, mirrors,
 * retries and tokens are shared, so a pull's token serves.
 *
 * Bounds: every document at most MODEL_MAX_DOCUMENT bytes (a blob whose
 * descriptor declares more is listed with an error, not fetched), at most
 * REGISTRY_MAX_SIGNATURES signature manifests per digest.
 *
 * Errors: a registry that cannot be reached (MP_ERR_UNAVAILABLE), refuses
 * credentials or access, fails the whole search -- the caller fails closed.
 * A signature manifest or blob that is missing, too large or not its
 * digest is kept in the list with its error, and verifies as nothing. */
#ifndef MP_REGISTRY_SIGNATURES_H
#define MP_REGISTRY_SIGNATURES_H

#include <stdbool.h>

#include "model/digest.h"
#include "model/notation.h"
#include "model/policy.h"
#include "model/reference.h"
#include "model/signature.h"
#include "registry/registry.h"
#include "util/error.h"

#define REGISTRY_MAX_SIGNATURES 64

/* What a search cost and found out. */
struct registry_sig_stats
{
  unsigned long requests; /* HTTP exchanges, authentication included */
  int round_trips;        /* of them in sequence (parallel ones count once) */
  bool referrers_api;     /* the registry answered the referrers API */
  double seconds;
  int skipped; /* referrers of other kinds, or past the bound */
};

/* The signatures of DIGEST in REF's repository, of the formats WANT
 * (MODEL_SIG_WANT bits), appended to *OUT. */
int registry_find_signatures (registry_client *rc, const model_reference *ref,
                              const model_digest *digest, unsigned want,
                              model_sig_list *out,
                              struct registry_sig_stats *stats, mp_error *err);

/* Apply policy P (read from POLICY_PATH, for messages) to REF resolved to
 * DIGEST: the signatures the scope needs are found, then evaluated.
 * *VERDICT gets the verdict (accepted or not; model_verdict_error makes a
 * refusal an error); SIGS (may be NULL) what was found; STATS (may be
 * NULL) the cost.  -1 when the verdict could not be reached (the registry
 * unreachable): refuse then. */
int registry_check_policy (registry_client *rc, const model_policy *p,
                           const char *policy_path, const model_reference *ref,
                           const model_digest *digest, model_sig_list *sigs,
                           model_verdict **verdict,
                           struct registry_sig_stats *stats, mp_error *err);

/* The signature mechanisms a node configures; either may be absent (NULL).
 * How they combine (docs/signatures.md, "cosign, Notation, or both"):
 *  - containers-policy.json always speaks (its scope, or `default`): every
 *    requirement of the scope that applies must be satisfied;
 *  - the Notation trust policy speaks for the repositories its statements'
 *    registryScopes cover: one Notation signature must verify under the
 *    statement (level skip: nothing is required);
 *  - a model must satisfy every mechanism that speaks for it; one no
 *    configured mechanism speaks for (Notation alone, no statement covers
 *    the repository) is refused, as notation refuses it.
 * "Either" per scope is therefore written with one mechanism's scope
 * relaxed: `insecureAcceptAnything` in containers-policy.json for a
 * Notation-only scope, no covering Notation statement for a cosign-only
 * one. */
struct registry_sig_policies
{
  const model_policy *policy;
  const char *policy_path; /* for messages */
  const notation_config *notation;
  const char *notation_dir; /* for messages */
};

/* registry_check_policy over both mechanisms of SP.  With neither
 * configured, *VERDICT is NULL (no policy: accepted).  A Notation
 * envelope signs the manifest's descriptor: MEDIA_TYPE and SIZE of the
 * manifest DIGEST names, as the caller read them (a pull, or containerd's
 * image record); with MEDIA_TYPE NULL the manifest is read (one more
 * round trip, counted in STATS) when a Notation signature is to be
 * verified. */
int registry_check_signatures (registry_client *rc,
                               const struct registry_sig_policies *sp,
                               const model_reference *ref,
                               const model_digest *digest,
                               const char *media_type, int64_t size,
                               model_sig_list *sigs, model_verdict **verdict,
                               struct registry_sig_stats *stats, mp_error *err);

#endif
