#!/bin/bash
# `modelpack inspect REF` of a model that is not in the store reads its
# manifest and config from the registry and prints what inspect prints for
# the stored model, text and --json alike, without downloading a layer:
#
#  - over plain HTTP (--plain-http given, as every command that may contact
#    a registry accepts it), over TLS with a CA from hosts.toml, and with
#    bearer-token auth (integration/token_issuer.py, credentials in the auth
#    file): remote inspect (empty store) = inspect after pull;
#  - the registry's access log shows no GET of any layer blob from the
#    remote inspects (the config blob only), and the store stays empty;
#  - a tag the registry lacks: exit 4; a registry down: exit 6.
#
# usage: test_inspect_remote.sh
. "$(dirname "$0")/lib.sh"

it_setup inspect_remote
MP=$IT_BUILD/bin/modelpack
H=$IT_DIR/hosts
AUTH=$IT_DIR/auth.json
mp() { "$MP" --store "$IT_DIR/$1" --hosts-dir "$H" --auth-file "$AUTH" "${@:2}"; }
PIDS=()
ISS_PID=""
cleanup_all() {
  local p
  for p in "${PIDS[@]}" $ISS_PID; do it_kill_wait "$p" 5; done
}
trap 'cleanup_all; it_on_exit' EXIT
mkdir -p "$H"
echo '{}' > "$AUTH"

# start_reg NAME [tls] [token]: a docker-registry with its access log on
# (IT_DIR/NAME.log) on a free port; sets PORT.
start_reg() {
  local name=$1 tls=${2:-} token=${3:-} cfg=$IT_DIR/$1.yml scheme=http
  for _ in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htln "sport = :$PORT")" ] || continue
    {
      echo "version: 0.1"
      echo "log: {level: info, accesslog: {disabled: false}}"
      echo "storage: {filesystem: {rootdirectory: $IT_DIR/$name-data}}"
      if [ -n "$token" ]; then
        echo "auth: {token: {realm: \"http://$ISSUER/token\", service: test-registry, issuer: test-issuer, rootcertbundle: $IT_DIR/issuer.crt}}"
      fi
      echo "http:"
      echo "  addr: 127.0.0.1:$PORT"
      if [ -n "$tls" ]; then
        echo "  tls: {certificate: $IT_DIR/pki/server.pem, key: $IT_DIR/pki/server.key}"
      fi
    } > "$cfg"
    env -i PATH="$IT_SYS_PATH" /usr/bin/docker-registry serve "$cfg" >> "$IT_DIR/$name.log" 2>&1 &
    PIDS+=($!)
    [ -n "$tls" ] && scheme=https
    if it_wait_for 10 "$name registry" curl -ksS -o /dev/null "$scheme://127.0.0.1:$PORT/v2/"; then
      return 0
    fi
  done
  return 1
}

SRC=$IT_DIR/src
mkdir -p "$SRC/tokenizer"
head -c 1000000 /dev/urandom > "$SRC/model.safetensors"
echo '{"model_type": "tiny", "torch_dtype": "bfloat16"}' > "$SRC/config.json"
echo '{"v": 1}' > "$SRC/tokenizer/tokenizer.json"
printf '# tiny\n' > "$SRC/README.md"

