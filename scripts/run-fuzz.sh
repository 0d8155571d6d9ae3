#!/bin/sh
# Run each fuzz target briefly (FUZZ_SECONDS, default 20) from its seed corpus
# in tests/corpus/<target>/.  Any crash fails the run.
set -u
outdir=$1; shift
secs=${FUZZ_SECONDS:-20}
rc=0
for f in "$@"; do
  name=$(basename "$f")
  work="$outdir/$name.corpus"
  mkdir -p "$work"
  seeds="tests/corpus/$name"
  [ -d "$seeds" ] || seeds=""
  if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
      -artifact_prefix="$outdir/$name-" "$work" $seeds > "$outdir/$name.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -c . "$outdir/$name.log") log lines, ${secs}s)"
  else
    echo "fuzz $name: FAILED, see $outdir/$name.log"; tail -30 "$outdir/$name.log"; rc=1
  fi
done
exit $rc
