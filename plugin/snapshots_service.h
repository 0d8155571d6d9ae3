/* containerd.services.snapshots.v1.Snapshots: decodes each request, calls
 * the snapshot engine, encodes the answer.  Transport-free (see
 * grpc_server.h), so the fuzzer can drive it with raw bytes. */
#ifndef MP_PLUGIN_SNAPSHOTS_SERVICE_H
#define MP_PLUGIN_SNAPSHOTS_SERVICE_H

#include "plugin/grpc_server.h"
#include "plugin/image_volume.h"
#include "plugin/metrics.h"
#include "snapshotter/snapshotter.h"

#define SNAPSHOTS_SERVICE_PREFIX "/containerd.services.snapshots.v1.Snapshots/"

typedef struct snapshots_service
{
  snapshotter *sn;
  image_volumes *iv;   /* NULL: image volumes of models are off */
  mp_metrics *metrics; /* NULL: metrics are off */
} snapshots_service;

/* mp_rpc_handler for the Snapshots service; SVC is a snapshots_service. */
int snapshots_service_handle (void *svc, mp_rpc_call *call, mp_error *err);

#endif
