/* nullsnap: a snapshotter that does no work, for measuring the floor of a
 * proxy snapshotter's latency through containerd.
 *
 *   nullsnap SOCKET DIR
 *
 * It serves containerd's Snapshots API on SOCKET with our gRPC server (the
 * same transport, worker pool and dispatch shape as modelpack-snapshotter)
 * but keeps its snapshots in a table in memory: no disk, no sync, no
 * mounts made.  Prepare, View and Mounts answer a bind mount of DIR;
 * Commit, Remove and Update change the table; Stat and List read it.  What
 * a call through containerd to it costs is what containerd's side of a
 * proxied call costs plus the transport: no proxy can do a call for less
 * (bench/run.sh reports it as "null").  Not a snapshotter to run
 * containers on. */
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/empty.pb-c.h"
#include "plugin/grpc_server.h"
#include "snapshots/snapshots.pb-c.h"
#include "types/mount.pb-c.h"
#include "util/error.h"

#define PREFIX "/containerd.services.snapshots.v1.Snapshots/"

typedef Containerd__Services__Snapshots__V1__Kind kind_t;

struct snap
{
  char *key, *parent;
  kind_t kind;
  struct snap *next;
};

static struct snap *table;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const char *bind_dir;

static struct snap **
find (const char *key)
{
  struct snap **p = &table;

  while (*p != NULL && strcmp ((*p)->key, key) != 0)
    p = &(*p)->next;
  return p;
}

static int
add (const char *key, const char *parent, kind_t kind, mp_error *err)
{
  struct snap *s;

  pthread_mutex_lock (&mu);
  if (*find (key) != NULL)
    {
      pthread_mutex_unlock (&mu);
      return mp_error_set (err, MP_ERR_ALREADY_EXISTS, "%s exists", key);
    }
  s = calloc (1, sizeof *s);
  s->key = strdup (key);
  s->parent = strdup (parent ? parent : "");
  s->kind = kind;
  s->next = table;
  table = s;
  pthread_mutex_unlock (&mu);
  return 0;
}

static void
snap_free (struct snap *s)
{
  free (s->key);
  free (s->parent);
  free (s);
}

/* One bind mount of DIR: what Prepare, View and Mounts answer. */
static int
send_mount (mp_rpc_call *call, ProtobufCMessage *resp, size_t *n,
            Containerd__Types__Mount ***mounts, bool ro, mp_error *err)
{
  Containerd__Types__Mount m = CONTAINERD__TYPES__MOUNT__INIT;
  Containerd__Types__Mount *pm = &m;
  char *opts[] = { ro ? "ro" : "rw", "rbind" };

  m.type = "bind";
  m.source = (char *)bind_dir;
  m.n_options = 2;
  m.options = opts;
  *n = 1;
  *mounts = &pm;
  return call->send (call, resp, err);
}

static int
bad_request (mp_rpc_call *call, mp_error *err)
{
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: malformed request",
                       call->method);
}

#define UNPACK(type, fn)                                                       \
  type *req = fn (NULL, call->request_len, call->request);                     \
  if (req == NULL)                                                             \
    return bad_request (call, err);

