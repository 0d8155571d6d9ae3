#!/bin/bash
# Kubernetes image volumes of ordinary images, end to end through the CRI of
# containerd 2.x, the way a kubelet does it (cri_volume: host-network pod
# sandbox, PullImage, CreateContainer with Mount.image, StartContainer,
# ExecSync), on each snapshotter:
#   - a one-layer image of files with known SHA-256 (nested directories, an
#     empty file, a name with spaces, a 0600 file, a symlink) mounted at
#     /model: exactly those files, those hashes, read-only;
#   - the three-layer image of build-image.sh mounted at /model: the merged
#     view (overwrite, whiteout, opaque directory), nothing else;
#   - a ModelPack artifact (pushed with oras: three raw layers with
#     org.cncf.model.filepath annotations, one in a subdirectory): on
#     overlayfs the known gap, an empty directory (DESIGN.md section 1); on
#     modelpack the model's files once the snapshotter serves ModelPack image
#     volumes -- until then set CRI_MODEL_FILES=0 to record the gap instead;
#   - for the record: the Prepare key, parent and labels the snapshotter
#     gets for an image volume (snapshotter.log and the backend's own List),
#     and, with our snapshotter, what CreateContainer's caller sees when that
#     Prepare fails.
#
# usage: test_cri_volume.sh
# Each snapshotter runs with the CRI pulling as config/containerd-2.x.toml
# makes it (CRI_PULL=local: disable_snapshot_annotations = false, in-process
# pull) and as containerd 2.x does by default (CRI_PULL=transfer, through the
# transfer service); overlayfs, the reference, only the default way.
# Environment: IT_SNAPSHOTTER=overlayfs|modelpack runs only that one (the
# default is both, ours first); CRI_PULL=local|transfer only that way.  CRI_VOLUME_ARGS adds cri_volume arguments.
# CRI_MODEL_FILES=1 (the default) expects the ModelPack artifact's files
# with our snapshotter, 0 expects the empty directory of a runtime without
# artifact support.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

if [ -n "${IT_SNAPSHOTTER:-}" ]; then
  snapshotters=$IT_SNAPSHOTTER
else
  snapshotters="modelpack overlayfs"
fi

it_setup cri_volume
it_start_registry

# ---- the volume images ----------------------------------------------------

vol_tree=$IT_DIR/vol-tree
mkdir -p "$vol_tree/data/sub/deep" "$vol_tree/docs"
echo "hello from an image volume" > "$vol_tree/hello.txt"
seq 1 5000 > "$vol_tree/data/numbers.txt"
# About 1 MB that is not all one byte, reproducibly.
seq 1 150000 > "$vol_tree/data/sub/deep/weights.bin"
: > "$vol_tree/data/empty"
echo "a name with spaces" > "$vol_tree/docs/read me.txt"
echo "only root reads this" > "$vol_tree/docs/private.txt"
ln -s hello.txt "$vol_tree/link-to-hello"
find "$vol_tree" -type d -exec chmod 0755 {} +
find "$vol_tree" -type f -exec chmod 0644 {} +
chmod 0600 "$vol_tree/docs/private.txt"
volume=$REGISTRY/test/volume:1
bash "$IT_REPO/integration/build-oci.sh" "$IT_DIR/vol-oci" 1 \
  --push "docker://$volume" "$vol_tree" >/dev/null
