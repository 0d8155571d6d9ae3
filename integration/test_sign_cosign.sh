#!/bin/bash
# Signature policy against real cosign signatures: models pushed to Debian's
# docker-registry (2.8: no referrers API), signed in the test with Debian
# unstable's cosign 3 (offline, key pairs made here), then checked three
# ways that must agree:
#
#   cosign verify --key K --insecure-ignore-tlog=true   (the reference)
#   modelpack verify --policy P                         (exit 0 / 10)
#   modelpack pull --policy P                           (exit 0 / 10; a
#                                                        refused model
#                                                        leaves the store
#                                                        untouched)
#
# Cases: a Sigstore bundle (cosign 3's default, found under the referrers
# tag sha256-<hex>) and a simple signing (--new-bundle-format=false, under
# sha256-<hex>.sig), both by the trusted key: accepted.  Refused: an
# unsigned model under a scope that requires signatures and under reject;
# a model signed by another key; a signature of another model copied to
# this one's tags (bundle and simple signing); a tampered payload and a
# tampered bundle, re-pushed as the signature manifest.  Then cases only
# the policy has: a Rekor requirement on an unlogged signature (cosign,
# asked to check the log, refuses too), cosign's bare-repository identity
# under the default signedIdentity (refused by the policy; cosign does not
# check identities: the one recorded difference), a malformed policy and
# a missing one named on purpose (exit 8, one line), no policy file at the
# default path (everything accepted, as before policies), extract applying
# the policy and inspect not, and the cost of a verification in registry
# round trips.  Through integration/fault_proxy.py: a registry with the
# referrers API (the signature found through it alone), and one whose
# referrers API fails (the pull fails closed, exit 6).
#
# usage: test_sign_cosign.sh
. "$(dirname "$0")/lib.sh"

it_setup sign_cosign
MP=$IT_BUILD/bin/modelpack
COSIGN=$IT_UNSTABLE_BIN/cosign
ORAS=$IT_UNSTABLE_BIN/oras
# cosign keeps state under $HOME; keep it in the test's directory.
export HOME=$IT_DIR/home COSIGN_PASSWORD=test-password
mkdir -p "$HOME"
mp() { "$MP" --store "$IT_DIR/${STORE:-store}" "$@"; }

[ -x "$COSIGN" ] || { it_fail "cosign in $IT_UNSTABLE_BIN (make unstable)"; it_done; }
it_start_registry || { it_fail "docker-registry starts"; it_done; }

# ---- keys, models, signatures ----------------------------------------------
for k in trusted other; do
  mkdir -p "$IT_DIR/$k"
  (cd "$IT_DIR/$k" && "$COSIGN" generate-key-pair > /dev/null 2>&1) || true
done
TRUSTED=$IT_DIR/trusted/cosign.pub
it_check "cosign generate-key-pair: two key pairs" test -s "$TRUSTED" -a -s "$IT_DIR/other/cosign.pub"

# new_model NAME: pack and push a small model as $REGISTRY/ml/NAME:1; prints
# its digest.
new_model() {
  local src=$IT_DIR/src-$1
  mkdir -p "$src"
  head -c 4096 /dev/urandom > "$src/model.safetensors"
  echo "{\"name\": \"$1\"}" > "$src/config.json"
  STORE=store-push mp pack --src "$src" --tag "$REGISTRY/ml/$1:1" --push 2> "$IT_DIR/push-$1.log" \
    | awk '/^pushed/ {print $3}'
}
# sign KEYDIR NAME DIGEST [cosign flags...]
sign() {
  local dir=$1 name=$2 digest=$3
  shift 3
  "$COSIGN" sign --key "$IT_DIR/$dir/cosign.key" --use-signing-config=false --tlog-upload=false \
    --allow-insecure-registry -y "$@" "$REGISTRY/ml/$name@$digest" >> "$IT_DIR/cosign-sign.log" 2>&1
}

declare -A D
for m in bundle simple unsigned other-key copied-bundle copied-simple tampered-simple tampered-bundle paged; do
  D[$m]=$(new_model "$m") || true
done
it_check "nine models pushed" test "$(printf '%s\n' "${D[@]}" | grep -c '^sha256:')" = 9
sign trusted bundle "${D[bundle]}" || true
sign trusted simple "${D[simple]}" --new-bundle-format=false || true
sign other other-key "${D[other-key]}" || true
sign trusted tampered-simple "${D[tampered-simple]}" --new-bundle-format=false || true
sign trusted tampered-bundle "${D[tampered-bundle]}" || true
# Two referrers (one by the other key): read in pages of one (below).
sign other paged "${D[paged]}" || true
sign trusted paged "${D[paged]}" || true

