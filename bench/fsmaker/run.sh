#!/usr/bin/env bash
# Benchmark (not a test): fsmaker's main job end to end -- a directory of about 1.5 GiB (a copy of /usr/share
# plus the boot tests' marker) to a bootable MBR disk image with a kernel and initrd -- against the same job
# done with the standard tools in one script: sfdisk for the table, mke2fs -d writing the ext3 root and the
# ext2 boot partition straight into the disk image (-E offset=), grub-mkimage for core.img, dd for boot.img
# and core.img. Both produce the same layout (the partition sizes fsmaker chose) and the same grub.cfg.
#
# Prints a Markdown table: median wall time, CPU (user+sys) and peak RSS of the median run, the output's
# allocated size, and each tool's wall time and RSS relative to fsmaker. Runs are interleaved so that the
# shared machine's load hits both alike. Every output is checked with e2fsck -fn (both partitions), and
# one output of each is booted in QEMU to the root filesystem's marker (BOOT_CHECK=0 skips that).
#
#   bench/fsmaker/run.sh [RUNS] [TREE]    RUNS defaults to 5; TREE to a fresh copy of /usr/share
#
# Needs: scripts/publish.sh (the Native AOT fsmaker users run), the boot fixtures (scripts/fetch-fixtures.sh),
# e2fsprogs, fdisk, grub-pc-bin + grub-common, qemu-system-x86, GNU time. Everything it makes is removed at
# the end, the copied tree included.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runs="${1:-5}"
fsmaker="${FSMAKER:-$repo/artifacts/bin/fsmaker}"
[ -x "$fsmaker" ] || { echo "run.sh: $fsmaker missing; run scripts/publish.sh first" >&2; exit 1; }
fixtures="${IMAGETOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagetools}/boot"
kernel="$fixtures/vmlinuz"
initrd="$fixtures/initrd.img"
[ -s "$kernel" ] && [ -s "$initrd" ] || { echo "run.sh: no kernel/initrd in $fixtures; run scripts/fetch-fixtures.sh" >&2; exit 1; }
grub=/usr/lib/grub/i386-pc

