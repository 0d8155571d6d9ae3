/* A signature policy applied to an image (see sigpolicy.h). */
#include "model/sigpolicy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/sigstore.h"

/* How much of the reasons a refused requirement's summary quotes. */
#define WHY_MAX 900
/* host/path:tag@digest at its longest. */
#define REF_TEXT (MODEL_REF_MAX + 600)

/* The text the policy's scopes and identities are matched against:
 * host/path[:tag][@digest]. */
static void
ref_text (const model_reference *r, bool with_tag, bool with_digest, char *out,
          size_t n)
{
  snprintf (out, n, "%s/%s%s%s%s%s", r->host, r->path,
            with_tag && r->tag[0] ? ":" : "", with_tag ? r->tag : "",
            with_digest && r->digest[0] ? "@" : "",
            with_digest ? r->digest : "");
}

/* For scope lookup: the tag when there is one, else the digest. */
static void
lookup_text (const model_reference *r, char *out, size_t n)
{
  ref_text (r, true, r->tag[0] == '\0', out, n);
}

unsigned
model_sigpolicy_wants (const model_policy *p, const model_reference *ref)
{
  char text[REF_TEXT];
  const model_policy_requirements *rs;
  unsigned want = 0;

  lookup_text (ref, text, sizeof text);
  rs = model_policy_lookup (p, text);
  for (size_t i = 0; i < rs->n; i++)
    if (rs->v[i].type == MODEL_POLICY_SIGSTORE_SIGNED)
      want |= MODEL_SIG_WANT_SIGSTORE;
  /* A requirement that always refuses makes the others moot. */
  for (size_t i = 0; i < rs->n; i++)
    if (rs->v[i].type == MODEL_POLICY_REJECT)
      return 0;
  return want;
}

void
model_sigpolicy_scope (const model_policy *p, const model_reference *ref,
                       char *out, size_t outsize)
{
  char text[REF_TEXT];
  const model_policy_requirements *rs;

  lookup_text (ref, text, sizeof text);
  rs = model_policy_lookup (p, text);
  for (size_t i = 0; i < p->n_docker; i++)
    if (rs == &p->docker[i].reqs)
      {
        char q[MODEL_QUOTE_BUF];
        snprintf (out, outsize, "transports.docker[%s]",
                  model_quote (p->docker[i].scope, q, sizeof q));
        return;
      }
  snprintf (out, outsize, "default");
}

/* ---- signedIdentity ------------------------------------------------------ */

/* A reference as the policy or a signature writes it: parsed, and whether
 * it is a bare name (no tag, no digest).  model_reference_parse gives a
 * bare name the tag "latest"; that is undone here. */
static bool
parse_named (const char *text, model_reference *r, bool *name_only)
{
  const char *slash, *colon;

  if (model_reference_parse (text, r, NULL) < 0)
    return false;
  slash = strrchr (text, '/');
  colon = strchr (slash ? slash : text, ':');
  *name_only = strchr (text, '@') == NULL && colon == NULL;
  if (*name_only)
    r->tag[0] = '\0';
  return true;
}

static bool
same_name (const model_reference *a, const model_reference *b)
{
  return strcmp (a->host, b->host) == 0 && strcmp (a->path, b->path) == 0;
}

static bool
same_string (const model_reference *a, const model_reference *b)
{
  return same_name (a, b) && strcmp (a->tag, b->tag) == 0
         && strcmp (a->digest, b->digest) == 0;
}

/* matchRepoDigestOrExact of INTENDED against SIGNED. */
static bool
repo_digest_or_exact (const model_reference *intended,
                      const model_reference *sig, bool sig_name_only)
{
  if (sig_name_only)
    return false;
  if (intended->tag[0] != '\0')
    return same_string (intended, sig);
  return same_name (intended, sig);
}

static const char *
identity_name (enum model_policy_identity_type t)
{
  switch (t)
    {
    case MODEL_POLICY_MATCH_REPO_DIGEST_OR_EXACT:
      return "matchRepoDigestOrExact";
    case MODEL_POLICY_MATCH_REPOSITORY:
      return "matchRepository";
    case MODEL_POLICY_MATCH_EXACT:
      return "matchExact";
    case MODEL_POLICY_EXACT_REFERENCE:
      return "exactReference";
    case MODEL_POLICY_EXACT_REPOSITORY:
      return "exactRepository";
    case MODEL_POLICY_REMAP_IDENTITY:
      return "remapIdentity";
    }
  return "?";
}

