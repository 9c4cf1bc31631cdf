#!/usr/bin/env bash
# Benchmark (not a test): `fsmaker mkfs` (Native AOT) against `mke2fs -d` on the same tree and size,
# for ext4 (vs `mke2fs -t ext4 -d`) and ext3 (vs `mke2fs -t ext3 -d`, and genext2fs + tune2fs -j),
# RUNS runs each, interleaved (fsmaker, mke2fs, ... in turn). Prints, per type, a Markdown table:
# median wall time, CPU (user+sys) and peak RSS of the median run, the image's allocated size, and
# fsmaker's wall time as a fraction of each peer's. Every image is checked with e2fsck -fn. The load
# average before and after is printed: on a shared machine, read the ratios with it.
#
#   bench/mkfs.sh [TREE] [RUNS] [TYPES]
#     TREE   a directory (default /usr/share), or "big" (bench/big-tree.sh) or "debian" (bench/debian-root.sh)
#     RUNS   default 5
#     TYPES  default "ext4 ext3"
#
# Needs: dotnet SDK with the Native AOT prerequisites (clang, zlib1g-dev), e2fsprogs, genext2fs, time.
set -euo pipefail
cd "$(dirname "$0")/.."

tree=${1:-/usr/share}
runs=${2:-5}
types=${3:-ext4 ext3}
case "$tree" in
    big) tree=$(bench/big-tree.sh) ;;
    debian) tree=$(bench/debian-root.sh) ;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/mkfs-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Native AOT fsmaker, as users run it.
bash scripts/publish.sh "$work/bin" >/dev/null
fsmaker="$work/bin/fsmaker"

# One size for all: the tree's apparent size plus 40 % and 64 MiB (mke2fs -d and genext2fs need the
# size up front), in MiB, with 4 KiB blocks, and one inode count.
apparent=$(du -s --apparent-size --block-size=1 "$tree" | cut -f1)
files=$(find "$tree" | wc -l)
size_mib=$(( apparent * 14 / 10 / 1048576 + 64 ))
blocks=$(( size_mib * 256 ))
inodes=$(( files * 2 + 4096 ))
echo "tree: $tree, $files entries, $(( apparent / 1048576 )) MiB apparent; image: $size_mib MiB, 4 KiB blocks; $runs runs each, interleaved" >&2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)" >&2

# Warm the page cache so that every tool reads the tree from memory.
tar -C "$tree" -cf - . 2>/dev/null | cat > /dev/null

measure() { # name, command...: appends "wall cpu rss" lines to $work/name.times
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/$name.one" "$@" >/dev/null 2>"$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
  awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$work/$name.one" >> "$work/$name.times"
}

for type in $types; do
  names="fsmaker-$type mke2fs-$type"
  [ "$type" = ext3 ] && command -v genext2fs >/dev/null && names="$names genext2fs-$type"
  for i in $(seq 1 "$runs"); do
    rm -f "$work"/*.img
    measure "fsmaker-$type" "$fsmaker" mkfs -q --type "$type" --block-size 4096 --size "${size_mib}M" --inodes "$inodes" "$tree" "$work/fsmaker-$type.img"
    measure "mke2fs-$type" mke2fs -q -F -t "$type" -b 4096 -N "$inodes" -d "$tree" "$work/mke2fs-$type.img" "${size_mib}M"
    if [ "$type" = ext3 ] && command -v genext2fs >/dev/null; then
      # genext2fs has no journal: tune2fs -j adds one, timed together.
      measure "genext2fs-$type" bash -c "genext2fs -q -B 4096 -b $blocks -N $inodes -d '$tree' '$work/genext2fs-$type.img' && tune2fs -j '$work/genext2fs-$type.img'"
    fi
  done
  for name in $names; do
    e2fsck -fn "$work/$name.img" >/dev/null 2>&1 || { echo "e2fsck -fn failed on the $name image" >&2; e2fsck -fn "$work/$name.img" | tail -5 >&2; exit 1; }
  done

  median() { sort -n -k1,1 "$work/$1.times" | awk -v n="$runs" 'NR == int((n + 1) / 2)'; }
  read -r fw fc fr < <(median "fsmaker-$type")
  printf '\n%s\n\n' "$type:"
  printf '| tool | median wall (s) | CPU (s) | peak RSS (MiB) | allocated (MiB) | fsmaker wall as a fraction of it |\n'
  printf '|---|---|---|---|---|---|\n'
  for name in $names; do
    read -r w c r < <(median "$name")
    alloc=$(du --block-size=1 "$work/$name.img" | cut -f1)
    case "$name" in
      fsmaker-*) label="fsmaker mkfs -t $type (AOT)" ;;
      mke2fs-*) label="mke2fs -t $type -d" ;;
      genext2fs-*) label='genext2fs + tune2fs -j' ;;
    esac
    awk -v l="$label" -v w="$w" -v c="$c" -v r="$r" -v a="$alloc" -v fw="$fw" \
      'BEGIN { printf "| %s | %.2f | %.2f | %.0f | %.0f | %.2f× |\n", l, w, c, r / 1024, a / 1048576, fw / w }'
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
