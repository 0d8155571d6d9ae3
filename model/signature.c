/* Found signatures and verdicts (see signature.h). */
#include "model/signature.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
oom (mp_error *err)
{
  return mp_error_sys (err, ENOMEM, "signatures");
}

enum model_sig_format
model_sig_format_of (const char *artifact_type, const char *layer_media_type)
{
  const char *mt = layer_media_type ? layer_media_type : "";

  if (strcmp (mt, MODEL_SIG_MEDIA_TYPE_COSIGN) == 0)
    return MODEL_SIG_COSIGN;
  /* v0.1 and v0.2 bundles are "application/vnd.dev.sigstore.bundle+json;
   * version=0.2", v0.3 "application/vnd.dev.sigstore.bundle.v0.3+json". */
  if (strncmp (mt, MODEL_SIG_MEDIA_TYPE_BUNDLE_PREFIX,
               strlen (MODEL_SIG_MEDIA_TYPE_BUNDLE_PREFIX))
      == 0)
    return MODEL_SIG_BUNDLE;
  if (artifact_type != NULL
      && strcmp (artifact_type, MODEL_SIG_ARTIFACT_NOTATION) == 0)
    {
      if (strcmp (mt, MODEL_SIG_MEDIA_TYPE_JWS) == 0)
        return MODEL_SIG_NOTATION_JWS;
      if (strcmp (mt, MODEL_SIG_MEDIA_TYPE_COSE) == 0)
        return MODEL_SIG_NOTATION_COSE;
    }
  return MODEL_SIG_OTHER;
}

const char *
model_sig_format_name (enum model_sig_format f)
{
  switch (f)
    {
    case MODEL_SIG_COSIGN:
      return "cosign simple signing";
    case MODEL_SIG_BUNDLE:
      return "Sigstore bundle";
    case MODEL_SIG_NOTATION_JWS:
      return "Notation JWS";
    case MODEL_SIG_NOTATION_COSE:
      return "Notation COSE";
    case MODEL_SIG_OTHER:
    case MODEL_SIG_FORMATS:
      break;
    }
  return "not a signature";
}

const char *
model_sig_where_name (enum model_sig_where w)
{
  switch (w)
    {
    case MODEL_SIG_REFERRERS_API:
      return "referrers API";
    case MODEL_SIG_REFERRERS_TAG:
      return "referrers tag";
    case MODEL_SIG_COSIGN_TAG:
      return "cosign .sig tag";
    }
  return "?";
}

model_signature *
model_sig_list_add (model_sig_list *l, mp_error *err)
{
  model_signature *v = realloc (l->v, (l->n + 1) * sizeof *v);

  if (v == NULL)
    {
      oom (err);
      return NULL;
    }
  l->v = v;
  memset (&v[l->n], 0, sizeof v[l->n]);
  return &v[l->n++];
}

void
model_sig_list_clear (model_sig_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      model_signature *s = &l->v[i];

      free (s->manifest_digest);
      free (s->artifact_type);
      model_annotations_clear (&s->manifest_annotations);
      free (s->media_type);
      model_annotations_clear (&s->annotations);
      free (s->blob);
      free (s->error);
    }
  free (l->v);
  l->v = NULL;
  l->n = 0;
}

static char *
dup_or_null (const char *s)
{
  return s ? strdup (s) : NULL;
}

model_verdict *
model_verdict_new (const char *reference, const char *digest,
                   const char *policy, const char *scope, mp_error *err)
{
  model_verdict *v = calloc (1, sizeof *v);

  if (v == NULL)
    {
      oom (err);
      return NULL;
    }
  v->reference = dup_or_null (reference);
  v->digest = dup_or_null (digest);
  v->policy = dup_or_null (policy);
  v->scope = dup_or_null (scope);
  if ((reference && !v->reference) || (digest && !v->digest)
      || (policy && !v->policy) || (scope && !v->scope))
    {
      model_verdict_free (v);
      oom (err);
      return NULL;
    }
  return v;
}

