#!/bin/sh
# Fetch the tools we test against that only Debian unstable ships
# (containerd 2.x, oras, soci-snapshotter, nydus-snapshotter, the signers
# cosign and notation), and the TOML conformance corpus (toml-test, shipped
# inside the Go TOML library's source package) that tests/test_toml.c runs,
# without installing them: apt-get download under a private apt state
# directory, then dpkg -x into a cache folder.  Nothing touches the system's
# apt or dpkg state.
#
# usage: fetch-unstable.sh CACHE_DIR   -> binaries in CACHE_DIR/root/usr/bin,
#   the corpus in CACHE_DIR/root/$toml_test (below)
set -eu

cache=${1:?usage: fetch-unstable.sh CACHE_DIR}
pkgs="containerd oras soci-snapshotter nydus-snapshotter golang-github-burntsushi-toml-dev cosign notation"
# Keep in step with TOML_TEST_DIR in the Makefile.
toml_test=usr/share/gocode/src/github.com/BurntSushi/toml/internal/toml-test
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
stamp="$cache/.done-$(echo "$pkgs" | tr ' ' '-')"
[ -e "$stamp" ] && exit 0

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
cd "$cache/debs"
rm -f ./*.deb
# shellcheck disable=SC2086
apt-get $opts download $pkgs >/dev/null
# Unpacked beside the old tree and swapped in: tests running from the old
# one (another checkout sharing this cache) keep their binaries.
rm -rf "$cache/root.new" "$cache/root.old"
for d in ./*.deb; do dpkg -x "$d" "$cache/root.new"; done
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
