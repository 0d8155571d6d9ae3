/* Fuzz cosign's simple-signing payload reader and the checks around it:
 * any bytes parse or fail with a message; a parsed payload has a valid
 * digest and a reference; verified as a found signature (the bytes also
 * standing for its signature, Rekor and certificate annotations), it is
 * refused, never crashes. */
#include <stdint.h>

#include "fuzz_sig_common.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  model_cosign_payload p;
  mp_error err = { 0 };
  char *text;

  if (model_cosign_payload_parse (data, size, &p, &err) == 0)
    {
      fuzz_check (model_digest_is_valid (p.digest.str), "a valid digest");
      fuzz_check (p.docker_reference != NULL, "a reference");
      model_cosign_payload_clear (&p);
    }
  else
    fuzz_check (err.msg[0] != '\0', "an error has a message");
  text = fuzz_text (data, size);
  fuzz_verify (MODEL_SIG_COSIGN, data, size, text);
  free (text);
  return 0;
}
