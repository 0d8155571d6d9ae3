/* The ModelPack/OCI format layer: digests, media types, manifests and
 * indexes as modctl, KitOps and oras write them, platform selection, and
 * the path sanitizer that stands between annotations and the filesystem. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/digest.h"
#include "model/manifest.h"
#include "model/mediatype.h"
#include "model/modelconfig.h"
#include "model/modelfile.h"
#include "tests/harness.h"

#define X8(s) s s s s s s s s
#define HEX64(c) X8 (c c c c c c c c)
#define DA "sha256:" HEX64 ("a")
#define DB "sha256:" HEX64 ("b")
#define DC "sha256:" HEX64 ("c")
#define DD "sha256:" HEX64 ("d")
#define DE "sha256:" HEX64 ("e")
#define EMPTY_SHA256                                                           \
  "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256                                                             \
  "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_SHA512                                                             \
  "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"    \
  "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

/* ---- digests ----------------------------------------------------------- */

TEST (test_digest_parse_valid)
{
  model_digest d;
  mp_error err = { 0 };

  CHECK (model_digest_parse (ABC_SHA256, &d, &err) == 0);
  CHECK (d.algo == MODEL_DIGEST_SHA256);
  CHECK_STR (d.str, ABC_SHA256);
  CHECK_STR (model_digest_hex (&d), ABC_SHA256 + 7);
  CHECK (model_digest_parse (ABC_SHA512, &d, &err) == 0);
  CHECK (d.algo == MODEL_DIGEST_SHA512);
  CHECK (strlen (model_digest_hex (&d)) == 128);
  CHECK_STR (model_digest_algo_name (d.algo), "sha512");
  {
    model_digest zero = { 0 };
    CHECK_STR (model_digest_hex (&zero), "");
  }
}

TEST (test_digest_parse_invalid)
{
  static const char *const bad[] = {
    "",
    "sha256",
    "sha256:",
    ":" HEX64 ("a"),
    "sha256:" HEX64 ("A"),     /* uppercase */
    "SHA256:" HEX64 ("a"),     /* uppercase algorithm */
    "sha256:abc",              /* short */
    "sha256:" HEX64 ("a") "a", /* long */
    "sha256:" X8 ("aaaaaaag"), /* not hex */
    "sha256:../../../../etc/passwd" X8 ("aaaaaa"),
    "sha256:" X8 ("aaaa/aaa"),
    "sha256:" X8 ("aaaaaaa\n"),
    "sha256 :" HEX64 ("a"),
    "sha512:" HEX64 ("a"),           /* sha512 needs 128 */
    "sha384:" HEX64 ("a") X8 ("aa"), /* unsupported */
    "blake3:" HEX64 ("a"),
    "md5:d41d8cd98f00b204e9800998ecf8427e",
  };
  mp_error err = { 0 };
  model_digest d;

  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      mp_error_clear (&err);
      if (model_digest_parse (bad[i], &d, &err) == 0)
        fprintf (stderr, "accepted bad digest #%zu\n", i);
      CHECK (model_digest_parse (bad[i], &d, &err) == -1);
      CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
      CHECK (!model_digest_is_valid (bad[i]));
    }
  CHECK (model_digest_parse (NULL, &d, &err) == -1);

  /* The reasons differ and the input is quoted safely. */
  model_digest_parse ("sha256:" HEX64 ("A"), &d, &err);
  CHECK (strstr (err.msg, "64 lowercase hex") != NULL);
  model_digest_parse ("blake3:" HEX64 ("a"), &d, &err);
  CHECK (strstr (err.msg, "unsupported digest algorithm") != NULL);
  model_digest_parse ("sha256:\x1b[31m", &d, &err);
  CHECK (strchr (err.msg, '\x1b') == NULL);
  CHECK (strstr (err.msg, "\\x1b") != NULL);
}

TEST (test_digest_hasher)
{
  model_digest d, whole;
  mp_error err = { 0 };
  model_hasher *h;

  CHECK (model_digest_buffer (MODEL_DIGEST_SHA256, "", 0, &d, &err) == 0);
  CHECK_STR (d.str, EMPTY_SHA256);
  CHECK (model_digest_buffer (MODEL_DIGEST_SHA256, "abc", 3, &d, &err) == 0);
  CHECK_STR (d.str, ABC_SHA256);
  CHECK (model_digest_buffer (MODEL_DIGEST_SHA512, "abc", 3, &d, &err) == 0);
  CHECK_STR (d.str, ABC_SHA512);

  /* Streaming in uneven pieces equals hashing at once. */
  {
    char buf[10000];
    for (size_t i = 0; i < sizeof buf; i++)
      buf[i] = (char)(i * 7);
    CHECK (
        model_digest_buffer (MODEL_DIGEST_SHA256, buf, sizeof buf, &whole, &err)
        == 0);
    h = model_hasher_new (MODEL_DIGEST_SHA256, &err);
    REQUIRE (h != NULL);
    for (size_t off = 0, step = 1; off < sizeof buf; off += step, step *= 3)
      {
        size_t n = off + step > sizeof buf ? sizeof buf - off : step;
        CHECK (model_hasher_update (h, buf + off, n, &err) == 0);
      }
    CHECK (model_hasher_bytes (h) == sizeof buf);
    CHECK (model_hasher_final (h, &d, &err) == 0);
    CHECK (model_digest_equal (&d, &whole));
    /* A finished hasher refuses more input rather than lying. */
    CHECK (model_hasher_update (h, "x", 1, &err) == -1);
    model_hasher_free (h);
  }
}

