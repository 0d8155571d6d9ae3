/* The commands that talk to registries: pull, push, login, logout. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/digest.h"
#include "model/manifest.h"
#include "model/mediatype.h"
#include "model/modelconfig.h"
#include "store/oci_layout.h"
#include "model/reference.h"
#include "store/unpack.h"
#include "registry/registry.h"
#include "util/base64.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

/* Progress on a terminal: one line per blob of 1 MiB or more while it
 * moves ("sha256:0123456789ab  120.0/520.0 MiB  [=====>    ]  812.3
 * MiB/s"), redrawn at most ten times a second; a finished blob's line
 * stays above those still moving.  Called from several threads. */
#define PROGRESS_SLOTS 16

struct progress_slot
{
  char digest[24]; /* "sha256:" and 12 hex digits */
  int64_t done, total;
  double start, last;
  bool finished, used;
};

static struct
{
  pthread_mutex_t mu;
  struct progress_slot slot[PROGRESS_SLOTS];
  int drawn; /* lines of moving blobs on screen */
  double last_draw;
} prog = { .mu = PTHREAD_MUTEX_INITIALIZER };

static double
now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
progress_line (const struct progress_slot *s, double t)
{
  char bar[25];
  int w = (int)(sizeof bar - 1);
  int k = s->total > 0 ? (int)(w * s->done / s->total) : 0;
  double secs = (s->finished ? s->last : t) - s->start;

  for (int i = 0; i < w; i++)
    bar[i] = i < k ? '=' : i == k ? '>' : ' ';
  bar[w] = '\0';
  fprintf (stderr, "%s  %7.1f/%.1f MiB  [%s]  %6.1f MiB/s%s\033[K\n",
           cli_text (s->digest), (double)s->done / 1048576.0,
           (double)s->total / 1048576.0, bar,
           secs > 0.01 ? (double)s->done / 1048576.0 / secs : 0.0,
           s->finished ? "  done" : "");
}

static void
progress (void *ctx, const char *digest, int64_t done, int64_t total)
{
  struct progress_slot *s = NULL;
  double t;
  bool finished_now = false;

  if (total < (1 << 20))
    return;
  pthread_mutex_lock (&prog.mu);
  t = now_s ();
  for (int i = 0; i < PROGRESS_SLOTS && s == NULL; i++)
    if (prog.slot[i].used && strncmp (prog.slot[i].digest, digest, 19) == 0)
      s = &prog.slot[i];
  for (int i = 0; i < PROGRESS_SLOTS && s == NULL; i++)
    if (!prog.slot[i].used)
      {
        s = &prog.slot[i];
        memset (s, 0, sizeof *s);
        snprintf (s->digest, sizeof s->digest, "%.19s", digest);
        s->used = true;
        s->start = t;
      }
  if (s == NULL || s->finished)
    {
      pthread_mutex_unlock (&prog.mu);
      return;
    }
  /* Parallel ranges report bytes as they arrive, not in order. */
  if (done > s->done)
    s->done = done;
  s->total = total;
  s->last = t;
  if (s->done >= total)
    s->finished = finished_now = true;
  if (finished_now || t - prog.last_draw >= 0.1)
    {
      /* Back to the first moving line; finished lines first, for good. */
      if (prog.drawn > 0)
        fprintf (stderr, "\033[%dA", prog.drawn);
      for (int i = 0; i < PROGRESS_SLOTS; i++)
        if (prog.slot[i].used && prog.slot[i].finished)
          {
            progress_line (&prog.slot[i], t);
            prog.slot[i].used = false;
          }
      prog.drawn = 0;
      for (int i = 0; i < PROGRESS_SLOTS; i++)
        if (prog.slot[i].used)
          {
            progress_line (&prog.slot[i], t);
            prog.drawn++;
          }
      fputs ("\033[J", stderr);
      fflush (stderr);
      prog.last_draw = t;
    }
  pthread_mutex_unlock (&prog.mu);
}

