#!/bin/bash
# Our Notation verifier (model/notation.h, driven by build/bin/notation_verify)
# against Debian unstable's `notation verify`, on the same signatures in the
# same registry, and `modelpack verify --notation` / `modelpack pull
# --notation` (registry discovery + the same verifier, through the CLI): for
# each case all four must give the same accept/reject, and that answer must
# be the expected one.  A refusal by the CLI is exit 10 (the policy), except
# for a malformed trust policy, which is a usage error before any lookup.
#
# Models are pushed with oras to docker-registry 2.8 (no referrers API: the
# signatures land under the sha256-<hex> referrers tag) and signed with
# `notation sign`; the envelopes are read back with curl from that tag's
# index.  An artifact is accepted by us when one of its envelopes verifies,
# or when its statement's level is skip, as notation does.
#
#  - JWS and COSE signed by generate-test's certificate: accepted;
#  - no signature: refused (and accepted under a skip statement);
#  - signed by another certificate the policy does not trust: refused
#    (accepted at audit, which only logs authenticity);
#  - another model's signature attached to this one (oras attach): refused;
#  - a signature whose payload was edited to name this model: refused;
#  - an openssl chain whose leaf expires seconds after signing: accepted
#    before, refused after at strict, accepted after at permissive;
#  - that chain against a store holding another root: refused; against its
#    own root: accepted;
#  - trustedIdentities naming the signer: accepted; naming another: refused;
#  - a statement whose registryScopes do not cover the repository: refused;
#  - a malformed trustpolicy.json: both refuse to verify anything.
#
# usage: test_sign_notation.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pki.sh"

it_setup sign_notation
NOTATION=$IT_UNSTABLE_BIN/notation
ORAS=$IT_UNSTABLE_BIN/oras
NV=$IT_BUILD/bin/notation_verify
MP=$IT_BUILD/bin/modelpack
MT=application/vnd.oci.image.manifest.v1+json
for t in "$NOTATION" "$ORAS" "$NV"; do
  [ -x "$t" ] || { it_fail "$t missing (make all unstable)"; it_done; }
done

it_start_registry || { it_fail "docker-registry starts"; it_done; }
export XDG_CONFIG_HOME=$IT_DIR/xdg
NCFG=$XDG_CONFIG_HOME/notation
mkdir -p "$NCFG"

# push NAME: a one-layer model at $REGISTRY/ml/NAME:v1; its manifest is
# saved to $IT_DIR/NAME.manifest and its digest printed.
push() {
  local d=$IT_DIR/src-$1
  mkdir -p "$d"
  head -c 4096 /dev/urandom > "$d/model.bin"
  (cd "$d" && "$ORAS" push --plain-http "$REGISTRY/ml/$1:v1" \
    --artifact-type application/vnd.cncf.model.manifest.v1+json \
    model.bin:application/vnd.cncf.model.weight.v1.raw) > "$IT_DIR/oras.log" 2>&1
  curl -fsS -H "Accept: $MT" "http://$REGISTRY/v2/ml/$1/manifests/v1" \
    > "$IT_DIR/$1.manifest"
  echo "sha256:$(sha256sum "$IT_DIR/$1.manifest" | cut -d' ' -f1)"
}

# envelopes NAME DIGEST: download every Notation signature envelope of the
# manifest to $IT_DIR/env/NAME.N, printing "FILE MEDIA_TYPE" lines.
envelopes() {
  local name=$1 digest=$2 index m layer i=0
  mkdir -p "$IT_DIR/env"
  index=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$REGISTRY/v2/ml/$name/manifests/sha256-${digest#sha256:}" 2> /dev/null) || return 0
  for m in $(jq -r '.manifests[] | select(.artifactType == "application/vnd.cncf.notary.signature") | .digest' <<< "$index"); do
    layer=$(curl -fsS -H "Accept: $MT" "http://$REGISTRY/v2/ml/$name/manifests/$m" | jq -c '.layers[0]')
    i=$((i + 1))
    curl -fsS "http://$REGISTRY/v2/ml/$name/blobs/$(jq -r .digest <<< "$layer")" \
      > "$IT_DIR/env/$name.$i"
    echo "$IT_DIR/env/$name.$i $(jq -r .mediaType <<< "$layer")"
  done
}

# ours NAME DIGEST: accepted if the statement skips, or one envelope
# verifies.  Prints accept/reject; details go to the log.
ours() {
  local name=$1 digest=$2 file mt out
  if out=$("$NV" "$NCFG" "$REGISTRY/ml/$name" --lookup 2>&1) && [[ $out == *"(skip)"* ]]; then
    echo accept
    return
  fi
  while read -r file mt; do
    [ -n "$file" ] || continue
    if out=$("$NV" "$NCFG" "$REGISTRY/ml/$name" "$IT_DIR/$name.manifest" "$MT" "$mt" "$file" 2>&1); then
      echo "ours $name: $out" >> "$IT_DIR/verdicts.log"
      echo accept
      return
    fi
    echo "ours $name: $out" >> "$IT_DIR/verdicts.log"
  done < <(envelopes "$name" "$digest")
  echo reject
}

theirs() {
  if "$NOTATION" verify --insecure-registry "$REGISTRY/ml/$1@$2" >> "$IT_DIR/verdicts.log" 2>&1; then
    echo accept
  else
    echo reject
  fi
}

# cli COMMAND NAME DIGEST: `modelpack COMMAND --notation` on the model, by
# digest, with no containers-policy.json (MODELPACK_POLICY unset, and the
# default path absent on test machines).  accept (0), reject (10; any
# failure when REJECT_ANY is set), or "exit N".
N_PULL=0
cli() {
  local rc=0 store
  N_PULL=$((N_PULL + 1))
  store=$IT_DIR/store-$N_PULL
  env -u MODELPACK_POLICY "$MP" --store "$store" --log-level error "$1" --plain-http \
    --notation "$NCFG" "$REGISTRY/ml/$2@$3" >> "$IT_DIR/verdicts.log" 2>&1 || rc=$?
  echo "modelpack $1 $2: exit $rc" >> "$IT_DIR/verdicts.log"
  case $rc in
    0) echo accept ;;
    10) echo reject ;;
    *) if [ -n "${REJECT_ANY:-}" ]; then echo reject; else echo "exit $rc"; fi ;;
  esac
}