TEST (test_digest_file_and_verify)
{
  char path[] = "/tmp/mp-digest-XXXXXX";
  int fd = mkstemp (path);
  model_digest d, expected, wrong;
  mp_error err = { 0 };

  REQUIRE (fd >= 0);
  CHECK (write (fd, "abc", 3) == 3);
  close (fd);
  CHECK (model_digest_file (path, MODEL_DIGEST_SHA256, &d, &err) == 0);
  CHECK_STR (d.str, ABC_SHA256);
  CHECK (model_digest_parse (ABC_SHA256, &expected, &err) == 0);
  CHECK (model_digest_verify (&expected, &d, &err) == 0);
  CHECK (model_digest_verify_file (path, &expected, &err) == 0);

  CHECK (model_digest_parse (DA, &wrong, &err) == 0);
  CHECK (model_digest_verify (&wrong, &d, &err) == -1);
  CHECK (err.code == MP_ERR_DATA_LOSS);
  CHECK_STR (err.msg, "digest mismatch: expected " DA ", got " ABC_SHA256);
  CHECK (model_digest_verify_file (path, &wrong, &err) == -1);
  CHECK (strstr (err.msg, "digest mismatch") != NULL);

  /* sha512 expected: the file is hashed with sha512. */
  CHECK (model_digest_parse (ABC_SHA512, &expected, &err) == 0);
  CHECK (model_digest_verify_file (path, &expected, &err) == 0);

  unlink (path);
  CHECK (model_digest_file (path, MODEL_DIGEST_SHA256, &d, &err) == -1);
  CHECK (err.code == MP_ERR_NOT_FOUND);
}

TEST (test_quote)
{
  char q[MODEL_QUOTE_BUF];
  char longs[300];

  CHECK_STR (model_quote ("a\"b\\c\n", q, sizeof q), "\"a\\x22b\\x5cc\\x0a\"");
  memset (longs, 'x', sizeof longs - 1);
  longs[sizeof longs - 1] = '\0';
  model_quote (longs, q, sizeof q);
  CHECK (strlen (q) < 100);
  CHECK (strstr (q, "\"...") != NULL);
}

/* ---- media types ------------------------------------------------------- */

TEST (test_media_types_modelpack)
{
  static const struct
  {
    const char *name;
    enum model_layer_kind kind;
  } kinds[] = {
    { "weight", MODEL_LAYER_WEIGHT },
    { "weight.config", MODEL_LAYER_WEIGHT_CONFIG },
    { "doc", MODEL_LAYER_DOC },
    { "code", MODEL_LAYER_CODE },
    { "dataset", MODEL_LAYER_DATASET },
  };
  static const struct
  {
    const char *name;
    enum model_layer_format format;
  } formats[] = {
    { "raw", MODEL_FORMAT_RAW },
    { "tar", MODEL_FORMAT_TAR },
    { "tar+gzip", MODEL_FORMAT_TAR_GZIP },
    { "tar+zstd", MODEL_FORMAT_TAR_ZSTD },
  };
  int seen = 0;

  for (int legacy = 0; legacy < 2; legacy++)
    for (size_t k = 0; k < 5; k++)
      for (size_t f = 0; f < 4; f++)
        {
          char mt[128];
          model_media_type_info info;

          snprintf (mt, sizeof mt, "application/vnd.%s.model.%s.v1.%s",
                    legacy ? "cnai" : "cncf", kinds[k].name, formats[f].name);
          info = model_media_type_classify (mt);
          CHECK (info.kind == kinds[k].kind);
          CHECK (info.format == formats[f].format);
          CHECK (info.legacy == (bool)legacy);
          CHECK (info.is_modelpack);
          if (!legacy)
            CHECK_STR (model_media_type_for (kinds[k].kind, formats[f].format),
                       mt);
          seen++;
        }
  CHECK (seen == 40);
  CHECK_STR (model_layer_kind_name (MODEL_LAYER_WEIGHT_CONFIG),
             "weight.config");
  CHECK_STR (model_layer_format_name (MODEL_FORMAT_TAR_ZSTD), "tar+zstd");
  CHECK (model_media_type_for (MODEL_LAYER_IMAGE, MODEL_FORMAT_TAR) == NULL);
}

TEST (test_media_types_generic_and_other)
{
  static const struct
  {
    const char *mt;
    enum model_layer_kind kind;
    enum model_layer_format format;
  } cases[] = {
    { "application/vnd.oci.image.layer.v1.tar", MODEL_LAYER_IMAGE,
      MODEL_FORMAT_TAR },
    { "application/vnd.oci.image.layer.v1.tar+gzip", MODEL_LAYER_IMAGE,
      MODEL_FORMAT_TAR_GZIP },
    { "application/vnd.oci.image.layer.v1.tar+zstd", MODEL_LAYER_IMAGE,
      MODEL_FORMAT_TAR_ZSTD },
    { "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      MODEL_LAYER_IMAGE, MODEL_FORMAT_TAR_GZIP },
    { "application/vnd.docker.image.rootfs.diff.tar", MODEL_LAYER_IMAGE,
      MODEL_FORMAT_TAR },
    { "application/vnd.docker.image.rootfs.diff.tar.gzip", MODEL_LAYER_IMAGE,
      MODEL_FORMAT_TAR_GZIP },
    { "application/vnd.docker.image.rootfs.diff.tar.zstd", MODEL_LAYER_IMAGE,
      MODEL_FORMAT_TAR_ZSTD },
    { "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
      MODEL_LAYER_IMAGE, MODEL_FORMAT_TAR_GZIP },
    { "application/octet-stream", MODEL_LAYER_OTHER, MODEL_FORMAT_RAW },
    { "application/vnd.example.gguf", MODEL_LAYER_OTHER, MODEL_FORMAT_RAW },
    /* Near misses of the ModelPack names are not guessed at. */
    { "application/vnd.cncf.model.weight.v1.tar+lz4", MODEL_LAYER_OTHER,
      MODEL_FORMAT_RAW },
    { "application/vnd.cncf.model.weight.v2.raw", MODEL_LAYER_OTHER,
      MODEL_FORMAT_RAW },
    { "application/vnd.cncf.model.weights.v1.raw", MODEL_LAYER_OTHER,
      MODEL_FORMAT_RAW },
    { "application/vnd.cncf.model.weight.v1.raw ", MODEL_LAYER_OTHER,
      MODEL_FORMAT_RAW },
    { "Application/vnd.oci.image.layer.v1.tar", MODEL_LAYER_OTHER,
      MODEL_FORMAT_RAW },
    { "", MODEL_LAYER_OTHER, MODEL_FORMAT_RAW },
  };

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      model_media_type_info info = model_media_type_classify (cases[i].mt);
      CHECK (info.kind == cases[i].kind);
      CHECK (info.format == cases[i].format);
      CHECK (!info.is_modelpack);
    }
  CHECK (model_media_type_classify (NULL).kind == MODEL_LAYER_OTHER);

  CHECK (model_media_type_is_model_artifact (MODEL_ARTIFACT_TYPE_MANIFEST));
  CHECK (model_media_type_is_model_artifact (
      "application/vnd.cnai.model.manifest.v1+json"));
  CHECK (!model_media_type_is_model_artifact ("application/vnd.example"));
  CHECK (!model_media_type_is_model_artifact (NULL));
  CHECK (model_media_type_is_model_config (
      "application/vnd.cncf.model.config.v1+json"));
  CHECK (model_media_type_is_model_config (MODEL_MEDIA_TYPE_CONFIG_LEGACY));
  CHECK_STR (MODEL_ANNOTATION_FILEPATH, "org.cncf.model.filepath");
  CHECK_STR (MODEL_ANNOTATION_FILE_METADATA,
             "org.cncf.model.file.metadata+json");
  CHECK_STR (MODEL_ANNOTATION_MEDIATYPE_UNTESTED,
             "org.cncf.model.file.mediatype.untested");
  CHECK_STR (MODEL_ANNOTATION_FILEPATH_LEGACY, "org.cnai.model.filepath");
}

