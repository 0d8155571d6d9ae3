#!/bin/bash
# Signature verification cost (make bench-sig, part of make bench;
# docs/benchmarks.md, "Signature verification").  One run, on loopback,
# against Debian's docker-registry 2.8 (no referrers API: signatures live
# under the referrers tag sha256-<hex> or cosign's sha256-<hex>.sig tag)
# behind bench/latency_proxy.py, which holds every request a fixed delay
# (BENCH_SIG_DELAY_MS, default 25 ms: a registry one round trip away) and
# counts every request from outside our code.
#
# 1. First verification, per signature format, of a small ModelPack model
#    signed in the run with Debian unstable's cosign and notation:
#      cosign simple signing   cosign sign --key --new-bundle-format=false
#                              (the .sig tag)
#      Sigstore bundle         cosign sign --key (cosign 3's default; the
#                              referrers tag)
#      Notation JWS, COSE      notation sign [--signature-format cose] with
#                              `notation cert generate-test`'s certificate
#    `modelpack verify --json` (a new process each time: every verification
#    is a first one) with a containers-policy.json trusting the key, or the
#    Notation trust policy, against the peer on the same reference through
#    the same proxy: `cosign verify --key --insecure-ignore-tlog=true` and
#    `notation verify`.  For each: wall time, the requests and round trips
#    our --json reports (its "cost", which counts the signature search only,
#    after the manifest), and from the proxy's log the requests each tool
#    made in all and the longest chain of them made one after another (its
#    sequential depth).  Each also with the delay at 0 ms: what is left is
#    process start, crypto and loopback.  References by digest.  The cases
#    alternate within a run, the order rotating from run to run; medians of
#    BENCH_SIG_RUNS runs.
#
# 2. The daemon at Prepare: a model signed with cosign (bundle) mounted as
#    an image volume in pods through a private containerd 2.x CRI
#    (cri_volume as the kubelet) with our daemon's [signatures] policy; its
#    signature lookups go through the proxy (its hosts_dir maps the registry
#    to the proxy), containerd's pulls do not.  The first pod (a new
#    verdict), then BENCH_SIG_PODS more (cached verdicts): the check time
#    the daemon logs ("signatures of ...: new|cached verdict in X ms"), the
#    image-volume Prepare it logs ("model ... ready in X ms", which includes
#    the check) and CreateContainer as the kubelet sees it; then the daemon
#    restarted on the same root with the checks off ([signatures] policy =
#    "", notation = "") and BENCH_SIG_PODS pods of the same model: the same
#    figures without a policy.  Target: a
#    cached verdict adds at most 1 ms.
#
# Needs root, the build, `make unstable` (containerd 2.x, cosign,
# notation), docker-registry, skopeo, python3.  About 3 minutes.
#
# Environment:
#   BENCH_SIG_RUNS      runs of part 1 (default 5)
#   BENCH_SIG_PODS      pods with a cached verdict, and with checks off
#                       (default 10)
#   BENCH_SIG_DELAY_MS  the proxy's delay per request (default 25)
#   BENCH_OUT           report (default bench/results/sig-latest.md)
#   IT_KEEP=1           keep logs and state
# shellcheck disable=SC2317 # functions run through run_case and traps
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=../integration/lib_cri.sh
. "$(dirname "$0")/../integration/lib_cri.sh"
# shellcheck source=volume_lib.sh
. "$(dirname "$0")/volume_lib.sh"

RUNS=${BENCH_SIG_RUNS:-5}
PODS=${BENCH_SIG_PODS:-10}
DELAY=${BENCH_SIG_DELAY_MS:-25}
REPORT=${BENCH_OUT:-$IT_REPO/bench/results/sig-latest.md}
MP=$IT_BUILD/bin/modelpack
COSIGN=$IT_UNSTABLE_BIN/cosign
NOTATION=$IT_UNSTABLE_BIN/notation
LPROXY=$IT_REPO/bench/latency_proxy.py
export LC_ALL=C CRI_PULL=local

