/* Tests for store/blobcheck: blob files hashed once, the verdict
 * remembered per file (device, inode, size, ctime) and dropped when the
 * file changes; mismatches refused and forgotten; many blobs in parallel;
 * whatever sits in the memo directory that we did not write reads as "not
 * verified". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/digest.h"
#include "store/blobcheck.h"
#include "tests/harness.h"
#include "util/fsutil.h"
#include "util/log.h"

static char base[256], memo_dir[300];
static int base_fd = -1;

static void
world_new (void)
{
  snprintf (base, sizeof base, "/tmp/mp-blobcheck-test-XXXXXX");
  if (mkdtemp (base) == NULL)
    abort ();
  snprintf (memo_dir, sizeof memo_dir, "%s/verified", base);
  base_fd = open (base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (base_fd < 0)
    abort ();
  mp_log_set_level (MP_LOG_ERROR);
}

static void
world_free (void)
{
  mp_error e;

  close (base_fd);
  base_fd = -1;
  if (getenv ("MP_TEST_KEEP") == NULL)
    mp_rmtree_at (AT_FDCWD, base, &e);
}

static blobcheck *
bc_open (void)
{
  mp_error err = { 0 };
  blobcheck *bc = blobcheck_open (base_fd, "verified", memo_dir, &err);

  if (bc == NULL)
    fprintf (stderr, "blobcheck_open: %s\n", err.msg);
  return bc;
}

/* A blob file NAME of LEN pattern bytes; its digest in DIGEST; an fd open
 * for reading returned. */
static int
make_blob (const char *name, size_t len, unsigned seed,
           char digest[MODEL_DIGEST_MAX + 1])
{
  char path[600];
  unsigned char *p = malloc (len ? len : 1);
  model_digest d;
  FILE *f;
  int fd;

  for (size_t i = 0; i < len; i++)
    p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
  snprintf (path, sizeof path, "%s/%s", base, name);
  f = fopen (path, "wb");
  if (f == NULL || fwrite (p, 1, len, f) != len || fclose (f) != 0)
    abort ();
  if (model_digest_buffer (MODEL_DIGEST_SHA256, p, len, &d, NULL) < 0)
    abort ();
  strcpy (digest, d.str);
  free (p);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    abort ();
  return fd;
}

static void
memo_path (const char *digest, char *out, size_t size)
{
  snprintf (out, size, "%s/sha256-%s", memo_dir, strchr (digest, ':') + 1);
}

static bool
exists (const char *path)
{
  struct stat st;
  return lstat (path, &st) == 0;
}

/* Change the file's ctime only (same mode): what `touch` or a chmod does.
 * The pause lets even coarse timestamps move. */
static void
touch_ctime (const char *name)
{
  char path[600];
  struct timespec pause = { 0, 20 * 1000 * 1000 };

  nanosleep (&pause, NULL);
  snprintf (path, sizeof path, "%s/%s", base, name);
  if (chmod (path, 0644) < 0)
    abort ();
}

/* Overwrite one byte at OFF in place (size kept). */
static void
flip_byte (const char *name, off_t off)
{
  char path[600];
  unsigned char b;
  struct timespec pause = { 0, 20 * 1000 * 1000 };
  int fd;

  nanosleep (&pause, NULL);
  snprintf (path, sizeof path, "%s/%s", base, name);
  fd = open (path, O_RDWR | O_CLOEXEC);
  if (fd < 0 || pread (fd, &b, 1, off) != 1)
    abort ();
  b ^= 0x5a;
  if (pwrite (fd, &b, 1, off) != 1)
    abort ();
  close (fd);
}

static int
verify1 (blobcheck *bc, int fd, const char *digest, int64_t size, bool *hashed,
         mp_error *err)
{
  struct blobcheck_item it = { .fd = fd, .digest = digest, .size = size };
  int r;

  mp_error_clear (err);
  r = blobcheck_verify (bc, &it, 1, err);
  *hashed = it.hashed;
  return r;
}

