/* Typed Snapshots calls.  See snapclient.h. */
#include "integration/lib/snapclient.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/empty.pb-c.h"
#include "snapshots/snapshots.pb-c.h"
#include "util/cleanup.h"

#define METHOD(name) "/containerd.services.snapshots.v1.Snapshots/" name

struct snapclient
{
  mp_grpc_client *grpc;
  char *snapshotter;
};

const char *
snapclient_kind_name (enum snapclient_kind kind)
{
  switch (kind)
    {
    case SNAPCLIENT_KIND_VIEW:
      return "view";
    case SNAPCLIENT_KIND_ACTIVE:
      return "active";
    case SNAPCLIENT_KIND_COMMITTED:
      return "committed";
    default:
      return "unknown";
    }
}

/* ---- labels ---- */

static snapclient_label *
labels_find (const snapclient_labels *l, const char *key)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp (l->v[i].key, key) == 0)
      return &l->v[i];
  return NULL;
}

int
snapclient_labels_set (snapclient_labels *l, const char *key, const char *value,
                       mp_error *err)
{
  cleanup_free char *v = strdup (value);
  if (v == NULL)
    return mp_error_sys (err, ENOMEM, "label %s", key);
  snapclient_label *found = labels_find (l, key);
  if (found != NULL)
    {
      free (found->value);
      found->value = steal_pointer (&v);
      return 0;
    }
  cleanup_free char *k = strdup (key);
  snapclient_label *grown = realloc (l->v, (l->n + 1) * sizeof *l->v);
  if (k == NULL || grown == NULL)
    {
      if (grown != NULL)
        l->v = grown;
      return mp_error_sys (err, ENOMEM, "label %s", key);
    }
  l->v = grown;
  l->v[l->n].key = steal_pointer (&k);
  l->v[l->n].value = steal_pointer (&v);
  l->n++;
  return 0;
}

const char *
snapclient_labels_get (const snapclient_labels *l, const char *key)
{
  snapclient_label *found = labels_find (l, key);
  return found != NULL ? found->value : NULL;
}

bool
snapclient_labels_equal (const snapclient_labels *a, const snapclient_labels *b)
{
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    {
      const char *v = snapclient_labels_get (b, a->v[i].key);
      if (v == NULL || strcmp (v, a->v[i].value) != 0)
        return false;
    }
  return true;
}

int
snapclient_labels_copy (snapclient_labels *dst, const snapclient_labels *src,
                        mp_error *err)
{
  *dst = (snapclient_labels){ 0 };
  for (size_t i = 0; i < src->n; i++)
    if (snapclient_labels_set (dst, src->v[i].key, src->v[i].value, err) < 0)
      {
        snapclient_labels_free (dst);
        return -1;
      }
  return 0;
}

static int
label_cmp (const void *a, const void *b)
{
  return strcmp (((const snapclient_label *)a)->key,
                 ((const snapclient_label *)b)->key);
}

char *
snapclient_labels_format (const snapclient_labels *l)
{
  cleanup_free snapclient_label *sorted = NULL;
  if (l->n > 0)
    {
      sorted = malloc (l->n * sizeof *sorted);
      if (sorted == NULL)
        return NULL;
      memcpy (sorted, l->v, l->n * sizeof *sorted);
      qsort (sorted, l->n, sizeof *sorted, label_cmp);
    }
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream (&buf, &len);
  if (out == NULL)
    return NULL;
  fputc ('{', out);
  for (size_t i = 0; i < l->n; i++)
    fprintf (out, "%s%s=%s", i > 0 ? ", " : "", sorted[i].key, sorted[i].value);
  fputc ('}', out);
  if (fclose (out) != 0)
    {
      free (buf);
      return NULL;
    }
  return buf;
}

void
snapclient_labels_free (snapclient_labels *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      free (l->v[i].key);
      free (l->v[i].value);
    }
  free (l->v);
  *l = (snapclient_labels){ 0 };
}

/* Every map<string,string> entry protobuf-c generates has this layout; one
 * builder serves the labels of all request types, with the descriptor of
 * the entry type the request expects. */
