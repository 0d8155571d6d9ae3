#!/bin/bash
# ModelPack models as Kubernetes image volumes, end to end through the CRI
# of containerd 2.x the way a kubelet does it (cri_volume: host-network pod,
# PullImage, CreateContainer with Mount.image, ExecSync), on our
# snapshotter: the acceptance items of the feature.
#
#  1. Shapes (build-model.sh): raw, tar, targz, tarzst, nested, overlap,
#     legacy, lax-modes (served without group/other write, sticky or
#     setuid bits, whatever the layers ask), and a model pushed by `oras push` (build-model.sh oras-push):
#     each mounted at /model shows exactly the files of expected.txt with
#     those hashes, the modes of expected-modes.txt, and is read-only.
#  2. Sharing: a second pod mounting the model while the first still runs
#     unpacks nothing ("0 layers unpacked ... tree reused" in the daemon's
#     log line for its volume) and is ready in under 50 ms by that line;
#     a second model (legacy) sharing raw layers with the first (raw)
#     reuses them ("N reused", N > 0): the shared files are one inode in
#     both trees and the layer store grows by less than their bytes.
#     With the default config (verify_blobs = "once"), layer blobs in
#     containerd's content directory are hashed at their first unpack, not
#     taken on containerd's word; the log shows it.
#  3. Bad artifacts (bad-digest, bad-diffid, bad-traversal, bad-absolute,
#     bad-symlink, bad-mediatype, and the hostile ones: bad-bomb, bad-sparse,
#     bad-abslink, bad-ctrlname, bad-rawsize), with verify_blobs = "always" (the daemon
#     restarted; bad-digest corrupts containerd's stored copy behind its
#     back, which the default "once" catches as well, "ingest" not:
#     integration/test_blob_verify.sh): CreateContainer fails with an error that
#     names the problem, and nothing is left: no work in models/tmp, no
#     trees/ entry for the manifest, no unpack work directory anywhere under
#     models/, no snapshot of the volume (containerd's view and the
#     backend's List).
#  4. Crash: a large tar+zstd model; the snapshotter is killed (SIGKILL)
#     while it unpacks; CreateContainer fails; no tree of that model was
#     ever visible; after a restart on the same root the leftovers in
#     models/tmp are gone and a new pod gets the complete model.
#  5. Docker Model Runner (shape dmr): containerd 2.x's own unpack step
#     refuses the pull ("mismatched image rootfs and manifest layers": the
#     config's rootfs.diff_ids name blobs that are not layers to it) before
#     the snapshotter is asked; the day it does not, dmr joins GOOD_SHAPES
#     (docs/image-volumes.md).
#
# Every item runs in the mount mode MODEL_MOUNT_MODE ([model_cache] mount:
# extract, the default here, erofs or loop; test_model_volume_erofs.sh and
# test_model_volume_loop.sh run the others).  In the index modes a model of
# raw and plain tar layers is served from an EROFS index over containerd's
# blobs: nothing is unpacked and models/layers stays empty for it, its
# tree is an erofs mount; compressed models are unpacked as in extract.
#
# usage: test_model_volume.sh
# Environment: MODEL_BIG_MIB (default 1024) the crash test model's size
# (two tar+zstd layers of half of it each); MODEL_READY_MS (default 50)
# the bound on the second pod's ready time; CRI_PULL (lib_cri.sh, default
# local).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

BIG_MIB=${MODEL_BIG_MIB:-1024}
READY_MS=${MODEL_READY_MS:-50}
GOOD_SHAPES="raw tar targz tarzst nested overlap legacy lax-modes"
# Docker Model Runner's shape: containerd refuses it before we see it (5).
OTHER_SHAPES="dmr"
BAD_SHAPES="bad-digest bad-diffid bad-traversal bad-absolute bad-symlink bad-mediatype
  bad-bomb bad-sparse bad-abslink bad-ctrlname bad-rawsize"
CRI_PULL=${CRI_PULL:-local}
export CRI_PULL
MODE=${MODEL_MOUNT_MODE:-extract}
case $MODE in
  extract) INDEXED="" ;;
  erofs | loop) INDEXED=yes ;;
  *) echo "MODEL_MOUNT_MODE=$MODE: expected extract, erofs or loop" >&2; exit 2 ;;
esac