/* ---- path sanitizer ---------------------------------------------------- */

TEST (test_path_sanitize)
{
  static const struct
  {
    const char *in, *out; /* out NULL: must be refused */
  } cases[] = {
    { "model.safetensors", "model.safetensors" },
    { "a//b/./c", "a/b/c" },
    { "./a/b/", "a/b" },
    { "a/./././b//", "a/b" },
    { ".hidden/..x/x..", ".hidden/..x/x.." },
    { "...", "..." },
    { "dir with space/ü.bin", "dir with space/ü.bin" },
    { "../x", NULL },
    { "/etc/passwd", NULL },
    { "a/../../b", NULL },
    { "a/..", NULL },
    { "a/b/../c", NULL }, /* even when it would stay inside */
    { "..", NULL },
    { "", NULL },
    { ".", NULL },
    { "./", NULL },
    { "//", NULL },
    { "a\nb", NULL },
    { "a\tb", NULL },
    { "a\x7f", NULL },
    { "a\rb", NULL },
  };
  mp_error err = { 0 };

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      char *out = NULL;
      int r = model_path_sanitize (cases[i].in, &out, &err);

      if (cases[i].out != NULL)
        {
          CHECK (r == 0);
          CHECK_STR (out, cases[i].out);
        }
      else
        {
          if (r == 0)
            fprintf (stderr, "accepted unsafe path #%zu\n", i);
          CHECK (r == -1);
          CHECK (out == NULL);
          CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
        }
      free (out);
    }
  {
    char big[600];
    char *out = NULL;

    memset (big, 'x', 300);
    big[300] = '\0';
    CHECK (model_path_sanitize (big, &out, &err) == -1);
    CHECK (strstr (err.msg, "255") != NULL);
  }
  {
    char *out = NULL;
    CHECK (model_path_sanitize ("a/../../b", &out, &err) == -1);
    CHECK (strstr (err.msg, "\"..\"") != NULL);
    CHECK (model_path_sanitize ("/etc/passwd", &out, &err) == -1);
    CHECK (strstr (err.msg, "absolute") != NULL);
    CHECK (model_path_sanitize ("a\nb", &out, &err) == -1);
    CHECK (strstr (err.msg, "\\x0a") != NULL);
  }
}

/* ---- manifests --------------------------------------------------------- */

static model_manifest *
parse_manifest (const char *json, mp_error *err)
{
  model_manifest *m = NULL;

  if (model_manifest_parse (json, strlen (json), &m, err) < 0)
    return NULL;
  return m;
}

/* modctl: one raw layer per file, path and metadata in annotations. */
static const char modctl_manifest[]
    = "{"
      "\"schemaVersion\":2,"
      "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"artifactType\":\"application/vnd.cncf.model.manifest.v1+json\","
      "\"config\":{\"mediaType\":\"application/vnd.cncf.model.config.v1+json\","
      "  \"digest\":\"" DA "\",\"size\":321},"
      "\"layers\":["
      " {\"mediaType\":\"application/vnd.cncf.model.weight.v1.raw\","
      "  \"digest\":\"" DB "\",\"size\":1234567890123,"
      "  \"annotations\":{"
      "   \"org.cncf.model.filepath\":\"model-00001-of-00002.safetensors\","
      "   "
      "\"org.cncf.model.file.metadata+json\":\"{\\\"name\\\":\\\"model-00001-"
      "of-00002.safetensors\\\",\\\"mode\\\":420,\\\"uid\\\":1000,\\\"gid\\\":"
      "1000,\\\"size\\\":1234567890123,\\\"mtime\\\":\\\"2025-03-04T05:06:07."
      "123456789+08:00\\\",\\\"typeflag\\\":0}\","
      "   \"org.cncf.model.file.mediatype.untested\":\"false\"}},"
      " {\"mediaType\":\"application/vnd.cncf.model.weight.config.v1.raw\","
      "  \"digest\":\"" DC "\",\"size\":42,"
      "  \"annotations\":{"
      "   \"org.cncf.model.filepath\":\"./tokenizer//tokenizer.json\","
      "   "
      "\"org.cncf.model.file.metadata+json\":\"{\\\"name\\\":\\\"tokenizer."
      "json\\\",\\\"mode\\\":384,\\\"uid\\\":0,\\\"gid\\\":0,\\\"size\\\":42,"
      "\\\"mtime\\\":\\\"2025-01-01T00:00:00Z\\\",\\\"typeflag\\\":48}\","
      "   \"org.cncf.model.file.mediatype.untested\":\"true\"}},"
      " {\"mediaType\":\"application/vnd.cncf.model.doc.v1.raw\","
      "  \"digest\":\"" DD "\",\"size\":0,"
      "  \"annotations\":{\"org.cncf.model.filepath\":\"README.md\"}}"
      "],"
      "\"annotations\":{\"org.opencontainers.image.created\":\"2025-01-01T00:"
      "00:00Z\"}"
      "}";

