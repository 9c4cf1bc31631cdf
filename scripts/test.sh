#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, builds, runs every test
# project, and ends with one line of totals: "N passed, N failed, N skipped".
# Extra arguments go to 'dotnet test' (e.g. --filter "FullyQualifiedName~Sparse").
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
if [ -x scripts/fetch-fixtures.sh ]; then
  bash scripts/fetch-fixtures.sh
fi
bash scripts/fetch-schemas.sh

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# The builds for other platforms that the Wine, arm64-emulation and package tests run (docs/platforms.md):
# published once here, before the test run, rather than by the first test that needs each.
if [ $# -eq 0 ] && [ "${IMAGETOOLS_SKIP_CROSS:-}" != "1" ]; then
  cross="$PWD/artifacts/test-builds"
  rm -rf "$cross"
  for job in "rid win-x64 $cross/win-x64" "rid linux-arm64 $cross/linux-arm64" "pack $cross/packages"; do
    started=$(date +%s)
    # shellcheck disable=SC2086
    if bash scripts/publish.sh $job >"$results/cross.log" 2>&1; then
      echo "test.sh: publish.sh $job took $(( $(date +%s) - started )) s"
    else
      cat "$results/cross.log" >&2
      echo "test.sh: publish.sh $job failed; the tests that need it will try again and report" >&2
    fi
  done
  [ -d "$cross/win-x64" ] && export IMAGETOOLS_WIN_X64_DIR="$cross/win-x64"
  [ -d "$cross/linux-arm64" ] && export IMAGETOOLS_LINUX_ARM64_DIR="$cross/linux-arm64"
  [ -d "$cross/packages" ] && export IMAGETOOLS_PACKAGES_DIR="$cross/packages"
fi

set +e
dotnet test ImageTools.sln -c Release --logger "trx;LogFilePrefix=run" --results-directory "$results" "$@"
rc=$?
# Users run the Native AOT executables: publish them once and run the CLI smoke tests against them
# (IMAGETOOLS_BIN_DIR makes TestSupport's Cli use them). Skipped when a filter narrows the run.
if [ "$rc" -eq 0 ] && [ $# -eq 0 ] && [ "${IMAGETOOLS_SKIP_AOT:-}" != "1" ]; then
  aot_bin="$PWD/artifacts/bin"
  if bash scripts/publish.sh "$aot_bin" >"$results/publish.log" 2>&1; then
    IMAGETOOLS_BIN_DIR="$aot_bin" dotnet test tests/ImageTools.Cli.Tests -c Release --no-build \
      --filter "Category=AotSmoke" --logger "trx;LogFilePrefix=aot" --results-directory "$results"
    rc=$?
  else
    cat "$results/publish.log" >&2
    echo "test.sh: Native AOT publishing failed" >&2
    rc=1
  fi
fi
set -e

passed=0; failed=0; skipped=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  total=$(get total); p=$(get passed); f=$(get failed); e=$(get error); t=$(get timeout); a=$(get aborted)
  passed=$((passed + p))
  failed=$((failed + f + e + t + a))
  skipped=$((skipped + total - p - f - e - t - a))
done

if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # dotnet test failed without a failed test: a build error or a crashed test host.
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