vb_tools jq python3 curl skopeo ss "$MP" "$MP_BIN" "$CRI_VOLUME" "$COSIGN" "$NOTATION" \
  "$IT_UNSTABLE_BIN/containerd" /usr/bin/docker-registry

it_setup sig_bench
T=$IT_DIR/t
mkdir -p "$T"
# cosign and notation keep state under $HOME and $XDG_CONFIG_HOME.
export HOME=$IT_DIR/home COSIGN_PASSWORD=bench-password XDG_CONFIG_HOME=$IT_DIR/xdg
NCFG=$XDG_CONFIG_HOME/notation
mkdir -p "$HOME" "$NCFG"

PROXY_PID=""
trap '[ -n "$PROXY_PID" ] && it_kill_wait "$PROXY_PID" 5; it_on_exit' EXIT
PLOG=$IT_DIR/proxy.jsonl
DELAY_FILE=$IT_DIR/delay
: > "$PLOG"
echo "$DELAY" > "$DELAY_FILE"
start_proxy() {
  local p
  for _ in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htln "sport = :$p")" ] || continue
    python3 "$LPROXY" serve "$p" "$REGISTRY" "$PLOG" "$DELAY_FILE" > "$IT_DIR/proxy.log" 2>&1 &
    PROXY_PID=$!
    PROXY=127.0.0.1:$p
    it_wait_for 10 "latency proxy" curl -fsS "http://$PROXY/v2/" && return 0
    it_kill_wait "$PROXY_PID" 5
    PROXY_PID=""
  done
  return 1
}

it_start_registry || { it_fail "docker-registry starts"; it_done; }
start_proxy || { it_fail "latency proxy starts"; it_done; }
it_log "registry $REGISTRY, latency proxy $PROXY ($DELAY ms per request)"

# ---- models and signatures ------------------------------------------------------
declare -A D
# new_model NAME: a small model (a 4 KiB weight file and a config) pushed
# as $REGISTRY/ml/NAME:1; sets D[NAME] to its digest.
new_model() {
  local src=$IT_DIR/src-$1
  mkdir -p "$src"
  head -c 4096 /dev/urandom > "$src/model.safetensors"
  echo "{\"name\": \"$1\"}" > "$src/config.json"
  D[$1]=$("$MP" --store "$IT_DIR/store-push" pack --src "$src" --tag "$REGISTRY/ml/$1:1" --push \
    2>> "$IT_DIR/push.log" | awk '/^pushed/ { print $3 }')
  [[ ${D[$1]} == sha256:* ]]
}
for m in simple bundle jws cose; do
  new_model "$m" || { it_fail "model $m pushed (push.log)"; it_done; }
done
(cd "$HOME" && "$COSIGN" generate-key-pair > /dev/null 2>&1) || true
KEY=$HOME/cosign.key
PUB=$HOME/cosign.pub
# Signed through the proxy (delay 0 meanwhile): a simple signing names the
# repository it was signed under, and the verifications go through the proxy.
echo 0 > "$DELAY_FILE"
cosign_sign() { # NAME [FLAGS...]
  local name=$1
  shift
  "$COSIGN" sign --key "$KEY" --use-signing-config=false --tlog-upload=false \
    --allow-insecure-registry -y "$@" "$PROXY/ml/$name@${D[$name]}" >> "$IT_DIR/sign.log" 2>&1
}
cosign_sign simple --new-bundle-format=false && cosign_sign bundle \
  || { it_fail "cosign sign (sign.log)"; it_done; }
{
  "$NOTATION" cert generate-test --default bench \
    && "$NOTATION" sign --insecure-registry "$PROXY/ml/jws@${D[jws]}" \
    && "$NOTATION" sign --insecure-registry --signature-format cose "$PROXY/ml/cose@${D[cose]}"
} >> "$IT_DIR/sign.log" 2>&1 || { it_fail "notation sign (sign.log)"; it_done; }
cat > "$NCFG/trustpolicy.json" << EOF
{"version": "1.0", "trustPolicies": [{"name": "bench", "registryScopes": ["*"],
 "signatureVerification": {"level": "strict"}, "trustStores": ["ca:bench"],
 "trustedIdentities": ["*"]}]}