TEST (test_manifest_modctl)
{
  mp_error err = { 0 };
  model_manifest *m = parse_manifest (modctl_manifest, &err);
  const model_layer *l;

  if (m == NULL)
    fprintf (stderr, "%s\n", err.msg);
  REQUIRE (m != NULL);
  CHECK (m->schema_version == 2);
  CHECK (m->is_modelpack);
  CHECK (!m->legacy);
  CHECK (!m->is_image);
  CHECK_STR (m->artifact_type, MODEL_ARTIFACT_TYPE_MANIFEST);
  CHECK_STR (m->config.media_type, MODEL_MEDIA_TYPE_CONFIG);
  CHECK_STR (m->config.digest.str, DA);
  CHECK (m->config.size == 321);
  CHECK_STR (model_annotations_get (&m->annotations,
                                    "org.opencontainers.image.created"),
             "2025-01-01T00:00:00Z");
  REQUIRE (m->n_layers == 3);

  l = &m->layers[0];
  CHECK (l->type.kind == MODEL_LAYER_WEIGHT);
  CHECK (l->type.format == MODEL_FORMAT_RAW);
  CHECK (l->is_file);
  CHECK (l->desc.size == 1234567890123LL);
  CHECK_STR (l->path, "model-00001-of-00002.safetensors");
  CHECK (l->path_source == MODEL_PATH_FILEPATH);
  REQUIRE (l->has_metadata);
  CHECK_STR (l->metadata.name, "model-00001-of-00002.safetensors");
  CHECK (l->metadata.mode == 0644);
  CHECK (l->metadata.uid == 1000 && l->metadata.gid == 1000);
  CHECK (l->metadata.size == 1234567890123LL);
  CHECK (l->metadata.has_mtime);
  /* 2025-03-04T05:06:07+08:00 is 2025-03-03T21:06:07Z. */
  CHECK (l->metadata.mtime_sec == 1741035967);
  CHECK (l->metadata.mtime_nsec == 123456789);
  CHECK (l->metadata.type == MODEL_FILE_REGULAR);
  CHECK (l->untested == MODEL_BOOL_FALSE);

  l = &m->layers[1];
  CHECK (l->type.kind == MODEL_LAYER_WEIGHT_CONFIG);
  CHECK_STR (l->path, "tokenizer/tokenizer.json");
  CHECK (l->metadata.mode == 0600);
  CHECK (l->metadata.typeflag == '0');
  CHECK (l->metadata.type == MODEL_FILE_REGULAR);
  CHECK (l->metadata.mtime_sec == 1735689600);
  CHECK (l->untested == MODEL_BOOL_TRUE);

  l = &m->layers[2];
  CHECK (l->type.kind == MODEL_LAYER_DOC);
  CHECK_STR (l->path, "README.md");
  CHECK (!l->has_metadata);
  CHECK (l->untested == MODEL_BOOL_UNSET);
  CHECK (l->desc.size == 0);
  model_manifest_free (m);
}

/* KitOps with --use-model-pack: tar layers, whole directories, no
 * artifactType (recognised by its config), a layer for the whole context. */
static const char kitops_manifest[]
    = "{"
      "\"schemaVersion\":2,"
      "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"config\":{\"mediaType\":\"application/vnd.cncf.model.config.v1+json\","
      "  \"digest\":\"" DA "\",\"size\":500},"
      "\"layers\":["
      " {\"mediaType\":\"application/vnd.cncf.model.weight.v1.tar\","
      "  \"digest\":\"" DB "\",\"size\":10240,"
      "  \"annotations\":{\"org.cncf.model.filepath\":\"models/qwen3\","
      "   "
      "\"org.cncf.model.file.metadata+json\":\"{\\\"name\\\":\\\"qwen3\\\","
      "\\\"mode\\\":493,\\\"uid\\\":0,\\\"gid\\\":0,\\\"size\\\":0,"
      "\\\"mtime\\\":\\\"1970-01-01T00:00:00Z\\\",\\\"typeflag\\\":5}\"}},"
      " {\"mediaType\":\"application/vnd.cncf.model.code.v1.tar+gzip\","
      "  \"digest\":\"" DC "\",\"size\":2048,"
      "  \"annotations\":{\"org.cncf.model.filepath\":\".\"}},"
      " {\"mediaType\":\"application/vnd.cncf.model.dataset.v1.tar+zstd\","
      "  \"digest\":\"" DD "\",\"size\":4096,"
      "  \"annotations\":{\"org.cncf.model.filepath\":\"data/\"}},"
      " {\"mediaType\":\"application/vnd.cncf.model.doc.v1.tar\","
      "  \"digest\":\"" DE "\",\"size\":3072}"
      "]}";

TEST (test_manifest_kitops)
{
  mp_error err = { 0 };
  model_manifest *m = parse_manifest (kitops_manifest, &err);

  if (m == NULL)
    fprintf (stderr, "%s\n", err.msg);
  REQUIRE (m != NULL);
  CHECK (m->is_modelpack);
  CHECK (m->artifact_type == NULL);
  REQUIRE (m->n_layers == 4);
  CHECK (m->layers[0].type.format == MODEL_FORMAT_TAR);
  CHECK (!m->layers[0].is_file);
  CHECK_STR (m->layers[0].path, "models/qwen3");
  CHECK (m->layers[0].metadata.type == MODEL_FILE_DIR);
  CHECK (m->layers[0].metadata.mtime_sec == 0);
  CHECK (m->layers[1].type.kind == MODEL_LAYER_CODE);
  CHECK (m->layers[1].type.format == MODEL_FORMAT_TAR_GZIP);
  CHECK_STR (m->layers[1].path, ".");
  CHECK (m->layers[2].type.format == MODEL_FORMAT_TAR_ZSTD);
  CHECK_STR (m->layers[2].path, "data");
  CHECK (m->layers[3].path == NULL);
  CHECK (m->layers[3].path_source == MODEL_PATH_NONE);
  model_manifest_free (m);
}

/* oras push --artifact-type ...: titled layers, plain files typed as OCI
 * tar layers (oras's default), a directory packed as tar+gzip. */
