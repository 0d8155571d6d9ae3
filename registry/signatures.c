/* Finding signatures, and the policy check (see signatures.h). */
#include "registry/signatures.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/manifest.h"
#include "model/mediatype.h"
#include "model/sigpolicy.h"
#include "util/cleanup.h"
#include "util/log.h"

/* Signature manifests fetched at once. */
#define WORKERS 8

static double
now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A failure that says nothing about one signature but about reaching the
 * registry at all: the search stops and the caller fails closed. */
static bool
is_fatal (const mp_error *e)
{
  return e->code == MP_ERR_UNAVAILABLE || e->code == MP_ERR_UNAUTHENTICATED
         || e->code == MP_ERR_PERMISSION_DENIED || e->code == MP_ERR_INTERNAL;
}

/* REF's repository at TAG. */
static model_reference
at_tag (const model_reference *ref, const char *tag)
{
  model_reference r = *ref;

  snprintf (r.tag, sizeof r.tag, "%s", tag);
  r.digest[0] = '\0';
  return r;
}

/* ---- the three lookups ------------------------------------------------- */

enum lookup_kind
{
  LOOKUP_API,
  LOOKUP_TAG,
  LOOKUP_SIG,
  LOOKUPS
};

struct lookup
{
  registry_client *rc;
  model_reference ref; /* the repository, at the tag for LOOKUP_TAG/SIG */
  const model_digest *digest;
  enum lookup_kind kind;
  bool wanted;
  /* result */
  int ret;
  char *mt, *dg, *body;
  size_t len;
  int pages; /* requests in sequence: referrers API pages */
  mp_error err;
};

static void *
lookup_run (void *arg)
{
  struct lookup *l = arg;

  if (l->kind == LOOKUP_API)
    l->ret = registry_get_referrers (l->rc, &l->ref, l->digest->str, NULL,
                                     &l->body, &l->len, &l->pages, &l->err);
  else
    {
      l->pages = 1;
      l->ret = registry_get_manifest (l->rc, &l->ref, NULL, -1, &l->mt, &l->dg,
                                      &l->body, &l->len, &l->err);
    }
  return NULL;
}

/* Run N jobs FN(&jobs[i]) at once, each on its own thread (the first on
 * this one). */
static void
run_parallel (void *(*fn) (void *), void *jobs, size_t size, size_t n)
{
  pthread_t th[LOOKUPS > WORKERS ? LOOKUPS : WORKERS];
  bool started[sizeof th / sizeof th[0]] = { false };

  for (size_t i = 1; i < n; i++)
    started[i]
        = pthread_create (&th[i], NULL, fn, (char *)jobs + i * size) == 0;
  if (n > 0)
    fn (jobs);
  for (size_t i = 1; i < n; i++)
    {
      if (started[i])
        pthread_join (th[i], NULL);
      else
        fn ((char *)jobs + i * size);
    }
}

/* ---- candidates: signature manifests to read -------------------------- */

struct candidate
{
  registry_client *rc;
  const model_reference *ref;
  unsigned want;
  enum model_sig_where where;
  model_digest digest;
  int64_t size;
  char *body; /* the manifest when the lookup fetched it (the .sig tag) */
  size_t len;
  /* result */
  model_sig_list sigs;
  int steps; /* requests in sequence */
  int ret;
  mp_error err;
};

/* Is a referrer of ARTIFACT_TYPE worth reading for WANT?  Kinds that are
 * not signatures are skipped; an entry that does not say (cosign writes
 * the empty config's type) is read to find out. */
static bool
worth_reading (const char *artifact_type, unsigned want)
{
  const char *t = artifact_type ? artifact_type : "";

  if (strncmp (t, MODEL_SIG_MEDIA_TYPE_BUNDLE_PREFIX,
               strlen (MODEL_SIG_MEDIA_TYPE_BUNDLE_PREFIX))
      == 0)
    return (want & MODEL_SIG_WANT (MODEL_SIG_BUNDLE)) != 0;
  if (strcmp (t, MODEL_SIG_ARTIFACT_NOTATION) == 0)
    return (want & MODEL_SIG_WANT_NOTATION) != 0;
  return t[0] == '\0' || strcmp (t, MODEL_OCI_MEDIA_TYPE_EMPTY) == 0
         || strcmp (t, MODEL_OCI_MEDIA_TYPE_IMAGE_CONFIG) == 0;
}

