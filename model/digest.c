#include "model/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/cleanup.h"

struct model_hasher
{
  EVP_MD_CTX *ctx;
  enum model_digest_algo algo;
  uint64_t bytes;
  bool finished;
};

static const struct
{
  const char *name;
  size_t hex_len;
} algos[] = {
  [MODEL_DIGEST_SHA256] = { "sha256", 64 },
  [MODEL_DIGEST_SHA512] = { "sha512", 128 },
};

const char *
model_quote (const char *s, char *buf, size_t bufsize)
{
  static const char hex[] = "0123456789abcdef";
  const size_t limit = 80;
  size_t o = 0, i;

  if (bufsize < 16)
    {
      if (bufsize > 0)
        buf[0] = '\0';
      return buf;
    }
  if (s == NULL)
    {
      snprintf (buf, bufsize, "(null)");
      return buf;
    }
  buf[o++] = '"';
  for (i = 0; s[i] != '\0' && i < limit; i++)
    {
      unsigned char c = (unsigned char)s[i];

      /* Room for the worst case: one escape, closing quote, "...", NUL. */
      if (o + 4 + 1 + 3 + 1 > bufsize)
        break;
      if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
        {
          buf[o++] = '\\';
          buf[o++] = 'x';
          buf[o++] = hex[c >> 4];
          buf[o++] = hex[c & 15];
        }
      else
        buf[o++] = (char)c;
    }
  buf[o++] = '"';
  if (s[i] != '\0')
    {
      memcpy (buf + o, "...", 3);
      o += 3;
    }
  buf[o] = '\0';
  return buf;
}

char *
model_scrub_text (char *s)
{
  for (char *p = s; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
      *p = '?';
  return s;
}

static bool
is_lower_hex (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* OCI grammar: algorithm ::= component (separator component)*,
 * component ::= [a-z0-9]+, separator ::= [+._-]; encoded ::= [a-zA-Z0-9=_-]+.
 * Used only to tell "malformed" from "well-formed but unsupported". */
static bool
oci_grammar_ok (const char *s, size_t alg_len, const char *enc)
{
  bool need_component = true;

  if (alg_len == 0 || *enc == '\0')
    return false;
  for (size_t i = 0; i < alg_len; i++)
    {
      char c = s[i];
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        need_component = false;
      else if (strchr ("+._-", c) != NULL && !need_component)
        need_component = true;
      else
        return false;
    }
  if (need_component)
    return false;
  for (; *enc; enc++)
    {
      char c = *enc;
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '=' || c == '_' || c == '-'))
        return false;
    }
  return true;
}

int
model_digest_parse (const char *s, model_digest *out, mp_error *err)
{
  char q[MODEL_QUOTE_BUF];
  const char *colon;
  size_t alg_len, hex_len;

  if (s == NULL || *s == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "invalid digest: empty");
  colon = strchr (s, ':');
  if (colon == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "invalid digest %s: expected <algorithm>:<hex>",
                         model_quote (s, q, sizeof q));
  alg_len = (size_t)(colon - s);
  hex_len = strlen (colon + 1);
  for (int a = MODEL_DIGEST_SHA256; a <= MODEL_DIGEST_SHA512; a++)
    {
      if (alg_len != strlen (algos[a].name)
          || memcmp (s, algos[a].name, alg_len) != 0)
        continue;
      if (hex_len != algos[a].hex_len || !is_lower_hex (colon + 1, hex_len))
        return mp_error_set (
            err, MP_ERR_INVALID_ARGUMENT,
            "invalid digest %s: %s needs exactly %zu lowercase hex characters",
            model_quote (s, q, sizeof q), algos[a].name, algos[a].hex_len);
      if (out != NULL)
        {
          out->algo = (enum model_digest_algo)a;
          memcpy (out->str, s, alg_len + 1 + hex_len + 1);
        }
      return 0;
    }
  if (oci_grammar_ok (s, alg_len, colon + 1))
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "unsupported digest algorithm in %s: only sha256 and "
                         "sha512 are accepted",
                         model_quote (s, q, sizeof q));
  return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                       "invalid digest %s: expected sha256:<64 hex> or "
                       "sha512:<128 hex>",
                       model_quote (s, q, sizeof q));
}

bool
model_digest_is_valid (const char *s)
{
  return model_digest_parse (s, NULL, NULL) == 0;
}

const char *
model_digest_hex (const model_digest *d)
{
  const char *colon = strchr (d->str, ':');

  /* A zeroed digest (an absent descriptor) yields "", never a crash. */
  return colon != NULL ? colon + 1 : d->str + strlen (d->str);
}

const char *
model_digest_algo_name (enum model_digest_algo algo)
{
  if (algo == MODEL_DIGEST_SHA256 || algo == MODEL_DIGEST_SHA512)
    return algos[algo].name;
  return "unknown";
}

bool
model_digest_equal (const model_digest *a, const model_digest *b)
{
  return a->algo == b->algo && strcmp (a->str, b->str) == 0;
}

