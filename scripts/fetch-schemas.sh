#!/usr/bin/env bash
# Fetches the JSON schemas the sbom tests validate fsmaker's output with, into the cache:
#   ${IMAGETOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagetools}/schemas/cyclonedx/
#     bom-1.5.SNAPSHOT.schema.json, spdx.SNAPSHOT.schema.json, jsf-0.82.SNAPSHOT.schema.json
# They come from the npm package @cyclonedx/cyclonedx-library (res/schema/), through npm pack, so the
# machine's own npm configuration decides where it is fetched from. Without npm (or without a network) it
# says so and exits 0: the schema tests then skip, saying why.
set -euo pipefail

cache="${IMAGETOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagetools}"
dir="$cache/schemas"
package="@cyclonedx/cyclonedx-library@10.3.0"
tarball="$dir/cyclonedx-cyclonedx-library-10.3.0.tgz"
out="$dir/cyclonedx"

if [ -f "$out/bom-1.5.SNAPSHOT.schema.json" ]; then
  exit 0
fi
mkdir -p "$dir"
if [ ! -f "$tarball" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "fetch-schemas: npm is not installed; the CycloneDX schema tests will be skipped" >&2
    exit 0
  fi
  if ! (cd "$dir" && timeout 300 npm pack --silent "$package" >/dev/null); then
    echo "fetch-schemas: npm pack $package failed; the CycloneDX schema tests will be skipped" >&2
    exit 0
  fi
fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
tar -xzf "$tarball" -C "$out.tmp" --strip-components=3 \
  package/res/schema/bom-1.5.SNAPSHOT.schema.json package/res/schema/spdx.SNAPSHOT.schema.json package/res/schema/jsf-0.82.SNAPSHOT.schema.json
rm -rf "$out" && mv "$out.tmp" "$out"