hex() { echo "${1#sha256:}"; }
tags() { curl -fsS "http://$REGISTRY/v2/ml/$1/tags/list" | jq -r '.tags[]' | sort | tr '\n' ' '; }
it_expect_eq "cosign 3 by default: a bundle under the referrers tag sha256-<hex>" \
  "1 sha256-$(hex "${D[bundle]}") " "$(tags bundle)"
it_expect_eq "cosign --new-bundle-format=false: a simple signing under sha256-<hex>.sig" \
  "1 sha256-$(hex "${D[simple]}").sig " "$(tags simple)"
idx=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' \
  "http://$REGISTRY/v2/ml/bundle/manifests/sha256-$(hex "${D[bundle]}")")
sigman=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$REGISTRY/v2/ml/bundle/manifests/$(jq -r '.manifests[0].digest' <<<"$idx")")
it_expect_eq "... an index of one manifest whose layer is a Sigstore bundle v0.3" \
  "application/vnd.oci.image.index.v1+json application/vnd.dev.sigstore.bundle.v0.3+json" \
  "$(jq -r .mediaType <<<"$idx") $(jq -r '.layers[0].mediaType' <<<"$sigman")"

# Another model's signatures copied under these models' tags: the bundle's
# index to the referrers tag, the simple signing's manifest to the .sig tag.
fetch_manifest() { # REPO TAG ACCEPT
  curl -fsS -H "Accept: $3" "http://$REGISTRY/v2/ml/$1/manifests/$2"
}
put_manifest() { # REPO TAG MEDIATYPE FILE
  curl -fsS -X PUT -H "Content-Type: $3" --data-binary "@$4" \
    "http://$REGISTRY/v2/ml/$1/manifests/$2" > /dev/null
}
put_blob() { # REPO FILE -> digest
  local d
  d=sha256:$(sha256sum < "$2" | cut -d' ' -f1)
  loc=$(curl -fsS -D - -o /dev/null -X POST "http://$REGISTRY/v2/ml/$1/blobs/uploads/" \
    | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  case $loc in http*) ;; *) loc=http://$REGISTRY$loc ;; esac
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" \
    "$loc&digest=$d" > /dev/null
  echo "$d"
}
IDX=application/vnd.oci.image.index.v1+json
MAN=application/vnd.oci.image.manifest.v1+json
# copy_repo_blobs FROM TO MANIFEST: the blobs MANIFEST names, into TO.
copy_blobs() {
  local b
  for b in $(jq -r '.config.digest, .layers[].digest' <<<"$3"); do
    curl -fsS "http://$REGISTRY/v2/ml/$1/blobs/$b" > "$IT_DIR/blob"
    put_blob "$2" "$IT_DIR/blob" > /dev/null
  done
}
{
  fetch_manifest bundle "sha256-$(hex "${D[bundle]}")" "$IDX" > "$IT_DIR/idx.json"
  copy_blobs bundle copied-bundle "$sigman"
  printf '%s' "$sigman" > "$IT_DIR/sigman.json"
  put_manifest copied-bundle "$(jq -r '.manifests[0].digest' "$IT_DIR/idx.json")" "$MAN" "$IT_DIR/sigman.json"
  put_manifest copied-bundle "sha256-$(hex "${D[copied-bundle]}")" "$IDX" "$IT_DIR/idx.json"
  fetch_manifest simple "sha256-$(hex "${D[simple]}").sig" "$MAN" > "$IT_DIR/sig.json"
  copy_blobs simple copied-simple "$(cat "$IT_DIR/sig.json")"
  put_manifest copied-simple "sha256-$(hex "${D[copied-simple]}").sig" "$MAN" "$IT_DIR/sig.json"
} 2>> "$IT_DIR/copy.log" || it_fail "copying signatures between models (see copy.log)"

