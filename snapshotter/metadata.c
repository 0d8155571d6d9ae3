#include "snapshotter/metadata.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

/* Version 2 appended the model reference and lowerdir; version 1 records
 * (no model) are still read. */
#define RECORD_VERSION 2
/* Records are small; the map only bounds growth of the file. */
#define MAP_SIZE ((size_t)4 << 30)

struct metadata
{
  MDB_env *env;
  MDB_dbi snapshots;
  MDB_dbi children;
  MDB_dbi meta;
};

static int
lmdb_error (mp_error *err, int rc, const char *what)
{
  if (rc == MDB_NOTFOUND)
    return mp_error_set (err, MP_ERR_NOT_FOUND, "%s: not found", what);
  return mp_error_set (err, MP_ERR_INTERNAL, "%s: %s", what, mdb_strerror (rc));
}

metadata *
metadata_open (const char *path, mp_error *err)
{
  metadata *md = calloc (1, sizeof *md);
  MDB_txn *txn = NULL;
  int rc;

  if (md == NULL)
    {
      mp_error_sys (err, errno, "allocate metadata");
      return NULL;
    }
  rc = mdb_env_create (&md->env);
  if (rc != 0)
    goto fail;
  mdb_env_set_maxdbs (md->env, 4);
  mdb_env_set_mapsize (md->env, MAP_SIZE);
  /* One read slot per worker thread at least; LMDB's default of 126 is
   * plenty.  NOTLS: transactions are per call, never shared across threads,
   * but a thread may run several read transactions over its lifetime. */
  rc = mdb_env_open (md->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
  if (rc != 0)
    goto fail;
  rc = mdb_txn_begin (md->env, NULL, 0, &txn);
  if (rc != 0)
    goto fail;
  if ((rc = mdb_dbi_open (txn, "snapshots", MDB_CREATE, &md->snapshots)) != 0
      || (rc = mdb_dbi_open (txn, "children", MDB_CREATE, &md->children)) != 0
      || (rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &md->meta)) != 0)
    {
      mdb_txn_abort (txn);
      goto fail;
    }
  rc = mdb_txn_commit (txn);
  if (rc != 0)
    goto fail;
  return md;

fail:
  lmdb_error (err, rc, "open metadata database");
  mp_error_prefix (err, "%s", path);
  if (md->env)
    mdb_env_close (md->env);
  free (md);
  return NULL;
}

void
metadata_close (metadata *md)
{
  if (md == NULL)
    return;
  mdb_env_close (md->env);
  free (md);
}

MDB_txn *
metadata_begin (metadata *md, bool write, mp_error *err)
{
  MDB_txn *txn = NULL;
  int rc = mdb_txn_begin (md->env, NULL, write ? 0 : MDB_RDONLY, &txn);

  if (rc != 0)
    {
      lmdb_error (err, rc, "begin metadata transaction");
      return NULL;
    }
  return txn;
}

int
metadata_commit (MDB_txn *txn, mp_error *err)
{
  int rc = mdb_txn_commit (txn);

  if (rc != 0)
    return lmdb_error (err, rc, "commit metadata transaction");
  return 0;
}

void
metadata_abort (MDB_txn *txn)
{
  if (txn)
    mdb_txn_abort (txn);
}

/* --- record encoding ---------------------------------------------------
 * version u8, kind u8, id u64, created s64+s64, updated s64+s64,
 * usage size s64 + inodes s64, parent str, nlabels u32, (key str, value
 * str)*; str = u32 length + bytes.  Host byte order: the file never leaves
 * the machine. */

struct buf
{
  unsigned char *data;
  size_t len, cap;
};

static int
buf_put (struct buf *b, const void *p, size_t n)
{
  if (b->len + n > b->cap)
    {
      size_t cap = b->cap ? b->cap * 2 : 256;
      unsigned char *d;

      while (cap < b->len + n)
        cap *= 2;
      d = realloc (b->data, cap);
      if (d == NULL)
        return -1;
      b->data = d;
      b->cap = cap;
    }
  memcpy (b->data + b->len, p, n);
  b->len += n;
  return 0;
}

static int
buf_put_str (struct buf *b, const char *s)
{
  uint32_t n = s ? (uint32_t)strlen (s) : 0;

  if (buf_put (b, &n, sizeof n) < 0)
    return -1;
  return buf_put (b, s ? s : "", n);
}

