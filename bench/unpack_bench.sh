#!/bin/sh
# Layer unpack benchmark: our verified unpacker against the tools it
# replaces, on the same ~1 GiB tree (a few large random files, as model
# weights are, plus many small ones), in the same run:
#
#   tar -xf layer.tar              vs  unpack_bench tar       (+ sha256 check)
#   zstd -dc layer.tar.zst | tar -x vs  unpack_bench tar+zstd (+ blob digest
#                                                              and diffId)
#   cp blob (raw layer)            vs  unpack_bench raw (+ sha256 check)
#   cp blob && openssl dgst -sha256  (what a verified copy costs otherwise)
#
# Each case runs RUNS times (default 3), alternating, with dirty pages
# written back (sync) before every run, so the write-back of one run does
# not land in the next one's time.  Needs about 6 * BENCH_MB of disk.  Source files
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
  bench/unpack_bench.c store/unpack.c store/unpack_pipe.c store/unpack_plan.c \
  model/digest.c util/error.c util/fsutil.c -o "$bin" \
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
raw_digest=$tar_digest # a raw layer of the same bytes
echo "layer.tar $(du -m "$dir/layer.tar" | cut -f1) MiB," \
  "layer.tar.zst $(du -m "$dir/layer.tar.zst" | cut -f1) MiB"

now() { date +%s.%N; }
# Outputs go to a fresh journaled ext4 on a loop device when we may mount
# one (BENCH_LOOP=0 to skip): the machine's own filesystem may be mounted
# with "discard" or without a journal (this one is both), and then each
# run pays for the previous run's deletions (ext4 without a journal skips
# inodes freed in the last minute; discards are slow), which would favour
# whichever case happens to follow a small deletion.
outfs=$dir/outfs
mkdir -p "$outfs"
if [ "${BENCH_LOOP:-1}" = 1 ] && [ "$(id -u)" = 0 ] &&
   truncate -s $((MB * 3 + 512))M "$dir/outfs.img" &&
   mkfs.ext4 -q -F "$dir/outfs.img" && mount -o loop "$dir/outfs.img" "$outfs"; then
  trap 'umount "$outfs"; rm -rf "$dir"' EXIT
  echo "outputs on a loop-mounted ext4"
else
  echo "outputs in $outfs (no loop mount)"
fi
# run NAME COMMAND...: time one run into $dir/times.NAME; the command
# writes into $out, emptied and synced before.
out=$outfs/out
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
  run zstd_tar sh -c 'zstd -dc "$1" | tar -x -C "$2"' - "$dir/layer.tar.zst" \
    "$out"
  run ours_zst "$bin" tar+zstd "$dir/layer.tar.zst" "$zst_digest" \
    "$tar_digest" "$out" layer
  run cp cp "$dir/layer.tar" "$out/blob"
  run cp_sha sh -c 'cp "$1" "$2" && openssl dgst -sha256 "$2"' - \
    "$dir/layer.tar" "$out/blob"
  run ours_raw "$bin" raw "$dir/layer.tar" "$raw_digest" - "$out" layer \
    model.bin
  r=$((r + 1))
done
echo "last raw run: $(cat "$dir/last.log")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '%-34s %8s %8s %6s\n' case theirs ours ratio
for case in "tar -xf;tar;ours_tar" "zstd -dc | tar -x;zstd_tar;ours_zst" \
            "cp (raw layer);cp;ours_raw" \
            "cp + openssl sha256 (raw layer);cp_sha;ours_raw"; do
  label=${case%%;*}; rest=${case#*;}; theirs=${rest%%;*}; ours=${rest#*;}
  a=$(median "$theirs"); b=$(median "$ours")
  printf '%-34s %7ss %7ss %6s\n' "$label" "$a" "$b" "$(ratio "$b" "$a")"
done
echo "medians of $RUNS runs; every run (seconds):"
for c in tar ours_tar zstd_tar ours_zst cp cp_sha ours_raw; do
  printf '  %-9s %s\n' "$c" "$(tr '\n' ' ' < "$dir/times.$c")"
done
