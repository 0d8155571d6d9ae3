/* The signature policy at image-volume Prepare: see sigcheck.h. */
#include "plugin/sigcheck.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "images/images.pb-c.h"
#include "model/digest.h"
#include "model/manifest.h"
#include "model/mediatype.h"
#include "model/notation.h"
#include "model/policy.h"
#include "model/reference.h"
#include "model/signature.h"
#include "plugin/grpc_client.h"
#include "registry/registry.h"
#include "registry/signatures.h"
#include "util/cleanup.h"
#include "util/log.h"

/* Accepting verdicts kept; past it the oldest goes (a node mounts far
 * fewer distinct models). */
#define VERDICTS_MAX 1024
#define MAX_INDEX_BYTES (4 << 20)

/* What a file was when it was read: a change of any is a new file. */
struct file_id
{
  bool present;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime;
};

/* A verdict's key: sha256 of the digest, the policy revision and the
 * names the model had (a new name may fall under another scope). */
struct cached
{
  char key[MODEL_DIGEST_MAX + 1];
};

/* containerd clients, one per namespace (a client's namespace is fixed
 * before calls share it); a node has one or two. */
#define CLIENTS_MAX 8
struct ns_client
{
  char *ns;
  mp_grpc_client *c;
};

struct mp_sigcheck
{
  char *policy_path;
  char *notation_dir;
  char *notation_file; /* notation_dir/trustpolicy.json */
  bool cache_by_digest;
  char *hosts_dir;
  char *auth_path; /* Docker config.json with registry credentials */
  struct file_id auth_id;
  registry_client *rc; /* swapped under LOCK held exclusively */

  pthread_mutex_t reload_mu; /* one reload at a time */
  struct file_id policy_id, notation_id;
  /* Held shared by checks, exclusively to swap in reloaded policies. */
  pthread_rwlock_t lock;
  model_policy *policy;
  notation_config *notation;
  char revision[160]; /* policy sha256 hex prefix + notation revision */

  pthread_mutex_t cache_mu;
  struct cached *verdicts; /* ring of VERDICTS_MAX */
  size_t n_verdicts, next;

  pthread_mutex_t clients_mu;
  struct ns_client clients[CLIENTS_MAX];
  size_t n_clients;
};

static struct file_id
file_id_of (const char *path)
{
  struct file_id id = { 0 };
  struct stat st;

  if (path != NULL && stat (path, &st) == 0)
    {
      id.present = true;
      id.dev = st.st_dev;
      id.ino = st.st_ino;
      id.size = st.st_size;
      id.mtime = st.st_mtim;
      id.ctime = st.st_ctim;
    }
  return id;
}

static bool
file_id_eq (const struct file_id *a, const struct file_id *b)
{
  return a->present == b->present
         && (!a->present
             || (a->dev == b->dev && a->ino == b->ino && a->size == b->size
                 && a->mtime.tv_sec == b->mtime.tv_sec
                 && a->mtime.tv_nsec == b->mtime.tv_nsec
                 && a->ctime.tv_sec == b->ctime.tv_sec
                 && a->ctime.tv_nsec == b->ctime.tv_nsec));
}

/* Read both policies as they are now.  Absent files give NULL; malformed
 * ones an error naming the file.  *REVISION (REVSIZE bytes) identifies
 * what was read. */
