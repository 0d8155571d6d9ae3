/* Typed calls of containerd.services.snapshots.v1.Snapshots for the
 * integration programs, answering in plain C structs instead of protobuf
 * messages.
 *
 * A snapclient names one snapshotter (the `snapshotter` field of every
 * request: how containerd picks the backend; our daemon ignores it) and
 * borrows a mp_grpc_client, which carries the namespace and deadline.  Point
 * it at containerd's socket to go through containerd's metadata layer, or at
 * our daemon's socket to talk to the backend directly.
 *
 * Return values are those of mp_grpc_client: 0 for OK, the gRPC status
 * code (> 0) the call failed with, or -1 for a local failure; *err says
 * what happened on any non-zero return.  Output structs are filled only on
 * 0 and are then the caller's, to release with the matching _free. */
#ifndef MP_INTEGRATION_SNAPCLIENT_H
#define MP_INTEGRATION_SNAPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "plugin/grpc_client.h"
#include "integration/lib/mountutil.h"
#include "util/error.h"

enum snapclient_kind
{
  SNAPCLIENT_KIND_UNKNOWN = 0,
  SNAPCLIENT_KIND_VIEW = 1,
  SNAPCLIENT_KIND_ACTIVE = 2,
  SNAPCLIENT_KIND_COMMITTED = 3,
};

const char *snapclient_kind_name (enum snapclient_kind kind);

typedef struct snapclient_label
{
  char *key;
  char *value;
} snapclient_label;

/* A label map: distinct keys, in no particular order.  The zero value is an
 * empty map. */
typedef struct snapclient_labels
{
  size_t n;
  snapclient_label *v;
} snapclient_labels;

/* Add KEY=VALUE, replacing an existing value for KEY. */
int snapclient_labels_set (snapclient_labels *l, const char *key,
                           const char *value, mp_error *err);
/* The value for KEY, or NULL. */
const char *snapclient_labels_get (const snapclient_labels *l, const char *key);
/* Same keys with the same values. */
bool snapclient_labels_equal (const snapclient_labels *a,
                              const snapclient_labels *b);
int snapclient_labels_copy (snapclient_labels *dst,
                            const snapclient_labels *src, mp_error *err);
/* "{k=v, k2=v2}", sorted by key, malloc'd (NULL on ENOMEM). */
char *snapclient_labels_format (const snapclient_labels *l);
void snapclient_labels_free (snapclient_labels *l);

typedef struct snapclient_info
{
  char *name;
  char *parent; /* "" for none */
  enum snapclient_kind kind;
  struct timespec created;
  struct timespec updated;
  snapclient_labels labels;
} snapclient_info;

void snapclient_info_free (snapclient_info *info);
int snapclient_info_copy (snapclient_info *dst, const snapclient_info *src,
                          mp_error *err);

/* A mount list as mountutil mounts it. */
typedef struct snapclient_mounts
{
  size_t n;
  mountutil_mount *v;
} snapclient_mounts;

void snapclient_mounts_free (snapclient_mounts *m);
/* "type:source[options,...] ..." for messages, malloc'd. */
char *snapclient_mounts_format (const snapclient_mounts *m);

typedef struct snapclient_usage
{
  int64_t size; /* bytes */
  int64_t inodes;
} snapclient_usage;

typedef struct snapclient snapclient;

/* SNAPSHOTTER may be "" when talking to a snapshotter directly. */
snapclient *snapclient_new (mp_grpc_client *grpc, const char *snapshotter,
                            mp_error *err);
void snapclient_free (snapclient *sc);
mp_grpc_client *snapclient_grpc (snapclient *sc);

/* PARENT "" or NULL: no parent.  LABELS may be NULL.  OUT may be NULL when
 * the mounts are not wanted. */
int snapclient_prepare (snapclient *sc, const char *key, const char *parent,
                        const snapclient_labels *labels, snapclient_mounts *out,
                        mp_error *err);
int snapclient_view (snapclient *sc, const char *key, const char *parent,
                     const snapclient_labels *labels, snapclient_mounts *out,
                     mp_error *err);
int snapclient_get_mounts (snapclient *sc, const char *key,
                           snapclient_mounts *out, mp_error *err);
/* PARENT non-empty sends CommitSnapshotRequest.parent (containerd 2.2's
 * rebase); NULL or "" leaves it unset. */
int snapclient_commit (snapclient *sc, const char *name, const char *key,
                       const char *parent, const snapclient_labels *labels,
                       mp_error *err);
int snapclient_remove (snapclient *sc, const char *key, mp_error *err);
int snapclient_stat (snapclient *sc, const char *key, snapclient_info *out,
                     mp_error *err);
/* Send all of INFO (as containerd's own client does) with the field mask
 * PATHS[0..N_PATHS); N_PATHS 0 sends an empty mask.  OUT may be NULL. */
int snapclient_update (snapclient *sc, const snapclient_info *info,
                       const char *const *paths, size_t n_paths,
                       snapclient_info *out, mp_error *err);

/* Called for every snapshot List streams back; INFO is only valid during
 * the call.  Return -1 with *err set to stop the stream. */
typedef int (*snapclient_walk_fn) (const snapclient_info *info, void *opaque,
                                   mp_error *err);
/* List with FILTERS[0..N_FILTERS) (containerd filter syntax; several
 * filters are OR'd). */
int snapclient_list (snapclient *sc, const char *const *filters,
                     size_t n_filters, snapclient_walk_fn fn, void *opaque,
                     mp_error *err);
int snapclient_get_usage (snapclient *sc, const char *key,
                          snapclient_usage *out, mp_error *err);
int snapclient_cleanup (snapclient *sc, mp_error *err);

#endif
