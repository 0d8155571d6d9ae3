#!/bin/bash
# Model image volume benchmark (docs/benchmarks.md, "Model image volumes"):
# time from Prepare to mount-ready of a >= 2 GiB ModelPack model packed as
# raw layers, one tar layer and one tar+zstd layer, in one run against
#
#   the physical baseline on the same filesystem, from the very blobs in
#   containerd's content store:
#     raw       cp of every raw blob (cp reflinks on a reflink filesystem,
#               coreutils >= 9), and cp --reflink=never
#     tar       tar -xf
#     tar+zstd  zstd -dc | tar -x
#   each also followed by `sync -f` (our snapshotter syncs what it unpacks
#   before making it visible: the price of durability, shown apart);
#
#   the same files as an ordinary image (one OCI layer, the very same tar
#   and tar+zstd blobs) unpacked by containerd 2.x into its built-in
#   overlayfs snapshotter: `ctr images mount --snapshotter overlayfs`, which
#   is Unpack (content already local: no registry) + View + mount, timed
#   around the ctr process; its fixed cost is shown by the same command on
#   an image already unpacked ("ctr overhead").
#
# Ours: build/bin/model_volume_prep connects to containerd, then times the
# Snapshots API Prepare of an image-volume key
# (bench/image-volumes/<id>/<manifest hex>, the key pattern containerd 2.1's
# CRI uses: no parent) — when the snapshotter reads the manifest from
# containerd's content store, unpacks, verifies and merges the model — plus
# mounting the overlay it returns.  The model cache is emptied between runs
# (snapshot removed, Cleanup with keep_unused_seconds = 0), so every run
# unpacks from scratch; a second volume of the same model (cache hit) is
# timed too.
#
# containerd's root and the snapshotter's root are on one filesystem: a
# loop-mounted XFS with reflink (mkfs.xfs -m reflink=1; the loop device in
# direct-I/O mode so the backing file is not cached twice), which is where
# raw layers are reflinked from the content store.  Before every timed step
# dirty pages are written back and the page cache is dropped (echo 3 >
# /proc/sys/vm/drop_caches), so every case starts cold; if that is not
# permitted the report says so.  Cases alternate within each run, the order
# rotating from run to run; medians of RUNS runs, ratios from this run only.
#
# The model: 4 weight files (bytes from an AES-128-CTR keystream with the top
# bit cleared, so zstd has something to do, roughly as with bf16 weights)
# and 8 small files (config, tokenizer, docs).  Needs root, containerd 2.x
# (make unstable), the build (make all) and about 3 x the model size free
# under BENCH_WORK's filesystem plus a sparse image file of BENCH_XFS_GB.
#
# Prints the table and writes it, with the machine description and every
# run's figures, to bench/results/model-volume-latest.md (BENCH_OUT).
#
# Environment:
#   BENCH_RUNS         runs (default 3)
#   BENCH_WEIGHT_MB    size of each of the 4 weight files, MiB (default 520:
#                      2080 MiB of weights, 2.03 GiB with the small files)
#   BENCH_XFS_GB       size of the XFS image (default 20)
#   BENCH_WORK         where the image file, layouts and registry go
#                      (default a new directory under /var/tmp)
#   BENCH_OUT          report file
#   IT_KEEP=1          keep everything (logs) after the run
# shellcheck disable=SC2317 # helpers run through run_case, base and ms_of
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=volume_lib.sh
. "$(dirname "$0")/volume_lib.sh"

RUNS=${BENCH_RUNS:-3}
WEIGHT_MB=${BENCH_WEIGHT_MB:-520}
XFS_GB=${BENCH_XFS_GB:-20}
OUT=${BENCH_OUT:-$IT_REPO/bench/results/model-volume-latest.md}
PREP=$IT_BUILD/bin/model_volume_prep
MTIME=2025-01-02T03:04:05Z
export LC_ALL=C

# ---- tools ------------------------------------------------------------------

if ! command -v mkfs.xfs >/dev/null; then
  echo "bench: installing xfsprogs (mkfs.xfs)" >&2
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends xfsprogs) > /tmp/model_volume_bench.apt.log 2>&1 \
    || { cat /tmp/model_volume_bench.apt.log >&2; exit 1; }
fi
ORAS=$IT_UNSTABLE_BIN/oras
vb_tools jq zstd openssl losetup "$IT_UNSTABLE_BIN/ctr" "$ORAS"
vb_build_prep