static int
load_policies (const mp_sigcheck *sc, model_policy **p, notation_config **n,
               char *revision, size_t revsize, mp_error *err)
{
  char prev[24] = "none";

  *p = NULL;
  *n = NULL;
  if (sc->policy_path != NULL)
    {
      cleanup_free char *buf = NULL;
      FILE *f = fopen (sc->policy_path, "re");

      if (f == NULL && errno != ENOENT)
        return mp_error_sys (err, errno, "signature policy %s",
                             sc->policy_path);
      if (f != NULL)
        {
          size_t cap = 0, len = 0, got;
          model_digest d;

          /* Read once: what is hashed is what is parsed. */
          do
            {
              if (len + 4096 > cap)
                {
                  char *grown = realloc (buf, cap = cap * 2 + 8192);
                  if (grown == NULL)
                    {
                      fclose (f);
                      return mp_error_sys (err, ENOMEM, "signature policy");
                    }
                  buf = grown;
                }
              got = fread (buf + len, 1, cap - len, f);
              len += got;
            }
          while (got > 0 && len < (1 << 24));
          fclose (f);
          if (model_policy_parse (buf, len, p, err) < 0)
            return mp_error_prefix (err, "signature policy %s",
                                    sc->policy_path);
          if (model_digest_buffer (MODEL_DIGEST_SHA256, buf, len, &d, err) < 0)
            {
              model_policy_free (*p);
              *p = NULL;
              return -1;
            }
          snprintf (prev, sizeof prev, "%.16s", d.str + strlen ("sha256:"));
        }
    }
  if (sc->notation_dir != NULL
      && notation_config_load (sc->notation_dir, n, err) < 0)
    {
      if (err->code != MP_ERR_NOT_FOUND)
        {
          model_policy_free (*p);
          *p = NULL;
          return mp_error_prefix (err, "Notation configuration");
        }
      mp_error_clear (err);
      *n = NULL;
    }
  snprintf (revision, revsize, "%s+%.40s", prev,
            *n ? notation_config_revision (*n) : "none");
  return 0;
}

/* A registry client with SC's hosts and credentials (read now). */
static registry_client *
new_client (mp_sigcheck *sc, mp_error *err)
{
  struct registry_options ro
      = { .hosts_dir = sc->hosts_dir, .auth_file = sc->auth_path };
  registry_client *rc = registry_client_new (&ro, err);

  if (rc == NULL)
    mp_error_prefix (err, "signatures: registry client");
  return rc;
}

int
mp_sigcheck_new (const struct mp_sigcheck_options *o, mp_sigcheck **out,
                 mp_error *err)
{
  mp_sigcheck *sc = calloc (1, sizeof *sc);

  *out = NULL;
  if (sc == NULL)
    return mp_error_sys (err, ENOMEM, "signatures");
  pthread_mutex_init (&sc->reload_mu, NULL);
  pthread_mutex_init (&sc->cache_mu, NULL);
  pthread_mutex_init (&sc->clients_mu, NULL);
  sc->cache_by_digest = o->cache_by_digest;
  pthread_rwlock_init (&sc->lock, NULL);
  if ((o->policy && (sc->policy_path = strdup (o->policy)) == NULL)
      || (o->notation
          && ((sc->notation_dir = strdup (o->notation)) == NULL
              || asprintf (&sc->notation_file, "%s/trustpolicy.json",
                           o->notation)
                     < 0))
      || (o->hosts_dir && (sc->hosts_dir = strdup (o->hosts_dir)) == NULL)
      || (o->auth_file && (sc->auth_path = strdup (o->auth_file)) == NULL)
      || (sc->verdicts = calloc (VERDICTS_MAX, sizeof *sc->verdicts)) == NULL)
    {
      sc->notation_file = NULL;
      mp_sigcheck_free (sc);
      return mp_error_sys (err, ENOMEM, "signatures");
    }
  /* Stat before reading: a change while reading is seen next time. */
  sc->policy_id = file_id_of (sc->policy_path);
  sc->notation_id = file_id_of (sc->notation_file);
  if (load_policies (sc, &sc->policy, &sc->notation, sc->revision,
                     sizeof sc->revision, err)
      < 0)
    {
      mp_sigcheck_free (sc);
      return -1;
    }
  if (sc->notation != NULL && notation_config_warnings (sc->notation))
    mp_log_warn ("signatures: Notation trust stores: %s",
                 notation_config_warnings (sc->notation));
  sc->auth_id = file_id_of (sc->auth_path);
  sc->rc = new_client (sc, err);
  if (sc->rc == NULL)
    {
      mp_sigcheck_free (sc);
      return -1;
    }
  *out = sc;
  return 0;
}

