/* `modelpack cache ls` and `modelpack cache prune`: the node's model cache
 * as the snapshotter keeps it, read and pruned in place, with or without
 * the daemon running.
 *
 * No RPC: the cache coordinates the processes sharing its root itself
 * (flock: shared while listing or building, exclusive while pruning), and
 * the daemon publishes the models its snapshots use, and the ones it is
 * preparing, in <cache>/in-use (see store/cache_use.c), which prune honours
 * as gc does.  References come from what the node has: pin notes (mount,
 * preload, CRI-O store) and the CLI's store index; containerd's image
 * names are only reachable through containerd. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/digest.h"
#include "store/cache.h"
#include "store/oci_layout.h"
#include "util/cleanup.h"

static void
cache_usage (FILE *out)
{
  fputs ("usage: modelpack cache ls [--json]\n"
         "       modelpack cache prune (--all | --older-than DURATION) "
         "[--json]\n"
         "\n"
         "The snapshotter's model cache on this node (--cache, "
         "$MODELPACK_CACHE).\n"
         "ls lists each model: its manifest digest, references known on "
         "the node\n"
         "(pin notes, the CLI's store), size on disk, bytes shared with "
         "other models,\n"
         "last use, snapshots using it (as the daemon last recorded) and "
         "pins.\n"
         "prune removes models no snapshot uses and nothing pins: all of "
         "them (--all)\n"
         "or those unused for longer than DURATION (--older-than: 90s, "
         "30m, 12h, 7d).\n"
         "Both work while the daemon runs.\n",
         out);
}

/* "90", "90s", "30m", "12h", "7d" as seconds; -1 if malformed. */
static int64_t
parse_duration (const char *s)
{
  char *end;
  long long v;
  int64_t unit = 1;

  errno = 0;
  v = strtoll (s, &end, 10);
  if (errno != 0 || end == s || v < 0)
    return -1;
  if (*end != '\0')
    {
      if (end[1] != '\0')
        return -1;
      switch (*end)
        {
        case 's':
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        default:
          return -1;
        }
    }
  if (v > INT64_MAX / unit)
    return -1;
  return (int64_t)v * unit;
}

/* Store entries, to name models by reference. */
struct names
{
  oci_layout_ref *refs;
  size_t n;
};

static void
names_load (const struct cli_globals *g, struct names *nm)
{
  mp_error ignored = { 0 };
  oci_layout *l;
  struct stat st;

  memset (nm, 0, sizeof *nm);
  /* The store is optional: a node may only ever pull through containerd. */
  if (g->store == NULL || stat (g->store, &st) < 0)
    return;
  l = oci_layout_open (g->store, false, &ignored);
  if (l == NULL)
    return;
  if (oci_layout_list (l, &nm->refs, &nm->n, &ignored) < 0)
    nm->n = 0;
  oci_layout_close (l);
}

static bool
entry_has_digest (const struct model_cache_entry *e, const char *digest)
{
  if (strcmp (e->manifest, digest) == 0)
    return true;
  for (size_t i = 0; i < e->naliases; i++)
    if (strcmp (e->aliases[i], digest) == 0)
      return true;
  return false;
}

static json_t *
entry_references (const struct names *nm, const struct model_cache_entry *e)
{
  json_t *refs = json_array ();

  for (size_t i = 0; i < nm->n; i++)
    if (nm->refs[i].name != NULL && nm->refs[i].digest != NULL
        && entry_has_digest (e, nm->refs[i].digest))
      json_array_append_new (refs, json_string (nm->refs[i].name));
  for (size_t i = 0; i < e->npins; i++)
    if (e->pin_notes[i] != NULL && e->pin_notes[i][0] != '\0')
      {
        bool dup = false;

        for (size_t j = 0; j < json_array_size (refs) && !dup; j++)
          dup = strcmp (json_string_value (json_array_get (refs, j)),
                        e->pin_notes[i])
                == 0;
        if (!dup)
          json_array_append_new (refs, json_string (e->pin_notes[i]));
      }
  return refs;
}

static void
format_time (const struct timespec *t, char *out, size_t size)
{
  struct tm tm;

  if (t->tv_sec == 0 || gmtime_r (&t->tv_sec, &tm) == NULL)
    snprintf (out, size, "never");
  else
    strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
format_bytes (int64_t n, char *out, size_t size)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  double v = (double)n;
  int u = 0;

  while (v >= 1024 && u < 4)
    {
      v /= 1024;
      u++;
    }
  if (u == 0)
    snprintf (out, size, "%" PRId64 "B", n);
  else
    snprintf (out, size, "%.1f%s", v, units[u]);
}

/* Every model as a JSON object, in the cache's order (least recently used
 * first). */
struct collect
{
  const struct names *names;
  json_t *models;
};

