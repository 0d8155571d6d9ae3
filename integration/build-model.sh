#!/bin/bash
# Generate small ModelPack (CNCF model-spec) artifacts as OCI image layouts
# for the end-to-end tests of model image volumes, and push them.
#
# usage: build-model.sh SHAPE OUTDIR [DEST]
#        build-model.sh push OUTDIR DEST
#        build-model.sh oras-push SRC_DIR DEST_REF [OUTDIR]
#        build-model.sh --list
#
#   SHAPE   one of the shapes below
#   OUTDIR  OCI image layout to (re)create, the manifest tagged "1"
#           (org.opencontainers.image.ref.name), plus
#             OUTDIR/expected.txt        "sha256  path" of every regular file
#                                        the mounted model must show, sorted
#                                        (sha256sum output, paths relative to
#                                        the model root; empty for bad-*)
#             OUTDIR/expected-modes.txt  "0644 path" for files whose mode is
#                                        set by metadata (tar headers, the
#                                        file.metadata+json annotation)
#           and nothing else at its top level: the model's own files are
#           generated in a temporary directory.
#   DEST    where to push, e.g. docker://127.0.0.1:5000/models/x:1 (plain
#           HTTP; "docker://" may be left out).  Pushed with skopeo copy
#           (or oras cp, see BUILD_MODEL_PUSH), then the manifest is
#           fetched back and must have the layout's digest.
#
# Shapes (every good one: OCI image manifest, artifactType
# application/vnd.cncf.model.manifest.v1+json, config
# application/vnd.cncf.model.config.v1+json with modelfs.diffIds):
#   raw      modctl: one raw layer per file, filepath/title/metadata/untested
#            annotations; run.sh has mode 0755
#   tar      KitOps: one tar layer per top-level entry (the assets/ directory
#   targz    is one layer), entries relative to the model root, filepath =
#   tarzst   the entry; tar, tar+gzip, tar+zstd
#   nested   a/b/c/... spread over tar, tar+gzip, tar+zstd and raw layers
#            that share directories
#   overlap  later layers overwrite paths of earlier ones (raw over tar, tar
#            over raw, a mode change); expected.txt shows the later content
#   legacy   model-spec <= v0.0.6: vnd.cnai media types, org.cnai.model.*
#            annotations, config modelfs.diff_ids
#   oras     made by oras itself (`oras push --oci-layout`): raw files named
#            by title and org.cncf.model.filepath, empty config
#   dmr      a Docker Model Runner artifact (docs/image-volumes.md): config
#            application/vnd.docker.ai.model.config.v0.1+json, no
#            artifactType, layers vnd.docker.ai.gguf.v3 (a small file
#            starting with the GGUF magic), .mmproj, .chat.template.jinja and
#            .license without annotations; expected.txt has the names
#            Docker's unpacking gives them (model.gguf, model.mmproj,
#            template.jinja; license.txt is ours: Docker writes none)
#   bad-digest     raw, but the first weight blob's bytes do not match its
#                  digest (one byte flipped after the manifest was written)
#   bad-diffid     targz, but one diffId is the compressed blob's digest
#   bad-traversal  a tar layer holding ../escape
#   bad-absolute   a tar layer holding /etc/x
#   bad-symlink    a tar layer holding link -> /etc, then link/x
#   bad-mediatype  a layer of type application/vnd.cncf.model.weight.v1.tar+lz4
#   bad-bomb       a tar+zstd layer of a few KB expanding to 300 MiB of zeros
#   bad-sparse     a tar layer holding a sparse 1 GiB file (8 bytes of data)
#   bad-abslink    a tar layer holding link -> /etc/passwd (nothing through it)
#   bad-ctrlname   a tar layer holding a name with an ESC sequence
#   bad-rawsize    a raw layer whose file metadata size is not its blob's
# Good shapes that ask for much:
#   many       one tar+gzip layer "data" of 150 small files and a config (for
#              entry limits)
#   lax-modes  a tar layer with a 0666 file, a 1777 and a 0777 directory,
#              owner 65534, and a raw layer whose metadata says mode 0666
#              and uid 65534; expected-modes.txt has what a consumer must
#              serve instead (no group/other write, no sticky bit)
#   Every bad shape has a good layer first, so a consumer must discard work
#   already done; its expected files are empty.
#
# bad-digest cannot be pushed as is: the registry checks every blob's digest
# on upload.  With DEST and BUILD_MODEL_REGISTRY_ROOT set to the registry's
# filesystem storage root (its rootdirectory), the intact artifact is pushed
# and the registry's stored copy of that blob is then overwritten with the
# corrupt bytes, which the registry serves without checking.
#
# push pushes a layout this script built earlier, as DEST above.
#
# oras-push pushes the regular files under SRC_DIR with
# `oras push --plain-http --artifact-type application/vnd.cncf.model.manifest.v1+json`,
# one raw ModelPack layer per file (media type by file name) annotated with
# org.cncf.model.filepath through --annotation-file (oras adds the title);
# OUTDIR, if given, gets expected.txt and an empty expected-modes.txt (oras
# records no modes).  The same files give the same digest as shape oras.
#
# Reproducible: the same shape gives the same manifest digest (fixed
# mtimes, sorted entries, owner 0:0, gzip -n, zstd frames carry no time,
# file bytes from AES-128-CTR keystreams with fixed keys).
#
# Prints the manifest digest.
#
# Environment: ORAS (default .cache/unstable/root/usr/bin/oras, from
# `make unstable`, else oras on PATH), BUILD_MODEL_PUSH (skopeo, the
# default, or oras: `oras cp --from-oci-layout`), BUILD_MODEL_REGISTRY_ROOT.
set -euo pipefail

