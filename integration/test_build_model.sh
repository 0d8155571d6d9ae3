#!/bin/bash
# Self-check of build-model.sh, the generator of ModelPack test artifacts:
# every shape builds reproducibly into a well-formed OCI layout (digests,
# diffIds, media types, annotations), the bad shapes are bad in exactly the
# intended way, pushes keep the manifest byte for byte (skopeo and oras),
# and an independent consumer (oras pull) reconstructs the files
# expected.txt lists.  Needs no snapshotter or containerd, only a registry.
. "$(dirname "$0")/lib.sh"

B=$IT_REPO/integration/build-model.sh
ORAS=${ORAS:-$IT_UNSTABLE_BIN/oras}
export ORAS

it_setup build_model
if [ ! -x "$ORAS" ]; then
  it_fail "oras is missing at $ORAS: run make unstable"
  it_done
fi
it_start_registry
M=$IT_DIR/m
mkdir -p "$M"

# manifest_file LAYOUT: the blob of the manifest tagged "1".
manifest_file() {
  local d
  d=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "1")
    | .digest' "$1/index.json")
  echo "$1/blobs/sha256/${d#sha256:}"
}

# blob_digest FILE
blob_digest() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# diff_digest FILE MEDIATYPE: digest of the uncompressed content.
diff_digest() {
  case $2 in
    *.tar+gzip) echo "sha256:$(gzip -dc "$1" | sha256sum | cut -d' ' -f1)" ;;
    *.tar+zstd) echo "sha256:$(zstd -dcq "$1" | sha256sum | cut -d' ' -f1)" ;;
    *) blob_digest "$1" ;;
  esac
}

# dmr_problems LAYOUT: one line per thing wrong with the Docker Model Runner
# shape: Docker's media types, no annotations, the rootfs diff_ids of its
# v0.1 config, and blobs that are the files expected.txt lists.
dmr_problems() {
  local l=$1 man cfg
  man=$(manifest_file "$l")
  [ -f "$man" ] || { echo "no manifest tagged 1"; return; }
  cfg=$l/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$man")
  [ "$(jq -r '[.mediaType, .artifactType, .config.mediaType] | @tsv' "$man")" \
    = $'application/vnd.oci.image.manifest.v1+json\t\tapplication/vnd.docker.ai.model.config.v0.1+json' ] \
    || echo "manifest, artifactType or config media type"
  [ "$(jq -c '[.layers[] | [.mediaType, .annotations]]' "$man")" \
    = '[["application/vnd.docker.ai.gguf.v3",null],["application/vnd.docker.ai.mmproj",null],["application/vnd.docker.ai.chat.template.jinja",null],["application/vnd.docker.ai.license",null]]' ] \
    || echo "layer media types or annotations"
  [ "$(jq -c '.rootfs.diff_ids' "$cfg")" = "$(jq -c '[.layers[].digest]' "$man")" ] \
    || echo "rootfs.diff_ids"
  [ "$(jq -r '.layers[].digest | ltrimstr("sha256:")' "$man" | sort)" \
    = "$(awk '{ print $1 }' "$l/expected.txt" | sort)" ] || echo "blobs are not the expected files"
  [ "$(head -c 4 "$l/blobs/sha256/$(jq -r '.layers[0].digest | ltrimstr("sha256:")' "$man")")" = GGUF ] \
    || echo "the GGUF layer has no GGUF magic"
}

