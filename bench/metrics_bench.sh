#!/bin/bash
# The cost of the metrics endpoint on snapshot calls (docs/benchmarks.md,
# "Metrics on and off"): two daemons from the same binary, one with
# [metrics] address set and one without, on private roots under one temp
# directory, driven by build/bin/snapbench straight at their sockets (no
# containerd in between, so the difference is the daemon's own),
# iterations interleaved round-robin between them.  While it runs, the
# metrics daemon is scraped every BENCH_SCRAPE_INTERVAL seconds, as
# Prometheus would (more often than its usual 15 s).
#
# Environment:
#   BENCH_ITERATIONS       snapbench iterations per daemon (default 2000)
#   BENCH_WARMUP           warm-up iterations (default 50)
#   BENCH_SCRAPE_INTERVAL  seconds between scrapes (default 1; 0: none)
#   BENCH_REPEAT           snapbench runs, reported one after another
#                          (default 3)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$here/$BUILD ;; esac
MP_BIN=${MP_BIN:-$BUILD/bin/modelpack-snapshotter}
SNAPBENCH=$BUILD/bin/snapbench
ITERATIONS=${BENCH_ITERATIONS:-2000}
WARMUP=${BENCH_WARMUP:-50}
INTERVAL=${BENCH_SCRAPE_INTERVAL:-1}
REPEAT=${BENCH_REPEAT:-3}

for f in "$MP_BIN" "$SNAPBENCH"; do
  [ -x "$f" ] || { echo "metrics_bench: $f is missing (make all)" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/mp-metrics-bench.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[metrics]\naddress = "127.0.0.1:%s"\n' "$port" > "$dir/on.toml"
: > "$dir/off.toml"
for v in off on; do
  "$MP_BIN" --config "$dir/$v.toml" --root "$dir/$v" --address "$dir/$v.sock" \
    --log-level warn >> "$dir/$v.log" 2>&1 &
  pids+=($!)
done
for v in off on; do
  for _ in $(seq 100); do [ -S "$dir/$v.sock" ] && break; sleep 0.1; done
  [ -S "$dir/$v.sock" ] || { echo "metrics_bench: daemon $v did not start" >&2; cat "$dir/$v.log" >&2; exit 1; }
done
curl -sf -o /dev/null "http://127.0.0.1:$port/metrics" \
  || { echo "metrics_bench: no metrics on port $port" >&2; exit 1; }
if [ "$INTERVAL" != 0 ]; then
  (while sleep "$INTERVAL"; do
     curl -s -o /dev/null "http://127.0.0.1:$port/metrics" || true
   done) &
  pids+=($!)
fi

echo "metrics_bench: $ITERATIONS iterations (+$WARMUP warm-up) per daemon, interleaved, $REPEAT runs; scrape every ${INTERVAL}s; $(nproc) CPUs"
for r in $(seq "$REPEAT"); do
  echo "--- run $r"
  "$SNAPBENCH" --snapshotter "off=$dir/off.sock" --snapshotter "on=$dir/on.sock" \
    --baseline off --iterations "$ITERATIONS" --warmup "$WARMUP"
done
echo "--- scrape of the metrics daemon after the runs (Prepare histogram)"
curl -s "http://127.0.0.1:$port/metrics" \
  | grep -E '^modelpack_snapshots_rpc_duration_seconds_(sum|count)\{method="Prepare"\}'
