/* Import a model into containerd: see containerd_import.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "content/content.pb-c.h"
#include "images/images.pb-c.h"
#include "leases/leases.pb-c.h"
#include "model/digest.h"
#include "model/manifest.h"
#include "model/mediatype.h"
#include "model/modelconfig.h"
#include "plugin/containerd_import.h"
#include "plugin/grpc_client.h"
#include "util/cleanup.h"

#define CHUNK (1024 * 1024)
#define LABEL_CRI_MANAGED "io.cri-containerd.image"
#define LABEL_GC_REF "containerd.io/gc.ref.content."

/* Labels to set on content: parallel arrays, as many as a manifest has
 * layers (one gc reference each). */
struct labels
{
  size_t n, cap;
  char **key;
  char **value;
};

static void
labels_clear (struct labels *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      free (l->key[i]);
      free (l->value[i]);
    }
  free (l->key);
  free (l->value);
  memset (l, 0, sizeof *l);
}

static int
labels_add (struct labels *l, const char *key, const char *value, mp_error *err)
{
  if (l->n == l->cap)
    {
      size_t cap = l->cap ? l->cap * 2 : 16;
      char **k = realloc (l->key, cap * sizeof *k);

      if (k != NULL)
        l->key = k;
      k = k == NULL ? NULL : realloc (l->value, cap * sizeof *k);
      if (k == NULL)
        return mp_error_sys (err, ENOMEM, "labels");
      l->value = k;
      l->cap = cap;
    }
  l->key[l->n] = strdup (key);
  l->value[l->n] = strdup (value);
  if (l->key[l->n] == NULL || l->value[l->n] == NULL)
    {
      free (l->key[l->n]);
      free (l->value[l->n]);
      return mp_error_sys (err, ENOMEM, "labels");
    }
  l->n++;
  return 0;
}

struct importer
{
  mp_grpc_client *client;
  model_blob_open_fn open;
  void *ctx;
  struct containerd_import_stats *stats;
};

/* 1: containerd has DIGEST; 0: it does not; -1: error. */
static int
has_content (struct importer *im, const char *digest, mp_error *err)
{
  Containerd__Services__Content__V1__InfoRequest req
      = CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
  ProtobufCMessage *resp = NULL;
  int r;

  req.digest = (char *)digest;
  r = mp_grpc_client_unary (
      im->client, "/containerd.services.content.v1.Content/Info", &req.base,
      &containerd__services__content__v1__info_response__descriptor, &resp,
      err);
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  if (r == 0)
    return 1;
  if (r == MP_GRPC_NOT_FOUND)
    return 0;
  return -1;
}

/* Set LABELS on existing content (the labels named, nothing else). */
static int
update_labels (struct importer *im, const char *digest,
               const struct labels *labels, mp_error *err)
{
  Containerd__Services__Content__V1__UpdateRequest req
      = CONTAINERD__SERVICES__CONTENT__V1__UPDATE_REQUEST__INIT;
  Containerd__Services__Content__V1__Info info
      = CONTAINERD__SERVICES__CONTENT__V1__INFO__INIT;
  Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
  Containerd__Services__Content__V1__Info__LabelsEntry *ents = NULL;
  Containerd__Services__Content__V1__Info__LabelsEntry **pents = NULL;
  char **paths = NULL;
  ProtobufCMessage *resp = NULL;
  int r = -1;

  if (labels->n == 0)
    return 0;
  ents = calloc (labels->n, sizeof *ents);
  pents = calloc (labels->n, sizeof *pents);
  paths = calloc (labels->n, sizeof *paths);
  if (ents == NULL || pents == NULL || paths == NULL)
    {
      mp_error_sys (err, ENOMEM, "update %s", digest);
      goto out;
    }
  for (size_t i = 0; i < labels->n; i++)
    {
      containerd__services__content__v1__info__labels_entry__init (&ents[i]);
      ents[i].key = labels->key[i];
      ents[i].value = labels->value[i];
      pents[i] = &ents[i];
      if (asprintf (&paths[i], "labels.%s", labels->key[i]) < 0)
        {
          paths[i] = NULL;
          mp_error_sys (err, ENOMEM, "update %s", digest);
          goto out;
        }
    }
  info.digest = (char *)digest;
  info.n_labels = labels->n;
  info.labels = pents;
  mask.n_paths = labels->n;
  mask.paths = paths;
  req.info = &info;
  req.update_mask = &mask;
  r = mp_grpc_client_unary (
      im->client, "/containerd.services.content.v1.Content/Update", &req.base,
      &containerd__services__content__v1__update_response__descriptor, &resp,
      err);
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
out:
  for (size_t i = 0; paths != NULL && i < labels->n; i++)
    free (paths[i]);
  free (paths);
  free (pents);
  free (ents);
  return r == 0 ? 0 : -1;
}

