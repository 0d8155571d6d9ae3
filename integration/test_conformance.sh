#!/bin/bash
# containerd's snapshotter test suite (build/bin/snapshots_conformance)
# against the snapshotter under test, loaded into containerd 1.6 and 2.x and
# driven through containerd's Snapshots API.  Every case becomes one
# "ok"/"FAIL" line here, prefixed with the containerd version.
#
# usage: test_conformance.sh [VERSION...]     VERSION is 1.6 or 2
# Environment (besides lib.sh's):
#   CTD_VERSIONS          versions when none are given (default "1.6 2")
#   IT_SNAPSHOTTER        modelpack (default), or overlayfs to check the
#                         driver itself against containerd's own snapshotter
#   CONFORMANCE_CASE      run only cases whose name contains it
#   CONFORMANCE_DIRECT=1  also run the suite once straight against our
#                         daemon's socket (before containerd starts, whose
#                         garbage collector would delete snapshots it did
#                         not make)
#   CONFORMANCE_BIN       the driver (default $BUILD/bin/snapshots_conformance)
. "$(dirname "$0")/lib.sh"

versions=${*:-${CTD_VERSIONS:-1.6 2}}
bin=${CONFORMANCE_BIN:-$IT_BUILD/bin/snapshots_conformance}

it_setup conformance

# run_suite LABEL ARGS...: run the driver with ARGS and report each case.
run_suite() {
  local label=$1 rc=0 line cases=0 out
  shift
  out=$IT_DIR/conformance-${label//\//-}
  it_log "$label: snapshots_conformance $*"
  "$bin" "$@" ${CONFORMANCE_CASE:+--case "$CONFORMANCE_CASE"} \
    --workdir "$IT_DIR/w" > "$out.out" 2> "$out.log" || rc=$?
  while IFS= read -r line; do
    case $line in
      "ok "*) it_pass "$label ${line#ok }"; cases=$((cases + 1)) ;;
      "FAIL "*) it_fail "$label ${line#FAIL }"; cases=$((cases + 1)) ;;
    esac
  done < "$out.out"
  if [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$out.out"; then
    it_fail "$label: snapshots_conformance exited $rc: $(tail -n 3 "$out.log")"
  elif [ "$cases" = 0 ]; then
    it_fail "$label: no case ran: $(tail -n 3 "$out.log")"
  fi
}

if [ ! -x "$bin" ]; then
  it_fail "$bin is not built (make build/bin/snapshots_conformance)"
  it_done
fi

direct=${CONFORMANCE_DIRECT:-0}
for v in $versions; do
  it_start_snapshotter
  if [ "$direct" = 1 ] && [ "$IT_SN" = modelpack ]; then
    run_suite "direct/$IT_SN" --address "$MP_SOCK" --snapshotter ""
    direct=0
  fi
  it_start_containerd "$v"
  run_suite "containerd-$CTD_VERSION/$IT_SN" --address "$CTD_SOCK" \
    --snapshotter "$IT_SN"
  it_stop_containerd
  if ! it_stop_snapshotter; then
    it_fail "containerd-$v: modelpack-snapshotter did not exit cleanly"
  fi
  it_reset_state
done
it_done
