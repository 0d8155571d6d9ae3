/* plugin/metrics and plugin/metrics_http: the exposition text, the
 * request parser, and the endpoint over a unix socket. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "plugin/metrics.h"
#include "plugin/metrics_http.h"
#include "plugin/snapshots_service.h"
#include "tests/harness.h"

static char *
render (void (*fn) (FILE *, void *), void *arg)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&buf, &len);

  fn (f, arg);
  fclose (f);
  return buf;
}

static void
label_value (FILE *f, void *arg)
{
  mp_metrics_write_label_value (f, arg);
}

TEST (test_label_values_escaped)
{
  char *s = render (label_value, "a\\b\"c\nd\te");

  CHECK_STR (s, "a\\\\b\\\"c\\nd\te");
  free (s);
}

static void
histogram (FILE *f, void *arg)
{
  mp_metrics_write_histogram (f, "x_seconds", "method=\"Stat\"", arg);
}

static void
histogram_bare (FILE *f, void *arg)
{
  mp_metrics_write_histogram (f, "y_seconds", "", arg);
}

TEST (test_histogram_cumulative)
{
  static const double bounds[] = { 0.001, 0.5, 10 };
  mp_histogram h = { .bounds = bounds, .nbounds = 3 };
  char *s;

  mp_histogram_observe (&h, 1000000);     /* 0.001: on the bound, le */
  mp_histogram_observe (&h, 2000000);     /* 0.002 */
  mp_histogram_observe (&h, 400000000);   /* 0.4 */
  mp_histogram_observe (&h, 20000000000); /* 20: only +Inf */
  mp_histogram_observe (&h, -5);          /* clock oddity: counted as 0 */
  s = render (histogram, &h);
  CHECK_STR (s, "x_seconds_bucket{method=\"Stat\",le=\"0.001\"} 2\n"
                "x_seconds_bucket{method=\"Stat\",le=\"0.5\"} 4\n"
                "x_seconds_bucket{method=\"Stat\",le=\"10\"} 4\n"
                "x_seconds_bucket{method=\"Stat\",le=\"+Inf\"} 5\n"
                "x_seconds_sum{method=\"Stat\"} 20.403000000\n"
                "x_seconds_count{method=\"Stat\"} 5\n");
  free (s);
  s = render (histogram_bare, &h);
  CHECK (strstr (s, "y_seconds_bucket{le=\"+Inf\"} 5\n") != NULL);
  CHECK (strstr (s, "y_seconds_sum 20.403000000\ny_seconds_count 5\n") != NULL);
  free (s);
}

TEST (test_rpc_methods)
{
  CHECK (mp_metrics_rpc_method (SNAPSHOTS_SERVICE_PREFIX "Prepare")
         == MP_RPC_PREPARE);
  CHECK (mp_metrics_rpc_method (SNAPSHOTS_SERVICE_PREFIX "Cleanup")
         == MP_RPC_CLEANUP);
  CHECK (mp_metrics_rpc_method (SNAPSHOTS_SERVICE_PREFIX "Prepar") == -1);
  CHECK (mp_metrics_rpc_method ("/other.Service/Prepare") == -1);
  CHECK (mp_metrics_rpc_method ("") == -1);
}

static void
all (FILE *f, void *arg)
{
  CHECK (mp_metrics_write (arg, f) == 0);
}

/* Every line is a comment or `name{labels} value`; each family's HELP and
 * TYPE come before its samples, and samples of a family are contiguous. */