# layout_problems LAYOUT SHAPE: one line per thing wrong with the layout.
layout_problems() {
  local l=$1 shape=$2 man cfg ns=cncf n i mt dig want got rel meta
  if [ "$shape" = dmr ]; then
    dmr_problems "$l"
    return
  fi
  [ "$shape" = legacy ] && ns=cnai
  [ "$(cat "$l/oci-layout")" = '{"imageLayoutVersion":"1.0.0"}' ] || echo "oci-layout"
  man=$(manifest_file "$l")
  [ -f "$man" ] || { echo "no manifest tagged 1"; return; }
  [ "$(blob_digest "$man")" = "$(jq -r '.manifests[0].digest' "$l/index.json")" ] \
    || echo "manifest digest"
  [ "$(jq -r .mediaType "$man")" = application/vnd.oci.image.manifest.v1+json ] \
    || echo "manifest mediaType"
  [ "$(jq -r .artifactType "$man")" = "application/vnd.$ns.model.manifest.v1+json" ] \
    || echo "artifactType $(jq -r .artifactType "$man")"
  [ "$(jq -r '.manifests[0].artifactType' "$l/index.json")" = "application/vnd.$ns.model.manifest.v1+json" ] \
    || echo "index artifactType"
  cfg=$l/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$man")
  [ "$(blob_digest "$cfg")" = "$(jq -r .config.digest "$man")" ] || echo "config digest"
  n=$(jq '.layers | length' "$man")
  [ "$n" -ge 2 ] || echo "only $n layers"
  if [ "$shape" = oras ]; then
    [ "$(jq -r .config.mediaType "$man")" = application/vnd.oci.empty.v1+json ] \
      || echo "oras config mediaType"
  else
    [ "$(jq -r .config.mediaType "$man")" = "application/vnd.$ns.model.config.v1+json" ] \
      || echo "config mediaType $(jq -r .config.mediaType "$man")"
    local key=diffIds
    [ "$ns" = cnai ] && key=diff_ids
    jq -e --arg k "$key" '.modelfs.type == "layers" and (.modelfs[$k] | type) == "array"
      and (.descriptor.name | length) > 0 and (.descriptor.family | length) > 0
      and (.config | .architecture and .format and .paramSize and .precision)' \
      "$cfg" >/dev/null || echo "config fields"
    [ "$(jq --arg k "$key" '.modelfs[$k] | length' "$cfg")" = "$n" ] \
      || echo "diffIds count"
  fi
  for ((i = 0; i < n; i++)); do
    IFS=$'\t' read -r mt dig rel meta < <(jq -r --argjson i "$i" --arg ns "$ns" \
      '.layers[$i] | [.mediaType, .digest,
        (.annotations["org." + $ns + ".model.filepath"] // "-"),
        (.annotations["org." + $ns + ".model.file.metadata+json"] // "-")] | @tsv' "$man")
    [ "$rel" != - ] || echo "layers[$i]: no filepath annotation"
    case $mt in
      "application/vnd.$ns.model."*) ;;
      *) echo "layers[$i]: media type $mt" ;;
    esac
    got=$(blob_digest "$l/blobs/sha256/${dig#sha256:}")
    [ "$got" = "$dig" ] || echo "layers[$i]: blob digest"
    if [[ $mt == *.raw ]]; then
      [ "$(jq -r --argjson i "$i" '.layers[$i].annotations["org.opencontainers.image.title"]' "$man")" = "$rel" ] \
        || echo "layers[$i]: title is not the filepath"
      if [ "$shape" != oras ]; then
        jq -e --argjson s "$(jq --argjson i "$i" '.layers[$i].size' "$man")" \
          '.size == $s and (.mode == 420 or .mode == 493) and .typeflag == 0
           and .uid == 0 and .gid == 0 and .mtime == "2025-01-02T03:04:05Z"' \
          <<<"$meta" >/dev/null || echo "layers[$i]: metadata $meta"
      fi
    fi
    [ "$shape" != oras ] || continue
    want=$(jq -r --argjson i "$i" '.modelfs | (.diffIds // .diff_ids)[$i]' "$cfg")
    got=$(diff_digest "$l/blobs/sha256/${dig#sha256:}" "$mt")
    [ "$got" = "$want" ] || echo "layers[$i]: diffId"
  done
}

# jq_true ARGS...: jq -e, quietly.
# shellcheck disable=SC2317 # called through it_check
jq_true() { jq -e "$@" >/dev/null; }

# tar_names LAYOUT INDEX: the member names of layer INDEX's tar, as stored.
tar_names() {
  local man b
  man=$(manifest_file "$1")
  b=$1/blobs/sha256/$(jq -r --argjson i "$2" '.layers[$i].digest | ltrimstr("sha256:")' "$man")
  python3 -c 'import sys, tarfile
for m in tarfile.open(sys.argv[1]):
    print(m.name + (" -> " + m.linkname if m.issym() else ""))' "$b"
}

# ---- build every shape twice ---------------------------------------------

mapfile -t shapes < <(bash "$B" --list)
declare -A digest
for s in "${shapes[@]}"; do
  if ! d1=$(bash "$B" "$s" "$M/$s" 2>"$IT_DIR/build.err"); then
    it_fail "$s: build: $(cat "$IT_DIR/build.err")"
    continue
  fi
  d2=$( (umask 077 && bash "$B" "$s" "$M/$s.again") 2>"$IT_DIR/build.err") || true
  digest[$s]=$d1
  it_expect_eq "$s: reproducible (umask 022 and 077) $d1" "$d1" "$d2"
  it_expect_eq "$s: printed digest is the layout's" \
    "$(jq -r '.manifests[0].digest' "$M/$s/index.json")" "$d1"
  it_expect_eq "$s: layout holds only the artifact and the expected files" \
    "blobs expected-modes.txt expected.txt index.json oci-layout" \
    "$(cd "$M/$s" && echo *)"

  case $s in
    # a raw layer's diffId is its blob digest: the corrupt blob fails both
    bad-digest) want=$'layers[4]: blob digest\nlayers[4]: diffId' ;;
    bad-diffid) want="layers[5]: diffId" ;;
    # the metadata is the point of these two shapes
    bad-rawsize) want='layers[1]: metadata {"name":"README.md","mode":420,"uid":0,"gid":0,"size":1073741824,"mtime":"2025-01-02T03:04:05Z","typeflag":0}' ;;
    lax-modes) want='layers[1]: metadata {"name":"config.json","mode":438,"uid":65534,"gid":65534,"size":139,"mtime":"2025-01-02T03:04:05Z","typeflag":0}' ;;
    *) want="" ;;
  esac
  got=$(layout_problems "$M/$s" "$s")
  it_expect_eq "$s: layout, digests, diffIds, media types, annotations" "$want" "$got"

  case $s in
    bad-*)
      it_expect_eq "$s: expected files empty" "0 0" \
        "$(stat -c %s "$M/$s/expected.txt") $(stat -c %s "$M/$s/expected-modes.txt")"
      ;;
    oras) it_check "$s: expected.txt lists files" test -s "$M/$s/expected.txt" ;;
    dmr)
      it_expect_eq "$s: expected.txt has the names Docker's unpacking gives" \
        "license.txt model.gguf model.mmproj template.jinja" \
        "$(awk '{ print $2 }' "$M/$s/expected.txt" | xargs)"
      ;;
    *)
      it_check "$s: expected.txt lists files" test -s "$M/$s/expected.txt"
      it_expect_eq "$s: expected-modes.txt names the same files" \
        "$(awk '{ print $2 }' "$M/$s/expected.txt")" \
        "$(awk '{ print $2 }' "$M/$s/expected-modes.txt")"
      ;;
  esac
