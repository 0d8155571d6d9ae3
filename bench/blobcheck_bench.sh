#!/bin/sh
# Blob verification benchmark (docs/benchmarks.md, "Blob verification"):
# one plain tar layer of BENCH_MB (default 2048) MiB, four random files,
# timed by bench/blobcheck_bench.c: hashing it once, a memo hit, and the
# two ways of unpacking a blob not yet verified (hash while extracting;
# hash first, then extract trusted) next to a trusted unpack.  The blob's
# pages are dropped from the page cache before every run.  Needs about
# 3 * BENCH_MB of disk under BENCH_DIR (default a new directory in
# /var/tmp: on disk, not tmpfs).
set -eu
cd "$(dirname "$0")/.."
MB=${BENCH_MB:-2048}
RUNS=${RUNS:-3}
dir=${BENCH_DIR:-$(mktemp -d /var/tmp/blobcheck_bench.XXXXXX)}
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT

bin=$dir/blobcheck_bench
${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
  -D_GNU_SOURCE -I. $(pkg-config --cflags libarchive libcrypto) \
  bench/blobcheck_bench.c store/blobcheck.c store/unpack.c \
  store/unpack_pipe.c store/unpack_plan.c model/digest.c util/error.c \
  util/fsutil.c util/log.c util/escape.c -o "$bin" \
  $(pkg-config --libs libarchive libcrypto) -lpthread

echo "generating a ${MB} MiB tar layer in $dir"
mkdir -p "$dir/src/weights" "$dir/work"
i=1
while [ $i -le 4 ]; do
  head -c "$((MB / 4))M" /dev/zero | openssl enc -aes-128-ctr -nosalt \
    -K "$(printf '%032x' $i)" -iv "$(printf '%032x' 0)" \
    > "$dir/src/weights/part-$i.safetensors"
  i=$((i + 1))
done
(cd "$dir/src" && tar -cf "$dir/layer.tar" weights)
rm -rf "$dir/src"
digest=sha256:$(openssl dgst -sha256 -r "$dir/layer.tar" | cut -d' ' -f1)
sync
echo "$(nproc) CPUs; $(uname -r); $(openssl version)"
"$bin" "$dir/layer.tar" "$digest" "$dir/work" "$RUNS"
