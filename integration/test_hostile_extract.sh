#!/bin/bash
# modelpack extract against hostile models and hostile target directories:
# it never loses the user's files and never writes outside DIR.
#
#  (a) a tar layer's file `data` where DIR has a directory data/ of the
#      user's: exit 9 naming it, with and without --force; DIR unchanged;
#  (b) a tar layer's file x where DIR has x: exit 9 without --force, x
#      replaced with it;
#  (c) two layers, the second failing (a corrupt blob; a type conflict only
#      found when moving): DIR unchanged, the first layer's symlink absent,
#      no scratch directory left;
#  (d) a world-writable DIR (1777, 0777) in which user nobody planted
#      symlinks to a root-owned directory at the scratch names an extract
#      could use (the exact pid of the extract, a range of upcoming pids),
#      for a stored model and for one read from a registry: the extract
#      succeeds and nothing appears outside DIR;
#  (e) a stale scratch directory (its extract killed) is removed by the next
#      extract; a live, flocked one is kept, as are another user's and a
#      symlink at a scratch name;
#  (f) DIR/sub a symlink to an outside directory, the model has sub/file:
#      refused without --force; with it the symlink (not its target) is
#      replaced; the outside directory unchanged;
#  (r) a model read from a registry: nothing of the fetch left in DIR after
#      success, a missing tag, or a blob the registry serves corrupted.
#
# usage: test_hostile_extract.sh
. "$(dirname "$0")/lib.sh"

it_setup hostile_extract
MP=$IT_BUILD/bin/modelpack
S=$IT_DIR/store
mp() { "$MP" --store "$S" "$@"; }
PY=$(command -v /usr/bin/python3 python3 | head -n 1)
mp ls > /dev/null # creates the store
H=hostile.example.com/ex

# ---- helpers ------------------------------------------------------------------

# mktar OUT SPEC...: a tar with python's tarfile.  SPEC: f:NAME:TEXT (file),
# d:NAME (directory), l:NAME:TARGET (symlink).
mktar() {
  "$PY" - "$@" <<'EOF'
import io, sys, tarfile
out, specs = sys.argv[1], sys.argv[2:]
with open(out, "wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as t:
    for s in specs:
        kind, rest = s.split(":", 1)
        ti = tarfile.TarInfo()
        ti.mtime = 1700000000
        data = None
        if kind == "f":
            ti.name, text = rest.split(":", 1)
            data = text.encode()
            ti.type, ti.mode, ti.size = tarfile.REGTYPE, 0o644, len(data)
        elif kind == "d":
            ti.name, ti.type, ti.mode = rest, tarfile.DIRTYPE, 0o755
        elif kind == "l":
            ti.name, ti.linkname = rest.split(":", 1)
            ti.type, ti.mode = tarfile.SYMTYPE, 0o777
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
EOF
}

# put_blob FILE: into the store; prints its digest.
put_blob() {
  local d
  d=$(sha256sum < "$1" | cut -c1-64)
  cp "$1" "$S/blobs/sha256/$d"
  echo "sha256:$d"
}

# store_model REF LAYER...: a ModelPack model written straight into the
# store (pack would not make these).  LAYER: tar|FILEPATH|TARFILE or
# raw|FILEPATH|FILE.
store_model() {
  local ref=$1 spec kind path file dig layers="" diffs="" cfg man md
  shift
  for spec in "$@"; do
    IFS='|' read -r kind path file <<<"$spec"
    dig=$(put_blob "$file")
    layers+=$(jq -cn --arg mt "application/vnd.cncf.model.weight.v1.$kind" --arg d "$dig" \
      --argjson s "$(stat -c %s "$file")" --arg p "$path" \
      '{mediaType: $mt, digest: $d, size: $s, annotations: {"org.cncf.model.filepath": $p}}')
    diffs+=$(jq -cn --arg d "$dig" '$d')
  done
  cfg=$IT_DIR/cfg.json
  jq -cn --argjson d "$(jq -cs . <<<"$diffs")" \
    '{descriptor: {name: "hostile"}, config: {format: "safetensors"},
      modelfs: {type: "layers", diffIds: $d}}' > "$cfg"
  man=$IT_DIR/man.json
  jq -cn --arg c "$(put_blob "$cfg")" --argjson cs "$(stat -c %s "$cfg")" \
    --argjson l "$(jq -cs . <<<"$layers")" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.cncf.model.manifest.v1+json",
      config: {mediaType: "application/vnd.cncf.model.config.v1+json", digest: $c, size: $cs},
      layers: $l}' > "$man"
  md=$(put_blob "$man")
  jq --arg d "$md" --argjson s "$(stat -c %s "$man")" --arg r "$ref" \
    '.manifests = [.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] != $r)]
     + [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
         annotations: {"org.opencontainers.image.ref.name": $r}}]' \
    "$S/index.json" > "$IT_DIR/index.json"
  cp "$IT_DIR/index.json" "$S/index.json"
}

