/* snapshots_conformance: containerd's snapshotter test suite, re-expressed in
 * C and driven over the Snapshots gRPC API.
 *
 *   snapshots_conformance --address SOCK --snapshotter NAME [--namespace NS]
 *                         [--case SUBSTR] [--workdir DIR] [--timeout-ms MS]
 *
 * Point --address at containerd's socket (then --snapshotter picks the
 * backend, e.g. our proxy plugin "modelpack" or the built-in "overlayfs") or
 * straight at a snapshotter's own socket.  Every case of containerd's suite
 * (core/snapshots/testsuite: testsuite.go, issues.go, helpers.go) runs with
 * the same operations and the same assertions: mounts are mounted for real,
 * files are written through them, and committed layers are read back
 * through mounted views and compared with a plain directory the same
 * changes were applied to (paths, modes, owners, sizes, contents,
 * hard-link groups, symlink targets — what containerd's comparison looks
 * at).  Each case prints "ok NAME" or "FAIL NAME: reason"; the last line is
 * "conformance: N passed, N failed" and the exit status is 1 on any failure.
 *
 * Where the suite's keys are fixed names, here they carry a per-run tag so
 * runs never collide, and every case removes the snapshots it made, so the
 * program can run again and again against one containerd.  Lists are read
 * back only for the case's own keys, since other snapshots may share the
 * namespace.  Must run as root (mounts, chown). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "plugin/grpc_client.h"
#include "integration/lib/mountutil.h"
#include "integration/lib/snapclient.h"
#include "util/cleanup.h"
#include "util/error.h"

#define GC_ROOT "containerd.io/gc.root"

/* ---- small helpers ------------------------------------------------------ */

static void *
xnonnull (void *p)
{
  if (p == NULL)
    {
      fprintf (stderr, "snapshots_conformance: out of memory\n");
      exit (2);
    }
  return p;
}

static char *
xstrdup (const char *s)
{
  return xnonnull (strdup (s));
}

static char *xasprintf (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));
static char *
xasprintf (const char *fmt, ...)
{
  char *s = NULL;
  va_list ap;
  va_start (ap, fmt);
  int n = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (n < 0)
    xnonnull (NULL);
  return s;
}

static struct timespec
now_realtime (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return ts;
}

static int
ts_cmp (struct timespec a, struct timespec b)
{
  if (a.tv_sec != b.tv_sec)
    return a.tv_sec < b.tv_sec ? -1 : 1;
  if (a.tv_nsec != b.tv_nsec)
    return a.tv_nsec < b.tv_nsec ? -1 : 1;
  return 0;
}