/* ---- tests ------------------------------------------------------------- */

TEST (memo_hit_after_first_hash)
{
  char dg[MODEL_DIGEST_MAX + 1], mp[700];
  mp_error err = { 0 };
  blobcheck *bc;
  bool hashed;
  struct stat st;
  int fd;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  CHECK (stat (memo_dir, &st) == 0 && (st.st_mode & 07777) == 0700
         && st.st_uid == geteuid ());
  fd = make_blob ("a", 300000, 1, dg);
  CHECK (!blobcheck_known (bc, fd, dg));
  CHECK (verify1 (bc, fd, dg, 300000, &hashed, &err) == 0);
  CHECK (hashed);
  memo_path (dg, mp, sizeof mp);
  CHECK (exists (mp));
  CHECK (blobcheck_known (bc, fd, dg));
  /* The second time nothing is read. */
  CHECK (verify1 (bc, fd, dg, 300000, &hashed, &err) == 0);
  CHECK (!hashed);
  /* Another open of the same file, and another blobcheck on the same
   * directory (another process) know it too. */
  {
    char path[600];
    int fd2;
    blobcheck *bc2 = bc_open ();

    snprintf (path, sizeof path, "%s/a", base);
    fd2 = open (path, O_RDONLY | O_CLOEXEC);
    REQUIRE (fd2 >= 0 && bc2 != NULL);
    CHECK (blobcheck_known (bc2, fd2, dg));
    CHECK (verify1 (bc2, fd2, dg, -1, &hashed, &err) == 0 && !hashed);
    close (fd2);
    blobcheck_close (bc2);
  }
  /* A memo is per digest: another digest on the same file is not known. */
  CHECK (!blobcheck_known (bc, fd,
                           "sha256:0000000000000000000000000000000000000000"
                           "000000000000000000000000"));
  close (fd);
  blobcheck_close (bc);
  world_free ();
}

TEST (touched_file_is_hashed_again)
{
  char dg[MODEL_DIGEST_MAX + 1];
  mp_error err = { 0 };
  blobcheck *bc;
  bool hashed;
  int fd;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  fd = make_blob ("a", 5000, 2, dg);
  CHECK (verify1 (bc, fd, dg, 5000, &hashed, &err) == 0 && hashed);
  touch_ctime ("a");
  CHECK (!blobcheck_known (bc, fd, dg));
  CHECK (verify1 (bc, fd, dg, 5000, &hashed, &err) == 0);
  CHECK (hashed);
  /* ... and remembered again with the new ctime. */
  CHECK (blobcheck_known (bc, fd, dg));
  CHECK (verify1 (bc, fd, dg, 5000, &hashed, &err) == 0 && !hashed);
  close (fd);
  blobcheck_close (bc);
  world_free ();
}

TEST (replaced_file_is_not_known)
{
  char dg[MODEL_DIGEST_MAX + 1], dg2[MODEL_DIGEST_MAX + 1], a[600], b[600];
  mp_error err = { 0 };
  blobcheck *bc;
  bool hashed;
  int fd, fd2;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  fd = make_blob ("a", 5000, 3, dg);
  CHECK (verify1 (bc, fd, dg, 5000, &hashed, &err) == 0 && hashed);
  /* A copy with the same bytes renamed over it: another inode. */
  fd2 = make_blob ("b", 5000, 3, dg2);
  CHECK_STR (dg, dg2);
  snprintf (a, sizeof a, "%s/a", base);
  snprintf (b, sizeof b, "%s/b", base);
  REQUIRE (rename (b, a) == 0);
  /* The old inode, still open but unlinked, counts as unnamed. */
  CHECK (!blobcheck_known (bc, fd, dg));
  CHECK (!blobcheck_known (bc, fd2, dg));
  CHECK (verify1 (bc, fd2, dg, 5000, &hashed, &err) == 0 && hashed);
  close (fd);
  close (fd2);
  blobcheck_close (bc);
  world_free ();
}

