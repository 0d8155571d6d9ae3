/* store/: where model bytes live on the node.  It owns the model cache
 * (this header: layers unpacked once, one merged tree per manifest, pins and
 * collection), layer unpacking (store/unpack.h: verified, confined, bounded)
 * and the OCI layout store (store/oci_layout.h: the CLI's store and CRI-O
 * exports, and the blob sink packing and downloads write through).  It uses
 * model/ (manifests, configs, digests) and util/; it never talks to a
 * registry (scripts/check-layers.sh keeps it so).
 *
 * The model cache: ModelPack (and generic OCI) artifacts unpacked once and
 * served as one merged, read-only directory per manifest.
 *
 * Layout under the root (created 0700; one filesystem, as trees are made
 * of hard links into layers):
 *
 *   layers/<hex>/fs/       a tar layer's files, keyed by its blob digest
 *   layers/raw-<hex>/fs/   a raw layer's one file, keyed by a hash of its
 *                          blob digest, path, mode, owner and mtime
 *   layers/<key>/info      what was verified (digest, diffId) and its size
 *   trees/<mhex>/          the merged files of manifest <mhex>: the overlay
 *                          lowerdir (nothing else lives inside it)
 *   trees/<mhex>.layers    the layer keys the tree was built from; its mtime
 *                          is the tree's last use
 *   trees/<ihex>.index     an index digest resolved to a manifest: the
 *                          manifest digest, so in_use and touch accept both
 *   tmp/<pid>.<random>/    one work directory per open cache, flock'ed
 *   pins/<name>            a digest gc keeps whatever the retention
 *   verified/<algo>-<hex>  the blob file found to match that digest, by
 *                          device, inode, size and ctime (store/blobcheck.h)
 *   in-use                 the models the daemon's snapshots use, and its
 *                          holds (model_cache_set_in_use)
 *   lock                   flock: shared while building, exclusive in gc
 *                          and eviction
 *
 * Every blob is verified before anything made from it is visible (how
 * often a layer blob is hashed: model_cache_verify); layers
 * and trees appear by rename(2) only when complete, so a crash leaves
 * nothing half-made under layers/ or trees/, only work to remove in tmp/.
 * Nothing waits for the disk while building: a background syncfs follows
 * each build and is recorded in `durable`; after a machine crash, open
 * discards layers and trees of the crashed boot not covered by it.
 * The same layer or manifest requested by several threads is built once
 * (the others wait and reuse it); processes sharing a root (daemon and CLI)
 * may race to build the same thing, and the loser discards its copy.
 *
 * All functions are thread-safe on one model_cache, except that
 * model_cache_close must not run concurrently with any other call. */
#ifndef MP_STORE_CACHE_H
#define MP_STORE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/unpack.h"
#include "util/error.h"

typedef struct model_cache model_cache;

/* How a model's files are served (see store/cache_index.c):
 *   EROFS    an EROFS index over the layer blobs, file-backed (Linux 6.12+):
 *            nothing copied, milliseconds to mount;
 *   LOOP     the same index, its files attached to loop devices (6.4+);
 *   EXTRACT  layers unpacked into layers/ and merged by hard links;
 *   AUTO     EROFS, LOOP or EXTRACT by what the kernel offers.
 * Models that cannot be indexed (compressed layers, blobs that are not
 * files of their own) are unpacked whatever the mode. */
enum model_cache_mount
{
  MODEL_CACHE_MOUNT_AUTO,
  MODEL_CACHE_MOUNT_EROFS,
  MODEL_CACHE_MOUNT_LOOP,
  MODEL_CACHE_MOUNT_EXTRACT,
};
const char *model_cache_mount_name (enum model_cache_mount m);
/* "auto", "erofs", "loop", "extract"; -1 for anything else. */
int model_cache_mount_parse (const char *s, enum model_cache_mount *out);
/* When a layer blob is hashed against its digest before it is unpacked
 * (the daemon's [model_cache] verify_blobs).  Whatever the mode, a blob
 * found not to match fails the layer, naming the blob, and a tar layer's
 * diffId is checked. */