static int
handle (void *svc, mp_rpc_call *call, mp_error *err)
{
  const char *m = call->method;
  int rc = 0;

  if (strncmp (m, PREFIX, strlen (PREFIX)) != 0)
    return mp_error_set (err, MP_ERR_UNIMPLEMENTED, "unknown method %s", m);
  m += strlen (PREFIX);

  if (strcmp (m, "Prepare") == 0 || strcmp (m, "View") == 0)
    {
      bool view = m[0] == 'V';
      UNPACK (
          Containerd__Services__Snapshots__V1__PrepareSnapshotRequest,
          containerd__services__snapshots__v1__prepare_snapshot_request__unpack);
      rc = add (req->key, req->parent,
                view ? CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__VIEW
                     : CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__ACTIVE,
                err);
      if (rc == 0)
        {
          Containerd__Services__Snapshots__V1__PrepareSnapshotResponse resp
              = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_RESPONSE__INIT;
          rc = send_mount (call, &resp.base, &resp.n_mounts, &resp.mounts, view,
                           err);
        }
      containerd__services__snapshots__v1__prepare_snapshot_request__free_unpacked (
          req, NULL);
      return rc;
    }
  if (strcmp (m, "Mounts") == 0)
    {
      Containerd__Services__Snapshots__V1__MountsResponse resp
          = CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_RESPONSE__INIT;
      UNPACK (Containerd__Services__Snapshots__V1__MountsRequest,
              containerd__services__snapshots__v1__mounts_request__unpack);
      pthread_mutex_lock (&mu);
      if (*find (req->key) == NULL)
        rc = mp_error_set (err, MP_ERR_NOT_FOUND, "%s not found", req->key);
      pthread_mutex_unlock (&mu);
      if (rc == 0)
        rc = send_mount (call, &resp.base, &resp.n_mounts, &resp.mounts, false,
                         err);
      containerd__services__snapshots__v1__mounts_request__free_unpacked (req,
                                                                          NULL);
      return rc;
    }
  if (strcmp (m, "Commit") == 0)
    {
      struct snap *s = NULL;
      UNPACK (
          Containerd__Services__Snapshots__V1__CommitSnapshotRequest,
          containerd__services__snapshots__v1__commit_snapshot_request__unpack);
      pthread_mutex_lock (&mu);
      {
        struct snap **p = find (req->key);
        if (*p == NULL)
          rc = mp_error_set (err, MP_ERR_NOT_FOUND, "%s not found", req->key);
        else if (*find (req->name) != NULL)
          rc = mp_error_set (err, MP_ERR_ALREADY_EXISTS, "%s exists",
                             req->name);
        else
          {
            s = *p;
            *p = s->next;
          }
      }
      pthread_mutex_unlock (&mu);
      if (s != NULL)
        {
          rc = add (req->name, s->parent,
                    CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED, err);
          snap_free (s);
        }
      if (rc == 0)
        {
          Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
          rc = call->send (call, &e.base, err);
        }
      containerd__services__snapshots__v1__commit_snapshot_request__free_unpacked (
          req, NULL);
      return rc;
    }
  if (strcmp (m, "Remove") == 0)
    {
      struct snap *s = NULL;
      UNPACK (
          Containerd__Services__Snapshots__V1__RemoveSnapshotRequest,
          containerd__services__snapshots__v1__remove_snapshot_request__unpack);
      pthread_mutex_lock (&mu);
      {
        struct snap **p = find (req->key);
        if (*p == NULL)
          rc = mp_error_set (err, MP_ERR_NOT_FOUND, "%s not found", req->key);
        else
          {
            s = *p;
            *p = s->next;
          }
      }
      pthread_mutex_unlock (&mu);
      if (s != NULL)
        snap_free (s);
      containerd__services__snapshots__v1__remove_snapshot_request__free_unpacked (
          req, NULL);
      if (rc == 0)
        {
          Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
          rc = call->send (call, &e.base, err);
        }
      return rc;
    }
  if (strcmp (m, "Stat") == 0 || strcmp (m, "Update") == 0)
    {
      Containerd__Services__Snapshots__V1__Info info
          = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__INIT;
      char *key;
      void *req;

      if (m[0] == 'S')
        {
          Containerd__Services__Snapshots__V1__StatSnapshotRequest *r
              = containerd__services__snapshots__v1__stat_snapshot_request__unpack (
                  NULL, call->request_len, call->request);
          if (r == NULL)
            return bad_request (call, err);
          key = strdup (r->key);
          req = r;
        }
      else
        {
          Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *r
              = containerd__services__snapshots__v1__update_snapshot_request__unpack (
                  NULL, call->request_len, call->request);
          if (r == NULL || r->info == NULL)
            return bad_request (call, err);
          key = strdup (r->info->name);
          req = r;
        }
      pthread_mutex_lock (&mu);
      {
        struct snap *s = *find (key);
        if (s == NULL)
          rc = mp_error_set (err, MP_ERR_NOT_FOUND, "%s not found", key);
        else
          {
            info.name = key;
            info.parent = strdup (s->parent);
            info.kind = s->kind;
          }
      }
      pthread_mutex_unlock (&mu);
      if (rc == 0)
        {
          if (m[0] == 'S')
            {
              Containerd__Services__Snapshots__V1__StatSnapshotResponse resp
                  = CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_RESPONSE__INIT;
              resp.info = &info;
              rc = call->send (call, &resp.base, err);
            }
          else
            {
              Containerd__Services__Snapshots__V1__UpdateSnapshotResponse resp
                  = CONTAINERD__SERVICES__SNAPSHOTS__V1__UPDATE_SNAPSHOT_RESPONSE__INIT;
              resp.info = &info;
              rc = call->send (call, &resp.base, err);
            }
          free (info.parent);
        }
      free (key);
      protobuf_c_message_free_unpacked (req, NULL);
      return rc;
    }
  if (strcmp (m, "Usage") == 0)
    {
      Containerd__Services__Snapshots__V1__UsageResponse resp
          = CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_RESPONSE__INIT;
      return call->send (call, &resp.base, err);
    }
  if (strcmp (m, "Cleanup") == 0)
    {
      Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
      return call->send (call, &e.base, err);
    }
  if (strcmp (m, "List") == 0)
    {
      Containerd__Services__Snapshots__V1__ListSnapshotsResponse resp
          = CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
      return call->send (call, &resp.base, err);
    }
  return mp_error_set (err, MP_ERR_UNIMPLEMENTED, "unknown method %s",
                       call->method);
}

int
main (int argc, char **argv)
{
  mp_grpc_server *srv;
  mp_error err = { 0 };
  sigset_t sigs;
  int sig;

  if (argc != 3)
    {
      fprintf (stderr, "usage: nullsnap SOCKET DIR\n");
      return 2;
    }
  bind_dir = argv[2];
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGTERM);
  sigaddset (&sigs, SIGINT);
  pthread_sigmask (SIG_BLOCK, &sigs, NULL);
  srv = mp_grpc_server_start (argv[1], 8, handle, NULL, &err);
  if (srv == NULL)
    {
      fprintf (stderr, "nullsnap: %s\n", err.msg);
      return 1;
    }
  while (sigwait (&sigs, &sig) != 0)
    ;
  mp_grpc_server_stop (srv);
  return 0;
}
