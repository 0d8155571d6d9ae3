#!/bin/bash
# Our EROFS index writer (store/erofs.h) against the reference: Debian
# unstable's erofs-utils (mkfs.erofs --tar=i, fsck.erofs, dump.erofs) and
# the kernel.
#
# For each tar of a corpus made here (GNU tar's gnu and posix formats from
# one source tree, Python's tarfile PAX, 10 000 files, a file past 4 GiB
# in a tar that is sparse on disk):
#  - fsck.erofs --device=TAR accepts our index, in both modes; our own
#    reader (erofs_tool walk) accepts it;
#  - our index in the reference mode (--ref: owners, modes, xattrs as the
#    tar says) and mkfs.erofs --tar=i's, both mounted with mount(2) and
#    device=TAR (no loop device), show the same tree: type, mode, owner,
#    link count and hard-link groups, mtime to the nanosecond, size,
#    symlink target, xattrs, the sha256 of every file (of a few spots for
#    the big one);
#  - our index in the serving mode shows that tree as served: root's, modes
#    & 0755, no xattrs;
#  - dump.erofs counts the same inodes in both.
# Then: two tar layers merged (against mkfs.erofs of the expected tree), a
# tar and a raw layer mounted with two devices, two raw layers with 4 KiB
# blocks, and a hostile tar refused.  Prints the index sizes and build
# times for the 10 000-file tar, ours and mkfs.erofs's.
#
# usage: test_erofs_ref.sh   (needs `make all unstable`)
. "$(dirname "$0")/lib.sh"

it_setup erofs_ref
R=$IT_REPO/.cache/unstable/erofs-root
TOOL=$IT_BUILD/tools/erofs_tool
FIX="python3 $IT_REPO/integration/erofs_fixtures.py"
T0=1600000000 # mtime of what the tars do not date (the root of pytar's)

if [ ! -x "$R/usr/bin/mkfs.erofs" ]; then
  it_fail "erofs-utils is not unpacked at $R (make unstable)"
  it_done
fi
if [ ! -x "$TOOL" ]; then
  it_fail "$TOOL is not built (make all)"
  it_done
fi
eu() {
  local b=$1
  shift
  "$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
    --library-path "$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu" \
    "$R/usr/bin/$b" "$@"
}
now_ns() { date +%s%N; }

W=$IT_DIR/w
mkdir -p "$W"

# mnt IMAGE DIR BLOB...: mount(2) read-only with device= per blob (no
# loop device).
mnt() {
  local img=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  if ! "$TOOL" mount "$img" "$dir" "$@" 2>"$W/mount.err"; then
    it_log "mount $img: $(cat "$W/mount.err")"
    return 1
  fi
}
unmnt() { umount "$1" 2>/dev/null || umount -l "$1"; }

inode_count() {
  eu dump.erofs -s "$1" 2>/dev/null | awk -F: '/inode count/ {gsub(/ /, "", $2); print $2}'
}

# compare NAME TAR: the checks above for one tar.
compare() {
  local name=$1 tar=$2 ours=$W/$1.ours.erofs serve=$W/$1.serve.erofs
  local ref=$W/$1.mkfs.erofs out
  rm -f "$ours" "$serve" "$ref"
  out=$("$TOOL" build --ref --mtime $T0 "$ours" "tar:$tar" 2>&1) \
    || { it_fail "$name: our index (reference mode): $out"; return; }
  out=$("$TOOL" build --mtime $T0 "$serve" "tar:$tar" 2>&1) \
    || { it_fail "$name: our index (serving mode): $out"; return; }
  out=$(eu mkfs.erofs --quiet --tar=i -T$T0 --mkfs-time "$ref" "$tar" 2>&1) \
    || { it_fail "$name: mkfs.erofs --tar=i: $out"; return; }
  for img in "$ours" "$serve"; do
    if out=$(eu fsck.erofs --device="$tar" "$img" 2>&1); then
      it_pass "$name: fsck.erofs accepts $(basename "$img")"
    else
      it_fail "$name: fsck.erofs on $(basename "$img"): $out"
    fi
    if out=$("$TOOL" walk "$img" "$tar" 2>&1 >/dev/null); then
      it_pass "$name: our reader accepts $(basename "$img")"
    else
      it_fail "$name: erofs_tool walk $(basename "$img"): $out"
    fi
  done
  it_expect_eq "$name: dump.erofs counts the same inodes" \
    "$(inode_count "$ref")" "$(inode_count "$ours")"
  mnt "$ref" "$W/m-ref" "$tar" || { it_fail "$name: mount mkfs.erofs's index"; return; }
  mnt "$ours" "$W/m-ours" "$tar" || { it_fail "$name: mount our index"; unmnt "$W/m-ref"; return; }
  mnt "$serve" "$W/m-serve" "$tar" || { it_fail "$name: mount our serving index"; unmnt "$W/m-ref"; unmnt "$W/m-ours"; return; }
  $FIX list "$W/m-ref" > "$W/$name.ref.list"
  $FIX list "$W/m-ours" > "$W/$name.ours.list"
  $FIX list "$W/m-ref" --serve > "$W/$name.ref-served.list"
  $FIX list "$W/m-serve" > "$W/$name.serve.list"
  it_expect_eq "$name: the mounted trees agree ($(wc -l < "$W/$name.ref.list") entries)" \
    "$(cat "$W/$name.ref.list")" "$(cat "$W/$name.ours.list")"
  it_expect_eq "$name: the serving index shows the tree as served" \
    "$(cat "$W/$name.ref-served.list")" "$(cat "$W/$name.serve.list")"
  unmnt "$W/m-ref"
  unmnt "$W/m-ours"
  unmnt "$W/m-serve"
}