/* Record a signature whose manifest could not be read: it shows in the
 * list, and verifies as nothing. */
static int
add_unreadable (struct candidate *c, const mp_error *why, mp_error *err)
{
  model_signature *s = model_sig_list_add (&c->sigs, err);

  if (s == NULL)
    return -1;
  s->format = MODEL_SIG_OTHER;
  s->where = c->where;
  s->manifest_digest = strdup (c->digest.str);
  s->error = strdup (why->msg);
  if (s->manifest_digest == NULL || s->error == NULL)
    return mp_error_sys (err, ENOMEM, "signatures");
  return 0;
}

/* One layer of a signature manifest M: an entry, and its blob. */
static int
add_layer (struct candidate *c, const model_manifest *m, size_t i,
           enum model_sig_format f, mp_error *err)
{
  const model_layer *ly = &m->layers[i];
  model_signature *s = model_sig_list_add (&c->sigs, err);
  mp_error e = { 0 };
  char *body = NULL;
  size_t len = 0;

  if (s == NULL)
    return -1;
  s->format = f;
  s->where = c->where;
  s->layer = i;
  s->blob_digest = ly->desc.digest;
  s->blob_size = ly->desc.size;
  if ((s->manifest_digest = strdup (c->digest.str)) == NULL
      || (m->artifact_type && !(s->artifact_type = strdup (m->artifact_type)))
      || !(s->media_type = strdup (ly->desc.media_type))
      || model_annotations_copy (&s->manifest_annotations, &m->annotations, err)
             < 0
      || model_annotations_copy (&s->annotations, &ly->desc.annotations, err)
             < 0)
    return mp_error_sys (err, ENOMEM, "signatures");
  if (ly->desc.size > MODEL_MAX_DOCUMENT)
    {
      if (asprintf (&s->error,
                    "its blob declares %" PRId64
                    " bytes, more than the %d a signature may have",
                    ly->desc.size, MODEL_MAX_DOCUMENT)
          < 0)
        s->error = NULL;
      return 0;
    }
  c->steps++;
  if (registry_get_blob (c->rc, c->ref, ly->desc.digest.str, ly->desc.size,
                         &body, &len, &e)
      < 0)
    {
      if (is_fatal (&e))
        {
          *err = e;
          return -1;
        }
      s->error = strdup (e.msg);
      return 0;
    }
  s->blob = (uint8_t *)body;
  s->blob_len = len;
  return 0;
}

static int
read_candidate (struct candidate *c, mp_error *err)
{
  model_manifest *m = NULL;
  mp_error e = { 0 };
  int ret = -1;

  if (c->body == NULL)
    {
      char *mt = NULL, *dg = NULL;

      c->steps++;
      if (registry_get_manifest (c->rc, c->ref, c->digest.str, c->size, &mt,
                                 &dg, &c->body, &c->len, &e)
          < 0)
        {
          if (is_fatal (&e))
            {
              *err = e;
              return -1;
            }
          return add_unreadable (c, &e, err);
        }
      free (mt);
      free (dg);
    }
  if (model_manifest_parse (c->body, c->len, &m, &e) < 0)
    return add_unreadable (c, &e, err);
  for (size_t i = 0; i < m->n_layers; i++)
    {
      /* Notation signatures of image-spec 1.0 carry their type as the
       * config's media type. */
      const char *type
          = m->artifact_type ? m->artifact_type : m->config.media_type;
      enum model_sig_format f
          = model_sig_format_of (type, m->layers[i].desc.media_type);

      if (f == MODEL_SIG_OTHER || (c->want & MODEL_SIG_WANT (f)) == 0)
        continue;
      if (add_layer (c, m, i, f, err) < 0)
        goto out;
    }
  ret = 0;
out:
  model_manifest_free (m);
  return ret;
}

