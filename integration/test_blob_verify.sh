#!/bin/bash
# Layer blob verification ([model_cache] verify_blobs) end to end, through
# the CRI of containerd 2.x the way a kubelet mounts image volumes
# (cri_volume), on our snapshotter with its default config plus metrics and
# mount = "extract".
#
#  1. Once per node: pod A mounts model raw; the daemon hashes every layer
#     blob (verified bytes = the model's layer blob bytes, log "blob digest
#     verified"); pod B on the same model hashes nothing (verified bytes
#     unchanged, 0 layers unpacked).  After `modelpack cache prune --all`
#     took the model, pod C unpacks its layers again without hashing them:
#     the verdicts remembered under models/verified/ vouch for the
#     unchanged blob files (log "verified before on this node", verified
#     bytes unchanged).
#  2. Altered content store: model tar is pulled, then one byte of file
#     data (not a tar header) in its first plain tar layer blob is changed
#     in place in <containerd root>/io.containerd.content.v1.content/
#     blobs/sha256/<hex> (size kept), after the pull and before
#     CreateContainer: with the default config CreateContainer fails with
#     an error naming the blob ("<layer digest>, tar): blob digest
#     mismatch"), and nothing is left: no tree, no work, no verdict.
#  3. verify_blobs = "ingest" (the daemon restarted): the same altered
#     blob mounts, and the pod sees the altered bytes: containerd's check
#     at download is trusted, nothing is hashed (the documented, weaker
#     choice).
#
# usage: test_blob_verify.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

CRI_PULL=${CRI_PULL:-local}
export CRI_PULL
CLI=${CLI:-$IT_BUILD/bin/modelpack}

it_setup blob_verify
if [ "$IT_SN" != modelpack ]; then
  it_fail "this test is for our snapshotter (IT_SNAPSHOTTER=$IT_SN)"
  it_done
fi
t_start=$(date +%s)
it_start_registry

M=$IT_DIR/models
mkdir -p "$M"
declare -A digest
for s in raw tar; do
  if ! bash "$IT_REPO/integration/build-model.sh" "$s" "$M/$s" \
    "$REGISTRY/models/$s:1" > "$M/$s.digest" 2> "$M/$s.build.log"; then
    cat "$M/$s.build.log" >&2
    it_fail "build-model.sh builds and pushes $s"
    it_done
  fi
  digest[$s]=$(tail -n 1 "$M/$s.digest")
done
it_pass "build-model.sh built and pushed raw and tar ($(($(date +%s) - t_start)) s)"

# manifest_file SHAPE: the manifest blob of SHAPE's layout.
manifest_file() {
  echo "$M/$1/blobs/sha256/${digest[$1]#sha256:}"
}
# The raw model's layer blob bytes: what hashing them all once counts.
raw_layer_bytes=$(jq '[.layers[].size] | add' "$(manifest_file raw)")
# The tar model's first plain tar layer: the blob the test alters.
tar_layer=$(jq -r '[.layers[] | select(.mediaType | endswith(".tar"))][0].digest' \
  "$(manifest_file tar)")
if [ -z "$tar_layer" ] || [ "$tar_layer" = null ]; then
  it_fail "model tar has a plain tar layer"
  it_done
fi

PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT/metrics
# The default verify_blobs; only metrics added.
# mount = "extract": the unpacking path (test_index.sh covers the same
# cases for models served from an index over the blobs).
printf '[model_cache]\nmount = "extract"\n\n[metrics]\naddress = "127.0.0.1:%s"\n' "$PORT" > "$IT_DIR/default.toml"
printf '[model_cache]\nverify_blobs = "ingest"\nmount = "extract"\n\n[metrics]\naddress = "127.0.0.1:%s"\n' \
  "$PORT" > "$IT_DIR/ingest.toml"

if ! it_start_snapshotter --config "$IT_DIR/default.toml" \
  --containerd-root "$IT_DIR/c/root"; then
  it_fail "the snapshotter starts with the default verify_blobs"
  it_done
fi
if ! it_start_containerd_cri; then
  it_fail "containerd with the CRI starts"
  it_done
fi
it_pass "containerd $("$CRI_VOLUME" --address "$CRI_SOCK" --ping) with the CRI, snapshotter modelpack (default verify_blobs), metrics on $URL"

# ---- helpers ------------------------------------------------------------------

# verified: the daemon's modelpack_model_cache_verified_bytes_total.
verified() {
  curl -sf "$URL" | awk '$1 == "modelpack_model_cache_verified_bytes_total" { print $2 }'
}

# unpacked_of SANDBOX: "<layers unpacked> <tree built|reused>" from the
# daemon's ready line for the sandbox's volume.
unpacked_of() {
  grep -E "image volume [^ ]*/image-volumes/$1/[0-9a-f]{64}: model .* ready in" \
    "$IT_DIR/snapshotter.log" | tail -n 1 \
    | sed -nE 's/.*\(([0-9]+) layers unpacked, [0-9]+ reused; tree (built|reused)\).*/\1 \2/p'
}

# log_count TEXT: lines of the daemon's log holding TEXT.
log_count() {
  grep -cF -- "$1" "$IT_DIR/snapshotter.log" || true
}

# ---- 1: hashed once per node ----------------------------------------------------

cri_expect_args "$M/raw"
v0=$(verified)
it_expect_eq "[1] nothing verified before any pod" 0 "$v0"
cri_pod "[1] pod A: model raw, exactly its files and hashes" \
  --volume-ref "$REGISTRY/models/raw:1" --exact "${EXPECT[@]}"
v1=$(verified)
it_expect_eq "[1] pod A: every layer blob hashed once (verified bytes = the layers' $raw_layer_bytes blob bytes)" \
  "$raw_layer_bytes" "$v1"
