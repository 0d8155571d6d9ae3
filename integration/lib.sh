# shellcheck shell=bash
# Shared helpers for the integration tests (bash).  A test does
#
#   . "$(dirname "$0")/lib.sh"
#   it_setup pull_run
#   it_start_registry; it_start_snapshotter; it_start_containerd 2
#   ... $CTR image pull ...; it_pass "..." / it_fail "..."
#   it_done
#
# and everything it started is stopped, unmounted and deleted on exit,
# whether it passed, failed or was interrupted.
#
# Isolation.  Sourcing this file re-executes the test in a private mount
# namespace (unshare -m) with a tmpfs over /run/containerd: containerd and
# its shims hard-code /run/containerd/s (shim sockets) and ctr puts its FIFOs
# in /run/containerd/fifo, so this keeps the host's /run/containerd untouched
# and makes every mount the test makes invisible to the host and gone when
# the test's processes are.  Set IT_NO_UNSHARE=1 to run without it.
#
# Knobs (environment):
#   IT_SNAPSHOTTER  snapshotter the tests use: modelpack (default) or a
#                   containerd built-in such as overlayfs (to debug the
#                   harness without our daemon)
#   IT_KEEP=1       keep IT_DIR (logs, state) after the test
#   IT_VERBOSE=1    print each log's tail even when the test passes
#   MP_BIN          snapshotter binary (default $BUILD/bin/modelpack-snapshotter,
#                   BUILD defaulting to build as in the Makefile)
#   IT_UNSTABLE_BIN unpacked Debian-unstable usr/bin (containerd 2.x, ...)
#   SOCI_SOCK, NYDUS_SOCK, NULL_SOCK  if set, containerd also gets proxy
#                   snapshotters "soci", "nydus" and "null" at these addresses
#                   (benchmarks)
#
# Exported after the matching it_start_*:
#   IT_DIR IT_NAME IT_REPO IT_BUILD IT_SN
#   MP_SOCK MP_ROOT MP_PID         (our snapshotter; MP_ROOT is the built-in
#                                   snapshotter's root when IT_SN is not ours)
#   CTD_SOCK CTD_ROOT CTD_STATE CTD_PID CTD_VERSION CTD_LOG
#   CTR            command prefix: $CTR images ls
#   CTR_RUN_ARGS   arguments every "$CTR run" should get (runc binary/root)
#   REGISTRY REG_PID

set -euo pipefail
set -E

IT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IT_UNSTABLE_BIN=${IT_UNSTABLE_BIN:-$IT_REPO/.cache/unstable/root/usr/bin}
IT_BUILD=${BUILD:-build}
case $IT_BUILD in /*) ;; *) IT_BUILD=$IT_REPO/$IT_BUILD ;; esac
MP_BIN=${MP_BIN:-$IT_BUILD/bin/modelpack-snapshotter}
IT_SN=${IT_SNAPSHOTTER:-modelpack}
IT_RUNC=/usr/sbin/runc
IT_SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export IT_REPO IT_BUILD IT_SN

if [ "$(id -u)" != 0 ]; then
  echo "integration tests need root (containerd, runc, overlay mounts)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

if [ -z "${IT_IN_NS:-}" ] && [ "${IT_NO_UNSHARE:-0}" != 1 ]; then
  export IT_IN_NS=1
  exec unshare --mount --propagation private -- bash "$0" "$@"
fi
if [ "${IT_IN_NS:-}" = 1 ] && [ -z "${IT_NS_READY:-}" ]; then
  export IT_NS_READY=1
  if [ -d /run/containerd ]; then
    mount -t tmpfs -o mode=0711 it-run-containerd /run/containerd
  else
    # Never create /run/containerd on the host: cover all of /run instead.
    mount -t tmpfs -o mode=0755 it-run /run
    mkdir -m 0711 /run/containerd
  fi
fi

IT_PASSED=0
IT_FAILED=0
IT_DONE=0
IT_DIR=""
IT_NAME=""
MP_PID="" CTD_PID="" REG_PID=""

# ---- reporting ------------------------------------------------------------

it_log() { printf '[%s] %s\n' "${IT_NAME:-it}" "$*" >&2; }

it_pass() {
  IT_PASSED=$((IT_PASSED + 1))
  printf 'ok   %s\n' "$*"
}

it_fail() {
  IT_FAILED=$((IT_FAILED + 1))
  printf 'FAIL %s\n' "$*"
}

# it_check MSG CMD...: pass if CMD succeeds, fail otherwise (never exits).
it_check() {
  local msg=$1
  shift
  if "$@"; then it_pass "$msg"; else it_fail "$msg"; fi
}

# it_expect_eq MSG EXPECTED ACTUAL: exact string comparison, with a diff on
# failure.
it_expect_eq() {
  if [ "$2" == "$3" ]; then
    it_pass "$1"
  else
    it_fail "$1"
    diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") \
      | sed -e '1s/.*/--- expected/' -e '2s/.*/+++ actual/' -e 's/^/     /' || true
  fi
}

