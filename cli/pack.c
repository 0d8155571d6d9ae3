/* modelpack pack: a model directory into the store, as a ModelPack
 * artifact named by --tag. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "model/mediatype.h"
#include "model/modelfile.h"
#include "store/oci_layout.h"
#include "model/pack.h"
#include "model/reference.h"
#include "util/cleanup.h"

static void
usage (FILE *out)
{
  fputs ("usage: modelpack pack [--src DIR] [--modelfile FILE] --tag REF\n"
         "                      [--format raw|tar|tar+gzip|tar+zstd] "
         "[--keep-times]\n"
         "                      [--push [--plain-http]]\n"
         "\n"
         "Packs the model in DIR (default .) into the store as a ModelPack "
         "artifact\n"
         "named REF: one layer per file, classified by DIR/Modelfile (or "
         "FILE), or by\n"
         "file name when there is none (see modelpack init).  The same "
         "files give the\n"
         "same manifest digest unless --keep-times records file times and "
         "the creation\n"
         "time.\n"
         "--push then uploads it to the registry REF names.\n",
         out);
}

static void
progress (void *ctx, const char *path, int64_t size)
{
  fprintf (stderr, "packed %s (%lld bytes)\n", cli_text (path),
           (long long)size);
}

/* The Modelfile: FILE if given (must exist), else DIR/Modelfile if there.
 * *MF stays NULL without one. */
int
cli_read_modelfile (const char *dir, const char *file, modelfile **mf,
                    mp_error *err)
{
  cleanup_free char *path = NULL, *text = NULL;
  size_t len = 0;
  FILE *f;

  *mf = NULL;
  if (file == NULL && asprintf (&path, "%s/Modelfile", dir) < 0)
    return mp_error_sys (err, ENOMEM, "Modelfile");
  f = fopen (file ? file : path, "r");
  if (f == NULL)
    {
      if (file == NULL && errno == ENOENT)
        return 0;
      return mp_error_set (
          err, errno == ENOENT ? MP_ERR_NOT_FOUND : MP_ERR_INTERNAL,
          "cannot read %s: %s", file ? file : path, strerror (errno));
    }
  text = malloc (1 << 20);
  if (text != NULL)
    len = fread (text, 1, (1 << 20) - 1, f);
  fclose (f);
  if (text == NULL)
    return mp_error_sys (err, ENOMEM, "Modelfile");
  if (modelfile_parse (text, len, mf, err) < 0)
    return mp_error_prefix (err, "%s", file ? file : path);
  return 0;
}

int
cli_pack (const struct cli_globals *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "src", required_argument, NULL, 's' },
          { "modelfile", required_argument, NULL, 'f' },
          { "tag", required_argument, NULL, 't' },
          { "format", required_argument, NULL, 'F' },
          { "keep-times", no_argument, NULL, 'k' },
          { "push", no_argument, NULL, 'P' },
          { "plain-http", no_argument, NULL, 'H' },
          { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  const char *src = ".", *mfpath = NULL, *tag = NULL;
  struct model_pack_opts po = { .format = MODEL_FORMAT_RAW };
  struct model_pack_result res = { 0 };
  model_reference ref;
  char name[MODEL_REF_MAX + 512];
  modelfile *mf = NULL;
  oci_layout *l = NULL;
  model_blob_sink sink;
  bool push = false, plain_http = false;
  mp_error err = { 0 };
  int c, rc;

  while ((c = getopt_long (argc, argv, "s:f:t:h", opts, NULL)) != -1)
    switch (c)
      {
      case 's':
        src = optarg;
        break;
      case 'f':
        mfpath = optarg;
        break;
      case 't':
        tag = optarg;
        break;
      case 'F':
        if (strcmp (optarg, "raw") == 0)
          po.format = MODEL_FORMAT_RAW;
        else if (strcmp (optarg, "tar") == 0)
          po.format = MODEL_FORMAT_TAR;
        else if (strcmp (optarg, "tar+gzip") == 0)
          po.format = MODEL_FORMAT_TAR_GZIP;
        else if (strcmp (optarg, "tar+zstd") == 0)
          po.format = MODEL_FORMAT_TAR_ZSTD;
        else
          return cli_usage_error ("pack: --format %s: use raw, tar, tar+gzip "
                                  "or tar+zstd",
                                  optarg);
        break;
      case 'k':
        po.keep_times = true;
        break;
      case 'P':
        push = true;
        break;
      case 'H':
        plain_http = true;
        break;
      case 'h':
        usage (stdout);
        return CLI_OK;
      default:
        usage (stderr);
        return CLI_USAGE;
      }
  if (tag == NULL || optind != argc)
    {
      usage (stderr);
      return CLI_USAGE;
    }
  if (model_reference_parse (tag, &ref, &err) < 0)
    {
      cli_fail ("pack", &err);
      return CLI_BAD_REF;
    }
  model_reference_string (&ref, name, sizeof name);
  if (cli_read_modelfile (src, mfpath, &mf, &err) < 0)
    return cli_fail ("pack", &err);
  po.src = src;
  po.mf = mf;
  if (g->progress)
    po.progress = progress;
  l = oci_layout_open (g->store, true, &err);
  if (l == NULL)
    {
      modelfile_free (mf);
      return cli_fail ("pack: store", &err);
    }
  oci_layout_sink (l, &sink);
  rc = model_pack (&sink, &po, &res, &err);
  if (rc == 0)
    rc = oci_layout_tag (l, name, MODEL_OCI_MEDIA_TYPE_MANIFEST,
                         res.manifest_digest, res.manifest_size,
                         MODEL_ARTIFACT_TYPE_MANIFEST, &err);
  if (rc < 0)
    {
      /* Blobs already written are unreferenced: collect them. */
      oci_layout_gc (l, NULL, NULL);
      oci_layout_close (l);
      modelfile_free (mf);
      model_pack_result_free (&res);
      return cli_fail ("pack", &err);
    }
  if (g->json)
    printf ("{\"reference\":%s,\"digest\":%s,\"layers\":%zu,"
            "\"size\":%lld}\n",
            cli_json (name), cli_json (res.manifest_digest), res.n_layers,
            (long long)res.total_size);
  else
    printf ("%s %s\n", cli_text (name), cli_text (res.manifest_digest));
  oci_layout_close (l);
  modelfile_free (mf);
  model_pack_result_free (&res);
  return push ? cli_push_ref (g, name, plain_http) : CLI_OK;
}