static void
check_exposition (const char *text)
{
  char *copy = strdup (text), *save = NULL;
  char family[128] = "";

  for (char *line = strtok_r (copy, "\n", &save); line != NULL;
       line = strtok_r (NULL, "\n", &save))
    {
      char name[128];
      size_t n = strcspn (line, "{ ");

      if (strncmp (line, "# HELP ", 7) == 0)
        {
          snprintf (family, sizeof family, "%.*s", (int)strcspn (line + 7, " "),
                    line + 7);
          continue;
        }
      if (strncmp (line, "# TYPE ", 7) == 0)
        {
          CHECK (strncmp (line + 7, family, strlen (family)) == 0);
          continue;
        }
      snprintf (name, sizeof name, "%.*s", (int)n, line);
      if (strncmp (name, family, strlen (family)) != 0)
        {
          fprintf (stderr, "sample %s outside its family %s\n", name, family);
          mp_test_failed_checks++;
        }
      if (line[n] == '{')
        {
          char *close = strchr (line, '}');
          REQUIRE (close != NULL);
          n = (size_t)(close - line) + 1;
        }
      CHECK (line[n] == ' ');
      {
        char *end;
        strtod (line + n + 1, &end);
        CHECK (*end == '\0' && end != line + n + 1);
      }
    }
  free (copy);
}

TEST (test_exposition)
{
  mp_metrics m;
  char *s;

  mp_metrics_init (&m);
  m.version = "1.2\"3";
  mp_metrics_rpc_done (&m, MP_RPC_PREPARE, 0, 1000);
  mp_metrics_rpc_done (&m, MP_RPC_PREPARE, 5, 2000);
  mp_metrics_rpc_done (&m, MP_RPC_PREPARE, 5, 3000);
  mp_metrics_rpc_done (&m, MP_RPC_REMOVE, 9, 3000);
  mp_metrics_rpc_done (&m, -1, 5, 3000); /* not a Snapshots method */
  mp_metrics_volume_done (&m, MP_VOLUME_BUILT, 2000000000);
  mp_metrics_volume_done (&m, MP_VOLUME_HIT, 1000000);
  mp_metrics_volume_done (&m, MP_VOLUME_REFUSED, 1000000);
  mp_metrics_crio_sync_done (&m, true);
  mp_metrics_crio_sync_done (&m, false);
  s = render (all, &m);
  check_exposition (s);
  CHECK (strstr (s, "# TYPE modelpack_snapshots_rpc_duration_seconds "
                    "histogram\n")
         != NULL);
  CHECK (strstr (s, "modelpack_snapshots_rpc_duration_seconds_count{method="
                    "\"Prepare\"} 3\n")
         != NULL);
  CHECK (strstr (s, "modelpack_snapshots_rpc_duration_seconds_sum{method="
                    "\"Prepare\"} 0.000006000\n")
         != NULL);
  CHECK (strstr (s, "modelpack_snapshots_rpc_errors_total{method=\"Prepare\","
                    "code=\"NotFound\"} 2\n")
         != NULL);
  CHECK (strstr (s, "modelpack_snapshots_rpc_errors_total{method=\"Remove\","
                    "code=\"FailedPrecondition\"} 1\n")
         != NULL);
  CHECK (strstr (s, "code=\"OK\"") == NULL);
  CHECK (strstr (s, "modelpack_image_volume_prepares_total{outcome=\"built\"} "
                    "1\n")
         != NULL);
  CHECK (strstr (s, "modelpack_image_volume_prepare_duration_seconds_bucket{"
                    "outcome=\"built\",le=\"1\"} 0\n")
         != NULL);
  CHECK (strstr (s, "modelpack_image_volume_prepare_duration_seconds_bucket{"
                    "outcome=\"built\",le=\"2.5\"} 1\n")
         != NULL);
  CHECK (strstr (s, "modelpack_crio_sync_runs_total 2\n") != NULL);
  CHECK (strstr (s, "modelpack_crio_sync_failures_total 1\n") != NULL);
  CHECK (strstr (s, "modelpack_model_cache_evictions_total 0\n") != NULL);
  CHECK (strstr (s, "version=\"1.2\\\"3\"") != NULL);
  /* Without a cache there is nothing to measure at scrape time. */
  CHECK (strstr (s, "modelpack_model_cache_bytes") == NULL);
  free (s);
}