# it_done: end the test; the EXIT trap cleans up and prints the summary
# line run.sh collects ("N passed, N failed"), exiting non-zero on failure.
it_done() {
  IT_DONE=1
  exit 0
}

# it_expect_exit MSG CODE NEEDLE CMD...: CMD exits with CODE and writes one
# line to stderr containing NEEDLE (the CLI's error contract).
it_expect_exit() {
  local what=$1 code=$2 needle=$3 rc=0
  shift 3
  "$@" > /dev/null 2> "$IT_DIR/err" || rc=$?
  if [ "$rc" = "$code" ] && [ "$(wc -l < "$IT_DIR/err")" = 1 ] && grep -q -- "$needle" "$IT_DIR/err"; then
    it_pass "$what: exit $code, one line naming it"
  else
    it_fail "$what: exit $rc (want $code): $(cat "$IT_DIR/err")"
  fi
}

# ---- setup and cleanup ----------------------------------------------------

it_on_err() {
  IT_ERR="line ${BASH_LINENO[0]}: '$1' exited $2"
}

it_on_exit() {
  local rc=$?
  trap - EXIT INT TERM ERR
  set +e
  if [ "$IT_DONE" != 1 ]; then
    it_fail "${IT_NAME:-test} stopped early (exit $rc)${IT_ERR:+ at $IT_ERR}"
  fi
  if [ "$IT_FAILED" != 0 ] || [ "${IT_VERBOSE:-0}" = 1 ]; then
    it_show_logs
  fi
  it_cleanup
  echo "$IT_PASSED passed, $IT_FAILED failed"
  [ "$IT_FAILED" = 0 ] && exit 0
  exit 1
}

it_on_signal() {
  it_log "interrupted by $1"
  IT_ERR="signal $1"
  exit 130
}

# it_setup NAME: create IT_DIR (short: overlay options must fit in a page)
# and arrange for cleanup on any exit.
it_setup() {
  IT_NAME=${1:?it_setup NAME}
  IT_DIR=$(mktemp -d /tmp/mpit.XXXX)
  chmod 0711 "$IT_DIR"
  export IT_DIR IT_NAME
  trap 'it_on_err "$BASH_COMMAND" $?' ERR
  trap it_on_exit EXIT
  trap 'it_on_signal INT' INT
  trap 'it_on_signal TERM' TERM
  it_log "IT_DIR=$IT_DIR snapshotter=$IT_SN"
}

