#!/usr/bin/env bash
# The README's main-job command. For now it demonstrates sparsecopy on the sample disk image
# (samples/sparsecopy/make-sample-disk.sh): a sparse copy, a compressed copy, and an empty sparse file,
# each checked with sha256sum and du. Output goes to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x artifacts/bin/sparsecopy ]; then
  sparsecopy=artifacts/bin/sparsecopy          # the Native AOT build, when scripts/publish.sh made one
else
  dotnet build src/SparseCopy -c Release --nologo -v quiet >/dev/null
  sparsecopy=src/SparseCopy/bin/Release/net10.0/sparsecopy
fi
demo=out/demo
rm -rf "$demo"
mkdir -p "$demo"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

bash samples/sparsecopy/make-sample-disk.sh "$demo/disk.img"
run ls -ls "$demo/disk.img"

# 1. A sparse copy: holes are not read, zeros are not written; --verify reads DEST back.
run "$sparsecopy" -p --verify "$demo/disk.img" "$demo/copy.img"
run sha256sum "$demo/disk.img" "$demo/copy.img"
run du -h --apparent-size "$demo/copy.img"
run du -h "$demo/copy.img"

# 2. Compressed input is recognised by its magic and unpacked on the fly, still sparse.
gzip -c "$demo/disk.img" > "$demo/disk.img.gz"
run ls -l "$demo/disk.img.gz"
run "$sparsecopy" --json "$demo/disk.img.gz" "$demo/from-gzip.img"
run sha256sum "$demo/from-gzip.img"
run du -h "$demo/from-gzip.img"

# 3. v0.10's idiom for an empty sparse file of a given size.
run "$sparsecopy" -f2G /dev/null "$demo/empty.img"
run ls -ls "$demo/empty.img"

if [ "$(sha256sum < "$demo/disk.img")" = "$(sha256sum < "$demo/copy.img")" ] \
   && [ "$(sha256sum < "$demo/disk.img")" = "$(sha256sum < "$demo/from-gzip.img")" ]; then
  printf '\ndemo: OK, copies are identical to the sample and sparse (files in %s)\n' "$demo"
else
  echo "demo: copies differ from the sample" >&2
  exit 1
fi
