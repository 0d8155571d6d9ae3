#!/bin/bash
# Zero-copy model mounts benchmark (make bench-index, part of make bench;
# docs/benchmarks.md, "Zero-copy model mounts"): for models of several sizes
# (2 GiB and 16 GiB by default), each ONE plain tar layer in containerd's
# content store, in one run, with the page cache dropped before every timed
# step, the time to mount-ready and the extra disk of
#
#   ours, [model_cache] mount = "erofs" (an EROFS index over containerd's
#   blob, nothing copied), with verify_blobs = "ingest" (containerd's check
#   at download trusted: no hashing) and with the default "once" (the blob
#   hashed once per node; its memo removed before every run, so each run
#   pays that hash);
#   ours, mount = "extract" (the layer unpacked into the model cache), with
#   "once" and with "ingest";
#   `tar -xf` of the blob and `cp` of the blob (on the same filesystem);
#   the image-baked workaround: the same files as the one layer of an
#   ordinary image, unpacked by containerd into its overlayfs snapshotter
#   (`ctr images mount --snapshotter overlayfs`, as bench/model_volume_bench.sh);
#
# and, as references for the targets, reading the blob once (`cat`) and
# reading and hashing it once: `openssl dgst -sha256 BLOB` (which reads 8 KiB
# at a time) and build/bin/hashfile (bench/hashfile.c: 4 MiB reads and
# OpenSSL's SHA-256, as our daemon reads); the target is checked against
# the faster.
#
# Ours is build/bin/model_volume_prep: the Snapshots API Prepare of an
# image-volume key through containerd plus mounting what it returns (see
# bench/model_volume_prep.c), then, with the cache dropped again, a second
# volume of the same model (the second pod: a cache hit).  Each of the four
# configurations is its own daemon with its own root, all behind one private
# containerd 2.x as separate proxy snapshotters.  Between runs the snapshots
# are removed and Cleanup runs with keep_unused_seconds = 0; the script
# checks that this leaves no index, record or mount under models/.
# Extra disk: `du -x` of the daemon's models/ after the first volume minus
# before it (the mounted index is another filesystem: not counted twice);
# for the baselines, what they wrote; for the image, the overlayfs
# snapshots.  Cases alternate within a run, the order rotating from run to
# run; medians.  The copying cases (extract, tar, cp, image) run
# BENCH_COPY_RUNS times (default: every run for models under 8 GiB, once
# above: each writes the whole model).
#
# The model: 4 weight files (an AES-128-CTR keystream) and 8 small files,
# tarred deterministically and streamed into containerd's content store
# (ctr content ingest); an OCI archive of the ModelPack manifest and the
# image manifest over that one blob is imported with --no-unpack.  Needs
# root, Linux 6.12+ (file-backed EROFS mounts), containerd 2.x (make
# unstable), the build, and about 2.2 x the largest model free on the
# filesystem of /tmp and BENCH_WORK.
#
# Environment:
#   BENCH_WEIGHT_MB   MiB of each of the 4 weight files, one model per
#                     figure (default "520 4160": 2.03 GiB and 16.25 GiB
#                     models); e.g. "16 64" for a quick run
#   BENCH_RUNS        runs per model (default 3)
#   BENCH_COPY_RUNS   runs of the copying cases (default above)
#   BENCH_CHECK       1 (default): check the mounted files against the
#                     model in the first run (reads them all; above 8 GiB
#                     only erofs "ingest"'s)
#   BENCH_WORK        scratch directory (default a new one under /var/tmp)
#   BENCH_OUT         report (default bench/results/index-latest.md)
#   IT_KEEP=1         keep logs and state
# shellcheck disable=SC2317 # functions run through run_case and traps
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=volume_lib.sh
. "$(dirname "$0")/volume_lib.sh"

read -r -a WEIGHTS <<< "${BENCH_WEIGHT_MB:-520 4160}"
RUNS=${BENCH_RUNS:-3}
CHECK=${BENCH_CHECK:-1}
OUT=${BENCH_OUT:-$IT_REPO/bench/results/index-latest.md}
PREP=$IT_BUILD/bin/model_volume_prep
HASHFILE=$IT_BUILD/bin/hashfile
MTIME=2025-01-02T03:04:05Z
export LC_ALL=C

