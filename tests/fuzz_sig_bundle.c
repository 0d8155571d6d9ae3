/* Fuzz the Sigstore bundle reader and verification: any bytes parse or
 * fail with a message; a parsed bundle has exactly one content (a message
 * signature with a digest, or a DSSE envelope with a payload type and at
 * least one signature); verified as a found signature under a trust that
 * asks for a key and a Rekor entry, it is refused, never crashes. */
#include <stdint.h>

#include "fuzz_sig_common.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  model_bundle *b = NULL;
  mp_error err = { 0 };

  if (model_bundle_parse (data, size, &b, &err) == 0)
    {
      fuzz_check (b->media_type != NULL, "a media type");
      if (b->dsse)
        fuzz_check (b->payload_type != NULL && b->n_dsse_sigs >= 1,
                    "an envelope with a type and signatures");
      else
        fuzz_check (b->digest_hash != MODEL_SIG_HASH_KEY,
                    "a message digest with its algorithm");
      fuzz_check (b->key_hint == NULL || b->n_certs == 0,
                  "one kind of verification material");
      model_bundle_free (b);
    }
  else
    fuzz_check (err.msg[0] != '\0', "an error has a message");
  fuzz_verify (MODEL_SIG_BUNDLE, data, size, "");
  return 0;
}
