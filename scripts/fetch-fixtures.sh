#!/usr/bin/env bash
# Fetches and builds the fixtures of the boot tests, into a cache outside the repository:
#   ${IMAGETOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagetools}/boot/
#     vmlinuz          Debian's cloud kernel (the package linux-image-cloud-amd64 depends on)
#     initrd.img       a small reproducible initramfs: busybox + disk and network drivers + tests/fixtures/initramfs/init
#     kernel-release   the kernel's release string (e.g. 6.1.0-56-cloud-amd64)
#     modules          the modules the initramfs loads, in load order
#     busybox          the static busybox, for tests that boot a small busybox root filesystem
#     fixtures.stamp   what the files were built from; a matching stamp makes a rerun cost nothing
#   .../debs/          the downloaded .deb files     .../trees/   their unpacked contents
#
# Packages come through the machine's own apt configuration (apt-get download; nothing is installed).
# IMAGETOOLS_REFRESH_FIXTURES=1 looks the package names up again (e.g. after a kernel update).
# When the fixtures cannot be made (no apt, no network), it says why, records the reason in
# boot/UNAVAILABLE and exits 0: the boot tests then skip with that reason instead of failing the suite.
set -euo pipefail

# modinfo lives in /usr/sbin, which is not on every user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
init_script="$repo/tests/fixtures/initramfs/init"

cache="${IMAGETOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagetools}"
boot="$cache/boot"
debs="$cache/debs"
trees="$cache/trees"

# The modules the initramfs must load, besides their dependencies: virtio disks and IDE disks, and the
# virtio NIC (for guests that use QEMU's user-mode network, e.g. the first-boot test's metadata service).
wanted_modules=(virtio_pci virtio_blk ata_piix sd_mod virtio_net)

log() { echo "fetch-fixtures: $*" >&2; }

unavailable() {
    log "boot fixtures unavailable: $*"
    mkdir -p "$boot"
    printf '%s\n' "$*" >"$boot/UNAVAILABLE"
    exit 0
}

# The recipe: this script and the init it packs. A change to either rebuilds the initramfs.
recipe=$(cat "$0" "$init_script" | sha256sum | cut -d' ' -f1)

if [ "${IMAGETOOLS_REFRESH_FIXTURES:-0}" != 1 ] && [ -f "$boot/fixtures.stamp" ] \
    && grep -qx "recipe=$recipe" "$boot/fixtures.stamp" \
    && [ -s "$boot/vmlinuz" ] && [ -s "$boot/initrd.img" ]; then
    exit 0
fi

for tool in apt-get apt-cache dpkg-deb cpio gzip modinfo sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || unavailable "'$tool' is missing (Debian/Ubuntu: scripts/install-test-deps.sh installs what is needed)"
done

mkdir -p "$debs" "$trees"

# The name of the package that a metapackage depends on, e.g. linux-image-cloud-amd64 -> linux-image-6.1.0-56-cloud-amd64.
dependency_of() {
    apt-cache depends --important "$1" 2>/dev/null | awk '$1 == "Depends:" { print $2; exit }'
}

apt_lists_refreshed=0
refresh_apt_lists_once() {
    if [ "$apt_lists_refreshed" = 0 ]; then
        apt_lists_refreshed=1
        log "refreshing the apt package lists"
        apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed"
    fi
}

# Downloads package $1 into $debs (unless there already) and prints the .deb's path.
download() {
    local package="$1" deb
    deb=$(ls -1 "$debs/${package}_"*.deb 2>/dev/null | LC_ALL=C sort -V | tail -n 1 || true)
    if [ -n "$deb" ]; then
        echo "$deb"
        return 0
    fi
    log "downloading $package"
    if ! (cd "$debs" && apt-get download -q "$package" >/dev/null 2>&1); then
        refresh_apt_lists_once
        (cd "$debs" && apt-get download -q "$package" >/dev/null 2>&1) || return 1
    fi
    ls -1 "$debs/${package}_"*.deb 2>/dev/null | LC_ALL=C sort -V | tail -n 1
}

# Unpacks a .deb into $trees/<its name> (once) and prints that folder.
unpack() {
    local deb="$1" tree
    tree="$trees/$(basename "$deb" .deb)"
    if [ ! -d "$tree" ]; then
        rm -rf "$tree.partial"
        mkdir -p "$tree.partial"
        dpkg-deb -x "$deb" "$tree.partial"
        mv "$tree.partial" "$tree"
    fi
    echo "$tree"
}

