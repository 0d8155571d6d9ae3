#include "plugin/grpc_server.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/escape.h"
#include "util/fsutil.h"
#include "util/log.h"

#define NAMESPACE_KEY "containerd-namespace"
#define SHUTDOWN_GRACE_SECONDS 10

struct worker
{
  mp_grpc_server *srv;
  grpc_completion_queue *cq;
  pthread_t thread;
  bool started;
};

struct mp_grpc_server
{
  grpc_server *server;
  char *path;
  mp_rpc_handler handler;
  void *svc;
  struct worker *workers;
  int nworkers;
};

/* Per-call transport state behind mp_rpc_call.transport. */
struct call_state
{
  grpc_call *call;
  grpc_completion_queue *cq;
  bool sent_initial_metadata;
  bool failed;
  grpc_byte_buffer *pending; /* last message, sent with the status */
};

int
mp_grpc_status_from_error (enum mp_errcode code)
{
  switch (code)
    {
    case MP_OK:
      return GRPC_STATUS_OK;
    case MP_ERR_NOT_FOUND:
      return GRPC_STATUS_NOT_FOUND;
    case MP_ERR_ALREADY_EXISTS:
      return GRPC_STATUS_ALREADY_EXISTS;
    case MP_ERR_FAILED_PRECONDITION:
      return GRPC_STATUS_FAILED_PRECONDITION;
    case MP_ERR_INVALID_ARGUMENT:
      return GRPC_STATUS_INVALID_ARGUMENT;
    case MP_ERR_UNIMPLEMENTED:
      return GRPC_STATUS_UNIMPLEMENTED;
    case MP_ERR_UNAVAILABLE:
      return GRPC_STATUS_UNAVAILABLE;
    case MP_ERR_UNAUTHENTICATED:
      return GRPC_STATUS_UNAUTHENTICATED;
    case MP_ERR_PERMISSION_DENIED:
      return GRPC_STATUS_PERMISSION_DENIED;
    case MP_ERR_DATA_LOSS:
      return GRPC_STATUS_DATA_LOSS;
    /* containerd maps PermissionDenied onto errdefs.ErrPermissionDenied;
     * the kubelet shows the message, which names scope and requirement. */
    case MP_ERR_POLICY_REFUSED:
      return GRPC_STATUS_PERMISSION_DENIED;
    case MP_ERR_INTERNAL:
      break;
    }
  return GRPC_STATUS_UNKNOWN;
}

/* Run one batch and wait for it on the call's own queue: each worker has
 * at most one operation in flight, so the next event is this batch's. */
