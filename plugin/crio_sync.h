/* Keeping a CRI-O additional artifact store in sync with a model store.
 *
 * With `[crio_store] dir` set, the daemon mirrors every model named in an
 * OCI layout (`source`, by default the CLI's store, where `modelpack pull`
 * and `pack` put models) into the CRI-O store at `dir` (crio_store.h): a
 * model pulled there appears in CRI-O's store, a model removed there
 * disappears from it, a tag moved to another model is exported again.
 * Entries of the CRI-O store that were not exported from a model (no source
 * annotation) are left alone.  The source's index.json is polled; a failed
 * export is logged and retried at the next change or after a minute.
 *
 * With a signature policy (the daemon's [signatures], sigcheck.h), every
 * model is checked under the name the source gives it before it is
 * exported: a refused one (or one that cannot be checked: fail closed) is
 * not exported, an earlier export under that name is removed, and the
 * refusal is logged and retried like a failed export.  A new policy
 * revision starts a pass, so exports are checked again under it. */
#ifndef MP_PLUGIN_CRIO_SYNC_H
#define MP_PLUGIN_CRIO_SYNC_H

#include "plugin/metrics.h"
#include "plugin/sigcheck.h"
#include "store/cache.h"
#include "util/error.h"

typedef struct crio_sync crio_sync;

/* One pass: export what the source names and the store lacks (or has from
 * another source manifest), remove what the source no longer names.
 * *CHANGES (may be NULL) gets the number of exports and removals; a pass
 * that failed for some models returns -1 with the first error, having done
 * the rest. */
int crio_sync_once (const char *store, const char *source, model_cache *cache,
                    mp_sigcheck *sig, int *changes, mp_error *err);

/* A thread running crio_sync_once at start and whenever the source's
 * index.json changes (checked every POLL_SECONDS), counting each pass in
 * METRICS (may be NULL). */
crio_sync *crio_sync_start (const char *store, const char *source,
                            int poll_seconds, model_cache *cache,
                            mp_sigcheck *sig, mp_metrics *metrics,
                            mp_error *err);
void crio_sync_stop (crio_sync *s);

#endif
