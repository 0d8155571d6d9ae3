#!/bin/bash
# Models served from an EROFS index over containerd's blobs ([model_cache]
# mount = "erofs"), through containerd 2.x's CRI, on what only the index
# path has:
#
#  1. Zero copy: a plain tar model's pod sees exactly its files; its tree
#     is an erofs mount; models/layers holds nothing for it and the index
#     is a few KiB; a second pod reuses the mount.
#  2. A blob gone while a pod runs (containerd's garbage collection, played
#     by removing the file from the content directory): the running pod's
#     files still read back whole (the mount holds the blob); the next
#     Prepare does not serve the dangling index: it fails naming the blob;
#     once the blob is back (a new file) a pod gets the model again, the
#     blob verified and mounted anew.
#  3. Corrupted data: a plain tar layer whose file data (not a header) is
#     altered inside containerd's content store after the pull fails the
#     container with the default config, naming the blob; nothing of the
#     model stays in trees/.
#  4. Crash: SIGKILL while the daemon verifies a large plain tar model's
#     blob (before its index exists): no trees/<model> of any kind is left
#     to serve; after a restart a pod gets the complete model.
#  5. Loop devices (mount = "loop", the path of Linux 6.4-6.11): a model
#     mounts from /dev/loop* and reads back exactly.
#
# usage: test_index.sh
# Environment: INDEX_BIG_MIB (default 768) the crash test model's size.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

BIG_MIB=${INDEX_BIG_MIB:-768}
CRI_PULL=${CRI_PULL:-local}
export CRI_PULL

it_setup index
if [ "$IT_SN" != modelpack ]; then
  it_fail "this test is for our snapshotter (IT_SNAPSHOTTER=$IT_SN)"
  it_done
fi
it_start_registry
M=$IT_DIR/models
mkdir -p "$M"
declare -A digest

for s in tar nested raw overlap; do
  if bash "$IT_REPO/integration/build-model.sh" "$s" "$M/$s" \
    "$REGISTRY/models/$s:1" > "$M/$s.digest" 2> "$M/$s.log"; then
    digest[$s]=$(tail -n 1 "$M/$s.digest")
  else
    cat "$M/$s.log" >&2
    it_fail "build-model.sh $s"
    it_done
  fi
done

# The crash test's model: one plain tar layer of BIG_MIB MiB (4 files).
python3 - "$M/big" "$BIG_MIB" > "$M/big.digest" <<'EOF'
import hashlib, io, json, os, sys, tarfile
out, mib = sys.argv[1], int(sys.argv[2])
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def put(data_path):
    h = hashlib.sha256()
    with open(data_path, "rb") as f:
        for c in iter(lambda: f.read(1 << 20), b""):
            h.update(c)
    d = h.hexdigest()
    os.rename(data_path, "%s/blobs/sha256/%s" % (out, d))
    return "sha256:" + d, os.path.getsize("%s/blobs/sha256/%s" % (out, d))
def put_bytes(b):
    p = out + "/tmp"
    with open(p, "wb") as f:
        f.write(b)
    return put(p)
expected = []
tmp = out + "/layer.tar"
with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as t:
    per = mib // 4
    for i in range(4):
        block = bytearray(hashlib.sha256(b"%d" % i).digest() * 32768)  # 1 MiB
        data = io.BytesIO()
        h = hashlib.sha256()
        for j in range(per):
            block[0:8] = j.to_bytes(8, "little")
            data.write(block)
            h.update(block)
        ti = tarfile.TarInfo("weights/part-%d.bin" % i)
        ti.size = per << 20
        ti.mode = 0o644
        ti.mtime = 1735787045
        data.seek(0)
        t.addfile(ti, data)
        expected.append((h.hexdigest(), "weights/part-%d.bin" % i))
ld, ls = put(tmp)
cfg = json.dumps({"descriptor": {"name": "big"}, "config": {},
                  "modelfs": {"type": "layers", "diffIds": [ld]}}).encode()
cd, cs = put_bytes(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "artifactType": "application/vnd.cncf.model.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.cncf.model.config.v1+json", "digest": cd, "size": cs},
                  "layers": [{"mediaType": "application/vnd.cncf.model.weight.v1.tar", "digest": ld, "size": ls}]}).encode()
