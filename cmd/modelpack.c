/* modelpack: pack, push, pull, inspect, extract and mount ModelPack models. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "plugin/config.h"
#include "util/log.h"

#ifndef MP_VERSION
#define MP_VERSION "0.1.0"
#endif

static const struct
{
  const char *name;
  cli_command_fn fn;
  const char *summary;
} commands[] = {
  { "init", cli_init, "write a Modelfile for a model directory" },
  { "pack", cli_pack, "build a model artifact from a directory" },
  { "push", cli_push, "upload a stored model to its registry" },
  { "pull", cli_pull, "download a model into the store" },
  { "inspect", cli_inspect, "show a model's config, files and digest" },
  { "extract", cli_extract, "write a model's files into a directory" },
  { "ls", cli_ls, "list the models in the store" },
  { "rm", cli_rm, "remove a model from the store" },
  { "login", cli_login, "save credentials for a registry" },
  { "logout", cli_logout, "remove saved credentials" },
  { "crio-store", cli_crio_store, "manage a CRI-O additional artifact store" },
  { "preload", cli_preload, "make a model ready on a node, offline" },
  { "mount", cli_mount, "mount a model read-only on the host" },
  { "umount", cli_umount, "unmount what mount mounted" },
  { "verify", cli_verify, "check a model's signatures against the policy" },
  { "cache", cli_cache, "list or prune the node's model cache" },
};

static void
usage (FILE *out)
{
  fprintf (out, "usage: modelpack [options] COMMAND [ARGS...]\n"
                "\n"
                "commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf (out, "  %-11s %s\n", commands[i].name, commands[i].summary);
  fprintf (out,
           "\n"
           "options:\n"
           "  --store DIR       the CLI's model store, an OCI layout "
           "($MODELPACK_STORE)\n"
           "  --cache DIR       the snapshotter's model cache "
           "($MODELPACK_CACHE,\n"
           "                    default " MP_DEFAULT_ROOT "/models)\n"
           "  --auth-file FILE  registry credentials, Docker's config.json\n"
           "                    ($REGISTRY_AUTH_FILE, "
           "$DOCKER_CONFIG/config.json)\n"
           "  --hosts-dir DIR   registry host settings, containerd's "
           "hosts.toml layout\n"
           "                    ($MODELPACK_HOSTS_DIR, default "
           "/etc/containerd/certs.d)\n"
           "  --stall-timeout SECONDS\n"
           "                    give up a registry transfer that moves less "
           "than 1 KiB\n"
           "                    in SECONDS ($MODELPACK_STALL_TIMEOUT, default "
           "30; 0: never)\n"
           "  --transfer-timeout SECONDS\n"
           "                    the time one registry request may take, plus "
           "16 s per\n"
           "                    MiB of a blob ($MODELPACK_TRANSFER_TIMEOUT, "
           "default 120;\n"
           "                    0: no limit)\n"
           "  --policy FILE     the signature policy, containers-policy.json\n"
           "                    ($MODELPACK_POLICY, default\n"
           "                    " CLI_DEFAULT_POLICY " if it "
           "exists)\n"
           "  --notation DIR    the Notation trust policy and trust store\n"
           "                    ($MODELPACK_NOTATION, default\n"
           "                    " CLI_DEFAULT_NOTATION " if it "
           "exists)\n"
           "  --json            machine-readable output\n"
           "  -q, --quiet       no progress output\n"
           "  --log-level LVL   error, warn, info or debug (default warn)\n"
           "  --limit KEY=N     bound what a model may expand to, as the "
           "daemon's\n"
           "                    [limits]: max_layer_bytes, max_layer_ratio,\n"
           "                    ratio_floor_bytes, max_layer_entries,\n"
           "                    max_model_entries (repeatable)\n"
           "  --mount-mode MODE how mount and preload serve a model, as the "
           "daemon's\n"
           "                    [model_cache] mount: auto, erofs, loop or "
           "extract\n"
           "                    ($MODELPACK_MOUNT_MODE, default auto)\n"
           "  --version         print the version and exit\n"
           "  -h, --help        print this help and exit\n"
           "\n"
           "'modelpack COMMAND --help' describes a command.\n");
}

static char *
env_or (const char *name, char *fallback)
{
  const char *v = getenv (name);

  if (v != NULL && *v != '\0')
    {
      free (fallback);
      return strdup (v);
    }
  return fallback;
}

/* SECONDS for OPTION (a flag or an environment variable): 0 to a week;
 * -1, having said why, for anything else. */