static int
encode_record (const snapshot_record *rec, struct buf *b)
{
  uint8_t version = RECORD_VERSION, kind = (uint8_t)rec->info.kind;
  int64_t t[4] = { rec->info.created.tv_sec, rec->info.created.tv_nsec,
                   rec->info.updated.tv_sec, rec->info.updated.tv_nsec };
  uint32_t nlabels = (uint32_t)rec->info.nlabels;

  if (buf_put (b, &version, 1) < 0 || buf_put (b, &kind, 1) < 0
      || buf_put (b, &rec->id, sizeof rec->id) < 0
      || buf_put (b, t, sizeof t) < 0
      || buf_put (b, &rec->usage.size, sizeof rec->usage.size) < 0
      || buf_put (b, &rec->usage.inodes, sizeof rec->usage.inodes) < 0
      || buf_put_str (b, rec->info.parent) < 0
      || buf_put (b, &nlabels, sizeof nlabels) < 0)
    return -1;
  for (size_t i = 0; i < rec->info.nlabels; i++)
    if (buf_put_str (b, rec->info.labels[i].key) < 0
        || buf_put_str (b, rec->info.labels[i].value) < 0)
      return -1;
  if (buf_put_str (b, rec->model) < 0 || buf_put_str (b, rec->lower) < 0)
    return -1;
  return 0;
}

struct reader
{
  const unsigned char *p;
  size_t left;
};

static int
rd (struct reader *r, void *out, size_t n)
{
  if (r->left < n)
    return -1;
  memcpy (out, r->p, n);
  r->p += n;
  r->left -= n;
  return 0;
}

static char *
rd_str (struct reader *r)
{
  uint32_t n;
  char *s;

  if (rd (r, &n, sizeof n) < 0 || r->left < n)
    return NULL;
  s = malloc ((size_t)n + 1);
  if (s == NULL)
    return NULL;
  memcpy (s, r->p, n);
  s[n] = '\0';
  r->p += n;
  r->left -= n;
  return s;
}

static int
decode_record (const char *name, const MDB_val *v, snapshot_record *out)
{
  struct reader r = { v->mv_data, v->mv_size };
  uint8_t version, kind;
  int64_t t[4];
  uint32_t nlabels;

  memset (out, 0, sizeof *out);
  if (rd (&r, &version, 1) < 0 || version < 1 || version > RECORD_VERSION
      || rd (&r, &kind, 1) < 0 || rd (&r, &out->id, sizeof out->id) < 0
      || rd (&r, t, sizeof t) < 0
      || rd (&r, &out->usage.size, sizeof out->usage.size) < 0
      || rd (&r, &out->usage.inodes, sizeof out->usage.inodes) < 0)
    return -1;
  out->info.kind = kind;
  out->info.created.tv_sec = t[0];
  out->info.created.tv_nsec = t[1];
  out->info.updated.tv_sec = t[2];
  out->info.updated.tv_nsec = t[3];
  out->info.name = strdup (name);
  out->info.parent = rd_str (&r);
  if (out->info.name == NULL || out->info.parent == NULL
      || rd (&r, &nlabels, sizeof nlabels) < 0 || nlabels > r.left / 8)
    goto fail;
  if (nlabels > 0)
    {
      out->info.labels = calloc (nlabels, sizeof *out->info.labels);
      if (out->info.labels == NULL)
        goto fail;
    }
  for (uint32_t i = 0; i < nlabels; i++)
    {
      out->info.labels[i].key = rd_str (&r);
      out->info.labels[i].value = rd_str (&r);
      out->info.nlabels = i + 1;
      if (out->info.labels[i].key == NULL || out->info.labels[i].value == NULL)
        goto fail;
    }
  if (version >= 2)
    {
      out->model = rd_str (&r);
      out->lower = rd_str (&r);
      if (out->model == NULL || out->lower == NULL)
        goto fail;
      /* stored as "" when absent */
      if (out->model[0] == '\0')
        {
          free (out->model);
          out->model = NULL;
        }
      if (out->lower[0] == '\0')
        {
          free (out->lower);
          out->lower = NULL;
        }
    }
  return 0;

fail:
  snapshot_record_free (out);
  return -1;
}

void
snapshot_record_free (snapshot_record *rec)
{
  if (rec == NULL)
    return;
  snapshot_info_free (&rec->info);
  free (rec->model);
  free (rec->lower);
  rec->model = NULL;
  rec->lower = NULL;
  rec->id = 0;
}

int
metadata_get (metadata *md, MDB_txn *txn, const char *name,
              snapshot_record *out, mp_error *err)
{
  MDB_val k = { strlen (name), (void *)name }, v;
  int rc = mdb_get (txn, md->snapshots, &k, &v);

  if (rc == MDB_NOTFOUND)
    return mp_error_set (err, MP_ERR_NOT_FOUND, "snapshot %s does not exist",
                         name);
  if (rc != 0)
    return lmdb_error (err, rc, "read snapshot record");
  if (decode_record (name, &v, out) < 0)
    return mp_error_set (err, MP_ERR_INTERNAL, "snapshot %s: record is corrupt",
                         name);
  return 0;
}

bool
metadata_exists (metadata *md, MDB_txn *txn, const char *name)
{
  MDB_val k = { strlen (name), (void *)name }, v;

  return mdb_get (txn, md->snapshots, &k, &v) == 0;
}

static int
child_key (const char *parent, const char *child, char **out, size_t *len)
{
  size_t pl = strlen (parent), cl = strlen (child);
  char *k = malloc (pl + 1 + cl);

  if (k == NULL)
    return -1;
  memcpy (k, parent, pl);
  k[pl] = '\0';
  memcpy (k + pl + 1, child, cl);
  *out = k;
  *len = pl + 1 + cl;
  return 0;
}

