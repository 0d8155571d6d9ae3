#!/bin/bash
# Long fuzzing runs (make fuzz-long): each target for FUZZ_LONG_SECONDS
# (default 600), FUZZ_JOBS targets at a time (default 1), on a corpus kept
# across runs in FUZZ_CORPUS/<target>/ (default .cache/fuzz-corpus) and
# seeded from tests/corpus/<target>/.  Prints per target the executions,
# coverage, features, corpus size and time fuzzed so far, and any crash,
# leak or timeout (the input is kept as FUZZ_CORPUS/<target>-crash-*);
# exits non-zero if any target found one.
#
#   scripts/fuzz-long.sh BUILD/fuzz/fuzz_a BUILD/fuzz/fuzz_b ...
set -u

secs=${FUZZ_LONG_SECONDS:-600}
jobs=${FUZZ_JOBS:-1}
corpora=${FUZZ_CORPUS:-.cache/fuzz-corpus}

# One target: run it, then print its summary as one block.
if [ "${1:-}" = --one ]; then
  bin=$2
  name=$(basename "$bin")
  corpus="$corpora/$name"
  log="$corpora/$name.log"
  mkdir -p "$corpus"
  seeds="tests/corpus/$name"
  [ -d "$seeds" ] || seeds=""
  start=$(date +%s)
  "$bin" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$corpora/$name-" \
    "$corpus" $seeds > "$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  total=$(($(cat "$corpora/$name.seconds" 2> /dev/null || echo 0) + took))
  echo "$total" > "$corpora/$name.seconds"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # The last status line: "#N  DONE  cov: C ft: F corp: U/SIZE ...".
  last=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(echo "$last" | sed -E 's/^#([0-9]+).*/\1/')
  cov=$(echo "$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
  ft=$(echo "$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }')
  printf '%s: %ss (%ss in all), %s execs (%s/s), cov %s, ft %s, corpus %s files %s bytes\n' \
    "$name" "$took" "$total" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
    "$files" "$bytes"
  if [ $rc -ne 0 ]; then
    echo "$name: FINDING (exit $rc), log $log:"
    grep -E 'ERROR: |SUMMARY: |Test unit written|artifact_prefix' "$log" | head -10
    exit 1
  fi
  exit 0
fi

mkdir -p "$corpora"
echo "fuzz-long: $# targets, ${secs}s each, $jobs at a time, corpus in $corpora"
if printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash "$0" --one {}; then
  echo "fuzz-long: no findings"
else
  echo "fuzz-long: FINDINGS (see above)"
  exit 1
fi
