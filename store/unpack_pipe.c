/* Layer unpacking, the pipeline: reading, digest verification and
 * decompression of a blob, for unpack.c to extract from.
 *
 * Data flow for a tar layer.  The blob is hashed as read (blob digest), the
 * decompressed stream is hashed as produced (diffId), and the tar entries
 * are written to disk, all at once in a pipeline of threads joined by
 * bounded rings of 1 MiB slots:
 *
 *   reader ──ring_in──┬─> blob hasher
 *   (read src_fd)     └─> decompressor ──ring_mid──┬─> diffId hasher
 *                         (libarchive filter only)  └─> tar extractor (caller)
 *
 * For a plain tar the decompressor is absent: the extractor and one hasher
 * (blob digest == diffId) read ring_in directly.
 *
 * Why this shape for the diffId: libarchive decompresses internally and
 * offers no hook on the decompressed bytes it hands its tar reader.  So we
 * run two libarchive readers: the outer one has only the expected filter
 * (gzip or zstd) and the "raw" format, so archive_read_data() returns the
 * plain tar stream, which we hash and feed to the inner reader (tar format,
 * no filter) through its read callback.  Decompression stays libarchive's
 * (no hand-written gzip/zstd framing), nothing is decompressed twice, and
 * the diffId covers exactly the bytes the tar reader parses.  Threads make
 * it fast: SHA-256 runs at about 1.7 GB/s with SHA-NI, as costly as writing
 * the files, so hashing on the extracting thread would cost up to twice
 * `tar -x`; in the pipeline the hashes overlap with decompression and
 * writing, like `zstd -dc | tar -x` overlaps its two processes.
 *
 * Both readers stop at the end of what they parse, so the rings keep
 * flowing after the extractor is done: the reader reads src_fd to EOF and
 * the hashers hash every byte, trailing padding and garbage included,
 * before the digests are compared.  When the tar or the compressed stream
 * turns out to be corrupt, reading and hashing the blob still go on to its
 * end: a damaged download is then reported as the digest mismatch it is,
 * not as whatever the damage looked like to a parser. */
#include "store/unpack_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- digests ---- */

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* OCI digests: "sha256:" + 64 or "sha512:" + 128 lowercase hex digits. */
int
unpack_digest_parse (const char *s, const char *what, struct digest *d,
                     mp_error *err)
{
  const char *hex;
  size_t n;

  memset (d, 0, sizeof *d);
  d->text = s;
  if (strncmp (s, "sha256:", 7) == 0)
    d->md = EVP_sha256 ();
  else if (strncmp (s, "sha512:", 7) == 0)
    d->md = EVP_sha512 ();
  else
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s \"%s\": algorithm must be sha256 or sha512", what,
                         s);
  hex = s + 7;
  d->len = (unsigned)EVP_MD_get_size (d->md);
  n = strlen (hex);
  if (n != 2 * (size_t)d->len)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s \"%s\": expected %u hex digits", what, s,
                         2 * d->len);
  for (size_t i = 0; i < d->len; i++)
    {
      int hi = hexval (hex[2 * i]), lo = hexval (hex[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "%s \"%s\": not lowercase hex", what, s);
      d->want[i] = (unsigned char)(hi << 4 | lo);
    }
  return 0;
}

static void
digest_format (const struct digest *d, const unsigned char *md, char *out,
               size_t outsz)
{
  static const char hx[] = "0123456789abcdef";
  size_t o = (size_t)snprintf (
      out, outsz, "%s:", d->md == EVP_sha256 () ? "sha256" : "sha512");

  for (unsigned i = 0; i < d->len && o + 2 < outsz; i++)
    {
      out[o++] = hx[md[i] >> 4];
      out[o++] = hx[md[i] & 15];
    }
  out[o < outsz ? o : outsz - 1] = '\0';
}

int
unpack_digest_check (const struct digest *d, const unsigned char *got,
                     const char *what, mp_error *err)
{
  char buf[160];

  if (memcmp (d->want, got, d->len) == 0)
    return 0;
  digest_format (d, got, buf, sizeof buf);
  /* Content that is not what its digest says: the same code (and exit
   * code) as a download that fails verification. */
  return mp_error_set (err, MP_ERR_DATA_LOSS,
                       "%s mismatch: expected %s, got %s", what, d->text, buf);
}

/* ---- the job: first error wins ---- */

