#!/bin/sh
# The source folders depend on each other one way only (STYLE.md):
#
#   cmd/ -> cli/, plugin/ -> snapshotter/, store/, registry/ -> model/ -> util/
#
# Each folder may include only the folders listed for it below (and
# generated protocol headers where noted); an include outside its list is
# printed with its file and line, and the check fails.
set -eu
cd "$(dirname "$0")/.."

# folder: what it may include besides itself
allowed() {
  case $1 in
    util) echo "" ;;
    model) echo "util" ;;
    registry) echo "model util" ;;
    store) echo "model util" ;;
    snapshotter) echo "util" ;;
    plugin) echo "snapshotter store registry model util PROTO" ;;
    cli) echo "plugin snapshotter store registry model util" ;;
    cmd) echo "cli plugin snapshotter store registry model util" ;;
  esac
}
# The protocol headers protoc-c generates (build/gen/<dir>/...).
PROTO="content google images leases snapshots types cri"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for dir in util model registry store snapshotter plugin cli cmd; do
  ok="$dir $(allowed "$dir")"
  case " $ok " in *" PROTO "*) ok="$ok $PROTO" ;; esac
  for f in "$dir"/*.c "$dir"/*.h; do
    [ -e "$f" ] || continue
    grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z_]+/' "$f" \
      | while IFS= read -r line; do
        inc=$(printf '%s\n' "$line" | sed -E 's/^[0-9]+:[^"]*"([a-z_]+)\/.*/\1/')
        case " $ok " in
          *" $inc "*) ;;
          *) echo "$f:${line%%:*}: $dir/ must not include $inc/ (${line#*:})" ;;
        esac
      done
  done
done > "$out"
if [ -s "$out" ]; then
  cat "$out" >&2
  echo "layers: includes against the dependency order (scripts/check-layers.sh)" >&2
  exit 1
fi
echo "layers: ok"
