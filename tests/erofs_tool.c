/* erofs_tool: drive the EROFS index writer from the command line, for
 * integration/test_erofs_ref.sh (built to build/tools/, never installed).
 *
 *   erofs_tool build [--ref] [--blkszbits N] [--mtime SECS] OUT LAYER...
 *       write an index of the layers, in order, to OUT (created, must not
 *       exist); LAYER is tar:PATH or raw:PATH:FILEPATH[:MODE[:MTIME]]
 *       (MODE octal, MTIME seconds).  Prints "size BYTES seconds SECS".
 *   erofs_tool walk IMAGE BLOB...
 *       check IMAGE against the blobs and print one line per entry.
 *   erofs_tool mount IMAGE DIR BLOB...
 *       mount(2) IMAGE on DIR read-only with device=BLOB for each blob (a
 *       file-backed mount: no loop device).
 * Exit 0 on success, 1 with a one-line message on failure. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/erofs.h"
#include "store/unpack.h"

static int
usage (void)
{
  fprintf (stderr, "usage: erofs_tool build [--ref] [--blkszbits N] "
                   "[--mtime SECS] OUT LAYER...\n"
                   "       erofs_tool walk IMAGE BLOB...\n"
                   "       erofs_tool mount IMAGE DIR BLOB...\n");
  return 2;
}

static int
fail (const mp_error *err)
{
  fprintf (stderr, "erofs_tool: %s\n", err->msg);
  return 1;
}

static int
blob_size (const char *path, int64_t *size)
{
  struct stat st;

  if (stat (path, &st) < 0)
    {
      fprintf (stderr, "erofs_tool: %s: %s\n", path, strerror (errno));
      return -1;
    }
  *size = st.st_size;
  return 0;
}

static int
add_layer (erofs_index *x, char *spec, mp_error *err)
{
  int64_t size;

  if (strncmp (spec, "tar:", 4) == 0)
    {
      int fd = open (spec + 4, O_RDONLY | O_CLOEXEC);
      int r;
      if (fd < 0 || blob_size (spec + 4, &size) < 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: %s", spec + 4,
                             strerror (errno));
      r = erofs_index_add_tar (x, fd, size, spec + 4, err);
      close (fd);
      return r;
    }
  if (strncmp (spec, "raw:", 4) == 0)
    {
      struct model_file_meta m = { 0 };
      char *path = spec + 4, *file = strchr (path, ':'), *mode = NULL,
           *mtime = NULL;
      if (file == NULL)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "raw:PATH:FILE");
      *file++ = '\0';
      if ((mode = strchr (file, ':')) != NULL)
        {
          *mode++ = '\0';
          if ((mtime = strchr (mode, ':')) != NULL)
            *mtime++ = '\0';
          m.has_mode = true;
          m.mode = (mode_t)strtoul (mode, NULL, 8);
        }
      if (mtime != NULL)
        {
          m.has_mtime = true;
          m.mtime.tv_sec = strtoll (mtime, NULL, 10);
        }
      int fd = open (path, O_RDONLY | O_CLOEXEC), r;
      if (fd < 0 || blob_size (path, &size) < 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s: %s", path,
                             strerror (errno));
      r = erofs_index_add_raw (x, fd, size, file, &m, path, err);
      close (fd);
      return r;
    }
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                       "layer %s: want tar:PATH or raw:PATH:FILE", spec);
}

static int
cmd_build (int argc, char **argv)
{
  struct erofs_index_opts o = { .blkszbits = 9 };
  struct timespec t0, t1;
  mp_error err = { 0 };
  erofs_index *x;
  int64_t size = 0;
  int i = 0, fd, r;

  while (i < argc && argv[i][0] == '-')
    {
      if (strcmp (argv[i], "--ref") == 0)
        o.as_tar_says = true;
      else if (strcmp (argv[i], "--blkszbits") == 0 && i + 1 < argc)
        o.blkszbits = (unsigned)atoi (argv[++i]);
      else if (strcmp (argv[i], "--mtime") == 0 && i + 1 < argc)
        o.mtime_default = strtoll (argv[++i], NULL, 10);
      else
        return usage ();
      i++;
    }
  if (argc - i < 1)
    return usage ();
  clock_gettime (CLOCK_MONOTONIC, &t0);
  x = erofs_index_new (&o, &err);
  if (x == NULL)
    return fail (&err);
  for (int k = i + 1; k < argc; k++)
    if (add_layer (x, argv[k], &err) < 0)
      {
        erofs_index_free (x);
        return fail (&err);
      }
  fd = open (argv[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      fprintf (stderr, "erofs_tool: %s: %s\n", argv[i], strerror (errno));
      erofs_index_free (x);
      return 1;
    }
  r = erofs_index_write (x, fd, &size, &err);
  erofs_index_free (x);
  if (close (fd) < 0 && r == 0)
    {
      fprintf (stderr, "erofs_tool: close %s: %s\n", argv[i], strerror (errno));
      return 1;
    }
  if (r < 0)
    return fail (&err);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  printf ("size %" PRId64 " seconds %.3f\n", size,
          (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}

static int
print_entry (const struct erofs_walk_entry *e, void *arg, mp_error *err)
{
  (void)arg;
  (void)err;
  printf ("%s mode=%o uid=%u gid=%u nlink=%u size=%" PRIu64 " mtime=%" PRId64
          ".%09u",
          e->path[0] ? e->path : ".", (unsigned)e->mode, e->uid, e->gid,
          e->nlink, e->size, e->mtime, e->mtime_nsec);
  if (e->symlink != NULL)
    printf (" -> %s", e->symlink);
  if (e->chunks > 0)
    printf (" dev=%u off=%" PRIu64 " chunks=%" PRIu64 "%s", e->device,
            e->data_offset, e->chunks, e->contiguous ? "" : " scattered");
  printf ("\n");
  if (e->xattrs != NULL)
    printf ("%s", e->xattrs);
  return 0;
}

static int
cmd_walk (int argc, char **argv)
{
  int64_t sizes[256];
  mp_error err = { 0 };
  int fd, r;

  if (argc < 1 || argc - 1 > 256)
    return usage ();
  for (int i = 1; i < argc; i++)
    if (blob_size (argv[i], &sizes[i - 1]) < 0)
      return 1;
  fd = open (argv[0], O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      fprintf (stderr, "erofs_tool: %s: %s\n", argv[0], strerror (errno));
      return 1;
    }
  r = erofs_index_walk (fd, sizes, (size_t)argc - 1, print_entry, NULL, &err);
  close (fd);
  return r < 0 ? fail (&err) : 0;
}

static int
cmd_mount (int argc, char **argv)
{
  char opts[4096];
  size_t o = 0;

  if (argc < 2)
    return usage ();
  opts[0] = '\0';
  for (int i = 2; i < argc; i++)
    {
      int n = snprintf (opts + o, sizeof opts - o, "%sdevice=%s", o ? "," : "",
                        argv[i]);
      if (n < 0 || (size_t)n >= sizeof opts - o)
        {
          fprintf (stderr, "erofs_tool: mount options too long\n");
          return 1;
        }
      o += (size_t)n;
    }
  if (mount (argv[0], argv[1], "erofs", MS_RDONLY, opts) < 0)
    {
      fprintf (stderr, "erofs_tool: mount %s on %s: %s\n", argv[0], argv[1],
               strerror (errno));
      return 1;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    return usage ();
  if (strcmp (argv[1], "build") == 0)
    return cmd_build (argc - 2, argv + 2);
  if (strcmp (argv[1], "walk") == 0)
    return cmd_walk (argc - 2, argv + 2);
  if (strcmp (argv[1], "mount") == 0)
    return cmd_mount (argc - 2, argv + 2);
  return usage ();
}
