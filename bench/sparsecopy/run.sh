#!/usr/bin/env bash
# Times sparsecopy (the Native AOT build users run) against its peers on the fixtures of make-fixtures.sh,
# in one run, and prints a Markdown table: median wall time, median CPU time (user + sys), peak RSS,
# DEST's allocated size, and sparsecopy's wall time relative to each peer (< 1.00: sparsecopy is faster).
# Sources are read from a warm page cache (one unmeasured run of each tool first); the timed runs are
# interleaved across the tools; DEST is synced away between runs.
# Usage: run.sh FIXTURE_DIR [RUNS]     (SPARSECOPY=path overrides the binary; default artifacts/bin)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="$(cd "${1:?usage: run.sh FIXTURE_DIR [RUNS]}" && pwd)"
runs="${2:-5}"
sc="${SPARSECOPY:-$repo/artifacts/bin/sparsecopy}"
[ -x "$sc" ] || { echo "run.sh: $sc missing; run scripts/publish.sh first" >&2; exit 1; }
out="$dir/out.img"
timing="$dir/time.txt"

# One timed run of a command: appends "wall cpu maxrss_kib allocated_bytes" to the file $2.
run_once() {
  /usr/bin/time -f "%e %U %S %M" -o "$timing" bash -c "$1" >/dev/null 2>"$dir/stderr.txt" || {
    echo "run.sh: failed: $1" >&2; cat "$dir/stderr.txt" >&2; exit 1; }
  read -r wall user sys maxrss < <(tail -n 1 "$timing")
  echo "$wall $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') $maxrss $(( $(stat -c '%b * %B' "$out") ))" >> "$2"
  rm -f "$out"; sync
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

table() { # title, then pairs of "label::command"; the first pair is sparsecopy
  local title="$1"; shift
  local n=$#
  local labels=() cmds=()
  for pair in "$@"; do labels+=("${pair%%::*}"); cmds+=("${pair#*::}"); done
  # Warm the page cache with one unmeasured run each, then interleave the timed runs (tool 1, 2, ..., 1,
  # 2, ...) so that a change in the machine's load affects every tool alike.
  for ((t = 0; t < n; t++)); do rm -f "$out"; bash -c "${cmds[$t]}" >/dev/null 2>&1 || true; rm -f "$out"; : > "$dir/runs.$t"; done
  sync
  for ((r = 0; r < runs; r++)); do
    for ((t = 0; t < n; t++)); do run_once "${cmds[$t]}" "$dir/runs.$t"; done
  done
  echo
  echo "#### $title"
  echo
  echo "| tool | median wall (s) | median CPU (s) | peak RSS (MiB) | DEST allocated (MiB) | sparsecopy time / this |"
  echo "|---|---:|---:|---:|---:|---:|"
  local ours=""
  for ((t = 0; t < n; t++)); do
    local f="$dir/runs.$t" wall cpu rss alloc
    wall=$(awk '{ print $1 }' "$f" | median)
    cpu=$(awk '{ print $2 }' "$f" | median)
    rss=$(awk 'BEGIN { m = 0 } { if ($3 > m) m = $3 } END { print m }' "$f")
    alloc=$(awk '{ a = $4 } END { print a }' "$f")
    [ -z "$ours" ] && ours=$wall
    printf '| %s | %.2f | %.2f | %.1f | %.0f | %s |\n' "${labels[$t]}" "$wall" "$cpu" \
      "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v b="$alloc" 'BEGIN { print b / 1048576 }')" \
      "$(awk -v a="$ours" -v b="$wall" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
    rm -f "$f"
  done
}

cd "$dir"
echo "### sparsecopy, $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(df -T "$dir" | awk 'NR==2 {print $2}') on $(uname -r), $runs runs each"
table "4 GiB image, 512 MiB of data in 200 extents (sparse.img)" \
  "sparsecopy::$sc -q sparse.img $out" \
  "cp --sparse=always::cp --sparse=always sparse.img $out" \
  "dd conv=sparse bs=1M::dd if=sparse.img of=$out bs=1M conv=sparse status=none" \
  "qemu-img convert -O raw::qemu-img convert -O raw sparse.img $out" \
  "bmaptool copy::bmaptool -q copy --bmap sparse.img.bmap sparse.img $out"
table "the same image fully allocated (full.img)" \
  "sparsecopy::$sc -q full.img $out" \
  "cp --sparse=always::cp --sparse=always full.img $out" \
  "dd conv=sparse bs=1M::dd if=full.img of=$out bs=1M conv=sparse status=none" \
  "qemu-img convert -O raw::qemu-img convert -O raw full.img $out" \
  "bmaptool copy::bmaptool -q copy --bmap full.img.bmap full.img $out"
table "gzip-compressed (sparse.img.gz, 516 MiB)" \
  "sparsecopy::$sc -q sparse.img.gz $out" \
  "gzip -dc \\| dd conv=sparse::gzip -dc sparse.img.gz | dd of=$out bs=1M conv=sparse status=none"
table "zstd-compressed (sparse.img.zst, 512 MiB)" \
  "sparsecopy::$sc -q sparse.img.zst $out" \
  "zstd -dc \\| dd conv=sparse::zstd -dc sparse.img.zst | dd of=$out bs=1M conv=sparse status=none"
rm -f "$timing" "$dir/stderr.txt"
