/* The EROFS index's tree: layers merge into it entry by entry, with the
 * model cache's rules (erofs.h).  Layout and writing are in
 * erofs_write.c, the tar reader in erofs_tar.c.
 *
 * Paths are looked up component by component in one hash table keyed by
 * (parent node, name).  A replaced entry is marked dead where it stands
 * (its subtree goes with it, unreachable): nothing is unlinked, and
 * everything lives in an arena freed with the index. */
#include "store/erofs.h"
#include "store/erofs_format.h"
#include "store/erofs_internal.h"
#include "store/layer_path.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/digest.h"

/* ---- arena ---- */

struct ex_arena
{
  struct ex_arena *next;
  size_t used, cap;
  _Alignas(8) unsigned char data[];
};

#define ARENA_CHUNK (1u << 20)

void *
erofs_arena_alloc (erofs_index *x, size_t n)
{
  struct ex_arena *a = x->arena;
  void *p;

  n = (n + 7) & ~(size_t)7;
  if (a == NULL || a->cap - a->used < n)
    {
      size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
      a = malloc (sizeof *a + cap);
      if (a == NULL)
        return NULL;
      a->next = x->arena;
      a->used = 0;
      a->cap = cap;
      x->arena = a;
    }
  p = a->data + a->used;
  a->used += n;
  memset (p, 0, n);
  return p;
}

char *
erofs_arena_strndup (erofs_index *x, const char *s, size_t n)
{
  char *p = erofs_arena_alloc (x, n + 1);

  if (p != NULL)
    {
      memcpy (p, s, n);
      p[n] = '\0';
    }
  return p;
}

/* ---- (parent, name) -> node ---- */

static size_t
node_hash (const struct ex_node *parent, const char *name, size_t len)
{
  uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)parent;

  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
  return (size_t)(h ^ (h >> 29));
}

static struct ex_node *
lookup (erofs_index *x, const struct ex_node *parent, const char *name,
        size_t len)
{
  size_t mask = x->nslots - 1;

  for (size_t i = node_hash (parent, name, len) & mask;; i = (i + 1) & mask)
    {
      struct ex_node *n = x->slots[i];
      if (n == NULL)
        return NULL;
      if (!n->dead && n->parent == parent && n->name_len == len
          && memcmp (n->name, name, len) == 0)
        return n;
    }
}

static void
slot_put (struct ex_node **slots, size_t nslots, struct ex_node *n)
{
  size_t mask = nslots - 1;
  size_t i = node_hash (n->parent, n->name, n->name_len) & mask;

  while (slots[i] != NULL)
    i = (i + 1) & mask;
  slots[i] = n;
}

/* Room for one more node: at half full, rehash the live ones into a table
 * twice the size of what they need. */
static int
table_reserve (erofs_index *x, mp_error *err)
{
  struct ex_node **slots;
  size_t live = 0, nslots = 1024;

  if (x->slots != NULL && (x->nused + 1) * 2 <= x->nslots)
    return 0;
  for (size_t i = 0; i < x->nslots; i++)
    if (x->slots[i] != NULL && !x->slots[i]->dead)
      live++;
  while (nslots < (live + 1) * 4)
    nslots *= 2;
  slots = calloc (nslots, sizeof *slots);
  if (slots == NULL)
    return mp_error_sys (err, ENOMEM, "index tree");
  for (size_t i = 0; i < x->nslots; i++)
    if (x->slots[i] != NULL && !x->slots[i]->dead)
      slot_put (slots, nslots, x->slots[i]);
  free (x->slots);
  x->slots = slots;
  x->nslots = nslots;
  x->nused = live;
  return 0;
}

/* ---- nodes ---- */

/* Note that the current layer's tree holds N: its parent then holds
 * something of this layer. */
static void
touch (erofs_index *x, struct ex_node *n)
{
  struct ex_node *p = n->parent;

  if (n->layer == x->layer)
    return;
  n->layer = x->layer;
  n->layer_kids = 0;
  if (p != NULL)
    {
      if (p->layer != x->layer)
        touch (x, p);
      p->layer_kids++;
    }
}

static void
kill (erofs_index *x, struct ex_node *n)
{
  n->dead = true;
  if (n->parent != NULL && n->layer == x->layer && n->parent->layer_kids > 0)
    n->parent->layer_kids--;
}