it_setup "model_volume${INDEXED:+_$MODE}"
printf '[model_cache]\nmount = "%s"\n' "$MODE" > "$IT_DIR/mode.toml"
if [ "$IT_SN" != modelpack ]; then
  it_fail "this test is for our snapshotter (IT_SNAPSHOTTER=$IT_SN)"
  it_done
fi
t_start=$(date +%s)
it_start_registry

# ---- artifacts --------------------------------------------------------------

M=$IT_DIR/models
mkdir -p "$M"
declare -A digest

# bad_blob: the hex digest of the blob bad-digest's layout corrupts (its
# first weight file).
bad_blob() {
  jq -r '.layers[] | select(.mediaType | endswith(".weight.v1.raw")) | .digest' \
    "$M/bad-digest/blobs/sha256/$(jq -r '.manifests[0].digest' "$M/bad-digest/index.json" | cut -d: -f2)" \
    | head -n 1 | cut -d: -f2
}

# build SHAPE: build-model.sh's layout for SHAPE under $M, pushed to
# $REGISTRY/models/SHAPE:1; digest[SHAPE] = its manifest digest.
build() {
  local s=$1 dest=$REGISTRY/models/$1:1
  if [ "$s" = bad-digest ]; then
    # The registry would serve the corrupt blob, and containerd checks every
    # blob it fetches: PullImage would fail, not CreateContainer.  Push the
    # intact artifact; the test corrupts containerd's stored copy of the
    # blob instead (the content store on disk: what our digest check is
    # for).  flip_byte is its own inverse: the copy is the intact layout.
    bash "$IT_REPO/integration/build-model.sh" "$s" "$M/$s" > "$M/$s.digest"
    cp -a "$M/$s" "$M/$s.intact"
    python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4096); b = f.read(1); f.seek(4096); f.write(bytes([b[0] ^ 0xFF]))' \
      "$M/$s.intact/blobs/sha256/$(bad_blob)"
    skopeo copy --quiet --dest-tls-verify=false "oci:$M/$s.intact:1" "docker://$dest"
  else
    bash "$IT_REPO/integration/build-model.sh" "$s" "$M/$s" "$dest" > "$M/$s.digest"
  fi
}

# The oras-pushed model: its own files (oras names them by path; no modes).
oras_src=$M/oras-src
mkdir -p "$oras_src/weights" "$oras_src/tokenizer"
head -c 300000 /dev/zero | openssl enc -aes-128-ctr -nosalt \
  -K 000000000000000000000000000000aa -iv 0 > "$oras_src/weights/model.safetensors"
echo '{"model_type": "oras-tiny", "hidden_size": 16}' > "$oras_src/config.json"
echo '{"version": "1.0", "vocab": {"x": 0}}' > "$oras_src/tokenizer/tokenizer.json"
printf '# oras-pushed\n' > "$oras_src/README.md"