void
mp_sigcheck_free (mp_sigcheck *sc)
{
  if (sc == NULL)
    return;
  registry_client_free (sc->rc);
  for (size_t i = 0; i < sc->n_clients; i++)
    {
      mp_grpc_client_free (sc->clients[i].c);
      free (sc->clients[i].ns);
    }
  pthread_mutex_destroy (&sc->clients_mu);
  model_policy_free (sc->policy);
  notation_config_free (sc->notation);
  pthread_mutex_destroy (&sc->reload_mu);
  pthread_mutex_destroy (&sc->cache_mu);
  pthread_rwlock_destroy (&sc->lock);
  free (sc->policy_path);
  free (sc->notation_dir);
  free (sc->notation_file);
  free (sc->hosts_dir);
  free (sc->auth_path);
  free (sc->verdicts);
  free (sc);
}

/* Read the policies again if their files changed; a malformed one keeps
 * the last good policies (logged once: the file's identity is taken
 * either way). */
static void
maybe_reload (mp_sigcheck *sc)
{
  struct file_id pid, nid, aid;
  model_policy *p = NULL;
  notation_config *n = NULL;
  char revision[sizeof sc->revision];
  mp_error err = { 0 };

  pthread_mutex_lock (&sc->reload_mu);
  aid = file_id_of (sc->auth_path);
  if (!file_id_eq (&aid, &sc->auth_id))
    {
      /* New credentials: a new client (its tokens go with the old one). */
      registry_client *rc = new_client (sc, &err);

      sc->auth_id = aid;
      if (rc == NULL)
        mp_log_error ("%s; keeping the credentials in use", err.msg);
      else
        {
          pthread_rwlock_wrlock (&sc->lock);
          registry_client_free (sc->rc);
          sc->rc = rc;
          pthread_rwlock_unlock (&sc->lock);
          mp_log_info ("signatures: registry credentials %s %s", sc->auth_path,
                       aid.present ? "reloaded" : "removed");
        }
      mp_error_clear (&err);
    }
  pid = file_id_of (sc->policy_path);
  nid = file_id_of (sc->notation_file);
  if (file_id_eq (&pid, &sc->policy_id) && file_id_eq (&nid, &sc->notation_id))
    {
      pthread_mutex_unlock (&sc->reload_mu);
      return;
    }
  sc->policy_id = pid;
  sc->notation_id = nid;
  if (load_policies (sc, &p, &n, revision, sizeof revision, &err) < 0)
    {
      mp_log_error ("signatures: %s; keeping the policy in force (revision "
                    "%s)",
                    err.msg, sc->revision);
      pthread_mutex_unlock (&sc->reload_mu);
      return;
    }
  pthread_rwlock_wrlock (&sc->lock);
  model_policy_free (sc->policy);
  notation_config_free (sc->notation);
  sc->policy = p;
  sc->notation = n;
  mp_log_info ("signatures: policies reloaded (revision %s -> %s; %s, %s)",
               sc->revision, revision,
               p ? sc->policy_path : "no containers-policy.json",
               n ? sc->notation_dir : "no Notation trust policy");
  snprintf (sc->revision, sizeof sc->revision, "%s", revision);
  pthread_rwlock_unlock (&sc->lock);
  pthread_mutex_unlock (&sc->reload_mu);
}

bool
mp_sigcheck_active (mp_sigcheck *sc)
{
  bool on;

  maybe_reload (sc);
  pthread_rwlock_rdlock (&sc->lock);
  on = sc->policy != NULL || sc->notation != NULL;
  pthread_rwlock_unlock (&sc->lock);
  return on;
}

void
mp_sigcheck_revision (mp_sigcheck *sc, char *out, size_t outsize)
{
  maybe_reload (sc);
  pthread_rwlock_rdlock (&sc->lock);
  snprintf (out, outsize, "%s", sc->revision);
  pthread_rwlock_unlock (&sc->lock);
}

static bool
cache_has (mp_sigcheck *sc, const char *key)
{
  bool hit = false;

  pthread_mutex_lock (&sc->cache_mu);
  for (size_t i = 0; i < sc->n_verdicts && !hit; i++)
    hit = strcmp (sc->verdicts[i].key, key) == 0;
  pthread_mutex_unlock (&sc->cache_mu);
  return hit;
}

