/* modelpack extract: a stored model's files into a directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/digest.h"
#include "model/manifest.h"
#include "model/modelconfig.h"
#include "store/oci_layout.h"
#include "store/unpack.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/scratch.h"

static void
usage (FILE *out)
{
  fputs ("usage: modelpack extract REF DIR [--include GLOB]... [--force] "
         "[--plain-http]\n"
         "\n"
         "Writes the files of a stored model under DIR (created if "
         "missing), each layer\n"
         "verified against its digest and diffId first.  --include keeps "
         "only the\n"
         "layers whose path matches one of the patterns (shell globs, `/` "
         "matched only\n"
         "by `/`).  Nothing is moved into DIR until every layer is "
         "verified and no\n"
         "path conflicts: existing files and symlinks are replaced only "
         "with --force,\n"
         "directories are merged, never replaced.  A "
         "model that is not\n"
         "in the store is read from its registry, and only the selected "
         "layers are\n"
         "downloaded (the store is left as it is).\n",
         out);
}

struct selection
{
  char **inc;
  size_t n;
};

static bool selected (const model_layer *ly, char **inc, size_t n);

/* A cli_layer_filter over a struct selection. */
static bool
want_layer (const struct model_layer *ly, void *ctx)
{
  const struct selection *s = ctx;
  return selected (ly, s->inc, s->n);
}

static bool
selected (const model_layer *ly, char **inc, size_t n)
{
  if (n == 0)
    return true;
  if (ly->path == NULL)
    return false;
  for (size_t i = 0; i < n; i++)
    if (fnmatch (inc[i], ly->path, FNM_PATHNAME) == 0)
      return true;
  return false;
}

/* Scratch directories in DIR: PREFIX<pid>.<random> (util/scratch.h). */
#define SCRATCH_PREFIX ".modelpack-extract."

/* Move everything under SRC into DST, both inside our scratch directory:
 * the model's own layers, the later one winning on the same path. */
