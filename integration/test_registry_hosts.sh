#!/bin/bash
# Registry settings from a containerd-style hosts.toml directory:
#
#  - TLS with a CA made here: a pull through `ca = ...` works; without the
#    CA the pull fails with one line naming the certificate problem (exit 6)
#    and stores nothing;
#  - a mirror ([host."http://mirror"] capabilities pull, resolve) serves
#    the pull while the upstream is stopped;
#  - a mirror that is down is skipped for the next host / the server.
#
# usage: test_registry_hosts.sh
. "$(dirname "$0")/lib.sh"

it_setup registry_hosts
MP=$IT_BUILD/bin/modelpack
H=$IT_DIR/hosts
mp() { "$MP" --store "$IT_DIR/$1" --hosts-dir "$H" "${@:2}"; }
PIDS=()
cleanup_regs() { local p; for p in "${PIDS[@]}"; do it_kill_wait "$p" 5; done; }
trap 'cleanup_regs; it_on_exit' EXIT

# start_reg NAME [TLS]: a docker-registry on a free port; sets PORT.
start_reg() {
  local name=$1 tls=${2:-} cfg=$IT_DIR/$1.yml scheme=http
  for _ in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htln "sport = :$PORT")" ] || continue
    {
      echo "version: 0.1"
      echo "log: {level: warn, accesslog: {disabled: true}}"
      echo "storage: {filesystem: {rootdirectory: $IT_DIR/$name-data}}"
      echo "http:"
      echo "  addr: 127.0.0.1:$PORT"
      if [ -n "$tls" ]; then
        echo "  tls: {certificate: $IT_DIR/pki/server.pem, key: $IT_DIR/pki/server.key}"
      fi
    } > "$cfg"
    env -i PATH="$IT_SYS_PATH" /usr/bin/docker-registry serve "$cfg" >> "$IT_DIR/$name.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$name=$!"
    [ -n "$tls" ] && scheme=https
    if it_wait_for 10 "$name registry" curl -ksS "$scheme://127.0.0.1:$PORT/v2/"; then
      return 0
    fi
  done
  return 1
}

SRC=$IT_DIR/src
mkdir -p "$SRC"
head -c 1000000 /dev/urandom > "$SRC/model.safetensors"
echo '{"model_type": "tiny"}' > "$SRC/config.json"

# ---- TLS with a CA made here ----------------------------------------------------------
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
if ! start_reg tls yes; then it_fail "a registry with TLS starts"; it_done; fi
TLS=127.0.0.1:$PORT
it_pass "docker-registry with TLS on $TLS"
mkdir -p "$H/$TLS"
printf 'server = "https://%s"\n\n[host."https://%s"]\n  ca = "%s"\n' "$TLS" "$TLS" "$IT_DIR/pki/ca.pem" > "$H/$TLS/hosts.toml"
d=$(mp s1 pack --src "$SRC" --tag "$TLS/ml/tls:1" --push 2> "$IT_DIR/err" | awk '/^pushed/ {print $3}') || true
it_check "pack --push over TLS with the CA from hosts.toml" test -n "$d"
got=$(mp s2 pull "$TLS/ml/tls:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "pull over TLS with the CA" "$d" "$got"
# A list of CAs: the one that signed the server second.
(cd "$IT_DIR/pki" && openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 \
  -subj "/CN=another CA" 2> /dev/null)
printf 'server = "https://%s"\n\n[host."https://%s"]\n  ca = ["%s", "%s"]\n' "$TLS" "$TLS" \
  "$IT_DIR/pki/other.pem" "$IT_DIR/pki/ca.pem" > "$H/$TLS/hosts.toml"
got=$(mp s2b pull "$TLS/ml/tls:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "pull over TLS with the CA second in a ca list" "$d" "$got"
printf 'server = "https://%s"\n' "$TLS" > "$H/$TLS/hosts.toml"
rc=0; mp s3 pull "$TLS/ml/tls:1" > /dev/null 2> "$IT_DIR/err" || rc=$?
it_expect_eq "without the CA: exit 6" 6 "$rc"
it_check "... one line naming the certificate problem" \
  bash -c "[ \$(wc -l < '$IT_DIR/err') = 1 ] && grep -qi 'certificate' '$IT_DIR/err'"
it_expect_eq "... and the store holds no model" "" "$(mp s3 ls 2>/dev/null)"

# ---- a mirror serves while the upstream is down ------------------------------------------
start_reg upstream || { it_fail "upstream registry starts"; it_done; }
UP=127.0.0.1:$PORT
start_reg mirror || { it_fail "mirror registry starts"; it_done; }
MIRROR=127.0.0.1:$PORT
# The same model in both: pushed upstream, and into the mirror's copy.
d=$(mp s4 pack --src "$SRC" --tag "$UP/ml/m:1" --push | awk '/^pushed/ {print $3}') || true
mp s4 pack --src "$SRC" --tag "$MIRROR/ml/m:1" --push > /dev/null || true
mkdir -p "$H/$UP"
printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
  "$UP" "$MIRROR" > "$H/$UP/hosts.toml"
it_kill_wait "$PID_upstream" 5
it_check "the upstream is down" bash -c "! curl -sS http://$UP/v2/ > /dev/null 2>&1"
got=$(mp s5 pull "$UP/ml/m:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "the mirror serves the pull of $UP/ml/m:1" "$d" "$got"
# A mirror that is down is skipped: upstream back, mirror stopped.
start_reg upstream2 || true
UP2=127.0.0.1:$PORT
mp s6 pack --src "$SRC" --tag "$UP2/ml/m:1" --push > /dev/null || true
mkdir -p "$H/$UP2"
printf 'server = "http://%s"\n\n[host."http://127.0.0.1:1"]\n  capabilities = ["pull", "resolve"]\n' \
  "$UP2" > "$H/$UP2/hosts.toml"
got=$(mp s7 pull "$UP2/ml/m:1" 2> "$IT_DIR/err" | awk '{print $2}') || true
it_expect_eq "a mirror that is down is skipped for the server" "$d" "$got"

it_done
