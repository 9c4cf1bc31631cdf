#!/usr/bin/env bash
# Makes the sample disk image sparsecopy's demo copies: 256 MiB, an MBR with two partitions (when sfdisk
# is installed), and a few MiB of data scattered in it — mostly holes, like a freshly built VM image.
# Deterministic: the same bytes every time. Usage: make-sample-disk.sh OUTPUT.img
set -euo pipefail
out="${1:?usage: make-sample-disk.sh OUTPUT.img}"
MiB=$((1024 * 1024))

rm -f "$out"
truncate -s $((256 * MiB)) "$out"
if command -v sfdisk >/dev/null 2>&1; then
  printf 'label: dos\nlabel-id: 0x5a5a0001\n2048,96MiB,L,*\n,,L\n' | sfdisk -q "$out"
fi
# Reproducible "file system" content at a handful of places: AES-CTR of zeros with a fixed key
# (incompressible, like real data), or repeated text where openssl is missing.
if command -v openssl >/dev/null 2>&1; then
  exec 3< <(openssl enc -aes-128-ctr -nosalt -K 0f0e0d0c0b0a09080706050403020100 -iv 0 < /dev/zero 2>/dev/null)
else
  exec 3< <(yes 'sparsecopy sample data')
fi
for spot in 1 2 9 40 97 98 150 255; do
  dd if=/dev/fd/3 of="$out" bs=64K count=$(( (spot % 5) + 1 )) seek=$((spot * 16 + 1)) conv=notrunc iflag=fullblock status=none
done
exec 3<&-
