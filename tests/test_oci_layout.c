/* The OCI layout store: blobs appear only verified, references in
 * index.json, gc keeps what references reach. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "store/oci_layout.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

static char base[256];

static void
setup (void)
{
  snprintf (base, sizeof base, "/tmp/mp-layout-test-XXXXXX");
  REQUIRE (mkdtemp (base) != NULL);
}

static void
teardown (void)
{
  mp_error err;
  mp_rmtree_at (AT_FDCWD, base, &err);
}

static int
entries (const char *sub)
{
  char path[600];
  DIR *d;
  struct dirent *e;
  int n = 0;

  snprintf (path, sizeof path, "%s/store/%s", base, sub);
  d = opendir (path);
  if (d == NULL)
    return -1;
  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir (d);
  return n;
}

static oci_layout *
open_store (bool create, mp_error *err)
{
  char path[600];

  snprintf (path, sizeof path, "%s/store", base);
  return oci_layout_open (path, create, err);
}

TEST (test_create_and_refuse)
{
  char path[600];
  mp_error err = { 0 };
  oci_layout *l;
  FILE *f;

  setup ();
  l = open_store (false, &err);
  CHECK (l == NULL && err.code == MP_ERR_NOT_FOUND);
  l = open_store (true, &err);
  REQUIRE (l != NULL);
  oci_layout_close (l);
  snprintf (path, sizeof path, "%s/store/oci-layout", base);
  CHECK (access (path, F_OK) == 0);
  l = open_store (false, &err);
  CHECK (l != NULL);
  oci_layout_close (l);
  /* A file where the store should be. */
  snprintf (path, sizeof path, "%s/file", base);
  f = fopen (path, "w");
  REQUIRE (f != NULL);
  fclose (f);
  l = oci_layout_open (path, true, &err);
  CHECK (l == NULL && err.code == MP_ERR_INVALID_ARGUMENT
         && strstr (err.msg, "not a directory") != NULL);
  teardown ();
}

TEST (test_blobs_verified)
{
  static const char data[] = "hello weights";
  const char *other
      = "sha256:"
        "9f7ecc8b20de4fd6ae4c1ba8d7aa5ef3c25b0b50bba5b2b7c6d9af84e8f9e6f1";
  char *dg = NULL, *buf = NULL;
  size_t len = 0;
  mp_error err = { 0 };
  oci_layout *l;
  oci_blob_writer *w;

  setup ();
  l = open_store (true, &err);
  REQUIRE (l != NULL);
  CHECK (oci_layout_put_blob (l, data, sizeof data - 1, &dg, &err) == 0);
  REQUIRE (dg != NULL);
  CHECK (oci_layout_has_blob (l, dg));
  CHECK (oci_layout_read_blob (l, dg, 1024, &buf, &len, &err) == 0);
  CHECK (len == sizeof data - 1 && memcmp (buf, data, len) == 0);
  free (buf);

  /* A wrong expected digest: nothing appears, nothing stays in .ingest. */
  w = oci_layout_blob_begin (l, other, -1, &err);
  REQUIRE (w != NULL);
  CHECK (oci_blob_write (w, data, sizeof data - 1, &err) == 0);
  CHECK (oci_blob_commit (w, NULL, &err) < 0);
  CHECK (err.code == MP_ERR_DATA_LOSS && strstr (err.msg, other) != NULL);
  CHECK (!oci_layout_has_blob (l, other));
  CHECK (entries ("blobs/sha256") == 1);
  CHECK (entries (".ingest") == 0);
  /* A wrong size, too. */
  w = oci_layout_blob_begin (l, dg, 3, &err);
  REQUIRE (w != NULL);
  CHECK (oci_blob_write (w, data, sizeof data - 1, &err) == 0);
  CHECK (oci_blob_commit (w, NULL, &err) < 0 && err.code == MP_ERR_DATA_LOSS);
  /* pwrite through the fd: hashed at commit. */
  w = oci_layout_blob_begin (l, dg, sizeof data - 1, &err);
  REQUIRE (w != NULL);
  oci_blob_writer_mark_random (w);
  CHECK (pwrite (oci_blob_writer_fd (w), data + 5, sizeof data - 6, 5)
         == (ssize_t)sizeof data - 6);
  CHECK (pwrite (oci_blob_writer_fd (w), data, 5, 0) == 5);
  CHECK (oci_blob_commit (w, NULL, &err) == 0);
  /* Abort leaves nothing. */
  w = oci_layout_blob_begin (l, NULL, -1, &err);
  REQUIRE (w != NULL);
  CHECK (oci_blob_write (w, "x", 1, &err) == 0);
  oci_blob_abort (w);
  CHECK (entries (".ingest") == 0 && entries ("blobs/sha256") == 1);
  /* A corrupt stored blob is reported as such. */
  {
    char *p = oci_layout_blob_path (l, dg);
    FILE *f = fopen (p, "r+");
    REQUIRE (f != NULL);
    fputc ('H', f);
    fclose (f);
    free (p);
    CHECK (oci_layout_read_blob (l, dg, 1024, &buf, &len, &err) < 0
           && err.code == MP_ERR_DATA_LOSS);
  }
  free (dg);
  oci_layout_close (l);
  teardown ();
}

