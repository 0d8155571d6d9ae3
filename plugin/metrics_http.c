#include "plugin/metrics_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log.h"

struct mp_metrics_server
{
  int listen_fd;
  int stop_fd; /* eventfd: written to stop the thread */
  char *unix_path;
  mp_metrics *m;
  pthread_t thread;
};

/* ---- request parsing ----------------------------------------------------- */

static const char *
find_head_end (const char *buf, size_t len)
{
  for (size_t i = 0; i + 1 < len; i++)
    if (buf[i] == '\n'
        && (buf[i + 1] == '\n'
            || (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')))
      return buf + i;
  return NULL;
}

enum mp_metrics_http_verdict
mp_metrics_http_parse (const char *buf, size_t len, bool *head)
{
  const char *end, *eol, *sp1, *sp2, *target, *version, *q;
  size_t mlen, tlen, vlen, plen;

  *head = false;
  if (len > MP_METRICS_HTTP_MAX_REQUEST)
    len = MP_METRICS_HTTP_MAX_REQUEST;
  eol = memchr (buf, '\n', len);
  end = find_head_end (buf, len);
  if (eol == NULL || end == NULL)
    {
      /* A request line that cannot become valid need not wait for more. */
      for (size_t i = 0; i < len && (eol == NULL || buf + i < eol); i++)
        if (buf[i] == '\0')
          return MP_HTTP_BAD_REQUEST;
      return MP_HTTP_INCOMPLETE;
    }
  if (eol > buf && eol[-1] == '\r')
    eol--;
  sp1 = memchr (buf, ' ', (size_t)(eol - buf));
  if (sp1 == NULL)
    return MP_HTTP_BAD_REQUEST;
  target = sp1 + 1;
  sp2 = memchr (target, ' ', (size_t)(eol - target));
  if (sp2 == NULL)
    return MP_HTTP_BAD_REQUEST;
  version = sp2 + 1;
  mlen = (size_t)(sp1 - buf);
  tlen = (size_t)(sp2 - target);
  vlen = (size_t)(eol - version);
  if (mlen == 0 || tlen == 0 || target[0] != '/')
    return MP_HTTP_BAD_REQUEST;
  for (size_t i = 0; i < mlen; i++)
    if (buf[i] < 'A' || buf[i] > 'Z')
      return MP_HTTP_BAD_REQUEST;
  for (size_t i = 0; i < tlen; i++)
    if ((unsigned char)target[i] <= 0x20 || target[i] == 0x7f)
      return MP_HTTP_BAD_REQUEST;
  if (!(vlen == 8
        && (memcmp (version, "HTTP/1.1", 8) == 0
            || memcmp (version, "HTTP/1.0", 8) == 0)))
    return MP_HTTP_BAD_REQUEST;
  q = memchr (target, '?', tlen);
  plen = q ? (size_t)(q - target) : tlen;
  if (!(plen == 8 && memcmp (target, "/metrics", 8) == 0))
    return MP_HTTP_NOT_FOUND;
  if (mlen == 3 && memcmp (buf, "GET", 3) == 0)
    return MP_HTTP_METRICS;
  if (mlen == 4 && memcmp (buf, "HEAD", 4) == 0)
    {
      *head = true;
      return MP_HTTP_METRICS;
    }
  return MP_HTTP_NOT_FOUND;
}

/* ---- serving ------------------------------------------------------------- */

static int64_t
now_ms (void)
{
  return mp_metrics_now_ns () / 1000000;
}

/* Write all of BUF, giving up after the timeout for any one wait or when
 * the server stops (STOP_FD readable). */
static bool
write_all (int fd, int stop_fd, const char *buf, size_t len)
{
  while (len > 0)
    {
      struct pollfd p[2] = { { .fd = fd, .events = POLLOUT },
                             { .fd = stop_fd, .events = POLLIN } };
      ssize_t w = send (fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (w > 0)
        {
          buf += w;
          len -= (size_t)w;
          continue;
        }
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return false;
      if (poll (p, 2, MP_METRICS_HTTP_TIMEOUT_MS) <= 0 || p[1].revents)
        return false;
    }
  return true;
}

static void
answer (mp_metrics_server *s, int fd, const char *status, const char *type,
        const char *body, size_t len, bool head)
{
  char hdr[256];
  int n = snprintf (hdr, sizeof hdr,
                    "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    status, type, len);

  if (write_all (fd, s->stop_fd, hdr, (size_t)n) && !head && len > 0)
    write_all (fd, s->stop_fd, body, len);
}

static void
answer_text (mp_metrics_server *s, int fd, const char *status, const char *text)
{
  answer (s, fd, status, "text/plain; charset=utf-8", text, strlen (text),
          false);
}

static void
serve_metrics (mp_metrics_server *s, int fd, bool head)
{
  cleanup_free char *body = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&body, &len);
  int r;

  if (f == NULL)
    {
      answer_text (s, fd, "500 Internal Server Error", "out of memory\n");
      return;
    }
  r = mp_metrics_write (s->m, f);
  if (fclose (f) != 0 || r < 0)
    {
      answer_text (s, fd, "500 Internal Server Error", "out of memory\n");
      return;
    }
  answer (s, fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body,
          len, head);
}

static void
serve_conn (mp_metrics_server *s, int fd)
{
  char buf[MP_METRICS_HTTP_MAX_REQUEST];
  size_t len = 0;
  int64_t deadline = now_ms () + MP_METRICS_HTTP_TIMEOUT_MS;
  enum mp_metrics_http_verdict v = MP_HTTP_INCOMPLETE;
  bool head = false;

  while (v == MP_HTTP_INCOMPLETE)
    {
      struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
                             { .fd = s->stop_fd, .events = POLLIN } };
      int64_t left = deadline - now_ms ();
      ssize_t r;

      if (len == sizeof buf)
        {
          answer_text (s, fd, "431 Request Header Fields Too Large",
                       "request too large\n");
          return;
        }
      if (left <= 0 || poll (p, 2, (int)left) <= 0 || p[1].revents)
        return; /* too slow (or stopping): just close */
      r = recv (fd, buf + len, sizeof buf - len, MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (r <= 0)
        return;
      len += (size_t)r;
      v = mp_metrics_http_parse (buf, len, &head);
    }
  switch (v)
    {
    case MP_HTTP_METRICS:
      serve_metrics (s, fd, head);
      break;
    case MP_HTTP_NOT_FOUND:
      answer_text (s, fd, "404 Not Found",
                   "only GET /metrics is served here\n");
      break;
    default:
      answer_text (s, fd, "400 Bad Request", "bad request\n");
    }
}

static void *
server_main (void *arg)
{
  mp_metrics_server *s = arg;

  for (;;)
    {
      struct pollfd p[2] = { { .fd = s->listen_fd, .events = POLLIN },
                             { .fd = s->stop_fd, .events = POLLIN } };
      int fd;

      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          mp_log_error ("metrics: poll: %s", strerror (errno));
          return NULL;
        }
      if (p[1].revents)
        return NULL;
      fd = accept4 (s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0)
        {
          /* EMFILE and the like: do not spin on them. */
          if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            poll (NULL, 0, 100);
          continue;
        }
      serve_conn (s, fd);
      /* Let the client see the answer's end before the socket goes. */
      shutdown (fd, SHUT_WR);
      close (fd);
    }
}

static int
listen_unix (mp_metrics_server *s, const char *path, mp_error *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  struct stat st;

  if (strlen (path) >= sizeof sa.sun_path)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "address %s: a unix socket path is at most "
                         "%zu bytes",
                         path, sizeof sa.sun_path - 1);
  strcpy (sa.sun_path, path);
  /* A missing directory is made as the snapshotter's socket's is (0700:
   * only root, or whom the operator lets in, reaches the socket). */
  {
    cleanup_free char *dir = strdup (path);
    char *slash = dir ? strrchr (dir, '/') : NULL;

    if (dir == NULL)
      return mp_error_sys (err, ENOMEM, "allocate");
    if (slash != NULL && slash != dir)
      {
        *slash = '\0';
        if (stat (dir, &st) < 0
            && (errno != ENOENT || mp_mkdir_p (dir, 0700, err) < 0))
          return mp_error_prefix (err, "socket directory %s", dir);
      }
  }
  /* Replace a socket left by an earlier run, not one a live process
   * serves, and never another kind of file. */
  if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
    {
      int probe = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      bool live = probe >= 0
                  && connect (probe, (struct sockaddr *)&sa, sizeof sa) == 0;

      if (probe >= 0)
        close (probe);
      if (live)
        return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                             "%s is served by another process", path);
      unlink (path);
    }
  s->listen_fd
      = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->listen_fd < 0)
    return mp_error_sys (err, errno, "socket");
  if (bind (s->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    return mp_error_sys (err, errno, "bind %s", path);
  s->unix_path = strdup (path);
  if (s->unix_path == NULL)
    return mp_error_sys (err, ENOMEM, "allocate");
  if (chmod (path, 0660) < 0)
    return mp_error_sys (err, errno, "chmod %s", path);
  return 0;
}

static int
listen_tcp (mp_metrics_server *s, const char *address, mp_error *err)
{
  cleanup_free char *host = NULL;
  const char *colon = strrchr (address, ':'), *port;
  struct addrinfo hints
      = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
  struct addrinfo *res = NULL, *ai;
  int r, one = 1, last = 0;

  if (colon == NULL || colon[1] == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "address \"%s\" is neither host:port nor an "
                         "absolute unix socket path",
                         address);
  port = colon + 1;
  if (address[0] == '[' && colon > address && colon[-1] == ']')
    host = strndup (address + 1, (size_t)(colon - address - 2));
  else
    host = strndup (address, (size_t)(colon - address));
  if (host == NULL)
    return mp_error_sys (err, ENOMEM, "allocate");
  r = getaddrinfo (host[0] ? host : NULL, port, &hints, &res);
  if (r != 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "address \"%s\": %s",
                         address, gai_strerror (r));
  for (ai = res; ai != NULL; ai = ai->ai_next)
    {
      int fd = socket (ai->ai_family,
                       ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                       ai->ai_protocol);
      if (fd < 0)
        {
          last = errno;
          continue;
        }
      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind (fd, ai->ai_addr, ai->ai_addrlen) == 0)
        {
          s->listen_fd = fd;
          break;
        }
      last = errno;
      close (fd);
    }
  freeaddrinfo (res);
  if (s->listen_fd < 0)
    return mp_error_sys (err, last, "bind %s", address);
  return 0;
}

mp_metrics_server *
mp_metrics_server_start (const char *address, mp_metrics *m, mp_error *err)
{
  mp_metrics_server *s = calloc (1, sizeof *s);
  int r;

  if (s == NULL)
    {
      mp_error_sys (err, ENOMEM, "allocate");
      return NULL;
    }
  s->listen_fd = -1;
  s->m = m;
  s->stop_fd = eventfd (0, EFD_CLOEXEC);
  if (s->stop_fd < 0)
    {
      mp_error_sys (err, errno, "eventfd");
      goto fail;
    }
  if ((address[0] == '/' ? listen_unix (s, address, err)
                         : listen_tcp (s, address, err))
      < 0)
    goto fail;
  if (listen (s->listen_fd, 16) < 0)
    {
      mp_error_sys (err, errno, "listen on %s", address);
      goto fail;
    }
  r = pthread_create (&s->thread, NULL, server_main, s);
  if (r != 0)
    {
      mp_error_sys (err, r, "thread");
      goto fail;
    }
  return s;

fail:
  if (s->listen_fd >= 0)
    close (s->listen_fd);
  if (s->unix_path != NULL)
    unlink (s->unix_path);
  free (s->unix_path);
  if (s->stop_fd >= 0)
    close (s->stop_fd);
  free (s);
  return NULL;
}

void
mp_metrics_server_stop (mp_metrics_server *s)
{
  uint64_t one = 1;

  if (s == NULL)
    return;
  if (write (s->stop_fd, &one, sizeof one) < 0)
    mp_log_warn ("metrics: stop: %s", strerror (errno));
  pthread_join (s->thread, NULL);
  close (s->listen_fd);
  if (s->unix_path != NULL)
    unlink (s->unix_path);
  free (s->unix_path);
  close (s->stop_fd);
  free (s);
}