struct pool
{
  struct candidate *v;
  size_t n, next;
  pthread_mutex_t mu;
};

static void *
pool_run (void *arg)
{
  struct pool *p = arg;

  for (;;)
    {
      struct candidate *c;

      pthread_mutex_lock (&p->mu);
      c = p->next < p->n ? &p->v[p->next++] : NULL;
      pthread_mutex_unlock (&p->mu);
      if (c == NULL)
        return NULL;
      c->ret = read_candidate (c, &c->err);
    }
}

/* Add the entries of the index BODY as candidates (not seen before). */
static int
add_index (struct candidate **cs, size_t *n, const char *body, size_t len,
           enum model_sig_where where, const struct lookup *l, unsigned want,
           struct registry_sig_stats *st, mp_error *err)
{
  model_index *idx = NULL;
  mp_error e = { 0 };

  if (model_index_parse (body, len, &idx, &e) < 0)
    {
      mp_log_info ("signatures: %s/%s: the %s of %s is not an image index: "
                   "%s",
                   l->ref.host, l->ref.path, model_sig_where_name (where),
                   l->digest->str, e.msg);
      return 0;
    }
  for (size_t i = 0; i < idx->n_manifests; i++)
    {
      const model_descriptor *d = &idx->manifests[i];
      bool seen = false;
      struct candidate *grown;

      for (size_t k = 0; k < *n; k++)
        seen = seen || model_digest_equal (&(*cs)[k].digest, &d->digest);
      if (seen)
        continue;
      if (!worth_reading (d->artifact_type, want)
          || *n >= REGISTRY_MAX_SIGNATURES)
        {
          st->skipped++;
          continue;
        }
      grown = realloc (*cs, (*n + 1) * sizeof *grown);
      if (grown == NULL)
        {
          model_index_free (idx);
          return mp_error_sys (err, ENOMEM, "signatures");
        }
      *cs = grown;
      memset (&grown[*n], 0, sizeof grown[*n]);
      grown[*n].where = where;
      grown[*n].digest = d->digest;
      grown[*n].size = d->size;
      (*n)++;
    }
  model_index_free (idx);
  return 0;
}