static const char oras_manifest[]
    = "{"
      "\"schemaVersion\":2,"
      "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"artifactType\":\"application/vnd.example.model.v1\","
      "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
      "  "
      "\"digest\":\"sha256:"
      "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
      "  \"size\":2,\"data\":\"e30=\"},"
      "\"layers\":["
      " {\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
      "  \"digest\":\"" DB "\",\"size\":100,"
      "  \"annotations\":{\"org.opencontainers.image.title\":\"model.gguf\"}},"
      " {\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
      "  \"digest\":\"" DC "\",\"size\":200,"
      "  \"annotations\":{\"org.opencontainers.image.title\":\"tokenizer\","
      "   \"io.deis.oras.content.digest\":\"" DD "\","
      "   \"io.deis.oras.content.unpack\":\"true\"}},"
      " {\"mediaType\":\"application/x-custom\","
      "  \"digest\":\"" DD
      "\",\"size\":300,\"urls\":[\"https://example.com/x\"],"
      "  \"annotations\":{\"org.opencontainers.image.title\":\"notes.txt\"}}"
      "],"
      "\"subject\":{\"mediaType\":\"application/"
      "vnd.oci.image.manifest.v1+json\","
      "  \"digest\":\"" DE "\",\"size\":999}"
      "}";

TEST (test_manifest_oras)
{
  mp_error err = { 0 };
  model_manifest *m = parse_manifest (oras_manifest, &err);

  if (m == NULL)
    fprintf (stderr, "%s\n", err.msg);
  REQUIRE (m != NULL);
  CHECK (!m->is_modelpack);
  CHECK (!m->is_image);
  CHECK (m->has_subject);
  CHECK_STR (m->subject.digest.str, DE);
  REQUIRE (m->n_layers == 3);
  CHECK (m->layers[0].type.kind == MODEL_LAYER_IMAGE);
  CHECK (m->layers[0].is_file);
  CHECK_STR (m->layers[0].path, "model.gguf");
  CHECK (m->layers[0].path_source == MODEL_PATH_TITLE);
  CHECK (!m->layers[1].is_file);
  CHECK_STR (m->layers[1].path, "tokenizer");
  CHECK (m->layers[2].type.kind == MODEL_LAYER_OTHER);
  CHECK (m->layers[2].is_file);
  CHECK_STR (m->layers[2].path, "notes.txt");
  model_manifest_free (m);
}

TEST (test_manifest_legacy_and_precedence)
{
  static const char json[]
      = "{\"schemaVersion\":2,"
        "\"artifactType\":\"application/vnd.cnai.model.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/"
        "vnd.cnai.model.config.v1+json\","
        "\"digest\":\"" DA "\",\"size\":1},"
        "\"layers\":[{\"mediaType\":\"application/"
        "vnd.cnai.model.weight.v1.raw\","
        "\"digest\":\"" DB "\",\"size\":1,\"annotations\":{"
        "\"org.cnai.model.filepath\":\"w.bin\","
        "\"org.opencontainers.image.title\":\"other-name.bin\","
        "\"org.cnai.model.file.metadata+json\":\"{\\\"mode\\\":511}\"}},"
        "{\"mediaType\":\"application/vnd.cncf.model.weight.v1.raw\","
        "\"digest\":\"" DC "\",\"size\":1,\"annotations\":{"
        "\"org.cncf.model.filepath\":\"\","
        "\"org.opencontainers.image.title\":\"titled.bin\"}}]}";
  mp_error err = { 0 };
  model_manifest *m = parse_manifest (json, &err);

  if (m == NULL)
    fprintf (stderr, "%s\n", err.msg);
  REQUIRE (m != NULL);
  CHECK (m->is_modelpack && m->legacy);
  REQUIRE (m->n_layers == 2);
  CHECK (m->layers[0].type.legacy);
  /* The model-spec key wins over the title. */
  CHECK_STR (m->layers[0].path, "w.bin");
  CHECK (m->layers[0].path_source == MODEL_PATH_FILEPATH_LEGACY);
  CHECK (m->layers[0].has_metadata);
  CHECK (m->layers[0].metadata.mode == 0777);
  CHECK (!m->layers[0].metadata.has_mtime);
  /* An empty filepath counts as absent. */
  CHECK_STR (m->layers[1].path, "titled.bin");
  CHECK (m->layers[1].path_source == MODEL_PATH_TITLE);
  model_manifest_free (m);
}

static void
expect_manifest_error (const char *json, const char *needle)
{
  mp_error err = { 0 };
  model_manifest *m = NULL;

  if (model_manifest_parse (json, strlen (json), &m, &err) == 0)
    {
      fprintf (stderr, "accepted: %s\n", json);
      mp_test_failed_checks++;
      model_manifest_free (m);
      return;
    }
  if (err.code != MP_ERR_INVALID_ARGUMENT || strstr (err.msg, needle) == NULL)
    {
      fprintf (stderr, "error \"%s\" lacks \"%s\"\n", err.msg, needle);
      mp_test_failed_checks++;
    }
}

#define HDR                                                                    \
  "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA      \
  "\",\"size\":1},"
#define LAYER(mt, ann)                                                         \
  "{\"mediaType\":\"" mt "\",\"digest\":\"" DB "\",\"size\":5,"                \
  "\"annotations\":{" ann "}}"

