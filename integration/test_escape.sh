#!/bin/bash
# Terminal and log injection: names and strings from a model (config fields,
# layer annotations, tar entry names, file names packed from a directory) and
# from the command line hold ESC sequences, BEL, newlines, quotes, C1 and
# bidi controls and invalid UTF-8.  What the CLI and the daemon print of
# them must reach no terminal raw:
#
#  - inspect, ls, extract, pack, rm, crio-store (text and --json) and the
#    error lines of failing commands: no ESC, BEL, C1 or bidi byte on stdout
#    or stderr, an error is one line, and --json output parses (jq,
#    python3 -m json.tool) with the strings intact;
#  - the daemon's log (a root directory whose name holds them): one logfmt
#    line per message, no raw control character.
#
# The store is written here by hand (python3), so the strings reach the CLI
# whether or not the model validation lets them through at pack time.
#
# usage: test_escape.sh
. "$(dirname "$0")/lib.sh"

it_setup escape
MP=$IT_BUILD/bin/modelpack
S=$IT_DIR/store
mp() { "$MP" --store "$S" "$@"; }

EVIL=$'evil\e]0;pwned\a\n"q" \e[2J'
REF=example.com/ml/escape:1

# ---- a store holding a model full of control characters ----------------------
python3 - "$S" "$REF" << 'EOF'
import hashlib, io, json, os, sys, tarfile

store, ref = sys.argv[1], sys.argv[2]
os.makedirs(store + "/blobs/sha256", exist_ok=True)
open(store + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')

def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{store}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)

evil = 'evil\x1b]0;pwned\x07\n"q" \x1b[2J'
# A raw layer whose path passes validation but is not plain text: a bidi
# override and a C1 CSI (valid UTF-8, no byte below 0x20), with a title
# holding everything.
raw, rawsize = blob(b"raw bytes\n")
# A tar layer whose entry names hold ESC and newline.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name in ("weights/", "weights/w\x1b]0;x\x07\nname.bin"):
        ti = tarfile.TarInfo(name.rstrip("/"))
        data = b"weights\n"
        if name.endswith("/"):
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
        else:
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))
tarb, tarsize = blob(buf.getvalue())
layers = [
    {"mediaType": "application/vnd.cncf.model.doc.v1.raw", "digest": raw,
     "size": rawsize,
     "annotations": {"org.cncf.model.filepath": "docs/rtl\u202etxt.md\u009b31m",
                     "org.opencontainers.image.title": evil}},
    {"mediaType": "application/vnd.cncf.model.weight.v1.tar", "digest": tarb,
     "size": tarsize,
     "annotations": {"org.cncf.model.filepath": "weights",
                     "org.opencontainers.image.title": evil}},
]
cfg = {"descriptor": {"name": evil, "family": "fam\u009b31m\u202e",
                      "version": "1.0", "createdAt": "2025-01-01T00:00:00Z"},
       "modelfs": {"type": "layers", "diffIds": [raw, tarb]},
       "config": {"architecture": "arch\x1b[31m", "format": "safetensors",
                  "paramSize": "1M", "precision": "q\x7f\"",
                  "quantization": "\\x1b literal"}}
c, csize = blob(json.dumps(cfg).encode())
man = {"schemaVersion": 2,
       "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "artifactType": "application/vnd.cncf.model.manifest.v1+json",
       "config": {"mediaType": "application/vnd.cncf.model.config.v1+json",
                  "digest": c, "size": csize},
       "layers": layers,
       "annotations": {"org.opencontainers.image.title": evil}}
m, msize = blob(json.dumps(man).encode())
json.dump({"schemaVersion": 2,
           "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": m, "size": msize,
                          "annotations": {"org.opencontainers.image.ref.name": ref},
                          "artifactType": "application/vnd.cncf.model.manifest.v1+json"}]},
          open(store + "/index.json", "w"))
EOF

