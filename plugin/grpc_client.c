/* Blocking gRPC client calls on grpc core.  See grpc_client.h. */
#include "plugin/grpc_client.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

struct mp_grpc_client
{
  grpc_channel *channel;
  char *socket_path;
  char *ns;    /* NULL: no namespace metadata */
  char *lease; /* NULL: no lease metadata */
  int64_t timeout_ms;
  bool wait_for_ready;
};

static const char *const code_names[] = {
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
};

const char *
mp_grpc_code_name (int code)
{
  if (code >= 0 && (size_t)code < sizeof code_names / sizeof code_names[0])
    return code_names[code];
  return "UnrecognizedCode";
}

enum mp_errcode
mp_grpc_code_to_errcode (int code)
{
  switch (code)
    {
    case MP_GRPC_OK:
      return MP_OK;
    case MP_GRPC_NOT_FOUND:
      return MP_ERR_NOT_FOUND;
    case MP_GRPC_ALREADY_EXISTS:
      return MP_ERR_ALREADY_EXISTS;
    case MP_GRPC_FAILED_PRECONDITION:
      return MP_ERR_FAILED_PRECONDITION;
    case MP_GRPC_INVALID_ARGUMENT:
      return MP_ERR_INVALID_ARGUMENT;
    case MP_GRPC_UNIMPLEMENTED:
      return MP_ERR_UNIMPLEMENTED;
    case MP_GRPC_UNAVAILABLE:
      return MP_ERR_UNAVAILABLE;
    default:
      return MP_ERR_INTERNAL;
    }
}

mp_grpc_client *
mp_grpc_client_new (const char *socket_path, mp_error *err)
{
  if (socket_path == NULL || *socket_path == '\0')
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "no socket path given");
      return NULL;
    }

  cleanup_free mp_grpc_client *c = calloc (1, sizeof *c);
  cleanup_free char *target = NULL;
  if (c == NULL || asprintf (&target, "unix:%s", socket_path) < 0)
    {
      mp_error_sys (err, ENOMEM, "grpc client for %s", socket_path);
      return NULL;
    }
  c->socket_path = strdup (socket_path);
  if (c->socket_path == NULL)
    {
      mp_error_sys (err, ENOMEM, "grpc client for %s", socket_path);
      return NULL;
    }

  /* List answers for a big snapshotter can exceed grpc's 4 MiB default. */
  grpc_arg args[] = {
    { .type = GRPC_ARG_INTEGER,
      .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
      .value.integer = -1 },
  };
  grpc_channel_args chargs = { .num_args = 1, .args = args };

  grpc_init ();
  grpc_channel_credentials *creds = grpc_insecure_credentials_create ();
  c->channel = grpc_channel_create (target, creds, &chargs);
  grpc_channel_credentials_release (creds);
  if (c->channel == NULL)
    {
      free (c->socket_path);
      grpc_shutdown ();
      mp_error_set (err, MP_ERR_INTERNAL, "cannot create a channel to %s",
                    target);
      return NULL;
    }
  return steal_pointer (&c);
}

void
mp_grpc_client_free (mp_grpc_client *c)
{
  if (c == NULL)
    return;
  grpc_channel_destroy (c->channel);
  free (c->socket_path);
  free (c->ns);
  free (c->lease);
  free (c);
  grpc_shutdown ();
}

/* *SLOT = a copy of VALUE, or NULL for NULL or "" (no metadata). */
static int
set_metadata (char **slot, const char *value, const char *what, mp_error *err)
{
  char *copy = NULL;

  if (value != NULL && *value != '\0')
    {
      copy = strdup (value);
      if (copy == NULL)
        return mp_error_sys (err, ENOMEM, "set %s", what);
    }
  free (*slot);
  *slot = copy;
  return 0;
}

int
mp_grpc_client_set_namespace (mp_grpc_client *c, const char *ns, mp_error *err)
{
  return set_metadata (&c->ns, ns, "namespace", err);
}

int
mp_grpc_client_set_lease (mp_grpc_client *c, const char *lease, mp_error *err)
{
  return set_metadata (&c->lease, lease, "lease", err);
}