TEST (test_refs_and_gc)
{
  char *cfg = NULL, *layer = NULL, *man = NULL, *stray = NULL, text[1024];
  oci_layout_ref r, *refs = NULL;
  size_t n = 0;
  int64_t freed = 0;
  mp_error err = { 0 };
  oci_layout *l;

  setup ();
  l = open_store (true, &err);
  REQUIRE (l != NULL);
  REQUIRE (oci_layout_put_blob (l, "{}", 2, &cfg, &err) == 0);
  REQUIRE (oci_layout_put_blob (l, "weights", 7, &layer, &err) == 0);
  REQUIRE (oci_layout_put_blob (l, "unused", 6, &stray, &err) == 0);
  snprintf (text, sizeof text,
            "{\"schemaVersion\":2,\"mediaType\":\"application/"
            "vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"a/"
            "b\",\"digest\":\"%s\",\"size\":2},\"layers\":[{\"mediaType\":"
            "\"c/d\",\"digest\":\"%s\",\"size\":7}]}",
            cfg, layer);
  REQUIRE (oci_layout_put_blob (l, text, strlen (text), &man, &err) == 0);

  CHECK (oci_layout_tag (l, "r/m:1",
                         "application/vnd.oci.image.manifest.v1+json", man,
                         (int64_t)strlen (text), "x/y", &err)
         == 0);
  CHECK (oci_layout_tag (l, "r/m:2",
                         "application/vnd.oci.image.manifest.v1+json", man,
                         (int64_t)strlen (text), NULL, &err)
         == 0);
  /* Re-tagging replaces. */
  CHECK (oci_layout_tag (l, "r/m:1",
                         "application/vnd.oci.image.manifest.v1+json", man,
                         (int64_t)strlen (text), "x/y", &err)
         == 0);
  CHECK (oci_layout_list (l, &refs, &n, &err) == 0 && n == 2);
  oci_layout_refs_free (refs, n);
  free (refs);
  CHECK (oci_layout_resolve (l, "r/m:1", &r, &err) == 0);
  CHECK_STR (r.digest, man);
  CHECK_STR (r.artifact_type, "x/y");
  oci_layout_refs_free (&r, 1);
  CHECK (oci_layout_resolve (l, "r/m:9", &r, &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  /* Tagging a blob that is not there is refused. */
  CHECK (oci_layout_tag (l, "r/m:3", "a/b", stray + 0, 6, NULL, &err) == 0);
  CHECK (oci_layout_untag (l, "r/m:3", &err) == 0);
  CHECK (oci_layout_tag (
             l, "r/m:4", "a/b",
             "sha256:"
             "0000000000000000000000000000000000000000000000000000000000000000",
             1, NULL, &err)
             < 0
         && err.code == MP_ERR_NOT_FOUND);

  /* gc keeps the manifest, its config and layer; removes the stray. */
  CHECK (oci_layout_gc (l, &freed, &err) == 0);
  CHECK (freed == 6);
  CHECK (!oci_layout_has_blob (l, stray));
  CHECK (oci_layout_has_blob (l, man) && oci_layout_has_blob (l, cfg)
         && oci_layout_has_blob (l, layer));
  /* Another open handle (another process's pull) holds gc off. */
  {
    oci_layout *l2 = open_store (false, &err);
    REQUIRE (l2 != NULL);
    CHECK (oci_layout_untag (l, "r/m:1", &err) == 0);
    CHECK (oci_layout_untag (l, "r/m:2", &err) == 0);
    CHECK (oci_layout_gc (l, &freed, &err) == 0 && freed == 0);
    CHECK (oci_layout_has_blob (l, man));
    oci_layout_close (l2);
  }
  CHECK (oci_layout_untag (l, "r/m:1", &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  CHECK (oci_layout_gc (l, &freed, &err) == 0 && freed > 0);
  CHECK (entries ("blobs/sha256") == 0);
  free (cfg);
  free (layer);
  free (man);
  free (stray);
  oci_layout_close (l);
  teardown ();
}

TEST_MAIN (T (test_create_and_refuse), T (test_blobs_verified),
           T (test_refs_and_gc))
