#!/bin/bash
# Large blobs against Debian's docker-registry, every request seen by
# integration/fault_proxy.py in front of it:
#
#  - pull with a 1 MiB range chunk (MODELPACK_RANGE_CHUNK): the 12 MiB
#    blob comes as 1 MiB Range requests (206) on more than one connection,
#    and the files are exact;
#  - a registry without Range support (the proxy drops the header): one
#    GET of the blob answered 200, the files exact;
#  - blob GETs redirected (307) to another path without Authorization, as
#    object storage behind a registry: the ranges follow the redirect;
#  - push of a pulled model to another repository of the registry: every
#    blob mounted (POST ?mount=&from=, 201), no PUT or PATCH of bytes;
#    oras pull of the result: identical files;
#  - push with a 4 MiB upload chunk (MODELPACK_UPLOAD_CHUNK): PATCH chunks
#    with Content-Range, then a PUT with the digest and no body; oras pull:
#    identical files;
#  - a registry refusing PATCH (405): one PUT of the whole blob instead.
#
# usage: test_registry_push.sh
. "$(dirname "$0")/lib.sh"

it_setup registry_push
MP=$IT_BUILD/bin/modelpack
ORAS=$IT_UNSTABLE_BIN/oras
mp() { "$MP" --store "$IT_DIR/$1" "${@:2}"; }
PROXY_PID=""
trap '[ -n "$PROXY_PID" ] && it_kill_wait "$PROXY_PID" 5; it_on_exit' EXIT

it_start_registry || { it_fail "docker-registry starts"; it_done; }
LOG=$IT_DIR/proxy.log

# start_proxy RULE...: the proxy on a free port, a fresh log; sets PROXY.
start_proxy() {
  [ -n "$PROXY_PID" ] && it_kill_wait "$PROXY_PID" 5
  local p
  for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htln "sport = :$p")" ] || continue
    [ -s "$LOG" ] && cat "$LOG" >> "$IT_DIR/proxy-before.log"
    : > "$LOG"
    python3 "$IT_REPO/integration/fault_proxy.py" "$p" "$REGISTRY" "$LOG" "$@" \
      > "$IT_DIR/proxy.out" 2>&1 &
    PROXY_PID=$!
    PROXY=127.0.0.1:$p
    it_wait_for 10 "fault proxy" curl -fsS "http://$PROXY/v2/" && return 0
  done
  return 1
}
sums() { (cd "$1" && find . -type f ! -name Modelfile -printf '%P\n' | LC_ALL=C sort | xargs sha256sum); }
# extracted STORE REF DIR: the files of a stored model
extracted() { rm -rf "$3"; mp "$1" -q extract "$2" "$3" > /dev/null 2>&1 && sums "$3"; }
# new_model DIR: 12 MiB of weights and a config
new_model() {
  mkdir -p "$1"
  head -c $((12 << 20)) /dev/urandom > "$1/model.safetensors"
  echo '{"model_type": "tiny"}' > "$1/config.json"
}

SRC=$IT_DIR/src
new_model "$SRC"
d=$(mp s0 pack --src "$SRC" --tag "$REGISTRY/ml/a:1" --push | awk '/^pushed/ {print $3}') || true
it_check "a model of 12 MiB pushed to $REGISTRY/ml/a:1" test -n "$d"
BIG=sha256:$(sha256sum < "$SRC/model.safetensors" | cut -d' ' -f1)
blob_gets() { grep -F "GET /v2/ml/a/blobs/$BIG " "$LOG" || true; }

