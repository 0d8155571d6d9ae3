# shellcheck shell=bash
# CRI helpers for the integration tests, sourced after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib_cri.sh"
#   it_setup my_test
#   it_start_registry; it_start_snapshotter; it_start_containerd_cri
#   "$CRI_VOLUME" --address "$CRI_SOCK" ...
#
# it_start_containerd_cri runs containerd 2.x (Debian unstable) with its CRI
# plugin on, as a kubelet's node would have it but private to the test:
# root, state, sockets, runc state, registry hosts and pod logs under IT_DIR,
# the test's snapshotter (IT_SNAPSHOTTER: modelpack or a built-in) for CRI
# images, container root filesystems and image volumes.  What this machine
# needs for that (see DESIGN.md, "Local reality"):
#   - restrict_oom_score_adj = true: the sandbox may not lower oom_score_adj
#     (the CRI asks -998 for the pause process);
#   - host-network pods only: no CNI plugin or configuration is installed,
#     and the CRI never calls CNI for a NODE network namespace;
#   - bookworm's /usr/sbin/runc as BinaryName (unstable's runc needs a newer
#     glibc), the unstable usr/bin on containerd's PATH for the shim;
#   - the sandbox ("pause") image from the test's own registry: a one-layer
#     busybox-static image whose entrypoint sleeps, pinned as the sandbox
#     image; nothing is fetched from the internet;
#   - registry hosts from a private config_path (hosts.toml per host) that
#     says the test registry is plain HTTP, for the CRI and for the transfer
#     service the 2.x CRI pulls through;
#   - CDI and AppArmor off: they read or load host-wide configuration.
# CRI_PULL=local (the default) configures the CRI as config/containerd-2.x.toml
# does (disable_snapshot_annotations = false: containerd 2.1 then pulls
# in-process); CRI_PULL=transfer leaves containerd 2.x's default, pulls
# through the transfer service (unpack_config lists the snapshotter).
# CRI_EXTRA_TOML, if set, is a file whose text is appended to the snippet
# (more plugin sections, e.g. an image verifier's).
# The CRI itself is served on containerd's main socket (CRI_SOCK = CTD_SOCK);
# pods live in containerd namespace k8s.io.  lib.sh's it_stop_containerd
# stops what the pods left (tasks, shims, runc state, mounts under IT_DIR/c).
#
# Exported after it_start_containerd_cri:
#   CRI_SOCK CRI_PAUSE_IMAGE CRI_VOLUME (the cri_volume program)

CRI_VOLUME=${CRI_VOLUME:-$IT_BUILD/bin/cri_volume}
export CRI_VOLUME

# it_cri_tools_tree DIR: stage busybox-static as /bin/busybox with the
# applets the CRI tests use as /bin symlinks (an image's only layer).
it_cri_tools_tree() {
  local dir=$1 applet busybox=${BUSYBOX:-/bin/busybox}
  if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    it_log "$busybox is missing or not static: install busybox-static"
    return 1
  fi
  mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp"
  cp "$busybox" "$dir/bin/busybox"
  chmod 0755 "$dir/bin/busybox" "$dir/bin" "$dir/etc"
  chmod 1777 "$dir/tmp"
  for applet in sh sleep find sha256sum ls cat echo rm touch mkdir grep stat \
    id env true false; do
    ln -sf busybox "$dir/bin/$applet"
  done
}

# it_cri_push_tools_images: build the busybox tools layer once and push it
# as $REGISTRY/test/pause:1 (entrypoint: sleep) and $REGISTRY/test/busybox:1
# (cmd: sh).  Sets CRI_PAUSE_IMAGE and CRI_BUSYBOX_IMAGE.
it_cri_push_tools_images() {
  local tree=$IT_DIR/cri-images/tools layout=$IT_DIR/cri-images/oci
  : "${REGISTRY:?it_start_registry first}"
  CRI_PAUSE_IMAGE=$REGISTRY/test/pause:1
  CRI_BUSYBOX_IMAGE=$REGISTRY/test/busybox:1
  export CRI_PAUSE_IMAGE CRI_BUSYBOX_IMAGE
  [ ! -e "$IT_DIR/cri-images/.pushed" ] || return 0
  rm -rf "$tree"
  it_cri_tools_tree "$tree"
  # PID 1 of the sandbox: busybox sleep ignores SIGTERM as PID 1, and the
  # CRI stops sandboxes with SIGKILL anyway.
  bash "$IT_REPO/integration/build-oci.sh" "$layout" pause \
    --entrypoint '["/bin/sleep","2147483647"]' \
    --push "docker://$CRI_PAUSE_IMAGE" "$tree" >/dev/null
  bash "$IT_REPO/integration/build-oci.sh" "$layout" busybox \
    --cmd '["/bin/sh"]' --push "docker://$CRI_BUSYBOX_IMAGE" "$tree" >/dev/null
  touch "$IT_DIR/cri-images/.pushed"
}

# it_cri_registry_hosts DIR: a containerd registry config_path directory
# that makes $REGISTRY plain HTTP.
it_cri_registry_hosts() {
  local dir=$1
  mkdir -p "$dir/$REGISTRY"
  cat > "$dir/$REGISTRY/hosts.toml" <<EOF
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve", "push"]
EOF
}