bool
model_sigpolicy_identity_ok (const model_policy_identity *id,
                             const model_reference *ref, const char *signed_ref,
                             char *why, size_t whysize)
{
  model_reference sig, want;
  bool sig_bare = false, want_bare = false, ok = false;
  char q[MODEL_QUOTE_BUF], img[REF_TEXT];

  ref_text (ref, true, true, img, sizeof img);
  if (signed_ref == NULL)
    {
      switch (id->type)
        {
        case MODEL_POLICY_MATCH_REPO_DIGEST_OR_EXACT:
        case MODEL_POLICY_MATCH_REPOSITORY:
        case MODEL_POLICY_REMAP_IDENTITY:
          return true;
        case MODEL_POLICY_MATCH_EXACT:
        case MODEL_POLICY_EXACT_REFERENCE:
        case MODEL_POLICY_EXACT_REPOSITORY:
          break;
        }
      snprintf (why, whysize,
                "signedIdentity %s needs a signed reference, and the "
                "signature names only the digest",
                identity_name (id->type));
      return false;
    }
  if (!parse_named (signed_ref, &sig, &sig_bare))
    {
      snprintf (why, whysize, "the signed reference %s does not parse",
                model_quote (signed_ref, q, sizeof q));
      return false;
    }
  switch (id->type)
    {
    case MODEL_POLICY_MATCH_EXACT:
      ok = !sig_bare && same_string (ref, &sig);
      break;
    case MODEL_POLICY_MATCH_REPO_DIGEST_OR_EXACT:
      ok = repo_digest_or_exact (ref, &sig, sig_bare);
      break;
    case MODEL_POLICY_MATCH_REPOSITORY:
      ok = same_name (ref, &sig);
      break;
    case MODEL_POLICY_EXACT_REFERENCE:
      ok = parse_named (id->docker_reference, &want, &want_bare) && !want_bare
           && !sig_bare && same_string (&want, &sig);
      break;
    case MODEL_POLICY_EXACT_REPOSITORY:
      ok = parse_named (id->docker_repository, &want, &want_bare)
           && same_name (&want, &sig);
      break;
    case MODEL_POLICY_REMAP_IDENTITY:
      {
        char name[MODEL_REF_MAX + 300], remapped[2 * REF_TEXT];
        size_t pl = strlen (id->prefix);
        model_reference r = *ref;

        snprintf (name, sizeof name, "%s/%s", ref->host, ref->path);
        /* The prefix matches whole components of the name. */
        if (strncmp (name, id->prefix, pl) == 0
            && (name[pl] == '\0' || name[pl] == '/'))
          {
            bool bare;
            snprintf (remapped, sizeof remapped, "%s%s%s%s%s%s",
                      id->signed_prefix, name + pl, ref->tag[0] ? ":" : "",
                      ref->tag, ref->digest[0] ? "@" : "", ref->digest);
            if (!parse_named (remapped, &r, &bare))
              {
                snprintf (why, whysize,
                          "remapIdentity makes %s, which does not parse",
                          model_quote (remapped, q, sizeof q));
                return false;
              }
          }
        ok = repo_digest_or_exact (&r, &sig, sig_bare);
      }
      break;
    }
  if (!ok)
    snprintf (why, whysize,
              "it is signed for %s, which signedIdentity %s does not match "
              "with %s%s",
              model_quote (signed_ref, q, sizeof q), identity_name (id->type),
              img,
              sig_bare && id->type != MODEL_POLICY_MATCH_REPOSITORY
                      && id->type != MODEL_POLICY_EXACT_REPOSITORY
                  ? " (a bare repository needs matchRepository or "
                    "exactRepository)"
                  : "");
  return ok;
}

/* ---- evaluation ------------------------------------------------------------
 */

/* "sigstoreSigned, key /k.pub (transports.docker["x"][0])" */
static void
describe (const model_policy_requirement *r, const char *scope, size_t i,
          char *out, size_t n)
{
  char trust[600] = "";

  switch (r->type)
    {
    case MODEL_POLICY_REJECT:
      snprintf (out, n, "reject (%s[%zu])", scope, i);
      return;
    case MODEL_POLICY_INSECURE_ACCEPT_ANYTHING:
      snprintf (out, n, "insecureAcceptAnything (%s[%zu])", scope, i);
      return;
    case MODEL_POLICY_SIGSTORE_SIGNED:
      break;
    }
  switch (r->key_source)
    {
    case MODEL_POLICY_KEY_PATHS:
      {
        size_t o = (size_t)snprintf (trust, sizeof trust, "key%s ",
                                     r->n_key_paths > 1 ? "s" : "");
        for (size_t k = 0; k < r->n_key_paths && o < sizeof trust; k++)
          o += (size_t)snprintf (trust + o, sizeof trust - o, "%s%s",
                                 k ? ", " : "", r->key_paths[k]);
      }
      break;
    case MODEL_POLICY_KEY_DATA:
      snprintf (trust, sizeof trust, "keyData");
      break;
    case MODEL_POLICY_FULCIO:
      snprintf (trust, sizeof trust, "fulcio %s from %s",
                r->fulcio.subject_email, r->fulcio.oidc_issuer);
      break;
    }
  snprintf (out, n,
            "a cosign/Sigstore signature by %s%s, signedIdentity %s "
            "(%s[%zu])",
            trust,
            r->rekor_key_path || r->rekor_key_data.data ? ", logged in Rekor"
                                                        : "",
            identity_name (r->identity.type), scope, i);
}

/* Append "; #N: reason" to WHY (bounded). */
static void
add_reason (char *why, size_t n, size_t sig, const char *reason)
{
  size_t o = strlen (why);

  if (o + 16 >= n)
    return;
  /* Cut short when long: the verdict keeps every reason whole. */
  if (snprintf (why + o, n - o, "%s#%zu: %s", o ? "; " : "", sig + 1, reason)
      < 0)
    why[o] = '\0';
}