enum model_cache_verify
{
  /* Once per blob file on this node: hashed while it is first unpacked,
   * the verdict remembered under verified/ for that file (device, inode,
   * size, ctime); a later unpack of the same unchanged file reads it
   * without hashing, a changed or replaced file is hashed again.  What the
   * source vouches for counts for nothing. */
  MODEL_CACHE_VERIFY_ONCE = 0,
  /* The source's word (containerd checked the digest when it stored the
   * blob): a vouched blob is never hashed, so bytes altered in the content
   * store after the download go unnoticed.  Others as ONCE.  Faster for
   * the first mount, weaker. */
  MODEL_CACHE_VERIFY_INGEST,
  /* Every unpack hashes the blob. */
  MODEL_CACHE_VERIFY_ALWAYS,
};

/* "once", "ingest" (also "untrusted", its former name), "always"; -1 if
 * TEXT is none of them. */
int model_cache_verify_parse (const char *text, enum model_cache_verify *out);
const char *model_cache_verify_name (enum model_cache_verify v);

struct model_cache_options
{
  const char *root; /* directory, created 0700 with its parents if missing */
  /* Retention of trees no snapshot uses (see model_cache_gc).  Each
   * non-zero value is an allowance: with both, an unused tree stays while
   * it is younger than the duration AND within the size; with neither,
   * unused trees go at the next gc. */
  int64_t keep_unused_seconds;
  int64_t keep_unused_bytes;
  /* The bound (zeros: none).  Before building a model, the blob sizes of
   * its layers not yet cached (a lower bound for compressed layers) must
   * fit: the layers under layers/ plus them at most MAX_BYTES, and the
   * filesystem left with MIN_FREE_PERCENT (0-99) of its size free.  If
   * not, unused trees (in no in-use set, held by nobody, pinned by nobody)
   * are evicted least recently used first, only as many as needed; if even
   * evicting all of them would not do, nothing is evicted and the get
   * fails.  After unpacking, when real sizes put the cache over the bound,
   * unused trees are evicted again (never the new one: it is held). */
  int64_t max_bytes;
  int min_free_percent;
  /* The daemon: publish this process's in-use set and holds in
   * <root>/in-use, so other processes' gc, eviction and prune see them. */
  bool publish_in_use;
  /* Tests: this boot's id instead of /proc/sys/kernel/random/boot_id. */
  const char *boot_id;
  /* Bounds on what a layer and a model may expand to (zeros: defaults). */
  struct model_unpack_limits limits;
  enum model_cache_mount mount;
  /* When layer blobs are hashed (zero: once per blob file). */
  enum model_cache_verify verify_blobs;
};

/* Open (creating) the cache at o->root and remove what crashed processes
 * left in tmp/.  The root path is made absolute, so tree paths handed out
 * are absolute too. */
model_cache *model_cache_open (const struct model_cache_options *o,
                               mp_error *err);
void model_cache_close (model_cache *c);

/* Where blobs come from (the daemon reads containerd's content store, the
 * tests an OCI layout): return a readable fd positioned at 0 for the blob
 * DIGEST ("sha256:<hex>"; SIZE is the expected size, -1 if unknown),
 * preferably a regular file (raw layers are then reflinked where the
 * filesystem can); or -1 with *err set, MP_ERR_NOT_FOUND if absent.  The
 * cache closes the fd.  Called from the calling thread only.
 *
 * *VERIFIED starts false; the source sets it when it vouches that the
 * bytes match DIGEST (containerd checks a blob's digest when it stores it);
 * the cache then does not hash the layer blob again if verify_blobs is
 * MODEL_CACHE_VERIFY_INGEST.  Manifests, indexes and configs are always
 * hashed (they are small), and a tar layer's diffId is always checked. */
typedef int (*model_blob_open_fn) (void *ctx, const char *digest, int64_t size,
                                   bool *verified, mp_error *err);

