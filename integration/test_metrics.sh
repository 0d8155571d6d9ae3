#!/bin/bash
# The daemon's Prometheus endpoint ([metrics] address), end to end: our
# snapshotter under containerd 2.x with the CRI, image-volume pods run the
# way a kubelet does (cri_volume), scraped while a pod runs and after.
#
#  1. Before any pod: GET /metrics answers 200 with content type
#     text/plain; version=0.0.4, every family has its HELP and TYPE lines;
#     another path answers 404, a request that never ends is cut off.
#  2. Pod A mounts model raw (build-model.sh); scraped while it runs: the
#     model is in use (models{state="in_use"} 1), its bytes are in use.
#  3. Pod B mounts the same model after A: image-volume prepares
#     built 1, hit 1; the model is unused once both pods are gone.
#  4. A pod of bad-traversal fails: prepares refused 1; a Prepare error
#     with code InvalidArgument is counted.
#  5. Counters match what was done: the Prepare histogram counts at least
#     every Prepare the pods made (3 volumes and their containers' root
#     filesystems), _count equals the +Inf bucket, buckets never decrease;
#     unpacked bytes >= the model's file bytes; verified bytes >= its layer
#     blob bytes (verify_blobs = "always"); indexed, evictions and the
#     bound (max_bytes unset) 0.
#  6. CRI-O sync ([crio_store] with poll_seconds = 1): a pass over a missing
#     source succeeds, one over a broken index.json fails: runs >= 2,
#     failures >= 1.
#
# usage: test_metrics.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

CRI_PULL=${CRI_PULL:-local}
export CRI_PULL

it_setup metrics
if [ "$IT_SN" != modelpack ]; then
  it_fail "this test is for our snapshotter (IT_SNAPSHOTTER=$IT_SN)"
  it_done
fi
t_start=$(date +%s)
it_start_registry

M=$IT_DIR/models
mkdir -p "$M"
for s in raw bad-traversal; do
  if ! bash "$IT_REPO/integration/build-model.sh" "$s" "$M/$s" \
    "$REGISTRY/models/$s:1" > "$M/$s.digest" 2> "$M/$s.build.log"; then
    cat "$M/$s.build.log" >&2
    it_fail "build-model.sh builds and pushes $s"
    it_done
  fi
done
it_pass "build-model.sh built and pushed raw and bad-traversal ($(($(date +%s) - t_start)) s)"

PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT/metrics
# mount = "extract": the cache's byte gauges count what it unpacks (a model
# served from an index over containerd's blobs adds no bytes to it).
cat > "$IT_DIR/config.toml" <<EOF
[model_cache]
verify_blobs = "always"
mount = "extract"

[crio_store]
dir = "$IT_DIR/crio"
source = "$IT_DIR/crio-source"
poll_seconds = 1

[metrics]
address = "127.0.0.1:$PORT"
EOF
if ! it_start_snapshotter --config "$IT_DIR/config.toml" \
  --containerd-root "$IT_DIR/c/root"; then
  it_fail "the daemon starts with [metrics] address = \"127.0.0.1:$PORT\""
  it_done
fi
if ! it_start_containerd_cri; then
  it_fail "containerd with the CRI starts"
  it_done
fi
it_pass "containerd $("$CRI_VOLUME" --address "$CRI_SOCK" --ping) with the CRI, snapshotter modelpack, metrics on $URL"

# scrape FILE: GET /metrics into FILE (headers in FILE.headers).
scrape() {
  curl -sS -m 10 -D "$1.headers" -o "$1" "$URL"
}
# metric FILE SAMPLE: the value of SAMPLE (name with its labels, exactly as
# exposed) in FILE, or "absent".
metric() {
  awk -v s="$2" 'index($0, s " ") == 1 { v = substr($0, length(s) + 2) }
    END { print (v == "" ? "absent" : v) }' "$1"
}
# at_least MSG MIN VALUE
at_least() {
  it_check "$1 ($3 >= $2)" awk -v v="$3" -v m="$2" \
    'BEGIN { exit !(v != "absent" && v + 0 >= m + 0) }'
}

