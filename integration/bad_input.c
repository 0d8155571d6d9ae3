/* Bad input over the real gRPC transport, straight at the daemon's socket:
 * each mistake a client can make gets the status containerd maps to the
 * right errdefs error, the daemon keeps serving, and the store is intact
 * afterwards.
 *
 * usage: bad_input --address SOCK
 * Prints "ok ..." / "FAIL ..." per check and "bad_input: N passed, N
 * failed" last. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin/grpc_client.h"
#include "integration/lib/snapclient.h"
#include "snapshots/snapshots.pb-c.h"

#define SVC "/containerd.services.snapshots.v1.Snapshots/"

static int passed, failed;

static void
expect (const char *what, int got, int want, const mp_error *err)
{
  if (got == want)
    {
      passed++;
      printf ("ok %s -> %s\n", what, mp_grpc_code_name (want));
      return;
    }
  failed++;
  printf ("FAIL %s: got %s (%s), want %s\n", what, mp_grpc_code_name (got),
          err ? err->msg : "", mp_grpc_code_name (want));
}

int
main (int argc, char **argv)
{
  const char *address = NULL;
  mp_grpc_client *g;
  snapclient *sc;
  mp_error err = { 0 };
  char base[64], child[64], active[64], tag[32];
  int rc;

  for (int i = 1; i + 1 < argc; i++)
    if (strcmp (argv[i], "--address") == 0)
      address = argv[i + 1];
  if (address == NULL)
    {
      fprintf (stderr, "usage: bad_input --address SOCK\n");
      return 2;
    }
  g = mp_grpc_client_new (address, &err);
  if (g == NULL || mp_grpc_client_wait_ready (g, 10000, &err) != 0)
    {
      fprintf (stderr, "connect %s: %s\n", address, err.msg);
      return 2;
    }
  mp_grpc_client_set_timeout_ms (g, 10000);
  sc = snapclient_new (g, "", &err);
  snprintf (tag, sizeof tag, "%ld", (long)time (NULL));
  snprintf (base, sizeof base, "bad-base-%s", tag);
  snprintf (child, sizeof child, "bad-child-%s", tag);
  snprintf (active, sizeof active, "bad-active-%s", tag);

  /* a small committed chain to be wrong about */
  rc = snapclient_prepare (sc, active, "", NULL, NULL, &err);
  expect ("prepare a fresh key", rc, MP_GRPC_OK, &err);
  rc = snapclient_commit (sc, base, active, NULL, NULL, &err);
  expect ("commit it", rc, MP_GRPC_OK, &err);
  rc = snapclient_prepare (sc, child, base, NULL, NULL, &err);
  expect ("prepare a child", rc, MP_GRPC_OK, &err);

  {
    snapclient_info info = { 0 };

    rc = snapclient_stat (sc, "no-such-key", &info, &err);
    expect ("stat of an unknown key", rc, MP_GRPC_NOT_FOUND, &err);
    snapclient_info_free (&info);
  }
  /* A key full of terminal controls: the status details name it escaped,
   * so containerd's and kubelet's messages carry no raw control. */
  {
    snapclient_info info = { 0 };
    bool clean = true;

    rc = snapclient_stat (sc, "no-such-\033]0;x\007\nkey\xc2\x9b", &info, &err);
    expect ("stat of an unknown key named with control characters", rc,
            MP_GRPC_NOT_FOUND, &err);
    for (const unsigned char *p = (const unsigned char *)err.msg; *p; p++)
      if (*p < 0x20 || *p == 0x7f
          || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
        clean = false;
    if (clean
        && strstr (err.msg, "no-such-\\x1b]0;x\\x07\\nkey\\xc2\\x9b") != NULL)
      {
        passed++;
        printf ("ok the status details name the key escaped\n");
      }
    else
      {
        failed++;
        printf ("FAIL the status details name the key escaped: %s\n", err.msg);
      }
    snapclient_info_free (&info);
  }
  rc = snapclient_get_mounts (sc, "no-such-key", NULL, &err);
  expect ("mounts of an unknown key", rc, MP_GRPC_NOT_FOUND, &err);
  rc = snapclient_remove (sc, "no-such-key", &err);
  expect ("remove of an unknown key", rc, MP_GRPC_NOT_FOUND, &err);
  rc = snapclient_commit (sc, "x", "no-such-key", NULL, NULL, &err);
  expect ("commit of an unknown key", rc, MP_GRPC_NOT_FOUND, &err);
  rc = snapclient_prepare (sc, child, "", NULL, NULL, &err);
  expect ("prepare with a used key", rc, MP_GRPC_ALREADY_EXISTS, &err);
  rc = snapclient_view (sc, base, "", NULL, NULL, &err);
  expect ("view with a used key", rc, MP_GRPC_ALREADY_EXISTS, &err);
  rc = snapclient_prepare (sc, "bad-orphan", "no-such-parent", NULL, NULL,
                           &err);
  expect ("prepare on a missing parent", rc, MP_GRPC_NOT_FOUND, &err);
  rc = snapclient_prepare (sc, "bad-on-active", child, NULL, NULL, &err);
  expect ("prepare on an active parent", rc, MP_GRPC_INVALID_ARGUMENT, &err);
  rc = snapclient_prepare (sc, "", "", NULL, NULL, &err);
  expect ("prepare with an empty key", rc, MP_GRPC_INVALID_ARGUMENT, &err);
  rc = snapclient_remove (sc, base, &err);
  expect ("remove with children", rc, MP_GRPC_FAILED_PRECONDITION, &err);
  rc = snapclient_commit (sc, "bad-recommit", base, NULL, NULL, &err);
  expect ("commit of a committed snapshot", rc, MP_GRPC_FAILED_PRECONDITION,
          &err);
  {
    snapclient_info info = { 0 };
    const char *paths[] = { "parent" };

    info.name = base;
    info.parent = "";
    rc = snapclient_update (sc, &info, paths, 1, NULL, &err);
    expect ("update of the parent field", rc, MP_GRPC_INVALID_ARGUMENT, &err);
  }
  {
    const char *filters[] = { "labels.\"unterminated" };

    rc = snapclient_list (sc, filters, 1, NULL, NULL, &err);
    expect ("list with a malformed filter", rc, MP_GRPC_INVALID_ARGUMENT, &err);
  }

  /* A well-formed message of another type whose field 1 is a varint: the
   * Snapshots request has a string there, so the bytes are not a valid
   * request. */
  {
    Containerd__Services__Snapshots__V1__UsageResponse wrong
        = CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_RESPONSE__INIT;
    ProtobufCMessage *resp = NULL;

    wrong.size = 42;
    rc = mp_grpc_client_unary (
        g, SVC "Prepare", &wrong.base,
        &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor,
        &resp, &err);
    expect ("malformed protobuf", rc, MP_GRPC_INVALID_ARGUMENT, &err);
    rc = mp_grpc_client_unary (
        g, SVC "Frobnicate", &wrong.base,
        &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor,
        &resp, &err);
    expect ("unknown method", rc, MP_GRPC_UNIMPLEMENTED, &err);
    rc = mp_grpc_client_unary (
        g, "/containerd.services.content.v1.Content/Info", &wrong.base,
        &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor,
        &resp, &err);
    expect ("unknown service", rc, MP_GRPC_UNIMPLEMENTED, &err);
  }

  /* Still serving, and nothing was disturbed by the failures. */
  {
    snapclient_info info = { 0 };

    rc = snapclient_stat (sc, base, &info, &err);
    expect ("the committed snapshot is intact", rc, MP_GRPC_OK, &err);
    if (rc == 0
        && (info.kind != SNAPCLIENT_KIND_COMMITTED || info.parent[0] != '\0'))
      expect ("the committed snapshot kept kind and parent", 1, 0, NULL);
    snapclient_info_free (&info);
  }
  rc = snapclient_remove (sc, child, &err);
  expect ("remove the child", rc, MP_GRPC_OK, &err);
  rc = snapclient_remove (sc, base, &err);
  expect ("then remove the base", rc, MP_GRPC_OK, &err);

  snapclient_free (sc);
  mp_grpc_client_free (g);
  printf ("bad_input: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
