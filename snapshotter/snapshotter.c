#include "snapshotter/snapshotter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshotter/metadata.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log.h"

struct snapshotter
{
  char *root;
  char *snapshots_dir;
  int snapshots_fd;
  metadata *md;
  bool index_off; /* kernel knows overlay's "index" feature: turn it off */
};

/* --- small helpers ---------------------------------------------------- */

static char *
xstrdup (const char *s)
{
  return strdup (s ? s : "");
}

static void
now (struct timespec *ts)
{
  clock_gettime (CLOCK_REALTIME, ts);
}

static int
copy_labels (const snapshot_label *in, size_t n, snapshot_label **out,
             size_t *nout, mp_error *err)
{
  *out = NULL;
  *nout = 0;
  if (n == 0)
    return 0;
  *out = calloc (n, sizeof **out);
  if (*out == NULL)
    return mp_error_sys (err, ENOMEM, "copy labels");
  for (size_t i = 0; i < n; i++)
    {
      (*out)[i].key = xstrdup (in[i].key);
      (*out)[i].value = xstrdup (in[i].value);
      *nout = i + 1;
      if ((*out)[i].key == NULL || (*out)[i].value == NULL)
        return mp_error_sys (err, ENOMEM, "copy labels");
    }
  return 0;
}

void
snapshot_info_free (snapshot_info *info)
{
  if (info == NULL)
    return;
  free (info->name);
  free (info->parent);
  for (size_t i = 0; i < info->nlabels; i++)
    {
      free (info->labels[i].key);
      free (info->labels[i].value);
    }
  free (info->labels);
  memset (info, 0, sizeof *info);
}

void
snapshot_mounts_free (snapshot_mounts *m)
{
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->n; i++)
    {
      free (m->items[i].type);
      free (m->items[i].source);
      for (size_t j = 0; j < m->items[i].noptions; j++)
        free (m->items[i].options[j]);
      free (m->items[i].options);
    }
  free (m->items);
  m->items = NULL;
  m->n = 0;
}

const char *
snapshot_kind_name (enum snapshot_kind kind)
{
  switch (kind)
    {
    case SNAPSHOT_KIND_VIEW:
      return "view";
    case SNAPSHOT_KIND_ACTIVE:
      return "active";
    case SNAPSHOT_KIND_COMMITTED:
      return "committed";
    default:
      return "unknown";
    }
}

int
snapshot_disk_usage (const char *path, snapshot_usage *out, mp_error *err)
{
  return mp_disk_usage (path, &out->size, &out->inodes, err);
}

const char *
snapshotter_root (const snapshotter *sn)
{
  return sn->root;
}

static char *
fs_path (const snapshotter *sn, uint64_t id)
{
  char *p = NULL;

  if (asprintf (&p, "%s/%" PRIu64 "/fs", sn->snapshots_dir, id) < 0)
    return NULL;
  return p;
}

/* --- open/close ------------------------------------------------------- */

snapshotter *
snapshotter_open (const char *root, mp_error *err)
{
  cleanup_free char *db = NULL;
  snapshotter *sn;
  char real[4096];

  if (mp_mkdir_p (root, 0700, err) < 0)
    {
      mp_error_prefix (err, "create root directory");
      return NULL;
    }
  if (realpath (root, real) == NULL)
    {
      mp_error_sys (err, errno, "resolve root directory %s", root);
      return NULL;
    }
  sn = calloc (1, sizeof *sn);
  if (sn == NULL)
    {
      mp_error_sys (err, ENOMEM, "allocate snapshotter");
      return NULL;
    }
  sn->snapshots_fd = -1;
  sn->root = strdup (real);
  if (sn->root == NULL
      || asprintf (&sn->snapshots_dir, "%s/snapshots", real) < 0
      || asprintf (&db, "%s/metadata.lmdb", real) < 0)
    {
      mp_error_sys (err, ENOMEM, "allocate snapshotter");
      goto fail;
    }
  if (mkdir (sn->snapshots_dir, 0700) < 0 && errno != EEXIST)
    {
      mp_error_sys (err, errno, "create %s", sn->snapshots_dir);
      goto fail;
    }
  sn->snapshots_fd
      = open (sn->snapshots_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sn->snapshots_fd < 0)
    {
      mp_error_sys (err, errno, "open %s", sn->snapshots_dir);
      goto fail;
    }
  sn->md = metadata_open (db, err);
  if (sn->md == NULL)
    goto fail;
  sn->index_off = access ("/sys/module/overlay/parameters/index", F_OK) == 0;
  return sn;

fail:
  snapshotter_close (sn);
  return NULL;
}

