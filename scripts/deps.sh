#!/bin/sh
# Install every Debian (bookworm) package the build, the tests and the demo
# need.  Idempotent: packages already present are not touched, and apt is not
# consulted at all when nothing is missing.
set -eu

PKGS="build-essential pkg-config clang
protobuf-c-compiler libprotobuf-c-dev libgrpc-dev
libcurl4-openssl-dev libssl-dev libjansson-dev liblmdb-dev libarchive-dev
zlib1g-dev libzstd-dev
containerd runc docker-registry skopeo busybox-static
jq curl ca-certificates zstd e2fsprogs util-linux iproute2 apache2-utils
openssl python3"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps: missing Debian packages:$missing (run as root to install them)" >&2
  exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# policy-rc.d keeps package scripts from starting the node's own containerd
# or registry: tests start private instances of their own.
prc=/usr/sbin/policy-rc.d
created_prc=0
if [ ! -e "$prc" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$prc"; chmod 755 "$prc"; created_prc=1
fi
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
[ "$created_prc" = 1 ] && rm -f "$prc"
exit 0
