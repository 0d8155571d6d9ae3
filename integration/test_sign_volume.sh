#!/bin/bash
# The signature policy where the model is mounted: containerd 2.x's CRI
# asks our daemon to Prepare an image volume; the daemon finds the model's
# repository from containerd's image records, its signatures in the
# registry (docker-registry 2.8, referrers tag schema), and applies
# [signatures] policy (containers-policy.json) before the model cache
# builds anything.  Models signed here with Debian unstable's cosign (key
# pairs, Sigstore bundles: cosign 3's default).
#
#  1. A malformed policy at start: the daemon refuses to start, naming it.
#  2. A policy trusting the "trusted" key for $REGISTRY/ml, rejecting
#     $REGISTRY/blocked, everything else rejected:
#     - ml/signed (signed by the trusted key): the pod mounts the model;
#     - ml/unsigned: CreateContainer fails naming the scope and "no cosign
#       or Sigstore signature found"; nothing of it in the model cache;
#     - ml/otherkey (signed by another key): fails; nothing cached;
#     - blocked/x: fails with "the policy rejects every image in this
#       scope".
#     - ml/indexed:idx, an image index of one (platform) manifest:
#       containerd 2.1.9's CRI puts the index's digest (the image record's
#       target) in the Prepare key, so it is the index that must be signed,
#       as `modelpack pull` checks it: with only the manifest signed the pod
#       is refused ("no ... signature found for <index digest>"); once the
#       index is signed the pod mounts the model (refusals are not cached).
#  3. Five more pods of ml/signed: the daemon's log shows a cached verdict
#     each time; the time the check took, new and cached, is reported (the
#     median cached one must stay under SIGN_CACHED_MS, default 1 ms, with
#     the default verdict_cache = "digest"; "names", which asks containerd
#     for the names on each Prepare, is measured first and only reported).
#     The rest runs on "digest" until 6 restarts the daemon with "names".
#  4. The registry stopped: the cached verdict still serves ml/signed; a
#     model with no cached verdict is refused (fail closed).
#  5. A malformed policy written while the daemon runs: an error is logged,
#     the last good policy stays in force (ml/signed mounts, ml/unsigned is
#     still refused); a good policy written after it is taken (a new
#     revision: the verdict is checked again).
#  6. verdict_cache = "names": ml/signed copied (same digest) to
#     blocked/copy and pulled: a pod of blocked/copy is refused by the
#     reject scope although the digest has an accepting verdict under its
#     other name; and while both names exist, ml/signed is refused as well:
#     a Prepare does not say which name the pod used, so every name must be
#     accepted (docs/signatures.md).
#  7. Notation alone ([signatures] policy = "", notation = a directory whose
#     trust policy covers every repository and trusts `notation cert
#     generate-test`'s certificate): nt/signed (signed with Debian
#     unstable's notation, JWS) mounts; nt/unsigned is refused with "no
#     Notation signature found".
#  8. Credentials: the daemon's hosts_dir sends its lookups through a proxy
#     that wants basic credentials for signature lookups: without
#     [signatures] auth_file, or with a wrong password, the pod is refused
#     (fail closed); the right credentials written to auth_file while the
#     daemon runs are taken and the pod mounts.
#  9. Signatures that are there but must be refused, each model in a
#     repository of its own (cr/ requiring the trusted cosign key, nr/
#     covered by one Notation statement each): CreateContainer fails with
#     the finding, no container starts, nothing of the model is cached:
#     - cr/copied-simple, cr/copied-bundle: another model's simple signing
#       or Sigstore bundle copied under their tags ("it signs <other
#       digest>, not <this digest>");
#     - cr/tampered-simple, cr/tampered-bundle: their own signature with
#       the payload (docker-reference) or the DSSE statement altered ("not
#       signed by a key the policy trusts");
#     - nr/expired: signed at the start by an openssl leaf valid for 20
#       more seconds (strict: "authenticTimestamp: verification time is
#       after certificate ... validity period, it was expired at ...");
#     - nr/foreign: its chain's root is not in the statement's trust store,
#       which holds another root ("authenticity: the signing certificate
#       chain does not lead to a certificate in the statement's ca trust
#       stores"); its root put there and trustpolicy.json touched, it mounts.
#
# usage: test_sign_volume.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"
. "$(dirname "$0")/lib_pki.sh"

CRI_PULL=${CRI_PULL:-local}
export CRI_PULL
it_setup sign_volume
if [ "$IT_SN" != modelpack ]; then
  it_fail "this test is for our snapshotter (IT_SNAPSHOTTER=$IT_SN)"
  it_done
fi
COSIGN=$IT_UNSTABLE_BIN/cosign
[ -x "$COSIGN" ] || { it_fail "cosign in $IT_UNSTABLE_BIN (make unstable)"; it_done; }
export HOME=$IT_DIR/home COSIGN_PASSWORD=test-password
mkdir -p "$HOME"
it_start_registry || { it_fail "docker-registry starts"; it_done; }