void
snapshotter_close (snapshotter *sn)
{
  if (sn == NULL)
    return;
  metadata_close (sn->md);
  if (sn->snapshots_fd >= 0)
    close (sn->snapshots_fd);
  free (sn->snapshots_dir);
  free (sn->root);
  free (sn);
}

/* --- mounts: computed here and nowhere else --------------------------- */

struct strv
{
  char **v;
  size_t n;
};

static int
strv_add (struct strv *s, char *str)
{
  char **v;

  if (str == NULL)
    return -1;
  v = realloc (s->v, (s->n + 1) * sizeof *v);
  if (v == NULL)
    {
      free (str);
      return -1;
    }
  s->v = v;
  s->v[s->n++] = str;
  return 0;
}

static void
strv_free (struct strv *s)
{
  for (size_t i = 0; i < s->n; i++)
    free (s->v[i]);
  free (s->v);
  s->v = NULL;
  s->n = 0;
}

/* Collect the directory ids of NAME's ancestors, nearest first. */
static int
parent_ids (snapshotter *sn, MDB_txn *txn, const char *parent, uint64_t **ids,
            size_t *n, mp_error *err)
{
  cleanup_free char *cur = parent && parent[0] ? strdup (parent) : NULL;
  size_t cap = 0;

  *ids = NULL;
  *n = 0;
  while (cur != NULL)
    {
      snapshot_record rec;

      if (metadata_get (sn->md, txn, cur, &rec, err) < 0)
        return mp_error_prefix (err, "parent chain");
      if (*n == cap)
        {
          uint64_t *bigger;

          cap = cap ? cap * 2 : 16;
          bigger = realloc (*ids, cap * sizeof *bigger);
          if (bigger == NULL)
            {
              snapshot_record_free (&rec);
              return mp_error_sys (err, ENOMEM, "parent chain");
            }
          *ids = bigger;
        }
      (*ids)[(*n)++] = rec.id;
      free (cur);
      cur = rec.info.parent[0] ? strdup (rec.info.parent) : NULL;
      snapshot_record_free (&rec);
      if (*n > 100000)
        return mp_error_set (err, MP_ERR_INTERNAL, "parent chain loops");
    }
  return 0;
}

static int
mount_set (snapshot_mounts *out, const char *type, const char *source,
           struct strv *opts)
{
  out->items = calloc (1, sizeof *out->items);
  if (out->items == NULL)
    return -1;
  out->n = 1;
  out->items[0].type = strdup (type);
  out->items[0].source = strdup (source);
  out->items[0].options = opts->v;
  out->items[0].noptions = opts->n;
  opts->v = NULL;
  opts->n = 0;
  if (out->items[0].type == NULL || out->items[0].source == NULL)
    return -1;
  return 0;
}

/* The options every writable overlay starts with: index=off where the
 * kernel has the feature, then the snapshot's own workdir and upperdir. */
static int
add_upper_options (snapshotter *sn, uint64_t id, struct strv *opts)
{
  char *o = NULL;

  if (sn->index_off && strv_add (opts, strdup ("index=off")) < 0)
    return -1;
  if (asprintf (&o, "workdir=%s/%" PRIu64 "/work", sn->snapshots_dir, id) < 0
      || strv_add (opts, o) < 0)
    return -1;
  if (asprintf (&o, "upperdir=%s/%" PRIu64 "/fs", sn->snapshots_dir, id) < 0
      || strv_add (opts, o) < 0)
    return -1;
  return 0;
}

/* A bind mount of SRC into OUT, writable or read-only; 0, or -1 when
 * memory runs out (the caller frees what OUT holds). */
static int
bind_mount (snapshot_mounts *out, const char *src, bool writable)
{
  struct strv opts = { 0 };

  if (strv_add (&opts, strdup (writable ? "rw" : "ro")) < 0
      || strv_add (&opts, strdup ("rbind")) < 0
      || mount_set (out, "bind", src, &opts) < 0)
    {
      strv_free (&opts);
      return -1;
    }
  return 0;
}

/* A model's image-volume snapshot: its merged tree is the only lowerdir
 * (a view shows the tree itself, read-only). */