# Tampered: the simple signing's payload changed (its docker-reference) and
# its manifest re-pushed over the .sig tag; the bundle's DSSE payload
# changed (the statement's predicate) and re-pushed with its index.
{
  t=tampered-simple
  fetch_manifest $t "sha256-$(hex "${D[$t]}").sig" "$MAN" > "$IT_DIR/t.json"
  curl -fsS "http://$REGISTRY/v2/ml/$t/blobs/$(jq -r '.layers[0].digest' "$IT_DIR/t.json")" \
    | jq -c '.critical.identity["docker-reference"] = "evil.example/ml/x"' > "$IT_DIR/payload"
  nd=$(put_blob $t "$IT_DIR/payload")
  jq -c --arg d "$nd" --argjson s "$(stat -c %s "$IT_DIR/payload")" \
    '.layers[0].digest = $d | .layers[0].size = $s' "$IT_DIR/t.json" > "$IT_DIR/t2.json"
  put_manifest $t "sha256-$(hex "${D[$t]}").sig" "$MAN" "$IT_DIR/t2.json"

  t=tampered-bundle
  fetch_manifest $t "sha256-$(hex "${D[$t]}")" "$IDX" > "$IT_DIR/ti.json"
  fetch_manifest $t "$(jq -r '.manifests[0].digest' "$IT_DIR/ti.json")" "$MAN" > "$IT_DIR/tm.json"
  curl -fsS "http://$REGISTRY/v2/ml/$t/blobs/$(jq -r '.layers[0].digest' "$IT_DIR/tm.json")" > "$IT_DIR/b.json"
  st=$(jq -r '.dsseEnvelope.payload' "$IT_DIR/b.json" | base64 -d | jq -c '.predicate = {"tampered": true}' | base64 -w0)
  jq -c --arg p "$st" '.dsseEnvelope.payload = $p' "$IT_DIR/b.json" > "$IT_DIR/b2.json"
  nd=$(put_blob $t "$IT_DIR/b2.json")
  jq -c --arg d "$nd" --argjson s "$(stat -c %s "$IT_DIR/b2.json")" \
    '.layers[0].digest = $d | .layers[0].size = $s' "$IT_DIR/tm.json" > "$IT_DIR/tm2.json"
  put_manifest $t "sha256:$(sha256sum < "$IT_DIR/tm2.json" | cut -d' ' -f1)" "$MAN" "$IT_DIR/tm2.json"
  jq -c --arg d "sha256:$(sha256sum < "$IT_DIR/tm2.json" | cut -d' ' -f1)" \
    --argjson s "$(stat -c %s "$IT_DIR/tm2.json")" \
    '.manifests[0].digest = $d | .manifests[0].size = $s' "$IT_DIR/ti.json" > "$IT_DIR/ti2.json"
  put_manifest $t "sha256-$(hex "${D[$t]}")" "$IDX" "$IT_DIR/ti2.json"
} 2>> "$IT_DIR/tamper.log" || it_fail "tampering with signatures (see tamper.log)"

# ---- policies ----------------------------------------------------------------
# Signatures required for ml/ (with the identity cosign's simple signing
# can satisfy), everything else rejected.
cat > "$IT_DIR/policy.json" <<EOF
{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      "$REGISTRY/ml": [{"type": "sigstoreSigned", "keyPath": "$TRUSTED",
                         "signedIdentity": {"type": "matchRepository"}}]
    }
  }
}
EOF
POLICY=$IT_DIR/policy.json

# ---- three verdicts that must agree ------------------------------------------
# cosign_says MODEL: accept or refuse, as `cosign verify` with the trusted key.
cosign_says() {
  if "$COSIGN" verify --key "$TRUSTED" --insecure-ignore-tlog=true --allow-insecure-registry \
    "$REGISTRY/ml/$1@${D[$1]}" > "$IT_DIR/cosign-$1.out" 2>&1; then
    echo accept
  else
    echo refuse
  fi
}
# verdict CODE: accept (0), refuse (10), or the exit code.
verdict() { case $1 in 0) echo accept ;; 10) echo refuse ;; *) echo "exit $1" ;; esac; }
verify_says() { # MODEL [POLICY]
  local rc=0
  mp verify --policy "${2:-$POLICY}" "$REGISTRY/ml/$1:1" > "$IT_DIR/verify-$1.out" 2> "$IT_DIR/verify-$1.err" || rc=$?
  verdict $rc
}
pull_says() { # MODEL [POLICY]
  local rc=0
  STORE=store-$1 mp pull --policy "${2:-$POLICY}" "$REGISTRY/ml/$1:1" > /dev/null 2> "$IT_DIR/pull-$1.err" || rc=$?
  verdict $rc
}

