/* The metrics endpoint: plain HTTP/1.1 on its own thread.
 *
 * `GET /metrics` (a query string is ignored) answers the text exposition
 * of plugin/metrics.h; any other well-formed request gets 404, a malformed
 * one 400, one whose head exceeds MP_METRICS_HTTP_MAX_REQUEST bytes 431.
 * One connection is served at a time and each answer closes it; a client
 * has MP_METRICS_HTTP_TIMEOUT_MS to send its request head (and as long for
 * each write of the answer), so a slow or hostile scraper delays others by
 * at most that and never touches the snapshot calls. */
#ifndef MP_PLUGIN_METRICS_HTTP_H
#define MP_PLUGIN_METRICS_HTTP_H

#include <stddef.h>

#include "plugin/metrics.h"
#include "util/error.h"

#define MP_METRICS_HTTP_MAX_REQUEST 8192
#define MP_METRICS_HTTP_TIMEOUT_MS 5000

enum mp_metrics_http_verdict
{
  MP_HTTP_INCOMPLETE, /* no end of head yet: read more */
  MP_HTTP_METRICS,    /* GET (or HEAD) /metrics */
  MP_HTTP_NOT_FOUND,
  MP_HTTP_BAD_REQUEST,
};

/* Judge the LEN bytes received so far (not NUL-terminated).  *HEAD is set
 * for a HEAD request (answer without a body). */
enum mp_metrics_http_verdict mp_metrics_http_parse (const char *buf, size_t len,
                                                    bool *head);

typedef struct mp_metrics_server mp_metrics_server;

/* Listen on ADDRESS: "host:port" ("[v6]:port" for IPv6; the host is a
 * name or a numeric address) or an absolute unix socket path (a missing
 * directory is made 0700, a stale socket file replaced, one a live process
 * serves refused; the socket is made 0660), and serve M on a new thread. */
mp_metrics_server *mp_metrics_server_start (const char *address, mp_metrics *m,
                                            mp_error *err);

/* Stop the thread, close the socket (removing a unix socket), free. */
void mp_metrics_server_stop (mp_metrics_server *s);

#endif