# snap DIR: every entry below DIR: type, mode, owner, path, link target and
# the sha256 of files.
snap() {
  (cd "$1" && find . -mindepth 1 -printf '%y %m %u %p %l\n' | LC_ALL=C sort \
    | while read -r t m u p l; do
      if [ "$t" = f ]; then echo "$t $m $u $p $(sha256sum < "$p" | cut -c1-64)"; else echo "$t $m $u $p $l"; fi
    done)
}

# scratch_left DIR: scratch entries (ours or planted) in DIR.
scratch_left() { find "$1" -maxdepth 1 -name '.modelpack-*' -printf '%P\n' | LC_ALL=C sort; }

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }

# ---- (a) a file in a tar layer where DIR has the user's directory ---------------------
mktar "$IT_DIR/a.tar" f:data:model-data f:other.bin:model-other
store_model $H/a:1 "tar|weights|$IT_DIR/a.tar"
D=$IT_DIR/a
mkdir -p "$D/data/sub"
echo "precious one" > "$D/data/one.txt"
echo "precious two" > "$D/data/sub/two.txt"
before=$(snap "$D")
it_expect_exit "(a) a tar layer's file where DIR has a directory" 9 "$D/data" mp extract $H/a:1 "$D"
it_expect_eq "(a) ... the user's files intact, nothing of the model in DIR" "$before" "$(snap "$D")"
it_expect_exit "(a) the same with --force: still refused (a directory is never replaced)" 9 "$D/data is a directory" \
  mp extract $H/a:1 "$D" --force
it_expect_eq "(a) ... the user's files intact, nothing of the model in DIR" "$before" "$(snap "$D")"
it_expect_eq "(a) ... and no scratch directory left" "" "$(scratch_left "$D")"

# ---- (b) a file in a tar layer where DIR has a file -----------------------------------
mktar "$IT_DIR/b.tar" f:x:model-x f:y:model-y
store_model $H/b:1 "tar|bundle|$IT_DIR/b.tar"
D=$IT_DIR/b
mkdir -p "$D"
echo user-x > "$D/x"
before=$(snap "$D")
it_expect_exit "(b) a tar layer's file where DIR has one, without --force" 9 "$D/x exists" mp extract $H/b:1 "$D"
it_expect_eq "(b) ... DIR unchanged (x the user's, no y)" "$before" "$(snap "$D")"
rc=0; mp -q extract $H/b:1 "$D" --force || rc=$?
it_expect_eq "(b) with --force: x replaced, y written" "0 model-x model-y" "$rc $(cat "$D/x") $(cat "$D/y")"

# ---- (c) the second layer fails: DIR unchanged ----------------------------------------
mktar "$IT_DIR/c1.tar" l:link:l1file f:l1file:first
printf 'second layer bytes\n' > "$IT_DIR/c2.raw"
store_model $H/c:1 "tar|first|$IT_DIR/c1.tar" "raw|w.bin|$IT_DIR/c2.raw"
c2=$(sha256sum < "$IT_DIR/c2.raw" | cut -c1-64)
printf 'second layer BYTES\n' > "$S/blobs/sha256/$c2"
D=$IT_DIR/c
mkdir -p "$D/keep"
echo mine > "$D/keep/mine.txt"
before=$(snap "$D")
rc=0; mp extract $H/c:1 "$D" 2> "$IT_DIR/err" || rc=$?
it_check "(c) a corrupt second layer: the extract fails ($rc: $(cat "$IT_DIR/err"))" test "$rc" != 0
it_expect_eq "(c) ... DIR unchanged: no symlink, no file of the first layer" "$before" "$(snap "$D")"
it_expect_eq "(c) ... no scratch directory left" "" "$(scratch_left "$D")"
# The second layer is good but only fails to move: d is a file in DIR.
mktar "$IT_DIR/c3.tar" f:d/f:second
store_model $H/c:2 "tar|first|$IT_DIR/c1.tar" "tar|second|$IT_DIR/c3.tar"
echo user-d > "$D/d"
before=$(snap "$D")
it_expect_exit "(c) a second layer's directory where DIR has a file, with --force" 9 "$D/d is a file" \
  mp extract $H/c:2 "$D" --force
