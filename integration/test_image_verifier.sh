#!/bin/bash
# containerd 2.1.9's image verifiers ([plugins.'io.containerd.image-verifier.v1.bindir']:
# every executable in bin_dir runs before a transfer-service pull, a
# non-zero exit blocks it, its stdout is the reason) with
# modelpack-image-verifier applying the daemon's [signatures] policy
# (containers-policy.json, models signed with Debian unstable's cosign on
# docker-registry 2.8).  bin_dir holds two verifiers, run in name order:
# 00-log records its arguments and standard input and accepts; modelpack
# runs build/bin/modelpack-image-verifier -config <the daemon's config>.
#
#  1. containerd's default CRI pull (the transfer service: no
#     disable_snapshot_annotations = false in the CRI images section):
#     - every CRI PullImage calls the verifiers (the sandbox image, the
#       container image, the image volume's model), with -name REF -digest
#       D -stdin-media-type application/vnd.oci.descriptor.v1+json and the
#       descriptor on stdin;
#     - ml/signed (signed by the trusted key) pulls, the verifier's reason
#       (accepted, scope) in containerd's log, and the pod mounts it;
#     - ordinary images (pause, busybox) pass: "not a ModelPack model";
#     - ml/unsigned is refused at PullImage: the CRI error carries our
#       reason (reference, digest, policy, scope, requirement, finding);
#       containerd keeps no image record of it;
#     - blocked/x (a reject scope) is refused at PullImage.
#  2. ctr: `ctr image pull` (transfer service) is refused with the same
#     reason; `ctr image pull --local` bypasses the verifiers (nothing
#     logged) and pulls; the daemon still refuses the pod at
#     CreateContainer (kubelet's IfNotPresent: no PullImage).
#  3. The CRI as config/containerd-2.x.toml sets it up
#     (disable_snapshot_annotations = false: containerd falls back to its
#     in-process pull): PullImage calls no verifier at all (nothing
#     logged), blocked/x (never pulled before) pulls, and only the
#     daemon's check at CreateContainer refuses it.
# If containerd changes which pulls run verifiers, 1 or 3 fails.
#
# usage: test_image_verifier.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_cri.sh"

it_setup image_verifier
if [ "$IT_SN" != modelpack ]; then
  it_fail "this test is for our snapshotter (IT_SNAPSHOTTER=$IT_SN)"
  it_done
fi
COSIGN=$IT_UNSTABLE_BIN/cosign
IV_BIN=$IT_BUILD/bin/modelpack-image-verifier
[ -x "$COSIGN" ] || { it_fail "cosign in $IT_UNSTABLE_BIN (make unstable)"; it_done; }
[ -x "$IV_BIN" ] || { it_fail "$IV_BIN is built (make)"; it_done; }
export HOME=$IT_DIR/home COSIGN_PASSWORD=test-password
mkdir -p "$HOME"
it_start_registry || { it_fail "docker-registry starts"; it_done; }

# ---- models, signatures, policy -------------------------------------------------
M=$IT_DIR/models
mkdir -p "$M"
declare -A D
model() { # NAME SHAPE REPO: build-model.sh's SHAPE pushed as $REGISTRY/REPO:1
  bash "$IT_REPO/integration/build-model.sh" "$2" "$M/$1" "$REGISTRY/$3:1" > "$M/$1.digest" 2> "$M/$1.log" \
    || { cat "$M/$1.log" >&2; return 1; }
  D[$1]=$(tail -n 1 "$M/$1.digest")
}
model signed raw ml/signed && model unsigned tar ml/unsigned && model blocked overlap blocked/x \
  || { it_fail "models built and pushed"; it_done; }
(cd "$IT_DIR" && "$COSIGN" generate-key-pair > /dev/null 2>&1) || true
"$COSIGN" sign --key "$IT_DIR/cosign.key" --use-signing-config=false --tlog-upload=false \
  --allow-insecure-registry -y "$REGISTRY/ml/signed@${D[signed]}" > "$IT_DIR/cosign-sign.log" 2>&1 \
  && it_pass "ml/signed, ml/unsigned, blocked/x pushed; ml/signed signed with cosign" \
  || { it_fail "cosign sign (cosign-sign.log)"; it_done; }