# manifest_digest REPO TAG: the digest the registry serves for the tag.
manifest_digest() {
  curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/$1/manifests/$2" \
    | tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}
volume_manifest=$(manifest_digest test/volume 1)
# --expect-file arguments: every regular file with the hash the host computes.
vol_expect=()
while IFS= read -r -d '' f; do
  vol_expect+=(--expect-file "${f#./}:$(sha256sum "$vol_tree/$f" | cut -d' ' -f1)")
done < <(cd "$vol_tree" && find . -type f -print0 | LC_ALL=C sort -z)

layered=$REGISTRY/test/multilayer:1
bash "$IT_REPO/integration/build-image.sh" "$IT_DIR/img" "docker://$layered"
h() { printf '%s\n' "$1" | sha256sum | cut -d' ' -f1; }
layered_expect=(
  --expect-file "bin/busybox:$(sha256sum /bin/busybox | cut -d' ' -f1)"
  --expect-file "etc/greeting:$(h "hello from layer 3")"
  --expect-file "etc/keep:$(h "kept from layer 2")"
  --expect-file "etc/new:$(h "added in layer 3")"
  --expect-file "etc/sub/file:$(h "in a directory")"
  --expect-file "data/b.txt:$(h "only file left in /data")"
)
layered_manifest=$(manifest_digest test/multilayer 1)

# A ModelPack artifact as oras pushes it (a real producer): raw layers, one
# file each, title and ModelPack file annotations, ModelPack config.
model_tree=$IT_DIR/model-tree
mkdir -p "$model_tree/tokenizer"
seq 1 100000 > "$model_tree/model.safetensors"
echo '{"architectures": ["TinyForCausalLM"], "hidden_size": 8}' > "$model_tree/config.json"
echo '{"version": "1.0", "vocab": {"a": 0, "b": 1}}' > "$model_tree/tokenizer/tokenizer.json"
model_files=(model.safetensors config.json tokenizer/tokenizer.json)
model_types=(weight.v1.raw weight.config.v1.raw weight.config.v1.raw)
model_expect=()
for f in "${model_files[@]}"; do
  model_expect+=(--expect-file "$f:$(sha256sum "$model_tree/$f" | cut -d' ' -f1)")
done
model=$REGISTRY/test/tiny-model:1
push_model() {
  local f i diff_ids=() layers=()
  for i in "${!model_files[@]}"; do
    f=${model_files[i]}
    diff_ids+=("sha256:$(sha256sum "$model_tree/$f" | cut -d' ' -f1)")
    layers+=("$f:application/vnd.cncf.model.${model_types[i]}")
  done
  jq -n --argjson ids "$(printf '%s\n' "${diff_ids[@]}" | jq -R . | jq -cs .)" \
    '{descriptor: {name: "tiny-model", version: "1", createdAt: "2024-01-01T00:00:00Z"},
      config: {format: "safetensors", paramSize: "1k"},
      modelfs: {type: "layers", diffIds: $ids}}' > "$IT_DIR/model-config.json"
  for f in "${model_files[@]}"; do
    jq -n --arg f "$f" --argjson size "$(stat -c %s "$model_tree/$f")" \
      '{($f): {"org.cncf.model.filepath": $f,
        "org.cncf.model.file.mediatype.untested": "true",
        "org.cncf.model.file.metadata+json": ({name: $f, mode: 420, uid: 0,
          gid: 0, size: $size, mtime: "2024-01-01T00:00:00Z", typeflag: 0} | tojson)}}'
  done | jq -s 'add' > "$IT_DIR/model-annotations.json"
  (cd "$model_tree" && "$IT_UNSTABLE_BIN/oras" push --plain-http \
    --disable-path-validation --no-tty \
    --artifact-type application/vnd.cncf.model.manifest.v1+json \
    --config "$IT_DIR/model-config.json:application/vnd.cncf.model.config.v1+json" \
    --annotation-file "$IT_DIR/model-annotations.json" \
    "$model" "${layers[@]}") > "$IT_DIR/oras.log" 2>&1
}
if ! push_model; then
  cat "$IT_DIR/oras.log" >&2
  it_fail "oras pushes the ModelPack artifact $model"
fi
model_manifest=$(manifest_digest test/tiny-model 1)
it_log "pushed $volume ($volume_manifest), $layered ($layered_manifest), $model ($model_manifest)"

# ---- running cri_volume ---------------------------------------------------

