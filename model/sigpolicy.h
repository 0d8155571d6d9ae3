/* A containers-policy.json applied to an image: the scope's requirements
 * over the signatures found for its manifest digest, to a model_verdict
 * (model/signature.h).
 *
 * Every requirement of the scope must be satisfied: `reject` never is,
 * `insecureAcceptAnything` always is, `sigstoreSigned` when at least one
 * cosign or Sigstore signature verifies under its trust (model/sigstore.h)
 * and its signed identity matches signedIdentity.  Identities follow
 * containers-policy.json(5) and containers/image's matching:
 *   matchExact               the signed reference is the image's, tag or
 *                            digest included (a bare name never matches)
 *   matchRepoDigestOrExact   (the default) by tag: matchExact; by digest:
 *                            the same repository
 *   matchRepository          the same repository
 *   exactReference           the signed reference is dockerReference
 *   exactRepository          the signed repository is dockerRepository
 *   remapIdentity            the image's name with prefix replaced by
 *                            signedPrefix, then matchRepoDigestOrExact
 * cosign's simple signing signs a docker-reference; it writes the bare
 * repository, so such signatures need matchRepository (or
 * exactRepository), as with Podman.  A Sigstore bundle's statement names
 * only the digest: it satisfies the identities that ask no more than the
 * image's own repository (matchRepoDigestOrExact, matchRepository,
 * remapIdentity) -- a key trusted for a scope vouches for content, not
 * for a name -- and never those that ask for a signed name (matchExact,
 * exactReference, exactRepository).
 *
 * The policy's key and CA files are read at evaluation; one that cannot
 * be read refuses its requirement (fail closed) and says why. */
#ifndef MP_MODEL_SIGPOLICY_H
#define MP_MODEL_SIGPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "model/digest.h"
#include "model/policy.h"
#include "model/reference.h"
#include "model/signature.h"
#include "util/error.h"

/* The formats REF's requirements look at (MODEL_SIG_WANT bits): 0 when the
 * policy decides without signatures (reject, insecureAcceptAnything), so
 * nothing need be fetched. */
unsigned model_sigpolicy_wants (const model_policy *p,
                                const model_reference *ref);

/* The scope that applies to REF, as the policy writes it:
 * `transports.docker["reg/ns"]` or `default`.  OUT holds at least 400
 * bytes. */
void model_sigpolicy_scope (const model_policy *p, const model_reference *ref,
                            char *out, size_t outsize);

/* Evaluate P (read from POLICY_PATH, for messages; may be NULL) for REF
 * resolved to DIGEST, over SIGS.  *OUT gets the verdict (accepted or not);
 * -1 only for internal failures. */
int model_sigpolicy_evaluate (const model_policy *p, const char *policy_path,
                              const model_reference *ref,
                              const model_digest *digest,
                              const model_sig_list *sigs, model_verdict **out,
                              mp_error *err);

/* signedIdentity ID for the image REF and the signed reference SIGNED
 * (NULL: the signature names none).  False with WHY (WHYSIZE bytes) when
 * they do not match. */
bool model_sigpolicy_identity_ok (const model_policy_identity *id,
                                  const model_reference *ref,
                                  const char *signed_ref, char *why,
                                  size_t whysize);

#endif