int
registry_find_signatures (registry_client *rc, const model_reference *ref,
                          const model_digest *digest, unsigned want,
                          model_sig_list *out, struct registry_sig_stats *stats,
                          mp_error *err)
{
  struct registry_sig_stats st = { 0 };
  struct lookup ls[LOOKUPS];
  struct candidate *cs = NULL;
  size_t n = 0;
  unsigned long before = registry_client_requests (rc);
  double t0 = now_s ();
  char tag[130], hexpart[65];
  int ret = -1, steps = 0;

  /* The tag schema names a digest <alg>-<hex>, the hex cut to 64. */
  snprintf (hexpart, sizeof hexpart, "%s", model_digest_hex (digest));
  memset (ls, 0, sizeof ls);
  for (int k = 0; k < LOOKUPS; k++)
    {
      ls[k].rc = rc;
      ls[k].digest = digest;
      ls[k].kind = (enum lookup_kind)k;
      ls[k].ref = *ref;
    }
  ls[LOOKUP_API].ref.digest[0] = '\0';
  snprintf (tag, sizeof tag, "%s-%s", model_digest_algo_name (digest->algo),
            hexpart);
  ls[LOOKUP_TAG].ref = at_tag (ref, tag);
  snprintf (tag, sizeof tag, "%s-%s.sig", model_digest_algo_name (digest->algo),
            hexpart);
  ls[LOOKUP_SIG].ref = at_tag (ref, tag);
  ls[LOOKUP_API].wanted = ls[LOOKUP_TAG].wanted = want != 0;
  ls[LOOKUP_SIG].wanted = (want & MODEL_SIG_WANT (MODEL_SIG_COSIGN)) != 0;
  if (want == 0)
    {
      ret = 0;
      goto done;
    }
  {
    struct lookup *todo[LOOKUPS];
    struct lookup run[LOOKUPS];
    size_t m = 0;

    for (int k = 0; k < LOOKUPS; k++)
      if (ls[k].wanted)
        {
          todo[m] = &ls[k];
          run[m++] = ls[k];
        }
    run_parallel (lookup_run, run, sizeof run[0], m);
    steps = 1;
    for (size_t k = 0; k < m; k++)
      {
        *todo[k] = run[k];
        if (run[k].pages > steps)
          steps = run[k].pages;
      }
  }
  for (int k = 0; k < LOOKUPS; k++)
    {
      struct lookup *l = &ls[k];

      if (!l->wanted)
        continue;
      if (l->ret < 0)
        {
          if (l->err.code == MP_ERR_NOT_FOUND
              || l->err.code == MP_ERR_UNIMPLEMENTED)
            continue; /* nothing there, or no referrers API */
          if (is_fatal (&l->err))
            {
              *err = l->err;
              mp_error_prefix (err, "looking for signatures of %s",
                               digest->str);
              goto out;
            }
          mp_log_info ("signatures: %s/%s: %s: %s", ref->host, ref->path,
                       model_sig_where_name ((enum model_sig_where)k),
                       l->err.msg);
          continue;
        }
      if (k == LOOKUP_API)
        st.referrers_api = true;
      if (k == LOOKUP_SIG)
        {
          struct candidate *grown = realloc (cs, (n + 1) * sizeof *grown);
          if (grown == NULL)
            {
              mp_error_sys (err, ENOMEM, "signatures");
              goto out;
            }
          cs = grown;
          memset (&cs[n], 0, sizeof cs[n]);
          cs[n].where = MODEL_SIG_COSIGN_TAG;
          if (model_digest_parse (l->dg, &cs[n].digest, err) < 0)
            goto out;
          cs[n].size = (int64_t)l->len;
          cs[n].body = steal_pointer (&l->body);
          cs[n].len = l->len;
          n++;
          continue;
        }
      if (add_index (&cs, &n, l->body, l->len,
                     k == LOOKUP_API ? MODEL_SIG_REFERRERS_API
                                     : MODEL_SIG_REFERRERS_TAG,
                     l, want, &st, err)
          < 0)
        goto out;
    }
  {
    struct pool p = { .v = cs, .n = n };
    pthread_t th[WORKERS];
    size_t started = 0;

    pthread_mutex_init (&p.mu, NULL);
    for (size_t i = 0; i < n; i++)
      {
        cs[i].rc = rc;
        cs[i].ref = ref;
        cs[i].want = want;
      }
    for (; started + 1 < WORKERS && started + 1 < n; started++)
      if (pthread_create (&th[started], NULL, pool_run, &p) != 0)
        break;
    pool_run (&p);
    for (size_t i = 0; i < started; i++)
      pthread_join (th[i], NULL);
    pthread_mutex_destroy (&p.mu);
  }
  {
    int longest = 0;
    for (size_t i = 0; i < n; i++)
      {
        if (cs[i].ret < 0)
          {
            *err = cs[i].err;
            mp_error_prefix (err, "reading signature %s", cs[i].digest.str);
            goto out;
          }
        if (cs[i].steps > longest)
          longest = cs[i].steps;
      }
    steps += longest;
  }
  /* Merge in lookup order: referrers API, tag schema, .sig tag. */
  for (int where = MODEL_SIG_REFERRERS_API; where <= MODEL_SIG_COSIGN_TAG;
       where++)
    for (size_t i = 0; i < n; i++)
      {
        if ((int)cs[i].where != where)
          continue;
        for (size_t k = 0; k < cs[i].sigs.n; k++)
          {
            model_signature *s = model_sig_list_add (out, err);
            if (s == NULL)
              goto out;
            *s = cs[i].sigs.v[k];
            memset (&cs[i].sigs.v[k], 0, sizeof cs[i].sigs.v[k]);
          }
      }
  ret = 0;
out:
  for (int k = 0; k < LOOKUPS; k++)
    {
      free (ls[k].mt);
      free (ls[k].dg);
      free (ls[k].body);
    }
  for (size_t i = 0; i < n; i++)
    {
      free (cs[i].body);
      model_sig_list_clear (&cs[i].sigs);
    }
  free (cs);
done:
  st.requests = registry_client_requests (rc) - before;
  st.round_trips = steps;
  st.seconds = now_s () - t0;
  if (stats != NULL)
    *stats = st;
  return ret;
}

