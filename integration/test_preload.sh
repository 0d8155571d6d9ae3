#!/bin/bash
# Node preload (`modelpack preload`), then Kubernetes image volumes with no
# registry: containerd 2.x with the CRI (cri_volume, as a kubelet with
# pullPolicy IfNotPresent: ImageStatus first, PullImage only if absent).
#
#  - preload REF --containerd: the model is unpacked into the daemon's model
#    cache (pinned) and imported into containerd's content and image stores
#    (namespace k8s.io) under a lease that is gone afterwards; the manifest
#    carries the gc labels that keep its config and layers;
#  - the registry is stopped; a pod with the model as image volume starts
#    without PullImage, sees exactly the model's files, and the daemon
#    unpacks nothing for it (the preloaded tree is reused);
#  - offline from an OCI layout (--from oci-layout:PATH): a layout written
#    by our pack and one copied by skopeo (named by tag only) each preload
#    and mount the same way, the registry still stopped;
#  - a model of 70 files imports with a gc reference per layer;
#  - bad input: an unknown reference, a layout without the model, an
#    unreachable containerd: each a clear error.
#
# usage: test_preload.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

it_setup preload
if [ "$IT_SN" != modelpack ]; then
  it_fail "this test is for our snapshotter (IT_SNAPSHOTTER=$IT_SN)"
  it_done
fi
MP=$IT_BUILD/bin/modelpack
mp() { "$MP" --store "$IT_DIR/store" --cache "$MP_ROOT/models" "$@"; }

it_start_registry || { it_fail "docker-registry starts"; it_done; }
it_start_snapshotter --containerd-root "$IT_DIR/c/root"
if ! it_start_containerd_cri; then
  it_fail "containerd with the CRI starts"
  it_done
fi

# model NAME DIR: a small model's files.
model() {
  mkdir -p "$2/tokenizer"
  head -c 1500000 /dev/urandom > "$2/$1.safetensors"
  echo "{\"model_type\": \"$1\"}" > "$2/config.json"
  echo '{"v": 1}' > "$2/tokenizer/tokenizer.json"
}
# expect DIR: cri_volume --expect-file arguments for DIR's files.
expect() {
  EXPECT=()
  while read -r p; do
    EXPECT+=(--expect-file "$p:$(sha256sum < "$1/$p" | cut -c1-64)")
  done < <(cd "$1" && find . -type f -printf '%P\n' | LC_ALL=C sort)
}
# pod LABEL ARGS...: a pod with the busybox image and a model volume.
pod() {
  local label=$1 rc=0
  shift
  "$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE" \
    --log-dir "$IT_DIR/pods" --snapshotter modelpack --backend "$MP_SOCK" \
    --mount-path /model "$@" > "$IT_DIR/pod.out" 2>&1 || rc=$?
  sed 's/^/    /' "$IT_DIR/pod.out" >&2
  if [ "$rc" = 0 ]; then it_pass "$label"; else it_fail "$label (exit $rc)"; fi
}

# A first pod with another model, pulled normally: the node has the pause
# and busybox images before the registry goes away (as any node would).
model warm "$IT_DIR/warm"
mp pack --src "$IT_DIR/warm" --tag "$REGISTRY/ml/warm:1" --push > /dev/null 2>&1 || it_fail "pack warm"
expect "$IT_DIR/warm"
pod "a pod pulling its model volume normally" --volume-ref "$REGISTRY/ml/warm:1" --exact "${EXPECT[@]}"

model tiny "$IT_DIR/src"
RA=$REGISTRY/ml/tiny:1
mp pack --src "$IT_DIR/src" --tag "$RA" --format tar+zstd --push > "$IT_DIR/pack.log" 2>&1 || it_fail "pack --push: $(cat "$IT_DIR/pack.log")"
digest=$(awk '/^pushed/ {print $3}' "$IT_DIR/pack.log")
rm -rf "$IT_DIR/store" # preload pulls it

# ---- preload with the registry up -------------------------------------------------
out=$(mp preload "$RA" --containerd "$CTD_SOCK" 2>&1) || it_fail "preload: $out"
it_log "$out"
it_check "preload unpacks the model into the daemon's cache" \
  grep -q "^$RA $digest: 3 layers unpacked" <<<"$out"
it_check "... and pins it" bash -c "grep -l '$digest' '$MP_ROOT/models/pins/preload-'* >/dev/null"
it_check "... and imports 5 blobs into containerd" grep -q "image $RA, 5 blobs written" <<<"$out"
# shellcheck disable=SC2086 # CTR is a word list
it_check "containerd (k8s.io) has the image" grep -qx "$RA" <($CTR -n k8s.io images ls -q)
# shellcheck disable=SC2086
it_check "no lease is left behind" bash -c "! $CTR -n k8s.io leases ls | grep -q modelpack-preload"
# shellcheck disable=SC2086
labels=$($CTR -n k8s.io content ls | grep "^$digest" || true)
it_check "the manifest carries gc labels for its config and 3 layers" \
  bash -c "grep -q 'containerd.io/gc.ref.content.config=' <<<'$labels' && grep -q 'containerd.io/gc.ref.content.l.2=' <<<'$labels'"