hashed_lines=$(log_count "blob digest verified) as")
it_check "[1] pod A: the log says each layer blob was hashed ($hashed_lines lines 'blob digest verified')" \
  test "$hashed_lines" -ge "$(jq '.layers | length' "$(manifest_file raw)")"
it_expect_eq "[1] no layer blob taken on containerd's word" 0 \
  "$(log_count "vouched for by the source")"

cri_pod "[1] pod B: model raw again" --volume-ref "$REGISTRY/models/raw:1" \
  --exact "${EXPECT[@]}"
it_expect_eq "[1] pod B: nothing unpacked, tree reused" "0 reused" "$(unpacked_of "$SB")"
it_expect_eq "[1] pod B: nothing hashed (verified bytes unchanged)" "$v1" "$(verified)"

# Without a tree (pruned), the layers are unpacked again, from the same
# blob files: the remembered verdicts spare the hash.
if "$CLI" --cache "$MP_ROOT/models" cache prune --all > "$IT_DIR/prune.out" 2>&1; then
  it_pass "[1] modelpack cache prune --all ($(tail -n 1 "$IT_DIR/prune.out"))"
else
  it_fail "[1] modelpack cache prune --all: $(cat "$IT_DIR/prune.out")"
fi
it_check "[1] the raw model's tree is gone" \
  test ! -e "$MP_ROOT/models/trees/${digest[raw]#sha256:}"
memo_lines=$(log_count "blob digest verified before on this node")
cri_pod "[1] pod C: model raw after the prune" --volume-ref "$REGISTRY/models/raw:1" \
  --exact "${EXPECT[@]}"
it_check "[1] pod C: layers unpacked again, tree built ($(unpacked_of "$SB"))" \
  grep -qE '^[1-9][0-9]* built$' <<<"$(unpacked_of "$SB")"
it_expect_eq "[1] pod C: nothing hashed (verified bytes unchanged)" "$v1" "$(verified)"
it_check "[1] pod C: the log says the blobs were verified before on this node" \
  test "$(log_count "blob digest verified before on this node")" -gt "$memo_lines"

# ---- 2: a blob altered in containerd's content store ------------------------------

store_blob=$CTD_ROOT/io.containerd.content.v1.content/blobs/sha256/${tar_layer#sha256:}
# alter.py BLOB OUT: flip one byte of the first non-empty regular file's data
# (not a header) in place; OUT gets "<path> <sha256 of its altered data>".
cat > "$IT_DIR/alter.py" <<'EOF'
import hashlib, os, sys, tarfile
blob, out = sys.argv[1], sys.argv[2]
size = os.path.getsize(blob)
with tarfile.open(blob, "r:") as t:
    m = next(m for m in t.getmembers() if m.isreg() and m.size >= 2)
    off, name, n = m.offset_data, m.name, m.size
with open(blob, "r+b") as f:
    f.seek(off + 1)
    b = f.read(1)
    f.seek(off + 1)
    f.write(bytes([b[0] ^ 0x20]))
    f.seek(off)
    data = f.read(n)
assert os.path.getsize(blob) == size
name = name[2:] if name.startswith("./") else name
with open(out, "w") as f:
    f.write("%s %s\n" % (name, hashlib.sha256(data).hexdigest()))
EOF
cri_pod "[2] model tar with a byte of file data altered in containerd's store after the pull: CreateContainer fails naming the blob" \
  --volume-ref "$REGISTRY/models/tar:1" \
  --expect-create-error "$tar_layer, tar): blob digest mismatch" \
  --before-create "python3 '$IT_DIR/alter.py' '$store_blob' '$IT_DIR/altered.txt'"
grep -h 'CreateContainer error' "$OUT" | sed 's/^info /     /' >&2 || true
read -r altered_path altered_sha < "$IT_DIR/altered.txt" || true
it_check "[2] the blob's size is unchanged ($(stat -c %s "$store_blob") bytes)" \
  test "$(stat -c %s "$store_blob")" = "$(jq --arg d "$tar_layer" '.layers[] | select(.digest == $d) | .size' "$(manifest_file tar)")"
it_check "[2] no tree of model tar" \
  test ! -e "$MP_ROOT/models/trees/${digest[tar]#sha256:}"
it_check "[2] no layer of the altered blob" \
  test ! -e "$MP_ROOT/models/layers/${tar_layer#sha256:}"
it_check "[2] no verdict remembered for the altered blob" \
  test ! -e "$MP_ROOT/models/verified/sha256-${tar_layer#sha256:}"
left=$(find "$MP_ROOT/models/tmp" -mindepth 2 2>/dev/null | head -n 3)
it_expect_eq "[2] no work left in models/tmp" "" "$left"

# ---- 3: "ingest" trusts containerd's check at download ----------------------------

it_stop_snapshotter
if ! it_start_snapshotter --config "$IT_DIR/ingest.toml" \
  --containerd-root "$IT_DIR/c/root"; then
  it_fail "[3] the snapshotter restarts with verify_blobs = \"ingest\""
  it_done
fi
it_pass "[3] the snapshotter restarted with verify_blobs = \"ingest\" (pid $MP_PID)"
cri_pod "[3] verify_blobs = \"ingest\": the altered model mounts; the pod sees the altered $altered_path" \
  --volume-ref "$REGISTRY/models/tar:1" --expect-file "$altered_path:$altered_sha"
it_expect_eq "[3] nothing hashed under \"ingest\" (verified bytes)" 0 "$(verified)"
it_check "[3] the log says the blob was vouched for by the source" \
  grep -q "unpacked layer $tar_layer (tar, .*blob digest vouched for by the source" \
  "$IT_DIR/snapshotter.log"

it_log "$(($(date +%s) - t_start)) s in all"
it_done