static int
add_kid (erofs_index *x, struct ex_node *dir, struct ex_node *kid,
         mp_error *err)
{
  if (dir->nkids == dir->capkids)
    {
      uint32_t cap = dir->capkids ? dir->capkids * 2 : 4;
      struct ex_node **k = erofs_arena_alloc (x, cap * sizeof *k);
      if (k == NULL || cap < dir->capkids)
        return mp_error_sys (err, ENOMEM, "index tree");
      if (dir->nkids > 0)
        memcpy (k, dir->kids, dir->nkids * sizeof *k);
      dir->kids = k;
      dir->capkids = cap;
    }
  dir->kids[dir->nkids++] = kid;
  return 0;
}

/* A new live node NAME under DIR for inode INO, in the current layer. */
static struct ex_node *
new_node (erofs_index *x, struct ex_node *dir, const char *name, size_t len,
          struct ex_inode *ino, mp_error *err)
{
  struct ex_node *n;

  /* Paths imply directories: a deep path per entry could make a hundred
   * nodes each.  Bounded with the entries, generously. */
  if (x->nodes >= 2 * x->limits.max_model_entries)
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "more than %llu entries and implied directories "
                    "(twice max_model_entries)",
                    (unsigned long long)(2 * x->limits.max_model_entries));
      return NULL;
    }
  if (table_reserve (x, err) < 0)
    return NULL;
  n = erofs_arena_alloc (x, sizeof *n);
  if (n == NULL || (n->name = erofs_arena_strndup (x, name, len)) == NULL)
    {
      mp_error_sys (err, ENOMEM, "index tree");
      return NULL;
    }
  n->name_len = (uint32_t)len;
  n->parent = dir;
  n->ino = ino;
  if (add_kid (x, dir, n, err) < 0)
    return NULL;
  slot_put (x->slots, x->nslots, n);
  x->nused++;
  x->nodes++;
  touch (x, n);
  return n;
}

/* Defaults for a directory nobody named: 0755, root's, mtime_default. */
static struct ex_inode *
new_dir_inode (erofs_index *x, mp_error *err)
{
  struct ex_inode *ino = erofs_arena_alloc (x, sizeof *ino);

  if (ino == NULL)
    {
      mp_error_sys (err, ENOMEM, "index tree");
      return NULL;
    }
  ino->mode = S_IFDIR | 0755;
  ino->mtime = x->o.mtime_default;
  return ino;
}

static struct ex_node *
new_dir (erofs_index *x, struct ex_node *parent, const char *name, size_t len,
         mp_error *err)
{
  struct ex_inode *ino = new_dir_inode (x, err);
  struct ex_node *n;

  if (ino == NULL)
    return NULL;
  n = new_node (x, parent, name, len, ino, err);
  if (n != NULL)
    ino->dir = n;
  return n;
}

static bool
is_dir (const struct ex_node *n)
{
  return S_ISDIR (n->ino->mode);
}

/* The directory holding the last component of PATH, implied parents made
 * (0755, defaults) as the unpacker makes them.  Within a layer a path may
 * not go through a symlink or a file of that layer; one of an earlier
 * layer gives way to the directory, as the cache's merge would have it. */
static struct ex_node *
resolve_parent (erofs_index *x, const char *path, const char **last,
                mp_error *err)
{
  struct ex_node *d = x->root;
  const char *p = path;

  touch (x, d);
  for (;;)
    {
      const char *slash = strchr (p, '/');
      struct ex_node *n;
      size_t len;

      if (slash == NULL)
        break;
      len = (size_t)(slash - p);
      n = lookup (x, d, p, len);
      if (n != NULL && !is_dir (n))
        {
          if (n->layer == x->layer)
            {
              if (S_ISLNK (n->ino->mode))
                mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                              "path crosses a symlink");
              else
                mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                              "a parent is not a directory");
              return NULL;
            }
          kill (x, n);
          n = NULL;
        }
      if (n == NULL)
        n = new_dir (x, d, p, len, err);
      if (n == NULL)
        return NULL;
      touch (x, n);
      d = n;
      p = slash + 1;
    }
  *last = p;
  return d;
}

/* The regular file a hard link of this layer points at, or an error as
 * the unpacker words it. */
