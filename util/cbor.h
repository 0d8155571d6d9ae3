/* A minimal, strict, bounded CBOR (RFC 8949) reader, for the COSE_Sign1
 * envelopes of Notation signatures.
 *
 * Why our own: no CBOR library is among the design's packages, and an
 * envelope needs only a pull reader over one buffer.  It is stricter than a
 * general decoder on purpose, so that each value has exactly one encoding
 * and the bytes a signature covers are the bytes that were checked:
 *  - every head uses the shortest form of its argument;
 *  - no indefinite lengths, no reserved additional information (28-30);
 *  - of the simple values only false, true and null; no floats;
 *  - text strings must be valid UTF-8 (RFC 3629: no surrogates, no
 *    overlong forms);
 *  - lengths and counts are checked against the bytes left before anything
 *    is read, and nesting is capped at MP_CBOR_MAX_DEPTH.
 *
 * A reader is a cursor over caller-owned bytes; strings it returns point into
 * them.  Every read checks the major type it expects and fails with
 * MP_ERR_INVALID_ARGUMENT and a message naming the byte offset; on failure
 * the cursor is left where it was. */
#ifndef MP_UTIL_CBOR_H
#define MP_UTIL_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Arrays and maps inside each other, counting the outermost. */
#define MP_CBOR_MAX_DEPTH 16
/* Entries of a map mp_cbor_check_map checks for duplicate keys. */
#define MP_CBOR_MAX_MAP 256

enum mp_cbor_major
{
  MP_CBOR_UINT = 0,
  MP_CBOR_NINT = 1,
  MP_CBOR_BYTES = 2,
  MP_CBOR_TEXT = 3,
  MP_CBOR_ARRAY = 4,
  MP_CBOR_MAP = 5,
  MP_CBOR_TAG = 6,
  MP_CBOR_SIMPLE = 7,
};

typedef struct mp_cbor
{
  const uint8_t *start; /* for offsets in messages */
  const uint8_t *p;     /* next byte */
  const uint8_t *end;
} mp_cbor;

void mp_cbor_init (mp_cbor *r, const void *buf, size_t len);

static inline bool
mp_cbor_at_end (const mp_cbor *r)
{
  return r->p >= r->end;
}

/* The major type of the next item, or -1 at the end. */
int mp_cbor_peek (const mp_cbor *r);

/* Major type 0. */
int mp_cbor_read_uint (mp_cbor *r, uint64_t *v, mp_error *err);
/* Major type 0 or 1, within int64_t. */
int mp_cbor_read_int (mp_cbor *r, int64_t *v, mp_error *err);
/* A byte or text string: *p points into the buffer, *n is its length.
 * Text is not NUL-terminated. */
int mp_cbor_read_bytes (mp_cbor *r, const uint8_t **p, size_t *n,
                        mp_error *err);
int mp_cbor_read_text (mp_cbor *r, const char **p, size_t *n, mp_error *err);
/* The head of an array or map: *n items (pairs for a map) follow, and
 * there are bytes enough left for them to be there. */
int mp_cbor_read_array (mp_cbor *r, size_t *n, mp_error *err);
int mp_cbor_read_map (mp_cbor *r, size_t *n, mp_error *err);
/* A tag's number; the tagged item follows. */
int mp_cbor_read_tag (mp_cbor *r, uint64_t *tag, mp_error *err);
/* Skip one whole item, checking it as the reads above would. */
int mp_cbor_skip (mp_cbor *r, mp_error *err);

/* The body of a map of n pairs starts at r (after mp_cbor_read_map): check
 * it is well-formed and that no key appears twice.  Strict encoding makes
 * equal keys equal bytes.  r does not move. */
int mp_cbor_check_map (const mp_cbor *r, size_t n, mp_error *err);

#endif