void
unpack_job_fail (struct job *j, const mp_error *e)
{
  pthread_mutex_lock (&j->mu);
  if (!j->failed)
    {
      j->failed = true;
      j->err = *e;
    }
  pthread_mutex_unlock (&j->mu);
}

bool
unpack_job_error (struct job *j, mp_error *out)
{
  bool failed;

  pthread_mutex_lock (&j->mu);
  failed = j->failed;
  if (failed && out != NULL)
    *out = j->err;
  pthread_mutex_unlock (&j->mu);
  return failed;
}

/* ---- ring: one producer, up to two consumers, each sees every slot ---- */

void
unpack_ring_init (struct ring *r, unsigned nconsumers)
{
  memset (r, 0, sizeof *r);
  r->nconsumers = nconsumers;
  pthread_mutex_init (&r->mu, NULL);
  pthread_cond_init (&r->cv, NULL);
  r->ready = true;
}

void
unpack_ring_destroy (struct ring *r)
{
  if (!r->ready)
    return;
  for (unsigned i = 0; i < RING_SLOTS; i++)
    free (r->slot[i]);
  pthread_mutex_destroy (&r->mu);
  pthread_cond_destroy (&r->cv);
  r->ready = false;
}

/* Slots still held by the slowest attached consumer; 0 when nobody is
 * attached.  Called with the lock held. */
static uint64_t
ring_backlog (const struct ring *r, bool *anyone)
{
  uint64_t worst = 0;

  *anyone = false;
  for (unsigned c = 0; c < r->nconsumers; c++)
    if (!r->detached[c])
      {
        *anyone = true;
        if (r->produced - r->consumed[c] > worst)
          worst = r->produced - r->consumed[c];
      }
  return worst;
}

/* Next free slot, or NULL when the ring was cancelled or nobody reads it
 * any more (the producer then stops quietly).  *NOMEM is set when a slot
 * could not be allocated. */
static unsigned char *
ring_begin_write (struct ring *r, bool *nomem)
{
  unsigned char *p = NULL;
  unsigned i;
  bool anyone;

  *nomem = false;
  pthread_mutex_lock (&r->mu);
  while (!r->cancelled && ring_backlog (r, &anyone) >= RING_SLOTS)
    pthread_cond_wait (&r->cv, &r->mu);
  ring_backlog (r, &anyone);
  i = (unsigned)(r->produced % RING_SLOTS);
  if (!r->cancelled && anyone)
    p = r->slot[i];
  pthread_mutex_unlock (&r->mu);
  if (p == NULL && !r->cancelled && anyone)
    {
      /* Only the producer touches a slot nobody holds. */
      p = malloc (SLOT_SIZE);
      if (p == NULL)
        *nomem = true;
      pthread_mutex_lock (&r->mu);
      r->slot[i] = p;
      pthread_mutex_unlock (&r->mu);
    }
  return p;
}

static void
ring_end_write (struct ring *r, size_t len)
{
  pthread_mutex_lock (&r->mu);
  r->len[r->produced % RING_SLOTS] = len;
  r->produced++;
  pthread_cond_broadcast (&r->cv);
  pthread_mutex_unlock (&r->mu);
}

static void
ring_set (struct ring *r, bool *flag)
{
  pthread_mutex_lock (&r->mu);
  *flag = true;
  pthread_cond_broadcast (&r->cv);
  pthread_mutex_unlock (&r->mu);
}

/* The producer is done; FAILED tells consumers the stream is incomplete. */
static void
ring_close (struct ring *r, bool failed)
{
  pthread_mutex_lock (&r->mu);
  r->eof = true;
  r->failed = failed;
  pthread_cond_broadcast (&r->cv);
  pthread_mutex_unlock (&r->mu);
}

void
unpack_ring_cancel (struct ring *r)
{
  ring_set (r, &r->cancelled);
}

static void
ring_detach (struct ring *r, unsigned c)
{
  ring_set (r, &r->detached[c]);
}

/* Consumer C's next slot: 1 with *BUF and *LEN (hand it back with
 * ring_release), 0 at the end of a complete stream, -1 if the stream
 * failed or the ring was cancelled. */