EOF
# matchRepository: cosign's simple signing names the bare repository.
cat > "$IT_DIR/policy.json" << EOF
{"default": [{"type": "reject"}],
 "transports": {"docker": {"$PROXY/ml": [{"type": "sigstoreSigned", "keyPath": "$PUB",
   "signedIdentity": {"type": "matchRepository"}}]}}}
EOF
hex() { echo "${D[$1]#sha256:}"; }
tags() { curl -fsS "http://$REGISTRY/v2/ml/$1/tags/list" | jq -r '.tags[]' | sort | tr '\n' ' '; }
it_expect_eq "simple signing under the .sig tag" "1 sha256-$(hex simple).sig " "$(tags simple)"
for m in bundle jws cose; do
  it_expect_eq "$m under the referrers tag" "1 sha256-$(hex "$m") " "$(tags "$m")"
done

# ---- part 1: first verification, ours and the peer's ------------------------------
ours() { # NAME
  case $1 in
    simple | bundle)
      "$MP" --store "$IT_DIR/store" --json verify --plain-http --policy "$IT_DIR/policy.json" \
        "$PROXY/ml/$1@${D[$1]}"
      ;;
    *)
      env -u MODELPACK_POLICY "$MP" --store "$IT_DIR/store" --json verify --plain-http \
        --notation "$NCFG" "$PROXY/ml/$1@${D[$1]}"
      ;;
  esac
}
peer() { # NAME
  case $1 in
    simple | bundle)
      "$COSIGN" verify --key "$PUB" --insecure-ignore-tlog=true --allow-insecure-registry \
        "$PROXY/ml/$1@${D[$1]}"
      ;;
    *) "$NOTATION" verify --insecure-registry "$PROXY/ml/$1@${D[$1]}" ;;
  esac
}

# proxy_stats FROM TO [UA]: latency_proxy.py stats over the log's bytes.
proxy_stats() { python3 "$LPROXY" stats "$PLOG" "$@"; }
# settle: the proxy logs a request just after its last byte, which the
# client may have read and exited on already.
settle() {
  local a b
  a=$(stat -c %s "$PLOG")
  while sleep 0.1; b=$(stat -c %s "$PLOG"); [ "$a" != "$b" ]; do a=$b; done
}

# measure NAME TOOL DELAY RUN: one verification; figures into $T/NAME.TOOL.DELAY*.
measure() {
  local name=$1 tool=$2 d=$3 r=$4 c=$1.$2.$3 a b t0 t1 rc=0 s
  echo "$d" > "$DELAY_FILE"
  settle
  a=$(stat -c %s "$PLOG")
  t0=$(now)
  "$tool" "$name" > "$IT_DIR/out.$c" 2> "$IT_DIR/err.$c" || rc=$?
  t1=$(now)
  settle
  b=$(stat -c %s "$PLOG")
  if [ "$rc" != 0 ]; then
    it_fail "$c: $tool verify exit $rc: $(tail -n 3 "$IT_DIR/err.$c")"
    return 0
  fi
  rec "$c" "$t0" "$t1"
  s=$(proxy_stats "$a" "$b")
  jq -r .requests <<< "$s" >> "$T/$c.req"
  jq -r .depth <<< "$s" >> "$T/$c.depth"
  jq -r .span_ms <<< "$s" >> "$T/$c.span"
  jq -r .bad <<< "$s" >> "$T/$c.bad"
  if [ "$r" = 1 ]; then jq -r '.paths[]' <<< "$s" > "$T/$c.paths"; fi
  if [ "$tool" = ours ]; then
    jq -e .accepted "$IT_DIR/out.$c" > /dev/null \
      || { it_fail "$c: not accepted: $(cat "$IT_DIR/out.$c")"; return 0; }
    jq -r .cost.requests "$IT_DIR/out.$c" >> "$T/$c.cost_req"
    jq -r .cost.round_trips "$IT_DIR/out.$c" >> "$T/$c.cost_rt"
    jq -r '.cost.seconds * 10000 | round / 10' "$IT_DIR/out.$c" >> "$T/$c.cost_ms"
  fi
}