static char *
ts_format (struct timespec ts)
{
  struct tm tm;
  char buf[64];
  time_t t = ts.tv_sec;
  gmtime_r (&t, &tm);
  strftime (buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return xasprintf ("%s.%09ldZ", buf, (long)ts.tv_nsec);
}

/* The suite's root label value: the start time, RFC 3339, seconds. */
static char *
rfc3339_now (void)
{
  struct tm tm;
  char buf[64];
  time_t t = time (NULL);
  gmtime_r (&t, &tm);
  strftime (buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return xstrdup (buf);
}

/* ---- suite and case state ----------------------------------------------- */

typedef struct suite
{
  const char *address;
  const char *snapshotter;
  const char *ns;
  int64_t timeout_ms;
  mp_grpc_client *grpc;
  snapclient *sc;
  char *root;            /* this run's directory under --workdir */
  char *tag;             /* unique per run: part of every fixed-name key */
  snapclient_labels opt; /* the suite's default labels: a gc root */
} suite;

typedef struct tcase
{
  suite *s;
  snapclient *sc;
  const char *name;
  char *work;   /* the case's work directory; also the path-key prefix */
  char *prefix; /* prefix of the case's fixed-name keys */
  char msg[4096];
  char **pool; /* strings freed when the case ends */
  size_t n_pool;
  char **mounted; /* directories with our mounts on them */
  size_t n_mounted;
} tcase;

/* A string that lives until the case ends. */
static const char *
keep (tcase *c, char *s)
{
  c->pool = xnonnull (realloc (c->pool, (c->n_pool + 1) * sizeof *c->pool));
  c->pool[c->n_pool++] = s;
  return s;
}

static const char *fmt (tcase *c, const char *f, ...)
    __attribute__ ((format (printf, 2, 3)));
static const char *
fmt (tcase *c, const char *f, ...)
{
  char *s = NULL;
  va_list ap;
  va_start (ap, f);
  int n = vasprintf (&s, f, ap);
  va_end (ap);
  if (n < 0)
    xnonnull (NULL);
  return keep (c, s);
}

/* The suite names most snapshots after paths in its work directory
 * (filepath.Join(work, "preparing")); those keys are paths here too. */
static const char *
P (tcase *c, const char *name)
{
  return fmt (c, "%s/%s", c->work, name);
}

/* Keys the suite spells as bare names ("c1", "a-np", "committed-1"). */
static const char *
N (tcase *c, const char *name)
{
  return fmt (c, "%s%s", c->prefix, name);
}

static int fail (tcase *c, const char *f, ...)
    __attribute__ ((format (printf, 2, 3)));
static int
fail (tcase *c, const char *f, ...)
{
  if (c->msg[0] == '\0')
    {
      va_list ap;
      va_start (ap, f);
      vsnprintf (c->msg, sizeof c->msg, f, ap);
      va_end (ap);
    }
  return -1;
}

/* Put "CONTEXT: " in front of the failure already recorded. */
static int context (tcase *c, const char *f, ...)
    __attribute__ ((format (printf, 2, 3)));
static int
context (tcase *c, const char *f, ...)
{
  char pre[512];
  va_list ap;
  va_start (ap, f);
  vsnprintf (pre, sizeof pre, f, ap);
  va_end (ap);
  size_t pl = strlen (pre), ml = strlen (c->msg);
  if (pl + 2 + ml >= sizeof c->msg)
    ml = sizeof c->msg - pl - 3;
  memmove (c->msg + pl + 2, c->msg, ml);
  c->msg[pl + 2 + ml] = '\0';
  memcpy (c->msg, pre, pl);
  memcpy (c->msg + pl, ": ", 2);
  return -1;
}

#define CHECK(c, cond, ...)                                                    \
  do                                                                           \
    {                                                                          \
      if (!(cond))                                                             \
        return fail ((c), __VA_ARGS__);                                        \
    }                                                                          \
  while (0)

#define TRY(expr)                                                              \
  do                                                                           \
    {                                                                          \
      if ((expr) < 0)                                                          \
        return -1;                                                             \
    }                                                                          \
  while (0)

/* ---- snapshot calls that fail the case with what was called -------------- */

static const char *
q (const char *s)
{
  return s != NULL ? s : "";
}

static void
mounts_auto_free (snapclient_mounts *m)
{
  snapclient_mounts_free (m);
}
#define cleanup_mounts __attribute__ ((cleanup (mounts_auto_free)))

static void
info_auto_free (snapclient_info *i)
{
  snapclient_info_free (i);
}
#define cleanup_info __attribute__ ((cleanup (info_auto_free)))

static void
labels_auto_free (snapclient_labels *l)
{
  snapclient_labels_free (l);
}
#define cleanup_labels __attribute__ ((cleanup (labels_auto_free)))

static int
do_prepare (tcase *c, const char *key, const char *parent,
            const snapclient_labels *labels, snapclient_mounts *out)
{
  mp_error err;
  if (out != NULL)
    *out = (snapclient_mounts){ 0 };
  if (snapclient_prepare (c->sc, key, parent, labels, out, &err) != 0)
    return fail (c, "Prepare(%s, parent \"%s\"): %s", key, q (parent), err.msg);
  return 0;
}

static int
do_view (tcase *c, const char *key, const char *parent,
         const snapclient_labels *labels, snapclient_mounts *out)
{
  mp_error err;
  if (out != NULL)
    *out = (snapclient_mounts){ 0 };
  if (snapclient_view (c->sc, key, parent, labels, out, &err) != 0)
    return fail (c, "View(%s, parent \"%s\"): %s", key, q (parent), err.msg);
  return 0;
}

static int
do_commit (tcase *c, const char *name, const char *key,
           const snapclient_labels *labels)
{
  mp_error err;
  if (snapclient_commit (c->sc, name, key, NULL, labels, &err) != 0)
    return fail (c, "Commit(%s, key %s): %s", name, key, err.msg);
  return 0;
}

static int
do_remove (tcase *c, const char *key)
{
  mp_error err;
  if (snapclient_remove (c->sc, key, &err) != 0)
    return fail (c, "Remove(%s): %s", key, err.msg);
  return 0;
}

static int
do_stat (tcase *c, const char *key, snapclient_info *out)
{
  mp_error err;
  *out = (snapclient_info){ 0 };
  if (snapclient_stat (c->sc, key, out, &err) != 0)
    return fail (c, "Stat(%s): %s", key, err.msg);
  return 0;
}

/* A call that must fail with gRPC code WANT: RC and ERR are its result. */
static int
expect_code (tcase *c, int rc, const mp_error *err, int want, const char *what)
{
  if (rc == want)
    return 0;
  if (rc == 0)
    return fail (c, "%s succeeded, expected %s", what,
                 mp_grpc_code_name (want));
  return fail (c, "%s: expected %s, got %s", what, mp_grpc_code_name (want),
               err->msg);
}

static int
expect_kind (tcase *c, const snapclient_info *si, enum snapclient_kind want)
{
  CHECK (c, si->kind == want, "Stat(%s): kind %s, expected %s", si->name,
         snapclient_kind_name (si->kind), snapclient_kind_name (want));
  return 0;
}

static int
expect_parent (tcase *c, const snapclient_info *si, const char *want)
{
  CHECK (c, strcmp (si->parent, want) == 0,
         "Stat(%s): parent \"%s\", expected \"%s\"", si->name, si->parent,
         want);
  return 0;
}

/* Why two infos differ (all fields, as the suite's comparisons do), or
 * NULL when they are the same.  Kept in the case's pool. */
static const char *
info_diff (tcase *c, const snapclient_info *a, const snapclient_info *b)
{
  if (strcmp (a->name, b->name) != 0)
    return fmt (c, "name \"%s\" vs \"%s\"", a->name, b->name);
  if (strcmp (a->parent, b->parent) != 0)
    return fmt (c, "parent \"%s\" vs \"%s\"", a->parent, b->parent);
  if (a->kind != b->kind)
    return fmt (c, "kind %s vs %s", snapclient_kind_name (a->kind),
                snapclient_kind_name (b->kind));
  if (ts_cmp (a->created, b->created) != 0)
    return fmt (c, "created %s vs %s", keep (c, ts_format (a->created)),
                keep (c, ts_format (b->created)));
  if (ts_cmp (a->updated, b->updated) != 0)
    return fmt (c, "updated %s vs %s", keep (c, ts_format (a->updated)),
                keep (c, ts_format (b->updated)));
  if (!snapclient_labels_equal (&a->labels, &b->labels))
    return fmt (c, "labels %s vs %s",
                keep (c, xnonnull (snapclient_labels_format (&a->labels))),
                keep (c, xnonnull (snapclient_labels_format (&b->labels))));
  return NULL;
}

static int
expect_labels (tcase *c, const char *what, const snapclient_labels *got,
               const snapclient_labels *want)
{
  CHECK (c, snapclient_labels_equal (got, want), "%s: labels %s, expected %s",
         what, keep (c, xnonnull (snapclient_labels_format (got))),
         keep (c, xnonnull (snapclient_labels_format (want))));
  return 0;
}

static void
labels_add (snapclient_labels *l, const char *k, const char *v)
{
  if (snapclient_labels_set (l, k, v, NULL) < 0)
    xnonnull (NULL);
}

/* ---- filesystem helpers ------------------------------------------------- */

static int
mkdir_all (const char *path, mode_t mode)
{
  cleanup_free char *p = xstrdup (path);
  for (char *s = p + 1; *s != '\0'; s++)
    if (*s == '/')
      {
        *s = '\0';
        if (mkdir (p, mode) < 0 && errno != EEXIST)
          return -1;
        *s = '/';
      }
  if (mkdir (p, mode) < 0 && errno != EEXIST)
    return -1;
  return 0;
}

static int rm_errno;

static int
rm_entry (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  int r = type == FTW_DP ? rmdir (path) : unlink (path);
  if (r < 0 && errno != ENOENT && rm_errno == 0)
    rm_errno = errno;
  return 0;
}

/* rm -rf PATH, staying on PATH's filesystem (a mount point below makes its
 * parent's rmdir fail instead of emptying what is mounted there). */
static int
remove_all (const char *path)
{
  struct stat st;
  if (lstat (path, &st) < 0)
    return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR (st.st_mode))
    return unlink (path);
  rm_errno = 0;
  if (nftw (path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
    return -1;
  if (rm_errno != 0)
    {
      errno = rm_errno;
      return -1;
    }
  return 0;
}

/* A fresh directory under the case's work directory, like os.MkdirTemp. */
static const char *
make_temp_dir (tcase *c, const char *pattern)
{
  char *d = xasprintf ("%s/%s-XXXXXX", c->work, pattern);
  if (mkdtemp (d) == NULL)
    {
      fail (c, "mkdtemp %s: %s", d, strerror (errno));
      free (d);
      return NULL;
    }
  return keep (c, d);
}

/* ---- file changes (the suite's fstest appliers) -------------------------- */

enum op_kind
{
  OP_FILE,   /* create or truncate PATH with CONTENT, then chmod MODE */
  OP_DIR,    /* mkdir -p PATH with MODE, then chmod MODE */
  OP_RMALL,  /* rm -rf PATH */
  OP_CHOWN,  /* chown PATH UID:GID */
  OP_LINK,   /* hard link PATH as ARG */
  OP_RENAME, /* rename PATH to ARG */
};

typedef struct fsop
{
  enum op_kind kind;
  const char *path;
  const char *arg; /* content of OP_FILE, new name of OP_LINK/OP_RENAME */
  mode_t mode;
  int uid, gid;
} fsop;

#define F_FILE(p, content, m)                                                  \
  {                                                                            \
    OP_FILE, (p), (content), (m), 0, 0                                         \
  }
#define F_DIR(p, m)                                                            \
  {                                                                            \
    OP_DIR, (p), NULL, (m), 0, 0                                               \
  }
#define F_RMALL(p)                                                             \
  {                                                                            \
    OP_RMALL, (p), NULL, 0, 0, 0                                               \
  }
#define F_CHOWN(p, u, g)                                                       \
  {                                                                            \
    OP_CHOWN, (p), NULL, 0, (u), (g)                                           \
  }
#define F_LINK(p, to)                                                          \
  {                                                                            \
    OP_LINK, (p), (to), 0, 0, 0                                                \
  }
#define F_RENAME(p, to)                                                        \
  {                                                                            \
    OP_RENAME, (p), (to), 0, 0, 0                                              \
  }

typedef struct layer
{
  const fsop *ops;
  size_t n;
} layer;

#define LAYER(arr) ((layer){ (arr), sizeof (arr) / sizeof (arr)[0] })
#define NO_CHANGES ((layer){ NULL, 0 })

static char *
under (const char *root, const char *path)
{
  while (*path == '/')
    path++;
  return xasprintf ("%s/%s", root, path);
}

static int
apply_op (tcase *c, const char *root, const fsop *op)
{
  cleanup_free char *p = under (root, op->path);
  cleanup_free char *to
      = op->arg != NULL && op->kind != OP_FILE ? under (root, op->arg) : NULL;
  switch (op->kind)
    {
    case OP_FILE:
      {
        cleanup_close int fd
            = open (p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, op->mode);
        size_t len = strlen (op->arg);
        if (fd < 0 || write (fd, op->arg, len) != (ssize_t)len
            || chmod (p, op->mode) < 0)
          return fail (c, "write %s: %s", p, strerror (errno));
        return 0;
      }
    case OP_DIR:
      if (mkdir_all (p, op->mode) < 0 || chmod (p, op->mode) < 0)
        return fail (c, "mkdir %s: %s", p, strerror (errno));
      return 0;
    case OP_RMALL:
      if (remove_all (p) < 0)
        return fail (c, "rm -rf %s: %s", p, strerror (errno));
      return 0;
    case OP_CHOWN:
      if (chown (p, op->uid, op->gid) < 0)
        return fail (c, "chown %s: %s", p, strerror (errno));
      return 0;
    case OP_LINK:
      if (link (p, to) < 0)
        return fail (c, "link %s %s: %s", p, to, strerror (errno));
      return 0;
    case OP_RENAME:
      if (rename (p, to) < 0)
        return fail (c, "rename %s %s: %s", p, to, strerror (errno));
      return 0;
    }
  return fail (c, "unknown change %d", (int)op->kind);
}

static int
apply_layer (tcase *c, const char *root, layer l)
{
  for (size_t i = 0; i < l.n; i++)
    TRY (apply_op (c, root, &l.ops[i]));
  return 0;
}

/* ---- directory comparison ------------------------------------------------ */

/* One file as containerd's directory comparison sees it. */
typedef struct entry
{
  char *path; /* "/a/b" */
  mode_t mode;
  uid_t uid;
  gid_t gid;
  off_t size;
  dev_t rdev;
  dev_t dev;
  ino_t ino;
  nlink_t nlink;
  unsigned char digest[32];
  char *target; /* symlink target */
  char *links;  /* hard-link group: every path of this inode, sorted */
} entry;

typedef struct tree
{
  entry *v;
  size_t n;
} tree;

static void
tree_free (tree *t)
{
  for (size_t i = 0; i < t->n; i++)
    {
      free (t->v[i].path);
      free (t->v[i].target);
      free (t->v[i].links);
    }
  free (t->v);
  *t = (tree){ 0 };
}
#define cleanup_tree __attribute__ ((cleanup (tree_free)))

static int
digest_file (const char *path, unsigned char out[32])
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -1;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  if (ctx == NULL || !EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL))
    {
      EVP_MD_CTX_free (ctx);
      errno = ENOMEM;
      return -1;
    }
  char buf[65536];
  ssize_t r;
  while ((r = read (fd, buf, sizeof buf)) > 0)
    EVP_DigestUpdate (ctx, buf, (size_t)r);
  unsigned int len = 0;
  EVP_DigestFinal_ex (ctx, out, &len);
  EVP_MD_CTX_free (ctx);
  return r < 0 ? -1 : 0;
}

static int
scan_dir (tcase *c, tree *t, const char *root, const char *rel)
{
  cleanup_free char *dir = xasprintf ("%s%s", root, rel);
  cleanup_dir DIR *d = opendir (dir);
  if (d == NULL)
    return fail (c, "opendir %s: %s", dir, strerror (errno));
  struct dirent *de;
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      char *p = xasprintf ("%s/%s", rel, de->d_name);
      cleanup_free char *full = xasprintf ("%s%s", root, p);
      struct stat st;
      if (lstat (full, &st) < 0)
        {
          free (p);
          return fail (c, "lstat %s: %s", full, strerror (errno));
        }
      t->v = xnonnull (realloc (t->v, (t->n + 1) * sizeof *t->v));
      entry *e = &t->v[t->n++];
      *e = (entry){ .path = p,
                    .mode = st.st_mode,
                    .uid = st.st_uid,
                    .gid = st.st_gid,
                    .size = st.st_size,
                    .rdev = st.st_rdev,
                    .dev = st.st_dev,
                    .ino = st.st_ino,
                    .nlink = st.st_nlink };
      if (S_ISREG (st.st_mode) && digest_file (full, e->digest) < 0)
        return fail (c, "read %s: %s", full, strerror (errno));
      if (S_ISLNK (st.st_mode))
        {
          char target[PATH_MAX];
          ssize_t n = readlink (full, target, sizeof target - 1);
          if (n < 0)
            return fail (c, "readlink %s: %s", full, strerror (errno));
          target[n] = '\0';
          e->target = xstrdup (target);
        }
      if (S_ISDIR (st.st_mode))
        TRY (scan_dir (c, t, root, p));
    }
  if (errno != 0)
    return fail (c, "readdir %s: %s", dir, strerror (errno));
  return 0;
}

