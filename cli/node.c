/* The commands that put models on a node from the snapshotter's model
 * cache: crio-store (a CRI-O additional artifact store), preload (node
 * images; containerd's stores), mount/umount (host mounts for nerdctl,
 * crictl and ctr users). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/cache.h"
#include "model/digest.h"
#include "model/mediatype.h"
#include "store/oci_layout.h"
#include "model/reference.h"
#include "plugin/containerd_import.h"
#include "plugin/crio_store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

/* ---- shared ------------------------------------------------------------- */

/* EXTRACT: a tree of real files, for exports that hard-link them. */
static model_cache *
cache_open_mode (const struct cli_globals *g, enum model_cache_mount mount,
                 mp_error *err)
{
  struct model_cache_options o
      = { .root = g->cache, .limits = g->limits, .mount = mount };

  /* The daemon's retention settings govern gc; the CLI never collects. */
  o.keep_unused_seconds = 0;
  return model_cache_open (&o, err);
}

static model_cache *
cache_open (const struct cli_globals *g, mp_error *err)
{
  return cache_open_mode (g, g->mount, err);
}

/* A model's source: the CLI's store (pulled into it if missing) or an OCI
 * layout given with --from oci-layout:PATH. */
struct source
{
  oci_layout *layout;
  char *name;   /* the model's name: a normalized reference where known */
  char *digest; /* its top document */
  char *media_type;
  int64_t size;
};

static void
source_close (struct source *s)
{
  oci_layout_close (s->layout);
  free (s->name);
  free (s->digest);
  free (s->media_type);
  memset (s, 0, sizeof *s);
}

/* REF in the layout L: by the name as given, as a normalized reference, by
 * its tag alone (skopeo and oras name layout entries by tag), or by digest. */
static int
layout_find (oci_layout *l, const char *text, oci_layout_ref *out,
             mp_error *err)
{
  model_reference r;
  char name[MODEL_REF_MAX + 512];

  if (oci_layout_resolve (l, text, out, NULL) == 0)
    return 0;
  if (model_reference_parse (text, &r, NULL) == 0)
    {
      model_reference_string (&r, name, sizeof name);
      if (oci_layout_resolve (l, name, out, NULL) == 0)
        return 0;
      if (r.tag[0] != '\0' && oci_layout_resolve (l, r.tag, out, NULL) == 0)
        return 0;
      if (r.digest[0] != '\0'
          && oci_layout_resolve (l, r.digest, out, NULL) == 0)
        return 0;
    }
  return mp_error_set (err, MP_ERR_NOT_FOUND, "%s: no model named %s",
                       oci_layout_dir (l), text);
}

static int
source_open (const struct cli_globals *g, const char *cmd, const char *text,
             const char *from, bool plain_http, struct source *s)
{
  mp_error err = { 0 };
  oci_layout_ref r = { 0 };
  const char *dir = g->store;
  int rc;

  memset (s, 0, sizeof *s);
  if (from != NULL)
    {
      if (strncmp (from, "oci-layout:", 11) != 0 || from[11] == '\0')
        return cli_usage_error ("%s: --from takes oci-layout:PATH", cmd);
      dir = from + 11;
    }
  else if ((rc
            = cli_model_ensure (g, cmd, text, plain_http, &s->name, &s->digest))
           != CLI_OK)
    return rc;
  s->layout = oci_layout_open (dir, false, &err);
  if (s->layout == NULL)
    goto fail;
  if (layout_find (s->layout, s->name != NULL ? s->name : text, &r, &err) < 0)
    goto fail;
  if (s->name == NULL)
    {
      model_reference ref;
      char name[MODEL_REF_MAX + 512];

      /* Name it as the reference given when that parses; a layout entry
       * named by a bare tag keeps the reference's full name. */
      if (!model_digest_is_valid (text)
          && model_reference_parse (text, &ref, NULL) == 0)
        {
          model_reference_string (&ref, name, sizeof name);
          s->name = strdup (name);
        }
      else
        s->name = strdup (r.name != NULL ? r.name : text);
    }
  free (s->digest);
  s->digest = strdup (r.digest);
  s->media_type = strdup (r.media_type);
  s->size = r.size;
  oci_layout_refs_free (&r, 1);
  return CLI_OK;
fail:
  source_close (s);
  return cli_fail (cmd, &err);
}

