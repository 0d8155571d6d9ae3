#include "plugin/snapshots_service.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/empty.pb-c.h"
#include "snapshots/snapshots.pb-c.h"
#include "types/mount.pb-c.h"
#include "util/cleanup.h"
#include "util/log.h"

/* protoc-c gives each map<string,string> its own entry type; all share this
 * layout. */
typedef struct
{
  ProtobufCMessage base;
  char *key;
  char *value;
} label_entry;

#define LIST_BATCH 100

static void *
unpack (const ProtobufCMessageDescriptor *d, const mp_rpc_call *call,
        mp_error *err)
{
  ProtobufCMessage *m
      = protobuf_c_message_unpack (d, NULL, call->request_len, call->request);

  if (m == NULL)
    mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                  "malformed %s: the request is not a valid protobuf message",
                  d->short_name);
  return m;
}

/* Borrow the request's label entries as engine labels (no copies). */
static snapshot_label *
labels_in (size_t n, void **entries, mp_error *err)
{
  snapshot_label *l;

  if (n == 0)
    return NULL;
  l = calloc (n, sizeof *l);
  if (l == NULL)
    {
      mp_error_sys (err, ENOMEM, "labels");
      return NULL;
    }
  for (size_t i = 0; i < n; i++)
    {
      label_entry *e = entries[i];
      l[i].key = e->key;
      l[i].value = e->value;
    }
  return l;
}

/* Engine mounts -> wire mounts, pointing into M (which must outlive the
 * packed message). */
struct wire_mounts
{
  Containerd__Types__Mount *items;
  Containerd__Types__Mount **ptrs;
};

static int
mounts_out (const snapshot_mounts *m, struct wire_mounts *w, mp_error *err)
{
  w->items = calloc (m->n ? m->n : 1, sizeof *w->items);
  w->ptrs = calloc (m->n ? m->n : 1, sizeof *w->ptrs);
  if (w->items == NULL || w->ptrs == NULL)
    return mp_error_sys (err, ENOMEM, "mounts");
  for (size_t i = 0; i < m->n; i++)
    {
      Containerd__Types__Mount init = CONTAINERD__TYPES__MOUNT__INIT;

      w->items[i] = init;
      w->items[i].type = m->items[i].type;
      w->items[i].source = m->items[i].source;
      w->items[i].n_options = m->items[i].noptions;
      w->items[i].options = m->items[i].options;
      w->ptrs[i] = &w->items[i];
    }
  return 0;
}

static void
wire_mounts_free (struct wire_mounts *w)
{
  free (w->items);
  free (w->ptrs);
}

/* Engine info -> wire info, pointing into INFO. */
struct wire_info
{
  Containerd__Services__Snapshots__V1__Info info;
  Google__Protobuf__Timestamp created, updated;
  Containerd__Services__Snapshots__V1__Info__LabelsEntry *entries;
  Containerd__Services__Snapshots__V1__Info__LabelsEntry **ptrs;
};

static int
info_out (const snapshot_info *in, struct wire_info *w, mp_error *err)
{
  Containerd__Services__Snapshots__V1__Info init
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__INIT;
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

  w->info = init;
  w->created = ts;
  w->updated = ts;
  w->created.seconds = in->created.tv_sec;
  w->created.nanos = (int32_t)in->created.tv_nsec;
  w->updated.seconds = in->updated.tv_sec;
  w->updated.nanos = (int32_t)in->updated.tv_nsec;
  w->info.name = in->name;
  w->info.parent = in->parent;
  w->info.kind = (Containerd__Services__Snapshots__V1__Kind)in->kind;
  w->info.created_at = &w->created;
  w->info.updated_at = &w->updated;
  w->entries = NULL;
  w->ptrs = NULL;
  if (in->nlabels)
    {
      w->entries = calloc (in->nlabels, sizeof *w->entries);
      w->ptrs = calloc (in->nlabels, sizeof *w->ptrs);
      if (w->entries == NULL || w->ptrs == NULL)
        return mp_error_sys (err, ENOMEM, "info");
      for (size_t i = 0; i < in->nlabels; i++)
        {
          Containerd__Services__Snapshots__V1__Info__LabelsEntry e
              = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__LABELS_ENTRY__INIT;

          w->entries[i] = e;
          w->entries[i].key = in->labels[i].key;
          w->entries[i].value = in->labels[i].value;
          w->ptrs[i] = &w->entries[i];
        }
    }
  w->info.n_labels = in->nlabels;
  w->info.labels = w->ptrs;
  return 0;
}