static void
cache_put (mp_sigcheck *sc, const char *key)
{
  pthread_mutex_lock (&sc->cache_mu);
  struct cached *c = &sc->verdicts[sc->next];

  snprintf (c->key, sizeof c->key, "%s", key);
  sc->next = (sc->next + 1) % VERDICTS_MAX;
  if (sc->n_verdicts < VERDICTS_MAX)
    sc->n_verdicts++;
  pthread_mutex_unlock (&sc->cache_mu);
}

/* ---- the model's names, from containerd's image records ---------------- */

struct names
{
  size_t n;
  model_reference v[16]; /* distinct repositories */
  /* The digest's media type and size from an image record naming it (what
   * a Notation envelope signs), "" when only an index lists it. */
  char media_type[128];
  int64_t size;
};

/* Add NAME if it is a reference of a repository not yet listed (a tagged
 * name replaces a digest one of the same repository). */
static void
names_add (struct names *ns, const char *name)
{
  model_reference r;
  mp_error err = { 0 };

  /* The CRI's image ID record ("sha256:<config hex>") would parse as a
   * Docker Hub name: it is no name. */
  if (strncmp (name, "sha256:", 7) == 0 || strncmp (name, "sha512:", 7) == 0
      || model_reference_parse (name, &r, &err) < 0)
    return;
  for (size_t i = 0; i < ns->n; i++)
    if (strcmp (ns->v[i].host, r.host) == 0
        && strcmp (ns->v[i].path, r.path) == 0)
      {
        if (ns->v[i].tag[0] == '\0' && r.tag[0] != '\0')
          ns->v[i] = r;
        return;
      }
  if (ns->n < sizeof ns->v / sizeof ns->v[0])
    ns->v[ns->n++] = r;
}

static int
list_images (mp_grpc_client *c, const char *filter,
             Containerd__Services__Images__V1__ListImagesResponse **resp,
             mp_error *err)
{
  Containerd__Services__Images__V1__ListImagesRequest req
      = CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
  char *filters[1] = { (char *)filter };
  int r;

  if (filter != NULL)
    {
      req.n_filters = 1;
      req.filters = filters;
    }
  r = mp_grpc_client_unary (
      c, "/containerd.services.images.v1.Images/List", &req.base,
      &containerd__services__images__v1__list_images_response__descriptor,
      (ProtobufCMessage **)resp, err);
  return r == 0 ? 0 : -1;
}

/* Whether the index DIGEST (in SRC) lists CHILD. */
static bool
index_lists (content_source *src, const char *digest, const char *child)
{
  cleanup_free char *buf = NULL;
  cleanup_index model_index *idx = NULL;
  size_t len;
  mp_error err = { 0 };

  if (content_store_read_blob (src, digest, MAX_INDEX_BYTES, &buf, &len, &err)
          < 0
      || model_index_parse (buf, len, &idx, &err) < 0)
    return false;
  for (size_t i = 0; i < idx->n_manifests; i++)
    if (strcmp (idx->manifests[i].digest.str, child) == 0)
      return true;
  return false;
}

/* The client for namespace NS, made at first use and kept. */
static mp_grpc_client *
client_for (mp_sigcheck *sc, const char *address, const char *ns, mp_error *err)
{
  mp_grpc_client *c = NULL;

  pthread_mutex_lock (&sc->clients_mu);
  for (size_t i = 0; i < sc->n_clients && c == NULL; i++)
    if (strcmp (sc->clients[i].ns, ns) == 0)
      c = sc->clients[i].c;
  if (c == NULL)
    {
      if (sc->n_clients == CLIENTS_MAX)
        mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                      "signatures: more than %d containerd namespaces",
                      CLIENTS_MAX);
      else if ((c = mp_grpc_client_new (address, err)) != NULL)
        {
          char *copy = strdup (ns);

          if (copy == NULL || mp_grpc_client_set_namespace (c, ns, err) < 0)
            {
              if (copy == NULL)
                mp_error_sys (err, ENOMEM, "signatures");
              free (copy);
              mp_grpc_client_free (c);
              c = NULL;
            }
          else
            {
              mp_grpc_client_set_timeout_ms (c, 10000);
              sc->clients[sc->n_clients].ns = copy;
              sc->clients[sc->n_clients++].c = c;
            }
        }
    }
  pthread_mutex_unlock (&sc->clients_mu);
  return c;
}