# clean FILE: valid UTF-8 with no control character but newline (no ESC,
# BEL, DEL, C1, bidi or separator control).
clean() {
  python3 - "$1" << 'EOF'
import sys
b = open(sys.argv[1], "rb").read()
try:
    s = b.decode("utf-8")
except UnicodeDecodeError:
    sys.exit(1)
bad = [c for c in s if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f
       or c in "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
       or 0x2066 <= ord(c) <= 0x2069]
sys.exit(1 if bad else 0)
EOF
}

# run NAME CMD...: run CMD, keep stdout/stderr in $IT_DIR/NAME.{out,err}.
run() {
  local name=$1
  shift
  rc=0
  "$@" > "$IT_DIR/$name.out" 2> "$IT_DIR/$name.err" || rc=$?
}
# check_clean NAME WHAT: both streams of NAME free of control characters.
check_clean() {
  it_check "$2: stdout has no control character" clean "$IT_DIR/$1.out"
  it_check "$2: stderr has no control character" clean "$IT_DIR/$1.err"
}
# check_json NAME WHAT: stdout parses as JSON with jq and python3.
check_json() {
  it_check "$2: --json output parses (jq)" jq -e . "$IT_DIR/$1.out" > /dev/null
  it_check "$2: --json output parses (python3 -m json.tool)" \
    python3 -m json.tool "$IT_DIR/$1.out" > /dev/null
}
# check_one_line NAME WHAT: a failure is exactly one line on stderr.
check_one_line() {
  it_expect_eq "$2: fails with one error line" "fail 1" \
    "$([ "$rc" != 0 ] && echo fail || echo "ok?") $(wc -l < "$IT_DIR/$1.err")"
}

# ---- inspect ------------------------------------------------------------------
run inspect mp inspect "$REF"
it_expect_eq "inspect succeeds" 0 "$rc"
check_clean inspect "inspect"
it_check "inspect shows the name escaped" \
  grep -qF 'Name          evil\x1b]0;pwned\x07\n"q" \x1b[2J' "$IT_DIR/inspect.out"
it_check "inspect shows a literal backslash doubled" \
  grep -qF 'Quantization  \\x1b literal' "$IT_DIR/inspect.out"
it_check "inspect shows the path's bidi override and C1 byte escaped" \
  grep -qF 'docs/rtl\xe2\x80\xaetxt.md\xc2\x9b31m' "$IT_DIR/inspect.out"

run inspect_json mp inspect --json "$REF"
it_expect_eq "inspect --json succeeds" 0 "$rc"
check_clean inspect_json "inspect --json"
check_json inspect_json "inspect --json"
it_check "inspect --json keeps the strings as they are" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(not (d["name"] == sys.argv[2] and d["family"] == "fam\u009b31m\u202e"
              and d["files"][0]["path"] == "docs/rtl\u202etxt.md\u009b31m"
              and d["precision"] == "q\x7f\""))' "$IT_DIR/inspect_json.out" "$EVIL"

# ---- ls -------------------------------------------------------------------------
# A second model tagged with a name full of control characters goes through
# the index as it is (the store is ours to write).
jq --arg n "example.com/ml/escape:$EVIL" \
  '.manifests += [.manifests[0] | .annotations["org.opencontainers.image.ref.name"] = $n]' \
  "$S/index.json" > "$IT_DIR/index.json" && mv "$IT_DIR/index.json" "$S/index.json"
run ls mp ls
check_clean ls "ls"
it_expect_eq "ls: one line per model" 2 "$(wc -l < "$IT_DIR/ls.out")"
run ls_json mp --json ls
check_clean ls_json "ls --json"
check_json ls_json "ls --json"
it_expect_eq "ls --json gives the stored name back intact" \
  "example.com/ml/escape:$EVIL" \
  "$(jq -r '.[] | select(.reference != "'"$REF"'") | .reference' "$IT_DIR/ls_json.out")"

# ---- extract ----------------------------------------------------------------
run extract mp extract "$REF" "$IT_DIR/x"
check_clean extract "extract"
if [ "$rc" != 0 ]; then
  check_one_line extract "extract of a tar entry named with control characters"
else
  it_pass "extract of a tar entry named with control characters succeeds"
