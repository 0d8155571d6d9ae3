#include "plugin/image_volume.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/digest.h"
#include "model/manifest.h"
#include "util/cleanup.h"
#include "util/log.h"

/* Manifests and indexes are small; anything bigger is not one. */
#define MAX_MANIFEST_BYTES (4 << 20)

int
image_volumes_init (image_volumes *iv, const char *key_pattern,
                    const char *containerd_root, const char *containerd_address,
                    const char *spool, model_cache *cache, mp_error *err)
{
  int rc;

  memset (iv, 0, sizeof *iv);
  rc = regcomp (&iv->key_re, key_pattern, REG_EXTENDED);
  if (rc != 0)
    {
      char msg[256];

      regerror (rc, &iv->key_re, msg, sizeof msg);
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "image volume key pattern \"%s\": %s", key_pattern,
                           msg);
    }
  if (iv->key_re.re_nsub < 1)
    {
      regfree (&iv->key_re);
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "image volume key pattern \"%s\" must capture the "
                           "manifest digest's hex in its first group",
                           key_pattern);
    }
  iv->content.root = strdup (containerd_root);
  iv->content.address = containerd_address && containerd_address[0]
                            ? strdup (containerd_address)
                            : NULL;
  iv->content.spool = strdup (spool);
  if (iv->content.root == NULL || iv->content.spool == NULL
      || (containerd_address && containerd_address[0]
          && iv->content.address == NULL))
    {
      regfree (&iv->key_re);
      free (iv->content.root);
      free (iv->content.address);
      free (iv->content.spool);
      iv->content.root = NULL;
      return mp_error_sys (err, ENOMEM, "image volumes");
    }
  iv->cache = cache;
  pthread_rwlock_init (&iv->gc_lock, NULL);
  pthread_mutex_init (&iv->publish_mu, NULL);
  return 0;
}

void
image_volumes_fini (image_volumes *iv)
{
  if (iv == NULL || iv->content.root == NULL)
    return;
  regfree (&iv->key_re);
  pthread_rwlock_destroy (&iv->gc_lock);
  pthread_mutex_destroy (&iv->publish_mu);
  free (iv->content.root);
  free (iv->content.address);
  free (iv->content.spool);
  iv->content.root = NULL;
}

