#!/bin/bash
# Docker Model Runner artifacts with the CLI (docs/image-volumes.md, "Docker
# Model Runner artifacts"): the dmr shape of build-model.sh (Docker's media
# types, no annotations, a v0.1 config) pushed to a registry, then
#  - extract straight from the registry, pull, extract from the store and
#    mount each show exactly the files of expected.txt, named as Docker's
#    unpacking names them (model.gguf, model.mmproj, template.jinja) and
#    license.txt, with those hashes;
#  - inspect lists the four files.
#
# usage: test_dmr.sh
. "$(dirname "$0")/lib.sh"

it_setup dmr
MP=$IT_BUILD/bin/modelpack
M=$IT_DIR/models
S=$IT_DIR/store
C=$IT_DIR/cache
mp() { "$MP" --store "$S" --cache "$C" "$@"; }
# files DIR: "sha256  path" of every regular file under DIR, sorted.
files() { (cd "$1" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum); }

it_start_registry
REF=$REGISTRY/models/dmr:1
bash "$(dirname "$0")/build-model.sh" dmr "$M/dmr" "$REF" > "$IT_DIR/build.log" 2>&1 \
  || { it_fail "build-model.sh dmr: $(tail -n 3 "$IT_DIR/build.log")"; it_done; }
WANT=$(cat "$M/dmr/expected.txt")
it_expect_eq "the expected files are Docker's names" \
  "license.txt model.gguf model.mmproj template.jinja" "$(awk '{ print $2 }' <<<"$WANT" | xargs)"

it_check "extract from the registry (not in the store)" mp extract "$REF" "$IT_DIR/remote"
it_expect_eq "extract from the registry: exactly the expected files" "$WANT" "$(files "$IT_DIR/remote")"
it_expect_eq "the store is untouched by a remote extract" "" "$(mp ls 2>&1 | grep dmr || true)"

it_check "pull" mp pull "$REF"
it_check "extract from the store" mp extract "$REF" "$IT_DIR/local"
it_expect_eq "extract from the store: exactly the expected files" "$WANT" "$(files "$IT_DIR/local")"
it_check "model.gguf starts with the GGUF magic" test "$(head -c 4 "$IT_DIR/local/model.gguf")" = GGUF

mkdir -p "$IT_DIR/mnt"
if mp mount "$REF" "$IT_DIR/mnt" > "$IT_DIR/mount.log" 2>&1; then
  it_expect_eq "mount: exactly the expected files" "$WANT" "$(files "$IT_DIR/mnt")"
  it_check "mount is read-only" bash -c "! touch '$IT_DIR/mnt/x' 2>/dev/null"
  it_check "umount" mp umount "$IT_DIR/mnt"
else
  it_fail "mount: $(cat "$IT_DIR/mount.log")"
fi

mp inspect "$REF" > "$IT_DIR/inspect.txt" 2>&1 || it_fail "inspect: $(cat "$IT_DIR/inspect.txt")"
for f in model.gguf model.mmproj template.jinja license.txt; do
  it_check "inspect lists $f" grep -q " $f\$" "$IT_DIR/inspect.txt"
done
it_expect_eq "inspect --json: the four paths" \
  "license.txt model.gguf model.mmproj template.jinja" \
  "$(mp inspect --json "$REF" | jq -r '.files[].path' | LC_ALL=C sort | xargs)"

it_done
