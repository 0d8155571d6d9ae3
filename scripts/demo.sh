#!/bin/bash
# make demo: the project's main job end to end, on local defaults.
#
# Starts, in temp directories and on loopback: a registry, our snapshotter,
# and containerd 2.x with its CRI plugin using the snapshotter for every
# container and image volume.  Packs a small generated model as a ModelPack
# artifact, pushes it, and runs a pod the way a kubelet does, with the model
# as an image volume at /model; prints what the container sees there, with
# sha256 sums, next to what was packed.  Then stops and removes everything.
IT_SNAPSHOTTER=modelpack
. "$(dirname "$0")/../integration/lib.sh"
. "$IT_REPO/integration/lib_cri.sh"

it_setup demo
echo "== starting a local registry, modelpack-snapshotter and containerd 2.x (CRI)"
it_start_registry
it_start_snapshotter --log-level info --containerd-root "$IT_DIR/c/root"
it_start_containerd_cri

model=$REGISTRY/models/demo-model:1
echo "== packing a generated model as a ModelPack artifact and pushing $model"
bash "$IT_REPO/integration/build-model.sh" tarzst "$IT_DIR/model" \
  "docker://$model" > "$IT_DIR/build-model.log" 2>&1
jq -r '.layers[] | "   layer \(.mediaType)  \(.annotations["org.cncf.model.filepath"] // "")"' \
  "$IT_DIR/model/blobs/sha256/$(jq -r '.manifests[0].digest' "$IT_DIR/model/index.json" | cut -d: -f2)"

echo "== running a pod with volumes: [{name: model, image: {reference: $model}}]"
expect=()
while read -r sum path; do expect+=(--expect-file "/model/$path:$sum"); done \
  < "$IT_DIR/model/expected.txt"
rc=0
"$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE" \
  --log-dir "$IT_DIR/pods" --volume-ref "$model" --mount-path /model \
  --exact "${expect[@]}" > "$IT_DIR/pod.out" 2>&1 || rc=$?
echo "== what the container sees under /model (sha256sum inside the pod):"
grep -E '^ *[0-9a-f]{64}  /model/' "$IT_DIR/pod.out" | sed 's/^ */   /'
echo "== what was packed:"
sed 's|  |  /model/|; s/^/   /' "$IT_DIR/model/expected.txt"
grep 'image volume' "$IT_DIR/snapshotter.log" | sed 's/.*msg="/   snapshotter: /; s/"$//'
if [ "$rc" = 0 ]; then
  it_pass "the pod saw exactly the model's files"
else
  tail -n 20 "$IT_DIR/pod.out"
  it_fail "the pod did not see the model's files (cri_volume exit $rc)"
fi
echo "== cleaning up"
it_done