static int
ring_read (struct ring *r, unsigned c, const unsigned char **buf, size_t *len)
{
  int ret;

  pthread_mutex_lock (&r->mu);
  while (!r->cancelled && !r->eof && r->consumed[c] == r->produced)
    pthread_cond_wait (&r->cv, &r->mu);
  if (r->cancelled)
    ret = -1;
  else if (r->consumed[c] < r->produced)
    {
      size_t i = r->consumed[c] % RING_SLOTS;
      *buf = r->slot[i];
      *len = r->len[i];
      ret = 1;
    }
  else
    ret = r->failed ? -1 : 0;
  pthread_mutex_unlock (&r->mu);
  return ret;
}

static void
ring_release (struct ring *r, unsigned c)
{
  pthread_mutex_lock (&r->mu);
  r->consumed[c]++;
  pthread_cond_broadcast (&r->cv);
  pthread_mutex_unlock (&r->mu);
}

ssize_t
unpack_ring_reader_cb (struct archive *a, void *p, const void **buf)
{
  struct ring_reader *rr = p;
  const unsigned char *b;
  size_t len;
  int r;

  if (rr->holding)
    {
      ring_release (rr->ring, rr->cons);
      rr->holding = false;
    }
  r = ring_read (rr->ring, rr->cons, &b, &len);
  if (r < 0)
    {
      archive_set_error (a, EIO, "input stream failed");
      return -1;
    }
  if (r == 0)
    return 0;
  rr->holding = true;
  *buf = b;
  return (ssize_t)len;
}

int
unpack_ring_write_fd (struct ring_reader *rr, int fd, uint64_t *written,
                      mp_error *err)
{
  for (;;)
    {
      const unsigned char *b;
      size_t len, off = 0;
      int r;

      if (rr->holding)
        {
          ring_release (rr->ring, rr->cons);
          rr->holding = false;
        }
      r = ring_read (rr->ring, rr->cons, &b, &len);
      if (r < 0)
        return mp_error_set (err, MP_ERR_INTERNAL, "input stream failed");
      if (r == 0)
        return 0;
      rr->holding = true;
      while (off < len)
        {
          ssize_t n = write (fd, b + off, len - off);

          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            return mp_error_sys (err, errno, "write the tar stream");
          off += (size_t)n;
          *written += (uint64_t)n;
        }
    }
}

/* Stop consuming: release what is held and let the producer run on. */
void
unpack_ring_reader_detach (struct ring_reader *rr)
{
  if (rr->ring == NULL)
    return;
  if (rr->holding)
    ring_release (rr->ring, rr->cons);
  rr->holding = false;
  ring_detach (rr->ring, rr->cons);
}

/* ---- pipeline threads ---- */

void *
unpack_reader_main (void *p)
{
  struct reader_task *t = p;
  mp_error e = { 0 };

  for (;;)
    {
      bool nomem;
      unsigned char *buf = ring_begin_write (t->out, &nomem);
      size_t n = 0;
      bool eof = false;

      if (nomem)
        {
          mp_error_sys (&e, ENOMEM, "read layer blob");
          goto fail;
        }
      if (buf == NULL)
        {
          ring_close (t->out, true);
          return NULL;
        }
      /* Fill whole slots even from a pipe: fewer handoffs between threads.*/
      while (n < SLOT_SIZE)
        {
          ssize_t r = read (t->fd, buf + n, SLOT_SIZE - n);
          if (r < 0 && errno == EINTR)
            continue;
          if (r < 0)
            {
              mp_error_sys (&e, errno, "read layer blob");
              goto fail;
            }
          if (r == 0)
            {
              eof = true;
              break;
            }
          n += (size_t)r;
        }
      t->bytes += n;
      if (t->limit != 0 && t->bytes > t->limit)
        {
          mp_error_set (&e, MP_ERR_INVALID_ARGUMENT,
                        "tar stream exceeds the limit of %llu bytes "
                        "(max_layer_bytes)",
                        (unsigned long long)t->limit);
          goto fail;
        }
      if (n > 0)
        ring_end_write (t->out, n);
      if (eof)
        {
          ring_close (t->out, false);
          return NULL;
        }
    }
fail:
  unpack_job_fail (t->job, &e);
  ring_close (t->out, true);
  return NULL;
}