/* Stream blob DIGEST of SIZE bytes into containerd, LABELS set at commit. */
static int
write_blob (struct importer *im, const char *digest, int64_t size,
            const struct labels *labels, mp_error *err)
{
  Containerd__Services__Content__V1__WriteContentRequest req
      = CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
  cleanup_free
      Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry *ents
      = NULL;
  cleanup_free
      Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry *
          *pents
      = NULL;
  mp_grpc_stream *s = NULL;
  ProtobufCMessage *resp = NULL;
  cleanup_free char *ref = NULL, *buf = NULL;
  cleanup_close int fd = -1;
  bool verified = false;
  int64_t off = 0;
  int r;

  fd = im->open (im->ctx, digest, size, &verified, err);
  if (fd < 0)
    return -1;
  buf = malloc (CHUNK);
  if (buf == NULL || asprintf (&ref, "modelpack-preload-%s", digest) < 0)
    return mp_error_sys (err, ENOMEM, "write %s", digest);
  if (mp_grpc_stream_open (
          im->client, "/containerd.services.content.v1.Content/Write", &s, err)
      < 0)
    return -1;
  req.ref = ref;
  req.total = size;
  req.expected = (char *)digest;
  for (;;)
    {
      ssize_t n = read (fd, buf, CHUNK);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          mp_error_sys (err, errno, "read %s", digest);
          goto fail;
        }
      if (n == 0)
        break;
      req.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE;
      req.offset = off;
      req.data.data = (uint8_t *)buf;
      req.data.len = (size_t)n;
      r = mp_grpc_stream_exchange (
          s, &req.base,
          &containerd__services__content__v1__write_content_response__descriptor,
          &resp, err);
      if (r != 0)
        goto fail;
      protobuf_c_message_free_unpacked (resp, NULL);
      resp = NULL;
      off += n;
    }
  if (off != size)
    {
      mp_error_set (err, MP_ERR_DATA_LOSS, "%s: read %lld bytes, expected %lld",
                    digest, (long long)off, (long long)size);
      goto fail;
    }
  ents = calloc (labels->n + 1, sizeof *ents);
  pents = calloc (labels->n + 1, sizeof *pents);
  if (ents == NULL || pents == NULL)
    {
      mp_error_sys (err, ENOMEM, "write %s", digest);
      goto fail;
    }
  for (size_t i = 0; i < labels->n; i++)
    {
      containerd__services__content__v1__write_content_request__labels_entry__init (
          &ents[i]);
      ents[i].key = labels->key[i];
      ents[i].value = labels->value[i];
      pents[i] = &ents[i];
    }
  req.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT;
  req.offset = off;
  req.data.data = NULL;
  req.data.len = 0;
  req.n_labels = labels->n;
  req.labels = pents;
  r = mp_grpc_stream_exchange (
      s, &req.base,
      &containerd__services__content__v1__write_content_response__descriptor,
      &resp, err);
  if (r == MP_GRPC_ALREADY_EXISTS)
    {
      /* Someone else stored it meanwhile: the labels still matter. */
      mp_grpc_stream_cancel (s);
      return update_labels (im, digest, labels, err);
    }
  if (r != 0)
    goto fail;
  {
    Containerd__Services__Content__V1__WriteContentResponse *wr
        = (Containerd__Services__Content__V1__WriteContentResponse *)resp;

    if (wr->digest[0] != '\0' && strcmp (wr->digest, digest) != 0)
      {
        mp_error_set (err, MP_ERR_DATA_LOSS,
                      "containerd stored %s as %s: the source does not match "
                      "its digest",
                      digest, wr->digest);
        goto fail;
      }
  }
  protobuf_c_message_free_unpacked (resp, NULL);
  resp = NULL;
  if (mp_grpc_stream_close (s, err) != 0)
    return -1;
  im->stats->blobs_written++;
  im->stats->bytes_written += size;
  return 0;