TEST (test_manifest_rejects)
{
  /* Unsafe paths: the error names the layer index and its digest. */
  expect_manifest_error (
      HDR "\"layers\":[" LAYER ("application/vnd.cncf.model.weight.v1.raw",
                                "\"org.cncf.model.filepath\":\"../x\"") "]}",
      "layers[0] (" DB "): annotation org.cncf.model.filepath: path \"../x\" "
      "contains a \"..\" component");
  expect_manifest_error (
      HDR "\"layers\":[" LAYER ("a/b", "") "," LAYER (
          "application/vnd.cncf.model.doc.v1.raw",
          "\"org.cncf.model.filepath\":\"/etc/passwd\"") "]}",
      "layers[1] (" DB ")");
  expect_manifest_error (
      HDR "\"layers\":[" LAYER (
          "application/vnd.cncf.model.doc.v1.raw",
          "\"org.opencontainers.image.title\":\"a/../../b\"") "]}",
      "org.opencontainers.image.title");
  expect_manifest_error (
      HDR "\"layers\":[" LAYER ("application/vnd.cncf.model.doc.v1.raw",
                                "\"org.cnai.model.filepath\":\"a\\nb\"") "]}",
      "control character");
  /* A raw layer cannot be the root. */
  expect_manifest_error (
      HDR "\"layers\":[" LAYER ("application/vnd.cncf.model.doc.v1.raw",
                                "\"org.cncf.model.filepath\":\"./\"") "]}",
      "model root");
  /* A generic artifact's titled tar-typed layer is a file: no root. */
  expect_manifest_error (HDR "\"layers\":[" LAYER (
                             "application/vnd.oci.image.layer.v1.tar",
                             "\"org.opencontainers.image.title\":\".\"") "]}",
                         "model root");
  expect_manifest_error (
      HDR "\"layers\":[" LAYER (
          "application/vnd.cncf.model.doc.v1.raw",
          "\"org.cncf.model.filepath\":\"a\","
          "\"org.cncf.model.file.metadata+json\":\"{\\\"mode\\\":-1}\"") "]}",
      "layers[0] (" DB "): annotation org.cncf.model.file.metadata+json: mode");
  expect_manifest_error (
      HDR "\"layers\":[" LAYER ("application/vnd.cncf.model.doc.v1.raw",
                                "\"org.cncf.model.filepath\":\"a\","
                                "\"org.cncf.model.file.metadata+json\":\"{"
                                "\\\"mtime\\\":\\\"yesterday\\\"}\"") "]}",
      "mtime");
  expect_manifest_error (
      HDR "\"layers\":[" LAYER (
          "application/vnd.cncf.model.doc.v1.raw",
          "\"org.cncf.model.file.metadata+json\":\"not json\"") "]}",
      "not valid JSON");
  expect_manifest_error (
      HDR "\"layers\":[" LAYER (
          "application/vnd.cncf.model.doc.v1.raw",
          "\"org.cnai.model.file.metadata+json\":\"[1]\"") "]}",
      "annotation org.cnai.model.file.metadata+json: must be a JSON object");

  /* Descriptors. */
  expect_manifest_error (
      HDR "\"layers\":[{\"mediaType\":\"m\",\"digest\":\"sha256:" HEX64 (
          "A") "\",\"size\":1}]}",
      "layers[0].digest: invalid digest");
  expect_manifest_error (HDR "\"layers\":[{\"mediaType\":\"m\",\"digest\":\"" DB
                             "\",\"size\":-1}]}",
                         "layers[0] (" DB
                         ").size: must be a non-negative integer");
  expect_manifest_error (HDR "\"layers\":[{\"mediaType\":\"m\",\"digest\":\"" DB
                             "\",\"size\":1.5}]}",
                         "size");
  expect_manifest_error (HDR "\"layers\":[{\"digest\":\"" DB "\",\"size\":1}]}",
                         "mediaType: required");
  expect_manifest_error (HDR "\"layers\":[{\"mediaType\":\"m\",\"size\":1}]}",
                         "layers[0].digest: required");
  expect_manifest_error (HDR "\"layers\":[" LAYER ("m", "\"k\":1") "]}",
                         "annotations: value of \"k\" must be a string");
  expect_manifest_error (HDR "\"layers\":{}}", "layers: must be an array");
  expect_manifest_error (HDR "\"layers\":[1]}", "layers[0]: must be an object");

  /* Documents. */
  expect_manifest_error ("{\"schemaVersion\":1,\"config\":{}}",
                         "schemaVersion");
  expect_manifest_error ("{\"config\":{}}", "schemaVersion: required");
  expect_manifest_error ("[]", "top level must be a JSON object");
  expect_manifest_error ("{\"schemaVersion\":2", "not valid JSON");
  expect_manifest_error ("", "not valid JSON");
  expect_manifest_error (HDR "\"layers\":[],\"layers\":[]}", "duplicate");
  expect_manifest_error (
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index."
      "v1+json\",\"manifests\":[]}",
      "image index, not a manifest");
  expect_manifest_error (
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image."
      "manifest.v1+json\",\"manifests\":[],\"layers\":[]}",
      "mediaType says image manifest");
  expect_manifest_error (
      "{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"layers\":[]}",
      "neither");
  expect_manifest_error ("{\"schemaVersion\":2,\"layers\":[]}",
                         "config: required");
  expect_manifest_error ("{\"schemaVersion\":2}", "no mediaType");
}

TEST (test_manifest_docker_and_image)
{
  static const char json[] = "{\"schemaVersion\":2,"
                             "\"mediaType\":\"application/"
                             "vnd.docker.distribution.manifest.v2+json\","
                             "\"config\":{\"mediaType\":\"application/"
                             "vnd.docker.container.image.v1+json\","
                             "\"digest\":\"" DA "\",\"size\":1000},"
                             "\"layers\":[{\"mediaType\":\"application/"
                             "vnd.docker.image.rootfs.diff.tar.gzip\","
                             "\"digest\":\"" DB "\",\"size\":123,"
                             "\"annotations\":{\"org.opencontainers.image."
                             "title\":\"ignored-for-images\"}}]}";
  mp_error err = { 0 };
  model_manifest *m = parse_manifest (json, &err);
  enum model_doc_kind kind;

  REQUIRE (m != NULL);
  CHECK (m->is_image);
  CHECK (!m->is_modelpack);
  CHECK (m->layers[0].type.kind == MODEL_LAYER_IMAGE);
  CHECK (!m->layers[0].is_file);
  model_manifest_free (m);

  CHECK (model_oci_detect (json, strlen (json), &kind, &err) == 0);
  CHECK (kind == MODEL_DOC_MANIFEST);
  CHECK (model_oci_detect ("{\"manifests\":[]}", 16, &kind, &err) == 0);
  CHECK (kind == MODEL_DOC_INDEX);
  CHECK (model_oci_detect ("{\"manifests\":[],\"layers\":[]}", 28, &kind, &err)
         == -1);
}

/* Docker Model Runner artifacts: files named as Docker's unpacking names
 * them (docker/model-runner pkg/distribution/internal/bundle/unpack.go). */
#define DMR_LAYER(mt, d, extra)                                                \
  "{\"mediaType\":\"application/vnd.docker.ai." mt "\",\"digest\":\"" d        \
  "\",\"size\":10" extra "}"
#define DMR_PATH(p) ",\"annotations\":{\"org.cncf.model.filepath\":\"" p "\"}"

static model_manifest *
parse_dmr (const char *config_version, const char *layers, mp_error *err)
{
  char json[4096];

  snprintf (json, sizeof json,
            "{\"schemaVersion\":2,\"mediaType\":\"application/"
            "vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":"
            "\"application/vnd.docker.ai.model.config.%s+json\",\"digest\":"
            "\"" DA "\",\"size\":100},\"layers\":[%s]}",
            config_version, layers);
  return parse_manifest (json, err);
}