int
registry_check_policy (registry_client *rc, const model_policy *p,
                       const char *policy_path, const model_reference *ref,
                       const model_digest *digest, model_sig_list *sigs,
                       model_verdict **verdict,
                       struct registry_sig_stats *stats, mp_error *err)
{
  model_sig_list found = { 0 };
  model_sig_list *l = sigs ? sigs : &found;
  int ret = -1;

  if (registry_find_signatures (rc, ref, digest, model_sigpolicy_wants (p, ref),
                                l, stats, err)
      < 0)
    goto out;
  ret = model_sigpolicy_evaluate (p, policy_path, ref, digest, l, verdict, err);
out:
  model_sig_list_clear (&found);
  return ret;
}

/* The Notation requirement, from the statement L found for the
 * repository, over the Notation envelopes of SIGS. */
static int
check_notation (registry_client *rc, const struct registry_sig_policies *sp,
                const model_reference *ref, const char *repo,
                const model_digest *digest, const char *media_type,
                int64_t size, const notation_verdict *l,
                const model_sig_list *sigs, model_verdict *v,
                struct registry_sig_stats *st, mp_error *err)
{
  char what[8192];
  model_verdict_req *r;
  cleanup_free char *mt = NULL, *dg = NULL, *body = NULL;
  size_t len = 0, tried = 0;
  bool ok = false;

  if (!l->applies)
    {
      /* Only reached with no containers-policy.json: nothing speaks for
       * the repository, and notation refuses what no statement covers. */
      snprintf (what, sizeof what,
                "a Notation trust policy statement covering %s "
                "(%s/trustpolicy.json)",
                repo, sp->notation_dir ? sp->notation_dir : "?");
      r = model_verdict_add_req (v, what, err);
      if (r == NULL)
        return -1;
      return model_verdict_settle (r, false, err, "%s", l->reason);
    }
  snprintf (what, sizeof what,
            "a Notation signature verified by trust policy statement \"%s\" "
            "(level %s, %s/trustpolicy.json)",
            l->policy, notation_level_name (l->level),
            sp->notation_dir ? sp->notation_dir : "?");
  r = model_verdict_add_req (v, what, err);
  if (r == NULL)
    return -1;
  if (l->skipped)
    return model_verdict_settle (r, true, err,
                                 "level skip: accepted without a signature");
  for (size_t i = 0; i < sigs->n && !ok; i++)
    {
      const model_signature *s = &sigs->v[i];
      notation_verdict nv;

      if (s->format != MODEL_SIG_NOTATION_JWS
          && s->format != MODEL_SIG_NOTATION_COSE)
        continue;
      if (s->blob == NULL)
        {
          if (model_verdict_check (r, i, false, err, "%s",
                                   s->error ? s->error : "not fetched")
              < 0)
            return -1;
          continue;
        }
      if (++tried > 50) /* notation's own bound */
        break;
      /* What the envelope signs is the manifest's descriptor: its media
       * type and size too, read once when the caller did not have them. */
      if (media_type == NULL && body == NULL)
        {
          unsigned long before = registry_client_requests (rc);
          double t0 = now_s ();

          if (registry_get_manifest (rc, ref, digest->str, -1, &mt, &dg, &body,
                                     &len, err)
              < 0)
            {
              mp_error_prefix (err, "reading %s for its Notation signatures",
                               digest->str);
              return -1;
            }
          if (st != NULL)
            {
              st->requests += registry_client_requests (rc) - before;
              st->round_trips++;
              st->seconds += now_s () - t0;
            }
        }
      if (notation_verify (sp->notation, repo, digest->str,
                           media_type ? size : (int64_t)len,
                           media_type ? media_type : mt, s->media_type, s->blob,
                           s->blob_len, time (NULL), &nv, err)
          < 0)
        return -1;
      ok = nv.ok;
      if (model_verdict_check (r, i, nv.ok, err, "%s%s%s%s%s",
                               nv.ok ? "signed by " : nv.reason,
                               nv.ok ? (nv.signer[0] ? nv.signer : "?") : "",
                               nv.ok && nv.logged[0] ? " (logged: " : "",
                               nv.ok && nv.logged[0] ? nv.logged : "",
                               nv.ok && nv.logged[0] ? ")" : "")
          < 0)
        return -1;
    }
  if (ok)
    return model_verdict_settle (r, true, err, "a Notation signature verified");
  if (tried == 0)
    return model_verdict_settle (r, false, err, "no Notation signature found");
  /* Why each one failed (expired, not chaining to the trust store, ...):
   * the one line a kubelet or `pull` shows must say it, as for cosign. */
  char reasons[900];
  size_t n = model_verdict_reasons (r, reasons, sizeof reasons);

