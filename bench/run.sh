#!/bin/bash
# Snapshotter benchmark (make bench; docs/benchmarks.md): our snapshotter
# against containerd's built-in overlayfs and the two proxy snapshotters
# Debian unstable ships, soci-snapshotter-grpc and containerd-nydus-grpc,
# all behind one private containerd 2.x, in one run:
#
#  1. per-operation latency through containerd's Snapshots API
#     (build/bin/snapbench: Prepare, Mounts, Stat, Commit, View, Remove;
#     snapshotters interleaved round-robin), medians and ratios;
#  2. image pull of a multi-layer image from a local registry with
#     `ctr image pull --snapshotter X`, snapshotters alternating, ROUNDS
#     rounds:
#       pull+unpack  image removed and garbage-collected first (ctr image rm
#                    --sync), so content is fetched and every layer unpacked;
#       unpack       content kept, only X's snapshots removed, so the same
#                    pull only unpacks (ctr 2.1 has no `image unpack`).
#
# Prints the tables and writes them, with the machine description, to
# bench/results/latest.md (BENCH_OUT).  Everything runs on loopback and
# under a temp directory in a private mount namespace (integration/lib.sh);
# the peers get private roots, sockets and configs and never see the host's
# /var/lib or /run.
#
# Environment:
#   BENCH_ITERATIONS  snapbench iterations per snapshotter (default 500)
#   BENCH_WARMUP      snapbench warm-up iterations (default 20)
#   BENCH_ROUNDS      pull rounds (default 7)
#   BENCH_LAYERS      image layers (default 5)
#   BENCH_IMAGE_MB    image size before compression, MiB (default 320)
#   BENCH_SNAPSHOTTERS  default "overlayfs modelpack soci nydus"
#   BENCH_NULL      1 (default): also measure bench/nullsnap, a proxy that
#                   does no work, through containerd (the floor of any proxy)
#   BENCH_OUT         report file (default bench/results/latest.md)
#   IT_KEEP=1 keeps the temp directory (logs, snapbench.json, times).
# make bench runs it with sh.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

ITERATIONS=${BENCH_ITERATIONS:-500}
WARMUP=${BENCH_WARMUP:-20}
ROUNDS=${BENCH_ROUNDS:-7}
LAYERS=${BENCH_LAYERS:-5}
IMAGE_MB=${BENCH_IMAGE_MB:-320}
read -r -a SNS <<< "${BENCH_SNAPSHOTTERS:-overlayfs modelpack soci nydus}"
OUT=${BENCH_OUT:-$IT_REPO/bench/results/latest.md}
SNAPBENCH=$IT_BUILD/bin/snapbench
SOCI_BIN=$IT_UNSTABLE_BIN/soci-snapshotter-grpc
NYDUS_BIN=$IT_UNSTABLE_BIN/containerd-nydus-grpc

for f in "$SNAPBENCH" "$SOCI_BIN" "$NYDUS_BIN"; do
  if [ ! -x "$f" ]; then
    echo "bench: $f is missing (make all unstable)" >&2
    exit 1
  fi
