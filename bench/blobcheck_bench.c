/* blobcheck_bench: what verifying a layer blob costs, for
 * bench/blobcheck_bench.sh and docs/benchmarks.md ("Blob verification").
 *
 *   blobcheck_bench BLOB DIGEST WORKDIR [RUNS]
 *
 * BLOB is a plain tar layer whose digest (and diffId) is DIGEST.  Each case
 * runs RUNS times (default 3) with BLOB's pages dropped from the page cache
 * first (POSIX_FADV_DONTNEED: no privileges needed) and WORKDIR's output
 * removed and synced between runs; medians are printed:
 *
 *   hash       blobcheck_verify with an empty memo: the first use
 *   memo-hit   blobcheck_verify again: every later use
 *   unpack-hashing       model_unpack_layer hashing as it extracts (what
 *                        the model cache does for a blob not remembered)
 *   hash-then-unpack     blobcheck_verify, then model_unpack_layer trusted
 *                        (the alternative: the blob read twice)
 *   unpack-trusted       model_unpack_layer trusted (a remembered blob) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/blobcheck.h"
#include "store/unpack.h"
#include "util/fsutil.h"

static const char *blob_path, *digest;
static int work_fd;

static double
now (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
open_cold (void)
{
  int fd = open (blob_path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    {
      perror (blob_path);
      exit (1);
    }
  posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED);
  return fd;
}

static void
clean (void)
{
  mp_error e;

  mp_rmtree_at (work_fd, "memo", &e);
  mp_rmtree_at (work_fd, "out", &e);
  sync ();
}

static void
die (const char *what, const mp_error *e)
{
  fprintf (stderr, "%s: %s\n", what, e->msg);
  exit (1);
}

static blobcheck *
memo (void)
{
  mp_error e = { 0 };
  blobcheck *bc = blobcheck_open (work_fd, "memo", "memo", &e);

  if (bc == NULL)
    die ("blobcheck_open", &e);
  return bc;
}

static void
verify (blobcheck *bc, int fd, bool want_hashed)
{
  struct blobcheck_item it = { .fd = fd, .digest = digest, .size = -1 };
  mp_error e = { 0 };

  if (blobcheck_verify (bc, &it, 1, &e) < 0)
    die ("blobcheck_verify", &e);
  if (it.hashed != want_hashed)
    {
      fprintf (stderr, "hashed %d, expected %d\n", it.hashed, want_hashed);
      exit (1);
    }
}

static void
unpack (int fd, bool trusted)
{
  struct model_unpack_opts o = { .format = MODEL_LAYER_TAR,
                                 .expected_digest = digest,
                                 .expected_diff_id = digest,
                                 .blob_verified = trusted };
  mp_error e = { 0 };

  if (model_unpack_layer (fd, work_fd, "out", &o, NULL, &e) < 0)
    die ("model_unpack_layer", &e);
}

static int
cmp (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  static const char *const names[] = { "hash", "memo-hit", "unpack-hashing",
                                       "hash-then-unpack", "unpack-trusted" };
  enum
  {
    NCASES = 5
  };
  int runs = argc > 4 ? atoi (argv[4]) : 3;
  double t[NCASES][16];

  if (argc < 4 || runs < 1 || runs > 16)
    {
      fprintf (stderr, "usage: %s BLOB DIGEST WORKDIR [RUNS<=16]\n", argv[0]);
      return 2;
    }
  blob_path = argv[1];
  digest = argv[2];
  work_fd = open (argv[3], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (work_fd < 0)
    {
      perror (argv[3]);
      return 1;
    }
  for (int r = 0; r < runs; r++)
    for (int c = 0; c < NCASES; c++)
      {
        blobcheck *bc;
        int fd;
        double t0;

        clean ();
        bc = memo ();
        if (c == 1)
          {
            fd = open_cold ();
            verify (bc, fd, true); /* remembered, then timed: */
            close (fd);
          }
        fd = open_cold ();
        t0 = now ();
        switch (c)
          {
          case 0:
            verify (bc, fd, true);
            break;
          case 1:
            verify (bc, fd, false);
            break;
          case 2:
            unpack (fd, false);
            break;
          case 3:
            verify (bc, fd, true);
            unpack (fd, true);
            break;
          case 4:
            unpack (fd, true);
            break;
          }
        t[c][r] = now () - t0;
        close (fd);
        blobcheck_close (bc);
      }
  clean ();
  for (int c = 0; c < NCASES; c++)
    {
      qsort (t[c], (size_t)runs, sizeof t[c][0], cmp);
      if (t[c][runs / 2] < 0.01)
        printf ("%-18s %10.1f us (median of %d)\n", names[c],
                t[c][runs / 2] * 1e6, runs);
      else
        printf ("%-18s %10.3f s  (median of %d)\n", names[c], t[c][runs / 2],
                runs);
    }
  return 0;
}
