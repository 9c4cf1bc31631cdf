#!/usr/bin/env bash
# The README's main job: fsmaker turns samples/rootfs (a directory) into a bootable MBR disk image with
# Debian's cloud kernel and a small initramfs (fetched and built by scripts/fetch-fixtures.sh, cached
# under ~/.cache/imagetools), shows what it built, then boots it in QEMU and prints what the guest printed:
# the marker line its initramfs read from the root filesystem. Second part: sparsecopy on a sample disk
# image (a sparse copy, a compressed copy, an empty sparse file), checked with sha256sum and du.
# Files go to out/demo/.
#
# On a fresh Debian/Ubuntu machine with the .NET SDK it installs what it needs first (apt, as root or
# through sudo): qemu-system-x86, grub-pc-bin (GRUB's i386-pc files fsmaker installs from), and what the
# fixtures are made with. Nothing is run as root but apt, and fsmaker itself needs no privileges.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

bash scripts/install-test-deps.sh qemu-system-x86 grub-pc-bin busybox-static cpio kmod gzip e2fsprogs fdisk
bash scripts/fetch-fixtures.sh
fixtures="${IMAGETOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagetools}/boot"
if [ ! -s "$fixtures/vmlinuz" ] || [ ! -s "$fixtures/initrd.img" ]; then
  echo "demo: no kernel and initramfs in $fixtures: $(cat "$fixtures/UNAVAILABLE" 2>/dev/null || echo 'scripts/fetch-fixtures.sh failed')" >&2
  exit 1
fi

# The Native AOT builds when scripts/publish.sh made them, else the JIT builds.
if [ -x artifacts/bin/fsmaker ] && [ -x artifacts/bin/sparsecopy ]; then
  fsmaker=artifacts/bin/fsmaker
  sparsecopy=artifacts/bin/sparsecopy
else
  dotnet build src/FsMaker -c Release --nologo -v quiet >/dev/null
  dotnet build src/SparseCopy -c Release --nologo -v quiet >/dev/null
  fsmaker=src/FsMaker/bin/Release/net10.0/fsmaker
  sparsecopy=src/SparseCopy/bin/Release/net10.0/sparsecopy
fi
demo=out/demo
rm -rf "$demo"
mkdir -p "$demo"

# 1. Build: the tree becomes an ext3 root filesystem (partition 1, last on the disk), an ext2 boot partition
#    before it holds GRUB's modules, grub.cfg, the kernel and the initrd, and GRUB's core image goes into
#    the gap after the MBR. No root, no loop device, no grub-install.
run "$fsmaker" -L rootfs -k "$fixtures/vmlinuz" -i "$fixtures/initrd.img" samples/rootfs "$demo/disk.img"
run sfdisk --dump "$demo/disk.img"
run ls -ls "$demo/disk.img"
run "$fsmaker" inspect "$demo/disk.img"

# 2. Boot it: SeaBIOS -> our boot.img and core.img -> GRUB's menu -> Linux -> the initramfs, which mounts
#    the root filesystem named on the kernel command line (root=UUID=...), prints the marker and powers off.
# KVM when the host really offers it (the device and the CPU's virtualisation flag); otherwise QEMU emulates
# the CPU (TCG), and the boot takes 10-20 s instead of 2.
accel=tcg
if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -q -E -w 'vmx|svm' /proc/cpuinfo 2>/dev/null; then
  accel=kvm
fi
log="$demo/serial.log"
qemu=(qemu-system-x86_64 -accel "$accel" -machine pc -m 512 -smp 1 -nodefaults -display none -no-reboot -monitor none
      -serial stdio -drive "file=$demo/disk.img,format=raw,if=virtio,snapshot=on")
say "${qemu[*]}"
# The serial console is the guest's only output. GRUB and SeaBIOS draw with escape sequences, removed here so
# that the log (out/demo/serial.log) reads as text; the milestones are shown as they come. snapshot=on: the
# boot never modifies the image.
timeout 300 "${qemu[@]}" </dev/null \
  | tr -d '\r' | sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[()][A-Z0-9]//g' | tee "$log" \
  | grep -a -o --line-buffered -E "GNU GRUB +version [^ ]+|Booting \`[^']*'|Linux version [^ ]+|IMAGETOOLS[-A-Z]*: .*" || true

marker=$(grep -a -m 1 '^IMAGETOOLS-MARKER: ' "$log" || true)
if [ -z "$marker" ]; then
  echo "demo: the guest did not print the marker; its serial console is in $log" >&2
  exit 1
fi

# 3. sparsecopy, the deployment side: a sparse copy, a compressed copy, an empty sparse file.
sc="$demo/sparsecopy"
mkdir -p "$sc"
bash samples/sparsecopy/make-sample-disk.sh "$sc/disk.img"
run ls -ls "$sc/disk.img"

# 3a. A sparse copy: holes are not read, zeros are not written; --verify reads DEST back.
run "$sparsecopy" -p --verify "$sc/disk.img" "$sc/copy.img"
run sha256sum "$sc/disk.img" "$sc/copy.img"
run du -h --apparent-size "$sc/copy.img"
run du -h "$sc/copy.img"

# 3b. Compressed input is recognised by its magic and unpacked on the fly, still sparse.
gzip -c "$sc/disk.img" > "$sc/disk.img.gz"
run ls -l "$sc/disk.img.gz"
run "$sparsecopy" --json "$sc/disk.img.gz" "$sc/from-gzip.img"
run sha256sum "$sc/from-gzip.img"
run du -h "$sc/from-gzip.img"

# 3c. v0.10's idiom for an empty sparse file of a given size.
run "$sparsecopy" -f2G /dev/null "$sc/empty.img"
run ls -ls "$sc/empty.img"

if [ "$(sha256sum < "$sc/disk.img")" != "$(sha256sum < "$sc/copy.img")" ] \
   || [ "$(sha256sum < "$sc/disk.img")" != "$(sha256sum < "$sc/from-gzip.img")" ]; then
  echo "demo: sparsecopy's copies differ from the sample" >&2
  exit 1
fi

printf '\ndemo: OK (files in %s)\n' "$demo"
printf '  fsmaker: the disk built from samples/rootfs booted, and the guest printed:\n    %s\n' "$marker"
printf '  sparsecopy: the copies of the sample disk are identical to it and sparse\n'
