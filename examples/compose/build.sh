#!/usr/bin/env bash
# Builds the three services of compose.yaml with `tsbuild bake`, offline: the shared base is the
# busybox image made from Debian's busybox-static (see examples/hello/build.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="${TSBUILD_EXAMPLE_DIR:-${TMPDIR:-/tmp}/tsbuild-example-$(id -u)}"
mkdir -p "$work"
if [ ! -f "$work/busybox/index.json" ]; then
  if [ "$(id -u)" = 0 ]; then
    "$repo/fixtures/busybox/make-busybox-image.sh" "$work/busybox" latest >/dev/null
  else
    unshare --map-root-user --map-auto "$repo/fixtures/busybox/make-busybox-image.sh" "$work/busybox" latest >/dev/null
  fi
fi
BASE_LAYOUT="$work/busybox" "$repo/bin/tsbuild" bake -f "$here/compose.yaml" "$@"