  return model_verdict_settle (r, false, err,
                               "%zu signature%s found, none accepted: %s", n,
                               n == 1 ? "" : "s", reasons);
}

int
registry_check_signatures (registry_client *rc,
                           const struct registry_sig_policies *sp,
                           const model_reference *ref,
                           const model_digest *digest, const char *media_type,
                           int64_t size, model_sig_list *sigs,
                           model_verdict **verdict,
                           struct registry_sig_stats *stats, mp_error *err)
{
  model_sig_list found = { 0 };
  model_sig_list *l = sigs ? sigs : &found;
  model_verdict *v = NULL;
  notation_verdict nl = { 0 };
  char repo[sizeof ref->host + sizeof ref->path + 2];
  unsigned want = 0;
  int ret = -1;

  *verdict = NULL;
  if (sp->policy == NULL && sp->notation == NULL)
    {
      if (stats != NULL)
        memset (stats, 0, sizeof *stats);
      return 0;
    }
  snprintf (repo, sizeof repo, "%s/%s", ref->host, ref->path);
  if (sp->policy != NULL)
    want |= model_sigpolicy_wants (sp->policy, ref);
  if (sp->notation != NULL)
    {
      notation_lookup (sp->notation, repo, &nl);
      if (nl.applies && !nl.skipped)
        want |= MODEL_SIG_WANT_NOTATION;
    }
  if (registry_find_signatures (rc, ref, digest, want, l, stats, err) < 0)
    goto out;
  if (sp->policy != NULL)
    {
      if (model_sigpolicy_evaluate (sp->policy, sp->policy_path, ref, digest, l,
                                    &v, err)
          < 0)
        goto out;
    }
  else
    {
      char text[MODEL_REF_MAX + 512], path[4200], scope[200];

      model_reference_string (ref, text, sizeof text);
      snprintf (path, sizeof path, "%s/trustpolicy.json",
                sp->notation_dir ? sp->notation_dir : "?");
      snprintf (scope, sizeof scope, "trustPolicies[\"%s\"]",
                nl.applies ? nl.policy : "none");
      v = model_verdict_new (text, digest->str, path, scope, err);
      if (v == NULL)
        goto out;
    }
  /* A statement that covers the repository always adds its requirement;
   * one that does not adds a refusal only when nothing else speaks. */
  if (sp->notation != NULL && (nl.applies || sp->policy == NULL))
    {
      if (check_notation (rc, sp, ref, repo, digest, media_type, size, &nl, l,
                          v, stats, err)
          < 0)
        goto out;
      model_verdict_finish (v);
    }
  *verdict = steal_pointer (&v);
  ret = 0;
out:
  model_verdict_free (v);
  model_sig_list_clear (&found);
  return ret;
}