TEST (test_manifest_docker_model_runner)
{
  mp_error err = { 0 };
  model_manifest *m;

  m = parse_dmr (
      "v0.1",
      DMR_LAYER ("gguf.v3", DB, DMR_PATH ("Qwen3.gguf")) "," DMR_LAYER (
          "license", DC,
          "") "," DMR_LAYER ("mmproj", DD,
                             "") "," DMR_LAYER ("chat.template.jinja", DE, ""),
      &err);
  REQUIRE (m != NULL);
  CHECK (m->is_docker_model && !m->is_modelpack && !m->is_image);
  CHECK_STR (m->layers[0].path, "model.gguf");
  CHECK (m->layers[0].path_source == MODEL_PATH_DOCKER);
  CHECK_STR (m->layers[1].path, "license.txt");
  CHECK_STR (m->layers[2].path, "model.mmproj");
  CHECK_STR (m->layers[3].path, "template.jinja");
  for (size_t i = 0; i < m->n_layers; i++)
    CHECK (m->layers[i].is_file);
  model_manifest_free (m);

  m = parse_dmr (
      "v0.1",
      DMR_LAYER ("gguf.v3", DB, "") "," DMR_LAYER (
          "gguf.v3", DC,
          "") "," DMR_LAYER ("license", DD,
                             DMR_PATH (
                                 "LICENSE")) "," DMR_LAYER ("vllm.config.tar",
                                                            DE, ""),
      &err);
  REQUIRE (m != NULL);
  CHECK_STR (m->layers[0].path, "model-00001-of-00002.gguf");
  CHECK_STR (m->layers[1].path, "model-00002-of-00002.gguf");
  CHECK_STR (m->layers[2].path, "LICENSE");
  CHECK (m->layers[2].path_source == MODEL_PATH_FILEPATH);
  CHECK_STR (m->layers[3].path, ".");
  CHECK (!m->layers[3].is_file);
  CHECK (m->layers[3].type.format == MODEL_FORMAT_TAR);
  model_manifest_free (m);

  /* v0.2 is layer-per-file: the annotation wins for every type. */
  m = parse_dmr (
      "v0.2",
      DMR_LAYER ("gguf.v3", DB, DMR_PATH ("sub/q.gguf")) "," DMR_LAYER (
          "safetensors", DC,
          "") "," DMR_LAYER ("dduf", DD, "") "," DMR_LAYER ("model.file", DE,
                                                            ""),
      &err);
  REQUIRE (m != NULL);
  CHECK_STR (m->layers[0].path, "sub/q.gguf");
  CHECK_STR (m->layers[1].path, "model.safetensors");
  CHECK_STR (m->layers[2].path, HEX64 ("d") ".dduf");
  CHECK (m->layers[3].path == NULL);
  model_manifest_free (m);

  m = parse_dmr ("v0.1",
                 DMR_LAYER ("mmproj", DB, "") "," DMR_LAYER ("mmproj", DC, ""),
                 &err);
  CHECK (m == NULL);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, "at most one") != NULL);
  model_manifest_free (m);

  /* The same layers in an artifact that is not Docker's have no names. */
  {
    static const char json[]
        = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
          "vnd.oci.empty.v1+json\",\"digest\":\"" DA "\",\"size\":2},"
          "\"layers\":[" DMR_LAYER ("gguf.v3", DB, "") "]}";
    m = parse_manifest (json, &err);
    REQUIRE (m != NULL);
    CHECK (!m->is_docker_model);
    CHECK (m->layers[0].path == NULL);
    model_manifest_free (m);
  }
}

/* ---- index ------------------------------------------------------------- */

static const char image_index[]
    = "{"
      "\"schemaVersion\":2,"
      "\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
      "\"manifests\":["
      " {\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "  \"digest\":\"" DA "\",\"size\":1,"
      "  \"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
      " {\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "  \"digest\":\"" DB "\",\"size\":2,"
      "  "
      "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":"
      "\"v8\"}},"
      " {\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "  \"digest\":\"" DC "\",\"size\":3,"
      "  "
      "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":"
      "\"v6\"}},"
      " {\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "  \"digest\":\"" DD "\",\"size\":4,"
      "  \"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"},"
      "  "
      "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}"
      "},"
      " {\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
      "  \"digest\":\"" DE "\",\"size\":5,"
      "  \"platform\":{\"architecture\":\"s390x\",\"os\":\"linux\"}}"
      "]}";

TEST (test_index_platforms)
{
  model_index *idx = NULL;
  mp_error err = { 0 };
  model_platform p = { 0 };

  REQUIRE (model_index_parse (image_index, strlen (image_index), &idx, &err)
           == 0);
  REQUIRE (idx->n_manifests == 5);
  CHECK (idx->manifests[1].has_platform);
  CHECK_STR (idx->manifests[1].platform.variant, "v8");

  p.os = "linux";
  p.architecture = "amd64";
  CHECK (model_index_select (idx, &p, &err) == 0);
  p.architecture = "x86_64";
  CHECK (model_index_select (idx, &p, &err) == 0);
  p.architecture = "arm64"; /* "v8" and no variant are the same */
  CHECK (model_index_select (idx, &p, &err) == 1);
  p.architecture = "aarch64";
  CHECK (model_index_select (idx, &p, &err) == 1);
  p.architecture = "arm"; /* arm v7 runs v6 images */
  p.variant = "v7";
  CHECK (model_index_select (idx, &p, &err) == 2);
  p.variant = "v5";
  CHECK (model_index_select (idx, &p, &err) == -1);
  CHECK (err.code == MP_ERR_NOT_FOUND);
  p.variant = NULL;
  p.architecture = "s390x"; /* nested indexes are not followed */
  CHECK (model_index_select (idx, &p, &err) == -1);
  CHECK (err.code == MP_ERR_NOT_FOUND);
  CHECK (strstr (err.msg, "linux/amd64") != NULL);
  p.os = "windows";
  p.architecture = "amd64";
  CHECK (model_index_select (idx, &p, &err) == -1);

  /* This host: whatever it is, the answer is consistent with uname. */
  {
    model_platform host;
    ssize_t r;

    REQUIRE (model_platform_host (&host, &err) == 0);
    CHECK_STR (host.os, "linux");
    r = model_index_select (idx, NULL, &err);
    if (strcmp (host.architecture, "amd64") == 0)
      CHECK (r == 0);
    if (strcmp (host.architecture, "arm64") == 0)
      CHECK (r == 1);
    model_platform_clear (&host);
  }
  model_index_free (idx);
}