static int
entry_cmp (const void *a, const void *b)
{
  return strcmp (((const entry *)a)->path, ((const entry *)b)->path);
}

/* Hard links count only within the tree: a regular file with more than one
 * link carries the sorted list of its paths, so two trees agree only if the
 * same names share an inode in both. */
static void
group_links (tree *t)
{
  for (size_t i = 0; i < t->n; i++)
    {
      entry *e = &t->v[i];
      if (!S_ISREG (e->mode) || e->nlink < 2 || e->links != NULL)
        continue;
      char *buf = NULL;
      size_t len = 0;
      FILE *out = xnonnull (open_memstream (&buf, &len));
      bool first = true;
      for (size_t j = i; j < t->n; j++) /* sorted: i is the first path */
        if (t->v[j].ino == e->ino && t->v[j].dev == e->dev
            && S_ISREG (t->v[j].mode))
          {
            fprintf (out, "%s%s", first ? "" : ",", t->v[j].path);
            first = false;
          }
      fclose (out);
      xnonnull (buf);
      for (size_t j = i; j < t->n; j++)
        if (t->v[j].ino == e->ino && t->v[j].dev == e->dev
            && S_ISREG (t->v[j].mode))
          t->v[j].links = xstrdup (buf);
      free (buf);
    }
}

static int
scan_tree (tcase *c, const char *root, tree *t)
{
  *t = (tree){ 0 };
  TRY (scan_dir (c, t, root, ""));
  qsort (t->v, t->n, sizeof *t->v, entry_cmp);
  group_links (t);
  return 0;
}

/* What differs between two entries of the same path, or NULL. */
static const char *
entry_diff (const entry *a, const entry *b)
{
  if (a->mode != b->mode)
    return "mode";
  if (a->uid != b->uid || a->gid != b->gid)
    return "owner";
  if (S_ISREG (a->mode))
    {
      if (a->size != b->size)
        return "size";
      if (memcmp (a->digest, b->digest, sizeof a->digest) != 0)
        return "content";
      if ((a->links == NULL) != (b->links == NULL)
          || (a->links != NULL && strcmp (a->links, b->links) != 0))
        return "hard links";
    }
  if (S_ISLNK (a->mode) && strcmp (a->target, b->target) != 0)
    return "symlink target";
  if ((S_ISCHR (a->mode) || S_ISBLK (a->mode)) && a->rdev != b->rdev)
    return "device number";
  return NULL;
}

/* Compare the trees under WANT_DIR and GOT_DIR (their roots excepted, as
 * containerd's comparison skips "/"), failing the case with a diff. */
static int
check_dirs_equal (tcase *c, const char *want_dir, const char *got_dir)
{
  cleanup_tree tree want = { 0 };
  cleanup_tree tree got = { 0 };
  TRY (scan_tree (c, want_dir, &want));
  TRY (scan_tree (c, got_dir, &got));

  char *buf = NULL;
  size_t len = 0;
  FILE *out = xnonnull (open_memstream (&buf, &len));
  size_t i = 0, j = 0, ndiff = 0;
  while (i < want.n || j < got.n)
    {
      int cmp = i == want.n  ? 1
                : j == got.n ? -1
                             : strcmp (want.v[i].path, got.v[j].path);
      if (cmp < 0)
        {
          if (ndiff++ < 12)
            fprintf (out, " - %s (missing)", want.v[i].path);
          i++;
        }
      else if (cmp > 0)
        {
          if (ndiff++ < 12)
            fprintf (out, " + %s (unexpected)", got.v[j].path);
          j++;
        }
      else
        {
          const entry *a = &want.v[i], *b = &got.v[j];
          const char *what = entry_diff (a, b);
          if (what != NULL && ndiff++ < 12)
            fprintf (out,
                     " ~ %s (%s: mode %o uid %d gid %d size %lld%s%s -> "
                     "mode %o uid %d gid %d size %lld%s%s)",
                     a->path, what, (unsigned)a->mode, (int)a->uid, (int)a->gid,
                     (long long)a->size, a->links ? " links " : "",
                     a->links ? a->links : "", (unsigned)b->mode, (int)b->uid,
                     (int)b->gid, (long long)b->size, b->links ? " links " : "",
                     b->links ? b->links : "");
          i++;
          j++;
        }
    }
  fclose (out);
  xnonnull (buf);
  int rc = 0;
  if (ndiff > 0)
    rc = fail (c, "directory diff between %s (expected) and %s:%s%s", want_dir,
               got_dir, buf, ndiff > 12 ? " ..." : "");
  free (buf);
  return rc;
}

/* containerd's CheckDirectoryEqualWithApplier: DIR against a fresh
 * directory the changes are applied to. */
static int
check_dir_matches (tcase *c, const char *dir, const layer *layers, size_t n)
{
  const char *expect = make_temp_dir (c, "fstest");
  if (expect == NULL)
    return -1;
  for (size_t i = 0; i < n; i++)
    TRY (apply_layer (c, expect, layers[i]));
  TRY (check_dirs_equal (c, expect, dir));
  if (remove_all (expect) < 0)
    return fail (c, "rm -rf %s: %s", expect, strerror (errno));
  return 0;
}

/* ---- mounting ------------------------------------------------------------ */

static int
mount_at (tcase *c, const snapclient_mounts *m, const char *dir)
{
  mp_error err;
  if (mkdir_all (dir, 0777) < 0)
    return fail (c, "mkdir %s: %s", dir, strerror (errno));
  if (mountutil_mount_all (m->v, m->n, dir, &err) < 0)
    {
      cleanup_free char *desc = snapclient_mounts_format (m);
      return fail (c, "mounting [%s] on %s: %s", desc ? desc : "?", dir,
                   err.msg);
    }
  c->mounted
      = xnonnull (realloc (c->mounted, (c->n_mounted + 1) * sizeof (char *)));
  c->mounted[c->n_mounted++] = xstrdup (dir);
  return 0;
}

/* The suite's testutil.Unmount: lazily unmount everything on DIR. */
static int
unmount_at (tcase *c, const char *dir)
{
  mp_error err;
  if (mountutil_unmount_all (dir, true, &err) < 0)
    return fail (c, "%s", err.msg);
  for (size_t i = c->n_mounted; i-- > 0;)
    if (strcmp (c->mounted[i], dir) == 0)
      {
        free (c->mounted[i]);
        memmove (&c->mounted[i], &c->mounted[i + 1],
                 (c->n_mounted - i - 1) * sizeof (char *));
        c->n_mounted--;
      }
  return 0;
}

/* The suite's snapshotterPrepareMount: Prepare work/NAME (the key is that
 * path) on PARENT and mount it there. */
static const char *
prepare_mount (tcase *c, const char *name, const char *parent)
{
  const char *dir = P (c, name);
  cleanup_mounts snapclient_mounts m = { 0 };
  if (mkdir_all (dir, 0777) < 0)
    {
      fail (c, "mkdir %s: %s", dir, strerror (errno));
      return NULL;
    }
  if (do_prepare (c, dir, parent, &c->s->opt, &m) < 0)
    return NULL;
  if (m.n < 1)
    {
      fail (c, "Prepare(%s): expected mounts to have entries", dir);
      return NULL;
    }
  if (mount_at (c, &m, dir) < 0)
    return NULL;
  return dir;
}

static int
write_file (tcase *c, const char *dir, const char *name, const char *content,
            mode_t mode)
{
  fsop op = F_FILE (name, content, mode);
  return apply_op (c, dir, &op);
}

/* ---- the suite's helpers.go ------------------------------------------------
 */

/* createSnapshot: Prepare NAME-prepare on PARENT, apply L through its
 * mounts in a temporary directory, unmount, Commit NAME. */
static int
create_snapshot (tcase *c, const char *name, const char *parent, layer l)
{
  const char *prepare = fmt (c, "%s-prepare", name);
  cleanup_mounts snapclient_mounts m = { 0 };
  TRY (do_prepare (c, prepare, parent, &c->s->opt, &m));
  const char *td = make_temp_dir (c, "prepare");
  if (td == NULL)
    return -1;
  TRY (mount_at (c, &m, td));
  int rc = apply_layer (c, td, l);
  if (unmount_at (c, td) < 0 || rc < 0)
    return -1;
  if (remove_all (td) < 0)
    return fail (c, "rm -rf %s: %s", td, strerror (errno));
  return do_commit (c, name, prepare, &c->s->opt);
}

/* checkSnapshot: a View of NAME, mounted, must equal CHECK. */
static int
check_snapshot (tcase *c, const char *name, const char *check)
{
  const char *td = make_temp_dir (c, "check");
  if (td == NULL)
    return -1;
  const char *view = fmt (c, "%s-view", name);
  cleanup_mounts snapclient_mounts m = { 0 };
  TRY (do_view (c, view, name, &c->s->opt, &m));
  TRY (mount_at (c, &m, td));
  int rc = check_dirs_equal (c, check, td);
  if (unmount_at (c, td) < 0 || rc < 0)
    return -1;
  TRY (do_remove (c, view));
  if (remove_all (td) < 0)
    return fail (c, "rm -rf %s: %s", td, strerror (errno));
  return 0;
}

/* checkSnapshots: a chain of snapshots, one per layer of changes, each
 * checked through a view against a plain directory with the same changes. */
static int
check_snapshots (tcase *c, const layer *layers, size_t n)
{
  const char *flat = make_temp_dir (c, "flat");
  if (flat == NULL)
    return -1;
  const char *parent = "";
  static unsigned serial;
  for (size_t i = 0; i < n; i++)
    {
      const char *name = N (c, fmt (c, "layer-%u-%zu", ++serial, i + 1));
      if (create_snapshot (c, name, parent, layers[i]) < 0
          || apply_layer (c, flat, layers[i]) < 0
          || check_snapshot (c, name, flat) < 0)
        return context (c, "snapshot %zu", i + 1);
      parent = name;
    }
  return 0;
}