TEST (size_change_is_refused)
{
  char dg[MODEL_DIGEST_MAX + 1], path[600];
  mp_error err = { 0 };
  blobcheck *bc;
  bool hashed;
  FILE *f;
  int fd;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  fd = make_blob ("a", 5000, 4, dg);
  CHECK (verify1 (bc, fd, dg, 5000, &hashed, &err) == 0 && hashed);
  snprintf (path, sizeof path, "%s/a", base);
  f = fopen (path, "ab");
  REQUIRE (f != NULL);
  fputc ('x', f);
  fclose (f);
  CHECK (!blobcheck_known (bc, fd, dg));
  /* The descriptor's size says no before anything is read... */
  CHECK (verify1 (bc, fd, dg, 5000, &hashed, &err) < 0);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, dg) != NULL);
  CHECK (strstr (err.msg, "5001 bytes") != NULL);
  CHECK (!hashed);
  /* ... and without one, the digest does. */
  CHECK (verify1 (bc, fd, dg, -1, &hashed, &err) < 0);
  CHECK (hashed);
  CHECK (strstr (err.msg, "does not match its digest") != NULL);
  close (fd);
  blobcheck_close (bc);
  world_free ();
}

TEST (corrupted_blob_is_refused_and_forgotten)
{
  char dg[MODEL_DIGEST_MAX + 1], mp[700], want[400];
  mp_error err = { 0 };
  blobcheck *bc;
  bool hashed;
  int fd;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  fd = make_blob ("a", 9 << 20, 5, dg); /* more than one read block */
  memo_path (dg, mp, sizeof mp);
  CHECK (verify1 (bc, fd, dg, 9 << 20, &hashed, &err) == 0 && hashed);
  CHECK (exists (mp));

  /* File data altered in place, size kept: the memo no longer matches,
   * the hash is refused, the memo goes. */
  flip_byte ("a", (5 << 20) + 17);
  CHECK (!blobcheck_known (bc, fd, dg));
  CHECK (verify1 (bc, fd, dg, 9 << 20, &hashed, &err) < 0);
  CHECK (hashed);
  CHECK (err.code == MP_ERR_DATA_LOSS);
  snprintf (want, sizeof want,
            "blob %s does not match its digest (content changed after "
            "download?)",
            dg);
  CHECK (strstr (err.msg, want) != NULL);
  if (strstr (err.msg, want) == NULL)
    fprintf (stderr, "  got: %s\n", err.msg);
  CHECK (!exists (mp));
  CHECK (!blobcheck_known (bc, fd, dg));
  /* Still refused the next time: nothing was recorded. */
  CHECK (verify1 (bc, fd, dg, -1, &hashed, &err) < 0 && hashed);
  CHECK (!exists (mp));

  /* Restored: accepted and remembered again. */
  flip_byte ("a", (5 << 20) + 17);
  CHECK (verify1 (bc, fd, dg, -1, &hashed, &err) == 0 && hashed);
  CHECK (exists (mp));
  close (fd);
  blobcheck_close (bc);
  world_free ();
}

static int hook_calls;
static void
change_during_hash (int fd)
{
  hook_calls++;
  touch_ctime ("a");
}

TEST (changed_while_hashing_is_not_recorded)
{
  char dg[MODEL_DIGEST_MAX + 1], mp[700];
  mp_error err = { 0 };
  blobcheck *bc;
  bool hashed;
  int fd;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  fd = make_blob ("a", 100000, 6, dg);
  memo_path (dg, mp, sizeof mp);
  hook_calls = 0;
  blobcheck_test_after_hash = change_during_hash;
  CHECK (verify1 (bc, fd, dg, 100000, &hashed, &err) < 0);
  blobcheck_test_after_hash = NULL;
  CHECK (hook_calls == 1);
  CHECK (hashed);
  CHECK (strstr (err.msg, "changed while it was hashed") != NULL);
  CHECK (strstr (err.msg, dg) != NULL);
  CHECK (!exists (mp));
  CHECK (verify1 (bc, fd, dg, 100000, &hashed, &err) == 0 && hashed);
  CHECK (exists (mp));
  close (fd);
  blobcheck_close (bc);
  world_free ();
}

