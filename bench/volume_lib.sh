# shellcheck shell=bash
# What the model volume benchmarks share (bench/model_volume_bench.sh,
# bench/index_bench.sh).  Source it after integration/lib.sh.
#
# The caller sets first:
#   WORK   scratch directory (the model's files, layouts, expected.txt)
#   T      directory of timings: one file per case, one figure per line
#   MTIME  the model files' mtime
#   PREP   $IT_BUILD/bin/model_volume_prep
#
# Provides:
#   vb_tools CMD...          exit unless every CMD is there
#   vb_build_prep [BIN...]   build PREP (build/bin/model_volume_prep, not in
#                            `make all`), the daemon and other bench/*.c
#                            programs BIN with the Makefile's rules
#   vb_drop_setup; cold      whether the page cache may be dropped (DROP=1);
#                            cold writes dirty pages back and drops it
#   keystream SEED MIB       MIB MiB of the AES-128-CTR keystream of key SEED
#   gen SEED MIB FILE        the same with the top bit of every byte cleared
#                            (so zstd has something to do, roughly as with
#                            bf16 weights)
#   vb_model DIR WEIGHT_MB [raw]
#                            a model in DIR: 4 weight files of WEIGHT_MB
#                            MiB (gen's bytes, or keystream's with "raw") and
#                            8 small files; sets FILES and MODEL_BYTES,
#                            writes $WORK/expected.txt (sha256sum's format)
#   sha FILE; blob LAYOUT FILE; new_layout NAME; kind_of FILE
#   manifest CFG_MT CFG_DESC LAYERS_JSON [ARTIFACT_TYPE]
#                            an OCI image manifest (JSON on stdout)
#   layout NAME CFG_MT CFG_FILE LAYERS_JSON [ARTIFACT_TYPE]
#   model_config NAME DIFFID...
#   now; rec CASE T0 T1; med CASE; fmt_ms MS; ratio A B; verdict A LIMIT;
#   gib BYTES; fmt_bytes BYTES
#   check_tree DIR WHAT      DIR holds exactly the model's files and bytes
#   models_empty ROOT        the model cache under snapshotter root ROOT is
#                            empty
#   gc_sync IMAGE            run containerd's garbage collection to the end
#                            (IMAGE: any image record, left as it is)
#   vb_machine WHERE         the machine, one paragraph (WHERE: the
#                            filesystem under test)

vb_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "bench: $t is missing (make deps unstable)" >&2; exit 1; }
  done
}

# shellcheck disable=SC2120 # BIN... is optional
vb_build_prep() {
  make -C "$IT_REPO" --no-print-directory BUILD="$IT_BUILD" \
    BENCH_BINS="$IT_BUILD/bin/snapbench $PREP $*" "$PREP" "$MP_BIN" "$@" >&2
}