FORMATS=(simple bundle jws cose)
CASES=()
for f in "${FORMATS[@]}"; do
  for tool in ours peer; do
    for d in "$DELAY" 0; do CASES+=("$f $tool $d"); done
  done
done
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
for ((r = 1; r <= RUNS; r++)); do
  n=${#CASES[@]}
  it_log "verify run $r of $RUNS ($n cases)"
  # Process start alone, for what the 0 ms figures hold besides work.
  for tool in modelpack cosign notation; do
    t0=$(now)
    case $tool in
      modelpack) "$MP" --help > /dev/null ;;
      cosign) "$COSIGN" version > /dev/null 2>&1 ;;
      notation) "$NOTATION" version > /dev/null ;;
    esac
    t1=$(now)
    rec "start.$tool" "$t0" "$t1"
  done
  for ((i = 0; i < n; i++)); do
    # shellcheck disable=SC2086 # "format tool delay"
    measure ${CASES[(i + (r - 1) * 3) % n]} "$r"
  done
done
t_part1=$(($(date +%s) - t_start))
echo "$DELAY" > "$DELAY_FILE"

# ---- part 2: the daemon at Prepare -----------------------------------------------------
M=$IT_DIR/models
mkdir -p "$M"
bash "$IT_REPO/integration/build-model.sh" raw "$M/pod" "$REGISTRY/ml/pod:1" > "$M/pod.digest" 2> "$M/pod.log" \
  || { it_fail "the pod's model built and pushed ($M/pod.log)"; it_done; }
D[pod]=$(tail -n 1 "$M/pod.digest")
"$COSIGN" sign --key "$KEY" --use-signing-config=false --tlog-upload=false \
  --allow-insecure-registry -y "$REGISTRY/ml/pod@${D[pod]}" >> "$IT_DIR/sign.log" 2>&1 \
  || { it_fail "cosign sign the pod's model (sign.log)"; it_done; }
cat > "$IT_DIR/pod-policy.json" << EOF
{"default": [{"type": "reject"}],
 "transports": {"docker": {"$REGISTRY/ml": [{"type": "sigstoreSigned", "keyPath": "$PUB"}],
                           "$REGISTRY/test": [{"type": "insecureAcceptAnything"}]}}}
EOF
# The daemon's lookups for $REGISTRY go to the proxy.
mkdir -p "$IT_DIR/sighosts/$REGISTRY"
echo "server = \"http://$PROXY\"" > "$IT_DIR/sighosts/$REGISTRY/hosts.toml"
cat > "$IT_DIR/sig.toml" << EOF
[image_volumes]
containerd_address = "$IT_DIR/c.sock"

[signatures]
policy = "$IT_DIR/pod-policy.json"
notation = "$IT_DIR/no-notation"
hosts_dir = "$IT_DIR/sighosts"
verdict_cache = "digest"
EOF
# Checks off: no policy, no Notation directory (the defaults would watch
# /etc/modelpack-snapshotter for files appearing there).
cat > "$IT_DIR/nosig.toml" << EOF
[image_volumes]
containerd_address = "$IT_DIR/c.sock"

[signatures]
policy = ""
notation = ""
EOF
cri_expect_args "$M/pod"
it_start_snapshotter --config "$IT_DIR/sig.toml" --containerd-root "$IT_DIR/c/root" \
  && it_start_containerd_cri || { it_fail "snapshotter and containerd with the CRI start"; it_done; }
SLOG=$IT_DIR/snapshotter.log