/* Build the model's tree in the cache and pin it under PIN. */
static int
tree_pinned (model_cache *c, struct source *s, const char *pin,
             const char *note, char **tree, char **resolved,
             struct model_cache_stats *st, mp_error *err)
{
  for (int attempt = 0;; attempt++)
    {
      free (*tree);
      free (*resolved);
      *tree = *resolved = NULL;
      if (model_cache_get_manifest_tree (c, s->digest, oci_layout_open_blob,
                                         s->layout, tree, resolved, st, err)
          < 0)
        return -1;
      if (model_cache_pin (c, pin, *resolved, note, err) == 0)
        return 0;
      if (err->code != MP_ERR_NOT_FOUND || attempt == 2)
        return -1;
    }
}

/* ---- crio-store -------------------------------------------------------- */

static void
crio_usage (FILE *out)
{
  fputs (
      "usage: modelpack crio-store add REF --store DIR [--plain-http]\n"
      "       modelpack crio-store rm REF --store DIR\n"
      "       modelpack crio-store ls --store DIR\n"
      "\n"
      "Keeps a CRI-O additional artifact store (crio.conf: "
      "additional_artifact_stores\n"
      "= [\"DIR\"]).  add unpacks REF into the model cache (pulling it into "
      "the store\n"
      "first if needed) and writes it to DIR/artifacts/ as one raw, titled "
      "layer per\n"
      "file, each blob a hard link into the cache, named REF.  rm removes it, "
      "ls lists.\n"
      "Here --store names the CRI-O store (the CLI's own store is the --store "
      "given\n"
      "before the command); $MODELPACK_CRIO_STORE is the default.\n",
      out);
}

int
cli_crio_store (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "store", required_argument, NULL, 's' },
          { "plain-http", no_argument, NULL, 'p' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  const char *store = getenv ("MODELPACK_CRIO_STORE"), *sub;
  bool plain = false;
  mp_error err = { 0 };
  int c, rc;

  /* Options may come before or after the subcommand: getopt moves the
   * subcommand and its reference behind them. */
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 's':
        store = optarg;
        break;
      case 'p':
        plain = true;
        break;
      case 'h':
        crio_usage (stdout);
        return CLI_OK;
      default:
        return CLI_USAGE;
      }
  if (optind >= argc)
    return cli_usage_error ("crio-store: add, rm or ls expected");
  sub = argv[optind++];
  if (store == NULL || store[0] == '\0')
    return cli_usage_error ("crio-store: --store DIR is required");

  if (strcmp (sub, "ls") == 0)
    {
      oci_layout_ref *refs = NULL;
      char **sources = NULL;
      size_t n = 0;

      if (optind != argc)
        return cli_usage_error ("crio-store ls: no arguments expected");
      if (crio_store_list (store, &refs, &n, &sources, NULL, &err) < 0)
        return cli_fail ("crio-store ls", &err);
      if (g->json)
        fputs ("[", stdout);
      for (size_t i = 0; i < n; i++)
        {
          const char *src = sources && sources[i] ? sources[i] : "";
          if (g->json)
            printf ("%s{\"name\":%s,\"digest\":%s,\"source\":%s}", i ? "," : "",
                    cli_json (refs[i].name ? refs[i].name : ""),
                    cli_json (refs[i].digest), cli_json (src));
          else
            printf ("%s %s %s\n", cli_text (refs[i].name ? refs[i].name : "-"),
                    cli_text (refs[i].digest), cli_text (src[0] ? src : "-"));
          if (sources)
            free (sources[i]);
        }
      if (g->json)
        fputs ("]\n", stdout);
      free (sources);
      oci_layout_refs_free (refs, n);
      return CLI_OK;
    }
  if (optind + 1 != argc)
    return cli_usage_error ("crio-store %s: one reference expected", sub);
  if (strcmp (sub, "add") == 0)
    {
      struct source s;
      struct crio_export_stats st = { 0 };
      model_cache *cache;
      struct stat sst;

      /* A bad store is reported before anything is downloaded. */
      if (stat (store, &sst) == 0 && !S_ISDIR (sst.st_mode))
        {
          mp_error_set (&err, MP_ERR_INVALID_ARGUMENT,
                        "CRI-O store %s is not a directory", store);
          return cli_fail ("crio-store add", &err);
        }
      if ((rc
           = source_open (g, "crio-store add", argv[optind], NULL, plain, &s))
          != CLI_OK)
        return rc;
      cache = cache_open_mode (g, MODEL_CACHE_MOUNT_EXTRACT, &err);
      if (cache == NULL)
        {
          source_close (&s);
          return cli_fail ("crio-store add", &err);
        }
      rc = crio_store_add (store, cache, s.name, s.digest, NULL,
                           oci_layout_open_blob, s.layout, &st, &err);
      model_cache_close (cache);
      if (rc < 0)
        {
          rc = cli_fail ("crio-store add", &err);
          source_close (&s);
          return rc;
        }
      if (g->json)
        printf ("{\"name\":%s,\"digest\":%s,\"source\":%s,"
                "\"files\":%d,\"linked\":%d,\"copied\":%d,\"bytes\":%lld}\n",
                cli_json (s.name), cli_json (st.digest), cli_json (st.source),
                st.files, st.linked, st.copied, (long long)st.bytes);
      else
        {
          printf ("%s %s (%d files, %d hard-linked to the cache, %d copied)\n",
                  cli_text (s.name), cli_text (st.digest), st.files, st.linked,
                  st.copied);
          if (st.skipped_symlinks > 0)
            fprintf (stderr,
                     "modelpack: crio-store add: %d symlinks left out "
                     "(CRI-O mounts files only)\n",
                     st.skipped_symlinks);
        }
      crio_export_stats_clear (&st);
      source_close (&s);
      return CLI_OK;
    }
  if (strcmp (sub, "rm") == 0)
    {
      model_cache *cache = cache_open_mode (g, MODEL_CACHE_MOUNT_EXTRACT, &err);
      model_reference r;
      char name[MODEL_REF_MAX + 512];
      const char *want = argv[optind];

      if (cache == NULL)
        return cli_fail ("crio-store rm", &err);
      if (!model_digest_is_valid (want)
          && model_reference_parse (want, &r, NULL) == 0)
        {
          model_reference_string (&r, name, sizeof name);
          want = name;
        }
      rc = crio_store_remove (store, cache, want, &err);
      model_cache_close (cache);
      if (rc < 0)
        return cli_fail ("crio-store rm", &err);
      if (!g->quiet)
        printf ("removed %s\n", cli_text (want));
      return CLI_OK;
    }
  return cli_usage_error ("crio-store: unknown subcommand %s", sub);
}

