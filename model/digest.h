/* OCI content digests: "<algorithm>:<hex>".
 *
 * Only sha256 and sha512 are accepted, with exactly 64 or 128 lowercase hex
 * characters.  Digests name files in our caches, so a digest that passed
 * model_digest_parse() is safe to use as a path component; nothing else is.
 * The streaming hasher wraps OpenSSL EVP and produces a model_digest. */
#ifndef MP_MODEL_DIGEST_H
#define MP_MODEL_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum model_digest_algo
{
  MODEL_DIGEST_SHA256 = 1,
  MODEL_DIGEST_SHA512,
};

/* "sha512:" plus 128 hex characters. */
#define MODEL_DIGEST_MAX 135

typedef struct model_digest
{
  enum model_digest_algo algo;
  char str[MODEL_DIGEST_MAX + 1]; /* the whole digest, NUL-terminated */
} model_digest;

/* Validate `s` strictly and copy it into *out.  Errors are
 * MP_ERR_INVALID_ARGUMENT and quote (a safe rendering of) the input. */
int model_digest_parse (const char *s, model_digest *out, mp_error *err);

bool model_digest_is_valid (const char *s);

/* The hex part of a parsed digest: a safe file name. */
const char *model_digest_hex (const model_digest *d);

const char *model_digest_algo_name (enum model_digest_algo algo);

bool model_digest_equal (const model_digest *a, const model_digest *b);

/* 0 if equal, else -1 with MP_ERR_DATA_LOSS
 * "digest mismatch: expected X, got Y". */
int model_digest_verify (const model_digest *expected,
                         const model_digest *actual, mp_error *err);

typedef struct model_hasher model_hasher;

model_hasher *model_hasher_new (enum model_digest_algo algo, mp_error *err);
int model_hasher_update (model_hasher *h, const void *buf, size_t len,
                         mp_error *err);
/* Finish: fills *out.  The hasher cannot be updated afterwards. */
int model_hasher_final (model_hasher *h, model_digest *out, mp_error *err);
/* Bytes fed so far, so callers can check a descriptor's size as well. */
uint64_t model_hasher_bytes (const model_hasher *h);
void model_hasher_free (model_hasher *h);

static inline void
model_hasher_freep (model_hasher **h)
{
  model_hasher_free (*h);
}
#define cleanup_hasher __attribute__ ((cleanup (model_hasher_freep)))

int model_digest_buffer (enum model_digest_algo algo, const void *buf,
                         size_t len, model_digest *out, mp_error *err);

/* Hash everything from fd's current offset to EOF.  *size_out (if not NULL)
 * gets the number of bytes read. */
int model_digest_fd (int fd, enum model_digest_algo algo, model_digest *out,
                     uint64_t *size_out, mp_error *err);
int model_digest_file (const char *path, enum model_digest_algo algo,
                       model_digest *out, mp_error *err);

/* Hash `path` with the expected digest's algorithm and compare. */
int model_digest_verify_file (const char *path, const model_digest *expected,
                              mp_error *err);

/* Render untrusted text for an error message: double-quoted, non-printable
 * bytes as \xNN, cut to about 80 bytes with "...".  Returns buf. */
#define MODEL_QUOTE_BUF 400
const char *model_quote (const char *s, char *buf, size_t bufsize);

/* Replace bytes that are not printable ASCII with '?', in place: for
 * messages from other libraries (jansson) that echo input bytes. */
char *model_scrub_text (char *s);

#endif
