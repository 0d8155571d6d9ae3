/* A Kubernetes image volume, end to end through the CRI, the way a kubelet
 * does it: run a host-network pod sandbox, pull the container image and the
 * volume's image, create a container whose Mount names the volume image
 * (Mount.image, KEP-4639), start it, and exec inside it to list the files
 * under the mount path with their SHA-256, compare them with expectations,
 * and check that the mount is read-only.  Then stop and remove the container
 * and the sandbox, and check the runtime let go of the volume's snapshot.
 *
 * usage: cri_volume --address SOCK --ping
 *        cri_volume --address SOCK --image IMG --volume-ref REF
 *            [--mount-path /model] [--expect-file PATH:SHA256 ...] [--exact]
 *            [--expect-empty] [--list] [--log-dir DIR] [--name NAME]
 *            [--snapshotter NAME] [--backend SOCK]
 *            [--expect-mode MODE:PATH ...] [--while-running CMD]
 *            [--expect-create-error TEXT] [--before-create CMD]
 *            [--after-create CMD]
 *   --address      the runtime's CRI socket (containerd's main socket)
 *   --ping         only ask the runtime's Version: exit 0 once the CRI
 *                  answers (it refuses calls until initialised)
 *   --image        the container's image: needs sh, sleep, find, sha256sum,
 *                  ls, cat and rm on its PATH
 *   --volume-ref   the image (or artifact) to mount at --mount-path
 *   --expect-file  PATH (relative to the mount path, or absolute inside the
 *                  container) must be listed with this SHA-256; repeatable
 *   --exact        the listing must be exactly the expected files
 *   --expect-mode  PATH (as for --expect-file) must have permission bits
 *                  MODE (octal, e.g. 0644, as stat %a shows them);
 *                  repeatable
 *   --expect-empty the volume must show no file at all (what a runtime
 *                  without artifact support mounts for a ModelPack
 *                  artifact); without it the volume must not be empty
 *   --list         print `ls -laR` of the mount path
 *   --log-dir      the pod's log directory (default: a fresh temporary
 *                  directory, removed at the end)
 *   --snapshotter  the pod runtime's snapshotter in containerd: print the
 *                  image-volume snapshots containerd records (namespace
 *                  k8s.io) and check they are gone after the pod
 *   --backend      a proxy snapshotter's own socket: print the image-volume
 *                  snapshots (key, parent, labels) as the backend received
 *                  them, and check they are gone after the pod
 *   --expect-create-error  CreateContainer must fail with a message holding
 *                  TEXT (the volume cannot be mounted); print that message,
 *                  and check that no image-volume snapshot was left behind
 *                  (at --snapshotter and --backend) while the sandbox runs
 *   --expect-pull-error  PullImage of --volume-ref must fail with a message
 *                  holding TEXT (an image verifier refused it); print that
 *                  message, and create no container
 *   --while-running  run CMD with /bin/sh -c on this host once the files
 *                  are verified, while the container still runs (another
 *                  pod on the same volume, a look at the host's side);
 *                  CMD failing is a failed check
 *   --before-create, --after-create  run CMD with /bin/sh -c on this host
 *                  just before and just after CreateContainer (after the
 *                  sandbox and the pulls): a test's way to break something
 *                  for CreateContainer only; CMD failing is a failed check
 *
 * Prints "ok ..." / "FAIL ..." per check, "info ..." lines for the record,
 * and "cri_volume: N passed, N failed" last; exits 0 only without failures
 * (2 on bad usage). */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "google/protobuf/empty.pb-c.h"
#include "images/images.pb-c.h"
#include "integration/lib/cri_client.h"
#include "plugin/grpc_client.h"
#include "integration/lib/snapclient.h"
#include "util/cleanup.h"

#define K8S_NS "k8s.io"
/* containerd's CRI mounts image volumes below
 * <state>/io.containerd.grpc.v1.cri/image-volumes/<sandbox>/<digest hex>. */
#define IMAGE_VOLUMES "/image-volumes/"
#define EXEC_TIMEOUT_S 60

static int passed, failed;