vb_tools jq openssl tar du findmnt "$IT_UNSTABLE_BIN/ctr" "$IT_UNSTABLE_BIN/containerd"
vb_build_prep "$HASHFILE"

# ---- scratch space and cleanup ---------------------------------------------------

WORK=${BENCH_WORK:-$(mktemp -d /var/tmp/idxbench.XXXXXX)}
mkdir -p "$WORK"
T=$WORK/times
mkdir -p "$T"
DAEMON_PIDS=()
eval "bench_orig_$(declare -f it_cleanup)"
it_cleanup() {
  local p
  for p in "${DAEMON_PIDS[@]}"; do
    [ "$p" = "${MP_PID:-}" ] || it_kill_wait "$p" 10
  done
  DAEMON_PIDS=()
  bench_orig_it_cleanup
  if [ "${IT_KEEP:-0}" = 1 ]; then
    it_log "kept $WORK"
  else
    rm -rf --one-file-system "$WORK"
  fi
}
it_setup index_bench

max_mb=0
for w in "${WEIGHTS[@]}"; do [ "$w" -gt "$max_mb" ] && max_mb=$w; done
need_kb=$((max_mb * 4 * 1024 * 22 / 10 + 2 * 1024 * 1024))
for d in "$IT_DIR" "$WORK"; do
  avail_kb=$(df -Pk "$d" | awk 'NR == 2 { print $4 }')
  if [ "$avail_kb" -lt "$need_kb" ]; then
    it_fail "$d: $((avail_kb / 1048576)) GiB free, the models need $((need_kb / 1048576)) GiB"
    exit 1
  fi
done
vb_drop_setup

# ---- daemons ----------------------------------------------------------------------

# One daemon per configuration: case name -> mount mode, verify_blobs and
# the proxy snapshotter's name in containerd (the first is the harness's
# "modelpack").
CASES_OURS=(ingest once xonce xingest)
declare -A MODE=([ingest]=erofs [once]=erofs [xonce]=extract [xingest]=extract)
declare -A VERIFY=([ingest]=ingest [once]=once [xonce]=once [xingest]=ingest)
declare -A SN=([ingest]=modelpack [once]=mp-once [xonce]=mp-xonce [xingest]=mp-xingest)
declare -A DSOCK DROOT

start_daemon() {
  local c=$1 dir=$IT_DIR/d-$1
  mkdir -p "$dir"
  DSOCK[$c]=$dir/s.sock
  DROOT[$c]=$dir/root
  cat > "$dir/config.toml" <<EOF
[image_volumes]
enabled = true
containerd_root = "$IT_DIR/c/root"
containerd_address = "$IT_DIR/c.sock"

[model_cache]
keep_unused_seconds = 0
keep_unused_bytes = 0
mount = "${MODE[$c]}"
verify_blobs = "${VERIFY[$c]}"
EOF
  "$MP_BIN" --root "${DROOT[$c]}" --address "${DSOCK[$c]}" --config "$dir/config.toml" \
    --log-level info >> "$IT_DIR/daemon-$c.log" 2>&1 &
  DAEMON_PIDS+=($!)
  it_wait_for 30 "the $c daemon" it_sock_accepts "${DSOCK[$c]}" \
    || { tail -n 20 "$IT_DIR/daemon-$c.log" >&2; return 1; }
}
for c in "${CASES_OURS[@]}"; do start_daemon "$c"; done
# The harness's snapshotter is the first daemon (it_stop_snapshotter stops
# it, it_start_containerd checks it).
MP_SOCK=${DSOCK[ingest]} MP_ROOT=${DROOT[ingest]} MP_PID=${DAEMON_PIDS[0]}
export MP_SOCK MP_ROOT MP_PID
# containerd at info (as deployed), with the other daemons as proxies.
eval "bench_orig_$(declare -f it_containerd_config)"
it_containerd_config() {
  local c
  bench_orig_it_containerd_config "$@"
  sed -i 's/^  level = "debug"$/  level = "info"/' "$2"
  for c in "${CASES_OURS[@]:1}"; do it_proxy_toml "${SN[$c]}" "${DSOCK[$c]}" >> "$2"; done
}
it_start_containerd 2
for c in "${CASES_OURS[@]:1}"; do
  if ! $CTR snapshots --snapshotter "${SN[$c]}" prepare it-probe > /dev/null; then
    it_fail "containerd cannot use ${SN[$c]}"
    exit 1
  fi
  $CTR snapshots --snapshotter "${SN[$c]}" rm it-probe > /dev/null