registry_client *
cli_registry_client (const struct cli_globals *g, bool plain_http,
                     mp_error *err)
{
  struct registry_options o
      = { .auth_file = g->auth_file,
          .hosts_dir = g->hosts_dir,
          .plain_http = plain_http,
          /* Ours: 0 is none, -1 the default; the client's: the other
           * way round. */
          .stall_timeout = g->stall_timeout == 0  ? -1
                           : g->stall_timeout < 0 ? 0
                                                  : g->stall_timeout,
          .transfer_timeout = g->transfer_timeout == 0  ? -1
                              : g->transfer_timeout < 0 ? 0
                                                        : g->transfer_timeout };
  const char *e;

  /* Sizes for tests and tuning; see docs/cli.md. */
  if ((e = getenv ("MODELPACK_RANGE_CHUNK")) != NULL)
    o.range_chunk = strtoll (e, NULL, 10);
  if ((e = getenv ("MODELPACK_RANGE_STREAMS")) != NULL)
    o.range_streams = atoi (e);
  if ((e = getenv ("MODELPACK_UPLOAD_CHUNK")) != NULL)
    o.upload_chunk = strtoll (e, NULL, 10);
  if (g->progress)
    o.progress = progress;
  return registry_client_new (&o, err);
}

/* Parse REF for a command; CLI_BAD_REF on failure (0 on success). */
static int
parse_ref (const char *cmd, const char *text, model_reference *ref)
{
  mp_error err = { 0 };

  if (model_reference_parse (text, ref, &err) < 0)
    {
      cli_fail (cmd, &err);
      return CLI_BAD_REF;
    }
  return 0;
}

/* ---- where blobs are known to be ---------------------------------------- */

/* STORE/blob-repositories.json remembers, per blob, the repositories
 * ("host/path") it was pulled from or pushed to: {"sha256:…": ["host/path",
 * …]}, the latest last, at most REPOS_MAX each.  Pushing a blob to another
 * repository of the same registry then asks for a mount from there.  It is
 * a hint: a missing, unreadable or stale file only means an upload. */
#define REPOS_FILE "blob-repositories.json"
#define REPOS_MAX 8

static json_t *
repos_load (const struct cli_globals *g)
{
  cleanup_free char *path = NULL;
  json_t *doc;

  if (asprintf (&path, "%s/" REPOS_FILE, g->store) < 0)
    return NULL;
  doc = json_load_file (path, 0, NULL);
  if (!json_is_object (doc))
    {
      json_decref (doc);
      return NULL;
    }
  return doc;
}

/* Record that REF's repository holds M's config and layers. */
static void
repos_record (const struct cli_globals *g, const model_reference *ref,
              const model_manifest *m)
{
  cleanup_free char *path = NULL, *text = NULL, *old = NULL;
  char repo[MODEL_REF_MAX + 300];
  json_t *doc = NULL;
  int fd;
  struct stat st;

  if (asprintf (&path, "%s/" REPOS_FILE, g->store) < 0)
    return;
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  /* Read, change, rewrite in place: the lock is on this very file. */
  if (flock (fd, LOCK_EX) < 0 || fstat (fd, &st) < 0)
    goto out;
  if (st.st_size > 0 && st.st_size < (64 << 20)
      && (old = malloc ((size_t)st.st_size + 1)) != NULL
      && pread (fd, old, (size_t)st.st_size, 0) == st.st_size)
    doc = json_loadb (old, (size_t)st.st_size, 0, NULL);
  if (!json_is_object (doc))
    {
      json_decref (doc);
      doc = json_object ();
    }
  snprintf (repo, sizeof repo, "%s/%s", ref->host, ref->path);
  for (size_t i = 0; i <= m->n_layers; i++)
    {
      const char *d
          = i == 0 ? m->config.digest.str : m->layers[i - 1].desc.digest.str;
      json_t *a = json_object_get (doc, d);
      if (!json_is_array (a))
        json_object_set_new (doc, d, a = json_array ());
      for (size_t k = 0; k < json_array_size (a); k++)
        if (strcmp (json_string_value (json_array_get (a, k)) ?: "", repo) == 0)
          {
            json_array_remove (a, k);
            break;
          }
      json_array_append_new (a, json_string (repo));
      while (json_array_size (a) > REPOS_MAX)
        json_array_remove (a, 0);
    }
  text = json_dumps (doc, JSON_COMPACT | JSON_SORT_KEYS);
  if (text != NULL && ftruncate (fd, 0) == 0)
    {
      ssize_t n = pwrite (fd, text, strlen (text), 0);
      (void)n;
    }
out:
  json_decref (doc);
  close (fd);
}

/* A repository of REF's registry other than REF's that holds DIGEST (the
 * latest recorded), in BUF; or NULL. */
