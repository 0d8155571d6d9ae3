/* Crash-safety driver for the snapshotter.
 *
 *   crash_stress run --address SOCK --journal FILE [--threads N]
 *     Streams Prepare / write / Commit / Remove from several threads until
 *     the daemon goes away (the test kills it with SIGKILL).  Every call is
 *     journalled before it is made ("intent") and after it returned OK
 *     ("done"), so the verifier knows what must exist, what must not, and
 *     what was in flight when the daemon died.
 *
 *   crash_stress verify --address SOCK --journal FILE --root DIR
 *     After a restart: every snapshot committed and not removed is there,
 *     committed, with the content written into it; every removed one is
 *     gone; whatever List shows is whole (its directories exist and its
 *     mounts are computable); in-flight operations either happened
 *     completely or not at all.  Then Cleanup, after which snapshots/ holds
 *     exactly one directory per snapshot and no temp directories.
 *
 * Both print "crash: N passed, N failed" last. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plugin/grpc_client.h"
#include "integration/lib/snapclient.h"

static const char *address, *journal_path, *root;
static int threads = 4;
static int journal_fd = -1;
static pthread_mutex_t journal_lock = PTHREAD_MUTEX_INITIALIZER;
static int passed, failed;

static void check (bool ok, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
check (bool ok, const char *fmt, ...)
{
  va_list ap;

  if (ok)
    {
      passed++;
      return;
    }
  failed++;
  fprintf (stdout, "FAIL ");
  va_start (ap, fmt);
  vfprintf (stdout, fmt, ap);
  va_end (ap);
  fputc ('\n', stdout);
}

static void journal (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));

static void
journal (const char *fmt, ...)
{
  char line[512];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (line, sizeof line - 1, fmt, ap);
  va_end (ap);
  line[n++] = '\n';
  pthread_mutex_lock (&journal_lock);
  if (write (journal_fd, line, n) != n)
    abort ();
  pthread_mutex_unlock (&journal_lock);
}

/* The directory a freshly prepared snapshot's writes go to: the bind
 * source, or the overlay's upperdir. */
static const char *
writable_dir (const snapclient_mounts *m)
{
  if (m->n != 1)
    return NULL;
  if (strcmp (m->v[0].type, "bind") == 0)
    return m->v[0].source;
  for (size_t i = 0; i < m->v[0].n_options; i++)
    if (strncmp (m->v[0].options[i], "upperdir=", 9) == 0)
      return m->v[0].options[i] + 9;
  return NULL;
}

static int
write_marker (const char *dir, const char *content)
{
  char path[4096];
  int fd;
  ssize_t n;

  snprintf (path, sizeof path, "%s/marker", dir);
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  n = write (fd, content, strlen (content));
  close (fd);
  return n == (ssize_t)strlen (content) ? 0 : -1;
}

/* --- run ------------------------------------------------------------- */

struct worker
{
  int index;
  snapclient *sc;
};

static void *
run_worker (void *arg)
{
  struct worker *w = arg;
  char committed[64][128];
  int ncommitted = 0;
  unsigned seed = (unsigned)time (NULL) ^ (unsigned)(w->index * 7919);
  long tag = (long)time (NULL);

  for (long i = 0;; i++)
    {
      char key[128], name[128];
      const char *parent = "";
      snapclient_mounts m = { 0 };
      mp_error err = { 0 };
      const char *dir;

      snprintf (key, sizeof key, "active-%ld-%d-%ld", tag, w->index, i);
      snprintf (name, sizeof name, "layer-%ld-%d-%ld", tag, w->index, i);
      if (ncommitted > 0 && rand_r (&seed) % 3 != 0)
        parent = committed[ncommitted - 1];

      journal ("intent prepare %s %s", key, parent[0] ? parent : "-");
      if (snapclient_prepare (w->sc, key, parent, NULL, &m, &err) != 0)
        break;
      journal ("done prepare %s", key);
      dir = writable_dir (&m);
      if (dir == NULL || write_marker (dir, name) < 0)
        {
          fprintf (stderr, "cannot write into %s\n", key);
          snapclient_mounts_free (&m);
          break;
        }
      snapclient_mounts_free (&m);

      journal ("intent commit %s %s %s", name, key, parent[0] ? parent : "-");
      if (snapclient_commit (w->sc, name, key, NULL, NULL, &err) != 0)
        break;
      journal ("done commit %s", name);
      if (ncommitted < 64)
        snprintf (committed[ncommitted++], sizeof committed[0], "%s", name);

      /* Remove the newest layer now and then: it is a leaf, since this
       * thread is its only user. */
      if (ncommitted > 1 && rand_r (&seed) % 4 == 0)
        {
          const char *victim = committed[ncommitted - 1];

          journal ("intent remove %s", victim);
          if (snapclient_remove (w->sc, victim, &err) != 0)
            break;
          journal ("done remove %s", victim);
          ncommitted--;
        }
      if (ncommitted == 64)
        ncommitted = 0; /* start a new chain; the old ones stay */
    }
  return NULL;
}