done
BLOBS=$CTD_ROOT/io.containerd.content.v1.content/blobs/sha256
OVL=$CTD_ROOT/io.containerd.snapshotter.v1.overlayfs

# ---- a model in containerd ---------------------------------------------------------

MCFG=application/vnd.cncf.model.config.v1+json
ART=application/vnd.cncf.model.manifest.v1+json

# setup_model MB: the model with 4 weight files of MB MiB, its tar streamed
# into containerd's content store (hashed on the way), the two manifests
# imported.  Sets TAR_DIGEST, BLOB, TAR_BYTES, MAN_HEX, IMG_REF, FILES,
# MODEL_BYTES.
setup_model() {
  local mb=$1 src=$WORK/src lay=$WORK/lay pid r man_model man_img imgs
  it_log "model $mb: generating 4 x $mb MiB of weights"
  rm -rf "$src" "$lay"
  vb_model "$src" "$mb" raw
  it_log "model $mb: tar into containerd's content store"
  rm -f "$WORK/tar.fifo"
  mkfifo "$WORK/tar.fifo"
  openssl dgst -sha256 -r < "$WORK/tar.fifo" > "$WORK/tar.sha256" &
  pid=$!
  tar -C "$src" --sort=name --mtime="$MTIME" --owner=0 --group=0 --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf - "${FILES[@]}" | tee "$WORK/tar.fifo" | $CTR content ingest "bench-tar-$mb"
  wait "$pid"
  TAR_DIGEST=sha256:$(cut -d' ' -f1 < "$WORK/tar.sha256")
  # Nothing refers to it until the import: keep containerd's collector off.
  $CTR content label "$TAR_DIGEST" containerd.io/gc.root=bench > /dev/null
  BLOB=$BLOBS/${TAR_DIGEST#sha256:}
  TAR_BYTES=$(stat -c %s "$BLOB")
  rm -rf "$src"

  # One archive: the ModelPack manifest and an ordinary image, both over the
  # blob already in the store (not in the archive).
  mkdir -p "$lay/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$lay/oci-layout"
  r=$(blob "$lay" "$(model_config "m$mb" "$TAR_DIGEST")")
  manifest "$MCFG" "$r" "$(jq -cn --arg d "$TAR_DIGEST" --argjson s "$TAR_BYTES" \
    '[{mediaType: "application/vnd.cncf.model.weight.v1.tar", digest: $d, size: $s}]')" \
    "$ART" > "$WORK/manifest-model.json"
  man_model=$(blob "$lay" "$WORK/manifest-model.json")
  jq -cn --arg d "$TAR_DIGEST" --arg t "$MTIME" --arg a "$(it_platform | cut -d/ -f2)" \
    '{created: $t, architecture: $a, os: "linux", config: {},
      rootfs: {type: "layers", diff_ids: [$d]}}' > "$WORK/imgconfig.json"
  r=$(blob "$lay" "$WORK/imgconfig.json")
  manifest application/vnd.oci.image.config.v1+json "$r" \
    "$(jq -cn --arg d "$TAR_DIGEST" --argjson s "$TAR_BYTES" \
      '[{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $d, size: $s}]')" \
    > "$WORK/manifest-img.json"
  man_img=$(blob "$lay" "$WORK/manifest-img.json")
  IMG_REF=bench/img-$mb:1
  jq -cn --arg m "${man_model% *}" --argjson ms "${man_model#* }" \
    --arg i "${man_img% *}" --argjson is "${man_img#* }" --arg mr "bench/model-$mb:1" \
    --arg ir "$IMG_REF" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
         annotations: {"org.opencontainers.image.ref.name": $mr}},
        {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $i, size: $is,
         annotations: {"org.opencontainers.image.ref.name": $ir}}]}' > "$lay/index.json"
  tar -C "$lay" -cf - . | $CTR images import --no-unpack --all-platforms - > "$WORK/import.out" 2>&1 \
    || { cat "$WORK/import.out"; it_fail "import the manifests"; exit 1; }
  MAN_HEX=${man_model%% *}
  MAN_HEX=${MAN_HEX#sha256:}
  imgs=$($CTR images ls -q)
  for r in "bench/model-$mb:1" "$IMG_REF"; do
    grep -qxF "$r" <<< "$imgs" || { cat "$WORK/import.out"; it_fail "no image record $r after import"; exit 1; }
  done
  rm -rf "$lay"
  it_log "model $mb: $(gib "$MODEL_BYTES") in ${#FILES[@]} files, tar blob $TAR_DIGEST"
}