static const char *
repos_mount_from (json_t *doc, const model_reference *ref, const char *digest,
                  char *buf, size_t n)
{
  json_t *a = json_object_get (doc, digest);
  size_t hl = strlen (ref->host);

  for (size_t k = json_array_size (a); k-- > 0;)
    {
      const char *r = json_string_value (json_array_get (a, k));
      if (r != NULL && strncmp (r, ref->host, hl) == 0 && r[hl] == '/'
          && strcmp (r + hl + 1, ref->path) != 0 && r[hl + 1] != '\0')
        {
          snprintf (buf, n, "%s", r + hl + 1);
          return buf;
        }
    }
  return NULL;
}

/* ---- pull -------------------------------------------------------------- */

/* Layers download in parallel: each stream is hashed on its own thread,
 * which is what bounds a single stream on a fast network. */
#define PULL_STREAMS 4

struct fetch_job
{
  registry_client *rc;
  const model_reference *ref;
  model_blob_sink sink;
  const model_manifest *m;
  cli_layer_filter want; /* NULL: every layer */
  void *want_ctx;
  pthread_mutex_t mu;
  size_t next;
  bool failed;
  mp_error err; /* the first failure */
};

static void *
fetch_worker (void *arg)
{
  struct fetch_job *j = arg;

  for (;;)
    {
      const model_layer *ly;
      mp_error e = { 0 };

      pthread_mutex_lock (&j->mu);
      if (j->failed || j->next >= j->m->n_layers)
        {
          pthread_mutex_unlock (&j->mu);
          return NULL;
        }
      ly = &j->m->layers[j->next++];
      pthread_mutex_unlock (&j->mu);
      if (j->want != NULL && !j->want (ly, j->want_ctx))
        continue;
      if (registry_fetch_blob (j->rc, j->ref, &j->sink, ly->desc.digest.str,
                               ly->desc.size, &e)
          < 0)
        {
          pthread_mutex_lock (&j->mu);
          if (!j->failed)
            j->err = e;
          j->failed = true;
          pthread_mutex_unlock (&j->mu);
        }
    }
}

static int
fetch_layers (registry_client *rc, const model_reference *ref, oci_layout *l,
              const model_manifest *m, cli_layer_filter want, void *want_ctx,
              mp_error *err)
{
  struct fetch_job j
      = { .rc = rc, .ref = ref, .m = m, .want = want, .want_ctx = want_ctx };
  pthread_t th[PULL_STREAMS];
  size_t n = 0;

  oci_layout_sink (l, &j.sink);
  pthread_mutex_init (&j.mu, NULL);
  for (; n < PULL_STREAMS && n < m->n_layers; n++)
    if (pthread_create (&th[n], NULL, fetch_worker, &j) != 0)
      break;
  if (n == 0)
    fetch_worker (&j);
  for (size_t i = 0; i < n; i++)
    pthread_join (th[i], NULL);
  pthread_mutex_destroy (&j.mu);
  if (j.failed)
    {
      *err = j.err;
      return -1;
    }
  return 0;
}

/* Pull REF into the layout at DIR (the store, or a scratch layout), only
 * the layers WANT accepts (all if NULL: a partial pull is for scratch
 * layouts only). */
