#!/bin/bash
# The bounded model cache and the node's cache commands, through the CRI of
# containerd 2.x (cri_volume, as a kubelet mounts image volumes):
#
#  - [model_cache] max_bytes fits two of three 1 MB models (a, b, c, raw
#    layers packed by `modelpack pack`; nothing shared);
#  - pods of a then b (each gone afterwards: both unused, a older); a pod of
#    c evicts a, the least recently used, and keeps b;
#  - while c's pod runs: `modelpack cache ls` shows c in use by one
#    snapshot, b by none, with references and sizes; a pod of a again evicts
#    b, never c (in use); a model bigger than the bound fails its pod with
#    an error naming the sizes and evicts nothing;
#  - the daemon stopped (c's pod still running): ls still knows c is in use
#    (the daemon's published record), and prune --all removes a but not c;
#    the daemon restarted;
#  - after c's pod: prune --older-than 1h keeps c (just used), prune --all
#    (daemon running) removes it; with the daemon stopped, ls is empty.
#
# The bound counts what the cache writes: models served from an index over
# containerd's blobs (raw and plain layers) take no room in it, so this
# runs with mount = "extract", where every model is unpacked.
#
# usage: test_cache_bound.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

it_setup cache_bound
if [ "$IT_SN" != modelpack ]; then
  it_fail "this test is for our snapshotter (IT_SNAPSHOTTER=$IT_SN)"
  it_done
fi
MP=$IT_BUILD/bin/modelpack
MAX=2500000
CFG=$IT_DIR/bound.toml
printf '[model_cache]\nmax_bytes = %d\nkeep_unused_seconds = 86400\nmount = "extract"\n' "$MAX" > "$CFG"
mp() { "$MP" --store "$IT_DIR/store" --cache "$MP_ROOT/models" --mount-mode extract "$@"; }

it_start_registry || { it_fail "docker-registry starts"; it_done; }
it_start_snapshotter --config "$CFG" --containerd-root "$IT_DIR/c/root"
if ! it_start_containerd_cri; then
  it_fail "containerd with the CRI starts"
  it_done
fi

# ---- models ---------------------------------------------------------------------
declare -A digest size
# model NAME BYTES: one weight file of BYTES random bytes and a small config,
# packed (raw layers) and pushed as $REGISTRY/ml/NAME:1.
model() {
  local d=$IT_DIR/src/$1
  mkdir -p "$d"
  head -c "$2" /dev/urandom > "$d/$1.safetensors"
  echo "{\"model_type\": \"$1\"}" > "$d/config.json"
  mp pack --src "$d" --tag "$REGISTRY/ml/$1:1" --push > "$IT_DIR/pack-$1.log" 2>&1 \
    || { cat "$IT_DIR/pack-$1.log" >&2; return 1; }
  digest[$1]=$(awk '/^pushed/ {print $3}' "$IT_DIR/pack-$1.log")
  size[$1]=$(($2 + $(stat -c %s "$d/config.json")))
}
for m in a b c; do model "$m" 1000000 || it_fail "pack and push model $m"; done
model big 2600000 || it_fail "pack and push model big"
it_pass "models a, b, c ($((size[a])) bytes each) and big (${size[big]} bytes) pushed; max_bytes = $MAX"

hex() { echo "${digest[$1]#sha256:}"; }
has_tree() { [ -d "$MP_ROOT/models/trees/$(hex "$1")" ]; }
trees() {
  local m out=""
  for m in a b c big; do has_tree "$m" && out+="$m "; done
  echo "${out% }"
}
expect() {
  EXPECT=()
  while read -r p; do
    EXPECT+=(--expect-file "$p:$(sha256sum < "$IT_DIR/src/$1/$p" | cut -c1-64)")
  done < <(cd "$IT_DIR/src/$1" && find . -type f -printf '%P\n' | LC_ALL=C sort)
}
# cri_cmd NAME ARGS...: the cri_volume command line for a pod of model NAME
# (into CMD).
cri_cmd() {
  local m=$1
  shift
  expect "$m"
  CMD=("$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE"
    --log-dir "$IT_DIR/pods" --snapshotter modelpack --backend "$MP_SOCK"
    --mount-path /model --volume-ref "$REGISTRY/ml/$m:1" --exact "${EXPECT[@]}" "$@")
}
pod() {
  local label=$1 m=$2 rc=0
  shift 2
  cri_cmd "$m" "$@"
  "${CMD[@]}" > "$IT_DIR/pod-$m.out" 2>&1 || rc=$?
  sed 's/^/    /' "$IT_DIR/pod-$m.out" >&2
  if [ "$rc" = 0 ]; then it_pass "$label"; else it_fail "$label (exit $rc)"; fi
}

