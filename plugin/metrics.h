/* The daemon's Prometheus metrics: what it counts and how it writes them.
 *
 * Recording is lock-free: every counter and histogram bucket is a C11
 * atomic updated with relaxed ordering, so a snapshot call pays a few
 * uncontended atomic adds and a clock read, never a lock.  Components hold
 * an mp_metrics pointer that is NULL when metrics are off, and record
 * nothing then.
 *
 * Gauges of the model cache (bytes and models in use / unused) and its
 * byte counters are read at scrape time from the model cache
 * (model_cache_usage, model_cache_get_counters), not recorded.
 *
 * mp_metrics_write renders the text exposition format 0.0.4; the HTTP
 * endpoint that serves it is plugin/metrics_http.h. */
#ifndef MP_PLUGIN_METRICS_H
#define MP_PLUGIN_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "snapshotter/snapshotter.h"
#include "store/cache.h"
#include "util/error.h"

/* The Snapshots service's methods, in the order of snapshots.proto. */
enum mp_rpc_method
{
  MP_RPC_PREPARE,
  MP_RPC_VIEW,
  MP_RPC_MOUNTS,
  MP_RPC_COMMIT,
  MP_RPC_REMOVE,
  MP_RPC_STAT,
  MP_RPC_UPDATE,
  MP_RPC_LIST,
  MP_RPC_USAGE,
  MP_RPC_CLEANUP,
  MP_RPC_NMETHODS,
};

enum mp_volume_outcome
{
  MP_VOLUME_HIT,     /* the model's tree was already in the cache */
  MP_VOLUME_BUILT,   /* this Prepare unpacked or merged it */
  MP_VOLUME_REFUSED, /* the Prepare failed: bad or missing artifact, I/O */
  MP_VOLUME_NOUTCOMES,
};

#define MP_GRPC_NCODES 17 /* OK (0) .. UNAUTHENTICATED (16) */
#define MP_HISTOGRAM_MAX_BUCKETS 16

/* A histogram with fixed upper bounds (seconds, ascending, +Inf implied).
 * counts[i] counts observations in (bounds[i-1], bounds[i]], counts[n] those
 * above the last bound; they are made cumulative when written. */
typedef struct mp_histogram
{
  const double *bounds;
  size_t nbounds;
  _Atomic uint64_t counts[MP_HISTOGRAM_MAX_BUCKETS + 1];
  _Atomic uint64_t sum_ns;
} mp_histogram;

typedef struct mp_metrics
{
  mp_histogram rpc_seconds[MP_RPC_NMETHODS];
  _Atomic uint64_t rpc_errors[MP_RPC_NMETHODS][MP_GRPC_NCODES];
  _Atomic uint64_t volume_prepares[MP_VOLUME_NOUTCOMES];
  mp_histogram volume_seconds[MP_VOLUME_NOUTCOMES];
  _Atomic uint64_t crio_sync_runs;
  _Atomic uint64_t crio_sync_failures;
  const char *version; /* the daemon's, for build_info */
  /* [model_cache] max_bytes and min_free_percent (0: none), as gauges. */
  int64_t cache_max_bytes;
  int cache_min_free_percent;
  /* Read at scrape time; either may be NULL. */
  model_cache *cache;
  snapshotter *sn;
} mp_metrics;

/* Zero M and set up its histograms' buckets. */
void mp_metrics_init (mp_metrics *m);

/* Index of "/containerd.services.snapshots.v1.Snapshots/<Method>"'s method,
 * or -1 for anything else (not counted). */
int mp_metrics_rpc_method (const char *path);

/* Nanoseconds of CLOCK_MONOTONIC, for the durations below. */
int64_t mp_metrics_now_ns (void);

void mp_histogram_observe (mp_histogram *h, int64_t ns);

/* One finished call of METHOD with gRPC status GRPC_CODE. */
void mp_metrics_rpc_done (mp_metrics *m, int method, int grpc_code, int64_t ns);
void mp_metrics_volume_done (mp_metrics *m, enum mp_volume_outcome o,
                             int64_t ns);
void mp_metrics_crio_sync_done (mp_metrics *m, bool ok);

/* Write every family to OUT in the text exposition format.  A part read
 * from the cache that fails is left out and logged; writing fails only
 * when OUT does. */
int mp_metrics_write (mp_metrics *m, FILE *out);

/* Exposition pieces, public for the tests. */
void mp_metrics_write_label_value (FILE *out, const char *v);
void mp_metrics_write_histogram (FILE *out, const char *name,
                                 const char *labels, const mp_histogram *h);

#endif
