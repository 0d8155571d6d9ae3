/* registry/: the OCI distribution client, references to bytes.  It owns
 * everything about talking to a registry: hosts.toml, mirrors, TLS,
 * credentials and tokens, retries, ranges, uploads.  It uses model/ (digests,
 * references, media types) and util/; it does not know where bytes end up on
 * the node: downloads go into a model_blob_sink (model/blobsink.h) that the
 * caller takes from the store.  Nothing here includes store/ (checked by
 * scripts/check-layers.sh).
 *
 * An OCI distribution client on libcurl: resolve references, fetch
 * manifests and blobs (verified as they stream), push blobs and manifests.
 *
 * Where a registry is reached: containerd's hosts.toml layout,
 * HOSTS_DIR/<host[:port]>/hosts.toml (then HOSTS_DIR/_default/hosts.toml):
 * each [host."URL"] with capabilities including "pull" (and "resolve") is
 * tried in order for reads, "push" for writes, then `server` (default
 * https://<host>, https://registry-1.docker.io for docker.io).  Per host:
 * `ca` (a file or list of files), `client` ([cert, key] pairs or a cert),
 * `skip_verify`, `override_path`, and [host."URL".header] extra headers.
 * A loopback registry (localhost, 127.0.0.0/8, ::1) without a hosts.toml
 * entry is spoken to over plain HTTP, and so is any host when the client
 * is told to (--plain-http).
 *
 * Authentication: a 401's WWW-Authenticate challenge is answered with a
 * bearer token fetched from its realm (service and scope as given, with
 * basic credentials when there are some, anonymously otherwise) or with
 * basic credentials.  Credentials come from a Docker config.json: `auths`
 * entries (`auth` base64 user:password, or `username`/`password`,
 * `identitytoken`), and `credHelpers`/`credsStore` by running
 * docker-credential-<helper> get.  Tokens are cached per host and scope.
 *
 * Large blobs: a blob of more than 4 range_chunk bytes is downloaded as
 * range_chunk-sized Range requests on range_streams connections at once
 * (chunks handed out in order).  The bytes still reach the store in
 * order, hashed as they are written: a chunk that arrives before those
 * ahead of it waits in memory (at most range_streams chunks per blob), so
 * the digest is checked without reading the file back.  Such blobs are
 * written with O_DIRECT where the filesystem allows it (no page-cache
 * copy; the store's file is not cached after the pull).  A registry that
 * answers the first Range with 200 gets a single stream; redirects (307
 * to object storage) are followed for every range.  Uploads of more than
 * upload_chunk bytes go as PATCH chunks, then a closing PUT; a registry
 * that refuses PATCH gets one monolithic PUT.  A blob the registry holds
 * in another repository (mount_from) is mounted, not uploaded.
 *
 * Failures: connection errors and 5xx/429 answers are retried with backoff
 * (4 attempts); a blob download (or one range of it) cut short resumes
 * with a Range request where the registry allows it.
 *
 * A registry is not trusted with sizes or time.  A download is counted
 * against the size its descriptor declares (a document without one, a
 * manifest by tag, against MODEL_MAX_DOCUMENT): an answer that announces
 * more (Content-Length) is refused before its body, one that sends more is
 * cut off at the first byte too many, one that sends less is an error; an
 * error page is read up to 1 MiB and no further.  A transfer that moves
 * less than 1 KiB in stall_timeout seconds is a stall: retried once, then
 * given up.  Each request, retries included, has transfer_timeout seconds,
 * plus 16 s per MiB it is to carry (a blob, a range, an upload).  Redirects
 * are followed 8 deep.  Neither a timeout nor a redirect loop is retried.
 *
 * Errors: MP_ERR_UNAVAILABLE (unreachable, failing after retries, stalled,
 * timed out, redirected in circles), MP_ERR_NOT_FOUND (no such tag,
 * manifest or blob), MP_ERR_UNAUTHENTICATED (no or wrong credentials),
 * MP_ERR_PERMISSION_DENIED, MP_ERR_DATA_LOSS (content that does not match
 * its digest or its declared size); each message names the registry and
 * repository. */
#ifndef MP_REGISTRY_REGISTRY_H
#define MP_REGISTRY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/blobsink.h"
#include "model/reference.h"
#include "util/error.h"

typedef struct registry_client registry_client;