FAMILIES="modelpack_snapshots_rpc_duration_seconds:histogram
modelpack_snapshots_rpc_errors_total:counter
modelpack_image_volume_prepares_total:counter
modelpack_image_volume_prepare_duration_seconds:histogram
modelpack_model_cache_verified_bytes_total:counter
modelpack_model_cache_unpacked_bytes_total:counter
modelpack_model_cache_indexed_bytes_total:counter
modelpack_model_cache_evictions_total:counter
modelpack_model_cache_bytes:gauge
modelpack_model_cache_models:gauge
modelpack_model_cache_max_bytes:gauge
modelpack_crio_sync_runs_total:counter
modelpack_crio_sync_failures_total:counter"

# ---- 1: the endpoint --------------------------------------------------------------
S0=$IT_DIR/scrape0
if scrape "$S0"; then
  it_check "[1] GET /metrics: 200, text/plain; version=0.0.4" \
    grep -qiE '^content-type: text/plain; version=0\.0\.4' "$S0.headers"
  missing=""
  for f in $FAMILIES; do
    grep -qx "# TYPE ${f%%:*} ${f##*:}" "$S0" && grep -q "^# HELP ${f%%:*} " "$S0" \
      || missing="$missing ${f%%:*}"
  done
  it_expect_eq "[1] every family has HELP and TYPE lines" "" "$missing"
else
  it_fail "[1] GET $URL answers"
fi
it_expect_eq "[1] another path: 404" 404 \
  "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")"
# A scraper that sends half a request and waits is cut off after the read
# timeout (5 s), and scrapes after it are answered.
t0=$(date +%s)
python3 - "$PORT" <<'EOF' > "$IT_DIR/slow.out" 2>&1 || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metrics HTTP/1.1\r\n")
s.settimeout(30)
print("answer bytes:", len(s.recv(100)))
EOF
it_check "[1] a request that never ends is closed unanswered within 10 s ($(cat "$IT_DIR/slow.out"), $(($(date +%s) - t0)) s)" \
  bash -c "grep -qx 'answer bytes: 0' '$IT_DIR/slow.out' && [ $(($(date +%s) - t0)) -le 10 ]"

# ---- 2 and 3: a model mounted twice ---------------------------------------------------
expect() {
  EXPECT=()
  local h p
  while read -r h p; do EXPECT+=(--expect-file "$p:$h"); done < "$M/$1/expected.txt"
}
run_pod() {
  local label=$1 out=$IT_DIR/pod.$2.out rc=0
  shift 2
  "$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE" \
    --log-dir "$IT_DIR/pods" --snapshotter modelpack --backend "$MP_SOCK" \
    --mount-path /model "$@" > "$out" 2>&1 || rc=$?
  sed 's/^/     /' "$out"
  if [ "$rc" = 0 ]; then it_pass "$label"; else it_fail "$label (exit $rc)"; fi
}
S1=$IT_DIR/scrape-during
expect raw
run_pod "[2] pod A mounts raw; scraped while it runs" a \
  --volume-ref "$REGISTRY/models/raw:1" --name pod-a --exact "${EXPECT[@]}" \
  --while-running "curl -sS -m 10 -o '$S1' '$URL'"
it_expect_eq "[2] while pod A runs: one model in use, none unused" "1 0" \
  "$(metric "$S1" 'modelpack_model_cache_models{state="in_use"}') $(metric "$S1" 'modelpack_model_cache_models{state="unused"}')"
raw_bytes=$(jq -r '[.layers[].size] | add' \
  "$M/raw/blobs/sha256/$(jq -r '.manifests[0].digest' "$M/raw/index.json" | cut -d: -f2)")
at_least "[2] while pod A runs: its bytes are in use" 1 \
  "$(metric "$S1" 'modelpack_model_cache_bytes{state="in_use"}')"
run_pod "[3] pod B mounts raw after pod A" b \
  --volume-ref "$REGISTRY/models/raw:1" --name pod-b --exact "${EXPECT[@]}"

# ---- 4: a bad model ---------------------------------------------------------------------
run_pod "[4] a pod of bad-traversal fails at CreateContainer" bad \
  --volume-ref "$REGISTRY/models/bad-traversal:1" \
  --expect-create-error '".." component'