static struct ex_inode *
hardlink_target (erofs_index *x, const char *target, mp_error *err)
{
  struct ex_node *d = x->root, *n = NULL;
  const char *p = target;
  char q[MODEL_QUOTE_BUF];

  for (;;)
    {
      const char *slash = strchr (p, '/');
      size_t len = slash ? (size_t)(slash - p) : strlen (p);

      n = lookup (x, d, p, len);
      if (n == NULL || n->layer != x->layer)
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "hard link target %s is not in the layer",
                        model_quote (target, q, sizeof q));
          return NULL;
        }
      if (slash == NULL)
        break;
      if (S_ISLNK (n->ino->mode))
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "path crosses a symlink");
          return NULL;
        }
      if (!is_dir (n))
        {
          mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                        "a parent is not a directory");
          return NULL;
        }
      d = n;
      p = slash + 1;
    }
  if (!S_ISREG (n->ino->mode))
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "hard link target %s is not a regular file",
                    model_quote (target, q, sizeof q));
      return NULL;
    }
  return n->ino;
}

/* The attributes an entry's inode gets: as the layer says in the
 * reference mode, else what the unpacked cache serves. */
static int
entry_inode (erofs_index *x, const struct ex_entry *e, struct ex_inode *ino,
             mp_error *err)
{
  uint32_t perm = e->mode & 07777;

  switch (e->kind)
    {
    case EX_FILE:
      ino->mode = S_IFREG;
      break;
    case EX_DIR:
      ino->mode = S_IFDIR;
      break;
    default:
      ino->mode = S_IFLNK;
      break;
    }
  if (x->o.as_tar_says)
    {
      /* (uid_t)-1 is "unchanged" to chown: not a real owner. */
      if (e->uid < 0 || e->uid >= (int64_t)UINT32_MAX || e->gid < 0
          || e->gid >= (int64_t)UINT32_MAX)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "owner %lld:%lld out of range", (long long)e->uid,
                             (long long)e->gid);
      ino->mode |= perm;
      ino->uid = (uint32_t)e->uid;
      ino->gid = (uint32_t)e->gid;
      ino->xattrs = e->xattrs;
      ino->nxattrs = (uint32_t)e->nxattrs;
    }
  else
    /* Symlinks are 0777 on Linux whatever the archive says. */
    ino->mode |= e->kind == EX_SYMLINK ? 0777 : (perm & 0755);
  if (e->has_mtime)
    {
      ino->mtime = e->mtime;
      ino->mtime_nsec = e->mtime_nsec < 1000000000 ? e->mtime_nsec : 0;
    }
  else
    ino->mtime = x->o.mtime_default;
  return 0;
}

static int
add_entry (erofs_index *x, const struct ex_entry *e, mp_error *err)
{
  struct ex_node *d, *old, *n;
  struct ex_inode *ino = NULL;
  const char *name;
  size_t len;

  if (e->path[0] == '\0')
    {
      /* "./": the root's own attributes. */
      if (e->kind != EX_DIR)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "would replace the layer root");
      touch (x, x->root);
      x->root->named = true;
      return entry_inode (x, e, x->root->ino, err);
    }
  if (e->kind == EX_HARDLINK)
    {
      if (strcmp (e->path, e->link) == 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "hard link to itself");
      ino = hardlink_target (x, e->link, err);
      if (ino == NULL)
        return -1;
    }
  d = resolve_parent (x, e->path, &name, err);
  if (d == NULL)
    return -1;
  len = strlen (name);
  old = lookup (x, d, name, len);
  if (old != NULL && is_dir (old))
    {
      if (e->kind == EX_DIR)
        {
          /* Directories merge; what this one says wins. */
          touch (x, old);
          old->named = true;
          return entry_inode (x, e, old->ino, err);
        }
      if (old->layer == x->layer && old->layer_kids > 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "would replace a non-empty directory");
    }
  if (old != NULL)
    kill (x, old);
  if (ino != NULL)
    {
      n = new_node (x, d, name, len, ino, err);
      return n == NULL ? -1 : 0;
    }
  ino = erofs_arena_alloc (x, sizeof *ino);
  if (ino == NULL)
    return mp_error_sys (err, ENOMEM, "index tree");
  if (entry_inode (x, e, ino, err) < 0)
    return -1;
  if (e->kind == EX_FILE)
    {
      ino->size = e->size;
      ino->data_offset = e->data_offset;
      ino->device = (uint16_t)x->layer;
    }
  else if (e->kind == EX_SYMLINK)
    {
      ino->size = strlen (e->link);
      ino->symlink = erofs_arena_strndup (x, e->link, ino->size);
      if (ino->symlink == NULL)
        return mp_error_sys (err, ENOMEM, "index tree");
    }
  n = new_node (x, d, name, len, ino, err);
  if (n == NULL)
    return -1;
  if (e->kind == EX_DIR)
    {
      ino->dir = n;
      n->named = true;
    }
  x->added = ino;
  return 0;
}

