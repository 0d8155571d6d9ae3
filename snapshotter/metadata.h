/* Snapshot records in LMDB.
 *
 * Three named databases in one environment:
 *   "snapshots": name -> encoded record (kind, id, parent, times, usage,
 *                labels)
 *   "children":  parent "\0" child -> "" (answers "has children?" with one
 *                cursor seek, and keeps Remove O(log n))
 *   "meta":      "next_id" -> uint64 (directory ids are never reused while
 *                a record holds them)
 *
 * Callers open a transaction per operation with metadata_begin and end it
 * with metadata_commit or metadata_abort; every other call works inside it. */
#ifndef MP_SNAPSHOTTER_METADATA_H
#define MP_SNAPSHOTTER_METADATA_H

#include <lmdb.h>
#include <stdbool.h>

#include "snapshotter/snapshotter.h"

typedef struct metadata metadata;

typedef struct snapshot_record
{
  snapshot_info info;   /* name, parent, kind, times, labels */
  uint64_t id;          /* directory snapshots/<id> */
  snapshot_usage usage; /* measured at commit */
  /* Image-volume snapshots of a model: the manifest digest the snapshot
   * holds a reference on, and the merged tree that is its only lowerdir.
   * NULL for ordinary snapshots. */
  char *model;
  char *lower;
} snapshot_record;

metadata *metadata_open (const char *path, mp_error *err);
void metadata_close (metadata *md);

MDB_txn *metadata_begin (metadata *md, bool write, mp_error *err);
int metadata_commit (MDB_txn *txn, mp_error *err);
void metadata_abort (MDB_txn *txn);

/* 0 and *out filled; -1 with MP_ERR_NOT_FOUND when absent. */
int metadata_get (metadata *md, MDB_txn *txn, const char *name,
                  snapshot_record *out, mp_error *err);
bool metadata_exists (metadata *md, MDB_txn *txn, const char *name);
/* Insert or replace; maintains the children index for rec->info.parent. */
int metadata_put (metadata *md, MDB_txn *txn, const snapshot_record *rec,
                  mp_error *err);
/* Delete the record and its children-index entry. */
int metadata_delete (metadata *md, MDB_txn *txn, const snapshot_record *rec,
                     mp_error *err);
bool metadata_has_children (metadata *md, MDB_txn *txn, const char *name);
int metadata_next_id (metadata *md, MDB_txn *txn, uint64_t *out, mp_error *err);

/* Visit every record; FN returns 0 to continue, -1 to stop with *err. */
typedef int (*metadata_each_fn) (void *ctx, const snapshot_record *rec,
                                 mp_error *err);
int metadata_each (metadata *md, MDB_txn *txn, metadata_each_fn fn, void *ctx,
                   mp_error *err);

void snapshot_record_free (snapshot_record *rec);

#endif
