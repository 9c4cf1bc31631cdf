#!/usr/bin/env bash
# Deterministic benchmark fixtures for sparsecopy (same bytes on every machine, every run):
#   sparse.img      4 GiB, 512 MiB of pseudo-random data in 200 extents, holes elsewhere
#   full.img        the same bytes, fully allocated (holes written as zeros)
#   sparse.img.gz   gzip -6 of it;  sparse.img.zst   zstd -3 of it
#   sparse.img.bmap / full.img.bmap   bmaptool's block maps (its copy needs one)
# Usage: make-fixtures.sh DIR   (about 9 GiB of disk; remove DIR when done)
set -euo pipefail
dir="${1:?usage: make-fixtures.sh DIR}"
mkdir -p "$dir"
cd "$dir"

MiB=$((1024 * 1024))
unit=$((64 * 1024))          # extents are whole 64 KiB units (file-system aligned)
image_size=$((4096 * MiB))
data_total=$((512 * MiB))
extents=200
slot=$((image_size / extents))

if [ ! -f sparse.img ]; then
  echo "make-fixtures: sparse.img" >&2
  rm -f sparse.img.tmp
  truncate -s "$image_size" sparse.img.tmp
  # AES-CTR over zeros with a fixed key: a reproducible stream of incompressible bytes.
  exec 3< <(openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 < /dev/zero 2>/dev/null)
  remaining=$((data_total / unit))
  for ((i = 0; i < extents; i++)); do
    if ((i == extents - 1)); then
      units=$remaining
    else
      units=$((16 + (i * 37) % 49))   # 1 to 4 MiB, varied; the last extent takes what is left
    fi
    remaining=$((remaining - units))
    offset=$((i * slot + ((i * 13) % 7) * MiB))
    dd if=/dev/fd/3 of=sparse.img.tmp bs="$unit" count="$units" seek=$((offset / unit)) \
      conv=notrunc iflag=fullblock status=none
  done
  exec 3<&-
  mv sparse.img.tmp sparse.img
fi
[ -f full.img ] || { echo "make-fixtures: full.img" >&2; cp --sparse=never sparse.img full.img.tmp && mv full.img.tmp full.img; }
[ -f sparse.img.gz ] || { echo "make-fixtures: sparse.img.gz" >&2; gzip -6 -c sparse.img > sparse.img.gz.tmp && mv sparse.img.gz.tmp sparse.img.gz; }
[ -f sparse.img.zst ] || { echo "make-fixtures: sparse.img.zst" >&2; zstd -3 -q -c sparse.img > sparse.img.zst.tmp && mv sparse.img.zst.tmp sparse.img.zst; }
[ -f sparse.img.bmap ] || bmaptool -q create -o sparse.img.bmap sparse.img
[ -f full.img.bmap ] || bmaptool -q create -o full.img.bmap full.img
sync
ls -ls "$dir"