# teardown_model MB: the images and the blob gone from containerd.
teardown_model() {
  local c
  $CTR images rm --sync "bench/model-$1:1" "$IMG_REF" > /dev/null
  $CTR content rm "$TAR_DIGEST" > /dev/null 2>&1 || true
  it_wait_for 60 "the blob to go" test ! -e "$BLOB" \
    || { it_fail "the blob is still in the content store"; exit 1; }
  for c in "${CASES_OURS[@]}"; do rm -f "${DROOT[$c]}/models/verified/"*; done
}

# ---- cases ----------------------------------------------------------------------------

MNT=$IT_DIR/mnt
OUTD=$WORK/out
mkdir -p "$MNT/a" "$MNT/b" "$MNT/c" "$MNT/i"
du_b() { du -x -s -B1 "$1" 2>/dev/null | cut -f1; }
CLEANUP_CHECKS=0
CLEANUP_FAILS=()

# mounts_under DIR: mount points at or below DIR.
mounts_under() {
  awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo
}

# ours C MB RUN: a first volume of the model from an empty cache, then a
# second one (cache hit), both cold; then back to an empty cache.
ours() {
  local c=$1 mb=$2 r=$3 sn=${SN[$1]} root=${DROOT[$1]} tag k1 k2 k3 line before after fs ms
  tag=m$mb-r$r-$c
  k1=bench/image-volumes/$tag-a/$MAN_HEX
  k2=bench/image-volumes/$tag-b/$MAN_HEX
  k3=bench/image-volumes/$tag-c/$MAN_HEX
  # A fresh memo: this run hashes the blob as a first use on the node does.
  rm -f "$root/models/verified/"*
  before=$(du_b "$root/models")
  cold
  line=$($PREP --address "$CTD_SOCK" --snapshotter "$sn" prepare "$k1" "$MNT/a") \
    || { it_fail "$c: prepare"; exit 1; }
  echo "${line##* }" >> "$T/$mb.$c"
  echo "${line%% *}" >> "$T/$mb.$c.prep"
  after=$(du_b "$root/models")
  echo $((after - before)) >> "$T/$mb.$c.disk"
  ms=$(grep -F "$tag-a/$MAN_HEX" "$IT_DIR/daemon-$c.log" \
    | sed -n 's/.* ready in \([0-9.]*\) ms.*/\1/p' | tail -n 1)
  echo "${ms:-nan}" >> "$T/$mb.$c.server"
  fs=$(findmnt -n -o FSTYPE --mountpoint "$root/models/trees/$MAN_HEX" || true)
  if [ "${MODE[$c]}" = erofs ] && [ "$fs" != erofs ]; then
    it_fail "$c: the model is not served from an EROFS mount (trees/$MAN_HEX: '${fs:-no mount}')"
    exit 1
  elif [ "${MODE[$c]}" = extract ] && [ -n "$fs" ]; then
    it_fail "$c: extract mode mounted trees/$MAN_HEX ($fs)"
    exit 1
  fi
  if [ "${VERIFY[$c]}" = once ] && [ -z "$(ls -A "$root/models/verified" 2>/dev/null)" ]; then
    it_fail "$c: no verdict recorded in models/verified: the blob was not hashed"
    exit 1
  fi
  cold
  line=$($PREP --address "$CTD_SOCK" --snapshotter "$sn" prepare "$k2" "$MNT/b") \
    || { it_fail "$c: second prepare"; exit 1; }
  echo "${line##* }" >> "$T/$mb.$c.hit"
  echo "${line%% *}" >> "$T/$mb.$c.hit.prep"
  line=$(grep -F "$tag-b/$MAN_HEX" "$IT_DIR/daemon-$c.log" | tail -n 1)
  case $line in
    *"tree reused"*) ;;
    *) it_fail "$c: the second volume was not a cache hit"; exit 1 ;;
  esac
  ms=$(sed -n 's/.* ready in \([0-9.]*\) ms.*/\1/p' <<< "$line")
  echo "${ms:-nan}" >> "$T/$mb.$c.hit.server"
  # The same once more straight on the daemon's socket: its share of a
  # second pod, without containerd's.
  cold
  line=$($PREP --address "${DSOCK[$c]}" --snapshotter "" prepare "$k3" "$MNT/c") \
    || { it_fail "$c: direct prepare"; exit 1; }
  echo "${line%% *}" >> "$T/$mb.$c.hit.direct"
  # Reading a 16 GiB model back takes a minute: above 8 GiB only the
  # index (the path that reads past 4 GiB offsets in one blob) is checked.
  if [ "$r" = 1 ] && [ "$CHECK" = 1 ] && [ "$c" != xingest ] \
    && { [ "$c" = ingest ] || [ "${MODEL_BYTES_OF[$mb]}" -lt $((8 << 30)) ]; }; then
    check_tree "$MNT/a" "model $mb, $c"
  fi
  umount "$MNT/a" "$MNT/b" "$MNT/c"
  $PREP --address "${DSOCK[$c]}" --snapshotter "" remove "$k3"
  $PREP --address "$CTD_SOCK" --snapshotter "$sn" remove "$k1"
  $PREP --address "$CTD_SOCK" --snapshotter "$sn" remove "$k2"
  gc_sync "$IMG_REF"
  $PREP --address "${DSOCK[$c]}" --snapshotter "" cleanup
  CLEANUP_CHECKS=$((CLEANUP_CHECKS + 1))
  if ! it_wait_for 120 "the $c model cache to empty" models_empty "$root"; then
    CLEANUP_FAILS+=("$c, model $mb, run $r: $(cd "$root/models" && find trees layers -mindepth 1 -maxdepth 1 | tr '\n' ' ')left")
    it_fail "$c: Cleanup left the model in the cache"
    exit 1
  fi
  if [ -n "$(mounts_under "$root/models")" ]; then
    CLEANUP_FAILS+=("$c, model $mb, run $r: still mounted: $(mounts_under "$root/models" | tr '\n' ' ')")
    it_fail "$c: Cleanup left a mount under models/"
    exit 1
  fi
}

