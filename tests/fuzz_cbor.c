/* Fuzz the strict CBOR reader (util/cbor.h): walk any bytes item by item.
 * What must hold: a skip that succeeds moves forward and stays inside the
 * buffer, one that fails leaves the cursor where it was, a skipped item
 * skips again to the same end from a cursor over just its bytes, typed
 * reads agree with peek, and a map whose body passes mp_cbor_check_map has
 * no two equal keys (checked here byte for byte, the slow way). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cbor.h"

static void
check (int cond, const char *what)
{
  if (!cond)
    {
      fprintf (stderr, "broken promise: %s\n", what);
      abort ();
    }
}

/* Keys of a map body that passed the check: compare every pair. */
static void
check_unique (const mp_cbor *body, size_t n)
{
  mp_cbor c = *body;
  const uint8_t *k[64];
  size_t kl[64];
  mp_error err;

  if (n > 64)
    return;
  for (size_t i = 0; i < n; i++)
    {
      k[i] = c.p;
      check (mp_cbor_skip (&c, &err) == 0, "checked map key skips");
      kl[i] = (size_t)(c.p - k[i]);
      check (mp_cbor_skip (&c, &err) == 0, "checked map value skips");
      for (size_t j = 0; j < i; j++)
        check (kl[i] != kl[j] || memcmp (k[i], k[j], kl[i]) != 0,
               "checked map has no duplicate key");
    }
}

static void
typed_read (const mp_cbor *at)
{
  mp_cbor c = *at;
  mp_error err;
  int major = mp_cbor_peek (&c);
  const uint8_t *b;
  const char *t;
  size_t n;
  uint64_t u;
  int64_t i;

  switch (major)
    {
    case MP_CBOR_UINT:
      {
        mp_cbor c2 = *at;

        /* Both reads succeed and agree when the value fits an int64. */
        if (mp_cbor_read_uint (&c, &u, &err) == 0
            && mp_cbor_read_int (&c2, &i, &err) == 0)
          check ((uint64_t)i == u && c2.p == c.p, "uint and int agree");
        break;
      }
    case MP_CBOR_BYTES:
      if (mp_cbor_read_bytes (&c, &b, &n, &err) == 0)
        check (b >= at->p && b + n <= at->end, "bytes inside the buffer");
      break;
    case MP_CBOR_TEXT:
      if (mp_cbor_read_text (&c, &t, &n, &err) == 0)
        check ((const uint8_t *)t + n <= at->end, "text inside the buffer");
      break;
    case MP_CBOR_MAP:
      if (mp_cbor_read_map (&c, &n, &err) == 0
          && mp_cbor_check_map (&c, n, &err) == 0)
        check_unique (&c, n);
      break;
    default:
      break;
    }
  /* A read of the wrong type fails and does not move. */
  c = *at;
  if (major != MP_CBOR_ARRAY)
    {
      check (mp_cbor_read_array (&c, &n, &err) == -1, "not an array");
      check (c.p == at->p, "failed read does not move");
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  mp_cbor r;
  mp_error err;

  mp_cbor_init (&r, data, size);
  while (!mp_cbor_at_end (&r))
    {
      const uint8_t *before = r.p;
      mp_cbor again;

      typed_read (&r);
      if (mp_cbor_skip (&r, &err) < 0)
        {
          check (r.p == before, "failed skip does not move");
          check (err.code == MP_ERR_INVALID_ARGUMENT && err.msg[0] != '\0',
                 "error has a message");
          break;
        }
      check (r.p > before && r.p <= r.end, "skip moves forward, inside");
      /* The item alone, in a buffer of exactly its bytes. */
      mp_cbor_init (&again, before, (size_t)(r.p - before));
      check (mp_cbor_skip (&again, &err) == 0 && mp_cbor_at_end (&again),
             "an item skips alone to its end");
    }
  return 0;
}
