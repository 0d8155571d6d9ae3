/* The OCI distribution client (see registry.h). */
#include "registry/registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/digest.h"
#include "model/manifest.h"
#include "model/mediatype.h"
#include "registry/link.h"
#include "util/base64.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/toml.h"

#define MAX_SMALL (1024 * 1024) /* token and error bodies */
#define ATTEMPTS 4
/* A transfer that moves less than STALL_BYTES in the stall timeout is
 * stalled; one that outlasts the transfer timeout (plus
 * SECONDS_PER_MIB for each MiB it carries: a 64 KiB/s floor) has taken
 * too long. */
#define STALL_TIMEOUT 30
#define STALL_BYTES 1024
#define TRANSFER_TIMEOUT 120
#define SECONDS_PER_MIB 16
#define MAX_REDIRECTS 8
#define RANGE_CHUNK (32 << 20)
#define RANGE_STREAMS 4
#define UPLOAD_CHUNK (64 << 20)
/* O_DIRECT wants buffers, lengths and offsets in whole blocks. */
#define DIRECT_ALIGN 4096
/* A chunk at the head of the blob is written as it arrives, in pieces of
 * at least this much. */
#define FLUSH_MIN (4 << 20)

static const char *const ACCEPT
    = "Accept: application/vnd.oci.image.manifest.v1+json, "
      "application/vnd.oci.image.index.v1+json, "
      "application/vnd.docker.distribution.manifest.v2+json, "
      "application/vnd.docker.distribution.manifest.list.v2+json";

struct token
{
  struct token *next;
  char *key; /* host + " " + scope */
  char *header;
};

struct registry_client
{
  struct registry_options o;
  json_t *auth; /* the config.json, or NULL */
  /* Tokens only ever get added (freed with the client), so a header
   * found stays valid after the lock is dropped. */
  pthread_mutex_t mu;
  struct token *tokens;
  /* Connections taken by large blobs, at most range_streams in all: a
   * blob gets more than one only while the others leave some free. */
  int streams_in_use;
  unsigned long requests; /* HTTP exchanges made (atomic) */
};

/* One place a repository can be reached. */
struct endpoint
{
  char base[600];   /* scheme://host[:port] */
  char prefix[300]; /* "/v2" or the override_path */
  char ca[1024];    /* the one CA file, or "" */
  char *ca_bundle;  /* several: the system bundle and every file, or NULL */
  size_t ca_bundle_len;
  char cert[1024], key[1024];
  bool skip_verify;
  struct curl_slist *headers; /* from hosts.toml */
};

/* ---- setup ----------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once (void)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
}

registry_client *
registry_client_new (const struct registry_options *o, mp_error *err)
{
  registry_client *rc = calloc (1, sizeof *rc);

  pthread_once (&curl_once, curl_init_once);
  if (rc == NULL)
    {
      mp_error_sys (err, ENOMEM, "registry client");
      return NULL;
    }
  rc->o = *o;
  pthread_mutex_init (&rc->mu, NULL);
  if (o->auth_file != NULL && access (o->auth_file, F_OK) == 0)
    {
      json_error_t je;
      rc->auth = json_load_file (o->auth_file, 0, &je);
      if (rc->auth == NULL)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "credentials file %s: %s (line %d)", o->auth_file,
                        je.text, je.line);
          free (rc);
          return NULL;
        }
    }
  return rc;
}

void
registry_client_free (registry_client *rc)
{
  if (rc == NULL)
    return;
  for (struct token *t = rc->tokens, *n; t != NULL; t = n)
    {
      n = t->next;
      free (t->key);
      free (t->header);
      free (t);
    }
  json_decref (rc->auth);
  pthread_mutex_destroy (&rc->mu);
  free (rc);
}

static bool
is_loopback (const char *host)
{
  return (strncmp (host, "localhost", 9) == 0
          && (host[9] == '\0' || host[9] == ':'))
         || strncmp (host, "127.", 4) == 0 || strncmp (host, "[::1]", 5) == 0;
}

/* Append FILE's bytes to BUF (growing it); false if it cannot be read. */
static bool
append_file (char **buf, size_t *len, const char *file)
{
  FILE *f = fopen (file, "re");
  char chunk[16384];
  size_t n;
  bool ok = f != NULL;

  while (ok && (n = fread (chunk, 1, sizeof chunk, f)) > 0)
    {
      char *p = realloc (*buf, *len + n + 2);

      if (p == NULL)
        ok = false;
      else
        {
          *buf = p;
          memcpy (*buf + *len, chunk, n);
          *len += n;
        }
    }
  if (f != NULL)
    fclose (f);
  if (ok && *buf != NULL)
    (*buf)[(*len)++] = '\n';
  return ok;
}

/* A CA of the host's `ca` list.  As with containerd, the listed CAs are
 * added to the system's: one file alone is given to curl as its CA file
 * beside the system's certificate directory; several are joined with the
 * system's bundle into one bundle in memory. */
static void
ca_add (struct endpoint *e, const char *file)
{
  if (e->ca[0] == '\0' && e->ca_bundle == NULL)
    {
      snprintf (e->ca, sizeof e->ca, "%s", file);
      return;
    }
  if (e->ca_bundle == NULL)
    {
      /* The system's bundle first (Debian's path); then the first file. */
      append_file (&e->ca_bundle, &e->ca_bundle_len,
                   "/etc/ssl/certs/ca-certificates.crt");
      append_file (&e->ca_bundle, &e->ca_bundle_len, e->ca);
      e->ca[0] = '\0';
    }
  append_file (&e->ca_bundle, &e->ca_bundle_len, file);
}

static void
endpoint_from_toml (struct endpoint *e, const char *url, const toml_value *t)
{
  const char *s;
  toml_value *v;

  snprintf (e->base, sizeof e->base, "%s", url);
  /* "https://host/path": the path replaces /v2 with override_path. */
  {
    char *p = strstr (e->base, "://");
    char *slash = p ? strchr (p + 3, '/') : NULL;
    bool over = false;
    if (t != NULL)
      toml_get_bool (t, "override_path", &over, NULL);
    if (slash != NULL)
      {
        snprintf (e->prefix, sizeof e->prefix, "%s%s", slash,
                  over ? "" : (strstr (slash, "/v2") ? "" : "/v2"));
        *slash = '\0';
      }
    else
      snprintf (e->prefix, sizeof e->prefix, "/v2");
  }
  if (t == NULL)
    return;
  toml_get_bool (t, "skip_verify", &e->skip_verify, NULL);
  if (toml_get_string (t, "ca", &s, NULL) == 1)
    ca_add (e, s);
  else if (toml_get_array (t, "ca", &v, NULL) == 1)
    for (size_t i = 0; i < toml_array_size (v); i++)
      if (toml_type_of (toml_array_at (v, i)) == TOML_STRING)
        ca_add (e, toml_string (toml_array_at (v, i)));
  if (toml_get_string (t, "client", &s, NULL) == 1)
    snprintf (e->cert, sizeof e->cert, "%s", s);
  else if (toml_get_array (t, "client", &v, NULL) == 1
           && toml_array_size (v) > 0)
    {
      toml_value *first = toml_array_at (v, 0);
      if (toml_type_of (first) == TOML_STRING)
        snprintf (e->cert, sizeof e->cert, "%s", toml_string (first));
      else if (toml_type_of (first) == TOML_ARRAY
               && toml_array_size (first) == 2)
        {
          snprintf (e->cert, sizeof e->cert, "%s",
                    toml_string (toml_array_at (first, 0)));
          snprintf (e->key, sizeof e->key, "%s",
                    toml_string (toml_array_at (first, 1)));
        }
    }
  if (toml_get_table (t, "header", &v, NULL) == 1)
    for (size_t i = 0; i < toml_table_size (v); i++)
      {
        char line[1024];
        toml_value *hv = toml_table_value_at (v, i);
        if (toml_type_of (hv) != TOML_STRING)
          continue;
        snprintf (line, sizeof line, "%s: %s", toml_table_key_at (v, i),
                  toml_string (hv));
        e->headers = curl_slist_append (e->headers, line);
      }
}

static bool
has_capability (const toml_value *t, const char *cap)
{
  toml_value *caps;

  if (toml_get_array (t, "capabilities", &caps, NULL) != 1)
    return true; /* containerd's default: pull, resolve, push */
  for (size_t i = 0; i < toml_array_size (caps); i++)
    {
      toml_value *c = toml_array_at (caps, i);
      if (toml_type_of (c) == TOML_STRING && strcmp (toml_string (c), cap) == 0)
        return true;
    }
  return false;
}

/* The endpoints to try for HOST, in order; *n of at most MAX. */
static int
endpoints_for (registry_client *rc, const char *host, bool push,
               struct endpoint *out, size_t max, size_t *n, mp_error *err)
{
  toml_value *doc = NULL;
  const char *server = NULL;
  char path[1200];

  *n = 0;
  if (rc->o.hosts_dir != NULL)
    {
      const char *names[2] = { host, "_default" };
      for (int k = 0; k < 2 && doc == NULL; k++)
        {
          snprintf (path, sizeof path, "%s/%s/hosts.toml", rc->o.hosts_dir,
                    names[k]);
          if (access (path, F_OK) == 0)
            {
              doc = toml_parse_file (path, err);
              if (doc == NULL)
                return mp_error_prefix (err, "%s", path);
            }
        }
    }
  if (doc != NULL)
    {
      toml_value *hosts = NULL;
      toml_get_string (doc, "server", &server, NULL);
      if (toml_get_table (doc, "host", &hosts, NULL) == 1)
        for (size_t i = 0; i < toml_table_size (hosts) && *n < max - 1; i++)
          {
            toml_value *t = toml_table_value_at (hosts, i);
            if (toml_type_of (t) != TOML_TABLE
                || !has_capability (t, push ? "push" : "pull"))
              continue;
            memset (&out[*n], 0, sizeof out[*n]);
            endpoint_from_toml (&out[*n], toml_table_key_at (hosts, i), t);
            (*n)++;
          }
    }
  memset (&out[*n], 0, sizeof out[*n]);
  if (server != NULL)
    endpoint_from_toml (&out[*n], server, doc);
  else
    {
      char url[600];
      const char *h
          = strcmp (host, "docker.io") == 0 ? "registry-1.docker.io" : host;
      snprintf (url, sizeof url, "%s://%s",
                rc->o.plain_http || is_loopback (host) ? "http" : "https", h);
      endpoint_from_toml (&out[*n], url, doc);
    }
  if (rc->o.plain_http && strncmp (out[*n].base, "https://", 8) == 0)
    {
      char tmp[600];
      snprintf (tmp, sizeof tmp, "http://%s", out[*n].base + 8);
      snprintf (out[*n].base, sizeof out[*n].base, "%s", tmp);
    }
  (*n)++;
  toml_free (doc);
  return 0;
}