die() {
  echo "build-model: $*" >&2
  exit 1
}

SHAPES=(raw tar targz tarzst nested overlap legacy oras dmr bad-digest bad-diffid
  bad-traversal bad-absolute bad-symlink bad-mediatype bad-bomb bad-sparse
  bad-abslink bad-ctrlname bad-rawsize lax-modes many)
TAG=1
MTIME=2025-01-02T03:04:05Z
ART_TYPE=application/vnd.cncf.model.manifest.v1+json
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

usage() {
  echo "usage: build-model.sh SHAPE OUTDIR [DEST]" >&2
  echo "       build-model.sh push OUTDIR DEST" >&2
  echo "       build-model.sh oras-push SRC_DIR DEST_REF [OUTDIR]" >&2
  echo "shapes: ${SHAPES[*]}" >&2
  exit 2
}

need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || die "$t is not installed (make deps)"
  done
}

find_oras() {
  ORAS=${ORAS:-$repo/.cache/unstable/root/usr/bin/oras}
  if [ ! -x "$ORAS" ]; then
    ORAS=$(command -v oras || true)
    [ -n "$ORAS" ] || die "oras is missing: run make unstable"
  fi
}

# ref_of DEST: a registry reference without the docker:// transport.
ref_of() {
  local r=${1#docker://}
  case $r in
    */*) ;;
    *) die "$1 is not a registry reference like 127.0.0.1:5000/repo:tag" ;;
  esac
  case ${r#*/} in
    *@* | *:*:* | *[!a-zA-Z0-9._/:-]*) die "$1: only host/repository:tag references are supported" ;;
    *:?*) ;;
    *) die "$1 has no tag (like 127.0.0.1:5000/repo:tag)" ;;
  esac
  echo "$r"
}

# ---- content ----------------------------------------------------------

# gen_bytes SEED SIZE FILE: SIZE pseudo-random bytes, the same for the same
# SEED on every machine (AES-128-CTR keystream, key = SEED).
gen_bytes() {
  head -c "$2" /dev/zero \
    | openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$1")" \
      -iv 00000000000000000000000000000000 > "$3"
  [ "$(stat -c %s "$3")" = "$2" ] || die "openssl produced a short $3"
}

# stage_model DIR [VARIANT]: the files of the small model.
stage_model() {
  local d=$1 v=${2:-}
  mkdir -p "$d/assets/templates"
  gen_bytes 1 393216 "$d/model-00001-of-00002.safetensors"
  gen_bytes 2 262267 "$d/model-00002-of-00002.safetensors"
  cat > "$d/config.json" <<EOF
{
  "architectures": ["TinyForCausalLM"],
  "hidden_size": 64,
  "num_hidden_layers": 2,
  "torch_dtype": "float16",
  "vocab_size": 512$v
}
EOF
  cat > "$d/tokenizer.json" <<'EOF'
{"version": "1.0", "model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "a": 2}, "merges": []}}
EOF
  cat > "$d/README.md" <<'EOF'
# tiny

A generated model for the modelpack-snapshotter end-to-end tests.
Its weights are random bytes.
EOF
  printf '#!/bin/sh\necho "tiny model: nothing to run"\n' > "$d/run.sh"
  printf '<s>\n</s>\na\nb\nc\n' > "$d/assets/vocab.txt"
  printf '{%% for m in messages %%}{{ m.content }}{%% endfor %%}\n' \
    > "$d/assets/templates/chat.jinja"
  set_modes "$d"
  chmod 0755 "$d/run.sh"
}

# set_modes DIR: 0755 directories and 0644 files below DIR, whatever the
# umask.
set_modes() {
  find "$1" -mindepth 1 -type d -exec chmod 0755 {} +
  find "$1" -mindepth 1 -type f -exec chmod 0644 {} +
}

# kind_of PATH: the ModelPack layer kind a packer would give the file.
kind_of() {
  case $1 in
    *.safetensors | *.bin | *.gguf) echo weight ;;
    *.md | LICENSE*) echo doc ;;
    *.sh | *.py) echo code ;;
    *) echo weight.config ;;
  esac
}

# ---- layout -------------------------------------------------------------

# put_blob FILE: move FILE into the layout; print "sha256:<hex> <size>".
put_blob() {
  local d size
  d=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$out/blobs/sha256/$d"
  echo "sha256:$d $size"
}

# A shape appends to these with add_raw / add_tar / add_tarfile, then calls
# finish.
NS=cncf
layers=() diff_ids=()

# meta_json NAME MODE SIZE TYPEFLAG: the file.metadata+json value.
meta_json() {
  jq -cn --arg n "$1" --argjson m "$2" --argjson s "$3" --argjson t "$4" \
    --arg mt "$MTIME" \
    '{name: $n, mode: $m, uid: 0, gid: 0, size: $s, mtime: $mt, typeflag: $t}'
}