# ---- models and signatures ----------------------------------------------------
M=$IT_DIR/models
mkdir -p "$M"
declare -A D
# model NAME SHAPE REPO: build-model.sh's SHAPE pushed as $REGISTRY/REPO:1
# (distinct shapes: distinct digests).
model() {
  bash "$IT_REPO/integration/build-model.sh" "$2" "$M/$1" "$REGISTRY/$3:1" > "$M/$1.digest" 2> "$M/$1.log" \
    || { cat "$M/$1.log" >&2; return 1; }
  D[$1]=$(tail -n 1 "$M/$1.digest")
}
model signed raw ml/signed && model unsigned tar ml/unsigned && model otherkey nested ml/otherkey \
  && model blocked overlap blocked/x && model indexed lax-modes ml/indexed \
  || { it_fail "models built and pushed"; it_done; }
for k in trusted other; do
  mkdir -p "$IT_DIR/$k"
  (cd "$IT_DIR/$k" && "$COSIGN" generate-key-pair > /dev/null 2>&1) || true
done
sign() { # KEYDIR REPO DIGEST [cosign flags...]
  local key=$1 repo=$2 digest=$3
  shift 3
  "$COSIGN" sign --key "$IT_DIR/$key/cosign.key" --use-signing-config=false --tlog-upload=false \
    --allow-insecure-registry -y "$@" "$REGISTRY/$repo@$digest" >> "$IT_DIR/cosign-sign.log" 2>&1
}
# ml/indexed:idx: an index naming ml/indexed:1's manifest for this platform.
plat=$(it_platform)
msize=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$REGISTRY/v2/ml/indexed/manifests/1" | wc -c)
jq -cn --arg d "${D[indexed]}" --argjson s "$msize" --arg os "${plat%/*}" --arg arch "${plat#*/}" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
                 platform: {os: $os, architecture: $arch}}]}' > "$IT_DIR/index.json"
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' \
  --data-binary "@$IT_DIR/index.json" "http://$REGISTRY/v2/ml/indexed/manifests/idx" > /dev/null \
  || it_fail "the index ml/indexed:idx is pushed"
D[index]=sha256:$(sha256sum < "$IT_DIR/index.json" | cut -d' ' -f1)
sign trusted ml/signed "${D[signed]}" && sign other ml/otherkey "${D[otherkey]}" \
  && sign trusted ml/indexed "${D[indexed]}" \
  && it_pass "five models pushed (one also as an index); signed, otherkey and indexed's manifest (not the index) signed with cosign" \
  || { it_fail "cosign sign (see cosign-sign.log)"; it_done; }
NOTATION=$IT_UNSTABLE_BIN/notation
export XDG_CONFIG_HOME=$IT_DIR/xdg
NCFG=$XDG_CONFIG_HOME/notation
if model ntsigned targz nt/signed && model ntunsigned tarzst nt/unsigned \
  && "$NOTATION" cert generate-test --default good > "$IT_DIR/notation.log" 2>&1 \
  && "$NOTATION" sign --insecure-registry "$REGISTRY/nt/signed@${D[ntsigned]}" >> "$IT_DIR/notation.log" 2>&1; then
  cat > "$NCFG/trustpolicy.json" <<EOF
{"version": "1.0", "trustPolicies": [{"name": "models", "registryScopes": ["*"],
 "signatureVerification": {"level": "strict"}, "trustStores": ["ca:good"],
 "trustedIdentities": ["*"]}]}
EOF
  it_pass "nt/signed signed with notation (JWS); nt/unsigned not"
else
  it_fail "notation models (notation.log)"
fi

