/* The signature policy where a model is mounted: the daemon's check at
 * image-volume Prepare, before the model cache builds anything.
 *
 * Policies: a containers-policy.json file and a Notation configuration
 * directory (registry/signatures.h says how they combine).  A path that
 * does not exist (or NULL) requires nothing; with neither, every model is
 * accepted without a lookup, as before signatures.
 *
 * Reloading: each check stats the policy file and DIR/trustpolicy.json
 * (device, inode, size, mtime, ctime: two stat calls); when either
 * changed they are read again.  A malformed file at start fails
 * mp_sigcheck_new (the daemon does not start); on reload the last good
 * policies stay in force and an error is logged once per change.  Trust
 * store certificates are read with trustpolicy.json: replace a store file,
 * then touch trustpolicy.json.
 *
 * The model's name: containerd's image records in the snapshot's namespace
 * whose target is the digest (Images List, filter target.digest==D); if
 * none, records whose target is an index listing D.  A Prepare does not
 * say which name the pod asked for, so each distinct repository among
 * them must be accepted (a tag and a digest name of one repository are
 * checked once, by the tagged name; the CRI's image ID record is no
 * name).  No record names the digest: refused, as the scope is unknown.
 *
 * Verdicts: an accepting verdict is cached in memory per (digest, policy
 * revision, names), the revision being the sha256 of the policy file and
 * notation_config_revision: a second pod of the model pays one local
 * Images List call and a hash lookup, and is served even when the
 * registry is unreachable; a name added since (maybe under another scope)
 * is a new key.  With cache_by_digest the key is (digest, revision) and
 * the names are looked up only on a miss.  Refusals are not cached (a signature
 * may be added).  An unreachable registry, for a scope that needs signatures,
 * refuses (fail closed).
 *
 * Thread-safe: Prepares check at once; a reload waits for the checks that
 * use the old policies. */
#ifndef MP_PLUGIN_SIGCHECK_H
#define MP_PLUGIN_SIGCHECK_H

#include <stdbool.h>

#include "plugin/content_store.h"
#include "util/error.h"

typedef struct mp_sigcheck mp_sigcheck;

struct mp_sigcheck_options
{
  const char *policy;    /* containers-policy.json, or NULL */
  const char *notation;  /* Notation configuration directory, or NULL */
  const char *hosts_dir; /* registry hosts.toml directories, or NULL */
  /* Registry credentials, Docker's config.json (the CLI's format), or
   * NULL; absent: anonymous.  Re-read when it changes. */
  const char *auth_file;
  /* Key cached verdicts by (digest, revision) alone: a cached verdict
   * then costs no call to containerd, and serves the digest under names
   * added after it was checked ([signatures] verdict_cache = "digest"). */
  bool cache_by_digest;
};

/* Load the policies.  Malformed: MP_ERR_INVALID_ARGUMENT naming the file;
 * the caller refuses to start. */
int mp_sigcheck_new (const struct mp_sigcheck_options *o, mp_sigcheck **out,
                     mp_error *err);
void mp_sigcheck_free (mp_sigcheck *sc);

/* Check the model DIGEST seen through SRC (containerd's socket and the
 * snapshot's namespace).  0: accepted (or no policy); -1: refused
 * (MP_ERR_POLICY_REFUSED: the reference, the scope, what was required and
 * what was found) or not checkable (the registry or containerd
 * unreachable, no image record): the caller must not mount it.  *CACHED
 * (may be NULL) says whether a cached verdict answered. */
int mp_sigcheck_model (mp_sigcheck *sc, content_source *src, const char *digest,
                       bool *cached, mp_error *err);

/* The same check for a model whose name is known (the CRI-O store sync:
 * the name a model store gives it): NAME a registry reference (its
 * repository picks the scope), DIGEST its manifest (or index) of
 * MEDIA_TYPE and SIZE bytes (MEDIA_TYPE NULL: read from the registry if a
 * Notation envelope needs it).  Verdicts are cached per digest, revision
 * and name. */
int mp_sigcheck_name (mp_sigcheck *sc, const char *name, const char *digest,
                      const char *media_type, int64_t size, bool *cached,
                      mp_error *err);

/* What mp_sigcheck_pull found out. */
struct mp_sigcheck_pull_result
{
  bool policy;     /* a mechanism was in force */
  bool model;      /* NAME is a model (else an ordinary image: not checked) */
  char scope[512]; /* the containers-policy.json scope that accepted it */
};

/* The check before a pull: NAME (a reference, as containerd's pull
 * resolved it) at DIGEST (its manifest or index), asked by containerd's
 * image verifier (plugin/image_verifier.h).  As the daemon, only models
 * are checked: the manifest (an index: its entry for this platform) is
 * read from NAME's registry, and an ordinary container image is accepted
 * with *R->model false.  A model is checked under NAME alone (the pull
 * says which name it is), without the verdict cache (a verifier lives for
 * one pull).  0: accepted, or no policy in force (nothing is fetched);
 * -1: refused (MP_ERR_POLICY_REFUSED, the message as mp_sigcheck_model's)
 * or not checkable (MP_ERR_UNAVAILABLE and others: refuse). */
int mp_sigcheck_pull (mp_sigcheck *sc, const char *name, const char *digest,
                      struct mp_sigcheck_pull_result *r, mp_error *err);

/* Whether any mechanism is in force now (for a log line at start). */
bool mp_sigcheck_active (mp_sigcheck *sc);
/* The revision in force now, after a reload if the files changed: the
 * containers-policy.json sha256 (16 hex) "+" the Notation revision, "none"
 * for an absent one.  OUT holds at least 160 bytes. */
void mp_sigcheck_revision (mp_sigcheck *sc, char *out, size_t outsize);

#endif
