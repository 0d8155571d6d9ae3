#!/bin/bash
# Registry faults, injected by integration/fault_proxy.py in front of
# Debian's docker-registry:
#
#  - the connection dropped in the middle of a blob: the pull resumes with
#    a Range request and the files come out exact;
#  - 503 answers are retried; a registry that keeps failing is an exit 6
#    with one line, and nothing is stored.
#
# (A blob served with the wrong digest, a missing tag, a bad reference and
# wrong credentials: test_registry_basic.sh.)
#
# usage: test_registry_faults.sh
. "$(dirname "$0")/lib.sh"

it_setup registry_faults
MP=$IT_BUILD/bin/modelpack
mp() { "$MP" --store "$IT_DIR/$1" "${@:2}"; }
PROXY_PID=""
trap '[ -n "$PROXY_PID" ] && it_kill_wait "$PROXY_PID" 5; it_on_exit' EXIT

it_start_registry || { it_fail "docker-registry starts"; it_done; }
SRC=$IT_DIR/src
mkdir -p "$SRC"
head -c 8000000 /dev/urandom > "$SRC/model.safetensors"
echo '{"model_type": "tiny"}' > "$SRC/config.json"
d=$(mp s0 pack --src "$SRC" --tag "$REGISTRY/ml/f:1" --push | awk '/^pushed/ {print $3}') || true
it_check "a model of 8 MB pushed to $REGISTRY" test -n "$d"

# start_proxy RULE...: the proxy on a free port; sets PROXY.
start_proxy() {
  [ -n "$PROXY_PID" ] && it_kill_wait "$PROXY_PID" 5
  local p
  for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htln "sport = :$p")" ] || continue
    [ -s "$IT_DIR/proxy.log" ] && cat "$IT_DIR/proxy.log" >> "$IT_DIR/proxy-before.log"
    : > "$IT_DIR/proxy.log"
    python3 "$IT_REPO/integration/fault_proxy.py" "$p" "$REGISTRY" "$IT_DIR/proxy.log" "$@" \
      > "$IT_DIR/proxy.out" 2>&1 &
    PROXY_PID=$!
    PROXY=127.0.0.1:$p
    it_wait_for 10 "fault proxy" curl -fsS "http://$PROXY/v2/" && return 0
  done
  return 1
}

# ---- a dropped connection resumes; 503s are retried ---------------------------------
start_proxy drop-blob=3000000 fail=manifests:2 || { it_fail "fault proxy starts"; it_done; }
got=$(mp s1 pull "$PROXY/ml/f:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "pull through drops and 503s succeeds with the pushed digest" "$d" "$got"
it_check "the proxy answered 503 twice" test "$(grep -c '503 (injected)' "$IT_DIR/proxy.log")" = 2
it_check "the proxy cut a blob after 3000000 bytes" grep -q "cut after 3000000 bytes" "$IT_DIR/proxy.log"
it_check "... and the client resumed with Range: bytes=3000000- (206)" \
  grep -q "bytes=3000000- -> 206" "$IT_DIR/proxy.log"
rm -rf "$IT_DIR/x"
mp s1 -q extract "$PROXY/ml/f:1" "$IT_DIR/x" || true
it_check "the resumed model's files are exact" cmp -s "$SRC/model.safetensors" "$IT_DIR/x/model.safetensors"

# ---- a registry that keeps failing ------------------------------------------------------
start_proxy fail=manifests:100 || { it_fail "fault proxy starts"; it_done; }
rc=0; mp s2 pull "$PROXY/ml/f:1" > /dev/null 2> "$IT_DIR/err" || rc=$?
it_expect_eq "a registry answering 503 every time: exit 6" 6 "$rc"
it_check "... one line saying it gave up after retries" \
  bash -c "[ \$(wc -l < '$IT_DIR/err') = 1 ] && grep -q 'after 4 attempts' '$IT_DIR/err'"
it_check "... four attempts were made" test "$(grep -c '503 (injected)' "$IT_DIR/proxy.log")" = 4
it_expect_eq "... and nothing is stored" "" "$(mp s2 ls 2>/dev/null)"

it_done
