/* The model cache, verifying layer blobs: which blobs an unpack may trust
 * and which it hashes (enum model_cache_verify), and the verdicts kept in
 * verified/ (store/blobcheck.h) so a blob file is hashed once per node.
 *
 * A blob not trusted is hashed by the unpacker as it reads it (a tar
 * stream is hashed by one thread while another extracts it, a raw file
 * is hashed from its copy): the blob is read once.  Hashing it first with
 * blobcheck_verify and then unpacking it trusted would read it twice and
 * measured slower for a single large layer (docs/benchmarks.md, "Blob
 * verification").  The verdict is recorded after a successful unpack, if
 * the file did not change meanwhile. */
#include "store/cache_internal.h"

#include <string.h>

#include "util/log.h"

int
model_cache_verify_parse (const char *text, enum model_cache_verify *out)
{
  if (strcmp (text, "once") == 0)
    *out = MODEL_CACHE_VERIFY_ONCE;
  else if (strcmp (text, "ingest") == 0 || strcmp (text, "untrusted") == 0)
    *out = MODEL_CACHE_VERIFY_INGEST;
  else if (strcmp (text, "always") == 0)
    *out = MODEL_CACHE_VERIFY_ALWAYS;
  else
    return -1;
  return 0;
}

const char *
model_cache_verify_name (enum model_cache_verify v)
{
  switch (v)
    {
    case MODEL_CACHE_VERIFY_ONCE:
      return "once";
    case MODEL_CACHE_VERIFY_INGEST:
      return "ingest";
    case MODEL_CACHE_VERIFY_ALWAYS:
      return "always";
    }
  return "?";
}

void
cache_blob_trust_begin (model_cache *c, int fd, const char *digest,
                        bool vouched, struct cache_blob_trust *t)
{
  bool named = false;

  t->stamped = blobcheck_stamp_fd (fd, &t->before, &named, NULL) == 0;
  t->trusted = false;
  t->how = "verified";
  /* A pipe or an unlinked spool file has no identity to remember. */
  t->remember = t->stamped && named;
  if (c->verify == MODEL_CACHE_VERIFY_ALWAYS)
    return;
  if (c->verify == MODEL_CACHE_VERIFY_INGEST && vouched)
    {
      t->trusted = true;
      t->remember = false;
      t->how = "vouched for by the source";
      return;
    }
  if (t->remember && blobcheck_known (c->bc, fd, digest))
    {
      t->trusted = true;
      t->remember = false;
      t->how = "verified before on this node";
    }
}

int
cache_blob_trust_end (model_cache *c, int fd, const char *digest,
                      const struct cache_blob_trust *t, bool ok, mp_error *err)
{
  struct blobcheck_stamp now;

  if (!ok)
    {
      /* A verdict that did not spare this hash is stale anyway. */
      if (!t->trusted)
        blobcheck_forget (c->bc, digest);
      return 0;
    }
  if (t->trusted)
    {
      /* What was trusted is the file as it was before the unpack read it. */
      if (t->stamped && blobcheck_stamp_fd (fd, &now, NULL, NULL) == 0
          && !blobcheck_stamp_equal (&t->before, &now))
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "blob %s changed while it was unpacked; it is "
                             "not trusted",
                             digest);
      return 0;
    }
  if (t->remember)
    {
      mp_error e = { 0 };
      /* Not remembering costs a hash next time, nothing more. */
      if (blobcheck_record (c->bc, fd, digest, &t->before, &e) < 0)
        mp_log_warn ("model cache: blob %s verified, but not remembered: %s",
                     digest, e.msg);
    }
  return 0;
}
