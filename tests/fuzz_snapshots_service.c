/* Fuzz the Snapshots request decoder and the engine behind it: the first
 * byte picks a method (or an unknown one), the rest is the request body.
 * The store lives in a temp directory, recreated every few thousand inputs
 * so the disk does not fill. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/snapshots_service.h"
#include "util/fsutil.h"
#include "util/log.h"

static const char *const methods[]
    = { "Prepare", "View", "Mounts", "Commit",  "Remove", "Stat",
        "Update",  "List", "Usage",  "Cleanup", "Nope" };

static snapshots_service svc;
static char root[64];
static unsigned runs;

static int
discard (mp_rpc_call *call, const ProtobufCMessage *msg, mp_error *err)
{
  uint8_t *buf = malloc (protobuf_c_message_get_packed_size (msg) + 1);

  /* Packing every answer checks the encoder side as well. */
  if (buf)
    protobuf_c_message_pack (msg, buf);
  free (buf);
  return 0;
}

static void
reset (void)
{
  mp_error err;

  if (svc.sn)
    {
      snapshotter_close (svc.sn);
      mp_rmtree_at (AT_FDCWD, root, &err);
    }
  strcpy (root, "/tmp/mpfuzz-XXXXXX");
  if (mkdtemp (root) == NULL)
    abort ();
  svc.sn = snapshotter_open (root, &err);
  if (svc.sn == NULL)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char path[128];
  mp_rpc_call call = { 0 };
  mp_error err = { 0 };

  if (svc.sn == NULL)
    {
      mp_log_set_level (MP_LOG_ERROR);
      reset ();
    }
  if (++runs % 4096 == 0)
    reset ();
  if (size == 0)
    return 0;
  snprintf (path, sizeof path, SNAPSHOTS_SERVICE_PREFIX "%s",
            methods[data[0] % (sizeof methods / sizeof *methods)]);
  call.method = path;
  call.ns = "fuzz";
  call.request = data + 1;
  call.request_len = size - 1;
  call.send = discard;
  if (snapshots_service_handle (&svc, &call, &err) < 0 && err.code == MP_OK)
    abort (); /* a failure must say what kind it is */
  return 0;
}