# agree MODEL EXPECTED NEEDLE: cosign, verify and pull all say EXPECTED; a
# refusal is one line on stderr naming NEEDLE, and leaves no store.
agree() {
  local m=$1 want=$2 needle=$3 c v p
  c=$(cosign_says "$m")
  v=$(verify_says "$m")
  p=$(pull_says "$m")
  it_expect_eq "$m: cosign verify / modelpack verify / modelpack pull" "$want $want $want" "$c $v $p"
  if [ "$want" = refuse ]; then
    if [ "$(wc -l < "$IT_DIR/pull-$m.err")" = 1 ] && grep -q -- "$needle" "$IT_DIR/pull-$m.err" \
      && grep -q "scope transports.docker\[\"$REGISTRY/ml\"\]" "$IT_DIR/pull-$m.err"; then
      it_pass "$m: pull says why in one line (scope, \"$needle\")"
    else
      it_fail "$m: pull's message: $(cat "$IT_DIR/pull-$m.err")"
    fi
    it_check "$m: ... and wrote nothing (no store)" test ! -e "$IT_DIR/store-$m"
  else
    it_check "$m: pulled into the store" grep -q "${D[$m]}" "$IT_DIR/store-$m/index.json"
  fi
}

agree bundle accept ""
grep -q "Sigstore bundle in sha256:.* (referrers tag)" "$IT_DIR/verify-bundle.out" \
  && it_pass "verify lists the bundle found under the referrers tag" \
  || it_fail "verify output: $(cat "$IT_DIR/verify-bundle.out")"
agree simple accept ""
grep -q "#1 accepted: signed by key $TRUSTED for $REGISTRY/ml/simple" "$IT_DIR/verify-simple.out" \
  && it_pass "verify says which key signed, for which reference" \
  || it_fail "verify output: $(cat "$IT_DIR/verify-simple.out")"
agree unsigned refuse "no cosign or Sigstore signature found for ${D[unsigned]}"
agree other-key refuse "not signed by a key the policy trusts"
agree copied-bundle refuse "it signs sha256:$(hex "${D[bundle]}"), not ${D[copied-bundle]}"
agree copied-simple refuse "it signs ${D[simple]}, not ${D[copied-simple]}"
agree tampered-simple refuse "not signed by a key the policy trusts"
agree tampered-bundle refuse "not signed by a key the policy trusts"

# The commands that pull apply the policy too (the global one); inspect,
# which uses nothing of a model, does not.
mkdir -p "$IT_DIR/out"
it_expect_exit "extract of an unsigned model (MODELPACK_POLICY)" 10 "no cosign or Sigstore signature found" \
  env MODELPACK_POLICY="$POLICY" "$MP" --store "$IT_DIR/store-ex" extract "$REGISTRY/ml/unsigned:1" "$IT_DIR/out"
it_expect_eq "... the directory stays empty" "" "$(ls -A "$IT_DIR/out")"
out=$(MODELPACK_POLICY=$POLICY mp --json inspect "$REGISTRY/ml/unsigned:1" 2>&1) || true
it_expect_eq "inspect of the same model shows it" "${D[unsigned]}" "$(jq -r .digest <<<"$out" 2>/dev/null)"

# ---- what only the policy says ---------------------------------------------------
# Out of the signed scope: the default rejects, signature or not.
mkdir -p "$IT_DIR/src-x" && echo x > "$IT_DIR/src-x/a.txt"
STORE=store-push mp pack --src "$IT_DIR/src-x" --tag "$REGISTRY/other/x:1" --push > /dev/null 2>&1 || true
it_expect_exit "pull under a reject scope" 10 "the policy rejects every image in this scope" \
  env STORE=store-rej "$MP" --store "$IT_DIR/store-rej" pull --policy "$POLICY" "$REGISTRY/other/x:1"
it_check "... nothing written" test ! -e "$IT_DIR/store-rej"

# A Rekor requirement: cosign signed without the log, so there is no entry;
# cosign asked to check the log (no --insecure-ignore-tlog) refuses too.
jq --arg k "$TRUSTED" '.transports.docker[][0].rekorPublicKeyPath = $k' "$POLICY" > "$IT_DIR/rekor.json"
c=refuse
"$COSIGN" verify --key "$TRUSTED" --allow-insecure-registry "$REGISTRY/ml/simple@${D[simple]}" \
  > "$IT_DIR/cosign-rekor.out" 2>&1 && c=accept
