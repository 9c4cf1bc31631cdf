#!/usr/bin/env bash
# Builds real Debian root filesystems for the tests that must see a real distribution (issue 17: first boot,
# scrub and sizes on what users really publish), with mmdebstrap, into a cache outside the repository:
#   ${IMAGETOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagetools}/debian-root/
#     minbase.tar        --variant=minbase + systemd-sysv, the cloud kernel, openssh-server, udev, ifupdown,
#                        isc-dhcp-client; no curl and no wget (the case fsmaker --first-boot must refuse)
#     minbase-curl.tar   the same plus curl (the case it accepts)
#     debs/              the downloaded packages, reused by the next build
#     root.stamp         what the archives were built from; a matching stamp makes a rerun cost nothing
#
# The mirror is the machine's own apt configuration (its sources files are handed to mmdebstrap), so nothing
# here names a package registry. Both roots configure eth0 by DHCP (the tests boot with net.ifnames=0).
# When the roots cannot be made (no mmdebstrap, no network), it says why, records the reason in
# debian-root/UNAVAILABLE and exits 0: the tests that need them then skip with that reason.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

cache="${IMAGETOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagetools}"
out="$cache/debian-root"
debs="$out/debs"
suite="${IMAGETOOLS_DEBIAN_SUITE:-bookworm}"
packages="systemd-sysv,linux-image-cloud-amd64,openssh-server,udev,ifupdown,isc-dhcp-client"

log() { echo "fetch-debian-root: $*" >&2; }

unavailable() {
    log "Debian roots unavailable: $*"
    mkdir -p "$out"
    printf '%s\n' "$*" >"$out/UNAVAILABLE"
    exit 0
}

recipe=$( (cat "$0"; echo "$suite $packages") | sha256sum | cut -d' ' -f1)
if [ -f "$out/root.stamp" ] && grep -qx "recipe=$recipe" "$out/root.stamp" \
    && [ -s "$out/minbase.tar" ] && [ -s "$out/minbase-curl.tar" ]; then
    exit 0
fi

command -v mmdebstrap >/dev/null 2>&1 || unavailable "mmdebstrap is missing (scripts/install-test-deps.sh installs it)"
[ "$(id -u)" = 0 ] || command -v unshare >/dev/null 2>&1 || unavailable "neither root nor unshare: mmdebstrap cannot build a root here"

# The host's apt sources (deb822 .sources and one-line .list files), as mmdebstrap reads them.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$f" ] || continue
    grep -Eqi '^[[:space:]]*(deb |types:.*deb)' "$f" || continue
    sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || unavailable "no apt sources configured on this machine (/etc/apt/sources.list*)"

mkdir -p "$debs"
interfaces='auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
'

build() {
    local target="$1" include="$2" started
    started=$(date +%s)
    log "building $target (packages: $include) with mmdebstrap; the first build downloads ~150 MB"
    rm -f "$target.partial"
    # The cached .debs go in before the download and the new ones come out after it (mmdebstrap's documented
    # way to reuse downloads); the apt cache inside the root is emptied as usual.
    if ! mmdebstrap --variant=minbase --include="$include" --format=tar \
        --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
        --setup-hook="find '$debs' -maxdepth 1 -name '*.deb' -exec cp -t \"\$1/var/cache/apt/archives/\" {} +" \
        --skip=download/empty \
        --customize-hook="sync-out /var/cache/apt/archives '$debs'" \
        --customize-hook="printf '%s' '$interfaces' >\"\$1/etc/network/interfaces\"" \
        --customize-hook='echo debian-test >"$1/etc/hostname"' \
        "$suite" "$target.partial" "${sources[@]}" >"$out/mmdebstrap.log" 2>&1; then
        tail -n 20 "$out/mmdebstrap.log" >&2
        rm -f "$target.partial"
        unavailable "mmdebstrap failed (see $out/mmdebstrap.log)"
    fi
    mv "$target.partial" "$target"
    log "$target: $(du -h "$target" | cut -f1) in $(( $(date +%s) - started )) s"
}

build "$out/minbase.tar" "$packages"
build "$out/minbase-curl.tar" "$packages,curl"
rm -f "$out/UNAVAILABLE"
echo "recipe=$recipe" >"$out/root.stamp"
log "Debian roots ready in $out"