build_all() {
  local s pids=() rc=0 p
  # Two at a time: every shape is a few seconds of jq, tar and zstd.
  for s in $GOOD_SHAPES $BAD_SHAPES $OTHER_SHAPES; do
    build "$s" > "$M/$s.build.log" 2>&1 &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then
      wait "${pids[0]}" || rc=1
      pids=("${pids[@]:1}")
    fi
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  if ! bash "$IT_REPO/integration/build-model.sh" oras-push "$oras_src" \
    "$REGISTRY/models/oras-push:1" "$M/oras-push" > "$M/oras-push.digest" \
    2> "$M/oras-push.build.log"; then
    rc=1
  fi
  return $rc
}
if ! build_all; then
  for f in "$M"/*.build.log; do
    [ -s "$f" ] && { echo "--- $f"; cat "$f"; }
  done >&2
  it_fail "build-model.sh builds and pushes every shape"
  it_done
fi
for s in $GOOD_SHAPES $BAD_SHAPES $OTHER_SHAPES oras-push; do
  digest[$s]=$(tail -n 1 "$M/$s.digest")
done
it_pass "build-model.sh built and pushed $GOOD_SHAPES $BAD_SHAPES oras-push ($(($(date +%s) - t_start)) s)"

# The crash test's model: two tar+zstd layers of BIG_MIB/2 each, files of
# 64 MiB whose bytes are a seeded 1 MiB block repeated (each 1 MiB chunk
# carries its index): quick to generate, small to push and pull (zstd finds
# the repeats), but all of it is written and hashed by the unpacker.
make_big_model() {
  python3 - "$M/big" "$BIG_MIB" <<'EOF'
import hashlib, io, json, os, random, subprocess, sys, tarfile
out, total_mib = sys.argv[1], int(sys.argv[2])
os.makedirs(out + "/blobs/sha256", exist_ok=True)
MTIME = 1735787045  # 2025-01-02T03:04:05Z
FILE_MIB = 64
nfiles = max(2, total_mib // FILE_MIB)
layers_files = [list(range(0, nfiles // 2)), list(range(nfiles // 2, nfiles))]

class Gen(io.RawIOBase):
    """The bytes of file SEED: chunk i is the seed's 1 MiB block with i in
    its first 8 bytes."""
    def __init__(self, seed, mib):
        self.block = bytearray(random.Random(seed).randbytes(1 << 20))
        self.mib, self.i, self.pos, self.h = mib, 0, 0, hashlib.sha256()
    def readinto(self, b):
        if self.i >= self.mib:
            return 0
        if self.pos == 0:
            self.block[0:8] = self.i.to_bytes(8, "little")
        n = min(len(b), (1 << 20) - self.pos)
        b[:n] = self.block[self.pos:self.pos + n]
        self.h.update(memoryview(b)[:n])
        self.pos += n
        if self.pos == 1 << 20:
            self.pos, self.i = 0, self.i + 1
        return n
    def readable(self):
        return True

class HashingWriter(io.RawIOBase):
    def __init__(self, f):
        self.f, self.h = f, hashlib.sha256()
    def write(self, b):
        self.h.update(b)
        return self.f.write(b)
    def writable(self):
        return True

def put(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    d = h.hexdigest()
    os.rename(path, "%s/blobs/sha256/%s" % (out, d))
    return "sha256:" + d, os.path.getsize("%s/blobs/sha256/%s" % (out, d))

expected, layers, diff_ids = [], [], []
for li, files in enumerate(layers_files):
    tmp = "%s/layer%d.tmp" % (out, li)
    with open(tmp, "wb") as blob:
        z = subprocess.Popen(["zstd", "-q", "-3", "-T2", "-c"], stdin=subprocess.PIPE, stdout=blob)
        hw = HashingWriter(z.stdin)
        with tarfile.open(fileobj=hw, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20) as t:
            ti = tarfile.TarInfo("weights")
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, MTIME
            t.addfile(ti)
            for fi in files:
                name = "weights/shard-%03d.bin" % fi
                g = Gen(1000 + fi, FILE_MIB)
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.mtime = FILE_MIB << 20, 0o644, MTIME
                t.addfile(ti, io.BufferedReader(g, 1 << 20))
                expected.append((g.h.hexdigest(), name))
        z.stdin.close()
        if z.wait() != 0:
            sys.exit("zstd failed")
    diff_ids.append("sha256:" + hw.h.hexdigest())
    d, size = put(tmp)
    layers.append({"mediaType": "application/vnd.cncf.model.weight.v1.tar+zstd",
                   "digest": d, "size": size,
                   "annotations": {"org.cncf.model.filepath": "weights",
                                   "org.cncf.model.file.mediatype.untested": "true"}})
cfg = "%s/config.tmp" % out
with open(cfg, "w") as f:
    json.dump({"descriptor": {"name": "big", "version": "1.0",
                              "createdAt": "2025-01-02T03:04:05Z"},
               "config": {"format": "safetensors", "paramSize": "0.5B"},
               "modelfs": {"type": "layers", "diffIds": diff_ids}}, f)
cd, cs = put(cfg)
man = "%s/manifest.tmp" % out
with open(man, "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "artifactType": "application/vnd.cncf.model.manifest.v1+json",
               "config": {"mediaType": "application/vnd.cncf.model.config.v1+json",
                          "digest": cd, "size": cs},
               "layers": layers}, f)
md, ms = put(man)
with open(out + "/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                              "digest": md, "size": ms,
                              "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, f)
with open(out + "/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(out + "/expected.txt", "w") as f:
    for h, n in sorted(expected, key=lambda e: e[1]):
        f.write("%s  %s\n" % (h, n))
print(md)
EOF
}
t0=$(date +%s)
if digest[big]=$(make_big_model 2> "$M/big.build.log") \
  && skopeo copy --quiet --dest-tls-verify=false "oci:$M/big:1" \
    "docker://$REGISTRY/models/big:1" >> "$M/big.build.log" 2>&1; then
  it_pass "crash test model: $(wc -l < "$M/big/expected.txt") files, $BIG_MIB MiB in 2 tar+zstd layers ($(du -sh "$M/big/blobs" | cut -f1) of blobs), built and pushed in $(($(date +%s) - t0)) s"
else
  cat "$M/big.build.log" >&2
  it_fail "crash test model builds and pushes"
  digest[big]=""
fi

# ---- helpers ------------------------------------------------------------------

# ready_line SANDBOX: the daemon's "image volume ...: model ... ready in"
# line for the sandbox's volume; READY_MS_GOT, UNPACKED, REUSED, TREE from
# it.
ready_line() {
  local line
  line=$(grep -E "image volume [^ ]*/image-volumes/$1/[0-9a-f]{64}: model .* ready in" \
    "$IT_DIR/snapshotter.log" | tail -n 1) || true
  READY_LINE=${line#*image volume }
  READY_MS_GOT=$(sed -nE 's/.* ready in ([0-9.]+) ms .*/\1/p' <<<"$line")
  UNPACKED=$(sed -nE 's/.*\(([0-9]+) layers unpacked, .*/\1/p' <<<"$line")
  REUSED=$(sed -nE 's/.* unpacked, ([0-9]+) reused; .*/\1/p' <<<"$line")
  TREE=$(sed -nE 's/.*; tree (built|reused)\).*/\1/p' <<<"$line")
  [ -n "$line" ]
}