TEST (test_http_parse)
{
  static const struct
  {
    const char *req;
    enum mp_metrics_http_verdict want;
    bool head;
  } cases[] = {
    { "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", MP_HTTP_METRICS, false },
    { "GET /metrics HTTP/1.0\n\n", MP_HTTP_METRICS, false },
    { "GET /metrics?name[]=x HTTP/1.1\r\n\r\n", MP_HTTP_METRICS, false },
    { "HEAD /metrics HTTP/1.1\r\n\r\n", MP_HTTP_METRICS, true },
    { "GET /metrics HTTP/1.1\r\nHost: x\r\n", MP_HTTP_INCOMPLETE, false },
    { "GET /met", MP_HTTP_INCOMPLETE, false },
    { "", MP_HTTP_INCOMPLETE, false },
    { "GET / HTTP/1.1\r\n\r\n", MP_HTTP_NOT_FOUND, false },
    { "GET /metricsx HTTP/1.1\r\n\r\n", MP_HTTP_NOT_FOUND, false },
    { "POST /metrics HTTP/1.1\r\n\r\n", MP_HTTP_NOT_FOUND, false },
    { "GET /metrics HTTP/2.0\r\n\r\n", MP_HTTP_BAD_REQUEST, false },
    { "GET metrics HTTP/1.1\r\n\r\n", MP_HTTP_BAD_REQUEST, false },
    { "GET  /metrics HTTP/1.1\r\n\r\n", MP_HTTP_BAD_REQUEST, false },
    { "get /metrics HTTP/1.1\r\n\r\n", MP_HTTP_BAD_REQUEST, false },
    { "GET /metrics\r\n\r\n", MP_HTTP_BAD_REQUEST, false },
    { "GET /me\ttrics HTTP/1.1\r\n\r\n", MP_HTTP_BAD_REQUEST, false },
    { "\r\n\r\n", MP_HTTP_BAD_REQUEST, false },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      bool head = !cases[i].head;
      enum mp_metrics_http_verdict v
          = mp_metrics_http_parse (cases[i].req, strlen (cases[i].req), &head);

      if (v != cases[i].want || head != cases[i].head)
        {
          fprintf (stderr, "case %zu: verdict %d head %d, want %d %d\n", i, v,
                   head, cases[i].want, cases[i].head);
          mp_test_failed_checks++;
        }
    }
  /* A NUL in the request line is refused before the head ends. */
  {
    bool head;
    CHECK (mp_metrics_http_parse ("GET /\0", 6, &head) == MP_HTTP_BAD_REQUEST);
  }
}

