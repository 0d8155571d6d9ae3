/* libFuzzer target for store/erofs: bytes as tar layers, indexed and
 * written, the image read back.
 *
 * Input: one selector byte, then the payload.  Bit 0 picks the reference
 * mode (owners, modes, xattrs as the tar says); bit 1 splits the payload
 * into two tar layers at the offset in the next two bytes (rounded down to
 * a block); bit 2 adds a raw layer on top, at a path taken from the first
 * tar's first name field; bit 3 rewrites the checksum of every block
 * that carries the ustar magic, so that mutations get past the checksum
 * to the rest of the reader.
 *
 * Properties checked after every input:
 *   - a refused layer is MP_ERR_INVALID_ARGUMENT (a bad blob), never
 *     anything else;
 *   - an accepted one writes an image that erofs_index_walk reads back
 *     whole: structure, directory order, and every chunk inside its blob
 *     (the walk fails otherwise);
 *   - each tar file's data is one contiguous, block-aligned range inside
 *     its own blob, and nothing but files carries data. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/erofs.h"
#include "store/unpack.h"

struct blobs
{
  int64_t size[3];
  size_t n;
};

static int
memfd_of (const uint8_t *p, size_t n)
{
  int fd = memfd_create ("blob", MFD_CLOEXEC);
  if (fd < 0 || (n > 0 && write (fd, p, n) != (ssize_t)n))
    abort ();
  return fd;
}

/* Recompute the checksum of each 512-byte block with the ustar magic. */
static void
fix_checksums (uint8_t *p, size_t n)
{
  for (size_t off = 0; off + 512 <= n; off += 512)
    {
      uint8_t *b = p + off;
      unsigned sum = 0;

      if (memcmp (b + 257, "ustar", 5) != 0)
        continue;
      memset (b + 148, ' ', 8);
      for (int i = 0; i < 512; i++)
        sum += b[i];
      snprintf ((char *)b + 148, 8, "%06o", sum);
    }
}

static int
check_entry (const struct erofs_walk_entry *e, void *arg, mp_error *err)
{
  const struct blobs *b = arg;

  (void)err;
  if (S_ISREG (e->mode) && e->size == 12345)
    ; /* the raw layer's file: its last chunk is in the image */
  else if (S_ISREG (e->mode) && e->size > 0)
    {
      if (e->device < 1 || e->device > b->n || !e->contiguous
          || e->data_offset % 512 != 0
          || e->data_offset > (uint64_t)b->size[e->device - 1]
          || e->size > (uint64_t)b->size[e->device - 1] - e->data_offset)
        {
          fprintf (stderr, "%s: data %u:%llu+%llu\n", e->path, e->device,
                   (unsigned long long)e->data_offset,
                   (unsigned long long)e->size);
          abort ();
        }
    }
  else if (e->chunks != 0)
    abort ();
  if (!S_ISREG (e->mode) && !S_ISDIR (e->mode) && !S_ISLNK (e->mode))
    abort ();
  return 0;
}

static void
refused (const mp_error *err)
{
  if (err->code != MP_ERR_INVALID_ARGUMENT)
    {
      fprintf (stderr, "unexpected error class %d: %s\n", (int)err->code,
               err->msg);
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct model_unpack_limits lim
      = { .max_layer_entries = 4096, .max_model_entries = 8192 };
  struct erofs_index_opts o
      = { .blkszbits = 9, .limits = &lim, .mtime_default = 1700000000 };
  struct blobs b = { 0 };
  uint8_t *owned = NULL;
  mp_error err = { 0 };
  erofs_index *x;
  size_t cut;
  uint8_t sel;
  int img;

  if (size < 1)
    return 0;
  sel = data[0];
  data++;
  size--;
  o.as_tar_says = (sel & 1) != 0;
  if (sel & 8)
    {
      owned = malloc (size > 0 ? size : 1);
      if (owned == NULL)
        abort ();
      memcpy (owned, data, size);
      size_t skip = (sel & 2) && size >= 2 ? 2 : 0;
      fix_checksums (owned + skip, size - skip);
      data = owned;
    }
  cut = size;
  if ((sel & 2) && size >= 2)
    {
      cut = ((size_t)data[0] << 8 | data[1]) * 512;
      data += 2;
      size -= 2;
      if (cut > size)
        cut = size;
    }
  x = erofs_index_new (&o, &err);
  if (x == NULL)
    abort ();
  for (size_t part = 0; part < 2; part++)
    {
      const uint8_t *p = part == 0 ? data : data + cut;
      size_t n = part == 0 ? cut : size - cut;
      int fd;

      if (part == 1 && !(sel & 2))
        break;
      fd = memfd_of (p, n);
      b.size[b.n++] = (int64_t)n;
      if (erofs_index_add_tar (x, fd, (int64_t)n, "layer", &err) < 0)
        {
          close (fd);
          refused (&err);
          erofs_index_free (x);
          free (owned);
          return 0;
        }
      close (fd);
    }
  if (sel & 4)
    {
      char path[101] = "raw";
      if (size >= 100)
        {
          memcpy (path, data, 100);
          path[100] = '\0';
        }
      /* Its size is not a multiple of the block: the last chunk is
       * copied into the image. */
      int fd = memfd_create ("raw", MFD_CLOEXEC);
      if (fd < 0 || ftruncate (fd, 12345) < 0)
        abort ();
      b.size[b.n++] = 12345;
      if (erofs_index_add_raw (x, fd, 12345, path, NULL, "raw", &err) < 0)
        {
          close (fd);
          refused (&err);
          erofs_index_free (x);
          free (owned);
          return 0;
        }
      close (fd);
    }
  img = memfd_create ("image", MFD_CLOEXEC);
  if (img < 0)
    abort ();
  if (erofs_index_write (x, img, NULL, &err) < 0)
    {
      /* Only the image's own bounds may stop a write of accepted layers. */
      fprintf (stderr, "write: %s\n", err.msg);
      abort ();
    }
  if (erofs_index_walk (img, b.size, b.n, check_entry, &b, &err) < 0)
    {
      fprintf (stderr, "walk: %s\n", err.msg);
      abort ();
    }
  close (img);
  erofs_index_free (x);
  free (owned);
  return 0;
}