static int
pull_into (const struct cli_globals *g, const char *dir,
           const model_reference *ref, bool plain_http, cli_layer_filter want,
           void *want_ctx, char *name, size_t namesize, char **digest_out,
           mp_error *err)
{
  registry_client *rc = cli_registry_client (g, plain_http, err);
  oci_layout *l = NULL;
  model_blob_sink sink;
  cleanup_free char *mt = NULL, *dg = NULL, *body = NULL, *stored = NULL;
  size_t len = 0;
  model_manifest *m = NULL;
  int ret = -1;

  if (rc == NULL)
    return -1;
  if (registry_get_manifest (rc, ref, NULL, -1, &mt, &dg, &body, &len, err) < 0)
    goto out;
  /* The signature policy, on the digest REF resolved to (an index's, for
   * a multi-platform model: what signers sign), before anything is
   * written: a refused model leaves nothing behind. */
  if (cli_policy_enforce (g, rc, ref, dg, mt, (int64_t)len, err) < 0)
    goto out;
  l = oci_layout_open (dir, true, err);
  if (l == NULL)
    goto out;
  if (strcmp (mt, MODEL_OCI_MEDIA_TYPE_INDEX) == 0
      || strcmp (mt, MODEL_DOCKER_MEDIA_TYPE_MANIFEST_LIST) == 0)
    {
      model_index *idx = NULL;
      ssize_t k;
      char *child;
      int64_t child_size = -1;

      if (model_index_parse (body, len, &idx, err) < 0)
        goto out;
      k = model_index_select (idx, NULL, err);
      child = k >= 0 ? strdup (idx->manifests[k].digest.str) : NULL;
      if (k >= 0)
        child_size = idx->manifests[k].size;
      model_index_free (idx);
      if (child == NULL)
        {
          mp_error_prefix (err, "index %s", dg);
          goto out;
        }
      free (mt);
      free (dg);
      free (body);
      mt = dg = body = NULL;
      ret = registry_get_manifest (rc, ref, child, child_size, &mt, &dg, &body,
                                   &len, err);
      free (child);
      if (ret < 0)
        goto out;
      ret = -1;
    }
  if (model_manifest_parse (body, len, &m, err) < 0)
    {
      mp_error_prefix (err, "manifest %s", dg);
      goto out;
    }
  if (m->is_image && !m->is_modelpack)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "%s/%s: %s is a container image, not a model", ref->host,
                    ref->path, dg);
      goto out;
    }
  /* A model config is read whole: one larger than a document may be is
   * refused before a byte of it is downloaded. */
  if (m->is_modelpack && model_media_type_is_model_config (m->config.media_type)
      && m->config.size > MODEL_MAX_DOCUMENT)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "%s/%s: manifest %s declares a config of %" PRId64
                    " bytes, more than the %d a model config may have",
                    ref->host, ref->path, dg, m->config.size,
                    MODEL_MAX_DOCUMENT);
      goto out;
    }
  oci_layout_sink (l, &sink);
  if (registry_fetch_blob (rc, ref, &sink, m->config.digest.str, m->config.size,
                           err)
      < 0)
    goto out;
  /* The config is checked against model-spec, and the manifest as every
   * command that unpacks it checks it, before any layer is fetched. */
  {
    model_config *cfg = NULL;
    int bad = 0;

    if (m->is_modelpack
        && model_media_type_is_model_config (m->config.media_type))
      {
        cleanup_free char *ctext = NULL;
        size_t clen = 0;

        if (oci_layout_read_blob (l, m->config.digest.str, MODEL_MAX_DOCUMENT,
                                  &ctext, &clen, err)
                < 0
            || model_config_parse (ctext, clen, &cfg, err) < 0)
          bad = mp_error_prefix (err, "%s/%s: model config %s", ref->host,
                                 ref->path, m->config.digest.str);
      }
    if (bad == 0 && model_unpack_check_manifest (m, cfg, err) < 0)
      bad = mp_error_prefix (err, "%s/%s: manifest %s", ref->host, ref->path,
                             dg);
    model_config_free (cfg);
    if (bad < 0)
      {
        oci_layout_gc (l, NULL, NULL);
        goto out;
      }
  }
  if (fetch_layers (rc, ref, l, m, want, want_ctx, err) < 0)
    goto out;
  if (oci_layout_put_blob (l, body, len, &stored, err) < 0)
    goto out;
  if (ref->tag[0] != '\0')
    model_reference_string (ref, name, namesize);
  else
    snprintf (name, namesize, "%s/%s@%s", ref->host, ref->path, dg);
  if (oci_layout_tag (l, name, mt, dg, (int64_t)len, m->artifact_type, err) < 0)
    goto out;
  if (strcmp (dir, g->store) == 0)
    repos_record (g, ref, m);
  *digest_out = steal_pointer (&dg);
  ret = 0;
out:
  model_manifest_free (m);
  oci_layout_close (l);
  registry_client_free (rc);
  return ret;
}

static int
pull (const struct cli_globals *g, const model_reference *ref, bool plain_http,
      char *name, size_t namesize, char **digest_out, mp_error *err)
{
  return pull_into (g, g->store, ref, plain_http, NULL, NULL, name, namesize,
                    digest_out, err);
}

int
cli_pull_partial (const struct cli_globals *g, const char *cmd,
                  const char *text, const char *dir, bool plain_http,
                  cli_layer_filter want, void *want_ctx, char **name_out)
{
  model_reference ref;
  char name[MODEL_REF_MAX + 512];
  cleanup_free char *digest = NULL;
  mp_error err = { 0 };
  int r;

  *name_out = NULL;
  if ((r = parse_ref (cmd, text, &ref)) != 0)
    return r;
  if (pull_into (g, dir, &ref, plain_http, want, want_ctx, name, sizeof name,
                 &digest, &err)
      < 0)
    return cli_fail (cmd, &err);
  *name_out = strdup (name);
  return CLI_OK;
}

