/* Keeping a CRI-O store in sync with a model store: see crio_sync.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/oci_layout.h"
#include "plugin/crio_store.h"
#include "plugin/crio_sync.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log.h"

#define RETRY_SECONDS 60

/* Whether NAME is among WANT and REFUSED by the policy. */
static bool
named_but_refused (const oci_layout_ref *want, const bool *refused, size_t n,
                   const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (refused[i] && want[i].name != NULL && strcmp (want[i].name, name) == 0)
      return true;
  return false;
}

int
crio_sync_once (const char *store, const char *source, model_cache *cache,
                mp_sigcheck *sig, int *changes, mp_error *err)
{
  oci_layout *src = NULL;
  oci_layout_ref *want = NULL, *have = NULL;
  char **sources = NULL, **origins = NULL;
  cleanup_free bool *refused = NULL;
  size_t nwant = 0, nhave = 0;
  mp_error first = { 0 };
  int done = 0, rc = 0;

  if (changes != NULL)
    *changes = 0;
  if (mp_mkdir_p (store, 0755, err) < 0)
    return mp_error_prefix (err, "CRI-O store");
  src = oci_layout_open (source, false, err);
  if (src == NULL)
    {
      if (err->code != MP_ERR_NOT_FOUND)
        return mp_error_prefix (err, "model store %s", source);
      /* No store yet: nothing to export, so exports of it go. */
      mp_error_clear (err);
    }
  else if (oci_layout_list (src, &want, &nwant, err) < 0)
    {
      oci_layout_close (src);
      return mp_error_prefix (err, "model store %s", source);
    }
  if (crio_store_list (store, &have, &nhave, &sources, &origins, err) < 0)
    {
      rc = -1;
      goto out;
    }
  refused = calloc (nwant + 1, sizeof *refused);
  if (refused == NULL)
    {
      rc = mp_error_sys (err, ENOMEM, "CRI-O store sync");
      goto out;
    }

  /* The signature policy, before anything of a model is exported; a model
   * it refuses (or cannot check) is not exported, and an earlier export
   * under its name goes.  Accepting verdicts are cached, so a pass over
   * unchanged models asks no registry. */
  for (size_t i = 0; i < nwant && sig != NULL; i++)
    {
      mp_error e = { 0 };

      if (want[i].name == NULL
          || mp_sigcheck_name (sig, want[i].name, want[i].digest,
                               want[i].media_type, want[i].size, NULL, &e)
                 == 0)
        continue;
      refused[i] = true;
      mp_log_warn ("CRI-O store %s: not exporting %s: %s", store, want[i].name,
                   e.msg);
      if (first.code == MP_OK)
        first = e;
    }

  /* Export what is named in the source and not in the store as it is. */
  for (size_t i = 0; i < nwant; i++)
    {
      struct crio_export_stats st = { 0 };
      mp_error e = { 0 };
      bool current = false;

      if (want[i].name == NULL || refused[i])
        continue;
      for (size_t j = 0; j < nhave && !current; j++)
        current = have[j].name != NULL && sources[j] != NULL
                  && strcmp (have[j].name, want[i].name) == 0
                  && strcmp (sources[j], want[i].digest) == 0;
      if (current)
        continue;
      if (crio_store_add (store, cache, want[i].name, want[i].digest, source,
                          oci_layout_open_blob, src, &st, &e)
          < 0)
        {
          mp_log_warn ("CRI-O store %s: export %s: %s", store, want[i].name,
                       e.msg);
          if (first.code == MP_OK)
            first = e;
          continue;
        }
      mp_log_info ("CRI-O store %s: exported %s (%s, %d files)", store,
                   want[i].name, st.digest, st.files);
      crio_export_stats_clear (&st);
      done++;
    }
  /* Remove our exports of models the source no longer names. */
  for (size_t j = 0; j < nhave; j++)
    {
      bool named = false;
      mp_error e = { 0 };

      /* Only what this sync exported from this source is its to remove. */
      if (have[j].name == NULL || origins == NULL || origins[j] == NULL
          || strcmp (origins[j], source) != 0)
        continue;
      for (size_t i = 0; i < nwant && !named; i++)
        named = want[i].name != NULL && !refused[i]
                && strcmp (want[i].name, have[j].name) == 0;
      if (named)
        continue;
      if (crio_store_remove (store, cache, have[j].name, &e) < 0)
        {
          mp_log_warn ("CRI-O store %s: remove %s: %s", store, have[j].name,
                       e.msg);
          if (first.code == MP_OK)
            first = e;
          continue;
        }
      mp_log_info ("CRI-O store %s: removed %s%s", store, have[j].name,
                   named_but_refused (want, refused, nwant, have[j].name)
                       ? " (refused by the signature policy)"
                       : "");
      done++;
    }
  if (first.code != MP_OK)
    {
      *err = first;
      rc = -1;
    }
out:
  if (changes != NULL)
    *changes = done;
  for (size_t j = 0; j < nhave; j++)
    {
      if (sources != NULL)
        free (sources[j]);
      if (origins != NULL)
        free (origins[j]);
    }
  free (sources);
  free (origins);
  oci_layout_refs_free (have, nhave);
  oci_layout_refs_free (want, nwant);
  oci_layout_close (src);
  return rc;
}

