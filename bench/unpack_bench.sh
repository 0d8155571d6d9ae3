#!/bin/sh
# Layer unpack benchmark: our verified unpacker against the tools it
# replaces, on the same ~1 GiB tree (a few large random files, as model
# weights are, plus many small ones), in the same run:
#
#   tar -xf layer.tar              vs  unpack_bench tar       (+ sha256 check)
#   zstd -dc layer.tar.zst | tar -x vs  unpack_bench tar+zstd (+ blob digest
#                                                              and diffId)
#   cp blob (raw layer)            vs  unpack_bench raw
#
# Each case runs RUNS times (default 3), alternating, with the output
# removed and dirty pages written back (sync) before every run, so the
# write-back of one run does not land in the next one's time.  Source files
# stay in the page cache: dropping caches needs privileges a CI box may not
# give, and the same holds for both sides.  Prints medians and ratios
# (ours / theirs; the target is <= 1.2).
#
# Environment: BENCH_DIR (default a new directory under /var/tmp: on disk,
# not tmpfs), BENCH_MB (total size, default 1024), RUNS.
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
MB=${BENCH_MB:-1024}
dir=${BENCH_DIR:-$(mktemp -d /var/tmp/unpack_bench.XXXXXX)}
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT

# Built here with the Makefile's flags from only what it needs, so the
# benchmark does not depend on the rest of the tree building.
bin=$dir/unpack_bench
${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
  -D_GNU_SOURCE -I. $(pkg-config --cflags libarchive libcrypto) \
  bench/unpack_bench.c model/unpack.c util/error.c util/fsutil.c -o "$bin" \
  $(pkg-config --libs libarchive libcrypto) -lpthread

echo "generating ${MB} MiB of input in $dir"
src=$dir/src
mkdir -p "$src/model/weights" "$src/model/small"
big=$(( (MB - MB / 8) / 3 ))
for i in 1 2 3; do
  head -c "${big}M" /dev/urandom > "$src/model/weights/part-$i.safetensors"
done
# The rest as 1000 small files (configs, tokenizer shards, docs).
small_kb=$(( MB * 1024 / 8 / 1000 ))
head -c "$(( small_kb * 1000 ))K" /dev/urandom > "$dir/smallpool"
i=0
while [ $i -lt 1000 ]; do
  d=$src/model/small/d$((i / 100))
  mkdir -p "$d"
  dd if="$dir/smallpool" of="$d/f$i.json" bs=1K skip=$((i * small_kb)) \
    count="$small_kb" status=none
  i=$((i + 1))
done
rm "$dir/smallpool"
(cd "$src" && tar -cf "$dir/layer.tar" model)
zstd -q -T0 -3 "$dir/layer.tar" -o "$dir/layer.tar.zst"
rm -rf "$src"
tar_digest=sha256:$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
zst_digest=sha256:$(sha256sum "$dir/layer.tar.zst" | cut -d' ' -f1)
raw_digest=sha256:$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
echo "layer.tar $(du -m "$dir/layer.tar" | cut -f1) MiB," \
  "layer.tar.zst $(du -m "$dir/layer.tar.zst" | cut -f1) MiB"

out=$dir/out
now() { date +%s.%N; }
# run NAME COMMAND...: time one run into $dir/times.NAME
run() {
  name=$1; shift
  rm -rf "$out"; mkdir -p "$out"; sync
  t0=$(now)
  "$@" > "$dir/last.log" 2>&1 || { cat "$dir/last.log"; exit 1; }
  t1=$(now)
  echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}' >> "$dir/times.$name"
}
median() { sort -n "$dir/times.$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

r=1
while [ "$r" -le "$RUNS" ]; do
  run tar tar -xf "$dir/layer.tar" -C "$out"
  run ours_tar "$bin" tar "$dir/layer.tar" "$tar_digest" "$tar_digest" \
    "$out" layer
  run zstd_tar sh -c "zstd -dc '$dir/layer.tar.zst' | tar -x -C '$out'"
  run ours_zst "$bin" tar+zstd "$dir/layer.tar.zst" "$zst_digest" \
    "$tar_digest" "$out" layer
  run cp cp "$dir/layer.tar" "$out/blob"
  run ours_raw "$bin" raw "$dir/layer.tar" "$raw_digest" - "$out" layer \
    model.bin
  r=$((r + 1))
done
echo "last raw run: $(cat "$dir/last.log")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '%-34s %8s %8s %6s\n' case theirs ours ratio
for pair in "tar -xf|tar|ours_tar" "zstd -dc | tar -x|zstd_tar|ours_zst" \
            "cp (raw layer)|cp|ours_raw"; do
  label=${pair%%|*}; rest=${pair#*|}; theirs=${rest%%|*}; ours=${rest#*|}
  a=$(median "$theirs"); b=$(median "$ours")
  printf '%-34s %7ss %7ss %6s\n' "$label" "$a" "$b" "$(ratio "$b" "$a")"
done
echo "runs per case: $RUNS (medians; all runs in $dir/times.* while running)"