int
cli_model_ensure (const struct cli_globals *g, const char *cmd,
                  const char *text, bool plain_http, char **name_out,
                  char **digest_out)
{
  oci_layout *l;
  struct cli_model m;
  model_reference ref;
  char name[MODEL_REF_MAX + 512];
  mp_error err = { 0 };
  int r;

  *name_out = *digest_out = NULL;
  l = oci_layout_open (g->store, true, &err);
  if (l == NULL)
    return cli_fail (cmd, &err);
  r = cli_model_load (l, text, &m, &err);
  oci_layout_close (l);
  if (r == 0)
    {
      *name_out = steal_pointer (&m.name);
      *digest_out = steal_pointer (&m.digest);
      cli_model_free (&m);
      return CLI_OK;
    }
  if (err.code != MP_ERR_NOT_FOUND || model_digest_is_valid (text))
    {
      if (err.code == MP_ERR_INVALID_ARGUMENT
          && model_reference_parse (text, &ref, NULL) < 0)
        return parse_ref (cmd, text, &ref);
      return cli_fail (cmd, &err);
    }
  /* Not stored yet: fetch it. */
  if ((r = parse_ref (cmd, text, &ref)) != 0)
    return r;
  if (pull (g, &ref, plain_http, name, sizeof name, digest_out, &err) < 0)
    return cli_fail (cmd, &err);
  *name_out = strdup (name);
  return CLI_OK;
}

int
cli_pull (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "plain-http", no_argument, NULL, 'p' },
          { "policy", required_argument, NULL, 'P' },
          { "notation", required_argument, NULL, 'N' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  struct cli_globals gl = *g;
  bool plain = false;
  model_reference ref;
  char name[MODEL_REF_MAX + 512];
  char *digest = NULL;
  mp_error err = { 0 };
  int c, r;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'p':
        plain = true;
        break;
      case 'P':
        gl.policy = optarg;
        gl.policy_set = true;
        break;
      case 'N':
        gl.notation = optarg;
        gl.notation_set = true;
        break;
      case 'h':
        fputs ("usage: modelpack pull REF [--plain-http] [--policy FILE] "
               "[--notation DIR]\n"
               "\nDownloads a model into the store: every blob verified, "
               "the name set\nlast.  The signature policy "
               "(default " CLI_DEFAULT_POLICY
               ",\nif it exists) and the Notation trust policy "
               "(default " CLI_DEFAULT_NOTATION
               ",\nif it exists) are applied first: a "
               "model it refuses is not downloaded\n(exit 10).\n",
               stdout);
        return CLI_OK;
      default:
        return CLI_USAGE;
      }
  if (optind + 1 != argc)
    return cli_usage_error ("pull: one reference expected");
  if ((r = parse_ref ("pull", argv[optind], &ref)) != 0)
    return r;
  if (pull (&gl, &ref, plain, name, sizeof name, &digest, &err) < 0)
    return cli_fail ("pull", &err);
  if (g->json)
    printf ("{\"reference\":%s,\"digest\":%s}\n", cli_json (name),
            cli_json (digest));
  else
    printf ("%s %s\n", cli_text (name), cli_text (digest));
  free (digest);
  return CLI_OK;
}

/* ---- push -------------------------------------------------------------- */

/* Upload the stored model TEXT as TARGET (its own name when NULL):
 * blobs the repository has are skipped, blobs recorded in another
 * repository of the registry are mounted from there, the manifest goes
 * last. */