static int
find_names (mp_sigcheck *sc, content_source *src, const char *digest,
            struct names *out, mp_error *err)
{
  Containerd__Services__Images__V1__ListImagesResponse *resp = NULL;
  mp_grpc_client *c;
  char filter[MODEL_DIGEST_MAX + 32];
  int ret = -1;

  if (src->cs->address == NULL)
    return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                         "no containerd address to find the model's name");
  c = client_for (sc, src->cs->address, src->ns ? src->ns : "", err);
  if (c == NULL)
    goto out;
  snprintf (filter, sizeof filter, "target.digest==%s", digest);
  if (list_images (c, filter, &resp, err) < 0)
    goto fail;
  for (size_t i = 0; i < resp->n_images; i++)
    {
      const Containerd__Types__Descriptor *t = resp->images[i]->target;

      names_add (out, resp->images[i]->name);
      if (t != NULL && t->media_type != NULL
          && strlen (t->media_type) < sizeof out->media_type)
        {
          snprintf (out->media_type, sizeof out->media_type, "%s",
                    t->media_type);
          out->size = t->size;
        }
    }
  if (out->n == 0)
    {
      /* The record's target may be an index whose child this is. */
      protobuf_c_message_free_unpacked (&resp->base, NULL);
      resp = NULL;
      if (list_images (c, NULL, &resp, err) < 0)
        goto fail;
      for (size_t i = 0; i < resp->n_images; i++)
        {
          const Containerd__Types__Descriptor *t = resp->images[i]->target;

          if (t != NULL && t->media_type != NULL && t->digest != NULL
              && (strcmp (t->media_type, MODEL_OCI_MEDIA_TYPE_INDEX) == 0
                  || strcmp (t->media_type,
                             MODEL_DOCKER_MEDIA_TYPE_MANIFEST_LIST)
                         == 0)
              && index_lists (src, t->digest, digest))
            names_add (out, resp->images[i]->name);
        }
    }
  if (out->n == 0)
    {
      mp_error_set (err, MP_ERR_NOT_FOUND,
                    "no image record in containerd namespace \"%s\" names %s: "
                    "its repository, hence its policy scope, is unknown",
                    src->ns ? src->ns : "", digest);
      goto out;
    }
  ret = 0;
  goto out;
fail:
  mp_error_prefix (err, "containerd image records");
out:
  if (resp != NULL)
    protobuf_c_message_free_unpacked (&resp->base, NULL);
  return ret;
}

static int
cmp_ref (const void *a, const void *b)
{
  char x[MODEL_REF_MAX + 512], y[MODEL_REF_MAX + 512];

  model_reference_string (a, x, sizeof x);
  model_reference_string (b, y, sizeof y);
  return strcmp (x, y);
}

/* The verdict cache's key for DIGEST under REVISION with NAMES (sorted
 * here: containerd's order is not promised). */
static int
verdict_key (const char *digest, const char *revision, struct names *names,
             char *key, size_t keysize, mp_error *err)
{
  size_t cap = strlen (digest) + strlen (revision) + 2
               + names->n * (sizeof names->v[0].host + MODEL_REF_MAX + 200);
  cleanup_free char *buf = malloc (cap);
  size_t len;
  model_digest k;

  if (buf == NULL)
    return mp_error_sys (err, ENOMEM, "signatures");
  qsort (names->v, names->n, sizeof names->v[0], cmp_ref);
  len = (size_t)snprintf (buf, cap, "%s\n%s\n", digest, revision);
  for (size_t i = 0; i < names->n && len < cap; i++)
    {
      model_reference_string (&names->v[i], buf + len, cap - len - 1);
      len += strlen (buf + len);
      buf[len++] = '\n';
    }
  if (model_digest_buffer (MODEL_DIGEST_SHA256, buf, len, &k, err) < 0)
    return -1;
  snprintf (key, keysize, "%s", k.str);
  return 0;
}

