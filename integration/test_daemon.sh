#!/bin/bash
# The daemon as an operator meets it: flags, config errors, socket
# permissions, a stale socket after a crash, a second instance, clean
# shutdown on SIGTERM and SIGINT.
IT_SNAPSHOTTER=modelpack
. "$(dirname "$0")/lib.sh"

it_setup daemon

out=$("$MP_BIN" --version)
it_check "--version names the program" grep -q '^modelpack-snapshotter [0-9]' <<< "$out"
out=$("$MP_BIN" --help)
it_check "--help lists --config" grep -q -- '--config FILE' <<< "$out"
rc=0; "$MP_BIN" --bogus > /dev/null 2>&1 || rc=$?
it_expect_eq "an unknown flag exits 2" 2 "$rc"

echo 'workers = "many"' > "$IT_DIR/bad.toml"
rc=0; msg=$("$MP_BIN" --config "$IT_DIR/bad.toml" --root "$IT_DIR/r" \
  --address "$IT_DIR/x.sock" 2>&1) || rc=$?
it_expect_eq "a bad config exits 1" 1 "$rc"
it_check "the error names the file and the key ($msg)" \
  grep -q "bad.toml.*workers" <<< "$msg"
it_expect_eq "the error is one line" 1 "$(printf '%s\n' "$msg" | wc -l)"
rc=0; "$MP_BIN" --config "$IT_DIR/missing.toml" > /dev/null 2>&1 || rc=$?
it_expect_eq "a named config that is missing exits 1" 1 "$rc"

# Socket in a directory that does not exist yet.
sock=$IT_DIR/run/sub/s.sock
"$MP_BIN" --root "$IT_DIR/r" --address "$sock" >> "$IT_DIR/snapshotter.log" 2>&1 &
pid=$!
it_wait_for 10 "the socket" test -S "$sock"
it_expect_eq "socket mode" 660 "$(stat -c %a "$sock")"
it_expect_eq "socket directory mode" 700 "$(stat -c %a "$IT_DIR/run/sub")"
it_expect_eq "state directory mode" 700 "$(stat -c %a "$IT_DIR/r")"

rc=0; msg=$("$MP_BIN" --root "$IT_DIR/r2" --address "$sock" 2>&1) || rc=$?
it_expect_eq "a second instance on a live socket exits 1" 1 "$rc"
it_check "and says why ($msg)" grep -q "another process is serving" <<< "$msg"
it_check "the first instance still serves" kill -0 "$pid"

kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
it_check "kill -9 leaves a stale socket" test -S "$sock"
"$MP_BIN" --root "$IT_DIR/r" --address "$sock" >> "$IT_DIR/snapshotter.log" 2>&1 &
pid=$!
it_wait_for 10 "the socket to accept" it_sock_accepts "$sock"
it_check "a restart replaces the stale socket" grep -q "replaced stale socket" "$IT_DIR/snapshotter.log"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
it_expect_eq "SIGTERM: clean exit" 0 "$rc"
it_check "SIGTERM: socket removed" test ! -e "$sock"
it_check "SIGTERM: logged the stop" grep -q 'msg="stopped"' "$IT_DIR/snapshotter.log"

"$MP_BIN" --root "$IT_DIR/r" --address "$sock" >> "$IT_DIR/snapshotter.log" 2>&1 &
pid=$!
it_wait_for 10 "the socket to accept" it_sock_accepts "$sock"
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
it_expect_eq "SIGINT: clean exit" 0 "$rc"

it_done
