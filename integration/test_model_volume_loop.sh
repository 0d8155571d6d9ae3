#!/bin/bash
# test_model_volume.sh with [model_cache] mount = "loop": every image-volume
# item served from an EROFS index over containerd's blobs (attached to loop devices, as on Linux 6.4-6.11).
MODEL_MOUNT_MODE=loop exec bash "$(dirname "$0")/test_model_volume.sh" "$@"
