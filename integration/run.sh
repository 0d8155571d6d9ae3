#!/bin/sh
# Run every integration test: integration/test_*.sh, then the test programs
# built from integration/*.c (build/bin/<name>) that no test_*.sh runs
# itself (a program that needs a containerd or a socket gets a test_*.sh
# wrapper using lib.sh; naming the program there is what marks it wrapped).
# Each test prints a line "N passed, N failed" (optionally "name: " first)
# last; this adds them up, prints "integration: N passed, N failed" and
# exits non-zero if anything failed (a test that exits non-zero or prints no
# summary counts as one failure).
#
# usage: sh integration/run.sh [PATTERN...]
#   PATTERN  run only tests whose name contains it (e.g. pull_run)
# Environment: CTD_VERSIONS="1.6 2", IT_SNAPSHOTTER, IT_KEEP, ... (lib.sh)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bin=${BUILD:-build}/bin
case $bin in /*) ;; *) bin=$repo/$bin ;; esac
cd "$repo"

if [ "$(id -u)" != 0 ]; then
  echo "integration: must run as root (containerd, runc, mounts)" >&2
  echo "integration: 0 passed, 1 failed"
  exit 1
fi

selected() {
  [ $# -gt 1 ] || return 0
  name=$1
  shift
  for p in "$@"; do
    case $name in *"$p"*) return 0 ;; esac
  done
  return 1
}

tests=""
for t in "$here"/test_*.sh; do
  [ -e "$t" ] || continue
  selected "$(basename "$t")" "$@" && tests="$tests bash:$t"
done
for c in "$here"/*.c; do
  [ -e "$c" ] || continue
  name=$(basename "$c" .c)
  selected "$name" "$@" || continue
  if grep -qs -- "$name" "$here"/test_*.sh; then continue; fi
  tests="$tests prog:$name"
done

tmp=$(mktemp -d /tmp/mprun.XXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0 failed=0 report=""
for entry in $tests; do
  kind=${entry%%:*} what=${entry#*:}
  name=$(basename "$what")
  echo "=== $name"
  : > "$tmp/out"
  if [ "$kind" = prog ] && [ ! -x "$bin/$name" ]; then
    echo "$bin/$name is not built (make all)" > "$tmp/out"
    echo 1 > "$tmp/rc"
    cat "$tmp/out"
  else
    # The test's own exit status survives the pipe through tee via a file.
    {
      rc=0
      if [ "$kind" = bash ]; then bash "$what" 2>&1 || rc=$?; else "$bin/$name" 2>&1 || rc=$?; fi
      echo "$rc" > "$tmp/rc"
    } | tee "$tmp/out"
  fi
  rc=$(cat "$tmp/rc")
  line=$(grep -E '^([[:alnum:]_ -]+: )?[0-9]+ passed, [0-9]+ failed$' "$tmp/out" \
    | tail -n 1 || true)
  line=${line##*: }
  if [ -n "$line" ]; then
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed}
  else
    p=0 f=0
  fi
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    f=1
    line="exit status $rc${line:+ after $line}"
  elif [ -z "$line" ]; then
    f=1
    line="no summary line"
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  report="$report
  $name: $line"
done

[ -n "$tests" ] || echo "integration: no tests matched${*:+ $*}"
printf 'integration results:%s\n' "$report"
echo "integration: $passed passed, $failed failed"
[ "$failed" = 0 ]
