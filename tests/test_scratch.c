/* Tests for util/scratch: private, flocked scratch directories and the
 * sweep of those a dead process left. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/harness.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/scratch.h"

#define PREFIX ".scratch-test."

static char base[64];

static int
fresh_dir (void)
{
  mp_error err = { 0 };

  if (base[0] != '\0')
    mp_rmtree_at (AT_FDCWD, base, &err);
  strcpy (base, "/tmp/mp-scratch-XXXXXX");
  if (mkdtemp (base) == NULL)
    return -1;
  return open (base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static bool
exists (int dfd, const char *name)
{
  struct stat st;
  return fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

TEST (create_is_private_random_and_locked)
{
  cleanup_close int dfd = fresh_dir (), fd = -1, fd2 = -1, other = -1;
  char a[128], b[128], pid[32];
  mp_error err = { 0 };
  struct stat st;

  REQUIRE (dfd >= 0);
  REQUIRE (mp_scratch_create (dfd, PREFIX, a, sizeof a, &fd, &err) == 0);
  REQUIRE (mp_scratch_create (dfd, PREFIX, b, sizeof b, &fd2, &err) == 0);
  snprintf (pid, sizeof pid, PREFIX "%d.", (int)getpid ());
  CHECK (strncmp (a, pid, strlen (pid)) == 0);
  CHECK (strlen (a) == strlen (pid) + 16);
  CHECK (strcmp (a, b) != 0);
  REQUIRE (fstatat (dfd, a, &st, AT_SYMLINK_NOFOLLOW) == 0);
  CHECK (S_ISDIR (st.st_mode) && (st.st_mode & 077) == 0);
  CHECK (st.st_uid == geteuid ());
  other = openat (dfd, a, O_RDONLY | O_DIRECTORY);
  REQUIRE (other >= 0);
  CHECK (flock (other, LOCK_EX | LOCK_NB) < 0);
  CHECK (mp_scratch_remove (dfd, a, fd, &err) == 0);
  CHECK (!exists (dfd, a));
  CHECK (mp_scratch_remove (dfd, b, fd2, &err) == 0);
}

TEST (sweep_removes_only_unlocked_own_directories)
{
  cleanup_close int dfd = fresh_dir (), live = -1, stale = -1, f = -1;
  char lname[128], sname[128];
  mp_error err = { 0 };

  REQUIRE (dfd >= 0);
  REQUIRE (mp_scratch_create (dfd, PREFIX, lname, sizeof lname, &live, &err)
           == 0);
  REQUIRE (mp_scratch_create (dfd, PREFIX, sname, sizeof sname, &stale, &err)
           == 0);
  REQUIRE (mkdirat (stale, "deep", 0700) == 0);
  f = openat (stale, "deep/file", O_WRONLY | O_CREAT, 0600);
  REQUIRE (f >= 0);
  close (mp_steal_fd (&f));
  close (mp_steal_fd (&stale)); /* its process "died" */
  /* Not directories of ours: a symlink and a file with the prefix, and a
   * directory without it. */
  REQUIRE (mkdirat (dfd, "target", 0700) == 0);
  REQUIRE (symlinkat ("target", dfd, PREFIX "link") == 0);
  f = openat (dfd, PREFIX "file", O_WRONLY | O_CREAT, 0600);
  REQUIRE (f >= 0);
  REQUIRE (mkdirat (dfd, "target/keep", 0700) == 0);

  CHECK (mp_scratch_sweep (dfd, PREFIX) == 1);
  CHECK (!exists (dfd, sname));
  CHECK (exists (dfd, lname));
  CHECK (exists (dfd, PREFIX "link") && exists (dfd, PREFIX "file"));
  CHECK (exists (dfd, "target/keep"));
  CHECK (mp_scratch_remove (dfd, lname, live, &err) == 0);
  CHECK (mp_scratch_sweep (dfd, PREFIX) == 0);
}

TEST (remove_does_not_take_a_replacement_at_the_name)
{
  cleanup_close int dfd = fresh_dir (), fd = -1;
  char name[128];
  mp_error err = { 0 };

  REQUIRE (dfd >= 0);
  REQUIRE (mp_scratch_create (dfd, PREFIX, name, sizeof name, &fd, &err) == 0);
  REQUIRE (mkdirat (fd, "work", 0700) == 0);
  /* Someone renamed ours away and put a directory in its place. */
  REQUIRE (renameat (dfd, name, dfd, "moved") == 0);
  REQUIRE (mkdirat (dfd, name, 0700) == 0);
  CHECK (mp_scratch_remove (dfd, name, fd, &err) == 0);
  CHECK (exists (dfd, name));
  CHECK (exists (dfd, "moved") && !exists (dfd, "moved/work"));
  mp_rmtree_at (AT_FDCWD, base, &err);
  base[0] = '\0';
}

TEST_MAIN (T (create_is_private_random_and_locked),
           T (sweep_removes_only_unlocked_own_directories),
           T (remove_does_not_take_a_replacement_at_the_name))