# ---- cleanup ----------------------------------------------------------------

WORK=${BENCH_WORK:-$(mktemp -d /var/tmp/mvbench.XXXXXX)}
mkdir -p "$WORK"
LOOPDEV=""
eval "bench_orig_$(declare -f it_cleanup)"
# shellcheck disable=SC2317 # called by lib.sh's exit trap
it_cleanup() {
  bench_orig_it_cleanup
  if [ -n "$LOOPDEV" ]; then losetup -d "$LOOPDEV" 2>/dev/null || true; fi
  if [ "${IT_KEEP:-0}" = 1 ]; then
    it_log "kept $WORK"
  else
    rm -rf --one-file-system "$WORK"
  fi
}
it_setup model_volume_bench

# ---- the filesystem -----------------------------------------------------------

truncate -s "${XFS_GB}G" "$WORK/fs.img"
mkfs.xfs -q -f -m reflink=1 "$WORK/fs.img"
LOOPDEV=$(losetup -f --show --direct-io=on "$WORK/fs.img")
mount "$LOOPDEV" "$IT_DIR"
chmod 0711 "$IT_DIR"
echo probe > "$IT_DIR/reflink.a"
if cp --reflink=always "$IT_DIR/reflink.a" "$IT_DIR/reflink.b" 2>/dev/null; then
  it_log "XFS with reflink on $LOOPDEV (direct I/O) at $IT_DIR"
else
  it_fail "the XFS at $IT_DIR does not reflink"
  exit 1
fi
rm -f "$IT_DIR/reflink.a" "$IT_DIR/reflink.b"
# The registry's storage stays off the measured filesystem.
mkdir -p "$WORK/reg"
ln -s "$WORK/reg" "$IT_DIR/reg"

vb_drop_setup

# ---- the model ----------------------------------------------------------------

src=$WORK/src
it_log "generating the model: 4 x ${WEIGHT_MB} MiB of weights in $src"
vb_model "$src" "$WEIGHT_MB"

it_log "packing: tar, tar+zstd"
tar -C "$src" --sort=name --mtime="$MTIME" --owner=0 --group=0 --numeric-owner \
  --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -cf "$WORK/model.tar" "${FILES[@]}"
zstd -q -T0 -3 "$WORK/model.tar" -o "$WORK/model.tar.zst"
TAR_BYTES=$(stat -c %s "$WORK/model.tar")
ZST_BYTES=$(stat -c %s "$WORK/model.tar.zst")
TAR_DIGEST=$(sha "$WORK/model.tar")

# ---- OCI layouts (blobs hard-linked, not copied) --------------------------------

MCFG=application/vnd.cncf.model.config.v1+json
ART=application/vnd.cncf.model.manifest.v1+json
declare -A MAN

