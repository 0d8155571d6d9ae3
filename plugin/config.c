#include "plugin/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/toml.h"

int
mp_config_set (char **field, const char *value, mp_error *err)
{
  char *v = strdup (value);

  if (v == NULL)
    return mp_error_sys (err, ENOMEM, "config");
  free (*field);
  *field = v;
  return 0;
}

int
mp_config_init (mp_config *c, mp_error *err)
{
  memset (c, 0, sizeof *c);
  c->workers = 8;
  c->image_volumes = true;
  c->keep_unused_seconds = 24 * 3600;
  if (mp_config_set (&c->key_pattern, MP_DEFAULT_KEY_PATTERN, err) < 0
      || mp_config_set (&c->containerd_root, MP_DEFAULT_CONTAINERD_ROOT, err)
             < 0
      || mp_config_set (&c->containerd_address, MP_DEFAULT_CONTAINERD_ADDRESS,
                        err)
             < 0
      || mp_config_set (&c->root, MP_DEFAULT_ROOT, err) < 0
      || mp_config_set (&c->address, MP_DEFAULT_ADDRESS, err) < 0
      || mp_config_set (&c->log_level, "info", err) < 0
      || mp_config_set (&c->crio_store_source, MP_DEFAULT_MODEL_STORE, err) < 0
      || mp_config_set (&c->sig_policy, MP_DEFAULT_SIG_POLICY, err) < 0
      || mp_config_set (&c->sig_notation, MP_DEFAULT_SIG_NOTATION, err) < 0
      || mp_config_set (&c->sig_hosts_dir, MP_DEFAULT_HOSTS_DIR, err) < 0
      || mp_config_set (&c->sig_auth_file, MP_DEFAULT_SIG_AUTH, err) < 0)
    return -1;
  c->crio_store_poll_seconds = 5;
  c->sig_cache_by_digest = true;
  return 0;
}

void
mp_config_free (mp_config *c)
{
  free (c->root);
  free (c->address);
  free (c->log_level);
  free (c->key_pattern);
  free (c->containerd_root);
  free (c->containerd_address);
  free (c->crio_store_dir);
  free (c->crio_store_source);
  free (c->metrics_address);
  free (c->sig_policy);
  free (c->sig_notation);
  free (c->sig_hosts_dir);
  free (c->sig_auth_file);
  memset (c, 0, sizeof *c);
}

static const char *const known_keys[]
    = { "root",        "address",    "log_level", "workers", "image_volumes",
        "model_cache", "crio_store", "limits",    "metrics", "signatures" };

static int
load_string (const toml_value *t, const char *key, char **field, mp_error *err)
{
  const char *s;
  int rc = toml_get_string (t, key, &s, err);

  if (rc <= 0)
    return rc;
  if (s[0] == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s must not be empty",
                         key);
  return mp_config_set (field, s, err);
}

static int
check_keys (const toml_value *t, const char *where, const char *const *known,
            size_t n, mp_error *err)
{
  for (size_t i = 0; i < toml_table_size (t); i++)
    {
      const char *k = toml_table_key_at (t, i);
      bool ok = false;

      for (size_t j = 0; j < n; j++)
        ok = ok || strcmp (k, known[j]) == 0;
      if (!ok)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "unknown setting \"%s%s\"", where, k);
    }
  return 0;
}

static int
load_image_volumes (mp_config *c, const toml_value *doc, mp_error *err)
{
  static const char *const known[]
      = { "enabled", "key_pattern", "containerd_root", "containerd_address" };
  toml_value *t = NULL;
  int rc = toml_get_table (doc, "image_volumes", &t, err);

  if (rc <= 0)
    return rc;
  if (check_keys (t, "image_volumes.", known, 4, err) < 0
      || toml_get_bool (t, "enabled", &c->image_volumes, err) < 0
      || load_string (t, "key_pattern", &c->key_pattern, err) < 0
      || load_string (t, "containerd_root", &c->containerd_root, err) < 0
      || load_string (t, "containerd_address", &c->containerd_address, err) < 0)
    return -1;
  return 0;
}