# base NAME MB CMD...: time CMD, writing into an empty OUTD; record what
# it wrote; remove it.
base() {
  local name=$1 mb=$2 t0 t1
  shift 2
  rm -rf "$OUTD"
  mkdir -p "$OUTD"
  cold
  t0=$(now)
  "$@"
  t1=$(now)
  rec "$mb.$name" "$t0" "$t1"
  du_b "$OUTD" >> "$T/$mb.$name.disk"
  rm -rf "$OUTD"
}
untar() { tar -xf "$BLOB" -C "$OUTD"; }
copy() { cp "$BLOB" "$OUTD/blob"; }

# ref NAME MB CMD...: time CMD, which writes nothing.
ref() {
  local name=$1 mb=$2 t0 t1
  shift 2
  cold
  t0=$(now)
  "$@" > /dev/null
  t1=$(now)
  rec "$mb.$name" "$t0" "$t1"
}

overlay_empty() { [ -z "$(ls -A "$OVL/snapshots" 2>/dev/null)" ]; }

# image MB RUN: the ordinary image, unpacked by containerd into overlayfs.
image() {
  local mb=$1 r=$2 t0 t1 before
  before=$(du_b "$OVL")
  cold
  t0=$(now)
  $CTR images mount --snapshotter overlayfs "$IMG_REF" "$MNT/i" > "$WORK/mount.out" 2>&1 \
    || { cat "$WORK/mount.out"; it_fail "image: ctr images mount"; exit 1; }
  t1=$(now)
  rec "$mb.img" "$t0" "$t1"
  echo $(($(du_b "$OVL") - before)) >> "$T/$mb.img.disk"
  $CTR images unmount --rm --snapshotter overlayfs "$MNT/i" > /dev/null
  if [ "$r" = 1 ]; then
    # Already unpacked: what remains is ctr, the lease, View and mount.
    cold
    t0=$(now)
    $CTR images mount --snapshotter overlayfs "$IMG_REF" "$MNT/i" > /dev/null
    t1=$(now)
    rec "$mb.ctr_overhead" "$t0" "$t1"
    $CTR images unmount --rm --snapshotter overlayfs "$MNT/i" > /dev/null
  fi
  # containerd's own gc may have taken the snapshot already (the lease is
  # gone): what counts is that none is left.
  $CTR snapshots --snapshotter overlayfs rm "$TAR_DIGEST" > /dev/null 2>&1 || true
  gc_sync "$IMG_REF"
  it_wait_for 120 "overlayfs snapshots to go" overlay_empty \
    || { it_fail "image: overlayfs snapshots left"; exit 1; }
}