static void
wire_info_free (struct wire_info *w)
{
  free (w->entries);
  free (w->ptrs);
}

static int
send_empty (mp_rpc_call *call, mp_error *err)
{
  Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
  return call->send (call, &e.base, err);
}

/* --- methods ---------------------------------------------------------- */

static int
send_mounts_response (mp_rpc_call *call, ProtobufCMessage *resp,
                      size_t *n_mounts, Containerd__Types__Mount ***mounts,
                      const snapshot_mounts *m, mp_error *err)
{
  struct wire_mounts w = { 0 };
  int ret;

  if (mounts_out (m, &w, err) < 0)
    {
      wire_mounts_free (&w);
      return -1;
    }
  *n_mounts = m->n;
  *mounts = w.ptrs;
  ret = call->send (call, resp, err);
  wire_mounts_free (&w);
  return ret;
}

static int
do_prepare (snapshots_service *s, mp_rpc_call *call, bool view, mp_error *err)
{
  const ProtobufCMessageDescriptor *d
      = view
            ? &containerd__services__snapshots__v1__view_snapshot_request__descriptor
            : &containerd__services__snapshots__v1__prepare_snapshot_request__descriptor;
  ProtobufCMessage *m = unpack (d, call, err);
  cleanup_free snapshot_label *labels = NULL;
  snapshot_mounts mounts = { 0 };
  const char *key, *parent;
  size_t nlabels;
  void **entries;
  int ret = -1;

  if (m == NULL)
    return -1;
  /* Prepare and View requests have the same fields. */
  if (view)
    {
      Containerd__Services__Snapshots__V1__ViewSnapshotRequest *r = (void *)m;
      key = r->key;
      parent = r->parent;
      nlabels = r->n_labels;
      entries = (void **)r->labels;
    }
  else
    {
      Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *r
          = (void *)m;
      key = r->key;
      parent = r->parent;
      nlabels = r->n_labels;
      entries = (void **)r->labels;
    }
  labels = labels_in (nlabels, entries, err);
  if (nlabels && labels == NULL)
    goto out;
  mp_log_debug ("%s key=%s parent=%s ns=%s", view ? "view" : "prepare", key,
                parent, call->ns);
  if (!view && s->iv != NULL)
    {
      cleanup_free char *digest
          = image_volume_match (s->iv, key, parent, labels, nlabels);
      int handled = 0;

      if (digest != NULL)
        handled = image_volume_prepare (s->iv, s->sn, key, call->ns, digest,
                                        labels, nlabels, &mounts, err);
      if (handled < 0)
        {
          /* A model that cannot be mounted is an operator's concern (the
           * pod fails): log it whatever the log level hides. */
          mp_log_warn ("image volume %s: %s", key, err->msg);
          goto out;
        }
      if (handled > 0)
        {
          Containerd__Services__Snapshots__V1__PrepareSnapshotResponse resp
              = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_RESPONSE__INIT;
          ret = send_mounts_response (call, &resp.base, &resp.n_mounts,
                                      &resp.mounts, &mounts, err);
          goto out;
        }
    }
  if ((view ? snapshotter_view : snapshotter_prepare) (
          s->sn, key, parent, labels, nlabels, &mounts, err)
      < 0)
    goto out;
  if (view)
    {
      Containerd__Services__Snapshots__V1__ViewSnapshotResponse resp
          = CONTAINERD__SERVICES__SNAPSHOTS__V1__VIEW_SNAPSHOT_RESPONSE__INIT;
      ret = send_mounts_response (call, &resp.base, &resp.n_mounts,
                                  &resp.mounts, &mounts, err);
    }
  else
    {
      Containerd__Services__Snapshots__V1__PrepareSnapshotResponse resp
          = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_RESPONSE__INIT;
      ret = send_mounts_response (call, &resp.base, &resp.n_mounts,
                                  &resp.mounts, &mounts, err);
    }
out:
  snapshot_mounts_free (&mounts);
  protobuf_c_message_free_unpacked (m, NULL);
  return ret;
}