static int
model_mounts (snapshotter *sn, const snapshot_record *rec, snapshot_mounts *out,
              mp_error *err)
{
  struct strv opts = { 0 };
  char *o = NULL;

  if (rec->info.kind != SNAPSHOT_KIND_ACTIVE)
    {
      if (bind_mount (out, rec->lower, false) < 0)
        goto nomem;
      return 0;
    }
  if (add_upper_options (sn, rec->id, &opts) < 0)
    goto nomem;
  if (asprintf (&o, "lowerdir=%s", rec->lower) < 0 || strv_add (&opts, o) < 0)
    goto nomem;
  if (mount_set (out, "overlay", "overlay", &opts) < 0)
    goto nomem;
  return 0;

nomem:
  strv_free (&opts);
  snapshot_mounts_free (out);
  return mp_error_sys (err, ENOMEM, "compute mounts");
}

/* The mounts of snapshot REC, as containerd's overlay snapshotter gives
 * them: a bind mount while there is at most one layer to show, an overlay
 * otherwise. */
static int
compute_mounts (snapshotter *sn, MDB_txn *txn, const snapshot_record *rec,
                snapshot_mounts *out, mp_error *err)
{
  cleanup_free uint64_t *ids = NULL;
  cleanup_free char *lower = NULL;
  struct strv opts = { 0 };
  size_t n = 0;
  bool active = rec->info.kind == SNAPSHOT_KIND_ACTIVE;

  memset (out, 0, sizeof *out);
  if (rec->lower != NULL)
    return model_mounts (sn, rec, out, err);
  if (parent_ids (sn, txn, rec->info.parent, &ids, &n, err) < 0)
    return -1;

  if (n == 0 || (!active && n == 1))
    {
      cleanup_free char *src = fs_path (sn, n == 0 ? rec->id : ids[0]);

      if (src == NULL || bind_mount (out, src, active) < 0)
        goto nomem;
      return 0;
    }

  if (active ? add_upper_options (sn, rec->id, &opts) < 0
             : sn->index_off && strv_add (&opts, strdup ("index=off")) < 0)
    goto nomem;
  /* lowerdir=<dir>/<id>/fs:... nearest parent first. */
  {
    size_t dl = strlen (sn->snapshots_dir);
    char *p;

    lower = malloc (n * (dl + 32) + 16);
    if (lower == NULL)
      goto nomem;
    p = lower;
    p += sprintf (p, "lowerdir=");
    for (size_t i = 0; i < n; i++)
      p += sprintf (p, "%s%s/%" PRIu64 "/fs", i ? ":" : "", sn->snapshots_dir,
                    ids[i]);
    if (strv_add (&opts, steal_pointer (&lower)) < 0)
      goto nomem;
  }
  if (mount_set (out, "overlay", "overlay", &opts) < 0)
    goto nomem;
  return 0;

nomem:
  strv_free (&opts);
  snapshot_mounts_free (out);
  return mp_error_sys (err, ENOMEM, "compute mounts");
}

/* --- create (Prepare / View) ------------------------------------------ */

static int
check_key (const char *what, const char *key, mp_error *err)
{
  if (key == NULL || key[0] == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "%s must not be empty",
                         what);
  return 0;
}

