/* The snapshot engine and the Snapshots service, without containerd:
 * semantics of each operation, error classes, crash leftovers, and the
 * request decoder's answers to malformed input. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "google/protobuf/empty.pb-c.h"
#include "plugin/snapshots_service.h"
#include "snapshots/snapshots.pb-c.h"
#include "snapshotter/snapshotter.h"
#include "tests/harness.h"
#include "util/fsutil.h"

static char root[256];

static snapshotter *
fresh (void)
{
  mp_error err = { 0 };
  snapshotter *sn;

  strcpy (root, "/tmp/mpsnap-unit-XXXXXX");
  if (mkdtemp (root) == NULL)
    return NULL;
  sn = snapshotter_open (root, &err);
  if (sn == NULL)
    fprintf (stderr, "open: %s\n", err.msg);
  return sn;
}

static void
done (snapshotter *sn)
{
  mp_error err;

  snapshotter_close (sn);
  mp_rmtree_at (AT_FDCWD, root, &err);
}

static int
write_file (const char *dir, const char *name, const char *content)
{
  char p[512];
  FILE *f;

  snprintf (p, sizeof p, "%s/%s", dir, name);
  f = fopen (p, "w");
  if (f == NULL)
    return -1;
  fputs (content, f);
  return fclose (f);
}

TEST (test_prepare_commit_chain_mounts)
{
  snapshotter *sn = fresh ();
  snapshot_mounts m = { 0 };
  mp_error err = { 0 };

  REQUIRE (sn != NULL);
  CHECK (snapshotter_prepare (sn, "a", "", NULL, 0, &m, &err) == 0);
  REQUIRE (m.n == 1);
  CHECK_STR (m.items[0].type, "bind");
  CHECK (m.items[0].noptions == 2);
  CHECK_STR (m.items[0].options[0], "rw");
  CHECK_STR (m.items[0].options[1], "rbind");
  CHECK (write_file (m.items[0].source, "f", "1") == 0);
  {
    struct stat st;
    CHECK (stat (m.items[0].source, &st) == 0 && (st.st_mode & 07777) == 0755);
  }
  snapshot_mounts_free (&m);
  CHECK (snapshotter_commit (sn, "A", "a", NULL, NULL, 0, &err) == 0);

  /* one parent: an active snapshot is an overlay, a view a read-only bind */
  CHECK (snapshotter_prepare (sn, "b", "A", NULL, 0, &m, &err) == 0);
  REQUIRE (m.n == 1);
  CHECK_STR (m.items[0].type, "overlay");
  {
    bool upper = false, work = false, lower = false;
    for (size_t i = 0; i < m.items[0].noptions; i++)
      {
        upper |= strncmp (m.items[0].options[i], "upperdir=", 9) == 0;
        work |= strncmp (m.items[0].options[i], "workdir=", 8) == 0;
        lower |= strncmp (m.items[0].options[i], "lowerdir=", 9) == 0
                 && strchr (m.items[0].options[i], ':') == NULL;
      }
    CHECK (upper && work && lower);
  }
  snapshot_mounts_free (&m);
  CHECK (snapshotter_view (sn, "v1", "A", NULL, 0, &m, &err) == 0);
  REQUIRE (m.n == 1);
  CHECK_STR (m.items[0].type, "bind");
  CHECK_STR (m.items[0].options[0], "ro");
  snapshot_mounts_free (&m);

  CHECK (snapshotter_commit (sn, "B", "b", NULL, NULL, 0, &err) == 0);
  /* two parents: a view is an overlay of lowerdirs only, nearest first */
  CHECK (snapshotter_view (sn, "v2", "B", NULL, 0, &m, &err) == 0);
  REQUIRE (m.n == 1);
  CHECK_STR (m.items[0].type, "overlay");
  {
    const char *lower = NULL;
    for (size_t i = 0; i < m.items[0].noptions; i++)
      {
        CHECK (strncmp (m.items[0].options[i], "upperdir=", 9) != 0);
        if (strncmp (m.items[0].options[i], "lowerdir=", 9) == 0)
          lower = m.items[0].options[i];
      }
    REQUIRE (lower != NULL);
    /* B's directory (id 2) comes before A's (id 1) */
    CHECK (strstr (lower, "/2/fs:") != NULL);
    CHECK (strstr (lower, "/1/fs") > strstr (lower, "/2/fs:"));
  }
  snapshot_mounts_free (&m);
  done (sn);
}

