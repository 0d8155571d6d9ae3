#include "plugin/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin/grpc_client.h"
#include "plugin/snapshots_service.h"
#include "util/log.h"

static const char *const method_names[MP_RPC_NMETHODS] = {
  "Prepare", "View",   "Mounts", "Commit", "Remove",
  "Stat",    "Update", "List",   "Usage",  "Cleanup",
};

static const char *const outcome_names[MP_VOLUME_NOUTCOMES] = {
  "hit",
  "built",
  "refused",
};

/* Snapshot calls take from tens of microseconds (Stat) to seconds (a
 * Commit's usage walk, a Remove of a big tree). */
static const double rpc_bounds[] = {
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
  0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10,
};

/* An image-volume Prepare: milliseconds for a hit, up to minutes for a
 * large model unpacked. */
static const double volume_bounds[] = {
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
  2.5,   5,    10,    30,   60,  120,  300, 600,
};

_Static_assert(sizeof rpc_bounds / sizeof rpc_bounds[0]
                   <= MP_HISTOGRAM_MAX_BUCKETS,
               "rpc buckets");
_Static_assert(sizeof volume_bounds / sizeof volume_bounds[0]
                   <= MP_HISTOGRAM_MAX_BUCKETS,
               "volume buckets");

void
mp_metrics_init (mp_metrics *m)
{
  memset (m, 0, sizeof *m);
  for (int i = 0; i < MP_RPC_NMETHODS; i++)
    {
      m->rpc_seconds[i].bounds = rpc_bounds;
      m->rpc_seconds[i].nbounds = sizeof rpc_bounds / sizeof rpc_bounds[0];
    }
  for (int i = 0; i < MP_VOLUME_NOUTCOMES; i++)
    {
      m->volume_seconds[i].bounds = volume_bounds;
      m->volume_seconds[i].nbounds
          = sizeof volume_bounds / sizeof volume_bounds[0];
    }
}

int
mp_metrics_rpc_method (const char *path)
{
  size_t pl = strlen (SNAPSHOTS_SERVICE_PREFIX);

  if (strncmp (path, SNAPSHOTS_SERVICE_PREFIX, pl) != 0)
    return -1;
  for (int i = 0; i < MP_RPC_NMETHODS; i++)
    if (strcmp (path + pl, method_names[i]) == 0)
      return i;
  return -1;
}