it_log "writing OCI layouts"
# raw: one layer per file (modctl's shape).
new_layout raw
layers=() diffs=()
for f in "${FILES[@]}"; do
  r=$(blob "$WORK/lay-raw" "$src/$f")
  meta=$(jq -cn --arg n "$f" --argjson s "${r#* }" --arg t "$MTIME" \
    '{name: $n, mode: 420, uid: 0, gid: 0, size: $s, mtime: $t, typeflag: 0}')
  layers+=("$(jq -cn --arg mt "application/vnd.cncf.model.$(kind_of "$f").v1.raw" \
    --arg d "${r% *}" --argjson s "${r#* }" --arg p "$f" --arg m "$meta" \
    '{mediaType: $mt, digest: $d, size: $s,
      annotations: {"org.cncf.model.file.metadata+json": $m,
                    "org.cncf.model.filepath": $p,
                    "org.opencontainers.image.title": $p}}')")
  diffs+=("${r% *}")
done
MAN[raw]=$(layout raw "$MCFG" "$(model_config raw "${diffs[@]}")" \
  "$(printf '%s\n' "${layers[@]}" | jq -cs .)" "$ART")

# tar, tar+zstd: one layer with every file; an ordinary image of each too.
for fmt in tar zst; do
  if [ "$fmt" = tar ]; then
    file=$WORK/model.tar mt=tar imt=application/vnd.oci.image.layer.v1.tar
  else
    file=$WORK/model.tar.zst mt=tar+zstd imt=application/vnd.oci.image.layer.v1.tar+zstd
  fi
  new_layout "$fmt"
  r=$(blob "$WORK/lay-$fmt" "$file")
  MAN[$fmt]=$(layout "$fmt" "$MCFG" "$(model_config "$fmt" "$TAR_DIGEST")" \
    "$(jq -cn --arg mt "application/vnd.cncf.model.weight.v1.$mt" \
      --arg d "${r% *}" --argjson s "${r#* }" '[{mediaType: $mt, digest: $d, size: $s}]')" \
    "$ART")
  new_layout "img-$fmt"
  r=$(blob "$WORK/lay-img-$fmt" "$file")
  jq -cn --arg d "$TAR_DIGEST" --arg t "$MTIME" \
    '{created: $t, architecture: "amd64", os: "linux", config: {},
      rootfs: {type: "layers", diff_ids: [$d]}}' > "$WORK/imgconfig.json"
  [ "$(uname -m)" = x86_64 ] || sed -i "s/\"amd64\"/\"$(it_platform | cut -d/ -f2)\"/" "$WORK/imgconfig.json"
  MAN[img-$fmt]=$(layout "img-$fmt" application/vnd.oci.image.config.v1+json \
    "$WORK/imgconfig.json" \
    "$(jq -cn --arg mt "$imt" --arg d "${r% *}" --argjson s "${r#* }" \
      '[{mediaType: $mt, digest: $d, size: $s}]')")
done

# ---- daemons ------------------------------------------------------------------

it_start_registry
for n in raw tar zst img-tar img-zst; do
  ref=$REGISTRY/bench/$n:1
  # oras copies every blob as it is (skopeo 1.9 would gzip the image's
  # uncompressed layer on the way to a registry).
  "$ORAS" cp --no-tty --from-oci-layout "$WORK/lay-$n:1" "$ref" --to-plain-http \
    > "$WORK/push.out" 2>&1 || { cat "$WORK/push.out"; it_fail "push $n"; exit 1; }
  got=sha256:$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/bench/$n/manifests/1" | sha256sum | cut -d' ' -f1)
  [ "$got" = "${MAN[$n]}" ] || { it_fail "$n: registry has $got, not ${MAN[$n]}"; exit 1; }
done
rm -rf "$src" "$WORK"/lay-* "$WORK/model.tar" "$WORK/model.tar.zst"

cat > "$WORK/snapshotter.toml" <<EOF
[image_volumes]
enabled = true
containerd_root = "$IT_DIR/c/root"
containerd_address = "$IT_DIR/c.sock"

[model_cache]
keep_unused_seconds = 0
keep_unused_bytes = 0
EOF
it_start_snapshotter --config "$WORK/snapshotter.toml" --log-level info
# The harness logs containerd at debug; measure it as deployed, at info.
eval "bench_orig_$(declare -f it_containerd_config)"
it_containerd_config() {
  bench_orig_it_containerd_config "$@"
  sed -i 's/^  level = "debug"$/  level = "info"/' "$2"
}
it_start_containerd 2

it_log "fetching into containerd's content store"
for n in raw tar zst img-tar img-zst; do
  $CTR content fetch --plain-http "$REGISTRY/bench/$n:1" > "$WORK/fetch.out" 2>&1 \
    || { cat "$WORK/fetch.out"; it_fail "fetch $n"; exit 1; }
done
it_stop_registry
rm -rf "${WORK:?}/reg"
imgs=$($CTR images ls -q)
for n in img-tar img-zst; do
  grep -qx "$REGISTRY/bench/$n:1" <<< "$imgs" \
    || { it_fail "content fetch made no image record for $n"; exit 1; }
done
BLOBS=$CTD_ROOT/io.containerd.content.v1.content/blobs/sha256
blobpath() { echo "$BLOBS/${1#sha256:}"; }
mapfile -t RAW_BLOBS < <(jq -r '.layers[].digest' "$(blobpath "${MAN[raw]}")" \
  | while read -r d; do blobpath "$d"; done)
TAR_BLOB=$(blobpath "$(jq -r '.layers[0].digest' "$(blobpath "${MAN[tar]}")")")
ZST_BLOB=$(blobpath "$(jq -r '.layers[0].digest' "$(blobpath "${MAN[zst]}")")")

# ---- cases --------------------------------------------------------------------

MNT=$IT_DIR/mnt
OUTD=$IT_DIR/out
mkdir -p "$MNT" "$OUTD"
T=$WORK/times
mkdir -p "$T"

# ours FMT RUN: a model image volume from nothing, then a second volume of
# the same model (cache hit).
ours() {
  local fmt=$1 r=$2 hex=${MAN[$1]#sha256:} k1 k2 line ms
  k1=bench/image-volumes/r$r-$fmt-a/$hex
  k2=bench/image-volumes/r$r-$fmt-b/$hex
  mkdir -p "$MNT/a" "$MNT/b"
  cold
  line=$($PREP --address "$CTD_SOCK" --snapshotter modelpack prepare "$k1" "$MNT/a") \
    || { it_fail "ours $fmt: prepare"; exit 1; }
  echo "${line##* }" >> "$T/ours_$fmt"
  echo "${line%% *}" >> "$T/ours_${fmt}_prepare"
  ms=$(grep -F "image volume " "$IT_DIR/snapshotter.log" | grep -F "r$r-$fmt-a/$hex" \
    | sed -n 's/.* ready in \([0-9.]*\) ms.*/\1/p' | tail -n 1)
  echo "${ms:-nan}" >> "$T/ours_${fmt}_server"
  line=$($PREP --address "$CTD_SOCK" --snapshotter modelpack prepare "$k2" "$MNT/b") \
    || { it_fail "ours $fmt: second prepare"; exit 1; }
  echo "${line##* }" >> "$T/ours_${fmt}_hit"
  if [ "$r" = 1 ]; then check_tree "$MNT/a" "ours $fmt"; fi
  umount "$MNT/a" "$MNT/b"
  $PREP --address "$CTD_SOCK" --snapshotter modelpack remove "$k1"
  $PREP --address "$CTD_SOCK" --snapshotter modelpack remove "$k2"
  gc_sync "$REGISTRY/bench/img-tar:1"
  $PREP --address "$MP_SOCK" --snapshotter "" cleanup
  it_wait_for 60 "model cache to empty" models_empty "$MP_ROOT" \
    || { it_fail "ours $fmt: the model cache did not empty"; exit 1; }
}

# base NAME SYNC CMD...: time CMD into an empty $OUTD (then `sync -f` when
# SYNC is 1).
base() {
  local name=$1 s=$2 t0 t1
  shift 2
  rm -rf "$OUTD"
  mkdir -p "$OUTD"
  cold
  t0=$(now)
  "$@"
  if [ "$s" = 1 ]; then sync -f "$OUTD"; fi
  t1=$(now)
  rec "$name" "$t0" "$t1"
}
cp_raw() {
  local b
  for b in "${RAW_BLOBS[@]}"; do cp "$@" "$b" "$OUTD/${b##*/}"; done
}
untar() { tar -xf "$TAR_BLOB" -C "$OUTD"; }
unzst() { zstd -dcq "$ZST_BLOB" | tar -x -C "$OUTD"; }

overlay_empty() {
  [ -z "$(ls -A "$CTD_ROOT/io.containerd.snapshotter.v1.overlayfs/snapshots" 2>/dev/null)" ]
}

# image FMT RUN: the ordinary image, unpacked by containerd into overlayfs.
image() {
  local fmt=$1 r=$2 ref=$REGISTRY/bench/img-$1:1 t0 t1
  mkdir -p "$MNT/i"
  cold
  t0=$(now)
  $CTR images mount --snapshotter overlayfs "$ref" "$MNT/i" > "$WORK/mount.out" 2>&1 \
    || { cat "$WORK/mount.out"; it_fail "image $fmt: ctr images mount"; exit 1; }
  t1=$(now)
  rec "img_$fmt" "$t0" "$t1"
  if [ "$r" = 1 ]; then check_tree "$MNT/i" "image $fmt (overlayfs)"; fi
  $CTR images unmount --rm --snapshotter overlayfs "$MNT/i" > /dev/null
  if [ "$fmt" = tar ]; then
    # Already unpacked: what remains is ctr, the lease, View and mount.
    cold
    t0=$(now)
    $CTR images mount --snapshotter overlayfs "$ref" "$MNT/i" > /dev/null
    t1=$(now)
    rec ctr_overhead "$t0" "$t1"
    $CTR images unmount --rm --snapshotter overlayfs "$MNT/i" > /dev/null
  fi
  # containerd's own gc may have taken the snapshot already (the lease is
  # gone): what counts is that none is left.
  $CTR snapshots --snapshotter overlayfs rm "$TAR_DIGEST" > /dev/null 2>&1 || true
  gc_sync "$REGISTRY/bench/img-tar:1"
  it_wait_for 60 "overlayfs snapshots to go" overlay_empty \
    || { it_fail "image $fmt: overlayfs snapshots left"; exit 1; }
}

run_case() {
  case $1 in
    ours_raw) ours raw "$2" ;;
    ours_tar) ours tar "$2" ;;
    ours_zst) ours zst "$2" ;;
    cp) base cp 0 cp_raw ;;
    cp_sync) base cp_sync 1 cp_raw ;;
    cp_copy) base cp_copy 0 cp_raw --reflink=never ;;
    tar) base tar 0 untar ;;
    tar_sync) base tar_sync 1 untar ;;
    zst) base zst 0 unzst ;;
    zst_sync) base zst_sync 1 unzst ;;
    img_tar) image tar "$2" ;;
    img_zst) image zst "$2" ;;
  esac
}