/* ---- preload ----------------------------------------------------------- */

/* The pin of a preloaded model: named by the digest REF names (a manifest,
 * or an index the cache resolves to its manifest's tree). */
static int
preload_pin (const char *digest, char *out, size_t size, mp_error *err)
{
  model_digest d;

  if (model_digest_parse (digest, &d, err) < 0)
    return -1;
  snprintf (out, size, "preload-%s", model_digest_hex (&d));
  return 0;
}

static void
preload_usage (FILE *out)
{
  fputs (
      "usage: modelpack preload REF [--from oci-layout:PATH] [--containerd "
      "ADDRESS]\n"
      "                         [--namespace NS] [--plain-http] [--release]\n"
      "\n"
      "Unpacks REF into the snapshotter's model cache (--cache), ready to "
      "mount, and\n"
      "pins it there.  The model comes from the CLI's store (pulled if "
      "missing) or,\n"
      "offline, from an OCI layout.  With --containerd, also imports it into "
      "that\n"
      "containerd's content and image stores (namespace k8s.io unless "
      "--namespace),\n"
      "so pods with pullPolicy IfNotPresent start without a registry.  "
      "--release\n"
      "unpins a preloaded model instead.\n",
      out);
}

int
cli_preload (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "from", required_argument, NULL, 'f' },
          { "containerd", required_argument, NULL, 'c' },
          { "namespace", required_argument, NULL, 'n' },
          { "plain-http", no_argument, NULL, 'p' },
          { "release", no_argument, NULL, 'r' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  const char *from = NULL, *address = NULL, *ns = "k8s.io";
  bool plain = false, release = false, was_pinned = false;
  struct source s;
  model_cache *cache = NULL;
  cleanup_free char *tree = NULL, *resolved = NULL;
  struct model_cache_stats st = { 0 };
  struct containerd_import_stats ist = { 0 };
  char pin[128];
  mp_error err = { 0 };
  int c, rc;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        from = optarg;
        break;
      case 'c':
        address = optarg;
        break;
      case 'n':
        ns = optarg;
        break;
      case 'p':
        plain = true;
        break;
      case 'r':
        release = true;
        break;
      case 'h':
        preload_usage (stdout);
        return CLI_OK;
      default:
        return CLI_USAGE;
      }
  if (optind + 1 != argc)
    return cli_usage_error ("preload: one reference expected");
  if (address != NULL && model_digest_is_valid (argv[optind]))
    return cli_usage_error ("preload: --containerd needs a reference to name "
                            "the image, not a digest");
  if (release)
    {
      struct source rs;

      if ((rc = source_open (g, "preload", argv[optind], from, plain, &rs))
          != CLI_OK)
        return rc;
      cache = cache_open (g, &err);
      rc = -1;
      if (cache != NULL && preload_pin (rs.digest, pin, sizeof pin, &err) == 0)
        rc = model_cache_unpin (cache, pin, &err);
      model_cache_close (cache);
      if (rc < 0)
        {
          source_close (&rs);
          return cli_fail ("preload --release", &err);
        }
      if (!g->quiet && !g->json)
        printf ("released %s\n", cli_text (rs.name));
      source_close (&rs);
      return CLI_OK;
    }

  if ((rc = source_open (g, "preload", argv[optind], from, plain, &s))
      != CLI_OK)
    return rc;
  cache = cache_open (g, &err);
  if (cache == NULL)
    goto fail;
  if (preload_pin (s.digest, pin, sizeof pin, &err) < 0)
    goto fail;
  {
    cleanup_free char *have = NULL;

    was_pinned = model_cache_pin_get (cache, pin, &have, NULL, NULL) == 0;
  }
  if (tree_pinned (cache, &s, pin, s.name, &tree, &resolved, &st, &err) < 0)
    goto fail;
  if (address != NULL
      && containerd_import (address, ns, s.name, s.digest, s.media_type, s.size,
                            oci_layout_open_blob, s.layout, &ist, &err)
             < 0)
    {
      /* Not preloaded after all: a pin this run made goes. */
      if (!was_pinned)
        model_cache_unpin (cache, pin, NULL);
      goto fail;
    }
  model_cache_close (cache);
  if (g->json)
    printf ("{\"name\":%s,\"digest\":%s,\"tree\":%s,"
            "\"layers_unpacked\":%d,\"layers_reused\":%d,"
            "\"containerd_blobs_written\":%d,\"containerd_blobs_present\":%d}"
            "\n",
            cli_json (s.name), cli_json (s.digest), cli_json (tree),
            st.layers_unpacked, st.layers_reused, ist.blobs_written,
            ist.blobs_present);
  else
    {
      printf ("%s %s: %d layers unpacked, %d reused, tree %s\n",
              cli_text (s.name), cli_text (s.digest), st.layers_unpacked,
              st.layers_reused, st.trees_built ? "built" : "reused");
      if (address != NULL)
        printf ("containerd %s (namespace %s): image %s, %d blobs written, "
                "%d already there\n",
                cli_text (address), cli_text (ns), cli_text (s.name),
                ist.blobs_written, ist.blobs_present);
    }
  source_close (&s);
  return CLI_OK;