static void check (bool ok, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
static void
check (bool ok, const char *fmt, ...)
{
  va_list ap;

  if (ok)
    passed++;
  else
    failed++;
  fputs (ok ? "ok   " : "FAIL ", stdout);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

static void info (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
static void
info (const char *fmt, ...)
{
  va_list ap;

  fputs ("info ", stdout);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

/* Print TEXT (several lines) indented under the last check or info. */
static void
print_block (const char *text)
{
  const char *p = text;

  while (p != NULL && *p != '\0')
    {
      const char *nl = strchr (p, '\n');
      int len = nl ? (int)(nl - p) : (int)strlen (p);
      printf ("     %.*s\n", len, p);
      p = nl ? nl + 1 : NULL;
    }
  fflush (stdout);
}

static int64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *
xnonnull (void *p)
{
  if (p == NULL)
    {
      fprintf (stderr, "cri_volume: out of memory\n");
      exit (2);
    }
  return p;
}

static char *xasprintf (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));
static char *
xasprintf (const char *fmt, ...)
{
  char *s = NULL;
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vasprintf (&s, fmt, ap);
  va_end (ap);
  return xnonnull (n < 0 ? NULL : s);
}

/* A 128-bit random value as a UUID (version 4), as pod UIDs look. */
static char *
random_uid (void)
{
  unsigned char b[16];
  size_t got = 0;

  while (got < sizeof b)
    {
      ssize_t n = getrandom (b + got, sizeof b - got, 0);
      if (n < 0 && errno != EINTR)
        {
          perror ("cri_volume: getrandom");
          exit (2);
        }
      if (n > 0)
        got += (size_t)n;
    }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return xasprintf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                    "%02x%02x%02x%02x%02x%02x",
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                    b[10], b[11], b[12], b[13], b[14], b[15]);
}

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  return remove (path) < 0 && errno != ENOENT ? -1 : 0;
}

/* ---- expectations and listings ------------------------------------------ */

typedef struct file_hash
{
  char *path; /* absolute inside the container */
  char *sha256;
  bool seen;
} file_hash;

typedef struct file_list
{
  size_t n;
  file_hash *v;
} file_list;

static void
file_list_add (file_list *l, char *path, char *sha256)
{
  l->v = xnonnull (reallocarray (l->v, l->n + 1, sizeof *l->v));
  l->v[l->n++] = (file_hash){ .path = path, .sha256 = sha256 };
}

static void
file_list_free (file_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      free (l->v[i].path);
      free (l->v[i].sha256);
    }
  free (l->v);
  memset (l, 0, sizeof *l);
}

static int
file_hash_cmp (const void *a, const void *b)
{
  return strcmp (((const file_hash *)a)->path, ((const file_hash *)b)->path);
}

static file_hash *
file_list_find (file_list *l, const char *path)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp (l->v[i].path, path) == 0)
      return &l->v[i];
  return NULL;
}

