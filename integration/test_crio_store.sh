#!/bin/bash
# The CRI-O additional artifact store (`modelpack crio-store`), read back by
# independent tools:
#
#  - a tar+zstd model pushed to docker-registry, `crio-store add` from an
#    empty CLI store (so it pulls): `oras pull --oci-layout` of the export
#    reproduces every file; every blob is a hard link to the model cache's
#    tree file (same inode, link count >= 2); skopeo reads the layout by
#    name (one raw layer per file, titled by its path, ModelPack config
#    whose diffIds are the layers); ls names it with its source manifest;
#    adding again changes nothing;
#  - a second model; rm of the first removes its blobs and its cache pin and
#    leaves the second readable;
#    (that a pin keeps a tree through gc: test_model_cache's
#    pins_keep_trees_through_gc);
#  - the daemon's [crio_store] option keeps a store in sync with a model
#    store: a model pulled there appears (oras reads it back), a model
#    removed there disappears, an entry the sync did not make stays;
#  - bad input, each a clear error and the store read back unchanged: a
#    store path that is a file, an unknown reference, a model whose blob
#    fails verification.
#
# usage: test_crio_store.sh
. "$(dirname "$0")/lib.sh"

it_setup crio_store
MP=$IT_BUILD/bin/modelpack
ORAS=$IT_UNSTABLE_BIN/oras
ST=$IT_DIR/crio
CACHE=$IT_DIR/cache
mp() { "$MP" --store "$IT_DIR/${STORE:-store}" --cache "$CACHE" "$@"; }

it_start_registry || { it_fail "docker-registry starts"; it_done; }

SRC=$IT_DIR/src
mkdir -p "$SRC/tokenizer" "$SRC/weights"
head -c 3000000 /dev/urandom > "$SRC/weights/model-00001.safetensors"
head -c 1000000 /dev/urandom > "$SRC/weights/model-00002.safetensors"
echo '{"model_type": "tiny"}' > "$SRC/config.json"
echo '{"v": 1}' > "$SRC/tokenizer/tokenizer.json"
printf '# tiny\n' > "$SRC/README.md"
sums() { (cd "$1" && find . -type f ! -name Modelfile -printf '%P\n' | LC_ALL=C sort | xargs sha256sum); }

# state: what a reader of the store sees (index entries, blob names).
state() {
  { jq -c '.manifests | map({n: .annotations["org.opencontainers.image.ref.name"], d: .digest})' "$ST/artifacts/index.json"
    ls "$ST/artifacts/blobs/sha256" | LC_ALL=C sort; } 2>&1
}

R=$REGISTRY/ml/zst
STORE=pack mp pack --src "$SRC" --tag "$R:1" --format tar+zstd --push > "$IT_DIR/pack.log" 2>&1 \
  || it_fail "pack --push: $(cat "$IT_DIR/pack.log")"
src_digest=$(awk '/^pushed/ {print $3}' "$IT_DIR/pack.log")

# ---- add from the registry -------------------------------------------------------
out=$(mp crio-store add "$R:1" --store "$ST" 2>&1) || it_fail "crio-store add: $out"
it_check "crio-store add pulls, unpacks and exports: 5 files, all hard-linked" \
  grep -q "^$R:1 sha256:[0-9a-f]* (5 files, 5 hard-linked to the cache, 0 copied)" <<<"$out"
exp_digest=$(jq -r '.manifests[0].digest' "$ST/artifacts/index.json")
it_expect_eq "index.json names the export by its reference" "$R:1" \
  "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$ST/artifacts/index.json")"

rm -rf "$IT_DIR/o"
"$ORAS" pull --oci-layout "$ST/artifacts@$exp_digest" -o "$IT_DIR/o" > "$IT_DIR/oras.log" 2>&1 \
  || it_fail "oras pull --oci-layout: $(tail -3 "$IT_DIR/oras.log")"
it_expect_eq "oras pull --oci-layout of the export: every file identical" "$(sums "$SRC")" "$(sums "$IT_DIR/o")"

man=$(skopeo inspect --raw "oci:$ST/artifacts:$R:1" 2> "$IT_DIR/skopeo.log") || it_fail "skopeo inspect: $(cat "$IT_DIR/skopeo.log")"
it_expect_eq "skopeo reads the layout by name: one raw layer per file, titled by its path" \
  "application/vnd.cncf.model.doc.v1.raw README.md