# ---- the corpus ----

SRC=$IT_DIR/src
mkdir -p "$SRC"
$FIX tree "$SRC"
tar --format=gnu --numeric-owner -C "$SRC" -cf "$W/gnu.tar" .
tar --format=posix --xattrs --xattrs-include='user.*' --numeric-owner \
  -C "$SRC" -cf "$W/posix.tar" .
grep -q "SCHILY.xattr.user.model" "$W/posix.tar" \
  || it_fail "the posix tar carries the source's xattrs (SCHILY.xattr)"
$FIX pytar "$W/py.tar"
mkdir -p "$IT_DIR/many"
$FIX many "$IT_DIR/many" 10000
tar --format=gnu -C "$IT_DIR/many" -cf "$W/many.tar" .
# 9 GiB: past 4 GiB (extended inodes, block addresses past 2^23) and past
# what 11 octal digits hold (a base-256 size field).
$FIX hugetar "$W/huge.tar" $(((9 << 30) + 123))
it_log "huge.tar: $(stat -c %s "$W/huge.tar") bytes, $(du -k "$W/huge.tar" | cut -f1) KiB on disk"

compare gnu "$W/gnu.tar"
compare posix "$W/posix.tar"
compare pytar "$W/py.tar"
compare huge "$W/huge.tar"
grep -q "^big f 0644 0:0 nlink=1 mtime=1700000000000000000 size=9663676539 spots:" \
  "$W/huge.ours.list" && it_pass "huge: the 9 GiB file reads back (size, spots)" \
  || it_fail "huge: the 9 GiB file: $(grep '^big ' "$W/huge.ours.list")"
grep -q "^after f .* size=4 " "$W/huge.ours.list" \
  && it_pass "huge: the file after it, past 9 GiB in the blob, reads back" \
  || it_fail "huge: the file after the big one"

# The 10 000-file tar: figures, then the same comparison.
rm -f "$W/many.time.erofs" "$W/many.mkfs-time.erofs"
t=$(now_ns)
eu mkfs.erofs --quiet --tar=i -T$T0 --mkfs-time "$W/many.mkfs-time.erofs" "$W/many.tar"
mkfs_ms=$((($(now_ns) - t) / 1000000))
t=$(now_ns)
"$TOOL" build --ref --mtime $T0 "$W/many.time.erofs" "tar:$W/many.tar" > /dev/null
ours_ms=$((($(now_ns) - t) / 1000000))
fig="10 000 files ($(stat -c %s "$W/many.tar") byte tar): our index $(stat -c %s "$W/many.time.erofs") bytes in ${ours_ms} ms, mkfs.erofs --tar=i $(stat -c %s "$W/many.mkfs-time.erofs") bytes in ${mkfs_ms} ms"
it_log "$fig"
echo "figures: $fig"
compare many "$W/many.tar"

# ---- two layers merged ----
# Layer 1 and layer 2 as directories; the expected tree is layer 1 with
# layer 2 applied by the cache's rules: later files replace earlier ones,
# a file replaces a directory (and the reverse) whole, directories merge
# and the later layer's attributes win.
L1=$IT_DIR/l1 L2=$IT_DIR/l2 EXP=$IT_DIR/exp
mkdir -p "$L1/a" "$L1/c/d" "$L1/keep" "$L2/a" "$L2/b"
echo x1 > "$L1/a/x"
echo b1 > "$L1/b"
echo e1 > "$L1/c/d/e"
echo k1 > "$L1/keep/k"
echo x2-replaced > "$L2/a/x"
echo y2 > "$L2/a/y"
echo in2 > "$L2/b/in"
echo c2 > "$L2/c"
chmod 0750 "$L2/a"
find "$L1" "$L2" -exec touch -h -d @1650000000 {} +
touch -d @1660000000 "$L2" "$L2/a"
tar --format=gnu -C "$L1" -cf "$W/l1.tar" .
tar --format=gnu -C "$L2" -cf "$W/l2.tar" .
cp -a "$L1" "$EXP"
rm -rf "$EXP/c" "$EXP/b"
cp -a "$L2/." "$EXP/"
tar --format=gnu -C "$EXP" -cf "$W/exp.tar" .
rm -f "$W/merge.erofs" "$W/exp.erofs"
if out=$("$TOOL" build --ref "$W/merge.erofs" "tar:$W/l1.tar" "tar:$W/l2.tar" 2>&1); then
  eu mkfs.erofs --quiet --tar=i -T$T0 --mkfs-time "$W/exp.erofs" "$W/exp.tar"
  out=$(eu fsck.erofs --device="$W/l1.tar" --device="$W/l2.tar" "$W/merge.erofs" 2>&1) \
    && it_pass "merge: fsck.erofs accepts the two-device index" \
    || it_fail "merge: fsck.erofs: $out"
  if mnt "$W/merge.erofs" "$W/m-merge" "$W/l1.tar" "$W/l2.tar" \
    && mnt "$W/exp.erofs" "$W/m-exp" "$W/exp.tar"; then
    it_expect_eq "merge: two layers mounted show the expected merged tree" \
      "$($FIX list "$W/m-exp")" "$($FIX list "$W/m-merge")"
    unmnt "$W/m-merge"
    unmnt "$W/m-exp"
  else
    it_fail "merge: mount the merged and the expected index"
  fi