static int
do_mounts (snapshots_service *s, mp_rpc_call *call, mp_error *err)
{
  Containerd__Services__Snapshots__V1__MountsRequest *r = unpack (
      &containerd__services__snapshots__v1__mounts_request__descriptor, call,
      err);
  Containerd__Services__Snapshots__V1__MountsResponse resp
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_RESPONSE__INIT;
  snapshot_mounts mounts = { 0 };
  int ret = -1;

  if (r == NULL)
    return -1;
  if (snapshotter_mounts (s->sn, r->key, &mounts, err) == 0)
    ret = send_mounts_response (call, &resp.base, &resp.n_mounts, &resp.mounts,
                                &mounts, err);
  snapshot_mounts_free (&mounts);
  protobuf_c_message_free_unpacked (&r->base, NULL);
  return ret;
}

static int
do_commit (snapshots_service *s, mp_rpc_call *call, mp_error *err)
{
  Containerd__Services__Snapshots__V1__CommitSnapshotRequest *r = unpack (
      &containerd__services__snapshots__v1__commit_snapshot_request__descriptor,
      call, err);
  cleanup_free snapshot_label *labels = NULL;
  int ret = -1;

  if (r == NULL)
    return -1;
  labels = labels_in (r->n_labels, (void **)r->labels, err);
  mp_log_debug ("commit name=%s key=%s parent=%s", r->name, r->key, r->parent);
  if ((r->n_labels == 0 || labels != NULL)
      && snapshotter_commit (s->sn, r->name, r->key, r->parent, labels,
                             r->n_labels, err)
             == 0)
    ret = send_empty (call, err);
  protobuf_c_message_free_unpacked (&r->base, NULL);
  return ret;
}

static int
do_remove (snapshots_service *s, mp_rpc_call *call, mp_error *err)
{
  Containerd__Services__Snapshots__V1__RemoveSnapshotRequest *r = unpack (
      &containerd__services__snapshots__v1__remove_snapshot_request__descriptor,
      call, err);
  int ret = -1;

  if (r == NULL)
    return -1;
  mp_log_debug ("remove key=%s", r->key);
  if (snapshotter_remove (s->sn, r->key, err) == 0)
    {
      mp_error perr = { 0 };

      /* A model no snapshot uses any more becomes evictable and prunable
       * (the cache writes only when the set changed). */
      if (s->iv != NULL && image_volumes_publish (s->iv, s->sn, &perr) < 0)
        mp_log_warn ("remove %s: publish the models in use: %s", r->key,
                     perr.msg);
      ret = send_empty (call, err);
    }
  protobuf_c_message_free_unpacked (&r->base, NULL);
  return ret;
}

static int
send_info (mp_rpc_call *call, ProtobufCMessage *resp,
           Containerd__Services__Snapshots__V1__Info **slot,
           const snapshot_info *info, mp_error *err)
{
  struct wire_info w;
  int ret = -1;

  if (info_out (info, &w, err) == 0)
    {
      *slot = &w.info;
      ret = call->send (call, resp, err);
    }
  wire_info_free (&w);
  return ret;
}

static int
do_stat (snapshots_service *s, mp_rpc_call *call, mp_error *err)
{
  Containerd__Services__Snapshots__V1__StatSnapshotRequest *r = unpack (
      &containerd__services__snapshots__v1__stat_snapshot_request__descriptor,
      call, err);
  Containerd__Services__Snapshots__V1__StatSnapshotResponse resp
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_RESPONSE__INIT;
  snapshot_info info = { 0 };
  int ret = -1;

  if (r == NULL)
    return -1;
  if (snapshotter_stat (s->sn, r->key, &info, err) == 0)
    ret = send_info (call, &resp.base, &resp.info, &info, err);
  snapshot_info_free (&info);
  protobuf_c_message_free_unpacked (&r->base, NULL);
  return ret;
}