/* The check behind both entry points: the model DIGEST, named NAME (a
 * CRI-O export: one known name, MEDIA_TYPE and SIZE its manifest's) or
 * known to containerd through SRC. */
static int
check (mp_sigcheck *sc, content_source *src, const char *name,
       const char *digest, const char *media_type, int64_t size, bool *cached,
       mp_error *err)
{
  struct names names = { 0 };
  char revision[sizeof sc->revision];
  char key[MODEL_DIGEST_MAX + 1];
  model_digest d;
  bool ask = src != NULL;
  int ret = -1;

  if (cached != NULL)
    *cached = false;
  maybe_reload (sc);
  pthread_rwlock_rdlock (&sc->lock);
  if (sc->policy == NULL && sc->notation == NULL)
    {
      pthread_rwlock_unlock (&sc->lock);
      return 0;
    }
  snprintf (revision, sizeof revision, "%s", sc->revision);
  if (name != NULL)
    {
      names_add (&names, name);
      if (names.n == 0)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "\"%s\" is not a registry reference: its policy "
                        "scope is unknown",
                        name);
          goto out;
        }
      if (media_type != NULL && strlen (media_type) < sizeof names.media_type)
        {
          snprintf (names.media_type, sizeof names.media_type, "%s",
                    media_type);
          names.size = size;
        }
    }
  /* The names first, even for a cached verdict: one local call to
   * containerd, and a name added since (another scope) is checked --
   * unless verdicts are per digest. */
  if (model_digest_parse (digest, &d, err) < 0
      || (ask && !sc->cache_by_digest
          && find_names (sc, src, digest, &names, err) < 0)
      || verdict_key (digest, revision, &names, key, sizeof key, err) < 0)
    goto out;
  if (cache_has (sc, key))
    {
      if (cached != NULL)
        *cached = true;
      ret = 0;
      goto out;
    }
  if (ask && sc->cache_by_digest
      && find_names (sc, src, digest, &names, err) < 0)
    goto out;
  struct registry_sig_policies sp = { .policy = sc->policy,
                                      .policy_path = sc->policy_path,
                                      .notation = sc->notation,
                                      .notation_dir = sc->notation_dir };
  for (size_t i = 0; i < names.n; i++)
    {
      model_verdict *v = NULL;
      struct registry_sig_stats st = { 0 };
      char text[MODEL_REF_MAX + 512];

      model_reference_string (&names.v[i], text, sizeof text);
      if (registry_check_signatures (sc->rc, &sp, &names.v[i], &d,
                                     names.media_type[0] ? names.media_type
                                                         : NULL,
                                     names.size, NULL, &v, &st, err)
          < 0)
        {
          mp_error_prefix (err, "%s: signatures could not be checked", text);
          goto out;
        }
      if (v != NULL && !v->accepted)
        {
          model_verdict_error (v, err);
          model_verdict_free (v);
          goto out;
        }
      mp_log_info ("signatures: %s (%s) accepted, scope %s (%lu requests, "
                   "%d round trips, %.1f ms)",
                   text, digest, v && v->scope ? v->scope : "-", st.requests,
                   st.round_trips, st.seconds * 1e3);
      model_verdict_free (v);
    }
  cache_put (sc, key);
  ret = 0;
out:
  pthread_rwlock_unlock (&sc->lock);
  return ret;
}

int
mp_sigcheck_model (mp_sigcheck *sc, content_source *src, const char *digest,
                   bool *cached, mp_error *err)
{
  return check (sc, src, NULL, digest, NULL, -1, cached, err);
}

int
mp_sigcheck_name (mp_sigcheck *sc, const char *name, const char *digest,
                  const char *media_type, int64_t size, bool *cached,
                  mp_error *err)
{
  return check (sc, NULL, name, digest, media_type, size, cached, err);
}