typedef struct map_entry
{
  ProtobufCMessage base;
  char *key;
  char *value;
} map_entry;

_Static_assert(offsetof (Containerd__Services__Snapshots__V1__Info__LabelsEntry,
                         value)
                   == offsetof (map_entry, value),
               "protobuf-c map entries are {base, key, value}");

typedef struct entries
{
  size_t n;
  map_entry *storage;
  map_entry **ptrs;
} entries;

static int
entries_build (entries *e, const snapclient_labels *l,
               const ProtobufCMessageDescriptor *desc, mp_error *err)
{
  *e = (entries){ 0 };
  if (l == NULL || l->n == 0)
    return 0;
  e->storage = calloc (l->n, sizeof *e->storage);
  e->ptrs = calloc (l->n, sizeof *e->ptrs);
  if (e->storage == NULL || e->ptrs == NULL)
    {
      free (e->storage);
      free (e->ptrs);
      return mp_error_sys (err, ENOMEM, "labels");
    }
  for (size_t i = 0; i < l->n; i++)
    {
      protobuf_c_message_init (desc, &e->storage[i]);
      e->storage[i].key = l->v[i].key;
      e->storage[i].value = l->v[i].value;
      e->ptrs[i] = &e->storage[i];
    }
  e->n = l->n;
  return 0;
}

static void
entries_free (entries *e)
{
  free (e->storage);
  free (e->ptrs);
}

/* ---- info and mounts from protobuf ---- */

static struct timespec
timespec_from (const Google__Protobuf__Timestamp *ts)
{
  if (ts == NULL)
    return (struct timespec){ 0 };
  return (struct timespec){ .tv_sec = ts->seconds, .tv_nsec = ts->nanos };
}

static int
info_from_pb (snapclient_info *out,
              const Containerd__Services__Snapshots__V1__Info *pb,
              mp_error *err)
{
  *out = (snapclient_info){ 0 };
  if (pb == NULL)
    return mp_error_set (err, MP_ERR_INTERNAL, "response carries no info");
  out->name = strdup (pb->name);
  out->parent = strdup (pb->parent);
  if (out->name == NULL || out->parent == NULL)
    {
      snapclient_info_free (out);
      return mp_error_sys (err, ENOMEM, "snapshot info");
    }
  out->kind = (enum snapclient_kind)pb->kind;
  out->created = timespec_from (pb->created_at);
  out->updated = timespec_from (pb->updated_at);
  for (size_t i = 0; i < pb->n_labels; i++)
    if (snapclient_labels_set (&out->labels, pb->labels[i]->key,
                               pb->labels[i]->value, err)
        < 0)
      {
        snapclient_info_free (out);
        return -1;
      }
  return 0;
}

void
snapclient_info_free (snapclient_info *info)
{
  free (info->name);
  free (info->parent);
  snapclient_labels_free (&info->labels);
  *info = (snapclient_info){ 0 };
}

int
snapclient_info_copy (snapclient_info *dst, const snapclient_info *src,
                      mp_error *err)
{
  *dst = (snapclient_info){ 0 };
  dst->name = strdup (src->name);
  dst->parent = strdup (src->parent);
  dst->kind = src->kind;
  dst->created = src->created;
  dst->updated = src->updated;
  if (dst->name == NULL || dst->parent == NULL
      || snapclient_labels_copy (&dst->labels, &src->labels, err) < 0)
    {
      snapclient_info_free (dst);
      return mp_error_sys (err, ENOMEM, "snapshot info");
    }
  return 0;
}

