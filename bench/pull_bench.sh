#!/bin/bash
# Pull benchmark (docs/benchmarks.md, "Model pull"): a >= 2 GiB ModelPack
# model from Debian's docker-registry on loopback, in one run:
#
#   ours     modelpack pull REF into an empty store (every blob verified as
#            it streams, fdatasync'ed before it is renamed into place; blobs
#            over 128 MiB as 32 MiB ranges, written with O_DIRECT)
#   oras     oras pull --plain-http REF -o DIR (an empty directory)
#   skopeo   skopeo copy docker://REF oci:DIR:x (an empty layout)
#   disk     dd of the same number of bytes with conv=fdatasync: what the
#            disk can write
#
# oras and skopeo do not sync what they write; each is also timed with a
# `sync -f` after it, so durability is compared like for like.  Before every
# timed step dirty pages are written back and the page cache dropped, so the
# registry reads its blobs from disk for every case.  Cases alternate,
# rotating from round to round; medians of BENCH_RUNS rounds.
#
# Environment: BENCH_RUNS (3), BENCH_WEIGHT_MB (520: 4 weight files),
# BENCH_OUT (bench/results/pull-latest.md), IT_KEEP=1.
. "$(dirname "$0")/../integration/lib.sh"

RUNS=${BENCH_RUNS:-3}
WEIGHT_MB=${BENCH_WEIGHT_MB:-520}
OUT=${BENCH_OUT:-$IT_REPO/bench/results/pull-latest.md}
MP=$IT_BUILD/bin/modelpack
ORAS=$IT_UNSTABLE_BIN/oras

it_setup pull_bench
[ -x "$MP" ] || { it_fail "build/bin/modelpack is built (make)"; it_done; }
it_start_registry || { it_fail "docker-registry starts"; it_done; }
W=$IT_DIR/w
T=$IT_DIR/times
mkdir -p "$W" "$T" "$IT_DIR/src"

it_log "generating 4 x $WEIGHT_MB MiB of weights"
for i in 1 2 3 4; do
  head -c $((WEIGHT_MB * 1048576)) /dev/zero \
    | openssl enc -aes-128-ctr -nosalt -K "0000000000000000000000000000000$i" -iv 0 \
      > "$IT_DIR/src/model-0000$i-of-00004.safetensors"
done
echo '{"model_type": "bench"}' > "$IT_DIR/src/config.json"
REF=$REGISTRY/bench/model:1
"$MP" --store "$IT_DIR/s0" -q pack --src "$IT_DIR/src" --tag "$REF" --push > /dev/null
BYTES=$(du -cb "$IT_DIR"/src/* | tail -n 1 | cut -f1)
it_log "pushed $REF ($BYTES bytes)"

now() { date +%s.%N; }
cold() {
  sync
  echo 3 > /proc/sys/vm/drop_caches
}
# timed NAME CMD...: cold, run, record seconds in $T/NAME.
timed() {
  local name=$1 t0 t1
  shift
  cold
  t0=$(now)
  "$@" > /dev/null 2>> "$IT_DIR/cases.log"
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> "$T/$name"
}
synced() { "$@" && sync -f "$W"; }

case_ours() { timed ours "$MP" --store "$W/ours" -q pull "$REF"; rm -rf "$W/ours"; }
case_oras() {
  timed oras "$ORAS" pull --plain-http "$REF" -o "$W/oras"
  rm -rf "$W/oras"
  timed oras_sync synced "$ORAS" pull --plain-http "$REF" -o "$W/oras"
  rm -rf "$W/oras"
}
case_skopeo() {
  timed skopeo skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$W/sk:x"
  rm -rf "$W/sk"
  timed skopeo_sync synced skopeo copy -q --src-tls-verify=false "docker://$REF" "oci:$W/sk:x"
  rm -rf "$W/sk"
}
case_disk() {
  timed disk dd if=/dev/zero of="$W/dd" bs=16M count=$((BYTES / 16777216 + 1)) conv=fdatasync status=none
  rm -f "$W/dd"
}

# Correctness first: ours pulls and extracts the very files.
"$MP" --store "$W/check" -q pull "$REF" > /dev/null
"$MP" --store "$W/check" -q extract "$REF" "$W/x"
if diff -q <(cd "$IT_DIR/src" && sha256sum -- * | sort) <(cd "$W/x" && sha256sum -- * | sort) > /dev/null; then
  it_pass "ours: the pulled model's files match"
else
  it_fail "ours: the pulled model's files match"
fi
rm -rf "$W/check" "$W/x"

cases=(ours oras skopeo disk)
for ((r = 0; r < RUNS; r++)); do
  it_log "round $((r + 1)) of $RUNS"
  for ((k = 0; k < ${#cases[@]}; k++)); do
    "case_${cases[(k + r) % ${#cases[@]}]}"
  done
done

med() { sort -n "$T/$1" | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] }'; }
mbs() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.0f", b / s / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
o=$(med ours) a=$(med oras) as=$(med oras_sync) s=$(med skopeo) ss=$(med skopeo_sync) d=$(med disk)
{
  echo "## Model pull: $(awk -v b="$BYTES" 'BEGIN { printf "%.2f GiB", b / 1073741824 }') from docker-registry on loopback"
  echo
  echo "Medians of $RUNS rounds, page cache dropped before every case. $(date -u '+%Y-%m-%d %H:%M UTC'),"
  echo "$(git -C "$IT_REPO" rev-parse --short HEAD), $(nproc) CPUs, oras $("$ORAS" version 2>/dev/null | awk '/^Version/ {print $2}'), skopeo $(skopeo --version | awk '{print $3}')."
  echo
  echo "| case | time | MiB/s | ours / it |"
  echo "|---|---|---|---|"
  echo "| ours: modelpack pull (verified, fdatasync'ed) | $o s | $(mbs "$o") | 1.00 |"
  echo "| oras pull | $a s | $(mbs "$a") | $(ratio "$o" "$a") |"
  echo "| oras pull + sync -f | $as s | $(mbs "$as") | $(ratio "$o" "$as") |"
  echo "| skopeo copy to oci: | $s s | $(mbs "$s") | $(ratio "$o" "$s") |"
  echo "| skopeo copy + sync -f | $ss s | $(mbs "$ss") | $(ratio "$o" "$ss") |"
  echo "| disk: dd conv=fdatasync | $d s | $(mbs "$d") | $(ratio "$o" "$d") |"
  echo
  echo "Ours reaches $(awk -v o="$o" -v d="$d" 'BEGIN { printf "%.0f", d / o * 100 }') % of the disk's write speed (target: >= 80 %, and faster than both peers)."
  echo
  echo "Every round (s):"
  echo
  echo '```'
  for f in ours oras oras_sync skopeo skopeo_sync disk; do
    printf '%-12s %s\n' "$f" "$(tr '\n' ' ' < "$T/$f")"
  done
  echo '```'
} > "$OUT"
cat "$OUT"
it_done
