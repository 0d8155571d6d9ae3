/* A small gRPC client on grpc core.  The daemon reads containerd's content
 * service through it; the integration programs (conformance driver,
 * benchmark, crash test, CRI client) talk to containerd's socket or straight
 * to our daemon through it.
 *
 * One client is one channel to a unix socket.  Calls are blocking; each runs
 * on its own completion queue, so several threads may call through the same
 * client at once, and a call may be made from inside a streaming callback
 * (the conformance suite stats snapshots while a List stream is open).
 * Setters are not synchronised with calls: configure a client before sharing
 * it between threads.
 *
 * Every call returns 0 when the server answered OK, the grpc_status_code
 * (> 0) the call ended with otherwise — whether the server sent it or grpc
 * core produced it locally (UNAVAILABLE when nobody listens,
 * DEADLINE_EXCEEDED) — or -1 for a local failure such as a response that
 * does not decode.  On any non-zero return *err holds a one-line message and
 * an mp_errcode mapped from the status, so callers can branch either on the
 * exact gRPC code or on the error class. */
#ifndef MP_PLUGIN_GRPC_CLIENT_H
#define MP_PLUGIN_GRPC_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

/* The gRPC status codes callers compare against, spelled as on the wire so
 * this header does not drag grpc's headers into every program. */
enum mp_grpc_code
{
  MP_GRPC_OK = 0,
  MP_GRPC_CANCELLED = 1,
  MP_GRPC_UNKNOWN = 2,
  MP_GRPC_INVALID_ARGUMENT = 3,
  MP_GRPC_DEADLINE_EXCEEDED = 4,
  MP_GRPC_NOT_FOUND = 5,
  MP_GRPC_ALREADY_EXISTS = 6,
  MP_GRPC_PERMISSION_DENIED = 7,
  MP_GRPC_RESOURCE_EXHAUSTED = 8,
  MP_GRPC_FAILED_PRECONDITION = 9,
  MP_GRPC_ABORTED = 10,
  MP_GRPC_OUT_OF_RANGE = 11,
  MP_GRPC_UNIMPLEMENTED = 12,
  MP_GRPC_INTERNAL = 13,
  MP_GRPC_UNAVAILABLE = 14,
  MP_GRPC_DATA_LOSS = 15,
  MP_GRPC_UNAUTHENTICATED = 16,
};

typedef struct mp_grpc_client mp_grpc_client;

/* Called once per message of a server stream, with the decoded message
 * (freed by the client after the callback returns).  Returning -1 with *err
 * set cancels the stream, and the call returns -1 with that error. */
typedef int (*mp_grpc_stream_fn) (const ProtobufCMessage *msg, void *opaque,
                                  mp_error *err);

/* A client for the unix socket at SOCKET_PATH.  Connecting is lazy: this
 * fails only on bad arguments; use mp_grpc_client_wait_ready to wait for the
 * server. */
mp_grpc_client *mp_grpc_client_new (const char *socket_path, mp_error *err);

/* Close the channel (cancelling nothing: calls must have returned) and free.
 * NULL is allowed. */
void mp_grpc_client_free (mp_grpc_client *c);

/* Send "containerd-namespace: NS" with every call; NULL or "" sends none. */
int mp_grpc_client_set_namespace (mp_grpc_client *c, const char *ns,
                                  mp_error *err);
/* Send "containerd-lease: ID" with every call; NULL or "" sends none. */
int mp_grpc_client_set_lease (mp_grpc_client *c, const char *lease,
                              mp_error *err);
const char *mp_grpc_client_namespace (const mp_grpc_client *c);

/* Per-call deadline in milliseconds; 0 (the default) means none. */
void mp_grpc_client_set_timeout_ms (mp_grpc_client *c, int64_t timeout_ms);

/* Whether calls wait for the socket to accept connections (until the
 * deadline) instead of failing at once with UNAVAILABLE.  Off by default;
 * the crash test turns it on to ride over a daemon restart. */
void mp_grpc_client_set_wait_for_ready (mp_grpc_client *c, bool on);

/* Connect now and wait up to TIMEOUT_MS for the channel to be ready. */
int mp_grpc_client_wait_ready (mp_grpc_client *c, int64_t timeout_ms,
                               mp_error *err);

/* Unary call of METHOD ("/package.Service/Method").  On 0, *resp is the
 * decoded response, to free with protobuf_c_message_free_unpacked (resp,
 * NULL); otherwise *resp is NULL. */
int mp_grpc_client_unary (mp_grpc_client *c, const char *method,
                          const ProtobufCMessage *req,
                          const ProtobufCMessageDescriptor *resp_desc,
                          ProtobufCMessage **resp, mp_error *err);

/* Server-streaming call of METHOD: FN sees every response message in order.
 * The return value covers the whole stream, as for a unary call. */
int mp_grpc_client_server_stream (mp_grpc_client *c, const char *method,
                                  const ProtobufCMessage *req,
                                  const ProtobufCMessageDescriptor *resp_desc,
                                  mp_grpc_stream_fn fn, void *opaque,
                                  mp_error *err);

/* A bidirectional stream used in lock step (containerd's Content Write):
 * each exchange sends one message and waits for the server's answer.
 * Returns as a unary call does: 0, a status code when the server ended the
 * call instead of answering, or -1 for a local failure. */
typedef struct mp_grpc_stream mp_grpc_stream;
int mp_grpc_stream_open (mp_grpc_client *c, const char *method,
                         mp_grpc_stream **out, mp_error *err);
int mp_grpc_stream_exchange (mp_grpc_stream *s, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *resp_desc,
                             ProtobufCMessage **resp, mp_error *err);
/* Half-close, read the status and free: 0 or the status code. */
int mp_grpc_stream_close (mp_grpc_stream *s, mp_error *err);
/* Abandon the call and free. */
void mp_grpc_stream_cancel (mp_grpc_stream *s);

/* "NotFound", "AlreadyExists", ... as gRPC spells the code;
 * "UnrecognizedCode" for anything else. */
const char *mp_grpc_code_name (int code);

/* The error class a gRPC status code stands for (the inverse of the
 * server's mp_grpc_status_from_error, plus the codes only grpc produces). */
enum mp_errcode mp_grpc_code_to_errcode (int code);

#endif
