#!/usr/bin/env bash
# cache-rebuild.sh: a no-change rebuild of a 30-step Dockerfile, tsbuild vs `buildah bud --layers`.
#
# Both build the same Dockerfile (only the FROM spelling differs) on the busybox fixture image
# (an OCI layout made by fixtures/busybox/make-busybox-image.sh), each with its own fresh store,
# once to fill the cache, then hyperfine times the fully cached rebuild. Run as root from the
# repository (after `npm ci`); needs buildah and hyperfine (Debian packages).
#   bench/cache-rebuild.sh [RUNS]
set -euo pipefail
runs=${1:-10}
repo=$(cd "$(dirname "$0")/.." && pwd)
# lowercase: buildah parses FROM oci:PATH as an image name
work=/tmp/tsbuild-bench-cache-$$
rm -rf "$work" && mkdir -p "$work"
trap 'buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver vfs rmi -a -f >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

bash "$repo/fixtures/busybox/make-busybox-image.sh" "$work/base" latest >/dev/null
mkdir -p "$work/ctx/src"
for i in $(seq 1 20); do echo "file $i" >"$work/ctx/src/f$i.txt"; done
echo app >"$work/ctx/app.txt"

steps() {
  echo 'ARG VERSION=1'
  echo 'ENV APP_HOME=/app'
  echo 'WORKDIR /app'
  for i in $(seq 1 8); do
    echo "COPY src/f$i.txt /app/src/"
    echo "RUN echo step $i \$VERSION > /app/step$i && cat /app/src/f$i.txt >> /app/step$i"
  done
  for i in $(seq 1 5); do echo "LABEL step$i=$i"; done
  echo 'COPY app.txt /app/'
  echo 'RUN ls /app > /app/listing'
  echo 'EXPOSE 8080'
  echo 'USER 1000'
  echo 'ENV MODE=prod'
  echo 'CMD ["cat", "/app/listing"]'
}
{ echo 'FROM base'; steps; } >"$work/ctx/Dockerfile"
{ echo "FROM oci:$work/base:latest"; steps; } >"$work/ctx/Dockerfile.buildah"
count=$(($(grep -c . "$work/ctx/Dockerfile") - 1))
echo "Dockerfile: $count steps after FROM" >&2

tsbuild=(node "$repo/bin/run.js" build --root "$work/tsbuild" --progress quiet --build-context "base=oci-layout://$work/base:latest" -t bench:1 "$work/ctx")
buildah=(buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver vfs bud --layers --quiet -f "$work/ctx/Dockerfile.buildah" -t bench:1 "$work/ctx")
"${tsbuild[@]}" >/dev/null
"${buildah[@]}" >/dev/null

hyperfine --warmup 1 --runs "$runs" --export-json "$work/result.json" \
  -n tsbuild "$(printf '%q ' "${tsbuild[@]}")" \
  -n 'buildah --layers' "$(printf '%q ' "${buildah[@]}")"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
  const [t, b] = r.map((x) => x.mean);
  console.log(`tsbuild ${t.toFixed(3)} s, buildah --layers ${b.toFixed(3)} s, ratio buildah/tsbuild ${(b / t).toFixed(1)}x`);
' "$work/result.json"