# ---- 6: CRI-O sync ---------------------------------------------------------------------
# The daemon's first pass found no source (a success); a broken index.json
# makes the next one fail.
mkdir -p "$IT_DIR/crio-source"
echo '{"imageLayoutVersion":"1.0.0"}' > "$IT_DIR/crio-source/oci-layout"
echo 'not json' > "$IT_DIR/crio-source/index.json"
sync_failed() {
  scrape "$IT_DIR/scrape-sync" \
    && [ "$(metric "$IT_DIR/scrape-sync" modelpack_crio_sync_failures_total)" -ge 1 ]
}
it_check "[6] a CRI-O sync pass over a broken index.json is counted as failed" \
  it_wait_for 20 "a failed CRI-O sync pass" sync_failed

# ---- 5: the counters after ------------------------------------------------------------
S2=$IT_DIR/scrape-after
scrape "$S2" || it_fail "[5] GET /metrics after the pods"
vp() { metric "$S2" "modelpack_image_volume_prepares_total{outcome=\"$1\"}"; }
it_expect_eq "[3, 4] image-volume prepares: built 1, hit 1, refused 1" "1 1 1" \
  "$(vp built) $(vp hit) $(vp refused)"
vc() { metric "$S2" "modelpack_image_volume_prepare_duration_seconds_count{outcome=\"$1\"}"; }
it_expect_eq "[3, 4] the prepare duration histogram counts the same" "1 1 1" \
  "$(vc built) $(vc hit) $(vc refused)"
it_expect_eq "[3] after both pods: no model in use, one unused" "0 1" \
  "$(metric "$S2" 'modelpack_model_cache_models{state="in_use"}') $(metric "$S2" 'modelpack_model_cache_models{state="unused"}')"
at_least "[4] Prepare errors with code InvalidArgument" 1 \
  "$(metric "$S2" 'modelpack_snapshots_rpc_errors_total{method="Prepare",code="InvalidArgument"}')"
# containerd's Prepare calls as our daemon logged them (debug level).
prepares=$(grep -c 'msg="prepare key=' "$IT_DIR/snapshotter.log" || true)
pc=$(metric "$S2" 'modelpack_snapshots_rpc_duration_seconds_count{method="Prepare"}')
at_least "[5] the Prepare histogram counts every Prepare logged" "$prepares" "$pc"
at_least "[5] ... at least the 3 volumes and 2 containers' root filesystems" 5 "$pc"
it_expect_eq "[5] Prepare: _count equals the +Inf bucket" "$pc" \
  "$(metric "$S2" 'modelpack_snapshots_rpc_duration_seconds_bucket{method="Prepare",le="+Inf"}')"
it_check "[5] Prepare buckets never decrease" awk '
  index($0, "modelpack_snapshots_rpc_duration_seconds_bucket{method=\"Prepare\",") == 1 {
    if ($2 + 0 < last) bad = 1; last = $2 + 0 }
  END { exit bad }' "$S2"
at_least "[5] Remove calls are timed too" 3 \
  "$(metric "$S2" 'modelpack_snapshots_rpc_duration_seconds_count{method="Remove"}')"
at_least "[5] unpacked bytes >= the model's layer bytes (raw layers are its files)" \
  "$raw_bytes" "$(metric "$S2" modelpack_model_cache_unpacked_bytes_total)"
at_least "[5] verified bytes >= the model's layer blob bytes (verify_blobs = always)" \
  "$raw_bytes" "$(metric "$S2" modelpack_model_cache_verified_bytes_total)"
it_expect_eq "[5] indexed bytes, evictions and the bound are 0 (no bound set)" "0 0 0" \
  "$(metric "$S2" modelpack_model_cache_indexed_bytes_total) $(metric "$S2" modelpack_model_cache_evictions_total) $(metric "$S2" modelpack_model_cache_max_bytes)"
at_least "[5] the unused model's bytes are counted as unused" 1 \
  "$(metric "$S2" 'modelpack_model_cache_bytes{state="unused"}')"
at_least "[6] CRI-O sync runs (one success, one failure)" 2 \
  "$(metric "$S2" modelpack_crio_sync_runs_total)"
grep -E '^modelpack_(image_volume_prepares|model_cache|crio_sync)[a-z_]*[{ ]' "$S2" \
  | sed 's/^/     /' >&2

it_check "the daemon stops cleanly" it_stop_snapshotter
it_log "total $(($(date +%s) - t_start)) s"
it_done