# ---- 9's models: signatures that are there and must be refused ------------------
# In repositories of their own (cr/ for cosign, nr/ for Notation), each a
# variant of ml/signed's layout: the same layers, its own config (the
# descriptor's name), so a digest of its own (no digest with two names) and
# an image ID of its own: the CRI knows an image by its config's digest, and
# images sharing one are one image to it (the volume's Prepare then names
# whichever manifest it picked).
hex() { echo "${D[$1]#sha256:}"; }
# blob_put LAYOUT FILE: FILE into LAYOUT's blobs; prints "digest size".
blob_put() {
  local h
  h=$(sha256sum < "$2" | cut -d' ' -f1)
  mv "$2" "$1/blobs/sha256/$h" && echo "sha256:$h $(stat -c %s "$1/blobs/sha256/$h")"
}
variant() { # NAME REPO
  local l=$M/$1 m c
  rm -rf "$l" && cp -a "$M/signed" "$l" || return 1
  m=$l/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$l/index.json")
  jq -c --arg n "tiny-$1" '.descriptor.name = $n' \
    "$l/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$m")" > "$l/config.tmp" \
    && c=$(blob_put "$l" "$l/config.tmp") \
    && jq -c --arg d "${c% *}" --argjson s "${c#* }" '.config.digest = $d | .config.size = $s' \
      "$m" > "$l/manifest.tmp" && rm -f "$m" && m=$(blob_put "$l" "$l/manifest.tmp") \
    && jq -c --arg d "${m% *}" --argjson s "${m#* }" \
      '.manifests[0].digest = $d | .manifests[0].size = $s' "$l/index.json" > "$l/index.tmp" \
    && mv "$l/index.tmp" "$l/index.json" || return 1
  bash "$IT_REPO/integration/build-model.sh" push "$l" "$REGISTRY/$2:1" > "$M/$1.digest" 2> "$M/$1.log" \
    || { cat "$M/$1.log" >&2; return 1; }
  D[$1]=$(tail -n 1 "$M/$1.digest")
}
# Registry plumbing to copy and alter signatures (test_sign_cosign.sh's
# technique); REPO is a repository of $REGISTRY.
IDX=application/vnd.oci.image.index.v1+json
MAN=application/vnd.oci.image.manifest.v1+json
get_manifest() { # REPO REF ACCEPT
  curl -fsS -H "Accept: $3" "http://$REGISTRY/v2/$1/manifests/$2"
}
put_manifest() { # REPO REF MEDIATYPE FILE
  curl -fsS -X PUT -H "Content-Type: $3" --data-binary "@$4" \
    "http://$REGISTRY/v2/$1/manifests/$2" > /dev/null
}
put_blob() { # REPO FILE: prints the digest
  local d loc
  d=sha256:$(sha256sum < "$2" | cut -d' ' -f1)
  loc=$(curl -fsS -D - -o /dev/null -X POST "http://$REGISTRY/v2/$1/blobs/uploads/" \
    | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  case $loc in http*) ;; *) loc=http://$REGISTRY$loc ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" \
    "$loc&digest=$d" > /dev/null && echo "$d"
}
get_blob() { # REPO DIGEST FILE
  curl -fsS "http://$REGISTRY/v2/$1/blobs/$2" > "$3"
}
copy_blobs() { # FROM TO MANIFEST_FILE: the blobs it names, into TO
  local b
  for b in $(jq -r '.config.digest, .layers[].digest' "$3"); do
    get_blob "$1" "$b" "$IT_DIR/blob" && put_blob "$2" "$IT_DIR/blob" > /dev/null || return 1
  done
}
# with_layer MANIFEST_FILE DIGEST FILE: the manifest with its first layer
# replaced by FILE (pushed as DIGEST).
with_layer() {
  jq -c --arg d "$2" --argjson s "$(stat -c %s "$3")" \
    '.layers[0].digest = $d | .layers[0].size = $s' "$1"
}
# cosign: cr/tampered-simple signed with a simple signing, cr/tampered-bundle
# with a Sigstore bundle, by the trusted key; both copied (before the
# tampering) under the referrers tags of cr/copied-simple and
# cr/copied-bundle; then the simple signing's payload (its
# docker-reference) and the bundle's DSSE statement (its predicate)
# altered and re-pushed under the tampered models' own tags.
cosign_refusals() {
  local w=$IT_DIR/sig9 ts=tampered-simple tb=tampered-bundle nd sd
  mkdir -p "$w"
  variant tsimple cr/$ts && variant tbundle cr/$tb && variant csimple cr/copied-simple \
    && variant cbundle cr/copied-bundle || return 1
  sign trusted cr/$ts "${D[tsimple]}" --new-bundle-format=false && sign trusted cr/$tb "${D[tbundle]}" \
    || return 1
  get_manifest cr/$ts "sha256-$(hex tsimple).sig" "$MAN" > "$w/s.json" \
    && copy_blobs cr/$ts cr/copied-simple "$w/s.json" \
    && put_manifest cr/copied-simple "sha256-$(hex csimple).sig" "$MAN" "$w/s.json" || return 1
  get_manifest cr/$tb "sha256-$(hex tbundle)" "$IDX" > "$w/bi.json" \
    && get_manifest cr/$tb "$(jq -r '.manifests[0].digest' "$w/bi.json")" "$MAN" > "$w/bm.json" \
    && copy_blobs cr/$tb cr/copied-bundle "$w/bm.json" \
    && put_manifest cr/copied-bundle "$(jq -r '.manifests[0].digest' "$w/bi.json")" "$MAN" "$w/bm.json" \
    && put_manifest cr/copied-bundle "sha256-$(hex cbundle)" "$IDX" "$w/bi.json" || return 1
  get_blob cr/$ts "$(jq -r '.layers[0].digest' "$w/s.json")" "$w/payload" \
    && jq -c '.critical.identity["docker-reference"] = "evil.example/ml/x"' "$w/payload" > "$w/payload2" \
    && nd=$(put_blob cr/$ts "$w/payload2") && with_layer "$w/s.json" "$nd" "$w/payload2" > "$w/s2.json" \
    && put_manifest cr/$ts "sha256-$(hex tsimple).sig" "$MAN" "$w/s2.json" || return 1
  get_blob cr/$tb "$(jq -r '.layers[0].digest' "$w/bm.json")" "$w/b.json" \
    && sd=$(jq -r '.dsseEnvelope.payload' "$w/b.json" | base64 -d | jq -c '.predicate = {"tampered": true}' | base64 -w0) \
    && jq -c --arg p "$sd" '.dsseEnvelope.payload = $p' "$w/b.json" > "$w/b2.json" \
    && nd=$(put_blob cr/$tb "$w/b2.json") && with_layer "$w/bm.json" "$nd" "$w/b2.json" > "$w/bm2.json" \
    && nd=sha256:$(sha256sum < "$w/bm2.json" | cut -d' ' -f1) \
    && put_manifest cr/$tb "$nd" "$MAN" "$w/bm2.json" \
    && jq -c --arg d "$nd" --argjson s "$(stat -c %s "$w/bm2.json")" \
      '.manifests[0].digest = $d | .manifests[0].size = $s' "$w/bi.json" > "$w/bi2.json" \
    && put_manifest cr/$tb "sha256-$(hex tbundle)" "$IDX" "$w/bi2.json"
}
cosign_refusals 2>> "$IT_DIR/sig9.log" \
  && it_pass "[9] cosign: signatures copied to cr/copied-{simple,bundle}, tampered in cr/tampered-{simple,bundle}" \
  || it_fail "[9] cosign signatures copied and tampered with (sig9.log, cosign-sign.log)"