const char *
mp_grpc_client_namespace (const mp_grpc_client *c)
{
  return c->ns != NULL ? c->ns : "";
}

void
mp_grpc_client_set_timeout_ms (mp_grpc_client *c, int64_t timeout_ms)
{
  c->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

void
mp_grpc_client_set_wait_for_ready (mp_grpc_client *c, bool on)
{
  c->wait_for_ready = on;
}

static gpr_timespec
deadline_after (int64_t ms)
{
  if (ms <= 0)
    return gpr_inf_future (GPR_CLOCK_REALTIME);
  return gpr_time_add (gpr_now (GPR_CLOCK_MONOTONIC),
                       gpr_time_from_millis (ms, GPR_TIMESPAN));
}

/* Drain and destroy a completion queue.  Every batch this file starts is
 * waited for before the next one, so nothing but the shutdown is left. */
static void
cq_destroy (grpc_completion_queue *cq)
{
  grpc_completion_queue_shutdown (cq);
  while (
      grpc_completion_queue_next (cq, gpr_inf_future (GPR_CLOCK_REALTIME), NULL)
          .type
      != GRPC_QUEUE_SHUTDOWN)
    ;
  grpc_completion_queue_destroy (cq);
}

int
mp_grpc_client_wait_ready (mp_grpc_client *c, int64_t timeout_ms, mp_error *err)
{
  gpr_timespec deadline = deadline_after (timeout_ms > 0 ? timeout_ms : 1);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next (NULL);
  grpc_connectivity_state state
      = grpc_channel_check_connectivity_state (c->channel, 1);
  while (state != GRPC_CHANNEL_READY)
    {
      if (state == GRPC_CHANNEL_SHUTDOWN)
        break;
      /* A failed attempt leaves the channel in TRANSIENT_FAILURE until its
       * backoff expires; asking again makes it retry. */
      grpc_channel_watch_connectivity_state (c->channel, state, deadline, cq,
                                             NULL);
      grpc_event ev = grpc_completion_queue_next (
          cq, gpr_inf_future (GPR_CLOCK_REALTIME), NULL);
      if (ev.type != GRPC_OP_COMPLETE || !ev.success)
        break;
      state = grpc_channel_check_connectivity_state (c->channel, 1);
    }
  cq_destroy (cq);
  if (state != GRPC_CHANNEL_READY)
    return mp_error_set (err, MP_ERR_UNAVAILABLE,
                         "%s: no gRPC server ready within %lld ms",
                         c->socket_path, (long long)timeout_ms);
  return 0;
}

/* One call in flight: the pieces every batch of it shares. */
typedef struct call_state
{
  mp_grpc_client *client;
  const char *method;
  grpc_completion_queue *cq;
  grpc_call *call;
  grpc_metadata md[2]; /* namespace, lease */
  size_t nmd;
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_status_code status;
  grpc_slice details;
  grpc_byte_buffer *request;
} call_state;

static grpc_byte_buffer *
pack_message (const ProtobufCMessage *msg)
{
  size_t len = protobuf_c_message_get_packed_size (msg);
  grpc_slice payload = grpc_slice_malloc (len);
  grpc_byte_buffer *bb;

  protobuf_c_message_pack (msg, GRPC_SLICE_START_PTR (payload));
  bb = grpc_raw_byte_buffer_create (&payload, 1);
  grpc_slice_unref (payload);
  return bb;
}

static int
call_open (call_state *st, mp_grpc_client *c, const char *method,
           const ProtobufCMessage *req, mp_error *err)
{
  memset (st, 0, sizeof *st);
  st->client = c;
  st->method = method;
  st->details = grpc_empty_slice ();
  grpc_metadata_array_init (&st->initial_md);
  grpc_metadata_array_init (&st->trailing_md);

  if (req != NULL)
    st->request = pack_message (req);

  if (c->ns != NULL)
    {
      st->md[st->nmd].key
          = grpc_slice_from_static_string ("containerd-namespace");
      st->md[st->nmd++].value = grpc_slice_from_copied_string (c->ns);
    }
  if (c->lease != NULL)
    {
      st->md[st->nmd].key = grpc_slice_from_static_string ("containerd-lease");
      st->md[st->nmd++].value = grpc_slice_from_copied_string (c->lease);
    }

  st->cq = grpc_completion_queue_create_for_next (NULL);
  grpc_slice method_slice = grpc_slice_from_static_string (method);
  st->call = grpc_channel_create_call (
      c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, st->cq, method_slice, NULL,
      deadline_after (c->timeout_ms), NULL);
  if (st->call == NULL)
    return mp_error_set (err, MP_ERR_INTERNAL, "%s: cannot create call",
                         method);
  return 0;
}

static void
call_close (call_state *st)
{
  if (st->call != NULL)
    grpc_call_unref (st->call);
  if (st->cq != NULL)
    cq_destroy (st->cq);
  if (st->request != NULL)
    grpc_byte_buffer_destroy (st->request);
  for (size_t i = 0; i < st->nmd; i++)
    grpc_slice_unref (st->md[i].value);
  grpc_metadata_array_destroy (&st->initial_md);
  grpc_metadata_array_destroy (&st->trailing_md);
  grpc_slice_unref (st->details);
}

/* Start one batch and wait for it.  Returns the batch's success flag, or -1
 * when grpc refused the batch. */
static int
call_batch (call_state *st, const grpc_op *ops, size_t nops, mp_error *err)
{
  grpc_call_error rc = grpc_call_start_batch (st->call, ops, nops, st, NULL);
  if (rc != GRPC_CALL_OK)
    return mp_error_set (err, MP_ERR_INTERNAL,
                         "%s: grpc_call_start_batch failed (%d)", st->method,
                         (int)rc);
  grpc_event ev = grpc_completion_queue_next (
      st->cq, gpr_inf_future (GPR_CLOCK_REALTIME), NULL);
  if (ev.type != GRPC_OP_COMPLETE || ev.tag != st)
    return mp_error_set (err, MP_ERR_INTERNAL,
                         "%s: unexpected completion queue event %d", st->method,
                         (int)ev.type);
  return ev.success ? 1 : 0;
}

/* The ops that open a call: headers (with the namespace), the request, the
 * end of the client's half.  Returns how many were written to OPS. */
static size_t
fill_send_ops (call_state *st, grpc_op *ops)
{
  memset (ops, 0, 3 * sizeof *ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (st->nmd > 0)
    {
      ops[0].data.send_initial_metadata.count = st->nmd;
      ops[0].data.send_initial_metadata.metadata = st->md;
    }
  if (st->client->wait_for_ready)
    ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY
                   | GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = st->request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  return 3;
}

static void
fill_recv_status_op (call_state *st, grpc_op *op)
{
  memset (op, 0, sizeof *op);
  op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  op->data.recv_status_on_client.trailing_metadata = &st->trailing_md;
  op->data.recv_status_on_client.status = &st->status;
  op->data.recv_status_on_client.status_details = &st->details;
}

/* Turn the received status into the return value and *err. */
static int
call_result (call_state *st, mp_error *err)
{
  if (st->status == GRPC_STATUS_OK)
    return 0;
  char *msg = grpc_slice_to_c_string (st->details);
  mp_error_set (err, mp_grpc_code_to_errcode (st->status), "%s: %s: %s",
                st->method, mp_grpc_code_name (st->status), msg);
  gpr_free (msg);
  return (int)st->status;
}

static ProtobufCMessage *
decode (call_state *st, grpc_byte_buffer *bb,
        const ProtobufCMessageDescriptor *desc, mp_error *err)
{
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init (&reader, bb))
    {
      mp_error_set (err, MP_ERR_INTERNAL, "%s: cannot read response",
                    st->method);
      return NULL;
    }
  grpc_slice all = grpc_byte_buffer_reader_readall (&reader);
  grpc_byte_buffer_reader_destroy (&reader);
  ProtobufCMessage *msg = protobuf_c_message_unpack (
      desc, NULL, GRPC_SLICE_LENGTH (all), GRPC_SLICE_START_PTR (all));
  grpc_slice_unref (all);
  if (msg == NULL)
    mp_error_set (err, MP_ERR_INTERNAL, "%s: response is not a valid %s",
                  st->method, desc->name);
  return msg;
}

int
mp_grpc_client_unary (mp_grpc_client *c, const char *method,
                      const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc,
                      ProtobufCMessage **resp, mp_error *err)
{
  *resp = NULL;
  call_state st;
  int ret = call_open (&st, c, method, req, err);
  if (ret == 0)
    {
      grpc_byte_buffer *recv = NULL;
      grpc_op ops[6];
      size_t n = fill_send_ops (&st, ops);
      memset (&ops[n], 0, 2 * sizeof ops[0]);
      ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
      ops[n].data.recv_initial_metadata.recv_initial_metadata = &st.initial_md;
      n++;
      ops[n].op = GRPC_OP_RECV_MESSAGE;
      ops[n].data.recv_message.recv_message = &recv;
      n++;
      fill_recv_status_op (&st, &ops[n++]);

      ret = call_batch (&st, ops, n, err);
      if (ret >= 0)
        {
          ret = call_result (&st, err);
          if (ret == 0 && recv == NULL)
            ret = mp_error_set (err, MP_ERR_INTERNAL,
                                "%s: OK status without a response", method);
          else if (ret == 0)
            {
              *resp = decode (&st, recv, resp_desc, err);
              if (*resp == NULL)
                ret = -1;
            }
        }
      if (recv != NULL)
        grpc_byte_buffer_destroy (recv);
    }
  call_close (&st);
  return ret;
}

int
mp_grpc_client_server_stream (mp_grpc_client *c, const char *method,
                              const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *resp_desc,
                              mp_grpc_stream_fn fn, void *opaque, mp_error *err)
{
  call_state st;
  int ret = call_open (&st, c, method, req, err);
  if (ret < 0)
    {
      call_close (&st);
      return ret;
    }

  grpc_op ops[4];
  size_t n = fill_send_ops (&st, ops);
  memset (&ops[n], 0, sizeof ops[0]);
  ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[n].data.recv_initial_metadata.recv_initial_metadata = &st.initial_md;
  n++;
  /* A failed send batch means the call is over; the status says why. */
  ret = call_batch (&st, ops, n, err);
  bool failed = ret < 0;
  int cb_ret = 0;

  while (!failed && ret == 1)
    {
      grpc_byte_buffer *recv = NULL;
      grpc_op op;
      memset (&op, 0, sizeof op);
      op.op = GRPC_OP_RECV_MESSAGE;
      op.data.recv_message.recv_message = &recv;
      ret = call_batch (&st, &op, 1, err);
      if (ret < 0)
        failed = true;
      if (ret != 1 || recv == NULL)
        break; /* end of stream, or the call failed */

      ProtobufCMessage *msg = decode (&st, recv, resp_desc, err);
      grpc_byte_buffer_destroy (recv);
      if (msg == NULL)
        cb_ret = -1;
      else
        {
          cb_ret = fn (msg, opaque, err);
          protobuf_c_message_free_unpacked (msg, NULL);
        }
      if (cb_ret != 0)
        {
          /* Stop the server's stream; the status then only confirms it. */
          grpc_call_cancel (st.call, NULL);
          break;
        }
    }

  if (!failed)
    {
      grpc_op op;
      fill_recv_status_op (&st, &op);
      mp_error status_err;
      ret = call_batch (&st, &op, 1, cb_ret != 0 ? &status_err : err);
      if (ret >= 0 && cb_ret == 0)
        ret = call_result (&st, err);
    }
  if (cb_ret != 0)
    ret = -1;
  call_close (&st);
  return ret;
}

/* ---- bidirectional streams, in lock step -------------------------------- */

struct mp_grpc_stream
{
  call_state st;
  bool got_headers;
  bool ended; /* the server closed its half: only the status is left */
};

int
mp_grpc_stream_open (mp_grpc_client *c, const char *method,
                     mp_grpc_stream **out, mp_error *err)
{
  mp_grpc_stream *s = calloc (1, sizeof *s);
  grpc_op op;
  int ret;

  *out = NULL;
  if (s == NULL)
    return mp_error_sys (err, ENOMEM, "%s", method);
  if (call_open (&s->st, c, method, NULL, err) < 0)
    {
      call_close (&s->st);
      free (s);
      return -1;
    }
  memset (&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_INITIAL_METADATA;
  if (s->st.nmd > 0)
    {
      op.data.send_initial_metadata.count = s->st.nmd;
      op.data.send_initial_metadata.metadata = s->st.md;
    }
  if (c->wait_for_ready)
    op.flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY
               | GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
  ret = call_batch (&s->st, &op, 1, err);
  if (ret < 0)
    {
      call_close (&s->st);
      free (s);
      return -1;
    }
  *out = s;
  return 0;
}

/* The call's status once the server has ended it. */
static int
stream_status (mp_grpc_stream *s, mp_error *err)
{
  grpc_op ops[2];
  size_t n = 0;
  int ret;

  memset (ops, 0, sizeof ops);
  if (!s->got_headers)
    {
      ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
      ops[n++].data.recv_initial_metadata.recv_initial_metadata
          = &s->st.initial_md;
      s->got_headers = true;
    }
  fill_recv_status_op (&s->st, &ops[n++]);
  ret = call_batch (&s->st, ops, n, err);
  if (ret < 0)
    return -1;
  ret = call_result (&s->st, err);
  if (ret == 0)
    ret = mp_error_set (err, MP_ERR_INTERNAL,
                        "%s: the stream ended without an answer", s->st.method);
  return ret;
}

int
mp_grpc_stream_exchange (mp_grpc_stream *s, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *resp_desc,
                         ProtobufCMessage **resp, mp_error *err)
{
  grpc_byte_buffer *send = pack_message (req), *recv = NULL;
  grpc_op ops[3];
  size_t n = 0;
  int ret;

  *resp = NULL;
  memset (ops, 0, sizeof ops);
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n++].data.send_message.send_message = send;
  if (!s->got_headers)
    {
      ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
      ops[n++].data.recv_initial_metadata.recv_initial_metadata
          = &s->st.initial_md;
      s->got_headers = true;
    }
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n++].data.recv_message.recv_message = &recv;
  ret = call_batch (&s->st, ops, n, err);
  grpc_byte_buffer_destroy (send);
  if (ret < 0)
    return -1;
  if (recv == NULL)
    {
      /* The server ended the call: its status says why. */
      s->ended = true;
      return stream_status (s, err);
    }
  *resp = decode (&s->st, recv, resp_desc, err);
  grpc_byte_buffer_destroy (recv);
  return *resp == NULL ? -1 : 0;
}