fail:
  model_cache_close (cache);
  source_close (&s);
  return cli_fail ("preload", &err);
}

/* ---- mount / umount ---------------------------------------------------- */

static int
mount_pin_name (const char *dir, char *out, size_t size, mp_error *err)
{
  model_digest h;

  if (model_digest_buffer (MODEL_DIGEST_SHA256, dir, strlen (dir), &h, err) < 0)
    return -1;
  snprintf (out, size, "mount-%.32s", model_digest_hex (&h));
  return 0;
}

int
cli_mount (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "from", required_argument, NULL, 'f' },
          { "plain-http", no_argument, NULL, 'p' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  const char *from = NULL;
  bool plain = false;
  struct source s;
  model_cache *cache = NULL;
  cleanup_free char *tree = NULL, *resolved = NULL, *dir = NULL, *have = NULL;
  char pin[128], note[PATH_MAX + MODEL_REF_MAX + 8];
  struct stat st;
  mp_error err = { 0 };
  int c, rc;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        from = optarg;
        break;
      case 'p':
        plain = true;
        break;
      case 'h':
        fputs ("usage: modelpack mount REF DIR [--from oci-layout:PATH] "
               "[--plain-http]\n\n"
               "Mounts the model's files read-only at DIR (created if "
               "missing) from the\n"
               "snapshotter's model cache, for `nerdctl run -v DIR:/model:ro`"
               " or a CRI\n"
               "mount; the cache keeps the model until `modelpack umount "
               "DIR`.  Needs root.\n",
               stdout);
        return CLI_OK;
      default:
        return CLI_USAGE;
      }
  if (optind + 2 != argc)
    return cli_usage_error ("mount: a reference and a directory expected");
  if (stat (argv[optind + 1], &st) == 0 && !S_ISDIR (st.st_mode))
    {
      mp_error_set (&err, MP_ERR_INVALID_ARGUMENT, "%s is not a directory",
                    argv[optind + 1]);
      return cli_fail ("mount", &err);
    }
  if (mp_mkdir_p (argv[optind + 1], 0755, &err) < 0)
    return cli_fail ("mount", &err);
  dir = realpath (argv[optind + 1], NULL);
  if (dir == NULL)
    {
      mp_error_sys (&err, errno, "%s", argv[optind + 1]);
      return cli_fail ("mount", &err);
    }
  if ((rc = source_open (g, "mount", argv[optind], from, plain, &s)) != CLI_OK)
    return rc;
  cache = cache_open (g, &err);
  if (cache == NULL || mount_pin_name (dir, pin, sizeof pin, &err) < 0)
    goto fail;
  if (model_cache_pin_get (cache, pin, &have, NULL, NULL) == 0)
    {
      mp_error_set (&err, MP_ERR_ALREADY_EXISTS,
                    "%s already has a model mounted (modelpack umount %s)", dir,
                    dir);
      goto fail;
    }
  snprintf (note, sizeof note, "%s %s", dir, s.name);
  if (tree_pinned (cache, &s, pin, note, &tree, &resolved, NULL, &err) < 0)
    goto fail;
  if (mount (tree, dir, NULL, MS_BIND, NULL) < 0
      || mount (NULL, dir, NULL,
                MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)
             < 0)
    {
      int e = errno;

      umount2 (dir, MNT_DETACH);
      model_cache_unpin (cache, pin, NULL);
      if (e == EPERM)
        mp_error_set (&err, MP_ERR_PERMISSION_DENIED,
                      "mounting %s needs root (CAP_SYS_ADMIN)", dir);
      else
        mp_error_sys (&err, e, "bind-mount %s at %s", tree, dir);
      goto fail;
    }
  model_cache_close (cache);
  if (g->json)
    printf ("{\"name\":%s,\"digest\":%s,\"dir\":%s}\n", cli_json (s.name),
            cli_json (resolved), cli_json (dir));
  else if (!g->quiet)
    printf ("%s mounted read-only at %s\n", cli_text (s.name), cli_text (dir));
  source_close (&s);
  return CLI_OK;