# pod CASE: one pod of ml/pod; the daemon's figures for it into $T/CASE.*.
pod() {
  local c=$1 a b seg ms s
  settle
  a=$(stat -c %s "$SLOG")
  local pa
  pa=$(stat -c %s "$PLOG")
  cri_pod "$c: a pod of ml/pod" --volume-ref "$REGISTRY/ml/pod:1" --name "$c-$CRI_POD_SEQ" \
    --if-not-present --exact "${EXPECT[@]}"
  settle
  b=$(stat -c %s "$SLOG")
  seg=$(tail -c +$((a + 1)) "$SLOG" | head -c $((b - a)))
  ms=$(sed -n "s/.*signatures of ${D[pod]}: \([a-z]*\) verdict in \([0-9.]*\) ms.*/\1 \2/p" <<< "$seg" | tail -n 1)
  echo "${ms:-none nan}" >> "$T/$c.verdict"
  ms=$(sed -n 's/.* model .* ready in \([0-9.]*\) ms.*/\1/p' <<< "$seg" | tail -n 1)
  echo "${ms:-nan}" >> "$T/$c.ready"
  ms=$(sed -n 's/^info CreateContainer took \([0-9]*\) ms.*/\1/p' "$OUT")
  echo "${ms:-nan}" >> "$T/$c.create"
  s=$(proxy_stats "$pa" "$(stat -c %s "$PLOG")" modelpack/)
  jq -r .requests <<< "$s" >> "$T/$c.daemon_req"
  jq -r .depth <<< "$s" >> "$T/$c.daemon_depth"
  grep -o 'signatures: .* accepted, scope .*' <<< "$seg" >> "$T/$c.accepted" || true
}
pod first
for ((i = 1; i <= PODS; i++)); do pod cached; done
it_check "first pod: a new verdict" grep -q '^new ' "$T/first.verdict"
it_expect_eq "later pods: a cached verdict each, no registry request by the daemon" \
  "$PODS cached, 0 requests" \
  "$(grep -c '^cached ' "$T/cached.verdict") cached, $(awk '{ s += $1 } END { print s + 0 }' "$T/cached.daemon_req") requests"
awk '{ print $2 }' "$T/first.verdict" > "$T/first.check"
awk '{ print $2 }' "$T/cached.verdict" > "$T/cached.check"

it_stop_snapshotter || it_fail "the snapshotter stops"
it_start_snapshotter --config "$IT_DIR/nosig.toml" --containerd-root "$IT_DIR/c/root" \
  || { it_fail "the snapshotter restarts without [signatures]"; it_done; }
for ((i = 1; i <= PODS; i++)); do pod nopolicy; done
it_expect_eq "checks off: no registry request by the daemon" 0 \
  "$(awk '{ s += $1 } END { print s + 0 }' "$T/nopolicy.daemon_req")"
awk '{ print $2 }' "$T/nopolicy.verdict" > "$T/nopolicy.check"
t_total=$(($(date +%s) - t_start))

# ---- report ------------------------------------------------------------------------------
# fmt_n N: a median count without a useless ".0".
# med3 CASE: med with three decimals (sub-millisecond checks).
med3() {
  [ -s "$T/$1" ] || { printf nan; return 0; }
  sort -n "$T/$1" \
    | awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.3f", a[(NR + 1) / 2]; else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# fmt_sub MS: fmt_ms, with sub-millisecond figures kept ("0.021 ms").
fmt_sub() {
  if awk -v v="$1" 'BEGIN { exit !(v != "nan" && v < 1) }'; then printf '%.3f ms' "$1"; else fmt_ms "$1"; fi
}
# reqs CASE: the median request count, with TLS probes among them said.
reqs() {
  local b
  b=$(med "$1.bad")
  if awk -v b="$b" 'BEGIN { exit !(b != "nan" && b > 0) }'; then
    echo "$(fmt_n "$(med "$1.req")") (incl. $(fmt_n "$b") TLS probe)"
  else
    fmt_n "$(med "$1.req")"
  fi
}
fmt_n() { awk -v v="$1" 'BEGIN { if (v == "nan") print "n/a"; else if (v == int(v)) printf "%d", v; else printf "%.1f", v }'; }
label() {
  case $1 in
    simple) echo 'cosign simple signing (`.sig` tag)' ;;
    bundle) echo 'Sigstore bundle, cosign key (referrers tag)' ;;
    jws) echo 'Notation JWS (referrers tag)' ;;
    cose) echo 'Notation COSE (referrers tag)' ;;
  esac
}
peer_name() { case $1 in simple | bundle) echo '`cosign verify`' ;; *) echo '`notation verify`' ;; esac; }
every() { tr '\n' ' ' < "$T/$1" 2>/dev/null; }

