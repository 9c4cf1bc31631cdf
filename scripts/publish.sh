#!/usr/bin/env bash
# Builds what users run.
#
#   scripts/publish.sh [DIR]            Native AOT sparsecopy and fsmaker for this machine into DIR
#                                       (default artifacts/bin): what the AOT smoke tests run.
#   scripts/publish.sh rid RID DIR      one runtime identifier's binaries, unarchived, into DIR:
#                                       linux-x64, linux-arm64 (Native AOT; arm64 cross-compiled with Debian's
#                                       aarch64 toolchain), win-x64, osx-x64, osx-arm64 (self-contained single file).
#   scripts/publish.sh pack DIR         dotnet pack: the two .NET tools and ImageTools.Core, with symbols (.snupkg).
#   scripts/publish.sh release [DIR]    every RID above archived with LICENSE (tar.gz; zip for Windows), plus the
#                                       packages, and SHA256SUMS over them all, into DIR (default artifacts/release).
#
# Needs clang (+ gcc-aarch64-linux-gnu, libc6-dev-arm64-cross for linux-arm64; scripts/install-test-deps.sh
# installs them); the runtime packs come from NuGet. Trim/AOT warnings are errors, as everywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

projects=(src/SparseCopy/SparseCopy.csproj src/FsMaker/FsMaker.csproj)

# The repository address for package metadata, from the clone's own remote (nothing is guessed).
repository_url() {
  local url
  url="$(git remote get-url origin 2>/dev/null | sed -e 's#^git@\([^:]*\):#https://\1/#' -e 's#\.git$##' || true)"
  # A clone of a local folder (CI's) has no public address: leave the field out rather than name a path.
  case "$url" in https://*) echo "$url" ;; esac
}

publish_rid() {
  local rid="$1" out="$2"
  mkdir -p "$out"
  local flavour=()
  case "$rid" in
    linux-x64 | linux-arm64)
      flavour=(-p:PublishAot=true)
      ;;
    win-x64 | osx-x64 | osx-arm64)
      # Self-contained single file, trimmed. Windows: every file is extracted on first start (to
      # %TEMP%\.net), because Wine, which the tests run it under, cannot map the runtime out of the bundle.
      flavour=(--self-contained -p:PublishAot=false -p:PublishSingleFile=true -p:PublishTrimmed=true
               -p:EnableCompressionInSingleFile=false -p:DebugType=none)
      if [ "$rid" = win-x64 ]; then
        flavour+=(-p:IncludeAllContentForSelfExtract=true)
      fi
      ;;
    *) echo "publish.sh: unknown runtime identifier $rid (use linux-x64, linux-arm64, win-x64, osx-x64, osx-arm64)" >&2; exit 2 ;;
  esac
  for project in "${projects[@]}"; do
    dotnet publish "$project" -c Release -r "$rid" "${flavour[@]}" -o "$out" --nologo -v quiet
  done
  # Only the executables are kept: debug symbols stay in obj/, the library's XML docs go in the package.
  rm -f "$out"/*.dbg "$out"/*.pdb "$out"/*.xml
}

pack() {
  local out="$1" url
  mkdir -p "$out"
  url="$(repository_url)"
  for project in src/ImageTools.Core/ImageTools.Core.csproj "${projects[@]}"; do
    dotnet pack "$project" -c Release -o "$out" --nologo -v quiet ${url:+"-p:RepositoryUrl=$url"}
  done
}

case "${1:-}" in
  rid)
    [ $# -eq 3 ] || { echo "usage: publish.sh rid RID DIR" >&2; exit 2; }
    publish_rid "$2" "$3"
    ;;
  pack)
    [ $# -eq 2 ] || { echo "usage: publish.sh pack DIR" >&2; exit 2; }
    pack "$2"
    ls -l "$2"
    ;;
  release)
    out="$(realpath -m "${2:-artifacts/release}")"
    version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -n 1)"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    rm -rf "$out"
    mkdir -p "$out"
    for rid in linux-x64 linux-arm64 win-x64 osx-x64 osx-arm64; do
      name="imagetools-$version-$rid"
      publish_rid "$rid" "$work/$name"
      cp LICENSE README.md "$work/$name/"
      if [ "$rid" = win-x64 ]; then
        (cd "$work" && zip -qr -X "$out/$name.zip" "$name")
      else
        tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"
      fi
    done
    pack "$out"
    (cd "$out" && sha256sum -- *.tar.gz *.zip *.nupkg *.snupkg > SHA256SUMS)
    ls -l "$out"
    ;;
  *)
    out="${1:-artifacts/bin}"
    case "$(uname -m)" in
      x86_64) rid=linux-x64 ;;
      aarch64 | arm64) rid=linux-arm64 ;;
      *) echo "publish.sh: no Native AOT runtime identifier for $(uname -m)" >&2; exit 1 ;;
    esac
    publish_rid "$rid" "$out"
    ls -l "$out"
    ;;
esac