# ---- parallel ranges ---------------------------------------------------------------
start_proxy || { it_fail "fault proxy starts"; it_done; }
got=$(MODELPACK_RANGE_CHUNK=1048576 mp s1 pull "$PROXY/ml/a:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "pull with 1 MiB ranges gives the pushed digest" "$d" "$got"
it_expect_eq "... the 12 MiB blob came as 12 Range requests answered 206" 12 \
  "$(blob_gets | grep -cE ' bytes=[0-9]+-[0-9]+ -> 206 ' || true)"
it_check "... including the last MiB, bytes=11534336-12582911" \
  grep -qF "GET /v2/ml/a/blobs/$BIG bytes=11534336-12582911 -> 206" "$LOG"
it_check "... on more than one connection" \
  test "$(blob_gets | grep -o 'peer=[0-9]*' | sort -u | wc -l)" -gt 1
it_expect_eq "... and the files are exact" "$(sums "$SRC")" "$(extracted s1 "$PROXY/ml/a:1" "$IT_DIR/x1")"

# ---- no Range support ----------------------------------------------------------------
start_proxy no-range=1 || { it_fail "fault proxy starts"; it_done; }
got=$(MODELPACK_RANGE_CHUNK=1048576 mp s2 pull "$PROXY/ml/a:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "a registry ignoring Range: the pull still works" "$d" "$got"
it_expect_eq "... with one GET of the blob, answered 200" 1 "$(blob_gets | grep -c ' -> 200 ' || true)"
it_expect_eq "... and no other" 1 "$(blob_gets | wc -l)"
it_expect_eq "... and the files are exact" "$(sums "$SRC")" "$(extracted s2 "$PROXY/ml/a:1" "$IT_DIR/x2")"

# ---- redirected blobs ---------------------------------------------------------------
start_proxy redirect-blobs=1 || { it_fail "fault proxy starts"; it_done; }
got=$(MODELPACK_RANGE_CHUNK=1048576 mp s3 pull "$PROXY/ml/a:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "blob GETs redirected (307): the pull works" "$d" "$got"
it_expect_eq "... 12 ranges served 206 at the redirect's target" 12 \
  "$(grep -cE "^GET /_redirect/v2/ml/a/blobs/$BIG bytes=[0-9]+-[0-9]+ -> 206 " "$LOG" || true)"
it_expect_eq "... and the files are exact" "$(sums "$SRC")" "$(extracted s3 "$PROXY/ml/a:1" "$IT_DIR/x3")"

# ---- cross-repository mount ------------------------------------------------------------
start_proxy || { it_fail "fault proxy starts"; it_done; }
mp s6 -q pull "$PROXY/ml/a:1" > /dev/null 2>&1 || true
: > "$LOG"
out=$(mp s6 --json push "$PROXY/ml/a:1" "$PROXY/ml/b:1" 2> "$IT_DIR/err") || true
it_expect_eq "push of the model pulled from ml/a to ml/b: its 3 blobs (config, 2 layers) mounted, none uploaded" \
  "3 0" "$(jq -r '"\(.blobs.mounted) \(.blobs.uploaded)"' <<<"$out" 2>/dev/null)"
it_expect_eq "... the registry saw 3 mount requests from ml/a, answered 201" 3 \
  "$(grep -cE '^POST /v2/ml/b/blobs/uploads/\?mount=sha256:[0-9a-f]{64}&from=ml%2Fa - -> 201 ' "$LOG" || true)"
it_expect_eq "... and no blob bytes (no PUT, no PATCH)" 0 "$(grep -cE '^(PUT|PATCH) /v2/ml/b/blobs/' "$LOG" || true)"
rm -rf "$IT_DIR/o"
"$ORAS" pull --plain-http "$REGISTRY/ml/b:1" -o "$IT_DIR/o" > "$IT_DIR/oras.log" 2>&1 || true
it_expect_eq "... oras pull of ml/b:1: identical files" "$(sums "$SRC")" "$(sums "$IT_DIR/o")"

# ---- chunked upload ---------------------------------------------------------------------
SRC2=$IT_DIR/src2
new_model "$SRC2"
BIG2=$(sha256sum < "$SRC2/model.safetensors" | cut -d' ' -f1)
mp s4 -q pack --src "$SRC2" --tag "$PROXY/ml/c:1" > /dev/null 2>&1 || true
out=$(MODELPACK_UPLOAD_CHUNK=4194304 mp s4 push "$PROXY/ml/c:1" 2> "$IT_DIR/err") || true
it_check "push with 4 MiB upload chunks" grep -q "^pushed $PROXY/ml/c:1 sha256:" <<<"$out"
it_expect_eq "... the 12 MiB blob went as 3 PATCHes of 4 MiB (202)" 3 \
  "$(grep -cE '^PATCH /v2/ml/c/blobs/uploads/[^ ]+ - body=4194304 -> 202 ' "$LOG" || true)"
it_check "... then a PUT with its digest and no body (201)" \
  grep -qE "^PUT /v2/ml/c/blobs/uploads/[^ ]+digest=sha256(:|%3A)$BIG2 - -> 201 " "$LOG"
rm -rf "$IT_DIR/o"
"$ORAS" pull --plain-http "$REGISTRY/ml/c:1" -o "$IT_DIR/o" > "$IT_DIR/oras.log" 2>&1 || true
it_expect_eq "... oras pull of ml/c:1: identical files" "$(sums "$SRC2")" "$(sums "$IT_DIR/o")"

# ---- PATCH refused ------------------------------------------------------------------------
start_proxy no-patch=1 || { it_fail "fault proxy starts"; it_done; }
SRC3=$IT_DIR/src3
new_model "$SRC3"
BIG3=$(sha256sum < "$SRC3/model.safetensors" | cut -d' ' -f1)
mp s5 -q pack --src "$SRC3" --tag "$PROXY/ml/d:1" > /dev/null 2>&1 || true
out=$(MODELPACK_UPLOAD_CHUNK=4194304 mp s5 push "$PROXY/ml/d:1" 2> "$IT_DIR/err") || true
it_check "a registry refusing PATCH: the push works" grep -q "^pushed $PROXY/ml/d:1 sha256:" <<<"$out"
it_check "... after one refused PATCH" test "$(grep -c '^PATCH .* -> 405 (injected)' "$LOG")" = 1
it_check "... with one PUT of the whole blob" \
  grep -qE "^PUT /v2/ml/d/blobs/uploads/[^ ]+digest=sha256(:|%3A)$BIG3 - body=12582912 -> 201 " "$LOG"
rm -rf "$IT_DIR/o"
"$ORAS" pull --plain-http "$REGISTRY/ml/d:1" -o "$IT_DIR/o" > "$IT_DIR/oras.log" 2>&1 || true
it_expect_eq "... oras pull of ml/d:1: identical files" "$(sums "$SRC3")" "$(sums "$IT_DIR/o")"

it_done