static int
parse_seconds (const char *option, const char *text, int *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 7 * 86400)
    {
      cli_usage_error ("%s: '%s' is not a number of seconds (0 to %d)", option,
                       text, 7 * 86400);
      return -1;
    }
  *out = (int)v;
  return 0;
}

static char *
join (const char *a, const char *b)
{
  char *s = NULL;

  if (a == NULL || asprintf (&s, "%s%s", a, b) < 0)
    return NULL;
  return s;
}

int
main (int argc, char **argv)
{
  enum
  {
    OPT_STORE = 1,
    OPT_CACHE,
    OPT_AUTH_FILE,
    OPT_HOSTS_DIR,
    OPT_JSON,
    OPT_LOG_LEVEL,
    OPT_VERSION,
    OPT_LIMIT,
    OPT_STALL_TIMEOUT,
    OPT_TRANSFER_TIMEOUT,
    OPT_MOUNT_MODE,
    OPT_POLICY,
    OPT_NOTATION,
  };
  static const struct option opts[]
      = { { "store", required_argument, NULL, OPT_STORE },
          { "cache", required_argument, NULL, OPT_CACHE },
          { "auth-file", required_argument, NULL, OPT_AUTH_FILE },
          { "hosts-dir", required_argument, NULL, OPT_HOSTS_DIR },
          { "json", no_argument, NULL, OPT_JSON },
          { "quiet", no_argument, NULL, 'q' },
          { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
          { "stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT },
          { "transfer-timeout", required_argument, NULL, OPT_TRANSFER_TIMEOUT },
          { "version", no_argument, NULL, OPT_VERSION },
          { "limit", required_argument, NULL, OPT_LIMIT },
          { "mount-mode", required_argument, NULL, OPT_MOUNT_MODE },
          { "policy", required_argument, NULL, OPT_POLICY },
          { "notation", required_argument, NULL, OPT_NOTATION },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  struct cli_globals g = { 0 };
  const char *home = getenv ("HOME");
  const char *xdg = getenv ("XDG_DATA_HOME");
  const char *docker = getenv ("DOCKER_CONFIG");
  char *store, *cache, *auth, *hosts, *policy = NULL, *notation = NULL;
  int c, rc;

  /* Defaults, then the environment, then options. */
  if (geteuid () == 0)
    store = strdup ("/var/lib/modelpack/store");
  else if (xdg != NULL && *xdg != '\0')
    store = join (xdg, "/modelpack/store");
  else
    store = join (home, "/.local/share/modelpack/store");
  store = env_or ("MODELPACK_STORE", store);
  cache = env_or ("MODELPACK_CACHE", strdup (MP_DEFAULT_ROOT "/models"));
  if (docker != NULL && *docker != '\0')
    auth = join (docker, "/config.json");
  else
    auth = join (home, "/.docker/config.json");
  auth = env_or ("REGISTRY_AUTH_FILE", auth);
  hosts = env_or ("MODELPACK_HOSTS_DIR", strdup ("/etc/containerd/certs.d"));
  policy = env_or ("MODELPACK_POLICY", NULL);
  g.policy_set = policy != NULL;
  notation = env_or ("MODELPACK_NOTATION", NULL);
  g.notation_set = notation != NULL;
  g.stall_timeout = g.transfer_timeout = -1; /* the registry client's */
  {
    const char *e = getenv ("MODELPACK_STALL_TIMEOUT");
    if (e != NULL && *e != '\0'
        && parse_seconds ("MODELPACK_STALL_TIMEOUT", e, &g.stall_timeout) < 0)
      return CLI_USAGE;
    e = getenv ("MODELPACK_TRANSFER_TIMEOUT");
    if (e != NULL && *e != '\0'
        && parse_seconds ("MODELPACK_TRANSFER_TIMEOUT", e, &g.transfer_timeout)
               < 0)
      return CLI_USAGE;
  }
  {
    const char *e = getenv ("MODELPACK_MOUNT_MODE");
    if (e != NULL && *e != '\0' && model_cache_mount_parse (e, &g.mount) < 0)
      return cli_usage_error ("MODELPACK_MOUNT_MODE=%s: expected auto, erofs, "
                              "loop or extract",
                              e);
  }
  mp_log_set_level (MP_LOG_WARN);

  while ((c = getopt_long (argc, argv, "+qh", opts, NULL)) != -1)
    switch (c)
      {
      case OPT_STORE:
        free (store);
        store = strdup (optarg);
        break;
      case OPT_CACHE:
        free (cache);
        cache = strdup (optarg);
        break;
      case OPT_AUTH_FILE:
        free (auth);
        auth = strdup (optarg);
        break;
      case OPT_HOSTS_DIR:
        free (hosts);
        hosts = strdup (optarg);
        break;
      case OPT_JSON:
        g.json = true;
        break;
      case 'q':
        g.quiet = true;
        break;
      case OPT_LOG_LEVEL:
        {
          int lvl = mp_log_level_parse (optarg);
          if (lvl < 0)
            return cli_usage_error ("unknown log level '%s'", optarg);
          mp_log_set_level ((enum mp_log_level)lvl);
        }
        break;
      case OPT_LIMIT:
        if (cli_limit_set (&g.limits, optarg) < 0)
          return cli_usage_error ("--limit %s: expected KEY=N with a positive "
                                  "N and KEY one of max_layer_bytes, "
                                  "max_layer_ratio, ratio_floor_bytes, "
                                  "max_layer_entries, max_model_entries",
                                  optarg);
        break;
      case OPT_MOUNT_MODE:
        if (model_cache_mount_parse (optarg, &g.mount) < 0)
          return cli_usage_error ("--mount-mode %s: expected auto, erofs, "
                                  "loop or extract",
                                  optarg);
        break;
      case OPT_STALL_TIMEOUT:
        if (parse_seconds ("--stall-timeout", optarg, &g.stall_timeout) < 0)
          return CLI_USAGE;
        break;
      case OPT_TRANSFER_TIMEOUT:
        if (parse_seconds ("--transfer-timeout", optarg, &g.transfer_timeout)
            < 0)
          return CLI_USAGE;
        break;
      case OPT_POLICY:
        free (policy);
        policy = strdup (optarg);
        g.policy_set = true;
        break;
      case OPT_NOTATION:
        free (notation);
        notation = strdup (optarg);
        g.notation_set = true;
        break;
      case OPT_VERSION:
        printf ("modelpack %s\n", MP_VERSION);
        return CLI_OK;
      case 'h':
        usage (stdout);
        return CLI_OK;
      default:
        usage (stderr);
        return CLI_USAGE;
      }
  if (optind >= argc)
    {
      usage (stderr);
      return CLI_USAGE;
    }
  if (strcmp (argv[optind], "help") == 0)
    {
      usage (stdout);
      return CLI_OK;
    }
  g.store = store;
  g.cache = cache;
  g.auth_file = auth;
  g.hosts_dir = hosts;
  g.policy = policy ? policy : CLI_DEFAULT_POLICY;
  g.notation = notation ? notation : CLI_DEFAULT_NOTATION;
  g.progress = !g.quiet && !g.json && isatty (STDERR_FILENO);

  rc = -1;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (argv[optind], commands[i].name) == 0)
      {
        /* Each command parses its own options from a fresh getopt. */
        optind++;
        argc -= optind - 1;
        argv += optind - 1;
        optind = 0;
        rc = commands[i].fn (&g, argc, argv);
        break;
      }
  if (rc < 0)
    rc = cli_usage_error ("unknown command '%s' (see modelpack --help)",
                          argv[optind]);
  free (store);
  free (cache);
  free (auth);
  free (hosts);
  free (policy);
  free (notation);
  return rc;
}