it_expect_eq "Rekor required, signature not logged: cosign / verify / pull" "refuse refuse refuse" \
  "$c $(verify_says simple "$IT_DIR/rekor.json") $(STORE=store-rekor pull_says simple "$IT_DIR/rekor.json")"
it_check "... saying the log entry is missing" grep -q "requires a Rekor log entry" "$IT_DIR/pull-simple.err"

# The default signedIdentity (matchRepoDigestOrExact) wants a tag or digest
# signed; cosign's simple signing names the bare repository.  Podman and
# CRI-O refuse it the same way; cosign verify does not look at identities.
jq 'del(.transports.docker[][0].signedIdentity)' "$POLICY" > "$IT_DIR/ident.json"
it_expect_eq "default signedIdentity, simple signing: cosign accepts, the policy refuses (documented)" \
  "accept refuse" "$(cosign_says simple) $(verify_says simple "$IT_DIR/ident.json")"
it_check "... saying why" grep -q "a bare repository needs matchRepository" "$IT_DIR/verify-simple.err"
it_expect_eq "default signedIdentity, bundle (names only the digest): accepted" \
  "accept" "$(verify_says bundle "$IT_DIR/ident.json")"

# Malformed and missing policies: exit 8, one line naming the file.
echo '{"default": [{"type": "sigstoreSigned"}]}' > "$IT_DIR/bad.json"
it_expect_exit "verify with a malformed policy" 8 "policy $IT_DIR/bad.json: default\[0\]: exactly one of keyPath" \
  mp verify --policy "$IT_DIR/bad.json" "$REGISTRY/ml/bundle:1"
echo '{"default": [' > "$IT_DIR/bad2.json"
it_expect_exit "pull with a policy that is not JSON" 8 "policy $IT_DIR/bad2.json: not valid JSON" \
  env STORE=store-bad "$MP" --store "$IT_DIR/store-bad" pull --policy "$IT_DIR/bad2.json" "$REGISTRY/ml/bundle:1"
it_check "... nothing written" test ! -e "$IT_DIR/store-bad"
it_expect_exit "a policy named on purpose must exist" 8 "policy $IT_DIR/nope.json: no such file" \
  mp verify --policy "$IT_DIR/nope.json" "$REGISTRY/ml/bundle:1"
it_expect_exit "MODELPACK_POLICY names one the same way" 8 "policy $IT_DIR/bad.json" \
  env MODELPACK_POLICY="$IT_DIR/bad.json" "$MP" --store "$IT_DIR/store-env" pull "$REGISTRY/ml/unsigned:1"
# No file at the default path: no policy, every model accepted (as before).
if [ ! -e /etc/modelpack-snapshotter/policy.json ]; then
  out=$(STORE=store-nopol mp pull "$REGISTRY/ml/unsigned:1" 2>&1) || true
  it_check "no policy file at the default path: an unsigned model pulls" grep -q "${D[unsigned]}" <<<"$out"
fi

# ---- a registry with the referrers API; one that fails -------------------------------
# integration/fault_proxy.py in front of the registry: with referrers-api=1
# it serves /v2/<name>/referrers/<digest> and hides the tag schema, so the
# bundle is found through the API alone; with fail=/referrers/ the API
# answers 503 every time, and a scope that requires signatures fails closed.
PROXY_PID=""
trap '[ -n "$PROXY_PID" ] && it_kill_wait "$PROXY_PID" 5; it_on_exit' EXIT
start_proxy() {
  [ -n "$PROXY_PID" ] && it_kill_wait "$PROXY_PID" 5
  local p
  for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htln "sport = :$p")" ] || continue
    python3 "$IT_REPO/integration/fault_proxy.py" "$p" "$REGISTRY" "$IT_DIR/proxy.log" "$@" \
      > "$IT_DIR/proxy.out" 2>&1 &
    PROXY_PID=$!
    PROXY=127.0.0.1:$p
    it_wait_for 10 "fault proxy" curl -fsS "http://$PROXY/v2/" && return 0
  done
  return 1
}
sed "s|$REGISTRY/ml|PROXY/ml|" "$POLICY" > "$IT_DIR/proxy-policy.tmpl"
if start_proxy referrers-api=1; then
  sed "s|PROXY/ml|$PROXY/ml|" "$IT_DIR/proxy-policy.tmpl" > "$IT_DIR/proxy-policy.json"
  j=$(mp --json verify --policy "$IT_DIR/proxy-policy.json" "$PROXY/ml/bundle:1" 2> "$IT_DIR/api.err") || true
  it_expect_eq "referrers API: the bundle found through it alone, accepted, in 3 round trips" \
    "true referrers API true 3" \
    "$(jq -r '"\(.cost.referrers_api) \(.signatures[0].found_by) \(.accepted) \(.cost.round_trips)"' <<<"$j")"
  it_expect_exit "referrers API: an unsigned model refused" 10 "no cosign or Sigstore signature found" \
    mp verify --policy "$IT_DIR/proxy-policy.json" "$PROXY/ml/unsigned:1"
  it_expect_exit "referrers API: a copied bundle refused" 10 "it signs sha256:$(hex "${D[bundle]}")" \
    mp verify --policy "$IT_DIR/proxy-policy.json" "$PROXY/ml/copied-bundle:1"