# ---- eviction, least recently used first ---------------------------------------
pod "a pod of model a" a
pod "a pod of model b" b
it_expect_eq "a and b are cached, unused" "a b" "$(trees)"

# What runs while c's pod runs: a script of its own (cri_volume runs it with
# sh), reporting "PASS ..." / "FAIL ..." lines into while-c.out.
{
  declare -p digest size
  printf 'MP=%q MP_ROOT=%q MP_SOCK=%q MP_BIN=%q MP_PID=%q IT_DIR=%q CFG=%q MAX=%q REGISTRY=%q CTR=%q\n' \
    "$MP" "$MP_ROOT" "$MP_SOCK" "$MP_BIN" "$MP_PID" "$IT_DIR" "$CFG" "$MAX" "$REGISTRY" "$CTR"
  cri_cmd a
  printf 'POD_A=('; printf ' %q' "${CMD[@]}"; printf ')\n'
  CMD=("$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE"
    --log-dir "$IT_DIR/pods" --snapshotter modelpack --backend "$MP_SOCK"
    --mount-path /model --volume-ref "$REGISTRY/ml/big:1"
    --expect-create-error "needs ${size[big]} bytes")
  printf 'POD_BIG=('; printf ' %q' "${CMD[@]}"; printf ')\n'
} > "$IT_DIR/while-c.env"
cat > "$IT_DIR/while-c.sh" <<'EOF'
#!/bin/bash
. "$(dirname "$0")/while-c.env"
mp() { "$MP" --store "$IT_DIR/store" --cache "$MP_ROOT/models" "$@"; }
hex() { echo "${digest[$1]#sha256:}"; }
trees() {
  local m out=""
  for m in a b c big; do [ -d "$MP_ROOT/models/trees/$(hex "$m")" ] && out+="$m "; done
  echo "${out% }"
}
fails=0
check() {
  local what=$1
  shift
  if "$@"; then echo "PASS $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
eq() { [ "$1" = "$2" ] || { echo "     got '$1', want '$2'"; return 1; }; }
# model_field JSON NAME FIELD: FIELD of model NAME in `cache ls --json`.
field() { jq -r --arg d "${digest[$2]}" ".[] | select(.manifest == \$d) | .$3" <<<"$1"; }
sock_up() { curl -s -m 2 --http2-prior-knowledge --unix-socket "$MP_SOCK" http://localhost/ -o /dev/null; [ $? != 7 ]; }

check "c's pod evicted a (least recently used), kept b: cached $(trees)" eq "$(trees)" "b c"
check "the daemon logs the eviction of a" \
  grep -q "evicted unused model ${digest[a]} .*to make room for ${digest[c]}" "$IT_DIR/snapshotter.log"
check "... and c's ready line counts it" \
  grep -Eq "model ${digest[c]} ready in [0-9.]+ ms \(2 layers unpacked, 0 reused; 1 evicted for room; tree built\)" \
  "$IT_DIR/snapshotter.log"
ls=$(mp cache ls --json)
echo "$ls" > "$IT_DIR/ls-running.json"
check "cache ls (daemon running): c in use by 1 snapshot, b by 0" \
  eq "$(field "$ls" c snapshots) $(field "$ls" b snapshots)" "1 0"
check "cache ls: c's size on disk is its files' bytes, none shared" \
  eq "$(field "$ls" c size) $(field "$ls" c shared_bytes)" "${size[c]} 0"
check "cache ls: c is named by its reference (the CLI's store)" \
  eq "$(field "$ls" c 'references[0]')" "$REGISTRY/ml/c:1"
mp cache ls > "$IT_DIR/ls-running.txt" && sed 's/^/     /' "$IT_DIR/ls-running.txt"

rc=0
"${POD_A[@]}" > "$IT_DIR/pod-a2.out" 2>&1 || rc=$?
check "a pod of a again (c in use): $(tail -n 1 "$IT_DIR/pod-a2.out")" eq "$rc" 0
check "... evicts b, never c: cached $(trees)" eq "$(trees)" "a c"

rc=0
"${POD_BIG[@]}" > "$IT_DIR/pod-big.out" 2>&1 || rc=$?
check "a pod of a model bigger than the bound fails: $(grep -m1 'needs' "$IT_DIR/pod-big.out" | cut -c1-300)" eq "$rc" 0
check "... the error names the sizes and the bound" \
  grep -q "needs ${size[big]} bytes; the model cache holds [0-9]* of its max_bytes $MAX in models in use" "$IT_DIR/pod-big.out"
check "... and nothing was evicted for it: cached $(trees)" eq "$(trees)" "a c"

kill -TERM "$MP_PID"
for _ in $(seq 100); do sock_up || break; sleep 0.1; done
sleep 0.5
check "the daemon is stopped" eval '! sock_up'
ls=$(mp cache ls --json)
check "cache ls (daemon stopped): c still in use by 1 snapshot (the daemon's record), a by 0" \
  eq "$(field "$ls" c snapshots) $(field "$ls" a snapshots)" "1 0"
pr=$(mp cache prune --all --json)
echo "$pr" > "$IT_DIR/prune-stopped.json"
check "cache prune --all (daemon stopped) removes a only" \
  eq "$(jq -r '[.removed[].manifest] | join(" ")' <<<"$pr")" "${digest[a]}"
check "... c, in use by the running pod, stays: cached $(trees)" eq "$(trees)" "c"

"$MP_BIN" --root "$MP_ROOT" --address "$MP_SOCK" --log-level debug --config "$CFG" \
  --containerd-root "$IT_DIR/c/root" < /dev/null >> "$IT_DIR/snapshotter.log" 2>&1 &
echo $! > "$IT_DIR/mp.pid"
for _ in $(seq 100); do sock_up && break; sleep 0.1; done
check "the daemon restarted" sock_up
# containerd redials a proxy snapshotter with a backoff: wait until it
# reaches the new daemon, or the pod's teardown cannot remove its snapshot.
ctd_reaches() { $CTR -n k8s.io snapshots --snapshotter modelpack ls > /dev/null 2>&1; }
for _ in $(seq 300); do ctd_reaches && break; sleep 0.1; done
check "containerd reaches the restarted daemon" ctd_reaches
exit $((fails > 0))
EOF

pod "a pod of model c, with checks while it runs" c --while-running "bash $IT_DIR/while-c.sh > $IT_DIR/while-c.out 2>&1"
# The daemon restarted inside that script.
if [ -s "$IT_DIR/mp.pid" ]; then MP_PID=$(cat "$IT_DIR/mp.pid"); fi
while read -r verdict what; do
  case $verdict in
    PASS) it_pass "$what" ;;
    FAIL) it_fail "$what" ;;
    *) echo "    $verdict $what" >&2 ;;
  esac
