/* Private to the model cache: what store/cache.c (open and close, shared
 * helpers, locks, durability, single flight, removal, documents),
 * store/cache_build.c (layers and trees), store/cache_gc.c (pins and
 * collection) and store/cache_use.c (holds, the published in-use set, the
 * bound and eviction, listing) share.  Nothing outside store/cache*.c includes
 * this; the contract is store/cache.h. */
#ifndef MP_STORE_CACHE_INTERNAL_H
#define MP_STORE_CACHE_INTERNAL_H

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "store/blobcheck.h"
#include "store/cache.h"
#include "store/unpack.h"
#include "model/digest.h"
#include "util/error.h"

/* Layer keys: "raw-" + 64 hex, or a sha512 hex. */
#define KEY_MAX 140

struct flight
{
  struct flight *next;
  char *key;
  bool done, ok;
  int waiters;
};

/* A set of strings (layer keys, tree hexes); small, so a linear scan. */
struct strset
{
  char **v;
  size_t n, cap;
};

/* Digests and how many times each is counted (holds, snapshots). */
struct countset
{
  char **v;
  int *count;
  size_t n;
};

struct model_cache
{
  char *root;
  int root_fd, layers_fd, trees_fd, tmp_fd, pins_fd;
  int work_fd; /* tmp/<work_name>, flock'ed for the cache's lifetime */
  char work_name[64];
  int64_t keep_seconds, keep_bytes;
  struct model_unpack_limits limits; /* resolved: no zeros */
  enum model_cache_verify verify;
  blobcheck *bc; /* verified/ */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct flight *flights;
  struct model_cache_stats counters;
  uint64_t seq;
  /* The bound (see model_cache_options); 0: none. */
  int64_t max_bytes;
  int min_free_percent;
  /* What this process uses (see cache_use.c): holds, the set last given
   * to model_cache_set_in_use, and whether both go to <root>/in-use. */
  pthread_mutex_t use_mu;
  struct countset holds, snapshots;
  bool publish, published;
  /* Durability (see the top of cache.c). */
  char boot_id[64];
  pthread_t syncer;
  bool syncer_running, sync_stop;
  int64_t sync_wanted; /* boottime of the newest rename not yet synced */
  int64_t sync_done;   /* boottime at the start of the last syncfs */
  /* How trees are made (never AUTO once open), and one thread at a time
   * deciding about index mounts (cache_index.c). */
  enum model_cache_mount mount_mode;
  bool mount_auto; /* chosen by the kernel: fall back to EXTRACT */
  pthread_mutex_t index_mu;
  pthread_cond_t sync_cv;
};

enum flight_role
{
  FLIGHT_LEADER,
  FLIGHT_WAITED,
};

/* A layer of the manifest being built (cache_build.c plans them). */
struct layer_plan
{
  const struct model_layer *l;
  size_t index;
  enum model_unpack_format format;
  char key[KEY_MAX + 1];
  const char *diff_id; /* expected, or NULL */
  struct model_file_meta meta;
  int64_t size;     /* from the layer's info file once present */
  uint64_t entries; /* tar members (raw: 1); 0 if not recorded */
};

/* cache.c */
void cache_closep_quiet (int fd);
uint64_t cache_next_seq (model_cache *c);
void cache_count (model_cache *c, struct model_cache_stats *st, int unpacked,
                  int reused, int built, int tree_reused, int64_t bytes);
int cache_open_dir_at (int dirfd, const char *name);
/* A fresh stream over the cache subdirectory DIRFD (SUB: "trees", "layers",
 * ... for the message); NULL with *ERR set. */
DIR *cache_read_dir (model_cache *c, int dirfd, const char *sub, mp_error *err);
bool cache_is_dir_at (int dirfd, const char *name);
int cache_write_file_at (int dirfd, const char *name, const char *text,
                         mp_error *err);
char *cache_read_file_at (int dirfd, const char *name);
bool cache_record_get (const char *text, const char *key, char *out,
                       size_t outsize);
bool cache_is_hex_name (const char *s);
int cache_lock (model_cache *c, int op, mp_error *err);
void cache_built_line (model_cache *c, char *out, size_t outsize);
void cache_want_sync (model_cache *c);
int cache_flight_join (model_cache *c, const char *key, struct flight **out,
                       mp_error *err);
void cache_flight_end (model_cache *c, struct flight *f, bool ok);
int cache_retire (model_cache *c, int dirfd, const char *name, int64_t *freed,
                  mp_error *err);
int cache_clean_tmp (model_cache *c, int64_t *freed, mp_error *err);

/* cache_build.c */
bool cache_tree_ready (model_cache *c, const char *hex);
bool cache_alias_get (model_cache *c, const char *hex, model_digest *out);
/* What building WANT (a manifest or index digest) would add: *NEED the
 * blob sizes of its layers not in layers/ (a lower bound for compressed
 * ones), KEEP the keys of its layers already there; *READY true (and
 * nothing else filled) if its tree exists.  *MDIG the manifest. */