static int
load_model_cache (mp_config *c, const toml_value *doc, mp_error *err)
{
  static const char *const known[]
      = { "keep_unused_seconds", "keep_unused_bytes", "verify_blobs",
          "max_bytes",           "min_free_percent",  "mount" };
  toml_value *t = NULL;
  char *verify = NULL, *mount = NULL;
  int64_t min_free = c->min_free_percent;
  int rc = toml_get_table (doc, "model_cache", &t, err);

  if (rc <= 0)
    return rc;
  if (check_keys (t, "model_cache.", known, 6, err) < 0
      || toml_get_integer (t, "max_bytes", &c->max_bytes, err) < 0
      || toml_get_integer (t, "min_free_percent", &min_free, err) < 0
      || toml_get_integer (t, "keep_unused_seconds", &c->keep_unused_seconds,
                           err)
             < 0
      || toml_get_integer (t, "keep_unused_bytes", &c->keep_unused_bytes, err)
             < 0
      || load_string (t, "verify_blobs", &verify, err) < 0
      || load_string (t, "mount", &mount, err) < 0)
    {
      free (verify);
      free (mount);
      return -1;
    }
  if (mount != NULL)
    {
      int bad = model_cache_mount_parse (mount, &c->mount);

      if (bad < 0)
        mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                      "model_cache.mount: \"%s\" is none of \"auto\", "
                      "\"erofs\", \"loop\" and \"extract\"",
                      mount);
      free (mount);
      if (bad < 0)
        {
          free (verify);
          return -1;
        }
    }
  if (verify != NULL)
    {
      if (model_cache_verify_parse (verify, &c->verify_blobs) < 0)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "model_cache.verify_blobs: \"%s\" is none of "
                        "\"once\", \"ingest\" and \"always\"",
                        verify);
          free (verify);
          return -1;
        }
      if (strcmp (verify, "untrusted") == 0)
        mp_log_warn ("model_cache.verify_blobs: \"untrusted\" is deprecated; "
                     "it means \"ingest\" (write that, or remove the line "
                     "for the default, \"once\")");
      free (verify);
    }
  if (c->keep_unused_seconds < 0 || c->keep_unused_bytes < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "model_cache: keep_unused_seconds and "
                         "keep_unused_bytes must not be negative");
  if (c->max_bytes < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "model_cache.max_bytes must not be negative (0: no "
                         "bound), not %lld",
                         (long long)c->max_bytes);
  if (min_free < 0 || min_free > 99)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "model_cache.min_free_percent must be between 0 and "
                         "99, not %lld",
                         (long long)min_free);
  c->min_free_percent = (int)min_free;
  return 0;
}

static int
load_crio_store (mp_config *c, const toml_value *doc, mp_error *err)
{
  static const char *const known[] = { "dir", "source", "poll_seconds" };
  toml_value *t = NULL;
  int64_t poll = 0;
  int rc = toml_get_table (doc, "crio_store", &t, err);

  if (rc <= 0)
    return rc;
  if (check_keys (t, "crio_store.", known, 3, err) < 0
      || load_string (t, "dir", &c->crio_store_dir, err) < 0
      || load_string (t, "source", &c->crio_store_source, err) < 0)
    return -1;
  rc = toml_get_integer (t, "poll_seconds", &poll, err);
  if (rc < 0)
    return -1;
  if (rc > 0)
    {
      if (poll < 1 || poll > 3600)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "crio_store.poll_seconds must be between 1 and "
                             "3600, not %lld",
                             (long long)poll);
      c->crio_store_poll_seconds = (int)poll;
    }
  if (c->crio_store_dir != NULL && c->crio_store_dir[0] == '\0')
    {
      free (c->crio_store_dir);
      c->crio_store_dir = NULL;
    }
  return 0;
}

/* A path setting where "" means off (NULL). */
static int
load_path_or_off (const toml_value *t, const char *key, char **field,
                  mp_error *err)
{
  const char *s;
  int rc = toml_get_string (t, key, &s, err);

  if (rc <= 0)
    return rc;
  if (s[0] == '\0')
    {
      free (*field);
      *field = NULL;
      return 0;
    }
  return mp_config_set (field, s, err);
}

static int
load_signatures (mp_config *c, const toml_value *doc, mp_error *err)
{
  static const char *const known[]
      = { "policy", "notation", "hosts_dir", "auth_file", "verdict_cache" };
  toml_value *t = NULL;
  const char *vc;
  int rc = toml_get_table (doc, "signatures", &t, err);

  if (rc <= 0)
    return rc;
  rc = toml_get_string (t, "verdict_cache", &vc, err);
  if (rc < 0)
    return -1;
  if (rc > 0)
    {
      if (strcmp (vc, "names") != 0 && strcmp (vc, "digest") != 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "signatures.verdict_cache: \"names\" or "
                             "\"digest\", not \"%s\"",
                             vc);
      c->sig_cache_by_digest = strcmp (vc, "digest") == 0;
    }
  if (check_keys (t, "signatures.", known, 5, err) < 0
      || load_path_or_off (t, "policy", &c->sig_policy, err) < 0
      || load_path_or_off (t, "notation", &c->sig_notation, err) < 0
      || load_path_or_off (t, "hosts_dir", &c->sig_hosts_dir, err) < 0
      || load_path_or_off (t, "auth_file", &c->sig_auth_file, err) < 0)
    return -1;
  return 0;
}