done

# ---- what the shapes contain ------------------------------------------------

for s in tar targz tarzst oras; do
  it_check "$s: same files as raw" cmp -s "$M/raw/expected.txt" "$M/$s/expected.txt"
done
it_expect_eq "legacy: raw's files without tokenizer.json" \
  "$(grep -v ' tokenizer.json$' "$M/raw/expected.txt")" "$(cat "$M/legacy/expected.txt")"
it_check "raw: run.sh is 0755" grep -qx '0755 run.sh' "$M/raw/expected-modes.txt"
it_check "targz: run.sh is 0755" grep -qx '0755 run.sh' "$M/targz/expected-modes.txt"
it_check "oras: no modes (oras records none)" test ! -s "$M/oras/expected-modes.txt"
it_expect_eq "nested: the deep tree" \
  "a/b/c/d/e/deep.bin a/b/c/file1.bin a/b/c/file2.txt a/b/c/raw.txt a/b/d/file3.txt a/x.txt config.json" \
  "$(awk '{ print $2 }' "$M/nested/expected.txt" | tr '\n' ' ' | sed 's/ $//')"
it_expect_eq "nested: tar, tar+gzip, tar+zstd and raw layers" \
  "raw tar tar+gzip tar+zstd raw" \
  "$(jq -r '[.layers[].mediaType | sub(".*\\.v1\\."; "")] | join(" ")' "$(manifest_file "$M/nested")")"
it_expect_eq "overlap: the later layer's docs/guide.md" \
  "$(echo "guide, second version: the later layer wins" | sha256sum | cut -d' ' -f1)  docs/guide.md" \
  "$(grep ' docs/guide.md$' "$M/overlap/expected.txt")"