static bool
run_batch (struct call_state *cs, const grpc_op *ops, size_t n)
{
  grpc_event ev;

  if (grpc_call_start_batch (cs->call, ops, n, cs, NULL) != GRPC_CALL_OK)
    return false;
  ev = grpc_completion_queue_next (cs->cq, gpr_inf_future (GPR_CLOCK_REALTIME),
                                   NULL);
  return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static grpc_byte_buffer *
pack_message (const ProtobufCMessage *msg)
{
  size_t len = protobuf_c_message_get_packed_size (msg);
  grpc_slice slice = grpc_slice_malloc (len);
  grpc_byte_buffer *bb;

  protobuf_c_message_pack (msg, GRPC_SLICE_START_PTR (slice));
  bb = grpc_raw_byte_buffer_create (&slice, 1);
  grpc_slice_unref (slice);
  return bb;
}

static int
call_send (mp_rpc_call *call, const ProtobufCMessage *msg, mp_error *err)
{
  struct call_state *cs = call->transport;

  if (cs->failed)
    return mp_error_set (err, MP_ERR_UNAVAILABLE, "client went away");
  /* Hold each message back until the next one (or the status) is ready, so
   * a unary answer travels in a single batch with its status. */
  if (cs->pending != NULL)
    {
      grpc_op ops[2];
      size_t n = 0;

      memset (ops, 0, sizeof ops);
      if (!cs->sent_initial_metadata)
        {
          ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
          n++;
          cs->sent_initial_metadata = true;
        }
      ops[n].op = GRPC_OP_SEND_MESSAGE;
      ops[n].data.send_message.send_message = cs->pending;
      n++;
      bool ok = run_batch (cs, ops, n);
      grpc_byte_buffer_destroy (cs->pending);
      cs->pending = NULL;
      if (!ok)
        {
          cs->failed = true;
          return mp_error_set (err, MP_ERR_UNAVAILABLE, "client went away");
        }
    }
  cs->pending = pack_message (msg);
  return 0;
}

static char *
slice_to_str (grpc_slice s)
{
  return strndup ((const char *)GRPC_SLICE_START_PTR (s),
                  GRPC_SLICE_LENGTH (s));
}

static void
handle_call (mp_grpc_server *srv, struct worker *w, grpc_call *call,
             grpc_call_details *details, grpc_metadata_array *md)
{
  struct call_state cs = { .call = call, .cq = w->cq };
  cleanup_free char *method = slice_to_str (details->method);
  cleanup_free char *ns = NULL;
  grpc_byte_buffer *recv = NULL;
  grpc_slice req = grpc_empty_slice ();
  mp_rpc_call rpc = { 0 };
  mp_error err = { 0 };
  int cancelled = 0, status;
  grpc_op ops[4];
  grpc_slice details_slice;
  char *status_text;
  size_t n = 0;

  for (size_t i = 0; i < md->count; i++)
    if (grpc_slice_str_cmp (md->metadata[i].key, NAMESPACE_KEY) == 0)
      {
        free (ns);
        ns = slice_to_str (md->metadata[i].value);
      }

  memset (ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_MESSAGE;
  ops[0].data.recv_message.recv_message = &recv;
  if (!run_batch (&cs, ops, 1))
    goto done;
  if (recv != NULL)
    {
      grpc_byte_buffer_reader reader;

      if (!grpc_byte_buffer_reader_init (&reader, recv))
        goto done;
      req = grpc_byte_buffer_reader_readall (&reader);
      grpc_byte_buffer_reader_destroy (&reader);
    }

  rpc.method = method ? method : "";
  rpc.ns = ns ? ns : "";
  rpc.request = GRPC_SLICE_START_PTR (req);
  rpc.request_len = GRPC_SLICE_LENGTH (req);
  rpc.send = call_send;
  rpc.transport = &cs;
  if (recv == NULL)
    mp_error_set (&err, MP_ERR_INVALID_ARGUMENT, "%s: no request message",
                  rpc.method);
  else if (srv->handler (srv->svc, &rpc, &err) == 0)
    mp_error_clear (&err);
  else if (err.code == MP_OK)
    err.code = MP_ERR_INTERNAL;

  status = mp_grpc_status_from_error (err.code);
  if (err.code != MP_OK)
    mp_log (err.code == MP_ERR_INTERNAL ? MP_LOG_ERROR : MP_LOG_DEBUG, "%s: %s",
            rpc.method, err.msg);

  memset (ops, 0, sizeof ops);
  if (!cs.sent_initial_metadata)
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (cs.pending != NULL && status == GRPC_STATUS_OK)
    {
      ops[n].op = GRPC_OP_SEND_MESSAGE;
      ops[n].data.send_message.send_message = cs.pending;
      n++;
    }
  /* The details reach containerd's errors, kubelet's events and kubectl's
   * output: escaped like a log line (library messages have escaped their
   * names already, so backslashes stay as they are). */
  status_text
      = err.code ? mp_escape_str (err.msg, MP_ESCAPE_KEEP_BACKSLASH) : NULL;
  details_slice
      = grpc_slice_from_copied_string (status_text ? status_text : "");
  free (status_text);
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = status;
  ops[n].data.send_status_from_server.status_details = &details_slice;
  n++;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n].data.recv_close_on_server.cancelled = &cancelled;
  n++;
  run_batch (&cs, ops, n);
  grpc_slice_unref (details_slice);

done:
  if (cs.pending)
    grpc_byte_buffer_destroy (cs.pending);
  if (recv)
    grpc_byte_buffer_destroy (recv);
  grpc_slice_unref (req);
  grpc_call_unref (call);
}

static void *
worker_main (void *arg)
{
  struct worker *w = arg;
  mp_grpc_server *srv = w->srv;

  for (;;)
    {
      grpc_call *call = NULL;
      grpc_call_details details;
      grpc_metadata_array md;
      grpc_event ev;

      grpc_call_details_init (&details);
      grpc_metadata_array_init (&md);
      if (grpc_server_request_call (srv->server, &call, &details, &md, w->cq,
                                    w->cq, w)
          != GRPC_CALL_OK)
        {
          grpc_call_details_destroy (&details);
          grpc_metadata_array_destroy (&md);
          break;
        }
      ev = grpc_completion_queue_next (
          w->cq, gpr_inf_future (GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_OP_COMPLETE && ev.success && call != NULL)
        handle_call (srv, w, call, &details, &md);
      grpc_call_details_destroy (&details);
      grpc_metadata_array_destroy (&md);
      if (ev.type != GRPC_OP_COMPLETE || !ev.success)
        break; /* the server is shutting down */
    }
  /* Drain until the queue is shut down by mp_grpc_server_stop. */
  for (;;)
    {
      grpc_event ev = grpc_completion_queue_next (
          w->cq, gpr_inf_future (GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN)
        break;
    }
  return NULL;
}

/* Make sure PATH can be bound: a socket nobody answers on is a leftover of
 * a crash and goes; anything else there is the operator's to sort out. */
static int
prepare_socket_path (const char *path, mp_error *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  cleanup_free char *dir = strdup (path);
  char *slash;
  struct stat st;
  int fd, rc;

  if (dir == NULL)
    return mp_error_sys (err, ENOMEM, "socket path");
  if (strlen (path) >= sizeof sa.sun_path)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "socket path %s is longer than %zu bytes", path,
                         sizeof sa.sun_path - 1);
  slash = strrchr (dir, '/');
  if (slash != NULL && slash != dir)
    {
      *slash = '\0';
      if (stat (dir, &st) < 0)
        {
          if (errno != ENOENT || mp_mkdir_p (dir, 0700, err) < 0
              || chmod (dir, 0700) < 0)
            return mp_error_prefix (err, "create socket directory %s", dir);
        }
    }
  if (lstat (path, &st) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return mp_error_sys (err, errno, "stat %s", path);
    }
  if (!S_ISSOCK (st.st_mode))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s exists and is not a socket; remove it or choose "
                         "another address",
                         path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return mp_error_sys (err, errno, "socket");
  strcpy (sa.sun_path, path);
  rc = connect (fd, (struct sockaddr *)&sa, sizeof sa);
  close (fd);
  if (rc == 0)
    return mp_error_set (err, MP_ERR_UNAVAILABLE,
                         "another process is serving on %s", path);
  if (unlink (path) < 0 && errno != ENOENT)
    return mp_error_sys (err, errno, "remove stale socket %s", path);
  mp_log_info ("replaced stale socket %s", path);
  return 0;
}

mp_grpc_server *
mp_grpc_server_start (const char *path, int workers, mp_rpc_handler handler,
                      void *svc, mp_error *err)
{
  mp_grpc_server *srv;
  grpc_server_credentials *creds;
  grpc_arg args[1];
  grpc_channel_args chargs = { 1, args };
  cleanup_free char *target = NULL;
  int port;

  if (workers < 1)
    workers = 1;
  if (prepare_socket_path (path, err) < 0)
    return NULL;
  srv = calloc (1, sizeof *srv);
  if (srv == NULL || asprintf (&target, "unix:%s", path) < 0)
    {
      free (srv);
      mp_error_sys (err, ENOMEM, "start server");
      return NULL;
    }
  srv->path = strdup (path);
  srv->handler = handler;
  srv->svc = svc;
  srv->nworkers = workers;
  srv->workers = calloc (workers, sizeof *srv->workers);
  if (srv->path == NULL || srv->workers == NULL)
    {
      free (srv->path);
      free (srv->workers);
      free (srv);
      mp_error_sys (err, ENOMEM, "start server");
      return NULL;
    }

  grpc_init ();
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = 16 << 20;
  srv->server = grpc_server_create (&chargs, NULL);
  for (int i = 0; i < workers; i++)
    {
      srv->workers[i].srv = srv;
      srv->workers[i].cq = grpc_completion_queue_create_for_next (NULL);
      grpc_server_register_completion_queue (srv->server, srv->workers[i].cq,
                                             NULL);
    }
  creds = grpc_insecure_server_credentials_create ();
  port = grpc_server_add_http2_port (srv->server, target, creds);
  grpc_server_credentials_release (creds);
  if (port == 0)
    {
      mp_error_set (err, MP_ERR_UNAVAILABLE, "cannot listen on %s", path);
      goto fail;
    }
  grpc_server_start (srv->server);
  if (chmod (path, 0660) < 0)
    {
      mp_error_sys (err, errno, "chmod %s", path);
      mp_grpc_server_stop (srv);
      return NULL;
    }
  for (int i = 0; i < workers; i++)
    {
      if (pthread_create (&srv->workers[i].thread, NULL, worker_main,
                          &srv->workers[i])
          != 0)
        {
          mp_error_sys (err, errno, "start worker thread");
          mp_grpc_server_stop (srv);
          return NULL;
        }
      srv->workers[i].started = true;
    }
  return srv;

fail:
  for (int i = 0; i < workers; i++)
    {
      grpc_completion_queue_shutdown (srv->workers[i].cq);
      while (grpc_completion_queue_next (
                 srv->workers[i].cq, gpr_inf_future (GPR_CLOCK_REALTIME), NULL)
                 .type
             != GRPC_QUEUE_SHUTDOWN)
        ;
      grpc_completion_queue_destroy (srv->workers[i].cq);
    }
  grpc_server_destroy (srv->server);
  grpc_shutdown ();
  free (srv->workers);
  free (srv->path);
  free (srv);
  return NULL;
}

void
mp_grpc_server_stop (mp_grpc_server *srv)
{
  grpc_completion_queue *cq;
  grpc_event ev;

  if (srv == NULL)
    return;
  cq = grpc_completion_queue_create_for_pluck (NULL);
  grpc_server_shutdown_and_notify (srv->server, cq, srv);
  ev = grpc_completion_queue_pluck (
      cq, srv,
      gpr_time_add (
          gpr_now (GPR_CLOCK_REALTIME),
          gpr_time_from_seconds (SHUTDOWN_GRACE_SECONDS, GPR_TIMESPAN)),
      NULL);
  if (ev.type == GRPC_QUEUE_TIMEOUT)
    {
      mp_log_warn ("calls still running after %ds: cancelling them",
                   SHUTDOWN_GRACE_SECONDS);
      grpc_server_cancel_all_calls (srv->server);
      grpc_completion_queue_pluck (cq, srv, gpr_inf_future (GPR_CLOCK_REALTIME),
                                   NULL);
    }
  grpc_completion_queue_shutdown (cq);
  grpc_completion_queue_destroy (cq);
  for (int i = 0; i < srv->nworkers; i++)
    grpc_completion_queue_shutdown (srv->workers[i].cq);
  for (int i = 0; i < srv->nworkers; i++)
    if (srv->workers[i].started)
      pthread_join (srv->workers[i].thread, NULL);
  grpc_server_destroy (srv->server);
  for (int i = 0; i < srv->nworkers; i++)
    {
      if (!srv->workers[i].started)
        while (grpc_completion_queue_next (srv->workers[i].cq,
                                           gpr_inf_future (GPR_CLOCK_REALTIME),
                                           NULL)
                   .type
               != GRPC_QUEUE_SHUTDOWN)
          ;
      grpc_completion_queue_destroy (srv->workers[i].cq);
    }
  grpc_shutdown ();
  unlink (srv->path);
  free (srv->workers);
  free (srv->path);
  free (srv);
}