it_expect_eq "(c) ... DIR unchanged: nothing of the first layer moved" "$before" "$(snap "$D")"
it_expect_eq "(c) ... no scratch directory left" "" "$(scratch_left "$D")"

# ---- (d) symlinks planted at scratch names in a world-writable DIR --------------------
OUT=$IT_DIR/outside
mkdir -p "$OUT"
echo root-only > "$OUT/marker"
chmod 0755 "$OUT"
out_before=$(snap "$OUT")
mktar "$IT_DIR/d.tar" f:w/model.bin:weights f:cfg.json:config
store_model $H/d:1 "tar|w|$IT_DIR/d.tar"

# plant DIR PID...: as nobody, symlinks to $OUT at every scratch name those
# pids' extracts would have used before.
plant() {
  local dir=$1
  shift
  as_nobody bash -c 'd=$1 o=$2; shift 2; for p; do
      ln -s "$o" "$d/.modelpack-extract.$p"; ln -s "$o" "$d/.modelpack-fetch.$p"; done 2> /dev/null; true' \
    _ "$dir" "$OUT" "$@"
}

# stopped_extract DIR ARGS...: start "$MP ARGS..." stopped, so that its pid is
# known before it runs; plant symlinks for it and for the next 200 pids,
# then let it go.  Sets rc.
stopped_extract() {
  local dir=$1 pid next
  shift
  bash -c 'kill -STOP $$; exec "$@"' _ "$MP" "$@" > /dev/null 2> "$IT_DIR/err" &
  pid=$!
  it_wait_for 10 "the extract to stop" grep -q '^State:.*T' "/proc/$pid/status" || true
  next=$(cat /proc/sys/kernel/ns_last_pid)
  plant "$dir" "$pid" $(seq $((next + 1)) $((next + 200)))
  kill -CONT "$pid"
  rc=0; wait "$pid" || rc=$?
}

for mode in 1777 0777; do
  D=$IT_DIR/ww$mode
  mkdir -p "$D"
  chmod "$mode" "$D"
  stopped_extract "$D" --store "$S" extract $H/d:1 "$D"
  it_expect_eq "(d) DIR $mode, symlinks planted at scratch names: the extract succeeds ($(cat "$IT_DIR/err"))" \
    "0 weights config" "$rc $(cat "$D/w/model.bin" 2> /dev/null) $(cat "$D/cfg.json" 2> /dev/null)"
  it_expect_eq "(d) ... nothing written outside DIR" "$out_before" "$(snap "$OUT")"
  it_check "(d) ... the planted symlinks are nobody's and still symlinks (not followed, not removed)" \
    test -z "$(find "$D" -maxdepth 1 -name '.modelpack-*' ! \( -type l -user nobody \))"
done

# ---- (e) stale scratch directories ---------------------------------------------------
D=$IT_DIR/e
mkdir -p "$D/.modelpack-extract.999999.0123456789abcdef/tree/w" "$D/.modelpack-extract.4194304.fedcba9876543210"
echo partial > "$D/.modelpack-extract.999999.0123456789abcdef/tree/w/model.bin"
chmod 0700 "$D"/.modelpack-extract.*
LIVE=$D/.modelpack-extract.$$.1111111111111111
mkdir -p "$LIVE"
echo working > "$LIVE/file"
flock --no-fork "$LIVE" sleep 300 &
LOCKER=$!
it_wait_for 10 "the lock on $LIVE" bash -c "! flock -n '$LIVE' true" || true
mkdir "$D/.modelpack-extract.12345.nobodys"
chown nobody:nogroup "$D/.modelpack-extract.12345.nobodys"
ln -s "$OUT" "$D/.modelpack-extract.1.symlink"
rc=0; mp -q extract $H/d:1 "$D" || rc=$?
it_expect_eq "(e) an extract into a DIR with scratch leftovers: succeeds" 0 "$rc"
it_expect_eq "(e) ... the dead extracts' scratch directories are removed; a live (flocked) one, another user's and a symlink are kept" \
  "$(printf '%s\n' ".modelpack-extract.$$.1111111111111111" .modelpack-extract.1.symlink \
    .modelpack-extract.12345.nobodys | LC_ALL=C sort)" "$(scratch_left "$D")"
it_expect_eq "(e) ... the live one's content intact" working "$(cat "$LIVE/file")"
it_expect_eq "(e) ... nothing removed through the symlink" "$out_before" "$(snap "$OUT")"
it_kill_wait "$LOCKER" 2

