/* Fuzz Notation COSE_Sign1 envelopes (application/cose): parsing, then the
 * whole verification; see fuzz_notation.h for what is checked. */
#include "fuzz_notation.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_envelope (NOTATION_MEDIA_TYPE_COSE, data, size);
  return 0;
}
