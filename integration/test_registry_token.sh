#!/bin/bash
# The modelpack CLI against Debian's docker-registry with bearer-token auth,
# tokens coming from integration/token_issuer.py, which this test starts
# (RS256 JWTs whose x5c is a self-signed cert, the registry's
# rootcertbundle):
#
#  - the registry demands tokens: /v2/ without one is 401 with a
#    "WWW-Authenticate: Bearer realm=..." pointing at the issuer;
#  - with alice's credentials in the auth file, pack --push works and the
#    issuer saw her ask for repository:ml/tiny:pull,push for service
#    test-registry; pull into an empty store and extract give identical
#    files, the issuer having seen repository:ml/tiny:pull;
#  - bob is granted only pull: his pull works, his push exits 5;
#  - a wrong password (the issuer answers 401) and no credentials at all
#    (the issuer grants an anonymous token no access, the registry still
#    answers 401) both exit 5 with one line.
#
# usage: test_registry_token.sh
. "$(dirname "$0")/lib.sh"

it_setup registry_token
MP=$IT_BUILD/bin/modelpack
AUTH=$IT_DIR/auth/config.json
mp() { "$MP" --store "$IT_DIR/${STORE:-store}" --auth-file "${AUTHF:-$AUTH}" "$@"; }
ISS_LOG=$IT_DIR/issuer-requests.txt
ISS_PID=""

# The issuer is ours to stop too: wrap lib.sh's cleanup.
eval "it_cleanup_lib() $(declare -f it_cleanup | tail -n +2)"
it_cleanup() {
  it_kill_wait "$ISS_PID" 5
  ISS_PID=""
  it_cleanup_lib
}

# ---- the token issuer -------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-issuer \
  -keyout "$IT_DIR/issuer.key" -out "$IT_DIR/issuer.crt" > "$IT_DIR/openssl.log" 2>&1
python3 "$IT_REPO/integration/token_issuer.py" --key "$IT_DIR/issuer.key" \
  --cert "$IT_DIR/issuer.crt" --issuer test-issuer --service test-registry \
  --user alice:s3cret:pull,push --user bob:hunter2:pull \
  --log "$ISS_LOG" --port-file "$IT_DIR/issuer.port" --parent $$ \
  >> "$IT_DIR/issuer.log" 2>&1 &
ISS_PID=$!
it_wait_for 10 "token issuer" test -s "$IT_DIR/issuer.port" \
  || { it_fail "token issuer starts"; it_done; }
ISSUER=127.0.0.1:$(cat "$IT_DIR/issuer.port")

# ---- docker-registry with token auth ------------------------------------------------
it_start_registry || { it_fail "docker-registry starts"; it_done; }
it_stop_registry
sed -i '/^http:/i auth:\n  token:\n    realm: http://'"$ISSUER"'/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: '"$IT_DIR/issuer.crt" "$IT_DIR/registry.yml"
env -i PATH="$IT_SYS_PATH" /usr/bin/docker-registry serve "$IT_DIR/registry.yml" >> "$IT_DIR/registry.log" 2>&1 &
REG_PID=$!
it_wait_for 10 "registry with token auth on $REGISTRY" \
  bash -c "curl -s -o /dev/null -w '%{http_code}' http://$REGISTRY/v2/ | grep -q 401" \
  || { it_fail "docker-registry with token auth starts"; it_done; }
it_pass "docker-registry on $REGISTRY, token issuer on $ISSUER"

hdr=$(curl -s -o /dev/null -D - "http://$REGISTRY/v2/" | tr -d '\r') || true
it_check "GET /v2/ without a token: 401 with a Bearer challenge naming the issuer" \
  grep -qiF "www-authenticate: Bearer realm=\"http://$ISSUER/token\",service=\"test-registry\"" <<<"$hdr"
it_check "... and the status is 401" grep -q '^HTTP/1.1 401' <<<"$hdr"

# auth_file FILE USER PASSWORD
auth_file() {
  mkdir -p "$(dirname "$1")"
  jq -n --arg h "$REGISTRY" --arg a "$(printf '%s:%s' "$2" "$3" | base64 -w0)" \
    '{auths: {($h): {auth: $a}}}' > "$1"
}
auth_file "$AUTH" alice s3cret
auth_file "$IT_DIR/auth/bob.json" bob hunter2
auth_file "$IT_DIR/auth/wrong.json" alice wrong

SRC=$IT_DIR/src
mkdir -p "$SRC/tokenizer"
head -c 3000000 /dev/urandom > "$SRC/model.safetensors"
echo '{"model_type": "tiny"}' > "$SRC/config.json"
echo '{"v": 1}' > "$SRC/tokenizer/tokenizer.json"
sums() { (cd "$1" && find . -type f ! -name Modelfile -printf '%P\n' | LC_ALL=C sort | xargs sha256sum); }
asked() { grep -qxF "user=$1 service=test-registry scope=$2 status=$3" "$ISS_LOG"; }

# ---- alice: push, pull, extract -------------------------------------------------------
R=$REGISTRY/ml/tiny
out=$(mp pack --src "$SRC" --tag "$R:1" --push 2>&1) || true
it_check "pack --push $R:1 with alice's token" grep -q "^pushed $R:1 sha256:" <<<"$out"
grep -q "^pushed" <<<"$out" || printf '     %s\n' "$out"
d=$(awk '/^pushed/ {print $3}' <<<"$out")
d=${d:-"(nothing pushed)"}
it_check "the issuer gave alice a token for repository:ml/tiny:pull,push" \
  asked alice repository:ml/tiny:pull,push 200

got=$(STORE=store2 mp pull "$R:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "pull into an empty store with alice's token: the pushed digest" "$d" "$got"
it_check "the issuer gave alice a token for repository:ml/tiny:pull" \
  asked alice repository:ml/tiny:pull 200
rm -rf "$IT_DIR/x"
STORE=store2 mp -q extract "$R:1" "$IT_DIR/x" || true
it_expect_eq "extract of the pulled model: the source's files" "$(sums "$SRC")" "$(sums "$IT_DIR/x")"
it_check "... byte for byte (cmp)" cmp -s "$SRC/model.safetensors" "$IT_DIR/x/model.safetensors"

# ---- bob may pull, not push ------------------------------------------------------------
got=$(STORE=store3 AUTHF=$IT_DIR/auth/bob.json mp pull "$R:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "bob (granted pull only) pulls" "$d" "$got"
STORE=store3 AUTHF=$IT_DIR/auth/bob.json \
  it_expect_exit "bob pushes" 5 "$REGISTRY" \
  mp pack --src "$SRC" --tag "$REGISTRY/ml/bob:1" --push
it_check "... the registry has no tag ml/bob:1" \
  test ! -e "$IT_DIR/reg/docker/registry/v2/repositories/ml/bob/_manifests/tags/1"

# ---- wrong and missing credentials -------------------------------------------------------
STORE=store4 AUTHF=$IT_DIR/auth/wrong.json \
  it_expect_exit "pull with a wrong password" 5 "refused the credentials" \
  mp pull "$R:1"
it_check "... the issuer refused it (401)" asked alice repository:ml/tiny:pull 401
it_check "... and the store has no blobs" test -z "$(find "$IT_DIR/store4/blobs" -type f 2>/dev/null)"
STORE=store5 AUTHF=$IT_DIR/auth/none.json \
  it_expect_exit "pull without credentials" 5 "$REGISTRY" \
  mp pull "$R:1"
it_check "... the issuer was asked anonymously" asked - repository:ml/tiny:pull 200

it_done