work=$(mktemp -d "${TMPDIR:-/var/tmp}/fsmaker-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -n "${2:-}" ]; then
  tree="$2"
else
  tree="$work/tree"
  cp -a /usr/share "$tree"
  echo "fsmaker benchmark: a copy of /usr/share" > "$tree/imagetools-marker"
fi
entries=$(find "$tree" | wc -l)
apparent=$(du -s --apparent-size --block-size=1 "$tree" | cut -f1)
echo "tree: $tree, $entries entries, $((apparent / 1048576)) MiB apparent; $runs runs each" >&2
# Both read the tree from the page cache.
tar -C "$tree" -cf - . 2>/dev/null | cat >/dev/null

# The layout fsmaker chooses (its default: sized to the content) is given to the standard tools as well.
"$fsmaker" -q -k "$kernel" -i "$initrd" "$tree" "$work/layout.img"
read -r root_start root_size boot_start boot_size < <(sfdisk -J "$work/layout.img" | python3 -c '
import json, sys
p = json.load(sys.stdin)["partitiontable"]["partitions"]
print(p[0]["start"], p[0]["size"], p[1]["start"], p[1]["size"])')
disk_bytes=$(stat -c %s "$work/layout.img")
rm -f "$work/layout.img"
echo "layout: boot partition $boot_start+$boot_size, root partition $root_start+$root_size, disk $((disk_bytes / 1048576)) MiB" >&2

# The standard tools' pipeline, as a user without fsmaker (and without root or loop devices) writes it.
cat > "$work/standard.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
disk="\$1"; boot="\$(mktemp -d "$work/boot.XXXXXX")"
trap 'rm -rf "\$boot"' EXIT
uuid=\$(cat /proc/sys/kernel/random/uuid)
mkdir -p "\$boot/boot/grub/i386-pc"
cp $grub/*.mod $grub/*.lst "\$boot/boot/grub/i386-pc/"
cp "$kernel" "\$boot/boot/vmlinuz"; cp "$initrd" "\$boot/boot/initrd.img"
cat > "\$boot/boot/grub/grub.cfg" <<CFG
insmod part_msdos
insmod ext2
insmod serial
insmod linux
serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
menuentry 'Linux' {
    linux /boot/vmlinuz root=UUID=\$uuid ro console=tty0 console=ttyS0,115200
    initrd /boot/initrd.img
}
CFG
truncate -s $disk_bytes "\$disk"
printf 'label: dos\nstart=$root_start, size=$root_size, type=83\nstart=$boot_start, size=$boot_size, type=83, bootable\n' \
  | sfdisk -q --no-reread --no-tell-kernel "\$disk"
mke2fs -q -F -t ext3 -U "\$uuid" -d "$tree" -E offset=$((root_start * 512)) "\$disk" $((root_size / 2))k
mke2fs -q -F -t ext2 -L boot -m 0 -d "\$boot" -E offset=$((boot_start * 512)) "\$disk" $((boot_size / 2))k
grub-mkimage -O i386-pc -p '(,msdos2)/boot/grub' -o "\$boot/core.img" biosdisk part_msdos ext2
dd if=$grub/boot.img of="\$disk" bs=440 count=1 conv=notrunc status=none
printf '\x90\x90' | dd of="\$disk" bs=1 seek=\$((0x66)) conv=notrunc status=none
dd if="\$boot/core.img" of="\$disk" bs=512 seek=1 conv=notrunc status=none
EOF
chmod +x "$work/standard.sh"

names=(fsmaker standard)
commands=("'$fsmaker' -q -k '$kernel' -i '$initrd' '$tree' '$work/out.img'" "'$work/standard.sh' '$work/out.img'")
labels=("fsmaker (Native AOT)" "sfdisk + mke2fs -d ×2 + grub-mkimage + dd")

check() { # name: e2fsck both partitions of out.img
  for n in 1 2; do
    read -r start size < <(sfdisk -J "$work/out.img" | python3 -c "
import json, sys
p = [q for q in json.load(sys.stdin)['partitiontable']['partitions'] if q['node'].endswith('img$n')][0]
print(p['start'], p['size'])")
    e2fsck -fn "$work/out.img?offset=$((start * 512))" >/dev/null 2>&1 \
      || { echo "run.sh: e2fsck -fn failed on partition $n of the $1 output" >&2; e2fsck -fn "$work/out.img?offset=$((start * 512))" | tail -5 >&2; exit 1; }
  done
}

boot() { # name: boots out.img to the marker
  local log="$work/serial.log"
  timeout 300 qemu-system-x86_64 -accel tcg -machine pc -m 512 -smp 1 -nodefaults -display none -no-reboot -monitor none \
    -serial "file:$log" -drive "file=$work/out.img,format=raw,if=virtio,snapshot=on" </dev/null >/dev/null 2>&1 || true
  grep -a -q "IMAGETOOLS-MARKER: fsmaker benchmark" "$log" \
    || { echo "run.sh: the $1 output did not boot to the marker" >&2; tr -d '\r' < "$log" | tail -20 >&2; exit 1; }
  echo "run.sh: the $1 output boots to the root filesystem's marker" >&2
}

once() { # index: one timed run, appends "wall cpu rss allocated" to $work/<name>.times
  local name=${names[$1]}
  rm -f "$work/out.img"; sync
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" bash -c "${commands[$1]}" >/dev/null 2>"$work/stderr.txt" \
    || { echo "run.sh: $name failed" >&2; cat "$work/stderr.txt" >&2; exit 1; }
  read -r wall user sys rss < "$work/time.txt"
  echo "$wall $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') $rss $(stat -c '%b * %B' "$work/out.img" | bc)" >> "$work/$name.times"
}

for i in 0 1; do
  : > "$work/${names[$i]}.times"
  once "$i"; : > "$work/${names[$i]}.times"   # warm-up run, not counted
  check "${names[$i]}"
  [ "${BOOT_CHECK:-1}" = 0 ] || boot "${names[$i]}"
done
for ((r = 0; r < runs; r++)); do
  for i in 0 1; do
    once "$i"
  done
done

median() { sort -n -k1,1 "$work/$1.times" | awk -v n="$runs" 'NR == int((n + 1) / 2)'; }
read -r fw _ fr _ < <(median fsmaker)
printf '| tool | median wall (s) | CPU (s) | peak RSS (MiB) | allocated (MiB) | wall vs fsmaker | RSS vs fsmaker |\n'
printf '|---|---|---|---|---|---|---|\n'
for i in 0 1; do
  read -r w c r a < <(median "${names[$i]}")
  awk -v l="${labels[$i]}" -v w="$w" -v c="$c" -v r="$r" -v a="$a" -v fw="$fw" -v fr="$fr" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.0f | %.0f | %.2f× | %.2f× |\n", l, w, c, r / 1024, a / 1048576, w / fw, r / fr }'
done