TEST (record_after_own_hash)
{
  char dg[MODEL_DIGEST_MAX + 1];
  struct blobcheck_stamp before;
  mp_error err = { 0 };
  blobcheck *bc;
  bool named;
  int fd;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  fd = make_blob ("a", 1000, 7, dg);
  REQUIRE (blobcheck_stamp_fd (fd, &before, &named, &err) == 0 && named);
  CHECK (before.size == 1000);
  /* Changed since BEFORE: not recorded. */
  touch_ctime ("a");
  CHECK (blobcheck_record (bc, fd, dg, &before, &err) == 0);
  CHECK (!blobcheck_known (bc, fd, dg));
  REQUIRE (blobcheck_stamp_fd (fd, &before, &named, &err) == 0);
  CHECK (blobcheck_record (bc, fd, dg, &before, &err) == 1);
  CHECK (blobcheck_known (bc, fd, dg));
  blobcheck_forget (bc, dg);
  CHECK (!blobcheck_known (bc, fd, dg));
  close (fd);
  blobcheck_close (bc);
  world_free ();
}

TEST (unnamed_files_and_pipes)
{
  char dg[MODEL_DIGEST_MAX + 1], mp[700];
  unsigned char data[4096];
  model_digest d;
  mp_error err = { 0 };
  blobcheck *bc;
  bool hashed;
  int fd, pipefd[2];

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  memset (data, 'z', sizeof data);
  REQUIRE (
      model_digest_buffer (MODEL_DIGEST_SHA256, data, sizeof data, &d, NULL)
      == 0);
  strcpy (dg, d.str);
  memo_path (dg, mp, sizeof mp);
  /* A spool file without a name: verified, never remembered (its inode
   * number is reused once it is closed). */
  fd = open (base, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  REQUIRE (fd >= 0);
  REQUIRE (write (fd, data, sizeof data) == (ssize_t)sizeof data);
  CHECK (verify1 (bc, fd, dg, sizeof data, &hashed, &err) == 0 && hashed);
  CHECK (!exists (mp));
  CHECK (!blobcheck_known (bc, fd, dg));
  CHECK (verify1 (bc, fd, dg, sizeof data, &hashed, &err) == 0 && hashed);
  close (fd);
  /* Not a regular file. */
  REQUIRE (pipe (pipefd) == 0);
  CHECK (verify1 (bc, pipefd[0], dg, -1, &hashed, &err) < 0);
  CHECK (err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (strstr (err.msg, dg) != NULL);
  CHECK (!blobcheck_known (bc, pipefd[0], dg));
  close (pipefd[0]);
  close (pipefd[1]);
  blobcheck_close (bc);
  world_free ();
}

/* Many blobs at once: all hashed (in parallel), then none; one bad among
 * them fails the call naming it, and the good ones keep their verdicts. */
#define MANY 48

TEST (many_blobs_in_parallel)
{
  static char dg[MANY][MODEL_DIGEST_MAX + 1];
  struct blobcheck_item items[MANY];
  int fds[MANY];
  mp_error err = { 0 };
  blobcheck *bc;
  int hashed = 0;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  for (int i = 0; i < MANY; i++)
    {
      char name[32];
      size_t len = (size_t)(i % 7) * 700000 + (size_t)i;

      snprintf (name, sizeof name, "b%d", i);
      fds[i] = make_blob (name, len, 100 + (unsigned)i, dg[i]);
      items[i] = (struct blobcheck_item){ .fd = fds[i],
                                          .digest = dg[i],
                                          .size = (int64_t)len };
    }
  CHECK (blobcheck_verify (bc, items, MANY, &err) == 0);
  for (int i = 0; i < MANY; i++)
    hashed += items[i].hashed;
  CHECK (hashed == MANY);
  for (int i = 0; i < MANY; i++)
    CHECK (blobcheck_known (bc, fds[i], dg[i]));
  CHECK (blobcheck_verify (bc, items, MANY, &err) == 0);
  hashed = 0;
  for (int i = 0; i < MANY; i++)
    hashed += items[i].hashed;
  CHECK (hashed == 0);

  /* Two of them altered; the call fails naming one of them. */
  flip_byte ("b13", 5);
  flip_byte ("b40", 1000);
  CHECK (blobcheck_verify (bc, items, MANY, &err) < 0);
  CHECK (err.code == MP_ERR_DATA_LOSS);
  CHECK (strstr (err.msg, dg[13]) != NULL || strstr (err.msg, dg[40]) != NULL);
  CHECK (!blobcheck_known (bc, fds[13], dg[13]));
  CHECK (!blobcheck_known (bc, fds[40], dg[40]));
  for (int i = 0; i < MANY; i++)
    if (i != 13 && i != 40)
      CHECK (blobcheck_known (bc, fds[i], dg[i]));
  for (int i = 0; i < MANY; i++)
    close (fds[i]);
  blobcheck_close (bc);
  world_free ();
}

struct racer
{
  blobcheck *bc;
  struct blobcheck_item items[8];
  int rc;
};

static void *
racer_main (void *p)
{
  struct racer *r = p;
  mp_error err = { 0 };

  for (int round = 0; round < 5 && r->rc == 0; round++)
    r->rc = blobcheck_verify (r->bc, r->items, 8, &err);
  if (r->rc < 0)
    fprintf (stderr, "  racer: %s\n", err.msg);
  return NULL;
}

/* Threads verifying the same blobs at once: all succeed, memos stay
 * well-formed. */
TEST (concurrent_callers)
{
  static char dg[8][MODEL_DIGEST_MAX + 1];
  struct racer r[4];
  pthread_t th[4];
  int fds[8];
  blobcheck *bc;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  for (int i = 0; i < 8; i++)
    {
      char name[32];
      snprintf (name, sizeof name, "c%d", i);
      fds[i] = make_blob (name, 200000 + (size_t)i, 200 + (unsigned)i, dg[i]);
    }
  for (int t = 0; t < 4; t++)
    {
      r[t].bc = bc;
      r[t].rc = 0;
      for (int i = 0; i < 8; i++)
        r[t].items[i] = (struct blobcheck_item){ .fd = fds[(i + t) % 8],
                                                 .digest = dg[(i + t) % 8],
                                                 .size = -1 };
      REQUIRE (pthread_create (&th[t], NULL, racer_main, &r[t]) == 0);
    }
  for (int t = 0; t < 4; t++)
    {
      pthread_join (th[t], NULL);
      CHECK (r[t].rc == 0);
    }
  for (int i = 0; i < 8; i++)
    CHECK (blobcheck_known (bc, fds[i], dg[i]));
  /* No temporary file left behind. */
  {
    int n = 0;
    char cmd[700];
    FILE *p;
    snprintf (cmd, sizeof cmd, "ls -A %s | grep -c '^\\.tmp-'", memo_dir);
    p = popen (cmd, "r");
    REQUIRE (p != NULL);
    CHECK (fscanf (p, "%d", &n) == 1 && n == 0);
    pclose (p);
  }
  for (int i = 0; i < 8; i++)
    close (fds[i]);
  blobcheck_close (bc);
  world_free ();
}

static void
write_file (const char *path, const void *p, size_t len)
{
  FILE *f = fopen (path, "wb");
  if (f == NULL || fwrite (p, 1, len, f) != len || fclose (f) != 0)
    abort ();
}

/* Whatever is in a memo's place that we did not write reads as not
 * verified: the blob is hashed, and a good verdict replaces it. */
TEST (garbage_memo_files)
{
  char dg[MODEL_DIGEST_MAX + 1], mp[700], good[BLOBCHECK_TEXT_MAX];
  struct blobcheck_stamp s;
  mp_error err = { 0 };
  blobcheck *bc;
  bool hashed, named;
  int fd, n;

  world_new ();
  bc = bc_open ();
  REQUIRE (bc != NULL);
  fd = make_blob ("a", 70000, 9, dg);
  memo_path (dg, mp, sizeof mp);
  REQUIRE (blobcheck_stamp_fd (fd, &s, &named, &err) == 0);
  n = blobcheck_format (&s, good, sizeof good);
  REQUIRE (n > 0);

  /* The right text in the right place is believed (the control). */
  write_file (mp, good, (size_t)n);
  CHECK (blobcheck_known (bc, fd, dg));

  {
    char text[1024];
    const char *bad[] = {
      "",
      "garbage",
      "mp-blobcheck 2\n",
      "\xff\xfe\x00\x01 binary",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
      {
        write_file (mp, bad[i], strlen (bad[i]) + (i == 3 ? 4 : 0));
        CHECK (!blobcheck_known (bc, fd, dg));
      }
    /* The right stamp, altered: trailing junk, a missing newline, a
     * leading zero, a NUL inside, another inode, a sign. */
    snprintf (text, sizeof text, "%sextra\n", good);
    write_file (mp, text, strlen (text));
    CHECK (!blobcheck_known (bc, fd, dg));
    write_file (mp, good, (size_t)n - 1);
    CHECK (!blobcheck_known (bc, fd, dg));
    snprintf (text, sizeof text, "mp-blobcheck 1\ndev 0%s", good + 19);
    write_file (mp, text, strlen (text));
    CHECK (!blobcheck_known (bc, fd, dg));
    memcpy (text, good, (size_t)n);
    text[20] = '\0';
    write_file (mp, text, (size_t)n);
    CHECK (!blobcheck_known (bc, fd, dg));
    {
      struct blobcheck_stamp o = s;
      o.ino++;
      int m = blobcheck_format (&o, text, sizeof text);
      write_file (mp, text, (size_t)m);
      CHECK (!blobcheck_known (bc, fd, dg));
    }
    snprintf (text, sizeof text,
              "mp-blobcheck 1\ndev +%llu\nino %llu\nsize %lld\nctime "
              "%lld.%09lld\n",
              (unsigned long long)s.dev, (unsigned long long)s.ino,
              (long long)s.size, (long long)s.ctime_sec,
              (long long)s.ctime_nsec);
    write_file (mp, text, strlen (text));
    CHECK (!blobcheck_known (bc, fd, dg));
  }
  /* Huge: the right text followed by a megabyte. */
  {
    size_t len = 1 << 20;
    char *big = calloc (1, len);
    memcpy (big, good, (size_t)n);
    write_file (mp, big, len);
    free (big);
    CHECK (!blobcheck_known (bc, fd, dg));
  }
  CHECK (verify1 (bc, fd, dg, -1, &hashed, &err) == 0 && hashed);
  CHECK (blobcheck_known (bc, fd, dg)); /* replaced by a good one */

  /* A symlink to a good memo elsewhere is not followed. */
  {
    char elsewhere[700];
    snprintf (elsewhere, sizeof elsewhere, "%s/elsewhere", base);
    write_file (elsewhere, good, (size_t)n);
    unlink (mp);
    REQUIRE (symlink (elsewhere, mp) == 0);
    CHECK (!blobcheck_known (bc, fd, dg));
    CHECK (verify1 (bc, fd, dg, -1, &hashed, &err) == 0 && hashed);
    CHECK (blobcheck_known (bc, fd, dg));
  }
  /* A FIFO neither hangs nor counts. */
  unlink (mp);
  REQUIRE (mkfifo (mp, 0600) == 0);
  CHECK (!blobcheck_known (bc, fd, dg));
  CHECK (verify1 (bc, fd, dg, -1, &hashed, &err) == 0 && hashed);
  CHECK (blobcheck_known (bc, fd, dg));
  /* A directory in its place: verified, not remembered, no error. */
  unlink (mp);
  REQUIRE (mkdir (mp, 0700) == 0);
  CHECK (verify1 (bc, fd, dg, -1, &hashed, &err) == 0 && hashed);
  CHECK (!blobcheck_known (bc, fd, dg));
  rmdir (mp);
  close (fd);
  blobcheck_close (bc);
  world_free ();
}

TEST (format_and_parse)
{
  struct blobcheck_stamp s = { .dev = UINT64_MAX,
                               .ino = 12345,
                               .size = INT64_MAX,
                               .ctime_sec = -5,
                               .ctime_nsec = 7 },
                         t;
  char buf[BLOBCHECK_TEXT_MAX];
  int n = blobcheck_format (&s, buf, sizeof buf);

  REQUIRE (n > 0);
  CHECK_STR (buf, "mp-blobcheck 1\ndev 18446744073709551615\nino 12345\n"
                  "size 9223372036854775807\nctime -5.000000007\n");
  CHECK (blobcheck_parse (buf, (size_t)n, &t));
  CHECK (blobcheck_stamp_equal (&s, &t));
  /* Overflow by one, "-0", an 8-digit fraction, a negative size. */
  {
    const char *bad[] = {
      "mp-blobcheck 1\ndev 18446744073709551616\nino 1\nsize 1\nctime "
      "1.000000000\n",
      "mp-blobcheck 1\ndev 1\nino 1\nsize 1\nctime -0.000000000\n",
      "mp-blobcheck 1\ndev 1\nino 1\nsize 1\nctime 1.00000000\n",
      "mp-blobcheck 1\ndev 1\nino 1\nsize -1\nctime 1.000000000\n",
      "mp-blobcheck 1\ndev 1\nino 1\nsize 9223372036854775808\nctime "
      "1.000000000\n",
      "mp-blobcheck 1\ndev 1\nino 1\nsize 1\nctime 1.0000000000\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
      CHECK (!blobcheck_parse (bad[i], strlen (bad[i]), &t));
    const char *zero
        = "mp-blobcheck 1\ndev 0\nino 0\nsize 0\nctime 0.000000000\n";
    CHECK (blobcheck_parse (zero, strlen (zero), &t));
  }
  s.ctime_nsec = 1000000000;
  CHECK (blobcheck_format (&s, buf, sizeof buf) < 0);
}

TEST (memo_directory_ownership)
{
  struct stat st;
  mp_error err = { 0 };
  blobcheck *bc;

  world_new ();
  /* Too open: closed down to 0700. */
  REQUIRE (mkdir (memo_dir, 0755) == 0);
  chmod (memo_dir, 0777);
  bc = bc_open ();
  REQUIRE (bc != NULL);
  CHECK (stat (memo_dir, &st) == 0 && (st.st_mode & 07777) == 0700);
  blobcheck_close (bc);
  /* Someone else's: refused (only as root can the test give it away). */
  if (geteuid () == 0)
    {
      REQUIRE (chown (memo_dir, 12345, 12345) == 0);
      bc = blobcheck_open (base_fd, "verified", memo_dir, &err);
      CHECK (bc == NULL);
      CHECK (err.code == MP_ERR_FAILED_PRECONDITION);
      CHECK (strstr (err.msg, "12345") != NULL);
      blobcheck_close (bc);
    }
  /* A symlink in its place is not followed. */
  rmdir (memo_dir);
  REQUIRE (symlink ("/tmp", memo_dir) == 0);
  bc = blobcheck_open (base_fd, "verified", memo_dir, &err);
  CHECK (bc == NULL);
  blobcheck_close (bc);
  world_free ();
}

TEST_MAIN (T (memo_hit_after_first_hash), T (touched_file_is_hashed_again),
           T (replaced_file_is_not_known), T (size_change_is_refused),
           T (corrupted_blob_is_refused_and_forgotten),
           T (changed_while_hashing_is_not_recorded), T (record_after_own_hash),
           T (unnamed_files_and_pipes), T (many_blobs_in_parallel),
           T (concurrent_callers), T (garbage_memo_files), T (format_and_parse),
           T (memo_directory_ownership))