else
  it_fail "merge: build: $out"
fi

# ---- a tar and a raw layer; two raw layers with 4 KiB blocks ----
head -c $((3 * 1048576 + 123)) /dev/urandom > "$W/weights.bin"
head -c 777 /dev/urandom > "$W/tokenizer.bin"
want_w=$(sha256sum < "$W/weights.bin" | cut -d' ' -f1)
want_t=$(sha256sum < "$W/tokenizer.bin" | cut -d' ' -f1)
rm -f "$W/raw-tar.erofs" "$W/raw-4k.erofs"
if out=$("$TOOL" build --mtime $T0 "$W/raw-tar.erofs" "tar:$W/gnu.tar" \
  "raw:$W/weights.bin:models/w.bin:0640:1650000000" 2>&1) \
  && mnt "$W/raw-tar.erofs" "$W/m-raw" "$W/gnu.tar" "$W/weights.bin"; then
  got=$(stat -c '%a %u:%g %Y %s' "$W/m-raw/models/w.bin")
  it_expect_eq "raw+tar: the raw file's mode, owner, mtime and size" \
    "640 0:0 1650000000 $((3 * 1048576 + 123))" "$got"
  it_expect_eq "raw+tar: the raw file's bytes (device 2)" "$want_w" \
    "$(sha256sum < "$W/m-raw/models/w.bin" | cut -d' ' -f1)"
  it_expect_eq "raw+tar: the tar's files beside it (device 1)" \
    "$(sha256sum < "$SRC/sizes/s100000" | cut -d' ' -f1)" \
    "$(sha256sum < "$W/m-raw/sizes/s100000" | cut -d' ' -f1)"
  it_expect_eq "raw+tar: the implied directory is 0755, root's, dated --mtime" \
    "755 0:0 $T0" "$(stat -c '%a %u:%g %Y' "$W/m-raw/models")"
  unmnt "$W/m-raw"
  out=$(eu fsck.erofs --device="$W/gnu.tar" --device="$W/weights.bin" "$W/raw-tar.erofs" 2>&1) \
    && it_pass "raw+tar: fsck.erofs accepts it" || it_fail "raw+tar: fsck.erofs: $out"
else
  it_fail "raw+tar: build or mount: $out $(cat "$W/mount.err")"
fi
if out=$("$TOOL" build --blkszbits 12 "$W/raw-4k.erofs" \
  "raw:$W/weights.bin:w.bin" "raw:$W/tokenizer.bin:tok/t.bin:0600" 2>&1) \
  && mnt "$W/raw-4k.erofs" "$W/m-4k" "$W/weights.bin" "$W/tokenizer.bin"; then
  it_expect_eq "raw 4 KiB blocks: both files read back" "$want_w $want_t" \
    "$(sha256sum < "$W/m-4k/w.bin" | cut -d' ' -f1) $(sha256sum < "$W/m-4k/tok/t.bin" | cut -d' ' -f1)"
  it_expect_eq "raw 4 KiB blocks: the block size" "4096" "$(stat -f -c %S "$W/m-4k")"
  unmnt "$W/m-4k"
  out=$(eu fsck.erofs --device="$W/weights.bin" --device="$W/tokenizer.bin" "$W/raw-4k.erofs" 2>&1) \
    && it_pass "raw 4 KiB blocks: fsck.erofs accepts it" || it_fail "raw 4 KiB: fsck.erofs: $out"
else
  it_fail "raw 4 KiB blocks: build or mount: $out $(cat "$W/mount.err")"
fi

# ---- refused ----
mkdir -p "$IT_DIR/evil"
ln -s /etc "$IT_DIR/evil/etc"
tar --format=gnu -C "$IT_DIR/evil" -cf "$W/evil.tar" .
rm -f "$W/evil.erofs"
if out=$("$TOOL" build "$W/evil.erofs" "tar:$W/evil.tar" 2>&1); then
  it_fail "a symlink out of the model is refused (it was accepted)"
else
  case $out in
    *'"./etc"'*outside*) it_pass "a symlink out of the model is refused, naming it: $out" ;;
    *) it_fail "a symlink out of the model: unclear message: $out" ;;
  esac
fi
[ ! -e "$W/evil.erofs" ] || [ ! -s "$W/evil.erofs" ] \
  && it_pass "nothing written for the refused tar" || it_fail "an index was written for the refused tar"

it_done