TEST (test_index_artifacts)
{
  static const char one[]
      = "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"" DA "\",\"size\":1,"
        "\"platform\":{\"architecture\":\"riscv64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"" DB "\",\"size\":1}]}";
  static const char typed[]
      = "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"" DA "\",\"size\":1},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"artifactType\":\"application/vnd.cncf.model.manifest.v1+json\","
        "\"digest\":\"" DB "\",\"size\":1},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"" DC "\",\"size\":1}]}";
  static const char many[]
      = "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"" DA "\",\"size\":1},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"" DB "\",\"size\":1}]}";
  model_platform p = { .os = "linux", .architecture = "amd64" };
  model_index *idx = NULL;
  mp_error err = { 0 };

  REQUIRE (model_index_parse (one, strlen (one), &idx, &err) == 0);
  CHECK (model_index_select (idx, &p, &err) == 1);
  model_index_free (idx);

  REQUIRE (model_index_parse (typed, strlen (typed), &idx, &err) == 0);
  CHECK_STR (idx->manifests[1].artifact_type, MODEL_ARTIFACT_TYPE_MANIFEST);
  CHECK (model_index_select (idx, &p, &err) == 1);
  model_index_free (idx);

  REQUIRE (model_index_parse (many, strlen (many), &idx, &err) == 0);
  CHECK (model_index_select (idx, &p, &err) == -1);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, "cannot choose") != NULL);
  model_index_free (idx);

  /* Malformed entries and confusion. */
  {
    static const char no_arch[]
        = "{\"schemaVersion\":2,\"manifests\":[{"
          "\"mediaType\":\"m\",\"digest\":\"" DA "\","
          "\"size\":1,\"platform\":{\"os\":\"linux\"}}]}";
    static const char mixed[] = "{\"schemaVersion\":2,\"manifests\":[],"
                                "\"config\":{}}";

    CHECK (model_index_parse (no_arch, strlen (no_arch), &idx, &err) == -1);
    CHECK (strstr (err.msg, "manifests[0] (" DA ").platform.architecture")
           != NULL);
    CHECK (model_index_parse (modctl_manifest, strlen (modctl_manifest), &idx,
                              &err)
           == -1);
    CHECK (strstr (err.msg, "not an index") != NULL);
    CHECK (model_index_parse (mixed, strlen (mixed), &idx, &err) == -1);
  }
}

/* ---- RFC 3339 ---------------------------------------------------------- */

TEST (test_rfc3339)
{
  int64_t s;
  int32_t ns;

  CHECK (model_rfc3339_parse ("1970-01-01T00:00:00Z", &s, &ns) && s == 0
         && ns == 0);
  CHECK (model_rfc3339_parse ("2000-02-29T23:59:59.5-01:30", &s, &ns));
  CHECK (s == 951868799 + 5400 && ns == 500000000);
  CHECK (model_rfc3339_parse ("0001-01-01T00:00:00Z", &s, NULL)
         && s == -62135596800LL);
  CHECK (model_rfc3339_parse ("2024-05-21T00:00:00.1234567891234Z", NULL, &ns)
         && ns == 123456789);
  CHECK (!model_rfc3339_parse ("2025-01-01", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025/01/01T00:00:00Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01t00:00:00Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01T00:00:00z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01T00:00:00", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01 00:00:00Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2023-02-29T00:00:00Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("1900-02-29T00:00:00Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-04-31T00:00:00Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-13-01T00:00:00Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01T24:00:00Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2016-12-31T23:59:60Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01T00:00:00.Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01T00:00:00+0100", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01T00:00:00+24:00", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01T00:00:00Z ", NULL, NULL));
  CHECK (!model_rfc3339_parse ("+025-01-01T00:00:00Z", NULL, NULL));
  CHECK (!model_rfc3339_parse ("2025-01-01T00:00:00+01", NULL, NULL));
  CHECK (!model_rfc3339_parse (NULL, NULL, NULL));
}

TEST (test_modelfile_sort_rules)
{
  modelfile *mf = calloc (1, sizeof *mf);
  char *text;

  REQUIRE (mf != NULL);
  /* Directory order: anything; the result must not depend on it. */
  CHECK (modelfile_add_rule (mf, MODELFILE_DOC, "README.md") == 0);
  CHECK (modelfile_add_rule (mf, MODELFILE_DATASET, "data/a.csv") == 0);
  CHECK (modelfile_add_rule (mf, MODELFILE_CODE, "run.py") == 0);
  CHECK (modelfile_add_rule (mf, MODELFILE_MODEL, "w/b.safetensors") == 0);
  CHECK (modelfile_add_rule (mf, MODELFILE_CONFIG, "tokenizer.json") == 0);
  CHECK (modelfile_add_rule (mf, MODELFILE_MODEL, "a.gguf") == 0);
  CHECK (modelfile_add_rule (mf, MODELFILE_CONFIG, "config.json") == 0);
  CHECK (modelfile_add_rule (mf, MODELFILE_DOC, "LICENSE") == 0);
  modelfile_sort_rules (mf);
  text = modelfile_format (mf);
  REQUIRE (text != NULL);
  CHECK (strstr (text, "MODEL a.gguf\nMODEL w/b.safetensors\n"
                       "CONFIG config.json\nCONFIG tokenizer.json\n"
                       "CODE run.py\nDOC LICENSE\nDOC README.md\n"
                       "DATASET data/a.csv\n")
         != NULL);
  free (text);
  modelfile_free (mf);
}

TEST_MAIN (T (test_digest_parse_valid), T (test_digest_parse_invalid),
           T (test_digest_hasher), T (test_digest_file_and_verify),
           T (test_quote), T (test_media_types_modelpack),
           T (test_media_types_generic_and_other), T (test_path_sanitize),
           T (test_manifest_modctl), T (test_manifest_kitops),
           T (test_manifest_oras), T (test_manifest_legacy_and_precedence),
           T (test_manifest_rejects), T (test_manifest_docker_and_image),
           T (test_manifest_docker_model_runner), T (test_index_platforms),
           T (test_index_artifacts), T (test_rfc3339),
           T (test_modelfile_sort_rules))
