#!/usr/bin/env bash
# Benchmark (not a test): an ext3 image from a realistic tree with `fsmaker mkfs` (Native AOT),
# `mke2fs -t ext3 -d` and `genext2fs` + `tune2fs -j`, each run RUNS times on the same tree and size.
# Prints a Markdown table: median wall time, CPU (user+sys) and peak RSS of the median run, the
# image's allocated size, and each peer's ratio to fsmaker. Every image is checked with e2fsck -fn.
#
#   bench/mkfs.sh [TREE] [RUNS]     TREE defaults to /usr/share (read in place, never modified)
#
# Needs: dotnet SDK with the Native AOT prerequisites (clang, zlib1g-dev), e2fsprogs, genext2fs, time.
set -euo pipefail
cd "$(dirname "$0")/.."

tree=${1:-/usr/share}
runs=${2:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/mkfs-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Native AOT fsmaker, as users run it.
bash scripts/publish.sh "$work/bin" >/dev/null
fsmaker="$work/bin/fsmaker"

# One size for all three: the tree's apparent size plus 40 % and 64 MiB (genext2fs and mke2fs -d
# need the size up front), in MiB, with 4 KiB blocks.
apparent=$(du -s --apparent-size --block-size=1 "$tree" | cut -f1)
files=$(find "$tree" | wc -l)
size_mib=$(( apparent * 14 / 10 / 1048576 + 64 ))
blocks=$(( size_mib * 256 ))
inodes=$(( files * 2 + 4096 ))
echo "tree: $tree, $files entries, $(( apparent / 1048576 )) MiB apparent; image: $size_mib MiB ext3, 4 KiB blocks; $runs runs each" >&2

# Warm the page cache so that every tool reads the tree from memory.
tar -C "$tree" -cf - . 2>/dev/null | cat > /dev/null

measure() { # name, command...: appends "wall cpu rss" lines to $work/name.times
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/$name.one" "$@" >/dev/null 2>"$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
  awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$work/$name.one" >> "$work/$name.times"
}

for i in $(seq 1 "$runs"); do
  rm -f "$work"/*.img
  measure fsmaker "$fsmaker" mkfs -q --type ext3 --block-size 4096 --size "${size_mib}M" --inodes "$inodes" "$tree" "$work/fsmaker.img"
  measure mke2fs mke2fs -q -F -t ext3 -b 4096 -N "$inodes" -d "$tree" "$work/mke2fs.img" "${size_mib}M"
  # genext2fs has no journal: tune2fs -j adds one, timed together.
  measure genext2fs bash -c "genext2fs -q -B 4096 -b $blocks -N $inodes -d '$tree' '$work/genext2fs.img' && tune2fs -j '$work/genext2fs.img'"
done

for name in fsmaker mke2fs genext2fs; do
  e2fsck -fn "$work/$name.img" >/dev/null 2>&1 || { echo "e2fsck -fn failed on the $name image" >&2; e2fsck -fn "$work/$name.img" | tail -5 >&2; exit 1; }
done

median() { sort -n -k1,1 "$work/$1.times" | awk -v n="$runs" 'NR == int((n + 1) / 2)'; }
read -r fw fc fr < <(median fsmaker)
printf '| tool | median wall (s) | CPU (s) | peak RSS (MiB) | allocated (MiB) | wall vs fsmaker | RSS vs fsmaker |\n'
printf '|---|---|---|---|---|---|---|\n'
for name in fsmaker mke2fs genext2fs; do
  read -r w c r < <(median "$name")
  alloc=$(du --block-size=1 "$work/$name.img" | cut -f1)
  label=$name
  [ "$name" = mke2fs ] && label='mke2fs -t ext3 -d'
  [ "$name" = genext2fs ] && label='genext2fs + tune2fs -j'
  [ "$name" = fsmaker ] && label='fsmaker mkfs (AOT)'
  awk -v l="$label" -v w="$w" -v c="$c" -v r="$r" -v a="$alloc" -v fw="$fw" -v fr="$fr" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.0f | %.0f | %.2f× | %.2f× |\n", l, w, c, r / 1024, a / 1048576, w / fw, r / fr }'
done