static void
endpoints_free (struct endpoint *e, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      curl_slist_free_all (e[i].headers);
      free (e[i].ca_bundle);
    }
}

/* ---- credentials ------------------------------------------------------ */

/* "user:password" for HOST from the config.json, or NULL. */
static char *
credentials_for (registry_client *rc, const char *host)
{
  json_t *auths, *e = NULL, *helpers;
  const char *helper = NULL;
  char key[300];

  if (rc->auth == NULL)
    return NULL;
  auths = json_object_get (rc->auth, "auths");
  if (json_is_object (auths))
    {
      e = json_object_get (auths, host);
      if (e == NULL)
        {
          snprintf (key, sizeof key, "https://%s", host);
          e = json_object_get (auths, key);
        }
      if (e == NULL && strcmp (host, "docker.io") == 0)
        e = json_object_get (auths, "https://index.docker.io/v1/");
    }
  if (json_is_object (e))
    {
      const char *a = json_string_value (json_object_get (e, "auth"));
      const char *u = json_string_value (json_object_get (e, "username"));
      const char *p = json_string_value (json_object_get (e, "password"));
      char *s = NULL;
      if (a != NULL && *a != '\0')
        return mp_base64_decode (a);
      if (u != NULL && p != NULL && asprintf (&s, "%s:%s", u, p) >= 0)
        return s;
    }
  helpers = json_object_get (rc->auth, "credHelpers");
  if (json_is_object (helpers))
    helper = json_string_value (json_object_get (helpers, host));
  if (helper == NULL)
    helper = json_string_value (json_object_get (rc->auth, "credsStore"));
  if (helper != NULL)
    {
      /* docker-credential-<helper> get: the server on stdin, JSON out. */
      char cmd[600];
      cleanup_free char *outbuf = NULL;
      size_t cap = 0;
      FILE *f;
      json_t *j;
      char *s = NULL;

      for (const char *c = helper; *c; c++)
        if (!isalnum ((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
          return NULL;
      for (const char *c = host; *c; c++)
        if (!isalnum ((unsigned char)*c) && !strchr (".-:[]", *c))
          return NULL;
      snprintf (cmd, sizeof cmd, "printf %%s '%s' | docker-credential-%s get",
                host, helper);
      f = popen (cmd, "r");
      if (f == NULL)
        return NULL;
      if (getdelim (&outbuf, &cap, '\0', f) < 0)
        {
          pclose (f);
          return NULL;
        }
      if (pclose (f) != 0)
        return NULL;
      j = json_loads (outbuf, 0, NULL);
      if (json_is_string (json_object_get (j, "Username"))
          && json_is_string (json_object_get (j, "Secret")))
        if (asprintf (&s, "%s:%s",
                      json_string_value (json_object_get (j, "Username")),
                      json_string_value (json_object_get (j, "Secret")))
            < 0)
          s = NULL;
      json_decref (j);
      return s;
    }
  return NULL;
}

/* ---- one HTTP exchange ----------------------------------------------------
 */

struct response
{
  long status;
  char digest[MODEL_DIGEST_MAX + 1]; /* Docker-Content-Digest */
  char location[2048];
  char challenge[1024]; /* WWW-Authenticate */
  char next[2048];      /* Link: <…>; rel="next" (a next page), or "" */
  char *body;           /* small bodies */
  size_t len, max;
  model_blob_writer *w; /* or a blob writer */
  int64_t written;
  mp_error *err;
  bool sink_failed;
  registry_client *rc;
  CURL *curl;
  const char *progress_digest;
  int64_t progress_total;
  struct piece *piece; /* or one Range of a large blob */
  int64_t range_start; /* Content-Range's first byte, or -1 */
  bool body_started;   /* of the current answer */
  /* What a successful answer may carry, for the messages that refuse
   * more or less: WHERE is "host/repo", WHAT "blob sha256:…", DECLARED
   * the size DECLARER ("the manifest") gives it, or -1 (then MAX is the
   * limit: a document of undeclared size). */
  const char *where, *what, *declarer;
  int64_t declared;
  int hdr_status;         /* of the current answer */
  int64_t content_length; /* of the current answer, or -1 */
  bool head;              /* a HEAD: Content-Length is not a body's */
  bool truncated;         /* an error page cut at max */
  bool stalled;           /* the last transfer stalled */
  bool final;             /* a failure retrying cannot mend */
};

static size_t piece_body (struct response *r, long code, const char *buf,
                          size_t len);
static int64_t piece_room (const struct response *r, long code);
static int64_t piece_offset (const struct response *r);

/* "the 10 bytes the manifest declares", or the limit on a document of
 * undeclared size. */
static void
bound_text (const struct response *r, char *buf, size_t n)
{
  if (r->declared >= 0)
    snprintf (buf, n, "the %" PRId64 " bytes %s declares", r->declared,
              r->declarer ? r->declarer : "its descriptor");
  else
    snprintf (buf, n, "the limit of %zu bytes on a document of undeclared size",
              r->max);
}

/* The answer carries more than it may: ANNOUNCED is its Content-Length,
 * or -1 when the bytes themselves went past the bound. */
static size_t
refuse_size (struct response *r, int64_t announced)
{
  char bound[200];

  r->sink_failed = true;
  if (r->what == NULL)
    {
      /* A token, an upload's answer. */
      mp_error_set (r->err, MP_ERR_DATA_LOSS,
                    "the registry's answer is larger than %zu bytes", r->max);
      return 0;
    }
  bound_text (r, bound, sizeof bound);
  if (announced >= 0)
    mp_error_set (r->err, MP_ERR_DATA_LOSS,
                  "%s: %s: the registry announced %" PRId64
                  " bytes (Content-Length), more than %s",
                  r->where, r->what, announced, bound);
  else
    mp_error_set (r->err, MP_ERR_DATA_LOSS,
                  "%s: %s: the registry sent more than %s", r->where, r->what,
                  bound);
  return 0;
}

/* The body a successful answer (CODE) may still carry; -1: no bound. */
static int64_t
body_room (const struct response *r, long code)
{
  if (r->piece != NULL)
    return piece_room (r, code);
  if (r->w != NULL && code == 200)
    return r->declared; /* the whole blob (a resume answered so: see on_body) */
  if (r->w != NULL)
    return r->declared >= 0 ? r->declared - r->written : -1;
  return (int64_t)r->max;
}

static size_t
on_header (char *buf, size_t size, size_t n, void *ctx)
{
  struct response *r = ctx;
  size_t len = size * n;
  char line[2048];
  char *v;

  if (len >= sizeof line)
    return len;
  memcpy (line, buf, len);
  line[len] = '\0';
  if (strncmp (line, "HTTP/", 5) == 0)
    {
      /* A new response (after a redirect or 100): forget the last. */
      const char *sp = strchr (line, ' ');
      r->digest[0] = r->location[0] = r->challenge[0] = r->next[0] = '\0';
      r->range_start = -1;
      r->content_length = -1;
      r->hdr_status = sp ? atoi (sp + 1) : 0;
      r->body_started = false;
      return len;
    }
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
    line[--len] = '\0';
  if (len == 0)
    {
      /* The end of the headers: a body announced larger than what was
       * asked for is refused before a byte of it is read. */
      int64_t room;
      if (r->head || r->content_length < 0 || r->hdr_status < 200
          || r->hdr_status > 299)
        return size * n;
      room = body_room (r, r->hdr_status);
      if (room < 0 || r->content_length <= room)
        return size * n;
      if (r->piece != NULL && r->hdr_status == 206)
        {
          mp_error_set (r->err, MP_ERR_DATA_LOSS,
                        "%s: %s: the registry announced %" PRId64
                        " bytes (Content-Length) for the %" PRId64
                        " asked for at offset %" PRId64,
                        r->where, r->what, r->content_length, room,
                        piece_offset (r));
          r->sink_failed = true;
          return 0;
        }
      return refuse_size (r, r->content_length);
    }
  v = strchr (line, ':');
  if (v == NULL)
    return size * n;
  *v++ = '\0';
  while (*v == ' ')
    v++;
  if (strcasecmp (line, "Docker-Content-Digest") == 0)
    snprintf (r->digest, sizeof r->digest, "%s", v);
  else if (strcasecmp (line, "Location") == 0)
    snprintf (r->location, sizeof r->location, "%s", v);
  else if (strcasecmp (line, "WWW-Authenticate") == 0)
    snprintf (r->challenge, sizeof r->challenge, "%s", v);
  else if (strcasecmp (line, "Link") == 0 && r->next[0] == '\0'
           && !registry_link_next (v, r->next, sizeof r->next))
    r->next[0] = '\0';
  else if (strcasecmp (line, "Content-Range") == 0
           && strncmp (v, "bytes ", 6) == 0)
    r->range_start = strtoll (v + 6, NULL, 10);
  else if (strcasecmp (line, "Content-Length") == 0
           && isdigit ((unsigned char)*v))
    r->content_length = strtoll (v, NULL, 10);
  return size * n;
}

static size_t
on_body (char *buf, size_t size, size_t n, void *ctx)
{
  struct response *r = ctx;
  size_t len = size * n;
  long code = 0;

  curl_easy_getinfo (r->curl, CURLINFO_RESPONSE_CODE, &code);
  if (r->piece != NULL && (code == 200 || code == 206))
    return piece_body (r, code, buf, len);
  if (r->w != NULL && (code == 200 || code == 206))
    {
      if (!r->body_started)
        {
          r->body_started = true;
          if (code == 200 && r->written > 0)
            {
              /* The whole blob again, not the rest: it cannot be
               * appended.  Start over (registry_fetch_blob). */
              mp_error_set (r->err, MP_ERR_UNAVAILABLE,
                            "%s: %s: the registry ignored a Range request; "
                            "retry",
                            r->where, r->what);
              r->sink_failed = true;
              return 0;
            }
          if (code == 206 && r->range_start != r->written)
            {
              mp_error_set (r->err, MP_ERR_DATA_LOSS,
                            "%s: %s: the registry answered a Range request "
                            "from byte %" PRId64 " with bytes from %" PRId64,
                            r->where, r->what, r->written, r->range_start);
              r->sink_failed = true;
              return 0;
            }
        }
      if (r->declared >= 0 && (int64_t)len > r->declared - r->written)
        return refuse_size (r, -1);
      if (model_blob_write (r->w, buf, len, r->err) < 0)
        {
          r->sink_failed = true;
          return 0;
        }
      r->written += (int64_t)len;
      if (r->rc->o.progress != NULL)
        r->rc->o.progress (r->rc->o.progress_ctx, r->progress_digest,
                           r->written, r->progress_total);
      return len;
    }
  if (r->len + len > r->max)
    {
      if (r->w == NULL && code >= 200 && code <= 299)
        return refuse_size (r, -1);
      /* An error page: keep what fits, read no further. */
      len = r->max - r->len;
      r->truncated = true;
    }
  {
    char *b = realloc (r->body, r->len + len + 1);
    if (b == NULL)
      return 0;
    r->body = b;
    memcpy (r->body + r->len, buf, len);
    r->len += len;
    r->body[r->len] = '\0';
  }
  return r->truncated ? 0 : len;
}

struct request
{
  const char *method; /* GET HEAD PUT POST PATCH */
  const char *url;
  const char *auth;   /* "Authorization: ..." or NULL */
  const char *accept; /* an Accept header line or NULL */
  const char *content_type;
  const char *body; /* PUT/POST from memory */
  size_t body_len;
  int upload_fd;             /* PUT/PATCH from a file (>= 0), body_len bytes */
  int64_t upload_off;        /* ... from this offset */
  const char *content_range; /* PATCH: "Content-Range: A-B" */
  int64_t range_from;        /* > 0: Range: bytes=N- */
  int64_t range_to;          /* > 0: Range: bytes=FROM-TO */
  const char *digest;        /* upload progress: the blob, its size */
  int64_t total;
  const struct endpoint *ep;
  int64_t carries;  /* bytes the exchange is to move: its time grows */
  double deadline;  /* CLOCK_MONOTONIC seconds; 0: none (set by exchange) */
  int64_t budget_s; /* what the deadline allowed, for the message */
  bool preset;      /* deadline set by the caller (a range: its blob's) */
};

static double
now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Q's deadline: the transfer timeout from now, plus its share for the
 * bytes Q is to carry. */
static void
set_deadline (registry_client *rc, struct request *q)
{
  int t = rc->o.transfer_timeout;
  int64_t bytes
      = q->carries > (int64_t)q->body_len ? q->carries : (int64_t)q->body_len;

  if (q->preset)
    return;
  q->deadline = 0;
  if (t < 0)
    return;
  q->budget_s
      = (t > 0 ? t : TRANSFER_TIMEOUT) + bytes * SECONDS_PER_MIB / (1 << 20);
  q->deadline = now_s () + (double)q->budget_s;
}

/* The stall watch of one transfer: the bytes moved at the last mark, and
 * when.  A mark is set whenever STALL_BYTES more have moved. */
struct stall_watch
{
  int timeout;           /* seconds; 0: off */
  curl_off_t upload_len; /* a request body: the wait for the answer after
                            it is not watched (the registry may be
                            checking a large blob) */
  curl_off_t mark;
  double mark_t;
  bool stalled;
};

static int
on_progress (void *ctx, curl_off_t dltotal, curl_off_t dlnow,
             curl_off_t ultotal, curl_off_t ulnow)
{
  struct stall_watch *sw = ctx;
  curl_off_t moved = dlnow + ulnow;
  double t;

  (void)dltotal;
  (void)ultotal;
  if (sw->timeout <= 0)
    return 0;
  t = now_s ();
  /* Counters start again after a redirect: that is progress too. */
  if (moved < sw->mark || moved - sw->mark >= STALL_BYTES
      || (sw->upload_len > 0 && ulnow >= sw->upload_len && dlnow == 0))
    {
      sw->mark = moved;
      sw->mark_t = t;
      return 0;
    }
  if (t - sw->mark_t < (double)sw->timeout)
    return 0;
  sw->stalled = true;
  return 1;
}

struct fd_reader
{
  int fd;
  int64_t off, left;
  registry_client *rc;
  const struct request *q;
};

static size_t
read_fd (char *buf, size_t size, size_t n, void *ctx)
{
  struct fd_reader *fr = ctx;
  size_t want = size * n;
  ssize_t r;

  if ((int64_t)want > fr->left)
    want = (size_t)fr->left;
  if (want == 0)
    return 0;
  do
    r = pread (fr->fd, buf, want, fr->off);
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    return CURL_READFUNC_ABORT; /* the file is shorter than it said */
  fr->off += r;
  fr->left -= r;
  if (fr->rc->o.progress != NULL && fr->q->digest != NULL)
    fr->rc->o.progress (fr->rc->o.progress_ctx, fr->q->digest, fr->off,
                        fr->q->total);
  return (size_t)r;
}

/* One exchange.  0 with r->status set, or -1 for a transport failure
 * (*err says what; MP_ERR_UNAVAILABLE). */
static int
perform (registry_client *rc, const struct request *q, struct response *r,
         mp_error *err)
{
  CURL *c;
  struct curl_slist *h = NULL;
  struct fd_reader fr
      = { q->upload_fd, q->upload_off, (int64_t)q->body_len, rc, q };
  struct stall_watch sw = { .mark_t = now_s () };
  bool is_get = strcmp (q->method, "GET") == 0;
  char range[64], subject[MODEL_REF_MAX + 600];
  CURLcode cc;

  /* What the timeout messages name: the blob or manifest, else the URL. */
  if (r->where != NULL && r->what != NULL)
    snprintf (subject, sizeof subject, "%s: %s", r->where, r->what);
  else
    snprintf (subject, sizeof subject, "%s", q->url);
  r->final = false;
  if (q->deadline > 0 && q->deadline - now_s () < 0.001)
    {
      r->final = true;
      return mp_error_set (err, MP_ERR_UNAVAILABLE,
                           "%s: no answer within %" PRId64
                           " s (transfer timeout)",
                           subject, q->budget_s);
    }
  c = curl_easy_init ();
  if (c == NULL)
    return mp_error_set (err, MP_ERR_INTERNAL, "curl init failed");
  __atomic_fetch_add (&rc->requests, 1, __ATOMIC_RELAXED);
  r->curl = c;
  r->rc = rc;
  r->err = err;
  r->status = 0;
  r->head = strcmp (q->method, "HEAD") == 0;
  r->truncated = false;
  r->stalled = false;
  /* Downloads are watched for stalls; a request with a body while it is
   * sent; a bodyless POST or PUT (closing an upload) only by the
   * deadline. */
  if (is_get || r->head || q->upload_fd >= 0 || q->body_len > 0)
    sw.timeout = rc->o.stall_timeout > 0    ? rc->o.stall_timeout
                 : rc->o.stall_timeout == 0 ? STALL_TIMEOUT
                                            : 0;
  if (q->upload_fd >= 0 || q->body_len > 0)
    sw.upload_len = (curl_off_t)q->body_len;
  if (q->deadline > 0)
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS,
                      (long)((q->deadline - now_s ()) * 1000) + 1);
  for (const struct curl_slist *e = q->ep ? q->ep->headers : NULL; e;
       e = e->next)
    h = curl_slist_append (h, e->data);
  if (q->auth != NULL)
    h = curl_slist_append (h, q->auth);
  if (q->accept != NULL)
    h = curl_slist_append (h, q->accept);
  if (q->content_type != NULL)
    {
      char ct[300];
      snprintf (ct, sizeof ct, "Content-Type: %s", q->content_type);
      h = curl_slist_append (h, ct);
    }
  if (q->range_to > 0)
    {
      snprintf (range, sizeof range, "Range: bytes=%" PRId64 "-%" PRId64,
                q->range_from, q->range_to);
      h = curl_slist_append (h, range);
    }
  else if (q->range_from > 0)
    {
      snprintf (range, sizeof range, "Range: bytes=%" PRId64 "-",
                q->range_from);
      h = curl_slist_append (h, range);
    }
  if (q->content_range != NULL)
    h = curl_slist_append (h, q->content_range);
  h = curl_slist_append (h, "Expect:");
  curl_easy_setopt (c, CURLOPT_URL, q->url);
  curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt (c, CURLOPT_USERAGENT, "modelpack/0.1");
  curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (c, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 15L);
  curl_easy_setopt (c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt (c, CURLOPT_XFERINFODATA, &sw);
  curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt (c, CURLOPT_BUFFERSIZE, 512L * 1024);
  if (q->ep != NULL)
    {
      if (q->ep->ca[0])
        {
          curl_easy_setopt (c, CURLOPT_CAINFO, q->ep->ca);
          curl_easy_setopt (c, CURLOPT_CAPATH, "/etc/ssl/certs");
        }
      else if (q->ep->ca_bundle != NULL)
        {
          struct curl_blob blob = { .data = q->ep->ca_bundle,
                                    .len = q->ep->ca_bundle_len,
                                    .flags = CURL_BLOB_NOCOPY };
          curl_easy_setopt (c, CURLOPT_CAINFO_BLOB, &blob);
        }
      if (q->ep->cert[0])
        curl_easy_setopt (c, CURLOPT_SSLCERT, q->ep->cert);
      if (q->ep->key[0])
        curl_easy_setopt (c, CURLOPT_SSLKEY, q->ep->key);
      if (q->ep->skip_verify)
        {
          curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, 0L);
          curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
  if (strcmp (q->method, "HEAD") == 0)
    curl_easy_setopt (c, CURLOPT_NOBODY, 1L);
  else if (q->upload_fd >= 0)
    {
      curl_easy_setopt (c, CURLOPT_UPLOAD, 1L);
      if (strcmp (q->method, "PUT") != 0)
        curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, q->method);
      curl_easy_setopt (c, CURLOPT_READFUNCTION, read_fd);
      curl_easy_setopt (c, CURLOPT_READDATA, &fr);
      curl_easy_setopt (c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
    }
  else if (strcmp (q->method, "GET") != 0)
    {
      curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, q->method);
      curl_easy_setopt (c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
      curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE,
                        (curl_off_t)q->body_len);
    }
  cc = curl_easy_perform (c);
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_slist_free_all (h);
  curl_easy_cleanup (c);
  r->curl = NULL;
  if (r->sink_failed)
    return -1;
  if (cc == CURLE_WRITE_ERROR && r->truncated)
    return 0; /* the error page's first MAX_SMALL bytes are enough */
  r->stalled = cc == CURLE_ABORTED_BY_CALLBACK && sw.stalled;
  if (r->stalled)
    return mp_error_set (err, MP_ERR_UNAVAILABLE,
                         "%s: stalled: less than %d bytes moved in %d s "
                         "(stall timeout)",
                         subject, STALL_BYTES, sw.timeout);
  if (cc == CURLE_OPERATION_TIMEDOUT && q->deadline > 0
      && now_s () >= q->deadline - 0.1)
    {
      r->final = true;
      return mp_error_set (err, MP_ERR_UNAVAILABLE,
                           "%s: not done within %" PRId64
                           " s (transfer timeout)",
                           subject, q->budget_s);
    }
  if (cc == CURLE_TOO_MANY_REDIRECTS)
    {
      r->final = true;
      return mp_error_set (err, MP_ERR_UNAVAILABLE,
                           "%s: too many redirects (more than %d): a "
                           "redirect loop",
                           subject, MAX_REDIRECTS);
    }
  if (cc != CURLE_OK)
    return mp_error_set (err, MP_ERR_UNAVAILABLE, "%s: %s", q->url,
                         curl_easy_strerror (cc));
  return 0;
}

/* ---- large blobs as parallel ranges ------------------------------------ */

/* One blob being fetched as ranges. */
struct ranged
{
  registry_client *rc;
  const struct endpoint *ep;
  const char *host, *repo, *scope, *url, *digest;
  model_blob_writer *w;
  int fd;
  bool direct; /* O_DIRECT set on fd */
  int64_t size, chunk;
  int streams;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int64_t next;     /* the next chunk to hand out */
  int64_t written;  /* bytes written in order (atomic: the head stores) */
  int64_t received; /* atomic, for progress */
  bool range_ok;    /* a 206 was seen: helpers may start */
  bool failed;
  bool final; /* failed in a way retrying cannot mend (atomic) */
  /* One deadline for all the ranges: a registry that trickles cannot
   * stretch the blob's time chunk by chunk. */
  double deadline;
  int64_t budget_s;
  mp_error err;        /* the first failure */
  struct piece *first; /* the caller's: it alone starts helpers */
  struct piece *helpers;
  pthread_t *threads;
  int n_threads;
};

/* A worker's current chunk [start, end) and its buffer: bytes received
 * but not yet written (the chunk is not at the head yet, or less than
 * FLUSH_MIN of it is waiting). */
struct piece
{
  struct ranged *b;
  char *buf; /* DIRECT_ALIGN-aligned, chunk bytes */
  size_t fill;
  int64_t start, end;
  int64_t got;     /* bytes of the chunk received */
  int64_t flushed; /* file offset this chunk is written up to */
  mp_error err;
};

static void
piece_range (struct piece *p, struct request *q)
{
  q->range_from = p->start + p->got;
  q->range_to = p->end - 1;
}

static bool
piece_is_head (struct piece *p)
{
  return __atomic_load_n (&p->b->written, __ATOMIC_ACQUIRE) == p->flushed;
}

/* Write what the buffer holds (only whole blocks unless ALL), through the
 * writer: hashed and appended in order.  Only the head calls this. */
static int
piece_flush (struct piece *p, bool all, mp_error *err)
{
  struct ranged *b = p->b;
  size_t n = all ? p->fill : p->fill & ~(size_t)(DIRECT_ALIGN - 1);

  if (n == 0)
    return 0;
  if (b->direct && n % DIRECT_ALIGN != 0)
    {
      /* The blob's tail is not a whole block: write it through the page
       * cache. */
      int fl = fcntl (b->fd, F_GETFL);
      if (fl < 0 || fcntl (b->fd, F_SETFL, fl & ~O_DIRECT) < 0)
        return mp_error_sys (err, errno, "blob %s", b->digest);
      b->direct = false;
    }
  if (model_blob_write (b->w, p->buf, n, err) < 0)
    return -1;
  memmove (p->buf, p->buf + n, p->fill - n);
  p->fill -= n;
  p->flushed += (int64_t)n;
  __atomic_store_n (&b->written, p->flushed, __ATOMIC_RELEASE);
  return 0;
}

static void *range_worker (void *arg);

static bool
stream_take (registry_client *rc, bool force)
{
  bool ok;
  int max = rc->o.range_streams > 0 ? rc->o.range_streams : RANGE_STREAMS;

  pthread_mutex_lock (&rc->mu);
  ok = force || rc->streams_in_use < max;
  if (ok)
    rc->streams_in_use++;
  pthread_mutex_unlock (&rc->mu);
  return ok;
}

static void
stream_give (registry_client *rc)
{
  pthread_mutex_lock (&rc->mu);
  rc->streams_in_use--;
  pthread_mutex_unlock (&rc->mu);
}

static void *
range_helper (void *arg)
{
  struct piece *p = arg;

  range_worker (p);
  stream_give (p->b->rc);
  return NULL;
}

/* Once the registry has shown it serves ranges, another stream starts
 * whenever chunks are waiting and the client has a connection to spare. */
static void
ranged_add_helper (struct ranged *b)
{
  struct piece *h;
  bool want;

  pthread_mutex_lock (&b->mu);
  want = b->range_ok && !b->failed && b->n_threads < b->streams - 1
         && b->next < (b->size + b->chunk - 1) / b->chunk;
  pthread_mutex_unlock (&b->mu);
  if (!want || !stream_take (b->rc, false))
    return;
  h = &b->helpers[b->n_threads];
  h->b = b;
  if (posix_memalign ((void **)&h->buf, DIRECT_ALIGN, (size_t)b->chunk) != 0
      || pthread_create (&b->threads[b->n_threads], NULL, range_helper, h) != 0)
    {
      free (h->buf);
      h->buf = NULL;
      stream_give (b->rc);
      return;
    }
  b->n_threads++;
}

/* Where a piece's next byte goes in the blob. */
static int64_t
piece_offset (const struct response *r)
{
  return r->piece->start + r->piece->got;
}

/* What a piece's answer may carry: the rest of the range asked for, or
 * for a 200 (no Range support) the whole blob. */
static int64_t
piece_room (const struct response *r, long code)
{
  const struct piece *p = r->piece;

  if (code == 200)
    return p->b->size;
  return p->end - p->start - p->got;
}

static size_t
piece_body (struct response *r, long code, const char *buf, size_t len)
{
  struct piece *p = r->piece;
  struct ranged *b = p->b;

  if (!r->body_started)
    {
      r->body_started = true;
      if (code == 200 && p->start == 0 && p->got == 0)
        {
          /* No Range support (a first answer of 200): this one stream
           * takes the whole blob. */
          pthread_mutex_lock (&b->mu);
          if (!b->range_ok)
            {
              p->end = b->size;
              b->next = INT64_MAX / b->chunk;
            }
          pthread_mutex_unlock (&b->mu);
        }
      if (p->end - p->start > b->chunk && code == 200)
        {
          if (r->written > 0 || p->got > 0)
            goto ignored;
        }
      else if (code != 206 || r->range_start != p->start + p->got)
        goto ignored;
      else if (!b->range_ok)
        {
          pthread_mutex_lock (&b->mu);
          b->range_ok = true;
          pthread_mutex_unlock (&b->mu);
        }
    }
  if ((int64_t)len > p->end - p->start - p->got)
    {
      if (p->end == b->size && p->start == 0)
        return refuse_size (r, -1);
      mp_error_set (r->err, MP_ERR_DATA_LOSS,
                    "%s: blob %s: the registry sent more than the %" PRId64
                    " bytes asked for at offset %" PRId64,
                    r->where, b->digest, p->end - p->start, p->start);
      r->sink_failed = true;
      return 0;
    }
  for (size_t off = 0; off < len;)
    {
      size_t room = (size_t)b->chunk - p->fill;
      size_t k = len - off < room ? len - off : room;

      memcpy (p->buf + p->fill, buf + off, k);
      p->fill += k;
      p->got += (int64_t)k;
      off += k;
      if ((p->fill >= FLUSH_MIN || p->fill == (size_t)b->chunk)
          && piece_is_head (p) && piece_flush (p, false, r->err) < 0)
        {
          r->sink_failed = true;
          return 0;
        }
      if (p->fill == (size_t)b->chunk && off < len)
        {
          /* Only a single whole-blob stream outgrows its buffer, and it
           * is always the head: a full buffer is a bug. */
          mp_error_set (r->err, MP_ERR_INTERNAL, "blob %s: buffer full",
                        b->digest);
          r->sink_failed = true;
          return 0;
        }
    }
  if (b->rc->o.progress != NULL)
    b->rc->o.progress (
        b->rc->o.progress_ctx, b->digest,
        __atomic_add_fetch (&b->received, (int64_t)len, __ATOMIC_RELAXED),
        b->size);
  return len;
ignored:
  mp_error_set (r->err, MP_ERR_UNAVAILABLE,
                "%s ignored a Range request for blob %s; retry", b->host,
                b->digest);
  r->sink_failed = true;
  return 0;
}

/* ---- authentication --------------------------------------------------- */

/* The value of PARAM="..." in a challenge. */
static bool
challenge_param (const char *ch, const char *param, char *out, size_t n)
{
  size_t pl = strlen (param);

  for (const char *p = ch; (p = strstr (p, param)) != NULL; p += pl)
    if ((p == ch || p[-1] == ' ' || p[-1] == ',') && p[pl] == '='
        && p[pl + 1] == '"')
      {
        const char *v = p + pl + 2, *e = strchr (v, '"');
        if (e == NULL || (size_t)(e - v) >= n)
          return false;
        memcpy (out, v, (size_t)(e - v));
        out[e - v] = '\0';
        return true;
      }
  return false;
}

static char *
url_escape (const char *s)
{
  char *e = curl_easy_escape (NULL, s, 0);
  char *out = e ? strdup (e) : NULL;
  curl_free (e);
  return out;
}

/* Answer CHALLENGE for HOST: *HEADER gets the Authorization line.  A
 * bearer token is asked for the challenge's scope plus each of WANT's
 * (space-separated) that it lacks: a mount needs pull on the source
 * repository, which not every registry names in its challenge. */
static int
authenticate (registry_client *rc, const struct endpoint *ep, const char *host,
              const char *challenge, const char *want, char **header,
              mp_error *err)
{
  cleanup_free char *creds = credentials_for (rc, host);

  *header = NULL;
  if (strncasecmp (challenge, "Basic", 5) == 0)
    {
      cleanup_free char *enc = NULL;
      if (creds == NULL)
        return mp_error_set (err, MP_ERR_UNAUTHENTICATED,
                             "%s asks for credentials and %s has none for "
                             "it (modelpack login %s)",
                             host, rc->o.auth_file ? rc->o.auth_file : "-",
                             host);
      enc = mp_base64_encode (creds);
      if (enc == NULL || asprintf (header, "Authorization: Basic %s", enc) < 0)
        return mp_error_sys (err, ENOMEM, "auth");
      return 0;
    }
  if (strncasecmp (challenge, "Bearer", 6) == 0)
    {
      char realm[1024], service[512] = "", scope[1024] = "", url[4096];
      cleanup_free char *es = NULL, *esc = NULL;
      struct response r = { .max = MAX_SMALL };
      struct request q
          = { .method = "GET", .url = url, .upload_fd = -1, .ep = ep };
      cleanup_free char *basic = NULL, *enc = NULL;
      json_t *j;
      const char *tok;

      if (!challenge_param (challenge, "realm", realm, sizeof realm))
        return mp_error_set (err, MP_ERR_UNAUTHENTICATED,
                             "%s: a bearer challenge without a realm", host);
      challenge_param (challenge, "service", service, sizeof service);
      challenge_param (challenge, "scope", scope, sizeof scope);
      es = url_escape (service);
      esc = url_escape (scope);
      snprintf (url, sizeof url, "%s%sservice=%s%s%s", realm,
                strchr (realm, '?') ? "&" : "?", es ? es : "",
                scope[0] ? "&scope=" : "", scope[0] && esc ? esc : "");
      for (const char *w = want; w != NULL && *w != '\0';)
        {
          size_t wl = strcspn (w, " ");
          char one[600];
          if (wl > 0 && wl < sizeof one)
            {
              cleanup_free char *eo = NULL;
              memcpy (one, w, wl);
              one[wl] = '\0';
              if (strstr (scope, one) == NULL && (eo = url_escape (one)) != NULL
                  && strlen (url) + strlen (eo) + 8 < sizeof url)
                {
                  strcat (url, "&scope=");
                  strcat (url, eo);
                }
            }
          w += wl;
          w += strspn (w, " ");
        }
      if (creds != NULL)
        {
          enc = mp_base64_encode (creds);
          if (enc == NULL
              || asprintf (&basic, "Authorization: Basic %s", enc) < 0)
            return mp_error_sys (err, ENOMEM, "auth");
          q.auth = basic;
        }
      set_deadline (rc, &q);
      if (perform (rc, &q, &r, err) < 0)
        {
          free (r.body);
          return mp_error_prefix (err, "token for %s", host);
        }
      if (r.status == 401 || r.status == 403)
        {
          free (r.body);
          return mp_error_set (err, MP_ERR_UNAUTHENTICATED,
                               "%s: the token service %s refused %s "
                               "(HTTP %ld)",
                               host, realm,
                               creds ? "the credentials" : "anonymous access",
                               r.status);
        }
      j = r.status == 200 ? json_loadb (r.body ? r.body : "", r.len, 0, NULL)
                          : NULL;
      free (r.body);
      tok = json_string_value (json_object_get (j, "token"));
      if (tok == NULL)
        tok = json_string_value (json_object_get (j, "access_token"));
      if (tok == NULL || asprintf (header, "Authorization: Bearer %s", tok) < 0)
        {
          json_decref (j);
          return mp_error_set (err, MP_ERR_UNAUTHENTICATED,
                               "%s: no token from %s (HTTP %ld)", host, realm,
                               r.status);
        }
      json_decref (j);
      return 0;
    }
  return mp_error_set (err, MP_ERR_UNAUTHENTICATED,
                       "%s: unsupported authentication \"%.60s\"", host,
                       challenge);
}

static const char *
token_get (registry_client *rc, const char *key)
{
  const char *h = NULL;

  pthread_mutex_lock (&rc->mu);
  for (struct token *t = rc->tokens; t != NULL && h == NULL; t = t->next)
    if (strcmp (t->key, key) == 0)
      h = t->header;
  pthread_mutex_unlock (&rc->mu);
  return h;
}

static void
token_put (registry_client *rc, const char *key, char *header)
{
  struct token *t = calloc (1, sizeof *t);

  if (t == NULL || (t->key = strdup (key)) == NULL)
    {
      free (t);
      free (header);
      return;
    }
  t->header = header;
  pthread_mutex_lock (&rc->mu);
  t->next = rc->tokens;
  rc->tokens = t;
  pthread_mutex_unlock (&rc->mu);
}

/* ---- requests with auth and retries ------------------------------------ */

/* The wait before retry ATTEMPT + 1: 0.25 s, 0.5 s, 1 s... */
static double
backoff_s (int attempt)
{
  return 0.25 * (double)(1 << attempt);
}

static void
backoff (int attempt)
{
  struct timespec ts = { 0, 250000000L << attempt };
  while (ts.tv_nsec >= 1000000000L)
    {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
  nanosleep (&ts, NULL);
}

/* Q against endpoint EP for HOST, authenticating on a 401 and retrying
 * transport failures and 5xx/429, all within Q's deadline.  A stall is
 * retried once; a timeout or a redirect loop not at all (r->final).  Blob
 * downloads (r->w set) resume from what was written. */
static int
exchange (registry_client *rc, const struct endpoint *ep, const char *host,
          const char *scope, struct request *q, struct response *r,
          mp_error *err)
{
  char key[2700];
  bool authed = false;
  int stalls = 0;

  snprintf (key, sizeof key, "%s %s", host, scope);
  set_deadline (rc, q);
  for (int attempt = 0;; attempt++)
    {
      int rc_;

      q->auth = token_get (rc, key);
      q->ep = ep;
      if (r->w != NULL)
        q->range_from = r->written;
      if (r->piece != NULL)
        piece_range (r->piece, q);
      free (r->body);
      r->body = NULL;
      r->len = 0;
      mp_error_clear (err);
      rc_ = perform (rc, q, r, err);
      if (rc_ < 0 && (r->sink_failed || r->final))
        return -1;
      if (rc_ < 0 && r->stalled && stalls++ > 0)
        {
          r->final = true;
          return -1;
        }
      if (rc_ == 0 && r->status == 401 && !authed && r->challenge[0])
        {
          char *hdr = NULL;
          if (authenticate (rc, ep, host, r->challenge, scope, &hdr, err) < 0)
            return -1;
          token_put (rc, key, hdr);
          authed = true;
          attempt--;
          continue;
        }
      if (rc_ == 0 && r->w != NULL && q->range_from > 0 && r->status == 200)
        {
          /* The registry ignored the Range: it sent the whole blob after
           * what we had; that cannot be appended.  Start over. */
          return mp_error_set (err, MP_ERR_UNAVAILABLE,
                               "%s ignored a Range request; retry", host);
        }
      if (rc_ == 0 && r->status != 429 && r->status < 500)
        return 0;
      if (attempt + 1 >= ATTEMPTS)
        {
          if (rc_ == 0)
            mp_error_set (err, MP_ERR_UNAVAILABLE,
                          "%s: HTTP %ld after %d attempts", q->url, r->status,
                          ATTEMPTS);
          return -1;
        }
      if (q->deadline > 0 && now_s () + backoff_s (attempt) >= q->deadline)
        {
          /* The retry would start after the deadline: say what failed. */
          char why[sizeof err->msg];
          if (rc_ == 0)
            snprintf (why, sizeof why, "%s: HTTP %ld", q->url, r->status);
          else
            snprintf (why, sizeof why, "%s", err->msg);
          r->final = true;
          return mp_error_set (err, MP_ERR_UNAVAILABLE,
                               "%.900s; no time left for a retry within "
                               "%" PRId64 " s (transfer timeout)",
                               why, q->budget_s);
        }
      mp_log_info ("registry: %s: %s; retrying", q->url,
                   rc_ < 0 ? err->msg : "server error");
      backoff (attempt);
    }
}

static int
status_error (const struct response *r, const char *host, const char *repo,
              const char *what, mp_error *err)
{
  if (r->status == 401)
    return mp_error_set (err, MP_ERR_UNAUTHENTICATED,
                         "%s/%s: authentication failed for %s", host, repo,
                         what);
  if (r->status == 403)
    return mp_error_set (err, MP_ERR_PERMISSION_DENIED,
                         "%s/%s: access to %s denied", host, repo, what);
  if (r->status == 404)
    return mp_error_set (err, MP_ERR_NOT_FOUND, "%s not found in %s/%s", what,
                         host, repo);
  return mp_error_set (err, MP_ERR_UNAVAILABLE, "%s/%s: %s: HTTP %ld", host,
                       repo, what, r->status);
}

/* ---- operations --------------------------------------------------------- */

#define MAX_ENDPOINTS 8

/* A small document: a manifest, a referrers index, a signature blob. */
struct doc
{
  const char *kind;     /* "manifests", "blobs", "referrers" */
  const char *id;       /* tag or digest */
  const char *query;    /* appended to the URL ("?artifactType=…"), or "" */
  const char *accept;   /* an Accept header line, or NULL */
  const char *what;     /* "manifest sha256:…", for messages */
  const char *declarer; /* who declares SIZE */
  int64_t size;         /* declared, or -1: at most MODEL_MAX_DOCUMENT */
};

/* GET document D of REF's repository into memory, from the first endpoint
 * that has it (the next one when one is down or answers 404).  0 with *OUT
 * the answer, whatever its status (its body is the caller's to free); -1
 * when no endpoint could be reached. */
static int
get_doc (registry_client *rc, const model_reference *ref, const struct doc *d,
         struct response *out, mp_error *err)
{
  struct endpoint eps[MAX_ENDPOINTS];
  size_t n = 0;
  char where[MODEL_REF_MAX + 300], scope[1200];
  int ret = -1;

  snprintf (where, sizeof where, "%s/%s", ref->host, ref->path);
  if (d->size > MODEL_MAX_DOCUMENT)
    return mp_error_set (
        err, MP_ERR_INVALID_ARGUMENT,
        "%s: %s: %s declares %" PRId64 " bytes, more than the %d a %s may have",
        where, d->what, d->declarer, d->size, MODEL_MAX_DOCUMENT,
        strcmp (d->kind, "manifests") == 0 ? "manifest" : "document");
  snprintf (scope, sizeof scope, "repository:%s:pull", ref->path);
  if (endpoints_for (rc, ref->host, false, eps, MAX_ENDPOINTS, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      char url[40960];
      struct response r
          = { .max = d->size >= 0 ? (size_t)d->size : MODEL_MAX_DOCUMENT,
              .where = where,
              .what = d->what,
              .declared = d->size,
              .declarer = d->declarer };
      struct request q = {
        .method = "GET", .url = url, .accept = d->accept, .upload_fd = -1
      };

      snprintf (url, sizeof url, "%s%s/%s/%s/%s%s", eps[i].base, eps[i].prefix,
                ref->path, d->kind, d->id, d->query);
      if (exchange (rc, &eps[i], ref->host, scope, &q, &r, err) < 0)
        {
          free (r.body);
          if (err->code == MP_ERR_UNAVAILABLE && i + 1 < n)
            continue; /* a mirror down: the next one */
          goto out;
        }
      if (r.status == 404 && i + 1 < n)
        {
          free (r.body);
          continue;
        }
      r.where = r.what = r.declarer = NULL;
      *out = r;
      ret = 0;
      goto out;
    }
out:
  endpoints_free (eps, n);
  return ret;
}

/* R's body is exactly SIZE bytes (when declared) of digest WANT (or, when
 * NULL, of the registry's Docker-Content-Digest if it sent one); *GOT gets
 * its digest. */
static int
check_doc (const model_reference *ref, const struct doc *d,
           const struct response *r, const char *want, model_digest *got,
           mp_error *err)
{
  model_digest expect;

  if (d->size >= 0 && (int64_t)r->len != d->size)
    return mp_error_set (err, MP_ERR_DATA_LOSS,
                         "%s/%s: %s: the registry sent %zu bytes, fewer than "
                         "the %" PRId64 " bytes %s declares",
                         ref->host, ref->path, d->what, r->len, d->size,
                         d->declarer);
  if (model_digest_buffer (MODEL_DIGEST_SHA256, r->body ? r->body : "", r->len,
                           got, err)
      < 0)
    return -1;
  if (want == NULL && r->digest[0] == '\0')
    return 0;
  if (model_digest_parse (want ? want : r->digest, &expect, err) < 0)
    return -1;
  if (expect.algo != MODEL_DIGEST_SHA256
      && model_digest_buffer (expect.algo, r->body ? r->body : "", r->len, got,
                              err)
             < 0)
    return -1;
  if (!model_digest_equal (&expect, got))
    return mp_error_set (err, MP_ERR_DATA_LOSS,
                         "%s/%s: the %s served for %s has digest %s, not %s",
                         ref->host, ref->path,
                         strcmp (d->kind, "blobs") == 0 ? "blob" : "manifest",
                         d->what, got->str, expect.str);
  return 0;
}

int
registry_get_manifest (registry_client *rc, const model_reference *ref,
                       const char *digest_or_null, int64_t size,
                       char **media_type, char **digest, char **body,
                       size_t *len, mp_error *err)
{
  const char *want = digest_or_null   ? digest_or_null
                     : ref->digest[0] ? ref->digest
                                      : NULL;
  char what[300];
  struct doc d = { .kind = "manifests",
                   .id = want ? want : ref->tag,
                   .query = "",
                   .accept = ACCEPT,
                   .what = what,
                   .declarer = "the index",
                   .size = size };
  struct response r = { 0 };
  model_digest got;

  snprintf (what, sizeof what, want ? "manifest %s" : "tag %s",
            want ? want : ref->tag);
  if (get_doc (rc, ref, &d, &r, err) < 0)
    return -1;
  if (r.status != 200)
    {
      free (r.body);
      return status_error (&r, ref->host, ref->path, what, err);
    }
  if (check_doc (ref, &d, &r, want, &got, err) < 0)
    {
      free (r.body);
      return -1;
    }
  {
    json_t *j = json_loadb (r.body ? r.body : "", r.len, 0, NULL);
    const char *mt = json_string_value (json_object_get (j, "mediaType"));
    *media_type = strdup (mt ? mt
                          : json_object_get (j, "manifests")
                              ? MODEL_OCI_MEDIA_TYPE_INDEX
                              : MODEL_OCI_MEDIA_TYPE_MANIFEST);
    json_decref (j);
  }
  *digest = strdup (got.str);
  *body = r.body;
  *len = r.len;
  return 0;
}

int
registry_get_blob (registry_client *rc, const model_reference *ref,
                   const char *digest, int64_t size, char **body, size_t *len,
                   mp_error *err)
{
  char what[300];
  struct doc d = { .kind = "blobs",
                   .id = digest,
                   .query = "",
                   .what = what,
                   .declarer = "its descriptor",
                   .size = size };
  struct response r = { 0 };
  model_digest got;

  snprintf (what, sizeof what, "blob %s", digest);
  if (size < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "blob %s: no size declared", digest);
  if (get_doc (rc, ref, &d, &r, err) < 0)
    return -1;
  if (r.status != 200)
    {
      free (r.body);
      return status_error (&r, ref->host, ref->path, what, err);
    }
  if (check_doc (ref, &d, &r, digest, &got, err) < 0)
    {
      free (r.body);
      return -1;
    }
  if (r.body == NULL && (r.body = strdup ("")) == NULL)
    return mp_error_sys (err, ENOMEM, "blob %s", digest);
  *body = r.body;
  *len = r.len;
  return 0;
}

/* One page of the referrers of DIGEST, with QUERY. */
static int
referrers_page (registry_client *rc, const model_reference *ref,
                const char *digest, const char *query, struct response *r,
                mp_error *err)
{
  char what[300];
  struct doc d = { .kind = "referrers",
                   .id = digest,
                   .query = query,
                   .accept = "Accept: " MODEL_OCI_MEDIA_TYPE_INDEX,
                   .what = what,
                   .declarer = "",
                   .size = -1 };

  snprintf (what, sizeof what, "referrers of %s", digest);
  if (get_doc (rc, ref, &d, r, err) < 0)
    return -1;
  /* The API is OCI 1.1's: a registry without it answers 404 (or, behind
   * some proxies, another 4xx for a path it does not route). */
  if (r->status == 404 || r->status == 400 || r->status == 405
      || r->status == 501)
    {
      free (r->body);
      r->body = NULL;
      return mp_error_set (err, MP_ERR_UNIMPLEMENTED,
                           "%s/%s: the registry has no referrers API (HTTP "
                           "%ld)",
                           ref->host, ref->path, r->status);
    }
  if (r->status != 200)
    {
      int ret = status_error (r, ref->host, ref->path, what, err);

      free (r->body);
      r->body = NULL;
      return ret;
    }
  return 0;
}

int
registry_get_referrers (registry_client *rc, const model_reference *ref,
                        const char *digest, const char *artifact_type,
                        char **body, size_t *len, int *pages, mp_error *err)
{
  char query[600] = "";
  json_t *merged = NULL;
  int ret = -1;
  size_t total = 0;
  int n = 0;

  if (pages != NULL)
    *pages = 0;
  if (artifact_type != NULL)
    {
      cleanup_free char *esc = url_escape (artifact_type);
      if (esc == NULL)
        return mp_error_sys (err, ENOMEM, "referrers");
      snprintf (query, sizeof query, "?artifactType=%s", esc);
    }
  for (;;)
    {
      struct response r = { 0 };
      json_t *doc, *list;
      json_error_t je;
      const char *next;

      if (referrers_page (rc, ref, digest, query, &r, err) < 0)
        goto out;
      n++;
      total += r.len;
      if (total > MODEL_MAX_DOCUMENT)
        {
          free (r.body);
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "%s/%s: the referrers of %s take more than %d bytes",
                        ref->host, ref->path, digest, MODEL_MAX_DOCUMENT);
          goto out;
        }
      if (r.next[0] == '\0' && merged == NULL)
        {
          /* One page: handed on as the registry wrote it. */
          if (r.body == NULL && (r.body = strdup ("")) == NULL)
            return mp_error_sys (err, ENOMEM, "referrers");
          *body = r.body;
          *len = r.len;
          if (pages != NULL)
            *pages = n;
          return 0;
        }
      doc = json_loadb (r.body ? r.body : "", r.len, JSON_REJECT_DUPLICATES,
                        &je);
      free (r.body);
      list = doc ? json_object_get (doc, "manifests") : NULL;
      if (!json_is_array (list))
        {
          json_decref (doc);
          mp_error_set (err, MP_ERR_DATA_LOSS,
                        "%s/%s: page %d of the referrers of %s is not an "
                        "image index",
                        ref->host, ref->path, n, digest);
          goto out;
        }
      if (merged == NULL)
        merged = doc;
      else
        {
          json_array_extend (json_object_get (merged, "manifests"), list);
          json_decref (doc);
        }
      next = r.next[0]
                 ? registry_referrers_next_query (r.next, ref->path, digest)
                 : NULL;
      if (r.next[0] != '\0' && next == NULL)
        mp_log_warn ("%s/%s: referrers of %s: the next-page link is not "
                     "for this list, not followed: %s",
                     ref->host, ref->path, digest, r.next);
      if (next != NULL && n >= REGISTRY_REFERRERS_PAGES)
        mp_log_warn ("%s/%s: referrers of %s: more than %d pages, the rest "
                     "not read",
                     ref->host, ref->path, digest, REGISTRY_REFERRERS_PAGES);
      if (next == NULL || n >= REGISTRY_REFERRERS_PAGES)
        break;
      snprintf (query, sizeof query, "%s", next);
    }
  *body = json_dumps (merged, JSON_COMPACT);
  if (*body == NULL)
    {
      mp_error_sys (err, ENOMEM, "referrers");
      goto out;
    }
  *len = strlen (*body);
  if (pages != NULL)
    *pages = n;
  ret = 0;
out:
  json_decref (merged);
  return ret;
}

unsigned long
registry_client_requests (const registry_client *rc)
{
  return __atomic_load_n (&rc->requests, __ATOMIC_RELAXED);
}

static void
ranged_fail (struct ranged *b, const mp_error *e)
{
  pthread_mutex_lock (&b->mu);
  if (!b->failed)
    b->err = *e;
  b->failed = true;
  pthread_cond_broadcast (&b->cv);
  pthread_mutex_unlock (&b->mu);
}

/* Fetch P's chunk (retried and resumed by exchange). */
static int
piece_fetch (struct piece *p, mp_error *err)
{
  struct ranged *b = p->b;
  char where[MODEL_REF_MAX + 300], what[200];
  struct response r = { .max = MAX_SMALL,
                        .piece = p,
                        .where = where,
                        .what = what,
                        .declared = b->size,
                        .declarer = "the manifest" };
  struct request q = { .method = "GET",
                       .url = b->url,
                       .upload_fd = -1,
                       .range_to = -1,
                       .deadline = b->deadline,
                       .budget_s = b->budget_s,
                       .preset = true };
  int e;

  snprintf (where, sizeof where, "%s/%s", b->host, b->repo);
  snprintf (what, sizeof what, "blob %s", b->digest);
  e = exchange (b->rc, b->ep, b->host, b->scope, &q, &r, err);
  free (r.body);
  if (e < 0)
    {
      if (r.final)
        __atomic_store_n (&b->final, true, __ATOMIC_RELAXED);
      return -1;
    }
  if (r.status != 200 && r.status != 206)
    return status_error (&r, b->host, b->repo, what, err);
  if (p->got != p->end - p->start)
    return mp_error_set (err, MP_ERR_DATA_LOSS,
                         "%s: %s: the registry sent %" PRId64
                         " bytes, fewer than the %" PRId64
                         " asked for at offset %" PRId64,
                         where, what, p->got, p->end - p->start, p->start);
  return 0;
}

/* Take chunks in order until none is left: fetch one, wait until every
 * byte before it is written, write it, take the next. */
static void *
range_worker (void *arg)
{
  struct piece *p = arg;
  struct ranged *b = p->b;

  for (;;)
    {
      int64_t i;

      pthread_mutex_lock (&b->mu);
      if (b->failed || b->next >= (b->size + b->chunk - 1) / b->chunk)
        {
          pthread_mutex_unlock (&b->mu);
          return NULL;
        }
      i = b->next++;
      pthread_mutex_unlock (&b->mu);
      if (p == b->first)
        ranged_add_helper (b);
      p->start = p->flushed = i * b->chunk;
      p->end = p->start + b->chunk < b->size ? p->start + b->chunk : b->size;
      p->got = 0;
      p->fill = 0;
      if (piece_fetch (p, &p->err) < 0)
        {
          ranged_fail (b, &p->err);
          return NULL;
        }
      pthread_mutex_lock (&b->mu);
      while (!b->failed && !piece_is_head (p))
        pthread_cond_wait (&b->cv, &b->mu);
      pthread_mutex_unlock (&b->mu);
      if (b->failed)
        return NULL;
      if (piece_flush (p, true, &p->err) < 0)
        {
          ranged_fail (b, &p->err);
          return NULL;
        }
      pthread_mutex_lock (&b->mu);
      pthread_cond_broadcast (&b->cv);
      pthread_mutex_unlock (&b->mu);
    }
}

/* Fetch URL (SIZE bytes) into W as ranges; see registry.h. */
static int
ranged_fetch (registry_client *rc, const struct endpoint *ep,
              const model_reference *ref, const char *scope, const char *url,
              const char *digest, model_blob_writer *w, int64_t size,
              int64_t chunk, bool *final, mp_error *err)
{
  struct ranged b = { .rc = rc,
                      .ep = ep,
                      .host = ref->host,
                      .repo = ref->path,
                      .scope = scope,
                      .url = url,
                      .digest = digest,
                      .w = w,
                      .fd = model_blob_writer_fd (w),
                      .size = size,
                      .chunk = chunk,
                      .streams = rc->o.range_streams > 0 ? rc->o.range_streams
                                                         : RANGE_STREAMS };
  struct piece first = { .b = &b };
  struct request whole = { .carries = size };
  int fl = fcntl (b.fd, F_GETFL);

  set_deadline (rc, &whole);
  b.deadline = whole.deadline;
  b.budget_s = whole.budget_s;
  b.first = &first;
  b.helpers = calloc ((size_t)b.streams, sizeof *b.helpers);
  b.threads = calloc ((size_t)b.streams, sizeof *b.threads);
  if (b.helpers == NULL || b.threads == NULL)
    {
      free (b.helpers);
      free (b.threads);
      return mp_error_sys (err, ENOMEM, "blob %s", digest);
    }

  /* Straight from our buffers to the disk: the page-cache copy is what a
   * pull of many GiB spends most of its system time on. */
  b.direct = fl >= 0 && fcntl (b.fd, F_SETFL, fl | O_DIRECT) == 0;
  if (posix_memalign ((void **)&first.buf, DIRECT_ALIGN, (size_t)chunk) != 0)
    {
      free (b.helpers);
      free (b.threads);
      return mp_error_sys (err, ENOMEM, "blob %s", digest);
    }
  pthread_mutex_init (&b.mu, NULL);
  pthread_cond_init (&b.cv, NULL);
  stream_take (rc, true);
  range_worker (&first);
  stream_give (rc);
  for (int i = 0; i < b.n_threads; i++)
    {
      pthread_join (b.threads[i], NULL);
      free (b.helpers[i].buf);
    }
  free (b.helpers);
  free (b.threads);
  free (first.buf);
  pthread_cond_destroy (&b.cv);
  pthread_mutex_destroy (&b.mu);
  if (b.direct && fl >= 0)
    fcntl (b.fd, F_SETFL, fl);
  if (b.failed)
    {
      *err = b.err;
      *final = b.final;
      return -1;
    }
  if (b.written != size)
    return mp_error_set (err, MP_ERR_INTERNAL,
                         "blob %s: %" PRId64 " of %" PRId64 " bytes written",
                         digest, b.written, size);
  return 0;
}

int
registry_fetch_blob (registry_client *rc, const model_reference *ref,
                     const model_blob_sink *sink, const char *digest,
                     int64_t size, mp_error *err)
{
  struct endpoint eps[MAX_ENDPOINTS];
  size_t n = 0;
  char scope[1200], what[200], where[MODEL_REF_MAX + 300];
  int64_t chunk = rc->o.range_chunk > 0 ? rc->o.range_chunk : RANGE_CHUNK;
  int ret = -1;

  chunk = (chunk + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
  if (model_blob_sink_has (sink, digest))
    return 0;
  if (size < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "blob %s: no size declared", digest);
  snprintf (scope, sizeof scope, "repository:%s:pull", ref->path);
  snprintf (what, sizeof what, "blob %s", digest);
  snprintf (where, sizeof where, "%s/%s", ref->host, ref->path);
  if (endpoints_for (rc, ref->host, false, eps, MAX_ENDPOINTS, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n && ret < 0; i++)
    for (int restart = 0; restart < 2 && ret < 0; restart++)
      {
        char url[40960];
        struct response r = { .max = MAX_SMALL,
                              .where = where,
                              .what = what,
                              .declared = size,
                              .declarer = "the manifest" };
        struct request q
            = { .method = "GET", .url = url, .upload_fd = -1, .carries = size };
        int e;

        r.w = model_blob_begin (sink, digest, size, err);
        if (r.w == NULL)
          goto out;
        r.progress_digest = digest;
        r.progress_total = size;
        snprintf (url, sizeof url, "%s%s/%s/blobs/%s", eps[i].base,
                  eps[i].prefix, ref->path, digest);
        if (size > 4 * chunk)
          {
            e = ranged_fetch (rc, &eps[i], ref, scope, url, digest, r.w, size,
                              chunk, &r.final, err);
            if (e < 0 && err->code == MP_ERR_NOT_FOUND && i + 1 < n)
              {
                model_blob_abort (r.w);
                break;
              }
            if (e < 0 && err->code != MP_ERR_UNAVAILABLE)
              {
                model_blob_abort (r.w);
                goto out;
              }
            r.status = 200;
          }
        else
          e = exchange (rc, &eps[i], ref->host, scope, &q, &r, err);
        free (r.body);
        if (e == 0 && r.status != 200 && r.status != 206)
          {
            model_blob_abort (r.w);
            if (r.status == 404 && i + 1 < n)
              break;
            status_error (&r, ref->host, ref->path, what, err);
            goto out;
          }
        if (e < 0)
          {
            model_blob_abort (r.w);
            if (err->code != MP_ERR_UNAVAILABLE)
              goto out;
            if (r.final)
              break;  /* a timeout or a redirect loop: the next endpoint */
            continue; /* start over, or the next endpoint */
          }
        if (size <= 4 * chunk && r.written != size)
          {
            model_blob_abort (r.w);
            mp_error_set (err, MP_ERR_DATA_LOSS,
                          "%s: %s: the registry sent %" PRId64
                          " bytes, fewer than the %" PRId64
                          " bytes the manifest declares",
                          where, what, r.written, size);
            goto out;
          }
        if (model_blob_commit (r.w, NULL, err) < 0)
          {
            mp_error_prefix (err, "%s/%s", ref->host, ref->path);
            goto out;
          }
        ret = 0;
      }
  if (ret < 0 && err->code == MP_OK)
    mp_error_set (err, MP_ERR_UNAVAILABLE, "%s/%s: cannot download %s",
                  ref->host, ref->path, digest);
out:
  endpoints_free (eps, n);
  return ret;
}

/* URL for an upload session's LOCATION (absolute or a path) with QUERY
 * (or "") appended. */
static void
upload_url (char *url, size_t n, const struct endpoint *ep,
            const char *location, const char *query)
{
  const char *sep = query[0] == '\0' ? "" : strchr (location, '?') ? "&" : "?";

  if (location[0] == '/')
    snprintf (url, n, "%s%s%s%s", ep->base, location, sep, query);
  else
    snprintf (url, n, "%s%s%s", location, sep, query);
}

/* Start an upload session: *LOCATION gets where to send the bytes.  With
 * MOUNT_FROM, a mount is asked first: *MOUNTED when the registry did it
 * (201), a session as usual when it declined (202). */
static int
upload_start (registry_client *rc, const struct endpoint *ep,
              const model_reference *ref, const char *scope, const char *digest,
              const char *mount_from, bool *mounted, char *location,
              size_t locsize, mp_error *err)
{
  char url[4096];
  struct response r = { .max = MAX_SMALL };
  struct request q = { .method = "POST", .url = url, .upload_fd = -1 };
  int ret = -1;

  *mounted = false;
  if (mount_from != NULL)
    {
      cleanup_free char *from = url_escape (mount_from);
      snprintf (url, sizeof url, "%s%s/%s/blobs/uploads/?mount=%s&from=%s",
                ep->base, ep->prefix, ref->path, digest, from ? from : "");
    }
  else
    snprintf (url, sizeof url, "%s%s/%s/blobs/uploads/", ep->base, ep->prefix,
              ref->path);
  if (exchange (rc, ep, ref->host, scope, &q, &r, err) < 0)
    goto out;
  if (mount_from != NULL && r.status == 201)
    {
      *mounted = true;
      ret = 0;
      goto out;
    }
  if (r.status != 202 || r.location[0] == '\0')
    {
      status_error (&r, ref->host, ref->path, "upload", err);
      goto out;
    }
  snprintf (location, locsize, "%s", r.location);
  ret = 0;
out:
  free (r.body);
  return ret;
}

/* Send the blob as PATCH chunks, then close the session with a PUT.  1
 * when the registry refused the first PATCH (a monolithic upload may
 * still work), 0 done, -1 failed. */
static int
upload_chunked (registry_client *rc, const struct endpoint *ep,
                const model_reference *ref, const char *scope,
                const char *digest, int64_t size, int fd, int64_t chunk,
                char *location, size_t locsize, long *status, mp_error *err)
{
  char url[4096], cr[100], query[300];
  struct response r = { .max = MAX_SMALL };
  int ret = -1;

  for (int64_t off = 0; off < size; off += chunk)
    {
      int64_t n = size - off < chunk ? size - off : chunk;
      struct request q = { .method = "PATCH",
                           .url = url,
                           .upload_fd = fd,
                           .upload_off = off,
                           .body_len = (size_t)n,
                           .content_type = "application/octet-stream",
                           .content_range = cr,
                           .digest = digest,
                           .total = size };

      upload_url (url, sizeof url, ep, location, "");
      snprintf (cr, sizeof cr, "Content-Range: %" PRId64 "-%" PRId64, off,
                off + n - 1);
      if (exchange (rc, ep, ref->host, scope, &q, &r, err) < 0)
        goto out;
      if (r.status != 202 || r.location[0] == '\0')
        {
          if (off == 0 && r.status >= 400 && r.status < 500 && r.status != 401
              && r.status != 403)
            {
              ret = 1;
              goto out;
            }
          status_error (&r, ref->host, ref->path, "chunked upload", err);
          goto out;
        }
      snprintf (location, locsize, "%s", r.location);
    }
  {
    struct request q = { .method = "PUT",
                         .url = url,
                         .upload_fd = -1,
                         .content_type = "application/octet-stream",
                         .carries = size };
    snprintf (query, sizeof query, "digest=%s", digest);
    upload_url (url, sizeof url, ep, location, query);
    if (exchange (rc, ep, ref->host, scope, &q, &r, err) < 0)
      goto out;
  }
  *status = r.status;
  if (r.status == 400 && r.body && strstr (r.body, "DIGEST_INVALID"))
    *status = -400;
  ret = 0;
out:
  free (r.body);
  return ret;
}

int
registry_push_blob (registry_client *rc, const model_reference *ref,
                    const char *digest, int64_t size, int fd,
                    const char *mount_from, enum registry_push_how *how,
                    mp_error *err)
{
  struct endpoint eps[MAX_ENDPOINTS];
  size_t n = 0;
  char scope[1200], url[4096], what[200], location[2048], query[300];
  struct response r = { .max = MAX_SMALL };
  struct request q = { .upload_fd = -1 };
  const struct endpoint *ep;
  int64_t chunk = rc->o.upload_chunk > 0 ? rc->o.upload_chunk : UPLOAD_CHUNK;
  long status = 0;
  bool mounted = false;
  int ret = -1;

  if (how != NULL)
    *how = REGISTRY_PUSH_PRESENT;
  if (mount_from != NULL && strcmp (mount_from, ref->path) == 0)
    mount_from = NULL;
  /* The token for a mount must let us read the source repository too. */
  if (mount_from != NULL)
    snprintf (scope, sizeof scope, "repository:%s:pull,push repository:%s:pull",
              ref->path, mount_from);
  else
    snprintf (scope, sizeof scope, "repository:%s:pull,push", ref->path);
  snprintf (what, sizeof what, "blob %s", digest);
  if (endpoints_for (rc, ref->host, true, eps, MAX_ENDPOINTS, &n, err) < 0)
    return -1;
  ep = &eps[n - 1]; /* pushes go to the first push-capable host */
  if (n > 1)
    ep = &eps[0];
  /* Already there? */
  snprintf (url, sizeof url, "%s%s/%s/blobs/%s", ep->base, ep->prefix,
            ref->path, digest);
  q.method = "HEAD";
  q.url = url;
  if (exchange (rc, ep, ref->host, scope, &q, &r, err) < 0)
    goto out;
  if (r.status == 200)
    {
      ret = 0;
      goto out;
    }
  if (upload_start (rc, ep, ref, scope, digest, mount_from, &mounted, location,
                    sizeof location, err)
      < 0)
    goto out;
  if (mounted)
    {
      if (how != NULL)
        *how = REGISTRY_PUSH_MOUNTED;
      ret = 0;
      goto out;
    }
  if (size > chunk)
    {
      int c = upload_chunked (rc, ep, ref, scope, digest, size, fd, chunk,
                              location, sizeof location, &status, err);
      if (c < 0)
        goto out;
      if (c > 0)
        {
          /* PATCH refused: a new session for one PUT. */
          mp_log_info ("registry: %s refused a chunked upload; sending %s "
                       "whole",
                       ref->host, digest);
          if (upload_start (rc, ep, ref, scope, digest, NULL, &mounted,
                            location, sizeof location, err)
              < 0)
            goto out;
        }
    }
  if (status == 0)
    {
      /* The whole blob with its digest. */
      snprintf (query, sizeof query, "digest=%s", digest);
      upload_url (url, sizeof url, ep, location, query);
      q = (struct request){ .method = "PUT",
                            .url = url,
                            .upload_fd = fd,
                            .body_len = (size_t)size,
                            .content_type = "application/octet-stream",
                            .digest = digest,
                            .total = size };
      if (exchange (rc, ep, ref->host, scope, &q, &r, err) < 0)
        goto out;
      status = r.status;
      if (r.status == 400 && r.body && strstr (r.body, "DIGEST_INVALID"))
        status = -400;
    }
  if (status != 201)
    {
      if (status == -400)
        mp_error_set (err, MP_ERR_DATA_LOSS,
                      "%s/%s: the registry says blob %s does not match "
                      "its digest",
                      ref->host, ref->path, digest);
      else
        {
          r.status = status;
          status_error (&r, ref->host, ref->path, what, err);
        }
      goto out;
    }
  if (how != NULL)
    *how = REGISTRY_PUSH_UPLOADED;
  ret = 0;
out:
  free (r.body);
  endpoints_free (eps, n);
  return ret;
}

int
registry_put_manifest (registry_client *rc, const model_reference *ref,
                       const char *media_type, const char *body, size_t len,
                       mp_error *err)
{
  struct endpoint eps[MAX_ENDPOINTS];
  size_t n = 0;
  char scope[1200], url[4096];
  struct response r = { .max = MAX_SMALL };
  struct request q = { .method = "PUT",
                       .url = url,
                       .upload_fd = -1,
                       .content_type = media_type,
                       .body = body,
                       .body_len = len };
  const struct endpoint *ep;
  int ret = -1;

  snprintf (scope, sizeof scope, "repository:%s:pull,push", ref->path);
  if (endpoints_for (rc, ref->host, true, eps, MAX_ENDPOINTS, &n, err) < 0)
    return -1;
  ep = &eps[0];
  snprintf (url, sizeof url, "%s%s/%s/manifests/%s", ep->base, ep->prefix,
            ref->path, ref->tag[0] ? ref->tag : ref->digest);
  if (exchange (rc, ep, ref->host, scope, &q, &r, err) < 0)
    goto out;
  if (r.status != 201 && r.status != 200)
    {
      status_error (&r, ref->host, ref->path, "manifest upload", err);
      if (r.body != NULL && r.len > 0)
        mp_error_prefix (err, "%.200s", r.body);
      goto out;
    }
  ret = 0;
out:
  free (r.body);
  endpoints_free (eps, n);
  return ret;
}

int
registry_check_login (registry_client *rc, const char *host, const char *user,
                      const char *password, mp_error *err)
{
  struct endpoint eps[MAX_ENDPOINTS];
  size_t n = 0;
  char url[40960];
  cleanup_free char *creds = NULL;
  json_t *saved = rc->auth;
  struct response r = { .max = MAX_SMALL };
  struct request q = { .method = "GET", .url = url, .upload_fd = -1 };
  int ret = -1;

  if (asprintf (&creds, "%s:%s", user, password) < 0)
    return mp_error_sys (err, ENOMEM, "login");
  if (endpoints_for (rc, host, false, eps, MAX_ENDPOINTS, &n, err) < 0)
    return -1;
  /* Only these credentials, whatever the file holds. */
  {
    cleanup_free char *enc = mp_base64_encode (creds);
    rc->auth
        = json_pack ("{s:{s:{s:s}}}", "auths", host, "auth", enc ? enc : "");
  }
  snprintf (url, sizeof url, "%s%s/", eps[n - 1].base, eps[n - 1].prefix);
  if (exchange (rc, &eps[n - 1], host, "", &q, &r, err) < 0)
    goto out;
  if (r.status != 200)
    {
      mp_error_set (err, MP_ERR_UNAUTHENTICATED,
                    "%s refused the credentials of %s (HTTP %ld)", host, user,
                    r.status);
      goto out;
    }
  ret = 0;
out:
  json_decref (rc->auth);
  rc->auth = saved;
  free (r.body);
  endpoints_free (eps, n);
  return ret;
}