# models_clean HEX: what a failed or finished Prepare of manifest HEX must
# leave: models/tmp holds only the live daemon's own work directory, empty;
# no trees/HEX or trees/HEX.layers; no unpack work directory (".unpack-*")
# anywhere under models/.  Prints what is wrong, returns 1 if anything.
models_clean() {
  local hex=$1 root=$MP_ROOT/models bad=0 e
  for e in "$root"/tmp/* "$root"/tmp/.[!.]*; do
    [ -e "$e" ] || continue
    case ${e##*/} in
      "$MP_PID".*)
        if [ -n "$(ls -A "$e")" ]; then
          echo "     leftover in the live work directory: $(ls -A "$e" | tr '\n' ' ')"
          bad=1
        fi
        ;;
      *)
        echo "     leftover in models/tmp: ${e##*/}"
        bad=1
        ;;
    esac
  done
  for e in "$root/trees/$hex" "$root/trees/$hex".{layers,erofs,mounted}; do
    if [ -e "$e" ]; then
      echo "     $e exists"
      bad=1
    fi
  done
  e=$(find "$root" -name '.unpack-*' 2>/dev/null)
  if [ -n "$e" ]; then
    echo "     unpack work directories: $e"
    bad=1
  fi
  return $bad
}

# has_match GLOB: something matches GLOB.
has_match() {
  compgen -G "$1" > /dev/null
}

# ctr_volume_snapshots HEX: containerd's snapshots (namespace k8s.io,
# snapshotter modelpack) of an image volume of manifest HEX.
ctr_volume_snapshots() {
  local all
  if ! all=$($CTR -n k8s.io snapshots --snapshotter modelpack ls 2>&1); then
    echo "ctr snapshots ls failed: $all"
    return 0
  fi
  grep -E "/image-volumes/[0-9a-f]+/$1( |$)" <<<"$all" || true
}

# ---- start ---------------------------------------------------------------------

it_start_snapshotter --config "$IT_DIR/mode.toml" --containerd-root "$IT_DIR/c/root"
if ! it_start_containerd_cri; then
  it_fail "containerd with the CRI starts"
  it_done
fi
it_pass "containerd $("$CRI_VOLUME" --address "$CRI_SOCK" --ping) with the CRI ($CRI_PULL pull) on $CRI_SOCK, snapshotter modelpack, mount = \"$MODE\""

# fstype DIR: the filesystem mounted at DIR ("" if DIR is no mount point).
fstype() {
  findmnt -n -o FSTYPE --mountpoint "$1" 2>/dev/null || true
}

# ---- 1 and 2: shapes; a second pod on the first model; a second model -----------

hex() { echo "${digest[$1]#sha256:}"; }
summary=()