void
model_verdict_free (model_verdict *v)
{
  if (v == NULL)
    return;
  for (size_t i = 0; i < v->n_reqs; i++)
    {
      model_verdict_req *r = &v->reqs[i];

      for (size_t k = 0; k < r->n_checks; k++)
        free (r->checks[k].why);
      free (r->checks);
      free (r->what);
      free (r->why);
    }
  free (v->reqs);
  free (v->reference);
  free (v->digest);
  free (v->policy);
  free (v->scope);
  free (v);
}

model_verdict_req *
model_verdict_add_req (model_verdict *v, const char *what, mp_error *err)
{
  model_verdict_req *r = realloc (v->reqs, (v->n_reqs + 1) * sizeof *r);

  if (r == NULL)
    {
      oom (err);
      return NULL;
    }
  v->reqs = r;
  r = &v->reqs[v->n_reqs];
  memset (r, 0, sizeof *r);
  r->what = strdup (what);
  if (r->what == NULL)
    {
      oom (err);
      return NULL;
    }
  v->n_reqs++;
  return r;
}

int
model_verdict_check (model_verdict_req *r, size_t signature, bool accepted,
                     mp_error *err, const char *fmt, ...)
{
  model_sig_check *c = realloc (r->checks, (r->n_checks + 1) * sizeof *c);
  va_list ap;
  char *why;
  int n;

  if (c == NULL)
    return oom (err);
  r->checks = c;
  va_start (ap, fmt);
  n = vasprintf (&why, fmt, ap);
  va_end (ap);
  if (n < 0)
    return oom (err);
  r->checks[r->n_checks++] = (model_sig_check){ .signature = signature,
                                                .accepted = accepted,
                                                .why = why };
  return 0;
}

int
model_verdict_settle (model_verdict_req *r, bool satisfied, mp_error *err,
                      const char *fmt, ...)
{
  va_list ap;
  char *why;
  int n;

  va_start (ap, fmt);
  n = vasprintf (&why, fmt, ap);
  va_end (ap);
  if (n < 0)
    return oom (err);
  free (r->why);
  r->why = why;
  r->satisfied = satisfied;
  return 0;
}

size_t
model_verdict_reasons (const model_verdict_req *r, char *buf, size_t size)
{
  size_t n = 0, used = 0;

  if (size > 0)
    buf[0] = '\0';
  for (size_t i = 0; i < r->n_checks; i++)
    {
      const model_sig_check *c = &r->checks[i];
      int w;

      if (c->accepted)
        continue;
      n++;
      if (used + 1 >= size)
        continue;
      w = snprintf (buf + used, size - used, "%s#%zu: %s", used ? "; " : "",
                    c->signature + 1, c->why ? c->why : "?");
      if (w < 0)
        buf[used] = '\0';
      else
        used += (size_t)w < size - used ? (size_t)w : size - used - 1;
    }
  return n;
}

void
model_verdict_finish (model_verdict *v)
{
  v->accepted = v->n_reqs > 0;
  for (size_t i = 0; i < v->n_reqs; i++)
    v->accepted = v->accepted && v->reqs[i].satisfied;
}

int
model_verdict_error (const model_verdict *v, mp_error *err)
{
  const model_verdict_req *r = NULL;

  for (size_t i = 0; i < v->n_reqs && r == NULL; i++)
    if (!v->reqs[i].satisfied)
      r = &v->reqs[i];
  if (r == NULL)
    return mp_error_set (err, MP_ERR_POLICY_REFUSED,
                         "%s: refused by the signature policy%s%s: no "
                         "requirement applies",
                         v->reference ? v->reference : "?",
                         v->policy ? " " : "", v->policy ? v->policy : "");
  return mp_error_set (err, MP_ERR_POLICY_REFUSED,
                       "%s (%s): refused by the signature policy%s%s, scope "
                       "%s: requires %s: %s",
                       v->reference ? v->reference : "?",
                       v->digest ? v->digest : "?", v->policy ? " " : "",
                       v->policy ? v->policy : "", v->scope ? v->scope : "?",
                       r->what, r->why ? r->why : "not satisfied");
}