int
model_digest_verify (const model_digest *expected, const model_digest *actual,
                     mp_error *err)
{
  if (model_digest_equal (expected, actual))
    return 0;
  return mp_error_set (err, MP_ERR_DATA_LOSS,
                       "digest mismatch: expected %s, got %s", expected->str,
                       actual->str);
}

model_hasher *
model_hasher_new (enum model_digest_algo algo, mp_error *err)
{
  const EVP_MD *md;
  model_hasher *h;

  if (algo == MODEL_DIGEST_SHA256)
    md = EVP_sha256 ();
  else if (algo == MODEL_DIGEST_SHA512)
    md = EVP_sha512 ();
  else
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "unsupported digest algorithm %d", (int)algo);
      return NULL;
    }
  h = calloc (1, sizeof *h);
  if (h == NULL)
    {
      mp_error_sys (err, ENOMEM, "hasher");
      return NULL;
    }
  h->algo = algo;
  h->ctx = EVP_MD_CTX_new ();
  if (h->ctx == NULL || EVP_DigestInit_ex (h->ctx, md, NULL) != 1)
    {
      model_hasher_free (h);
      mp_error_set (err, MP_ERR_INTERNAL, "cannot initialise %s hasher",
                    algos[algo].name);
      return NULL;
    }
  return h;
}

int
model_hasher_update (model_hasher *h, const void *buf, size_t len,
                     mp_error *err)
{
  if (h->finished)
    return mp_error_set (err, MP_ERR_INTERNAL, "hasher already finished");
  if (len == 0)
    return 0;
  if (EVP_DigestUpdate (h->ctx, buf, len) != 1)
    return mp_error_set (err, MP_ERR_INTERNAL, "%s update failed",
                         algos[h->algo].name);
  h->bytes += len;
  return 0;
}

int
model_hasher_final (model_hasher *h, model_digest *out, mp_error *err)
{
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  size_t o;

  if (h->finished)
    return mp_error_set (err, MP_ERR_INTERNAL, "hasher already finished");
  h->finished = true;
  if (EVP_DigestFinal_ex (h->ctx, md, &n) != 1
      || (size_t)n * 2 != algos[h->algo].hex_len)
    return mp_error_set (err, MP_ERR_INTERNAL, "%s final failed",
                         algos[h->algo].name);
  out->algo = h->algo;
  o = (size_t)snprintf (out->str, sizeof out->str, "%s:", algos[h->algo].name);
  for (unsigned int i = 0; i < n; i++)
    {
      out->str[o++] = hex[md[i] >> 4];
      out->str[o++] = hex[md[i] & 15];
    }
  out->str[o] = '\0';
  return 0;
}

uint64_t
model_hasher_bytes (const model_hasher *h)
{
  return h->bytes;
}

void
model_hasher_free (model_hasher *h)
{
  if (h == NULL)
    return;
  EVP_MD_CTX_free (h->ctx);
  free (h);
}

int
model_digest_buffer (enum model_digest_algo algo, const void *buf, size_t len,
                     model_digest *out, mp_error *err)
{
  cleanup_hasher model_hasher *h = model_hasher_new (algo, err);

  if (h == NULL)
    return -1;
  if (model_hasher_update (h, buf, len, err) < 0)
    return -1;
  return model_hasher_final (h, out, err);
}

int
model_digest_fd (int fd, enum model_digest_algo algo, model_digest *out,
                 uint64_t *size_out, mp_error *err)
{
  enum
  {
    CHUNK = 1 << 20
  };
  cleanup_hasher model_hasher *h = model_hasher_new (algo, err);
  cleanup_free unsigned char *buf = NULL;

  if (h == NULL)
    return -1;
  buf = malloc (CHUNK);
  if (buf == NULL)
    return mp_error_sys (err, ENOMEM, "digest buffer");
  for (;;)
    {
      ssize_t n = read (fd, buf, CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mp_error_sys (err, errno, "read");
      if (n == 0)
        break;
      if (model_hasher_update (h, buf, (size_t)n, err) < 0)
        return -1;
    }
  if (size_out != NULL)
    *size_out = model_hasher_bytes (h);
  return model_hasher_final (h, out, err);
}

int
model_digest_file (const char *path, enum model_digest_algo algo,
                   model_digest *out, mp_error *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  if (fd < 0)
    {
      int e = errno;
      mp_error_sys (err, e, "open %s", path);
      if (e == ENOENT && err != NULL)
        err->code = MP_ERR_NOT_FOUND;
      return -1;
    }
  if (model_digest_fd (fd, algo, out, NULL, err) < 0)
    return mp_error_prefix (err, "digest %s", path);
  return 0;
}

int
model_digest_verify_file (const char *path, const model_digest *expected,
                          mp_error *err)
{
  model_digest got;

  if (model_digest_file (path, expected->algo, &got, err) < 0)
    return -1;
  if (model_digest_verify (expected, &got, err) < 0)
    return mp_error_prefix (err, "%s", path);
  return 0;
}