int cache_plan_need (model_cache *c, const model_digest *want,
                     model_blob_open_fn open_fn, void *ctx, model_digest *mdig,
                     bool *ready, int64_t *need, struct strset *keep,
                     mp_error *err);

/* The body of model_cache_get_manifest_tree: without the bound
 * (cache_build.c), and with it (cache_use.c: evict before building WANT if
 * needed, and again after unpacking if over). */
int cache_get_tree (model_cache *c, const model_digest *want,
                    model_blob_open_fn open_fn, void *ctx, char **tree,
                    char **resolved, struct model_cache_stats *st,
                    mp_error *err);
int cache_get_bounded (model_cache *c, const model_digest *want,
                       model_blob_open_fn open_fn, void *ctx, char **tree,
                       char **resolved, struct model_cache_stats *st,
                       mp_error *err);

/* Layers: write INFO into the work directory NAME (open as DFD) and move
 * it to layers/KEY; *LOST when another process stored KEY first (ours is
 * then removed: same content). */
int cache_layer_commit (model_cache *c, int dfd, const char *name,
                        const char *key, const char *info, bool *lost,
                        mp_error *err);
/* Count BYTES of layer blobs hashed against their digest. */
void cache_count_verified (model_cache *c, struct model_cache_stats *st,
                           int64_t bytes);

/* cache_index.c: trees served from an EROFS index over the blobs. */
struct model_manifest;
/* Build trees/<hex> of manifest M as an index over its blobs and mount it:
 * 0 done, 1 when the model cannot be served that way (compressed layers,
 * blobs that are not files, a kernel without what the mode needs under
 * "auto"): unpack it instead; -1 on error. */
int cache_index_build (model_cache *c, const model_digest *mdig,
                       const struct model_manifest *m,
                       const struct layer_plan *plans,
                       model_blob_open_fn open_fn, void *ctx,
                       struct model_cache_stats *st, mp_error *err);
/* Whether trees/<hex> is served from an index. */
bool cache_index_is (model_cache *c, const char *hex);
/* Before handing out an index tree: its blobs still there and unchanged
 * since mounting (else verified again and mounted anew), and mounted. */
int cache_index_serve (model_cache *c, const model_digest *mdig,
                       model_blob_open_fn open_fn, void *ctx,
                       struct model_cache_stats *st, mp_error *err);
/* "auto" on this kernel. */
enum model_cache_mount cache_index_auto_mode (void);
/* cache_verify.c: how a layer blob's digest is established before it is
 * unpacked (model_cache_verify), and what is remembered after. */
struct cache_blob_trust
{
  bool trusted;    /* unpack with blob_verified: the blob is not hashed */
  bool remember;   /* record the verdict once the unpack verified it */
  const char *how; /* for the log line */
  bool stamped;    /* BEFORE is the blob file's stamp before the unpack */
  struct blobcheck_stamp before;
};
/* Decide for the blob DIGEST open at FD, which the source VOUCHED for or
 * not. */
void cache_blob_trust_begin (model_cache *c, int fd, const char *digest,
                             bool vouched, struct cache_blob_trust *t);
/* After the unpack (OK: it succeeded): a trusted blob must not have changed
 * while it was read (-1 with *ERR naming it if it did); a hashed one is
 * remembered, or forgotten if the unpack failed. */
int cache_blob_trust_end (model_cache *c, int fd, const char *digest,
                          const struct cache_blob_trust *t, bool ok,
                          mp_error *err);

/* cache_gc.c */
bool strset_has (const struct strset *s, const char *x);
int strset_add (struct strset *s, const char *x, mp_error *err);
void strset_clear (struct strset *s);

struct gc_tree
{
  char *hex;
  struct timespec used;
  struct strset layers;
  bool in_use, keep;
};

/* Every complete-looking tree under trees/ with its record, in_use set from
 * IN_USE (tree hexes). */
int cache_trees_read (model_cache *c, const struct strset *in_use,
                      struct gc_tree **out, size_t *nout, mp_error *err);
void cache_trees_free (struct gc_tree *trees, size_t n);
/* The bytes layer KEY unpacked (its info file), 0 if unknown. */
int64_t cache_layer_size (model_cache *c, const char *key);
/* Pinned digests (and what index pins resolve to) into USED as hexes. */
int cache_pins_used (model_cache *c, struct strset *used, mp_error *err);
/* After trees went: records without trees, layers not in NEEDED, and
 * work of dead processes.  Under the exclusive lock. */
int cache_remove_unneeded (model_cache *c, const struct strset *needed,
                           int64_t *freed, mp_error *err);

/* cache_use.c */
/* Everything in use, as tree hexes (index digests followed to their
 * manifest): IN_USE (digests), this process's holds and snapshot set, the
 * set another process published in <root>/in-use, and pins.  Under the
 * exclusive lock. */
int cache_used_hexes (model_cache *c, const char *const *in_use, size_t n,
                      struct strset *out, mp_error *err);
void countset_clear (struct countset *s);

#endif
