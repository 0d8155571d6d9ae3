#!/bin/bash
# The modelpack CLI on its own store (no registry): init, pack, inspect,
# extract, ls, rm, with oras and skopeo as independent readers of what pack
# writes.
#
#  - init classifies a model directory's files and infers fields from
#    config.json, writes them grouped in a stable order; refuses to replace
#    a Modelfile;
#  - pack in every format gives the same digest twice (also after the
#    files' times change), extract reproduces every file byte for byte with
#    its permission bits, --include writes only matching files;
#  - oras pulls the packed files from the store (an OCI layout) identical;
#    skopeo reads the manifest: artifactType, config and layer media types,
#    path annotations as model-spec requires;
#  - inspect shows the config fields and files (text and --json); a stored
#    artifact whose config breaks model-spec's rules fails naming the field;
#  - bad input: each a one-line error and its exit code, the store
#    unchanged.
#
# usage: test_cli_local.sh
. "$(dirname "$0")/lib.sh"

it_setup cli_local
MP=$IT_BUILD/bin/modelpack
ORAS=$IT_UNSTABLE_BIN/oras
S=$IT_DIR/store
SRC=$IT_DIR/src
mp() { "$MP" --store "$S" "$@"; }

mkdir -p "$SRC/tokenizer" "$SRC/scripts"
head -c 700000 /dev/urandom > "$SRC/model-00001.safetensors"
head -c 300000 /dev/urandom > "$SRC/model-00002.safetensors"
echo '{"model_type": "llama", "torch_dtype": "bfloat16", "architectures": ["LlamaForCausalLM"]}' > "$SRC/config.json"
echo '{"version": "1.0"}' > "$SRC/tokenizer/tokenizer.json"
printf '# tiny\n' > "$SRC/README.md"
printf 'print("hi")\n' > "$SRC/scripts/run.py"
chmod 0755 "$SRC/scripts/run.py"
echo 'opaque' > "$SRC/notes.xyz"

# sums DIR: path, mode and sha256 of every file, sorted.
sums() {
  (cd "$1" && find . -type f ! -name Modelfile ! -name notes.xyz -printf '%P %m\n' | sort \
    | while read -r p m; do echo "$p $m $(sha256sum < "$p" | cut -c1-64)"; done)
}

# ---- init -------------------------------------------------------------------
out=$("$MP" init "$SRC" 2>&1) || true
it_check "init writes a Modelfile" test -f "$SRC/Modelfile"
it_expect_eq "init classifies every file by kind" \
  "CODE scripts/run.py
CONFIG config.json
CONFIG tokenizer/tokenizer.json
DOC README.md
MODEL model-00001.safetensors
MODEL model-00002.safetensors" \
  "$(grep -E '^(CONFIG|DOC|MODEL|CODE|DATASET) ' "$SRC/Modelfile" | LC_ALL=C sort)"
it_expect_eq "init writes the directives grouped (weights, configs, code, docs), by path in each group" \
  "MODEL model-00001.safetensors
MODEL model-00002.safetensors
CONFIG config.json
CONFIG tokenizer/tokenizer.json
CODE scripts/run.py
DOC README.md" \
  "$(grep -E '^(CONFIG|DOC|MODEL|CODE|DATASET) ' "$SRC/Modelfile")"
it_check "init infers FAMILY, ARCH, FORMAT and PRECISION from config.json and the weights" \
  bash -c "grep -qx 'FAMILY llama' '$SRC/Modelfile' && grep -qx 'ARCH transformer' '$SRC/Modelfile' \
    && grep -qx 'FORMAT safetensors' '$SRC/Modelfile' && grep -qx 'PRECISION bfloat16' '$SRC/Modelfile'"
it_check "init names what it left out" grep -q "left out.*notes.xyz" <<<"$out"
rc=0; "$MP" init "$SRC" 2>"$IT_DIR/err" || rc=$?
it_expect_eq "init refuses to replace a Modelfile (exit 9, one line)" "9 1" "$rc $(wc -l < "$IT_DIR/err")"
sed -i 's/^NAME .*/NAME tiny-llama/' "$SRC/Modelfile"
echo 'PARAMSIZE 1m' >> "$SRC/Modelfile"

# ---- pack, reproducibly, in every format --------------------------------------
REF=registry.example.com/ml/tiny
declare -A dig
for f in raw tar tar+gzip tar+zstd; do
  t=${f/+/-}
  dig[$f]=$(mp pack --src "$SRC" --tag "$REF:$t" --format "$f" | awk '{print $2}')
  it_check "pack --format $f stores a manifest (${dig[$f]:0:19})" test -n "${dig[$f]}"
done
touch -d '2001-02-03' "$SRC"/* "$SRC"/*/*
for f in raw tar tar+gzip tar+zstd; do
  t=${f/+/-}
  again=$(mp pack --src "$SRC" --tag "$REF:$t-again" --format "$f" | awk '{print $2}')
  it_expect_eq "pack --format $f again, after the files' times changed: the same digest" "${dig[$f]}" "$again"