DROP=1
vb_drop_setup() {
  if ! (sync && echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then
    DROP=0
    it_log "cannot drop the page cache: runs start warm"
  fi
}
cold() {
  sync
  if [ "$DROP" = 1 ]; then echo 3 > /proc/sys/vm/drop_caches; fi
}

# ---- the model ----------------------------------------------------------------

keystream() {
  head -c "$(($2 * 1024 * 1024))" /dev/zero \
    | openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$1")" \
      -iv 00000000000000000000000000000000
}

gen() {
  keystream "$1" "$2" | tr '\200-\377' '\000-\177' > "$3"
}

# vb_weight SEED MIB FILE RAW: one weight file, hashed as it is written
# (FILE.sha256 gets sha256sum's line for it).
vb_weight() {
  local h
  if [ "$4" = raw ]; then
    h=$(keystream "$1" "$2" | tee "$3" | openssl dgst -sha256 -r)
  else
    h=$(keystream "$1" "$2" | tr '\200-\377' '\000-\177' | tee "$3" | openssl dgst -sha256 -r)
  fi
  echo "${h%% *}  ${3##*/}" > "$3.sha256"
}

vb_model() {
  local src=$1 mb=$2 raw=${3:-} i f pids=()
  mkdir -p "$src"
  for i in 1 2 3 4; do
    vb_weight "$i" "$mb" "$src/model-0000$i-of-00004.safetensors" "$raw" &
    pids+=($!)
  done
  # Not a bare wait: the daemons may be this shell's children too.
  for i in "${pids[@]}"; do wait "$i"; done
  gen 9 2 /dev/stdout | base64 -w 0 | head -c 3000000 \
    | jq -Rs '{version: "1.0", model: {type: "BPE", merges: [.]}}' > "$src/tokenizer.json"
  cat > "$src/config.json" <<'EOF'
{"architectures": ["BenchForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 32, "torch_dtype": "bfloat16", "vocab_size": 32000}
EOF
  echo '{"bos_token_id": 1, "eos_token_id": 2, "max_new_tokens": 256}' > "$src/generation_config.json"
  echo '{"model_max_length": 4096, "tokenizer_class": "PreTrainedTokenizerFast"}' > "$src/tokenizer_config.json"
  echo '{"bos_token": "<s>", "eos_token": "</s>"}' > "$src/special_tokens_map.json"
  jq -n '{metadata: {total_size: 0}, weight_map: {}}' > "$src/model.safetensors.index.json"
  printf '# bench\n\nRandom weights for the model volume benchmarks.\n' > "$src/README.md"
  printf 'Apache License 2.0 (placeholder)\n' > "$src/LICENSE"
  cat "$src"/*.sha256 > "$WORK/expected.txt"
  rm -f "$src"/*.sha256
  for f in "$src"/*; do
    case $f in
      *.safetensors) ;;
      *) echo "$(openssl dgst -sha256 -r "$f" | cut -d' ' -f1)  ${f##*/}" >> "$WORK/expected.txt" ;;
    esac
  done
  find "$src" -type f -exec chmod 0644 {} +
  touch -d "$MTIME" "$src"/*
  mapfile -t FILES < <(cd "$src" && ls -A)
  # shellcheck disable=SC2034 # the caller's
  MODEL_BYTES=$(cd "$src" && stat -c %s "${FILES[@]}" | awk '{ s += $1 } END { printf "%.0f\n", s }')
}

# ---- OCI layouts ----------------------------------------------------------------

sha() { echo "sha256:$(openssl dgst -sha256 -r "$1" | cut -d' ' -f1)"; }

# blob LAYOUT FILE: link FILE into LAYOUT (copy if it cannot); print its
# descriptor fields "digest size".
blob() {
  local d
  d=$(sha "$2")
  ln -f "$2" "$1/blobs/sha256/${d#sha256:}" 2>/dev/null || cp "$2" "$1/blobs/sha256/${d#sha256:}"
  echo "$d $(stat -c %s "$2")"
}

new_layout() {
  mkdir -p "$WORK/lay-$1/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$WORK/lay-$1/oci-layout"
}

# manifest CFG_MT "CFG_DIGEST CFG_SIZE" LAYERS_JSON [ARTIFACT_TYPE]
manifest() {
  local r=$2 at=${4:-}
  jq -cn --arg cmt "$1" --arg cd "${r% *}" --argjson cs "${r#* }" \
    --argjson layers "$3" --arg at "$at" --arg t "$MTIME" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json"}
     + (if $at == "" then {} else {artifactType: $at} end)
     + {config: {mediaType: $cmt, digest: $cd, size: $cs}, layers: $layers,
        annotations: {"org.opencontainers.image.created": $t}}'
}

# layout NAME CFG_MT CFG_FILE LAYERS_JSON [ARTIFACT_TYPE]: the config and
# the manifest into layout NAME, whose index names the manifest "1"; prints
# the manifest's digest.
layout() {
  local l=$WORK/lay-$1 r man
  r=$(blob "$l" "$3")
  man=$WORK/manifest-$1.json
  manifest "$2" "$r" "$4" "${5:-}" > "$man"
  r=$(blob "$l" "$man")
  jq -cn --arg d "${r% *}" --argjson s "${r#* }" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
                   digest: $d, size: $s,
                   annotations: {"org.opencontainers.image.ref.name": "1"}}]}' \
    > "$l/index.json"
  echo "${r% *}"
}

kind_of() {
  case $1 in
    *.safetensors) echo weight ;;
    README* | LICENSE*) echo doc ;;
    *) echo weight.config ;;
  esac
}

# model_config NAME DIFFID...: a ModelPack config file; prints its path.
model_config() {
  local name=$1
  shift
  jq -cn --arg name "$name" --arg t "$MTIME" \
    --argjson d "$(printf '%s\n' "$@" | jq -R . | jq -cs .)" \
    '{descriptor: {createdAt: $t, name: $name, version: "1.0"},
      modelfs: {type: "layers", diffIds: $d},
      config: {architecture: "transformer", format: "safetensors",
               paramSize: "1B", precision: "bfloat16"}}' > "$WORK/config-$name.json"
  echo "$WORK/config-$name.json"
}

# ---- timing and figures -----------------------------------------------------------

now() { echo "$EPOCHREALTIME"; }
rec() { awk -v a="$2" -v b="$3" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }' >> "$T/$1"; }
med() {
  [ -s "$T/$1" ] || { printf nan; return 0; }
  sort -n "$T/$1" \
    | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.1f", a[(NR + 1) / 2]; else if (NR) printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2; else printf "nan" }'
}
# fmt_ms MS: "12 ms", "1.23 s"
fmt_ms() {
  awk -v v="$1" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else if (v < 10) printf "%.1f ms", v; else if (v < 1000) printf "%.0f ms", v; else printf "%.2f s", v / 1000 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "nan" && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
# verdict A LIMIT: "met" if A <= LIMIT.
verdict() {
  if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "nan" && a != "n/a" && a + 0 <= b + 0) }'; then
    echo met
  else
    echo "**not met**"
  fi
}
gib() { awk -v b="$1" 'BEGIN { printf "%.2f GiB", b / 1073741824 }'; }
fmt_bytes() {
  awk -v b="$1" 'BEGIN { if (b == "nan" || b == "") print "n/a";
    else if (b < 1048576) printf "%.0f KiB", b / 1024;
    else if (b < 1073741824) printf "%.1f MiB", b / 1048576;
    else printf "%.2f GiB", b / 1073741824 }'
}

# ---- checks -------------------------------------------------------------------------

check_tree() {
  local got
  got=$(cd "$1" && find . -type f -printf '%P\n' | sort \
    | while read -r f; do echo "$(openssl dgst -sha256 -r "$f" | cut -d' ' -f1)  $f"; done)
  if [ "$got" = "$(sort -k2 "$WORK/expected.txt")" ]; then
    it_pass "$2: the mounted files match the model"
  else
    it_fail "$2: the mounted files differ from the model"
    diff <(sort -k2 "$WORK/expected.txt") <(echo "$got") | head -n 20
  fi
}

models_empty() {
  [ -z "$(ls -A "$1/models/layers" 2>/dev/null)" ] \
    && [ -z "$(find "$1/models/trees" -mindepth 1 -maxdepth 1 2>/dev/null)" ]
}

# containerd 2.x removes a snapshot from its metadata at once and from the
# snapshotter at its next garbage collection, which a removal does not
# always start: the second of two removals in a row may wait for the next
# unrelated trigger.  ctr has no gc command, but deleting an image with
# --sync waits for a whole collection (which removes the snapshotters'
# snapshots and then calls their Cleanup).
gc_sync() {
  $CTR images tag --force "$1" "$1-gc" > /dev/null
  $CTR images rm --sync "$1-gc" > /dev/null
}

vb_machine() {
  echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)),"
  echo "$(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, Linux $(uname -r), $1;"
  echo "containerd $($CTR version | awk '/Version:/ { v = $2 } END { print v }'), $(git -C "$IT_REPO" rev-parse --short HEAD 2>/dev/null || echo '?') of this repository, $(date -u '+%Y-%m-%d %H:%M UTC')."
}