md, ms = put_bytes(man)
with open(out + "/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
               "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, f)
with open(out + "/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(out + "/expected.txt", "w") as f:
    for h, n in expected:
        f.write("%s  %s\n" % (h, n))
print(md)
EOF
if skopeo copy --quiet --dest-tls-verify=false "oci:$M/big:1" \
  "docker://$REGISTRY/models/big:1" 2> "$M/big.log"; then
  digest[big]=$(tail -n 1 "$M/big.digest")
  it_pass "models built and pushed: tar nested raw overlap, big ($BIG_MIB MiB plain tar)"
else
  cat "$M/big.log" >&2
  it_fail "the big model is pushed"
  it_done
fi

hex() { echo "${digest[$1]#sha256:}"; }
fstype() { findmnt -n -o FSTYPE --mountpoint "$1" 2>/dev/null || true; }
# The digest (hex) of the layer of model S whose media type ends with SUFFIX.
layer_of() {
  local m=$M/$1/blobs/sha256/$(hex "$1")
  jq -r --arg s "$2" '.layers[] | select(.mediaType | endswith($s)) | .digest' "$m" \
    | head -n 1 | cut -d: -f2
}
start_daemon() {
  printf '[model_cache]\nmount = "%s"\n' "$1" > "$IT_DIR/mode-$1.toml"
  it_start_snapshotter --config "$IT_DIR/mode-$1.toml" --containerd-root "$IT_DIR/c/root"
}
BLOBS=$IT_DIR/c/root/io.containerd.content.v1.content/blobs/sha256

if ! start_daemon erofs || ! it_start_containerd_cri; then
  it_fail "snapshotter (mount = \"erofs\") and containerd with the CRI start"
  it_done
fi
it_pass "snapshotter (mount = \"erofs\") and containerd $("$CRI_VOLUME" --address "$CRI_SOCK" --ping) with the CRI"

# ---- 1: zero copy ---------------------------------------------------------------
T=$MP_ROOT/models/trees
cri_expect_args "$M/tar"
cri_pod "[1 tar] exactly the files, hashes and modes of the model, read-only" \
  --volume-ref "$REGISTRY/models/tar:1" --exact "${EXPECT[@]}"
it_expect_eq "[1 tar] trees/<tar> is an erofs mount" erofs "$(fstype "$T/$(hex tar)")"
it_expect_eq "[1 tar] models/layers holds nothing: the blobs are the files" "" \
  "$(ls -A "$MP_ROOT/models/layers")"
isize=$(stat -c %s "$T/$(hex tar).erofs")
msize=$(du -sb "$M/tar/blobs" | cut -f1)
it_log "index $isize bytes for a model of $msize bytes of blobs"
it_check "[1 tar] the index is under 1% of the model's blobs ($isize of $msize bytes)" \
  test $((isize * 100)) -lt "$msize"
cri_pod "[1 tar] a second pod sees the same files" \
  --volume-ref "$REGISTRY/models/tar:1" --exact "${EXPECT[@]}"
it_expect_eq "[1 tar] one index mount for both pods" 1 \
  "$(findmnt -n -l -o TARGET | grep -c "^$T/$(hex tar)\$")"

# ---- 2: a blob gone while a pod runs ------------------------------------------------
cri_expect_args "$M/nested"
gone=$(layer_of nested .tar)
cat > "$IT_DIR/gone.sh" <<EOF
#!/bin/bash
set -e
mv "$BLOBS/$gone" "$IT_DIR/saved-blob"
# The running pod's mount keeps the blob: every file reads back whole.
(cd "$T/$(hex nested)" && sha256sum -c --quiet "$M/nested/expected.txt") \
  > "$IT_DIR/gone-read.out" 2>&1 && echo ok >> "$IT_DIR/gone-read.out"
$(printf '%q ' "$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE" \
  --log-dir "$IT_DIR/pods" --snapshotter modelpack --backend "$MP_SOCK" \
  --mount-path /model --name gone-b --volume-ref "$REGISTRY/models/nested:1" \
  --if-not-present --expect-create-error "$gone") > "$IT_DIR/gone-b.out" 2>&1 || true
EOF
cri_pod "[2 nested] pod A runs; meanwhile its tar blob leaves containerd's content directory" \
  --volume-ref "$REGISTRY/models/nested:1" --name gone-a --exact "${EXPECT[@]}" \
  --while-running "bash $IT_DIR/gone.sh"
it_check "[2 nested] with the blob gone, the running model's files still read back whole" \
  grep -qx ok "$IT_DIR/gone-read.out"
sed 's/^/     pod B: /' "$IT_DIR/gone-b.out"
it_check "[2 nested] the next Prepare refuses to serve the dangling index, naming the blob" \
  grep -q '^cri_volume: [0-9]* passed, 0 failed$' "$IT_DIR/gone-b.out"
it_check "[2 nested] ... the daemon says why" \
  grep -q "sha256:$gone" "$IT_DIR/snapshotter.log"
cp "$IT_DIR/saved-blob" "$BLOBS/$gone"
cri_pod "[2 nested] the blob back (a new file): a pod gets the model again" \
  --volume-ref "$REGISTRY/models/nested:1" --name gone-c --if-not-present --exact "${EXPECT[@]}"
it_expect_eq "[2 nested] mounted anew over the new file" 2 \
  "$(grep -c "mounted the index of ${digest[nested]} " "$IT_DIR/snapshotter.log")"

# ---- 3: corrupted data in containerd's store -------------------------------------
# overlap's first tar layer (docs/): one byte of a file's data flipped in
# containerd's copy after the pull, before any Prepare.
bad=$(layer_of overlap .tar)
cat > "$IT_DIR/corrupt.sh" <<EOF
python3 - "$BLOBS/$bad" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    m = next(m for m in t.getmembers() if m.isfile() and m.size > 0)
with open(sys.argv[1], "r+b") as f:
    f.seek(m.offset_data); b = f.read(1); f.seek(m.offset_data)
    f.write(bytes([b[0] ^ 0x20]))
PY
EOF
cri_pod "[3 overlap] file data altered in containerd's store: CreateContainer fails naming the blob" \
  --volume-ref "$REGISTRY/models/overlap:1" --before-create "bash $IT_DIR/corrupt.sh" \
  --expect-create-error "sha256:$bad"
it_check "[3 overlap] nothing of the model in trees/" \
  test -z "$(ls -A "$T" | grep "^$(hex overlap)")"

# ---- 4: crash while verifying ----------------------------------------------------------
h=$(hex big)
big_layer=$(layer_of big .tar)
cri_expect_args "$M/big"
cri_cmd --volume-ref "$REGISTRY/models/big:1" --name crash --expect-create-error "image volume"
"${CMD[@]}" > "$IT_DIR/crash.out" 2>&1 &
cpid=$!
seen=""
for ((i = 0; i < 600; i++)); do
  if ls -l "/proc/$MP_PID/fd" 2>/dev/null | grep -q "$big_layer"; then seen=yes; break; fi
  sleep 0.05
done
if [ -n "$seen" ]; then
  it_stop_snapshotter -9
  it_pass "[4] SIGKILL while the daemon reads the big blob"
  it_check "[4] after the kill: no trees/<big>, .layers, .erofs or .mounted" \
    test -z "$(ls -A "$T" | grep "^$h")"
else
  it_fail "[4] the daemon is seen reading the big blob"
  it_stop_snapshotter -9
fi
if ! start_daemon erofs; then
  it_fail "[4] the snapshotter restarts"
  it_done
fi
wait "$cpid" || true
cri_pod "[4] retry: the complete big model, every file's hash" \
  --volume-ref "$REGISTRY/models/big:1" --name crash-retry --if-not-present --exact "${EXPECT[@]}"
it_expect_eq "[4] served from its index" erofs "$(fstype "$T/$h")"

# ---- 5: loop devices -------------------------------------------------------------
it_stop_snapshotter
if ! start_daemon loop; then
  it_fail "[5] the snapshotter restarts with mount = \"loop\""
  it_done
fi
cri_expect_args "$M/raw"
cri_pod "[5 raw] mount = \"loop\": exactly the files, hashes and modes" \
  --volume-ref "$REGISTRY/models/raw:1" --exact "${EXPECT[@]}"
src=$(findmnt -n -o SOURCE --mountpoint "$T/$(hex raw)" || true)
it_check "[5 raw] trees/<raw> is an erofs mount of a loop device ($src)" \
  test "$(fstype "$T/$(hex raw)")" = erofs -a "${src#/dev/loop}" != "$src"

it_stop_containerd
it_check "snapshotter exits 0 on SIGTERM" it_stop_snapshotter
it_done
