#!/bin/bash
# Crash safety: SIGKILL the daemon in the middle of a stream of
# Prepare/Commit/Remove from several clients, restart it on the same root,
# and check (build/bin/crash_stress verify) that every committed snapshot is
# intact, nothing removed came back, nothing half-made is visible, and
# Cleanup leaves exactly one directory per snapshot.  Three rounds on one
# root, so later rounds also start from a store that has crashed before.
IT_SNAPSHOTTER=modelpack
. "$(dirname "$0")/lib.sh"

bin=${CRASH_BIN:-$IT_BUILD/bin/crash_stress}
rounds=${CRASH_ROUNDS:-3}

it_setup crash
journal=$IT_DIR/journal

for ((r = 1; r <= rounds; r++)); do
  it_start_snapshotter --log-level info
  "$bin" run --address "$MP_SOCK" --journal "$journal" --threads 4 \
    > "$IT_DIR/stress.$r.log" 2>&1 &
  spid=$!
  before=$(grep -c '^done commit' "$journal" 2>/dev/null || true)
  # Let the stream run a while, then kill at a moment the clients do not
  # choose.
  sleep "$((1 + r)).$((RANDOM % 10))"
  it_stop_snapshotter -9
  wait "$spid" || true
  after=$(grep -c '^done commit' "$journal")
  it_check "round $r: the stream committed layers before the kill ($((after - ${before:-0})))" \
    test "$((after - ${before:-0}))" -gt 10
  inflight=$(awk '$1=="intent"{k[$2" "$3]=1} $1=="done"{delete k[$2" "$3]} END{print length(k)}' "$journal")
  it_log "round $r: $inflight operations in flight at the kill"

  it_start_snapshotter --log-level info
  rc=0
  "$bin" verify --address "$MP_SOCK" --journal "$journal" --root "$MP_ROOT" \
    > "$IT_DIR/verify.$r.log" 2>&1 || rc=$?
  while IFS= read -r line; do
    case $line in
      "FAIL "*) it_fail "round $r: ${line#FAIL }" ;;
      journal:*) it_log "round $r: $line" ;;
    esac
  done < "$IT_DIR/verify.$r.log"
  summary=$(grep -E '^crash: [0-9]+ passed' "$IT_DIR/verify.$r.log" || true)
  if [ "$rc" = 0 ] && [ -n "$summary" ]; then
    it_pass "round $r: restart after kill -9 verified (${summary#crash: })"
  else
    it_fail "round $r: verify exited $rc: $(tail -n 3 "$IT_DIR/verify.$r.log")"
  fi
  it_stop_snapshotter
done

it_done