fail:
  model_cache_close (cache);
  source_close (&s);
  return cli_fail ("mount", &err);
}

int
cli_umount (const struct cli_globals *g, int argc, char **argv)
{
  model_cache *cache;
  cleanup_free char *dir = NULL, *have = NULL;
  char pin[128];
  mp_error err = { 0 };
  int rc = CLI_OK;

  if (argc == 2
      && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0))
    {
      fputs ("usage: modelpack umount DIR\n\nUnmounts a model mounted by "
             "`modelpack mount` and releases it in the cache.\n",
             stdout);
      return CLI_OK;
    }
  if (argc != 2)
    return cli_usage_error ("umount: one directory expected");
  dir = realpath (argv[1], NULL);
  if (dir == NULL)
    {
      if (errno == ENOENT)
        mp_error_set (&err, MP_ERR_NOT_FOUND, "%s does not exist", argv[1]);
      else
        mp_error_sys (&err, errno, "%s", argv[1]);
      return cli_fail ("umount", &err);
    }
  cache = cache_open (g, &err);
  if (cache == NULL || mount_pin_name (dir, pin, sizeof pin, &err) < 0)
    goto fail;
  if (model_cache_pin_get (cache, pin, &have, NULL, &err) < 0)
    {
      mp_error_set (&err, MP_ERR_NOT_FOUND,
                    "%s is not a model mounted by modelpack mount", dir);
      goto fail;
    }
  if (umount2 (dir, 0) < 0 && errno != EINVAL)
    {
      /* EINVAL: not mounted any more (a reboot); the pin still goes. */
      if (errno == EBUSY)
        mp_error_set (&err, MP_ERR_FAILED_PRECONDITION,
                      "%s is busy: stop what uses it first", dir);
      else if (errno == EPERM)
        mp_error_set (&err, MP_ERR_PERMISSION_DENIED,
                      "unmounting %s needs root", dir);
      else
        mp_error_sys (&err, errno, "umount %s", dir);
      goto fail;
    }
  if (model_cache_unpin (cache, pin, &err) < 0)
    goto fail;
  model_cache_close (cache);
  if (!g->quiet && !g->json)
    printf ("unmounted %s\n", cli_text (dir));
  return rc;
fail:
  model_cache_close (cache);
  return cli_fail ("umount", &err);
}
