#!/bin/bash
# The modelpack CLI against Debian's docker-registry, with oras and skopeo
# as independent producers and consumers:
#
#  - pack --push (raw): oras pull gets identical files; skopeo inspect --raw
#    shows the manifest as model-spec asks (artifactType, config and layer
#    media types, path annotations);
#  - pack --push (tar+zstd), pull into an empty store, extract: identical
#    files; pull by digest;
#  - what `oras push` pushes (ModelPack media types and annotations):
#    modelpack pull + extract reproduce exactly; extract --include of a
#    model not in the store downloads only the matching layers;
#  - htpasswd basic auth: without credentials exit 5 with one line; login
#    with a wrong password exit 5 and nothing saved; login (saved 0600) then
#    pull works; logout;
#  - a blob whose bytes the registry serves corrupted: exit 7, and the store
#    keeps no tag, no blob of it, no ingest file;
#  - a missing tag exit 4, a bad reference exit 3, an unreachable registry
#    exit 6, each one line.
#
# usage: test_registry_basic.sh
. "$(dirname "$0")/lib.sh"

it_setup registry_basic
MP=$IT_BUILD/bin/modelpack
ORAS=$IT_UNSTABLE_BIN/oras
export ORAS
AUTH=$IT_DIR/auth/config.json
mp() { "$MP" --store "$IT_DIR/${STORE:-store}" --auth-file "$AUTH" "$@"; }

it_start_registry || { it_fail "docker-registry starts"; it_done; }
it_pass "docker-registry on $REGISTRY"

SRC=$IT_DIR/src
mkdir -p "$SRC/tokenizer"
head -c 2000000 /dev/urandom > "$SRC/model.safetensors"
echo '{"model_type": "tiny"}' > "$SRC/config.json"
echo '{"v": 1}' > "$SRC/tokenizer/tokenizer.json"
printf '# tiny\n' > "$SRC/README.md"
sums() { (cd "$1" && find . -type f ! -name Modelfile -printf '%P\n' | LC_ALL=C sort | xargs sha256sum); }

# ---- push with pack, read with oras and skopeo ------------------------------------
R=$REGISTRY/ml/tiny
out=$(mp pack --src "$SRC" --tag "$R:raw" --push 2>&1) || true
it_check "pack --push raw to $R:raw" grep -q "^pushed $R:raw sha256:" <<<"$out"
rm -rf "$IT_DIR/o"
"$ORAS" pull --plain-http "$R:raw" -o "$IT_DIR/o" > "$IT_DIR/oras.log" 2>&1 || true
it_expect_eq "oras pull of what modelpack pushed: identical files" "$(sums "$SRC")" "$(sums "$IT_DIR/o")"
man=$(skopeo inspect --tls-verify=false --raw "docker://$R:raw" 2> "$IT_DIR/skopeo.log") || true
it_expect_eq "skopeo inspect --raw: artifactType, config media type" \
  "application/vnd.cncf.model.manifest.v1+json application/vnd.cncf.model.config.v1+json" \
  "$(jq -r '"\(.artifactType) \(.config.mediaType)"' <<<"$man")"
it_expect_eq "skopeo inspect --raw: one raw layer per file with its path" \
  "application/vnd.cncf.model.doc.v1.raw README.md
application/vnd.cncf.model.weight.config.v1.raw config.json
application/vnd.cncf.model.weight.v1.raw model.safetensors
application/vnd.cncf.model.weight.config.v1.raw tokenizer/tokenizer.json" \
  "$(jq -r '.layers[] | "\(.mediaType) \(.annotations["org.cncf.model.filepath"])"' <<<"$man")"

# ---- push tar+zstd, pull into an empty store, extract --------------------------------
d=$(mp pack --src "$SRC" --tag "$R:zst" --format tar+zstd --push | awk '/^pushed/ {print $3}') || true
got=$(STORE=store2 mp pull "$R:zst" | awk '{print $2}') || true
it_expect_eq "pull into an empty store: the pushed digest" "$d" "$got"
rm -rf "$IT_DIR/x"
STORE=store2 mp -q extract "$R:zst" "$IT_DIR/x" || true
it_expect_eq "extract of the pulled tar+zstd model: identical files" "$(sums "$SRC")" "$(sums "$IT_DIR/x")"
got=$(STORE=store3 mp pull "$R@$d" | awk '{print $2}') || true
it_expect_eq "pull by digest" "$d" "$got"

# extract straight from the registry: only the selected layers are fetched.
zman=$(skopeo inspect --tls-verify=false --raw "docker://$R:zst" 2> /dev/null) || true
tok=$(jq -r '.layers[] | select(.annotations["org.cncf.model.filepath"] == "tokenizer/tokenizer.json") | .digest' <<<"$zman")
big=$(jq -r '.layers[] | select(.annotations["org.cncf.model.filepath"] == "model.safetensors") | .digest' <<<"$zman")
before=$(wc -l < "$IT_DIR/registry.log")
rm -rf "$IT_DIR/xr"
STORE=store-x mp -q extract "$R:zst" "$IT_DIR/xr" --include 'tokenizer/*' || true
gets=$(tail -n +"$((before + 1))" "$IT_DIR/registry.log" | grep -o 'http.request.method=GET [^ ]* http.request.uri="*/v2/ml/tiny/blobs/sha256:[0-9a-f]*' | grep -o 'sha256:[0-9a-f]*' | sort -u)
it_expect_eq "extract --include from the registry writes only the matching file" \
  "$(cd "$SRC" && sha256sum tokenizer/tokenizer.json)" "$(sums "$IT_DIR/xr")"