static int
cmd_run (void)
{
  pthread_t tids[64];
  struct worker ws[64];
  mp_grpc_client *g;
  mp_error err = { 0 };

  journal_fd
      = open (journal_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (journal_fd < 0)
    {
      perror (journal_path);
      return 2;
    }
  g = mp_grpc_client_new (address, &err);
  if (g == NULL || mp_grpc_client_wait_ready (g, 10000, &err) != 0)
    {
      fprintf (stderr, "connect %s: %s\n", address, err.msg);
      return 2;
    }
  mp_grpc_client_set_timeout_ms (g, 30000);
  if (threads > 64)
    threads = 64;
  for (int i = 0; i < threads; i++)
    {
      ws[i].index = i;
      ws[i].sc = snapclient_new (g, "", &err);
      pthread_create (&tids[i], NULL, run_worker, &ws[i]);
    }
  for (int i = 0; i < threads; i++)
    {
      pthread_join (tids[i], NULL);
      snapclient_free (ws[i].sc);
    }
  mp_grpc_client_free (g);
  close (journal_fd);
  return 0;
}

/* --- verify ---------------------------------------------------------- */

enum state
{
  ST_NONE,
  ST_PREPARING,  /* prepare in flight */
  ST_ACTIVE,     /* prepared */
  ST_COMMITTING, /* commit of this active in flight */
  ST_COMMITTED,
  ST_REMOVING, /* remove in flight */
  ST_REMOVED,
};

struct entry
{
  char *name;
  enum state st;
  char *key; /* for committed layers: the active key it came from */
};

static struct entry *entries;
static size_t nentries;

static struct entry *
entry_get (const char *name, bool create)
{
  for (size_t i = 0; i < nentries; i++)
    if (strcmp (entries[i].name, name) == 0)
      return &entries[i];
  if (!create)
    return NULL;
  entries = realloc (entries, (nentries + 1) * sizeof *entries);
  if (entries == NULL)
    abort ();
  entries[nentries] = (struct entry){ strdup (name), ST_NONE, NULL };
  return &entries[nentries++];
}

static int
load_journal (void)
{
  FILE *f = fopen (journal_path, "r");
  char line[512];

  if (f == NULL)
    {
      perror (journal_path);
      return -1;
    }
  while (fgets (line, sizeof line, f))
    {
      char a[16], op[16], x[200], y[200], z[200];
      int n = sscanf (line, "%15s %15s %199s %199s %199s", a, op, x, y, z);
      bool intent = strcmp (a, "intent") == 0;

      if (n < 3)
        continue;
      if (strcmp (op, "prepare") == 0)
        entry_get (x, true)->st = intent ? ST_PREPARING : ST_ACTIVE;
      else if (strcmp (op, "commit") == 0)
        {
          struct entry *e = entry_get (x, true);

          if (intent && n >= 4)
            {
              struct entry *k = entry_get (y, true);
              k->st = ST_COMMITTING;
              e->key = strdup (y);
              e->st = ST_COMMITTING;
            }
          else if (!intent)
            {
              e->st = ST_COMMITTED;
              if (e->key)
                entry_get (e->key, true)->st = ST_NONE; /* active gone */
            }
        }
      else if (strcmp (op, "remove") == 0)
        entry_get (x, true)->st = intent ? ST_REMOVING : ST_REMOVED;
    }
  fclose (f);
  return 0;
}

static bool
marker_is (const char *dir, const char *want)
{
  char path[4096], buf[256];
  ssize_t n;
  int fd;

  snprintf (path, sizeof path, "%s/marker", dir);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n < 0)
    return false;
  buf[n] = '\0';
  return strcmp (buf, want) == 0;
}