POLICY=$IT_DIR/policy.json
cat > "$POLICY" <<EOF
{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      "$REGISTRY/ml": [{"type": "sigstoreSigned", "keyPath": "$IT_DIR/cosign.pub"}],
      "$REGISTRY/blocked": [{"type": "reject"}]
    }
  }
}
EOF
mkdir -p "$IT_DIR/c"
it_cri_registry_hosts "$IT_DIR/c/certs.d"
# The daemon's config, read by both the daemon and the verifier.
cat > "$IT_DIR/sig.toml" <<EOF
[image_volumes]
containerd_address = "$IT_DIR/c.sock"

[signatures]
policy = "$POLICY"
notation = ""
hosts_dir = "$IT_DIR/c/certs.d"
EOF

# ---- the verifiers ------------------------------------------------------------------
VD=$IT_DIR/verifiers
VLOG=$IT_DIR/verifier-calls.log
mkdir -p "$VD"
cat > "$VD/00-log" <<EOF
#!/bin/sh
{ printf 'call'; printf ' [%s]' "\$@"; printf '\nstdin '; cat; } >> "$VLOG"
echo "logged"
EOF
cp "$IV_BIN" "$IT_DIR/modelpack-image-verifier"
cat > "$VD/modelpack" <<EOF
#!/bin/sh
exec "$IT_DIR/modelpack-image-verifier" -config "$IT_DIR/sig.toml" "\$@"
EOF
chmod 0755 "$VD/00-log" "$VD/modelpack"
: > "$VLOG"
cat > "$IT_DIR/verifier.toml" <<EOF
[plugins.'io.containerd.image-verifier.v1.bindir']
  bin_dir = '$VD'
  max_verifiers = 10
  per_verifier_timeout = '20s'
EOF
export CRI_EXTRA_TOML=$IT_DIR/verifier.toml
calls() { grep -c '^call' "$VLOG" || true; }

CRI_PULL=transfer
export CRI_PULL
if ! it_start_snapshotter --config "$IT_DIR/sig.toml" --containerd-root "$IT_DIR/c/root" \
  || ! it_start_containerd_cri; then
  it_fail "snapshotter and containerd 2.x with the CRI start"
  it_done
fi
it_pass "containerd $("$CRI_VOLUME" --address "$CRI_SOCK" --ping) with the CRI's default (transfer service) pull and two verifiers"
SCOPE="transports.docker[\"$REGISTRY/ml\"]"
hex() { echo "${D[$1]#sha256:}"; }
no_tree() { test -z "$(ls -A "$MP_ROOT/models/trees" 2>/dev/null | grep "^$(hex "$1")")"; }
no_record() { ! $CTR -n k8s.io images ls -q | grep -qxF "$1"; }

# ---- 1: the CRI's default pull -------------------------------------------------------
cri_expect_args "$M/signed"
cri_pod "[1] ml/signed: pulled through the verifiers, the pod mounts it" \
  --volume-ref "$REGISTRY/ml/signed:1" --name signed --exact "${EXPECT[@]}"
it_expect_eq "[1] the verifiers ran for each PullImage: sandbox image, container image, model" 3 "$(calls)"
it_check "[1] ... with -name REF -digest D -stdin-media-type (the model's call)" \
  grep -qxF "call [-name] [$REGISTRY/ml/signed:1] [-digest] [${D[signed]}] [-stdin-media-type] [application/vnd.oci.descriptor.v1+json]" "$VLOG"
it_check "[1] ... and the model's descriptor on stdin" \
  grep -qF "stdin {\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"${D[signed]}\"" "$VLOG"
it_check "[1] containerd logged modelpack-image-verifier's reason for ml/signed" \
  grep -qF "reason=\"00-log => logged, modelpack => $REGISTRY/ml/signed:1 (${D[signed]}): accepted by the signature policy, scope $(printf '%s' "$SCOPE" | sed 's/"/\\"/g')\"" "$CTD_LOG"
it_check "[1] ordinary images pass: \"not a ModelPack model\"" \
  grep -qF "modelpack => $REGISTRY/test/busybox:1: not a ModelPack model, the signature policy applies to models only" "$CTD_LOG"

REASON_UNSIGNED="image verifier bindir blocked pull of $REGISTRY/ml/unsigned:1 with digest ${D[unsigned]} for reason: verifier modelpack rejected image (exit code 10): $REGISTRY/ml/unsigned:1 (${D[unsigned]}): refused by the signature policy $POLICY, scope $SCOPE: requires a cosign/Sigstore signature by key $IT_DIR/cosign.pub, signedIdentity matchRepoDigestOrExact ($SCOPE[0]): no cosign or Sigstore signature found for ${D[unsigned]}"
cri_pod "[1] ml/unsigned: PullImage refused by the verifier" \
  --volume-ref "$REGISTRY/ml/unsigned:1" --name unsigned --expect-pull-error "$REASON_UNSIGNED"