static int
create_snapshot (snapshotter *sn, enum snapshot_kind kind, const char *key,
                 const char *parent, const snapshot_label *labels,
                 size_t nlabels, const char *model, const char *lower,
                 snapshot_mounts *out, mp_error *err)
{
  char tmp[64], final[32];
  snapshot_record rec = { 0 };
  snapshot_record prec = { 0 };
  MDB_txn *txn = NULL;
  bool have_tmp = false, have_final = false;
  int ret = -1;

  if (check_key ("key", key, err) < 0)
    return -1;
  if (parent == NULL)
    parent = "";

  txn = metadata_begin (sn->md, true, err);
  if (txn == NULL)
    goto out;
  /* The directory is made under a new-* name, outside the name space of
   * ids, so a crash leaves only a directory Cleanup removes.  It is made
   * inside the write transaction so a concurrent Cleanup (which holds one
   * too) never sees it half-way. */
  snprintf (tmp, sizeof tmp, "new-XXXXXX");
  {
    char path[4096];

    snprintf (path, sizeof path, "%s/%s", sn->snapshots_dir, tmp);
    if (mkdtemp (path) == NULL)
      {
        mp_error_sys (err, errno, "create snapshot directory");
        goto out;
      }
    memcpy (tmp, path + strlen (sn->snapshots_dir) + 1,
            strlen ("new-XXXXXX") + 1);
  }
  have_tmp = true;
  {
    char sub[128];

    snprintf (sub, sizeof sub, "%s/fs", tmp);
    if (mkdirat (sn->snapshots_fd, sub, 0755) < 0
        || fchmodat (sn->snapshots_fd, sub, 0755, 0) < 0)
      {
        mp_error_sys (err, errno, "create snapshot directory");
        goto out;
      }
    if (kind == SNAPSHOT_KIND_ACTIVE)
      {
        snprintf (sub, sizeof sub, "%s/work", tmp);
        if (mkdirat (sn->snapshots_fd, sub, 0711) < 0)
          {
            mp_error_sys (err, errno, "create snapshot work directory");
            goto out;
          }
      }
  }

  if (metadata_exists (sn->md, txn, key))
    {
      mp_error_set (err, MP_ERR_ALREADY_EXISTS, "snapshot %s already exists",
                    key);
      goto out;
    }
  if (parent[0])
    {
      if (metadata_get (sn->md, txn, parent, &prec, err) < 0)
        {
          mp_error_set (err, MP_ERR_NOT_FOUND, "parent snapshot %s not found",
                        parent);
          goto out;
        }
      if (prec.info.kind != SNAPSHOT_KIND_COMMITTED)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "parent %s is not a committed snapshot", parent);
          goto out;
        }
    }
  if (metadata_next_id (sn->md, txn, &rec.id, err) < 0)
    goto out;

  rec.info.name = (char *)key;
  rec.info.parent = (char *)parent;
  rec.info.kind = kind;
  now (&rec.info.created);
  rec.info.updated = rec.info.created;
  rec.info.labels = (snapshot_label *)labels;
  rec.info.nlabels = nlabels;
  rec.model = (char *)model;
  rec.lower = (char *)lower;
  if (metadata_put (sn->md, txn, &rec, err) < 0)
    goto out;

  if (parent[0])
    {
      /* The new upper layer is owned like its parent's, so a container
       * whose image root is not owned by 0:0 keeps that owner. */
      struct stat st;
      char pfs[64], sub[128];

      snprintf (pfs, sizeof pfs, "%" PRIu64 "/fs", prec.id);
      snprintf (sub, sizeof sub, "%s/fs", tmp);
      if (fstatat (sn->snapshots_fd, pfs, &st, 0) < 0)
        {
          mp_error_sys (err, errno, "stat parent %s directory", parent);
          goto out;
        }
      if (fchownat (sn->snapshots_fd, sub, st.st_uid, st.st_gid,
                    AT_SYMLINK_NOFOLLOW)
          < 0)
        {
          mp_error_sys (err, errno, "chown snapshot directory");
          goto out;
        }
    }

  snprintf (final, sizeof final, "%" PRIu64, rec.id);
  if (renameat (sn->snapshots_fd, tmp, sn->snapshots_fd, final) < 0)
    {
      /* Only an unreferenced directory can sit at a fresh id: what a crash
       * left between rename and commit.  Clear it and retry once. */
      if (errno != EEXIST && errno != ENOTEMPTY)
        {
          mp_error_sys (err, errno, "rename snapshot directory");
          goto out;
        }
      mp_log_warn ("removing stale snapshot directory %s", final);
      if (mp_rmtree_at (sn->snapshots_fd, final, err) < 0
          || renameat (sn->snapshots_fd, tmp, sn->snapshots_fd, final) < 0)
        {
          if (err->code == MP_OK)
            mp_error_sys (err, errno, "rename snapshot directory");
          goto out;
        }
    }
  have_tmp = false;
  have_final = true;

  if (compute_mounts (sn, txn, &rec, out, err) < 0)
    goto out;
  if (metadata_commit (txn, err) < 0)
    {
      txn = NULL;
      snapshot_mounts_free (out);
      goto out;
    }
  txn = NULL;
  have_final = false;
  ret = 0;

out:
  metadata_abort (txn);
  if (have_final)
    {
      mp_error e2;
      mp_rmtree_at (sn->snapshots_fd, final, &e2);
    }
  if (have_tmp)
    {
      mp_error e2;
      mp_rmtree_at (sn->snapshots_fd, tmp, &e2);
    }
  snapshot_record_free (&prec);
  return ret;
}

int
snapshotter_prepare (snapshotter *sn, const char *key, const char *parent,
                     const snapshot_label *labels, size_t nlabels,
                     snapshot_mounts *out, mp_error *err)
{
  return create_snapshot (sn, SNAPSHOT_KIND_ACTIVE, key, parent, labels,
                          nlabels, NULL, NULL, out, err);
}