/* A committed layer's own directory, found through a View on it: the bind
 * source when it is the only layer shown, else the first (nearest)
 * lowerdir. */
static bool
committed_content_ok (snapclient *sc, const char *name)
{
  char vkey[300];
  snapclient_mounts m = { 0 };
  mp_error err = { 0 };
  bool ok;

  snprintf (vkey, sizeof vkey, "verify-view-%s", name);
  if (snapclient_view (sc, vkey, name, NULL, &m, &err) != 0)
    return false;
  ok = false;
  if (m.n == 1 && strcmp (m.v[0].type, "bind") == 0)
    ok = marker_is (m.v[0].source, name);
  else if (m.n == 1)
    for (size_t i = 0; i < m.v[0].n_options; i++)
      if (strncmp (m.v[0].options[i], "lowerdir=", 9) == 0)
        {
          char *own = strndup (m.v[0].options[i] + 9,
                               strcspn (m.v[0].options[i] + 9, ":"));
          ok = own != NULL && marker_is (own, name);
          free (own);
        }
  snapclient_mounts_free (&m);
  snapclient_remove (sc, vkey, &err);
  return ok;
}

static bool
path_exists (const char *p)
{
  struct stat st;
  return stat (p, &st) == 0 && S_ISDIR (st.st_mode);
}

/* Every directory a snapshot's mounts name exists. */
static bool
mounts_whole (const snapclient_mounts *m)
{
  if (m->n != 1)
    return false;
  if (strcmp (m->v[0].type, "bind") == 0)
    return path_exists (m->v[0].source);
  for (size_t i = 0; i < m->v[0].n_options; i++)
    {
      const char *o = m->v[0].options[i];
      const char *eq = strchr (o, '=');

      if (eq == NULL || strncmp (o, "index", 5) == 0)
        continue;
      if (strncmp (o, "lowerdir=", 9) == 0)
        {
          char *copy = strdup (eq + 1), *save = NULL;
          bool ok = true;

          for (char *p = strtok_r (copy, ":", &save); p;
               p = strtok_r (NULL, ":", &save))
            ok = ok && path_exists (p);
          free (copy);
          if (!ok)
            return false;
        }
      else if (!path_exists (eq + 1))
        return false;
    }
  return true;
}

struct listed
{
  snapclient *sc;
  size_t count;
};

static int
check_listed (const snapclient_info *info, void *opaque, mp_error *err)
{
  struct listed *l = opaque;
  snapclient_mounts m = { 0 };

  l->count++;
  if (info->kind == SNAPCLIENT_KIND_COMMITTED)
    {
      /* committed layers are checked through a view */
      return 0;
    }
  {
    mp_error e = { 0 };
    int rc = snapclient_get_mounts (l->sc, info->name, &m, &e);

    check (rc == 0 && mounts_whole (&m), "listed %s snapshot %s is whole",
           snapclient_kind_name (info->kind), info->name);
    snapclient_mounts_free (&m);
  }
  return 0;
}

