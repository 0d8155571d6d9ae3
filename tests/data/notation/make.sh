#!/bin/bash
# Regenerate the Notation signatures tests/test_notation.c reads: envelopes
# made by the real `notation` (Debian unstable's, fetched by `make unstable`)
# against a private docker-registry, read back with curl.
#
#   bash tests/data/notation/make.sh        (from the repository root)
#
# Writes, next to this script:
#   manifest.json     the signed target: a small ModelPack manifest, as the
#                     registry serves it (digest = sha256 of the file)
#   root.crt          root of a three-certificate chain made here with
#                     openssl (root P-384 -> intermediate P-256, pathlen 0 ->
#                     leaf P-256 with codeSigning), valid for about 49 years
#   testca.crt        the self-signed certificate `notation cert
#                     generate-test` makes (RSA 2048, valid for ONE day: the
#                     tests verify its envelopes at their own signing time)
#   chain.jws         JWS by the chain's leaf, with user metadata
#   chain.cose        COSE by the chain's leaf
#   chain-expiry.jws  JWS by the chain's leaf with `--expiry 1h`
#   testca.jws        JWS by the generate-test certificate (PS256)
#   testca.cose       COSE by the generate-test certificate
#   subject.txt       the leaf's subject as openssl prints it (for reference)
#
# Private keys stay in a temporary directory and are deleted: the tests never
# sign with them.  Needs root only for nothing; needs docker-registry, curl,
# jq, openssl and the unpacked unstable tools (NOTATION / ORAS override).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
bin=$repo/.cache/unstable/root/usr/bin
NOTATION=${NOTATION:-$bin/notation}
ORAS=${ORAS:-$bin/oras}
for t in "$NOTATION" "$ORAS"; do
  [ -x "$t" ] || { echo "make.sh: $t missing (run make unstable)" >&2; exit 1; }
done

tmp=$(mktemp -d)
reg_pid=""
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2> /dev/null && wait "$reg_pid" 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# A private registry on a free port.
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  [ -z "$(ss -Htln "sport = :$port")" ] && break
done
mkdir -p "$tmp/reg"
cat > "$tmp/registry.yml" << EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $tmp/reg
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
env -i PATH=/usr/bin:/bin /usr/bin/docker-registry serve "$tmp/registry.yml" \
  > "$tmp/registry.log" 2>&1 &
reg_pid=$!
reg=127.0.0.1:$port
for _ in $(seq 50); do
  curl -fsS "http://$reg/v2/" > /dev/null 2>&1 && break
  sleep 0.1
done

# The target: one raw weight layer, pushed with oras.
printf 'weights\n' > "$tmp/model.bin"
(cd "$tmp" && "$ORAS" push --plain-http "$reg/ml/model:v1" \
  --artifact-type application/vnd.cncf.model.manifest.v1+json \
  model.bin:application/vnd.cncf.model.weight.v1.raw > /dev/null)
curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$reg/v2/ml/model/manifests/v1" > "$here/manifest.json"
digest=sha256:$(sha256sum "$here/manifest.json" | cut -d' ' -f1)

# The chain.
pki=$tmp/pki
mkdir -p "$pki"
cat > "$pki/ext.cnf" << 'EOF'
[root]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[inter]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
cat /etc/ssl/openssl.cnf "$pki/ext.cnf" > "$pki/req.cnf"
(
  cd "$pki"
  openssl ecparam -name secp384r1 -genkey -noout -out root.key
  openssl req -x509 -new -key root.key -sha384 -days 18250 \
    -subj "/C=US/ST=WA/O=Modelpack Test/CN=Modelpack Test Root" \
    -config req.cnf -extensions root -out root.crt
  openssl ecparam -name prime256v1 -genkey -noout -out inter.key
  openssl req -new -key inter.key -out inter.csr \
    -subj "/C=US/ST=WA/O=Modelpack Test/CN=Modelpack Test Intermediate"
  openssl x509 -req -in inter.csr -CA root.crt -CAkey root.key -set_serial 2 \
    -days 18000 -sha384 -extfile ext.cnf -extensions inter -out inter.crt
  openssl ecparam -name prime256v1 -genkey -noout -out leaf.key
  openssl req -new -key leaf.key -out leaf.csr \
    -subj "/C=US/ST=WA/L=Seattle/O=Modelpack Test/CN=Model Signer"
  openssl x509 -req -in leaf.csr -CA inter.crt -CAkey inter.key -set_serial 3 \
    -days 17900 -sha256 -extfile ext.cnf -extensions leaf -out leaf.crt
  cat leaf.crt inter.crt root.crt > chain.crt
) > /dev/null 2>&1
cp "$pki/root.crt" "$here/root.crt"
openssl x509 -in "$pki/leaf.crt" -noout -subject > "$here/subject.txt"

# notation's configuration: the generate-test key, and the chain's leaf as
# a second key (signingkeys.json names a key file and a certificate chain).
export XDG_CONFIG_HOME=$tmp/config
"$NOTATION" cert generate-test --default testca > /dev/null
cp "$XDG_CONFIG_HOME/notation/localkeys/testca.crt" "$here/testca.crt"
keys=$XDG_CONFIG_HOME/notation/signingkeys.json
jq --arg k "$pki/leaf.key" --arg c "$pki/chain.crt" \
  '.keys += [{name: "chain", keyPath: $k, certPath: $c}]' "$keys" > "$keys.new"
mv "$keys.new" "$keys"

# sign_as OUT ARGS...: sign the target, then fetch the one new signature
# (the referrers tag index lists every signature; the newest is the one not
# seen before) and write its envelope to OUT.
seen=""
sign_as() {
  local out=$1 index m blob
  shift
  "$NOTATION" sign --insecure-registry "$@" "$reg/ml/model@$digest" > /dev/null
  index=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$reg/v2/ml/model/manifests/sha256-${digest#sha256:}")
  for m in $(jq -r '.manifests[].digest' <<< "$index"); do
    case " $seen " in *" $m "*) continue ;; esac
    seen="$seen $m"
    blob=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "http://$reg/v2/ml/model/manifests/$m" | jq -r '.layers[0].digest')
    curl -fsS "http://$reg/v2/ml/model/blobs/$blob" > "$here/$out"
    return 0
  done
  echo "make.sh: no new signature after signing $out" >&2
  return 1
}
sign_as chain.jws --key chain --user-metadata org.example.build=42
sign_as chain.cose --key chain --signature-format cose
sign_as chain-expiry.jws --key chain --expiry 1h
sign_as testca.jws --key testca
sign_as testca.cose --key testca --signature-format cose

# What notation itself says of them, as a check that the data is good.
mkdir -p "$XDG_CONFIG_HOME/notation/truststore/x509/ca/chain"
cp "$pki/root.crt" "$XDG_CONFIG_HOME/notation/truststore/x509/ca/chain/"
cat > "$XDG_CONFIG_HOME/notation/trustpolicy.json" << 'EOF'
{"version": "1.0", "trustPolicies": [{"name": "all", "registryScopes": ["*"],
 "signatureVerification": {"level": "strict"},
 "trustStores": ["ca:chain", "ca:testca"], "trustedIdentities": ["*"]}]}
EOF
"$NOTATION" verify --insecure-registry "$reg/ml/model@$digest" > /dev/null
echo "make.sh: wrote $(cd "$here" && ls | grep -v make.sh | tr '\n' ' ')"
