#!/bin/bash
# `modelpack mount` / `umount`: a model mounted read-only on the host from
# the snapshotter's model cache, used by a container the way nerdctl and ctr
# users do it (`ctr run --mount type=bind,...,options=rbind:ro`):
#
#  - a tar+zstd model pulled from docker-registry and mounted: the container
#    reads every file with the right hash; writing into the mount fails in
#    the container and on the host; the mount's files are the cache tree's
#    (same inode); the cache pins the tree while mounted;
#  - umount leaves no mount behind and releases the pin; umount again is a
#    clear error;
#  - bad input: a second mount on the same directory, a directory that is a
#    file, an unknown reference: each a clear error, nothing mounted.
#
# usage: test_host_mount.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

it_setup host_mount
MP=$IT_BUILD/bin/modelpack
CACHE=$IT_DIR/cache
MNT=$IT_DIR/mnt
mp() { "$MP" --store "$IT_DIR/store" --cache "$CACHE" "$@"; }
mounted() { grep -q " $1 " /proc/self/mountinfo; }

it_start_registry || { it_fail "docker-registry starts"; it_done; }
it_cri_push_tools_images || { it_fail "busybox image pushed"; it_done; }

SRC=$IT_DIR/src
mkdir -p "$SRC/tokenizer"
head -c 2000000 /dev/urandom > "$SRC/model.safetensors"
echo '{"model_type": "tiny"}' > "$SRC/config.json"
echo '{"v": 1}' > "$SRC/tokenizer/tokenizer.json"
R=$REGISTRY/ml/mounted:1
mp pack --src "$SRC" --tag "$R" --format tar+zstd --push > "$IT_DIR/pack.log" 2>&1 || it_fail "pack --push: $(cat "$IT_DIR/pack.log")"
digest=$(awk '/^pushed/ {print $3}' "$IT_DIR/pack.log")
rm -rf "$IT_DIR/store" # mount pulls it

out=$(mp mount "$R" "$MNT" 2>&1) || it_fail "modelpack mount: $out"
it_check "modelpack mount pulls the model and mounts it at $MNT" mounted "$MNT"
it_check "the mount is read-only" bash -c "awk -v m='$MNT' '\$5 == m && \$6 ~ /^ro(,|\$)/ {f=1} END {exit !f}' /proc/self/mountinfo"
it_check "the mount's files are the cache tree's (same inode)" \
  test "$(stat -c %i "$MNT/model.safetensors")" = "$(stat -c %i "$CACHE/trees/${digest#sha256:}/model.safetensors")"
it_check "the cache pins the mounted tree" bash -c "grep -l '$digest' '$CACHE'/pins/mount-* >/dev/null"
it_check "writing on the host fails" bash -c "! touch '$MNT/new' 2>/dev/null"

it_start_snapshotter
it_start_containerd 2
t="[containerd $CTD_VERSION]"
if $CTR image pull --plain-http --snapshotter "$IT_SN" "$CRI_BUSYBOX_IMAGE" > "$IT_DIR/pull.log" 2>&1; then
  expected=$(cd "$SRC" && find . -type f -printf '%P\n' | LC_ALL=C sort | while read -r f; do echo "$(sha256sum < "$f" | cut -c1-64)  /model/$f"; done)
  # shellcheck disable=SC2086 # CTR and CTR_RUN_ARGS are word lists
  got=$(timeout 120 $CTR run --rm $CTR_RUN_ARGS --snapshotter "$IT_SN" \
    --mount "type=bind,src=$MNT,dst=/model,options=rbind:ro" "$CRI_BUSYBOX_IMAGE" reader \
    sh -c 'cd / && find /model -type f | sort | xargs sha256sum' 2> "$IT_DIR/run.err") || true
  it_expect_eq "$t ctr run --mount rbind:ro: the container reads every file" "$expected" "$got"
  # shellcheck disable=SC2086
  rc=0
  timeout 120 $CTR run --rm $CTR_RUN_ARGS --snapshotter "$IT_SN" \
    --mount "type=bind,src=$MNT,dst=/model,options=rbind:ro" "$CRI_BUSYBOX_IMAGE" writer \
    sh -c 'echo x > /model/new && echo written' > "$IT_DIR/write.out" 2> "$IT_DIR/write.err" || rc=$?
  it_check "$t writing into the mount fails in the container" \
    bash -c "[ $rc -ne 0 ] && ! grep -q written '$IT_DIR/write.out' && [ ! -e '$MNT/new' ]"
else
  it_fail "$t pull busybox: $(tail -3 "$IT_DIR/pull.log")"
fi
it_stop_containerd
it_stop_snapshotter > /dev/null 2>&1 || true

out=$(mp umount "$MNT" 2>&1) || it_fail "modelpack umount: $out"
it_check "umount leaves no mount behind" bash -c "! grep -q ' $MNT ' /proc/self/mountinfo"
it_check "umount releases the pin" bash -c "! grep -l '$digest' '$CACHE'/pins/* >/dev/null 2>&1"
it_expect_exit "umount of a directory with no model mounted" 4 "not a model mounted" mp umount "$MNT"

# ---- bad input --------------------------------------------------------------------
mp mount "$R" "$MNT" > /dev/null 2>&1 || it_fail "mount again"
it_expect_exit "a second mount on the same directory" 9 "already has a model mounted" mp mount "$R" "$MNT"
it_expect_eq "... one mount there, not two" 1 "$(grep -c " $MNT " /proc/self/mountinfo)"
mp umount "$MNT" > /dev/null 2>&1 || it_fail "umount"
touch "$IT_DIR/afile"
it_expect_exit "a mount point that is a file" 8 "not a directory" mp mount "$R" "$IT_DIR/afile"
it_expect_exit "an unknown reference" 4 "$REGISTRY/ml/nosuch" mp mount "$REGISTRY/ml/nosuch:1" "$IT_DIR/m2"
it_check "... nothing mounted" bash -c "! grep -q ' $IT_DIR/m2 ' /proc/self/mountinfo"
it_check "... no pin left" bash -c "[ -z \"\$(ls '$CACHE/pins')\" ]"

it_done
