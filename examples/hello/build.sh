#!/usr/bin/env bash
# Builds examples/hello with no registry and no internet: the busybox base image is made from
# Debian's busybox-static by fixtures/busybox/make-busybox-image.sh and handed to the build as a
# named context (BuildKit's --build-context NAME=oci-layout://PATH:TAG).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="${TSBUILD_EXAMPLE_DIR:-${TMPDIR:-/tmp}/tsbuild-example-$(id -u)}"
mkdir -p "$work"

if [ ! -x /bin/busybox ]; then
  echo "examples/hello needs Debian's busybox-static: sudo apt-get install -y busybox-static" >&2
  exit 1
fi
if [ ! -f "$work/busybox/index.json" ]; then
  if [ "$(id -u)" = 0 ]; then
    "$repo/fixtures/busybox/make-busybox-image.sh" "$work/busybox" latest >/dev/null
  else
    # The fixture script writes owners with tar, which needs root; in a user namespace we are root.
    unshare --map-root-user --map-auto "$repo/fixtures/busybox/make-busybox-image.sh" "$work/busybox" latest >/dev/null
  fi
fi

"$repo/bin/tsbuild" build --progress plain -t hello:1 \
  --build-context "busybox=oci-layout://$work/busybox:latest" \
  -o "type=oci,dest=$work/hello-oci,tar=false" \
  "$here"
echo "OCI layout written to $work/hello-oci (tag 1); list the store with: $repo/bin/tsbuild images"