fail:
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  mp_grpc_stream_cancel (s);
  return mp_error_prefix (err, "import %s into containerd", digest);
}

/* A blob containerd must have, with LABELS. */
static int
ensure_blob (struct importer *im, const char *digest, int64_t size,
             const struct labels *labels, mp_error *err)
{
  int have = has_content (im, digest, err);

  if (have < 0)
    return -1;
  if (have)
    {
      im->stats->blobs_present++;
      return update_labels (im, digest, labels, err);
    }
  return write_blob (im, digest, size, labels, err);
}

static int
import_manifest (struct importer *im, const char *digest, int64_t size,
                 mp_error *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  model_digest d;
  model_manifest *m = NULL;
  struct labels none = { 0 }, refs = { 0 };
  char key[64];
  int rc = -1;

  if (model_digest_parse (digest, &d, err) < 0
      || model_read_document (im->open, im->ctx, &d, size, "manifest", &buf,
                              &len, err)
             < 0)
    return -1;
  if (model_manifest_parse (buf, len, &m, err) < 0)
    return mp_error_prefix (err, "manifest %s", digest);
  if (ensure_blob (im, m->config.digest.str, m->config.size, &none, err) < 0
      || labels_add (&refs, LABEL_GC_REF "config", m->config.digest.str, err)
             < 0)
    goto out;
  for (size_t i = 0; i < m->n_layers; i++)
    {
      if (ensure_blob (im, m->layers[i].desc.digest.str, m->layers[i].desc.size,
                       &none, err)
          < 0)
        goto out;
      snprintf (key, sizeof key, LABEL_GC_REF "l.%zu", i);
      if (labels_add (&refs, key, m->layers[i].desc.digest.str, err) < 0)
        goto out;
    }
  if (ensure_blob (im, digest, size, &refs, err) < 0)
    goto out;
  rc = 0;
out:
  labels_clear (&refs);
  model_manifest_free (m);
  return rc;
}

static int
import_index (struct importer *im, const char *digest, int64_t size,
              mp_error *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  model_digest d;
  model_index *idx = NULL;
  struct labels refs = { 0 };
  char key[64];
  int rc = -1, imported = 0;

  if (model_digest_parse (digest, &d, err) < 0
      || model_read_document (im->open, im->ctx, &d, size, "index", &buf, &len,
                              err)
             < 0)
    return -1;
  if (model_index_parse (buf, len, &idx, err) < 0)
    return mp_error_prefix (err, "index %s", digest);
  for (size_t i = 0; i < idx->n_manifests; i++)
    {
      const model_descriptor *d = &idx->manifests[i];
      mp_error e2 = { 0 };

      if (!model_media_type_is_manifest (d->media_type))
        continue;
      /* A source holds the manifests it was given (a pull keeps this
       * platform's); the others stay out. */
      if (import_manifest (im, d->digest.str, d->size, &e2) < 0)
        {
          if (e2.code == MP_ERR_NOT_FOUND)
            continue;
          *err = e2;
          goto out;
        }
      snprintf (key, sizeof key, LABEL_GC_REF "m.%zu", i);
      if (labels_add (&refs, key, d->digest.str, err) < 0)
        goto out;
      imported++;
    }
  if (imported == 0)
    {
      mp_error_set (err, MP_ERR_NOT_FOUND,
                    "index %s: none of its manifests is in the source", digest);
      goto out;
    }
  if (ensure_blob (im, digest, size, &refs, err) < 0)
    goto out;
  rc = 0;
out:
  labels_clear (&refs);
  model_index_free (idx);
  return rc;
}

static int
lease_create (mp_grpc_client *c, char *id, size_t idsize, mp_error *err)
{
  Containerd__Services__Leases__V1__CreateRequest req
      = CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
  Containerd__Services__Leases__V1__CreateRequest__LabelsEntry ent
      = CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__LABELS_ENTRY__INIT;
  Containerd__Services__Leases__V1__CreateRequest__LabelsEntry *pent = &ent;
  ProtobufCMessage *resp = NULL;
  char expire[64];
  struct timespec now;
  int r;

  clock_gettime (CLOCK_REALTIME, &now);
  snprintf (id, idsize, "modelpack-preload-%d-%ld%09ld", (int)getpid (),
            (long)now.tv_sec, now.tv_nsec);
  {
    struct timespec later = { .tv_sec = now.tv_sec + 3600 };

    model_rfc3339_format (&later, false, expire, sizeof expire);
  }
  ent.key = "containerd.io/gc.expire";
  ent.value = expire;
  req.id = id;
  req.n_labels = 1;
  req.labels = &pent;
  r = mp_grpc_client_unary (
      c, "/containerd.services.leases.v1.Leases/Create", &req.base,
      &containerd__services__leases__v1__create_response__descriptor, &resp,
      err);
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return r == 0 ? 0 : -1;
}