/* ---- walking ---------------------------------------------------------------
 */

typedef struct collected
{
  tcase *c;
  const char *prefix; /* keep only names starting with it; NULL keeps all */
  snapclient_info *v;
  size_t n;
} collected;

static int
collect_one (const snapclient_info *info, void *opaque, mp_error *err)
{
  collected *col = opaque;
  if (col->prefix != NULL
      && strncmp (info->name, col->prefix, strlen (col->prefix)) != 0)
    return 0;
  col->v = xnonnull (realloc (col->v, (col->n + 1) * sizeof *col->v));
  if (snapclient_info_copy (&col->v[col->n], info, err) < 0)
    return -1;
  col->n++;
  return 0;
}

static void
collected_free (collected *col)
{
  for (size_t i = 0; i < col->n; i++)
    snapclient_info_free (&col->v[i]);
  free (col->v);
  col->v = NULL;
  col->n = 0;
}
#define cleanup_collected __attribute__ ((cleanup (collected_free)))

static int
walk (tcase *c, const char *const *filters, size_t n, const char *prefix,
      collected *out)
{
  mp_error err;
  *out = (collected){ .c = c, .prefix = prefix };
  if (snapclient_list (c->sc, filters, n, collect_one, out, &err) != 0)
    {
      cleanup_free char *all = NULL;
      size_t len = 0;
      FILE *f = xnonnull (open_memstream (&all, &len));
      for (size_t i = 0; i < n; i++)
        fprintf (f, "%s%s", i ? " " : "", filters[i]);
      fclose (f);
      return fail (c, "List(%s): %s", all, err.msg);
    }
  return 0;
}

static const snapclient_info *
find_info (const collected *col, const char *name)
{
  for (size_t i = 0; i < col->n; i++)
    if (strcmp (col->v[i].name, name) == 0)
      return &col->v[i];
  return NULL;
}

/* ---- the cases: testsuite.go ------------------------------------------------
 */

static int
case_basic (tcase *c)
{
  static const fsop initial_ops[] = {
    F_FILE ("/foo", "foo\n", 0777),
    F_DIR ("/a", 0755),
    F_DIR ("/a/b", 0755),
    F_DIR ("/a/b/c", 0755),
  };
  static const fsop diff_ops[] = {
    F_FILE ("/bar", "bar\n", 0777),
    F_FILE ("/foo", "bar\n", 0777),
    F_RMALL ("/a/b"),
  };
  const layer both[] = { LAYER (initial_ops), LAYER (diff_ops) };
  const snapclient_labels *opt = &c->s->opt;

  const char *preparing = P (c, "preparing");
  if (mkdir_all (preparing, 0777) < 0)
    return fail (c, "mkdir %s: %s", preparing, strerror (errno));
  cleanup_mounts snapclient_mounts m1 = { 0 };
  TRY (do_prepare (c, preparing, "", opt, &m1));
  CHECK (c, m1.n >= 1, "Prepare(%s): expected mounts to have entries",
         preparing);
  TRY (mount_at (c, &m1, preparing));
  TRY (apply_layer (c, preparing, both[0]));
  TRY (unmount_at (c, preparing));

  const char *committed = P (c, "committed");
  TRY (do_commit (c, committed, preparing, opt));
  cleanup_info snapclient_info si = { 0 };
  TRY (do_stat (c, committed, &si));
  TRY (expect_parent (c, &si, ""));
  TRY (expect_kind (c, &si, SNAPCLIENT_KIND_COMMITTED));

  mp_error err;
  snapclient_info gone;
  int rc = snapclient_stat (c->sc, preparing, &gone, &err);
  if (rc == 0)
    snapclient_info_free (&gone);
  TRY (expect_code (c, rc, &err, MP_GRPC_NOT_FOUND,
                    fmt (c, "Stat(%s) after its Commit", preparing)));

  const char *next = P (c, "nextlayer");
  if (mkdir_all (next, 0777) < 0)
    return fail (c, "mkdir %s: %s", next, strerror (errno));
  cleanup_mounts snapclient_mounts m2 = { 0 };
  TRY (do_prepare (c, next, committed, opt, &m2));
  TRY (mount_at (c, &m2, next));
  TRY (check_dir_matches (c, next, both, 1));
  TRY (apply_layer (c, next, both[1]));
  TRY (unmount_at (c, next));

  cleanup_info snapclient_info ni = { 0 };
  TRY (do_stat (c, next, &ni));
  TRY (expect_parent (c, &ni, committed));
  TRY (expect_kind (c, &ni, SNAPCLIENT_KIND_ACTIVE));

  const char *next_committed = P (c, "committed-next");
  TRY (do_commit (c, next_committed, next, opt));
  cleanup_info snapclient_info si2 = { 0 };
  TRY (do_stat (c, next_committed, &si2));
  TRY (expect_parent (c, &si2, committed));
  TRY (expect_kind (c, &si2, SNAPCLIENT_KIND_COMMITTED));

  rc = snapclient_stat (c->sc, next, &gone, &err);
  if (rc == 0)
    snapclient_info_free (&gone);
  TRY (expect_code (c, rc, &err, MP_GRPC_NOT_FOUND,
                    fmt (c, "Stat(%s) after its Commit", next)));

  /* Walk is unordered: find both committed snapshots, compare all fields. */
  cleanup_collected collected all = { 0 };
  TRY (walk (c, NULL, 0, NULL, &all));
  const snapclient_info *expected[] = { &si, &si2 };
  for (size_t i = 0; i < 2; i++)
    {
      const snapclient_info *w = find_info (&all, expected[i]->name);
      CHECK (c, w != NULL, "List: missing %s", expected[i]->name);
      const char *d = info_diff (c, expected[i], w);
      CHECK (c, d == NULL, "List vs Stat of %s: %s", w->name, d);
    }

  const char *nextnext = P (c, "nextnextlayer");
  if (mkdir_all (nextnext, 0777) < 0)
    return fail (c, "mkdir %s: %s", nextnext, strerror (errno));
  cleanup_mounts snapclient_mounts m3 = { 0 };
  TRY (do_view (c, nextnext, next_committed, opt, &m3));
  TRY (mount_at (c, &m3, nextnext));
  rc = check_dir_matches (c, nextnext, both, 2);
  TRY (unmount_at (c, nextnext));
  TRY (rc);

  TRY (do_remove (c, nextnext));
  /* A committed snapshot with a child cannot go; containerd reports it as
   * FailedPrecondition, and the suite wants "remove" in the message. */
  rc = snapclient_remove (c->sc, committed, &err);
  TRY (expect_code (c, rc, &err, MP_GRPC_FAILED_PRECONDITION,
                    fmt (c, "Remove(%s) with a child", committed)));
  CHECK (c, strstr (err.msg, "remove") != NULL,
         "Remove(%s) with a child: error does not mention \"remove\": %s",
         committed, err.msg);
  TRY (do_remove (c, next_committed));
  TRY (do_remove (c, committed));
  return 0;
}

static int
case_stat_active (tcase *c)
{
  const char *preparing = P (c, "preparing");
  if (mkdir_all (preparing, 0777) < 0)
    return fail (c, "mkdir %s: %s", preparing, strerror (errno));
  cleanup_mounts snapclient_mounts m = { 0 };
  TRY (do_prepare (c, preparing, "", &c->s->opt, &m));
  CHECK (c, m.n >= 1, "Prepare(%s): expected mounts to have entries",
         preparing);
  TRY (mount_at (c, &m, preparing));
  TRY (write_file (c, preparing, "foo", "foo\n", 0777));

  cleanup_info snapclient_info si = { 0 };
  TRY (do_stat (c, preparing, &si));
  CHECK (c, strcmp (si.name, preparing) == 0, "Stat(%s): name \"%s\"",
         preparing, si.name);
  TRY (expect_kind (c, &si, SNAPCLIENT_KIND_ACTIVE));
  TRY (expect_parent (c, &si, ""));
  return unmount_at (c, preparing);
}

static int
case_stat_committed (tcase *c)
{
  const char *preparing = P (c, "preparing");
  if (mkdir_all (preparing, 0777) < 0)
    return fail (c, "mkdir %s: %s", preparing, strerror (errno));
  cleanup_mounts snapclient_mounts m = { 0 };
  TRY (do_prepare (c, preparing, "", &c->s->opt, &m));
  CHECK (c, m.n >= 1, "Prepare(%s): expected mounts to have entries",
         preparing);
  TRY (mount_at (c, &m, preparing));
  TRY (write_file (c, preparing, "foo", "foo\n", 0777));

  /* The suite commits while the active snapshot is still mounted. */
  const char *committed = P (c, "committed");
  TRY (do_commit (c, committed, preparing, &c->s->opt));
  cleanup_info snapclient_info si = { 0 };
  TRY (do_stat (c, committed, &si));
  CHECK (c, strcmp (si.name, committed) == 0, "Stat(%s): name \"%s\"",
         committed, si.name);
  TRY (expect_kind (c, &si, SNAPCLIENT_KIND_COMMITTED));
  TRY (expect_parent (c, &si, ""));
  return unmount_at (c, preparing);
}

static int
case_transitivity (tcase *c)
{
  const char *preparing = prepare_mount (c, "preparing", "");
  if (preparing == NULL)
    return -1;
  TRY (write_file (c, preparing, "foo", "foo\n", 0777));
  TRY (unmount_at (c, preparing));
  const char *snap_a = P (c, "snapA");
  TRY (do_commit (c, snap_a, preparing, &c->s->opt));

  const char *next = prepare_mount (c, "next", snap_a);
  if (next == NULL)
    return -1;
  TRY (write_file (c, next, "foo", "foo bar\n", 0777));
  TRY (unmount_at (c, next));
  const char *snap_b = P (c, "snapB");
  TRY (do_commit (c, snap_b, next, &c->s->opt));

  cleanup_info snapclient_info si_a = { 0 };
  cleanup_info snapclient_info si_b = { 0 };
  cleanup_info snapclient_info si_parent_b = { 0 };
  TRY (do_stat (c, snap_a, &si_a));
  TRY (do_stat (c, snap_b, &si_b));
  TRY (do_stat (c, si_b.parent, &si_parent_b));
  TRY (expect_parent (c, &si_a, ""));
  TRY (expect_parent (c, &si_b, snap_a));
  TRY (expect_parent (c, &si_parent_b, ""));
  return 0;
}