char *
image_volume_match (const image_volumes *iv, const char *key,
                    const char *parent, const snapshot_label *labels,
                    size_t nlabels)
{
  regmatch_t m[2];
  char *digest = NULL;

  for (size_t i = 0; i < nlabels; i++)
    if (strcmp (labels[i].key, IMAGE_VOLUME_LABEL_MANIFEST) == 0)
      return strdup (labels[i].value);
  /* An image volume of an ordinary image has its layers' chain as parent;
   * only a parentless one can be an artifact. */
  if (parent != NULL && parent[0] != '\0')
    return NULL;
  if (regexec (&iv->key_re, key, 2, m, 0) != 0 || m[1].rm_so < 0)
    return NULL;
  if (asprintf (&digest, "sha256:%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                key + m[1].rm_so)
      < 0)
    return NULL;
  return digest;
}

/* Check BUF against DIGEST before anything parses it. */
static int
verify_buffer (const char *digest, const char *buf, size_t len, mp_error *err)
{
  model_digest want, got;

  if (model_digest_parse (digest, &want, err) < 0
      || model_digest_buffer (want.algo, buf, len, &got, err) < 0)
    return -1;
  return model_digest_verify (&want, &got, err);
}

/* Whether DIGEST (a manifest, or an index naming one for this platform) is
 * an ordinary container image rather than an artifact. */
static int
is_ordinary_image (content_source *src, const char *digest, mp_error *err)
{
  cleanup_free char *buf = NULL;
  cleanup_manifest model_manifest *m = NULL;
  cleanup_free char *next = NULL;
  enum model_doc_kind kind;
  size_t len;

  if (content_store_read_blob (src, digest, MAX_MANIFEST_BYTES, &buf, &len, err)
          < 0
      || verify_buffer (digest, buf, len, err) < 0
      || model_oci_detect (buf, len, &kind, err) < 0)
    return -1;
  if (kind == MODEL_DOC_INDEX)
    {
      cleanup_index model_index *idx = NULL;
      ssize_t i;

      if (model_index_parse (buf, len, &idx, err) < 0)
        return -1;
      i = model_index_select (idx, NULL, err);
      if (i < 0)
        return -1;
      next = strdup (idx->manifests[i].digest.str);
      if (next == NULL)
        return mp_error_sys (err, ENOMEM, "image volume");
      free (buf);
      buf = NULL;
      if (content_store_read_blob (src, next, MAX_MANIFEST_BYTES, &buf, &len,
                                   err)
              < 0
          || verify_buffer (next, buf, len, err) < 0)
        return -1;
    }
  if (model_manifest_parse (buf, len, &m, err) < 0)
    return -1;
  return m->is_image ? 1 : 0;
}

static int
volume_prepare (image_volumes *iv, snapshotter *sn, const char *key,
                const char *ns, const char *digest,
                const snapshot_label *labels, size_t nlabels,
                snapshot_mounts *out, bool *built, mp_error *err)
{
  cleanup_free char *key_ns = NULL;
  content_source src = { &iv->content, ns };
  cleanup_free char *tree = NULL;
  cleanup_free char *resolved = NULL;
  struct model_cache_stats st = { 0 };
  struct timespec t0, t1;
  int ordinary, rc;

  if (!model_digest_is_valid (digest))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "image volume: \"%s\" is not a digest", digest);
  /* containerd 1.6 sends no namespace metadata; its keys start with it. */
  if (ns == NULL || ns[0] == '\0')
    {
      key_ns = strndup (key, strcspn (key, "/"));
      src.ns = key_ns;
    }
  clock_gettime (CLOCK_MONOTONIC, &t0);
  ordinary = is_ordinary_image (&src, digest, err);
  if (ordinary < 0)
    return mp_error_prefix (err, "image volume %s", digest);
  if (ordinary)
    return 0;
  /* Before the cache builds or serves anything: a refused model leaves
   * nothing behind, and a tree built earlier under another policy is not
   * served. */
  if (iv->sig != NULL)
    {
      struct timespec s0, s1;
      bool cached = false;

      clock_gettime (CLOCK_MONOTONIC, &s0);
      if (mp_sigcheck_model (iv->sig, &src, digest, &cached, err) < 0)
        {
          mp_log_warn ("image volume %s: %s", key, err->msg);
          return mp_error_prefix (err, "image volume %s", digest);
        }
      clock_gettime (CLOCK_MONOTONIC, &s1);
      /* "no verdict": no policy file in force, nothing was checked. */
      mp_log_info ("image volume %s: signatures of %s: %s verdict in %.3f ms",
                   key, digest,
                   cached                         ? "cached"
                   : mp_sigcheck_active (iv->sig) ? "new"
                                                  : "no",
                   (s1.tv_sec - s0.tv_sec) * 1e3
                       + (s1.tv_nsec - s0.tv_nsec) / 1e6);
    }
  /* The hold is published before the build: from now until the snapshot
   * is in the published set, no eviction and no `modelpack cache prune`
   * removes the tree, in this process or another. */
  if (model_cache_hold (iv->cache, digest, err) < 0)
    return mp_error_prefix (err, "image volume %s", digest);
  pthread_rwlock_rdlock (&iv->gc_lock);
  if (model_cache_get_manifest_tree (iv->cache, digest, content_store_open_blob,
                                     &src, &tree, &resolved, &st, err)
      < 0)
    {
      pthread_rwlock_unlock (&iv->gc_lock);
      model_cache_release (iv->cache, digest);
      return mp_error_prefix (err, "image volume %s", digest);
    }
  rc = snapshotter_prepare_model (sn, key, labels, nlabels, resolved, tree, out,
                                  err);
  pthread_rwlock_unlock (&iv->gc_lock);
  if (rc < 0)
    {
      model_cache_release (iv->cache, digest);
      return -1;
    }
  {
    mp_error perr = { 0 };

    /* A hold left in place only keeps the tree longer than needed. */
    if (image_volumes_publish (iv, sn, &perr) < 0)
      mp_log_warn ("image volume %s: publish the models in use: %s", key,
                   perr.msg);
    else
      model_cache_release (iv->cache, digest);
  }
  model_cache_touch (iv->cache, resolved, NULL);
  *built = st.trees_built > 0;
  clock_gettime (CLOCK_MONOTONIC, &t1);
  {
    char evicted[48] = "";

    if (st.evictions > 0)
      snprintf (evicted, sizeof evicted, "%lld evicted for room; ",
                (long long)st.evictions);
    mp_log_info ("image volume %s: model %s ready in %.1f ms (%d layers "
                 "unpacked, %d reused; %stree %s)",
                 key, resolved,
                 (t1.tv_sec - t0.tv_sec) * 1e3
                     + (t1.tv_nsec - t0.tv_nsec) / 1e6,
                 st.layers_unpacked, st.layers_reused, evicted,
                 st.trees_built ? "built" : "reused");
  }
  return 1;
}