# agree WHAT NAME DIGEST EXPECTED
agree() {
  local t o v p
  echo "== $1" >> "$IT_DIR/verdicts.log"
  t=$(theirs "$2" "$3")
  o=$(ours "$2" "$3")
  v=$(cli verify "$2" "$3")
  p=$(cli pull "$2" "$3")
  it_expect_eq "$1: notation verify, notation_verify, modelpack verify, modelpack pull agree ($4)" \
    "$4 $4 $4 $4" "$t $o $v $p"
}

# policy LEVEL_BODY STORES IDENTITIES [SCOPE]
policy() {
  cat > "$NCFG/trustpolicy.json" << EOF
{"version": "1.0", "trustPolicies": [{"name": "test",
 "registryScopes": ["${4:-*}"], "signatureVerification": {$1},
 "trustStores": [$2], "trustedIdentities": [$3]}]}
EOF
}

# ---- generate-test certificates ---------------------------------------------
"$NOTATION" cert generate-test --default good > "$IT_DIR/notation.log" 2>&1
"$NOTATION" cert generate-test other >> "$IT_DIR/notation.log" 2>&1
policy '"level": "strict"' '"ca:good"' '"*"'

d1=$(push m1)
"$NOTATION" sign --insecure-registry "$REGISTRY/ml/m1@$d1" >> "$IT_DIR/notation.log" 2>&1
agree "JWS by a trusted certificate" m1 "$d1" accept
d2=$(push m2)
"$NOTATION" sign --insecure-registry --signature-format cose "$REGISTRY/ml/m2@$d2" >> "$IT_DIR/notation.log" 2>&1
agree "COSE by a trusted certificate" m2 "$d2" accept
d3=$(push m3)
agree "no signature" m3 "$d3" reject
d4=$(push m4)
"$NOTATION" sign --insecure-registry --key other "$REGISTRY/ml/m4@$d4" >> "$IT_DIR/notation.log" 2>&1
agree "signed by a certificate the policy does not trust" m4 "$d4" reject

# Another model's signature, attached to m5.
d5=$(push m5)
env1=$(envelopes m1 "$d1" | head -1)
cp "${env1% *}" "$IT_DIR/m1.jws"
(cd "$IT_DIR" && "$ORAS" attach --plain-http --artifact-type application/vnd.cncf.notary.signature \
  "$REGISTRY/ml/m5@$d5" m1.jws:application/jose+json) >> "$IT_DIR/oras.log" 2>&1
agree "signature of another digest" m5 "$d5" reject

