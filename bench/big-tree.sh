#!/usr/bin/env bash
# Prints the path of a big synthetic tree for bench/mkfs.sh, made once and cached under
# ~/.cache/imagetools/bench: about 40,000 entries and 1 GiB — one directory of 20,000 small files,
# 200 directories of 100 files of 1-64 KiB, 40 files of 16 MiB, 2,000 hard links and 2,000 symlinks,
# content from a fixed seed (so every machine builds the same tree).
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/imagetools/bench"
tree="$cache/big-tree"
if [ -f "$tree/.imagetools-complete" ]; then
    echo "$tree"
    exit 0
fi
mkdir -p "$cache"
rm -rf "$tree.partial"
python3 - "$tree.partial" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(13)
os.makedirs(root)
def blob(n):
    # Compressible-ish but not zero: zero blocks would become holes and skip the work.
    return (rnd.randbytes(256) * (n // 256 + 1))[:n]
big = os.path.join(root, "huge-dir")
os.makedirs(big)
for i in range(20000):
    with open(os.path.join(big, f"entry-{i:05d}-{rnd.getrandbits(32):08x}.conf"), "wb") as f:
        f.write(blob(rnd.randint(10, 3000)))
files = []
for d in range(200):
    sub = os.path.join(root, "tree", f"d{d // 20:02d}", f"pkg-{d:03d}")
    os.makedirs(sub)
    for i in range(100):
        p = os.path.join(sub, f"file-{i:03d}.dat")
        with open(p, "wb") as f:
            f.write(blob(rnd.randint(1024, 64 * 1024)))
        files.append(p)
os.makedirs(os.path.join(root, "blobs"))
for i in range(40):
    with open(os.path.join(root, "blobs", f"blob-{i:02d}.bin"), "wb") as f:
        f.write(blob(16 << 20))
os.makedirs(os.path.join(root, "links"))
for i in range(2000):
    target = files[rnd.randrange(len(files))]
    os.link(target, os.path.join(root, "links", f"hard-{i:04d}"))
    os.symlink(os.path.relpath(files[rnd.randrange(len(files))], os.path.join(root, "links")), os.path.join(root, "links", f"sym-{i:04d}"))
PY
touch "$tree.partial/.imagetools-complete"
rm -rf "$tree"
mv "$tree.partial" "$tree"
echo "$tree"