static int
push_model (const struct cli_globals *g, const char *text, const char *target,
            bool plain_http)
{
  model_reference ref;
  struct cli_model m;
  mp_error err = { 0 };
  oci_layout *l;
  registry_client *rc = NULL;
  json_t *repos = NULL;
  cleanup_free char *body = NULL;
  size_t len = 0;
  int r, ret = CLI_OK;
  int counts[3] = { 0 };
  char name[MODEL_REF_MAX + 512];

  if ((r = parse_ref ("push", target ? target : text, &ref)) != 0)
    return r;
  l = oci_layout_open (g->store, true, &err);
  if (l == NULL)
    return cli_fail ("push", &err);
  if (cli_model_load (l, text, &m, &err) < 0)
    {
      oci_layout_close (l);
      return cli_fail ("push", &err);
    }
  rc = cli_registry_client (g, plain_http, &err);
  if (rc == NULL)
    goto fail;
  repos = repos_load (g);
  for (size_t i = 0; i <= m.manifest->n_layers; i++)
    {
      const model_descriptor *d
          = i == 0 ? &m.manifest->config : &m.manifest->layers[i - 1].desc;
      bool verified;
      char from[MODEL_REF_MAX];
      enum registry_push_how how;
      cleanup_close int fd
          = oci_layout_open_blob (l, d->digest.str, d->size, &verified, &err);
      if (fd < 0
          || registry_push_blob (rc, &ref, d->digest.str, d->size, fd,
                                 repos_mount_from (repos, &ref, d->digest.str,
                                                   from, sizeof from),
                                 &how, &err)
                 < 0)
        goto fail;
      counts[how]++;
    }
  if (oci_layout_read_blob (l, m.digest, MODEL_MAX_DOCUMENT, &body, &len, &err)
          < 0
      || registry_put_manifest (rc, &ref,
                                m.manifest->media_type
                                    ? m.manifest->media_type
                                    : MODEL_OCI_MEDIA_TYPE_MANIFEST,
                                body, len, &err)
             < 0)
    goto fail;
  repos_record (g, &ref, m.manifest);
  if (target != NULL)
    model_reference_string (&ref, name, sizeof name);
  else
    snprintf (name, sizeof name, "%s", m.name);
  if (g->json)
    printf ("{\"reference\":%s,\"digest\":%s,\"blobs\":{"
            "\"present\":%d,\"mounted\":%d,\"uploaded\":%d}}\n",
            cli_json (name), cli_json (m.digest), counts[REGISTRY_PUSH_PRESENT],
            counts[REGISTRY_PUSH_MOUNTED], counts[REGISTRY_PUSH_UPLOADED]);
  else if (!g->quiet)
    printf ("pushed %s %s\n", cli_text (name), cli_text (m.digest));
  goto out;
fail:
  ret = cli_fail ("push", &err);
out:
  json_decref (repos);
  registry_client_free (rc);
  cli_model_free (&m);
  oci_layout_close (l);
  return ret;
}

int
cli_push_ref (const struct cli_globals *g, const char *text, bool plain_http)
{
  return push_model (g, text, NULL, plain_http);
}

int
cli_push (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "plain-http", no_argument, NULL, 'p' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  bool plain = false;
  int c;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'p':
        plain = true;
        break;
      case 'h':
        fputs ("usage: modelpack push REF [TARGET] [--plain-http]\n\n"
               "Uploads a stored model to its registry, or as TARGET (blobs "
               "the\nrepository has are skipped; blobs known to be in "
               "another repository\nof the registry are mounted from it).\n",
               stdout);
        return CLI_OK;
      default:
        return CLI_USAGE;
      }
  if (optind + 1 != argc && optind + 2 != argc)
    return cli_usage_error ("push: a reference (and a target) expected");
  return push_model (g, argv[optind],
                     optind + 2 == argc ? argv[optind + 1] : NULL, plain);
}

/* ---- login / logout ---------------------------------------------------- */

static int
save_auth (const char *path, json_t *doc, mp_error *err)
{
  cleanup_free char *dir = strdup (path), *tmp = NULL;
  char *text = json_dumps (doc, JSON_INDENT (2));
  int fd;

  if (dir == NULL || text == NULL || asprintf (&tmp, "%s.tmp", path) < 0)
    {
      free (text);
      return mp_error_sys (err, ENOMEM, "save credentials");
    }
  if (mp_mkdir_p (dirname (dir), 0700, err) < 0)
    {
      free (text);
      return -1;
    }
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write (fd, text, strlen (text)) != (ssize_t)strlen (text)
      || write (fd, "\n", 1) != 1 || fsync (fd) < 0 || close (fd) < 0
      || rename (tmp, path) < 0)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      unlink (tmp);
      free (text);
      return mp_error_sys (err, e, "write %s", path);
    }
  free (text);
  return 0;
}