struct registry_options
{
  const char *auth_file; /* Docker config.json, or NULL */
  const char *hosts_dir; /* containerd hosts.toml directories, or NULL */
  bool plain_http;       /* every registry over plain HTTP */
  /* Progress of blob transfers (may be NULL); called from several
   * threads at once (parallel layers and ranges). */
  void (*progress) (void *ctx, const char *digest, int64_t done, int64_t total);
  void *progress_ctx;
  int64_t range_chunk;  /* bytes per Range request; 0: 32 MiB */
  int range_streams;    /* connections per large blob; 0: 4 */
  int64_t upload_chunk; /* bytes per PATCH; 0: 64 MiB */
  int stall_timeout;    /* seconds; 0: 30, < 0: none */
  int transfer_timeout; /* seconds; 0: 120, < 0: none */
};

/* One client may serve several threads at once (blob downloads in
 * parallel); registry_check_login excepted. */
registry_client *registry_client_new (const struct registry_options *o,
                                      mp_error *err);
void registry_client_free (registry_client *rc);

/* The manifest or index REF names (tag or digest), or DIGEST_OR_NULL of
 * SIZE bytes (-1: unknown; at most MODEL_MAX_DOCUMENT), verified against
 * its digest (the one asked for, else the registry's
 * Docker-Content-Digest, else the body's sha256).  *body is malloc'd. */
int registry_get_manifest (registry_client *rc, const model_reference *ref,
                           const char *digest_or_null, int64_t size,
                           char **media_type, char **digest, char **body,
                           size_t *len, mp_error *err);
/* Blob DIGEST of REF's repository, SIZE bytes (at most
 * MODEL_MAX_DOCUMENT), into memory, verified: for small blobs read whole
 * (signatures, payloads).  *body is malloc'd and NUL-terminated. */
int registry_get_blob (registry_client *rc, const model_reference *ref,
                       const char *digest, int64_t size, char **body,
                       size_t *len, mp_error *err);
/* The OCI 1.1 referrers API: GET /v2/<name>/referrers/<digest>, the image
 * index of the manifests whose subject is DIGEST, only those of
 * ARTIFACT_TYPE when not NULL (a registry may ignore the filter: it then
 * says so in the index's annotations).  A registry may answer in pages
 * (a `Link: <…>; rel="next"` header): they are followed, one request
 * after the other, up to REGISTRY_REFERRERS_PAGES, and *BODY is one index
 * of all their entries (a single page is handed on as it came).  Only the
 * query of a next link is taken, and only when its path is the same list.
 * At most MODEL_MAX_DOCUMENT bytes over all pages; *PAGES (may be NULL)
 * gets the pages read.  MP_ERR_UNIMPLEMENTED when the registry has no
 * such API (404): then the referrers tag schema is the fallback
 * (registry/signatures.h). */
#define REGISTRY_REFERRERS_PAGES 16
int registry_get_referrers (registry_client *rc, const model_reference *ref,
                            const char *digest, const char *artifact_type,
                            char **body, size_t *len, int *pages,
                            mp_error *err);
/* HTTP exchanges this client has made so far (retries and
 * authentication included): what the signature checks report as their
 * cost. */
unsigned long registry_client_requests (const registry_client *rc);
/* Download blob DIGEST of REF's repository into SINK (nothing is written
 * if it is there already): streamed, hashed, resumed after a cut, visible
 * only once verified. */
int registry_fetch_blob (registry_client *rc, const model_reference *ref,
                         const model_blob_sink *sink, const char *digest,
                         int64_t size, mp_error *err);
/* How registry_push_blob got the blob there. */
enum registry_push_how
{
  REGISTRY_PUSH_PRESENT,  /* the repository had it */
  REGISTRY_PUSH_MOUNTED,  /* mounted from MOUNT_FROM */
  REGISTRY_PUSH_UPLOADED, /* sent */
};
/* Upload a blob from FD (SIZE bytes) unless the repository has it.
 * MOUNT_FROM (or NULL): another repository of the same registry that
 * holds the blob; a mount from it is asked first (token scope
 * repository:MOUNT_FROM:pull as well), and an upload follows if the
 * registry declines.  *HOW (may be NULL) says what happened. */
int registry_push_blob (registry_client *rc, const model_reference *ref,
                        const char *digest, int64_t size, int fd,
                        const char *mount_from, enum registry_push_how *how,
                        mp_error *err);
/* PUT a manifest under REF's tag (or its digest). */
int registry_put_manifest (registry_client *rc, const model_reference *ref,
                           const char *media_type, const char *body, size_t len,
                           mp_error *err);
/* Check credentials for HOST: 0 when /v2/ answers with them. */
int registry_check_login (registry_client *rc, const char *host,
                          const char *user, const char *password,
                          mp_error *err);

#endif