int
snapshotter_view (snapshotter *sn, const char *key, const char *parent,
                  const snapshot_label *labels, size_t nlabels,
                  snapshot_mounts *out, mp_error *err)
{
  return create_snapshot (sn, SNAPSHOT_KIND_VIEW, key, parent, labels, nlabels,
                          NULL, NULL, out, err);
}

int
snapshotter_prepare_model (snapshotter *sn, const char *key,
                           const snapshot_label *labels, size_t nlabels,
                           const char *model, const char *tree,
                           snapshot_mounts *out, mp_error *err)
{
  if (model == NULL || model[0] == '\0' || tree == NULL || tree[0] != '/')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "a model snapshot needs a manifest digest and an "
                         "absolute tree path");
  return create_snapshot (sn, SNAPSHOT_KIND_ACTIVE, key, "", labels, nlabels,
                          model, tree, out, err);
}

struct model_refs_ctx
{
  snapshot_model_ref_fn fn;
  void *ctx;
};

static int
model_ref_one (void *vctx, const snapshot_record *rec, mp_error *err)
{
  struct model_refs_ctx *c = vctx;

  if (rec->model == NULL)
    return 0;
  return c->fn (c->ctx, rec->model, err);
}

int
snapshotter_model_refs (snapshotter *sn, snapshot_model_ref_fn fn, void *ctx,
                        mp_error *err)
{
  struct model_refs_ctx c = { fn, ctx };
  MDB_txn *txn = metadata_begin (sn->md, false, err);
  int ret;

  if (txn == NULL)
    return -1;
  ret = metadata_each (sn->md, txn, model_ref_one, &c, err);
  metadata_abort (txn);
  return ret;
}

int
snapshotter_mounts (snapshotter *sn, const char *key, snapshot_mounts *out,
                    mp_error *err)
{
  snapshot_record rec;
  MDB_txn *txn;
  int ret;

  if (check_key ("key", key, err) < 0)
    return -1;
  txn = metadata_begin (sn->md, false, err);
  if (txn == NULL)
    return -1;
  ret = metadata_get (sn->md, txn, key, &rec, err);
  if (ret == 0)
    {
      if (rec.info.kind == SNAPSHOT_KIND_COMMITTED)
        ret = mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                            "snapshot %s is committed: mounts exist only for "
                            "active snapshots and views",
                            key);
      else
        ret = compute_mounts (sn, txn, &rec, out, err);
      snapshot_record_free (&rec);
    }
  metadata_abort (txn);
  return ret;
}

/* --- commit ----------------------------------------------------------- */

int
snapshotter_commit (snapshotter *sn, const char *name, const char *key,
                    const char *parent, const snapshot_label *labels,
                    size_t nlabels, mp_error *err)
{
  snapshot_record active = { 0 }, prec = { 0 }, rec = { 0 };
  cleanup_free char *fs = NULL;
  MDB_txn *txn;
  int ret = -1;

  if (check_key ("name", name, err) < 0 || check_key ("key", key, err) < 0)
    return -1;

  /* Measure the layer before taking the write lock: a large layer's walk
   * must not stall other snapshots' operations (parallel unpack). */
  txn = metadata_begin (sn->md, false, err);
  if (txn == NULL)
    return -1;
  if (metadata_get (sn->md, txn, key, &active, err) < 0)
    goto out;
  metadata_abort (txn);
  txn = NULL;
  fs = fs_path (sn, active.id);
  if (fs == NULL)
    {
      mp_error_sys (err, ENOMEM, "commit");
      goto out;
    }
  if (active.info.kind == SNAPSHOT_KIND_ACTIVE
      && snapshot_disk_usage (fs, &rec.usage, err) < 0)
    goto out;
  {
    uint64_t measured = active.id;

    snapshot_record_free (&active);
    txn = metadata_begin (sn->md, true, err);
    if (txn == NULL)
      goto out;
    if (metadata_get (sn->md, txn, key, &active, err) < 0)
      goto out;
    if (active.id != measured)
      {
        mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                      "snapshot %s changed during commit", key);
        goto out;
      }
  }
  if (active.info.kind != SNAPSHOT_KIND_ACTIVE)
    {
      mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                    "snapshot %s is %s, not active: only active snapshots "
                    "can be committed",
                    key, snapshot_kind_name (active.info.kind));
      goto out;
    }
  if (metadata_exists (sn->md, txn, name))
    {
      mp_error_set (err, MP_ERR_ALREADY_EXISTS,
                    "committed snapshot %s already exists", name);
      goto out;
    }
  if (parent && parent[0] && strcmp (parent, active.info.parent) != 0)
    {
      if (active.info.parent[0])
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "cannot commit %s on parent %s: it was prepared on %s",
                        key, parent, active.info.parent);
          goto out;
        }
      if (metadata_get (sn->md, txn, parent, &prec, err) < 0)
        {
          mp_error_set (err, MP_ERR_NOT_FOUND, "parent snapshot %s not found",
                        parent);
          goto out;
        }
      if (prec.info.kind != SNAPSHOT_KIND_COMMITTED)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "parent %s is not a committed snapshot", parent);
          goto out;
        }
    }
  else
    parent = active.info.parent;

  if (metadata_delete (sn->md, txn, &active, err) < 0)
    goto out;
  rec.id = active.id;
  rec.info.name = (char *)name;
  rec.info.parent = (char *)parent;
  rec.info.kind = SNAPSHOT_KIND_COMMITTED;
  now (&rec.info.created);
  rec.info.updated = rec.info.created;
  rec.info.labels = (snapshot_label *)labels;
  rec.info.nlabels = nlabels;
  rec.model = active.model;
  rec.lower = active.lower;
  if (metadata_put (sn->md, txn, &rec, err) < 0)
    goto out;
  ret = metadata_commit (txn, err);
  txn = NULL;
  if (ret == 0)
    {
      /* The overlay workdir is only needed while the snapshot is active. */
      char work[64];
      mp_error e2;

      snprintf (work, sizeof work, "%" PRIu64 "/work", rec.id);
      mp_rmtree_at (sn->snapshots_fd, work, &e2);
    }