int
metadata_put (metadata *md, MDB_txn *txn, const snapshot_record *rec,
              mp_error *err)
{
  struct buf b = { 0 };
  MDB_val k = { strlen (rec->info.name), rec->info.name }, v;
  int rc;

  if (encode_record (rec, &b) < 0)
    {
      free (b.data);
      return mp_error_sys (err, ENOMEM, "encode snapshot record");
    }
  v.mv_size = b.len;
  v.mv_data = b.data;
  rc = mdb_put (txn, md->snapshots, &k, &v, 0);
  free (b.data);
  if (rc != 0)
    return lmdb_error (err, rc, "write snapshot record");
  if (rec->info.parent && rec->info.parent[0])
    {
      cleanup_free char *ck = NULL;
      size_t cl;
      MDB_val empty = { 0, "" };

      if (child_key (rec->info.parent, rec->info.name, &ck, &cl) < 0)
        return mp_error_sys (err, ENOMEM, "encode child link");
      k.mv_size = cl;
      k.mv_data = ck;
      rc = mdb_put (txn, md->children, &k, &empty, 0);
      if (rc != 0)
        return lmdb_error (err, rc, "write child link");
    }
  return 0;
}

int
metadata_delete (metadata *md, MDB_txn *txn, const snapshot_record *rec,
                 mp_error *err)
{
  MDB_val k = { strlen (rec->info.name), rec->info.name };
  int rc = mdb_del (txn, md->snapshots, &k, NULL);

  if (rc != 0)
    return lmdb_error (err, rc, "delete snapshot record");
  if (rec->info.parent && rec->info.parent[0])
    {
      cleanup_free char *ck = NULL;
      size_t cl;

      if (child_key (rec->info.parent, rec->info.name, &ck, &cl) < 0)
        return mp_error_sys (err, ENOMEM, "encode child link");
      k.mv_size = cl;
      k.mv_data = ck;
      rc = mdb_del (txn, md->children, &k, NULL);
      if (rc != 0 && rc != MDB_NOTFOUND)
        return lmdb_error (err, rc, "delete child link");
    }
  return 0;
}

bool
metadata_has_children (metadata *md, MDB_txn *txn, const char *name)
{
  size_t nl = strlen (name);
  cleanup_free char *prefix = malloc (nl + 1);
  MDB_cursor *cur = NULL;
  MDB_val k, v;
  bool found = false;

  if (prefix == NULL)
    return true; /* refusing a removal is the safe answer */
  memcpy (prefix, name, nl);
  prefix[nl] = '\0';
  k.mv_size = nl + 1;
  k.mv_data = prefix;
  if (mdb_cursor_open (txn, md->children, &cur) != 0)
    return true;
  if (mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size > nl
      && memcmp (k.mv_data, prefix, nl + 1) == 0)
    found = true;
  mdb_cursor_close (cur);
  return found;
}

int
metadata_next_id (metadata *md, MDB_txn *txn, uint64_t *out, mp_error *err)
{
  static const char key[] = "next_id";
  MDB_val k = { sizeof key - 1, (void *)key }, v;
  uint64_t id = 1;
  int rc = mdb_get (txn, md->meta, &k, &v);

  if (rc == 0 && v.mv_size == sizeof id)
    memcpy (&id, v.mv_data, sizeof id);
  else if (rc != 0 && rc != MDB_NOTFOUND)
    return lmdb_error (err, rc, "read id counter");
  *out = id;
  id++;
  v.mv_size = sizeof id;
  v.mv_data = &id;
  rc = mdb_put (txn, md->meta, &k, &v, 0);
  if (rc != 0)
    return lmdb_error (err, rc, "write id counter");
  return 0;
}

int
metadata_each (metadata *md, MDB_txn *txn, metadata_each_fn fn, void *ctx,
               mp_error *err)
{
  MDB_cursor *cur = NULL;
  MDB_val k, v;
  int rc, ret = 0;

  rc = mdb_cursor_open (txn, md->snapshots, &cur);
  if (rc != 0)
    return lmdb_error (err, rc, "open snapshot cursor");
  for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT))
    {
      snapshot_record rec;
      cleanup_free char *name = strndup (k.mv_data, k.mv_size);

      if (name == NULL)
        {
          ret = mp_error_sys (err, ENOMEM, "list snapshots");
          break;
        }
      if (decode_record (name, &v, &rec) < 0)
        {
          ret = mp_error_set (err, MP_ERR_INTERNAL,
                              "snapshot %s: record is corrupt", name);
          break;
        }
      ret = fn (ctx, &rec, err);
      snapshot_record_free (&rec);
      if (ret < 0)
        break;
    }
  if (ret == 0 && rc != MDB_NOTFOUND)
    ret = lmdb_error (err, rc, "list snapshots");
  mdb_cursor_close (cur);
  return ret;
}
