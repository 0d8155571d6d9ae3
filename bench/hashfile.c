/* hashfile: the physical reference for bench/index_bench.sh's "read and
 * hash the blob once": SHA-256 of a file with nothing of ours in the way,
 * the way a careful tool would do it (4 MiB reads, POSIX_FADV_SEQUENTIAL,
 * OpenSSL's SHA-256 on one thread; `openssl dgst` reads 8 KiB at a time and
 * a Python interpreter takes longer to start than a 2 GiB blob takes to
 * hash).
 *
 *   hashfile FILE
 *
 * Prints the hex digest. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

#define CHUNK (4 << 20)

int
main (int argc, char **argv)
{
  cleanup_close int fd = -1;
  cleanup_free unsigned char *buf = NULL;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx;
  ssize_t n;

  if (argc != 2)
    {
      fprintf (stderr, "usage: hashfile FILE\n");
      return 2;
    }
  fd = open (argv[1], O_RDONLY | O_CLOEXEC);
  buf = malloc (CHUNK);
  ctx = EVP_MD_CTX_new ();
  if (fd < 0 || buf == NULL || ctx == NULL
      || EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL) != 1)
    {
      fprintf (stderr, "hashfile: %s: %s\n", argv[1], strerror (errno));
      return 1;
    }
  posix_fadvise (fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  while ((n = read (fd, buf, CHUNK)) > 0)
    EVP_DigestUpdate (ctx, buf, (size_t)n);
  if (n < 0 || EVP_DigestFinal_ex (ctx, md, &mdlen) != 1)
    {
      fprintf (stderr, "hashfile: %s: %s\n", argv[1], strerror (errno));
      EVP_MD_CTX_free (ctx);
      return 1;
    }
  EVP_MD_CTX_free (ctx);
  for (unsigned int i = 0; i < mdlen; i++)
    printf ("%02x", md[i]);
  printf ("\n");
  return 0;
}