# it_cri_snippet FILE: the CRI part of containerd's configuration (lib.sh's
# it_containerd_config adds root, state, sockets and private CNI dirs).  The
# snapshotter settings are those of config/containerd-2.x.toml.
it_cri_snippet() {
  local f=$1 hosts=$IT_DIR/c/certs.d sn
  {
    echo "version = 3"
    if [ "$IT_SN" = modelpack ]; then
      cat <<EOF

[proxy_plugins.modelpack]
  type = "snapshot"
  address = "$MP_SOCK"
  capabilities = ["rebase"]
  [proxy_plugins.modelpack.exports]
    root = "$MP_ROOT"
    enable_remote_snapshot_annotations = "true"
EOF
    fi
    cat <<EOF

[plugins.'io.containerd.cri.v1.images']
  snapshotter = '$IT_SN'
  discard_unpacked_layers = false
EOF
    if [ "${CRI_PULL:-local}" = local ]; then
      # As config/containerd-2.x.toml has it.  containerd 2.1 then logs
      # "Found 'DisableSnapshotAnnotations' in CRI config which is
      # incompatible with transfer service ... Falling back to local image
      # pull mode": the CRI pulls and unpacks in-process, not through the
      # transfer service (whose unpack_config it then ignores).
      echo "  disable_snapshot_annotations = false"
    fi
    cat <<EOF

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '$CRI_PAUSE_IMAGE'

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '$hosts'

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_cdi = false
  cdi_spec_dirs = []

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = 'runc'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'
  snapshotter = '$IT_SN'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = '$IT_RUNC'
  Root = '$IT_DIR/c/runc'

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.transfer.v1.local']
  config_path = '$hosts'
EOF
    for sn in $(printf '%s\n' "$IT_SN" overlayfs | awk '!seen[$0]++'); do
      printf "\n[[plugins.'io.containerd.transfer.v1.local'.unpack_config]]\n"
      printf "  platform = '%s'\n  snapshotter = '%s'\n" "$(it_platform)" "$sn"
    done
    if [ -n "${CRI_EXTRA_TOML:-}" ]; then
      echo
      cat "$CRI_EXTRA_TOML"
    fi
  } > "$f"
}

# it_cri_ready: the CRI answers Version (it refuses calls until its
# plugin has initialised).
it_cri_ready() {
  "$CRI_VOLUME" --address "$CRI_SOCK" --ping >/dev/null 2>&1
}

# it_start_containerd_cri: containerd 2.x with the CRI on (see above);
# after it_start_registry and it_start_snapshotter.
it_start_containerd_cri() {
  : "${REGISTRY:?it_start_registry first}"
  if [ ! -x "$CRI_VOLUME" ]; then
    it_log "$CRI_VOLUME is not built (make build/bin/cri_volume)"
    return 1
  fi
  # A private copy: a rebuild of the shared build directory while the test
  # runs must not swap the program between two calls.
  if [ "$CRI_VOLUME" != "$IT_DIR/cri_volume" ]; then
    cp "$CRI_VOLUME" "$IT_DIR/cri_volume"
    CRI_VOLUME=$IT_DIR/cri_volume
  fi
  it_cri_push_tools_images
  mkdir -p "$IT_DIR/c" "$IT_DIR/pods"
  it_cri_registry_hosts "$IT_DIR/c/certs.d"
  it_cri_snippet "$IT_DIR/cri.toml"
  it_start_containerd 2 "$IT_DIR/cri.toml"
  # shellcheck disable=SC2153 # CTD_SOCK is set by it_start_containerd
  CRI_SOCK=$CTD_SOCK
  export CRI_SOCK
  if ! it_wait_for 30 "the CRI on $CRI_SOCK" it_cri_ready; then
    "$CRI_VOLUME" --address "$CRI_SOCK" --ping >&2 || true
    return 1
  fi
}

# ---- pods with an image volume (cri_volume as the kubelet) -------------------

# cri_expect_args MODEL_DIR: --expect-file (and --expect-mode) arguments from
# its expected.txt (and expected-modes.txt), into the array EXPECT.
cri_expect_args() {
  local d=$1 h p mode
  EXPECT=()
  while read -r h p; do
    EXPECT+=(--expect-file "$p:$h")
  done < "$d/expected.txt"
  if [ -f "$d/expected-modes.txt" ]; then
    while read -r mode p; do
      EXPECT+=(--expect-mode "$mode:$p")
    done < "$d/expected-modes.txt"
  fi
}

# cri_cmd ARGS...: the cri_volume command line (into CMD) for a pod on the
# private containerd with a volume at /model on our snapshotter.
cri_cmd() {
  CMD=("$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE"
    --log-dir "$IT_DIR/pods" --snapshotter modelpack --backend "$MP_SOCK"
    --mount-path /model "$@")
}

# cri_pod LABEL ARGS...: run cri_volume (output in OUT, shown indented);
# pass if it exits 0.  SB gets the sandbox ID.
CRI_POD_SEQ=0
cri_pod() {
  local label=$1 rc=0
  shift
  OUT=$IT_DIR/cri_volume.$((++CRI_POD_SEQ)).out
  cri_cmd "$@"
  "${CMD[@]}" > "$OUT" 2>&1 || rc=$?
  sed 's/^/     /' "$OUT"
  SB=$(sed -n 's/^info sandbox \([0-9a-f]*\) in .*/\1/p' "$OUT" | head -n 1)
  if [ "$rc" = 0 ]; then
    it_pass "$label ($(tail -n 1 "$OUT"))"
  else
    it_fail "$label (exit $rc: $(tail -n 1 "$OUT"))"
  fi
}