static int
collect_one (void *ctx, const struct model_cache_entry *e, mp_error *err)
{
  struct collect *c = ctx;
  json_t *o = json_object (), *pins = json_array (), *idx = json_array ();
  char when[64];

  (void)err;
  format_time (&e->last_used, when, sizeof when);
  for (size_t i = 0; i < e->naliases; i++)
    json_array_append_new (idx, json_string (e->aliases[i]));
  for (size_t i = 0; i < e->npins; i++)
    json_array_append_new (pins, json_pack ("{s:s,s:s?}", "name", e->pins[i],
                                            "note", e->pin_notes[i]));
  json_object_set_new (o, "manifest", json_string (e->manifest));
  json_object_set_new (o, "indexes", idx);
  json_object_set_new (o, "references", entry_references (c->names, e));
  json_object_set_new (o, "size", json_integer (e->size));
  json_object_set_new (o, "shared_bytes", json_integer (e->shared));
  json_object_set_new (o, "last_used", json_string (when));
  json_object_set_new (o, "snapshots",
                       e->snapshots < 0 ? json_null ()
                                        : json_integer (e->snapshots));
  json_object_set_new (o, "preparing", json_integer (e->holds));
  json_object_set_new (o, "pins", pins);
  json_array_append_new (c->models, o);
  return 0;
}

static int
list_models (const struct cli_globals *g, model_cache *c, json_t **out,
             mp_error *err)
{
  struct names nm;
  struct collect col;
  int r;

  names_load (g, &nm);
  col.names = &nm;
  col.models = json_array ();
  r = model_cache_list (c, collect_one, &col, err);
  oci_layout_refs_free (nm.refs, nm.n);
  if (r < 0)
    {
      json_decref (col.models);
      return -1;
    }
  *out = col.models;
  return 0;
}

static void
print_table (json_t *models)
{
  size_t i;
  json_t *m;

  printf ("%-19s  %9s  %9s  %-20s  %9s  %-24s  %s\n", "MANIFEST", "SIZE",
          "SHARED", "LAST USED", "SNAPSHOTS", "PINS", "REFERENCES");
  json_array_foreach (models, i, m)
  {
    char size[32], shared[32], snaps[16], pins[256] = "", refs[1024] = "";
    json_t *sn = json_object_get (m, "snapshots"), *x;
    size_t j;

    format_bytes (json_integer_value (json_object_get (m, "size")), size,
                  sizeof size);
    format_bytes (json_integer_value (json_object_get (m, "shared_bytes")),
                  shared, sizeof shared);
    if (json_is_null (sn))
      snprintf (snaps, sizeof snaps, "unknown");
    else
      snprintf (snaps, sizeof snaps, "%lld",
                (long long)json_integer_value (sn));
    json_array_foreach (json_object_get (m, "pins"), j, x)
    {
      size_t len = strlen (pins);
      snprintf (pins + len, sizeof pins - len, "%s%s", j ? "," : "",
                json_string_value (json_object_get (x, "name")));
    }
    json_array_foreach (json_object_get (m, "references"), j, x)
    {
      size_t len = strlen (refs);
      snprintf (refs + len, sizeof refs - len, "%s%s", j ? "," : "",
                json_string_value (x));
    }
    printf ("%.19s  %9s  %9s  %-20s  %9s  %-24s  %s\n",
            json_string_value (json_object_get (m, "manifest")), size, shared,
            json_string_value (json_object_get (m, "last_used")), snaps,
            pins[0] ? cli_text (pins) : "-", refs[0] ? cli_text (refs) : "-");
  }
}

static model_cache *
open_cache (const struct cli_globals *g, int64_t keep_seconds, mp_error *err)
{
  struct model_cache_options o = { .root = g->cache,
                                   .keep_unused_seconds = keep_seconds,
                                   .limits = g->limits,
                                   .mount = g->mount };
  struct stat st;

  /* ls and prune look at a cache; they never make one. */
  if (stat (g->cache, &st) < 0)
    {
      mp_error_sys (err, errno, "model cache %s", g->cache);
      if (errno == ENOENT)
        err->code = MP_ERR_NOT_FOUND;
      return NULL;
    }
  return model_cache_open (&o, err);
}

static int
cache_ls (const struct cli_globals *g, bool json)
{
  mp_error err = { 0 };
  model_cache *c = open_cache (g, 0, &err);
  json_t *models = NULL;

  if (c == NULL || list_models (g, c, &models, &err) < 0)
    {
      model_cache_close (c);
      return cli_fail ("cache ls", &err);
    }
  model_cache_close (c);
  if (json)
    cli_print_json (models);
  else
    print_table (models);
  json_decref (models);
  return CLI_OK;
}

