/* An OCI image layout directory as a local store of models: the CLI's
 * store, preloads from a layout, and exports others read (oras, skopeo,
 * CRI-O).
 *
 *   DIR/oci-layout          {"imageLayoutVersion": "1.0.0"}
 *   DIR/index.json          the references: one descriptor per name, the
 *                           name in org.opencontainers.image.ref.name
 *   DIR/blobs/sha256/<hex>  content, named by its digest
 *   DIR/.ingest/            blobs being written (same filesystem)
 *   DIR/.lock               flock: index.json updates and gc
 *
 * A blob appears under blobs/ only by rename once its digest (and size)
 * have been checked; index.json is rewritten whole into a temporary file
 * and renamed.  A failure or a crash leaves nothing half-visible: at most
 * a file in .ingest/, which gc removes. */
#ifndef MP_STORE_OCI_LAYOUT_H
#define MP_STORE_OCI_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/blobsink.h"
#include "util/error.h"

#define OCI_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

typedef struct oci_layout oci_layout;

/* Open the layout at DIR.  With CREATE, make it (and DIR) if missing;
 * without, a directory that is not a layout is MP_ERR_NOT_FOUND.  DIR being
 * something other than a directory is MP_ERR_INVALID_ARGUMENT. */
oci_layout *oci_layout_open (const char *dir, bool create, mp_error *err);
void oci_layout_close (oci_layout *l);
const char *oci_layout_dir (const oci_layout *l);

bool oci_layout_has_blob (oci_layout *l, const char *digest);
/* DIR/blobs/<algo>/<hex> (malloc'd), or NULL for a malformed digest. */
char *oci_layout_blob_path (oci_layout *l, const char *digest);
/* A model_blob_open_fn (model/cache.h) over CTX, an oci_layout: the blob
 * file, MP_ERR_NOT_FOUND if absent.  The layout does not vouch for the
 * bytes (*VERIFIED stays false). */
int oci_layout_open_blob (void *ctx, const char *digest, int64_t size,
                          bool *verified, mp_error *err);
/* Read a whole blob of at most MAX bytes, checking its digest. */
int oci_layout_read_blob (oci_layout *l, const char *digest, size_t max,
                          char **buf, size_t *len, mp_error *err);

/* Writing a blob: bytes go to a temporary file in .ingest/; commit checks
 * the digest and size and renames it into blobs/ (fdatasync'ed first).  A
 * mismatch is MP_ERR_DATA_LOSS and removes the file; so does abort. */
typedef struct oci_blob_writer oci_blob_writer;
/* EXPECTED_DIGEST may be NULL (the digest is then whatever was written:
 * sha256), EXPECTED_SIZE -1 if unknown. */
oci_blob_writer *oci_layout_blob_begin (oci_layout *l,
                                        const char *expected_digest,
                                        int64_t expected_size, mp_error *err);
/* Append, hashing as it goes. */
int oci_blob_write (oci_blob_writer *w, const void *buf, size_t n,
                    mp_error *err);
/* The file, for writers that place data with pwrite (parallel ranges):
 * once used, commit hashes the whole file instead of trusting the running
 * hash.  Call oci_blob_writer_mark_random before the first pwrite. */
int oci_blob_writer_fd (oci_blob_writer *w);
void oci_blob_writer_mark_random (oci_blob_writer *w);
/* Check and publish; *DIGEST_OUT (may be NULL) gets the digest.  The
 * writer is freed whatever the result. */
int oci_blob_commit (oci_blob_writer *w, char **digest_out, mp_error *err);
void oci_blob_abort (oci_blob_writer *w);
/* The layout as a blob sink for packing and the registry client: its
 * writers are the ones above. */
void oci_layout_sink (oci_layout *l, model_blob_sink *out);

/* A whole blob from memory. */
int oci_layout_put_blob (oci_layout *l, const void *buf, size_t n,
                         char **digest_out, mp_error *err);

/* One entry of index.json. */
typedef struct oci_layout_ref
{
  char *name; /* org.opencontainers.image.ref.name, or NULL */
  char *media_type;
  char *digest;
  int64_t size;
  char *artifact_type; /* or NULL */
} oci_layout_ref;

void oci_layout_refs_free (oci_layout_ref *refs, size_t n);

/* Point NAME at the descriptor (replacing an entry of the same name). */
int oci_layout_tag (oci_layout *l, const char *name, const char *media_type,
                    const char *digest, int64_t size, const char *artifact_type,
                    mp_error *err);
/* The entry named NAME (or, for NAME "sha256:<hex>", the entry with that
 * digest); MP_ERR_NOT_FOUND if none.  OUT's strings are malloc'd: free
 * with oci_layout_refs_free (OUT, 1). */
int oci_layout_resolve (oci_layout *l, const char *name, oci_layout_ref *out,
                        mp_error *err);
/* Every entry, in index.json's order. */
int oci_layout_list (oci_layout *l, oci_layout_ref **refs, size_t *n,
                     mp_error *err);
/* Remove the entry NAME; MP_ERR_NOT_FOUND if none. */
int oci_layout_untag (oci_layout *l, const char *name, mp_error *err);
/* Remove the blobs no entry reaches (through indexes, manifests, their
 * configs and layers) and abandoned ingest files; *FREED (may be NULL)
 * gets the bytes removed. */
int oci_layout_gc (oci_layout *l, int64_t *freed, mp_error *err);

#endif
