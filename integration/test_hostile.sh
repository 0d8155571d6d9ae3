#!/bin/bash
# Hostile artifacts in a real registry, through every CLI entry point that
# unpacks a model (extract, mount, crio-store add, preload into the cache)
# and pull; the image-volume Prepare through containerd runs the same
# shapes in test_model_volume.sh [3].
#
#  1. Each bad shape (build-model.sh: bad-bomb, bad-sparse, bad-abslink,
#     bad-ctrlname, bad-rawsize, bad-traversal, bad-symlink) and a model
#     over the entry limits (--limit max_layer_entries / max_model_entries):
#     every command fails with exit 8 and one stderr line naming the cause
#     (no raw control character), nothing is written outside its directory,
#     the disk is not filled (the bomb's 300 MiB never land), nothing is
#     left half-visible: no tree in the cache, no pin, no mount, no export,
#     an extract directory as it was.  pull refuses what the manifest shows
#     (bad-rawsize); content inside tar layers is refused where it is
#     unpacked (a stored bomb is a few KB).
#  2. lax-modes (a 0666 file, 1777 and 0777 directories, owner 65534, a raw
#     layer with mode 0666 and uid 65534): mount and crio-store serve it
#     root-owned, nothing writable by group/other, no sticky or setuid bit;
#     the user nobody cannot change a byte of the mounted tree or the
#     export, nor add a file to either.
#  3. Afterwards a good model still pulls, extracts and mounts.
#
# usage: test_hostile.sh
. "$(dirname "$0")/lib.sh"

it_setup hostile
MP=$IT_BUILD/bin/modelpack
B=$IT_REPO/integration/build-model.sh
CACHE=$IT_DIR/cache
ST=$IT_DIR/crio
M=$IT_DIR/models
mkdir -p "$M"
mp() { "$MP" --store "$IT_DIR/store" --cache "$CACHE" "$@"; }

it_start_registry || { it_fail "docker-registry starts"; it_done; }

BAD="bad-bomb bad-sparse bad-abslink bad-ctrlname bad-rawsize bad-traversal bad-symlink"
for s in $BAD lax-modes raw many; do
  bash "$B" "$s" "$M/$s" "docker://$REGISTRY/hostile/$s:1" > "$IT_DIR/build.log" 2>&1 \
    || it_fail "build-model.sh $s: $(tail -3 "$IT_DIR/build.log")"
done

declare -A cause=(
  [bad-bomb]="max_layer_ratio"
  [bad-sparse]="sparse files are not allowed"
  [bad-abslink]="is outside the model"
  [bad-ctrlname]="control character"
  [bad-rawsize]="file metadata says"
  [bad-traversal]='".." component'
  [bad-symlink]="outside the model"
  [many]="max_layer_entries"
)

# state: everything a failed command must leave as it was.
state() {
  {
    find "$CACHE/trees" "$CACHE/pins" -mindepth 1 2>/dev/null
    find "$CACHE/tmp" -mindepth 2 2>/dev/null
    # An empty store made on the way counts as none.
    if [ -f "$ST/artifacts/index.json" ]; then
      jq -c '.manifests | length' "$ST/artifacts/index.json"
    else
      echo 0
    fi
    ls -A "$ST/artifacts/blobs/sha256" 2>/dev/null | wc -l
    grep -c " $IT_DIR/mnt" /proc/self/mountinfo
    find "$IT_DIR/x" 2>/dev/null | LC_ALL=C sort
  } 2>&1
}

# refused NAME CMD...: CMD exits 8 with one stderr line naming the cause;
# state unchanged; no raw control character on stderr.
refused() {
  local name=$1 want=$2 before after out rc=0
  shift 2
  before=$(state)
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  after=$(state)
  it_expect_eq "$name: exit 8" 8 "$rc"
  it_check "$name: one line naming the cause ($want): $out" \
    test "$(printf '%s\n' "$out" | wc -l)" = 1 -a -n "$(grep -F -- "$want" <<<"$out")"
  it_check "$name: no control character reaches the terminal" \
    test -z "$(printf '%s' "$out" | tr -d '[:print:]')"
  it_expect_eq "$name: nothing left: no tree, pin, work, export, mount, extracted file" \
    "$before" "$after"
}

mkdir -p "$IT_DIR/x"
echo keep > "$IT_DIR/x/user-file"
for s in $BAD many; do
  R=$REGISTRY/hostile/$s:1
  lim=()
  [ "$s" = many ] && lim=(--limit max_layer_entries=100)
  if [ "$s" = bad-rawsize ]; then
    refused "[1 $s] pull" "${cause[$s]}" mp pull "$R"
  else
    out=$(mp "${lim[@]}" pull "$R" 2>&1) || it_fail "[1 $s] pull stores the blobs: $out"
  fi
  refused "[1 $s] extract" "${cause[$s]}" mp "${lim[@]}" extract "$R" "$IT_DIR/x"
  refused "[1 $s] mount" "${cause[$s]}" mp "${lim[@]}" mount "$R" "$IT_DIR/mnt"
  refused "[1 $s] crio-store add" "${cause[$s]}" mp "${lim[@]}" crio-store add "$R" --store "$ST"
  refused "[1 $s] preload" "${cause[$s]}" mp "${lim[@]}" preload "$R"
