#!/usr/bin/env bash
# CI check of the container image (issue 25): builds it with scripts/build_image.sh (Debian's
# podman, FROM scratch), then runs `dtag --version` in it and compares with the binary's.
#
# `podman run` needs the OCI runtime (crun) to set the container's resource limits. Where the
# machine forbids that (this project's CI sandbox: "crun: setrlimit `RLIMIT_NOFILE`:
# Operation not permitted"), the image is still run, as a root file system of its own: its
# files are exported from a container (`podman create` + `podman export`) and `dtag --version`
# runs under chroot in them, so the binary finds nothing but the image's own loader and
# libraries. The script says which of the two it did.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
IMAGE=localhost/dtag:$VERSION
bash scripts/build_image.sh "$IMAGE"
expected=$("$TARGET_DIR/release/dtag" --version)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dtag-image.XXXXXX")
CONTAINER=
cleanup() {
  [[ -n $CONTAINER ]] && podman rm --force "$CONTAINER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if got=$(podman run --rm "$IMAGE" --version 2>"$WORK/run.err"); then
  how="podman run --rm $IMAGE --version"
else
  echo "podman run cannot start containers here: $(tr '\n' ' ' <"$WORK/run.err")"
  grep -q "setrlimit" "$WORK/run.err" || { echo "(not the known sandbox limit)" >&2; exit 1; }
  CONTAINER=$(podman create "$IMAGE")
  mkdir "$WORK/rootfs"
  podman export "$CONTAINER" | tar -x -C "$WORK/rootfs"
  got=$(chroot --userspec=65534:65534 "$WORK/rootfs" /usr/local/bin/dtag --version)
  # The shell of the Kubernetes Jobs runs from the image too.
  shell=$(env -i PATH=/usr/local/bin:/bin "$(command -v chroot)" --userspec=65534:65534 "$WORK/rootfs" /bin/sh -c 'exec dtag --version')
  [[ $shell == "$got" ]] || { echo "/bin/sh in the image does not find dtag on its PATH" >&2; exit 1; }
  how="the image's files exported and run under chroot (podman export $IMAGE)"
fi
echo "$how: $got"
[[ $got == "$expected" ]] || { echo "expected: $expected" >&2; exit 1; }
echo "image $IMAGE runs dtag ($got)"

# No cluster here: the Kubernetes manifests are parsed, and every container must be this image.
if ! python3 -c 'import yaml' 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null
fi
python3 - "$IMAGE" deploy/kubernetes/*.yaml <<'PY'
import sys, yaml
image, files = sys.argv[1], sys.argv[2:]
for path in files:
    for doc in yaml.safe_load_all(open(path)):
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            if container["image"] != image:
                sys.exit(f"{path}: container {container['name']} runs {container['image']}, not {image}")
        print(f"{path}: {doc['kind']} {doc['metadata']['name']}")
PY