out:
  metadata_abort (txn);
  snapshot_record_free (&active);
  snapshot_record_free (&prec);
  return ret;
}

/* --- remove ----------------------------------------------------------- */

int
snapshotter_remove (snapshotter *sn, const char *key, mp_error *err)
{
  snapshot_record rec = { 0 };
  char dir[32], gone[64];
  MDB_txn *txn;

  if (check_key ("key", key, err) < 0)
    return -1;
  txn = metadata_begin (sn->md, true, err);
  if (txn == NULL)
    return -1;
  if (metadata_get (sn->md, txn, key, &rec, err) < 0)
    goto fail;
  if (metadata_has_children (sn->md, txn, key))
    {
      mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                    "cannot remove snapshot %s: it has children", key);
      goto fail;
    }
  if (metadata_delete (sn->md, txn, &rec, err) < 0)
    goto fail;
  if (metadata_commit (txn, err) < 0)
    {
      snapshot_record_free (&rec);
      return -1;
    }

  /* The record is gone, so the directory is unreferenced: if removing it
   * fails or we crash now, Cleanup finds it. */
  snprintf (dir, sizeof dir, "%" PRIu64, rec.id);
  snprintf (gone, sizeof gone, "rm-%" PRIu64, rec.id);
  if (renameat (sn->snapshots_fd, dir, sn->snapshots_fd, gone) == 0)
    {
      mp_error e2;

      if (mp_rmtree_at (sn->snapshots_fd, gone, &e2) < 0)
        mp_log_warn ("remove %s: %s (left for cleanup)", key, e2.msg);
    }
  else if (errno != ENOENT)
    mp_log_warn ("remove %s: rename directory %s: %s (left for cleanup)", key,
                 dir, strerror (errno));
  snapshot_record_free (&rec);
  return 0;

fail:
  metadata_abort (txn);
  snapshot_record_free (&rec);
  return -1;
}

/* --- stat / update / walk / usage ------------------------------------- */

int
snapshotter_stat (snapshotter *sn, const char *key, snapshot_info *out,
                  mp_error *err)
{
  snapshot_record rec;
  MDB_txn *txn;

  if (check_key ("key", key, err) < 0)
    return -1;
  txn = metadata_begin (sn->md, false, err);
  if (txn == NULL)
    return -1;
  if (metadata_get (sn->md, txn, key, &rec, err) < 0)
    {
      metadata_abort (txn);
      return -1;
    }
  metadata_abort (txn);
  *out = rec.info;
  return 0;
}

static snapshot_label *
label_find (snapshot_label *labels, size_t n, const char *key)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (labels[i].key, key) == 0)
      return &labels[i];
  return NULL;
}

static const snapshot_label *
label_find_const (const snapshot_label *labels, size_t n, const char *key)
{
  return label_find ((snapshot_label *)labels, n, key);
}

