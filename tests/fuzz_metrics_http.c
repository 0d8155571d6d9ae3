/* Fuzz the metrics endpoint's request parser (plugin/metrics_http.c) with
 * any bytes.  Besides the sanitizers, it checks what must hold for any
 * input: a request judged complete keeps its verdict whatever follows it
 * (the server may have read more than the head), only a GET or HEAD of
 * /metrics is served and HEAD is flagged as such, and a NUL before the
 * first line ends is never left waiting for more. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/metrics_http.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *buf = (const char *)data;
  bool head, h2;
  enum mp_metrics_http_verdict v, w;

  v = mp_metrics_http_parse (buf, size, &head);
  if (v == MP_HTTP_METRICS)
    {
      if (!(size >= 4
            && (memcmp (buf, "GET ", 4) == 0
                || (size >= 5 && memcmp (buf, "HEAD ", 5) == 0))))
        abort ();
      if (head != (buf[0] == 'H'))
        abort ();
    }
  else if (head)
    abort ();
  /* Every shorter prefix that is already complete says the same. */
  for (size_t k = 0; k < size && k <= MP_METRICS_HTTP_MAX_REQUEST; k++)
    {
      w = mp_metrics_http_parse (buf, k, &h2);
      if (w != MP_HTTP_INCOMPLETE && (w != v || h2 != head))
        abort ();
    }
  if (v == MP_HTTP_INCOMPLETE)
    {
      const char *nl = memchr (buf, '\n', size);
      size_t first = nl ? (size_t)(nl - buf) : size;

      if (first > MP_METRICS_HTTP_MAX_REQUEST)
        first = MP_METRICS_HTTP_MAX_REQUEST;
      if (memchr (buf, '\0', first) != NULL)
        abort ();
    }
  return 0;
}
