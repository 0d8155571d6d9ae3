#!/bin/bash
# One exit code per cause, whichever command meets it (docs/cli.md, "Exit
# codes"): content that fails verification (a blob whose bytes are not its
# digest, a layer whose content is not its diffId) is 7, a reference the
# registry does not have is 4, a registry nobody answers on is 6, a model
# the signature policy refuses is 10, in pull, extract, mount, crio-store
# add and preload alike, whether the bytes come from the registry, the
# store or an OCI layout.
#
# usage: test_exit_codes.sh
. "$(dirname "$0")/lib.sh"

it_setup exit_codes
MP=$IT_BUILD/bin/modelpack
B=$(dirname "$0")/build-model.sh
M=$IT_DIR/models
S=$IT_DIR/store
C=$IT_DIR/cache
mp() { "$MP" --store "$S" --cache "$C" "$@"; }

it_start_registry
mkdir -p "$M"
for s in raw bad-digest bad-diffid; do
  BUILD_MODEL_REGISTRY_ROOT=$IT_DIR/reg bash "$B" "$s" "$M/$s" "$REGISTRY/models/$s:1" \
    > "$M/$s.log" 2>&1 || it_fail "build-model.sh $s: $(tail -n 3 "$M/$s.log")"
done

# every_command CAUSE CODE NEEDLE REF [LAYOUT]: extract, mount, crio-store
# add and preload of REF each exit CODE with one line containing NEEDLE;
# with LAYOUT, mount and preload read it (--from oci-layout:).
every_command() {
  local cause=$1 code=$2 needle=$3 ref=$4 layout=${5:-} from=()
  [ -z "$layout" ] || from=(--from "oci-layout:$layout")
  rm -rf "$IT_DIR/out" "$IT_DIR/crio"
  mkdir -p "$IT_DIR/crio"
  it_expect_exit "$cause: extract" "$code" "$needle" mp extract "$ref" "$IT_DIR/out"
  it_expect_exit "$cause: mount${layout:+ --from}" "$code" "$needle" \
    mp mount "$ref" "$IT_DIR/mnt" "${from[@]}"
  mountpoint -q "$IT_DIR/mnt" && umount "$IT_DIR/mnt"
  it_expect_exit "$cause: crio-store add" "$code" "$needle" \
    mp crio-store add "$ref" --store "$IT_DIR/crio"
  it_expect_exit "$cause: preload${layout:+ --from}" "$code" "$needle" \
    mp preload "$ref" "${from[@]}"
}

# ---- a blob that is not its digest: 7 ------------------------------------------
BAD=$REGISTRY/models/bad-digest:1
it_expect_exit "bad digest: pull from the registry" 7 "digest" mp pull "$BAD"
it_expect_exit "bad digest: extract from the registry (not in the store)" 7 "digest" \
  mp extract "$BAD" "$IT_DIR/out"
it_expect_exit "bad digest: mount from an OCI layout" 7 "digest mismatch" \
  mp mount "$BAD" "$IT_DIR/mnt" --from "oci-layout:$M/bad-digest"
it_expect_exit "bad digest: preload from an OCI layout" 7 "digest mismatch" \
  mp preload "$BAD" --from "oci-layout:$M/bad-digest"
# The intact model pulled, then one of its blobs corrupted in the store.
RAW=$REGISTRY/models/raw:1
mp pull "$RAW" > /dev/null
hex=$(jq -r '.layers[] | select(.mediaType | endswith(".weight.v1.raw")) | .digest | ltrimstr("sha256:")' \
  "$M/raw/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$M/raw/index.json")" | head -n 1)
it_check "the stored weight blob exists" test -f "$S/blobs/sha256/$hex"
printf 'X' | dd of="$S/blobs/sha256/$hex" bs=1 seek=100 conv=notrunc status=none
every_command "bad digest in the store" 7 "digest mismatch" "$RAW"

# ---- a layer that is not its diffId: 7 ------------------------------------------
DIFF=$REGISTRY/models/bad-diffid:1
mp pull "$DIFF" > /dev/null 2>&1 || true
every_command "bad diffId" 7 "diffId mismatch" "$DIFF"
it_expect_exit "bad diffId: mount from an OCI layout" 7 "diffId mismatch" \
  mp mount "$DIFF" "$IT_DIR/mnt" --from "oci-layout:$M/bad-diffid"

# ---- not found: 4 ---------------------------------------------------------------
NONE=$REGISTRY/models/raw:no-such-tag
it_expect_exit "not found: pull" 4 "no-such-tag" mp pull "$NONE"
it_expect_exit "not found: inspect" 4 "no-such-tag" mp inspect "$NONE"
every_command "not found" 4 "no-such-tag" "$NONE"

# ---- refused by the signature policy: 10 -----------------------------------------
# A store without the model, so every command has to pull it.
cat > "$IT_DIR/policy.json" <<EOF
{"default": [{"type": "insecureAcceptAnything"}],
 "transports": {"docker": {"$REGISTRY/models": [{"type": "reject"}]}}}
EOF
S_KEEP=$S S=$IT_DIR/store-policy
export MODELPACK_POLICY=$IT_DIR/policy.json
it_expect_exit "refused by the policy: pull" 10 "refused by the signature policy" mp pull "$RAW"
every_command "refused by the policy" 10 "refused by the signature policy" "$RAW"
# (extract and the node commands open the store to look for the model
# first: an empty layout may be there, nothing of the model.)
it_expect_eq "... nothing of the model in the store" "" \
  "$(find "$S/blobs" -type f 2>/dev/null; jq -r '.manifests[]?' "$S/index.json" 2>/dev/null)"
unset MODELPACK_POLICY
S=$S_KEEP

# ---- nobody answers: 6 ----------------------------------------------------------
DOWN=127.0.0.1:9/models/raw:1
it_expect_exit "registry down: pull" 6 "127.0.0.1:9" mp pull "$DOWN"
every_command "registry down" 6 "127.0.0.1:9" "$DOWN"

it_done
