/* model_volume_prep: one timed Prepare-to-mount-ready for
 * bench/model_volume_bench.sh, without ctr's start-up in the figure.
 *
 *   model_volume_prep --address SOCK [--namespace NS] --snapshotter NAME
 *                     prepare KEY TARGET [PARENT]
 *   model_volume_prep ... view KEY TARGET PARENT
 *   model_volume_prep ... remove KEY
 *   model_volume_prep ... cleanup
 *
 * prepare/view: connect (not timed), then Prepare (or View) KEY through the
 * Snapshots API at SOCK and mount what it returns onto TARGET the way
 * containerd's mount.All does (integration/lib/mountutil), and print
 *
 *   prepare_ms mount_ms total_ms
 *
 * timed with CLOCK_MONOTONIC around the blocking call and the mount(2)
 * calls.  For an image-volume key (…/image-volumes/<id>/<manifest hex>) the
 * Prepare is when our snapshotter reads the manifest, unpacks, verifies and
 * merges the model, so this is "Prepare to mount-ready".  Every snapshot
 * gets containerd.io/gc.root so containerd's collector leaves it alone
 * until `remove`.
 *
 * remove: unmount TARGET's mounts is the caller's business; this removes
 * KEY.  cleanup: the Cleanup call (point SOCK at our daemon with an empty
 * --snapshotter to run the model cache's gc at once). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "integration/lib/mountutil.h"
#include "integration/lib/snapclient.h"
#include "plugin/grpc_client.h"
#include "util/error.h"

static double
now_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int
usage (void)
{
  fprintf (stderr,
           "usage: model_volume_prep --address SOCK [--namespace NS] "
           "--snapshotter NAME\n"
           "         prepare KEY TARGET [PARENT] | view KEY TARGET PARENT |\n"
           "         remove KEY | cleanup\n");
  return 2;
}

int
main (int argc, char **argv)
{
  const char *address = NULL, *ns = "default", *sn = NULL;
  static const struct option opts[]
      = { { "address", required_argument, NULL, 'a' },
          { "namespace", required_argument, NULL, 'n' },
          { "snapshotter", required_argument, NULL, 's' },
          { NULL, 0, NULL, 0 } };
  mp_grpc_client *g;
  snapclient *sc;
  mp_error err;
  const char *cmd;
  int c, rc;

  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        address = optarg;
        break;
      case 'n':
        ns = optarg;
        break;
      case 's':
        sn = optarg;
        break;
      default:
        return usage ();
      }
  if (address == NULL || sn == NULL || optind >= argc)
    return usage ();
  cmd = argv[optind++];

  g = mp_grpc_client_new (address, &err);
  if (g == NULL || mp_grpc_client_set_namespace (g, ns, &err) < 0
      || mp_grpc_client_wait_ready (g, 10000, &err) < 0
      || (sc = snapclient_new (g, sn, &err)) == NULL)
    {
      fprintf (stderr, "model_volume_prep: %s: %s\n", address, err.msg);
      return 1;
    }

  if (strcmp (cmd, "prepare") == 0 || strcmp (cmd, "view") == 0)
    {
      bool view = cmd[0] == 'v';
      const char *key, *target, *parent;
      snapclient_labels labels = { 0 };
      snapclient_mounts m = { 0 };
      double t0, t1, t2;

      if (argc - optind != 3 && (view || argc - optind != 2))
        return usage ();
      key = argv[optind];
      target = argv[optind + 1];
      parent = argc - optind == 3 ? argv[optind + 2] : NULL;
      if (snapclient_labels_set (&labels, "containerd.io/gc.root",
                                 "2025-01-01T00:00:00Z", &err)
          < 0)
        goto fail;
      t0 = now_ms ();
      rc = view ? snapclient_view (sc, key, parent, &labels, &m, &err)
                : snapclient_prepare (sc, key, parent, &labels, &m, &err);
      t1 = now_ms ();
      if (rc != 0)
        goto fail;
      if (mountutil_mount_all (m.v, m.n, target, &err) < 0)
        goto fail;
      t2 = now_ms ();
      printf ("%.1f %.1f %.1f\n", t1 - t0, t2 - t1, t2 - t0);
      snapclient_mounts_free (&m);
      snapclient_labels_free (&labels);
    }
  else if (strcmp (cmd, "remove") == 0)
    {
      if (argc - optind != 1)
        return usage ();
      if (snapclient_remove (sc, argv[optind], &err) != 0)
        goto fail;
    }
  else if (strcmp (cmd, "cleanup") == 0)
    {
      if (snapclient_cleanup (sc, &err) != 0)
        goto fail;
    }
  else
    return usage ();
  snapclient_free (sc);
  mp_grpc_client_free (g);
  return 0;

fail:
  fprintf (stderr, "model_volume_prep %s: %s\n", cmd, err.msg);
  return 1;
}
