#!/bin/bash
# Build a small OCI image from directories, one tar+gzip layer per
# directory (in order), into an OCI image layout, and optionally push it.
# Reproducible: entries sorted, fixed mtime, owner 0:0, modes as staged.
#
# usage: build-oci.sh LAYOUT TAG [options] DIR...
#   LAYOUT            OCI image layout to create or add to (index.json gets
#                     one manifest per TAG, org.opencontainers.image.ref.name)
#   TAG               the manifest's tag in LAYOUT
#   --entrypoint JSON config Entrypoint, e.g. '["/bin/sleep","inf"]'
#   --cmd JSON        config Cmd, e.g. '["/bin/sh"]'
#   --push DEST       skopeo destination, e.g. docker://127.0.0.1:5000/a/b:1
#                     (plain HTTP)
#   DIR               a layer's tree: its contents become the layer
# Prints the manifest digest.
set -euo pipefail

die() { echo "build-oci: $*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: build-oci.sh LAYOUT TAG [--entrypoint JSON] [--cmd JSON] [--push DEST] DIR..."
out=$1 tag=$2
shift 2
entrypoint=null cmd=null dest="" dirs=()
while [ $# -gt 0 ]; do
  case $1 in
    --entrypoint) entrypoint=$2; shift 2 ;;
    --cmd) cmd=$2; shift 2 ;;
    --push) dest=$2; shift 2 ;;
    -*) die "unknown option $1" ;;
    *) dirs+=("$1"); shift ;;
  esac
done
[ ${#dirs[@]} -gt 0 ] || die "no layer directory given"
for tool in tar gzip sha256sum jq; do
  command -v "$tool" >/dev/null || die "$tool is not installed (make deps)"
done

case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/mpoci.XXXXXX")
trap 'rm -rf "$work"' EXIT

mkdir -p "$out/blobs/sha256"
[ -e "$out/oci-layout" ] || printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
[ -e "$out/index.json" ] \
  || echo '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}' \
    > "$out/index.json"

# put_blob FILE MEDIATYPE: move FILE into the layout, print a descriptor.
put_blob() {
  local f=$1 mt=$2 d size
  d=$(sha256sum "$f" | cut -d' ' -f1)
  size=$(stat -c %s "$f")
  mv "$f" "$out/blobs/sha256/$d"
  jq -cn --arg mt "$mt" --arg d "sha256:$d" --argjson s "$size" \
    '{mediaType: $mt, digest: $d, size: $s}'
}

layers=() diff_ids=() n=0
for dir in "${dirs[@]}"; do
  [ -d "$dir" ] || die "$dir is not a directory"
  n=$((n + 1))
  # Top-level entries only, so names carry no "./" prefix.
  mapfile -t top < <(find "$dir" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort)
  [ ${#top[@]} -gt 0 ] || die "$dir is empty"
  tar -C "$dir" --sort=name --mtime='2024-01-01 00:00:00Z' --owner=0 \
    --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$work/layer$n.tar" "${top[@]}"
  diff_ids+=("sha256:$(sha256sum "$work/layer$n.tar" | cut -d' ' -f1)")
  gzip -n -9 "$work/layer$n.tar"
  layers+=("$(put_blob "$work/layer$n.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)")
done

jq -cn --arg arch "$arch" --argjson entrypoint "$entrypoint" --argjson cmd "$cmd" \
  --argjson diff_ids "$(printf '%s\n' "${diff_ids[@]}" | jq -R . | jq -cs .)" \
  '{created: "2024-01-01T00:00:00Z", architecture: $arch, os: "linux",
    config: ({Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
      + (if $entrypoint == null then {} else {Entrypoint: $entrypoint} end)
      + (if $cmd == null then {} else {Cmd: $cmd} end)),
    rootfs: {type: "layers", diff_ids: $diff_ids}}' > "$work/config.json"
config=$(put_blob "$work/config.json" application/vnd.oci.image.config.v1+json)

jq -cn --argjson config "$config" \
  --argjson layers "$(printf '%s\n' "${layers[@]}" | jq -cs .)" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: $config, layers: $layers}' > "$work/manifest.json"
manifest=$(put_blob "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)

jq --argjson m "$manifest" --arg tag "$tag" \
  '.manifests |= (map(select(.annotations["org.opencontainers.image.ref.name"] != $tag))
    + [$m + {annotations: {"org.opencontainers.image.ref.name": $tag}}])' \
  "$out/index.json" > "$work/index.json"
mv "$work/index.json" "$out/index.json"

if [ -n "$dest" ]; then
  skopeo copy --quiet --dest-tls-verify=false "oci:$out:$tag" "$dest" \
    || die "skopeo copy to $dest failed"
fi
jq -r .digest <<<"$manifest"