static int
mounts_from_pb (snapclient_mounts *out, size_t n,
                Containerd__Types__Mount *const *pb, mp_error *err)
{
  *out = (snapclient_mounts){ 0 };
  if (n == 0)
    return 0;
  out->v = calloc (n, sizeof *out->v);
  if (out->v == NULL)
    return mp_error_sys (err, ENOMEM, "mounts");
  out->n = n;
  for (size_t i = 0; i < n; i++)
    {
      mountutil_mount *m = &out->v[i];
      m->type = strdup (pb[i]->type);
      m->source = strdup (pb[i]->source);
      m->target = strdup (pb[i]->target);
      m->options = calloc (pb[i]->n_options + 1, sizeof *m->options);
      bool ok = m->type && m->source && m->target && m->options;
      for (size_t j = 0; ok && j < pb[i]->n_options; j++)
        {
          m->options[j] = strdup (pb[i]->options[j]);
          ok = m->options[j] != NULL;
          m->n_options = j + 1;
        }
      if (!ok)
        {
          snapclient_mounts_free (out);
          return mp_error_sys (err, ENOMEM, "mounts");
        }
    }
  return 0;
}

void
snapclient_mounts_free (snapclient_mounts *m)
{
  mountutil_mounts_free (m->v, m->n);
  *m = (snapclient_mounts){ 0 };
}

char *
snapclient_mounts_format (const snapclient_mounts *m)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream (&buf, &len);
  if (out == NULL)
    return NULL;
  if (m->n == 0)
    fputs ("(no mounts)", out);
  for (size_t i = 0; i < m->n; i++)
    {
      fprintf (out, "%s%s:%s[", i > 0 ? " " : "", m->v[i].type, m->v[i].source);
      for (size_t j = 0; j < m->v[i].n_options; j++)
        fprintf (out, "%s%s", j > 0 ? "," : "", m->v[i].options[j]);
      fputc (']', out);
    }
  if (fclose (out) != 0)
    {
      free (buf);
      return NULL;
    }
  return buf;
}

/* ---- client ---- */

snapclient *
snapclient_new (mp_grpc_client *grpc, const char *snapshotter, mp_error *err)
{
  snapclient *sc = calloc (1, sizeof *sc);
  if (sc == NULL
      || (sc->snapshotter = strdup (snapshotter != NULL ? snapshotter : ""))
             == NULL)
    {
      free (sc);
      mp_error_sys (err, ENOMEM, "snapshots client");
      return NULL;
    }
  sc->grpc = grpc;
  return sc;
}

void
snapclient_free (snapclient *sc)
{
  if (sc == NULL)
    return;
  free (sc->snapshotter);
  free (sc);
}

mp_grpc_client *
snapclient_grpc (snapclient *sc)
{
  return sc->grpc;
}

/* Requests only read their strings; protobuf-c's char * is not const. */
static char *
arg (const char *s)
{
  return (char *)(s != NULL ? s : "");
}

/* Unary call whose response is only checked for success. */
static int
call_empty (snapclient *sc, const char *method, const ProtobufCMessage *req,
            mp_error *err)
{
  ProtobufCMessage *resp = NULL;
  int rc = mp_grpc_client_unary (
      sc->grpc, method, req, &google__protobuf__empty__descriptor, &resp, err);
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return rc;
}

int
snapclient_prepare (snapclient *sc, const char *key, const char *parent,
                    const snapclient_labels *labels, snapclient_mounts *out,
                    mp_error *err)
{
  Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
  entries e;
  if (entries_build (
          &e, labels,
          &containerd__services__snapshots__v1__prepare_snapshot_request__labels_entry__descriptor,
          err)
      < 0)
    return -1;
  req.snapshotter = sc->snapshotter;
  req.key = arg (key);
  req.parent = arg (parent);
  req.n_labels = e.n;
  req.labels
      = (Containerd__Services__Snapshots__V1__PrepareSnapshotRequest__LabelsEntry
             **)e.ptrs;

  ProtobufCMessage *resp = NULL;
  int rc = mp_grpc_client_unary (
      sc->grpc, METHOD ("Prepare"), &req.base,
      &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor,
      &resp, err);
  entries_free (&e);
  if (rc == 0 && out != NULL)
    {
      Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *r
          = (void *)resp;
      rc = mounts_from_pb (out, r->n_mounts, r->mounts, err);
    }
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return rc;
}