# The first model, raw, with a second pod on it while the first runs.
cri_expect_args "$M/raw"
cri_cmd --volume-ref "$REGISTRY/models/raw:1" --name pod-b --exact "${EXPECT[@]}"
printf '#!/bin/sh\nexec' > "$IT_DIR/pod-b.sh"
printf ' %q' "${CMD[@]}" >> "$IT_DIR/pod-b.sh"
printf ' > %q 2>&1\n' "$IT_DIR/pod-b.out" >> "$IT_DIR/pod-b.sh"
cri_pod "[1 raw] pod A: exactly the files, hashes and modes of expected.txt, read-only; pod B runs meanwhile" \
  --volume-ref "$REGISTRY/models/raw:1" --name pod-a --exact --list "${EXPECT[@]}" \
  --while-running "sh $IT_DIR/pod-b.sh"
sb_a=$SB
sed 's/^/     pod B: /' "$IT_DIR/pod-b.out"
sb_b=$(sed -n 's/^info sandbox \([0-9a-f]*\) in .*/\1/p' "$IT_DIR/pod-b.out" | head -n 1)
it_check "[2 raw] pod B (while pod A runs): the same files, hashes and modes ($(tail -n 1 "$IT_DIR/pod-b.out"))" \
  grep -q '^cri_volume: [0-9]* passed, 0 failed$' "$IT_DIR/pod-b.out"
if ready_line "$sb_a"; then
  ready_a=$READY_MS_GOT
  it_log "pod A: $READY_LINE"
  if [ -n "$INDEXED" ]; then
    it_expect_eq "[2 raw] pod A builds the tree as an index: 0 layers unpacked, 0 reused, tree built" \
      "0 0 built" "$UNPACKED $REUSED $TREE"
    it_check "[2 raw] the daemon mounted the index of raw over its 8 blobs ($MODE)" \
      grep -q "mounted the index of ${digest[raw]} over 8 blobs ($MODE)" "$IT_DIR/snapshotter.log"
    it_expect_eq "[2 raw] trees/<raw> is an erofs mount" erofs \
      "$(fstype "$MP_ROOT/models/trees/$(hex raw)")"
  else
    it_expect_eq "[2 raw] pod A builds the tree: 8 layers unpacked, 0 reused, tree built" \
      "8 0 built" "$UNPACKED $REUSED $TREE"
  fi
  summary+=("pod A (first mount of raw): ready in $READY_MS_GOT ms, $UNPACKED unpacked, $REUSED reused, tree $TREE")
else
  it_fail "[2 raw] the daemon logs 'model ... ready in' for pod A's volume"
fi
if [ -n "$sb_b" ] && ready_line "$sb_b"; then
  it_log "pod B: $READY_LINE"
  it_expect_eq "[2 raw] pod B unpacks nothing: 0 layers unpacked, tree reused" \
    "0 reused" "$UNPACKED $TREE"
  it_check "[2 raw] pod B's volume is ready in under $READY_MS ms ($READY_MS_GOT ms; pod A: ${ready_a:-?} ms)" \
    awk -v t="$READY_MS_GOT" -v max="$READY_MS" 'BEGIN { exit !(t + 0 < max + 0) }'
  summary+=("pod B (raw again, pod A running): ready in $READY_MS_GOT ms, $UNPACKED unpacked, $REUSED reused, tree $TREE")
else
  it_fail "[2 raw] the daemon logs 'model ... ready in' for pod B's volume"
fi
# The mode check can fail: a wrong mode is caught (and no other check
# breaks on that run).
cri_cmd --volume-ref "$REGISTRY/models/raw:1" --expect-mode "0600:run.sh" \
  --expect-mode "0644:no/such/file"
if "${CMD[@]}" > "$IT_DIR/mode-neg.out" 2>&1; then
  it_fail "cri_volume --expect-mode fails on a wrong mode and a missing file"
else
  it_check "cri_volume --expect-mode fails on a wrong mode" \
    grep -q '^FAIL /model/run.sh has mode 0600, not 0755$' "$IT_DIR/mode-neg.out"
  it_check "... and on a missing file" \
    grep -q '^FAIL /model/no/such/file has mode 0644 (stat shows nothing' "$IT_DIR/mode-neg.out"
  it_expect_eq "... and on nothing else" 2 "$(grep -c '^FAIL' "$IT_DIR/mode-neg.out")"
fi