it_show_logs() {
  local f
  [ -n "$IT_DIR" ] && [ -d "$IT_DIR" ] || return 0
  for f in "$IT_DIR"/*.log; do
    [ -s "$f" ] || continue
    echo "----- last 40 lines of $f"
    tail -n 40 "$f"
  done
}

# it_wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.1s.
it_wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  it_log "timed out after ${secs}s waiting for $what"
  return 1
}

# it_kill_wait PID [SECONDS]: SIGTERM, wait, then SIGKILL.
it_kill_wait() {
  local pid=$1 secs=${2:-10} i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    it_log "pid $pid ignored SIGTERM for ${secs}s, killing it"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null || true
}

# it_pids_with_arg STRING: pids whose command line has an argument equal to
# STRING (our unique temp paths), never matching by program name.
it_pids_with_arg() {
  local want=$1 p arg
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" != "$$" ] || continue
    while IFS= read -r -d '' arg; do
      if [ "$arg" == "$want" ]; then
        echo "${p#/proc/}"
        break
      fi
    done 2>/dev/null < "$p/cmdline"
  done
}

# it_umount_under DIR: unmount everything mounted at or below DIR, newest
# first, lazily when a plain umount fails.
it_umount_under() {
  local dir=$1 mp
  [ -n "$dir" ] || return 0
  awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' \
    /proc/self/mountinfo | tac | while read -r mp; do
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null \
      || it_log "cannot unmount $mp"
  done
}

it_cleanup() {
  it_stop_containerd
  it_stop_snapshotter || it_log "modelpack-snapshotter did not exit cleanly"
  it_stop_registry
  if [ -n "$IT_DIR" ] && [ -d "$IT_DIR" ]; then
    it_umount_under "$IT_DIR"
    if [ "${IT_KEEP:-0}" = 1 ]; then
      it_log "kept $IT_DIR"
    else
      rm -rf --one-file-system "$IT_DIR"
    fi
  fi
}

# ---- our snapshotter ------------------------------------------------------

# it_start_snapshotter [ARGS...]: start modelpack-snapshotter on
# $IT_DIR/s.sock with root $IT_DIR/s.  With IT_SNAPSHOTTER set to a built-in
# it only sets MP_ROOT (after it_start_containerd) and returns.
it_start_snapshotter() {
  MP_SOCK=$IT_DIR/s.sock
  MP_ROOT=$IT_DIR/s
  export MP_SOCK MP_ROOT
  if [ "$IT_SN" != modelpack ]; then
    return 0
  fi
  if [ ! -x "$MP_BIN" ]; then
    it_log "$MP_BIN is not built (make build/bin/modelpack-snapshotter)"
    return 1
  fi
  "$MP_BIN" --root "$MP_ROOT" --address "$MP_SOCK" --log-level debug "$@" \
    >> "$IT_DIR/snapshotter.log" 2>&1 &
  MP_PID=$!
  export MP_PID
  local i
  for ((i = 0; i < 100; i++)); do
    # Accepting connections, not merely present: a crashed daemon leaves
    # its socket file behind.
    it_sock_accepts "$MP_SOCK" && return 0
    if ! kill -0 "$MP_PID" 2>/dev/null; then
      it_log "modelpack-snapshotter exited before creating $MP_SOCK:"
      tail -n 20 "$IT_DIR/snapshotter.log" >&2
      MP_PID=""
      return 1
    fi
    sleep 0.1
  done
  it_log "modelpack-snapshotter did not create $MP_SOCK within 10s"
  return 1
}

# it_sock_accepts SOCKET: something accepts connections on the unix socket
# (curl's exit status 7 is "could not connect").
it_sock_accepts() {
  local rc=0
  [ -S "$1" ] || return 1
  curl -s -m 2 --http2-prior-knowledge --unix-socket "$1" \
    http://localhost/ -o /dev/null 2>&1 || rc=$?
  [ "$rc" != 7 ]
}

# it_stop_snapshotter [-9]: SIGTERM and wait (SIGKILL after 10s), or SIGKILL
# at once.  A clean stop must exit 0; the exit status is returned.
# shellcheck disable=SC2120 # tests call it with -9
it_stop_snapshotter() {
  local rc=0
  [ -n "${MP_PID:-}" ] || return 0
  if [ "${1:-}" = -9 ]; then
    kill -KILL "$MP_PID" 2>/dev/null || true
    wait "$MP_PID" 2>/dev/null || true
  else
    kill -TERM "$MP_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$MP_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$MP_PID" 2>/dev/null; then
      it_log "modelpack-snapshotter ignored SIGTERM for 10s, killing it"
      kill -KILL "$MP_PID" 2>/dev/null || true
    fi
    wait "$MP_PID" 2>/dev/null || rc=$?
  fi
  MP_PID=""
  return "$rc"
}

# ---- containerd -----------------------------------------------------------

# it_proxy_toml NAME ADDRESS: a proxy snapshotter table.
it_proxy_toml() {
  printf '\n[proxy_plugins.%s]\n  type = "snapshot"\n  address = "%s"\n' "$1" "$2"
}

# it_containerd_config VERSION FILE [SNIPPET]: write containerd's config.
# Without SNIPPET: CRI and NRI off, proxy plugins from MP_SOCK / SOCI_SOCK /
# NYDUS_SOCK.  With SNIPPET (one of config/containerd-*.toml): the snippet
# itself, its socket and root paths pointed at MP_SOCK and MP_ROOT, CRI on
# with its CNI directories kept private.
it_containerd_config() {
  local ver=$1 f=$2 snippet=${3:-} disabled="" q sn
  if [ "$ver" = 1.6 ]; then
    q='"'
    # The CRI plugin is not needed by ctr-driven tests and would want CNI.
    [ -n "$snippet" ] || disabled='"io.containerd.grpc.v1.cri"'
  else
    q="'"
    # 2.x splits CRI into several plugins.
    [ -n "$snippet" ] || disabled='"io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images", '
    # NRI would listen on the host's /var/run/nri/nri.sock.
    disabled+='"io.containerd.nri.v1.nri"'
  fi
  {
    if [ "$ver" = 1.6 ]; then echo "version = 2"; else echo "version = 3"; fi
    cat <<EOF
root = "$CTD_ROOT"
state = "$CTD_STATE"
temp = "$IT_DIR/c/tmp"
oom_score = 0
disabled_plugins = [$disabled]

[grpc]
  address = "$CTD_SOCK"

[ttrpc]
  address = "$CTD_SOCK.ttrpc"

[debug]
  address = ""
  level = "debug"

[metrics]
  address = ""

[plugins.${q}io.containerd.internal.v1.opt${q}]
  path = "$IT_DIR/c/opt"
EOF
    if [ -n "$snippet" ]; then
      # The CRI plugin creates and watches its CNI config directory.
      if [ "$ver" = 1.6 ]; then
        echo '[plugins."io.containerd.grpc.v1.cri".cni]'
      else
        echo "[plugins.'io.containerd.cri.v1.runtime'.cni]"
      fi
      echo "  conf_dir = \"$IT_DIR/c/cni/net.d\""
      echo "  bin_dir = \"$IT_DIR/c/cni/bin\""
      echo
      echo "# ---- $snippet"
      sed -e '/^version *=/d' \
        -e "s|/run/modelpack-snapshotter/snapshotter.sock|$MP_SOCK|g" \
        -e "s|/var/lib/modelpack-snapshotter|$MP_ROOT|g" "$snippet"
    else
      if [ "$ver" != 1.6 ]; then
        # ctr 2.x pulls through the transfer service, which unpacks only
        # into snapshotters listed here.
        for sn in overlayfs ${IT_SN/overlayfs/} ${SOCI_SOCK:+soci} ${NYDUS_SOCK:+nydus}; do
          printf "\n[[plugins.'io.containerd.transfer.v1.local'.unpack_config]]\n"
          printf '  platform = "%s"\n  snapshotter = "%s"\n' "$(it_platform)" "$sn"
        done
      fi
      if [ "$IT_SN" = modelpack ]; then it_proxy_toml modelpack "$MP_SOCK"; fi
      if [ -n "${SOCI_SOCK:-}" ]; then it_proxy_toml soci "$SOCI_SOCK"; fi
      if [ -n "${NYDUS_SOCK:-}" ]; then it_proxy_toml nydus "$NYDUS_SOCK"; fi
      if [ -n "${NULL_SOCK:-}" ]; then it_proxy_toml null "$NULL_SOCK"; fi
    fi
  } > "$f"
}

it_platform() {
  local arch
  case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *) arch=$(uname -m) ;;
  esac
  echo "linux/$arch"
}

# it_start_containerd 1.6|2 [SNIPPET]: a private containerd (root, state,
# sockets under IT_DIR) with our snapshotter as proxy plugin "modelpack"; with
# SNIPPET, configured by that example file instead (see it_containerd_config).
it_start_containerd() {
  local ver=${1:?it_start_containerd 1.6|2} snippet=${2:-} bin path
  case $ver in
    1.6)
      bin=/usr/bin/containerd
      path=$IT_SYS_PATH
      CTR="/usr/bin/ctr --address $IT_DIR/c.sock"
      ;;
    2 | 2.*)
      ver=2
      bin=$IT_UNSTABLE_BIN/containerd
      # containerd finds containerd-shim-runc-v2 on its PATH.
      path=$IT_UNSTABLE_BIN:$IT_SYS_PATH
      CTR="$IT_UNSTABLE_BIN/ctr --address $IT_DIR/c.sock"
      if [ ! -x "$bin" ]; then
        it_log "$bin is missing: run make unstable"
        return 1
      fi
      ;;
    *)
      it_log "it_start_containerd: unknown version $ver (1.6 or 2)"
      return 1
      ;;
  esac
  if [ "$IT_SN" = modelpack ] && [ -z "${MP_SOCK:-}" ]; then
    it_log "it_start_containerd: start the snapshotter first"
    return 1
  fi
  CTD_VERSION=$ver
  CTD_SOCK=$IT_DIR/c.sock
  CTD_ROOT=$IT_DIR/c/root
  CTD_STATE=$IT_DIR/c/state
  CTD_LOG=$IT_DIR/containerd-$ver.log
  CTR_RUN_ARGS="--runc-binary $IT_RUNC --runc-root $IT_DIR/c/runc"
  export CTD_VERSION CTD_SOCK CTD_ROOT CTD_STATE CTD_LOG CTR CTR_RUN_ARGS
  mkdir -p "$IT_DIR/c/tmp" "$IT_DIR/c/opt"
  it_containerd_config "$ver" "$IT_DIR/c/config.toml" "$snippet"

  PATH=$path "$bin" --config "$IT_DIR/c/config.toml" >> "$CTD_LOG" 2>&1 &
  CTD_PID=$!
  export CTD_PID
  local i
  for ((i = 0; i < 300; i++)); do
    if $CTR version >/dev/null 2>&1; then break; fi
    if ! kill -0 "$CTD_PID" 2>/dev/null; then
      it_log "containerd $ver exited during start-up:"
      tail -n 30 "$CTD_LOG" >&2
      CTD_PID=""
      return 1
    fi
    sleep 0.1
  done
  if ! $CTR version >/dev/null 2>&1; then
    it_log "containerd $ver did not answer on $CTD_SOCK within 30s"
    return 1
  fi
  it_log "containerd $($CTR version | awk '/Version:/ { v = $2 } END { print v }') up on $CTD_SOCK"

  if [ "$IT_SN" != modelpack ]; then
    MP_ROOT=$CTD_ROOT/io.containerd.snapshotter.v1.$IT_SN
    export MP_ROOT
  fi
  local st
  st=$($CTR plugins ls | awk -v id="$IT_SN" '$1 == "io.containerd.snapshotter.v1" && $2 == id { print $NF }')
  if [ "$st" != ok ]; then
    it_log "containerd $ver: snapshotter plugin $IT_SN is '${st:-absent}', not ok:"
    $CTR plugins ls | grep -E 'snapshotter|TYPE' >&2 || true
    return 1
  fi
  # Proxy plugins connect lazily, so "ok" above does not prove containerd
  # reaches the socket: one Prepare does (the metadata layer forwards it).
  if ! $CTR snapshots --snapshotter "$IT_SN" prepare it-probe >/dev/null 2>"$IT_DIR/probe.err"; then
    it_log "containerd $ver cannot use snapshotter $IT_SN: $(cat "$IT_DIR/probe.err")"
    return 1
  fi
  $CTR snapshots --snapshotter "$IT_SN" rm it-probe >/dev/null 2>&1 || true
}

# it_kill_tasks: kill and delete every task and container in every namespace
# of the private containerd.
it_kill_tasks() {
  local ns t c
  [ -n "${CTD_PID:-}" ] || return 0
  for ns in $($CTR namespaces ls -q 2>/dev/null); do
    for t in $($CTR -n "$ns" tasks ls -q 2>/dev/null); do
      $CTR -n "$ns" tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
    done
    for t in $($CTR -n "$ns" tasks ls -q 2>/dev/null); do
      # shellcheck disable=SC2086 # CTR is a command prefix
      timeout 10 $CTR -n "$ns" tasks delete -f "$t" >/dev/null 2>&1 || true
    done
    for c in $($CTR -n "$ns" containers ls -q 2>/dev/null); do
      $CTR -n "$ns" containers delete "$c" >/dev/null 2>&1 || true
    done
  done
}

# it_stop_containerd: tasks first, then containerd, then any shim still
# serving it (shims outlive containerd by design).
it_stop_containerd() {
  local p
  [ -n "${CTD_SOCK:-}" ] || return 0
  it_kill_tasks
  if [ -n "${CTD_PID:-}" ]; then
    it_kill_wait "$CTD_PID" 15
    CTD_PID=""
  fi
  # Containers whose shim did not clean up: runc's own state is under
  # CTR_RUN_ARGS' --runc-root, one directory per namespace.
  local root id
  for root in "$IT_DIR"/c/runc/*/; do
    [ -d "$root" ] || continue
    for id in $("$IT_RUNC" --root "$root" list -q 2>/dev/null); do
      it_log "deleting leftover container $id"
      "$IT_RUNC" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
    done
  done
  for p in $(it_pids_with_arg "$CTD_SOCK"); do
    it_log "killing leftover process $p: $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"
    kill -KILL "$p" 2>/dev/null || true
  done
  it_umount_under "$IT_DIR/c"
}