int
snapclient_view (snapclient *sc, const char *key, const char *parent,
                 const snapclient_labels *labels, snapclient_mounts *out,
                 mp_error *err)
{
  Containerd__Services__Snapshots__V1__ViewSnapshotRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__VIEW_SNAPSHOT_REQUEST__INIT;
  entries e;
  if (entries_build (
          &e, labels,
          &containerd__services__snapshots__v1__view_snapshot_request__labels_entry__descriptor,
          err)
      < 0)
    return -1;
  req.snapshotter = sc->snapshotter;
  req.key = arg (key);
  req.parent = arg (parent);
  req.n_labels = e.n;
  req.labels
      = (Containerd__Services__Snapshots__V1__ViewSnapshotRequest__LabelsEntry *
             *)e.ptrs;

  ProtobufCMessage *resp = NULL;
  int rc = mp_grpc_client_unary (
      sc->grpc, METHOD ("View"), &req.base,
      &containerd__services__snapshots__v1__view_snapshot_response__descriptor,
      &resp, err);
  entries_free (&e);
  if (rc == 0 && out != NULL)
    {
      Containerd__Services__Snapshots__V1__ViewSnapshotResponse *r
          = (void *)resp;
      rc = mounts_from_pb (out, r->n_mounts, r->mounts, err);
    }
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return rc;
}

int
snapclient_get_mounts (snapclient *sc, const char *key, snapclient_mounts *out,
                       mp_error *err)
{
  Containerd__Services__Snapshots__V1__MountsRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_REQUEST__INIT;
  req.snapshotter = sc->snapshotter;
  req.key = arg (key);
  ProtobufCMessage *resp = NULL;
  int rc = mp_grpc_client_unary (
      sc->grpc, METHOD ("Mounts"), &req.base,
      &containerd__services__snapshots__v1__mounts_response__descriptor, &resp,
      err);
  if (rc == 0)
    {
      Containerd__Services__Snapshots__V1__MountsResponse *r = (void *)resp;
      rc = mounts_from_pb (out, r->n_mounts, r->mounts, err);
    }
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return rc;
}

int
snapclient_commit (snapclient *sc, const char *name, const char *key,
                   const char *parent, const snapclient_labels *labels,
                   mp_error *err)
{
  Containerd__Services__Snapshots__V1__CommitSnapshotRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
  entries e;
  if (entries_build (
          &e, labels,
          &containerd__services__snapshots__v1__commit_snapshot_request__labels_entry__descriptor,
          err)
      < 0)
    return -1;
  req.snapshotter = sc->snapshotter;
  req.name = arg (name);
  req.key = arg (key);
  req.parent = arg (parent);
  req.n_labels = e.n;
  req.labels
      = (Containerd__Services__Snapshots__V1__CommitSnapshotRequest__LabelsEntry
             **)e.ptrs;
  int rc = call_empty (sc, METHOD ("Commit"), &req.base, err);
  entries_free (&e);
  return rc;
}

int
snapclient_remove (snapclient *sc, const char *key, mp_error *err)
{
  Containerd__Services__Snapshots__V1__RemoveSnapshotRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
  req.snapshotter = sc->snapshotter;
  req.key = arg (key);
  return call_empty (sc, METHOD ("Remove"), &req.base, err);
}

int
snapclient_stat (snapclient *sc, const char *key, snapclient_info *out,
                 mp_error *err)
{
  Containerd__Services__Snapshots__V1__StatSnapshotRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
  req.snapshotter = sc->snapshotter;
  req.key = arg (key);
  ProtobufCMessage *resp = NULL;
  int rc = mp_grpc_client_unary (
      sc->grpc, METHOD ("Stat"), &req.base,
      &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
      &resp, err);
  if (rc == 0)
    rc = info_from_pb (
        out,
        ((Containerd__Services__Snapshots__V1__StatSnapshotResponse *)resp)
            ->info,
        err);
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return rc;
}