# shellcheck disable=SC2016 # Markdown backquotes
report() {
  local f o p d=$DELAY
  echo "## Signature verification: cost of a first verification and at Prepare"
  echo
  echo "Loopback; Debian's docker-registry 2.8 (no referrers API: the tag schemas) behind"
  echo "\`bench/latency_proxy.py\`, which holds every request $d ms (one registry round trip) and"
  echo "logs it: *requests* and *depth* (the longest chain of requests made one after another)"
  echo "are counted there, outside the tools.  Medians of $RUNS runs; every verification is a new"
  echo "process (a first verification).  Our \`--json\` \"cost\" counts the signature search only"
  echo "(after the manifest); the proxy counts everything the process sent."
  echo
  echo "### First verification, $d ms per request"
  echo
  echo "| format | tool | wall | proxy: requests | proxy: depth | ours \`--json\`: requests / round trips / s | at 0 ms delay: wall |"
  echo "|---|---|---|---|---|---|---|"
  for f in "${FORMATS[@]}"; do
    o=$f.ours.$d p=$f.peer.$d
    echo "| $(label "$f") | \`modelpack verify\` | $(fmt_ms "$(med "$o")") | $(reqs "$o") | $(fmt_n "$(med "$o.depth")") | $(fmt_n "$(med "$o.cost_req")") / $(fmt_n "$(med "$o.cost_rt")") / $(fmt_ms "$(med "$o.cost_ms")") | $(fmt_ms "$(med "$f.ours.0")") |"
    echo "| | $(peer_name "$f") | $(fmt_ms "$(med "$p")") | $(reqs "$p") | $(fmt_n "$(med "$p.depth")") | — | $(fmt_ms "$(med "$f.peer.0")") |"
  done
  echo
  echo "Process start alone (\`modelpack --help\`, \`cosign version\`, \`notation version\`): $(fmt_ms "$(med start.modelpack)"), $(fmt_ms "$(med start.cosign)"), $(fmt_ms "$(med start.notation)")."
  echo
  echo "### Ours / the peer (medians)"
  echo
  echo "| format | wall at $d ms | requests | depth | wall at 0 ms |"
  echo "|---|---|---|---|---|"
  for f in "${FORMATS[@]}"; do
    o=$f.ours.$d p=$f.peer.$d
    echo "| $(label "$f") | $(ratio "$(med "$o")" "$(med "$p")") | $(ratio "$(med "$o.req")" "$(med "$p.req")") | $(ratio "$(med "$o.depth")" "$(med "$p.depth")") | $(ratio "$(med "$f.ours.0")" "$(med "$f.peer.0")") |"
  done
  echo
  echo "### What each tool asked the registry (first run, $d ms, in order of start)"
  for f in "${FORMATS[@]}"; do
    for t in ours peer; do
      echo
      if [ "$t" = ours ]; then echo "$(label "$f"), \`modelpack verify\`:"; else echo "$(label "$f"), $(peer_name "$f"):"; fi
      echo
      echo '```'
      sed -e "s/sha256:\([0-9a-f]\{12\}\)[0-9a-f]*/sha256:\1…/g" -e "s/sha256-\([0-9a-f]\{12\}\)[0-9a-f]*/sha256-\1…/g" \
        "$T/$f.$t.$d.paths" 2>/dev/null
      echo '```'
    done
  done
  echo
  echo "### The daemon at Prepare (private containerd $($CTR version | awk '/Version:/ { v = $2 } END { print v }') CRI, cosign bundle, lookups through the proxy)"
  echo
  echo "| pods | signature check (daemon log) | image-volume Prepare (daemon log) | CreateContainer (CRI) | daemon's registry requests |"
  echo "|---|---|---|---|---|"
  echo "| first pod, \`[signatures]\` policy (new verdict) | $(fmt_ms "$(med first.check)") | $(fmt_ms "$(med first.ready)") | $(fmt_ms "$(med first.create)") | $(fmt_n "$(med first.daemon_req)") |"
  echo "| $PODS later pods, same policy (cached verdict) | $(fmt_sub "$(med3 cached.check)") | $(fmt_ms "$(med cached.ready)") | $(fmt_ms "$(med cached.create)") | $(fmt_n "$(med cached.daemon_req)") |"
  echo "| $PODS pods, checks off (\`policy = \"\"\`, \`notation = \"\"\`; daemon restarted) | $(fmt_sub "$(med3 nopolicy.check)") | $(fmt_ms "$(med nopolicy.ready)") | $(fmt_ms "$(med nopolicy.create)") | $(fmt_n "$(med nopolicy.daemon_req)") |"
  echo
  echo "The daemon's first check, as the proxy saw it: $(fmt_n "$(med first.daemon_req)") requests, depth $(fmt_n "$(med first.daemon_depth)");"
  echo "as the daemon logs it: $(head -n 1 "$T/first.accepted" 2>/dev/null | sed "s/sha256:\([0-9a-f]\{12\}\)[0-9a-f]*/sha256:\1…/g")."
  echo
  echo "### Targets"
  echo
  echo "| target | figure | |"
  echo "|---|---|---|"
  local cc delta
  cc=$(med3 cached.check)
  delta=$(awk -v a="$(med cached.ready)" -v b="$(med nopolicy.ready)" 'BEGIN { printf "%.1f", a - b }')
  echo "| a second pod of a verified model: the cached verdict adds ≤ 1 ms to Prepare | check $(fmt_sub "$cc") (median; max $(sort -n "$T/cached.check" | tail -n 1) ms); image-volume Prepare with − without policy (medians): $delta ms | $(verdict "$cc" 1) |"
  for f in "${FORMATS[@]}"; do
    o=$f.ours.$d
    echo "| first verification ≤ 2 registry round trips plus the crypto: $(label "$f") | $(fmt_n "$(med "$o.cost_rt")") round trips by \`--json\`, $(fmt_n "$(med "$o.depth")") by the proxy (with the manifest) | $(verdict "$(med "$o.cost_rt")" 2) |"
  done
  echo
  vb_machine "registry and containerd roots on $(findmnt -no FSTYPE,SOURCE -T "$IT_DIR" | tr -s ' ')"
  echo "cosign $("$COSIGN" version 2>/dev/null | awk '/GitVersion/ { print $2 }'), notation $("$NOTATION" version 2>/dev/null | awk '/^Version/ { print $2 }'), docker-registry $(/usr/bin/docker-registry --version 2>/dev/null | awk '{ print $3 }')."
  echo "Load average (1/5/15 min) $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
  echo "part 1 took $t_part1 s, the whole run $((t_total / 60)) min $((t_total % 60)) s."
  echo
  echo "Every run (ms; *.req, *.depth: the proxy's counts; *.cost_*: ours \`--json\`; *.check: the daemon's"
  echo "signature check; *.ready: its image-volume Prepare; *.create: CreateContainer):"
  echo
  echo '```'
  for f in "${FORMATS[@]}"; do
    for t in ours peer; do
      for dd in "$d" 0; do
        for x in "" .req .depth .span .bad .cost_req .cost_rt .cost_ms; do
          [ -s "$T/$f.$t.$dd$x" ] || continue
          # Depth and span say nothing without a delay.
          if [ "$dd" = 0 ]; then case $x in .depth | .span) continue ;; esac; fi
          printf '%-22s %s\n' "$f.$t.$dd$x" "$(every "$f.$t.$dd$x")"
        done
      done
    done
  done
  for x in start.modelpack start.cosign start.notation first.check first.ready first.create first.daemon_req first.daemon_depth cached.check cached.ready \
    cached.create cached.daemon_req nopolicy.check nopolicy.ready nopolicy.create nopolicy.daemon_req; do
    printf '%-22s %s\n' "$x" "$(every "$x")"
  done
  echo '```'
}
mkdir -p "$(dirname "$REPORT")"
report > "$REPORT.tmp"
mv "$REPORT.tmp" "$REPORT"
cat "$REPORT"
it_pass "benchmark ran"
it_done
