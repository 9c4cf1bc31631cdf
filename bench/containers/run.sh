#!/usr/bin/env bash
# Times sparsecopy's container conversions (the Native AOT build users run) against qemu-img convert on the
# fixtures of bench/sparsecopy/make-fixtures.sh (sparse.img: 4 GiB, 512 MiB of data in 200 extents), in one
# run, and prints a Markdown table per conversion: median wall time, median CPU time (user + sys), peak RSS,
# the output's allocated size, and sparsecopy's wall time relative to qemu-img (< 1.00: sparsecopy is faster).
# One unmeasured run of each tool first (warm page cache); timed runs interleaved; DEST synced away between runs.
# Every output is checked once with qemu-img compare against sparse.img before timing.
# Usage: run.sh FIXTURE_DIR [RUNS]     (SPARSECOPY=path overrides the binary; default artifacts/bin)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="$(cd "${1:?usage: run.sh FIXTURE_DIR [RUNS]}" && pwd)"
runs="${2:-5}"
sc="${SPARSECOPY:-$repo/artifacts/bin/sparsecopy}"
[ -x "$sc" ] || { echo "run.sh: $sc missing; run scripts/publish.sh first" >&2; exit 1; }
[ -f "$dir/sparse.img" ] || { echo "run.sh: $dir/sparse.img missing; run bench/sparsecopy/make-fixtures.sh $dir first" >&2; exit 1; }
out="$dir/out.bench"
timing="$dir/time.txt"

run_once() {
  /usr/bin/time -f "%e %U %S %M" -o "$timing" bash -c "$1" >/dev/null 2>"$dir/stderr.txt" || {
    echo "run.sh: failed: $1" >&2; cat "$dir/stderr.txt" >&2; exit 1; }
  read -r wall user sys maxrss < <(tail -n 1 "$timing")
  echo "$wall $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') $maxrss $(( $(stat -c '%b * %B' "$out") ))" >> "$2"
  rm -f "$out"; sync
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# title, output format for the check (raw/qcow2), then pairs of "label::command"; the first pair is sparsecopy
table() {
  local title="$1" format="$2"; shift 2
  local n=$#
  local labels=() cmds=()
  for pair in "$@"; do labels+=("${pair%%::*}"); cmds+=("${pair#*::}"); done
  for ((t = 0; t < n; t++)); do
    rm -f "$out"; bash -c "${cmds[$t]}" >/dev/null 2>&1
    qemu-img compare -q -f raw -F "$format" sparse.img "$out" || { echo "run.sh: ${labels[$t]} made an output that differs from sparse.img" >&2; exit 1; }
    rm -f "$out"; : > "$dir/runs.$t"
  done
  sync
  for ((r = 0; r < runs; r++)); do
    for ((t = 0; t < n; t++)); do run_once "${cmds[$t]}" "$dir/runs.$t"; done
  done
  echo
  echo "#### $title"
  echo
  echo "| tool | median wall (s) | median CPU (s) | peak RSS (MiB) | output allocated (MiB) | sparsecopy time / this |"
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
[ -f sparse.qcow2 ] || qemu-img convert -f raw -O qcow2 sparse.img sparse.qcow2
echo "### containers, $(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $runs runs each"
table "raw -> qcow2 (sparse.img)" qcow2 \
  "sparsecopy -O qcow2::$sc -q -O qcow2 sparse.img $out" \
  "qemu-img convert -O qcow2::qemu-img convert -f raw -O qcow2 sparse.img $out"
table "qcow2 -> raw (sparse.qcow2, made by qemu-img)" raw \
  "sparsecopy::$sc -q sparse.qcow2 $out" \
  "qemu-img convert -O raw::qemu-img convert -f qcow2 -O raw sparse.qcow2 $out"
table "raw -> zlib-compressed qcow2" qcow2 \
  "sparsecopy -O qcow2 --compress::$sc -q -O qcow2 --compress sparse.img $out" \
  "qemu-img convert -c -O qcow2::qemu-img convert -c -f raw -O qcow2 sparse.img $out"
table "raw -> zstd-compressed qcow2" qcow2 \
  "sparsecopy -O qcow2 --compress=zstd::$sc -q -O qcow2 --compress=zstd sparse.img $out" \
  "qemu-img convert -c -o compression_type=zstd::qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd sparse.img $out"
rm -f "$timing" "$dir/stderr.txt"
