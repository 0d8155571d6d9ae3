/* modelpack-snapshotter: the containerd proxy snapshotter daemon. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin/config.h"
#include "plugin/crio_sync.h"
#include "store/cache.h"
#include "plugin/grpc_server.h"
#include "plugin/image_volume.h"
#include "plugin/metrics_http.h"
#include "plugin/snapshots_service.h"
#include "snapshotter/snapshotter.h"
#include "util/escape.h"
#include "util/log.h"

#ifndef MP_VERSION
#define MP_VERSION "0.1.0"
#endif

static void
usage (FILE *out)
{
  fprintf (out,
           "usage: modelpack-snapshotter [options]\n"
           "\n"
           "A containerd proxy snapshotter that serves container root "
           "filesystems and\n"
           "mounts ModelPack models. Register it in containerd's config as\n"
           "[proxy_plugins.modelpack] type = \"snapshot\" address = "
           "\"<socket>\".\n"
           "\n"
           "options:\n"
           "  --config FILE      configuration file (default %s)\n"
           "  --root DIR         state directory (default %s)\n"
           "  --address PATH     unix socket to serve on (default %s)\n"
           "  --log-level LEVEL  error, warn, info or debug (default info)\n"
           "  --workers N        gRPC worker threads (default 8)\n"
           "  --containerd-root DIR  containerd's root, whose content store "
           "holds model\n"
           "                     blobs (default %s)\n"
           "  --containerd-address PATH  containerd's socket, to read blobs "
           "through its\n"
           "                     content API when they are not on disk "
           "(default %s)\n"
           "  --version          print the version and exit\n"
           "  --help             print this help and exit\n",
           MP_DEFAULT_CONFIG, MP_DEFAULT_ROOT, MP_DEFAULT_ADDRESS,
           MP_DEFAULT_CONTAINERD_ROOT, MP_DEFAULT_CONTAINERD_ADDRESS);
}

/* Messages and values from the config file and the command line are
 * escaped (util/escape.h) before they reach the terminal. */
static int
fail (const char *what, const mp_error *err)
{
  /* Names in library messages are escaped there already (model_quote). */
  char *msg = mp_escape_str (err->msg, MP_ESCAPE_KEEP_BACKSLASH);

  fprintf (stderr, "modelpack-snapshotter: %s%s%s\n", what, what[0] ? ": " : "",
           msg != NULL ? msg : "");
  free (msg);
  return 1;
}