run_case() {
  local c=$1 mb=$2 r=$3
  case $c in
    ingest | once | xonce | xingest) ours "$c" "$mb" "$r" ;;
    read) ref read "$mb" cat "$BLOB" ;;
    hash) ref hash "$mb" openssl dgst -sha256 "$BLOB" ;;
    hashc) ref hashc "$mb" "$HASHFILE" "$BLOB" ;;
    tar) base tar "$mb" untar ;;
    cp) base cp "$mb" copy ;;
    img) image "$mb" "$r" ;;
  esac
}

# ---- run ----------------------------------------------------------------------------------

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
LIGHT=(ingest once hash read hashc)
HEAVY=(xonce xingest tar cp img)
declare -A MODEL_BYTES_OF TAR_BYTES_OF COPY_RUNS_OF
for mb in "${WEIGHTS[@]}"; do
  setup_model "$mb"
  MODEL_BYTES_OF[$mb]=$MODEL_BYTES
  TAR_BYTES_OF[$mb]=$TAR_BYTES
  if [ -n "${BENCH_COPY_RUNS:-}" ]; then
    copy_runs=$BENCH_COPY_RUNS
  elif [ "$MODEL_BYTES" -lt $((8 << 30)) ]; then
    copy_runs=$RUNS
  else
    copy_runs=1
  fi
  COPY_RUNS_OF[$mb]=$copy_runs
  for ((r = 1; r <= RUNS; r++)); do
    cs=("${LIGHT[@]}")
    if [ "$r" -le "$copy_runs" ]; then cs+=("${HEAVY[@]}"); fi
    n=${#cs[@]}
    order=()
    for ((i = 0; i < n; i++)); do order+=("${cs[(i + r - 1) % n]}"); done
    it_log "model $mb, run $r of $RUNS: ${order[*]}"
    for c in "${order[@]}"; do run_case "$c" "$mb" "$r"; done
  done
  teardown_model "$mb"
done
t_total=$(($(date +%s) - t_start))

# ---- report ---------------------------------------------------------------------------------

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || a == "") print "n/a"; else if (a / b < 0.0001) printf "%.4f %%", 100 * a / b; else printf "%.2f %%", 100 * a / b }'; }
# per_run_ratios MB A B C: A's figure / the smaller of B's and C's, each run.
per_run_ratios() {
  paste -d' ' "$T/$1.$2" "$T/$1.$3" "$T/$1.$4" \
    | awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 / ($2 < $3 ? $2 : $3) }'
}
# hash_ref MB: the faster median of the two ways to read and hash the blob.
hash_ref() {
  awk -v a="$(med "$1.hash")" -v b="$(med "$1.hashc")" 'BEGIN { print (a < b ? a : b) }'
}
first_of() { med "$1.$2"; }
disk_of() { med "$1.$2.disk"; }
row() {
  local mb=$1 c=$2 label=$3 hit=${4:-} d
  d=$(disk_of "$mb" "$c")
  echo "| $label | $(fmt_ms "$(first_of "$mb" "$c")") | ${hit:-—} | $(fmt_bytes "$d") | $(pct "$d" "${MODEL_BYTES_OF[$mb]}") |"
}