# The second model: legacy shares raw's config.json, both weight files and
# run.sh (raw layers with the same digest, path and metadata).
layers_before=$(du -sb "$MP_ROOT/models/layers" | cut -f1)
cri_expect_args "$M/legacy"
cri_pod "[1 legacy] exactly the files, hashes and modes of expected.txt, read-only" \
  --volume-ref "$REGISTRY/models/legacy:1" --exact "${EXPECT[@]}"
layers_after=$(du -sb "$MP_ROOT/models/layers" | cut -f1)
if ready_line "$SB"; then
  it_log "legacy: $READY_LINE"
  if [ -z "$INDEXED" ]; then
    it_check "[2 legacy] the second model reuses layers of the first ($REUSED reused, $UNPACKED unpacked)" \
      test "${REUSED:-0}" -gt 0
  fi
  summary+=("legacy (second model): ready in $READY_MS_GOT ms, $UNPACKED unpacked, $REUSED reused, tree $TREE")
else
  it_fail "[2 legacy] the daemon logs 'model ... ready in' for its volume"
fi
if [ -n "$INDEXED" ]; then
  # Nothing of either model's raw layers is copied: both trees are the
  # blobs, indexed; only a compressed layer is decompressed once (tar-*).
  it_expect_eq "[2 legacy] models/layers holds no copy of a raw or plain layer, only decompressed tars" "" \
    "$(ls "$MP_ROOT/models/layers" | grep -v '^tar-' || true)"
  it_expect_eq "[2 legacy] trees/<legacy> is an erofs mount" erofs \
    "$(fstype "$MP_ROOT/models/trees/$(hex legacy)")"
  summary+=("du -sb models/layers: $layers_before before legacy, $layers_after after")
else
  shared_bytes=0 shared_files=()
  tr_raw=$MP_ROOT/models/trees/$(hex raw) tr_leg=$MP_ROOT/models/trees/$(hex legacy)
  if [ -d "$tr_raw" ] && [ -d "$tr_leg" ]; then
    while IFS= read -r -d '' f; do
      if [ -f "$tr_raw/$f" ] && [ "$(stat -c %i "$tr_raw/$f")" = "$(stat -c %i "$tr_leg/$f")" ]; then
        shared_files+=("$f")
        shared_bytes=$((shared_bytes + $(stat -c %s "$tr_leg/$f")))
      fi
    done < <(cd "$tr_leg" && find . -type f -printf '%P\0')
    it_log "files of one inode in both trees: ${shared_files[*]}"
    it_check "[2 legacy] model-00001-of-00002.safetensors is one inode in trees/<raw>/ and trees/<legacy>/ ($(stat -c %i "$tr_raw/model-00001-of-00002.safetensors") and $(stat -c %i "$tr_leg/model-00001-of-00002.safetensors"))" \
      test "$(stat -c %i "$tr_raw/model-00001-of-00002.safetensors")" = \
      "$(stat -c %i "$tr_leg/model-00001-of-00002.safetensors")"
    it_check "[2 legacy] the shared files are those of the shared layers (${#shared_files[@]} of 4)" \
      test "${#shared_files[@]}" -ge 4
  else
    it_fail "[2 legacy] trees/<raw> and trees/<legacy> exist"
  fi
  growth=$((layers_after - layers_before))
  summary+=("du -sb models/layers: $layers_before before legacy, $layers_after after (+$growth); shared: ${#shared_files[@]} files, $shared_bytes bytes")
  it_check "[2 legacy] du -sb models/layers grows by less than the shared bytes (+$growth < $shared_bytes)" \
    test "$growth" -lt "$shared_bytes"
fi

for s in tar targz tarzst nested overlap; do
  cri_expect_args "$M/$s"
  cri_pod "[1 $s] exactly the files, hashes and modes of expected.txt, read-only" \
    --volume-ref "$REGISTRY/models/$s:1" --exact "${EXPECT[@]}"
  if ready_line "$SB"; then
    summary+=("$s: ready in $READY_MS_GOT ms, $UNPACKED unpacked, $REUSED reused, tree $TREE")
  fi
done
# 5: Docker Model Runner artifacts, refused by containerd itself.
cri_expect_args "$M/dmr"
cri_cmd --volume-ref "$REGISTRY/models/dmr:1" --exact "${EXPECT[@]}"
rc=0
"${CMD[@]}" > "$IT_DIR/dmr.out" 2>&1 || rc=$?
sed 's/^/     /' "$IT_DIR/dmr.out"
it_check "[5 dmr] containerd's pull refuses Docker's config (rootfs.diff_ids for blobs that are not layers), before any Prepare" \
  grep -q 'FAIL PullImage .*models/dmr:1.*mismatched image rootfs and manifest layers' "$IT_DIR/dmr.out"