done
it_expect_eq "[1] the user's file in the extract directory is intact" keep "$(cat "$IT_DIR/x/user-file")"
refused "[1 many] max_model_entries over one layer" "max_model_entries" \
  mp --limit max_model_entries=100 mount "$REGISTRY/hostile/many:1" "$IT_DIR/mnt"
used=$(du -sm "$IT_DIR/cache" "$IT_DIR/store" | awk '{ s += $1 } END { print s }')
it_check "[1] the bomb's 300 MiB never landed: cache and store hold $used MiB" test "$used" -lt 64
it_check "[1] no temporary file left in the system's /tmp by us" \
  test -z "$(find /tmp -maxdepth 1 -name '.modelpack*' -newer "$IT_DIR/build.log" 2>/dev/null)"

# ---- 2: lax modes ---------------------------------------------------------------

R=$REGISTRY/hostile/lax-modes:1
out=$(mp mount "$R" "$IT_DIR/mnt" 2>&1) || it_fail "[2] mount lax-modes: $out"
out=$(mp crio-store add "$R" --store "$ST" 2>&1) || it_fail "[2] crio-store add lax-modes: $out"
it_expect_eq "[2] served modes: no group/other write, no sticky or setuid bit" \
  "0755 .
0644 config.json
0755 shared
0755 shared/open
0644 shared/open/rw.bin
0755 shared/suid.sh" \
  "$(cd "$IT_DIR/mnt" && find . -printf '%04m %P\n' | sed 's/ $/ ./' | LC_ALL=C sort -k2)"
it_expect_eq "[2] everything in the mounted tree is root's" "0:0" \
  "$(find "$IT_DIR/mnt" -printf '%U:%G\n' | sort -u)"
it_expect_eq "[2] nothing in the export is writable by group/other or owned by another user" "" \
  "$(find "$ST" \( -perm /022 -o ! -user 0 \) ! -type l)"
it_expect_eq "[2] nothing in the cache is writable by group/other or owned by another user" "" \
  "$(find "$CACHE" \( -perm /022 -o ! -user 0 \) ! -type l)"
# The export's directories must be reachable by nobody for the next checks
# to mean anything (they are, as CRI-O reads them).
it_check "[2] nobody can read an exported blob" \
  runuser -u nobody -- sh -c "cat '$ST'/artifacts/blobs/sha256/* > /dev/null"
tries=0 wrote=0
while IFS= read -r -d '' f; do
  tries=$((tries + 1))
  if runuser -u nobody -- sh -c "printf x >> '$f'" 2>/dev/null; then wrote=$((wrote + 1)); fi
done < <(find "$IT_DIR/mnt" "$ST" -type f -print0)
it_check "[2] nobody writes none of the $tries files served (mounted tree and export)" test "$wrote" = 0 -a "$tries" -gt 5
made=0
while IFS= read -r -d '' d; do
  if runuser -u nobody -- sh -c "touch '$d/planted'" 2>/dev/null; then made=$((made + 1)); fi
done < <(find "$IT_DIR/mnt" "$ST" -type d -print0)
it_expect_eq "[2] nobody adds no file to any served directory" 0 "$made"
it_expect_eq "[2] every served file has the model's bytes" "$(cat "$M/lax-modes/expected.txt")" \
  "$(cd "$IT_DIR/mnt" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum)"
out=$(mp umount "$IT_DIR/mnt" 2>&1) || it_fail "[2] umount: $out"

# ---- pack: nothing our own readers would refuse ------------------------------

mkdir -p "$IT_DIR/ctl"
echo '{}' > "$IT_DIR/ctl/config.json"
echo x > "$IT_DIR/ctl/$(printf 'evil\033]0;t\007.bin')"
rc=0
out=$("$MP" --store "$IT_DIR/pack" pack --src "$IT_DIR/ctl" --tag example.com/ctl:1 2>&1) || rc=$?
it_expect_eq "[pack] a file name with control characters: exit 8" 8 "$rc"
it_check "[pack] ... naming it, escaped: $out" \
  test -n "$(grep -F 'contains a control character' <<<"$out")" -a -z "$(printf '%s' "$out" | tr -d '[:print:]')"

# ---- 3: a good model afterwards -----------------------------------------------------

R=$REGISTRY/hostile/raw:1
out=$(mp pull "$R" 2>&1) || it_fail "[3] pull raw: $out"
rm -rf "$IT_DIR/good"
out=$(mp extract "$R" "$IT_DIR/good" 2>&1) || it_fail "[3] extract raw: $out"
it_expect_eq "[3] a good model extracts with every file" "$(cat "$M/raw/expected.txt")" \
  "$(cd "$IT_DIR/good" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum)"
out=$(mp mount "$R" "$IT_DIR/mnt" 2>&1) || it_fail "[3] mount raw: $out"
it_expect_eq "[3] and mounts with every file" "$(cat "$M/raw/expected.txt")" \
  "$(cd "$IT_DIR/mnt" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum)"
mp umount "$IT_DIR/mnt" > /dev/null 2>&1 || it_fail "[3] umount"

it_done
