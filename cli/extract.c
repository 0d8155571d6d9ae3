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
#include "model/oci_layout.h"
#include "model/unpack.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

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
         "by `/`).  Existing files are not replaced unless --force.  A "
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

/* Move everything under SRC into DST (both directory fds), later calls
 * replacing what earlier ones put there. */
static int
merge_into (int src, int dst, const char *where, mp_error *err)
{
  int fd = dup (src);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *e;
  int rc = 0;

  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return mp_error_sys (err, errno, "read %s", where);
    }
  while (rc == 0 && (e = readdir (d)) != NULL)
    {
      struct stat ss, ds;

      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      if (fstatat (src, e->d_name, &ss, AT_SYMLINK_NOFOLLOW) < 0)
        {
          rc = mp_error_sys (err, errno, "stat %s", e->d_name);
          break;
        }
      if (S_ISDIR (ss.st_mode)
          && fstatat (dst, e->d_name, &ds, AT_SYMLINK_NOFOLLOW) == 0
          && S_ISDIR (ds.st_mode))
        {
          int s2 = openat (src, e->d_name,
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          int d2 = openat (dst, e->d_name,
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          rc = s2 < 0 || d2 < 0
                   ? mp_error_sys (err, errno, "open %s", e->d_name)
                   : merge_into (s2, d2, e->d_name, err);
          if (s2 >= 0)
            close (s2);
          if (d2 >= 0)
            close (d2);
          continue;
        }
      if (fstatat (dst, e->d_name, &ds, AT_SYMLINK_NOFOLLOW) == 0
          && S_ISDIR (ds.st_mode))
        {
          mp_error ignored;
          mp_rmtree_at (dst, e->d_name, &ignored);
        }
      if (renameat (src, e->d_name, dst, e->d_name) < 0)
        rc = mp_error_sys (err, errno, "move %s into place", e->d_name);
    }
  closedir (d);
  return rc;
}

static void
raw_meta (const model_layer *ly, struct model_file_meta *m)
{
  memset (m, 0, sizeof *m);
  if (!ly->has_metadata)
    return;
  m->has_mode = (ly->metadata.mode & 0777) != 0;
  m->mode = (mode_t)(ly->metadata.mode & 0777);
  m->has_mtime = ly->metadata.has_mtime;
  m->mtime.tv_sec = (time_t)ly->metadata.mtime_sec;
  m->mtime.tv_nsec = ly->metadata.mtime_nsec;
}

static enum model_unpack_format
unpack_format (const model_layer *ly)
{
  if (ly->is_file)
    return MODEL_LAYER_RAW;
  switch (ly->type.format)
    {
    case MODEL_FORMAT_TAR_GZIP:
      return MODEL_LAYER_TAR_GZIP;
    case MODEL_FORMAT_TAR_ZSTD:
      return MODEL_LAYER_TAR_ZSTD;
    default:
      return MODEL_LAYER_TAR;
    }
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
  cleanup_free char *scratch = NULL, *fetched = NULL;
  size_t n_inc = 0, n_done = 0;
  bool force = false, plain = false;
  struct cli_model m = { 0 };
  mp_error err = { 0 };
  oci_layout *l = NULL;
  const char *dir;
  char tmp[64] = "";
  cleanup_close int dfd = -1, tfd = -1;
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
  if (cli_model_load (l, argv[optind], &m, &err) < 0)
    {
      struct selection sel = { inc, n_inc };
      int r;

      oci_layout_close (l);
      l = NULL;
      if (err.code != MP_ERR_NOT_FOUND || model_digest_is_valid (argv[optind]))
        return cli_fail ("extract", &err);
      /* Not stored: fetch the manifest, the config and only the selected
       * layers into a scratch layout beside the files, read it from there,
       * and remove it.  The store is not touched. */
      if (mp_mkdir_p (dir, 0755, &err) < 0)
        return cli_fail ("extract", &err);
      if (asprintf (&scratch, "%s/.modelpack-fetch.%d", dir, (int)getpid ())
          < 0)
        return CLI_ERR;
      r = cli_pull_partial (g, "extract", argv[optind], scratch, plain,
                            want_layer, &sel, &fetched);
      if (r == CLI_OK)
        {
          l = oci_layout_open (scratch, false, &err);
          if (l == NULL || cli_model_load (l, fetched, &m, &err) < 0)
            r = cli_fail ("extract", &err);
        }
      if (r != CLI_OK)
        {
          mp_error ignored;
          oci_layout_close (l);
          mp_rmtree_at (AT_FDCWD, scratch, &ignored);
          return r;
        }
    }
  if (mp_mkdir_p (dir, 0755, &err) < 0
      || (dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    {
      if (err.code == MP_OK)
        mp_error_sys (&err, errno, "open %s", dir);
      goto fail;
    }
  /* Refuse before writing anything. */
  for (size_t i = 0; i < m.manifest->n_layers && !force; i++)
    {
      const model_layer *ly = &m.manifest->layers[i];
      if (selected (ly, inc, n_inc) && ly->path != NULL
          && strcmp (ly->path, ".") != 0
          && faccessat (dfd, ly->path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        {
          mp_error_set (&err, MP_ERR_ALREADY_EXISTS,
                        "%s/%s exists (--force replaces it)", dir, ly->path);
          goto fail;
        }
    }
  snprintf (tmp, sizeof tmp, ".modelpack-extract.%d", (int)getpid ());
  if (mkdirat (dfd, tmp, 0700) < 0
      || (tfd = openat (dfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    {
      mp_error_sys (&err, errno, "create %s/%s", dir, tmp);
      tmp[0] = '\0';
      goto fail;
    }
  /* Every selected layer unpacked and verified first ... */
  for (size_t i = 0; i < m.manifest->n_layers; i++)
    {
      const model_layer *ly = &m.manifest->layers[i];
      struct model_file_meta meta;
      struct model_unpack_opts o = { 0 };
      char name[32];
      bool verified;
      cleanup_close int bfd = -1;

      if (!selected (ly, inc, n_inc))
        continue;
      raw_meta (ly, &meta);
      o.format = unpack_format (ly);
      o.expected_digest = ly->desc.digest.str;
      o.expected_diff_id = m.config != NULL && i < m.config->diff_ids.n
                               ? m.config->diff_ids.v[i]
                               : NULL;
      o.raw_path = ly->path;
      o.raw_meta = &meta;
      bfd = oci_layout_open_blob (l, ly->desc.digest.str, ly->desc.size,
                                  &verified, &err);
      snprintf (name, sizeof name, "L%zu", i);
      if (bfd < 0 || model_unpack_layer (bfd, tfd, name, &o, NULL, &err) < 0)
        {
          mp_error_prefix (&err, "layer %zu (%s)", i,
                           ly->path ? ly->path : ly->desc.digest.str);
          goto fail;
        }
      n_done++;
    }
  /* ... then moved into place, in layer order (later layers win). */
  for (size_t i = 0; i < m.manifest->n_layers; i++)
    {
      char name[32];
      cleanup_close int lfd = -1;

      snprintf (name, sizeof name, "L%zu", i);
      lfd = openat (tfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (lfd < 0)
        continue;
      if (merge_into (lfd, dfd, dir, &err) < 0)
        goto fail;
    }
  if (g->json)
    printf ("{\"reference\":%s,\"digest\":%s,\"layers\":%zu,"
            "\"directory\":%s}\n",
            cli_json (m.name), cli_json (m.digest), n_done, cli_json (dir));
  else if (!g->quiet)
    printf ("extracted %zu of %zu layers of %s into %s\n", n_done,
            m.manifest->n_layers, cli_text (m.name), cli_text (dir));
  rc = CLI_OK;

fail:
  if (tmp[0] != '\0' && dfd >= 0)
    {
      mp_error ignored;
      mp_rmtree_at (dfd, tmp, &ignored);
    }
  if (rc != CLI_OK)
    rc = cli_fail ("extract", &err);
  cli_model_free (&m);
  oci_layout_close (l);
  if (scratch != NULL)
    {
      mp_error ignored;
      mp_rmtree_at (AT_FDCWD, scratch, &ignored);
    }
  return rc;
}