it_check "overlap: the later tar layer's config.json and mode" \
  grep -qx '0600 config.json' "$M/overlap/expected-modes.txt"
it_check "overlap: config.json is not the first layer's" \
  test "$(grep ' config.json$' "$M/overlap/expected.txt")" != "$(grep ' config.json$' "$M/raw/expected.txt")"
it_expect_eq "overlap: raw, tar over raw, raw over tar" \
  "raw:model.safetensors raw:config.json tar:docs tar+gzip:config.json raw:docs/guide.md" \
  "$(jq -r '[.layers[] | (.mediaType | sub(".*\\.v1\\."; "")) + ":"
    + .annotations["org.cncf.model.filepath"]] | join(" ")' "$(manifest_file "$M/overlap")")"
it_check "overlap: the tar layer holds docs/guide.md" \
  grep -qx 'docs/guide.md' <(tar_names "$M/overlap" 2)
it_expect_eq "legacy: cnai names only" "0" \
  "$(grep -c 'vnd\.cncf\|org\.cncf' "$(manifest_file "$M/legacy")" || true)"
it_check "legacy: config uses diff_ids" \
  jq_true '.modelfs.diff_ids and (.modelfs.diffIds | not)' \
  "$M/legacy/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$(manifest_file "$M/legacy")")"

it_expect_eq "bad-traversal: a ../escape member" "weights weights/ok.bin ../escape" \
  "$(tar_names "$M/bad-traversal" 1 | tr '\n' ' ' | sed 's/ $//')"
it_expect_eq "bad-absolute: an /etc/x member" "weights weights/ok.bin /etc/x" \
  "$(tar_names "$M/bad-absolute" 1 | tr '\n' ' ' | sed 's/ $//')"
it_expect_eq "bad-symlink: link -> /etc, then link/x" "link -> /etc|link/x" \
  "$(tar_names "$M/bad-symlink" 1 | tr '\n' '|' | sed 's/|$//')"
it_expect_eq "bad-mediatype: a tar+lz4 layer" \
  "application/vnd.cncf.model.weight.v1.tar+lz4" \
  "$(jq -r '.layers[1].mediaType' "$(manifest_file "$M/bad-mediatype")")"
# shellcheck disable=SC2016 # jq's $m
it_check "bad-diffid: the wrong diffId is the compressed blob's digest" \
  jq_true --slurpfile m "$(manifest_file "$M/bad-diffid")" \
  '.modelfs.diffIds[5] == $m[0].layers[5].digest' \
  "$M/bad-diffid/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$(manifest_file "$M/bad-diffid")")"
it_check "bad-digest: its corrupt blob is its own (raw does not share it)" \
  test "$(jq -r '.layers[4].digest' "$(manifest_file "$M/bad-digest")")" \
  != "$(jq -r '.layers[4].digest' "$(manifest_file "$M/raw")")"

# ---- push and fetch back ------------------------------------------------------

for s in "${shapes[@]}"; do
  [ -n "${digest[$s]:-}" ] || continue
  ref=$REGISTRY/models/$s:1
  if ! BUILD_MODEL_REGISTRY_ROOT=$IT_DIR/reg bash "$B" push "$M/$s" "docker://$ref" \
    > "$IT_DIR/push.out" 2> "$IT_DIR/push.err"; then
    it_fail "$s: push: $(cat "$IT_DIR/push.err")"
    continue
  fi
  it_pass "$s: pushed to $ref"
  man=$(manifest_file "$M/$s")
  curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/models/$s/manifests/1" -o "$IT_DIR/fetched.json" || true
  it_expect_eq "$s: registry serves the layout's manifest bytes" \
    "${digest[$s]}" "$(blob_digest "$IT_DIR/fetched.json")"
  it_expect_eq "$s: artifactType, config media type and every annotation survive" \
    "$(jq -cS '[.artifactType, .config.mediaType, .annotations, [.layers[] | [.mediaType, .annotations]]]' "$man")" \
    "$(jq -cS '[.artifactType, .config.mediaType, .annotations, [.layers[] | [.mediaType, .annotations]]]' "$IT_DIR/fetched.json" 2>&1)"
  it_expect_eq "$s: oras manifest fetch sees the same manifest" "${digest[$s]}" \
    "$("$ORAS" manifest fetch --plain-http "$ref" 2>&1 | sha256sum | sed 's/^/sha256:/; s/ .*//')"