static int
do_update (snapshots_service *s, mp_rpc_call *call, mp_error *err)
{
  Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *r = unpack (
      &containerd__services__snapshots__v1__update_snapshot_request__descriptor,
      call, err);
  Containerd__Services__Snapshots__V1__UpdateSnapshotResponse resp
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__UPDATE_SNAPSHOT_RESPONSE__INIT;
  cleanup_free snapshot_label *labels = NULL;
  snapshot_info in = { 0 }, out = { 0 };
  int ret = -1;

  if (r == NULL)
    return -1;
  if (r->info == NULL)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "update: the request has no snapshot info");
      goto done;
    }
  labels = labels_in (r->info->n_labels, (void **)r->info->labels, err);
  if (r->info->n_labels && labels == NULL)
    goto done;
  in.name = r->info->name;
  in.parent = r->info->parent;
  in.kind = (enum snapshot_kind)r->info->kind;
  in.labels = labels;
  in.nlabels = r->info->n_labels;
  if (snapshotter_update (
          s->sn, &in,
          (const char *const *)(r->update_mask ? r->update_mask->paths : NULL),
          r->update_mask ? r->update_mask->n_paths : 0, &out, err)
      == 0)
    {
      ret = send_info (call, &resp.base, &resp.info, &out, err);
      snapshot_info_free (&out);
    }
done:
  protobuf_c_message_free_unpacked (&r->base, NULL);
  return ret;
}

struct list_batch
{
  mp_rpc_call *call;
  struct wire_info items[LIST_BATCH];
  snapshot_info infos[LIST_BATCH];
  size_t n;
};

static int
list_flush (struct list_batch *b, mp_error *err)
{
  Containerd__Services__Snapshots__V1__ListSnapshotsResponse resp
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
  Containerd__Services__Snapshots__V1__Info *ptrs[LIST_BATCH];
  int ret;

  if (b->n == 0)
    return 0;
  for (size_t i = 0; i < b->n; i++)
    ptrs[i] = &b->items[i].info;
  resp.n_info = b->n;
  resp.info = ptrs;
  ret = b->call->send (b->call, &resp.base, err);
  for (size_t i = 0; i < b->n; i++)
    {
      wire_info_free (&b->items[i]);
      snapshot_info_free (&b->infos[i]);
    }
  b->n = 0;
  return ret;
}

static int
list_one (void *ctx, const snapshot_info *info, mp_error *err)
{
  struct list_batch *b = ctx;
  snapshot_info *copy = &b->infos[b->n];

  /* The walk's info lives only for the callback: keep a copy until the
   * batch is sent. */
  memset (copy, 0, sizeof *copy);
  copy->name = strdup (info->name);
  copy->parent = strdup (info->parent);
  copy->kind = info->kind;
  copy->created = info->created;
  copy->updated = info->updated;
  if (info->nlabels)
    copy->labels = calloc (info->nlabels, sizeof *copy->labels);
  for (size_t i = 0; copy->labels && i < info->nlabels; i++)
    {
      copy->labels[i].key = strdup (info->labels[i].key);
      copy->labels[i].value = strdup (info->labels[i].value);
      copy->nlabels = i + 1;
    }
  if (copy->name == NULL || copy->parent == NULL
      || copy->nlabels != info->nlabels)
    {
      snapshot_info_free (copy);
      return mp_error_sys (err, ENOMEM, "list");
    }
  if (info_out (copy, &b->items[b->n], err) < 0)
    {
      wire_info_free (&b->items[b->n]);
      snapshot_info_free (copy);
      return -1;
    }
  b->n++;
  if (b->n == LIST_BATCH)
    return list_flush (b, err);
  return 0;
}