void *
unpack_hasher_main (void *p)
{
  struct hash_task *t = p;
  EVP_MD_CTX *ctx[2] = { NULL, NULL };
  const unsigned char *buf;
  size_t len;
  int r;

  for (unsigned i = 0; i < t->nmd; i++)
    {
      ctx[i] = EVP_MD_CTX_new ();
      if (ctx[i] == NULL || !EVP_DigestInit_ex (ctx[i], t->md[i], NULL))
        goto out;
    }
  while ((r = ring_read (t->in, t->cons, &buf, &len)) > 0)
    {
      for (unsigned i = 0; i < t->nmd; i++)
        EVP_DigestUpdate (ctx[i], buf, len);
      t->bytes += len;
      ring_release (t->in, t->cons);
    }
  if (r == 0)
    {
      t->complete = true;
      for (unsigned i = 0; i < t->nmd; i++)
        if (!EVP_DigestFinal_ex (ctx[i], t->out[i], NULL))
          t->complete = false;
    }
out:
  /* Whatever ended the loop, let the producer run on without us. */
  ring_detach (t->in, t->cons);
  for (unsigned i = 0; i < t->nmd; i++)
    EVP_MD_CTX_free (ctx[i]);
  return NULL;
}

void *
unpack_decompressor_main (void *p)
{
  struct decompress_task *t = p;
  const char *fname = t->filter == ARCHIVE_FILTER_GZIP ? "gzip" : "zstd";
  struct archive *a = archive_read_new ();
  struct archive_entry *entry;
  mp_error e = { 0 };
  int r;

  if (a == NULL)
    {
      mp_error_sys (&e, ENOMEM, "decompress");
      goto fail;
    }
  /* ARCHIVE_WARN here would mean libarchive runs an external program
   * instead of its built-in decoder: refuse that. */
  r = t->filter == ARCHIVE_FILTER_GZIP ? archive_read_support_filter_gzip (a)
                                       : archive_read_support_filter_zstd (a);
  if (r != ARCHIVE_OK || archive_read_support_format_raw (a) != ARCHIVE_OK)
    {
      mp_error_set (&e, MP_ERR_INTERNAL, "libarchive lacks built-in %s", fname);
      goto fail;
    }
  if (archive_read_open (a, &t->in, NULL, unpack_ring_reader_cb, NULL)
          != ARCHIVE_OK
      || archive_read_next_header (a, &entry) != ARCHIVE_OK)
    goto archive_fail;
  /* Exactly our filter above libarchive's pass-through one: a stream that
   * is not compressed, or compressed twice, is not what the media type
   * says. */
  if (archive_filter_count (a) != 2 || archive_filter_code (a, 0) != t->filter)
    {
      mp_error_set (&e, MP_ERR_INVALID_ARGUMENT,
                    "layer blob is not a single %s stream", fname);
      goto fail;
    }
  for (;;)
    {
      bool nomem;
      unsigned char *buf = ring_begin_write (t->out, &nomem);
      size_t n = 0;
      bool eof = false;

      if (nomem)
        {
          mp_error_sys (&e, ENOMEM, "decompress");
          goto fail;
        }
      if (buf == NULL)
        break; /* cancelled or nobody listens: stop quietly */
      while (n < SLOT_SIZE)
        {
          ssize_t got = archive_read_data (a, buf + n, SLOT_SIZE - n);
          if (got < 0)
            goto archive_fail;
          if (got == 0)
            {
              eof = true;
              break;
            }
          n += (size_t)got;
        }
      t->bytes += n;
      if (t->bytes > t->limit)
        {
          mp_error_set (&e, MP_ERR_INVALID_ARGUMENT,
                        "layer expands to more than %llu bytes "
                        "(max_layer_bytes, max_layer_ratio)",
                        (unsigned long long)t->limit);
          goto fail;
        }
      if (n > 0)
        ring_end_write (t->out, n);
      if (eof)
        break;
    }
  archive_read_free (a);
  /* The compressed stream may go on (trailing bytes): the reader and blob
   * hasher see it to the end without us. */
  unpack_ring_reader_detach (&t->in);
  ring_close (t->out, false);
  return NULL;

archive_fail:
  mp_error_set (&e, MP_ERR_INVALID_ARGUMENT, "%s stream: %s", fname,
                archive_error_string (a) ? archive_error_string (a)
                                         : "unreadable");
fail:
  unpack_job_fail (t->job, &e);
  if (a != NULL)
    archive_read_free (a);
  unpack_ring_reader_detach (&t->in);
  ring_close (t->out, true);
  return NULL;
}