/* A daemon that ran on this cache without publishing what its snapshots
 * use (<cache>/in-use) leaves prune blind: refuse rather than guess. */
static int
check_in_use_known (const struct cli_globals *g, mp_error *err)
{
  cleanup_free char *record = NULL, *db = NULL;
  struct stat st;

  if (asprintf (&record, "%s/in-use", g->cache) < 0
      || asprintf (&db, "%s/../metadata.lmdb", g->cache) < 0)
    return mp_error_sys (err, ENOMEM, "cache prune");
  if (stat (record, &st) == 0 || stat (db, &st) < 0)
    return 0;
  return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                       "%s has no record of the models snapshots use, but "
                       "the snapshotter's metadata is next to it: start the "
                       "daemon once so it writes one",
                       record);
}

static int
cache_prune (const struct cli_globals *g, bool all, int64_t older, bool json)
{
  mp_error err = { 0 };
  model_cache *c = NULL;
  json_t *before = NULL, *after = NULL, *removed = json_array (), *m;
  int64_t freed = 0;
  size_t i;
  int rc = CLI_OK;

  /* gc with no retention removes every unused tree; with a duration, those
   * unused for longer.  Holds, the published in-use set and pins keep the
   * rest. */
  if (check_in_use_known (g, &err) < 0
      || (c = open_cache (g, all ? 0 : older, &err)) == NULL
      || list_models (g, c, &before, &err) < 0
      || model_cache_gc (c, NULL, 0, &freed, &err) < 0
      || list_models (g, c, &after, &err) < 0)
    {
      rc = cli_fail ("cache prune", &err);
      goto out;
    }
  json_array_foreach (before, i, m)
  {
    const char *d = json_string_value (json_object_get (m, "manifest"));
    bool kept = false;
    size_t j;
    json_t *n;

    json_array_foreach (after, j, n) kept
        = kept
          || strcmp (d, json_string_value (json_object_get (n, "manifest")))
                 == 0;
    if (!kept)
      json_array_append (removed, m);
  }
  if (json)
    {
      json_t *doc = json_pack ("{s:O,s:I}", "removed", removed, "freed_bytes",
                               (json_int_t)freed);
      cli_print_json (doc);
      json_decref (doc);
    }
  else
    {
      char fb[32];

      json_array_foreach (removed, i, m)
      {
        json_t *refs = json_object_get (m, "references");

        printf ("removed %s%s%s\n",
                json_string_value (json_object_get (m, "manifest")),
                json_array_size (refs) ? " " : "",
                json_array_size (refs)
                    ? cli_text (json_string_value (json_array_get (refs, 0)))
                    : "");
      }
      format_bytes (freed, fb, sizeof fb);
      printf ("%zu models removed, %s freed\n", json_array_size (removed), fb);
    }
out:
  model_cache_close (c);
  json_decref (before);
  json_decref (after);
  json_decref (removed);
  return rc;
}

int
cli_cache (const struct cli_globals *g, int argc, char **argv)
{
  enum
  {
    OPT_JSON = 1,
    OPT_ALL,
    OPT_OLDER,
  };
  static const struct option opts[]
      = { { "json", no_argument, NULL, OPT_JSON },
          { "all", no_argument, NULL, OPT_ALL },
          { "older-than", required_argument, NULL, OPT_OLDER },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  bool json = g->json, all = false;
  int64_t older = -1;
  const char *sub;
  int c;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case OPT_JSON:
        json = true;
        break;
      case OPT_ALL:
        all = true;
        break;
      case OPT_OLDER:
        older = parse_duration (optarg);
        if (older < 0)
          return cli_usage_error ("cache prune: --older-than takes a duration "
                                  "such as 90s, 30m, 12h or 7d, not '%s'",
                                  optarg);
        break;
      case 'h':
        cache_usage (stdout);
        return CLI_OK;
      default:
        cache_usage (stderr);
        return CLI_USAGE;
      }
  if (optind >= argc)
    {
      cache_usage (stderr);
      return CLI_USAGE;
    }
  sub = argv[optind];
  if (optind + 1 != argc)
    return cli_usage_error ("cache %s: unexpected argument '%s'", sub,
                            argv[optind + 1]);
  if (strcmp (sub, "ls") == 0)
    {
      if (all || older >= 0)
        return cli_usage_error ("cache ls: --all and --older-than are "
                                "prune's");
      return cache_ls (g, json);
    }
  if (strcmp (sub, "prune") == 0)
    {
      if (all == (older >= 0))
        return cli_usage_error ("cache prune: say --all or --older-than "
                                "DURATION (one of them)");
      return cache_prune (g, all, older, json);
    }
  return cli_usage_error ("cache: unknown subcommand '%s' (ls, prune)", sub);
}