static int
case_prepare_view_failing (tcase *c)
{
  const snapclient_labels *opt = &c->s->opt;
  const char *preparing = prepare_mount (c, "preparing", "");
  if (preparing == NULL)
    return -1;
  TRY (unmount_at (c, preparing));
  const char *snap_a = P (c, "snapA");
  TRY (do_commit (c, snap_a, preparing, opt));

  mp_error err;
  /* Prepare then View with the same key. */
  const char *new_layer = P (c, "newlayer");
  TRY (do_prepare (c, new_layer, snap_a, opt, NULL));
  int rc = snapclient_view (c->sc, new_layer, snap_a, opt, NULL, &err);
  TRY (expect_code (c, rc, &err, MP_GRPC_ALREADY_EXISTS,
                    fmt (c, "View(%s) of an existing key", new_layer)));

  /* Two Prepares with the same key. */
  const char *prep_layer = P (c, "prepLayer");
  TRY (do_prepare (c, prep_layer, snap_a, opt, NULL));
  rc = snapclient_prepare (c->sc, prep_layer, snap_a, opt, NULL, &err);
  TRY (expect_code (c, rc, &err, MP_GRPC_ALREADY_EXISTS,
                    fmt (c, "Prepare(%s) of an existing key", prep_layer)));

  /* Two Views with the same key. */
  const char *view_layer = P (c, "viewLayer");
  TRY (do_view (c, view_layer, snap_a, opt, NULL));
  rc = snapclient_view (c->sc, view_layer, snap_a, opt, NULL, &err);
  TRY (expect_code (c, rc, &err, MP_GRPC_ALREADY_EXISTS,
                    fmt (c, "View(%s) of an existing key", view_layer)));
  return 0;
}

/* baseTestSnapshots: c1 <- c2 <- {a1, v1}, and a2, v2 without parent. */
static int
base_test_snapshots (tcase *c)
{
  const snapclient_labels *opt = &c->s->opt;
  TRY (do_prepare (c, N (c, "c1-a"), "", opt, NULL));
  TRY (do_commit (c, N (c, "c1"), N (c, "c1-a"), opt));
  TRY (do_prepare (c, N (c, "c2-a"), N (c, "c1"), opt, NULL));
  TRY (do_commit (c, N (c, "c2"), N (c, "c2-a"), opt));
  TRY (do_prepare (c, N (c, "a1"), N (c, "c2"), opt, NULL));
  TRY (do_prepare (c, N (c, "a2"), "", opt, NULL));
  TRY (do_view (c, N (c, "v1"), N (c, "c2"), opt, NULL));
  TRY (do_view (c, N (c, "v2"), "", opt, NULL));
  return 0;
}

static int
do_update (tcase *c, snapclient_info *st, const char *const *paths, size_t n,
           const char *what)
{
  mp_error err;
  snapclient_info out;
  if (snapclient_update (c->sc, st, paths, n, &out, &err) != 0)
    return fail (c, "Update(%s, %s): %s", st->name, what, err.msg);
  snapclient_info_free (st);
  *st = out;
  return 0;
}