it_stop_registry
it_check "the registry is stopped" bash -c "! curl -sf 'http://$REGISTRY/v2/' >/dev/null"

# ---- a pod with no registry ----------------------------------------------------------
expect "$IT_DIR/src"
pod "registry stopped: a pod with the preloaded model as image volume starts and sees its files" \
  --if-not-present --volume-ref "$RA" --exact "${EXPECT[@]}"
it_check "... without PullImage (the CRI had the image)" grep -q "ImageStatus $RA: present" "$IT_DIR/pod.out"
line=$(grep -E "image volume [^ ]*/image-volumes/[0-9a-f]+/${digest#sha256:}: model .* ready in" "$IT_DIR/snapshotter.log" | tail -n 1) || true
it_check "... and the daemon unpacked nothing for it (tree reused)" \
  grep -qE "\(0 layers unpacked, .*tree reused\)" <<<"$line"

# ---- offline from OCI layouts ----------------------------------------------------------
model offline "$IT_DIR/src2"
RO=example.com/ml/offline:1
"$MP" --store "$IT_DIR/layout" pack --src "$IT_DIR/src2" --tag "$RO" --format tar > /dev/null 2>&1 || it_fail "pack into a layout"
out=$(mp preload "$RO" --from "oci-layout:$IT_DIR/layout" --containerd "$CTD_SOCK" 2>&1) || it_fail "preload --from: $out"
expect "$IT_DIR/src2"
pod "preload --from oci-layout (our pack's layout): the pod sees the files" \
  --if-not-present --volume-ref "$RO" --exact "${EXPECT[@]}"

skopeo copy "oci:$IT_DIR/layout:$RO" "oci:$IT_DIR/sk:v7" > "$IT_DIR/skopeo.log" 2>&1 || it_fail "skopeo copy: $(cat "$IT_DIR/skopeo.log")"
RS=example.com/ml/copied:v7
out=$(mp preload "$RS" --from "oci-layout:$IT_DIR/sk" --containerd "$CTD_SOCK" 2>&1) || it_fail "preload --from skopeo layout: $out"
pod "preload --from a layout skopeo wrote (named by tag): the pod sees the files" \
  --if-not-present --volume-ref "$RS" --exact "${EXPECT[@]}"

# A model of many files: one gc reference per layer on its manifest.
mkdir -p "$IT_DIR/many"
for i in $(seq 1 70); do echo "doc $i" > "$IT_DIR/many/notes-$i.md"; done
"$MP" --store "$IT_DIR/layout" pack --src "$IT_DIR/many" --tag example.com/ml/many:1 > "$IT_DIR/many.out" 2>&1 || it_fail "pack many"
many=$(awk '{print $2}' "$IT_DIR/many.out")
out=$(mp preload example.com/ml/many:1 --from "oci-layout:$IT_DIR/layout" --containerd "$CTD_SOCK" 2>&1) || it_fail "preload many: $out"
# shellcheck disable=SC2086
it_check "a 70-layer model imports whole: its manifest references the 70th layer" \
  bash -c "$CTR -n k8s.io content ls | grep '^$many' | grep -q 'containerd.io/gc.ref.content.l.69='"

# ---- bad input -----------------------------------------------------------------------
it_expect_exit "an unknown reference with the registry down" 6 "$REGISTRY" \
  mp preload "$REGISTRY/ml/nosuch:1"
it_expect_exit "a layout without the model" 4 "no model named" \
  mp preload example.com/ml/nosuch:1 --from "oci-layout:$IT_DIR/layout"
it_expect_exit "a layout path that does not exist" 4 "$IT_DIR/none" \
  mp preload "$RO" --from "oci-layout:$IT_DIR/none"
mkdir -p "$IT_DIR/src3" && head -c 300000 /dev/urandom > "$IT_DIR/src3/w.gguf"
"$MP" --store "$IT_DIR/layout" pack --src "$IT_DIR/src3" --tag example.com/ml/never:1 > "$IT_DIR/never.out" 2>&1 || it_fail "pack never"
never=$(awk '{print $2}' "$IT_DIR/never.out")
it_expect_exit "an unreachable containerd" 6 "$IT_DIR/nobody.sock" \
  mp preload example.com/ml/never:1 --from "oci-layout:$IT_DIR/layout" --containerd "$IT_DIR/nobody.sock"
it_check "... and the model is not left pinned as preloaded" test ! -e "$MP_ROOT/models/pins/preload-${never#sha256:}"

it_done
