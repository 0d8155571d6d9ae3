/* snapbench: per-operation latency of snapshotters through containerd's
 * Snapshots API.
 *
 *   snapbench [--address SOCK] --snapshotter NAME[=SOCKET] [...]
 *             [--namespace NS] [--iterations N] [--warmup N]
 *             [--baseline NAME] [--timeout-ms MS] [--json]
 *
 * --snapshotter NAME goes through containerd at --address and picks the
 * backend by name; NAME=SOCKET talks straight to a snapshotter's own socket
 * (no containerd in between; NAME is then only a label), which separates
 * the backend's own share of a call from containerd's.
 *
 * Each snapshotter first gets a committed base layer.  One iteration is the
 * life of a container layer on top of it, as containerd drives it:
 *
 *   Prepare(a, parent=base) -> Mounts(a) -> Stat(a) -> Commit(c, a)
 *   -> View(v, parent=c) -> Remove(v) -> Remove(c)
 *
 * each call timed on its own with CLOCK_MONOTONIC around the blocking gRPC
 * call (so the figure is what a client sees: containerd's metadata layer,
 * its call to the backend, and the backend).  With several snapshotters the
 * iterations are interleaved round-robin, the first snapshotter of each
 * round rotating, so machine noise (other processes, page-cache write-back,
 * containerd's garbage collector) spreads over all of them alike.  Warm-up
 * iterations run the same way and are not recorded.
 *
 * Every snapshot carries containerd.io/gc.root so containerd's garbage
 * collector, which runs after enough removals, leaves the benchmark's
 * snapshots alone (as a lease would for a real client).
 *
 * Prints median, p90, mean and min per operation and snapshotter in µs,
 * and the ratio of medians against the baseline (--baseline, default
 * "overlayfs" when measured, else the first snapshotter); --json prints
 * the same as one JSON object instead.  Exit status 1 on any failed call. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plugin/grpc_client.h"
#include "integration/lib/snapclient.h"
#include "util/cleanup.h"
#include "util/error.h"

#define GC_ROOT "containerd.io/gc.root"
#define MAX_SNAPSHOTTERS 16

enum op
{
  OP_PREPARE,
  OP_MOUNTS,
  OP_STAT,
  OP_COMMIT,
  OP_VIEW,
  OP_REMOVE,
  N_OPS
};

static const char *const op_names[N_OPS]
    = { "prepare", "mounts", "stat", "commit", "view", "remove" };

/* Samples of one operation, in µs. */
typedef struct samples
{
  double *v;
  size_t n, cap;
} samples;

typedef struct target
{
  const char *name;
  const char *socket;   /* NULL: through containerd */
  mp_grpc_client *grpc; /* own client when direct */
  snapclient *sc;
  char *base;          /* committed base layer */
  samples ops[N_OPS];  /* recorded samples */
  char *prepare_mount; /* mount type Prepare returned, for the report */
  char *view_mount;    /* mount type View returned */
} target;

typedef struct bench
{
  const char *address;
  const char *ns;
  char *specs[MAX_SNAPSHOTTERS];
  const char *baseline;
  long iterations, warmup;
  int64_t timeout_ms;
  bool json;
  char tag[64];
  snapclient_labels labels;
  mp_grpc_client *grpc;
  target t[MAX_SNAPSHOTTERS];
  size_t n;
} bench;