static int
label_set (snapshot_info *info, const char *key, const char *value)
{
  snapshot_label *l = label_find (info->labels, info->nlabels, key);
  snapshot_label *bigger;

  if (l != NULL)
    {
      char *v = strdup (value);

      if (v == NULL)
        return -1;
      free (l->value);
      l->value = v;
      return 0;
    }
  bigger = realloc (info->labels, (info->nlabels + 1) * sizeof *bigger);
  if (bigger == NULL)
    return -1;
  info->labels = bigger;
  bigger[info->nlabels].key = strdup (key);
  bigger[info->nlabels].value = strdup (value);
  if (bigger[info->nlabels].key == NULL || bigger[info->nlabels].value == NULL)
    {
      free (bigger[info->nlabels].key);
      free (bigger[info->nlabels].value);
      return -1;
    }
  info->nlabels++;
  return 0;
}

static void
label_delete (snapshot_info *info, const char *key)
{
  snapshot_label *l = label_find (info->labels, info->nlabels, key);

  if (l == NULL)
    return;
  free (l->key);
  free (l->value);
  *l = info->labels[--info->nlabels];
}

static void
labels_clear (snapshot_info *info)
{
  for (size_t i = 0; i < info->nlabels; i++)
    {
      free (info->labels[i].key);
      free (info->labels[i].value);
    }
  free (info->labels);
  info->labels = NULL;
  info->nlabels = 0;
}

int
snapshotter_update (snapshotter *sn, const snapshot_info *info,
                    const char *const *paths, size_t npaths, snapshot_info *out,
                    mp_error *err)
{
  snapshot_record rec = { 0 };
  MDB_txn *txn;

  if (info == NULL || check_key ("name", info->name, err) < 0)
    return info ? -1
                : mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                                "snapshot info is required");
  for (size_t i = 0; i < npaths; i++)
    if (strcmp (paths[i], "labels") != 0
        && strncmp (paths[i], "labels.", 7) != 0)
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "cannot update %s field on snapshot %s: only "
                           "labels can change",
                           paths[i], info->name);

  txn = metadata_begin (sn->md, true, err);
  if (txn == NULL)
    return -1;
  if (metadata_get (sn->md, txn, info->name, &rec, err) < 0)
    goto fail;

  if (npaths == 0)
    {
      labels_clear (&rec.info);
      if (copy_labels (info->labels, info->nlabels, &rec.info.labels,
                       &rec.info.nlabels, err)
          < 0)
        goto fail;
    }
  for (size_t i = 0; i < npaths; i++)
    {
      if (strcmp (paths[i], "labels") == 0)
        {
          labels_clear (&rec.info);
          if (copy_labels (info->labels, info->nlabels, &rec.info.labels,
                           &rec.info.nlabels, err)
              < 0)
            goto fail;
          continue;
        }
      {
        const char *k = paths[i] + 7;
        const snapshot_label *l
            = label_find_const (info->labels, info->nlabels, k);

        if (l != NULL)
          {
            if (label_set (&rec.info, k, l->value) < 0)
              {
                mp_error_sys (err, ENOMEM, "update labels");
                goto fail;
              }
          }
        else
          label_delete (&rec.info, k);
      }
    }
  now (&rec.info.updated);
  if (metadata_put (sn->md, txn, &rec, err) < 0)
    goto fail;
  if (metadata_commit (txn, err) < 0)
    {
      snapshot_record_free (&rec);
      return -1;
    }
  *out = rec.info;
  return 0;

fail:
  metadata_abort (txn);
  snapshot_record_free (&rec);
  return -1;
}

struct walk_ctx
{
  const mp_filter *filter;
  snapshot_walk_fn fn;
  void *ctx;
};

static int
walk_one (void *vctx, const snapshot_record *rec, mp_error *err)
{
  struct walk_ctx *w = vctx;

  if (w->filter != NULL)
    {
      cleanup_free const char **keys = NULL;
      cleanup_free const char **values = NULL;
      struct mp_filter_snapshot_fields f = { 0 };

      if (rec->info.nlabels)
        {
          keys = calloc (rec->info.nlabels, sizeof *keys);
          values = calloc (rec->info.nlabels, sizeof *values);
          if (keys == NULL || values == NULL)
            return mp_error_sys (err, ENOMEM, "walk");
          for (size_t i = 0; i < rec->info.nlabels; i++)
            {
              keys[i] = rec->info.labels[i].key;
              values[i] = rec->info.labels[i].value;
            }
        }
      f.name = rec->info.name;
      f.parent = rec->info.parent;
      f.kind = snapshot_kind_name (rec->info.kind);
      f.label_keys = keys;
      f.label_values = values;
      f.nlabels = rec->info.nlabels;
      if (!mp_filter_match (w->filter, mp_filter_snapshot_field, &f))
        return 0;
    }
  return w->fn (w->ctx, &rec->info, err);
}

