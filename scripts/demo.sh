#!/bin/bash
# make demo: the snapshotter doing its job end to end on local defaults.
# Starts (in temp directories, on loopback) a registry, our snapshotter and
# containerd 2.x with it as proxy plugin "modelpack"; pushes a three-layer
# image; pulls it through the snapshotter; runs a container from it with
# runc and prints what the container sees; then stops and removes it all.
IT_SNAPSHOTTER=modelpack
. "$(dirname "$0")/../integration/lib.sh"

it_setup demo
echo "== starting a local registry, modelpack-snapshotter and containerd 2.x"
it_start_registry
it_start_snapshotter --log-level info
it_start_containerd 2
image=$REGISTRY/demo/busybox-layers:1
echo "== building and pushing $image (3 layers)"
bash "$IT_REPO/integration/build-image.sh" "$IT_DIR/img" "docker://$image" >/dev/null
echo "== ctr image pull --snapshotter modelpack $image"
$CTR image pull --plain-http --snapshotter modelpack "$image" >/dev/null
echo "== the layers as snapshots of modelpack-snapshotter"
$CTR snapshots --snapshotter modelpack ls
echo "== ctr run --snapshotter modelpack: the container's view"
# shellcheck disable=SC2086 # CTR and CTR_RUN_ARGS are word lists
$CTR run --rm $CTR_RUN_ARGS --snapshotter modelpack "$image" demo \
  sh -c 'echo "greeting: $(cat /etc/greeting)"; echo "/etc:"; ls /etc; echo "/data:"; ls /data; mount | grep " / "'
it_pass "demo ran a container from a snapshot chain served by modelpack-snapshotter"
echo "== cleaning up"
it_done