/* Read a manifest, index or config blob whole through OPEN and verify its
 * digest D (and SIZE, -1 if unknown) before anyone parses it; at most
 * 4 MiB.  *OUT (malloc'd, NUL-terminated) and *OUTLEN get it.  Errors name
 * WHAT ("manifest", "config", ...) and the digest. */
struct model_digest;
int model_read_document (model_blob_open_fn open, void *ctx,
                         const struct model_digest *d, int64_t size,
                         const char *what, char **out, size_t *outlen,
                         mp_error *err);

struct model_cache_stats
{
  int layers_unpacked;
  int layers_reused;
  int trees_built;
  int trees_reused;
  int64_t bytes_unpacked; /* file bytes written by unpacking */
  int64_t evictions;      /* unused trees removed to fit the bound */
  /* Layer blob bytes hashed against their digest (not those the source
   * vouched for or verified/ remembered; documents and diffId streams not
   * counted). */
  int64_t bytes_verified;
};

/* Resolve DIGEST (a manifest, or an index followed with
 * model_index_select to this host's platform manifest or the artifact),
 * reading documents through OPEN and verifying each against its digest
 * before parsing; unpack each layer not yet in layers/; build
 * trees/<manifest hex> unless it exists.  *tree gets its absolute path and
 * *resolved the manifest digest (both malloc'd; *resolved may equal
 * DIGEST).  STATS (may be NULL) gets this call's counts.  The tree is
 * marked used now (as model_cache_touch).
 *
 * Layers: ModelPack types (vnd.cncf and legacy vnd.cnai) and OCI image
 * tar layers; a tar layer's diffId comes from the config's modelfs.diffIds
 * (or legacy diff_ids) at the layer's index and is verified; a raw layer is
 * written at its filepath annotation with its file metadata (mode, mtime).
 * Whatever owners a layer names, everything is the cache user's (root's),
 * and nothing is writable by group or other (see model/unpack.h).  Generic OCI
 * artifacts (not ModelPack, e.g. oras): each titled layer is that file, raw
 * (or, if oras marked it io.deis.oras.content.unpack=true, a tar+gzip of a
 * directory); an untitled layer is an error naming it.  Container images are
 * refused. Later layers win on the same path.
 *
 * Errors: MP_ERR_INVALID_ARGUMENT for a bad digest or a bad artifact
 * (digest or diffId mismatch, unknown layer media type, unsafe path, ...),
 * MP_ERR_NOT_FOUND when OPEN cannot find a blob, MP_ERR_FAILED_PRECONDITION
 * when the filesystem lacks space for the layers still to unpack (their
 * blob sizes: a lower bound for compressed layers) or they do not fit the
 * bound with every unused tree evicted (the message names the sizes),
 * MP_ERR_INTERNAL for
 * I/O.  On error nothing new is visible under layers/ or trees/ except
 * layers completed before the failure (kept for reuse; gc removes them if
 * no tree comes to use them). */
int model_cache_get_manifest_tree (model_cache *c, const char *digest,
                                   model_blob_open_fn open, void *ctx,
                                   char **tree, char **resolved,
                                   struct model_cache_stats *stats,
                                   mp_error *err);

/* Mark the tree of MANIFEST_DIGEST (or of an index resolved to it) used
 * now: call on every mount.  MP_ERR_NOT_FOUND if there is no such tree. */
int model_cache_touch (model_cache *c, const char *manifest_digest,
                       mp_error *err);

/* Retention.  IN_USE lists the digests snapshots use (manifest digests, or
 * index digests this cache resolved); holds, the in-use set (this
 * process's, or the one published in <root>/in-use) and pins count as
 * well.  Every other tree is removed when
 * its last use is older than keep_unused_seconds or, counting unused trees
 * newest first, it would take their size (the bytes of layers only they
 * use) beyond keep_unused_bytes; then every layer no remaining tree uses,
 * records of removed trees, and work left in tmp/ by dead processes.
 * Waits for tree builds in progress (in any process) and blocks new ones
 * while it runs.  *FREED (may be NULL) gets the bytes returned to the
 * filesystem (blocks of inodes whose last link went).
 *
 * The caller must make sure a tree just returned by
 * model_cache_get_manifest_tree for a snapshot being prepared is either in
 * IN_USE or protected by keep_unused_seconds: gc cannot know about a
 * snapshot its caller has not recorded yet.  As gc waits for builds, a
 * blob-open callback must never wait for a lock the gc caller holds. */