# m1's signature with its payload edited to name m6.
d6=$(push m6)
python3 - "$IT_DIR/m1.jws" "$IT_DIR/m6.jws" "$d6" "$(stat -c %s "$IT_DIR/m6.manifest")" << 'EOF'
import base64, json, sys
env = json.load(open(sys.argv[1]))
pad = lambda s: s + "=" * (-len(s) % 4)
payload = json.loads(base64.urlsafe_b64decode(pad(env["payload"])))
payload["targetArtifact"]["digest"] = sys.argv[3]
payload["targetArtifact"]["size"] = int(sys.argv[4])
raw = json.dumps(payload, separators=(",", ":")).encode()
env["payload"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
json.dump(env, open(sys.argv[2], "w"))
EOF
(cd "$IT_DIR" && "$ORAS" attach --plain-http --artifact-type application/vnd.cncf.notary.signature \
  "$REGISTRY/ml/m6@$d6" m6.jws:application/jose+json) >> "$IT_DIR/oras.log" 2>&1
agree "tampered payload" m6 "$d6" reject

policy '"level": "audit"' '"ca:good"' '"*"'
agree "audit: an untrusted signer is only logged" m4 "$d4" accept
policy '"level": "strict"' '"ca:good"' '"x509.subject: C=US, ST=WA, O=Notary"'
agree "trustedIdentities naming the signer" m1 "$d1" accept
policy '"level": "strict"' '"ca:good"' '"x509.subject: C=US, ST=WA, O=Other"'
agree "trustedIdentities naming another signer" m1 "$d1" reject
policy '"level": "strict"' '"ca:good"' '"*"' "$REGISTRY/ml/elsewhere"
agree "registryScopes not covering the repository" m1 "$d1" reject
cat > "$NCFG/trustpolicy.json" << EOF
{"version": "1.0", "trustPolicies": [{"name": "unsigned",
 "registryScopes": ["$REGISTRY/ml/m3"], "signatureVerification": {"level": "skip"}}]}
EOF
agree "level skip: no signature needed" m3 "$d3" accept
policy '"level": "strickt"' '"ca:good"' '"*"'
REJECT_ANY=1 agree "malformed trust policy" m1 "$d1" reject
it_check "our loader names the field" bash -c \
  "'$NV' '$NCFG' '$REGISTRY/ml/m1' --lookup 2>&1 | grep -q 'signatureVerification.level: unknown level'"

# ---- both mechanisms: every one that speaks for the model must accept --------
policy '"level": "strict"' '"ca:good"' '"*"'
echo '{"default": [{"type": "insecureAcceptAnything"}]}' > "$IT_DIR/accept.json"
echo '{"default": [{"type": "reject"}]}' > "$IT_DIR/reject.json"
both() { # POLICY NAME DIGEST
  env -u MODELPACK_POLICY "$MP" --log-level error verify --plain-http --policy "$1" \
    --notation "$NCFG" "$REGISTRY/ml/$2@$3" > "$IT_DIR/both.out"
}
it_check "insecureAcceptAnything + Notation: a signed model is accepted" both "$IT_DIR/accept.json" m1 "$d1"
it_expect_exit "insecureAcceptAnything + Notation: an unsigned model is refused" 10 \
  'a Notation signature verified by trust policy statement "test" (level strict' \
  both "$IT_DIR/accept.json" m3 "$d3"
it_check "the refusal says none was found" grep -q "no Notation signature found" "$IT_DIR/err"
it_expect_exit "reject + Notation: a Notation signature does not override the scope" 10 \
  "the policy rejects every image in this scope" both "$IT_DIR/reject.json" m1 "$d1"
policy '"level": "strict"' '"ca:good"' '"*"' "$REGISTRY/ml/elsewhere"
it_check "a Notation statement not covering the model leaves containers-policy.json alone" \
  both "$IT_DIR/accept.json" m3 "$d3"

# ---- an openssl chain whose leaf expires seconds after signing --------------
pki=$IT_DIR/pki
{ it_pki_roots "$pki" root other && it_pki_leaf "$pki" root leaf "15 seconds"; } > "$IT_DIR/openssl.log" 2>&1
expires=$(date -d "$(openssl x509 -in "$pki/leaf.crt" -noout -enddate | cut -d= -f2)" +%s)
mkdir -p "$NCFG/truststore/x509/ca/itroot" "$NCFG/truststore/x509/ca/foreign"
cp "$pki/root.crt" "$NCFG/truststore/x509/ca/itroot/"
cp "$pki/other.crt" "$NCFG/truststore/x509/ca/foreign/"
jq --arg k "$pki/leaf.key" --arg c "$pki/leaf-chain.crt" \
  '.keys += [{name: "short", keyPath: $k, certPath: $c}]' "$NCFG/signingkeys.json" > "$IT_DIR/keys.json"
cp "$IT_DIR/keys.json" "$NCFG/signingkeys.json"
d7=$(push m7)
"$NOTATION" sign --insecure-registry --key short "$REGISTRY/ml/m7@$d7" >> "$IT_DIR/notation.log" 2>&1
policy '"level": "strict"' '"ca:itroot"' '"*"'
agree "openssl chain, leaf still valid" m7 "$d7" accept
policy '"level": "strict"' '"ca:foreign"' '"*"'
agree "openssl chain against a store holding another root" m7 "$d7" reject
while [ "$(date +%s)" -le $((expires + 1)) ]; do sleep 1; done
policy '"level": "strict"' '"ca:itroot"' '"*"'
agree "expired leaf, strict" m7 "$d7" reject
policy '"level": "permissive"' '"ca:itroot"' '"*"'
agree "expired leaf, permissive (logged)" m7 "$d7" accept
it_check "ours logs the expired certificate at permissive" \
  grep -q "logged: authenticTimestamp: verification time is after certificate" "$IT_DIR/verdicts.log"

# Cost: discovery (referrers API and tag schema at once), the signature's
# manifest, its envelope: 3 round trips, 4 requests; what the envelope signs
# (the model manifest's media type and size) comes from the manifest verify
# read first, not from another request.
j=$(env -u MODELPACK_POLICY "$MP" --store "$IT_DIR/store-cost" --log-level error --json verify \
  --plain-http --notation "$NCFG" "$REGISTRY/ml/m7@$d7" 2> /dev/null) || true
it_expect_eq "Notation: 3 round trips, 4 requests, accepted" "3 4 true" \
  "$(jq -r '"\(.cost.round_trips) \(.cost.requests) \(.accepted)"' <<<"$j")"

it_done