static void *
xnonnull (void *p)
{
  if (p == NULL)
    {
      fprintf (stderr, "snapbench: out of memory\n");
      exit (2);
    }
  return p;
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

static void
samples_add (samples *s, double us)
{
  if (s->n == s->cap)
    {
      s->cap = s->cap ? 2 * s->cap : 256;
      s->v = xnonnull (realloc (s->v, s->cap * sizeof *s->v));
    }
  s->v[s->n++] = us;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct summary
{
  size_t n;
  double median, p90, mean, min;
} summary;

/* Nearest-rank percentiles; sorts the samples in place. */
static summary
summarise (samples *s)
{
  summary r = { .n = s->n };
  if (s->n == 0)
    return r;
  qsort (s->v, s->n, sizeof *s->v, cmp_double);
  double sum = 0;
  for (size_t i = 0; i < s->n; i++)
    sum += s->v[i];
  r.min = s->v[0];
  r.mean = sum / (double)s->n;
  if (s->n % 2)
    r.median = s->v[s->n / 2];
  else
    r.median = (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
  size_t k = (size_t)((double)s->n * 0.9 + 0.999999);
  r.p90 = s->v[k > 0 ? k - 1 : 0];
  return r;
}

static double
now_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
fail (const target *t, const char *what, const char *key, const mp_error *err)
{
  fprintf (stderr, "snapbench: %s: %s %s: %s\n", t->name, what, key, err->msg);
  return -1;
}

static char *
first_mount_type (const snapclient_mounts *m)
{
  return xnonnull (strdup (m->n > 0 && m->v[0].type ? m->v[0].type : "none"));
}

/* One container-layer life cycle on T; RECORD says whether the timings
 * count. */
static int
cycle (bench *b, target *t, long i, bool record)
{
  mp_error err;
  snapclient_mounts m = { 0 };
  snapclient_info info = { 0 };
  cleanup_free char *a = xasprintf ("%s-%ld-a", b->tag, i);
  cleanup_free char *c = xasprintf ("%s-%ld-c", b->tag, i);
  cleanup_free char *v = xasprintf ("%s-%ld-v", b->tag, i);
  double t0, d[N_OPS + 1];
  int r;

  t0 = now_us ();
  r = snapclient_prepare (t->sc, a, t->base, &b->labels, &m, &err);
  d[OP_PREPARE] = now_us () - t0;
  if (r != 0)
    return fail (t, "prepare", a, &err);
  if (t->prepare_mount == NULL)
    t->prepare_mount = first_mount_type (&m);
  snapclient_mounts_free (&m);

  t0 = now_us ();
  r = snapclient_get_mounts (t->sc, a, &m, &err);
  d[OP_MOUNTS] = now_us () - t0;
  if (r != 0)
    return fail (t, "mounts", a, &err);
  snapclient_mounts_free (&m);

  t0 = now_us ();
  r = snapclient_stat (t->sc, a, &info, &err);
  d[OP_STAT] = now_us () - t0;
  if (r != 0)
    return fail (t, "stat", a, &err);
  snapclient_info_free (&info);

  t0 = now_us ();
  r = snapclient_commit (t->sc, c, a, NULL, &b->labels, &err);
  d[OP_COMMIT] = now_us () - t0;
  if (r != 0)
    return fail (t, "commit", a, &err);

  t0 = now_us ();
  r = snapclient_view (t->sc, v, c, &b->labels, &m, &err);
  d[OP_VIEW] = now_us () - t0;
  if (r != 0)
    return fail (t, "view", v, &err);
  if (t->view_mount == NULL)
    t->view_mount = first_mount_type (&m);
  snapclient_mounts_free (&m);

  t0 = now_us ();
  r = snapclient_remove (t->sc, v, &err);
  d[OP_REMOVE] = now_us () - t0;
  if (r != 0)
    return fail (t, "remove", v, &err);

  t0 = now_us ();
  r = snapclient_remove (t->sc, c, &err);
  d[N_OPS] = now_us () - t0;
  if (r != 0)
    return fail (t, "remove", c, &err);

  if (record)
    {
      for (int o = 0; o < N_OPS; o++)
        samples_add (&t->ops[o], d[o]);
      samples_add (&t->ops[OP_REMOVE], d[N_OPS]);
    }
  return 0;
}

static int
setup_base (bench *b, target *t)
{
  mp_error err;
  cleanup_free char *key = xasprintf ("%s-base-a", b->tag);
  t->base = xasprintf ("%s-base", b->tag);
  if (snapclient_prepare (t->sc, key, NULL, &b->labels, NULL, &err) != 0)
    return fail (t, "prepare", key, &err);
  if (snapclient_commit (t->sc, t->base, key, NULL, &b->labels, &err) != 0)
    {
      fail (t, "commit", key, &err);
      snapclient_remove (t->sc, key, &err);
      free (t->base);
      t->base = NULL;
      return -1;
    }
  return 0;
}

/* Best effort: whatever an aborted iteration left, then the base. */
static void
teardown (bench *b, target *t, long last)
{
  mp_error err;
  if (t->base == NULL)
    return;
  if (last >= 0)
    {
      const char *suffix[] = { "v", "c", "a" };
      for (size_t k = 0; k < 3; k++)
        {
          cleanup_free char *key
              = xasprintf ("%s-%ld-%s", b->tag, last, suffix[k]);
          snapclient_remove (t->sc, key, &err);
        }
    }
  if (snapclient_remove (t->sc, t->base, &err) != 0)
    fprintf (stderr, "snapbench: %s: remove %s: %s\n", t->name, t->base,
             err.msg);
}

static size_t
baseline_index (const bench *b)
{
  const char *want = b->baseline ? b->baseline : "overlayfs";
  for (size_t i = 0; i < b->n; i++)
    if (strcmp (b->t[i].name, want) == 0)
      return i;
  return 0;
}

static void
report_text (bench *b, summary s[][N_OPS])
{
  size_t base = baseline_index (b);
  printf ("snapbench: %ld iterations (+%ld warm-up), namespace %s, "
          "µs per call%s\n",
          b->iterations, b->warmup, b->ns,
          b->address ? " (NAME: through containerd; NAME=SOCKET: direct)" : "");
  printf ("%-8s %-12s %8s %8s %8s %8s %7s\n", "op", "snapshotter", "median",
          "p90", "mean", "min", "ratio");
  for (int o = 0; o < N_OPS; o++)
    for (size_t i = 0; i < b->n; i++)
      {
        double ref = s[base][o].median;
        printf ("%-8s %-12s %8.0f %8.0f %8.0f %8.0f %7.2f\n",
                i == 0 ? op_names[o] : "", b->t[i].name, s[i][o].median,
                s[i][o].p90, s[i][o].mean, s[i][o].min,
                ref > 0 ? s[i][o].median / ref : 0.0);
      }
  printf ("ratio: median / median of %s\n", b->t[base].name);
  for (size_t i = 0; i < b->n; i++)
    printf ("%s: Prepare returns %s, View returns %s\n", b->t[i].name,
            b->t[i].prepare_mount ? b->t[i].prepare_mount : "?",
            b->t[i].view_mount ? b->t[i].view_mount : "?");
}

static int
report_json (bench *b, summary s[][N_OPS])
{
  size_t base = baseline_index (b);
  json_t *root = json_object (), *list = json_array ();
  xnonnull (root);
  xnonnull (list);
  json_object_set_new (root, "iterations", json_integer (b->iterations));
  json_object_set_new (root, "warmup", json_integer (b->warmup));
  json_object_set_new (root, "namespace", json_string (b->ns));
  json_object_set_new (root, "baseline", json_string (b->t[base].name));
  json_object_set_new (root, "unit", json_string ("us"));
  for (size_t i = 0; i < b->n; i++)
    {
      json_t *ops = json_object ();
      for (int o = 0; o < N_OPS; o++)
        {
          double ref = s[base][o].median;
          json_object_set_new (
              ops, op_names[o],
              json_pack ("{s:I, s:f, s:f, s:f, s:f, s:f}", "n",
                         (json_int_t)s[i][o].n, "median", s[i][o].median, "p90",
                         s[i][o].p90, "mean", s[i][o].mean, "min", s[i][o].min,
                         "ratio", ref > 0 ? s[i][o].median / ref : 0.0));
        }
      json_array_append_new (
          list,
          json_pack ("{s:s, s:b, s:s, s:s, s:o}", "name", b->t[i].name,
                     "direct", b->t[i].socket != NULL, "prepare_mount",
                     b->t[i].prepare_mount ? b->t[i].prepare_mount : "",
                     "view_mount", b->t[i].view_mount ? b->t[i].view_mount : "",
                     "ops", ops));
    }
  json_object_set_new (root, "snapshotters", list);
  int r = json_dumpf (root, stdout, JSON_INDENT (2)) == 0 ? 0 : -1;
  putchar ('\n');
  json_decref (root);
  return r;
}

static mp_grpc_client *
connect_to (const bench *b, const char *socket)
{
  mp_error err;
  mp_grpc_client *g = mp_grpc_client_new (socket, &err);
  if (g == NULL || mp_grpc_client_set_namespace (g, b->ns, &err) < 0
      || mp_grpc_client_wait_ready (g, 10000, &err) < 0)
    {
      fprintf (stderr, "snapbench: %s: %s\n", socket, err.msg);
      mp_grpc_client_free (g);
      return NULL;
    }
  mp_grpc_client_set_timeout_ms (g, b->timeout_ms);
  return g;
}

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: snapbench [--address SOCK] --snapshotter NAME[=SOCKET] "
           "[--snapshotter ...]\n"
           "                 [--namespace NS] [--iterations N] [--warmup N]\n"
           "                 [--baseline NAME] [--timeout-ms MS] [--json]\n");
}

static long
parse_count (const char *opt, const char *s, long min)
{
  char *end;
  long v = strtol (s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < min || v > 100000000)
    {
      fprintf (stderr, "snapbench: %s takes a number >= %ld, not \"%s\"\n", opt,
               min, s);
      exit (2);
    }
  return v;
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "address", required_argument, NULL, 'a' },
    { "snapshotter", required_argument, NULL, 's' },
    { "namespace", required_argument, NULL, 'n' },
    { "iterations", required_argument, NULL, 'i' },
    { "warmup", required_argument, NULL, 'w' },
    { "baseline", required_argument, NULL, 'b' },
    { "timeout-ms", required_argument, NULL, 't' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  static bench b = {
    .ns = "snapbench", .iterations = 200, .warmup = 10, .timeout_ms = 60000
  };
  mp_error err;
  int o;

  while ((o = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (o)
      {
      case 'a':
        b.address = optarg;
        break;
      case 's':
        if (b.n == MAX_SNAPSHOTTERS)
          {
            fprintf (stderr, "snapbench: at most %d snapshotters\n",
                     MAX_SNAPSHOTTERS);
            return 2;
          }
        {
          char *eq = strchr (optarg, '=');
          target *t = &b.t[b.n];
          b.specs[b.n] = xnonnull (strdup (optarg));
          if (eq != NULL)
            {
              b.specs[b.n][eq - optarg] = '\0';
              t->socket = b.specs[b.n] + (eq - optarg) + 1;
            }
          t->name = b.specs[b.n];
          b.n++;
        }
        break;
      case 'n':
        b.ns = optarg;
        break;
      case 'i':
        b.iterations = parse_count ("--iterations", optarg, 1);
        break;
      case 'w':
        b.warmup = parse_count ("--warmup", optarg, 0);
        break;
      case 'b':
        b.baseline = optarg;
        break;
      case 't':
        b.timeout_ms = parse_count ("--timeout-ms", optarg, 0);
        break;
      case 'j':
        b.json = true;
        break;
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  bool via_containerd = false;
  for (size_t i = 0; i < b.n; i++)
    via_containerd |= b.t[i].socket == NULL;
  if (optind != argc || b.n == 0 || (via_containerd && b.address == NULL))
    {
      usage (stderr);
      return 2;
    }
  if (b.baseline != NULL)
    {
      size_t i = baseline_index (&b);
      if (strcmp (b.t[i].name, b.baseline) != 0)
        {
          fprintf (stderr, "snapbench: --baseline %s is not a --snapshotter\n",
                   b.baseline);
          return 2;
        }
    }

  /* Keys unique per run, so runs never collide in one namespace. */
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  snprintf (b.tag, sizeof b.tag, "snapbench-%ld-%d", (long)ts.tv_sec,
            (int)getpid ());
  char root_time[32];
  struct tm tm;
  gmtime_r (&ts.tv_sec, &tm);
  strftime (root_time, sizeof root_time, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (snapclient_labels_set (&b.labels, GC_ROOT, root_time, &err) < 0)
    {
      fprintf (stderr, "snapbench: %s\n", err.msg);
      return 2;
    }

  int rc = 0;
  size_t ready = 0;
  if (via_containerd && (b.grpc = connect_to (&b, b.address)) == NULL)
    rc = 1;
  for (; rc == 0 && ready < b.n; ready++)
    {
      target *t = &b.t[ready];
      if (t->socket != NULL && (t->grpc = connect_to (&b, t->socket)) == NULL)
        {
          rc = 1;
          break;
        }
      t->sc = xnonnull (snapclient_new (t->socket ? t->grpc : b.grpc,
                                        t->socket ? "" : t->name, &err));
      if (setup_base (&b, t) < 0)
        {
          snapclient_free (t->sc);
          t->sc = NULL;
          mp_grpc_client_free (t->grpc);
          t->grpc = NULL;
          rc = 1;
          break;
        }
    }

  long i = 0, total = b.warmup + b.iterations;
  for (; rc == 0 && i < total; i++)
    for (size_t k = 0; k < b.n; k++)
      {
        target *t = &b.t[(k + (size_t)i) % b.n];
        if (cycle (&b, t, i, i >= b.warmup) < 0)
          {
            rc = 1;
            break;
          }
      }

  for (size_t k = 0; k < ready; k++)
    {
      teardown (&b, &b.t[k], rc ? i - 1 : -1);
      snapclient_free (b.t[k].sc);
      mp_grpc_client_free (b.t[k].grpc);
    }

  if (rc == 0)
    {
      summary (*s)[N_OPS] = xnonnull (calloc (b.n, sizeof *s));
      for (size_t k = 0; k < b.n; k++)
        for (int op = 0; op < N_OPS; op++)
          s[k][op] = summarise (&b.t[k].ops[op]);
      if (b.json)
        rc = report_json (&b, s) < 0;
      else
        report_text (&b, s);
      free (s);
    }

  for (size_t k = 0; k < b.n; k++)
    {
      for (int op = 0; op < N_OPS; op++)
        free (b.t[k].ops[op].v);
      free (b.t[k].base);
      free (b.t[k].prepare_mount);
      free (b.t[k].view_mount);
      free (b.specs[k]);
    }
  snapclient_labels_free (&b.labels);
  mp_grpc_client_free (b.grpc);
  return rc;
}
