/* Private to the model cache: what store/cache.c (open and close, shared
 * helpers, locks, durability, single flight, removal, documents),
 * store/cache_build.c (layers and trees) and store/cache_gc.c (pins and
 * collection) share.  Nothing outside store/cache*.c includes this; the
 * contract is store/cache.h. */
#ifndef MP_STORE_CACHE_INTERNAL_H
#define MP_STORE_CACHE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

struct model_cache
{
  char *root;
  int root_fd, layers_fd, trees_fd, tmp_fd, pins_fd;
  int work_fd; /* tmp/<work_name>, flock'ed for the cache's lifetime */
  char work_name[64];
  int64_t keep_seconds, keep_bytes;
  struct model_unpack_limits limits; /* resolved: no zeros */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct flight *flights;
  struct model_cache_stats counters;
  uint64_t seq;
  /* Durability (see the top of cache.c). */
  char boot_id[64];
  pthread_t syncer;
  bool syncer_running, sync_stop;
  int64_t sync_wanted; /* boottime of the newest rename not yet synced */
  int64_t sync_done;   /* boottime at the start of the last syncfs */
  pthread_cond_t sync_cv;
};

enum flight_role
{
  FLIGHT_LEADER,
  FLIGHT_WAITED,
};

/* cache.c */
void cache_closep_quiet (int fd);
uint64_t cache_next_seq (model_cache *c);
void cache_count (model_cache *c, struct model_cache_stats *st, int unpacked,
                  int reused, int built, int tree_reused, int64_t bytes);
int cache_open_dir_at (int dirfd, const char *name);
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

#endif