int
erofs_tree_add (erofs_index *x, const struct ex_entry *e, mp_error *err)
{
  char q[MODEL_QUOTE_BUF];

  /* Counted as the model cache counts them: entries of the layers. */
  if (++x->entries > x->limits.max_model_entries)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "the model has more than %llu entries "
                         "(max_model_entries)",
                         (unsigned long long)x->limits.max_model_entries);
  if (e->kind == EX_FILE)
    {
      /* The tar reader checked this against the blob; a chunk index
       * pointing outside it would let the kernel read whatever is there. */
      int64_t blob = x->blob_sizes[x->layer - 1];
      if (e->data_offset > (uint64_t)blob
          || e->size > (uint64_t)blob - e->data_offset
          || (e->size > 0 && e->data_offset % x->blksz != 0))
        return mp_error_set (err, MP_ERR_INTERNAL,
                             "entry %s: data at %llu+%llu is not a block "
                             "range of the %lld-byte blob",
                             model_quote (e->path, q, sizeof q),
                             (unsigned long long)e->data_offset,
                             (unsigned long long)e->size, (long long)blob);
    }
  if (add_entry (x, e, err) < 0)
    return mp_error_prefix (err, "entry %s",
                            model_quote (e->path, q, sizeof q));
  return 0;
}

/* ---- layers ---- */

int
erofs_layer_begin (erofs_index *x, int64_t blob_size, mp_error *err)
{
  uint64_t blocks;

  if (x->broken)
    return mp_error_set (err, MP_ERR_FAILED_PRECONDITION,
                         "the index is unusable after a failed layer");
  if (blob_size < 0)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT, "negative blob size");
  if ((uint64_t)blob_size > x->limits.max_layer_bytes)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "the blob's %lld bytes exceed the limit of %llu "
                         "(max_layer_bytes)",
                         (long long)blob_size,
                         (unsigned long long)x->limits.max_layer_bytes);
  /* Block addresses are 32 bits (without the 48-bit layout, which needs
   * Linux 6.15): 2 TiB of blob with 512-byte blocks, 16 TiB with 4 KiB. */
  blocks = ((uint64_t)blob_size + x->blksz - 1) / x->blksz;
  if (blocks > UINT32_MAX)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "the blob's %lld bytes are more than an index with "
                         "%u-byte blocks addresses (%llu)",
                         (long long)blob_size, x->blksz,
                         (unsigned long long)UINT32_MAX * x->blksz);
  /* The device table sits before the root inode, whose number must fit
   * 16 bits (nid 65535 is 2 MiB in): 4096 slots take 512 KiB.  (A mount's
   * options, device= paths included, must fit a page anyway.) */
  if (x->nblobs >= EROFS_INDEX_MAX_LAYERS)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "more than %d layers for one index",
                         EROFS_INDEX_MAX_LAYERS);
  if (x->nblobs == x->capblobs)
    {
      size_t cap = x->capblobs ? x->capblobs * 2 : 8;
      int64_t *b = realloc (x->blob_sizes, cap * sizeof *b);
      if (b == NULL)
        return mp_error_sys (err, ENOMEM, "index layers");
      x->blob_sizes = b;
      x->capblobs = cap;
    }
  x->blob_sizes[x->nblobs++] = blob_size;
  x->layer = (uint32_t)x->nblobs;
  return 0;
}

/* Copy the last chunk of a raw blob whose end is not block-aligned (see
 * erofs.h). */
static int
raw_copy_tail (erofs_index *x, int fd, struct ex_inode *ino, mp_error *err)
{
  unsigned bits = erofs_raw_chunkbits (x->o.blkszbits, ino->size);
  uint64_t chunk = 1ull << bits;
  uint64_t start = (ino->size - 1) / chunk * chunk;
  size_t n = (size_t)(ino->size - start), done = 0;
  uint8_t *buf = erofs_arena_alloc (x, n);

  if (buf == NULL)
    return mp_error_sys (err, ENOMEM, "raw layer");
  while (done < n)
    {
      ssize_t r = pread (fd, buf + done, n - done, (off_t)(start + done));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return mp_error_sys (err, errno, "read the blob at %llu",
                             (unsigned long long)(start + done));
      if (r == 0)
        return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                             "the blob ends at %llu, before its stated size "
                             "%llu",
                             (unsigned long long)(start + done),
                             (unsigned long long)ino->size);
      done += (size_t)r;
    }
  ino->copy = buf;
  ino->ncopy = (uint32_t)n;
  ino->copy_chunkbits = (uint8_t)bits;
  return 0;
}