done
has_sn() {
  local s
  for s in "${SNS[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

# The harness runs containerd at debug level, which logs every snapshot
# call; the benchmark measures it as deployed, at info.
eval "bench_orig_$(declare -f it_containerd_config)"
it_containerd_config() {
  bench_orig_it_containerd_config "$@"
  sed -i 's/^  level = "debug"$/  level = "info"/' "$2"
}
# The peers and the direct instances are ours to stop, before the harness
# unmounts and deletes.
BENCH_PIDS=()
eval "bench_orig_$(declare -f it_cleanup)"
# shellcheck disable=SC2317 # called by lib.sh's exit trap
it_cleanup() {
  local p
  for p in "${BENCH_PIDS[@]}"; do it_kill_wait "$p" 10; done
  BENCH_PIDS=()
  bench_orig_it_cleanup
}

# bench_start NAME SOCKET CMD...: start a daemon logging to IT_DIR/NAME.log
# and wait until SOCKET accepts connections.
bench_start() {
  local name=$1 sock=$2
  shift 2
  "$@" >> "$IT_DIR/$name.log" 2>&1 &
  BENCH_PIDS+=($!)
  it_wait_for 30 "$name on $sock" it_sock_accepts "$sock" \
    || { tail -n 20 "$IT_DIR/$name.log" >&2; return 1; }
}

# ---- the image ---------------------------------------------------------

# build_image DIR: an OCI layout, tag "1", of LAYERS tar+gzip layers of
# IMAGE_MB MiB in all.  Each layer holds what real layers hold: two large
# binaries (random: incompressible; 35% each), a text file (base64: packs
# like text; 15%) and 1000 small text files in 10 directories (15%); each
# layer after the first also replaces a file of the one below.
build_image() {
  local out=$1 work n layer_kb big text_kb small_kb dir d top layers=() diff_ids=()
  work=$IT_DIR/imgwork
  mkdir -p "$out/blobs/sha256" "$work"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
  layer_kb=$((IMAGE_MB * 1024 / LAYERS))
  big=$((layer_kb * 35 / 100))
  text_kb=$((layer_kb * 15 * 3 / 400)) # base64 makes 4 of every 3 bytes
  small_kb=$((layer_kb * 15 / 100000))
  [ "$small_kb" -ge 1 ] || small_kb=1
  for ((n = 1; n <= LAYERS; n++)); do
    dir=$work/l$n
    mkdir -p "$dir/opt/l$n/bin" "$dir/usr/share/l$n"
    head -c "${big}K" /dev/urandom > "$dir/opt/l$n/bin/tool-a"
    head -c "${big}K" /dev/urandom > "$dir/opt/l$n/bin/tool-b"
    head -c "${text_kb}K" /dev/urandom | base64 > "$dir/opt/l$n/notes.txt"
    for ((d = 0; d < 10; d++)); do
      mkdir -p "$dir/usr/share/l$n/d$d"
      head -c "$((small_kb * 75))K" /dev/urandom | base64 -w 76 \
        | split -a 3 -d -b "$((small_kb * 1024))" - "$dir/usr/share/l$n/d$d/f"
    done
    if [ "$n" -gt 1 ]; then
      mkdir -p "$dir/opt/l$((n - 1))"
      echo "layer $n" > "$dir/opt/l$((n - 1))/notes.txt"
    fi
    find "$dir" -type d -exec chmod 0755 {} +
    find "$dir" -type f -exec chmod 0644 {} +
    mapfile -t top < <(find "$dir" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort)
    tar -C "$dir" --sort=name --mtime='2024-01-01 00:00:00Z' --owner=0 \
      --group=0 --numeric-owner --format=posix \
      --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
      -cf "$work/layer.tar" "${top[@]}"
    rm -rf "$dir"
    diff_ids+=("sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)")
    gzip -n -6 "$work/layer.tar"
    layers+=("$(put_blob "$out" "$work/layer.tar.gz" \
      application/vnd.oci.image.layer.v1.tar+gzip)")
  done
  jq -cn --arg arch "$(it_platform | cut -d/ -f2)" \
    --argjson diff_ids "$(printf '%s\n' "${diff_ids[@]}" | jq -R . | jq -cs .)" \
    '{created: "2024-01-01T00:00:00Z", architecture: $arch, os: "linux",
      config: {Env: ["PATH=/bin"]}, rootfs: {type: "layers", diff_ids: $diff_ids}}' \
    > "$work/config.json"
  local config manifest
  config=$(put_blob "$out" "$work/config.json" application/vnd.oci.image.config.v1+json)
  jq -cn --argjson config "$config" \
    --argjson layers "$(printf '%s\n' "${layers[@]}" | jq -cs .)" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: $config, layers: $layers}' > "$work/manifest.json"
  manifest=$(put_blob "$out" "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)
  jq -cn --argjson m "$manifest" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [$m + {annotations: {"org.opencontainers.image.ref.name": "1"}}]}' \
    > "$out/index.json"
  rm -rf "$work"
  printf '%s\n' "${diff_ids[@]}" > "$out/diff_ids"
}

# put_blob LAYOUT FILE MEDIATYPE: move FILE into the layout, print its
# descriptor.
put_blob() {
  local out=$1 f=$2 mt=$3 d size
  d=$(sha256sum "$f" | cut -d' ' -f1)
  size=$(stat -c %s "$f")
  mv "$f" "$out/blobs/sha256/$d"
  jq -cn --arg mt "$mt" --arg d "sha256:$d" --argjson s "$size" \
    '{mediaType: $mt, digest: $d, size: $s}'
}

# ---- the peers -----------------------------------------------------------