# Notation: an openssl root and two leaves (as test_sign_notation.sh makes
# them): "short" expires 20 seconds after it signs nr/expired (section 9
# runs about a minute later: rarely a wait), "long" signs nr/foreign, which 9's trust store
# does not chain to (it holds another root).
PKI=$IT_DIR/pki
N9=$IT_DIR/n9
notation_refusals() {
  mkdir -p "$PKI" "$N9/truststore/x509/ca/itroot" "$N9/truststore/x509/ca/foreign"
  variant nexpired nr/expired && variant nforeign nr/foreign || return 1
  {
    it_pki_roots "$PKI" root other && it_pki_leaf "$PKI" root long "1 day" \
      && it_pki_leaf "$PKI" root short "20 seconds"
  } > "$IT_DIR/openssl.log" 2>&1 || return 1
  jq --arg p "$PKI" '.keys += [{name: "short", keyPath: "\($p)/short.key", certPath: "\($p)/short-chain.crt"},
                               {name: "long", keyPath: "\($p)/long.key", certPath: "\($p)/long-chain.crt"}]' \
    "$NCFG/signingkeys.json" > "$IT_DIR/keys.json" && cp "$IT_DIR/keys.json" "$NCFG/signingkeys.json" \
    && "$NOTATION" sign --insecure-registry --key short "$REGISTRY/nr/expired@${D[nexpired]}" \
    && "$NOTATION" sign --insecure-registry --key long "$REGISTRY/nr/foreign@${D[nforeign]}" || return 1
  cp "$PKI/root.crt" "$N9/truststore/x509/ca/itroot/"
  cp "$PKI/other.crt" "$N9/truststore/x509/ca/foreign/"
  cat > "$N9/trustpolicy.json" <<EOF
{"version": "1.0", "trustPolicies": [
 {"name": "short-lived", "registryScopes": ["$REGISTRY/nr/expired"],
  "signatureVerification": {"level": "strict"}, "trustStores": ["ca:itroot"], "trustedIdentities": ["*"]},
 {"name": "foreign-root", "registryScopes": ["$REGISTRY/nr/foreign"],
  "signatureVerification": {"level": "strict"}, "trustStores": ["ca:foreign"], "trustedIdentities": ["*"]}]}
EOF
}
notation_refusals >> "$IT_DIR/notation.log" 2>&1 \
  && EXPIRES=$(date -d "$(openssl x509 -in "$PKI/short.crt" -noout -enddate | cut -d= -f2)" +%s) \
  && it_pass "[9] Notation: nr/expired signed by a leaf valid until $(date -u -d "@$EXPIRES" +%T), nr/foreign by a leaf of another root than 9's trust store holds" \
  || it_fail "[9] Notation signatures with openssl certificates (notation.log, openssl.log)"

POLICY=$IT_DIR/policy.json
write_policy() {
  cat > "$POLICY.tmp" <<EOF
{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      "$REGISTRY/ml": [{"type": "sigstoreSigned", "keyPath": "$IT_DIR/trusted/cosign.pub"}],
      "$REGISTRY/blocked": [{"type": "reject"}]
    }
  }
}
EOF
  mv "$POLICY.tmp" "$POLICY"
}

# ---- 1: a malformed policy at start ---------------------------------------------
mkdir -p "$IT_DIR/c"
it_cri_registry_hosts "$IT_DIR/c/certs.d"
# containerd's socket in the config, not on the command line: lib.sh's
# it_stop_containerd kills whatever names that socket in its arguments.
for vc in names digest; do
  cat > "$IT_DIR/sig-$vc.toml" <<EOF
[image_volumes]
containerd_address = "$IT_DIR/c.sock"

[signatures]
policy = "$POLICY"
notation = "$IT_DIR/no-notation"
hosts_dir = "$IT_DIR/c/certs.d"
verdict_cache = "$vc"
EOF
done
cat > "$IT_DIR/sig-notation.toml" <<EOF
[image_volumes]
containerd_address = "$IT_DIR/c.sock"