fi
run extract_json mp --json extract "$REF" "$IT_DIR/x2"
check_clean extract_json "extract --json"
[ "$rc" = 0 ] && check_json extract_json "extract --json"
# Files in the way: extract refuses, naming them.
mkdir -p "$IT_DIR/x3/weights" && cp -r "$IT_DIR/x/." "$IT_DIR/x3/" 2> /dev/null || true
run extract_fail mp extract "$REF" "$IT_DIR/x3"
check_clean extract_fail "extract into a non-empty directory"
check_one_line extract_fail "extract into a non-empty directory"

# ---- failing commands whose error names the input -----------------------
run bad_ref mp inspect $'example.com/ml/x:\e]0;pwned\a\nline2'
check_clean bad_ref "inspect of a reference that does not parse"
check_one_line bad_ref "inspect of a reference that does not parse"
run missing mp inspect $'example.com/ml/missing\e[31m:1'
check_clean missing "inspect of a missing model"
check_one_line missing "inspect of a missing model"
run rm_missing mp rm $'example.com/ml/x\u202e:1'
check_clean rm_missing "rm of a missing model"
run usage mp $'bad\e]0;x\acommand'
check_clean usage "an unknown command"
check_one_line usage "an unknown command"
# A config the validator refuses: the error quotes the field.
run bad_cfg_ref mp inspect "example.com/ml/escape:$EVIL"
check_clean bad_cfg_ref "inspect by a name with control characters"

# ---- pack of a directory whose file names hold control characters -----------
SRC=$IT_DIR/src
mkdir -p "$SRC"
echo hi > "$SRC/README.md"
touch "$SRC/$EVIL.md"
printf 'NAME x\nDOC README.md\nDOC evil*\n' > "$SRC/Modelfile"
run pack mp pack --src "$SRC" --tag example.com/ml/packed:1
check_clean pack "pack of a file named with control characters"
run pack_json mp --json pack --src "$SRC" --tag example.com/ml/packed:2
check_clean pack_json "pack --json of a file named with control characters"
[ "$rc" = 0 ] && check_json pack_json "pack --json"

# ---- crio-store ------------------------------------------------------------------
run crio_add mp crio-store add "$REF" --store "$IT_DIR/crio"
check_clean crio_add "crio-store add"
run crio_ls mp crio-store ls --store "$IT_DIR/crio"
check_clean crio_ls "crio-store ls"
run crio_ls_json mp --json crio-store ls --store "$IT_DIR/crio"
check_clean crio_ls_json "crio-store ls --json"
check_json crio_ls_json "crio-store ls --json"

# ---- the daemon's log -----------------------------------------------------------
# Its root's name holds the characters; the startup line names it.
ROOT="$IT_DIR/root$EVIL"
"$IT_BUILD/bin/modelpack-snapshotter" --root "$ROOT" --address "$IT_DIR/s.sock" \
  --log-level debug > "$IT_DIR/daemon.log" 2>&1 &
DPID=$!
it_wait_for 10 "the daemon's socket" test -S "$IT_DIR/s.sock" || true
kill -TERM "$DPID" 2> /dev/null || true
wait "$DPID" 2> /dev/null || true
it_check "daemon log: the startup line names the root, escaped" \
  grep -qF '(root '"$IT_DIR"'/rootevil\x1b]0;pwned\x07\n\"q\" \x1b[2J,' "$IT_DIR/daemon.log"
it_check "daemon log has no control character" clean "$IT_DIR/daemon.log"
it_check "daemon log: every line is one logfmt record" \
  bash -c "! grep -qvE '^time=[^ ]+ level=[a-z]+ msg=\"([^\"\\\\]|\\\\.)*\"\$' '$IT_DIR/daemon.log'"
# A bad log level from the command line is echoed escaped.
run daemon_bad "$IT_BUILD/bin/modelpack-snapshotter" --root "$IT_DIR/r2" \
  --address "$IT_DIR/s2.sock" --log-level $'x\e]0;y\a'
check_clean daemon_bad "the daemon's error for a bad log level"
check_one_line daemon_bad "the daemon's error for a bad log level"

it_done