int
main (int argc, char **argv)
{
  enum
  {
    OPT_CONFIG = 1,
    OPT_ROOT,
    OPT_ADDRESS,
    OPT_LOG_LEVEL,
    OPT_WORKERS,
    OPT_CONTAINERD_ROOT,
    OPT_CONTAINERD_ADDRESS,
    OPT_VERSION,
    OPT_HELP
  };
  static const struct option opts[]
      = { { "config", required_argument, NULL, OPT_CONFIG },
          { "root", required_argument, NULL, OPT_ROOT },
          { "address", required_argument, NULL, OPT_ADDRESS },
          { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
          { "workers", required_argument, NULL, OPT_WORKERS },
          { "containerd-root", required_argument, NULL, OPT_CONTAINERD_ROOT },
          { "containerd-address", required_argument, NULL,
            OPT_CONTAINERD_ADDRESS },
          { "version", no_argument, NULL, OPT_VERSION },
          { "help", no_argument, NULL, OPT_HELP },
          { NULL, 0, NULL, 0 } };
  const char *config_path = MP_DEFAULT_CONFIG, *root = NULL, *address = NULL,
             *log_level = NULL, *containerd_root = NULL,
             *containerd_address = NULL;
  bool config_given = false;
  long workers = 0;
  snapshots_service svc = { 0 };
  image_volumes iv;
  mp_sigcheck *sigcheck = NULL;
  crio_sync *sync = NULL;
  model_cache *cache = NULL;
  mp_metrics metrics;
  mp_metrics_server *msrv = NULL;
  mp_grpc_server *srv;
  mp_config cfg;
  mp_error err = { 0 };
  sigset_t sigs;
  int c, sig, level;

  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c)
      {
      case OPT_CONFIG:
        config_path = optarg;
        config_given = true;
        break;
      case OPT_ROOT:
        root = optarg;
        break;
      case OPT_ADDRESS:
        address = optarg;
        break;
      case OPT_LOG_LEVEL:
        log_level = optarg;
        break;
      case OPT_CONTAINERD_ROOT:
        containerd_root = optarg;
        break;
      case OPT_CONTAINERD_ADDRESS:
        containerd_address = optarg;
        break;
      case OPT_WORKERS:
        {
          char *end;
          workers = strtol (optarg, &end, 10);
          if (*end || workers < 1 || workers > 1024)
            {
              fprintf (stderr, "modelpack-snapshotter: --workers takes a "
                               "number from 1 to 1024\n");
              return 2;
            }
        }
        break;
      case OPT_VERSION:
        printf ("modelpack-snapshotter %s\n", MP_VERSION);
        return 0;
      case OPT_HELP:
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  if (optind < argc)
    {
      char *arg = mp_escape (argv[optind]);
      fprintf (stderr, "modelpack-snapshotter: unexpected argument %s\n",
               arg != NULL ? arg : "");
      free (arg);
      usage (stderr);
      return 2;
    }

  if (mp_config_init (&cfg, &err) < 0
      || mp_config_load (&cfg, config_path, config_given, &err) < 0)
    return fail ("", &err);
  if ((root && mp_config_set (&cfg.root, root, &err) < 0)
      || (address && mp_config_set (&cfg.address, address, &err) < 0)
      || (log_level && mp_config_set (&cfg.log_level, log_level, &err) < 0)
      || (containerd_root
          && mp_config_set (&cfg.containerd_root, containerd_root, &err) < 0)
      || (containerd_address
          && mp_config_set (&cfg.containerd_address, containerd_address, &err)
                 < 0))
    return fail ("", &err);
  if (workers)
    cfg.workers = (int)workers;
  level = mp_log_level_parse (cfg.log_level);
  if (level < 0)
    {
      char *lv = mp_escape (cfg.log_level);
      fprintf (stderr,
               "modelpack-snapshotter: log level \"%s\" is not one of "
               "error, warn, info, debug\n",
               lv != NULL ? lv : "");
      free (lv);
      return 2;
    }
  mp_log_set_level (level);

  /* Signals are taken synchronously by the main thread; block them before
   * any thread starts so every thread inherits the mask. */
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGTERM);
  sigaddset (&sigs, SIGINT);
  pthread_sigmask (SIG_BLOCK, &sigs, NULL);
  signal (SIGPIPE, SIG_IGN);
  umask (022);

  /* The signature policy first: a malformed one stops the daemon before
   * it serves anything. */
  if (cfg.image_volumes || cfg.crio_store_dir != NULL)
    {
      struct mp_sigcheck_options so
          = { .policy = cfg.sig_policy,
              .notation = cfg.sig_notation,
              .hosts_dir = cfg.sig_hosts_dir,
              .auth_file = cfg.sig_auth_file,
              .cache_by_digest = cfg.sig_cache_by_digest };

      if (mp_sigcheck_new (&so, &sigcheck, &err) < 0)
        return fail ("signatures", &err);
      if (mp_sigcheck_active (sigcheck))
        mp_log_info ("signatures: policy enforced at %s (%s, %s)",
                     cfg.image_volumes && cfg.crio_store_dir
                         ? "image-volume Prepare and CRI-O store exports"
                     : cfg.image_volumes ? "image-volume Prepare"
                                         : "CRI-O store exports",
                     cfg.sig_policy ? cfg.sig_policy : "-",
                     cfg.sig_notation ? cfg.sig_notation : "-");
    }
  svc.sn = snapshotter_open (cfg.root, &err);
  if (svc.sn == NULL)
    return fail ("open state", &err);
  if (cfg.image_volumes || cfg.crio_store_dir != NULL)
    {
      struct model_cache_options co = { 0 };
      char models[4096];

      snprintf (models, sizeof models, "%s/models", cfg.root);
      co.root = models;
      co.keep_unused_seconds = cfg.keep_unused_seconds;
      co.keep_unused_bytes = cfg.keep_unused_bytes;
      co.max_bytes = cfg.max_bytes;
      co.min_free_percent = cfg.min_free_percent;
      co.publish_in_use = true;
      co.limits = cfg.limits;
      co.mount = cfg.mount;
      co.verify_blobs = cfg.verify_blobs;
      cache = model_cache_open (&co, &err);
      if (cache == NULL)
        {
          snapshotter_close (svc.sn);
          return fail ("model cache", &err);
        }
    }
  if (cfg.image_volumes)
    {
      char spool[4200];

      snprintf (spool, sizeof spool, "%s/models/tmp", cfg.root);
      if (image_volumes_init (&iv, cfg.key_pattern, cfg.containerd_root,
                              cfg.containerd_address, spool, cache, &err)
          < 0)
        {
          model_cache_close (cache);
          snapshotter_close (svc.sn);
          return fail ("image volumes", &err);
        }
      svc.iv = &iv;
      iv.sig = sigcheck;
      /* What a previous run's pods still use, for prune and eviction. */
      if (image_volumes_publish (&iv, svc.sn, &err) < 0)
        {
          image_volumes_fini (&iv);
          model_cache_close (cache);
          snapshotter_close (svc.sn);
          return fail ("publish the models in use", &err);
        }
    }
  mp_metrics_init (&metrics);
  metrics.version = MP_VERSION;
  metrics.cache = cache;
  metrics.cache_max_bytes = cfg.max_bytes;
  metrics.cache_min_free_percent = cfg.min_free_percent;
  metrics.sn = svc.sn;
  if (cfg.metrics_address != NULL)
    {
      msrv = mp_metrics_server_start (cfg.metrics_address, &metrics, &err);
      if (msrv == NULL)
        {
          if (svc.iv != NULL)
            image_volumes_fini (svc.iv);
          model_cache_close (cache);
          snapshotter_close (svc.sn);
          return fail ("metrics", &err);
        }
      svc.metrics = &metrics;
      if (svc.iv != NULL)
        svc.iv->metrics = &metrics;
      mp_log_info ("metrics served on %s (GET /metrics)", cfg.metrics_address);
    }
  srv = mp_grpc_server_start (cfg.address, cfg.workers,
                              snapshots_service_handle, &svc, &err);
  if (srv == NULL)
    {
      mp_metrics_server_stop (msrv);
      if (svc.iv != NULL)
        image_volumes_fini (svc.iv);
      model_cache_close (cache);
      snapshotter_close (svc.sn);
      return fail ("serve", &err);
    }
  mp_log_info ("modelpack-snapshotter %s serving on %s (root %s, %d workers)",
               MP_VERSION, cfg.address, cfg.root, cfg.workers);
  if (cfg.crio_store_dir != NULL)
    {
      sync = crio_sync_start (cfg.crio_store_dir, cfg.crio_store_source,
                              cfg.crio_store_poll_seconds, cache, sigcheck,
                              msrv != NULL ? &metrics : NULL, &err);
      if (sync == NULL)
        mp_log_error ("CRI-O store %s: %s", cfg.crio_store_dir, err.msg);
      else
        mp_log_info ("CRI-O store %s kept in sync with %s", cfg.crio_store_dir,
                     cfg.crio_store_source);
    }

  while (sigwait (&sigs, &sig) != 0)
    ;
  mp_log_info ("received %s, shutting down", strsignal (sig));
  crio_sync_stop (sync);
  mp_grpc_server_stop (srv);
  mp_metrics_server_stop (msrv);
  if (svc.iv != NULL)
    image_volumes_fini (svc.iv);
  model_cache_close (cache);
  snapshotter_close (svc.sn);
  mp_sigcheck_free (sigcheck);
  mp_config_free (&cfg);
  mp_log_info ("stopped");
  return 0;
}
