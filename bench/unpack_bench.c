/* unpack_bench: unpack one layer blob with model_unpack_layer and print the
 * wall time and stats on one line, for bench/unpack_bench.sh.
 *
 *   unpack_bench FORMAT BLOB DIGEST DIFF_ID|- PARENT_DIR NAME [RAW_PATH]
 *
 * FORMAT is raw, tar, tar+gzip or tar+zstd. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/unpack.h"

int
main (int argc, char **argv)
{
  struct model_unpack_opts o = { 0 };
  struct model_unpack_stats st;
  struct timespec t0, t1;
  mp_error err;
  int src, parent, r;

  if (argc < 7)
    {
      fprintf (stderr,
               "usage: %s FORMAT BLOB DIGEST DIFF_ID|- PARENT NAME "
               "[RAW_PATH]\n",
               argv[0]);
      return 2;
    }
  if (strcmp (argv[1], "raw") == 0)
    o.format = MODEL_LAYER_RAW;
  else if (strcmp (argv[1], "tar") == 0)
    o.format = MODEL_LAYER_TAR;
  else if (strcmp (argv[1], "tar+gzip") == 0)
    o.format = MODEL_LAYER_TAR_GZIP;
  else if (strcmp (argv[1], "tar+zstd") == 0)
    o.format = MODEL_LAYER_TAR_ZSTD;
  else
    {
      fprintf (stderr, "unknown format %s\n", argv[1]);
      return 2;
    }
  o.expected_digest = argv[3];
  o.expected_diff_id = strcmp (argv[4], "-") == 0 ? NULL : argv[4];
  o.raw_path = argc > 7 ? argv[7] : NULL;
  o.keep_owners = geteuid () == 0;
  src = open (argv[2], O_RDONLY | O_CLOEXEC);
  parent = open (argv[5], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (src < 0 || parent < 0)
    {
      perror ("open");
      return 1;
    }
  clock_gettime (CLOCK_MONOTONIC, &t0);
  r = model_unpack_layer (src, parent, argv[6], &o, &st, &err);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  if (r < 0)
    {
      fprintf (stderr, "unpack_bench: %s\n", err.msg);
      return 1;
    }
  printf ("%.3f s read=%llu uncompressed=%llu written=%llu files=%llu "
          "dirs=%llu copy=%s\n",
          (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
          (unsigned long long)st.bytes_read,
          (unsigned long long)st.bytes_uncompressed,
          (unsigned long long)st.bytes_written, (unsigned long long)st.files,
          (unsigned long long)st.dirs,
          model_unpack_copy_method_name (st.copy_method));
  return 0;
}
