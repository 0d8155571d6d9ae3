#!/bin/bash
# A hostile registry (integration/hostile_registry.py) against every command
# that contacts one: pull, extract REF DIR (a model not in the store), mount,
# crio-store add and preload.  The registry serves one small model (a 128 KiB
# weights layer) and, per repository, lies:
#
#  - endless-blob, endless-manifest, big-length (a Content-Length 1 MiB too
#    large), short, wrong-size (the manifest declares 1 byte less than the
#    blob whose digest it names): exit 7, one line naming the blob or tag
#    and the size it broke; the client reads no further than the declared
#    size (the registry counts what it got rid of), a Content-Length too
#    large is refused before its body;
#  - stall (a byte every 3 s) and redirect-loop: exit 6, one line naming
#    the cause, within the --stall-timeout given (1 s here; one retry);
#  - after each: the store names nothing new, holds no ingest file and no
#    byte of the faulty blob (what it holds verifies), the extract
#    directory, the CRI-O store and the cache are as they were, nothing is
#    mounted, and at most 64 KiB were written anywhere;
#  - pull alone: an endless config, an endless 404 page (exit 4, read only
#    so far), a registry that never answers, one that trickles 2 KiB/s
#    (only --transfer-timeout ends it), and as 16 KiB ranges (parallel Range
#    requests): endless, big-length, short, a redirect loop and a stall;
#  - a registry without Range support that cuts a transfer: the blob starts
#    over and the pull succeeds;
#  - then the good model from the same registry pulls, extracts, mounts,
#    exports to CRI-O and preloads.
#
# usage: test_hostile_registry.sh
. "$(dirname "$0")/lib.sh"

it_setup hostile_registry
MP=$IT_BUILD/bin/modelpack
STORE=$IT_DIR/store
CACHE=$IT_DIR/cache
CRIO=$IT_DIR/crio
OUT=$IT_DIR/out
MNT=$IT_DIR/mnt
SLOG=$IT_DIR/server.log
# A command that the hostile registry would keep forever is a failure, not
# a hung test.
mp() { timeout -k 5 40 "$MP" --store "$STORE" --cache "$CACHE" --stall-timeout 1 --transfer-timeout 5 "$@"; }
SRV_PID=""
trap 'it_umount_under "$MNT"; [ -n "$SRV_PID" ] && it_kill_wait "$SRV_PID" 5; it_on_exit' EXIT

SRC=$IT_DIR/src
mkdir -p "$SRC"
head -c 131072 /dev/urandom > "$SRC/model.safetensors"
echo '{"model_type": "tiny"}' > "$SRC/config.json"
printf '# tiny\n' > "$SRC/README.md"
"$MP" --store "$IT_DIR/layout" pack --src "$SRC" --tag example.com/ml/m:1 > "$IT_DIR/pack.out" 2>&1 \
  || { it_fail "pack the model: $(cat "$IT_DIR/pack.out")"; it_done; }
MAN=$(jq -r '.manifests[0].digest' "$IT_DIR/layout/index.json")
WEIGHTS=$(jq -r '[.layers[]] | max_by(.size) | .digest' "$IT_DIR/layout/blobs/sha256/${MAN#sha256:}")
CONFIG=$(jq -r '.config.digest' "$IT_DIR/layout/blobs/sha256/${MAN#sha256:}")
CONFIG_SIZE=$(jq -r '.config.size' "$IT_DIR/layout/blobs/sha256/${MAN#sha256:}")

python3 "$IT_REPO/integration/hostile_registry.py" "$IT_DIR/layout" "$SLOG" "$IT_DIR/port" \
  --interval 3 > "$IT_DIR/server.out" 2>&1 &
SRV_PID=$!
it_wait_for 10 "hostile registry" test -s "$IT_DIR/port" || { it_fail "hostile registry starts"; it_done; }
REG=127.0.0.1:$(cat "$IT_DIR/port")
it_pass "hostile registry on $REG serves a model of 128 KiB weights"

