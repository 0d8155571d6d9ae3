/* Fuzz the blob-verdict memo reader (store/blobcheck.h): whatever bytes sit
 * in a memo file, blobcheck_parse either refuses them or accepts exactly
 * the text blobcheck_format writes for what it read (one spelling per
 * stamp, so nothing else can pass for a verdict), with values in the
 * ranges struct stat produces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/blobcheck.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct blobcheck_stamp s;
  char back[BLOBCHECK_TEXT_MAX];
  int n;

  if (!blobcheck_parse ((const char *)data, size, &s))
    return 0;
  if (s.size < 0 || s.ctime_nsec < 0 || s.ctime_nsec > 999999999)
    abort ();
  n = blobcheck_format (&s, back, sizeof back);
  if (n < 0 || (size_t)n != size || memcmp (back, data, size) != 0)
    abort ();
  return 0;
}