[signatures]
policy = ""
notation = "$NCFG"
hosts_dir = "$IT_DIR/c/certs.d"
EOF
cp "$IT_DIR/sig-names.toml" "$IT_DIR/sig.toml"
echo '{"default": [{"type": "rejekt"}]}' > "$POLICY"
rc=0
timeout 20 "$MP_BIN" --root "$IT_DIR/s-bad" --address "$IT_DIR/s-bad.sock" --config "$IT_DIR/sig.toml" \
  > "$IT_DIR/bad-start.log" 2>&1 || rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "signature policy $POLICY: default\[0\].type" "$IT_DIR/bad-start.log"; then
  it_pass "[1] malformed policy at start: the daemon exits $rc naming the file and the field"
else
  it_fail "[1] malformed policy at start: exit $rc: $(cat "$IT_DIR/bad-start.log")"
fi

# ---- 2: accepted and refused models ------------------------------------------------
write_policy
if ! it_start_snapshotter --config "$IT_DIR/sig.toml" --containerd-root "$IT_DIR/c/root" \
  || ! it_start_containerd_cri; then
  it_fail "snapshotter and containerd with the CRI start"
  it_done
fi
it_pass "snapshotter with [signatures] and containerd $("$CRI_VOLUME" --address "$CRI_SOCK" --ping) with the CRI"
T=$MP_ROOT/models/trees
expect_args() {
  local h p
  EXPECT=()
  while read -r h p; do EXPECT+=(--expect-file "$p:$h"); done < "$M/$1/expected.txt"
}
pod_seq=0
pod() { # LABEL cri_volume args...
  local label=$1 rc=0
  shift
  OUT=$IT_DIR/cri.$((++pod_seq)).out
  "$CRI_VOLUME" --address "$CRI_SOCK" --image "$CRI_BUSYBOX_IMAGE" --log-dir "$IT_DIR/pods" \
    --snapshotter modelpack --backend "$MP_SOCK" --mount-path /model "$@" > "$OUT" 2>&1 || rc=$?
  sed 's/^/     /' "$OUT"
  if [ "$rc" = 0 ]; then
    it_pass "$label ($(tail -n 1 "$OUT"))"
  else
    it_fail "$label (exit $rc: $(tail -n 1 "$OUT"))"
  fi
}
no_tree() { # NAME: nothing of the model in the cache's trees
  test -z "$(ls -A "$T" 2>/dev/null | grep "^$(hex "$1")")"
}
SCOPE="transports.docker\[\"$REGISTRY/ml\"\]"

expect_args signed
pod "[2] ml/signed, signed by the trusted key: the pod mounts the model" \
  --volume-ref "$REGISTRY/ml/signed:1" --name signed-a --exact "${EXPECT[@]}"
pod "[2] ml/unsigned: CreateContainer fails naming the scope and what was missing" \
  --volume-ref "$REGISTRY/ml/unsigned:1" --name unsigned-a \
  --expect-create-error "refused by the signature policy"
it_check "[2] ... the kubelet's message names reference, scope, requirement and finding" \
  grep -q "$REGISTRY/ml/unsigned:1 (${D[unsigned]}): refused by the signature policy $POLICY, scope $SCOPE: requires a cosign/Sigstore signature by key $IT_DIR/trusted/cosign.pub.*: no cosign or Sigstore signature found" "$IT_DIR/cri.$pod_seq.out"
it_check "[2] ... nothing of it in the model cache" no_tree unsigned
pod "[2] ml/otherkey, signed by another key: CreateContainer fails" \
  --volume-ref "$REGISTRY/ml/otherkey:1" --name otherkey-a \
  --expect-create-error "refused by the signature policy"
it_check "[2] ... says the signature did not verify with the trusted key" \
  grep -q "1 signature found, none accepted: #1: not signed by a key the policy trusts" "$IT_DIR/cri.$pod_seq.out"
it_check "[2] ... nothing of it in the model cache" no_tree otherkey
pod "[2] blocked/x under a reject scope: CreateContainer fails" \
  --volume-ref "$REGISTRY/blocked/x:1" --name blocked-a \
  --expect-create-error "the policy rejects every image in this scope"
it_check "[2] ... nothing of it in the model cache" no_tree blocked
pod "[2] ml/indexed:idx, only its manifest signed: refused, the index's digest named" \
  --volume-ref "$REGISTRY/ml/indexed:idx" --name indexed-a \
  --expect-create-error "no cosign or Sigstore signature found for ${D[index]}"
it_check "[2] ... containerd's Prepare key carried the index's digest (the image's target)" \
  grep -q "image-volumes/[0-9a-f]*/$(hex index)" "$IT_DIR/snapshotter.log"
sign trusted ml/indexed "${D[index]}" || it_fail "cosign sign the index"
expect_args indexed
pod "[2] ml/indexed:idx with the index signed: the pod mounts the model" \
  --volume-ref "$REGISTRY/ml/indexed:idx" --name indexed-b --if-not-present --exact "${EXPECT[@]}"
it_check "[2] ... accepted on the index's digest" \
  grep -q "signatures: $REGISTRY/ml/indexed:idx (${D[index]}) accepted" "$IT_DIR/snapshotter.log"
expect_args signed