# shellcheck disable=SC2016 # the labels' backquotes are Markdown
report() {
  local mb model ing ing_disk once hash hit_i hit_o
  echo "## Zero-copy model mounts: mount-ready time and extra disk"
  echo
  echo "One plain tar layer per model (4 weight files, 8 small files) in a private containerd"
  echo "$($CTR version | awk '/Version:/ { v = $2 } END { print v }')'s content store on $(findmnt -no FSTYPE -T "$IT_DIR"); page cache $([ "$DROP" = 1 ] && echo "dropped before every timed step" || echo "NOT dropped (not permitted)")."
  echo "*First pod*: Prepare of an image-volume key + mounting what it returns, from an empty cache;"
  echo "*second pod*: another volume of the same model (cache hit), cache dropped first."
  echo "*Extra disk*: what the case wrote besides the blob containerd already holds (\`du -x\`)."
  echo "Medians of the runs (runs per model below); every figure in \"Every run\"."
  for mb in "${WEIGHTS[@]}"; do
    model=${MODEL_BYTES_OF[$mb]}
    echo
    echo "### $(gib "$model") model (4 weight files of $mb MiB; tar blob $(gib "${TAR_BYTES_OF[$mb]}"))"
    echo
    echo "Runs: $RUNS; the copying cases (extract, \`tar -xf\`, \`cp\`, image) in ${COPY_RUNS_OF[$mb]} of them."
    echo
    echo "| case | first pod: mount-ready | second pod | extra disk | extra / model |"
    echo "|---|---|---|---|---|"
    row "$mb" ingest 'ours, `mount = "erofs"`, `verify_blobs = "ingest"`' "$(fmt_ms "$(med "$mb.ingest.hit")")"
    row "$mb" once 'ours, `mount = "erofs"`, `verify_blobs = "once"` (default; fresh memo)' "$(fmt_ms "$(med "$mb.once.hit")")"
    row "$mb" xonce 'ours, `mount = "extract"`, `verify_blobs = "once"`' "$(fmt_ms "$(med "$mb.xonce.hit")")"
    row "$mb" xingest 'ours, `mount = "extract"`, `verify_blobs = "ingest"`' "$(fmt_ms "$(med "$mb.xingest.hit")")"
    row "$mb" tar '`tar -xf` of the blob'
    row "$mb" cp '`cp` of the blob'
    row "$mb" img 'image-baked: ordinary image, containerd overlayfs (`ctr images mount`)'
    echo "| reference: read the blob once (\`cat\`) | $(fmt_ms "$(med "$mb.read")") | — | — | — |"
    echo "| reference: read and hash the blob once (\`openssl dgst -sha256 BLOB\`) | $(fmt_ms "$(med "$mb.hash")") | — | — | — |"
    echo "| reference: read and hash the blob once (\`build/bin/hashfile\`: 4 MiB reads, OpenSSL SHA-256) | $(fmt_ms "$(med "$mb.hashc")") | — | — | — |"
    echo
    echo "Ours, Prepare as the daemon logs it (first pod): erofs ingest $(fmt_ms "$(med "$mb.ingest.server")"),"
    echo "erofs once $(fmt_ms "$(med "$mb.once.server")"), extract once $(fmt_ms "$(med "$mb.xonce.server")"), extract ingest $(fmt_ms "$(med "$mb.xingest.server")")."
    echo "Second pod, erofs \`ingest\` / \`once\`, medians: the Prepare call through containerd"
    echo "$(fmt_ms "$(med "$mb.ingest.hit.prep")") / $(fmt_ms "$(med "$mb.once.hit.prep")") (the rest is mounting the overlay); the same call straight on the daemon's"
    echo "socket (cold too) $(fmt_ms "$(med "$mb.ingest.hit.direct")") / $(fmt_ms "$(med "$mb.once.hit.direct")"), of which its image-volume step as it logs it (model"
    echo "lookup, in-use record written with fdatasync) $(fmt_ms "$(med "$mb.ingest.hit.server")") / $(fmt_ms "$(med "$mb.once.hit.server")")."
    echo "\`ctr images mount\` of the image already unpacked (the fixed part of the image row): $(fmt_ms "$(med "$mb.ctr_overhead")")."
    echo "Per run, erofs once / the faster read and hash: $(per_run_ratios "$mb" once hash hashc)."
  done
  echo
  echo "### Targets (issue 10)"
  echo
  echo "| target | $(for mb in "${WEIGHTS[@]}"; do printf '%s | ' "$(gib "${MODEL_BYTES_OF[$mb]}")"; done)"
  echo "|---|$(for _ in "${WEIGHTS[@]}"; do printf -- '---|'; done)"
  line="| \`ingest\`: first pod mount-ready ≤ 100 ms |"
  for mb in "${WEIGHTS[@]}"; do
    ing=$(med "$mb.ingest")
    line+=" $(fmt_ms "$ing"): $(verdict "$ing" 100) |"
  done
  echo "$line"
  line="| \`ingest\`: extra disk ≤ 1 % of the model |"
  for mb in "${WEIGHTS[@]}"; do
    ing_disk=$(med "$mb.ingest.disk")
    line+=" $(fmt_bytes "$ing_disk") ($(pct "$ing_disk" "${MODEL_BYTES_OF[$mb]}")): $(verdict "$ing_disk" "$(awk -v b="${MODEL_BYTES_OF[$mb]}" 'BEGIN { print b / 100 }')") |"
  done
  echo "$line"
  line="| \`once\` (default): first pod ≤ 1.1 × reading and hashing the blob once (the faster reference) |"
  for mb in "${WEIGHTS[@]}"; do
    once=$(med "$mb.once") hash=$(hash_ref "$mb")
    line+=" $(ratio "$once" "$hash") × ($(fmt_ms "$once") / $(fmt_ms "$hash")): $(verdict "$(ratio "$once" "$hash")" 1.1) |"
  done
  echo "$line"
  line="| second pod ≤ 20 ms (erofs: \`ingest\` / \`once\`) |"
  for mb in "${WEIGHTS[@]}"; do
    hit_i=$(med "$mb.ingest.hit") hit_o=$(med "$mb.once.hit")
    line+=" $(fmt_ms "$hit_i") / $(fmt_ms "$hit_o"): $(verdict "$(awk -v a="$hit_i" -v b="$hit_o" 'BEGIN { print (a > b ? a : b) }')" 20) |"
  done
  echo "$line"
  echo
  if [ ${#CLEANUP_FAILS[@]} = 0 ]; then
    echo "Emptying the cache between runs (snapshots removed, Cleanup with \`keep_unused_seconds = 0\`)"
    echo "left no index, record, layer or mount under \`models/\` in any of the $CLEANUP_CHECKS times it was checked."
  else
    echo "Emptying the cache between runs left something behind: ${CLEANUP_FAILS[*]}."
  fi
  echo
  vb_machine "containerd's and the daemons' roots on $(findmnt -no FSTYPE,SOURCE -T "$IT_DIR" | tr -s ' ')"
  echo "Load average (1/5/15 min) $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
  echo "the whole run took $((t_total / 60)) min $((t_total % 60)) s."
  echo
  echo "Every run (ms; *.disk: bytes; *.hit: the second pod; *.prep: the Prepare call alone, through"
  echo "containerd; *.server: the daemon's image-volume step as it logs it; *.hit.direct: a second pod's"
  echo "Prepare straight on the daemon's socket):"
  echo
  echo '```'
  for mb in "${WEIGHTS[@]}"; do
    for c in ingest ingest.prep ingest.server ingest.disk ingest.hit ingest.hit.prep \
      ingest.hit.server ingest.hit.direct once once.prep once.server once.disk once.hit \
      once.hit.prep once.hit.server once.hit.direct xonce xonce.server xonce.disk xonce.hit xingest xingest.server \
      xingest.disk xingest.hit tar tar.disk cp cp.disk \
      img img.disk ctr_overhead read hash hashc; do
      printf '%-24s %s\n' "$mb.$c" "$(tr '\n' ' ' < "$T/$mb.$c" 2>/dev/null)"
    done
  done
  echo '```'
}
mkdir -p "$(dirname "$OUT")"
report > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
it_pass "benchmark ran"
it_done
