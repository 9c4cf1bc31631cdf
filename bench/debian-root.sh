#!/usr/bin/env bash
# Prints the path of a real Debian bookworm root tree (systemd, a kernel, openssh, as a cloud image
# would hold), made once with mmdebstrap and cached under ~/.cache/imagetools/bench. The mirror is
# the one this machine's apt already uses (its bookworm index target); no host name is written here.
#
#   bench/debian-root.sh            # builds it if needed (as root: mmdebstrap --mode=root), prints the path
#
# Needs: mmdebstrap (scripts/install-test-deps.sh does not install it; bench-only: apt-get install mmdebstrap).
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/imagetools/bench"
root="$cache/bookworm-root"
if [ -f "$root/.imagetools-complete" ]; then
    echo "$root"
    exit 0
fi
command -v mmdebstrap >/dev/null || { echo "debian-root.sh: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null | awk '$2 == "bookworm" { print $1; exit }')
[ -n "$mirror" ] || { echo "debian-root.sh: this machine's apt has no bookworm source to take the mirror from" >&2; exit 1; }
mkdir -p "$cache"
rm -rf "$root.partial"
mode=root
[ "$(id -u)" = 0 ] || mode=unshare
mmdebstrap --mode="$mode" --variant=important --format=directory \
    --include=systemd-sysv,linux-image-amd64,openssh-server,sudo,locales \
    bookworm "$root.partial" "deb $mirror bookworm main" >&2
touch "$root.partial/.imagetools-complete"
rm -rf "$root"
mv "$root.partial" "$root"
echo "$root"