done
kt=$(mp pack --src "$SRC" --tag "$REF:times" --keep-times | awk '{print $2}')
it_check "pack --keep-times records times: another digest" test "$kt" != "${dig[raw]}"

# ---- extract ---------------------------------------------------------------------
for f in raw tar tar+gzip tar+zstd; do
  t=${f/+/-}
  rm -rf "$IT_DIR/x"
  mp -q extract "$REF:$t" "$IT_DIR/x" || true
  it_expect_eq "extract of the $f model: every file, byte for byte, with its mode" \
    "$(sums "$SRC")" "$(sums "$IT_DIR/x")"
done
rm -rf "$IT_DIR/x"
mp -q extract "$REF:tar-zstd" "$IT_DIR/x" --include '*.safetensors' --include 'tokenizer/*' || true
it_expect_eq "extract --include writes only the matching files" \
  "model-00001.safetensors
model-00002.safetensors
tokenizer/tokenizer.json" "$(cd "$IT_DIR/x" && find . -type f -printf '%P\n' | sort)"
rc=0; mp extract "$REF:tar-zstd" "$IT_DIR/x" 2>"$IT_DIR/err" || rc=$?
it_expect_eq "extract refuses to replace files (exit 9), writes nothing" "9" "$rc"
it_check "... and leaves no work directory behind" \
  test -z "$(find "$IT_DIR/x" -name '.modelpack-extract*')"

# ---- independent readers: oras and skopeo ------------------------------------------------
rm -rf "$IT_DIR/o"
if "$ORAS" pull --oci-layout "$S@${dig[raw]}" -o "$IT_DIR/o" > "$IT_DIR/oras.log" 2>&1; then
  it_expect_eq "oras pull from the store: the same files" \
    "$(sums "$SRC" | awk '{print $1, $3}')" "$(sums "$IT_DIR/o" | awk '{print $1, $3}')"
else
  it_fail "oras pull --oci-layout of the packed model: $(tail -n 2 "$IT_DIR/oras.log")"
fi
man=$(skopeo inspect --raw "oci:$S:$REF:tar-zstd" 2> "$IT_DIR/skopeo.log") || true
it_expect_eq "skopeo reads the manifest: artifactType and config media type" \
  "application/vnd.cncf.model.manifest.v1+json application/vnd.cncf.model.config.v1+json" \
  "$(jq -r '"\(.artifactType) \(.config.mediaType)"' <<<"$man")"
it_expect_eq "layer media types by kind, format tar+zstd, path annotations" \
  "application/vnd.cncf.model.doc.v1.tar+zstd README.md
application/vnd.cncf.model.weight.config.v1.tar+zstd config.json
application/vnd.cncf.model.weight.v1.tar+zstd model-00001.safetensors
application/vnd.cncf.model.weight.v1.tar+zstd model-00002.safetensors
application/vnd.cncf.model.code.v1.tar+zstd scripts/run.py
application/vnd.cncf.model.weight.config.v1.tar+zstd tokenizer/tokenizer.json" \
  "$(jq -r '.layers[] | "\(.mediaType) \(.annotations["org.cncf.model.filepath"])"' <<<"$man")"
it_expect_eq "file metadata annotation: mode and size of scripts/run.py" "493 12" \
  "$(jq -r '.layers[] | select(.annotations["org.cncf.model.filepath"] == "scripts/run.py")
     | .annotations["org.cncf.model.file.metadata+json"] | fromjson | "\(.mode) \(.size)"' <<<"$man")"