# ---- (f) DIR/sub a symlink to elsewhere ------------------------------------------------
OUT2=$IT_DIR/outside2
mkdir -p "$OUT2"
echo theirs > "$OUT2/file"
out2_before=$(snap "$OUT2")
mktar "$IT_DIR/f.tar" f:sub/file:model-file f:sub/new:model-new
store_model $H/f:1 "tar|pkg|$IT_DIR/f.tar"
D=$IT_DIR/f
mkdir -p "$D"
ln -s "$OUT2" "$D/sub"
it_expect_exit "(f) DIR/sub a symlink, the model has sub/file: refused without --force" 9 "$D/sub exists" \
  mp extract $H/f:1 "$D"
it_expect_eq "(f) ... the symlink's target unchanged" "$out2_before" "$(snap "$OUT2")"
rc=0; mp -q extract $H/f:1 "$D" --force 2> "$IT_DIR/err" || rc=$?
it_expect_eq "(f) with --force: the symlink is replaced by the model's directory ($(cat "$IT_DIR/err"))" \
  "0 d model-file" "$rc $(stat -c %F "$D/sub" | cut -c1) $(cat "$D/sub/file" 2> /dev/null)"
it_expect_eq "(f) ... the symlink's target unchanged" "$out2_before" "$(snap "$OUT2")"

# ---- (r) a model read from a registry ---------------------------------------------------
if it_start_registry; then
  R=$REGISTRY/ml/hostile
  mkdir -p "$IT_DIR/src"
  head -c 300000 /dev/urandom > "$IT_DIR/src/model.safetensors"
  echo '{"model_type": "tiny"}' > "$IT_DIR/src/config.json"
  printf 'NAME hostile\nMODEL model.safetensors\nCONFIG config.json\n' > "$IT_DIR/src/Modelfile"
  mp -q pack --src "$IT_DIR/src" --tag "$R:1" --format tar --push > /dev/null 2>&1 || true
  RS=$IT_DIR/store-empty
  D=$IT_DIR/r
  rc=0; "$MP" --store "$RS" -q extract "$R:1" "$D" 2> "$IT_DIR/err" || rc=$?
  it_expect_eq "(r) extract from the registry ($(cat "$IT_DIR/err"))" \
    "0 $(sha256sum < "$IT_DIR/src/model.safetensors")" "$rc $(sha256sum < "$D/model.safetensors" 2> /dev/null)"
  it_expect_eq "(r) ... nothing of the fetch left in DIR" "" "$(scratch_left "$D")"
  it_check "(r) ... the store untouched" test -z "$(ls -A "$RS/blobs/sha256" 2> /dev/null)"
  it_expect_exit "(r) a missing tag" 4 "nope" "$MP" --store "$RS" extract "$R:nope" "$IT_DIR/r2"
  it_expect_eq "(r) ... nothing of the fetch left in DIR" "" "$(scratch_left "$IT_DIR/r2")"
  for mode in 1777 0777; do
    D=$IT_DIR/rww$mode
    mkdir -p "$D"
    chmod "$mode" "$D"
    stopped_extract "$D" --store "$RS" extract "$R:1" "$D"
    it_expect_eq "(r) from the registry into a $mode DIR with planted symlinks: succeeds ($(cat "$IT_DIR/err"))" \
      0 "$rc"
    it_expect_eq "(r) ... nothing written outside DIR" "$out_before" "$(snap "$OUT")"
  done
  # The registry serves the weights' blob with one byte changed.
  w=$(jq -r '.layers[] | select(.annotations["org.cncf.model.filepath"] == "model.safetensors") | .digest' \
    "$S/blobs/sha256/$(jq -r --arg r "$R:1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$S/index.json" | cut -c8-)")
  data=$(find "$IT_DIR/reg" -path "*/blobs/sha256/*/${w#sha256:}/data")
  if [ -n "$data" ]; then
    printf 'X' | dd of="$data" bs=1 seek=100 conv=notrunc status=none
    D=$IT_DIR/r3
    mkdir -p "$D"
    echo mine > "$D/mine"
    before=$(snap "$D")
    rc=0; "$MP" --store "$RS" extract "$R:1" "$D" 2> "$IT_DIR/err" || rc=$?
    it_check "(r) a corrupt blob from the registry: the extract fails ($rc: $(cat "$IT_DIR/err"))" test "$rc" != 0
    it_expect_eq "(r) ... DIR unchanged, nothing of the fetch left" "$before" "$(snap "$D")"
  else
    it_fail "(r) the weights' blob in the registry's storage"
  fi
else
  it_fail "docker-registry starts"
fi

it_done