# add_layer BLOB MEDIATYPE DIFFID ANNOTATIONS_JSON: one layer descriptor.
# Annotations are sorted by key, as Go writes a map.
add_layer() {
  local r dig size
  r=$(put_blob "$1")
  dig=${r% *} size=${r#* }
  if [ "$3" = blob ]; then diff_ids+=("$dig"); else diff_ids+=("$3"); fi
  layers+=("$(jq -cn --arg mt "$2" --arg d "$dig" --argjson s "$size" \
    --argjson a "$4" \
    '{mediaType: $mt, digest: $d, size: $s,
      annotations: ($a | to_entries | sort_by(.key) | from_entries)}')")
}

# add_raw SRC RELPATH: SRC's bytes as one raw layer at RELPATH, kind from
# the name, mode from SRC (as modctl records it).
add_raw() {
  local src=$1 rel=$2 kind mode size ann blob
  kind=$(kind_of "$rel")
  mode=$((8#$(stat -c %a "$src")))
  size=$(stat -c %s "$src")
  blob=$work/blob.$((${#layers[@]}))
  cp "$src" "$blob"
  if [ "$NS" = cncf ]; then
    ann=$(jq -cn --arg p "$rel" --arg m "$(meta_json "${rel##*/}" "$mode" "$size" 0)" \
      '{"org.cncf.model.filepath": $p, "org.cncf.model.file.metadata+json": $m,
        "org.cncf.model.file.mediatype.untested": "true",
        "org.opencontainers.image.title": $p}')
  else
    ann=$(jq -cn --arg p "$rel" --arg m "$(meta_json "${rel##*/}" "$mode" "$size" 0)" \
      '{"org.cnai.model.filepath": $p, "org.cnai.model.file.metadata+json": $m,
        "org.opencontainers.image.title": $p}')
  fi
  add_layer "$blob" "application/vnd.$NS.model.$kind.v1.raw" blob "$ann"
}

# tar_entries DIR OUT ENTRY...: a reproducible tar of ENTRY... (relative to
# DIR, directories recursively).
tar_entries() {
  local dir=$1 o=$2
  shift 2
  tar -C "$dir" --sort=name --mtime="$MTIME" --owner=0 --group=0 \
    --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$o" "$@"
}

# compress FMT TAR: print the blob path of TAR packed for FMT
# (tar, tar+gzip, tar+zstd; the tar itself is kept).
compress() {
  case $1 in
    tar) cp "$2" "$2.blob" ;;
    tar+gzip) gzip -n -9 -c "$2" > "$2.blob" ;;
    tar+zstd) zstd -q -19 -c "$2" > "$2.blob" ;;
    *) die "compress: unknown format $1" ;;
  esac
  echo "$2.blob"
}

# add_tarfile TAR FMT KIND FILEPATH [META_JSON]: a prepared tar as one
# layer; its diffId is the tar's digest.
add_tarfile() {
  local t=$1 fmt=$2 kind=$3 rel=$4 meta=${5:-} ann blob diff
  diff="sha256:$(sha256sum "$t" | cut -d' ' -f1)"
  blob=$(compress "$fmt" "$t")
  ann=$(jq -cn --arg ns "$NS" --arg p "$rel" --arg m "$meta" \
    '{("org." + $ns + ".model.filepath"): $p}
     + (if $m == "" then {} else {("org." + $ns + ".model.file.metadata+json"): $m} end)
     + (if $ns == "cncf" then {"org.cncf.model.file.mediatype.untested": "true"} else {} end)')
  add_layer "$blob" "application/vnd.$NS.model.$kind.v1.$fmt" "$diff" "$ann"
}

# add_tar DIR ENTRY FMT [KIND]: ENTRY (file or directory under DIR) as one
# tar layer, KitOps-style: entries relative to the model root, filepath =
# ENTRY, metadata of ENTRY itself.
add_tar() {
  local dir=$1 entry=$2 fmt=$3 kind=${4:-} t meta
  [ -n "$kind" ] || kind=$(kind_of "$entry")
  t=$work/tar.$((${#layers[@]}))
  tar_entries "$dir" "$t" "$entry"
  if [ -d "$dir/$entry" ]; then
    meta=$(meta_json "${entry##*/}" $((8#$(stat -c %a "$dir/$entry")))  0 5)
  else
    meta=$(meta_json "${entry##*/}" $((8#$(stat -c %a "$dir/$entry"))) \
      "$(stat -c %s "$dir/$entry")" 0)
  fi
  add_tarfile "$t" "$fmt" "$kind" "$entry" "$meta"
}

# pytar OUT SPEC...: a tar GNU tar would refuse to write, with python's
# tarfile.  SPEC: f:NAME:SRCFILE:MODE  d:NAME:MODE  l:NAME:TARGET (symlink)
# s:NAME:SIZE (a sparse file of SIZE bytes, 4 bytes of data at each end).
# Owner PYTAR_UID (default 0).
pytar() {
  PYTAR_UID=${PYTAR_UID:-0} "$PYTHON" - "$@" <<'EOF'
import calendar, io, os, sys, tarfile, time
out, specs = sys.argv[1], sys.argv[2:]
mtime = calendar.timegm(time.strptime("2025-01-02T03:04:05Z", "%Y-%m-%dT%H:%M:%SZ"))
uid = int(os.environ["PYTAR_UID"])
with open(out, "wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as t:
    for s in specs:
        kind, rest = s.split(":", 1)
        ti = tarfile.TarInfo()
        ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = mtime, uid, uid, "", ""
        data = None
        if kind == "s":
            # GNU sparse format 0.1 in PAX headers: the member holds only
            # the data regions listed in the map.
            ti.name, size = rest.rsplit(":", 1)
            size = int(size)
            data = b"headtail"
            ti.type, ti.mode, ti.size = tarfile.REGTYPE, 0o644, len(data)
            ti.pax_headers = {"GNU.sparse.size": str(size),
                              "GNU.sparse.numblocks": "2",
                              "GNU.sparse.map": "0,4,%d,4" % (size - 4)}
        elif kind == "f":
            ti.name, src, mode = rest.rsplit(":", 2)
            data = open(src, "rb").read()
            ti.type, ti.mode, ti.size = tarfile.REGTYPE, int(mode, 8), len(data)
        elif kind == "d":
            ti.name, mode = rest.rsplit(":", 1)
            ti.type, ti.mode = tarfile.DIRTYPE, int(mode, 8)
        elif kind == "l":
            ti.name, ti.linkname = rest.split(":", 1)
            ti.type, ti.mode = tarfile.SYMTYPE, 0o777
        else:
            sys.exit("pytar: bad spec " + s)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
EOF
}

# flip_byte FILE OFFSET: xor one byte with 0xff, in place (twice restores).
flip_byte() {
  "$PYTHON" - "$1" "$2" <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    if len(b) != 1:
        sys.exit("flip_byte: %s is shorter than %d bytes" % (path, off + 1))
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
EOF
}

# finish NAME: write config, manifest and index.json.
finish() {
  local name=$1 cfg cfgdesc r dig size man mt_cfg fs_key caps
  if [ "$NS" = cncf ]; then
    mt_cfg=application/vnd.cncf.model.config.v1+json
    fs_key=diffIds
    caps='{"inputTypes": ["text"], "outputTypes": ["text"], "reasoning": false, "toolUsage": false}'
  else
    mt_cfg=application/vnd.cnai.model.config.v1+json
    fs_key=diff_ids
    caps='{"input_types": ["text"], "output_types": ["text"], "tool_usage": false}'
  fi
  cfg=$work/config.json
  jq -cn --arg name "$name" --arg t "$MTIME" --arg k "$fs_key" \
    --argjson caps "$caps" \
    --argjson d "$(printf '%s\n' "${diff_ids[@]}" | jq -R . | jq -cs .)" \
    '{descriptor: {createdAt: $t, authors: ["modelpack-snapshotter tests"],
                   family: "tiny", name: $name, version: "1.0",
                   licenses: ["Apache-2.0"]},
      modelfs: {type: "layers", ($k): $d},
      config: {architecture: "transformer", format: "safetensors",
               paramSize: "0.16M", precision: "float16", capabilities: $caps}}' \
    > "$cfg"
  r=$(put_blob "$cfg")
  dig=${r% *} size=${r#* }
  cfgdesc=$(jq -cn --arg mt "$mt_cfg" --arg d "$dig" --argjson s "$size" \
    '{mediaType: $mt, digest: $d, size: $s}')
  man=$work/manifest.json
  jq -cn --arg at "application/vnd.$NS.model.manifest.v1+json" \
    --argjson c "$cfgdesc" --arg t "$MTIME" \
    --argjson l "$(printf '%s\n' "${layers[@]}" | jq -cs .)" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: $at, config: $c, layers: $l,
      annotations: {"org.opencontainers.image.created": $t}}' > "$man"
  r=$(put_blob "$man")
  dig=${r% *} size=${r#* }
  write_index "$dig" "$size" "application/vnd.$NS.model.manifest.v1+json"
}

# write_index DIGEST SIZE ARTIFACT_TYPE
write_index() {
  jq -cn --arg d "$1" --argjson s "$2" --arg at "$3" --arg tag "$TAG" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
                   digest: $d, size: $s,
                   annotations: {"org.opencontainers.image.ref.name": $tag},
                   artifactType: $at}]}' > "$out/index.json"
}

# ---- expected files -----------------------------------------------------

# manifest_of LAYOUT: path of the manifest blob tagged $TAG.
manifest_of() {
  local d
  d=$(jq -r --arg tag "$TAG" '.manifests[]
    | select(.annotations["org.opencontainers.image.ref.name"] == $tag)
    | .digest' "$1/index.json")
  [ -n "$d" ] || die "$1/index.json has no manifest tagged $TAG"
  echo "$1/blobs/sha256/${d#sha256:}"
}

# write_expected: expected.txt and expected-modes.txt from the layout's
# blobs, applied in order by GNU tar and cp (an oracle independent of our
# unpacker).  Raw layers get the mode of their metadata annotation; files
# a raw layer without metadata wrote (oras) are not in expected-modes.txt:
# their mode is the consumer's choice.
write_expected() {
  local m=$work/merged n i mt path blob meta mode
  rm -rf "$m"
  mkdir -p "$m"
  : > "$work/moded"
  n=$(jq '.layers | length' "$(manifest_of "$out")")
  for ((i = 0; i < n; i++)); do
    IFS=$'\t' read -r mt path blob meta < <(jq -r --argjson i "$i" '.layers[$i]
      | [.mediaType,
         (.annotations | (.["org.cncf.model.filepath"]
           // .["org.cnai.model.filepath"] // .["org.opencontainers.image.title"])),
         (.digest | ltrimstr("sha256:")),
         (.annotations | (.["org.cncf.model.file.metadata+json"]
           // .["org.cnai.model.file.metadata+json"] // "-"))]
      | @tsv' "$(manifest_of "$out")")
    blob=$out/blobs/sha256/$blob
    case $mt in
      *.tar) tar -C "$m" -xpf "$blob" ;;
      *.tar+gzip) gzip -dc "$blob" | tar -C "$m" -xpf - ;;
      *.tar+zstd) zstd -dcq "$blob" | tar -C "$m" -xpf - ;;
      *)
        mkdir -p "$(dirname "$m/$path")"
        rm -f "$m/$path"
        cp "$blob" "$m/$path"
        if [ "$meta" != - ]; then
          mode=$(jq -r '.mode' <<<"$meta")
          chmod "$(printf '%o' "$mode")" "$m/$path"
        else
          chmod 0644 "$m/$path"
          echo "$path" >> "$work/moded"
        fi
        ;;
    esac
  done
  (cd "$m" && find . -type f -printf '%P\0' | LC_ALL=C sort -z \
    | xargs -0 -r sha256sum) > "$out/expected.txt"
  # Files last written by a layer without metadata have no expected mode.
  # Served modes: no group/other write, no setuid, setgid or sticky bit.
  (cd "$m" && find . -type f -printf '%m %P\n' | LC_ALL=C sort -k2) \
    | while read -r mo p; do printf '%04o %s\n' $((8#$mo & 8#755)) "$p"; done \
    | awk 'FILENAME == ARGV[1] { skip[$0] = 1; next } !(substr($0, 6) in skip)' \
      "$work/moded" - \
    > "$out/expected-modes.txt"
}

# ---- shapes -------------------------------------------------------------

# shape_raw [SEED]: SEED, if given, for the first weight file's bytes.
shape_raw() {
  local s=$work/src f
  stage_model "$s"
  if [ -n "${1:-}" ]; then
    gen_bytes "$1" 393216 "$s/model-00001-of-00002.safetensors"
    chmod 0644 "$s/model-00001-of-00002.safetensors"
  fi
  for f in config.json tokenizer.json assets/templates/chat.jinja \
    assets/vocab.txt model-00001-of-00002.safetensors \
    model-00002-of-00002.safetensors README.md run.sh; do
    add_raw "$s/$f" "$f"
  done
}

# shape_tar FMT: KitOps-shaped, one layer per top-level entry.
shape_tar() {
  local s=$work/src e
  stage_model "$s"
  for e in config.json tokenizer.json assets model-00001-of-00002.safetensors \
    model-00002-of-00002.safetensors README.md run.sh; do
    add_tar "$s" "$e" "$1"
  done
}

shape_nested() {
  local s=$work/src
  mkdir -p "$s/l0" "$s/l1/a/b/c" "$s/l2/a/b/c" "$s/l2/a/b/d" \
    "$s/l3/a/b/c/d/e" "$s/l4"
  stage_model "$s/l0"
  echo "top of a" > "$s/l1/a/x.txt"
  gen_bytes 11 102400 "$s/l1/a/b/c/file1.bin"
  echo "second layer, same directory" > "$s/l2/a/b/c/file2.txt"
  echo "a sibling directory" > "$s/l2/a/b/d/file3.txt"
  gen_bytes 12 204811 "$s/l3/a/b/c/d/e/deep.bin"
  echo "a raw file deep inside the tar layers' tree" > "$s/l4/raw.txt"
  set_modes "$s"
  chmod 0755 "$s/l3/a/b/c/d/e/deep.bin"
  add_raw "$s/l0/config.json" config.json
  add_tar "$s/l1" a tar weight
  add_tar "$s/l2" a tar+gzip doc
  add_tar "$s/l3" a tar+zstd weight
  add_raw "$s/l4/raw.txt" a/b/c/raw.txt
}

shape_overlap() {
  local s=$work/src
  mkdir -p "$s/v1/docs" "$s/v2" "$s/v3/docs"
  stage_model "$s/v1"
  echo "guide, first version" > "$s/v1/docs/guide.md"
  echo "kept from the first layer" > "$s/v1/docs/keep.md"
  stage_model "$s/v2" ', "revision": 2'
  echo "guide, second version: the later layer wins" > "$s/v3/docs/guide.md"
  set_modes "$s"
  chmod 0600 "$s/v2/config.json"
  add_raw "$s/v1/model-00001-of-00002.safetensors" model.safetensors
  add_raw "$s/v1/config.json" config.json
  add_tar "$s/v1" docs tar doc
  # A tar over a raw file: new bytes and mode 0600.
  add_tar "$s/v2" config.json tar+gzip weight.config
  # A raw file over a file of a tar layer's directory.
  add_raw "$s/v3/docs/guide.md" docs/guide.md
}

shape_legacy() {
  local s=$work/src
  NS=cnai
  stage_model "$s"
  add_raw "$s/config.json" config.json
  add_raw "$s/model-00001-of-00002.safetensors" model-00001-of-00002.safetensors
  add_raw "$s/model-00002-of-00002.safetensors" model-00002-of-00002.safetensors
  add_tar "$s" assets tar+gzip weight.config
  add_tar "$s" README.md tar doc
  add_raw "$s/run.sh" run.sh
}

# shape_oras: `oras push --oci-layout` of the model's files, with the
# manifest's created time fixed so that the digest is reproducible.
shape_oras() {
  local s=$work/src
  stage_model "$s"
  find_oras
  oras_push "$s" --oci-layout "$out:$TAG"
  # oras keeps its upload staging area in the layout; it is not part of it.
  rm -rf "$out/ingest"
}

# shape_dmr: what Docker's model tools push (docker/model-runner,
# pkg/distribution: types/config.go for the media types, builder/ and
# internal/partial for the manifest), without the filepath annotations the
# first releases did not write; the config and manifest are written here,
# and so is expected.txt: the names are what Docker's unpacking gives each
# media type.
shape_dmr() {
  local s=$work/src f mt r dig size cfg cfgdesc man
  local -a files=(model.gguf model.mmproj template.jinja license.txt)
  local -A type_of=([model.gguf]=gguf.v3 [model.mmproj]=mmproj
    [template.jinja]=chat.template.jinja [license.txt]=license)
  mkdir -p "$s"
  # GGUF magic, version 3 (little-endian), then random bytes.
  printf 'GGUF\003\000\000\000' > "$s/model.gguf"
  gen_bytes 7 65536 "$work/gguf.tail"
  cat "$work/gguf.tail" >> "$s/model.gguf"
  printf 'GGUF\003\000\000\000' > "$s/model.mmproj"
  gen_bytes 8 4096 "$work/mmproj.tail"
  cat "$work/mmproj.tail" >> "$s/model.mmproj"
  printf '{%% for m in messages %%}{{ m.content }}{%% endfor %%}\n' > "$s/template.jinja"
  printf 'Apache License\nVersion 2.0, January 2004\n(test text)\n' > "$s/license.txt"
  (cd "$s" && sha256sum "${files[@]}" | LC_ALL=C sort -k2) > "$out/expected.txt"
  : > "$out/expected-modes.txt"
  for f in "${files[@]}"; do
    cp "$s/$f" "$work/blob.$f"
    r=$(put_blob "$work/blob.$f")
    dig=${r% *} size=${r#* }
    diff_ids+=("$dig")
    layers+=("$(jq -cn --arg mt "application/vnd.docker.ai.${type_of[$f]}" \
      --arg d "$dig" --argjson s "$size" '{mediaType: $mt, digest: $d, size: $s}')")
  done
  cfg=$work/config.json
  jq -cn --arg t "$MTIME" \
    --argjson d "$(printf '%s\n' "${diff_ids[@]}" | jq -R . | jq -cs .)" \
    '{config: {format: "gguf", quantization: "Q4_0", parameters: "0.07M",
               architecture: "tiny", size: "69.63 KB"},
      descriptor: {created: $t}, rootfs: {type: "rootfs", diff_ids: $d}}' > "$cfg"
  r=$(put_blob "$cfg")
  dig=${r% *} size=${r#* }
  cfgdesc=$(jq -cn --arg d "$dig" --argjson s "$size" \
    '{mediaType: "application/vnd.docker.ai.model.config.v0.1+json", digest: $d, size: $s}')
  man=$work/manifest.json
  jq -cn --argjson c "$cfgdesc" \
    --argjson l "$(printf '%s\n' "${layers[@]}" | jq -cs .)" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: $c, layers: $l}' > "$man"
  r=$(put_blob "$man")
  dig=${r% *} size=${r#* }
  jq -cn --arg d "$dig" --argjson s "$size" --arg tag "$TAG" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
                   digest: $d, size: $s,
                   annotations: {"org.opencontainers.image.ref.name": $tag}}]}' \
    > "$out/index.json"
}

# oras_push SRC_DIR ORAS_TARGET_ARGS...: push SRC_DIR's regular files, one
# raw ModelPack layer each.
oras_push() {
  local src=$1 f files=() ann=$work/annotations.json
  shift
  mapfile -t files < <(cd "$src" && find . -type f -printf '%P\n' | LC_ALL=C sort)
  [ ${#files[@]} -gt 0 ] || die "$src has no regular files to push"
  printf '%s\n' "${files[@]}" | jq -R . | jq -s --arg t "$MTIME" \
    'map({(.): {"org.cncf.model.filepath": .}}) | add
     + {"$manifest": {"org.opencontainers.image.created": $t}}' > "$ann"
  local args=()
  for f in "${files[@]}"; do
    case $f in *:*) die "oras cannot push $f: ':' separates the media type" ;; esac
    args+=("$f:application/vnd.cncf.model.$(kind_of "$f").v1.raw")
  done
  (cd "$src" && "$ORAS" push --no-tty --artifact-type "$ART_TYPE" \
    --annotation-file "$ann" "$@" "${args[@]}") > "$work/oras.out" 2>&1 \
    || die "oras push failed: $(cat "$work/oras.out")"
  oras_digest=$(awk '$1 == "Digest:" { print $2 }' "$work/oras.out")
  [ -n "$oras_digest" ] || die "oras push printed no digest: $(cat "$work/oras.out")"
}

# Its first weight file is its own (seed 101): blobs are shared across
# repositories of a registry, and corrupting the registry's copy must not
# touch the other shapes.  For the same reason a registry that already has
# the blob (any repository) keeps its intact copy: clients skip uploading
# it or mount it across repositories.
shape_bad_digest() {
  shape_raw 101
}

shape_bad_diffid() {
  shape_tar tar+gzip
  # A classic producer bug: the compressed blob's digest as the diffId.
  local i=5
  diff_ids[i]=$(jq -r .digest <<<"${layers[i]}")
}

# shape_bad_tar KIND: a good raw layer, then a tar layer whose entries try
# to leave the model root.
shape_bad_tar() {
  local s=$work/src t=$work/bad.tar
  mkdir -p "$s"
  stage_model "$s"
  add_raw "$s/config.json" config.json
  case $1 in
    traversal)
      pytar "$t" d:weights:0755 \
        f:weights/ok.bin:"$s/model-00002-of-00002.safetensors":0644 \
        f:../escape:"$s/README.md":0644
      add_tarfile "$t" tar weight weights
      ;;
    absolute)
      pytar "$t" d:weights:0755 \
        f:weights/ok.bin:"$s/model-00002-of-00002.safetensors":0644 \
        f:/etc/x:"$s/README.md":0644
      add_tarfile "$t" tar weight weights
      ;;
    symlink)
      pytar "$t" l:link:/etc f:link/x:"$s/README.md":0644
      add_tarfile "$t" tar+gzip weight link
      ;;
    bomb)
      # 300 MiB of zeros: a few KB of zstd, past the default 256 MiB floor
      # and 100x ratio.
      "$PYTHON" - "$t" <<'EOF'
import io, sys, tarfile
class Zeros(io.RawIOBase):
    def __init__(self, n): self.left = n
    def readable(self): return True
    def readinto(self, b):
        k = min(len(b), self.left); b[:k] = bytes(k); self.left -= k; return k
ti = tarfile.TarInfo("weights/zeros.bin")
ti.size, ti.mode, ti.mtime = 300 << 20, 0o644, 1735787045
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    t.addfile(ti, io.BufferedReader(Zeros(ti.size), 1 << 20))
EOF
      local diff
      diff="sha256:$(sha256sum "$t" | cut -d' ' -f1)"
      zstd -q -3 -c "$t" > "$t.blob"
      rm -f "$t"
      add_layer "$t.blob" application/vnd.cncf.model.weight.v1.tar+zstd "$diff" \
        '{"org.cncf.model.filepath": "weights"}'
      ;;
    sparse)
      pytar "$t" d:weights:0755 s:weights/holes.bin:1073741824
      add_tarfile "$t" tar weight weights
      ;;
    abslink)
      pytar "$t" d:weights:0755 \
        f:weights/ok.bin:"$s/model-00002-of-00002.safetensors":0644 \
        l:weights/passwd:/etc/passwd
      add_tarfile "$t" tar weight weights
      ;;
    ctrlname)
      pytar "$t" d:weights:0755 \
        f:$'weights/evil\e]0;pwned\a\e[2J.bin':"$s/README.md":0644
      add_tarfile "$t" tar weight weights
      ;;
    rawsize)
      add_raw "$s/README.md" README.md
      local last=$((${#layers[@]} - 1))
      layers[last]=$(jq -c '.annotations["org.cncf.model.file.metadata+json"] |= (fromjson | .size = 1073741824 | tojson)' \
        <<<"${layers[last]}")
      ;;
    mediatype)
      tar_entries "$s" "$t" model-00001-of-00002.safetensors
      add_tarfile "$t" tar weight model-00001-of-00002.safetensors
      local last=$((${#layers[@]} - 1))
      layers[last]=$(jq -c '.mediaType = "application/vnd.cncf.model.weight.v1.tar+lz4"' \
        <<<"${layers[last]}")
      ;;
  esac
}

# shape_many: 150 files in one tar layer.
shape_many() {
  local s=$work/src i
  mkdir -p "$s/data"
  stage_model "$s"
  for ((i = 1; i <= 150; i++)); do echo "$i" > "$s/data/f$i.txt"; done
  chmod 0755 "$s/data"
  chmod 0644 "$s"/data/*
  add_raw "$s/config.json" config.json
  add_tar "$s" data tar+gzip weight
}

# shape_lax_modes: modes and owners no consumer should serve as they are.
shape_lax_modes() {
  local s=$work/src t=$work/lax.tar last
  mkdir -p "$s"
  stage_model "$s"
  PYTAR_UID=65534 pytar "$t" d:shared:1777 d:shared/open:0777 \
    f:shared/open/rw.bin:"$s/model-00002-of-00002.safetensors":0666 \
    f:shared/suid.sh:"$s/README.md":4777
  add_tarfile "$t" tar weight shared
  chmod 0666 "$s/config.json"
  add_raw "$s/config.json" config.json
  last=$((${#layers[@]} - 1))
  layers[last]=$(jq -c '.annotations["org.cncf.model.file.metadata+json"] |= (fromjson | .uid = 65534 | .gid = 65534 | tojson)' \
    <<<"${layers[last]}")
}

# ---- push -----------------------------------------------------------------

# push_layout LAYOUT DEST: copy the layout's tagged manifest to DEST and
# check that the registry serves the very same manifest bytes.  skopeo
# 1.9.3 (bookworm) copies these manifests unchanged (artifactType, the
# model config media type, layer annotations), as does oras cp.
push_layout() {
  local layout=$1 ref want got host path
  ref=$(ref_of "$2")
  case ${BUILD_MODEL_PUSH:-skopeo} in
    skopeo)
      need skopeo
      skopeo copy --quiet --dest-tls-verify=false "oci:$layout:$TAG" \
        "docker://$ref" > "$work/push.out" 2>&1 \
        || die "skopeo copy to $ref failed: $(cat "$work/push.out")"
      ;;
    oras)
      find_oras
      "$ORAS" cp --no-tty --from-oci-layout "$layout:$TAG" "$ref" --to-plain-http \
        > "$work/push.out" 2>&1 || die "oras cp to $ref failed: $(cat "$work/push.out")"
      ;;
    *) die "BUILD_MODEL_PUSH must be skopeo or oras, not '$BUILD_MODEL_PUSH'" ;;
  esac
  want="sha256:$(sha256sum "$(manifest_of "$layout")" | cut -d' ' -f1)"
  host=${ref%%/*} path=${ref#*/}
  got="sha256:$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$host/v2/${path%:*}/manifests/${path##*:}" | sha256sum | cut -d' ' -f1)" \
    || die "cannot fetch the manifest of $ref back"
  [ "$want" = "$got" ] || die "$ref: the registry serves manifest $got, the layout has $want"
}

# push_bad_digest LAYOUT DEST: push the intact artifact, then corrupt the
# registry's stored copy of the blob the layout corrupts.
push_bad_digest() {
  local root=${BUILD_MODEL_REGISTRY_ROOT:-} copy=$work/intact blob hex
  [ -n "$root" ] || die "bad-digest: a registry refuses a blob whose bytes do not match its digest; set BUILD_MODEL_REGISTRY_ROOT to the registry's storage root to corrupt its copy after pushing"
  hex=$(jq -r '.layers[] | select(.mediaType | endswith(".weight.v1.raw")) | .digest' \
    "$(manifest_of "$1")" | head -n 1)
  hex=${hex#sha256:}
  cp -a "$1" "$copy"
  flip_byte "$copy/blobs/sha256/$hex" 4096
  push_layout "$copy" "$2"
  blob=$root/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
  [ -f "$blob" ] || die "bad-digest: $blob is missing: is $root the registry's storage root?"
  # A copy, not another flip: pushing twice must not repair it.
  cp "$1/blobs/sha256/$hex" "$blob"
}

# ---- main -----------------------------------------------------------------

[ $# -ge 1 ] || usage
case $1 in
  --list)
    printf '%s\n' "${SHAPES[@]}"
    exit 0
    ;;
  -h | --help) usage ;;
esac
need jq sha256sum tar gzip zstd openssl curl
# Debian's python3 (tarfile), not whatever a user's PATH puts first.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3) \
  || die "python3 is not installed (make deps)"
work=$(mktemp -d "${TMPDIR:-/tmp}/mpmodel.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "$1" = push ]; then
  if [ $# -ne 3 ]; then usage; fi
  out=$2
  [ -f "$out/index.json" ] || die "$out is not an OCI layout (no index.json)"
  name=$(jq -r '.config.digest | ltrimstr("sha256:")' "$(manifest_of "$out")")
  name=$(jq -r '.descriptor.name // empty' "$out/blobs/sha256/$name" 2>/dev/null || true)
  if [ "$name" = tiny-bad-digest ]; then
    push_bad_digest "$out" "$3"
  else
    push_layout "$out" "$3"
  fi
  jq -r '.manifests[0].digest' "$out/index.json"
  exit 0
fi

if [ "$1" = oras-push ]; then
  if [ $# -lt 3 ] || [ $# -gt 4 ]; then usage; fi
  src=$2 ref=$(ref_of "$3") out=${4:-}
  [ -d "$src" ] || die "$src is not a directory"
  find_oras
  oras_push "$src" --plain-http "$ref"
  echo "$oras_digest"
  if [ -n "$out" ]; then
    mkdir -p "$out"
    (cd "$src" && find . -type f -printf '%P\0' | LC_ALL=C sort -z \
      | xargs -0 -r sha256sum) > "$out/expected.txt"
    : > "$out/expected-modes.txt"
  fi
  exit 0
fi

if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
shape=$1 out=$2 dest=${3:-}
case " ${SHAPES[*]} " in
  *" $shape "*) ;;
  *) die "unknown shape $shape (one of: ${SHAPES[*]})" ;;
esac
case $out in "" | / | -*) die "bad OUTDIR '$out'" ;; esac
rm -rf "$out"
mkdir -p "$out/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"

case $shape in
  raw) shape_raw ;;
  tar) shape_tar tar ;;
  targz) shape_tar tar+gzip ;;
  tarzst) shape_tar tar+zstd ;;
  nested) shape_nested ;;
  overlap) shape_overlap ;;
  legacy) shape_legacy ;;
  oras) shape_oras ;;
  dmr) shape_dmr ;;
  bad-digest) shape_bad_digest ;;
  bad-diffid) shape_bad_diffid ;;
  bad-traversal) shape_bad_tar traversal ;;
  bad-absolute) shape_bad_tar absolute ;;
  bad-symlink) shape_bad_tar symlink ;;
  bad-mediatype) shape_bad_tar mediatype ;;
  bad-bomb) shape_bad_tar bomb ;;
  bad-sparse) shape_bad_tar sparse ;;
  bad-abslink) shape_bad_tar abslink ;;
  bad-ctrlname) shape_bad_tar ctrlname ;;
  bad-rawsize) shape_bad_tar rawsize ;;
  lax-modes) shape_lax_modes ;;
  many) shape_many ;;
esac
case $shape in oras | dmr) ;; *) finish "tiny-$shape" ;; esac

case $shape in
  bad-*) : > "$out/expected.txt"; : > "$out/expected-modes.txt" ;;
  dmr) ;;
  *) write_expected ;;
esac
if [ "$shape" = bad-digest ]; then
  hex=$(jq -r '.layers[] | select(.mediaType | endswith(".weight.v1.raw")) | .digest' \
    "$(manifest_of "$out")" | head -n 1)
  flip_byte "$out/blobs/sha256/${hex#sha256:}" 4096
fi

if [ -n "$dest" ]; then
  if [ "$shape" = bad-digest ]; then
    push_bad_digest "$out" "$dest"
  else
    push_layout "$out" "$dest"
  fi
fi
jq -r '.manifests[0].digest' "$out/index.json"