static int
do_list (snapshots_service *s, mp_rpc_call *call, mp_error *err)
{
  Containerd__Services__Snapshots__V1__ListSnapshotsRequest *r = unpack (
      &containerd__services__snapshots__v1__list_snapshots_request__descriptor,
      call, err);
  struct list_batch *b = NULL;
  mp_filter *filter = NULL;
  int ret = -1;

  if (r == NULL)
    return -1;
  if (r->n_filters)
    {
      filter = mp_filter_parse ((const char *const *)r->filters, r->n_filters,
                                err);
      if (filter == NULL)
        goto out;
    }
  b = calloc (1, sizeof *b);
  if (b == NULL)
    {
      mp_error_sys (err, ENOMEM, "list");
      goto out;
    }
  b->call = call;
  ret = snapshotter_walk (s->sn, filter, list_one, b, err);
  if (ret == 0)
    ret = list_flush (b, err);
  else
    for (size_t i = 0; i < b->n; i++)
      {
        wire_info_free (&b->items[i]);
        snapshot_info_free (&b->infos[i]);
      }
out:
  free (b);
  mp_filter_free (filter);
  protobuf_c_message_free_unpacked (&r->base, NULL);
  return ret;
}

static int
do_usage (snapshots_service *s, mp_rpc_call *call, mp_error *err)
{
  Containerd__Services__Snapshots__V1__UsageRequest *r
      = unpack (&containerd__services__snapshots__v1__usage_request__descriptor,
                call, err);
  Containerd__Services__Snapshots__V1__UsageResponse resp
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_RESPONSE__INIT;
  snapshot_usage u;
  int ret = -1;

  if (r == NULL)
    return -1;
  if (snapshotter_usage (s->sn, r->key, &u, err) == 0)
    {
      resp.size = u.size;
      resp.inodes = u.inodes;
      ret = call->send (call, &resp.base, err);
    }
  protobuf_c_message_free_unpacked (&r->base, NULL);
  return ret;
}

static int
do_cleanup (snapshots_service *s, mp_rpc_call *call, mp_error *err)
{
  Containerd__Services__Snapshots__V1__CleanupRequest *r = unpack (
      &containerd__services__snapshots__v1__cleanup_request__descriptor, call,
      err);
  int ret = -1;

  if (r == NULL)
    return -1;
  if (snapshotter_cleanup (s->sn, err) == 0
      && (s->iv == NULL || image_volumes_gc (s->iv, s->sn, err) == 0))
    ret = send_empty (call, err);
  protobuf_c_message_free_unpacked (&r->base, NULL);
  return ret;
}

static int
dispatch (snapshots_service *s, mp_rpc_call *call, mp_error *err)
{
  const char *m = call->method;
  size_t pl = strlen (SNAPSHOTS_SERVICE_PREFIX);

  if (strncmp (m, SNAPSHOTS_SERVICE_PREFIX, pl) != 0)
    return mp_error_set (err, MP_ERR_UNIMPLEMENTED, "unknown service in %s", m);
  m += pl;
  if (strcmp (m, "Prepare") == 0)
    return do_prepare (s, call, false, err);
  if (strcmp (m, "View") == 0)
    return do_prepare (s, call, true, err);
  if (strcmp (m, "Mounts") == 0)
    return do_mounts (s, call, err);
  if (strcmp (m, "Commit") == 0)
    return do_commit (s, call, err);
  if (strcmp (m, "Remove") == 0)
    return do_remove (s, call, err);
  if (strcmp (m, "Stat") == 0)
    return do_stat (s, call, err);
  if (strcmp (m, "Update") == 0)
    return do_update (s, call, err);
  if (strcmp (m, "List") == 0)
    return do_list (s, call, err);
  if (strcmp (m, "Usage") == 0)
    return do_usage (s, call, err);
  if (strcmp (m, "Cleanup") == 0)
    return do_cleanup (s, call, err);
  return mp_error_set (err, MP_ERR_UNIMPLEMENTED, "unknown method %s",
                       call->method);
}

int
snapshots_service_handle (void *svc, mp_rpc_call *call, mp_error *err)
{
  snapshots_service *s = svc;
  int64_t t0;
  int r, method;

  if (s->metrics == NULL)
    return dispatch (s, call, err);
  t0 = mp_metrics_now_ns ();
  r = dispatch (s, call, err);
  method = mp_metrics_rpc_method (call->method);
  /* The status the transport will send (grpc_server.c). */
  mp_metrics_rpc_done (s->metrics, method,
                       r == 0 ? 0
                              : mp_grpc_status_from_error (
                                  err->code ? err->code : MP_ERR_INTERNAL),
                       mp_metrics_now_ns () - t0);
  return r;
}