int
image_volume_prepare (image_volumes *iv, snapshotter *sn, const char *key,
                      const char *ns, const char *digest,
                      const snapshot_label *labels, size_t nlabels,
                      snapshot_mounts *out, mp_error *err)
{
  int64_t t0 = mp_metrics_now_ns ();
  bool built = false;
  int r = volume_prepare (iv, sn, key, ns, digest, labels, nlabels, out, &built,
                          err);

  /* An ordinary image's volume (0) is not a model's: not counted. */
  if (r != 0)
    mp_metrics_volume_done (iv->metrics,
                            r < 0   ? MP_VOLUME_REFUSED
                            : built ? MP_VOLUME_BUILT
                                    : MP_VOLUME_HIT,
                            mp_metrics_now_ns () - t0);
  return r;
}

struct refs
{
  char **v;
  size_t n;
};

static int
add_ref (void *ctx, const char *model, mp_error *err)
{
  struct refs *r = ctx;
  char **v = realloc (r->v, (r->n + 1) * sizeof *v);

  if (v == NULL)
    return mp_error_sys (err, ENOMEM, "model references");
  r->v = v;
  r->v[r->n] = strdup (model);
  if (r->v[r->n] == NULL)
    return mp_error_sys (err, ENOMEM, "model references");
  r->n++;
  return 0;
}

static void
refs_free (struct refs *r)
{
  for (size_t i = 0; i < r->n; i++)
    free (r->v[i]);
  free (r->v);
  memset (r, 0, sizeof *r);
}

int
image_volumes_publish (image_volumes *iv, snapshotter *sn, mp_error *err)
{
  struct refs r = { 0 };
  int ret;

  pthread_mutex_lock (&iv->publish_mu);
  ret = snapshotter_model_refs (sn, add_ref, &r, err);
  if (ret == 0)
    ret = model_cache_set_in_use (iv->cache, (const char *const *)r.v, r.n,
                                  err);
  pthread_mutex_unlock (&iv->publish_mu);
  refs_free (&r);
  return ret;
}

int
image_volumes_gc (image_volumes *iv, snapshotter *sn, mp_error *err)
{
  struct refs r = { 0 };
  int64_t freed = 0;
  int ret;

  pthread_rwlock_wrlock (&iv->gc_lock);
  ret = snapshotter_model_refs (sn, add_ref, &r, err);
  if (ret == 0)
    ret = model_cache_gc (iv->cache, (const char *const *)r.v, r.n, &freed,
                          err);
  pthread_rwlock_unlock (&iv->gc_lock);
  if (ret == 0 && freed > 0)
    mp_log_info ("model cache: freed %lld bytes", (long long)freed);
  refs_free (&r);
  return ret;
}
