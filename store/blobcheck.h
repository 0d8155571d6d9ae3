/* Blob verdicts: each layer blob file hashed once per node.
 *
 * Layer blobs live in files this project does not own (containerd's content
 * store, the CLI's OCI layout).  Whatever is built from a blob, or points
 * into it, must only ever see bytes whose digest was checked; hashing a
 * multi-GiB blob at every use would cost seconds.  So, once a blob file has
 * been hashed and matched its digest, the verdict is remembered for that
 * file: DIR/<algo>-<hex> records the file's identity and change stamp
 * (device, inode, size, ctime).  A write or truncation changes the ctime
 * (no system call sets it to a chosen value), a replacement changes the
 * inode; either way the memo no longer matches and the blob is hashed
 * again.  Only named files are remembered (st_nlink > 0): the inode number
 * of an unlinked spool file is soon reused.  One file per digest is
 * remembered; a blob kept in two places costs a hash when use switches.
 *
 * A memo file is text written to a temporary name and renamed into place:
 *
 *   mp-blobcheck 1
 *   dev <st_dev>
 *   ino <st_ino>
 *   size <st_size>
 *   ctime <seconds>.<9 digits of nanoseconds>
 *
 * Anything else there (garbage, truncation after a crash, a huge file, a
 * symlink, a FIFO) reads as "not verified": the blob is hashed again.
 * Losing a memo only costs a hash, so nothing here is fsynced.
 *
 * All functions are thread-safe on one blobcheck; several processes may
 * share DIR (the daemon and the CLI share the model cache's). */
#ifndef MP_STORE_BLOBCHECK_H
#define MP_STORE_BLOBCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct blobcheck blobcheck;

/* Open (creating, 0700) the memo directory NAME under PARENT_FD; DISPLAY
 * names it in messages.  It must belong to this user: a directory someone
 * else owns is refused, group and other access is removed. */
blobcheck *blobcheck_open (int parent_fd, const char *name, const char *display,
                           mp_error *err);
void blobcheck_close (blobcheck *bc);

/* What identifies a blob file's content without reading it. */
struct blobcheck_stamp
{
  uint64_t dev, ino;
  int64_t size;
  int64_t ctime_sec;
  int64_t ctime_nsec;
};

/* FD's stamp.  MP_ERR_INVALID_ARGUMENT if FD is not a regular file. */
int blobcheck_stamp_fd (int fd, struct blobcheck_stamp *out, bool *named,
                        mp_error *err);
bool blobcheck_stamp_equal (const struct blobcheck_stamp *a,
                            const struct blobcheck_stamp *b);

struct blobcheck_item
{
  int fd;             /* a regular file holding the blob, read with pread */
  const char *digest; /* "sha256:<hex>" or "sha512:<hex>" */
  int64_t size;       /* expected, -1 if unknown */
  bool hashed;        /* out: hashed now (false: the memo knew it) */
};

/* Make sure every item's file holds its digest's bytes: an item whose memo
 * matches is skipped, the others are hashed (several at a time, up to the
 * number of online CPUs) and their verdicts recorded.  Errors name the
 * blob: MP_ERR_DATA_LOSS when it does not match its digest ("blob
 * sha256:... does not match its digest (content changed after download?)";
 * its memo is removed), MP_ERR_INVALID_ARGUMENT when a file is not
 * regular, has another size than expected or changed while it was hashed
 * (nothing recorded); MP_ERR_INTERNAL for
 * I/O.  The first error is returned, after every thread has stopped; items
 * done before it keep their verdicts. */
int blobcheck_verify (blobcheck *bc, struct blobcheck_item *items, size_t n,
                      mp_error *err);

/* Whether the memo matches FD for DIGEST now (no hashing). */
bool blobcheck_known (blobcheck *bc, int fd, const char *digest);

/* For callers that hash the blob's bytes themselves while reading them
 * (unpacking): record that FD matched DIGEST, provided it still has the
 * stamp BEFORE taken before it was read and is a named file.  1 if
 * recorded, 0 if not (changed, unnamed), -1 with *ERR on I/O failure. */
int blobcheck_record (blobcheck *bc, int fd, const char *digest,
                      const struct blobcheck_stamp *before, mp_error *err);

/* Remove what is remembered for DIGEST (after a mismatch). */
void blobcheck_forget (blobcheck *bc, const char *digest);

/* The memo text: blobcheck_format writes it (at most BLOBCHECK_TEXT_MAX
 * bytes with the NUL), blobcheck_parse accepts exactly what it writes and
 * nothing else.  Exposed for tests and fuzzing. */
#define BLOBCHECK_TEXT_MAX 192
int blobcheck_format (const struct blobcheck_stamp *s, char *buf, size_t size);
bool blobcheck_parse (const char *text, size_t len,
                      struct blobcheck_stamp *out);

/* Tests: called after a file was hashed, before it is stat'ed again. */
extern void (*blobcheck_test_after_hash) (int fd);

#endif
