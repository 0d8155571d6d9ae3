#!/bin/sh
# Run each unit-test binary; sum their "N passed, N failed" lines.
set -u
tp=0; tf=0; bad=0
for t in "$@"; do
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -1)
  p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  [ -n "$line" ] || { p=0; f=1; echo "$t: no result line (crashed?)"; }
  [ $rc -eq 0 ] || bad=1
  tp=$((tp + p)); tf=$((tf + f))
done
echo "unit: $tp passed, $tf failed"
[ $bad -eq 0 ] && [ $tf -eq 0 ]