# ---- 3: the cached verdict -------------------------------------------------------
ms() { # LOG new|cached: the check times the daemon logged for ml/signed
  grep "signatures of ${D[signed]}: $2 verdict in" "$1" \
    | sed 's/.* verdict in \([0-9.]*\) ms.*/\1/'
}
# cached_pods MODE LOG: five more pods, the figures from LOG.
cached_pods() {
  local i new_ms cached_all cached_ms
  for i in 1 2 3 4 5; do
    pod "[3 $1] pod $((i + 1)) of ml/signed" \
      --volume-ref "$REGISTRY/ml/signed:1" --name "signed-$1$i" --if-not-present --exact "${EXPECT[@]}"
  done
  new_ms=$(ms "$2" new | head -n 1)
  cached_all=$(ms "$2" cached | sort -n | tr '\n' ' ')
  cached_ms=$(ms "$2" cached | sort -n | sed -n 3p) # the median of five
  it_expect_eq "[3 $1] the daemon logged a cached verdict for each later pod" 5 "$(ms "$2" cached | wc -l)"
  it_log "verdict_cache = \"$1\": signature check at Prepare: first $new_ms ms; cached (sorted): $cached_all ms; load: $(cut -d' ' -f1-3 /proc/loadavg)"
  # The default mode's bound; "names" adds a call to containerd (reported).
  [ "$1" = digest ] || return 0
  it_check "[3 $1] a cached verdict adds under ${SIGN_CACHED_MS:-1} ms (median of five: $cached_ms ms; the first check took $new_ms ms)" \
    awk -v c="${cached_ms:-99}" -v b="${SIGN_CACHED_MS:-1}" 'BEGIN { exit !(c < b) }'
}
cached_pods names "$IT_DIR/snapshotter.log"
# restart VERDICT_CACHE: the daemon again, on the same root, with that mode;
# its log starts anew (the previous one kept aside).
restart() {
  it_stop_snapshotter || it_fail "the snapshotter stops"
  cp "$IT_DIR/sig-$1.toml" "$IT_DIR/sig.toml"
  cat "$IT_DIR/snapshotter.log" >> "$IT_DIR/snapshotter-before.log"
  : > "$IT_DIR/snapshotter.log"
  it_start_snapshotter --config "$IT_DIR/sig.toml" --containerd-root "$IT_DIR/c/root" \
    || { it_fail "the snapshotter restarts with verdict_cache = \"$1\""; it_done; }
}
restart digest
pod "[3 digest] the first pod after the restart checks anew" \
  --volume-ref "$REGISTRY/ml/signed:1" --name signed-d0 --if-not-present --exact "${EXPECT[@]}"
cached_pods digest "$IT_DIR/snapshotter.log"
grep "signatures: $REGISTRY/ml/signed" "$IT_DIR/snapshotter.log" | head -n 1 | sed 's/^/     /'

# ---- 4: the registry unreachable ----------------------------------------------------
it_stop_registry
pod "[4] registry stopped: the cached verdict still serves ml/signed" \
  --volume-ref "$REGISTRY/ml/signed:1" --name signed-c --if-not-present --exact "${EXPECT[@]}"
# A model already pulled whose verdict is not cached (refusals are not).
pod "[4] registry stopped: a model without a cached verdict is refused (fail closed)" \
  --volume-ref "$REGISTRY/ml/unsigned:1" --name unsigned-b --if-not-present \
  --expect-create-error "signatures could not be checked"
it_start_registry_again() {
  env -i PATH="$IT_SYS_PATH" /usr/bin/docker-registry serve \
    "$IT_DIR/registry.yml" >> "$IT_DIR/registry.log" 2>&1 &
  REG_PID=$!
  export REG_PID
  it_wait_for 10 "registry on $REGISTRY" curl -fsS "http://$REGISTRY/v2/"
}
it_start_registry_again || it_fail "[4] the registry restarts on $REGISTRY"

# ---- 5: a malformed policy while the daemon runs -------------------------------------
echo '{"default": [{"type": "insecureAcceptAnything"}], "transports": {' > "$POLICY.tmp"
mv "$POLICY.tmp" "$POLICY"
pod "[5] malformed policy written: ml/signed still mounts (the last good policy)" \
  --volume-ref "$REGISTRY/ml/signed:1" --name signed-d --if-not-present --exact "${EXPECT[@]}"
it_check "[5] ... the daemon logged an error and kept the policy" \
  grep -q "level=error.*signature policy $POLICY.*keeping the policy in force" "$IT_DIR/snapshotter.log"
pod "[5] ... and ml/unsigned is still refused (not the malformed file's accept-anything)" \
  --volume-ref "$REGISTRY/ml/unsigned:1" --name unsigned-c --if-not-present \
  --expect-create-error "no cosign or Sigstore signature found"
cat > "$POLICY.tmp" <<EOF
{"default": [{"type": "reject"}],
 "transports": {"docker": {"$REGISTRY/ml": [{"type": "insecureAcceptAnything"}]}}}
EOF
mv "$POLICY.tmp" "$POLICY"
expect_args unsigned
pod "[5] a good policy written after it is taken: ml/unsigned now accepted" \
  --volume-ref "$REGISTRY/ml/unsigned:1" --name unsigned-d --if-not-present --exact "${EXPECT[@]}"