cri_expect_args "$M/oras-push"
cri_pod "[1 oras push] exactly the files and hashes oras pushed, read-only" \
  --volume-ref "$REGISTRY/models/oras-push:1" --exact "${EXPECT[@]}"
if ready_line "$SB"; then
  summary+=("oras-push: ready in $READY_MS_GOT ms, $UNPACKED unpacked, $REUSED reused, tree $TREE")
fi

# With the default verify_blobs = "once", layer blobs read from
# containerd's content directory are hashed the first time they are
# unpacked, whatever containerd checked at download: the log says so for
# every layer unpacked, and none is taken on the source's word.
it_check "[1] default config: layer blobs from containerd's content directory are hashed at their first unpack" \
  grep -q "blob digest verified) as" "$IT_DIR/snapshotter.log"
it_expect_eq "[1] default config: no layer blob is taken on containerd's word" "" \
  "$(grep -o "blob digest vouched for by the source" "$IT_DIR/snapshotter.log" | head -n 1)"

# ---- 3: bad artifacts ---------------------------------------------------------------

# A corrupt blob can only reach containerd's content directory behind
# containerd's back (it checks every digest on ingest): the test writes it
# there.  The default "once" catches that at a blob's first use and
# "always" at every use; this part runs with "always" so that setting is
# covered too.  The rest of the bad artifacts fail the same in every mode.
printf '[model_cache]\nverify_blobs = "always"\nmount = "%s"\n' "$MODE" > "$IT_DIR/verify-always.toml"
it_stop_snapshotter
if ! it_start_snapshotter --config "$IT_DIR/verify-always.toml" \
  --containerd-root "$IT_DIR/c/root"; then
  it_fail "[3] the snapshotter restarts with verify_blobs = \"always\""
  it_done
fi
it_pass "[3] the snapshotter restarted with verify_blobs = \"always\" (pid $MP_PID)"

declare -A bad_text=(
  [bad-digest]="digest mismatch"
  [bad-diffid]="diffId mismatch"
  [bad-traversal]='".." component'
  [bad-absolute]="absolute path"
  [bad-symlink]="outside the model"
  [bad-bomb]="max_layer_ratio"
  [bad-sparse]="sparse files are not allowed"
  [bad-abslink]="outside the model"
  [bad-ctrlname]="control character"
  [bad-rawsize]="file metadata says"
  [bad-mediatype]="application/vnd.cncf.model.weight.v1.tar+lz4"
)
# Served from an index, a blob is hashed before anything is built from it.
if [ -n "$INDEXED" ]; then bad_text[bad-digest]="does not match its digest"; fi
for s in $BAD_SHAPES; do
  extra=()
  if [ "$s" = bad-digest ]; then
    # After the pulls, before CreateContainer: containerd's stored copy of
    # the weight blob gets the layout's corrupt bytes.
    b=$(bad_blob)
    extra=(--before-create "cp '$M/$s/blobs/sha256/$b' '$CTD_ROOT/io.containerd.content.v1.content/blobs/sha256/$b'")
  fi
  cri_pod "[3 $s] CreateContainer fails saying '${bad_text[$s]}'; no snapshot left" \
    --volume-ref "$REGISTRY/models/$s:1" --expect-create-error "${bad_text[$s]}" \
    "${extra[@]}"
  grep -h 'CreateContainer error' "$OUT" | sed 's/^info /     /' >&2 || true
  it_check "[3 $s] nothing left under models/: no work in tmp/, no trees/<manifest>, no .unpack-*" \
    models_clean "$(hex "$s")"
  it_expect_eq "[3 $s] containerd lists no snapshot of the volume" "" \
    "$(ctr_volume_snapshots "$(hex "$s")")"
done

# ---- 4: crash while unpacking ------------------------------------------------------------

