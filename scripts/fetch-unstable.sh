#!/bin/sh
# Fetch the tools we test against that only Debian unstable ships
# (containerd 2.x, oras, soci-snapshotter, nydus-snapshotter, the signers
# cosign and notation), and the TOML
# conformance corpus (toml-test, shipped inside the Go TOML library's source
# package) that tests/test_toml.c runs, without installing them: apt-get
# download under a private apt state directory, then dpkg -x into a cache
# folder.  Nothing touches the system's apt or dpkg state.
#
# usage: fetch-unstable.sh CACHE_DIR   -> binaries in CACHE_DIR/root/usr/bin,
#   the corpus in CACHE_DIR/root/$toml_test (below), erofs-utils in
#   CACHE_DIR/erofs-root (below)
#
# erofs-utils (mkfs.erofs, fsck.erofs, dump.erofs: the reference our EROFS
# index writer is tested against, integration/test_erofs_ref.sh) needs
# unstable's glibc, so it gets a root of its own holding unstable's libc6 and
# every library it loads; run it as
#   R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 \
#     --library-path R/usr/lib/x86_64-linux-gnu:R/lib/x86_64-linux-gnu \
#     R/usr/bin/mkfs.erofs ...
set -eu

cache=${1:?usage: fetch-unstable.sh CACHE_DIR}
pkgs="containerd oras soci-snapshotter nydus-snapshotter cosign notation golang-github-burntsushi-toml-dev"
# erofs-utils and its dependencies, closed under Depends (apt-cache depends
# --recurse --no-recommends --no-suggests under the private apt state,
# erofs-utils 1.9.4-1).  Listed, not computed: what runs in the tests is
# what this line says.
erofs_pkgs="erofs-utils libc6 libgcc-s1 gcc-16-base libc-gconv-modules-extra \
 libcurl4t64 libbrotli1 libgssapi-krb5-2 libcom-err2 libk5crypto3 libkrb5-3 \
 libkrb5support0 libkeyutils1 libidn2-0 libunistring5 libldap2 libsasl2-2 \
 libsasl2-modules-db libdb5.3t64 libnghttp2-14 libnghttp3-9 libngtcp2-16 \
 libngtcp2-crypto-ossl0 libpsl5t64 libssh2-1t64 libssl3t64 \
 openssl-provider-legacy libdeflate0 libjson-c5 liblz4-1 liblzma5 \
 libselinux1 libpcre2-8-0 libuuid1 libxml2-16 libxxhash0 libzstd1 zlib1g"
# Keep in step with TOML_TEST_DIR in the Makefile.
toml_test=usr/share/gocode/src/github.com/BurntSushi/toml/internal/toml-test
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
stamp="$cache/.done-$(echo "$pkgs" | tr ' ' '-')"
# The erofs list is too long for a file name: its checksum names the stamp.
erofs_stamp="$cache/.done-erofs-$(echo $erofs_pkgs | cksum | cut -d' ' -f1)"
[ -e "$stamp" ] && [ -e "$erofs_stamp" ] && exit 0

apt="$cache/apt"
mkdir -p "$apt/etc/sources.list.d" "$apt/etc/preferences.d" \
  "$apt/lists/partial" "$apt/archives/partial" "$cache/debs"
: > "$apt/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main" \
  > "$apt/etc/sources.list"
opts="-o Dir::Etc=$apt/etc -o Dir::State::Lists=$apt/lists \
 -o Dir::Cache=$apt -o Dir::Cache::archives=$apt/archives \
 -o Dir::State::status=$apt/status -o Debug::NoLocking=1 \
 -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get $opts update -q >/dev/null

# unpack_root DIR PKGS...: download PKGS and unpack them into DIR.new, then
# swap it in as DIR.  Tests running from the old tree (another checkout
# sharing this cache) keep their binaries.
unpack_root() {
  root=$1
  shift
  rm -rf "$cache/debs"
  mkdir -p "$cache/debs"
  # shellcheck disable=SC2086
  (cd "$cache/debs" && apt-get $opts download "$@" >/dev/null)
  rm -rf "$root.new" "$root.old"
  for d in "$cache"/debs/*.deb; do dpkg -x "$d" "$root.new"; done
}

if [ ! -e "$erofs_stamp" ]; then
  # shellcheck disable=SC2086
  unpack_root "$cache/erofs-root" $erofs_pkgs
  r="$cache/erofs-root.new"
  for b in mkfs.erofs fsck.erofs dump.erofs; do
    [ -x "$r/usr/bin/$b" ] || { echo "fetch-unstable: $b missing from erofs-utils" >&2; exit 1; }
    "$r/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
      --library-path "$r/usr/lib/x86_64-linux-gnu:$r/lib/x86_64-linux-gnu" \
      "$r/usr/bin/$b" --help >/dev/null 2>&1 \
      || { echo "fetch-unstable: $b does not run from $r (a library missing from the list?)" >&2; exit 1; }
  done
  [ -d "$cache/erofs-root" ] && mv "$cache/erofs-root" "$cache/erofs-root.old"
  mv "$r" "$cache/erofs-root"
  rm -rf "$cache/erofs-root.old"
  touch "$erofs_stamp"
fi
[ -e "$stamp" ] && exit 0

# shellcheck disable=SC2086
unpack_root "$cache/root" $pkgs
for b in containerd ctr containerd-shim-runc-v2 oras soci-snapshotter-grpc containerd-nydus-grpc cosign notation; do
  [ -x "$cache/root.new/usr/bin/$b" ] || { echo "fetch-unstable: $b missing from the unpacked packages" >&2; exit 1; }
done
# tests/test_toml.c selects its cases with version.go's exclude lists.
for f in tests/valid tests/invalid version.go; do
  [ -e "$cache/root.new/$toml_test/$f" ] || { echo "fetch-unstable: toml-test's $f missing from golang-github-burntsushi-toml-dev (moved in a new version?)" >&2; exit 1; }
done
[ -d "$cache/root" ] && mv "$cache/root" "$cache/root.old"
mv "$cache/root.new" "$cache/root"
rm -rf "$cache/root.old"
touch "$stamp"