int
mp_grpc_stream_close (mp_grpc_stream *s, mp_error *err)
{
  int ret = 0;

  if (s == NULL)
    return 0;
  if (!s->ended)
    {
      grpc_op ops[4];
      grpc_byte_buffer *rest = NULL;
      size_t n = 0;

      /* The status arrives only once the server's messages are drained:
       * read to the end of its stream in the same batch. */
      memset (ops, 0, sizeof ops);
      ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
      if (!s->got_headers)
        {
          ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
          ops[n++].data.recv_initial_metadata.recv_initial_metadata
              = &s->st.initial_md;
        }
      ops[n].op = GRPC_OP_RECV_MESSAGE;
      ops[n++].data.recv_message.recv_message = &rest;
      fill_recv_status_op (&s->st, &ops[n++]);
      ret = call_batch (&s->st, ops, n, err);
      if (rest != NULL)
        grpc_byte_buffer_destroy (rest);
      if (ret >= 0)
        ret = call_result (&s->st, err);
    }
  call_close (&s->st);
  free (s);
  return ret;
}

void
mp_grpc_stream_cancel (mp_grpc_stream *s)
{
  if (s == NULL)
    return;
  if (!s->ended)
    {
      mp_error ignored;
      grpc_call_cancel (s->st.call, NULL);
      s->ended = true;
      {
        grpc_op op;
        fill_recv_status_op (&s->st, &op);
        call_batch (&s->st, &op, 1, &ignored);
      }
    }
  call_close (&s->st);
  free (s);
}
