/* The daemon's configuration: defaults, then config.toml, then flags.
 *
 * config.toml (all keys optional):
 *   root = "/var/lib/modelpack-snapshotter"
 *   address = "/run/modelpack-snapshotter/snapshotter.sock"
 *   log_level = "info"      # error, warn, info, debug
 *   workers = 8             # gRPC worker threads
 *
 *   [image_volumes]
 *   enabled = true
 *   key_pattern = "/image-volumes/[^/]+/([0-9a-f]{64})$"
 *   containerd_root = "/var/lib/containerd"
 *   containerd_address = "/run/containerd/containerd.sock"
 *
 *   [model_cache]
 *   keep_unused_seconds = 86400   # keep a model no pod uses this long
 *   keep_unused_bytes = 0         # ... and/or up to this many bytes
 *   verify_blobs = "once"         # hash each layer blob file once per node
 *                                 # and remember it; "ingest": trust
 *                                 # containerd's check at download (faster
 *                                 # first mount, weaker; "untrusted" is its
 *                                 # deprecated name); "always": every unpack
 *   max_bytes = 0                 # bound on the cache (0: none); unused
 *   min_free_percent = 0          # ... models are evicted LRU to keep it
 *   mount = "auto"                # "erofs", "loop" or "extract" (cache.h)
 *
 *   [limits]                      # what one layer / model may expand to
 *   max_layer_bytes = 1099511627776   # uncompressed bytes of one layer
 *   max_layer_ratio = 100         # ... and at most 100x its compressed blob
 *   ratio_floor_bytes = 268435456 # (the ratio never bounds below this)
 *   max_layer_entries = 1048576   # tar members in one layer
 *   max_model_entries = 4194304   # ... in all of a model's layers
 *
 *   [crio_store]                  # off unless dir is set (crio_sync.h)
 *   dir = "/var/lib/modelpack-snapshotter/crio"  # CRI-O additional store
 *   source = "/var/lib/modelpack/store"          # the models to mirror
 *   poll_seconds = 5
 *
 *   [signatures]                  # enforced at image-volume Prepare
 *   policy = "/etc/modelpack-snapshotter/policy.json"   # containers-policy
 *   notation = "/etc/modelpack-snapshotter/notation"    # trustpolicy.json
 *                                 # and truststore/; either absent: that
 *                                 # mechanism requires nothing ("": off)
 *   hosts_dir = "/etc/containerd/certs.d"  # registry hosts, containerd's
 *                                          # hosts.toml layout
 *   auth_file = "/etc/modelpack-snapshotter/auth.json"  # registry
 *                                 # credentials (Docker config.json, as
 *                                 # `modelpack login` writes); absent:
 *                                 # anonymous; re-read when it changes
 *   verdict_cache = "digest"      # accepted verdicts kept per digest and
 *                                 # policy revision (a hit costs ~0.1 ms);
 *                                 # "names": also per the image names
 *                                 # containerd has for the digest (one
 *                                 # local call per Prepare, ~1 ms)
 *
 *   [metrics]                     # off unless address is set (metrics.h)
 *   address = "127.0.0.1:9121"    # host:port, or an absolute unix socket
 *                                 # path; Prometheus scrapes GET /metrics
 */
#ifndef MP_PLUGIN_CONFIG_H
#define MP_PLUGIN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "store/cache.h"
#include "store/unpack.h"
#include "util/error.h"

#define MP_DEFAULT_CONFIG "/etc/modelpack-snapshotter/config.toml"
#define MP_DEFAULT_ROOT "/var/lib/modelpack-snapshotter"
#define MP_DEFAULT_ADDRESS "/run/modelpack-snapshotter/snapshotter.sock"
#define MP_DEFAULT_MODEL_STORE "/var/lib/modelpack/store"
#define MP_DEFAULT_CONTAINERD_ROOT "/var/lib/containerd"
#define MP_DEFAULT_CONTAINERD_ADDRESS "/run/containerd/containerd.sock"
#define MP_DEFAULT_SIG_POLICY "/etc/modelpack-snapshotter/policy.json"
#define MP_DEFAULT_SIG_NOTATION "/etc/modelpack-snapshotter/notation"
#define MP_DEFAULT_HOSTS_DIR "/etc/containerd/certs.d"
#define MP_DEFAULT_SIG_AUTH "/etc/modelpack-snapshotter/auth.json"
/* containerd's image-volume Prepare key ends in
 * image-volumes/<sandbox id>/<manifest hex>. */
#define MP_DEFAULT_KEY_PATTERN "/image-volumes/[^/]+/([0-9a-f]{64})$"

typedef struct mp_config
{
  char *root;
  char *address;
  char *log_level;
  int workers;
  bool image_volumes;
  char *key_pattern;
  char *containerd_root;
  char *containerd_address;
  int64_t keep_unused_seconds;
  int64_t keep_unused_bytes;
  /* [model_cache] max_bytes, min_free_percent: the bound (store/cache.h);
   * zeros: none. */
  int64_t max_bytes;
  int min_free_percent;
  /* [model_cache] mount: how models are served (store/cache.h). */
  enum model_cache_mount mount;
  /* [model_cache] verify_blobs (store/cache.h); zero: "once". */
  enum model_cache_verify verify_blobs;
  /* [crio_store]: dir NULL means off. */
  char *crio_store_dir;
  char *crio_store_source;
  int crio_store_poll_seconds;
  /* [signatures]: NULL (set to "") means that mechanism is off. */
  char *sig_policy;
  char *sig_notation;
  char *sig_hosts_dir;
  char *sig_auth_file;
  bool sig_cache_by_digest; /* verdict_cache = "digest" (the default) */
  /* [metrics] address: NULL means off. */
  char *metrics_address;
  /* [limits]: zeros are model/unpack.h's defaults. */
  struct model_unpack_limits limits;
} mp_config;

int mp_config_init (mp_config *c, mp_error *err);

/* Read PATH over the current values.  A missing file is an error only
 * when MUST_EXIST (the operator named it). */
int mp_config_load (mp_config *c, const char *path, bool must_exist,
                    mp_error *err);

/* Replace a string setting (flags use this). */
int mp_config_set (char **field, const char *value, mp_error *err);

void mp_config_free (mp_config *c);

#endif