static json_t *
load_auth (const char *path, mp_error *err)
{
  json_error_t je;
  json_t *doc;

  if (access (path, F_OK) != 0)
    return json_object ();
  doc = json_load_file (path, 0, &je);
  if (!json_is_object (doc))
    {
      json_decref (doc);
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: %s", path, je.text);
      return NULL;
    }
  return doc;
}

int
cli_login (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "username", required_argument, NULL, 'u' },
          { "password", required_argument, NULL, 'p' },
          { "password-stdin", no_argument, NULL, 's' },
          { "plain-http", no_argument, NULL, 'P' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  const char *user = NULL, *pass = NULL;
  bool from_stdin = false, plain = false;
  char line[4096];
  mp_error err = { 0 };
  registry_client *rc;
  json_t *doc, *auths;
  cleanup_free char *creds = NULL;
  int c;

  while ((c = getopt_long (argc, argv, "u:p:h", opts, NULL)) != -1)
    switch (c)
      {
      case 'u':
        user = optarg;
        break;
      case 'p':
        pass = optarg;
        break;
      case 's':
        from_stdin = true;
        break;
      case 'P':
        plain = true;
        break;
      case 'h':
        fputs ("usage: modelpack login REGISTRY -u USER (--password-stdin | "
               "-p PASSWORD)\n\nChecks the credentials with the registry, "
               "then saves them in the\ncredentials file (mode 0600).\n",
               stdout);
        return CLI_OK;
      default:
        return CLI_USAGE;
      }
  if (optind + 1 != argc || user == NULL || (pass == NULL && !from_stdin))
    return cli_usage_error ("login: REGISTRY, -u USER and a password "
                            "(--password-stdin or -p) are needed");
  if (from_stdin)
    {
      if (fgets (line, sizeof line, stdin) == NULL)
        return cli_usage_error ("login: no password on standard input");
      line[strcspn (line, "\r\n")] = '\0';
      pass = line;
    }
  rc = cli_registry_client (g, plain, &err);
  if (rc == NULL
      || registry_check_login (rc, argv[optind], user, pass, &err) < 0)
    {
      registry_client_free (rc);
      return cli_fail ("login", &err);
    }
  registry_client_free (rc);
  doc = load_auth (g->auth_file, &err);
  if (doc == NULL)
    return cli_fail ("login", &err);
  auths = json_object_get (doc, "auths");
  if (!json_is_object (auths))
    json_object_set_new (doc, "auths", auths = json_object ());
  if (asprintf (&creds, "%s:%s", user, pass) < 0)
    {
      json_decref (doc);
      return CLI_ERR;
    }
  {
    cleanup_free char *enc = mp_base64_encode (creds);
    if (enc == NULL)
      {
        json_decref (doc);
        return CLI_ERR;
      }
    json_object_set_new (auths, argv[optind], json_pack ("{s:s}", "auth", enc));
  }
  if (save_auth (g->auth_file, doc, &err) < 0)
    {
      json_decref (doc);
      return cli_fail ("login", &err);
    }
  json_decref (doc);
  if (!g->quiet)
    printf ("login to %s as %s saved in %s\n", cli_text (argv[optind]),
            cli_text (user), cli_text (g->auth_file));
  return CLI_OK;
}

int
cli_logout (const struct cli_globals *g, int argc, char **argv)
{
  mp_error err = { 0 };
  json_t *doc, *auths;

  if (argc == 2
      && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0))
    {
      fputs ("usage: modelpack logout REGISTRY\n\nRemoves the credentials "
             "saved for REGISTRY from the auth file.\n",
             stdout);
      return CLI_OK;
    }
  if (argc != 2 || argv[1][0] == '-')
    return cli_usage_error ("usage: modelpack logout REGISTRY");
  doc = load_auth (g->auth_file, &err);
  if (doc == NULL)
    return cli_fail ("logout", &err);
  auths = json_object_get (doc, "auths");
  if (!json_is_object (auths) || json_object_del (auths, argv[1]) < 0)
    {
      json_decref (doc);
      mp_error_set (&err, MP_ERR_NOT_FOUND, "no credentials for %s in %s",
                    argv[1], g->auth_file);
      return cli_fail ("logout", &err);
    }
  if (save_auth (g->auth_file, doc, &err) < 0)
    {
      json_decref (doc);
      return cli_fail ("logout", &err);
    }
  json_decref (doc);
  if (!g->quiet)
    printf ("removed the credentials for %s\n", cli_text (argv[1]));
  return CLI_OK;
}
