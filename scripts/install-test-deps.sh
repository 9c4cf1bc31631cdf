#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test suite checks our output with (and builds with), or only
# the packages named as arguments.
# Idempotent: does nothing when everything is present. Needs root (or sudo) to install.
set -euo pipefail

packages=(
  e2fsprogs        # e2fsck, debugfs, dumpe2fs, mke2fs: the judges of every filesystem we write
  fdisk            # sfdisk: reads back partition tables
  gdisk            # sgdisk -v: judge of every GPT we write (and sgdisk writes the reference tables)
  mtools           # mdir, mcopy -i: read the FAT filesystems (ESP) we write without mounting
  util-linux mount # losetup, mount, umount (block-device and disk-full tests), blkid
  genext2fs        # benchmark peer
  bmap-tools       # bmaptool: bmap interoperability
  dosfstools       # mkfs.fat: FAT boot sectors must not be taken for partition tables
  qemu-utils       # qemu-img, qemu-io: benchmark peer; judge and maker of qcow2/VHD containers
  qemu-system-x86  # boot tests
  grub-pc-bin      # GRUB i386-pc platform files that fsmaker assembles
  grub-common      # grub-mkimage, grub-script-check, grub-fstest: judges of our core image, grub.cfg, ext support
  binutils         # objcopy: judge of the kernel.img memory image
  busybox-static   # userland of the boot tests' initramfs
  cpio kmod        # building the initramfs, reading module dependencies
  zstd xz-utils bzip2 gzip  # compressed inputs
  attr acl         # setfattr/getfattr/setfacl: xattr round trips
  tar python3      # GNU tar archives of every format for the mkfs tests; python3 makes a socket node
  xorriso          # ISO 9660 / El Torito images that fsmaker inspect must recognise
  squashfs-tools   # mksquashfs: a format inspect names but does not read
  clang zlib1g-dev # Native AOT publishing
  gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross  # linux-arm64 Native AOT, cross-compiled
  qemu-user        # qemu-aarch64: runs the linux-arm64 build in the tests (Arm64EmulationTests)
  wine wine64      # runs the win-x64 build in the tests (WineTests); its prefix is made in ~/.cache/imagetools/wine
  zip              # the win-x64 release archive (scripts/publish.sh release)
  time             # /usr/bin/time -v: peak RSS in benchmarks
  systemd          # systemd-analyze verify: judge of the first-boot unit (fsmaker scrub --first-boot)
  openssl          # openssl passwd -6: checks the hash the first-boot script writes
  dash             # sh -n of the first-boot script with Debian's /bin/sh
  whois            # mkpasswd: yescrypt hashes made by libxcrypt, checked against fsmaker customize --root-password
  ovmf             # UEFI and Secure Boot firmware for fsmaker boot-test
  grub-efi-amd64-bin mtools  # the standard-tools UEFI disk boot-test boots (grub-mkimage -O x86_64-efi, mcopy)
  mmdebstrap       # scripts/fetch-debian-root.sh: the real Debian root of the boot tests (issue 17)
)

# Package names given as arguments replace the list (scripts/demo.sh installs only what the demo needs).
if [ $# -gt 0 ]; then
  packages=("$@")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-test-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "install-test-deps: not root and no sudo; tests needing ${missing[*]} will be skipped" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
