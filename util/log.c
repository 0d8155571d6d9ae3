#include "util/log.h"
#include "util/escape.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum mp_log_level current_level = MP_LOG_INFO;

int
mp_log_level_parse (const char *s)
{
  if (strcmp (s, "error") == 0)
    return MP_LOG_ERROR;
  if (strcmp (s, "warn") == 0 || strcmp (s, "warning") == 0)
    return MP_LOG_WARN;
  if (strcmp (s, "info") == 0)
    return MP_LOG_INFO;
  if (strcmp (s, "debug") == 0 || strcmp (s, "trace") == 0)
    return MP_LOG_DEBUG;
  return -1;
}

void
mp_log_set_level (enum mp_log_level level)
{
  current_level = level;
}

enum mp_log_level
mp_log_get_level (void)
{
  return current_level;
}

void
mp_log (enum mp_log_level level, const char *fmt, ...)
{
  static const char *names[] = { "error", "warn", "info", "debug" };
  /* The message as formatted, then the line with it escaped: at most four
   * bytes of escape per byte of message. */
  char msg[2048], line[4 * sizeof msg + 128];
  struct timespec ts;
  struct tm tm;
  va_list ap;
  int n;

  if (level > current_level)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  n = snprintf (line, sizeof line,
                "time=%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ level=%s msg=\"",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, names[level]);
  /* Messages carry names from manifests, tar entries and registries: escape
   * them so each is one logfmt line, whatever it holds, with no terminal
   * control in it. */
  mp_escape_mem (line + n, sizeof line - n, msg, strlen (msg), MP_ESCAPE_QUOTE);
  /* One write per line so concurrent workers do not interleave. */
  fprintf (stderr, "%s\"\n", line);
}