cfg=$(jq -r .config.digest <<<"$man")
it_expect_eq "config: the Modelfile's fields and one diffId per layer" \
  "tiny-llama llama transformer 1m bfloat16 safetensors 6" \
  "$(jq -r '"\(.descriptor.name) \(.descriptor.family) \(.config.architecture) \(.config.paramSize) \(.config.precision) \(.config.format) \(.modelfs.diffIds | length)"' \
    "$S/blobs/sha256/${cfg#sha256:}")"

# ---- inspect, ls, rm --------------------------------------------------------------------
out=$(mp inspect "$REF:raw")
it_check "inspect shows name, family, parameters, precision, format" \
  bash -c 'grep -q "^Name *tiny-llama" <<<"$1" && grep -q "^Family *llama" <<<"$1" && grep -q "^Parameters *1m" <<<"$1" && grep -q "^Precision *bfloat16" <<<"$1" && grep -q "^Format *safetensors" <<<"$1"' _ "$out"
it_check "inspect lists the files with kinds and sizes" \
  bash -c 'grep -Eq "^weight +raw +700000 +model-00001.safetensors" <<<"$1"' _ "$out"
it_expect_eq "inspect --json: digest, 6 files, total size" "${dig[raw]} 6 $(( $(cat "$SRC"/*.safetensors "$SRC"/config.json "$SRC"/README.md "$SRC"/tokenizer/* "$SRC"/scripts/* | wc -c) ))" \
  "$(mp inspect --json "$REF:raw" | jq -r '"\(.digest) \(.files | length) \(.totalSize)"')"
it_check "ls lists every tag" test "$(mp ls | grep -c "^$REF:")" -eq 9
# An artifact whose config breaks model-spec's rules.
bad_cfg='{"descriptor":{},"config":{"paramSize":7},"modelfs":{"type":"layers","diffIds":["'$(jq -r '.modelfs.diffIds[0]' "$S/blobs/sha256/${cfg#sha256:}")'"]}}'
printf '%s' "$bad_cfg" > "$IT_DIR/badcfg"
bc=sha256:$(sha256sum < "$IT_DIR/badcfg" | cut -c1-64)
cp "$IT_DIR/badcfg" "$S/blobs/sha256/${bc#sha256:}"
jq -c --arg d "$bc" --argjson s "${#bad_cfg}" '.config.digest = $d | .config.size = $s | .layers = [.layers[0]]' <<<"$man" > "$IT_DIR/badman"
bm=sha256:$(sha256sum < "$IT_DIR/badman" | cut -c1-64)
cp "$IT_DIR/badman" "$S/blobs/sha256/${bm#sha256:}"
jq --arg d "$bm" --argjson s "$(stat -c %s "$IT_DIR/badman")" \
  '.manifests += [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
     annotations: {"org.opencontainers.image.ref.name": "registry.example.com/ml/bad:1"}}]' \
  "$S/index.json" > "$IT_DIR/index.json" && cp "$IT_DIR/index.json" "$S/index.json"
rc=0; mp inspect registry.example.com/ml/bad:1 2>"$IT_DIR/err" >/dev/null || rc=$?
it_expect_eq "inspect of an invalid config: exit 8" 8 "$rc"
it_check "... the error names the field (config.paramSize)" grep -q "config.paramSize" "$IT_DIR/err"
mp rm registry.example.com/ml/bad:1 > /dev/null
before=$(ls "$S/blobs/sha256" | wc -l)
mp rm "$REF:raw-again" "$REF:tar-again" > /dev/null
it_expect_eq "rm of tags whose blobs other tags use frees nothing" "$before" "$(ls "$S/blobs/sha256" | wc -l)"
mp rm "$REF:times" > /dev/null
it_check "rm of the only tag of a manifest removes its blobs" test "$(ls "$S/blobs/sha256" | wc -l)" -lt "$before"

# ---- bad input: one line, distinct exit codes, the store unchanged -----------------------
snap=$(cd "$S" && find . -type f ! -name '.*lock' | sort | xargs sha256sum)
it_expect_exit "pack of a missing directory" 4 "not a directory" mp pack --src "$IT_DIR/nope" --tag "$REF:x"
it_expect_exit "pack with a bad reference" 3 "reference" mp pack --src "$SRC" --tag "Bad Ref"
it_expect_exit "pack with an unknown format" 2 "lz4" mp pack --src "$SRC" --tag "$REF:x" --format tar+lz4
printf 'NAME x\nMODLE *.bin\n' > "$IT_DIR/Modelfile.bad"
it_expect_exit "pack with a bad Modelfile line" 8 "line 2" mp pack --src "$SRC" --modelfile "$IT_DIR/Modelfile.bad" --tag "$REF:x"
printf 'MODEL ../*.bin\n' > "$IT_DIR/Modelfile.bad"
it_expect_exit "a Modelfile pattern outside the model directory" 8 "outside" mp pack --src "$SRC" --modelfile "$IT_DIR/Modelfile.bad" --tag "$REF:x"
it_expect_exit "inspect of an unknown digest" 4 "not in the store" \
  mp inspect "sha256:$(printf '%064d' 0)"
it_expect_exit "inspect of an unknown reference, its registry unreachable (it is read from there)" 6 "registry.example.com" \
  mp inspect "$REF:nope"
it_expect_exit "extract of an unknown digest" 4 "not in the store" \
  mp extract "sha256:$(printf '%064d' 0)" "$IT_DIR/y"
# A reference not in the store is read from its registry (none here).
it_expect_exit "extract of an unknown reference, its registry unreachable" 6 "registry.example.com" \
  mp extract "$REF:nope" "$IT_DIR/y"
it_check "... leaves no scratch layout behind" bash -c "[ -z \"\$(ls -A '$IT_DIR/y' 2>/dev/null)\" ]"
it_expect_exit "rm of an unknown reference" 4 "not in the store" mp rm "$REF:nope"
touch "$IT_DIR/afile"
it_expect_exit "a store path that is a file" 8 "not a directory" "$MP" --store "$IT_DIR/afile" ls
it_expect_eq "the store is unchanged by the failed commands" "$snap" \
  "$(cd "$S" && find . -type f ! -name '.*lock' | sort | xargs sha256sum)"
it_check "no ingest leftovers" test -z "$(ls -A "$S/.ingest")"

it_done