# soci-snapshotter-grpc 0.4.1 opens its content store at start-up: the
# default "soci" store is hard-wired to /var/lib/soci-snapshotter-grpc/content,
# the "containerd" store to /run/containerd/containerd.sock.  The latter is
# inside the harness's private tmpfs, so a link there to our containerd keeps
# it off the host.  Without SOCI index labels (a plain `ctr image pull`) it
# serves layers as an ordinary overlay snapshotter.
# start_soci NAME SOCKET
start_soci() {
  local d=$IT_DIR/$1 sock=$2
  if [ "${IT_IN_NS:-}" != 1 ] \
    || [ "$(findmnt -n -o FSTYPE -T /run/containerd)" != tmpfs ]; then
    it_log "soci needs the harness's private /run/containerd (IT_NO_UNSHARE unset)"
    return 1
  fi
  if [ ! -L /run/containerd/containerd.sock ]; then
    ln -s "$CTD_SOCK" /run/containerd/containerd.sock
  fi
  mkdir -p "$d"
  cat > "$d/config.toml" <<EOF
metrics_address = ""
no_prometheus = true
debug_address = ""
[content_store]
type = "containerd"
namespace = "default"
[background_fetch]
disable = true
EOF
  bench_start "$1" "$sock" "$SOCI_BIN" --config "$d/config.toml" \
    --root "$d/root" --address "$sock" --log-level info
}

# containerd-nydus-grpc 0.13.4 with fs_driver "nodev" and daemon_mode
# "none": no nydusd, no FUSE; plain OCI layers are unpacked by containerd
# into ordinary overlay snapshots.  System controller, metrics, cgroups and
# the cache manager are off; root and socket are private.
# start_nydus NAME SOCKET
start_nydus() {
  local d=$IT_DIR/$1 sock=$2
  mkdir -p "$d"
  cat > "$d/config.toml" <<EOF
version = 1
root = "$d/root"
address = "$sock"
daemon_mode = "none"
cleanup_on_close = false
[system]
enable = false
address = "$d/system.sock"
[daemon]
fs_driver = "nodev"
nydusd_config = "$d/nydusd-config.json"
nydusd_path = "$d/no-nydusd"
nydusimage_path = "$d/no-nydus-image"
[cgroup]
enable = false
[log]
log_to_stdout = true
level = "info"
dir = "$d/logs"
[metrics]
address = ""
[remote.mirrors_config]
dir = ""
[remote.auth]
enable_kubeconfig_keychain = false
enable_cri_keychain = false
[snapshot]
enable_nydus_overlayfs = false
enable_kata_volume = false
sync_remove = false
[cache_manager]
disable = true
cache_dir = "$d/cache"
[experimental]
enable_stargz = false
enable_referrer_detect = false
EOF
  bench_start "$1" "$sock" "$NYDUS_BIN" --config "$d/config.toml"
}

# ---- measurements --------------------------------------------------------

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