static int
merge_layer (int src, int dst, const char *where, mp_error *err)
{
  int fd = openat (src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *e;

  if (d == NULL)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      return mp_error_sys (err, saved, "read %s", where);
    }
  while ((e = readdir (d)) != NULL)
    {
      struct stat ss, ds;

      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      if (fstatat (src, e->d_name, &ss, AT_SYMLINK_NOFOLLOW) < 0)
        return mp_error_sys (err, errno, "stat %s", e->d_name);
      if (S_ISDIR (ss.st_mode)
          && fstatat (dst, e->d_name, &ds, AT_SYMLINK_NOFOLLOW) == 0
          && S_ISDIR (ds.st_mode))
        {
          cleanup_close int s2 = -1, d2 = -1;

          s2 = openat (src, e->d_name,
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          d2 = openat (dst, e->d_name,
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (s2 < 0 || d2 < 0)
            return mp_error_sys (err, errno, "open %s", e->d_name);
          if (merge_layer (s2, d2, e->d_name, err) < 0)
            return -1;
          continue;
        }
      if (mp_rmtree_at (dst, e->d_name, err) < 0)
        return -1;
      if (renameat (src, e->d_name, dst, e->d_name) < 0)
        return mp_error_sys (err, errno, "merge %s", e->d_name);
    }
  return 0;
}

/* A walk of the merged model tree beside DIR: the relative path of the
 * entry at hand, for messages. */
struct walk
{
  const char *dir;
  bool force;
  dev_t dev; /* DIR's filesystem: a rename cannot leave it */
  char path[MODEL_UNPACK_MAX_PATH + 1];
};

static const char *
kind_of (mode_t m)
{
  return S_ISDIR (m) ? "directory" : S_ISLNK (m) ? "symlink" : "file";
}

/* Append NAME to W->path at LEN; returns the new length or -1. */
static ssize_t
walk_enter (struct walk *w, size_t len, const char *name, mp_error *err)
{
  int n = snprintf (w->path + len, sizeof w->path - len, "%s%s",
                    len > 0 ? "/" : "", name);
  if (n < 0 || (size_t)n >= sizeof w->path - len)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s/%s...: path too long", w->dir, w->path);
  return (ssize_t)len + n;
}

typedef int (*walk_fn) (int tree, int dst, const char *name,
                        const struct stat *ms, struct walk *w, size_t len,
                        mp_error *err);

/* Call FN for every entry of TREE (a directory of the merged model) with
 * DST, the directory of DIR at the same path. */
static int
walk_tree (int tree, int dst, walk_fn fn, struct walk *w, size_t len,
           mp_error *err)
{
  int fd = openat (tree, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *e;

  if (d == NULL)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      return mp_error_sys (err, saved, "read the unpacked model");
    }
  while ((e = readdir (d)) != NULL)
    {
      struct stat ms;
      ssize_t n;

      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      if ((n = walk_enter (w, len, e->d_name, err)) < 0)
        return -1;
      if (fstatat (tree, e->d_name, &ms, AT_SYMLINK_NOFOLLOW) < 0)
        return mp_error_sys (err, errno, "stat %s", w->path);
      if (fn (tree, dst, e->d_name, &ms, w, (size_t)n, err) < 0)
        return -1;
      w->path[len] = '\0';
    }
  return 0;
}

/* Both NAME under TREE and under DST as directory fds, then FN below. */
static int
walk_both (int tree, int dst, const char *name, walk_fn fn, struct walk *w,
           size_t len, mp_error *err)
{
  cleanup_close int t2 = -1, d2 = -1;

  t2 = openat (tree, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (t2 < 0)
    return mp_error_sys (err, errno, "open %s", w->path);
  /* O_NOFOLLOW: a directory swapped for a symlink meanwhile is an error,
   * never a way out of DIR. */
  d2 = openat (dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (d2 < 0)
    return mp_error_sys (err, errno, "open %s/%s", w->dir, w->path);
  return walk_tree (t2, d2, fn, w, len, err);
}

/* What the model may do to an existing DIR entry of mode DM: merge two
 * directories; without --force nothing else; with it, replace a file or a
 * symlink (never following it).  A directory is never replaced, and never
 * replaces a file. */
static int
conflict (const struct stat *ms, mode_t dm, struct walk *w, mp_error *err)
{
  bool mdir = S_ISDIR (ms->st_mode), ddir = S_ISDIR (dm);

  if (ddir != mdir && !S_ISLNK (dm))
    return mp_error_set (err, MP_ERR_ALREADY_EXISTS,
                         "%s/%s is a %s and the model has a %s there "
                         "(not replaced, even with --force)",
                         w->dir, w->path, kind_of (dm), kind_of (ms->st_mode));
  if (!w->force)
    return mp_error_set (err, MP_ERR_ALREADY_EXISTS,
                         "%s/%s exists (--force replaces it)", w->dir, w->path);
  return 0;
}

static int
check_entry (int tree, int dst, const char *name, const struct stat *ms,
             struct walk *w, size_t len, mp_error *err)
{
  struct stat ds;

  if (fstatat (dst, name, &ds, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return mp_error_sys (err, errno, "stat %s/%s", w->dir, w->path);
    }
  if (S_ISDIR (ms->st_mode) && S_ISDIR (ds.st_mode))
    {
      if (ds.st_dev != w->dev)
        return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                             "%s/%s is another filesystem's mount point "
                             "(extract into it directly)",
                             w->dir, w->path);
      return walk_both (tree, dst, name, check_entry, w, len, err);
    }
  return conflict (ms, ds.st_mode, w, err);
}

/* The moves, each one checked again against what is in DIR now: nothing
 * here can remove a directory of DIR or write through its symlinks. */
static int
move_entry (int tree, int dst, const char *name, const struct stat *ms,
            struct walk *w, size_t len, mp_error *err)
{
  struct stat ds;

  if (renameat2 (tree, name, dst, name, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EEXIST)
    return mp_error_sys (err, errno, "move %s/%s into place", w->dir, w->path);
  if (fstatat (dst, name, &ds, AT_SYMLINK_NOFOLLOW) < 0)
    return mp_error_sys (err, errno, "stat %s/%s", w->dir, w->path);
  if (S_ISDIR (ms->st_mode) && S_ISDIR (ds.st_mode))
    return walk_both (tree, dst, name, move_entry, w, len, err);
  if (conflict (ms, ds.st_mode, w, err) < 0)
    return -1;
  if (S_ISDIR (ms->st_mode))
    {
      /* A directory over a symlink: unlink (flags 0 never removes a
       * directory), then a move that replaces nothing. */
      if (unlinkat (dst, name, 0) < 0 && errno != ENOENT)
        return mp_error_sys (err, errno, "replace %s/%s", w->dir, w->path);
      if (renameat2 (tree, name, dst, name, RENAME_NOREPLACE) < 0)
        return mp_error_sys (err, errno, "move %s/%s into place", w->dir,
                             w->path);
      return 0;
    }
  /* A file or symlink over a file or symlink: atomic; rename(2) refuses to
   * put a non-directory over a directory. */
  if (renameat (tree, name, dst, name) < 0)
    return mp_error_sys (err, errno, "replace %s/%s", w->dir, w->path);
  return 0;
}

/* The selected layers unpacked, verified and merged into SFD/tree. */
static int
unpack_all (oci_layout *l, const struct cli_model *m,
            const struct model_unpack_limits *lim, char **inc, size_t n_inc,
            int sfd, int tfd, size_t *n_done, mp_error *err)
{
  struct model_unpack_limits rl = model_unpack_limits_resolve (lim);
  uint64_t entries = 0;

  for (size_t i = 0; i < m->manifest->n_layers; i++)
    {
      const model_layer *ly = &m->manifest->layers[i];
      struct model_unpack_plan p;
      struct model_unpack_opts o = { 0 };
      struct model_unpack_stats us;
      char name[32];
      bool verified;
      cleanup_close int bfd = -1, lfd = -1;

      if (!selected (ly, inc, n_inc))
        continue;
      /* The plan the model cache makes too: every command accepts and
       * refuses the same layers. */
      if (model_unpack_plan_layer (m->manifest, m->config, i, &p, err) < 0)
        return -1;
      o.format = p.format;
      o.expected_digest = ly->desc.digest.str;
      o.expected_diff_id = p.diff_id;
      o.raw_path = p.raw_path;
      o.raw_meta = &p.meta;
      o.limits = &rl;
      o.blob_size = ly->desc.size;
      bfd = oci_layout_open_blob (l, ly->desc.digest.str, ly->desc.size,
                                  &verified, err);
      snprintf (name, sizeof name, "L%zu", i);
      if (bfd < 0 || model_unpack_layer (bfd, sfd, name, &o, &us, err) < 0)
        return mp_error_prefix (err, "layer %zu (%s)", i,
                                ly->path ? ly->path : ly->desc.digest.str);
      entries += p.format == MODEL_LAYER_RAW
                     ? 1
                     : us.files + us.dirs + us.symlinks + us.hardlinks;
      if (entries > rl.max_model_entries)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "more than %llu entries in the model's layers "
                             "(max_model_entries)",
                             (unsigned long long)rl.max_model_entries);
      lfd = openat (sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (lfd < 0)
        return mp_error_sys (err, errno, "open layer %zu", i);
      if (merge_layer (lfd, tfd, name, err) < 0
          || mp_rmtree_at (sfd, name, err) < 0)
        return mp_error_prefix (err, "layer %zu", i);
      (*n_done)++;
    }
  return 0;
}

/* Without --force, a raw layer's file already in DIR: refused before
 * anything is downloaded or unpacked (the full check comes later). */
static int
refuse_early (const struct cli_model *m, char **inc, size_t n_inc, int dfd,
              const char *dir, mp_error *err)
{
  for (size_t i = 0; i < m->manifest->n_layers; i++)
    {
      const model_layer *ly = &m->manifest->layers[i];
      struct stat st;

      if (ly->is_file && ly->path != NULL && selected (ly, inc, n_inc)
          && fstatat (dfd, ly->path, &st, AT_SYMLINK_NOFOLLOW) == 0
          && !S_ISDIR (st.st_mode))
        return mp_error_set (err, MP_ERR_ALREADY_EXISTS,
                             "%s/%s exists (--force replaces it)", dir,
                             ly->path);
    }
  return 0;
}

int
cli_extract (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "include", required_argument, NULL, 'i' },
          { "force", no_argument, NULL, 'f' },
          { "plain-http", no_argument, NULL, 'p' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  cleanup_free char **inc = NULL;
  cleanup_free char *fetched = NULL;
  size_t n_inc = 0, n_done = 0;
  bool force = false, plain = false, stored;
  struct cli_model m = { 0 };
  mp_error err = { 0 };
  oci_layout *l = NULL;
  struct walk *w = NULL;
  struct stat dst;
  const char *dir;
  char sname[128] = "";
  cleanup_close int dfd = -1, sfd = -1, tfd = -1;
  int c, rc = CLI_ERR;

  while ((c = getopt_long (argc, argv, "i:fh", opts, NULL)) != -1)
    switch (c)
      {
      case 'i':
        {
          char **v = realloc (inc, (n_inc + 1) * sizeof *v);
          if (v == NULL)
            return CLI_ERR;
          inc = v;
          inc[n_inc++] = optarg;
        }
        break;
      case 'f':
        force = true;
        break;
      case 'p':
        plain = true;
        break;
      case 'h':
        usage (stdout);
        return CLI_OK;
      default:
        usage (stderr);
        return CLI_USAGE;
      }
  if (optind + 2 != argc)
    {
      usage (stderr);
      return CLI_USAGE;
    }
  dir = argv[optind + 1];
  l = oci_layout_open (g->store, true, &err);
  if (l == NULL)
    return cli_fail ("extract", &err);
  stored = cli_model_load (l, argv[optind], &m, &err) == 0;
  if (!stored)
    {
      oci_layout_close (l);
      l = NULL;
      if (err.code != MP_ERR_NOT_FOUND || model_digest_is_valid (argv[optind]))
        return cli_fail ("extract", &err);
      mp_error_clear (&err);
    }
  if (mp_mkdir_p (dir, 0755, &err) < 0)
    goto fail;
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fstat (dfd, &dst) < 0)
    {
      mp_error_sys (&err, errno, "open %s", dir);
      goto fail;
    }
  if (stored && !force && refuse_early (&m, inc, n_inc, dfd, dir, &err) < 0)
    goto fail;
  /* Whatever killed extracts left here, then our own private directory:
   * everything below happens inside it, through its fd. */
  mp_scratch_sweep (dfd, SCRATCH_PREFIX);
  if (mp_scratch_create (dfd, SCRATCH_PREFIX, sname, sizeof sname, &sfd, &err)
      < 0)
    {
      sname[0] = '\0';
      mp_error_prefix (&err, "%s", dir);
      goto fail;
    }
  if (!stored)
    {
      /* Not stored: the manifest, the config and only the selected layers
       * fetched into a layout inside the scratch directory.  The store is
       * not touched. */
      struct selection sel = { inc, n_inc };
      char fetch[64];
      int r;

      snprintf (fetch, sizeof fetch, "/proc/self/fd/%d/fetch", sfd);
      r = cli_pull_partial (g, "extract", argv[optind], fetch, plain,
                            want_layer, &sel, &fetched);
      if (r != CLI_OK)
        {
          rc = r; /* printed */
          goto out;
        }
      l = oci_layout_open (fetch, false, &err);
      if (l == NULL || cli_model_load (l, fetched, &m, &err) < 0)
        goto fail;
      if (!force && refuse_early (&m, inc, n_inc, dfd, dir, &err) < 0)
        goto fail;
    }
  if (mkdirat (sfd, "tree", 0700) < 0
      || (tfd = openat (sfd, "tree",
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC))
             < 0)
    {
      mp_error_sys (&err, errno, "create %s/%s/tree", dir, sname);
      goto fail;
    }
  /* Every selected layer unpacked, verified and merged in scratch ... */
  if (model_unpack_check_manifest (m.manifest, m.config, &err) < 0
      || unpack_all (l, &m, &g->limits, inc, n_inc, sfd, tfd, &n_done, &err)
             < 0)
    goto fail;
  /* ... every path of the result checked against DIR ... */
  w = calloc (1, sizeof *w);
  if (w == NULL)
    {
      mp_error_sys (&err, ENOMEM, "extract");
      goto fail;
    }
  w->dir = dir;
  w->force = force;
  w->dev = dst.st_dev;
  if (walk_tree (tfd, dfd, check_entry, w, 0, &err) < 0)
    goto fail;
  /* ... and only then moved into DIR. */
  if (walk_tree (tfd, dfd, move_entry, w, 0, &err) < 0)
    goto fail;
  if (g->json)
    printf ("{\"reference\":%s,\"digest\":%s,\"layers\":%zu,"
            "\"directory\":%s}\n",
            cli_json (m.name), cli_json (m.digest), n_done, cli_json (dir));
  else if (!g->quiet)
    printf ("extracted %zu of %zu layers of %s into %s\n", n_done,
            m.manifest->n_layers, cli_text (m.name), cli_text (dir));
  rc = CLI_OK;
  goto out;

fail:
  rc = cli_fail ("extract", &err);
out:
  free (w);
  cli_model_free (&m);
  oci_layout_close (l);
  if (sfd >= 0)
    {
      mp_error ignored = { 0 };
      if (tfd >= 0)
        close (mp_steal_fd (&tfd));
      mp_scratch_remove (dfd, sname, sfd, &ignored);
    }
  return rc;
}