done

# Building with DEST pushes too; oras cp instead of skopeo.
ref=$REGISTRY/models/raw-oras:1
if out=$(BUILD_MODEL_PUSH=oras bash "$B" raw "$M/raw.oras" "$ref" 2>&1); then
  it_expect_eq "raw: oras cp keeps the manifest too" "${digest[raw]:-}" "$out"
else
  it_fail "raw: build and push with oras cp: $out"
fi

# ---- consumers ------------------------------------------------------------------

mkdir -p "$IT_DIR/pull"
if (cd "$IT_DIR/pull" && "$ORAS" pull --no-tty --plain-http "$REGISTRY/models/raw:1") \
  > "$IT_DIR/pull.out" 2>&1; then
  it_expect_eq "oras pull of raw gives expected.txt" "$(cat "$M/raw/expected.txt")" \
    "$(cd "$IT_DIR/pull" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum)"
else
  it_fail "oras pull of raw: $(cat "$IT_DIR/pull.out")"
fi

mkdir -p "$IT_DIR/pull-bad"
if (cd "$IT_DIR/pull-bad" && "$ORAS" pull --no-tty --plain-http "$REGISTRY/models/bad-digest:1") \
  > "$IT_DIR/pull-bad.out" 2>&1; then
  it_fail "oras pull of bad-digest succeeded: the registry's copy is intact"
else
  it_check "oras pull of bad-digest fails on the digest" \
    grep -q 'mismatched digest' "$IT_DIR/pull-bad.out"
fi
bad=$(jq -r '.layers[4].digest' "$(manifest_file "$M/bad-digest")")
it_expect_eq "bad-digest: the registry serves the layout's corrupt bytes" \
  "$(blob_digest "$M/bad-digest/blobs/sha256/${bad#sha256:}")" \
  "$(curl -fsS "http://$REGISTRY/v2/models/bad-digest/blobs/$bad" | sha256sum | sed 's/^/sha256:/; s/ .*//')"

# oras-push of the files oras pulled: an independent producer, and the same
# manifest as the oras shape's layout (the same files and annotations).
if out=$(bash "$B" oras-push "$IT_DIR/pull" "$REGISTRY/models/oras-push:1" "$M/oras-push" 2>&1); then
  it_expect_eq "oras-push: same manifest as shape oras" "${digest[oras]:-}" "$out"
  it_check "oras-push: expected.txt" cmp -s "$M/raw/expected.txt" "$M/oras-push/expected.txt"
  it_expect_eq "oras-push: registry has it" "$out" \
    "$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "http://$REGISTRY/v2/models/oras-push/manifests/1" | sha256sum | sed 's/^/sha256:/; s/ .*//')"
else
  it_fail "oras-push: $out"
fi

# ---- usage errors -----------------------------------------------------------------

# expect_error MSG PATTERN ARGS...: build-model.sh fails, saying PATTERN.
expect_error() {
  local msg=$1 pat=$2 out
  shift 2
  if out=$(env -u BUILD_MODEL_REGISTRY_ROOT bash "$B" "$@" 2>&1); then
    it_fail "$msg: succeeded"
  elif grep -q -- "$pat" <<<"$out"; then
    it_pass "$msg"
  else
    it_fail "$msg: said '$out'"
  fi
}
expect_error "unknown shape" "unknown shape nope" nope "$IT_DIR/x"
expect_error "destination without a tag" "has no tag" raw "$IT_DIR/x" "docker://$REGISTRY/models/x"
expect_error "bad-digest push needs the registry root" "BUILD_MODEL_REGISTRY_ROOT" \
  bad-digest "$IT_DIR/x" "docker://$REGISTRY/models/y:1"
expect_error "push of a directory that is no layout" "is not an OCI layout" \
  push "$IT_DIR/nothing" "docker://$REGISTRY/models/y:1"
expect_error "oras-push of a missing directory" "is not a directory" \
  oras-push "$IT_DIR/nothing" "$REGISTRY/models/z:1"

it_done