static int
dial (const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);

  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", path);
  if (connect (fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* Send REQ (LEN bytes) and read the answer until the server closes. */
static char *
roundtrip (const char *path, const char *req, size_t len)
{
  int fd = dial (path);
  char *buf = calloc (1, 1 << 20);
  size_t got = 0;
  ssize_t r;

  if (fd < 0 || buf == NULL)
    {
      free (buf);
      return NULL;
    }
  if (len > 0 && write (fd, req, len) < 0)
    got = 0;
  while ((r = read (fd, buf + got, (1 << 20) - 1 - got)) > 0)
    got += (size_t)r;
  close (fd);
  return buf;
}

TEST (test_endpoint)
{
  char dir[] = "/tmp/mp-metrics-XXXXXX", path[64];
  mp_metrics m;
  mp_metrics_server *s;
  mp_error err = { 0 };
  char *a, *big;
  int idle;

  REQUIRE (mkdtemp (dir) != NULL);
  snprintf (path, sizeof path, "%s/m.sock", dir);
  mp_metrics_init (&m);
  s = mp_metrics_server_start (path, &m, &err);
  REQUIRE (s != NULL);

  a = roundtrip (path, "GET /metrics HTTP/1.1\r\n\r\n", 25);
  REQUIRE (a != NULL);
  CHECK (strncmp (a, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK (strstr (a, "Content-Type: text/plain; version=0.0.4") != NULL);
  CHECK (strstr (a, "\r\n\r\n# HELP modelpack_") != NULL);
  free (a);

  a = roundtrip (path, "GET /other HTTP/1.1\r\n\r\n", 23);
  CHECK (a != NULL && strncmp (a, "HTTP/1.1 404 ", 13) == 0);
  free (a);
  a = roundtrip (path, "BREW /pot HTCPCP/1.0\r\n\r\n", 24);
  CHECK (a != NULL && strncmp (a, "HTTP/1.1 400 ", 13) == 0);
  free (a);

  /* A head that never ends within the bound. */
  big = malloc (3 * MP_METRICS_HTTP_MAX_REQUEST);
  REQUIRE (big != NULL);
  memcpy (big, "GET /metrics HTTP/1.1\r\nX: ", 26);
  memset (big + 26, 'a', 3 * MP_METRICS_HTTP_MAX_REQUEST - 26);
  a = roundtrip (path, big, 3 * MP_METRICS_HTTP_MAX_REQUEST);
  CHECK (a != NULL && strncmp (a, "HTTP/1.1 431 ", 13) == 0);
  free (a);
  free (big);

  /* A client that connects and says nothing holds the endpoint for the
   * read timeout at most: the next scrape is answered after it. */
  idle = dial (path);
  CHECK (idle >= 0);
  a = roundtrip (path, "GET /metrics HTTP/1.1\r\n\r\n", 25);
  CHECK (a != NULL && strncmp (a, "HTTP/1.1 200 OK\r\n", 17) == 0);
  free (a);
  {
    char c;
    /* The idle one was closed without an answer. */
    CHECK (read (idle, &c, 1) == 0);
  }
  close (idle);

  /* A second server on the same live socket is refused. */
  {
    mp_metrics_server *again = mp_metrics_server_start (path, &m, &err);
    CHECK (again == NULL && strstr (err.msg, "another process") != NULL);
    mp_metrics_server_stop (again);
    mp_error_clear (&err);
  }

  mp_metrics_server_stop (s);
  CHECK (access (path, F_OK) < 0 && errno == ENOENT);
  rmdir (dir);
}

TEST (test_endpoint_makes_its_directory)
{
  char dir[] = "/tmp/mp-metrics-XXXXXX", path[96], sub[80];
  mp_metrics m;
  mp_metrics_server *s;
  mp_error err = { 0 };
  struct stat st;
  char *a;

  REQUIRE (mkdtemp (dir) != NULL);
  snprintf (sub, sizeof sub, "%s/run/mp", dir);
  snprintf (path, sizeof path, "%s/metrics.sock", sub);
  mp_metrics_init (&m);
  s = mp_metrics_server_start (path, &m, &err);
  REQUIRE (s != NULL);
  CHECK (stat (sub, &st) == 0 && (st.st_mode & 07777) == 0700);
  a = roundtrip (path, "HEAD /metrics HTTP/1.1\r\n\r\n", 26);
  CHECK (a != NULL && strncmp (a, "HTTP/1.1 200 OK\r\n", 17) == 0);
  /* HEAD: the headers only. */
  CHECK (a != NULL && strstr (a, "\r\n\r\n") != NULL
         && strstr (a, "\r\n\r\n")[4] == '\0');
  free (a);
  mp_metrics_server_stop (s);
  rmdir (sub);
  snprintf (sub, sizeof sub, "%s/run", dir);
  rmdir (sub);
  rmdir (dir);
}

TEST (test_endpoint_bad_addresses)
{
  mp_metrics m;
  mp_error err = { 0 };

  mp_metrics_init (&m);
  CHECK (mp_metrics_server_start ("127.0.0.1", &m, &err) == NULL);
  CHECK (strstr (err.msg, "host:port") != NULL);
  mp_error_clear (&err);
  CHECK (mp_metrics_server_start ("/dev/null/m.sock", &m, &err) == NULL);
  CHECK (strstr (err.msg, "/dev/null/m.sock") != NULL);
}

TEST_MAIN (T (test_label_values_escaped), T (test_histogram_cumulative),
           T (test_rpc_methods), T (test_exposition), T (test_http_parse),
           T (test_endpoint), T (test_endpoint_makes_its_directory),
           T (test_endpoint_bad_addresses))
