/* metrics_record: what recording one snapshot call costs the caller
 * (plugin/metrics.h): two CLOCK_MONOTONIC reads and mp_metrics_rpc_done,
 * per call, on 1 and on THREADS threads recording the same method at once
 * (the worst case: every thread adds to the same atomic counters).
 *
 *   metrics_record [--calls N] [--threads T]
 *
 * Prints ns per recorded call for each thread count, and the same loop
 * without recording (the clock reads only) for comparison. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "plugin/metrics.h"

static mp_metrics metrics;
static long calls = 2000000;
static volatile int64_t sink;

struct run
{
  bool record;
  pthread_t thread;
};

static void *
loop (void *arg)
{
  struct run *r = arg;
  int64_t acc = 0;

  for (long i = 0; i < calls; i++)
    {
      int64_t t0 = mp_metrics_now_ns ();
      int64_t d = mp_metrics_now_ns () - t0;

      if (r->record)
        mp_metrics_rpc_done (&metrics, MP_RPC_STAT, (i & 63) == 0 ? 5 : 0, d);
      else
        acc += d;
    }
  sink = acc;
  return NULL;
}

static double
measure (int threads, bool record)
{
  struct run *r = calloc ((size_t)threads, sizeof *r);
  int64_t t0 = mp_metrics_now_ns ();
  double ns;

  for (int i = 0; i < threads; i++)
    {
      r[i].record = record;
      pthread_create (&r[i].thread, NULL, loop, &r[i]);
    }
  for (int i = 0; i < threads; i++)
    pthread_join (r[i].thread, NULL);
  ns = (double)(mp_metrics_now_ns () - t0) / (double)calls;
  free (r);
  return ns;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = { { "calls", 1, NULL, 'c' },
                                        { "threads", 1, NULL, 't' },
                                        { NULL, 0, NULL, 0 } };
  int threads = 2, c;

  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c)
      {
      case 'c':
        calls = atol (optarg);
        break;
      case 't':
        threads = atoi (optarg);
        break;
      default:
        fprintf (stderr, "usage: metrics_record [--calls N] [--threads T]\n");
        return 2;
      }
  if (calls < 1 || threads < 1 || threads > 256)
    return 2;
  mp_metrics_init (&metrics);
  for (int t = 1; t <= threads; t = t == threads ? threads + 1 : threads)
    {
      double off = measure (t, false), on = measure (t, true);
      printf ("%d thread%s: %.1f ns per call with recording, %.1f without "
              "(clock reads only): +%.1f ns (wall time per call per thread)\n",
              t, t > 1 ? "s" : "", on, off, on - off);
    }
  return 0;
}