it_check "[5] ... the daemon logged the reload" grep -q "signatures: policies reloaded" "$IT_DIR/snapshotter.log"

# ---- 6: one digest, two names under different scopes ---------------------------------
write_policy
restart names
expect_args signed
pod "[6] verdict_cache = \"names\": ml/signed accepted (its verdict cached)" \
  --volume-ref "$REGISTRY/ml/signed:1" --name signed-n0 --if-not-present --exact "${EXPECT[@]}"
skopeo copy --quiet --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
  "docker://$REGISTRY/ml/signed:1" "docker://$REGISTRY/blocked/copy:1" 2> "$IT_DIR/copy.log" \
  || it_fail "[6] skopeo copy ml/signed to blocked/copy (copy.log)"
expect_args signed
pod "[6] blocked/copy (ml/signed's digest): refused by the reject scope despite the cached verdict" \
  --volume-ref "$REGISTRY/blocked/copy:1" --name copy-a \
  --expect-create-error "the policy rejects every image in this scope"
pod "[6] ... and ml/signed too while both names exist (every name must be accepted)" \
  --volume-ref "$REGISTRY/ml/signed:1" --name signed-e --if-not-present \
  --expect-create-error "$REGISTRY/blocked/copy:1"

# ---- 7: Notation ------------------------------------------------------------------
restart notation
expect_args ntsigned
pod "[7] Notation: nt/signed (notation sign, JWS) mounts" \
  --volume-ref "$REGISTRY/nt/signed:1" --name nt-a --exact "${EXPECT[@]}"
pod "[7] Notation: nt/unsigned is refused" \
  --volume-ref "$REGISTRY/nt/unsigned:1" --name nt-b \
  --expect-create-error "no Notation signature found"
it_check "[7] ... naming the statement and the trust policy" \
  grep -q "requires a Notation signature verified by trust policy statement .*models.* (level strict, $NCFG/trustpolicy.json)" "$IT_DIR/cri.$pod_seq.out"

# ---- 8: a registry that wants credentials for signatures ---------------------------
# The daemon's hosts_dir sends $REGISTRY's lookups through
# integration/fault_proxy.py, which answers the signature lookups 401 without
# basic credentials (containerd pulls the model directly, anonymously).
# ml/indexed:idx (its index signed in 2; ml/signed has a rejected second
# name since 6).
PROXY_PID=""
trap '[ -n "$PROXY_PID" ] && it_kill_wait "$PROXY_PID" 5; it_on_exit' EXIT
for _ in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 40000))
  [ -z "$(ss -Htln "sport = :$p")" ] || continue
  python3 "$IT_REPO/integration/fault_proxy.py" "$p" "$REGISTRY" "$IT_DIR/proxy.log" \
    auth-sigs=sigreader:s3cret > "$IT_DIR/proxy.out" 2>&1 &
  PROXY_PID=$!
  PROXY=127.0.0.1:$p
  it_wait_for 10 "fault proxy" curl -fsS "http://$PROXY/v2/" && break
  it_kill_wait "$PROXY_PID" 5
  PROXY_PID=""
done
mkdir -p "$IT_DIR/d-certs.d/$REGISTRY"
cat > "$IT_DIR/d-certs.d/$REGISTRY/hosts.toml" <<EOF
server = "http://$REGISTRY"

[host."http://$PROXY"]
  capabilities = ["pull", "resolve"]
EOF
cat > "$IT_DIR/sig-auth.toml" <<EOF
[image_volumes]
containerd_address = "$IT_DIR/c.sock"

[signatures]
policy = "$POLICY"
notation = ""
hosts_dir = "$IT_DIR/d-certs.d"
auth_file = "$IT_DIR/auth.json"
EOF
write_policy
restart auth
expect_args indexed
pod "[8] lookups need credentials, no auth_file: ml/indexed:idx refused (fail closed)" \
  --volume-ref "$REGISTRY/ml/indexed:idx" --name auth-a --if-not-present \
  --expect-create-error "signatures could not be checked"
it_check "[8] ... the proxy answered the lookups 401" grep -q "sha256-.* -> 401 (no credentials)" "$IT_DIR/proxy.log"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REGISTRY" "$(printf 'sigreader:wrong' | base64)" > "$IT_DIR/auth.json"
pod "[8] a wrong password in auth_file: still refused" \
  --volume-ref "$REGISTRY/ml/indexed:idx" --name auth-b --if-not-present \
  --expect-create-error "signatures could not be checked"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REGISTRY" "$(printf 'sigreader:s3cret' | base64)" > "$IT_DIR/auth.json.tmp"
mv "$IT_DIR/auth.json.tmp" "$IT_DIR/auth.json"
pod "[8] the right credentials written (no restart): ml/indexed:idx mounts" \
  --volume-ref "$REGISTRY/ml/indexed:idx" --name auth-c --if-not-present --exact "${EXPECT[@]}"
it_check "[8] ... the daemon read the new credentials" grep -q "registry credentials $IT_DIR/auth.json reloaded" "$IT_DIR/snapshotter.log"
it_check "[8] ... its lookups went through the proxy with them" grep -q "sha256-.* -> 200" "$IT_DIR/proxy.log"