static int
case_update (tcase *c)
{
  struct timespec t1 = now_realtime ();
  TRY (base_test_snapshots (c));
  struct timespec t2 = now_realtime ();

  static const struct
  {
    const char *name;
    enum snapclient_kind kind;
    const char *parent;
  } cases[] = {
    { "c1", SNAPCLIENT_KIND_COMMITTED, "" },
    { "c2", SNAPCLIENT_KIND_COMMITTED, "c1" },
    { "a1", SNAPCLIENT_KIND_ACTIVE, "c2" },
    { "a2", SNAPCLIENT_KIND_ACTIVE, "" },
    { "v1", SNAPCLIENT_KIND_VIEW, "c2" },
    { "v2", SNAPCLIENT_KIND_VIEW, "" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      const char *name = N (c, cases[i].name);
      const char *parent = *cases[i].parent ? N (c, cases[i].parent) : "";
      cleanup_info snapclient_info st = { 0 };
      TRY (do_stat (c, name, &st));
      CHECK (c, ts_cmp (st.created, t1) >= 0 && ts_cmp (st.created, t2) <= 0,
             "(%s) created %s, expected between %s and %s", name,
             keep (c, ts_format (st.created)), keep (c, ts_format (t1)),
             keep (c, ts_format (t2)));
      CHECK (c, ts_cmp (st.created, st.updated) == 0,
             "(%s) updated %s, expected it equal to created %s", name,
             keep (c, ts_format (st.updated)),
             keep (c, ts_format (st.created)));
      TRY (expect_kind (c, &st, cases[i].kind));
      TRY (expect_parent (c, &st, parent));
      CHECK (c, strcmp (st.name, name) == 0, "(%s) name \"%s\"", name, st.name);

      /* No field paths: the labels are replaced and the parent, though
       * set, is ignored. */
      struct timespec created = st.created;
      cleanup_free char *root_time = rfc3339_now ();
      cleanup_labels snapclient_labels expected = { 0 };
      labels_add (&expected, "l1", "v1");
      labels_add (&expected, "l2", "v2");
      labels_add (&expected, "l3", "v3");
      labels_add (&expected, GC_ROOT, root_time);
      free (st.parent);
      st.parent = xstrdup ("doesnotexist");
      snapclient_labels_free (&st.labels);
      if (snapclient_labels_copy (&st.labels, &expected, NULL) < 0)
        xnonnull (NULL);
      struct timespec u1 = now_realtime ();
      TRY (do_update (c, &st, NULL, 0, "no field paths"));
      struct timespec u2 = now_realtime ();
      CHECK (c, ts_cmp (st.created, created) == 0,
             "(%s) Update moved created from %s to %s", name,
             keep (c, ts_format (created)), keep (c, ts_format (st.created)));
      CHECK (c, ts_cmp (st.updated, u1) >= 0 && ts_cmp (st.updated, u2) <= 0,
             "(%s) updated %s after Update, expected between %s and %s", name,
             keep (c, ts_format (st.updated)), keep (c, ts_format (u1)),
             keep (c, ts_format (u2)));
      TRY (expect_kind (c, &st, cases[i].kind));
      TRY (expect_parent (c, &st, parent));
      CHECK (c, strcmp (st.name, name) == 0, "(%s) name \"%s\" after Update",
             name, st.name);
      TRY (expect_labels (c, fmt (c, "Update(%s)", name), &st.labels,
                          &expected));

      /* labels.<key> paths touch only those keys: l1 changes, l2 goes (not
       * in the request), l4 is not named so it is not added. */
      snapclient_labels_free (&expected);
      labels_add (&expected, "l1", "updated");
      labels_add (&expected, "l3", "v3");
      labels_add (&expected, GC_ROOT, root_time);
      snapclient_labels_free (&st.labels);
      labels_add (&st.labels, "l1", "updated");
      labels_add (&st.labels, "l4", "v4");
      static const char *const label_paths[] = { "labels.l1", "labels.l2" };
      TRY (do_update (c, &st, label_paths, 2, "labels.l1, labels.l2"));
      TRY (expect_labels (c, fmt (c, "Update(%s, labels.l1, labels.l2)", name),
                          &st.labels, &expected));

      /* "labels" replaces the whole map. */
      snapclient_labels_free (&expected);
      labels_add (&expected, "l4", "v4");
      labels_add (&expected, GC_ROOT, root_time);
      snapclient_labels_free (&st.labels);
      if (snapclient_labels_copy (&st.labels, &expected, NULL) < 0)
        xnonnull (NULL);
      static const char *const labels_path[] = { "labels" };
      TRY (do_update (c, &st, labels_path, 1, "labels"));
      TRY (expect_labels (c, fmt (c, "Update(%s, labels)", name), &st.labels,
                          &expected));

      /* The parent is immutable. */
      free (st.parent);
      st.parent = xstrdup ("doesnotexist");
      static const char *const parent_path[] = { "parent" };
      mp_error err;
      snapclient_info out;
      int rc = snapclient_update (c->sc, &st, parent_path, 1, &out, &err);
      if (rc == 0)
        snapclient_info_free (&out);
      TRY (expect_code (c, rc, &err, MP_GRPC_INVALID_ARGUMENT,
                        fmt (c, "Update(%s, parent)", name)));
    }
  return 0;
}

static int
case_remove (tcase *c)
{
  const snapclient_labels *opt = &c->s->opt;
  const char *ca = N (c, "committed-a"), *c1 = N (c, "committed-1");
  const char *reuse = N (c, "reuse-1");
  TRY (do_prepare (c, ca, "", opt, NULL));
  TRY (do_commit (c, c1, ca, opt));
  TRY (do_prepare (c, reuse, c1, opt, NULL));
  TRY (do_remove (c, reuse));
  TRY (do_view (c, reuse, c1, opt, NULL));
  TRY (do_remove (c, reuse));
  TRY (do_prepare (c, reuse, "", opt, NULL));
  TRY (do_remove (c, c1));
  TRY (do_commit (c, c1, reuse, opt));
  return 0;
}

static int
case_walk (tcase *c)
{
  const char *gc_value = fmt (c, "check-walk-%s", c->s->tag);
  cleanup_labels snapclient_labels opt = { 0 };
  labels_add (&opt, GC_ROOT, gc_value);
  cleanup_labels snapclient_labels l1 = { 0 };
  labels_add (&l1, "l", "1");
  labels_add (&l1, GC_ROOT, gc_value);
  cleanup_labels snapclient_labels l2 = { 0 };
  labels_add (&l2, "l", "2");
  labels_add (&l2, GC_ROOT, gc_value);
  cleanup_labels snapclient_labels l3 = { 0 };
  labels_add (&l3, "l", "3");
  labels_add (&l3, GC_ROOT, gc_value);

  TRY (do_prepare (c, N (c, "a-np"), "", &opt, NULL));
  TRY (do_prepare (c, N (c, "p-tmp"), "", &opt, NULL));
  TRY (do_commit (c, N (c, "p"), N (c, "p-tmp"), &opt));
  TRY (do_prepare (c, N (c, "a"), N (c, "p"), &opt, NULL));
  TRY (do_view (c, N (c, "v"), N (c, "p"), &opt, NULL));
  TRY (do_prepare (c, N (c, "p-wl-tmp"), "", &opt, NULL));
  TRY (do_commit (c, N (c, "p-wl"), N (c, "p-wl-tmp"), &l1));
  TRY (do_prepare (c, N (c, "a-wl"), N (c, "p-wl"), &l2, NULL));
  TRY (do_view (c, N (c, "v-wl"), N (c, "p-wl"), &l3, NULL));
  TRY (do_prepare (c, N (c, "a-np-wl"), "", &l2, NULL));

  const char *gc = fmt (c, "labels.\"%s\"==%s", GC_ROOT, gc_value);
  struct
  {
    const char *matches; /* space-separated, sorted */
    const char *filters[2];
  } tcs[] = {
    { "a a-np a-np-wl a-wl p p-wl v v-wl", { gc } },
    { "a a-np a-np-wl a-wl", { fmt (c, "kind==active,%s", gc) } },
    { "v v-wl", { fmt (c, "kind==view,%s", gc) } },
    { "p p-wl", { fmt (c, "kind==committed,%s", gc) } },
    { "a-np-wl p",
      { fmt (c, "name==%s", N (c, "p")),
        fmt (c, "name==%s", N (c, "a-np-wl")) } },
    { "a-wl", { fmt (c, "name==%s,labels.l", N (c, "a-wl")) } },
    { "a v", { fmt (c, "parent==%s", N (c, "p")) } },
    { "a a-wl v v-wl", { fmt (c, "parent!=\"\",%s", gc) } },
    { "a-np-wl a-wl p-wl v-wl", { "labels.l" } },
    { "a-np-wl a-wl", { "labels.l==2" } },
  };
  for (size_t i = 0; i < sizeof tcs / sizeof tcs[0]; i++)
    {
      size_t nf = tcs[i].filters[1] != NULL ? 2 : 1;
      cleanup_collected collected got = { 0 };
      TRY (walk (c, tcs[i].filters, nf, c->prefix, &got));

      /* Names relative to the case prefix, sorted, space-separated. */
      cleanup_free char **names = xnonnull (calloc (got.n + 1, sizeof *names));
      for (size_t j = 0; j < got.n; j++)
        names[j] = got.v[j].name + strlen (c->prefix);
      for (size_t a = 0; a < got.n; a++) /* tiny: insertion sort */
        for (size_t b = a; b > 0 && strcmp (names[b - 1], names[b]) > 0; b--)
          {
            char *t = names[b];
            names[b] = names[b - 1];
            names[b - 1] = t;
          }
      char *buf = NULL;
      size_t len = 0;
      FILE *out = xnonnull (open_memstream (&buf, &len));
      for (size_t j = 0; j < got.n; j++)
        fprintf (out, "%s%s", j ? " " : "", names[j]);
      fclose (out);
      keep (c, xnonnull (buf));
      CHECK (c, strcmp (buf, tcs[i].matches) == 0,
             "[%zu] List(%s%s%s) returned {%s}, expected {%s}", i,
             tcs[i].filters[0], nf > 1 ? " " : "",
             nf > 1 ? tcs[i].filters[1] : "", buf, tcs[i].matches);
    }
  return 0;
}

static int
case_view_readonly (tcase *c)
{
  const snapclient_labels *opt = &c->s->opt;
  const char *preparing = P (c, "preparing");
  TRY (do_prepare (c, preparing, "", opt, NULL));
  const char *committed = P (c, "committed");
  TRY (do_commit (c, committed, preparing, opt));
  const char *view = P (c, "view");
  cleanup_mounts snapclient_mounts m = { 0 };
  TRY (do_view (c, view, committed, opt, &m));
  const char *mp = P (c, "view-mount");
  TRY (mount_at (c, &m, mp));

  /* Checking for "ro" in the options is not enough: write for real. */
  cleanup_free char *testfile = under (mp, "testfile");
  int fd = open (testfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0777);
  bool wrote = fd >= 0 && write (fd, "testcontent", 11) == 11;
  if (fd >= 0)
    close (fd);
  TRY (unmount_at (c, mp));
  if (wrote || fd >= 0)
    {
      cleanup_free char *desc = snapclient_mounts_format (&m);
      return fail (c, "writing %s in a mounted View succeeded (mounts: %s)",
                   testfile, desc ? desc : "?");
    }
  TRY (do_remove (c, view));
  TRY (do_remove (c, committed));
  return 0;
}

static int
case_close_twice (tcase *c)
{
  /* A remote snapshotter's Close is closing the connection: make some
   * changes on one connection, then open and close two more and check
   * each sees the state the first one left. */
  const char *n = N (c, fmt (c, "closeTwice-%ld", (long)random ()));
  const char *prepare = fmt (c, "%s-prepare", n);
  for (int round = 0; round < 3; round++)
    {
      mp_error err;
      mp_grpc_client *g = mp_grpc_client_new (c->s->address, &err);
      if (g == NULL)
        return fail (c, "connection %d: %s", round + 1, err.msg);
      mp_grpc_client_set_timeout_ms (g, c->s->timeout_ms);
      if (mp_grpc_client_set_namespace (g, c->s->ns, &err) < 0)
        xnonnull (NULL);
      snapclient *sc = xnonnull (snapclient_new (g, c->s->snapshotter, &err));
      snapclient *main_sc = c->sc;
      c->sc = sc;
      int rc = 0;
      if (round == 0)
        rc = (do_prepare (c, prepare, "", &c->s->opt, NULL) < 0
              || do_commit (c, n, prepare, &c->s->opt) < 0
              || do_remove (c, n) < 0)
                 ? -1
                 : 0;
      else
        {
          snapclient_info info;
          int r = snapclient_stat (sc, n, &info, &err);
          if (r == 0)
            snapclient_info_free (&info);
          rc = expect_code (
              c, r, &err, MP_GRPC_NOT_FOUND,
              fmt (c, "Stat(%s) on connection %d after Remove", n, round + 1));
        }
      c->sc = main_sc;
      snapclient_free (sc);
      mp_grpc_client_free (g);
      TRY (rc);
    }
  return 0;
}

static int
case_root_permission (tcase *c)
{
  const char *preparing = prepare_mount (c, "preparing", "");
  if (preparing == NULL)
    return -1;
  struct stat st;
  if (stat (preparing, &st) < 0)
    return fail (c, "stat %s: %s", preparing, strerror (errno));
  TRY (unmount_at (c, preparing));
  CHECK (c, (st.st_mode & 0777) == 0755,
         "root of a new active snapshot has mode 0%o, expected 0755",
         (unsigned)(st.st_mode & 0777));
  return 0;
}

static int
case_128_layers_mount (tcase *c)
{
  enum
  {
    LAYERS = 128
  };
  static const fsop lowest[] = {
    F_FILE ("/bottom", "way at the bottom\n", 0777),
    F_FILE ("/overwriteme", "FIRST!\n", 0777),
    F_DIR ("/ADDHERE", 0755),
    F_DIR ("/ONLYME", 0755),
    F_FILE ("/ONLYME/bottom", "bye!\n", 0777),
  };
  fsop ops[5];
  const char *flat = P (c, "flat");
  if (mkdir_all (flat, 0777) < 0)
    return fail (c, "mkdir %s: %s", flat, strerror (errno));

  const char *parent = "";
  for (int i = 0; i < LAYERS; i++)
    {
      layer l = LAYER (lowest);
      if (i > 0)
        {
          ops[0] = (fsop)F_FILE ("/overwriteme", fmt (c, "%d WAS HERE!\n", i),
                                 0777);
          ops[1]
              = (fsop)F_FILE (fmt (c, "/ADDHERE/file-%d", i), "same\n", 0755);
          ops[2] = (fsop)F_RMALL ("/ONLYME");
          ops[3] = (fsop)F_DIR ("/ONLYME", 0755);
          ops[4] = (fsop)F_FILE (fmt (c, "/ONLYME/file-%d", i), "only me!\n",
                                 0777);
          l = LAYER (ops);
        }
      const char *preparing = P (c, fmt (c, "prepare-layer-%d", i));
      if (mkdir_all (preparing, 0777) < 0)
        return fail (c, "mkdir %s: %s", preparing, strerror (errno));
      cleanup_mounts snapclient_mounts m = { 0 };
      TRY (do_prepare (c, preparing, parent, &c->s->opt, &m));
      if (mount_at (c, &m, preparing) < 0)
        return context (c, "[layer %d]", i);
      if (check_dirs_equal (c, flat, preparing) < 0
          || apply_layer (c, flat, l) < 0 || apply_layer (c, preparing, l) < 0
          || check_dirs_equal (c, flat, preparing) < 0)
        return context (c, "[layer %d]", i);
      TRY (unmount_at (c, preparing));
      parent = P (c, fmt (c, "committed-%d", i));
      TRY (do_commit (c, parent, preparing, &c->s->opt));
    }

  const char *view = P (c, "fullview");
  cleanup_mounts snapclient_mounts m = { 0 };
  TRY (do_view (c, view, parent, &c->s->opt, &m));
  TRY (mount_at (c, &m, view));
  int rc = check_dirs_equal (c, flat, view);
  TRY (unmount_at (c, view));
  return rc;
}

/* ---- the cases: issues.go -------------------------------------------------
 */

static int
case_layer_file_update (tcase *c)
{
  static const fsop l1[] = {
    F_DIR ("/etc", 0700),
    F_FILE ("/etc/hosts", "mydomain 10.0.0.1", 0644),
    F_FILE ("/etc/profile", "PATH=/usr/bin", 0644),
  };
  static const fsop l2[] = {
    F_FILE ("/etc/hosts", "mydomain 10.0.0.2", 0644),
    F_FILE ("/etc/profile", "PATH=/usr/bin", 0666),
    F_DIR ("/root", 0700),
    F_FILE ("/root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0644),
  };
  const layer layers[] = { LAYER (l1), LAYER (l2) };
  /* Five runs, each at the start of a new second, to catch changes that
   * only show when a file keeps its size and mtime second. */
  for (int i = 0; i < 5; i++)
    {
      if (i > 0)
        {
          struct timespec now = now_realtime ();
          struct timespec rest = { 0, 1000000000L - now.tv_nsec };
          nanosleep (&rest, NULL);
        }
      if (check_snapshots (c, layers, 2) < 0)
        return context (c, "run %d", i + 1);
    }
  return 0;
}

static int
case_remove_directory_in_lower_layer (tcase *c)
{
  static const fsop l1[] = {
    F_DIR ("/lib", 0700),
    F_FILE ("/lib/hidden", "", 0644),
  };
  static const fsop l2[] = {
    F_RMALL ("/lib"),
    F_DIR ("/lib", 0700),
    F_FILE ("/lib/not-hidden", "", 0644),
  };
  static const fsop l3[] = {
    F_FILE ("/lib/newfile", "", 0644),
  };
  const layer layers[] = { LAYER (l1), LAYER (l2), LAYER (l3) };
  return check_snapshots (c, layers, 3);
}

static int
case_chown (tcase *c)
{
  static const fsop l1[] = {
    F_DIR ("/opt", 0700),
    F_DIR ("/opt/a", 0700),
    F_DIR ("/opt/a/b", 0700),
    F_FILE ("/opt/a/b/file.txt", "hello", 0644),
  };
  static const fsop l2[] = {
    F_CHOWN ("/opt", 1, 1),
    F_CHOWN ("/opt/a", 1, 1),
    F_CHOWN ("/opt/a/b", 1, 1),
    F_CHOWN ("/opt/a/b/file.txt", 1, 1),
  };
  const layer layers[] = { LAYER (l1), LAYER (l2) };
  return check_snapshots (c, layers, 2);
}

static int
case_directory_permission_on_commit (tcase *c)
{
  static const fsop l1[] = {
    F_DIR ("/dir1", 0700),
    F_DIR ("/dir2", 0700),
    F_DIR ("/dir3", 0700),
    F_DIR ("/dir4", 0700),
    F_FILE ("/dir4/f1", "...", 0644),
    F_DIR ("/dir5", 0700),
    F_FILE ("/dir5/f1", "...", 0644),
    F_CHOWN ("/dir1", 1, 1),
    F_CHOWN ("/dir2", 1, 1),
    F_CHOWN ("/dir3", 1, 1),
    F_CHOWN ("/dir5", 1, 1),
    F_CHOWN ("/dir5/f1", 1, 1),
  };
  static const fsop l2[] = {
    F_CHOWN ("/dir2", 0, 0),
    F_RMALL ("/dir3"),
    F_CHOWN ("/dir4", 1, 1),
    F_CHOWN ("/dir4/f1", 1, 1),
  };
  static const fsop l3[] = {
    F_DIR ("/dir3", 0700), F_CHOWN ("/dir3", 1, 1), F_RMALL ("/dir5"),
    F_DIR ("/dir5", 0700), F_CHOWN ("/dir5", 1, 1),
  };
  const layer layers[] = { LAYER (l1), LAYER (l2), LAYER (l3) };
  return check_snapshots (c, layers, 3);
}

static int
case_remove_intermediate_snapshot (tcase *c)
{
  const snapclient_labels *opt = &c->s->opt;
  const char *base = prepare_mount (c, "base", "");
  if (base == NULL)
    return -1;
  TRY (unmount_at (c, base));
  const char *committed_base = P (c, "committed-base");
  TRY (do_commit (c, committed_base, base, opt));

  const char *intermediate = P (c, "intermediate");
  TRY (do_prepare (c, intermediate, committed_base, opt, NULL));
  const char *committed_inter = P (c, "committed-inter");
  TRY (do_commit (c, committed_inter, intermediate, opt));

  const char *top = P (c, "toplayer");
  TRY (do_prepare (c, top, committed_inter, opt, NULL));

  mp_error err;
  int rc = snapclient_remove (c->sc, committed_inter, &err);
  TRY (expect_code (c, rc, &err, MP_GRPC_FAILED_PRECONDITION,
                    fmt (c, "Remove(%s) with a child", committed_inter)));
  TRY (do_remove (c, top));
  TRY (do_remove (c, committed_inter));
  TRY (do_remove (c, committed_base));
  return 0;
}

static int
case_deleted_files_in_child_snapshot (tcase *c)
{
  static const fsop l1[] = {
    F_FILE ("/foo", "foo\n", 0777),
    F_FILE ("/foobar", "foobar\n", 0777),
  };
  static const fsop l2[] = {
    F_RMALL ("/foobar"),
  };
  const layer layers[] = { LAYER (l1), LAYER (l2), NO_CHANGES };
  return check_snapshots (c, layers, 3);
}

static int
case_move_file_from_lower_layer (tcase *c)
{
  static const fsop l1[] = {
    F_DIR ("/dir1", 0700),
    F_FILE ("/dir1/f1", "Hello", 0644),
    F_DIR ("dir2", 0700),
    F_FILE ("dir2/f2", "...", 0644),
  };
  static const fsop l2[] = {
    F_DIR ("/dir3", 0700), F_FILE ("/dir3/f1", "Hello", 0644),
    F_RMALL ("/dir1"),     F_LINK ("dir2/f2", "dir3/f2"),
    F_RMALL ("dir2/f2"),
  };
  const layer layers[] = { LAYER (l1), LAYER (l2) };
  return check_snapshots (c, layers, 2);
}

static int
case_rename (tcase *c)
{
  /* containerd 2.x leaves out renaming a lower directory (/dir1 -> /dir2)
   * for overlay snapshotters: without redirect_dir overlayfs refuses it
   * (EXDEV) and containerd's own overlayfs is not expected to support it.
   * 1.6 skips the whole case on overlay for the same reason; the file
   * renames below are what both versions' overlay snapshotters must do. */
  static const fsop l1[] = {
    F_DIR ("/dir1", 0700),
    F_DIR ("/somefiles", 0700),
    F_FILE ("/somefiles/f1", "was here first!", 0644),
    F_FILE ("/somefiles/f2", "nothing interesting", 0644),
  };
  static const fsop l2[] = {
    F_FILE ("/somefiles/f1-overwrite", "new content 1", 0644),
    F_RENAME ("/somefiles/f1-overwrite", "/somefiles/f1"),
    F_RENAME ("/somefiles/f2", "/somefiles/f3"),
  };
  const layer layers[] = { LAYER (l1), LAYER (l2) };
  return check_snapshots (c, layers, 2);
}

typedef struct stat_in_walk
{
  tcase *c;
  const char *prefix;
  size_t seen;
} stat_in_walk;

static int
stat_during_walk (const snapclient_info *si, void *opaque, mp_error *err)
{
  stat_in_walk *w = opaque;
  tcase *c = w->c;
  if (strncmp (si->name, w->prefix, strlen (w->prefix)) != 0)
    return 0;
  w->seen++;
  /* The List stream is still open while this Stat runs. */
  cleanup_info snapclient_info si2 = { 0 };
  if (snapclient_stat (c->sc, si->name, &si2, err) != 0)
    return -1;
  const char *d = info_diff (c, si, &si2);
  if (d != NULL)
    return mp_error_set (err, MP_ERR_INTERNAL, "%s: List vs Stat: %s", si->name,
                         d);
  return 0;
}

static int
case_stat_in_walk (tcase *c)
{
  const snapclient_labels *opt = &c->s->opt;
  const char *prefix = N (c, "stats-in-walk-");
  const char *c1 = fmt (c, "%sc1", prefix), *c2 = fmt (c, "%sc2", prefix);
  TRY (do_prepare (c, fmt (c, "%s-a", c1), "", opt, NULL));
  TRY (do_commit (c, c1, fmt (c, "%s-a", c1), opt));
  TRY (do_prepare (c, fmt (c, "%s-a", c2), c1, opt, NULL));
  TRY (do_commit (c, c2, fmt (c, "%s-a", c2), opt));
  TRY (do_prepare (c, fmt (c, "%sa1", prefix), c2, opt, NULL));
  TRY (do_view (c, fmt (c, "%sv1", prefix), c2, opt, NULL));

  stat_in_walk w = { .c = c, .prefix = prefix };
  mp_error err;
  if (snapclient_list (c->sc, NULL, 0, stat_during_walk, &w, &err) != 0)
    return fail (c, "List with a Stat per snapshot: %s", err.msg);
  CHECK (c, w.seen == 4, "List returned %zu of the 4 snapshots made", w.seen);
  return 0;
}

/* ---- running ------------------------------------------------------------- */

typedef struct case_def
{
  const char *name;
  int (*fn) (tcase *c);
} case_def;

/* In the order containerd's SnapshotterSuite runs them. */
static const case_def all_cases[] = {
  { "Basic", case_basic },
  { "StatActive", case_stat_active },
  { "StatCommitted", case_stat_committed },
  { "Transitivity", case_transitivity },
  { "PrepareViewFailing", case_prepare_view_failing },
  { "Update", case_update },
  { "Remove", case_remove },
  { "Walk", case_walk },
  { "LayerFileUpdate", case_layer_file_update },
  { "RemoveDirectoryInLowerLayer", case_remove_directory_in_lower_layer },
  { "Chown", case_chown },
  { "DirectoryPermissionOnCommit", case_directory_permission_on_commit },
  { "RemoveIntermediateSnapshot", case_remove_intermediate_snapshot },
  { "DeletedFilesInChildSnapshot", case_deleted_files_in_child_snapshot },
  { "MoveFileFromLowerLayer", case_move_file_from_lower_layer },
  { "Rename", case_rename },
  { "ViewReadonly", case_view_readonly },
  { "StatInWalk", case_stat_in_walk },
  { "CloseTwice", case_close_twice },
  { "RootPermission", case_root_permission },
  { "128LayersMount", case_128_layers_mount },
};

/* Whether any mount is at or below DIR (then its tree must not be
 * deleted: the files would be the snapshotter's). */
static bool
mounts_below (const char *dir)
{
  cleanup_fclose FILE *f = fopen ("/proc/self/mountinfo", "re");
  if (f == NULL)
    return true;
  size_t dl = strlen (dir);
  char line[8192];
  while (fgets (line, sizeof line, f) != NULL)
    {
      char mp[4096];
      if (sscanf (line, "%*s %*s %*s %*s %4095s", mp) != 1)
        continue;
      if (strncmp (mp, dir, dl) == 0 && (mp[dl] == '\0' || mp[dl] == '/'))
        return true;
    }
  return false;
}

typedef struct owned
{
  tcase *c;
  char **names;
  char **parents;
  size_t n;
} owned;

static int
collect_owned (const snapclient_info *si, void *opaque, mp_error *err)
{
  owned *o = opaque;
  tcase *c = o->c;
  size_t wl = strlen (c->work), pl = strlen (c->prefix);
  bool mine = (strncmp (si->name, c->work, wl) == 0 && si->name[wl] == '/')
              || strncmp (si->name, c->prefix, pl) == 0;
  if (!mine)
    return 0;
  o->names = xnonnull (realloc (o->names, (o->n + 1) * sizeof *o->names));
  o->parents = xnonnull (realloc (o->parents, (o->n + 1) * sizeof *o->parents));
  o->names[o->n] = xstrdup (si->name);
  o->parents[o->n] = xstrdup (si->parent);
  o->n++;
  return 0;
}

/* Remove the snapshots in O, children first: each round removes those no
 * remaining one names as its parent.  Returns how many are left. */
static size_t
remove_owned (tcase *c, owned *o, mp_error *err)
{
  size_t left = o->n;
  for (bool progress = true; left > 0 && progress;)
    {
      progress = false;
      bool *leaf = xnonnull (calloc (o->n, sizeof *leaf));
      for (size_t i = 0; i < o->n; i++)
        {
          leaf[i] = o->names[i] != NULL;
          for (size_t j = 0; leaf[i] && j < o->n; j++)
            if (o->names[j] != NULL && strcmp (o->parents[j], o->names[i]) == 0)
              leaf[i] = false;
        }
      for (size_t i = 0; i < o->n; i++)
        if (leaf[i])
          {
            int rc = snapclient_remove (c->sc, o->names[i], err);
            if (rc == 0 || rc == MP_GRPC_NOT_FOUND)
              {
                free (o->names[i]);
                o->names[i] = NULL;
                left--;
                progress = true;
              }
          }
      free (leaf);
    }
  return left;
}

/* Undo what a case left: its mounts, its snapshots, its directory. */
static int
cleanup_case (tcase *c)
{
  char why[2048] = "";
  while (c->n_mounted > 0)
    {
      const char *dir = c->mounted[c->n_mounted - 1];
      mp_error err;
      if (mountutil_unmount_all (dir, true, &err) < 0 && why[0] == '\0')
        snprintf (why, sizeof why, "%s", err.msg);
      free (c->mounted[--c->n_mounted]);
    }

  owned o = { .c = c };
  mp_error err;
  if (snapclient_list (c->sc, NULL, 0, collect_owned, &o, &err) != 0
      && why[0] == '\0')
    snprintf (why, sizeof why, "List: %s", err.msg);
  size_t left = remove_owned (c, &o, &err);
  if (left > 0 && why[0] == '\0')
    snprintf (why, sizeof why, "%zu snapshot(s) could not be removed: %s", left,
              err.msg);
  for (size_t i = 0; i < o.n; i++)
    {
      free (o.names[i]);
      free (o.parents[i]);
    }
  free (o.names);
  free (o.parents);

  if (mounts_below (c->work))
    {
      if (why[0] == '\0')
        snprintf (why, sizeof why, "something is still mounted under %s",
                  c->work);
    }
  else if (remove_all (c->work) < 0 && why[0] == '\0')
    snprintf (why, sizeof why, "rm -rf %s: %s", c->work, strerror (errno));

  if (why[0] != '\0')
    return fail (c, "cleanup: %s", why);
  return 0;
}

static bool
run_case (suite *s, const case_def *def)
{
  tcase c = { .s = s, .sc = s->sc, .name = def->name };
  c.work = xasprintf ("%s/%s", s->root, def->name);
  c.prefix = xasprintf ("%s-%s-", s->tag, def->name);
  bool ok;
  if (mkdir_all (c.work, 0777) < 0)
    ok = fail (&c, "mkdir %s: %s", c.work, strerror (errno)) == 0;
  else
    {
      ok = def->fn (&c) == 0;
      if (ok && c.msg[0] != '\0')
        ok = false; /* a helper failed without the case noticing */
    }
  if (cleanup_case (&c) < 0)
    ok = false;

  if (ok)
    printf ("ok %s\n", def->name);
  else
    printf ("FAIL %s: %s\n", def->name, c.msg);
  fflush (stdout);

  for (size_t i = 0; i < c.n_pool; i++)
    free (c.pool[i]);
  free (c.pool);
  free (c.mounted);
  free (c.work);
  free (c.prefix);
  return ok;
}

static void
usage (FILE *out)
{
  fprintf (out,
           "usage: snapshots_conformance --address SOCK --snapshotter NAME\n"
           "         [--namespace NS] [--case SUBSTR] [--workdir DIR]\n"
           "         [--timeout-ms MS] [--list]\n"
           "Runs containerd's snapshotter test suite through the Snapshots\n"
           "gRPC API at SOCK (containerd's socket, or a snapshotter's own).\n");
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "address", required_argument, NULL, 'a' },
    { "snapshotter", required_argument, NULL, 's' },
    { "namespace", required_argument, NULL, 'n' },
    { "case", required_argument, NULL, 'c' },
    { "workdir", required_argument, NULL, 'w' },
    { "timeout-ms", required_argument, NULL, 't' },
    { "list", no_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  suite s = { .ns = "testsuite", .timeout_ms = 120000 };
  const char *only = NULL, *workdir = "/tmp";
  bool list = false;
  int o;
  while ((o = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (o)
      {
      case 'a':
        s.address = optarg;
        break;
      case 's':
        s.snapshotter = optarg;
        break;
      case 'n':
        s.ns = optarg;
        break;
      case 'c':
        only = optarg;
        break;
      case 'w':
        workdir = optarg;
        break;
      case 't':
        s.timeout_ms = strtoll (optarg, NULL, 10);
        break;
      case 'l':
        list = true;
        break;
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  if (list)
    {
      for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++)
        printf ("%s\n", all_cases[i].name);
      return 0;
    }
  if (s.address == NULL)
    {
      /* integration/run.sh runs every integration program bare; the
       * conformance run needs a containerd, which test_conformance.sh
       * starts before calling this with --address. */
      fprintf (stderr, "snapshots_conformance: no --address; "
                       "integration/test_conformance.sh drives it\n");
      printf ("0 passed, 0 failed\n");
      return 0;
    }
  if (s.snapshotter == NULL)
    s.snapshotter = "";
  if (geteuid () != 0)
    {
      fprintf (stderr, "snapshots_conformance: must run as root (mounts, "
                       "chown)\n");
      printf ("conformance: 0 passed, 1 failed\n");
      return 1;
    }

  /* As containerd's suite does, so modes land exactly as requested. */
  umask (0);
  srandom ((unsigned)(now_realtime ().tv_nsec ^ getpid ()));

  mp_error err;
  s.root = xasprintf ("%s/snapshots-conformance-XXXXXX", workdir);
  if (mkdir_all (workdir, 0755) < 0 || mkdtemp (s.root) == NULL)
    {
      fprintf (stderr, "snapshots_conformance: mkdtemp %s: %s\n", s.root,
               strerror (errno));
      printf ("conformance: 0 passed, 1 failed\n");
      return 1;
    }
  s.tag = xasprintf ("ct%s", strrchr (s.root, '-') + 1);
  cleanup_free char *gc_root = rfc3339_now ();
  labels_add (&s.opt, GC_ROOT, gc_root);

  s.grpc = mp_grpc_client_new (s.address, &err);
  if (s.grpc == NULL || mp_grpc_client_set_namespace (s.grpc, s.ns, &err) < 0
      || mp_grpc_client_wait_ready (s.grpc, 10000, &err) < 0)
    {
      fprintf (stderr, "snapshots_conformance: %s\n", err.msg);
      printf ("conformance: 0 passed, 1 failed\n");
      mp_grpc_client_free (s.grpc);
      rmdir (s.root);
      return 1;
    }
  mp_grpc_client_set_timeout_ms (s.grpc, s.timeout_ms);
  s.sc = xnonnull (snapclient_new (s.grpc, s.snapshotter, &err));

  int passed = 0, failed = 0;
  for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++)
    {
      if (only != NULL && strstr (all_cases[i].name, only) == NULL)
        continue;
      if (run_case (&s, &all_cases[i]))
        passed++;
      else
        failed++;
    }
  if (passed + failed == 0)
    {
      fprintf (stderr, "snapshots_conformance: no case matches \"%s\"\n", only);
      failed = 1;
    }

  snapclient_free (s.sc);
  mp_grpc_client_free (s.grpc);
  if (rmdir (s.root) < 0)
    fprintf (stderr, "snapshots_conformance: left %s behind: %s\n", s.root,
             strerror (errno));
  snapclient_labels_free (&s.opt);
  free (s.root);
  free (s.tag);
  printf ("conformance: %d passed, %d failed\n", passed, failed);
  return failed > 0 ? 1 : 0;
}
