/* modelpack init: write a Modelfile for a model directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/modelfile.h"
#include "util/cleanup.h"

static void
usage (FILE *out)
{
  fputs (
      "usage: modelpack init DIR [--name NAME] [--force]\n"
      "\n"
      "Writes DIR/Modelfile: every file classified (MODEL for weights, "
      "CONFIG for\n"
      "weight configs and tokenizers, DOC, CODE, DATASET; others left "
      "out and listed),\n"
      "and NAME, FAMILY, ARCH, FORMAT, PRECISION filled in where config.json "
      "and the\n"
      "file names tell.  Refuses to replace a Modelfile without --force.\n",
      out);
}

struct found
{
  char **skipped;
  size_t n_skipped;
  const char *format; /* from the weights' extension */
};

static int
scan (int dirfd, const char *prefix, modelfile *mf, struct found *fd_,
      int depth, mp_error *err)
{
  int fd = dup (dirfd);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *e;
  char **names = NULL;
  size_t n = 0;
  int rc = 0;

  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return mp_error_sys (err, errno, "read %s", prefix);
    }
  while ((e = readdir (d)) != NULL)
    {
      char **v;
      if (e->d_name[0] == '.'
          || (depth == 0 && strcmp (e->d_name, "Modelfile") == 0))
        continue;
      v = realloc (names, (n + 1) * sizeof *v);
      if (v == NULL || (v[n] = strdup (e->d_name)) == NULL)
        {
          free (v ? v : names);
          closedir (d);
          return mp_error_sys (err, ENOMEM, "init");
        }
      names = v;
      n++;
    }
  closedir (d);
  /* Sorted: the same directory gives the same Modelfile. */
  qsort (names, n, sizeof *names, (int (*) (const void *, const void *))strcmp);
  for (size_t i = 0; i < n && rc == 0; i++)
    {
      char rel[4096];
      struct stat st;

      snprintf (rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "",
                names[i]);
      if (fstatat (dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
        rc = mp_error_sys (err, errno, "stat %s", rel);
      else if (S_ISDIR (st.st_mode) && depth < 32)
        {
          int sub = openat (dirfd, names[i],
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          rc = sub < 0 ? mp_error_sys (err, errno, "open %s", rel)
                       : scan (sub, rel, mf, fd_, depth + 1, err);
          if (sub >= 0)
            close (sub);
        }
      else if (S_ISREG (st.st_mode))
        {
          int k = modelfile_classify (rel);
          if (k < 0)
            {
              char **v
                  = realloc (fd_->skipped, (fd_->n_skipped + 1) * sizeof *v);
              if (v == NULL || (v[fd_->n_skipped] = strdup (rel)) == NULL)
                rc = mp_error_sys (err, ENOMEM, "init");
              else
                {
                  fd_->skipped = v;
                  fd_->n_skipped++;
                }
            }
          else if (modelfile_add_rule (mf, (enum modelfile_kind)k, rel) < 0)
            rc = mp_error_sys (err, ENOMEM, "init");
          if (k == MODELFILE_MODEL && fd_->format == NULL)
            {
              const char *dot = strrchr (names[i], '.');
              if (dot && strcmp (dot, ".safetensors") == 0)
                fd_->format = "safetensors";
              else if (dot && strcmp (dot, ".gguf") == 0)
                fd_->format = "gguf";
              else if (dot && strcmp (dot, ".onnx") == 0)
                fd_->format = "onnx";
              else if (dot
                       && (strcmp (dot, ".bin") == 0 || strcmp (dot, ".pt") == 0
                           || strcmp (dot, ".pth") == 0))
                fd_->format = "pytorch";
            }
        }
    }
  for (size_t i = 0; i < n; i++)
    free (names[i]);
  free (names);
  return rc;
}

/* Fields config.json (Hugging Face style) tells. */
static void
infer_from_config (int dirfd, modelfile *mf)
{
  int fd = openat (dirfd, "config.json", O_RDONLY | O_CLOEXEC);
  FILE *f = fd >= 0 ? fdopen (fd, "r") : NULL;
  json_t *j, *v;

  if (f == NULL)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  j = json_loadf (f, 0, NULL);
  fclose (f);
  if (!json_is_object (j))
    {
      json_decref (j);
      return;
    }
  v = json_object_get (j, "model_type");
  if (json_is_string (v) && mf->family == NULL)
    mf->family = strdup (json_string_value (v));
  v = json_object_get (j, "torch_dtype");
  if (!json_is_string (v))
    v = json_object_get (j, "dtype");
  if (json_is_string (v) && mf->precision == NULL)
    mf->precision = strdup (json_string_value (v));
  if (json_is_array (json_object_get (j, "architectures")) && mf->arch == NULL)
    mf->arch = strdup ("transformer");
  json_decref (j);
}

int
cli_init (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "name", required_argument, NULL, 'n' },
          { "force", no_argument, NULL, 'f' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  const char *name = NULL, *dir;
  bool force = false;
  struct found found = { 0 };
  modelfile *mf;
  cleanup_close int dfd = -1;
  cleanup_free char *text = NULL, *dircopy = NULL;
  mp_error err = { 0 };
  int c, rc = CLI_OK;

  while ((c = getopt_long (argc, argv, "n:fh", opts, NULL)) != -1)
    switch (c)
      {
      case 'n':
        name = optarg;
        break;
      case 'f':
        force = true;
        break;
      case 'h':
        usage (stdout);
        return CLI_OK;
      default:
        usage (stderr);
        return CLI_USAGE;
      }
  if (optind + 1 != argc)
    {
      usage (stderr);
      return CLI_USAGE;
    }
  dir = argv[optind];
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    {
      mp_error_set (&err, errno == ENOENT ? MP_ERR_NOT_FOUND : MP_ERR_INTERNAL,
                    "%s: %s", dir, strerror (errno));
      return cli_fail ("init", &err);
    }
  if (!force && faccessat (dfd, "Modelfile", F_OK, 0) == 0)
    {
      mp_error_set (&err, MP_ERR_ALREADY_EXISTS,
                    "%s/Modelfile exists (--force replaces it)", dir);
      return cli_fail ("init", &err);
    }
  mf = calloc (1, sizeof *mf);
  if (mf == NULL)
    return CLI_ERR;
  dircopy = realpath (dir, NULL);
  mf->name = strdup (name ? name : dircopy ? basename (dircopy) : "model");
  if (scan (dfd, "", mf, &found, 0, &err) < 0)
    {
      modelfile_free (mf);
      return cli_fail ("init", &err);
    }
  modelfile_sort_rules (mf);
  infer_from_config (dfd, mf);
  if (found.format != NULL)
    mf->format = strdup (found.format);
  text = modelfile_format (mf);
  if (text == NULL)
    rc = CLI_ERR;
  else
    {
      char tmp[64];
      int fd;
      snprintf (tmp, sizeof tmp, ".Modelfile.%d", (int)getpid ());
      fd = openat (dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || write (fd, text, strlen (text)) != (ssize_t)strlen (text)
          || close (fd) < 0 || renameat (dfd, tmp, dfd, "Modelfile") < 0)
        {
          mp_error_sys (&err, errno, "write %s/Modelfile", dir);
          unlinkat (dfd, tmp, 0);
          rc = cli_fail ("init", &err);
        }
    }
  if (rc == CLI_OK)
    {
      if (g->json)
        {
          char *path = NULL;
          if (asprintf (&path, "%s/Modelfile", dir) < 0)
            path = NULL;
          printf ("{\"modelfile\":%s,\"files\":%zu,\"left_out\":%zu}\n",
                  cli_json (path != NULL ? path : dir), mf->n_rules,
                  found.n_skipped);
          free (path);
        }
      else
        {
          printf ("wrote %s/Modelfile: %zu files\n", cli_text (dir),
                  mf->n_rules);
          for (size_t i = 0; i < found.n_skipped; i++)
            printf ("left out (unknown kind; add a directive to include "
                    "it): %s\n",
                    cli_text (found.skipped[i]));
        }
    }
  for (size_t i = 0; i < found.n_skipped; i++)
    free (found.skipped[i]);
  free (found.skipped);
  modelfile_free (mf);
  return rc;
}