crash_test() {
  local h=${digest[big]#sha256:} out=$IT_DIR/crash-pod.out cpid rc=0 i
  local tree=$MP_ROOT/models/trees/$h tmpd=$MP_ROOT/models/tmp early="" \
    unpacking="" mib=0 old_pid=$MP_PID left t0
  cri_expect_args "$M/big"
  cri_cmd --volume-ref "$REGISTRY/models/big:1" --name crash \
    --expect-create-error "image volume"
  t0=$(date +%s)
  "${CMD[@]}" > "$out" 2>&1 &
  cpid=$!
  # Until the unpack has written 64 MiB (or more): a tree of the model must
  # never show meanwhile.
  for ((i = 0; i < 1200; i++)); do
    if [ -e "$tree" ] || [ -e "$tree.layers" ]; then early=yes; fi
    # A model of compressed layers only is unpacked in every mode.
    unpacking=$(find "$tmpd" -mindepth 3 -maxdepth 3 -type d -name '.unpack-*' 2>/dev/null | head -n 1)
    if [ -n "$unpacking" ]; then
      mib=$(du -sm "$unpacking" 2>/dev/null | cut -f1) || mib=0
      [ "${mib:-0}" -lt 64 ] || break
    fi
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$unpacking" ] || [ "${mib:-0}" -lt 64 ]; then
    it_fail "[4] the unpack of the big model is seen in progress in models/tmp (found '${unpacking}', ${mib:-0} MiB)"
    wait "$cpid" || true
    return 0
  fi
  it_stop_snapshotter -9
  it_pass "[4] SIGKILL to the snapshotter while it unpacks (${unpacking#"$MP_ROOT"/}: $mib MiB written, $(($(date +%s) - t0)) s after the pod started)"
  it_check "[4] no trees/<big> nor trees/<big>.layers was visible while it unpacked" test -z "$early"
  it_check "[4] right after the kill: no trees/<big> nor trees/<big>.layers" \
    test ! -e "$tree" -a ! -e "$tree.layers"
  left=$(cd "$tmpd" && find . -mindepth 1 -maxdepth 2 | sort | tr '\n' ' ')
  it_log "models/tmp after the kill: $left"
  it_check "[4] the dead daemon's work is in models/tmp ($old_pid.*/L*)" \
    has_match "$tmpd/$old_pid.*/L*"
  it_log "layers/ after the kill: $(ls "$MP_ROOT/models/layers" | tr '\n' ' ')"

  if ! it_start_snapshotter --config "$IT_DIR/mode.toml" --containerd-root "$IT_DIR/c/root"; then
    it_fail "[4] the snapshotter restarts on the same root"
    wait "$cpid" || true
    return 0
  fi
  it_pass "[4] the snapshotter restarts on the same root (pid $MP_PID)"
  wait "$cpid" || rc=$?
  sed 's/^/     /' "$out"
  if [ "$rc" = 0 ]; then
    it_pass "[4] CreateContainer of the pod whose snapshotter died fails ($(grep -o 'CreateContainer error.*' "$out" | head -n 1))"
  else
    it_fail "[4] CreateContainer of the pod whose snapshotter died fails, the pod cleans up (exit $rc: $(tail -n 1 "$out"))"
  fi
  it_check "[4] the restarted daemon removed the dead one's work" \
    grep -q "model cache: removed leftover $tmpd/$old_pid\." "$IT_DIR/snapshotter.log"
  it_check "[4] models/tmp holds no leftovers after the restart, no trees/<big>, no .unpack-*" \
    models_clean "$h"

  t0=$(date +%s)
  cri_pod "[4] retry: the pod gets the complete model (every file's hash), read-only" \
    --volume-ref "$REGISTRY/models/big:1" --name crash-retry --exact "${EXPECT[@]}"
  if ready_line "$SB"; then
    it_log "retry: $READY_LINE"
    it_expect_eq "[4] retry builds the tree" built "$TREE"
    summary+=("big ($BIG_MIB MiB) after the crash: ready in $READY_MS_GOT ms, $UNPACKED unpacked, $REUSED reused, tree $TREE; retry pod $(($(date +%s) - t0)) s")
  else
    it_fail "[4] the daemon logs 'model ... ready in' for the retry's volume"
  fi
  it_check "[4] after the retry: models/tmp clean, no .unpack-*" models_clean nonexistent
  it_check "[4] the tree of the big model exists now" test -d "$tree"
}
if [ -n "${digest[big]}" ]; then
  crash_test
fi

it_stop_containerd
it_check "snapshotter exits 0 on SIGTERM" it_stop_snapshotter
for l in "${summary[@]}"; do it_log "$l"; done
it_log "run time $(($(date +%s) - t_start)) s"
it_done