/* An absolute unix socket path, or host:port with a port 1..65535 (the
 * host may be empty for every address, or [v6]). */
static bool
metrics_address_ok (const char *a)
{
  const char *colon = strrchr (a, ':');
  char *end;
  long port;

  if (a[0] == '/')
    return true;
  if (colon == NULL || colon[1] < '0' || colon[1] > '9')
    return false;
  port = strtol (colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535)
    return false;
  /* An IPv6 host needs its brackets, or its colons read as the port's. */
  if (memchr (a, ':', (size_t)(colon - a)) != NULL)
    return a[0] == '[' && colon[-1] == ']';
  return true;
}

static int
load_metrics (mp_config *c, const toml_value *doc, mp_error *err)
{
  static const char *const known[] = { "address" };
  toml_value *t = NULL;
  int rc = toml_get_table (doc, "metrics", &t, err);

  if (rc <= 0)
    return rc;
  if (check_keys (t, "metrics.", known, 1, err) < 0
      || load_string (t, "address", &c->metrics_address, err) < 0)
    return -1;
  if (c->metrics_address != NULL && !metrics_address_ok (c->metrics_address))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "metrics.address \"%s\" is neither host:port (e.g. "
                         "127.0.0.1:9121) nor an absolute unix socket path",
                         c->metrics_address);
  return 0;
}

/* [limits]: what a layer and a model may expand to.  Each key is a
 * positive integer; absent keys keep their defaults (model/unpack.h). */
static int
load_limits (mp_config *c, const toml_value *doc, mp_error *err)
{
  const char *const *names = model_unpack_limit_names;
  toml_value *t = NULL;
  size_t n = 0;
  int rc = toml_get_table (doc, "limits", &t, err);

  if (rc <= 0)
    return rc;
  while (names[n] != NULL)
    n++;
  if (check_keys (t, "limits.", names, n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      int64_t v;

      rc = toml_get_integer (t, names[i], &v, err);
      if (rc < 0)
        return -1;
      if (rc == 0)
        continue;
      if (v < 1)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "limits.%s must be a positive integer, not %lld",
                             names[i], (long long)v);
      model_unpack_limit_set (&c->limits, names[i], (uint64_t)v);
    }
  return 0;
}

int
mp_config_load (mp_config *c, const char *path, bool must_exist, mp_error *err)
{
  toml_value *doc;
  int64_t workers;
  int rc;

  doc = toml_parse_file (path, err);
  if (doc == NULL)
    {
      if (!must_exist && err->sys_errno == ENOENT)
        {
          mp_error_clear (err);
          return 0;
        }
      return mp_error_prefix (err, "config %s", path);
    }
  if (check_keys (doc, "", known_keys, sizeof known_keys / sizeof *known_keys,
                  err)
          < 0
      || load_image_volumes (c, doc, err) < 0
      || load_model_cache (c, doc, err) < 0 || load_crio_store (c, doc, err) < 0
      || load_limits (c, doc, err) < 0 || load_metrics (c, doc, err) < 0
      || load_signatures (c, doc, err) < 0)
    goto fail;
  if (load_string (doc, "root", &c->root, err) < 0
      || load_string (doc, "address", &c->address, err) < 0
      || load_string (doc, "log_level", &c->log_level, err) < 0)
    goto fail;
  rc = toml_get_integer (doc, "workers", &workers, err);
  if (rc < 0)
    goto fail;
  if (rc > 0)
    {
      if (workers < 1 || workers > 1024)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "workers must be between 1 and 1024, not %lld",
                        (long long)workers);
          goto fail;
        }
      c->workers = (int)workers;
    }
  if (mp_log_level_parse (c->log_level) < 0)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "log_level \"%s\" is not one of error, warn, info, debug",
                    c->log_level);
      goto fail;
    }
  toml_free (doc);
  return 0;

fail:
  toml_free (doc);
  return mp_error_prefix (err, "config %s", path);
}
