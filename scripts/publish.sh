#!/usr/bin/env bash
# Publishes sparsecopy and fsmaker as Native AOT executables (the form users run) into artifacts/bin/
# (or the folder given as $1). Needs clang and zlib1g-dev (scripts/install-test-deps.sh installs them);
# the ILCompiler package comes with the SDK. Trim/AOT warnings are errors, as everywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-artifacts/bin}"
case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64 | arm64) rid=linux-arm64 ;;
  *) echo "publish.sh: no Native AOT runtime identifier for $(uname -m)" >&2; exit 1 ;;
esac

mkdir -p "$out"
for project in src/SparseCopy/SparseCopy.csproj src/FsMaker/FsMaker.csproj; do
  dotnet publish "$project" -c Release -r "$rid" -p:PublishAot=true -o "$out" --nologo -v quiet
done
# The debug symbols stay in obj/; only the executables are kept.
rm -f "$out"/*.dbg "$out"/*.pdb "$out"/*.xml
ls -l "$out"