application/vnd.cncf.model.weight.config.v1.raw config.json
application/vnd.cncf.model.weight.config.v1.raw tokenizer/tokenizer.json
application/vnd.cncf.model.weight.v1.raw weights/model-00001.safetensors
application/vnd.cncf.model.weight.v1.raw weights/model-00002.safetensors" \
  "$(jq -r '.layers[] | "\(.mediaType) \(.annotations["org.opencontainers.image.title"])"' <<<"$man")"
it_expect_eq "the export names its source manifest" "$src_digest" \
  "$(jq -r '.annotations["io.modelpack.snapshotter.source"]' <<<"$man")"
cfg=$(jq -r '.config.digest' <<<"$man" | cut -d: -f2)
it_expect_eq "its config's diffIds are the layers' digests" \
  "$(jq -c '[.layers[].digest]' <<<"$man")" "$(jq -c '.modelfs.diffIds' "$ST/artifacts/blobs/sha256/$cfg")"

tree=$CACHE/trees/${src_digest#sha256:}
shared=0 total=0
while read -r d t; do
  total=$((total + 1))
  b=$ST/artifacts/blobs/sha256/${d#sha256:}
  if [ "$(stat -c '%d:%i' "$b")" = "$(stat -c '%d:%i' "$tree/$t")" ] && [ "$(stat -c %h "$b")" -ge 2 ]; then
    shared=$((shared + 1))
  fi
done < <(jq -r '.layers[] | "\(.digest) \(.annotations["org.opencontainers.image.title"])"' <<<"$man")
it_expect_eq "every exported blob is the cache tree's file (same inode, link count >= 2)" "5/5" "$shared/$total"
it_log "link counts: $(stat -c %h "$ST"/artifacts/blobs/sha256/* | sort | uniq -c | tr '\n' ' ')"

it_check "ls names the export and its source" \
  grep -q "^$R:1 $exp_digest $src_digest\$" <(mp crio-store ls --store "$ST")
before=$(state)
out=$(mp crio-store add "$R:1" --store "$ST" 2>&1) || it_fail "second add: $out"
it_expect_eq "adding the same model again changes nothing" "$before" "$(state)"
it_check "the cache pins the exported tree" bash -c "grep -l '$src_digest' '$CACHE'/pins/crio-* >/dev/null"

# ---- a second model; rm the first ------------------------------------------------
mkdir -p "$IT_DIR/src2"
cp "$SRC/config.json" "$IT_DIR/src2/"
head -c 500000 /dev/urandom > "$IT_DIR/src2/other.gguf"
STORE=pack mp pack --src "$IT_DIR/src2" --tag "$REGISTRY/ml/raw:1" --push > /dev/null 2>&1 || it_fail "pack second"
out=$(mp crio-store add "$REGISTRY/ml/raw:1" --store "$ST" 2>&1) || it_fail "add second: $out"
it_expect_eq "two entries" 2 "$(jq '.manifests | length' "$ST/artifacts/index.json")"
mp crio-store rm "$R:1" --store "$ST" > /dev/null 2>&1 || it_fail "crio-store rm"
it_expect_eq "rm leaves the other entry" "$REGISTRY/ml/raw:1" \
  "$(jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"]' "$ST/artifacts/index.json")"
gone=0
for h in $(jq -r '.layers[].digest' <<<"$man" | cut -d: -f2); do
  [ -e "$ST/artifacts/blobs/sha256/$h" ] || gone=$((gone + 1))
done
# config.json is shared by both models: its blob stays.
it_expect_eq "rm removes the blobs only the removed model used" 4 "$gone"
it_check "rm releases the cache pin" bash -c "! grep -l '$src_digest' '$CACHE'/pins/* >/dev/null 2>&1"
rm -rf "$IT_DIR/o2"
d2=$(jq -r '.manifests[0].digest' "$ST/artifacts/index.json")
"$ORAS" pull --oci-layout "$ST/artifacts@$d2" -o "$IT_DIR/o2" > "$IT_DIR/oras2.log" 2>&1 || true
it_expect_eq "the remaining model still reads back whole" "$(sums "$IT_DIR/src2")" "$(sums "$IT_DIR/o2")"

# ---- the daemon keeps a store in sync -------------------------------------------------
SYNC=$IT_DIR/crio-sync
cat > "$IT_DIR/sync.toml" <<EOF
[crio_store]
dir = "$SYNC"
source = "$IT_DIR/syncsrc"
poll_seconds = 1
EOF
synced() { jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"]' "$SYNC/artifacts/index.json" 2>/dev/null | LC_ALL=C sort | tr '\n' ' '; }
export -f synced
export SYNC
if it_start_snapshotter --config "$IT_DIR/sync.toml"; then
  smp() { "$MP" --store "$IT_DIR/syncsrc" --cache "$MP_ROOT/models" "$@"; }
  smp pull "$R:1" > /dev/null 2>&1 || it_fail "pull into the synced source"
  it_check "a model pulled into the source appears in the synced store" \
    it_wait_for 30 "the export of $R:1" bash -c "[ \"\$(synced)\" = '$R:1 ' ]"
  sd=$(jq -r '.manifests[0].digest' "$SYNC/artifacts/index.json" 2>/dev/null)
  rm -rf "$IT_DIR/o4"
  "$ORAS" pull --oci-layout "$SYNC/artifacts@$sd" -o "$IT_DIR/o4" > "$IT_DIR/oras4.log" 2>&1 || true
  it_expect_eq "... and reads back whole" "$(sums "$SRC")" "$(sums "$IT_DIR/o4")"
  # An entry made by hand (crio-store add from another store) is not the
  # sync's to remove.
  mp crio-store add "$REGISTRY/ml/raw:1" --store "$SYNC" > /dev/null 2>&1 || it_fail "manual add to the synced store"
  smp rm "$R:1" > /dev/null 2>&1 || it_fail "rm from the synced source"
  it_check "a model removed from the source disappears from the synced store" \
    it_wait_for 30 "the removal of $R:1" bash -c "[ \"\$(synced)\" = '$REGISTRY/ml/raw:1 ' ]"
  it_check "the daemon logged what it did" grep -q "CRI-O store $SYNC: removed $R:1" "$IT_DIR/snapshotter.log"
  it_stop_snapshotter > /dev/null 2>&1 || it_fail "daemon stops cleanly"
else
  it_fail "the daemon starts with [crio_store]"
fi

# ---- bad input ---------------------------------------------------------------------
before=$(state)
touch "$IT_DIR/afile"
it_expect_exit "a store path that is a file" 8 "not a directory" \
  mp crio-store add "$REGISTRY/ml/raw:1" --store "$IT_DIR/afile"
it_expect_eq "... the file is untouched" 0 "$(stat -c %s "$IT_DIR/afile")"
it_expect_exit "an unknown reference" 4 "$REGISTRY/ml/nosuch" \
  mp crio-store add "$REGISTRY/ml/nosuch:1" --store "$ST"
it_expect_eq "... the store reads back unchanged" "$before" "$(state)"
it_expect_exit "rm of a name the store does not have" 4 "nosuch" \
  mp crio-store rm "$REGISTRY/ml/nosuch:1" --store "$ST"

# A model whose layer blob was corrupted in the CLI store after the pull.
mkdir -p "$IT_DIR/src3"
head -c 800000 /dev/urandom > "$IT_DIR/src3/w.safetensors"
mp pack --src "$IT_DIR/src3" --tag example.com/ml/bad:1 --format tar+zstd > /dev/null 2>&1 || it_fail "pack bad"
bm=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "example.com/ml/bad:1") | .digest' \
  "$IT_DIR/store/index.json" | cut -d: -f2)
bl=$(jq -r '.layers[0].digest' "$IT_DIR/store/blobs/sha256/$bm" | cut -d: -f2)
printf '\xff' | dd of="$IT_DIR/store/blobs/sha256/$bl" bs=1 seek=100 conv=notrunc status=none
pins_before=$(ls "$CACHE/pins" | LC_ALL=C sort)
it_expect_exit "a model whose blob fails verification (7, as for pull)" 7 "$bl" \
  mp crio-store add example.com/ml/bad:1 --store "$ST"
it_expect_eq "... the store reads back unchanged" "$before" "$(state)"
it_expect_eq "... no pin was added" "$pins_before" "$(ls "$CACHE/pins" | LC_ALL=C sort)"
it_check "... and no tree of it exists" test ! -e "$CACHE/trees/$bm"
rm -rf "$IT_DIR/o3"
"$ORAS" pull --oci-layout "$ST/artifacts@$d2" -o "$IT_DIR/o3" > "$IT_DIR/oras3.log" 2>&1 || true
it_expect_eq "... and what it holds still reads back whole" "$(sums "$IT_DIR/src2")" "$(sums "$IT_DIR/o3")"

it_done