median_of() { sort -n | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# snaps_of SN: the snapshots SN holds in ctr's namespace.
snaps_of() { $CTR snapshots --snapshotter "$1" ls | awk 'NR > 1 { print $1 }'; }

# timed_pull SN FILE: pull the image into SN, append the wall time (ms) to
# FILE, and check that every layer is a committed snapshot of SN.
timed_pull() {
  local sn=$1 file=$2 t0 t1 c
  sync
  t0=$(now_us)
  $CTR image pull --plain-http --snapshotter "$sn" "$image" > "$IT_DIR/pull.out" 2>&1 \
    || { cat "$IT_DIR/pull.out" >&2; return 1; }
  t1=$(now_us)
  for c in "${chain[@]}"; do
    $CTR snapshots --snapshotter "$sn" info "$c" > /dev/null 2>&1 \
      || { it_log "pull into $sn left no snapshot $c"; return 1; }
  done
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", (b - a) / 1000 }' >> "$file"
}

# pull_round SN: one pull+unpack from nothing, then one unpack-only pull.
pull_round() {
  local sn=$1 i
  $CTR image rm --sync "$image" > /dev/null 2>&1 || true
  if [ -n "$($CTR content ls -q)" ] || [ -n "$(snaps_of "$sn")" ]; then
    it_log "garbage collection left content or $sn snapshots behind"
    return 1
  fi
  timed_pull "$sn" "$IT_DIR/times.pull.$sn"
  # Top first.  Once the top is gone nothing references the layers below,
  # so containerd's garbage collector may remove them before we do.
  for ((i = ${#chain[@]} - 1; i >= 0; i--)); do
    $CTR snapshots --snapshotter "$sn" rm "${chain[i]}" > /dev/null 2>&1 || true
  done
  gc_sync
  if [ -n "$(snaps_of "$sn")" ]; then
    it_log "$sn snapshots are still there after garbage collection"
    return 1
  fi
  timed_pull "$sn" "$IT_DIR/times.unpack.$sn"
}

# gc_sync: run containerd's garbage collector and wait until it is done,
# the backends' clean-up included.  ctr has no gc command, but deleting an
# image with --sync waits for a whole collection, and collections run one
# after the other.  Without this, the clean-up of the snapshots just removed
# (the backends delete their directories then) would overlap the next timed
# pull and hold its Prepare calls: containerd's metadata layer locks a
# snapshotter while it cleans it up.
gc_sync() {
  $CTR image tag --force "$image" "$image-gc" > /dev/null
  $CTR image rm --sync "$image-gc" > /dev/null
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# ---- run -----------------------------------------------------------------

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
it_setup bench
it_start_registry
it_log "building a $LAYERS-layer image of $IMAGE_MB MiB"
build_image "$IT_DIR/img"
image=$REGISTRY/bench/layers:1
skopeo copy --quiet --dest-tls-verify=false "oci:$IT_DIR/img:1" "docker://$image"
mapfile -t diff_ids < "$IT_DIR/img/diff_ids"
mapfile -t chain < <(it_chain_ids "${diff_ids[@]}")
image_gz_mb=$(du -sm "$IT_DIR/img/blobs" | cut -f1)
rm -rf "$IT_DIR/img"

it_start_snapshotter --log-level info
if has_sn soci; then SOCI_SOCK=$IT_DIR/soci.sock; export SOCI_SOCK; fi
if has_sn nydus; then NYDUS_SOCK=$IT_DIR/nydus.sock; export NYDUS_SOCK; fi
# The floor: bench/nullsnap, a proxy that does no work, through the same
# containerd (latency only; it cannot unpack an image).
if [ "${BENCH_NULL:-1}" = 1 ]; then
  NULL_SOCK=$IT_DIR/null.sock
  export NULL_SOCK
  mkdir -p "$IT_DIR/null-dir"
fi
it_start_containerd 2
if has_sn soci; then start_soci soci "$SOCI_SOCK"; fi
if has_sn nydus; then start_nydus nydus "$NYDUS_SOCK"; fi
if [ -n "${NULL_SOCK:-}" ]; then
  bench_start null "$NULL_SOCK" "$IT_BUILD/bin/nullsnap" "$NULL_SOCK" "$IT_DIR/null-dir"
fi

# Each proxy snapshotter also gets a second instance that containerd does
# not know, called straight on its socket: what the backend itself costs per
# call, the rest being containerd's.  (Not the same instance: containerd's
# garbage collector removes whatever a backend holds that containerd did not
# make.)  Both kinds run interleaved in one snapbench, so they share the
# machine's noise.
sn_args=()
for sn in "${SNS[@]}"; do sn_args+=(--snapshotter "$sn"); done
if [ -n "${NULL_SOCK:-}" ]; then sn_args+=(--snapshotter null); fi
direct=()
n_pids=${#BENCH_PIDS[@]}
if [ "${BENCH_DIRECT:-1}" = 1 ]; then
  for sn in "${SNS[@]}"; do
    sock=$IT_DIR/$sn-direct.sock
    case $sn in
      modelpack)
        bench_start modelpack-direct "$sock" "$MP_BIN" --root "$IT_DIR/s-direct" \
          --address "$sock" --log-level info
        ;;
      soci) start_soci soci-direct "$sock" ;;
      nydus) start_nydus nydus-direct "$sock" ;;
      *) continue ;;
    esac
    direct+=("$sn")
    sn_args+=(--snapshotter "$sn-direct=$sock")
  done
fi
it_log "latency: ${#SNS[@]} snapshotters through containerd${direct[*]:+ and ${#direct[@]} direct} x $ITERATIONS iterations"
"$SNAPBENCH" --address "$CTD_SOCK" "${sn_args[@]}" --baseline "${SNS[0]}" \
  --iterations "$ITERATIONS" --warmup "$WARMUP" --json > "$IT_DIR/snapbench.json"
for p in "${BENCH_PIDS[@]:$n_pids}"; do it_kill_wait "$p" 10; done
BENCH_PIDS=("${BENCH_PIDS[@]:0:$n_pids}")

it_log "pull: $ROUNDS rounds of ${SNS[*]}"
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < ${#SNS[@]}; k++)); do
    pull_round "${SNS[(k + r) % ${#SNS[@]}]}"
  done
done
$CTR image rm --sync "$image" > /dev/null 2>&1 || true

# ---- report --------------------------------------------------------------

base=${SNS[0]}
ops=(prepare commit view mounts stat remove)
declare -A limit=([prepare]=1.15 [commit]=1.15 [view]=1.15 [mounts]=1.3 [stat]=1.3 [remove]=1.3)
j=$IT_DIR/snapbench.json
med() { jq -r --arg s "$1" --arg o "$2" '.snapshotters[] | select(.name == $s) | .ops[$o].median' "$j"; }
p90() { jq -r --arg s "$1" --arg o "$2" '.snapshotters[] | select(.name == $s) | .ops[$o].p90' "$j"; }
r0() { printf '%.0f' "$1"; }

report() {
  local sn o m line verdict pm um pb ub met=0 total=0
  echo "## Snapshots API latency through containerd $($CTR version | awk '/Version:/ { v = $2 } END { print v }')"
  echo
  echo "Median (p90) µs per call, $ITERATIONS iterations per snapshotter after $WARMUP warm-up," \
    "snapshotters interleaved round-robin; ratio = median / median of $base."
  echo
  line="| op |"
  for sn in "${SNS[@]}"; do line+=" $sn |"; done
  for sn in "${SNS[@]:1}"; do line+=" $sn / $base |"; done
  echo "$line"
  echo "|$(printf ' --- |%.0s' $(seq $((2 * ${#SNS[@]}))))"
  for o in "${ops[@]}"; do
    line="| $o |"
    for sn in "${SNS[@]}"; do line+=" $(r0 "$(med "$sn" "$o")") ($(r0 "$(p90 "$sn" "$o")")) |"; done
    for sn in "${SNS[@]:1}"; do line+=" $(ratio "$(med "$sn" "$o")" "$(med "$base" "$o")") |"; done
    echo "$line"
  done
  if [ ${#direct[@]} -gt 0 ]; then
    echo
    echo "### Where a proxy call's time goes"
    echo
    echo "Same run, interleaved with the above: each proxy snapshotter's second instance called" \
      "straight on its socket by snapbench (grpc core, C), median µs.  *direct* is the" \
      "backend's own share of a call (transport included); *through − direct* is what the" \
      "call costs on containerd's side (its metadata store, its Go gRPC client, the hop), to" \
      "compare with $base's whole call."
    echo
    line="| op | $base |"
    for sn in "${direct[@]}"; do line+=" $sn direct | $sn through − direct |"; done
    echo "$line"
    echo "|$(printf ' --- |%.0s' $(seq $((2 + 2 * ${#direct[@]}))))"
    for o in "${ops[@]}"; do
      line="| $o | $(r0 "$(med "$base" "$o")") |"
      for sn in "${direct[@]}"; do
        m=$(med "$sn-direct" "$o")
        line+=" $(r0 "$m") | $(r0 "$(awk -v a="$(med "$sn" "$o")" -v b="$m" 'BEGIN { print a - b }')") |"
      done
      echo "$line"
    done
  fi
  if [ -n "${NULL_SOCK:-}" ]; then
    echo
    echo "### The floor: a proxy that does no work"
    echo
    echo "Same run, interleaved: *null* is bench/nullsnap, a proxy snapshotter on our gRPC" \
      "server that keeps its snapshots in a table in memory (no disk, no sync, no mount)," \
      "through the same containerd.  No proxy can answer a call through containerd faster;" \
      "*null / $base* is the lowest ratio any proxy can reach, and *modelpack − null* what our" \
      "snapshotter's own work adds above that floor."
    echo
    echo "| op | $base | null | null / $base | target | modelpack | modelpack − null |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    for o in "${ops[@]}"; do
      m=$(med null "$o")
      echo "| $o | $(r0 "$(med "$base" "$o")") | $(r0 "$m") | $(ratio "$m" "$(med "$base" "$o")") |" \
        "≤ ${limit[$o]} | $(r0 "$(med modelpack "$o")") |" \
        "$(r0 "$(awk -v a="$(med modelpack "$o")" -v b="$m" 'BEGIN { print a - b }')") |"
    done
  fi
  echo
  echo "Mounts returned (Prepare / View on a one-layer parent):" \
    "$(jq -r '[.snapshotters[] | "\(.name) \(.prepare_mount) / \(.view_mount)"] | join(", ")' "$j")."
  echo
  echo "## Image pull"
  echo
  echo "A $LAYERS-layer image, $IMAGE_MB MiB of files ($image_gz_mb MiB as tar+gzip blobs), from a" \
    "registry on loopback with \`ctr image pull --plain-http --snapshotter X\`; median of $ROUNDS" \
    "rounds, snapshotters alternating, ms wall time of the ctr command."
  echo
  echo "| snapshotter | pull+unpack ms | ratio | unpack only ms | ratio |"
  echo "| --- | --- | --- | --- | --- |"
  pb=$(median_of < "$IT_DIR/times.pull.$base")
  ub=$(median_of < "$IT_DIR/times.unpack.$base")
  for sn in "${SNS[@]}"; do
    pm=$(median_of < "$IT_DIR/times.pull.$sn")
    um=$(median_of < "$IT_DIR/times.unpack.$sn")
    echo "| $sn | $(r0 "$pm") | $(ratio "$pm" "$pb") | $(r0 "$um") | $(ratio "$um" "$ub") |"
  done
  echo
  echo "Every run (ms): $(for sn in "${SNS[@]}"; do
    printf '%s pull %s; unpack %s. ' "$sn" "$(paste -sd' ' "$IT_DIR/times.pull.$sn")" \
      "$(paste -sd' ' "$IT_DIR/times.unpack.$sn")"
  done)"
  if has_sn modelpack && [ "$base" = overlayfs ]; then
    echo
    echo "## Targets (modelpack vs overlayfs)"
    echo
    echo "| what | ratio | target | met |"
    echo "| --- | --- | --- | --- |"
    for o in "${ops[@]}"; do
      m=$(ratio "$(med modelpack "$o")" "$(med overlayfs "$o")")
      verdict=$(awk -v a="$m" -v b="${limit[$o]}" 'BEGIN { print (a <= b) ? "yes" : "no" }')
      total=$((total + 1))
      [ "$verdict" = yes ] && met=$((met + 1))
      echo "| $o | $m | ≤ ${limit[$o]} | $verdict |"
    done
    pm=$(median_of < "$IT_DIR/times.pull.modelpack")
    m=$(ratio "$pm" "$pb")
    verdict=$(awk -v a="$m" 'BEGIN { print (a <= 1.1) ? "yes" : "no" }')
    total=$((total + 1))
    [ "$verdict" = yes ] && met=$((met + 1))
    echo "| pull+unpack | $m | ≤ 1.1 | $verdict |"
    for sn in soci nydus; do
      has_sn "$sn" || continue
      local faster=0
      for o in "${ops[@]}"; do
        awk -v a="$(med modelpack "$o")" -v b="$(med "$sn" "$o")" 'BEGIN { exit !(a < b) }' \
          && faster=$((faster + 1))
      done
      echo "| faster than $sn (ops) | $faster of ${#ops[@]} | all | $([ "$faster" = ${#ops[@]} ] && echo yes || echo no) |"
    done
    echo
    echo "$met of $total ratio targets met."
  fi
}

# deb_version PACKAGE: the version of the Debian package fetched into the
# unstable cache (the binaries do not all know their own).
deb_version() {
  local f
  for f in "$IT_UNSTABLE_BIN"/../../../debs/"$1"_*.deb; do
    [ -e "$f" ] || continue
    f=${f##*/}
    f=${f#"$1"_}
    echo "${f%_*}"
    return
  done
  echo "?"
}

machine() {
  local fs
  fs=$(findmnt -n -o FSTYPE,SOURCE -T "$IT_DIR" | tr -s ' ')
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), modelpack-snapshotter $(git -C "$IT_REPO" describe --always --dirty 2>/dev/null || echo '?')"
  echo "- machine: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs," \
    "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)," \
    "state on $fs; load average (1/5/15 min) $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  echo "- containerd $(deb_version containerd) (Debian unstable: \`$($CTR version | awk '/Version:/ { v = $2 } END { print v }')\`)," \
    "soci-snapshotter-grpc $(deb_version soci-snapshotter), containerd-nydus-grpc" \
    "$(deb_version nydus-snapshotter), all at log level info"
}

{
  echo "# Benchmark results (bench/run.sh)"
  echo
  machine
  echo
  report
} > "$IT_DIR/report.md"
mkdir -p "$(dirname "$OUT")"
cp "$IT_DIR/report.md" "$OUT"
cat "$IT_DIR/report.md"
it_log "written to $OUT"
it_pass "benchmark ran"
it_done