# it_reset_state: after it_stop_containerd and it_stop_snapshotter, remove
# their state so the next containerd version starts from nothing (with
# IT_KEEP=1, move it to IT_DIR/kept-<version>/ instead).
it_reset_state() {
  it_umount_under "$IT_DIR/c"
  it_umount_under "$IT_DIR/s"
  if [ "${IT_KEEP:-0}" = 1 ]; then
    local keep
    keep=$(mktemp -d "$IT_DIR/kept-${CTD_VERSION:-x}.XXXX")
    mv "$IT_DIR/c" "$IT_DIR/s" "$keep/" 2>/dev/null || true
  fi
  rm -rf --one-file-system "$IT_DIR/c" "$IT_DIR/s" "$IT_DIR/s.sock"
  unset CTD_SOCK CTD_ROOT CTD_STATE CTD_VERSION CTR
}

# ---- registry -------------------------------------------------------------

it_start_registry() {
  local port
  mkdir -p "$IT_DIR/reg"
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    if [ -n "$(ss -Htln "sport = :$port")" ]; then continue; fi
    cat > "$IT_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $IT_DIR/reg
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    # env -i: the registry reads REGISTRY_* variables as config overrides.
    env -i PATH="$IT_SYS_PATH" /usr/bin/docker-registry serve \
      "$IT_DIR/registry.yml" >> "$IT_DIR/registry.log" 2>&1 &
    REG_PID=$!
    REGISTRY=127.0.0.1:$port
    export REGISTRY REG_PID
    if it_wait_for 10 "registry on $REGISTRY" \
      curl -fsS "http://$REGISTRY/v2/"; then
      return 0
    fi
    it_kill_wait "$REG_PID" 5
    REG_PID=""
  done
  it_log "docker-registry did not start:"
  tail -n 20 "$IT_DIR/registry.log" >&2
  return 1
}

it_stop_registry() {
  [ -n "${REG_PID:-}" ] || return 0
  it_kill_wait "$REG_PID" 5
  REG_PID=""
}

# ---- helpers for tests ----------------------------------------------------

# it_chain_ids DIFF_ID...: print the chain ID of each prefix of the layer
# list (the committed snapshot names containerd uses).
it_chain_ids() {
  local chain="" d
  for d in "$@"; do
    if [ -z "$chain" ]; then
      chain=$d
    else
      chain="sha256:$(printf '%s %s' "$chain" "$d" | sha256sum | cut -d' ' -f1)"
    fi
    echo "$chain"
  done
}