it_check "... having downloaded its layer" grep -qx "$tok" <<<"$gets"
it_check "... and not the others (the weights)" bash -c "! grep -qx '$big' <<<'$gets'"
it_expect_eq "... leaving no scratch layout and nothing in the store" "" \
  "$(ls -A "$IT_DIR/xr" | grep -v '^tokenizer$'; STORE=store-x mp ls 2>/dev/null)"

# ---- oras push, modelpack pull ---------------------------------------------------------
od=$(bash "$IT_REPO/integration/build-model.sh" oras-push "$SRC" "$REGISTRY/ml/from-oras:1" "$IT_DIR/oexp" 2> "$IT_DIR/oras-push.log" | tail -n 1) || true
got=$(STORE=store4 mp pull "$REGISTRY/ml/from-oras:1" | awk '{print $2}') || true
it_expect_eq "modelpack pull of what oras pushed: its digest" "$od" "$got"
rm -rf "$IT_DIR/y"
STORE=store4 mp -q extract "$REGISTRY/ml/from-oras:1" "$IT_DIR/y" || true
it_expect_eq "extract reproduces oras's files exactly" "$(sums "$SRC")" "$(sums "$IT_DIR/y")"

# ---- errors: one line, distinct exit codes ------------------------------------------------
it_expect_exit "pull of a missing tag" 4 "tag nope not found" mp pull "$R:nope"
it_expect_exit "pull of a bad reference" 3 "reference" mp pull "$REGISTRY/Bad:x"
port=$((20000 + RANDOM % 40000))
it_expect_exit "pull from an unreachable registry" 6 "127.0.0.1:$port" mp pull "127.0.0.1:$port/ml/x:1"

# A blob the registry serves corrupted (it does not check what it serves).
bl=$(jq -r '.layers[] | select(.annotations["org.cncf.model.filepath"] == "model.safetensors") | .digest' <<<"$man")
f=$IT_DIR/reg/docker/registry/v2/blobs/sha256/${bl:7:2}/${bl#sha256:}/data
if [ -f "$f" ]; then
  # Flip a bit: writing a fixed byte over random data changes nothing one
  # time in 256.
  python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1000); b = f.read(1)[0]; f.seek(1000); f.write(bytes([b ^ 1]))' "$f"
  it_expect_exit "pull of a blob with the wrong digest" 7 "${bl:0:19}" env STORE=store5 "$MP" --store "$IT_DIR/store5" --auth-file "$AUTH" pull "$R:raw"
  it_expect_eq "... the store has no tag" "" "$(jq -r '.manifests[]?.annotations["org.opencontainers.image.ref.name"]' "$IT_DIR/store5/index.json")"
  it_check "... no blob of the corrupt layer, no ingest file" \
    test ! -e "$IT_DIR/store5/blobs/sha256/${bl#sha256:}" -a -z "$(ls -A "$IT_DIR/store5/.ingest")"
else
  it_fail "the registry stores blob $bl at $f"
fi

# ---- basic auth with htpasswd ------------------------------------------------------------
it_stop_registry
htpasswd -Bbc "$IT_DIR/htpasswd" alice s3cret > /dev/null 2>&1
sed -i '/^http:/i auth:\n  htpasswd:\n    realm: test\n    path: '"$IT_DIR/htpasswd" "$IT_DIR/registry.yml"
env -i PATH="$IT_SYS_PATH" /usr/bin/docker-registry serve "$IT_DIR/registry.yml" >> "$IT_DIR/registry.log" 2>&1 &
REG_PID=$!
it_wait_for 10 "registry with auth" bash -c "curl -s -o /dev/null -w '%{http_code}' http://$REGISTRY/v2/ | grep -q 401" || true
it_expect_exit "pull without credentials" 5 "$REGISTRY" mp pull "$R:raw"
it_expect_exit "login with a wrong password" 5 "alice" mp login "$REGISTRY" -u alice -p wrong
it_check "... saves nothing" test ! -e "$AUTH"
echo s3cret | mp -q login "$REGISTRY" -u alice --password-stdin 2> "$IT_DIR/err" || true
it_expect_eq "login saves the credentials, mode 0600" "600" "$(stat -c %a "$AUTH" 2>/dev/null)"
got=$(STORE=store6 mp pull "$R:zst" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "pull with the saved credentials" "$d" "$got"
mp -q logout "$REGISTRY" || true
it_expect_exit "after logout, pull needs credentials again" 5 "$REGISTRY" env STORE=store7 "$MP" --store "$IT_DIR/store7" --auth-file "$AUTH" pull "$R:raw"

it_done