int model_cache_gc (model_cache *c, const char *const *in_use, size_t n,
                    int64_t *freed, mp_error *err);

/* In use.  Whatever is held or in the in-use set is never removed by gc,
 * eviction or prune, in this process or (when published) any other on the
 * root.  A hold covers the time between asking for a tree and recording
 * its user: take it on DIGEST (manifest or index) before
 * model_cache_get_manifest_tree, and release it once the snapshot is in
 * the set given to model_cache_set_in_use (or on failure).  Holds count.
 * With publish_in_use, each call rewrites <root>/in-use before returning,
 * so a hold is visible to other processes before the build starts. */
int model_cache_hold (model_cache *c, const char *digest, mp_error *err);
void model_cache_release (model_cache *c, const char *digest);
/* The digests snapshots use now, one per snapshot (the whole set; it
 * replaces the previous one).  Written only when it changed. */
int model_cache_set_in_use (model_cache *c, const char *const *digests,
                            size_t n, mp_error *err);

/* One tree, for `modelpack cache ls`.  Pointers are valid during the
 * callback only. */
struct model_cache_entry
{
  const char *manifest;
  const char *const *aliases; /* index digests resolved to it */
  size_t naliases;
  int64_t size;   /* bytes of its layers */
  int64_t shared; /* ... of which other trees use too */
  struct timespec last_used;
  int snapshots; /* snapshots using it by the published set; -1: unknown
                    (no daemon has published one) */
  int holds;     /* prepares in flight */
  const char *const *pins, *const *pin_notes;
  size_t npins;
};
typedef int (*model_cache_list_fn) (void *ctx,
                                    const struct model_cache_entry *e,
                                    mp_error *err);
/* Every tree, least recently used first, under the shared lock. */
int model_cache_list (model_cache *c, model_cache_list_fn fn, void *ctx,
                      mp_error *err);

/* Pins keep a tree through gc whatever the retention settings: a host
 * mount, a CRI-O store export, a preload.  NAME ([A-Za-z0-9._-], no dot
 * first) identifies the pinner; pinning again replaces its digest.  The
 * tree of DIGEST (a manifest, or an index this cache resolved) must exist:
 * MP_ERR_NOT_FOUND otherwise (gc may have taken it; build it again).
 * NOTE (may be NULL) is kept for people reading pins/. */
int model_cache_pin (model_cache *c, const char *name, const char *digest,
                     const char *note, mp_error *err);
/* MP_ERR_NOT_FOUND if NAME is not pinned. */
int model_cache_unpin (model_cache *c, const char *name, mp_error *err);
/* The digest (and note, if NOTE is not NULL) pinned under NAME, malloc'd. */
int model_cache_pin_get (model_cache *c, const char *name, char **digest,
                         char **note, mp_error *err);

/* Counters since open: for tests and the "second pod does no unpacking"
 * proof.  Each unpack is also logged at info level, each reuse at debug. */
void model_cache_get_counters (model_cache *c, struct model_cache_stats *out);

/* What the cache holds now, split as model_cache_gc would see it: trees in
 * IN_USE (as for gc), held, in an in-use set (this process's or one
 * published on the root) or pinned are in use, other trees unused.  Bytes are
 * the unpacked sizes of layers (each once): a layer an in-use tree needs
 * counts as in use, every other layer (of unused trees, or of none) as
 * unused.  A walk of trees/ and layers/ reading small records; fails with
 * MP_ERR_UNAVAILABLE rather than wait while gc runs. */
struct model_cache_usage
{
  int64_t models_in_use, models_unused;
  int64_t bytes_in_use, bytes_unused;
};
int model_cache_usage (model_cache *c, const char *const *in_use, size_t n,
                       struct model_cache_usage *out, mp_error *err);

#endif