# cri_run LABEL ARGS...: run cri_volume against the private containerd, show
# its output, pass if it exits 0.
cri_run() {
  local label=$1 out=$IT_DIR/cri_volume.$RANDOM.out rc=0 extra=()
  shift
  [ "$IT_SN" != modelpack ] || extra=(--backend "$MP_SOCK")
  # shellcheck disable=SC2086 # CRI_VOLUME_ARGS is a word list
  "$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE" \
    --log-dir "$IT_DIR/pods" --snapshotter "$IT_SN" "${extra[@]}" \
    ${CRI_VOLUME_ARGS:-} "$@" > "$out" 2>&1 || rc=$?
  sed 's/^/     /' "$out"
  if [ "$rc" = 0 ]; then
    it_pass "$label ($(tail -n 1 "$out"))"
  else
    it_fail "$label (exit $rc: $(tail -n 1 "$out"))"
  fi
  CRI_LAST_OUT=$out
}

# cri_run_quiet ARGS...: run cri_volume as cri_run does, output to
# CRI_LAST_OUT only; its exit status.
cri_run_quiet() {
  local extra=()
  CRI_LAST_OUT=$IT_DIR/cri_volume.$RANDOM.out
  [ "$IT_SN" != modelpack ] || extra=(--backend "$MP_SOCK")
  "$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE" \
    --log-dir "$IT_DIR/pods" --snapshotter "$IT_SN" "${extra[@]}" "$@" \
    > "$CRI_LAST_OUT" 2>&1
}

# volume_prepares: the image-volume Prepare lines our snapshotter logged
# since it started last (the log is appended to by each start).
volume_prepares() {
  tail -n +$((log_mark + 1)) "$IT_DIR/snapshotter.log" \
    | grep -E 'prepare key=[^ ]*/image-volumes/' || true
}

test_snapshotter() {
  local t="[containerd 2/$IT_SN/$CRI_PULL pull]" lines key pulled_by
  touch "$IT_DIR/snapshotter.log" "$IT_DIR/containerd-2.log"
  log_mark=$(wc -l < "$IT_DIR/snapshotter.log")
  ctd_mark=$(wc -l < "$IT_DIR/containerd-2.log")
  # Model blobs are read from the private containerd's content store.
  it_start_snapshotter --containerd-root "$IT_DIR/c/root"
  if ! it_start_containerd_cri; then
    it_fail "$t containerd with the CRI starts"
    return 0
  fi
  it_pass "$t containerd $("$CRI_VOLUME" --address "$CRI_SOCK" --ping) with the CRI on $CRI_SOCK"

  cri_run "$t one-layer image as volume: files, hashes, read-only" \
    --volume-ref "$volume" --mount-path /model --exact --list "${vol_expect[@]}"
  # How the pulls above went (the log says so per pull in transfer mode,
  # once at start-up in local mode).
  pulled_by=$(tail -n +$((ctd_mark + 1)) "$CTD_LOG" \
    | grep -Eo 'using transfer service|Falling back to local image pull mode' \
    | sort -u) || true
  if [ "$CRI_PULL" = transfer ]; then
    it_expect_eq "$t the CRI pulls through the transfer service" \
      "using transfer service" "$pulled_by"
  else
    it_check "$t the CRI pulls in-process (disable_snapshot_annotations = false)" \
      grep -q 'local image pull mode' <<<"$pulled_by"
  fi
  cri_run "$t three-layer image as volume: merged view only" \
    --volume-ref "$layered" --mount-path /model --exact "${layered_expect[@]}"
  # The checks can fail: a wrong hash and a missing file are caught.
  if cri_run_quiet --volume-ref "$volume" --mount-path /model \
    --expect-file "hello.txt:$(h "not the content")" \
    --expect-file "no/such/file:$(h x)"; then
    it_fail "$t cri_volume fails on a wrong hash and a missing file"
  else
    it_check "$t cri_volume fails on a wrong hash and a missing file" \
      grep -q '^FAIL /model/hello.txt has sha256 .*, not ' "$CRI_LAST_OUT"
    it_check "$t ... and names the missing file" \
      grep -q '^FAIL /model/no/such/file is in the volume' "$CRI_LAST_OUT"
  fi

  if [ "$IT_SN" = modelpack ] && [ "${CRI_MODEL_FILES:-1}" = 1 ]; then
    cri_run "$t ModelPack artifact as volume: the model's files" \
      --volume-ref "$model" --mount-path /model --exact --list "${model_expect[@]}"
  else
    cri_run "$t ModelPack artifact as volume: an empty directory (the gap)" \
      --volume-ref "$model" --mount-path /model --expect-empty
  fi

  if [ "$IT_SN" = modelpack ]; then
    lines=$(volume_prepares)
    it_log "image-volume Prepare calls our snapshotter received:"
    printf '%s\n' "$lines" | sed 's/^/     /' >&2
    # Key: <ns>/<seq>/<CRI state>/image-volumes/<sandbox>/<manifest hex>;
    # parent: the image's top chain ID (metadata-layer name, not the
    # backend's).
    key=$(printf '%s\n' "$lines" | head -n 1 | sed -n 's/.*prepare key=\([^ ]*\) .*/\1/p')
    it_check "$t image-volume Prepare key is k8s.io/<seq>/$CTD_STATE/io.containerd.grpc.v1.cri/image-volumes/<sandbox>/<digest hex>" \
      grep -Eq "^k8s\.io/[0-9]+/$CTD_STATE/io\.containerd\.grpc\.v1\.cri/image-volumes/[0-9a-f]{64}/[0-9a-f]{64}\$" <<<"$key"
    it_check "$t an ordinary image volume is prepared on a parent (its chain)" \
      grep -Eq 'image-volumes/.* parent=k8s\.io/[0-9]+/sha256:[0-9a-f]{64} ns=k8s\.io' <<<"$lines"
    it_check "$t the key ends in the manifest digest of each volume image" \
      grep -q "/${volume_manifest#sha256:} .*/${layered_manifest#sha256:} " \
      <<<"$(tr '\n' ' ' <<<"$lines")"
    it_check "$t a ModelPack artifact's volume is prepared without a parent" \
      grep -Eq "image-volumes/[0-9a-f]{64}/${model_manifest#sha256:} parent= ns=k8s\.io" <<<"$lines"
    grep -h 'image volume snapshot' "$IT_DIR"/cri_volume.*.out | sort -u | sed 's/^/     /' >&2

    test_prepare_failure "$t"
  fi
}

