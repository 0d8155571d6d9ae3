#!/bin/bash
# Build a small multi-layer OCI image layout from busybox-static, so that
# unpacking across layers (overwrite, whiteout, opaque directory) is exercised
# against real containerd.  Reproducible: the same busybox gives the same
# digests.
#
# usage: build-image.sh DIR [DEST]
#   DIR   OCI image layout to (re)create; the manifest is tagged "1"
#   DEST  optional skopeo destination to push to, e.g.
#         docker://127.0.0.1:5000/test/multilayer:1 (plain HTTP)
#
# Layers (all application/vnd.oci.image.layer.v1.tar+gzip):
#   1  /bin/busybox, symlinks /bin/{sh,cat,ls,echo} -> busybox
#   2  /etc/greeting "hello from layer 2", /etc/motd, /etc/keep,
#      /etc/sub/ (directory with file), /data/a.txt
#   3  /etc/greeting "hello from layer 3" (overwrite), /etc/.wh.motd (delete),
#      /etc/new, /data/.wh..wh..opq + /data/b.txt (opaque: a.txt disappears)
# Seen from a container:  cat /etc/greeting -> "hello from layer 3";
#   ls /etc -> greeting keep new sub;  ls /data -> b.txt
set -euo pipefail

die() { echo "build-image: $*" >&2; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: build-image.sh DIR [DEST]"; fi
out=$1
dest=${2:-}
busybox=${BUSYBOX:-/bin/busybox}
for tool in tar gzip sha256sum jq; do
  command -v "$tool" >/dev/null || die "$tool is not installed (make deps)"
done
[ -x "$busybox" ] || die "$busybox is missing: install busybox-static (make deps)"
if ldd "$busybox" >/dev/null 2>&1; then
  die "$busybox is dynamically linked; the image needs busybox-static"
fi

case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  armv7l) arch=arm ;;
  ppc64le) arch=ppc64le ;;
  s390x) arch=s390x ;;
  riscv64) arch=riscv64 ;;
  *) die "unknown machine $(uname -m)" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/mpimg.XXXXXX")
trap 'rm -rf "$work"' EXIT

rm -rf "$out"
mkdir -p "$out/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"

# Stage the three layer trees.
l1=$work/l1 l2=$work/l2 l3=$work/l3
mkdir -p "$l1/bin" "$l2/etc/sub" "$l2/data" "$l3/etc" "$l3/data"
cp "$busybox" "$l1/bin/busybox"
chmod 0755 "$l1/bin/busybox"
for applet in sh cat ls echo; do ln -s busybox "$l1/bin/$applet"; done

echo "hello from layer 2" > "$l2/etc/greeting"
echo "deleted in layer 3" > "$l2/etc/motd"
echo "kept from layer 2" > "$l2/etc/keep"
echo "in a directory" > "$l2/etc/sub/file"
echo "hidden by an opaque directory in layer 3" > "$l2/data/a.txt"

echo "hello from layer 3" > "$l3/etc/greeting"
: > "$l3/etc/.wh.motd"
echo "added in layer 3" > "$l3/etc/new"
: > "$l3/data/.wh..wh..opq"
echo "only file left in /data" > "$l3/data/b.txt"

find "$work" -mindepth 2 -type d -exec chmod 0755 {} +
find "$work" -mindepth 2 -type f ! -name busybox -exec chmod 0644 {} +

# put_blob FILE MEDIATYPE: move FILE into the layout, print a descriptor.
put_blob() {
  local f=$1 mt=$2 d size
  d=$(sha256sum "$f" | cut -d' ' -f1)
  size=$(stat -c %s "$f")
  mv "$f" "$out/blobs/sha256/$d"
  jq -cn --arg mt "$mt" --arg d "sha256:$d" --argjson s "$size" \
    '{mediaType: $mt, digest: $d, size: $s}'
}

layers=() diff_ids=() history=()
for n in 1 2 3; do
  dir=$work/l$n
  # Top-level entries only, so names carry no "./" prefix.
  mapfile -t top < <(find "$dir" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort)
  tar -C "$dir" --sort=name --mtime='2024-01-01 00:00:00Z' --owner=0 \
    --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$work/layer$n.tar" "${top[@]}"
  diff_ids+=("sha256:$(sha256sum "$work/layer$n.tar" | cut -d' ' -f1)")
  gzip -n -9 "$work/layer$n.tar"
  layers+=("$(put_blob "$work/layer$n.tar.gz" \
    application/vnd.oci.image.layer.v1.tar+gzip)")
  history+=("{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"build-image.sh layer $n\"}")
done

jq -cn --arg arch "$arch" \
  --argjson diff_ids "$(printf '%s\n' "${diff_ids[@]}" | jq -R . | jq -cs .)" \
  --argjson history "$(printf '%s\n' "${history[@]}" | jq -cs .)" \
  '{created: "2024-01-01T00:00:00Z", architecture: $arch, os: "linux",
    config: {Env: ["PATH=/bin"], Cmd: ["/bin/sh"]},
    rootfs: {type: "layers", diff_ids: $diff_ids}, history: $history}' \
  > "$work/config.json"
config=$(put_blob "$work/config.json" application/vnd.oci.image.config.v1+json)

jq -cn --argjson config "$config" \
  --argjson layers "$(printf '%s\n' "${layers[@]}" | jq -cs .)" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: $config, layers: $layers}' > "$work/manifest.json"
manifest=$(put_blob "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)

jq -cn --argjson m "$manifest" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [$m + {annotations: {"org.opencontainers.image.ref.name": "1"}}]}' \
  > "$out/index.json"

if [ -n "$dest" ]; then
  skopeo copy --quiet --dest-tls-verify=false "oci:$out:1" "$dest" \
    || die "skopeo copy to $dest failed"
fi