# check NAME REF [ARGS...]: push a model as REF (ARGS for push), then
# compare the remote inspect (an empty store) with the inspect of the
# pulled model, and look for layer GETs in the registry's log.
check() {
  local name=$1 ref=$2 log=$IT_DIR/$1.log man layers mark
  shift 2
  if ! mp "$name-src" pack --src "$SRC" --tag "$ref" --format tar+gzip --push "$@" \
    > "$IT_DIR/$name.push" 2>&1; then
    it_fail "$name: pack --push: $(tail -n 2 "$IT_DIR/$name.push")"
    return
  fi
  mark=$(wc -l < "$log")
  mp "$name-empty" inspect "$ref" "$@" > "$IT_DIR/$name.remote.txt" 2> "$IT_DIR/$name.err" \
    || it_fail "$name: remote inspect: $(cat "$IT_DIR/$name.err")"
  mp "$name-empty" inspect --json "$ref" "$@" > "$IT_DIR/$name.remote.json" 2>> "$IT_DIR/$name.err" \
    || it_fail "$name: remote inspect --json: $(cat "$IT_DIR/$name.err")"
  tail -n +"$((mark + 1))" "$log" > "$IT_DIR/$name.inspect.log"
  it_expect_eq "$name: remote inspect leaves the store without a model" "" \
    "$(mp "$name-empty" ls 2>&1)"
  mp "$name-pulled" pull "$ref" "$@" > /dev/null 2>&1 || it_fail "$name: pull"
  it_expect_eq "$name: remote inspect prints what inspect of the pulled model prints" \
    "$(mp "$name-pulled" inspect "$ref")" "$(cat "$IT_DIR/$name.remote.txt")"
  it_expect_eq "$name: ... and --json the same document" \
    "$(mp "$name-pulled" inspect --json "$ref" | jq -S .)" "$(jq -S . "$IT_DIR/$name.remote.json")"
  it_check "$name: the output names the files" grep -q 'model.safetensors' "$IT_DIR/$name.remote.txt"
  man=$(jq -r .digest "$IT_DIR/$name.remote.json")
  layers=$(jq -r '.files[].digest' "$IT_DIR/$name.remote.json")
  it_check "$name: the registry logged the manifest GET of the remote inspects" \
    grep -q "\"GET /v2/.*/manifests/" "$IT_DIR/$name.inspect.log"
  it_check "$name: ... and the config blob GET" \
    grep -q "\"GET /v2/.*/blobs/sha256:" "$IT_DIR/$name.inspect.log"
  it_expect_eq "$name: ... and no GET of any of its $(wc -l <<<"$layers") layer blobs" "" \
    "$(grep -F -f <(sed 's|^|/blobs/|' <<<"$layers") "$IT_DIR/$name.inspect.log" | grep '"GET ' || true)"
  it_check "$name: the pull after them GETs the layers (the log would show one)" \
    grep -q "\"GET /v2/.*/blobs/$(head -n 1 <<<"$layers")" "$log"
  [ -n "$man" ] || it_fail "$name: no digest in the remote inspect"
}

# ---- plain HTTP --------------------------------------------------------------------------
start_reg plain || { it_fail "a plain HTTP registry starts"; it_done; }
PLAIN=127.0.0.1:$PORT
check plain "$PLAIN/ml/tiny:1" --plain-http
it_expect_exit "plain: a tag the registry lacks" 4 "nope" mp plain-x inspect "$PLAIN/ml/tiny:nope" --plain-http
it_expect_exit "plain: a registry nobody answers on" 6 "127.0.0.1:9" mp plain-x inspect "127.0.0.1:9/ml/tiny:1" --plain-http

# ---- TLS with a CA from hosts.toml ------------------------------------------------------
mkdir -p "$IT_DIR/pki"
(
  cd "$IT_DIR/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj "/CN=modelpack test CA" 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
    -subj "/CN=127.0.0.1" 2> /dev/null
  printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\n' > san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out server.pem -days 2 -extfile san.ext 2> /dev/null
)
start_reg tls yes || { it_fail "a TLS registry starts"; it_done; }
TLS=127.0.0.1:$PORT
mkdir -p "$H/$TLS"
printf 'server = "https://%s"\n\n[host."https://%s"]\n  ca = "%s"\n' "$TLS" "$TLS" "$IT_DIR/pki/ca.pem" > "$H/$TLS/hosts.toml"
check tls "$TLS/ml/tiny:1"

# ---- bearer-token auth -------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-issuer \
  -keyout "$IT_DIR/issuer.key" -out "$IT_DIR/issuer.crt" > "$IT_DIR/openssl.log" 2>&1
python3 "$IT_REPO/integration/token_issuer.py" --key "$IT_DIR/issuer.key" \
  --cert "$IT_DIR/issuer.crt" --issuer test-issuer --service test-registry \
  --user alice:s3cret:pull,push --log "$IT_DIR/issuer-requests.txt" \
  --port-file "$IT_DIR/issuer.port" --parent $$ >> "$IT_DIR/issuer.log" 2>&1 &
ISS_PID=$!
it_wait_for 10 "token issuer" test -s "$IT_DIR/issuer.port" \
  || { it_fail "token issuer starts"; it_done; }
ISSUER=127.0.0.1:$(cat "$IT_DIR/issuer.port")
start_reg token "" yes || { it_fail "a registry with token auth starts"; it_done; }
TOK=127.0.0.1:$PORT
jq -n --arg h "$TOK" --arg a "$(printf 'alice:s3cret' | base64 -w0)" \
  '{auths: {($h): {auth: $a}}}' > "$AUTH"
check token "$TOK/ml/tiny:1"
it_check "token: the issuer granted alice repository:ml/tiny:pull" \
  grep -qxF "user=alice service=test-registry scope=repository:ml/tiny:pull status=200" \
  "$IT_DIR/issuer-requests.txt"
echo '{}' > "$AUTH"
it_expect_exit "token: without credentials remote inspect exits 5" 5 "$TOK" \
  mp token-x inspect "$TOK/ml/tiny:1"

it_done