static void
lease_delete (mp_grpc_client *c, const char *id)
{
  Containerd__Services__Leases__V1__DeleteRequest req
      = CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
  ProtobufCMessage *resp = NULL;
  mp_error ignored;

  req.id = (char *)id;
  mp_grpc_client_unary (c, "/containerd.services.leases.v1.Leases/Delete",
                        &req.base, &google__protobuf__empty__descriptor, &resp,
                        &ignored);
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
}

static int
name_image (mp_grpc_client *c, const char *name, const char *digest,
            const char *media_type, int64_t size, mp_error *err)
{
  Containerd__Services__Images__V1__Image img
      = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
  Containerd__Types__Descriptor target = CONTAINERD__TYPES__DESCRIPTOR__INIT;
  Containerd__Services__Images__V1__Image__LabelsEntry ent
      = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__LABELS_ENTRY__INIT;
  Containerd__Services__Images__V1__Image__LabelsEntry *pent = &ent;
  Containerd__Services__Images__V1__CreateImageRequest creq
      = CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
  Containerd__Services__Images__V1__UpdateImageRequest ureq
      = CONTAINERD__SERVICES__IMAGES__V1__UPDATE_IMAGE_REQUEST__INIT;
  Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
  char *paths[] = { "target", "labels." LABEL_CRI_MANAGED };
  ProtobufCMessage *resp = NULL;
  int r;

  target.media_type = (char *)media_type;
  target.digest = (char *)digest;
  target.size = size;
  ent.key = LABEL_CRI_MANAGED;
  ent.value = "managed";
  img.name = (char *)name;
  img.target = &target;
  img.n_labels = 1;
  img.labels = &pent;
  creq.image = &img;
  r = mp_grpc_client_unary (
      c, "/containerd.services.images.v1.Images/Create", &creq.base,
      &containerd__services__images__v1__create_image_response__descriptor,
      &resp, err);
  if (r == MP_GRPC_ALREADY_EXISTS)
    {
      ureq.image = &img;
      mask.n_paths = 2;
      mask.paths = paths;
      ureq.update_mask = &mask;
      r = mp_grpc_client_unary (
          c, "/containerd.services.images.v1.Images/Update", &ureq.base,
          &containerd__services__images__v1__update_image_response__descriptor,
          &resp, err);
    }
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  return r == 0 ? 0 : mp_error_prefix (err, "name image %s", name);
}

int
containerd_import (const char *address, const char *ns, const char *name,
                   const char *digest, const char *media_type, int64_t size,
                   model_blob_open_fn open_fn, void *ctx,
                   struct containerd_import_stats *stats, mp_error *err)
{
  mp_grpc_client *c = mp_grpc_client_new (address, err);
  struct importer im = { .open = open_fn, .ctx = ctx, .stats = stats };
  char lease[128];
  int rc = -1;

  memset (stats, 0, sizeof *stats);
  if (c == NULL)
    return -1;
  im.client = c;
  if (mp_grpc_client_set_namespace (c, ns, err) < 0)
    goto out;
  mp_grpc_client_set_timeout_ms (c, 30 * 60 * 1000);
  if (mp_grpc_client_wait_ready (c, 5000, err) < 0)
    {
      mp_error_prefix (err, "containerd at %s", address);
      goto out;
    }
  if (lease_create (c, lease, sizeof lease, err) < 0)
    {
      mp_error_prefix (err, "containerd at %s", address);
      goto out;
    }
  if (mp_grpc_client_set_lease (c, lease, err) < 0)
    goto out_lease;
  if (model_media_type_is_index (media_type))
    rc = import_index (&im, digest, size, err);
  else
    rc = import_manifest (&im, digest, size, err);
  if (rc == 0)
    rc = name_image (c, name, digest, media_type, size, err);
out_lease:
  mp_grpc_client_set_lease (c, NULL, NULL);
  lease_delete (c, lease);
out:
  mp_grpc_client_free (c);
  return rc;
}
