#!/bin/bash
# The example configuration in config/ works as documented:
#   config.toml                  the daemon starts with it (paths overridden
#                                by flags, as the README says flags win)
#   containerd-1.6.toml          containerd 1.6 loads it: proxy plugin and CRI
#   containerd-1.7.toml          plugin ok, CRI snapshotter is modelpack
#                                (no 1.7 binary here: checked on 1.6, which
#                                reads the same version-2 keys)
#   containerd-2.x.toml          containerd 2.x loads it: capabilities and
#                                exports reach the plugin, CRI images/runtime
#                                use modelpack, the transfer service unpacks
#                                into modelpack and still into overlayfs
#   modelpack-snapshotter.service  systemd-analyze verify accepts it
# Each containerd runs privately with the snippet merged into its config,
# socket and root paths pointed at the test's own snapshotter.
#
# usage: test_config_examples.sh [VERSION...]   (CTD_VERSIONS="1.6 2")
. "$(dirname "$0")/lib.sh"

versions=${*:-${CTD_VERSIONS:-1.6 2}}
cfg=$IT_REPO/config

it_setup config_examples
if [ "$IT_SN" != modelpack ]; then
  it_log "the examples configure the modelpack snapshotter; IT_SNAPSHOTTER=$IT_SN skips them"
  it_done
fi
it_start_registry
image=$REGISTRY/test/multilayer:1
bash "$IT_REPO/integration/build-image.sh" "$IT_DIR/img" "docker://$image"

if command -v systemd-analyze >/dev/null; then
  mkdir -p "$IT_DIR/unit"
  # The unit names the installed binary; verify the unit, not the install.
  sed "s|/usr/local/bin/modelpack-snapshotter|$MP_BIN|" \
    "$cfg/modelpack-snapshotter.service" > "$IT_DIR/unit/modelpack-snapshotter.service"
  it_check "systemd-analyze verify modelpack-snapshotter.service" \
    systemd-analyze verify "$IT_DIR/unit/modelpack-snapshotter.service"
else
  it_log "systemd-analyze not installed: unit file not checked"
fi
it_check "unit starts the daemon with the example config path" \
  grep -qx 'ExecStart=/usr/local/bin/modelpack-snapshotter --config /etc/modelpack-snapshotter/config.toml' \
  "$cfg/modelpack-snapshotter.service"

# plugin_status TYPE ID: the STATUS column of ctr plugins ls.
plugin_status() {
  $CTR plugins ls | awk -v t="$1" -v id="$2" '$1 == t && $2 == id { print $NF }'
}

# config_dump: containerd's merged configuration.
config_dump() {
  local bin=/usr/bin/containerd
  [ "$CTD_VERSION" = 1.6 ] || bin=$IT_UNSTABLE_BIN/containerd
  "$bin" --config "$IT_DIR/c/config.toml" config dump 2>/dev/null
}

# dump_has PATTERN: the merged configuration has a line matching the
# extended regular expression PATTERN.  (Not "config_dump | grep -q":
# under pipefail, grep exiting first fails the pipe.)
dump_has() {
  grep -Eq "$1" <<<"$(config_dump)"
}

# has_committed SNAPSHOTTER: containerd holds committed layers in it.
has_committed() {
  grep -q '^sha256:.*Committed' <<<"$($CTR snapshots --snapshotter "$1" ls)"
}

check_snippet() {
  local v=$1 snippet=$2 t out
  t="[$(basename "$snippet") on containerd $v]"
  if ! it_start_snapshotter --config "$cfg/config.toml"; then
    it_fail "$t the daemon starts with config/config.toml"
    return 0
  fi
  it_pass "$t the daemon starts with config/config.toml"
  if ! it_start_containerd "$v" "$snippet"; then
    it_fail "$t containerd starts, proxy plugin modelpack is ok and reachable"
    return 0
  fi
  it_pass "$t containerd starts, proxy plugin modelpack is ok and reachable"

  if [ "$v" = 1.6 ]; then
    it_expect_eq "$t CRI plugin loads" ok "$(plugin_status io.containerd.grpc.v1 cri)"
    it_check "$t CRI snapshotter is modelpack" \
      dump_has '^ +snapshotter = "modelpack"'
    it_check "$t CRI passes snapshot annotations" \
      dump_has '^ +disable_snapshot_annotations = false'
  else
    it_expect_eq "$t CRI images plugin loads" ok "$(plugin_status io.containerd.cri.v1 images)"
    it_expect_eq "$t CRI runtime plugin loads" ok "$(plugin_status io.containerd.cri.v1 runtime)"
    it_expect_eq "$t CRI gRPC plugin loads" ok "$(plugin_status io.containerd.grpc.v1 cri)"
    it_expect_eq "$t transfer plugin loads" ok "$(plugin_status io.containerd.transfer.v1 local)"
    it_check "$t CRI image and runtime snapshotter are modelpack" \
      test "$(grep -c "^ *snapshotter = 'modelpack'" <<<"$(config_dump)")" -ge 2
    out=$($CTR plugins ls --detailed id==modelpack 2>&1)
    it_check "$t capabilities reach the plugin (rebase)" \
      grep -Eq '^Capabilities:[[:space:]]+rebase$' <<<"$out"
    it_check "$t exports reach the plugin (root)" \
      grep -Eq "^[[:space:]]+root[[:space:]]+$MP_ROOT\$" <<<"$out"
    if $CTR image pull --plain-http --snapshotter modelpack "$image" >"$IT_DIR/pull.out" 2>&1 \
      && has_committed modelpack; then
      it_pass "$t unpack_config: pull unpacks into modelpack"
    else
      it_fail "$t unpack_config: pull unpacks into modelpack: $(tail -n 3 "$IT_DIR/pull.out")"
    fi
    if $CTR image pull --plain-http "$image" >"$IT_DIR/pull.out" 2>&1 \
      && has_committed overlayfs; then
      it_pass "$t unpack_config: default pull still unpacks into overlayfs"
    else
      it_fail "$t unpack_config: default pull still unpacks into overlayfs: $(tail -n 3 "$IT_DIR/pull.out")"
    fi
  fi
}

for v in $versions; do
  case $v in
    1.6) snippets="$cfg/containerd-1.6.toml $cfg/containerd-1.7.toml" ;;
    *) snippets="$cfg/containerd-2.x.toml" ;;
  esac
  for snippet in $snippets; do
    check_snippet "$v" "$snippet"
    it_stop_containerd
    it_stop_snapshotter || it_fail "[$v] snapshotter exits 0 on SIGTERM"
    it_reset_state
  done
done

it_done
