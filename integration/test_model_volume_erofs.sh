#!/bin/bash
# test_model_volume.sh with [model_cache] mount = "erofs": every image-volume
# item served from an EROFS index over containerd's blobs (a file-backed mount, Linux 6.12+).
MODEL_MOUNT_MODE=erofs exec bash "$(dirname "$0")/test_model_volume.sh" "$@"
