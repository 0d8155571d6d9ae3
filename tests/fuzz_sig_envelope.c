/* Fuzz what a DSSE envelope carries: the in-toto statement reader (any
 * bytes parse or fail with a message; a parsed statement has a type, a
 * predicate type and at least one subject) and the pre-authentication
 * encoding (its length is what the DSSE specification says, and it ends
 * with the body). */
#include <stdint.h>

#include "fuzz_sig_common.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  model_intoto *st = NULL;
  model_sig_bytes pae = { 0 };
  mp_error err = { 0 };
  char *type;
  size_t split = size > 0 ? data[0] % (size + 1) : 0;
  char want[64];

  if (model_intoto_parse (data, size, &st, &err) == 0)
    {
      fuzz_check (st->type && st->predicate_type && st->n_subjects >= 1,
                  "a statement has its parts");
      model_intoto_free (st);
    }
  else
    fuzz_check (err.msg[0] != '\0', "an error has a message");
  /* The first SPLIT bytes as the payload type (up to a NUL), the rest as
   * the body. */
  type = fuzz_text (data, split);
  fuzz_check (model_dsse_pae (type, data + split, size - split, &pae, &err)
                  == 0,
              "PAE of anything");
  snprintf (want, sizeof want, "DSSEv1 %zu ", strlen (type));
  fuzz_check (pae.len
                  == strlen (want) + strlen (type) + 2
                         + (size_t)snprintf (NULL, 0, "%zu", size - split)
                         + (size - split),
              "PAE length");
  fuzz_check (memcmp (pae.data, want, strlen (want)) == 0, "PAE prefix");
  fuzz_check (
      memcmp (pae.data + pae.len - (size - split), data + split, size - split)
          == 0,
      "PAE ends with the body");
  free (pae.data);
  free (type);
  return 0;
}