else
  it_fail "fault proxy starts"
fi
# Referrers answered in pages of one entry (Link: rel="next"): both of the
# paged model's bundles are found (whichever page holds the trusted one), accepted,
# one more round trip for the second page.
: > "$IT_DIR/proxy.log"
if start_proxy referrers-page=1; then
  sed "s|PROXY/ml|$PROXY/ml|" "$IT_DIR/proxy-policy.tmpl" > "$IT_DIR/proxy-policy.json"
  j=$(mp --json verify --policy "$IT_DIR/proxy-policy.json" "$PROXY/ml/paged:1" 2> "$IT_DIR/paged.err") || true
  it_expect_eq "referrers in pages: two bundles found, accepted, 4 round trips" \
    "2 true 4" "$(jq -r '"\(.signatures | length) \(.accepted) \(.cost.round_trips)"' <<<"$j")"
  it_expect_eq "... the proxy served two pages, the second asked for by its link" "2 1" \
    "$(grep -c '/referrers/.* -> 200 (referrers)' "$IT_DIR/proxy.log") $(grep -c '/referrers/.*last=sha256' "$IT_DIR/proxy.log")"
else
  it_fail "fault proxy starts"
fi
# A next link on another host: only its query is taken, asked of the same
# registry; a next link to another repository's list is not followed.
if start_proxy referrers-page=1 referrers-link=absolute; then
  sed "s|PROXY/ml|$PROXY/ml|" "$IT_DIR/proxy-policy.tmpl" > "$IT_DIR/proxy-policy.json"
  j=$(mp --json verify --policy "$IT_DIR/proxy-policy.json" "$PROXY/ml/paged:1" 2> /dev/null) || true
  it_expect_eq "referrers pages, absolute next link elsewhere: both found on this registry, accepted" \
    "2 true" "$(jq -r '"\(.signatures | length) \(.accepted)"' <<<"$j")"
else
  it_fail "fault proxy starts"
fi
if start_proxy referrers-page=1 referrers-link=elsewhere; then
  sed "s|PROXY/ml|$PROXY/ml|" "$IT_DIR/proxy-policy.tmpl" > "$IT_DIR/proxy-policy.json"
  j=$(mp --json verify --policy "$IT_DIR/proxy-policy.json" "$PROXY/ml/paged:1" 2> "$IT_DIR/elsewhere.err") || true
  # Which of the two is on the first page is the registry's order.
  it_expect_eq "referrers pages, next link to another list: not followed (one of the two found)" \
    "1" "$(jq -r '.signatures | length' <<<"$j")"
  it_check "... and said so" grep -q "the next-page link is not for this list" "$IT_DIR/elsewhere.err"
else
  it_fail "fault proxy starts"
fi
if start_proxy fail=/referrers/:100; then
  sed "s|PROXY/ml|$PROXY/ml|" "$IT_DIR/proxy-policy.tmpl" > "$IT_DIR/proxy-policy.json"
  it_expect_exit "the registry failing while signatures are looked for: pull fails closed" 6 "looking for signatures of" \
    env STORE=store-fail "$MP" --store "$IT_DIR/store-fail" --transfer-timeout 10 pull \
    --policy "$IT_DIR/proxy-policy.json" "$PROXY/ml/bundle:1"
  it_check "... nothing written" test ! -e "$IT_DIR/store-fail"
else
  it_fail "fault proxy starts"
fi