/* ---- before a pull: the image verifier's question ----------------------- */

/* Whether DIGEST in REF's repository (a manifest, or an index and its
 * entry for this platform) is a model rather than an ordinary image: the
 * daemon's rule (image_volume.c), read from the registry, as nothing is
 * in containerd's content store before the pull. */
static int
registry_is_model (registry_client *rc, const model_reference *ref,
                   const char *digest, bool *model, char *media_type,
                   size_t mtsize, int64_t *size, mp_error *err)
{
  cleanup_free char *mt = NULL, *got = NULL, *body = NULL;
  cleanup_manifest model_manifest *m = NULL;
  enum model_doc_kind kind;
  size_t len;

  if (registry_get_manifest (rc, ref, digest, -1, &mt, &got, &body, &len, err)
          < 0
      || model_oci_detect (body, len, &kind, err) < 0)
    return -1;
  /* DIGEST's own descriptor: what a Notation envelope signs. */
  snprintf (media_type, mtsize, "%s", mt);
  *size = (int64_t)len;
  if (kind == MODEL_DOC_INDEX)
    {
      cleanup_index model_index *idx = NULL;
      cleanup_free char *child = NULL;
      ssize_t i;

      if (model_index_parse (body, len, &idx, err) < 0
          || (i = model_index_select (idx, NULL, err)) < 0)
        return -1;
      child = strdup (idx->manifests[i].digest.str);
      if (child == NULL)
        return mp_error_sys (err, ENOMEM, "signatures");
      free (mt);
      free (got);
      free (body);
      mt = got = body = NULL;
      if (registry_get_manifest (rc, ref, child, idx->manifests[i].size, &mt,
                                 &got, &body, &len, err)
          < 0)
        return -1;
    }
  if (model_manifest_parse (body, len, &m, err) < 0)
    return -1;
  *model = !m->is_image;
  return 0;
}

int
mp_sigcheck_pull (mp_sigcheck *sc, const char *name, const char *digest,
                  struct mp_sigcheck_pull_result *r, mp_error *err)
{
  model_reference ref;
  model_digest d;
  model_verdict *v = NULL;
  char mt[128] = "";
  int64_t size = -1;
  int ret = -1;

  memset (r, 0, sizeof *r);
  if (model_reference_parse (name, &ref, err) < 0
      || model_digest_parse (digest, &d, err) < 0)
    return mp_error_prefix (err, "%s", name);
  /* A digest in the name must be the one resolved. */
  if (ref.digest[0] != '\0' && strcmp (ref.digest, d.str) != 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: resolved to %s, not the digest it names", name,
                         d.str);
  maybe_reload (sc);
  pthread_rwlock_rdlock (&sc->lock);
  if (sc->policy == NULL && sc->notation == NULL)
    {
      ret = 0;
      goto out;
    }
  r->policy = true;
  if (registry_is_model (sc->rc, &ref, d.str, &r->model, mt, sizeof mt, &size,
                         err)
      < 0)
    {
      mp_error_prefix (err, "%s (%s): signatures could not be checked", name,
                       d.str);
      goto out;
    }
  if (!r->model)
    {
      ret = 0;
      goto out;
    }
  struct registry_sig_policies sp = { .policy = sc->policy,
                                      .policy_path = sc->policy_path,
                                      .notation = sc->notation,
                                      .notation_dir = sc->notation_dir };
  if (registry_check_signatures (sc->rc, &sp, &ref, &d, mt[0] ? mt : NULL, size,
                                 NULL, &v, NULL, err)
      < 0)
    {
      mp_error_prefix (err, "%s (%s): signatures could not be checked", name,
                       d.str);
      goto out;
    }
  if (v != NULL && !v->accepted)
    {
      model_verdict_error (v, err);
      goto out;
    }
  snprintf (r->scope, sizeof r->scope, "%s", v && v->scope ? v->scope : "-");
  ret = 0;
out:
  model_verdict_free (v);
  pthread_rwlock_unlock (&sc->lock);
  return ret;
}