int
snapclient_update (snapclient *sc, const snapclient_info *info,
                   const char *const *paths, size_t n_paths,
                   snapclient_info *out, mp_error *err)
{
  Containerd__Services__Snapshots__V1__UpdateSnapshotRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__UPDATE_SNAPSHOT_REQUEST__INIT;
  Containerd__Services__Snapshots__V1__Info pinfo
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__INIT;
  Google__Protobuf__Timestamp created = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  Google__Protobuf__Timestamp updated = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
  entries e;
  if (entries_build (
          &e, &info->labels,
          &containerd__services__snapshots__v1__info__labels_entry__descriptor,
          err)
      < 0)
    return -1;

  pinfo.name = arg (info->name);
  pinfo.parent = arg (info->parent);
  pinfo.kind = (Containerd__Services__Snapshots__V1__Kind)info->kind;
  created.seconds = info->created.tv_sec;
  created.nanos = (int32_t)info->created.tv_nsec;
  updated.seconds = info->updated.tv_sec;
  updated.nanos = (int32_t)info->updated.tv_nsec;
  pinfo.created_at = &created;
  pinfo.updated_at = &updated;
  pinfo.n_labels = e.n;
  pinfo.labels
      = (Containerd__Services__Snapshots__V1__Info__LabelsEntry **)e.ptrs;
  mask.n_paths = n_paths;
  mask.paths = (char **)paths;
  req.snapshotter = sc->snapshotter;
  req.info = &pinfo;
  req.update_mask = &mask;

  ProtobufCMessage *resp = NULL;
  int rc = mp_grpc_client_unary (
      sc->grpc, METHOD ("Update"), &req.base,
      &containerd__services__snapshots__v1__update_snapshot_response__descriptor,
      &resp, err);
  entries_free (&e);
  if (rc == 0 && out != NULL)
    rc = info_from_pb (
        out,
        ((Containerd__Services__Snapshots__V1__UpdateSnapshotResponse *)resp)
            ->info,
        err);
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return rc;
}

typedef struct list_ctx
{
  snapclient_walk_fn fn;
  void *opaque;
} list_ctx;

static int
list_message (const ProtobufCMessage *msg, void *opaque, mp_error *err)
{
  list_ctx *ctx = opaque;
  const Containerd__Services__Snapshots__V1__ListSnapshotsResponse *r
      = (const void *)msg;
  for (size_t i = 0; i < r->n_info; i++)
    {
      snapclient_info info;
      if (info_from_pb (&info, r->info[i], err) < 0)
        return -1;
      int rc = ctx->fn (&info, ctx->opaque, err);
      snapclient_info_free (&info);
      if (rc != 0)
        return -1;
    }
  return 0;
}

int
snapclient_list (snapclient *sc, const char *const *filters, size_t n_filters,
                 snapclient_walk_fn fn, void *opaque, mp_error *err)
{
  Containerd__Services__Snapshots__V1__ListSnapshotsRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_REQUEST__INIT;
  req.snapshotter = sc->snapshotter;
  req.n_filters = n_filters;
  req.filters = (char **)filters;
  list_ctx ctx = { .fn = fn, .opaque = opaque };
  return mp_grpc_client_server_stream (
      sc->grpc, METHOD ("List"), &req.base,
      &containerd__services__snapshots__v1__list_snapshots_response__descriptor,
      list_message, &ctx, err);
}

int
snapclient_get_usage (snapclient *sc, const char *key, snapclient_usage *out,
                      mp_error *err)
{
  Containerd__Services__Snapshots__V1__UsageRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_REQUEST__INIT;
  req.snapshotter = sc->snapshotter;
  req.key = arg (key);
  ProtobufCMessage *resp = NULL;
  int rc = mp_grpc_client_unary (
      sc->grpc, METHOD ("Usage"), &req.base,
      &containerd__services__snapshots__v1__usage_response__descriptor, &resp,
      err);
  if (rc == 0)
    {
      Containerd__Services__Snapshots__V1__UsageResponse *r = (void *)resp;
      out->size = r->size;
      out->inodes = r->inodes;
    }
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return rc;
}

int
snapclient_cleanup (snapclient *sc, mp_error *err)
{
  Containerd__Services__Snapshots__V1__CleanupRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__CLEANUP_REQUEST__INIT;
  req.snapshotter = sc->snapshotter;
  return call_empty (sc, METHOD ("Cleanup"), &req.base, err);
}