int64_t
mp_metrics_now_ns (void)
{
  struct timespec t;

  clock_gettime (CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void
mp_histogram_observe (mp_histogram *h, int64_t ns)
{
  double s;
  size_t i = 0;

  if (ns < 0)
    ns = 0;
  s = (double)ns / 1e9;
  while (i < h->nbounds && s > h->bounds[i])
    i++;
  atomic_fetch_add_explicit (&h->counts[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit (&h->sum_ns, (uint64_t)ns, memory_order_relaxed);
}

void
mp_metrics_rpc_done (mp_metrics *m, int method, int grpc_code, int64_t ns)
{
  if (m == NULL || method < 0 || method >= MP_RPC_NMETHODS)
    return;
  mp_histogram_observe (&m->rpc_seconds[method], ns);
  if (grpc_code > 0 && grpc_code < MP_GRPC_NCODES)
    atomic_fetch_add_explicit (&m->rpc_errors[method][grpc_code], 1,
                               memory_order_relaxed);
}

void
mp_metrics_volume_done (mp_metrics *m, enum mp_volume_outcome o, int64_t ns)
{
  if (m == NULL)
    return;
  atomic_fetch_add_explicit (&m->volume_prepares[o], 1, memory_order_relaxed);
  mp_histogram_observe (&m->volume_seconds[o], ns);
}

void
mp_metrics_crio_sync_done (mp_metrics *m, bool ok)
{
  if (m == NULL)
    return;
  atomic_fetch_add_explicit (&m->crio_sync_runs, 1, memory_order_relaxed);
  if (!ok)
    atomic_fetch_add_explicit (&m->crio_sync_failures, 1, memory_order_relaxed);
}

/* ---- exposition ---------------------------------------------------------- */

/* Label values escape backslash, double quote and line feed (exposition
 * format 0.0.4); everything else is written as is. */
void
mp_metrics_write_label_value (FILE *out, const char *v)
{
  for (; *v; v++)
    switch (*v)
      {
      case '\\':
        fputs ("\\\\", out);
        break;
      case '"':
        fputs ("\\\"", out);
        break;
      case '\n':
        fputs ("\\n", out);
        break;
      default:
        fputc (*v, out);
      }
}

static void
family (FILE *out, const char *name, const char *type, const char *help)
{
  fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Bucket bounds as Prometheus clients print them: shortest form that reads
 * back as the same double. */
static void
write_double (FILE *out, double v)
{
  char buf[32];

  for (int prec = 1; prec <= 17; prec++)
    {
      snprintf (buf, sizeof buf, "%.*g", prec, v);
      /* "1e+01" reads back as 10 but is not how anyone writes it. */
      if (strtod (buf, NULL) == v && strchr (buf, 'e') == NULL)
        break;
    }
  fputs (buf, out);
}

/* LABELS: "" or `key="value"` pairs already escaped, without braces. */
void
mp_metrics_write_histogram (FILE *out, const char *name, const char *labels,
                            const mp_histogram *h)
{
  const char *sep = labels[0] ? "," : "";
  uint64_t cum = 0, sum_ns;

  for (size_t i = 0; i <= h->nbounds; i++)
    {
      cum += atomic_load_explicit (&h->counts[i], memory_order_relaxed);
      fprintf (out, "%s_bucket{%s%sle=\"", name, labels, sep);
      if (i < h->nbounds)
        write_double (out, h->bounds[i]);
      else
        fputs ("+Inf", out);
      fprintf (out, "\"} %" PRIu64 "\n", cum);
    }
  sum_ns = atomic_load_explicit (&h->sum_ns, memory_order_relaxed);
  /* _count is the +Inf bucket as read, so the two always agree even while
   * observations land during the scrape. */
  fprintf (out, "%s_sum%s%s%s %" PRIu64 ".%09" PRIu64 "\n", name,
           labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
           sum_ns / 1000000000, sum_ns % 1000000000);
  fprintf (out, "%s_count%s%s%s %" PRIu64 "\n", name, labels[0] ? "{" : "",
           labels, labels[0] ? "}" : "", cum);
}

static int
add_ref (void *ctx, const char *model, mp_error *err)
{
  struct
  {
    char **v;
    size_t n;
  } *r = ctx;
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
write_cache (mp_metrics *m, FILE *out)
{
  struct model_cache_stats st = { 0 };
  struct model_cache_usage u;
  struct
  {
    char **v;
    size_t n;
  } refs = { 0 };
  mp_error err = { 0 };
  int r = 0;

  if (m->cache != NULL)
    model_cache_get_counters (m->cache, &st);
  family (out, "modelpack_model_cache_verified_bytes_total", "counter",
          "Layer blob bytes the model cache hashed against their digest.");
  fprintf (out, "modelpack_model_cache_verified_bytes_total %" PRId64 "\n",
           st.bytes_verified);
  family (out, "modelpack_model_cache_unpacked_bytes_total", "counter",
          "File bytes the model cache wrote unpacking layers.");
  fprintf (out, "modelpack_model_cache_unpacked_bytes_total %" PRId64 "\n",
           st.bytes_unpacked);
  family (out, "modelpack_model_cache_indexed_bytes_total", "counter",
          "File bytes the model cache described in EROFS indexes.");
  fprintf (out, "modelpack_model_cache_indexed_bytes_total 0\n");
  family (out, "modelpack_model_cache_evictions_total", "counter",
          "Models removed from the model cache to keep it within its bound.");
  fprintf (out, "modelpack_model_cache_evictions_total %" PRId64 "\n",
           st.evictions);
  family (out, "modelpack_model_cache_layers_unpacked_total", "counter",
          "Layers the model cache unpacked.");
  fprintf (out, "modelpack_model_cache_layers_unpacked_total %d\n",
           st.layers_unpacked);

  if (m->cache == NULL)
    return;
  family (out, "modelpack_model_cache_max_bytes", "gauge",
          "The model cache's bound ([model_cache] max_bytes); 0: none.");
  fprintf (out, "modelpack_model_cache_max_bytes %" PRId64 "\n",
           m->cache_max_bytes);
  family (out, "modelpack_model_cache_min_free_ratio", "gauge",
          "The share of its filesystem the model cache leaves free "
          "([model_cache] min_free_percent / 100); 0: none.");
  fprintf (out, "modelpack_model_cache_min_free_ratio %d.%02d\n",
           m->cache_min_free_percent / 100, m->cache_min_free_percent % 100);
  if (m->sn != NULL)
    r = snapshotter_model_refs (m->sn, add_ref, &refs, &err);
  if (r == 0)
    r = model_cache_usage (m->cache, (const char *const *)refs.v, refs.n, &u,
                           &err);
  for (size_t i = 0; i < refs.n; i++)
    free (refs.v[i]);
  free (refs.v);
  if (r < 0)
    {
      mp_log_warn ("metrics: %s", err.msg);
      return;
    }
  family (out, "modelpack_model_cache_bytes", "gauge",
          "Unpacked bytes of the model cache's layers, by whether a model in "
          "use (mounted or pinned) needs them.");
  fprintf (out,
           "modelpack_model_cache_bytes{state=\"in_use\"} %" PRId64 "\n"
           "modelpack_model_cache_bytes{state=\"unused\"} %" PRId64 "\n",
           u.bytes_in_use, u.bytes_unused);
  family (out, "modelpack_model_cache_models", "gauge",
          "Models (merged trees) in the model cache, in use (mounted or "
          "pinned) or unused.");
  fprintf (out,
           "modelpack_model_cache_models{state=\"in_use\"} %" PRId64 "\n"
           "modelpack_model_cache_models{state=\"unused\"} %" PRId64 "\n",
           u.models_in_use, u.models_unused);
}

int
mp_metrics_write (mp_metrics *m, FILE *out)
{
  char labels[128];

  family (out, "modelpack_snapshotter_build_info", "gauge",
          "The daemon's version, as a label; always 1.");
  fputs ("modelpack_snapshotter_build_info{version=\"", out);
  mp_metrics_write_label_value (out, m->version ? m->version : "");
  fputs ("\"} 1\n", out);

  family (out, "modelpack_snapshots_rpc_duration_seconds", "histogram",
          "Time to answer a call of the Snapshots service, by method.");
  for (int i = 0; i < MP_RPC_NMETHODS; i++)
    {
      snprintf (labels, sizeof labels, "method=\"%s\"", method_names[i]);
      mp_metrics_write_histogram (out,
                                  "modelpack_snapshots_rpc_duration_seconds",
                                  labels, &m->rpc_seconds[i]);
    }
  family (out, "modelpack_snapshots_rpc_errors_total", "counter",
          "Calls of the Snapshots service answered with an error, by method "
          "and gRPC status code.");
  for (int i = 0; i < MP_RPC_NMETHODS; i++)
    for (int c = 1; c < MP_GRPC_NCODES; c++)
      {
        uint64_t v
            = atomic_load_explicit (&m->rpc_errors[i][c], memory_order_relaxed);
        if (v > 0)
          fprintf (out,
                   "modelpack_snapshots_rpc_errors_total{method=\"%s\","
                   "code=\"%s\"} %" PRIu64 "\n",
                   method_names[i], mp_grpc_code_name (c), v);
      }

  family (out, "modelpack_image_volume_prepares_total", "counter",
          "Prepares of model image volumes, by outcome: hit (the model's tree "
          "was cached), built (unpacked or merged now), refused (failed).");
  for (int o = 0; o < MP_VOLUME_NOUTCOMES; o++)
    fprintf (
        out,
        "modelpack_image_volume_prepares_total{outcome=\"%s\"} %" PRIu64 "\n",
        outcome_names[o],
        atomic_load_explicit (&m->volume_prepares[o], memory_order_relaxed));
  family (out, "modelpack_image_volume_prepare_duration_seconds", "histogram",
          "Time to prepare a model image volume, by outcome.");
  for (int o = 0; o < MP_VOLUME_NOUTCOMES; o++)
    {
      snprintf (labels, sizeof labels, "outcome=\"%s\"", outcome_names[o]);
      mp_metrics_write_histogram (
          out, "modelpack_image_volume_prepare_duration_seconds", labels,
          &m->volume_seconds[o]);
    }

  write_cache (m, out);

  family (out, "modelpack_crio_sync_runs_total", "counter",
          "Passes of the CRI-O store sync.");
  fprintf (out, "modelpack_crio_sync_runs_total %" PRIu64 "\n",
           atomic_load_explicit (&m->crio_sync_runs, memory_order_relaxed));
  family (out, "modelpack_crio_sync_failures_total", "counter",
          "Passes of the CRI-O store sync that failed for some model.");
  fprintf (out, "modelpack_crio_sync_failures_total %" PRIu64 "\n",
           atomic_load_explicit (&m->crio_sync_failures, memory_order_relaxed));
  return ferror (out) ? -1 : 0;
}