static bool
is_sha256_hex (const char *s, size_t len)
{
  if (len != 64)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* "PATH:SHA256" from the command line; PATH relative to MOUNT_PATH unless
 * absolute. */
static int
parse_expectation (file_list *l, const char *arg, const char *mount_path)
{
  const char *colon = strrchr (arg, ':');

  if (colon == NULL || colon == arg
      || !is_sha256_hex (colon + 1, strlen (colon + 1)))
    {
      fprintf (stderr,
               "cri_volume: --expect-file wants PATH:SHA256 (64 "
               "lowercase hex digits), not '%s'\n",
               arg);
      return -1;
    }
  size_t plen = (size_t)(colon - arg);
  char *path = arg[0] == '/'
                   ? xasprintf ("%.*s", (int)plen, arg)
                   : xasprintf ("%s/%.*s", mount_path, (int)plen, arg);
  file_list_add (l, path, xasprintf ("%s", colon + 1));
  return 0;
}

typedef struct file_mode
{
  char *path; /* absolute inside the container */
  unsigned mode;
} file_mode;

typedef struct mode_list
{
  size_t n;
  file_mode *v;
} mode_list;

static void
mode_list_free (mode_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    free (l->v[i].path);
  free (l->v);
  memset (l, 0, sizeof *l);
}

/* "MODE:PATH" from the command line: MODE octal permission bits, PATH
 * relative to MOUNT_PATH unless absolute (the mode comes first as a path
 * may hold ':'). */
static int
parse_mode_expectation (mode_list *l, const char *arg, const char *mount_path)
{
  const char *colon = strchr (arg, ':');
  char *end = NULL;
  unsigned long mode;

  errno = 0;
  mode = colon ? strtoul (arg, &end, 8) : 0;
  if (colon == NULL || colon == arg || end != colon || errno != 0
      || mode > 07777 || colon[1] == '\0')
    {
      fprintf (stderr,
               "cri_volume: --expect-mode wants MODE:PATH (octal "
               "permission bits, e.g. 0644:config.json), not '%s'\n",
               arg);
      return -1;
    }
  l->v = xnonnull (reallocarray (l->v, l->n + 1, sizeof *l->v));
  l->v[l->n++] = (file_mode){
    .path = colon[1] == '/' ? xasprintf ("%s", colon + 1)
                            : xasprintf ("%s/%s", mount_path, colon + 1),
    .mode = (unsigned)mode,
  };
  return 0;
}

/* sha256sum's output: "<64 hex>  <path>" per line. */
static int
parse_sha256sum (file_list *l, const char *out)
{
  const char *p = out;

  while (*p != '\0')
    {
      const char *nl = strchr (p, '\n');
      size_t len = nl ? (size_t)(nl - p) : strlen (p);
      if (len > 0)
        {
          if (len < 67 || !is_sha256_hex (p, 64) || p[64] != ' '
              || (p[65] != ' ' && p[65] != '*'))
            return -1;
          file_list_add (l, xasprintf ("%.*s", (int)(len - 66), p + 66),
                         xasprintf ("%.64s", p));
        }
      p = nl ? nl + 1 : p + len;
    }
  qsort (l->v, l->n, sizeof *l->v, file_hash_cmp);
  return 0;
}

/* ---- snapshots: what the snapshotter was asked for ---------------------- */

typedef struct walk_state
{
  const char *who;
  const char *match; /* a key holds this: the sandbox's image volumes */
  bool quiet;
  size_t found;
} walk_state;

static int
print_volume_snapshot (const snapclient_info *si, void *opaque, mp_error *err)
{
  walk_state *w = opaque;

  if (strstr (si->name, w->match) == NULL)
    return 0;
  w->found++;
  if (w->quiet)
    return 0;
  cleanup_free char *labels = snapclient_labels_format (&si->labels);
  info ("%s: image volume snapshot key=%s parent=%s kind=%s labels=%s", w->who,
        si->name, si->parent[0] ? si->parent : "\"\"",
        snapclient_kind_name (si->kind), labels ? labels : "?");
  return 0;
}

/* Count (and unless QUIET print) the snapshots at SOCKET (in namespace NS,
 * through snapshotter SNAPSHOTTER; both "" for a backend) whose key holds
 * MATCH; -1 when they cannot be listed. */
static long
list_volume_snapshots (const char *who, const char *socket, const char *ns,
                       const char *snapshotter, const char *match, bool quiet)
{
  mp_error err = { 0 };
  mp_grpc_client *g = mp_grpc_client_new (socket, &err);
  snapclient *sc = NULL;
  walk_state w = { .who = who, .match = match, .quiet = quiet };
  long ret = -1;

  if (g == NULL || mp_grpc_client_set_namespace (g, ns, &err) < 0)
    goto out;
  mp_grpc_client_set_timeout_ms (g, 30000);
  sc = snapclient_new (g, snapshotter, &err);
  if (sc == NULL)
    goto out;
  if (snapclient_list (sc, NULL, 0, print_volume_snapshot, &w, &err) != 0)
    goto out;
  ret = (long)w.found;
out:
  if (ret < 0)
    info ("%s: cannot list snapshots: %s", who, err.msg);
  snapclient_free (sc);
  mp_grpc_client_free (g);
  return ret;
}

/* Run containerd's garbage collection to its end: name an image and delete
 * it with sync.  containerd removes a proxy snapshotter's unused snapshots
 * only when a collection runs, and a removal does not always start one. */
static const char *gc_address;
static void
gc_run (void)
{
  mp_error err = { 0 };
  mp_grpc_client *g = gc_address ? mp_grpc_client_new (gc_address, &err) : NULL;
  Containerd__Services__Images__V1__Image img
      = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
  Containerd__Types__Descriptor target = CONTAINERD__TYPES__DESCRIPTOR__INIT;
  Containerd__Services__Images__V1__CreateImageRequest creq
      = CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
  Containerd__Services__Images__V1__DeleteImageRequest dreq
      = CONTAINERD__SERVICES__IMAGES__V1__DELETE_IMAGE_REQUEST__INIT;
  ProtobufCMessage *resp = NULL;
  char name[96];

  if (g == NULL || mp_grpc_client_set_namespace (g, K8S_NS, &err) < 0)
    goto out;
  mp_grpc_client_set_timeout_ms (g, 30000);
  snprintf (name, sizeof name, "cri-volume-gc/%ld:1", (long)getpid ());
  target.media_type = "application/vnd.oci.image.manifest.v1+json";
  target.digest
      = "sha256:"
        "0000000000000000000000000000000000000000000000000000000000000000";
  target.size = 1;
  img.name = name;
  img.target = &target;
  creq.image = &img;
  if (mp_grpc_client_unary (
          g, "/containerd.services.images.v1.Images/Create", &creq.base,
          &containerd__services__images__v1__create_image_response__descriptor,
          &resp, &err)
      != 0)
    goto out;
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  resp = NULL;
  dreq.name = name;
  dreq.sync = true;
  mp_grpc_client_unary (g, "/containerd.services.images.v1.Images/Delete",
                        &dreq.base, &google__protobuf__empty__descriptor, &resp,
                        &err);
out:
  if (err.msg[0] != '\0')
    info ("containerd garbage collection: %s", err.msg);
  if (resp != NULL)
    protobuf_c_message_free_unpacked (resp, NULL);
  mp_grpc_client_free (g);
}

/* The sandbox's image-volume snapshots at one place: while the container
 * runs there must be one at least (printed: the record of what the
 * snapshotter was asked); after the pod none.  A backend hears of removals
 * only when containerd's garbage collector runs, so "none" is polled for. */
static void
snapshots_check (const char *who, const char *socket, const char *ns,
                 const char *snapshotter, const char *match, bool expect_none)
{
  long n;

  if (!expect_none)
    {
      n = list_volume_snapshots (who, socket, ns, snapshotter, match, false);
      check (n >= 1, "%s: the image volume has a snapshot (%ld)", who, n);
      return;
    }
  /* CRI_VOLUME_GC_AFTER_MS: when to run a collection (tests of this). */
  const char *after = getenv ("CRI_VOLUME_GC_AFTER_MS");
  int64_t gc_after = after != NULL ? atoll (after) : 3000;

  for (int64_t start = now_ms (), deadline = start + 20000, nudged = 0;;)
    {
      n = list_volume_snapshots (who, socket, ns, snapshotter, match, true);
      if (n == 0 || now_ms () > deadline)
        break;
      if (!nudged && now_ms () >= start + gc_after)
        {
          gc_run ();
          nudged = 1;
        }
      usleep (200 * 1000);
    }
  if (n != 0)
    list_volume_snapshots (who, socket, ns, snapshotter, match, false);
  check (n == 0, "%s: no image-volume snapshot left (%ld)", who, n);
}

/* ---- the test ----------------------------------------------------------- */

typedef struct options
{
  const char *address;
  const char *image;
  const char *volume_ref;
  const char *mount_path;
  const char *log_dir;
  const char *name;
  const char *snapshotter;
  const char *backend;
  const char *expect_create_error;
  const char *expect_pull_error;
  const char *before_create;
  const char *after_create;
  const char *while_running;
  bool exact;
  bool expect_empty;
  bool list;
  bool ping;
  file_list expect;
  mode_list modes;
} options;

typedef struct run
{
  const options *o;
  cri_client *cri;
  cri_pod_config pod;
  char *sandbox_id;
  char *container_id;
} run;

/* Exec ARGV in the container; the result is the caller's on 0. */
static int
exec_in (run *r, const char *const *argv, cri_exec_result *res)
{
  mp_error err = { 0 };
  int rc = cri_exec_sync (r->cri, r->container_id, argv, EXEC_TIMEOUT_S, res,
                          &err);

  if (rc != 0)
    check (false, "ExecSync %s: %s", argv[0], err.msg);
  return rc;
}

static void
snapshots_report (run *r, const char *when, bool expect_none)
{
  const options *o = r->o;
  cleanup_free char *match = xasprintf ("%s%s/", IMAGE_VOLUMES, r->sandbox_id);

  if (o->snapshotter != NULL)
    {
      cleanup_free char *who = xasprintf ("containerd (%s, ns %s) %s",
                                          o->snapshotter, K8S_NS, when);
      snapshots_check (who, o->address, K8S_NS, o->snapshotter, match,
                       expect_none);
    }
  if (o->backend != NULL)
    {
      cleanup_free char *who = xasprintf ("backend %s %s", o->backend, when);
      snapshots_check (who, o->backend, "", "", match, expect_none);
    }
}

/* Each --expect-mode path has those permission bits: one stat for all. */
static void
verify_modes (run *r)
{
  const options *o = r->o;
  cleanup_free const char **argv
      = xnonnull (calloc (o->modes.n + 4, sizeof (char *)));
  cri_exec_result res = { 0 };
  size_t n = 0;

  if (o->modes.n == 0)
    return;
  argv[n++] = "stat";
  argv[n++] = "-c";
  argv[n++] = "%a %n";
  for (size_t i = 0; i < o->modes.n; i++)
    argv[n++] = o->modes.v[i].path;
  if (exec_in (r, argv, &res) != 0)
    return;
  if (res.err_len > 0)
    print_block (res.err);
  for (size_t i = 0; i < o->modes.n; i++)
    {
      const file_mode *want = &o->modes.v[i];
      const char *p = res.out;
      bool found = false;
      unsigned long got = 0;

      /* Lines are "<octal> <path>"; paths may hold spaces, not newlines. */
      while (p != NULL && *p != '\0')
        {
          const char *nl = strchr (p, '\n');
          size_t len = nl ? (size_t)(nl - p) : strlen (p);
          const char *sp = memchr (p, ' ', len);

          if (sp != NULL && (size_t)(p + len - sp - 1) == strlen (want->path)
              && memcmp (sp + 1, want->path, strlen (want->path)) == 0)
            {
              found = true;
              got = strtoul (p, NULL, 8);
              break;
            }
          p = nl ? nl + 1 : NULL;
        }
      if (!found)
        check (false, "%s has mode %04o (stat shows nothing for it)",
               want->path, want->mode);
      else
        check (got == want->mode, "%s has mode %04o%s%04lo", want->path,
               want->mode, got == want->mode ? "" : ", not ",
               got == want->mode ? 0UL : got);
    }
  cri_exec_result_free (&res);
}

static void
verify_files (run *r)
{
  const options *o = r->o;
  const char *find_argv[] = { "find",      o->mount_path, "-type", "f", "-exec",
                              "sha256sum", "{}",          "+",     NULL };
  cri_exec_result res = { 0 };
  file_list got = { 0 };

  if (exec_in (r, find_argv, &res) != 0)
    return;
  check (res.exit_code == 0 && res.err_len == 0,
         "find %s -type f -exec sha256sum {} + (exit %d)", o->mount_path,
         res.exit_code);
  if (res.err_len > 0)
    print_block (res.err);
  if (parse_sha256sum (&got, res.out) < 0)
    {
      check (false, "sha256sum output is '<hash>  <path>' lines");
      print_block (res.out);
      goto out;
    }
  info ("%zu files under %s:", got.n, o->mount_path);
  for (size_t i = 0; i < got.n; i++)
    printf ("     %s  %s\n", got.v[i].sha256, got.v[i].path);
  if (o->expect_empty)
    check (got.n == 0, "the volume is an empty directory (%zu files)", got.n);
  else
    check (got.n > 0, "the volume is not an empty directory");

  for (size_t i = 0; i < o->expect.n; i++)
    {
      const file_hash *want = &o->expect.v[i];
      file_hash *f = file_list_find (&got, want->path);
      if (f == NULL)
        {
          check (false, "%s is in the volume", want->path);
          continue;
        }
      f->seen = true;
      bool same = strcmp (f->sha256, want->sha256) == 0;
      check (same, "%s has sha256 %s%s%s", want->path, want->sha256,
             same ? "" : ", not ", same ? "" : f->sha256);
    }
  if (o->exact)
    {
      size_t extra = 0;
      for (size_t i = 0; i < got.n; i++)
        if (!got.v[i].seen)
          {
            extra++;
            printf ("     unexpected: %s\n", got.v[i].path);
          }
      check (extra == 0, "no file beyond the %zu expected (%zu more)",
             o->expect.n, extra);
    }

  verify_modes (r);

  /* The volume must be read-only: a new file, and removing one. */
  {
    cleanup_free char *probe
        = xasprintf ("%s/.cri-volume-write-probe", o->mount_path);
    cleanup_free char *script = xasprintf ("echo x > '%s'", probe);
    const char *write_argv[] = { "sh", "-c", script, NULL };
    cri_exec_result w = { 0 };

    if (exec_in (r, write_argv, &w) == 0)
      {
        check (w.exit_code != 0,
               "writing %s fails (exit %d): the volume is read-only", probe,
               w.exit_code);
        print_block (w.err);
        cri_exec_result_free (&w);
      }
    if (got.n > 0)
      {
        const char *rm_argv[] = { "rm", "-f", got.v[0].path, NULL };
        if (exec_in (r, rm_argv, &w) == 0)
          {
            check (w.exit_code != 0, "rm -f %s fails (exit %d)", got.v[0].path,
                   w.exit_code);
            print_block (w.err);
            cri_exec_result_free (&w);
          }
      }
  }

  /* How the mount looks from inside: for the record. */
  {
    cleanup_free char *script
        = xasprintf ("grep ' %s ' /proc/self/mounts", o->mount_path);
    const char *argv[] = { "sh", "-c", script, NULL };
    cri_exec_result m = { 0 };

    if (exec_in (r, argv, &m) == 0)
      {
        check (m.exit_code == 0 && strstr (m.out, " ro,") != NULL,
               "%s is mounted ro in the container", o->mount_path);
        print_block (m.out);
        cri_exec_result_free (&m);
      }
  }

  if (o->list)
    {
      const char *ls_argv[] = { "ls", "-laR", o->mount_path, NULL };
      cri_exec_result l = { 0 };

      if (exec_in (r, ls_argv, &l) == 0)
        {
          info ("ls -laR %s (exit %d):", o->mount_path, l.exit_code);
          print_block (l.out);
          print_block (l.err);
          cri_exec_result_free (&l);
        }
    }
out:
  file_list_free (&got);
  cri_exec_result_free (&res);
}

/* Run a --before-create / --after-create hook. */
static void
hook (const char *what, const char *cmd)
{
  int st;

  if (cmd == NULL)
    return;
  fflush (stdout);
  st = system (cmd);
  check (st == 0, "%s hook: %s (status %d)", what, cmd, st);
}

static void
create_and_verify (run *r)
{
  const options *o = r->o;
  mp_error err = { 0 };
  const char *const command[] = { "sleep", "3600", NULL };
  cri_image_mount vol = { .container_path = o->mount_path,
                          .image = o->volume_ref,
                          .readonly = true };
  cri_container_spec spec = { .name = "volume-test",
                              .image = o->image,
                              .command = command,
                              .log_path = "volume-test.log",
                              .image_mounts = &vol,
                              .n_image_mounts = 1 };
  cri_container_info st = { 0 };
  int64_t t0, t1, t2;
  int rc;

  /* The CRI refuses a writable image mount before touching any snapshot,
   * as the kubelet never asks for one. */
  {
    cri_image_mount rw = vol;
    cri_container_spec rw_spec = spec;
    char *id = NULL;

    rw.readonly = false;
    rw_spec.name = "volume-test-rw";
    rw_spec.image_mounts = &rw;
    rc = cri_create_container (r->cri, r->sandbox_id, &rw_spec, &r->pod, &id,
                               &err);
    check (rc != 0, "CreateContainer with a writable image mount is refused");
    if (rc != 0)
      info ("refused with: %s", err.msg);
    else
      {
        mp_error e2 = { 0 };
        cri_remove_container (r->cri, id, &e2);
        free (id);
      }
  }

  hook ("before-create", o->before_create);
  t0 = now_ms ();
  rc = cri_create_container (r->cri, r->sandbox_id, &spec, &r->pod,
                             &r->container_id, &err);
  t1 = now_ms ();
  hook ("after-create", o->after_create);
  if (o->expect_create_error != NULL)
    {
      check (rc != 0, "CreateContainer with %s mounted fails", o->volume_ref);
      if (rc != 0)
        {
          info ("CreateContainer error (gRPC %s): %s", mp_grpc_code_name (rc),
                err.msg);
          check (strstr (err.msg, o->expect_create_error) != NULL,
                 "the error says '%s'", o->expect_create_error);
          /* A failed volume leaves no snapshot, while the sandbox (and
           * its pulls) still stand. */
          snapshots_report (r, "after CreateContainer failed", true);
        }
      return;
    }
  check (rc == 0, "CreateContainer %s with %s at %s%s%s", o->image,
         o->volume_ref, o->mount_path, rc ? ": " : "", rc ? err.msg : "");
  if (rc != 0)
    return;
  info ("container %s", r->container_id);
  rc = cri_start_container (r->cri, r->container_id, &err);
  t2 = now_ms ();
  check (rc == 0, "StartContainer%s%s", rc ? ": " : "", rc ? err.msg : "");
  if (rc != 0)
    return;
  info ("CreateContainer took %lld ms; CreateContainer to started %lld ms",
        (long long)(t1 - t0), (long long)(t2 - t0));

  rc = cri_container_status (r->cri, r->container_id, &st, &err);
  check (rc == 0 && st.state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING,
         "ContainerStatus is CONTAINER_RUNNING: %s",
         rc ? err.msg : cri_container_state_name (st.state));
  cri_container_info_free (&st);

  snapshots_report (r, "while the container runs", false);
  verify_files (r);
  hook ("while-running", o->while_running);
}

static void
teardown (run *r)
{
  mp_error err = { 0 };
  int rc;

  if (r->container_id != NULL)
    {
      rc = cri_stop_container (r->cri, r->container_id, 5, &err);
      check (rc == 0, "StopContainer%s%s", rc ? ": " : "", rc ? err.msg : "");
      rc = cri_remove_container (r->cri, r->container_id, &err);
      check (rc == 0, "RemoveContainer%s%s", rc ? ": " : "", rc ? err.msg : "");
    }
  if (r->sandbox_id != NULL)
    {
      rc = cri_stop_pod_sandbox (r->cri, r->sandbox_id, &err);
      check (rc == 0, "StopPodSandbox%s%s", rc ? ": " : "", rc ? err.msg : "");
      rc = cri_remove_pod_sandbox (r->cri, r->sandbox_id, &err);
      check (rc == 0, "RemovePodSandbox%s%s", rc ? ": " : "",
             rc ? err.msg : "");
      snapshots_report (r, "after the pod", true);
    }
}

/* As a kubelet with pullPolicy IfNotPresent: no PullImage for an image
 * the runtime has. */
static bool if_not_present;

/* PullImage of --volume-ref must fail with a message holding TEXT. */
static void
pull_refused (run *r, const char *image, const char *text)
{
  mp_error err = { 0 };
  cleanup_free char *ref = NULL;
  int rc = cri_pull_image (r->cri, image, &r->pod, &ref, &err);

  check (rc != 0, "PullImage %s is refused%s%s", image,
         rc ? "" : ": pulled as ", rc ? "" : ref);
  if (rc == 0)
    return;
  info ("refused with: %s", err.msg);
  check (strstr (err.msg, text) != NULL, "the error says '%s'", text);
}

static void
pull (run *r, const char *image)
{
  mp_error err = { 0 };
  cleanup_free char *ref = NULL;
  cri_image_info img = { 0 };
  int64_t t0 = now_ms ();
  int rc;

  if (if_not_present)
    {
      rc = cri_image_status (r->cri, image, &img, &err);
      if (rc == 0 && img.id != NULL)
        {
          check (true, "ImageStatus %s: present (%s), not pulled", image,
                 img.id);
          cri_image_info_free (&img);
          return;
        }
      cri_image_info_free (&img);
      memset (&img, 0, sizeof img);
    }
  rc = cri_pull_image (r->cri, image, &r->pod, &ref, &err);

  check (rc == 0, "PullImage %s%s%s", image, rc ? ": " : "", rc ? err.msg : "");
  if (rc != 0)
    return;
  info ("pulled %s as %s in %lld ms", image, ref, (long long)(now_ms () - t0));
  rc = cri_image_status (r->cri, image, &img, &err);
  check (rc == 0 && img.id != NULL && strcmp (img.id, ref) == 0,
         "ImageStatus %s: %s", image,
         rc       ? err.msg
         : img.id ? img.id
                  : "not present");
  cri_image_info_free (&img);
}

static int
ping (const char *address)
{
  mp_error err = { 0 };
  cri_version_info ver = { 0 };
  cri_client *cri = cri_client_new (address, 10000, &err);
  int rc = -1;

  if (cri != NULL)
    {
      cri_client_set_timeout_ms (cri, 10000);
      rc = cri_version (cri, &ver, &err);
    }
  if (rc == 0)
    printf ("%s %s (CRI %s)\n", ver.runtime_name, ver.runtime_version,
            ver.runtime_api_version);
  else
    fprintf (stderr, "cri_volume: %s\n", err.msg);
  cri_version_info_free (&ver);
  cri_client_free (cri);
  return rc == 0 ? 0 : 1;
}

static void
usage (void)
{
  fprintf (
      stderr,
      "usage: cri_volume --address SOCK --ping\n"
      "       cri_volume --address SOCK --image IMG --volume-ref REF\n"
      "           [--mount-path /model] [--expect-file PATH:SHA256 ...]"
      " [--exact]\n"
      "           [--expect-empty] [--list] [--log-dir DIR] [--name NAME]\n"
      "           [--snapshotter NAME] [--backend SOCK]\n"
      "           [--expect-mode MODE:PATH ...] [--while-running CMD]\n"
      "           [--expect-create-error TEXT] [--before-create CMD]\n"
      "           [--after-create CMD] [--if-not-present]\n"
      "           [--expect-pull-error TEXT]\n");
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "address", required_argument, NULL, 'a' },
    { "image", required_argument, NULL, 'i' },
    { "volume-ref", required_argument, NULL, 'v' },
    { "mount-path", required_argument, NULL, 'm' },
    { "expect-file", required_argument, NULL, 'e' },
    { "exact", no_argument, NULL, 'x' },
    { "expect-empty", no_argument, NULL, '0' },
    { "list", no_argument, NULL, 'l' },
    { "log-dir", required_argument, NULL, 'd' },
    { "name", required_argument, NULL, 'n' },
    { "snapshotter", required_argument, NULL, 's' },
    { "backend", required_argument, NULL, 'b' },
    { "expect-create-error", required_argument, NULL, 'E' },
    { "ping", no_argument, NULL, 'p' },
    { "before-create", required_argument, NULL, 'B' },
    { "after-create", required_argument, NULL, 'A' },
    { "expect-mode", required_argument, NULL, 'M' },
    { "while-running", required_argument, NULL, 'W' },
    { "if-not-present", no_argument, NULL, 'P' },
    { "expect-pull-error", required_argument, NULL, 'F' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  options o = { .mount_path = "/model", .name = "cri-volume" };
  cleanup_free char *tmp_log_dir = NULL;
  cleanup_free char *pod_name = NULL;
  cleanup_free char *pod_uid = NULL;
  mp_error err = { 0 };
  cri_version_info ver = { 0 };
  run r = { .o = &o };
  int c, rc;

  /* Expectations are resolved against the mount path, once all is read. */
  cleanup_free const char **expect_args
      = xnonnull (calloc (argc, sizeof (char *)));
  size_t n_expect_args = 0;
  cleanup_free const char **mode_args
      = xnonnull (calloc (argc, sizeof (char *)));
  size_t n_mode_args = 0;

  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        o.address = optarg;
        gc_address = optarg;
        break;
      case 'i':
        o.image = optarg;
        break;
      case 'v':
        o.volume_ref = optarg;
        break;
      case 'm':
        o.mount_path = optarg;
        break;
      case 'e':
        expect_args[n_expect_args++] = optarg;
        break;
      case 'x':
        o.exact = true;
        break;
      case '0':
        o.expect_empty = true;
        break;
      case 'l':
        o.list = true;
        break;
      case 'd':
        o.log_dir = optarg;
        break;
      case 'n':
        o.name = optarg;
        break;
      case 's':
        o.snapshotter = optarg;
        break;
      case 'b':
        o.backend = optarg;
        break;
      case 'E':
        o.expect_create_error = optarg;
        break;
      case 'p':
        o.ping = true;
        break;
      case 'B':
        o.before_create = optarg;
        break;
      case 'A':
        o.after_create = optarg;
        break;
      case 'M':
        mode_args[n_mode_args++] = optarg;
        break;
      case 'W':
        o.while_running = optarg;
        break;
      case 'P':
        if_not_present = true;
        break;
      case 'F':
        o.expect_pull_error = optarg;
        break;
      case 'h':
        usage ();
        return 0;
      default:
        usage ();
        return 2;
      }
  if (o.ping && optind == argc && o.address != NULL)
    return ping (o.address);
  if (optind != argc || o.address == NULL || o.image == NULL
      || o.volume_ref == NULL || o.mount_path[0] != '/')
    {
      usage ();
      return 2;
    }
  for (size_t i = 0; i < n_expect_args; i++)
    if (parse_expectation (&o.expect, expect_args[i], o.mount_path) < 0)
      return 2;
  for (size_t i = 0; i < n_mode_args; i++)
    if (parse_mode_expectation (&o.modes, mode_args[i], o.mount_path) < 0)
      return 2;
  if (o.log_dir == NULL)
    {
      const char *t = getenv ("TMPDIR");
      tmp_log_dir = xasprintf ("%s/cri-volume.XXXXXX", t && *t ? t : "/tmp");
      if (mkdtemp (tmp_log_dir) == NULL)
        {
          fprintf (stderr, "cri_volume: mkdtemp %s: %s\n", tmp_log_dir,
                   strerror (errno));
          return 2;
        }
      o.log_dir = tmp_log_dir;
    }

  r.cri = cri_client_new (o.address, 10000, &err);
  if (r.cri == NULL)
    {
      check (false, "connect: %s", err.msg);
      goto out;
    }
  rc = cri_version (r.cri, &ver, &err);
  check (rc == 0, "CRI Version: %s %s (CRI %s)%s", rc ? "?" : ver.runtime_name,
         rc ? "?" : ver.runtime_version, rc ? "?" : ver.runtime_api_version,
         rc ? err.msg : "");
  cri_version_info_free (&ver);
  if (rc != 0)
    goto out;

  /* Unique per run, as a kubelet makes them: a rerun or a concurrent run
   * never meets a leftover sandbox of the same name. */
  pod_uid = random_uid ();
  pod_name = xasprintf ("%s-%.8s", o.name, pod_uid);
  cri_pod_config_init (&r.pod, &(cri_pod_spec){ .name = pod_name,
                                                .uid = pod_uid,
                                                .ns = "default",
                                                .log_dir = o.log_dir,
                                                .host_network = true });

  {
    int64_t t0 = now_ms ();
    rc = cri_run_pod_sandbox (r.cri, &r.pod, &r.sandbox_id, &err);
    check (rc == 0, "RunPodSandbox %s (host network)%s%s", pod_name,
           rc ? ": " : "", rc ? err.msg : "");
    if (rc != 0)
      goto out;
    info ("sandbox %s in %lld ms", r.sandbox_id, (long long)(now_ms () - t0));
  }

  pull (&r, o.image);
  if (o.expect_pull_error != NULL)
    pull_refused (&r, o.volume_ref, o.expect_pull_error);
  else
    {
      pull (&r, o.volume_ref);
      if (failed == 0)
        create_and_verify (&r);
    }

out:
  if (r.cri != NULL)
    teardown (&r);
  cri_client_free (r.cri);
  free (r.sandbox_id);
  free (r.container_id);
  file_list_free (&o.expect);
  mode_list_free (&o.modes);
  if (tmp_log_dir != NULL)
    nftw (tmp_log_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  printf ("cri_volume: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
