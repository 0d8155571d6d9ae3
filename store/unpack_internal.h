/* Private to layer unpacking: what store/unpack.c (extraction, the entry
 * point), store/unpack_pipe.c (the reader, hasher and decompressor threads
 * and the rings between them) and store/unpack_plan.c (limits) share.
 * Nothing outside store/unpack*.c includes this; the contract is
 * store/unpack.h. */
#ifndef MP_STORE_UNPACK_INTERNAL_H
#define MP_STORE_UNPACK_INTERNAL_H

#include <archive.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/unpack.h"
#include "util/error.h"

/* Overridable at build time for tuning.  8 x 1 MiB measured best on a
 * 2-CPU machine: fewer or smaller slots couple the threads too tightly,
 * more or larger ones fall out of the CPU caches between the threads. */
#ifndef SLOT_SIZE
#define SLOT_SIZE (1024 * 1024)
#endif
#ifndef RING_SLOTS
#define RING_SLOTS 8
#endif
#define RING_MAX_CONSUMERS 2

/* ---- digests ---- */

struct digest
{
  const char *text; /* as given, for messages */
  const EVP_MD *md;
  unsigned char want[EVP_MAX_MD_SIZE];
  unsigned len;
};

int unpack_digest_parse (const char *s, const char *what, struct digest *d,
                         mp_error *err);
int unpack_digest_check (const struct digest *d, const unsigned char *got,
                         const char *what, mp_error *err);

/* ---- the job: first error wins ---- */

struct job
{
  pthread_mutex_t mu;
  bool failed;
  mp_error err;
};

void unpack_job_fail (struct job *j, const mp_error *e);
bool unpack_job_error (struct job *j, mp_error *out);

/* ---- ring: one producer, up to two consumers, each sees every slot ---- */

struct ring
{
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool ready;
  /* Slots are allocated on first use: most layers (configs, docs) fit in
   * one. */
  unsigned char *slot[RING_SLOTS];
  size_t len[RING_SLOTS];
  uint64_t produced;
  uint64_t consumed[RING_MAX_CONSUMERS];
  bool detached[RING_MAX_CONSUMERS];
  unsigned nconsumers;
  bool eof, failed, cancelled;
};

/* A libarchive read callback over consumer C of a ring.  libarchive may
 * use the block it got until it calls again, so a slot is released only on
 * the next call. */
struct ring_reader
{
  struct ring *ring;
  unsigned cons;
  bool holding;
};

void unpack_ring_init (struct ring *r, unsigned nconsumers);
void unpack_ring_destroy (struct ring *r);
void unpack_ring_cancel (struct ring *r);
ssize_t unpack_ring_reader_cb (struct archive *a, void *p, const void **buf);
void unpack_ring_reader_detach (struct ring_reader *rr);
/* Write everything RR yields to FD (counted in *WRITTEN). */
int unpack_ring_write_fd (struct ring_reader *rr, int fd, uint64_t *written,
                          mp_error *err);

/* ---- pipeline threads: each runs one task ---- */

struct reader_task
{
  struct job *job;
  struct ring *out;
  int fd;
  uint64_t limit; /* 0 = none */
  uint64_t bytes;
};

struct hash_task
{
  struct ring *in;
  unsigned cons;
  const EVP_MD *md[2];
  unsigned nmd;
  unsigned char out[2][EVP_MAX_MD_SIZE];
  bool complete; /* saw the whole stream */
  uint64_t bytes;
};

struct decompress_task
{
  struct job *job;
  struct ring_reader in;
  struct ring *out;
  int filter; /* ARCHIVE_FILTER_GZIP or ARCHIVE_FILTER_ZSTD */
  uint64_t limit;
  uint64_t bytes;
};

void *unpack_reader_main (void *p);
void *unpack_hasher_main (void *p);
void *unpack_decompressor_main (void *p);

/* ---- limits (unpack_plan.c) ---- */

void unpack_effective_limits (const struct model_unpack_opts *o, int src_fd,
                              uint64_t *max_bytes, uint64_t *max_entries);

#endif
