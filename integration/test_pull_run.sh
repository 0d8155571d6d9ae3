#!/bin/bash
# End to end: pull a three-layer image (overwrite, whiteout, opaque
# directory; see build-image.sh) from a local registry through the
# snapshotter, check the committed snapshot chain containerd and the
# snapshotter record, and run containers on it with runc.
#
# usage: test_pull_run.sh [VERSION...]    VERSION is 1.6 or 2
#        CTD_VERSIONS="1.6 2" test_pull_run.sh     (the default)
. "$(dirname "$0")/lib.sh"

versions=${*:-${CTD_VERSIONS:-1.6 2}}

it_setup pull_run
it_start_registry
image=$REGISTRY/test/multilayer:1
bash "$IT_REPO/integration/build-image.sh" "$IT_DIR/img" "docker://$image"
it_log "pushed $image"

manifest=$(jq -r '.manifests[0].digest' "$IT_DIR/img/index.json")
config=$(jq -r '.config.digest' "$IT_DIR/img/blobs/sha256/${manifest#sha256:}")
mapfile -t diff_ids < <(jq -r '.rootfs.diff_ids[]' \
  "$IT_DIR/img/blobs/sha256/${config#sha256:}")
mapfile -t chain < <(it_chain_ids "${diff_ids[@]}")

# run_in NAME CMD: run CMD with sh in a fresh container of the image.
run_in() {
  # shellcheck disable=SC2086 # CTR and CTR_RUN_ARGS are word lists
  timeout 120 $CTR run --rm $CTR_RUN_ARGS --snapshotter "$IT_SN" "$image" \
    "$1" sh -c "$2" 2>"$IT_DIR/run.err"
}

# find_layer_dir TEST...: the snapshot directories under MP_ROOT for which
# the test (a function of the directory) succeeds.
find_layer_dir() {
  local d
  for d in "$MP_ROOT"/snapshots/*/fs; do
    if "$@" "$d"; then echo "$d"; fi
  done
}
is_layer1() { cmp -s "$1/bin/busybox" /bin/busybox && [ -L "$1/bin/sh" ]; }
is_layer2() {
  [ "$(cat "$1/etc/greeting" 2>/dev/null)" = "hello from layer 2" ] \
    && [ -f "$1/etc/motd" ] && [ -f "$1/data/a.txt" ]
}
is_layer3() {
  [ "$(cat "$1/etc/greeting" 2>/dev/null)" = "hello from layer 3" ] \
    && [ "$(stat -c '%F %t:%T' "$1/etc/motd" 2>/dev/null)" = "character special file 0:0" ] \
    && [ ! -e "$1/data/a.txt" ] && [ -f "$1/data/b.txt" ]
}

test_version() {
  local v=$1 t out info n expected
  it_start_snapshotter
  it_start_containerd "$v"
  t="[containerd $CTD_VERSION/$IT_SN]"

  if out=$($CTR image pull --plain-http --snapshotter "$IT_SN" "$image" 2>&1); then
    it_pass "$t image pull"
  else
    it_fail "$t image pull"
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/     /'
    return 0
  fi

  # The unpacked chain: chain IDs as committed names, each on its parent.
  out=$($CTR snapshots --snapshotter "$IT_SN" ls)
  for n in 0 1 2; do
    info=$($CTR snapshots --snapshotter "$IT_SN" info "${chain[n]}" 2>&1) || true
    if [ "$n" = 0 ]; then
      expected="Committed "
    else
      expected="Committed ${chain[n - 1]}"
    fi
    it_expect_eq "$t layer $((n + 1)) committed as its chain ID on its parent" \
      "$expected" "$(jq -r '"\(.Kind) \(.Parent // "")"' <<<"$info" 2>/dev/null || echo "$info")"
    it_check "$t snapshots ls lists layer $((n + 1))" grep -q "^${chain[n]}[[:space:]]" <<<"$out"
  done

  # What the snapshotter itself stores: one directory per layer, with
  # whiteouts in overlay form (0:0 character devices).
  it_check "$t $MP_ROOT has layer 1 (busybox, symlinks)" \
    test -n "$(find_layer_dir is_layer1)"
  it_check "$t $MP_ROOT has layer 2 (greeting v2, motd, data/a.txt)" \
    test -n "$(find_layer_dir is_layer2)"
  it_check "$t $MP_ROOT has layer 3 (greeting v3, motd whiteout, no a.txt)" \
    test -n "$(find_layer_dir is_layer3)"

  if out=$(run_in it-run-1 'cat /etc/greeting; ls /etc'); then
    it_expect_eq "$t run: layer 3 greeting, motd whited out" \
      "$(printf '%s\n' "hello from layer 3" greeting keep new sub)" "$out"
  else
    it_fail "$t run: ctr run failed: $(cat "$IT_DIR/run.err")"
  fi

  if out=$(run_in it-run-2 'ls /data; cat /data/b.txt /etc/sub/file /etc/keep;
      test -e /etc/motd || echo motd-gone; readlink /bin/sh;
      echo changed > /etc/greeting && cat /etc/greeting'); then
    it_expect_eq "$t run: opaque dir, lower files, symlink, writable rootfs" \
      "$(printf '%s\n' b.txt "only file left in /data" "in a directory" \
        "kept from layer 2" motd-gone busybox changed)" "$out"
  else
    it_fail "$t run: ctr run failed: $(cat "$IT_DIR/run.err")"
  fi

  if out=$(run_in it-run-3 'cat /etc/greeting'); then
    it_expect_eq "$t run: a new container does not see the last one's write" \
      "hello from layer 3" "$out"
  else
    it_fail "$t run: ctr run failed: $(cat "$IT_DIR/run.err")"
  fi

  out=$($CTR snapshots --snapshotter "$IT_SN" ls)
  it_check "$t run --rm leaves no active snapshot" \
    test -z "$(awk 'NR > 1 && $NF == "Active"' <<<"$out")"

  # Deleting the image with --sync runs containerd's garbage collector,
  # which lists the snapshotter, removes every snapshot containerd no longer
  # references (the layers, and containers' snapshots if still there) and
  # asks the snapshotter to clean up: its snapshot directories must go.
  if out=$($CTR image rm --sync "$image" 2>&1); then
    it_pass "$t image rm --sync"
  else
    it_fail "$t image rm --sync: $out"
  fi
  it_check "$t no snapshot left in containerd after garbage collection" \
    test -z "$($CTR snapshots --snapshotter "$IT_SN" ls | awk 'NR > 1')"
  it_check "$t garbage collection removed every snapshot directory" \
    it_wait_for 10 "$MP_ROOT/snapshots to empty" no_snapshot_dirs
}

no_snapshot_dirs() {
  [ -z "$(find "$MP_ROOT/snapshots" -mindepth 1 -maxdepth 1 -print -quit)" ]
}

for v in $versions; do
  test_version "$v"
  it_stop_containerd
  if [ "$IT_SN" = modelpack ]; then
    it_check "[containerd $v] snapshotter exits 0 on SIGTERM" it_stop_snapshotter
  fi
  it_reset_state
done

it_done