int
snapshotter_walk (snapshotter *sn, const mp_filter *filter, snapshot_walk_fn fn,
                  void *ctx, mp_error *err)
{
  struct walk_ctx w = { filter, fn, ctx };
  MDB_txn *txn = metadata_begin (sn->md, false, err);
  int ret;

  if (txn == NULL)
    return -1;
  ret = metadata_each (sn->md, txn, walk_one, &w, err);
  metadata_abort (txn);
  return ret;
}

int
snapshotter_usage (snapshotter *sn, const char *key, snapshot_usage *out,
                   mp_error *err)
{
  snapshot_record rec;
  cleanup_free char *fs = NULL;
  MDB_txn *txn;

  if (check_key ("key", key, err) < 0)
    return -1;
  txn = metadata_begin (sn->md, false, err);
  if (txn == NULL)
    return -1;
  if (metadata_get (sn->md, txn, key, &rec, err) < 0)
    {
      metadata_abort (txn);
      return -1;
    }
  metadata_abort (txn);
  *out = rec.usage;
  if (rec.info.kind == SNAPSHOT_KIND_ACTIVE)
    {
      fs = fs_path (sn, rec.id);
      if (fs == NULL || snapshot_disk_usage (fs, out, err) < 0)
        {
          snapshot_record_free (&rec);
          return fs ? -1 : mp_error_sys (err, ENOMEM, "usage");
        }
    }
  snapshot_record_free (&rec);
  return 0;
}

/* --- cleanup ---------------------------------------------------------- */

struct id_set
{
  uint64_t *ids;
  size_t n, cap;
};

static int
collect_id (void *vctx, const snapshot_record *rec, mp_error *err)
{
  struct id_set *s = vctx;

  if (s->n == s->cap)
    {
      size_t cap = s->cap ? s->cap * 2 : 256;
      uint64_t *bigger = realloc (s->ids, cap * sizeof *bigger);

      if (bigger == NULL)
        return mp_error_sys (err, ENOMEM, "cleanup");
      s->ids = bigger;
      s->cap = cap;
    }
  s->ids[s->n++] = rec->id;
  return 0;
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int
snapshotter_cleanup (snapshotter *sn, mp_error *err)
{
  struct id_set ids = { 0 };
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  MDB_txn *txn;
  int fd, ret = 0;

  /* Holding a write transaction while we scan keeps a concurrent Prepare
   * from creating (and us from deleting) a directory in between. */
  txn = metadata_begin (sn->md, true, err);
  if (txn == NULL)
    return -1;
  if (metadata_each (sn->md, txn, collect_id, &ids, err) < 0)
    {
      metadata_abort (txn);
      free (ids.ids);
      return -1;
    }
  qsort (ids.ids, ids.n, sizeof *ids.ids, cmp_u64);

  fd = openat (sn->snapshots_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  d = fd >= 0 ? fdopendir (fd) : NULL;
  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      metadata_abort (txn);
      free (ids.ids);
      return mp_error_sys (err, errno, "cleanup: open %s", sn->snapshots_dir);
    }
  while ((de = readdir (d)) != NULL)
    {
      char *end;
      uint64_t id;
      bool orphan;

      if (de->d_name[0] == '.')
        continue;
      id = strtoull (de->d_name, &end, 10);
      if (*end == '\0' && end != de->d_name)
        orphan = bsearch (&id, ids.ids, ids.n, sizeof id, cmp_u64) == NULL;
      else
        orphan = strncmp (de->d_name, "new-", 4) == 0
                 || strncmp (de->d_name, "rm-", 3) == 0;
      if (!orphan)
        continue;
      mp_log_info ("cleanup: removing unreferenced %s/%s", sn->snapshots_dir,
                   de->d_name);
      if (mp_rmtree_at (sn->snapshots_fd, de->d_name, err) < 0)
        {
          ret = mp_error_prefix (err, "cleanup");
          break;
        }
    }
  metadata_abort (txn);
  free (ids.ids);
  return ret;
}