static int
check_sigstore (const model_policy_requirement *r, const model_reference *ref,
                const model_digest *digest, const model_sig_list *sigs,
                model_verdict_req *vr, mp_error *err)
{
  model_sigstore_trust *t = NULL;
  char reasons[WHY_MAX] = "";
  size_t tried = 0;
  mp_error e = { 0 };

  if (model_sigstore_trust_load (r, &t, &e) < 0)
    return model_verdict_settle (
        vr, false, err, "the policy's trust cannot be used: %s", e.msg);
  for (size_t i = 0; i < sigs->n; i++)
    {
      const model_signature *s = &sigs->v[i];
      model_sigstore_claim claim = { 0 };
      char why[600];

      if (s->format != MODEL_SIG_COSIGN && s->format != MODEL_SIG_BUNDLE)
        continue;
      tried++;
      mp_error_clear (&e);
      if (model_sigstore_verify (t, s, digest, &claim, &e) < 0)
        {
          if (e.code != MP_ERR_POLICY_REFUSED)
            {
              model_sigstore_trust_free (t);
              *err = e;
              return -1;
            }
          add_reason (reasons, sizeof reasons, i, e.msg);
          if (model_verdict_check (vr, i, false, err, "%s", e.msg) < 0)
            goto fail;
          continue;
        }
      if (!model_sigpolicy_identity_ok (
              &r->identity, ref, claim.docker_reference, why, sizeof why))
        {
          add_reason (reasons, sizeof reasons, i, why);
          if (model_verdict_check (vr, i, false, err, "%s", why) < 0)
            {
              model_sigstore_claim_clear (&claim);
              goto fail;
            }
          model_sigstore_claim_clear (&claim);
          continue;
        }
      if (model_verdict_check (vr, i, true, err, "signed by %s%s%s", claim.by,
                               claim.docker_reference ? " for " : "",
                               claim.docker_reference ? claim.docker_reference
                                                      : "")
              < 0
          || model_verdict_settle (vr, true, err,
                                   "signature #%zu (%s) verified, signed by "
                                   "%s",
                                   i + 1, model_sig_format_name (s->format),
                                   claim.by)
                 < 0)
        {
          model_sigstore_claim_clear (&claim);
          goto fail;
        }
      model_sigstore_claim_clear (&claim);
      model_sigstore_trust_free (t);
      return 0;
    }
  model_sigstore_trust_free (t);
  if (tried == 0)
    return model_verdict_settle (
        vr, false, err, "no cosign or Sigstore signature found for %s%s",
        digest->str, sigs->n > 0 ? " (only signatures of other formats)" : "");
  return model_verdict_settle (vr, false, err,
                               "%zu signature%s found, none accepted: %s",
                               tried, tried > 1 ? "s" : "", reasons);
fail:
  model_sigstore_trust_free (t);
  return -1;
}

int
model_sigpolicy_evaluate (const model_policy *p, const char *policy_path,
                          const model_reference *ref,
                          const model_digest *digest,
                          const model_sig_list *sigs, model_verdict **out,
                          mp_error *err)
{
  char text[REF_TEXT], scope[MODEL_QUOTE_BUF + 40];
  const model_policy_requirements *rs;
  model_verdict *v;

  lookup_text (ref, text, sizeof text);
  rs = model_policy_lookup (p, text);
  model_sigpolicy_scope (p, ref, scope, sizeof scope);
  v = model_verdict_new (text, digest->str, policy_path, scope, err);
  if (v == NULL)
    return -1;
  bool rejects = false;

  for (size_t i = 0; i < rs->n; i++)
    rejects = rejects || rs->v[i].type == MODEL_POLICY_REJECT;
  for (size_t i = 0; i < rs->n; i++)
    {
      const model_policy_requirement *r = &rs->v[i];
      char what[1200];
      model_verdict_req *vr;
      int rc = 0;

      describe (r, scope, i, what, sizeof what);
      vr = model_verdict_add_req (v, what, err);
      if (vr == NULL)
        goto fail;
      switch (r->type)
        {
        case MODEL_POLICY_REJECT:
          rc = model_verdict_settle (vr, false, err,
                                     "the policy rejects every image in "
                                     "this scope");
          break;
        case MODEL_POLICY_INSECURE_ACCEPT_ANYTHING:
          rc = model_verdict_settle (vr, true, err,
                                     "accepted without a signature");
          break;
        case MODEL_POLICY_SIGSTORE_SIGNED:
          /* No signature is looked for where the scope rejects anyway
           * (model_sigpolicy_wants): say so rather than "none found". */
          rc = rejects ? model_verdict_settle (vr, false, err,
                                               "not checked: the scope also "
                                               "rejects every image")
                       : check_sigstore (r, ref, digest, sigs, vr, err);
          break;
        }
      if (rc < 0)
        goto fail;
    }
  model_verdict_finish (v);
  *out = v;
  return 0;
fail:
  model_verdict_free (v);
  return -1;
}