# Per format, ours and its baselines back to back; the order inside each
# group and of the groups rotates from run to run.
GROUPS_=("ours_raw cp cp_sync cp_copy" "ours_tar tar tar_sync img_tar"
  "ours_zst zst zst_sync img_zst")
for ((r = 1; r <= RUNS; r++)); do
  it_log "run $r of $RUNS"
  for ((g = 0; g < ${#GROUPS_[@]}; g++)); do
    read -r -a cs <<< "${GROUPS_[(g + r - 1) % ${#GROUPS_[@]}]}"
    n=${#cs[@]}
    for ((i = 0; i < n; i++)); do
      c=${cs[(i + r - 1) % n]}
      run_case "$c" "$r"
    done
  done
done

# ---- where the time goes ---------------------------------------------------------

# One more cold Prepare per format, watched: CPU time of the daemon (user,
# system) from /proc, syncfs and FICLONE from strace -T, CPU samples from
# perf; and the physical cost of the parts: reading and hashing the blobs,
# reflinking them, their extent counts.  BENCH_PROFILE=0 skips this.
PROF=$WORK/profile.txt
: > "$PROF"
ticks() { awk '{ print $14 " " $15 }' "/proc/$MP_PID/stat"; }
# ms_of CMD...: cold, time CMD, print ms.
ms_of() {
  local t0 t1
  cold
  t0=$(now)
  "$@" > /dev/null
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }'
}
extents() {
  local n=0 b
  for b in "$@"; do
    n=$((n + $(xfs_io -r -c fiemap "$b" | tail -n +2 | grep -vc hole)))
  done
  echo "$n"
}
profile_ours() {
  local fmt=$1 hex=${MAN[$1]#sha256:} k u0 s0 u1 s1 line hz
  hz=$(getconf CLK_TCK)
  mkdir -p "$MNT/p"
  # CPU time, no tracer attached.
  k=bench/image-volumes/p1-$fmt/$hex
  cold
  read -r u0 s0 < <(ticks)
  line=$($PREP --address "$CTD_SOCK" --snapshotter modelpack prepare "$k" "$MNT/p")
  read -r u1 s1 < <(ticks)
  umount "$MNT/p"
  $PREP --address "$CTD_SOCK" --snapshotter modelpack remove "$k"
  gc_sync "$REGISTRY/bench/img-tar:1"
  $PREP --address "$MP_SOCK" --snapshotter "" cleanup
  it_wait_for 60 "model cache to empty" models_empty "$MP_ROOT"
  echo "ours $fmt: wall ${line##* } ms; daemon CPU: user $(((u1 - u0) * 1000 / hz)) ms, system $(((s1 - s0) * 1000 / hz)) ms"
  # syncfs and FICLONE, under strace.
  k=bench/image-volumes/p2-$fmt/$hex
  cold
  strace -f -T -qq -e trace=syncfs,ioctl,copy_file_range -o "$WORK/strace.$fmt" -p "$MP_PID" &
  local st=$!
  sleep 1
  line=$($PREP --address "$CTD_SOCK" --snapshotter modelpack prepare "$k" "$MNT/p")
  kill -INT "$st"
  wait "$st" 2>/dev/null || true
  umount "$MNT/p"
  $PREP --address "$CTD_SOCK" --snapshotter modelpack remove "$k"
  gc_sync "$REGISTRY/bench/img-tar:1"
  $PREP --address "$MP_SOCK" --snapshotter "" cleanup
  it_wait_for 60 "model cache to empty" models_empty "$MP_ROOT"
  awk -v f="$fmt" -v w="${line##* }" '
    { pid = $1; d = substr($NF, 2, length($NF) - 2) }
    /unfinished/ { if (/syncfs/) pend[pid] = "s"; else if (/FICLONE/) pend[pid] = "c"; next }
    /resumed/ { k = pend[pid]; delete pend[pid]
                if (k == "s") { n++; t += d } else if (k == "c") { c++; ct += d }
                next }
    /syncfs\(/ { n++; t += d }
    /FICLONE/ { c++; ct += d }
    /copy_file_range\(/ { r++ }
    END { printf "ours %s under strace: wall %s ms; %d syncfs calls, %.0f ms; %d FICLONE, %.0f ms; %d copy_file_range\n", f, w, n, t * 1000, c, ct * 1000, r }' \
    "$WORK/strace.$fmt"
  # CPU samples.
  k=bench/image-volumes/p3-$fmt/$hex
  cold
  perf record -q -F 499 -g -p "$MP_PID" -o "$WORK/perf.$fmt" > /dev/null 2>&1 &
  local pf=$!
  sleep 1
  $PREP --address "$CTD_SOCK" --snapshotter modelpack prepare "$k" "$MNT/p" > /dev/null
  kill -INT "$pf"
  wait "$pf" 2>/dev/null || true
  umount "$MNT/p"
  $PREP --address "$CTD_SOCK" --snapshotter modelpack remove "$k"
  gc_sync "$REGISTRY/bench/img-tar:1"
  $PREP --address "$MP_SOCK" --snapshotter "" cleanup
  it_wait_for 60 "model cache to empty" models_empty "$MP_ROOT"
  echo "ours $fmt, perf: CPU samples by library (>= 1%), then the top kernel symbols:"
  perf report -i "$WORK/perf.$fmt" --stdio --no-children -g none --percent-limit 1 \
    --sort dso 2> /dev/null | grep '%' | grep -v '^#' | sed 's/^ */    /' | head -n 8
  perf report -i "$WORK/perf.$fmt" --stdio --no-children -g none --percent-limit 2 \
    --dsos '[kernel.kallsyms]' --sort sym 2> /dev/null | grep '%' | grep -v '^#' \
    | sed 's/^ */    /' | head -n 6
}
if [ "${BENCH_PROFILE:-1}" = 1 ]; then
  it_log "profiling"
  {
    echo "raw blobs: $(extents "${RAW_BLOBS[@]}") extents in ${#RAW_BLOBS[@]} files; tar blob: $(extents "$TAR_BLOB"); tar+zstd blob: $(extents "$ZST_BLOB")"
    echo "cold cat of the raw blobs: $(ms_of cat "${RAW_BLOBS[@]}") ms; of the tar: $(ms_of cat "$TAR_BLOB") ms; of the tar+zstd: $(ms_of cat "$ZST_BLOB") ms"
    echo "cold openssl dgst -sha256 of the raw blobs: $(ms_of openssl dgst -sha256 "${RAW_BLOBS[@]}") ms; warm: $(openssl dgst -sha256 "${RAW_BLOBS[@]}" > /dev/null; t0=$(now); openssl dgst -sha256 "${RAW_BLOBS[@]}" > /dev/null; t1=$(now); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms"
    rm -rf "$OUTD"; mkdir -p "$OUTD"
    echo "cold cp --reflink=always of the raw blobs: $(ms_of cp_raw --reflink=always) ms"
    rm -rf "$OUTD"; mkdir -p "$OUTD"
    echo "cold zstd -dc of the tar+zstd to /dev/null: $(ms_of zstd -dcq "$ZST_BLOB") ms"
    for fmt in raw tar zst; do profile_ours "$fmt"; done
  } > "$PROF" 2>&1
  cat "$PROF" >&2
fi

# ---- report -------------------------------------------------------------------

o_raw=$(med ours_raw) o_tar=$(med ours_tar) o_zst=$(med ours_zst)
b_cp=$(med cp) b_tar=$(med tar) b_zst=$(med zst)
i_tar=$(med img_tar) i_zst=$(med img_zst)
v_raw=$(verdict "$o_raw" 99.999)
v_tar=$(verdict "$o_tar" "$(awk -v b="$b_tar" 'BEGIN { print 1.2 * b }')")
v_zst=$(verdict "$o_zst" "$(awk -v b="$b_zst" 'BEGIN { print 1.2 * b }')")

report() {
  echo "## Model image volumes: Prepare to mount-ready"
  echo
  echo "Model: $(gib "$MODEL_BYTES") in ${#FILES[@]} files (4 weight files of $WEIGHT_MB MiB);"
  echo "tar layer $(gib "$TAR_BYTES"), tar+zstd layer $(gib "$ZST_BYTES") (zstd -3)."
  echo "Filesystem: XFS with reflink on a loop device (direct I/O), holding containerd's"
  echo "root and the snapshotter's root; page cache $([ "$DROP" = 1 ] && echo "dropped before every timed step" || echo "NOT dropped (not permitted)")."
  echo "Medians of $RUNS runs, cases alternating; ratio = ours / that column."
  echo
  echo "| format | ours: Prepare + mount | physical baseline | baseline + sync -f | ordinary image, containerd overlayfs | ours / baseline | ours / image | target | |"
  echo "|---|---|---|---|---|---|---|---|---|"
  echo "| raw ($((${#FILES[@]})) layers) | $(fmt_ms "$o_raw") | cp: $(fmt_ms "$b_cp") (reflink); --reflink=never: $(fmt_ms "$(med cp_copy)") | $(fmt_ms "$(med cp_sync)") | — | $(ratio "$o_raw" "$b_cp") | — | < 100 ms | $v_raw |"
  echo "| tar (1 layer) | $(fmt_ms "$o_tar") | tar -xf: $(fmt_ms "$b_tar") | $(fmt_ms "$(med tar_sync)") | $(fmt_ms "$i_tar") | $(ratio "$o_tar" "$b_tar") | $(ratio "$o_tar" "$i_tar") | ≤ 1.2 × tar -xf | $v_tar |"
  echo "| tar+zstd (1 layer) | $(fmt_ms "$o_zst") | zstd -dc \| tar -x: $(fmt_ms "$b_zst") | $(fmt_ms "$(med zst_sync)") | $(fmt_ms "$i_zst") | $(ratio "$o_zst" "$b_zst") | $(ratio "$o_zst" "$i_zst") | ≤ 1.2 × zstd -dc \| tar -x | $v_zst |"
  echo
  echo "Second volume of the same model (cache hit, Prepare + mount): raw $(fmt_ms "$(med ours_raw_hit)"),"
  echo "tar $(fmt_ms "$(med ours_tar_hit)"), tar+zstd $(fmt_ms "$(med ours_zst_hit)")."
  echo "Ours, Prepare alone as the client sees it / as the snapshotter logs it: raw"
  echo "$(fmt_ms "$(med ours_raw_prepare)") / $(fmt_ms "$(med ours_raw_server)"), tar $(fmt_ms "$(med ours_tar_prepare)") / $(fmt_ms "$(med ours_tar_server)"),"
  echo "tar+zstd $(fmt_ms "$(med ours_zst_prepare)") / $(fmt_ms "$(med ours_zst_server)")."
  echo "ctr images mount of the image already unpacked (ctr start-up, lease, View, mount:"
  echo "the fixed part of the image column): $(fmt_ms "$(med ctr_overhead)")."
  echo
  vb_machine "backing file on $(findmnt -no FSTYPE -T "$WORK")"
  echo
  if [ -s "$PROF" ]; then
    echo "Where the time goes (one more cold run of each, see the script):"
    echo
    echo '```'
    cat "$PROF"
    echo '```'
    echo
  fi
  echo "Every run (ms):"
  echo
  echo '```'
  for c in ours_raw ours_raw_prepare ours_raw_server ours_raw_hit cp cp_sync cp_copy \
    ours_tar ours_tar_prepare ours_tar_server ours_tar_hit tar tar_sync img_tar ctr_overhead \
    ours_zst ours_zst_prepare ours_zst_server ours_zst_hit zst zst_sync img_zst; do
    printf '%-18s %s\n' "$c" "$(tr '\n' ' ' < "$T/$c" 2>/dev/null)"
  done
  echo '```'
}
mkdir -p "$(dirname "$OUT")"
report > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
grep -E 'image volume|unpacked layer' "$IT_DIR/snapshotter.log" | tail -n 30 > "$WORK/ours.log" || true
it_done