# ---- 9: signatures that are there but must be refused ------------------------------
# The models of "9's models" above, under a policy of their own: cr/ needs
# the trusted key (matchRepository: cosign's simple signing names the bare
# repository), nr/ needs nothing of cosign and one Notation statement per
# model; the trust stores of 9's Notation directory are "itroot" (the
# openssl root) and "foreign" (another root).
POLICY9=$IT_DIR/policy9.json
cat > "$POLICY9" <<EOF
{"default": [{"type": "reject"}],
 "transports": {"docker": {
   "$REGISTRY/cr": [{"type": "sigstoreSigned", "keyPath": "$IT_DIR/trusted/cosign.pub",
                     "signedIdentity": {"type": "matchRepository"}}],
   "$REGISTRY/nr": [{"type": "insecureAcceptAnything"}]}}}
EOF
cat > "$IT_DIR/sig-refuse.toml" <<EOF
[image_volumes]
containerd_address = "$IT_DIR/c.sock"

[signatures]
policy = "$POLICY9"
notation = "$N9"
hosts_dir = "$IT_DIR/c/certs.d"
EOF
restart refuse
# refused NAME REPO POD SCOPE REQUIREMENT FINDING: a pod of REPO:1 is refused
# (CreateContainer fails, no container is started) with FINDING; the
# kubelet's message names the model, POLICY9's SCOPE and REQUIREMENT
# (grep patterns); nothing of the model in the model cache.
refused() {
  local name=$1 repo=$2 pod=$3 scope=$4 req=$5 finding=$6
  pod "[9] $repo: refused, \"$finding\"" \
    --volume-ref "$REGISTRY/$repo:1" --name "$pod" --expect-create-error "$finding"
  it_check "[9] ... the message names the model, the policy's scope and the requirement" \
    grep -qF "$REGISTRY/$repo:1 (${D[$name]}): refused by the signature policy $POLICY9, scope $scope: requires $req" \
    "$IT_DIR/cri.$pod_seq.out"
  it_check "[9] ... nothing of it in the model cache" no_tree "$name"
}
CR="transports.docker[\"$REGISTRY/cr\"]"
KEYREQ="a cosign/Sigstore signature by key $IT_DIR/trusted/cosign.pub, signedIdentity matchRepository ($CR[0])"
# a. Another model's signature: its digest is not this one's.
refused csimple cr/copied-simple copied-simple-a "$CR" "$KEYREQ" \
  "1 signature found, none accepted: #1: it signs ${D[tsimple]}, not ${D[csimple]}"
refused cbundle cr/copied-bundle copied-bundle-a "$CR" "$KEYREQ" \
  "1 signature found, none accepted: #1: it signs ${D[tbundle]}, not ${D[cbundle]}"
# b. A payload altered after signing.
refused tsimple cr/tampered-simple tampered-simple-a "$CR" "$KEYREQ" \
  "1 signature found, none accepted: #1: not signed by a key the policy trusts"
refused tbundle cr/tampered-bundle tampered-bundle-a "$CR" "$KEYREQ" \
  "1 signature found, none accepted: #1: not signed by a key the policy trusts"
# c. The leaf expired (strict: authenticTimestamp is enforced); it signed
# at the start, so normally nothing is left to wait.
while [ "$(date +%s)" -le $((${EXPIRES:-0} + 1)) ]; do sleep 1; done
NR="transports.docker[\"$REGISTRY/nr\"]"
ntreq() { echo "a Notation signature verified by trust policy statement \"$1\" (level strict, $N9/trustpolicy.json)"; }
refused nexpired nr/expired expired-a "$NR" "$(ntreq short-lived)" \
  "1 signature found, none accepted: #1: authenticTimestamp: verification time is after certificate \"CN=IT short signer,O=IT,ST=WA,C=US\" validity period, it was expired at $(date -u -d "@${EXPIRES:-0}" +%Y-%m-%dT%H:%M:%SZ)"
# d. The chain leads to a root the statement's trust store does not hold.
refused nforeign nr/foreign foreign-a "$NR" "$(ntreq foreign-root)" \
  "1 signature found, none accepted: #1: authenticity: the signing certificate chain does not lead to a certificate in the statement's ca trust stores (signature is not produced by a trusted signer)"
# ... and that was all that was wrong with it: its root put in that store,
# trustpolicy.json touched (trust stores are read with it), it mounts.
rm -f "$N9/truststore/x509/ca/foreign/other.crt"
cp "$PKI/root.crt" "$N9/truststore/x509/ca/foreign/"
touch "$N9/trustpolicy.json"
expect_args nforeign
pod "[9] nr/foreign once the trust store holds its root (trustpolicy.json touched): the pod mounts it" \
  --volume-ref "$REGISTRY/nr/foreign:1" --name foreign-b --if-not-present --exact "${EXPECT[@]}"
it_check "[9] ... the daemon reloaded the Notation configuration" \
  grep -q "signatures: policies reloaded" "$IT_DIR/snapshotter.log"

it_stop_containerd
it_check "snapshotter exits 0 on SIGTERM" it_stop_snapshotter
it_done