it_check "[1] ... the CRI error is containerd's prefix and our reason, nothing after it" \
  grep -qxF "info refused with: /runtime.v1.ImageService/PullImage: Unknown: failed to pull and unpack image \"$REGISTRY/ml/unsigned:1\": $REASON_UNSIGNED" "$OUT"
it_check "[1] ... containerd has no image record of it" no_record "$REGISTRY/ml/unsigned:1"
it_check "[1] ... nothing of it in the model cache" no_tree unsigned
cri_pod "[1] blocked/x under a reject scope: PullImage refused" \
  --volume-ref "$REGISTRY/blocked/x:1" --name blocked \
  --expect-pull-error "verifier modelpack rejected image (exit code 10): $REGISTRY/blocked/x:1 (${D[blocked]}): refused by the signature policy $POLICY, scope transports.docker[\"$REGISTRY/blocked\"]: requires reject (transports.docker[\"$REGISTRY/blocked\"][0]): the policy rejects every image in this scope"
it_check "[1] ... containerd has no image record of it" no_record "$REGISTRY/blocked/x:1"

# ---- 2: ctr ----------------------------------------------------------------------------
n=$(calls)
rc=0
$CTR -n k8s.io image pull --hosts-dir "$IT_DIR/c/certs.d" "$REGISTRY/ml/unsigned:1" > "$IT_DIR/ctr-pull.out" 2>&1 || rc=$?
if [ "$rc" != 0 ] && grep -qF "ctr: $REASON_UNSIGNED" "$IT_DIR/ctr-pull.out"; then
  it_pass "[2] ctr image pull (transfer service): refused with the same reason"
else
  it_fail "[2] ctr image pull: exit $rc: $(cat "$IT_DIR/ctr-pull.out")"
fi
it_expect_eq "[2] ... the verifiers ran once more" $((n + 1)) "$(calls)"
n=$(calls)
$CTR -n k8s.io image pull --local --hosts-dir "$IT_DIR/c/certs.d" "$REGISTRY/ml/unsigned:1" > "$IT_DIR/ctr-local.out" 2>&1 \
  && it_pass "[2] ctr image pull --local: pulled, bypassing the verifiers" \
  || it_fail "[2] ctr image pull --local: $(tail -n 3 "$IT_DIR/ctr-local.out")"
it_expect_eq "[2] ... no verifier ran" "$n" "$(calls)"
cri_pod "[2] the model pulled around the verifiers: the daemon refuses the pod at CreateContainer" \
  --volume-ref "$REGISTRY/ml/unsigned:1" --name unsigned-local --if-not-present \
  --expect-create-error "$REGISTRY/ml/unsigned:1 (${D[unsigned]}): refused by the signature policy $POLICY, scope $SCOPE"
it_expect_eq "[2] ... no verifier ran (IfNotPresent: no PullImage)" "$n" "$(calls)"

# ---- 3: the CRI with disable_snapshot_annotations = false ------------------------------
it_stop_containerd
CRI_PULL=local
export CRI_PULL
it_start_containerd_cri || { it_fail "[3] containerd restarts with disable_snapshot_annotations = false"; it_done; }
it_check "[3] containerd says it falls back to its local pull" \
  grep -qF "Found 'DisableSnapshotAnnotations' in CRI config which is incompatible with transfer service" "$CTD_LOG"
n=$(calls)
it_check "[3] blocked/x is not in containerd yet" no_record "$REGISTRY/blocked/x:1"
cri_pod "[3] blocked/x: PullImage succeeds, the daemon refuses the pod at CreateContainer" \
  --volume-ref "$REGISTRY/blocked/x:1" --name blocked-crilocal \
  --expect-create-error "$REGISTRY/blocked/x:1 (${D[blocked]}): refused by the signature policy $POLICY, scope transports.docker[\"$REGISTRY/blocked\"]: requires reject"
it_check "[3] ... PullImage did pull it" grep -qF "ok   PullImage $REGISTRY/blocked/x:1" "$OUT"
it_check "[3] ... containerd has its image record" eval '! no_record "$REGISTRY/blocked/x:1"'
it_expect_eq "[3] ... and no verifier ran for any of the pod's pulls" "$n" "$(calls)"

it_stop_containerd
it_check "snapshotter exits 0 on SIGTERM" it_stop_snapshotter
it_done