kernel_package=$(dependency_of linux-image-cloud-amd64)
if [ -z "$kernel_package" ]; then
    refresh_apt_lists_once
    kernel_package=$(dependency_of linux-image-cloud-amd64)
fi
[ -n "$kernel_package" ] || unavailable "apt knows no package linux-image-cloud-amd64 (not Debian, or no package lists)"

kernel_deb=$(download "$kernel_package") || unavailable "apt-get download $kernel_package failed"
busybox_deb=$(download busybox-static) || unavailable "apt-get download busybox-static failed"
kernel_tree=$(unpack "$kernel_deb")
busybox_tree=$(unpack "$busybox_deb")

release=$(ls -1 "$kernel_tree/lib/modules" | head -n 1)
[ -n "$release" ] && [ -f "$kernel_tree/boot/vmlinuz-$release" ] || unavailable "$kernel_deb holds no boot/vmlinuz-* with lib/modules/*"
busybox="$busybox_tree/bin/busybox"
[ -x "$busybox" ] || unavailable "$busybox_deb holds no bin/busybox"

# Index the kernel's modules by name (modprobe's rule: '-' and '_' are the same).
declare -A module_file=()
while IFS= read -r file; do
    name=$(basename "$file")
    name=${name%%.ko*}
    module_file[${name//-/_}]="$file"
done < <(find "$kernel_tree/lib/modules/$release" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')

# Depth first, dependencies before the module, each once: the order insmod needs.
declare -A visited=()
load_order=()
visit() {
    local name="${1//-/_}" file deps dep
    [ -n "${visited[$name]:-}" ] && return 0
    visited[$name]=1
    file="${module_file[$name]:-}"
    if [ -z "$file" ]; then
        # Not a module file: built into this kernel, nothing to load.
        return 0
    fi
    deps=$(modinfo -F depends "$file")
    for dep in ${deps//,/ }; do
        visit "$dep"
    done
    load_order+=("$name")
}
for m in "${wanted_modules[@]}"; do
    visit "$m"
done

stage=$(mktemp -d "$cache/initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/etc/imagetools" "$stage/lib/modules" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/newroot"
install -m 0755 "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 0755 "$init_script" "$stage/init"
: >"$stage/etc/imagetools/modules"
for name in "${load_order[@]}"; do
    file="${module_file[$name]}"
    case "$file" in
        *.ko.xz) xz -dc "$file" >"$stage/lib/modules/$name.ko" ;;
        *.ko.zst) zstd -qdc "$file" >"$stage/lib/modules/$name.ko" ;;
        *.ko.gz) gzip -dc "$file" >"$stage/lib/modules/$name.ko" ;;
        *) cp "$file" "$stage/lib/modules/$name.ko" ;;
    esac
    chmod 0644 "$stage/lib/modules/$name.ko"
    echo "$name" >>"$stage/etc/imagetools/modules"
done
chmod 0644 "$stage/etc/imagetools/modules"
find "$stage" -type d -exec chmod 0755 {} +

# Reproducible archive: fixed mtimes, sorted names, owner 0:0, no name or time in the gzip header.
find "$stage" -exec touch -h -d @0 {} +
out=$(mktemp -d "$cache/boot.XXXXXX")
trap 'rm -rf "$stage" "$out"' EXIT
chmod 0755 "$out"
(cd "$stage" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort \
    | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -n -9 >"$out/initrd.img"
cp "$kernel_tree/boot/vmlinuz-$release" "$out/vmlinuz"
install -m 0755 "$busybox" "$out/busybox"
echo "$release" >"$out/kernel-release"
printf '%s\n' "${load_order[@]}" >"$out/modules"
{
    echo "recipe=$recipe"
    echo "kernel=$(basename "$kernel_deb")"
    echo "busybox=$(basename "$busybox_deb")"
} >"$out/fixtures.stamp"

rm -rf "$boot.old"
[ -d "$boot" ] && mv "$boot" "$boot.old"
mv "$out" "$boot"
rm -rf "$boot.old"

# Older downloads (a previous kernel) are of no further use: keep the cache to what the stamp names.
for old in "$debs"/*.deb "$trees"/*; do
    case "$(basename "$old")" in
        "$(basename "$kernel_deb")" | "$(basename "$busybox_deb")" | "$(basename "$kernel_deb" .deb)" | "$(basename "$busybox_deb" .deb)") ;;
        *) rm -rf "$old" ;;
    esac
done
log "boot fixtures ready in $boot (kernel $release; modules: ${load_order[*]})"
