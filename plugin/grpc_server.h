/* A gRPC server on grpc core, serving unary and server-streaming methods
 * over a unix socket with a pool of worker threads.
 *
 * The transport knows nothing about any service: each call's method path,
 * namespace metadata and raw request bytes go to one handler, which answers
 * through call->send (once for a unary method, any number of times for a
 * streaming one) and returns 0 for OK or -1 with an mp_error whose code
 * becomes the gRPC status.  A handler for an unknown method returns
 * MP_ERR_UNIMPLEMENTED. */
#ifndef MP_PLUGIN_GRPC_SERVER_H
#define MP_PLUGIN_GRPC_SERVER_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct mp_rpc_call mp_rpc_call;
struct mp_rpc_call
{
  const char *method; /* "/package.Service/Method" */
  const char *ns;     /* "containerd-namespace" metadata, "" if none */
  const uint8_t *request;
  size_t request_len;
  /* Send one response message. */
  int (*send) (mp_rpc_call *call, const ProtobufCMessage *msg, mp_error *err);
  void *transport;
};

typedef int (*mp_rpc_handler) (void *svc, mp_rpc_call *call, mp_error *err);

typedef struct mp_grpc_server mp_grpc_server;

/* Listen on the unix socket at PATH (parent directory created 0700 when
 * missing, socket 0660; a stale socket nobody answers on is replaced, a live
 * one is an error) and serve with WORKERS threads. */
mp_grpc_server *mp_grpc_server_start (const char *path, int workers,
                                      mp_rpc_handler handler, void *svc,
                                      mp_error *err);

/* Stop accepting calls, let running ones finish (cancelling them after a
 * grace period), join the workers, remove the socket and free. */
void mp_grpc_server_stop (mp_grpc_server *srv);

/* The gRPC status code for an error class. */
int mp_grpc_status_from_error (enum mp_errcode code);

#endif