done < "$IT_DIR/while-c.out"
it_check "the restarted daemon serves" it_sock_accepts "$MP_SOCK"

# ---- prune with the daemon running, then ls without it --------------------------------
pr=$(mp cache prune --older-than 1h --json)
it_expect_eq "cache prune --older-than 1h keeps c (used just now)" "0" "$(jq '.removed | length' <<<"$pr")"
ls=$(mp cache ls --json)
it_expect_eq "cache ls: c used by no snapshot after its pod" "0" \
  "$(jq -r --arg d "${digest[c]}" '.[] | select(.manifest == $d) | .snapshots' <<<"$ls")"
pr=$(mp cache prune --all --json)
it_expect_eq "cache prune --all (daemon running) removes c" "${digest[c]}" \
  "$(jq -r '[.removed[].manifest] | join(" ")' <<<"$pr")"
it_expect_eq "... and frees its bytes" "1" "$(jq --argjson n "${size[c]}" '.freed_bytes >= $n | if . then 1 else 0 end' <<<"$pr")"
it_expect_eq "nothing is cached" "" "$(trees)"
# Not it_stop_snapshotter: the restarted daemon is not this shell's child.
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
kill -TERM "$MP_PID"
it_check "the daemon stops" it_wait_for 10 "the daemon to exit" gone "$MP_PID"
MP_PID=""
it_expect_eq "cache ls (daemon stopped): no model" "0" "$(mp cache ls --json | jq length)"
it_expect_exit "cache prune without --all or --older-than" 2 "--all or --older-than" mp cache prune
it_done
