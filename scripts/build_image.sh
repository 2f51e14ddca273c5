#!/usr/bin/env bash
# Builds dtag's container image (deploy/image/Containerfile) with Debian's podman: compiles
# dtag, stages it with the shared libraries `ldd` lists for it (and /bin/sh with its own)
# under target/image/rootfs, and builds the image FROM scratch, tagged IMAGE (default
# localhost/dtag:VERSION). Then checks that the image runs `dtag --version` (see
# scripts/test_image.sh for where that can and cannot be done with `podman run`).
#
# Usage: scripts/build_image.sh [IMAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
IMAGE=${1:-localhost/dtag:$VERSION}
if ! command -v podman >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq podman >/dev/null
fi

cargo build --release --quiet
CONTEXT=$TARGET_DIR/image
rm -rf "$CONTEXT"
ROOTFS=$CONTEXT/rootfs
mkdir -p "$ROOTFS/usr/local/bin" "$ROOTFS/bin" "$ROOTFS/data" "$ROOTFS/tmp"
chmod 1777 "$ROOTFS/tmp"
cp "$TARGET_DIR/release/dtag" "$ROOTFS/usr/local/bin/dtag"
# Line tables are for profiles and backtraces on the build machine; the image need not carry them.
strip --strip-debug "$ROOTFS/usr/local/bin/dtag"
cp "$(readlink -f /bin/sh)" "$ROOTFS/bin/sh"

# Every library the dynamic loader resolves for each program, at the path it resolves it
# from (the loader itself at its absolute path), symlinks followed.
libraries() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}
for program in "$ROOTFS/usr/local/bin/dtag" "$ROOTFS/bin/sh"; do
  for lib in $(libraries "$program"); do
    mkdir -p "$ROOTFS$(dirname "$lib")"
    cp -L "$lib" "$ROOTFS$lib"
  done
done
echo "image files:"
(cd "$ROOTFS" && find . -type f -printf '  %p %s bytes\n' | sort)

podman build --quiet -f deploy/image/Containerfile -t "$IMAGE" "$CONTEXT"
podman image inspect --format '{{.Id}} {{.Size}} bytes' "$IMAGE"
echo "built $IMAGE"