struct crio_sync
{
  char *store, *source;
  int poll_seconds;
  model_cache *cache;
  mp_sigcheck *sig;
  mp_metrics *metrics;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;
};

/* What tells us the source changed: index.json is replaced by rename. */
static void
index_stamp (const char *source, char *buf, size_t size)
{
  cleanup_free char *path = NULL;
  struct stat st;

  if (asprintf (&path, "%s/index.json", source) < 0 || stat (path, &st) < 0)
    snprintf (buf, size, "none");
  else
    snprintf (buf, size, "%lu:%lld.%09ld:%lld", (unsigned long)st.st_ino,
              (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
              (long long)st.st_size);
}

static void *
sync_main (void *arg)
{
  crio_sync *s = arg;
  char last[128 + 200] = "", now[128 + 200];
  time_t retry_at = 0;

  pthread_mutex_lock (&s->mu);
  while (!s->stop)
    {
      /* A pass when the store changes, and when the signature policy does
       * (its revision: models exported under the last one are checked
       * again). */
      index_stamp (s->source, now, 128);
      if (s->sig != NULL)
        {
          size_t n = strlen (now);

          now[n++] = ' ';
          mp_sigcheck_revision (s->sig, now + n, sizeof now - n);
        }
      if (strcmp (now, last) != 0 || (retry_at != 0 && time (NULL) >= retry_at))
        {
          mp_error err = { 0 };
          int changes = 0;

          pthread_mutex_unlock (&s->mu);
          if (crio_sync_once (s->store, s->source, s->cache, s->sig, &changes,
                              &err)
              < 0)
            {
              mp_log_warn ("CRI-O store %s: sync from %s: %s", s->store,
                           s->source, err.msg);
              retry_at = time (NULL) + RETRY_SECONDS;
              mp_metrics_crio_sync_done (s->metrics, false);
            }
          else
            {
              retry_at = 0;
              mp_metrics_crio_sync_done (s->metrics, true);
            }
          pthread_mutex_lock (&s->mu);
          snprintf (last, sizeof last, "%s", now);
        }
      {
        struct timespec until;

        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += s->poll_seconds;
        if (!s->stop)
          pthread_cond_timedwait (&s->cv, &s->mu, &until);
      }
    }
  pthread_mutex_unlock (&s->mu);
  return NULL;
}

crio_sync *
crio_sync_start (const char *store, const char *source, int poll_seconds,
                 model_cache *cache, mp_sigcheck *sig, mp_metrics *metrics,
                 mp_error *err)
{
  crio_sync *s = calloc (1, sizeof *s);

  if (s == NULL || (s->store = strdup (store)) == NULL
      || (s->source = strdup (source)) == NULL)
    {
      if (s != NULL)
        {
          free (s->store);
          free (s);
        }
      mp_error_sys (err, ENOMEM, "CRI-O store sync");
      return NULL;
    }
  s->poll_seconds = poll_seconds > 0 ? poll_seconds : 5;
  s->cache = cache;
  s->sig = sig;
  s->metrics = metrics;
  pthread_mutex_init (&s->mu, NULL);
  pthread_cond_init (&s->cv, NULL);
  if (pthread_create (&s->thread, NULL, sync_main, s) != 0)
    {
      mp_error_set (err, MP_ERR_INTERNAL, "CRI-O store sync: no thread");
      free (s->store);
      free (s->source);
      free (s);
      return NULL;
    }
  return s;
}

void
crio_sync_stop (crio_sync *s)
{
  if (s == NULL)
    return;
  pthread_mutex_lock (&s->mu);
  s->stop = true;
  pthread_cond_signal (&s->cv);
  pthread_mutex_unlock (&s->mu);
  pthread_join (s->thread, NULL);
  pthread_mutex_destroy (&s->mu);
  pthread_cond_destroy (&s->cv);
  free (s->store);
  free (s->source);
  free (s);
}