# ---- the daemon's CRI-O store sync applies the policy ----------------------------
# Models pulled into a model store (no policy on the pull); the daemon mirrors
# that store into a CRI-O store under [signatures] policy: only what the
# policy accepts is exported; a new policy revision is applied to what was
# exported before (an export it refuses is removed).
echo '{"default": [{"type": "insecureAcceptAnything"}]}' > "$IT_DIR/anything.json"
STORE=syncsrc mp pull --policy "$IT_DIR/anything.json" "$REGISTRY/ml/bundle:1" > /dev/null 2>&1 \
  && STORE=syncsrc mp pull --policy "$IT_DIR/anything.json" "$REGISTRY/ml/unsigned:1" > /dev/null 2>&1 \
  && STORE=syncsrc mp pull --policy "$IT_DIR/anything.json" "$REGISTRY/ml/other-key:1" > /dev/null 2>&1 \
  || it_fail "three models pulled into the sync's source store"
SYNC=$IT_DIR/crio-sync
SYNCPOL=$IT_DIR/sync-policy.json
cp "$POLICY" "$SYNCPOL"
cat > "$IT_DIR/sync.toml" <<EOF
[image_volumes]
enabled = false

[crio_store]
dir = "$SYNC"
source = "$IT_DIR/syncsrc"
poll_seconds = 1

[signatures]
policy = "$SYNCPOL"
notation = ""
hosts_dir = ""
EOF
synced() { jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"]' "$SYNC/artifacts/index.json" 2>/dev/null | LC_ALL=C sort | tr '\n' ' '; }
export -f synced
export SYNC
if it_start_snapshotter --config "$IT_DIR/sync.toml"; then
  it_check "CRI-O sync: only the trusted-key model is exported" \
    it_wait_for 30 "the export of ml/bundle:1" bash -c "[ \"\$(synced)\" = '$REGISTRY/ml/bundle:1 ' ]"
  sleep 2
  it_expect_eq "... and nothing else after more passes" "$REGISTRY/ml/bundle:1 " "$(synced)"
  it_check "... the unsigned one logged, naming why" \
    grep -q "CRI-O store $SYNC: not exporting $REGISTRY/ml/unsigned:1: .*no cosign or Sigstore signature found" "$IT_DIR/snapshotter.log"
  it_check "... the other key's logged" \
    grep -q "CRI-O store $SYNC: not exporting $REGISTRY/ml/other-key:1: .*refused by the signature policy" "$IT_DIR/snapshotter.log"
  # Trust the other key instead: a new revision, checked without a store change.
  sed "s|$TRUSTED|$IT_DIR/other/cosign.pub|" "$POLICY" > "$SYNCPOL.tmp" && mv "$SYNCPOL.tmp" "$SYNCPOL"
  it_check "CRI-O sync: a new policy swaps the exports (other-key in, bundle out)" \
    it_wait_for 30 "the new policy's exports" bash -c "[ \"\$(synced)\" = '$REGISTRY/ml/other-key:1 ' ]"
  it_check "... the removal logged as a refusal" \
    grep -q "CRI-O store $SYNC: removed $REGISTRY/ml/bundle:1 (refused by the signature policy)" "$IT_DIR/snapshotter.log"
  it_stop_snapshotter > /dev/null 2>&1 || it_fail "the daemon stops cleanly"
else
  it_fail "the daemon starts with [crio_store] and [signatures]"
fi

# ---- cost ---------------------------------------------------------------------------
# After the manifest: the three lookups at once, then the signature manifest
# and its blob (bundle) or the blob only (.sig).
j=$(mp --json verify --policy "$POLICY" "$REGISTRY/ml/bundle:1" 2> /dev/null) || true
it_expect_eq "bundle: 3 round trips, 5 requests (lookups, manifest, blob), found by the tag schema" \
  "3 5 false true" "$(jq -r '"\(.cost.round_trips) \(.cost.requests) \(.cost.referrers_api) \(.accepted)"' <<<"$j")"
j=$(mp --json verify --policy "$POLICY" "$REGISTRY/ml/simple:1" 2> /dev/null) || true
it_expect_eq "simple signing: 2 round trips, 4 requests" \
  "2 4 true" "$(jq -r '"\(.cost.round_trips) \(.cost.requests) \(.accepted)"' <<<"$j")"
j=$(mp --json verify --policy "$POLICY" "$REGISTRY/other/x:1" 2> /dev/null) || true
it_expect_eq "a reject scope: no round trip at all" "0 0 false" \
  "$(jq -r '"\(.cost.round_trips) \(.cost.requests) \(.accepted)"' <<<"$j")"

it_done
