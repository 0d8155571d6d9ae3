#!/bin/bash
# Bad input straight at the daemon's socket (build/bin/bad_input): every
# mistake gets its gRPC status, the daemon survives, the store is intact.
IT_SNAPSHOTTER=modelpack
. "$(dirname "$0")/lib.sh"

it_setup bad_input
it_start_snapshotter
rc=0
"$IT_BUILD/bin/bad_input" --address "$MP_SOCK" > "$IT_DIR/bad_input.out" \
  2> "$IT_DIR/bad_input.log" || rc=$?
while IFS= read -r line; do
  case $line in
    "ok "*) it_pass "${line#ok }" ;;
    "FAIL "*) it_fail "${line#FAIL }" ;;
  esac
done < "$IT_DIR/bad_input.out"
it_check "bad_input finished cleanly (exit $rc)" \
  grep -q '^bad_input: [0-9]* passed, 0 failed' "$IT_DIR/bad_input.out"
it_check "the daemon is still running" kill -0 "$MP_PID"
it_check "the daemon logged no crash" \
  sh -c "! grep -qiE 'sanitizer|segmentation|abort' '$IT_DIR/snapshotter.log'"
it_done