# run ENTRY REF: the command ENTRY names, contacting the registry for REF.
run() {
  case $1 in
    pull) mp pull "$2" ;;
    extract) mp extract "$2" "$OUT" ;;
    mount) mp mount "$2" "$MNT" ;;
    crio-store) mp crio-store add "$2" --store "$CRIO" ;;
    preload) mp preload "$2" ;;
  esac
}
prefix() { case $1 in crio-store) echo "modelpack: crio-store add: " ;; *) echo "modelpack: $1: " ;; esac; }

# left_behind FAULTY: what a failed command left that it must not have, or
# nothing.  The store may keep blobs it verified (a retry need not fetch
# them again), never FAULTY, never a name, never an ingest file.
left_behind() {
  local faulty=${1:-none}
  if grep -qs '"digest"' "$STORE/index.json"; then echo "the store names something"; fi
  if grep -q " $MNT " /proc/self/mountinfo; then echo "$MNT is mounted"; fi
  # Files anywhere, and directories in the extract target (a scratch
  # layout left empty).
  find "$STORE" "$CACHE" "$CRIO" "$OUT" "$MNT" \( -type f -o -path "$OUT/*" \) \
    -printf '%y %s %p\n' 2>/dev/null \
    | awk -v s="$STORE" -v c="$CACHE" -v o="$OUT/" -v cr="$CRIO/" -v m="$MNT/" '
        $1 == "f" { n += $2 }
        index($3, s "/.ingest/") == 1 { print "ingest file " $3 }
        index($3, c "/pins/") == 1 || index($3, c "/trees/") == 1 { print "in the cache: " $3 }
        index($3, o) == 1 || index($3, cr) == 1 || index($3, m) == 1 { print "left: " $3 }
        END { if (n > 65536) print n " bytes written" }'
  if compgen -G "$STORE/blobs/sha256/*" > /dev/null; then
    sha256sum "$STORE"/blobs/sha256/* | awk -v f="${faulty#sha256:}" '
      { n = $2; sub(/.*\//, "", n) }
      n == f { print "the faulty blob is in the store" }
      n != $1 { print "unverified blob " n }'
  fi
}

# sent PATTERN: the body bytes the registry got rid of on requests whose
# log line matches PATTERN (it logs a request once its handler ends).
sent() {
  awk -v p="$1" 'index($0, p) { sub(/.*sent=/, ""); s += $0 } END { print s + 0 }' "$SLOG"
}

# expect ENTRY MODE CODE NEEDLE [FAULTY [MAXSENT [PATTERN]]]: ENTRY against
# repository MODE exits CODE with one line, the entry's prefix and NEEDLE;
# nothing is left behind; the registry sent at most MAXSENT bytes for
# requests matching PATTERN (default: FAULTY's in MODE).
expect() {
  local entry=$1 mode=$2 code=$3 needle=$4 faulty=${5:-} maxsent=${6:-} pat=${7:-} rc=0 t0 t1 left got
  : > "$SLOG"
  t0=$(date +%s%N)
  run "$entry" "$REG/$mode/m:1" > /dev/null 2> "$IT_DIR/err" || rc=$?
  t1=$(date +%s%N)
  ELAPSED=$(((t1 - t0) / 1000000))
  if [ "$rc" = "$code" ] && [ "$(wc -l < "$IT_DIR/err")" = 1 ] \
    && grep -qF -- "$(prefix "$entry")" "$IT_DIR/err" && grep -qF -- "$needle" "$IT_DIR/err"; then
    it_pass "$entry, $mode: exit $code, one line naming it (${ELAPSED} ms)"
  else
    it_fail "$entry, $mode: exit $rc (want $code, '$needle'): $(cat "$IT_DIR/err")"
  fi
  left=$(left_behind "$faulty")
  it_expect_eq "$entry, $mode: nothing left behind" "" "$left"
  if [ -n "$maxsent" ]; then
    pat=${pat:-/$mode/m/blobs/$faulty}
    # The handler notices the client gone at its next write.
    it_wait_for 5 "the registry's log of $pat" grep -qF -- "$pat" "$SLOG" || true
    got=$(sent "$pat")
    SENT=$got
    if [ "$got" -gt 0 ] && [ "$got" -le "$maxsent" ]; then
      it_pass "$entry, $mode: the client stopped the registry after $got bytes (at most $maxsent)"
    else
      it_fail "$entry, $mode: the registry sent $got bytes (want 1..$maxsent)"
    fi
  fi
  rm -rf "$STORE"/blobs/sha256/* "$OUT" "$MNT"
}

# Socket buffers on loopback hold a few MiB: what the registry got rid of
# may exceed what the client read by that much, never by more.
SLACK=$((8 << 20))
W=131072
for entry in pull extract mount crio-store preload; do
  expect "$entry" endless-blob 7 "blob $WEIGHTS: the registry sent more than the $W bytes the manifest declares" \
    "$WEIGHTS" $((W + SLACK))
  [ "$entry" = pull ] && it_log "endless blob: the registry got rid of $SENT bytes for $W declared"
  expect "$entry" endless-manifest 7 "tag 1: the registry sent more than the limit of 4194304 bytes on a document of undeclared size" \
    "" $((4194304 + SLACK)) "/endless-manifest/m/manifests/1"
  [ "$entry" = pull ] && it_log "endless manifest: the registry got rid of $SENT bytes"
  expect "$entry" big-length 7 "blob $WEIGHTS: the registry announced $((W + 1048576)) bytes (Content-Length), more than the $W bytes the manifest declares" \
    "$WEIGHTS"
  expect "$entry" short 7 "blob $WEIGHTS: the registry sent $((W / 2)) bytes, fewer than the $W bytes the manifest declares" \
    "$WEIGHTS"
  expect "$entry" wrong-size 7 "blob $WEIGHTS: the registry announced $W bytes (Content-Length), more than the $((W - 1)) bytes the manifest declares" \
    "$WEIGHTS"
  expect "$entry" stall 6 "blob $WEIGHTS: stalled: less than 1024 bytes moved in 1 s (stall timeout)" "$WEIGHTS"
  [ "$entry" = pull ] && it_log "stall (a byte every 3 s, --stall-timeout 1, one retry): given up after $ELAPSED ms"
  it_check "$entry, stall: given up within 2 stall timeouts and the backoff (${ELAPSED} ms)" test "$ELAPSED" -lt 4500
  expect "$entry" redirect-loop 6 "tag 1: too many redirects (more than 8): a redirect loop"
  it_check "$entry, redirect-loop: 9 requests, no retry" test "$(grep -c 'manifests/1' "$SLOG")" = 9
done

# ---- pull alone: more faults ---------------------------------------------------------
expect pull endless-config 7 "blob $CONFIG: the registry sent more than the $CONFIG_SIZE bytes the manifest declares" \
  "$CONFIG" $((CONFIG_SIZE + SLACK))
expect pull endless-error 4 "blob $WEIGHTS not found in $REG/endless-error/m" "$WEIGHTS" $((1048576 + SLACK))
expect pull stall-headers 6 "blob $WEIGHTS: stalled: less than 1024 bytes moved in 1 s (stall timeout)" "$WEIGHTS"
# 2 KiB/s is never a stall: the transfer timeout (1 s + 16 s/MiB of 128 KiB)
# ends it.
STALL_ARGS="--stall-timeout 1 --transfer-timeout 1"
rc=0
timeout 40 "$MP" --store "$STORE" $STALL_ARGS pull "$REG/trickle/m:1" > /dev/null 2> "$IT_DIR/err" || rc=$?
it_expect_eq "pull, trickle: exit 6" 6 "$rc"
it_check "... one line: blob $WEIGHTS not done within 3 s (transfer timeout)" \
  bash -c "[ \$(wc -l < '$IT_DIR/err') = 1 ] && grep -qF 'blob $WEIGHTS: not done within 3 s (transfer timeout)' '$IT_DIR/err'"
it_expect_eq "... nothing left behind" "" "$(left_behind "$WEIGHTS")"
rm -rf "$STORE"/blobs/sha256/*

# As ranges: 16 KiB chunks (blobs over 64 KiB go as parallel Range requests).
export MODELPACK_RANGE_CHUNK=16384
expect pull endless-blob 7 "blob $WEIGHTS: the registry sent more than the 16384 bytes asked for at offset" \
  "$WEIGHTS" $((W + SLACK))
expect pull big-length 7 "blob $WEIGHTS: the registry announced $((16384 + 1048576)) bytes (Content-Length) for the 16384 asked for at offset" \
  "$WEIGHTS"
expect pull short 7 "blob $WEIGHTS: the registry sent 8192 bytes, fewer than the 16384 asked for at offset" "$WEIGHTS"
expect pull redirect-loop-blob 6 "blob $WEIGHTS: too many redirects (more than 8): a redirect loop" "$WEIGHTS"
expect pull stall 6 "blob $WEIGHTS: stalled: less than 1024 bytes moved in 1 s (stall timeout)" "$WEIGHTS"
rc=0
timeout 40 "$MP" --store "$STORE" $STALL_ARGS pull "$REG/trickle/m:1" > /dev/null 2> "$IT_DIR/err" || rc=$?
it_check "pull as ranges, trickle: exit 6, one deadline for the blob's ranges: $(cat "$IT_DIR/err")" \
  bash -c "[ $rc = 6 ] && grep -qF 'blob $WEIGHTS: not done within 3 s (transfer timeout)' '$IT_DIR/err'"
unset MODELPACK_RANGE_CHUNK
rm -rf "$STORE"/blobs/sha256/*

# A registry without Range support that cuts a transfer is no liar: the
# resume it answers with the whole blob starts the blob over.
: > "$SLOG"
got=$(mp pull "$REG/cut-no-range/m:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "pull, a cut and no Range support: the blob starts over and the pull succeeds" "$MAN" "$got"
it_check "... after a resume answered with 200 (the whole blob)" \
  grep -qE "cut-no-range/m/blobs/$WEIGHTS bytes=[0-9]+- -> 200" "$SLOG"
mp rm "$REG/cut-no-range/m:1" > /dev/null 2>&1 || it_fail "rm the model"

it_expect_exit "--stall-timeout x" 2 "--stall-timeout: 'x' is not a number of seconds" \
  "$MP" --store "$STORE" --stall-timeout x pull "$REG/good/m:1"
it_expect_exit "MODELPACK_TRANSFER_TIMEOUT=-1" 2 "MODELPACK_TRANSFER_TIMEOUT: '-1' is not a number of seconds" \
  env MODELPACK_TRANSFER_TIMEOUT=-1 "$MP" --store "$STORE" pull "$REG/good/m:1"

# ---- the good model from the same registry ---------------------------------------
sums() { (cd "$1" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum); }
rc=0
mp extract "$REG/good/m:1" "$OUT" > /dev/null 2> "$IT_DIR/err" || rc=$?
it_check "extract of the good model (not stored): identical files" \
  bash -c "[ $rc = 0 ] && [ \"\$(cd '$SRC' && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum)\" = \"\$(cd '$OUT' && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum)\" ]"
got=$(mp pull "$REG/good/m:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "pull of the good model: its digest" "$MAN" "$got"
out=$(mp mount "$REG/good/m:1" "$MNT" 2>&1) || it_fail "mount of the good model: $out"
it_expect_eq "mount of the good model: its files" "$(sums "$SRC")" "$(sums "$MNT" 2>/dev/null)"
out=$(mp umount "$MNT" 2>&1) || it_fail "umount: $out"
out=$(mp crio-store add "$REG/good/m:1" --store "$CRIO" 2>&1) || it_fail "crio-store add of the good model: $out"
it_check "crio-store add of the good model: listed" grep -q "^$REG/good/m:1 " <(mp crio-store ls --store "$CRIO" 2>/dev/null)
out=$(mp preload "$REG/good/m:1" 2>&1) || it_fail "preload of the good model: $out"
it_check "preload of the good model: pinned in the cache" bash -c "ls '$CACHE'/pins/preload-* > /dev/null 2>&1"

it_done