int
erofs_index_add_raw (erofs_index *x, int fd, int64_t blob_size,
                     const char *path, const struct model_file_meta *meta,
                     const char *what, mp_error *err)
{
  char norm[MODEL_UNPACK_MAX_PATH + 1];
  struct ex_entry e = { .kind = EX_FILE, .path = norm, .mode = 0644 };
  char q[MODEL_QUOTE_BUF];

  if (what == NULL)
    what = "raw layer";
  if (path == NULL)
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: raw layer without a file path", what);
  if (layer_path_normalize (path, norm, "raw layer path", err) < 0)
    return mp_error_prefix (err, "%s", what);
  if (norm[0] == '\0')
    return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                         "%s: raw layer path %s names the layer root", what,
                         model_quote (path, q, sizeof q));
  {
    struct stat st;
    if (fstat (fd, &st) < 0)
      return mp_error_sys (err, errno, "%s: stat the blob", what);
    if (S_ISREG (st.st_mode) && st.st_size != blob_size)
      return mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                           "%s: the blob file holds %lld bytes, not %lld", what,
                           (long long)st.st_size, (long long)blob_size);
  }
  if (erofs_layer_begin (x, blob_size, err) < 0)
    return mp_error_prefix (err, "%s", what);
  e.size = (uint64_t)blob_size;
  if (meta != NULL)
    {
      if (meta->has_mode)
        e.mode = meta->mode & 0777; /* permission bits only, as unpacked */
      if (meta->has_owner)
        {
          e.uid = meta->uid;
          e.gid = meta->gid;
        }
      e.has_mtime = meta->has_mtime;
      e.mtime = meta->mtime.tv_sec;
      e.mtime_nsec
          = meta->mtime.tv_nsec >= 0 ? (uint32_t)meta->mtime.tv_nsec : 0;
    }
  x->added = NULL;
  if (erofs_tree_add (x, &e, err) < 0)
    goto fail;
  if (x->added == NULL || !S_ISREG (x->added->mode))
    {
      mp_error_set (err, MP_ERR_INTERNAL, "raw file not added");
      goto fail;
    }
  if (e.size % x->blksz != 0 && raw_copy_tail (x, fd, x->added, err) < 0)
    goto fail;
  return 0;

fail:
  x->broken = true;
  return mp_error_prefix (err, "%s", what);
}

/* ---- the index ---- */

erofs_index *
erofs_index_new (const struct erofs_index_opts *o, mp_error *err)
{
  erofs_index *x;

  if (o == NULL || (o->blkszbits != 9 && o->blkszbits != 12))
    {
      mp_error_set (err, MP_ERR_INVALID_ARGUMENT,
                    "EROFS index: block size bits must be 9 or 12");
      return NULL;
    }
  x = calloc (1, sizeof *x);
  if (x == NULL)
    {
      mp_error_sys (err, ENOMEM, "EROFS index");
      return NULL;
    }
  x->o = *o;
  x->o.limits = NULL;
  x->limits = model_unpack_limits_resolve (o->limits);
  x->blksz = 1u << o->blkszbits;
  if (table_reserve (x, err) < 0)
    goto fail;
  x->root = erofs_arena_alloc (x, sizeof *x->root);
  if (x->root == NULL)
    {
      mp_error_sys (err, ENOMEM, "EROFS index");
      goto fail;
    }
  x->root->name = "";
  x->root->ino = new_dir_inode (x, err);
  if (x->root->ino == NULL)
    goto fail;
  x->root->ino->dir = x->root;
  return x;

fail:
  erofs_index_free (x);
  return NULL;
}

void
erofs_index_free (erofs_index *x)
{
  if (x == NULL)
    return;
  while (x->arena != NULL)
    {
      struct ex_arena *next = x->arena->next;
      free (x->arena);
      x->arena = next;
    }
  free (x->slots);
  free (x->blob_sizes);
  free (x);
}