# test_prepare_failure T: with the snapshotter's snapshot directory made
# read-only (a bind mount in the test's private mount namespace) between the
# pulls and CreateContainer, Prepare of the volume fails (the CRI prepares
# image volumes before the container's root filesystem); record what reaches
# CreateContainer's caller, and that the pod still cleans up.
test_prepare_failure() {
  local t=$1 snaps=$MP_ROOT/snapshots
  if [ ! -d "$snaps" ]; then
    it_fail "$t $snaps exists (to make Prepare fail)"
    return 0
  fi
  cri_run "$t Prepare of the volume fails: CreateContainer fails, pod cleans up" \
    --volume-ref "$volume" --mount-path /model \
    --before-create "mount --bind '$snaps' '$snaps' && mount -o remount,bind,ro '$snaps'" \
    --after-create "umount '$snaps'" \
    --expect-create-error "failed to prepare for image volume"
  it_umount_under "$snaps"
  grep -h 'CreateContainer error' "$CRI_LAST_OUT" | sed 's/^ *info /     /' >&2 || true
}

for sn in $snapshotters; do
  if [ -n "${CRI_PULL:-}" ]; then
    modes=$CRI_PULL
  elif [ "$sn" = modelpack ]; then
    modes="local transfer"
  else
    modes=transfer
  fi
  for mode in $modes; do
    IT_SN=$sn CRI_PULL=$mode
    export IT_SN CRI_PULL
    test_snapshotter
    it_stop_containerd
    if [ "$IT_SN" = modelpack ]; then
      it_check "[containerd 2/$IT_SN/$CRI_PULL pull] snapshotter exits 0 on SIGTERM" it_stop_snapshotter
    fi
    it_reset_state
  done
done

it_done