static int
cmd_verify (void)
{
  mp_grpc_client *g;
  snapclient *sc;
  mp_error err = { 0 };
  struct listed l = { 0 };
  size_t must_exist = 0, must_not = 0, in_flight = 0;

  if (load_journal () < 0)
    return 2;
  g = mp_grpc_client_new (address, &err);
  if (g == NULL || mp_grpc_client_wait_ready (g, 10000, &err) != 0)
    {
      fprintf (stderr, "connect %s: %s\n", address, err.msg);
      return 2;
    }
  sc = snapclient_new (g, "", &err);

  for (size_t i = 0; i < nentries; i++)
    {
      struct entry *e = &entries[i];
      snapclient_info info = { 0 };
      mp_error se = { 0 };
      int rc = snapclient_stat (sc, e->name, &info, &se);
      bool exists = rc == 0;

      switch (e->st)
        {
        case ST_COMMITTED:
          must_exist++;
          check (exists && info.kind == SNAPCLIENT_KIND_COMMITTED,
                 "committed %s survived the crash", e->name);
          if (exists)
            check (committed_content_ok (sc, e->name),
                   "committed %s has its content", e->name);
          break;
        case ST_REMOVED:
        case ST_NONE:
          must_not++;
          check (!exists && se.code == MP_ERR_NOT_FOUND, "%s %s is gone",
                 e->st == ST_REMOVED ? "removed" : "consumed", e->name);
          break;
        case ST_ACTIVE:
          must_exist++;
          check (exists && info.kind == SNAPCLIENT_KIND_ACTIVE,
                 "active %s survived the crash", e->name);
          break;
        case ST_COMMITTING:
          in_flight++;
          /* the committed name exists iff its active key does not */
          if (e->key != NULL)
            {
              snapclient_info ki = { 0 };
              mp_error ke = { 0 };
              bool key_exists = snapclient_stat (sc, e->key, &ki, &ke) == 0;

              check (exists != key_exists,
                     "commit of %s in flight: exactly one of it and %s "
                     "exists",
                     e->name, e->key);
              if (exists)
                check (committed_content_ok (sc, e->name),
                       "in-flight commit %s has its content", e->name);
              snapclient_info_free (&ki);
            }
          break;
        case ST_PREPARING:
        case ST_REMOVING:
          in_flight++; /* either outcome is fine; List checks wholeness */
          break;
        }
      snapclient_info_free (&info);
    }

  l.sc = sc;
  if (snapclient_list (sc, NULL, 0, check_listed, &l, &err) != 0)
    check (false, "list after restart: %s", err.msg);

  /* Cleanup, then exactly one directory per snapshot remains. */
  check (snapclient_cleanup (sc, &err) == 0, "cleanup after restart: %s",
         err.msg);
  {
    char dir[4096];
    DIR *d;
    struct dirent *de;
    size_t dirs = 0, temps = 0;

    snprintf (dir, sizeof dir, "%s/snapshots", root);
    d = opendir (dir);
    check (d != NULL, "open %s", dir);
    while (d && (de = readdir (d)))
      {
        if (de->d_name[0] == '.')
          continue;
        if (strspn (de->d_name, "0123456789") == strlen (de->d_name))
          dirs++;
        else
          temps++;
      }
    if (d)
      closedir (d);
    check (temps == 0, "no temporary directories after cleanup (%zu)", temps);
    check (dirs == l.count,
           "one directory per snapshot after cleanup (%zu dirs, %zu "
           "snapshots)",
           dirs, l.count);
  }
  printf ("journal: %zu must exist, %zu must be gone, %zu in flight; %zu "
          "listed\n",
          must_exist, must_not, in_flight, l.count);
  snapclient_free (sc);
  mp_grpc_client_free (g);
  printf ("crash: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

int
main (int argc, char **argv)
{
  static const struct option opts[]
      = { { "address", required_argument, NULL, 'a' },
          { "journal", required_argument, NULL, 'j' },
          { "root", required_argument, NULL, 'r' },
          { "threads", required_argument, NULL, 't' },
          { NULL, 0, NULL, 0 } };
  const char *mode;
  int c;

  if (argc < 2)
    {
      fprintf (stderr, "usage: crash_stress run|verify --address SOCK "
                       "--journal FILE [--root DIR] [--threads N]\n");
      return 2;
    }
  mode = argv[1];
  optind = 2;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        address = optarg;
        break;
      case 'j':
        journal_path = optarg;
        break;
      case 'r':
        root = optarg;
        break;
      case 't':
        threads = atoi (optarg);
        break;
      default:
        return 2;
      }
  if (address == NULL || journal_path == NULL)
    {
      fprintf (stderr, "crash_stress: --address and --journal are required\n");
      return 2;
    }
  if (strcmp (mode, "run") == 0)
    return cmd_run ();
  if (strcmp (mode, "verify") == 0 && root != NULL)
    return cmd_verify ();
  fprintf (stderr, "crash_stress: unknown mode %s (verify needs --root)\n",
           mode);
  return 2;
}