TEST (test_error_classes)
{
  snapshotter *sn = fresh ();
  snapshot_mounts m = { 0 };
  snapshot_info info = { 0 };
  mp_error err = { 0 };

  REQUIRE (sn != NULL);
  CHECK (snapshotter_stat (sn, "nope", &info, &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  CHECK (snapshotter_prepare (sn, "a", "missing", NULL, 0, &m, &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  CHECK (snapshotter_prepare (sn, "a", "", NULL, 0, &m, &err) == 0);
  snapshot_mounts_free (&m);
  CHECK (snapshotter_prepare (sn, "a", "", NULL, 0, &m, &err) < 0
         && err.code == MP_ERR_ALREADY_EXISTS);
  CHECK (snapshotter_view (sn, "a", "", NULL, 0, &m, &err) < 0
         && err.code == MP_ERR_ALREADY_EXISTS);
  /* an active parent is not a valid parent */
  CHECK (snapshotter_prepare (sn, "b", "a", NULL, 0, &m, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (snapshotter_prepare (sn, "", "", NULL, 0, &m, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (snapshotter_commit (sn, "A", "a", NULL, NULL, 0, &err) == 0);
  CHECK (snapshotter_commit (sn, "A2", "a", NULL, NULL, 0, &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  CHECK (snapshotter_commit (sn, "X", "A", NULL, NULL, 0, &err) < 0
         && err.code == MP_ERR_FAILED_PRECONDITION);
  CHECK (snapshotter_prepare (sn, "c", "A", NULL, 0, &m, &err) == 0);
  snapshot_mounts_free (&m);
  CHECK (snapshotter_commit (sn, "A", "c", NULL, NULL, 0, &err) < 0
         && err.code == MP_ERR_ALREADY_EXISTS);
  CHECK (snapshotter_remove (sn, "A", &err) < 0
         && err.code == MP_ERR_FAILED_PRECONDITION);
  CHECK (snapshotter_mounts (sn, "A", &m, &err) < 0);
  CHECK (snapshotter_remove (sn, "c", &err) == 0);
  CHECK (snapshotter_remove (sn, "c", &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  CHECK (snapshotter_remove (sn, "A", &err) == 0);
  /* the key can be used again after removal */
  CHECK (snapshotter_prepare (sn, "c", "", NULL, 0, &m, &err) == 0);
  snapshot_mounts_free (&m);
  done (sn);
}

TEST (test_update_labels)
{
  snapshotter *sn = fresh ();
  snapshot_mounts m = { 0 };
  snapshot_info before = { 0 }, after = { 0 }, in = { 0 };
  snapshot_label l1[] = { { "x", "1" }, { "y", "2" } };
  snapshot_label l2[] = { { "y", "3" }, { "z", "4" } };
  const char *paths_y[] = { "labels.y" };
  const char *paths_x[] = { "labels.x" };
  const char *paths_parent[] = { "parent" };
  mp_error err = { 0 };

  REQUIRE (sn != NULL);
  CHECK (snapshotter_prepare (sn, "a", "", l1, 2, &m, &err) == 0);
  snapshot_mounts_free (&m);
  CHECK (snapshotter_stat (sn, "a", &before, &err) == 0);
  CHECK (before.nlabels == 2);
  in.name = "a";
  in.labels = l2;
  in.nlabels = 2;
  usleep (2000);
  CHECK (snapshotter_update (sn, &in, paths_y, 1, &after, &err) == 0);
  CHECK (after.nlabels == 2);
  for (size_t i = 0; i < after.nlabels; i++)
    if (strcmp (after.labels[i].key, "y") == 0)
      CHECK_STR (after.labels[i].value, "3");
    else
      CHECK_STR (after.labels[i].key, "x");
  CHECK (after.created.tv_sec == before.created.tv_sec
         && after.created.tv_nsec == before.created.tv_nsec);
  CHECK (after.updated.tv_sec > before.updated.tv_sec
         || (after.updated.tv_sec == before.updated.tv_sec
             && after.updated.tv_nsec > before.updated.tv_nsec));
  snapshot_info_free (&after);
  /* a path naming an absent label deletes it */
  CHECK (snapshotter_update (sn, &in, paths_x, 1, &after, &err) == 0);
  CHECK (after.nlabels == 1);
  snapshot_info_free (&after);
  /* no paths: labels replaced */
  CHECK (snapshotter_update (sn, &in, NULL, 0, &after, &err) == 0);
  CHECK (after.nlabels == 2);
  snapshot_info_free (&after);
  CHECK (snapshotter_update (sn, &in, paths_parent, 1, &after, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  in.name = "missing";
  CHECK (snapshotter_update (sn, &in, NULL, 0, &after, &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  snapshot_info_free (&before);
  done (sn);
}

TEST (test_commit_with_parent_rebase)
{
  snapshotter *sn = fresh ();
  snapshot_mounts m = { 0 };
  snapshot_info info = { 0 };
  mp_error err = { 0 };

  REQUIRE (sn != NULL);
  CHECK (snapshotter_prepare (sn, "base", "", NULL, 0, &m, &err) == 0);
  snapshot_mounts_free (&m);
  CHECK (snapshotter_commit (sn, "L1", "base", NULL, NULL, 0, &err) == 0);
  /* a layer unpacked without its parent, committed onto it */
  CHECK (snapshotter_prepare (sn, "up", "", NULL, 0, &m, &err) == 0);
  snapshot_mounts_free (&m);
  CHECK (snapshotter_commit (sn, "L2", "up", "L1", NULL, 0, &err) == 0);
  CHECK (snapshotter_stat (sn, "L2", &info, &err) == 0);
  CHECK_STR (info.parent, "L1");
  snapshot_info_free (&info);
  CHECK (snapshotter_remove (sn, "L1", &err) < 0
         && err.code == MP_ERR_FAILED_PRECONDITION);
  CHECK (snapshotter_prepare (sn, "up2", "", NULL, 0, &m, &err) == 0);
  snapshot_mounts_free (&m);
  CHECK (snapshotter_commit (sn, "L3", "up2", "nope", NULL, 0, &err) < 0
         && err.code == MP_ERR_NOT_FOUND);
  done (sn);
}

TEST (test_usage)
{
  snapshotter *sn = fresh ();
  snapshot_mounts m = { 0 };
  snapshot_usage u1, u2;
  mp_error err = { 0 };
  char big[65536];

  REQUIRE (sn != NULL);
  CHECK (snapshotter_prepare (sn, "a", "", NULL, 0, &m, &err) == 0);
  REQUIRE (m.n == 1);
  CHECK (snapshotter_usage (sn, "a", &u1, &err) == 0);
  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  CHECK (write_file (m.items[0].source, "big", big) == 0);
  CHECK (snapshotter_usage (sn, "a", &u2, &err) == 0);
  CHECK (u2.size >= u1.size + 65536 - 4096);
  CHECK (u2.inodes == u1.inodes + 1);
  snapshot_mounts_free (&m);
  CHECK (snapshotter_commit (sn, "A", "a", NULL, NULL, 0, &err) == 0);
  CHECK (snapshotter_usage (sn, "A", &u1, &err) == 0);
  CHECK (u1.size == u2.size && u1.inodes == u2.inodes);
  done (sn);
}

static int
count_walk (void *ctx, const snapshot_info *info, mp_error *err)
{
  (*(int *)ctx)++;
  return 0;
}

TEST (test_cleanup_removes_leftovers_only)
{
  snapshotter *sn = fresh ();
  snapshot_mounts m = { 0 };
  mp_error err = { 0 };
  char p[512];
  struct stat st;
  int n = 0;

  REQUIRE (sn != NULL);
  CHECK (snapshotter_prepare (sn, "a", "", NULL, 0, &m, &err) == 0);
  snapshot_mounts_free (&m);
  /* what crashes leave: an id directory without a record, temp dirs */
  snprintf (p, sizeof p, "%s/snapshots/77", root);
  CHECK (mp_mkdir_p (p, 0755, &err) == 0);
  snprintf (p, sizeof p, "%s/snapshots/new-abc123/fs", root);
  CHECK (mp_mkdir_p (p, 0755, &err) == 0);
  snprintf (p, sizeof p, "%s/snapshots/rm-5", root);
  CHECK (mp_mkdir_p (p, 0755, &err) == 0);
  CHECK (snapshotter_cleanup (sn, &err) == 0);
  snprintf (p, sizeof p, "%s/snapshots/77", root);
  CHECK (stat (p, &st) < 0);
  snprintf (p, sizeof p, "%s/snapshots/new-abc123", root);
  CHECK (stat (p, &st) < 0);
  snprintf (p, sizeof p, "%s/snapshots/rm-5", root);
  CHECK (stat (p, &st) < 0);
  snprintf (p, sizeof p, "%s/snapshots/1/fs", root);
  CHECK (stat (p, &st) == 0);
  CHECK (snapshotter_walk (sn, NULL, count_walk, &n, &err) == 0 && n == 1);
  done (sn);
}

TEST (test_stale_directory_at_fresh_id)
{
  snapshotter *sn = fresh ();
  snapshot_mounts m = { 0 };
  mp_error err = { 0 };
  char p[512];

  REQUIRE (sn != NULL);
  /* a crash between rename and commit leaves snapshots/1 with content */
  snprintf (p, sizeof p, "%s/snapshots/1/fs/junk", root);
  CHECK (mp_mkdir_p (p, 0755, &err) == 0);
  CHECK (snapshotter_prepare (sn, "a", "", NULL, 0, &m, &err) == 0);
  REQUIRE (m.n == 1);
  snprintf (p, sizeof p, "%s/junk", m.items[0].source);
  CHECK (access (p, F_OK) < 0);
  snapshot_mounts_free (&m);
  done (sn);
}

TEST (test_reopen_keeps_state)
{
  snapshotter *sn = fresh ();
  snapshot_mounts m = { 0 };
  snapshot_info info = { 0 };
  mp_error err = { 0 };

  REQUIRE (sn != NULL);
  CHECK (snapshotter_prepare (sn, "a", "", NULL, 0, &m, &err) == 0);
  snapshot_mounts_free (&m);
  CHECK (snapshotter_commit (sn, "A", "a", NULL, NULL, 0, &err) == 0);
  snapshotter_close (sn);
  sn = snapshotter_open (root, &err);
  REQUIRE (sn != NULL);
  CHECK (snapshotter_stat (sn, "A", &info, &err) == 0);
  CHECK (info.kind == SNAPSHOT_KIND_COMMITTED);
  snapshot_info_free (&info);
  /* ids are not reused after a restart */
  CHECK (snapshotter_prepare (sn, "b", "A", NULL, 0, &m, &err) == 0);
  REQUIRE (m.n == 1);
  {
    bool found = false;
    for (size_t i = 0; i < m.items[0].noptions; i++)
      found |= strstr (m.items[0].options[i], "/2/fs") != NULL;
    CHECK (found);
  }
  snapshot_mounts_free (&m);
  done (sn);
}

static int
collect_model (void *ctx, const char *model, mp_error *err)
{
  (*(int *)ctx)++;
  return strcmp (model, "sha256:abc") == 0 ? 0 : -1;
}

TEST (test_model_snapshot)
{
  snapshotter *sn = fresh ();
  snapshot_mounts m = { 0 };
  mp_error err = { 0 };
  char tree[512];
  int refs = 0;

  REQUIRE (sn != NULL);
  snprintf (tree, sizeof tree, "%s/tree", root);
  CHECK (mkdir (tree, 0755) == 0);
  CHECK (snapshotter_prepare_model (sn, "k8s.io/1/vol", NULL, 0, "sha256:abc",
                                    tree, &m, &err)
         == 0);
  REQUIRE (m.n == 1);
  CHECK_STR (m.items[0].type, "overlay");
  {
    char want[600];
    bool lower = false, upper = false;

    snprintf (want, sizeof want, "lowerdir=%s", tree);
    for (size_t i = 0; i < m.items[0].noptions; i++)
      {
        lower |= strcmp (m.items[0].options[i], want) == 0;
        upper |= strncmp (m.items[0].options[i], "upperdir=", 9) == 0;
      }
    CHECK (lower && upper);
  }
  snapshot_mounts_free (&m);
  /* Mounts gives the same answer later, and the reference is listed */
  CHECK (snapshotter_mounts (sn, "k8s.io/1/vol", &m, &err) == 0 && m.n == 1);
  snapshot_mounts_free (&m);
  CHECK (snapshotter_model_refs (sn, collect_model, &refs, &err) == 0);
  CHECK (refs == 1);
  CHECK (snapshotter_prepare_model (sn, "k8s.io/2/vol", NULL, 0, "sha256:abc",
                                    "relative", &m, &err)
             < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (snapshotter_remove (sn, "k8s.io/1/vol", &err) == 0);
  refs = 0;
  CHECK (snapshotter_model_refs (sn, collect_model, &refs, &err) == 0);
  CHECK (refs == 0);
  done (sn);
}

/* --- service layer --------------------------------------------------- */

struct capture
{
  int sends;
  uint8_t buf[4096];
  size_t len;
};

static int
capture_send (mp_rpc_call *call, const ProtobufCMessage *msg, mp_error *err)
{
  struct capture *c = call->transport;

  c->sends++;
  c->len = protobuf_c_message_get_packed_size (msg);
  if (c->len <= sizeof c->buf)
    protobuf_c_message_pack (msg, c->buf);
  return 0;
}

static int
call_method (snapshots_service *svc, const char *method, const void *req,
             size_t len, struct capture *c, mp_error *err)
{
  mp_rpc_call call = { 0 };
  char path[256];

  snprintf (path, sizeof path, SNAPSHOTS_SERVICE_PREFIX "%s", method);
  call.method = path;
  call.ns = "default";
  call.request = req;
  call.request_len = len;
  call.send = capture_send;
  call.transport = c;
  return snapshots_service_handle (svc, &call, err);
}

TEST (test_service_bad_input)
{
  snapshots_service svc = { .sn = fresh () };
  struct capture c = { 0 };
  mp_error err = { 0 };
  /* field 2 (key) as a length-delimited string that runs past the end */
  static const uint8_t truncated[] = { 0x12, 0x50, 'a', 'b' };
  static const uint8_t badwire[] = { 0x17 }; /* wire type 7 */

  REQUIRE (svc.sn != NULL);
  CHECK (call_method (&svc, "Prepare", truncated, sizeof truncated, &c, &err)
             < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (call_method (&svc, "Stat", badwire, sizeof badwire, &c, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  CHECK (call_method (&svc, "Frobnicate", "", 0, &c, &err) < 0
         && err.code == MP_ERR_UNIMPLEMENTED);
  {
    mp_rpc_call call = { .method = "/other.Service/Prepare",
                         .ns = "",
                         .send = capture_send,
                         .transport = &c };
    CHECK (snapshots_service_handle (&svc, &call, &err) < 0
           && err.code == MP_ERR_UNIMPLEMENTED);
  }
  CHECK (c.sends == 0);
  /* an empty Stat request is valid protobuf with an empty key */
  CHECK (call_method (&svc, "Stat", "", 0, &c, &err) < 0
         && err.code == MP_ERR_INVALID_ARGUMENT);
  done (svc.sn);
}

TEST (test_service_round_trip)
{
  snapshots_service svc = { .sn = fresh () };
  struct capture c = { 0 };
  mp_error err = { 0 };
  Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req
      = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
  Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *resp;
  uint8_t buf[512];
  size_t len;

  REQUIRE (svc.sn != NULL);
  req.key = "ns/1/k";
  len = protobuf_c_message_pack (&req.base, buf);
  CHECK (call_method (&svc, "Prepare", buf, len, &c, &err) == 0);
  CHECK (c.sends == 1);
  resp
      = containerd__services__snapshots__v1__prepare_snapshot_response__unpack (
          NULL, c.len, c.buf);
  REQUIRE (resp != NULL);
  CHECK (resp->n_mounts == 1);
  CHECK_STR (resp->mounts[0]->type, "bind");
  containerd__services__snapshots__v1__prepare_snapshot_response__free_unpacked (
      resp, NULL);
  done (svc.sn);
}

TEST_MAIN (T (test_prepare_commit_chain_mounts), T (test_error_classes),
           T (test_update_labels), T (test_commit_with_parent_rebase),
           T (test_usage), T (test_cleanup_removes_leftovers_only),
           T (test_stale_directory_at_fresh_id), T (test_reopen_keeps_state),
           T (test_model_snapshot), T (test_service_bad_input),
           T (test_service_round_trip))
